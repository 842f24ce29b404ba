"""Key schedules against published vectors; JA4 against tshark; record splits and gaps."""

import hashlib
import json
import pathlib
import random
import shutil
import subprocess

import pytest

from smtpcore.capture import CaptureReader
from smtpcore.packets import PacketDecoder
from smtpcore.reassembly import Data, Reassembler
from smtpcore.smtp.detect import SMTP_PORTS, classify
from smtpcore.tls import keys
from smtpcore.tls.keylog import KeyLog, looks_like_keylog
from smtpcore.tls.layer import Lost, Plaintext, TlsConnection

TLS = pathlib.Path(__file__).resolve().parents[1] / "test_data" / "tls"
MANIFEST = json.loads((TLS / "MANIFEST.json").read_text(encoding="utf-8"))


# RFC 8448 section 3 (simple 1-RTT handshake, TLS_AES_128_GCM_SHA256).
RFC8448_SHARED = "8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d"
RFC8448_HELLO_HASH = "860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8"
RFC8448_FINISHED_HASH = (
    "9608102a0f1ccc6db6250b7b7e417b1a000eaada3daae4777a7686c9ff83df13"
)


def test_tls13_key_schedule_rfc8448():
    early = keys.hkdf_extract("sha256", b"", b"")
    assert (
        early.hex()
        == "33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a"
    )
    empty = hashlib.sha256(b"").digest()
    derived = keys.derive_secret("sha256", early, b"derived", empty)
    assert (
        derived.hex()
        == "6f2615a108c702c5678f54fc9dbab69716c076189c48250cebeac3576c3611ba"
    )
    handshake = keys.hkdf_extract("sha256", derived, bytes.fromhex(RFC8448_SHARED))
    assert (
        handshake.hex()
        == "1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac"
    )
    hello = bytes.fromhex(RFC8448_HELLO_HASH)
    client_hs = keys.derive_secret("sha256", handshake, b"c hs traffic", hello)
    server_hs = keys.derive_secret("sha256", handshake, b"s hs traffic", hello)
    assert (
        client_hs.hex()
        == "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21"
    )
    assert (
        server_hs.hex()
        == "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38"
    )
    key, iv = keys.traffic_keys13("sha256", server_hs, 16)
    assert (key.hex(), iv.hex()) == (
        "3fce516009c21727d0f2e4e86ee403bc",
        "5d313eb2671276ee13000b30",
    )
    assert (
        keys.traffic_keys13("sha256", client_hs, 16)[1].hex()
        == "5bd3c71b836e0b76bb73265f"
    )
    derived = keys.derive_secret("sha256", handshake, b"derived", empty)
    master = keys.hkdf_extract("sha256", derived, b"")
    assert (
        master.hex()
        == "18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919"
    )
    finished = bytes.fromhex(RFC8448_FINISHED_HASH)
    client_app = keys.derive_secret("sha256", master, b"c ap traffic", finished)
    assert client_app.hex() == (
        "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5"
    )


def test_tls12_prf_sha256_vector():
    # The P_SHA256 vector published on the IETF TLS list (msg03416).
    out = keys.prf12(
        "sha256",
        bytes.fromhex("9bbe436ba940f017b17652849a71db35"),
        b"test label",
        bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"),
        100,
    )
    assert out.hex() == (
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
        "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab"
        "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
        "87347b66"
    )


def test_key_update_is_the_traffic_upd_label():
    secret = bytes(range(32))
    assert keys.next_secret13("sha256", secret) == keys.expand_label(
        "sha256", secret, b"traffic upd", b"", 32
    )


def test_keylog_parsing_and_recognition():
    text = (
        b"# TLS secrets log file\n"
        b"CLIENT_RANDOM " + b"ab" * 32 + b" " + b"01" * 48 + b"\n"
        b"SERVER_TRAFFIC_SECRET_0 " + b"cd" * 32 + b" " + b"02" * 32 + b"\r\n"
        b"garbage line\n"
    )
    assert looks_like_keylog(text)
    assert not looks_like_keylog(b"hello world\nCLIENT_RANDOM x y\n")
    warnings = []
    log = KeyLog(warnings.append, max_sessions=1)
    entry = log.add_bytes(text, "t")
    assert log.secrets(bytes.fromhex("ab" * 32)) == {"CLIENT_RANDOM": bytes([1]) * 48}
    assert log.secrets(bytes.fromhex("cd" * 32)) is None  # past max_sessions
    assert (entry["secrets"], entry["bad"], entry["dropped"]) == (1, 1, 1)
    assert len(warnings) == 2


