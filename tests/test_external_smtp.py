"""Acceptance of the SMTP layer (machine + builder, no MIME) on others' captures.

Each capture goes through the pipeline with MIME switched off; the
expectations are those of /work/shared/corpus/external/EXPECTED.md. Skipped when the
corpus folder is absent.
"""

from __future__ import annotations

import pathlib

import pytest

from smtpcore import pipeline
from smtpcore.model import Credential, Message

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus" / "external"

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"external corpus not present at {CORPUS}"
)


def run(name):
    """(sessions, messages with their bytes, credentials, warnings) of one capture."""
    warnings, sessions, messages, credentials = [], [], [], []
    with open(CORPUS / name, "rb") as capture:
        for item in pipeline.extract(
            capture, source=name, warn=warnings.append, mime=False
        ):
            if isinstance(item, Message):
                # The bytes are readable only while the item is current.
                data = b"".join(item.content.chunks()) if item.content else None
                messages.append((item, data))
            elif isinstance(item, Credential):
                credentials.append(item)
            else:
                sessions.append(item)
    return sessions, messages, credentials, warnings


def test_zeek_smtp():
    sessions, messages, credentials, _ = run("zeek-smtp.pcap")
    assert len(sessions) == 2 and len(messages) == 2
    (first, first_bytes), (second, second_bytes) = messages
    assert first.size == len(first_bytes) == 14545
    assert first.sha1 == "cfca0a07196a5d62e713d83b73e6290aea90435d"
    assert first.mail_from == "gurpartap@patriots.in"
    assert first.rcpt_to == ["raj_deol2002in@yahoo.co.in"]
    assert (first.accepted, first.queue_id) == (True, "1Mugho-0003Dg-Un")
    assert first.auth_user == "gurpartap@patriots.in" and first.complete
    (credential,) = credentials
    assert (credential.mechanism, credential.username, credential.password) == (
        "LOGIN",
        "gurpartap@patriots.in",
        "punjab@123",
    )
    assert credential.success is True
    assert second.size == 804
    assert second.sha1 == "e5409b0c77bae4d71cfddc4023a266d692d48663"
    assert len(second.rcpt_to) == 3
    assert b"Subject: Re: Bro SMTP CC Header" in second_bytes
    assert sessions[0].auth_user == "gurpartap@patriots.in"


def test_zeek_message_inside_message():
    _, messages, _, _ = run("zeek-smtp-attachment-msg.pcap")
    ((message, data),) = messages
    assert message.size == len(data) == 586
    assert message.sha1 == "f9bc3e476a513159f5c7c5869d47364514605b45"


def test_zeek_starttls():
    sessions, messages, credentials, _ = run("zeek-smtp-starttls.pcap")
    (session,) = sessions
    assert session.helo == "openssl.client.net"
    assert session.starttls and session.encrypted
    assert messages == [] and credentials == []
    assert session.messages == 0 and session.auth_attempts == 0


def test_zeek_bdat_last():
    _, messages, _, _ = run("zeek-rfc3030-bdat-example1.pcap")
    ((message, data),) = messages
    assert message.size == len(data) == 86
    assert b"Subject: This is a bodyless test message" in data
    assert (message.mail_from, message.rcpt_to) == (
        "zeek@localhost",
        ["root@localhost"],
    )
    assert message.reply == "250 2.0.0 Ok: 86 bytes queued as 1E2891CA025"
    assert message.queue_id == "1E2891CA025" and message.accepted is True


def test_zeek_bdat_zero_last():
    _, messages, _, _ = run("zeek-rfc3030-bdat-0-last.pcap")
    ((message, data),) = messages
    assert data == b"" and message.size == 0 and message.data_sent
    assert message.queue_id == "75A291CA025" and message.complete


def test_arkime_rejected_recipient():
    _, messages, _, _ = run("arkime-smtp-rcpt-553.pcap")
    ((message, _),) = messages
    assert message.mail_from == "12345678@aol.com"
    (rejected,) = message.rcpt_rejected
    assert rejected.address == "123456@example" and rejected.accepted is False
    assert rejected.reply.startswith("553 ")
    assert message.rcpt_to == [] and not message.data_sent


@pytest.mark.parametrize(
    "name, queue",
    [
        ("arkime-smtp-zip.pcap", "5CF8324407F"),
        ("arkime-smtp-subject-utf8-q.pcap", "9623B1308018"),
    ],
)
def test_arkime_messages(name, queue):
    _, messages, _, _ = run(name)
    ((message, data),) = messages
    assert message.queue_id == queue and message.accepted is True
    assert message.complete and message.size == len(data) > 0
