"""The compiled decoder's absorption (FastDecoder.absorb_handshakes) against feed().

Shared by tests/test_fastpath.py and fuzz/fuzz_handshakes.py: a capture is read as the
pipeline reads it (compiled reader, tombstones skipped), once with every segment fed
to the reassembler and once with the compiled decoder writing handshakes and bare
ACKs down and feeding in-order data itself; the events and the reassembler's state
after every frame, those of finish(), the counters and the warnings must be equal.
The caller makes capture and packets use the compiled module (``_fastpath``).
"""

from __future__ import annotations

import io

from smtpcore import capture, detect, flowskip, packets, reassembly

_flowskip = flowskip.compiled("_flowskip")


def state(r: reassembly.Reassembler) -> tuple:
    """What a segment the compiled decoder takes in may change in a reassembler."""
    return (
        list(r._embryos.items()),
        sorted(map(repr, r._flows)),
        sorted(r.rejected),
        [
            [getattr(d, field) for field in reassembly.DORMANT_FIELDS]
            for d in r._dormant
        ],
        dict(r.stats),
        r._now,
        r._next_sweep,
        r._next_id,
        [
            (c.public.id, c.last_ns, c.queued_ns, [_half_state(h) for h in c.halves])
            for c in r._live
        ],
    )


def _half_state(half) -> tuple:
    """What feed() may change in a direction of a tracked connection."""
    return (
        half.next_seq,
        half.next_off,
        half.acked_off,
        half.hole_ns,
        half.emitted_off,
        half.fin_off,
        list(half.pending),
        list(half.waiting),
        list(half.history),
    )


def reassemble(data: bytes, absorb: bool, classify=True, keylog=None, delivered=None):
    """Per fed frame, the events and the state after it; then finish(), the state,
    the decoder's counters, the warnings. With ``absorb``, the frames whose data the
    compiled decoder fed itself are added to ``delivered``."""
    warnings = []
    reader = capture.CaptureReader(io.BytesIO(data), warnings.append)
    decoder = packets.PacketDecoder(warnings.append)
    r = reassembly.Reassembler(
        warnings.append,
        classify=detect.Classifier(keylog) if classify else None,
        server_ports=detect.SERVER_PORTS,
    )
    reader.rejected = r.rejected
    if absorb:
        decoder.fast.absorb_handshakes(r)
    trace = {}
    delivered = [] if delivered is None else delivered
    for item in reader.items(decoder.fast):
        if type(item) is capture.Frame:
            if r.rejected and _flowskip.is_skippable(
                item.data, item.orig_len, item.linktype, item.ts_ns, r.rejected
            ):
                continue
            index, item = item.index, decoder.decode(item)
        elif type(item) is not tuple:
            index = item.frame
        if type(item) is tuple:  # in-order data the compiled decoder fed itself
            index, event = item
            trace[index] = (repr([event]), state(r))
            delivered.append(index)
        elif item is not None:
            trace[index] = (repr(r.feed(item)), state(r))
    decoder.finish()
    end = repr(r.finish())
    return trace, end, state(r), dict(decoder.stats), warnings


def same_with_absorption(data: bytes, classify=True, keylog=None) -> tuple[int, int]:
    """Asserts both readings agree; returns (frames absorbed, frames whose data the
    decoder fed itself)."""
    delivered = []
    fed, *fed_rest = reassemble(data, False, classify, keylog)
    absorbed, *absorbed_rest = reassemble(data, True, classify, keylog, delivered)
    assert absorbed_rest == fed_rest
    # Every frame handed out is fed into the same state; every frame absorbed
    # would have made no event, and left the state the next one finds.
    assert set(absorbed) <= set(fed)
    for index, (events, after) in fed.items():
        if index in absorbed:
            assert absorbed[index] == (events, after), index
        else:
            assert events == "[]", index
    return len(fed) - len(absorbed), len(delivered)
