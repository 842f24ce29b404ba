"""One driver for the sans-IO protocol machines (SMTP, POP3, IMAP, TLS)."""

import atheris

import _common


def drive(machine, data: bytes) -> list:
    """Feeds the records of data as both directions' bytes and gaps, then closes."""
    events = []
    ts = 0
    for kind, direction, value, ts in _common.stream_ops(
        atheris.FuzzedDataProvider(data)
    ):
        if kind == "data":
            events += machine.data(direction, value, ts)
        else:
            events += machine.gap(direction, value, ts)
    events += machine.close(ts)
    return events
