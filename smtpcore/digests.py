"""SHA-256 of the evidence, computed in child processes while the work goes on.

Why: hashing 200 MB costs a tenth of a second or more, and the evidence is hashed
twice: the file as it is on disk, for the manifest and the identifiers
(FileDigests); the bytes as they are read, to notice a change (ChildSha256, fed by
api.read_capture).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import subprocess
import sys
import threading
from typing import Optional, Sequence

_CHUNK = 1 << 20


# The child process of FileDigests: one JSON line per file (its digest and size, or
# the OSError met), and the bytes hashed so far every 16 MiB, for the progress bar.
_CHILD = """
import hashlib, json, sys
def say(**fields):
    sys.stdout.write(json.dumps(fields) + "\\n")
    sys.stdout.flush()
position = 0
block = bytearray(1 << 20)
view = memoryview(block)
for index, path in enumerate(sys.argv[1:]):
    sha256 = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb", buffering=0) as handle:
            while n := handle.readinto(block):
                sha256.update(view[:n])
                size += n
                position += n
                if position % (16 << 20) < n:
                    say(position=position)
    except OSError as error:
        say(index=index, errno=error.errno, strerror=error.strerror,
            filename=error.filename, text=str(error))
        continue
    say(index=index, sha256=sha256.hexdigest(), size=size, position=position)
"""


class FileDigests:
    """Hashes files one after the other in a child process started at once; ask for
    each file's result when it is needed.

    Why a process: on a thread of this one, hashing 200 MB cost the reading thread
    more than the hashing itself (its GIL hand-overs: 60 ms of a 0.6 s run over a
    mostly-web capture); in a child it costs the reading nothing. A thread waits
    for the child's answers (a blocking read holds no GIL), and hashes here what
    the child could not (no Python to start it with, or it died).
    """

    def __init__(self, paths: Sequence[str]) -> None:
        self._paths = list(paths)
        self._results: dict[str, tuple[str, int] | OSError] = {}
        self._done = {path: threading.Event() for path in self._paths}
        self.position = 0  # bytes hashed so far, all files together
        # Started here, on the calling thread: a process forked by another thread
        # while Popen runs (the decoding workers) would inherit the pipe Popen waits
        # on for the exec, and Popen would wait as long as that process lives.
        self._child = self._start_child() if self._paths else None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _start_child(self) -> Optional[subprocess.Popen]:
        try:
            return subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _CHILD, *self._paths],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, ValueError):  # no interpreter to start: hashed here
            return None

    def _run(self) -> None:
        try:
            if self._child is not None:
                self._from_child(self._child)
        finally:
            for path in self._paths:
                try:
                    if path not in self._results:
                        self._hash(path)
                finally:
                    self._done[path].set()

    def _from_child(self, child: subprocess.Popen) -> None:
        with child:
            for line in child.stdout:
                try:
                    answer = json.loads(line)
                except ValueError:
                    break
                self.position = answer.get("position", self.position)
                if "index" not in answer:
                    continue
                path = self._paths[answer["index"]]
                if "sha256" in answer:
                    self._results[path] = (answer["sha256"], answer["size"])
                else:
                    self._results[path] = _os_error(answer)
                self._done[path].set()

    def _hash(self, path: str) -> None:
        sha256 = hashlib.sha256()
        size = 0
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    sha256.update(chunk)
                    size += len(chunk)
                    self.position += len(chunk)
        except OSError as error:
            self._results[path] = error
            return
        self._results[path] = (sha256.hexdigest(), size)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Whether every file is hashed (or failed), after waiting up to timeout."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __contains__(self, path: str) -> bool:
        return path in self._done

    def ready(self, path: str) -> bool:
        """Whether the file's result is there (one of the files given)."""
        return self._done[path].is_set()

    def result(self, path: str) -> tuple[str, int]:
        """(SHA-256, size) of one of the files, waited for; raises the OSError that
        reading it met."""
        self._done[path].wait()
        outcome = self._results[path]
        if isinstance(outcome, OSError):
            raise outcome
        return outcome


def _os_error(answer: dict) -> OSError:
    """The child's OSError again, the same to print."""
    if answer.get("errno") is None:
        return OSError(answer.get("text") or "cannot be read")
    if answer.get("filename") is None:
        return OSError(answer["errno"], answer["strerror"])
    return OSError(answer["errno"], answer["strerror"], answer["filename"])


def total_size(paths: Sequence[str]) -> int:
    """The bytes of the files that exist, for a progress bar."""
    total = 0
    for path in paths:
        try:
            total += os.path.getsize(path)
        except OSError:
            pass
    return total


