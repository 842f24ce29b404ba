"""Streaming reader for pcap and pcapng captures, plain or gzip-compressed.

The reader pulls the file object through a buffer of about ``CHUNK_SIZE`` bytes, so
memory stays bounded whatever the size of the capture; it needs only ``read()``
(no ``seek``/``tell``), which suits pipes and dfvfs file objects.

Damage is reported through the ``warn`` callback and reading goes on: a record or
block that cannot be right starts a scan for the next plausible one, and the warning
says where the damage was and how many bytes were skipped.

pcapng Simple Packet Blocks carry no timestamp; their frames get the timestamp of the
frame read before them (0 when they come first), so timelines stay ordered.
"""

from __future__ import annotations

import dataclasses
import re
import struct
import zlib
from typing import BinaryIO, Callable, Iterator, Optional

from smtpcore import flowskip

CHUNK_SIZE = 1 << 18
"""Bytes asked of the underlying file object per ``read()``.

A quarter of a MiB: the window stays in the CPU's caches, and glibc serves
buffers of this size from memory it keeps, where 1 MiB ones cost fresh pages
(page faults) at every refill; on mostly-skipped web captures that was a fifth
of the pipeline's CPU time.
"""

MAX_PACKET = 256 * 1024
"""Largest captured length accepted (Wireshark's maximum snapshot length)."""

MAX_BLOCK = 16 * 1024 * 1024
"""Largest pcapng block that is not a packet block (name resolution, secrets...)."""

MAX_DAMAGE_WARNINGS = 20
"""Damage warnings reported one by one; the rest are summed up at the end."""

RESYNC_CLOSE_S = 3600
"""Records found by the resynchronisation scan must lie this close in time to the
record after them (or, when alone, to the last good record)."""

# Frame times are signed 64-bit nanoseconds (as in the compiled flow skipper and in
# plaso); a pcapng timestamp beyond them is damage.
_TS_MIN, _TS_MAX = -(1 << 63), 1 << 63
_PACKET_SLACK = 64 * 1024  # room for options in packet blocks
_PACKET_BLOCK_BOUND = MAX_PACKET + _PACKET_SLACK
_SHB = 0x0A0D0D0A
_IDB, _PB, _SPB, _EPB = 1, 2, 3, 6
_DSB = 10  # Decryption Secrets Block
DSB_TLS_KEY_LOG = 0x544C534B  # "TLSK": an NSS key log
_PACKET_BLOCKS = (_EPB, _SPB, _PB)
_KNOWN_BLOCKS = (_SHB, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x0BAD, 0x40000BAD)
_GZIP_MAGIC = b"\x1f\x8b"
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

# magic -> (byte order, nanoseconds per fraction unit, record header size)
_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000, 16),
    b"\xa1\xb2\xc3\xd4": (">", 1000, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1, 16),
    b"\xa1\xb2\x3c\x4d": (">", 1, 16),
    b"\x34\xcd\xb2\xa1": ("<", 1000, 24),  # Alexey Kuznetzov's modified pcap
    b"\xa1\xb2\xcd\x34": (">", 1000, 24),
}


_fastpath = flowskip.compiled("_fastpath")
"""The compiled record reader (smtpcore/_fastpath.pyx), or None: pure Python."""
_END = object()  # _pcap_careful: no more records


class NotACapture(Exception):
    """The content is neither pcap nor pcapng (also after gunzip)."""


@dataclasses.dataclass(slots=True)
class Frame:
    """One captured frame, as Wireshark numbers it."""

    index: int
    ts_ns: int
    linktype: int
    data: bytes
    orig_len: int


def sniff(head: bytes) -> str | None:
    """Names the container format from the first bytes of a file.

    Args:
        head: the first bytes (at least 4 for pcap and pcapng, 2 suffice for gzip).

    Returns:
        'pcap', 'pcapng', 'gzip' or None.
    """
    head = bytes(head[:4])
    if head[:2] == _GZIP_MAGIC:
        return "gzip"
    if head in _PCAP_MAGICS:
        return "pcap"
    if head == _PCAPNG_MAGIC:
        return "pcapng"
    return None


PCAP_MAGICS = tuple(_PCAP_MAGICS)
PCAPNG_MAGIC = _PCAPNG_MAGIC
_PCAPNG_BYTE_ORDER = (b"\x1a\x2b\x3c\x4d", b"\x4d\x3c\x2b\x1a")


