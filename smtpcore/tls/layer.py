"""The TLS connection machine: records of both directions in, plaintext out.

Fed the in-order bytes (and gaps) of each direction, `TlsConnection` frames
records, follows the handshake (versions, suite, SNI, ALPN, certificate, JA3/JA4
into `TlsInfo`) and, when the key log holds the secrets of the session's client
random, decrypts: TLS 1.2 from each side's ChangeCipherSpec on, TLS 1.3 with the
handshake secrets until each side's Finished, then the application secrets
(KeyUpdate followed). It returns `Plaintext` and `Lost` events per direction.

Nothing is invented: a record that does not authenticate is never plaintext.
After a gap the record boundary is searched again: a candidate header counts
only when its record authenticates under one of the next sequence numbers
(bounded search), and the plaintext lost in between is handed on as `Lost` with
its size worked out from the record overhead (exact for AEAD suites without
TLS 1.3 padding; an upper bound for CBC). Without keys nothing but the
description comes out, and `TlsInfo.undecrypted_reason` says why.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Optional

from smtpcore.tls import handshake as hs
from smtpcore.tls import keys
from smtpcore.tls.cipher import SUITES, DecryptError, RecordCipher, suite_name
from smtpcore.tls.keylog import KeyLog

CLIENT, SERVER = 0, 1
CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
MAX_RECORD = (1 << 14) + 2048 + 5
MAX_RESYNC_TRIES = 4096  # sequence numbers tried for one candidate record
MAX_EARLY_RECORDS = 16  # TLS 1.3 client records skipped before its Finished
MAX_HELD = 1 << 20  # plaintext of one direction held while the other resynchronises

REASON_NO_KEYLOG = "no key log given"
REASON_NO_HELLO = "TLS handshake not captured: no ClientHello, so no client random to find the keys by"


@dataclasses.dataclass(slots=True)
class Plaintext:
    direction: int
    data: bytes
    ts_ns: int


@dataclasses.dataclass(slots=True)
class Lost:
    """Plaintext bytes of one direction that are missing (records lost in a gap)."""

    direction: int
    length: int
    ts_ns: int
    exact: bool


@dataclasses.dataclass(slots=True)
class TlsInfo:
    version: Optional[str] = None
    cipher: Optional[str] = None
    cipher_code: Optional[int] = None
    server_name: Optional[str] = None
    alpn_offered: list[str] = dataclasses.field(default_factory=list)
    alpn: Optional[str] = None
    client_random: Optional[str] = None
    ja3: Optional[str] = None
    ja3_string: Optional[str] = None
    ja4: Optional[str] = None
    encrypt_then_mac: Optional[bool] = None
    extended_master_secret: Optional[bool] = None
    certificate: Optional[hs.CertificateInfo] = None
    decrypted: bool = False
    undecrypted_reason: Optional[str] = None
    records_decrypted: int = 0
    bytes_decrypted: int = 0  # record payload bytes that authenticated
    warnings: list[str] = dataclasses.field(default_factory=list)


class _Side:
    __slots__ = (
        "buffer", "handshake", "cipher", "pending", "trial", "encrypted", "secret",
        "app_secret", "resync", "lost", "dead", "finished", "ok", "skipped",
    )  # fmt: skip

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.handshake = hs.HandshakeBuffer()
        self.cipher: Optional[RecordCipher] = None
        self.pending: Optional[RecordCipher] = None  # TLS 1.2: active after CCS
        self.trial: Optional[RecordCipher] = (
            None  # TLS 1.3 app key, handshake key unknown
        )
        self.encrypted = False
        self.secret: Optional[bytes] = None
        self.app_secret: Optional[bytes] = None
        self.resync = False
        self.lost = 0  # ciphertext bytes lost since the last good record
        self.dead = False
        self.finished = False
        self.ok = False  # some record of this side authenticated
        self.skipped = 0  # TLS 1.3 client records before Finished that failed


class TlsConnection:
    """One TLS connection; see the module docstring."""

    def __init__(self, keylog: Optional[KeyLog]) -> None:
        self.info = TlsInfo()
        self._keylog = keylog
        self._sides = (_Side(), _Side())
        self._events: list = []
        self._client_hello: Optional[hs.ClientHello] = None
        self._server_hello: Optional[hs.ServerHello] = None
        self._suite = None
        self._tls13 = False
        self._ts = 0
        self.not_tls = False  # the bytes were not TLS records at all
        self._held: list = []  # see _take
        self._held_bytes = 0
        # TLS 1.2 handshake messages up to ClientKeyExchange: the session hash of
        # the extended master secret (RFC 7627), needed with RSA key log lines.
        self._transcript: Optional[list[bytes]] = []
        self._rsa_pending = False  # RSA key exchange: keys come with its pre-master

    # ----------------------------------------------------------------- feeding

    def data(self, direction: int, data: bytes, ts_ns: int) -> list:
        self._ts = ts_ns
        side = self._sides[direction]
        if side.dead and side.cipher is None:
            return self._take()  # not TLS, or no keys for the rest: nothing to do
        side.buffer += data
        self._frame(direction, side)
        return self._take()

    def gap(self, direction: int, length: int, ts_ns: int) -> list:
        self._ts = ts_ns
        side = self._sides[direction]
        side.lost += len(side.buffer) + length
        side.buffer.clear()
        side.resync = True
        if not side.encrypted:
            side.handshake.reset()
        if side.cipher is not None and not side.dead:
            self._warn(
                f"{length} bytes of the {_NAMES[direction]} TLS stream lost; "
                "looking for the next record that authenticates"
            )
        return self._take()

    def close(self, ts_ns: int) -> list:
        """The connection ended: settle the reason and what is still missing."""
        self._ts = ts_ns
        for direction, side in enumerate(self._sides):
            if side.lost and side.cipher is not None and not side.dead:
                self._lose(direction, side, 0)
            side.resync = False
        info = self.info
        if not info.decrypted and info.undecrypted_reason is None:
            if self._client_hello is None:
                info.undecrypted_reason = REASON_NO_HELLO
            elif self._server_hello is None:
                info.undecrypted_reason = (
                    "ServerHello not captured: version and cipher suite unknown"
                )
            else:
                info.undecrypted_reason = "no encrypted records captured"
        return self._take()

    def _take(self) -> list:
        """Events to hand on, in the order the bytes were sent.

        While one direction is looking for its next record after a gap, how much
        plaintext it lost is not known yet; the other direction's plaintext (a
        reply to what was lost) is held back until it is, so that the loss comes
        first. Past ``MAX_HELD`` bytes held the loss is handed on as an estimate.
        """
        events, self._events = self._events, []
        waiting = [
            direction
            for direction, side in enumerate(self._sides)
            if side.resync and side.ok and not side.dead
        ]
        if not waiting and not self._held:
            return events
        if not waiting:
            held, self._held, self._held_bytes = self._held, [], 0
            losses = [event for event in events if type(event) is Lost]
            return losses + held + [e for e in events if type(e) is not Lost]
        out = []
        for event in events:
            if event.direction in waiting:
                out.append(event)
            else:
                self._held.append(event)
                self._held_bytes += len(getattr(event, "data", b""))
        if self._held_bytes > MAX_HELD:
            for direction in waiting:
                side = self._sides[direction]
                if side.lost:
                    self._lose(direction, side, 1)
            out += self._events + self._held
            self._events, self._held, self._held_bytes = [], [], 0
        return out

    def _warn(self, message: str) -> None:
        if len(self.info.warnings) < 50:
            self.info.warnings.append(message)

    # ----------------------------------------------------------------- records

    def _frame(self, direction: int, side: _Side) -> None:
        buffer = side.buffer
        position = 0
        while True:
            if side.resync:
                position = self._find_record(direction, side, position)
                if side.resync:
                    break
            if len(buffer) - position < 5:
                break
            content_type = buffer[position]
            length = (buffer[position + 3] << 8) | buffer[position + 4]
            if not _plausible(buffer, position):
                if position == 0 and not side.encrypted and not self._client_hello:
                    self._not_tls(direction)
                    buffer.clear()
                    return
                self._warn(
                    f"{_NAMES[direction]} bytes are not a TLS record; resynchronising"
                )
                side.resync = True
                continue
            end = position + 5 + length
            if len(buffer) < end:
                break
            version = bytes(buffer[position + 1 : position + 3])
            payload = bytes(buffer[position + 5 : end])
            position = end
            self._record(direction, side, content_type, version, payload)
        del buffer[:position]
        if len(buffer) > 2 * MAX_RECORD:  # only while resynchronising
            side.lost += len(buffer) - MAX_RECORD
            del buffer[: len(buffer) - MAX_RECORD]

    def _not_tls(self, direction: int) -> None:
        self.not_tls = True
        if self.info.undecrypted_reason is None:
            self.info.undecrypted_reason = (
                f"the {_NAMES[direction]} bytes are not TLS records"
            )
        self._sides[direction].dead = True

    def _find_record(self, direction: int, side: _Side, position: int) -> int:
        """Moves ``position`` to a record that authenticates, or leaves resync on.

        A candidate header whose record is not complete yet is waited for, unless
        a later candidate in the buffer is complete and authenticates (the first
        was then a false header inside a lost record's tail).
        """
        buffer = side.buffer
        cipher = side.cipher if side.encrypted else None
        while len(buffer) - position >= 5:
            if not _plausible(buffer, position):
                position += 1
                side.lost += 1
                continue
            end = position + 5 + ((buffer[position + 3] << 8) | buffer[position + 4])
            if cipher is None or buffer[position] == CHANGE_CIPHER_SPEC:
                if len(buffer) < end:
                    return position
                side.resync = False
                return position
            if len(buffer) < end:
                later = self._later_record(side, cipher, position + 1)
                if later is None:
                    return position  # wait for the whole candidate
                side.lost += later - position
                position = later
                continue
            seq = self._authentic_seq(side, cipher, position, end)
            if seq is not None:
                skipped = seq - cipher.seq
                cipher.seq = seq  # decrypted again by _record below
                self._lose(direction, side, skipped)
                side.resync = False
                return position
            position += 1
            side.lost += 1
        return position

    def _authentic_seq(self, side, cipher, position: int, end: int) -> Optional[int]:
        """The sequence number under which the record at ``position`` authenticates."""
        buffer = side.buffer
        content_type = buffer[position]
        version = bytes(buffer[position + 1 : position + 3])
        payload = bytes(buffer[position + 5 : end])
        base = cipher.seq
        for seq in range(base, base + min(MAX_RESYNC_TRIES, side.lost // 22 + 2)):
            try:
                cipher.decrypt(content_type, version, payload, seq)
            except DecryptError:
                continue
            finally:
                cipher.seq = base
            return seq
        return None

    def _later_record(self, side, cipher, position: int) -> Optional[int]:
        """A complete, authentic record starting at or after ``position``."""
        buffer = side.buffer
        while len(buffer) - position >= 5:
            if _plausible(buffer, position):
                end = (
                    position + 5 + ((buffer[position + 3] << 8) | buffer[position + 4])
                )
                if end <= len(buffer) and buffer[position] != CHANGE_CIPHER_SPEC:
                    if self._authentic_seq(side, cipher, position, end) is not None:
                        return position
            position += 1
        return None

    def _lose(self, direction: int, side: _Side, records: int) -> None:
        """Hands on the plaintext lost in a gap now that its record count is known."""
        overhead, exact = _overhead(side.cipher.suite)
        length = max(side.lost - records * overhead, 0)
        if records == 0 and side.lost:
            exact = False  # the gap's end is not known from a record boundary
        self._warn(
            f"{_NAMES[direction]}: {records} TLS records lost in a gap "
            f"({side.lost} bytes, about {length} bytes of plaintext)"
        )
        if length:
            self._events.append(Lost(direction, length, self._ts, exact))
        side.lost = 0

    def _record(self, direction, side, content_type, version, payload) -> None:
        if side.dead:
            if side.cipher is not None and side.ok:
                # Decryption broke off: what follows is missing, not absent.
                overhead, exact = _overhead(side.cipher.suite)
                length = max(len(payload) + 5 - overhead, 0)
                if length:
                    self._events.append(Lost(direction, length, self._ts, exact))
            return
        if self._tls13 and content_type == CHANGE_CIPHER_SPEC:
            return  # middlebox compatibility (RFC 8446 appendix D.4)
        if not side.encrypted:
            if content_type == HANDSHAKE:
                self._feed_handshake(direction, side, payload)
            elif content_type == CHANGE_CIPHER_SPEC:
                side.encrypted = True
                side.cipher, side.pending = side.pending, None
                side.handshake.reset()
            elif content_type == APPLICATION_DATA:
                if self._client_hello is None and self.info.undecrypted_reason is None:
                    self.info.undecrypted_reason = REASON_NO_HELLO
            return
        cipher = side.cipher
        if cipher is None and side.trial is not None:
            try:
                inner, plain = side.trial.decrypt(content_type, version, payload)
            except DecryptError:
                side.trial.seq = 0
                return  # an encrypted handshake record
            side.cipher, side.trial = side.trial, None
            side.finished = True
            self._plain(direction, side, inner, plain, len(payload))
            return
        if cipher is None:
            return
        try:
            inner, plain = cipher.decrypt(content_type, version, payload)
        except DecryptError:
            if self._tls13 and direction == CLIENT and not side.finished:
                side.skipped += 1
                if side.skipped <= MAX_EARLY_RECORDS:
                    # Before the client's Finished: 0-RTT early data (and its
                    # EndOfEarlyData) under the early secret. Skipped; the
                    # handshake goes on.
                    self._warn(
                        "client record before its Finished not decrypted (early data?)"
                    )
                    return
            side.dead = True
            if not self.info.decrypted:
                self.info.undecrypted_reason = (
                    "records do not decrypt with the key log's secrets for this "
                    "client random"
                )
            self._warn(
                f"{_NAMES[direction]}: record {cipher.seq} does not authenticate; "
                "the rest of this direction is not decrypted"
            )
            if side.ok:
                overhead, exact = _overhead(cipher.suite)
                self._events.append(
                    Lost(
                        direction, max(len(payload) + 5 - overhead, 0), self._ts, exact
                    )
                )
            return
        self._plain(direction, side, inner, plain, len(payload))

    def _plain(self, direction, side, inner, plain, size) -> None:
        side.ok = True
        info = self.info
        info.decrypted = True
        info.undecrypted_reason = None
        info.records_decrypted += 1
        info.bytes_decrypted += size
        if inner == APPLICATION_DATA:
            if plain:
                self._events.append(Plaintext(direction, plain, self._ts))
        elif inner == HANDSHAKE:
            self._feed_handshake(direction, side, plain)

    # --------------------------------------------------------------- handshake

    def _feed_handshake(self, direction: int, side: _Side, data: bytes) -> None:
        broken = side.handshake.broken
        for kind, body in side.handshake.feed(data):
            self._handshake(direction, side, kind, body)
        if side.handshake.broken and not broken:
            self._warn(
                f"{_NAMES[direction]}: handshake message larger than "
                f"{side.handshake.MAX_MESSAGE} bytes; the rest of the handshake "
                "is not read"
            )

    def _handshake(self, direction: int, side: _Side, kind: int, body: bytes) -> None:
        transcript = self._transcript
        if transcript is not None and not side.encrypted:
            transcript.append(bytes([kind]) + len(body).to_bytes(3, "big") + body)
            if sum(map(len, transcript)) > 1 << 20:
                self._transcript = None
        try:
            if kind == hs.CLIENT_HELLO and direction == CLIENT:
                self._on_client_hello(hs.parse_client_hello(body))
            elif kind == hs.SERVER_HELLO and direction == SERVER:
                self._on_server_hello(hs.parse_server_hello(body))
            elif kind == hs.CERTIFICATE and direction == SERVER:
                if self.info.certificate is None:
                    self.info.certificate = hs.parse_certificate(body, self._tls13)
            elif kind == hs.ENCRYPTED_EXTENSIONS and direction == SERVER:
                self.info.alpn = hs.parse_encrypted_extensions_alpn(body)
            elif kind == hs.FINISHED and self._tls13 and not side.finished:
                side.finished = True
                self._switch13(side, side.app_secret)
            elif kind == hs.CLIENT_KEY_EXCHANGE and direction == CLIENT:
                if self._rsa_pending:
                    self._keys12_rsa(body)
            elif kind == hs.KEY_UPDATE and self._tls13 and side.secret is not None:
                self._switch13(
                    side, keys.next_secret13(self._suite.prf_hash, side.secret)
                )
        except hs.HandshakeError as error:
            self._warn(f"{_NAMES[direction]} handshake message {kind}: {error}")

    def _on_client_hello(self, hello: hs.ClientHello) -> None:
        if self._client_hello is not None:
            return  # the second ClientHello after a HelloRetryRequest
        self._client_hello = hello
        info = self.info
        info.client_random = hello.random.hex()
        info.server_name = hello.server_name
        info.alpn_offered = list(hello.alpn)
        info.ja3_string = hello.ja3_string()
        info.ja3 = hello.ja3()
        info.ja4 = hello.ja4()

    def _on_server_hello(self, hello: hs.ServerHello) -> None:
        if hello.retry_request:
            return
        if self._server_hello is not None:
            self._warn("TLS renegotiation: the records after it are not decrypted")
            return
        self._server_hello = hello
        info = self.info
        info.version = hs.VERSION_NAMES.get(hello.version, f"0x{hello.version:04x}")
        info.cipher_code = hello.cipher_suite
        info.cipher = suite_name(hello.cipher_suite)
        self._tls13 = hello.version == 0x0304
        if not self._tls13:
            info.alpn = hello.alpn
            info.encrypt_then_mac = hello.encrypt_then_mac
            info.extended_master_secret = hello.extended_master_secret
        suite = SUITES.get(hello.cipher_suite)
        if self._tls13:
            for side in self._sides:
                side.encrypted = True
                side.handshake.reset()
        if hello.version < 0x0303:
            info.undecrypted_reason = f"unsupported TLS version {info.version}"
            return
        if suite is None or suite.tls13 != self._tls13:
            info.undecrypted_reason = f"unsupported cipher suite {info.cipher}"
            return
        self._suite = suite
        if self._client_hello is None:
            info.undecrypted_reason = REASON_NO_HELLO
            return
        if self._keylog is None or not len(self._keylog):
            info.undecrypted_reason = REASON_NO_KEYLOG
            return
        secrets = self._keylog.secrets(self._client_hello.random)
        if self._tls13:
            self._keys13(suite, secrets or {})
        else:
            self._keys12(suite, hello, (secrets or {}).get("CLIENT_RANDOM"))

    def _no_key(self, what: str) -> None:
        self.info.undecrypted_reason = (
            f"no {what} for client random {self.info.client_random} in the key logs"
        )

    def _keys12(self, suite, hello: hs.ServerHello, master: Optional[bytes]) -> None:
        if master is None or len(master) != 48:
            self._no_key("CLIENT_RANDOM master secret")
            self._rsa_pending = suite.name.startswith("TLS_RSA_")
            return
        etm = suite.kind == "cbc" and hello.encrypt_then_mac
        client, server = keys.key_block12(
            suite.prf_hash,
            master,
            self._client_hello.random,
            hello.random,
            suite.mac_len,
            suite.key_len,
            suite.fixed_iv_len,
        )
        for side, (mac_key, key, iv) in zip(self._sides, (client, server)):
            side.pending = RecordCipher(suite, key, iv, mac_key, etm)

    def _keys12_rsa(self, body: bytes) -> None:
        """Master secret from an RSA line of the key log (RFC 5246 8.1, RFC 7627)."""
        self._rsa_pending = False
        encrypted = body[2:] if len(body) >= 2 else b""
        premaster = (
            self._keylog.rsa_premaster(encrypted[:8]) if len(encrypted) >= 8 else None
        )
        if premaster is None:
            self._no_key("CLIENT_RANDOM master secret or RSA pre-master secret")
            return
        suite, hello = self._suite, self._server_hello
        randoms = self._client_hello.random + hello.random
        if hello.extended_master_secret:
            if self._transcript is None:
                self.info.undecrypted_reason = "handshake too long to hash for EMS"
                return
            digest = hashlib.new(suite.prf_hash, b"".join(self._transcript)).digest()
            master = keys.prf12(
                suite.prf_hash, premaster, b"extended master secret", digest, 48
            )
        else:
            master = keys.prf12(
                suite.prf_hash, premaster, b"master secret", randoms, 48
            )
        self.info.undecrypted_reason = None
        self._keys12(suite, hello, master)

    def _keys13(self, suite, secrets: dict) -> None:
        labels = (
            ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"),
            ("SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"),
        )
        if not any(secrets.get(label) for pair in labels for label in pair):
            self._no_key("TLS 1.3 traffic secrets")
            return
        for side, (hs_label, app_label) in zip(self._sides, labels):
            side.app_secret = secrets.get(app_label)
            handshake_secret = secrets.get(hs_label)
            if handshake_secret is not None:
                self._switch13(side, handshake_secret)
            elif side.app_secret is not None:
                key, iv = keys.traffic_keys13(
                    suite.prf_hash, side.app_secret, suite.key_len
                )
                side.trial = RecordCipher(suite, key, iv)
                side.secret = side.app_secret
        if not secrets.get(labels[0][1]) or not secrets.get(labels[1][1]):
            self._warn("key log lacks an application traffic secret of this session")

    def _switch13(self, side: _Side, secret: Optional[bytes]) -> None:
        if secret is None:
            side.cipher = None
            side.dead = True
            return
        suite = self._suite
        key, iv = keys.traffic_keys13(suite.prf_hash, secret, suite.key_len)
        side.cipher = RecordCipher(suite, key, iv)
        side.secret = secret


_NAMES = ("client", "server")


def _overhead(suite) -> tuple[int, bool]:
    """Bytes a record adds to its plaintext, and whether that is exact."""
    if suite.tls13:
        return 5 + 16 + 1, False  # padding unknown
    if suite.kind == "gcm":
        return 5 + 8 + 16, True
    if suite.kind == "chacha":
        return 5 + 16, True
    return 5 + 16 + suite.mac_len + 1, False  # CBC padding unknown


def _plausible(buffer, position: int) -> bool:
    """A TLS record header: known type, version 3.x, length within the limit."""
    content_type = buffer[position]
    if content_type < 20 or content_type > 24 or buffer[position + 1] != 3:
        return False
    if buffer[position + 2] > 4:
        return False
    length = (buffer[position + 3] << 8) | buffer[position + 4]
    return 0 < length <= MAX_RECORD - 5
