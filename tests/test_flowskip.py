"""The early frame rejection: compiled and pure agree, and skipping changes nothing."""

import dataclasses
import hashlib
import os
import pathlib
import subprocess
import sys

import pytest

from smtpcore import capture, flowskip, pipeline, reassembly
from smtpcore.packets import PacketDecoder

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import pcapgen  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The shared folder next to the checkout (or next to the worktrees' folder).
SHARED = next(
    (p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()),
    ROOT.parent / "shared",
)
EXTERNAL = SHARED / "corpus" / "external"
CAPTURES = sorted((ROOT / "test_data" / "captures").glob("*.pcap*"))
CAPTURES += sorted((ROOT / "test_data" / "artifacts").glob("*.pcap*"))
CAPTURES += sorted(EXTERNAL.glob("*.pcap*")) if EXTERNAL.is_dir() else []

try:
    from smtpcore import _flowskip
except ImportError:  # built without a compiler: only the pure path exists
    _flowskip = None


class Tombstone:
    last_ns = 0


def _frames(path):
    with open(path, "rb") as fh:
        yield from capture.CaptureReader(fh, lambda _: None)


def _all_flows(path):
    """Every TCP flow key of the capture, as the decoder sees it."""
    decoder = PacketDecoder(lambda _: None)
    keys = {}
    for frame in _frames(path):
        seg = decoder.decode(frame)
        if seg is not None:
            keys[flowskip.flow_key(seg.src, seg.sport, seg.dst, seg.dport)] = (
                Tombstone()
            )
    return keys


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_skipped_frames_are_exactly_plain_segments_of_known_flows(path):
    rejected = _all_flows(path)
    seen = []
    decoder = PacketDecoder(seen.append)
    skipped = 0
    for frame in _frames(path):
        answer = flowskip.is_skippable(
            frame.data, frame.orig_len, frame.linktype, frame.ts_ns, rejected
        )
        if _flowskip is not None:
            assert answer == _flowskip.is_skippable(
                frame.data, frame.orig_len, frame.linktype, frame.ts_ns, rejected
            ), frame.index
            assert not _flowskip.is_skippable(
                frame.data, frame.orig_len, frame.linktype, frame.ts_ns, {}
            )
        seg = decoder.decode(frame)
        if answer:
            skipped += 1
            # What was skipped decodes cleanly to a non-SYN segment of that flow.
            assert seg is not None and not seg.flags & 0x02 and not seg.missing
            assert flowskip.flow_key(seg.src, seg.sport, seg.dst, seg.dport) in rejected
    assert seen == [] or skipped == 0 or all("frame" in w for w in seen)


@pytest.mark.skipif(_flowskip is None, reason="compiled hot path not built")
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_record_runs_agree(path):
    data = path.read_bytes()
    if data[:4] not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        pytest.skip("not a little-endian pcap")
    frac_ns = 1 if data[:4] == b"\x4d\x3c\xb2\xa1" else 1000
    linktype = int.from_bytes(data[20:24], "little") & 0xFFFF
    rejected = _all_flows(path)
    pos = 24
    while pos < len(data):
        pure = flowskip.skip_pcap_records(
            data, pos, False, frac_ns, linktype, 262144, rejected
        )
        fast = _flowskip.skip_pcap_records(
            data, pos, False, frac_ns, linktype, 262144, rejected
        )
        assert pure == fast
        pos = pure[0] + 16 + int.from_bytes(data[pure[0] + 8 : pure[0] + 12], "little")


def _extract_all(out, env_extra):
    env = dict(os.environ, **env_extra)
    subprocess.run(
        [sys.executable, "-m", "smtpcore.cli", "extract", "-q", "--jobs", "1",
         *map(str, CAPTURES), "-o", str(out)],
        env=env, check=False, capture_output=True,
    )  # fmt: skip
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
        and p.name not in ("manifest.json", "report.html", "smtpcore.log")
    }


@pytest.mark.skipif(_flowskip is None, reason="compiled hot path not built")
def test_pure_and_compiled_write_the_same_files(tmp_path):
    compiled = _extract_all(tmp_path / "compiled", {})
    pure = _extract_all(tmp_path / "pure", {"SMTPCORE_PURE": "1"})
    assert compiled == pure and len(compiled) > 20


def _no_skipping(monkeypatch):
    """Every frame decoded and fed: the pure reader without its skipping."""
    monkeypatch.setattr(capture, "_fastpath", None)
    monkeypatch.setattr(flowskip, "skippable", lambda *a: False)
    monkeypatch.setattr(flowskip, "skip_records", lambda buf, pos, *a: (pos, 0, -1))


def test_skipping_changes_no_item(monkeypatch):
    def items(path):
        with open(path, "rb") as fh:
            return [
                (
                    type(i).__name__,
                    [
                        (f.name, repr(getattr(i, f.name)))
                        for f in dataclasses.fields(i)
                        if f.name != "content"
                    ],
                )
                for i in pipeline.extract(
                    fh, source="x", warn=lambda _: None, mime=False
                )
            ]

    with_skip = {p.name: items(p) for p in CAPTURES}
    _no_skipping(monkeypatch)
    without = {p.name: items(p) for p in CAPTURES}
    assert with_skip == without


