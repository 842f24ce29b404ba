"""SHA-256 of the evidence files, computed in a child process while the work goes on.

Why: hashing 200 MB costs a tenth of a second or more, and the evidence is hashed
twice: the file as it is on disk, for the manifest and the identifiers, here; the
bytes as they are read, to notice a change, by the reading itself (api.read_capture).
"""

from __future__ import annotations

import hashlib
import json
import os
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
