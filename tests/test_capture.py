"""Tests for smtpcore.capture: formats, timestamps, damage, gzip, bounded reads."""

from __future__ import annotations

import gzip
import io
import random
import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pcapgen  # tests/ is on sys.path under pytest (no tests/__init__.py)
from pcapgen import EPB, PB, SPB, Interface, RawBlock, Section
from smtpcore import capture
from smtpcore.capture import CaptureReader, NotACapture, sniff
from smtpcore.packets import PacketDecoder

EXTERNAL = Path(__file__).resolve().parents[2] / "shared/corpus/external"

TS = 1_700_000_000_123_456_789


def sample_frames(count: int, start: int = TS, size: int = 60, seed: int = 1):
    """Distinct frames with payloads that do not look like record headers."""
    rng = random.Random(seed)
    return [
        (start + i * 1_000_017, bytes(rng.getrandbits(8) for _ in range(size + i)))
        for i in range(count)
    ]


def read_all(data: bytes):
    warnings: list[str] = []
    reader = CaptureReader(io.BytesIO(data), warnings.append)
    frames = list(reader)
    return reader, frames, warnings


class ReadOnly:
    """A non-seekable file object that hands out at most ``piece`` bytes per read."""

    def __init__(self, data: bytes, piece: int = 1000):
        self._data = memoryview(data)
        self._pos = 0
        self._piece = piece
        self.requests: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.requests.append(size)
        size = min(size, self._piece)
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return bytes(chunk)


# -- sniff --------------------------------------------------------------------


@pytest.mark.parametrize(
    "head, expected",
    [
        (b"\xd4\xc3\xb2\xa1", "pcap"),
        (b"\xa1\xb2\xc3\xd4", "pcap"),
        (b"\x4d\x3c\xb2\xa1", "pcap"),
        (b"\xa1\xb2\x3c\x4d", "pcap"),
        (b"\x34\xcd\xb2\xa1", "pcap"),
        (b"\xa1\xb2\xcd\x34", "pcap"),
        (b"\x0a\x0d\x0d\x0a\x00\x00", "pcapng"),
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"\x1f\x8b", "gzip"),
        (b"From: someone", None),
        (b"\xa1\xb2", None),
        (b"", None),
    ],
)
def test_sniff(head, expected):
    assert sniff(head) == expected


# -- pcap ---------------------------------------------------------------------


@pytest.mark.parametrize("nanosecond", [False, True])
@pytest.mark.parametrize("big_endian", [False, True])
def test_pcap_resolutions_and_byte_orders(nanosecond, big_endian):
    frames = sample_frames(5)
    data = pcapgen.pcap_bytes(
        frames, nanosecond=nanosecond, big_endian=big_endian, linktype=113
    )
    reader, got, warnings = read_all(data)
    assert warnings == []
    assert reader.format == "pcap" and reader.compressed is False
    assert [f.index for f in got] == [1, 2, 3, 4, 5]
    assert [f.data for f in got] == [d for _, d in frames]
    assert [f.orig_len for f in got] == [len(d) for _, d in frames]
    assert {f.linktype for f in got} == {113}
    if nanosecond:
        assert [f.ts_ns for f in got] == [t for t, _ in frames]
    else:
        assert [f.ts_ns for f in got] == [t // 1000 * 1000 for t, _ in frames]
    assert got[0].ts_ns == (TS if nanosecond else 1_700_000_000_123_456_000)
    assert all(type(f.ts_ns) is int for f in got)
    assert reader.position == len(data)


def test_pcap_snaplen_cut_keeps_original_length():
    data = pcapgen.pcap_bytes([(TS, b"A" * 64, 1514)], snaplen=64)
    _, got, warnings = read_all(data)
    assert warnings == []
    assert (got[0].data, got[0].orig_len) == (b"A" * 64, 1514)


def test_pcap_linktype_upper_bits_ignored():
    data = bytearray(pcapgen.pcap_bytes([(TS, b"x" * 20)], linktype=1))
    struct.pack_into("<I", data, 20, 1 | 0x14000000)  # FCS length bits set
    _, got, _ = read_all(bytes(data))
    assert got[0].linktype == 1


def test_modified_pcap_with_24_byte_records():
    header = struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)
    records = b""
    for i, payload in enumerate([b"first frame", b"second"]):
        records += struct.pack("<IIIIIHBx", 1000 + i, 5, len(payload), 99, 3, 8, 0)
        records += payload
    _, got, warnings = read_all(header + records)
    assert warnings == []
    assert [(f.ts_ns, f.data, f.orig_len) for f in got] == [
        (1000_000_005_000, b"first frame", 99),
        (1001_000_005_000, b"second", 99),
    ]


