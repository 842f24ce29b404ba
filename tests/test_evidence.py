"""Tests for smtpcore.evidence: captures found in files, folders and disk images."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
from pathlib import Path

import pytest

from smtpcore.evidence import EvidenceError, find_captures, is_capture_head

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "test_data" / "images"


def _pcap_bytes(payload: bytes = b"\x00" * 46) -> bytes:
    """A pcap file: global header, one Ethernet record (both little-endian)."""
    frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + payload
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    record = struct.pack("<IIII", 1_700_000_000, 5, len(frame), len(frame))
    return header + record + frame


def _pcapng_bytes() -> bytes:
    """A pcapng file: section header, one Ethernet interface, one enhanced packet."""
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack(
        "<I", 28
    )
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 65535) + struct.pack("<I", 20)
    frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + b"\x00" * 46  # 60 bytes
    epb_length = 32 + len(frame)
    epb = (
        struct.pack("<IIIIIII", 6, epb_length, 0, 0, 1, len(frame), len(frame))
        + frame
        + struct.pack("<I", epb_length)
    )
    return shb + idb + epb


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(found) -> bytes:
    with found.open() as handle:
        return handle.read()


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): _sha256(path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


# ---------------------------------------------------------------- recognition


def test_is_capture_head_names_pcap_pcapng_and_gzip_holding_a_capture():
    assert is_capture_head(_pcap_bytes()) == "pcap"
    assert is_capture_head(_pcapng_bytes()) == "pcapng"
    assert is_capture_head(gzip.compress(_pcap_bytes())) == "gzip"
    assert is_capture_head(gzip.compress(_pcapng_bytes())[:40]) == "gzip"


def test_is_capture_head_rejects_gzip_of_other_data_and_plain_text():
    assert is_capture_head(gzip.compress(b"Jan  1 00:00:00 postfix/smtpd\n")) is None
    assert is_capture_head(b"\x1f\x8b\x08garbage that does not inflate") is None
    assert is_capture_head(b"This is not a capture\n") is None
    assert is_capture_head(b"") is None


# ---------------------------------------------------------------- plain files


def test_single_capture_file_is_itself(tmp_path):
    capture = tmp_path / "trace.bin"
    capture.write_bytes(_pcap_bytes())
    warnings = []

    found = list(find_captures([str(capture)], warnings.append))

    assert [(f.source, f.kind, f.size) for f in found] == [
        (str(capture), "pcap", len(_pcap_bytes()))
    ]
    assert _read(found[0]) == _pcap_bytes()
    assert warnings == []


def test_folder_walk_finds_nested_renamed_and_gzip_captures_in_name_order(tmp_path):
    root = tmp_path / "evidence"
    (root / "a" / "b").mkdir(parents=True)
    (root / "z").mkdir()
    pcap, pcapng = _pcap_bytes(), _pcapng_bytes()
    (root / "a" / "b" / "deep.pcap").write_bytes(pcap)
    (root / "a" / "trace.pcapng").write_bytes(pcapng)
    (root / "notes.txt").write_bytes(pcap)  # renamed capture
    (root / "z" / "old.pcap.gz").write_bytes(gzip.compress(pcap, mtime=0))
    (root / "fake.pcap").write_text("named like a capture, but text\n")
    (root / "syslog.gz").write_bytes(gzip.compress(b"rotated log\n", mtime=0))
    (root / "empty.pcap").write_bytes(b"")
    outside = tmp_path / "outside.pcap"
    outside.write_bytes(pcap)
    (root / "link-out.pcap").symlink_to(outside)
    (root / "link-in.pcap").symlink_to(root / "notes.txt")
    before = _tree_hashes(tmp_path)
    warnings = []

    found = list(find_captures([str(root)], warnings.append))

    assert [(f.source, f.kind, f.size) for f in found] == [
        (str(root / "notes.txt"), "pcap", len(pcap)),
        (str(root / "a" / "trace.pcapng"), "pcapng", len(pcapng)),
        (str(root / "a" / "b" / "deep.pcap"), "pcap", len(pcap)),
        (str(root / "z" / "old.pcap.gz"), "gzip", len(gzip.compress(pcap, mtime=0))),
    ]
    assert [_read(f) for f in found[:3]] == [pcap, pcapng, pcap]
    assert gzip.decompress(_read(found[3])) == pcap
    assert warnings == [
        f"{root / 'link-out.pcap'}: symbolic link out of the folder not followed "
        f"({outside})"
    ]
    assert _tree_hashes(tmp_path) == before


def test_unreadable_subfolder_is_warned_and_skipped(tmp_path, monkeypatch):
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "x.pcap").write_bytes(_pcap_bytes())
    (tmp_path / "open.pcap").write_bytes(_pcap_bytes())
    real_scandir = os.scandir

    def scandir(path):  # permission bits do not stop root, so refuse here
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr("smtpcore.evidence.os.scandir", scandir)
    warnings = []

    found = list(find_captures([str(tmp_path)], warnings.append))

    assert [f.source for f in found] == [str(tmp_path / "open.pcap")]
    assert warnings == [
        f"{tmp_path / 'locked'}: folder unreadable, skipped (Permission denied)"
    ]


def test_non_capture_non_image_file_is_a_warning_not_an_error(tmp_path):
    """Documented choice: a readable file that is neither is skipped with a warning."""
    text = tmp_path / "readme.txt"
    text.write_text("nothing to see\n" * 100)
    capture = tmp_path / "c.pcap"
    capture.write_bytes(_pcap_bytes())
    warnings = []

    found = list(find_captures([str(text), str(capture)], warnings.append))

    assert [f.source for f in found] == [str(capture)]
    assert warnings == [
        f"{text}: neither a packet capture (pcap, pcapng, gzip) nor a disk image or "
        f"file system that dfvfs recognises; skipped"
    ]


def test_missing_input_raises_before_anything_is_yielded(tmp_path):
    capture = tmp_path / "c.pcap"
    capture.write_bytes(_pcap_bytes())
    missing = tmp_path / "nope.E01"
    with pytest.raises(EvidenceError, match="nope.E01: no such file or folder"):
        next(find_captures([str(capture), str(missing)], lambda _: None))


# ---------------------------------------------------------------- disk images

# What each committed image must yield, in walk order: (volume label, path, how).
# Which capture sits where is in MANIFEST.json (written by make_images.sh).
EXPECTED = {
    "ext4.raw": [
        ("", "/home/admin/notes.txt", "renamed"),
        ("", "/home/admin/old/trace.pcapng", "copy"),
        ("", "/var/log/capture/smtp.pcap", "copy"),
        ("", "/var/log/capture/archive/smtp-2023.pcap.gz", "gzip"),
        ("", "/tmp/upload.pcap", "deleted"),
    ],
    "fat-mbr.E01": [
        ("/p1", "/Mail/report.doc", "renamed"),
        ("/p1", "/Mail/Archive/session-2023-11-14 long name.pcap", "copy"),
        ("/p1", "/Mail/deleted.pcap", "deleted"),
        ("/p2", "/dump/smtp-p2.pcap", "copy"),
    ],
    "gpt-fat.qcow2": [
        ("/p1", "/export/capture", "renamed"),
    ],
    "ntfs.vmdk": [
        ("", "/Users/admin/Documents/readme.txt:hidden", "stream"),
        ("", "/Users/admin/Documents/evidence/mail.pcapng", "copy"),
        ("", "/Users/admin/Downloads/invoice.pdf", "renamed"),
        ("", "/Users/admin/Documents/deleted.pcap", "deleted"),
    ],
}


def _manifest() -> dict:
    path = IMAGES / "MANIFEST.json"
    if not path.exists():
        pytest.skip("test_data/images/MANIFEST.json not built yet (make_images.sh)")
    return json.loads(path.read_text(encoding="utf-8"))


def _image(name: str) -> Path:
    path = IMAGES / name
    if not path.exists():
        pytest.skip(f"test_data/images/{name} not built yet (run make_images.sh)")
    return path


def _originals(manifest: dict, name: str) -> dict[tuple[str, str], bytes]:
    """Maps (volume label, path) to the bytes of the capture it was made from."""
    capture_dir = REPO / manifest["capture_dir"]
    originals = {}
    for entry in manifest["images"][name]:
        original = capture_dir / entry["capture"]
        if not original.exists():
            pytest.skip(f"{original} (the source of {name}) is missing")
        data = original.read_bytes()
        assert _sha256(data) == entry["capture_sha256"], f"{name} is stale: rebuild it"
        label = f"/{entry['partition']}" if entry["partition"] else ""
        originals[(label, entry["path"])] = data
    return originals


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_image_yields_every_capture_with_its_original_bytes(name):
    image = _image(name)
    manifest = _manifest()
    originals = _originals(manifest, name)
    assert set(originals) == {(label, path) for label, path, _ in EXPECTED[name]}
    hows = {
        (e["partition"] or "", e["path"]): e["how"] for e in manifest["images"][name]
    }
    image_hash = _sha256(image.read_bytes())
    warnings = []

    found = list(find_captures([str(image)], warnings.append))

    expected_sources = [
        f"{image}:{label}{path}" + (" (deleted)" if how == "deleted" else "")
        for label, path, how in EXPECTED[name]
    ]
    assert [f.source for f in found] == expected_sources
    for found_capture, (label, path, how) in zip(found, EXPECTED[name]):
        assert hows[(label.lstrip("/"), path)] == how
        original = originals[(label, path)]
        data = _read(found_capture)
        assert found_capture.size == len(data)
        if how == "gzip":
            assert found_capture.kind == "gzip"
            assert _sha256(gzip.decompress(data)) == _sha256(original)
        else:
            assert found_capture.kind == is_capture_head(original)
            assert found_capture.size == len(original)
            assert _sha256(data) == _sha256(original)
    assert warnings == []
    assert _sha256(image.read_bytes()) == image_hash


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_image_without_deleted_files(name):
    image = _image(name)
    found = list(find_captures([str(image)], lambda _: None, include_deleted=False))
    assert [f.source for f in found] == [
        f"{image}:{label}{path}"
        for label, path, how in EXPECTED[name]
        if how != "deleted"
    ]


def test_partition_selection_picks_one_partition():
    image = _image("fat-mbr.E01")
    found = list(find_captures([str(image)], lambda _: None, partitions="p2"))
    assert [f.source for f in found] == [f"{image}:/p2/dump/smtp-p2.pcap"]


def test_partition_numbers_work_like_plaso_and_unused_options_change_nothing():
    image = _image("fat-mbr.E01")
    found = list(
        find_captures(
            [str(image)], lambda _: None, partitions="1", volumes="all", snapshots="all"
        )
    )
    assert [f.source for f in found] == [
        f"{image}:{label}{path}" + (" (deleted)" if how == "deleted" else "")
        for label, path, how in EXPECTED["fat-mbr.E01"]
        if label == "/p1"
    ]


def test_unknown_partition_raises_with_the_available_ones():
    image = _image("fat-mbr.E01")
    with pytest.raises(EvidenceError, match="available: p1, p2; choose with --partit"):
        list(find_captures([str(image)], lambda _: None, partitions="p3"))


def test_folder_of_images_is_walked_as_files_not_opened(tmp_path):
    """A folder is walked file by file: images in it are not opened (by design)."""
    image = _image("ext4.raw")
    (tmp_path / "ext4.raw").symlink_to(image)
    (tmp_path / "copy.raw").write_bytes(image.read_bytes())
    assert list(find_captures([str(tmp_path)], lambda _: None)) == []


def test_split_raw_image_is_read_across_its_segments(tmp_path):
    image = _image("ext4.raw")
    data = image.read_bytes()
    segment = 1024 * 1024
    for number, start in enumerate(range(0, len(data), segment)):
        (tmp_path / f"disk.raw.{number:03d}").write_bytes(data[start : start + segment])
    assert len(data) > segment  # really split
    first = tmp_path / "disk.raw.000"

    found = list(find_captures([str(first)], lambda _: None))

    whole = list(find_captures([str(image)], lambda _: None))
    assert [f.source for f in found] == [
        f.source.replace(str(image), str(first)) for f in whole
    ]
    assert [_sha256(_read(f)) for f in found] == [_sha256(_read(f)) for f in whole]


def test_two_readers_of_one_capture_in_an_image_do_not_share_a_position():
    image = _image("ntfs.vmdk")
    found = next(
        f
        for f in find_captures([str(image)], lambda _: None)
        if f.source.endswith("/evidence/mail.pcapng")
    )
    expected = _read(found)
    with found.open() as first, found.open() as second:
        head = first.read(10)
        assert second.read(30) == expected[:30]
        assert head + first.read() == expected
        second.seek(-5, os.SEEK_END)
        assert second.tell() == len(expected) - 5
        assert second.read() == expected[-5:]


def test_damaged_images_give_warnings_not_exceptions(tmp_path):
    cut_raw = tmp_path / "cut.raw"
    cut_raw.write_bytes(_image("ext4.raw").read_bytes()[:300_000])
    cut_e01 = tmp_path / "cut.E01"
    cut_e01.write_bytes(_image("fat-mbr.E01").read_bytes()[:50_000])
    warnings = []

    found = list(find_captures([str(cut_raw), str(cut_e01)], warnings.append))

    assert found == []
    assert any(
        w.startswith(f"{cut_raw}:/") and ": folder unreadable, skipped (" in w
        for w in warnings
    )
    assert warnings[-1].startswith(f"{cut_e01}: cannot scan as a disk image (")
    assert all("\n" not in warning and len(warning) < 400 for warning in warnings)
