"""Every crash the fuzz targets (fuzz/) found, replayed, and what the code does now.

An input is tests/fuzz_regressions/<target>-<what>.bin, as the fuzzer wrote it.
"""

import hashlib
import importlib
import os
import pathlib
import shutil
import subprocess
import signal
import sys
import threading

import pytest

atheris = pytest.importorskip("atheris")

from smtpcore import tskwatch  # noqa: E402
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


def test_evidence_qcow_that_fails_to_read_under_tsk():
    """A damaged qcow2 (found by the fuzz smoke run of this session): its level-2
    table cannot be read, and pytsk3, scanning it for partitions, raised pyqcow's
    RuntimeError out of the volume scan; now the image is reported, not a crash."""
    data = (INPUTS / "evidence-qcow-runtime-error.bin").read_bytes()
    evidence = _target("evidence")
    evidence.TestOneInput(data)  # raised RuntimeError before the fix
    path = evidence.write_input(data)
    warnings = []
    assert list(find_captures([path], warnings.append)) == []
    assert len(warnings) == 1
    assert os.path.isdir(path)  # the input's first byte asks for a folder
    assert warnings[0].startswith(
        f"{path}/disk.qcow2: cannot scan as a disk image ('pyqcow_file_read_buffer: "
        "unable to "
        "read data. libqcow_cluster_table_read: unable to read cluster table at "
        "offset: 28672 (0x00007000)."
    )


EXT4_ROOT_STALL = (
    "{path}:/: deleted-file search: TSK spent more than 2 s on entry 6 of the 8 of "
    "this folder (damaged file system); that entry and the 2 after it (and their "
    "subfolders) not searched for deleted files"
)


def test_evidence_ext4_whose_tsk_directory_entries_stall(monkeypatch):
    """A damaged ext4 (raw medium, sparse layout): pytsk3 stays 10 s in native code on
    each of the root's entries tmp and var, and 22 s opening each of them (72 s of
    CPU in all). Now the deleted-file search gives up the entry that stalls (after 2 s
    here), says what it did not search, and goes on in a new child: with the root's
    first entries, then with the next image, whose deleted capture is found."""
    data = (INPUTS / "evidence-ext4-tsk-dir-entry-hang.bin").read_bytes()
    evidence = _target("evidence")
    assert evidence.tskwatch.STALL_SECONDS == 2  # the target's own limit
    evidence.TestOneInput(data)  # took 72 s of CPU before the fix
    monkeypatch.setattr(tskwatch, "STALL_SECONDS", 2.0)
    path = evidence.write_input(data)
    healthy = os.path.join(os.path.dirname(path), "zz-ext4.raw")
    shutil.copyfile(ROOT / "test_data" / "images" / "ext4.raw", healthy)
    warnings = []
    found = list(find_captures([os.path.dirname(path)], warnings.append))
    assert [capture.source for capture in found] == [
        f"{healthy}:/home/admin/notes.txt",
        f"{healthy}:/home/admin/Downloads/case.tgz:/pcaps/smtp-handover.pcap",
        f"{healthy}:/home/admin/old/trace.pcapng",
        f"{healthy}:/var/log/capture/smtp.pcap",
        f"{healthy}:/var/log/capture/archive/smtp-2023.pcap.gz",
        f"{healthy}:/tmp/upload.pcap (deleted)",
    ]
    with found[-1].open() as handle:
        deleted = handle.read()
    assert len(deleted) == found[-1].size
    manifest = (ROOT / "test_data" / "images" / "MANIFEST.json").read_text()
    assert hashlib.sha256(deleted).hexdigest() in manifest
    assert len(warnings) == 2
    assert warnings[0].startswith(
        f"{path}:/: folder unreadable, skipped (pyfsext_file_entry_get_sub_file_"
        "entry_by_index: unable to retrieve sub file entry for the specific index: 3."
    )
    assert warnings[1] == EXT4_ROOT_STALL.format(path=path)


def test_evidence_search_stops_after_its_restarts(monkeypatch):
    """Past MAX_RESTARTS stalls in one file system the search stops and says what
    it left: here the root folder's first entries, waiting to be read again."""
    monkeypatch.setattr(tskwatch, "STALL_SECONDS", 2.0)
    monkeypatch.setattr(tskwatch, "MAX_RESTARTS", 0)
    data = (INPUTS / "evidence-ext4-tsk-dir-entry-hang.bin").read_bytes()
    path = _target("evidence").write_input(data)
    warnings = []
    assert list(find_captures([path], warnings.append)) == []
    assert warnings[1:] == [
        EXT4_ROOT_STALL.format(path=path),
        f"{path}:/: deleted-file search stopped after 1 stall(s) of TSK (damaged file "
        "system); 1 folder(s) (and their subfolders) not searched",
    ]


