"""Handshake messages: ClientHello, ServerHello, Certificate, EncryptedExtensions.

Parsers take one complete handshake message body and never raise on bad bytes
(`HandshakeError` is caught by the layer and recorded). JA3 (Salesforce) and JA4
(FoxIO) client fingerprints are computed from the ClientHello; GREASE values
(RFC 8701) are left out of both, as their definitions say.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from typing import Optional

from cryptography import x509

CLIENT_HELLO, SERVER_HELLO, NEW_SESSION_TICKET = 1, 2, 4
ENCRYPTED_EXTENSIONS, CERTIFICATE, CLIENT_KEY_EXCHANGE = 8, 11, 16
FINISHED, KEY_UPDATE = 20, 24

EXT_SERVER_NAME, EXT_SUPPORTED_GROUPS, EXT_EC_POINT_FORMATS = 0, 10, 11
EXT_SIGNATURE_ALGORITHMS, EXT_ALPN, EXT_ENCRYPT_THEN_MAC = 13, 16, 22
EXT_EXTENDED_MASTER_SECRET, EXT_SUPPORTED_VERSIONS = 23, 43

# ServerHello.random of a HelloRetryRequest (RFC 8446 section 4.1.3).
HRR_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)
VERSION_NAMES = {
    0x0300: "SSLv3",
    0x0301: "TLSv1.0",
    0x0302: "TLSv1.1",
    0x0303: "TLSv1.2",
    0x0304: "TLSv1.3",
}
_JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3"}


class HandshakeError(Exception):
    """A handshake message shorter or longer than its own length fields say."""


def is_grease(value: int) -> bool:
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise HandshakeError("handshake message truncated")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def vector(self, length_size: int) -> bytes:
        size = {1: self.u8, 2: self.u16, 3: self.u24}[length_size]()
        return self.take(size)

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def _extensions(reader: _Reader) -> list[tuple[int, bytes]]:
    if reader.left == 0:
        return []
    block = _Reader(reader.vector(2))
    out = []
    while block.left:
        kind = block.u16()
        out.append((kind, block.vector(2)))
    return out


def _u16_list(data: bytes) -> list[int]:
    return [struct.unpack_from(">H", data, i)[0] for i in range(0, len(data) - 1, 2)]


def _alpn(data: bytes) -> list[str]:
    reader = _Reader(_Reader(data).vector(2))
    names = []
    while reader.left:
        names.append(reader.vector(1).decode("utf-8", "backslashreplace"))
    return names


@dataclasses.dataclass(slots=True)
class ClientHello:
    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suites: list[int]
    extensions: list[int]  # types, in order
    server_name: Optional[str] = None
    alpn: list[str] = dataclasses.field(default_factory=list)
    supported_versions: list[int] = dataclasses.field(default_factory=list)
    groups: list[int] = dataclasses.field(default_factory=list)
    point_formats: list[int] = dataclasses.field(default_factory=list)
    signature_algorithms: list[int] = dataclasses.field(default_factory=list)
    encrypt_then_mac: bool = False
    extended_master_secret: bool = False

    def ja3_string(self) -> str:
        def join(values):
            return "-".join(str(v) for v in values if not is_grease(v))

        return ",".join(
            [
                str(self.legacy_version),
                join(self.cipher_suites),
                join(self.extensions),
                join(self.groups),
                join(self.point_formats),
            ]
        )

    def ja3(self) -> str:
        return hashlib.md5(self.ja3_string().encode()).hexdigest()

    def ja4(self) -> str:
        versions = [v for v in self.supported_versions if not is_grease(v)]
        version = max(versions) if versions else self.legacy_version
        ciphers = [c for c in self.cipher_suites if not is_grease(c)]
        extensions = [e for e in self.extensions if not is_grease(e)]
        alpn = self.alpn[0] if self.alpn else ""
        if not alpn:
            alpn_code = "00"
        elif (
            alpn[0].isascii()
            and alpn[0].isalnum()
            and alpn[-1].isascii()
            and alpn[-1].isalnum()
        ):
            alpn_code = alpn[0] + alpn[-1]
        else:
            hexed = alpn.encode("utf-8", "surrogateescape").hex()
            alpn_code = hexed[0] + hexed[-1]
        part_a = (
            "t"
            + _JA4_VERSIONS.get(version, "00")
            + ("d" if EXT_SERVER_NAME in extensions else "i")
            + f"{min(len(ciphers), 99):02d}"
            + f"{min(len(extensions), 99):02d}"
            + alpn_code
        )

        def digest(text: str) -> str:
            if not text:
                return "000000000000"
            return hashlib.sha256(text.encode()).hexdigest()[:12]

        part_b = digest(",".join(f"{c:04x}" for c in sorted(ciphers)))
        rest = sorted(e for e in extensions if e not in (EXT_SERVER_NAME, EXT_ALPN))
        text = ",".join(f"{e:04x}" for e in rest)
        signatures = [s for s in self.signature_algorithms if not is_grease(s)]
        if signatures:
            text += "_" + ",".join(f"{s:04x}" for s in signatures)
        part_c = digest(text) if rest else "000000000000"
        return f"{part_a}_{part_b}_{part_c}"


def parse_client_hello(body: bytes) -> ClientHello:
    reader = _Reader(body)
    version = reader.u16()
    random = reader.take(32)
    session_id = reader.vector(1)
    suites = _u16_list(reader.vector(2))
    reader.vector(1)  # compression methods
    hello = ClientHello(version, random, session_id, suites, [])
    for kind, data in _extensions(reader):
        hello.extensions.append(kind)
        try:
            if kind == EXT_SERVER_NAME:
                names = _Reader(_Reader(data).vector(2))
                while names.left:
                    name_type = names.u8()
                    name = names.vector(2)
                    if name_type == 0 and hello.server_name is None:
                        hello.server_name = name.decode("utf-8", "backslashreplace")
            elif kind == EXT_ALPN:
                hello.alpn = _alpn(data)
            elif kind == EXT_SUPPORTED_VERSIONS:
                hello.supported_versions = _u16_list(_Reader(data).vector(1))
            elif kind == EXT_SUPPORTED_GROUPS:
                hello.groups = _u16_list(_Reader(data).vector(2))
            elif kind == EXT_EC_POINT_FORMATS:
                hello.point_formats = list(_Reader(data).vector(1))
            elif kind == EXT_SIGNATURE_ALGORITHMS:
                hello.signature_algorithms = _u16_list(_Reader(data).vector(2))
            elif kind == EXT_ENCRYPT_THEN_MAC:
                hello.encrypt_then_mac = True
            elif kind == EXT_EXTENDED_MASTER_SECRET:
                hello.extended_master_secret = True
        except HandshakeError:
            pass  # a malformed extension body: the rest of the hello still counts
    return hello


@dataclasses.dataclass(slots=True)
class ServerHello:
    legacy_version: int
    random: bytes
    cipher_suite: int
    version: int  # negotiated: supported_versions when present
    alpn: Optional[str] = None
    encrypt_then_mac: bool = False
    extended_master_secret: bool = False

    @property
    def retry_request(self) -> bool:
        return self.random == HRR_RANDOM


def parse_server_hello(body: bytes) -> ServerHello:
    reader = _Reader(body)
    version = reader.u16()
    random = reader.take(32)
    reader.vector(1)  # session id
    suite = reader.u16()
    reader.u8()  # compression
    hello = ServerHello(version, random, suite, version)
    for kind, data in _extensions(reader):
        if kind == EXT_SUPPORTED_VERSIONS and len(data) == 2:
            hello.version = struct.unpack(">H", data)[0]
        elif kind == EXT_ALPN:
            names = _alpn(data)
            hello.alpn = names[0] if names else None
        elif kind == EXT_ENCRYPT_THEN_MAC:
            hello.encrypt_then_mac = True
        elif kind == EXT_EXTENDED_MASTER_SECRET:
            hello.extended_master_secret = True
    return hello


def parse_encrypted_extensions_alpn(body: bytes) -> Optional[str]:
    for kind, data in _extensions(_Reader(body)):
        if kind == EXT_ALPN:
            names = _alpn(data)
            return names[0] if names else None
    return None


@dataclasses.dataclass(slots=True)
class CertificateInfo:
    subject: str
    issuer: str
    not_before: str
    not_after: str
    sha256: str
    serial: str


def parse_certificate(body: bytes, tls13: bool) -> Optional[CertificateInfo]:
    """The first (end-entity) certificate of a Certificate message."""
    reader = _Reader(body)
    if tls13:
        reader.vector(1)  # certificate_request_context
    certificates = _Reader(reader.vector(3))
    if not certificates.left:
        return None
    der = certificates.vector(3)
    digest = hashlib.sha256(der).hexdigest()
    try:
        cert = x509.load_der_x509_certificate(der)
        return CertificateInfo(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_before=cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            not_after=cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            sha256=digest,
            serial=f"{cert.serial_number:x}",
        )
    # Unparsable: the hash still counts. InvalidVersion (a version field other than
    # v1 or v3) is no ValueError; a fuzzed certificate showed it.
    except (ValueError, TypeError, UnicodeError, x509.InvalidVersion):
        return CertificateInfo("", "", "", "", digest, "")


class HandshakeBuffer:
    """Handshake messages of one direction, reassembled across records."""

    MAX_MESSAGE = 1 << 18  # certificates chains are far smaller

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.broken = False

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """(type, body) of every message completed by ``data``."""
        if self.broken:
            return []
        self._buffer += data
        out = []
        buffer = self._buffer
        while len(buffer) >= 4:
            size = int.from_bytes(buffer[1:4], "big")
            if size > self.MAX_MESSAGE:
                self.broken = True
                buffer.clear()
                break
            if len(buffer) < 4 + size:
                break
            out.append((buffer[0], bytes(buffer[4 : 4 + size])))
            del buffer[: 4 + size]
        return out

    def reset(self) -> None:
        self._buffer.clear()
