"""Builds the capture- and protocol-level adversarial corpus (issue 14).

Every case is a damaged or hostile capture derived, deterministically, from a
committed lab capture (test_data/captures/, cut and patched with ``struct``), or
generated here when it needs a session no real client would hold (a 1 GB DATA
stream, 100,000 transactions, 1,000,000 AUTH attempts). The tests
(tests/test_adversarial_capture.py) build the cases they need into a temporary
folder and assert the warning and exactly what is still extracted.

    python test_data/adversarial/make_adversarial.py OUTDIR   # the small cases

writes every small case to OUTDIR (for the fuzzers' seeds or a disk image); the
large ones are only ever made at test time (``write_*`` functions).
"""

from __future__ import annotations

import array
import base64
import gzip
import pathlib
import struct
import sys
from typing import BinaryIO, Callable, Iterable, Iterator

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAB = ROOT / "test_data" / "captures"

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# -- the lab captures, as records ----------------------------------------------


def read_pcap(name: str) -> tuple[bytes, list[list]]:
    """A little-endian lab pcap as its file header and [sec, frac, incl, orig, data]."""
    raw = (LAB / name).read_bytes()
    head, pos, records = raw[:24], 24, []
    while pos < len(raw):
        sec, frac, incl, orig = struct.unpack_from("<IIII", raw, pos)
        records.append([sec, frac, incl, orig, raw[pos + 16 : pos + 16 + incl]])
        pos += 16 + incl
    return head, records


def pcap(head: bytes, records: Iterable[list]) -> bytes:
    """Records back to a pcap file; the record header is written as given."""
    out = [head]
    for sec, frac, incl, orig, data in records:
        out.append(struct.pack("<IIII", sec, frac, incl, orig) + data)
    return b"".join(out)


def pcapng_blocks(name: str) -> list[bytes]:
    """A little-endian lab pcapng as its blocks, each whole (header to trailer)."""
    raw = (LAB / name).read_bytes()
    blocks, pos = [], 0
    while pos < len(raw):
        length = struct.unpack_from("<I", raw, pos + 4)[0]
        blocks.append(raw[pos : pos + length])
        pos += length
    return blocks


def tcp_payload(frame: bytes) -> bytes:
    """The TCP payload of an Ethernet/IPv4 frame."""
    ihl = (frame[14] & 15) * 4
    total = struct.unpack_from("!H", frame, 16)[0]
    tcp = 14 + ihl
    return frame[tcp + (frame[tcp + 12] >> 4) * 4 : 14 + total]


def frame_with(name: str, needle: bytes) -> int:
    """Index of the first record of a lab pcap whose TCP payload holds needle."""
    _, records = read_pcap(name)
    for index, record in enumerate(records):
        if needle in tcp_payload(record[4]):
            return index
    raise LookupError(needle)


# -- truncated and zero-length files ------------------------------------------

PLAIN = "postfix-auth-plain.pcap"  # AUTH PLAIN and one 285-byte message
NG = "postfix-dumpcap.pcapng"  # the same dialogue, written by dumpcap


def zero_length() -> bytes:
    return b""


def pcap_mid_file_header() -> bytes:
    return (LAB / PLAIN).read_bytes()[:10]


def pcap_header_only() -> bytes:
    return (LAB / PLAIN).read_bytes()[:24]


def pcap_mid_record_header() -> bytes:
    return (LAB / PLAIN).read_bytes()[:30]


def _offset_of(records: list, index: int) -> int:
    return 24 + sum(16 + r[2] for r in records[:index])


def pcap_mid_data_record() -> bytes:
    """Cut inside the record that carries the message content (DATA's bytes)."""
    _, records = read_pcap(PLAIN)
    index = frame_with(PLAIN, b"Subject:")
    start = _offset_of(records, index)
    return (LAB / PLAIN).read_bytes()[: start + 16 + 66 + 100]


def gzip_cut_short() -> bytes:
    """The lab capture gzip-compressed (mtime 0), cut after 900 compressed bytes."""
    return gzip.compress((LAB / PLAIN).read_bytes(), mtime=0)[:900]


def pcapng_mid_section_header() -> bytes:
    return (LAB / NG).read_bytes()[:20]


def pcapng_mid_block() -> bytes:
    """Cut inside the Enhanced Packet Block that carries the message content."""
    blocks = pcapng_blocks(NG)
    index = next(i for i, b in enumerate(blocks) if b"Subject:" in b)
    return b"".join(blocks[:index]) + blocks[index][: 28 + 66 + 100]


