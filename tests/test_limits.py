"""Each limit of docs/LIMITS.md that no other test covers: reached, it is reported,
and data within it is kept. Limits are lowered with monkeypatch where the input that
reaches the real one would be large.
"""

from __future__ import annotations

import json
import pathlib
import sys

import pcapgen
import report_fixtures
from pcapgen import ACK
from smtpcore import cli, packets, report
from smtpcore.capture import Frame
from smtpcore.mailbuilder import MailboxSessionBuilder
from smtpcore.model import Endpoints
from smtpcore.packets import PacketDecoder
from smtpcore.pop3 import machine as pop3_machine
from smtpcore.smtp import events as ev
from smtpcore.smtp import session as smtp_session
from smtpcore.smtp.session import SmtpMachine
from smtpcore.tls.keylog import KeyLog

sys.path.insert(
    0, str(pathlib.Path(__file__).resolve().parents[1] / "test_data" / "adversarial")
)
import make_mime_cases as cases  # noqa: E402

C, S = 0, 1
TS = 1_700_000_000_000_000_000


def smtp(conversation):
    machine = SmtpMachine()
    out = []
    for direction, data in conversation:
        out += machine.data(direction, data, TS)
    out += machine.close(TS)
    return [e.message for e in out if isinstance(e, ev.Anomaly)], out


GREETING = [(S, b"220 mx ESMTP\r\n"), (C, b"EHLO c\r\n"), (S, b"250 mx\r\n")]


# -- packets -------------------------------------------------------------------


def test_too_many_fragments_reported(monkeypatch):
    monkeypatch.setattr(packets, "MAX_FRAGMENTS", 4)
    payload = bytes(range(256)) * 8
    packet = pcapgen.ipv4_tcp(
        "192.0.2.1", "198.51.100.7", 40001, 25, 7, 9, ACK, payload, ident=7
    )
    pieces = pcapgen.ipv4_fragments(packet, 200)
    warnings: list[str] = []
    decoder = PacketDecoder(warnings.append)
    for index, piece in enumerate(pieces[:-1], 1):
        assert decoder.decode(Frame(index, TS, 101, piece, len(piece))) is None
    # Dropped at the fifth fragment; the later ones start over and are dropped too.
    assert decoder.stats["fragments_dropped"] == 2
    assert [w.split(": ", 1)[1] for w in warnings] == [
        "fragmented IPv4 datagram 192.0.2.1 -> 198.51.100.7 id 0x7 dropped: "
        "too many fragments (5 fragments)"
    ] * 2
    warnings.clear()
    # Within the limit the datagram is reassembled.
    monkeypatch.setattr(packets, "MAX_FRAGMENTS", len(pieces))
    decoder = PacketDecoder(warnings.append)
    results = [decoder.decode(Frame(1, TS, 101, p, len(p))) for p in pieces]
    assert results[-1].payload == payload


# -- SMTP ----------------------------------------------------------------------


def test_data_without_354_reported():
    content = b"Subject: x\r\n\r\n" + b"y" * 70_000 + b"\r\n.\r\n"
    anomalies, events = smtp(
        GREETING
        + [
            (C, b"MAIL FROM:<a@b>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"RCPT TO:<c@d>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"DATA\r\n" + content),
        ]
    )
    assert any(
        f"more than {smtp_session.MAX_DATA_WAIT} client bytes after DATA without a 354"
        in a
        for a in anomalies
    ), anomalies
    data = b"".join(e.data for e in events if isinstance(e, ev.MessageData))
    assert data == content[: -len(b".\r\n")]  # every byte kept as content


def test_smtp_pending_commands_reported(monkeypatch):
    monkeypatch.setattr(smtp_session, "MAX_PENDING", 10)
    anomalies, _ = smtp(GREETING + [(C, b"NOOP\r\n" * 12)])
    assert (
        "more than 10 commands without replies; the oldest are no longer matched"
        in anomalies
    )
    anomalies, _ = smtp(GREETING + [(C, b"NOOP\r\n" * 10)])
    assert not any("without replies" in a for a in anomalies)


