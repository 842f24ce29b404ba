"""Splits a MIME body into its parts exactly as the stdlib feed parser does, fast.

``email.feedparser`` walks a body line by line in Python, which made it the largest
cost of decoding mail whose bytes are mostly base64 attachments. The only lines that
can change its course begin with ``--`` (delimiters, and close delimiters followed by
junk), so this splitter finds those with ``bytes.find`` over the whole buffer and
replays the parser's decisions on them alone: same tree, same payload bytes, same
defects, same ``--boundary---`` repair as ``mime._DelimiterInput``. Header blocks are
still parsed by the stdlib (``FeedParser._parse_headers``, policy.default), so header
semantics and their defects are the stdlib's own.

The stdlib's quirks are kept on purpose, because the differential test demands the
same output: consecutive delimiters are swallowed (a close delimiter among them too),
a trailing ``From `` header line becomes body, a multipart without its start boundary
keeps its preamble as payload with the line end before the next delimiter, and the
part limit cuts the message where the chunked feed would have stopped.
"""

from __future__ import annotations

import email.errors
import email.feedparser
import email.policy
import re
from typing import Callable, Optional

_HEADER_LINE = re.compile(rb"^(From |[\041-\071\073-\176]*:|[\t ])")
_POLICY = email.policy.default
_NEVER = 1 << 62  # an availability past every chunk: the line is complete at close


class Truncated(Exception):
    """The part limit was passed; the chunked feed would have stopped at ``end``."""

    def __init__(self, end: int) -> None:
        super().__init__(end)
        self.end = end


class BodyRange:
    """A part's undecoded payload: ``prefix`` then ``buffer[start:end]``.

    ``prefix`` is a ``From `` header line the stdlib moves into the body across the
    blank line it has already consumed; it is empty for nearly every part.
    """

    __slots__ = ("buffer", "prefix", "start", "end")

    def __init__(self, buffer, prefix: bytes, start: int, end: int) -> None:
        self.buffer = buffer
        self.prefix = prefix
        self.start = start
        self.end = end

    def __len__(self) -> int:
        return len(self.prefix) + self.end - self.start

    def tobytes(self) -> bytes:
        data = self.buffer[self.start : self.end]
        return self.prefix + data if self.prefix else data

    def strip_eol(self) -> None:
        """Drops one trailing line end, as the parser does for a part's last line."""
        if self.prefix and self.end - self.start <= 2:
            data = self.tobytes()
            self.buffer, self.start, self.prefix = data, 0, b""
            self.end = len(data)
        if self.end - self.start >= 2 and self.buffer[self.end - 2 : self.end] == (
            b"\r\n"
        ):
            self.end -= 2
        elif self.end > self.start and self.buffer[self.end - 1] in (10, 13):
            self.end -= 1


def last_line_start(buffer, end: int) -> int:
    """Where the line starts that a feed of ``buffer[:end]`` has not completed.

    A line is complete after its LF, or after its CR once a later byte has come.
    """
    newline = buffer.rfind(b"\n", 0, end)
    carriage = buffer.rfind(b"\r", 0, end - 1)
    return max(newline, carriage) + 1


def _delimiter(separator: Optional[bytes], line: bytes) -> Optional[bool]:
    """Whether line is a delimiter (False) or close delimiter (True) of separator.

    The stdlib's ``--boundary(--)?[ \\t]*(\\r\\n|\\r|\\n)?$``, on bytes; None when it
    is neither.
    """
    if separator is None or not line.startswith(separator):
        return None
    rest = line[len(separator) :]
    close = rest.startswith(b"--")
    if close:
        rest = rest[2:]
    if rest.lstrip(b" \t") in (b"", b"\r\n", b"\n", b"\r"):
        return close
    return None


