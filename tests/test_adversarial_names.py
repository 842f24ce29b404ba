"""Hostile attachment names (issue 14) through the whole path: MIME, the output folder,
the report. Nothing may land outside the output folder, no name written may carry a
separator or a hidden character, no file may replace another, and every attachment
must be written with its exact bytes and listed under the name it was sent with.
"""

from __future__ import annotations

import hashlib
import html.parser
import io
import json
import pathlib
import sys
import unicodedata
import urllib.parse

import pytest

import pcapgen
import report_fixtures
from smtpcore import cli, mime
from smtpcore.safenames import _numbered, safe_filename

sys.path.insert(
    0, str(pathlib.Path(__file__).resolve().parents[1] / "test_data" / "adversarial")
)
import make_mime_cases as cases  # noqa: E402

RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{device}{digit}" for device in ("COM", "LPT") for digit in "123456789"
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def harmless(name: str) -> bool:
    """One path component any file system takes, that shows what it is."""
    return (
        name not in ("", ".", "..")
        and not any(char in name for char in '/\\<>:"|?*')
        and not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name)
        and name == name.rstrip(" .")
        and name.split(".", 1)[0].rstrip(" ").upper() not in RESERVED
        and len(name.encode("utf-8")) <= 255
    )


@pytest.mark.parametrize("key", sorted(cases.HOSTILE_NAMES))
def test_safe_filename_of_each_hostile_name(key):
    safe = safe_filename(cases.HOSTILE_NAMES[key], default="attachment")
    assert safe == cases.SAFE_NAMES[key]
    assert harmless(safe)


