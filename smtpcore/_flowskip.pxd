# The frame test, shared with smtpcore._fastpath's record reader.
cdef bint _skippable(
    const unsigned char[:] view,
    Py_ssize_t start,
    Py_ssize_t caplen,
    long long orig_len,
    int linktype,
    long long ts_ns,
    dict rejected,
)


# reassembly's tombstone of a connection, compiled (see _flowskip.pyx).
cdef class Dormant:
    cdef public object keys, queued_ns, isn, resume
    cdef bint _narrow  # last_ns is _last (it fits in 64 bits), else _wide
    cdef long long _last
    cdef object _wide
