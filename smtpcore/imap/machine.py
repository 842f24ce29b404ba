"""Sans-IO IMAP machine (RFC 3501, 9051, 7888): bytes of both directions in, events out.

Framing: a line ending in ``{n}`` (server, client) or ``{n+}``/``{n-}`` (client,
LITERAL+/LITERAL-) is followed by exactly n bytes of literal, then the line goes on;
a command or response ends at a line without a literal. Literal counts are exact, so
a gap inside a literal is accounted byte for byte and the framing survives it.

Matching: commands wait by tag; a tagged response completes its command. Untagged
data belongs to a command in flight: ``* n FETCH`` to the oldest unanswered FETCH/UID
FETCH that asked for the items returned and includes the message (servers answer
pipelined commands out of order), EXISTS/EXPUNGE to the mailbox selected when the
command was sent. Message bytes are streamed: FETCH body literals (BODY[...],
BINARY[...], RFC822...) as retrieved content (quoted-string items too), APPEND
literals as appended content once their first byte is sent (a synchronising literal
refused by the server never is). During AUTHENTICATE every client line is a SASL
response, during IDLE only ``DONE`` is expected. After an accepted STARTTLS (or
COMPRESS, not decoded) nothing more is read; the plaintext inside TLS, when a key
log decrypts it, goes to a second machine (`inside_tls`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

from smtpcore import mailevents as ev
from smtpcore.lines import LineReader
from smtpcore.smtp.auth import AuthExchange, readable

_CLIENT_LITERAL = re.compile(rb"~?\{(\d{1,19})([+-]?)\}\r?\n\Z")
_SERVER_LITERAL = re.compile(rb"~?\{(\d{1,19})\}\r?\n\Z")
_FETCH_ITEM = re.compile(
    rb"(BODY|BINARY)\[([^\]]*)\](?:<(\d+)>)?\s*~?\{\d+\}\r?\n\Z"
    rb"|(RFC822(?:\.HEADER|\.TEXT)?)\s*\{\d+\}\r?\n\Z",
    re.I,
)
# A fetched item sent as a quoted string instead of a literal (small parts, "").
_QUOTED_ITEM = re.compile(
    rb"(?:(BODY|BINARY)\[([^\]]*)\](?:<(\d+)>)?|(RFC822(?:\.HEADER|\.TEXT)?))"
    rb' "((?:[^"\\\r\n]|\\.)*)"',
    re.I,
)
_UNTAGGED_NUMBER = re.compile(rb"\* (\d+) (EXISTS|EXPUNGE|FETCH|RECENT)\b", re.I)
_UID = re.compile(rb"\bUID (\d+)", re.I)
# A line that starts a response, strictly (a cut literal's own lines must not match):
# a known untagged response, a continuation, or a tag with a digit and a status.
_RESPONSE_START = re.compile(
    rb"\* (?:\d+ [A-Z]+|OK|NO|BAD|BYE|PREAUTH|CAPABILITY|FLAGS|LIST|LSUB|STATUS|"
    rb"SEARCH|ESEARCH|NAMESPACE|ENABLED|ID)\b"
    rb"|\+(?: |\r?\n)|[A-Za-z.]*\d[A-Za-z0-9.]* (?:OK|NO|BAD)[ \[\r\n]"
)
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)", re.I)
_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]", re.I)
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]", re.I)
_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|([^\s()]+|\([^)]*\))')
_KEPT_LITERAL = 64 * 1024  # bytes of a non-message literal kept (LOGIN, names)
_MAX_PENDING = 1000
_MAX_PIECES = 256  # text lines and literals kept of one command or response
_MAX_UIDS = 200_000  # sequence number -> UID pairs remembered


@dataclasses.dataclass(slots=True)
class _Command:
    tag: str
    verb: str  # upper case; "UID FETCH" for UID commands
    text: str  # as sent, literals shown by their {n} marker only
    tokens: list  # astrings after the tag and verb (bytes), literals included
    ts_ns: int
    mailbox: Optional[str]  # selected when sent
    keys: list[int] = dataclasses.field(default_factory=list)  # APPEND literals
    exists: Optional[int] = None
    uidvalidity: Optional[int] = None


@dataclasses.dataclass(slots=True)
class _Auth:
    tag: str
    exchange: AuthExchange
    start_ns: int


@dataclasses.dataclass(slots=True)
class _Literal:
    left: int
    key: Optional[int]  # streamed as content when a message
    kept: Optional[bytearray]  # kept (bounded) otherwise
    received: int = 0
    synchronizing: bool = True


class ImapMachine:
    """One IMAP connection. Feed it with data()/gap() in capture order, then close()."""

    def __init__(self) -> None:
        self._readers = (LineReader(), LineReader())
        self._events: list[ev.Event] = []
        self._pending: dict[str, _Command] = {}
        # Client command being read: text pieces and literals.
        self._parts: list[tuple[bool, bytes]] = []
        self._append_keys: list[int] = []
        self._literals: list[Optional[_Literal]] = [None, None]
        # Server response being read.
        self._response: list[bytes] = []
        self._pieces_dropped = [0, 0]  # by direction: pieces past _MAX_PIECES
        self._response_keys: list[tuple[int, str, Optional[str], int]] = []
        self._auth: Optional[_Auth] = None
        self._idle: Optional[str] = None
        self._selected: Optional[str] = None
        self._uids: dict[int, int] = {}  # sequence number -> UID, selected mailbox
        self._uids_full_reported = False
        self._server_started = False
        self._orphan: Optional[tuple[int, int]] = None  # (key, start) of a cut literal
        self._sizes: dict[int, int] = {}  # UID -> RFC822.SIZE, selected mailbox
        self._keys = 0
        self._greeting_seen = False
        self._logout_seen = False
        self._gap_seen = False
        self._encrypted = False
        self._starttls: Optional[str] = None

    def inside_tls(self) -> "ImapMachine":
        """A machine for the plaintext inside this connection's TLS.

        After STARTTLS the server does not greet again (RFC 3501 section 6.2.1).
        """
        inner = ImapMachine()
        inner._greeting_seen = inner._server_started = self._greeting_seen
        return inner

    # ------------------------------------------------------------------ feeding

    def data(self, direction: int, data: bytes, ts: int) -> list[ev.Event]:
        if self._encrypted:
            return self._take()
        if not self._greeting_seen and data[:2] == b"\x16\x03" and not self._pending:
            self._encrypted = True
            self._events.append(ev.TlsStarted(ts, implicit=True))
            return self._take()
        position = 0
        while position < len(data) and not self._encrypted:
            literal = self._literals[direction]
            if literal is not None:
                position = self._literal_bytes(direction, literal, data, position, ts)
                continue
            line, position, overlong = self._readers[direction].next_line(
                data, position
            )
            if line is None:
                break
            if overlong:
                self._anomaly(ts, direction, f"line over {len(line)} bytes cut")
            if direction == ev.CLIENT:
                self._client_line(line, ts)
            else:
                self._server_line(line, ts)
        return self._take()

    def gap(self, direction: int, length: int, ts: int) -> list[ev.Event]:
        self._gap_seen = True
        if self._encrypted:
            return self._take()
        literal = self._literals[direction]
        side = "client" if direction == ev.CLIENT else "server"
        if literal is not None and length <= literal.left:
            if direction == ev.CLIENT:
                self._start_literal(literal, ts)
            if literal.key is not None:
                self._events.append(ev.ContentGap(ts, literal.key, length))
            literal.left -= length
            literal.received += length
            self._anomaly(
                ts, direction, f"{length} {side} byte(s) lost inside a literal"
            )
            if literal.left == 0:
                self._literals[direction] = None
            return self._take()
        dropped = self._readers[direction].take()
        self._anomaly(
            ts,
            direction,
            f"{length} {side} byte(s) lost"
            + (f"; partial line of {len(dropped)} byte(s) dropped" if dropped else ""),
        )
        if literal is not None:  # the gap runs past the literal: framing lost
            if direction == ev.CLIENT:
                self._start_literal(literal, ts)
            if literal.key is not None:
                self._events.append(ev.ContentGap(ts, literal.key, literal.left))
            self._literals[direction] = None
        self._report_dropped_pieces(direction, "command or response cut by the gap", ts)
        if direction == ev.CLIENT:
            self._parts = []
        else:
            self._end_response_keys(ts, complete=False)
            self._response = []
        return self._take()

    def close(self, ts: int) -> list[ev.Event]:
        for direction in (ev.CLIENT, ev.SERVER):
            literal = self._literals[direction]
            if literal is not None:
                self._anomaly(ts, direction, "connection closed inside a literal")
                if literal.key is not None and literal.left:
                    # The literal's size says how many bytes never came.
                    self._events.append(ev.ContentGap(ts, literal.key, literal.left))
                self._literals[direction] = None
        if self._orphan is not None:
            self._orphan_line(b"* ", ts)  # ends it
        self._end_response_keys(ts, complete=False)
        for key in self._append_keys:
            self._append_end(key, None, ts, None, None, complete=False, mailbox=None)
        self._append_keys = []
        for command in list(self._pending.values()):
            self._finish(command, None, None, b"", ts)
        self._pending.clear()
        if self._auth is not None:
            self._finish_auth(ts, None, None)
        self._events.append(
            ev.Closed(
                ts,
                self._greeting_seen,
                self._logout_seen,
                self._gap_seen,
                self._encrypted,
            )
        )
        return self._take()

    def _start_literal(self, literal: _Literal, ts: int) -> None:
        """An APPEND literal becomes a message once its first byte is on the wire."""
        if literal.key is not None and literal.received == 0:
            self._append_keys.append(literal.key)
            self._events.append(ev.ContentStart(ts, literal.key))

    def _literal_bytes(self, direction, literal: _Literal, data, position, ts) -> int:
        if direction == ev.CLIENT:
            self._start_literal(literal, ts)
        piece = data[position : position + literal.left]
        literal.left -= len(piece)
        literal.received += len(piece)
        if literal.key is not None:
            self._events.append(ev.ContentData(ts, literal.key, piece))
        elif literal.kept is not None:
            if literal.received - len(piece) <= _KEPT_LITERAL < literal.received:
                self._anomaly(  # once: the piece that crosses the limit
                    ts,
                    direction,
                    f"literal of {literal.received + literal.left} bytes: only its "
                    f"first {_KEPT_LITERAL} are kept",
                )
            literal.kept += piece[: _KEPT_LITERAL - len(literal.kept)]
        if literal.left == 0:
            self._literals[direction] = None
            if direction == ev.CLIENT and literal.kept is not None:
                self._keep_part((True, bytes(literal.kept)))
        return position + len(piece)

    # ------------------------------------------------------------------- client

    def _client_line(self, line: bytes, ts: int) -> None:
        if not self._parts:
            if self._auth is not None:
                self._auth.exchange.client_response(line.rstrip(b"\r\n"))
                return
            if self._idle is not None:
                if line.strip().upper() != b"DONE":
                    self._anomaly(ts, ev.CLIENT, "line other than DONE during IDLE")
                self._idle = None
                return
        self._keep_part((False, line))
        match = _CLIENT_LITERAL.search(line)
        if match is None:
            self._command(ts)
            return
        size = int(match.group(1))
        key = None
        first = self._parts[0][1].split(None, 2)
        if len(first) > 1 and first[1].upper() == b"APPEND":
            self._keys += 1
            key = self._keys  # ContentStart waits for the first literal byte
        literal = _Literal(
            size,
            key,
            None if key is not None else bytearray(),
            synchronizing=match.group(2) == b"",
        )
        if size:
            self._literals[ev.CLIENT] = literal
        elif key is None:
            self._keep_part((True, b""))
        else:
            self._start_literal(literal, ts)

    def _keep_part(self, part: tuple[bool, bytes]) -> None:
        """Keeps a piece of the command being read; the first ones are enough."""
        if len(self._parts) < _MAX_PIECES:
            self._parts.append(part)
        else:
            self._pieces_dropped[ev.CLIENT] += 1

    def _command(self, ts: int) -> None:
        parts, self._parts = self._parts, []
        self._report_dropped_pieces(ev.CLIENT, "command", ts)
        keys, self._append_keys = self._append_keys, []
        text = b"".join(piece for is_literal, piece in parts if not is_literal)
        tokens = _tokens(parts)
        if not tokens:
            return
        tag = readable(tokens[0])
        verb = readable(tokens[1]).upper() if len(tokens) > 1 else ""
        arguments = tokens[2:]
        if verb == "UID" and arguments:
            verb = "UID " + readable(arguments[0]).upper()
            arguments = arguments[1:]
        command = _Command(
            tag,
            verb,
            readable(text.rstrip(b"\r\n")).replace("\r\n", " "),
            arguments,
            ts,
            self._selected,
            keys,
        )
        if verb in ("SELECT", "EXAMINE") and arguments:
            self._selected = readable(arguments[0])
            self._uids = {}
            self._sizes = {}
        elif verb == "AUTHENTICATE" and arguments:
            initial = arguments[1] if len(arguments) > 1 else None
            self._auth = _Auth(
                tag,
                AuthExchange(
                    readable(arguments[0]),
                    initial,
                    command=f"{tag} AUTHENTICATE",
                    challenge="+",
                ),
                ts,
            )
        elif verb == "IDLE":
            self._idle = tag
        elif verb == "LOGOUT":
            self._logout_seen = True
        elif verb == "STARTTLS":
            self._starttls = tag
        if len(self._pending) >= _MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))
            self._anomaly(ts, ev.CLIENT, "more than 1000 unanswered commands")
        if tag in self._pending:
            self._anomaly(ts, ev.CLIENT, f"tag {tag} reused before its response")
            self._finish(self._pending.pop(tag), None, None, b"", ts)
        self._pending[tag] = command

    # ------------------------------------------------------------------- server

    def _server_line(self, line: bytes, ts: int) -> None:
        started, self._server_started = self._server_started, True
        if self._orphan is not None or (
            not started and not _RESPONSE_START.match(line)
        ):
            if self._orphan_line(line, ts):
                return
        if len(self._response) < _MAX_PIECES:
            self._response.append(line)
        else:
            self._pieces_dropped[ev.SERVER] += 1
        match = _SERVER_LITERAL.search(line)
        if match is None:
            self._response_done(ts)
            return
        size = int(match.group(1))
        head = self._response[0]
        key = None
        item = _FETCH_ITEM.search(line)
        number = _UNTAGGED_NUMBER.match(head)
        if (
            item is not None
            and number is not None
            and number.group(2).upper() == b"FETCH"
        ):
            self._keys += 1
            key = self._keys
            self._events.append(ev.ContentStart(ts, key))
            partial = _partial(item, size)
            self._response_keys.append(
                (key, readable(item.group(0)).split("{")[0].strip(), partial, ts)
            )
        if size:
            self._literals[ev.SERVER] = _Literal(size, key, None)

    def _orphan_line(self, line: bytes, ts: int) -> bool:
        """The capture began inside a literal: its rest is kept, flagged, up to the
        first line that starts a response. True when the line was taken."""
        if self._orphan is None:
            self._keys += 1
            self._orphan = (self._keys, ts)
            self._events.append(ev.ContentStart(ts, self._keys))
        key, start = self._orphan
        if not _RESPONSE_START.match(line):
            self._events.append(ev.ContentData(ts, key, line))
            return True
        self._orphan = None
        self._events.append(
            ev.ContentEnd(
                ts,
                key,
                start_ns=start,
                kind="retrieved",
                command="(not captured)",
                mailbox=None,
                number=None,
                uid=None,
                uidl=None,
                partial="unknown: the capture began inside a literal",
                complete=False,
                accepted=None,
                reply=None,
                warnings=[
                    "the command was not captured: these bytes are the rest of a "
                    "literal (a message or part of one) from where the capture began; "
                    "its last line may hold the closing FETCH syntax"
                ],
            )
        )
        return False

    def _report_dropped_pieces(self, direction: int, what: str, ts: int) -> None:
        dropped = self._pieces_dropped[direction]
        if dropped:
            self._pieces_dropped[direction] = 0
            self._anomaly(
                ts,
                direction,
                f"{what} of more than {_MAX_PIECES} lines and literals: "
                f"{dropped} not kept in its record",
            )

    def _response_done(self, ts: int) -> None:
        lines, self._response = self._response, []
        self._report_dropped_pieces(ev.SERVER, "response", ts)
        head = lines[0].rstrip(b"\r\n")
        if head.startswith(b"+"):
            self._continuation(head, ts)
            return
        if head.startswith(b"* "):
            if head[2:5].upper() == b"BYE":
                self._refused_literal(head, None, ts)
            self._untagged(head, b"".join(lines), ts)
            return
        tag, _, rest = head.partition(b" ")
        status, _, _ = rest.partition(b" ")
        self._greeting_seen = True
        if self._refused_literal(head, tag, ts):
            return
        command = self._pending.pop(readable(tag), None)
        if command is None:
            self._anomaly(
                ts, ev.SERVER, f"response without a command: {readable(head[:80])!r}"
            )
            return
        self._finish(command, status.upper() == b"OK", readable(head), head, ts)

    def _continuation(self, head: bytes, ts: int) -> None:
        if self._auth is not None:
            text = head[2:] if head[1:2] == b" " else head[1:]
            self._auth.exchange.server_challenge(text)

    def _untagged(self, head: bytes, whole: bytes, ts: int) -> None:
        upper = head.upper()
        if (
            not self._greeting_seen
            and not self._pending
            and upper.startswith((b"* OK", b"* PREAUTH", b"* BYE"))
        ):
            self._greeting_seen = True
            self._events.append(ev.Greeting(ts, readable(head)))
            self._capabilities(head, ts)
            return
        self._greeting_seen = True
        number = _UNTAGGED_NUMBER.match(head)
        in_flight = self._in_flight()
        if number is not None:
            value, what = int(number.group(1)), number.group(2).upper()
            mailbox = in_flight.mailbox if in_flight is not None else self._selected
            if what == b"EXISTS":
                if in_flight is not None and in_flight.verb in ("SELECT", "EXAMINE"):
                    in_flight.exists = value
                self._events.append(ev.MessageCount(ts, self._selected, value))
            elif what == b"EXPUNGE":
                self._uids = {}  # sequence numbers shift
                self._events.append(
                    ev.Deleted(ts, mailbox, value, in_flight.text if in_flight else "")
                )
            elif what == b"FETCH":
                self._fetch_done(value, whole, ts)
            return
        if upper.startswith(b"* CAPABILITY") or b"[CAPABILITY " in upper:
            self._capabilities(head, ts)
        uidvalidity = _UIDVALIDITY.search(head)
        if uidvalidity is not None and in_flight is not None:
            in_flight.uidvalidity = int(uidvalidity.group(1))

    def _capabilities(self, head: bytes, ts: int) -> None:
        text = readable(head)
        match = re.search(r"CAPABILITY ([^\]]*)", text, re.I)
        if match:
            self._events.append(ev.Capabilities(ts, match.group(1).split()))

    def _in_flight(self, fetch: bool = False) -> Optional[_Command]:
        for command in self._pending.values():
            if not fetch or command.verb in ("FETCH", "UID FETCH"):
                return command
        return None

    def _fetch_done(self, number: int, whole: bytes, ts: int) -> None:
        keys, self._response_keys = self._response_keys, []
        uid = _UID.search(whole)  # literal bytes are not in ``whole``
        uid_value = int(uid.group(1)) if uid else None
        if uid_value is not None:
            if len(self._uids) < _MAX_UIDS or number in self._uids:
                self._uids[number] = uid_value
            elif not self._uids_full_reported:
                self._uids_full_reported = True
                self._anomaly(
                    ts,
                    ev.SERVER,
                    f"more than {_MAX_UIDS} sequence numbers with a UID in one "
                    "mailbox; messages fetched by number alone later may lack "
                    "their UID",
                )
        else:
            uid_value = self._uids.get(number)
        for match in _QUOTED_ITEM.finditer(whole):
            data = re.sub(rb"\\(.)", rb"\1", match.group(5))
            self._keys += 1
            self._events.append(ev.ContentStart(ts, self._keys))
            self._events.append(ev.ContentData(ts, self._keys, data))
            item = readable(match.group(0).split(b' "', 1)[0])
            keys.append((self._keys, item, _partial(match, len(data)), ts))
        size = _SIZE.search(whole)
        if size is not None and uid_value is not None:
            if len(self._sizes) < _MAX_UIDS or uid_value in self._sizes:
                self._sizes[uid_value] = int(size.group(1))
        total = self._sizes.get(uid_value) if uid_value is not None else None
        if not keys:
            return
        command = self._attribute(number, uid_value, [item for _, item, _, _ in keys])
        for key, item, partial, start in keys:
            warnings = []
            if command is None:
                warnings.append("FETCH response without a FETCH command in flight")
            self._fetch_end(
                ts, key, item, partial, start, command, number, uid_value,
                partial is None, warnings, total,
            )  # fmt: skip

    def _fetch_end(
        self, ts, key, item, partial, start, command, number, uid, complete,
        warnings, total=None,
    ) -> None:  # fmt: skip
        """The end of one message (or part) a FETCH response delivered."""
        self._events.append(
            ev.ContentEnd(
                ts,
                key,
                start_ns=start,
                kind="retrieved",
                command=command.text if command else item,
                mailbox=command.mailbox if command else self._selected,
                number=number,
                uid=uid,
                uidl=None,
                partial=partial,
                complete=complete,
                accepted=True,
                reply=None,
                warnings=warnings,
                total_size=total,
            )
        )

    def _attribute(self, number: int, uid: Optional[int], items: list[str]):
        """The in-flight FETCH a response answers.

        Not simply the oldest: servers answer pipelined fetches out of order (Dovecot
        2.3 sends the data of two pipelined FETCHes before either tagged OK). So the
        command must ask for the items returned and include the message (sequence set
        for FETCH, UID set for UID FETCH); the oldest such command wins.
        """
        fetches = [
            c for c in self._pending.values() if c.verb in ("FETCH", "UID FETCH")
        ]
        wanted = [_item_key(item) for item in items]
        best = None
        for command in fetches:
            asked = _item_key(command.text)
            if not all(key in asked for key in wanted):
                continue
            where = readable(command.tokens[0]) if command.tokens else ""
            value = uid if command.verb == "UID FETCH" else number
            if value is not None and _in_set(where, value):
                return command
            best = best or command
        return best or (fetches[0] if fetches else self._in_flight())

    def _end_response_keys(self, ts: int, complete: bool) -> None:
        keys, self._response_keys = self._response_keys, []
        command = self._in_flight(fetch=True)
        for key, item, partial, start in keys:
            cut = ["FETCH response cut: bytes missing from the capture"]
            self._fetch_end(
                ts, key, item, partial, start, command, None, None, False, cut
            )

    def _finish(
        self, command: _Command, ok: Optional[bool], reply, head: bytes, ts
    ) -> None:
        verb = command.verb
        if verb == "LOGIN":
            self._login(command, ok, reply, ts)
        elif (
            verb == "AUTHENTICATE"
            and self._auth is not None
            and self._auth.tag == command.tag
        ):
            self._finish_auth(ts, ok, reply)
        elif verb in ("SELECT", "EXAMINE") and command.tokens:
            name = readable(command.tokens[0])
            self._events.append(
                ev.MailboxOpened(
                    ts, name, verb, ok, command.exists, command.uidvalidity
                )
            )
            if ok is False and self._selected == name:
                self._selected = None
        elif verb == "APPEND":
            uid = _APPENDUID.search(head)
            mailbox = readable(command.tokens[0]) if command.tokens else None
            for key in command.keys:
                self._append_end(
                    key,
                    command,
                    ts,
                    ok,
                    reply,
                    complete=ok is not None,
                    mailbox=mailbox,
                    uid=int(uid.group(1)) if uid and len(command.keys) == 1 else None,
                )
        elif verb == "IDLE" and self._idle == command.tag:
            self._idle = None
        elif verb == "COMPRESS" and ok:
            # RFC 4978: both directions are deflate streams from here on; they are
            # not decoded, and nothing after this is read as IMAP.
            self._encrypted = True
            self._anomaly(
                ts,
                None,
                "COMPRESS accepted: the rest of the session is compressed "
                "and not decoded",
            )
        elif verb == "STARTTLS":
            self._starttls = None
            self._events.append(ev.StartTls(ts, ok, reply))
            if ok:
                self._encrypted = True
                self._events.append(ev.TlsStarted(ts, implicit=False))

    def _append_end(self, key, command, ts, ok, reply, complete, mailbox, uid=None):
        self._events.append(
            ev.ContentEnd(
                ts,
                key,
                start_ns=command.ts_ns if command else ts,
                kind="appended",
                command=command.text if command else "APPEND",
                mailbox=mailbox,
                number=None,
                uid=uid,
                uidl=None,
                partial=None,
                complete=complete,
                accepted=ok,
                reply=reply,
                warnings=(
                    [] if ok is not None else ["APPEND outcome not in the capture"]
                ),
            )
        )

    # ------------------------------------------------------------------- logins

    def _login(self, command: _Command, ok: Optional[bool], reply, ts: int) -> None:
        tokens = command.tokens
        user = tokens[0] if tokens else None
        secret = tokens[1] if len(tokens) > 1 else None
        result = {
            "mechanism": "LOGIN",
            "username": readable(user) if user is not None else None,
            "username_bytes": user,
            "password": readable(secret) if secret is not None else None,
            "password_bytes": secret,
            "success": ok,
            "reply": reply,
            "exchange": [f"C: {command.text}"] + ([f"S: {reply}"] if reply else []),
        }
        self._events.append(ev.Login(ts, command.ts_ns, "LOGIN", result, []))

    def _refused_literal(self, head: bytes, tag: Optional[bytes], ts: int) -> bool:
        """A synchronising literal refused before it was sent (tagged NO/BAD or BYE).

        The client then sends none, and the command it began is over: an APPEND
        stored nothing, a LOGIN is a refused attempt.
        """
        literal = self._literals[ev.CLIENT]
        if not (
            literal is not None
            and literal.received == 0
            and literal.synchronizing
            and self._parts
            and (tag is None or self._parts[0][1].split(b" ", 1)[0] == tag)
        ):
            return False
        parts = self._parts
        self._literals[ev.CLIENT] = None
        self._parts = []
        self._append_keys = []
        tokens = _tokens(parts)
        if literal.key is not None:
            self._anomaly(
                ts,
                ev.SERVER,
                f"{readable(tokens[0]) if tokens else ''} APPEND refused before its "
                "literal was sent: no message",
            )
        elif len(tokens) > 1 and tokens[1].upper() == b"LOGIN":
            self._login_refused(parts, tokens, readable(head), ts)
        return True

    def _login_refused(self, parts, tokens, reply: str, ts: int) -> None:
        """A LOGIN whose synchronising literal the server refused (NO, BAD or BYE).

        The client then sends no literal: the attempt is over, refused, and what it
        would have carried (the user name or the password) never left the client.
        """
        user = tokens[2] if len(tokens) > 2 else None
        text = readable(
            b"".join(piece for is_literal, piece in parts if not is_literal)
        )
        missing = "password" if user is not None else "user name and password"
        result = {
            "mechanism": "LOGIN",
            "username": readable(user) if user is not None else None,
            "username_bytes": user,
            "password": None,
            "password_bytes": None,
            "success": False,
            "reply": reply,
            "exchange": [f"C: {text.rstrip()}", f"S: {reply}"],
        }
        warning = (
            f"LOGIN refused before its literal was sent ({reply!r} in place of the "
            f"continuation): the {missing} never sent"
        )
        self._events.append(ev.Login(ts, ts, "LOGIN", result, [warning]))

    def _finish_auth(self, ts: int, ok: Optional[bool], reply: Optional[str]) -> None:
        auth, self._auth = self._auth, None
        assert auth is not None
        result = auth.exchange.finish(None, reply, success=ok)
        self._events.append(
            ev.Login(ts, auth.start_ns, "AUTHENTICATE", result, auth.exchange.warnings)
        )

    def _anomaly(self, ts: int, direction: Optional[int], message: str) -> None:
        self._events.append(ev.Anomaly(ts, direction, message))

    def _take(self) -> list[ev.Event]:
        events, self._events = self._events, []
        return events


def _partial(item: re.Match, size: int) -> Optional[str]:
    """None for the whole message, else what the fetch item took."""
    if item.group(4) is not None:
        name = readable(item.group(4)).upper()
        return None if name == "RFC822" else name
    kind, section, origin = (
        readable(item.group(1)).upper(),
        item.group(2),
        item.group(3),
    )
    section_text = readable(section)
    if kind == "BODY" and not section and origin is None:
        return None
    text = f"{kind}[{section_text}]"
    if origin is not None:
        text += f"<{int(origin)}.{size}>"
    return text


def _item_key(text: str) -> str:
    """A fetch item as comparable text: BODY.PEEK[x] and BODY[x] alike, upper case."""
    text = (
        text.upper().replace("BODY.PEEK[", "BODY[").replace("BINARY.PEEK[", "BINARY[")
    )
    return re.sub(r"<(\d+)(?:\.\d+)?>", r"<\1", text)


def _in_set(sequence_set: str, value: int) -> bool:
    """Whether an IMAP sequence set ("1:3,7,9:*") includes ``value``."""
    for element in sequence_set.split(","):
        low, _, high = element.partition(":")
        try:
            start = value if low == "*" else int(low)
            end = start if not high else (value if high == "*" else int(high))
        except ValueError:
            continue
        if min(start, end) <= value <= max(start, end):
            return True
    return False


def _tokens(parts: list[tuple[bool, bytes]]) -> list[bytes]:
    """The astrings of a command: atoms, quoted strings unescaped, literals."""
    tokens: list[bytes] = []
    for is_literal, piece in parts:
        if is_literal:
            tokens.append(piece)
            continue
        piece = _CLIENT_LITERAL.sub(b"", piece).rstrip(b"\r\n")
        for match in _TOKEN.finditer(piece):
            if match.group(1) is not None:
                tokens.append(re.sub(rb"\\(.)", rb"\1", match.group(1)))
            else:
                tokens.append(match.group(2))
    return tokens
