"""Check the TLS lab captures with tshark and write test_data/tls/MANIFEST.json.

Independent of the project's code: tshark decrypts each capture with its key log
(``-o tls.keylog_file:``), and the client's plaintext in ``follow,tls,raw`` must
hold every message the client sent, byte-exact after dot-unstuffing, and the
AUTH line. tshark's own view of the handshake (version, suite, SNI, JA3) is kept
beside the client's ground truth. The derived captures are checked for what they
must (not) allow: the DSB pcapng decrypts without a key log option, the capture
cut after the handshake and the key log of other sessions decrypt nothing.
Any failed check aborts, so a bad capture is never committed.
"""

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

DATA_CONTENT = re.compile(rb"(?im)^data\r\n(.*?\r\n)\.\r\n", re.S)


def tshark(*args):
    return subprocess.run(
        ["tshark", "-d", "tcp.port==465,tls", *args], check=True, capture_output=True
    ).stdout.decode("utf-8", "replace")


def follow_tls(capture, keylog=None, stream=0):
    """(client bytes, server bytes) tshark decrypts in one TCP stream."""
    options = ["-o", f"tls.keylog_file:{keylog}"] if keylog else []
    out = tshark("-r", str(capture), *options, "-q", "-z", f"follow,tls,raw,{stream}")
    client, server = bytearray(), bytearray()
    first_is_server = False  # node 0 is whichever side sent decrypted data first
    for line in out.splitlines():
        if line.startswith("Node 0: "):
            first_is_server = line.rsplit(":", 1)[1] in ("465", "587")
        if not line.strip() or ":" in line or line.startswith("="):
            continue
        if line.startswith("\t"):
            server += bytes.fromhex(line.strip())
        else:
            client += bytes.fromhex(line.strip())
    if first_is_server:
        client, server = server, client
    return bytes(client), bytes(server)


def unstuff(content):
    return re.sub(rb"(\A|\r\n)\.", rb"\1", content)


def handshake_fields(capture, keylog):
    fields = [
        "tls.handshake.type",
        "tls.handshake.extensions_server_name",
        "tls.handshake.ja3",
        "tls.handshake.ja3_full",
        "tls.handshake.ciphersuite",
        "tls.handshake.extensions.supported_version",
        "tls.handshake.random",
    ]
    args = ["-T", "fields", "-E", "separator=|", "-E", "occurrence=a"]
    for field in fields:
        args += ["-e", field]
    out = tshark(
        "-r", str(capture), "-o", f"tls.keylog_file:{keylog}",
        "-Y", "tls.handshake.type == 1 or tls.handshake.type == 2", *args,
    )  # fmt: skip
    view = {}
    for line in out.splitlines():
        kind, sni, ja3, ja3_full, suite, versions, random = line.split("|")
        if "1" in kind.split(","):
            view.update(server_name=sni, ja3=ja3, ja3_full=ja3_full, client_random=random.split(",")[0])
        if "2" in kind.split(","):
            view.update(cipher_suite=int(suite, 16) if suite.startswith("0x") else int(suite))
            view["server_supported_version"] = versions or None
    return view


def check(directory, name, truth):
    capture = directory / f"{name}.pcap"
    keylog = directory / f"{name}.keylog"
    session = truth["sessions"][0]
    client, server = follow_tls(capture, keylog)
    contents = [unstuff(m) for m in DATA_CONTENT.findall(client)]
    wanted = [m["sha256"] for m in session["messages"]]
    found = [hashlib.sha256(c).hexdigest() for c in contents]
    if found != wanted:
        sys.exit(f"{name}: tshark's decrypted messages {found} != client's {wanted}")
    if b"AUTH PLAIN " not in client or not server.rstrip().endswith(b"Bye"):
        if b"221" not in server:
            sys.exit(f"{name}: AUTH or the 221 reply missing in tshark's plaintext")
    view = handshake_fields(capture, keylog)
    if view["client_random"] != session["client_random"]:
        sys.exit(f"{name}: client random {view['client_random']} not the key log's")
    entry = {
        "file": capture.name,
        "keylog": keylog.name,
        "file_size": capture.stat().st_size,
        "file_sha256": hashlib.sha256(capture.read_bytes()).hexdigest(),
        "keylog_sha256": hashlib.sha256(keylog.read_bytes()).hexdigest(),
        "tshark": view,
        "checks": [
            f"{len(wanted)} message(s) in tshark's decrypted stream match the client's hashes",
            "AUTH and the 221 reply in tshark's decrypted stream",
        ],
        "sessions": truth["sessions"],
    }
    return entry


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--postfix", required=True)
    parser.add_argument("--openssl", required=True)
    parser.add_argument("--python", required=True)
    args = parser.parse_args(argv)
    directory, work = Path(args.dir), Path(args.work)
    captures = {}
    for truth_file in sorted(work.glob("*.truth.json")):
        name = truth_file.name[: -len(".truth.json")]
        captures[name] = check(directory, name, json.loads(truth_file.read_text()))
    # Derived files.
    client, _ = follow_tls(directory / "tls13-chacha20-dsb.pcapng")
    wanted = captures["tls13-chacha20"]["sessions"][0]["messages"][0]["sha256"]
    found = [hashlib.sha256(unstuff(m)).hexdigest() for m in DATA_CONTENT.findall(client)]
    if found != [wanted]:
        sys.exit("tls13-chacha20-dsb.pcapng: tshark does not decrypt it from its DSB")
    client, server = follow_tls(directory / "after-handshake.pcap", directory / "all.keylog")
    if client or server:
        sys.exit("after-handshake.pcap: tshark decrypted something without a handshake")
    client, server = follow_tls(
        directory / "tls13-aes128gcm.pcap", directory / "other-keys.keylog"
    )
    if client or server:
        sys.exit("other-keys.keylog decrypts tls13-aes128gcm.pcap")
    derived = {}
    for name in ("after-handshake.pcap", "tls13-chacha20-dsb.pcapng", "all.keylog",
                 "other-keys.keylog"):  # fmt: skip
        data = (directory / name).read_bytes()
        derived[name] = {"file_size": len(data), "file_sha256": hashlib.sha256(data).hexdigest()}
    manifest = {
        "generator": "test_data/lab/make_tls_captures.sh",
        "versions": {"postfix": args.postfix, "openssl": args.openssl, "python": args.python},
        "server_certificate": (work / "server-cert.txt").read_text().splitlines(),
        "captures": captures,
        "derived": derived,
        "derived_checks": [
            "tls13-chacha20-dsb.pcapng: tshark decrypts the message from the DSB alone",
            "after-handshake.pcap (tls12-ecdhe-aes128gcm.pcap from the frame after the "
            "last Finished): tshark decrypts nothing with all.keylog",
            "other-keys.keylog (all.keylog less tls13-aes128gcm's keys): tshark "
            "decrypts nothing of tls13-aes128gcm.pcap",
        ],
    }
    (directory / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"checked {len(captures)} captures and the derived files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
