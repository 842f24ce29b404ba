"""The sans-IO SMTP machine on crafted conversations, whole and split every way."""

from __future__ import annotations

import base64

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smtp_helpers import (
    BDAT_SESSION,
    BDAT_SESSION_MESSAGE,
    FULL_SESSION,
    FULL_SESSION_MESSAGE,
    C,
    S,
    client_hello,
    content,
    feed,
    feed_split,
    normalised,
    of,
)
from smtpcore.model import SmugglingIndicator
from smtpcore.smtp import events as ev
from smtpcore.smtp.session import (
    MAX_LINE,
    SmtpMachine,
    client_hello_server_name,
    parse_parameters,
    parse_path,
    queue_id,
)


def only(events, kind):
    found = of(events, kind)
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------ full session


def test_full_session_envelope_auth_and_dot_unstuffed_content():
    events = feed(FULL_SESSION)
    assert only(events, ev.Greeting).text == "mx.example.org ESMTP Postfix"
    assert only(events, ev.Helo).hostname == "client.example.org"
    assert only(events, ev.Extensions).extensions == [
        "PIPELINING",
        "SIZE 10240000",
        "AUTH PLAIN LOGIN",
        "8BITMIME",
        "CHUNKING",
    ]
    finished = only(events, ev.AuthFinished)
    assert finished.mechanism == "PLAIN"
    assert finished.result["username"] == "alice"
    assert finished.result["password"] == "s3cret"
    assert finished.result["success"] is True
    mail = only(events, ev.MailFrom)
    assert mail.address == "alice@example.org"
    assert mail.parameter_map == {"SIZE": "120", "BODY": "8BITMIME"}
    assert content(events) == FULL_SESSION_MESSAGE
    end = only(events, ev.TransactionEnd)
    assert end.accepted is True
    assert end.queue_id == "4XyZ12AbC"
    assert end.complete and end.data_sent and end.missing_bytes == 0
    assert [(r.address, r.parameters, r.accepted) for r in end.recipients] == [
        ("bob@example.org", "NOTIFY=NEVER", True)
    ]
    closed = events[-1]
    assert isinstance(closed, ev.Closed)
    assert closed.greeting_seen and closed.quit_seen and not closed.gap_seen
    assert not of(events, ev.Anomaly)
    assert [e.command for e in of(events, ev.Reply)] == [
        None, "EHLO", "AUTH", "MAIL", "RCPT", "DATA", ".", "QUIT"
    ]  # fmt: skip


def test_event_order_of_a_transaction():
    kinds = [type(e).__name__ for e in normalised(feed(FULL_SESSION))]
    start = kinds.index("MailFrom")
    assert kinds[start:] == [
        "MailFrom", "Reply", "Command", "Reply", "RcptTo", "Command", "Reply",
        "DataStart", "MessageData", "DataEnd", "Reply", "TransactionEnd", "Command",
        "Reply", "Closed",
    ]  # fmt: skip


# --------------------------------------------------------------- byte splitting


@pytest.mark.parametrize("conversation", [FULL_SESSION, BDAT_SESSION])
def test_every_single_cut_gives_the_same_events(conversation):
    reference = normalised(feed(conversation))
    for index, (_, data) in enumerate(conversation):
        for point in range(1, len(data)):
            cuts = [[] for _ in conversation]
            cuts[index] = [point]
            assert normalised(feed_split(conversation, cuts)) == reference


@pytest.mark.parametrize("conversation", [FULL_SESSION, BDAT_SESSION])
def test_byte_by_byte_gives_the_same_events(conversation):
    cuts = [list(range(1, len(data))) for _, data in conversation]
    assert normalised(feed_split(conversation, cuts)) == normalised(feed(conversation))


def _cuts_strategy(conversation):
    return st.tuples(
        *[
            st.lists(st.integers(1, max(1, len(data) - 1)), max_size=8)
            for _, data in conversation
        ]
    )


@settings(max_examples=150, deadline=None)
@given(cuts=_cuts_strategy(BDAT_SESSION))
def test_bdat_any_split(cuts):
    events = feed_split(BDAT_SESSION, cuts)
    assert normalised(events) == normalised(feed(BDAT_SESSION))
    assert content(events) == BDAT_SESSION_MESSAGE


@settings(max_examples=150, deadline=None)
@given(cuts=_cuts_strategy(FULL_SESSION))
def test_data_any_split(cuts):
    events = feed_split(FULL_SESSION, cuts)
    assert normalised(events) == normalised(feed(FULL_SESSION))
    assert content(events) == FULL_SESSION_MESSAGE


