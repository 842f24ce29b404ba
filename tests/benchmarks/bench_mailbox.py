#!/usr/bin/env python3
"""Benchmark: one large POP3 RETR and one large IMAP FETCH literal through the machines.

Usage: PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_mailbox.py [--size-mb 64]

Feeds the server bytes in 64 KiB pieces (as the reassembler hands them over) to
`Pop3Machine`/`ImapMachine` and their builder, checks the message's SHA-256 against
the bytes generated, and prints throughput and the peak RSS of the process: the body
is streamed into a MessageContent (spooled to disk past 4 MiB), never held whole.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import time

from smtpcore.imap.machine import ImapMachine
from smtpcore.mailbuilder import MailboxSessionBuilder
from smtpcore.model import Endpoints, Message
from smtpcore.pop3.machine import Pop3Machine

PIECE = 64 * 1024


def body(size: int) -> tuple[bytes, bytes]:
    """(message, POP3 dot-stuffed form): 76-character lines, every 10th starts with '.'."""
    lines = []
    total = 0
    number = 0
    while total < size:
        line = (b"." if number % 10 == 0 else b"x") + b"%075d\r\n" % number
        lines.append(line)
        total += len(line)
        number += 1
    message = b"Subject: big\r\n\r\n" + b"".join(lines)
    stuffed = b"Subject: big\r\n\r\n" + b"".join(
        b"." + line if line.startswith(b".") else line for line in lines
    )
    return message, stuffed


def feed(protocol, greeting, client, server) -> tuple[float, Message]:
    machine = Pop3Machine() if protocol == "pop3" else ImapMachine()
    builder = MailboxSessionBuilder(
        protocol, machine, "s1", "bench", Endpoints("a", 1, "b", 2), 0
    )
    out = builder.data(1, greeting, 1)
    out += builder.data(0, client, 1)
    start = time.perf_counter()
    for offset in range(0, len(server), PIECE):
        out += builder.data(1, server[offset : offset + PIECE], 2)
    elapsed = time.perf_counter() - start
    out += builder.close(3, "fin")
    (message,) = [item for item in out if isinstance(item, Message)]
    return elapsed, message


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=64)
    args = parser.parse_args()
    message, stuffed = body(args.size_mb << 20)
    digest = hashlib.sha256(message).hexdigest()
    cases = {
        "pop3": (
            b"+OK ready\r\n",
            b"RETR 1\r\n",
            b"+OK\r\n" + stuffed + b".\r\n",
        ),
        "imap": (
            b"* OK ready\r\n",
            b"a1 FETCH 1 BODY[]\r\n",
            b"* 1 FETCH (BODY[] {%d}\r\n" % len(message) + message + b")\r\na1 OK\r\n",
        ),
    }
    for protocol, (greeting, client, server) in cases.items():
        elapsed, result = feed(protocol, greeting, client, server)
        assert result.sha256 == digest and result.complete, protocol
        result.content.release()
        print(
            f"{protocol}: {len(message) / 2**20:.0f} MiB message in {elapsed:.2f} s "
            f"({len(server) / 2**20 / elapsed:.0f} MiB/s), SHA-256 matches"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS {peak / 1024:.0f} MiB (the generated input itself is held twice)")


if __name__ == "__main__":
    main()
