"""pcap parser plugin for mail: SMTP, POP3 and IMAP sessions, logins and emails.

smtpcore does the work (frames, TCP reassembly, SMTP, MIME); this plugin turns each
object it yields into event data at once, so nothing of a capture is collected first.
"""

import hashlib
import os
import re
import time


from plaso.containers import events

from smtpcore import api
from smtpcore import capture
from smtpcore import headers
from smtpcore import model
from smtpcore import pipeline
from smtpcore.tls import keylog as tls_keylog

from plaso_smtp.parsers import pcap
from plaso_smtp.parsers.pcap_plugins import event_helpers
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
      session_identifier (str): identifier of the session, unique across captures
          (it starts with the capture's SHA-256) and shared with its authentication
          and email event data.
      smuggling_suspected (bool): True if a message of the session holds a dot line
          with non-standard line ends (possible SMTP smuggling).
      source_ip (str): IP address of the client.
      source_port (int): TCP port of the client.
      start_time (dfdatetime.DateTimeValues): date and time of the first packet.
      starttls (bool): True if the client asked for STARTTLS.
      starttls_plaintext (bool): True if the dialogue after an accepted STARTTLS is
          in clear in the capture (exported after TLS decryption) and was decoded.
      tls_server_name (str): server name the client asked for in its TLS hello.
      username (str): user of the last successful authentication.
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
          and decoded like clear text.
      tls_undecrypted_reason (str): why a TLS session was not decrypted.
      tls_version (str): negotiated TLS version, such as TLSv1.3.
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
        self.smuggling_suspected = None
        self.source_ip = None
        self.source_port = None
        self.start_time = None
        self.starttls = None
        self.starttls_plaintext = None
        self.tls_server_name = None
        self.username = None
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
        self.tls_undecrypted_reason = None
        self.tls_version = None


class SMTPAuthenticationEventData(events.EventData):
    """SMTP authentication event data: one AUTH attempt.

    Attributes:
      authentication_identifier (str): identifier of the attempt, the same as in
          smtpcore's credentials.jsonl.
      authentication_time (dfdatetime.DateTimeValues): date and time of the attempt.
      authorization_identity (str): identity the client asked to act as (SASL
          authzid), when it differs from the user.
      complete (bool): True if the server's answer is in the capture.
      destination_ip (str): IP address of the server.
      domain (str): NTLM domain of the user.
      destination_port (int): TCP port of the server.
      hashcat (str): challenge and response in hashcat's format, for mechanisms
          that do not send the password itself.
      hashcat_mode (int): hashcat mode of the hashcat value.
      helo (str): name the client gave in HELO or EHLO.
      mechanism (str): SASL mechanism, such as PLAIN, LOGIN or CRAM-MD5.
      password (str): password, when the mechanism sends it.
      realm (str): DIGEST-MD5 realm.
      session_identifier (str): identifier of the session, unique across captures.
      source_ip (str): IP address of the client.
      source_port (int): TCP port of the client.
      success (bool): True if the server accepted the credentials, False if it
          refused them, None if its answer is not in the capture.
      token (str): OAuth bearer token (XOAUTH2, OAUTHBEARER).
      username (str): user name.
      workstation (str): NTLM workstation name of the client.
    """

    DATA_TYPE = "smtp:authentication"

    def __init__(self):
        """Initializes event data."""
        super().__init__(data_type=self.DATA_TYPE)
        self.authentication_identifier = None
        self.authentication_time = None
        self.authorization_identity = None
        self.complete = None
        self.destination_ip = None
        self.destination_port = None
        self.domain = None
        self.hashcat = None
        self.hashcat_mode = None
        self.helo = None
        self.mechanism = None
        self.password = None
        self.realm = None
        self.session_identifier = None
        self.source_ip = None
        self.source_port = None
        self.success = None
        self.token = None
        self.username = None
        self.workstation = None


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
      cc_header (str): Cc header, decoded.
      complete (bool): True if no bytes of the message are missing from the capture.
      creation_time (dfdatetime.DateTimeValues): date and time of the Date header,
          set only in the event data of the Date header (see date_header).
      date_header (str): the Date header as written by the sender, set only in the
          event data that stands for it, so that its event says "Date header".
      destination_ip (str): IP address of the server.
      destination_port (int): TCP port of the server.
      email_identifier (str): identifier of the mail transaction, the same as in
          smtpcore's messages.jsonl.
      from_differs_from_envelope (bool): True if the From header does not name the
          envelope sender (MAIL FROM), None if either is missing or null.
      from_header (str): From header, decoded.
      helo (str): name the client gave in HELO or EHLO.
      in_reply_to (str): In-Reply-To header.
      message_identifier (str): Message-ID header.
      message_md5_hash (str): MD5 of the message as sent (the .eml bytes).
      message_sha256_hash (str): SHA-256 of the message as sent.
      queue_identifier (str): queue identifier from the server's reply.
      received_first_hop_ip (str): IP address the oldest Received header records
          for the host that handed the message on: the claimed origin.
      received_headers (list[str]): Received headers, newest first.
      recipients (list[str]): envelope recipients (RCPT TO) the server did not refuse.
      references (str): References header.
      rejected_recipients (list[str]): envelope recipients the server refused.
      reply_to (str): Reply-To header, decoded.
      reply_to_differs (bool): True if Reply-To names an address not in From.
      return_path (str): Return-Path header, without angle brackets.
      sender (str): envelope sender (MAIL FROM); "" is the null sender.
      sender_header (str): Sender header, decoded.
      sent_time (dfdatetime.DateTimeValues): date and time the client finished
          sending the message, which the server then accepted or refused.
      session_identifier (str): identifier of the session, unique across captures.
      size (int): size of the message in bytes.
      smuggling_indicators (list[str]): dot lines with non-standard line ends in
          the content (possible SMTP smuggling), each as its bytes, its offset in
          the message and whether the server took it as the end of the data.
      source_ip (str): IP address of the client.
      source_port (int): TCP port of the client.
      subject (str): Subject header, decoded.
      to_header (str): To header, decoded.
      user_agent (str): X-Mailer or User-Agent header.
      username (str): user the client authenticated as before sending.
      x_originating_ip (str): X-Originating-IP header.
    """

    DATA_TYPE = "smtp:email"

    def __init__(self):
        """Initializes event data."""
        super().__init__(data_type=self.DATA_TYPE)
        self.accepted = None
        self.attachment_names = None
        self.attachment_sha256_hashes = None
        self.cc_header = None
        self.complete = None
        self.creation_time = None
        self.date_header = None
        self.destination_ip = None
        self.destination_port = None
        self.email_identifier = None
        self.from_differs_from_envelope = None
        self.from_header = None
        self.helo = None
        self.in_reply_to = None
        self.message_identifier = None
        self.message_md5_hash = None
        self.message_sha256_hash = None
        self.queue_identifier = None
        self.received_first_hop_ip = None
        self.received_headers = None
        self.recipients = None
        self.references = None
        self.rejected_recipients = None
        self.reply_to = None
        self.reply_to_differs = None
        self.return_path = None
        self.sender = None
        self.sender_header = None
        self.sent_time = None
        self.session_identifier = None
        self.size = None
        self.smuggling_indicators = None
        self.source_ip = None
        self.source_port = None
        self.subject = None
        self.to_header = None
        self.user_agent = None
        self.username = None
        self.x_originating_ip = None


def CreateSessionEventData(session):
    """Creates event data for a session.

    Args:
      session (smtpcore.model.Session): session.

    Returns:
      SMTPSessionEventData: event data.
    """
    event_data = SMTPSessionEventData()
    event_helpers.SetEndpoints(event_data, session.endpoints)
    event_data.authentication_count = session.auth_attempts
    event_data.banner = session.banner
    event_data.complete = session.complete
    event_data.encrypted = session.encrypted
    event_data.end_time = event_helpers.GetDateTime(session.end_ns)
    event_data.helo = session.helo
    event_data.message_count = session.messages
    event_data.session_identifier = session.session_id
    event_data.smuggling_suspected = session.smuggling_suspected
    event_data.start_time = event_helpers.GetDateTime(session.start_ns)
    event_data.starttls = session.starttls
    event_data.starttls_plaintext = session.starttls_plaintext
    event_data.username = session.auth_user
    event_helpers.SetTls(event_data, session)
    return event_data


# Key logs an examiner hands plaso: paths separated by os.pathsep.
KEYLOG_ENVIRONMENT_VARIABLE = "SMTPCORE_KEYLOG"
# Files beside a capture larger than this are not read as key logs.
_MAXIMUM_KEYLOG_SIZE = 256 * 1024 * 1024
# Read once per worker: the examiner's key logs, and those of the folders seen
# last (so a folder of many captures is searched once).
_EXAMINER_CACHE = {}
_FOLDER_CACHE = {}
_FOLDER_CACHE_SIZE = 8


def _ExaminerKeyLogs(parser_mediator):
    """The key logs named in SMTPCORE_KEYLOG."""
    value = os.environ.get(KEYLOG_ENVIRONMENT_VARIABLE, "")
    keys = _EXAMINER_CACHE.get(value)
    if keys is not None:
        return keys
    keys = tls_keylog.KeyLog(parser_mediator.ProduceWarning)
    for path in value.split(os.pathsep):
        if path:
            try:
                with open(path, "rb") as handle:
                    keys.add_file(handle, path)
            except OSError as exception:
                parser_mediator.ProduceWarning(
                    f"key log {path:s} not read: {exception!s}"
                )
    _EXAMINER_CACHE.clear()
    _EXAMINER_CACHE[value] = keys
    return keys


def _LoadKeyLogs(parser_mediator):
    """Key logs for one capture: those beside it, then the examiner's.

    Secrets inside the capture (pcapng Decryption Secrets Blocks) are added by
    smtpcore itself.
    """
    examiner = _ExaminerKeyLogs(parser_mediator)
    try:
        file_entry = parser_mediator.GetFileEntry()
        parent = file_entry.GetParentFileEntry() if file_entry else None
    except Exception as exception:  # pylint: disable=broad-except
        # Back ends raise what they like (a zip member's folder: KeyError); the
        # search for key logs is a help and must never stop the capture's parsing.
        parser_mediator.ProduceWarning(
            f"folder of the capture not searched for key logs: {exception!r}"
        )
        parent = None
    if parent is None:
        return examiner
    folder = (
        parent.path_spec.comparable,
        os.environ.get(KEYLOG_ENVIRONMENT_VARIABLE, ""),
    )
    keys = _FOLDER_CACHE.get(folder)
    if keys is None:
        keys = tls_keylog.KeyLog(parser_mediator.ProduceWarning, parent=examiner)
        _AddKeyLogsInFolder(parser_mediator, keys, parent, file_entry)
        if len(_FOLDER_CACHE) >= _FOLDER_CACHE_SIZE:
            _FOLDER_CACHE.pop(next(iter(_FOLDER_CACHE)))
        _FOLDER_CACHE[folder] = keys
    return keys


def _AddKeyLogsInFolder(parser_mediator, keys, parent, file_entry):
    """Adds the key logs among the files of one folder, found by content."""
    try:
        siblings = list(parent.sub_file_entries)
    except Exception as exception:  # pylint: disable=broad-except
        parser_mediator.ProduceWarning(
            f"folder of the capture not searched for key logs: {exception!r}"
        )
        siblings = []
    own = file_entry.path_spec.comparable
    for entry in siblings:
        try:
            if entry.path_spec.comparable == own:
                continue
            if not entry.IsFile():
                continue
            file_object = entry.GetFileObject()
            if file_object is None:
                continue
            try:
                if not tls_keylog.looks_like_keylog(file_object.read(8192)):
                    continue
                name = entry.path_spec.location or entry.name
                if (entry.size or 0) > _MAXIMUM_KEYLOG_SIZE:
                    parser_mediator.ProduceWarning(
                        f"key log {name} not read: {entry.size} bytes, more than "
                        f"{_MAXIMUM_KEYLOG_SIZE}"
                    )
                    continue
                file_object.seek(0, os.SEEK_SET)
                keys.add_file(file_object, name)
            finally:
                close = getattr(file_object, "close", None)
                if close:
                    close()
        except Exception as exception:  # pylint: disable=broad-except
            parser_mediator.ProduceWarning(
                f"file beside the capture not checked for a key log: {exception!r}"
            )


def CreateAuthenticationEventData(credential):
    """Creates event data for an authentication attempt.

    Args:
      credential (smtpcore.model.Credential): credential.

    Returns:
      SMTPAuthenticationEventData: event data.
    """
    event_data = SMTPAuthenticationEventData()
    event_helpers.SetEndpoints(event_data, credential.endpoints)
    event_data.authentication_identifier = credential.id
    event_data.authentication_time = event_helpers.GetDateTime(credential.time_ns)
    event_data.authorization_identity = credential.authzid
    event_data.complete = credential.success is not None
    event_data.domain = credential.domain
    event_data.hashcat = credential.hashcat
    event_data.helo = credential.helo
    event_data.hashcat_mode = credential.hashcat_mode
    event_data.mechanism = credential.mechanism
    event_data.password = credential.password
    event_data.realm = credential.realm
    event_data.session_identifier = credential.session_id
    event_data.success = credential.success
    event_data.token = credential.token
    event_data.username = credential.username
    event_data.workstation = credential.workstation
    return event_data


def CreateEmailEventData(message):
    """Creates event data for a mail transaction, with the time it was sent.

    The Date header has event data of its own (CreateDateHeaderEventData).

    Args:
      message (smtpcore.model.Message): message.

    Returns:
      SMTPEmailEventData: event data.
    """
    event_data = SMTPEmailEventData()
    event_helpers.SetEndpoints(event_data, message.endpoints)
    event_data.accepted = message.accepted
    event_data.complete = message.complete
    event_data.email_identifier = message.id
    event_data.helo = message.helo
    event_data.queue_identifier = message.queue_id
    # Empty lists are left unset, so that formatters leave out their text.
    event_data.recipients = message.rcpt_to or None
    event_data.rejected_recipients = [
        recipient.address for recipient in message.rcpt_rejected
    ] or None
    event_data.sender = message.mail_from
    event_data.sent_time = event_helpers.GetDateTime(message.time_ns)
    event_data.session_identifier = message.session_id
    event_data.smuggling_indicators = [
        _DescribeIndicator(indicator) for indicator in message.smuggling_indicators
    ] or None
    event_data.username = message.auth_user

    if message.data_sent:
        event_data.message_md5_hash = message.md5
        event_data.message_sha256_hash = message.sha256
        event_data.size = message.size

    mime = message.mime
    if mime is not None:
        pivots = headers.pivot_fields(mime, message.mail_from)
        event_data.cc_header = mime.cc
        event_data.from_differs_from_envelope = pivots["from_differs_from_envelope"]
        event_data.from_header = mime.from_
        event_data.in_reply_to = mime.in_reply_to
        event_data.message_identifier = mime.message_id
        first_hop = pivots["received_first_hop"]
        event_data.received_first_hop_ip = first_hop["ip"] if first_hop else None
        event_data.received_headers = list(mime.received) or None
        event_data.references = mime.references
        event_data.reply_to = mime.reply_to
        event_data.reply_to_differs = pivots["reply_to_differs"]
        event_data.return_path = pivots["return_path"]
        event_data.sender_header = mime.sender
        event_data.subject = mime.subject
        event_data.to_header = mime.to
        event_data.user_agent = mime.x_mailer
        event_data.x_originating_ip = mime.x_originating_ip
        if mime.attachments:
            event_data.attachment_names = [
                attachment.filename or "" for attachment in mime.attachments
            ]
            event_data.attachment_sha256_hashes = [
                attachment.sha256 for attachment in mime.attachments
            ]

    return event_data


def CreateDateHeaderEventData(message):
    """Creates the event data of a message's Date header, if it has a readable one.

    The Date header is the sender's claim, not a time the capture saw; its own event
    data carries date_header, so the event's message says "Date header".

    Args:
      message (smtpcore.model.Message): message.

    Returns:
      SMTPEmailEventData: event data, or None without a readable Date header.
    """
    mime = message.mime
    if mime is None or mime.date_ns is None:
        return None

    event_data = CreateEmailEventData(message)
    event_data.sent_time = None
    event_data.creation_time = event_helpers.GetDateTime(mime.date_ns)
    event_data.date_header = mime.date
    return event_data


def CreateEventDataList(item):
    """Creates all event data of an object yielded by smtpcore.

    Args:
      item (smtpcore.model.Session|Message|Credential): object.

    Returns:
      list[EventData]: event data; an email with a Date header has two.
    """
    event_data_list = [CreateEventData(item)]
    if isinstance(item, model.Message) and item.protocol == "smtp":
        # POP3/IMAP email event data carry their Date header themselves.
        date_event_data = CreateDateHeaderEventData(item)
        if date_event_data is not None:
            event_data_list.append(date_event_data)
    return event_data_list


def _DescribeIndicator(indicator):
    """Describes a possible SMTP smuggling marker.

    Args:
      indicator (smtpcore.model.SmugglingIndicator): indicator.

    Returns:
      str: the marker bytes (escaped), offset and outcome, such as
          "\\n.\\n at offset 175 (ended the data)".
    """
    marker = repr(indicator.marker)[2:-1]
    outcome = {True: "ended the data", False: "did not end the data"}.get(
        indicator.ended_data, "followed by the end of the connection"
    )
    return f"{marker} at offset {indicator.offset:d} ({outcome:s})"


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


_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def _AnalyzedSha256(parser_mediator):
    """The SHA-256 plaso took of the data stream being parsed, or None.

    plaso's extraction worker hashes a data stream (--hashers, "sha256" by default)
    before it parses it, and keeps the result in the event data stream the mediator
    holds. The mediator has no public getter for it, so its private attribute is
    read, and any doubt means None and the parser hashes the capture itself: no
    stream, no SHA-256 (--hashers none or md5, a file over --hasher_file_size_limit),
    a stream of another path specification (an alternate data stream has its own),
    or a value that is not a SHA-256.

    Args:
      parser_mediator (ParserMediator): mediates interactions between parsers
          and other components, such as storage and dfVFS.

    Returns:
      str: lower-case hexadecimal SHA-256, or None.
    """
    event_data_stream = getattr(parser_mediator, "_event_data_stream", None)
    sha256 = getattr(event_data_stream, "sha256_hash", None)
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
        return None
    file_entry = parser_mediator.GetFileEntry()
    stream = getattr(event_data_stream, "path_spec", None)
    if file_entry is None or stream is None:
        return None
    parsed = file_entry.path_spec
    if stream.comparable != parsed.comparable:
        return None
    if getattr(stream, "data_stream", None) != getattr(parsed, "data_stream", None):
        return None
    return sha256


class SMTPPcapPlugin(interface.PcapPlugin):
    """pcap parser plugin for SMTP, POP3 and IMAP sessions, logins and emails.

    POP3 and IMAP objects become mailbox:* event data (see mailbox.py); the plugin
    keeps its name so that existing --parsers expressions keep working.
    """

    NAME = "smtp"
    DATA_FORMAT = "SMTP sessions, authentications and emails in a packet capture"

    _HASH_CHUNK_SIZE = 1 << 20

    def _SessionPrefix(self, parser_mediator, file_object, report_activity):
        """The identifier prefix of a capture, from its SHA-256, as smtpcore's.

        Identifiers then differ between captures and match smtpcore's own files.
        The SHA-256 plaso's hashing analyzer took of this data stream is used when
        there is one (see _AnalyzedSha256): the capture is then read once, not
        twice, which on a compressed image is a second decompression saved.

        Args:
          parser_mediator (ParserMediator): mediates interactions between parsers
              and other components, such as storage and dfVFS.
          file_object (dfvfs.FileIO): the capture.
          report_activity (function): called now and then while hashing.

        Returns:
          str: prefix, or None if extraction was aborted while hashing.
        """
        analyzed = _AnalyzedSha256(parser_mediator)
        if analyzed is not None:
            return api.capture_prefix(analyzed)

        file_object.seek(0, os.SEEK_SET)
        sha256 = hashlib.sha256()
        position = 0
        while True:
            try:
                data = file_object.read(self._HASH_CHUNK_SIZE)
            except OSError as exception:  # what was read still identifies it
                parser_mediator.ProduceWarning(
                    f"unable to read the capture beyond offset {position:d} while "
                    f"hashing it: {exception!s}"
                )
                break
            if not data:
                break
            sha256.update(data)
            position += len(data)
            report_activity(position)
            if parser_mediator.abort:
                return None
        file_object.seek(0, os.SEEK_SET)
        return api.capture_prefix(sha256.hexdigest())

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

        prefix = self._SessionPrefix(parser_mediator, file_object, ReportActivity)
        if prefix is None:
            return

        keys = _LoadKeyLogs(parser_mediator)
        file_object.seek(0, os.SEEK_SET)
        items = pipeline.extract(
            file_object,
            source=display_name,
            warn=parser_mediator.ProduceWarning,
            abort=lambda: parser_mediator.abort,
            mime=True,
            progress=ReportActivity,
            session_prefix=prefix,
            keylog=keys,
        )
        try:
            for item in items:
                for event_data in CreateEventDataList(item):
                    parser_mediator.ProduceEventData(event_data)
                # smtpcore keeps what decoding a message left out (a limit reached,
                # a defect) with the message; plaso's place for it is a warning. A
                # partial fetch (TOP, BODY[HEADER]) is cut where the client asked, so
                # its defects say nothing about the evidence.
                if (
                    isinstance(item, model.Message)
                    and item.mime is not None
                    and not item.partial
                ):
                    for warning in item.mime.warnings:
                        where = warning.removeprefix("message: ")
                        parser_mediator.ProduceWarning(f"message {item.id}: {where}")
                if parser_mediator.abort:
                    break

        except capture.NotACapture as exception:
            parser_mediator.ProduceWarning(f"not a readable capture: {exception!s}")

        finally:
            items.close()


pcap.PcapParser.RegisterPlugin(SMTPPcapPlugin)
