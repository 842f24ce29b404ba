"""The Sleuth Kit calls of the deleted-file search, in a child process under watch.

pytsk3 can stay in native code for a long time on a damaged file system (one
directory entry of a fuzzed ext4 took 10 s, opening its folder 22 s more), and
Python cannot interrupt native code. So the TSK calls of the search run in a child
process (a fresh interpreter: no state shared with dfvfs in the parent), which
counts every TSK call in shared memory. The parent waits for an answer only
while that count moves: after ``STALL_SECONDS`` without progress it kills the child
by its PID, reaps it and raises ``Stalled``, saying where TSK was; a child that
dies raises ``Stalled`` too. The next call starts a new child. Total time is never
limited, only time spent in one TSK call.
"""

from __future__ import annotations

import atexit
import mmap
import os
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing import connection

STALL_SECONDS = 30.0
"""Time one TSK call (a folder's opening, one directory entry, one deleted entry's
metadata and head) may take before the search gives it up. A healthy image takes
milliseconds per call; the damaged ext4 of tests/fuzz_regressions, 10 to 22 s."""

MAX_RESTARTS = 3
"""Stalls after which the search of a file system starts a new child; at the next,
it stops (a file system this damaged would take restarts without end)."""

START_SECONDS = 60.0
"""Time the child may take to start (imports, on a loaded machine), not a TSK call."""

# Slots of the shared progress array.
_CALLS, _INDEX, _SIZE = range(3)


