"""What smtpcore finds, as plain data: sessions, transactions, messages, credentials.

The model follows Zeek's smtp.log: a session owns its transactions, a transaction owns
its envelope, its replies and (when content was sent) its message. Times are integer
nanoseconds since the epoch, UTC; ``None`` means "not seen in the capture".
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from smtpcore.content import MessageContent


def iso_time(ts_ns: Optional[int]) -> Optional[str]:
    """ISO 8601 UTC with microseconds, the form every output of smtpcore uses."""
    if ts_ns is None:
        return None
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    second = _iso_second(seconds)
    return None if second is None else f"{second}.{nanos // 1000:06d}Z"


@functools.lru_cache(maxsize=1024)
def _iso_second(seconds: int) -> Optional[str]:
    """The date and time of one second; cached, as a record's times are close
    together and every record is written three or four times (JSON, CSV,
    timeline, report)."""
    try:
        moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None  # beyond what a calendar date can say (a damaged timestamp)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@dataclasses.dataclass(slots=True)
class Endpoints:
    """Who talked to whom; the client is the side that sent the SYN or the commands."""

    client_ip: str
    client_port: int
    server_ip: str
    server_port: int


@dataclasses.dataclass(slots=True)
class Attachment:
    """An attachment or inline resource of a message.

    ``payload`` holds the decoded bytes until the consumer has written them; it is
    dropped (set to None) by consumers that do not need it.
    """

    filename: Optional[str]
    content_type: str
    detected_type: Optional[str]
    size: int
    md5: str
    sha1: str
    sha256: str
    inline: bool
    content_id: Optional[str]
    payload: Optional[bytes] = dataclasses.field(default=None, repr=False)
    path: Optional[str] = None  # relative to the output folder, once written


@dataclasses.dataclass(slots=True)
class TextBody:
    """A text/plain or text/html part decoded to Unicode."""

    content_type: str
    declared_charset: Optional[str]
    used_charset: str
    text: str


@dataclasses.dataclass(slots=True)
class MimeInfo:
    """The decoded view of a message: headers, text bodies, attachments."""

    subject: Optional[str] = None
    from_: Optional[str] = None
    to: Optional[str] = None
    cc: Optional[str] = None
    bcc: Optional[str] = None
    reply_to: Optional[str] = None
    sender: Optional[str] = None
    date: Optional[str] = None  # the header as decoded
    date_ns: Optional[int] = None  # the header as a UTC timestamp
    message_id: Optional[str] = None
    in_reply_to: Optional[str] = None
    references: Optional[str] = None
    x_mailer: Optional[str] = None
    x_originating_ip: Optional[str] = None
    return_path: Optional[str] = None
    received: list[str] = dataclasses.field(default_factory=list)
    bodies: list[TextBody] = dataclasses.field(default_factory=list)
    attachments: list[Attachment] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class Recipient:
    address: str
    parameters: str
    accepted: Optional[bool]  # None when the reply was not captured
    reply: Optional[str]


@dataclasses.dataclass(slots=True)
class Credential:
    """One AUTH attempt. Byte-exact secrets are kept beside their readable rendering."""

    session_id: str
    time_ns: int
    endpoints: Endpoints
    mechanism: str
    helo: Optional[str] = None  # the client's HELO/EHLO name at the time
    username: Optional[str] = None
    password: Optional[str] = None
    username_bytes: Optional[bytes] = None
    password_bytes: Optional[bytes] = None
    authzid: Optional[str] = None
    realm: Optional[str] = None
    domain: Optional[str] = None
    workstation: Optional[str] = None
    token: Optional[str] = None  # XOAUTH2 / OAUTHBEARER bearer token
    hashcat: Optional[str] = None
    hashcat_mode: Optional[int] = None
    success: Optional[bool] = None  # None when the outcome was not seen
    aborted: bool = False
    reply: Optional[str] = None
    exchange: list[str] = dataclasses.field(default_factory=list)  # raw lines, C:/S:
    # Mechanism-specific decoded fields (NTLM challenge, DIGEST-MD5 directives, ...).
    details: dict = dataclasses.field(default_factory=dict)
    id: Optional[str] = None  # <session id>-a<n>: the n-th AUTH attempt of the session
    protocol: str = "smtp"  # "smtp", "pop3", "imap"
    command: str = "AUTH"  # how the login was made: AUTH, USER/PASS, APOP, LOGIN...


@dataclasses.dataclass(slots=True, frozen=True)
class SmugglingIndicator:
    """A dot line with non-standard line ends in DATA content (SMTP smuggling,
    CVE-2023-51764/51765/51766): servers that disagree on it disagree on where the
    message ends, and what one takes as content another runs as commands.

    ``offset`` is where the line end before the dot starts in the message content;
    ``ended_data`` True when the server replied right after it (it ended the data
    there), False when content went on, None when the connection ended after it.
    """

    marker: bytes
    offset: int
    ended_data: Optional[bool]


@dataclasses.dataclass(slots=True)
class Message:
    """One mail transaction (MAIL FROM to its end), with its content when any was sent."""

    id: str
    session_id: str
    endpoints: Endpoints
    helo: Optional[str]
    auth_user: Optional[str]
    start_ns: int
    time_ns: int  # end of data (or of the transaction when no data was sent)
    mail_from: Optional[str]  # None: not an SMTP transaction (POP3, IMAP)
    mail_parameters: str = ""
    recipients: list[Recipient] = dataclasses.field(default_factory=list)
    accepted: Optional[bool] = None
    reply: Optional[str] = None
    queue_id: Optional[str] = None
    data_sent: bool = False  # False when DATA/BDAT never carried content
    complete: bool = True
    missing_bytes: int = 0
    missing_ranges: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    missing_start: bool = False  # unknown bytes lost before the first captured one
    missing_end: bool = False  # unknown bytes lost after the last captured one
    size: int = 0
    md5: Optional[str] = None
    sha1: Optional[str] = None
    sha256: Optional[str] = None
    content: Optional[MessageContent] = dataclasses.field(default=None, repr=False)
    mime: Optional[MimeInfo] = None
    eml_path: Optional[str] = None  # relative to the output folder, once written
    warnings: list[str] = dataclasses.field(default_factory=list)
    smuggling_indicators: list[SmugglingIndicator] = dataclasses.field(
        default_factory=list
    )
    protocol: str = "smtp"  # "smtp", "pop3", "imap"
    kind: str = "sent"  # "sent" (SMTP), "retrieved" (POP3/IMAP fetch), "appended"
    mailbox: Optional[str] = None  # IMAP folder, modified UTF-7 decoded
    mailbox_raw: Optional[str] = None  # IMAP folder as sent
    command: Optional[str] = None  # the POP3/IMAP command as sent
    message_number: Optional[int] = None  # POP3 message number, IMAP sequence number
    uid: Optional[int] = None  # IMAP UID
    uidl: Optional[str] = None  # POP3 unique-id listing
    partial: Optional[str] = None  # what a partial fetch (TOP, BODY[HEADER]...) took
    same_bytes_as: Optional[str] = None  # id of an earlier record with identical bytes
    # A message rebuilt from consecutive partial fetches (IMAP BODY[]<o.n>, as
    # Thunderbird fetches): the ids of those partial records, in order.
    joined_from: list[str] = dataclasses.field(default_factory=list)

    @property
    def rcpt_to(self) -> list[str]:
        return [r.address for r in self.recipients if r.accepted is not False]

    @property
    def rcpt_rejected(self) -> list[Recipient]:
        return [r for r in self.recipients if r.accepted is False]


@dataclasses.dataclass(slots=True)
class Session:
    """One SMTP, POP3 or IMAP connection, from the first byte seen to the last."""

    session_id: str
    source: str
    endpoints: Endpoints
    start_ns: int
    end_ns: int
    banner: Optional[str] = None
    helo: Optional[str] = None
    extensions: list[str] = dataclasses.field(default_factory=list)
    starttls: bool = False
    tls_server_name: Optional[str] = None
    encrypted: bool = False  # TLS records seen (STARTTLS or port 465): not decoded
    starttls_plaintext: bool = False  # after STARTTLS the dialogue went on in clear
    smuggling_suspected: bool = False  # a message has smuggling indicators
    messages: int = 0
    auth_attempts: int = 0
    auth_user: Optional[str] = None  # the user of the last successful AUTH
    complete: bool = True  # greeting to QUIT/close seen with no gap
    close_reason: Optional[str] = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    # TLS (STARTTLS or implicit): what the handshake showed, and whether the
    # content was decrypted with a key log (smtpcore.tls).
    tls_version: Optional[str] = None  # "TLSv1.2", "TLSv1.3"
    tls_cipher: Optional[str] = None  # IANA name
    tls_alpn: list[str] = dataclasses.field(default_factory=list)  # client's offer
    tls_alpn_selected: Optional[str] = None
    tls_client_random: Optional[str] = None
    tls_extended_master_secret: Optional[bool] = None  # TLS 1.2
    tls_encrypt_then_mac: Optional[bool] = None  # TLS 1.2 CBC
    tls_cert_subject: Optional[str] = None
    tls_cert_issuer: Optional[str] = None
    tls_cert_not_before: Optional[str] = None
    tls_cert_not_after: Optional[str] = None
    tls_cert_sha256: Optional[str] = None
    ja3: Optional[str] = None
    ja3_string: Optional[str] = None
    ja4: Optional[str] = None
    decrypted: bool = False
    tls_undecrypted_reason: Optional[str] = None
    protocol: str = "smtp"
    capabilities: list[str] = dataclasses.field(default_factory=list)  # POP3/IMAP
    # Mailbox-level facts (POP3/IMAP): each SELECT/EXAMINE, the last counts, deletions.
    mailboxes: list[dict] = dataclasses.field(default_factory=list)
    mailbox_messages: Optional[int] = None  # POP3 STAT / IMAP EXISTS, the last seen
    mailbox_octets: Optional[int] = None  # POP3 STAT
    deleted: list[dict] = dataclasses.field(default_factory=list)
    deletions_committed: Optional[bool] = None  # POP3: QUIT +OK made DELE final
