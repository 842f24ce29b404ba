"""MIME decoding in a second process, while the first goes on reading the capture.

Reading, reassembly and the SMTP machine keep one core busy; decoding messages,
writing their attachments and their report pages is about as much work again. The
main process writes each .eml and hands its path to a worker, which decodes it and
writes the attachments into the message's own folder, and the message's report page.
Results are taken back in the order items were yielded, so the output is
byte-identical to a run without workers.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import multiprocessing
import os
import pathlib
from typing import Any, Optional

from smtpcore import mime, records
from smtpcore.model import Credential, Message, MimeInfo, Session
from smtpcore.output import OutputFolder, write_attachments, write_page
from smtpcore.report import message_page, page_name, shows_inline

# Messages decoded ahead at most; bounds the memory of results waiting their turn.
WINDOW = 32
# Messages waiting in the workers, per worker, past which the main process writes a
# message's report page itself: whichever side is less busy writes it, so that
# neither waits for the other (MIME decoding is the workers' job, reading the
# capture the main process's; the pages are the share that can go either way).
PAGE_BACKLOG = 2


def _decode(
    root: str,
    message: Message,
    source: str,
    credentials: Optional[list[dict[str, Any]]],
) -> tuple[MimeInfo, dict[str, str], Optional[tuple[str, str]]]:
    """Runs in the worker: the decoded view, with the attachments and, given the
    session's ``credentials``, the report page written to disk (the page's path and
    SHA-256 are returned; None when not asked or when it could not be written: the
    main process then writes it, or reports why not).

    ``message`` is the yielded message without its content; its record is made here
    exactly as the main process makes it, from the same fields.
    """
    folder = pathlib.Path(root)
    with open(folder / message.eml_path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        info = mime.analyse(handle, keep_payloads=True, size=size)
    written = write_attachments(folder, message.id, info)
    page = None
    if credentials is not None:
        message.mime = info
        message.warnings = message.warnings + info.warnings  # as the main process adds
        record = records.message_record(message, source)
        relative = page_name(message.id)
        try:
            sha256 = write_page(
                folder, relative, message_page(folder, record, info, credentials)
            )
            page = (relative, sha256)
        except OSError:
            pass
    for attachment in info.attachments:
        if not shows_inline(attachment):
            attachment.payload = None  # on disk now; not worth sending back
    return info, written, page


class ParallelOutput:
    """Takes items like OutputFolder.add, decoding messages in worker processes.

    Give it items of ``extract(..., mime=False)``.
    """

    def __init__(self, out: OutputFolder, workers: int):
        try:
            context = multiprocessing.get_context("fork")  # cheapest start, on POSIX
        except ValueError:
            context = multiprocessing.get_context()
        self._out = out
        self._workers = workers
        self._pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)
        self._queue: collections.deque = collections.deque()
        # Credentials of sessions still open, as the report keeps them when the item
        # reaches it: a message's page, written ahead in a worker, lists them.
        self._credentials: dict[str, list[dict[str, Any]]] = {}

    def add(self, item: Session | Message | Credential, source: str) -> None:
        future = None
        if isinstance(item, Message):
            self._out.mark_same_bytes(item)  # in item order, as record_message would
        if isinstance(item, Message) and item.content is not None:
            self._out.write_eml(item)  # the content is readable only now
            if item.eml_path is not None:
                credentials = None  # the main process writes the page
                if self._waiting() < PAGE_BACKLOG * self._workers:
                    credentials = list(self._credentials.get(item.session_id or "", []))
                future = self._pool.submit(
                    _decode,
                    str(self._out.root),
                    dataclasses.replace(item, content=None),
                    source,
                    credentials,
                )
        elif isinstance(item, Credential):
            record = records.credential_record(item)
            self._credentials.setdefault(record["session_id"], []).append(record)
        elif isinstance(item, Session):
            self._credentials.pop(item.session_id, None)
        self._queue.append((item, source, future))
        self._drain(keep=WINDOW)

    def _waiting(self) -> int:
        """Messages handed to the workers and not decoded yet."""
        return sum(1 for _, _, f in self._queue if f is not None and not f.done())

    def close(self) -> None:
        self._drain(keep=0)
        self._pool.shutdown()

    def _drain(self, keep: int) -> None:
        """Hands finished items to the folder in order; waits while too many wait."""
        queue = self._queue
        while queue:
            item, source, future = queue[0]
            page = None
            if future is not None:
                if len(queue) <= keep and not future.done():
                    return
                try:
                    item.mime, written, page = future.result()
                except Exception as error:  # a worker that died must not lose the rest
                    item.warnings.append(f"MIME decoding failed: {error}")
                else:
                    item.warnings.extend(item.mime.warnings)
                    self._out.add_written(written)
            queue.popleft()
            if isinstance(item, Message):
                self._out.record_message(item, source, page)
            else:
                self._out.add(item, source)
