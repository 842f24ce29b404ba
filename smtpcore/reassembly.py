"""TCP reassembly: ordered per-direction byte streams from captured segments.

Bytes are handed over as soon as they are in order and never invented: a hole
becomes a ``Gap`` event with its exact offset and length, and the stream goes
on after it. Memory is bounded per connection (out-of-order bytes) and in
total (number of open connections); whatever a bound costs is reported
through ``warn``.

Decisions worth knowing when reading the events:

* Stream offsets count payload bytes only. Offset 0 is the first byte after
  the SYN, or, when the handshake was not captured, the first byte seen in
  that direction. Bytes arriving later *before* that first byte (a capture
  that started mid-stream with segments out of order) are not delivered; they
  are counted and warned about once per direction.
* An acknowledgement of bytes not yet seen is a hint, not proof: capture
  points record the receiver's ACK before the data it acknowledges (GRO,
  mirrored ports, two interfaces merged with skewed clocks), and a
  retransmission can follow the ACK that covers it. So a hole the peer has
  acknowledged (or that a snapshot-length cut proves was sent) stays open, and
  bytes that fill it are delivered in order, until ``hole_wait_ns`` of capture
  time has passed since that acknowledgement, the connection buffers more than
  ``max_buffered_bytes``, or the connection ends (FIN on both sides, RST, idle
  timeout, eviction, end of capture). Only then is it declared a gap. An
  acknowledgement of exactly one byte more than everything held is taken as
  that of an uncaptured FIN, not as a one-byte hole.
* The two directions are interleaved by TCP, not by file order: bytes that
  acknowledge bytes of the peer are delivered only after those bytes (or
  their gap), so a server reply follows the command it answers even when a
  capture's clock or queueing put it first. When each direction waits for the
  other (possible only with anomalous retransmissions), file order decides.
* Overlapping copies: the first captured copy wins. Later copies are compared
  with what is still at hand (out-of-order buffer and the last few delivered
  segments, ``HISTORY_SEGMENTS``); differing bytes are warned about and
  counted as conflicts. Older overlaps are counted as retransmitted bytes.
* Connections closed by FIN or RST leave a small tombstone so that late
  retransmissions and the last ACK do not start phantom connections; a new
  SYN replaces it. Connections closed by idle timeout or eviction leave none:
  later data starts a new connection (mid-stream), nothing is lost silently.
* Close reasons: ``fin`` once both sides sent a FIN, or after the idle timeout
  when only one side did; ``rst``; ``idle``; ``end`` at the end of capture
  and for a connection superseded by a new SYN on the same ports without a
  FIN/RST seen (with a warning); ``evicted``.
* Classification: a connection still undecided once ``HEAD_LIMIT`` bytes are
  held in either direction, or when it ends, is dropped.
* ``Closed.ts_ns`` and the gaps of the final flush carry the time of the
  closing segment (FIN, RST) or the connection's last activity (idle, end,
  evicted).
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
from typing import Callable, Optional, Union

from smtpcore import flowskip
from smtpcore.flowskip import flow_key
from smtpcore.packets import Segment, ip_text

CLIENT, SERVER = 0, 1

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

HEAD_LIMIT = 4096
"""Bytes per direction the classifier may see (and that are held) while undecided."""

HISTORY_SEGMENTS = 4
"""Delivered segments kept per direction to check retransmissions for conflicts."""

_MASK = 0xFFFFFFFF
_HALF = 1 << 31
_WINDOW = 1 << 30  # largest TCP window (scale 14): farther data is implausible
_SYN_NEAR = 1 << 16  # a SYN this close to the current stream is not a new one
_SWEEP_NS = 10**9
# How long a closed connection's ports stay quiet for late retransmissions and ACKs:
# two minutes, a generous TIME_WAIT (2 x MSL), so tombstones do not pile up.
_TOMBSTONE_NS = 120 * 10**9
_DIRECTION_TEXT = ("client→server", "server→client")
_EMPTY: list = []  # shared result of the fast path; callers never mutate it
_REJECTED = object()  # _hatch: the classifier turned the connection down at once
# A need of _UNRESOLVED + ack: the segment acknowledged ``ack`` of a peer whose
# stream origin is not known yet (its SYN+ACK or first segment comes later).
_UNRESOLVED = 1 << 48


@dataclasses.dataclass(slots=True)
class Connection:
    """One TCP connection as seen in the capture."""

    id: int
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    start_ns: int
    handshake: bool


@dataclasses.dataclass(slots=True)
class Opened:
    conn: Connection
    ts_ns: int


@dataclasses.dataclass(slots=True)
class Data:
    """In-order bytes; ``offset`` is the stream offset of ``data[0]``."""

    conn: Connection
    direction: int
    offset: int
    data: bytes
    ts_ns: int


@dataclasses.dataclass(slots=True)
class Gap:
    """Bytes that were sent but are not in the capture."""

    conn: Connection
    direction: int
    offset: int
    length: int
    ts_ns: int


@dataclasses.dataclass(slots=True)
class Closed:
    """Last event of a connection; reason is fin, rst, idle, end or evicted."""

    conn: Connection
    ts_ns: int
    reason: str


Event = Union[Opened, Data, Gap, Closed]
Classifier = Callable[[Connection, int, bytes], Optional[bool]]

HOLE_WAIT_NS = 10 * 10**9
"""Capture time an acknowledged hole stays open for its bytes to turn up.

Reordered and skewed copies arrive within microseconds to tens of
milliseconds, retransmissions within a few retransmission timeouts (200 ms and
up, doubling); ten seconds covers both with room to spare. Waiting costs only
buffered bytes, and those are bounded anyway.
"""

MAX_PIECES = 65_536
"""Out-of-order pieces held per direction. Each lands in a sorted list, so a flood
of tiny segments (one byte each, sent in reverse) would cost quadratic time: past
this, adjacent pieces are joined, and if they still are too many (tiny pieces with
holes between them) the first hole is declared a gap, with a warning. Full-size
segments reach ``max_buffered_bytes`` long before this."""

MAX_EMBRYOS = 50_000
"""Handshakes without data remembered at once (a SYN flood makes many).