# The child process of ChildSha256: the ring is its inherited file descriptor
# argv[1]; each 8-byte message on stdin is (offset, length) of bytes to hash there,
# answered by one byte when that part of the ring may be written again; a length
# of 0 asks for the digest and the byte count, one line.
_RING_CHILD = """
import hashlib, mmap, struct, sys
ring = mmap.mmap(int(sys.argv[1]), int(sys.argv[2]))
view = memoryview(ring)
sha256 = hashlib.sha256()
size = 0
read, write = sys.stdin.buffer.raw.read, sys.stdout.buffer.raw.write
while True:
    message = read(8)
    while message and len(message) < 8:
        more = read(8 - len(message))
        if not more:
            raise SystemExit(1)
        message += more
    if not message:
        raise SystemExit(1)
    offset, length = struct.unpack("<II", message)
    if not length:
        write(f"{sha256.hexdigest()} {size}\\n".encode())
        break
    sha256.update(view[offset : offset + length])
    size += length
    write(b"+")
"""
_SLOT = 2 << 20
_SLOTS = 3
_MESSAGE = struct.Struct("<II")


class ChildSha256:
    """``hashlib.sha256()``'s update and hexdigest, the hashing done by a child.

    Why: the reading thread hashed what it read itself, a fifth of its time on a
    mostly-web capture; through a pipe the copies and wake-ups cost as much as
    the hashing (measured: no gain). Here the bytes are copied once into a ring
    of shared memory that the child hashes from, a slot (2 MiB) at a time, told
    which by an 8-byte message; the reader waits only when the child is a whole
    ring behind.

    ``hexdigest()`` is None when the child ended before the digest (``failure``
    says why): the bytes given to it are then unhashed. Use ``start()``, which
    hashes here instead when no child can be started.
    """

    def __init__(self) -> None:
        self.failure: Optional[str] = None
        fd = os.memfd_create("smtpcore-sha256")
        try:
            os.ftruncate(fd, _SLOT * _SLOTS)
            self._ring = mmap.mmap(fd, _SLOT * _SLOTS)
            self._child = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _RING_CHILD, str(fd),
                 str(_SLOT * _SLOTS)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                pass_fds=(fd,),
                bufsize=0,
            )  # fmt: skip
        finally:
            os.close(fd)
        self._to_child = self._child.stdin.fileno()
        self._from_child = self._child.stdout.fileno()
        self._sent = 0  # slots handed over
        self._freed = 0  # slots the child is done with
        self._filled = 0  # bytes in the slot being filled
        self._size = 0  # bytes given
        self._digest: Optional[str] = None

    @classmethod
    def start(cls):
        """A ChildSha256, or hashlib's sha256 where none can be started."""
        try:
            return cls()
        except (OSError, ValueError, AttributeError):  # no memfd, no interpreter
            return hashlib.sha256()

    def update(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self.failure is None:
            if not self._filled:
                while self._sent - self._freed >= _SLOTS and self.failure is None:
                    self._wait_for_slot()
                if self.failure is not None:
                    return
            offset = (self._sent % _SLOTS) * _SLOT + self._filled
            part = view[: _SLOT - self._filled]
            view = view[len(part) :]
            self._ring[offset : offset + len(part)] = part
            self._filled += len(part)
            self._size += len(part)
            if self._filled == _SLOT:
                self._hand_over()

    def _hand_over(self) -> None:
        if self._filled and self.failure is None:
            self._send((self._sent % _SLOTS) * _SLOT, self._filled)
            self._sent += 1
            self._filled = 0

    def _send(self, offset: int, length: int) -> None:
        try:
            os.write(self._to_child, _MESSAGE.pack(offset, length))
        except OSError as error:
            self._fail(f"the hashing process took no more ({error})")

    def _wait_for_slot(self) -> None:
        try:
            freed = os.read(self._from_child, 4096)
        except OSError as error:
            freed = b""
            self._fail(f"the hashing process did not answer ({error})")
        if not freed:
            self._fail("the hashing process ended early")
        self._freed += freed.count(b"+")

    def _fail(self, why: str) -> None:
        if self.failure is None:
            self.failure = why
            self._child.kill()

    def hexdigest(self) -> Optional[str]:
        if self._digest is None and self.failure is None:
            self._hand_over()
            self._send(0, 0)
            answer = b""
            while self.failure is None and not answer.endswith(b"\n"):
                try:
                    more = os.read(self._from_child, 4096)
                except OSError:
                    more = b""
                if not more:
                    self._fail("the hashing process ended before its answer")
                answer += more
            if self.failure is None:
                digest, _, size = answer.lstrip(b"+").strip().partition(b" ")
                if size == str(self._size).encode() and len(digest) == 64:
                    self._digest = digest.decode()
                else:
                    self._fail(f"the hashing process answered {answer[-100:]!r}")
            self.close()
        return self._digest

    def close(self) -> None:
        """Ends the child (also when nothing was hashed); idempotent."""
        for pipe in (self._child.stdin, self._child.stdout):
            pipe.close()
        self._child.wait()
        self._ring.close()