def identify(head: bytes) -> str | None:
    """Claims a file found by scanning only on a whole, plausible file header.

    Stricter than :func:`sniff`, which names the format of a file already chosen as a
    capture: four magic bytes alone would claim too many unrelated files.

    Args:
        head: the first bytes of the file (24 or more).

    Returns:
        'pcap' (full header, version 2), 'pcapng' (section header with its
        byte-order magic), 'gzip' (the caller looks inside) or None.
    """
    kind = sniff(head)
    if kind == "pcap":
        if len(head) < 24:
            return None
        order = _PCAP_MAGICS[bytes(head[:4])][0]
        (major,) = struct.unpack_from(order + "H", head, 4)
        return "pcap" if major == 2 else None
    if kind == "pcapng":
        return "pcapng" if bytes(head[8:12]) in _PCAPNG_BYTE_ORDER else None
    return kind


class _CountingReader:
    """Counts what the underlying file object delivers; read errors end the data."""

    def __init__(self, fileobj: BinaryIO, warn: Callable[[str], None]):
        self._read = fileobj.read
        self.warn = warn
        self.count = 0
        self._failed = False

    def read(self, size: int) -> bytes:
        if self._failed:
            return b""
        try:
            data = self._read(size)
        except Exception as exc:  # dfvfs and OS errors alike: damaged media
            self._failed = True
            self.warn(
                f"offset 0x{self.count:x}: read error ({exc}); treating as end of file"
            )
            return b""
        if not data:
            return b""
        if type(data) is not bytes:
            data = bytes(data)
        self.count += len(data)
        return data


class _Gunzip:
    """gzip decompression with bounded output per read, tolerant of damage.

    zlib is used directly instead of gzip.GzipFile so that a truncated or corrupt
    stream still hands over what was decompressed before the damage: input goes in
    small steps, so an error loses at most one step's output.
    """

    _STEP = 16 * 1024

    def __init__(self, raw: _CountingReader, initial: bytes, warn):
        self._raw = raw
        self._input = memoryview(initial)
        self._dec = zlib.decompressobj(31)
        self._in_member = True
        self._done = False
        self.warn = warn

    def _compressed_offset(self) -> int:
        return self._raw.count - len(self._input)

    def _more_input(self) -> bool:
        data = self._raw.read(CHUNK_SIZE)
        if not data:
            return False
        self._input = memoryview(bytes(self._input) + data if self._input else data)
        return True

    @classmethod
    def _salvage(cls, dec, data: memoryview, size: int, bite: int = 64) -> bytes:
        """What a failed step decompresses to before the error, in small bites."""
        out = []
        for start in range(0, len(data), bite):
            piece = data[start : start + bite]
            backup = dec.copy()
            try:
                out.append(dec.decompress(piece, size))
            except zlib.error:
                if bite > 1:
                    out.append(cls._salvage(backup, piece, size, 1))
                break
            size -= len(out[-1])
            if size <= 0 or dec.unconsumed_tail or dec.eof:
                break
        return b"".join(out)

    def read(self, size: int) -> bytes:
        while not self._done:
            if not self._input and not self._more_input():
                self._done = True
                if self._in_member:
                    self.warn(
                        f"compressed offset 0x{self._raw.count:x}: compressed "
                        "stream ends early; frames read so far are kept"
                    )
                    try:
                        return self._dec.flush()
                    except zlib.error:
                        return b""
                break
            if not self._in_member:
                while len(self._input) < 2 and self._more_input():
                    pass
                if self._input[:2] != _GZIP_MAGIC:
                    if bytes(self._input).strip(b"\0"):
                        self.warn(
                            f"compressed offset 0x{self._compressed_offset():x}: "
                            "data after the end of the compressed stream ignored"
                        )
                    self._done = True
                    break
                self._dec = zlib.decompressobj(31)
                self._in_member = True
            step = self._input[: self._STEP]
            backup = self._dec.copy()
            try:
                out = self._dec.decompress(step, size)
            except zlib.error as exc:
                self.warn(
                    f"compressed offset 0x{self._compressed_offset():x}: compressed "
                    f"data is corrupt ({exc}); the rest of the file is ignored"
                )
                self._done = True
                return self._salvage(backup, step, size)
            if self._dec.eof:
                used = len(step) - len(self._dec.unused_data)
                self._in_member = False
            else:
                used = len(step) - len(self._dec.unconsumed_tail)
            self._input = self._input[used:]
            if out:
                return out
        return b""


