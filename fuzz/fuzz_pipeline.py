"""Fuzz target: the whole pipeline (smtpcore.pipeline.extract) on a built capture.

The records become the frames of a pcap file whose link type the first op byte
picks (as in fuzz_packets), so mutations go past the capture reader into TCP and
the protocols; MIME decoding is on. Every message's content is read to the end.
The committed key logs are given, so seeds made from the TLS captures decrypt and
the TLS-first classification and the splice under SMTP, POP3 and IMAP are reached.
"""

import glob
import io
import os
import struct
import sys

import _common
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore.model import Message
    from smtpcore.pipeline import extract
    from smtpcore.tls.keylog import KeyLog

from fuzz_packets import LINKTYPES

KEYS = KeyLog()
for _pattern in ("test_data/tls/*.keylog", "test_data/captures/mailbox-tls/*.keylog"):
    for _path in sorted(glob.glob(os.path.join(_common.ROOT, _pattern))):
        with open(_path, "rb") as _handle:
            KEYS.add_file(_handle, _path)


def build_pcap(data: bytes) -> bytes:
    out = bytearray()
    ts = 1_700_000_000 * 10**6
    for op, piece in _common.records(atheris.FuzzedDataProvider(data)):
        if not out:
            linktype = LINKTYPES[op & 0x0F]
            out += struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
        ts += (op >> 4) ** 3 * 1000  # up to 3.4 s
        out += struct.pack("<IIII", ts // 10**6, ts % 10**6, len(piece), len(piece))
        out += piece
    return bytes(out)


def TestOneInput(data: bytes) -> None:
    capture = build_pcap(data)
    if not capture:
        return
    for item in extract(
        io.BytesIO(capture),
        source="fuzz",
        warn=lambda message: None,
        mime=True,
        keylog=KEYS,
    ):
        if type(item) is Message and item.content is not None:
            for _ in item.content.chunks():
                pass


if __name__ == "__main__":
    _common.run(TestOneInput)
