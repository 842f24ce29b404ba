"""Builds packets and writes pcap/pcapng captures for tests.

Everything works in memory; ``write_pcap`` and ``write_pcapng`` take an open binary
file object (e.g. ``io.BytesIO``) or a path. Timestamps are integer nanoseconds.

Typical use::

    frames = tcp_conversation(exchanges=[(0, b"EHLO x\\r\\n"), (1, b"250 ok\\r\\n")])
    buf = io.BytesIO()
    write_pcap(buf, frames)

Checksums are filled in (IPv4 header, TCP), so captures also look right in Wireshark.
"""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import os
import struct
from typing import BinaryIO, Iterable, Sequence

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

CLIENT_MAC = bytes.fromhex("020000000001")
SERVER_MAC = bytes.fromhex("020000000002")

# -- addresses and checksums ----------------------------------------------------


def packed(address: str) -> bytes:
    """'10.0.0.1' -> 4 bytes, '2001:db8::1' -> 16 bytes."""
    return ipaddress.ip_address(address).packed


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# -- TCP and IP -----------------------------------------------------------------


def tcp_header(
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    window: int = 65535,
    options: bytes = b"",
    pseudo_header: bytes | None = None,
) -> bytes:
    """A TCP segment (header + payload); checksummed when a pseudo-header is given."""
    options += b"\0" * (-len(options) % 4)
    offset = (20 + len(options)) // 4
    header = struct.pack(
        "!HHIIBBHHH",
        sport,
        dport,
        seq & 0xFFFFFFFF,
        ack & 0xFFFFFFFF,
        offset << 4,
        flags,
        window,
        0,
        0,
    )
    segment = header + options + payload
    if pseudo_header is not None:
        value = checksum(pseudo_header + segment)
        segment = segment[:16] + struct.pack("!H", value) + segment[18:]
    return segment


def ipv4_packet(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    ident: int = 0,
    ttl: int = 64,
    options: bytes = b"",
    dont_fragment: bool = True,
    more_fragments: bool = False,
    fragment_offset: int = 0,
    total_length: int | None = None,
) -> bytes:
    """An IPv4 packet; ``fragment_offset`` in bytes (a multiple of 8)."""
    options += b"\0" * (-len(options) % 4)
    ihl = 5 + len(options) // 4
    flags = (0x4000 if dont_fragment else 0) | (0x2000 if more_fragments else 0)
    if total_length is None:
        total_length = ihl * 4 + len(payload)
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        total_length,
        ident,
        flags | (fragment_offset // 8),
        ttl,
        proto,
        0,
        packed(src),
        packed(dst),
    )
    header += options
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def _pseudo_v4(src: str, dst: str, length: int, proto: int = 6) -> bytes:
    return packed(src) + packed(dst) + struct.pack("!BBH", 0, proto, length)


def _pseudo_v6(src: str, dst: str, length: int, proto: int = 6) -> bytes:
    return packed(src) + packed(dst) + struct.pack("!IxxxB", length, proto)


def ipv4_tcp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    ident: int = 0,
    ip_options: bytes = b"",
    tcp_options: bytes = b"",
    window: int = 65535,
) -> bytes:
    """An IPv4 packet carrying one TCP segment."""
    length = 20 + len(tcp_options) + (-len(tcp_options) % 4) + len(payload)
    segment = tcp_header(
        sport,
        dport,
        seq,
        ack,
        flags,
        payload,
        window,
        tcp_options,
        _pseudo_v4(src, dst, length),
    )
    return ipv4_packet(src, dst, 6, segment, ident=ident, options=ip_options)


