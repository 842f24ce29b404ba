"""Early decision whether a TCP connection carries SMTP, from its first bytes.

The reassembler asks `classify` with the first in-order bytes of each direction, in
whichever order they come, and drops connections that are clearly something else, so
only SMTP is buffered and decoded. A connection is SMTP on SMTP evidence: a greeting
verb (EHLO/HELO/LHLO), an ESMTP/SMTP banner, a 554 greeting, a reply only SMTP gives
(the 250 to EHLO, enhanced status codes). A bare ``220 host`` is no evidence: FTP
greets the same way, so elsewhere than on an SMTP port it waits (None) for more bytes
or for the other direction. FTP banners and FTP client commands make it not SMTP.

On a known SMTP port anything that is not clearly another protocol is kept, because
a capture that begins mid-session starts with message content or a reply.
"""

from __future__ import annotations

import re
from typing import Optional

SMTP_PORTS = frozenset({25, 465, 587, 2525, 24})
IMPLICIT_TLS_PORTS = frozenset({465})

_SERVER_TO_CLIENT = 1
_GREETING_VERBS = (b"EHLO", b"HELO", b"LHLO")
_SMTP_VERBS = frozenset(
    {
        b"EHLO", b"HELO", b"LHLO", b"MAIL", b"RCPT", b"DATA", b"BDAT", b"AUTH",
        b"STARTTLS", b"QUIT", b"RSET", b"NOOP", b"VRFY", b"EXPN", b"HELP", b"ETRN",
        b"TURN", b"ATRN", b"XCLIENT", b"XFORWARD", b"BURL",
    }
)  # fmt: skip
# RFC 959/2389/3659/4217 commands a client opens an FTP session with; none is SMTP.
_FTP_VERBS = frozenset(
    {
        b"USER", b"PASS", b"ACCT", b"SYST", b"FEAT", b"OPTS", b"PWD", b"XPWD",
        b"CWD", b"CDUP", b"LIST", b"NLST", b"MLSD", b"MLST", b"RETR", b"STOR",
        b"TYPE", b"PASV", b"EPSV", b"PORT", b"EPRT", b"SIZE", b"MDTM", b"REST",
        b"ABOR", b"CLNT", b"PBSZ", b"PROT", b"STAT", b"SITE", b"MODE", b"STRU",
    }
)  # fmt: skip
_FTP_AUTH = re.compile(rb"AUTH[ \t]+(?:TLS|SSL|TLS-C|TLS-P)[ \t]*\r?\n", re.I)
_OTHER_PROTOCOLS = (
    b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"CONNECT ",
    b"PATCH ", b"TRACE ", b"HTTP/", b"SSH-", b"PRI * HTTP/2",
)  # fmt: skip
_REPLY = re.compile(rb"\d{3}(?:[ -]|\r?\n)")
_REPLY_LINE = re.compile(rb"(\d{3})([ -]|\r?$)(.*)", re.S)
_BANNER = re.compile(rb"(?:220|554)[ -]")
_SMTP_BANNER_WORD = re.compile(rb"(?<![A-Za-z0-9])(?:E?SMTP|LMTP)(?![A-Za-z0-9])", re.I)
_FTP_BANNER_WORD = re.compile(
    rb"vsftpd|proftpd|filezilla|pure-?ftpd|wu-?ftpd|serv-u|glftpd|"
    rb"microsoft ftp|(?<![A-Za-z0-9.\-])ftp(?![A-Za-z0-9.\-])",
    re.I,
)
_ENHANCED = re.compile(rb"[245]\.\d{1,3}\.\d{1,3}(?:\s|$)")
# Replies FTP gives and SMTP never does (USER/PASS/SYST/FEAT/PWD/PASV answers...).
_FTP_CODES = frozenset({110, 120, 125, 150, 211, 212, 213, 215, 225, 226, 227, 228,
                        229, 230, 232, 234, 257, 331, 332, 350, 425, 426, 532})  # fmt: skip
_SMTP_CODES = frozenset({334, 354})
_WORD_END = b" \t\r\n"
_WAIT = "wait"  # a verdict needs more bytes, also on an SMTP port


