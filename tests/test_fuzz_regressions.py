"""Every crash the fuzz targets (fuzz/) found, replayed, and what the code does now.

An input is tests/fuzz_regressions/<target>-<what>.bin, as the fuzzer wrote it.
"""

import importlib
import os
import pathlib
import sys

import pytest

atheris = pytest.importorskip("atheris")

from smtpcore.evidence import find_captures  # noqa: E402
from smtpcore.tls.keylog import KeyLog  # noqa: E402
from smtpcore.tls.layer import TlsConnection  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
INPUTS = ROOT / "tests" / "fuzz_regressions"


def _target(name: str):
    fuzz = str(ROOT / "fuzz")
    if fuzz not in sys.path:
        sys.path.insert(0, fuzz)
    return importlib.import_module(f"fuzz_{name}")


def test_tls_certificate_with_invalid_x509_version():
    """cryptography raises InvalidVersion (not a ValueError) for a version field of
    92: the certificate is kept by its hash, with the names unknown."""
    data = (INPUTS / "tls-x509-invalid-version.bin").read_bytes()
    _target("tls").TestOneInput(data)  # raised InvalidVersion before the fix
    connection = TlsConnection(KeyLog())
    _target("tls")._machine.drive(connection, data)
    certificate = connection.info.certificate
    assert certificate is not None
    assert certificate.subject == "" and certificate.issuer == ""
    assert len(certificate.sha256) == 64


def test_run_py_runs_every_target():
    """A fuzz_<name>.py that run.py does not list would never be fuzzed."""
    names = {path.stem[len("fuzz_") :] for path in (ROOT / "fuzz").glob("fuzz_*.py")}
    assert set(_target_runner().TARGETS) == names


def _target_runner():
    fuzz = str(ROOT / "fuzz")
    if fuzz not in sys.path:
        sys.path.insert(0, fuzz)
    return importlib.import_module("run")


def test_evidence_target_stops_a_write_outside_its_output(tmp_path):
    """The audit hook of fuzz_evidence is what makes "no file outside the output
    folder" a finding: while it watches, a write elsewhere raises, one inside not."""
    evidence = _target("evidence")
    evidence.write_input(b"\x00not evidence")
    evidence._watching = True
    try:
        with pytest.raises(AssertionError, match="outside the output"):
            open(tmp_path / "escaped", "wb")
        with pytest.raises(AssertionError, match="outside the output"):
            os.mkdir(tmp_path / "escaped-folder")
        with open(os.path.join(evidence.OUTPUT, "kept"), "wb") as handle:
            handle.write(b"x")
    finally:
        evidence._watching = False
    assert not (tmp_path / "escaped").exists()
    assert os.listdir(evidence.OUTPUT) == ["kept"]


def test_evidence_target_walks_an_image_and_saves_its_messages():
    """The sparse layout rebuilds ext4.raw from its non-zero sectors: the walk finds
    the image's captures and the messages land in the output folder."""
    _target_runner()  # fuzz/ on sys.path
    make_seeds = importlib.import_module("make_seeds")
    media = (ROOT / "test_data" / "images" / "ext4.raw").read_bytes()
    data = make_seeds.sparse_seed("disk.raw", media)
    evidence = _target("evidence")
    with open(evidence.write_input(data), "rb") as handle:
        assert handle.read() == media
    evidence.TestOneInput(data)
    saved = sorted(os.listdir(evidence.OUTPUT))
    assert len(saved) == 6 and all(name.endswith("-s1-1.eml") for name in saved)


def test_evidence_fat_folder_inside_itself():
    """A damaged FAT (GPT disk, sparse layout) whose folder lists itself: the walk
    went round for ever (a timeout); now it warns once and ends."""
    data = (INPUTS / "evidence-fat-folder-loop.bin").read_bytes()
    evidence = _target("evidence")
    evidence.TestOneInput(data)
    path = evidence.write_input(data)
    warnings = []
    assert list(find_captures([path], warnings.append)) == []
    assert warnings == [
        f"{path}:/p1/None/None: folder met again inside itself (damaged file system), "
        "not walked twice"
    ]


def test_evidence_zip_member_without_a_name():
    """A zip without central directory whose local header names no file: ZipInfo's
    is_dir() raised IndexError; now the nameless member is tried like any other."""
    data = (INPUTS / "evidence-zip-member-without-name.bin").read_bytes()
    evidence = _target("evidence")
    evidence.TestOneInput(data)  # raised IndexError before the fix
    path = evidence.write_input(data)
    warnings = []
    assert list(find_captures([path], warnings.append)) == []
    assert warnings == [
        f"{path}: damaged zip archive, no central directory (Bad magic number for "
        "central directory); 1 member(s) read from their local headers",
        f"{path}:/: damaged zip member, skipped (That compression method is not "
        "supported)",
    ]


def test_evidence_ntfs_whose_root_folder_cannot_be_read():
    """A damaged NTFS (raw medium, sparse layout) whose root index is broken: pyfsntfs
    raised OSError, not a dfvfs error, out of the walk; now a warning says so."""
    data = (INPUTS / "evidence-ntfs-root-unreadable.bin").read_bytes()
    evidence = _target("evidence")
    evidence.TestOneInput(data)  # raised OSError before the fix
    path = evidence.write_input(data)
    warnings = []
    assert list(find_captures([path], warnings.append)) == []
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"{path}:/: file system unreadable, skipped (pyfsntfs_volume_get_root_directory: "
        "unable to retrieve root directory."
    )
