"""pcap parser plugin for mail: SMTP, POP3 and IMAP sessions, logins and emails.

smtpcore does the work (frames, TCP reassembly, SMTP, MIME); this plugin turns each
object it yields into event data at once, so nothing of a capture is collected first.
"""

import time

from dfdatetime import posix_time as dfdatetime_posix_time

from plaso.containers import events

from smtpcore import capture
from smtpcore import model
from smtpcore import pipeline

from plaso_smtp.parsers import pcap
from plaso_smtp.parsers.pcap_plugins import interface
from plaso_smtp.parsers.pcap_plugins import mailbox


class SMTPSessionEventData(events.EventData):
    """SMTP session event data: one connection, from its first byte to its last.

    Attributes:
      authentication_count (int): number of AUTH attempts.
      banner (str): greeting of the server.
      complete (bool): True if the session was seen from greeting to close with no
          bytes missing from the capture.
      destination_ip (str): IP address of the server.
      destination_port (int): TCP port of the server.
      encrypted (bool): True if the session switched to TLS (STARTTLS accepted or
          implicit TLS), after which nothing more is visible.
      end_time (dfdatetime.DateTimeValues): date and time of the last packet.
      helo (str): name the client gave in HELO or EHLO.
      message_count (int): number of mail transactions.
      session_identifier (str): identifier of the session within the capture,
          shared with its authentication and email event data.
      source_ip (str): IP address of the client.
      source_port (int): TCP port of the client.
      start_time (dfdatetime.DateTimeValues): date and time of the first packet.
      starttls (bool): True if the client asked for STARTTLS.
      tls_server_name (str): server name the client asked for in its TLS hello.
      username (str): user of the last successful authentication.
    """

    DATA_TYPE = "smtp:session"

    def __init__(self):
        """Initializes event data."""
        super().__init__(data_type=self.DATA_TYPE)
        self.authentication_count = None
        self.banner = None
        self.complete = None
        self.destination_ip = None
        self.destination_port = None
        self.encrypted = None
        self.end_time = None
        self.helo = None
        self.message_count = None
        self.session_identifier = None
        self.source_ip = None
        self.source_port = None
        self.start_time = None
        self.starttls = None
        self.tls_server_name = None
        self.username = None


class SMTPAuthenticationEventData(events.EventData):
    """SMTP authentication event data: one AUTH attempt.

    Attributes:
      authentication_time (dfdatetime.DateTimeValues): date and time of the attempt.
      destination_ip (str): IP address of the server.
      destination_port (int): TCP port of the server.
      hashcat (str): challenge and response in hashcat's format, for mechanisms
          that do not send the password itself.
      hashcat_mode (int): hashcat mode of the hashcat value.
      helo (str): name the client gave in HELO or EHLO.
      mechanism (str): SASL mechanism, such as PLAIN, LOGIN or CRAM-MD5.
      password (str): password, when the mechanism sends it.
      session_identifier (str): identifier of the session within the capture.
      source_ip (str): IP address of the client.
      source_port (int): TCP port of the client.
      success (bool): True if the server accepted the credentials, False if it
          refused them, None if its answer is not in the capture.
      username (str): user name.
    """

    DATA_TYPE = "smtp:authentication"

    def __init__(self):
        """Initializes event data."""
        super().__init__(data_type=self.DATA_TYPE)
        self.authentication_time = None
        self.destination_ip = None
        self.destination_port = None
        self.hashcat = None
        self.hashcat_mode = None
        self.helo = None
        self.mechanism = None
        self.password = None
        self.session_identifier = None
        self.source_ip = None
        self.source_port = None
        self.success = None
        self.username = None


