#!/usr/bin/env python3
"""Derives captures with capture-point artifacts from the real lab captures.

Real evidence is not clean: the capture point records ACKs before the data they
acknowledge, a SPAN port records frames twice, two interfaces with skewed clocks are
merged, NICs coalesce segments, ring buffers wrap. Each artifact below is applied to
a few lab captures (test_data/captures, ground truth in its MANIFEST.json); the
result is written to OUT/<artifact>/<source>.pcap[ng] with OUT/EXPECTED.json, which
says for every derived file where it came from and what must come out of it.

Only the capture point changes: the TCP payload of every connection is the one the
lab client and server exchanged, so the messages and credentials of the source
capture are exactly what an extractor must recover (truncated frames excepted, where
nothing may be called complete). Checksums are recomputed unless the artifact is
about checksums. The output is deterministic: the same sources always give the same
bytes (seeded random numbers, no clock, sorted JSON).

    python test_data/artifacts/derive.py [OUT]    # OUT defaults to this folder

Needs the standard library and dpkt (which parses the sources).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import pathlib
import random
import struct
import sys

import dpkt

HERE = pathlib.Path(__file__).resolve().parent
SOURCES = HERE.parent / "captures"

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MASK = 0xFFFFFFFF
SNAPLEN = 262144

# Source captures (ground truth in ../captures/MANIFEST.json), by what they exercise.
PLAIN = "postfix-auth-plain.pcap"  # DATA (dot-stuffed lines), AUTH PLAIN, 235
BDAT = "postfix-bdat-chunks.pcap"  # two BDAT messages, multi-segment chunks
FAIL = "postfix-auth-fail-then-success.pcap"  # PLAIN 535, then LOGIN 235
IPV6 = "postfix-ipv6.pcap"  # IPv6, AUTH LOGIN
PIPE = "postfix-pipelining-rejected-rcpt.pcap"  # PIPELINING, rejected recipients
FOX = "postfix-foxmail.pcap"  # a 3455-byte message in three segments
RSET = "postfix-rset-multi-message.pcap"  # three messages, an abandoned envelope
COMMON = (PLAIN, BDAT, FAIL, IPV6, PIPE)
IPV4_ONLY = (PLAIN, BDAT, FAIL, PIPE)
MULTI_SEGMENT = (BDAT, FOX)  # a client segment followed by another before its ACK


# -- packets -------------------------------------------------------------------


@dataclasses.dataclass
class Packet:
    """One captured TCP/IP packet, with how the capture point recorded it."""

    ts: int  # microseconds since the epoch
    client: bool  # sent by the client (the side of the SYN)
    eth_src: bytes
    eth_dst: bytes
    version: int
    src: bytes
    dst: bytes
    ip_id: int
    ttl: int
    tos: int
    df: bool
    flow: int  # IPv6 traffic class and flow label (32 bits with the version)
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    win: int
    urp: int
    opts: bytes
    payload: bytes
    # How the capture point recorded it:
    vlans: tuple = ()  # (tpid, tci) pairs, outermost first
    trailer: bytes = b""  # Ethernet bytes after the IP packet
    tcp_sum: str = "good"  # good | partial (offload: pseudo-header only) | bad
    ip_sum: str = "good"  # good | bad (IPv4 header)
    ip_len_zero: bool = False  # IPv4 total length 0 (segmentation offload)
    fragments: int = 0  # IPv4 fragments to cut the datagram into (0: none)
    reverse_fragments: bool = False  # fragments recorded last first
    snaplen: int = 0  # frame cut to this many bytes (0: not cut)
    iface: int = 0  # pcapng interface

    @property
    def seq_len(self) -> int:
        return len(self.payload) + bool(self.flags & SYN) + bool(self.flags & FIN)

    @property
    def end(self) -> int:
        return (self.seq + self.seq_len) & MASK

    @property
    def pure_ack(self) -> bool:
        return self.flags == ACK and not self.payload


def after(a: int, b: int) -> bool:
    """a is at or after b in sequence space (RFC 1982 arithmetic)."""
    return (a - b) & MASK < 1 << 31


def read_source(name: str) -> list[Packet]:
    """The packets of a lab capture (classic pcap, Ethernet, one TCP connection)."""
    raw = (SOURCES / name).read_bytes()
    magic = raw[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}[magic]
    (linktype,) = struct.unpack_from(endian + "I", raw, 20)
    if linktype != 1:
        raise ValueError(f"{name}: link type {linktype}, only Ethernet sources")
    packets = []
    pos = 24
    client = None
    while pos < len(raw):
        sec, usec, incl, orig = struct.unpack_from(endian + "IIII", raw, pos)
        frame = raw[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        if incl != orig:
            raise ValueError(f"{name}: truncated frame in a source")
        eth = dpkt.ethernet.Ethernet(frame)
        ip = eth.data
        tcp = ip.data
        if not isinstance(tcp, dpkt.tcp.TCP):
            raise ValueError(f"{name}: a frame that is not TCP")
        if client is None:
            if tcp.flags & (SYN | ACK) != SYN:
                raise ValueError(f"{name}: does not start with a SYN")
            client = (ip.src, tcp.sport)
        v6 = isinstance(ip, dpkt.ip6.IP6)
        if (
            (v6 and ip.nxt != 6)
            or (not v6 and ip.hl != 5)
            or eth.type
            not in (
                0x0800,
                0x86DD,
            )
        ):
            raise ValueError(f"{name}: IP options or extension headers in a source")
        packets.append(
            Packet(
                ts=sec * 1_000_000 + usec,
                client=(ip.src, tcp.sport) == client,
                eth_src=eth.src,
                eth_dst=eth.dst,
                version=6 if v6 else 4,
                src=ip.src,
                dst=ip.dst,
                ip_id=0 if v6 else ip.id,
                ttl=ip.hlim if v6 else ip.ttl,
                tos=0 if v6 else ip.tos,
                df=False if v6 else bool(ip.df),
                flow=struct.unpack_from("!I", frame, 14)[0] if v6 else 0,
                sport=tcp.sport,
                dport=tcp.dport,
                seq=tcp.seq,
                ack=tcp.ack,
                flags=tcp.flags,
                win=tcp.win,
                urp=tcp.urp,
                opts=bytes(tcp.opts),
                payload=bytes(tcp.data),
            )
        )
    return packets


# -- encoding ------------------------------------------------------------------


def tcp_bytes(p: Packet) -> bytes:
    header = struct.pack(
        "!HHIIBBHHH",
        p.sport,
        p.dport,
        p.seq & MASK,
        p.ack & MASK,
        (20 + len(p.opts)) // 4 << 4,
        p.flags,
        p.win,
        0,
        p.urp,
    )
    segment = header + p.opts + p.payload
    if p.version == 4:
        pseudo = struct.pack("!4s4sBBH", p.src, p.dst, 0, 6, len(segment))
    else:
        pseudo = struct.pack("!16s16sIxxxB", p.src, p.dst, len(segment), 6)
    if p.tcp_sum == "partial":  # what the NIC would have completed
        value = ~dpkt.in_cksum(pseudo) & 0xFFFF
    else:
        value = dpkt.in_cksum(pseudo + segment)
        if p.tcp_sum == "bad":
            value ^= 0x5A5A
    return segment[:16] + struct.pack("!H", value) + segment[18:]


def ipv4_header(p: Packet, length: int, offset: int, more: bool) -> bytes:
    flags = (0x4000 if p.df else 0) | (0x2000 if more else 0) | offset // 8
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        p.tos,
        0 if p.ip_len_zero else 20 + length,
        p.ip_id,
        flags,
        p.ttl,
        6,
        0,
        p.src,
        p.dst,
    )
    value = dpkt.in_cksum(header)
    if p.ip_sum == "bad":
        value ^= 0xA5A5
    return header[:10] + struct.pack("!H", value) + header[12:]


def ip_packets(p: Packet) -> list[bytes]:
    """The IP packet, or its fragments in the order they were recorded."""
    segment = tcp_bytes(p)
    if p.version == 6:
        return [
            struct.pack("!IHBB", p.flow, len(segment), 6, p.ttl)
            + p.src
            + p.dst
            + segment
        ]
    if not p.fragments:
        return [ipv4_header(p, len(segment), 0, False) + segment]
    share = -(-len(segment) // p.fragments)
    size = max(8, (share + 7) // 8 * 8)
    pieces = []
    for offset in range(0, len(segment), size):
        chunk = segment[offset : offset + size]
        more = offset + size < len(segment)
        pieces.append(ipv4_header(p, len(chunk), offset, more) + chunk)
    return pieces[::-1] if p.reverse_fragments else pieces


def link_frame(p: Packet, ip: bytes, linktype: int) -> bytes:
    ethertype = 0x86DD if p.version == 6 else 0x0800
    if linktype == 1:
        tags = b"".join(struct.pack("!HH", tpid, tci) for tpid, tci in p.vlans)
        frame = p.eth_dst + p.eth_src + tags + struct.pack("!H", ethertype) + ip
        return frame + p.trailer
    if linktype == 113:  # Linux cooked: packet type, ARPHRD_ETHER, address
        kind = 4 if p.client else 0  # sent by us / to us, captured on the client
        return (
            struct.pack("!HHH", kind, 1, 6)
            + p.eth_src
            + b"\0\0"
            + struct.pack("!H", ethertype)
            + ip
        )
    if linktype == 101:  # raw IP
        return ip
    raise ValueError(f"link type {linktype}")


def frames(p: Packet, linktype: int) -> list[tuple[int, bytes, int, int]]:
    """(ts, recorded bytes, original length, interface) for each frame of a packet."""
    out = []
    for ip in ip_packets(p):
        frame = link_frame(p, ip, linktype)
        recorded = frame[: p.snaplen] if p.snaplen else frame
        out.append((p.ts, recorded, len(frame), p.iface))
    return out


def write_pcap(path: pathlib.Path, packets: list[Packet], linktype: int = 1) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, linktype)]
    for p in packets:
        for ts, data, orig, _ in frames(p, linktype):
            sec, usec = divmod(ts, 1_000_000)
            out.append(struct.pack("<IIII", sec, usec, len(data), orig) + data)
    path.write_bytes(b"".join(out))


def _block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def write_pcapng(
    path: pathlib.Path, packets: list[Packet], interfaces: list[tuple[int, str]]
) -> None:
    """pcapng, one interface block per (link type, name); times in microseconds."""
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for linktype, name in interfaces:
        encoded = name.encode()
        options = struct.pack("<HH", 2, len(encoded)) + encoded
        options += b"\0" * (-len(options) % 4) + b"\0\0\0\0"
        out.append(_block(1, struct.pack("<HHI", linktype, 0, SNAPLEN) + options))
    for p in packets:
        for ts, data, orig, iface in frames(p, interfaces[p.iface][0]):
            body = struct.pack("<IIIII", iface, ts >> 32, ts & MASK, len(data), orig)
            out.append(_block(6, body + data))
    path.write_bytes(b"".join(out))


# -- helpers for the artifacts ---------------------------------------------------


def position(packets: list[Packet], packet: Packet) -> int:
    """Index of this very packet object (equal copies are other packets)."""
    return next(i for i, p in enumerate(packets) if p is packet)


def clone(p: Packet, **changes) -> Packet:
    q = copy.copy(p)
    for key, value in changes.items():
        setattr(q, key, value)
    return q


def retime(packets: list[Packet]) -> list[Packet]:
    """Hands the original times, in order, to the packets in their new order.

    A capture point that records packets in another order still writes increasing
    timestamps.
    """
    times = sorted(p.ts for p in packets)
    return [clone(p, ts=t) for p, t in zip(packets, times)]


def jitter_order(packets, rng, spread, keep_direction_order):
    """Reorders within small windows: each packet moves by at most about 2*spread."""
    keys = []
    last = {True: float("-inf"), False: float("-inf")}
    for index, p in enumerate(packets):
        key = index + rng.uniform(-spread, spread)
        if keep_direction_order:
            key = max(key, last[p.client] + 1e-6)
            last[p.client] = key
        keys.append(key)
    order = sorted(range(len(packets)), key=lambda i: (keys[i], i))
    return retime([packets[i] for i in order])


def data_segments(packets, client):
    return [p for p in packets if p.client == client and p.payload]


def largest(packets, client):
    return max(data_segments(packets, client), key=lambda p: (len(p.payload), -p.seq))


def stream_bytes(packets, client):
    """{absolute seq: byte} of one direction, from the packets' payloads."""
    stream = {}
    for p in packets:
        if p.client == client:
            for i, byte in enumerate(p.payload):
                stream.setdefault((p.seq + i) & MASK, byte)
    return stream


