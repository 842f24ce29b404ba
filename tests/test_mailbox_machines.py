"""POP3/IMAP machines and detection: byte-split independence, gaps, refusals, negatives."""

from __future__ import annotations

import base64
import hashlib

import pytest

from smtpcore import detect
from smtpcore.imap import detect as imap_detect
from smtpcore.imap import utf7
from smtpcore.imap.machine import ImapMachine
from smtpcore.lines import DotBody
from smtpcore.mailbuilder import MailboxSessionBuilder
from smtpcore.model import Credential, Endpoints, Message, Session
from smtpcore.pop3 import detect as pop3_detect
from smtpcore.pop3.machine import Pop3Machine
from smtpcore.reassembly import Connection

C, S = 0, 1


def run(protocol, steps, split=None):
    """Feeds (direction, bytes) steps, each cut into pieces of ``split`` bytes."""
    machine = Pop3Machine() if protocol == "pop3" else ImapMachine()
    builder = MailboxSessionBuilder(
        protocol, machine, "s1", "test", Endpoints("10.0.0.2", 40000, "10.0.0.1", 1), 0
    )
    out = []
    for ts, (direction, data) in enumerate(steps, 1):
        if direction == "gap":
            out += builder.gap(data[0], data[1], ts)
            continue
        size = split or len(data) or 1
        for start in range(0, len(data), size):
            out += builder.data(direction, data[start : start + size], ts)
    out += builder.close(len(steps) + 1, "fin")
    result = []
    for item in out:
        if isinstance(item, Message):
            result.append(
                (
                    "message",
                    item.command,
                    item.content.open().read(),
                    item.complete,
                    item.partial,
                    item.missing_ranges,
                    item.message_number,
                    item.uid,
                    item.kind,
                    item.accepted,
                )
            )
            item.content.release()
        elif isinstance(item, Credential):
            result.append(
                (
                    "login",
                    item.mechanism,
                    item.username,
                    item.password,
                    item.success,
                    item.hashcat,
                )
            )
        else:
            assert isinstance(item, Session)
            result.append(
                (
                    "session",
                    item.complete,
                    item.mailbox_messages,
                    [d["number"] for d in item.deleted],
                    item.warnings,
                )
            )
    return result


BODY = b"Subject: x\r\n\r\n.dot line\r\n..two\r\nplain\r\n"
STUFFED = b"Subject: x\r\n\r\n..dot line\r\n...two\r\nplain\r\n.\r\n"
POP3 = [
    (S, b"+OK ready <1.2@host>\r\n"),
    (C, b"USER alice\r\n"),
    (S, b"+OK\r\n"),
    (C, b"PASS pass word\r\n"),
    (S, b"+OK logged in\r\n"),
    (C, b"STAT\r\nRETR 1\r\nTOP 1 0\r\nDELE 1\r\nQUIT\r\n"),  # pipelined
    (
        S,
        b"+OK 2 300\r\n+OK 40 octets\r\n" + STUFFED + b"+OK\r\nSubject: x\r\n\r\n.\r\n"
        b"+OK deleted\r\n+OK bye\r\n",
    ),
]


def test_dot_body_every_split():
    for cut in range(len(STUFFED)):
        body = DotBody()
        first, end = body.feed(STUFFED[:cut])
        assert end is None
        second, end = body.feed(STUFFED[cut:] + b"+OK next")
        assert b"".join(first + second) == BODY
        assert (STUFFED[cut:] + b"+OK next")[end:] == b"+OK next"


@pytest.mark.parametrize("split", [None, 1, 2, 3, 7])
def test_pop3_same_result_for_any_split(split):
    result = run("pop3", POP3, split)
    assert result == run("pop3", POP3)
    assert result[0] == ("login", "USER", "alice", "pass word", True, None)
    assert result[1][:5] == ("message", "RETR 1", BODY, True, None)
    assert result[2][:5] == (
        "message",
        "TOP 1 0",
        b"Subject: x\r\n\r\n",
        False,
        "TOP: header and 0 body line(s)",
    )
    assert result[3] == ("session", True, 2, [1], [])


def test_pop3_gap_inside_retr_is_a_missing_range_not_invented_bytes():
    steps = POP3[:5] + [
        (C, b"RETR 1\r\n"),
        (S, b"+OK\r\nSubject: x\r\n\r\nfirst\r\n"),
        ("gap", (S, 100)),
        (S, b"rest\r\n.\r\n+OK bye\r\n"),
    ]
    message = run("pop3", steps)[1]
    assert message[2] == b"Subject: x\r\n\r\nfirst\r\nrest\r\n"
    assert message[3] is False and message[5] == [
        (len(b"Subject: x\r\n\r\nfirst\r\n"), 100)
    ]