def test_empty_pcap_yields_nothing():
    reader, got, warnings = read_all(pcapgen.pcap_bytes([]))
    assert (reader.format, got, warnings) == ("pcap", [], [])


# -- pcapng -------------------------------------------------------------------


def test_pcapng_interfaces_resolutions_and_offset():
    interfaces = [
        Interface(linktype=1),  # no if_tsresol: microseconds
        Interface(linktype=113, tsresol=0x8A, tsoffset=100),  # 2**-10 s, +100 s
        Interface(linktype=101, tsresol=9),
        Interface(linktype=228, tsresol=3),
    ]
    # 1953125 ns = 2/1024 s, exact at a 2**-10 resolution.
    blocks = [
        EPB(0, 1_600_000_000_654_321_000, b"zero"),
        EPB(1, 1_600_000_001_000_000_000 + 3 * 1_953_125, b"one"),
        EPB(2, 1_600_000_002_123_456_789, b"two"),
        EPB(3, 1_600_000_003_987_000_000, b"three", orig_len=300),
    ]
    buf = io.BytesIO()
    pcapgen.write_pcapng(buf, [Section(interfaces, blocks)])
    reader, got, warnings = read_all(buf.getvalue())
    assert warnings == []
    assert reader.format == "pcapng"
    assert [(f.index, f.ts_ns, f.linktype, f.data, f.orig_len) for f in got] == [
        (1, 1_600_000_000_654_321_000, 1, b"zero", 4),
        (2, 1_600_000_001_005_859_375, 113, b"one", 3),
        (3, 1_600_000_002_123_456_789, 101, b"two", 3),
        (4, 1_600_000_003_987_000_000, 228, b"three", 300),
    ]


