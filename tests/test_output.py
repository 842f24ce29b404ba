"""The output folder contract: files, names, hashes, no overwrite, a safe report."""

import hashlib
import json
import pathlib

import pytest

from smtpcore import api, records, timeline
from smtpcore.content import MessageContent
from smtpcore.model import (
    Attachment,
    Credential,
    Endpoints,
    Message,
    MimeInfo,
    Recipient,
    Session,
    TextBody,
)
from smtpcore.output import OutputError, OutputFolder, _json_line, event_lines

ENDPOINTS = Endpoints("192.0.2.10", 40123, "192.0.2.25", 25)
RAW = b"Subject: hi\r\n\r\nbody\r\n"
HOSTILE = "../../etc/passwd"


def attachment(payload):
    return Attachment(
        HOSTILE,
        "application/zip",
        "zip",
        len(payload),
        hashlib.md5(payload).hexdigest(),
        hashlib.sha1(payload).hexdigest(),
        hashlib.sha256(payload).hexdigest(),
        False,
        None,
        payload=payload,
    )


def make_message(attachment_payload=b"PK\x03\x04zip"):
    content = MessageContent()
    content.write(RAW)
    mime = MimeInfo(
        subject="hi <script>alert(1)</script>",
        bodies=[
            TextBody("text/plain", "utf-8", "utf-8", "plain <b>text</b>"),
            TextBody(
                "text/html",
                "utf-8",
                "utf-8",
                '<p>x</p><script>alert(2)</script><img src="http://evil.test/x.png">',
            ),
        ],
        # Two attachments with the same hostile name: both kept, under distinct names.
        attachments=[attachment(attachment_payload), attachment(attachment_payload)],
    )
    return Message(
        id="c1-s1-1",
        session_id="c1-s1",
        endpoints=ENDPOINTS,
        helo="client.test",
        auth_user="alice",
        start_ns=1_700_000_000_000_000_000,
        time_ns=1_700_000_001_500_000_000,
        mail_from="alice@example.org",
        recipients=[
            Recipient("bob@example.org", "", True, "250 2.1.5 Ok"),
            Recipient("eve@elsewhere.test", "", False, "554 5.7.1 Relay access denied"),
        ],
        accepted=True,
        reply="250 2.0.0 Ok: queued as ABC123",
        queue_id="ABC123",
        data_sent=True,
        size=content.size,
        md5=content.md5,
        sha1=content.sha1,
        sha256=content.sha256,
        content=content,
        mime=mime,
    )