Real handshakes carry data within milliseconds; one forgotten under a flood
costs only its ISNs (its data is then picked up mid-stream), never bytes.
"""


class _Half:
    """Receiving state of one direction of a connection."""

    __slots__ = (
        "conn",
        "direction",
        "peer",
        "next_seq",
        "next_off",
        "pending",
        "isn",
        "fin_off",
        "fin_done",
        "history",
        "gaps",
        "head",
        "head_open",
        "held_bytes",
        "mid_stream",
        "warned",
        "acked_off",
        "hole_ns",
        "waiting",
        "emitted_off",
    )
    dormant = False

    def __init__(self, conn: _Conn, direction: int) -> None:
        self.conn = conn
        self.direction = direction
        self.peer: _Half = self
        self.next_seq = -1  # unknown until the SYN or the first segment
        self.next_off = 0
        # Out-of-order pieces (offset, bytes, time, need), sorted, non-overlapping;
        # ``need`` is the peer offset the piece's segment acknowledged.
        self.pending: list[tuple[int, bytes, int, int]] = []
        self.isn: Optional[int] = None
        self.fin_off: Optional[int] = None
        self.fin_done = False
        self.history: collections.deque = collections.deque(maxlen=HISTORY_SEGMENTS)
        self.gaps: Optional[collections.deque] = None  # recent gaps, made on need
        self.head = bytearray()
        self.head_open = True
        self.held_bytes = 0
        self.mid_stream = False
        self.warned: Optional[set[str]] = None
        self.acked_off = 0  # bytes below it were sent (peer's ACK, snapshot cut)
        self.hole_ns: Optional[int] = None  # when the hole below acked_off was hinted
        # In-order events held until the peer has delivered what they acknowledge.
        self.waiting: collections.deque = collections.deque()
        self.emitted_off = 0  # events handed out (or held for the classifier) so far


class _Conn:
    """Internal state of a tracked (kept or still undecided) connection."""

    __slots__ = (
        "public",
        "halves",
        "keys",
        "kept",
        "gone",
        "held",
        "buffered",
        "fin_seen",
        "last_ns",
        "queued_ns",
        "waiting",
        "asked",
        "one_sided",
        "reset_by",
    )

    def __init__(self, public: Connection, keys: tuple, now: int) -> None:
        self.public = public
        self.halves = (_Half(self, CLIENT), _Half(self, SERVER))
        self.halves[0].peer, self.halves[1].peer = self.halves[1], self.halves[0]
        self.keys = keys
        self.kept = False
        self.gone = False
        self.held: Optional[list] = []
        self.buffered = 0
        self.fin_seen = False
        self.last_ns = now
        self.queued_ns = now
        self.waiting = 0  # events held for ordering, both directions
        # (direction, head length) the classifier already found undecided
        self.asked: Optional[tuple[int, int]] = None
        # No origin turned up for a direction within the hole wait: its
        # acknowledgements no longer hold the other direction back.
        self.one_sided = False
        self.reset_by: Optional[int] = None  # the direction that sent the RST


DORMANT_FIELDS = ("keys", "last_ns", "queued_ns", "isn", "resume")


class _PureDormant:
    """What is left of an ignored or closed connection: its keys and last activity."""

    # smtpcore._flowskip.Dormant is this class compiled (the frame skipper moves
    # last_ns), and smtpcore._fastpath (FastDecoder._tombstone) makes them too,
    # for the web connections it turns down: a field added here goes there too.
    __slots__ = DORMANT_FIELDS
    dormant = True

    def __init__(self, keys: tuple, now: int, isn: Optional[int] = None) -> None:
        self.keys = keys
        self.last_ns = now
        self.queued_ns = now
        self.isn = isn  # the client's ISN: its SYN seen again is the same connection
        # After a RST: (connection id, {key: (direction, next sequence number)}), so
        # that data going on past the reset (injected, or ignored by the peer) is
        # read as a new connection instead of being dropped.
        self.resume: Optional[tuple] = None


_Dormant = getattr(flowskip.compiled("_flowskip"), "Dormant", _PureDormant)


def _signed(delta: int) -> int:
    delta &= _MASK
    return delta - (1 << 32) if delta >= _HALF else delta


def _oldest(registry: collections.OrderedDict):
    """Least recently active entry; entries touched since queued move to the back."""
    while registry:
        item = next(iter(registry))
        if item.last_ns == item.queued_ns:
            return item
        item.queued_ns = item.last_ns
        registry.move_to_end(item)
    return None


class Reassembler:
    """Turns TCP segments into Opened/Data/Gap/Closed events, one connection at a time.

    Args:
        warn: receives one plain-text warning per anomaly.
        classify: early filter ``(conn, direction, head) -> True | False | None``;
            ``None`` keeps every connection. One with a method
            ``rejects_at_once(direction, server_port, client_port, head)``, True
            only where it would say False, is asked that first about a new
            connection's first bytes (`detect.Classifier` has one).
        idle_timeout_ns: capture time after which a silent connection is closed.
        max_buffered_bytes: out-of-order bytes held per connection (and bytes
            held for ordering the two directions) before a hole is given up
            as a gap.
        max_total_buffered: out-of-order bytes held across all connections; past
            it the connection holding most gives up its first hole.
        max_connections: open connections kept; the least recently active one
            is evicted beyond that.
        server_ports: ports that make an endpoint the server when the handshake
            was not captured.
        hole_wait_ns: capture time an acknowledged hole stays open.

    Attributes:
        stats: counters of segments, connections (kept, ignored, undecided,
            closed by reason), gaps, retransmitted, late and conflicting bytes,
            and of each bound that was hit.
    """

    def __init__(
        self,
        warn: Callable[[str], None],
        *,
        classify: Optional[Classifier] = None,
        idle_timeout_ns: int = 15 * 60 * 10**9,
        max_buffered_bytes: int = 8 * 2**20,
        max_total_buffered: int = 256 * 2**20,
        max_connections: int = 100_000,
        server_ports: frozenset[int] = frozenset({25, 465, 587, 2525, 24}),
        hole_wait_ns: int = HOLE_WAIT_NS,
    ) -> None:
        self._warn = warn
        self._classify = classify
        # A classifier may say cheaply which first bytes it certainly turns down
        # (detect.Classifier.rejects_at_once): asked first in _classify_at_once.
        self._rejects_at_once = getattr(classify, "rejects_at_once", None)
        self._idle_timeout = idle_timeout_ns
        self._max_buffered = max_buffered_bytes
        self._max_total_buffered = max_total_buffered
        self._total_buffered = 0
        self._max_connections = max_connections
        self._server_ports = server_ports
        self._hole_wait = hole_wait_ns
        self._holes: dict[_Half, None] = {}  # halves with an acknowledged hole
        # Handshakes without data yet, by client→server key: (client ISN or None,
        # server ISN or None, time). Cheap, so a SYN flood costs little memory.
        self._embryos: collections.OrderedDict[tuple, tuple] = collections.OrderedDict()
        self._flows: dict[tuple, Union[_Half, _Dormant]] = {}
        # _embryos, _flows, stats, _now and _next_sweep are also written by the
        # compiled decoder (smtpcore._fastpath, FastDecoder.absorb_handshakes),
        # which records there the handshake segments feed() would only write down.
        # The same tombstones by compact flow key, for smtpcore.flowskip: frames
        # that would only be ignored here can be dropped before they are decoded.
        self.rejected: dict[bytes, _Dormant] = {}
        self._live: collections.OrderedDict[_Conn, None] = collections.OrderedDict()
        self._dormant: collections.OrderedDict[_Dormant, None] = (
            collections.OrderedDict()
        )
        self._next_id = 0
        self._now = -(1 << 62)
        self._next_sweep = -(1 << 62)
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "segments",
                "connections",
                "connections_kept",
                "connections_ignored",
                "connections_undecided",
                "untracked_segments",
                "ignored_segments",
                "out_of_order_segments",
                "retransmitted_bytes",
                "late_bytes",
                "conflicts",
                "conflict_bytes",
                "gaps",
                "gap_bytes",
                "before_start_bytes",
                "after_fin_bytes",
                "implausible_segments",
                "holes_expired",
                "held_for_order",
                "order_cycles",
                "handshakes_without_data",
                "handshakes_forgotten",
                "ignored_syns",
                "buffer_overflows",
                "global_buffer_overflows",
                "evicted",
                "closed_fin",
                "closed_rst",
                "closed_idle",
                "closed_end",
                "closed_evicted",
            ),
            0,
        )

    # ------------------------------------------------------------------ input

    def feed(self, seg: Segment) -> list[Event]:
        """Events made deliverable by one segment (possibly the shared empty list)."""
        self.stats["segments"] += 1
        ts = seg.ts_ns
        out = None
        if ts > self._now:
            if ts - self._now > self._idle_timeout:
                # A step of the capture clock (or a pause in the capture) longer
                # than the idle timeout: it alone makes no connection idle, so
                # the sweep waits for the capture to go on from the new time.
                self._next_sweep = ts + _SWEEP_NS
            self._now = ts
            if ts >= self._next_sweep:
                out = self._sweep(ts)
        half = self._flows.get((seg.src, seg.sport, seg.dst, seg.dport))
        if half is None:
            return self._untracked(seg, out if out is not None else [])
        if half.dormant:
            half.last_ns = self._now
            if seg.flags & SYN and not self._same_handshake(half, seg):
                self._expire_dormant(half)
                return self._untracked(seg, out if out is not None else [])
            if half.resume is not None and seg.payload and self._resumes(half, seg):
                return self._untracked(seg, out if out is not None else [])
            self.stats["ignored_segments"] += 1
            return out or _EMPTY
        conn = half.conn
        conn.last_ns = self._now
        if out is None:
            # Fast path: ACK-only flags, nothing new acknowledged, in-order data.
            if seg.flags & 0x17 == ACK:
                nseq = half.peer.next_seq
                ack = seg.ack
                if nseq < 0 and conn.public.handshake and not conn.one_sided:
                    pass  # the peer's origin is unknown: the general case waits
                elif ack == nseq or nseq < 0 or (ack - nseq) & _MASK >= _HALF:
                    payload = seg.payload
                    if not payload:
                        return _EMPTY
                    if (
                        seg.seq == half.next_seq
                        and conn.kept
                        and not half.pending
                        and not conn.waiting
                        and half.fin_off is None
                        and not seg.missing
                    ):
                        n = len(payload)
                        off = half.next_off
                        half.next_off = off + n
                        half.next_seq = (half.next_seq + n) & _MASK
                        half.history.append((off, payload))
                        half.emitted_off = off + n
                        return [Data(conn.public, half.direction, off, payload, ts)]
            out = []
        self._process(half, seg, out)
        return out

    def finish(self) -> list[Event]:
        """End of capture: flush every open connection, in id order."""
        out: list[Event] = []
        for conn in sorted(self._live, key=lambda c: c.public.id):
            self._close(conn, "end", conn.last_ns, out)
        self._live.clear()
        self._dormant.clear()
        self._flows.clear()
        self.rejected.clear()
        self.stats["handshakes_without_data"] += len(self._embryos)
        self._embryos.clear()
        return out

    # ---------------------------------------------------------- connections

    def _untracked(self, seg: Segment, out: list) -> list:
        """A segment of no tracked connection: start one if it makes sense."""
        flags = seg.flags
        if flags & RST:
            if self._embryos:
                self._forget_embryo(seg)
            self.stats["untracked_segments"] += 1
            return out or _EMPTY
        if flags & SYN:
            if not seg.payload:
                self._embryo(seg)
                return out or _EMPTY
        else:
            if self._embryos and (seg.payload or flags & FIN):
                half = self._hatch(seg, out)
                if half is _REJECTED:
                    return out or _EMPTY
                if half is not None:
                    self._process(half, seg, out)
                    return out
            if not seg.payload:
                self.stats["untracked_segments"] += 1
                return out or _EMPTY
        if flags & SYN:
            sender_is_client = not flags & ACK
        else:
            ports = self._server_ports
            if seg.dport in ports and seg.sport not in ports:
                sender_is_client = True
            elif seg.sport in ports and seg.dport not in ports:
                sender_is_client = False
            else:
                sender_is_client = seg.dport <= seg.sport
        conn = self._create(seg, sender_is_client, out)
        half = conn.halves[CLIENT if sender_is_client else SERVER]
        if flags & SYN:
            conn.public.handshake = True
            half.isn = seg.seq
            half.next_seq = (seg.seq + 1) & _MASK
            if flags & ACK:  # SYN+ACK acknowledges the client's ISN
                half.peer.isn = (seg.ack - 1) & _MASK
                half.peer.next_seq = seg.ack
        self._process(half, seg, out)
        return out

    def _resumes(self, dormant: _Dormant, seg: Segment) -> bool:
        """Data at or after where a reset connection stopped: it goes on."""
        conn_id, sides = dormant.resume
        side = sides.get((seg.src, seg.sport, seg.dst, seg.dport))
        if side is None or (seg.seq - side[1]) & _MASK >= _WINDOW:
            return False  # a retransmission of bytes before the RST
        self._warn(
            f"connection {conn_id} {_DIRECTION_TEXT[side[0]]}: data follows its RST "
            "(a reset injected, or not taken by the peer); it is read from there on "
            "as a new connection"
        )
        self._expire_dormant(dormant)
        return True

    @staticmethod
    def _same_handshake(dormant: _Dormant, seg: Segment) -> bool:
        """A SYN of the connection that lies here (retransmitted, or the capture
        holds the same packets twice, as a wrapped ring buffer does)."""
        if dormant.isn is None:
            return False
        isn = (seg.ack - 1) & _MASK if seg.flags & ACK else seg.seq
        return isn == dormant.isn

    def _embryo(self, seg: Segment) -> None:
        """Remember a SYN or SYN+ACK without data until the connection carries some."""
        embryos = self._embryos
        if seg.flags & ACK:  # SYN+ACK: keyed by the client's side
            key = (seg.dst, seg.dport, seg.src, seg.sport)
            known = embryos.pop(key, None)
            client_isn = (seg.ack - 1) & _MASK
            if known is not None and known[0] is not None:
                client_isn = known[0]
            embryos[key] = (
                client_isn,
                seg.seq,
                seg.ts_ns if known is None else known[2],
            )
        else:
            key = (seg.src, seg.sport, seg.dst, seg.dport)
            known = embryos.pop(key, None)
            if known is not None and known[0] == seg.seq:
                embryos[key] = known  # retransmitted SYN
            else:
                if known is not None:
                    self.stats["handshakes_without_data"] += 1
                embryos[key] = (seg.seq, None, seg.ts_ns)
        if len(embryos) > MAX_EMBRYOS:
            embryos.popitem(last=False)
            self.stats["handshakes_forgotten"] += 1
            if self.stats["handshakes_forgotten"] == 1:
                self._warn(
                    f"more than {MAX_EMBRYOS} handshakes without data at once "
                    "(a SYN flood?); the oldest are forgotten: data that follows "
                    "one is taken up mid-stream"
                )

    def _forget_embryo(self, seg: Segment) -> None:
        """A RST ends a handshake that carried nothing."""
        for key in (
            (seg.src, seg.sport, seg.dst, seg.dport),
            (seg.dst, seg.dport, seg.src, seg.sport),
        ):
            if self._embryos.pop(key, None) is not None:
                self.stats["handshakes_without_data"] += 1

    def _hatch(self, seg: Segment, out: list) -> Optional[_Half]:
        """The first data of a remembered handshake: track it with both ISNs."""
        key = (seg.src, seg.sport, seg.dst, seg.dport)
        sender_is_client = True
        embryo = self._embryos.pop(key, None)
        if embryo is None:
            key = (seg.dst, seg.dport, seg.src, seg.sport)
            embryo = self._embryos.pop(key, None)
            if embryo is None:
                return None
            sender_is_client = False
        client_isn, server_isn, start_ns = embryo
        own, other = (
            (client_isn, server_isn) if sender_is_client else (server_isn, client_isn)
        )
        # The usual case: the very first byte, acknowledging exactly the peer's SYN.
        exact = (
            own is not None
            and other is not None
            and seg.seq == (own + 1) & _MASK
            and (not seg.flags & ACK or seg.ack == (other + 1) & _MASK)
        )
        # A stale handshake (ports reused much later) must not misplace the data.
        if not exact:
            if own is not None and abs(_signed(seg.seq - own - 1)) > _WINDOW:
                return None
            if (
                other is not None
                and seg.flags & ACK
                and abs(_signed(seg.ack - other - 1)) > _WINDOW
            ):
                return None
        verdict = None
        asked = exact and self._classify is not None and seg.payload and not seg.missing
        if asked:
            verdict = self._classify_at_once(seg, sender_is_client, start_ns)
            if verdict is False:
                self._next_id += 1
                stats = self.stats
                stats["connections"] += 1
                stats["connections_ignored"] += 1
                self._tombstone(self._keys(seg, sender_is_client), client_isn)
                return _REJECTED
        conn = self._create(seg, sender_is_client, out, start_ns)
        conn.public.handshake = True
        if verdict is True:
            self._keep(conn, out)
        elif asked:  # undecided on these very bytes: the first _emit need not ask
            conn.asked = (CLIENT if sender_is_client else SERVER, len(seg.payload))
        for half, isn in zip(conn.halves, (client_isn, server_isn)):
            if isn is not None:
                half.isn = isn
                half.next_seq = (isn + 1) & _MASK
        return conn.halves[CLIENT if sender_is_client else SERVER]

    @staticmethod
    def _keys(seg: Segment, sender_is_client: bool) -> tuple:
        forward = (seg.src, seg.sport, seg.dst, seg.dport)
        backward = (seg.dst, seg.dport, seg.src, seg.sport)
        return (forward, backward) if sender_is_client else (backward, forward)

    def _classify_at_once(
        self, seg: Segment, sender_is_client: bool, start_ns: int
    ) -> Optional[bool]:
        """The classifier's verdict on a new connection from its first segment.

        Only asked when that segment is the very first byte of its direction and
        acknowledges nothing of the peer, so it is exactly what the full path
        would hand the classifier first; a rejected connection is then never
        built (on web traffic, nearly every connection ends here).
        """
        if sender_is_client:
            c_addr, c_port, s_addr, s_port = seg.src, seg.sport, seg.dst, seg.dport
        else:
            c_addr, c_port, s_addr, s_port = seg.dst, seg.dport, seg.src, seg.sport
        direction = CLIENT if sender_is_client else SERVER
        head = seg.payload[:HEAD_LIMIT]
        quick = self._rejects_at_once
        if quick is not None and quick(direction, s_port, c_port, head):
            return False  # web traffic, mostly: no Connection built to say so
        public = Connection(
            self._next_id + 1,
            ip_text(c_addr),
            c_port,
            ip_text(s_addr),
            s_port,
            start_ns,
            True,
        )
        return self._classify(public, direction, head)

    def _create(
        self,
        seg: Segment,
        sender_is_client: bool,
        out: list,
        start_ns: Optional[int] = None,
    ) -> _Conn:
        if len(self._live) >= self._max_connections:
            self._evict(out)
        self._next_id += 1
        if sender_is_client:
            c_addr, c_port, s_addr, s_port = seg.src, seg.sport, seg.dst, seg.dport
        else:
            c_addr, c_port, s_addr, s_port = seg.dst, seg.dport, seg.src, seg.sport
        public = Connection(
            self._next_id,
            ip_text(c_addr),
            c_port,
            ip_text(s_addr),
            s_port,
            seg.ts_ns if start_ns is None else start_ns,
            False,
        )
        keys = ((c_addr, c_port, s_addr, s_port), (s_addr, s_port, c_addr, c_port))
        conn = _Conn(public, keys, self._now)
        self._flows[keys[0]] = conn.halves[CLIENT]
        self._flows[keys[1]] = conn.halves[SERVER]
        self._live[conn] = None
        self.stats["connections"] += 1
        if self._classify is None:
            conn.kept = True
            conn.held = None
            self.stats["connections_kept"] += 1
            out.append(Opened(public, public.start_ns))
        return conn

    def _evict(self, out: list) -> None:
        conn = _oldest(self._live)
        if conn is None:
            return
        self.stats["evicted"] += 1
        self._warn(
            f"connection {conn.public.id}: evicted, more than "
            f"{self._max_connections} connections open"
            + ("" if conn.kept else " (not yet classified, dropped)")
        )
        self._close(conn, "evicted", self._now, out)

    def _bury(self, conn: _Conn, tombstone: bool, resume: bool = False) -> None:
        """Stop tracking a connection; a tombstone keeps its keys quiet."""
        conn.gone = True
        self._live.pop(conn, None)
        for half in conn.halves:
            half.pending = []
            half.waiting.clear()
            half.head = None
            self._holes.pop(half, None)
        conn.held = None
        conn.waiting = 0
        self._total_buffered -= conn.buffered
        conn.buffered = 0
        if tombstone:
            client = conn.halves[CLIENT]
            isn = client.isn if conn.public.handshake else None
            sides = None
            if resume and conn.reset_by is not None:
                # The side that reset never sends again; the peer's bytes in
                # flight (a reply crossing the RST) are the usual late segments.
                half = conn.halves[conn.reset_by]
                if half.next_seq >= 0:
                    sides = {conn.keys[half.direction]: (half.direction, half.next_seq)}
            self._tombstone(conn.keys, isn, (conn.public.id, sides) if sides else None)
        else:
            for key in conn.keys:
                if self._flows.get(key) in conn.halves:
                    del self._flows[key]

    def _tombstone(
        self, keys: tuple, isn: Optional[int], resume: Optional[tuple] = None
    ) -> None:
        dormant = _Dormant(keys, self._now, isn)
        dormant.resume = resume
        for key in keys:
            self._flows[key] = dormant
            if resume is None:  # frames after a RST must reach feed()
                self.rejected[flow_key(*key)] = dormant
        self._dormant[dormant] = None
        if len(self._dormant) > self._max_connections:
            self._expire_dormant(_oldest(self._dormant))

    def _expire_dormant(self, dormant: Optional[_Dormant]) -> None:
        if dormant is None:
            return
        del self._dormant[dormant]
        for key in dormant.keys:
            if self._flows.get(key) is dormant:
                del self._flows[key]
            compact = flow_key(*key)
            if self.rejected.get(compact) is dormant:
                del self.rejected[compact]

    def _sweep(self, now: int) -> list:
        """Close idle connections in id order; give up holes waited on too long."""
        self._next_sweep = now + _SWEEP_NS
        out: list[Event] = []
        for half in list(self._holes):
            if not half.conn.gone:
                self._expire_hole(half, now, out)
        limit = now - self._idle_timeout
        expired = []
        while True:
            conn = _oldest(self._live)
            if conn is None or conn.last_ns >= limit:
                break
            del self._live[conn]
            expired.append(conn)
        for conn in sorted(expired, key=lambda c: c.public.id):
            self._close(conn, "fin" if conn.fin_seen else "idle", conn.last_ns, out)
        limit = now - min(self._idle_timeout, _TOMBSTONE_NS)
        while True:
            dormant = _oldest(self._dormant)
            if dormant is None or dormant.last_ns >= limit:
                break
            self._expire_dormant(dormant)
        return out

    def _close(self, conn: _Conn, reason: str, ts: int, out: list) -> None:
        if conn.gone:
            return
        for half in conn.halves:
            self._flush(half, ts, out)
            if conn.gone:  # dropped by the classifier
                return
        self._release(conn, out, force=True)
        if conn.gone:
            return
        if not conn.kept:
            self.stats["connections_undecided"] += 1
            self._bury(conn, reason in ("fin", "rst"))
            return
        self.stats["closed_" + reason] += 1
        out.append(Closed(conn.public, ts, reason))
        self._bury(conn, reason in ("fin", "rst"), resume=reason == "rst")

    # ------------------------------------------------------------- segments

    def _process(self, half: _Half, seg: Segment, out: list) -> None:
        """General case of one segment of a tracked connection."""
        conn = half.conn
        flags = seg.flags
        ts = seg.ts_ns
        if flags & SYN and not flags & RST and not self._syn(half, seg, out):
            return
        need = 0
        if flags & ACK:
            need = self._acknowledged(half.peer, seg.ack, ts)
        if half.hole_ns is not None or half.peer.hole_ns is not None:
            for each in conn.halves:
                self._expire_hole(each, self._now, out)
                if conn.gone:
                    return
        if flags & RST:
            conn.reset_by = half.direction
            self._close(conn, "rst", ts, out)
            return
        payload = seg.payload
        if not (payload or flags & FIN or seg.missing):
            return
        start = (seg.seq + 1) & _MASK if flags & SYN else seg.seq
        if half.next_seq < 0:
            half.next_seq = start
            half.mid_stream = True
        off = half.next_off + _signed(start - half.next_seq)
        if half.fin_done:
            off += 1  # next_seq already counts the FIN
        if seg.missing:  # cut by the snapshot length: those bytes were sent
            self._hint(half, off + len(payload) + seg.missing, ts)
        if payload:
            self._data(half, off, payload, ts, out, need)
            if conn.gone:
                return
        if flags & FIN:
            self._fin(half, off + len(payload) + seg.missing, ts, out)

    def _syn(self, half: _Half, seg: Segment, out: list) -> bool:
        """Handle a SYN on a tracked connection; False if the segment is done with."""
        isn = seg.seq
        if half.isn == isn:
            return True  # retransmitted SYN or SYN+ACK
        conn = half.conn
        if seg.flags & ACK and half.isn is None and half.next_seq < 0:
            half.isn = isn  # the SYN+ACK of a connection opened by its SYN
            half.next_seq = (isn + 1) & _MASK
            conn.public.handshake = True
            return True
        if (
            not conn.public.handshake
            and half.next_seq >= 0
            and 0 < _signed(self._origin(half) - isn - 1) < _WINDOW
        ):
            # The SYN of a connection whose later part came first (a wrapped ring
            # buffer, files merged out of order): its bytes precede the stream.
            # The two parts are read as two sessions, nothing of either dropped.
            self._warn(
                f"frame {seg.frame}: the beginning (SYN) of connection "
                f"{conn.public.id} comes after its data in the capture; the two "
                "parts are read as two sessions"
            )
            self._close(conn, "end", conn.last_ns, out)
            self._untracked(seg, out)
            return False
        if half.next_seq >= 0 and abs(_signed(isn + 1 - half.next_seq)) < _SYN_NEAR:
            self.stats["ignored_syns"] += 1
            self._warn(
                f"connection {conn.public.id} {_DIRECTION_TEXT[half.direction]}: "
                f"frame {seg.frame}: SYN inside the current stream ignored"
            )
            return False
        reason = "fin" if conn.fin_seen else "end"
        self._warn(
            f"frame {seg.frame}: new SYN on the ports of connection "
            f"{conn.public.id}, which is closed without FIN/RST seen"
            if reason == "end"
            else f"frame {seg.frame}: new SYN on the ports of half-closed connection "
            f"{conn.public.id}; closing it"
        )
        self._close(conn, reason, seg.ts_ns, out)
        self._untracked(seg, out)
        return False

    @staticmethod
    def _origin(half: _Half) -> int:
        """The sequence number of the direction's stream offset 0."""
        return (half.next_seq - half.next_off - half.fin_done) & _MASK

    def _acknowledged(self, half: _Half, ack: int, ts: int) -> int:
        """The offset of ``half`` that the peer's ``ack`` acknowledges (0: unknown).

        Bytes acknowledged beyond what is in order are a hint that they were sent.
        """
        nseq = half.next_seq
        if nseq < 0:
            if half.conn.one_sided or not half.conn.public.handshake:
                return 0  # no sign yet that this direction was captured at all
            if half.hole_ns is None:  # how long to wait for its origin
                half.hole_ns = ts
                self._holes[half] = None
            return _UNRESOLVED + ack
        delta = _signed(ack - nseq)
        if delta > _WINDOW:
            return 0
        need = half.next_off + delta
        if delta > 0:
            if half.fin_off is not None:
                need = min(need, half.fin_off)
            elif delta == 1 and not half.pending:
                return half.next_off  # most likely an uncaptured FIN, not a hole
            self._hint(half, need, ts)
        return need

    def _hint(self, half: _Half, end: int, ts: int) -> None:
        """Bytes of ``half`` below ``end`` were sent: hold the hole open for them."""
        if end <= half.next_off:
            return
        if half.hole_ns is None or half.acked_off <= half.next_off:
            half.hole_ns = ts
            self._holes[half] = None
        if end > half.acked_off:
            half.acked_off = end

    def _expire_hole(self, half: _Half, now: int, out: list) -> None:
        """Close the hold on a hole once filled; declare it a gap once waited out."""
        since = half.hole_ns
        if since is None:
            return
        if half.next_seq < 0:  # waiting for the direction's first segment
            if now - since >= self._hole_wait:
                half.hole_ns = None
                self._holes.pop(half, None)
                half.conn.one_sided = True
                self._release(half.conn, out)
            return
        if half.next_off >= half.acked_off:
            half.hole_ns = None
            self._holes.pop(half, None)
        elif now - since >= self._hole_wait:
            half.hole_ns = None
            self._holes.pop(half, None)
            self.stats["holes_expired"] += 1
            self._skip_to(half, half.acked_off, now, out)

    def _data(
        self, half: _Half, off: int, data: bytes, ts: int, out: list, need: int
    ) -> None:
        end = off + len(data)
        fin = half.fin_off
        if fin is not None and end > fin:
            extra = end - max(off, fin)
            self._once(half, "fin", f"{extra} bytes after the FIN ignored")
            self.stats["after_fin_bytes"] += extra
            if off >= fin:
                return
            data = data[: fin - off]
            end = fin
        nxt = half.next_off
        if end <= nxt:
            self._old(half, off, data)
            return
        if off < nxt:
            self._old(half, off, data[: nxt - off])
            data = data[nxt - off :]
            off = nxt
        elif off - nxt > _WINDOW:
            self.stats["implausible_segments"] += 1
            self._once(half, "far", f"segment {off - nxt} bytes ahead ignored")
            return
        if off == nxt and not half.pending:
            self._deliver(half, off, data, ts, out, need)
            self._fin_reached(half)
            return
        if off > nxt:
            self.stats["out_of_order_segments"] += 1
        self._insert(half, off, data, ts, need)
        self._drain(half, out)
        if len(half.pending) > MAX_PIECES:
            self._too_many_pieces(half, ts, out)
        if half.conn.buffered > self._max_buffered:
            self._overflow(half, ts, out)
        if self._total_buffered > self._max_total_buffered:
            self._shed(ts, out)

    def _old(self, half: _Half, off: int, data: bytes) -> None:
        """Bytes at offsets already delivered (or declared lost)."""
        end = off + len(data)
        if off < 0:
            before = min(end, 0) - off
            self.stats["before_start_bytes"] += before
            self._once(
                half,
                "start",
                f"{before} bytes before the first captured byte ignored"
                + (" (capture started mid-stream)" if half.mid_stream else ""),
            )
            if end <= 0:
                return
            data = data[-off:]
            off = 0
        self.stats["retransmitted_bytes"] += end - off
        for first_off, first in half.history:
            self._compare(half, off, data, first_off, first)
        for gap_off, gap_end in half.gaps or ():
            lo, hi = max(off, gap_off), min(end, gap_end)
            if lo < hi:
                self.stats["late_bytes"] += hi - lo
                self._warn(
                    f"connection {half.conn.public.id} "
                    f"{_DIRECTION_TEXT[half.direction]}: {hi - lo} bytes at offset "
                    f"{lo} arrived after their gap was declared; not delivered"
                )

    def _compare(
        self, half: _Half, off: int, data: bytes, first_off: int, first: bytes
    ) -> None:
        lo = max(off, first_off)
        hi = min(off + len(data), first_off + len(first))
        if lo >= hi:
            return
        again = data[lo - off : hi - off]
        original = first[lo - first_off : hi - first_off]
        if again == original:
            return
        differ = [i for i in range(hi - lo) if again[i] != original[i]]
        self.stats["conflicts"] += 1
        self.stats["conflict_bytes"] += len(differ)
        self._warn(
            f"connection {half.conn.public.id} {_DIRECTION_TEXT[half.direction]}: "
            f"{len(differ)} bytes at offset {lo + differ[0]} differ from the first "
            "copy, which is kept"
        )

    def _insert(self, half: _Half, off: int, data: bytes, ts: int, need: int) -> None:
        """Buffer the parts of an out-of-order segment not already buffered."""
        pending = half.pending
        end = off + len(data)
        i = max(bisect.bisect_right(pending, off, key=_piece_offset) - 1, 0)
        pos = off
        fresh = []
        while pos < end:
            if i < len(pending):
                p_off, p_data = pending[i][:2]
                p_end = p_off + len(p_data)
                if p_end <= pos:
                    i += 1
                    continue
                if p_off > pos:
                    stop = min(p_off, end)
                    fresh.append((pos, data[pos - off : stop - off], ts, need))
                    pos = stop
                    continue
                stop = min(p_end, end)
                self._compare(half, pos, data[pos - off : stop - off], p_off, p_data)
                self.stats["retransmitted_bytes"] += stop - pos
                pos = stop
                i += 1
            else:
                fresh.append((pos, data[pos - off :], ts, need))
                pos = end
        for piece in fresh:
            bisect.insort(pending, piece, key=_piece_offset)
            half.conn.buffered += len(piece[1])
            self._total_buffered += len(piece[1])

    def _too_many_pieces(self, half: _Half, ts: int, out: list) -> None:
        """Joins adjacent pieces; declares holes gaps while still too many remain."""
        joined: list = []
        for piece in half.pending:
            last = joined[-1] if joined else None
            if last is not None and last[0] + len(last[1]) == piece[0]:
                joined[-1] = (
                    last[0],
                    last[1] + piece[1],
                    max(last[2], piece[2]),
                    max(last[3], piece[3]),
                )
            else:
                joined.append(piece)
        half.pending = joined
        while len(half.pending) > MAX_PIECES // 2 and not half.conn.gone:
            self.stats["buffer_overflows"] += 1
            hole = half.pending[0][0] - half.next_off
            self._warn(
                f"connection {half.conn.public.id} {_DIRECTION_TEXT[half.direction]}: "
                f"more than {MAX_PIECES // 2} separate pieces held out of order; gap "
                f"of {hole} bytes declared at offset {half.next_off}"
            )
            self._skip_to(half, half.pending[0][0], ts, out)

    def _drain(self, half: _Half, out: list) -> None:
        """Deliver buffered pieces that are now in order, each with its own time."""
        pending = half.pending
        conn = half.conn
        taken = 0
        while taken < len(pending) and pending[taken][0] == half.next_off:
            p_off, p_data, p_ts, p_need = pending[taken]
            taken += 1
            conn.buffered -= len(p_data)
            self._total_buffered -= len(p_data)
            self._deliver(half, p_off, p_data, p_ts, out, p_need)
            if conn.gone:
                return
        del pending[:taken]
        self._fin_reached(half)

    def _skip_to(self, half: _Half, limit: int, ts: int, out: list) -> None:
        """Advance to ``limit``: deliver what is buffered, declare the holes gaps."""
        pending = half.pending
        conn = half.conn
        while half.next_off < limit and not conn.gone:
            if pending and pending[0][0] == half.next_off:
                self._drain(half, out)
                continue
            hole_end = min(pending[0][0], limit) if pending else limit
            self._gap(half, hole_end - half.next_off, ts, out)
        if not conn.gone:
            self._drain(half, out)

    def _overflow(self, half: _Half, ts: int, out: list) -> None:
        conn = half.conn
        while conn.buffered > self._max_buffered and not conn.gone:
            if not self._give_up(conn, half, ts, out, "connection"):
                self._total_buffered -= conn.buffered
                conn.buffered = 0  # cannot happen; never loop on a bad count
                return

    def _give_up(
        self, conn: _Conn, half: _Half, ts: int, out: list, scope: str
    ) -> bool:
        """Free buffered bytes: the first hole becomes a gap; False if none held."""
        limit = (
            self._max_buffered if scope == "connection" else self._max_total_buffered
        )
        for victim in (half, half.peer):
            if victim.pending:
                hole = victim.pending[0][0] - victim.next_off
                stats_key = (
                    "buffer_overflows"
                    if scope == "connection"
                    else "global_buffer_overflows"
                )
                self.stats[stats_key] += 1
                self._warn(
                    f"connection {conn.public.id} {_DIRECTION_TEXT[victim.direction]}: "
                    f"more than {limit} bytes buffered out of order"
                    + (" across all connections" if scope != "connection" else "")
                    + f"; gap of {hole} bytes declared at offset {victim.next_off}"
                )
                self._skip_to(victim, victim.pending[0][0], ts, out)
                return True
        for waiter in (half, half.peer):
            if waiter.waiting:
                peer = waiter.peer
                need = waiter.waiting[0][0]
                if need > peer.next_off:  # acknowledged, never seen: a gap
                    self._skip_to(peer, need, ts, out)
                self._release(conn, out, force=True)
                return True
        return False

    def _shed(self, ts: int, out: list) -> None:
        """Over the global budget: the connection holding most gives up its holes.

        Rare by design (it takes many connections with lost segments at once), so a
        scan of the open connections is fine here.
        """
        while self._total_buffered > self._max_total_buffered:
            conn = max(self._live, key=lambda c: c.buffered, default=None)
            if conn is None or conn.buffered == 0:
                return
            while conn.buffered and not conn.gone:
                if not self._give_up(conn, conn.halves[CLIENT], ts, out, "global"):
                    break

    def _fin(self, half: _Half, fin_off: int, ts: int, out: list) -> None:
        conn = half.conn
        if half.fin_off is None:
            half.fin_off = max(fin_off, half.next_off)
            conn.fin_seen = True
            pending = half.pending
            if pending and pending[-1][0] + len(pending[-1][1]) > half.fin_off:
                kept = []
                for p_off, p_data, p_ts, p_need in pending:
                    if p_off < half.fin_off:
                        cut = p_data[: half.fin_off - p_off]
                        kept.append((p_off, cut, p_ts, p_need))
                        extra = len(p_data) - len(cut)
                    else:
                        extra = len(p_data)
                    conn.buffered -= extra
                    self._total_buffered -= extra
                    self.stats["after_fin_bytes"] += extra
                pending[:] = kept
                self._once(half, "fin", "bytes after the FIN ignored")
            self._fin_reached(half)
        if half.peer.fin_off is not None:
            self._close(conn, "fin", ts, out)

    def _fin_reached(self, half: _Half) -> None:
        if (
            half.fin_off is not None
            and not half.fin_done
            and half.next_off == half.fin_off
        ):
            half.fin_done = True
            half.next_seq = (half.next_seq + 1) & _MASK  # the FIN's sequence number

    def _flush(self, half: _Half, ts: int, out: list) -> None:
        """Connection ends: deliver everything buffered, holes before it are gaps."""
        if half.next_seq < 0:
            return
        if half.fin_off is not None:
            target = half.fin_off
        else:
            target = half.acked_off  # acknowledged, so sent, if never seen
            if half.pending:
                target = max(target, half.pending[-1][0] + len(half.pending[-1][1]))
        if target > half.next_off:
            self._skip_to(half, target, ts, out)

    # --------------------------------------------------------------- output

    def _deliver(
        self, half: _Half, off: int, data: bytes, ts: int, out: list, need: int = 0
    ) -> None:
        """In-order bytes: hand them over once the peer's bytes they answer are out."""
        n = len(data)
        half.next_off = off + n
        half.next_seq = (half.next_seq + n) & _MASK
        half.history.append((off, data))
        self._queue(
            half, Data(half.conn.public, half.direction, off, data, ts), need, n, out
        )

    def _gap(self, half: _Half, length: int, ts: int, out: list) -> None:
        off = half.next_off
        half.next_off = off + length
        half.next_seq = (half.next_seq + length) & _MASK
        if half.gaps is None:
            half.gaps = collections.deque(maxlen=8)
        half.gaps.append((off, off + length))
        self.stats["gaps"] += 1
        self.stats["gap_bytes"] += length
        self._queue(
            half, Gap(half.conn.public, half.direction, off, length, ts), 0, 0, out
        )

    def _queue(self, half: _Half, event, need: int, held: int, out: list) -> None:
        """Emit an in-order event, or hold it until the peer caught up with ``need``.

        ``held`` is the number of bytes the event keeps in memory while it waits.
        """
        conn = half.conn
        if half.waiting or need > half.peer.emitted_off:
            half.waiting.append((need, event, held))
            conn.waiting += 1
            conn.buffered += held
            self._total_buffered += held
            self.stats["held_for_order"] += 1
            if half.peer.waiting:
                self._release(conn, out)
            return
        self._emit(half, event, out)
        if conn.waiting and not conn.gone:
            self._release(conn, out)

    def _release(self, conn: _Conn, out: list, force: bool = False) -> None:
        """Emit held events whose peer bytes are out; break a mutual wait by file order.

        With ``force`` (the connection ends or must free memory) everything held
        is emitted, still in the best order known.
        """
        client, server = conn.halves
        while conn.waiting and not conn.gone:
            progressed = False
            for half in conn.halves:
                waiting = half.waiting
                if waiting and waiting[0][0] >= _UNRESOLVED:
                    self._resolve(half)
                while waiting and waiting[0][0] <= half.peer.emitted_off:
                    self._unhold(half, out)
                    progressed = True
                    if conn.gone:
                        return
            if progressed:
                continue
            if client.waiting and server.waiting:
                self.stats["order_cycles"] += 1
                first = client.waiting[0][1].ts_ns <= server.waiting[0][1].ts_ns
                self._unhold(client if first else server, out)
            elif force:
                self._unhold(client if client.waiting else server, out)
            else:
                return

    def _resolve(self, half: _Half) -> None:
        """Turn the first held event's raw ACK into a peer offset, once it can be."""
        need, event, held = half.waiting[0]
        peer = half.peer
        if peer.next_seq >= 0:
            need = self._acknowledged(peer, need - _UNRESOLVED, event.ts_ns)
        elif half.conn.one_sided:
            need = 0
        else:
            return
        half.waiting[0] = (need, event, held)

    def _unhold(self, half: _Half, out: list) -> None:
        _, event, held = half.waiting.popleft()
        conn = half.conn
        conn.waiting -= 1
        conn.buffered -= held
        self._total_buffered -= held
        self._emit(half, event, out)

    def _emit(self, half: _Half, event, out: list) -> None:
        """Hand over an event (or hold it while the classifier is undecided)."""
        conn = half.conn
        if type(event) is Gap:
            half.emitted_off = event.offset + event.length
            if conn.kept:
                out.append(event)
            else:
                conn.held.append(event)
                half.head_open = False
            return
        data = event.data
        half.emitted_off = event.offset + len(data)
        if conn.kept:
            out.append(event)
            return
        conn.held.append(event)
        half.held_bytes += len(data)
        if half.head_open:
            head = half.head
            head += data[: HEAD_LIMIT - len(head)]
            if len(head) >= HEAD_LIMIT:
                half.head_open = False
            if conn.asked == (half.direction, len(head)):
                verdict = None  # asked at once with these bytes
            else:
                verdict = self._classify(conn.public, half.direction, bytes(head))
            conn.asked = None
            if verdict is True:
                self._keep(conn, out)
                return
            if verdict is False:
                self.stats["connections_ignored"] += 1
                self._bury(conn, tombstone=True)
                return
        if half.held_bytes >= HEAD_LIMIT:
            self.stats["connections_undecided"] += 1
            self._warn(
                f"connection {conn.public.id}: protocol not recognised in its first "
                f"{HEAD_LIMIT} bytes {_DIRECTION_TEXT[half.direction]}; not decoded"
            )
            self._bury(conn, tombstone=True)

    def _keep(self, conn: _Conn, out: list) -> None:
        conn.kept = True
        self.stats["connections_kept"] += 1
        out.append(Opened(conn.public, conn.public.start_ns))
        out.extend(conn.held)
        conn.held = None
        for half in conn.halves:
            half.head = None

    def _once(self, half: _Half, topic: str, text: str) -> None:
        """Warn about a recurring condition once per direction."""
        if half.warned is None:
            half.warned = set()
        if topic not in half.warned:
            half.warned.add(topic)
            self._warn(
                f"connection {half.conn.public.id} "
                f"{_DIRECTION_TEXT[half.direction]}: {text}"
            )


def _piece_offset(piece: tuple[int, bytes, int, int]) -> int:
    return piece[0]
