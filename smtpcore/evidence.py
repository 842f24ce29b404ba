"""Find packet captures in files, folders, archives, disk images and evidence containers.

Captures, archives and disk images are recognised by their content, never by name, so a
capture renamed to ``notes.txt`` is found. Disk images (raw, split raw, EWF, VMDK, QCOW2, VHD, ...), their
volume systems (MBR, GPT, LVM, APFS containers, VSS) and file systems (NTFS, ext, FAT,
HFS+, APFS, XFS, ...) are opened read-only through dfvfs, following the
``VolumeScanner`` idiom of plaso's storage media tool. Deleted files that the file
system still reaches are found through The Sleuth Kit where it supports the file system.

Archives (tar, tar.gz, zip; see smtpcore.archives) are opened wherever they are found:
given as an input, in a folder, inside a disk image or inside another archive, up to
``MAX_ARCHIVE_DEPTH`` archives deep. Disk images found in a folder are opened like
images given as inputs; images inside images or archives are not opened.

A capture's ``source`` says where it came from, one ``:`` per container:
``case.tgz:/pcaps/smtp.pcap`` (archive, then the member), ``disk.E01:/p1/Mail/x.pcap``
(image, then the volume and the path in its file system), and both nested, as in
``disk.E01:/p1/case.zip:/smtp.pcap``.

Only a small head of each file is read while scanning; the capture itself is streamed
later through ``FoundCapture.open``.

Error policy: an input that does not exist or cannot be read raises
``EvidenceError`` before anything is yielded (the command line is wrong). A readable
input that is neither a capture, an archive, a folder nor something dfvfs recognises
produces a warning, as do unreadable entries inside folders and images, damaged archives
(whose readable members are still reported) and archives nested too deep; scanning goes
on. Files in a folder that are none of these are skipped silently.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

from smtpcore import archives
from smtpcore.archives import (  # noqa: F401 - MAX_ARCHIVE_DEPTH belongs to the API
    HEAD_SIZE,
    MAX_ARCHIVE_DEPTH,
    archive_kind,
    close_quietly as _close_quietly,
    inflate_head as _inflate_head,
    short_error as _short,
)
from smtpcore.capture import identify
from smtpcore.tls.keylog import looks_like_keylog

MIN_IMAGE_SIZE = 512
"""Files in a folder smaller than one sector are not tried as disk images."""

# Volume-system path specs whose location ("/p1", "/apfs1", "/vss2") names the
# partition, volume or snapshot in a human-readable source.
_VOLUME_TYPES = frozenset(
    ("APFS_CONTAINER", "CS", "GPT", "LVM", "TSK_PARTITION", "VSHADOW", "APM")
)
# File system types whose deleted entries The Sleuth Kit can list.
_TSK_READABLE_TYPES = frozenset(("EXT", "FAT", "HFS", "NTFS", "TSK"))


class EvidenceError(Exception):
    """An input cannot be read; the message says what to do."""


@dataclasses.dataclass(slots=True)
class FoundCapture:
    """One capture found in the evidence.

    Attributes:
      source: human-readable location: a plain path, ``IMAGE:/p1/dir/file.pcap``
          for a file inside an image (volume labels, then the path in the file
          system), suffixed `` (deleted)`` for a deleted file, and
          ``ARCHIVE:/member/path`` for an archive member, nested as the containers are.
      size: stored size in bytes (of the compressed file for ``gzip``; of the member
          as extracted from an archive), if known.
      open: opens a fresh binary file object on the stored bytes; the caller closes it.
      kind: ``pcap``, ``pcapng`` or ``gzip`` (a gzip stream holding a capture);
          ``keylog`` for a TLS key log (NSS format, recognised by content).
    """

    source: str
    size: int | None
    open: Callable[[], BinaryIO]
    kind: str


def is_capture_head(head: bytes) -> str | None:
    """Tells whether the first bytes of a file are those of a packet capture.

    A gzip stream counts only when its decompressed start is a pcap or pcapng, so
    compressed logs and archives are not mistaken for captures.

    Args:
      head: the first bytes of the file (``HEAD_SIZE`` is enough).

    Returns:
      ``'pcap'``, ``'pcapng'``, ``'gzip'`` (holding a capture) or None.
    """
    kind = identify(head)
    if kind is None and 6 <= len(head) < 24:
        # The whole file is shorter than a pcap header, with its magic and version:
        # a capture cut short, which the reader reports as damage.
        if identify(bytes(head).ljust(24, b"\0")) == "pcap":
            return "pcap"
    if kind != "gzip":
        return kind
    inner = identify(_inflate_head(head))
    return "gzip" if inner in ("pcap", "pcapng") else None


def find_captures(
    inputs: Sequence[str],
    warn: Callable[[str], None],
    *,
    partitions: str = "all",
    volumes: str = "all",
    snapshots: str = "none",
    include_deleted: bool = True,
    skipped: Callable[[str, str], None] | None = None,
    tsk_stall_seconds: float | None = None,
) -> Iterator[FoundCapture]:
    """Yields every capture in the inputs, in a deterministic order.

    Args:
      inputs: capture files, archives, folders, disk images or evidence containers.
      warn: receives one line per problem that does not stop the scan.
      partitions: ``all`` or a comma-separated list such as ``p1,p2``.
      volumes: ``all`` or a comma-separated list such as ``apfs1`` or ``lvm2``.
      snapshots: ``none``, ``all`` or a comma-separated list of VSS stores (``1,2``).
      include_deleted: also report deleted files the file system still reaches.
      skipped: receives (path, reason) for each input, and each file of an input
          folder, that is neither a capture, an archive nor a disk image: not
          damage, so not a warning. Without it, such inputs are warned about and
          folder files pass silently.
      tsk_stall_seconds: how long one TSK call of the deleted-file search may take
          before what it reads is given up (``tskwatch.STALL_SECONDS`` if None).

    Yields:
      FoundCapture for each capture and key log, inputs in the order given.

    Raises:
      EvidenceError: if an input does not exist or cannot be read, or a partition,
          volume or snapshot selection matches nothing in an image.
    """
    for path in inputs:
        _check_readable(path)
    selection = _Selection(partitions, volumes, snapshots)
    deleted_stall = None  # the deleted-file search's limit; None: no search
    if include_deleted:
        from smtpcore import tskwatch

        deleted_stall = tsk_stall_seconds or tskwatch.STALL_SECONDS
        if not deleted_stall > 0:
            raise ValueError(f"tsk_stall_seconds must be positive: {deleted_stall}")
    for path in inputs:
        if os.path.isdir(path):
            yield from _walk_folder(path, warn, selection, deleted_stall, skipped)
            continue
        head = _file_head(path, warn)
        if head is None:
            continue
        if _is_capture_or_archive(head):
            yield from _examine(path, head, _file_opener(path), _file_size(path), warn)
            continue
        found_any_volume = yield from _scan_image(path, warn, selection, deleted_stall)
        if not found_any_volume:
            why = (
                "neither a packet capture (pcap, pcapng, gzip), an archive (tar, "
                "tar.gz, zip) nor a disk image or file system that dfvfs recognises"
            )
            if skipped is not None:
                skipped(path, why)
            else:
                warn(f"{path}: {why}; skipped")


def _check_readable(path: str) -> None:
    """Rejects inputs the user must fix before anything is scanned."""
    if not os.path.exists(path):
        raise EvidenceError(f"{path}: no such file or folder; check the path")
    if os.path.isdir(path):
        if not os.access(path, os.R_OK | os.X_OK):
            raise EvidenceError(f"{path}: folder not readable; check its permissions")
        return
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as error:
        raise EvidenceError(
            f"{path}: cannot be read ({error.strerror or error}); check permissions "
            f"or give a copy of the evidence"
        ) from error


def _file_head(path: str, warn: Callable[[str], None]) -> bytes | None:
    """Reads the head of a file on disk; None (after a warning) if it cannot."""
    try:
        with open(path, "rb") as handle:
            return handle.read(HEAD_SIZE)
    except OSError as error:
        warn(f"{path}: unreadable, skipped ({error.strerror or error})")
        return None


def _file_size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _file_opener(path: str) -> Callable[[], BinaryIO]:
    return lambda: open(path, "rb")


def _is_capture_or_archive(head: bytes) -> bool:
    """A capture, an archive, or a TLS key log (used for every capture of the run)."""
    return (
        is_capture_head(head) is not None
        or archive_kind(head) is not None
        or looks_like_keylog(head)
    )


def _examine(
    source: str,
    head: bytes,
    opener: Callable[[], BinaryIO],
    size: int | None,
    warn: Callable[[str], None],
    depth: int = 0,
) -> Iterator[FoundCapture]:
    """Yields the file itself if it is a capture, or the captures in it if an archive.

    Args:
      depth: how many archives enclose this file.
    """
    kind = is_capture_head(head)
    if kind is None and looks_like_keylog(head):
        kind = "keylog"
    if kind is not None:
        yield FoundCapture(source=source, size=size, open=opener, kind=kind)
        return
    kind = archive_kind(head)
    if kind is not None:
        yield from archives.walk(kind, source, opener, warn, depth, _examine)


def _walk_folder(
    root: str,
    warn: Callable[[str], None],
    selection: _Selection,
    deleted_stall: float | None,
    skipped: Callable[[str, str], None] | None = None,
) -> Iterator[FoundCapture]:
    """Walks a folder depth-first in name order, never following symbolic links.

    Captures and archives are recognised by their head; any other file of at least
    one sector is tried as a disk image, and is skipped silently if dfvfs finds no
    volume or file system in it (so text and continuation segments of a split image
    stay quiet).
    """
    real_root = os.path.realpath(root)
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as error:
            warn(f"{folder}: folder unreadable, skipped ({error.strerror or error})")
            continue
        subfolders = []
        for entry in entries:
            try:
                if entry.is_symlink():
                    _note_symlink(entry.path, real_root, warn)
                elif entry.is_dir(follow_symlinks=False):
                    subfolders.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield from _folder_file(
                        entry.path, warn, selection, deleted_stall, skipped
                    )
            except OSError as error:
                warn(f"{entry.path}: unreadable, skipped ({error.strerror or error})")
        pending.extend(reversed(subfolders))


def _folder_file(
    path, warn, selection, deleted_stall, skipped=None
) -> Iterator[FoundCapture]:
    """Yields the captures of one file met in a folder walk."""
    head = _file_head(path, warn)
    if head is None:
        return
    if _is_capture_or_archive(head):
        yield from _examine(path, head, _file_opener(path), _file_size(path), warn)
        return
    if _is_ewf_continuation(head):
        return
    found_any_volume = False
    if (_file_size(path) or 0) >= MIN_IMAGE_SIZE:
        try:
            found_any_volume = yield from _scan_image(
                path, warn, selection, deleted_stall
            )
        except EvidenceError as error:  # a selection that fits other images only
            warn(f"{error}; image skipped")
            return
    if not found_any_volume and skipped is not None:
        skipped(path, "not a packet capture, archive or disk image")


def _is_ewf_continuation(head: bytes) -> bool:
    """EWF segments after the first (.E02...) are read with the first, not alone."""
    if head[:8] not in (b"EVF\x09\x0d\x0a\xff\x00", b"LVF\x09\x0d\x0a\xff\x00"):
        return False
    return int.from_bytes(head[9:11], "little") > 1


def _note_symlink(path: str, real_root: str, warn: Callable[[str], None]) -> None:
    """Warns about links leaving the tree; links inside it are found by their target."""
    target = os.path.realpath(path)
    if os.path.commonpath([target, real_root]) != real_root:
        warn(f"{path}: symbolic link out of the folder not followed ({target})")


@dataclasses.dataclass(frozen=True, slots=True)
class _Selection:
    """Partition, volume and snapshot choices in plaso's option syntax."""

    partitions: str
    volumes: str
    snapshots: str

    @staticmethod
    def _split(value: str) -> list[str]:
        return [part.strip() for part in value.split(",") if part.strip()]

    def scanner_options(self):
        """Builds dfvfs scanner options (non-interactive: everything is decided)."""
        from dfvfs.helpers import volume_scanner

        options = volume_scanner.VolumeScannerOptions()
        options.partitions = self._split(self.partitions) or ["all"]
        options.volumes = self._split(self.volumes) or ["all"]
        options.snapshots = self._split(self.snapshots) or ["none"]
        options.scan_mode = options.SCAN_MODE_ALL
        return options


