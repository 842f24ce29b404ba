"""Event data for mail retrieval and storage: POP3 and IMAP sessions, logins, messages.

One set of data types for both protocols (``mailbox:session``,
``mailbox:authentication``, ``mailbox:email``), told apart by their ``protocol``
attribute: the examiner's question ("what did this host receive, and who logged in to
fetch it") is the same for both. The SMTP plugin produces these for the POP3 and IMAP
objects smtpcore yields from the same capture, so a capture is read once.
"""

from plaso.containers import events

from plaso_smtp.parsers.pcap_plugins import event_helpers


class MailboxSessionEventData(events.EventData):
    """POP3 or IMAP session event data: one connection.

    Attributes:
      authentication_count (int): number of login attempts.
      banner (str): greeting of the server.
      complete (bool): True if the session was seen from greeting to close with no
          bytes missing from the capture.
      deleted_count (int): messages deleted: POP3 DELE made final by QUIT (or
          left pending when the session ended without it), IMAP EXPUNGE.
      destination_ip (str): IP address of the server.
      destination_port (int): TCP port of the server.
      encrypted (bool): True if the session switched to TLS (STLS or STARTTLS
          accepted, or implicit TLS); the rest is visible only when decrypted.
      end_time (dfdatetime.DateTimeValues): date and time of the last packet.
      mailbox_message_count (int): messages in the mailbox, the last POP3 STAT or
          IMAP EXISTS seen.
      mailboxes (list[str]): IMAP mailboxes selected or examined, in order.
      message_count (int): messages (or parts of messages) retrieved or appended.
      protocol (str): "pop3" or "imap".
      session_identifier (str): identifier of the session within the capture,
          shared with its authentication and email event data.
      source_ip (str): IP address of the client.
      source_port (int): TCP port of the client.
      start_time (dfdatetime.DateTimeValues): date and time of the first packet.
      starttls (bool): True if the client asked for STLS or STARTTLS.
      ja3 (str): JA3 fingerprint (MD5) of the client's TLS hello.
      ja4 (str): JA4 fingerprint of the client's TLS hello.
      tls_alpn (list[str]): application protocols the client offered.
      tls_certificate_issuer (str): issuer of the server certificate.
      tls_certificate_not_after (str): end of the certificate's validity.
      tls_certificate_not_before (str): start of the certificate's validity.
      tls_certificate_sha256 (str): SHA-256 fingerprint of the certificate.
      tls_certificate_subject (str): subject of the server certificate (TLS 1.3:
          visible only when decrypted).
      tls_cipher (str): IANA name of the negotiated cipher suite.
      tls_decrypted (bool): True if the TLS content was decrypted with a key log
          and read as POP3 or IMAP.
      tls_server_name (str): server name the client asked for in its TLS hello.
      tls_undecrypted_reason (str): why a TLS session was not decrypted.
      tls_version (str): negotiated TLS version, such as TLSv1.3.
      username (str): user of the last successful login.
    """

    DATA_TYPE = "mailbox:session"

    def __init__(self):
        """Initializes event data."""
        super().__init__(data_type=self.DATA_TYPE)
        self.authentication_count = None
        self.banner = None
        self.complete = None
        self.deleted_count = None
        self.destination_ip = None
        self.destination_port = None
        self.encrypted = None
        self.end_time = None
        self.mailbox_message_count = None
        self.mailboxes = None
        self.message_count = None
        self.protocol = None
        self.session_identifier = None
        self.source_ip = None
        self.source_port = None
        self.start_time = None
        self.starttls = None
        self.ja3 = None
        self.ja4 = None
        self.tls_alpn = None
        self.tls_certificate_issuer = None
        self.tls_certificate_not_after = None
        self.tls_certificate_not_before = None
        self.tls_certificate_sha256 = None
        self.tls_certificate_subject = None
        self.tls_cipher = None
        self.tls_decrypted = None
        self.tls_server_name = None
        self.tls_undecrypted_reason = None
        self.tls_version = None
        self.username = None


