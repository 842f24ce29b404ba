"""Tests for smtpcore.packets: link layers, IP, fragments, TCP; and pcapgen itself."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pcapgen  # tests/ is on sys.path under pytest (no tests/__init__.py)
from pcapgen import ACK, FIN, PSH, SYN
from smtpcore import packets
from smtpcore.capture import CaptureReader, Frame
from smtpcore.packets import PacketDecoder, Segment, ip_text

EXTERNAL = Path(__file__).resolve().parents[2] / "shared/corpus/external"

TS = 1_700_000_000_000_000_000
V4 = ("192.0.2.1", "198.51.100.7")
V6 = ("2001:db8::1", "2001:db8:0:1::25")
PAYLOAD = b"MAIL FROM:<alice@example.org>\r\n"


def frame(data: bytes, linktype: int = 1, index: int = 1, ts: int = TS, orig=None):
    return Frame(index, ts, linktype, data, len(data) if orig is None else orig)


def v4_packet(payload=PAYLOAD, **kwargs):
    return pcapgen.ipv4_tcp(*V4, 40001, 25, 1000, 2000, PSH | ACK, payload, **kwargs)


def v6_packet(payload=PAYLOAD, **kwargs):
    return pcapgen.ipv6_tcp(*V6, 40001, 25, 1000, 2000, PSH | ACK, payload, **kwargs)


def decoder():
    warnings: list[str] = []
    return PacketDecoder(warnings.append), warnings


def assert_v4_segment(segment):
    assert segment == Segment(
        TS,
        1,
        bytes([192, 0, 2, 1]),
        bytes([198, 51, 100, 7]),
        40001,
        25,
        1000,
        2000,
        PSH | ACK,
        PAYLOAD,
    )


def assert_v6_segment(segment):
    assert segment is not None
    assert (ip_text(segment.src), ip_text(segment.dst)) == V6
    assert (segment.sport, segment.dport, segment.seq, segment.ack) == (
        40001,
        25,
        1000,
        2000,
    )
    assert (segment.flags, segment.payload) == (PSH | ACK, PAYLOAD)


# -- link layers ----------------------------------------------------------------


def test_ethernet_ipv4_tcp_fields():
    dec, warnings = decoder()
    assert_v4_segment(dec.decode(frame(pcapgen.ethernet(v4_packet()))))
    assert warnings == []
    assert (dec.stats["frames"], dec.stats["tcp"]) == (1, 1)


def test_ethernet_padding_is_not_payload():
    packet = pcapgen.ipv4_tcp(*V4, 40001, 25, 1, 2, ACK)
    padded = pcapgen.ethernet(packet) + b"\0" * 6  # to the 60-byte minimum
    segment = decoder()[0].decode(frame(padded))
    assert segment.payload == b"" and segment.flags == ACK


@pytest.mark.parametrize(
    "vlan",
    [
        100,
        [(0x88A8, 100), (0x8100, 200)],  # 802.1ad QinQ
        [(0x9100, 7), 8],
        [(0x8100, 1), (0x8100, 2), (0x8100, 3)],
    ],
)
def test_vlan_tags(vlan):
    dec, warnings = decoder()
    assert_v4_segment(dec.decode(frame(pcapgen.ethernet(v4_packet(), vlan=vlan))))
    assert_v6_segment(dec.decode(frame(pcapgen.ethernet(v6_packet(), vlan=vlan))))
    assert warnings == []


@pytest.mark.parametrize(
    "linktype, wrap",
    [
        (113, pcapgen.sll),
        (276, pcapgen.sll2),
        (101, lambda p: p),
        (12, lambda p: p),
        (14, lambda p: p),
        (0, pcapgen.null_loopback),
        (0, lambda p: pcapgen.null_loopback(p, big_endian=True)),
        (108, lambda p: pcapgen.null_loopback(p, big_endian=True)),
        (108, pcapgen.null_loopback),
        (1, pcapgen.pppoe),
        (9, pcapgen.ppp),
        (9, lambda p: pcapgen.ppp(p, hdlc=False, compressed_protocol=True)),
        (50, pcapgen.ppp),
        (204, lambda p: b"\x01" + pcapgen.ppp(p)),
        (51, lambda p: pcapgen.pppoe(p)[14:]),
    ],
)
def test_link_types(linktype, wrap):
    dec, warnings = decoder()
    assert_v4_segment(dec.decode(frame(wrap(v4_packet()), linktype)))
    assert_v6_segment(dec.decode(frame(wrap(v6_packet()), linktype)))
    assert warnings == []
    assert dec.stats["tcp"] == 2


def test_raw_ipv4_and_ipv6_link_types():
    dec, _ = decoder()
    assert_v4_segment(dec.decode(frame(v4_packet(), 228)))
    assert_v6_segment(dec.decode(frame(v6_packet(), 229)))


@pytest.mark.parametrize("family", [10, 24, 28, 30])
def test_null_loopback_ipv6_families(family):
    data = pcapgen.null_loopback(v6_packet(), family=family)
    assert_v6_segment(decoder()[0].decode(frame(data, 0)))


def test_mpls_label_stack():
    labels = struct.pack("!II", (16 << 12) | 64, (17 << 12) | 0x100 | 64)
    data = pcapgen.ethernet(labels + v4_packet(), ethertype=0x8847)
    assert_v4_segment(decoder()[0].decode(frame(data)))


def test_llc_snap_encapsulation():
    packet = v4_packet()
    snap = b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + packet
    data = pcapgen.ethernet(snap, ethertype=len(snap))
    assert_v4_segment(decoder()[0].decode(frame(data)))


def test_non_tcp_is_dropped_and_counted():
    dec, warnings = decoder()
    udp = pcapgen.ipv4_packet(*V4, 17, struct.pack("!HHHH", 53, 53, 8, 0))
    icmp6 = pcapgen.ipv6_packet(*V6, 58, b"\x80\x00\x00\x00\x00\x01\x00\x01")
    arp = pcapgen.ethernet(
        b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\0" * 20, ethertype=0x0806
    )
    for data in (pcapgen.ethernet(udp), pcapgen.ethernet(icmp6), arp):
        assert dec.decode(frame(data)) is None
    assert dec.decode(frame(pcapgen.null_loopback(v4_packet(), family=7), 0)) is None
    assert (dec.stats["non_tcp"], dec.stats["tcp"], dec.stats["malformed"]) == (4, 0, 0)
    assert warnings == []


def test_unknown_linktype_is_reported_once_per_type():
    dec, warnings = decoder()
    for index in range(1, 6):
        assert dec.decode(frame(v4_packet(), 147, index)) is None
    assert dec.decode(frame(v4_packet(), 105, 6)) is None
    dec.finish()
    assert warnings == [
        "frame 1: link type 147 is not supported; frames with it are skipped",
        "frame 6: link type 105 is not supported; frames with it are skipped",
    ]
    assert dec.stats["unknown_linktype"] == 6


# -- IPv4 -----------------------------------------------------------------------


def test_ipv4_options_are_skipped_by_header_length():
    options = b"\x94\x04\x00\x00" + b"\x07\x07\x04" + b"\0" * 5  # router alert, RR
    packet = v4_packet(ip_options=options)
    assert packet[0] == 0x48
    assert_v4_segment(decoder()[0].decode(frame(pcapgen.ethernet(packet))))


def test_tcp_options_are_skipped_by_data_offset():
    options = b"\x02\x04\x05\xb4\x01\x03\x03\x07\x04\x02"  # MSS, NOP, WS, SACK-perm
    packet = v4_packet(tcp_options=options)
    assert_v4_segment(decoder()[0].decode(frame(pcapgen.ethernet(packet))))


def test_offloaded_ipv4_total_length_zero():
    packet = bytearray(v4_packet())
    packet[2:4] = b"\0\0"
    assert_v4_segment(decoder()[0].decode(frame(pcapgen.ethernet(bytes(packet)))))


def fragmented_v4(payload_size=3000, size=1480, ident=0x1234):
    payload = bytes(range(256)) * (payload_size // 256 + 1)
    payload = payload[:payload_size]
    packet = pcapgen.ipv4_tcp(*V4, 40001, 25, 7, 9, ACK, payload, ident=ident)
    return payload, pcapgen.ipv4_fragments(packet, size)


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]])
def test_ipv4_fragments_reassembled_in_any_order(order):
    payload, pieces = fragmented_v4()
    assert len(pieces) == 3
    dec, warnings = decoder()
    results = [
        dec.decode(frame(pcapgen.ethernet(pieces[i]), index=n + 1, ts=TS + n))
        for n, i in enumerate(order)
    ]
    assert results[:2] == [None, None]
    segment = results[2]
    assert (segment.payload, segment.seq, segment.ack, segment.flags) == (
        payload,
        7,
        9,
        ACK,
    )
    assert (segment.frame, segment.ts_ns) == (3, TS + 2)  # the completing frame
    assert dec.stats["fragments"] == 3 and dec.stats["fragments_reassembled"] == 1
    dec.finish()
    assert warnings == []


def test_interleaved_datagrams_with_equal_ids_from_other_hosts():
    payload, pieces = fragmented_v4(ident=5)
    other = pcapgen.ipv4_tcp(
        "192.0.2.99", V4[1], 1, 25, 1, 1, ACK, b"Z" * 2000, ident=5
    )
    others = pcapgen.ipv4_fragments(other, 1480)
    dec, _ = decoder()
    sequence = (pieces[0], others[0], pieces[1], others[1], pieces[2])
    out = [dec.decode(frame(p, 101)) for p in sequence]
    assert out[3].payload == b"Z" * 2000
    assert out[4].payload == payload


def test_duplicate_fragment_is_harmless():
    payload, pieces = fragmented_v4(payload_size=1000, size=512)
    dec, warnings = decoder()
    assert dec.decode(frame(pieces[0], 101, 1)) is None
    assert dec.decode(frame(pieces[0], 101, 2)) is None
    assert dec.decode(frame(pieces[1], 101, 3)).payload == payload
    assert warnings == []


def test_ipv4_conflicting_overlap_is_reported():
    payload, pieces = fragmented_v4(payload_size=1000, size=504)
    # A second copy of the first fragment, with different content.
    first_data = bytearray(pieces[0][20:])
    first_data[100:104] = b"XXXX"
    src, dst = V4
    forged = pcapgen.ipv4_packet(
        src,
        dst,
        6,
        bytes(first_data),
        ident=0x1234,
        dont_fragment=False,
        more_fragments=True,
    )
    dec, warnings = decoder()
    assert dec.decode(frame(pieces[0], 101, 1)) is None
    assert dec.decode(frame(forged, 101, 2)) is None
    assert dec.decode(frame(pieces[1], 101, 3)) is None
    segment = dec.decode(frame(pieces[2], 101, 4))
    assert segment.payload == payload  # bytes received first kept
    assert (
        len(warnings) == 1
        and "overlapping fragments with different content" in warnings[0]
    )


def test_fragment_timeout_and_pending_at_finish():
    _, pieces = fragmented_v4()
    _, others = fragmented_v4(ident=99)
    dec, warnings = decoder()
    assert dec.decode(frame(pieces[0], 101, index=1, ts=TS)) is None
    late = TS + packets.FRAGMENT_TIMEOUT_NS + 1
    assert dec.decode(frame(others[0], 101, index=2, ts=late)) is None
    assert dec.decode(frame(pieces[1], 101, index=3, ts=late)) is None
    assert dec.stats["fragments_dropped"] == 1
    assert len(warnings) == 1
    assert warnings[0].startswith("frame 1: fragmented IPv4 datagram 192.0.2.1 -> ")
    assert "id 0x1234 dropped: not completed within 30 s" in warnings[0]
    dec.finish()
    assert dec.stats["fragments_dropped"] == 3
    assert sum("capture ended before all fragments arrived" in w for w in warnings) == 2


def test_pending_datagrams_are_bounded(monkeypatch):
    monkeypatch.setattr(packets, "MAX_PENDING_DATAGRAMS", 3)
    dec, warnings = decoder()
    firsts = [fragmented_v4(ident=i)[1][0] for i in range(5)]
    for i, piece in enumerate(firsts):
        dec.decode(frame(piece, 101, index=i + 1))
    assert dec.stats["fragments_dropped"] == 2
    assert ["too many incomplete datagrams" in w for w in warnings] == [True, True]
    assert "id 0x0 " in warnings[0] and "id 0x1 " in warnings[1]


def test_non_tcp_fragments_are_not_kept():
    udp = pcapgen.ipv4_packet(*V4, 17, b"u" * 3000, ident=3, dont_fragment=False)
    dec, _ = decoder()
    for piece in pcapgen.ipv4_fragments(udp, 1480):
        assert dec.decode(frame(piece, 101)) is None
    assert dec.stats["non_tcp"] == 3 and dec.stats["fragments"] == 0


# -- IPv6 -----------------------------------------------------------------------


def test_ipv6_extension_headers():
    headers = [
        (0, b"\x01\x04\x00\x00\x00\x00"),  # hop-by-hop, PadN
        (43, b"\x00\x00\x00\x00\x00\x00" + bytes(pcapgen.packed("2001:db8::99"))),
        (60, b"\x01\x0c" + b"\0" * 12),  # destination options
        (51, b"\0" * 10),  # authentication header
    ]
    packet = v6_packet(extension_headers=headers)
    assert_v6_segment(decoder()[0].decode(frame(pcapgen.ethernet(packet))))


def test_ipv6_atomic_fragment():
    packet = v6_packet(extension_headers=[(44, struct.pack("!HI", 0, 77))])
    assert_v6_segment(decoder()[0].decode(frame(pcapgen.ethernet(packet))))


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0], [1, 0, 2]])
def test_ipv6_fragments_with_extension_headers(order):
    payload = bytes(reversed(range(256))) * 10
    tcp = pcapgen.tcp_segment_bytes(*V6, 40001, 25, 11, 12, ACK, payload)
    dest_options = b"\x06\x00\x01\x04\x00\x00\x00\x00"  # next header TCP, PadN
    pieces = pcapgen.ipv6_fragments(
        *V6,
        60,
        dest_options + tcp,
        1232,
        ident=0xABCDEF,
        unfragmentable=[(0, b"\x01\x04\x00\x00\x00\x00")],
    )
    assert len(pieces) == 3
    dec, warnings = decoder()
    out = [
        dec.decode(frame(pcapgen.ethernet(pieces[i]), index=n + 1))
        for n, i in enumerate(order)
    ]
    assert out[:2] == [None, None]
    assert (out[2].payload, out[2].seq, out[2].frame) == (payload, 11, 3)
    assert (ip_text(out[2].src), ip_text(out[2].dst)) == V6
    assert dec.stats["fragments_reassembled"] == 1
    assert warnings == []


def test_ipv6_udp_fragment_dropped_early():
    pieces = pcapgen.ipv6_fragments(*V6, 17, b"u" * 3000, 1448, ident=1)
    dec, _ = decoder()
    assert [dec.decode(frame(p, 229)) for p in pieces] == [None, None, None]
    assert dec.stats["non_tcp"] == 3 and dec.stats["fragments"] == 0


# -- damage and truncation --------------------------------------------------------


def test_snaplen_cut_gives_partial_payload_and_one_summary():
    dec, warnings = decoder()
    data = pcapgen.ethernet(v4_packet())
    cut = frame(data[:-10], orig=len(data))
    segment = dec.decode(cut)
    assert segment.payload == PAYLOAD[:-10]
    cut_header = frame(data[: 14 + 20 + 8], orig=len(data))
    assert dec.decode(cut_header) is None
    assert (dec.stats["truncated"], dec.stats["malformed"]) == (2, 0)
    assert warnings == []
    dec.finish()
    assert warnings == [
        "2 frames were cut short by the snapshot length; "
        "their TCP payload is incomplete"
    ]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: b"\x44" + p[1:], "IPv4 header length 16"),
        (lambda p: b"\x55" + p[1:], "IPv4 header with version 5"),
        (lambda p: p[:2] + b"\x00\x10" + p[4:], "IPv4 total length 16 < header"),
        (lambda p: p[:32] + b"\x40" + p[33:], "TCP header length 16"),
        (lambda p: p[:32] + b"\xf0" + p[33:40], "TCP options run past the packet"),
        (lambda p: p[:15], "IPv4 header incomplete"),
    ],
)
def test_malformed_headers_are_counted_and_reported(damage, message):
    dec, warnings = decoder()
    assert dec.decode(frame(pcapgen.ethernet(damage(v4_packet())), index=42)) is None
    assert dec.stats["malformed"] == 1
    assert warnings == [f"frame 42: {message}"]


def test_many_malformed_frames_are_summed_up():
    dec, warnings = decoder()
    bad = pcapgen.ethernet(b"\x44" + v4_packet()[1:])
    for index in range(1, 26):
        dec.decode(frame(bad, index=index))
    assert len(warnings) == packets.MAX_WARNINGS_PER_KIND
    dec.finish()
    hidden = 25 - packets.MAX_WARNINGS_PER_KIND
    assert (
        warnings[-1]
        == f"{hidden} more malformed packet warnings not shown (25 in total)"
    )
    assert dec.stats["malformed"] == 25


def test_ip_text():
    assert ip_text(bytes([192, 0, 2, 1])) == "192.0.2.1"
    assert ip_text(pcapgen.packed("2001:db8:0:0:0:0:0:1")) == "2001:db8::1"
    assert ip_text(pcapgen.packed("::ffff:192.0.2.1")) == "::ffff:192.0.2.1"
    with pytest.raises(ValueError):
        ip_text(b"\x01\x02")


# -- pcapgen.tcp_conversation, read back through both stages -----------------------


def decode_capture(data: bytes):
    warnings: list[str] = []
    dec = PacketDecoder(warnings.append)
    segments = [dec.decode(f) for f in CaptureReader(io.BytesIO(data), warnings.append)]
    dec.finish()
    return segments, warnings


@pytest.mark.parametrize("ipv6", [False, True])
def test_tcp_conversation_sequence_numbers_wrap(ipv6):
    client_data = b"EHLO client.example.org\r\n" + b"c" * 3000
    server_data = b"250 ok\r\n"
    frames = pcapgen.tcp_conversation(
        exchanges=[(0, client_data), (1, server_data)],
        mss=1000,
        isn_client=2**32 - 2000,
        isn_server=2**32 - 1,
        step_ns=250,
        ipv6=ipv6,
    )
    assert [t for t, _ in frames] == [TS + 250 * i for i in range(len(frames))]
    segments, warnings = decode_capture(pcapgen.pcap_bytes(frames, nanosecond=True))
    assert warnings == []
    flags = [s.flags for s in segments]
    # handshake, 4 client segments + ACKs, 1 server segment + ACK, close
    assert flags == [SYN, SYN | ACK, ACK] + [ACK, ACK] * 3 + [PSH | ACK, ACK] * 2 + [
        FIN | ACK,
        FIN | ACK,
        ACK,
    ]
    client, server = segments[0].src, segments[0].dst
    assert len(client) == (16 if ipv6 else 4)
    sent = {client: b"", server: b""}
    next_seq = {client: (2**32 - 2000 + 1) % 2**32, server: 0}
    for segment in segments[3:-3]:
        if segment.payload:
            assert segment.seq == next_seq[segment.src]
            sent[segment.src] += segment.payload
            next_seq[segment.src] = (segment.seq + len(segment.payload)) % 2**32
        else:  # a pure ACK acknowledges everything the peer sent
            assert segment.ack == next_seq[segment.dst]
    assert sent == {client: client_data, server: server_data}
    assert segments[1].ack == (2**32 - 2000 + 1) % 2**32
    fin_client, fin_server, last = segments[-3:]
    assert fin_client.seq == next_seq[client] and fin_server.seq == next_seq[server]
    assert fin_server.ack == (next_seq[client] + 1) % 2**32
    assert last.ack == (next_seq[server] + 1) % 2**32
    assert {(s.sport, s.dport) for s in segments} == {(40000, 25), (25, 40000)}


def test_tcp_conversation_without_handshake_and_close():
    frames = pcapgen.tcp_conversation(
        exchanges=[(1, b"220 hi\r\n")], handshake=False, close=False, isn_server=10
    )
    segments, _ = decode_capture(pcapgen.pcap_bytes(frames))
    assert [(s.seq, s.flags, s.payload) for s in segments] == [
        (11, PSH | ACK, b"220 hi\r\n"),
        (1_000_001, ACK, b""),
    ]
    assert segments[1].ack == 19


# -- external captures -------------------------------------------------------------

# Frames, TCP segments and TCP payload bytes per capture, from tshark 4.0 (Debian 12):
#   tshark -r F | wc -l
#   tshark -r F -Y 'tcp and not icmp' | wc -l
#   tshark -r F -Y 'tcp and not icmp' -T fields -e tcp.len | paste -sd+ | bc
# ("not icmp": tshark's plain 'tcp' filter also matches the TCP header quoted inside
# ICMP errors, which are not segments of the connection; zeek-smtp.pcap has four.)
EXTERNAL_TCP = {
    "arkime-smtp-rcpt-553.pcap": (16, 16, 789),
    "arkime-smtp-subject-utf8-q.pcap": (19, 19, 2329),
    "arkime-smtp-zip.pcap": (28, 28, 1969),
    "zeek-rfc3030-bdat-0-last.pcap": (26, 26, 373),
    "zeek-rfc3030-bdat-example1.pcap": (28, 28, 461),
    "zeek-smtp-attachment-msg.pcap": (17, 17, 688),
    "zeek-smtp-starttls.pcap": (37, 37, 5627),
    "zeek-smtp.pcap": (125, 118, 29126),
}


@pytest.mark.skipif(not EXTERNAL.is_dir(), reason="external corpus not present")
@pytest.mark.parametrize("name", sorted(EXTERNAL_TCP))
def test_external_capture_tcp_segments(name):
    frames, tcp, payload_bytes = EXTERNAL_TCP[name]
    segments, warnings = decode_capture((EXTERNAL / name).read_bytes())
    assert warnings == []
    assert len(segments) == frames
    found = [s for s in segments if s is not None]
    assert len(found) == tcp
    assert sum(len(s.payload) for s in found) == payload_bytes


@settings(max_examples=300, deadline=None)
@given(
    linktype=st.sampled_from([0, 1, 9, 12, 50, 51, 101, 108, 113, 204, 228, 229, 276]),
    cut=st.integers(0, 120),
    flips=st.lists(st.tuples(st.integers(0, 119), st.integers(0, 255)), max_size=6),
    orig_extra=st.integers(0, 100),
)
def test_damaged_frames_never_raise(linktype, cut, flips, orig_extra):
    """Arbitrary damage to a header stack gives None or a segment, never an error."""
    wraps = {
        0: pcapgen.null_loopback,
        108: pcapgen.null_loopback,
        1: pcapgen.pppoe,
        9: pcapgen.ppp,
        50: pcapgen.ppp,
        51: lambda p: pcapgen.pppoe(p)[14:],
        204: lambda p: b"\0" + pcapgen.ppp(p),
        113: pcapgen.sll,
        276: pcapgen.sll2,
    }
    packet = v6_packet(extension_headers=[(0, b""), (44, struct.pack("!HI", 8, 1))])
    data = bytearray(wraps.get(linktype, lambda p: p)(packet))
    for position, value in flips:
        if position < len(data):
            data[position] = value
    data = bytes(data[: len(data) - cut])
    dec = PacketDecoder(lambda message: None)
    result = dec.decode(frame(data, linktype, orig=len(data) + orig_extra))
    assert result is None or isinstance(result, Segment)
    dec.finish()
    counted = ("tcp", "non_tcp", "malformed", "truncated", "fragments")
    assert sum(dec.stats[k] for k in counted) >= 1
