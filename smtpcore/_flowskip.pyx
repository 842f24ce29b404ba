# cython: language_level=3, boundscheck=True, wraparound=False, cdivision=True
"""Compiled twin of smtpcore.flowskip (see there for the why).

Every read of a frame is checked against its captured length before it is made,
as in the reference, and every read of a record against the buffer; Cython's
bounds checking stays on as a second guard. A test feeds both implementations
every frame of every test capture and requires the same answers.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize

cdef class Dormant:
    """``smtpcore.reassembly._Dormant`` compiled, the same five fields.

    Every skipped frame moves its tombstone's ``last_ns``: on a Python object
    that is an attribute lookup, a comparison and an attribute store of Python
    ints (0.27 G of the 2.8 G instructions of reading a mostly-web capture,
    under callgrind); here a C comparison and store.
    ``last_ns`` is kept as a C integer while it fits in 64 bits, as any Python
    value otherwise. The reassembler makes these when the module is built.
    """

    dormant = True

    def __init__(self, keys, now, isn=None):
        self.keys = keys
        self.last_ns = now
        self.queued_ns = now
        self.isn = isn
        self.resume = None

    @property
    def last_ns(self):
        return self._last if self._narrow else self._wide

    @last_ns.setter
    def last_ns(self, value):
        if type(value) is int and -(1 << 63) <= value < (1 << 63):
            self._last = value
            self._narrow = True
            self._wide = None
        else:
            self._wide = value
            self._narrow = False


cdef inline void _touch(object known, long long ts_ns) except *:
    """``known.last_ns = max(known.last_ns, ts_ns)``, as the reference does it."""
    cdef Dormant tomb
    if type(known) is Dormant:
        tomb = <Dormant> known
        if tomb._narrow:
            if ts_ns > tomb._last:
                tomb._last = ts_ns
            return
    if ts_ns > known.last_ns:
        known.last_ns = ts_ns


cdef int _ETHERNET = 1, _RAW = 101, _RAW_IPV4 = 228, _LINUX_SLL = 113, _LINUX_SLL2 = 276


cdef bint _skippable(
    const unsigned char[:] view,
    Py_ssize_t start,
    Py_ssize_t caplen,
    long long orig_len,
    int linktype,
    long long ts_ns,
    dict rejected,
):
    """The frame at view[start:start + caplen]; the reference's logic, line by line."""
    cdef Py_ssize_t off, tcp, end, header, total, length, tcp_header, key_len, i
    cdef unsigned int ethertype
    cdef unsigned char version_ihl
    cdef unsigned char key[36]
    if caplen != orig_len or caplen < 1:
        return False
    if linktype == _ETHERNET:
        if caplen < 14:
            return False
        ethertype = (view[start + 12] << 8) | view[start + 13]
        off = 14
        while ethertype == 0x8100 or ethertype == 0x88A8 or ethertype == 0x9100:
            if caplen < off + 4:
                return False
            ethertype = (view[start + off + 2] << 8) | view[start + off + 3]
            off += 4
    elif linktype == _LINUX_SLL:
        if caplen < 16:
            return False
        ethertype = (view[start + 14] << 8) | view[start + 15]
        off = 16
    elif linktype == _LINUX_SLL2:
        if caplen < 20:
            return False
        ethertype = (view[start] << 8) | view[start + 1]
        off = 20
    elif linktype == _RAW or linktype == _RAW_IPV4:
        ethertype = 0x0800 if view[start] >> 4 == 4 else 0x86DD
        off = 0
    else:
        return False
    if ethertype == 0x0800:
        if caplen < off + 20:
            return False
        version_ihl = view[start + off]
        header = (version_ihl & 15) * 4
        total = (view[start + off + 2] << 8) | view[start + off + 3]
        if (
            version_ihl >> 4 != 4
            or header < 20
            or view[start + off + 9] != 6
            or ((view[start + off + 6] & 0x3F) | view[start + off + 7]) != 0
            or total < header + 20
            or off + total > caplen
        ):
            return False
        tcp = off + header
        end = off + total
        for i in range(8):
            key[i] = view[start + off + 12 + i]
        key_len = 8
    elif ethertype == 0x86DD:
        if caplen < off + 60:
            return False
        length = (view[start + off + 4] << 8) | view[start + off + 5]
        if view[start + off] >> 4 != 6 or view[start + off + 6] != 6 or length < 20:
            return False
        tcp = off + 40
        end = tcp + length
        if end > caplen:
            return False
        for i in range(32):
            key[i] = view[start + off + 8 + i]
        key_len = 32
    else:
        return False
    tcp_header = (view[start + tcp + 12] >> 4) * 4
    if tcp_header < 20 or tcp + tcp_header > end:
        return False
    if view[start + tcp + 13] & 0x02:  # SYN: perhaps a new connection on these ports
        return False
    for i in range(4):
        key[key_len + i] = view[start + tcp + i]
    known = rejected.get(PyBytes_FromStringAndSize(<char *> key, key_len + 4))
    if known is None:
        return False
    _touch(known, ts_ns)
    return True


def is_skippable(bytes data, long long orig_len, int linktype, ts_ns, dict rejected):
    # A timestamp beyond 64 bits (a hostile pcapng resolution or offset) is not
    # skipped: it takes the full path, which handles any integer.
    if not data or not -(1 << 62) < ts_ns < (1 << 62):
        return False
    return _skippable(data, 0, len(data), orig_len, linktype, ts_ns, rejected)


cdef inline unsigned long long _u32(const unsigned char[:] v, Py_ssize_t p, bint big):
    if big:
        return (<unsigned long long> v[p] << 24) | (v[p + 1] << 16) | (v[p + 2] << 8) | v[p + 3]
    return (<unsigned long long> v[p + 3] << 24) | (v[p + 2] << 16) | (v[p + 1] << 8) | v[p]


def skip_pcap_records(
    bytes buf,
    Py_ssize_t pos,
    bint big_endian,
    long long frac_ns,
    int linktype,
    long long max_packet,
    dict rejected,
    Py_ssize_t record_size=16,
):
    cdef Py_ssize_t end = len(buf)
    cdef Py_ssize_t skipped = 0
    cdef long long last_sec = -1
    cdef unsigned long long sec, frac, incl, orig
    cdef Py_ssize_t stop
    cdef const unsigned char[:] view
    if end - pos < record_size or record_size < 16:
        return pos, 0, -1
    view = buf
    while end - pos >= record_size:
        sec = _u32(view, pos, big_endian)
        frac = _u32(view, pos + 4, big_endian)
        incl = _u32(view, pos + 8, big_endian)
        orig = _u32(view, pos + 12, big_endian)
        if incl > <unsigned long long> max_packet or incl == 0:
            break
        stop = pos + record_size + <Py_ssize_t> incl
        if stop > end:
            break
        if not _skippable(
            view, pos + record_size, <Py_ssize_t> incl, <long long> orig, linktype,
            <long long> (sec * 1000000000ULL + frac * <unsigned long long> frac_ns),
            rejected,
        ):
            break
        pos = stop
        skipped += 1
        last_sec = sec
    return pos, skipped, last_sec