class Splitter:
    """One parse: the buffer, the cursor and the parser's two stacks.

    Args:
        buffer: bytes or an mmap holding the body (and anything before it).
        end: where the data ends (the whole message, or the part-limit cut).
        new_part: makes an empty part (the email parser's ``_factory``).
        chunk_base: where the stdlib's chunked feed of the body starts.
        chunk: the feed's chunk size, to know where the part limit would stop it.
        budget: parts allowed before the feed stops; None for no limit.
        cut: for a parse of the data up to the part-limit cut, where the first line
            starts that the stdlib had not received whole when it stopped: the
            parts open there get ``cut_by_limit``.
    """

    def __init__(
        self,
        buffer,
        end: int,
        new_part: Callable[[], email.message.Message],
        chunk_base: int,
        chunk: int,
        budget: Optional[int],
        cut: Optional[int] = None,
    ) -> None:
        self.buffer = buffer
        self._cut = cut
        self._open: list[email.message.Message] = []  # the parser's message stack
        self.end = end
        self.pos = 0
        self._last = 0
        self._new_part = new_part
        self._chunk_base = chunk_base
        self._chunk = chunk
        self._budget = budget
        self.parts = 1  # the root, made by the header parser
        # Lines rewritten by the close-delimiter repair, by position.
        self._rewritten: dict[int, bytes] = {}
        # (separator + "--", part) of every multipart being parsed: the repair's stack.
        self._closers: list[tuple[bytes, email.message.Message]] = []
        # Separators whose delimiters end the current part: the parser's eof stack.
        self._matchers: list[bytes] = []
        self._headers = email.feedparser.FeedParser(policy=_POLICY)
        self._nl = (0, -1)  # (searched from, first "\n" at or after it or end)
        self._cr = (0, -1)

    # -- lines -----------------------------------------------------------

    def _next(self, cache: tuple[int, int], char: bytes, position: int):
        origin, found = cache
        if origin <= position <= found:
            return cache
        found = self.buffer.find(char, position, self.end)
        return (position, self.end if found < 0 else found)

    def line_end(self, position: int) -> int:
        """Where the line at position ends, its line end included.

        Lines end at CRLF, CR or LF, as in the stdlib. The next LF and CR positions
        are cached so that a message of CR-only lines is not searched to its end for
        every line.
        """
        self._nl = self._next(self._nl, b"\n", position)
        self._cr = self._next(self._cr, b"\r", position)
        newline, carriage = self._nl[1], self._cr[1]
        if carriage < newline:
            return carriage + 2 if carriage + 1 == newline else carriage + 1
        return newline + 1 if newline < self.end else self.end

    def _repair(self, position: int, line: bytes) -> bytes:
        """``--boundary--junk`` as the close delimiter (see mime._DelimiterInput)."""
        for closer, part in reversed(self._closers):
            if not line.startswith(closer):
                continue
            body = line.rstrip(b"\r\n")
            if not body[len(closer) :].strip(b" \t"):
                return line
            part.junk_close_lines.append(body.decode("ascii", "surrogateescape"))
            line = closer + line[len(body) :]
            self._rewritten[position] = line
            return line
        return line

    def _ends_part(self, line: bytes) -> bool:
        return any(_delimiter(sep, line) is not None for sep in self._matchers)

    def _reached(self, position: int) -> None:
        """Marks the open parts when the parse gets to where the stdlib stopped."""
        if self._cut is not None and position >= self._cut:
            for part in self._open:
                part.cut_by_limit = True
            self._cut = None

    def readline(self) -> Optional[bytes]:
        """The next line, or None at the end of the data or of the current part."""
        position = self.pos
        self._reached(position)
        if position >= self.end:
            return None
        end = self.line_end(position)
        line = self.buffer[position:end]
        if line.startswith(b"--"):
            line = self._repair(position, self._rewritten.get(position, line))
            if self._ends_part(line):
                return None
        self._last = position
        self.pos = end
        return line

    def unread(self) -> None:
        self.pos = self._last

    def scan(self, own: Optional[bytes]) -> int:
        """Where the next line that ends the part, or matches own, starts.

        This is the hot loop: a base64 body holds no "--" at all, so one
        ``find`` crosses it; only lines that start with "--" are looked at.
        """
        found = self._scan(own)
        self._reached(found)
        return found

    def _scan(self, own: Optional[bytes]) -> int:
        buffer, end = self.buffer, self.end
        start = self.pos
        position = start
        while True:
            found = buffer.find(b"--", position, end)
            if found < 0:
                return end
            if found != start and buffer[found - 1] not in (10, 13):
                position = found + 1  # not at a line start
                continue
            line_end = self.line_end(found)
            line = self._rewritten.get(found) or buffer[found:line_end]
            line = self._repair(found, line)
            if self._ends_part(line) or _delimiter(own, line) is not None:
                return found
            position = line_end

    # -- the part limit ----------------------------------------------------

    def _available(self, position: int) -> int:
        """Fed bytes after which the stdlib parser can read the line at position."""
        if position >= self.end:
            return _NEVER
        end = self.line_end(position)
        last = self.buffer[end - 1]
        if last == 10:
            return self._chunk_end(end)
        if last != 13 or end >= self.end:
            return _NEVER  # no line end yet, or a CR that may still become CRLF
        # A lone CR is known once a later byte is fed, and the feed splits lines only
        # when a chunk holds a CR or LF.
        chunk_end = self._chunk_end(end + 1)
        while chunk_end < _NEVER:
            chunk_start = max(chunk_end - self._chunk, end - 1)
            if (
                self.buffer.find(b"\r", chunk_start, chunk_end) >= 0
                or self.buffer.find(b"\n", chunk_start, chunk_end) >= 0
            ):
                return chunk_end
            chunk_end = self._chunk_end(chunk_end + 1)
        return _NEVER

    def _chunk_end(self, position: int) -> int:
        chunks = max(0, -(-(position - self._chunk_base) // self._chunk))
        chunk_end = self._chunk_base + chunks * self._chunk
        return chunk_end if chunk_end < self.end else _NEVER

    def _attach(self, parent: email.message.Message) -> email.message.Message:
        part = self._new_part()
        if parent.get_content_type() == "multipart/digest":
            part.set_default_type("message/rfc822")
        parent.attach(part)
        self.parts += 1
        if self._budget is not None and self.parts > self._budget:
            stop = self._available(self.pos)
            if stop < _NEVER:
                raise Truncated(stop)
        return part

    # -- parts -----------------------------------------------------------

    def split(self, root: email.message.Message, prefix: bytes, start: int) -> None:
        """Parses root's body from start; root's headers are already parsed."""
        self.pos = start
        root._payload = None  # the header parser's view of the body; ours replaces it
        self._open.append(root)
        self._body(root, prefix)
        if root.get_content_maintype() == "multipart" and not root.is_multipart():
            _POLICY.handle_defect(
                root, email.errors.MultipartInvariantViolationDefect()
            )

    def _part(self, part: email.message.Message) -> None:
        """A part from its first header line to the line that ends it."""
        lines = []
        last_start = self.pos
        blank = False
        while True:
            position = self.pos
            line = self.readline()
            if line is None:
                break
            if not _HEADER_LINE.match(line):
                if line[:1] in (b"\r", b"\n"):
                    blank = True
                else:
                    _POLICY.handle_defect(
                        part, email.errors.MissingHeaderBodySeparatorDefect()
                    )
                    self.unread()
                break
            last_start = position
            lines.append(line.decode("ascii", "surrogateescape"))
        prefix = b""
        headers = self._headers
        headers._cur = part
        headers._input = email.feedparser.BufferedSubFile()
        headers._parse_headers(lines)
        if headers._input._lines:  # a trailing "From " line, moved into the body
            if blank:
                prefix = headers._input._lines[0].encode("ascii", "surrogateescape")
            else:
                self.pos = last_start
        headers._cur = headers._input = None
        self._body(part, prefix)

    def _body(self, part: email.message.Message, prefix: bytes) -> None:
        separator = part.separator()
        closer = None
        if separator is not None:
            try:
                closer = (separator + "--").encode("ascii", "surrogateescape")
            except UnicodeEncodeError:  # a decoded non-ASCII boundary matches no line
                pass
        if closer is not None:
            self._closers.append((closer, part))
        try:
            if part.get_content_maintype() == "multipart":
                self._multipart(part, prefix, None if closer is None else closer[:-2])
            else:
                end = self.scan(None)
                part.body = BodyRange(self.buffer, prefix, self.pos, end)
                self.pos = end
        finally:
            if closer is not None:
                self._closers.pop()

    def _multipart(
        self, part: email.message.Message, prefix: bytes, own: Optional[bytes]
    ) -> None:
        start = self.pos
        if part.get_boundary() is None:
            _POLICY.handle_defect(part, email.errors.NoBoundaryInMultipartDefect())
            end = self.scan(None)
            part.body = BodyRange(self.buffer, prefix, start, end)
            self.pos = end
            return
        encoding = str(part.get("content-transfer-encoding", "8bit")).lower()
        if encoding not in ("7bit", "8bit", "binary"):
            _POLICY.handle_defect(
                part, email.errors.InvalidMultipartContentTransferEncodingDefect()
            )
        in_preamble = True
        closed = False
        while True:
            if in_preamble:
                self.pos = self.scan(own)
            line = self.readline()
            if line is None:
                break
            close = _delimiter(own, line)
            if close is None:  # cannot happen: scan stopped here for a reason
                continue
            if close:
                closed = True
                self.unread()  # kept for a preamble's end, read again below
                break
            if in_preamble:
                in_preamble = False
                self.unread()
                continue
            while True:  # the stdlib swallows delimiters that follow the first
                line = self.readline()
                if line is None or _delimiter(own, line) is None:
                    if line is not None:
                        self.unread()
                    break
            self._matchers.append(own)
            child = self._attach(part)
            self._open.append(child)
            self._part(child)
            self._open.pop()
            if child.get_content_maintype() != "multipart" and child.body is not None:
                child.body.strip_eol()
            self._matchers.pop()
        if in_preamble:
            _POLICY.handle_defect(part, email.errors.StartBoundaryNotFoundDefect())
            part.body = BodyRange(self.buffer, prefix, start, self.pos)
        elif not closed:
            _POLICY.handle_defect(part, email.errors.CloseBoundaryNotFoundDefect())
            return
        if closed:
            self.readline()
        self.pos = self.scan(None)  # the epilogue, or what follows a lost preamble
