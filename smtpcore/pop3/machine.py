"""Sans-IO POP3 machine (RFC 1939, 2449, 5034, 2595): bytes of both directions in, events out.

Commands are queued as sent and answered in order (RFC 2449 PIPELINING is the same
rule). Multi-line responses (CAPA, LIST, UIDL, RETR, TOP, AUTH without a mechanism)
end with a lone dot; RETR and TOP bodies are streamed out dot-unstuffed as
``ContentData``, every line with the line ending the server sent. During AUTH every
client line belongs to the SASL exchange until the server's ``+OK``/``-ERR``. After
an accepted STLS the rest is TLS: recorded as encrypted, and read by a second
machine (`inside_tls`) when a key log decrypts it.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from typing import Optional

from smtpcore import mailevents as ev
from smtpcore.lines import DotBody, LineReader
from smtpcore.smtp.auth import AuthExchange, readable

HASHCAT_APOP = 20  # md5($salt.$pass): APOP's digest is MD5(timestamp + secret)

_MULTILINE_ALWAYS = frozenset({"CAPA", "RETR", "TOP"})
_MULTILINE_WITHOUT_ARGUMENT = frozenset({"LIST", "UIDL", "AUTH"})
_TIMESTAMP = re.compile(rb"<[^<>\s]*>")
_MAX_LIST_BYTES = 1 << 20  # of a CAPA/LIST/UIDL listing kept; its rest is skipped
_MAX_PENDING = 1000


@dataclasses.dataclass(slots=True)
class _Pending:
    verb: str
    argument: str
    line: str  # as sent, without the line ending
    ts_ns: int
    raw: bytes = b""


@dataclasses.dataclass(slots=True)
class _Auth:
    exchange: AuthExchange
    start_ns: int
    mechanism: str


class Pop3Machine:
    """One POP3 connection. Feed it with data()/gap() in capture order, then close()."""

    def __init__(self) -> None:
        self._readers = (LineReader(), LineReader())
        self._pending: collections.deque[_Pending] = collections.deque()
        self._events: list[ev.Event] = []
        self._body: Optional[DotBody] = None
        self._body_command: Optional[_Pending] = None
        self._body_key: Optional[int] = None
        self._body_start = 0
        self._body_missing = False
        self._list_lines: list[bytes] = []
        self._list_bytes = 0
        self._auth: Optional[_Auth] = None
        self._user: Optional[tuple[bytes, int]] = None
        self._timestamp: Optional[bytes] = None
        self._uidl: dict[int, str] = {}
        self._logged_in = False
        self._keys = 0
        self._greeting_seen = False
        self._quit_seen = False
        self._gap_seen = False
        self._encrypted = False
        self._stls_sent = False
        self._started = False  # a server line was read
        self._only_greeting = False  # the greeting is the only server line so far
        self._client_seen = False
        self._resync = False  # after a server gap: unmatched lines are an orphan body

    def inside_tls(self) -> "Pop3Machine":
        """A machine for the plaintext inside this connection's TLS.

        After STLS the server does not greet again, and APOP's timestamp is the one
        of the clear-text greeting (RFC 2595 section 4).
        """
        inner = Pop3Machine()
        inner._greeting_seen = inner._started = self._greeting_seen
        inner._timestamp = self._timestamp
        return inner

    # ------------------------------------------------------------------ feeding

    def data(self, direction: int, data: bytes, ts: int) -> list[ev.Event]:
        if self._encrypted:
            return self._take()
        if not self._greeting_seen and not self._pending and data[:2] == b"\x16\x03":
            self._encrypted = True  # implicit TLS (port 995): nothing more to read
            self._events.append(ev.TlsStarted(ts, implicit=True))
            return self._take()
        if direction == ev.CLIENT:
            self._client_bytes(data, ts)
        else:
            self._server_bytes(data, ts)
        return self._take()

    def gap(self, direction: int, length: int, ts: int) -> list[ev.Event]:
        self._gap_seen = True
        if self._encrypted:
            return self._take()
        reader = self._readers[direction]
        if direction == ev.SERVER and self._body is not None:
            reader.take()
            self._body.lost_bytes()
            self._body_missing = True
            if self._body_key is not None:
                self._events.append(ev.ContentGap(ts, self._body_key, length))
            self._anomaly(
                ts, direction, f"{length} byte(s) lost inside a multi-line response"
            )
        else:
            dropped = reader.take()
            side = "client" if direction == ev.CLIENT else "server"
            self._anomaly(
                ts,
                direction,
                f"{length} {side} byte(s) lost"
                + (
                    f"; partial line of {len(dropped)} byte(s) dropped"
                    if dropped
                    else ""
                ),
            )
            if direction == ev.SERVER:
                self._server_gap(ts)
        return self._take()

    def _server_gap(self, ts: int) -> None:
        """Responses were lost: which pending command the next one answers is unknown.

        The reassembler delivers a client command only after the server bytes it
        acknowledges, so the commands pending now are those whose responses may be
        in the gap. They are given up rather than matched to a later response (that
        would put one message's bytes under another's command); what follows the
        gap without a command is kept as a flagged orphan body.
        """
        lost = [command.line for command in self._pending]
        pending, self._pending = self._pending, collections.deque()
        for command in pending:  # a login stays evidence, its outcome unknown
            if command.verb == "PASS":
                self._pass(command, None, None, ts)
            elif command.verb == "APOP":
                self._apop(command, None, None, ts)
        if self._auth is not None:
            self._finish_auth(ts, None, None)
        if lost:
            self._anomaly(
                ts,
                ev.SERVER,
                "response(s) to "
                + ", ".join(lost[:5])
                + (" ..." if len(lost) > 5 else "")
                + " lost in the gap; not matched to later responses",
            )
        self._resync = True

    def close(self, ts: int) -> list[ev.Event]:
        if self._body is not None:
            self._end_body(ts, complete=False)
            self._anomaly(
                ts, ev.SERVER, "connection closed inside a multi-line response"
            )
        if self._auth is not None:
            self._finish_auth(ts, None, None)
        if self._user is not None:
            self._user_without_pass(ts)
        self._events.append(
            ev.Closed(
                ts,
                self._greeting_seen,
                self._quit_seen,
                self._gap_seen,
                self._encrypted,
            )
        )
        return self._take()

    # ------------------------------------------------------------------- client

    def _client_bytes(self, data: bytes, ts: int) -> None:
        reader = self._readers[ev.CLIENT]
        position = 0
        while position < len(data):
            line, position, overlong = reader.next_line(data, position)
            if line is None:
                return
            if overlong:
                self._anomaly(ts, ev.CLIENT, f"client line over {len(line)} bytes cut")
            self._client_line(line, ts)
            if self._encrypted:
                return

    def _client_line(self, raw: bytes, ts: int) -> None:
        line = raw.rstrip(b"\r\n")
        self._client_seen = True
        if self._auth is not None:
            self._auth.exchange.client_response(line)
            return
        verb, _, argument = line.partition(b" ")
        verb_text = readable(verb).upper()
        command = _Pending(verb_text, readable(argument), readable(line), ts, line)
        if verb_text == "AUTH" and argument.strip():
            mechanism, _, initial = argument.strip().partition(b" ")
            self._auth = _Auth(
                AuthExchange(
                    readable(mechanism), initial or None, command="AUTH", challenge="+"
                ),
                ts,
                readable(mechanism).upper(),
            )
        elif verb_text == "USER":
            if self._user is not None:
                self._user_without_pass(ts)
            self._user = (argument, ts)
        elif verb_text == "QUIT":
            self._quit_seen = True
        elif verb_text == "STLS":
            self._stls_sent = True
        elif self._stls_sent and line[:1] == b"\x16":
            self._encrypted = True  # TLS went on without the +OK captured
            self._events.append(ev.TlsStarted(ts, implicit=False))
            return
        if len(self._pending) >= _MAX_PENDING:
            self._pending.popleft()
            self._anomaly(ts, ev.CLIENT, "more than 1000 unanswered commands")
        self._pending.append(command)

    # ------------------------------------------------------------------- server

    def _server_bytes(self, data: bytes, ts: int) -> None:
        reader = self._readers[ev.SERVER]
        position = 0
        length = len(data)
        while position < length:
            if self._body is not None and self._body_missing:
                position = self._body_after_gap(data, position, ts)
                continue
            if self._body is not None:
                pieces, end = self._body.feed(data, position)
                self._body_pieces(pieces, ts)
                if end is None:
                    return
                position = end
                self._end_body(ts, complete=not self._body_missing)
                continue
            line, position, overlong = reader.next_line(data, position)
            if line is None:
                return
            if overlong:
                self._anomaly(ts, ev.SERVER, f"server line over {len(line)} bytes cut")
            self._server_line(line, ts)
            if self._encrypted:
                return

    def _body_after_gap(self, data: bytes, position: int, ts: int) -> int:
        """A body that lost bytes is read line by line: its terminator may be lost.

        A line that starts with ``+OK``/``-ERR`` then ends the body (incomplete) and
        is read as the next response, so a later message's bytes do not run on into
        this one. Message lines rarely start so; such a line is then a status line
        by a wide margin.
        """
        reader = self._readers[ev.SERVER]
        line, position, _ = reader.next_line(data, position)
        if line is None:
            return position
        if line.startswith((b"+OK", b"-ERR")):
            self._anomaly(
                ts,
                ev.SERVER,
                "end of a multi-line response lost; it ends at the next status line",
            )
            self._end_body(ts, complete=False)
            self._server_line(line, ts)
            return position
        if line.rstrip(b"\r\n") == b".":
            self._end_body(ts, complete=False)
            return position
        piece = line[1:] if line.startswith(b".") else line
        self._body_pieces([piece], ts)
        return position

    def _body_pieces(self, pieces: list[bytes], ts: int) -> None:
        if self._body_key is not None:
            for piece in pieces:
                self._events.append(ev.ContentData(ts, self._body_key, piece))
        else:
            for piece in pieces:
                if self._list_bytes + len(piece) > _MAX_LIST_BYTES:
                    if self._list_bytes <= _MAX_LIST_BYTES:
                        self._list_bytes = _MAX_LIST_BYTES + 1  # said once
                        verb = self._body_command.verb if self._body_command else ""
                        self._anomaly(
                            ts,
                            ev.SERVER,
                            f"{verb} listing longer than {_MAX_LIST_BYTES} bytes; "
                            "the rest of it is not read",
                        )
                    break
                self._list_bytes += len(piece)
                self._list_lines.append(piece)

    def _server_line(self, raw: bytes, ts: int) -> None:
        line = raw.rstrip(b"\r\n")
        started, self._started = self._started, True
        if self._auth is not None and line[:1] == b"+" and not line.startswith(b"+OK"):
            self._auth.exchange.server_challenge(
                line[2:] if line[1:2] == b" " else line[1:]
            )
            return
        positive = line.startswith(b"+OK")
        if not (positive or line.startswith(b"-ERR")):
            if not self._pending and (
                not started
                or self._resync
                or (self._only_greeting and not self._client_seen)
            ):
                # The capture began inside a multi-line response (the "greeting"
                # may have been its status line): keep the rest, flagged.
                self._only_greeting = False
                self._resync = False
                self._orphan_body(raw, ts)
                return
            self._anomaly(
                ts, ev.SERVER, f"unexpected server line: {readable(line[:80])!r}"
            )
            return
        if not self._greeting_seen and not self._pending:
            self._greeting_seen = True
            match = _TIMESTAMP.search(line)
            self._timestamp = match.group(0) if match else None
            self._events.append(ev.Greeting(ts, readable(line)))
            self._only_greeting = True
            return
        if not self._pending:
            self._anomaly(
                ts, ev.SERVER, f"reply without a command: {readable(line[:80])!r}"
            )
            return
        command = self._pending.popleft()
        self._resync = False
        self._greeting_seen = True
        self._only_greeting = False
        self._answer(command, positive, readable(line), line, ts)

    def _answer(
        self, command: _Pending, positive: bool, reply: str, line: bytes, ts: int
    ) -> None:
        verb = command.verb
        multiline = verb in _MULTILINE_ALWAYS or (
            verb in _MULTILINE_WITHOUT_ARGUMENT and not command.argument.strip()
        )
        if verb == "AUTH" and self._auth is not None:
            self._finish_auth(ts, positive, reply)
        elif verb == "PASS":
            self._pass(command, positive, reply, ts)
        elif verb == "USER" and not positive and self._user is not None:
            self._user_without_pass(ts, reply)
        elif verb == "APOP":
            self._apop(command, positive, reply, ts)
        elif verb == "STAT" and positive:
            numbers = re.findall(rb"\d+", line)
            if numbers:
                self._events.append(
                    ev.MessageCount(
                        ts,
                        None,
                        int(numbers[0]),
                        int(numbers[1]) if len(numbers) > 1 else None,
                    )
                )
        elif verb == "DELE" and positive and command.argument.strip().isdigit():
            self._events.append(
                ev.Deleted(ts, None, int(command.argument), command.line)
            )
        elif verb == "RSET" and positive:
            self._events.append(ev.DeletionsUndone(ts))
        elif verb == "QUIT" and positive and self._logged_in:
            self._events.append(ev.DeletionsCommitted(ts))
        elif verb == "STLS":
            self._events.append(ev.StartTls(ts, positive, reply))
            if positive:
                self._encrypted = True
                self._events.append(ev.TlsStarted(ts, implicit=False))
                return
        if positive and multiline:
            self._start_body(command, ts)

    def _orphan_body(self, raw: bytes, ts: int) -> None:
        """The capture began inside a multi-line response: keep what follows.

        Its command was not captured, so it may be a message (RETR, TOP) or a
        listing; it is kept as a partial, flagged record rather than dropped.
        """
        self._greeting_seen = True
        self._start_body(_Pending("", "", "(not captured)", ts), ts, orphan=True)
        pieces, end = self._body.feed(raw)
        self._body_pieces(pieces, ts)
        if end is not None:
            self._end_body(ts, complete=False)

    def _start_body(self, command: _Pending, ts: int, orphan: bool = False) -> None:
        self._body = DotBody()
        self._body_command = command
        self._body_start = ts
        self._body_missing = False
        self._list_lines = []
        self._list_bytes = 0
        if command.verb in ("RETR", "TOP") or orphan:
            self._keys += 1
            self._body_key = self._keys
            self._events.append(ev.ContentStart(ts, self._body_key))
        else:
            self._body_key = None

    def _end_body(self, ts: int, complete: bool) -> None:
        command, key = self._body_command, self._body_key
        self._body = None
        self._body_command = None
        self._body_key = None
        assert command is not None
        if key is None:
            self._list_done(command, ts)
            return
        arguments = command.argument.split()
        number = int(arguments[0]) if arguments and arguments[0].isdigit() else None
        partial = None
        warnings = [] if complete else ["message bytes missing from the capture"]
        if not command.verb:
            partial = "unknown: the capture began inside a multi-line response"
            warnings = [
                "the command was not captured: these bytes are the rest of a "
                "multi-line response (a message, or a listing), from where the "
                "capture began"
            ]
        elif command.verb == "TOP":
            lines = arguments[1] if len(arguments) > 1 else "?"
            partial = f"TOP: header and {lines} body line(s)"
        self._events.append(
            ev.ContentEnd(
                ts,
                key,
                start_ns=self._body_start,
                kind="retrieved",
                command=command.line,
                mailbox=None,
                number=number,
                uid=None,
                uidl=self._uidl.get(number) if number is not None else None,
                partial=partial,
                complete=complete and partial is None,
                accepted=True,
                reply=None,
                warnings=warnings,
            )
        )

    def _list_done(self, command: _Pending, ts: int) -> None:
        # Pieces follow the segments, not the lines: join, then split.
        listing = b"".join(self._list_lines).split(b"\n")
        lines = [readable(line.rstrip(b"\r")) for line in listing if line.strip()]
        self._list_lines = []
        if command.verb == "CAPA":
            self._events.append(ev.Capabilities(ts, lines))
        elif command.verb == "UIDL":
            for line in lines:
                number, _, uid = line.partition(" ")
                if number.isdigit() and uid:
                    self._uidl[int(number)] = uid.strip()
        elif command.verb == "LIST" and not self._has_count():
            pass

    def _has_count(self) -> bool:
        return True

    # ------------------------------------------------------------------- logins

    def _login(
        self,
        ts: int,
        start: int,
        command: str,
        result: dict,
        positive: Optional[bool],
        warnings=(),
    ) -> None:
        if positive:
            self._logged_in = True
        self._events.append(ev.Login(ts, start, command, result, list(warnings)))

    def _pass(self, command: _Pending, positive: bool, reply: str, ts: int) -> None:
        user, start = self._user if self._user is not None else (None, command.ts_ns)
        self._user = None
        secret = command.raw.partition(b" ")[2]  # spaces kept (RFC 1939 section 7)
        result = {
            "mechanism": "USER",
            "username": readable(user) if user is not None else None,
            "username_bytes": user,
            "password": readable(secret),
            "password_bytes": secret,
            "success": positive,
            "reply": reply,
            "exchange": [
                *([f"C: USER {readable(user)}"] if user is not None else []),
                f"C: {command.line}",
                *([f"S: {reply}"] if reply is not None else []),
            ],
        }
        warnings = (
            [] if user is not None else ["PASS without a captured USER; user unknown"]
        )
        self._login(ts, start, "USER/PASS", result, positive, warnings)

    def _user_without_pass(self, ts: int, reply: Optional[str] = None) -> None:
        user, start = self._user
        self._user = None
        result = {
            "mechanism": "USER",
            "username": readable(user),
            "username_bytes": user,
            "success": False if reply is not None else None,
            "reply": reply,
            "exchange": [f"C: USER {readable(user)}"]
            + ([f"S: {reply}"] if reply else []),
        }
        self._login(ts, start, "USER/PASS", result, False, ["USER without PASS"])

    def _apop(self, command: _Pending, positive: bool, reply: str, ts: int) -> None:
        parts = command.line.split(" ")
        name = parts[1] if len(parts) > 1 else None
        raw_name = command.raw.split(b" ")[1] if len(parts) > 1 else None
        digest = parts[2].lower() if len(parts) > 2 else None
        warnings = []
        result = {
            "mechanism": "APOP",
            "username": name,
            "username_bytes": raw_name,
            "success": positive,
            "reply": reply,
            "exchange": [f"C: {command.line}"]
            + ([f"S: {reply}"] if reply is not None else []),
        }
        if self._timestamp is None:
            warnings.append(
                "APOP: greeting with its timestamp not captured; no hashcat line"
            )
        elif digest is None or not re.fullmatch(r"[0-9a-f]{32}", digest):
            warnings.append("APOP: digest is not 32 hex digits; no hashcat line")
        else:
            result["hashcat"] = f"{digest}:{readable(self._timestamp)}"
            result["hashcat_mode"] = HASHCAT_APOP
        self._login(ts, command.ts_ns, "APOP", result, positive, warnings)

    def _finish_auth(
        self, ts: int, positive: Optional[bool], reply: Optional[str]
    ) -> None:
        auth, self._auth = self._auth, None
        assert auth is not None
        result = auth.exchange.finish(None, reply, success=positive)
        self._login(
            ts,
            auth.start_ns,
            "AUTH",
            result,
            result.get("success"),
            auth.exchange.warnings,
        )

    # ------------------------------------------------------------------ helpers

    def _anomaly(self, ts: int, direction: Optional[int], message: str) -> None:
        self._events.append(ev.Anomaly(ts, direction, message))

    def _take(self) -> list[ev.Event]:
        events, self._events = self._events, []
        return events
