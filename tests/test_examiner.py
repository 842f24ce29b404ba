"""What an examiner works with: damage reported, the command line, tables, hash lists,
crackers' files, the manifest and identifiers, on real lab captures."""

import csv
import hashlib
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from lossy import client_data_frames, drop_segment, keep_first
from test_cli import CAPTURES, TRUTH, lines, smtpcore

from smtpcore import cli, tables

EXTERNAL = (
    pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus" / "external"
)
if not EXTERNAL.is_dir():
    EXTERNAL = pathlib.Path("/work/shared/corpus/external")
FOXMAIL = CAPTURES / "postfix-foxmail.pcap"


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def prefix(path):
    return "c" + sha256(path)[:12]


def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def foxmail_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("foxmail") / "out"
    run = smtpcore(
        "extract", "-q", FOXMAIL, "-o", out, "--case", "2026-117",
        "--examiner", "J. Doe", "--note", "seized laptop, 中文 note",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return out


# -- issue 9 point 9: damage never stays out of the summary ------------------------


def test_a_message_that_lost_bytes_is_a_warning_everywhere(tmp_path):
    """Drop the middle data segment of the Foxmail message (a capture point that
    missed one frame): the log, the manifest and the exit status all say so."""
    frames = client_data_frames(FOXMAIL)
    (tmp_path / "in").mkdir()
    lost = tmp_path / "in" / "lost.pcap"
    dropped = drop_segment(FOXMAIL, lost, frames[-3])  # the second of three DATA
    assert len(dropped) == 1448
    out = tmp_path / "out"
    run = smtpcore("extract", "-q", lost, "-o", out, "--log", tmp_path / "run.log")
    assert run.returncode == 1
    assert "2 warnings (damaged or incomplete input)" in run.stderr
    (message,) = lines(out / "messages.jsonl")
    assert message["complete"] is False
    assert message["missing_bytes"] == 1448
    assert message["missing_ranges"] == [[1446, 1448]]
    log = (out / "smtpcore.log").read_text(encoding="utf-8")
    assert (tmp_path / "run.log").read_text(encoding="utf-8") == log
    ident = prefix(lost)
    assert (
        f"WARNING {lost}: message {ident}-s1-1: incomplete; 1448 bytes missing "
        f"(offset+length 1446+1448); transaction 1: 1448 bytes of message content "
        f"lost at content offset 1446"
    ) in log
    assert f"WARNING {lost}: session {ident}-s1: incomplete (closed by FIN)" in log
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["warnings"] == 2
    (entry,) = manifest["inputs"]
    assert (entry["status"], entry["warnings"]) == ("damaged", 2)
    # Decoding MIME in a worker process changes no warning.
    one = smtpcore("extract", "-q", "-j", "1", lost, "-o", tmp_path / "one")
    two = smtpcore("extract", "-q", "-j", "2", lost, "-o", tmp_path / "two")
    assert one.returncode == two.returncode == 1

    def warnings_of(folder):
        text = (folder / "smtpcore.log").read_text(encoding="utf-8")
        return [
            line.split(" ", 2)[2] for line in text.splitlines() if " WARNING " in line
        ]

    assert warnings_of(tmp_path / "one") == warnings_of(tmp_path / "two")
    assert len(warnings_of(tmp_path / "one")) == 2
    # summary: the same warnings, the same exit status
    summary = smtpcore("summary", "-q", lost, "--log", tmp_path / "summary.log")
    assert summary.returncode == 1
    assert "2 warnings" in summary.stderr
    assert "message " in (tmp_path / "summary.log").read_text(encoding="utf-8")


def _frame_of(source, port, start):
    import dpkt

    with open(source, "rb") as handle:
        for index, (_, frame) in enumerate(dpkt.pcap.Reader(handle)):
            tcp = dpkt.ethernet.Ethernet(frame).data.data
            if tcp.sport == port and tcp.data.startswith(start):
                return index
    raise LookupError(start)


def test_a_login_whose_answer_is_not_in_the_capture_is_incomplete(tmp_path):
    """The capture stopped after the password line, before the server's 235."""
    source = CAPTURES / "postfix-auth-login.pcap"
    (tmp_path / "in").mkdir()
    cut = tmp_path / "in" / "stopped.pcap"
    keep_first(source, cut, _frame_of(source, 25, b"235 "))
    out = tmp_path / "out"
    run = smtpcore("extract", "-q", cut, "-o", out)
    assert run.returncode == 1
    (credential,) = lines(out / "credentials.jsonl")
    assert (credential["success"], credential["complete"]) == (None, False)
    (truth,) = TRUTH["postfix-auth-login.pcap"]["sessions"][0]["auth"]
    assert credential["password"] == truth["password"]
    log = (out / "smtpcore.log").read_text(encoding="utf-8")
    assert (
        f"credential {prefix(cut)}-s1-a1 (LOGIN, user 'alice'): incomplete; the "
        "server's answer is not in the capture"
    ) in log
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["warnings"] == 2  # the credential and its session
    (row,) = read_csv(out / "credentials.csv")
    assert (row["success"], row["complete"]) == ("", "false")


def test_a_login_whose_answer_was_lost_is_incomplete(tmp_path):
    """The server's 235 to AUTH LOGIN is lost in the middle of the capture."""
    source = CAPTURES / "postfix-auth-login.pcap"
    (tmp_path / "in").mkdir()
    lost = tmp_path / "in" / "no-answer.pcap"
    drop_segment(source, lost, _frame_of(source, 25, b"235 "))
    out = tmp_path / "out"
    smtpcore("extract", "-q", lost, "-o", out)
    (credential,) = lines(out / "credentials.jsonl")
    assert (credential["success"], credential["complete"]) == (None, False)
    (message,) = lines(out / "messages.jsonl")  # the MAIL FROM kept its own 250
    assert message["accepted"] is True and message["mail_from"] == "alice@example.org"


# -- the command line -------------------------------------------------------------


def test_unwritable_or_impossible_output_folders_exit_2(tmp_path):
    capture = CAPTURES / "postfix-auth-plain.pcap"
    (tmp_path / "a-file").write_text("x")
    cases = {
        tmp_path / "a-file" / "out": f"{tmp_path / 'a-file'} is a file, not a folder",
        tmp_path / "none" / "out": f"the folder {tmp_path / 'none'} does not exist",
    }
    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir(mode=0o555)
        cases[tmp_path / "ro" / "out"] = "Permission denied"
    elif not os.access("/sys", os.W_OK) or os.path.isdir("/sys/kernel"):
        cases[pathlib.Path("/sys/smtpcore-test-out")] = "Operation not permitted"
    for outdir, text in cases.items():
        run = smtpcore("extract", "-q", capture, "-o", outdir)
        assert run.returncode == 2, (outdir, run.stderr)
        assert run.stderr.startswith("smtpcore: ") and text in run.stderr
        assert "Traceback" not in run.stderr
        assert not outdir.exists()


def test_jobs_must_be_positive(tmp_path):
    run = smtpcore("extract", "-j", "0", FOXMAIL, "-o", tmp_path / "out")
    assert run.returncode == 2
    assert "argument -j/--jobs: must be 1 or more, not 0" in run.stderr
    assert not (tmp_path / "out").exists()


def test_files_that_are_not_captures_are_skipped_not_damage(tmp_path):
    case = tmp_path / "case"
    case.mkdir()
    shutil.copy(FOXMAIL, case / "trace.pcap")
    (case / "README.md").write_text("chain of custody: see form 12\n")
    out = tmp_path / "out"
    # As a shell glob gives them, and as a folder.
    for inputs in ([case / "README.md", case / "trace.pcap"], [case]):
        shutil.rmtree(out, ignore_errors=True)
        run = smtpcore("extract", "-q", *inputs, "-o", out)
        assert run.returncode == 0, run.stderr
        assert (
            f"smtpcore: skipped 1 file that is neither a capture nor a disk image: "
            f"{case / 'README.md'}"
        ) in run.stderr
        manifest = json.loads((out / "manifest.json").read_text())
        (skipped,) = manifest["skipped"]
        assert skipped["path"] == str(case / "README.md")
        assert manifest["warnings"] == 0
        log = (out / "smtpcore.log").read_text()
        assert f"INFO skipped {case / 'README.md'}: " in log


def test_help_shows_examples_files_and_exit_statuses():
    run = smtpcore("extract", "--help")
    assert run.returncode == 0
    for text in (
        "smtpcore extract case/trace.pcap -o case/out",
        "credentials.MODE.hashcat",
        "messages.csv",
        "smtpcore.log",
        "exit status:",
        "  1  some input was damaged or some record is incomplete",
    ):
        assert text in run.stdout
    summary = smtpcore("summary", "--help")
    assert "smtpcore summary case/trace.pcap" in summary.stdout
    assert "exit status:" in summary.stdout


def _columns(line):
    """Display columns where the cells of a summary line start (after two spaces)."""
    starts, column = [], 0
    for index, char in enumerate(line):
        if char != " " and (index == 0 or line[index - 2 : index] == "  "):
            starts.append(column)
        column += cli.display_width(char)
    return starts


def test_summary_is_by_time_with_source_and_fits_the_terminal():
    inputs = [
        FOXMAIL,
        CAPTURES / "postfix-auth-plain.pcap",
        CAPTURES / "aiosmtpd-xoauth2.pcap",
    ]
    run = smtpcore("summary", "-q", *inputs, columns=100)
    assert run.returncode == 0, run.stderr
    rows = run.stdout.splitlines()
    assert rows[0].split()[:4] == ["Time", "(UTC)", "Source", "Client"]
    assert all(cli.display_width(row) <= 100 for row in rows)
    body = rows[2:-1]
    assert [row[:19] for row in body] == sorted(row[:19] for row in body)
    assert len(body) == 3  # one transaction each
    # CJK subjects take two columns a character: the next cell still lines up.
    foxmail = next(row for row in body if "邮件" in row)
    assert len(_columns(rows[0])) == 8
    assert _columns(foxmail) == _columns(rows[0])
    wide = smtpcore("summary", "-q", *inputs)  # not a terminal: nothing cut
    assert "邮件测试：朱镕基与陶喆的季度报告" in wide.stdout
    assert str(FOXMAIL) in wide.stdout


def test_summary_shows_control_characters_by_code_point():
    assert cli._visible("invoice\u202efdp.exe\x1b[2J") == (
        "invoice⟨U+202E⟩fdp.exe⟨U+001B⟩[2J"
    )
    assert cli.display_width("邮件a") == 5
    assert cli._fit("邮件测试", 5) == "邮件…"
    assert cli._fit("/a/b/capture.pcap", 8, keep_end=True) == "…re.pcap"


# -- pivot fields -----------------------------------------------------------------


def test_pivot_fields_of_a_lab_message(foxmail_out):
    (message,) = lines(foxmail_out / "messages.jsonl")
    assert message["user_agent"] == "Foxmail 7.2.13.365[cn]"
    assert message["from_differs_from_envelope"] is False
    for name in (
        "reply_to",
        "in_reply_to",
        "references",
        "return_path",
        "sender",
        "x_originating_ip",
        "reply_to_differs",
    ):
        assert message[name] is None, name
    assert message["received"] == []
    assert message["received_first_hop"] is message["received_last_hop"] is None


@pytest.mark.skipif(not EXTERNAL.is_dir(), reason="external corpus absent")
def test_received_chain_of_a_real_relay(tmp_path):
    out = tmp_path / "out"
    run = smtpcore("extract", "-q", EXTERNAL / "arkime-smtp-zip.pcap", "-o", out)
    assert run.returncode == 0, run.stderr
    (message,) = lines(out / "messages.jsonl")
    newest, oldest = message["received"]
    assert newest == {
        "from": "xxxxxxxxxxxxx.xxx.com (localhost.localdomain [127.0.0.1])",
        "by": "xxxxxxxxxxxxx.xxx.com (8.14.4/8.14.4)",
        "via": None,
        "with": "ESMTP",
        "id": "rBHEoG4S029660",
        "for": "xxxxxxxxx@xxxxxxx.com",
        "ip": "127.0.0.1",
        "date": "Tue, 17 Dec 2013 09:50:17 -0500",
        "date_utc": "2013-12-17T14:50:17.000000Z",
        "raw": "from xxxxxxxxxxxxx.xxx.com (localhost.localdomain [127.0.0.1]) by "
        "xxxxxxxxxxxxx.xxx.com (8.14.4/8.14.4) with ESMTP id rBHEoG4S029660 for "
        "<xxxxxxxxx@xxxxxxx.com>; Tue, 17 Dec 2013 09:50:17 -0500",
    }
    # sendmail's submission hop names the local user in a comment, not a clause
    assert (oldest["from"], oldest["by"], oldest["id"]) == (
        None,
        "xxxxxxxxxxxxx.xxx.com (8.14.4/8.14.4/Submit)",
        "rBHEoGha029657",
    )
    assert message["received_first_hop"] == oldest
    assert message["received_last_hop"] == newest
    assert message["user_agent"] == "Mutt/1.5.20 (2009-12-10)"
    (row,) = read_csv(out / "messages.csv")
    assert (row["received_hops"], row["first_hop_ip"], row["last_hop_by"]) == (
        "2",
        "",
        "xxxxxxxxxxxxx.xxx.com (8.14.4/8.14.4)",
    )


@pytest.mark.skipif(not EXTERNAL.is_dir(), reason="external corpus absent")
def test_threading_headers_of_a_real_reply(tmp_path):
    out = tmp_path / "out"
    run = smtpcore("extract", "-q", EXTERNAL / "zeek-smtp.pcap", "-o", out)
    assert run.returncode == 1  # its last session is cut by the end of the capture
    assert "1 warnings" in run.stderr
    reply = next(m for m in lines(out / "messages.jsonl") if m["in_reply_to"])
    assert reply["in_reply_to"] == "<9ACEE03C-AB98-4046-AEC1-BF4910C61E96@example.com>"
    assert reply["references"] == (
        "<FA60128E-63CF-4C4E-8241-C5805EA0F66E@example.com> "
        "<9ACEE03C-AB98-4046-AEC1-BF4910C61E96@example.com>"
    )
    assert reply["user_agent"] == "Apple Mail (2.2102)"


def test_mismatch_flags():
    from smtpcore.headers import pivot_fields
    from smtpcore.model import MimeInfo

    info = MimeInfo(
        from_="CEO <ceo@example.com>",
        reply_to="CEO <ceo.private@freemail.test>",
        return_path="<bounce@mailer.test>",
        received=[
            "from a.test ([IPv6:2001:db8::5]) by b.test with ESMTPSA id 1; "
            "Mon, 2 Jan 2023 01:02:03 +0100"
        ],
    )
    fields = pivot_fields(info, "billing@mailer.test")
    assert fields["reply_to_differs"] is True
    assert fields["from_differs_from_envelope"] is True
    assert fields["return_path"] == "bounce@mailer.test"
    assert fields["received"][0]["ip"] == "2001:db8::5"
    assert fields["received"][0]["date_utc"] == "2023-01-02T00:02:03.000000Z"
    same = pivot_fields(MimeInfo(from_="a@x.test", reply_to="A <A@X.test>"), "a@x.test")
    assert (same["reply_to_differs"], same["from_differs_from_envelope"]) == (
        False,
        False,
    )
    bounce = pivot_fields(MimeInfo(from_="MAILER-DAEMON@x.test"), "")
    assert bounce["from_differs_from_envelope"] is None  # the null sender


# -- tables, hash lists, crackers' files --------------------------------------------


def test_messages_csv_matches_the_jsonl(foxmail_out):
    (record,) = lines(foxmail_out / "messages.jsonl")
    assert (foxmail_out / "messages.csv").read_bytes().startswith(b"\xef\xbb\xbfid,")
    (row,) = read_csv(foxmail_out / "messages.csv")
    truth = TRUTH["postfix-foxmail.pcap"]["sessions"][0]["messages"][0]
    assert row["id"] == record["id"] == f"{prefix(FOXMAIL)}-s1-1"
    assert row["subject"] == "邮件测试：朱镕基与陶喆的季度报告"
    assert row["sha256"] == truth["sha256"]
    assert row["rcpt_to"] == "bob@example.org; carol@example.org"
    assert row["complete"] == "true" and row["cc"] == "carol <carol@example.org>"
    assert row["attachments"] == "; ".join(a["filename"] for a in record["attachments"])
    assert row["user_agent"] == "Foxmail 7.2.13.365[cn]"
    (session,) = read_csv(foxmail_out / "sessions.csv")
    assert (session["session_id"], session["helo"], session["complete"]) == (
        f"{prefix(FOXMAIL)}-s1",
        "DESKTOP-465M1IO",
        "true",
    )
    (credential,) = read_csv(foxmail_out / "credentials.csv")
    assert (credential["id"], credential["mechanism"], credential["username"]) == (
        f"{prefix(FOXMAIL)}-s1-a1",
        "LOGIN",
        "alice",
    )


def test_attachment_lists_check_with_md5sum_and_sha256sum(foxmail_out):
    truth = TRUTH["postfix-foxmail.pcap"]["sessions"][0]["messages"][0]["attachments"]
    rows = read_csv(foxmail_out / "attachments.csv")
    assert sorted((r["filename"], r["size"], r["sha256"]) for r in rows) == sorted(
        (a["filename"], str(a["size"]), a["sha256"]) for a in truth
    )
    for row in rows:  # md5 and sha1 over the same bytes as the SHA-256
        data = (foxmail_out / row["path"]).read_bytes()
        assert row["md5"] == hashlib.md5(data).hexdigest()
        assert row["sha1"] == hashlib.sha1(data).hexdigest()
    assert {r["message"] for r in rows} == {f"{prefix(FOXMAIL)}-s1-1"}
    assert {r["detected_type"] for r in rows} >= {"image/png", "application/zip"}
    md5_lines = (
        (foxmail_out / "attachments.md5").read_text(encoding="utf-8").splitlines()
    )
    assert sorted(md5_lines) == sorted(f"{r['md5']}  {r['path']}" for r in rows)
    for tool, name in (
        ("md5sum", "attachments.md5"),
        ("sha256sum", "attachments.sha256"),
    ):
        check = subprocess.run(
            [tool, "-c", name], cwd=foxmail_out, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stdout.count(": OK") == len(truth)


def test_csv_cells_never_run_as_formulas():
    assert tables._cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert tables._cell("+1") == "'+1" and tables._cell("@SUM(A1)") == "'@SUM(A1)"
    assert tables._cell(-1) == "-1"  # numbers stay numbers
    assert tables._cell(["a", "b"]) == "a; b"
    assert tables._cell(None) == "" and tables._cell(True) == "true"


@pytest.fixture(scope="module")
def lab_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab") / "out"
    run = smtpcore("extract", "-q", CAPTURES, "-o", out)
    assert run.returncode == 0, run.stderr
    return out


def test_hashcat_files_hold_one_mode_and_no_comments(lab_out):
    credentials = lines(lab_out / "credentials.jsonl")
    modes = {c["hashcat_mode"] for c in credentials if c["hashcat"]}
    assert modes == {10200, 20}  # SMTP CRAM-MD5; POP3 APOP (test_data/captures/mailbox)
    for mode in modes:
        text = (lab_out / f"credentials.{mode}.hashcat").read_text()
        assert text == "".join(
            c["hashcat"] + "\n" for c in credentials if c["hashcat_mode"] == mode
        )
        assert "#" not in text
    # the combined file stays, with its comment lines, for earlier readers
    combined = (lab_out / "credentials.hashcat").read_text()
    assert (
        combined.startswith("# hashcat -m 20\n") and "# hashcat -m 10200\n" in combined
    )


@pytest.mark.skipif(shutil.which("hashcat") is None, reason="hashcat not installed")
def test_hashcat_reads_the_mode_file_without_parse_errors(lab_out, tmp_path):
    run = subprocess.run(
        ["hashcat", "-m", "10200", "--left", "--potfile-path", tmp_path / "pot",
         lab_out / "credentials.10200.hashcat"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Hashfile" not in run.stdout + run.stderr  # "Hashfile ... on line N: ..."
    assert run.stdout.splitlines() == (
        (lab_out / "credentials.10200.hashcat").read_text().splitlines()
    )
    combined = subprocess.run(
        ["hashcat", "-m", "10200", "--left", "--potfile-path", tmp_path / "pot",
         lab_out / "credentials.hashcat"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Separator unmatched" in combined.stdout + combined.stderr  # why it exists


def test_digest_md5_for_john_recomputes_with_the_real_password(lab_out):
    """The John line's fields give back the response the client sent, computed from
    the password the lab client used (RFC 2831 2.1.2.1), so John can crack it."""
    (truth,) = TRUTH["postfix-auth-digest-md5.pcap"]["sessions"][0]["auth"]
    (line,) = (lab_out / "credentials.dmd5.john").read_text().splitlines()
    user, _, hash_ = line.partition(":")
    tag, name, realm, nonce, uri, cnonce, nc, qop, response = hash_.split("$")[1:]
    assert (tag, user, name, realm, uri, qop) == (
        "DIGEST-MD5", "alice", "alice", truth["realm"], "smtp/mail.example.org", "auth",
    )  # fmt: skip

    def md5(data):
        return hashlib.md5(data)

    a1 = md5(f"{name}:{realm}:{truth['password']}".encode()).digest()
    a1 += f":{nonce}:{cnonce}".encode()
    a2 = f"AUTHENTICATE:{uri}".encode()
    kd = f"{md5(a1).hexdigest()}:{nonce}:{nc}:{cnonce}:{qop}:{md5(a2).hexdigest()}"
    assert md5(kd.encode()).hexdigest() == response
    record = next(c for c in lines(lab_out / "credentials.jsonl") if c["john"])
    assert (record["john"], record["john_format"]) == (line, "dmd5")


def test_credentials_carry_tokens_and_details(lab_out):
    by_mechanism = {}
    for record in lines(lab_out / "credentials.jsonl"):
        by_mechanism.setdefault(record["mechanism"], []).append(record)
    failed, ok = by_mechanism["XOAUTH2"]
    assert (failed["token"], failed["success"]) == ("ya29.expired-token", False)
    assert failed["details"] == {
        "server_error": '{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}'
    }
    assert ok["token"] == "ya29.lab-access-token-0001" and ok["success"] is True
    (digest,) = by_mechanism["DIGEST-MD5"]
    assert digest["details"]["digest_response"]["digest-uri"] == "smtp/mail.example.org"


def test_timesketch_events(foxmail_out):
    events = lines(foxmail_out / "timesketch.jsonl")
    assert [(e["data_type"], e["timestamp_desc"]) for e in events] == [
        ("smtp:authentication", "Authentication Time"),
        ("smtp:email", "Sent Time"),
        ("smtp:email", "Creation Time"),
        ("smtp:session", "Start Time"),
        ("smtp:session", "End Time"),
    ]
    (message,) = lines(foxmail_out / "messages.jsonl")
    sent, dated = events[1], events[2]
    assert sent["datetime"] == message["time"]
    assert dated["datetime"] == message["date_utc"] == "2019-10-26T07:37:18.000000Z"
    assert dated["message"].startswith(
        f"SMTP email Date header: {message['date']} from "
    )
    assert "Date header" not in sent["message"]
    assert sent["message"].startswith("SMTP email from alice@example.org to ")
    for event in events:
        assert event["timestamp"] * 1000 // 1000 == event["timestamp"]
        assert set(event) >= {"message", "datetime", "timestamp_desc", "timestamp"}


# -- manifest and identifiers --------------------------------------------------------


def test_manifest_has_case_data_and_every_input_hashed(foxmail_out):
    manifest = json.loads((foxmail_out / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["case"], manifest["examiner"], manifest["note"]) == (
        "2026-117",
        "J. Doe",
        "seized laptop, 中文 note",
    )
    (given,) = manifest["evidence"]
    assert given == {
        "path": str(FOXMAIL),
        "type": "file",
        "size": FOXMAIL.stat().st_size,
        "sha256": TRUTH["postfix-foxmail.pcap"]["file_sha256"],
    }
    assert manifest["skipped"] == [] and manifest["log"] == "smtpcore.log"
    assert manifest["files"]["smtpcore.log"] == sha256(foxmail_out / "smtpcore.log")


def test_disk_image_is_hashed_as_given(tmp_path):
    image = CAPTURES.parent / "images" / "fat-mbr.E01"
    out = tmp_path / "out"
    run = smtpcore("extract", "-q", image, "-o", out)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["evidence"] == [
        {"path": str(image), "type": "file", "size": image.stat().st_size,
         "sha256": sha256(image)}
    ]  # fmt: skip
    for entry in manifest["inputs"]:  # captures inside: their own hash and identifier
        assert entry["id"] == "c" + entry["sha256"][:12]


def test_identifiers_do_not_depend_on_the_other_inputs(tmp_path):
    plain = CAPTURES / "postfix-auth-plain.pcap"
    alone = smtpcore("extract", "-q", plain, "-o", tmp_path / "alone")
    crowd = smtpcore("extract", "-q", FOXMAIL, CAPTURES / "postfix-ipv6.pcap", plain,
                     "-o", tmp_path / "crowd")  # fmt: skip
    assert alone.returncode == crowd.returncode == 0, crowd.stderr

    def ids(out, name):
        return sorted(
            r["id"]
            for r in lines(out / name)
            if r.get("session_id", "").startswith(prefix(plain))
        )

    assert ids(tmp_path / "alone", "messages.jsonl") == [f"{prefix(plain)}-s1-1"]
    assert ids(tmp_path / "crowd", "messages.jsonl") == [f"{prefix(plain)}-s1-1"]
    assert ids(tmp_path / "crowd", "credentials.jsonl") == [f"{prefix(plain)}-s1-a1"]
    assert (tmp_path / "crowd" / "eml" / f"{prefix(plain)}-s1-1.eml").is_file()


def test_the_same_capture_twice_keeps_identifiers_apart(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    shutil.copy(FOXMAIL, tmp_path / "a" / "x.pcap")
    shutil.copy(FOXMAIL, tmp_path / "b" / "x.pcap")
    run = smtpcore(
        "extract", "-q", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "out"
    )
    assert run.returncode == 0, run.stderr
    ids = [m["id"] for m in lines(tmp_path / "out" / "messages.jsonl")]
    assert ids == [f"{prefix(FOXMAIL)}-s1-1", f"{prefix(FOXMAIL)}_2-s1-1"]


def test_ntlm_and_cram_lines_go_to_their_own_mode_files(tmp_path):
    """An NTLMv2 attempt (the MS-NLMP 4.2.4 vector) beside a CRAM-MD5 one: each mode
    file holds its lines only, and hashcat reads each with its -m."""
    import hmac

    import test_smtp_auth as vectors

    from smtpcore.model import Credential, Endpoints
    from smtpcore.output import OutputFolder

    key = vectors.ntowf_v2("Password", "User", "Domain")
    blob = vectors.nlmp_v2_blob()
    proof = hmac.new(key, vectors.NLMP_CHALLENGE + blob, "md5").digest()
    lm = hmac.new(
        key, vectors.NLMP_CHALLENGE + vectors.NLMP_CLIENT_CHALLENGE, "md5"
    ).digest()
    type2 = vectors.ntlm_challenge(
        vectors.NLMP_CHALLENGE,
        vectors.NLMP_V2_FLAGS,
        "Server".encode("utf-16-le"),
        vectors.NLMP_INFO,
    )
    type3 = vectors.ntlm_authenticate(
        lm + vectors.NLMP_CLIENT_CHALLENGE,
        proof + blob,
        "Domain".encode("utf-16-le"),
        "User".encode("utf-16-le"),
        "COMPUTER".encode("utf-16-le"),
        vectors.NLMP_V2_FLAGS,
    )
    ntlm, _ = vectors.run(
        "NTLM",
        vectors.b64(vectors.ntlm_negotiate()),
        [("S", vectors.b64(type2)), ("C", vectors.b64(type3))],
    )
    cram, _ = vectors.run(
        "CRAM-MD5",
        None,
        [("S", vectors.b64("<1896.697170952@postoffice.example.net>")),
         ("C", vectors.b64("tim b913a602c7eda7a495b4e6e7334d3890"))],
    )  # fmt: skip
    endpoints = Endpoints("10.0.0.1", 1025, "10.0.0.2", 25)
    out = OutputFolder(tmp_path / "out")
    for number, record in enumerate((ntlm, cram), 1):
        out.add_credential(
            Credential(
                session_id="c0-s1",
                time_ns=1_700_000_000_000_000_000 + number,
                endpoints=endpoints,
                id=f"c0-s1-a{number}",
                **record,
            )
        )
    out.close({}, [])
    five_six = (tmp_path / "out" / "credentials.5600.hashcat").read_text()
    assert five_six == ntlm["hashcat"] + "\n"
    assert five_six.startswith("User::Domain:0123456789abcdef:")
    assert (tmp_path / "out" / "credentials.10200.hashcat").read_text() == (
        cram["hashcat"] + "\n"
    )
    (row,) = [
        r
        for r in read_csv(tmp_path / "out" / "credentials.csv")
        if r["mechanism"] == "NTLM"
    ]
    assert (row["domain"], row["workstation"], row["hashcat_mode"]) == (
        "Domain",
        "COMPUTER",
        "5600",
    )
    if shutil.which("hashcat"):
        for mode in ("5600", "10200"):
            path = tmp_path / "out" / f"credentials.{mode}.hashcat"
            run = subprocess.run(
                ["hashcat", "-m", mode, "--left", "--potfile-path",
                 tmp_path / f"{mode}.pot", path],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert "Hashfile" not in run.stdout + run.stderr, run.stdout + run.stderr
            # --left prints each hash as read (NetNTLMv2 with the user upper-cased)
            assert run.stdout.lower().splitlines() == (
                path.read_text().lower().splitlines()
            )


PIVOT = CAPTURES.parent / "pivot"


def test_pivot_fields_of_a_lab_bec_message(tmp_path):
    """Every pivot field of a real capture, against the headers the client sent."""
    capture = PIVOT / "bec.pcap"
    out = tmp_path / "out"
    run = smtpcore("extract", "-q", capture, "-o", out)
    assert run.returncode == 0, run.stderr
    (message,) = lines(out / "messages.jsonl")
    sent = (PIVOT / "bec.eml").read_bytes() + b"\r\n"  # swaks adds CRLF before "."
    assert message["sha256"] == hashlib.sha256(sent).hexdigest()
    assert (out / message["eml"]).read_bytes() == sent
    expected = {
        "mail_from": "billing@mailer.test",
        "auth_user": "alice",
        "helo": "ws01.corp.test",
        "subject": "Überweisung dringend – Rechnung 4471",
        "from": "Chief Executive <ceo@example.org>",
        "reply_to": "Chief Executive – office <ceo.office@freemail.test>",
        "sender": "billing@mailer.test",
        "return_path": "billing@mailer.test",
        "in_reply_to": "<CAF=invoice-4471@example.org>",
        "references": "<CAF=invoice-4470@example.org> <CAF=invoice-4471@example.org>",
        "user_agent": "Microsoft Outlook 16.0",
        "x_originating_ip": "203.0.113.77",
        "reply_to_differs": True,
        "from_differs_from_envelope": True,
        "date_utc": "2026-11-30T09:14:50.000000Z",
    }
    assert {name: message[name] for name in expected} == expected
    hops = message["received"]
    assert [
        (h["from"], h["by"], h["with"], h["id"], h["for"], h["ip"]) for h in hops
    ] == [
        (
            "relay.mailer.test (relay.mailer.test [192.0.2.25])",
            "mx.example.org (Postfix)",
            "ESMTPS",
            "4A1B2C3D4E",
            "ap@example.org",
            "192.0.2.25",
        ),
        (
            "[203.0.113.77] (unknown [IPv6:2001:db8:77::5])",
            "relay.mailer.test",
            "ESMTPSA",
            "77aa01",
            None,
            "203.0.113.77",
        ),
        (
            None,
            "ws01.corp.test (8.17.1/8.17.1/Submit)",
            None,
            "2AUD9f3x012345",
            None,
            None,
        ),
    ]
    assert [h["date_utc"] for h in hops] == [
        "2026-11-30T09:15:02.000000Z",
        "2026-11-30T09:14:58.000000Z",
        "2026-11-30T09:14:51.000000Z",
    ]
    assert hops[2]["raw"] == (
        "(from billing@localhost) by ws01.corp.test (8.17.1/8.17.1/Submit) id "
        "2AUD9f3x012345; Mon, 30 Nov 2026 04:14:51 -0500"
    )
    assert message["received_first_hop"] == hops[2]
    assert message["received_last_hop"] == hops[0]
    (row,) = read_csv(out / "messages.csv")
    assert (row["reply_to_differs"], row["received_hops"], row["last_hop_by"]) == (
        "true",
        "3",
        "mx.example.org (Postfix)",
    )
    (event,) = [
        e
        for e in lines(out / "timesketch.jsonl")
        if e["timestamp_desc"] == "Creation Time"
    ]
    assert event["message"].startswith(
        "SMTP email Date header: Mon, 30 Nov 2026 10:14:50 +0100 from "
        "billing@mailer.test to ap@example.org Subject: Überweisung dringend"
    )
    assert (
        "(Reply-To differs from From) (From differs from MAIL FROM)" in event["message"]
    )
    assert event["received_first_hop_ip"] is None  # the submission hop names none
