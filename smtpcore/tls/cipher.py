"""Cipher suites and record protection: one `RecordCipher` per direction.

AEAD (AES-GCM, ChaCha20-Poly1305) for TLS 1.2 (RFC 5288, 7905) and TLS 1.3
(RFC 8446 section 5.2), and AES-CBC with HMAC for TLS 1.2, MAC-then-encrypt
(RFC 5246 section 6.2.3.2) or encrypt-then-MAC (RFC 7366). The primitives are
PyCA ``cryptography``'s; sequence numbers, nonces, additional data, padding and
MAC checks are here. A record that fails its check raises `DecryptError`: a wrong
key or a lost record, never plaintext.
"""

from __future__ import annotations

import dataclasses
import hmac
from typing import Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305


class DecryptError(Exception):
    """The record does not decrypt or authenticate with these keys."""


@dataclasses.dataclass(frozen=True, slots=True)
class Suite:
    code: int
    name: str  # IANA
    tls13: bool
    kind: str  # "gcm", "chacha", "cbc"
    key_len: int
    prf_hash: str  # TLS 1.2 PRF / TLS 1.3 HKDF hash
    mac_hash: Optional[str] = None  # CBC suites
    mac_len: int = 0

    @property
    def fixed_iv_len(self) -> int:
        """IV bytes of the TLS 1.2 key block."""
        return {"gcm": 4, "chacha": 12, "cbc": 0}[self.kind]


def _suites() -> dict[int, Suite]:
    table = [
        Suite(0x1301, "TLS_AES_128_GCM_SHA256", True, "gcm", 16, "sha256"),
        Suite(0x1302, "TLS_AES_256_GCM_SHA384", True, "gcm", 32, "sha384"),
        Suite(0x1303, "TLS_CHACHA20_POLY1305_SHA256", True, "chacha", 32, "sha256"),
    ]
    aead12 = {
        0xC02F: ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "gcm", 16, "sha256"),
        0xC030: ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "gcm", 32, "sha384"),
        0xC02B: ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "gcm", 16, "sha256"),
        0xC02C: ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "gcm", 32, "sha384"),
        0x009C: ("TLS_RSA_WITH_AES_128_GCM_SHA256", "gcm", 16, "sha256"),
        0x009D: ("TLS_RSA_WITH_AES_256_GCM_SHA384", "gcm", 32, "sha384"),
        0x009E: ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "gcm", 16, "sha256"),
        0x009F: ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "gcm", 32, "sha384"),
        0xCCA8: ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "chacha", 32, "sha256"),
        0xCCA9: (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "chacha",
            32,
            "sha256",
        ),
        0xCCAA: ("TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "chacha", 32, "sha256"),
    }
    for code, (name, kind, key_len, prf) in aead12.items():
        table.append(Suite(code, name, False, kind, key_len, prf))
    cbc12 = {
        0xC013: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 16, "sha1"),
        0xC014: ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 32, "sha1"),
        0xC009: ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 16, "sha1"),
        0xC00A: ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 32, "sha1"),
        0xC027: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 16, "sha256"),
        0xC028: ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", 32, "sha384"),
        0xC023: ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 16, "sha256"),
        0xC024: ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", 32, "sha384"),
        0x002F: ("TLS_RSA_WITH_AES_128_CBC_SHA", 16, "sha1"),
        0x0035: ("TLS_RSA_WITH_AES_256_CBC_SHA", 32, "sha1"),
        0x003C: ("TLS_RSA_WITH_AES_128_CBC_SHA256", 16, "sha256"),
        0x003D: ("TLS_RSA_WITH_AES_256_CBC_SHA256", 32, "sha256"),
        0x0033: ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA", 16, "sha1"),
        0x0039: ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", 32, "sha1"),
        0x0067: ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", 16, "sha256"),
        0x006B: ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", 32, "sha256"),
    }
    mac_len = {"sha1": 20, "sha256": 32, "sha384": 48}
    for code, (name, key_len, mac) in cbc12.items():
        prf = "sha384" if mac == "sha384" else "sha256"  # RFC 5246/5289
        table.append(Suite(code, name, False, "cbc", key_len, prf, mac, mac_len[mac]))
    return {suite.code: suite for suite in table}


SUITES = _suites()

# Names of suites seen but not decrypted (shown in tls_cipher all the same).
OTHER_SUITE_NAMES = {
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x0004: "TLS_RSA_WITH_RC4_128_MD5",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    0xC0AC: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
    0xC09C: "TLS_RSA_WITH_AES_128_CCM",
}


