"""Sans-IO SMTP session machine: bytes of both directions in, events out.

The machine never does I/O. It is fed the in-order bytes of each direction (and the
gaps the reassembler could not fill) in capture order, and answers with events from
`smtpcore.smtp.events`. Replies are matched to commands through a queue of commands
awaiting replies, which is what PIPELINING (RFC 2920) requires. Message content is
streamed out as it is decoded, never held whole.

Damage is expected, not exceptional: one direction missing, captures that begin in
the middle of a session or of a message, lost segments and cut connections all yield
whatever is still decodable plus an `Anomaly` that says what happened. The guesses
this takes, in one place:

- DATA content starts at the 354 when the server is being captured, at once when it
  is not; a server reply while content is still expected ends the content there (its
  end marker was lost or was not CRLF.CRLF) and is taken as the final reply.
- Line starts (dot-unstuffing, the end marker) are after CRLF only; a bare LF is kept
  as sent. After a content gap a line start is assumed.
- The client's first line decides how the capture began: a command, or (when neither
  it nor the next line is one) the tail of a message, kept as partial content. A
  single non-command line followed by a command or by a reply is the cut tail of a
  command and is skipped.
- When the session start was captured and the server never spoke, no reply will
  come: a transaction ends at the next MAIL/RSET/HELO instead of at its reply.
- After STARTTLS, client bytes that open a TLS record mean it was accepted even when
  the 220 was not captured. After an accepted STARTTLS, SMTP in clear (a decrypted
  export) is decoded as such (`TlsPlaintext`); only TLS records mean encrypted.
- A dot alone on a line whose line ends are not both CRLF (``\\n.\\n``, ``\\r.\\r``...)
  is content by RFC 5321 but ends the data for lenient servers (SMTP smuggling). The
  server's reply decides: a reply while content is still expected after such lines
  ends the message at one of them, and the client bytes after it are commands again.
  Every such line is a `SmugglingIndicator`.
- A server gap right after a client content gap is the lost reply to an end of data
  lost in that gap: the content ends there.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import struct
from typing import Optional

from smtpcore import flowskip
from smtpcore.model import SmugglingIndicator
from smtpcore.smtp import events as ev
from smtpcore.smtp.auth import AuthExchange

CLIENT = ev.CLIENT
SERVER = ev.SERVER

# A line longer than this without a line end is not SMTP any more: drop and resync.
MAX_LINE = 64 * 1024
# Client bytes held while DATA waits for its 354; past this, assume the 354 was lost.
MAX_DATA_WAIT = 64 * 1024
# Bytes of a TLS ClientHello kept to find the SNI server name.
MAX_CLIENT_HELLO = 16 * 1024
# Commands awaiting replies; only a one-sided capture gets anywhere near this.
MAX_PENDING = 4096
# Lines of one multi-line reply.
MAX_REPLY_LINES = 1000
# Transactions kept waiting for replies; only a one-sided capture gets near this.
MAX_WAITING_TRANSACTIONS = 8
# Anomalies per session; past this one notice says the rest were dropped.
MAX_ANOMALIES = 500
MAX_GAP_WARNINGS = 20  # per message; missing_ranges keeps them all
MAX_INDICATORS = 100  # smuggling markers listed per message (all are counted)
MAX_INDICATOR_WARNINGS = 5  # per message

HELO_VERBS = frozenset({"HELO", "EHLO", "LHLO"})
KNOWN_VERBS = frozenset(
    {
        "HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP",
        "VRFY", "EXPN", "HELP", "QUIT", "STARTTLS", "AUTH", "TURN", "ETRN", "ATRN",
        "SEND", "SOML", "SAML", "VERB", "ONEX", "BURL", "XCLIENT", "XFORWARD",
        "XEXCH50", "X-EXPS", "X-LINK2STATE", "XSHADOW", "XQUE", "XAUTH",
    }
)  # fmt: skip

_LINE_MODE = "line"
_UNSYNCED = "unsynced"  # no client line seen yet: command or tail of a message?
_DATA_WAIT = "data-wait"  # DATA sent, its 354 not seen yet
_DATA = "data"
_BDAT = "bdat"
_TLS = "tls"
_TLS_WAIT = "tls-wait"  # STARTTLS accepted: TLS records or SMTP in clear next?
# Bytes of a first line after STARTTLS looked at to tell SMTP from TLS.
MAX_TLS_PROBE = 512

_REPLY_LINE = re.compile(rb"(\d{3})([ -]?)(.*)", re.S)
# The block scans of DATA (`SmtpMachine._plain_content`, `_scan_crlf_only`); off
# only to test them against the line scan.
_FAST_SCAN = True


def plain_bytes(data: bytes, previous_cr: bool, context_cr: bool) -> bool:
    """True when DATA content ``data`` is content as it stands: no dot at its start,
    after an LF or after a CR; every LF after a CR (``previous_cr``: the byte before
    ``data`` was one); and, when it holds a dot, no bare CR (``context_cr``: the
    content byte before ``data`` was a CR, as ``_odd_dots`` counts it).

    ``smtpcore._fastpath.plain_content`` is the same test in one pass (CPython
    searches two-byte patterns a byte at a time: four passes cost 5 µs a segment).
    """
    if not data or data[0] == 0x2E or b"\n." in data or b"\r." in data:
        return False
    crlf = data.count(b"\r\n") + (data[0] == 0x0A and previous_cr)
    if data.count(b"\n") != crlf:
        return False  # a bare LF: warned about by the general scan
    return b"." not in data or context_cr + data.count(b"\r") <= crlf


_compiled = flowskip.compiled("_fastpath")
_plain_bytes = plain_bytes if _compiled is None else _compiled.plain_content

_ENHANCED = re.compile(r"([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)")
_VERB_START = re.compile(rb"[A-Za-z][A-Za-z0-9-]{2,11}(?:[ \t:\r\n]|$)")
_MAIL_ARG = re.compile(r"FROM\s*:(.*)", re.I | re.S)
_RCPT_ARG = re.compile(r"TO\s*:(.*)", re.I | re.S)
_QUEUE_ID_PATTERNS = (
    re.compile(r"queued\s+as\s+<?([A-Za-z0-9][A-Za-z0-9._@\-]*)", re.I),
    re.compile(r"\bid=<?([A-Za-z0-9][A-Za-z0-9._@\-]*)", re.I),
    re.compile(r"\bOK\b[:,]?\s+<?([A-Za-z0-9][A-Za-z0-9._@\-]*)(?!\s+bytes)", re.I),
    re.compile(r"^([A-Za-z0-9]{8,})\s+Message accepted", re.I),
)


def text(data: bytes) -> str:
    """Bytes as readable text: UTF-8, undecodable bytes written as \\xNN."""
    return data.decode("utf-8", "backslashreplace")


def split_command(line: bytes) -> tuple[str, str]:
    """(VERB upper-cased, argument) of a command line without its line end."""
    parts = line.split(None, 1)
    if not parts:
        return "", ""
    verb = text(parts[0]).upper()
    argument = text(parts[1]).rstrip() if len(parts) > 1 else ""
    return verb, argument


def looks_like_command(line: bytes) -> bool:
    verb, _ = split_command(line[:64])
    if verb in KNOWN_VERBS:
        return True
    return verb.split(":", 1)[0] in ("MAIL", "RCPT")


def parse_path(argument: str) -> tuple[str, str]:
    """(address, parameters) of the text after ``FROM:`` or ``TO:``.

    Angle brackets are optional and quoted local parts may hold ``>``; a source
    route (``<@a,@b:user@c>``) is dropped as RFC 5321 says.
    """
    rest = argument.strip()
    if rest.startswith("<"):
        index, quoted = 1, False
        while index < len(rest):
            char = rest[index]
            if char == "\\" and quoted:
                index += 1
            elif char == '"':
                quoted = not quoted
            elif char == ">" and not quoted:
                break
            index += 1
        address = rest[1:index]
        parameters = rest[index + 1 :].strip()
    else:
        parts = rest.split(None, 1)
        address = parts[0] if parts else ""
        parameters = parts[1].strip() if len(parts) > 1 else ""
    if address.startswith("@") and ":" in address:
        address = address.split(":", 1)[1]
    return address, parameters


def parse_parameters(parameters: str) -> dict[str, Optional[str]]:
    """ESMTP parameters (``SIZE=10 BODY=8BITMIME SMTPUTF8``) by upper-cased keyword."""
    result: dict[str, Optional[str]] = {}
    for item in parameters.split():
        key, sep, value = item.partition("=")
        result[key.upper()] = value if sep else None
    return result


def queue_id(reply_text: str) -> Optional[str]:
    """The queue id a server gives in its reply after the data, if it says one."""
    stripped = _ENHANCED.sub("", reply_text, count=1) if reply_text else ""
    first_line = stripped.split("\n", 1)[0].strip()
    for pattern in _QUEUE_ID_PATTERNS:
        match = pattern.search(first_line)
        if not match:
            continue
        candidate = match.group(1).rstrip(".,;>")
        if pattern is _QUEUE_ID_PATTERNS[2] and not any(c.isdigit() for c in candidate):
            continue
        if candidate:
            return candidate
    return None


def is_tls_record(data: bytes) -> bool:
    """True for the start of a TLS handshake record (0x16 0x03 xx)."""
    return len(data) >= 2 and data[0] == 0x16 and data[1] == 0x03


def client_hello_server_name(data: bytes) -> tuple[bool, Optional[str]]:
    """(done, SNI) from the first TLS records of a client; done False: need more bytes.

    Only what RFC 8446/5246 fix is read: handshake records carrying a ClientHello,
    possibly spread over several records, and its server_name extension.
    """
    handshake = bytearray()
    position = 0
    while position + 5 <= len(data):
        content_type, major, _minor, length = struct.unpack_from(
            "!BBBH", data, position
        )
        if content_type != 22 or major != 3:
            return True, None
        handshake += data[position + 5 : position + 5 + length]
        position += 5 + length
        if len(handshake) >= 4:
            if handshake[0] != 1:
                return True, None
            needed = 4 + int.from_bytes(handshake[1:4], "big")
            if len(handshake) >= needed:
                return True, _sni_from_hello(bytes(handshake[4:needed]))
    return False, None


def _sni_from_hello(body: bytes) -> Optional[str]:
    try:
        offset = 2 + 32  # client_version, random
        offset += 1 + body[offset]  # session id
        offset += 2 + struct.unpack_from("!H", body, offset)[0]  # cipher suites
        offset += 1 + body[offset]  # compression methods
        if offset + 2 > len(body):
            return None
        end = offset + 2 + struct.unpack_from("!H", body, offset)[0]
        offset += 2
        while offset + 4 <= min(end, len(body)):
            ext_type, ext_length = struct.unpack_from("!HH", body, offset)
            offset += 4
            if ext_type == 0:
                names_end = offset + 2 + struct.unpack_from("!H", body, offset)[0]
                position = offset + 2
                while position + 3 <= names_end:
                    name_type, name_length = struct.unpack_from("!BH", body, position)
                    position += 3
                    if name_type == 0:
                        name = body[position : position + name_length]
                        return name.decode("ascii", "backslashreplace")
                    position += name_length
                return None
            offset += ext_length
    except (struct.error, IndexError):
        return None
    return None


# Replies that never answer AUTH: success, 251/252 and 354 belong to other commands.
_NOT_AUTH_REPLIES = frozenset({250, 251, 252, 354})


@dataclasses.dataclass(slots=True, eq=False)
class _Transaction:
    number: int
    start_ns: Optional[int] = None
    mail_from: Optional[str] = None
    mail_parameters: str = ""
    mail_accepted: Optional[bool] = None
    recipients: list[ev.RcptTo] = dataclasses.field(default_factory=list)
    method: Optional[str] = None  # "DATA"/"BDAT" once content started
    data_started: bool = False
    data_end_ns: Optional[int] = None
    size: int = 0
    accepted: Optional[bool] = None
    reply: Optional[str] = None
    queue_id: Optional[str] = None
    missing_bytes: int = 0
    gaps: int = 0
    missing_prefix: bool = False
    cut: bool = False  # the end of the content was never seen
    dialogue_gap: bool = False  # client bytes lost while it was open for commands
    bare_lf_reported: bool = False
    indicators: int = 0  # possible smuggling markers, all counted
    smuggling: list[SmugglingIndicator] = dataclasses.field(default_factory=list)
    closed: bool = False  # no more commands belong to it
    close_reason: str = ""
    pending: int = 0  # its commands still awaiting replies
    final: bool = False  # the reply after the data was seen
    in_data: bool = False
    ended: bool = False
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True, eq=False)
class _Candidate:
    """A dot line with non-standard line ends that content went on past, so far."""

    marker: bytes
    offset: int  # of the line end before the dot, in the content
    size: int  # the content's size if the data ended here
    end: int  # index after it in the buffer it was found in
    raw: int = 0  # index after it in the kept raw bytes


@dataclasses.dataclass(slots=True, eq=False)
class _Pending:
    kind: str  # HELO MAIL RCPT DATA END BDAT RSET QUIT STARTTLS AUTH OTHER
    verb: str
    transaction: Optional[_Transaction] = None
    recipient: Optional[ev.RcptTo] = None
    last: bool = False
    auth: Optional["_Auth"] = None  # AUTH: the attempt its reply finishes


@dataclasses.dataclass(slots=True, eq=False)
class _Auth:
    exchange: AuthExchange
    start_ns: int
    mechanism: str
    challenges: int = 0  # 334s not answered yet
    aborted: bool = False
    # Another AUTH before this one's reply leaves it waiting for that reply, unless
    # a 334 or lost server bytes came in between (then its outcome is unknown).
    can_wait: bool = True
    done: bool = False  # AuthFinished sent


class SmtpMachine:
    """One SMTP connection as a state machine; see the module docstring."""

    def __init__(self) -> None:
        self._events: list[ev.Event] = []
        self._client_mode = _UNSYNCED
        self._client_line = bytearray()
        self._client_skip = False  # drop bytes up to the next line end
        self._server_line = bytearray()
        self._server_skip = False
        self._reply_lines: list[tuple[int, bytes, bytes]] = []  # code, line, text
        self._long_reply_reported = False
        self._server_tls_checked = False
        self._pending: collections.deque[_Pending] = collections.deque()
        self._transactions: list[_Transaction] = []  # not ended yet
        self._current: Optional[_Transaction] = None  # open for commands
        self._data_transaction: Optional[_Transaction] = None  # receiving content
        self._count = 0
        self._at_line_start = True  # in DATA: after CRLF
        self._hold = b""  # in DATA: a dot line (or its start) at the end, undecided
        self._context = b"\r\n"  # in DATA: the last two content bytes scanned
        self._candidates: list[_Candidate] = []  # undecided dot lines in DATA
        self._gap_last = False  # in DATA: the last client event was a content gap
        self._after = bytearray()  # raw client bytes after the first of them
        self._previous_cr = False
        self._wait = bytearray()  # client bytes after DATA before its 354
        self._first_line: Optional[bytes] = None  # capture start: content or not?
        self._hello_first = False  # the client's first line was HELO/EHLO/LHLO
        self._bdat_left = 0
        self._bdat_last = False
        self._auth: Optional[_Auth] = None
        self._starttls_sent = False
        self._tls_wait = False  # STARTTLS accepted, no byte after it seen yet
        self._probe = b""  # client bytes after STARTTLS, TLS or SMTP undecided
        self._hello = bytearray()
        self._hello_done = False
        self._anomalies = 0
        self._overflow_reported = False
        self.server_seen = False
        self.client_seen = False
        self.greeting_seen = False
        self.any_reply = False
        self.quit_seen = False
        self.gap_seen = False
        self.encrypted = False
        self.closed = False

    # ----------------------------------------------------------------- feeding

    def data(self, direction: int, data: bytes, ts_ns: int) -> list[ev.Event]:
        """In-order bytes of one direction."""
        if self.closed or not data:
            return []
        data = bytes(data)
        if direction == CLIENT:
            self.client_seen = True
            if self._client_mode == _DATA and _FAST_SCAN and self._plain_content(data):
                return [ev.MessageData(ts_ns, self._data_transaction.number, data)]
            self._client_bytes(data, ts_ns)
        else:
            self.server_seen = True
            self._server_bytes(data, ts_ns)
        return self._take()

    def gap(self, direction: int, length: int, ts_ns: int) -> list[ev.Event]:
        """``length`` bytes of one direction were lost at this point."""
        if self.closed or length <= 0:
            return []
        self.gap_seen = True
        if direction == CLIENT:
            self.client_seen = True
            self._client_gap(length, ts_ns)
        else:
            self.server_seen = True
            self._server_gap(length, ts_ns)
        return self._take()

    def close(self, ts_ns: int) -> list[ev.Event]:
        """The connection is over (or the capture ended); flush everything."""
        if self.closed:
            return []
        if self._first_line is not None:
            held, self._first_line = self._first_line, None
            self._orphan_content(held, ts_ns)
        if self._client_mode == _DATA_WAIT and self._wait:
            self._anomaly(
                ts_ns, CLIENT, "client content after DATA without a captured 354 reply"
            )
            self._start_content(ts_ns)
        if self._client_mode == _DATA:
            self._flush_hold(ts_ns)
            self._cut_content(ts_ns, "connection closed before the end-of-data marker")
        elif self._client_mode == _BDAT:
            left = self._bdat_left
            self._bdat_left = 0
            self._missing_content(left, ts_ns)  # announced by BDAT, never seen
            self._cut_content(
                ts_ns, f"connection closed with {left} bytes of a BDAT chunk not seen"
            )
        if self._client_mode == _TLS_WAIT and self._probe:
            probe, self._probe = self._probe, b""
            if probe[:1] == b"\x16":
                self._start_tls(ts_ns, implicit=False)
                self._tls_bytes(probe, ts_ns)
            else:
                self._decide_after_starttls(probe, ts_ns)
        if self._client_mode == _TLS and not self._hello_done and self._hello:
            self._emit_hello(ts_ns, force=True)
        if self._client_line and self._client_mode != _TLS:
            self._anomaly(
                ts_ns,
                CLIENT,
                f"connection closed with {len(self._client_line)} bytes of an "
                f"unterminated client line: {text(bytes(self._client_line[:80]))!r}",
            )
        if self._server_line and not self.encrypted:
            self._anomaly(
                ts_ns,
                SERVER,
                f"connection closed with {len(self._server_line)} bytes of an "
                f"unterminated server line: {text(bytes(self._server_line[:80]))!r}",
            )
        if self._reply_lines:
            self._finish_reply(ts_ns)
        for entry in self._pending:
            if entry.auth is not None and entry.auth is not self._auth:
                self._finish_auth(ts_ns, None, None, entry.auth)
        if self._auth is not None:
            self._finish_auth(ts_ns, None, None)
        self._close_current(ts_ns, "close")
        for transaction in list(self._transactions):
            self._end_transaction(transaction, ts_ns, "close")
        self.closed = True
        self._events.append(
            ev.Closed(
                ts_ns, self.greeting_seen, self.quit_seen, self.gap_seen, self.encrypted
            )
        )
        return self._take()

    # ------------------------------------------------------------------ client

    def _client_bytes(self, data: bytes, ts: int) -> None:
        position = 0
        while position < len(data):
            mode = self._client_mode
            if mode == _TLS:
                self._tls_bytes(data[position:], ts)
                return
            if mode == _TLS_WAIT:
                position = self._tls_wait_bytes(data, position, ts)
                continue
            if mode in (_LINE_MODE, _UNSYNCED):
                position = self._client_line_bytes(data, position, ts)
            elif mode == _DATA:
                position = self._data_bytes(data, position, ts)
            elif mode == _BDAT:
                position = self._bdat_bytes(data, position, ts)
            elif mode == _DATA_WAIT:
                position = self._data_wait_bytes(data, position, ts)

    def _client_line_bytes(self, data: bytes, position: int, ts: int) -> int:
        if not self._client_line:
            head = data[position : position + 2]
            if self._client_skip:
                if _VERB_START.match(data, position) and looks_like_command(
                    data[position : position + 64]
                ):
                    self._client_skip = False
                else:
                    end = data.find(b"\n", position)
                    if end < 0:
                        return len(data)
                    self._client_skip = False
                    return end + 1
            if (self._client_mode == _UNSYNCED or self._starttls_sent) and (
                is_tls_record(head) or (len(head) == 1 and head[0] == 0x16)
            ):
                if len(head) < 2:
                    self._client_line += head
                    return len(data)
                self._start_tls(ts, implicit=self._client_mode == _UNSYNCED)
                self._tls_bytes(data[position:], ts)
                return len(data)
        elif (self._client_mode == _UNSYNCED or self._starttls_sent) and bytes(
            self._client_line
        ) == b"\x16":
            if data[position] == 0x03:
                self._client_line.clear()
                self._start_tls(ts, implicit=self._client_mode == _UNSYNCED)
                self._tls_bytes(b"\x16" + data[position:], ts)
                return len(data)
        end = data.find(b"\n", position)
        if end < 0:
            self._client_line += data[position:]
            if len(self._client_line) > MAX_LINE:
                self._anomaly(
                    ts,
                    CLIENT,
                    f"client line longer than {MAX_LINE} bytes without a line end; "
                    "skipped to the next line",
                )
                self._client_line.clear()
                self._client_skip = True
            return len(data)
        raw = bytes(self._client_line) + data[position : end + 1]
        self._client_line.clear()
        self._client_line_complete(raw, ts)
        return end + 1

    def _client_line_complete(self, raw: bytes, ts: int) -> None:
        line = raw.rstrip(b"\n").rstrip(b"\r")
        if self._client_mode == _UNSYNCED:
            self._hello_first = split_command(line)[0] in HELO_VERBS
            if self.greeting_seen or looks_like_command(line):
                self._drop_first_line(ts, "the next line is a command")
                self._client_mode = _LINE_MODE
            elif self._first_line is None and line != b".":
                self._first_line = raw  # the next line tells content from command
                return
            else:
                held, self._first_line = (self._first_line or b"") + raw, None
                self._orphan_content(held, ts)
                return
        if self._auth is not None and self._auth_line(line, ts):
            return
        self._command(line, ts)

    def _drop_first_line(self, ts: int, why: str) -> None:
        """The first client line was the tail of a command cut by the capture start."""
        if self._first_line is None:
            return
        line, self._first_line = self._first_line, None
        shown = text(line.rstrip(b"\r\n")[:80])
        self._anomaly(
            ts,
            CLIENT,
            f"capture starts inside a client line ({why}): skipped {shown!r}",
        )

    def _orphan_content(self, raw: bytes, ts: int) -> None:
        """The capture began inside message content: keep it as a partial message."""
        transaction = self._new_transaction(ts, with_mail=False)
        transaction.missing_prefix = True
        transaction.closed = True
        transaction.close_reason = "data"
        self._current = None
        message = (
            f"transaction {transaction.number}: capture starts inside message "
            "content; an unknown number of leading bytes and the envelope are missing"
        )
        transaction.warnings.append(message)
        self._anomaly(ts, CLIENT, message, transaction)
        self._enter_content(transaction, "DATA", ts, partial=True)
        self._data_bytes(raw, 0, ts)

    def _auth_line(self, line: bytes, ts: int) -> bool:
        """Feeds a client line to the AUTH exchange when it is a response."""
        auth = self._auth
        assert auth is not None
        if auth.challenges > 0:
            auth.challenges -= 1
        elif self.any_reply:
            return False
        elif looks_like_command(line):
            self._finish_auth(ts, None, None)  # one-sided capture: it is over
            return False
        auth.exchange.client_response(line)
        if line.strip() == b"*":
            auth.aborted = True
            if not self.any_reply:
                self._finish_auth(ts, None, None)
        return True

    def _command(self, line: bytes, ts: int) -> None:
        verb, argument = split_command(line)
        self._events.append(ev.Command(ts, verb, argument, text(line)))
        if verb.startswith(("MAIL:", "RCPT:")):  # "MAIL:FROM" style typo
            verb, argument = verb[:4], verb[5:] + (" " + argument if argument else "")
        if verb in HELO_VERBS:
            self._close_current(ts, verb)
            self._events.append(ev.Helo(ts, verb, argument.split(" ", 1)[0]))
            self._push(_Pending("HELO", verb), ts)
        elif verb == "MAIL":
            self._mail(argument, ts)
        elif verb == "RCPT":
            self._rcpt(argument, ts)
        elif verb == "DATA":
            self._data_command(ts)
        elif verb == "BDAT":
            self._bdat_command(argument, ts)
        elif verb in ("RSET", "QUIT"):
            self._close_current(ts, verb)
            self.quit_seen = self.quit_seen or verb == "QUIT"
            self._push(_Pending(verb, verb), ts)
        elif verb == "STARTTLS":
            self._close_current(ts, verb)
            self._starttls_sent = True
            self._push(_Pending("STARTTLS", verb), ts)
        elif verb == "AUTH":
            self._auth_command(argument, line, ts)
        else:
            if verb not in KNOWN_VERBS:
                shown = text(line[:80])
                self._anomaly(ts, CLIENT, f"unknown client command {shown!r}")
            self._push(_Pending("OTHER", verb), ts)

    def _mail(self, argument: str, ts: int) -> None:
        self._close_current(ts, "MAIL")
        match = _MAIL_ARG.match(argument)
        if not match:
            self._anomaly(ts, CLIENT, f"malformed MAIL command argument {argument!r}")
        address, parameters = parse_path(match.group(1) if match else argument)
        transaction = self._new_transaction(ts, with_mail=True)
        transaction.mail_from = address
        transaction.mail_parameters = parameters
        self._events.append(
            ev.MailFrom(
                ts,
                transaction.number,
                address,
                parameters,
                parse_parameters(parameters),
            )
        )
        self._push(_Pending("MAIL", "MAIL", transaction), ts)

    def _rcpt(self, argument: str, ts: int) -> None:
        transaction = self._current_or_orphan(ts, "RCPT")
        match = _RCPT_ARG.match(argument)
        if not match:
            self._anomaly(ts, CLIENT, f"malformed RCPT command argument {argument!r}")
        address, parameters = parse_path(match.group(1) if match else argument)
        recipient = ev.RcptTo(ts, transaction.number, address, parameters, None, None)
        transaction.recipients.append(recipient)
        self._push(_Pending("RCPT", "RCPT", transaction, recipient), ts)

    def _data_command(self, ts: int) -> None:
        transaction = self._current_or_orphan(ts, "DATA")
        self._push(_Pending("DATA", "DATA", transaction), ts)
        self._data_transaction = transaction
        if self.server_seen:
            self._client_mode = _DATA_WAIT
        else:
            self._enter_content(transaction, "DATA", ts)

    def _bdat_command(self, argument: str, ts: int) -> None:
        parts = argument.split()
        if (
            not parts
            or not parts[0].isdigit()
            or (len(parts) > 1 and (parts[1].upper() != "LAST" or len(parts) > 2))
        ):
            self._anomaly(
                ts,
                CLIENT,
                f"malformed BDAT command argument {argument!r}; its chunk cannot be "
                "skipped, resynchronising at the next command line",
            )
            self._push(_Pending("OTHER", "BDAT"), ts)
            self._client_skip = True
            return
        size, last = int(parts[0]), len(parts) > 1
        transaction = self._current_or_orphan(ts, "BDAT")
        if transaction.mail_from is None and not transaction.data_started:
            # Its MAIL FROM was not seen, so neither may earlier chunks have been.
            transaction.missing_prefix = True
            message = (
                f"transaction {transaction.number}: first BDAT chunk seen without its "
                "MAIL FROM; earlier chunks of the message may be missing"
            )
            transaction.warnings.append(message)
            self._anomaly(ts, CLIENT, message, transaction)
        self._push(_Pending("BDAT", "BDAT", transaction, last=last), ts)
        self._enter_content(transaction, "BDAT", ts)
        self._bdat_left = size
        self._bdat_last = last
        self._client_mode = _BDAT
        if size == 0:
            self._bdat_chunk_done(ts)

    def _auth_command(self, argument: str, line: bytes, ts: int) -> None:
        parts = line.split(None, 2)
        mechanism = text(parts[1]).upper() if len(parts) > 1 else ""
        initial = parts[2].strip() if len(parts) > 2 else None
        if self._auth is not None and not (self._auth.can_wait and self.any_reply):
            self._finish_auth(ts, None, None)
        # Otherwise the attempt before waits for its reply, which comes in order
        # (a guessing tool that does not wait for each 535).
        self._auth = _Auth(AuthExchange(mechanism, initial), ts, mechanism)
        self._events.append(ev.AuthStarted(ts, mechanism))
        self._push(_Pending("AUTH", "AUTH", auth=self._auth), ts)

    def _data_wait_bytes(self, data: bytes, position: int, ts: int) -> int:
        self._wait += data[position:]
        if len(self._wait) > MAX_DATA_WAIT:
            self._anomaly(
                ts,
                CLIENT,
                f"more than {MAX_DATA_WAIT} client bytes after DATA without a 354 "
                "reply; taken as message content",
            )
            self._drop_pending_data()
            self._start_content(ts)
        return len(data)

    def _drop_pending_data(self) -> None:
        """The 354 was lost: the DATA command no longer waits for a reply."""
        for index, entry in enumerate(self._pending):
            if entry.kind == "DATA":
                del self._pending[index]
                if entry.transaction is not None:
                    entry.transaction.pending -= 1
                return

    def _start_content(self, ts: int) -> None:
        """DATA was accepted (or must have been): the held bytes are content."""
        transaction = self._data_transaction
        held = bytes(self._wait)
        self._wait.clear()
        if transaction is None:
            self._client_mode = _LINE_MODE
        else:
            self._enter_content(transaction, "DATA", ts)
        if held:
            self._client_bytes(held, ts)

    def _enter_content(
        self, transaction: _Transaction, method: str, ts: int, partial: bool = False
    ) -> None:
        self._data_transaction = transaction
        transaction.in_data = True
        if method == "DATA":
            self._client_mode = _DATA
            self._at_line_start = True
            self._hold = b""
            self._context = b"\r\n"
            self._gap_last = False
            self._previous_cr = False
        if not transaction.data_started:
            transaction.data_started = True
            transaction.method = method
            self._events.append(ev.DataStart(ts, transaction.number, method, partial))

    def _plain_content(self, data: bytes) -> bool:
        """Takes ``data`` as content as it stands when `_data_bytes` would (see
        `plain_bytes`), with nothing held back; False (nothing changed) otherwise.

        Why: most DATA segments are the middle of a message (base64 has no dot at
        all), and the general path cost five calls and a scan state per segment;
        `test_block_scan_gives_the_events_of_the_line_scan` holds both to the same
        events.
        """
        context = self._context
        if self._hold or self._candidates or context[1] == 0x2E:
            return False
        if not _plain_bytes(data, self._previous_cr, context[1] == 0x0D):
            return False
        last = data[-1]
        self._at_line_start = last == 0x0A
        self._previous_cr = last == 0x0D
        self._context = data[-2:] if len(data) >= 2 else context[1:] + data
        self._gap_last = False
        self._data_transaction.size += len(data)
        return True

    def _data_bytes(self, data: bytes, position: int, ts: int) -> int:
        """Dot-unstuffs DATA content and finds CRLF.CRLF; returns where it stopped.

        A dot line with other line ends (``\\n.\\n``, ``\\r.\\r``...) at the very end
        of the bytes so far is held back: a server reply next means the server took
        it as the end of data (see `_odd_end`); more content means it did not.
        """
        transaction = self._data_transaction
        assert transaction is not None
        self._gap_last = False
        held = self._hold
        buffer = held + data[position:] if held else data[position:]
        self._hold = b""
        cut = self._marker_tail(buffer)
        length = len(buffer) if cut < 0 else cut
        new: list[_Candidate] = []
        context = self._context
        base = transaction.size
        scan = _FAST_SCAN and self._scan_crlf_only(buffer, length)
        if scan:
            pieces, end_at, hold_at, crlf_lines = scan
            bare_lf = False
        else:
            pieces, end_at, hold_at, crlf_lines, bare_lf = self._scan_lines(
                buffer, length, ts
            )
        if hold_at >= 0:
            scanned = hold_at
        elif end_at >= 0:
            scanned = end_at - 3
        else:
            scanned = length
        if scanned > 0:
            self._context = (
                buffer[scanned - 2 : scanned]
                if scanned >= 2
                else (context + buffer[:scanned])[-2:]
            )
            # Every dot line that is not CRLF-delimited has a bare LF or a bare CR
            # (more CRs than CRLF lines; a line whose CR came in the bytes before
            # counts its CR here too): only then are the dots looked at.
            # Base64 has no dots at all: memchr says so at once.
            carried_cr = context[1] == 0x0D
            if (context[1] == 0x2E or buffer.find(b".", 0, scanned) >= 0) and (
                bare_lf
                or b"\r." in context + buffer[:2]
                or b"\n." in context + buffer[:2]
                or carried_cr + buffer.count(b"\r", 0, scanned) > crlf_lines
            ):
                new = self._odd_dots(context, buffer, scanned, base, ts)
        self._emit_content(pieces, ts)
        if end_at < 0:
            if hold_at >= 0 or cut >= 0:
                self._hold = buffer[hold_at if hold_at >= 0 else cut :]
            self._track_after(buffer, len(buffer) - len(self._hold), new, ts)
            return len(data)
        self._candidates.extend(new)  # content went on to CRLF.CRLF past them
        transaction.data_end_ns = ts
        self._end_content(ts, complete=True, reason="end marker")
        self._push(_Pending("END", ".", transaction), ts)
        self._maybe_end(transaction, ts)
        return position + end_at - len(held)

    def _scan_lines(
        self, buffer: bytes, length: int, ts: int
    ) -> tuple[list[bytes], int, int, int, bool]:
        """The general scan of ``buffer[:length]``, line by line: any line ends.

        Returns the content pieces (stuffing dots dropped), where the CRLF.CRLF marker
        ends (or -1), where a dot line that may be a marker starts (or -1), the number
        of CRLF lines and whether a bare LF was met. Updates the line-start state.
        """
        transaction = self._data_transaction
        assert transaction is not None
        pieces: list[bytes] = []
        index = 0
        end_at = hold_at = -1
        crlf_lines = 0
        bare_lf = False
        while index < length:
            if self._at_line_start and buffer[index] == 0x2E:  # "."
                if index + 1 >= length:
                    hold_at = index
                    break
                if buffer[index + 1] == 0x0D:
                    if index + 2 >= length:
                        hold_at = index
                        break
                    if buffer[index + 2] == 0x0A:
                        end_at = index + 3
                        break
                index += 1  # a stuffed dot: drop it
                self._at_line_start = False
                continue
            self._at_line_start = False
            newline = buffer.find(b"\n", index, length)
            if newline < 0:
                pieces.append(buffer[index:length])
                self._previous_cr = buffer[length - 1] == 0x0D
                index = length
                break
            crlf = buffer[newline - 1] == 0x0D if newline > index else self._previous_cr
            pieces.append(buffer[index : newline + 1])
            crlf_lines += crlf
            if not crlf:
                bare_lf = True
            if not crlf and not transaction.bare_lf_reported:
                transaction.bare_lf_reported = True
                offset = transaction.size + sum(len(p) for p in pieces) - 1
                message = (
                    f"transaction {transaction.number}: message line ending in a bare "
                    f"LF at content offset {offset} (kept as sent; further ones not "
                    "reported)"
                )
                transaction.warnings.append(message)
                self._emit_content(pieces, ts)
                pieces = []
                self._anomaly(ts, CLIENT, message, transaction)
            self._at_line_start = crlf
            self._previous_cr = False
            index = newline + 1
        return pieces, end_at, hold_at, crlf_lines, bare_lf

    def _scan_crlf_only(
        self, buffer: bytes, length: int
    ) -> Optional[tuple[list[bytes], int, int, int]]:
        """`_scan_lines` for the usual case, in whole blocks: None unless every line
        of ``buffer[:length]`` ends in CRLF.

        Why: the line-by-line loop cost a Python iteration per line (a million for
        200 MB of mail). When there is no bare LF, every LF ends a CRLF line, so the
        only places that matter are the dots after an LF (and at the start, at a line
        start): those are found with ``bytes.find`` and everything between them is
        content as it stands. Anything else (a bare LF) takes the general scan.
        """
        if not length:
            return None
        lines = buffer.count(b"\n", 0, length)
        crlf = buffer.count(b"\r\n", 0, length)
        if buffer[0] == 0x0A and self._previous_cr:
            crlf += 1  # the CR ended the bytes before
        if lines != crlf:
            return None
        pieces: list[bytes] = []
        start = 0  # content not yet taken
        end_at = hold_at = -1
        stop = length
        dot = 0 if self._at_line_start and buffer[0] == 0x2E else -1
        if dot < 0:
            dot = buffer.find(b"\n.", 0, length) + 1 or -1
        while dot >= 0:
            if dot + 1 >= length or (buffer[dot + 1] == 0x0D and dot + 2 >= length):
                hold_at = stop = dot
                break
            if buffer[dot + 1] == 0x0D and buffer[dot + 2] == 0x0A:
                end_at = dot + 3
                stop = dot
                break
            pieces.append(buffer[start:dot])  # a stuffed dot: drop it
            start = dot + 1
            dot = buffer.find(b"\n.", start, length) + 1 or -1
        if start < stop:
            pieces.append(buffer[start:stop])
        if stop < length:  # stopped at a dot at a line start
            if stop > 0:
                self._previous_cr = False
            self._at_line_start = True
        else:
            last_lf = buffer[length - 1] == 0x0A
            self._at_line_start = last_lf
            self._previous_cr = not last_lf and buffer[length - 1] == 0x0D
        return pieces, end_at, hold_at, buffer.count(b"\n", 0, stop)

    def _marker_tail(self, buffer: bytes) -> int:
        """Where a possible end marker at the end of ``buffer`` starts (its dot), or -1."""
        size = len(buffer)
        last = buffer[-1] if size else -1
        if last == 0x2E:  # "."
            dot = size - 1
        elif last == 0x0A and size >= 2 and buffer[-2] == 0x2E:  # ".\n"
            dot = size - 2
        elif last == 0x0A and size >= 3 and buffer[-3:-1] == b".\r":  # ".\r\n"
            dot = size - 3
        elif last == 0x0D and size >= 2 and buffer[-2] == 0x2E:  # ".\r"
            dot = size - 2
        else:
            return -1
        before = (
            buffer[dot - 2 : dot] if dot >= 2 else (self._context + buffer[:dot])[-2:]
        )
        if before[-1:] not in (b"\n", b"\r"):
            return -1
        if dot == size - 3 and before == b"\r\n":
            return -1  # the standard end marker
        return dot

    def _odd_dots(
        self, context: bytes, buffer: bytes, scanned: int, base: int, ts: int
    ) -> list["_Candidate"]:
        """Dot lines with non-standard line ends among ``buffer[:scanned]``, content
        that went on; ``context`` holds the two content bytes before ``buffer``.

        Dots are found with memchr-speed ``find``; only a dot after a CR or LF is
        looked at further, so base64 and ordinary text cost next to nothing.
        """
        new: list[_Candidate] = []
        joined: Optional[bytes] = None
        dot = buffer.find(b".", 0, scanned)
        size = len(buffer)
        while dot >= 0:
            previous = buffer[dot - 1] if dot else context[1]
            following = buffer[dot + 1] if dot + 1 < size else 0
            if (previous == 0x0A or previous == 0x0D) and (
                following == 0x0A or following == 0x0D
            ):
                before = (
                    buffer[dot - 2 : dot] if dot >= 2 else (context + buffer[:dot])[-2:]
                )
                after = buffer[dot + 1 : dot + 3]
                prefix = before if before == b"\r\n" else before[-1:]
                suffix = after if after == b"\r\n" else after[:1]
                marker = prefix + b"." + suffix
                if marker != b"\r\n.\r\n":
                    if joined is None:
                        joined = context + buffer[:scanned]
                    start = dot - len(prefix)
                    # Dots at a CRLF line start were dropped as stuffing: count them.
                    stuffed = joined.count(b"\r\n.", 0, max(0, start + 2))
                    offset = base + start - stuffed
                    end = dot + 1 + len(suffix)
                    new.append(_Candidate(marker, offset, offset + len(prefix), end))
            dot = buffer.find(b".", dot + 1, scanned)
        return new

    def _track_after(
        self, buffer: bytes, upto: int, new: list["_Candidate"], ts: int
    ) -> None:
        """Keeps the raw bytes after undecided dot lines: if the server's reply shows
        that one of them ended the data, those bytes were commands, not content."""
        start = 0
        if new and not self._candidates:
            start = new[0].end
            self._after = bytearray()
        for candidate in new:
            candidate.raw = len(self._after) + candidate.end - start
        self._candidates.extend(new)
        if self._candidates:
            self._after += buffer[start:upto]
            if (
                len(self._after) > MAX_DATA_WAIT
                or len(self._candidates) > MAX_INDICATORS
            ):
                self._resolve(None, ts)  # content went on long after them

    def _resolve(self, chosen: Optional[int], ts: int) -> None:
        """Records the undecided dot lines: ``chosen`` ended the data, those before
        it did not, those after it were commands (they are fed again)."""
        transaction = self._data_transaction
        candidates, self._candidates = self._candidates, []
        self._after = bytearray()
        if transaction is None:
            return
        for index, candidate in enumerate(candidates):
            if chosen is not None and index > chosen:
                break
            ended = chosen is not None and index == chosen
            self._indicator(transaction, candidate.marker, candidate.offset, ended, ts)

    def _retract(self, ts: int) -> bytes:
        """The server replied while content was still expected after dot lines with
        non-standard line ends: the data ended at one of them. The reply does not say
        which: the first one with LF on both sides of the dot is taken, as servers
        that read bare LF as a line end (Postfix, Exim, Sendmail) do; failing that,
        the first. Returns the bytes after it, to be fed again as commands."""
        transaction = self._data_transaction
        assert transaction is not None
        candidates = self._candidates
        chosen = next(
            (
                index
                for index, candidate in enumerate(candidates)
                if candidate.marker[candidate.marker.index(b".") - 1] == 0x0A
                and candidate.marker.endswith(b"\n")
            ),
            0,
        )
        candidate = candidates[chosen]
        after = bytes(self._after[candidate.raw :]) + self._hold
        self._hold = b""
        transaction.size = candidate.size
        self._events.append(ev.MessageTruncate(ts, transaction.number, candidate.size))
        self._resolve(chosen, ts)
        transaction.data_end_ns = ts
        self._end_content(ts, complete=True, reason="non-standard end marker")
        self._push(_Pending("END", ".", transaction), ts)
        return after

    def _indicator(
        self,
        transaction: _Transaction,
        marker: bytes,
        offset: int,
        ended: Optional[bool],
        ts: int,
    ) -> None:
        """A possible SMTP smuggling marker (CVE-2023-51764/51765/51766 family)."""
        transaction.indicators += 1
        if len(transaction.smuggling) < MAX_INDICATORS:
            transaction.smuggling.append(
                SmugglingIndicator(bytes(marker), offset, ended)
            )
        if transaction.indicators == MAX_INDICATORS + 1:
            message = (
                f"transaction {transaction.number}: more than {MAX_INDICATORS} "
                f"possible SMTP smuggling markers; the first {MAX_INDICATORS} are listed"
            )
            transaction.warnings.append(message)
            self._anomaly(ts, CLIENT, message, transaction)
        if transaction.indicators > MAX_INDICATOR_WARNINGS:
            return
        shown = repr(marker)[1:]
        if ended:
            what = "ended the data: the server replied to it"
        elif ended is None:
            what = "was followed by the end of the connection"
        else:
            what = "did not end the data: content went on"
        message = (
            f"transaction {transaction.number}: possible SMTP smuggling: dot line with "
            f"non-standard line ends {shown} at content offset {offset} {what}"
        )
        if transaction.indicators == MAX_INDICATOR_WARNINGS:
            message += "; further ones in this message are not listed here"
        transaction.warnings.append(message)
        self._anomaly(ts, CLIENT, message, transaction)

    def _odd_end(self, marker: bytes, ts: int) -> None:
        """The server answered after a dot line with non-standard line ends: for it
        that line ended the data, so the message ends before it, as the server kept
        it (the line end before the dot belongs to the message, as in CRLF.CRLF)."""
        transaction = self._data_transaction
        assert transaction is not None
        self._hold = b""
        self._resolve(None, ts)  # earlier dot lines: content went on past them
        offset = transaction.size - marker.index(b".")  # the line end before the dot
        self._indicator(transaction, marker, offset, True, ts)
        transaction.data_end_ns = ts
        self._end_content(ts, complete=True, reason="non-standard end marker")
        self._push(_Pending("END", ".", transaction), ts)

    def _held_marker(self) -> Optional[bytes]:
        """The held bytes with their line end before, when they form a dot line."""
        held = self._hold
        if held not in (b".\r\n", b".\n", b".\r"):
            return None
        prefix = b"\r\n" if self._at_line_start else self._context[-1:]
        if prefix not in (b"\r\n", b"\n", b"\r"):
            return None
        return prefix + held

    def _emit_content(self, pieces: list[bytes], ts: int) -> None:
        chunk = b"".join(pieces)
        if chunk:
            transaction = self._data_transaction
            assert transaction is not None
            transaction.size += len(chunk)
            self._events.append(ev.MessageData(ts, transaction.number, chunk))

    def _flush_hold(self, ts: int) -> None:
        """Held bytes whose continuation is lost: content (a dot at a line start is
        stuffing), and a possible smuggling marker when they form a dot line."""
        if self._candidates:
            self._resolve(None, ts)  # content went on past them
        marker = self._held_marker()
        held, self._hold = self._hold, b""
        transaction = self._data_transaction
        if marker is not None and transaction is not None:
            offset = transaction.size - marker.index(b".")
            self._indicator(transaction, marker, offset, None, ts)
        self._emit_content([held[1:] if self._at_line_start else held], ts)

    def _end_content(self, ts: int, complete: bool, reason: str) -> None:
        if self._candidates:
            self._resolve(None, ts)
        transaction = self._data_transaction
        assert transaction is not None
        transaction.in_data = False
        transaction.closed = True
        transaction.close_reason = transaction.close_reason or "data"
        if transaction.data_end_ns is None:
            transaction.data_end_ns = ts
        if self._current is transaction:
            self._current = None
        self._data_transaction = None
        self._client_mode = _LINE_MODE
        self._events.append(ev.DataEnd(ts, transaction.number, complete, reason))

    def _cut_content(self, ts: int, why: str) -> None:
        transaction = self._data_transaction
        assert transaction is not None
        transaction.cut = True
        message = f"transaction {transaction.number}: {why}; message incomplete"
        transaction.warnings.append(message)
        self._anomaly(ts, CLIENT, message, transaction)
        self._end_content(ts, complete=False, reason="closed")

    def _bdat_bytes(self, data: bytes, position: int, ts: int) -> int:
        take = min(self._bdat_left, len(data) - position)
        self._emit_content([data[position : position + take]], ts)
        self._bdat_left -= take
        if self._bdat_left == 0:
            self._bdat_chunk_done(ts)
        return position + take

    def _bdat_chunk_done(self, ts: int) -> None:
        transaction = self._data_transaction
        assert transaction is not None
        self._client_mode = _LINE_MODE
        if not self._bdat_last:
            transaction.in_data = False
            self._data_transaction = None
        else:
            transaction.data_end_ns = ts
            self._end_content(ts, complete=True, reason="BDAT LAST")
            self._maybe_end(transaction, ts)

    def _client_gap(self, length: int, ts: int) -> None:
        mode = self._client_mode
        if mode == _TLS:
            return
        if mode == _DATA_WAIT:
            self._drop_pending_data()
            self._start_content(ts)
            mode = self._client_mode
        if mode == _DATA:
            self._flush_hold(ts)
            if self._candidates:
                self._resolve(None, ts)  # the bytes after them cannot be fed again
            self._content_gap(length, ts)
            self._gap_last = True
            self._at_line_start = True
            self._context = b"\r\n"
            self._previous_cr = False
            return
        if mode == _BDAT:
            inside = min(length, self._bdat_left)
            self._content_gap(inside, ts)
            self._bdat_left -= inside
            if self._bdat_left == 0:
                self._bdat_chunk_done(ts)
            length -= inside
            if length == 0:
                return
        partial = len(self._client_line)
        self._anomaly(
            ts,
            CLIENT,
            f"{length} bytes of the client command stream lost"
            + (f" after {partial} bytes of a partial line" if partial else "")
            + "; resynchronising at the next line",
        )
        transaction = self._current
        if transaction is not None and not transaction.dialogue_gap:
            transaction.dialogue_gap = True
            message = (
                f"transaction {transaction.number}: {length} bytes of the client "
                "dialogue lost while it was open; recipients, DATA or content may be "
                "missing"
            )
            transaction.warnings.append(message)
            self._anomaly(ts, CLIENT, message, transaction)
        self._client_line.clear()
        self._client_skip = True
        if self._client_mode == _UNSYNCED:
            self._drop_first_line(ts, "a gap follows it")
            self._client_mode = _LINE_MODE

    def _missing_content(self, length: int, ts: int) -> None:
        transaction = self._data_transaction
        assert transaction is not None
        transaction.missing_bytes += length
        self._events.append(ev.MessageGap(ts, transaction.number, length))

    def _content_gap(self, length: int, ts: int) -> None:
        transaction = self._data_transaction
        assert transaction is not None
        self._missing_content(length, ts)
        transaction.gaps += 1
        if transaction.gaps > MAX_GAP_WARNINGS:
            return  # every range is still in missing_ranges; the words stop here
        message = (
            f"transaction {transaction.number}: {length} bytes of message content "
            f"lost at content offset {transaction.size}"
        )
        if transaction.gaps == MAX_GAP_WARNINGS:
            message += "; further gaps in this message are not listed here"
        transaction.warnings.append(message)
        self._anomaly(ts, CLIENT, message, transaction)

    # --------------------------------------------------------------------- TLS

    def _await_tls(self, ts: int) -> None:
        """STARTTLS was accepted: the next bytes say whether TLS really started.

        TLS records (0x16 0x03) mean it did and nothing more is decoded. SMTP in
        clear means the capture holds the dialogue after decryption (Wireshark's
        export, a TLS-inspecting proxy) or a party that never began TLS: it is
        decoded as usual and `TlsPlaintext` says so. A TLS layer that decrypts the
        records (issue 12) hands their plaintext to ``data()`` and takes this path.
        """
        self._close_current(ts, "STARTTLS")
        self._tls_wait = True
        self._client_mode = _TLS_WAIT
        self._client_line.clear()
        self._server_line.clear()
        self._reply_lines.clear()

    def _tls_wait_bytes(self, data: bytes, position: int, ts: int) -> int:
        probe = self._probe + data[position:]
        self._probe = b""
        if probe[:1] == b"\x16" and len(probe) < 2:
            self._probe = probe
            return len(data)
        if is_tls_record(probe):
            self._start_tls(ts, implicit=False)
            self._tls_bytes(probe, ts)
            return len(data)
        newline = probe.find(b"\n")
        if newline < 0 and len(probe) < MAX_TLS_PROBE:
            self._probe = probe
            return len(data)
        self._decide_after_starttls(probe, ts)
        return len(data)

    def _decide_after_starttls(self, probe: bytes, ts: int) -> None:
        """The client's first bytes after STARTTLS are not a TLS record."""
        first = probe.split(b"\n", 1)[0]
        if looks_like_command(first.rstrip(b"\r")):
            self._plaintext(ts, CLIENT)
            self._client_bytes(probe, ts)
            return
        self._anomaly(
            ts,
            CLIENT,
            "bytes after STARTTLS are neither a TLS record nor an SMTP command "
            f"({text(probe[:40])!r}); taken as encrypted, not decoded",
        )
        self._start_tls(ts, implicit=False)
        self._tls_bytes(probe, ts)

    def _plaintext(self, ts: int, side: int) -> None:
        self._tls_wait = False
        if self._client_mode == _TLS_WAIT:
            self._client_mode = _LINE_MODE
        probe, self._probe = self._probe, b""
        self._events.append(ev.TlsPlaintext(ts, side))
        if probe:
            self._client_bytes(probe, ts)

    def _start_tls(self, ts: int, implicit: bool) -> None:
        if self.encrypted:
            return
        self._tls_wait = False
        self._probe = b""
        self.encrypted = True
        self._close_current(ts, "STARTTLS")
        self._client_mode = _TLS
        if not implicit and self._starttls_sent:
            # The client went on with TLS before a 220 was captured.
            self._starttls_sent = False
            self._events.append(ev.StartTls(ts, True, None))
        self._client_line.clear()
        self._server_line.clear()
        self._reply_lines.clear()
        self._events.append(ev.TlsStarted(ts, implicit))

    def _tls_bytes(self, data: bytes, ts: int) -> None:
        if self._hello_done:
            return
        self._hello += data[: MAX_CLIENT_HELLO - len(self._hello)]
        self._emit_hello(ts, force=len(self._hello) >= MAX_CLIENT_HELLO)

    def _emit_hello(self, ts: int, force: bool) -> None:
        done, name = client_hello_server_name(bytes(self._hello))
        if done or force:
            if not done and len(self._hello) >= MAX_CLIENT_HELLO:
                self._anomaly(
                    ts,
                    CLIENT,
                    f"TLS ClientHello not complete in its first {MAX_CLIENT_HELLO} "
                    "bytes; its server name was not looked for further",
                )
            self._hello_done = True
            self._hello = bytearray()
            self._events.append(ev.TlsHello(ts, name))

    # ------------------------------------------------------------------ server

    def _server_bytes(self, data: bytes, ts: int) -> None:
        if self.encrypted:
            return
        if self._tls_wait and not self._server_line:
            if data[0] == 0x16:
                self._start_tls(ts, implicit=False)
                return
            if data[:1].isdigit():
                self._plaintext(ts, SERVER)
            else:
                self._anomaly(
                    ts,
                    SERVER,
                    "server bytes after STARTTLS are neither a TLS record nor an SMTP "
                    f"reply ({text(data[:40])!r}); taken as encrypted, not decoded",
                )
                self._start_tls(ts, implicit=False)
                return
        if not self._server_tls_checked and not self._server_line:
            self._server_tls_checked = True
            if is_tls_record(data) and not self.any_reply:
                self._start_tls(ts, implicit=True)
                return
        position = 0
        while position < len(data) and not self.encrypted:
            if self._server_skip and not self._server_line:
                if (
                    _REPLY_LINE.match(data, position)
                    and data[position : position + 3].isdigit()
                ):
                    self._server_skip = False
                else:
                    end = data.find(b"\n", position)
                    if end < 0:
                        return
                    self._server_skip = False
                    position = end + 1
                    continue
            end = data.find(b"\n", position)
            if end < 0:
                self._server_line += data[position:]
                if len(self._server_line) > MAX_LINE:
                    self._anomaly(
                        ts,
                        SERVER,
                        f"server line longer than {MAX_LINE} bytes without a line "
                        "end; skipped to the next line",
                    )
                    self._server_line.clear()
                    self._server_skip = True
                return
            raw = bytes(self._server_line) + data[position:end]
            self._server_line.clear()
            position = end + 1
            self._server_line_complete(raw.rstrip(b"\r"), ts)

    def _server_line_complete(self, line: bytes, ts: int) -> None:
        match = _REPLY_LINE.fullmatch(line)
        if not match or (match.group(2) == b"" and match.group(3)):
            shown = text(line[:80])
            self._anomaly(ts, SERVER, f"server line is not an SMTP reply: {shown!r}")
            return
        code = int(match.group(1))
        if self._reply_lines and self._reply_lines[0][0] != code:
            self._anomaly(
                ts,
                SERVER,
                f"reply code changed from {self._reply_lines[0][0]} to {code} inside "
                "a multi-line reply",
            )
            self._finish_reply(ts)
        self._reply_lines.append((code, line, match.group(3)))
        if match.group(2) != b"-":
            self._finish_reply(ts)
        elif len(self._reply_lines) >= MAX_REPLY_LINES:
            if not self._long_reply_reported:  # once per session
                self._long_reply_reported = True
                self._anomaly(
                    ts,
                    SERVER,
                    f"multi-line {code} reply of more than {MAX_REPLY_LINES} lines; "
                    f"taken as one reply per {MAX_REPLY_LINES} lines",
                )
            self._finish_reply(ts)

    def _server_gap(self, length: int, ts: int) -> None:
        if self.encrypted:
            return
        if self._client_mode == _DATA and self._gap_last:
            # A server never speaks during DATA: bytes lost from it right after
            # content was lost are its reply to an end of data lost in that gap.
            transaction = self._data_transaction
            assert transaction is not None
            self._flush_hold(ts)
            transaction.cut = True
            message = (
                f"transaction {transaction.number}: the server spoke ({length} bytes "
                "lost) after content was lost: the end of data was in the lost "
                "content; content ended there, the reply is missing"
            )
            transaction.warnings.append(message)
            self._anomaly(ts, CLIENT, message, transaction)
            self._end_content(ts, complete=False, reason="server reply lost")
            self._maybe_end(transaction, ts)
        if self._auth is not None:
            self._auth.can_wait = False
        for entry in self._pending:  # lost replies would shift theirs: unknown
            if entry.auth is not None and entry.auth is not self._auth:
                self._finish_auth(ts, None, None, entry.auth)
        self._anomaly(
            ts,
            SERVER,
            f"{length} bytes of the server stream lost; replies may be missing, "
            "resynchronising at the next line",
        )
        self._server_line.clear()
        self._reply_lines.clear()
        self._server_skip = True

    def _finish_reply(self, ts: int) -> None:
        lines, self._reply_lines = self._reply_lines, []
        code = lines[0][0]
        rendered_lines = [text(line) for _, line, _ in lines]
        texts = [text(body) for _, _, body in lines]
        first = texts[0]
        enhanced_match = _ENHANCED.match(first)
        enhanced = enhanced_match.group(1) if enhanced_match else None
        reply = ev.Reply(ts, code, enhanced, rendered_lines, "\n".join(texts), None)
        refeed = b""
        rendered = reply.rendered
        head = self._pending[0] if self._pending else None
        if self._first_line is not None:
            self._drop_first_line(ts, f"the server replied {code} to it")
            self._client_mode = _LINE_MODE
        first_reply = not self.any_reply
        self.any_reply = True
        if (
            first_reply
            and not self.greeting_seen
            and (
                (code == 220 and (head is None or head.kind != "STARTTLS"))
                or (code in (421, 554) and head is None)
            )
        ):
            self.greeting_seen = True
            self._events.append(reply)
            self._events.append(ev.Greeting(ts, code, reply.text, rendered))
            return
        if code == 354 and head is not None and head.kind != "DATA":
            self._realign("DATA", ts)
            head = self._pending[0] if self._pending else None
        if head is None and self._client_mode == _DATA and code not in (354, 421):
            marker = self._held_marker()
            if marker is not None:
                self._odd_end(marker, ts)
                head = self._pending[0]
            elif self._candidates:
                refeed = self._retract(ts)
                head = self._pending[0]
        if head is None and self._client_mode == _DATA:
            transaction = self._data_transaction
            assert transaction is not None
            self._flush_hold(ts)
            transaction.cut = True
            message = (
                f"transaction {transaction.number}: server replied {code} before the "
                "end-of-data marker was seen; content ended there"
            )
            transaction.warnings.append(message)
            self._anomaly(ts, CLIENT, message, transaction)
            self._end_content(ts, complete=False, reason="server reply")
            self._push(_Pending("END", ".", transaction), ts)
            head = self._pending[0]
        if head is None:
            self._events.append(reply)
            if self.client_seen:
                self._anomaly(ts, SERVER, f"reply without a command: {rendered!r}")
            return
        if code == 334 and head.kind == "AUTH":
            reply.command = "AUTH"
            self._events.append(reply)
            if head.auth is not None and head.auth is not self._auth:
                # An attempt the client left for another AUTH: over, outcome unknown.
                self._pending.popleft()
                self._finish_auth(ts, None, None, head.auth)
                return
            if self._auth is not None:
                self._auth.can_wait = False
                self._auth.challenges += 1
                self._auth.exchange.server_challenge(lines[0][2].lstrip(b" "))
            return
        if head.kind == "AUTH" and code in _NOT_AUTH_REPLIES:
            # AUTH ends in 235 or an error (RFC 4954): a 250 or 354 answers a later
            # command, so AUTH's own reply was not captured. Its outcome stays
            # unknown rather than taken from another command's reply.
            self._pending.popleft()
            self._finish_auth(ts, None, None, head.auth)
            self._anomaly(
                ts,
                SERVER,
                f"reply to AUTH not captured ({code} answers a later command)",
            )
            head = self._pending[0] if self._pending else None
            if head is None:
                self._events.append(reply)
                self._anomaly(ts, SERVER, f"reply without a command: {rendered!r}")
                return
        self._pending.popleft()
        reply.command = head.verb
        self._events.append(reply)
        self._answer(head, reply, ts)
        transaction = head.transaction
        if transaction is not None:
            transaction.pending -= 1
            self._maybe_end(transaction, ts)
        if refeed:
            self._client_bytes(refeed, ts)

    def _realign(self, kind: str, ts: int) -> None:
        """A reply can only answer ``kind``: earlier commands lost their replies."""
        if not any(entry.kind == kind for entry in self._pending):
            return
        skipped = []
        while self._pending[0].kind != kind:
            entry = self._pending.popleft()
            skipped.append(entry.verb)
            if entry.auth is not None:
                self._finish_auth(ts, None, None, entry.auth)
            if entry.transaction is not None:
                entry.transaction.pending -= 1
                self._maybe_end(entry.transaction, ts)
        self._anomaly(
            ts, SERVER, f"replies to {', '.join(skipped)} not captured (re-aligned)"
        )

    def _answer(self, entry: _Pending, reply: ev.Reply, ts: int) -> None:
        code = reply.code
        positive = 200 <= code < 300
        transaction = entry.transaction
        kind = entry.kind
        if kind == "HELO":
            if positive and entry.verb in ("EHLO", "LHLO"):
                extensions = [line[4:] for line in reply.lines[1:]]
                self._events.append(ev.Extensions(ts, extensions))
        elif kind == "MAIL" and transaction is not None:
            transaction.mail_accepted = positive
            if not positive:
                transaction.accepted = False
                transaction.reply = reply.rendered
        elif kind == "RCPT" and entry.recipient is not None:
            entry.recipient.accepted = positive
            entry.recipient.reply = reply.rendered
            self._events.append(dataclasses.replace(entry.recipient, ts_ns=ts))
        elif kind == "DATA" and transaction is not None:
            if code == 354:
                if (
                    self._client_mode == _DATA_WAIT
                    and self._data_transaction is transaction
                ):
                    self._start_content(ts)
            else:
                transaction.accepted = False
                transaction.reply = reply.rendered
                if self._data_transaction is transaction:
                    self._data_refused(transaction, ts)
        elif kind in ("END", "BDAT") and transaction is not None:
            if kind == "END" or entry.last or not positive:
                transaction.accepted = (
                    positive if transaction.accepted is not False else False
                )
                transaction.reply = reply.rendered
                transaction.queue_id = queue_id(reply.text) if positive else None
            if kind == "END" or entry.last:
                transaction.final = True
        elif kind == "STARTTLS":
            self._starttls_sent = False
            accepted = code == 220
            self._events.append(ev.StartTls(ts, accepted, reply.rendered))
            if accepted and not self.encrypted:
                self._await_tls(ts)
        elif kind == "AUTH":
            self._finish_auth(ts, code, reply.rendered, entry.auth)

    def _data_refused(self, transaction: _Transaction, ts: int) -> None:
        """DATA got no 354: the client's next bytes are commands again."""
        if self._client_mode == _DATA and transaction.size == 0 and not self._hold:
            transaction.in_data = False
            transaction.data_started = False  # DataStart was premature
            transaction.method = None
            self._client_mode = _LINE_MODE
            self._data_transaction = None
            return
        if self._client_mode == _DATA_WAIT:
            held = bytes(self._wait)
            self._wait.clear()
            transaction.in_data = False
            self._data_transaction = None
            self._client_mode = _LINE_MODE
            if held:
                self._client_bytes(held, ts)

    def _finish_auth(
        self,
        ts: int,
        code: Optional[int],
        reply: Optional[str],
        auth: Optional[_Auth] = None,
    ) -> None:
        """Ends the current attempt, or the given one (then only if not yet over)."""
        if auth is None or auth is self._auth:
            auth, self._auth = self._auth, None
            if auth is None:
                return
        elif auth.done:
            return
        auth.done = True
        result = auth.exchange.finish(code, reply)
        self._events.append(
            ev.AuthFinished(
                ts, auth.start_ns, auth.mechanism, result, list(auth.exchange.warnings)
            )
        )

    # ------------------------------------------------------------ transactions

    def _new_transaction(self, ts: int, with_mail: bool) -> _Transaction:
        self._count += 1
        transaction = _Transaction(self._count, start_ns=ts if with_mail else None)
        waiting = [t for t in self._transactions if t.closed and not t.in_data]
        if len(waiting) >= MAX_WAITING_TRANSACTIONS:
            message = (
                f"transaction {waiting[0].number}: ended unanswered, more than "
                f"{MAX_WAITING_TRANSACTIONS} transactions waiting for replies"
            )
            waiting[0].warnings.append(message)
            self._anomaly(ts, SERVER, message, waiting[0])
            self._end_transaction(waiting[0], ts, "unanswered")
        self._transactions.append(transaction)
        self._current = transaction
        return transaction

    def _current_or_orphan(self, ts: int, verb: str) -> _Transaction:
        if self._current is not None:
            return self._current
        transaction = self._new_transaction(ts, with_mail=False)
        transaction.start_ns = ts
        message = (
            f"transaction {transaction.number}: {verb} without a captured MAIL FROM"
        )
        transaction.warnings.append(message)
        self._anomaly(ts, CLIENT, message, transaction)
        return transaction

    def _close_current(self, ts: int, reason: str) -> None:
        transaction, self._current = self._current, None
        if transaction is not None and not transaction.closed:
            transaction.closed = True
            transaction.close_reason = reason
            self._maybe_end(transaction, ts)
        if self._client_only() and reason not in ("QUIT", "close"):
            # No replies will come: what is closed is over.
            for other in list(self._transactions):
                if other.closed and not other.in_data:
                    self._end_transaction(other, ts, reason)

    def _client_only(self) -> bool:
        """The session start was seen and the server never answered it.

        Without the start (mid-session capture) a silent server may only be lagging
        behind pipelined commands; its replies are waited for until close.
        """
        return self._hello_first and not self.server_seen

    def _maybe_end(self, transaction: _Transaction, ts: int) -> None:
        if transaction.ended or transaction.in_data:
            return
        if transaction.final or (transaction.closed and transaction.pending <= 0):
            self._end_transaction(transaction, ts)

    def _end_transaction(
        self, transaction: _Transaction, ts: int, why: Optional[str] = None
    ) -> None:
        if transaction.ended:
            return
        transaction.ended = True
        self._transactions.remove(transaction)
        if self._current is transaction:
            self._current = None
        if transaction.mail_from is None and not (
            transaction.data_started or transaction.recipients
        ):
            self._anomaly(
                ts,
                CLIENT,
                f"transaction {transaction.number}: no MAIL FROM, recipient or "
                "content; nothing to record",
                transaction,
            )
            return
        if transaction.data_started and transaction.data_end_ns is None:
            transaction.cut = True
            transaction.data_end_ns = ts
            why = transaction.close_reason or "close"
            message = (
                f"transaction {transaction.number}: ended ({why}) before its content "
                "was complete (no BDAT LAST)"
            )
            transaction.warnings.append(message)
            self._anomaly(ts, CLIENT, message, transaction)
        if transaction.final:
            reason = "reply"
        elif transaction.close_reason in ("", "data"):
            reason = why or "close"
        else:
            reason = transaction.close_reason
        complete = not (
            transaction.missing_bytes
            or transaction.missing_prefix
            or transaction.cut
            or transaction.dialogue_gap
        )
        self._events.append(
            ev.TransactionEnd(
                ts_ns=ts,
                transaction=transaction.number,
                start_ns=transaction.start_ns,
                mail_from=transaction.mail_from,
                mail_parameters=transaction.mail_parameters,
                mail_accepted=transaction.mail_accepted,
                recipients=[dataclasses.replace(r) for r in transaction.recipients],
                data_sent=transaction.data_started,
                data_end_ns=transaction.data_end_ns,
                accepted=transaction.accepted,
                reply=transaction.reply,
                queue_id=transaction.queue_id,
                complete=complete,
                missing_bytes=transaction.missing_bytes,
                missing_prefix=transaction.missing_prefix,
                missing_end=transaction.cut,
                reason=reason,
                warnings=list(transaction.warnings),
                smuggling=list(transaction.smuggling),
            )
        )

    # ------------------------------------------------------------------ common

    def _push(self, entry: _Pending, ts: int) -> None:
        if entry.transaction is not None:
            entry.transaction.pending += 1
        self._pending.append(entry)
        if len(self._pending) > MAX_PENDING:
            dropped = self._pending.popleft()
            if dropped.auth is not None:
                self._finish_auth(ts, None, None, dropped.auth)
            if self.server_seen and not self._overflow_reported:
                self._overflow_reported = True
                self._anomaly(
                    ts,
                    SERVER,
                    f"more than {MAX_PENDING} commands without replies; the oldest "
                    "are no longer matched",
                )
            if dropped.transaction is not None:
                dropped.transaction.pending -= 1
                self._maybe_end(dropped.transaction, ts)

    def _anomaly(
        self,
        ts: int,
        direction: Optional[int],
        message: str,
        transaction: Optional[_Transaction] = None,
    ) -> None:
        self._anomalies += 1
        if self._anomalies > MAX_ANOMALIES:
            return
        if self._anomalies == MAX_ANOMALIES:
            message = f"more than {MAX_ANOMALIES} anomalies; further ones not reported"
        number = transaction.number if transaction is not None else None
        self._events.append(ev.Anomaly(ts, direction, message, number))

    def _take(self) -> list[ev.Event]:
        result, self._events = self._events, []
        return result