def _streams(name):
    """The reassembled events of the capture's one connection, in order."""
    reader = CaptureReader(open(TLS / name, "rb"), lambda m: None)
    decoder = PacketDecoder(lambda m: None)
    reassembler = Reassembler(
        lambda m: None, classify=classify, server_ports=SMTP_PORTS
    )
    events = []
    for frame in reader:
        segment = decoder.decode(frame)
        if segment is not None:
            events += [e for e in reassembler.feed(segment) if type(e) is Data]
    events += [e for e in reassembler.finish() if type(e) is Data]
    return [(e.direction, bytes(e.data)) for e in events]


def _tls_part(events, implicit):
    """Events from the first TLS byte on (after the 220 reply to STARTTLS)."""
    if implicit:
        return events
    for index, (direction, data) in enumerate(events):
        if direction == 0 and data.startswith(b"\x16\x03"):
            return events[index:]
    raise AssertionError("no ClientHello")


def _plaintext(events, keylog, split=None):
    connection = TlsConnection(keylog)
    out = {0: bytearray(), 1: bytearray()}
    lost = []
    for direction, data in events:
        pieces = [data] if split is None else split(data)
        for piece in pieces:
            for event in connection.data(direction, piece, 0):
                if type(event) is Plaintext:
                    out[event.direction] += event.data
                else:
                    lost.append(event)
    return connection, bytes(out[0]), bytes(out[1]), lost


@pytest.mark.parametrize("name", ["tls13-chacha20", "tls12-ecdhe-aes256-sha384-noetm"])
def test_any_split_of_the_records_gives_the_same_plaintext(name):
    keylog = KeyLog()
    keylog.add_bytes((TLS / f"{name}.keylog").read_bytes(), name)
    events = _tls_part(_streams(f"{name}.pcap"), implicit=False)
    _, client, server, _ = _plaintext(events, keylog)
    assert b"AUTH PLAIN" in client and server.startswith(b"250-")
    rng = random.Random(7)

    def split(data):
        pieces, position = [], 0
        while position < len(data):
            size = rng.choice((1, 2, 3, 5, 100))
            pieces.append(data[position : position + size])
            position += size
        return pieces

    _, client2, server2, lost = _plaintext(events, keylog, split)
    assert (client2, server2, lost) == (client, server, [])


