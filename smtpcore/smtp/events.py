"""Events of the sans-IO SMTP machine (`smtpcore.smtp.session.SmtpMachine`).

Every event carries ``ts_ns``: the time of the bytes that completed it. Events that
belong to a mail transaction carry ``transaction``, the number of that transaction in
the session (1, 2, ...), which is also the ``n`` of the message id the builder makes.

The order of events, and their fields, do not depend on how the bytes were split into
segments, with one exception: ``MessageData`` pieces follow the segments (the machine
streams content and never holds a whole message), so only the concatenation of the
``MessageData`` of one transaction is split-independent.

Event overview, in the order a normal session produces them::

    Greeting  Command  Helo  Reply  Extensions  AuthStarted  AuthFinished
    Command  MailFrom  Reply  Command  Reply(RCPT)  Command(DATA)  Reply(354)
    DataStart  MessageData...  [MessageGap]  [MessageTruncate]  DataEnd  Reply
    TransactionEnd
    Command(QUIT)  Reply  Closed

``StartTls``/``TlsStarted``/``TlsHello``/``TlsPlaintext`` describe encryption, ``Anomaly`` anything
malformed, lost or unexpected (with a message that says what and where).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from smtpcore.model import SmugglingIndicator

CLIENT = 0
SERVER = 1


@dataclasses.dataclass(slots=True)
class Event:
    ts_ns: int


@dataclasses.dataclass(slots=True)
class Command(Event):
    """A client command line; ``verb`` upper-cased ("" for an empty line)."""

    verb: str
    argument: str
    line: str


@dataclasses.dataclass(slots=True)
class Reply(Event):
    """A complete (possibly multi-line) server reply.

    ``command`` is the verb of the command it answers ("DATA" for 354, "." for the
    reply after the end of data, "BDAT" for chunks), None when no command was waiting.
    """

    code: int
    enhanced: Optional[str]
    lines: list[str]
    text: str  # the text of all lines without codes, joined by "\n"
    command: Optional[str]

    @property
    def rendered(self) -> str:
        """The reply as sent, lines joined by "\\n" (no CRLF)."""
        return "\n".join(self.lines)


@dataclasses.dataclass(slots=True)
class Greeting(Event):
    code: int
    text: str
    reply: str


@dataclasses.dataclass(slots=True)
class Helo(Event):
    """HELO, EHLO or LHLO as sent (the reply comes separately)."""

    verb: str
    hostname: str


@dataclasses.dataclass(slots=True)
class Extensions(Event):
    """The extensions a positive EHLO/LHLO reply advertises, e.g. ["PIPELINING"]."""

    extensions: list[str]


@dataclasses.dataclass(slots=True)
class MailFrom(Event):
    """Start of a transaction; ``address`` is "" for the null sender ``<>``."""

    transaction: int
    address: str
    parameters: str
    parameter_map: dict[str, Optional[str]]


@dataclasses.dataclass(slots=True)
class RcptTo(Event):
    """One recipient, emitted when its reply arrives (``accepted`` None: no reply)."""

    transaction: int
    address: str
    parameters: str
    accepted: Optional[bool]
    reply: Optional[str]


@dataclasses.dataclass(slots=True)
class DataStart(Event):
    """Content starts; ``partial`` when the capture began inside the content."""

    transaction: int
    method: str  # "DATA" or "BDAT"
    partial: bool = False


@dataclasses.dataclass(slots=True)
class MessageData(Event):
    """A piece of message content (dot-unstuffed, or BDAT chunk bytes)."""

    transaction: int
    data: bytes


@dataclasses.dataclass(slots=True)
class MessageGap(Event):
    """``length`` bytes of content were lost at this point."""

    transaction: int
    length: int


@dataclasses.dataclass(slots=True)
class MessageTruncate(Event):
    """The content ends at ``size``: what came after was, for the server, commands.

    Only after a dot line with non-standard line ends that the server's reply
    showed to be its end of data (see `SmugglingIndicator`).
    """

    transaction: int
    size: int


@dataclasses.dataclass(slots=True)
class DataEnd(Event):
    """No more content: end marker, last BDAT chunk, server reply or cut connection."""

    transaction: int
    complete: bool  # the end was seen (the content may still have gaps)
    reason: str  # "end marker", "BDAT LAST", "server reply", "closed"


@dataclasses.dataclass(slots=True)
class TransactionEnd(Event):
    """A transaction is over; everything the builder needs to make a Message.

    ``accepted`` is the outcome of the message (reply after the data, or a failed
    MAIL/DATA), None when it was not seen. ``complete`` is False when content was
    lost (gaps, capture started inside it, cut before its end).
    """

    transaction: int
    start_ns: Optional[int]
    mail_from: Optional[str]  # None when the MAIL command was not captured
    mail_parameters: str
    mail_accepted: Optional[bool]
    recipients: list[RcptTo]
    data_sent: bool
    data_end_ns: Optional[int]
    accepted: Optional[bool]
    reply: Optional[str]
    queue_id: Optional[str]
    complete: bool
    missing_bytes: int
    missing_prefix: bool  # an unknown number of bytes before the first captured one
    missing_end: bool  # an unknown number of bytes after the last captured one
    reason: str  # what ended it: "reply", "RSET", "MAIL", "QUIT", "EHLO", "close", ...
    warnings: list[str] = dataclasses.field(default_factory=list)
    smuggling: list[SmugglingIndicator] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class AuthStarted(Event):
    mechanism: str


@dataclasses.dataclass(slots=True)
class AuthFinished(Event):
    """One AUTH attempt is over; ``result`` is `AuthExchange.finish()`'s dictionary."""

    start_ns: int
    mechanism: str
    result: dict
    warnings: list[str] = dataclasses.field(default_factory=list)  # decoding problems


@dataclasses.dataclass(slots=True)
class StartTls(Event):
    """The outcome of a STARTTLS command.

    ``accepted`` is True also when only the client was captured and it went on with
    TLS (``reply`` None then). The SNI name comes later, in `TlsHello`.
    """

    accepted: Optional[bool]
    reply: Optional[str]


@dataclasses.dataclass(slots=True)
class TlsStarted(Event):
    """From here on the connection is encrypted and nothing more is decoded."""

    implicit: bool  # True: the connection began with TLS (port 465 style)


@dataclasses.dataclass(slots=True)
class TlsPlaintext(Event):
    """After an accepted STARTTLS the dialogue goes on in clear and is decoded.

    The capture was exported after TLS decryption, or a party never began TLS;
    ``side`` is the direction whose bytes showed it (CLIENT or SERVER).
    """

    side: int


@dataclasses.dataclass(slots=True)
class TlsHello(Event):
    """The client's TLS ClientHello, with its SNI server name when present."""

    server_name: Optional[str]


@dataclasses.dataclass(slots=True)
class Anomaly(Event):
    direction: Optional[int]
    message: str
    transaction: Optional[int] = None


@dataclasses.dataclass(slots=True)
class Closed(Event):
    """The machine was closed; a summary for the session record."""

    greeting_seen: bool
    quit_seen: bool
    gap_seen: bool
    encrypted: bool
