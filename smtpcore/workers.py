"""MIME decoding in a second process, while the first goes on reading the capture.

Reading, reassembly and the SMTP machine keep one core busy; decoding messages and
writing their attachments is about as much work again. The main process writes each
.eml and hands its path to a worker, which decodes it and writes the attachments into
the message's own folder. Results are taken back in the order items were yielded, so
the output is byte-identical to a run without workers.
"""

from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
import os
import pathlib

from smtpcore import mime
from smtpcore.model import Credential, Message, MimeInfo, Session
from smtpcore.output import OutputFolder, write_attachments
from smtpcore.report import shows_inline

# Messages decoded ahead at most; bounds the memory of results waiting their turn.
WINDOW = 32


def _decode(root: str, eml: str, message_id: str) -> tuple[MimeInfo, dict[str, str]]:
    """Runs in the worker: the decoded view, with the attachments written to disk."""
    folder = pathlib.Path(root)
    with open(folder / eml, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        info = mime.analyse(handle, keep_payloads=True, size=size)
    written = write_attachments(folder, message_id, info)
    for attachment in info.attachments:
        if not shows_inline(attachment):
            attachment.payload = None  # on disk now; not worth sending back
    return info, written


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
        self._pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)
        self._queue: collections.deque = collections.deque()

    def add(self, item: Session | Message | Credential, source: str) -> None:
        future = None
        if isinstance(item, Message) and item.content is not None:
            self._out.write_eml(item)  # the content is readable only now
            if item.eml_path is not None:
                future = self._pool.submit(
                    _decode, str(self._out.root), item.eml_path, item.id
                )
        self._queue.append((item, source, future))
        self._drain(keep=WINDOW)

    def close(self) -> None:
        self._drain(keep=0)
        self._pool.shutdown()

    def _drain(self, keep: int) -> None:
        """Hands finished items to the folder in order; waits while too many wait."""
        queue = self._queue
        while queue:
            item, source, future = queue[0]
            if future is not None:
                if len(queue) <= keep and not future.done():
                    return
                try:
                    item.mime, written = future.result()
                except Exception as error:  # a worker that died must not lose the rest
                    item.warnings.append(f"MIME decoding failed: {error}")
                else:
                    item.warnings.extend(item.mime.warnings)
                    self._out.add_written(written)
            queue.popleft()
            if isinstance(item, Message):
                self._out.record_message(item, source)
            else:
                self._out.add(item, source)
