"""psteal, as an examiner runs it, over POP3/IMAP captures: the mailbox:* events.

Compared with the clients' truth (test_data/captures/mailbox/MANIFEST.json), not with
smtpcore: every retrieved and appended message by hash, every login with its outcome.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from test_plaso_e2e import _RunTool

pytestmark = pytest.mark.e2e

CAPTURES = Path(__file__).resolve().parents[1] / "test_data" / "captures" / "mailbox"
MANIFEST = json.loads((CAPTURES / "MANIFEST.json").read_text(encoding="utf-8"))
FILES = ("pop3-user-pass.pcap", "imap-fetch-append-idle.pcap", "imap-sasl.pcap")


def testPstealMailboxTimeline(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in FILES:
        shutil.copy(CAPTURES / name, source / name)
    output = tmp_path / "timeline.jsonl"
    _RunTool(
        "psteal",
        ["--source", os.fspath(source), "--parsers", "pcap/smtp", "--workers", "1"]
        + ["-o", "json_line", "-w", os.fspath(output)],
        tmp_path,
    )
    events = [json.loads(line) for line in output.read_text("utf-8").splitlines()]
    truth = {c["file"]: c for c in MANIFEST["captures"]}
    for name in FILES:
        mine = [e for e in events if e["display_name"].endswith("/" + name)]
        sessions = truth[name]["sessions"]
        emails = sorted(
            (e["message_sha256_hash"], e["kind"], e["complete"])
            for e in mine
            if e["data_type"] == "mailbox:email"
            and e["timestamp_desc"] in ("Retrieved Time", "Appended Time")
        )
        assert emails == sorted(
            (
                m["sha256"],
                "retrieved" if m["kind"] == "partial" else m["kind"],
                m["kind"] != "partial",
            )
            for s in sessions
            for m in s["messages"]
        ), name
        logins = sorted(
            (e["mechanism"], e["username"], e.get("password"), e["success"])
            for e in mine
            if e["data_type"] == "mailbox:authentication"
        )
        assert logins == sorted(
            (w["mechanism"], w["username"], w["password"], w["success"])
            for s in sessions
            for w in s["logins"]
        ), name
    appended = [e["message"] for e in events if e["timestamp_desc"] == "Appended Time"]
    assert len(appended) == 1
    assert appended[0].startswith(
        "IMAP email appended (stored by the client) mailbox: Sent command: "
    )
