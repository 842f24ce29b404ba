"""Writes extraction results into an output folder, following the documented contract.

Every file is created exclusively (never overwritten), every name is sanitised, and
every byte written is hashed on the way out for the manifest.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import pathlib
import shutil
from typing import Any, BinaryIO, Iterator, Optional

from smtpcore import crack, records, tables, timeline
from smtpcore.ledger import Ledger
from smtpcore.model import Credential, Message, MimeInfo, Session
from smtpcore.report import PAGES, ReportBuilder
from smtpcore.safenames import create_unique, safe_filename


class OutputError(Exception):
    """The output folder cannot be used."""


# One encoder for every JSON line: json.dumps with options builds a new one per call.
_JSON_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False)


class _HashingWriter:
    """A write-only file that hashes what passes through it.

    Small writes (a JSON line, a CSV row) are gathered into 64 KiB blocks before they
    are hashed and written: one hash update and one write call per block, not per line.
    """

    _BLOCK = 1 << 16

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self.sha256 = hashlib.sha256()
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> int:
        if len(data) >= self._BLOCK:
            self._flush()
            self.sha256.update(data)
            return self._handle.write(data)
        self._pending.append(data)
        self._size += len(data)
        if self._size >= self._BLOCK:
            self._flush()
        return len(data)

    def _flush(self) -> None:
        if self._pending:
            block = b"".join(self._pending)
            self._pending, self._size = [], 0
            self.sha256.update(block)
            self._handle.write(block)

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self._handle.close()


def _json_line(record: dict[str, Any]) -> bytes:
    return _JSON_LINE.encode(record).encode("utf-8") + b"\n"


def event_lines(item: Session | Message | Credential, record: dict[str, Any]) -> bytes:
    """The record's lines of timesketch.jsonl: each event's head, then the record's
    fields, encoded once for all its events (a message's or session's two events
    carry the same fields: encoding them twice was a tenth of the time of a
    message's lines). Each line is the bytes of its event encoded whole."""
    heads = timeline.heads(item, record)
    if not heads:
        return b""
    fields = timeline.fields(record)
    if not fields or not fields.keys().isdisjoint(heads[0]):
        return b"".join(_json_line({**head, **fields}) for head in heads)
    rest = ("," + _JSON_LINE.encode(fields)[1:] + "\n").encode("utf-8")
    return b"".join(
        _JSON_LINE.encode(head)[:-1].encode("utf-8") + rest for head in heads
    )


def _manifest_text(
    manifest: dict[str, Any], files: Iterator[tuple[str, str]]
) -> Iterator[str]:
    """The manifest with ``files`` last, as ``json.dumps(indent=2,
    ensure_ascii=False)`` and a newline write it, in pieces: the files, one per
    line, are never all in memory."""
    rest = {key: value for key, value in manifest.items() if key != "files"}
    head = json.dumps(dict(rest, files={}), indent=2, ensure_ascii=False)
    yield head[: -len("{}\n}")]  # the files come last: all up to '"files": '
    empty = True
    for path, sha256 in files:
        yield ("{\n    " if empty else ",\n    ") + (
            _JSON_TEXT.encode(path) + ": " + _JSON_TEXT.encode(sha256)
        )
        empty = False
    yield "{}\n}\n" if empty else "\n  }\n}\n"


def message_lines(
    message: Message, source: str
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A message's record, and what it adds to each table of the folder.

    A function of the message alone, so that a worker process can make it while
    the main process goes on reading.
    """
    record = records.message_record(message, source)
    lines = {
        "messages.jsonl": _json_line(record),
        "messages.csv": tables.csv_line(tables.message_row(record)),
    }
    rows = [tables.csv_line(row) for row in tables.attachment_rows(record)]
    if rows:
        lines["attachments.csv"] = b"".join(rows)
    saved = [a for a in record["attachments"] if a["path"] is not None]
    if saved:  # md5sum -c / sha256sum -c in OUTDIR
        for algorithm in ("md5", "sha256"):
            lines[f"attachments.{algorithm}"] = "".join(
                f"{a[algorithm]}  {a['path']}\n" for a in saved
            ).encode()
    events = event_lines(message, record)
    if events:
        lines["timesketch.jsonl"] = events
    return record, lines


class OutputFolder:
    """The output folder of one extraction run."""

    def __init__(self, root: pathlib.Path, *, force: bool = False):
        self.root = root
        self._force = force
        try:
            self._start(root, force)
        except OSError as error:
            raise OutputError(
                f"cannot write into {root}: {error.strerror or error}"
            ) from error

    def _start(self, root: pathlib.Path, force: bool) -> None:
        if root.exists():
            if not root.is_dir():
                raise OutputError(f"{root} exists and is not a folder")
            if any(root.iterdir()) and not force:
                raise OutputError(
                    f"{root} is not empty: choose a new folder or add --force"
                )
        else:
            parent = root.absolute().parent
            if not parent.is_dir():
                existing = parent
                while not existing.exists() and existing != existing.parent:
                    existing = existing.parent
                why = (
                    f"{existing} is a file, not a folder"
                    if existing.exists() and not existing.is_dir()
                    else f"the folder {parent} does not exist"
                )
                raise OutputError(
                    f"cannot create {root}: {why}; create the parent folder first "
                    "or choose another OUTDIR"
                )
        root.mkdir(exist_ok=True)
        if force:  # an earlier run's files go; only the names this contract uses
            for folder in ("eml", "attachments", PAGES):
                shutil.rmtree(root / folder, ignore_errors=True)
            for pattern in ("credentials.*.hashcat", "credentials.*.john"):
                for old in root.glob(pattern):
                    old.unlink()
        self._ledger = Ledger()  # files written, for the manifest; message digests
        self._folders: set[pathlib.Path] = {root}  # made: one mkdir each, not per file
        self.counts = collections.Counter()
        # Crackable lines go straight to their file, one per hashcat mode or john
        # format; credentials.hashcat is put together from them at the end.
        self._crackable: dict[str, _HashingWriter] = {}  # relative path -> writer
        self._hashcat_modes: set[int] = set()
        self._report = ReportBuilder(self.root, self._open, self._finish_file)
        self._jsonl = {
            name: self._open(name)
            for name in (
                "sessions.jsonl",
                "messages.jsonl",
                "credentials.jsonl",
                "timesketch.jsonl",
                "attachments.md5",
                "attachments.sha256",
            )
        }
        self._csv = {}
        for name, columns in (
            ("messages.csv", tables.MESSAGE_COLUMNS),
            ("sessions.csv", tables.SESSION_COLUMNS),
            ("credentials.csv", tables.CREDENTIAL_COLUMNS),
            ("attachments.csv", tables.ATTACHMENT_COLUMNS),
        ):
            writer = self._jsonl[name] = self._open(name)
            writer.write(b"\xef\xbb\xbf" + tables.csv_line(columns))  # BOM: UTF-8

    def _folder(self, folder: pathlib.Path) -> None:
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(folder)

    def _open(self, relative: str) -> _HashingWriter:
        path = self.root / relative
        self._folder(path.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        if self._force and path.is_file():
            path.unlink()  # --force: a file of an earlier run is replaced, knowingly
        handle = os.fdopen(os.open(path, flags, 0o644), "wb")
        return _HashingWriter(handle)

    def _finish_file(self, relative: str, writer: _HashingWriter) -> None:
        writer.close()
        self._ledger.add_file(relative, writer.sha256.hexdigest())

    def _write_line(self, name: str, record: dict[str, Any]) -> None:
        self._jsonl[name].write(_json_line(record))

    def _write_row(self, name: str, row: list[str]) -> None:
        self._jsonl[name].write(tables.csv_line(row))

    def _write_events(self, item: Session | Message | Credential, record) -> None:
        events = event_lines(item, record)
        if events:
            self._jsonl["timesketch.jsonl"].write(events)

    def add(self, item: Session | Message | Credential, source: str) -> None:
        if isinstance(item, Message):
            self.add_message(item, source)
        elif isinstance(item, Credential):
            self.add_credential(item)
        else:
            self.add_session(item)

    def add_message(self, message: Message, source: str) -> None:
        """Writes the .eml and attachments (while the content is still readable)."""
        self.mark_same_bytes(message)
        self.write_eml(message)
        if message.mime is not None:
            self.add_written(write_attachments(self.root, message.id, message.mime))
        self.record_message(message, source)

    def write_eml(self, message: Message) -> None:
        """The message exactly as transferred, while its content is readable."""
        if message.content is not None and not message.content.closed:
            directory = self.root / "eml"
            self._folder(directory)
            path, handle = create_unique(directory, f"{message.id}.eml")
            with handle:
                message.content.copy_to(handle)
            relative = path.relative_to(self.root).as_posix()
            # The file is the content byte for byte, hashed as it arrived.
            self._ledger.add_file(relative, message.content.sha256)
            message.eml_path = relative
            self.counts["eml"] += 1

    def add_written(self, written: dict[str, str]) -> None:
        """Files written for this folder elsewhere (attachments, by a worker)."""
        self._ledger.add_files(written.items())
        self.counts["attachments"] += len(written)

    def mark_same_bytes(self, message: Message) -> None:
        """Names the first message with the same bytes (fetched or sent again: each
        has its own file); in the order messages are yielded, whoever asks first."""
        if message.data_sent and message.sha256 is not None:
            first = self._ledger.first_with(message.sha256, message.id)
            if first != message.id:
                message.same_bytes_as = first

    def record_message(
        self,
        message: Message,
        source: str,
        page: Optional[tuple[str, str]] = None,
        prepared: Optional[tuple[dict[str, Any], dict[str, bytes]]] = None,
    ) -> None:
        """The message's line in messages.jsonl and its place in the report.

        ``page`` is its report page (path, SHA-256) and ``prepared`` its
        ``message_lines``, when a worker made them. ``mark_same_bytes`` was called
        before, as the message came.
        """
        self.counts["messages"] += 1
        if page is not None:
            self._ledger.add_file(*page)
        record, lines = prepared or message_lines(message, source)
        for name, data in lines.items():
            self._jsonl[name].write(data)
        self._report.add_message(record, message.mime, page[0] if page else None)

    def add_session(self, session: Session) -> None:
        self.counts["sessions"] += 1
        record = records.session_record(session)
        self._write_line("sessions.jsonl", record)
        self._write_row("sessions.csv", tables.session_row(record))
        self._write_events(session, record)
        self._report.add_session(record)

    def add_credential(self, credential: Credential) -> None:
        self.counts["credentials"] += 1
        record = records.credential_record(credential)
        self._write_line("credentials.jsonl", record)
        self._write_row("credentials.csv", tables.credential_row(record))
        self._write_events(credential, record)
        self._report.add_credential(record)
        if credential.hashcat and credential.hashcat_mode is not None:
            self._hashcat_modes.add(credential.hashcat_mode)
            self._add_crackable(
                crack.hashcat_file(credential.hashcat_mode), credential.hashcat
            )
        if record["john"]:
            self._add_crackable(crack.john_file(record["john_format"]), record["john"])

    def _add_crackable(self, relative: str, line: str) -> None:
        writer = self._crackable.get(relative)
        if writer is None:
            writer = self._crackable[relative] = self._open(relative)
        writer.write(line.encode("utf-8") + b"\n")

    def add_existing(self, relative: str) -> None:
        """A file written into the folder by someone else (the log), for the manifest."""
        digest = hashlib.sha256()
        with open(self.root / relative, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        self._ledger.add_file(relative, digest.hexdigest())

    def close(self, manifest: dict[str, Any], warnings: list[str]) -> None:
        """Writes the closing files, the manifest last."""
        for name, writer in self._jsonl.items():
            self._finish_file(name, writer)
        for name, writer in self._crackable.items():
            self._finish_file(name, writer)
        writer = self._open("credentials.hashcat")
        for mode in sorted(self._hashcat_modes):
            writer.write(f"# hashcat -m {mode}\n".encode())
            with open(self.root / crack.hashcat_file(mode), "rb") as lines:
                shutil.copyfileobj(lines, writer, 1 << 16)
        self._finish_file("credentials.hashcat", writer)
        writer = self._open("report.html")
        self._report.write(writer, warnings)
        self._finish_file("report.html", writer)
        manifest = dict(manifest, counts=dict(sorted(self.counts.items())))
        writer = self._open("manifest.json")
        for text in _manifest_text(manifest, self._ledger.files()):
            writer.write(text.encode("utf-8"))
        writer.close()
        self._ledger.close()


def write_attachments(
    root: pathlib.Path, message_id: str, mime: MimeInfo
) -> dict[str, str]:
    """Writes a message's attachment payloads; returns {relative path: SHA-256}.

    A module-level function so that a worker process can run it too: each message
    has a folder of its own, so workers never write into the same one.
    """
    written = {}
    folder = root / "attachments" / safe_filename(message_id)
    for attachment in mime.attachments:
        if attachment.payload is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path, handle = create_unique(
            folder, safe_filename(attachment.filename, default="attachment")
        )
        with handle:
            handle.write(attachment.payload)
        attachment.path = path.relative_to(root).as_posix()
        written[attachment.path] = attachment.sha256
    return written


def write_page(root: pathlib.Path, relative: str, blocks) -> str:
    """Writes a new file of the folder (a report page, in a worker) from blocks of
    bytes; returns its SHA-256. Created exclusively, like every file of the folder."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    writer = _HashingWriter(os.fdopen(os.open(path, flags, 0o644), "wb"))
    try:
        for block in blocks:
            writer.write(block)
    finally:
        writer.close()
    return writer.sha256.hexdigest()
