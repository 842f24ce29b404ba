"""MIME decoding in a second process, while the first goes on reading the capture.

Reading, reassembly and the SMTP machine keep one core busy; decoding messages,
writing their attachments and their report pages is about as much work again. The
main process writes each .eml and hands its path to a worker, which decodes it and
writes the attachments into the message's own folder, and the message's report page.
Results are taken back in the order items were yielded, so the output is
byte-identical to a run without workers.

Each worker has a pipe of its own each way and no thread of the main process
serves them: concurrent.futures' pool woke its manager thread through a pipe on
every submit, and the main process then waited for the GIL after each wake-up
(1 to 2 ms a message on a busy machine, a third of the wall time on 1,550
messages).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import mmap
import multiprocessing
import os
import pathlib
import queue
import select
import signal
import threading
from typing import Any, BinaryIO, Iterable, Optional

from smtpcore import records
from smtpcore.model import Credential, Message, MimeInfo, Session
from smtpcore.output import OutputFolder, message_lines, write_attachments, write_page
from smtpcore.report import message_page, page_name, shows_inline

# Messages decoded ahead at most; bounds the memory of results waiting their turn.
WINDOW = 32
# Messages waiting in the workers, per worker, past which the main process writes a
# message's report page itself: whichever side is less busy writes it, so that
# neither waits for the other (MIME decoding is the workers' job, reading the
# capture the main process's; the pages are the share that can go either way).
# Messages end in bursts: with 2, the main process wrote 866 of 1,550 pages of the
# benchmark while its worker was idle a third of the time; 8 was quickest in paired
# runs (2.84 s against 3.12 s with 2 and 3.06 s with the workers writing all).
PAGE_BACKLOG = 8


def _md5_sha1(blocks: Iterable[bytes]) -> tuple[str, str]:
    md5, sha1 = hashlib.md5(), hashlib.sha1()
    for block in blocks:
        md5.update(block)
        sha1.update(block)
    return md5.hexdigest(), sha1.hexdigest()


def _eml_md5_sha1(handle: BinaryIO, size: int) -> tuple[str, str]:
    """MD5 and SHA-1 of an open .eml of ``size`` bytes, hashed from a read-only map
    of it: the MIME decoder maps it too, so the bytes are neither read nor copied."""
    if not size:
        return _md5_sha1([])  # an empty file cannot be mapped
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return _md5_sha1([mapped])


def _decode(
    root: str,
    message: Message,
    source: str,
    credentials: Optional[list[dict[str, Any]]],
) -> tuple[
    Optional[MimeInfo],
    list[str],
    dict[str, str],
    Optional[tuple[str, str]],
    tuple,
    tuple[str, str],
]:
    """Runs in the worker: the decoded view, with the attachments and, given the
    session's ``credentials``, the report page written to disk (the page's path and
    SHA-256 are returned; None when not asked or when it could not be written: the
    main process then writes it, or reports why not), and the message's record and
    table lines (``output.message_lines``). The decoded view itself is sent back
    only for the main process to write the page: its MIME warnings are enough
    otherwise.

    ``message`` is the yielded message without its content; its record is made here
    exactly as the main process would make it, from the same fields, and its MD5
    and SHA-1, which the main process leaves to the workers, from its .eml (the
    content byte for byte); they are returned too.
    """
    folder = pathlib.Path(root)
    from smtpcore import mime  # in the worker: the reading process needs it not

    with open(folder / message.eml_path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if message.md5 is None:
            message.md5, message.sha1 = _eml_md5_sha1(handle, size)
        info = mime.analyse(handle, keep_payloads=True, size=size)
    written = write_attachments(folder, message.id, info)
    message.mime = info
    message.warnings = message.warnings + info.warnings  # as the main process adds
    prepared = message_lines(message, source)
    page = None
    if credentials is not None:
        relative = page_name(message.id)
        try:
            sha256 = write_page(
                folder, relative, message_page(folder, prepared[0], info, credentials)
            )
            page = (relative, sha256)
        except OSError:
            pass
    digests = (message.md5, message.sha1)
    if page is not None:  # all the main process needs are the warnings
        return None, info.warnings, written, page, prepared, digests
    for attachment in info.attachments:
        if not shows_inline(attachment):
            attachment.payload = None  # on disk now; not worth sending back
    return info, info.warnings, written, page, prepared, digests


class _Ticket:
    """One message handed to a worker; filled in when its outcome comes back."""

    __slots__ = ("args", "done", "value", "error", "worker")

    def __init__(self, args: tuple):
        self.args: Optional[tuple] = args
        self.done = False
        self.value: Any = None
        self.error: Optional[str] = None
        self.worker: Optional[_Worker] = None

    def fill(self, outcome: tuple[str, Any]) -> None:
        kind, value = outcome
        if kind == "ok":
            self.value = value
        else:
            self.error = value
        self.done = True
        self.args = None


def _outcome(args: tuple) -> tuple[str, Any]:
    try:
        return ("ok", _decode(*args))
    except Exception as error:  # reported on the message; the run goes on
        return ("error", str(error) or type(error).__name__)


def _serve(tasks, results, inherited: list) -> None:
    """A worker's life: decode each task in turn and send back its outcome.

    A thread takes the tasks off the pipe as they come, so that the main process
    never blocks sending one while this process blocks sending a large result.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's
    for connection in inherited:  # other workers' pipe ends, copied by fork
        connection.close()
    waiting: queue.SimpleQueue = queue.SimpleQueue()

    def receive() -> None:
        try:
            while (task := tasks.recv()) is not None:
                waiting.put(task)
        except (EOFError, OSError):  # the main process is gone
            pass
        waiting.put(None)

    threading.Thread(target=receive, daemon=True).start()
    while (task := waiting.get()) is not None:
        outcome = _outcome(task)
        try:
            results.send(outcome)
        except (OSError, ValueError):
            return
        except Exception as error:  # a result that does not pickle
            results.send(("error", f"result not returned: {error}"))


