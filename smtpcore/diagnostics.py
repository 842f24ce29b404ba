"""Warnings aggregated by kind, so a flood of one anomaly stays readable.

A capture can repeat one anomaly hundreds of thousands of times (a SYN flood, a
scan, a damaged stretch of file). Examiners need each kind once with its count
and a few examples, not 200,000 lines in a log, a manifest or a plaso storage
file. The kind of a warning is its text with the numbers taken out, which keeps
the stages free to word their warnings as they like.
"""

from __future__ import annotations

import re
from typing import Callable, Optional, Union

from smtpcore.model import Credential, Message, Session

EXAMPLES_PER_KIND = 5
"""Warnings of one kind passed on verbatim before the rest are only counted."""

# Numbers, and identifiers made of hex digits (session ids, hashes).
_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\b[0-9a-f]*\d[0-9a-f]*\b|\d+")
# "<source>: " before a warning, when the source has no spaces (paths of captures).
_SOURCE = re.compile(r"^[^ ]+: ")
_COUNTED = re.compile(r"(\d+) more warnings like this one not shown \(\d+ in total\): ")


def kind_of(text: str) -> str:
    """The warning with its numbers (offsets, frames, ids, addresses) as ``N``."""
    return _NUMBERS.sub("N", text)


class AggregatedWarnings:
    """A ``warn`` callable that passes on the first examples of each kind.

    Call ``flush`` at the end of the capture: it reports, once per kind that
    went over the limit, how many more there were and the first of them.
    """

    def __init__(
        self, warn: Callable[[str], None], examples: int = EXAMPLES_PER_KIND
    ) -> None:
        self._warn = warn
        self._examples = examples
        self._counts: dict[str, list] = {}  # kind -> [count, first text]

    def __call__(self, text: str) -> None:
        kind = kind_of(text)
        entry = self._counts.get(kind)
        if entry is None:
            self._counts[kind] = [1, text]
        else:
            entry[0] += 1
            if entry[0] > self._examples:
                return
        self._warn(text)

    def flush(self) -> None:
        """Report the counts of kinds that went over the limit, then start afresh."""
        for count, first in self._counts.values():
            if count > self._examples:
                self._warn(
                    f"{count - self._examples} more warnings like this one not "
                    f"shown ({count} in total): {first}"
                )
        self._counts.clear()


def summarize(lines: list[str]) -> list[tuple[int, str]]:
    """(count, first example) per kind, most frequent first, across captures.

    Understands ``AggregatedWarnings``' count lines, so the counts are those of
    the warnings themselves, also of the ones not passed on one by one.
    """
    kinds: dict[str, list] = {}
    for line in lines:
        extra = 0
        counted = _COUNTED.search(line)
        if counted:
            extra = int(counted.group(1))
            line = line[: counted.start()] + line[counted.end() :]
        entry = kinds.setdefault(kind_of(_SOURCE.sub("", line)), [0, line])
        entry[0] += extra or 1
    return sorted(
        ((count, first) for count, first in kinds.values()), key=lambda e: -e[0]
    )


_ENDINGS = {
    "fin": "closed by FIN",
    "rst": "reset",
    "idle": "idle, timed out",
    "end": "the capture ends first",
    "evicted": "evicted to bound memory",
}


def session_complete(
    session: Session, closed, inner, reason: str, incomplete_messages: int, tls
) -> bool:
    """Whether a session was captured whole, from its machines' ``Closed`` events.

    ``closed`` is the clear-text machine's event, ``inner`` that of the machine
    inside TLS, ``tls`` the session's TLS layer. Decrypted, complete means the
    clear part and the session inside TLS both are. The same rule for SMTP, POP3
    and IMAP.
    """
    if inner is not None and session.decrypted:
        return bool(
            (closed is None or not closed.gap_seen)
            and ((closed is not None and closed.greeting_seen) or inner.greeting_seen)
            and not inner.gap_seen
            and (inner.quit_seen or reason == "fin")
            and not incomplete_messages
            and not tls.info.warnings
        )
    return bool(
        closed is not None
        and closed.greeting_seen
        and not closed.gap_seen
        and (closed.quit_seen or closed.encrypted or reason == "fin")
        and not incomplete_messages
    )


def incomplete(item: Union[Session, Message, Credential]) -> Optional[str]:
    """Why a record is incomplete, as one warning line; None when it is complete.

    The pipeline reports every incomplete record this way, so damage never stays
    out of the log, the manifest, the exit status or plaso's warnings.
    """
    if isinstance(item, Message):
        if item.complete:
            return None
        if item.partial and not item.missing_bytes:
            return None  # a partial fetch: what the client asked for, all captured
        parts = []
        if item.missing_bytes:
            ranges = ", ".join(f"{o}+{n}" for o, n in item.missing_ranges[:3])
            more = ", ..." if len(item.missing_ranges) > 3 else ""
            parts.append(
                f"{item.missing_bytes} bytes missing (offset+length {ranges}{more})"
            )
        decoding = item.mime.warnings if item.mime is not None else []
        transfer = [w for w in item.warnings if w not in decoding]
        if transfer:  # the same with or without worker processes decoding MIME
            parts.append(transfer[0])
        return f"message {item.id}: incomplete" + "".join(f"; {p}" for p in parts)
    if isinstance(item, Session):
        if item.complete:
            return None
        ended = _ENDINGS.get(item.close_reason, item.close_reason)
        text = f"session {item.session_id}: incomplete ({ended})"
        if item.warnings:
            text += f"; {item.warnings[0]}"
        return text
    if isinstance(item, Credential):
        if item.success is not None:
            return None
        return (
            f"credential {item.id} ({item.mechanism}, user {item.username!r}): "
            "incomplete; the server's answer is not in the capture"
        )
    return None