# -- record and block lengths that lie ----------------------------------------


def pcap_caplen_beyond_snaplen() -> bytes:
    """The file header's snapshot length says 96; the records hold whole frames."""
    head, records = read_pcap(PLAIN)
    head = head[:16] + struct.pack("<I", 96) + head[20:]
    return pcap(head, records)


def pcap_caplen_beyond_256k() -> bytes:
    """The AUTH record claims 300,000 captured bytes; its real bytes follow."""
    head, records = read_pcap(PLAIN)
    index = frame_with(PLAIN, b"AUTH PLAIN A")
    records[index][2] = 300_000
    return pcap(head, records)


def pcap_jumbo_record() -> bytes:
    """A genuine 300,000-byte record (zero fill) before the AUTH record."""
    head, records = read_pcap(PLAIN)
    index = frame_with(PLAIN, b"AUTH PLAIN A")
    sec, frac = records[index][:2]
    jumbo = [sec, frac, 300_000, 300_000, bytes(300_000)]
    return pcap(head, records[:index] + [jumbo] + records[index:])


def _ng_patch(index_of: Callable[[list[bytes]], int], patch) -> bytes:
    blocks = pcapng_blocks(NG)
    index = index_of(blocks)
    blocks[index] = patch(blocks[index])
    return b"".join(blocks)


def _auth_block(blocks: list[bytes]) -> int:
    return next(i for i, b in enumerate(blocks) if b"AUTH PLAIN A" in b)


def _set_length(block: bytes, length: int) -> bytes:
    return block[:4] + struct.pack("<I", length) + block[8:]


def pcapng_length_too_short() -> bytes:
    return _ng_patch(_auth_block, lambda b: _set_length(b, 8))


def pcapng_length_too_long() -> bytes:
    """The AUTH block claims 64 bytes more than it has (trailer then mismatches)."""
    return _ng_patch(_auth_block, lambda b: _set_length(b, len(b) + 64))


def pcapng_length_not_multiple_of_4() -> bytes:
    return _ng_patch(_auth_block, lambda b: _set_length(b, len(b) + 1))


def pcapng_length_past_eof() -> bytes:
    """The last block (the final ACK) claims 1 MiB."""
    return _ng_patch(lambda blocks: len(blocks) - 1, lambda b: _set_length(b, 1 << 20))


# -- absurd timestamps ---------------------------------------------------------


def pcap_timestamps_zero() -> bytes:
    head, records = read_pcap(PLAIN)
    return pcap(head, ([0, 0, *r[2:]] for r in records))


def pcap_timestamps_max() -> bytes:
    """Every record at 2**32-1 seconds, 999,999 microseconds (2106-02-07)."""
    head, records = read_pcap(PLAIN)
    return pcap(head, ([0xFFFFFFFF, 999_999, *r[2:]] for r in records))


def pcap_timestamp_jump() -> bytes:
    """One record in mid-session (the AUTH line) stamped 2**32-1 seconds."""
    head, records = read_pcap(PLAIN)
    index = frame_with(PLAIN, b"AUTH PLAIN A")
    records[index][0] = 0xFFFFFFFF
    return pcap(head, records)


def pcap_nanosecond_fraction_overflow() -> bytes:
    """A nanosecond pcap whose fractions are 999,999,999 and one 4,294,967,295."""
    name = "postfix-nanosecond.pcap"
    head, records = read_pcap(name)
    for record in records:
        record[1] = 999_999_999
    records[frame_with(name, b"AUTH PLAIN A")][1] = 0xFFFFFFFF
    return pcap(head, records)


def _ng_timestamps(ticks: Callable[[int], int]) -> bytes:
    blocks = pcapng_blocks(NG)
    for i, block in enumerate(blocks):
        if struct.unpack_from("<I", block)[0] == 6:
            value = ticks(i) & 0xFFFFFFFFFFFFFFFF
            stamp = struct.pack("<II", value >> 32, value & 0xFFFFFFFF)
            blocks[i] = block[:12] + stamp + block[20:]
    return b"".join(blocks)


def pcapng_timestamps_huge() -> bytes:
    """Every packet at 2**64-1 ticks (microseconds: the year 586,912)."""
    return _ng_timestamps(lambda i: 0xFFFFFFFFFFFFFFFF)


