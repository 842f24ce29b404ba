"""Tests of the TCP reassembler: ordering, overlaps, gaps, lifecycle, filtering, bounds."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpcore.packets import Segment
from smtpcore.reassembly import (
    CLIENT,
    SERVER,
    HOLE_WAIT_NS,
    Closed,
    Data,
    Gap,
    Opened,
    Reassembler,
)

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
T0 = 1_700_000_000 * 10**9
CLIENT_IP = bytes([192, 0, 2, 1])
SERVER_IP = bytes([198, 51, 100, 25])
MINUTE = 60 * 10**9


class Tcp:
    """Segments of one connection; sequence numbers are tracked per side."""

    def __init__(
        self,
        cisn=1000,
        sisn=900_000,
        cport=40001,
        sport=25,
        client=CLIENT_IP,
        server=SERVER_IP,
        ts=T0,
    ):
        self.seq = [cisn % 2**32, sisn % 2**32]
        self.addr = [(client, cport), (server, sport)]
        self.ts = ts
        self.frame = 0

    def raw(self, side, seq, payload=b"", flags=ACK | PSH, ack=None, dt=1000):
        """A segment with explicit sequence number; nothing is advanced."""
        self.ts += dt
        self.frame += 1
        (src, sport), (dst, dport) = self.addr[side], self.addr[1 - side]
        if ack is None:
            ack = self.seq[1 - side]
        return Segment(
            self.ts, self.frame, src, dst, sport, dport, seq % 2**32,
            ack % 2**32, flags, payload,
        )  # fmt: skip

    def send(self, side, payload=b"", flags=ACK | PSH, ack=None, dt=1000):
        """The next segment of a side, advancing its sequence number."""
        seg = self.raw(side, self.seq[side], payload, flags, ack, dt)
        step = len(payload) + (1 if flags & (SYN | FIN) else 0)
        self.seq[side] = (self.seq[side] + step) % 2**32
        return seg

    def handshake(self):
        syn = self.send(CLIENT, flags=SYN, ack=0)
        synack = self.send(SERVER, flags=SYN | ACK)
        return [syn, synack, self.send(CLIENT, flags=ACK)]

    def close(self):
        return [
            self.send(CLIENT, flags=FIN | ACK),
            self.send(SERVER, flags=FIN | ACK),
            self.send(CLIENT, flags=ACK),
        ]


def run(segments, finish=True, **options):
    warnings = []
    reassembler = Reassembler(warnings.append, **options)
    events = []
    for seg in segments:
        events.extend(reassembler.feed(seg))
    if finish:
        events.extend(reassembler.finish())
    return events, warnings, reassembler


def streams(events, conn_id=1):
    """Per direction: the delivered bytes, after checking offsets are contiguous."""
    data = {CLIENT: bytearray(), SERVER: bytearray()}
    position = {CLIENT: 0, SERVER: 0}
    for event in events:
        if isinstance(event, (Data, Gap)) and event.conn.id == conn_id:
            assert event.offset == position[event.direction]
            if isinstance(event, Data):
                data[event.direction] += event.data
                position[event.direction] += len(event.data)
            else:
                position[event.direction] += event.length
    return {direction: bytes(value) for direction, value in data.items()}


def ticks(start_ns, end_ns, step=5 * 60 * 10**9):
    """Unrelated pure ACKs that let capture time pass in steps (no clock jump)."""
    out = []
    ts = start_ns + step
    while ts < end_ns:
        out.append(
            Segment(ts, 0, b"\x0a\0\0\x63", b"\x0a\0\0\x64", 9, 9, 1, 1, ACK, b"")
        )
        ts += step
    return out


def kinds(events):
    return [type(event).__name__ for event in events]


def gaps(events):
    return [
        (e.conn.id, e.direction, e.offset, e.length)
        for e in events
        if isinstance(e, Gap)
    ]


# ----------------------------------------------------------------- basics


def test_in_order_connection_with_handshake_and_fin():
    tcp = Tcp()
    segs = tcp.handshake()
    segs += [tcp.send(SERVER, b"220 hi\r\n"), tcp.send(CLIENT, b"EHLO x\r\n")]
    segs += [tcp.send(SERVER, b"250 ok\r\n"), tcp.send(CLIENT, b"QUIT\r\n")]
    segs += tcp.close()
    events, warnings, reassembler = run(segs)
    assert kinds(events) == ["Opened", "Data", "Data", "Data", "Data", "Closed"]
    conn = events[0].conn
    assert (conn.id, conn.client_ip, conn.client_port) == (1, "192.0.2.1", 40001)
    assert (conn.server_ip, conn.server_port, conn.handshake) == (
        "198.51.100.25",
        25,
        True,
    )
    assert conn.start_ns == segs[0].ts_ns == events[0].ts_ns
    assert [(e.direction, e.offset, e.data) for e in events[1:5]] == [
        (SERVER, 0, b"220 hi\r\n"),
        (CLIENT, 0, b"EHLO x\r\n"),
        (SERVER, 8, b"250 ok\r\n"),
        (CLIENT, 8, b"QUIT\r\n"),
    ]
    assert events[-1].reason == "fin"
    assert events[-1].ts_ns == segs[-2].ts_ns  # the second FIN closes it
    assert warnings == []
    assert reassembler.stats["closed_fin"] == 1
    assert reassembler.stats["connections"] == 1


def test_out_of_order_delivered_in_order_with_own_timestamps():
    tcp = Tcp()
    segs = tcp.handshake()
    first, second, third = (tcp.send(CLIENT, bytes([65 + i]) * 10) for i in range(3))
    segs += [third, second, first]
    events, warnings, reassembler = run(segs)
    data = [e for e in events if isinstance(e, Data)]
    assert [(e.offset, e.data, e.ts_ns) for e in data] == [
        (0, b"A" * 10, first.ts_ns),
        (10, b"B" * 10, second.ts_ns),
        (20, b"C" * 10, third.ts_ns),
    ]
    assert reassembler.stats["out_of_order_segments"] == 2
    assert warnings == [] and gaps(events) == []


def test_out_of_order_delivered_as_soon_as_the_hole_fills():
    tcp = Tcp()
    reassembler = Reassembler([].append)
    for seg in tcp.handshake():
        reassembler.feed(seg)
    first = tcp.send(CLIENT, b"one ")
    second = tcp.send(CLIENT, b"two")
    assert kinds(reassembler.feed(second)) == ["Opened"]  # the first data opens
    delivered = reassembler.feed(first)
    assert [(e.offset, e.data) for e in delivered] == [(0, b"one "), (4, b"two")]


def test_retransmission_delivered_once():
    tcp = Tcp()
    segs = tcp.handshake()
    one = tcp.send(CLIENT, b"MAIL FROM:<a@example.org>\r\n")
    two = tcp.send(CLIENT, b"RCPT TO:<b@example.org>\r\n")
    segs += [one, one, two, one, two]
    events, warnings, reassembler = run(segs)
    assert streams(events)[CLIENT] == one.payload + two.payload
    assert sum(isinstance(e, Data) for e in events) == 2
    assert reassembler.stats["retransmitted_bytes"] == 2 * len(one.payload) + len(
        two.payload
    )
    assert warnings == []


def test_overlapping_resegmented_retransmission():
    tcp = Tcp()
    segs = tcp.handshake()
    base = tcp.seq[CLIENT]
    text = b"0123456789abcdefghij"
    segs += [
        tcp.raw(CLIENT, base + 10, text[10:20]),
        tcp.raw(CLIENT, base + 5, text[5:15]),
        tcp.raw(CLIENT, base, text[0:8]),
    ]
    events, warnings, _ = run(segs)
    assert streams(events)[CLIENT] == text
    assert warnings == []


def test_conflicting_retransmission_first_copy_wins_and_warns():
    tcp = Tcp()
    segs = tcp.handshake()
    base = tcp.seq[CLIENT]
    segs += [
        tcp.raw(CLIENT, base, b"A" * 400),
        tcp.raw(CLIENT, base + 400, b"hello world!"),
        tcp.raw(CLIENT, base + 400, b"HELLO WORLD!"),  # 10 letters differ
    ]
    events, warnings, reassembler = run(segs)
    assert streams(events)[CLIENT] == b"A" * 400 + b"hello world!"
    assert warnings == [
        "connection 1 client→server: 10 bytes at offset 400 differ from the first "
        "copy, which is kept"
    ]
    assert reassembler.stats["conflicts"] == 1
    assert reassembler.stats["conflict_bytes"] == 10


def test_conflict_with_buffered_out_of_order_copy():
    tcp = Tcp()
    segs = tcp.handshake()
    base = tcp.seq[SERVER]
    segs += [
        tcp.raw(SERVER, base + 4, b"xyzw"),  # buffered first copy
        tcp.raw(SERVER, base, b"abcdXYzw"),  # overlaps it, 2 bytes differ
    ]
    events, warnings, reassembler = run(segs)
    assert streams(events)[SERVER] == b"abcdxyzw"
    assert warnings == [
        "connection 1 server→client: 2 bytes at offset 4 differ from the first "
        "copy, which is kept"
    ]
    assert reassembler.stats["conflict_bytes"] == 2


# ------------------------------------------------------------------- gaps


def test_hole_acked_by_peer_is_held_open_then_declared_after_the_wait():
    tcp = Tcp()
    reassembler = Reassembler([].append)
    for seg in tcp.handshake():
        reassembler.feed(seg)
    one = tcp.send(CLIENT, b"a" * 100)
    lost = tcp.send(CLIENT, b"b" * 100)
    three = tcp.send(CLIENT, b"c" * 100)
    assert [e.data for e in reassembler.feed(one)[1:]] == [b"a" * 100]
    assert reassembler.feed(three) == []  # buffered behind the hole
    ack = tcp.send(SERVER, flags=ACK)  # acknowledges all 300 bytes: a hint only
    assert reassembler.feed(ack) == []
    before = tcp.send(SERVER, b"250 ok\r\n", dt=HOLE_WAIT_NS - 2000)
    assert reassembler.feed(before) == []  # the reply waits for what it answers
    after = tcp.send(SERVER, flags=ACK, dt=2000)  # the wait has run out
    events = reassembler.feed(after)
    assert [(type(e).__name__, e.direction, e.offset) for e in events] == [
        ("Gap", CLIENT, 100),
        ("Data", CLIENT, 200),
        ("Data", SERVER, 0),
    ]
    assert events[0].length == 100 and events[0].ts_ns == after.ts_ns
    assert events[1].data == three.payload and events[1].ts_ns == three.ts_ns
    assert lost.payload not in b"".join(e.data for e in events if isinstance(e, Data))
    assert reassembler.stats["gap_bytes"] == 100
    assert reassembler.stats["holes_expired"] == 1


def test_bytes_arriving_after_the_ack_that_covers_them_are_delivered_in_order():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, b"a" * 10)]
    late = tcp.send(CLIENT, b"b" * 10)
    reply = tcp.send(SERVER, b"250 ok\r\n")  # acknowledges the 20 bytes
    segs += [tcp.send(SERVER, flags=ACK), reply, late]  # capture reordered
    events, warnings, reassembler = run(segs)
    assert gaps(events) == [] and warnings == []
    assert streams(events) == {CLIENT: b"a" * 10 + b"b" * 10, SERVER: b"250 ok\r\n"}
    order = [(e.direction, e.offset) for e in events if isinstance(e, Data)]
    assert order == [(CLIENT, 0), (CLIENT, 10), (SERVER, 0)]
    assert reassembler.stats["held_for_order"] == 1


def test_reply_recorded_before_its_command_is_delivered_after_it():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(SERVER, b"220 hi\r\n")]
    command = tcp.send(CLIENT, b"EHLO x\r\n")
    reply = tcp.send(SERVER, b"250 ok\r\n")
    reply.ts_ns = (
        command.ts_ns - 50_000_000
    )  # the other interface's clock is 50 ms behind
    segs += [reply, command, tcp.send(CLIENT, b"QUIT\r\n")]
    events, warnings, _ = run(segs)
    assert [(e.direction, e.data) for e in events if isinstance(e, Data)] == [
        (SERVER, b"220 hi\r\n"),
        (CLIENT, b"EHLO x\r\n"),
        (SERVER, b"250 ok\r\n"),
        (CLIENT, b"QUIT\r\n"),
    ]
    assert warnings == [] and gaps(events) == []


def test_mutual_wait_is_broken_by_file_order():
    tcp = Tcp()
    segs = tcp.handshake()
    base_c, base_s = tcp.seq
    # Each segment acknowledges the other's bytes: only possible with odd
    # retransmissions; neither may wait forever.
    segs.append(tcp.raw(CLIENT, base_c, b"c" * 5, ack=base_s + 5))
    segs.append(tcp.raw(SERVER, base_s, b"s" * 5, ack=base_c + 5))
    events, warnings, reassembler = run(segs)
    assert [(e.direction, e.data) for e in events if isinstance(e, Data)] == [
        (CLIENT, b"c" * 5),
        (SERVER, b"s" * 5),
    ]
    assert reassembler.stats["order_cycles"] == 1 and gaps(events) == []


def test_gap_by_ack_without_later_data_then_stream_resumes():
    tcp = Tcp()
    segs = tcp.handshake()
    segs.append(tcp.send(CLIENT, b"x" * 50))
    tcp.send(CLIENT, b"y" * 70)  # never captured
    segs.append(tcp.send(SERVER, b"250 ok\r\n"))  # acks the 70 bytes
    segs.append(tcp.send(CLIENT, b"z" * 5))
    events, warnings, _ = run(segs)
    assert gaps(events) == [(1, CLIENT, 50, 70)]
    assert kinds(events) == ["Opened", "Data", "Gap", "Data", "Data", "Closed"]
    assert streams(events)[CLIENT] == b"x" * 50 + b"z" * 5
    assert warnings == []


def test_ack_of_an_uncaptured_fin_is_not_a_gap():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, b"QUIT\r\n")]
    tcp.send(CLIENT, flags=FIN | ACK)  # not captured
    segs.append(tcp.send(SERVER, flags=ACK))
    events, _, _ = run(segs)
    assert gaps(events) == []
    assert events[-1].reason == "end"


def test_gap_at_fin_close_when_hole_remains():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, b"a" * 10)]
    tcp.send(CLIENT, b"b" * 20)  # lost
    segs.append(tcp.send(CLIENT, b"c" * 30))
    tcp.send(CLIENT, b"d" * 40)  # lost, right before the FIN
    segs.append(tcp.send(CLIENT, flags=FIN | ACK, ack=tcp.seq[SERVER]))
    segs.append(tcp.send(SERVER, flags=FIN | ACK, ack=tcp.seq[CLIENT] - 100))
    events, _, _ = run(segs)
    assert kinds(events) == ["Opened", "Data", "Gap", "Data", "Gap", "Closed"]
    assert gaps(events) == [(1, CLIENT, 10, 20), (1, CLIENT, 60, 40)]
    assert events[-1].reason == "fin"
    assert streams(events)[CLIENT] == b"a" * 10 + b"c" * 30


def test_rst_flushes_buffered_data_with_gap_and_closes():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(SERVER, b"220 x\r\n")]
    tcp.send(SERVER, b"lost")
    segs.append(tcp.send(SERVER, b"kept"))
    segs.append(tcp.send(CLIENT, flags=RST | ACK, ack=tcp.seq[SERVER] - 8))
    segs.append(tcp.send(SERVER, b"late after rst"))
    events, _, reassembler = run(segs)
    assert kinds(events) == ["Opened", "Data", "Gap", "Data", "Closed"]
    assert gaps(events) == [(1, SERVER, 7, 4)]
    assert events[-1].reason == "rst" and events[-1].ts_ns == segs[-2].ts_ns
    assert reassembler.stats["ignored_segments"] == 1  # the segment after the RST


def test_end_of_capture_delivers_buffered_data_after_gap():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, b"12345")]
    tcp.send(CLIENT, b"678")
    segs.append(tcp.send(CLIENT, b"90"))
    events, _, _ = run(segs, finish=False)
    assert kinds(events) == ["Opened", "Data"]
    events, _, reassembler = run(segs)
    assert kinds(events) == ["Opened", "Data", "Gap", "Data", "Closed"]
    assert gaps(events) == [(1, CLIENT, 5, 3)]
    assert events[-1].reason == "end" and events[-1].ts_ns == segs[-1].ts_ns
    assert reassembler.stats["closed_end"] == 1


def test_late_data_after_declared_gap_is_warned_not_delivered():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, b"a" * 10)]
    late = tcp.send(CLIENT, b"b" * 10)
    ack = tcp.send(SERVER, flags=ACK)
    late.ts_ns = ack.ts_ns + HOLE_WAIT_NS  # ACK first, the data once the wait ran out
    segs += [ack, late]
    events, warnings, reassembler = run(segs)
    assert gaps(events) == [(1, CLIENT, 10, 10)]
    assert streams(events)[CLIENT] == b"a" * 10
    assert warnings == [
        "connection 1 client→server: 10 bytes at offset 10 arrived after their gap "
        "was declared; not delivered"
    ]
    assert reassembler.stats["late_bytes"] == 10


def test_buffer_limit_declares_gap_with_warning():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, b"s" * 10)]
    tcp.send(CLIENT, b"h" * 10)  # lost
    later = [tcp.send(CLIENT, bytes([97 + i]) * 100) for i in range(3)]
    segs += later
    events, warnings, reassembler = run(segs, finish=False, max_buffered_bytes=250)
    assert kinds(events) == ["Opened", "Data", "Gap", "Data", "Data", "Data"]
    assert gaps(events) == [(1, CLIENT, 10, 10)]
    assert events[2].ts_ns == later[2].ts_ns
    assert [e.ts_ns for e in events[3:]] == [seg.ts_ns for seg in later]
    assert warnings == [
        "connection 1 client→server: more than 250 bytes buffered out of order; "
        "gap of 10 bytes declared at offset 10"
    ]
    assert reassembler.stats["buffer_overflows"] == 1


def test_global_buffer_budget_makes_the_biggest_holder_give_up_its_hole():
    small, big = Tcp(cport=40001), Tcp(cport=40002)
    segs = small.handshake() + big.handshake()
    small.send(CLIENT, b"x" * 10)  # lost
    big.send(CLIENT, b"y" * 10)  # lost
    segs += [small.send(CLIENT, b"a" * 100), big.send(CLIENT, b"b" * 150)]
    events, warnings, reassembler = run(
        segs, finish=False, max_buffered_bytes=1000, max_total_buffered=200
    )
    # The second connection holds most: its hole becomes a gap, its bytes flow.
    assert gaps(events) == [(2, CLIENT, 0, 10)]
    assert streams(events, conn_id=2)[CLIENT] == b"b" * 150
    assert streams(events, conn_id=1)[CLIENT] == b""  # still waiting for its hole
    assert warnings == [
        "connection 2 client→server: more than 200 bytes buffered out of order "
        "across all connections; gap of 10 bytes declared at offset 0"
    ]
    assert reassembler.stats["global_buffer_overflows"] == 1


def test_data_after_fin_is_ignored_with_warning():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, b"QUIT\r\n")]
    segs.append(tcp.send(CLIENT, flags=FIN | ACK))
    segs.append(tcp.raw(CLIENT, tcp.seq[CLIENT] - 1, b"extra"))
    events, warnings, reassembler = run(segs)
    assert streams(events)[CLIENT] == b"QUIT\r\n"
    assert warnings == ["connection 1 client→server: 5 bytes after the FIN ignored"]
    assert reassembler.stats["after_fin_bytes"] == 5
    assert events[-1].reason == "end"  # one FIN only: closed by the end of capture


# ----------------------------------------------------- sequence numbers


def test_wrap_around_of_sequence_numbers():
    tcp = Tcp(cisn=2**32 - 30, sisn=2**32 - 1)
    segs = tcp.handshake()
    pieces = [tcp.send(CLIENT, bytes([48 + i]) * 20) for i in range(4)]
    replies = [tcp.send(SERVER, bytes([97 + i]) * 7) for i in range(3)]
    segs += [pieces[1], pieces[0], pieces[3], pieces[2]] + replies + tcp.close()
    events, warnings, _ = run(segs)
    data = streams(events)
    assert data[CLIENT] == b"".join(p.payload for p in pieces)
    assert data[SERVER] == b"".join(r.payload for r in replies)
    assert warnings == [] and gaps(events) == []
    assert events[-1].reason == "fin"


def test_gap_by_ack_across_wrap_around():
    tcp = Tcp(sisn=2**32 - 10)
    segs = tcp.handshake()
    segs.append(tcp.send(SERVER, b"0123"))
    tcp.send(SERVER, b"lost across the wrap")
    segs.append(tcp.send(CLIENT, b"EHLO\r\n"))
    events, _, _ = run(segs)
    assert gaps(events) == [(1, SERVER, 4, 20)]


# --------------------------------------------------------- without handshake


def test_mid_stream_start_uses_first_seen_sequence_and_server_port():
    tcp = Tcp(cisn=123_456, sisn=7_777_777)
    segs = [tcp.send(SERVER, b"250 ok\r\n"), tcp.send(CLIENT, b"DATA\r\n")]
    events, warnings, _ = run(segs)
    conn = events[0].conn
    assert (conn.client_port, conn.server_port, conn.handshake) == (40001, 25, False)
    assert [(e.direction, e.offset) for e in events if isinstance(e, Data)] == [
        (SERVER, 0),
        (CLIENT, 0),
    ]
    assert warnings == []


def test_mid_stream_without_known_port_takes_lower_port_as_server():
    tcp = Tcp(cport=5555, sport=8080)
    events, _, _ = run([tcp.send(CLIENT, b"hello")])
    conn = events[0].conn
    assert (conn.server_port, conn.client_port) == (5555, 8080)
    assert events[1].direction == SERVER


def test_mid_stream_segment_before_first_seen_byte_is_warned():
    tcp = Tcp()
    early = tcp.send(CLIENT, b"early")
    segs = [tcp.send(CLIENT, b"first seen"), early, tcp.send(CLIENT, b" more")]
    events, warnings, reassembler = run(segs)
    assert streams(events)[CLIENT] == b"first seen more"
    assert warnings == [
        "connection 1 client→server: 5 bytes before the first captured byte ignored "
        "(capture started mid-stream)"
    ]
    assert reassembler.stats["before_start_bytes"] == 5


def test_syn_ack_without_syn_takes_client_base_from_ack():
    tcp = Tcp()
    tcp.send(CLIENT, flags=SYN, ack=0)  # not captured
    segs = [tcp.send(SERVER, flags=SYN | ACK), tcp.send(CLIENT, b"EHLO a\r\n")]
    events, _, _ = run(segs)
    assert events[0].conn.handshake is True
    assert events[0].conn.server_port == 25
    assert [(e.direction, e.offset, e.data) for e in events if isinstance(e, Data)] == [
        (CLIENT, 0, b"EHLO a\r\n")
    ]


def test_one_direction_only():
    tcp = Tcp()
    segs = [tcp.send(CLIENT, flags=SYN, ack=0)]
    tcp.send(SERVER, flags=SYN | ACK)
    segs += [tcp.send(CLIENT, flags=ACK)]
    chunks = [b"EHLO a\r\n", b"MAIL FROM:<a@example.org>\r\n", b"QUIT\r\n"]
    segs += [tcp.send(CLIENT, chunk) for chunk in chunks]
    segs.append(tcp.send(CLIENT, flags=FIN | ACK))
    events, warnings, _ = run(segs)
    assert streams(events) == {CLIENT: b"".join(chunks), SERVER: b""}
    assert kinds(events) == ["Opened", "Data", "Data", "Data", "Closed"]
    assert warnings == [] and gaps(events) == []


def test_pure_ack_of_unknown_connection_starts_nothing():
    tcp = Tcp()
    events, _, reassembler = run([tcp.send(CLIENT, flags=ACK)])
    assert events == []
    assert reassembler.stats["untracked_segments"] == 1


# ----------------------------------------------------------------- lifecycle


def test_port_reuse_after_fin_starts_new_connection():
    first = Tcp(cisn=100, sisn=200)
    segs = first.handshake() + [first.send(CLIENT, b"one")] + first.close()
    second = Tcp(cisn=5_000_000, sisn=9_000_000, ts=first.ts + 10**9)
    segs += second.handshake() + [second.send(CLIENT, b"two")] + second.close()
    events, warnings, _ = run(segs)
    assert [(type(e).__name__, e.conn.id) for e in events] == [
        ("Opened", 1),
        ("Data", 1),
        ("Closed", 1),
        ("Opened", 2),
        ("Data", 2),
        ("Closed", 2),
    ]
    assert streams(events, 2)[CLIENT] == b"two"
    assert warnings == []


def test_syn_with_far_isn_on_open_connection_starts_new_connection():
    first = Tcp(cisn=100)
    segs = first.handshake() + [first.send(CLIENT, b"one")]
    second = Tcp(cisn=3_000_000_000, ts=first.ts + 10**9)
    segs += second.handshake() + [second.send(CLIENT, b"two")]
    events, warnings, _ = run(segs)
    assert [(type(e).__name__, e.conn.id) for e in events] == [
        ("Opened", 1),
        ("Data", 1),
        ("Closed", 1),
        ("Opened", 2),
        ("Data", 2),
        ("Closed", 2),
    ]
    assert events[2].reason == "end"
    assert len(warnings) == 1 and "connection 1" in warnings[0]


def test_retransmitted_syn_is_not_a_new_connection():
    tcp = Tcp()
    syn = tcp.send(CLIENT, flags=SYN, ack=0)
    segs = [syn, syn, tcp.send(SERVER, flags=SYN | ACK), tcp.send(CLIENT, b"x")]
    events, warnings, reassembler = run(segs)
    assert kinds(events) == ["Opened", "Data", "Closed"]
    assert reassembler.stats["connections"] == 1 and warnings == []


def test_idle_timeout_closes_in_id_order():
    a = Tcp(cport=40001)
    b = Tcp(cport=40002)
    c = Tcp(cport=40003, ts=T0 + 20 * MINUTE)
    segs = [b.send(CLIENT, b"b1"), a.send(CLIENT, b"a1")]
    segs.append(b.send(CLIENT, b"b2"))
    late = c.send(CLIENT, b"c1")
    quiet = ticks(segs[-1].ts_ns, late.ts_ns, step=6 * MINUTE)  # both idle at 18
    events, warnings, reassembler = run(segs + quiet + [late], finish=False)
    closed = [e for e in events if isinstance(e, Closed)]
    assert [(e.conn.id, e.reason) for e in closed] == [(1, "idle"), (2, "idle")]
    assert closed[0].ts_ns == segs[2].ts_ns and closed[1].ts_ns == segs[1].ts_ns
    assert kinds(events)[-2:] == ["Opened", "Data"] and events[-1].conn.id == 3
    assert reassembler.stats["closed_idle"] == 2 and warnings == []


def test_data_after_idle_close_starts_a_new_connection():
    tcp = Tcp()
    segs = [tcp.send(CLIENT, b"before"), tcp.send(CLIENT, b"after", dt=16 * MINUTE)]
    events, _, _ = run(segs[:1] + ticks(segs[0].ts_ns, segs[1].ts_ns) + segs[1:])
    assert [(type(e).__name__, e.conn.id) for e in events] == [
        ("Opened", 1),
        ("Data", 1),
        ("Closed", 1),
        ("Opened", 2),
        ("Data", 2),
        ("Closed", 2),
    ]
    assert events[2].reason == "idle"


def test_half_closed_connection_closes_as_fin_after_timeout():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, b"QUIT\r\n")]
    segs.append(tcp.send(CLIENT, flags=FIN | ACK))
    other = Tcp(cport=40002, ts=tcp.ts + 16 * MINUTE)
    segs += ticks(tcp.ts, other.ts)
    segs.append(other.send(CLIENT, b"x"))
    events, _, _ = run(segs, finish=False)
    closed = [e for e in events if isinstance(e, Closed)]
    assert [(e.conn.id, e.reason) for e in closed] == [(1, "fin")]


def test_eviction_of_least_recently_active_connection():
    one, two, three = (Tcp(cport=40000 + i) for i in (1, 2, 3))
    segs = [one.send(CLIENT, b"1"), two.send(CLIENT, b"2"), one.send(CLIENT, b"1")]
    segs.append(three.send(CLIENT, b"3"))
    events, warnings, reassembler = run(segs, finish=False, max_connections=2)
    closed = [e for e in events if isinstance(e, Closed)]
    assert [(e.conn.id, e.reason) for e in closed] == [(2, "evicted")]
    assert warnings == ["connection 2: evicted, more than 2 connections open"]
    assert reassembler.stats["evicted"] == 1
    assert kinds(events)[-2:] == ["Opened", "Data"] and events[-1].conn.id == 3


def test_eviction_flushes_buffered_data_before_closing():
    one, two = Tcp(cport=40001), Tcp(cport=40002)
    segs = [one.send(CLIENT, b"aa")]
    one.send(CLIENT, b"bb")
    segs += [one.send(CLIENT, b"cc"), two.send(CLIENT, b"x")]
    events, _, _ = run(segs, finish=False, max_connections=1)
    assert [(type(e).__name__, e.conn.id) for e in events] == [
        ("Opened", 1),
        ("Data", 1),
        ("Gap", 1),
        ("Data", 1),
        ("Closed", 1),
        ("Opened", 2),
        ("Data", 2),
    ]


# ---------------------------------------------------------------- classify


def test_classify_keep_delivers_held_data_with_timestamps():
    calls = []

    def classify(conn, direction, head):
        calls.append((conn.id, direction, head))
        return True if b"\r\n" in head else None

    tcp = Tcp()
    segs = tcp.handshake()
    pieces = [tcp.send(SERVER, b"220 mx"), tcp.send(SERVER, b".example\r\n")]
    segs += pieces + [tcp.send(CLIENT, b"EHLO a\r\n")]
    events, _, reassembler = run(segs, classify=classify)
    assert kinds(events) == ["Opened", "Data", "Data", "Data", "Closed"]
    assert events[0].ts_ns == segs[0].ts_ns
    assert [(e.offset, e.data, e.ts_ns) for e in events[1:3]] == [
        (0, b"220 mx", pieces[0].ts_ns),
        (6, b".example\r\n", pieces[1].ts_ns),
    ]
    assert calls == [(1, SERVER, b"220 mx"), (1, SERVER, b"220 mx.example\r\n")]
    assert reassembler.stats["connections_kept"] == 1


def test_classify_drop_emits_nothing_and_stops_calling():
    calls = []

    def classify(conn, direction, head):
        calls.append(head)
        return conn.server_port == 25

    web = Tcp(sport=80, cport=40002)
    mail = Tcp(sport=25, cport=40003)
    segs = web.handshake() + [web.send(CLIENT, b"GET / HTTP/1.1\r\n")]
    segs += [web.send(SERVER, b"HTTP/1.1 200 OK\r\n")] + web.close()
    segs += mail.handshake() + [mail.send(SERVER, b"220 x\r\n")] + mail.close()
    events, warnings, reassembler = run(segs, classify=classify)
    assert {e.conn.id for e in events} == {2}
    assert kinds(events) == ["Opened", "Data", "Closed"]
    assert calls == [b"GET / HTTP/1.1\r\n", b"220 x\r\n"]
    assert reassembler.stats["connections_ignored"] == 1
    # web: response, FIN, FIN, ACK; mail: the last ACK, after its close
    assert reassembler.stats["ignored_segments"] == 5
    assert warnings == []


def test_classify_undecided_until_head_limit_is_dropped():
    calls = []

    def classify(conn, direction, head):
        calls.append(len(head))
        return None

    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, b"z" * 1000) for _ in range(6)]
    events, warnings, reassembler = run(segs, classify=classify)
    assert events == []
    assert calls == [1000, 2000, 3000, 4000, 4096]
    assert reassembler.stats["connections_undecided"] == 1
    assert warnings == [
        "connection 1: protocol not recognised in its first 4096 bytes "
        "client→server; not decoded"
    ]


def test_classify_undecided_at_end_is_dropped():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, b"?")] + tcp.close()
    events, _, reassembler = run(segs, classify=lambda conn, direction, head: None)
    assert events == []
    assert reassembler.stats["connections_undecided"] == 1


def test_classify_keep_after_gap_delivers_held_gap():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, b"EH")]
    tcp.send(CLIENT, b"LO")
    segs += [tcp.send(SERVER, b"2"), tcp.send(SERVER, b"50 ok\r\n")]

    def classify(conn, direction, head):
        return True if direction == SERVER and head.startswith(b"250") else None

    events, _, _ = run(segs, classify=classify)
    assert kinds(events) == ["Opened", "Data", "Gap", "Data", "Data", "Closed"]
    assert gaps(events) == [(1, CLIENT, 2, 2)]


# -------------------------------------------------------------- properties

_ISN = st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32 - 3000, 2**32 - 1))


def _cut(stream, sizes):
    pieces, pos, i = [], 0, 0
    while pos < len(stream):
        size = sizes[i % len(sizes)]
        pieces.append((pos, stream[pos : pos + size]))
        pos += size
        i += 1
    return pieces


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    client_data=st.binary(max_size=2000),
    server_data=st.binary(max_size=2000),
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=8),
    resizes=st.lists(st.integers(1, 300), min_size=1, max_size=8),
    cisn=_ISN,
    sisn=_ISN,
    seed=st.integers(0, 2**32),
)
def test_any_permutation_and_duplication_reassembles(
    client_data, server_data, sizes, resizes, cisn, sisn, seed
):
    rng = random.Random(seed)
    tcp = Tcp(cisn=cisn, sisn=sisn)
    segs = tcp.handshake()
    base = {CLIENT: tcp.seq[CLIENT], SERVER: tcp.seq[SERVER]}
    body = []
    for side, data in ((CLIENT, client_data), (SERVER, server_data)):
        pieces = _cut(data, sizes)
        # duplicates: some copies again, and a different segmentation of the stream
        pieces += rng.sample(pieces, rng.randint(0, len(pieces)))
        extra = _cut(data, resizes)
        pieces += rng.sample(extra, rng.randint(0, len(extra)))
        body += [
            tcp.raw(side, base[side] + off, piece, ack=base[1 - side])
            for off, piece in pieces
        ]
    rng.shuffle(body)
    events, warnings, _ = run(segs + body)
    assert streams(events) == {CLIENT: client_data, SERVER: server_data}
    assert gaps(events) == [] and warnings == []
    if client_data or server_data:
        assert kinds(events)[0] == "Opened" and kinds(events)[-1] == "Closed"
    else:
        assert events == []  # a handshake that carried nothing is no stream


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=3000),
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=8),
    isn=_ISN,
    side=st.sampled_from([CLIENT, SERVER]),
    seed=st.integers(0, 2**32),
)
def test_dropped_segment_without_acks_is_one_exact_gap(data, sizes, isn, side, seed):
    rng = random.Random(seed)
    tcp = Tcp(cisn=isn, sisn=isn ^ 0x5A5A5A5A)
    segs = tcp.handshake()
    base = tcp.seq[side]
    other = tcp.seq[1 - side]
    pieces = _cut(data, sizes)
    lost_off, lost = pieces.pop(rng.randrange(len(pieces)))
    pieces += rng.sample(pieces, rng.randint(0, len(pieces)))
    rng.shuffle(pieces)
    segs += [tcp.raw(side, base + off, p, ack=other) for off, p in pieces]
    end = base + len(data)
    segs.append(tcp.raw(side, end, flags=FIN | ACK, ack=other))
    segs.append(tcp.raw(1 - side, other, flags=FIN | ACK, ack=base))
    events, warnings, _ = run(segs)
    assert gaps(events) == [(1, side, lost_off, len(lost))]
    assert streams(events)[side] == data[:lost_off] + data[lost_off + len(lost) :]
    assert warnings == []
    assert events[-1].reason == "fin"


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=3000),
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=8),
    isn=_ISN,
    side=st.sampled_from([CLIENT, SERVER]),
    seed=st.integers(0, 2**32),
)
def test_dropped_segment_with_acks_past_it_is_one_exact_gap(
    data, sizes, isn, side, seed
):
    rng = random.Random(seed)
    tcp = Tcp(cisn=isn, sisn=isn ^ 0xA5A5A5A5)
    reassembler = Reassembler([].append)
    for seg in tcp.handshake():
        reassembler.feed(seg)
    pieces = _cut(data, sizes)
    lost_index = rng.randrange(len(pieces))
    streamed = []
    for index, (_, piece) in enumerate(pieces):
        seg = tcp.send(side, piece)
        if index != lost_index:
            streamed.extend(reassembler.feed(seg))
        streamed.extend(reassembler.feed(tcp.send(1 - side, flags=ACK)))
    streamed.extend(reassembler.feed(tcp.send(side, flags=FIN | ACK)))
    streamed.extend(reassembler.feed(tcp.send(1 - side, flags=FIN | ACK)))
    lost_off, lost = pieces[lost_index]
    events = streamed + reassembler.finish()
    assert events[-1].reason == "fin"
    assert gaps(events) == [(1, side, lost_off, len(lost))]
    assert streams(events)[side] == data[:lost_off] + data[lost_off + len(lost) :]


# ------------------------------------------------------------------- extras


def test_ipv6_endpoints():
    client = bytes.fromhex("20010db8000000000000000000000001")
    server = bytes.fromhex("20010db80000000000000000000000fe")
    tcp = Tcp(client=client, server=server, sport=587)
    events, _, _ = run(tcp.handshake() + [tcp.send(SERVER, b"220 v6\r\n")])
    conn = events[0].conn
    assert (conn.client_ip, conn.server_ip) == ("2001:db8::1", "2001:db8::fe")
    assert streams(events)[SERVER] == b"220 v6\r\n"


def test_syn_inside_current_stream_is_ignored_with_warning():
    tcp = Tcp(cisn=5000)
    segs = tcp.handshake() + [tcp.send(CLIENT, b"abc")]
    segs.append(tcp.raw(CLIENT, 5010, flags=SYN, ack=0))
    segs.append(tcp.send(CLIENT, b"def"))
    events, warnings, reassembler = run(segs)
    assert reassembler.stats["connections"] == 1
    assert streams(events)[CLIENT] == b"abcdef"
    assert warnings == [
        "connection 1 client→server: frame 5: SYN inside the current stream ignored"
    ]


def test_ignored_connection_is_forgotten_after_idle_timeout():
    calls = []

    def classify(conn, direction, head):
        calls.append((conn.id, head))
        return head.startswith(b"220")

    tcp = Tcp(sport=80)
    segs = [tcp.send(CLIENT, b"GET /"), tcp.send(CLIENT, b"more")]
    segs.append(tcp.send(SERVER, b"220 now?", dt=16 * MINUTE))
    segs[2:2] = ticks(segs[1].ts_ns, segs[2].ts_ns)
    events, _, reassembler = run(segs, classify=classify)
    assert calls == [(1, b"GET /"), (2, b"220 now?")]
    assert [(type(e).__name__, e.conn.id) for e in events] == [
        ("Opened", 2),
        ("Data", 2),
        ("Closed", 2),
    ]
    assert reassembler.stats["ignored_segments"] == 1


def test_finish_closes_every_open_connection_in_id_order():
    conns = [Tcp(cport=40000 + i) for i in range(3)]
    segs = [conns[2].send(CLIENT, b"c"), conns[0].send(CLIENT, b"a")]
    segs.append(conns[1].send(CLIENT, b"b"))
    reassembler = Reassembler([].append)
    for seg in segs:
        reassembler.feed(seg)
    closed = reassembler.finish()
    assert [(e.conn.id, e.conn.client_port, e.reason) for e in closed] == [
        (1, 40002, "end"),
        (2, 40000, "end"),
        (3, 40001, "end"),
    ]
    assert reassembler.finish() == []


def test_fin_captured_before_the_last_data_segment():
    tcp = Tcp()
    segs = tcp.handshake()
    last = tcp.send(CLIENT, b"QUIT\r\n")
    fin = tcp.send(CLIENT, flags=FIN | ACK)
    segs += [fin, last, tcp.send(SERVER, b"221 bye\r\n")]
    segs.append(tcp.send(SERVER, flags=FIN | ACK))
    events, warnings, _ = run(segs)
    assert kinds(events) == ["Opened", "Data", "Data", "Closed"]
    assert streams(events) == {CLIENT: b"QUIT\r\n", SERVER: b"221 bye\r\n"}
    assert events[-1].reason == "fin" and warnings == []


_FUZZ_SEGMENT = st.tuples(
    st.integers(0, 3),  # which of four endpoint pairs and directions
    st.integers(0, 2**32 - 1) | st.integers(990, 1100),  # seq
    st.integers(0, 2**32 - 1) | st.integers(990, 1100),  # ack
    st.integers(0, 0x3F),  # flags
    st.binary(max_size=40),
    st.integers(0, 20 * MINUTE),  # time step
)


@settings(max_examples=300, deadline=None)
@given(
    raw=st.lists(_FUZZ_SEGMENT, max_size=60),
    verdicts=st.lists(st.sampled_from([True, False, None]), min_size=1, max_size=5),
    small=st.booleans(),
)
def test_arbitrary_segments_never_raise_and_events_stay_consistent(
    raw, verdicts, small
):
    hosts = [(CLIENT_IP, 40001, SERVER_IP, 25), (CLIENT_IP, 40002, SERVER_IP, 80)]
    calls = []

    def classify(conn, direction, head):
        calls.append(head)
        return verdicts[len(calls) % len(verdicts)]

    options = dict(max_buffered_bytes=64, max_connections=1) if small else {}
    reassembler = Reassembler(
        [].append, classify=classify if len(verdicts) > 1 else None, **options
    )
    events = []
    ts = T0
    for frame, (which, seq, ack, flags, payload, step) in enumerate(raw):
        ts += step
        src, sport, dst, dport = hosts[which // 2]
        if which % 2:
            src, sport, dst, dport = dst, dport, src, sport
        seg = Segment(ts, frame, src, dst, sport, dport, seq, ack, flags, payload)
        events.extend(reassembler.feed(seg))
    events.extend(reassembler.finish())
    state = {}
    for event in events:
        conn_id = event.conn.id
        if isinstance(event, Opened):
            assert conn_id not in state
            state[conn_id] = {CLIENT: 0, SERVER: 0}
            continue
        position = state[conn_id]
        assert position is not None, "event after Closed"
        if isinstance(event, Closed):
            state[conn_id] = None
        elif isinstance(event, Data):
            assert event.data and event.offset == position[event.direction]
            position[event.direction] += len(event.data)
        else:
            assert event.length > 0 and event.offset == position[event.direction]
            position[event.direction] += event.length
    assert all(position is None for position in state.values())


def test_the_same_packets_twice_are_one_connection():
    """A ring buffer that wrapped, or a capture merged with itself."""
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(SERVER, b"220 hi\r\n")]
    segs += [tcp.send(CLIENT, b"QUIT\r\n"), tcp.send(SERVER, b"221 bye\r\n")]
    segs += tcp.close()
    events, warnings, reassembler = run(segs + segs)
    assert kinds(events) == ["Opened", "Data", "Data", "Data", "Closed"]
    assert reassembler.stats["connections"] == 1 and warnings == []


def test_a_new_isn_on_closed_ports_is_a_new_connection():
    first, second = Tcp(), Tcp(cisn=77_000_000, sisn=5)
    segs = first.handshake() + [first.send(CLIENT, b"one")] + first.close()
    segs += second.handshake() + [second.send(CLIENT, b"two")] + second.close()
    events, warnings, _ = run(segs)
    assert [e.data for e in events if isinstance(e, Data)] == [b"one", b"two"]
    assert [e.conn.id for e in events if isinstance(e, Opened)] == [1, 2]
    assert all(e.conn.handshake for e in events if isinstance(e, Opened))


def test_handshake_reset_before_data_leaves_nothing():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, flags=RST | ACK)]
    events, warnings, reassembler = run(segs)
    assert events == [] and warnings == []
    assert reassembler.stats["handshakes_without_data"] == 1
    assert reassembler._embryos == {}


def test_snapshot_cut_is_a_gap_of_the_cut_length():
    tcp = Tcp()
    segs = tcp.handshake()
    cut = tcp.send(CLIENT, b"MAIL FROM:<a")
    cut.missing = 20  # the frame held 12 of its 32 payload bytes
    tcp.seq[CLIENT] += 20
    segs += [cut, tcp.send(CLIENT, b"RSET\r\n")]
    events, warnings, _ = run(segs)
    assert gaps(events) == [(1, CLIENT, 12, 20)]
    assert streams(events)[CLIENT] == b"MAIL FROM:<aRSET\r\n"


def test_client_data_before_the_servers_syn_ack_waits_for_its_origin():
    """Two interfaces merged with skew: the client's whole side is recorded first."""
    tcp = Tcp()
    syn = tcp.send(CLIENT, flags=SYN, ack=0)
    synack = tcp.send(SERVER, flags=SYN | ACK)
    banner = tcp.send(SERVER, b"220 hi\r\n")
    ehlo = tcp.send(CLIENT, b"EHLO x\r\n")
    reply = tcp.send(SERVER, b"250 ok\r\n")
    quit_ = tcp.send(CLIENT, b"QUIT\r\n")
    events, warnings, _ = run([syn, ehlo, quit_, synack, banner, reply])
    assert [(e.direction, e.data) for e in events if isinstance(e, Data)] == [
        (SERVER, b"220 hi\r\n"),
        (CLIENT, b"EHLO x\r\n"),
        (SERVER, b"250 ok\r\n"),
        (CLIENT, b"QUIT\r\n"),
    ]
    assert warnings == [] and gaps(events) == []


