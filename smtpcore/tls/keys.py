"""Key schedules: the TLS 1.2 PRF and key block, the TLS 1.3 HKDF labels.

A key log gives the TLS 1.2 master secret (already extended, RFC 7627, when EMS
was negotiated) and the TLS 1.3 traffic secrets, so what remains here is the
expansion of those into record keys, and the TLS 1.3 key update. The extract
and derive steps of RFC 8446 section 7.1 are here too, for tests against the
RFC 8448 traces.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384}


def prf12(hash_name: str, secret: bytes, label: bytes, seed: bytes, size: int) -> bytes:
    """TLS 1.2 PRF (RFC 5246 section 5): P_hash(secret, label + seed)."""
    seed = label + seed
    out = bytearray()
    a = seed
    while len(out) < size:
        a = hmac.digest(secret, a, hash_name)
        out += hmac.digest(secret, a + seed, hash_name)
    return bytes(out[:size])


def key_block12(
    hash_name: str,
    master: bytes,
    client_random: bytes,
    server_random: bytes,
    mac_len: int,
    key_len: int,
    iv_len: int,
) -> tuple[tuple[bytes, bytes, bytes], tuple[bytes, bytes, bytes]]:
    """((client MAC key, key, IV), (server ...)) from the master secret."""
    size = 2 * (mac_len + key_len + iv_len)
    block = prf12(
        hash_name, master, b"key expansion", server_random + client_random, size
    )
    parts = []
    position = 0
    for length in (mac_len, mac_len, key_len, key_len, iv_len, iv_len):
        parts.append(block[position : position + length])
        position += length
    client = (parts[0], parts[2], parts[4])
    server = (parts[1], parts[3], parts[5])
    return client, server


def expand_label(
    hash_name: str, secret: bytes, label: bytes, context: bytes, length: int
) -> bytes:
    """HKDF-Expand-Label (RFC 8446 section 7.1)."""
    full = b"tls13 " + label
    info = (
        length.to_bytes(2, "big")
        + bytes([len(full)])
        + full
        + bytes([len(context)])
        + context
    )
    return HKDFExpand(_HASHES[hash_name](), length, info).derive(secret)


def hkdf_extract(hash_name: str, salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869): HMAC(salt, IKM)."""
    size = _HASHES[hash_name].digest_size
    return hmac.digest(salt or bytes(size), ikm or bytes(size), hash_name)


def derive_secret(hash_name: str, secret: bytes, label: bytes, transcript_hash: bytes):
    """Derive-Secret with the transcript already hashed."""
    size = _HASHES[hash_name].digest_size
    return expand_label(hash_name, secret, label, transcript_hash, size)


def traffic_keys13(hash_name: str, secret: bytes, key_len: int) -> tuple[bytes, bytes]:
    """(key, IV) of a TLS 1.3 traffic secret."""
    return (
        expand_label(hash_name, secret, b"key", b"", key_len),
        expand_label(hash_name, secret, b"iv", b"", 12),
    )


def next_secret13(hash_name: str, secret: bytes) -> bytes:
    """application_traffic_secret_N+1 after a KeyUpdate."""
    size = _HASHES[hash_name].digest_size
    return expand_label(hash_name, secret, b"traffic upd", b"", size)
