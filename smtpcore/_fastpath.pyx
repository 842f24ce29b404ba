# cython: language_level=3, boundscheck=True, wraparound=False, cdivision=True
"""Compiled twins of the two per-frame steps that every frame pays for.

``PcapCursor`` reads the plain records of a pcap buffer (and steps over the runs
``smtpcore.flowskip`` rejects); ``FastDecoder`` decodes the plain case of a frame
(Ethernet, VLAN, Linux cooked, raw IP; unfragmented IPv4 or IPv6 without extension
headers; TCP) into a ``Segment``. Each does only what its pure-Python reference
(``CaptureReader._pcap_frames``, ``PacketDecoder.decode``) does in that case, and
hands every other case back to it: damage, refills, fragments, snapshot cuts,
odd headers, other link types. Tests feed both every frame of every test capture
and require identical frames and segments. After ``absorb_handshakes`` the decoder
also does what ``Reassembler.feed`` does with the segments it only writes down or
passes straight on (handshakes, bare ACKs, in-order data); tests and a fuzz target
require the same events and reassembler state after every frame both ways.
``plain_content`` is the per-segment test of SMTP DATA content
(``smtp.session.plain_bytes``), in one pass.

The bytes read here are hostile: every index is checked against the captured
length (or the buffer's) before it is used, and Cython's bounds checking of the
memoryviews stays on as a second guard (``boundscheck=True`` above).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcmp, memcpy

from smtpcore._flowskip cimport Dormant, _skippable

cdef object _FALLBACK = object()  # not the plain case: the reference decodes it
cdef object _ABSORBED = object()  # a handshake segment recorded in the reassembler
cdef int _MAX_QUIET = 1024  # absorbed segments in a row (see FastDecoder._tcp)
cdef object _reassembly = None  # smtpcore.reassembly, imported on first use (a cycle)


cdef inline unsigned long long _u32(const unsigned char[:] v, Py_ssize_t p, bint big):
    if big:
        return (<unsigned long long> v[p] << 24) | (v[p + 1] << 16) | (v[p + 2] << 8) | v[p + 3]
    return (<unsigned long long> v[p + 3] << 24) | (v[p + 2] << 16) | (v[p + 1] << 8) | v[p]


cdef inline bytes _bytes_at(bytes buf, Py_ssize_t start, Py_ssize_t stop):
    """``buf[start:stop]``, inside ``buf``. Cython slices bytes through
    PySequence_GetSlice and a slice object: 800 instructions, three slices a
    segment; this is a tenth of that."""
    if start < 0 or stop < start or stop > PyBytes_GET_SIZE(buf):
        raise IndexError("a slice outside the buffer")
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(buf) + start, stop - start)


cdef bint _vlan(unsigned int ethertype):
    return ethertype == 0x8100 or ethertype == 0x88A8 or ethertype == 0x9100 or ethertype == 0x9200


cdef bint _ipv6_not_last(unsigned int h):
    # packets._IPV6_NOT_LAST: extension headers the reference walks through.
    return h in (0, 43, 60, 135, 139, 140, 253, 254, 44, 51)


cdef bytes _flow_key(tuple key):
    """flowskip.flow_key(*key): source, destination, then both ports big-endian."""
    cdef bytes src = key[0]
    cdef bytes dst = key[2]
    cdef unsigned int sport = key[1]
    cdef unsigned int dport = key[3]
    cdef Py_ssize_t n = len(src), m = len(dst)
    cdef unsigned char buf[36]
    if n + m > 32:
        raise ValueError("not an IPv4 or IPv6 address pair")
    memcpy(buf, PyBytes_AS_STRING(src), n)
    memcpy(buf + n, PyBytes_AS_STRING(dst), m)
    buf[n + m] = sport >> 8
    buf[n + m + 1] = sport & 0xFF
    buf[n + m + 2] = dport >> 8
    buf[n + m + 3] = dport & 0xFF
    return PyBytes_FromStringAndSize(<char *> buf, n + m + 4)


cdef class FastDecoder:
    """``decode(frame)``: the plain case here, everything else by ``fallback``.

    ``stats`` is the reference decoder's own counter dict, so the counts stay
    those of one decoder whichever path a frame took.
    """

    cdef object segment_type
    cdef dict stats
    cdef object fallback
    # Set by absorb_handshakes: the reassembler whose handshakes are recorded here.
    cdef object reassembler
    cdef dict flows
    cdef object embryos
    cdef object embryos_pop
    cdef dict reassembler_stats
    cdef object data_type  # reassembly.Data
    cdef int quiet  # segments absorbed since the last one handed out
    # Counts not yet added to the stats dicts: a dict increment is some 300
    # instructions, several a segment. Added (flush) before control returns to
    # Python code, which may read the dicts: when decode or a cursor's next
    # returns, and before the reassembler's own code is called.
    cdef long long tcp_frames
    cdef long long segments, connections, untracked, handshakes_without_data
    # With detect.Classifier: its key log, detect.TLS_PORTS, detect.WEB_REQUESTS.
    cdef bint rejecting
    cdef Py_ssize_t head_limit
    cdef object sweep_ns
    cdef dict rejected
    cdef object dormant_table
    cdef object keylog
    cdef frozenset tls_ports
    cdef tuple web_requests

    def __init__(self, segment_type, dict stats, fallback):
        self.segment_type = segment_type
        self.stats = stats
        self.fallback = fallback
        self.reassembler = None

    def absorb_handshakes(self, reassembler):
        """Record the handshakes of new connections in ``reassembler`` directly.

        On mostly-web evidence every connection opens with a SYN, a SYN+ACK and a
        bare ACK that ``Reassembler.feed`` only writes down (``_untracked``,
        ``_embryo``): three segments made, handed out and fed for three table
        entries or counters. From now on ``decode`` and the cursors make exactly
        those changes here, to the reassembler's own tables (``_flows``,
        ``_embryos``, ``stats``, its clock ``_now``, ``_next_sweep``), and hand out
        nothing for such a segment (``decode`` returns None). With the
        detectors' own classifier, the first data of a remembered handshake that
        ``Classifier.rejects_at_once`` turns down (TLS on a web port, an HTTP
        request) is dealt with the same way: ``_hatch``'s counters and its
        ``_tombstone`` call, which fills the table the frame skipper reads. So is
        a bare ACK of a tracked connection that acknowledges nothing new
        (``_absorb_ack``): feed() only moves the clocks for it. In-order data that
        feed() would pass straight on comes out as (frame index, Data event),
        fed here (``_deliver``). Any segment for which feed() would do anything
        else (other segments of a tracked flow, a RST, a FIN, data the classifier
        must see, a sweep due, the embryo table full) is handed out as before. Tests feed every frame of every test capture
        both ways and require identical events, tables, counters and warnings.
        """
        global _reassembly
        if _reassembly is None:
            import smtpcore.reassembly as module

            _reassembly = module
        self.reassembler = reassembler
        self.flows = reassembler._flows
        self.embryos = reassembler._embryos
        self.embryos_pop = reassembler._embryos.pop
        self.reassembler_stats = reassembler.stats
        self.data_type = _reassembly.Data
        self.head_limit = _reassembly.HEAD_LIMIT
        self.sweep_ns = _reassembly._SWEEP_NS
        self.rejected = reassembler.rejected
        self.dormant_table = reassembler._dormant
        # The first data of a handshake is turned down here too when the
        # classifier is the detectors' own and Classifier.rejects_at_once holds
        # (the _rejects below is its twin, tested against it and detect).
        from smtpcore import detect

        classify = reassembler._classify
        self.rejecting = (
            type(classify) is detect.Classifier
            and reassembler._rejects_at_once is not None
        )
        if self.rejecting:
            self.keylog = classify._keylog
            self.tls_ports = detect.TLS_PORTS
            self.web_requests = detect.WEB_REQUESTS

    def decode(self, frame):
        cdef bytes data = frame.data
        if not data:
            return self.fallback(frame)
        segment = self._plain(
            data, 0, data, frame.orig_len, frame.linktype, frame.ts_ns, frame.index, False
        )
        self.flush()
        if segment is _FALLBACK:
            return self.fallback(frame)
        if segment is _ABSORBED:
            return None  # recorded in the reassembler: nothing left to feed
        return segment

    cpdef flush(self):
        """Adds the counts kept here to the decoder's and reassembler's stats."""
        cdef dict stats
        if self.tcp_frames:
            stats = self.stats
            stats["frames"] += self.tcp_frames
            stats["tcp"] += self.tcp_frames
            self.tcp_frames = 0
        if self.segments or self.connections or self.untracked or self.handshakes_without_data:
            stats = self.reassembler_stats
            stats["segments"] += self.segments
            stats["connections"] += self.connections
            stats["connections_ignored"] += self.connections
            stats["untracked_segments"] += self.untracked
            stats["handshakes_without_data"] += self.handshakes_without_data
            self.segments = self.connections = self.untracked = 0
            self.handshakes_without_data = 0

    cdef object _plain(self, bytes buf, Py_ssize_t base, const unsigned char[:] v,
                       long long orig_len, int linktype, object ts_ns, object index,
                       bint tcp_only):
        """The segment, None (not TCP, counted), _ABSORBED, (frame index, Data) fed
        here (``_deliver``), or _FALLBACK: not plain.

        The frame is ``v``, which is ``buf[base:base + len(v)]``: the bytes the
        segment keeps are sliced from ``buf``, so a frame read from a capture's
        buffer is copied once, not twice. With ``tcp_only`` a frame that is not
        TCP is left to ``decode`` too.
        """
        cdef Py_ssize_t caplen = v.shape[0]
        cdef Py_ssize_t off
        cdef unsigned int ethertype, version
        if caplen < 1:
            return _FALLBACK
        if linktype == 1:
            if caplen < 14:
                return _FALLBACK
            ethertype = (v[12] << 8) | v[13]
            off = 14
            while _vlan(ethertype):
                if caplen < off + 4:
                    return _FALLBACK
                ethertype = (v[off + 2] << 8) | v[off + 3]
                off += 4
        elif linktype == 113:
            if caplen < 16:
                return _FALLBACK
            ethertype = (v[14] << 8) | v[15]
            off = 16
        elif linktype == 276:
            if caplen < 20:
                return _FALLBACK
            ethertype = (v[0] << 8) | v[1]
            off = 20
        elif linktype in (12, 14, 101, 228, 229):
            version = v[0] >> 4
            if version == 4:
                ethertype = 0x0800
            elif version == 6:
                ethertype = 0x86DD
            else:
                return _FALLBACK
            off = 0
        else:
            return _FALLBACK
        if ethertype == 0x0800:
            return self._ipv4(buf, base, v, off, caplen, orig_len, ts_ns, index, tcp_only)
        if ethertype == 0x86DD:
            return self._ipv6(buf, base, v, off, caplen, orig_len, ts_ns, index, tcp_only)
        return _FALLBACK

    cdef object _non_tcp(self, bint tcp_only):
        if tcp_only:
            return _FALLBACK
        self.stats["frames"] += 1
        self.stats["non_tcp"] += 1
        return None

    cdef object _ipv4(self, bytes buf, Py_ssize_t base, const unsigned char[:] v, Py_ssize_t off,
                      Py_ssize_t caplen, long long orig_len, object ts_ns, object index,
                      bint tcp_only):
        cdef Py_ssize_t header, total, end, start
        cdef unsigned char version_ihl
        if caplen - off < 20:
            return _FALLBACK
        version_ihl = v[off]
        header = (version_ihl & 15) * 4
        if version_ihl >> 4 != 4 or header < 20:
            return _FALLBACK
        if v[off + 9] != 6:
            return self._non_tcp(tcp_only)
        total = (v[off + 2] << 8) | v[off + 3]
        if total == 0 or total < header:
            return _FALLBACK
        end = off + total
        if end > caplen:
            end = caplen
        if caplen < orig_len and end == caplen:
            return _FALLBACK  # cut by the snapshot length
        start = off + header
        if start > end or ((v[off + 6] << 8) | v[off + 7]) & 0x3FFF:
            return _FALLBACK  # options past the end, or a fragment
        return self._tcp(buf, base, v, start, end, off + 12, 4, ts_ns, index)

    cdef object _ipv6(self, bytes buf, Py_ssize_t base, const unsigned char[:] v, Py_ssize_t off,
                      Py_ssize_t caplen, long long orig_len, object ts_ns, object index,
                      bint tcp_only):
        cdef Py_ssize_t length, start, end
        cdef unsigned int next_header
        if caplen - off < 40 or v[off] >> 4 != 6:
            return _FALLBACK
        length = (v[off + 4] << 8) | v[off + 5]
        next_header = v[off + 6]
        if length == 0:
            return _FALLBACK
        start = off + 40
        end = start + length
        if end > caplen:
            end = caplen
        if caplen < orig_len and end == caplen:
            return _FALLBACK
        if next_header != 6:
            if _ipv6_not_last(next_header):
                return _FALLBACK
            return self._non_tcp(tcp_only)
        return self._tcp(buf, base, v, start, end, off + 8, 16, ts_ns, index)

    cdef object _tcp(self, bytes buf, Py_ssize_t base, const unsigned char[:] v,
                     Py_ssize_t off, Py_ssize_t end, Py_ssize_t addr, Py_ssize_t addr_len,
                     object ts_ns, object index):
        """The segment at v[off:end]; addresses at v[addr:], src then dst."""
        cdef Py_ssize_t start
        if end - off < 20:
            return _FALLBACK
        start = off + (v[off + 12] >> 4) * 4
        if start < off + 20 or start > end:
            return _FALLBACK
        self.tcp_frames += 1
        src = _bytes_at(buf, base + addr, base + addr + addr_len)
        dst = _bytes_at(buf, base + addr + addr_len, base + addr + 2 * addr_len)
        sport = (v[off] << 8) | v[off + 1]
        dport = (v[off + 2] << 8) | v[off + 3]
        seq = _u32(v, off + 4, True)
        ack = _u32(v, off + 8, True)
        flags = v[off + 13]
        # Empty, without FIN or RST: perhaps a handshake segment or a bare ACK
        # feed() would only write down; or the first data of a handshake
        # (absorb_handshakes). After
        # _MAX_QUIET such segments in a row one is handed out all the same (feed()
        # does the same with it), so that the pipeline still polls its abort and
        # progress callbacks on traffic where nothing else would reach it.
        if (
            self.reassembler is not None
            and not flags & 0x05
            and self.quiet < _MAX_QUIET
        ):
            if start == end:
                if self._absorb(ts_ns, src, sport, dst, dport, seq, ack, flags):
                    self.quiet += 1
                    return _ABSORBED
            elif not flags & 0x02:
                half = self.flows.get((src, sport, dst, dport))
                if half is not None:
                    if flags & 0x10:
                        delivered = self._deliver(
                            half, ts_ns, seq, ack, buf, base + start, base + end, index
                        )
                        if delivered is not None:
                            self.quiet = 0
                            return delivered
                elif self.rejecting and self._reject(
                    ts_ns, src, sport, dst, dport, seq, ack, flags, v, start, end
                ):
                    self.quiet += 1
                    return _ABSORBED
        self.quiet = 0
        return self.segment_type(
            ts_ns, index, src, dst, sport, dport, seq, ack, flags,
            _bytes_at(buf, base + start, base + end), 0,
        )

    def rejects_at_once(self, int direction, server_port, client_port, bytes head):
        """_rejects on ``head``, for the tests (after absorb_handshakes)."""
        if not self.rejecting:
            return False
        return self._rejects(direction, server_port, client_port, head, 0, len(head))

    cdef bint _rejects(self, int direction, object server_port, object client_port,
                       const unsigned char[:] v, Py_ssize_t start, Py_ssize_t end) except -1:
        """detect.Classifier.rejects_at_once on the payload v[start:end]."""
        cdef Py_ssize_t length = end - start
        cdef Py_ssize_t i, opening
        if length < 1:
            return False
        if v[start] == 0x16:
            return (
                length >= 2
                and v[start + 1] == 0x03
                and server_port not in self.tls_ports
                and client_port not in self.tls_ports
                and (self.keylog is None or not len(self.keylog))
            )
        if direction != 0:
            return False
        # bytes(v[start:start + 16]).startswith(self.web_requests), without making
        # the bytes and calling the method (a third of a rejection's work).
        opening = length if length < 16 else 16
        for prefix in self.web_requests:
            if opening >= len(<bytes> prefix) and not memcmp(
                &v[start], PyBytes_AS_STRING(<bytes> prefix), len(<bytes> prefix)
            ):
                break
        else:
            return False
        for i in range(start, end):  # a complete line
            if v[i] == 0x0A:
                return True
        return False

    cdef bint _reject(self, object ts_ns, bytes src, object sport, bytes dst,
                      object dport, object seq, object ack, int flags,
                      const unsigned char[:] v, Py_ssize_t start, Py_ssize_t end) except -1:
        """The first data of a remembered handshake that the classifier certainly
        turns down: what feed(), _untracked and _hatch do then, done here (True),
        unless they would do anything else (False, nothing changed).
        """
        cdef object r = self.reassembler
        cdef tuple key = (src, sport, dst, dport)
        cdef bint sender_is_client = True
        if key in self.flows:
            return False
        now = r._now
        next_sweep = self._next_sweep(ts_ns, now)
        if next_sweep is None:
            return False  # a sweep is due: feed() runs it
        embryos = self.embryos
        if not embryos:
            return False
        embryo = embryos.get(key)
        if embryo is None:
            key = (dst, dport, src, sport)
            embryo = embryos.get(key)
            if embryo is None:
                return False  # no handshake seen: taken up mid-stream by feed()
            sender_is_client = False
        client_isn, server_isn, start_ns = embryo
        own, other = (
            (client_isn, server_isn) if sender_is_client else (server_isn, client_isn)
        )
        # Only the exact first byte (_hatch asks the classifier only then).
        if own is None or other is None or seq != (own + 1) & 0xFFFFFFFF:
            return False
        if flags & 0x10 and ack != (other + 1) & 0xFFFFFFFF:
            return False
        if end - start > self.head_limit:
            end = start + self.head_limit  # what the classifier would see
        if sender_is_client:
            if not self._rejects(0, dport, sport, v, start, end):
                return False
        elif not self._rejects(1, sport, dport, v, start, end):
            return False
        # Turned down: _hatch's steps, in its order (the tombstone reads the clock).
        self.segments += 1
        self._advance(ts_ns, now, next_sweep)
        self.embryos_pop(key)
        r._next_id += 1
        self.connections += 1  # and connections_ignored
        if sender_is_client:  # key is the segment's own direction
            self._tombstone((key, (dst, dport, src, sport)), client_isn, ts_ns, now)
        else:
            self._tombstone((key, (src, sport, dst, dport)), client_isn, ts_ns, now)
        return True

    cdef _tombstone(self, tuple keys, object isn, object ts_ns, object now):
        """Reassembler._tombstone(keys, isn) (without resume), here: a Python call
        and its _Dormant.__init__ and flow_key calls were most of a rejection."""
        cdef tuple key
        cdef Dormant dormant = Dormant.__new__(Dormant)  # reassembly._Dormant, built
        if ts_ns > now:
            now = ts_ns  # the clock _reject has just set
        dormant.keys = keys
        dormant.last_ns = now
        dormant.queued_ns = now
        dormant.isn = isn
        dormant.resume = None
        for key in keys:
            self.flows[key] = dormant
            self.rejected[_flow_key(key)] = dormant
        table = self.dormant_table
        table[dormant] = None
        if len(table) > self.reassembler._max_connections:
            self.flush()  # the reassembler's own code runs
            self.reassembler._expire_dormant(_reassembly._oldest(table))

    cdef bint _absorb(self, object ts_ns, bytes src, object sport, bytes dst,
                      object dport, object seq, object ack, int flags) except -1:
        """What feed() does with an empty segment without FIN/RST of no tracked
        flow, done here (True), unless it would do more (False, nothing changed).

        The steps are those of ``Reassembler.feed``, ``_untracked`` and
        ``_embryo``, in Python objects (a clock or sequence number of any size).
        """
        cdef object r = self.reassembler
        cdef tuple key = (src, sport, dst, dport)
        half = self.flows.get(key)
        if half is not None:
            return self._absorb_ack(half, ts_ns, ack, flags)
        now = r._now
        next_sweep = self._next_sweep(ts_ns, now)
        if next_sweep is None:
            return False  # a sweep is due: feed() runs it
        if flags & 0x02:  # SYN or SYN+ACK: Reassembler._embryo
            embryos = self.embryos
            if len(embryos) >= _reassembly.MAX_EMBRYOS:
                return False  # one more evicts the oldest (and may warn): feed()
            if flags & 0x10:  # SYN+ACK: keyed by the client's side
                key = (dst, dport, src, sport)
                known = self.embryos_pop(key, None)
                client_isn = (ack - 1) & 0xFFFFFFFF
                if known is not None and known[0] is not None:
                    client_isn = known[0]
                embryos[key] = (client_isn, seq, ts_ns if known is None else known[2])
            elif key not in embryos:  # the usual SYN: a new entry at the end
                embryos[key] = (seq, None, ts_ns)
            else:
                known = self.embryos_pop(key)
                if known[0] == seq:
                    embryos[key] = known  # retransmitted SYN
                else:
                    self.handshakes_without_data += 1
                    embryos[key] = (seq, None, ts_ns)
        else:  # a bare ACK (or an empty segment like it): counted, ignored
            self.untracked += 1
        self.segments += 1
        self._advance(ts_ns, now, next_sweep)
        return True

    cdef bint _absorb_ack(self, object half, object ts_ns, object ack,
                          int flags) except -1:
        """feed() on an empty segment of a tracked flow, when it only moves the
        clocks (True): a bare ACK that acknowledges nothing the reassembler has not
        seen. Half the segments of SMTP traffic are such ACKs; each cost a segment
        object, its way through two generators and the pipeline loop, and feed().
        Anything else (a tombstone, a SYN, a sweep due, an ACK of bytes not seen)
        is left to feed() (False, nothing changed).
        """
        if flags & 0x17 != 0x10 or half.dormant or not self._acks_nothing_new(half, ack):
            return False
        return self._take(half.conn, ts_ns)

    cdef object _deliver(self, object half, object ts_ns, object seq, object ack,
                         bytes buf, Py_ssize_t start, Py_ssize_t end, object index):
        """feed() on data of a tracked flow (ACK only), when it takes its fast path
        (in order, nothing held or pending, nothing new acknowledged): the same
        steps here, and (frame index, the Data event) handed out instead of the
        segment; None when feed() would do more (nothing changed). The other half
        of SMTP traffic's segments: their objects and feed() calls go too.
        """
        if half.dormant or not self._acks_nothing_new(half, ack):
            return None
        conn = half.conn
        if (
            seq != half.next_seq
            or not conn.kept
            or half.pending
            or conn.waiting
            or half.fin_off is not None
            or not self._take(conn, ts_ns)
        ):
            return None
        payload = _bytes_at(buf, start, end)
        off = half.next_off
        half.next_off = off + (end - start)
        half.next_seq = (seq + (end - start)) & 0xFFFFFFFF
        half.history.append((off, payload))
        half.emitted_off = off + (end - start)
        return (index, self.data_type(conn.public, half.direction, off, payload, ts_ns))

    cdef bint _take(self, object conn, object ts_ns) except -1:
        """feed()'s first steps for a segment of ``conn`` it would pass on at once:
        counted, the clocks moved, the connection's last activity; False (nothing
        changed) when a sweep is due at ts_ns (feed() runs it)."""
        now = self.reassembler._now
        next_sweep = self._next_sweep(ts_ns, now)
        if next_sweep is None:
            return False
        self.segments += 1
        self._advance(ts_ns, now, next_sweep)
        conn.last_ns = ts_ns if ts_ns > now else now
        return True

    cdef bint _acks_nothing_new(self, object half, object ack) except -1:
        """feed()'s fast-path test of a segment's acknowledgement number."""
        nseq = half.peer.next_seq
        if nseq < 0:  # the peer's origin unknown: fine unless a handshake set it
            conn = half.conn
            return not conn.public.handshake or conn.one_sided
        return ack == nseq or (ack - nseq) & 0xFFFFFFFF >= 0x80000000

    cdef object _next_sweep(self, object ts_ns, object now):
        """The sweep time feed() would keep for a segment at ts_ns, or None when a
        sweep is due there (feed() must run it)."""
        next_sweep = self.reassembler._next_sweep
        if ts_ns > now:
            if ts_ns - now > self.reassembler._idle_timeout:
                next_sweep = ts_ns + self.sweep_ns  # a clock step: feed() waits
            if ts_ns >= next_sweep:
                return None
        return next_sweep

    cdef _advance(self, object ts_ns, object now, object next_sweep):
        """feed()'s clock step for a segment it would have taken."""
        if ts_ns > now:
            self.reassembler._now = ts_ns
            self.reassembler._next_sweep = next_sweep


