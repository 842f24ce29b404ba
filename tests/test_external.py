"""Acceptance: other projects' captures give exactly what their own baselines say.

The captures and their expectations (EXPECTED.md) live in ../shared/corpus/external,
outside the repository; the tests skip when that folder is absent.
"""

import hashlib
import pathlib

import pytest

from smtpcore import api

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus" / "external"

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"external corpus not present at {CORPUS}"
)


PAYLOAD_SHA256 = {}  # message id -> {attachment file name: SHA-256 of its bytes}


def run(name):
    """All items of one capture, with the message bytes and attachment payloads kept."""
    sessions, messages, credentials, warnings = [], [], [], []
    for item in api.items(CORPUS / name, warn=warnings.append, payloads=True):
        if isinstance(item, api.Message):
            # Bytes are only readable while the item is current: take them now.
            data = b"".join(item.content.chunks()) if item.content else None
            PAYLOAD_SHA256[item.id] = {
                a.filename: hashlib.sha256(a.payload).hexdigest()
                for a in (item.mime.attachments if item.mime else [])
            }
            messages.append((item, data))
        elif isinstance(item, api.Credential):
            credentials.append(item)
        else:
            sessions.append(item)
    return sessions, messages, credentials, warnings


def attachment(message, filename):
    (found,) = [a for a in message.mime.attachments if a.filename == filename]
    return found


def test_zeek_smtp_two_sessions_out_of_order_segments():
    sessions, messages, credentials, _ = run("zeek-smtp.pcap")
    assert len(sessions) == 2
    assert len(messages) == 2
    first, data = messages[0]
    assert len(data) == 14545
    assert hashlib.sha1(data).hexdigest() == "cfca0a07196a5d62e713d83b73e6290aea90435d"
    assert first.sha1 == "cfca0a07196a5d62e713d83b73e6290aea90435d"
    assert first.mime.subject == "SMTP"
    assert first.mail_from == "gurpartap@patriots.in"
    assert first.rcpt_to == ["raj_deol2002in@yahoo.co.in"]
    assert first.complete and first.accepted is True
    news = attachment(first, "NEWS.txt")
    assert news.size == 10807
    assert news.md5 == "98b40d2ca6fe05f78229984a923909bf"
    (credential,) = credentials
    assert credential.mechanism == "LOGIN"
    assert credential.username == "gurpartap@patriots.in"
    assert credential.password == "punjab@123"
    assert credential.success is True
    assert first.auth_user == "gurpartap@patriots.in"

    second, data = messages[1]
    assert len(data) == 804
    assert hashlib.sha1(data).hexdigest() == "e5409b0c77bae4d71cfddc4023a266d692d48663"
    assert second.mime.subject == "Re: Bro SMTP CC Header"
    assert len(second.rcpt_to) == 3


def test_zeek_message_inside_message():
    _, messages, _, _ = run("zeek-smtp-attachment-msg.pcap")
    ((message, data),) = messages
    assert len(data) == 586
    assert message.sha1 == "f9bc3e476a513159f5c7c5869d47364514605b45"
    inner = [a for a in message.mime.attachments if a.content_type == "message/rfc822"]
    assert len(inner) == 1


def test_zeek_starttls_nothing_decoded_after_upgrade():
    sessions, messages, credentials, _ = run("zeek-smtp-starttls.pcap")
    (session,) = sessions
    assert session.helo == "openssl.client.net"
    assert session.starttls is True
    assert session.encrypted is True
    assert messages == [] and credentials == []


def test_zeek_bdat_last():
    _, messages, _, _ = run("zeek-rfc3030-bdat-example1.pcap")
    ((message, data),) = messages
    assert len(data) == 86
    assert message.mime.subject == "This is a bodyless test message"
    assert message.mail_from == "zeek@localhost"
    assert message.rcpt_to == ["root@localhost"]
    assert message.reply == "250 2.0.0 Ok: 86 bytes queued as 1E2891CA025"
    assert message.queue_id == "1E2891CA025"


def test_zeek_bdat_zero_last_is_an_empty_message():
    _, messages, _, _ = run("zeek-rfc3030-bdat-0-last.pcap")
    ((message, data),) = messages
    assert data == b""
    assert message.size == 0
    assert message.sha1 == hashlib.sha1(b"").hexdigest()
    assert message.queue_id == "75A291CA025"


def test_arkime_zip_attachment():
    _, messages, _, _ = run("arkime-smtp-zip.pcap")
    ((message, _),) = messages
    assert message.mime.subject == "zip test"
    archive = attachment(message, "a.zip")
    assert archive.size == 310
    assert archive.md5 == "40be8f5100e9beabab293c9d7bacaff0"
    assert archive.sha256 == (
        "61479904e443b354d4427a51b990c696f731e341e4c63328e07c1a92658ba591"
    )
    assert archive.payload is None  # released once the consumer moved on
    assert PAYLOAD_SHA256[message.id]["a.zip"] == archive.sha256


def test_arkime_utf8_q_subject():
    _, messages, _, _ = run("arkime-smtp-subject-utf8-q.pcap")
    ((message, _),) = messages
    assert message.mime.subject == (
        "xxxxxx xxxxxx xx xxxxxxxxx xx-xxxxxxx（ANA）GGL_xxxxxxxxxxxxx_xxxxxx.zip"
    )


def test_arkime_rejected_recipient():
    _, messages, _, _ = run("arkime-smtp-rcpt-553.pcap")
    assert messages
    message, _ = messages[0]
    assert message.mail_from == "12345678@aol.com"
    rejected = message.rcpt_rejected
    assert [r.address for r in rejected] == ["123456@example"]
    assert rejected[0].reply.startswith("553")
    assert message.rcpt_to == []
    assert message.accepted is False  # every recipient refused: nothing was delivered
    assert message.eml_path is None and message.data_sent is False