class _Stream:
    """A sliding window over a byte source: ``buf[pos:]`` is what is left to parse."""

    __slots__ = ("read", "buf", "pos", "base", "eof")

    def __init__(self, read: Callable[[int], bytes]):
        self.read = read
        self.buf = b""
        self.pos = 0
        self.base = 0  # stream offset of buf[0]
        self.eof = False

    @property
    def offset(self) -> int:
        return self.base + self.pos

    @property
    def available(self) -> int:
        return len(self.buf) - self.pos

    def fill(self, need: int) -> bool:
        """Makes ``need`` bytes available from ``pos``; False when the data ends first.

        Bytes before ``pos`` are dropped, so callers must set ``pos`` to the first byte
        they still need before calling.
        """
        have = len(self.buf) - self.pos
        if have >= need:
            return True
        if self.eof:
            return False
        parts = [self.buf[self.pos :]] if have else []
        self.base += self.pos
        self.pos = 0
        while have < need:
            data = self.read(CHUNK_SIZE)
            if not data:
                self.eof = True
                break
            parts.append(data)
            have += len(data)
        self.buf = b"".join(parts)
        return have >= need

    def skip_all(self) -> None:
        """Consumes everything left."""
        while True:
            self.pos = len(self.buf)
            if not self.fill(1):
                return


class _PcapCursor:
    """Where ``_pcap_frames`` is in its buffer: position, frames so far, last seconds.

    ``next(buf)`` returns the next frame when its record is complete and plausible
    in ``buf``, else None, leaving ``pos`` at that record for ``_pcap_careful``.
    ``smtpcore._fastpath.PcapCursor`` is the compiled twin of this reference.
    """

    __slots__ = (
        "pos", "index", "last_sec", "_frame", "_big", "_frac_ns", "_max_frac", "_linktype",
        "_max_packet", "_size", "_rejected", "_unpack", "_skip",
    )  # fmt: skip

    def __init__(
        self, frame_type, pos, index, big_endian, frac_ns, max_frac, linktype,
        max_packet, record_size, rejected,
    ):  # fmt: skip
        self._frame = frame_type
        self.pos = pos
        self.index = index
        self.last_sec = None
        self._big = big_endian
        self._frac_ns = frac_ns
        self._max_frac = max_frac
        self._linktype = linktype
        self._max_packet = max_packet
        self._size = record_size
        self._rejected = rejected
        order = ">" if big_endian else "<"
        self._unpack = struct.Struct(order + "IIII").unpack_from
        self._skip = flowskip.skip_records

    def next(self, buf: bytes) -> Frame | None:
        pos = self.pos
        size = self._size
        if self._rejected:
            # Runs of frames that the reassembler would only ignore are stepped
            # over here, before any object is made for them.
            pos, skipped, sec = self._skip(
                buf, pos, self._big, self._frac_ns, self._linktype,
                self._max_packet, self._rejected, size,
            )  # fmt: skip
            if skipped:
                self.index += skipped
                self.last_sec = sec
                self.pos = pos
        if len(buf) - pos < size:
            return None
        sec, frac, incl, orig = self._unpack(buf, pos)
        stop = pos + size + incl
        if (
            incl > self._max_packet
            or (orig == 0 and incl == 0)
            or stop > len(buf)
            or frac >= self._max_frac  # warned about by _pcap_careful
        ):
            return None
        self.index += 1
        self.last_sec = sec
        self.pos = stop
        return self._frame(
            self.index,
            sec * 1_000_000_000 + frac * self._frac_ns,
            self._linktype,
            buf[pos + size : stop],
            orig,
        )


