"""Fuzz target: safe file naming; the name must stay one harmless component.

A finding is an exception or a name that could leave the output folder or
misbehave on Windows: a separator, '.' or '..', a NUL or control character, a
drive prefix, more than max_bytes, or a leading/trailing space or dot.
"""

import os
import sys

import _common
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore.safenames import _is_reserved, create_unique, safe_filename

WORK = _common.scratch_folder("fuzz-safenames")


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    max_bytes = fdp.ConsumeIntInRange(8, 255)
    name = fdp.ConsumeBytes(fdp.remaining_bytes()).decode("utf-8", "surrogateescape")
    result = safe_filename(name, max_bytes=max_bytes)
    assert result, name
    assert result == "unnamed" or len(result.encode()) <= max_bytes, (name, result)
    assert "/" not in result and "\\" not in result, result
    assert result not in (".", ".."), result
    assert not any(ord(c) < 0x20 or c == "\x7f" for c in result), result
    assert result == result.strip(" ."), result
    assert ":" not in result, result
    assert not _is_reserved(result), result
    result.encode("utf-8")  # no lone surrogates left
    if len(data) % 16 == 0:  # now and then, the real file
        path, handle = create_unique(WORK, name)
        handle.close()
        assert os.path.dirname(path) == WORK, path
        os.unlink(path)


if __name__ == "__main__":
    _common.run(TestOneInput)
