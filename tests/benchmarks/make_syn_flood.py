#!/usr/bin/env python3
"""A port scan / SYN flood around one real SMTP session, for memory and warning tests.

Usage: make_syn_flood.py OUT.pcap [--syns 300000] [--synack] [--session CAPTURE]

Writes ``--syns`` SYNs to port 25 from distinct source addresses and ports (and,
with ``--synack``, the server's SYN+ACK to each), with the frames of one real lab
capture (Ethernet, default test_data/captures/postfix-auth-plain.pcap) placed in
the middle. Deterministic. smtpcore must find exactly that capture's session.
"""

from __future__ import annotations

import argparse
import pathlib
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import pcapgen  # noqa: E402

SYN, ACK = 0x02, 0x10
SERVER = "10.25.0.1"


def lab_frames(path: pathlib.Path):
    """(ts_ns, frame) of a little-endian microsecond Ethernet pcap."""
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    if magic != 0xA1B2C3D4 or linktype != 1:
        raise SystemExit(f"{path}: need a microsecond Ethernet pcap")
    pos = 24
    while pos < len(data):
        seconds, micros, caplen, _ = struct.unpack_from("<IIII", data, pos)
        yield seconds * 10**9 + micros * 1000, data[pos + 16 : pos + 16 + caplen]
        pos += 16 + caplen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--syns", type=int, default=300_000)
    parser.add_argument("--synack", action="store_true")
    parser.add_argument(
        "--session",
        default=str(ROOT / "test_data" / "captures" / "postfix-auth-plain.pcap"),
    )
    args = parser.parse_args()
    session = list(lab_frames(pathlib.Path(args.session)))
    start = session[0][0] - args.syns * 10_000 // 2
    middle = args.syns // 2

    def frames():
        for n in range(args.syns):
            if n == middle:
                yield from session
            src = f"198.18.{(n >> 8) & 0xFF}.{n & 0xFF}"
            sport = 1024 + (n * 7919) % 64000
            ts = start + n * 10_000  # 100,000 SYNs a second
            isn = (n * 2654435761) & 0xFFFFFFFF
            syn = pcapgen.ipv4_tcp(src, SERVER, sport, 25, isn, 0, SYN)
            yield ts, pcapgen.ethernet(syn)
            if args.synack:
                reply = pcapgen.ipv4_tcp(
                    SERVER, src, 25, sport, isn ^ 0x5A5A5A5A, isn + 1, SYN | ACK
                )
                yield ts + 1000, pcapgen.ethernet(reply)

    pcapgen.write_pcap(args.out, frames())


if __name__ == "__main__":
    main()
