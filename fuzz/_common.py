"""What the fuzz targets share: the record format that splits fuzz bytes into pieces.

A record is one op byte, a two-byte big-endian length and that many bytes (fewer at
the end of the input). The targets read it through atheris.FuzzedDataProvider, and
make_seeds.py writes real streams in the same format, so mutations start from
sessions that reach deep into each machine.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # run as `python fuzz/x.py` from a checkout
    sys.path.insert(0, ROOT)

MAX_RECORDS = 4096


def scratch_folder(name: str) -> str:
    """A new folder /dev/shm/NAME-PID-*, after removing those of ended processes:
    libFuzzer ends the process without Python's atexit handlers."""
    for stale in glob.glob(f"/dev/shm/{name}-*-*"):
        pid = stale[len(f"/dev/shm/{name}-") :].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(stale, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{name}-{os.getpid()}-", dir="/dev/shm")


def records(fdp):
    """Yields (op, piece) pairs from a FuzzedDataProvider until it runs dry."""
    for _ in range(MAX_RECORDS):
        if fdp.remaining_bytes() < 1:
            return
        op = fdp.ConsumeBytes(1)[0]
        length = int.from_bytes(fdp.ConsumeBytes(2).rjust(2, b"\0"), "big")
        yield op, fdp.ConsumeBytes(length)


def encode(items) -> bytes:
    """The inverse of records(): (op, piece) pairs to fuzz bytes."""
    out = bytearray()
    for op, piece in items:
        piece = bytes(piece[:0xFFFF])
        out += bytes((op & 0xFF,)) + len(piece).to_bytes(2, "big") + piece
    return bytes(out)


def stream_ops(fdp):
    """(kind, direction, value, ts) for a protocol machine: data or gap per record.

    Op bit 0 is the direction, bit 1 makes a gap of len(piece) * (1 + op >> 2)
    bytes; the time advances by op >> 2 milliseconds.
    """
    ts = 1_700_000_000 * 10**9
    for op, piece in records(fdp):
        ts += (op >> 2) * 10**6
        direction = op & 1
        if op & 2:
            yield "gap", direction, max(1, len(piece)) * (1 + (op >> 2)), ts
        else:
            yield "data", direction, piece, ts


def run(test_one_input):
    """Starts atheris over test_one_input (the usual libFuzzer command line)."""
    import atheris

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