def test_a_clock_step_alone_does_not_end_connections():
    tcp = Tcp()
    segs = tcp.handshake() + [tcp.send(CLIENT, b"EHLO x\r\n")]
    segs.append(tcp.send(SERVER, b"250 ok\r\n", dt=60 * MINUTE))  # clock +1 h
    segs.append(tcp.send(CLIENT, b"QUIT\r\n"))
    segs += tcp.close()
    events, warnings, _ = run(segs)
    assert kinds(events) == ["Opened", "Data", "Data", "Data", "Closed"]
    assert events[-1].reason == "fin" and warnings == []


def test_beginning_after_the_later_part_is_a_second_session_nothing_dropped():
    tcp = Tcp()
    start = tcp.handshake() + [tcp.send(SERVER, b"220 hi\r\n")]
    start.append(tcp.send(CLIENT, b"EHLO x\r\n"))
    later = [tcp.send(SERVER, b"250 ok\r\n"), tcp.send(CLIENT, b"QUIT\r\n")]
    events, warnings, _ = run(later + start)
    data = [(e.conn.id, e.data) for e in events if isinstance(e, Data)]
    assert data == [
        (1, b"250 ok\r\n"),
        (1, b"QUIT\r\n"),
        (2, b"220 hi\r\n"),
        (2, b"EHLO x\r\n"),
    ]
    assert warnings == [
        "frame 1: the beginning (SYN) of connection 1 comes after its data in the "
        "capture; the two parts are read as two sessions"
    ]
