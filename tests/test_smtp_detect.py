"""classify: keep SMTP, drop the rest, wait while the first line is partial."""

from __future__ import annotations

import dataclasses

import pytest

from smtp_helpers import client_hello
from smtpcore.smtp.detect import classify

C, S = 0, 1


@dataclasses.dataclass
class Conn:
    server_port: int
    client_port: int = 51000
    client_ip: str = "192.0.2.1"
    server_ip: str = "192.0.2.2"


TLS = client_hello("x.example")


@pytest.mark.parametrize(
    "port, direction, head, expected",
    [
        # Greetings and greeting verbs, on any port.
        (8025, S, b"220 mx.example.org ESMTP\r\n", True),
        (8025, S, b"220-mx.example.org ESMTP first line", True),
        (8025, S, b"220 LMTP server ready\r\n", True),
        (8025, S, b"554 no service for you\r\n", True),
        (8025, C, b"EHLO client\r\n", True),
        (8025, C, b"ehlo client\r\n", True),
        (8025, C, b"HELO client\r\n", True),
        (8025, C, b"LHLO client\r\n", True),
        # Other commands and replies only on known SMTP ports.
        (587, C, b"MAIL FROM:<a@x>\r\n", True),
        (587, C, b"quit\r\n", True),
        (25, S, b"250 2.0.0 Ok: queued as X\r\n", True),
        (25, S, b"354 go ahead\r\n", True),
        (8025, C, b"MAIL FROM:<a@x>\r\n", False),
        (8025, S, b"250 ok\r\n", False),
        # Mid-session captures on a known port: content first.
        (25, C, b"Content-Type: text/plain\r\n\r\nhello\r\n", True),
        (2525, C, b"\x00\x01binary BDAT chunk", True),
        (24, C, b"LHLO x\r\n", True),
        # TLS: implicit TLS on 465 is kept (recorded as encrypted), elsewhere dropped.
        (465, C, TLS, True),
        (465, S, b"\x16\x03\x03\x00\x40", True),
        (443, C, TLS, False),
        (25, C, TLS, False),
        (465, C, b"\x16", None),
        # Other protocols.
        (80, C, b"GET / HTTP/1.1\r\nHost: x\r\n", False),
        (25, C, b"GET / HTTP/1.1\r\nHost: x\r\n", False),
        (25, S, b"HTTP/1.1 200 OK\r\n", False),
        (22, S, b"SSH-2.0-OpenSSH_9.2\r\n", False),
        (8080, C, b"\x00\x01\x02\x03\r\n", False),
        (8080, C, bytes(4096), False),
        # Partial first lines that could still become SMTP.
        (8025, S, b"22", None),
        (8025, S, b"220", None),
        (8025, C, b"EH", None),
        (8025, C, b"ehlo", None),
        (8025, C, b"XY", False),
        (8025, S, b"HTT", None),
        (8025, C, b"", None),
        # A bare 220 is no evidence: FTP greets the same way.
        (8025, S, b"220 host.example.org\r\n", None),
        (8025, S, b"220-mx.example.org first line", None),
        (8025, S, b"220 host\r\n250-host\r\n250 PIPELINING\r\n", True),
        (8025, S, b"220 host\r\n250 2.1.0 Ok\r\n", True),
        (8025, S, b"220 host\r\n331 Please specify the password.\r\n", False),
        (8025, S, b"220 host\r\nnot a reply\r\n", False),
        (25, S, b"220 host.example.org\r\n", True),  # on an SMTP port it is kept
        # FTP banners, on any port, unless they say SMTP.
        (21, S, b"220 (vsFTPd 3.0.3)\r\n", False),
        (25, S, b"220 (vsFTPd 3.0.3)\r\n", False),
        (21, S, b"220 ProFTPD Server (Debian) [::ffff:10.0.0.1]\r\n", False),
        (21, S, b"220-FileZilla Server 1.7.0\r\n220 Please visit\r\n", False),
        (2121, S, b"220 Microsoft FTP Service\r\n", False),
        (21, S, b"220 FTP server ready.\r\n", False),
        (21, S, b"220-Welcome\r\n220 Pure-FTPd ready\r\n", False),
        (8025, S, b"220 ftp.example.org ESMTP Postfix\r\n", True),
        (8025, S, b"220 ftp.example.org\r\n", None),  # the host name is no evidence
        (21, S, b"331 Password required\r\n", False),  # mid-session FTP
        (25, S, b"230 Login successful.\r\n", False),
        # FTP client commands.
        (21, C, b"USER anonymous\r\n", False),
        (21, C, b"user anonymous\r\n", False),
        (21, C, b"SYST\r\n", False),
        (21, C, b"FEAT\r\n", False),
        (21, C, b"AUTH TLS\r\n", False),
        (25, C, b"AUTH TLS\r\n", False),
        (587, C, b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", True),
        # On an SMTP port content may start with "User ...": a second line decides.
        (25, C, b"USER anonymous\r\n", None),
        (25, C, b"USER anonymous\r\nPASS x@y\r\n", False),
        (25, C, b"user names are listed below\r\nalice\r\n", True),
    ],
)
def test_classify(port, direction, head, expected):
    assert classify(Conn(port), direction, head) is expected


def test_known_port_on_the_client_side_counts():
    """A capture without the SYN may have the two ends swapped."""
    assert classify(Conn(51000, client_port=25), C, b"some content\r\n") is True