class MailboxAuthenticationEventData(events.EventData):
    """POP3 or IMAP login event data: one attempt.

    Attributes:
      authentication_time (dfdatetime.DateTimeValues): date and time of the attempt.
      command (str): how the client logged in: USER/PASS, APOP, AUTH (POP3),
          LOGIN, AUTHENTICATE (IMAP).
      destination_ip (str): IP address of the server.
      destination_port (int): TCP port of the server.
      hashcat (str): challenge and response in hashcat's format, for mechanisms
          that do not send the password itself (APOP, CRAM-MD5, NTLM).
      hashcat_mode (int): hashcat mode of the hashcat value.
      mechanism (str): USER, APOP, LOGIN or the SASL mechanism (PLAIN, CRAM-MD5...).
      password (str): password, when the mechanism sends it.
      protocol (str): "pop3" or "imap".
      session_identifier (str): identifier of the session within the capture.
      source_ip (str): IP address of the client.
      source_port (int): TCP port of the client.
      success (bool): True if the server accepted the credentials, False if it
          refused them, None if its answer is not in the capture.
      username (str): user name.
    """

    DATA_TYPE = "mailbox:authentication"

    def __init__(self):
        """Initializes event data."""
        super().__init__(data_type=self.DATA_TYPE)
        self.authentication_time = None
        self.command = None
        self.destination_ip = None
        self.destination_port = None
        self.hashcat = None
        self.hashcat_mode = None
        self.mechanism = None
        self.password = None
        self.protocol = None
        self.session_identifier = None
        self.source_ip = None
        self.source_port = None
        self.success = None
        self.username = None


class MailboxEmailEventData(events.EventData):
    """A message (or part of one) retrieved by POP3/IMAP or appended by IMAP.

    Attributes:
      appended_time (dfdatetime.DateTimeValues): date and time the client finished
          storing the message (IMAP APPEND).
      attachment_names (list[str]): file names of the attachments, "" for an
          attachment without one.
      attachment_sha256_hashes (list[str]): SHA-256 of each attachment, in the order
          of attachment_names.
      command (str): the command as sent, such as "RETR 1" or
          "A004 UID FETCH 7 (BODY.PEEK[])".
      complete (bool): True if the whole message was transferred with no bytes
          missing; False for partial fetches and for damaged transfers.
      creation_time (dfdatetime.DateTimeValues): date and time of the Date header.
      destination_ip (str): IP address of the server.
      destination_port (int): TCP port of the server.
      kind (str): "retrieved" or "appended".
      mailbox (str): IMAP mailbox the message was fetched from or appended to,
          decoded from modified UTF-7.
      mailbox_raw (str): the IMAP mailbox name as sent (modified UTF-7).
      message_identifier (str): Message-ID header.
      message_md5_hash (str): MD5 of the bytes transferred (the .eml bytes).
      message_number (int): POP3 message number or IMAP sequence number.
      message_sha256_hash (str): SHA-256 of the bytes transferred.
      partial (str): what a partial fetch took, such as "BODY[HEADER]".
      protocol (str): "pop3" or "imap".
      recipients (str): To header.
      retrieved_time (dfdatetime.DateTimeValues): date and time the server finished
          sending the message to the client.
      sender (str): From header.
      session_identifier (str): identifier of the session within the capture.
      size (int): size of the transferred bytes.
      source_ip (str): IP address of the client.
      source_port (int): TCP port of the client.
      subject (str): Subject header, decoded.
      uid (int): IMAP UID.
      username (str): user the client logged in as.
    """

    DATA_TYPE = "mailbox:email"

    def __init__(self):
        """Initializes event data."""
        super().__init__(data_type=self.DATA_TYPE)
        self.appended_time = None
        self.attachment_names = None
        self.attachment_sha256_hashes = None
        self.command = None
        self.complete = None
        self.creation_time = None
        self.destination_ip = None
        self.destination_port = None
        self.kind = None
        self.mailbox = None
        self.mailbox_raw = None
        self.message_identifier = None
        self.message_md5_hash = None
        self.message_number = None
        self.message_sha256_hash = None
        self.partial = None
        self.protocol = None
        self.recipients = None
        self.retrieved_time = None
        self.sender = None
        self.session_identifier = None
        self.size = None
        self.source_ip = None
        self.source_port = None
        self.subject = None
        self.uid = None
        self.username = None