def test_apop_hashcat_mode_20_line():
    secret = b"tanstaaf"
    stamp = b"<1896.697170952@dbc.mtview.ca.us>"  # RFC 1939's example
    digest = hashlib.md5(stamp + secret).hexdigest()
    assert digest == "c4c9334bac560ecc979e58001b3e22fb"
    steps = [
        (S, b"+OK POP3 server ready " + stamp + b"\r\n"),
        (C, b"APOP mrose " + digest.encode() + b"\r\n"),
        (S, b"+OK\r\n"),
    ]
    assert run("pop3", steps)[0] == (
        "login",
        "APOP",
        "mrose",
        None,
        True,
        f"{digest}:{stamp.decode()}",
    )


def test_pop3_auth_plain_without_initial_response():
    token = base64.b64encode(b"\0bob\0s3cret")
    steps = [
        (S, b"+OK hi\r\n"),
        (C, b"AUTH PLAIN\r\n"),
        (S, b"+ \r\n"),
        (C, token + b"\r\n"),
        (S, b"-ERR no\r\n"),
    ]
    assert run("pop3", steps)[0] == ("login", "PLAIN", "bob", "s3cret", False, None)


MESSAGE = b"Subject: hi\r\n\r\nbody {5}\r\n"
IMAP = [
    (S, b"* OK IMAP ready\r\n"),
    (C, b"a1 LOGIN {5}\r\n"),
    (S, b"+ go\r\n"),
    (C, b'alice "pa\\"ss\\\\"\r\n'),
    (S, b"a1 OK in\r\n"),
    (C, b'a2 SELECT "INBOX"\r\n'),
    (S, b"* 3 EXISTS\r\n* OK [UIDVALIDITY 9] x\r\na2 OK [READ-WRITE] done\r\n"),
    (C, b"a3 FETCH 2 (UID BODY.PEEK[])\r\na4 UID FETCH 7 (BODY[]<0.4>)\r\n"),
    (
        S,
        b"* 2 FETCH (UID 7 BODY[] {%d}\r\n" % len(MESSAGE) + MESSAGE + b")\r\n"
        b"* 2 FETCH (BODY[]<0> {4}\r\nSubj UID 7)\r\na4 OK\r\na3 OK\r\n",
    ),
    (C, b"a5 APPEND Sent {%d+}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n"),
    (S, b"a5 OK [APPENDUID 9 12] appended\r\n"),
    (C, b"a6 APPEND Nope {10}\r\n"),
    (S, b"a6 NO [TRYCREATE] no such mailbox\r\n"),  # the literal is never sent
    (C, b"a7 LOGOUT\r\n"),
    (S, b"* BYE\r\na7 OK\r\n"),
]


@pytest.mark.parametrize("split", [None, 1, 3, 5])
def test_imap_same_result_for_any_split(split):
    result = run("imap", IMAP, split)
    assert result == run("imap", IMAP)
    assert result[0] == ("login", "LOGIN", "alice", 'pa"ss\\', True, None)
    assert result[1] == (
        "message",
        "a3 FETCH 2 (UID BODY.PEEK[])",
        MESSAGE,
        True,
        None,
        [],
        2,
        7,
        "retrieved",
        True,
    )
    assert result[2] == (
        "message",
        "a4 UID FETCH 7 (BODY[]<0.4>)",
        b"Subj",
        False,
        "BODY[]<0.4>",
        [],
        2,
        7,
        "retrieved",
        True,
    )
    assert result[3] == (
        "message",
        "a5 APPEND Sent {%d+}" % len(MESSAGE),
        MESSAGE,
        True,
        None,
        [],
        None,
        12,
        "appended",
        True,
    )
    assert result[4][0] == "session" and result[4][1] is True
    assert result[4][4] == [
        "session s1 (server): a6 APPEND refused before its literal was sent: no message"
    ]
    assert len(result) == 5  # the refused APPEND carried no message


