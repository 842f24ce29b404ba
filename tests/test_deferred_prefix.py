"""Reading goes on while the capture's identifier prefix is still being computed.

`pipeline.extract` then holds back what reaches the sessions, with the warnings of
the layers below, and gives it out in order once the prefix is known: the items and
the warnings, in the order they interleave, must be exactly those of a run that knew
the prefix from the start, whenever the prefix comes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import pathlib

import pytest

from smtpcore import pipeline, records
from smtpcore.capture import NotACapture
from smtpcore.model import Credential, Message, Session

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "make_adversarial", ROOT / "test_data" / "adversarial" / "make_adversarial.py"
)
adv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(adv)

LAB = sorted((ROOT / "test_data" / "captures").rglob("*.pcap*"))
ADVERSARIAL = sorted(adv.SMALL)


def _run(data: bytes, prefix, monkeypatch=None) -> list[tuple]:
    """Items and warnings in the order they came."""
    seen: list[tuple] = []
    try:
        for item in pipeline.extract(
            io.BytesIO(data),
            source="x",
            warn=lambda text: seen.append(("warning", text)),
            session_prefix=prefix,
        ):
            seen.append(_seen(item))
    except NotACapture as error:
        seen.append(("not a capture", str(error)))
    return seen


def _seen(item) -> tuple:
    if isinstance(item, Message):
        content = item.content.open().read() if item.content else None
        digest = hashlib.sha256(content).hexdigest() if content else None
        return ("message", records.message_record(item, "x"), digest)
    if isinstance(item, Credential):
        return ("credential", records.credential_record(item))
    assert isinstance(item, Session)
    return ("session", records.session_record(item))


class _Late:
    """A prefix known only after ``calls`` questions (never, before it is waited for)."""

    def __init__(self, calls: int = -1):
        self.calls = calls
        self.asked = 0

    def __call__(self, wait: bool):
        self.asked += 1
        if wait or 0 <= self.calls < self.asked:
            return "P-"
        return None


def _inputs():
    for path in LAB:
        yield pytest.param(path.read_bytes(), id=path.name)
    for name in ADVERSARIAL:
        yield pytest.param(adv.SMALL[name], id=name)


@pytest.mark.parametrize("data", list(_inputs()))
@pytest.mark.parametrize("calls", [-1, 0, 1])
def test_a_prefix_that_comes_late_changes_nothing(data, calls):
    if callable(data):
        data = data()
    late = _Late(calls)
    expected = _run(data, "P-")
    assert _run(data, late) == expected
    assert late.asked >= 1 or expected[-1][0] == "not a capture"


def test_holding_back_is_bounded(monkeypatch):
    """Past HOLD_LIMIT bytes held, reading waits for the prefix."""
    monkeypatch.setattr(pipeline, "HOLD_LIMIT", 100)
    data = (ROOT / "test_data" / "captures" / "postfix-foxmail.pcap").read_bytes()
    asked = []

    def prefix(wait: bool):
        asked.append(wait)
        return "P-" if wait else None

    assert _run(data, prefix) == _run(data, "P-")
    assert asked[-1] is True and len(asked) <= 2  # waited for as soon as over 100
