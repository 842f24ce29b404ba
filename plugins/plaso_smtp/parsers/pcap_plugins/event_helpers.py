"""Conversions shared by the SMTP and the mailbox (POP3, IMAP) event data."""

from dfdatetime import posix_time as dfdatetime_posix_time


def GetDateTime(timestamp):
    """Converts an smtpcore timestamp.

    Args:
      timestamp (int): number of nanoseconds since the epoch, or None.

    Returns:
      dfdatetime.PosixTimeInNanoseconds: date and time or None if not available.
    """
    if timestamp is None:
        return None

    return dfdatetime_posix_time.PosixTimeInNanoseconds(timestamp=timestamp)


def SetEndpoints(event_data, endpoints):
    """Copies the endpoints of a connection; the client is the source.

    Args:
      event_data (EventData): event data.
      endpoints (smtpcore.model.Endpoints): endpoints.
    """
    event_data.destination_ip = endpoints.server_ip
    event_data.destination_port = endpoints.server_port
    event_data.source_ip = endpoints.client_ip
    event_data.source_port = endpoints.client_port


def SetTls(event_data, session):
    """Copies the TLS description of an encrypted session (SMTP, POP3, IMAP).

    Args:
      event_data (EventData): session event data.
      session (smtpcore.model.Session): session.
    """
    event_data.tls_server_name = session.tls_server_name
    if not session.encrypted:
        return
    event_data.ja3 = session.ja3
    event_data.ja4 = session.ja4
    event_data.tls_alpn = list(session.tls_alpn) or None
    event_data.tls_certificate_issuer = session.tls_cert_issuer
    event_data.tls_certificate_not_after = session.tls_cert_not_after
    event_data.tls_certificate_not_before = session.tls_cert_not_before
    event_data.tls_certificate_sha256 = session.tls_cert_sha256
    event_data.tls_certificate_subject = session.tls_cert_subject
    event_data.tls_cipher = session.tls_cipher
    event_data.tls_decrypted = session.decrypted
    event_data.tls_undecrypted_reason = session.tls_undecrypted_reason
    event_data.tls_version = session.tls_version
