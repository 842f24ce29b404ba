"""Check the lab captures and write MANIFEST.json from the clients' ground truth.

Checks, independent of the project's parser: capinfos reads each file; the file
header gives format, link type and time-stamp precision; the TCP session is
complete (the QUIT reply is seen by tshark's SMTP dissector, or for STARTTLS
both FINs); and the message bytes in tshark's follow stream (client side, DATA
unstuffed or BDAT chunks joined) hash to exactly what the client says it sent.
Any failed check aborts, so a bad capture is never committed.
"""

import argparse
import hashlib
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

LINKTYPES = {1: "EN10MB", 113: "LINUX_SLL", 276: "LINUX_SLL2"}

SERVERS = {"postfix": "Postfix {postfix} + Cyrus SASL {cyrus_sasl} (sasldb)"}

DESCRIPTIONS = {
    "postfix-auth-plain.pcap": (
        "swaks",
        "AUTH PLAIN with the initial response on the AUTH line, one message "
        "with lines starting with '.' (dot-stuffed on the wire).",
    ),
    "postfix-auth-plain-no-initial-response.pcap": (
        "smtplib",
        "AUTH PLAIN, empty 334 challenge, credentials on the next line; one "
        "message; lower-case smtplib verbs.",
    ),
    "postfix-auth-login.pcap": (
        "swaks",
        "AUTH LOGIN: 334 Username:/Password: challenges; one message.",
    ),
    "postfix-auth-login-initial-response.pcap": (
        "smtplib",
        "AUTH LOGIN <base64 user> (initial response), 334 Password:, then the "
        "password; one message.",
    ),
    "postfix-auth-cram-md5.pcap": (
        "swaks",
        "AUTH CRAM-MD5 (password not recoverable from the wire, only user and "
        "HMAC); one message.",
    ),
    "postfix-auth-digest-md5.pcap": (
        "smtplib + hand-made RFC 2831 response",
        "AUTH DIGEST-MD5: challenge, response with username/realm/digest-uri, "
        "rspauth, empty line, 235; one message.",
    ),
    "postfix-auth-fail-then-success.pcap": (
        "smtplib",
        "AUTH PLAIN with a wrong password (535), then AUTH LOGIN with the right "
        "one (235) in the same session; one message.",
    ),
    "postfix-pipelining-rejected-rcpt.pcap": (
        "swaks --pipeline",
        "Unauthenticated, PIPELINING: MAIL, three RCPTs and DATA in one "
        "segment; unknown user gets 550, relay attempt 554, one accepted.",
    ),
    "postfix-rset-multi-message.pcap": (
        "smtplib",
        "Three messages in one session with RSET between, plus an abandoned "
        "envelope (MAIL, RCPT, RSET); message 3 has one rejected recipient; "
        "lower-case verbs; lines '.' and '.x' in message 1.",
    ),
    "postfix-bdat-chunks.pcap": (
        "raw socket client",
        "CHUNKING (MAIL ... BODY=8BITMIME): message 1 as BDAT 1000, BDAT 2000, "
        "BDAT 753 LAST; message 2 as BDAT 558 then BDAT 0 LAST; binary bodies with NUL, bare CR/LF and "
        "CRLF.CRLF inside the chunk data.",
    ),
    "postfix-starttls.pcap": (
        "swaks --tls",
        "STARTTLS (TLS 1.3, SNI mail.example.org, self-signed certificate), "
        "then AUTH PLAIN and one message inside TLS: nothing after STARTTLS "
        "is readable.",
    ),
    "postfix-port-2525.pcap": (
        "swaks",
        "Postfix smtpd on port 2525 (not 25); AUTH PLAIN; one message.",
    ),
    "postfix-ipv6.pcap": (
        "smtplib",
        "IPv6 (fd00:25::2 -> fd00:25::1); AUTH LOGIN; one message.",
    ),
    "postfix-dumpcap.pcapng": (
        "smtplib",
        "pcapng written by dumpcap; AUTH PLAIN with initial response; one message.",
    ),
    "postfix-linux-sll2.pcap": (
        "smtplib",
        "tcpdump -i any: LINUX_SLL2 link type; AUTH PLAIN; one message.",
    ),
    "postfix-nanosecond.pcap": (
        "smtplib",
        "Nanosecond pcap (magic a1b23c4d); AUTH PLAIN; one message.",
    ),
    "postfix-foxmail.pcap": (
        "swaks --data test_data/lab/foxmail.eml",
        "Foxmail-style MIME message (mixed > related > alternative, GBK "
        "subject labelled GB2312, base64 text, QP html with '.' lines, inline "
        "cid PNG, GB2312 encoded-word attachment name, RFC 2231 UTF-8 ZIP "
        "name); EHLO DESKTOP-465M1IO; AUTH LOGIN; two recipients.",
    ),
    "aiosmtpd-xoauth2.pcap": (
        "smtplib",
        "aiosmtpd: AUTH XOAUTH2 with a bad token (334 base64 JSON error, empty "
        "line, 535), then a good token (235); one message.",
    ),
    "aiosmtpd-login-latin1.pcap": (
        "smtplib",
        "aiosmtpd: AUTH LOGIN whose password is ISO-8859-1 bytes (not UTF-8); "
        "one message.",
    ),
}