def first_covering(packets, start, target):
    """Index of the first packet after start from the other side that ACKs target."""
    for j in range(start, len(packets)):
        q = packets[j]
        if q.client != target.client and q.flags & ACK and after(q.ack, target.end):
            return j
    raise ValueError("no ACK covers the segment")


def between(packets, index):
    """A time just after packets[index-1] and not after packets[index]."""
    before = packets[index - 1].ts
    later = packets[index].ts if index < len(packets) else before + 2
    return min(before + 1, later)


def shift_seq(packets, client, delta):
    """Adds delta to one direction's sequence numbers (and the other's ACKs, SACKs)."""
    out = []
    for p in packets:
        if p.client == client:
            p = clone(p, seq=(p.seq + delta) & MASK)
        elif p.flags & ACK:
            p = clone(p, ack=(p.ack + delta) & MASK, opts=_shift_sack(p.opts, delta))
        out.append(p)
    return out


def _shift_sack(opts: bytes, delta: int) -> bytes:
    out = bytearray(opts)
    pos = 0
    while pos < len(out):
        kind = out[pos]
        if kind in (0, 1):
            pos += 1
            continue
        length = out[pos + 1]
        if kind == 5:
            for edge in range(pos + 2, pos + length, 4):
                (value,) = struct.unpack_from("!I", out, edge)
                struct.pack_into("!I", out, edge, (value + delta) & MASK)
        pos += max(length, 2)
    return bytes(out)


