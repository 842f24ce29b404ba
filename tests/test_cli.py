"""End-to-end runs of the installed `smtpcore` command."""

import gzip
import hashlib
import random
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "test_data" / "captures"
MANIFEST = json.loads((CAPTURES / "MANIFEST.json").read_text(encoding="utf-8"))
TRUTH = {entry["file"]: entry for entry in MANIFEST["captures"]}
COMMAND = pathlib.Path(sys.executable).with_name("smtpcore")


def smtpcore(*args, cwd=None, columns=None):
    """Runs the command; the summary fits `columns` when given, else nothing is cut."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [str(COMMAND), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def tree_digest(root):
    """SHA-256 of every file below root, by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_extract_foxmail_capture(tmp_path):
    capture = CAPTURES / "postfix-foxmail.pcap"
    before = hashlib.sha256(capture.read_bytes()).hexdigest()
    run = smtpcore("extract", "-q", capture, "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == (
        f"1 sessions, 1 mail transactions (1 .eml), 3 attachments, 1 credentials → "
        f"{tmp_path / 'out'}; report: {tmp_path / 'out' / 'report.html'}"
    )
    out = tmp_path / "out"
    (truth,) = TRUTH["postfix-foxmail.pcap"]["sessions"][0]["messages"]
    (message,) = lines(out / "messages.jsonl")
    assert message["subject"] == "邮件测试：朱镕基与陶喆的季度报告"
    assert message["sha256"] == truth["sha256"]
    assert (
        hashlib.sha256((out / message["eml"]).read_bytes()).hexdigest()
        == truth["sha256"]
    )
    assert message["rcpt_to"] == ["bob@example.org", "carol@example.org"]
    assert message["auth_user"] == "alice"
    by_name = {a["filename"]: a for a in message["attachments"]}
    for expected in truth["attachments"]:
        written = out / by_name[expected["filename"]]["path"]
        assert written.name == expected["filename"]
        assert hashlib.sha256(written.read_bytes()).hexdigest() == expected["sha256"]
    (credential,) = lines(out / "credentials.jsonl")
    assert (credential["mechanism"], credential["username"], credential["success"]) == (
        "LOGIN",
        "alice",
        True,
    )
    (session,) = lines(out / "sessions.jsonl")
    assert session["helo"] == "DESKTOP-465M1IO" and session["complete"] is True

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    (entry,) = manifest["inputs"]
    assert entry["sha256"] == before == TRUTH["postfix-foxmail.pcap"]["file_sha256"]
    assert entry["status"] == "ok"
    digests = tree_digest(out)
    digests.pop("manifest.json")
    assert manifest["files"] == digests
    assert hashlib.sha256(capture.read_bytes()).hexdigest() == before  # read-only


def test_same_input_same_output(tmp_path):
    first = smtpcore("extract", "-q", CAPTURES, "-o", tmp_path / "a")
    second = smtpcore("extract", "-q", CAPTURES, "-o", tmp_path / "b")
    assert first.returncode == second.returncode == 0, first.stderr
    a, b = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    for timed in ("manifest.json", "smtpcore.log"):  # they say when they were made
        assert a.pop(timed) != "" and b.pop(timed) != ""
    assert a == b
    mailbox = json.loads((CAPTURES / "mailbox" / "MANIFEST.json").read_text("utf-8"))
    # The key logs lying in mailbox-tls/ are found and open its captures.
    tls = json.loads((CAPTURES / "mailbox-tls" / "MANIFEST.json").read_text("utf-8"))
    assert len([p for p in a if p.startswith("eml/")]) == sum(
        len(s["messages"])
        for c in MANIFEST["captures"]
        for s in c["sessions"]
        if not s["tls"]
    ) + sum(
        len(s["messages"])
        for c in mailbox["captures"] + list(tls["captures"].values())
        for s in c["sessions"]
    )


