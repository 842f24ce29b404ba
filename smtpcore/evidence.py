"""Find packet captures in files, folders, archives, disk images and evidence containers.

Captures, archives and disk images are recognised by their content, never by name, so a
capture renamed to ``notes.txt`` is found. Disk images (raw, split raw, EWF, VMDK, QCOW2, VHD, ...), their
volume systems (MBR, GPT, LVM, APFS containers, VSS) and file systems (NTFS, ext, FAT,
HFS+, APFS, XFS, ...) are opened read-only through dfvfs, following the
``VolumeScanner`` idiom of plaso's storage media tool. Deleted files that the file
system still reaches are found through The Sleuth Kit where it supports the file system.

Archives (tar, gzip-compressed tar, zip with stored or deflated members) are opened
wherever they are found: given as an input, in a folder, inside a disk image or inside
another archive, up to ``MAX_ARCHIVE_DEPTH`` archives deep. They are read with the
standard library's tarfile, gzip and zipfile modules, which stream: dfvfs's TAR and ZIP
back-ends are these same modules, and its GZIP back-end inflates 16 MiB of compressed
input at a time with no bound on the output (2.1 GB resident for a 4.6 MB gzip of
zeros, against 12 MB streamed). A member is never read whole into memory. Disk images
found in a folder are opened like images given as inputs; images inside images or
archives are not opened.

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
import gzip
import io
import os
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

from smtpcore.capture import identify

HEAD_SIZE = 8192
"""Bytes read from each file to recognise it; enough to inflate a gzip header."""

MAX_ARCHIVE_DEPTH = 3
"""Archives opened one inside the other (``a.zip:/b.tgz:/c.tar:/x.pcap`` is 3 deep).

Handed-over evidence rarely nests more than twice (a zip of a tgz); the bound stops
recursive archives ("zip quines") and keeps each source line readable. A deeper archive
is reported in a warning, not opened."""

MIN_IMAGE_SIZE = 512
"""Files in a folder smaller than one sector are not tried as disk images."""

# Errors that reading a damaged tar, gzip or zip stream raises besides OSError.
_ARCHIVE_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    zlib.error,
    tarfile.TarError,
    zipfile.BadZipFile,
)

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
      kind: ``pcap``, ``pcapng`` or ``gzip`` (a gzip stream holding a capture).
    """

    source: str
    size: int | None
    open: Callable[[], BinaryIO]
    kind: str


def _short(error: BaseException, limit: int = 200) -> str:
    """Makes a back-end error (libyal chains are long) fit on one warning line."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _inflate_head(head: bytes, wanted: int = 64) -> bytes:
    """Inflates what a gzip head yields, so its content can be recognised."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        return inflater.decompress(head, wanted)
    except zlib.error:
        return b""


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
    if kind != "gzip":
        return kind
    inner = identify(_inflate_head(head))
    return "gzip" if inner in ("pcap", "pcapng") else None


def archive_kind(head: bytes) -> str | None:
    """Tells whether the first bytes of a file are those of an archive smtpcore opens.

    Args:
      head: the first bytes of the file (``HEAD_SIZE`` is enough).

    Returns:
      ``'tar'``, ``'tar.gz'`` (gzip holding a tar), ``'zip'`` or None.
    """
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if _is_tar_head(head):
        return "tar"
    if head[:2] == b"\x1f\x8b" and _is_tar_head(_inflate_head(head, 512)):
        return "tar.gz"
    return None


def _is_tar_head(head: bytes) -> bool:
    """POSIX (ustar) and GNU tar headers carry ``ustar`` at offset 257."""
    return len(head) >= 263 and head[257:262] == b"ustar"