cdef class PcapCursor:
    """Where ``_pcap_frames`` is in its buffer: position, frames so far, last seconds.

    ``next(buf)`` returns the next frame when its record is complete and plausible
    in ``buf``, else None, leaving ``pos`` at that record for the reference loop,
    which refills, reports damage or resynchronises, and updates the fields.
    """

    cdef public Py_ssize_t pos
    cdef public long long index
    cdef public object last_sec
    cdef bint big
    cdef long long frac_ns
    cdef long long max_frac
    cdef int linktype
    cdef long long max_packet
    cdef Py_ssize_t size
    cdef dict rejected
    cdef object frame_type
    cdef FastDecoder decoder

    def __init__(self, frame_type, Py_ssize_t pos, long long index, bint big_endian,
                 long long frac_ns, long long max_frac, int linktype, long long max_packet,
                 Py_ssize_t record_size, dict rejected, FastDecoder decoder=None):
        if record_size < 16:
            raise ValueError("pcap records have 16 bytes of header or more")
        self.frame_type = frame_type
        self.pos = pos
        self.index = index
        self.last_sec = None
        self.big = big_endian
        self.frac_ns = frac_ns
        self.max_frac = max_frac
        self.linktype = linktype
        self.max_packet = max_packet
        self.size = record_size
        self.rejected = rejected
        self.decoder = decoder

    def next(self, bytes buf):
        found = self._next(buf)
        if self.decoder is not None:
            self.decoder.flush()
        return found

    cdef object _next(self, bytes buf):
        cdef Py_ssize_t end = len(buf)
        cdef Py_ssize_t pos = self.pos
        cdef Py_ssize_t size = self.size
        cdef const unsigned char[:] view
        if end - pos < size:
            return None
        view = buf
        while True:
            segment = self._record(buf, view, pos, end, size)
            if segment is not _ABSORBED:
                return segment
            pos = self.pos  # a handshake segment recorded: on to the next record
            if end - pos < size:
                return None

    cdef object _record(self, bytes buf, const unsigned char[:] view, Py_ssize_t pos,
                        Py_ssize_t end, Py_ssize_t size):
        """The next frame or segment from ``pos``, _ABSORBED or None (see next)."""
        cdef Py_ssize_t stop
        cdef unsigned long long sec, frac, incl, orig, skipped_sec = 0
        cdef long long ts_ns
        cdef long long skipped = 0
        if self.rejected:
            # Runs of frames that the reassembler would only ignore are stepped
            # over before any object is made for them (as flowskip.skip_records).
            while end - pos >= size:
                incl = _u32(view, pos + 8, self.big)
                if incl > <unsigned long long> self.max_packet or incl == 0:
                    break
                stop = pos + size + <Py_ssize_t> incl
                if stop > end:
                    break
                sec = _u32(view, pos, self.big)
                frac = _u32(view, pos + 4, self.big)
                orig = _u32(view, pos + 12, self.big)
                if not _skippable(
                    view, pos + size, <Py_ssize_t> incl, <long long> orig,
                    self.linktype,
                    <long long> (sec * 1000000000ULL + frac * <unsigned long long> self.frac_ns),
                    self.rejected,
                ):
                    break
                pos = stop
                skipped += 1
                skipped_sec = sec
            if skipped:
                self.index += skipped
                self.last_sec = skipped_sec
                self.pos = pos
            if end - pos < size:
                return None
        sec = _u32(view, pos, self.big)
        frac = _u32(view, pos + 4, self.big)
        incl = _u32(view, pos + 8, self.big)
        orig = _u32(view, pos + 12, self.big)
        if (
            incl > <unsigned long long> self.max_packet
            or (orig == 0 and incl == 0)
            or frac >= <unsigned long long> self.max_frac  # warned about by the reference
        ):
            return None
        stop = pos + size + <Py_ssize_t> incl
        if stop > end:
            return None
        self.index += 1
        self.last_sec = sec
        self.pos = stop
        ts_ns = <long long> (sec * 1000000000ULL + frac * <unsigned long long> self.frac_ns)
        if self.decoder is not None and incl:
            # With a decoder, a plain TCP frame comes out as its segment at once.
            segment = self.decoder._plain(
                buf, pos + size, view[pos + size : stop], orig, self.linktype, ts_ns,
                self.index, True,
            )
            if segment is not _FALLBACK:
                return segment  # or _ABSORBED, or (index, Data)
        return self.frame_type(
            self.index, ts_ns, self.linktype, _bytes_at(buf, pos + size, stop), orig
        )




