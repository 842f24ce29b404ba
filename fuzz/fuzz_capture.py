"""Fuzz target: CaptureReader over pcap, pcapng and gzip bytes.

Only NotACapture, from the constructor, is allowed out; every frame read must be a
Frame with bytes no longer than the reader's packet bound.
"""

import io
import sys

import _common  # noqa: F401 - puts the checkout on sys.path
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore.capture import MAX_PACKET, CaptureReader, Frame, NotACapture


def TestOneInput(data: bytes) -> None:
    warnings = []
    try:
        reader = CaptureReader(
            io.BytesIO(data), warnings.append, secrets=lambda *args: None
        )
    except NotACapture:
        return
    for frame in reader:
        assert type(frame) is Frame
        assert len(frame.data) <= MAX_PACKET, len(frame.data)


if __name__ == "__main__":
    _common.run(TestOneInput)
