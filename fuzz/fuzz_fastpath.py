"""Fuzz target: the compiled frame path (smtpcore._fastpath) against its pure reference.

The records become a capture: the first op byte picks pcap or pcapng (bit 7; the
first byte of its piece an if_tsresol of 10^-3..10^-9 or 2^-10), the byte order
(bit 0), µs or ns for pcap (bit 1) and the link type (bits 2-5 as in
fuzz_packets); every other
record is one frame, whose original length exceeds its bytes when op bit 7 is set,
except that op 0xFF writes its bytes raw (damage: lying lengths, cut headers). It is
read with the compiled cursors and `FastDecoder` and with the pure Python ones, as
tests/test_fastpath.py does: as it is, with the flows of the frames of op bit 6
rejected (so that the compiled reader steps over runs of them), and through
`CaptureReader.items(decoder.fast)`, as the pipeline reads; frames, segments, the
decoder's counters, the warnings and the rejected flows' `last_ns` must be equal.
Under AddressSanitizer (make fuzz-asan) this is also the memory check of the
compiled code. Returns at once when it is not built.
"""

import dataclasses
import io
import struct

import _common
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore import capture, flowskip, packets

from fuzz_packets import LINKTYPES

_fastpath = flowskip.compiled("_fastpath")
_flowskip = flowskip.compiled("_flowskip")


class _Tombstone:
    __slots__ = ("last_ns",)

    def __init__(self):
        self.last_ns = 0


_TSRESOL = (3, 4, 5, 6, 7, 8, 9, 0x8A)


def _block(order: str, kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = struct.pack(order + "I", 12 + len(body))
    return struct.pack(order + "I", kind) + length + body + length


def build(data: bytes):
    """(capture bytes, indexes of the frames whose flows are to be rejected)."""
    items = list(_common.records(atheris.FuzzedDataProvider(data)))
    if not items:
        return b"", set()
    first = items[0][0]
    order = ">" if first & 1 else "<"
    linktype = LINKTYPES[(first >> 2) & 0x0F]
    pcapng = bool(first & 0x80)
    if pcapng:
        out = bytearray(
            _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
        )
        tsresol = _TSRESOL[items[0][1][0] % 8 if items[0][1] else 3]
        options = struct.pack(order + "HHB", 9, 1, tsresol) + b"\0" * 3 + b"\0" * 4
        out += _block(
            order, 1, struct.pack(order + "HHI", linktype, 0, 262144) + options
        )
    else:
        magic = 0xA1B23C4D if first & 2 else 0xA1B2C3D4
        out = bytearray(
            struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)
        )
    flagged = set()
    sec, frac = 1_700_000_000, 0
    index = 0
    for op, piece in items[1:]:
        if op == 0xFF:
            out += piece
            continue
        sec += op & 3
        frac = (frac + op * 7919) % 1_000_000
        orig = len(piece) + (op >> 7) * (1 + (op & 0x0F))
        if pcapng:
            ts = sec * 1_000_000 + frac
            head = struct.pack(
                order + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(piece), orig
            )
            out += _block(order, 6, head + piece)
        else:
            out += struct.pack(order + "IIII", sec, frac, len(piece), orig) + piece
        index += 1
        if op & 0x40:
            flagged.add(index)
    return bytes(out), flagged


def _use(compiled: bool):
    capture._fastpath = packets._fastpath = _fastpath if compiled else None


def read(capture_bytes: bytes, compiled: bool, rejected=None):
    """Frames, segments, counters and warnings, the compiled or the pure way."""
    _use(compiled)
    try:
        warnings = []
        try:
            reader = capture.CaptureReader(io.BytesIO(capture_bytes), warnings.append)
        except capture.NotACapture as error:
            return str(error)
        if rejected is not None:
            reader.rejected = rejected
        decoder = packets.PacketDecoder(warnings.append)
        skippable = (_flowskip if compiled else flowskip).is_skippable
        frames, segments = [], []
        for frame in reader:
            if rejected and skippable(
                frame.data, frame.orig_len, frame.linktype, frame.ts_ns, rejected
            ):
                continue  # as the pipeline does
            frames.append(dataclasses.astuple(frame))
            segment = decoder.decode(frame)
            segments.append(None if segment is None else dataclasses.astuple(segment))
        decoder.finish()
        return frames, segments, dict(decoder.stats), warnings
    finally:
        _use(True)


def read_items(capture_bytes: bytes, rejected=None):
    """The compiled reader decoding on the way (as the pipeline reads), pure-shaped."""
    _use(True)
    warnings = []
    reader = capture.CaptureReader(io.BytesIO(capture_bytes), warnings.append)
    if rejected is not None:
        reader.rejected = rejected
    decoder = packets.PacketDecoder(warnings.append)
    segments = []
    for item in reader.items(decoder.fast):
        if type(item) is capture.Frame:
            if rejected and _flowskip.is_skippable(
                item.data, item.orig_len, item.linktype, item.ts_ns, rejected
            ):
                continue
            item = decoder.decode(item)
        segments.append(None if item is None else dataclasses.astuple(item))
    decoder.finish()
    return [s for s in segments if s is not None], dict(decoder.stats), warnings


def _expected_items(reference):
    _, segments, stats, warnings = reference
    return [s for s in segments if s is not None], stats, warnings


def TestOneInput(data: bytes) -> None:
    if _fastpath is None:
        return
    capture_bytes, flagged = build(data)
    pure = read(capture_bytes, False)
    assert read(capture_bytes, True) == pure
    if isinstance(pure, str):
        return
    assert read_items(capture_bytes) == _expected_items(pure)
    keys = {
        flowskip.flow_key(s[2], s[4], s[3], s[5])
        for frame, s in zip(pure[0], pure[1])
        if s is not None and frame[0] in flagged
    }
    if not keys:
        return
    tombstones = [{key: _Tombstone() for key in keys} for _ in range(3)]
    expected = read(capture_bytes, False, tombstones[0])
    assert read(capture_bytes, True, tombstones[1]) == expected
    assert read_items(capture_bytes, tombstones[2]) == _expected_items(expected)
    last = [{k: t.last_ns for k, t in each.items()} for each in tombstones]
    assert last[0] == last[1] == last[2], last


if __name__ == "__main__":
    _common.run(TestOneInput)
