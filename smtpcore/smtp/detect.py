"""Early decision whether a TCP connection carries SMTP, from its first bytes.

The reassembler asks `classify` with the first in-order bytes of each direction and
drops connections that are clearly something else, so only SMTP is buffered and
decoded. On a known SMTP port anything that is not clearly another protocol is kept,
because a capture that begins mid-session starts with message content or a reply.
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
_OTHER_PROTOCOLS = (
    b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"CONNECT ",
    b"PATCH ", b"TRACE ", b"HTTP/", b"SSH-", b"PRI * HTTP/2",
)  # fmt: skip
_REPLY = re.compile(rb"\d{3}(?:[ -]|\r?\n)")
_BANNER = re.compile(rb"(?:220|554)[ -]")
_WORD_END = b" \t\r\n"


def classify(conn, direction: int, head: bytes) -> Optional[bool]:
    """True: keep as SMTP; False: not SMTP; None: not enough bytes to say yet."""
    if not head:
        return None
    ports = (conn.server_port, conn.client_port)
    known_port = any(port in SMTP_PORTS for port in ports)
    if head[0] == 0x16:
        if len(head) < 2:
            return None
        if head[1] == 0x03:
            return any(port in IMPLICIT_TLS_PORTS for port in ports)
    upper = head[:16].upper()
    for prefix in _OTHER_PROTOCOLS:
        if upper.startswith(prefix):
            return False
        if prefix.startswith(upper) and b"\n" not in head:
            return None
    if direction == _SERVER_TO_CLIENT:
        if _BANNER.match(head) or (known_port and _REPLY.match(head)):
            return True
    else:
        word = _first_word(head)
        if word is not None:
            if word in _GREETING_VERBS or (known_port and word in _SMTP_VERBS):
                return True
    if known_port:
        return True
    if b"\n" in head or len(head) >= 4096:
        return False
    return None if _could_become_smtp(direction, head) else False


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