def test_imap_gap_inside_literal_keeps_the_framing():
    steps = IMAP[:7] + [
        (C, b"a3 FETCH 1 BODY[]\r\n"),
        (S, b"* 1 FETCH (BODY[] {100}\r\n" + b"x" * 10),
        ("gap", (S, 50)),
        (S, b"y" * 40 + b")\r\na3 OK\r\n"),
        (C, b"a4 FETCH 1 BODY[TEXT]\r\n"),
        (S, b"* 1 FETCH (BODY[TEXT] {2}\r\nok)\r\na4 OK\r\n"),
    ]
    result = run("imap", steps)
    assert result[1][2] == b"x" * 10 + b"y" * 40 and result[1][5] == [(10, 50)]
    assert result[1][3] is False
    assert result[2][2] == b"ok" and result[2][4] == "BODY[TEXT]"


def _conn(port):
    return Connection(1, "10.0.0.2", 40000, "10.0.0.1", port, 0, True)


def test_detection_by_content_on_any_port():
    assert detect.detect(_conn(2110), S, b"+OK Dovecot ready.\r\n") == "pop3"
    assert (
        detect.detect(_conn(8143), S, b"* OK [CAPABILITY IMAP4rev1] hi\r\n") == "imap"
    )
    assert detect.detect(_conn(8143), C, b"a001 CAPABILITY\r\n") == "imap"
    assert detect.detect(_conn(2525), S, b"220 mail ESMTP\r\n") == "smtp"
    assert detect.detect(_conn(25), C, b"AUTH LOGIN\r\n") == "smtp"


def test_ftp_and_smtp_are_not_pop3_or_imap():
    ftp_server = b"220 ProFTPD Server ready.\r\n"
    ftp_client = b"USER anonymous\r\nPASS x\r\nSYST\r\n"
    for port in (21, 110):
        assert pop3_detect.classify(_conn(port), S, ftp_server) is False
        assert imap_detect.classify(_conn(port), S, ftp_server) is False
    assert pop3_detect.classify(_conn(21), C, ftp_client) is False
    assert pop3_detect.classify(_conn(21), C, b"USER anonymous\r\n") is None  # wait
    assert pop3_detect.classify(_conn(110), C, b"USER alice\r\n") is True
    assert imap_detect.classify(_conn(25), S, b"250 OK\r\n") is False
    assert imap_detect.classify(_conn(25), C, b"AUTH LOGIN\r\n") is False
    assert imap_detect.classify(_conn(25), C, b"MAIL FROM:<a@b>\r\n") is False
    redis = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n"  # answered "+OK": not POP3 either
    assert detect.detect(_conn(6379), C, redis) is False


@pytest.mark.parametrize("protocol, port", [("pop3", 995), ("imap", 993)])
def test_implicit_tls_is_recorded_as_encrypted(protocol, port):
    # A ClientHello record whose handshake message (4 of 36 bytes) goes on later.
    hello = b"\x16\x03\x01\x00\x08\x01\x00\x00\x20\x03\x03\x00\x00"
    # Kept as TLS-first; without keys the implicit-TLS port names the protocol.
    assert detect.detect(_conn(port), C, hello) == "tls"
    assert detect.implicit_tls_protocol(_conn(port)) == protocol
    assert detect.detect(_conn(4443), C, hello) is False
    (session,) = run(protocol, [(C, hello), (S, b"\x16\x03\x03\x00\x02ok")])
    assert session[0] == "session" and session[4] == []


@pytest.mark.parametrize("split", [1, 4])
def test_pop3_uidl_listing_split_inside_lines(split):
    steps = POP3[:5] + [
        (C, b"UIDL\r\n"),
        (S, b"+OK\r\n1 00000001abc\r\n2 00000002def\r\n.\r\n"),
        (C, b"RETR 2\r\n"),
        (S, b"+OK\r\nx\r\n.\r\n"),
    ]
    machine = Pop3Machine()
    builder = MailboxSessionBuilder(
        "pop3", machine, "s1", "t", Endpoints("a", 1, "b", 2), 0
    )
    out = []
    for direction, data in steps:
        for start in range(0, len(data), split):
            out += builder.data(direction, data[start : start + split], 1)
    (message,) = [item for item in out if isinstance(item, Message)]
    assert message.uidl == "00000002def" and message.message_number == 2


def test_capture_starting_inside_a_response_keeps_its_bytes_flagged():
    rest = b"To: a@b\r\n\r\n..dot\r\nend\r\n.\r\n"
    message, session = run("pop3", [(S, rest + b"+OK bye\r\n"), (C, b"QUIT\r\n")])
    assert message[:5] == (
        "message",
        "(not captured)",
        b"To: a@b\r\n\r\n.dot\r\nend\r\n",
        False,
        "unknown: the capture began inside a multi-line response",
    )