class _Worker:
    """A decoding process with a pipe each way; its outcomes come back in order."""

    def __init__(self, context, inherited: list):
        task_reader, self.tasks = context.Pipe(duplex=False)
        self.results, result_writer = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_serve, args=(task_reader, result_writer, inherited), daemon=True
        )
        self.process.start()
        task_reader.close()  # the child's ends: each side sees EOF when one ends
        result_writer.close()
        self.tickets: collections.deque[_Ticket] = collections.deque()
        self.alive = True
        # Connection.poll() builds a selector per call (30 us); poll(2) is one call.
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(self.results.fileno(), select.POLLIN)
            self._ready = lambda: poller.poll(0)
        else:
            self._ready = self.results.poll

    def take(self, ticket: _Ticket) -> bool:
        """Hands it the message; False when the process is gone."""
        try:
            self.tasks.send(ticket.args)
        except OSError:
            self.alive = False
            return False
        ticket.worker = self
        self.tickets.append(ticket)
        return True

    def collect(self, block: bool) -> bool:
        """Takes the outcomes already sent (with ``block``, waits for one); False
        when the process is gone."""
        try:
            while self.tickets and (block or self._ready()):
                outcome = self.results.recv()
                self.tickets.popleft().fill(outcome)
                block = False
        except (EOFError, OSError):
            self.alive = False
        return self.alive

    def lost(self) -> list[_Ticket]:
        """The process ended: the message it was decoding gets the reason, the
        ones behind it are returned to be decoded elsewhere."""
        self.alive = False
        self.process.join(timeout=5)
        pending = list(self.tickets)
        self.tickets.clear()
        if pending:
            pending.pop(0).fill(
                (
                    "error",
                    "the decoding process ended while decoding this message "
                    f"(exit status {self.process.exitcode})",
                )
            )
        return pending

    def close(self) -> None:
        if self.alive:
            try:
                self.tasks.send(None)
            except OSError:
                pass
        self.tasks.close()
        self.process.join()
        self.results.close()