def classify(conn, direction: int, head: bytes) -> Optional[bool]:
    """True: keep as SMTP; False: not SMTP; None: not enough bytes to say yet."""
    if not head:
        return None
    server_port, client_port = conn.server_port, conn.client_port
    known_port = server_port in SMTP_PORTS or client_port in SMTP_PORTS
    if head[0] == 0x16:
        if len(head) < 2:
            return None
        if head[1] == 0x03:
            return (
                server_port in IMPLICIT_TLS_PORTS or client_port in IMPLICIT_TLS_PORTS
            )
    upper = head[:16].upper()
    # No prefix is the start of another, so "starts with one" may be tested first.
    if upper.startswith(_OTHER_PROTOCOLS):
        return False
    if b"\n" not in head:
        for prefix in _OTHER_PROTOCOLS:
            if prefix.startswith(upper):
                return None
    if direction == _SERVER_TO_CLIENT:
        verdict = _server_verdict(head, known_port)
    else:
        verdict = _client_verdict(head, known_port)
    if verdict is _WAIT:
        return None
    if verdict is not None or known_port:
        return True if verdict is None else verdict
    if b"\n" in head or len(head) >= 4096:
        return None if _BANNER.match(head) and len(head) < 4096 else False
    return None if _could_become_smtp(direction, head) else False


def _server_verdict(head: bytes, known_port: bool) -> Optional[bool]:
    """What the server's first replies say: SMTP, FTP (False) or not yet known."""
    lines = head.split(b"\n")
    complete = lines[:-1]
    if not _BANNER.match(head):
        if _REPLY.match(head):
            match = _REPLY_LINE.match(lines[0])
            if match and int(match.group(1)) in _FTP_CODES:
                return False
            return True if known_port else None
        return None
    first = lines[0]
    if _FTP_BANNER_WORD.search(first) and not _SMTP_BANNER_WORD.search(first):
        return False
    if _SMTP_BANNER_WORD.search(first) or head.startswith(b"554"):
        return True
    banner_code = head[:3]
    for line in complete[1:]:
        match = _REPLY_LINE.match(line.rstrip(b"\r"))
        if not match:
            return None if known_port else False
        if match.group(1) == banner_code and match.group(2) in (b"-", b" "):
            # Still the banner (multi-line) or another greeting line.
            if _FTP_BANNER_WORD.search(line) and not _SMTP_BANNER_WORD.search(line):
                return False
            if _SMTP_BANNER_WORD.search(line):
                return True
            continue
        code = int(match.group(1))
        if code in _FTP_CODES:
            return False
        if code in _SMTP_CODES or _ENHANCED.match(match.group(3)):
            return True
        if code == 250 and match.group(2) == b"-":
            return True  # a multi-line 250: the EHLO reply with its extensions
    return None


def _client_verdict(head: bytes, known_port: bool):
    """What the client's first lines say: SMTP, FTP (False), no evidence (None), _WAIT."""
    word = _first_word(head)
    if word is None:
        return None
    if word == b"AUTH" and _FTP_AUTH.match(head):
        return False  # RFC 4217 FTP over TLS; SMTP has no mechanism called TLS
    if word in _GREETING_VERBS or (known_port and word in _SMTP_VERBS):
        return True
    if word not in _FTP_VERBS:
        return None
    if not known_port:
        return False
    # On an SMTP port a mid-session capture may start with content whose first word
    # happens to be "User": only a second FTP command line (or a server's FTP reply)
    # decides.
    lines = head.split(b"\n")
    for line in lines[1:-1]:
        second = _first_word(line + b"\n")
        if second in _FTP_VERBS:
            return False
        return True
    return _WAIT


def _first_word(head: bytes) -> Optional[bytes]:
    """The upper-cased first word when it is complete (followed by space or CRLF)."""
    for index, byte in enumerate(head[:10]):
        if byte in _WORD_END:
            return head[:index].upper()
    return None


def _could_become_smtp(direction: int, head: bytes) -> bool:
    """A partial first line that more bytes could still turn into SMTP."""
    if direction == _SERVER_TO_CLIENT:
        return any(
            banner.startswith(head[:4])
            for banner in (b"220 ", b"220-", b"554 ", b"554-")
        )
    start = head[:5].upper()
    return any((verb + b" ").startswith(start) for verb in _GREETING_VERBS)
