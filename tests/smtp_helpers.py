"""Crafted SMTP conversations and ways to feed them, for the smtp tests."""

from __future__ import annotations

import base64
import dataclasses
import struct

from smtpcore.smtp import events as ev
from smtpcore.smtp.session import SmtpMachine

C, S = ev.CLIENT, ev.SERVER

# A conversation: (direction, bytes) in capture order.
FULL_SESSION = [
    (S, b"220 mx.example.org ESMTP Postfix\r\n"),
    (C, b"EHLO client.example.org\r\n"),
    (
        S,
        b"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
        b"250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 CHUNKING\r\n",
    ),
    (C, b"AUTH PLAIN " + base64.b64encode(b"\0alice\0s3cret") + b"\r\n"),
    (S, b"235 2.7.0 Authentication successful\r\n"),
    (C, b"MAIL FROM:<alice@example.org> SIZE=120 BODY=8BITMIME\r\n"),
    (S, b"250 2.1.0 Ok\r\n"),
    (C, b"RCPT TO:<bob@example.org> NOTIFY=NEVER\r\n"),
    (S, b"250 2.1.5 Ok\r\n"),
    (C, b"DATA\r\n"),
    (S, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
    (
        C,
        b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: dots\r\n\r\n"
        b"..leading dot\r\nmiddle . dot\r\n...\r\n",
    ),
    (C, b".\r\n"),
    (S, b"250 2.0.0 Ok: queued as 4XyZ12AbC\r\n"),
    (C, b"QUIT\r\n"),
    (S, b"221 2.0.0 Bye\r\n"),
]
FULL_SESSION_MESSAGE = (
    b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: dots\r\n\r\n"
    b".leading dot\r\nmiddle . dot\r\n..\r\n"
)

BDAT_SESSION = [
    (S, b"220 mx.example.org ESMTP\r\n"),
    (C, b"EHLO c\r\n"),
    (S, b"250-mx.example.org\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
    (
        C,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
        b"BDAT 13\r\n\x00\r\n.\r\nBDAT\xff\r\nBDAT 5 LAST\r\n\r\n.\r\n",
    ),
    (
        S,
        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 13 octets received\r\n"
        b"250 2.0.0 Ok: 18 bytes queued as 1E2891CA025\r\n",
    ),
    (C, b"QUIT\r\n"),
    (S, b"221 Bye\r\n"),
]
BDAT_SESSION_MESSAGE = b"\x00\r\n.\r\nBDAT\xff\r\n" + b"\r\n.\r\n"


def feed(conversation, machine=None, ts_ns=1, close=True):
    """Feeds (direction, bytes) pairs; returns every event."""
    machine = machine or SmtpMachine()
    out = []
    for direction, data in conversation:
        out += machine.data(direction, data, ts_ns)
    if close:
        out += machine.close(ts_ns)
    return out


def feed_split(conversation, cuts, ts_ns=1):
    """Like `feed`, with each element cut at the offsets in ``cuts[i]``."""
    machine = SmtpMachine()
    out = []
    for (direction, data), points in zip(conversation, cuts):
        start = 0
        for point in sorted(set(points)) + [len(data)]:
            if start < point <= len(data):
                out += machine.data(direction, data[start:point], ts_ns)
                start = point
    out += machine.close(ts_ns)
    return out


def normalised(events):
    """Events with adjacent MessageData of a transaction merged: split-independent."""
    result = []
    for event in events:
        if (
            isinstance(event, ev.MessageData)
            and result
            and isinstance(result[-1], ev.MessageData)
            and result[-1].transaction == event.transaction
        ):
            result[-1] = dataclasses.replace(
                result[-1], data=result[-1].data + event.data
            )
        else:
            result.append(event)
    return result


def of(events, kind):
    return [event for event in events if isinstance(event, kind)]


def content(events, transaction=1):
    """The content of a transaction, as the builder keeps it."""
    data = b""
    for event in events:
        if getattr(event, "transaction", None) != transaction:
            continue
        if isinstance(event, ev.MessageData):
            data += event.data
        elif isinstance(event, ev.MessageTruncate):
            data = data[: event.size]
    return data


def client_hello(server_name: str | None) -> bytes:
    """A minimal TLS 1.2 ClientHello record, with an SNI extension when named."""
    extensions = b""
    if server_name is not None:
        name = server_name.encode()
        entry = b"\x00" + struct.pack("!H", len(name)) + name
        sni = struct.pack("!H", len(entry)) + entry
        extensions += struct.pack("!HH", 0, len(sni)) + sni
    extensions += struct.pack("!HH", 0x000B, 2) + b"\x01\x00"  # ec_point_formats
    body = (
        b"\x03\x03"
        + bytes(range(32))
        + b"\x00"
        + struct.pack("!H", 4)
        + b"\x13\x01\xc0\x2f"
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake
