"""The SHA-256 of the bytes read, computed by a child process (digests.ChildSha256)."""

from __future__ import annotations

import hashlib
import io
import pathlib
import random

import pytest

from smtpcore import api, digests
from smtpcore.evidence import FoundCapture

ROOT = pathlib.Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "test_data" / "captures" / "postfix-auth-login.pcap"
SLOT = digests._SLOT
# Empty parts, a slot exactly and one byte past it, and parts longer than the
# whole ring (the reader waits for the child to free it).
SIZES = [0, 1, SLOT - 1, SLOT, SLOT + 1, 0, 3 * SLOT + 5, 9 * SLOT + 7, 17, 2 * SLOT]


def _capture(path: pathlib.Path) -> FoundCapture:
    return FoundCapture(
        str(path), path.stat().st_size, lambda: open(path, "rb"), "pcap"
    )


def test_the_child_gives_hashlibs_digest():
    data = random.Random(11).randbytes(sum(SIZES))
    child = digests.ChildSha256.start()
    assert isinstance(child, digests.ChildSha256)
    start = 0
    for size in SIZES:
        child.update(data[start : start + size])
        start += size
    assert child.hexdigest() == hashlib.sha256(data).hexdigest()
    assert child.failure is None
    assert child.hexdigest() == hashlib.sha256(data).hexdigest()  # asked again
    assert child._child.returncode == 0


def test_nothing_read_is_the_empty_digest():
    child = digests.ChildSha256.start()
    assert child.hexdigest() == hashlib.sha256(b"").hexdigest()


def test_a_child_that_dies_is_said_and_never_raises():
    child = digests.ChildSha256.start()
    child.update(b"x" * SLOT)
    child._child.kill()
    child._child.wait()
    for _ in range(3 * digests._SLOTS):  # past a full ring: the wait sees the end
        child.update(b"y" * SLOT)
    assert child.hexdigest() is None
    assert child.failure in (
        "the hashing process ended early",
        "the hashing process took no more ([Errno 32] Broken pipe)",
    )


def test_no_interpreter_to_start_hashes_here(monkeypatch, tmp_path):
    monkeypatch.setattr(digests.sys, "executable", str(tmp_path / "no-python"))
    sha256 = digests.ChildSha256.start()
    assert type(sha256) is type(hashlib.sha256())
    sha256.update(b"evidence")
    assert sha256.hexdigest() == hashlib.sha256(b"evidence").hexdigest()


@pytest.mark.parametrize("in_child", [False, True])
def test_read_capture_checks_the_bytes_read(in_child):
    file_digest = hashlib.sha256(CAPTURE.read_bytes()).hexdigest()
    warnings = []
    entry = api.read_capture(
        _capture(CAPTURE),
        on_item=lambda item: None,
        warn=warnings.append,
        expected_sha256=file_digest,
        hash_in_child=in_child,
    )
    assert (entry["sha256"], entry["size"], entry["status"]) == (
        file_digest,
        CAPTURE.stat().st_size,
        "ok",
    )
    assert warnings == []
    entry = api.read_capture(
        _capture(CAPTURE),
        on_item=lambda item: None,
        warn=warnings.append,
        expected_sha256="0" * 64,  # as if the file had changed since
        hash_in_child=in_child,
    )
    assert entry["sha256"] == file_digest and entry["status"] == "damaged"
    assert warnings == [
        f"{CAPTURE}: changed while being read: SHA-256 {'0' * 64} before, "
        f"{file_digest} while extracting"
    ]


def test_read_capture_whose_hashing_child_dies(monkeypatch):
    """The file's digest is kept, and the record says it was not checked."""
    update = digests.ChildSha256.update

    def dying(self, data):
        self._child.kill()
        self._child.wait()
        update(self, data)

    monkeypatch.setattr(digests.ChildSha256, "update", dying)
    monkeypatch.setattr(digests, "_SLOTS", 1)  # the first wait meets the end
    file_digest = hashlib.sha256(CAPTURE.read_bytes()).hexdigest()
    items, warnings = [], []
    entry = api.read_capture(
        _capture(CAPTURE),
        on_item=items.append,
        warn=warnings.append,
        expected_sha256=lambda: file_digest,
        hash_in_child=True,
    )
    reference = []
    api.read_capture(_capture(CAPTURE), on_item=reference.append)
    assert len(items) == len(reference) > 0  # nothing read is lost
    assert entry["sha256"] == file_digest and entry["status"] == "damaged"
    assert len(warnings) == 1 and warnings[0].startswith(
        f"{CAPTURE}: the bytes read were not hashed (the hashing process "
    )
    assert warnings[0].endswith(
        "): the SHA-256 is the file's, not checked against what was read"
    )


def test_hashing_reader_counts_what_it_passes():
    sha256 = digests.ChildSha256.start()
    reader = api._HashingReader(io.BytesIO(b"a" * (SLOT + 3)), sha256)
    assert reader.read(SLOT + 1) == b"a" * (SLOT + 1)
    assert reader.read(10) == b"aa" and reader.read(10) == b""
    assert reader.size == SLOT + 3
    assert sha256.hexdigest() == hashlib.sha256(b"a" * (SLOT + 3)).hexdigest()
