"""Check the mailbox TLS lab captures with tshark; write captures/mailbox-tls/MANIFEST.json.

Independent of smtpcore: tshark decrypts each capture with its key log
(``-o tls.keylog_file:``), and in its ``follow,tls,raw`` plaintext of each session
every message the client recorded must be byte-exact (dot-stuffed for POP3, the
literal for IMAP; in the server's bytes when retrieved, the client's when
appended), and so must every password the client sent. Without the key log
tshark must decrypt nothing and the passwords must not be in the TCP bytes.
tshark's view of the handshake (version, suite, client random) is kept beside
the client's ground truth. Any failed check aborts, so a bad capture is never
described.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import re
import subprocess
import sys

# tshark knows 993/995 as TLS and 110/143 STLS/STARTTLS; POP3 on 465 is TLS too.
DECODE = ["-d", "tcp.port==465,tls"]
VERSIONS = {"0x0304": "TLSv1.3", "0x0303": "TLSv1.2"}


def tshark(*args: str) -> str:
    return subprocess.run(
        ["tshark", *DECODE, *args], check=True, capture_output=True
    ).stdout.decode("utf-8", "replace")


def stream_ports(capture: pathlib.Path) -> dict[int, int]:
    """client port -> tcp.stream index."""
    out = tshark(
        "-r", str(capture), "-Y", "tcp.flags.syn==1 && tcp.flags.ack==0",
        "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport",
    )  # fmt: skip
    return {
        int(port): int(index) for index, port in (l.split() for l in out.splitlines())
    }


def follow(capture, stream: int, server_port: int, keylog=None, kind="tls"):
    """(client bytes, server bytes) of one TCP stream, decrypted when kind is tls."""
    options = ["-o", f"tls.keylog_file:{keylog}"] if keylog else []
    out = tshark(
        "-r", str(capture), *options, "-q", "-z", f"follow,{kind},raw,{stream}"
    )
    first, second = bytearray(), bytearray()
    node0_is_server = False
    for line in out.splitlines():
        if line.startswith("Node 0: "):
            node0_is_server = line.rsplit(":", 1)[1].strip() == str(server_port)
        if re.fullmatch(r"\t?[0-9a-f]+", line):
            (second if line.startswith("\t") else first).extend(
                bytes.fromhex(line.strip())
            )
    client, server = (second, first) if node0_is_server else (first, second)
    return bytes(client), bytes(server)


def stuffed(data: bytes) -> bytes:
    lines = data.split(b"\r\n")
    return b"\r\n".join(
        b"." + line if line.startswith(b".") else line for line in lines
    )


def handshakes(capture, keylog) -> dict[int, dict]:
    """tshark's handshake view per TCP stream."""
    fields = ["tcp.stream", "tls.handshake.type", "tls.handshake.random",
              "tls.handshake.ciphersuite", "tls.handshake.extensions.supported_version",
              "tls.handshake.extensions_server_name", "tls.handshake.ja3"]  # fmt: skip
    args = ["-T", "fields", "-E", "separator=|", "-E", "occurrence=a"]
    for field in fields:
        args += ["-e", field]
    out = tshark(
        "-r", str(capture), "-o", f"tls.keylog_file:{keylog}",
        "-Y", "tls.handshake.type == 1 or tls.handshake.type == 2", *args,
    )  # fmt: skip
    view: dict[int, dict] = {}
    for line in out.splitlines():
        stream, kinds, random, suite, versions, sni, ja3 = line.split("|")
        entry = view.setdefault(int(stream), {})
        kinds = kinds.split(",")
        if "1" in kinds:
            entry.update(
                client_random=random.split(",")[0], ja3=ja3, server_name=sni or None
            )
        if "2" in kinds:
            entry["cipher_suite"] = (
                int(suite, 16) if suite.startswith("0x") else int(suite)
            )
            chosen = versions.split(",")[-1] if versions else ""
            entry["version"] = VERSIONS.get(chosen, "TLSv1.2" if not chosen else chosen)
    return view