class Stalled(Exception):
    """The child made no progress for the limit, or ended; it is gone.

    Attributes:
      reason: what happened, as a phrase ("TSK spent more than 30 s").
      index: when listing a folder, how many of its entries TSK had given
          (the next one stalled), None while opening the folder; when checking
          deleted entries, the position of the one TSK stalled on.
      size: how many entries the folder has, or None if it was not open yet.
    """

    def __init__(self, reason: str, index: int | None = None, size: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.index = index
        self.size = size


class TskWorker:
    """One TSK file system, read in the child process.

    The child is shared by every worker of this process, started at the first call
    (a spawn costs about 0.1 s) and again at the first call after a stall.

    Args:
      stall_seconds: the limit on one TSK call.
    """

    def __init__(self, stall_seconds: float | None = None):
        self.stall_seconds = STALL_SECONDS if stall_seconds is None else stall_seconds
        self._spec = None  # the serialised path spec: what a new child opens

    def open(self, parent_path_spec) -> int:
        """Opens the file system below a dfvfs path spec; returns its root inode.

        Raises:
          OSError: if TSK cannot open it (the message says why).
          Stalled: if TSK stalled opening it.
        """
        from dfvfs.serializer import json_serializer

        self.close()
        self._spec = json_serializer.JsonPathSpecSerializer.WriteSerialized(
            parent_path_spec
        )
        return self._call("open")

    def list_folder(self, inode: int, stop: int | None = None) -> list:
        """(name, metadata address, deleted, is folder) of a folder, in name order.

        Args:
          stop: read only that many directory entries (those before a stall).
        """
        return self._call("list", inode, stop)

    def check_files(self, meta_addresses: list[int]) -> list[tuple[bytes, int] | None]:
        """For each deleted metadata entry, (head, size) if it holds a capture or
        an archive, else None. One request for many: a round trip costs 30 us.

        Raises:
          Stalled: with ``index`` the position of the entry TSK stalled on.
        """
        return self._call("check", meta_addresses)

    def close(self) -> None:
        """Lets the child forget the file system."""
        if self._spec is not None:
            _child.forget(self._spec)
        self._spec = None

    def _call(self, operation, *arguments):
        status, value = _child.call(
            (operation, self._spec, *arguments), self.stall_seconds
        )
        if status == "oserror":
            raise OSError(value)
        return value


class _Child:
    """The child process, its two pipes and its shared progress counters.

    The child is a plain ``python -c`` (not multiprocessing's spawn, which imports
    the caller's main script again and fails in scripts without a main guard). Its
    counters are in a shared mapping of a file without a name.
    """

    def __init__(self):
        self.process = self._requests = self._answers = None
        self._mapping = self._progress = None
        self._exit_registered = False
        self._lock = threading.Lock()

    def forget(self, spec) -> None:
        """Lets a running child close a file system (no answer is awaited)."""
        with self._lock:
            if self.process is not None:
                self.send(("forget", spec))

    def send(self, request) -> None:
        try:
            self._requests.send(request)
        except OSError:
            pass  # the child is gone: the next wait says how

    def call(self, request, stall_seconds: float):
        with self._lock:  # one request at a time on the pipes
            return self._call(request, stall_seconds)

    def _call(self, request, stall_seconds: float):
        if self.process is not None and self.process.poll() is not None:
            self.stop()  # ended between calls (killed from outside): not TSK's doing
        if self.process is None:
            self._start()
        self._progress[_INDEX] = self._progress[_SIZE] = -1
        self.send(request)
        return self._wait(stall_seconds)

    def _start(self) -> None:
        counters = _counters_file()
        self._mapping = mmap.mmap(counters.fileno(), 3 * 8)
        self._progress = memoryview(self._mapping).cast("q")
        request_read, request_write = os.pipe()
        answer_read, answer_write = os.pipe()
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        code = (
            f"import sys; sys.path.insert(0, {root!r}); "
            f"from smtpcore.tskwatch import _main; _main()"
        )
        try:
            fds = (request_read, answer_write, counters.fileno())
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, *map(str, fds)],
                pass_fds=fds,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            os.close(request_read)
            os.close(answer_write)
            counters.close()
        self._requests = connection.Connection(request_write, readable=False)
        self._answers = connection.Connection(answer_read, writable=False)
        if not self._exit_registered:
            atexit.register(self.stop)  # a child in a long TSK call would outlive us
            self._exit_registered = True

    def _wait(self, stall_seconds: float):
        """The child's answer, watching its progress while it works."""
        progress = self._progress
        calls = progress[_CALLS]
        since = time.monotonic()
        poll = min(0.25, stall_seconds / 4)
        while not self._answers.poll(poll):
            now = time.monotonic()
            if progress[_CALLS] != calls:
                calls, since = progress[_CALLS], now
            limit = stall_seconds if calls else START_SECONDS + stall_seconds
            if now - since > limit:
                index, size = progress[_INDEX], progress[_SIZE]
                self.stop()
                raise Stalled(
                    f"TSK spent more than {stall_seconds:g} s",
                    None if index < 0 else index,
                    None if size < 0 else size,
                )
        try:
            status, value = self._answers.recv()
        except (EOFError, OSError):
            status, value = "ended", None
        if status not in ("ended", "crash"):
            return status, value
        index, size = progress[_INDEX], progress[_SIZE]
        try:
            code = self.process.wait(5)
        except subprocess.TimeoutExpired:
            code = None
        self.stop()
        why = value or (
            f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        )
        raise Stalled(
            f"the TSK worker process ended ({why})",
            None if index < 0 else index,
            None if size < 0 else size,
        )

    def stop(self) -> None:
        """Kills the child by its PID, if it still runs, and reaps it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._requests.close()
        self._answers.close()
        self._progress.release()
        self._mapping.close()
        self.process = self._requests = self._answers = None
        self._mapping = self._progress = None


_child = _Child()


def _counters_file():
    """A file without a name, of three counters: in memory where the system can."""
    if hasattr(os, "memfd_create"):
        counters = open(os.memfd_create("smtpcore-tsk"), "r+b")
    else:
        counters = tempfile.TemporaryFile()
    counters.truncate(3 * 8)
    return counters


def _main() -> None:
    """The child's entry: its pipes and counters are given as descriptors."""
    request_fd, answer_fd, counters_fd = map(int, sys.argv[1:4])
    mapping = mmap.mmap(counters_fd, 3 * 8)
    _serve(
        connection.Connection(request_fd, writable=False),
        connection.Connection(answer_fd, readable=False),
        memoryview(mapping).cast("q"),
    )