def test_long_multiline_reply_reported(monkeypatch):
    monkeypatch.setattr(smtp_session, "MAX_REPLY_LINES", 5)
    lines = b"".join(b"250-line %d\r\n" % n for n in range(11)) + b"250 end\r\n"
    anomalies, events = smtp([(S, b"220 mx\r\n"), (C, b"EHLO c\r\n"), (S, lines)])
    # The pieces after the first are replies no command waits for: said too.
    assert anomalies[0] == (
        "multi-line 250 reply of more than 5 lines; taken as one reply per 5 lines"
    )
    assert sum("multi-line" in a for a in anomalies) == 1  # once per session
    replies = [e for e in events if isinstance(e, ev.Reply) and e.code == 250]
    assert sum(len(r.lines) for r in replies) == 12  # every line kept
    within = b"".join(b"250-line %d\r\n" % n for n in range(4)) + b"250 end\r\n"
    anomalies, _ = smtp([(S, b"220 mx\r\n"), (C, b"EHLO c\r\n"), (S, within)])
    assert anomalies == []


def test_smtp_anomaly_cap_reported(monkeypatch):
    monkeypatch.setattr(smtp_session, "MAX_ANOMALIES", 3)
    anomalies, _ = smtp(GREETING + [(S, b"junk\r\n" * 10)])
    assert len(anomalies) == 3
    assert anomalies[-1] == "more than 3 anomalies; further ones not reported"


# -- POP3 ----------------------------------------------------------------------


def pop3(steps):
    machine = pop3_machine.Pop3Machine()
    builder = MailboxSessionBuilder(
        "pop3", machine, "s1", "t", Endpoints("10.0.0.2", 40000, "10.0.0.1", 110), 0
    )
    out = []
    for ts, (direction, data) in enumerate(steps, 1):
        out += builder.data(direction, data, ts)
    out += builder.close(len(steps) + 1, "fin")
    return builder.session.warnings, out


def test_pop3_pending_commands_reported(monkeypatch):
    monkeypatch.setattr(pop3_machine, "_MAX_PENDING", 5)
    warnings, _ = pop3([(S, b"+OK ready\r\n"), (C, b"NOOP\r\n" * 7)])
    assert any("more than 1000 unanswered commands" in w for w in warnings), warnings


def test_pop3_listing_limit_reported(monkeypatch):
    monkeypatch.setattr(pop3_machine, "_MAX_LIST_BYTES", 100)
    listing = b"".join(b"%d %032d\r\n" % (n, n) for n in range(1, 11))
    steps = [
        (S, b"+OK ready\r\n"),
        (C, b"UIDL\r\n"),
        (S, b"+OK\r\n" + listing + b".\r\n"),
    ]
    warnings, _ = pop3(steps)
    assert any(
        "UIDL listing longer than 100 bytes; the rest of it is not read" in w
        for w in warnings
    ), warnings
    monkeypatch.setattr(pop3_machine, "_MAX_LIST_BYTES", len(listing))
    warnings, _ = pop3(steps)
    assert not any("listing longer" in w for w in warnings)


# -- key logs ------------------------------------------------------------------


def _keylog_line(number: int) -> bytes:
    return b"CLIENT_RANDOM %064x %096x" % (number, number)


def test_keylog_session_limit_reported():
    warnings: list[str] = []
    keylog = KeyLog(warnings.append, max_sessions=3)
    keylog.add_lines([_keylog_line(n) for n in range(5)], "keys.log")
    assert warnings == [
        "keys.log: 2 key log lines not indexed: more than 3 sessions held"
    ]
    assert len(keylog) == 3
    warnings.clear()
    KeyLog(warnings.append, max_sessions=5).add_lines(
        [_keylog_line(n) for n in range(5)], "keys.log"
    )
    assert warnings == []


def test_keylog_long_line_reported():
    warnings: list[str] = []
    keylog = KeyLog(warnings.append)
    keylog.add_lines([_keylog_line(1), b"CLIENT_RANDOM " + b"a" * 5000], "keys.log")
    assert warnings == ["keys.log: 1 key log lines not understood, ignored"]
    assert len(keylog) == 1


