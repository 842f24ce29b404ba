"""Read the members of tar, tar.gz and zip archives as streams, damage and all.

Archives are read with the standard library's tarfile, gzip and zipfile modules, which
stream. dfvfs's TAR and ZIP back-ends are these same modules; its GZIP back-end
inflates 16 MiB of compressed input at a time with no bound on the output (2.1 GB
resident for a 4.6 MB gzip of zeros, against 12 MB streamed), so it is not used. A
member is never read whole into memory.

Damage never hides what is readable: a tar cut short yields the members before the cut,
and the cut member up to it; a zip without central directory (a download cut short)
is read from its local headers; a member whose data is damaged delivers every byte
before the damage, and the next read raises an OSError saying what is wrong.

Which members matter is for the caller to say: ``walk`` hands each member's head and
an opener to its ``examine`` callback, which may walk a nested archive in turn.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

HEAD_SIZE = 8192
"""Bytes read from each file or member to recognise it; enough to inflate a gzip header."""

MAX_ARCHIVE_DEPTH = 3
"""Archives opened one inside the other (``a.zip:/b.tgz:/c.tar:/x.pcap`` is 3 deep).

Handed-over evidence rarely nests more than twice (a zip of a tgz); the bound stops
recursive archives ("zip quines") and keeps each source line readable. A deeper archive
is reported in a warning, not opened."""

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
    if head[:2] == b"\x1f\x8b" and _is_tar_head(inflate_head(head, 512)):
        return "tar.gz"
    return None


def _is_tar_head(head: bytes) -> bool:
    """POSIX (ustar) and GNU tar headers carry ``ustar`` at offset 257."""
    return len(head) >= 263 and head[257:262] == b"ustar"


def walk(
    kind: str,
    source: str,
    opener: Callable[[], BinaryIO],
    warn: Callable[[str], None],
    depth: int,
    examine: Callable[..., Iterator],
) -> Iterator:
    """Yields what ``examine`` yields for each regular member of an archive.

    Args:
      kind: ``tar``, ``tar.gz`` or ``zip``, as ``archive_kind`` says.
      source: where the archive is; a member is ``{source}:/path/in/archive``.
      opener: opens the archive afresh as a seekable binary file object.
      warn: receives one line per problem (damage, encryption, nesting too deep).
      depth: how many archives enclose this one.
      examine: called as ``examine(source, head, opener, size, warn, depth)`` for
          each member, with ``depth`` one more than the archive's.
    """
    if depth >= MAX_ARCHIVE_DEPTH:
        warn(
            f"{source}: {kind} archive inside {depth} archives not opened (more than "
            f"{MAX_ARCHIVE_DEPTH} archives deep); extract it and give it as an input"
        )
        return
    if kind == "zip":
        yield from _walk_zip(source, opener, warn, depth, examine)
    else:
        yield from _walk_tar(source, kind, opener, warn, depth, examine)


def _member_path(name: str) -> str:
    """Writes an archive member name as an absolute path: ``./a/b`` becomes ``/a/b``."""
    while name.startswith("./"):
        name = name[2:]
    return "/" + name.lstrip("/")


def _open_tar(kind: str, handle: BinaryIO) -> tuple[tarfile.TarFile, BinaryIO]:
    """Opens a tar stream over a binary file object; gzip is inflated as it is read."""
    stream = gzip.GzipFile(fileobj=handle, mode="rb") if kind == "tar.gz" else handle
    return tarfile.open(fileobj=stream, mode="r:"), stream


def _walk_tar(source, kind, opener, warn, depth, examine) -> Iterator:
    """Examines the members of a tar or tar.gz in stored order, in one pass.

    A damaged archive gives one warning; members before the damage are still reported.
    """
    try:
        handle = opener()
    except OSError as error:
        warn(f"{source}: {kind} archive unreadable, skipped ({short_error(error)})")
        return
    try:
        try:
            tar, stream = _open_tar(kind, handle)
        except _ARCHIVE_ERRORS as error:
            warn(f"{source}: damaged {kind} archive, not opened ({short_error(error)})")
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
                    f"{members} ({short_error(error)})"
                )
                break
            yield from examine(
                f"{source}:{_member_path(info.name)}",
                head,
                _tar_member_opener(source, streams, info),
                info.size,
                warn,
                depth + 1,
            )
    finally:
        close_quietly(handle)


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
            close_quietly(file_object)


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
                f"archive ({short_error(error)})"
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
            raise OSError(f"damaged archive member ({short_error(error)})") from error
        data, error = _read_what_is_there(self._stream, wanted)
        if not data:
            self._damaged = True
            reason = f" ({short_error(error)})" if error is not None else ""
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


def _walk_zip(source, opener, warn, depth, examine) -> Iterator:
    """Examines the members of a zip in central-directory order.

    A damaged member gives a warning and the others are still read. A zip whose
    central directory is gone (a download cut short) is read member by member from
    its local headers, up to where the data ends.
    """
    try:
        handle = opener()
    except OSError as error:
        warn(f"{source}: zip archive unreadable, skipped ({short_error(error)})")
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
                f"({short_error(error)}); {len(infos)} member(s) read from their local "
                f"headers{problem}"
            )
        for info in infos:
            # A folder (ZipInfo.is_dir() raises IndexError on an empty name).
            if info.filename.endswith("/"):
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
            reason = short_error(error) if error is not None else "no data"
            if not head and info.file_size > 1:
                warn(f"{member_source}: damaged zip member, skipped ({reason})")
                continue
            yield from examine(
                member_source,
                head,
                _zip_member_opener(member_source, opener, info, archive is None),
                info.file_size,
                warn,
                depth + 1,
            )
    finally:
        close_quietly(handle)


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
        return infos, f"; reading stopped ({short_error(error)})"


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
            close_quietly(handle)
            raise OSError(
                f"{source}: cannot be opened in the archive ({short_error(error)})"
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
            raise OSError(f"damaged archive member ({short_error(error)})") from error
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
            raise OSError(f"damaged archive member ({short_error(error)})") from error
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            for closer in self._closers:
                close_quietly(closer)
        super().close()


def short_error(error: BaseException, limit: int = 200) -> str:
    """Makes a back-end error (libyal chains are long) fit on one warning line."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def inflate_head(head: bytes, wanted: int = 64) -> bytes:
    """Inflates what a gzip head yields, so its content can be recognised."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        return inflater.decompress(head, wanted)
    except zlib.error:
        return b""


def close_quietly(file_object) -> None:
    close = getattr(file_object, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001 - closing must not hide the result
            pass
