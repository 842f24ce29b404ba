"""Fuzz target: Pop3Machine fed byte splits of both directions, with gaps.

Each record is one in-order piece of the client (even op) or server (odd op)
stream, or a gap; the machine is closed at the end and must end with a Closed event.
"""

import sys

import _common
import _machine
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore.pop3.machine import Pop3Machine


def TestOneInput(data: bytes) -> None:
    events = _machine.drive(Pop3Machine(), data)
    assert events and type(events[-1]).__name__ == "Closed", events[-1:]


if __name__ == "__main__":
    _common.run(TestOneInput)