def test_gap_of_one_whole_record_resynchronises_with_the_exact_loss():
    name = "tls12-ecdhe-aes128gcm"
    keylog = KeyLog()
    keylog.add_bytes((TLS / f"{name}.keylog").read_bytes(), name)
    events = _tls_part(_streams(f"{name}.pcap"), implicit=False)
    _, client, server, _ = _plaintext(events, keylog)
    # The client stream as records; drop the client's fourth application record.
    stream = b"".join(d for direction, d in events if direction == 0)
    records, position = [], 0
    while position < len(stream):
        length = int.from_bytes(stream[position + 3 : position + 5], "big")
        records.append((position, 5 + length, stream[position]))
        position += 5 + length
    app = [r for r in records if r[2] == 23]
    start, size, _ = app[3]
    connection = TlsConnection(keylog)
    got, lost, offset = bytearray(), [], 0
    for direction, data in events:
        if direction == 0:
            end = offset + len(data)
            pieces = []
            if end <= start or offset >= start + size:
                pieces = [("data", data)]
            else:
                if offset < start:
                    pieces.append(("data", data[: start - offset]))
                pieces.append(("gap", min(end, start + size) - max(offset, start)))
                if end > start + size:
                    pieces.append(("data", data[start + size - offset :]))
            offset = end
        else:
            pieces = [("data", data)]
        for kind, value in pieces:
            if kind == "gap":
                result = connection.gap(direction, value, 0)
            else:
                result = connection.data(direction, value, 0)
            for event in result:
                if type(event) is Plaintext and event.direction == 0:
                    got += event.data
                elif type(event) is Lost:
                    lost.append(event)
    plain_lost = size - 5 - 8 - 16  # GCM: explicit nonce and tag
    assert [(e.direction, e.length, e.exact) for e in lost] == [(0, plain_lost, True)]
    # Everything but the lost record's plaintext came through, in order.
    assert len(got) == len(client) - plain_lost
    assert client.startswith(bytes(got[:100]))
    assert client.endswith(bytes(got[-100:]))


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", ["tls13-aes128gcm", "tls12-ecdhe-aes128gcm"])
def test_ja4_from_tsharks_view_of_the_client_hello(name):
    """JA4 (FoxIO spec) recomputed from the fields tshark dissects (tshark 4.0 has no JA4)."""
    from smtpcore import api

    (session,) = [
        i for i in api.items(TLS / f"{name}.pcap") if isinstance(i, api.Session)
    ]
    out = subprocess.run(
        ["tshark", "-r", str(TLS / f"{name}.pcap"), "-Y", "tls.handshake.type == 1",
         "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
         "-e", "tls.handshake.ciphersuite", "-e", "tls.handshake.extension.type",
         "-e", "tls.handshake.sig_hash_alg", "-e", "tls.handshake.extensions.supported_version",
         "-e", "tls.handshake.extensions_alpn_str"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    ciphers, extensions, signatures, versions, alpn = out.split("|")
    ciphers = [int(c, 0) for c in ciphers.split(",")]
    extensions = [int(e) for e in extensions.split(",")]
    signatures = [int(s, 0) for s in signatures.split(",")]
    version = max(int(v, 0) for v in versions.split(",")) if versions else 0x0303
    part_a = (
        "t" + {0x0304: "13", 0x0303: "12"}[version] + "d"
        + f"{len(ciphers):02d}{len(extensions):02d}" + alpn[0] + alpn[-1]
    )  # fmt: skip
    part_b = hashlib.sha256(",".join(f"{c:04x}" for c in sorted(ciphers)).encode())
    rest = sorted(e for e in extensions if e not in (0, 16))
    text = (
        ",".join(f"{e:04x}" for e in rest)
        + "_"
        + ",".join(f"{s:04x}" for s in signatures)
    )
    part_c = hashlib.sha256(text.encode())
    assert (
        session.ja4 == f"{part_a}_{part_b.hexdigest()[:12]}_{part_c.hexdigest()[:12]}"
    )


def test_a_record_that_does_not_authenticate_ends_decryption_with_losses():
    name = "tls12-ecdhe-aes128gcm"
    keylog = KeyLog()
    keylog.add_bytes((TLS / f"{name}.keylog").read_bytes(), name)
    events = _tls_part(_streams(f"{name}.pcap"), implicit=False)
    _, client, _, _ = _plaintext(events, keylog)
    # Flip one byte inside the client's big record (the message content).
    tampered, done = [], False
    for direction, data in events:
        if direction == 0 and len(data) == 1448 and not done:
            data = data[:700] + bytes([data[700] ^ 1]) + data[701:]
            done = True
        tampered.append((direction, data))
    connection, client2, _, lost = _plaintext(tampered, keylog)
    assert done and client.startswith(client2) and len(client2) < len(client)
    # The records after it: missing (with their plaintext size), never plaintext.
    # The tampered record (2034 bytes: 2010 of plaintext) and the QUIT after it.
    assert [(e.direction, e.length, e.exact) for e in lost] == [
        (0, 2010, True),
        (0, 6, True),
    ]
    assert len(client2) + 2010 + 6 == len(client)
    assert any("does not authenticate" in w for w in connection.info.warnings)


def test_tls13_with_only_the_application_secrets():
    """Some tools log only *_TRAFFIC_SECRET_0: the content still decrypts."""
    name = "tls13-aes256gcm"
    lines = [
        line
        for line in (TLS / f"{name}.keylog").read_bytes().splitlines()
        if line.startswith((b"CLIENT_TRAFFIC_SECRET_0", b"SERVER_TRAFFIC_SECRET_0"))
    ]
    keylog = KeyLog()
    keylog.add_bytes(b"\n".join(lines), "application secrets only")
    events = _tls_part(_streams(f"{name}.pcap"), implicit=False)
    full = KeyLog()
    full.add_bytes((TLS / f"{name}.keylog").read_bytes(), name)
    _, client, server, _ = _plaintext(events, full)
    connection, client2, server2, lost = _plaintext(events, keylog)
    assert (client2, server2, lost) == (client, server, [])
    assert connection.info.decrypted and connection.info.certificate is None


def test_rsa_key_exchange_from_the_rsa_line_alone():
    """Older NSS logs only RSA <encrypted pre-master prefix> <pre-master>."""
    name = "tls12-rsa-aes128-sha256-noetm-noems"
    text = (TLS / f"{name}.keylog").read_bytes()
    keylog = KeyLog()
    entry = keylog.add_bytes(
        b"\n".join(line for line in text.splitlines() if line.startswith(b"RSA ")),
        "rsa",
    )
    assert (entry["rsa"], entry["secrets"]) == (1, 0)
    events = _tls_part(_streams(f"{name}.pcap"), implicit=False)
    full = KeyLog()
    full.add_bytes(text, name)
    _, client, server, _ = _plaintext(events, full)
    connection, client2, server2, lost = _plaintext(events, keylog)
    assert connection.info.decrypted and connection.info.undecrypted_reason is None
    assert (client2, server2, lost) == (client, server, [])


def test_rsa_key_exchange_with_extended_master_secret_from_the_rsa_line():
    """The session hash of RFC 7627 over the handshake up to ClientKeyExchange."""
    name = "tls12-rsa-aes256gcm-ems"
    text = (TLS / f"{name}.keylog").read_bytes()
    keylog = KeyLog()
    keylog.add_bytes(
        b"\n".join(line for line in text.splitlines() if line.startswith(b"RSA ")),
        "rsa",
    )
    events = _tls_part(_streams(f"{name}.pcap"), implicit=False)
    full = KeyLog()
    full.add_bytes(text, name)
    _, client, server, _ = _plaintext(events, full)
    connection, client2, server2, lost = _plaintext(events, keylog)
    assert connection.info.extended_master_secret
    assert connection.info.decrypted and b"AUTH PLAIN" in client
    assert (client2, server2, lost) == (client, server, [])


def test_an_internal_error_of_the_tls_layer_ends_decryption_not_the_run(monkeypatch):
    from smtpcore import api

    def broken(self, *args):
        raise RuntimeError("bug")

    monkeypatch.setattr(TlsConnection, "_frame", broken)
    items = list(api.items(TLS / "tls13-aes128gcm.pcap"))
    (session,) = [i for i in items if isinstance(i, api.Session)]
    assert not session.decrypted
    assert session.warnings == [
        f"session {session.session_id} (TLS): internal error RuntimeError('bug'); "
        "the rest of the session is not decrypted"
    ]


def test_key_log_lines_with_odd_hex_are_not_understood_not_fatal():
    log = KeyLog()
    entry = log.add_bytes(
        b"CLIENT_RANDOM " + b"ab" * 32 + b" " + b"0" * 95 + b"\n", "x"
    )
    assert (entry["secrets"], entry["bad"]) == (0, 1)


def test_damaged_tls_streams_never_raise_and_never_invent_plaintext():
    """Lab streams with bytes flipped, cut or dropped at random: events, not errors."""
    name = "tls12-ecdhe-aes256-sha384-noetm"
    keylog = KeyLog()
    keylog.add_bytes((TLS / f"{name}.keylog").read_bytes(), name)
    events = _tls_part(_streams(f"{name}.pcap"), implicit=False)
    _, client, server, _ = _plaintext(events, keylog)
    rng = random.Random(12)
    for _ in range(200):
        connection = TlsConnection(keylog)
        got = {0: bytearray(), 1: bytearray()}
        for direction, data in events:
            choice = rng.random()
            if choice < 0.05:
                connection.gap(direction, len(data), 0)
                continue
            if choice < 0.10:
                position = rng.randrange(len(data))
                data = (
                    data[:position]
                    + bytes([data[position] ^ 0xFF])
                    + data[position + 1 :]
                )
            elif choice < 0.12:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
            for event in connection.data(direction, data, 0):
                if type(event) is Plaintext:
                    got[event.direction] += event.data
        connection.close(0)
        # Whatever came out is the real plaintext, in pieces, in order.
        for direction, full in ((0, client), (1, server)):
            position = 0
            for line in bytes(got[direction]).splitlines(keepends=True):
                found = full.find(line, position)
                assert found >= 0, line
                position = found + len(line)
