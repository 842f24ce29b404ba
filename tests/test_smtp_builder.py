"""SessionBuilder: machine events become Session, Message and Credential objects."""

from __future__ import annotations

import base64
import hashlib

from smtp_helpers import (
    BDAT_SESSION,
    BDAT_SESSION_MESSAGE,
    FULL_SESSION,
    FULL_SESSION_MESSAGE,
    C,
    S,
    client_hello,
)
from smtpcore.model import Credential, Endpoints, Message, Session
from smtpcore.smtp.builder import SessionBuilder

ENDPOINTS = Endpoints("192.0.2.10", 40000, "192.0.2.25", 25)


def build(conversation, reason="fin", step_ns=1000):
    """Feeds a conversation at increasing times; returns (outputs, per-step outputs)."""
    builder = SessionBuilder("s7", "test.pcap", ENDPOINTS, 1_000)
    steps = []
    ts = 1_000
    for direction, data in conversation:
        ts += step_ns
        steps.append(builder.data(direction, data, ts))
    ts += step_ns
    steps.append(builder.close(ts, reason))
    return [item for step in steps for item in step], steps


def test_full_session():
    items, steps = build(FULL_SESSION)
    credential, message, session = items
    assert isinstance(credential, Credential) and isinstance(message, Message)
    assert isinstance(session, Session)
    # Returned as soon as complete: the credential right after 235, the message
    # right after the reply to the end of data.
    assert steps[4] == [credential] and steps[13] == [message]

    assert credential.session_id == "s7" and credential.time_ns == 5_000
    assert (credential.mechanism, credential.username, credential.password) == (
        "PLAIN",
        "alice",
        "s3cret",
    )
    assert credential.password_bytes == b"s3cret" and credential.success is True
    assert credential.endpoints == ENDPOINTS

    assert message.id == "s7-1" and message.session_id == "s7"
    assert (message.helo, message.auth_user) == ("client.example.org", "alice")
    assert message.mail_from == "alice@example.org"
    assert message.mail_parameters == "SIZE=120 BODY=8BITMIME"
    assert message.rcpt_to == ["bob@example.org"]
    assert message.recipients[0].parameters == "NOTIFY=NEVER"
    assert (message.accepted, message.queue_id) == (True, "4XyZ12AbC")
    assert message.reply == "250 2.0.0 Ok: queued as 4XyZ12AbC"
    assert (message.start_ns, message.time_ns) == (7_000, 14_000)
    assert message.data_sent and message.complete
    assert message.size == len(FULL_SESSION_MESSAGE) == 95
    assert message.sha1 == "de2f3db300c29e4fb137aedb6e781431e20b0975"
    assert message.sha1 == hashlib.sha1(FULL_SESSION_MESSAGE).hexdigest()
    assert message.md5 == hashlib.md5(FULL_SESSION_MESSAGE).hexdigest()
    assert message.sha256 == hashlib.sha256(FULL_SESSION_MESSAGE).hexdigest()
    assert message.content.open().read() == FULL_SESSION_MESSAGE
    assert message.missing_bytes == 0 and message.missing_ranges == []
    assert message.warnings == []
    message.content.release()

    assert session.session_id == "s7" and session.source == "test.pcap"
    assert session.banner == "220 mx.example.org ESMTP Postfix"
    assert session.helo == "client.example.org"
    assert session.extensions == [
        "PIPELINING",
        "SIZE 10240000",
        "AUTH PLAIN LOGIN",
        "8BITMIME",
        "CHUNKING",
    ]
    assert (session.messages, session.auth_attempts, session.auth_user) == (
        1,
        1,
        "alice",
    )
    assert session.complete and session.close_reason == "fin"
    assert not session.starttls and not session.encrypted
    assert (session.start_ns, session.end_ns) == (1_000, 18_000)
    assert session.warnings == []


def test_bdat_message_hashes():
    items, _ = build(BDAT_SESSION)
    message = items[0]
    assert message.sha1 == hashlib.sha1(BDAT_SESSION_MESSAGE).hexdigest()
    assert message.size == 18 and message.queue_id == "1E2891CA025"
    assert message.content.open().read() == BDAT_SESSION_MESSAGE