def find_captures(
    inputs: Sequence[str],
    warn: Callable[[str], None],
    *,
    partitions: str = "all",
    volumes: str = "all",
    snapshots: str = "none",
    include_deleted: bool = True,
) -> Iterator[FoundCapture]:
    """Yields every capture in the inputs, in a deterministic order.

    Args:
      inputs: capture files, archives, folders, disk images or evidence containers.
      warn: receives one line per problem that does not stop the scan.
      partitions: ``all`` or a comma-separated list such as ``p1,p2``.
      volumes: ``all`` or a comma-separated list such as ``apfs1`` or ``lvm2``.
      snapshots: ``none``, ``all`` or a comma-separated list of VSS stores (``1,2``).
      include_deleted: also report deleted files the file system still reaches.

    Yields:
      FoundCapture for each capture, inputs in the order given.

    Raises:
      EvidenceError: if an input does not exist or cannot be read, or a partition,
          volume or snapshot selection matches nothing in an image.
    """
    for path in inputs:
        _check_readable(path)
    selection = _Selection(partitions, volumes, snapshots)
    for path in inputs:
        if os.path.isdir(path):
            yield from _walk_folder(path, warn, selection, include_deleted)
            continue
        head = _file_head(path, warn)
        if head is None:
            continue
        if _is_capture_or_archive(head):
            yield from _examine(path, head, _file_opener(path), _file_size(path), warn)
            continue
        found_any_volume = yield from _scan_image(
            path, warn, selection, include_deleted
        )
        if not found_any_volume:
            warn(
                f"{path}: neither a packet capture (pcap, pcapng, gzip), an archive "
                f"(tar, tar.gz, zip) nor a disk image or file system that dfvfs "
                f"recognises; skipped"
            )


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
    return is_capture_head(head) is not None or archive_kind(head) is not None


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
    if kind is not None:
        yield FoundCapture(source=source, size=size, open=opener, kind=kind)
        return
    kind = archive_kind(head)
    if kind is None:
        return
    if depth >= MAX_ARCHIVE_DEPTH:
        warn(
            f"{source}: {kind} archive inside {depth} archives not opened (more than "
            f"{MAX_ARCHIVE_DEPTH} archives deep); extract it and give it as an input"
        )
        return
    if kind == "zip":
        yield from _walk_zip(source, opener, warn, depth)
    else:
        yield from _walk_tar(source, kind, opener, warn, depth)


def _member_path(name: str) -> str:
    """Writes an archive member name as an absolute path: ``./a/b`` becomes ``/a/b``."""
    while name.startswith("./"):
        name = name[2:]
    return "/" + name.lstrip("/")


def _open_tar(kind: str, handle: BinaryIO) -> tuple[tarfile.TarFile, BinaryIO]:
    """Opens a tar stream over a binary file object; gzip is inflated as it is read."""
    stream = gzip.GzipFile(fileobj=handle, mode="rb") if kind == "tar.gz" else handle
    return tarfile.open(fileobj=stream, mode="r:"), stream


def _walk_tar(source, kind, opener, warn, depth) -> Iterator[FoundCapture]:
    """Yields the captures in a tar or tar.gz in stored order, one pass over the stream.

    A damaged archive gives one warning; members before the damage are still reported.
    """
    try:
        handle = opener()
    except OSError as error:
        warn(f"{source}: {kind} archive unreadable, skipped ({_short(error)})")
        return
    try:
        try:
            tar, stream = _open_tar(kind, handle)
        except _ARCHIVE_ERRORS as error:
            warn(f"{source}: damaged {kind} archive, not opened ({_short(error)})")
            return
        members = 0
        streams = _TarStreams(kind, opener)
        while True:
            try:
                info = tar.next()
                if info is None:
                    break
                tar.members.clear()  # tarfile keeps every header; nothing here needs them
                members += 1
                if not info.isreg():
                    continue  # folders, links (their target is reported), devices
                head = _tar_head(tar, stream, info)
            except _ARCHIVE_ERRORS as error:
                warn(
                    f"{source}: damaged {kind} archive, read as far as member "
                    f"{members} ({_short(error)})"
                )
                break
            if _is_capture_or_archive(head):
                yield from _examine(
                    f"{source}:{_member_path(info.name)}",
                    head,
                    _tar_member_opener(source, streams, info),
                    info.size,
                    warn,
                    depth + 1,
                )
    finally:
        _close_quietly(handle)


def _tar_head(tar, stream, info) -> bytes:
    """Reads what there is of a member's head, also when the archive ends inside it."""
    if info.issparse():
        return tar.extractfile(info).read(min(HEAD_SIZE, info.size))
    stream.seek(info.offset_data)
    return _read_what_is_there(stream, min(HEAD_SIZE, info.size))[0]


