"""Fuzz target: handshakes written down by the compiled decoder against feed().

`FastDecoder.absorb_handshakes` makes the compiled decoder record SYNs, SYN+ACKs and
bare ACKs of new connections, and tombstone those whose first data the classifier
certainly turns down, without handing out a segment. The records become a pcap of
TCP segments among eight flows (ports 443, 80, 25, 993, 465, ...): op bit 0 is the
direction, bits 1-3 the flow; the piece is flags, sequence and acknowledgement
numbers (one byte each, so that handshakes and their first bytes line up), a control
byte (bits 0-1: the time step, 1 µs, 1.5 s, past the idle timeout, or back; bits
2-3: the payload starts as TLS, an HTTP request, a request line or as it is), then
the payload. The first op's bit 7 gives the classifier a key log, bit 6 no classifier.
The capture is read as the pipeline reads it with and without the absorption
(tests/absorption.py, as tests/test_fastpath.py does), MAX_EMBRYOS at 3 so that the
table fills: the events and the reassembler's tables, clock and counters (and every
tracked direction's state) after every segment handed out,
those of finish(), the decoder's counters and the warnings must be equal. Returns at
once when the compiled code is not built.
"""

import os
import struct
import sys

import _common
import atheris

sys.path.insert(0, os.path.join(_common.ROOT, "tests"))
import pcapgen  # noqa: E402  (the tests' frame builder)

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore import capture, flowskip, packets, reassembly
    from smtpcore.tls.keylog import KeyLog
# After the instrumented imports: it uses the modules as imported there.
import absorption  # noqa: E402  (the tests' comparison of the two readings)

_fastpath = flowskip.compiled("_fastpath")

_PORTS = (443, 80, 25, 993, 465, 443, 80, 110)
_STEPS = (1_000, 1_500_000_000, 1_000 * 10**9, -(10**9))
_PREFIXES = (b"\x16\x03", b"GET / HTTP/1.1\r\n", b"GET /", b"")
_CLIENT, _SERVER = "10.0.0.1", "10.0.0.2"


def _frame(src, dst, sport, dport, seq, ack, flags, payload) -> bytes:
    return pcapgen.ethernet(
        pcapgen.ipv4_tcp(src, dst, sport, dport, seq, ack, flags, payload)
    )


def build(data: bytes):
    """(pcap bytes, the first op) from the fuzz records."""
    items = list(_common.records(atheris.FuzzedDataProvider(data)))
    out = bytearray(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
    ts = 1_700_000_000 * 10**9
    for op, piece in items:
        piece = piece.ljust(4, b"\0")
        flags, seq, ack, control = piece[:4]
        ts = max(0, ts + _STEPS[control & 3])
        payload = _PREFIXES[(control >> 2) & 3] + piece[4:] if len(piece) > 4 else b""
        flow = (op >> 1) & 7
        ends = [(_CLIENT, 40000 + flow), (_SERVER, _PORTS[flow])]
        (src, sport), (dst, dport) = ends if op & 1 == 0 else ends[::-1]
        frame = _frame(src, dst, sport, dport, seq, ack, flags, payload[:1400])
        sec, nsec = divmod(ts, 10**9)
        out += struct.pack("<IIII", sec, nsec, len(frame), len(frame)) + frame
    return bytes(out), items[0][0] if items else 0


def TestOneInput(data: bytes) -> None:
    if _fastpath is None:
        return
    capture._fastpath = packets._fastpath = _fastpath
    reassembly.MAX_EMBRYOS = 3
    capture_bytes, first = build(data)
    keylog = None
    if first & 0x80:
        keylog = KeyLog()
        keylog.add_bytes(b"CLIENT_RANDOM " + b"00" * 32 + b" " + b"11" * 48, "fuzz")
    absorption.same_with_absorption(capture_bytes, not first & 0x40, keylog)


if __name__ == "__main__":
    _common.run(TestOneInput)
