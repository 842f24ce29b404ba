"""Whether a connection carries POP3, from the first bytes of one direction.

By content, never by port alone: a POP3 server greets with ``+OK`` and answers with
``+OK``/``-ERR``, which neither SMTP nor FTP (``220``) ever send; on a POP3 port a
server stream that begins inside a response is POP3 once a status line follows. Client commands
alone are weak evidence (FTP also has USER, PASS, RETR, LIST, DELE, STAT, QUIT), so
only the POP3-only verbs decide; the ambiguous ones leave it to the server's bytes,
or to a known POP3 port when the server was not captured.
"""

from __future__ import annotations

import re
from typing import Optional

POP3_PORTS = frozenset({110, 995})
IMPLICIT_TLS_PORTS = frozenset({995})

_SERVER_TO_CLIENT = 1
_LATER_STATUS = re.compile(rb"\n(?:\+OK|-ERR)[ \r\n]")
_REPLY_CODE = re.compile(rb"\d{3}[ -]")  # FTP, SMTP: never POP3, whatever the port
_ONLY_POP3 = frozenset({b"APOP", b"CAPA", b"UIDL", b"TOP", b"STLS"})
_POP3 = frozenset(
    {b"USER", b"PASS", b"STAT", b"LIST", b"RETR", b"DELE", b"NOOP", b"RSET",
     b"QUIT", b"AUTH"}
) | _ONLY_POP3  # fmt: skip


def classify(conn, direction: int, head: bytes) -> Optional[bool]:
    """True: POP3; False: not POP3; None: not enough bytes to say yet."""
    if direction == _SERVER_TO_CLIENT:
        for marker in (b"+OK", b"-ERR"):
            if head.startswith(marker):
                return True
            if marker.startswith(head):
                return None
        if conn.server_port in POP3_PORTS and not _REPLY_CODE.match(head):
            # A capture that began inside a response (a RETR body): a status line
            # further on shows POP3; until then the client's bytes may tell.
            return True if _LATER_STATUS.search(head) else None
        return False
    lines = head.split(b"\n")
    complete = lines[:-1]
    if not complete:
        return None if len(head) < 512 else False
    for line in complete:
        word = line.strip().split(b" ", 1)[0].upper()
        if word in _ONLY_POP3:
            return True
        if word not in _POP3:
            return False
    known_port = conn.server_port in POP3_PORTS
    return True if known_port else None