def CreateSessionEventData(session):
    """Creates event data for a POP3 or IMAP session.

    Args:
      session (smtpcore.model.Session): session.

    Returns:
      MailboxSessionEventData: event data.
    """
    event_data = MailboxSessionEventData()
    event_helpers.SetEndpoints(event_data, session.endpoints)
    event_data.authentication_count = session.auth_attempts
    event_data.banner = session.banner
    event_data.complete = session.complete
    event_data.deleted_count = len(session.deleted)
    event_data.encrypted = session.encrypted
    event_data.end_time = event_helpers.GetDateTime(session.end_ns)
    event_data.mailbox_message_count = session.mailbox_messages
    event_data.mailboxes = [entry["mailbox"] for entry in session.mailboxes] or None
    event_data.message_count = session.messages
    event_data.protocol = session.protocol
    event_data.session_identifier = session.session_id
    event_data.start_time = event_helpers.GetDateTime(session.start_ns)
    event_data.starttls = session.starttls
    event_data.username = session.auth_user
    event_helpers.SetTls(event_data, session)
    return event_data


def CreateAuthenticationEventData(credential):
    """Creates event data for a POP3 or IMAP login attempt.

    Args:
      credential (smtpcore.model.Credential): credential.

    Returns:
      MailboxAuthenticationEventData: event data.
    """
    event_data = MailboxAuthenticationEventData()
    event_helpers.SetEndpoints(event_data, credential.endpoints)
    event_data.authentication_time = event_helpers.GetDateTime(credential.time_ns)
    event_data.command = credential.command
    event_data.hashcat = credential.hashcat
    event_data.hashcat_mode = credential.hashcat_mode
    event_data.mechanism = credential.mechanism
    event_data.password = credential.password
    event_data.protocol = credential.protocol
    event_data.session_identifier = credential.session_id
    event_data.success = credential.success
    event_data.username = credential.username
    return event_data


def CreateEmailEventData(message):
    """Creates event data for a retrieved or appended message.

    Args:
      message (smtpcore.model.Message): message.

    Returns:
      MailboxEmailEventData: event data.
    """
    event_data = MailboxEmailEventData()
    event_helpers.SetEndpoints(event_data, message.endpoints)
    if message.kind == "appended":
        event_data.appended_time = event_helpers.GetDateTime(message.time_ns)
    else:
        event_data.retrieved_time = event_helpers.GetDateTime(message.time_ns)
    event_data.command = message.command
    event_data.complete = message.complete
    event_data.kind = message.kind
    event_data.mailbox = message.mailbox
    if message.mailbox_raw != message.mailbox:
        event_data.mailbox_raw = message.mailbox_raw
    event_data.message_md5_hash = message.md5
    event_data.message_number = message.message_number
    event_data.message_sha256_hash = message.sha256
    event_data.partial = message.partial
    event_data.protocol = message.protocol
    event_data.session_identifier = message.session_id
    event_data.size = message.size
    event_data.uid = message.uid
    event_data.username = message.auth_user

    mime = message.mime
    if mime is not None:
        event_data.creation_time = event_helpers.GetDateTime(mime.date_ns)
        event_data.message_identifier = mime.message_id
        event_data.recipients = mime.to
        event_data.sender = mime.from_
        event_data.subject = mime.subject
        if mime.attachments:
            event_data.attachment_names = [
                attachment.filename or "" for attachment in mime.attachments
            ]
            event_data.attachment_sha256_hashes = [
                attachment.sha256 for attachment in mime.attachments
            ]

    return event_data