MIXED = SHARED / "bench" / "make_mixed_pcap.py"


@pytest.mark.skipif(not MIXED.is_file(), reason="../shared/bench is absent")
def test_mostly_web_capture_same_items_with_and_without_skipping(tmp_path, monkeypatch):
    """Web flows are rejected and skipped; every SMTP message still comes out."""
    import json

    capture_path = tmp_path / "in" / "mixed.pcap"
    capture_path.parent.mkdir()
    truth = tmp_path / "truth.jsonl"
    subprocess.run(
        [sys.executable, str(MIXED), str(capture_path), "--size-mb", "4",
         "--smtp-sessions", "6", "--truth", str(truth)],
        check=True, capture_output=True,
    )  # fmt: skip
    expected = sorted(
        json.loads(line)["sha256"] for line in truth.read_text().splitlines()
    )
    seen = {"frames": 0, "last": 0}
    real = capture.CaptureReader.items

    def counting(self, *args):
        # Frames, or segments decoded on the way, or (frame index, Data) fed.
        for item in real(self, *args):
            seen["frames"] += 1
            if type(item) is capture.Frame:
                seen["last"] = item.index
            elif type(item) is tuple:
                seen["last"] = item[0]
            else:
                seen["last"] = item.frame
            yield item

    monkeypatch.setattr(capture.CaptureReader, "items", counting)

    def run():
        with open(capture_path, "rb") as fh:
            items = list(
                pipeline.extract(fh, source="x", warn=lambda _: None, mime=False)
            )
        return [
            (type(i).__name__, repr(i.endpoints), getattr(i, "sha256", None))
            for i in items
        ]

    skipped = run()
    assert seen["last"] - seen["frames"] > 5_000  # most frames never became objects
    _no_skipping(monkeypatch)
    assert run() == skipped
    found = sorted(sha for kind, _, sha in skipped if kind == "Message")
    assert found == expected


def test_web_only_capture_still_polls_abort_and_progress():
    """Nearly nothing of it reaches the pipeline's loop (skipped, or written down
    by the compiled decoder): the callbacks are polled all the same."""
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import io

    import pcapgen

    frames = []
    for n in range(700):
        frames += pcapgen.tcp_conversation(
            client=("10.0.0.1", 20000 + n),
            server=("10.0.0.2", 443),
            exchanges=[(0, b"\x16\x03\x01\x02\x00" + bytes(512)), (1, bytes(1400))],
            start_ns=1_700_000_000_000_000_000 + n * 10**5,
            isn_client=1000 + n,
        )
    data = pcapgen.pcap_bytes(frames, nanosecond=True)
    positions = []
    items = list(
        pipeline.extract(
            io.BytesIO(data), source="x", warn=print, mime=False,
            progress=positions.append,
        )
    )  # fmt: skip
    assert items == [] and positions[-1] == len(data)
    assert len(positions) >= 3  # polled on the way, not only at the end
    warnings = []
    list(
        pipeline.extract(
            io.BytesIO(data), source="x", warn=warnings.append, mime=False,
            abort=lambda: True,
        )
    )  # fmt: skip
    (aborted,) = [w for w in warnings if "aborted" in w]
    assert int(aborted.rsplit(" ", 1)[1]) < len(frames) / 2


_WIDE = 1 << 63
# last_ns values on both sides of the 64-bit edge (the compiled tombstone keeps it
# as a C integer only inside), and times a skipped frame may carry.
_LAST = [0, -5, 10**18, _WIDE - 1, _WIDE, -_WIDE, -_WIDE - 1, 10**30, -(10**30)]
_TIMES = [0, 1, 10**18 + 1, (1 << 62) - 1, -(1 << 62) + 1, -1]


@pytest.mark.skipif(_flowskip is None, reason="compiled hot path not built")
@pytest.mark.parametrize("last", _LAST)
def test_compiled_tombstone_keeps_last_ns_as_the_pure_one(last):
    """The same skip answers and the same last_ns after each frame, any size of int."""
    frame = pcapgen.ethernet(
        pcapgen.ipv4_tcp("10.0.0.1", "10.0.0.2", 40000, 80, 1, 1, 0x10, b"GET")
    )
    key = flowskip.flow_key(
        pcapgen.packed("10.0.0.1"), 40000, pcapgen.packed("10.0.0.2"), 80
    )
    pure = reassembly._PureDormant((), last)
    compiled = _flowskip.Dormant((), last)
    assert compiled.last_ns == last and type(compiled.last_ns) is int
    for ts_ns in _TIMES:
        assert flowskip.is_skippable(frame, len(frame), 1, ts_ns, {key: pure})
        assert _flowskip.is_skippable(frame, len(frame), 1, ts_ns, {key: compiled})
        assert compiled.last_ns == pure.last_ns, ts_ns
    compiled.last_ns = pure.last_ns = "not a time"  # the reference's TypeError too
    for skippable, tomb in (
        (flowskip.is_skippable, pure),
        (_flowskip.is_skippable, compiled),
    ):
        with pytest.raises(TypeError):
            skippable(frame, len(frame), 1, 5, {key: tomb})
    assert [getattr(compiled, f) for f in reassembly.DORMANT_FIELDS] == [
        getattr(pure, f) for f in reassembly.DORMANT_FIELDS
    ]
