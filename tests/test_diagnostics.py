"""Warnings aggregated by kind, and a SYN flood that must stay cheap and quiet."""

import hashlib
import json
import pathlib
import subprocess
import sys

import pytest

from smtpcore import api, reassembly
from smtpcore.diagnostics import AggregatedWarnings, kind_of, summarize
from smtpcore.model import Credential, Message, Session

ROOT = pathlib.Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "test_data" / "captures"
FLOOD = ROOT / "tests" / "benchmarks" / "make_syn_flood.py"


def test_kind_ignores_numbers():
    assert kind_of("connection 12 client→server: 70 bytes at offset 0x1f0") == (
        "connection N client→server: N bytes at offset N"
    )


def test_first_examples_pass_then_one_count_per_kind():
    seen = []
    warn = AggregatedWarnings(seen.append, examples=2)
    for n in range(7):
        warn(f"connection {n}: evicted")
    warn("frame 3: odd")
    assert seen == ["connection 0: evicted", "connection 1: evicted", "frame 3: odd"]
    warn.flush()
    assert seen[3:] == [
        "5 more warnings like this one not shown (7 in total): connection 0: evicted"
    ]
    warn.flush()  # counted once only
    assert len(seen) == 4


def test_pipeline_aggregates_every_stage(tmp_path):
    """Any stage's repeated warning reaches the caller at most five times plus a count."""
    session = (CAPTURES / "postfix-auth-plain.pcap").read_bytes()
    # The same capture followed by 40 copies of a frame cut inside its TCP header.
    frame_header = session[24:40]
    broken = bytearray(frame_header)
    broken[8:12] = (40).to_bytes(4, "little")  # captured length: Ethernet + IP + 6
    broken[12:16] = (40).to_bytes(4, "little")
    first_frame = session[40 : 40 + 40]
    path = tmp_path / "damaged.pcap"
    path.write_bytes(session + (bytes(broken) + first_frame) * 40)
    seen = []
    items = list(api.items(path, warn=seen.append, mime=False))
    assert [type(i).__name__ for i in items].count("Session") == 1
    kinds = {}
    for text in seen:
        kinds.setdefault(kind_of(text.split(": ", 1)[-1]), []).append(text)
    assert max(len(texts) for texts in kinds.values()) <= 6
    assert len(seen) < 20


def _flood(tmp_path, syns, *extra):
    out = tmp_path / "flood" / "flood.pcap"
    out.parent.mkdir()
    subprocess.run(
        [sys.executable, str(FLOOD), str(out), "--syns", str(syns), *extra], check=True
    )
    return out


@pytest.mark.parametrize("synack", [False, True])
def test_syn_flood_costs_little_and_hides_nothing(tmp_path, monkeypatch, synack):
    monkeypatch.setattr(reassembly, "MAX_EMBRYOS", 500)
    capture = _flood(tmp_path, 3000, *(["--synack"] if synack else []))
    truth = json.loads((CAPTURES / "MANIFEST.json").read_text())["captures"]
    (plain,) = [c for c in truth if c["file"] == "postfix-auth-plain.pcap"]
    seen = []
    items = list(api.items(capture, warn=seen.append))
    sessions = [i for i in items if isinstance(i, Session)]
    messages = [i for i in items if isinstance(i, Message)]
    credentials = [i for i in items if isinstance(i, Credential)]
    assert len(sessions) == 1 and sessions[0].endpoints.client_port == 40025
    assert [m.sha256 for m in messages] == [
        plain["sessions"][0]["messages"][0]["sha256"]
    ]
    assert messages[0].complete is True
    assert [(c.username, c.password, c.success) for c in credentials] == [
        ("alice", "Wonder-Land-42", True)
    ]
    # A scan is not damage, but the bound it hit is said, once (docs/LIMITS.md).
    assert seen == [
        "more than 500 handshakes without data at once (a SYN flood?); the oldest "
        "are forgotten: data that follows one is taken up mid-stream"
    ]


def test_reassembler_keeps_at_most_max_embryos(monkeypatch):
    monkeypatch.setattr(reassembly, "MAX_EMBRYOS", 100)
    from smtpcore.packets import Segment

    warnings = []
    r = reassembly.Reassembler(warnings.append)
    for n in range(1000):
        r.feed(
            Segment(
                n,
                n,
                b"\x0a\x00\x00\x01",
                b"\x0a\x00\x00\x02",
                1024 + n,
                25,
                n,
                0,
                0x02,
                b"",
            )
        )
    assert len(r._embryos) == 100
    assert r.stats["handshakes_forgotten"] == 900
    assert warnings == [  # once, not 900 times
        "more than 100 handshakes without data at once (a SYN flood?); the oldest "
        "are forgotten: data that follows one is taken up mid-stream"
    ]
    assert r._live == {} and r.stats["connections"] == 0


def test_summary_counts_kinds_across_captures_including_counted_lines():
    lines = [
        "a.pcap: session c1f2e3d4a5b6-s1: incomplete (closed by FIN)",
        "b.pcap: session c0a1b2c3d4e5-s7: incomplete (closed by FIN)",
        "b.pcap: 7 more warnings like this one not shown (12 in total): "
        "connection 4: evicted",
        "b.pcap: connection 9: evicted",
    ]
    assert summarize(lines) == [
        (8, "b.pcap: connection 4: evicted"),
        (2, "a.pcap: session c1f2e3d4a5b6-s1: incomplete (closed by FIN)"),
    ]