def _read_what_is_there(stream, size: int) -> tuple[bytes, BaseException | None]:
    """Reads up to size bytes, keeping those read before a damaged stream failed."""
    read = getattr(stream, "read1", stream.read)  # read drops what came before damage
    pieces, got = [], 0
    while got < size:
        try:
            data = read(size - got)
        except _ARCHIVE_ERRORS as error:
            return b"".join(pieces), error
        if not data:
            break
        pieces.append(data)
        got += len(data)
    return b"".join(pieces), None


class _TarStreams:
    """Hands out streams of one tar, reusing the one the last reader left.

    Captures are read in stored order, so the next member lies ahead of where the
    last reader stopped: inflating on from there reads a tgz of n captures once,
    where opening it afresh for each would inflate it from the start n times. One
    idle stream is kept in the whole process, so open files stay bounded.
    """

    _idle: list = [None]  # (owner, handle, stream) left by the last reader closed

    def __init__(self, kind: str, opener: Callable[[], BinaryIO]):
        self._kind = kind
        self._opener = opener

    def take(self, offset: int) -> tuple[BinaryIO, BinaryIO]:
        """A (handle, stream) pair whose stream is not past offset."""
        idle = self._idle[0]
        if idle is not None and idle[0] is self:
            self._idle[0] = None
            try:
                if self._kind != "tar.gz" or idle[2].tell() <= offset:
                    return idle[1], idle[2]
            except _ARCHIVE_ERRORS:
                pass
            self.discard(idle[1:])
        handle = self._opener()
        if self._kind != "tar.gz":
            return handle, handle
        return handle, gzip.GzipFile(fileobj=handle, mode="rb")

    def give(self, pair: tuple[BinaryIO, BinaryIO]) -> None:
        """Takes back a pair whose reader closed without damage."""
        previous, self._idle[0] = self._idle[0], (self, *pair)
        if previous is not None:
            self.discard(previous[1:])

    @staticmethod
    def discard(pair) -> None:
        for file_object in reversed(pair):
            _close_quietly(file_object)


def _tar_member_opener(source, streams, info) -> Callable[[], BinaryIO]:
    """Opens a tar member: its bytes are read where they lie in the tar stream."""

    def open_member() -> BinaryIO:
        try:
            handle, stream = streams.take(info.offset_data)
            if info.issparse():
                tar = tarfile.open(fileobj=stream, mode="r:")
                return _ArchiveMemberReader(
                    tar.extractfile(info), (tar, stream, handle)
                )
        except _ARCHIVE_ERRORS as error:
            raise OSError(
                f"{source}:{_member_path(info.name)}: cannot be opened in the "
                f"archive ({_short(error)})"
            ) from error
        return _TarMemberReader(
            stream, info.offset_data, info.size, streams, (handle, stream)
        )

    return open_member


class _DamageAfterData(io.RawIOBase):
    """A member reader that returns the bytes before damage, then reports it.

    ``io.BufferedReader`` drops what one ``read`` gathered when a raw read raises,
    so these readers gather themselves: ``read(n)`` returns n bytes unless the data
    ends, and a read that meets damage returns what came before it; the next read
    raises the OSError.
    """

    _pending: OSError | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error
        chunks, got = [], 0
        while size is None or size < 0 or got < size:
            wanted = 1 << 20 if size is None or size < 0 else min(size - got, 1 << 20)
            buffer = bytearray(wanted)
            try:
                count = self._readinto(buffer)
            except OSError as error:
                if not chunks:
                    raise
                self._pending = error
                break
            if not count:
                break
            chunks.append(bytes(buffer[:count]))
            got += count
        return b"".join(chunks)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _readinto(self, buffer) -> int:
        raise NotImplementedError