def pcapng_timestamps_negative() -> bytes:
    """An interface whose if_tsoffset is -2**62 seconds: every time is negative."""
    blocks = pcapng_blocks(NG)
    index = next(i for i, b in enumerate(blocks) if struct.unpack_from("<I", b)[0] == 1)
    idb = blocks[index]
    options = idb[16:-4]
    body = idb[8:16] + struct.pack("<HHq", 14, 8, -(1 << 62)) + options
    blocks[index] = (
        struct.pack("<II", 1, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    )
    return b"".join(blocks)


# -- packet headers ------------------------------------------------------------


def _patch_frame(name: str, needle: bytes, patch) -> bytes:
    head, records = read_pcap(name)
    index = frame_with(name, needle)
    records[index][4] = patch(records[index][4])
    return pcap(head, records)


def ipv4_ihl_below_5() -> bytes:
    """The AUTH frame's IPv4 header length says 16 bytes (IHL 4)."""
    return _patch_frame(PLAIN, b"AUTH PLAIN A", lambda f: f[:14] + b"\x44" + f[15:])


def tcp_offset_below_5() -> bytes:
    """The AUTH frame's TCP data offset says 16 bytes (4 words)."""

    def patch(frame: bytes) -> bytes:
        at = 14 + (frame[14] & 15) * 4 + 12
        return frame[:at] + bytes([0x40 | frame[at] & 15]) + frame[at + 1 :]

    return _patch_frame(PLAIN, b"AUTH PLAIN A", patch)


# -- TCP: overlapping copies, injected RST --------------------------------------


def _tcp_fields(frame: bytes) -> tuple[int, int, int]:
    tcp = 14 + (frame[14] & 15) * 4
    seq, ack = struct.unpack_from("!II", frame, tcp + 4)
    return tcp, seq, ack


def _with_payload(frame: bytes, payload: bytes, seq: int, flags=None) -> bytes:
    """The frame with another payload and sequence number (checksums recomputed)."""
    tcp, _, _ = _tcp_fields(frame)
    header_len = (frame[tcp + 12] >> 4) * 4
    ip = bytearray(frame[14:tcp])
    segment = bytearray(frame[tcp : tcp + header_len] + payload)
    struct.pack_into("!I", segment, 4, seq)
    if flags is not None:
        segment[13] = flags
    struct.pack_into("!H", ip, 2, len(ip) + len(segment))
    struct.pack_into("!H", ip, 10, 0)
    struct.pack_into("!H", ip, 10, checksum(bytes(ip)))
    struct.pack_into("!H", segment, 16, 0)
    pseudo = bytes(ip[12:20]) + struct.pack("!BBH", 0, 6, len(segment))
    struct.pack_into("!H", segment, 16, checksum(pseudo + bytes(segment)))
    return frame[:14] + bytes(ip) + bytes(segment)


def content_frame() -> tuple[bytes, list[list], int]:
    head, records = read_pcap(PLAIN)
    return head, records, frame_with(PLAIN, b"Subject:")


OVERLAP_AT, OVERLAP_LEN = 40, 20  # bytes of the content segment overwritten


def _forged_copy(record: list) -> list:
    frame = record[4]
    _, seq, _ = _tcp_fields(frame)
    forged = b"X" * OVERLAP_LEN
    copy = _with_payload(frame, forged, seq + OVERLAP_AT)
    return [record[0], record[1], len(copy), len(copy), copy]


def overlap_forged_after() -> bytes:
    """A copy of 20 content bytes with other bytes, captured after the original."""
    head, records, index = content_frame()
    forged = _forged_copy(records[index])
    return pcap(head, records[: index + 1] + [forged] + records[index + 1 :])


def overlap_forged_before() -> bytes:
    """The same forged 20 bytes, captured before the original segment."""
    head, records, index = content_frame()
    forged = _forged_copy(records[index])
    return pcap(head, records[:index] + [forged] + records[index:])


def rst_mid_data() -> bytes:
    """A RST (client→server, in sequence) injected inside the message content.

    The content segment is split in two at byte 100; the RST, with the sequence
    number of the second half, comes between them, as an off-path attacker would
    send it. The real endpoints go on: the second half and the rest still follow.
    """
    head, records, index = content_frame()
    record = records[index]
    frame = record[4]
    _, seq, _ = _tcp_fields(frame)
    payload = tcp_payload(frame)
    first = _with_payload(frame, payload[:100], seq)
    rst = _with_payload(frame, b"", seq + 100, flags=RST)
    second = _with_payload(frame, payload[100:], seq + 100)
    made = [[record[0], record[1], len(f), len(f), f] for f in (first, rst, second)]
    return pcap(head, records[:index] + made + records[index + 1 :])


# -- generated sessions ----------------------------------------------------------


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071), summed at C speed."""
    if len(data) % 2:
        data += b"\0"
    words = array.array("H", data)
    if sys.byteorder == "little":
        words.byteswap()
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Writer:
    """Writes one TCP connection (Ethernet, IPv4) as a microsecond pcap, streamed.

    Data segments carry the acknowledgement of everything the peer sent; there are
    no pure ACKs besides the handshake's, so big sessions stay small on disk.
    """

    MAC = bytes.fromhex("020000000002020000000001")

    def __init__(
        self, out: BinaryIO, client=("10.14.0.1", 40014), server=("10.14.0.2", 25)
    ):
        self.out = out
        self.ends = [
            (bytes(map(int, client[0].split("."))), client[1]),
            (bytes(map(int, server[0].split("."))), server[1]),
        ]
        self.seq = [1_000_000, 2_000_000]
        self.ts_us = 1_700_000_000 * 10**6
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

    def segment(self, direction: int, flags: int, payload: bytes = b"") -> None:
        (src, sport), (dst, dport) = self.ends[direction], self.ends[1 - direction]
        ack = self.seq[1 - direction] if flags & ACK else 0
        tcp = struct.pack(
            "!HHIIBBHHH",
            sport,
            dport,
            self.seq[direction],
            ack,
            0x50,
            flags,
            65535,
            0,
            0,
        )
        pseudo = src + dst + struct.pack("!BBH", 0, 6, 20 + len(payload))
        value = checksum(pseudo + tcp + payload)
        tcp = tcp[:16] + struct.pack("!H", value) + tcp[18:]
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst
        )
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        frame = self.MAC + b"\x08\x00" + ip + tcp + payload
        seconds, micros = divmod(self.ts_us, 10**6)
        self.out.write(struct.pack("<IIII", seconds, micros, len(frame), len(frame)))
        self.out.write(frame)
        self.ts_us += 10
        self.seq[direction] = (
            self.seq[direction] + len(payload) + (1 if flags & (SYN | FIN) else 0)
        ) & 0xFFFFFFFF

    def open(self) -> None:
        self.segment(0, SYN)
        self.segment(1, SYN | ACK)
        self.segment(0, ACK)

    def send(self, direction: int, data: bytes, mss: int = 1460) -> None:
        for at in range(0, len(data), mss):
            self.segment(direction, ACK | PSH, data[at : at + mss])

    def close(self) -> None:
        self.segment(0, FIN | ACK)
        self.segment(1, FIN | ACK)
        self.segment(0, ACK)


GREETING = b"220 mx.adv.test ESMTP\r\n"
EHLO = b"EHLO client.adv.test\r\n"
EHLO_REPLY = b"250-mx.adv.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 AUTH PLAIN\r\n"
ENVELOPE = b"MAIL FROM:<a@adv.test>\r\nRCPT TO:<b@adv.test>\r\n"
ENVELOPE_REPLY = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"


def _start(out: BinaryIO) -> Writer:
    w = Writer(out)
    w.open()
    w.send(1, GREETING)
    w.send(0, EHLO)
    w.send(1, EHLO_REPLY)
    return w


def _end(w: Writer) -> None:
    w.send(0, b"QUIT\r\n")
    w.send(1, b"221 2.0.0 Bye\r\n")
    w.close()


BIG_LINE = (
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-+0123456\r\n"
)


def big_message(size: int) -> Iterator[bytes]:
    """A message of exactly ``size`` bytes (size >= 128), in 1 MiB pieces: a header,
    then 74-byte lines, none starting with a dot."""
    header = b"Subject: big\r\n\r\n"
    body = size - len(header)
    lines, rest = divmod(body, len(BIG_LINE))
    yield header + b"x" * rest
    block = BIG_LINE * (1 << 20 // len(BIG_LINE) + 1)
    per_block = len(block) // len(BIG_LINE)
    while lines:
        take = min(lines, per_block)
        yield block[: take * len(BIG_LINE)]
        lines -= take


def write_big_data(out: BinaryIO, size: int, mss: int = 65_000) -> None:
    """One session whose DATA carries a ``size``-byte message in ``mss`` segments."""
    w = _start(out)
    w.send(0, ENVELOPE + b"DATA\r\n")
    w.send(1, ENVELOPE_REPLY + b"354 End data with <CR><LF>.<CR><LF>\r\n")
    pending = b""
    for piece in big_message(size):
        pending += piece
        while len(pending) >= mss:
            w.segment(0, ACK, pending[:mss])
            pending = pending[mss:]
    w.send(0, pending + b".\r\n", mss)
    w.send(1, b"250 2.0.0 Ok: queued as BIG\r\n")
    _end(w)


def transaction_message(n: int) -> bytes:
    return b"Subject: t%d\r\n\r\nbody %d\r\n" % (n, n)


def write_transactions(out: BinaryIO, count: int) -> None:
    """One session carrying ``count`` mail transactions, each with its own message."""
    w = _start(out)
    for n in range(count):
        w.send(0, ENVELOPE + b"DATA\r\n")
        w.send(1, ENVELOPE_REPLY + b"354 go ahead\r\n")
        w.send(0, transaction_message(n) + b".\r\n")
        w.send(1, b"250 2.0.0 Ok: queued as Q%d\r\n" % n)
    _end(w)


def auth_password(n: int) -> bytes:
    return b"guess-%07d" % n


AUTH_FAILED = b"535 5.7.8 Error: authentication failed\r\n"
AUTH_OK = b"235 2.7.0 Authentication successful\r\n"


def write_auth_attempts(
    out: BinaryIO, count: int, batch: int = 1000, succeed_last: bool = False
) -> None:
    """One session with ``count`` AUTH PLAIN attempts, ``batch`` a segment, all
    failed (or all but the last).

    Each attempt is one line (the initial response on the AUTH line); the client
    does not wait for each 535 (a guessing tool pipelining), the server answers
    each, in order, ``batch`` replies a segment.
    """
    w = _start(out)
    for first in range(0, count, batch):
        lines, replies = [], []
        for n in range(first, min(first + batch, count)):
            token = base64.b64encode(b"\0mallory\0" + auth_password(n))
            lines.append(b"AUTH PLAIN " + token + b"\r\n")
            last = succeed_last and n == count - 1
            replies.append(AUTH_OK if last else AUTH_FAILED)
        w.send(0, b"".join(lines), 65_000)
        w.send(1, b"".join(replies), 65_000)
    _end(w)


def _message_start(w: Writer) -> None:
    w.send(0, ENVELOPE + b"DATA\r\n")
    w.send(1, ENVELOPE_REPLY + b"354 go ahead\r\n")


def tiny_message(count: int) -> bytes:
    """A message of ``count`` bytes ending in CRLF, for one-byte segments."""
    header = b"Subject: tiny\r\n\r\n"
    body = (
        b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-\r\n"
        * (count // 66 + 1)
    )[: count - len(header) - 2]
    return header + body + b"\r\n"


def write_tiny_segments(
    out: BinaryIO, count: int, reverse: bool = True, holes: bool = False
) -> None:
    """A message sent one byte a segment, all of them captured in reverse order
    (every segment lands at the front of the reassembler's out-of-order buffer);
    with ``holes``, every other byte is missing from the capture."""
    w = _start(out)
    _message_start(w)
    data = tiny_message(count)
    base = w.seq[0]
    order = range(count - 1, -1, -1) if reverse else range(count)
    for at in order:
        if holes and at % 2 and at != count - 1:
            continue
        w.seq[0] = (base + at) & 0xFFFFFFFF
        w.segment(0, ACK, data[at : at + 1])
    w.seq[0] = (base + count) & 0xFFFFFFFF
    w.send(0, b".\r\n")
    w.send(1, b"250 2.0.0 Ok: queued as TINY\r\n")
    _end(w)


OVERLAP_SEGMENT = 200


def overlap_message(count: int) -> bytes:
    return tiny_message(count * OVERLAP_SEGMENT)


def write_overlapping(out: BinaryIO, count: int) -> None:
    """A message in ``count`` 200-byte segments, each followed by a copy of its
    second half with other bytes (every copy conflicts; the first copy wins)."""
    w = _start(out)
    _message_start(w)
    data = overlap_message(count)
    half = OVERLAP_SEGMENT // 2
    for at in range(0, len(data), OVERLAP_SEGMENT):
        piece = data[at : at + OVERLAP_SEGMENT]
        w.segment(0, ACK, piece)
        end = w.seq[0]
        w.seq[0] = (end - half) & 0xFFFFFFFF
        w.segment(0, ACK, piece[half:].swapcase().replace(b"_", b"#"))
        w.seq[0] = end
    w.send(0, b".\r\n")
    w.send(1, b"250 2.0.0 Ok: queued as OVERLAP\r\n")
    _end(w)


def write_flows(out: BinaryIO, count: int) -> None:
    """``count`` connections one after another, each one short message."""
    w = Writer(out)
    for n in range(count):
        w.ends[0] = (bytes([10, 14, 1 + n // 60000 % 200, 1]), 1024 + n % 60000)
        w.seq = [1_000_000 + n * 7, 2_000_000 + n * 11]
        w.open()
        w.send(1, GREETING)
        w.send(0, EHLO)
        w.send(1, EHLO_REPLY)
        _message_start(w)
        w.send(0, transaction_message(n) + b".\r\n")
        w.send(1, b"250 2.0.0 Ok: queued as F%d\r\n" % n)
        _end(w)


def bdat_beyond_capture() -> bytes:
    """BDAT announces 1,000,000,000 bytes LAST; the capture holds 4,000 of them."""
    import io

    out = io.BytesIO()
    w = _start(out)
    w.send(0, ENVELOPE)
    w.send(1, ENVELOPE_REPLY)
    w.send(0, b"BDAT 1000000000 LAST\r\n" + BDAT_CONTENT)
    w.close()
    return out.getvalue()


BDAT_CONTENT = b"Subject: chunk\r\n\r\n" + BIG_LINE * 54 + b"x" * 40  # 4,000 bytes


def write_keylog(out: BinaryIO, lines: int) -> None:
    """An NSS key log of ``lines`` CLIENT_RANDOM lines (distinct, made up)."""
    for n in range(lines):
        out.write(b"CLIENT_RANDOM %064x %096x\n" % (n, n * 7919))


# -- small cases, by name ---------------------------------------------------------

SMALL = {
    "zero-length.pcap": zero_length,
    "pcap-mid-file-header.pcap": pcap_mid_file_header,
    "pcap-header-only.pcap": pcap_header_only,
    "pcap-mid-record-header.pcap": pcap_mid_record_header,
    "pcap-mid-data-record.pcap": pcap_mid_data_record,
    "gzip-cut-short.pcap.gz": gzip_cut_short,
    "pcapng-mid-section-header.pcapng": pcapng_mid_section_header,
    "pcapng-mid-block.pcapng": pcapng_mid_block,
    "pcap-caplen-beyond-snaplen.pcap": pcap_caplen_beyond_snaplen,
    "pcap-caplen-beyond-256k.pcap": pcap_caplen_beyond_256k,
    "pcap-jumbo-record.pcap": pcap_jumbo_record,
    "pcapng-length-too-short.pcapng": pcapng_length_too_short,
    "pcapng-length-too-long.pcapng": pcapng_length_too_long,
    "pcapng-length-not-multiple-of-4.pcapng": pcapng_length_not_multiple_of_4,
    "pcapng-length-past-eof.pcapng": pcapng_length_past_eof,
    "pcap-timestamps-zero.pcap": pcap_timestamps_zero,
    "pcap-timestamps-max.pcap": pcap_timestamps_max,
    "pcap-timestamp-jump.pcap": pcap_timestamp_jump,
    "pcap-nanosecond-fraction-overflow.pcap": pcap_nanosecond_fraction_overflow,
    "pcapng-timestamps-huge.pcapng": pcapng_timestamps_huge,
    "pcapng-timestamps-negative.pcapng": pcapng_timestamps_negative,
    "ipv4-ihl-below-5.pcap": ipv4_ihl_below_5,
    "tcp-offset-below-5.pcap": tcp_offset_below_5,
    "overlap-forged-after.pcap": overlap_forged_after,
    "overlap-forged-before.pcap": overlap_forged_before,
    "rst-mid-data.pcap": rst_mid_data,
    "bdat-beyond-capture.pcap": bdat_beyond_capture,
}
"""Cases small enough to write anywhere (each a few KB; the jumbo record 300 KB)."""


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-5], file=sys.stderr)
        return 2
    target = pathlib.Path(argv[0])
    target.mkdir(parents=True, exist_ok=True)
    for name, build in SMALL.items():
        (target / name).write_bytes(build())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
