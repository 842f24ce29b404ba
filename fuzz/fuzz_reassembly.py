"""Fuzz target: the TCP Reassembler fed segment sequences decoded from the bytes.

A record's op byte picks the direction, the time step and (with its top bit) a
second connection; the piece starts with flags (1), seq (4), ack (4), then payload.
Delivered data must never run backwards or overlap within one direction.
"""

import sys

import _common
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore.packets import Segment
    from smtpcore.reassembly import Closed, Data, Gap, Opened, Reassembler

CLIENT = (b"\xc0\x00\x02\x01", 40000)
SERVER = (b"\xc0\x00\x02\x02", 25)
OTHER = (b"\xc0\x00\x02\x03", 41000)


def segments(data: bytes):
    fdp = atheris.FuzzedDataProvider(data)
    ts = 1_700_000_000 * 10**9
    for index, (op, piece) in enumerate(_common.records(fdp), 1):
        ts += ((op >> 1) & 0x3F) ** 3 * 10**6  # up to 250 s: timeouts are reached
        piece = piece.ljust(9, b"\0")
        flags = piece[0]
        seq = int.from_bytes(piece[1:5], "big")
        ack = int.from_bytes(piece[5:9], "big")
        near = OTHER if op & 0x80 else CLIENT
        src, dst = (near, SERVER) if op & 1 == 0 else (SERVER, near)
        missing = 0
        yield Segment(
            ts, index, src[0], dst[0], src[1], dst[1], seq, ack, flags, piece[9:], missing
        )


def TestOneInput(data: bytes) -> None:
    reassembler = Reassembler(
        lambda message: None, max_buffered_bytes=1 << 16, max_total_buffered=1 << 17
    )
    ends = {}
    opened = set()

    def check(events):
        for event in events:
            kind = type(event)
            if kind is Opened:
                assert event.conn.id not in opened
                opened.add(event.conn.id)
            elif kind is Data or kind is Gap:
                assert event.conn.id in opened
                key = (event.conn.id, event.direction)
                size = len(event.data) if kind is Data else event.length
                assert size > 0, event
                assert event.offset == ends.get(key, 0), (event, ends.get(key, 0))
                ends[key] = event.offset + size
            elif kind is Closed:
                assert event.conn.id in opened
                opened.discard(event.conn.id)

    for segment in segments(data):
        check(reassembler.feed(segment))
    check(reassembler.finish())
    assert not opened, opened


if __name__ == "__main__":
    _common.run(TestOneInput)
