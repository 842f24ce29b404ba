"""Turns the events of one POP3 or IMAP connection into model objects.

The mailbox counterpart of `smtpcore.smtp.builder.SessionBuilder`, fed the same way
(``data``/``gap``/``close``) and returning the same kinds of objects: a `Message` for
every message or part of one that was retrieved or appended, as soon as it is over
(its bytes in a `MessageContent`, left open for the consumer), a `Credential` for
every login attempt, and the `Session` last. With a key log, the part after STLS or
STARTTLS (or all of an implicit-TLS session) is decrypted and read by a second
machine of the same protocol, through the same handlers; see `smtpcore.tls.splice`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Optional, Union

from smtpcore import mailevents as ev
from smtpcore.content import MessageContent
from smtpcore.diagnostics import session_complete
from smtpcore.imap import utf7
from smtpcore.model import Credential, Endpoints, Message, Session
from smtpcore.tls.keylog import KeyLog
from smtpcore.tls.splice import REPLY_END, TlsSplice

Output = Union[Message, Credential, Session]

# A session's warnings kept; a capture that starts inside a large response could
# otherwise produce one per line.
MAX_SESSION_WARNINGS = 100

# Messages being rebuilt from consecutive partial fetches, per session.
MAX_JOINS = 16
_CHUNK = re.compile(r"BODY\[\]<(\d+)\.(\d+)>")
# Content keys of the machine inside TLS, apart from the clear-text machine's.
_INNER_KEYS = 1 << 40


@dataclasses.dataclass(slots=True)
class _Join:
    """Consecutive BODY[]<o.n> fetches of one message, joined as they arrive."""

    content: MessageContent
    start_ns: int
    total: Optional[int]
    next_offset: int = 0
    ids: list[str] = dataclasses.field(default_factory=list)
    commands: list[str] = dataclasses.field(default_factory=list)


_CREDENTIAL_FIELDS = frozenset(Credential.__dataclass_fields__) - {
    "session_id",
    "time_ns",
    "endpoints",
    "helo",
    "protocol",
    "command",
}


class MailboxSessionBuilder:
    """Model objects of one POP3 or IMAP connection.

    Args:
      protocol: "pop3" or "imap", recorded in every object.
      machine: the protocol machine (``Pop3Machine()`` or ``ImapMachine()``); its
          ``inside_tls()`` makes the machine for the plaintext inside TLS.
      keylog: TLS secrets to decrypt STLS/STARTTLS and implicit-TLS sessions with.
      md5_sha1: also the MD5 and SHA-1 of each message (see `MessageContent`).
    """

    def __init__(
        self,
        protocol: str,
        machine,
        session_id: str,
        source: str,
        endpoints: Endpoints,
        start_ns: int,
        keylog: Optional[KeyLog] = None,
        md5_sha1: bool = True,
    ) -> None:
        self.protocol = protocol
        self._md5_sha1 = md5_sha1  # see MessageContent
        self.session_id = session_id
        self.machine = machine
        self.session = Session(
            session_id=session_id,
            source=source,
            endpoints=endpoints,
            start_ns=start_ns,
            end_ns=start_ns,
            protocol=protocol,
        )
        self._contents: dict[int, MessageContent] = {}
        self._user: Optional[str] = None
        self._marked: list[dict] = []  # POP3 DELE not yet committed
        self._closed: Optional[ev.Closed] = None
        self._incomplete_messages = 0
        self._unlisted_warnings = 0
        self._joins: dict[tuple, _Join] = {}
        self._inner_closed: Optional[ev.Closed] = None
        self._bad_names: set[str] = set()  # mailbox names warned about
        self._splice = TlsSplice(
            keylog,
            machine.inside_tls,
            ev.TlsStarted,
            REPLY_END[protocol],
            lambda text: self._warn(f"session {session_id} {text}"),
        )

    def data(self, direction: int, data: bytes, ts_ns: int) -> list[Output]:
        outer, inner = self._splice.data(self.machine, direction, data, ts_ns)
        if self._splice.outer_off:
            self.session.encrypted = True
        output = self._handle(outer)
        if inner:
            output += self._handle(self._inside(inner))
        return output

    def gap(self, direction: int, length: int, ts_ns: int) -> list[Output]:
        outer, inner = self._splice.gap(self.machine, direction, length, ts_ns)
        output = self._handle(outer)
        if inner:
            output += self._handle(self._inside(inner))
        return output

    def _inside(self, events: list[ev.Event]) -> list[ev.Event]:
        """Events of the machine inside TLS, with content keys of their own."""
        kept = []
        for event in events:
            if type(event) is ev.Closed:
                self._inner_closed = event
                continue
            if hasattr(event, "key"):
                event.key += _INNER_KEYS
            kept.append(event)
        return kept

    def close(self, ts_ns: int, reason: str) -> list[Output]:
        output = self._handle(self.machine.close(ts_ns))
        splice = self._splice
        if splice.tls is not None:
            output += self._handle(self._inside(splice.close(ts_ns)))
            splice.describe(self.session, self.session_id)
        for content in self._contents.values():  # only left by a machine bug
            content.release()
        self._contents.clear()
        for join in self._joins.values():  # never reached the end: the parts stay
            join.content.release()
        self._joins.clear()
        session = self.session
        session.deleted.extend(self._marked)
        if self._marked and session.deletions_committed is None:
            session.deletions_committed = False
        if self._unlisted_warnings:
            session.warnings.append(
                f"session {self.session_id}: {self._unlisted_warnings} more "
                "warning(s) not listed"
            )
        session.end_ns = max(ts_ns, session.start_ns)
        session.close_reason = reason
        closed, inner = self._closed, self._inner_closed
        session.complete = session_complete(
            session, closed, inner, reason, self._incomplete_messages, splice.tls
        )
        output.append(session)
        return output

    def _handle(self, events: list[ev.Event]) -> list[Output]:
        output: list[Output] = []
        session = self.session
        handlers: dict[type, Callable] = self._handlers
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                result = handler(self, event)
                if isinstance(result, list):
                    output.extend(result)
                elif result is not None:
                    output.append(result)
            session.end_ns = max(session.end_ns, event.ts_ns)
        return output

    # ------------------------------------------------------------- handlers

    def _content_start(self, event: ev.ContentStart) -> None:
        self._contents[event.key] = MessageContent(self._md5_sha1)

    def _content_data(self, event: ev.ContentData) -> None:
        content = self._contents.get(event.key)
        if content is not None:
            content.write(event.data)

    def _content_gap(self, event: ev.ContentGap) -> None:
        content = self._contents.get(event.key)
        if content is not None:
            content.gap(event.length)

    def _content_end(self, event: ev.ContentEnd) -> list[Message]:
        message = self._message(event)
        joined = self._join(event, message)
        return [message] if joined is None else [message, joined]

    def _message(self, event: ev.ContentEnd) -> Message:
        session = self.session
        session.messages += 1
        content = self._contents.pop(event.key, None) or MessageContent(self._md5_sha1)
        complete = event.complete and not content.missing_ranges
        if not event.complete and event.partial is None or content.missing_ranges:
            self._incomplete_messages += 1
        message = Message(
            id=f"{self.session_id}-{session.messages}",
            session_id=self.session_id,
            endpoints=session.endpoints,
            helo=None,
            auth_user=self._user,
            start_ns=event.start_ns,
            time_ns=event.ts_ns,
            mail_from=None,
            accepted=event.accepted,
            reply=event.reply,
            data_sent=True,
            complete=complete,
            warnings=list(event.warnings),
            protocol=self.protocol,
            kind=event.kind,
            mailbox=self._name(event.mailbox),
            mailbox_raw=event.mailbox,
            command=event.command,
            message_number=event.number,
            uid=event.uid,
            uidl=event.uidl,
            partial=event.partial,
        )
        message.content = content
        message.size = content.size
        message.md5 = content.md5
        message.sha1 = content.sha1
        message.sha256 = content.sha256
        message.missing_ranges = list(content.missing_ranges)
        message.missing_bytes = content.missing_bytes
        return message

    def _join(self, event: ev.ContentEnd, part: Message) -> Optional[Message]:
        """The whole message once consecutive partial fetches have covered it.

        Clients such as Thunderbird fetch a message in chunks (``BODY[]<0.65536>``,
        ``<65536.65536>``...). Each chunk stays a partial record with its exact bytes;
        when the chunks run from offset 0 without a hole to the message's end (its
        RFC822.SIZE, or a chunk shorter than asked for), their bytes in order are
        also the whole message, recorded once more as retrieved and complete, with
        ``joined_from`` naming the parts.
        """
        match = _CHUNK.fullmatch(event.partial or "")
        if match is None or event.uid is None:
            return None
        where = (event.mailbox, event.uid)
        origin, size = int(match.group(1)), int(match.group(2))
        join = self._joins.get(where)
        if origin == 0:
            if join is not None:
                join.content.release()
            if len(self._joins) >= MAX_JOINS:
                oldest = next(iter(self._joins))
                self._joins.pop(oldest).content.release()
                self._warn(
                    f"session {self.session_id}: more than {MAX_JOINS} messages "
                    f"fetched in chunks at once; UID {oldest[1]} is not joined into "
                    "a whole message (its chunks are kept as partial messages)"
                )
            join = self._joins[where] = _Join(
                MessageContent(self._md5_sha1), event.start_ns, event.total_size
            )
        if join is None:
            return None
        if (
            origin != join.next_offset
            or part.missing_ranges
            or part.content is None
            or part.size != size
        ):
            join.content.release()
            del self._joins[where]
            return None
        for block in part.content.chunks():
            join.content.write(block)
        join.next_offset += size
        join.ids.append(part.id)
        join.commands.append(event.command)
        join.total = join.total if join.total is not None else event.total_size
        asked = re.search(rf"<{origin}\.(\d+)>", event.command)
        if join.total is not None:
            done = join.next_offset >= join.total
        else:
            done = asked is not None and size < int(asked.group(1))
        if not done:
            return None
        del self._joins[where]
        session = self.session
        session.messages += 1
        content = join.content
        message = Message(
            id=f"{self.session_id}-{session.messages}",
            session_id=self.session_id,
            endpoints=session.endpoints,
            helo=None,
            auth_user=self._user,
            start_ns=join.start_ns,
            time_ns=event.ts_ns,
            mail_from=None,
            accepted=True,
            data_sent=True,
            complete=join.total is None or content.size == join.total,
            warnings=[
                f"joined from {len(join.ids)} partial fetches: "
                + "; ".join(join.commands[:8])
                + (" ..." if len(join.commands) > 8 else "")
            ],
            protocol=self.protocol,
            kind="retrieved",
            mailbox=self._name(event.mailbox),
            mailbox_raw=event.mailbox,
            command=join.commands[0],
            message_number=event.number,
            uid=event.uid,
            joined_from=list(join.ids),
        )
        message.content = content
        message.size = content.size
        message.md5 = content.md5
        message.sha1 = content.sha1
        message.sha256 = content.sha256
        return message

    def _login(self, event: ev.Login) -> Credential:
        session = self.session
        session.auth_attempts += 1
        fields = {k: v for k, v in event.result.items() if k in _CREDENTIAL_FIELDS}
        credential = Credential(
            session_id=self.session_id,
            time_ns=event.start_ns,
            endpoints=session.endpoints,
            protocol=self.protocol,
            command=event.command,
            **fields,
        )
        if credential.success and credential.username is not None:
            self._user = credential.username
            session.auth_user = credential.username
        for warning in event.warnings:
            self._warn(f"session {self.session_id}: {warning}")
        return credential

    def _greeting(self, event: ev.Greeting) -> None:
        if self.session.banner is None:
            self.session.banner = event.text

    def _capabilities(self, event: ev.Capabilities) -> None:
        self.session.capabilities = list(event.capabilities)

    def _mailbox(self, event: ev.MailboxOpened) -> None:
        self.session.mailboxes.append(
            {
                "mailbox": self._name(event.mailbox),
                "mailbox_raw": event.mailbox,
                "command": event.command,
                "accepted": event.accepted,
                "exists": event.exists,
                "uidvalidity": event.uidvalidity,
            }
        )
        if event.accepted and event.exists is not None:
            self.session.mailbox_messages = event.exists

    def _count(self, event: ev.MessageCount) -> None:
        self.session.mailbox_messages = event.messages
        if event.octets is not None:
            self.session.mailbox_octets = event.octets

    def _deleted(self, event: ev.Deleted) -> None:
        entry = {
            "mailbox": self._name(event.mailbox),
            "mailbox_raw": event.mailbox,
            "number": event.number,
            "command": event.command,
        }
        if self.protocol == "pop3":
            self._marked.append(entry)  # final only once QUIT is answered +OK
        else:
            self.session.deleted.append(entry)

    def _undone(self, event: ev.DeletionsUndone) -> None:
        self._marked.clear()

    def _committed(self, event: ev.DeletionsCommitted) -> None:
        self.session.deleted.extend(self._marked)
        self._marked.clear()
        if self.session.deleted:
            self.session.deletions_committed = True

    def _start_tls(self, event: ev.StartTls) -> None:
        self.session.starttls = True
        if event.accepted:
            self.session.encrypted = True

    def _tls_started(self, event: ev.TlsStarted) -> None:
        self.session.encrypted = True

    def _anomaly(self, event: ev.Anomaly) -> None:
        side = {ev.CLIENT: " (client)", ev.SERVER: " (server)"}.get(event.direction, "")
        self._warn(f"session {self.session_id}{side}: {event.message}")

    def _name(self, raw: Optional[str]) -> Optional[str]:
        """An IMAP mailbox name decoded from modified UTF-7; as sent if it is not."""
        if raw is None or self.protocol != "imap":
            return raw
        name = utf7.decode(raw)
        if name is None:
            if raw in self._bad_names:
                return raw
            self._bad_names.add(raw)
            self._warn(
                f"session {self.session_id}: mailbox name {raw!r} is not valid "
                "modified UTF-7; kept as sent"
            )
            return raw
        return name

    def _warn(self, text: str) -> None:
        if len(self.session.warnings) < MAX_SESSION_WARNINGS:
            self.session.warnings.append(text)
        else:
            self._unlisted_warnings += 1

    def _closed_event(self, event: ev.Closed) -> None:
        self._closed = event

    _handlers = {
        ev.ContentStart: _content_start,
        ev.ContentData: _content_data,
        ev.ContentGap: _content_gap,
        ev.ContentEnd: _content_end,
        ev.Login: _login,
        ev.Greeting: _greeting,
        ev.Capabilities: _capabilities,
        ev.MailboxOpened: _mailbox,
        ev.MessageCount: _count,
        ev.Deleted: _deleted,
        ev.DeletionsUndone: _undone,
        ev.DeletionsCommitted: _committed,
        ev.StartTls: _start_tls,
        ev.TlsStarted: _tls_started,
        ev.Anomaly: _anomaly,
        ev.Closed: _closed_event,
    }
