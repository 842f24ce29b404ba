"""The compiled per-frame path (smtpcore._fastpath) against its pure reference.

Every capture under test_data/ is read and decoded both ways, frame by frame,
also with the flows' tombstones in place (so that the compiled reader steps over
runs of frames), and also after damage (truncated and corrupted copies), and the
frames, segments, counters and warnings must be identical. The end-to-end test
requires the same output folders with and without SMTPCORE_PURE=1.
"""

import dataclasses
import hashlib
import io
import os
import pathlib
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpcore import capture, flowskip, packets

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import absorption  # noqa: E402
import pcapgen  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _is_capture(path: pathlib.Path) -> bool:
    if not path.is_file():
        return False
    kind = capture.sniff(path.read_bytes()[:4])
    return kind in ("pcap", "pcapng") or (kind == "gzip" and ".pcap" in path.name)


CAPTURES = sorted(p for p in (ROOT / "test_data").rglob("*") if _is_capture(p))
# The external corpus next to the checkout (or next to the worktrees' folder).
for _shared in (ROOT.parent / "shared", ROOT.parent.parent / "shared"):
    if (_shared / "corpus" / "external").is_dir():
        CAPTURES += sorted((_shared / "corpus" / "external").glob("*.pcap*"))
        break

_fastpath = flowskip.compiled("_fastpath")
_flowskip = flowskip.compiled("_flowskip")
pytestmark = pytest.mark.skipif(
    _fastpath is None, reason="compiled hot path not built (or SMTPCORE_PURE=1)"
)


class Tombstone:
    last_ns = 0


def _read(data: bytes, compiled: bool, monkeypatch, rejected=None):
    """Frames, decoded segments, decoder counters and warnings, one way."""
    monkeypatch.setattr(capture, "_fastpath", _fastpath if compiled else None)
    monkeypatch.setattr(packets, "_fastpath", _fastpath if compiled else None)
    warnings = []
    reader = capture.CaptureReader(io.BytesIO(data), warnings.append)
    if rejected is not None:
        reader.rejected = rejected
    decoder = packets.PacketDecoder(warnings.append)
    skippable = (_flowskip if compiled else flowskip).is_skippable
    frames, segments = [], []
    for frame in reader:
        if rejected and skippable(
            frame.data, frame.orig_len, frame.linktype, frame.ts_ns, rejected
        ):
            continue  # as the pipeline does (the pure pcapng reader never skips)
        frames.append(dataclasses.astuple(frame))
        segment = decoder.decode(frame)
        segments.append(None if segment is None else dataclasses.astuple(segment))
    decoder.finish()
    return frames, segments, dict(decoder.stats), warnings


def _read_items(data: bytes, monkeypatch, rejected=None):
    """The compiled reader decoding on the way (as the pipeline reads), pure-shaped."""
    monkeypatch.setattr(capture, "_fastpath", _fastpath)
    monkeypatch.setattr(packets, "_fastpath", _fastpath)
    warnings = []
    reader = capture.CaptureReader(io.BytesIO(data), warnings.append)
    if rejected is not None:
        reader.rejected = rejected
    decoder = packets.PacketDecoder(warnings.append)
    segments = []
    for item in reader.items(decoder.fast):
        if type(item) is capture.Frame:
            if rejected and _flowskip.is_skippable(
                item.data, item.orig_len, item.linktype, item.ts_ns, rejected
            ):
                continue
            item = decoder.decode(item)
        segments.append(None if item is None else dataclasses.astuple(item))
    decoder.finish()
    return [s for s in segments if s is not None], dict(decoder.stats), warnings


def _tombstones(segments):
    """A tombstone for every flow (and its last timestamp kept by the skipper)."""
    return {
        flowskip.flow_key(s[2], s[4], s[3], s[5]): Tombstone()
        for s in segments
        if s is not None
    }


