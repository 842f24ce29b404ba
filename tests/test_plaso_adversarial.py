"""The adversarial corpus inside a disk image through the stock log2timeline (issue 14).

Every small capture-level case of test_data/adversarial/make_adversarial.py, hostile
MIME and attachment names of make_mime_cases.py wrapped in one capture, and one good
lab capture go into an ext4 image made at test time (``mke2fs -d``, no mounting).
The venv's log2timeline (``--parsers filestat,pcap``) runs over it as an examiner
runs it; pinfo, psort and plaso's storage reader then show what was stored. Asserted:
the run ends cleanly with its workers alive and every file processed; each damaged
capture's warnings are in the storage file under that capture's path specification,
word for word as smtpcore words them for the same bytes; and the events of the good
parts are there with their exact message hashes, session counts and credentials.
"""

import collections
import gzip
import hashlib
import html
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from smtpcore import api
from smtpcore import model
from smtpcore import pipeline

import pcapgen
import report_fixtures

pytestmark = pytest.mark.e2e

BIN_DIRECTORY = Path(sys.executable).parent
REPOSITORY_PATH = Path(__file__).resolve().parents[1]
ADVERSARIAL_PATH = REPOSITORY_PATH / "test_data" / "adversarial"


def _Load(name):
    spec = importlib.util.spec_from_file_location(name, ADVERSARIAL_PATH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


adv = _Load("make_adversarial")
mime_cases = _Load("make_mime_cases")

MANIFEST = json.loads(
    (REPOSITORY_PATH / "test_data/captures/MANIFEST.json").read_text(encoding="utf-8")
)
GOOD = "postfix-auth-login.pcap"
MIME_CAPTURE = "mime-hostile.pcap"
FOLDER = "/evidence/captures"

ALICE = ("PLAIN", "alice", "Wonder-Land-42", True)
BOB = ("PLAIN", "bob", "b0b-S3cret!", True)
BILLING = ("PLAIN", "billing", "hunter2", True)

# Lines of the log2timeline log that mean a worker was lost or replaced.
WORKER_TROUBLE = (
    "killed because",
    "is not functioning correctly",
    "Killing process",
    "replacement worker",
    "Unable to retrieve process",
    "Traceback",
)


def _LabSession(name):
    capture = next(c for c in MANIFEST["captures"] if c["file"] == name)
    (session,) = capture["sessions"]
    return session


def _MimeMessages():
    """The messages of the MIME capture: structure and names crafted to hurt."""
    return [
        mime_cases.nested(10_000),
        mime_cases.many_parts(1_500),
        mime_cases.long_header(2**20 + 4096),
        mime_cases.unclosed(),
        mime_cases.base64_garbage()[0],
        mime_cases.hostile_names(),
    ]


def _MimeCapture():
    """The MIME messages, one SMTP session each, as the names test sends them."""
    frames = []
    for number, message in enumerate(_MimeMessages()):
        frames += pcapgen.tcp_conversation(
            client=("192.0.2.70", 41000 + number),
            server=("198.51.100.25", 25),
            exchanges=report_fixtures._session(
                message, b"250 2.0.0 Ok: queued as Q%d\r\n" % number, "a@evil.example"
            ),
            start_ns=1_700_000_000_000_000_000 + number * 10**9,
        )
    out = io.BytesIO()
    pcapgen.write_pcap(out, frames)
    return out.getvalue()


def _Captures():
    """Name to bytes of every capture put into the image."""
    captures = {name: build() for name, build in adv.SMALL.items()}
    captures[MIME_CAPTURE] = _MimeCapture()
    captures[GOOD] = (REPOSITORY_PATH / "test_data/captures" / GOOD).read_bytes()
    return captures


def _Stream(name, data):
    """The bytes the parser reads: dfvfs decompresses a gzip file for it."""
    if name.endswith(".gz"):
        return zlib.decompressobj(31).decompress(data)
    return data


def _Sha256(data):
    return hashlib.sha256(data).hexdigest()


class Smtpcore:
    """What smtpcore itself finds in a capture's bytes, called as the plugin calls it."""

    def __init__(self, data):
        self.prefix = api.capture_prefix(_Sha256(data))
        self.warnings = []
        self.items = []
        self.contents = []
        for item in pipeline.extract(
            io.BytesIO(data),
            source="x",
            warn=self.warnings.append,
            mime=True,
            session_prefix=self.prefix,
        ):
            self.items.append(item)
            if isinstance(item, model.Message) and item.content is not None:
                self.contents.append(item.content.open().read())
            if isinstance(item, model.Message) and item.mime is not None:
                self.warnings += [
                    f"message {item.id}: {w.removeprefix('message: ')}"
                    for w in item.mime.warnings
                ]


def _RunTool(tool, arguments, cwd):
    environment = dict(os.environ)
    environment.pop("PLASO_SMTP_DISABLE", None)
    result = subprocess.run(
        [os.fspath(BIN_DIRECTORY / tool)] + arguments,
        capture_output=True,
        cwd=cwd,
        env=environment,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (tool, result.stdout[-3000:], result.stderr[-3000:])
    return result


def _MakeImage(tmp_path, captures):
    """An ext4 image holding the captures under FOLDER, made without mounting.

    Args:
      tmp_path (Path): folder for the tree and the image.
      captures (dict[str, bytes|function]): name to bytes, or to a function that
          writes the capture into a binary file.

    Returns:
      tuple[Path, dict[str, str]]: the image, and the SHA-256 of each capture.
    """
    mke2fs = shutil.which("mke2fs") or shutil.which("mke2fs", path="/usr/sbin:/sbin")
    if mke2fs is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mke2fs (e2fsprogs) is missing; .ci/run installs it")
        pytest.skip("mke2fs (e2fsprogs) not installed")
    tree = tmp_path / "tree"
    folder = tree / FOLDER.lstrip("/")
    folder.mkdir(parents=True)
    for name, data in captures.items():
        with open(folder / name, "wb") as out:
            if callable(data):
                data(out)
            else:
                out.write(data)
    digests = {}
    for path in folder.iterdir():
        digest = hashlib.sha256()
        with open(path, "rb") as file_object:
            while chunk := file_object.read(1 << 20):
                digest.update(chunk)
        digests[path.name] = digest.hexdigest()
    megabytes = sum(path.stat().st_size for path in folder.iterdir()) >> 20
    megabytes += megabytes // 8 + 16  # ext4's own metadata and journal
    image = tmp_path / "evidence.raw"
    subprocess.run(
        [mke2fs, "-q", "-t", "ext4", "-F", "-L", "evidence", "-d", os.fspath(tree)]
        + [os.fspath(image), f"{megabytes}M"],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(tree)
    return image, digests


class Run:
    """One log2timeline run over the image, and what the storage file holds."""

    def __init__(self, tmp_path):
        self.captures = _Captures()
        image, _ = _MakeImage(tmp_path, self.captures)
        storage_path = tmp_path / "evidence.plaso"
        log_path = tmp_path / "log2timeline.log.gz"
        result = _RunTool(
            "log2timeline",
            ["--status_view", "none", "--unattended", "--parsers", "filestat,pcap"]
            + ["--logfile", os.fspath(log_path), "--storage_file"]
            + [os.fspath(storage_path), os.fspath(image)],
            tmp_path,
        )
        self.output = result.stdout
        with gzip.open(log_path, "rt", encoding="utf-8", errors="replace") as log:
            self.log = log.read()

        # pinfo writes "warnings_by_path_spec" keys with a raw line break in them.
        pinfo = _RunTool(
            "pinfo", ["--output_format", "json", os.fspath(storage_path)], tmp_path
        )
        self.pinfo = json.loads(pinfo.stdout, strict=False)

        events_path = tmp_path / "events.jsonl"
        _RunTool(
            "psort",
            ["--status_view", "none", "-o", "json_line", "-w", os.fspath(events_path)]
            + [os.fspath(storage_path)],
            tmp_path,
        )
        with open(events_path, encoding="utf-8") as file_object:
            self.events = [json.loads(line) for line in file_object if line.strip()]

        self.warnings = self._ReadWarnings(storage_path)
        self.storage_path = storage_path

    @staticmethod
    def _ReadWarnings(storage_path):
        """(file location, GZIP or not, parser chain, message) of each warning."""
        from plaso.storage import factory  # pylint: disable=import-outside-toplevel

        reader = factory.StorageFactory.CreateStorageReaderForFile(
            os.fspath(storage_path)
        )
        try:
            warnings = []
            for warning in reader.GetAttributeContainers("extraction_warning"):
                path_spec = warning.path_spec
                layers = [path_spec.type_indicator]
                if path_spec.type_indicator == "GZIP":
                    path_spec = path_spec.parent
                    layers.append(path_spec.type_indicator)
                warnings.append(
                    (
                        path_spec.location,
                        "/".join(layers),
                        warning.parser_chain,
                        warning.message,
                    )
                )
            return warnings
        finally:
            reader.Close()

    def Warnings(self, name):
        return [
            message
            for location, _, _, message in self.warnings
            if location == f"{FOLDER}/{name}"
        ]

    def Records(self, name, data_type, timestamp_desc):
        """Events of one capture standing for their event data, one each."""
        display_name = f"{'GZIP' if name.endswith('.gz') else 'EXT'}:{FOLDER}/{name}"
        return [
            event
            for event in self.events
            if event["display_name"] == display_name
            and event["data_type"] == data_type
            and event["timestamp_desc"] == timestamp_desc
        ]

    def Sessions(self, name):
        return self.Records(name, "smtp:session", "Start Time")

    def Emails(self, name):
        return self.Records(name, "smtp:email", "Sent Time")

    def Logins(self, name):
        return [
            (e["mechanism"], e["username"], e["password"], e["success"])
            for e in self.Records(name, "smtp:authentication", "Authentication Time")
        ]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return Run(tmp_path_factory.mktemp("plaso-adversarial"))


@pytest.fixture(scope="module")
def originals():
    """The lab messages the damaged cases derive from, checked against the lab."""
    contents = {}
    for name in (adv.PLAIN, adv.NG):
        (content,) = Smtpcore((adv.LAB / name).read_bytes()).contents
        assert _Sha256(content) == _LabSession(name)["messages"][0]["sha256"]
        contents[name] = content
    return contents


def testLog2timelineEndsCleanlyWithItsWorkersAlive(run):
    assert "Processing completed." in run.output
    assert run.pinfo["sessions"]["session"]["aborted"] is False
    assert run.pinfo["sessions"]["session"]["enabled_parser_names"] == [
        "filestat",
        "pcap/smtp",
    ]
    for trouble in WORKER_TROUBLE:
        assert trouble not in run.log, trouble
    # Every file was processed: each has its file system events.
    stat_names = {
        event["display_name"] for event in run.events if event["data_type"] == "fs:stat"
    }
    for name in run.captures:
        assert f"EXT:{FOLDER}/{name}" in stat_names, name
    # No warning says the parser or plugin gave up on a file.
    for _, _, parser_chain, message in run.warnings:
        assert parser_chain == "pcap/smtp", message
        assert "unable to parse" not in message, message


# Files the parser does not claim: empty, or a pcap file header cut short (its
# magic alone would claim too many other files). Only filestat reports them.
UNCLAIMED = ("zero-length.pcap", "pcap-mid-file-header.pcap")


def testEachCaptureHasSmtpcoresWarningsWordForWord(run):
    """The storage file holds, per capture, exactly the warnings smtpcore gives
    for the bytes the parser read, in order, with that capture's path spec."""
    for name, data in run.captures.items():
        if name in UNCLAIMED:
            assert run.Warnings(name) == [], name
            continue
        expected = Smtpcore(_Stream(name, data)).warnings
        assert run.Warnings(name) == expected, name
    located = {f"{FOLDER}/{name}" for name in run.captures}
    assert {location for location, _, _, _ in run.warnings} <= located
    gzip_layers = {
        layers for location, layers, _, _ in run.warnings if location.endswith(".gz")
    }
    assert gzip_layers == {"GZIP/EXT"}


def testPinfoCountsTheWarningsOfEachDamagedCapture(run):
    counters = run.pinfo["storage_counters"]
    assert counters["warnings_by_parser"] == {"pcap/smtp": len(run.warnings)}
    by_location = collections.Counter(location for location, *_ in run.warnings)
    by_path_spec = {}
    for path_spec, count in counters["warnings_by_path_spec"].items():
        (location,) = [
            line.split("location: ", 1)[1]
            for line in path_spec.splitlines()
            if line.startswith("type: EXT")
        ]
        assert path_spec.startswith("type: OS, location: ")
        by_path_spec[location] = count
    assert by_path_spec == dict(by_location)


def _PinfoWarnings(markdown):
    """(message, EXT location) of each warning pinfo's markdown output lists."""
    cells = re.compile(r"<tr><th[^>]*>([^<]*)</th><td>(.*)</td></tr>")
    warnings = []
    for block in markdown.split("### Extraction warning: ")[1:]:
        table = block.split("<table>", 1)[1].split("</table>", 1)[0]
        rows = [cells.match(line).groups() for line in table.strip().splitlines()]
        (message,) = [html.unescape(value) for key, value in rows if key == "Message"]
        (location,) = [
            value.split("location: ", 1)[1]
            for _, value in rows
            if value.startswith("type: EXT")
        ]
        warnings.append((message, location))
    return warnings


def testPinfoShowsEveryWarningWithItsFile(run, tmp_path):
    """pinfo lists each warning, its parser chain and its file, in text and markdown
    (the text output of plaso 20260720 needs plaso-smtp's compat bridge for that)."""
    arguments = ["--sections", "warnings", os.fspath(run.storage_path)]
    text = _RunTool("pinfo", arguments, tmp_path).stdout
    assert text.count("Extraction warning: ") == len(run.warnings)
    assert text.count("Parser chain : pcap/smtp") == len(run.warnings)
    markdown = _RunTool(
        "pinfo", ["--output_format", "markdown"] + arguments, tmp_path
    ).stdout
    assert sorted(_PinfoWarnings(markdown)) == sorted(
        (message, location) for location, _, _, message in run.warnings
    )


# Exact warnings (C- stands for the capture's identifier prefix) of cases whose
# wording says what is missing; the test above compares all of them with smtpcore.
EXACT_WARNINGS = {
    "pcap-mid-data-record.pcap": [
        "frame 17, offset 0x721: last record truncated (166 of 356 bytes present); "
        "the 166 bytes are kept as a frame cut short",
        "1 frames were cut short by the snapshot length; their TCP payload is "
        "incomplete",
        "message C-s1-1: incomplete; 190 bytes missing (offset+length 100+190); "
        "transaction 1: 190 bytes of message content lost at content offset 100",
        # The 100 bytes kept end inside the header section.
        "message C-s1-1: part 1: MissingHeaderBodySeparatorDefect",
        "session C-s1: incomplete (the capture ends first); session C-s1 (client): "
        "transaction 1: 190 bytes of message content lost at content offset 100",
    ],
    "gzip-cut-short.pcap.gz": [
        "frame 17, offset 0x721: capture ends inside a record header (4 bytes)",
        "message C-s1-1: incomplete; transaction 1: connection closed before the "
        "end-of-data marker; message incomplete",
        "session C-s1: incomplete (the capture ends first); session C-s1 (client): "
        "transaction 1: connection closed before the end-of-data marker; message "
        "incomplete",
    ],
    "pcapng-mid-section-header.pcapng": [
        "frame 1, offset 0x0: block of type 0xa0d0d0a and length 164 runs past the "
        "end of the data (20 bytes left); no further records, 20 bytes skipped to "
        "the end of the data"
    ],
    "pcap-caplen-beyond-256k.pcap": [
        "frame 9, offset 0x3c2: implausible record length 300000; skipped 123 "
        "damaged bytes, resuming at offset 0x43d",
        "session C-s1: incomplete (closed by FIN); session C-s1 (client): 41 bytes "
        "of the client command stream lost; resynchronising at the next line",
    ],
    "pcapng-length-too-long.pcapng": [
        "frame 9, offset 0x534: block of type 0x6: trailing length does not match "
        "200; skipped 136 damaged bytes, resuming at offset 0x5bc",
        "session C-s1: incomplete (closed by FIN); session C-s1 (client): 37 bytes "
        "of the client command stream lost; resynchronising at the next line",
    ],
    "tcp-offset-below-5.pcap": [
        "frame 9: TCP header length 16",
        "session C-s1: incomplete (closed by FIN); session C-s1 (client): 41 bytes "
        "of the client command stream lost; resynchronising at the next line",
    ],
    "overlap-forged-before.pcap": [
        "connection 1 client→server: 20 bytes at offset 170 differ from the first "
        "copy, which is kept",
        # The forged X's, which came first, broke a header line.
        "message C-s1-1: part 1: MissingHeaderBodySeparatorDefect",
    ],
    "bdat-beyond-capture.pcap": [
        "message C-s1-1: incomplete; 999996000 bytes missing (offset+length "
        "4000+999996000); transaction 1: connection closed with 999996000 bytes of "
        "a BDAT chunk not seen; message incomplete",
        "session C-s1: incomplete (closed by FIN); session C-s1 (client): "
        "transaction 1: connection closed with 999996000 bytes of a BDAT chunk not "
        "seen; message incomplete",
    ],
    # MIME limits and defects, one message a session, in the order of
    # _MimeMessages (the hostile names decode without a warning).
    MIME_CAPTURE: [
        "message C-s1-1: part " + "2." * 20 + "1: nested deeper than 20 levels; "
        "not decoded",
        "message C-s1-1: part " + "2." * 20 + "2: nested deeper than 20 levels; "
        "not decoded",
        "message C-s2-1: part 1000: part limit (1000) reached; not decoded",
        "message C-s3-1: offset 0x15: 1 header field(s) larger than the "
        "1048576 bytes allowed for the header section skipped (1052672 bytes), the "
        "first 'X-Long'",
        "message C-s4-1: CloseBoundaryNotFoundDefect",
        "message C-s5-1: part 1: base64: 1000 characters outside the alphabet "
        "ignored",
        "message C-s5-1: part 2: base64: 1320 characters outside the alphabet "
        "ignored",
    ],
}


@pytest.mark.parametrize("name", sorted(EXACT_WARNINGS))
def testWarningsSayWhatIsMissing(run, name):
    prefix = api.capture_prefix(_Sha256(_Stream(name, run.captures[name])))
    expected = [w.replace("C-", prefix) for w in EXACT_WARNINGS[name]]
    assert run.Warnings(name) == expected


# Captures that hold no SMTP, damaged or not: nothing stored but their file events.
EMPTY = (
    "zero-length.pcap",
    "pcap-header-only.pcap",
    "pcap-mid-file-header.pcap",
    "pcap-mid-record-header.pcap",
    "pcapng-mid-section-header.pcapng",
)


def testCapturesWithoutSmtpStoreNoSmtpEvents(run):
    for name in EMPTY:
        assert not run.Sessions(name) and not run.Emails(name), name
    # Nothing to say about an empty file or a whole empty capture; a capture cut
    # inside its first record header is said.
    assert run.Warnings("zero-length.pcap") == []
    assert run.Warnings("pcap-header-only.pcap") == []
    assert run.Warnings("pcap-mid-record-header.pcap") == [
        "frame 1, offset 0x18: capture ends inside a record header (6 bytes)"
    ]


def _Expected(originals):
    """Per damaged case: sessions, message SHA-256s in order, credentials."""
    plain, ng = originals[adv.PLAIN], originals[adv.NG]
    whole, whole_ng = _Sha256(plain), _Sha256(ng)
    end = adv.OVERLAP_AT + adv.OVERLAP_LEN
    forged = plain[: adv.OVERLAP_AT] + b"X" * adv.OVERLAP_LEN + plain[end:]
    expected = {
        "pcap-mid-data-record.pcap": (1, [_Sha256(plain[:100])], [ALICE]),
        "pcapng-mid-block.pcapng": (1, [_Sha256(ng[:100])], [BOB]),
        "gzip-cut-short.pcap.gz": (1, [_Sha256(b"")], [ALICE]),
        "pcap-caplen-beyond-snaplen.pcap": (1, [whole], [ALICE]),
        "pcap-caplen-beyond-256k.pcap": (1, [whole], []),  # the AUTH record lost
        "pcap-jumbo-record.pcap": (1, [whole], [ALICE]),
        "pcapng-length-past-eof.pcapng": (1, [whole_ng], [BOB]),
        "pcap-timestamps-zero.pcap": (1, [whole], [ALICE]),
        "pcap-timestamps-max.pcap": (1, [whole], [ALICE]),
        "pcap-timestamp-jump.pcap": (1, [whole], [ALICE]),
        "pcapng-timestamps-huge.pcapng": (1, [whole_ng], [BOB]),
        "pcapng-timestamps-negative.pcapng": (1, [whole_ng], [BOB]),
        "ipv4-ihl-below-5.pcap": (1, [whole], []),  # the AUTH packet dropped
        "tcp-offset-below-5.pcap": (1, [whole], []),
        "overlap-forged-after.pcap": (1, [whole], [ALICE]),
        "overlap-forged-before.pcap": (1, [_Sha256(forged)], [ALICE]),
        # The RST splits the message in two records; every byte is there.
        "rst-mid-data.pcap": (2, [_Sha256(plain[:100]), _Sha256(plain[100:])], [ALICE]),
        "bdat-beyond-capture.pcap": (1, [_Sha256(adv.BDAT_CONTENT)], []),
    }
    for name in (
        "pcapng-length-too-short.pcapng",
        "pcapng-length-too-long.pcapng",
        "pcapng-length-not-multiple-of-4.pcapng",
    ):
        expected[name] = (1, [whole_ng], [])  # the lost block held the AUTH line
    nano = _LabSession("postfix-nanosecond.pcap")["messages"][0]["sha256"]
    expected["pcap-nanosecond-fraction-overflow.pcap"] = (1, [nano], [BOB])
    return expected


def testEventsOfTheGoodPartsOfEachDamagedCapture(run, originals):
    expected = _Expected(originals)
    assert set(expected) | set(EMPTY) == set(adv.SMALL)
    for name, (sessions, hashes, logins) in expected.items():
        emails = sorted(run.Emails(name), key=lambda e: e["email_identifier"])
        assert len(run.Sessions(name)) == sessions, name
        assert [e["message_sha256_hash"] for e in emails] == hashes, name
        assert run.Logins(name) == logins, name


def testEventsOfTheGoodCaptureBesideTheDamagedOnes(run):
    truth = _LabSession(GOOD)
    assert run.Warnings(GOOD) == []
    (session,) = run.Sessions(GOOD)
    assert (session["source_ip"], session["source_port"]) == (
        truth["client_ip"],
        truth["client_port"],
    )
    assert session["complete"] is True
    assert [e["message_sha256_hash"] for e in run.Emails(GOOD)] == [
        m["sha256"] for m in truth["messages"]
    ]
    assert run.Logins(GOOD) == [
        (a["mechanism"], a["username"], a["password"], a["success"])
        for a in truth["auth"]
    ]


def testEventsOfTheHostileMimeMessages(run):
    messages = _MimeMessages()
    emails = sorted(run.Emails(MIME_CAPTURE), key=lambda e: e["email_identifier"])
    assert len(run.Sessions(MIME_CAPTURE)) == len(messages)
    assert [e["message_sha256_hash"] for e in emails] == [
        _Sha256(message) for message in messages
    ]
    assert run.Logins(MIME_CAPTURE) == [BILLING] * len(messages)
    hostile = emails[-1]
    assert hostile["attachment_sha256_hashes"] == [
        _Sha256(mime_cases.payload(case)) for case, _, _ in mime_cases.hostile_cases()
    ]
    garbage = emails[4]
    assert garbage["attachment_sha256_hashes"] == [
        _Sha256(mime_cases.GARBAGE_ATTACHMENT),
        _Sha256(b""),
    ]


# The largest generated sessions: a 1 GB DATA stream, 100,000 AUTH attempts and
# 20,000 mail transactions in one session each (every attempt and message is event
# data: the counts are kept where plaso's storage stays a few hundred MB).
BIG_DATA_SIZE = 10**9
AUTH_ATTEMPTS = 100_000
TRANSACTIONS = 20_000


def _ReadEventData(storage_path):
    """The smtp: event data of a storage file, grouped by capture prefix."""
    from plaso.storage import factory  # pylint: disable=import-outside-toplevel

    reader = factory.StorageFactory.CreateStorageReaderForFile(os.fspath(storage_path))
    grouped = collections.defaultdict(list)
    try:
        for event_data in reader.GetAttributeContainers("event_data"):
            if event_data.data_type.startswith("smtp:"):
                prefix = event_data.session_identifier.split("-", 1)[0] + "-"
                grouped[prefix].append(event_data)
    finally:
        reader.Close()
    return grouped


@pytest.mark.slow
def testLargestSessionsInADiskImage(tmp_path):
    """The worker survives a 1 GB message and sessions of 10^5 records; each
    record of them is stored, the message with its exact hash and size."""
    image, digests = _MakeImage(
        tmp_path,
        {
            "big-data.pcap": lambda out: adv.write_big_data(out, BIG_DATA_SIZE),
            "auth-attempts.pcap": lambda out: adv.write_auth_attempts(
                out, AUTH_ATTEMPTS
            ),
            "transactions.pcap": lambda out: adv.write_transactions(out, TRANSACTIONS),
        },
    )
    prefixes = {name: api.capture_prefix(digest) for name, digest in digests.items()}
    storage_path = tmp_path / "large.plaso"
    log_path = tmp_path / "log2timeline.log.gz"
    _RunTool(
        "log2timeline",
        ["--status_view", "none", "--unattended", "--parsers", "filestat,pcap"]
        + ["--logfile", os.fspath(log_path), "--storage_file"]
        + [os.fspath(storage_path), os.fspath(image)],
        tmp_path,
    )
    image.unlink()
    with gzip.open(log_path, "rt", encoding="utf-8", errors="replace") as log:
        text = log.read()
    for trouble in WORKER_TROUBLE:
        assert trouble not in text, trouble
    pinfo = _RunTool(
        "pinfo", ["--output_format", "json", os.fspath(storage_path)], tmp_path
    )
    counters = json.loads(pinfo.stdout, strict=False)["storage_counters"]
    # The one warning: the 1 GB message is past what MIME decoding reads.
    assert counters["warnings_by_parser"] == {"pcap/smtp": 1}
    (warning,) = [message for *_, message in Run._ReadWarnings(storage_path)]
    assert warning == (
        f"message {prefixes['big-data.pcap']}s1-1: {BIG_DATA_SIZE} bytes, more than "
        "134217728: headers decoded, body parts not (a limit of decoding, not of extraction)"
    )

    grouped = _ReadEventData(storage_path)
    by_type = {
        name: collections.Counter(e.data_type for e in grouped[prefix])
        for name, prefix in prefixes.items()
    }
    assert by_type["big-data.pcap"] == {"smtp:session": 1, "smtp:email": 1}
    (big,) = [
        e for e in grouped[prefixes["big-data.pcap"]] if e.data_type == "smtp:email"
    ]
    expected = hashlib.sha256()
    for piece in adv.big_message(BIG_DATA_SIZE):
        expected.update(piece)
    assert (big.message_sha256_hash, big.size, big.complete) == (
        expected.hexdigest(),
        BIG_DATA_SIZE,
        True,
    )

    assert by_type["auth-attempts.pcap"] == {
        "smtp:session": 1,
        "smtp:authentication": AUTH_ATTEMPTS,
    }
    attempts = [
        (e.username, e.password, e.success)
        for e in grouped[prefixes["auth-attempts.pcap"]]
        if e.data_type == "smtp:authentication"
    ]
    assert sorted(attempts) == [
        ("mallory", adv.auth_password(n).decode(), False) for n in range(AUTH_ATTEMPTS)
    ]

    assert by_type["transactions.pcap"] == {
        "smtp:session": 1,
        "smtp:email": TRANSACTIONS,
    }
    hashes = sorted(
        e.message_sha256_hash
        for e in grouped[prefixes["transactions.pcap"]]
        if e.data_type == "smtp:email"
    )
    assert hashes == sorted(
        _Sha256(adv.transaction_message(n)) for n in range(TRANSACTIONS)
    )