def _ext4_worker(stall_seconds):
    image = ROOT / "test_data" / "images" / "ext4.raw"
    from dfvfs.lib import definitions
    from dfvfs.path import factory

    spec = factory.Factory.NewPathSpec(
        definitions.TYPE_INDICATOR_OS, location=str(image)
    )
    spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_RAW, parent=spec)
    worker = tskwatch.TskWorker(stall_seconds)
    return worker, worker.open(spec)


def test_tsk_worker_killed_after_a_stall_and_restarted():
    """A child that makes no progress (stopped here) is killed by its PID and reaped
    after the limit; the next call starts a new child that answers the same."""
    worker, root = _ext4_worker(0.5)
    listing = worker.list_folder(root)
    assert [name for name, *_ in listing] == ["etc", "home", "lost+found", "tmp", "var"]
    pid = tskwatch._child.process.pid
    os.kill(pid, signal.SIGSTOP)
    with pytest.raises(tskwatch.Stalled) as stalled:
        worker.list_folder(root)
    assert stalled.value.reason == "TSK spent more than 0.5 s"
    assert tskwatch._child.process is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped: no such process left
    assert worker.list_folder(root) == listing
    assert tskwatch._child.process.pid != pid


def test_tsk_worker_that_dies_is_reported_and_replaced():
    """A child that dies in a call (a crash in native code) raises Stalled with the
    signal; one killed between calls is replaced without a word."""
    worker, root = _ext4_worker(30)
    listing = worker.list_folder(root)
    os.kill(tskwatch._child.process.pid, signal.SIGKILL)
    os.waitid(os.P_PID, tskwatch._child.process.pid, os.WEXITED | os.WNOWAIT)
    assert worker.list_folder(root) == listing  # died while idle: a new child
    pid = tskwatch._child.process.pid
    os.kill(pid, signal.SIGSTOP)  # so that it cannot answer before it dies
    threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(tskwatch.Stalled) as stalled:
        worker.list_folder(root)
    assert stalled.value.reason == "the TSK worker process ended (signal 9)"
    assert worker.list_folder(root) == listing


def test_cli_tsk_stall_seconds(tmp_path):
    """`smtpcore extract --tsk-stall-seconds 2` on the damaged ext4 and a healthy one:
    the stall is in the log, and the healthy image's messages are all extracted."""
    data = (INPUTS / "evidence-ext4-tsk-dir-entry-hang.bin").read_bytes()
    path = _target("evidence").write_input(data)
    folder = os.path.dirname(path)
    shutil.copyfile(ROOT / "test_data" / "images" / "ext4.raw", f"{folder}/z.raw")
    command = pathlib.Path(sys.executable).with_name("smtpcore")
    zero = subprocess.run(
        [command, "extract", "--tsk-stall-seconds", "0", folder, "-o", tmp_path / "o"],
        capture_output=True,
        text=True,
    )
    assert zero.returncode == 2 and "must be more than 0, not 0" in zero.stderr
    log = tmp_path / "log.txt"
    run = subprocess.run(
        [command, "extract", "-q", "--tsk-stall-seconds", "2", folder, "-o"]
        + [tmp_path / "out", "--log", log],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert f"WARNING {EXT4_ROOT_STALL.format(path=path)}\n" in log.read_text()
    eml = sorted(p.name for p in (tmp_path / "out").rglob("*.eml"))
    assert len(eml) == 6


def test_deleted_entry_that_stalls_is_given_up_and_the_others_checked():
    """A stall while checking a folder's deleted entries gives up the entry TSK was
    on (the first here: the child is stopped before it starts) with a warning; the
    others are asked again of a new child, and the deleted capture is found."""
    from smtpcore import evidence

    worker, _ = _ext4_worker(0.5)
    candidates = [("/home/admin/notes.txt", 20), ("/tmp/upload.pcap", 25)]
    assert worker.check_files([20, 25])[0] is None  # allocated: not a deleted file
    os.kill(tskwatch._child.process.pid, signal.SIGSTOP)
    warnings = []
    found, stalls, left = evidence._check_deleted(
        worker, candidates, "IMAGE:", warnings.append, 0
    )
    assert warnings == [
        "IMAGE:/home/admin/notes.txt (deleted): deleted-file search: TSK spent more "
        "than 0.5 s reading this entry (damaged file system); not checked"
    ]
    assert (stalls, left) == (1, None)
    head, size = found[25]
    original = (
        ROOT / "test_data" / "captures" / "postfix-nanosecond.pcap"
    ).read_bytes()
    assert (head, size) == (original[:8192], len(original))
