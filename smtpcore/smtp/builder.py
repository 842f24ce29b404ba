"""Turns the events of one SMTP connection into model objects.

`SessionBuilder` owns an `SmtpMachine`; it returns a `Message` as soon as its
transaction ends, a `Credential` as soon as its AUTH attempt ends, and the `Session`
last, when the connection closes. Message content goes into a `MessageContent` as it
arrives and is left open for the consumer (MIME decoding, .eml writing), which calls
``release()``.
"""

from __future__ import annotations

from typing import Optional, Union

from smtpcore.content import MessageContent
from smtpcore.diagnostics import session_complete
from smtpcore.model import Credential, Endpoints, Message, Recipient, Session
from smtpcore.smtp import events as ev
from smtpcore.smtp.session import SmtpMachine
from smtpcore.tls.keylog import KeyLog
from smtpcore.tls.splice import REPLY_END, TlsSplice

Output = Union[Message, Credential, Session]

_CREDENTIAL_FIELDS = frozenset(Credential.__dataclass_fields__) - {
    "session_id",
    "time_ns",
    "endpoints",
    "helo",
    "id",
}


class SessionBuilder:
    """Model objects of one SMTP connection, fed like `SmtpMachine`.

    With a key log, the part after STARTTLS (or all of an implicit-TLS session)
    is decrypted and decoded by a second machine; see `smtpcore.tls.splice`.
    Without ``md5_sha1`` the messages come without MD5 and SHA-1 (see
    `MessageContent`).
    """

    def __init__(
        self,
        session_id: str,
        source: str,
        endpoints: Endpoints,
        start_ns: int,
        keylog: Optional[KeyLog] = None,
        md5_sha1: bool = True,
    ) -> None:
        self.session_id = session_id
        self._md5_sha1 = md5_sha1  # see MessageContent
        self.machine = SmtpMachine()
        self._splice = TlsSplice(
            keylog,
            SmtpMachine,
            ev.TlsStarted,
            REPLY_END["smtp"],
            lambda text: self.session.warnings.append(f"session {session_id} {text}"),
        )
        self._transactions = 0  # highest transaction number of the clear part
        self._inner_offset: Optional[int] = None
        self._inner_closed: Optional[ev.Closed] = None
        self.session = Session(
            session_id=session_id,
            source=source,
            endpoints=endpoints,
            start_ns=start_ns,
            end_ns=start_ns,
        )
        self._contents: dict[int, MessageContent] = {}
        self._helo: Optional[str] = None
        self._auth_user: Optional[str] = None
        self._context: dict[int, tuple[Optional[str], Optional[str]]] = {}
        self._closed: Optional[ev.Closed] = None
        self._incomplete_messages = 0

    @property
    def tls(self):
        return self._splice.tls

    def data(self, direction: int, data: bytes, ts_ns: int) -> list[Output]:
        outer, inner = self._splice.data(self.machine, direction, data, ts_ns)
        if self._splice.outer_off:
            self.session.encrypted = True
        output = self._handle(outer) if outer else []
        if inner:
            output += self._handle_inner(inner)
        return output

    def gap(self, direction: int, length: int, ts_ns: int) -> list[Output]:
        outer, inner = self._splice.gap(self.machine, direction, length, ts_ns)
        output = self._handle(outer)
        if inner:
            output += self._handle_inner(inner)
        return output

    def _handle_inner(self, events: list[ev.Event]) -> list[Output]:
        """Events of the SMTP inside TLS; its transactions follow the clear part's."""
        if self._inner_offset is None:
            self._inner_offset = self._transactions
        offset = self._inner_offset
        kept = []
        for event in events:
            if type(event) is ev.Closed:
                self._inner_closed = event
                continue
            if offset and getattr(event, "transaction", None):
                event.transaction += offset
            kept.append(event)
        return self._handle(kept)

    def close(self, ts_ns: int, reason: str) -> list[Output]:
        """Ends the session; the `Session` is the last object returned."""
        output = self._handle(self.machine.close(ts_ns))
        if self.tls is not None:
            output += self._handle_inner(self._splice.close(ts_ns))
            self._splice.describe(self.session, self.session_id)
        for content in self._contents.values():  # only left by a machine bug
            content.release()
        self._contents.clear()
        session = self.session
        session.end_ns = max(ts_ns, session.start_ns)
        session.close_reason = reason
        closed = self._closed
        inner = self._inner_closed
        session.complete = session_complete(
            session, closed, inner, reason, self._incomplete_messages, self.tls
        )
        output.append(session)
        return output

    def _handle(self, events: list[ev.Event]) -> list[Output]:
        output: list[Output] = []
        session = self.session
        for event in events:
            number = getattr(event, "transaction", None)
            if number and number > self._transactions:
                self._transactions = number
            # By exact type (events are never subclassed), the content first: most
            # events are content, and most others (commands, replies) match none.
            kind = type(event)
            if kind is ev.MessageData:
                content = self._contents.get(event.transaction)
                if content is not None:
                    content.write(event.data)
            elif kind is ev.MessageTruncate:
                content = self._contents.get(event.transaction)
                if content is not None:
                    content.truncate(event.size)
            elif kind is ev.MessageGap:
                content = self._contents.get(event.transaction)
                if content is not None:
                    content.gap(event.length)
            elif kind is ev.DataStart:
                self._contents.setdefault(
                    event.transaction, MessageContent(self._md5_sha1)
                )
                self._context.setdefault(
                    event.transaction, (self._helo, self._auth_user)
                )
            elif kind is ev.MailFrom:
                self._context[event.transaction] = (self._helo, self._auth_user)
            elif kind is ev.TransactionEnd:
                output.append(self._message(event))
            elif kind is ev.AuthFinished:
                output.append(self._credential(event))
                session.warnings.extend(
                    f"session {self.session_id}: {warning}"
                    for warning in event.warnings
                )
            elif kind is ev.Greeting:
                if session.banner is None:
                    session.banner = event.reply
            elif kind is ev.Helo:
                self._helo = event.hostname
                session.helo = event.hostname
            elif kind is ev.Extensions:
                session.extensions = list(event.extensions)
            elif kind is ev.StartTls:
                session.starttls = True
            elif kind is ev.TlsStarted:
                session.encrypted = True
            elif kind is ev.TlsPlaintext:
                session.starttls_plaintext = True
            elif kind is ev.TlsHello:
                if event.server_name:
                    session.tls_server_name = event.server_name
            elif kind is ev.Anomaly:
                session.warnings.append(self._warning(event))
            elif kind is ev.Closed:
                self._closed = event
            if event.ts_ns > session.end_ns:
                session.end_ns = event.ts_ns
        return output

    def _warning(self, event: ev.Anomaly) -> str:
        side = {ev.CLIENT: "client", ev.SERVER: "server"}.get(event.direction, "")
        where = f"session {self.session_id}"
        if side:
            where += f" ({side})"
        return f"{where}: {event.message}"

    def _message(self, end: ev.TransactionEnd) -> Message:
        self.session.messages += 1
        if not end.complete:
            self._incomplete_messages += 1
        helo, auth_user = self._context.pop(end.transaction, (self._helo, None))
        content = self._contents.pop(end.transaction, None)
        if content is not None and not end.data_sent:
            content.release()  # DATA looked started but was refused
            content = None
        warnings = list(end.warnings)
        if end.mail_from is None:
            warnings.append(
                f"transaction {end.transaction}: MAIL FROM not captured; sender unknown"
            )
        start_ns = end.start_ns if end.start_ns is not None else end.ts_ns
        message = Message(
            id=f"{self.session_id}-{end.transaction}",
            session_id=self.session_id,
            endpoints=self.session.endpoints,
            helo=helo,
            auth_user=auth_user,
            start_ns=start_ns,
            time_ns=end.data_end_ns if end.data_end_ns is not None else end.ts_ns,
            mail_from=end.mail_from if end.mail_from is not None else "",
            mail_parameters=end.mail_parameters,
            recipients=[
                Recipient(r.address, r.parameters, r.accepted, r.reply)
                for r in end.recipients
            ],
            accepted=_accepted(end),
            reply=end.reply,
            queue_id=end.queue_id,
            data_sent=end.data_sent,
            complete=end.complete,
            missing_start=end.missing_prefix,
            missing_end=end.missing_end,
            warnings=warnings,
            smuggling_indicators=list(end.smuggling),
        )
        if end.smuggling:
            self.session.smuggling_suspected = True
        if content is not None:
            message.content = content
            message.size = content.size
            message.md5 = content.md5
            message.sha1 = content.sha1
            message.sha256 = content.sha256
            message.missing_ranges = list(content.missing_ranges)
            message.missing_bytes = content.missing_bytes
        return message

    def _credential(self, finished: ev.AuthFinished) -> Credential:
        self.session.auth_attempts += 1
        fields = {
            key: value
            for key, value in finished.result.items()
            if key in _CREDENTIAL_FIELDS
        }
        fields.setdefault("mechanism", finished.mechanism)
        credential = Credential(
            session_id=self.session_id,
            time_ns=finished.start_ns,
            endpoints=self.session.endpoints,
            helo=self._helo,
            **fields,
            id=f"{self.session_id}-a{self.session.auth_attempts}",
        )
        if credential.success and credential.username is not None:
            self._auth_user = credential.username
            self.session.auth_user = credential.username
        return credential


def _accepted(end: ev.TransactionEnd) -> Optional[bool]:
    """The server's verdict; also False when it refused the sender or every recipient.

    No message can follow such a refusal, so "not accepted" is known even though no
    reply to the end of data exists.
    """
    if end.accepted is not None or end.data_sent:
        return end.accepted
    if end.mail_accepted is False:
        return False
    if end.recipients and all(r.accepted is False for r in end.recipients):
        return False
    return None
