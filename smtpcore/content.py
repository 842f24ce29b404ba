"""Message bytes as they arrive: spooled to disk past a threshold, hashed on the way in."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from typing import BinaryIO, Iterator, Optional

# Messages below this stay in memory; larger ones go to an anonymous temporary file.
SPOOL_THRESHOLD = 4 * 1024 * 1024
# Bytes gathered before they are spooled and hashed. Why: content arrives a TCP
# segment at a time, and three hash updates and a write per segment cost more than
# the hashing itself; a quarter MiB per open message keeps memory small.
_BLOCK = 256 * 1024


class MessageContent:
    """The transferred bytes of one message (after dot-unstuffing or BDAT joining).

    Gaps are recorded as ranges, not filled: the stored bytes are exactly what the
    capture held, and ``missing_ranges`` says where (offset into the message, length)
    bytes were lost.
    """

    def __init__(self, md5_sha1: bool = True) -> None:
        """``md5_sha1``: also hash with MD5 and SHA-1 (SHA-256 always); off when a
        later stage hashes the written .eml instead (the CLI's decoding workers:
        MD5 is the slowest of the three, and the reading process the busiest)."""
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_THRESHOLD)
        self._md5 = hashlib.md5() if md5_sha1 else None
        self._sha1 = hashlib.sha1() if md5_sha1 else None
        self._sha256 = hashlib.sha256()
        self._pending: list[bytes] = []  # written, not yet spooled nor hashed
        self._pending_size = 0
        self.size = 0
        self.missing_ranges: list[tuple[int, int]] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(data)
        self._pending_size += len(data)
        self.size += len(data)
        if self._pending_size >= _BLOCK:
            self._flush()

    def _flush(self) -> None:
        """Spools and hashes what was written since the last time, as one block."""
        if not self._pending:
            return
        pending = self._pending
        block = pending[0] if len(pending) == 1 else b"".join(pending)
        self._pending = []
        self._pending_size = 0
        self._spool.write(block)
        if self._md5 is not None:
            self._md5.update(block)
            self._sha1.update(block)
        self._sha256.update(block)

    def gap(self, length: int) -> None:
        """Bytes were lost here; later bytes follow directly, nothing is invented."""
        self.missing_ranges.append((self.size, length))

    def truncate(self, size: int) -> None:
        """Drops the bytes from ``size`` on (they turned out not to be content) and
        hashes the rest again; only after a smuggling-style end of data."""
        if size >= self.size:
            return
        self._flush()
        self._spool.seek(0)
        if self._md5 is not None:
            self._md5, self._sha1 = hashlib.md5(), hashlib.sha1()
        self._sha256 = hashlib.sha256()
        left = size
        while left:
            block = self._spool.read(min(left, 1024 * 1024))
            if not block:
                break
            if self._md5 is not None:
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
    def md5(self) -> Optional[str]:
        """None when made without ``md5_sha1``."""
        self._flush()
        return None if self._md5 is None else self._md5.hexdigest()

    @property
    def sha1(self) -> Optional[str]:
        """None when made without ``md5_sha1``."""
        self._flush()
        return None if self._sha1 is None else self._sha1.hexdigest()

    @property
    def sha256(self) -> str:
        self._flush()
        return self._sha256.hexdigest()

    def open(self) -> BinaryIO:
        """A readable file object positioned at the start of the message."""
        self._flush()
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
            self._flush()  # the hashes must cover every byte
            self._spool.close()
            self.closed = True