@settings(max_examples=200, deadline=None)
@given(
    body=st.lists(
        st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b".\r\n", b"x.y"]),
        max_size=30,
    ),
    cuts=st.lists(st.integers(1, 200), max_size=6),
)
def test_dot_unstuffing_matches_a_reference_decoder(body, cuts):
    """Any content, any split: the machine agrees with a naive line decoder."""
    raw = b"".join(body)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    stream = raw + b".\r\nQUIT\r\n"
    # The reference: split after each CRLF, stop at a "." line, drop one leading dot.
    lines, start = [], 0
    while True:
        end = stream.index(b"\r\n", start) + 2
        line = stream[start:end]
        start = end
        if line == b".\r\n":
            break
        lines.append(line[1:] if line.startswith(b".") else line)
    expected = b"".join(lines)
    head = [(C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")]
    events = feed_split(head + [(C, stream)], [[], cuts])
    assert content(events) == expected
    assert of(events, ev.Command)[-1].verb == "QUIT"
    assert only(events, ev.DataEnd).complete


# ----------------------------------------------------------------- pipelining


def test_pipelining_in_one_segment_with_a_rejected_recipient():
    events = feed(
        [
            (S, b"220 mx ESMTP\r\n"),
            (C, b"EHLO c\r\n"),
            (S, b"250-mx\r\n250 PIPELINING\r\n"),
            (
                C,
                b"MAIL FROM:<a@example.org>\r\nRCPT TO:<one@example.org>\r\n"
                b"RCPT TO:<nobody@example.org>\r\nRCPT TO:<two@example.org>\r\n"
                b"DATA\r\n",
            ),
            (
                S,
                b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                b"550 5.1.1 <nobody@example.org>: Recipient address rejected\r\n"
                b"250 2.1.5 Ok\r\n354 go ahead\r\n",
            ),
            (C, b"hello\r\n.\r\nQUIT\r\n"),
            (S, b"250 2.0.0 Ok: queued as 99AA\r\n221 Bye\r\n"),
        ]
    )
    outcomes = [(r.address, r.accepted, r.reply) for r in of(events, ev.RcptTo)]
    assert outcomes == [
        ("one@example.org", True, "250 2.1.5 Ok"),
        (
            "nobody@example.org",
            False,
            "550 5.1.1 <nobody@example.org>: Recipient address rejected",
        ),
        ("two@example.org", True, "250 2.1.5 Ok"),
    ]
    end = only(events, ev.TransactionEnd)
    assert [r.accepted for r in end.recipients] == [True, False, True]
    assert end.accepted is True and end.queue_id == "99AA"
    assert content(events) == b"hello\r\n"
    assert of(events, ev.Reply)[-1].command == "QUIT"


def test_next_mail_pipelined_before_the_reply_to_the_end_of_data():
    events = feed(
        [
            (S, b"220 mx\r\n"),
            (C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
            (S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
            (C, b"one\r\n.\r\nMAIL FROM:<c@x>\r\nRCPT TO:<d@x>\r\nDATA\r\n"),
            (S, b"250 first queued as AAA1\r\n250 ok\r\n550 no such user\r\n"),
            (S, b"554 5.5.1 Error: no valid recipients\r\n"),
            (C, b"RSET\r\n"),
            (S, b"250 ok\r\n"),
        ]
    )
    first, second = of(events, ev.TransactionEnd)
    assert (first.mail_from, first.accepted, first.queue_id) == ("a@x", True, "AAA1")
    assert (second.mail_from, second.accepted) == ("c@x", False)
    assert second.reply == "554 5.5.1 Error: no valid recipients"
    assert not second.data_sent and second.reason == "RSET"
    assert [r.accepted for r in second.recipients] == [False]


def test_several_transactions_with_rset():
    events = feed(
        [
            (S, b"220 mx\r\n"),
            (C, b"HELO c\r\n"),
            (S, b"250 mx\r\n"),
            (C, b"MAIL FROM:<a@x>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"RCPT TO:<b@x>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"RSET\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"MAIL FROM:<c@x>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"RCPT TO:<d@x>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"DATA\r\n"),
            (S, b"354 go\r\n"),
            (C, b"x\r\n.\r\n"),
            (S, b"250 OK id=1abcDE-000123-Xy\r\n"),
            (C, b"MAIL FROM:<e@x>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"QUIT\r\n"),
            (S, b"221 bye\r\n"),
        ]
    )
    ends = of(events, ev.TransactionEnd)
    assert [(e.transaction, e.mail_from, e.reason) for e in ends] == [
        (1, "a@x", "RSET"),
        (2, "c@x", "reply"),
        (3, "e@x", "QUIT"),
    ]
    assert [e.data_sent for e in ends] == [False, True, False]
    assert ends[1].queue_id == "1abcDE-000123-Xy"
    assert ends[0].accepted is None and ends[1].accepted is True


# ------------------------------------------------------------------------ BDAT


def test_bdat_zero_last_is_an_empty_message():
    events = feed(
        [
            (S, b"220 mx\r\n"),
            (C, b"MAIL FROM:<a@x>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"RCPT TO:<b@x>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"BDAT 0 LAST\r\n"),
            (S, b"250 2.0.0 Ok: 0 bytes queued as 75A291CA025\r\n"),
            (C, b"QUIT\r\n"),
        ]
    )
    assert only(events, ev.DataStart).method == "BDAT"
    assert only(events, ev.DataEnd).complete
    assert content(events) == b""
    end = only(events, ev.TransactionEnd)
    assert end.data_sent and end.complete and end.queue_id == "75A291CA025"


def test_bdat_command_and_chunk_in_one_segment_with_binary_content():
    events = feed(BDAT_SESSION)
    assert content(events) == BDAT_SESSION_MESSAGE
    assert [e.verb for e in of(events, ev.Command)] == [
        "EHLO", "MAIL", "RCPT", "BDAT", "BDAT", "QUIT"
    ]  # fmt: skip
    end = only(events, ev.TransactionEnd)
    assert end.queue_id == "1E2891CA025" and end.accepted is True


def test_bdat_chunk_rejected_fails_the_transaction():
    events = feed(
        [
            (S, b"220 mx\r\n"),
            (C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 3\r\nabcBDAT 2 LAST\r\nde"),
            (S, b"250 ok\r\n250 ok\r\n552 5.3.4 too big\r\n503 5.5.1 no\r\n"),
        ]
    )
    end = only(events, ev.TransactionEnd)
    assert end.accepted is False and end.reply == "503 5.5.1 no"
    assert content(events) == b"abcde"


def test_gap_in_bdat_chunk():
    machine = SmtpMachine()
    events = machine.data(S, b"220 mx\r\n", 1)
    events += machine.data(
        C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 10 LAST\r\nab", 2
    )
    events += machine.gap(C, 5, 3)
    events += machine.data(C, b"cde", 4)
    events += machine.data(S, b"250 ok\r\n250 ok\r\n250 queued as Q1\r\n", 5)
    events += machine.data(C, b"QUIT\r\n", 6)
    events += machine.close(7)
    assert only(events, ev.MessageGap).length == 5
    assert content(events) == b"abcde"
    end = only(events, ev.TransactionEnd)
    assert (end.complete, end.missing_bytes, end.accepted) == (False, 5, True)
    assert of(events, ev.Command)[-1].verb == "QUIT"


def test_gap_longer_than_the_bdat_chunk_resyncs_commands():
    machine = SmtpMachine()
    events = machine.data(C, b"MAIL FROM:<a@x>\r\nBDAT 4 LAST\r\nab", 1)
    events += machine.gap(C, 10, 2)  # 2 chunk bytes + 8 bytes of commands
    events += machine.data(C, b"T\r\nQUIT\r\n", 3)
    events += machine.close(4)
    assert only(events, ev.MessageGap).length == 2
    assert only(events, ev.DataEnd).reason == "BDAT LAST"
    assert [e.verb for e in of(events, ev.Command)] == ["MAIL", "BDAT", "QUIT"]


# ------------------------------------------------------------------------ DATA


def test_empty_data():
    events = feed(
        [
            (C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
            (C, b".\r\n"),
            (C, b"QUIT\r\n"),
        ]
    )
    assert content(events) == b""
    assert only(events, ev.DataEnd).complete
    assert only(events, ev.TransactionEnd).data_sent


def test_data_rejected_then_commands_are_commands_again():
    events = feed(
        [
            (S, b"220 mx\r\n"),
            (C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
            (S, b"250 ok\r\n550 unknown user\r\n554 no valid recipients\r\n"),
            (C, b"QUIT\r\n"),
            (S, b"221 bye\r\n"),
        ]
    )
    assert not of(events, ev.DataStart)
    end = only(events, ev.TransactionEnd)
    assert (end.data_sent, end.accepted, end.reason) == (False, False, "QUIT")
    assert end.reply == "554 no valid recipients"
    assert of(events, ev.Reply)[-1].command == "QUIT"


def test_bare_lf_lines_are_kept_and_reported_once():
    events = feed(
        [
            (S, b"220 mx\r\n"),
            (C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
            (S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
            (C, b"one\ntwo\n.three\r\n..four\n\n.\r\n.\r\n"),
            (S, b"250 ok\r\n"),
        ]
    )
    # Line starts are after CRLF only: ".three" and the "." after LF stay as sent.
    assert content(events) == b"one\ntwo\n.three\r\n.four\n\n.\r\n"
    anomalies = of(events, ev.Anomaly)
    assert len(anomalies) == 2
    assert "bare LF at content offset 3" in anomalies[0].message
    # The "\n.\r\n" line did not end the data (the server waited for CRLF.CRLF),
    # but a server reading bare LF as a line end would have ended there.
    assert "possible SMTP smuggling" in anomalies[1].message
    end = only(events, ev.TransactionEnd)
    assert end.complete and len(end.warnings) == 2
    assert end.smuggling == [SmugglingIndicator(b"\n.\r\n", 22, False)]


def test_gap_in_data_marks_the_message_incomplete():
    machine = SmtpMachine()
    events = machine.data(S, b"220 mx\r\n", 1)
    events += machine.data(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", 2)
    events += machine.data(S, b"250 ok\r\n250 ok\r\n354 go\r\n", 3)
    events += machine.data(C, b"first\r\n", 4)
    events += machine.gap(C, 1460, 5)
    events += machine.data(C, b"last\r\n.\r\n", 6)
    events += machine.data(S, b"250 queued as G1\r\n", 7)
    events += machine.close(8)
    assert only(events, ev.MessageGap).length == 1460
    assert content(events) == b"first\r\nlast\r\n"
    end = only(events, ev.TransactionEnd)
    assert (end.complete, end.missing_bytes, end.accepted) == (False, 1460, True)
    assert end.data_end_ns == 6
    assert only(events, ev.Closed).gap_seen


def test_end_marker_lost_in_a_gap_is_ended_by_the_server_reply():
    machine = SmtpMachine()
    events = machine.data(S, b"220 mx\r\n", 1)
    events += machine.data(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", 2)
    events += machine.data(S, b"250 ok\r\n250 ok\r\n354 go\r\n", 3)
    events += machine.data(C, b"body\r\n", 4)
    events += machine.gap(C, 3, 5)
    events += machine.data(S, b"250 2.0.0 Ok: queued as LOST1\r\n", 6)
    events += machine.data(C, b"QUIT\r\n", 7)
    events += machine.close(8)
    assert only(events, ev.DataEnd).reason == "server reply"
    end = only(events, ev.TransactionEnd)
    assert (end.accepted, end.queue_id, end.complete) == (True, "LOST1", False)
    assert of(events, ev.Command)[-1].verb == "QUIT"


def test_cut_before_the_end_marker():
    events = feed(
        [
            (S, b"220 mx\r\n"),
            (C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
            (S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
            (C, b"Subject: cut\r\n\r\npartial"),
        ]
    )
    assert content(events) == b"Subject: cut\r\n\r\npartial"
    data_end = only(events, ev.DataEnd)
    assert (data_end.complete, data_end.reason) == (False, "closed")
    end = only(events, ev.TransactionEnd)
    assert not end.complete and end.accepted is None
    assert any("before the end-of-data marker" in w for w in end.warnings)


def test_capture_starting_inside_data():
    events = feed(
        [
            (C, b"ody of a message\r\n..stuffed\r\n.\r\n"),
            (S, b"250 2.0.0 Ok: 86 bytes queued as 1E2891CA025\r\n"),
            (C, b"QUIT\r\n"),
            (S, b"221 bye\r\n"),
        ]
    )
    assert only(events, ev.DataStart).partial
    assert content(events) == b"ody of a message\r\n.stuffed\r\n"
    end = only(events, ev.TransactionEnd)
    assert end.mail_from is None and end.missing_prefix and not end.complete
    assert (end.accepted, end.queue_id) == (True, "1E2891CA025")
    assert any("capture starts inside message content" in a.message
               for a in of(events, ev.Anomaly))  # fmt: skip
    assert of(events, ev.Reply)[-1].command == "QUIT"


def test_capture_starting_after_mail_from():
    events = feed(
        [
            (C, b"RCPT TO:<b@x>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"DATA\r\n"),
            (S, b"354 go\r\n"),
            (C, b"x\r\n.\r\n"),
            (S, b"250 ok\r\n"),
        ]
    )
    end = only(events, ev.TransactionEnd)
    assert end.mail_from is None and [r.address for r in end.recipients] == ["b@x"]
    assert end.accepted is True and content(events) == b"x\r\n"


# --------------------------------------------------------------- one direction


def test_client_side_only():
    events = feed(
        [
            (C, b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\n"),
            (C, b"DATA\r\nhello\r\n.\r\n"),
            (C, b"MAIL FROM:<>\r\nRCPT TO:<d@x>\r\nDATA\r\nbounce\r\n.\r\nQUIT\r\n"),
        ]
    )
    first, second = of(events, ev.TransactionEnd)
    assert first.mail_from == "a@x" and second.mail_from == ""
    assert [r.address for r in first.recipients] == ["b@x", "c@x"]
    assert all(r.accepted is None for r in first.recipients + second.recipients)
    assert first.accepted is None and second.accepted is None
    assert first.complete and second.complete
    assert content(events, 1) == b"hello\r\n" and content(events, 2) == b"bounce\r\n"
    assert not of(events, ev.Reply)


def test_client_side_only_auth_login():
    events = feed(
        [
            (
                C,
                b"EHLO c\r\nAUTH LOGIN\r\n"
                + base64.b64encode(b"bob")
                + b"\r\n"
                + base64.b64encode(b"pw")
                + b"\r\nMAIL FROM:<bob@x>\r\nQUIT\r\n",
            )
        ]
    )
    finished = only(events, ev.AuthFinished)
    assert finished.result["username"] == "bob"
    assert finished.result["password"] == "pw"
    assert finished.result["success"] is None
    assert only(events, ev.MailFrom).address == "bob@x"


def test_server_side_only():
    events = feed(
        [
            (S, b"220 mx.example.org ESMTP\r\n"),
            (S, b"250-mx.example.org\r\n250 PIPELINING\r\n"),
            (S, b"250 ok\r\n354 go\r\n250 queued as X1\r\n221 bye\r\n"),
        ]
    )
    assert only(events, ev.Greeting).text == "mx.example.org ESMTP"
    assert [r.code for r in of(events, ev.Reply)] == [220, 250, 250, 354, 250, 221]
    assert of(events, ev.Reply)[1].lines == ["250-mx.example.org", "250 PIPELINING"]
    assert not of(events, ev.TransactionEnd)
    assert not of(events, ev.Anomaly)


# ---------------------------------------------------------------- STARTTLS/TLS


def test_starttls_accepted_nothing_decoded_after():
    events = feed(
        [
            (S, b"220 mx\r\n"),
            (C, b"EHLO c\r\n"),
            (S, b"250-mx\r\n250 STARTTLS\r\n"),
            (C, b"STARTTLS\r\n"),
            (S, b"220 2.0.0 Ready to start TLS\r\n"),
            (C, client_hello("mail.example.org")),
            (C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nx\r\n.\r\n"),
            (S, b"250 ok\r\n"),
        ]
    )
    start = only(events, ev.StartTls)
    assert (start.accepted, start.reply) == (True, "220 2.0.0 Ready to start TLS")
    assert not only(events, ev.TlsStarted).implicit
    assert only(events, ev.TlsHello).server_name == "mail.example.org"
    assert [e.verb for e in of(events, ev.Command)] == ["EHLO", "STARTTLS"]
    assert len(of(events, ev.Reply)) == 3
    assert not of(events, ev.TransactionEnd) and not of(events, ev.MailFrom)
    assert only(events, ev.Closed).encrypted


_DECRYPTED_AFTER_STARTTLS = [
    (S, b"220 mx ESMTP\r\n"),
    (C, b"EHLO c\r\n"),
    (S, b"250-mx\r\n250 STARTTLS\r\n"),
    (C, b"STARTTLS\r\n"),
    (S, b"220 2.0.0 Ready to start TLS\r\n"),
    # What Wireshark exports after decryption: the dialogue in clear.
    (C, b"EHLO c\r\n"),
    (S, b"250-mx\r\n250 AUTH PLAIN\r\n"),
    (C, b"AUTH PLAIN " + base64.b64encode(b"\0alice\0s3cret") + b"\r\n"),
    (S, b"235 2.7.0 Authentication successful\r\n"),
    (C, b"MAIL FROM:<alice@x>\r\nRCPT TO:<bob@x>\r\nDATA\r\n"),
    (S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
    (C, b"Subject: after TLS\r\n\r\nhello\r\n.\r\n"),
    (S, b"250 2.0.0 Ok: queued as 7QX\r\n"),
    (C, b"QUIT\r\n"),
    (S, b"221 bye\r\n"),
]


@pytest.mark.parametrize("server_first", [False, True])
def test_plaintext_after_starttls_is_decoded(server_first):
    conversation = list(_DECRYPTED_AFTER_STARTTLS)
    if server_first:  # the server's reply is met first (merged interfaces)
        conversation[5], conversation[6] = (S, b"250-mx\r\n"), (C, b"EHLO c\r\n")
        conversation.insert(7, (S, b"250 AUTH PLAIN\r\n"))
    events = feed(conversation)
    assert only(events, ev.StartTls).accepted is True
    assert not of(events, ev.TlsStarted) and not of(events, ev.TlsHello)
    assert only(events, ev.TlsPlaintext).side == (S if server_first else C)
    finished = only(events, ev.AuthFinished)
    assert finished.result["password"] == "s3cret" and finished.result["success"]
    assert content(events) == b"Subject: after TLS\r\n\r\nhello\r\n"
    end = only(events, ev.TransactionEnd)
    assert (end.complete, end.accepted, end.queue_id) == (True, True, "7QX")
    assert not only(events, ev.Closed).encrypted
    assert [e.verb for e in of(events, ev.Command)][-1] == "QUIT"


def test_neither_tls_nor_smtp_after_starttls_is_taken_as_encrypted():
    events = feed(
        _DECRYPTED_AFTER_STARTTLS[:5] + [(C, b"\x80\x2e\x01\x03\x01 binary\r\n")]
    )
    assert only(events, ev.TlsStarted)
    assert not of(events, ev.TlsPlaintext)
    assert any("neither a TLS record" in a.message for a in of(events, ev.Anomaly))


def test_tls_record_split_after_its_first_byte_after_starttls():
    hello = client_hello("split.example")
    events = feed(_DECRYPTED_AFTER_STARTTLS[:5] + [(C, hello[:1]), (C, hello[1:])])
    assert only(events, ev.TlsHello).server_name == "split.example"
    assert not of(events, ev.TlsPlaintext)


def test_starttls_refused_continues_in_plaintext():
    events = feed(
        [
            (S, b"220 mx\r\n"),
            (C, b"STARTTLS\r\n"),
            (S, b"454 4.7.0 TLS not available\r\n"),
            (C, b"MAIL FROM:<a@x>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"QUIT\r\n"),
        ]
    )
    start = only(events, ev.StartTls)
    assert (start.accepted, start.reply) == (False, "454 4.7.0 TLS not available")
    assert not of(events, ev.TlsStarted)
    assert only(events, ev.MailFrom).address == "a@x"
    assert not only(events, ev.Closed).encrypted


def test_starttls_client_side_only():
    events = feed([(C, b"EHLO c\r\nSTARTTLS\r\n" + client_hello("sni.test"))])
    assert only(events, ev.StartTls).accepted is True
    assert only(events, ev.TlsHello).server_name == "sni.test"


def test_implicit_tls():
    hello = client_hello("smtps.example.org")
    events = feed([(C, hello[:1]), (C, hello[1:]), (S, b"\x16\x03\x03\x00\x02ab")])
    assert only(events, ev.TlsStarted).implicit
    assert only(events, ev.TlsHello).server_name == "smtps.example.org"
    assert not of(events, ev.Reply) and not of(events, ev.Anomaly)


def test_client_hello_parsing():
    hello = client_hello("a.example")
    assert client_hello_server_name(hello) == (True, "a.example")
    assert client_hello_server_name(hello[:20]) == (False, None)
    assert client_hello_server_name(client_hello(None)) == (True, None)
    # The same hello spread over two records.
    body = hello[5:]
    split = b"\x16\x03\x01" + (10).to_bytes(2, "big") + body[:10]
    split += b"\x16\x03\x01" + (len(body) - 10).to_bytes(2, "big") + body[10:]
    assert client_hello_server_name(split) == (True, "a.example")
    assert client_hello_server_name(b"\x17\x03\x03\x00\x01x") == (True, None)


# ---------------------------------------------------------------- commands


def test_lower_case_verbs_as_smtplib_sends_them():
    events = feed(
        [
            (S, b"220 mx\r\n"),
            (C, b"ehlo [127.0.0.1]\r\n"),
            (S, b"250-mx\r\n250 SIZE 100\r\n"),
            (C, b"mail FROM:<a@x> size=5\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"rcpt TO:<b@x>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"data\r\n"),
            (S, b"354 go\r\n"),
            (C, b"hi\r\n.\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"quit\r\n"),
        ]
    )
    assert only(events, ev.Helo) == ev.Helo(1, "EHLO", "[127.0.0.1]")
    assert only(events, ev.Extensions).extensions == ["SIZE 100"]
    mail = only(events, ev.MailFrom)
    assert (mail.address, mail.parameter_map) == ("a@x", {"SIZE": "5"})
    assert content(events) == b"hi\r\n"
    assert only(events, ev.TransactionEnd).accepted is True
    assert only(events, ev.Closed).quit_seen


def test_other_commands_keep_replies_aligned():
    events = feed(
        [
            (S, b"220 mx\r\n"),
            (C, b"NOOP\r\nVRFY bob\r\nEXPN list\r\nHELP\r\nXYZZY plugh\r\nRSET\r\n"),
            (
                S,
                b"250 ok\r\n252 cannot vrfy\r\n502 no expn\r\n214-help\r\n214 end\r\n"
                b"500 5.5.2 unknown command\r\n250 ok\r\n",
            ),
        ]
    )
    assert [(r.command, r.code) for r in of(events, ev.Reply)][1:] == [
        ("NOOP", 250), ("VRFY", 252), ("EXPN", 502), ("HELP", 214), ("XYZZY", 500),
        ("RSET", 250),
    ]  # fmt: skip
    assert [a.message for a in of(events, ev.Anomaly)] == [
        "unknown client command 'XYZZY plugh'"
    ]


def test_multi_line_reply_and_enhanced_code():
    events = feed(
        [
            (S, b"220-mx.example.org first\r\n220-second\r\n220 third\r\n"),
            (C, b"MAIL FROM:<a@x>\r\n"),
            (S, b"550-5.7.1 blocked\r\n550-5.7.1 see http://x\r\n550 5.7.1 bye\r\n"),
        ]
    )
    greeting = only(events, ev.Greeting)
    assert greeting.text == "mx.example.org first\nsecond\nthird"
    reply = of(events, ev.Reply)[1]
    assert (reply.code, reply.enhanced, len(reply.lines)) == (550, "5.7.1", 3)
    end = only(events, ev.TransactionEnd)
    assert end.mail_accepted is False and end.accepted is False
    assert end.reply == "550-5.7.1 blocked\n550-5.7.1 see http://x\n550 5.7.1 bye"


def test_auth_login_with_challenges_and_abort():
    user, password = base64.b64encode(b"carol"), base64.b64encode(b"pa ss")
    events = feed(
        [
            (S, b"220 mx\r\n"),
            (C, b"AUTH LOGIN\r\n"),
            (S, b"334 VXNlcm5hbWU6\r\n"),
            (C, user + b"\r\n"),
            (S, b"334 UGFzc3dvcmQ6\r\n"),
            (C, password + b"\r\n"),
            (S, b"535 5.7.8 Error: authentication failed\r\n"),
            (C, b"AUTH LOGIN\r\n"),
            (S, b"334 VXNlcm5hbWU6\r\n"),
            (C, b"*\r\n"),
            (S, b"501 5.7.0 Authentication aborted\r\n"),
            (C, b"QUIT\r\n"),
            (S, b"221 bye\r\n"),
        ]
    )
    failed, aborted = of(events, ev.AuthFinished)
    assert (failed.result["username"], failed.result["password"]) == ("carol", "pa ss")
    assert failed.result["success"] is False
    assert failed.result["reply"] == "535 5.7.8 Error: authentication failed"
    assert aborted.result["aborted"] is True
    assert [e.verb for e in of(events, ev.Command)] == ["AUTH", "AUTH", "QUIT"]
    assert of(events, ev.Reply)[-1].command == "QUIT"


def test_overlong_line_is_skipped_and_the_stream_resyncs():
    machine = SmtpMachine()
    events = machine.data(S, b"220 mx\r\n", 1)
    events += machine.data(C, b"EHLO c\r\n", 1)
    events += machine.data(S, b"250 mx\r\n", 1)
    events += machine.data(C, b"X" * (MAX_LINE + 10), 2)
    events += machine.data(C, b"still junk\r\nMAIL FROM:<a@x>\r\n", 3)
    events += machine.close(4)
    assert [e.verb for e in of(events, ev.Command)] == ["EHLO", "MAIL"]
    assert "longer than 65536 bytes" in only(events, ev.Anomaly).message


def test_gap_in_the_command_stream_resyncs_at_a_line_start():
    machine = SmtpMachine()
    events = machine.data(C, b"EHLO c\r\nMAIL FR", 1)
    events += machine.gap(C, 20, 2)
    events += machine.data(C, b"example>\r\nRCPT TO:<b@x>\r\n", 3)
    events += machine.gap(C, 5, 4)
    events += machine.data(C, b"RCPT TO:<c@x>\r\n", 5)
    events += machine.close(6)
    assert [e.verb for e in of(events, ev.Command)] == ["EHLO", "RCPT", "RCPT"]
    assert len(of(events, ev.Anomaly)) >= 2
    end = only(events, ev.TransactionEnd)
    assert [r.address for r in end.recipients] == ["b@x", "c@x"]


def test_server_gap_realigns_on_354():
    machine = SmtpMachine()
    events = machine.data(S, b"220 mx\r\n", 1)
    events += machine.data(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", 2)
    events += machine.gap(S, 16, 3)  # the replies to MAIL and RCPT
    events += machine.data(S, b"354 go\r\n", 4)
    events += machine.data(C, b"m\r\n.\r\n", 5)
    events += machine.data(S, b"250 queued as R1\r\n", 6)
    events += machine.close(7)
    assert content(events) == b"m\r\n"
    end = only(events, ev.TransactionEnd)
    assert (end.accepted, end.queue_id) == (True, "R1")
    assert any("not captured (re-aligned)" in a.message for a in of(events, ev.Anomaly))


# ----------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "argument, expected",
    [
        ("<>", ("", "")),
        ("<a@example.org>", ("a@example.org", "")),
        (
            " <a@example.org> SIZE=10 BODY=8BITMIME",
            ("a@example.org", "SIZE=10 BODY=8BITMIME"),
        ),
        ("a@example.org SMTPUTF8", ("a@example.org", "SMTPUTF8")),
        ('<"odd>local"@example.org> AUTH=<>', ('"odd>local"@example.org', "AUTH=<>")),
        ("<@relay.example:user@example.org>", ("user@example.org", "")),
        ("<>  BODY=7BIT", ("", "BODY=7BIT")),
    ],
)
def test_parse_path(argument, expected):
    assert parse_path(argument) == expected


def test_parse_parameters():
    assert parse_parameters("size=10 BODY=8BITMIME SMTPUTF8 AUTH=<>") == {
        "SIZE": "10",
        "BODY": "8BITMIME",
        "SMTPUTF8": None,
        "AUTH": "<>",
    }


def test_null_sender_with_space_after_colon():
    events = feed([(C, b"MAIL FROM: <> BODY=8BITMIME\r\nRCPT TO: postmaster\r\n")])
    end = only(events, ev.TransactionEnd)
    assert (end.mail_from, end.mail_parameters) == ("", "BODY=8BITMIME")
    assert end.recipients[0].address == "postmaster"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2.0.0 Ok: queued as 1E2891CA025", "1E2891CA025"),
        ("2.0.0 Ok: 86 bytes queued as 1E2891CA025", "1E2891CA025"),
        ("OK id=1Mugho-0003Dg-Un", "1Mugho-0003Dg-Un"),
        ("OK 1589231234abc", "1589231234abc"),
        ("2.0.0 OK 1589231234 q2si1234pfq.123 - gsmtp", "1589231234"),
        ("2.0.0 r1BKxy3A012345 Message accepted for delivery", "r1BKxy3A012345"),
        ("Ok", None),
        ("OK Message accepted", None),
        ("", None),
    ],
)
def test_queue_id(text, expected):
    assert queue_id(text) == expected


# ---------------------------------------------------------------- robustness

_PIECES = [
    b"220 mx\r\n", b"250-x\r\n", b"250 ok\r\n", b"354 go\r\n", b"334 \r\n",
    b"235 ok\r\n",
    b"220 tls\r\n", b"EHLO c\r\n", b"MAIL FROM:<a@x>\r\n", b"RCPT TO:<b@x>\r\n",
    b"DATA\r\n", b"BDAT 3\r\n", b"BDAT 2 LAST\r\n", b"AUTH LOGIN\r\n", b"*\r\n",
    b"STARTTLS\r\n", b"RSET\r\n", b"QUIT\r\n", b".\r\n", b"..x\r\n", b"\r\n", b"\n",
    b"\r", b".", b"abc", b"\x16\x03\x01", b"\x00\xff", b"999 odd\r\n",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["data", "gap"]),
            st.sampled_from([C, S]),
            st.lists(st.sampled_from(_PIECES), min_size=1, max_size=4),
        ),
        max_size=25,
    )
)
def test_any_input_gives_events_and_never_raises(steps):
    machine = SmtpMachine()
    events = []
    for ts, (kind, direction, pieces) in enumerate(steps):
        if kind == "data":
            events += machine.data(direction, b"".join(pieces), ts)
        else:
            events += machine.gap(direction, len(pieces) * 7, ts)
    events += machine.close(len(steps))
    assert isinstance(events[-1], ev.Closed)
    assert machine.close(99) == [] and machine.data(C, b"x", 99) == []
    numbers = [e.transaction for e in of(events, ev.TransactionEnd)]
    assert len(numbers) == len(set(numbers))
    for end in of(events, ev.TransactionEnd):
        assert end.data_sent or not content(events, end.transaction)


def test_capture_starting_inside_a_command_line():
    events = feed([(C, b"OM:<a@x> SIZE=9\r\nRCPT TO:<b@x>\r\nDATA\r\nhi\r\n.\r\n")])
    assert [e.verb for e in of(events, ev.Command)] == ["RCPT", "DATA"]
    assert (
        of(events, ev.Anomaly)[0].message
        == "capture starts inside a client line (the next line is a command): "
        "skipped 'OM:<a@x> SIZE=9'"
    )
    end = only(events, ev.TransactionEnd)
    assert [r.address for r in end.recipients] == ["b@x"]
    assert content(events) == b"hi\r\n" and not end.missing_prefix


def test_single_line_at_capture_start_then_close_is_kept_as_content():
    events = feed([(C, b"last words\r\n")])
    assert only(events, ev.DataStart).partial
    assert content(events) == b"last words\r\n"
    assert not only(events, ev.TransactionEnd).complete


SPLIT_CONVERSATIONS = {
    "pipelined": [
        (S, b"220 mx\r\n"),
        (C, b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<z@x>\r\nDATA\r\n"),
        (S, b"250-mx\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n"),
        (C, b"x\n..y\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<c@x>\r\nBDAT 0 LAST\r\nQUIT\r\n"),
        (S, b"250 queued as A1\r\n250 ok\r\n250 ok\r\n250 OK id=B2\r\n221 bye\r\n"),
    ],
    "auth-login-then-starttls": [
        (S, b"220 mx\r\n"),
        (C, b"AUTH LOGIN\r\n"),
        (S, b"334 VXNlcm5hbWU6\r\n"),
        (C, b"Ym9i\r\n"),
        (S, b"334 UGFzc3dvcmQ6\r\n"),
        (C, b"cHc=\r\n"),
        (S, b"235 ok\r\n"),
        (C, b"STARTTLS\r\n"),
        (S, b"220 go\r\n"),
        (C, client_hello("split.example") + b"MAIL FROM:<a@x>\r\n"),
    ],
    "mid-data-start": [
        (C, b"tail line\r\n..dot\r\n.\r\nRSET\r\n"),
        (S, b"250 2.0.0 Ok: queued as T1\r\n250 ok\r\n"),
    ],
    "client-only": [
        (
            C,
            b"ehlo c\r\nmail from:<a@x>\r\nrcpt to:<b@x>\r\ndata\r\nm\r\n.\r\nquit\r\n",
        ),
    ],
}


@pytest.mark.parametrize("name", sorted(SPLIT_CONVERSATIONS))
def test_more_conversations_split_anywhere(name):
    conversation = SPLIT_CONVERSATIONS[name]
    reference = normalised(feed(conversation))
    assert of(reference, ev.Command) or of(reference, ev.MessageData)
    for index, (_, data) in enumerate(conversation):
        for point in range(1, len(data)):
            cuts = [[] for _ in conversation]
            cuts[index] = [point]
            assert normalised(feed_split(conversation, cuts)) == reference, point
    cuts = [list(range(1, len(data))) for _, data in conversation]
    assert normalised(feed_split(conversation, cuts)) == reference


def test_mid_data_start_waits_for_the_reply_despite_a_pipelined_command():
    events = feed(SPLIT_CONVERSATIONS["mid-data-start"])
    end = only(events, ev.TransactionEnd)
    assert (end.accepted, end.queue_id, end.reason) == (True, "T1", "reply")
    assert content(events) == b"tail line\r\n.dot\r\n"


def test_mid_session_client_only_transactions_end_at_close():
    events = feed(
        [(C, b"RCPT TO:<a@x>\r\nDATA\r\nm\r\n.\r\nMAIL FROM:<b@x>\r\nRSET\r\n")]
    )
    first, second = of(events, ev.TransactionEnd)
    assert (first.transaction, first.accepted, first.reason) == (1, None, "close")
    assert (second.mail_from, second.reason) == ("b@x", "RSET")
    assert isinstance(events[-1], ev.Closed)
    last_command = events.index(of(events, ev.Command)[-1])
    assert events.index(first) > last_command  # waited for replies until close


# -- non-standard end markers: SMTP smuggling indicators (issue 9.5) -------------


def _data_session(content_bytes, reply=b"250 2.0.0 Ok: queued as 4Q1\r\n"):
    return [
        (S, b"220 mx ESMTP\r\n"),
        (C, b"EHLO c\r\n"),
        (S, b"250 mx\r\n"),
        (C, b"MAIL FROM:<a@x>\r\n"),
        (S, b"250 ok\r\n"),
        (C, b"RCPT TO:<b@x>\r\n"),
        (S, b"250 ok\r\n"),
        (C, b"DATA\r\n"),
        (S, b"354 go\r\n"),
        (C, content_bytes),
        (S, reply),
        (C, b"QUIT\r\n"),
        (S, b"221 bye\r\n"),
    ]


@pytest.mark.parametrize(
    "body, tail, marker",
    [
        (b"Subject: x\n\nline\n", b".\n", b"\n.\n"),
        (b"Subject: x\r\n\r\nline\r\n", b".\n", b"\r\n.\n"),
        (b"Subject: x\n\nline\n", b".\r\n", b"\n.\r\n"),
        (b"Subject: x\r\n\r\nline\r", b".\r", b"\r.\r"),
        (b"Subject: x\r\n\r\nline\r\n", b".\r", b"\r\n.\r"),
        (b"Subject: x\r\n\r\nline\r", b".\n", b"\r.\n"),
    ],
)
def test_server_reply_after_a_non_standard_end_marker_ends_the_message_there(
    body, tail, marker
):
    events = feed(_data_session(body + tail))
    assert content(events) == body
    end = only(events, ev.TransactionEnd)
    assert (end.complete, end.accepted, end.queue_id) == (True, True, "4Q1")
    offset = len(body) - marker.index(b".")
    assert end.smuggling == [SmugglingIndicator(marker, offset, True)]
    assert only(events, ev.DataEnd).reason == "non-standard end marker"
    assert any("possible SMTP smuggling" in w for w in end.warnings)
    assert of(events, ev.Reply)[-1].command == "QUIT"


def test_non_standard_end_marker_split_over_segments():
    body = b"Subject: x\n\nline\n"
    session = _data_session(body + b".\n")
    for cut in range(1, 3):
        split = session[:9] + [(C, (body + b".\n")[: len(body) + cut - 1])]
        split += [(C, (body + b".\n")[len(body) + cut - 1 :])] + session[10:]
        events = feed(split)
        assert content(events) == body
        assert only(events, ev.TransactionEnd).smuggling == [
            SmugglingIndicator(b"\n.\n", len(body) - 1, True)
        ]


def test_bare_lf_dot_line_the_server_did_not_take_as_the_end_stays_content():
    """Postfix with smtpd_forbid_bare_newline: "\\n.\\n" is content, CRLF.CRLF ends."""
    sent = b"Subject: x\n\nline 1\n.\nmore\r\n"
    events = feed(_data_session(sent + b".\r\n"))
    assert content(events) == sent
    end = only(events, ev.TransactionEnd)
    assert end.complete and end.accepted
    assert end.smuggling == [SmugglingIndicator(b"\n.\n", 18, False)]


def test_smuggled_dot_line_offset_counts_unstuffed_dots():
    sent = b"a\r\n..b\r\n..c\r\nx\r.\rz\r\n"
    events = feed(_data_session(sent + b".\r\n"))
    assert content(events) == b"a\r\n.b\r\n.c\r\nx\r.\rz\r\n"
    (indicator,) = only(events, ev.TransactionEnd).smuggling
    assert indicator == SmugglingIndicator(b"\r.\r", 12, False)
    assert content(events)[12:15] == b"\r.\r"


def test_connection_closed_after_a_non_standard_marker_keeps_it_as_content():
    body = b"Subject: x\n\nline\n"
    events = feed(_data_session(body + b".\n")[:10])
    assert content(events) == body + b".\n"
    end = only(events, ev.TransactionEnd)
    assert end.complete is False
    assert end.smuggling == [SmugglingIndicator(b"\n.\n", len(body) - 1, None)]


@settings(max_examples=200, deadline=None)
@given(
    body=st.lists(
        st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"..", b"\n.\n", b"\r.\r"]),
        max_size=30,
    ),
    cuts=st.lists(st.integers(1, 200), max_size=6),
)
# A CRLF line whose CR ends one segment, then "\r.\r\n": found by hypothesis.
@example(body=[b"\r\n", b"\r", b"."], cuts=[1])
def test_smuggling_indicators_do_not_depend_on_segmentation(body, cuts):
    stream = b"".join(body) + b"\r\n.\r\nQUIT\r\n"
    head = [(C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")]
    whole = feed(head + [(C, stream)])
    split = feed_split(head + [(C, stream)], [[], cuts])
    assert content(split) == content(whole)
    expected = only(whole, ev.TransactionEnd).smuggling
    assert only(split, ev.TransactionEnd).smuggling == expected
    data = content(whole)
    for indicator in expected:
        assert data[indicator.offset : indicator.offset + 1] in (b"\r", b"\n")
        assert b"." in indicator.marker and indicator.marker != b"\r\n.\r\n"


def test_piped_client_bytes_after_the_marker_are_commands_when_the_server_ends_there():
    """``nc mx 25 < file``: the end marker and QUIT in one segment, Postfix ends
    the data at "\\n.\\n" and answers QUIT: the message ends before the dot line."""
    conversation = _data_session(b"Subject: x\n\nbody\n.\nQUIT\n")
    conversation = conversation[:10] + [
        (S, b"250 2.0.0 Ok: queued as 4Q1\r\n"),
        (S, b"221 2.0.0 Bye\r\n"),
    ]
    events = feed(conversation)
    assert content(events) == b"Subject: x\n\nbody\n"
    end = only(events, ev.TransactionEnd)
    assert (end.complete, end.accepted, end.queue_id) == (True, True, "4Q1")
    assert end.smuggling == [SmugglingIndicator(b"\n.\n", 16, True)]
    quit_reply = of(events, ev.Reply)[-1]
    assert (quit_reply.command, quit_reply.code) == ("QUIT", 221)
    assert [c.verb for c in of(events, ev.Command)][-1] == "QUIT"
    assert not any(
        "reply without a command" in a.message for a in of(events, ev.Anomaly)
    )


def test_server_ending_at_an_lf_dot_line_after_a_cr_dot_line_it_ignored():
    sent = b"Subject: x\r\n\r\na\r.\rb\n.\nRSET\r\n"
    conversation = _data_session(sent)[:10] + [
        (S, b"250 2.0.0 Ok: queued as 4Q2\r\n"),
        (S, b"250 2.0.0 Ok\r\n"),
    ]
    events = feed(conversation)
    assert content(events) == b"Subject: x\r\n\r\na\r.\rb\n"
    assert only(events, ev.TransactionEnd).smuggling == [
        SmugglingIndicator(b"\r.\r", 15, False),
        SmugglingIndicator(b"\n.\n", 19, True),
    ]
    assert of(events, ev.Reply)[-1].command == "RSET"


@settings(max_examples=150, deadline=None)
@given(cuts=st.lists(st.integers(1, 120), max_size=8))
def test_smuggled_second_message_found_whatever_the_segmentation(cuts):
    flight = (
        b"Subject: one\n\nfirst\n.\nMAIL FROM:<m@x>\nRCPT TO:<b@x>\nDATA\n"
        b"Subject: two\n\nsecond\n.\nQUIT\n"
    )
    head = _data_session(b"")[:9]
    replies = [
        (
            S,
            b"250 2.0.0 Ok: queued as A1\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n",
        ),
        (S, b"250 2.0.0 Ok: queued as A2\r\n221 2.0.0 Bye\r\n"),
    ]
    events = feed_split(
        head + [(C, flight)] + replies, [[]] * len(head) + [cuts, [], []]
    )
    ends = of(events, ev.TransactionEnd)
    assert [(e.mail_from, e.queue_id, e.complete) for e in ends] == [
        ("a@x", "A1", True),
        ("m@x", "A2", True),
    ]
    assert content(events, 1) == b"Subject: one\n\nfirst\n"
    assert content(events, 2) == b"Subject: two\n\nsecond\n"
    assert [e.smuggling for e in ends] == [
        [SmugglingIndicator(b"\n.\n", 19, True)],
        [SmugglingIndicator(b"\n.\n", 20, True)],
    ]
    assert of(events, ev.Reply)[-1].command == "QUIT"


# ------------------------------------------------- block scan against line scan


@settings(max_examples=400, deadline=None)
@given(
    body=st.lists(
        st.sampled_from(
            [b"a", b".", b"..", b"\r", b"\n", b"\r\n", b".\r\n", b"\n.\n", b"x.y"]
        ),
        max_size=40,
    ),
    cuts=st.lists(st.integers(1, 300), max_size=8),
    reply_early=st.booleans(),
)
def test_block_scan_gives_the_events_of_the_line_scan(body, cuts, reply_early):
    """The CRLF-only block scan of DATA is a shortcut: with it and without it, any
    content (bare LF, bare CR, dots anywhere) split anywhere gives the same events,
    the same content chunks, warnings, smuggling indicators and offsets."""
    from smtpcore.smtp import session

    stream = b"".join(body) + b"\r\n.\r\nQUIT\r\n"
    conversation = [
        (C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
        (S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
        (C, stream),
    ]
    if reply_early:  # a reply while dot lines are undecided: smuggling resolution
        conversation.append((S, b"250 queued\r\n"))
    cut = [[], [], cuts] + ([[]] if reply_early else [])
    fast = feed_split(conversation, cut)
    session._FAST_SCAN = False
    try:
        slow = feed_split(conversation, cut)
    finally:
        session._FAST_SCAN = True
    assert fast == slow
