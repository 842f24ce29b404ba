"""Warnings aggregated by kind, so a flood of one anomaly stays readable.

A capture can repeat one anomaly hundreds of thousands of times (a SYN flood, a
scan, a damaged stretch of file). Examiners need each kind once with its count
and a few examples, not 200,000 lines in a log, a manifest or a plaso storage
file. The kind of a warning is its text with the numbers taken out, which keeps
the stages free to word their warnings as they like.
"""

from __future__ import annotations

import re
from typing import Callable

EXAMPLES_PER_KIND = 5
"""Warnings of one kind passed on verbatim before the rest are only counted."""

_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")


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