def test_rejected_recipients_give_a_message_without_content():
    items, _ = build(
        [
            (S, b"220 mx\r\n"),
            (C, b"HELO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
            (S, b"250 mx\r\n250 ok\r\n550 5.1.1 no such user\r\n554 no recipients\r\n"),
            (C, b"QUIT\r\n"),
            (S, b"221 bye\r\n"),
        ]
    )
    message, session = items
    assert message.data_sent is False and message.content is None
    assert message.accepted is False and message.reply == "554 no recipients"
    assert message.rcpt_to == []
    assert [(r.address, r.reply) for r in message.rcpt_rejected] == [
        ("b@x", "550 5.1.1 no such user")
    ]
    assert (message.size, message.sha1) == (0, None)
    assert message.time_ns == 5_000  # the QUIT that ended it
    assert session.messages == 1 and session.complete


def test_gap_fills_missing_ranges_and_session_is_incomplete():
    builder = SessionBuilder("g1", "x", ENDPOINTS, 0)
    out = builder.data(S, b"220 mx\r\n", 1)
    out += builder.data(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", 2)
    out += builder.data(S, b"250 ok\r\n250 ok\r\n354 go\r\n", 3)
    out += builder.data(C, b"0123456789\r\n", 4)
    out += builder.gap(C, 700, 5)
    out += builder.data(C, b"tail\r\n.\r\n", 6)
    out += builder.data(S, b"250 ok\r\n", 7)
    out += builder.data(C, b"QUIT\r\n", 8)
    out += builder.close(9, "fin")
    message, session = out
    assert message.content.open().read() == b"0123456789\r\ntail\r\n"
    assert message.missing_ranges == [(12, 700)] and message.missing_bytes == 700
    assert not message.complete
    assert message.warnings == [
        "transaction 1: 700 bytes of message content lost at content offset 12"
    ]
    assert not session.complete
    assert session.warnings == [
        "session g1 (client): transaction 1: 700 bytes of message content lost at "
        "content offset 12"
    ]


def test_cut_connection_returns_the_partial_message_before_the_session():
    items, _ = build(
        [
            (S, b"220 mx\r\n"),
            (C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
            (S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
            (C, b"partial content"),
        ],
        reason="rst",
    )
    message, session = items
    assert message.content.open().read() == b"partial content"
    assert not message.complete and message.accepted is None
    assert any("before the end-of-data marker" in w for w in message.warnings)
    assert session.close_reason == "rst" and not session.complete


def test_capture_starting_inside_data_keeps_the_tail():
    items, _ = build(
        [
            (C, b"end of a body\r\n.\r\n"),
            (S, b"250 OK id=1xyz-0001\r\n"),
            (C, b"QUIT\r\n"),
        ]
    )
    message, session = items
    assert message.content.open().read() == b"end of a body\r\n"
    assert message.mail_from == "" and not message.complete
    assert message.queue_id == "1xyz-0001" and message.accepted is True
    assert any("MAIL FROM not captured" in w for w in message.warnings)
    assert session.banner is None and not session.complete


def test_starttls_session():
    items, _ = build(
        [
            (S, b"220 mx\r\n"),
            (C, b"EHLO c\r\n"),
            (S, b"250-mx\r\n250 STARTTLS\r\n"),
            (C, b"STARTTLS\r\n"),
            (S, b"220 2.0.0 Ready to start TLS\r\n"),
            (C, client_hello("mx.example.net")),
            (S, b"\x16\x03\x03\x00\x10" + bytes(16)),
        ]
    )
    (session,) = items
    assert session.starttls and session.encrypted
    assert not session.starttls_plaintext
    assert session.tls_server_name == "mx.example.net"
    assert session.messages == 0 and session.complete


def test_session_decrypted_after_starttls():
    items, _ = build(
        [
            (S, b"220 mx\r\n"),
            (C, b"EHLO c\r\n"),
            (S, b"250-mx\r\n250 STARTTLS\r\n"),
            (C, b"STARTTLS\r\n"),
            (S, b"220 2.0.0 Ready to start TLS\r\n"),
            (C, b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
            (S, b"250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
            (C, b"x\r\n.\r\nQUIT\r\n"),
            (S, b"250 ok\r\n221 bye\r\n"),
        ]
    )
    message, session = items
    assert message.content.open().read() == b"x\r\n" and message.complete
    assert session.starttls and session.starttls_plaintext
    assert not session.encrypted
    assert session.messages == 1 and session.complete


def test_auth_user_of_messages_follows_the_session():
    login = base64.b64encode(b"\0dave\0pw")
    items, _ = build(
        [
            (S, b"220 mx\r\n"),
            (C, b"EHLO one\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRSET\r\n"),
            (S, b"250 mx\r\n250 ok\r\n250 ok\r\n250 ok\r\n"),
            (C, b"AUTH PLAIN " + login + b"\r\n"),
            (S, b"235 ok\r\n"),
            (C, b"HELO two\r\nMAIL FROM:<c@x>\r\nQUIT\r\n"),
            (S, b"250 two\r\n250 ok\r\n221 bye\r\n"),
        ]
    )
    first, credential, second, session = items
    assert (first.id, first.helo, first.auth_user) == ("s7-1", "one", None)
    assert credential.username == "dave"
    assert (second.id, second.helo, second.auth_user) == ("s7-2", "two", "dave")
    assert session.messages == 2 and session.helo == "two"


def test_auth_decoding_problems_reach_the_session_warnings():
    # "dXNlcg" lacks its padding: decoded anyway, and the session says so.
    conversation = [
        (S, b"220 mx.example.org ESMTP\r\n"),
        (C, b"EHLO client\r\n"),
        (S, b"250-mx.example.org\r\n250 AUTH LOGIN\r\n"),
        (C, b"AUTH LOGIN dXNlcg\r\n"),
        (S, b"334 UGFzc3dvcmQ6\r\n"),
        (C, base64.b64encode(b"pw") + b"\r\n"),
        (S, b"235 2.7.0 ok\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"221 bye\r\n"),
    ]
    items, _ = build(conversation)
    credential, session = items
    assert (credential.username, credential.password) == ("user", "pw")
    assert session.warnings == [
        "session s7: AUTH LOGIN: AUTH line: missing or wrong base64 padding"
    ]


def test_many_gaps_in_one_message_are_all_ranged_but_not_all_worded():
    builder = SessionBuilder("s7", "test.pcap", ENDPOINTS, 1_000)
    builder.data(S, b"220 mx ESMTP\r\n", 2_000)
    builder.data(
        C, b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n", 3_000
    )
    builder.data(S, b"250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n", 4_000)
    for n in range(100):
        builder.data(C, b"line\r\n", 5_000 + n)
        builder.gap(C, 10, 5_000 + n)
    items = builder.data(C, b"\r\n.\r\n", 9_000) + builder.data(
        S, b"250 queued\r\n", 9_500
    )
    items += builder.close(10_000, "fin")
    message = next(i for i in items if isinstance(i, Message))
    assert message.missing_bytes == 1000 and len(message.missing_ranges) == 100
    assert message.missing_ranges[1] == (12, 10)  # offsets in the bytes kept
    gap_notes = [w for w in message.warnings if "bytes of message content lost" in w]
    assert len(gap_notes) == 20
    assert gap_notes[-1].endswith("further gaps in this message are not listed here")


# -- a record is complete only when every byte of it was seen (issue 9.3) ----------


def build_events(steps, reason="fin"):
    """Feeds ("data"|"gap", direction, bytes|length) steps; returns every output."""
    builder = SessionBuilder("s9", "test.pcap", ENDPOINTS, 1_000)
    out = []
    for ts, (kind, direction, value) in enumerate(steps, 2_000):
        if kind == "data":
            out += builder.data(direction, value, ts)
        else:
            out += builder.gap(direction, value, ts)
    out += builder.close(10_000, reason)
    return out


_ENVELOPE = [
    ("data", S, b"220 mx ESMTP\r\n"),
    ("data", C, b"EHLO c\r\n"),
    ("data", S, b"250-mx\r\n250 CHUNKING\r\n"),
    ("data", C, b"MAIL FROM:<a@x>\r\n"),
    ("data", S, b"250 ok\r\n"),
    ("data", C, b"RCPT TO:<b@x>\r\n"),
    ("data", S, b"250 ok\r\n"),
]
_BDAT_BODY = bytes(range(256)) * 22  # 5632 bytes


def test_bdat_cut_by_the_end_of_the_connection_is_incomplete_with_its_missing_bytes():
    received = _BDAT_BODY[:976]
    items = build_events(
        _ENVELOPE + [("data", C, b"BDAT 5506 LAST\r\n" + received)], reason="rst"
    )
    message, session = items
    assert message.content.open().read() == received
    assert (message.complete, message.size) == (False, 976)
    assert (message.missing_bytes, message.missing_ranges) == (4530, [(976, 4530)])
    assert message.missing_end and not message.missing_start
    assert message.sha256 == hashlib.sha256(received).hexdigest()
    assert any("4530 bytes of a BDAT chunk not seen" in w for w in message.warnings)
    assert not session.complete


def test_gap_inside_a_bdat_chunk_is_a_missing_range():
    items = build_events(
        _ENVELOPE
        + [
            ("data", C, b"BDAT 5506 LAST\r\n" + _BDAT_BODY[:976]),
            ("gap", C, 4000),
            ("data", C, _BDAT_BODY[4976:5506] + b"QUIT\r\n"),
            ("data", S, b"250 2.0.0 Ok: queued as Q1\r\n221 bye\r\n"),
        ]
    )
    message, session = items
    assert message.content.open().read() == _BDAT_BODY[:976] + _BDAT_BODY[4976:5506]
    assert (message.complete, message.accepted, message.queue_id) == (False, True, "Q1")
    assert (message.missing_bytes, message.missing_ranges) == (4000, [(976, 4000)])
    assert not message.missing_end
    assert not session.complete


def test_data_cut_by_the_end_of_the_capture_is_incomplete_at_its_end():
    items = build_events(
        _ENVELOPE
        + [
            ("data", C, b"DATA\r\n"),
            ("data", S, b"354 go\r\n"),
            ("data", C, b"Subject: cut\r\n\r\nfirst part"),
        ],
        reason="end",
    )
    message, _ = items
    assert message.content.open().read() == b"Subject: cut\r\n\r\nfirst part"
    assert (message.complete, message.missing_end, message.missing_bytes) == (
        False,
        True,
        0,
    )


def test_gap_inside_data_content_is_a_missing_range():
    items = build_events(
        _ENVELOPE
        + [
            ("data", C, b"DATA\r\n"),
            ("data", S, b"354 go\r\n"),
            ("data", C, b"Subject: gap\r\n\r\n0123"),
            ("gap", C, 1460),
            ("data", C, b"tail\r\n.\r\n"),
            ("data", S, b"250 ok\r\n"),
        ]
    )
    message, _ = items
    assert message.content.open().read() == b"Subject: gap\r\n\r\n0123tail\r\n"
    assert (message.complete, message.missing_ranges) == (False, [(20, 1460)])
    assert not message.missing_end


def test_gap_in_the_dialogue_of_an_open_transaction_makes_it_incomplete():
    """The lost bytes may have held more RCPTs, or DATA and the whole content."""
    items = build_events(_ENVELOPE + [("gap", C, 900), ("data", C, b"QUIT\r\n")])
    message, session = items
    assert message.data_sent is False and message.complete is False
    assert any("900 bytes of the client dialogue lost" in w for w in message.warnings)
    assert not session.complete


def test_gap_in_the_dialogue_between_transactions_leaves_finished_ones_complete():
    items = build_events(
        _ENVELOPE
        + [
            ("data", C, b"DATA\r\n"),
            ("data", S, b"354 go\r\n"),
            ("data", C, b"x\r\n.\r\n"),
            ("data", S, b"250 ok\r\n"),
            ("gap", C, 50),
            ("data", C, b"QUIT\r\n"),
            ("data", S, b"221 bye\r\n"),
        ]
    )
    message, session = items
    assert message.complete and message.missing_ranges == []
    assert not session.complete
    assert any(
        "50 bytes of the client command stream lost" in w for w in session.warnings
    )


def test_content_after_a_smuggling_end_marker_is_dropped_from_the_message():
    items = build_events(
        _ENVELOPE
        + [
            ("data", C, b"DATA\r\n"),
            ("data", S, b"354 go\r\n"),
            ("data", C, b"Subject: t\n\n" + b"x" * 5000 + b"\n.\nQUIT\n"),
            ("data", S, b"250 2.0.0 Ok: queued as Q9\r\n221 bye\r\n"),
        ]
    )
    message, session = items
    expected = b"Subject: t\n\n" + b"x" * 5000 + b"\n"
    assert message.content.open().read() == expected
    assert (message.size, message.md5, message.sha1, message.sha256) == (
        len(expected),
        hashlib.md5(expected).hexdigest(),
        hashlib.sha1(expected).hexdigest(),
        hashlib.sha256(expected).hexdigest(),
    )
    assert message.complete and message.queue_id == "Q9"
    assert [
        (i.marker, i.offset, i.ended_data) for i in message.smuggling_indicators
    ] == [(b"\n.\n", 5012, True)]
    assert session.smuggling_suspected and session.complete


def test_end_of_data_lost_with_its_reply_ends_the_content_at_the_gap():
    """Snapshot-cut frames: the end marker in a client gap, the 250 in a server gap."""
    items = build_events(
        _ENVELOPE
        + [
            ("data", C, b"DATA\r\n"),
            ("data", S, b"354 go\r\n"),
            ("data", C, b"Date: Sun, 29 Nov 2026 10:00:0"),
            ("gap", C, 260),
            ("gap", S, 7),
            ("data", C, b"QUIT\r\n"),
            ("data", S, b"221 2.0.0 Bye\r\n"),
        ]
    )
    message, session = items
    assert message.content.open().read() == b"Date: Sun, 29 Nov 2026 10:00:0"
    assert (message.complete, message.accepted, message.missing_end) == (
        False,
        None,
        True,
    )
    assert message.missing_ranges == [(30, 260)]
    assert not session.complete
    assert not any("unknown client command" in w for w in session.warnings)


def test_bdat_chunk_without_its_mail_from_may_miss_earlier_chunks():
    """A capture that starts (or a ring buffer that wraps) inside a BDAT message."""
    items = build_events(
        [
            ("data", C, b"BDAT 5 LAST\r\nabcde"),
            ("data", S, b"250 2.0.0 Ok: queued as B1\r\n"),
            ("data", C, b"QUIT\r\n"),
            ("data", S, b"221 bye\r\n"),
        ]
    )
    message, _ = items
    assert message.content.open().read() == b"abcde"
    assert (message.complete, message.missing_start, message.accepted) == (
        False,
        True,
        True,
    )
    assert any("earlier chunks" in w for w in message.warnings)


def test_data_without_its_mail_from_has_all_its_content():
    items = build_events(
        [
            ("data", C, b"DATA\r\n"),
            ("data", S, b"354 go\r\n"),
            ("data", C, b"x\r\n.\r\n"),
            ("data", S, b"250 ok\r\n"),
        ]
    )
    message, _ = items
    assert message.content.open().read() == b"x\r\n"
    assert message.complete and not message.missing_start
    assert any("MAIL FROM not captured" in w for w in message.warnings)


def test_gap_from_inside_a_bdat_chunk_into_the_next_command():
    """50 bytes of the chunk and the next BDAT command with its chunk were lost."""
    items = build_events(
        _ENVELOPE
        + [
            ("data", C, b"BDAT 100\r\n" + _BDAT_BODY[:50]),
            ("gap", C, 50 + 200),
            ("data", C, b"QUIT\r\n"),
            ("data", S, b"250 2.0.0 100 bytes\r\n221 bye\r\n"),
        ]
    )
    message, session = items
    assert message.content.open().read() == _BDAT_BODY[:50]
    assert message.complete is False
    assert (message.missing_bytes, message.missing_ranges) == (50, [(50, 50)])
    assert any("200 bytes of the client dialogue lost" in w for w in message.warnings)
    assert not session.complete


def test_server_gap_in_a_later_data_does_not_end_it_for_an_earlier_content_gap():
    items = build_events(
        _ENVELOPE
        + [
            ("data", C, b"DATA\r\n"),
            ("data", S, b"354 go\r\n"),
            ("data", C, b"a"),
            ("gap", C, 10),
            ("data", S, b"250 ok\r\n"),
            ("data", C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
            ("data", S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
            ("gap", S, 5),
            ("data", C, b"second\r\n.\r\n"),
            ("data", S, b"250 2.0.0 Ok: queued as Q2\r\n"),
        ]
    )
    first, second, _ = items
    assert first.complete is False and first.missing_ranges == [(1, 10)]
    assert second.content.open().read() == b"second\r\n"
    assert second.complete and second.queue_id == "Q2"
