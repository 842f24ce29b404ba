"""Tests for smtpcore.evidence: captures in files, folders, archives and disk images."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from smtpcore.evidence import (
    MAX_ARCHIVE_DEPTH,
    EvidenceError,
    archive_kind,
    find_captures,
    is_capture_head,
)

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
        f"{text}: neither a packet capture (pcap, pcapng, gzip), an archive (tar, "
        f"tar.gz, zip) nor a disk image or file system that dfvfs recognises; skipped"
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
        ("", "/home/admin/Downloads/case.tgz:/pcaps/smtp-handover.pcap", "tgz"),
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
        ("/p1", "/export/handover.zip:/smtp/outbound.pcap", "zip-deflated"),
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


def _originals(
    manifest: dict, name: str, table: str = "images"
) -> dict[tuple[str, str], bytes]:
    """Maps (volume label, path) to the bytes of the capture it was made from."""
    capture_dir = REPO / manifest["capture_dir"]
    originals = {}
    for entry in manifest[table][name]:
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


# ---------------------------------------------------------------- compressed QCOW2


def _qcow2_compressed_clusters(data: bytes) -> int:
    """Counts the clusters a QCOW2 (version 2 or 3) stores compressed (L2 bit 62)."""
    magic, _version = struct.unpack_from(">4sI", data, 0)
    assert magic == b"QFI\xfb"
    cluster_bits = struct.unpack_from(">I", data, 20)[0]
    l1_size, l1_offset = struct.unpack_from(">IQ", data, 36)
    entries_per_l2 = (1 << cluster_bits) // 8
    compressed = 0
    for l1_index in range(l1_size):
        l2_offset = struct.unpack_from(">Q", data, l1_offset + 8 * l1_index)[0]
        l2_offset &= 0x00FFFFFFFFFFFE00
        if not l2_offset:
            continue
        for l2_index in range(entries_per_l2):
            entry = struct.unpack_from(">Q", data, l2_offset + 8 * l2_index)[0]
            compressed += bool(entry & (1 << 62))
    return compressed


def _media_sha256(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of the media dfvfs reads out of a storage media image."""
    from dfvfs.analyzer import analyzer
    from dfvfs.path import factory
    from dfvfs.resolver import context, resolver

    os_spec = factory.Factory.NewPathSpec("OS", location=str(path))
    types = analyzer.Analyzer.GetStorageMediaImageTypeIndicators(os_spec)
    spec = factory.Factory.NewPathSpec(types[0], parent=os_spec) if types else os_spec
    file_object = resolver.Resolver.OpenFileObject(
        spec, resolver_context=context.Context()
    )
    digest, size = hashlib.sha256(), 0
    while data := file_object.read(1 << 20):
        digest.update(data)
        size += len(data)
    return size, digest.hexdigest()


def test_compressed_qcow2_really_holds_compressed_clusters():
    """The image the libqcow regression test reads must exercise compression.

    Most of its 4 KiB clusters are never written; of those holding the FAT, the
    folders and the captures, qemu-img compressed 8.
    """
    data = _image("gpt-fat.qcow2").read_bytes()
    assert _qcow2_compressed_clusters(data) == 8


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dfvfs_reads_the_media_in_each_container_byte_exact(name):
    """libqcow-python 20260703 reads compressed clusters as zeros: this fails there."""
    media = _manifest()["media"][name]
    assert _media_sha256(_image(name)) == (media["size"], media["sha256"])


# ---------------------------------------------------------------- archives

# What each committed archive must yield, in stored order: (path inside, how).
ARCHIVES = {
    "case.tar": [
        ("/case/old.pcap.gz", "gzip"),
        ("/case/session.dat", "renamed"),
        ("/case/smtp.pcap", "copy"),
    ],
    "case.tgz": [
        ("/pcaps/gateway.pcapng", "copy"),
        ("/pcaps/inner.zip:/inner/deep.pcap", "zip-deflated"),
    ],
    "case.zip": [
        ("/stored.pcap", "zip-stored"),
        ("/mail/deflated.pcap", "zip-deflated"),
    ],
    "streamed.zip": [
        ("/first.pcap", "zip-streamed"),
        ("/second.pcap", "zip-streamed"),
    ],
}


def _check_found(found, prefix: str, expected, originals) -> None:
    """Asserts sources in order, kinds, sizes and the exact bytes of each capture."""
    assert [f.source for f in found] == [f"{prefix}:{path}" for path, _ in expected]
    for found_capture, (path, how) in zip(found, expected):
        original = originals[("", path)]
        data = _read(found_capture)
        assert found_capture.size == len(data)
        if how == "gzip":
            assert found_capture.kind == "gzip"
            assert gzip.decompress(data) == original
        else:
            assert found_capture.kind == is_capture_head(original)
            assert data == original