def _make_mediator(source: str, selection: _Selection, warn: Callable[[str], None]):
    """Builds a dfvfs mediator that never prompts: it explains and stops instead."""
    from dfvfs.helpers import volume_scanner

    class _NonInteractiveMediator(volume_scanner.VolumeScannerMediator):
        def _refuse(self, what: str, option: str, value: str, identifiers) -> None:
            available = ", ".join(identifiers) or "none"
            raise EvidenceError(
                f"{source}: {what} selection {value!r} matches nothing; available: "
                f"{available}; choose with {option}"
            )

        def GetAPFSVolumeIdentifiers(self, volume_system, volume_identifiers):
            self._refuse("volume", "--volumes", selection.volumes, volume_identifiers)

        def GetLVMVolumeIdentifiers(self, volume_system, volume_identifiers):
            self._refuse("volume", "--volumes", selection.volumes, volume_identifiers)

        def GetPartitionIdentifiers(self, volume_system, volume_identifiers):
            self._refuse(
                "partition", "--partitions", selection.partitions, volume_identifiers
            )

        def GetVolumeIdentifiers(self, volume_system, volume_identifiers):
            self._refuse("volume", "--volumes", selection.volumes, volume_identifiers)

        def GetVSSStoreIdentifiers(self, volume_system, volume_identifiers):
            self._refuse(
                "snapshot", "--vss_stores", selection.snapshots, volume_identifiers
            )

        def GetVolumeSnapshotIdentifiers(self, volume_system, volume_identifiers):
            self.GetVSSStoreIdentifiers(volume_system, volume_identifiers)

        def PrintWarning(self, warning):
            warn(f"{source}: {warning}")

        def UnlockEncryptedVolume(
            self, source_scanner_object, scan_context, locked_scan_node, credentials
        ):
            warn(
                f"{source}{_volume_label(locked_scan_node.path_spec)}: encrypted "
                f"volume skipped (no credentials)"
            )
            return False

    return _NonInteractiveMediator()