def test_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("evidence notes")
    with pytest.raises(OutputError, match="not empty"):
        OutputFolder(tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "evidence notes"


def test_writes_the_contract_files_with_hashes(tmp_path):
    out = OutputFolder(tmp_path / "out")
    out.add(make_message(), "trace.pcap")
    out.add(
        Credential(
            "c1-s1",
            1_700_000_000_500_000_000,
            ENDPOINTS,
            "PLAIN",
            username="alice",
            password="s3cret",
            success=True,
        ),
        "trace.pcap",
    )
    out.add(
        Credential(
            "c1-s1",
            1_700_000_000_600_000_000,
            ENDPOINTS,
            "CRAM-MD5",
            username="alice",
            hashcat="$cram_md5$PDE=$YWxpY2UgMDA=",
            hashcat_mode=10200,
            success=False,
        ),
        "trace.pcap",
    )
    out.add(
        Session(
            "c1-s1",
            "trace.pcap",
            ENDPOINTS,
            1_700_000_000_000_000_000,
            1_700_000_002_000_000_000,
            helo="client.test",
            messages=1,
            auth_attempts=2,
        ),
        "trace.pcap",
    )
    out.close({"tool": "smtpcore"}, warnings=["frame 7: truncated"])
    root = tmp_path / "out"

    (record,) = [json.loads(line) for line in (root / "messages.jsonl").open()]
    assert record["eml"] == "eml/c1-s1-1.eml"
    assert (root / record["eml"]).read_bytes() == RAW
    assert record["sha256"] == hashlib.sha256(RAW).hexdigest()
    assert record["rcpt_to"] == ["bob@example.org"]
    assert record["rcpt_rejected"] == [
        {"address": "eve@elsewhere.test", "reply": "554 5.7.1 Relay access denied"}
    ]
    assert record["time"] == "2023-11-14T22:13:21.500000Z"
    paths = [a["path"] for a in record["attachments"]]
    assert len(set(paths)) == 2
    for path in paths:
        assert path.startswith("attachments/c1-s1-1/")
        assert ".." not in path.split("/")
        assert (root / path).read_bytes() == b"PK\x03\x04zip"

    creds = [json.loads(line) for line in (root / "credentials.jsonl").open()]
    assert [c["password"] for c in creds] == ["s3cret", None]
    assert (root / "credentials.hashcat").read_text() == (
        "# hashcat -m 10200\n$cram_md5$PDE=$YWxpY2UgMDA=\n"
    )
    (session,) = [json.loads(line) for line in (root / "sessions.jsonl").open()]
    assert session["start_time"] == "2023-11-14T22:13:20.000000Z"

    text = (root / "manifest.json").read_text()
    on_disk = json.loads(text)
    assert text == json.dumps(on_disk, indent=2, ensure_ascii=False) + "\n"
    assert list(on_disk) == ["tool", "counts", "files"]
    assert list(on_disk["files"]) == sorted(on_disk["files"])
    assert on_disk["counts"] == {
        "attachments": 2,
        "credentials": 2,
        "eml": 1,
        "messages": 1,
        "sessions": 1,
    }
    for relative, digest in on_disk["files"].items():
        assert hashlib.sha256((root / relative).read_bytes()).hexdigest() == digest
    assert set(on_disk["files"]) == {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }


def test_report_has_no_active_content(tmp_path):
    out = OutputFolder(tmp_path / "out")
    out.add(make_message(), "trace.pcap")
    out.close({}, warnings=[])
    index = (tmp_path / "out" / "report.html").read_text()
    assert "Content-Security-Policy" in index
    assert "<script>alert" not in index  # rows are JSON data with no '<' at all
    assert "hi \\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in index
    page = (tmp_path / "out" / "report" / "c1-s1-1.html").read_text()
    assert "<script" not in page  # the message page runs no script of its own
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # The HTML body, made inert, sits escaped in a sandboxed iframe.
    assert '<iframe class="html" sandbox=""' in page
    assert "alert(2)" not in page.split("HTML source")[0]
    assert "remote image not loaded: http://evil.test/x.png" in page
    assert "default-src &#39;none&#39;" in page  # the policy travels into the frame


def test_times_beyond_the_calendar_do_not_break_the_records():
    from smtpcore.model import iso_time

    assert iso_time(253402300799_999_999_000) == "9999-12-31T23:59:59.999999Z"
    assert iso_time(253402300800 * 10**9) is None  # year 10000: a damaged timestamp
    assert iso_time(2**72) is None


def test_message_content_hashes_and_bytes_of_small_writes_across_blocks():
    """Segments are gathered into blocks before they are spooled and hashed: the
    bytes and the three hashes are those of everything written, also around a
    truncation, at any moment they are asked for."""
    import random

    from smtpcore import content as content_module

    generator = random.Random(7)
    pieces = [
        generator.randbytes(generator.randint(1, 3000)) for _ in range(600)
    ]  # about 0.9 MB: several blocks, a spool on disk past the threshold
    for md5_sha1 in (True, False):  # without: no MD5 and SHA-1, the rest the same
        content = MessageContent(md5_sha1)
        written = b""
        for index, piece in enumerate(pieces):
            content.write(piece)
            written += piece
            if index == 100:  # a hash asked for mid-message
                assert content.sha256 == hashlib.sha256(written).hexdigest()
        assert len(written) > 3 * content_module._BLOCK
        assert content.size == len(written)
        cut = len(written) - 12345
        content.truncate(cut)
        written = written[:cut]
        content.write(b"tail")
        written += b"tail"
        if md5_sha1:
            assert content.md5 == hashlib.md5(written).hexdigest()
            assert content.sha1 == hashlib.sha1(written).hexdigest()
        else:
            assert content.md5 is None and content.sha1 is None
        assert content.sha256 == hashlib.sha256(written).hexdigest()
        assert b"".join(content.chunks()) == written
        content.release()
        assert content.sha256 == hashlib.sha256(written).hexdigest()


def test_manifest_text_is_that_of_json_dumps():
    """The manifest is written in pieces, the files one by one: the same text as
    ``json.dumps`` of the whole, whatever the names hold."""
    from smtpcore.output import _manifest_text

    files = [
        ('attachments/c1-s1-1/\u00fcber "quoted".pdf', "0" * 64),
        ("eml/c1-s1-1.eml", "1" * 64),
        ("eml/\U0001f4e7\u2028.eml", "2" * 64),
    ]
    for manifest, listed in (
        ({"tool": "smtpcore", "counts": {"eml": 2}}, files),
        ({"tool": "smtpcore", "counts": {}}, []),
        ({}, files[:1]),
        ({"files": {"stale": "x"}, "note": "\u00e9\\"}, files),  # files go last
    ):
        expected = {k: v for k, v in manifest.items() if k != "files"}
        expected["files"] = dict(listed)
        assert "".join(_manifest_text(manifest, iter(listed))) == (
            json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
        )


def test_ledger_gives_files_as_a_sorted_dict_would():
    """More rows than the batch and than SQLite's page cache: the files come back
    in the order of ``sorted()``, a name given twice with its last digest."""
    import random

    from smtpcore.ledger import Ledger

    generator = random.Random(11)
    alphabet = "abcXYZ09-_./ \u00e9\u4e2d\U0001f4e7"
    ledger, expected = Ledger(), {}
    for index in range(30_000):
        name = "".join(generator.choices(alphabet, k=generator.randint(1, 90)))
        digest = hashlib.sha256(b"%d" % index).hexdigest()
        ledger.add_file(name, digest)
        expected[name] = digest
    ledger.add_files([("eml/again.eml", "a"), ("eml/again.eml", "b")])
    ledger.add_file("eml/again.eml", "c")
    expected["eml/again.eml"] = "c"
    assert list(ledger.files()) == sorted(expected.items())
    assert ledger.first_with("f" * 64, "c1-s1-1") == "c1-s1-1"
    assert ledger.first_with("e" * 64, "c1-s2-1") == "c1-s2-1"
    assert ledger.first_with("f" * 64, "c1-s3-1") == "c1-s1-1"
    ledger.close()
    with pytest.raises(OSError, match="temporary database of the files written"):
        ledger.first_with("d" * 64, "c1-s4-1")  # as the folder's own failures are


def test_folder_keeps_no_file_list_in_memory(tmp_path):
    """What the manifest lists grows with the capture: it is not held in memory
    (a dict of 20,000 names and digests took 5 MB)."""
    import tracemalloc

    out = OutputFolder(tmp_path / "out")
    names = [
        (f"attachments/c1-s{n}-1/scan {n}.pdf", "%064x" % n) for n in range(20_000)
    ]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for name in names:
            out.add_written(dict([name]))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 200_000
    out.close({"tool": "smtpcore"}, warnings=[])
    files = json.loads((tmp_path / "out" / "manifest.json").read_text())["files"]
    assert [files.pop(name) for name, _ in names] == [digest for _, digest in names]
    assert set(files) == {  # and the folder's own files, all of them
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }


def test_event_lines_are_each_event_encoded_whole():
    """The fields, encoded once for all of a record's events, give the bytes of every
    event encoded whole, on every test capture (and when a field's name is that of
    a head's key, where the head gives way)."""
    captures = sorted(pathlib.Path("test_data").rglob("*.pcap*"))
    assert len(captures) > 100
    seen = 0
    for capture in captures:
        for item in api.items(str(capture)):
            if isinstance(item, Message):
                record = records.message_record(item, str(capture))
            elif isinstance(item, Credential):
                record = records.credential_record(item)
            else:
                record = records.session_record(item)
            fields = timeline.fields(record)
            whole = [_json_line({**h, **fields}) for h in timeline.heads(item, record)]
            assert event_lines(item, record) == b"".join(whole)
            seen += len(whole)
    assert seen > 100
    message = make_message()
    record = dict(records.message_record(message, "x"), timestamp="a field")
    (head,) = timeline.heads(message, record)
    assert event_lines(message, record) == _json_line(
        {**head, **timeline.fields(record)}
    )
    assert json.loads(event_lines(message, record))["timestamp"] == "a field"
