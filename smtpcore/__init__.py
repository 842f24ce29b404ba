"""smtpcore: SMTP sessions, messages and credentials from packet captures."""

__version__ = "0.1.0"
