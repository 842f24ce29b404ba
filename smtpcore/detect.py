"""Which protocol a TCP connection carries: SMTP, POP3 or IMAP, by content.

The reassembler asks with the first in-order bytes of each direction; the protocol
detectors (`smtp.detect`, `pop3.detect`, `imap.detect`) each say yes, no or not yet.
A clear POP3/IMAP signature wins over SMTP, whose detector keeps almost anything on
an SMTP port. The verdict is remembered by connection id for the pipeline, which
routes each connection to the builder of its protocol.
"""

from __future__ import annotations

from typing import Optional

from smtpcore.imap import detect as imap_detect
from smtpcore.pop3 import detect as pop3_detect
from smtpcore.smtp import detect as smtp_detect

SERVER_PORTS = smtp_detect.SMTP_PORTS | pop3_detect.POP3_PORTS | imap_detect.IMAP_PORTS

_POP3S = pop3_detect.IMPLICIT_TLS_PORTS
_IMAPS = imap_detect.IMPLICIT_TLS_PORTS
_DETECTORS = (
    ("imap", imap_detect.classify),
    ("pop3", pop3_detect.classify),
)


class Classifier:
    """The reassembler's ``classify`` callable; ``protocols`` holds the verdicts."""

    def __init__(self) -> None:
        self.protocols: dict[int, str] = {}

    def __call__(self, conn, direction: int, head: bytes) -> Optional[bool]:
        protocol = detect(conn, direction, head)
        if protocol is None or protocol is False:
            return protocol
        self.protocols[conn.id] = protocol
        return True

    def take(self, conn_id: int) -> str:
        """The protocol of a kept connection (SMTP when it was kept unclassified)."""
        return self.protocols.pop(conn_id, "smtp")


def detect(conn, direction: int, head: bytes):
    """ "smtp", "pop3" or "imap"; False when none; None when not yet decidable."""
    if not head:
        return None
    if head[0] == 0x16:  # a TLS record from the start: implicit TLS, by port
        if len(head) < 2:
            return None
        if head[1] == 0x03:
            server, client = conn.server_port, conn.client_port
            if server in _POP3S or client in _POP3S:
                return "pop3"
            if server in _IMAPS or client in _IMAPS:
                return "imap"
            return "smtp" if smtp_detect.classify(conn, direction, head) else False
    undecided = False
    for protocol, classify in _DETECTORS:
        verdict = classify(conn, direction, head)
        if verdict:
            return protocol
        undecided = undecided or verdict is None
    verdict = smtp_detect.classify(conn, direction, head)
    if verdict:
        return "smtp"
    if verdict is None or undecided:
        return None
    return False