cdef long long _LLONG_MAX = 9223372036854775807
_TS_MIN, _TS_MAX = -(1 << 63), 1 << 63  # capture._TS_MIN, _TS_MAX


cdef class PcapngCursor:
    """The run of plain Enhanced Packet Blocks at ``pos``, for ``_pcapng_frames``.

    ``next(buf)`` returns the next frame (or, with a decoder, its segment) while
    the block at ``pos`` is a whole, consistent EPB of a described interface,
    stepping over those ``smtpcore.flowskip`` rejects, else None: every other
    block, and every doubt, is the reference loop's, which then calls ``sync``.
    """

    cdef public Py_ssize_t pos
    cdef public object index
    cdef public object last_ts
    cdef bint big
    cdef list interfaces
    cdef dict rejected
    cdef object frame_type
    cdef FastDecoder decoder
    cdef Py_ssize_t bound

    def __init__(self, frame_type, Py_ssize_t bound, dict rejected,
                 FastDecoder decoder=None):
        self.frame_type = frame_type
        self.bound = bound
        self.rejected = rejected
        self.decoder = decoder
        self.interfaces = []

    def sync(self, Py_ssize_t pos, index, last_ts, bint big_endian, list interfaces):
        self.pos = pos
        self.index = index
        self.last_ts = last_ts
        self.big = big_endian
        self.interfaces = interfaces

    def next(self, bytes buf):
        found = self._next(buf)
        if self.decoder is not None:
            self.decoder.flush()
        return found

    cdef object _next(self, bytes buf):
        cdef Py_ssize_t end = len(buf)
        cdef Py_ssize_t pos, length, caplen
        cdef unsigned long long iface_id, high, low, orig, value
        cdef long long mul
        cdef int linktype
        cdef const unsigned char[:] view
        cdef tuple interface
        if end - self.pos < 8:
            return None
        view = buf
        while True:
            pos = self.pos
            if end - pos < 8 or _u32(view, pos, self.big) != 6:
                return None
            length = <Py_ssize_t> _u32(view, pos + 4, self.big)
            if length < 32 or length > self.bound or length & 3 or end - pos < length:
                return None
            iface_id = _u32(view, pos + 8, self.big)
            high = _u32(view, pos + 12, self.big)
            low = _u32(view, pos + 16, self.big)
            caplen = <Py_ssize_t> _u32(view, pos + 20, self.big)
            orig = _u32(view, pos + 24, self.big)
            if (
                iface_id >= <unsigned long long> len(self.interfaces)
                or caplen > length - 32
                or _u32(view, pos + length - 4, self.big) != <unsigned long long> length
            ):
                return None
            interface = self.interfaces[iface_id]
            linktype = interface[0]
            value = (high << 32) | low
            if (
                interface[3] == 0 and interface[4] == 1 and interface[5] == 0
                and 0 < interface[2] <= 1000000000
            ):
                mul = interface[2]
                if value > <unsigned long long> (_LLONG_MAX // mul):
                    ts_ns = ((value * interface[2]) >> interface[3]) // interface[4] + interface[5]
                else:
                    ts_ns = <long long> value * mul
            else:  # exact Python arithmetic, as the reference
                ts_ns = (((<object> value) * interface[2]) >> interface[3]) // interface[4] + interface[5]
            if not _TS_MIN <= ts_ns < _TS_MAX:
                return None  # beyond signed 64-bit nanoseconds: damage, said there
            self.pos = pos + length
            self.index += 1
            self.last_ts = ts_ns
            if (
                self.rejected
                and -(1 << 62) < ts_ns < (1 << 62)
                and _skippable(view, pos + 28, caplen, <long long> orig, linktype,
                               <long long> ts_ns, self.rejected)
            ):
                continue  # a frame the reassembler would only ignore
            if self.decoder is not None and caplen:
                segment = self.decoder._plain(
                    buf, pos + 28, view[pos + 28 : pos + 28 + caplen], orig, linktype,
                    ts_ns, self.index, True,
                )
                if segment is _ABSORBED:
                    continue  # a handshake segment recorded in the reassembler
                if segment is not _FALLBACK:
                    return segment
            return self.frame_type(
                self.index, ts_ns, linktype, _bytes_at(buf, pos + 28, pos + 28 + caplen), orig
            )


def plain_content(bytes data, bint previous_cr, bint context_cr):
    """``smtp.session.plain_bytes`` in one pass over the bytes (see there).

    Every read is of ``p[i]`` or ``p[i - 1]`` with 1 <= i < n (or ``p[0]`` when
    n > 0): inside the bytes object by the loop bounds alone.
    """
    cdef Py_ssize_t i, n = len(data)
    cdef Py_ssize_t crs = 0, crlf = 0
    cdef const unsigned char *p = <const unsigned char *> PyBytes_AS_STRING(data)
    cdef unsigned char c, before
    cdef bint dot = False
    if n == 0 or p[0] == 0x2E:
        return False
    if p[0] == 0x0A:
        if not previous_cr:
            return False
        crlf = 1
    elif p[0] == 0x0D:
        crs = 1
    for i in range(1, n):
        c = p[i]
        if c == 0x0A:
            if p[i - 1] != 0x0D:
                return False  # a bare LF
            crlf += 1
        elif c == 0x0D:
            crs += 1
        elif c == 0x2E:
            before = p[i - 1]
            if before == 0x0A or before == 0x0D:
                return False
            dot = True
    return not dot or context_cr + crs <= crlf