class ParallelOutput:
    """Takes items like OutputFolder.add, decoding messages in worker processes.

    Give it items of ``extract(..., mime=False)``.
    """

    def __init__(self, out: OutputFolder, workers: int):
        try:
            self._context = multiprocessing.get_context("fork")  # cheapest start
        except ValueError:
            self._context = multiprocessing.get_context()
        self._out = out
        self._size = workers
        # Started now, before reading: a process forked later would count what the
        # reading holds at that moment in its own memory too.
        self._workers: list[_Worker] = []
        for _ in range(workers):
            inherited = [c for w in self._workers for c in (w.tasks, w.results)]
            self._workers.append(_Worker(self._context, inherited))
        self._queue: collections.deque = collections.deque()
        # Credentials of sessions still open, as the report keeps them when the item
        # reaches it: a message's page, written ahead in a worker, lists them.
        self._credentials: dict[str, list[dict[str, Any]]] = {}

    def add(self, item: Session | Message | Credential, source: str) -> None:
        ticket = None
        if isinstance(item, Message):
            # In item order, as OutputFolder.add_message does.
            self._out.mark_same_bytes(item)
        if isinstance(item, Message) and item.content is not None:
            self._out.write_eml(item)  # the content is readable only now
            if item.eml_path is None and item.md5 is None:
                item.md5, item.sha1 = _md5_sha1(item.content.chunks())
            if item.eml_path is not None:
                self._collect()
                credentials = None  # the main process writes the page
                if self._waiting() < PAGE_BACKLOG * self._size:
                    credentials = list(self._credentials.get(item.session_id or "", []))
                message = dataclasses.replace(item, content=None)
                ticket = _Ticket((str(self._out.root), message, source, credentials))
                self._place(ticket)
        elif isinstance(item, Credential):
            record = records.credential_record(item)
            self._credentials.setdefault(record["session_id"], []).append(record)
        elif isinstance(item, Session):
            self._credentials.pop(item.session_id, None)
        self._queue.append((item, source, ticket))
        self._drain(keep=WINDOW)

    def _place(self, ticket: _Ticket) -> None:
        """To the least busy worker; decoded here when no worker is left."""
        while True:
            live = [worker for worker in self._workers if worker.alive]
            if not live:
                ticket.fill(_outcome(ticket.args))
                return
            worker = min(live, key=lambda each: len(each.tickets))
            try:
                if worker.take(ticket):
                    return
            except Exception:  # a message that does not pickle: decoded here
                ticket.fill(_outcome(ticket.args))
                return
            self._lost(worker)

    def _lost(self, worker: _Worker) -> None:
        for ticket in worker.lost():
            self._place(ticket)

    def _collect(self) -> None:
        """Takes every outcome already sent back, without waiting."""
        for worker in self._workers:
            if worker.alive and not worker.collect(block=False):
                self._lost(worker)

    def _waiting(self) -> int:
        """Messages handed to the workers and not decoded yet."""
        return sum(len(worker.tickets) for worker in self._workers)

    def close(self) -> None:
        self._drain(keep=0)
        for worker in self._workers:
            worker.close()

    def _hash_here(self, item: Message) -> None:
        """MD5 and SHA-1 of a message whose decoding failed, from its .eml."""
        if item.md5 is None and item.eml_path is not None:
            try:
                with open(self._out.root / item.eml_path, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    item.md5, item.sha1 = _eml_md5_sha1(handle, size)
            except OSError as error:
                item.warnings.append(
                    f"MD5 and SHA-1 not computed: {item.eml_path} cannot be read "
                    f"({error.strerror or error})"
                )

    def _drain(self, keep: int) -> None:
        """Hands finished items to the folder in order; waits while too many wait."""
        waiting = self._queue
        self._collect()
        while waiting:
            item, source, ticket = waiting[0]
            page = prepared = None
            if ticket is not None:
                if not ticket.done and len(waiting) <= keep:
                    return
                while not ticket.done:
                    if not ticket.worker.collect(block=True):
                        self._lost(ticket.worker)
                if ticket.error is not None:
                    item.warnings.append(f"MIME decoding failed: {ticket.error}")
                    self._hash_here(item)
                else:
                    item.mime, mime_warnings, written, page, prepared, digests = (
                        ticket.value
                    )
                    item.md5, item.sha1 = digests
                    item.warnings.extend(mime_warnings)
                    self._out.add_written(written)
            waiting.popleft()
            if isinstance(item, Message):
                self._out.record_message(item, source, page, prepared)
            else:
                self._out.add(item, source)
