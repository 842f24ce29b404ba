"""End-to-end runs of the stock plaso tools (log2timeline, psort, psteal, pinfo).

Nothing here imports the parser: the tools are started as an examiner starts them, so
they only know the pcap parser through the start-up hook installed with the package.
What they output is compared with what smtpcore finds in the same captures.

log2timeline has no option for the multiprocessing start method; it uses Python's
default (fork on Linux up to 3.13, forkserver from 3.14, spawn on macOS). To run it
under forkserver or spawn on this Python the tests start the stock script through a
small wrapper that calls multiprocessing.set_start_method first.
"""

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smtpcore import api
from smtpcore import pipeline

from plaso_smtp.parsers.pcap_plugins import smtp

import plaso_test_lib

pytestmark = pytest.mark.e2e

BIN_DIRECTORY = Path(sys.executable).parent
REPOSITORY_PATH = Path(__file__).resolve().parents[1]
IMAGES_PATH = REPOSITORY_PATH / "test_data/images"
CAPTURE_DIRECTORIES = (
    REPOSITORY_PATH / "test_data/captures",
    plaso_test_lib.EXTERNAL_CORPUS_PATH,
)
ZEEK_SMTP_PATH = plaso_test_lib.EXTERNAL_CORPUS_PATH / "zeek-smtp.pcap"

# Runs a stock plaso script under a chosen start method. argv: start method,
# "disable-children" or "-", script, script arguments.
START_METHOD_WRAPPER = """
import multiprocessing, os, runpy, sys
start_method, children, script = sys.argv[1:4]
multiprocessing.set_start_method(start_method)
if children == "disable-children":
    # This process keeps the parser; new interpreters will not load the hook.
    os.environ["PLASO_SMTP_DISABLE"] = "1"
sys.argv = sys.argv[3:]
try:
    runpy.run_path(script, run_name="__main__")
finally:
    print("start method used:", multiprocessing.get_start_method(), file=sys.stderr)
"""

# The attributes compared per data type, and the event that stands for the event data.
RECORD_KEYS = {
    "smtp:authentication": (
        "Authentication Time",
        ("source_ip", "mechanism", "username", "password", "success"),
    ),
    "smtp:email": (
        "Sent Time",
        (
            "source_ip",
            "sender",
            "subject",
            "recipients",
            "username",
            "message_sha256_hash",
            "attachment_sha256_hashes",
        ),
    ),
    "smtp:session": (
        "Start Time",
        ("source_ip", "source_port", "destination_ip", "destination_port", "helo"),
    ),
}


def _Record(data_type, get_value):
    _, keys = RECORD_KEYS[data_type]
    return json.dumps([data_type] + [get_value(key) for key in keys])