# -- the artifacts ---------------------------------------------------------------
# Each takes the source packets and a seeded random generator and returns the
# packets as the capture point recorded them.


def ack_before_data(packets, rng):
    """Each pure ACK moved a few µs before the first segment it acknowledges."""
    out = list(packets)
    acked = {True: None, False: None}
    for index, a in enumerate(packets):
        previous = acked[a.client]
        if a.flags & ACK:
            acked[a.client] = a.ack
        if not a.pure_ack or a.ack == previous:
            continue
        newly = [
            q
            for q in packets[:index]
            if q.client != a.client
            and q.seq_len
            and after(a.ack, q.end)
            and (previous is None or not after(previous, q.end))
        ]
        if not newly:
            continue
        del out[position(out, a)]
        target = position(out, newly[0])
        moved = clone(a, ts=newly[0].ts - 3)
        if target:
            moved.ts = max(moved.ts, out[target - 1].ts)
        out.insert(target, moved)
    return out


def reorder_window(packets, rng):
    """Reordered within small windows, both directions mixed, one at least in itself."""
    while True:
        out = jitter_order(packets, rng, 1.5, keep_direction_order=False)
        if any(
            [id_of(p) for p in out if p.client == side]
            != [id_of(p) for p in packets if p.client == side]
            for side in (True, False)
        ):
            return out