def test_pcapng_binary_resolution_rounds_down_to_the_nanosecond():
    # One tick of 2**-20 s is 953.67431640625 ns.
    section = Section([Interface(tsresol=0x94)], [RawBlock(0)])
    order = "<"
    ticks = 5 * 2**20 + 3
    body = struct.pack(order + "IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, 1, 1) + b"x"
    section.blocks = [RawBlock(6, body)]
    buf = io.BytesIO()
    pcapgen.write_pcapng(buf, [section])
    _, got, warnings = read_all(buf.getvalue())
    assert warnings == []
    assert got[0].ts_ns == 5_000_000_000 + 2861  # floor(3 * 953.674...)


def test_pcapng_two_sections_of_opposite_byte_order():
    first = Section(
        [Interface(linktype=1, tsresol=9)],
        [EPB(0, TS, b"little"), EPB(0, TS + 1, b"endian")],
    )
    second = Section(
        [Interface(linktype=276), Interface(linktype=101, tsresol=9)],
        [EPB(1, TS + 2, b"big"), EPB(0, TS + 3789, b"endian too")],
        big_endian=True,
    )
    buf = io.BytesIO()
    pcapgen.write_pcapng(buf, [first, second])
    _, got, warnings = read_all(buf.getvalue())
    assert warnings == []
    assert [(f.index, f.ts_ns, f.linktype, f.data) for f in got] == [
        (1, TS, 1, b"little"),
        (2, TS + 1, 1, b"endian"),
        (3, TS + 2, 101, b"big"),
        (4, 1_700_000_000_123_460_000, 276, b"endian too"),  # µs: no if_tsresol
    ]


def test_pcapng_simple_obsolete_and_unknown_blocks():
    section = Section(
        [Interface(linktype=1, snaplen=8, tsresol=9), Interface(113, tsresol=9)],
        [
            SPB(b"before any timestamp"[:8], orig_len=20),
            RawBlock(4, b"\x00\x00\x00\x00"),  # name resolution block
            RawBlock(0x12345678, b"an unknown block type"),
            PB(1, TS + 5000, b"obsolete packet block"),
            RawBlock(0x0BAD, b"PEN!custom data"),
            SPB(b"12345678"),
            EPB(0, TS + 9000, b"enhanced"),
            RawBlock(5, b"\x00" * 12),  # interface statistics block
        ],
    )
    buf = io.BytesIO()
    pcapgen.write_pcapng(buf, [section])
    _, got, warnings = read_all(buf.getvalue())
    assert warnings == []
    assert [(f.index, f.ts_ns, f.linktype, f.data, f.orig_len) for f in got] == [
        (1, 0, 1, b"before a", 20),  # no timestamp seen yet
        (2, TS + 5000, 113, b"obsolete packet block", 21),
        (3, TS + 5000, 1, b"12345678", 8),  # timestamp of the frame before
        (4, TS + 9000, 1, b"enhanced", 8),
    ]


def test_pcapng_simple_packet_cut_to_snaplen():
    section = Section([Interface(snaplen=5)], [SPB(b"0123456789")])
    buf = io.BytesIO()
    pcapgen.write_pcapng(buf, [section])
    _, got, _ = read_all(buf.getvalue())
    assert (got[0].data, got[0].orig_len) == (b"01234", 10)


def test_pcapng_undescribed_interface_warned_once():
    section = Section(
        [Interface()],
        [
            EPB(0, TS, b"ok"),
            EPB(0, TS, b"bad"),
            EPB(0, TS, b"bad2"),
            EPB(0, TS, b"ok2"),
        ],
    )
    buf = io.BytesIO()
    pcapgen.write_pcapng(buf, [section])
    data = bytearray(buf.getvalue())
    # Point the second and third packets at interface 7.
    first_epb = data.index(b"ok") - 28
    second = first_epb + len(pcapgen.pcapng_block(section, section.blocks[0]))
    third = second + len(pcapgen.pcapng_block(section, section.blocks[1]))
    struct.pack_into("<I", data, second + 8, 7)
    struct.pack_into("<I", data, third + 8, 7)
    _, got, warnings = read_all(bytes(data))
    assert [f.data for f in got] == [b"ok", b"ok2"]
    assert [f.index for f in got] == [1, 2]
    assert len(warnings) == 1
    assert "undescribed interface 7" in warnings[0]


# -- gzip ---------------------------------------------------------------------


def test_gzip_pcap_is_read_transparently():
    frames = sample_frames(20)
    plain = pcapgen.pcap_bytes(frames, nanosecond=True)
    packed = gzip.compress(plain)
    reader, got, warnings = read_all(packed)
    assert warnings == []
    assert reader.compressed is True and reader.format == "pcap"
    assert [(f.ts_ns, f.data) for f in got] == frames
    assert reader.position == len(packed)


def test_gzip_pcapng_in_two_members():
    section = Section(
        [Interface(tsresol=9)], [EPB(0, TS + i, b"p%d" % i) for i in range(4)]
    )
    buf = io.BytesIO()
    pcapgen.write_pcapng(buf, [section])
    plain = buf.getvalue()
    packed = gzip.compress(plain[:50]) + gzip.compress(plain[50:])
    reader, got, warnings = read_all(packed)
    assert warnings == []
    assert reader.format == "pcapng"
    assert [f.data for f in got] == [b"p0", b"p1", b"p2", b"p3"]


def test_truncated_gzip_keeps_frames_read():
    frames = sample_frames(400, size=300)
    plain = pcapgen.pcap_bytes(frames)
    packed = gzip.compress(plain)
    _, got, warnings = read_all(packed[: len(packed) // 2])
    assert 100 < len(got) < 400
    # The record the data ends in is kept as far as it goes, as a frame cut short.
    *whole, last = got
    assert [(f.ts_ns // 1000, f.data) for f in whole] == [
        (t // 1000, d) for t, d in frames[: len(whole)]
    ]
    ts, data = frames[len(whole)]
    assert last.ts_ns // 1000 == ts // 1000 and last.orig_len == len(data)
    assert 0 < len(last.data) < len(data) and data.startswith(last.data)
    assert any("compressed stream ends early" in w for w in warnings)
    assert any("are kept as a frame cut short" in w for w in warnings)


def test_gzip_of_something_else_is_not_a_capture():
    with pytest.raises(NotACapture, match="gzip"):
        CaptureReader(io.BytesIO(gzip.compress(b"hello, world\n" * 10)), print)


def test_trailing_garbage_after_gzip_is_reported():
    plain = pcapgen.pcap_bytes(sample_frames(3))
    _, got, warnings = read_all(gzip.compress(plain) + b"garbage after")
    assert len(got) == 3
    assert (
        len(warnings) == 1 and "after the end of the compressed stream" in warnings[0]
    )


# -- not a capture ------------------------------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"Return-Path: <a@example.org>\r\n", "neither pcap nor pcapng"),
        (b"\x0a\x0d\x0d\x0a" + b"\x1c\x00\x00\x00" + b"no magic here", "byte-order"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "header is truncated"),
    ],
)
def test_not_a_capture(content, message):
    with pytest.raises(NotACapture, match=message):
        CaptureReader(io.BytesIO(content), print)


# -- damage -------------------------------------------------------------------


def record_offsets(frames, header=24, record=16):
    """Byte offsets of each record header in a pcap written by pcapgen."""
    offsets, pos = [], header
    for _, data, *_ in frames:
        offsets.append(pos)
        pos += record + len(data)
    return offsets


def test_truncated_last_record_is_reported_and_earlier_frames_kept():
    frames = sample_frames(5)
    data = pcapgen.pcap_bytes(frames)
    _, got, warnings = read_all(data[:-10])
    assert [f.data for f in got[:4]] == [d for _, d in frames[:4]]
    # The fifth is kept as far as it goes, as a frame cut short.
    assert got[4].data == frames[4][1][:-10]
    assert got[4].orig_len == len(frames[4][1])
    assert len(warnings) == 1
    assert "frame 5" in warnings[0] and "truncated" in warnings[0]
    assert "kept as a frame cut short" in warnings[0]
    assert f"offset 0x{record_offsets(frames)[4]:x}" in warnings[0]


def test_capture_ending_inside_a_record_header():
    frames = sample_frames(3)
    data = pcapgen.pcap_bytes(frames) + b"\x01\x02\x03"
    _, got, warnings = read_all(data)
    assert len(got) == 3
    assert len(warnings) == 1 and "frame 4" in warnings[0]
    assert "record header (3 bytes)" in warnings[0]


def test_garbage_in_the_middle_is_skipped():
    frames = sample_frames(6)
    data = pcapgen.pcap_bytes(frames)
    cut = record_offsets(frames)[3]
    garbage = bytes(random.Random(5).getrandbits(8) for _ in range(777))
    damaged = data[:cut] + garbage + data[cut:]
    _, got, warnings = read_all(damaged)
    assert [f.data for f in got] == [d for _, d in frames]
    assert [f.index for f in got] == [1, 2, 3, 4, 5, 6]
    assert [f.ts_ns for f in got] == [t // 1000 * 1000 for t, _ in frames]
    assert len(warnings) == 1
    assert f"frame 4, offset 0x{cut:x}" in warnings[0]
    assert "skipped 777 damaged bytes" in warnings[0]
    assert f"resuming at offset 0x{cut + 777:x}" in warnings[0]


def test_zeroed_region_in_the_middle_is_skipped():
    frames = sample_frames(6)
    data = pcapgen.pcap_bytes(frames)
    cut = record_offsets(frames)[2]
    damaged = data[:cut] + bytes(4096) + data[cut:]
    _, got, warnings = read_all(damaged)
    assert [f.data for f in got] == [d for _, d in frames]
    assert len(warnings) == 1 and "skipped 4096 damaged bytes" in warnings[0]


def test_absurd_record_length_loses_only_that_record():
    frames = sample_frames(6)
    data = bytearray(pcapgen.pcap_bytes(frames))
    third = record_offsets(frames)[2]
    struct.pack_into("<I", data, third + 8, 0x7FFFFFFF)
    _, got, warnings = read_all(bytes(data))
    assert [f.data for f in got] == [d for i, (_, d) in enumerate(frames) if i != 2]
    assert len(warnings) == 1
    assert "implausible record length 2147483647" in warnings[0]
    assert f"frame 3, offset 0x{third:x}" in warnings[0]


def test_damaged_first_record_is_found_without_a_previous_timestamp():
    frames = sample_frames(4)
    data = bytearray(pcapgen.pcap_bytes(frames))
    struct.pack_into("<I", data, 24 + 8, 0xFFFFFFF0)
    _, got, warnings = read_all(bytes(data))
    assert [f.data for f in got] == [d for _, d in frames[1:]]
    assert len(warnings) == 1 and "frame 1" in warnings[0]


def test_big_endian_garbage_resync():
    frames = sample_frames(5)
    data = pcapgen.pcap_bytes(frames, big_endian=True, nanosecond=True)
    cut = record_offsets(frames)[1]
    damaged = data[:cut] + b"\xff" * 100 + data[cut:]
    _, got, warnings = read_all(damaged)
    assert [f.ts_ns for f in got] == [t for t, _ in frames]
    assert len(warnings) == 1


def test_many_damaged_areas_are_summed_up():
    frames = sample_frames(30)
    data = pcapgen.pcap_bytes(frames)
    offsets = record_offsets(frames)
    pieces, last = [], 0
    for offset in offsets[1:]:
        pieces += [data[last:offset], b"\xee" * 40]
        last = offset
    pieces.append(data[last:])
    _, got, warnings = read_all(b"".join(pieces))
    assert len(got) == 30
    limit = capture.MAX_DAMAGE_WARNINGS
    assert len(warnings) == limit + 1
    assert (
        warnings[-1]
        == f"{29 - limit} more damaged areas not reported one by one (29 in total)"
    )


def pcapng_with_blocks(count=6):
    section = Section(
        [Interface(tsresol=9)], [EPB(0, TS + i, b"pkt%02d" % i) for i in range(count)]
    )
    buf = io.BytesIO()
    pcapgen.write_pcapng(buf, [section])
    data = buf.getvalue()
    offsets = [data.index(b"pkt%02d" % i) - 28 for i in range(count)]
    return data, offsets


def test_pcapng_garbage_in_the_middle_is_skipped():
    data, offsets = pcapng_with_blocks()
    cut = offsets[3]
    damaged = data[:cut] + b"\x06\x00\x00\x00garbage!" + b"\x13" * 50 + data[cut:]
    _, got, warnings = read_all(damaged)
    assert [f.data for f in got] == [b"pkt%02d" % i for i in range(6)]
    assert [f.index for f in got] == [1, 2, 3, 4, 5, 6]
    assert len(warnings) == 1
    assert f"frame 4, offset 0x{cut:x}" in warnings[0]
    assert "skipped 62 damaged bytes" in warnings[0]


def test_pcapng_bad_trailing_length_loses_that_block():
    data, offsets = pcapng_with_blocks()
    damaged = bytearray(data)
    trailer = offsets[2] + struct.unpack_from("<I", data, offsets[2] + 4)[0] - 4
    struct.pack_into("<I", damaged, trailer, 0x99)
    _, got, warnings = read_all(bytes(damaged))
    assert [f.data for f in got] == [b"pkt%02d" % i for i in (0, 1, 3, 4, 5)]
    assert len(warnings) == 1 and "trailing length" in warnings[0]


def test_pcapng_absurd_block_length():
    data, offsets = pcapng_with_blocks()
    damaged = bytearray(data)
    struct.pack_into("<I", damaged, offsets[1] + 4, 0x10000000)
    _, got, warnings = read_all(bytes(damaged))
    assert [f.data for f in got] == [b"pkt%02d" % i for i in (0, 2, 3, 4, 5)]
    assert len(warnings) == 1 and "implausible length 268435456" in warnings[0]


def test_pcapng_truncated_last_block():
    data, offsets = pcapng_with_blocks()
    _, got, warnings = read_all(data[:-7])
    assert [f.data for f in got] == [b"pkt%02d" % i for i in range(6)]
    assert len(warnings) == 1
    assert "frame 6" in warnings[0] and "ends inside its packet block" in warnings[0]
    assert "after all 5 packet bytes; the packet is kept" in warnings[0]
    assert f"offset 0x{offsets[5]:x}" in warnings[0]
    _, got, warnings = read_all(data[:-10])  # three packet bytes gone too
    assert [f.data for f in got] == [b"pkt%02d" % i for i in range(5)] + [b"pk"]
    assert got[-1].orig_len == 5
    assert "(2 of 5 packet bytes present)" in warnings[0]


# -- streaming ----------------------------------------------------------------


def test_non_seekable_short_reads_give_the_same_frames():
    frames = sample_frames(50, size=500)
    data = pcapgen.pcap_bytes(frames)
    source = ReadOnly(data, piece=333)
    reader = CaptureReader(source, print)
    assert [(f.ts_ns // 1000, f.data) for f in reader] == [
        (t // 1000, d) for t, d in frames
    ]
    assert reader.position == len(data)


def test_reads_are_bounded_by_the_chunk_size_and_memory_stays_flat():
    rng = random.Random(3)
    payload = bytes(rng.getrandbits(8) for _ in range(1400))
    count = 16_000  # about 23 MB
    frames = ((TS + i * 1000, payload) for i in range(count))
    data = pcapgen.pcap_bytes(frames)
    source = ReadOnly(data, piece=1 << 30)
    tracemalloc.start()
    try:
        reader = CaptureReader(source, print)
        seen = 0
        for frame in reader:
            seen += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    assert max(source.requests) <= capture.CHUNK_SIZE
    assert len(source.requests) >= len(data) // capture.CHUNK_SIZE
    assert peak < 4 * capture.CHUNK_SIZE < len(data) // 4


def test_read_error_ends_the_capture_with_a_warning():
    frames = sample_frames(30, size=100)
    data = pcapgen.pcap_bytes(frames)

    class Failing(ReadOnly):
        def read(self, size=-1):
            if self._pos >= 2000:
                raise OSError("device not ready")
            return super().read(size)

    warnings: list[str] = []
    got = list(CaptureReader(Failing(data, piece=1000), warnings.append))
    assert 0 < len(got) < 30
    assert [f.data for f in got] == [d for _, d in frames[: len(got)]]
    assert "read error (device not ready)" in warnings[0]


# -- external captures ---------------------------------------------------------

# Counts and first/last timestamps from tshark 4.0 (Debian 12):
#   tshark -r F | wc -l
#   tshark -r F -T fields -e frame.time_epoch   (first and last line)
EXTERNAL_FRAMES = {
    "arkime-smtp-rcpt-553.pcap": (16, 1386252622425826000, 1386252623067866000),
    "arkime-smtp-subject-utf8-q.pcap": (19, 1384762012670276000, 1384762016457692000),
    "arkime-smtp-zip.pcap": (28, 1387291817187672000, 1387291817565354000),
    "zeek-rfc3030-bdat-0-last.pcap": (26, 1702397908285794000, 1702397908700041000),
    "zeek-rfc3030-bdat-example1.pcap": (28, 1702397979965276000, 1702397980427055000),
    "zeek-smtp-attachment-msg.pcap": (17, 1610557925999672000, 1610557926003820000),
    "zeek-smtp-starttls.pcap": (37, 1400168396806011000, 1400168404468437000),
    "zeek-smtp.pcap": (125, 1254722767492060000, 1437831800217854000),
}


@pytest.mark.skipif(not EXTERNAL.is_dir(), reason="external corpus not present")
@pytest.mark.parametrize("name", sorted(EXTERNAL_FRAMES))
def test_external_capture_frame_counts(name):
    count, first_ts, last_ts = EXTERNAL_FRAMES[name]
    warnings: list[str] = []
    with open(EXTERNAL / name, "rb") as fh:
        frames = list(CaptureReader(fh, warnings.append))
    assert warnings == []
    assert len(frames) == count
    assert (frames[0].ts_ns, frames[-1].ts_ns) == (first_ts, last_ts)
    assert {f.linktype for f in frames} == {1}


def test_gzip_checksum_error_is_reported_after_all_frames():
    frames = sample_frames(50, size=300)
    packed = bytearray(gzip.compress(pcapgen.pcap_bytes(frames)))
    packed[-8] ^= 0xFF  # CRC-32 of the member
    _, got, warnings = read_all(bytes(packed))
    assert [(f.ts_ns // 1000, f.data) for f in got] == [
        (t // 1000, d) for t, d in frames
    ]
    assert len(warnings) == 1
    assert "compressed data is corrupt" in warnings[0]
    assert "incorrect data check" in warnings[0]


def test_corrupt_gzip_keeps_frames_before_the_damage():
    frames = sample_frames(400, size=300)
    packed = bytearray(gzip.compress(pcapgen.pcap_bytes(frames)))
    middle = len(packed) // 2
    packed[middle : middle + 64] = bytes(64)
    _, got, warnings = read_all(bytes(packed))
    good = [(t // 1000, d) for t, d in frames]
    seen = [(f.ts_ns // 1000, f.data) for f in got]
    # Stored (incompressible) data: the frames before the zeroed bytes are intact.
    assert seen[:180] == good[:180]
    assert any("compressed data is corrupt" in w for w in warnings)


def test_pcapng_garbage_before_a_new_section_is_skipped():
    first = Section([Interface(tsresol=9)], [EPB(0, TS, b"first")])
    second = Section(
        [Interface(linktype=101, tsresol=9)], [EPB(0, TS + 1, b"second")], True
    )
    one, two = io.BytesIO(), io.BytesIO()
    pcapgen.write_pcapng(one, [first])
    pcapgen.write_pcapng(two, [second])
    _, got, warnings = read_all(one.getvalue() + b"\xab" * 33 + two.getvalue())
    assert [(f.index, f.ts_ns, f.linktype, f.data) for f in got] == [
        (1, TS, 1, b"first"),
        (2, TS + 1, 101, b"second"),
    ]
    assert len(warnings) == 1 and "skipped 33 damaged bytes" in warnings[0]


@settings(max_examples=150, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 4000), st.binary(min_size=0, max_size=40)),
        max_size=4,
    ),
    cut=st.integers(0, 4000),
    ng=st.booleans(),
)
def test_damaged_captures_never_raise(edits, cut, ng):
    """Any mix of overwritten, inserted and cut bytes gives warnings, not errors."""
    frames = pcapgen.tcp_conversation(exchanges=[(0, b"x" * 2000), (1, b"250 ok\r\n")])
    if ng:
        buf = io.BytesIO()
        blocks = [EPB(0, t, d) for t, d in frames]
        pcapgen.write_pcapng(buf, [Section([Interface(tsresol=9)], blocks)])
        data = bytearray(buf.getvalue())
    else:
        data = bytearray(pcapgen.pcap_bytes(frames))
    for position, blob in edits:
        position = max(40, position % len(data))
        if position % 2:
            data[position : position + len(blob)] = blob
        else:
            data[position:position] = blob
    data = data[: max(40, len(data) - cut)]
    warnings: list[str] = []
    decoder = PacketDecoder(warnings.append)
    for frame in CaptureReader(io.BytesIO(bytes(data)), warnings.append):
        assert frame.index >= 1 and isinstance(frame.ts_ns, int)
        decoder.decode(frame)
    decoder.finish()
    if not edits and not cut:
        assert warnings == []


def test_resync_finds_records_after_a_jump_in_time():
    before = sample_frames(3)
    after = sample_frames(3, start=TS + 5 * 86400 * 10**9, seed=2)
    data = pcapgen.pcap_bytes(before + after, nanosecond=True)
    cut = record_offsets(before + after)[3]
    damaged = data[:cut] + b"\x00\x01" * 300 + data[cut:]
    _, got, warnings = read_all(damaged)
    assert [f.ts_ns for f in got] == [t for t, _ in before + after]
    assert len(warnings) == 1 and "skipped 600 damaged bytes" in warnings[0]


def test_identify_claims_only_whole_plausible_headers():
    from smtpcore.capture import identify

    pcap_header = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")
    assert identify(pcap_header) == "pcap"
    assert identify(pcap_header[:23]) is None  # a magic alone is not a capture
    assert identify(pcap_header[:4] + b"\x07\x00" + pcap_header[6:]) is None  # version
    assert identify(bytes.fromhex("0a0d0d0a1c0000004d3c2b1a")) == "pcapng"
    assert identify(b"\n\r\r\n  a text line\n") is None
    assert identify(b"\x1f\x8b\x08\x00") == "gzip"
