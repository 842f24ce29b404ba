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