def id_of(p: Packet) -> tuple:
    return (p.client, p.seq, p.ack, p.flags, len(p.payload))


def reorder_directions(packets, rng):
    return jitter_order(packets, rng, 1.5, keep_direction_order=True)


def span_duplicates(packets, rng, vlan=False):
    out = []
    for index, p in enumerate(packets):
        later = packets[index + 1].ts if index + 1 < len(packets) else p.ts + 1
        copy_ = clone(p, ts=min(p.ts + 1, later))
        if vlan:
            copy_.vlans = ((0x8100, 100),)
        out += [p, copy_]
    return out


def span_duplicates_vlan(packets, rng):
    return span_duplicates(packets, rng, vlan=True)


def skew(packets, rng, offset_us):
    """Client side on interface 0, server side on interface 1 with its clock off."""
    moved = [
        clone(p, iface=0) if p.client else clone(p, iface=1, ts=p.ts + offset_us)
        for p in packets
    ]
    order = sorted(range(len(moved)), key=lambda i: (moved[i].ts, moved[i].iface, i))
    return [moved[i] for i in order]


def skew_minus_50ms(packets, rng):
    return skew(packets, rng, -50_000)


def skew_plus_50ms(packets, rng):
    return skew(packets, rng, 50_000)


def no_handshake(packets, rng):
    syn, syn_ack, ack = packets[:3]
    assert syn.flags == SYN and syn_ack.flags == SYN | ACK and ack.pure_ack
    return packets[3:]


def coalesce(packets, rng, zero_length=False):
    """GRO/TSO: runs of one direction's contiguous segments become one packet.

    Pure ACKs of the other side in between are recorded after the super-segment.
    """
    out = []
    index = 0
    while index < len(packets):
        p = packets[index]
        if not p.payload or p.flags & (SYN | FIN | RST):
            out.append(p)
            index += 1
            continue
        run, held = [p], []
        j = index + 1
        while j < len(packets):
            q = packets[j]
            if q.client != p.client and q.pure_ack:
                held.append(q)
            elif (
                q.client == p.client
                and q.payload
                and not q.flags & (SYN | FIN | RST)
                and q.seq == run[-1].end
            ):
                run.append(q)
            else:
                break
            j += 1
        if len(run) == 1:
            out.append(p)
            index += 1
            continue
        last = run[-1]
        flags = 0
        for q in run:
            flags |= q.flags
        out.append(
            clone(
                p,
                ts=last.ts,
                ack=last.ack,
                win=last.win,
                flags=flags,
                payload=b"".join(q.payload for q in run),
                ip_len_zero=zero_length,
            )
        )
        consumed = set(map(id, run + held))
        out += held
        index = j
        while index < len(packets) and id(packets[index]) in consumed:
            index += 1
    return out


def coalesce_zero_length(packets, rng):
    return coalesce(packets, rng, zero_length=True)


def snaplen_96(packets, rng):
    return [clone(p, snaplen=96) for p in packets]


def late_retransmission_after_ack(packets, rng):
    """The largest client segment lost, its retransmission after the covering ACK."""
    target = largest(packets, True)
    out = [p for p in packets if p is not target]
    covering = first_covering(out, 0, target)
    position = min(covering + 3, len(out))
    out.insert(position, clone(target, ts=between(out, position)))
    return out


