"""Checks each mailbox-lab capture with tshark and writes MANIFEST.json.

Independent of smtpcore: tshark's pop/imap dissectors must see the commands of
every login, and the bytes every client recorded (as received or appended) must
be in tshark's `follow,tcp,raw` stream of that session — dot-stuffed for POP3,
as a literal for IMAP. Any failure aborts, so no unchecked capture is described.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import re
import subprocess


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def streams(path: pathlib.Path) -> dict[int, tuple[bytes, bytes, int]]:
    """client port -> (client bytes, server bytes, server port), per TCP stream."""
    out = {}
    fields = run(
        "tshark",
        "-r",
        str(path),
        "-T",
        "fields",
        "-e",
        "tcp.stream",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.dstport",
        "-Y",
        "tcp.flags.syn==1 && tcp.flags.ack==0",
    )
    for line in fields.splitlines():
        index, client_port, server_port = (int(x) for x in line.split("\t"))
        text = run("tshark", "-r", str(path), "-q", "-z", f"follow,tcp,raw,{index}")
        client, server = bytearray(), bytearray()
        for row in text.splitlines():
            if re.fullmatch(r"\t?[0-9a-f]+", row):
                (server if row.startswith("\t") else client).extend(
                    bytes.fromhex(row.strip())
                )
        out[client_port] = (bytes(client), bytes(server), server_port)
    return out


def stuffed(data: bytes) -> bytes:
    lines = data.split(b"\r\n")
    return b"\r\n".join(b"." + l if l.startswith(b".") else l for l in lines)


def check(path: pathlib.Path, truth: dict) -> list[str]:
    checks = []
    by_port = streams(path)
    commands = run(
        "tshark",
        "-r",
        str(path),
        "-d",
        "tcp.port==2110,pop",
        "-d",
        "tcp.port==1143,imap",
        "-T",
        "fields",
        "-e",
        "pop.request.command",
        "-e",
        "imap.request.command",
    ).split()
    commands = {c.upper() for c in commands}
    for session in truth["sessions"]:
        client, server, port = by_port[session["client_port"]]
        assert port == session["server_port"], (path, session["client_port"])
        encrypted = session.get("tls", False)
        if not encrypted:
            for login in session["logins"]:
                mechanism = login.get("mechanism")
                if mechanism is None:
                    continue
                if session["protocol"] == "pop3":
                    verb = {"USER": "PASS", "APOP": "APOP"}.get(mechanism, "AUTH")
                else:  # imap scenarios use the LOGIN command, never SASL LOGIN
                    verb = "LOGIN" if mechanism == "LOGIN" else "AUTHENTICATE"
                assert verb in commands, (path, verb, sorted(commands))
        for message in session["messages"]:
            if session["protocol"] == "pop3":
                data = bytes.fromhex(message["hex"]) if "hex" in message else None
            needle_stream = client if message["kind"] == "appended" else server
            data = message.pop("_bytes")
            if message.get("joined"):
                # The client joined the chunks above: each was checked on its own.
                chunks = b"".join(
                    bytes.fromhex(m["_hex"])
                    for m in session["messages"]
                    if m["kind"] == "partial"
                )
                assert chunks == data, (path, "joined")
                continue
            message["_hex"] = data.hex()
            needle = stuffed(data) if session["protocol"] == "pop3" else data
            assert needle in needle_stream, (path, message["command"])
        if session["messages"]:
            checks.append(
                f"client port {session['client_port']}: {len(session['messages'])} "
                "message(s) found byte-exact in tshark's follow stream"
            )
    checks.insert(
        0,
        "login commands seen by tshark's "
        + ("pop" if "pop" in path.name else "imap")
        + " dissector",
    )
    return checks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    work, out = pathlib.Path(args.work), pathlib.Path(args.out)
    manifest = {
        "about": "Ground truth for the POP3/IMAP lab captures, recorded by the clients "
        "(test_data/lab/mailbox_clients.py): the message bytes as the client received "
        "them (POP3: dot-stuffing undone, with the CRLF of each line; IMAP: the "
        "literal) or appended, and each login with its outcome. Made by "
        "test_data/lab/make_mailbox_captures.sh.",
        "software": {
            "dovecot": run("dovecot", "--version").split()[0],
            "curl": run("curl", "--version").split()[1],
            "tshark": run("tshark", "--version").split()[2],
        },
        "captures": [],
    }
    for row in (work / "captures.tsv").read_text().splitlines():
        file, scenario = row.split("\t")
        path = out / file
        truth = json.loads((work / (path.stem + ".truth.json")).read_text())
        for session in truth["sessions"]:
            for message in session["messages"]:
                message["_bytes"] = bytes.fromhex(message.pop("hex"))
        entry = {
            "file": file,
            "scenario": scenario,
            "file_size": path.stat().st_size,
            "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "capinfos_packets": int(
                re.search(
                    r"Number of packets:\s+(\d+)", run("capinfos", str(path))
                ).group(1)
            ),
        }
        entry["checks"] = check(path, truth)
        for session in truth["sessions"]:
            for message in session["messages"]:
                message.pop("_hex", None)
        entry["sessions"] = truth["sessions"]
        manifest["captures"].append(entry)
    (out / "MANIFEST.json").write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"
    )


if __name__ == "__main__":
    main()
