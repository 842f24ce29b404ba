"""Capture-point artifacts: every message and login of the lab captures survives them.

test_data/artifacts/derive.py derives, from the real lab captures, captures with the
artifacts real evidence has (ACKs before data, SPAN duplicates, skewed merges, GRO
super-segments, snaplen, wrapped ring buffers, fragments, ...); EXPECTED.json holds,
per derived capture, the source's ground truth. check_with_tshark.py confirmed with
tshark that each artifact is really in its file (CHECKED.json).
"""

import hashlib
import json
import pathlib
import subprocess
import sys

import pytest

from smtpcore import api

ARTIFACTS = pathlib.Path(__file__).resolve().parents[1] / "test_data" / "artifacts"
EXPECTED = json.loads((ARTIFACTS / "EXPECTED.json").read_text(encoding="utf-8"))
FILES = EXPECTED["files"]
CAPTURES = ARTIFACTS.parent / "captures"
CAPTURE_SUFFIXES = (".pcap", ".pcapng")


def committed_files():
    return sorted(
        path.relative_to(ARTIFACTS).as_posix()
        for path in ARTIFACTS.rglob("*")
        if path.suffix in CAPTURE_SUFFIXES
    )


def test_derive_reproduces_the_committed_captures(tmp_path):
    subprocess.run(
        [sys.executable, str(ARTIFACTS / "derive.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    made = sorted(
        path.relative_to(tmp_path).as_posix()
        for path in tmp_path.rglob("*")
        if path.is_file()
    )
    assert made == sorted(committed_files() + ["EXPECTED.json"])
    for name in made:
        assert (tmp_path / name).read_bytes() == (ARTIFACTS / name).read_bytes(), name
    assert sorted(FILES) == committed_files()


def test_tshark_confirmed_every_artifact():
    checked = json.loads((ARTIFACTS / "CHECKED.json").read_text(encoding="utf-8"))
    assert sorted(checked["files"]) == sorted(FILES)
    for name, outcome in checked["files"].items():
        assert (
            outcome["sha256"]
            == hashlib.sha256((ARTIFACTS / name).read_bytes()).hexdigest()
        ), f"{name} changed since it was checked"
        assert outcome["ok"] is True, (name, outcome["problems"])


def extract(path):
    found = {"sessions": [], "messages": [], "credentials": [], "warnings": []}
    for item in api.items(path, warn=found["warnings"].append):
        if isinstance(item, api.Message):
            data = b"".join(item.content.chunks()) if item.content else None
            found["messages"].append((item, data))
        elif isinstance(item, api.Credential):
            found["credentials"].append(item)
        else:
            found["sessions"].append(item)
    return found


def _runs(data, message):
    """The runs of bytes a message holds between its missing ranges."""
    cuts = [0] + [offset for offset, _ in message.missing_ranges] + [len(data)]
    return [data[a:b] for a, b in zip(cuts, cuts[1:]) if b > a]


def originals(expected):
    """The source's message bytes, checked against its ground truth."""
    (source,) = expected["sources"]
    found = extract(CAPTURES / source)
    contents = [d for m, d in found["messages"] if m.data_sent]
    assert [hashlib.sha256(d).hexdigest() for d in contents] == [
        m["sha256"] for m in expected["messages"]
    ]
    return contents


@pytest.mark.parametrize("name", sorted(FILES))
def test_artifact_keeps_every_message_and_credential(name):
    expected = FILES[name]
    found = extract(ARTIFACTS / name)
    sent = [(m, d) for m, d in found["messages"] if m.data_sent]

    if expected["truncated"]:
        # Frames cut by the snapshot length: nothing complete, nothing invented.
        assert found["warnings"], "truncation was not reported"
        assert all(s.complete is False for s in found["sessions"])
        contents = originals(expected)
        assert len(sent) <= len(contents)
        # Every transaction of these sources carried content, and every one lost some.
        assert all(m.complete is False for m, _ in found["messages"])
        for message, data in sent:
            assert message.missing_bytes > 0
            # Every run of bytes kept between gaps is part of a message the client sent.
            for run in _runs(data, message):
                assert any(run in content for content in contents), run
        for credential in found["credentials"]:
            truths = [
                c
                for c in expected["credentials"]
                if c["mechanism"] == credential.mechanism
            ]
            assert truths, credential.mechanism
            if credential.username is not None:
                assert credential.username in {c["username"] for c in truths}
            if credential.password_bytes is not None:
                assert credential.password_bytes.hex() in {
                    c["password_hex"] for c in truths
                }
        return

    if expected["split"]:
        # The later half first: two sessions, nothing dropped, nothing invented.
        assert len(found["sessions"]) == expected["sessions"]
        assert not [w for w in found["warnings"] if "ignored" in w or "not deliv" in w]
        contents = originals(expected)
        digests = {hashlib.sha256(c).hexdigest() for c in contents}
        spanning = []
        for message, data in sent:
            if message.complete:
                assert message.sha256 in digests
            else:
                spanning.append(message)
                for run in _runs(data, message):
                    assert any(run in content for content in contents), run
        complete = {m.sha256 for m, _ in sent if m.complete}
        # Each message is whole in one half, or cut by the wrap: then its two
        # parts are flagged records, one in each half.
        assert len(digests - complete) <= 1 and len(spanning) <= 2
        if digests - complete:
            assert spanning
        truths = {(c["mechanism"], c["username"]) for c in expected["credentials"]}
        for credential in found["credentials"]:
            if credential.username is not None:
                assert (credential.mechanism, credential.username) in truths
        return

    assert len(found["sessions"]) == expected["sessions"]
    assert len(found["messages"]) == len(expected["messages"])  # no phantom mail
    assert [hashlib.sha256(d).hexdigest() for _, d in sent] == [
        m["sha256"] for m in expected["messages"]
    ]
    for (message, data), truth in zip(sent, expected["messages"]):
        assert len(data) == truth["size"]
        assert (message.sha256, message.size) == (truth["sha256"], truth["size"])
        assert message.complete is True and message.missing_bytes == 0
        assert message.accepted is True
        assert message.mail_from == truth["mail_from"]
        assert message.rcpt_to == truth["rcpt_accepted"]
        assert [[r.address, int(r.reply[:3])] for r in message.rcpt_rejected] == (
            truth["rcpt_rejected"]
        )
    credentials = [
        (
            c.mechanism,
            c.username,
            c.password_bytes and c.password_bytes.hex(),
            c.success,
        )
        for c in found["credentials"]
    ]
    assert credentials == [
        (c["mechanism"], c["username"], c["password_hex"], c["success"])
        for c in expected["credentials"]
    ]