def _volume_label(path_spec) -> str:
    """Joins the partition, volume and snapshot locations above a path spec."""
    labels = []
    while path_spec is not None:
        location = getattr(path_spec, "location", None)
        if path_spec.type_indicator in _VOLUME_TYPES and location not in (None, "/"):
            labels.append(location.rstrip("/"))
        path_spec = path_spec.parent
    return "".join(reversed(labels))


def _scan_image(
    path: str,
    warn: Callable[[str], None],
    selection: _Selection,
    deleted_stall: float | None,
):
    """Yields the captures in every selected file system of an image.

    Args:
      deleted_stall: the limit on one TSK call of the deleted-file search, or None
          not to search for deleted files.

    Returns True (as the generator's value) if dfvfs found a file system at all.
    """
    from dfvfs.helpers import volume_scanner
    from dfvfs.lib import definitions
    from dfvfs.lib import errors as dfvfs_errors
    from dfvfs.resolver import context as dfvfs_context

    scanner = volume_scanner.VolumeScanner(
        mediator=_make_mediator(path, selection, warn)
    )
    try:
        base_path_specs = scanner.GetBasePathSpecs(
            os.path.abspath(path), options=selection.scanner_options()
        )
    except (dfvfs_errors.Error, OSError, ValueError, RuntimeError) as error:
        # RuntimeError: what pytsk3 raises when a libyal image (qcow, EWF...) under
        # it fails to read.
        warn(f"{path}: cannot scan as a disk image ({_short(error)})")
        return True
    base_path_specs = [
        spec
        for spec in base_path_specs
        if spec.type_indicator != definitions.TYPE_INDICATOR_OS
    ]
    if not base_path_specs:
        return False
    resolver_context = dfvfs_context.Context()
    for base_path_spec in base_path_specs:
        prefix = f"{path}:{_volume_label(base_path_spec)}"
        try:
            yield from _walk_file_system(base_path_spec, prefix, warn, resolver_context)
        except (dfvfs_errors.Error, OSError, RuntimeError) as error:  # the bindings
            warn(f"{prefix}/: file system unreadable, skipped ({_short(error)})")
            continue
        if deleted_stall is not None:
            yield from _walk_deleted(
                base_path_spec, prefix, warn, resolver_context, deleted_stall
            )
    return True


