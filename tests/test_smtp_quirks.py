"""Real Postfix and vsftpd captures of quirks (test_data/quirks, made by
test_data/lab/make_quirk_captures.sh): non-standard end-of-data markers and FTP.

The truth is what the client sent and the reply it got (MANIFEST.json there).
"""

import hashlib
import json
import pathlib

import pytest

from smtpcore import api, records
from smtpcore.model import SmugglingIndicator

QUIRKS = pathlib.Path(__file__).resolve().parents[1] / "test_data" / "quirks"
MANIFEST = json.loads((QUIRKS / "MANIFEST.json").read_text(encoding="utf-8"))
BY_FILE = {entry["file"]: entry for entry in MANIFEST["captures"]}


def extract(name):
    path = QUIRKS / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == BY_FILE[name]["file_sha256"]
    warnings, found = [], []
    for item in api.items(path, warn=warnings.append, payloads=True):
        data = None
        if isinstance(item, api.Message) and item.content is not None:
            data = b"".join(item.content.chunks())
        found.append((item, data))
    return found, warnings


def unstuffed_until_end(sent: bytes) -> bytes:
    """The content of DATA bytes that end in CRLF.CRLF, decoded the RFC 5321 way."""
    assert sent.endswith(b"\r\n.\r\n")
    lines = sent[:-3].split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


# (tag, what Postfix 3.7 did, the marker as smtpcore must record it, its offset)
BARE_LF_EXPECTED = [
    ("lf-lf", b"\n.\n", 175, True),
    ("crlf-lf", b"\r\n.\n", 167, True),
    ("lf-crlf", b"\n.\r\n", 169, True),
    ("cr-cr", b"\r.\r", 174, False),
    ("crlf-cr", b"\r\n.\r", 164, False),
]


def test_postfix_ends_data_at_bare_lf_dot_lines_and_each_is_an_indicator():
    found, warnings = extract("postfix-bare-lf-end-markers.pcap")
    (truth,) = BY_FILE["postfix-bare-lf-end-markers.pcap"]["sessions"]
    *messages, (session, _) = found
    assert len(messages) == len(truth["messages"]) == 5
    for (message, data), sent, expected in zip(
        messages, truth["messages"], BARE_LF_EXPECTED
    ):
        tag, marker, offset, ended = expected
        assert sent["tag"] == tag and sent["reply_code"] == 250
        before_tail = bytes.fromhex(sent["content_before_tail"]["hex"])
        if ended:  # Postfix answered right after the marker: the message ends there
            assert data == before_tail
            assert message.sha256 == sent["content_before_tail"]["sha256"]
        else:  # Postfix waited for CRLF.CRLF: the dot line is content
            assert data == unstuffed_until_end(
                bytes.fromhex(sent["sent_after_354"]["hex"])
            )
        assert message.smuggling_indicators == [
            SmugglingIndicator(marker, offset, ended)
        ]
        assert (message.complete, message.accepted) == (True, True)
        assert message.queue_id == sent["reply"].rsplit(" ", 1)[1]
        assert message.missing_ranges == [] and not message.missing_end
        assert sum("possible SMTP smuggling" in w for w in message.warnings) == 1
        record = records.message_record(message, "x")
        assert record["smuggling_indicators"] == [
            {"marker": marker.decode(), "offset": offset, "ended_data": ended}
        ]
    assert isinstance(session, api.Session)
    assert session.smuggling_suspected and session.complete
    assert records.session_record(session)["smuggling_suspected"] is True
    assert warnings == []


def test_postfix_with_forbid_bare_newline_does_not_end_at_bare_lf_dot():
    found, warnings = extract("postfix-forbid-bare-newline.pcap")
    (message, data), (session, _) = found
    (sent,) = BY_FILE["postfix-forbid-bare-newline.pcap"]["sessions"][0]["messages"]
    assert sent["reply_after_pieces"] == [None]  # no reply to "\n.\n" within 2 s
    raw = bytes.fromhex(sent["sent_after_354"]["hex"])
    assert data == unstuffed_until_end(raw)
    assert data == (
        b"Date: Sun, 29 Nov 2026 10:00:00 +0000\nFrom: alice@example.org\n"
        b"To: bob@example.org\nSubject: end marker lf-lf-forbidden\n"
        b"Message-ID: <lf-lf-forbidden@client.example.org>\n\nline 1\nline 2\n.\n"
        b"more after the bare-LF dot\r\n"
    )
    assert message.smuggling_indicators == [SmugglingIndicator(b"\n.\n", 181, False)]
    assert data[181:184] == b"\n.\n"
    assert (message.complete, message.accepted) == (True, True)
    assert session.smuggling_suspected
    assert warnings == []


def test_ftp_password_guessing_is_not_smtp():
    """vsftpd greets with 220 like SMTP; none of its connections is a session."""
    found, warnings = extract("vsftpd-password-guessing.pcap")
    truth = BY_FILE["vsftpd-password-guessing.pcap"]["sessions"]
    assert [s["welcome"] for s in truth] == ["220 (vsFTPd 3.0.3)"] * 5
    assert truth[-1]["login"] == "230 Login successful."
    assert found == [] and warnings == []


@pytest.mark.parametrize(
    "banner, client, smtp",
    [
        (b"220 (vsFTPd 3.0.3)\r\n", b"USER alice\r\n", False),
        (b"220 host\r\n", b"USER alice\r\n", False),
        (b"220 host\r\n", b"EHLO c\r\n", True),
    ],
)
@pytest.mark.parametrize("client_first", [False, True])
def test_either_direction_may_decide(banner, client, smtp, client_first):
    """The reassembler asks with each direction's first bytes, in either order."""
    from smtpcore.smtp.detect import classify

    class Conn:
        server_port, client_port = 2121, 40000

    heads = [(0, client), (1, banner)] if client_first else [(1, banner), (0, client)]
    verdicts = [classify(Conn, direction, head) for direction, head in heads]
    decided = next((v for v in verdicts if v is not None), None)
    assert decided is smtp


def test_piped_client_gets_the_two_messages_postfix_saw():
    """``nc < script`` shape: one flight, the second message right after "\\n.\\n".

    Postfix queued two messages (its replies are in the truth); smtpcore must find
    the same two, the second one being what SMTP smuggling would hide.
    """
    found, warnings = extract("postfix-bare-lf-piped.pcap")
    (truth,) = BY_FILE["postfix-bare-lf-piped.pcap"]["sessions"]
    assert truth["replies"][-2] == "221 2.0.0 Bye"
    (first, first_data), (second, second_data), (session, _) = found
    for (message, data), expected in zip(
        [(first, first_data), (second, second_data)], truth["messages"]
    ):
        assert data == bytes.fromhex(expected["content"]["hex"])
        assert message.sha256 == expected["content"]["sha256"]
        assert message.mail_from == expected["mail_from"]
        assert message.reply == expected["reply"]
        assert (message.complete, message.accepted) == (True, True)
        assert message.smuggling_indicators == [
            SmugglingIndicator(b"\n.\n", expected["content"]["size"] - 1, True)
        ]
    assert (first.size, second.size) == (166, 190)
    assert second.mail_from == "mallory@example.org"
    assert session.messages == 2 and session.complete and session.smuggling_suspected
    assert not any("reply without a command" in w for w in session.warnings)
    assert warnings == []
