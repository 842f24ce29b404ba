"""Hostile and damaged captures (issue 14, the capture and protocol half).

Every case comes from test_data/adversarial/make_adversarial.py: a committed lab
capture cut or patched, or a generated session. Each test asserts the warnings word
for word and exactly what is still extracted: message bytes (against the lab's own
record of what the client sent), credentials, sessions and their ``complete``
flags. The largest cases are marked ``slow`` (``make test-slow``); the complexity
tests double a pathological input and assert the work does not quadruple.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import pathlib
import re
import subprocess
import sys
import time
import zlib

import pytest

from smtpcore import api
from smtpcore.model import Credential, Message, Session
from smtpcore.reassembly import CLIENT, MAX_PIECES, Data, Gap, Reassembler
from smtpcore.tls.keylog import MAX_SESSIONS, KeyLog

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "make_adversarial", ROOT / "test_data" / "adversarial" / "make_adversarial.py"
)
adv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(adv)

MANIFEST = json.loads((ROOT / "test_data" / "captures" / "MANIFEST.json").read_text())


def _lab(name: str) -> dict:
    return next(c for c in MANIFEST["captures"] if c["file"] == name)["sessions"][0]


ALICE = ("PLAIN", "alice", "Wonder-Land-42", True)
BOB = ("PLAIN", "bob", "b0b-S3cret!", True)


class Result:
    """What smtpcore extracts from one capture, with its warnings normalised
    (the capture's identifier prefix is ``C-``, its path ``PATH``)."""

    def __init__(self, path: pathlib.Path, mime: bool = False, keep: bool = True):
        self.warnings: list[str] = []
        self.messages: list[Message] = []
        self.contents: list[bytes] = []
        self.credentials: list[Credential] = []
        self.sessions: list[Session] = []
        raw: list[str] = []
        for item in api.items(path, warn=raw.append, mime=mime):
            if isinstance(item, Message):
                self.messages.append(item)
                if keep and item.content is not None:
                    self.contents.append(item.content.open().read())
            elif isinstance(item, Credential):
                self.credentials.append(item)
            else:
                self.sessions.append(item)
        self.warnings = [
            re.sub(r"\bc[0-9a-f]{12}-", "C-", w.replace(str(path), "PATH")) for w in raw
        ]

    @property
    def logins(self) -> list[tuple]:
        return [
            (c.mechanism, c.username, c.password, c.success) for c in self.credentials
        ]

    @property
    def session_states(self) -> list[tuple]:
        return [
            (s.complete, s.close_reason, s.messages, s.auth_attempts)
            for s in self.sessions
        ]


def case(tmp_path: pathlib.Path, name: str) -> Result:
    path = tmp_path / name
    path.write_bytes(adv.SMALL[name]())
    return Result(path)


@pytest.fixture(scope="module")
def original() -> bytes:
    """The message of postfix-auth-plain.pcap, checked against the lab's record."""
    path = adv.LAB / adv.PLAIN
    result = Result(path)
    (content,) = result.contents
    assert (
        hashlib.sha256(content).hexdigest() == _lab(adv.PLAIN)["messages"][0]["sha256"]
    )
    return content


@pytest.fixture(scope="module")
def original_ng() -> bytes:
    result = Result(adv.LAB / adv.NG)
    (content,) = result.contents
    assert hashlib.sha256(content).hexdigest() == _lab(adv.NG)["messages"][0]["sha256"]
    return content


def _auth_line() -> bytes:
    _, records = adv.read_pcap(adv.PLAIN)
    return adv.tcp_payload(records[adv.frame_with(adv.PLAIN, b"AUTH PLAIN A")][4])


# -- truncated and zero-length files ---------------------------------------------


def test_zero_length_file_is_skipped_as_no_capture(tmp_path):
    result = case(tmp_path, "zero-length.pcap")
    assert result.warnings == [
        "PATH: neither a packet capture (pcap, pcapng, gzip), an archive (tar, "
        "tar.gz, zip) nor a disk image or file system that dfvfs recognises; skipped"
    ]
    assert not (result.messages or result.credentials or result.sessions)


def _cli(tmp_path, *inputs) -> tuple[int, dict, str]:
    out = tmp_path / "out"
    process = subprocess.run(
        [sys.executable, "-m", "smtpcore.cli", "extract", "-q", "--jobs", "1"]
        + [str(i) for i in inputs]
        + ["-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in process.stderr
    manifest = out / "manifest.json"
    data = json.loads(manifest.read_text()) if manifest.exists() else {}
    return process.returncode, data, process.stderr


def test_zero_length_file_alone_exits_2(tmp_path):
    path = tmp_path / "zero-length.pcap"
    path.write_bytes(b"")
    code, _, stderr = _cli(tmp_path, path)
    assert code == 2
    assert "skipped 1 file that is neither a capture nor a disk image" in stderr


def test_pcap_cut_inside_its_file_header_is_a_damaged_capture(tmp_path):
    result = case(tmp_path, "pcap-mid-file-header.pcap")
    assert result.warnings == [
        "PATH: not read: pcap file header is truncated (10 of 24 bytes)"
    ]
    assert not (result.messages or result.credentials or result.sessions)
    code, manifest, _ = _cli(tmp_path, tmp_path / "pcap-mid-file-header.pcap")
    assert code == 1  # damage, not "no capture found"
    assert manifest["skipped"] == []
    (entry,) = manifest["inputs"]
    assert entry["status"] == "damaged" and entry["warnings"] == 1


def test_pcap_header_only_is_an_empty_capture(tmp_path):
    result = case(tmp_path, "pcap-header-only.pcap")
    assert result.warnings == []
    assert not (result.messages or result.credentials or result.sessions)


def test_pcap_cut_inside_the_first_record_header(tmp_path):
    result = case(tmp_path, "pcap-mid-record-header.pcap")
    assert result.warnings == [
        "frame 1, offset 0x18: capture ends inside a record header (6 bytes)"
    ]
    assert not (result.messages or result.credentials or result.sessions)


def test_pcap_cut_inside_the_content_record_keeps_its_bytes(tmp_path, original):
    result = case(tmp_path, "pcap-mid-data-record.pcap")
    assert result.warnings == [
        "frame 17, offset 0x721: last record truncated (166 of 356 bytes present); "
        "the 166 bytes are kept as a frame cut short",
        "1 frames were cut short by the snapshot length; their TCP payload is "
        "incomplete",
        "message C-s1-1: incomplete; 190 bytes missing (offset+length 100+190); "
        "transaction 1: 190 bytes of message content lost at content offset 100",
        "session C-s1: incomplete (the capture ends first); session C-s1 (client): "
        "transaction 1: 190 bytes of message content lost at content offset 100",
    ]
    # 166 bytes of the record: 66 of headers, then the first 100 of the message.
    assert result.contents == [original[:100]]
    (message,) = result.messages
    assert not message.complete and message.missing_ranges == [(100, 190)]
    assert message.missing_end and not message.missing_start
    assert result.logins == [ALICE]
    assert result.session_states == [(False, "end", 1, 1)]


def test_pcapng_cut_inside_the_content_block_keeps_its_bytes(tmp_path, original_ng):
    result = case(tmp_path, "pcapng-mid-block.pcapng")
    assert result.warnings == [
        "frame 17, offset 0x91c: capture ends inside its packet block (166 of 391 "
        "packet bytes present); the 166 bytes are kept as a frame cut short",
        "1 frames were cut short by the snapshot length; their TCP payload is "
        "incomplete",
        "message C-s1-1: incomplete; 225 bytes missing (offset+length 100+225); "
        "transaction 1: 225 bytes of message content lost at content offset 100",
        "session C-s1: incomplete (the capture ends first); session C-s1 (client): "
        "transaction 1: 225 bytes of message content lost at content offset 100",
    ]
    assert result.contents == [original_ng[:100]]
    assert result.messages[0].missing_ranges == [(100, 225)]
    assert result.logins == [BOB]
    assert result.session_states == [(False, "end", 1, 1)]


def test_gzip_capture_cut_short_keeps_what_decompresses(tmp_path):
    data = adv.gzip_cut_short()
    inflated = zlib.decompressobj(31).decompress(data)  # all the cut stream holds
    _, records = adv.read_pcap(adv.PLAIN)
    content = adv.frame_with(adv.PLAIN, b"Subject:")
    start = 24 + sum(16 + r[2] for r in records[:content])
    assert start < len(inflated) < start + 16  # it ends in the content's record header
    result = case(tmp_path, "gzip-cut-short.pcap.gz")
    assert result.warnings == [
        f"compressed offset 0x{len(data):x}: compressed stream ends early; frames "
        "read so far are kept",
        f"frame {content + 1}, offset 0x{start:x} (uncompressed): capture ends inside "
        f"a record header ({len(inflated) - start} bytes)",
        "message C-s1-1: incomplete; transaction 1: connection closed before the "
        "end-of-data marker; message incomplete",
        "session C-s1: incomplete (the capture ends first); session C-s1 (client): "
        "transaction 1: connection closed before the end-of-data marker; message "
        "incomplete",
    ]
    assert result.contents == [b""] and result.messages[0].missing_end
    assert result.logins == [ALICE]
    assert result.session_states == [(False, "end", 1, 1)]


def test_pcapng_cut_inside_the_section_header(tmp_path):
    result = case(tmp_path, "pcapng-mid-section-header.pcapng")
    assert result.warnings == [
        "frame 1, offset 0x0: block of type 0xa0d0d0a and length 164 runs past the "
        "end of the data (20 bytes left); no further records, 20 bytes skipped to "
        "the end of the data"
    ]
    assert not (result.messages or result.credentials or result.sessions)


# -- record and block lengths that lie -----------------------------------------


def test_caplen_beyond_the_snapshot_length_is_read_whole(tmp_path, original):
    result = case(tmp_path, "pcap-caplen-beyond-snaplen.pcap")
    assert result.warnings == []
    assert result.contents == [original] and result.messages[0].complete
    assert result.logins == [ALICE]
    assert result.session_states == [(True, "fin", 1, 1)]


def test_caplen_beyond_256k_skips_that_record_only(tmp_path, original):
    result = case(tmp_path, "pcap-caplen-beyond-256k.pcap")
    auth = _auth_line()
    assert len(auth) == 41
    assert result.warnings == [
        "frame 9, offset 0x3c2: implausible record length 300000; skipped 123 "
        "damaged bytes, resuming at offset 0x43d",
        "session C-s1: incomplete (closed by FIN); session C-s1 (client): 41 bytes "
        "of the client command stream lost; resynchronising at the next line",
    ]
    # The skipped 123 bytes are the AUTH record (16 + 107): its line is the gap.
    assert 16 + 14 + 20 + 32 + len(auth) == 123
    assert result.contents == [original] and result.messages[0].complete
    assert result.credentials == []
    assert result.session_states == [(False, "fin", 1, 0)]


def test_a_genuine_300000_byte_record_is_skipped_whole(tmp_path, original):
    """Beyond Wireshark's largest snapshot length: the record is stepped over, and
    exactly it (its 16-byte header and 300,000 bytes); nothing else is lost."""
    result = case(tmp_path, "pcap-jumbo-record.pcap")
    assert result.warnings == [
        "frame 9, offset 0x3c2: implausible record length 300000; skipped 300016 "
        "damaged bytes, resuming at offset 0x497b2"
    ]
    assert 0x497B2 - 0x3C2 == 16 + 300_000
    assert result.contents == [original] and result.logins == [ALICE]
    assert result.session_states == [(True, "fin", 1, 1)]


@pytest.mark.parametrize(
    "name, reason",
    [
        (
            "pcapng-length-too-short.pcapng",
            "block of type 0x6 has implausible length 8",
        ),
        (
            "pcapng-length-too-long.pcapng",
            "block of type 0x6: trailing length does not match 200",
        ),
        (
            "pcapng-length-not-multiple-of-4.pcapng",
            "block of type 0x6 has implausible length 137",
        ),
    ],
)
def test_pcapng_block_length_that_lies_skips_that_block(
    tmp_path, original_ng, name, reason
):
    result = case(tmp_path, name)
    assert result.warnings == [
        f"frame 9, offset 0x534: {reason}; skipped 136 damaged bytes, resuming at "
        "offset 0x5bc",
        "session C-s1: incomplete (closed by FIN); session C-s1 (client): 37 bytes "
        "of the client command stream lost; resynchronising at the next line",
    ]
    assert result.contents == [original_ng] and result.messages[0].complete
    assert result.credentials == []  # the lost block held the AUTH line
    assert result.session_states == [(False, "fin", 1, 0)]


def test_pcapng_last_block_length_past_eof(tmp_path, original_ng):
    result = case(tmp_path, "pcapng-length-past-eof.pcapng")
    assert result.warnings == [
        "frame 24, offset 0xd54: block of type 0x5 and length 1048576 runs past the "
        "end of the data (108 bytes left); no further records, 108 bytes skipped to "
        "the end of the data"
    ]
    assert result.contents == [original_ng]
    assert result.logins == [BOB]
    assert result.session_states == [(True, "fin", 1, 1)]


# -- absurd timestamps -----------------------------------------------------------


def test_timestamps_zero(tmp_path, original):
    result = case(tmp_path, "pcap-timestamps-zero.pcap")
    assert result.warnings == []
    assert result.contents == [original] and result.logins == [ALICE]
    assert result.session_states == [(True, "fin", 1, 1)]
    assert {result.sessions[0].start_ns, result.messages[0].time_ns} == {0}


def test_timestamps_at_2_to_the_32(tmp_path, original):
    result = case(tmp_path, "pcap-timestamps-max.pcap")
    assert result.warnings == []
    assert result.contents == [original] and result.logins == [ALICE]
    assert result.messages[0].time_ns == 0xFFFFFFFF * 10**9 + 999_999_000


def test_one_timestamp_136_years_ahead_splits_nothing(tmp_path, original):
    result = case(tmp_path, "pcap-timestamp-jump.pcap")
    assert result.warnings == []
    assert result.contents == [original] and result.logins == [ALICE]
    assert result.session_states == [(True, "fin", 1, 1)]
    assert result.credentials[0].time_ns == 0xFFFFFFFF * 10**9 + 834_145_000


def test_nanosecond_fraction_of_a_second_or_more_is_warned(tmp_path):
    result = case(tmp_path, "pcap-nanosecond-fraction-overflow.pcap")
    assert result.warnings == [
        "frame 9, offset 0x3c2: fraction of a second 4294967295 ns is a second or "
        "more; the time is taken as written, that much later"
    ]
    sha = _lab("postfix-nanosecond.pcap")["messages"][0]["sha256"]
    assert [m.sha256 for m in result.messages] == [sha]
    assert result.logins == [BOB]
    assert result.messages[0].time_ns % 10**9 == 999_999_999
    assert result.credentials[0].time_ns % 10**9 == 294_967_295  # 4.29 s later


@pytest.mark.parametrize(
    "name, stamp",
    [
        ("pcapng-timestamps-huge.pcapng", "18446744073709551615"),
        ("pcapng-timestamps-negative.pcapng", "-4611686016631422407982994567"),
    ],
)
def test_pcapng_timestamps_beyond_64_bit_nanoseconds(
    tmp_path, original_ng, name, stamp
):
    result = case(tmp_path, name)
    first = result.warnings[0]
    assert first == (
        f"frame 1, offset 0x{0xfc if 'huge' in name else 0x108:x}: timestamp {stamp} "
        "ns lies beyond what 64 bits of nanoseconds hold (years 1677 to 2262); the "
        "previous frame's time is used"
    )
    assert len(result.warnings) == 7
    assert (
        result.warnings[5]
        == "3 more damaged areas not reported one by one (23 in total)"
    )
    assert (
        result.warnings[6]
        == f"15 more warnings like this one not shown (20 in total): {first}"
    )
    assert result.contents == [original_ng] and result.logins == [BOB]
    assert result.session_states == [(True, "fin", 1, 1)]
    assert result.messages[0].time_ns == 0  # no frame before them had a time


def test_pcapng_timestamps_beyond_64_bits_through_the_command_line(tmp_path):
    path = tmp_path / "huge.pcapng"
    path.write_bytes(adv.pcapng_timestamps_huge())
    code, manifest, _ = _cli(tmp_path, path)
    assert code == 1 and manifest["inputs"][0]["warnings"] == 7
    (message,) = [
        json.loads(line)
        for line in (tmp_path / "out" / "messages.jsonl").read_text().splitlines()
    ]
    assert message["time"] == "1970-01-01T00:00:00.000000Z" and message["complete"]


# -- packet headers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, reason",
    [
        ("ipv4-ihl-below-5.pcap", "IPv4 header length 16"),
        ("tcp-offset-below-5.pcap", "TCP header length 16"),
    ],
)
def test_header_length_below_20_drops_that_packet_only(
    tmp_path, original, name, reason
):
    result = case(tmp_path, name)
    assert result.warnings == [
        f"frame 9: {reason}",
        "session C-s1: incomplete (closed by FIN); session C-s1 (client): 41 bytes "
        "of the client command stream lost; resynchronising at the next line",
    ]
    assert len(_auth_line()) == 41  # the packet was the AUTH line
    assert result.contents == [original] and result.messages[0].complete
    assert result.credentials == []
    assert result.session_states == [(False, "fin", 1, 0)]


# -- TCP: overlapping copies, injected RST -----------------------------------------


def _forged(original: bytes) -> bytes:
    _, records, index = adv.content_frame()
    payload = adv.tcp_payload(records[index][4])
    assert payload[: adv.OVERLAP_AT + adv.OVERLAP_LEN] == original[:60]
    end = adv.OVERLAP_AT + adv.OVERLAP_LEN
    return original[: adv.OVERLAP_AT] + b"X" * adv.OVERLAP_LEN + original[end:]


def test_overlapping_copy_captured_after_loses_and_is_warned(tmp_path, original):
    result = case(tmp_path, "overlap-forged-after.pcap")
    assert result.warnings == [
        "connection 1 client→server: 20 bytes at offset 170 differ from the first "
        "copy, which is kept"
    ]
    assert result.contents == [original]
    assert result.logins == [ALICE]
    assert result.session_states == [(True, "fin", 1, 1)]


def test_overlapping_copy_captured_before_wins_and_is_warned(tmp_path, original):
    result = case(tmp_path, "overlap-forged-before.pcap")
    assert result.warnings == [
        "connection 1 client→server: 20 bytes at offset 170 differ from the first "
        "copy, which is kept"
    ]
    assert result.contents == [_forged(original)]
    assert result.logins == [ALICE]


def test_rst_injected_mid_data_loses_nothing(tmp_path, original):
    result = case(tmp_path, "rst-mid-data.pcap")
    assert result.warnings == [
        "message C-s1-1: incomplete; transaction 1: connection closed before the "
        "end-of-data marker; message incomplete",
        "session C-s1: incomplete (reset); session C-s1 (client): transaction 1: "
        "connection closed before the end-of-data marker; message incomplete",
        "connection 1 client→server: data follows its RST (a reset injected, or not "
        "taken by the peer); it is read from there on as a new connection",
        "message C-s2-1: incomplete; transaction 1: capture starts inside message "
        "content; an unknown number of leading bytes and the envelope are missing",
        "session C-s2: incomplete (closed by FIN); session C-s2 (client): "
        "transaction 1: capture starts inside message content; an unknown number "
        "of leading bytes and the envelope are missing",
    ]
    # The message in two records, split where the RST was: every byte is there.
    assert result.contents == [original[:100], original[100:]]
    first, second = result.messages
    assert not first.complete and first.missing_end and not first.missing_start
    assert not second.complete and second.missing_start and not second.missing_end
    assert result.logins == [ALICE]
    assert result.session_states == [(False, "rst", 1, 1), (False, "fin", 1, 0)]


def test_data_after_a_reset_from_the_other_side_stays_ignored(tmp_path):
    """A reply crossing the RST on the wire is the usual late segment, not a
    connection going on."""
    out = io.BytesIO()
    w = adv._start(out)
    w.send(0, b"QUIT\r\n")
    w.segment(0, adv.RST | adv.ACK)
    w.send(1, b"221 2.0.0 Bye\r\n")
    path = tmp_path / "rst-then-reply.pcap"
    path.write_bytes(out.getvalue())
    result = Result(path)
    assert result.warnings == []  # no second connection from the late reply
    assert result.session_states == [(True, "rst", 0, 0)]


# -- SMTP: BDAT, pipelined AUTH, many transactions --------------------------------


def test_bdat_chunk_larger_than_the_capture(tmp_path):
    result = case(tmp_path, "bdat-beyond-capture.pcap")
    assert result.warnings == [
        "message C-s1-1: incomplete; 999996000 bytes missing (offset+length "
        "4000+999996000); transaction 1: connection closed with 999996000 bytes of "
        "a BDAT chunk not seen; message incomplete",
        "session C-s1: incomplete (closed by FIN); session C-s1 (client): "
        "transaction 1: connection closed with 999996000 bytes of a BDAT chunk not "
        "seen; message incomplete",
    ]
    assert len(adv.BDAT_CONTENT) == 4000
    assert result.contents == [adv.BDAT_CONTENT]
    (message,) = result.messages
    assert message.missing_ranges == [(4000, 999_996_000)] and message.missing_end
    assert result.session_states == [(False, "fin", 1, 0)]


def _auth_session(tmp_path, count: int, batch: int = 1000) -> Result:
    path = tmp_path / f"auth-{count}.pcap"
    with open(path, "wb") as out:
        adv.write_auth_attempts(out, count, batch)
    return Result(path, keep=False)


def _assert_failed_logins(result: Result, count: int) -> None:
    assert result.warnings == []
    assert len(result.credentials) == count
    assert [c.password for c in result.credentials] == [
        adv.auth_password(n).decode() for n in range(count)
    ]
    assert {(c.mechanism, c.username, c.success) for c in result.credentials} == {
        ("PLAIN", "mallory", False)
    }
    assert {c.reply for c in result.credentials} == {
        "535 5.7.8 Error: authentication failed"
    }
    assert result.session_states == [(True, "fin", 0, count)]


def test_auth_attempts_sent_without_waiting_each_get_their_reply(tmp_path):
    _assert_failed_logins(_auth_session(tmp_path, 3000), 3000)


def test_the_one_good_password_among_pipelined_guesses_is_the_right_one(tmp_path):
    path = tmp_path / "auth-success.pcap"
    with open(path, "wb") as out:
        adv.write_auth_attempts(out, 2500, succeed_last=True)
    result = Result(path, keep=False)
    assert result.warnings == []
    assert [(c.password, c.success) for c in result.credentials[-2:]] == [
        (adv.auth_password(2498).decode(), False),
        (adv.auth_password(2499).decode(), True),
    ]
    assert [c.success for c in result.credentials].count(True) == 1
    assert result.sessions[0].auth_user == "mallory"


@pytest.mark.slow
def test_a_million_auth_attempts(tmp_path):
    count = 1_000_000
    path = tmp_path / "auth-million.pcap"
    with open(path, "wb") as out:
        adv.write_auth_attempts(out, count)
    warnings: list[str] = []
    seen, sessions = 0, []
    for item in api.items(path, warn=warnings.append, mime=False):
        if isinstance(item, Credential):  # checked as they come, not kept
            assert item.password == adv.auth_password(seen).decode()
            assert (item.mechanism, item.username, item.success) == (
                "PLAIN",
                "mallory",
                False,
            )
            assert item.reply == "535 5.7.8 Error: authentication failed"
            seen += 1
        else:
            sessions.append(item)
    assert warnings == [] and seen == count
    assert [(s.complete, s.auth_attempts) for s in sessions] == [(True, count)]


def _transactions(tmp_path, count: int) -> Result:
    path = tmp_path / f"transactions-{count}.pcap"
    with open(path, "wb") as out:
        adv.write_transactions(out, count)
    return Result(path, keep=False)


def _assert_transactions(result: Result, count: int) -> None:
    assert result.warnings == []
    assert [m.sha256 for m in result.messages] == [
        hashlib.sha256(adv.transaction_message(n)).hexdigest() for n in range(count)
    ]
    assert all(m.complete and m.accepted for m in result.messages)
    assert [m.queue_id for m in result.messages[-2:]] == [
        f"Q{count - 2}",
        f"Q{count - 1}",
    ]
    assert result.session_states == [(True, "fin", count, 0)]


def test_thousands_of_transactions_in_one_session(tmp_path):
    _assert_transactions(_transactions(tmp_path, 5000), 5000)


@pytest.mark.slow
def test_100000_transactions_in_one_session(tmp_path):
    _assert_transactions(_transactions(tmp_path, 100_000), 100_000)


# -- a 1 GB DATA stream --------------------------------------------------------------

# The command line in a child that prints its peak resident memory (KiB). VmHWM, not
# ru_maxrss: Linux carries ru_maxrss across fork and exec from the parent (pytest).
_PEAK = (
    "import re, sys; from smtpcore.cli import main; code = main(sys.argv[1:]); "
    "status = open('/proc/self/status').read(); "
    "print(re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr); "
    "sys.exit(code)"
)


def _big_run(tmp_path, size: int) -> tuple[int, dict]:
    """Extracts a session carrying a ``size``-byte message; (peak KiB, record)."""
    capture = tmp_path / f"big-{size}.pcap"
    with open(capture, "wb") as out:
        adv.write_big_data(out, size)
    out = tmp_path / f"out-{size}"
    process = subprocess.run(
        [sys.executable, "-c", _PEAK, "extract", "-q", "--jobs", "1"]
        + [str(capture), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    capture.unlink()
    assert process.returncode == 0, process.stderr
    peak = int(process.stderr.strip().splitlines()[-1])
    (record,) = [
        json.loads(l) for l in (out / "messages.jsonl").read_text().splitlines()
    ]
    eml = out / record["eml"]
    digest = hashlib.sha256()
    with open(eml, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    record["eml_sha256"] = digest.hexdigest()
    eml.unlink()
    return peak, record


def _expected_sha256(size: int) -> str:
    digest = hashlib.sha256()
    for piece in adv.big_message(size):
        digest.update(piece)
    return digest.hexdigest()


@pytest.mark.slow
def test_1_gb_data_stream_with_flat_memory(tmp_path):
    size = 10**9
    small_peak, small = _big_run(tmp_path, 200 * 10**6)
    peak, record = _big_run(tmp_path, size)
    assert record["size"] == size and record["complete"]
    assert record["sha256"] == record["eml_sha256"] == _expected_sha256(size)
    assert small["sha256"] == _expected_sha256(200 * 10**6)
    # Five times the bytes, the same memory (both past the MIME decoding limit):
    # the message streams to its spool and .eml, never into memory.
    assert peak < small_peak + 32 * 1024, (small_peak, peak)
    assert peak < 300 * 1024


# -- TLS key logs ----------------------------------------------------------------------


def test_key_log_line_without_end_is_skipped_not_held(tmp_path):
    path = tmp_path / "long.keylog"
    with open(path, "wb") as out:
        adv.write_keylog(out, 1)
        out.write(b"A" * (8 << 20) + b"\n")
        out.write(b"CLIENT_RANDOM %064x %096x\n" % (99, 99))
    warnings: list[str] = []
    keylog = KeyLog(warnings.append)
    with open(path, "rb") as handle:
        entry = keylog.add_file(handle, "long.keylog")
    assert warnings == ["long.keylog: 1 key log lines not understood, ignored"]
    assert (entry["lines"], entry["secrets"], entry["bad"]) == (3, 2, 1)
    assert keylog.secrets(bytes.fromhex("%064x" % 99)) is not None
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_key_log_of_a_million_lines(tmp_path):
    path = tmp_path / "million.keylog"
    with open(path, "wb") as out:
        adv.write_keylog(out, 1_000_000)
    warnings: list[str] = []
    keylog = KeyLog(warnings.append)
    start = time.process_time()
    with open(path, "rb") as handle:
        entry = keylog.add_file(handle, "million.keylog")
    took = time.process_time() - start
    dropped = 1_000_000 - MAX_SESSIONS
    assert warnings == [
        f"million.keylog: {dropped} key log lines not indexed: more than "
        f"{MAX_SESSIONS} sessions held"
    ]
    assert (entry["lines"], entry["secrets"], entry["dropped"]) == (
        1_000_000,
        MAX_SESSIONS,
        dropped,
    )
    assert len(keylog) == MAX_SESSIONS
    assert keylog.secrets(bytes.fromhex("%064x" % (MAX_SESSIONS - 1))) is not None
    assert keylog.secrets(bytes.fromhex("%064x" % MAX_SESSIONS)) is None
    assert took < 60  # about 3 s here; a bound, not a benchmark


# -- complexity: twice the input, not four times the work ------------------------------


# Twice the input costs twice the work when linear, four times when quadratic; the
# margin above 2 is for caches and a busy shared machine.
LINEAR_BOUND = 3.5


def _cpu(run) -> float:
    """CPU seconds of the faster of two runs (process_time ignores other load)."""
    best = None
    for _ in range(2):
        start = time.process_time()
        run()
        took = time.process_time() - start
        best = took if best is None else min(best, took)
    return best


def _doubling_ratio(cost, size) -> float:
    """cost(2 * size) / cost(size), measured again when it is over the bound.

    On a loaded machine (the rest of the suite on the other core) one CPU second
    is not another: caches and clock drift moved a linear case to 3.5 once in a
    full run. Quadratic work stays near 4 however often it is measured, so a
    ratio over the bound counts only when the second, interleaved measurement
    (the faster of each size kept) is over it too.
    """
    once, twice = cost(size), cost(2 * size)
    if twice >= LINEAR_BOUND * once:
        once, twice = min(once, cost(size)), min(twice, cost(2 * size))
    return twice / once


def _extract_cost(tmp_path, write, size: int) -> float:
    path = tmp_path / f"cx-{write.__name__}-{size}.pcap"
    with open(path, "wb") as out:
        write(out, size)

    def run():
        for _ in api.items(path, mime=False):
            pass

    return _cpu(run)


def _tiny_segments_with_holes(out, count: int) -> None:
    adv.write_tiny_segments(out, count, holes=True)


@pytest.mark.parametrize(
    "write, size",
    [
        (adv.write_transactions, 2000),
        (adv.write_auth_attempts, 10000),
        (adv.write_overlapping, 6000),
        (adv.write_flows, 600),
    ],
    ids=["transactions", "auth-attempts", "overlapping-segments", "flows"],
)
def test_doubling_a_pathological_input_does_not_quadruple_the_work(
    tmp_path, write, size
):
    ratio = _doubling_ratio(lambda n: _extract_cost(tmp_path, write, n), size)
    assert ratio < LINEAR_BOUND


@pytest.mark.slow
@pytest.mark.parametrize(
    "write, size",
    [(adv.write_tiny_segments, 400_000), (_tiny_segments_with_holes, 400_000)],
    ids=["tiny-segments-reversed", "tiny-segments-reversed-with-holes"],
)
def test_doubling_tiny_reversed_segments_does_not_quadruple_the_work(
    tmp_path, write, size
):
    # The sorted out-of-order list made this quadratic only past some 10^5
    # segments (each insert at its front moves the rest): hence the size.
    ratio = _doubling_ratio(lambda n: _extract_cost(tmp_path, write, n), size)
    assert ratio < LINEAR_BOUND


@pytest.mark.parametrize("holes", [False, True], ids=["adjacent", "with-holes"])
def test_tiny_reversed_segments_keep_the_out_of_order_list_bounded(holes):
    """The work per segment is bounded by the pieces held: count them."""
    from test_reassembly import Tcp

    # Past MAX_PIECES pieces: all of them adjacent, or every other byte missing.
    count = (2 if holes else 1) * MAX_PIECES + 4096
    data = bytes(range(256)) * (count // 256 + 1)
    tcp = Tcp()
    segments = tcp.handshake()
    base = tcp.seq[CLIENT]
    sent = [at for at in range(count) if not (holes and at % 2)]
    warnings: list[str] = []
    reassembler = Reassembler(warnings.append)
    delivered, gaps, most = bytearray(), [], 0
    for seg in segments + [
        tcp.raw(CLIENT, base + at, data[at : at + 1]) for at in reversed(sent)
    ]:
        for event in reassembler.feed(seg):
            if isinstance(event, Data):
                delivered += event.data
        for conn in reassembler._live:
            most = max(most, *(len(half.pending) for half in conn.halves))
    for event in reassembler.finish():
        if isinstance(event, Data):
            delivered += event.data
        elif isinstance(event, Gap):
            gaps.append(event.length)
    assert most <= MAX_PIECES
    if not holes:
        assert warnings == [] and bytes(delivered) == data[:count]
    else:
        # Past the bound the first hole becomes a gap; the bytes that would have
        # filled it come later (reverse order) and are reported, not delivered.
        assert warnings[0] == (
            f"connection 1 client→server: more than {MAX_PIECES // 2} separate "
            f"pieces held out of order; gap of {count - 2 * (MAX_PIECES + 1)} bytes "
            "declared at offset 0"
        )
        assert (
            len(delivered) + sum(gaps) + reassembler.stats["late_bytes"] >= count // 2
        )


def test_doubling_a_key_log_line_without_end_does_not_quadruple_the_work(tmp_path):
    def cost(size: int) -> float:
        path = tmp_path / f"line-{size}.keylog"
        with open(path, "wb") as out:
            adv.write_keylog(out, 1)
            out.write(b"A" * size)

        def run():
            with open(path, "rb") as handle:
                KeyLog().add_file(handle, "x")

        return _cpu(run)

    assert _doubling_ratio(cost, 64 << 20) < LINEAR_BOUND


# -- the script ------------------------------------------------------------------------


def test_script_writes_every_small_case_deterministically(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    script = ROOT / "test_data" / "adversarial" / "make_adversarial.py"
    for target in (first, second):
        subprocess.run([sys.executable, str(script), str(target)], check=True)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(adv.SMALL)
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert sum((first / n).stat().st_size for n in names) < 400_000