class _TarMemberReader(_DamageAfterData):
    """A raw reader over a tar member's bytes in the (possibly inflated) tar stream.

    Unlike tarfile's own reader it delivers the bytes of a member the archive ends
    inside, then raises an OSError saying how much is missing.
    """

    def __init__(self, stream, offset: int, size: int, streams, pair):
        super().__init__()
        self._stream = stream
        self._offset = offset
        self._size = size
        self._streams = streams
        self._pair = pair
        self._damaged = False
        self._position = 0

    def _readinto(self, buffer) -> int:
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        try:
            if self._stream.tell() != self._offset + self._position:
                self._stream.seek(self._offset + self._position)
        except _ARCHIVE_ERRORS as error:
            raise OSError(f"damaged archive member ({_short(error)})") from error
        data, error = _read_what_is_there(self._stream, wanted)
        if not data:
            self._damaged = True
            reason = f" ({_short(error)})" if error is not None else ""
            raise OSError(
                f"damaged archive member: the archive ends {self._position} bytes "
                f"into it, of {self._size}{reason}"
            )
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
            if self._damaged:
                _TarStreams.discard(self._pair)
            else:
                self._streams.give(self._pair)
        super().close()


def _walk_zip(source, opener, warn, depth) -> Iterator[FoundCapture]:
    """Yields the captures in a zip in central-directory order.

    A damaged member gives a warning and the others are still read. A zip whose
    central directory is gone (a download cut short) is read member by member from
    its local headers, up to where the data ends.
    """
    try:
        handle = opener()
    except OSError as error:
        warn(f"{source}: zip archive unreadable, skipped ({_short(error)})")
        return
    try:
        try:
            archive = zipfile.ZipFile(handle)
            infos = archive.infolist()
        except _ARCHIVE_ERRORS as error:
            archive = None
            infos, problem = _local_zip_infos(handle)
            warn(
                f"{source}: damaged zip archive, no central directory "
                f"({_short(error)}); {len(infos)} member(s) read from their local "
                f"headers{problem}"
            )
        for info in infos:
            if info.is_dir():
                continue
            member_source = f"{source}:{_member_path(info.filename)}"
            if info.flag_bits & 0x1:
                warn(f"{member_source}: encrypted zip member skipped (no password)")
                continue
            try:
                with _open_zip_member(archive, handle, info) as member:
                    # Short of the end, so a bad CRC does not hide a readable member.
                    head, error = _read_what_is_there(
                        member, min(HEAD_SIZE, max(info.file_size - 1, 0))
                    )
            except _ARCHIVE_ERRORS as open_error:
                head, error = b"", open_error
            reason = _short(error) if error is not None else "no data"
            if not head and info.file_size > 1:
                warn(f"{member_source}: damaged zip member, skipped ({reason})")
                continue
            if _is_capture_or_archive(head):
                yield from _examine(
                    member_source,
                    head,
                    _zip_member_opener(member_source, opener, info, archive is None),
                    info.file_size,
                    warn,
                    depth + 1,
                )
    finally:
        _close_quietly(handle)


def _open_zip_member(archive, handle, info):
    """Opens a member through the central directory, or at its local header."""
    if archive is not None:
        return archive.open(info)
    handle.seek(info.header_offset)
    header = handle.read(30)
    name_length, extra_length = int.from_bytes(header[26:28], "little"), int.from_bytes(
        header[28:30], "little"
    )
    handle.seek(info.header_offset + 30 + name_length + extra_length)
    return zipfile.ZipExtFile(handle, "r", info)


_LOCAL_HEADER = b"PK\x03\x04"
_DATA_DESCRIPTOR = b"PK\x07\x08"


def _local_zip_infos(handle) -> tuple[list[zipfile.ZipInfo], str]:
    """Lists members from their local headers, for a zip without central directory.

    Returns the members whose header is complete and what stopped the scan, if not the
    end of the members. A member that records its sizes only after its data (a data
    descriptor) is inflated once to find where it ends.
    """
    infos: list[zipfile.ZipInfo] = []
    try:
        return _scan_local_headers(handle, infos)
    except _ARCHIVE_ERRORS as error:
        return infos, f"; reading stopped ({_short(error)})"


