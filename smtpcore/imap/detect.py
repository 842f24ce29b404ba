"""Whether a connection carries IMAP, from the first bytes of one direction.

By content: the server greets with ``* OK``, ``* PREAUTH`` or ``* BYE``, and later
sends untagged (``* ...``) and tagged (``tag OK|NO|BAD``) responses; the client sends
``tag COMMAND`` lines, which no other mail protocol does.
"""

from __future__ import annotations

import re
from typing import Optional

IMAP_PORTS = frozenset({143, 993})
IMPLICIT_TLS_PORTS = frozenset({993})

_SERVER_TO_CLIENT = 1
_COMMANDS = (
    b"CAPABILITY|NOOP|LOGOUT|STARTTLS|AUTHENTICATE|LOGIN|SELECT|EXAMINE|CREATE|DELETE|"
    b"RENAME|SUBSCRIBE|UNSUBSCRIBE|LIST|LSUB|STATUS|APPEND|CHECK|CLOSE|EXPUNGE|SEARCH|"
    b"FETCH|STORE|COPY|MOVE|UID|IDLE|ENABLE|ID|NAMESPACE|UNSELECT|GETQUOTAROOT|"
    b"GETQUOTA|SETQUOTA|GETACL|SETACL|MYRIGHTS|COMPRESS|XLIST|SORT|THREAD|GETMETADATA"
)
_CLIENT = re.compile(
    rb"[!#$&',./0-9:-Z^-z|~-]+ (?:" + _COMMANDS + rb")(?: |\r?\n)", re.I
)
_GREETING = re.compile(rb"\* (?:OK|PREAUTH|BYE)[ \[\r\n]", re.I)
_SERVER = re.compile(
    rb"(?:\* (?:\d+ (?:EXISTS|RECENT|EXPUNGE|FETCH)|CAPABILITY|FLAGS|LIST|LSUB|STATUS|"
    rb"SEARCH|ESEARCH|NAMESPACE|ENABLED|ID|OK|NO|BAD)"
    rb"|[!#$&',./0-9:-Z^-z|~-]+ (?:OK|NO|BAD))[ \[\r\n]",
    re.I,
)


# First words that make "tag COMMAND" another protocol's line: SMTP and POP3
# "AUTH LOGIN", SMTP replies such as "250 OK".
_NOT_TAGS = frozenset({b"AUTH", b"MAIL", b"RCPT", b"HELO", b"EHLO", b"USER", b"PASS"})
_REPLY_CODE = re.compile(rb"\d{3} ")
_LATER_RESPONSE = re.compile(
    rb"\n(?:\* \d+ (?:FETCH|EXISTS|EXPUNGE)|[A-Za-z0-9.]+ (?:OK|NO|BAD)) ", re.I
)


def classify(conn, direction: int, head: bytes) -> Optional[bool]:
    """True: IMAP; False: not IMAP; None: not enough bytes to say yet."""
    newline = head.find(b"\n")
    if direction == _SERVER_TO_CLIENT:
        if _GREETING.match(head) or (
            _SERVER.match(head) and not _REPLY_CODE.match(head)
        ):
            return True
        if conn.server_port in IMAP_PORTS and not _REPLY_CODE.match(head):
            # A capture that began inside a literal: a response line further on.
            return True if _LATER_RESPONSE.search(head) else None
        return None if newline < 0 and len(head) < 16 else False
    if _CLIENT.match(head) and head.split(b" ", 1)[0].upper() not in _NOT_TAGS:
        return True
    if newline < 0:
        return None if len(head) < 64 else False
    return False
