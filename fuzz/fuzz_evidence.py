"""Fuzz target: the evidence walk (evidence.py, archives.py, dfvfs) on one mutated file.

The input becomes a file in a fresh input folder, which `smtpcore.api.items` walks
(as an image, an archive or a capture, by content) and extracts with payloads;
every message is saved by `save_message` into the output folder. The first byte
picks the file's name (dfvfs finds EWF and split-raw segments by name) and the
layout: the rest of the bytes as they are, or sparse records on zeros (4-byte
offset, then the bytes; or, op bit 0, a 4-byte length and the byte to fill with), so small inputs reach into the metadata of a disk image of
several MiB; bit 4 gives the folder, not the file, as the input.

Nothing may be raised, and nothing may be written, created, renamed or removed
outside the output folder while the walk runs (an audit hook watches); libFuzzer's
-timeout and -rss_limit_mb catch hangs and memory blow-ups.
"""

import atexit
import os
import shutil
import sys

import _common
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore import api, tskwatch
    from smtpcore.model import Message

# A TSK call of the deleted-file search that takes longer is given up (30 s in
# use): well within libFuzzer's -timeout, even after MAX_RESTARTS stalls.
tskwatch.STALL_SECONDS = 2.0

NAMES = (
    "evidence.bin",
    "disk.E01",
    "disk.vmdk",
    "disk.qcow2",
    "disk.raw",
    "disk.001",
    "case.zip",
    "case.tgz",
)
SPARSE = 0x08
FOLDER = 0x10
MAX_SIZE = 64 << 20  # a sparse file on tmpfs: only the pieces take memory
FILL_LIMIT = 4 << 20  # bytes one fill record writes
INPUT = OUTPUT = None  # set by _start: make_seeds imports this module for NAMES
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_CHANGES = frozenset(
    (
        "os.mkdir",
        "os.rename",
        "os.remove",
        "os.rmdir",
        "os.symlink",
        "os.link",
        "os.truncate",
        "os.chmod",
        "os.chown",
        "os.utime",
        "shutil.copyfile",
        "shutil.copytree",
        "shutil.move",
        "shutil.rmtree",
    )
)
_watching = False


def _inside_output(path) -> bool:
    if isinstance(path, int):
        return True  # an open descriptor: its opening was checked
    path = os.path.realpath(os.fsdecode(path))
    if path == os.devnull:
        return True  # the TSK child's standard streams: nothing is kept
    return path == OUTPUT or path.startswith(OUTPUT + os.sep)


def _audit(event, args):
    if not _watching:
        return
    if event == "open":
        path, mode, flags = args
        writes = any(c in mode for c in "wax+") if mode else bool(flags & _WRITE_FLAGS)
        if writes and path is not None and not _inside_output(path):
            raise AssertionError(f"opened for writing outside the output: {path!r}")
    elif event in _CHANGES:
        if not all(_inside_output(p) for p in args[:2] if isinstance(p, (str, bytes))):
            raise AssertionError(f"{event} outside the output: {args!r}")


def _start():
    global INPUT, OUTPUT
    work = _common.scratch_folder("fuzz-evidence")
    atexit.register(shutil.rmtree, work, True)
    INPUT = os.path.join(work, "in")
    OUTPUT = os.path.join(work, "out")
    sys.addaudithook(_audit)


def write_input(data: bytes) -> str:
    """Writes the input file; returns the path to give to api.items."""
    if INPUT is None:
        _start()
    shutil.rmtree(INPUT, ignore_errors=True)
    shutil.rmtree(OUTPUT, ignore_errors=True)
    os.makedirs(INPUT)
    os.makedirs(OUTPUT)
    mode = data[0] if data else 0
    path = os.path.join(INPUT, NAMES[mode & 7])
    with open(path, "wb") as handle:
        if not mode & SPARSE:
            handle.write(data[1:])
        else:
            size = 0
            for op, piece in _common.records(atheris.FuzzedDataProvider(data[1:])):
                offset = int.from_bytes(piece[:4].ljust(4, b"\0"), "big") % MAX_SIZE
                if op & 1:  # a fill: 4-byte length, then the byte
                    length = int.from_bytes(piece[4:8].ljust(4, b"\0"), "big")
                    piece = piece[8:9].ljust(1, b"\xff") * min(length, FILL_LIMIT)
                else:
                    piece = piece[4:]
                piece = piece[: MAX_SIZE - offset]
                handle.seek(offset)
                handle.write(piece)
                size = max(size, offset + len(piece))
                if not piece:  # an empty piece sets the size: the rest is zeros
                    size = max(size, offset)
            handle.truncate(size)
    return INPUT if mode & FOLDER else path


def TestOneInput(data: bytes) -> None:
    global _watching
    source = write_input(data)
    _watching = True
    try:
        for item in api.items(source, payloads=True):
            if type(item) is Message:
                api.save_message(item, OUTPUT)
    finally:
        _watching = False


if __name__ == "__main__":
    _common.run(TestOneInput)