def suite_name(code: int) -> str:
    suite = SUITES.get(code)
    if suite is not None:
        return suite.name
    return OTHER_SUITE_NAMES.get(code, f"0x{code:04X}")


class RecordCipher:
    """Decrypts the records of one direction in order; counts the sequence number."""

    def __init__(
        self,
        suite: Suite,
        key: bytes,
        iv: bytes,
        mac_key: bytes = b"",
        encrypt_then_mac: bool = False,
    ) -> None:
        self.suite = suite
        self.seq = 0
        self._iv = iv
        self._mac_key = mac_key
        self._etm = encrypt_then_mac
        if suite.kind == "gcm":
            self._aead = AESGCM(key)
        elif suite.kind == "chacha":
            self._aead = ChaCha20Poly1305(key)
        else:
            self._aead = None
            self._key = key
        self._iv_int = int.from_bytes(iv, "big") if len(iv) == 12 else 0

    def decrypt(self, content_type: int, version: bytes, payload: bytes, seq=None):
        """(content type, plaintext) of one record; raises DecryptError."""
        seq = self.seq if seq is None else seq
        suite = self.suite
        try:
            if suite.tls13:
                result = self._open13(content_type, version, payload, seq)
            elif suite.kind == "cbc":
                result = (
                    content_type,
                    self._open_cbc(content_type, version, payload, seq),
                )
            else:
                result = (
                    content_type,
                    self._open_aead12(content_type, version, payload, seq),
                )
        except (InvalidTag, ValueError) as error:
            raise DecryptError(str(error) or "authentication failed") from None
        self.seq = seq + 1
        return result

    def _open13(self, content_type, version, payload, seq):
        nonce = (self._iv_int ^ seq).to_bytes(12, "big")
        header = bytes([content_type]) + version + len(payload).to_bytes(2, "big")
        inner = self._aead.decrypt(nonce, payload, header)
        end = len(inner)
        while end and inner[end - 1] == 0:
            end -= 1
        if not end:
            raise DecryptError("TLS 1.3 record without a content type")
        return inner[end - 1], inner[: end - 1]

    def _open_aead12(self, content_type, version, payload, seq):
        seq_bytes = seq.to_bytes(8, "big")
        if self.suite.kind == "gcm":
            if len(payload) < 24:
                raise DecryptError("record shorter than nonce and tag")
            nonce = self._iv + payload[:8]
            body = payload[8:]
        else:
            if len(payload) < 16:
                raise DecryptError("record shorter than its tag")
            nonce = (self._iv_int ^ seq).to_bytes(12, "big")
            body = payload
        aad = (
            seq_bytes
            + bytes([content_type])
            + version
            + (len(body) - 16).to_bytes(2, "big")
        )
        return self._aead.decrypt(nonce, body, aad)

    def _open_cbc(self, content_type, version, payload, seq):
        suite = self.suite
        mac_len = suite.mac_len
        head = seq.to_bytes(8, "big") + bytes([content_type]) + version
        if self._etm:
            if len(payload) < 32 + mac_len or (len(payload) - mac_len) % 16:
                raise DecryptError("encrypt-then-MAC record of impossible length")
            body, tag = payload[:-mac_len], payload[-mac_len:]
            expected = hmac.digest(
                self._mac_key,
                head + len(body).to_bytes(2, "big") + body,
                suite.mac_hash,
            )
            if not hmac.compare_digest(tag, expected):
                raise DecryptError("record MAC does not match")
            plain = self._cbc(body)
            return self._unpad(plain)
        if len(payload) < 32 or len(payload) % 16:
            raise DecryptError("CBC record of impossible length")
        plain = self._unpad(self._cbc(payload))
        if len(plain) < mac_len:
            raise DecryptError("CBC record shorter than its MAC")
        data, tag = plain[:-mac_len], plain[-mac_len:]
        expected = hmac.digest(
            self._mac_key, head + len(data).to_bytes(2, "big") + data, suite.mac_hash
        )
        if not hmac.compare_digest(tag, expected):
            raise DecryptError("record MAC does not match")
        return data

    def _cbc(self, body: bytes) -> bytes:
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(body[:16])).decryptor()
        return decryptor.update(body[16:]) + decryptor.finalize()

    @staticmethod
    def _unpad(plain: bytes) -> bytes:
        if not plain:
            raise DecryptError("empty CBC record")
        pad = plain[-1]
        if pad + 1 > len(plain) or plain[-pad - 1 :] != bytes([pad]) * (pad + 1):
            raise DecryptError("CBC padding is not valid")
        return plain[: -pad - 1]
