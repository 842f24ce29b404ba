"""Tests for the bridge between the plaso releases supported (plaso_smtp.compat).

They run on every plaso: CI's newest and, with make test-plaso-oldest, 20240308.
"""

import collections

import plaso

from plaso.parsers import mediator as parsers_mediator
from plaso.storage.fake import writer as fake_writer

from plaso_smtp import compat
from plaso_smtp import parsers  # noqa: F401  (runs compat.Install)


class _OldMediator:
    """A parser mediator of plaso 20240308: two warning methods, no ProduceWarning."""

    def __init__(self):
        self.calls = []

    def ProduceExtractionWarning(self, message, path_spec=None):
        self.calls.append(("extraction", message, path_spec))

    def ProduceRecoveryWarning(self, message, path_spec=None):
        self.calls.append(("recovery", message, path_spec))


def testAddProduceWarningToOldMediator():
    class OldMediator(_OldMediator):
        pass

    assert compat.AddProduceWarning(OldMediator)
    mediator = OldMediator()
    mediator.ProduceWarning("frame 3: truncated")
    mediator.ProduceWarning("recovered", path_spec="spec", recovered=True)
    assert mediator.calls == [
        ("extraction", "frame 3: truncated", None),
        ("recovery", "recovered", "spec"),
    ]
    # A second call leaves the method alone.
    assert not compat.AddProduceWarning(OldMediator)


def testCurrentMediatorIsLeftAlone():
    class NewMediator(_OldMediator):
        def ProduceWarning(self, message, path_spec=None, recovered=False):
            self.calls.append(("native", message, recovered))

    assert not compat.AddProduceWarning(NewMediator)
    mediator = NewMediator()
    mediator.ProduceWarning("x")
    assert mediator.calls == [("native", "x", False)]


def testInstallIsIdempotent():
    assert compat.Install() == []


def testWarningsReachStorageOnThisPlaso():
    """The parser's warnings are stored as extraction warnings on every release."""
    mediator_class = parsers_mediator.ParserMediator
    # Bridged exactly where plaso has the older methods (20240308), not on the newest.
    bridged = vars(mediator_class)["ProduceWarning"] is compat._ProduceWarning
    assert bridged == hasattr(
        mediator_class, "ProduceExtractionWarning"
    ), plaso.__version__

    storage_writer = fake_writer.FakeStorageWriter()
    storage_writer.Open()
    mediator = mediator_class()
    mediator.SetStorageWriter(storage_writer)
    mediator.AppendToParserChain("pcap")
    mediator.ProduceWarning("frame 7: bad length")
    mediator.ProduceWarning("recovered record", recovered=True)

    extraction = list(storage_writer.GetAttributeContainers("extraction_warning"))
    recovery = list(storage_writer.GetAttributeContainers("recovery_warning"))
    assert [(w.message, w.parser_chain) for w in extraction] == [
        ("frame 7: bad length", "pcap")
    ]
    assert [w.message for w in recovery] == ["recovered record"]


def testWarningCountWithoutOrderGetsTheOrderOfItsNumber():
    class WarningCount:
        def __init__(self, number_of_events=None):
            self.number_of_events = number_of_events

    assert compat.AddWarningCountOrder(WarningCount)
    counter = collections.Counter(
        {name: WarningCount(number) for name, number in [("a", 2), ("b", 7), ("c", 1)]}
    )
    # What pinfo's text output does with the warnings per path specification.
    assert [name for name, _ in counter.most_common(2)] == ["b", "a"]
    assert WarningCount(None) < WarningCount(1)
    assert not compat.AddWarningCountOrder(WarningCount)


def testPinfoBridgeOnThisPlaso():
    """Bridged where plaso counts warnings in WarningCount containers (20260720),
    which have no order of their own; older releases count in integers."""
    from plaso.containers import counts  # pylint: disable=import-outside-toplevel
    from plaso.cli import pinfo_tool  # noqa: F401  (runs the hook)

    assert compat.InstallPinfo() == []  # done by the hook, once
    count_class = getattr(counts, "WarningCount", None)
    if count_class is not None:
        assert count_class.__lt__ is compat._WarningCountLessThan, plaso.__version__