def test_archive_kind_recognises_tar_tgz_zip_by_content():
    tar, tgz, zip_ = (_image(n).read_bytes()[:8192] for n in sorted(ARCHIVES)[:3])
    assert [archive_kind(tar), archive_kind(tgz), archive_kind(zip_)] == [
        "tar",
        "tar.gz",
        "zip",
    ]
    assert archive_kind(gzip.compress(_pcap_bytes())) is None  # a capture, not a tar
    assert archive_kind(gzip.compress(b"log line\n" * 100)) is None
    assert archive_kind(b"PK\x05\x06" + b"\0" * 18) is None  # empty zip: nothing in it


def test_committed_zip_has_a_stored_and_a_deflated_capture():
    methods = {
        i.filename: i.compress_type
        for i in zipfile.ZipFile(_image("case.zip")).infolist()
    }
    assert methods["stored.pcap"] == zipfile.ZIP_STORED
    assert methods["mail/deflated.pcap"] == zipfile.ZIP_DEFLATED


@pytest.mark.parametrize("name", sorted(ARCHIVES))
def test_archive_yields_every_capture_with_its_original_bytes(name, tmp_path):
    archive = _image(name)
    manifest = _manifest()
    originals = _originals(manifest, name, "archives")
    hows = {e["path"]: e["how"] for e in manifest["archives"][name]}
    assert hows == dict(ARCHIVES[name])
    # Renamed to a name that says nothing: recognised by content.
    copy = tmp_path / "evidence.bin"
    shutil.copyfile(archive, copy)
    before = _sha256(copy.read_bytes())
    warnings = []

    found = list(find_captures([str(copy)], warnings.append))

    _check_found(found, str(copy), ARCHIVES[name], originals)
    assert warnings == []
    assert _sha256(copy.read_bytes()) == before


def test_two_readers_of_one_capture_in_a_tgz_do_not_share_a_position():
    found, _ = find_captures([str(_image("case.tgz"))], lambda _: None)
    expected = _read(found)
    with found.open() as first, found.open() as second:
        head = first.read(100)
        assert second.read(300) == expected[:300]
        assert head + first.read() == expected
        second.seek(-7, os.SEEK_END)
        assert second.read() == expected[-7:]


def _zip_of(path: Path, member: str, data: bytes) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(zipfile.ZipInfo(member, (2024, 1, 1, 0, 0, 0)), data)


def test_archives_nested_deeper_than_the_limit_are_warned_not_opened(tmp_path):
    """outer.zip > middle.zip > case.tgz > inner.zip: the fourth archive is too deep."""
    assert MAX_ARCHIVE_DEPTH == 3
    middle = tmp_path / "middle.zip"
    _zip_of(middle, "handover/case.tgz", _image("case.tgz").read_bytes())
    outer = tmp_path / "outer.zip"
    _zip_of(outer, "middle.zip", middle.read_bytes())
    originals = _originals(_manifest(), "case.tgz", "archives")
    warnings = []

    found = list(find_captures([str(outer)], warnings.append))

    prefix = f"{outer}:/middle.zip:/handover/case.tgz"
    _check_found(found, prefix, ARCHIVES["case.tgz"][:1], originals)
    assert warnings == [
        f"{prefix}:/pcaps/inner.zip: zip archive inside 3 archives not opened (more "
        f"than 3 archives deep); extract it and give it as an input"
    ]


def _cut_inside_member(tgz: bytes, member: str, into: int) -> bytes:
    """The shortest prefix of a tgz whose inflated data reaches into a member's data."""
    tar = tarfile.open(fileobj=io_bytes(gzip.decompress(tgz)))
    target = tar.getmember(member).offset_data + into
    inflater = zlib.decompressobj(wbits=31)
    inflated = 0
    for cut in range(64, len(tgz), 64):
        inflated += len(inflater.decompress(tgz[cut - 64 : cut]))
        if inflated >= target:
            return tgz[:cut]
    raise AssertionError("member not reached")


def io_bytes(data: bytes):
    import io

    return io.BytesIO(data)


