"""Line framing shared by the POP3 and IMAP machines: bounded lines, dot-stuffed bodies.

Both are fed arbitrary byte splits and give the same result for any split. Neither
holds more than ``MAX_LINE`` bytes of a line: a longer line is handed over in pieces
(flagged), so a hostile peer cannot grow memory, and a message body (which may have
lines of any length) is streamed, never held.
"""

from __future__ import annotations

from typing import Optional

MAX_LINE = 64 * 1024


class LineReader:
    """Splits a byte stream into lines ending in LF (CRLF kept as sent)."""

    def __init__(self, limit: int = MAX_LINE) -> None:
        self._partial = bytearray()
        self._limit = limit

    @property
    def pending(self) -> int:
        return len(self._partial)

    def take(self) -> bytes:
        """The incomplete line held so far, which is then forgotten."""
        data = bytes(self._partial)
        self._partial.clear()
        return data

    def next_line(
        self, data: bytes, position: int
    ) -> tuple[Optional[bytes], int, bool]:
        """The next complete line from ``data[position:]``.

        Returns (line or None, new position, overlong). A None line means all of
        ``data`` was consumed into the partial line. An overlong line comes back as
        a piece of ``limit`` bytes with ``overlong`` True; its rest follows as
        further pieces.
        """
        end = data.find(b"\n", position)
        if end < 0:
            self._partial += data[position:]
            if len(self._partial) >= self._limit:
                return self.take(), len(data), True
            return None, len(data), False
        piece = data[position : end + 1]
        if self._partial:
            self._partial += piece
            line = self.take()
        else:
            line = piece
        return line, end + 1, False


class DotBody:
    """The body of a dot-terminated multi-line response (RFC 1939 section 3).

    ``feed`` returns the unstuffed content found in the bytes and where the body
    ended (None while it goes on). Content is every line with its line ending, as
    the server sent it, except for the first dot of a line that starts with one and
    the terminating ``.CRLF`` line.
    """

    def __init__(self) -> None:
        self._line_start = True
        self._hold = b""  # a "." or ".\r" at a line start, waiting for more bytes
        self.ended = False

    def lost_bytes(self) -> None:
        """Bytes are missing: the next byte may be anywhere in a line."""
        self._line_start = False
        self._hold = b""

    def feed(self, data: bytes, position: int = 0) -> tuple[list[bytes], Optional[int]]:
        pieces: list[bytes] = []
        if self._hold:
            held = self._hold
            self._hold = b""
            need = 3 - len(held)
            joined = held + data[position : position + need]
            outcome = self._at_line_start(joined)
            if outcome is None:
                self._hold = joined
                return pieces, None
            consumed = outcome[1] - len(held)
            if outcome[0]:
                self.ended = True
                return pieces, position + consumed
            position += max(consumed, 0)
            self._line_start = False
        length = len(data)
        while position < length:
            if self._line_start:
                outcome = self._at_line_start(data[position : position + 3])
                if outcome is None:
                    self._hold = data[position:]
                    return pieces, None
                if outcome[0]:
                    self.ended = True
                    return pieces, position + outcome[1]
                position += outcome[1]
                self._line_start = False
            # Copy in bulk up to the next line that starts with a dot (rare in mail).
            dot = data.find(b"\n.", position)
            if dot < 0:
                if position < length:
                    pieces.append(data[position:])
                self._line_start = data.endswith(b"\n")
                return pieces, None
            pieces.append(data[position : dot + 1])
            position = dot + 1
            self._line_start = True
        return pieces, None

    @staticmethod
    def _at_line_start(head: bytes) -> Optional[tuple[bool, int]]:
        """(terminator?, bytes to skip) for a line start, None when undecidable."""
        if not head or head[:1] != b".":
            return (False, 0) if head else None
        rest = head[1:]
        if rest.startswith(b"\r\n") or rest.startswith(b"\n"):
            return True, 1 + (2 if rest.startswith(b"\r\n") else 1)
        if rest in (b"", b"\r"):
            return None
        return False, 1  # a stuffed dot: drop it
