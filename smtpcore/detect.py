"""Which protocol a TCP connection carries: SMTP, POP3 or IMAP, by content.

The reassembler asks with the first in-order bytes of each direction; the protocol
detectors (`smtp.detect`, `pop3.detect`, `imap.detect`) each say yes, no or not yet.
A clear POP3/IMAP signature wins over SMTP, whose detector keeps almost anything on
an SMTP port. The verdict is remembered by connection id for the pipeline, which
routes each connection to the builder of its protocol.

A connection that starts with a TLS ClientHello says nothing in clear: it is kept
as ``"tls"`` on an implicit-TLS port (465, 995, 993), or on any port when the key log
holds its client random, and `smtpcore.tlsfirst` lets its decrypted greeting say which protocol it
carries (by port only when nothing can be decrypted).
"""

from __future__ import annotations

from typing import Optional

from smtpcore.imap import detect as imap_detect
from smtpcore.pop3 import detect as pop3_detect
from smtpcore.smtp import detect as smtp_detect
from smtpcore.tls.keylog import KeyLog

SERVER_PORTS = smtp_detect.SMTP_PORTS | pop3_detect.POP3_PORTS | imap_detect.IMAP_PORTS

_DETECTORS = (
    ("imap", imap_detect.classify),
    ("pop3", pop3_detect.classify),
)

TLS_PORTS = (
    pop3_detect.IMPLICIT_TLS_PORTS
    | imap_detect.IMPLICIT_TLS_PORTS
    | smtp_detect.IMPLICIT_TLS_PORTS
)
"""The implicit-TLS ports of all protocols: elsewhere TLS needs the key log."""

WEB_REQUESTS = (
    b"GET /", b"POST /", b"HEAD /", b"PUT /", b"DELETE /", b"OPTIONS /", b"PATCH /",
)  # fmt: skip
"""Starts of an HTTP request line, on which every detector says no once a line ends.

IMAP wants ``tag COMMAND`` and a command never starts with "/", POP3 and SMTP
know no such verb (SMTP names these as other protocols'), so with a complete
line in a client's first bytes `detect` returns False whatever the ports.
"""


class Classifier:
    """The reassembler's ``classify`` callable; ``protocols`` holds the verdicts."""

    def __init__(self, keylog: Optional[KeyLog] = None) -> None:
        self.protocols: dict[int, str] = {}
        self._keylog = keylog

    def __call__(self, conn, direction: int, head: bytes) -> Optional[bool]:
        protocol = detect(conn, direction, head, self._keylog)
        if protocol is None or protocol is False:
            return protocol
        self.protocols[conn.id] = protocol
        return True

    def rejects_at_once(
        self, direction: int, server_port: int, client_port: int, head: bytes
    ) -> bool:
        """True only where `detect` is certain to say False: the common non-mail
        openings, found without building its view of the connection.

        TLS from the start on no implicit-TLS port while the key log is empty, or
        a client's complete HTTP request line. Web traffic is nearly all of one
        or the other, so the reassembler asks this first (and the compiled
        decoder tests the same, smtpcore._fastpath); the tests check that
        `detect` agrees on every opening of every test capture.
        """
        if not head:
            return False
        if head[0] == 0x16:
            keylog = self._keylog
            return (
                len(head) >= 2
                and head[1] == 0x03
                and server_port not in TLS_PORTS
                and client_port not in TLS_PORTS
                and (keylog is None or not len(keylog))
            )
        return (
            direction == _CLIENT_TO_SERVER
            and head.startswith(WEB_REQUESTS)
            and b"\n" in head
        )

    def take(self, conn_id: int) -> str:
        """The protocol of a kept connection (SMTP when it was kept unclassified)."""
        return self.protocols.pop(conn_id, "smtp")


def detect(conn, direction: int, head: bytes, keylog: Optional[KeyLog] = None):
    """ "smtp", "pop3", "imap" or "tls"; False when none; None when not yet decidable."""
    if not head:
        return None
    if head[0] == 0x16:  # a TLS record from the start: implicit TLS
        if len(head) < 2:
            return None
        if head[1] == 0x03:
            return _tls_first(conn, direction, head, keylog)
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


def implicit_tls_protocol(conn) -> Optional[str]:
    """The protocol of a TLS-first connection by its implicit-TLS port (465, 995, 993)."""
    if conn.server_port not in TLS_PORTS and conn.client_port not in TLS_PORTS:
        return None  # the common case (443), without the walk below
    ports = (conn.server_port, conn.client_port)
    for protocol, implicit in (
        ("pop3", pop3_detect.IMPLICIT_TLS_PORTS),
        ("imap", imap_detect.IMPLICIT_TLS_PORTS),
        ("smtp", smtp_detect.IMPLICIT_TLS_PORTS),
    ):
        if any(port in implicit for port in ports):
            return protocol
    return None


def port_protocol(conn) -> Optional[str]:
    """The protocol whose well-known port the connection uses, if any."""
    for protocol, ports in (
        ("pop3", pop3_detect.POP3_PORTS),
        ("imap", imap_detect.IMAP_PORTS),
        ("smtp", smtp_detect.SMTP_PORTS),
    ):
        if conn.server_port in ports or conn.client_port in ports:
            return protocol
    return None


# A ClientHello's random: record header (5), handshake header (4), version (2).
_RANDOM = slice(11, 43)


def _tls_first(conn, direction: int, head: bytes, keylog: Optional[KeyLog]):
    """ "tls" for a TLS-first connection worth decrypting, else False or None."""
    if implicit_tls_protocol(conn) is not None:
        return "tls"
    if keylog is None or not len(keylog):
        return False
    if direction == _SERVER_TO_CLIENT:
        return None  # the client's ClientHello decides
    if len(head) < _RANDOM.stop:
        return None
    if head[5] != 1:  # not a ClientHello
        return False
    return "tls" if keylog.secrets(head[_RANDOM]) else False


_CLIENT_TO_SERVER, _SERVER_TO_CLIENT = 0, 1