def test_tgz_cut_short_gives_warnings_and_every_byte_before_the_cut(tmp_path):
    """Cut 1500 bytes into the zip inside the tgz: the pcapng before it whole, the
    capture in the cut zip (found from its local header) up to the cut."""
    originals = _originals(_manifest(), "case.tgz", "archives")
    cut = tmp_path / "cut.tgz"
    tgz = _image("case.tgz").read_bytes()
    cut.write_bytes(_cut_inside_member(tgz, "./pcaps/inner.zip", 1500))
    warnings = []

    found = list(find_captures([str(cut)], warnings.append))

    assert [f.source for f in found] == [
        f"{cut}:{path}" for path, _ in ARCHIVES["case.tgz"]
    ]
    _check_found(found[:1], str(cut), ARCHIVES["case.tgz"][:1], originals)
    original = originals[("", "/pcaps/inner.zip:/inner/deep.pcap")]
    with found[1].open() as handle:
        partial = handle.read()
        with pytest.raises(OSError, match="the archive ends 1[0-9]{3} bytes into it"):
            handle.read()
    assert 1000 < len(partial) < len(original)
    assert partial == original[: len(partial)]
    assert len(warnings) == 2
    assert warnings[0].startswith(
        f"{cut}:/pcaps/inner.zip: damaged zip archive, no central directory ("
    )
    assert warnings[1].startswith(
        f"{cut}: damaged tar.gz archive, read as far as member 5 ("
    )


def test_tar_cut_inside_a_capture_delivers_the_bytes_that_are_there(tmp_path):
    data = _image("case.tar").read_bytes()
    tar = tarfile.open(fileobj=io_bytes(data))
    member = tar.getmember("./case/smtp.pcap")
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: member.offset_data + 1000])
    originals = _originals(_manifest(), "case.tar", "archives")
    warnings = []

    found = list(find_captures([str(cut)], warnings.append))

    _check_found(found[:2], str(cut), ARCHIVES["case.tar"][:2], originals)
    assert found[2].source == f"{cut}:/case/smtp.pcap"
    with found[2].open() as handle:
        assert handle.read(1000) == originals[("", "/case/smtp.pcap")][:1000]
        with pytest.raises(OSError, match="damaged archive member"):
            handle.read()
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{cut}: damaged tar archive, read as far as member ")


def test_zip_member_with_bad_crc_is_still_found_and_read_whole(tmp_path):
    """A damaged member is reported, every byte of it delivered, then the damage."""
    data = bytearray(_image("case.zip").read_bytes())
    info = zipfile.ZipFile(_image("case.zip")).getinfo("stored.pcap")
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    data_offset = info.header_offset + 30 + name_length + extra_length
    data[data_offset + info.file_size - 1] ^= 0xFF  # last byte of the stored member
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    originals = _originals(_manifest(), "case.zip", "archives")
    warnings = []

    found = list(find_captures([str(damaged)], warnings.append))

    assert warnings == []  # the central directory is intact; damage shows on reading
    _check_found(found[1:], str(damaged), ARCHIVES["case.zip"][1:], originals)
    expected = bytearray(originals[("", "/stored.pcap")])
    expected[-1] ^= 0xFF
    with found[0].open() as handle:
        assert handle.read(len(expected)) == bytes(expected)
        with pytest.raises(OSError, match="CRC-32 .* where the archive says"):
            handle.read()


def test_zip_member_that_does_not_inflate_is_warned_and_the_rest_read(tmp_path):
    data = bytearray(_image("case.zip").read_bytes())
    info = zipfile.ZipFile(_image("case.zip")).getinfo("mail/deflated.pcap")
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    data_offset = info.header_offset + 30 + name_length + extra_length
    data[data_offset : data_offset + 4] = b"\xff\xff\xff\xff"  # invalid block type
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    originals = _originals(_manifest(), "case.zip", "archives")
    warnings = []

    found = list(find_captures([str(damaged)], warnings.append))

    _check_found(found, str(damaged), ARCHIVES["case.zip"][:1], originals)
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"{damaged}:/mail/deflated.pcap: damaged zip member, skipped ("
    )


# ---------------------------------------------------------------- folders of evidence