def test_folder_with_nested_gzip_and_renamed_captures(tmp_path):
    evidence = tmp_path / "evidence"
    (evidence / "var" / "log").mkdir(parents=True)
    shutil.copy(
        CAPTURES / "postfix-auth-plain.pcap", evidence / "var" / "log" / "a.pcap"
    )
    with gzip.open(evidence / "var" / "trace.pcap.gz", "wb") as handle:
        handle.write((CAPTURES / "postfix-dumpcap.pcapng").read_bytes())
    shutil.copy(CAPTURES / "postfix-ipv6.pcap", evidence / "holiday-photo.jpg")
    (evidence / "notes.txt").write_text("not a capture")
    run = smtpcore("extract", "-q", evidence, "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    messages = lines(tmp_path / "out" / "messages.jsonl")
    expected = {
        TRUTH[name]["sessions"][0]["messages"][0]["sha256"]
        for name in (
            "postfix-auth-plain.pcap",
            "postfix-dumpcap.pcapng",
            "postfix-ipv6.pcap",
        )
    }
    assert {m["sha256"] for m in messages} == expected
    sources = sorted(pathlib.Path(m["source"]).name for m in messages)
    assert sources == ["a.pcap", "holiday-photo.jpg", "trace.pcap.gz"]


def test_truncated_capture_keeps_what_it_can_and_exits_1(tmp_path):
    data = (CAPTURES / "postfix-rset-multi-message.pcap").read_bytes()
    (tmp_path / "in").mkdir()
    damaged = tmp_path / "in" / "cut.pcap"
    damaged.write_bytes(data[: len(data) * 2 // 3])
    run = smtpcore(
        "extract", "-q", damaged, "-o", tmp_path / "out", "--log", tmp_path / "log.txt"
    )
    assert run.returncode == 1
    assert "warnings (damaged or incomplete input)" in run.stderr
    log = (tmp_path / "log.txt").read_text()
    assert f"WARNING {damaged}: frame 34, offset 0xffd: last record truncated" in log
    (session,) = lines(tmp_path / "out" / "sessions.jsonl")
    assert session["complete"] is False
    messages = lines(tmp_path / "out" / "messages.jsonl")
    truth = TRUTH["postfix-rset-multi-message.pcap"]["sessions"][0]["messages"]
    complete = [m for m in messages if m["complete"] and m["sha256"]]
    assert complete and all(
        m["sha256"] in {t["sha256"] for t in truth} for m in complete
    )
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["inputs"][0]["status"] == "damaged"


def test_usage_errors_exit_2(tmp_path):
    missing = smtpcore("extract", tmp_path / "nope.pcap", "-o", tmp_path / "out")
    assert missing.returncode == 2 and "smtpcore:" in missing.stderr
    (tmp_path / "in").mkdir()
    text = tmp_path / "in" / "notes.txt"
    text.write_text("hello")
    none = smtpcore("extract", text, "-o", tmp_path / "out2")
    assert none.returncode == 2
    assert "no packet capture found" in none.stderr
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep").write_text("x")
    refused = smtpcore(
        "extract", "-q", CAPTURES / "postfix-auth-login.pcap", "-o", busy
    )
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["keep"]
    forced = smtpcore(
        "extract", "-q", "--force", CAPTURES / "postfix-auth-login.pcap", "-o", busy
    )
    assert forced.returncode == 0
    assert (busy / "keep").read_text() == "x"


def test_summary_table():
    run = smtpcore(
        "summary",
        "-q",
        CAPTURES / "postfix-pipelining-rejected-rcpt.pcap",
        CAPTURES / "postfix-starttls.pcap",
    )
    assert run.returncode == 0, run.stderr
    rows = run.stdout.splitlines()
    assert rows[0].split("  ")[0] == "Time (UTC)"
    (truth,) = TRUTH["postfix-pipelining-rejected-rcpt.pcap"]["sessions"][0]["messages"]
    assert truth["mail_from"] in rows[2]
    assert f"(+{len(truth['rcpt_rejected'])} rejected)" in rows[2]
    assert "10.25.0.2 → 10.25.0.1:25" in rows[3]
    assert "(encrypted after STARTTLS)" in rows[3]  # sessions without mail count too
    assert rows[-1] == "2 sessions, 1 mail transactions"


IMAGES = ROOT / "test_data" / "images"
IMAGE_MANIFEST = json.loads((IMAGES / "MANIFEST.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("image", sorted(IMAGE_MANIFEST["images"]))
def test_extract_from_disk_image(image, tmp_path):
    """Every capture placed in the image (nested, renamed, gzip, deleted, in an NTFS
    stream) is found, and its messages are byte-exact."""
    path = IMAGES / image
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    run = smtpcore("extract", "-q", path, "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    messages = lines(tmp_path / "out" / "messages.jsonl")
    found = {}
    for message in messages:
        inside = message["source"].split(f"{image}:", 1)[1]
        found.setdefault(inside, set()).add(message["sha256"])
    expected = {}
    for entry in IMAGE_MANIFEST["images"][image]:
        inside = (f"/{entry['partition']}" if entry["partition"] else "") + entry[
            "path"
        ]
        if entry["how"] == "deleted":
            inside += " (deleted)"
        truth = TRUTH[entry["capture"]]
        expected[inside] = {
            m["sha256"] for s in truth["sessions"] for m in s["messages"]
        }
    assert found == expected
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert all(entry["status"] == "ok" for entry in manifest["inputs"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # read-only


def test_never_writes_into_or_over_the_evidence(tmp_path):
    evidence = tmp_path / "case"
    evidence.mkdir()
    shutil.copy(CAPTURES / "postfix-auth-login.pcap", evidence / "a.pcap")
    before = hashlib.sha256((evidence / "a.pcap").read_bytes()).hexdigest()
    into = smtpcore("extract", "-q", evidence, "-o", evidence / "out")
    over = smtpcore("extract", "-q", evidence / "a.pcap", "-o", evidence / "a.pcap")
    assert into.returncode == over.returncode == 2
    assert f"{evidence / 'out'} is inside the input folder {evidence}" in into.stderr
    assert f"is the input {evidence / 'a.pcap'}" in over.stderr
    assert sorted(p.name for p in evidence.iterdir()) == ["a.pcap"]
    # The way people work: the output folder beside the capture it comes from.
    beside = smtpcore("extract", "-q", evidence / "a.pcap", "-o", evidence / "out")
    assert beside.returncode == 0, beside.stderr
    assert sorted(p.name for p in evidence.iterdir()) == ["a.pcap", "out"]
    assert hashlib.sha256((evidence / "a.pcap").read_bytes()).hexdigest() == before


def test_log_and_output_stay_out_of_the_evidence(tmp_path):
    evidence = tmp_path / "case" / "captures"
    evidence.mkdir(parents=True)
    shutil.copy(CAPTURES / "postfix-auth-login.pcap", evidence / "a.pcap")
    around = smtpcore("extract", "-q", evidence, "-o", tmp_path / "case", "--force")
    log_inside = smtpcore("summary", "-q", evidence, "--log", evidence / "log.txt")
    assert around.returncode == log_inside.returncode == 2
    assert "holds the input" in around.stderr
    assert "choose a log file outside the evidence" in log_inside.stderr
    assert sorted(p.name for p in evidence.iterdir()) == ["a.pcap"]
    assert sorted(p.name for p in (tmp_path / "case").iterdir()) == ["captures"]
    no_folder = smtpcore("summary", "-q", evidence, "--log", tmp_path / "nope" / "log")
    assert no_folder.returncode == 2 and "cannot write the log" in no_folder.stderr
    # A log inside the output folder is fine; smtpcore.log is always written there.
    out = tmp_path / "out"
    run = smtpcore("extract", "-q", evidence, "-o", out, "--log", out / "mine.log")
    assert run.returncode == 0, run.stderr
    assert "INFO reading " in (out / "mine.log").read_text()
    assert (out / "mine.log").read_text() == (out / "smtpcore.log").read_text()


def test_force_replaces_an_earlier_run(tmp_path):
    capture = CAPTURES / "postfix-foxmail.pcap"
    first = smtpcore("extract", "-q", capture, "-o", tmp_path / "out")
    before = tree_digest(tmp_path / "out")
    again = smtpcore("extract", "-q", "--force", capture, "-o", tmp_path / "out")
    assert first.returncode == again.returncode == 0
    after = tree_digest(tmp_path / "out")
    for timed in ("manifest.json", "smtpcore.log"):
        before.pop(timed), after.pop(timed)
    assert after == before  # no "(2)" copies, nothing stale


def test_decoding_in_a_worker_process_changes_nothing(tmp_path):
    one = smtpcore("extract", "-q", "--jobs", "1", CAPTURES, "-o", tmp_path / "one")
    two = smtpcore("extract", "-q", "--jobs", "3", CAPTURES, "-o", tmp_path / "two")
    assert one.returncode == two.returncode == 0, two.stderr
    a, b = tree_digest(tmp_path / "one"), tree_digest(tmp_path / "two")
    for timed in ("manifest.json", "smtpcore.log"):
        a.pop(timed), b.pop(timed)
    assert a == b and any(path.startswith("attachments/") for path in a)
    assert any(path.startswith("report/") and "-s" in path for path in a)
    # The pages written by the workers are in the manifest, with their hashes.
    manifests = [
        json.loads((tmp_path / name / "manifest.json").read_text())
        for name in ("one", "two")
    ]
    for manifest in manifests:
        manifest["files"].pop("smtpcore.log")  # times and the command line
    assert manifests[0]["files"] == manifests[1]["files"]
    assert manifests[0]["counts"] == manifests[1]["counts"]
    assert {k: v for k, v in manifests[1]["files"].items() if k in a} == {
        k: v for k, v in a.items() if k in manifests[1]["files"]
    }


def _expected_messages(entries):
    """Message SHA-256s by source path inside the container, from both manifests.

    Messages sent after STARTTLS are encrypted on the wire: none expected.
    """
    expected = {}
    for entry in entries:
        inside = (f"/{entry['partition']}" if entry["partition"] else "") + entry[
            "path"
        ]
        if entry["how"] == "deleted":
            inside += " (deleted)"
        truth = TRUTH[entry["capture"]]
        hashes = {
            m["sha256"]
            for s in truth["sessions"]
            if not s["tls"]
            for m in s["messages"]
        }
        if hashes:
            expected[inside] = hashes
    return expected


def _found_messages(out, prefix):
    """Message SHA-256s by what follows prefix in their source; checks each .eml.

    Transactions without content (reset before DATA) are left out.
    """
    found = {}
    for message in lines(out / "messages.jsonl"):
        assert message["source"].startswith(str(prefix)), message["source"]
        inside = message["source"][len(str(prefix)) :]
        if message["eml"] is None:
            assert message["sha256"] is None
            continue
        found.setdefault(inside, set()).add(message["sha256"])
        eml = (out / message["eml"]).read_bytes()
        assert hashlib.sha256(eml).hexdigest() == message["sha256"]
    return found


@pytest.mark.parametrize("archive", sorted(IMAGE_MANIFEST["archives"]))
def test_extract_from_archive(archive, tmp_path):
    """`smtpcore extract case.tgz -o OUT`: every capture in the archive (also one in a
    zip inside the tgz) gives its messages byte-exact, named by archive and member."""
    path = IMAGES / archive
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    run = smtpcore("extract", "-q", path, "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    expected = _expected_messages(IMAGE_MANIFEST["archives"][archive])
    assert _found_messages(tmp_path / "out", f"{path}:") == expected
    assert sum(len(hashes) for hashes in expected.values()) >= 2
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert sorted(entry["source"] for entry in manifest["inputs"]) == sorted(
        f"{path}:{entry['path']}" for entry in IMAGE_MANIFEST["archives"][archive]
    )
    assert all(entry["status"] == "ok" for entry in manifest["inputs"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # read-only


def test_extract_from_a_folder_holding_an_image_and_an_archive(tmp_path):
    evidence = tmp_path / "handover"
    evidence.mkdir()
    shutil.copyfile(IMAGES / "gpt-fat.qcow2", evidence / "usb-stick")
    shutil.copyfile(IMAGES / "case.tgz", evidence / "case.tgz")
    run = smtpcore("extract", "-q", evidence, "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    found = _found_messages(tmp_path / "out", evidence)
    expected = {
        f"/case.tgz:{inside}": hashes
        for inside, hashes in _expected_messages(
            IMAGE_MANIFEST["archives"]["case.tgz"]
        ).items()
    }
    expected.update(
        {
            f"/usb-stick:{inside}": hashes
            for inside, hashes in _expected_messages(
                IMAGE_MANIFEST["images"]["gpt-fat.qcow2"]
            ).items()
        }
    )
    assert found == expected


def test_extract_from_a_tgz_cut_short_keeps_what_is_there(tmp_path):
    data = (IMAGES / "case.tgz").read_bytes()
    (tmp_path / "case").mkdir()
    cut = tmp_path / "case" / "cut.tgz"
    cut.write_bytes(data[: len(data) // 2])
    log = tmp_path / "log"
    run = smtpcore("extract", "-q", cut, "-o", tmp_path / "out", "--log", log)
    assert run.returncode == 1, run.stderr
    found = _found_messages(tmp_path / "out", f"{cut}:")
    (gateway,) = [
        e for e in IMAGE_MANIFEST["archives"]["case.tgz"] if e["how"] == "copy"
    ]
    assert found == _expected_messages([gateway])
    log_text = log.read_text(encoding="utf-8")
    assert f"{cut}: damaged tar.gz archive, read as far as member" in log_text


def test_evidence_hashes_are_those_of_the_files_on_disk(tmp_path):
    """The inputs are hashed on a thread while the library starts, and the capture
    again while it is read: both are hashlib's SHA-256 of the whole file, for a
    capture of several blocks, for a second input, and the folder is listed."""
    sys.path.insert(0, str(ROOT / "tests"))
    import pcapgen

    body = b"".join(b"line %07d of a long message\r\n" % n for n in range(120_000))
    exchanges = [
        (1, b"220 mx ESMTP\r\n"),
        (0, b"EHLO c\r\n"),
        (1, b"250 mx\r\n"),
        (0, b"MAIL FROM:<a@b.test>\r\n"),
        (1, b"250 ok\r\n"),
        (0, b"RCPT TO:<c@d.test>\r\n"),
        (1, b"250 ok\r\n"),
        (0, b"DATA\r\n"),
        (1, b"354 go\r\n"),
        (0, b"Subject: big\r\n\r\n" + body + b".\r\n"),
        (1, b"250 queued\r\n"),
    ]
    big = tmp_path / "big.pcap"
    pcapgen.write_pcap(big, pcapgen.tcp_conversation(exchanges=exchanges))
    assert big.stat().st_size > 4 << 20
    small = CAPTURES / "postfix-foxmail.pcap"
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(small, folder / "copy.pcap")
    run = smtpcore("extract", "-q", big, small, folder, "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    on_disk = {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (big, small)
    }
    assert manifest["evidence"] == [
        {"path": str(big), "type": "file", "size": big.stat().st_size,
         "sha256": on_disk[str(big)]},
        {"path": str(small), "type": "file", "size": small.stat().st_size,
         "sha256": on_disk[str(small)]},
        {"path": str(folder), "type": "folder"},
    ]  # fmt: skip
    read = {entry["source"]: entry["sha256"] for entry in manifest["inputs"]}
    assert read[str(big)] == on_disk[str(big)]
    assert read[str(small)] == on_disk[str(small)]
    (message,) = [
        m for m in lines(tmp_path / "out" / "messages.jsonl") if m["subject"] == "big"
    ]
    assert message["id"].startswith("c" + on_disk[str(big)][:12] + "-")
    assert (
        message["sha256"] == hashlib.sha256(b"Subject: big\r\n\r\n" + body).hexdigest()
    )


def test_file_digests_from_the_child_process_and_without_it(tmp_path, monkeypatch):
    """The inputs' digests, sizes and errors are the same whether the child process
    hashes them or (no interpreter to start it with) the thread that waits for it."""
    from smtpcore import digests

    big = tmp_path / "big.bin"
    big.write_bytes(random.Random(5).randbytes(40 << 20))  # progress lines too
    small = tmp_path / "small.bin"
    small.write_bytes(b"evidence")
    paths = [str(big), str(tmp_path / "missing"), str(small), str(tmp_path)]

    def outcomes(hashed):
        hashed.wait()
        out = []
        for path in paths:
            try:
                out.append(hashed.result(path))
            except OSError as error:
                out.append((type(error).__name__, str(error)))
        return out, hashed.position

    expected = [
        (hashlib.sha256(big.read_bytes()).hexdigest(), 40 << 20),
        ("FileNotFoundError", f"[Errno 2] No such file or directory: {paths[1]!r}"),
        (hashlib.sha256(b"evidence").hexdigest(), 8),
        ("IsADirectoryError", f"[Errno 21] Is a directory: {paths[3]!r}"),
    ]
    here = []
    hash_here = digests.FileDigests._hash

    def counted(self, path):
        here.append(path)
        hash_here(self, path)

    monkeypatch.setattr(digests.FileDigests, "_hash", counted)
    assert outcomes(digests.FileDigests(paths)) == (expected, (40 << 20) + 8)
    assert here == []  # all in the child
    monkeypatch.setattr(digests.sys, "executable", str(tmp_path / "no-python"))
    assert outcomes(digests.FileDigests(paths)) == (expected, (40 << 20) + 8)
    assert here == paths


@pytest.mark.parametrize("content", [b"", b"Subject: x\r\n\r\nbody\r\n" * 5000])
def test_worker_hashes_the_eml_as_written(tmp_path, content):
    from smtpcore import workers

    eml = tmp_path / "m.eml"
    eml.write_bytes(content)
    with open(eml, "rb") as handle:
        digests = workers._eml_md5_sha1(handle, len(content))
        assert handle.tell() == 0  # the MIME decoder reads it next
    assert digests == (
        hashlib.md5(content).hexdigest(),
        hashlib.sha1(content).hexdigest(),
    )


@pytest.mark.parametrize("backlog", [0, 10_000])
def test_report_pages_by_the_main_process_or_the_workers_are_the_same(
    tmp_path, monkeypatch, backlog
):
    """Which side writes a message's page depends on how busy the workers are: all
    by the main process (backlog 0) or all by the workers, the folder is the same."""
    from smtpcore import cli, workers

    capture = CAPTURES / "postfix-auth-login.pcap"
    assert (
        cli.main(
            ["extract", "-q", "-j", "1", str(capture), "-o", str(tmp_path / "one")]
        )
        == 0
    )
    monkeypatch.setattr(workers, "PAGE_BACKLOG", backlog)
    assert (
        cli.main(
            ["extract", "-q", "-j", "2", str(capture), "-o", str(tmp_path / "two")]
        )
        == 0
    )
    a, b = tree_digest(tmp_path / "one"), tree_digest(tmp_path / "two")
    for timed in ("manifest.json", "smtpcore.log"):
        a.pop(timed), b.pop(timed)
    assert a == b and any(p.startswith("report/c") for p in a)
    files = [
        json.loads((tmp_path / name / "manifest.json").read_text())["files"]
        for name in ("one", "two")
    ]
    for listed in files:
        listed.pop("smtpcore.log")
    assert files[0] == files[1]


def test_a_worker_that_dies_loses_one_message_decoding_and_nothing_else(
    tmp_path, monkeypatch
):
    """The worker ends (as an out-of-memory kill would end it) while decoding one
    message: that message is kept with the reason, the ones it had not started are
    decoded by the main process, and everything else is as with one process."""
    from smtpcore import cli, workers

    assert (
        cli.main(
            ["extract", "-q", "-j", "1", str(CAPTURES), "-o", str(tmp_path / "one")]
        )
        == 0
    )
    one = {r["id"]: r for r in _records(tmp_path / "one" / "messages.jsonl")}
    victim = sorted(one)[len(one) // 2]
    main_pid = os.getpid()
    decode = workers._decode

    def dying(root, message, source, credentials):
        if message.id == victim and os.getpid() != main_pid:
            os._exit(3)
        return decode(root, message, source, credentials)

    monkeypatch.setattr(workers, "_decode", dying)
    assert (
        cli.main(
            ["extract", "-q", "-j", "2", str(CAPTURES), "-o", str(tmp_path / "two")]
        )
        == 0
    )
    two = {r["id"]: r for r in _records(tmp_path / "two" / "messages.jsonl")}
    assert sorted(two) == sorted(one)
    reason = (
        "MIME decoding failed: the decoding process ended while decoding this "
        "message (exit status 3)"
    )
    assert two[victim]["warnings"] == one[victim]["warnings"] + [reason]
    for key in (
        "eml",
        "md5",
        "sha1",
        "sha256",
        "size",
        "mail_from",
        "rcpt_to",
        "complete",
    ):
        assert two[victim][key] == one[victim][key]  # the message itself is all there
    assert two[victim]["attachments"] == [] and two[victim]["subject"] is None
    for key in set(one) - {victim}:
        assert two[key] == one[key]


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_message_that_cannot_go_to_a_worker_is_decoded_by_the_main_process(
    tmp_path, monkeypatch
):
    from smtpcore import cli, workers

    assert (
        cli.main(
            ["extract", "-q", "-j", "1", str(CAPTURES), "-o", str(tmp_path / "one")]
        )
        == 0
    )
    one = _records(tmp_path / "one" / "messages.jsonl")
    victim = sorted(r["id"] for r in one)[len(one) // 3]
    take = workers._Worker.take

    def refusing(self, ticket):
        if ticket.args[1].id == victim:
            raise TypeError("cannot pickle this")
        return take(self, ticket)

    monkeypatch.setattr(workers._Worker, "take", refusing)
    assert (
        cli.main(
            ["extract", "-q", "-j", "2", str(CAPTURES), "-o", str(tmp_path / "two")]
        )
        == 0
    )
    assert _records(tmp_path / "two" / "messages.jsonl") == one