def check(directory: pathlib.Path, name: str, truth: dict) -> dict:
    capture = directory / f"{name}.pcap"
    keylog = directory / f"{name}.keylog"
    streams = stream_ports(capture)
    view = handshakes(capture, keylog)
    checks = []
    for session in truth["sessions"]:
        stream = streams[session["client_port"]]
        port = session["server_port"]
        client, server = follow(capture, stream, port, keylog)
        if not client or not server:
            sys.exit(f"{name}: tshark decrypted nothing of stream {stream}")
        for message in session["messages"]:
            data = bytes.fromhex(message["hex"])
            needle = stuffed(data) if session["protocol"] == "pop3" else data
            haystack = client if message["kind"] == "appended" else server
            if needle not in haystack:
                sys.exit(
                    f"{name}: {message['command']} not byte-exact in tshark's plaintext"
                )
        for login in session["logins"]:
            secret = login.get("password")
            quoted = (
                '"%s"' % secret.replace("\\", "\\\\").replace('"', '\\"')
                if secret
                else None
            )
            if secret is not None and not (
                secret.encode() in client or quoted.encode() in client
            ):
                sys.exit(
                    f"{name}: password of {login['username']} not in the plaintext"
                )
        plain_client, plain_server = follow(capture, stream, port, None)
        raw_client, raw_server = follow(capture, stream, port, None, kind="tcp")
        if plain_client or plain_server:
            sys.exit(f"{name}: tshark decrypted stream {stream} without the key log")
        for login in session["logins"]:
            secret = login.get("password") or login.get("secret")
            if secret and secret.encode() in raw_client:
                sys.exit(f"{name}: a password in clear in stream {stream}")
        session["tshark"] = view.get(stream, {})
        if (
            session.get("tls_version")
            and session["tshark"].get("version") != session["tls_version"]
        ):
            sys.exit(
                f"{name}: tshark says {session['tshark']} for {session['tls_version']}"
            )
        checks.append(
            f"client port {session['client_port']}: {len(session['messages'])} message(s) "
            f"and {len(session['logins'])} login(s) byte-exact in tshark's decrypted "
            "stream; nothing decrypted and no password in the TCP bytes without the key log"
        )
    return {
        "file": capture.name,
        "keylog": keylog.name,
        "file_size": capture.stat().st_size,
        "file_sha256": hashlib.sha256(capture.read_bytes()).hexdigest(),
        "keylog_sha256": hashlib.sha256(keylog.read_bytes()).hexdigest(),
        "checks": checks,
        "sessions": truth["sessions"],
    }


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    work, directory = pathlib.Path(args.work), pathlib.Path(args.dir)
    captures = {}
    for truth_file in sorted(work.glob("*.truth.json")):
        name = truth_file.name[: -len(".truth.json")]
        captures[name] = check(directory, name, json.loads(truth_file.read_text()))
    manifest = {
        "about": "Ground truth for the POP3/IMAP TLS lab captures, recorded by the "
        "clients (test_data/lab/mailbox_tls_clients.py): message bytes as received "
        "(POP3: dot-stuffing undone, each line with its CRLF; IMAP: the literal) or "
        "appended, each login with its outcome, the TLS version the client "
        "negotiated. Made by test_data/lab/make_mailbox_tls_captures.sh; each capture "
        "decrypts with its own NAME.keylog alone.",
        "software": {
            "dovecot": run("dovecot", "--version").split()[0],
            "openssl": run("openssl", "version").split()[1],
            "python": sys.version.split()[0],
            "curl": run("curl", "--version").split()[1],
            "tshark": run("tshark", "--version").split()[2],
        },
        "server_certificate": (work / "server-cert.txt").read_text().splitlines(),
        "captures": captures,
    }
    (directory / "MANIFEST.json").write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"
    )
    print(f"checked {len(captures)} captures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
