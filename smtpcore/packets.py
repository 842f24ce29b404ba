"""Frames in, TCP segments out: link layers, IPv4/IPv6 with fragments, TCP.

Checksums are not verified: offloading makes them wrong in many real captures.
A frame cut short by the snapshot length yields a segment with the payload that is
there; reassembly later sees the missing bytes as a gap.

Problems are counted in ``stats``; the first few of each kind are reported one by
one through ``warn`` and the rest summed up by ``finish()``, so a damaged capture
does not flood the log.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
from typing import Callable

from smtpcore import flowskip
from smtpcore.capture import Frame

_fastpath = flowskip.compiled("_fastpath")
"""The compiled plain-case decoder (smtpcore/_fastpath.pyx), or None: pure Python."""

MAX_PENDING_DATAGRAMS = 1024
"""Fragmented datagrams held at once; the oldest is dropped beyond that."""

FRAGMENT_TIMEOUT_NS = 30 * 1_000_000_000
"""Capture time after which an incomplete fragmented datagram is dropped."""

MAX_FRAGMENTS = 256
"""Fragments accepted for one datagram."""

MAX_WARNINGS_PER_KIND = 10
"""Warnings of one kind reported individually before finish() sums them up."""

_MAX_DATAGRAM = 65535
_VLAN_TPIDS = frozenset((0x8100, 0x88A8, 0x9100, 0x9200))
_IPV6_OPTION_HEADERS = frozenset((0, 43, 60, 135, 139, 140, 253, 254))
_IPV6_NOT_LAST = _IPV6_OPTION_HEADERS | {44, 51}
_NULL_IPV6 = frozenset((10, 24, 28, 30))  # AF_INET6 on Linux, BSDs and macOS
_RAW_LINKTYPES = frozenset((12, 14, 101, 228, 229))
_PPP_LINKTYPES = frozenset((9, 50))

_IPV4 = struct.Struct("!BxHHHxB2x4s4s")
_IPV6 = struct.Struct("!BxxxHBx16s16s")
_TCP = struct.Struct("!HHIIBB")
_U32_LE = struct.Struct("<I")
_U32_BE = struct.Struct(">I")

_STAT_NAMES = (
    "frames",
    "tcp",
    "non_tcp",
    "malformed",
    "truncated",
    "unknown_linktype",
    "fragments",
    "fragments_reassembled",
    "fragments_dropped",
)


@dataclasses.dataclass(slots=True)
class Segment:
    """One TCP segment with the addresses of the IP packet that carried it."""

    ts_ns: int
    frame: int
    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    payload: bytes
    missing: int = 0
    """Payload bytes the packet carried but the snapshot length cut off."""


def ip_text(addr: bytes) -> str:
    """Renders a packed IPv4 or IPv6 address ('192.0.2.1', '2001:db8::1')."""
    if len(addr) == 4:
        return socket.inet_ntop(socket.AF_INET, addr)
    if len(addr) == 16:
        return socket.inet_ntop(socket.AF_INET6, addr)
    raise ValueError(f"not a packed IP address: {addr!r}")


class _Datagram:
    """The fragments of one IP datagram seen so far."""

    __slots__ = ("first_ts", "first_frame", "pieces", "total", "stored")

    def __init__(self, ts_ns: int, frame: int):
        self.first_ts = ts_ns
        self.first_frame = frame
        self.pieces: list[tuple[int, bytes]] = []  # (offset, bytes), arrival order
        self.total: int | None = None  # known once the last fragment is seen
        self.stored = 0


class PacketDecoder:
    """Decodes frames into TCP segments, reassembling IP fragments on the way.

    Attributes:
        stats: counters: frames (decoded), tcp (segments returned), non_tcp (other
            protocols), malformed (bad headers), truncated (cut by the snapshot
            length), unknown_linktype, fragments (TCP fragments seen),
            fragments_reassembled and fragments_dropped (datagrams).
    """

    def __init__(self, warn: Callable[[str], None]):
        self._warn = warn
        self.stats: dict[str, int] = dict.fromkeys(_STAT_NAMES, 0)
        self._warnings: dict[str, int] = {}
        self._unknown_linktypes: set[int] = set()
        self._pending: dict[tuple, _Datagram] = {}
        # The plain case of every frame compiled (the rest falls back here); the
        # compiled pcap reader uses it too (CaptureReader.items).
        self.fast = None
        if _fastpath is not None:
            self.fast = _fastpath.FastDecoder(Segment, self.stats, self.decode)
            self.decode = self.fast.decode

    # -- public ----------------------------------------------------------------

    def decode(self, frame: Frame) -> Segment | None:
        """Returns the TCP segment in a frame, or None (non-TCP, undecodable)."""
        self.stats["frames"] += 1
        data = frame.data
        linktype = frame.linktype
        if linktype == 1:
            if len(data) < 14:
                return self._short(frame, "Ethernet header")
            ethertype = (data[12] << 8) | data[13]
            if ethertype == 0x0800:
                return self._ipv4(frame, data, 14)
            return self._ethertype(frame, data, ethertype, 14)
        if linktype in _RAW_LINKTYPES:
            return self._ip(frame, data, 0)
        if linktype == 113:
            if len(data) < 16:
                return self._short(frame, "Linux cooked header")
            return self._ethertype(frame, data, (data[14] << 8) | data[15], 16)
        if linktype == 276:
            if len(data) < 20:
                return self._short(frame, "Linux cooked v2 header")
            return self._ethertype(frame, data, (data[0] << 8) | data[1], 20)
        if linktype == 0 or linktype == 108:
            return self._null(frame, data)
        if linktype in _PPP_LINKTYPES:
            return self._ppp(frame, data, 0)
        if linktype == 204:  # PPP with a direction byte first
            return self._ppp(frame, data, 1)
        if linktype == 51:  # PPPoE session header without Ethernet
            return self._ethertype(frame, data, 0x8864, 0)
        self.stats["unknown_linktype"] += 1
        if linktype not in self._unknown_linktypes:
            self._unknown_linktypes.add(linktype)
            self._warn(
                f"frame {frame.index}: link type {linktype} is not supported; "
                "frames with it are skipped"
            )
        return None

    def finish(self) -> None:
        """Reports what is still pending at the end of the capture, and summaries."""
        for key in list(self._pending):
            self._drop(key, "capture ended before all fragments arrived")
        for kind, count in self._warnings.items():
            if count > MAX_WARNINGS_PER_KIND:
                self._warn(
                    f"{count - MAX_WARNINGS_PER_KIND} more {kind} warnings not "
                    f"shown ({count} in total)"
                )
        self._warnings.clear()
        truncated = self.stats["truncated"]
        if truncated:
            self._warn(
                f"{truncated} frames were cut short by the snapshot length; "
                "their TCP payload is incomplete"
            )

    # -- reporting -------------------------------------------------------------

    def _report(self, kind: str, message: str) -> None:
        count = self._warnings.get(kind, 0) + 1
        self._warnings[kind] = count
        if count <= MAX_WARNINGS_PER_KIND:
            self._warn(message)

    def _malformed(self, frame: Frame, message: str) -> None:
        self.stats["malformed"] += 1
        self._report("malformed packet", f"frame {frame.index}: {message}")
        return None

    def _short(self, frame: Frame, what: str) -> None:
        """A header is incomplete: snapshot cut (counted) or damage (reported)."""
        if len(frame.data) < frame.orig_len:
            self.stats["truncated"] += 1
            return None
        return self._malformed(frame, f"{what} incomplete")

    # -- link layers -----------------------------------------------------------

    def _ethertype(self, frame, data, ethertype, off):
        while True:
            if ethertype == 0x0800:
                return self._ipv4(frame, data, off)
            if ethertype == 0x86DD:
                return self._ipv6(frame, data, off)
            if ethertype in _VLAN_TPIDS:
                if len(data) < off + 4:
                    return self._short(frame, "VLAN tag")
                ethertype = (data[off + 2] << 8) | data[off + 3]
                off += 4
            elif ethertype == 0x8864:  # PPPoE session
                if len(data) < off + 8:
                    return self._short(frame, "PPPoE header")
                return self._ppp_protocol(
                    frame, data, (data[off + 6] << 8) | data[off + 7], off + 8
                )
            elif ethertype == 0x8847 or ethertype == 0x8848:  # MPLS label stack
                while True:
                    if len(data) < off + 4:
                        return self._short(frame, "MPLS label")
                    off += 4
                    if data[off - 2] & 1:
                        break
                return self._ip(frame, data, off)
            elif ethertype <= 1500:  # 802.3 length; IP only behind LLC/SNAP
                if data[off : off + 3] != b"\xaa\xaa\x03" or len(data) < off + 8:
                    self.stats["non_tcp"] += 1
                    return None
                ethertype = (data[off + 6] << 8) | data[off + 7]
                off += 8
            else:
                self.stats["non_tcp"] += 1
                return None

    def _null(self, frame, data):
        if len(data) < 4:
            return self._short(frame, "loopback header")
        family = _U32_LE.unpack_from(data)[0]
        if family > 0xFFFF:  # written by a host of the other byte order
            family = _U32_BE.unpack_from(data)[0]
        if family == 2:
            return self._ipv4(frame, data, 4)
        if family in _NULL_IPV6:
            return self._ipv6(frame, data, 4)
        self.stats["non_tcp"] += 1
        return None

    def _ppp(self, frame, data, off):
        if data[off : off + 2] == b"\xff\x03":  # HDLC address and control
            off += 2
        if len(data) < off + 1:
            return self._short(frame, "PPP header")
        if data[off] & 1:  # compressed one-byte protocol field
            return self._ppp_protocol(frame, data, data[off], off + 1)
        if len(data) < off + 2:
            return self._short(frame, "PPP header")
        return self._ppp_protocol(
            frame, data, (data[off] << 8) | data[off + 1], off + 2
        )

    def _ppp_protocol(self, frame, data, protocol, off):
        if protocol == 0x21:
            return self._ipv4(frame, data, off)
        if protocol == 0x57:
            return self._ipv6(frame, data, off)
        self.stats["non_tcp"] += 1
        return None

    def _ip(self, frame, data, off):
        if len(data) <= off:
            return self._short(frame, "IP header")
        version = data[off] >> 4
        if version == 4:
            return self._ipv4(frame, data, off)
        if version == 6:
            return self._ipv6(frame, data, off)
        return self._malformed(frame, f"IP version {version} where IP was expected")

    # -- IPv4 ------------------------------------------------------------------

    def _ipv4(self, frame, data, off):
        if len(data) - off < 20:
            return self._short(frame, "IPv4 header")
        version_ihl, total, ident, fragment, proto, src, dst = _IPV4.unpack_from(
            data, off
        )
        if version_ihl >> 4 != 4:
            return self._malformed(
                frame, f"IPv4 header with version {version_ihl >> 4}"
            )
        header = (version_ihl & 15) * 4
        if header < 20:
            return self._malformed(frame, f"IPv4 header length {header}")
        if proto != 6:
            self.stats["non_tcp"] += 1
            return None
        if total == 0:  # segmentation offload: the length was never filled in
            end = len(data)
            full_end = end + frame.orig_len - len(frame.data)
        elif total < header:
            return self._malformed(frame, f"IPv4 total length {total} < header")
        else:
            full_end = end = off + total
            if end > len(data):
                end = len(data)
        clipped = full_end if len(data) < frame.orig_len and end == len(data) else 0
        start = off + header
        if start > end:
            return self._short(frame, "IPv4 options")
        if fragment & 0x3FFF:
            declared = total - header if total else end - start
            datagram = self._fragment(
                frame,
                (4, src, dst, ident),
                (fragment & 0x1FFF) * 8,
                fragment & 0x2000,
                data[start:end],
                declared,
            )
            if datagram is None:
                return None
            return self._tcp(frame, datagram, 0, len(datagram), src, dst, False, False)
        return self._tcp(frame, data, start, end, src, dst, clipped)

    # -- IPv6 ------------------------------------------------------------------

    def _ipv6(self, frame, data, off):
        if len(data) - off < 40:
            return self._short(frame, "IPv6 header")
        version, length, next_header, src, dst = _IPV6.unpack_from(data, off)
        if version >> 4 != 6:
            return self._malformed(frame, f"IPv6 header with version {version >> 4}")
        start = off + 40
        full_end = start + length if length else len(data)  # 0: jumbogram, offload
        end = min(full_end, len(data))
        if len(data) < frame.orig_len and end == len(data):
            # The snapshot cut the packet; with no length field (jumbogram,
            # offload) the frame's original length says how much is missing.
            clipped = full_end if length else end + frame.orig_len - len(frame.data)
        else:
            clipped = 0
        return self._ipv6_payload(
            frame, data, start, end, full_end, next_header, src, dst, clipped, True
        )

    def _ipv6_payload(
        self, frame, data, pos, end, full_end, next_header, src, dst, clipped, outer
    ):
        while True:
            if next_header == 6:
                return self._tcp(frame, data, pos, end, src, dst, clipped, outer)
            if next_header not in _IPV6_NOT_LAST:
                self.stats["non_tcp"] += 1
                return None
            if end - pos < 8:
                return self._short(frame, "IPv6 extension header")
            if next_header == 44:
                if not outer:
                    return self._malformed(frame, "IPv6 fragment inside a fragment")
                inner = data[pos]
                offset_flags = (data[pos + 2] << 8) | data[pos + 3]
                ident = _U32_BE.unpack_from(data, pos + 4)[0]
                pos += 8
                offset, more = offset_flags & 0xFFF8, offset_flags & 1
                if not offset and not more:  # atomic fragment
                    next_header = inner
                    continue
                if inner != 6 and inner not in _IPV6_NOT_LAST:
                    self.stats["non_tcp"] += 1
                    return None
                datagram = self._fragment(
                    frame,
                    (6, src, dst, ident),
                    offset,
                    more,
                    data[pos:end],
                    full_end - pos,
                )
                if datagram is None:
                    return None
                size = len(datagram)
                return self._ipv6_payload(
                    frame, datagram, 0, size, size, inner, src, dst, False, False
                )
            if next_header == 51:  # authentication header
                size = (data[pos + 1] + 2) * 4
            else:
                size = (data[pos + 1] + 1) * 8
            next_header = data[pos]
            pos += size
            if pos > end:
                return self._short(frame, "IPv6 extension header")

    # -- fragments -------------------------------------------------------------

    def _fragment(self, frame, key, offset, more, chunk, declared):
        """Stores a fragment; returns the datagram's payload once it is complete."""
        stats = self.stats
        stats["fragments"] += 1
        pending = self._pending
        self._expire(frame.ts_ns)
        if offset + declared > _MAX_DATAGRAM:
            return self._malformed(
                frame, f"fragment ends at {offset + declared}, beyond 65535 bytes"
            )
        datagram = pending.get(key)
        if datagram is None:
            if len(pending) >= MAX_PENDING_DATAGRAMS:
                self._drop(next(iter(pending)), "too many incomplete datagrams")
            datagram = pending[key] = _Datagram(frame.ts_ns, frame.index)
        if not more:
            last = offset + declared
            if datagram.total is not None and datagram.total != last:
                self._report(
                    "fragment",
                    f"frame {frame.index}: fragments disagree on the datagram "
                    f"length ({datagram.total} and {last}); keeping the first",
                )
            else:
                datagram.total = last
        datagram.pieces.append((offset, chunk))
        datagram.stored += len(chunk)
        if len(datagram.pieces) > MAX_FRAGMENTS or datagram.stored > 2 * _MAX_DATAGRAM:
            self._drop(key, "too many fragments")
            return None
        total = datagram.total
        if total is None:
            return None
        covered = 0
        for start, piece in sorted(datagram.pieces, key=_first):
            if start > covered:
                return None
            covered = max(covered, start + len(piece))
        if covered < total:
            return None
        del pending[key]
        stats["fragments_reassembled"] += 1
        return self._assemble(frame, datagram, total)

    def _assemble(self, frame, datagram, total):
        """Joins the pieces; where they overlap, the first-received bytes win."""
        buffer = bytearray(total)
        pieces = datagram.pieces
        conflict = False
        for index in range(len(pieces) - 1, -1, -1):
            start, piece = pieces[index]
            piece = piece[: max(0, total - start)]
            buffer[start : start + len(piece)] = piece
        for index, (start, piece) in enumerate(pieces):
            piece = piece[: max(0, total - start)]
            if bytes(buffer[start : start + len(piece)]) != piece:
                conflict = True
                break
        if conflict:
            self._report(
                "fragment",
                f"frame {frame.index}: overlapping fragments with different content "
                f"(datagram begun in frame {datagram.first_frame}); kept the bytes "
                "received first",
            )
        return bytes(buffer)

    def _expire(self, now: int) -> None:
        pending = self._pending
        while pending:
            key = next(iter(pending))
            if now - pending[key].first_ts <= FRAGMENT_TIMEOUT_NS:
                return
            self._drop(key, "not completed within 30 s of capture time")

    def _drop(self, key, reason: str) -> None:
        datagram = self._pending.pop(key)
        self.stats["fragments_dropped"] += 1
        version, src, dst, ident = key
        self._report(
            "fragment",
            f"frame {datagram.first_frame}: fragmented IPv{version} datagram "
            f"{ip_text(src)} -> {ip_text(dst)} id 0x{ident:x} dropped: {reason} "
            f"({len(datagram.pieces)} fragments)",
        )

    # -- TCP -------------------------------------------------------------------

    def _tcp(self, frame, data, off, end, src, dst, clipped, outer=True):
        """``clipped``: 0, or where the packet ended before the snapshot cut it."""
        if end - off < 20:
            if outer:
                return self._short(frame, "TCP header")
            return self._malformed(frame, "reassembled TCP header incomplete")
        sport, dport, seq, ack, data_offset, flags = _TCP.unpack_from(data, off)
        header = (data_offset >> 4) * 4
        if header < 20:
            return self._malformed(frame, f"TCP header length {header}")
        start = off + header
        missing = 0
        if clipped:
            missing = max(clipped - max(start, end), 0)
        if start > end:
            if not clipped:
                return self._malformed(frame, "TCP options run past the packet")
            start = end
        if clipped:
            self.stats["truncated"] += 1
        self.stats["tcp"] += 1
        return Segment(
            frame.ts_ns,
            frame.index,
            src,
            dst,
            sport,
            dport,
            seq,
            ack,
            flags,
            data[start:end],
            missing,
        )


def _first(item):
    return item[0]