def _ExpectedRecords(path):
    """Records of what smtpcore itself finds in a capture (gzip or not)."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as file_object:
        event_data_list = [
            smtp.CreateEventData(item)
            for item in pipeline.extract(file_object, source="x", warn=lambda _: None)
        ]
    return sorted(
        _Record(event_data.data_type, lambda key, e=event_data: getattr(e, key, None))
        for event_data in event_data_list
    )


def _OutputRecords(events, path):
    """Records of the json_line events of one file, one per event data."""
    records = []
    for event in events:
        data_type = event["data_type"]
        if _PathOf(event) == path and event["timestamp_desc"] == (
            RECORD_KEYS[data_type][0]
        ):
            records.append(_Record(data_type, event.get))
    return sorted(records)


def _PathOf(event):
    """The path inside the source, as in MANIFEST.json, of a json_line event."""
    _, _, path = event["display_name"].partition(":")
    return path.replace("\\", "/")


def _Run(command, cwd, environment=None, timeout=900):
    result = subprocess.run(
        command,
        capture_output=True,
        cwd=cwd,
        env=environment,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        command,
        result.stdout[-3000:],
        result.stderr[-3000:],
    )
    return result


def _Environment():
    environment = dict(os.environ)
    environment.pop("PLASO_SMTP_DISABLE", None)
    return environment


def _RunTool(tool, arguments, cwd, start_method=None, disable_children=False):
    """Runs a stock plaso tool, optionally under a start method."""
    script = os.fspath(BIN_DIRECTORY / tool)
    if start_method is None:
        command = [script] + arguments
    else:
        children = "disable-children" if disable_children else "-"
        command = [sys.executable, "-c", START_METHOD_WRAPPER, start_method, children]
        command += [script] + arguments
    result = _Run(command, cwd, environment=_Environment())
    if start_method is not None:
        assert f"start method used: {start_method}" in result.stderr
    return result


def _Log2Timeline(source, storage_path, arguments=(), **kwargs):
    _RunTool(
        "log2timeline",
        [
            "--status_view",
            "none",
            "--unattended",
            "--partitions",
            "all",
            "--volumes",
            "all",
            "--workers",
            "2",
            "--storage_file",
            os.fspath(storage_path),
        ]
        + list(arguments)
        + [os.fspath(source)],
        storage_path.parent,
        **kwargs,
    )


def _JsonLineEvents(storage_path):
    output_path = storage_path.with_suffix(".jsonl")
    _RunTool(
        "psort",
        ["--status_view", "none", "-o", "json_line", "-w", os.fspath(output_path)]
        + [os.fspath(storage_path)],
        storage_path.parent,
    )
    return _ReadSmtpEvents(output_path)


def _ReadSmtpEvents(path):
    with open(path, encoding="utf-8") as file_object:
        events = [json.loads(line) for line in file_object if line.strip()]
    return [event for event in events if event["data_type"].startswith("smtp:")]


def _PinfoCounters(storage_path):
    result = _RunTool(
        "pinfo",
        ["--output_format", "json", os.fspath(storage_path)],
        storage_path.parent,
    )
    # pinfo writes "warnings_by_path_spec" keys with a raw line break in them.
    information = json.loads(result.stdout, strict=False)
    return information["sessions"]["session"], information["storage_counters"]


def _HasDataTypeCounters(counters):
    """pinfo counts events per parser; only newer releases (not 20240308) also per
    data type."""
    return "data_types" in counters


def _FindCapture(sha256):
    """Finds a capture by the SHA-256 of its content among the captures we have."""
    for directory in CAPTURE_DIRECTORIES:
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == (
                sha256
            ):
                return path
    return None


def _SampleCapture():
    """The capture used for the folder and ext4 runs."""
    if ZEEK_SMTP_PATH.exists():
        return ZEEK_SMTP_PATH
    captures = sorted((REPOSITORY_PATH / "test_data/captures").glob("*auth*.pcap"))
    if not captures:
        pytest.skip("no capture available")
    return captures[0]


def _MakeCaptureFolder(directory, capture):
    """A folder with a capture, a renamed copy and a gzip-compressed copy."""
    directory.mkdir(parents=True)
    shutil.copy(capture, directory / "smtp.pcap")
    shutil.copy(capture, directory / "notes.txt")
    with (
        open(capture, "rb") as source,
        gzip.open(directory / "old.pcap.gz", "wb") as gz,
    ):
        shutil.copyfileobj(source, gz)
    (directory / "readme.txt").write_text("not a capture\n")
    return ["/smtp.pcap", "/notes.txt", "/old.pcap.gz"]


def testPstealAndPinfoOnCaptureFolder(tmp_path):
    """psteal (extraction and output in one run) on plain, renamed and gzip copies."""
    capture = _SampleCapture()
    source = tmp_path / "source"
    paths = _MakeCaptureFolder(source, capture)
    output_path = tmp_path / "timeline.jsonl"

    _RunTool(
        "psteal",
        ["--source", os.fspath(source), "--parsers", "pcap/smtp", "--workers", "2"]
        + ["-o", "json_line", "-w", os.fspath(output_path)],
        tmp_path,
    )

    events = _ReadSmtpEvents(output_path)
    expected = _ExpectedRecords(capture)
    assert expected
    for path in paths:
        assert _OutputRecords(events, os.fspath(source) + path) == expected, path

    if capture == ZEEK_SMTP_PATH:
        messages = {event["message"] for event in events}
        assert (
            "SMTP authentication succeeded user: gurpartap@patriots.in password: "
            "punjab@123 mechanism: LOGIN client 10.10.1.4 port 1470 -> server "
            "74.53.140.153 port 25 HELO: GP" in messages
        )
        subjects = {event.get("subject") for event in events}
        assert {"SMTP", "Re: Bro SMTP CC Header"} <= subjects

    (storage_path,) = tmp_path.glob("*.plaso")
    session, counters = _PinfoCounters(storage_path)
    assert session["enabled_parser_names"] == ["pcap/smtp"]
    per_data_type = {
        data_type: sum(json.loads(record)[0] == data_type for record in expected)
        for data_type in RECORD_KEYS
    }
    # Three copies; sessions give two events (start, end), emails two when they
    # have a Date header.
    if _HasDataTypeCounters(counters):
        assert counters["data_types"]["smtp:session"] == (
            3 * 2 * per_data_type["smtp:session"]
        )
        assert counters["data_types"]["smtp:authentication"] == (
            3 * per_data_type["smtp:authentication"]
        )
        assert counters["data_types"]["smtp:email"] == sum(
            event["data_type"] == "smtp:email" for event in events
        )
    assert counters["parsers"]["smtp"] == len(events)
    assert sum(event["data_type"] == "smtp:session" for event in events) == (
        3 * 2 * per_data_type["smtp:session"]
    )


def _MakeLinuxImage(tmp_path, capture):
    """A small ext4 image with /etc (so plaso sees Linux) and captures."""
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 not available")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("mailhost\n")
    (root / "etc/os-release").write_text('NAME="Debian GNU/Linux"\nID=debian\n')
    _MakeCaptureFolder(root / "var/log/capture", capture)
    image = tmp_path / "linux.raw"
    _Run(
        ["mkfs.ext4", "-q", "-F", "-L", "MAILHOST", "-d", os.fspath(root)]
        + [os.fspath(image), "8M"],
        tmp_path,
    )
    return image


def testLinuxImageWithoutParsersOptionUsesPreset(tmp_path):
    """No --parsers: plaso detects Linux, uses its preset, which now names pcap."""
    capture = _SampleCapture()
    image = _MakeLinuxImage(tmp_path, capture)
    storage_path = tmp_path / "linux.plaso"

    _Log2Timeline(image, storage_path)

    session, counters = _PinfoCounters(storage_path)
    assert "pcap/smtp" in session["enabled_parser_names"]
    assert "text/syslog" in session["enabled_parser_names"]
    assert session["parser_filter_expression"] == "linux"

    events = _JsonLineEvents(storage_path)
    expected = _ExpectedRecords(capture)
    for name in ("smtp.pcap", "notes.txt", "old.pcap.gz"):
        assert _OutputRecords(events, f"/var/log/capture/{name}") == expected, name
    assert counters["parsers"]["smtp"] == len(events)
    if _HasDataTypeCounters(counters):
        assert counters["data_types"]["smtp:session"] == sum(
            event["data_type"] == "smtp:session" for event in events
        )

    # l2tcsv: the columns an examiner reads.
    csv_path = tmp_path / "linux.csv"
    _RunTool(
        "psort",
        ["--status_view", "none", "-o", "l2tcsv", "-w", os.fspath(csv_path)]
        + [os.fspath(storage_path)],
        tmp_path,
    )
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    email_rows = [row for row in rows if row["sourcetype"] == "SMTP email"]
    assert email_rows and all(row["source"] == "PCAP" for row in email_rows)
    assert {row["filename"] for row in email_rows} == {
        "EXT:/var/log/capture/smtp.pcap",
        "EXT:/var/log/capture/notes.txt",
        "GZIP:/var/log/capture/old.pcap.gz",
    }
    expected_emails = [
        json.loads(record) for record in expected if '"smtp:email"' in record
    ]
    for _, source_ip, sender, subject, _, username, sha256, _ in expected_emails:
        matching = [
            row
            for row in email_rows
            if f"SMTP email from {sender}" in row["desc"]
            and f"SHA-256: {sha256}" in row["desc"]
        ]
        assert len(matching) >= 3, (sender, sha256)
        if subject:
            assert all(f"Subject: {subject}" in row["desc"] for row in matching)
        assert {row["user"] for row in matching} == {username or "-"}


def _ManifestEntries(image_name):
    manifest_path = IMAGES_PATH / "MANIFEST.json"
    if not manifest_path.exists():
        pytest.skip("test_data/images not built")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    entries = manifest["images"].get(image_name)
    if not entries or not (IMAGES_PATH / image_name).exists():
        pytest.skip(f"{image_name} not built")
    return entries


@pytest.mark.parametrize(
    "image_name, start_method",
    [("ext4.raw", "fork"), ("fat-mbr.E01", "forkserver"), ("ntfs.vmdk", "spawn")],
)
def testDiskImage(tmp_path, image_name, start_method):
    """Captures nested, renamed and gzip-compressed in disk images, two workers."""
    entries = _ManifestEntries(image_name)
    storage_path = tmp_path / "image.plaso"

    _Log2Timeline(
        IMAGES_PATH / image_name,
        storage_path,
        ["--parsers", "pcap"],
        start_method=start_method,
    )
    events = _JsonLineEvents(storage_path)

    checked = 0
    for entry in entries:
        if entry["how"] == "deleted":
            continue  # plaso does not extract from deleted files.
        if ":/" in entry["path"]:
            continue  # inside an archive: plaso opens it only with --archives (below)
        capture = _FindCapture(entry["capture_sha256"])
        if capture is None:
            # Not among our captures: it must at least show up as a session.
            assert any(
                _PathOf(event) == entry["path"] and event["data_type"] == "smtp:session"
                for event in events
            ), entry
            continue
        assert _OutputRecords(events, entry["path"]) == _ExpectedRecords(capture), entry
        checked += 1
    assert checked, "no capture of the manifest found in test_data or the corpus"

    _, counters = _PinfoCounters(storage_path)
    assert counters["parsers"]["total"] == len(events)


@pytest.mark.parametrize(
    "image_name, archive_type, display_prefix",
    [("ext4.raw", "tar", "/."), ("gpt-fat.qcow2", "zip", "")],
)
def testArchiveInDiskImage(tmp_path, image_name, archive_type, display_prefix):
    """With --archives, plaso itself opens a tgz or zip in the image and the parser
    reads the capture in it like any other (no change to the parser needed).

    plaso names such a file by its path inside the archive only ("TAR:/./pcaps/x"),
    not by the archive's path in the image."""
    (entry,) = [e for e in _ManifestEntries(image_name) if ":/" in e["path"]]
    capture = _FindCapture(entry["capture_sha256"])
    if capture is None:
        pytest.skip(f"{entry['capture']} is not among the captures")
    storage_path = tmp_path / "image.plaso"

    _Log2Timeline(
        IMAGES_PATH / image_name,
        storage_path,
        ["--parsers", "pcap", "--archives", archive_type],
    )
    events = _JsonLineEvents(storage_path)

    member = display_prefix + entry["path"].split(":", 1)[1]
    assert _OutputRecords(events, member) == _ExpectedRecords(capture)
    assert _ExpectedRecords(capture)