def test_folder_with_images_archives_and_a_split_image(tmp_path):
    """Images in a folder are opened by signature, each once; archives too."""
    root = tmp_path / "handover"
    (root / "disks" / "split").mkdir(parents=True)
    pcap = _pcap_bytes()
    (root / "a.pcap").write_bytes(pcap)
    shutil.copyfile(_image("case.zip"), root / "mail.bin")  # a zip by content
    (root / "notes.txt").write_text("chain of custody\n" * 100)
    shutil.copyfile(_image("gpt-fat.qcow2"), root / "disks" / "usb")  # no extension
    raw = _image("ext4.raw").read_bytes()
    segment = 1024 * 1024
    for number, start in enumerate(range(0, len(raw), segment)):
        part = root / "disks" / "split" / f"disk.raw.{number:03d}"
        part.write_bytes(raw[start : start + segment])
    before = _tree_hashes(tmp_path)
    manifest = _manifest()
    warnings = []

    found = list(find_captures([str(root)], warnings.append))

    usb = root / "disks" / "usb"
    first = root / "disks" / "split" / "disk.raw.000"
    expected = (
        [str(root / "a.pcap")]
        + [f"{root / 'mail.bin'}:{path}" for path, _ in ARCHIVES["case.zip"]]
        + [f"{usb}:{label}{path}" for label, path, _ in EXPECTED["gpt-fat.qcow2"]]
        + [
            f"{first}:{label}{path}" + (" (deleted)" if how == "deleted" else "")
            for label, path, how in EXPECTED["ext4.raw"]
        ]
    )
    assert [f.source for f in found] == expected
    assert warnings == []
    zipped = _originals(manifest, "case.zip", "archives")
    _check_found(found[1:3], str(root / "mail.bin"), ARCHIVES["case.zip"], zipped)
    in_usb = _originals(manifest, "gpt-fat.qcow2")
    assert [_read(f) for f in found[3:5]] == [
        in_usb[(label, path)] for label, path, _ in EXPECTED["gpt-fat.qcow2"]
    ]
    assert _tree_hashes(tmp_path) == before


def test_partition_choice_that_fits_no_image_in_a_folder_is_a_warning(tmp_path):
    shutil.copyfile(_image("fat-mbr.E01"), tmp_path / "disk.E01")
    (tmp_path / "z.pcap").write_bytes(_pcap_bytes())
    warnings = []

    found = list(find_captures([str(tmp_path)], warnings.append, partitions="p3"))

    assert [f.source for f in found] == [str(tmp_path / "z.pcap")]
    assert warnings == [
        f"{tmp_path / 'disk.E01'}: Volume missing for identifier: p3.",  # dfvfs's
        f"{tmp_path / 'disk.E01'}: partition selection 'p3' matches nothing; "
        f"available: p1, p2; choose with --partitions; image skipped",
    ]


def _zip_data_offset(data: bytes, info: zipfile.ZipInfo) -> int:
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    return info.header_offset + 30 + name_length + extra_length


@pytest.mark.parametrize(
    "name, member",
    [("case.zip", "mail/deflated.pcap"), ("streamed.zip", "second.pcap")],
)
def test_zip_cut_short_is_read_from_its_local_headers(name, member, tmp_path):
    """A zip without its central directory (a download cut short): every member
    before the cut whole, the cut member up to the cut, then the damage. In
    streamed.zip the sizes follow the data, so the first member is inflated to find
    its end."""
    data = _image(name).read_bytes()
    info = zipfile.ZipFile(_image(name)).getinfo(member)
    cut_at = _zip_data_offset(data, info) + info.compress_size // 2
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[:cut_at])
    originals = _originals(_manifest(), name, "archives")
    warnings = []

    found = list(find_captures([str(cut)], warnings.append))

    assert len(warnings) == 1
    assert warnings[0].startswith(f"{cut}: damaged zip archive, no central directory (")
    assert warnings[0].endswith("); 2 member(s) read from their local headers")
    _check_found(found[:1], str(cut), ARCHIVES[name][:1], originals)
    assert [f.source for f in found] == [f"{cut}:{path}" for path, _ in ARCHIVES[name]]
    original = originals[("", "/" + member)]
    with found[1].open() as handle:
        partial = handle.read(len(original))
        with pytest.raises(OSError, match="damaged archive member"):
            handle.read()
    assert 500 < len(partial) < len(original)
    assert partial == original[: len(partial)]


def test_captures_of_a_tgz_read_in_order_inflate_it_once(tmp_path, monkeypatch):
    """Reading member after member goes on inflating where the last reader stopped;
    going back starts a new inflation."""
    captures = REPO / "test_data" / "captures"
    names = ["postfix-auth-login.pcap", "postfix-auth-plain.pcap", "postfix-ipv6.pcap"]
    tgz = tmp_path / "three.tgz"
    with tarfile.open(tgz, "w:gz") as archive:
        for name in names:
            archive.add(captures / name, arcname=f"pcaps/{name}")
    found = list(find_captures([str(tgz)], lambda _: None))
    inflations = []
    real_gzip_file = gzip.GzipFile

    def counting_gzip_file(*args, **kwargs):
        inflations.append(1)
        return real_gzip_file(*args, **kwargs)

    monkeypatch.setattr(gzip, "GzipFile", counting_gzip_file)

    assert [_read(f) for f in found] == [(captures / n).read_bytes() for n in names]
    assert len(inflations) == 1
    assert _read(found[0]) == (captures / names[0]).read_bytes()
    assert len(inflations) == 2
