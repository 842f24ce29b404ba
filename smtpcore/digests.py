"""SHA-256 of the evidence, computed on a thread of its own while the work goes on.

Why: hashing 200 MB costs a tenth of a second or more, and the evidence is hashed
twice (the file as it is on disk before reading, for the manifest and the identifiers;
the bytes as they are read, to notice a change). ``hashlib`` releases the GIL on large
updates, so on a second core the hashing costs next to no time of the reading thread.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from typing import Optional, Sequence

_CHUNK = 1 << 20


class OrderedSha256:
    """A SHA-256 fed in order, the large blocks hashed on a helper thread while the
    caller goes on. One thread for the whole stream (starting a thread per block
    costs more than hashing it on a busy machine); at most two blocks wait, so
    memory stays two blocks."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._queue: Optional[queue.Queue] = None

    def update(self, data: bytes) -> None:
        """``data`` must not change afterwards (bytes, not a bytearray)."""
        if self._queue is None:
            if len(data) < 64 * 1024:  # small inputs: not worth a thread
                self._sha256.update(data)
                return
            self._queue = queue.Queue(maxsize=2)
            threading.Thread(target=self._run, daemon=True).start()
        self._queue.put(data)

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self._sha256.update(data)
            self._queue.task_done()
        self._queue.task_done()

    def hexdigest(self) -> str:
        """The digest of everything given so far; the helper thread ends here."""
        if self._queue is not None:
            self._queue.put(None)
            self._queue.join()
            self._queue = None
        return self._sha256.hexdigest()


class FileDigests:
    """Hashes files one after the other on a thread started at once; ask for each
    file's result when it is needed."""

    def __init__(self, paths: Sequence[str]) -> None:
        self._paths = list(paths)
        self._results: dict[str, tuple[str, int] | OSError] = {}
        self._done = {path: threading.Event() for path in self._paths}
        self.position = 0  # bytes hashed so far, all files together
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for path in self._paths:
            if path in self._results:
                continue
            try:
                self._hash(path)
            finally:
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


def total_size(paths: Sequence[str]) -> int:
    """The bytes of the files that exist, for a progress bar."""
    total = 0
    for path in paths:
        try:
            total += os.path.getsize(path)
        except OSError:
            pass
    return total