def _walk_file_system(base_path_spec, prefix, warn, resolver_context):
    """Walks one file system depth-first in name order, checking every data stream."""
    from dfvfs.lib import errors as dfvfs_errors
    from dfvfs.resolver import resolver

    file_system = resolver.Resolver.OpenFileSystem(
        base_path_spec, resolver_context=resolver_context
    )
    root = file_system.GetFileEntryByPathSpec(base_path_spec)
    if root is None:
        warn(f"{prefix}/: file system has no root folder, skipped")
        return
    pending = [("", root)]
    seen_folders = set()
    while pending:
        folder_path, folder = pending.pop()
        key = _folder_key(folder)
        if key in seen_folders:  # a damaged file system: a folder inside itself
            warn(
                f"{prefix}{folder_path}: folder met again inside itself (damaged "
                f"file system), not walked twice"
            )
            continue
        seen_folders.add(key)
        try:
            entries = sorted(
                folder.sub_file_entries, key=lambda entry: entry.name or ""
            )
        except (dfvfs_errors.Error, OSError, RuntimeError) as error:
            where = f"{prefix}{folder_path or '/'}"
            warn(f"{where}: folder unreadable, skipped ({_short(error)})")
            continue
        subfolders = []
        for entry in entries:
            entry_path = f"{folder_path}/{entry.name}"
            try:
                if entry.IsLink() or entry.IsVirtual():
                    continue
                if entry.IsDirectory():
                    subfolders.append((entry_path, entry))
                elif entry.IsFile():
                    yield from _check_data_streams(
                        entry, f"{prefix}{entry_path}", warn, resolver_context
                    )
            except (dfvfs_errors.Error, OSError, RuntimeError) as error:
                warn(f"{prefix}{entry_path}: unreadable, skipped ({_short(error)})")
        pending.extend(reversed(subfolders))