def test_unexpected_lines_keep_warnings_bounded():
    lines = b"".join(b"line %d of nothing expected\r\n" % n for n in range(5000))
    steps = [(S, b"+OK hi\r\n"), (C, b"NOOP\r\n"), (S, b"+OK\r\n" + lines)]
    (session,) = run("pop3", steps)
    warnings = session[4]
    assert len(warnings) == 101
    assert warnings[-1] == "session s1: 4900 more warning(s) not listed"


def test_capture_starting_at_the_status_line_of_a_retr():
    rest = b"+OK 20 octets\r\nTo: a@b\r\n\r\nbody\r\n.\r\n"
    message, session = run("pop3", [(S, rest)])
    assert message[1:4] == ("(not captured)", b"To: a@b\r\n\r\nbody\r\n", False)


def test_imap_fetch_item_as_a_quoted_string():
    steps = IMAP[:7] + [
        (C, b"a3 FETCH 1 (BODY[TEXT] BODY[1.MIME])\r\n"),
        (
            S,
            b'* 1 FETCH (BODY[TEXT] "a \\"quoted\\" text" BODY[1.MIME] "")\r\na3 OK\r\n',
        ),
    ]
    result = run("imap", steps)
    assert [r[2] for r in result[1:3]] == [b'a "quoted" text', b""]
    assert [r[4] for r in result[1:3]] == ["BODY[TEXT]", "BODY[1.MIME]"]


def test_imap_compress_stops_decoding_with_a_warning():
    steps = IMAP[:5] + [
        (C, b"a2 COMPRESS DEFLATE\r\n"),
        (S, b"a2 OK DEFLATE active\r\n"),
        (C, b"\x8b\x01\x00garbage a3 FETCH 1 BODY[]\r\n"),
        (S, b"* 1 FETCH (BODY[] {3}\r\nabc)\r\n"),
    ]
    result = run("imap", steps)
    assert [r[0] for r in result] == ["login", "session"]
    assert result[-1][4] == [
        "session s1: COMPRESS accepted: the rest of the session is compressed "
        "and not decoded"
    ]


def test_pop3_terminator_lost_in_a_gap_does_not_run_into_the_next_message():
    steps = POP3[:5] + [
        (C, b"RETR 1\r\n"),
        (S, b"+OK\r\nSubject: one\r\n\r\nfirst\r\n"),
        ("gap", (S, 20)),  # the rest of message 1 and its ".", say
        (C, b"RETR 2\r\n"),
        (S, b"+OK\r\nSubject: two\r\n\r\nsecond\r\n.\r\n"),
    ]
    result = run("pop3", steps)
    first, second = result[1], result[2]
    assert first[1:4] == ("RETR 1", b"Subject: one\r\n\r\nfirst\r\n", False)
    assert first[5] == [(len(b"Subject: one\r\n\r\nfirst\r\n"), 20)]
    assert second[1:4] == ("RETR 2", b"Subject: two\r\n\r\nsecond\r\n", True)


def test_imap_expunge_is_a_deletion_in_the_selected_mailbox():
    steps = IMAP[:7] + [
        (C, b"a3 STORE 2 +FLAGS (\\Deleted)\r\n"),
        (S, b"* 2 FETCH (FLAGS (\\Deleted))\r\na3 OK\r\n"),
        (C, b"a4 EXPUNGE\r\n"),
        (S, b"* 2 EXPUNGE\r\n* 2 EXISTS\r\na4 OK\r\n"),
    ]
    machine = ImapMachine()
    builder = MailboxSessionBuilder(
        "imap", machine, "s1", "t", Endpoints("a", 1, "b", 2), 0
    )
    for ts, (direction, data) in enumerate(steps):
        builder.data(direction, data, ts)
    (session,) = builder.close(99, "fin")
    assert session.deleted == [
        {
            "mailbox": "INBOX",
            "mailbox_raw": "INBOX",
            "number": 2,
            "command": "a4 EXPUNGE",
        }
    ]
    assert session.mailbox_messages == 2


def _chunked(sizes_known: bool):
    whole = MESSAGE * 3  # 75 bytes
    size = b" RFC822.SIZE %d" % len(whole) if sizes_known else b""
    steps = IMAP[:7]
    for tag, origin in ((b"c1", 0), (b"c2", 30), (b"c3", 60)):
        chunk = whole[origin : origin + 30]
        steps += [
            (
                C,
                tag + b" UID FETCH 7 (UID RFC822.SIZE BODY.PEEK[]<%d.30>)\r\n" % origin,
            ),
            (
                S,
                b"* 2 FETCH (UID 7%s BODY[]<%d> {%d}\r\n" % (size, origin, len(chunk))
                + chunk
                + b")\r\n"
                + tag
                + b" OK\r\n",
            ),
        ]
    return whole, steps


