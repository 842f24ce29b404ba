"""Fuzz target: the compiled flow skip (smtpcore._flowskip) against its Python reference.

The records are frames of one link type (the first op byte picks it, as in
fuzz_packets); a frame whose op has bit 4 set puts its connection, as the packet
decoder sees it, among the rejected ones. Both implementations answer
`is_skippable` for every frame and `skip_pcap_records` from every record of the
pcap body built from the frames (either byte order, µs or ns); the answers and the
`last_ns` they leave must be equal. Under AddressSanitizer (make fuzz-asan) this is
also the memory check of the compiled code. Skipped when it is not built.
"""

import struct
import sys

import _common
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore import flowskip
    from smtpcore.capture import Frame
    from smtpcore.packets import PacketDecoder

    try:
        from smtpcore import _flowskip
    except ImportError:
        _flowskip = None

from fuzz_packets import LINKTYPES


class _Known:
    __slots__ = ("last_ns",)

    def __init__(self, last_ns):
        self.last_ns = last_ns


def _rejected(keys):
    return {key: _Known(last_ns) for key, last_ns in keys.items()}


def _last(rejected):
    return {key: known.last_ns for key, known in rejected.items()}


def TestOneInput(data: bytes) -> None:
    if _flowskip is None:
        return
    items = list(_common.records(atheris.FuzzedDataProvider(data)))
    if not items:
        return
    linktype = LINKTYPES[items[0][0] & 0x0F]
    decoder = PacketDecoder(lambda message: None)
    keys = {}
    ts = 1_700_000_000 * 10**9
    for index, (op, piece) in enumerate(items, 1):
        ts += (op >> 5) * 10**6
        if op & 0x10:
            segment = decoder.decode(Frame(index, ts, linktype, piece, len(piece)))
            if segment is not None:
                key = flowskip.flow_key(
                    segment.src, segment.sport, segment.dst, segment.dport
                )
                keys[key] = ts - 10**9 * (op & 1)
    pure, compiled = _rejected(keys), _rejected(keys)
    ts = 1_700_000_000 * 10**9
    for op, piece in items:
        ts += (op >> 5) * 10**6
        orig_len = len(piece) + (op >> 7 & op & 1)
        expected = flowskip.is_skippable(piece, orig_len, linktype, ts, pure)
        assert (
            _flowskip.is_skippable(piece, orig_len, linktype, ts, compiled) == expected
        )
        assert _last(pure) == _last(compiled)
    for big_endian in (False, True):
        order = ">" if big_endian else "<"
        frac_ns = 1 if items[0][0] & 0x20 else 1000
        body = bytearray()
        starts = []
        sec = 1_700_000_000
        for op, piece in items:
            starts.append(len(body))
            sec += op >> 6
            orig_len = len(piece) + (op >> 7 & op & 1)
            body += struct.pack(order + "IIII", sec, op * 3907, len(piece), orig_len)
            body += piece
        body = bytes(body)
        pure, compiled = _rejected(keys), _rejected(keys)
        for pos in starts + [len(body), len(body) // 3]:
            expected = flowskip.skip_pcap_records(
                body, pos, big_endian, frac_ns, linktype, 65535, pure
            )
            answer = _flowskip.skip_pcap_records(
                body, pos, big_endian, frac_ns, linktype, 65535, compiled
            )
            assert tuple(answer) == tuple(expected), (pos, answer, expected)
            assert _last(pure) == _last(compiled)


if __name__ == "__main__":
    _common.run(TestOneInput)