def _scan_local_headers(handle, infos) -> tuple[list[zipfile.ZipInfo], str]:
    offset = 0
    while True:
        handle.seek(offset)
        header = handle.read(30)
        if len(header) < 30 or header[:4] != _LOCAL_HEADER:
            return infos, ""
        flags, method = (int.from_bytes(header[i : i + 2], "little") for i in (6, 8))
        crc, compressed, size = (
            int.from_bytes(header[i : i + 4], "little") for i in (14, 18, 22)
        )
        name_length, extra_length = (
            int.from_bytes(header[i : i + 2], "little") for i in (26, 28)
        )
        raw_name = handle.read(name_length)
        extra = handle.read(extra_length)
        if len(raw_name) < name_length or len(extra) < extra_length:
            return infos, "; the last header is cut short"
        info = _LocalZipInfo(raw_name.decode("utf-8" if flags & 0x800 else "cp437"))
        data_start = offset + 30 + name_length + extra_length
        if 0xFFFFFFFF in (compressed, size):
            size, compressed = _zip64_sizes(extra, size, compressed)
        descriptor = 0
        if flags & 0x8:
            if method != zipfile.ZIP_DEFLATED:
                return infos, f"; {info.filename}: sizes unknown, scan stopped"
            compressed, size, crc, complete = _inflated_extent(handle, data_start)
            info.cut = not complete
            handle.seek(data_start + compressed)
            tail = handle.read(16)
            descriptor = 16 if tail[:4] == _DATA_DESCRIPTOR else 12
            recorded = tail[4:8] if descriptor == 16 else tail[:4]
            if len(recorded) == 4:
                crc = int.from_bytes(recorded, "little")
        info.flag_bits, info.compress_type, info.CRC = flags, method, crc
        info.compress_size, info.file_size = compressed, size
        info.header_offset = offset
        infos.append(info)
        offset = data_start + compressed + descriptor


class _LocalZipInfo(zipfile.ZipInfo):
    """A member found by its local header; ``cut`` when the archive ends inside it."""

    __slots__ = ("cut",)

    def __init__(self, filename: str):
        super().__init__(filename)
        self.cut = False


def _zip64_sizes(extra: bytes, size: int, compressed: int) -> tuple[int, int]:
    """Reads the 64-bit sizes of the ZIP64 extra field of a local header."""
    position = 0
    while position + 4 <= len(extra):
        tag, length = (
            int.from_bytes(extra[position + i : position + i + 2], "little")
            for i in (0, 2)
        )
        if tag == 1 and length >= 16:
            body = extra[position + 4 : position + 20]
            return int.from_bytes(body[:8], "little"), int.from_bytes(
                body[8:], "little"
            )
        position += 4 + length
    return size, compressed


def _inflated_extent(handle, data_start: int) -> tuple[int, int, int, bool]:
    """Inflates a deflated member in bounded steps.

    Returns its compressed size, size, CRC-32, and whether its deflate stream ended
    (False when the archive ends inside it).
    """
    handle.seek(data_start)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    fed = size = crc = 0
    while not inflater.eof:
        chunk = handle.read(65536)
        if not chunk:
            break
        fed += len(chunk)
        try:
            data = inflater.decompress(chunk, 1 << 20)
            while data:
                size += len(data)
                crc = zlib.crc32(data, crc)
                data = inflater.decompress(inflater.unconsumed_tail, 1 << 20)
        except zlib.error:
            break
    return fed - len(inflater.unused_data), size, crc, inflater.eof


def _zip_member_opener(source, opener, info, local) -> Callable[[], BinaryIO]:
    """Opens a zip member afresh, inflating it as it is read."""

    def open_member() -> BinaryIO:
        handle = opener()
        try:
            archive = None if local else zipfile.ZipFile(handle)
            member = _open_zip_member(archive, handle, info)
        except _ARCHIVE_ERRORS as error:
            _close_quietly(handle)
            raise OSError(
                f"{source}: cannot be opened in the archive ({_short(error)})"
            ) from error
        # zipfile drops the last chunk of a member whose CRC-32 does not match; the
        # reader checks it itself after delivering every byte.
        if hasattr(member, "_expected_crc"):
            member._expected_crc = None
        return _ArchiveMemberReader(
            member,
            (member, archive, handle),
            None if getattr(info, "cut", False) else info.CRC,
            cut=getattr(info, "cut", False),
        )

    return open_member