@pytest.mark.parametrize("sizes_known", [True, False])
def test_imap_chunked_fetches_are_joined_into_the_whole_message(sizes_known):
    whole, steps = _chunked(sizes_known)
    result = run("imap", steps)
    chunks = [r for r in result if r[0] == "message" and r[4]]
    assert [r[4] for r in chunks] == ["BODY[]<0.30>", "BODY[]<30.30>", "BODY[]<60.15>"]
    (joined,) = [r for r in result if r[0] == "message" and not r[4]]
    assert joined[2] == whole and joined[3] is True and joined[7] == 7


def test_imap_chunks_with_a_hole_are_not_joined():
    whole, steps = _chunked(True)
    del steps[-4:-2]  # the middle chunk's command and response
    result = run("imap", steps)
    assert all(r[4] for r in result if r[0] == "message")  # only the partial records


def test_imap_connection_cut_inside_a_literal_says_how_much_is_missing():
    steps = IMAP[:7] + [
        (C, b"a3 FETCH 1 BODY[]\r\n"),
        (S, b"* 1 FETCH (BODY[] {100}\r\n" + b"x" * 60),
    ]
    message = run("imap", steps)[1]
    assert message[2] == b"x" * 60 and message[5] == [(60, 40)] and message[3] is False


def test_pop3_login_whose_answer_is_lost_stays_with_unknown_outcome():
    steps = [
        (S, b"+OK hi\r\n"),
        (C, b"USER alice\r\n"),
        (S, b"+OK\r\n"),
        (C, b"PASS secret\r\n"),
        ("gap", (S, 17)),
        (C, b"STAT\r\n"),
        (S, b"+OK 1 10\r\n"),
    ]
    result = run("pop3", steps)
    assert result[0] == ("login", "USER", "alice", "secret", None, None)
    assert result[1][2] == 1  # STAT after the gap still counted


def _extract(frames):
    import io

    import pcapgen

    from smtpcore import pipeline

    buffer = io.BytesIO()
    pcapgen.write_pcap(buffer, frames)
    buffer.seek(0)
    items = []
    for item in pipeline.extract(buffer, source="x", warn=lambda _: None, mime=False):
        if isinstance(item, Message):
            items.append(("message", item.command, item.content.open().read()))
        elif isinstance(item, Credential):
            items.append(("login", item.username, item.password, item.success))
        else:
            items.append(("session", item.protocol))
    return items


def test_pop3_capture_starting_inside_a_retr_body_on_port_110():
    import pcapgen

    frames = pcapgen.tcp_conversation(
        server=("10.0.0.2", 110),
        handshake=False,
        exchanges=[
            (1, b"rest of a message\r\n.line\r\n.\r\n"),
            (0, b"RETR 2\r\n"),
            (1, b"+OK\r\nSubject: two\r\n\r\nbody\r\n.\r\n"),
            (0, b"QUIT\r\n"),
            (1, b"+OK bye\r\n"),
        ],
    )
    assert _extract(frames) == [
        ("message", "(not captured)", b"rest of a message\r\nline\r\n"),
        ("message", "RETR 2", b"Subject: two\r\n\r\nbody\r\n"),
        ("session", "pop3"),
    ]


def test_ftp_on_the_pop3_port_is_not_pop3():
    import pcapgen

    frames = pcapgen.tcp_conversation(
        server=("10.0.0.2", 110),
        exchanges=[
            (1, b"220 ProFTPD ready\r\n"),
            (0, b"USER anonymous\r\n"),
            (1, b"331 Password required\r\n"),
            (0, b"PASS guest\r\n"),
            (1, b"230 ok\r\n"),
        ],
    )
    # Not POP3 (whether SMTP's detector still takes FTP's 220 greeting is its own
    # business: h-smtp's change to smtp/detect.py).
    assert [item for item in _extract(frames) if item[0] != "session"] == []
    assert ("session", "pop3") not in _extract(frames)


