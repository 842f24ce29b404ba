"""Message bytes as they arrive: spooled to disk past a threshold, hashed on the way in."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from typing import BinaryIO, Iterator

# Messages below this stay in memory; larger ones go to an anonymous temporary file.
SPOOL_THRESHOLD = 4 * 1024 * 1024


class MessageContent:
    """The transferred bytes of one message (after dot-unstuffing or BDAT joining).

    Gaps are recorded as ranges, not filled: the stored bytes are exactly what the
    capture held, and ``missing_ranges`` says where (offset into the message, length)
    bytes were lost.
    """

    def __init__(self) -> None:
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_THRESHOLD)
        self._md5 = hashlib.md5()
        self._sha1 = hashlib.sha1()
        self._sha256 = hashlib.sha256()
        self.size = 0
        self.missing_ranges: list[tuple[int, int]] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._spool.write(data)
        self._md5.update(data)
        self._sha1.update(data)
        self._sha256.update(data)
        self.size += len(data)

    def gap(self, length: int) -> None:
        """Bytes were lost here; later bytes follow directly, nothing is invented."""
        self.missing_ranges.append((self.size, length))

    def truncate(self, size: int) -> None:
        """Drops the bytes from ``size`` on (they turned out not to be content) and
        hashes the rest again; only after a smuggling-style end of data."""
        if size >= self.size:
            return
        self._spool.seek(0)
        self._md5, self._sha1, self._sha256 = (
            hashlib.md5(),
            hashlib.sha1(),
            hashlib.sha256(),
        )
        left = size
        while left:
            block = self._spool.read(min(left, 1024 * 1024))
            if not block:
                break
            self._md5.update(block)
            self._sha1.update(block)
            self._sha256.update(block)
            left -= len(block)
        self._spool.truncate(size)
        self._spool.seek(0, 2)
        self.size = size
        self.missing_ranges = [r for r in self.missing_ranges if r[0] <= size]

    @property
    def missing_bytes(self) -> int:
        return sum(length for _, length in self.missing_ranges)

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    @property
    def sha1(self) -> str:
        return self._sha1.hexdigest()

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def open(self) -> BinaryIO:
        """A readable file object positioned at the start of the message."""
        self._spool.seek(0)
        return self._spool  # type: ignore[return-value]

    def chunks(self, size: int = 1024 * 1024) -> Iterator[bytes]:
        handle = self.open()
        while True:
            block = handle.read(size)
            if not block:
                return
            yield block

    def copy_to(self, destination: BinaryIO) -> None:
        shutil.copyfileobj(self.open(), destination, 1024 * 1024)

    def release(self) -> None:
        """Frees the spool; the hashes and size stay available."""
        if not self.closed:
            self._spool.close()
            self.closed = True