def _capture(path: pathlib.Path, messages: list[bytes]) -> None:
    frames = []
    for number, message in enumerate(messages):
        frames += pcapgen.tcp_conversation(
            client=("192.0.2.70", 41000 + number),
            server=("198.51.100.25", 25),
            exchanges=report_fixtures._session(
                message, b"250 2.0.0 Ok: queued as Q%d\r\n" % number, "a@evil.example"
            ),
            start_ns=1_700_000_000_000_000_000 + number * 10**9,
        )
    pcapgen.write_pcap(path, frames)


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The hostile-names and duplicate-names messages extracted by the command."""
    folder = tmp_path_factory.mktemp("names")
    capture = folder / "hostile-names.pcap"
    _capture(capture, [cases.hostile_names(), cases.duplicate_names()])
    before = capture.read_bytes()
    out = folder / "out"
    assert cli.main(["extract", "-q", str(capture), "-o", str(out)]) == 0
    assert capture.read_bytes() == before  # evidence untouched
    messages = [
        json.loads(line)
        for line in (out / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return out, messages


def test_every_file_written_is_inside_the_output_folder(extracted):
    out, _ = extracted
    root = out.resolve()
    entries = list(out.rglob("*"))
    assert len([p for p in entries if p.is_file()]) > 64
    for path in entries:
        assert not path.is_symlink()
        assert path.resolve().is_relative_to(root)
        assert harmless(path.name), repr(path.name)
    # Nothing was created beside the output folder.
    assert sorted(p.name for p in out.parent.iterdir()) == ["hostile-names.pcap", "out"]


def test_every_hostile_attachment_written_with_its_bytes_and_sent_name(extracted):
    out, messages = extracted
    hostile = messages[0]
    expected = cases.hostile_cases()
    assert [(a["filename"], a["sha256"]) for a in hostile["attachments"]] == [
        (name, sha256(cases.payload(case))) for case, name, _ in expected
    ]
    paths = [a["path"] for a in hostile["attachments"]]
    assert len(set(paths)) == len(paths)  # 59 files, none replaced another
    folder = f"attachments/{hostile['id']}/"
    taken: set[str] = set()
    for attachment, (case, name, _) in zip(hostile["attachments"], expected):
        path = attachment["path"]
        assert path.startswith(folder) and "/" not in path[len(folder) :]
        written = (out / path).read_bytes()
        assert sha256(written) == sha256(cases.payload(case))
        # The name on disk is the safe form of the sent name, numbered when taken
        # (drive_relative and device_path both come out as evil.exe).
        safe = cases.SAFE_NAMES[case.rsplit("-", 1)[0]]
        wanted = next(
            candidate
            for candidate in [safe] + [_numbered(safe, n) for n in range(2, 100)]
            if candidate not in taken
        )
        taken.add(wanted)
        assert path == folder + wanted, case
    sums = (out / "attachments.sha256").read_text(encoding="utf-8").splitlines()
    assert len(sums) == 64
    for line in sums:
        digest, path = line.split("  ", 1)
        assert sha256((out / path).read_bytes()) == digest


def test_duplicate_names_are_numbered_never_overwritten(extracted):
    out, messages = extracted
    duplicates = messages[1]
    seeds = ["dup-same", "dup-same", "dup-2", "dup-3", "dup-4"]
    folder = f"attachments/{duplicates['id']}/"
    assert [
        (a["filename"], a["path"], a["sha256"]) for a in duplicates["attachments"]
    ] == [
        ("report.pdf", folder + "report.pdf", sha256(cases.payload(seeds[0]))),
        ("report.pdf", folder + "report (2).pdf", sha256(cases.payload(seeds[1]))),
        ("report.pdf", folder + "report (3).pdf", sha256(cases.payload(seeds[2]))),
        ("report.pdf", folder + "report (4).pdf", sha256(cases.payload(seeds[3]))),
        ("report.pdf", folder + "report (5).pdf", sha256(cases.payload(seeds[4]))),
    ]
    for attachment in duplicates["attachments"]:
        assert sha256((out / attachment["path"]).read_bytes()) == attachment["sha256"]


def test_report_escapes_names_and_links_stay_inside(extracted):
    out, messages = extracted
    root = out.resolve()
    pages = [out / "report.html", *sorted((out / "report").glob("*.html"))]
    assert len(pages) == 3
    linked = set()
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<script>alert(1)" not in text
        assert "\u202e" not in text and "\x00" not in text and "\x1b" not in text
        parser = _Links()
        parser.feed(text)
        for link in parser.links:
            if link.startswith(("#", "data:")):
                continue
            parsed = urllib.parse.urlsplit(link)
            assert not parsed.scheme and not parsed.netloc, link
            target = (page.parent / urllib.parse.unquote(parsed.path)).resolve()
            assert target.is_relative_to(root), link
            assert target.exists(), link
            linked.add(target)
    hostile_page = (out / "report" / f"{messages[0]['id']}.html").read_text("utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_page
    assert "⟨U+202E⟩" in hostile_page
    # Every attachment written is linked from its message page.
    for message in messages:
        for attachment in message["attachments"]:
            assert (out / attachment["path"]).resolve() in linked


def test_names_in_rfc2231_and_rfc2047_decode_like_the_plain_ones():
    info = mime.analyse(io.BytesIO(cases.hostile_names()))
    by_case = {
        case: attachment.filename
        for (case, _, _), attachment in zip(cases.hostile_cases(), info.attachments)
    }
    for key, name in cases.HOSTILE_NAMES.items():
        for encoding in cases.ENCODINGS:
            if f"{key}-{encoding}" in by_case:
                assert by_case[f"{key}-{encoding}"] == name, (key, encoding)


def _extract(folder: pathlib.Path, messages: list[bytes]) -> list[dict]:
    capture = folder / "structure.pcap"
    _capture(capture, messages)
    out = folder / "out"
    assert cli.main(["extract", "-q", str(capture), "-o", str(out)]) == 0
    records = [
        json.loads(line)
        for line in (out / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    for record in records:
        for attachment in record["attachments"]:
            assert (out / attachment["path"]).resolve().is_relative_to(out.resolve())
            assert (
                sha256((out / attachment["path"]).read_bytes()) == attachment["sha256"]
            )
        eml = (out / record["eml"]).read_bytes()
        assert sha256(eml) == record["sha256"]  # every byte kept, limits or not
    return records


def test_damaged_structure_through_the_command(tmp_path):
    message, dirty, _ = cases.base64_garbage()
    unclosed, garbage, deep = _extract(
        tmp_path, [cases.unclosed(), message, cases.nested(10_000)]
    )
    assert [(a["filename"], a["sha256"]) for a in unclosed["attachments"]] == [
        ("last.bin", sha256(cases.UNCLOSED_ATTACHMENT))
    ]
    assert "message: CloseBoundaryNotFoundDefect" in unclosed["warnings"]
    assert [(a["filename"], a["size"]) for a in garbage["attachments"]] == [
        ("dirty.bin", 3000),
        ("junk.bin", 0),
    ]
    assert garbage["attachments"][0]["sha256"] == sha256(dirty)
    assert "part 1: base64: 1000 characters outside the alphabet ignored" in (
        garbage["warnings"]
    )
    assert deep["size"] == len(cases.nested(10_000))
    assert any("nested deeper than 20 levels" in w for w in deep["warnings"])


@pytest.mark.slow
def test_huge_structure_through_the_command(tmp_path):
    parts, header = _extract(
        tmp_path, [cases.many_parts(100_000), cases.long_header(10 * 2**20)]
    )
    assert [a["filename"] for a in parts["attachments"]] == [
        f"f{n}.bin" for n in range(999)
    ]
    assert "part 1000: part limit (1000) reached; not decoded" in parts["warnings"]
    assert header["subject"] == "after the long line"
    assert any("the first 'X-Long'" in w for w in header["warnings"])
