#!/usr/bin/env python3
"""Benchmark: TLS decryption speed of smtpcore against tshark, same capture, same key log.

Usage: PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_tls.py [--size-mb 50]
       [--suite tls13-aes128gcm|tls13-chacha20|tls12-gcm|tls12-cbc] [--keep DIR]

Real OpenSSL (Python's ssl, client and server joined by memory BIOs, the client
writing an NSS key log) carries an implicit-TLS (port 465) SMTP session with one
message of ``--size-mb``; tests/pcapgen.py frames it as a TCP capture. Then, in
the same run: the TLS layer alone (records in, plaintext out), `smtpcore extract`
(everything, one process) and `tshark -z follow,tls,raw` with the same key log.
Prints MB/s of TLS records; the .eml is checked against the message's SHA-256.
Speed is measured here, never asserted in the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import pathlib
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import pcapgen  # noqa: E402

from smtpcore.tls.keylog import KeyLog  # noqa: E402
from smtpcore.tls.layer import Plaintext, TlsConnection  # noqa: E402

SUITES = {
    "tls13-aes128gcm": ("TLSv1.3", "TLS_AES_128_GCM_SHA256"),
    "tls13-aes256gcm": ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
    "tls13-chacha20": ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"),
    "tls12-gcm": ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
    "tls12-cbc": ("TLSv1.2", "ECDHE-RSA-AES256-SHA384"),
}


def certificate(work: pathlib.Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.example.org")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = work / "server.crt", work / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def session(work: pathlib.Path, suite: str, size_mb: int):
    """(exchanges, message bytes, key log path) of one real TLS session."""
    version, cipher = SUITES[suite]
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*certificate(work))
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    keylog = work / "bench.keylog"
    client_ctx.keylog_filename = str(keylog)
    if version == "TLSv1.2":
        client_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        client_ctx.set_ciphers(cipher)
    else:
        client_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        server_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    bios = [ssl.MemoryBIO() for _ in range(4)]  # c->s in, c out, s in, s out
    client = client_ctx.wrap_bio(bios[0], bios[1], server_hostname="bench.example.org")
    server = server_ctx.wrap_bio(bios[2], bios[3], server_side=True)
    exchanges: list[tuple[int, bytes]] = []

    def pump():
        for direction, source, target in ((0, bios[1], bios[2]), (1, bios[3], bios[0])):
            data = source.read()
            if data:
                exchanges.append((direction, data))
                target.write(data)

    for _ in range(20):
        for endpoint in (client, server):
            try:
                endpoint.do_handshake()
            except ssl.SSLWantReadError:
                pass
        pump()
    line = b"line of a large benchmark message, long enough to fill records....\r\n"
    body = line * (size_mb * 1024 * 1024 // len(line))
    message = b"Subject: benchmark\r\nFrom: a@example.org\r\n\r\n" + body

    def say(endpoint, data, chunk=1 << 16):
        for position in range(0, len(data), chunk):
            endpoint.write(data[position : position + chunk])
            pump()
        peer = server if endpoint is client else client
        try:
            while peer.read(1 << 20):
                pass
        except ssl.SSLWantReadError:
            pass

    say(server, b"220 bench.example.org ESMTP\r\n")
    say(client, b"EHLO client.example.org\r\n")
    say(server, b"250-bench.example.org\r\n250 AUTH PLAIN\r\n")
    say(client, b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")
    say(server, b"235 ok\r\n")
    say(client, b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
    say(server, b"250 ok\r\n250 ok\r\n354 go\r\n")
    say(client, message + b".\r\n")
    say(server, b"250 queued\r\n")
    say(client, b"QUIT\r\n")
    say(server, b"221 bye\r\n")
    return exchanges, message, keylog, client.version(), client.cipher()[0]


def timed(command):
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True)
    return time.perf_counter() - start, run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--suite", choices=sorted(SUITES), default="tls13-aes128gcm")
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args()
    work = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="tlsbench-"))
    work.mkdir(parents=True, exist_ok=True)
    version, cipher = SUITES[args.suite]
    if version == "TLSv1.3" and os.environ.get("OPENSSL_CONF") != str(work / "ssl.cnf"):
        # Python cannot choose TLS 1.3 suites; OpenSSL's configuration file can.
        (work / "ssl.cnf").write_text(
            "openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n"
            "[ssl_sect]\nsystem_default = system_default_sect\n"
            f"[system_default_sect]\nCiphersuites = {cipher}\n"
        )
        os.environ["OPENSSL_CONF"] = str(work / "ssl.cnf")
        if not args.keep:
            os.environ["BENCH_TLS_REMOVE"] = str(work)
        argv = [sys.executable, *sys.argv, "--keep", str(work)]
        os.execv(sys.executable, argv if not args.keep else [sys.executable, *sys.argv])
    exchanges, message, keylog, version, cipher = session(
        work, args.suite, args.size_mb
    )
    tls_bytes = sum(len(data) for _, data in exchanges)
    capture = work / "evidence" / "bench-tls.pcap"
    capture.parent.mkdir(exist_ok=True)
    frames = pcapgen.tcp_conversation(
        client=("10.0.0.1", 40465), server=("10.0.0.2", 465), exchanges=exchanges
    )
    pcapgen.write_pcap(str(capture), frames)
    del frames
    assert cipher == SUITES[args.suite][1] or version == "TLSv1.2", cipher
    print(f"capture: {capture} ({capture.stat().st_size / 1e6:.1f} MB), {version} "
          f"{cipher}, {tls_bytes / 1e6:.1f} MB of TLS records")  # fmt: skip

    keys = KeyLog()
    keys.add_bytes(keylog.read_bytes(), "bench")
    connection = TlsConnection(keys)
    plain = 0
    start = time.perf_counter()
    for direction, data in exchanges:
        for position in range(0, len(data), 1448):
            for event in connection.data(
                direction, data[position : position + 1448], 0
            ):
                if type(event) is Plaintext:
                    plain += len(event.data)
    layer_seconds = time.perf_counter() - start
    assert connection.info.decrypted and plain > len(message), connection.info
    results = [("smtpcore TLS layer alone", layer_seconds)]

    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    command = pathlib.Path(sys.executable).with_name("smtpcore")
    seconds, run = timed(
        [str(command), "extract", str(capture), "--keylog", str(keylog), "-o", str(out),
         "-q", "--jobs", "1"]
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (eml,) = (out / "eml").iterdir()
    assert hashlib.sha256(eml.read_bytes()).digest() == hashlib.sha256(message).digest()
    results.append(("smtpcore extract (whole pipeline, .eml checked)", seconds))
    if shutil.which("tshark"):
        seconds, run = timed(
            ["tshark", "-r", str(capture), "-o", f"tls.keylog_file:{keylog}",
             "-d", "tcp.port==465,tls", "-q", "-z", "follow,tls,raw,0"]
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert len(run.stdout) > 2 * len(message)  # hex of the decrypted stream
        results.append(("tshark -z follow,tls,raw (decrypts every record)", seconds))
    for name, seconds in results:
        print(f"{name:52s} {seconds:7.2f} s  {tls_bytes / 1e6 / seconds:7.1f} MB/s")
    if not args.keep or os.environ.get("BENCH_TLS_REMOVE") == str(work):
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