class SMTPEmailEventData(events.EventData):
    """SMTP email event data: one mail transaction and the message it carried.

    The message hashes are not called md5_hash and sha256_hash: plaso's outputs merge
    the attributes of the event data stream (the hashes of the capture file) over
    those of the event data, which would hide them.

    Attributes:
      accepted (bool): True if the server accepted the message, False if it refused
          it, None if its answer is not in the capture.
      attachment_names (list[str]): file names of the attachments, "" for an
          attachment without one.
      attachment_sha256_hashes (list[str]): SHA-256 of each attachment, in the order
          of attachment_names.
      complete (bool): True if no bytes of the message are missing from the capture.
      creation_time (dfdatetime.DateTimeValues): date and time of the Date header.
      destination_ip (str): IP address of the server.
      destination_port (int): TCP port of the server.
      helo (str): name the client gave in HELO or EHLO.
      message_identifier (str): Message-ID header.
      message_md5_hash (str): MD5 of the message as sent (the .eml bytes).
      message_sha256_hash (str): SHA-256 of the message as sent.
      queue_identifier (str): queue identifier from the server's reply.
      recipients (list[str]): envelope recipients (RCPT TO) the server did not refuse.
      rejected_recipients (list[str]): envelope recipients the server refused.
      sender (str): envelope sender (MAIL FROM); "" is the null sender.
      sent_time (dfdatetime.DateTimeValues): date and time the client finished
          sending the message, which the server then accepted or refused.
      session_identifier (str): identifier of the session within the capture.
      size (int): size of the message in bytes.
      source_ip (str): IP address of the client.
      source_port (int): TCP port of the client.
      subject (str): Subject header, decoded.
      username (str): user the client authenticated as before sending.
    """

    DATA_TYPE = "smtp:email"

    def __init__(self):
        """Initializes event data."""
        super().__init__(data_type=self.DATA_TYPE)
        self.accepted = None
        self.attachment_names = None
        self.attachment_sha256_hashes = None
        self.complete = None
        self.creation_time = None
        self.destination_ip = None
        self.destination_port = None
        self.helo = None
        self.message_identifier = None
        self.message_md5_hash = None
        self.message_sha256_hash = None
        self.queue_identifier = None
        self.recipients = None
        self.rejected_recipients = None
        self.sender = None
        self.sent_time = None
        self.session_identifier = None
        self.size = None
        self.source_ip = None
        self.source_port = None
        self.subject = None
        self.username = None


def _GetDateTime(timestamp):
    """Converts an smtpcore timestamp.

    Args:
      timestamp (int): number of nanoseconds since the epoch, or None.

    Returns:
      dfdatetime.PosixTimeInNanoseconds: date and time or None if not available.
    """
    if timestamp is None:
        return None

    return dfdatetime_posix_time.PosixTimeInNanoseconds(timestamp=timestamp)


def _SetEndpoints(event_data, endpoints):
    """Copies the endpoints of a connection; the client is the source.

    Args:
      event_data (EventData): event data.
      endpoints (smtpcore.model.Endpoints): endpoints.
    """
    event_data.destination_ip = endpoints.server_ip
    event_data.destination_port = endpoints.server_port
    event_data.source_ip = endpoints.client_ip
    event_data.source_port = endpoints.client_port


def CreateSessionEventData(session):
    """Creates event data for a session.

    Args:
      session (smtpcore.model.Session): session.

    Returns:
      SMTPSessionEventData: event data.
    """
    event_data = SMTPSessionEventData()
    _SetEndpoints(event_data, session.endpoints)
    event_data.authentication_count = session.auth_attempts
    event_data.banner = session.banner
    event_data.complete = session.complete
    event_data.encrypted = session.encrypted
    event_data.end_time = _GetDateTime(session.end_ns)
    event_data.helo = session.helo
    event_data.message_count = session.messages
    event_data.session_identifier = session.session_id
    event_data.start_time = _GetDateTime(session.start_ns)
    event_data.starttls = session.starttls
    event_data.tls_server_name = session.tls_server_name
    event_data.username = session.auth_user
    return event_data


def CreateAuthenticationEventData(credential):
    """Creates event data for an authentication attempt.

    Args:
      credential (smtpcore.model.Credential): credential.

    Returns:
      SMTPAuthenticationEventData: event data.
    """
    event_data = SMTPAuthenticationEventData()
    _SetEndpoints(event_data, credential.endpoints)
    event_data.authentication_time = _GetDateTime(credential.time_ns)
    event_data.hashcat = credential.hashcat
    event_data.helo = credential.helo
    event_data.hashcat_mode = credential.hashcat_mode
    event_data.mechanism = credential.mechanism
    event_data.password = credential.password
    event_data.session_identifier = credential.session_id
    event_data.success = credential.success
    event_data.username = credential.username
    return event_data