class CaptureReader:
    """Iterates over the frames of a pcap or pcapng file object.

    Attributes:
        format: 'pcap' or 'pcapng'.
        compressed: True when the file was gzip-compressed.
    """

    def __init__(
        self,
        fileobj: BinaryIO,
        warn: Callable[[str], None],
        secrets: Optional[Callable[[int, bytes, str], None]] = None,
    ):
        """Checks the file header.

        ``secrets(type, data, where)`` receives the content of each pcapng
        Decryption Secrets Block as it is read (before the packets after it).

        Raises:
            NotACapture: the content is neither pcap nor pcapng, also after gunzip.
        """
        self._warn = warn
        self._secrets = secrets
        self._raw = _CountingReader(fileobj, warn)
        self.compressed = False
        self._damage_count = 0
        self._last_ts = 0
        self._frames = 0
        # Flow keys whose frames may be stepped over unread (smtpcore.flowskip);
        # the pipeline hands in the reassembler's table.
        self.rejected: dict = {}
        stream = _Stream(self._raw.read)
        stream.fill(24)
        head = stream.buf[:4]
        kind = sniff(head)
        if kind == "gzip":
            self.compressed = True
            early: list[str] = []
            gunzip = _Gunzip(self._raw, stream.buf, early.append)
            stream = _Stream(gunzip.read)
            stream.fill(24)
            kind = sniff(stream.buf[:4])
            if kind not in ("pcap", "pcapng"):
                detail = f" ({'; '.join(early)})" if early else ""
                raise NotACapture(
                    "gzip-compressed, but the content is neither pcap nor pcapng"
                    + detail
                )
            gunzip.warn = warn
            for message in early:
                warn(message)
        elif kind is None:
            if not head:
                raise NotACapture("empty file, not a capture")
            raise NotACapture(
                f"neither pcap nor pcapng nor gzip (file starts with {head.hex()})"
            )
        self.format = kind
        self._stream = stream
        if kind == "pcap":
            self._open_pcap()
        else:
            self._open_pcapng()

    @property
    def position(self) -> int:
        """Bytes read so far from the underlying (possibly compressed) file object."""
        return self._raw.count

    def __iter__(self) -> Iterator[Frame]:
        """Yields the frames once; the file object is consumed as they come."""
        return self.items()

    def items(self, decoder=None) -> Iterator:
        """Yields the frames once, or with ``decoder`` some of them decoded.

        ``decoder`` is the compiled plain-case decoder (``PacketDecoder.fast``):
        the compiled pcap reader then hands out the TCP segment of each plain
        frame instead of the frame, and saves making an object for it; every
        other frame comes as a Frame, to be decoded by the caller.
        """
        if self.format == "pcap":
            frames = self._pcap_frames(decoder)
        else:
            frames = self._pcapng_frames(decoder)
        yield from frames
        hidden = self._damage_count - MAX_DAMAGE_WARNINGS
        if hidden > 0:
            self._warn(
                f"{hidden} more damaged areas not reported one by one "
                f"({self._damage_count} in total)"
            )

    # -- shared ----------------------------------------------------------------

    def _where(self, offset: int) -> str:
        suffix = " (uncompressed)" if self.compressed else ""
        return f"offset 0x{offset:x}{suffix}"

    def _damage(self, message: str) -> None:
        self._damage_count += 1
        if self._damage_count <= MAX_DAMAGE_WARNINGS:
            self._warn(message)

    def _resync(
        self, pattern: re.Pattern, check, reason: str, at_end: str | None = None
    ) -> None:
        """Skips damaged bytes up to the next position that ``check`` accepts.

        ``pattern`` finds candidate positions fast; ``check(buf, pos, end, eof)``
        returns True or False, or the number of bytes it needs from ``pos`` to decide.
        The stream is left at the accepted position, or at the end of the data; the
        warning uses ``at_end`` instead of ``reason`` when nothing follows.
        """
        s = self._stream
        start = s.offset
        where = f"frame {self._frames + 1}, {self._where(start)}"
        s.pos += 1
        while s.fill(1):
            buf = s.buf
            found = None
            for match in pattern.finditer(buf, s.pos):
                candidate = match.start()
                verdict = check(buf, candidate, len(buf), s.eof)
                if verdict is True:
                    found = candidate
                    break
                if verdict is False:
                    continue
                s.pos = candidate
                s.fill(verdict)
                found = -1  # the buffer moved: scan again from the candidate
                break
            if found is None:
                if s.eof:
                    break
                # Keep a short tail so that candidates spanning the refill are seen.
                s.pos = max(s.pos, len(buf) - 31)
                s.fill(32)
            elif found >= 0:
                s.pos = found
                self._damage(
                    f"{where}: {reason}; skipped {s.offset - start} damaged bytes, "
                    f"resuming at {self._where(s.offset)}"
                )
                return
        s.skip_all()
        self._damage(
            f"{where}: {at_end or reason}; no further records, "
            f"{s.offset - start} bytes skipped to the end of the data"
        )

    # -- pcap ------------------------------------------------------------------

    def _open_pcap(self) -> None:
        s = self._stream
        if not s.fill(24):
            raise NotACapture(
                f"pcap file header is truncated ({s.available} of 24 bytes)"
            )
        order, self._frac_ns, header_size = _PCAP_MAGICS[s.buf[:4]]
        _, _, _, _, _, snaplen, linktype = struct.unpack_from(order + "IHHiIII", s.buf)
        s.pos = 24
        self._linktype = linktype & 0xFFFF  # upper bits carry FCS information
        self._order = order
        pad = "8x" if header_size == 24 else ""
        self._record = struct.Struct(order + "IIII" + pad)
        self._max_frac = 1_000_000_000 // self._frac_ns
        self._plausible_len = snaplen if 0 < snaplen <= MAX_PACKET else MAX_PACKET

    def _pcap_frames(self, decoder=None) -> Iterator:
        s = self._stream
        arguments = (
            Frame,
            s.pos,
            self._frames,
            self._order == ">",
            self._frac_ns,
            self._max_frac,
            self._linktype,
            MAX_PACKET,
            self._record.size,
            self.rejected,
        )
        if _fastpath is None:
            cursor = _PcapCursor(*arguments)
        else:
            cursor = _fastpath.PcapCursor(*arguments, decoder)
        step = cursor.next
        while True:
            frame = step(s.buf)
            if frame is None:
                frame = self._pcap_careful(cursor)
                if frame is None:
                    continue
                if frame is _END:
                    return
            yield frame

    def _pcap_careful(self, cursor) -> Frame | None:
        """The record at ``cursor.pos`` that the cursor left alone: refill or damage.

        Returns None when the cursor can go on (from its updated position) and _END
        when the data ends.
        """
        s = self._stream
        size = self._record.size
        s.pos = cursor.pos
        if s.available < size:
            if not s.fill(size):
                if s.available:
                    self._damage(
                        f"frame {cursor.index + 1}, {self._where(s.offset)}: capture "
                        f"ends inside a record header ({s.available} bytes)"
                    )
                return _END
            cursor.pos = s.pos
            return None
        sec, frac, incl, orig = self._record.unpack_from(s.buf, s.pos)
        if incl <= MAX_PACKET and s.available < size + incl:
            s.fill(size + incl)
        buf, pos = s.buf, s.pos
        ts_ns = sec * 1_000_000_000 + frac * self._frac_ns
        self._frames = cursor.index
        if s.available < size + incl:
            if self._pcap_cut_short(sec, frac, incl, orig, cursor.last_sec):
                cursor.index += 1
                cursor.pos = s.pos
                return Frame(
                    cursor.index,
                    ts_ns,
                    self._linktype,
                    buf[pos + size :],
                    max(orig, incl),
                )
            past_end = True
        elif incl > MAX_PACKET or (orig == 0 and incl == 0):
            past_end = False
        elif frac >= self._max_frac:
            cursor.index += 1
            cursor.last_sec = sec
            cursor.pos = pos + size + incl
            self._damage(
                f"frame {cursor.index}, {self._where(s.base + pos)}: fraction of a "
                f"second {frac} {'ns' if self._frac_ns == 1 else 'µs'} is a second "
                "or more; the time is taken as written, that much later"
            )
            return Frame(
                cursor.index,
                ts_ns,
                self._linktype,
                buf[pos + size : pos + size + incl],
                orig,
            )
        else:  # whole now: the cursor takes it
            cursor.pos = pos
            return None
        self._pcap_damage(cursor.last_sec, incl, orig, past_end)
        cursor.pos = s.pos
        return None

    def _pcap_cut_short(self, sec, frac, incl, orig, last_sec) -> bool:
        """The file ends inside a plausible record: its bytes are kept (a full disk).

        A damaged header pointing past the end goes to the resynchronisation scan
        instead, which looks for records inside what follows.
        """
        s = self._stream
        size = self._record.size
        if not (
            s.eof
            and s.available > size
            and frac < self._max_frac
            and incl <= self._plausible_len
            and incl <= orig <= 0x1000000
            and (last_sec is None or abs(sec - last_sec) <= RESYNC_CLOSE_S)
        ):
            return False
        present = s.available - size
        self._damage(
            f"frame {self._frames + 1}, {self._where(s.offset)}: last record "
            f"truncated ({present} of {incl} bytes present); the {present} bytes "
            "are kept as a frame cut short"
        )
        s.skip_all()
        return True

    def _pcap_damage(self, last_sec, incl: int, orig: int, past_end: bool) -> None:
        s = self._stream
        at_end = None
        if incl > MAX_PACKET:
            reason = f"implausible record length {incl}"
        elif past_end:
            left = s.available - self._record.size
            reason = f"record of {incl} bytes runs past the end of the data"
            at_end = f"last record truncated ({left} of {incl} bytes present)"
        else:
            reason = f"implausible record header (length {incl}, original {orig})"
        pattern = self._pcap_pattern()
        self._resync(pattern, self._pcap_check(last_sec), reason, at_end)

    def _pcap_pattern(self) -> re.Pattern:
        """Finds, at C speed, spots whose bytes could start a record header.

        Fraction below one second, captured length below 256 KiB, original length
        non-zero and below 16 MiB: random bytes and zero fill rarely match.
        """
        fine = self._frac_ns == 1
        any_byte = b"[\\x00-\\xff]"
        if self._order == "<":
            frac_high = any_byte + b"[\\x00-\\x3b]" if fine else b"[\\x00-\\x0f]\\x00"
            pattern = (
                any_byte + b"{6}" + frac_high + any_byte + b"{2}[\\x00-\\x04]\\x00"
                b"(?!\\x00\\x00\\x00)" + any_byte + b"{3}\\x00"
            )
        else:
            frac_high = b"[\\x00-\\x3b]" + any_byte if fine else b"\\x00[\\x00-\\x0f]"
            pattern = (
                any_byte
                + b"{4}"
                + frac_high
                + any_byte
                + b"{2}\\x00[\\x00-\\x04]"
                + any_byte
                + b"{2}\\x00(?!\\x00\\x00\\x00)"
            )
        return re.compile(b"(?=" + pattern + b")")

    def _pcap_check(self, last_sec):
        """Accepts a record followed by another close in time to it.

        A record without a plausible successor is still taken when it ends the data
        or lies close in time to the last good record (damage right behind it).
        """
        unpack = self._record.unpack_from
        size = self._record.size
        max_frac = self._max_frac
        max_len = self._plausible_len

        def plausible(sec, frac, incl, orig):
            return (
                frac < max_frac
                and incl <= max_len
                and 0 < orig <= 0x1000000
                and incl <= orig
            )

        def close(sec, other):
            return other is not None and abs(sec - other) <= RESYNC_CLOSE_S

        def check(buf, pos, end, eof):
            if end - pos < size:
                return False if eof else size
            sec, frac, incl, orig = unpack(buf, pos)
            if not plausible(sec, frac, incl, orig):
                return False
            following = pos + size + incl
            if end - following < size:
                if not eof:
                    return following + size - pos
                return following == end and (last_sec is None or close(sec, last_sec))
            sec2, frac2, incl2, orig2 = unpack(buf, following)
            if plausible(sec2, frac2, incl2, orig2) and close(sec2, sec):
                return True
            return close(sec, last_sec)

        return check

    # -- pcapng ----------------------------------------------------------------

    def _open_pcapng(self) -> None:
        s = self._stream
        if not s.fill(12) or self._section_order(s.buf, s.pos) is None:
            raise NotACapture(
                "starts like pcapng, but the section header has no byte-order magic"
            )
        self._set_section("<")

    @staticmethod
    def _section_order(buf: bytes, pos: int) -> str | None:
        magic = buf[pos + 8 : pos + 12]
        if magic == b"\x4d\x3c\x2b\x1a":
            return "<"
        if magic == b"\x1a\x2b\x3c\x4d":
            return ">"
        return None

    def _set_section(self, order: str) -> None:
        self._order = order
        self._block_head = struct.Struct(order + "II")
        self._epb = struct.Struct(order + "IIIIIII")
        self._pb = struct.Struct(order + "IIHHIIII")
        self._u32 = struct.Struct(order + "I")
        self._interfaces: list[tuple] = []
        self._missing_interfaces: set[int] = set()

    def _pcapng_frames(self, decoder=None) -> Iterator:
        s = self._stream
        cursor = None
        if _fastpath is not None:
            cursor = _fastpath.PcapngCursor(
                Frame, _PACKET_BLOCK_BOUND, self.rejected, decoder
            )
        while True:
            if cursor is not None:
                # Runs of plain packet blocks compiled; this loop does the rest.
                cursor.sync(
                    s.pos, self._frames, self._last_ts, self._order == ">",
                    self._interfaces,
                )  # fmt: skip
                item = cursor.next(s.buf)
                while item is not None:
                    yield item
                    item = cursor.next(s.buf)
                s.pos = cursor.pos
                self._frames = cursor.index
                self._last_ts = cursor.last_ts
            if not s.fill(8):
                if s.available:
                    self._damage(
                        f"frame {self._frames + 1}, {self._where(s.offset)}: capture "
                        f"ends inside a block header ({s.available} bytes)"
                    )
                return
            buf, pos = s.buf, s.pos
            block_type, length = self._block_head.unpack_from(buf, pos)
            if (
                block_type == _EPB
                and 32 <= length <= _PACKET_BLOCK_BOUND
                and not length & 3
            ):
                frame = self._fast_enhanced_packet(length)
                if frame is not None:
                    self._frames = frame.index
                    self._last_ts = frame.ts_ns
                    yield frame
                    continue
                buf, pos = s.buf, s.pos
            if block_type == _SHB:
                if not s.fill(12):
                    self._pcapng_damage("truncated section header block")
                    continue
                buf, pos = s.buf, s.pos
                order = self._section_order(buf, pos)
                if order is None:
                    self._pcapng_damage("section header without byte-order magic")
                    continue
                length = struct.unpack_from(order + "I", buf, pos + 4)[0]
            bound = _PACKET_BLOCK_BOUND if block_type in _PACKET_BLOCKS else MAX_BLOCK
            if length < 12 or length & 3 or length > bound:
                self._pcapng_damage(
                    f"block of type 0x{block_type:x} has implausible length {length}"
                )
                continue
            if not s.fill(length):
                if block_type == _EPB:
                    frame = self._truncated_enhanced_packet()
                    if frame is not None:
                        self._frames = frame.index
                        yield frame
                        return
                self._pcapng_damage(
                    f"block of type 0x{block_type:x} and length {length} runs past "
                    f"the end of the data ({s.available} bytes left)"
                )
                continue
            buf, pos = s.buf, s.pos
            trailer = self._u32 if block_type != _SHB else struct.Struct(order + "I")
            if trailer.unpack_from(buf, pos + length - 4)[0] != length:
                self._pcapng_damage(
                    f"block of type 0x{block_type:x}: trailing length does not match "
                    f"{length}"
                )
                continue
            if block_type == _SHB:
                self._set_section(order)
            if block_type == _EPB:
                frame = self._enhanced_packet(buf, pos, length)
            elif block_type == _SPB:
                frame = self._simple_packet(buf, pos, length)
            elif block_type == _IDB:
                self._interface(buf, pos, length)
                frame = None
            elif block_type == _PB:
                frame = self._obsolete_packet(buf, pos, length)
            elif block_type == _DSB and self._secrets is not None:
                self._secrets_block(buf, pos, length)
                frame = None
            else:
                frame = None
            s.pos = pos + length
            if frame is not None:
                self._frames = frame.index
                self._last_ts = frame.ts_ns
                yield frame

    def _secrets_block(self, buf, pos: int, length: int) -> None:
        where = self._where(self._stream.base + pos)
        if length < 20:
            self._block_warning(pos, "Decryption Secrets Block too short, ignored")
            return
        kind, size = struct.unpack_from(self._order + "II", buf, pos + 8)
        if size > length - 20:
            self._block_warning(
                pos, "Decryption Secrets Block length too large, ignored"
            )
            return
        self._secrets(kind, bytes(buf[pos + 16 : pos + 16 + size]), where)

    def _fast_enhanced_packet(self, length: int) -> Frame | None:
        """The common case in one go; None sends the block down the careful path."""
        s = self._stream
        if not s.fill(length):
            return None
        buf, pos = s.buf, s.pos
        _, _, iface_id, high, low, caplen, orig = self._epb.unpack_from(buf, pos)
        interfaces = self._interfaces
        if (
            iface_id >= len(interfaces)
            or caplen > length - 32
            or self._u32.unpack_from(buf, pos + length - 4)[0] != length
        ):
            return None
        linktype, _, mul, shift, div, offset_ns = interfaces[iface_id]
        ts_ns = ((((high << 32) | low) * mul) >> shift) // div + offset_ns
        if not _TS_MIN <= ts_ns < _TS_MAX:
            return None  # the careful path says so
        s.pos = pos + length
        return Frame(
            self._frames + 1,
            ts_ns,
            linktype,
            buf[pos + 28 : pos + 28 + caplen],
            orig,
        )

    def _truncated_enhanced_packet(self) -> Frame | None:
        """The file ends inside a packet block: the packet bytes present are kept."""
        s = self._stream
        buf, pos = s.buf, s.pos
        if s.available <= 28:
            return None
        _, length, iface_id, high, low, caplen, orig = self._epb.unpack_from(buf, pos)
        if iface_id >= len(self._interfaces) or caplen > length - 32 or caplen > orig:
            return None
        linktype, _, mul, shift, div, offset_ns = self._interfaces[iface_id]
        ts_ns = ((((high << 32) | low) * mul) >> shift) // div + offset_ns
        if not _TS_MIN <= ts_ns < _TS_MAX:
            return None
        present = min(caplen, s.available - 28)
        if present == caplen:
            kept = f"after all {caplen} packet bytes; the packet is kept"
        else:
            kept = (
                f"({present} of {caplen} packet bytes present); the {present} "
                "bytes are kept as a frame cut short"
            )
        self._block_warning(pos, f"capture ends inside its packet block {kept}")
        data = buf[pos + 28 : pos + 28 + present]
        s.skip_all()
        return Frame(self._frames + 1, ts_ns, linktype, data, orig)

    def _pcapng_damage(self, reason: str) -> None:
        self._resync(self._pcapng_pattern(), self._pcapng_check, reason)

    def _pcapng_pattern(self) -> re.Pattern:
        types = {_PCAPNG_MAGIC}
        types.update(struct.pack(self._order + "I", t) for t in _KNOWN_BLOCKS)
        choice = b"|".join(re.escape(t) for t in sorted(types))
        return re.compile(b"(?s)(?=" + choice + b")")

    def _pcapng_check(self, buf, pos, end, eof):
        if end - pos < 12:
            return False if eof else 12
        order = self._order
        block_type = struct.unpack_from(order + "I", buf, pos)[0]
        if block_type == _SHB:
            order = self._section_order(buf, pos)
            if order is None:
                return False
        length = struct.unpack_from(order + "I", buf, pos + 4)[0]
        bound = _PACKET_BLOCK_BOUND if block_type in _PACKET_BLOCKS else MAX_BLOCK
        if length < 12 or length & 3 or length > bound:
            return False
        if end - pos < length:
            return False if eof else length
        return struct.unpack_from(order + "I", buf, pos + length - 4)[0] == length

    def _block_warning(self, pos: int, message: str) -> None:
        offset = self._stream.base + pos
        self._damage(f"frame {self._frames + 1}, {self._where(offset)}: {message}")

    def _interface(self, buf: bytes, pos: int, length: int) -> None:
        if length < 20:
            self._block_warning(pos, "interface description block too short")
            self._interfaces.append((-1, 0, 1, 0, 1, 0))
            return
        order = self._order
        linktype, _, snaplen = struct.unpack_from(order + "HHI", buf, pos + 8)
        resolution, offset_s = 6, 0
        opt, end = pos + 16, pos + length - 4
        option = struct.Struct(order + "HH")
        while opt + 4 <= end:
            code, size = option.unpack_from(buf, opt)
            if code == 0:
                break
            if opt + 4 + size > end:
                self._block_warning(pos, "interface options run past their block")
                break
            if code == 9 and size >= 1:
                resolution = buf[opt + 4]
            elif code == 14 and size >= 8:
                offset_s = struct.unpack_from(order + "q", buf, opt + 4)[0]
            opt += 4 + ((size + 3) & ~3)
        if resolution & 0x80:
            mul, shift, div = 1_000_000_000, resolution & 0x7F, 1
        elif resolution <= 9:
            mul, shift, div = 10 ** (9 - resolution), 0, 1
        else:
            mul, shift, div = 1, 0, 10 ** (resolution - 9)
        self._interfaces.append(
            (linktype, snaplen, mul, shift, div, offset_s * 1_000_000_000)
        )

    def _lookup_interface(self, pos: int, interface_id: int):
        if interface_id < len(self._interfaces):
            return self._interfaces[interface_id]
        if interface_id not in self._missing_interfaces:
            self._missing_interfaces.add(interface_id)
            self._block_warning(
                pos,
                f"packet refers to undescribed interface {interface_id}; "
                "its packets are skipped",
            )
        return None

    def _enhanced_packet(self, buf: bytes, pos: int, length: int) -> Frame | None:
        if length < 32:
            self._block_warning(pos, "enhanced packet block too short")
            return None
        _, _, iface_id, high, low, caplen, orig = self._epb.unpack_from(buf, pos)
        return self._packet(buf, pos, length, 28, iface_id, high, low, caplen, orig)

    def _obsolete_packet(self, buf: bytes, pos: int, length: int) -> Frame | None:
        if length < 32:
            self._block_warning(pos, "packet block too short")
            return None
        _, _, iface_id, _, high, low, caplen, orig = self._pb.unpack_from(buf, pos)
        return self._packet(buf, pos, length, 28, iface_id, high, low, caplen, orig)

    def _packet(self, buf, pos, length, head, iface_id, high, low, caplen, orig):
        interface = self._lookup_interface(pos, iface_id)
        if interface is None:
            return None
        if caplen > length - head - 4:
            self._block_warning(
                pos, f"captured length {caplen} exceeds its block; packet skipped"
            )
            return None
        linktype, _, mul, shift, div, offset_ns = interface
        ts_ns = ((((high << 32) | low) * mul) >> shift) // div + offset_ns
        if not _TS_MIN <= ts_ns < _TS_MAX:
            self._block_warning(
                pos,
                f"timestamp {ts_ns} ns lies beyond what 64 bits of nanoseconds hold "
                f"(years 1677 to 2262); the previous frame's time is used",
            )
            ts_ns = self._last_ts
        start = pos + head
        return Frame(
            self._frames + 1, ts_ns, linktype, buf[start : start + caplen], orig
        )

    def _simple_packet(self, buf: bytes, pos: int, length: int) -> Frame | None:
        if length < 16:
            self._block_warning(pos, "simple packet block too short")
            return None
        interface = self._lookup_interface(pos, 0)
        if interface is None:
            return None
        orig = self._u32.unpack_from(buf, pos + 8)[0]
        caplen = min(orig, length - 16)
        snaplen = interface[1]
        if snaplen:
            caplen = min(caplen, snaplen)
        start = pos + 12
        return Frame(
            self._frames + 1,
            self._last_ts,
            interface[0],
            buf[start : start + caplen],
            orig,
        )