def _serve(requests, answers, progress) -> None:
    """The child: answers requests until its pipe closes; never prints a traceback.

    It keeps the file systems it opened (a few at a time), by serialised path spec.
    """
    try:
        import pytsk3
        from dfvfs.resolver import resolver  # noqa: F401 - imported before the clock

        import smtpcore.evidence  # noqa: F401

        progress[_INDEX] = progress[_SIZE] = -1
        progress[_CALLS] = 1  # started: from here on, the stall limit counts
        opened = {}  # spec: (dfvfs file system, its FS_Info); they live together
        while True:
            operation, spec, *arguments = requests.recv()
            if operation == "forget":
                opened.pop(spec, None)
                continue
            try:
                if spec not in opened:
                    if len(opened) >= 4:
                        opened.clear()
                    opened[spec] = _open(spec, progress)
                fs_info = opened[spec][1]
                if operation == "open":
                    value = int(fs_info.info.root_inum)
                elif operation == "list":
                    value = _listing(fs_info, *arguments, progress, pytsk3)
                else:
                    value = [
                        _deleted_file(fs_info, meta_address, position, progress, pytsk3)
                        for position, meta_address in enumerate(*arguments)
                    ]
                answer = ("ok", value)
            except MemoryError:
                raise
            except Exception as error:  # dfvfs and libyal errors, not only OSError
                answer = ("oserror", _short(error))
            answers.send(answer)
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        return
    except BaseException as error:  # MemoryError, a bug: said, never printed
        try:
            answers.send(("crash", type(error).__name__))
        except BaseException:
            pass
        os._exit(70)


def _short(error) -> str:
    from smtpcore.archives import short_error

    return short_error(error)


def _tick(progress, index: int = -1) -> None:
    progress[_INDEX] = index
    progress[_CALLS] += 1


def _open(spec, progress):
    from dfvfs.path import factory as path_spec_factory
    from dfvfs.resolver import context as dfvfs_context
    from dfvfs.resolver import resolver
    from dfvfs.serializer import json_serializer

    parent = json_serializer.JsonPathSpecSerializer.ReadSerialized(spec)
    root = path_spec_factory.Factory.NewPathSpec("TSK", location="/", parent=parent)
    _tick(progress)
    file_system = resolver.Resolver.OpenFileSystem(
        root, resolver_context=dfvfs_context.Context()
    )
    fs_info = file_system.GetFsInfo()
    fs_info.info.root_inum  # noqa: B018 - fails here if TSK found nothing
    return file_system, fs_info


def _listing(fs_info, inode, stop, progress, pytsk3) -> list:
    """Lists (name, metadata address, deleted, is folder) in name order.

    Skips what TSK invents ($OrphanFiles, $MBR, $FAT1: scanning orphans means reading
    every inode) and NTFS metadata files (MFT entries below 16, $Extend included).
    Deleted NTFS names come without metadata, so the address is taken from the name.
    """
    is_ntfs = bool(int(fs_info.info.ftype) & pytsk3.TSK_FS_TYPE_NTFS)
    progress[_SIZE] = -1
    _tick(progress)
    directory = fs_info.open_dir(inode=inode)
    progress[_SIZE] = directory.size
    virtual_types = (pytsk3.TSK_FS_NAME_TYPE_VIRT, pytsk3.TSK_FS_NAME_TYPE_VIRT_DIR)
    listing = []
    entries = iter(directory)
    index = 0
    while stop is None or index < stop:
        _tick(progress, index)
        tsk_entry = next(entries, None)
        if tsk_entry is None:
            break
        index += 1
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


def _deleted_file(fs_info, meta_address, position, progress, pytsk3):
    """Returns (head, size) if a deleted metadata entry holds a capture or archive."""
    from smtpcore.archives import HEAD_SIZE
    from smtpcore.evidence import _is_capture_or_archive

    _tick(progress, position)
    try:
        tsk_file = fs_info.open_meta(inode=meta_address)
    except MemoryError:
        raise
    except Exception:  # OSError, or what a damaged entry makes pytsk3 raise
        return None
    meta = tsk_file.info.meta
    if meta is None or meta.type != pytsk3.TSK_FS_META_TYPE_REG:
        return None
    if int(meta.flags) & pytsk3.TSK_FS_META_FLAG_ALLOC or meta.size <= 0:
        return None  # reused by a live file, or nothing left to read
    _tick(progress, position)
    try:
        head = tsk_file.read_random(0, min(HEAD_SIZE, meta.size))
    except OSError:
        return None
    return (head, int(meta.size)) if _is_capture_or_archive(head) else None