def _folder_key(entry) -> tuple:
    """What identifies a folder in its file system: inode, MFT entry or identifier."""
    spec = entry.path_spec
    for name in ("inode", "mft_entry", "identifier"):
        value = getattr(spec, name, None)
        if value is not None:
            return name, value
    return "location", getattr(spec, "location", None)


def _check_data_streams(entry, source, warn, resolver_context):
    """Checks the default data stream and any named ones (NTFS alternate streams).

    A stream holding an archive is opened, and the captures in it are reported.
    """
    for data_stream in sorted(entry.data_streams, key=lambda stream: stream.name):
        name = data_stream.name
        head = _read_head(entry.GetFileObject(data_stream_name=name))
        if not _is_capture_or_archive(head):
            continue
        yield from _examine(
            f"{source}:{name}" if name else source,
            head,
            _opener(entry.path_spec, name, resolver_context),
            _stream_size(entry, data_stream),
            warn,
        )


def _read_head(file_object) -> bytes:
    """Reads the first bytes of a dfvfs file object, empty if it cannot."""
    if file_object is None:
        return b""
    try:
        file_object.seek(0, os.SEEK_SET)
        return file_object.read(HEAD_SIZE) or b""
    finally:
        _close_quietly(file_object)


def _stream_size(entry, data_stream) -> int | None:
    if not data_stream.name:
        return entry.size
    try:
        return int(data_stream.size)
    except (AttributeError, TypeError, NotImplementedError):
        return None


