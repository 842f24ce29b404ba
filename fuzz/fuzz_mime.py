"""Fuzz target: MIME analysis (smtpcore.mime.analyse), which must never raise.

Small limits make the depth, part and header bounds reachable in a fuzz input.
"""

import io
import sys

import _common
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore.mime import analyse, decode_header_value


def TestOneInput(data: bytes) -> None:
    limited = data[:1] == b"\x00"
    if limited:
        info = analyse(
            io.BytesIO(data[1:]), max_depth=4, max_parts=16, max_header_bytes=512,
            size=len(data) - 1, max_size=1 << 16,
        )
    else:
        info = analyse(io.BytesIO(data), size=len(data))
    assert isinstance(info.warnings, list)
    decode_header_value(data[:4096])


if __name__ == "__main__":
    _common.run(TestOneInput)
