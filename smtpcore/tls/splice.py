"""Where TLS starts inside a mail protocol's byte stream, and the plaintext after it.

The same for SMTP, POP3 and IMAP. A builder keeps feeding its clear-text machine
every byte (it goes on describing the encrypted part as before: STARTTLS, STLS,
SNI) through a `TlsSplice`, which, from the chunk in which that machine reports
`TlsStarted` (the positive reply to STARTTLS/STLS, or the first byte of an
implicit-TLS connection), also feeds a `TlsConnection`. Its plaintext goes to a
second machine of the same protocol for the same session, whose events the
builder handles with the same code as clear text: byte-exact messages,
credentials, MIME. When the capture began inside TLS the clear-text machine is
not fed at all. Without a key log nothing but the description comes out.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Optional

from smtpcore.tls import load_layer
from smtpcore.tls.keylog import KeyLog

if TYPE_CHECKING:
    from smtpcore.tls.layer import TlsConnection

CLIENT, SERVER = 0, 1

_RECORD_START = re.compile(rb"(?:\A|(?<=\n))\x16\x03")

# The positive reply after which the server speaks TLS, per protocol.
REPLY_END = {
    "smtp": re.compile(rb"(?:\A|\n)220[ \r\n][^\n]*\n"),
    "pop3": re.compile(rb"(?:\A|\n)\+OK[^\n]*\n"),
    "imap": re.compile(rb"(?:\A|\n)[^\s*+]+ OK[^\n]*\n", re.I),
}


def tls_start(
    direction: int, data: bytes, previous_last: Optional[int], reply_end: re.Pattern
) -> bytes:
    """The bytes of ``data`` that belong to TLS, given TlsStarted came during it.

    Client side: from the ClientHello record header (at a line start; a lone
    0x16 at the end of the previous chunk is put back). Server side: after the
    positive reply to STARTTLS/STLS, or all of it when the server spoke TLS first.
    """
    if direction == CLIENT:
        if data[:1] == b"\x03" and previous_last == 0x16:
            return b"\x16" + data
        match = _RECORD_START.search(data)
        return data[match.start() :] if match else b""
    if data[:2] == b"\x16\x03" or data[:1] in (b"\x15", b"\x17"):
        return data
    end = None
    for match in reply_end.finditer(data):
        end = match.end()
    return data[end:] if end is not None else b""


def looks_like_tls_record(data: bytes) -> bool:
    """A TLS record header other than a handshake: encrypted mid-session bytes."""
    return (
        len(data) >= 5
        and data[0] in (0x14, 0x15, 0x17)
        and data[1] == 3
        and data[2] <= 4
        and 0 < int.from_bytes(data[3:5], "big") <= (1 << 14) + 2048
    )


class TlsSplice:
    """The TLS part of one connection and the machine that reads its plaintext.

    Args:
      keylog: the secrets to decrypt with (None: describe only).
      inner: makes the machine for the plaintext, called when the first comes.
      started: the clear-text machine's ``TlsStarted`` event class.
      reply_end: ``REPLY_END[protocol]``.
      warn: receives a message when the TLS layer fails internally.
    """

    def __init__(
        self,
        keylog: Optional[KeyLog],
        inner: Callable[[], object],
        started: type,
        reply_end: re.Pattern,
        warn: Callable[[str], None],
    ) -> None:
        self.tls: Optional[TlsConnection] = None
        self.inner = None
        self.outer_off = False  # the capture began inside TLS: no clear text
        self._keylog = keylog
        self._make_inner = inner
        self._started = started
        self._reply_end = reply_end
        self._warn = warn
        self._seen = [False, False]
        self._last_byte: list[Optional[int]] = [None, None]
        self._failed = False

    def data(self, machine, direction: int, data: bytes, ts_ns: int):
        """(clear-text machine's events, events of the machine inside TLS)."""
        if not self._seen[direction]:
            self._seen[direction] = True
            if self.tls is None and not self._seen[1 - direction]:
                if looks_like_tls_record(data):
                    self.outer_off = True
                    self.tls = load_layer().TlsConnection(self._keylog)
        if self.outer_off:
            return [], self._plaintext(self._call("data", direction, data, ts_ns))
        outer = machine.data(direction, data, ts_ns)
        if self.tls is not None:
            return outer, self._plaintext(self._call("data", direction, data, ts_ns))
        inner = []
        started = self._started
        if outer and started in map(type, outer):
            self.tls = load_layer().TlsConnection(self._keylog)
            start = tls_start(
                direction, data, self._last_byte[direction], self._reply_end
            )
            if start:
                inner = self._plaintext(self._call("data", direction, start, ts_ns))
        self._last_byte[direction] = data[-1] if data else None
        return outer, inner

    def gap(self, machine, direction: int, length: int, ts_ns: int):
        outer = [] if self.outer_off else machine.gap(direction, length, ts_ns)
        if self.tls is None:
            return outer, []
        return outer, self._plaintext(self._call("gap", direction, length, ts_ns))

    def close(self, ts_ns: int) -> list:
        """The inner machine's last events, its ``Closed`` among them."""
        if self.tls is None:
            return []
        events = self._plaintext(self._call("close", ts_ns))
        if self.inner is not None:
            events += self.inner.close(ts_ns)
        return events

    def _call(self, name: str, *args) -> list:
        """Calls the TLS layer; an internal error ends decryption, never the run."""
        if self._failed:
            return []
        try:
            return getattr(self.tls, name)(*args)
        except Exception as error:  # noqa: BLE001 - evidence must survive a bug
            self._failed = True
            self._warn(
                f"(TLS): internal error {error!r}; the rest of the session is not "
                "decrypted"
            )
            return []

    def _plaintext(self, events: list) -> list:
        """Plaintext and losses from the TLS layer through the machine inside TLS."""
        out: list = []
        layer = load_layer()
        for event in events:
            inner = self.inner
            if inner is None:
                inner = self.inner = self._make_inner()
            if type(event) is layer.Plaintext:
                out += inner.data(event.direction, event.data, event.ts_ns)
            elif type(event) is layer.Lost:
                out += inner.gap(event.direction, event.length, event.ts_ns)
        return out

    def describe(self, session, session_id: str) -> None:
        """The TLS fields of ``session``; its warnings get the layer's."""
        tls = self.tls
        if tls is None:
            return
        info = tls.info
        if tls.not_tls and not info.decrypted:
            return  # clear text after STARTTLS (a decrypted export): decoded as is
        session.tls_version = info.version
        session.tls_cipher = info.cipher
        if info.server_name:
            session.tls_server_name = info.server_name
        session.tls_alpn = list(info.alpn_offered)
        session.tls_alpn_selected = info.alpn
        session.tls_client_random = info.client_random
        session.tls_extended_master_secret = info.extended_master_secret
        session.tls_encrypt_then_mac = info.encrypt_then_mac
        certificate = info.certificate
        if certificate is not None:
            session.tls_cert_subject = certificate.subject
            session.tls_cert_issuer = certificate.issuer
            session.tls_cert_not_before = certificate.not_before
            session.tls_cert_not_after = certificate.not_after
            session.tls_cert_sha256 = certificate.sha256
        session.ja3 = info.ja3
        session.ja3_string = info.ja3_string
        session.ja4 = info.ja4
        session.decrypted = info.decrypted
        session.tls_undecrypted_reason = (
            None if info.decrypted else info.undecrypted_reason
        )
        session.warnings.extend(
            f"session {session_id} (TLS): {warning}" for warning in info.warnings
        )
        if not info.decrypted and self._keylog is not None and len(self._keylog):
            # A key log was given: that it did not open this session is news.
            session.warnings.append(
                f"session {session_id} (TLS): not decrypted: {info.undecrypted_reason}"
            )