def file_header(path):
    """Format, link type and time-stamp precision read from the file itself."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    magic = head[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        endian = "<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        shb_len = struct.unpack(endian + "I", head[4:8])[0]
        block_type, idb_len = struct.unpack(endian + "II", head[shb_len : shb_len + 8])
        assert block_type == 1, "first block after SHB is not an IDB"
        idb = head[shb_len : shb_len + idb_len]
        linktype = struct.unpack(endian + "H", idb[8:10])[0]
        return "pcapng", linktype, pcapng_precision(idb[16:-4], endian)
    precision = {
        b"\xd4\xc3\xb2\xa1": "microseconds",
        b"\xa1\xb2\xc3\xd4": "microseconds",
        b"\x4d\x3c\xb2\xa1": "nanoseconds",
        b"\xa1\xb2\x3c\x4d": "nanoseconds",
    }[magic]
    endian = "<" if magic[0] in (0xD4, 0x4D) else ">"
    linktype = struct.unpack(endian + "I", head[20:24])[0]
    return "pcap", linktype, precision


def pcapng_precision(options, endian):
    """Time-stamp resolution from the IDB's if_tsresol option (default 10^-6)."""
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack(endian + "HH", options[pos : pos + 4])
        if code == 0:
            break
        if code == 9 and length == 1:
            value = options[pos + 4]
            if value == 9:
                return "nanoseconds (if_tsresol 9)"
            if value == 6:
                return "microseconds (if_tsresol 6)"
            return f"if_tsresol {value:#04x}"
        pos += 4 + ((length + 3) & ~3)
    return "microseconds (if_tsresol absent)"


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def capinfos(path):
    out = run("capinfos", "-t", "-E", "-c", "-u", "-M", str(path))
    info = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return {
        "file_type": info["File type"],
        "encapsulation": info["File encapsulation"],
        "packets": int(info["Number of packets"]),
    }


def client_stream(path):
    """Client-to-server bytes of TCP stream 0, from tshark's follow output."""
    out = run("tshark", "-r", str(path), "-q", "-z", "follow,tcp,raw,0")
    data = bytearray()
    started = False
    for line in out.splitlines():
        if line.startswith("Node 1:"):
            started = True
            continue
        if not started or line.startswith("=") or not line.strip():
            continue
        if not line.startswith("\t"):
            data += bytes.fromhex(line.strip())
    return bytes(data)


