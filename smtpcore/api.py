"""The documented Python API, shared by the command line and the plaso parser.

import smtpcore.api as smtp

for item in smtp.items("evidence/trace.pcap.gz"):
    if isinstance(item, smtp.Message):
        print(item.mail_from, item.rcpt_to, item.mime.subject)
        smtp.save_message(item, "out/")        # .eml + attachments
    elif isinstance(item, smtp.Credential):
        print(item.mechanism, item.username, item.password, item.hashcat)
    elif isinstance(item, smtp.Session):
        print(item.endpoints, item.helo, item.messages)
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Any, BinaryIO, Callable, Iterator, Optional, Sequence, Union

from smtpcore.capture import NotACapture
from smtpcore.diagnostics import incomplete
from smtpcore.digests import ChildSha256
from smtpcore.model import Credential, Message, Session
from smtpcore.pipeline import Item, extract
from smtpcore.safenames import create_unique, safe_filename
from smtpcore.tls.keylog import KeyLog

__all__ = [
    "Credential",
    "FoundCapture",
    "Message",
    "NotACapture",
    "Session",
    "capture_prefix",
    "digest",
    "extract",
    "find",
    "incomplete",
    "items",
    "load_keylogs",
    "read_capture",
    "save_message",
]

_CHUNK = 1 << 20


def digest(handle: BinaryIO) -> tuple[str, int]:
    """(SHA-256, size) of what is left to read in a binary file, streamed."""
    sha256 = hashlib.sha256()
    size = 0
    while True:
        chunk = handle.read(_CHUNK)
        if not chunk:
            return sha256.hexdigest(), size
        sha256.update(chunk)
        size += len(chunk)


def capture_prefix(sha256: str) -> str:
    """The prefix of every identifier from one capture, taken from its SHA-256.

    The same capture gets the same identifiers whatever else a run reads and in
    whatever order, in smtpcore's files and in plaso alike.
    """
    return f"c{sha256[:12]}-"


# How a session's connection ended (Session.close_reason), in a warning's words.
def _ignore(_: str) -> None:
    pass


def find(inputs: Sequence[str], *, warn: Callable[[str], None] = _ignore, **options):
    """Every capture in the inputs (captures, archives, folders, disk images), in order.

    Options are those of smtpcore.evidence.find_captures (partitions, volumes,
    snapshots, include_deleted).
    """
    from smtpcore.evidence import find_captures  # dfvfs is only needed from here on

    return list(find_captures(list(inputs), warn, **options))


def load_keylogs(
    found: Sequence[Any] = (),
    paths: Sequence[str] = (),
    *,
    warn: Callable[[str], None] = _ignore,
    parent: Optional[KeyLog] = None,
) -> tuple[KeyLog, list[dict[str, Any]]]:
    """One KeyLog from key logs found in the evidence and files named by the user.

    Returns the key log and one manifest entry per file (source, SHA-256, counts).
    """
    keylog = KeyLog(warn, parent=parent)
    for path in paths:
        try:
            with open(path, "rb") as handle:
                keylog.add_file(handle, path)
        except OSError as error:
            warn(f"{path}: key log not read: {error}")
    for entry in found:
        if entry.kind != "keylog":
            continue
        try:
            with entry.open() as handle:
                keylog.add_file(handle, entry.source)
        except OSError as error:
            warn(f"{entry.source}: key log not read: {error}")
    return keylog, list(keylog.sources)


def __getattr__(name: str) -> Any:
    if name == "FoundCapture":
        from smtpcore.evidence import FoundCapture

        return FoundCapture
    raise AttributeError(name)


def items(
    source: Union[str, os.PathLike, BinaryIO],
    *,
    warn: Callable[[str], None] = _ignore,
    mime: bool = True,
    payloads: bool = False,
    keylog: Optional[KeyLog] = None,
) -> Iterator[Item]:
    """Sessions, messages and credentials from any input that find() takes, or a file.

    Messages come with ``content`` readable (and attachment payloads if asked) until
    the next item is requested; see smtpcore.pipeline.extract. TLS sessions are
    decrypted with ``keylog`` and with the key logs found in a folder or image.
    """
    if hasattr(source, "read"):
        name = getattr(source, "name", "<file object>")
        prefix = "c1-"
        if getattr(source, "seekable", lambda: False)():
            start = source.tell()
            prefix = capture_prefix(digest(source)[0])
            source.seek(start)
        yield from extract(
            source,
            source=str(name),
            warn=warn,
            mime=mime,
            payloads=payloads,
            session_prefix=prefix,
            keylog=keylog,
        )
        return
    found = find([os.fspath(source)], warn=warn)
    if any(entry.kind == "keylog" for entry in found):
        keylog, _ = load_keylogs(found, warn=warn, parent=keylog)
    for capture in found:
        if capture.kind == "keylog":
            continue
        try:
            with capture.open() as handle:
                prefix = capture_prefix(digest(handle)[0])
            with capture.open() as handle:
                yield from extract(
                    handle,
                    source=capture.source,
                    warn=warn,
                    mime=mime,
                    payloads=payloads,
                    session_prefix=prefix,
                    keylog=keylog,
                )
        except (NotACapture, OSError) as error:  # one bad capture never stops the rest
            warn(f"{capture.source}: not read: {error}")


class _HashingReader:
    """Passes reads through, hashing and counting what the capture reader consumed.

    ``sha256`` is hashlib's, or a ``digests.ChildSha256`` (on a helper thread
    of this process the GIL hand-overs cost more than the hashing).
    """

    def __init__(self, handle: BinaryIO, sha256):
        self._handle = handle
        self.sha256 = sha256
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        return True


def read_capture(
    capture,
    *,
    on_item: Callable[[Item], None],
    warn: Callable[[str], None] = _ignore,
    session_prefix: str | Callable[[bool], Optional[str]] = "",
    mime: bool = True,
    payloads: bool = False,
    progress: Optional[Callable[[int], None]] = None,
    expected_sha256: str | Callable[[], Optional[str]] | None = None,
    keylog: Optional[KeyLog] = None,
    md5_sha1: bool = True,
    hash_in_child: bool = False,
) -> dict[str, Any]:
    """Runs one found capture through the pipeline; returns its manifest entry.

    Problems with the capture, and every incomplete record, are reported through
    ``warn`` and in the entry's ``status``; this never raises for bad input.
    ``expected_sha256`` (from an earlier pass, or a callable giving it once the
    capture is read) is checked against the bytes read. ``session_prefix`` may be
    a callable, as `pipeline.extract` takes it, while that pass is still going on;
    ``md5_sha1`` is passed on to it. With ``hash_in_child`` the bytes read are
    hashed by a child process (``digests.ChildSha256``), not by this thread.
    """
    entry: dict[str, Any] = {"source": capture.source, "kind": capture.kind}
    if session_prefix:  # a callable's prefix is filled in at the end, in this place
        entry["id"] = (
            session_prefix.rstrip("-") if isinstance(session_prefix, str) else None
        )
    problems: list[str] = []

    def note(message: str) -> None:
        problems.append(message)
        warn(f"{capture.source}: {message}")

    def take(item: Item) -> None:
        on_item(item)  # the pipeline has warned about it if it is incomplete

    sha256 = ChildSha256.start() if hash_in_child else hashlib.sha256()
    try:
        with capture.open() as handle:
            reader = _HashingReader(handle, sha256)
            for item in extract(
                reader,
                source=capture.source,
                warn=note,
                mime=mime,
                payloads=payloads,
                session_prefix=session_prefix,
                progress=progress,
                keylog=keylog,
                md5_sha1=md5_sha1,
            ):
                take(item)
            # Hash the rest too, so the manifest's SHA-256 covers the whole file.
            while reader.read(1 << 20):
                pass
        entry["size"] = reader.size
        entry["sha256"] = sha256.hexdigest()
        if callable(expected_sha256):
            expected_sha256 = expected_sha256()
        if entry["sha256"] is None:  # the hashing process failed
            entry["sha256"] = expected_sha256
            note(
                f"the bytes read were not hashed ({sha256.failure}): "
                + (
                    "the SHA-256 is the file's, not checked against what was read"
                    if expected_sha256
                    else "no SHA-256"
                )
            )
        elif expected_sha256 is not None and entry["sha256"] != expected_sha256:
            note(
                f"changed while being read: SHA-256 {expected_sha256} before, "
                f"{entry['sha256']} while extracting"
            )
    except NotACapture as error:
        note(f"not a readable capture: {error}")
    except OSError as error:
        note(f"cannot be read: {error}")
    finally:
        if isinstance(sha256, ChildSha256):
            sha256.close()
    if callable(session_prefix):
        entry["id"] = session_prefix(True).rstrip("-")
    entry["status"] = "damaged" if problems else "ok"
    entry["warnings"] = len(problems)
    return entry


def save_message(
    message: Message, folder: Union[str, os.PathLike]
) -> list[pathlib.Path]:
    """Writes a message's .eml and attachment files into folder; never overwrites.

    Call it while the message is the current item of ``items(..., payloads=True)``.
    """
    root = pathlib.Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    if message.content is not None and not message.content.closed:
        path, handle = create_unique(root, safe_filename(f"{message.id}.eml"))
        with handle:
            message.content.copy_to(handle)
        written.append(path)
    for attachment in message.mime.attachments if message.mime else []:
        if attachment.payload is not None:
            name = safe_filename(attachment.filename, default="attachment")
            path, handle = create_unique(root, name)
            with handle:
                handle.write(attachment.payload)
            written.append(path)
    return written