def ipv6_packet(
    src: str,
    dst: str,
    next_header: int,
    payload: bytes,
    hop_limit: int = 64,
    extension_headers: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    """An IPv6 packet; ``extension_headers`` are (type, body) in order of appearance.

    Bodies are padded to the 8-byte multiple the type needs (the fragment header, 44,
    must be given whole: 6 bytes after the next-header and reserved bytes).
    """
    chain = b""
    types = [t for t, _ in extension_headers] + [next_header]
    for (kind, body), following in zip(extension_headers, types[1:]):
        if kind == 44:
            chain += bytes([following, 0]) + body
        elif kind == 51:
            body += b"\0" * (-(len(body) + 2) % 4)
            chain += bytes([following, (len(body) + 2) // 4 - 2]) + body
        else:
            body += b"\0" * (-(len(body) + 2) % 8)
            chain += bytes([following, (len(body) + 2) // 8 - 1]) + body
    first = types[0]
    header = struct.pack(
        "!IHBB16s16s",
        0x60000000,
        len(chain) + len(payload),
        first,
        hop_limit,
        packed(src),
        packed(dst),
    )
    return header + chain + payload


def ipv6_tcp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    extension_headers: Sequence[tuple[int, bytes]] = (),
    tcp_options: bytes = b"",
    window: int = 65535,
) -> bytes:
    """An IPv6 packet carrying one TCP segment (checksum ignores routing headers)."""
    length = 20 + len(tcp_options) + (-len(tcp_options) % 4) + len(payload)
    segment = tcp_header(
        sport,
        dport,
        seq,
        ack,
        flags,
        payload,
        window,
        tcp_options,
        _pseudo_v6(src, dst, length),
    )
    return ipv6_packet(src, dst, 6, segment, extension_headers=extension_headers)


def ipv4_fragments(packet: bytes, size: int) -> list[bytes]:
    """Splits an IPv4 packet into fragments carrying ``size`` bytes (multiple of 8)."""
    if size % 8:
        raise ValueError("fragment size must be a multiple of 8")
    header_length = (packet[0] & 15) * 4
    header, payload = packet[:header_length], packet[header_length:]
    ident, ttl, proto = struct.unpack_from("!H", header, 4)[0], header[8], header[9]
    src = ipaddress.ip_address(header[12:16]).compressed
    dst = ipaddress.ip_address(header[16:20]).compressed
    options = header[20:]
    pieces = []
    for offset in range(0, len(payload), size):
        pieces.append(
            ipv4_packet(
                src,
                dst,
                proto,
                payload[offset : offset + size],
                ident=ident,
                ttl=ttl,
                options=options,
                dont_fragment=False,
                more_fragments=offset + size < len(payload),
                fragment_offset=offset,
            )
        )
    return pieces


def ipv6_fragments(
    src: str,
    dst: str,
    next_header: int,
    fragmentable: bytes,
    size: int,
    ident: int,
    unfragmentable: Sequence[tuple[int, bytes]] = (),
) -> list[bytes]:
    """IPv6 fragments of ``fragmentable`` (the bytes after the fragment header).

    Args:
        next_header: type of the first header inside ``fragmentable`` (6 for TCP).
        size: bytes per fragment, a multiple of 8 except for the last.
        unfragmentable: extension headers (type, body) before the fragment header.
    """
    if size % 8:
        raise ValueError("fragment size must be a multiple of 8")
    pieces = []
    for offset in range(0, len(fragmentable), size):
        more = offset + size < len(fragmentable)
        fragment_header = struct.pack("!HI", offset | int(more), ident)
        pieces.append(
            ipv6_packet(
                src,
                dst,
                next_header,
                fragmentable[offset : offset + size],
                extension_headers=[*unfragmentable, (44, fragment_header)],
            )
        )
    return pieces


def tcp_segment_bytes(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
) -> bytes:
    """A checksummed TCP segment alone (to fragment it with ``ipv6_fragments``)."""
    length = 20 + len(payload)
    pseudo = (_pseudo_v6 if ":" in src else _pseudo_v4)(src, dst, length)
    return tcp_header(sport, dport, seq, ack, flags, payload, pseudo_header=pseudo)


# -- link layers ----------------------------------------------------------------


def _ethertype_of(ip_packet: bytes) -> int:
    return 0x86DD if ip_packet[0] >> 4 == 6 else 0x0800


def ethernet(
    ip_packet: bytes,
    vlan: int | Sequence[int | tuple[int, int]] | None = None,
    src: bytes = CLIENT_MAC,
    dst: bytes = SERVER_MAC,
    ethertype: int | None = None,
) -> bytes:
    """An Ethernet II frame; ``vlan`` is a VLAN id or a list of tags, outer first.

    A tag is a VLAN id (TPID 0x8100) or a (TPID, VLAN id) pair, e.g.
    ``[(0x88A8, 100), (0x8100, 200)]`` for QinQ.
    """
    if ethertype is None:
        ethertype = _ethertype_of(ip_packet)
    tags = b""
    if vlan is not None:
        for tag in [vlan] if isinstance(vlan, int) else vlan:
            tpid, vid = (0x8100, tag) if isinstance(tag, int) else tag
            tags += struct.pack("!HH", tpid, vid & 0x0FFF)
    return dst + src + tags + struct.pack("!H", ethertype) + ip_packet


def pppoe(ip_packet: bytes, session: int = 1) -> bytes:
    """An Ethernet frame with a PPPoE session header (ethertype 0x8864)."""
    protocol = 0x0057 if ip_packet[0] >> 4 == 6 else 0x0021
    header = struct.pack("!BBHHH", 0x11, 0, session, len(ip_packet) + 2, protocol)
    return ethernet(header + ip_packet, ethertype=0x8864)


def ppp(
    ip_packet: bytes, hdlc: bool = True, compressed_protocol: bool = False
) -> bytes:
    """A PPP frame (link types 9, 50), optionally with FF 03 and a 1-byte protocol."""
    protocol = 0x57 if ip_packet[0] >> 4 == 6 else 0x21
    field = bytes([protocol]) if compressed_protocol else struct.pack("!H", protocol)
    return (b"\xff\x03" if hdlc else b"") + field + ip_packet


def sll(ip_packet: bytes, packet_type: int = 0) -> bytes:
    """A Linux cooked (SLL, link type 113) frame."""
    address = CLIENT_MAC + b"\0\0"
    return (
        struct.pack("!HHH8sH", packet_type, 1, 6, address, _ethertype_of(ip_packet))
        + ip_packet
    )


def sll2(ip_packet: bytes, ifindex: int = 2, packet_type: int = 0) -> bytes:
    """A Linux cooked v2 (SLL2, link type 276) frame."""
    address = CLIENT_MAC + b"\0\0"
    header = struct.pack(
        "!HHIHBB8s", _ethertype_of(ip_packet), 0, ifindex, 1, packet_type, 6, address
    )
    return header + ip_packet


def null_loopback(
    ip_packet: bytes, big_endian: bool = False, family: int | None = None
) -> bytes:
    """A BSD loopback frame (link types 0 and 108): address family, then IP."""
    if family is None:
        family = 24 if ip_packet[0] >> 4 == 6 else 2
    return struct.pack(">I" if big_endian else "<I", family) + ip_packet


# -- pcap -----------------------------------------------------------------------


def _open(target):
    if isinstance(target, (str, os.PathLike)):
        return open(target, "wb"), True
    return target, False


def write_pcap(
    target: BinaryIO | str | os.PathLike,
    frames: Iterable[tuple],
    linktype: int = 1,
    nanosecond: bool = False,
    big_endian: bool = False,
    snaplen: int = 262144,
) -> None:
    """Writes a classic pcap file.

    Args:
        target: binary file object or path.
        frames: (ts_ns, data) or (ts_ns, data, orig_len) tuples; with microsecond
            resolution the timestamp is rounded down to the microsecond.
    """
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    fh, owned = _open(target)
    try:
        fh.write(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        for ts_ns, data, *rest in frames:
            orig_len = rest[0] if rest else len(data)
            seconds, nanos = divmod(ts_ns, 1_000_000_000)
            fraction = nanos if nanosecond else nanos // 1000
            fh.write(
                struct.pack(order + "IIII", seconds, fraction, len(data), orig_len)
            )
            fh.write(data)
    finally:
        if owned:
            fh.close()


def pcap_bytes(frames: Iterable[tuple], **kwargs) -> bytes:
    """The pcap file ``write_pcap`` would write, as bytes."""
    buf = io.BytesIO()
    write_pcap(buf, frames, **kwargs)
    return buf.getvalue()


# -- pcapng ---------------------------------------------------------------------


@dataclasses.dataclass
class Interface:
    """An Interface Description Block.

    ``tsresol`` is the raw if_tsresol byte: 6 = microseconds, 9 = nanoseconds,
    0x80 | n = 2**-n seconds. ``tsoffset`` is if_tsoffset in seconds. None leaves the
    option out (the reader then assumes microseconds and no offset).
    """

    linktype: int = 1
    snaplen: int = 0
    tsresol: int | None = None
    tsoffset: int | None = None

    def ticks(self, ts_ns: int) -> int:
        """The timestamp in this interface's units (rounded down)."""
        ts_ns -= (self.tsoffset or 0) * 1_000_000_000
        resolution = 6 if self.tsresol is None else self.tsresol
        if resolution & 0x80:
            return (ts_ns << (resolution & 0x7F)) // 1_000_000_000
        return ts_ns * 10**resolution // 1_000_000_000


@dataclasses.dataclass
class EPB:
    """An Enhanced Packet Block."""

    interface: int
    ts_ns: int
    data: bytes
    orig_len: int | None = None


@dataclasses.dataclass
class SPB:
    """A Simple Packet Block (always interface 0, no timestamp)."""

    data: bytes
    orig_len: int | None = None


@dataclasses.dataclass
class PB:
    """An obsolete Packet Block."""

    interface: int
    ts_ns: int
    data: bytes
    orig_len: int | None = None


@dataclasses.dataclass
class RawBlock:
    """Any other block, written as given (type and body, padded)."""

    block_type: int
    body: bytes = b""


@dataclasses.dataclass
class Section:
    """A section: its interfaces (written first) and its blocks in order."""

    interfaces: list[Interface]
    blocks: list
    big_endian: bool = False


def _block(order: str, block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return (
        struct.pack(order + "II", block_type, length)
        + body
        + struct.pack(order + "I", length)
    )


def _option(order: str, code: int, value: bytes) -> bytes:
    return (
        struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)
    )


def pcapng_block(section: Section, block) -> bytes:
    """One block of ``section`` as bytes (for tests that damage files)."""
    order = ">" if section.big_endian else "<"
    if isinstance(block, RawBlock):
        return _block(order, block.block_type, block.body)
    orig_len = len(block.data) if block.orig_len is None else block.orig_len
    if isinstance(block, SPB):
        return _block(order, 3, struct.pack(order + "I", orig_len) + block.data)
    ticks = section.interfaces[block.interface].ticks(block.ts_ns)
    high, low = ticks >> 32, ticks & 0xFFFFFFFF
    if isinstance(block, EPB):
        head = struct.pack(
            order + "IIIII", block.interface, high, low, len(block.data), orig_len
        )
        return _block(order, 6, head + block.data)
    if isinstance(block, PB):
        head = struct.pack(
            order + "HHIIII", block.interface, 0, high, low, len(block.data), orig_len
        )
        return _block(order, 2, head + block.data)
    raise TypeError(f"unknown block {block!r}")


def write_pcapng(target: BinaryIO | str | os.PathLike, sections: Iterable[Section]):
    """Writes a pcapng file with the given sections."""
    fh, owned = _open(target)
    try:
        for section in sections:
            order = ">" if section.big_endian else "<"
            shb = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)
            fh.write(_block(order, 0x0A0D0D0A, shb + _option(order, 0, b"")))
            for interface in section.interfaces:
                options = b""
                if interface.tsresol is not None:
                    options += _option(order, 9, bytes([interface.tsresol]))
                if interface.tsoffset is not None:
                    value = struct.pack(order + "q", interface.tsoffset)
                    options += _option(order, 14, value)
                if options:
                    options += _option(order, 0, b"")
                body = struct.pack(
                    order + "HHI", interface.linktype, 0, interface.snaplen
                )
                fh.write(_block(order, 1, body + options))
            for block in section.blocks:
                fh.write(pcapng_block(section, block))
    finally:
        if owned:
            fh.close()


# -- whole conversations ----------------------------------------------------------


def tcp_conversation(
    client: tuple[str, int] = ("10.0.0.1", 40000),
    server: tuple[str, int] = ("10.0.0.2", 25),
    exchanges: Iterable[tuple[int, bytes]] = (),
    mss: int = 1460,
    start_ns: int = 1_700_000_000_000_000_000,
    step_ns: int = 1_000_000,
    isn_client: int = 1_000_000,
    isn_server: int = 2_000_000,
    handshake: bool = True,
    close: bool = True,
    ipv6: bool = False,
    link=ethernet,
) -> list[tuple[int, bytes]]:
    """A complete TCP connection as (ts_ns, frame) pairs, one ``step_ns`` apart.

    The connection opens with SYN, SYN/ACK, ACK; each exchange (direction 0 =
    client to server, 1 = server to client, data) is cut into ``mss``-sized segments,
    each answered by a pure ACK from the peer (PSH is set on the last segment of an
    exchange); it closes with FIN/ACK from the client, FIN/ACK from the server and a
    last ACK. Sequence numbers wrap modulo 2**32, so an ISN near 2**32 tests wrap.

    The SYN carries ``isn_*``, so the first data byte has sequence number ``isn + 1``.
    Without the handshake the data still starts at ``isn + 1``.

    With ``ipv6=True``, IPv4 addresses are embedded as ``fd00::a.b.c.d``.
    ``link`` wraps each IP packet into a frame (default: Ethernet).
    """
    client_ip, client_port = client
    server_ip, server_port = server
    if ipv6:
        client_ip, server_ip = (
            f"fd00::{address}" if ":" not in address else address
            for address in (client_ip, server_ip)
        )
    build = ipv6_tcp if ":" in client_ip else ipv4_tcp
    seq = [isn_client & 0xFFFFFFFF, isn_server & 0xFFFFFFFF]
    ends = [(client_ip, client_port), (server_ip, server_port)]
    frames: list[tuple[int, bytes]] = []

    def send(direction: int, flags: int, payload: bytes = b"") -> None:
        (src, sport), (dst, dport) = ends[direction], ends[1 - direction]
        ack = seq[1 - direction] if flags & ACK else 0
        packet = build(src, dst, sport, dport, seq[direction], ack, flags, payload)
        frames.append((start_ns + len(frames) * step_ns, link(packet)))
        consumed = len(payload) + (1 if flags & (SYN | FIN) else 0)
        seq[direction] = (seq[direction] + consumed) & 0xFFFFFFFF

    if handshake:
        send(0, SYN)
        send(1, SYN | ACK)
        send(0, ACK)
    else:
        seq = [(s + 1) & 0xFFFFFFFF for s in seq]
    for direction, data in exchanges:
        for offset in range(0, len(data), mss):
            last = offset + mss >= len(data)
            send(direction, ACK | (PSH if last else 0), data[offset : offset + mss])
            send(1 - direction, ACK)
    if close:
        send(0, FIN | ACK)
        send(1, FIN | ACK)
        send(0, ACK)
    return frames