def messages_in_stream(data):
    """Message contents in a client stream: DATA (unstuffed) and BDAT chunks."""
    messages = []
    pos = 0
    bdat = bytearray()
    while pos < len(data):
        end = data.find(b"\r\n", pos)
        if end < 0:
            break
        line = data[pos:end]
        pos = end + 2
        verb = line.split(b" ", 1)[0].upper()
        if verb == b"STARTTLS":
            break
        if verb == b"DATA":
            stop = data.find(b"\r\n.\r\n", pos - 2)
            if stop < 0:
                raise ValueError("DATA without end in the capture")
            raw = data[pos : stop + 2]
            pos = stop + 5
            lines = raw.split(b"\r\n")
            messages.append(
                b"\r\n".join(x[1:] if x.startswith(b".") else x for x in lines)
            )
        elif verb == b"BDAT":
            match = re.fullmatch(rb"BDAT (\d+)( LAST)?", line, re.I)
            size = int(match.group(1))
            bdat += data[pos : pos + size]
            pos += size
            if match.group(2):
                messages.append(bytes(bdat))
                bdat.clear()
    return messages


def check_complete(path, encrypted, port):
    if encrypted:
        ends = run(
            "tshark",
            "-r",
            str(path),
            "-Y",
            "tcp.flags.fin == 1 || tcp.flags.reset == 1",
        )
        if len(ends.splitlines()) < 2:
            raise SystemExit(f"{path.name}: TCP close (FIN/RST both ways) missing")
        return "TCP close seen both ways (session encrypted after STARTTLS)"
    quit_reply = run(
        "tshark",
        "-r",
        str(path),
        "-d",
        f"tcp.port=={port},smtp",
        "-Y",
        "smtp.response.code == 221",
    )
    if not quit_reply.strip():
        raise SystemExit(f"{path.name}: QUIT reply (221) missing")
    return "221 reply to QUIT seen by tshark"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    work, out = Path(args.work), Path(args.out)
    versions = dict(
        line.split("=", 1) for line in (work / "versions.txt").read_text().splitlines()
    )
    captures = []
    for row in (work / "captures.tsv").read_text().splitlines():
        name, kind, scenario = row.split("\t")
        path = out / name
        truth = json.loads((work / f"{Path(name).stem}.truth.json").read_text())
        fmt, linktype, precision = file_header(path)
        info = capinfos(path)
        encrypted = any(s["tls"] for s in truth["sessions"])
        port = truth["sessions"][0]["server_port"]
        complete = check_complete(path, encrypted, port)
        expected = [
            m["sha256"]
            for s in truth["sessions"]
            for m in s["messages"]
            if not m.get("encrypted")
        ]
        found = [
            hashlib.sha256(m).hexdigest()
            for m in messages_in_stream(client_stream(path))
        ]
        if found != expected:
            raise SystemExit(
                f"{name}: follow-stream messages {found} != truth {expected}"
            )
        client_sw, description = DESCRIPTIONS[name]
        server = (
            f"aiosmtpd {versions['aiosmtpd']}"
            if name.startswith("aiosmtpd")
            else SERVERS["postfix"].format(**versions)
        )
        captures.append(
            {
                "file": name,
                "format": fmt,
                "linktype": linktype,
                "linktype_name": LINKTYPES.get(linktype, str(linktype)),
                "timestamp_precision": precision,
                "capture_tool": {
                    "eth": "tcpdump --immediate-mode on the client veth",
                    "nano": "tcpdump --time-stamp-precision=nano on the client veth",
                    "any": "tcpdump -i any in the client namespace",
                    "pcapng": "dumpcap on the client veth",
                }[kind],
                "capinfos": info,
                "file_size": path.stat().st_size,
                "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "scenario": scenario,
                "client_software": client_sw,
                "server_software": server,
                "description": description,
                "checks": [
                    complete,
                    f"{len(found)} message(s) in tshark follow stream match the "
                    "client's hashes",
                ],
                "sessions": truth["sessions"],
            }
        )
    manifest = {
        "about": (
            "Ground truth for the lab captures, computed by the clients "
            "(test_data/lab/clients.py) from what they sent, not by the parser. "
            "Message hashes are over the message content as transmitted: CRLF "
            "line ends, without the client's dot-stuffing and without the final "
            "'.' line (DATA) or the concatenated chunks (BDAT). "
            "Made by test_data/lab/make_captures.sh."
        ),
        "software": versions,
        "captures": captures,
    }
    (out / "MANIFEST.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(f"MANIFEST.json: {len(captures)} captures", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
