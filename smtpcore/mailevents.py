"""Events of the POP3 and IMAP machines, turned into model objects by `mailbuilder`.

Both protocols retrieve (and IMAP also stores) whole or partial messages and log users
in, so one set of events serves both. Every event carries ``ts_ns``, the time of the
bytes that completed it. A message travels as ``ContentStart``, ``ContentData``...
(``ContentGap`` where bytes were lost), ``ContentEnd``; ``key`` ties them together.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

CLIENT = 0
SERVER = 1


@dataclasses.dataclass(slots=True)
class Event:
    ts_ns: int


@dataclasses.dataclass(slots=True)
class Greeting(Event):
    text: str


@dataclasses.dataclass(slots=True)
class Capabilities(Event):
    capabilities: list[str]


@dataclasses.dataclass(slots=True)
class Login(Event):
    """One login attempt is over; ``result`` holds Credential fields."""

    start_ns: int
    command: str  # "USER/PASS", "APOP", "AUTH", "LOGIN", "AUTHENTICATE"
    result: dict
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class ContentStart(Event):
    key: int


@dataclasses.dataclass(slots=True)
class ContentData(Event):
    key: int
    data: bytes


@dataclasses.dataclass(slots=True)
class ContentGap(Event):
    key: int
    length: int


@dataclasses.dataclass(slots=True)
class ContentEnd(Event):
    """A message (or part of one) is over; the fields of its Message."""

    key: int
    start_ns: int
    kind: str  # "retrieved" or "appended"
    command: str  # as sent
    mailbox: Optional[str]
    number: Optional[int]  # POP3 message number, IMAP sequence number
    uid: Optional[int]  # IMAP UID
    uidl: Optional[str]  # POP3 unique-id (UIDL)
    partial: Optional[str]  # what was fetched when not the whole message
    complete: bool  # the end was seen and no byte is missing
    accepted: Optional[bool]  # APPEND: the server's verdict
    reply: Optional[str]
    warnings: list[str] = dataclasses.field(default_factory=list)
    total_size: Optional[int] = None  # IMAP RFC822.SIZE of the message, when sent


@dataclasses.dataclass(slots=True)
class MailboxOpened(Event):
    """SELECT/EXAMINE (IMAP) or the maildrop after login (POP3)."""

    mailbox: str
    command: str
    accepted: Optional[bool]
    exists: Optional[int] = None
    uidvalidity: Optional[int] = None


@dataclasses.dataclass(slots=True)
class MessageCount(Event):
    """A count of messages: POP3 STAT, IMAP EXISTS."""

    mailbox: Optional[str]
    messages: int
    octets: Optional[int] = None


@dataclasses.dataclass(slots=True)
class Deleted(Event):
    """POP3 DELE accepted, IMAP EXPUNGE reported."""

    mailbox: Optional[str]
    number: int
    command: str


@dataclasses.dataclass(slots=True)
class DeletionsUndone(Event):
    """POP3 RSET: messages marked as deleted are unmarked."""


@dataclasses.dataclass(slots=True)
class DeletionsCommitted(Event):
    """POP3 QUIT answered +OK in the TRANSACTION state: marked messages are gone."""


@dataclasses.dataclass(slots=True)
class StartTls(Event):
    accepted: Optional[bool]
    reply: Optional[str]


@dataclasses.dataclass(slots=True)
class TlsStarted(Event):
    implicit: bool


@dataclasses.dataclass(slots=True)
class Anomaly(Event):
    direction: Optional[int]
    message: str


@dataclasses.dataclass(slots=True)
class Closed(Event):
    greeting_seen: bool
    quit_seen: bool
    gap_seen: bool
    encrypted: bool
