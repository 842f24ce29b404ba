"""Fuzz target: MIME analysis (smtpcore.mime.analyse), which must never raise.

Small limits make the depth, part and header bounds reachable in a fuzz input. Inputs
starting with 0x01 are decoded by both engines, which must agree: the fast body
splitter (smtpcore.mimebody) and the email package's feed parser. A fault of the
splitter, which analyse contains and reports, is a finding too.
"""

import dataclasses
import io
import sys

import _common
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore.mime import analyse, decode_header_value


def TestOneInput(data: bytes) -> None:
    if data[:1] == b"\x01":
        fast, reference = (
            dataclasses.asdict(analyse(io.BytesIO(data[1:]), engine=engine))
            for engine in ("fast", "email")
        )
        assert fast == reference, "the MIME engines disagree"
        return
    limited = data[:1] == b"\x00"
    if limited:
        info = analyse(
            io.BytesIO(data[1:]), max_depth=4, max_parts=16, max_header_bytes=512,
            size=len(data) - 1, max_size=1 << 16,
        )
    else:
        info = analyse(io.BytesIO(data), size=len(data))
    assert isinstance(info.warnings, list)
    # The splitter's faults are contained (the email package decodes instead), but
    # each is a bug of ours all the same.
    assert not any("MIME splitter failed" in str(w) for w in info.warnings), info.warnings
    decode_header_value(data[:4096])


if __name__ == "__main__":
    _common.run(TestOneInput)