def late_retransmission_before_ack(packets, rng):
    """A client segment lost; its copy after later client data, before any ACK of it."""
    for target in data_segments(packets, True):
        index = packets.index(target)
        covering = first_covering(packets, index + 1, target)
        later = [
            j
            for j in range(index + 1, covering)
            if packets[j].client and packets[j].payload
        ]
        if later:
            break
    else:
        raise ValueError("no client segment followed by more data before its ACK")
    out = [p for p in packets if p is not target]
    position = covering - 1  # the covering ACK moved up by one with the removal
    out.insert(position, clone(target, ts=between(out, position)))
    return out


def overlapping_retransmissions(packets, rng):
    """After each pair of contiguous segments, a resend straddling their boundary."""
    out = []
    previous = {True: None, False: None}
    streams = {side: stream_bytes(packets, side) for side in (True, False)}
    for index, p in enumerate(packets):
        out.append(p)
        if not p.payload:
            continue
        a = previous[p.client]
        previous[p.client] = p
        if a is None or a.end != p.seq:
            continue
        start = (a.seq + len(a.payload) // 2) & MASK
        stop = (p.seq + (len(p.payload) + 1) // 2) & MASK
        length = (stop - start) & MASK
        stream = streams[p.client]
        payload = bytes(stream[(start + i) & MASK] for i in range(length))
        later = packets[index + 1].ts if index + 1 < len(packets) else p.ts + 1
        ts = min(p.ts + 1, later)
        out.append(clone(p, ts=ts, seq=start, payload=payload, flags=ACK | PSH))
    return out


def ring_appended(packets, rng):
    """The file appended to itself: every frame twice, with the same times."""
    return list(packets) + list(packets)


def ring_rotated(packets, rng):
    """A wrapped ring buffer read from its write position: the later half first."""
    middle = len(packets) // 2
    return packets[middle:] + packets[:middle]


def fragment(packets, rng, reverse=False):
    out = []
    for index, p in enumerate(packets):
        if len(p.payload) >= 16:
            p = clone(
                p,
                fragments=3,
                reverse_fragments=reverse,
                df=False,
                ip_id=0x4000 + index,
            )
        out.append(p)
    return out


def fragments_in_order(packets, rng):
    return fragment(packets, rng)


def fragments_out_of_order(packets, rng):
    return fragment(packets, rng, reverse=True)


def two_interfaces(packets, rng):
    return [clone(p, iface=0 if p.client else 1) for p in packets]


def seq_wrap(packets, rng):
    """ISNs moved so that both streams cross 2^32 inside their largest segment."""
    out = packets
    for side in (True, False):
        isn = next(p.seq for p in packets if p.client == side and p.flags & SYN)
        target = largest(packets, side)
        middle = (target.seq - isn + len(target.payload) // 2) & MASK
        out = shift_seq(out, side, ((1 << 32) - middle - isn) & MASK)
    return out


def bad_checksums(packets, rng):
    """Client TCP checksums left to the NIC, server ones wrong, every other IP header."""
    return [
        clone(
            p,
            tcp_sum="partial" if p.client else "bad",
            ip_sum="bad" if index % 2 and p.version == 4 else "good",
        )
        for index, p in enumerate(packets)
    ]


def ethernet_trailers(packets, rng):
    """Frames padded to 60 bytes and followed by trailer bytes beyond the IP length."""
    out = []
    for p in packets:
        size = 14 + (40 if p.version == 6 else 20) + 20 + len(p.opts) + len(p.payload)
        padding = b"\0" * max(0, 60 - size)
        out.append(clone(p, trailer=padding + b"\xde\xad\xbe\xef\x5a\xa5"))
    return out


def keep_alives(packets, rng):
    """Keep-alives (seq-1; one garbage byte from the client, none from the server)."""
    chosen = set(map(id, data_segments(packets, True)[1::2]))
    out = []
    for index, p in enumerate(packets):
        if id(p) in chosen:
            t = spread(out[-1].ts, p.ts, 4)
            server = server_ack(packets[:index], t[1])
            out += [
                clone(p, ts=t[0], seq=(p.seq - 1) & MASK, payload=b"\0", flags=ACK),
                server,
                clone(server, ts=t[2], seq=(server.seq - 1) & MASK),
                clone(p, ts=t[3], payload=b"", flags=ACK),
            ]
        out.append(p)
    return out


def spread(start: int, stop: int, count: int) -> list[int]:
    """count times between two packets' times, increasing, never past either end."""
    return [start + (stop - start) * (i + 1) // (count + 1) for i in range(count)]


def server_ack(earlier, ts):
    """A pure ACK the server would send now: its next seq, the client's next byte."""
    server = [p for p in earlier if not p.client]
    client = [p for p in earlier if p.client]
    model = server[-1]
    return clone(
        model, ts=ts, seq=model.end, ack=client[-1].end, flags=ACK, payload=b""
    )


def zero_window_probes(packets, rng):
    """Before the largest client segment and the first: window 0, probe, reopening."""
    targets = {id(largest(packets, True)), id(data_segments(packets, True)[0])}
    out = []
    for index, p in enumerate(packets):
        if id(p) in targets:
            t = spread(out[-1].ts, p.ts, 4)
            opened = server_ack(packets[:index], t[3])
            closed = clone(opened, ts=t[0], win=0)
            out += [
                closed,
                clone(p, ts=t[1], payload=p.payload[:1], flags=ACK),
                clone(closed, ts=t[2]),
                opened,
            ]
        out.append(p)
    return out


def vlan_client_only(packets, rng):
    return [clone(p, vlans=((0x8100, 25),)) if p.client else p for p in packets]


def qinq_server_only(packets, rng):
    tags = ((0x88A8, 300), (0x8100, 25))
    return [p if p.client else clone(p, vlans=tags) for p in packets]


def syn_retransmitted(packets, rng):
    """SYN sent three times (1 s, then 2 s apart), SYN-ACK twice with a second ACK."""
    syn, syn_ack, ack = packets[:3]
    return [
        clone(syn, ts=syn.ts - 3_000_000),
        clone(syn, ts=syn.ts - 2_000_000),
        syn,
        syn_ack,
        ack,
        clone(syn_ack, ts=ack.ts + 1),
        clone(ack, ts=ack.ts + 2),
    ] + packets[3:]


def syn_late(packets, rng):
    """A delayed copy of the SYN after the EHLO reply, and the server's challenge ACK."""
    position = 8  # SYN, SYN-ACK, ACK, banner, ACK, EHLO, ACK, EHLO reply
    reply = packets[position - 1]
    assert not reply.client and reply.payload.startswith(b"250-")
    ts = between(packets, position)
    syn = clone(packets[0], ts=ts)
    challenge = server_ack(packets[:position], ts + 1)
    return packets[:position] + [syn, challenge] + packets[position:]


def clock_step(packets, rng, step_us):
    middle = len(packets) // 2
    return packets[:middle] + [clone(p, ts=p.ts + step_us) for p in packets[middle:]]


def clock_step_back(packets, rng):
    return clock_step(packets, rng, -3600_000_000)


def clock_step_forward(packets, rng):
    return clock_step(packets, rng, 3600_000_000)


# -- catalogue -------------------------------------------------------------------
# name: (function, sources, container, what tshark must show, description)

ETH2 = [(1, "client-side"), (1, "server-side")]

ARTIFACTS = {
    "ack-before-data": (
        ack_before_data,
        COMMON,
        "pcap",
        {"flags": ["tcp.analysis.ack_lost_segment"], "acks_unseen_data": True},
        "Every pure ACK recorded a few µs before the first segment it acknowledges "
        "(GRO, mirrored ports, multi-queue NICs).",
    ),
    "reorder-window": (
        reorder_window,
        COMMON + (FOX,),
        "pcap",
        {"reordered": True, "direction_order_changed": True},
        "Frames reordered within windows of a few frames, both directions mixed; "
        "timestamps stay increasing.",
    ),
    "reorder-directions": (
        reorder_directions,
        COMMON,
        "pcap",
        {"reordered": True, "direction_order_kept": True},
        "Frames of the two directions interleaved differently within small windows, "
        "each direction keeping its own order.",
    ),
    "span-duplicates": (
        span_duplicates,
        COMMON,
        "pcap",
        {"flags": ["tcp.analysis.duplicate_ack", "tcp.analysis.retransmission"]},
        "SPAN port: every frame recorded twice, the copy 1 µs later.",
    ),
    "span-duplicates-vlan": (
        span_duplicates_vlan,
        (PLAIN, BDAT, IPV6),
        "pcap",
        {"flags": ["tcp.analysis.retransmission"], "vlan": True},
        "SPAN port: every frame recorded twice, the copy with an 802.1Q tag (VLAN 100).",
    ),
    "skew-minus-50ms": (
        skew_minus_50ms,
        COMMON,
        ("pcapng", ETH2),
        {"acks_unseen_data": True, "two_interfaces": True},
        "Directions captured on two interfaces and merged by time; the server-side "
        "clock 50 ms behind, so replies seem to precede their commands.",
    ),
    "skew-plus-50ms": (
        skew_plus_50ms,
        COMMON,
        ("pcapng", ETH2),
        {"acks_unseen_data": True, "two_interfaces": True},
        "Directions captured on two interfaces and merged by time; the server-side "
        "clock 50 ms ahead, so commands seem to run ahead of the replies.",
    ),
    "no-handshake": (
        no_handshake,
        COMMON,
        "pcap",
        {"no_syn": True},
        "The capture starts after the SYN, SYN-ACK and ACK.",
    ),
    "tso-gro": (
        coalesce,
        MULTI_SEGMENT,
        "pcap",
        {"larger_than_mss": True},
        "GRO/TSO super-segments: consecutive segments of one direction coalesced into "
        "one IP packet larger than the MSS.",
    ),
    "tso-ip-length-zero": (
        coalesce_zero_length,
        MULTI_SEGMENT,
        "pcap",
        {"larger_than_mss": True, "ip_len_zero": True},
        "TSO super-segments recorded on the sender with IPv4 total length 0.",
    ),
    "snaplen-96": (
        snaplen_96,
        COMMON,
        "pcap",
        {"truncated": True},
        "Every frame cut to 96 bytes (snapshot length), original length kept.",
    ),
    "late-retransmission-after-ack": (
        late_retransmission_after_ack,
        COMMON + (FOX,),
        "pcap",
        {"flags": ["tcp.analysis.ack_lost_segment"], "acks_unseen_data": True},
        "The largest client segment lost at the capture point; its retransmission "
        "recorded three frames after the server's ACK covering it.",
    ),
    "late-retransmission-before-ack": (
        late_retransmission_before_ack,
        MULTI_SEGMENT,
        "pcap",
        {"flags": ["tcp.analysis.lost_segment"]},
        "A client segment lost at the capture point; its retransmission recorded "
        "after the next client segment, before any ACK covers it.",
    ),
    "overlapping-retransmissions": (
        overlapping_retransmissions,
        COMMON + (FOX,),
        "pcap",
        {"flags": ["tcp.analysis.out_of_order"], "overlaps": True},
        "After every two contiguous segments of one direction, a resend of the same "
        "bytes from the middle of the first to the middle of the second.",
    ),
    "ring-appended": (
        ring_appended,
        (PLAIN, BDAT, FAIL),
        "pcap",
        {"flags": ["tcp.analysis.retransmission"], "time_goes_back": True},
        "The file appended to itself (ring buffer written twice): every frame twice, "
        "with the same times.",
    ),
    "ring-rotated": (
        ring_rotated,
        (PLAIN, BDAT, FAIL, IPV6),
        "pcap",
        {"time_goes_back": True},
        "A wrapped ring buffer: the second half of the capture first, then the first.",
    ),
    "ipv4-fragments": (
        fragments_in_order,
        IPV4_ONLY,
        "pcap",
        {"fragments": True},
        "Every packet with 16 or more payload bytes cut into three IPv4 fragments.",
    ),
    "ipv4-fragments-reversed": (
        fragments_out_of_order,
        IPV4_ONLY,
        "pcap",
        {"fragments": True},
        "Every packet with 16 or more payload bytes cut into three IPv4 fragments, "
        "recorded last fragment first.",
    ),
    "pcapng-ethernet-sll": (
        two_interfaces,
        (PLAIN, BDAT, IPV6),
        ("pcapng", [(1, "client-side"), (113, "server-side")]),
        {"two_interfaces": True},
        "pcapng: client frames on an Ethernet interface, server frames on a Linux "
        "cooked (SLL) one.",
    ),
    "pcapng-ethernet-raw": (
        two_interfaces,
        (PLAIN, FAIL, IPV6),
        ("pcapng", [(1, "client-side"), (101, "server-side")]),
        {"two_interfaces": True},
        "pcapng: client frames on an Ethernet interface, server frames on a raw IP one.",
    ),
    "seq-wrap": (
        seq_wrap,
        COMMON,
        "pcap",
        {"seq_wrap": True},
        "ISNs chosen so that both sequence numbers wrap through 2^32 inside the "
        "largest segment of each direction.",
    ),
    "bad-checksums": (
        bad_checksums,
        COMMON,
        "pcap",
        {"bad_checksums": True},
        "Client TCP checksums left to offload (pseudo-header only), server TCP "
        "checksums wrong, every other IPv4 header checksum wrong.",
    ),
    "ethernet-trailers": (
        ethernet_trailers,
        COMMON,
        "pcap",
        {"trailers": True},
        "Short frames padded to 60 bytes; every frame with 6 trailer bytes after the "
        "IP packet.",
    ),
    "keep-alives": (
        keep_alives,
        COMMON,
        "pcap",
        {"flags": ["tcp.analysis.keep_alive", "tcp.analysis.keep_alive_ack"]},
        "Before every other client command: a client keep-alive (seq-1, one garbage "
        "0x00 byte), its ACK, a server keep-alive (seq-1, no data) and its ACK.",
    ),
    "zero-window-probes": (
        zero_window_probes,
        COMMON,
        "pcap",
        {
            "flags": [
                "tcp.analysis.zero_window",
                "tcp.analysis.zero_window_probe",
                "tcp.analysis.zero_window_probe_ack",
            ]
        },
        "Before the client's first and largest segments: server window 0, a one-byte "
        "probe it does not accept, window 0 again, window reopened, then the segment.",
    ),
    "vlan-client-only": (
        vlan_client_only,
        COMMON,
        "pcap",
        {"vlan": True},
        "802.1Q tag (VLAN 25) on client-to-server frames only.",
    ),
    "qinq-server-only": (
        qinq_server_only,
        COMMON,
        "pcap",
        {"vlan": True, "qinq": True},
        "802.1ad + 802.1Q tags (QinQ, 300/25) on server-to-client frames only.",
    ),
    "syn-retransmitted": (
        syn_retransmitted,
        (PLAIN, BDAT, IPV6),
        "pcap",
        {"flags": ["tcp.analysis.retransmission"]},
        "The SYN sent three times, the SYN-ACK twice, the handshake ACK twice.",
    ),
    "syn-late": (
        syn_late,
        (PLAIN, FAIL, IPV6),
        "pcap",
        {"late_syn": True},
        "A delayed copy of the SYN recorded after the EHLO reply, followed by the "
        "server's challenge ACK.",
    ),
    "clock-step-back": (
        clock_step_back,
        (PLAIN, BDAT, FAIL),
        "pcap",
        {"time_goes_back": True},
        "The capture clock steps back one hour in the middle of the session.",
    ),
    "clock-step-forward": (
        clock_step_forward,
        (PLAIN, BDAT, FAIL),
        "pcap",
        {"time_jumps": True},
        "The capture clock steps forward one hour in the middle of the session.",
    ),
}


# -- expectations ----------------------------------------------------------------


def truth(manifest: dict, name: str) -> dict:
    (entry,) = [c for c in manifest["captures"] if c["file"] == name]
    actual = hashlib.sha256((SOURCES / name).read_bytes()).hexdigest()
    if actual != entry["file_sha256"]:
        raise ValueError(f"{name} is not the capture MANIFEST.json describes")
    sessions = entry["sessions"]
    return {
        "sessions": len(sessions),
        "messages": [
            {
                "sha256": m["sha256"],
                "size": m["size"],
                "transfer": m["transfer"],
                "mail_from": m["mail_from"],
                "rcpt_accepted": m["rcpt_accepted"],
                "rcpt_rejected": [
                    [r["address"], r["reply_code"]] for r in m["rcpt_rejected"]
                ],
            }
            for s in sessions
            for m in s["messages"]
        ],
        "credentials": [
            {
                "mechanism": a["mechanism"],
                "username": a["username"],
                "password": a["password"],
                "password_hex": a["password_hex"],
                "success": a["success"],
            }
            for s in sessions
            for a in s["auth"]
        ],
    }


def derive(out: pathlib.Path) -> dict:
    manifest = json.loads((SOURCES / "MANIFEST.json").read_text(encoding="utf-8"))
    expected = {}
    for artifact, (function, sources, container, tshark, text) in ARTIFACTS.items():
        folder = out / artifact
        folder.mkdir(parents=True, exist_ok=True)
        for source in sources:
            packets = read_source(source)
            seed = f"{artifact}/{source}"
            derived = function(packets, random.Random(seed))
            if derived == packets:
                raise AssertionError(f"{seed}: the artifact changed nothing")
            stem = source.rsplit(".", 1)[0]
            if container == "pcap":
                path = folder / f"{stem}.pcap"
                write_pcap(path, derived)
            else:
                path = folder / f"{stem}.pcapng"
                write_pcapng(path, derived, container[1])
            relative = path.relative_to(out).as_posix()
            expected[relative] = {
                "artifact": artifact,
                "description": text,
                "sources": [source],
                "source_sha256": hashlib.sha256(
                    (SOURCES / source).read_bytes()
                ).hexdigest(),
                "truncated": artifact == "snaplen-96",
                "tshark": tshark,
                **truth(manifest, source),
            }
    document = {
        "about": (
            "Captures derived by derive.py from the lab captures in "
            "test_data/captures: what each must give. 'messages' and 'credentials' "
            "are the source capture's ground truth (MANIFEST.json): every message "
            "byte-exact (sha256 of the content as transmitted, without dot-stuffing) "
            "exactly once, every credential with its outcome. Where 'truncated' is "
            "true the frames were cut: no message may be called complete and nothing "
            "may be invented. 'tshark' names what check_with_tshark.py confirms is "
            "really in the file (outcome in CHECKED.json)."
        ),
        "files": expected,
    }
    (out / "EXPECTED.json").write_text(
        json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return document


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=str(HERE), help="output folder")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out).resolve()
    if out == SOURCES.resolve() or SOURCES.resolve() in out.parents:
        parser.error("the output folder must not be inside the source captures")
    document = derive(out)
    print(f"{len(document['files'])} captures written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