def _opener(path_spec, data_stream_name, resolver_context) -> Callable[[], BinaryIO]:
    """Returns a function that opens the stream afresh as a buffered reader.

    Every failure is an OSError, as for a plain file, so that callers handle a bad
    file inside an image like an unreadable file on disk.
    """

    def open_stream() -> BinaryIO:
        from dfvfs.resolver import resolver

        try:
            if data_stream_name:
                file_system = resolver.Resolver.OpenFileSystem(
                    path_spec, resolver_context=resolver_context
                )
                entry = file_system.GetFileEntryByPathSpec(path_spec)
                file_object = entry.GetFileObject(data_stream_name=data_stream_name)
            else:
                file_object = resolver.Resolver.OpenFileObject(
                    path_spec, resolver_context=resolver_context
                )
            if file_object is None:
                raise OSError(f"{path_spec.location}: cannot be opened in the image")
            return io.BufferedReader(_DfvfsRawReader(file_object), buffer_size=65536)
        except OSError:
            raise
        except Exception as error:  # dfvfs back-end errors are not OSErrors
            raise OSError(f"{path_spec.location}: {_short(error)}") from error

    return open_stream


class _DfvfsRawReader(io.RawIOBase):
    """Adapts a dfvfs file object to the standard raw binary reader protocol.

    dfvfs caches file objects per path spec, so two readers of one capture may share
    one object: each reader keeps its own position and seeks before every read.
    """

    def __init__(self, file_object):
        super().__init__()
        self._file_object = file_object
        self._size = file_object.get_size()
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._position >= self._size:
            return 0
        try:
            self._file_object.seek(self._position, os.SEEK_SET)
            data = self._file_object.read(min(len(buffer), self._size - self._position))
        except RuntimeError as error:  # a libyal image under pytsk3 that fails
            raise OSError(str(error)) from error
        if not data:
            return 0
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._position
        elif whence == os.SEEK_END:
            offset += self._size
        elif whence != os.SEEK_SET:
            raise ValueError(f"unsupported whence: {whence}")
        if offset < 0:
            raise ValueError("negative seek position")
        self._position = offset
        return offset

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            _close_quietly(self._file_object)
        super().close()


def _walk_deleted(base_path_spec, prefix, warn, resolver_context, stall_seconds):
    """Yields deleted captures (and those in deleted archives) TSK still reaches.

    dfvfs lists only allocated names, so deleted names come from pytsk3 directly:
    a deleted name counts when its metadata entry is unallocated too (not reused by
    another file) and still describes a regular file with data. The TSK calls run in
    a child process (smtpcore.tskwatch); when one makes no progress for
    ``stall_seconds``, what it was reading is given up with a warning and the search
    goes on in a new child, at most ``tskwatch.MAX_RESTARTS`` times. Found files are
    read in this process.
    """
    from smtpcore import tskwatch

    if base_path_spec.type_indicator not in _TSK_READABLE_TYPES:
        return
    worker = tskwatch.TskWorker(stall_seconds)
    try:
        yield from _search_deleted(
            base_path_spec, prefix, warn, resolver_context, worker
        )
    finally:
        worker.close()