# -- report --------------------------------------------------------------------


def test_report_header_limit_said(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "_HEADER_LIMIT", 1000)
    message = cases.long_header(5000)
    capture = tmp_path / "long-header.pcap"
    pcapgen.write_pcap(
        capture,
        pcapgen.tcp_conversation(
            client=("192.0.2.70", 41000),
            server=("198.51.100.25", 25),
            exchanges=report_fixtures._session(message, b"250 ok\r\n", "a@b.example"),
        ),
    )
    out = tmp_path / "out"
    cli.main(["extract", "-q", str(capture), "-o", str(out)])
    (record,) = [
        json.loads(line)
        for line in (out / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    page = (out / "report" / f"{record['id']}.html").read_text(encoding="utf-8")
    assert "[... header section longer than 1000 bytes: the rest is in the .eml]" in (
        page
    )
    assert "x" * 900 in page


# -- capture -------------------------------------------------------------------


def test_packet_beyond_max_packet_reported_and_the_next_kept():
    import io

    from smtpcore.capture import MAX_PACKET, CaptureReader

    good = b"G" * 60
    data = pcapgen.pcap_bytes(
        [(TS, b"B" * (MAX_PACKET + 1)), (TS + 1000, good)], snaplen=MAX_PACKET * 2
    )
    warnings: list[str] = []
    frames = list(CaptureReader(io.BytesIO(data), warnings.append))
    assert [f.data for f in frames] == [good]
    assert warnings == [
        "frame 1, offset 0x18: implausible record length 262145; skipped 262161 "
        "damaged bytes, resuming at offset 0x40029"
    ]
    # A packet of exactly MAX_PACKET bytes is read.
    data = pcapgen.pcap_bytes([(TS, b"B" * MAX_PACKET)], snaplen=MAX_PACKET)
    warnings.clear()
    frames = list(CaptureReader(io.BytesIO(data), warnings.append))
    assert [len(f.data) for f in frames] == [MAX_PACKET] and warnings == []


# -- mailbox sessions -----------------------------------------------------------


def test_mailbox_session_warnings_beyond_the_limit_are_counted(monkeypatch):
    from smtpcore import mailbuilder

    monkeypatch.setattr(mailbuilder, "MAX_SESSION_WARNINGS", 3)
    monkeypatch.setattr(pop3_machine, "_MAX_PENDING", 1)
    warnings, _ = pop3([(S, b"+OK ready\r\n"), (C, b"NOOP\r\n" * 8)])
    assert len(warnings) == 4
    assert warnings[-1] == "session s1: 4 more warning(s) not listed"


# -- report body ----------------------------------------------------------------


def test_report_body_limit_said(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "_BODY_LIMIT", 100)
    message = b"Subject: long body\r\n\r\n" + b"z" * 500 + b"\r\n"
    capture = tmp_path / "long-body.pcap"
    pcapgen.write_pcap(
        capture,
        pcapgen.tcp_conversation(
            exchanges=report_fixtures._session(message, b"250 ok\r\n", "a@b.example")
        ),
    )
    out = tmp_path / "out"
    cli.main(["extract", "-q", str(capture), "-o", str(out)])
    (page,) = (out / "report").glob("*.html")
    text = page.read_text(encoding="utf-8")
    assert "first 200,000 shown" in text  # the template's words for the cut
    assert "z" * 100 in text and "z" * 101 not in text


# -- TLS -----------------------------------------------------------------------


def test_tls_handshake_message_over_the_limit_reported():
    from smtpcore.tls.handshake import HandshakeBuffer
    from smtpcore.tls.layer import TlsConnection

    def record(body: bytes) -> bytes:
        return b"\x16\x03\x03" + len(body).to_bytes(2, "big") + body

    huge = HandshakeBuffer.MAX_MESSAGE + 1
    connection = TlsConnection(None)
    connection.data(C, record(b"\x01" + huge.to_bytes(3, "big") + b"\x03\x03"), TS)
    assert connection.info.warnings == [
        "client: handshake message larger than 262144 bytes; the rest of the "
        "handshake is not read"
    ]
    # A message within the limit, split over records, raises no such warning.
    connection = TlsConnection(None)
    body = b"\x0b" + (1000).to_bytes(3, "big") + b"\x00" * 1000
    connection.data(S, record(body[:500]) + record(body[500:]), TS)
    assert not any("larger than" in w for w in connection.info.warnings)


# -- IMAP ----------------------------------------------------------------------


def imap(steps):
    from smtpcore.imap.machine import ImapMachine

    builder = MailboxSessionBuilder(
        "imap",
        ImapMachine(),
        "s1",
        "t",
        Endpoints("10.0.0.2", 40000, "10.0.0.1", 143),
        0,
    )
    out = []
    for ts, (direction, data) in enumerate(steps, 1):
        out += builder.data(direction, data, ts)
    out += builder.close(len(steps) + 1, "fin")
    return builder.session.warnings, out


def test_imap_kept_literal_limit_reported(monkeypatch):
    from smtpcore.imap import machine as imap_machine

    monkeypatch.setattr(imap_machine, "_KEPT_LITERAL", 8)
    steps = [
        (S, b"* OK IMAP ready\r\n"),
        (C, b"a1 LOGIN {20}\r\n"),
        (S, b"+ go\r\n"),
        (C, b"alice-with-long-name"),
        (C, b" secret\r\n"),
        (S, b"a1 OK in\r\n"),
    ]
    warnings, _ = imap(steps)
    assert [w for w in warnings if "literal" in w] == [
        "session s1 (client): literal of 20 bytes: only its first 8 are kept"
    ]
    monkeypatch.setattr(imap_machine, "_KEPT_LITERAL", 20)
    warnings, _ = imap(steps)
    assert not any("literal" in w for w in warnings)


def test_imap_uid_table_limit_reported(monkeypatch):
    from smtpcore.imap import machine as imap_machine

    monkeypatch.setattr(imap_machine, "_MAX_UIDS", 2)
    flags = b"".join(
        b"* %d FETCH (UID %d FLAGS ())\r\n" % (n, 100 + n) for n in (1, 2, 3)
    )
    steps = [
        (S, b"* OK IMAP ready\r\n"),
        (C, b'a1 SELECT "INBOX"\r\n'),
        (S, b"* 3 EXISTS\r\na1 OK done\r\n"),
        (C, b"a2 FETCH 1:3 (UID FLAGS)\r\n"),
        (S, flags + b"a2 OK done\r\n"),
    ]
    warnings, _ = imap(steps)
    assert [w for w in warnings if "sequence numbers" in w] == [
        "session s1 (server): more than 2 sequence numbers with a UID in one "
        "mailbox; messages fetched by number alone later may lack their UID"
    ]
    monkeypatch.setattr(imap_machine, "_MAX_UIDS", 3)
    warnings, _ = imap(steps)
    assert not any("sequence numbers" in w for w in warnings)


def test_imap_chunk_joins_beyond_the_limit_reported(monkeypatch):
    from smtpcore import mailbuilder

    monkeypatch.setattr(mailbuilder, "MAX_JOINS", 1)
    message = b"Subject: s\r\n\r\n" + b"b" * 46 + b"\r\n"  # 62 bytes
    steps = [(S, b"* OK IMAP ready\r\n"), (C, b'a1 SELECT "INBOX"\r\n')]
    steps.append((S, b"* 2 EXISTS\r\na1 OK done\r\n"))
    # The first chunks of UID 7 and UID 8, then their second chunks.
    for tag, (uid, origin) in enumerate(((7, 0), (8, 0), (7, 40), (8, 40))):
        chunk = message[origin : origin + 40]
        steps += [
            (
                C,
                b"c%d UID FETCH %d (UID RFC822.SIZE BODY.PEEK[]<%d.40>)\r\n"
                % (tag, uid, origin),
            ),
            (
                S,
                b"* %d FETCH (UID %d RFC822.SIZE 62 BODY[]<%d> {%d}\r\n"
                % (uid - 6, uid, origin, len(chunk))
                + chunk
                + b")\r\nc%d OK\r\n" % tag,
            ),
        ]
    warnings, out = imap(steps)
    assert [w for w in warnings if "in chunks" in w] == [
        "session s1: more than 1 messages fetched in chunks at once; UID 7 is not "
        "joined into a whole message (its chunks are kept as partial messages)"
    ]
    from smtpcore.model import Message

    messages = [item for item in out if isinstance(item, Message)]
    assert sorted(
        (m.uid, m.partial is not None and m.partial != "") for m in messages
    ) == [(7, True), (7, True), (8, False), (8, True), (8, True)]


# -- plaso: key logs beside a capture --------------------------------------------


class _Entry:
    """The part of a dfVFS file entry that the key log search uses."""

    def __init__(self, name: str, data: bytes):
        import io
        import types

        self.name = name
        self.size = len(data)
        self._data = data
        self.path_spec = types.SimpleNamespace(comparable=name, location=f"/{name}")
        self._io = io

    def IsFile(self):  # noqa: N802 - dfVFS API
        return True

    def GetFileObject(self):  # noqa: N802 - dfVFS API
        return self._io.BytesIO(self._data)


def test_plaso_keylog_beside_the_capture_over_the_size_limit_reported(monkeypatch):
    import types

    from plaso_smtp.parsers.pcap_plugins import smtp as plugin

    lines = b"\n".join(_keylog_line(n) for n in range(3)) + b"\n"
    monkeypatch.setattr(plugin, "_MAXIMUM_KEYLOG_SIZE", len(lines) - 1)
    capture = _Entry("trace.pcap", b"\xd4\xc3\xb2\xa1")
    parent = types.SimpleNamespace(
        sub_file_entries=[capture, _Entry("keys.log", lines), _Entry("notes", b"x")]
    )
    warnings: list[str] = []
    mediator = types.SimpleNamespace(ProduceWarning=warnings.append)
    keys = KeyLog(warnings.append)
    plugin._AddKeyLogsInFolder(mediator, keys, parent, capture)
    assert warnings == [
        f"key log /keys.log not read: {len(lines)} bytes, more than {len(lines) - 1}"
    ]
    assert len(keys) == 0
    monkeypatch.setattr(plugin, "_MAXIMUM_KEYLOG_SIZE", len(lines))
    warnings.clear()
    plugin._AddKeyLogsInFolder(mediator, keys, parent, capture)
    assert warnings == [] and len(keys) == 3


def test_smtp_client_hello_over_the_limit_reported(monkeypatch):
    monkeypatch.setattr(smtp_session, "MAX_CLIENT_HELLO", 64)
    # A ClientHello record announcing 1,000 bytes, sent whole: past 64 bytes kept.
    hello = b"\x16\x03\x01\x03\xec" + b"\x01\x00\x03\xe8" + b"\x00" * 1000
    steps = GREETING + [(C, b"STARTTLS\r\n"), (S, b"220 go\r\n"), (C, hello)]
    anomalies, events = smtp(steps)
    assert (
        "TLS ClientHello not complete in its first 64 bytes; its server name was "
        "not looked for further"
    ) in anomalies
    assert [e.server_name for e in events if isinstance(e, ev.TlsHello)] == [None]
    monkeypatch.setattr(smtp_session, "MAX_CLIENT_HELLO", 2000)
    anomalies, _ = smtp(steps)
    assert not any("ClientHello" in a for a in anomalies)


# -- AUTH ----------------------------------------------------------------------


def test_auth_line_over_the_limit_is_cut_and_reported(monkeypatch):
    from smtpcore.smtp import auth
    from smtpcore.smtp.auth import AuthExchange

    monkeypatch.setattr(auth, "MAX_LINE_BYTES", 8)
    exchange = AuthExchange("X-LONG", None)
    exchange.client_response(b"QUFBQUFBQUFBQUFB")  # 16 bytes
    exchange.client_response(b"QUFB")  # within the limit
    exchange.finish(None, None)
    assert exchange.warnings == ["AUTH X-LONG: 1 line(s) cut at 8 bytes"]


def test_imap_pieces_of_one_response_beyond_the_limit_reported(monkeypatch):
    from smtpcore.imap import machine as imap_machine

    monkeypatch.setattr(imap_machine, "_MAX_PIECES", 2)
    literals = b"".join(b"{3}\r\nabc" for _ in range(4))
    steps = [
        (S, b"* OK IMAP ready\r\n"),
        (C, b'a1 LIST "" *\r\n'),
        (S, b'* LIST () "/" ' + literals + b"\r\na1 OK done\r\n"),
    ]
    warnings, _ = imap(steps)
    assert [w for w in warnings if "lines and literals" in w] == [
        "session s1 (server): response of more than 2 lines and literals: 3 not kept "
        "in its record"
    ]
    monkeypatch.setattr(imap_machine, "_MAX_PIECES", 256)
    warnings, _ = imap(steps)
    assert not any("lines and literals" in w for w in warnings)


# -- evidence ------------------------------------------------------------------


def test_file_below_the_image_size_is_listed_as_skipped(tmp_path):
    from smtpcore import api, evidence

    small = tmp_path / "small.bin"
    small.write_bytes(bytes(range(256)) + bytes(evidence.MIN_IMAGE_SIZE - 257))
    skipped = []
    found = api.find([str(tmp_path)], skipped=lambda path, why: skipped.append(why))
    assert found == []
    assert skipped == ["not a packet capture, archive or disk image"]


# -- report: inline pictures ----------------------------------------------------


def test_inline_picture_over_the_limit_is_linked_not_embedded(tmp_path, monkeypatch):
    import base64

    monkeypatch.setattr(report, "_INLINE_IMAGE_LIMIT", 100)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    encoded = base64.b64encode(png).decode()
    message = (
        'Subject: pic\r\nContent-Type: multipart/related; boundary="b"\r\n\r\n'
        '--b\r\nContent-Type: text/html\r\n\r\n<p><img src="cid:p1"></p>\r\n'
        "--b\r\nContent-Type: image/png\r\nContent-ID: <p1>\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" + encoded + "\r\n--b--\r\n"
    ).encode()
    capture = tmp_path / "pic.pcap"
    pcapgen.write_pcap(
        capture,
        pcapgen.tcp_conversation(
            exchanges=report_fixtures._session(message, b"250 ok\r\n", "a@b.example")
        ),
    )
    out = tmp_path / "out"
    cli.main(["extract", "-q", str(capture), "-o", str(out)])
    (record,) = [
        json.loads(line)
        for line in (out / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    (attachment,) = record["attachments"]
    page = (out / "report" / f"{record['id']}.html").read_text(encoding="utf-8")
    assert encoded[:40] not in page  # not embedded
    link = "../" + attachment["path"]
    assert f'href="{link}"' in page  # linked
    assert (out / attachment["path"]).read_bytes() == png


def test_smtp_smuggling_markers_beyond_the_limits_reported(monkeypatch):
    monkeypatch.setattr(smtp_session, "MAX_INDICATORS", 6)
    content = b"Subject: x\r\n\r\n" + b"a\n.\nb\r\n" * 8
    anomalies, events = smtp(
        GREETING
        + [
            (C, b"MAIL FROM:<a@b>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"RCPT TO:<c@d>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"DATA\r\n"),
            (S, b"354 go\r\n"),
            (C, content + b".\r\n"),
            (S, b"250 queued\r\n"),
        ]
    )
    smuggling = [a for a in anomalies if "smuggling" in a]
    assert len(smuggling) == 6  # five worded, then the list bound
    assert smuggling[4].endswith("; further ones in this message are not listed here")
    assert smuggling[5] == (
        "transaction 1: more than 6 possible SMTP smuggling markers; the first 6 "
        "are listed"
    )
    (end,) = [e for e in events if isinstance(e, ev.TransactionEnd)]
    assert len(end.smuggling) == 6
    data = b"".join(e.data for e in events if isinstance(e, ev.MessageData))
    assert data == content  # every byte kept