class _ArchiveMemberReader(_DamageAfterData):
    """A raw reader over an archive member whose every failure is an OSError.

    tarfile, gzip and zipfile raise their own errors for damaged data (EOFError,
    BadZipFile for a CRC mismatch, zlib.error); callers handle a damaged member like an
    unreadable file on disk. Closing it closes the archive stream under it too.
    With ``expected_crc``, a member read to its end whose CRC-32 differs raises an
    OSError after its last byte was delivered; with ``cut`` (the archive ends inside
    the member) the end of its bytes raises one.
    """

    def __init__(
        self, member, closers, expected_crc: int | None = None, cut: bool = False
    ):
        super().__init__()
        self._cut = cut
        self._member = member
        self._read = getattr(member, "read1", member.read)
        self._closers = closers
        self._expected_crc = expected_crc
        self._crc = 0
        self._checked_to = 0  # bytes from the start that went into self._crc
        self._position = 0

    def _readinto(self, buffer) -> int:
        try:  # read1 returns what inflated before damage; read would drop it
            data = self._read(len(buffer))
        except _ARCHIVE_ERRORS as error:
            raise OSError(f"damaged archive member ({_short(error)})") from error
        if self._expected_crc is not None and self._position == self._checked_to:
            if data:
                self._crc = zlib.crc32(data, self._crc)
                self._checked_to += len(data)
            elif self._crc != self._expected_crc:
                expected, self._expected_crc = self._expected_crc, None
                raise OSError(
                    f"damaged archive member: CRC-32 {self._crc:08x} where the "
                    f"archive says {expected:08x} (all {self._checked_to} bytes "
                    f"were delivered)"
                )
        if not data and self._cut and len(buffer):
            self._cut = False
            raise OSError(
                f"damaged archive member: the archive ends inside it, after "
                f"{self._position} bytes"
            )
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        try:
            self._position = self._member.seek(offset, whence)
        except _ARCHIVE_ERRORS as error:
            raise OSError(f"damaged archive member ({_short(error)})") from error
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            for closer in self._closers:
                _close_quietly(closer)
        super().close()


def _walk_folder(
    root: str,
    warn: Callable[[str], None],
    selection: _Selection,
    include_deleted: bool,
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
                        entry.path, warn, selection, include_deleted
                    )
            except OSError as error:
                warn(f"{entry.path}: unreadable, skipped ({error.strerror or error})")
        pending.extend(reversed(subfolders))


