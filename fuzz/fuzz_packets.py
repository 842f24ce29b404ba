"""Fuzz target: PacketDecoder fed frames of the supported (and other) link types.

Each record is one frame: the op byte picks the link type and the time step.
"""

import sys

import _common
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore.capture import Frame
    from smtpcore.packets import PacketDecoder, Segment

# 16 link types, picked by the low nibble of an op byte; 105 (802.11) is unsupported.
LINKTYPES = (1, 12, 14, 101, 228, 229, 113, 276, 0, 108, 9, 50, 204, 51, 147, 105)


def frames(data: bytes):
    fdp = atheris.FuzzedDataProvider(data)
    ts = 1_700_000_000 * 10**9
    for index, (op, piece) in enumerate(_common.records(fdp), 1):
        ts += (op >> 4) * 10**9 // 4  # up to 3.75 s: fragment timeouts are reached
        yield Frame(index, ts, LINKTYPES[op & 0x0F], piece, len(piece) + (op >> 7))


def TestOneInput(data: bytes) -> None:
    decoder = PacketDecoder(lambda message: None)
    for frame in frames(data):
        segment = decoder.decode(frame)
        if segment is not None:
            assert type(segment) is Segment
            assert len(segment.src) in (4, 16) and len(segment.dst) == len(segment.src)
    decoder.finish()


if __name__ == "__main__":
    _common.run(TestOneInput)
