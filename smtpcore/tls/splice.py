"""Where TLS starts inside the SMTP byte stream, and the plaintext SMTP after it.

`SessionBuilder` keeps feeding its clear-text `SmtpMachine` every byte (it goes
on describing the encrypted part as before: STARTTLS, SNI) and, from the point
the machine reports `TlsStarted`, also feeds a `TlsConnection`. Its plaintext
goes to a second `SmtpMachine` for the same session, whose events go through
the same builder code: byte-exact messages, credentials, MIME, as clear text.
This module finds that starting point in the chunk that triggered it.
"""

from __future__ import annotations

import re
from typing import Optional

from smtpcore.smtp import events as ev

_RECORD_START = re.compile(rb"(?:\A|(?<=\n))\x16\x03")
_STARTTLS_REPLY_END = re.compile(rb"(?:\A|\n)220[ \r\n][^\n]*\n")


def tls_start(direction: int, data: bytes, previous_last: Optional[int]) -> bytes:
    """The bytes of ``data`` that belong to TLS, given TlsStarted came during it.

    Client side: from the ClientHello record header (at a line start; a lone
    0x16 at the end of the previous chunk is put back). Server side: after the
    220 reply to STARTTLS, or all of it when the server spoke TLS first.
    """
    if direction == ev.CLIENT:
        if data[:1] == b"\x03" and previous_last == 0x16:
            return b"\x16" + data
        match = _RECORD_START.search(data)
        return data[match.start() :] if match else b""
    if data[:2] == b"\x16\x03" or data[:1] in (b"\x15", b"\x17"):
        return data
    end = None
    for match in _STARTTLS_REPLY_END.finditer(data):
        end = match.end()
    return data[end:] if end is not None else b""


def looks_like_tls_record(data: bytes) -> bool:
    """A TLS record header other than a handshake: encrypted mid-session bytes."""
    return (
        len(data) >= 5
        and data[0] in (0x14, 0x15, 0x17)
        and data[1] == 3
        and data[2] <= 4
        and 0 < int.from_bytes(data[3:5], "big") <= (1 << 14) + 2048
    )