def _search_deleted(base_path_spec, prefix, warn, resolver_context, worker):
    """The walk of _walk_deleted, through a tskwatch.TskWorker."""
    from dfvfs.path import factory as path_spec_factory

    from smtpcore import tskwatch

    try:
        root_inode = worker.open(base_path_spec.parent)
    except OSError as error:
        warn(f"{prefix}/: deleted files not searched ({_short(error)})")
        return
    except tskwatch.Stalled as stall:
        warn(
            f"{prefix}/: deleted files not searched ({stall.reason} opening the "
            f"file system; damaged file system)"
        )
        return
    seen_folders = {root_inode}
    pending = [("", root_inode, None)]  # (path, inode, entries to read if cut short)
    reported = set()
    unreadable = 0
    first_error = ""
    stalls = 0
    while pending:
        folder_path, inode, stop = pending.pop()
        try:
            listing = worker.list_folder(inode, stop)
        except OSError as error:
            if not unreadable:  # one summary: the main walk named each bad folder
                first_error = f"{folder_path or '/'}: {_short(error)}"
            unreadable += 1
            continue
        except tskwatch.Stalled as stall:
            stalls += 1
            warn(_folder_stall(prefix, folder_path, stall))
            if stall.index:  # read again the entries before the one that stalled
                pending.append((folder_path, inode, stall.index))
            if stalls > tskwatch.MAX_RESTARTS:
                warn(_search_stopped(prefix, stalls, len(pending), 0))
                return
            continue
        subfolders = []
        candidates = []  # (path, metadata address) of the deleted files
        for name, meta_address, deleted, is_folder in listing:
            entry_path = f"{folder_path}/{name}"
            if is_folder:
                if not deleted and meta_address not in seen_folders:
                    seen_folders.add(meta_address)
                    subfolders.append((entry_path, meta_address, None))
            elif deleted and meta_address not in reported:
                candidates.append((entry_path, meta_address))
        # not in reported: another name (NTFS 8.3 name, hard link) of a file found
        found, stalls, left = _check_deleted(worker, candidates, prefix, warn, stalls)
        if left is not None:
            folders = len(pending) + len(subfolders)
            warn(_search_stopped(prefix, stalls, folders, left))
            return
        for entry_path, meta_address in candidates:
            if meta_address not in found:
                continue
            reported.add(meta_address)
            head, size = found[meta_address]
            spec = path_spec_factory.Factory.NewPathSpec(
                "TSK",
                inode=meta_address,
                location=entry_path,
                parent=base_path_spec.parent,
            )
            yield from _examine(
                f"{prefix}{entry_path} (deleted)",
                head,
                _opener(spec, "", resolver_context),
                size,
                warn,
            )
        pending.extend(reversed(subfolders))
    if unreadable:
        warn(
            f"{prefix}/: {unreadable} folder(s) not searched for deleted files "
            f"(first {first_error})"
        )


def _check_deleted(worker, candidates, prefix, warn, stalls):
    """Checks a folder's deleted files in one request; gives up those that stall.

    Returns:
      ({metadata address: (head, size)} of the captures and archives, the stalls
      counted so far, None or, when the search must stop, how many were not checked).
    """
    from smtpcore import tskwatch

    todo = candidates
    while todo:
        try:
            answers = worker.check_files([meta_address for _, meta_address in todo])
        except tskwatch.Stalled as stall:
            stalls += 1
            position = stall.index or 0
            warn(
                f"{prefix}{todo[position][0]} (deleted): deleted-file search: "
                f"{stall.reason} reading this entry (damaged file system); not checked"
            )
            todo = todo[:position] + todo[position + 1 :]  # the others asked again
            if stalls > tskwatch.MAX_RESTARTS:
                return {}, stalls, len(todo)
            continue
        found = {meta: answer for (_, meta), answer in zip(todo, answers) if answer}
        return found, stalls, None
    return {}, stalls, None


def _folder_stall(prefix: str, folder_path: str, stall) -> str:
    """Says which part of a folder the deleted-file search gave up, and why."""
    where = f"{prefix}{folder_path or '/'}: deleted-file search: {stall.reason}"
    if stall.index is None or stall.size is None:
        return (
            f"{where} opening this folder (damaged file system); the folder and "
            f"its subfolders not searched for deleted files"
        )
    if stall.index >= stall.size:  # in TSK after the last entry: all are read again
        return f"{where} after the last of this folder's {stall.size} entries"
    return (
        f"{where} on entry {stall.index + 1} of the {stall.size} of this folder "
        f"(damaged file system); that entry and the {stall.size - stall.index - 1} "
        f"after it (and their subfolders) not searched for deleted files"
    )


def _search_stopped(prefix: str, stalls: int, folders: int, files: int) -> str:
    left = f"{folders} folder(s) (and their subfolders)"
    if files:
        left += f" and {files} deleted entr{'y' if files == 1 else 'ies'}"
    return (
        f"{prefix}/: deleted-file search stopped after {stalls} stall(s) of TSK "
        f"(damaged file system); {left} not searched"
    )