def test_imap_capture_starting_inside_a_literal_on_port_143():
    import pcapgen

    frames = pcapgen.tcp_conversation(
        server=("10.0.0.2", 143),
        handshake=False,
        exchanges=[
            (1, b"rest of a message\r\n* a bullet line\r\n)\r\n"),
            (1, b"a7 OK Fetch completed\r\n"),
            (0, b"a8 FETCH 2 BODY[]\r\n"),
            (1, b"* 2 FETCH (BODY[] {6}\r\nwhole!)\r\na8 OK\r\n"),
        ],
    )
    assert _extract(frames) == [
        ("message", "(not captured)", b"rest of a message\r\n* a bullet line\r\n)\r\n"),
        ("message", "a8 FETCH 2 BODY[]", b"whole!"),
        ("session", "imap"),
    ]


def test_modified_utf7_mailbox_names_decoded_and_kept_as_sent():
    assert utf7.decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-") == "~peter/mail/台北/日本語"
    assert utf7.decode("Entw&APw-rfe") == "Entwürfe"
    assert utf7.decode("A&-B") == "A&B"
    assert utf7.decode("INBOX") == "INBOX"
    for invalid in ("&Ti1", "&Ti1l-", "&AGE-", "&a*b-"):
        assert utf7.decode(invalid) is None
    body = b"Subject: x\r\n\r\nhi\r\n"
    steps = [
        (S, b"* OK ready\r\n"),
        (C, b'a1 LOGIN alice "pw"\r\n'),
        (S, b"a1 OK\r\n"),
        (C, b'a2 SELECT "&Ti1lhw-"\r\n'),
        (S, b"* 1 EXISTS\r\na2 OK [READ-WRITE] done\r\n"),
        (C, b"a3 FETCH 1 (BODY[])\r\n"),
        (S, b"* 1 FETCH (BODY[] {%d}\r\n%s)\r\na3 OK\r\n" % (len(body), body)),
        (C, b"a4 APPEND &Ti1l- {%d}\r\n" % len(body)),
        (S, b"+ go\r\n"),
        (C, body + b"\r\n"),
        (S, b"a4 OK\r\n"),
        (C, b"a5 LOGOUT\r\n"),
        (S, b"* BYE\r\na5 OK\r\n"),
    ]
    machine = ImapMachine()
    builder = MailboxSessionBuilder(
        "imap", machine, "s1", "t", Endpoints("10.0.0.2", 40000, "10.0.0.1", 143), 0
    )
    out = []
    for ts, (direction, data) in enumerate(steps, 1):
        out += builder.data(direction, data, ts)
    out += builder.close(99, "fin")
    messages = [item for item in out if isinstance(item, Message)]
    assert [(m.kind, m.mailbox, m.mailbox_raw) for m in messages] == [
        ("retrieved", "中文", "&Ti1lhw-"),
        ("appended", "&Ti1l-", "&Ti1l-"),  # not valid: kept as sent, with a warning
    ]
    for message in messages:
        assert message.content.open().read() == body
        message.content.release()
    (session,) = [item for item in out if isinstance(item, Session)]
    assert [(e["mailbox"], e["mailbox_raw"]) for e in session.mailboxes] == [
        ("中文", "&Ti1lhw-")
    ]
    assert session.warnings == [
        "session s1: mailbox name '&Ti1l-' is not valid modified UTF-7; kept as sent"
    ]


@pytest.mark.parametrize("status", [b"NO [LIMIT] literal too big", b"BAD no literals"])
def test_imap_login_refused_before_its_literal_is_an_attempt_refused(status):
    steps = [
        (S, b"* OK ready\r\n"),
        (C, b"a1 LOGIN alice {99999}\r\n"),
        (S, b"a1 " + status + b"\r\n"),
        (C, b"a2 LOGIN {3}\r\n"),
        (S, b"a2 " + status + b"\r\n"),
        (C, b'a3 LOGIN bob "s3cret"\r\n'),
        (S, b"a3 OK logged in\r\n"),
        (C, b"a4 LOGOUT\r\n"),
        (S, b"* BYE\r\na4 OK\r\n"),
    ]
    result = run("imap", steps)
    logins = [item for item in result if item[0] == "login"]
    assert logins == [
        ("login", "LOGIN", "alice", None, False, None),
        ("login", "LOGIN", None, None, False, None),
        ("login", "LOGIN", "bob", "s3cret", True, None),
    ]
    (session,) = [item for item in result if item[0] == "session"]
    reply = "a1 " + status.decode()
    assert session[4] == [
        f"session s1: LOGIN refused before its literal was sent ({reply!r} in place "
        "of the continuation): the password never sent",
        f"session s1: LOGIN refused before its literal was sent ({'a2 ' + status.decode()!r} "
        "in place of the continuation): the user name and password never sent",
    ]
