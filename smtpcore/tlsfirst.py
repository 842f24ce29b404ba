"""A connection that starts with TLS: which mail protocol it carries, from inside.

Its first bytes are a ClientHello, which says nothing about the protocol, and a
port is no proof (POP3 may listen on 465, IMAP on 10993). `TlsFirstBuilder` holds
the connection's bytes and, when the key log decrypts it, runs the content
detectors of `smtpcore.detect` on the first plaintext (the server's greeting:
``220`` SMTP, ``+OK`` POP3, ``* OK`` IMAP). Then it makes the builder of that
protocol and replays what it held, so that builder sees the connection from its
first byte. When nothing can be decrypted (no key log, no keys for this client
random, records that do not authenticate) the implicit-TLS port decides, as it
did before decryption existed: 995 POP3, 993 IMAP, 465 SMTP; on another port the
connection is not mail evidence and nothing is made of it, unless it was decrypted on
a mail port (then that port's protocol, whose machine warns about what it reads).
"""

from __future__ import annotations

from typing import Callable, Optional

from smtpcore import detect
from smtpcore.tls.keylog import KeyLog
from smtpcore.tls.layer import Plaintext, TlsConnection

MAX_HELD = 256 << 10  # bytes held before the port decides
_HEAD = 4096  # plaintext bytes shown to the detectors


class TlsFirstBuilder:
    """Fed like a session builder; becomes one once the protocol is known.

    Args:
      conn: the reassembler's connection (ports for the detectors and fallback).
      keylog: the secrets to look inside with.
      make: makes the builder of a protocol ("smtp", "pop3", "imap").
    """

    def __init__(self, conn, keylog: Optional[KeyLog], make: Callable) -> None:
        self._conn = conn
        self._make = make
        self._probe = (
            TlsConnection(keylog) if keylog is not None and len(keylog) else None
        )
        self._held: list[tuple] = []
        self._held_bytes = 0
        self._heads = [b"", b""]
        self._builder = None
        self._dropped = False

    def data(self, direction: int, data: bytes, ts_ns: int) -> list:
        if self._builder is not None:
            return self._builder.data(direction, data, ts_ns)
        if self._dropped:
            return []
        self._held.append((True, direction, data, ts_ns))
        self._held_bytes += len(data)
        protocol = self._look(self._call("data", direction, data, ts_ns))
        if protocol is None and not self._hopeless():
            return []
        return self._become(protocol)

    def gap(self, direction: int, length: int, ts_ns: int) -> list:
        if self._builder is not None:
            return self._builder.gap(direction, length, ts_ns)
        if self._dropped:
            return []
        self._held.append((False, direction, length, ts_ns))
        protocol = self._look(self._call("gap", direction, length, ts_ns))
        return [] if protocol is None else self._become(protocol)

    def close(self, ts_ns: int, reason: str) -> list:
        output = []
        if self._builder is None and not self._dropped:
            output = self._become(None)
        if self._builder is None:
            return output
        return output + self._builder.close(ts_ns, reason)

    def _call(self, name: str, *args) -> list:
        """Feeds the probe; an internal error leaves the decision to the port."""
        if self._probe is None:
            return []
        try:
            return getattr(self._probe, name)(*args)
        except Exception:  # noqa: BLE001 - the builder made next reports it
            self._probe = None
            return []

    def _look(self, events: list):
        """The protocol the first plaintext shows; False: not mail; None: not yet."""
        for event in events:
            if type(event) is Plaintext:
                head = self._heads[event.direction]
                if len(head) < _HEAD:
                    self._heads[event.direction] = (
                        head + event.data[: _HEAD - len(head)]
                    )
        server, client = self._heads[1], self._heads[0]
        verdict = None
        if server:
            verdict = detect.detect(self._conn, 1, server)
            if verdict is None and len(server) >= _HEAD:
                verdict = False
        elif client:  # the client spoke first: no mail protocol does
            verdict = detect.detect(self._conn, 0, client)
            if verdict is None and len(client) >= _HEAD:
                verdict = False
        return "none" if verdict is False or verdict == "tls" else verdict

    def _hopeless(self) -> bool:
        """Nothing will be decrypted, or enough was held: the port decides."""
        probe = self._probe
        if probe is None or probe.not_tls or self._held_bytes > MAX_HELD:
            return True
        info = probe.info
        return not info.decrypted and info.undecrypted_reason is not None

    def _become(self, protocol: Optional[str]) -> list:
        """Makes the protocol's builder and replays the held bytes into it."""
        if protocol in (None, "none"):
            protocol = detect.implicit_tls_protocol(self._conn)
            probe = self._probe
            if protocol is None and probe is not None and probe.info.decrypted:
                # Decrypted, yet its first words are no known greeting: on a mail
                # port it is kept as that port's protocol, for its warnings to tell.
                protocol = detect.port_protocol(self._conn)
        held, self._held, self._probe = self._held, [], None
        if protocol is None:
            self._dropped = True
            return []
        builder = self._builder = self._make(protocol)
        output = []
        for is_data, direction, value, ts_ns in held:
            if is_data:
                output += builder.data(direction, value, ts_ns)
            else:
                output += builder.gap(direction, value, ts_ns)
        return output
