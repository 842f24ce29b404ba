"""Real Dovecot captures: every POP3/IMAP message and login against the clients' truth.

The truth (test_data/captures/mailbox/MANIFEST.json) was recorded by the clients
(poplib, imaplib, raw sockets, curl) in test_data/lab/make_mailbox_captures.sh and
checked there against tshark. Here the whole CLI runs over the folder once, and
every record, .eml file and login is compared with it.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "test_data" / "captures" / "mailbox"
MANIFEST = json.loads((CAPTURES / "MANIFEST.json").read_text(encoding="utf-8"))
COMMAND = pathlib.Path(sys.executable).with_name("smtpcore")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mailbox") / "out"
    subprocess.run(
        [str(COMMAND), "extract", "-q", str(CAPTURES), "-o", str(folder)],
        check=True,
        capture_output=True,
    )
    return folder


def _lines(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _by_session(out, name, capture):
    """The records of one truth session: matched by capture and client port."""
    sessions = {
        (s["source"].rsplit("/", 1)[-1], s["client_port"]): s
        for s in _lines(out / "sessions.jsonl")
    }
    session = sessions[(capture["file"], capture_session_port(name))]
    sid = session["session_id"]
    messages = [m for m in _lines(out / "messages.jsonl") if m["session_id"] == sid]
    logins = [c for c in _lines(out / "credentials.jsonl") if c["session_id"] == sid]
    return session, messages, logins


def capture_session_port(truth_session):
    return truth_session["client_port"]


CASES = [
    pytest.param(capture, session, id=f"{capture['file']}:{session['client_port']}")
    for capture in MANIFEST["captures"]
    for session in capture["sessions"]
]


@pytest.mark.parametrize("capture, truth", CASES)
def test_messages_byte_exact(out, capture, truth):
    session, messages, _ = _by_session(out, truth, capture)
    assert session["protocol"] == truth["protocol"]
    assert session["server_port"] == truth["server_port"]
    assert len(messages) == len(truth["messages"])
    for record, want in zip(messages, truth["messages"]):
        assert record["protocol"] == truth["protocol"]
        command = record["command"]
        if truth["protocol"] == "imap":
            command = command.split(" ", 1)[1]  # the tag
        assert command.startswith(want["command"]), (command, want["command"])
        assert (record["sha256"], record["size"]) == (want["sha256"], want["size"])
        data = (out / record["eml"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == want["sha256"]
        if want["kind"] == "partial":
            assert record["kind"] == "retrieved"
            assert record["complete"] is False and record["partial"]
        else:
            assert record["kind"] == want["kind"]
            assert record["complete"] is True and record["partial"] is None
        for field, key in (
            ("number", "message_number"),
            ("uid", "uid"),
            ("uidl", "uidl"),
            ("mailbox", "mailbox"),
        ):
            if want.get(field) is not None:
                assert record[key] == want[field], field


@pytest.mark.parametrize("capture, truth", CASES)
def test_logins_with_outcome(out, capture, truth):
    session, _, logins = _by_session(out, truth, capture)
    if truth.get("tls"):
        assert session["encrypted"] is True and session["starttls"] is True
        assert logins == []  # the login happened inside TLS
        return
    assert len(logins) == len(truth["logins"])
    for record, want in zip(logins, truth["logins"]):
        assert record["protocol"] == truth["protocol"]
        assert record["mechanism"] == want["mechanism"]
        assert record["username"] == want["username"]
        assert record["password"] == want["password"]
        assert record["success"] is want["success"]
        if want["mechanism"] == "APOP":
            timestamp = truth["apop_timestamp"]
            assert record["hashcat"] == f"{want['digest']}:{timestamp}"
            assert record["hashcat_mode"] == 20
            # mode 20 is md5($salt.$pass): the line cracks with the real secret
            if "secret" in want:
                salt = timestamp.encode() + want["secret"].encode()
                assert hashlib.md5(salt).hexdigest() == want["digest"]
        if want["mechanism"] == "CRAM-MD5":
            assert record["hashcat_mode"] == 10200
            assert record["hashcat"].startswith("$cram_md5$")
    assert session["auth_user"] == next(
        (w["username"] for w in reversed(truth["logins"]) if w["success"]), None
    )


def test_repeated_fetch_keeps_one_file_each_and_links_them(out):
    messages = _lines(out / "messages.jsonl")
    by_id = {m["id"]: m for m in messages}
    linked = [m for m in messages if m["same_bytes_as"]]
    assert linked
    for message in linked:
        first = by_id[message["same_bytes_as"]]
        assert first["sha256"] == message["sha256"] and first["same_bytes_as"] is None
        assert first["eml"] != message["eml"]
    pop3 = next(c for c in MANIFEST["captures"] if c["file"] == "pop3-user-pass.pcap")
    session, records, _ = _by_session(out, pop3["sessions"][0], pop3)
    retr2 = [m for m in records if m["command"] == "RETR 2"]
    # Linked to the earliest record with these bytes in the run (maybe another capture).
    assert len(retr2) == 2
    assert retr2[1]["same_bytes_as"] == (retr2[0]["same_bytes_as"] or retr2[0]["id"])


def test_pop3_mailbox_facts(out):
    capture = next(
        c for c in MANIFEST["captures"] if c["file"] == "pop3-user-pass.pcap"
    )
    truth = capture["sessions"][0]
    session, _, _ = _by_session(out, truth, capture)
    assert [session["mailbox_messages"], session["mailbox_octets"]] == truth["stat"]
    # DELE 3 was undone by RSET; DELE 1 became final with QUIT's +OK.
    assert [d["number"] for d in session["deleted"]] == truth["deleted"]
    assert session["deletions_committed"] is True
    assert "UIDL" in session["capabilities"] and session["complete"] is True


def test_imap_mailbox_facts(out):
    capture = next(
        c for c in MANIFEST["captures"] if c["file"] == "imap-fetch-append-idle.pcap"
    )
    truth = capture["sessions"][0]
    session, messages, _ = _by_session(out, truth, capture)
    assert [[m["mailbox"], m["exists"]] for m in session["mailboxes"]] == truth[
        "selected"
    ]
    assert [m["command"] for m in session["mailboxes"]] == [
        "SELECT",
        "EXAMINE",
        "SELECT",
    ]
    # The message that arrived during IDLE raised EXISTS and was fetched.
    assert session["mailbox_messages"] == truth["idle_exists"] == 4
    assert messages[-1]["message_number"] == 4
    appended = [m for m in messages if m["kind"] == "appended"]
    assert [(m["mailbox"], m["accepted"]) for m in appended] == [("Sent", True)]


def test_partial_fetches_say_what_they_took(out):
    partials = {
        m["command"].split(" ", 1)[-1]: m["partial"]
        for m in _lines(out / "messages.jsonl")
        if m["complete"] is False
    }
    assert partials["FETCH 3 (BODY[]<0.200>)"] == "BODY[]<0.200>"
    assert partials["FETCH 1 (BODY.PEEK[HEADER])"] == "BODY[HEADER]"
    assert partials["FETCH 2 (BODY[TEXT])"] == "BODY[TEXT]"
    assert partials["FETCH 1 (BODY.PEEK[2])"] == "BODY[2]"
    assert partials["1 0"] == "TOP: header and 0 body line(s)"  # POP3 "TOP 1 0"


def test_mime_of_retrieved_messages(out):
    messages = _lines(out / "messages.jsonl")
    gb = next(m for m in messages if m["command"] == "RETR 1")
    assert gb["subject"] == "测试邮件：收件箱"
    assert [a["filename"] for a in gb["attachments"]] == ["报告.txt"]
    pdf = next(m for m in messages if m["command"] == "RETR 3")
    (attachment,) = pdf["attachments"]
    assert attachment["filename"] == "report.pdf"
    assert attachment["detected_type"] == "application/pdf"
    data = (out / attachment["path"]).read_bytes()
    assert (
        data.startswith(b"%PDF-1.4")
        and hashlib.sha256(data).hexdigest() == attachment["sha256"]
    )


def test_smtp_records_say_sent(out, tmp_path):
    smtp = ROOT / "test_data" / "captures" / "postfix-auth-plain.pcap"
    folder = tmp_path / "smtp"
    subprocess.run(
        [str(COMMAND), "extract", "-q", str(smtp), "-o", str(folder)], check=True
    )
    (message,) = _lines(folder / "messages.jsonl")
    assert (message["protocol"], message["kind"], message["mailbox"]) == (
        "smtp",
        "sent",
        None,
    )
    (credential,) = _lines(folder / "credentials.jsonl")
    assert (credential["protocol"], credential["command"]) == ("smtp", "AUTH")
    (session,) = _lines(folder / "sessions.jsonl")
    assert session["protocol"] == "smtp"


def test_report_tells_received_from_sent(out):
    from smtpcore.report import credential_row, message_row

    messages = [json.loads(line) for line in (out / "messages.jsonl").open()]
    # The index draws its rows from these values (a tag for received mail).
    rows = {
        (r["pr"], r["kd"], r["sub"], r["pa"])
        for r in map(lambda m: message_row(m, None, 0), messages)
    }
    assert ("pop3", "retrieved", "测试邮件：收件箱", None) in rows
    assert ("imap", "appended", "Re: Quarterly report (sent copy)", None) in rows
    assert any(pa == "BODY[]<0.200>" for _, _, _, pa in rows)
    credentials = [json.loads(line) for line in (out / "credentials.jsonl").open()]
    assert ("pop3", "APOP", "bob") in {
        (c["pr"], c["mech"], c["user"]) for c in map(credential_row, credentials)
    }
    # Each message page says where the mail came from.
    page = next(
        (out / "report").glob("*.html"), None
    )  # any page renders the protocol row
    assert page is not None and "<th>Protocol</th>" in page.read_text("utf-8")


def _without_frame(capture: pathlib.Path, marker: bytes, out: pathlib.Path) -> int:
    """Copies a classic pcap without the first frame whose payload holds ``marker``."""
    import struct

    data = capture.read_bytes()
    kept, position, dropped = [data[:24]], 24, 0
    while position < len(data):
        caplen = struct.unpack_from("<I", data, position + 8)[0]
        record = data[position : position + 16 + caplen]
        if not dropped and marker in record:
            dropped = caplen
        else:
            kept.append(record)
        position += 16 + caplen
    out.write_bytes(b"".join(kept))
    return dropped


@pytest.mark.parametrize(
    "name, marker, lost_command",
    [
        ("imap-fetch-append-idle.pcap", b"(BODY[] {1360}", "FETCH 3 (BODY.PEEK[])"),
        ("pop3-user-pass.pcap", b"Quarterly report (PDF)\r\nDate", "RETR 3"),
    ],
)
def test_a_lost_segment_loses_only_its_bytes(tmp_path, name, marker, lost_command):
    """Real capture minus the server segment of one message: the rest stays exact."""
    (tmp_path / "evidence").mkdir()
    damaged = tmp_path / "evidence" / name
    assert _without_frame(CAPTURES / name, marker, damaged)
    folder = tmp_path / "out"
    result = subprocess.run(
        [str(COMMAND), "extract", "-q", str(damaged), "-o", str(folder)],
        capture_output=True,
    )
    assert result.returncode in (0, 1), result.stderr
    (truth,) = next(c for c in MANIFEST["captures"] if c["file"] == name)["sessions"]
    messages = _lines(folder / "messages.jsonl")
    exact = {m["sha256"] for m in messages if m["complete"] or m["partial"]}
    for want in truth["messages"]:
        if want["command"] == lost_command:
            assert want["sha256"] not in exact
        else:
            assert want["sha256"] in exact, want["command"]
    (session,) = _lines(folder / "sessions.jsonl")
    assert session["complete"] is False
    assert any("lost" in warning for warning in session["warnings"])


def test_hashcat_file_has_the_apop_lines_under_mode_20(out):
    text = (out / "credentials.hashcat").read_text("utf-8")
    section = text.split("# hashcat -m 20\n", 1)[1].split("# hashcat", 1)[0]
    capture = next(c for c in MANIFEST["captures"] if c["file"] == "pop3-apop.pcap")
    (truth,) = capture["sessions"]
    assert section.splitlines() == [
        f"{login['digest']}:{truth['apop_timestamp']}" for login in truth["logins"]
    ]


def test_chunked_fetch_is_joined_into_the_whole_message(out):
    capture = next(
        c for c in MANIFEST["captures"] if c["file"] == "imap-chunked-fetch.pcap"
    )
    (truth,) = capture["sessions"]
    _, messages, _ = _by_session(out, truth, capture)
    *chunks, joined = messages
    assert [m["partial"] for m in chunks] == [
        m["partial"] for m in truth["messages"][:-1]
    ]
    assert joined["joined_from"] == [m["id"] for m in chunks]
    assert joined["sha256"] == truth["messages"][-1]["sha256"]
    assert (joined["complete"], joined["partial"], joined["uid"]) == (True, None, 3)
    data = b"".join((out / m["eml"]).read_bytes() for m in chunks)
    assert (out / joined["eml"]).read_bytes() == data
