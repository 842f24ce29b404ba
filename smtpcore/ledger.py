"""What a run has written, kept in a temporary file instead of in memory.

Why: every message adds several files to the output folder (its .eml, its
attachments, its report page), each named with its SHA-256 in the manifest, and
its digest, to name the first message with the same bytes. Held in dicts, these
grew with the capture (about 0.7 KB a message: 5 MiB more over 1000 MB than over
200 MB, and ten times that over a 10 GB capture). A private SQLite database holds
them with a page cache of bounded size and gives the files back in name order.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Iterable, Iterator

_SCHEMA = """
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -2048;
CREATE TABLE files (path TEXT NOT NULL, sha256 TEXT NOT NULL);
CREATE TABLE digests (sha256 TEXT PRIMARY KEY, first TEXT NOT NULL) WITHOUT ROWID;
BEGIN;
"""


_BATCH = 512


class Ledger:
    """Files written (relative path -> SHA-256) and messages' first holders.

    The database is SQLite's private temporary file (the empty name): in the
    system's temporary folder ($SQLITE_TMPDIR, $TMPDIR, else /var/tmp or /tmp),
    deleted when closed. It is one transaction that is never committed: nothing
    is synced to disk. Its failures (a full disk) are raised as OSError, as
    those of the output folder are.
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._pending: list[tuple[str, str]] = []

    # Files are appended in the order written, a batch at a time (one statement
    # for many rows, and no index to keep: each batch fills the last pages only),
    # and sorted once, at the end.

    def add_file(self, path: str, sha256: str) -> None:
        self._pending.append((path, sha256))
        if len(self._pending) >= _BATCH:
            self._flush()

    def add_files(self, files: Iterable[tuple[str, str]]) -> None:
        self._pending.extend(files)
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        with _as_os_error():
            self._db.executemany("INSERT INTO files VALUES (?, ?)", self._pending)
        self._pending.clear()

    def files(self) -> Iterator[tuple[str, str]]:
        """(path, SHA-256) of every file, in the order ``sorted()`` gives paths; a
        path given twice, with the digest given last.

        SQLite compares TEXT as UTF-8 bytes, which order as the code points do.
        """
        self._flush()
        with _as_os_error():
            rows = self._db.execute(
                "SELECT path, sha256 FROM files ORDER BY path, rowid"
            )
            last = next(rows, None)
            for row in rows:
                if row[0] != last[0]:
                    yield last
                last = row
        if last is not None:
            yield last

    def first_with(self, sha256: str, message_id: str) -> str:
        """The first message id given with this digest (``message_id`` if none)."""
        with _as_os_error():
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO digests VALUES (?, ?)", (sha256, message_id)
            ).rowcount
            if inserted:
                return message_id
            (first,) = self._db.execute(
                "SELECT first FROM digests WHERE sha256 = ?", (sha256,)
            ).fetchone()
        return first

    def close(self) -> None:
        self._db.close()


@contextlib.contextmanager
def _as_os_error():
    try:
        yield
    except sqlite3.Error as error:
        raise OSError(
            f"the temporary database of the files written: {error}"
        ) from error