def _folder_file(path, warn, selection, include_deleted) -> Iterator[FoundCapture]:
    """Yields the captures of one file met in a folder walk."""
    head = _file_head(path, warn)
    if head is None:
        return
    if _is_capture_or_archive(head):
        yield from _examine(path, head, _file_opener(path), _file_size(path), warn)
        return
    if _is_ewf_continuation(head) or (_file_size(path) or 0) < MIN_IMAGE_SIZE:
        return
    try:
        yield from _scan_image(path, warn, selection, include_deleted)
    except EvidenceError as error:  # a selection that fits other images, not this one
        warn(f"{error}; image skipped")


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
    include_deleted: bool,
):
    """Yields the captures in every selected file system of an image.

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
    except (dfvfs_errors.Error, OSError, ValueError) as error:
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
        except dfvfs_errors.Error as error:
            warn(f"{prefix}/: file system unreadable, skipped ({_short(error)})")
            continue
        if include_deleted:
            yield from _walk_deleted(base_path_spec, prefix, warn, resolver_context)
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
    while pending:
        folder_path, folder = pending.pop()
        try:
            entries = sorted(folder.sub_file_entries, key=lambda entry: entry.name)
        except (dfvfs_errors.Error, OSError) as error:
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
            except (dfvfs_errors.Error, OSError) as error:
                warn(f"{prefix}{entry_path}: unreadable, skipped ({_short(error)})")
        pending.extend(reversed(subfolders))


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


def _close_quietly(file_object) -> None:
    close = getattr(file_object, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001 - closing must not hide the result
            pass


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
        self._file_object.seek(self._position, os.SEEK_SET)
        data = self._file_object.read(min(len(buffer), self._size - self._position))
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


def _walk_deleted(base_path_spec, prefix, warn, resolver_context):
    """Yields deleted captures (and those in deleted archives) TSK still reaches.

    dfvfs lists only allocated names, so deleted names come from pytsk3 directly:
    a deleted name counts when its metadata entry is unallocated too (not reused by
    another file) and still describes a regular file with data.
    """
    import pytsk3
    from dfvfs.lib import errors as dfvfs_errors
    from dfvfs.path import factory as path_spec_factory
    from dfvfs.resolver import resolver

    if base_path_spec.type_indicator not in _TSK_READABLE_TYPES:
        return
    tsk_root_spec = path_spec_factory.Factory.NewPathSpec(
        "TSK", location="/", parent=base_path_spec.parent
    )
    try:
        tsk_file_system = resolver.Resolver.OpenFileSystem(
            tsk_root_spec, resolver_context=resolver_context
        )
        fs_info = tsk_file_system.GetFsInfo()
        root_inode = fs_info.info.root_inum
    except (dfvfs_errors.Error, OSError) as error:
        warn(f"{prefix}/: deleted files not searched ({_short(error)})")
        return
    is_ntfs = bool(int(fs_info.info.ftype) & pytsk3.TSK_FS_TYPE_NTFS)
    seen_folders = {root_inode}
    pending = [("", root_inode)]
    reported = set()
    unreadable = 0
    first_error = ""
    while pending:
        folder_path, inode = pending.pop()
        try:
            listing = _tsk_listing(fs_info.open_dir(inode=inode), is_ntfs, pytsk3)
        except OSError as error:
            if not unreadable:  # one summary: the main walk named each bad folder
                first_error = f"{folder_path or '/'}: {_short(error)}"
            unreadable += 1
            continue
        subfolders = []
        for name, meta_address, deleted, is_folder in listing:
            entry_path = f"{folder_path}/{name}"
            if is_folder:
                if not deleted and meta_address not in seen_folders:
                    seen_folders.add(meta_address)
                    subfolders.append((entry_path, meta_address))
                continue
            if deleted:
                if meta_address in reported:
                    continue  # another name (NTFS 8.3 name, hard link) of one file
                found = _deleted_file(fs_info, meta_address, pytsk3)
                if found is not None:
                    reported.add(meta_address)
                    head, size = found
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


def _tsk_listing(tsk_directory, is_ntfs, pytsk3) -> list[tuple[str, int, bool, bool]]:
    """Lists (name, metadata address, deleted, is folder) in name order.

    Skips what TSK invents ($OrphanFiles, $MBR, $FAT1: scanning orphans means reading
    every inode) and NTFS metadata files (MFT entries below 16, $Extend included).
    Deleted NTFS names come without metadata, so the address is taken from the name.
    """
    virtual_types = (pytsk3.TSK_FS_NAME_TYPE_VIRT, pytsk3.TSK_FS_NAME_TYPE_VIRT_DIR)
    listing = []
    for tsk_entry in tsk_directory:
        name_info = getattr(getattr(tsk_entry, "info", None), "name", None)
        if name_info is None or not name_info.meta_addr:
            continue
        if name_info.type in virtual_types or (is_ntfs and name_info.meta_addr < 16):
            continue
        try:
            name = name_info.name.decode("utf-8")
        except UnicodeError:
            continue
        if name in (".", ".."):
            continue
        deleted = bool(int(name_info.flags) & pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
        is_folder = name_info.type == pytsk3.TSK_FS_NAME_TYPE_DIR
        listing.append((name, int(name_info.meta_addr), deleted, is_folder))
    # Long names first, so a file's long name wins over its NTFS 8.3 alias.
    listing.sort(key=lambda item: (-len(item[0]), item[0]))
    first_names = {}
    for item in listing:
        first_names.setdefault((item[1], item[2]), item)
    return sorted(first_names.values())


def _deleted_file(fs_info, meta_address, pytsk3):
    """Returns (head, size) if a deleted metadata entry holds a capture or archive."""
    try:
        tsk_file = fs_info.open_meta(inode=meta_address)
    except OSError:
        return None
    meta = tsk_file.info.meta
    if meta is None or meta.type != pytsk3.TSK_FS_META_TYPE_REG:
        return None
    if int(meta.flags) & pytsk3.TSK_FS_META_FLAG_ALLOC or meta.size <= 0:
        return None  # reused by a live file, or nothing left to read
    try:
        head = tsk_file.read_random(0, min(HEAD_SIZE, meta.size))
    except OSError:
        return None
    return (head, int(meta.size)) if _is_capture_or_archive(head) else None