def CreateEmailEventData(message):
    """Creates event data for a mail transaction.

    Args:
      message (smtpcore.model.Message): message.

    Returns:
      SMTPEmailEventData: event data.
    """
    event_data = SMTPEmailEventData()
    _SetEndpoints(event_data, message.endpoints)
    event_data.accepted = message.accepted
    event_data.complete = message.complete
    event_data.helo = message.helo
    event_data.queue_identifier = message.queue_id
    # Empty lists are left unset, so that formatters leave out their text.
    event_data.recipients = message.rcpt_to or None
    event_data.rejected_recipients = [
        recipient.address for recipient in message.rcpt_rejected
    ] or None
    event_data.sender = message.mail_from
    event_data.sent_time = _GetDateTime(message.time_ns)
    event_data.session_identifier = message.session_id
    event_data.username = message.auth_user

    if message.data_sent:
        event_data.message_md5_hash = message.md5
        event_data.message_sha256_hash = message.sha256
        event_data.size = message.size

    mime = message.mime
    if mime is not None:
        event_data.creation_time = _GetDateTime(mime.date_ns)
        event_data.message_identifier = mime.message_id
        event_data.subject = mime.subject
        if mime.attachments:
            event_data.attachment_names = [
                attachment.filename or "" for attachment in mime.attachments
            ]
            event_data.attachment_sha256_hashes = [
                attachment.sha256 for attachment in mime.attachments
            ]

    return event_data


def CreateEventData(item):
    """Creates event data for an object yielded by smtpcore.

    Args:
      item (smtpcore.model.Session|Message|Credential): object.

    Returns:
      EventData: event data.

    Raises:
      TypeError: if the object is of an unsupported type.
    """
    if getattr(item, "protocol", "smtp") != "smtp":
        if isinstance(item, model.Message):
            return mailbox.CreateEmailEventData(item)

        if isinstance(item, model.Credential):
            return mailbox.CreateAuthenticationEventData(item)

        if isinstance(item, model.Session):
            return mailbox.CreateSessionEventData(item)

    if isinstance(item, model.Message):
        return CreateEmailEventData(item)

    if isinstance(item, model.Credential):
        return CreateAuthenticationEventData(item)

    if isinstance(item, model.Session):
        return CreateSessionEventData(item)

    raise TypeError(f"Unsupported smtpcore object: {type(item).__name__:s}")


class SMTPPcapPlugin(interface.PcapPlugin):
    """pcap parser plugin for SMTP, POP3 and IMAP sessions, logins and emails.

    POP3 and IMAP objects become mailbox:* event data (see mailbox.py); the plugin
    keeps its name so that existing --parsers expressions keep working.
    """

    NAME = "smtp"
    DATA_FORMAT = "SMTP sessions, authentications and emails in a packet capture"

    def ParseCapture(self, parser_mediator, file_object):
        """Produces event data for the SMTP traffic in a capture, as it completes.

        Args:
          parser_mediator (ParserMediator): mediates interactions between parsers
              and other components, such as storage and dfVFS.
          file_object (dfvfs.FileIO): the capture, positioned at its start.
        """
        display_name = parser_mediator.GetDisplayName()

        def ReportActivity(unused_position):
            # The foreman kills a worker that reports no activity for 15 minutes,
            # which a large capture with little SMTP in it could otherwise reach.
            parser_mediator.last_activity_timestamp = time.time()

        items = pipeline.extract(
            file_object,
            source=display_name,
            warn=parser_mediator.ProduceWarning,
            abort=lambda: parser_mediator.abort,
            mime=True,
            progress=ReportActivity,
        )
        try:
            for item in items:
                parser_mediator.ProduceEventData(CreateEventData(item))
                if parser_mediator.abort:
                    break

        except capture.NotACapture as exception:
            parser_mediator.ProduceWarning(f"not a readable capture: {exception!s}")

        finally:
            items.close()


pcap.PcapParser.RegisterPlugin(SMTPPcapPlugin)
