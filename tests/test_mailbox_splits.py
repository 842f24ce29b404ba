"""The real Dovecot sessions give the same records for any split of their bytes.

Each capture's reassembled events are replayed into the POP3/IMAP builders, once as
captured and then with every Data event cut at random points (hypothesis).
"""

from __future__ import annotations

import pathlib

from hypothesis import given, settings, strategies as st

from smtpcore.capture import CaptureReader
from smtpcore.detect import SERVER_PORTS, Classifier
from smtpcore.imap.machine import ImapMachine
from smtpcore.mailbuilder import MailboxSessionBuilder
from smtpcore.model import Credential, Endpoints, Message
from smtpcore.packets import PacketDecoder
from smtpcore.pop3.machine import Pop3Machine
from smtpcore.reassembly import Closed, Data, Gap, Opened, Reassembler

CAPTURES = pathlib.Path(__file__).resolve().parents[1] / "test_data/captures/mailbox"


def _events():
    """(protocol, events) per connection of every mailbox capture."""
    sessions = []
    for path in sorted(CAPTURES.glob("*.pcap")):
        classifier = Classifier()
        reassembler = Reassembler(print, classify=classifier, server_ports=SERVER_PORTS)
        decoder = PacketDecoder(print)
        events = []
        with open(path, "rb") as handle:
            for frame in CaptureReader(handle, print):
                segment = decoder.decode(frame)
                if segment is not None:
                    events += reassembler.feed(segment)
        events += reassembler.finish()
        by_conn: dict[int, list] = {}
        protocols = {}
        for event in events:
            if isinstance(event, Opened):
                protocols[event.conn.id] = classifier.take(event.conn.id)
            by_conn.setdefault(event.conn.id, []).append(event)
        sessions += [(protocols[cid], evs) for cid, evs in by_conn.items()]
    return sessions


SESSIONS = _events()


def _replay(protocol, events, cuts):
    machine = Pop3Machine() if protocol == "pop3" else ImapMachine()
    builder = MailboxSessionBuilder(
        protocol, machine, "s", "x", Endpoints("a", 1, "b", 2), 0
    )
    out = []
    for event in events:
        if isinstance(event, Data):
            data, start = event.data, 0
            for cut in sorted({c % (len(data) + 1) for c in cuts}) + [len(data)]:
                if cut > start:
                    out += builder.data(event.direction, data[start:cut], event.ts_ns)
                    start = cut
        elif isinstance(event, Gap):
            out += builder.gap(event.direction, event.length, event.ts_ns)
        elif isinstance(event, Closed):
            out += builder.close(event.ts_ns, event.reason)
    result = []
    for item in out:
        if isinstance(item, Message):
            result.append((item.command, item.sha256, item.partial, item.uid))
            item.content.release()
        elif isinstance(item, Credential):
            result.append((item.mechanism, item.username, item.password, item.success))
        else:
            result.append((item.mailboxes, item.mailbox_messages, item.deleted))
    return result


def test_every_connection_was_classified_as_pop3_or_imap():
    assert len(SESSIONS) == 20
    assert {protocol for protocol, _ in SESSIONS} == {"pop3", "imap"}


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12))
def test_any_split_gives_the_same_records(cuts):
    for protocol, events in SESSIONS:
        assert _replay(protocol, events, cuts) == _replay(protocol, events, [])