def testForkserverWorkersNeedTheHook(tmp_path):
    """Workers of a forkserver start a new interpreter: the .pth file loads the
    parser there. With the hook kept out of new interpreters, the main process
    knows the parser but the workers run none, silently, and nothing comes out."""
    capture = _SampleCapture()
    source = tmp_path / "source"
    _MakeCaptureFolder(source, capture)

    storage_path = tmp_path / "without.plaso"
    _Log2Timeline(
        source,
        storage_path,
        ["--parsers", "pcap"],
        start_method="forkserver",
        disable_children=True,
    )
    session, counters = _PinfoCounters(storage_path)
    assert session["enabled_parser_names"] == ["pcap/smtp"]
    assert counters["parsers"].get("smtp", 0) == 0


def testDecryptedTlsCaptureInsideADiskImage(tmp_path):
    """log2timeline + psort over an ext4 image holding a TLS capture and its key log."""
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 not installed")
    tls = Path(__file__).resolve().parents[1] / "test_data" / "tls"
    truth = json.loads((tls / "MANIFEST.json").read_text())["captures"]["tls13-multi"]
    content = tmp_path / "content" / "home" / "alice"
    content.mkdir(parents=True)
    shutil.copy(tls / "tls13-multi.pcap", content / "mail.pcap")
    shutil.copy(tls / "all.keylog", content / "sslkeys.log")
    image = tmp_path / "evidence" / "disk.raw"
    image.parent.mkdir()
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-d", str(tmp_path / "content"), str(image), "8M"],
        check=True,
        capture_output=True,
    )
    storage_path = tmp_path / "tls.plaso"
    _Log2Timeline(image, storage_path, ["--parsers", "pcap"])
    events = _JsonLineEvents(storage_path)
    sessions = [e for e in events if e["data_type"] == "smtp:session"]
    assert {e["tls_decrypted"] for e in sessions} == {True}
    # plaso hashed the capture before parsing it; the parser took that SHA-256
    # for its identifiers rather than reading the capture a second time.
    sha256 = hashlib.sha256((tls / "tls13-multi.pcap").read_bytes()).hexdigest()
    assert {e["sha256_hash"] for e in sessions} == {sha256}
    assert {e["session_identifier"] for e in sessions} == {
        f"{api.capture_prefix(sha256)}s{number}"
        for number in range(1, len(truth["sessions"]) + 1)
    }
    assert {e["tls_cipher"] for e in sessions} == {"TLS_AES_128_GCM_SHA256"}
    sent = [
        e["message_sha256_hash"]
        for e in events
        if e["data_type"] == "smtp:email" and e["timestamp_desc"] == "Sent Time"
    ]
    session = truth["sessions"][0]
    assert sent == [m["sha256"] for m in session["messages"]]
    (auth,) = [e for e in events if e["data_type"] == "smtp:authentication"]
    assert (auth["username"], auth["password"], auth["success"]) == (
        "bob",
        "b0b-S3cret!",
        True,
    )
