"""Turns the events of one SMTP connection into model objects.

`SessionBuilder` owns an `SmtpMachine`; it returns a `Message` as soon as its
transaction ends, a `Credential` as soon as its AUTH attempt ends, and the `Session`
last, when the connection closes. Message content goes into a `MessageContent` as it
arrives and is left open for the consumer (MIME decoding, .eml writing), which calls
``release()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from smtpcore.content import MessageContent
from smtpcore.model import Credential, Endpoints, Message, Recipient, Session
from smtpcore.smtp import events as ev
from smtpcore.smtp.session import SmtpMachine
from smtpcore.smtp.tls_splice import looks_like_tls_record, tls_start
from smtpcore.tls.keylog import KeyLog

if TYPE_CHECKING:
    from smtpcore.tls.layer import TlsConnection


def _tls_layer():
    """smtpcore.tls.layer, imported with the first TLS session: it needs the
    cryptography package, tens of milliseconds to import, that most runs never use."""
    from smtpcore.tls import layer

    return layer


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
    is decrypted and decoded by a second machine; see `smtpcore.smtp.tls_splice`.
    """

    def __init__(
        self,
        session_id: str,
        source: str,
        endpoints: Endpoints,
        start_ns: int,
        keylog: Optional[KeyLog] = None,
    ) -> None:
        self.session_id = session_id
        self.machine = SmtpMachine()
        self._keylog = keylog
        self.tls: Optional[TlsConnection] = None
        self._inner: Optional[SmtpMachine] = None  # SMTP inside TLS
        self._outer_off = False  # the capture began inside TLS: no clear text
        self._seen = [False, False]
        self._last_byte: list[Optional[int]] = [None, None]
        self._transactions = 0  # highest transaction number of the clear part
        self._inner_offset = 0
        self._inner_closed: Optional[ev.Closed] = None
        self._tls_failed = False
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

    def data(self, direction: int, data: bytes, ts_ns: int) -> list[Output]:
        if not self._seen[direction]:
            self._seen[direction] = True
            if self.tls is None and not self._seen[1 - direction]:
                if looks_like_tls_record(data):
                    self._outer_off = True  # the capture began inside TLS
                    self.session.encrypted = True
                    self.tls = _tls_layer().TlsConnection(self._keylog)
        if self._outer_off:
            return self._tls_events(self._tls_call("data", direction, data, ts_ns))
        if self.tls is not None:
            output = self._handle(self.machine.data(direction, data, ts_ns))
            output += self._tls_events(self._tls_call("data", direction, data, ts_ns))
            return output
        events = self.machine.data(direction, data, ts_ns)
        output = self._handle(events)
        if any(type(event) is ev.TlsStarted for event in events):
            self.tls = _tls_layer().TlsConnection(self._keylog)
            self._inner_offset = self._transactions
            start = tls_start(direction, data, self._last_byte[direction])
            if start:
                output += self._tls_events(
                    self._tls_call("data", direction, start, ts_ns)
                )
        self._last_byte[direction] = data[-1] if data else None
        return output

    def gap(self, direction: int, length: int, ts_ns: int) -> list[Output]:
        output = (
            []
            if self._outer_off
            else self._handle(self.machine.gap(direction, length, ts_ns))
        )
        if self.tls is not None:
            output += self._tls_events(self._tls_call("gap", direction, length, ts_ns))
        return output

    def _tls_call(self, name: str, *args) -> list:
        """Calls the TLS layer; an internal error ends decryption, never the run."""
        if self._tls_failed:
            return []
        try:
            return getattr(self.tls, name)(*args)
        except Exception as error:  # noqa: BLE001 - evidence must survive a bug
            self._tls_failed = True
            self.session.warnings.append(
                f"session {self.session_id} (TLS): internal error {error!r}; "
                "the rest of the session is not decrypted"
            )
            return []

    def _tls_events(self, events: list) -> list[Output]:
        """Plaintext from the TLS layer into the SMTP machine inside TLS."""
        output: list[Output] = []
        layer = _tls_layer()
        for event in events:
            inner = self._inner
            if inner is None:
                inner = self._inner = SmtpMachine()
            if type(event) is layer.Plaintext:
                inner_events = inner.data(event.direction, event.data, event.ts_ns)
            elif type(event) is layer.Lost:
                inner_events = inner.gap(event.direction, event.length, event.ts_ns)
            else:
                continue
            output += self._handle_inner(inner_events)
        return output

    def _handle_inner(self, events: list[ev.Event]) -> list[Output]:
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

    def _describe_tls(self) -> None:
        tls = self.tls
        if tls is None:
            return
        info = tls.info
        if tls.not_tls and not info.decrypted:
            return  # clear text after STARTTLS (a decrypted export): decoded as SMTP
        session = self.session
        session.tls_version = info.version
        session.tls_cipher = info.cipher
        if info.server_name:
            session.tls_server_name = info.server_name
        session.tls_alpn = list(info.alpn_offered)
        session.tls_alpn_selected = info.alpn
        session.tls_client_random = info.client_random
        session.tls_extended_master_secret = info.extended_master_secret
        session.tls_encrypt_then_mac = info.encrypt_then_mac
        certificate = info.certificate
        if certificate is not None:
            session.tls_cert_subject = certificate.subject
            session.tls_cert_issuer = certificate.issuer
            session.tls_cert_not_before = certificate.not_before
            session.tls_cert_not_after = certificate.not_after
            session.tls_cert_sha256 = certificate.sha256
        session.ja3 = info.ja3
        session.ja3_string = info.ja3_string
        session.ja4 = info.ja4
        session.decrypted = info.decrypted
        session.tls_undecrypted_reason = (
            None if info.decrypted else info.undecrypted_reason
        )
        session.warnings.extend(
            f"session {self.session_id} (TLS): {warning}" for warning in info.warnings
        )

    def close(self, ts_ns: int, reason: str) -> list[Output]:
        """Ends the session; the `Session` is the last object returned."""
        output = self._handle(self.machine.close(ts_ns))
        if self.tls is not None:
            output += self._tls_events(self._tls_call("close", ts_ns))
            if self._inner is not None:
                output += self._handle_inner(self._inner.close(ts_ns))
            self._describe_tls()
        for content in self._contents.values():  # only left by a machine bug
            content.release()
        self._contents.clear()
        session = self.session
        session.end_ns = max(ts_ns, session.start_ns)
        session.close_reason = reason
        closed = self._closed
        inner = self._inner_closed
        if inner is not None and session.decrypted:
            # Decrypted: complete means the clear part and the SMTP inside TLS are.
            session.complete = bool(
                (closed is None or not closed.gap_seen)
                and (
                    (closed is not None and closed.greeting_seen) or inner.greeting_seen
                )
                and not inner.gap_seen
                and (inner.quit_seen or reason == "fin")
                and not self._incomplete_messages
                and not self.tls.info.warnings
            )
        else:
            session.complete = bool(
                closed is not None
                and closed.greeting_seen
                and not closed.gap_seen
                and (closed.quit_seen or closed.encrypted or reason == "fin")
                and not self._incomplete_messages
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
            if isinstance(event, ev.MessageData):
                content = self._contents.get(event.transaction)
                if content is not None:
                    content.write(event.data)
            elif isinstance(event, ev.MessageTruncate):
                content = self._contents.get(event.transaction)
                if content is not None:
                    content.truncate(event.size)
            elif isinstance(event, ev.MessageGap):
                content = self._contents.get(event.transaction)
                if content is not None:
                    content.gap(event.length)
            elif isinstance(event, ev.DataStart):
                self._contents.setdefault(event.transaction, MessageContent())
                self._context.setdefault(
                    event.transaction, (self._helo, self._auth_user)
                )
            elif isinstance(event, ev.MailFrom):
                self._context[event.transaction] = (self._helo, self._auth_user)
            elif isinstance(event, ev.TransactionEnd):
                output.append(self._message(event))
            elif isinstance(event, ev.AuthFinished):
                output.append(self._credential(event))
                session.warnings.extend(
                    f"session {self.session_id}: {warning}"
                    for warning in event.warnings
                )
            elif isinstance(event, ev.Greeting):
                if session.banner is None:
                    session.banner = event.reply
            elif isinstance(event, ev.Helo):
                self._helo = event.hostname
                session.helo = event.hostname
            elif isinstance(event, ev.Extensions):
                session.extensions = list(event.extensions)
            elif isinstance(event, ev.StartTls):
                session.starttls = True
            elif isinstance(event, ev.TlsStarted):
                session.encrypted = True
            elif isinstance(event, ev.TlsPlaintext):
                session.starttls_plaintext = True
            elif isinstance(event, ev.TlsHello):
                if event.server_name:
                    session.tls_server_name = event.server_name
            elif isinstance(event, ev.Anomaly):
                session.warnings.append(self._warning(event))
            elif isinstance(event, ev.Closed):
                self._closed = event
            session.end_ns = max(session.end_ns, event.ts_ns)
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