def _damaged(data: bytes, seed: int) -> bytes:
    """A copy with a few bytes overwritten and the end cut off."""
    rng = random.Random(seed)
    copy = bytearray(data)
    for _ in range(4):
        at = rng.randrange(24, len(copy))
        copy[at : at + 4] = rng.randbytes(4)
    return bytes(copy[: rng.randrange(len(copy) // 2, len(copy))])


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_frames_and_segments_are_identical(path, monkeypatch):
    data = path.read_bytes()
    pure = _read(data, False, monkeypatch)
    fast = _read(data, True, monkeypatch)
    assert fast == pure
    assert pure[0], "no frames: not a test of anything"
    # With every flow rejected, the runs the compiled reader steps over are
    # exactly those the pure one steps over.
    pure_skip = _read(data, False, monkeypatch, _tombstones(pure[1]))
    fast_skip = _read(data, True, monkeypatch, _tombstones(pure[1]))
    assert fast_skip == pure_skip
    for seed in range(3):
        broken = _damaged(data, seed)
        assert _read(broken, True, monkeypatch) == _read(broken, False, monkeypatch)
        _, segments, stats, warnings = _read(broken, False, monkeypatch)
        expected = [s for s in segments if s is not None], stats, warnings
        assert _read_items(broken, monkeypatch) == expected
        # Damage right after a run of skipped frames: resynchronisation
        # depends on the time of the last record stepped over.
        tombs = _tombstones(pure[1])
        assert _read(broken, True, monkeypatch, tombs) == _read(
            broken, False, monkeypatch, _tombstones(pure[1])
        )
    # Segments straight from the compiled reader: the same, in the same order.
    for reference, rejected in ((pure, None), (pure_skip, _tombstones(pure[1]))):
        _, segments, stats, warnings = reference
        expected = [s for s in segments if s is not None], stats, warnings
        assert _read_items(data, monkeypatch, rejected) == expected


# if_tsresol / if_tsoffset / byte order: the fixed-point fast case, powers of two,
# values past 64 bits (computed exactly, never skipped) and big-endian sections.
# (interface, nanoseconds added to every timestamp)
_VARIANTS = [
    (pcapgen.Interface(), 0),
    (pcapgen.Interface(tsresol=9, tsoffset=-5), 0),
    (pcapgen.Interface(tsresol=0x80 | 20), 0),
    (pcapgen.Interface(tsresol=0x80 | 30), 0),
    (pcapgen.Interface(tsresol=3, tsoffset=10**12), 0),  # beyond 64 bits: damage
    (pcapgen.Interface(), 10**19),  # microseconds beyond 2**63 nanoseconds: damage
]
_BEYOND_64_BITS = (4, 5)


def _as_pcapng(data: bytes, variant: int) -> bytes:
    """The frames of a pcap capture rewritten as pcapng, one variant of the header."""
    frames = list(capture.CaptureReader(io.BytesIO(data), lambda _: None))
    template, shift = _VARIANTS[variant]
    interface = dataclasses.replace(template, linktype=frames[0].linktype)
    offset = (template.tsoffset or 0) * 10**9
    blocks = [
        pcapgen.EPB(0, max(f.ts_ns + shift, offset), f.data, f.orig_len)
        for f in frames
        if f.linktype == interface.linktype
    ]
    half = len(blocks) // 2
    out = io.BytesIO()
    pcapgen.write_pcapng(
        out,
        [
            pcapgen.Section([interface], blocks[:half]),
            pcapgen.Section([interface], blocks[half:], big_endian=True),
        ],
    )
    return out.getvalue()


PCAPS = [p for p in CAPTURES if p.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"][::3]


@pytest.mark.parametrize("path", PCAPS, ids=lambda p: p.name)
def test_pcapng_variants_are_identical(path, monkeypatch):
    for variant in range(len(_VARIANTS)):
        data = _as_pcapng(path.read_bytes(), variant)
        pure = _read(data, False, monkeypatch)
        if variant in _BEYOND_64_BITS:
            assert pure[3]  # damage, and said the same way on both paths
            assert _read(data, True, monkeypatch) == pure
            continue
        assert pure[0]
        assert _read(data, True, monkeypatch) == pure
        tombs = _tombstones(pure[1])
        pure_skip = _read(data, False, monkeypatch, tombs)
        assert _read(data, True, monkeypatch, _tombstones(pure[1])) == pure_skip
        _, segments, stats, warnings = pure_skip
        expected = [s for s in segments if s is not None], stats, warnings
        assert _read_items(data, monkeypatch, _tombstones(pure[1])) == expected
        broken = _damaged(data, variant)
        assert _read(broken, True, monkeypatch) == _read(broken, False, monkeypatch)


def test_some_frames_take_each_path(monkeypatch):
    """The compiled decoder handles the plain frames and hands the rest back."""
    calls = []
    real = packets.PacketDecoder.decode

    def counting(self, frame):
        calls.append(frame.index)
        return real(self, frame)

    monkeypatch.setattr(packets.PacketDecoder, "decode", counting)
    handed_back = decoded = 0
    for path in CAPTURES:
        frames, segments, stats, _ = _read(path.read_bytes(), True, monkeypatch)
        decoded += stats["frames"]
        handed_back += len(calls)
        calls.clear()
    assert 0 < handed_back < decoded / 2


def _extract_all(paths, out, env_extra):
    env = dict(os.environ, **env_extra)
    subprocess.run(
        [sys.executable, "-m", "smtpcore.cli", "extract", "-q", "--jobs", "1",
         *map(str, paths), "-o", str(out)],
        env=env, check=False, capture_output=True,
    )  # fmt: skip
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
        and p.name not in ("manifest.json", "report.html", "smtpcore.log")
    }


def test_pure_and_compiled_write_the_same_files(tmp_path):
    """Every capture of the artifacts and the lab captures, both ways."""
    paths = [p for p in CAPTURES if "artifacts" in p.parts or "captures" in p.parts]
    compiled = _extract_all(paths, tmp_path / "compiled", {})
    pure = _extract_all(paths, tmp_path / "pure", {"SMTPCORE_PURE": "1"})
    assert compiled == pure and len(compiled) > 100


def _web_flow_pcapng(interface: "pcapgen.Interface") -> bytes:
    """An HTTP connection (rejected at its first byte) and its later frames."""
    c, s = "192.0.2.10", "198.51.100.20"

    def frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
        return pcapgen.ethernet(
            pcapgen.ipv4_tcp(src, dst, sport, dport, seq, ack, flags, payload)
        )

    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    frames = [
        frame(c, s, 40000, 80, 100, 0, 0x02),
        frame(s, c, 80, 40000, 500, 101, 0x12),
        frame(c, s, 40000, 80, 101, 501, 0x10),
        frame(c, s, 40000, 80, 101, 501, 0x18, request),
        frame(s, c, 80, 40000, 501, 101 + len(request), 0x18, b"HTTP/1.1 200 OK\r\n"),
        frame(c, s, 40000, 80, 101 + len(request), 519, 0x11),
    ]
    start = (interface.tsoffset or 0) * 10**9 + 10**9
    blocks = [pcapgen.EPB(0, start + i * 1000, f) for i, f in enumerate(frames)]
    out = io.BytesIO()
    pcapgen.write_pcapng(out, [pcapgen.Section([interface], blocks)])
    return out.getvalue()


@pytest.mark.parametrize("compiled", [False, True])
def test_timestamps_beyond_64_bits_are_no_crash(compiled, monkeypatch):
    """if_tsoffset of 10**12 s: the times are damage, said, and nothing crashes.

    (Before such frames were dropped as damage, the compiled skip test took their
    timestamp as a C long long and raised OverflowError out of the pipeline.)
    """
    from smtpcore import pipeline

    monkeypatch.setattr(capture, "_fastpath", _fastpath if compiled else None)
    monkeypatch.setattr(packets, "_fastpath", _fastpath if compiled else None)
    monkeypatch.setattr(
        flowskip, "skippable", (_flowskip if compiled else flowskip).is_skippable
    )
    data = _web_flow_pcapng(pcapgen.Interface(tsresol=9, tsoffset=10**12))
    warnings = []
    items = list(
        pipeline.extract(io.BytesIO(data), source="x", warn=warnings.append, mime=False)
    )
    assert items == [] and warnings
    frames = list(capture.CaptureReader(io.BytesIO(data), lambda _: None))
    assert len(frames) == 6  # kept, their time said to be damaged
    # Just inside 64 bits: the frames are there, and the flow is skipped.
    data = _web_flow_pcapng(pcapgen.Interface(tsresol=9, tsoffset=9 * 10**9))
    warnings.clear()
    items = list(
        pipeline.extract(io.BytesIO(data), source="x", warn=warnings.append, mime=False)
    )
    frames = list(capture.CaptureReader(io.BytesIO(data), lambda _: None))
    assert items == [] and warnings == []
    assert len(frames) == 6 and frames[0].ts_ns == 9 * 10**18 + 10**9


# -- handshakes recorded by the compiled decoder (FastDecoder.absorb_handshakes) --


def _compiled_modules(monkeypatch) -> None:
    monkeypatch.setattr(capture, "_fastpath", _fastpath)
    monkeypatch.setattr(packets, "_fastpath", _fastpath)


def _reassemble(data: bytes, absorb: bool, monkeypatch, classify=True, keylog=None):
    _compiled_modules(monkeypatch)
    return absorption.reassemble(data, absorb, classify, keylog)


def _same_with_absorption(data: bytes, monkeypatch, classify=True, keylog=None):
    _compiled_modules(monkeypatch)
    return absorption.same_with_absorption(data, classify, keylog)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_absorbed_handshakes_change_nothing(path, monkeypatch):
    data = path.read_bytes()
    absorbed = _same_with_absorption(data, monkeypatch)
    _same_with_absorption(data, monkeypatch, classify=False)
    ABSORBED[str(path)] = absorbed


ABSORBED: dict = {}


def test_most_captures_had_handshakes_absorbed():
    """The test above compared something: in most captures handshakes were absorbed
    and data was fed by the compiled decoder."""
    if len(ABSORBED) < len(CAPTURES):
        pytest.skip("run with the test above")
    assert sum(1 for n, _ in ABSORBED.values() if n >= 2) > len(CAPTURES) / 2
    assert sum(1 for _, n in ABSORBED.values() if n >= 2) > len(CAPTURES) / 2


def _handshakes_capture() -> bytes:
    """Handshakes in every order and state the absorption must tell apart."""
    from pcapgen import ACK, FIN, RST, SYN, ethernet, ipv4_tcp, ipv6_tcp

    t = 1_700_000_000_000_000_000
    frames = []

    def add(ts, src, dst, sport, dport, seq, ack, flags, payload=b"", v6=False):
        build = ipv6_tcp if v6 else ipv4_tcp
        if v6:
            src, dst = f"fd00::{src}", f"fd00::{dst}"
        frames.append(
            (ts, ethernet(build(src, dst, sport, dport, seq, ack, flags, payload)))
        )

    c, s = "10.0.0.1", "10.0.0.2"
    for n in range(12):  # web connections, some retransmitted, some over IPv6
        p, v6, ts = 40000 + n, n % 3 == 0, t + n * 1000
        add(ts, c, s, p, 443, 100 * n, 0, SYN, v6=v6)
        if n % 4 == 1:
            add(ts + 1, c, s, p, 443, 100 * n, 0, SYN, v6=v6)  # retransmitted
        if n % 4 == 2:
            add(ts + 1, c, s, p, 443, 100 * n + 7, 0, SYN, v6=v6)  # new ISN
        add(ts + 2, s, c, 443, p, 5000 * n, 100 * n + 1, SYN | ACK, v6=v6)
        add(ts + 3, c, s, p, 443, 100 * n + 1, 5000 * n + 1, ACK, v6=v6)
        hello = b"\x16\x03\x01\x00\x05hello" if n % 2 else b"GET / HTTP/1.1\r\n\r\n"
        add(ts + 4, c, s, p, 443, 100 * n + 1, 5000 * n + 1, ACK, hello, v6=v6)
        add(ts + 5, s, c, 443, p, 5000 * n + 1, 100 * n + 1 + len(hello), ACK, v6=v6)
        add(ts + 6, c, s, p, 443, 100 * n + 1 + len(hello), 0, RST, v6=v6)
        # A new SYN on the ports of the rejected connection: feed() decides.
        add(ts + 7, c, s, p, 443, 100 * n + 99, 0, SYN, v6=v6)
    # First bytes the compiled decoder must leave to the classifier, and some
    # it turns down from the server's side.
    openings = [
        (0, 993, b"\x16\x03\x01\x00\x05hello"),  # implicit TLS: kept
        (0, 443, b"\x16\x03\x01\x00\x05hello", 465),  # client port 465
        (0, 443, b"\x16\x02\x01\x00\x05hello"),  # not a TLS version
        (0, 80, b"GET /abc"),  # no complete line yet
        (0, 80, b"get / HTTP/1.0\r\n\r\n"),  # lower case: the detectors' call
        (0, 80, b"GET /x\n" + b"y" * 5000),  # newline within the head
        (0, 80, b"GET " + b"x" * 4200 + b"\n"),  # newline past the head
        (1, 80, b"HTTP/1.1 200 OK\r\n\r\n"),  # the server first
        (1, 443, b"\x16\x03\x03\x00\x05hello"),  # TLS from the server first
        (1, 25, b"220 mail.example.com ESMTP\r\n"),  # mail: kept
        (0, 143, b"a1 CAPABILITY\r\n"),  # mail: kept
        (0, 80, b"GET / HTTP/1.1\r\n", None, 5),  # not the exact first byte
        (0, 80, b"GET / HTTP/1.1\r\n", None, 0, 9),  # acknowledges something else
    ]
    for n, (direction, port, payload, *odd) in enumerate(openings):
        cport = odd[0] if odd and odd[0] else 43000 + n
        shift = odd[1] if len(odd) > 1 else 0
        ack_shift = odd[2] if len(odd) > 2 else 0
        ts = t + 10**6 + n * 1000
        add(ts, c, s, cport, port, 10 * n, 0, SYN)
        add(ts + 1, s, c, port, cport, 70 * n, 10 * n + 1, SYN | ACK)
        add(ts + 2, c, s, cport, port, 10 * n + 1, 70 * n + 1, ACK)
        if direction == 0:
            add(ts + 3, c, s, cport, port, 10 * n + 1 + shift,
                70 * n + 1 + ack_shift, ACK, payload)  # fmt: skip
        else:
            add(ts + 3, s, c, port, cport, 70 * n + 1, 10 * n + 1, ACK, payload)
    t += 10**9 // 2
    add(t, s, c, 25, 41000, 900, 801, SYN | ACK)  # SYN+ACK before its SYN
    add(t + 1, c, s, 41000, 25, 800, 0, SYN)
    add(t + 2, c, s, 41000, 25, 801, 901, ACK)
    add(t + 3, s, c, 25, 41000, 901, 801, ACK, b"220 mail ESMTP\r\n")
    add(t + 4, c, s, 41000, 25, 801, 917, ACK)  # a bare ACK of a tracked flow
    add(t + 5, c, s, 41001, 25, 5, 0, SYN | FIN)  # odd flags: feed() decides
    add(t + 6, c, s, 41002, 25, 5, 0, SYN)
    add(t + 7, s, c, 25, 41002, 9, 6, RST | ACK)  # a RST ends a handshake
    add(t + 8, c, s, 41003, 80, 1, 1, ACK)  # a bare ACK of no flow: counted
    add(t + 9, c, s, 41003, 80, 1, 1, FIN | ACK)  # a FIN of no flow: feed()
    add(t + 10, c, s, 41004, 80, 3, 0, SYN)
    add(t - 10**6, c, s, 41005, 80, 3, 0, SYN)  # the clock going back
    add(t + 10**9, c, s, 41006, 80, 3, 0, SYN)  # a sweep is due: feed() runs it
    add(t + 10**9 + 5, c, s, 41007, 80, 3, 0, SYN)
    add(t + 10**13, c, s, 41008, 80, 3, 0, SYN)  # a step past the idle timeout
    add(t + 10**13 + 1, s, c, 80, 41008, 4, 4, SYN | ACK)
    for n in range(30):  # more handshakes than MAX_EMBRYOS (patched to 8)
        add(t + 10**13 + 2 + n, c, s, 42000 + n, 80, n, 0, SYN)
        if n % 5 == 0:
            add(t + 10**13 + 2 + n, s, c, 80, 42000 + n - 3, n, 7, SYN | ACK)
    for n in range(30):  # data after some of the forgotten ones
        add(t + 10**13 + 40 + n, c, s, 42000 + n, 80, n + 1, 0, ACK, b"GET /\r\n")
    return pcapgen.pcap_bytes(frames, nanosecond=True)


def test_absorbed_handshakes_in_every_state(monkeypatch):
    from smtpcore import reassembly

    monkeypatch.setattr(reassembly, "MAX_EMBRYOS", 8)
    data = _handshakes_capture()
    absorbed, _ = _same_with_absorption(data, monkeypatch)
    assert absorbed > 30  # the absorption was exercised, not bypassed
    _, _, (_, _, _, _, stats, *_), _, warnings = _reassemble(data, True, monkeypatch)
    assert stats["handshakes_forgotten"] > 0 and stats["untracked_segments"] > 12
    assert sum("SYN flood" in w for w in warnings) == 1
    _same_with_absorption(data, monkeypatch, classify=False)
    # With a key log, TLS is the classifier's to judge (the random of one hello).
    from smtpcore.tls.keylog import KeyLog

    keylog = KeyLog()
    keylog.add_bytes(
        b"CLIENT_RANDOM " + b"00" * 32 + b" " + b"11" * 48,
        "test",
    )
    assert len(keylog)
    assert _same_with_absorption(data, monkeypatch, keylog=keylog)[0] < absorbed


def _openings():
    """The first bytes of each direction of every flow of every test capture,
    and made-up ones around the rule's edges."""
    heads = {
        b"", b"\x16", b"\x16\x03", b"\x16\x03\x01", b"\x16\x01\x03", b"\x17\x03",
        b"GET /", b"GET /\n", b"GET / HTTP/1.1\r\n", b"GET /" + b"x" * 5000 + b"\n",
        b"GET CAPABILITY\r\n", b"GET LIST\r\n", b"GET /\r\nEHLO x\r\n",
        b"POST /a HTTP/1.1\r\n", b"HEAD / x\n", b"PUT /\n", b"DELETE /\n",
        b"OPTIONS /\n", b"PATCH /\n", b"get /\n", b"GET/\n", b"CONNECT / x\n",
        b"HTTP/1.1 200 OK\r\n", b"220 ESMTP\r\n", b"+OK\r\n", b"* OK\r\n",
        b"G", b"GET ", b"GET \n", b"OPTIONS \n", b"PATCH /x", b"DELETE/\n", b"\nGET /\n",
        b"POST /" + b"y" * 20 + b"\n",
    }  # fmt: skip
    decoder = packets.PacketDecoder(lambda _: None)
    for path in CAPTURES:
        seen = set()
        for frame in capture.CaptureReader(io.BytesIO(path.read_bytes()), print):
            seg = decoder.decode(frame)
            if seg is not None and seg.payload:
                key = (seg.src, seg.sport, seg.dst, seg.dport)
                if key not in seen:
                    seen.add(key)
                    heads.add(seg.payload[:4096])
    return sorted(heads)


def test_rejected_openings_are_those_detect_rejects():
    """The compiled rule is Classifier.rejects_at_once, which detect() bears out."""
    from smtpcore import detect
    from smtpcore.reassembly import Connection, Reassembler
    from smtpcore.tls.keylog import KeyLog

    full = KeyLog()
    full.add_bytes(b"CLIENT_RANDOM " + b"00" * 32 + b" " + b"11" * 48, "test")
    ports = [(443, 40000), (40000, 443), (465, 40000), (40000, 993), (995, 1),
             (25, 80), (110, 143), (80, 51000), (587, 2525)]  # fmt: skip
    heads = _openings()
    assert len(heads) > 80
    rejected = 0
    for keylog in (None, KeyLog(), full):
        classifier = detect.Classifier(keylog)
        fast = packets.PacketDecoder(lambda _: None).fast
        fast.absorb_handshakes(Reassembler(print, classify=classifier))
        for head in heads:
            for server_port, client_port in ports:
                conn = Connection(
                    1, "10.0.0.1", client_port, "10.0.0.2", server_port, 0, True
                )
                for direction in (0, 1):
                    quick = classifier.rejects_at_once(
                        direction, server_port, client_port, head
                    )
                    assert quick == fast.rejects_at_once(
                        direction, server_port, client_port, head
                    ), (head[:20], server_port, direction)
                    if quick:
                        rejected += 1
                        verdict = detect.detect(conn, direction, head, keylog)
                        assert verdict is False, (head[:20], server_port, direction)
    assert rejected > 100


def _web_capture(connections: int) -> bytes:
    """Web connections only, one after the other: TLS hellos on 443."""
    frames = []
    hello = b"\x16\x03\x01\x02\x00" + bytes(512)
    for n in range(connections):
        frames += pcapgen.tcp_conversation(
            client=("10.0.0.1", 20000 + n),
            server=("10.0.0.2", 443),
            exchanges=[(0, hello), (1, b"\x16\x03\x03\x05\x78" + bytes(1400))],
            start_ns=1_700_000_000_000_000_000 + n * 10**5,
            isn_client=1000 + n,
        )
    return pcapgen.pcap_bytes(frames, nanosecond=True)


def test_keys_added_between_calls_stop_the_rejection_at_once():
    """Keys that come while the capture is read (a pcapng's secrets block) stop
    the compiled decoder turning TLS web connections down at once: the first
    connection after the first key is handed out, to be decrypted if it can."""
    from smtpcore import detect
    from smtpcore.reassembly import Reassembler
    from smtpcore.tls.keylog import KeyLog

    keylog = KeyLog()
    r = Reassembler(print, classify=detect.Classifier(keylog))
    decoder = packets.PacketDecoder(print)
    decoder.fast.absorb_handshakes(r)
    hello = b"\x16\x03\x01\x02\x00" + bytes(512)

    def first_data(n: int):
        """What decode gives for each frame of a TLS connection up to its hello."""
        frames = pcapgen.tcp_conversation(
            client=("10.0.0.1", 30000 + n),
            server=("10.0.0.2", 443),
            exchanges=[(0, hello)],
            start_ns=1_700_000_000_000_000_000 + n * 10**6,
            close=False,
        )
        out = []
        for index, (ts_ns, data) in enumerate(frames[:4]):  # SYN, SYN+ACK, ACK, hello
            out.append(decoder.decode(capture.Frame(index, ts_ns, 1, data, len(data))))
        return out

    assert first_data(1) == [None] * 4  # all four recorded in the reassembler
    assert r.stats["connections_ignored"] == 1
    keylog.add_bytes(b"CLIENT_RANDOM " + b"00" * 32 + b" " + b"11" * 48, "test")
    handed = first_data(2)
    assert handed[:3] == [None] * 3 and type(handed[3]) is packets.Segment
    assert handed[3].payload == hello and r.stats["connections_ignored"] == 1
    assert decoder.fast.rejects_at_once(0, 443, 40000, hello) is False


def test_absorption_hands_a_segment_out_now_and_then(monkeypatch):
    """Past 1024 absorbed segments in a row one is fed as usual, and the same."""
    data = _web_capture(700)  # 2,800 segments to absorb
    trace_fed, *rest_fed = _reassemble(data, False, monkeypatch)
    trace, *rest = _reassemble(data, True, monkeypatch)
    assert rest == rest_fed
    assert rest[1][4]["connections_ignored"] == 700
    assert all(trace[i] == trace_fed[i] for i in trace)
    # Handed out: one after 1,024 absorbed, twice: 2 of the 2,800 to absorb.
    quiet, runs = 0, []
    for index in sorted(trace_fed):
        if index in trace:
            runs.append(quiet)
            quiet = 0
        else:
            quiet += 1
    assert runs == [1024, 1024]


@settings(max_examples=3000, deadline=None)
@given(
    data=st.lists(
        st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"\n.", b"\r.", b"=="]),
        max_size=30,
    ).map(b"".join),
    previous_cr=st.booleans(),
    context_cr=st.booleans(),
)
def test_plain_content_answers_as_its_reference(data, previous_cr, context_cr):
    """The one-pass test of DATA content gives the reference's answer on any bytes."""
    from smtpcore.smtp.session import plain_bytes

    assert _fastpath.plain_content(data, previous_cr, context_cr) == plain_bytes(
        data, previous_cr, context_cr
    )


def test_plain_content_cases():
    """The cases that decide, each way (the reference and the compiled twin)."""
    from smtpcore.smtp.session import plain_bytes

    cases = [
        (b"QUJD\r\nREVG\r\n", False, False, True),
        (b"\nabc\r\n", True, False, True),  # its CR ended the bytes before
        (b"\nabc\r\n", False, False, False),  # a bare LF
        (b"a\nb", False, False, False),
        (b".a\r\n", False, False, False),  # a dot at the start
        (b"a\r\n.b", False, False, False),  # a stuffed dot
        (b"a\r.\r\n", False, False, False),
        (b"a\rb", False, False, True),  # a bare CR, no dot
        (b"a\rb.", False, False, False),  # a bare CR and a dot
        (b"a.b\r\n", False, True, False),  # a dot, the CR before it bare
        (b"a.b\r\n", False, False, True),
        (b"", False, False, False),
    ]
    for data, previous_cr, context_cr, plain in cases:
        assert plain_bytes(data, previous_cr, context_cr) is plain, data
        assert _fastpath.plain_content(data, previous_cr, context_cr) == plain, data
