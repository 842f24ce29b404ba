"""Real clients, real servers: every capture in test_data/captures against its ground truth.

The truth (MANIFEST.json) was recorded on the client side by test_data/lab/make_captures.sh
and checked there against tshark's follow streams; nothing in it comes from smtpcore.
"""

import hashlib
import json
import pathlib

import pytest

from smtpcore import api

CAPTURES = pathlib.Path(__file__).resolve().parents[1] / "test_data" / "captures"
MANIFEST = json.loads((CAPTURES / "MANIFEST.json").read_text(encoding="utf-8"))
BY_FILE = {entry["file"]: entry for entry in MANIFEST["captures"]}


def extract(name):
    """Sessions, messages (with their bytes), credentials and warnings of a capture."""
    result = {"sessions": [], "messages": [], "credentials": [], "warnings": []}
    for item in api.items(
        CAPTURES / name, warn=result["warnings"].append, payloads=True
    ):
        if isinstance(item, api.Message):
            data = b"".join(item.content.chunks()) if item.content else None
            payloads = {
                a.filename: hashlib.sha256(a.payload).hexdigest()
                for a in (item.mime.attachments if item.mime else [])
            }
            result["messages"].append((item, data, payloads))
        elif isinstance(item, api.Credential):
            result["credentials"].append(item)
        else:
            result["sessions"].append(item)
    return result


@pytest.mark.parametrize("name", sorted(BY_FILE))
def test_capture_matches_client_side_truth(name):
    truth = BY_FILE[name]
    assert (
        hashlib.sha256((CAPTURES / name).read_bytes()).hexdigest()
        == truth["file_sha256"]
    )
    found = extract(name)
    assert found["warnings"] == []
    assert len(found["sessions"]) == len(truth["sessions"])

    expected_auth = [a for s in truth["sessions"] for a in s["auth"]]
    expected_messages = [
        m for s in truth["sessions"] if not s["tls"] for m in s["messages"]
    ]
    for session, expected in zip(found["sessions"], truth["sessions"]):
        endpoints = session.endpoints
        assert (endpoints.client_ip, endpoints.client_port) == (
            expected["client_ip"],
            expected["client_port"],
        )
        assert (endpoints.server_ip, endpoints.server_port) == (
            expected["server_ip"],
            expected["server_port"],
        )
        assert session.encrypted == expected["tls"]
        assert session.complete is True

    if any(s["tls"] for s in truth["sessions"]):
        # Nothing after STARTTLS is decoded: the AUTH and message inside TLS stay unseen.
        assert found["messages"] == [] and found["credentials"] == []
        assert found["sessions"][0].tls_server_name == "mail.example.org"
        return

    assert len(found["credentials"]) == len(expected_auth)
    for credential, expected in zip(found["credentials"], expected_auth):
        assert credential.mechanism == expected["mechanism"]
        assert credential.username == expected["username"]
        assert credential.success == expected["success"]
        if expected["mechanism"] in ("PLAIN", "LOGIN"):
            assert credential.password_bytes.hex() == expected["password_hex"]
        else:
            assert credential.password is None
        if expected["mechanism"] == "XOAUTH2":
            assert credential.token == expected["token"]
        if expected["mechanism"] == "CRAM-MD5":
            assert credential.hashcat.startswith("$cram_md5$")
            assert credential.hashcat_mode == 10200

    sent = [(m, d, p) for m, d, p in found["messages"] if m.data_sent]
    assert len(sent) == len(expected_messages)
    for (message, data, payloads), expected in zip(sent, expected_messages):
        assert len(data) == expected["size"]
        assert hashlib.sha256(data).hexdigest() == expected["sha256"]
        assert (message.md5, message.sha1, message.sha256) == (
            expected["md5"],
            expected["sha1"],
            expected["sha256"],
        )
        assert message.complete and message.accepted is True
        if truth["server_software"].startswith("Postfix"):
            assert (
                message.queue_id
            )  # "250 2.0.0 Ok: queued as 4Q9..."; aiosmtpd gives none
        assert message.mail_from == expected["mail_from"]
        assert message.rcpt_to == expected["rcpt_accepted"]
        assert [(r.address, int(r.reply[:3])) for r in message.rcpt_rejected] == [
            (r["address"], r["reply_code"]) for r in expected["rcpt_rejected"]
        ]
        assert message.mime.subject == expected["subject"]
        for attachment in expected["attachments"]:
            assert payloads[attachment["filename"]] == attachment["sha256"]
            (decoded,) = [
                a
                for a in message.mime.attachments
                if a.filename == attachment["filename"]
            ]
            assert decoded.size == attachment["size"]
            assert decoded.content_id == (attachment["content_id"] or "").strip(
                "<>"
            ) or (attachment["content_id"] is None and decoded.content_id is None)


def test_foxmail_message_bodies_and_names():
    (session,) = BY_FILE["postfix-foxmail.pcap"]["sessions"]
    (truth,) = session["messages"]
    ((message, _, _),) = extract("postfix-foxmail.pcap")["messages"]
    mime = message.mime
    assert mime.subject == "邮件测试：朱镕基与陶喆的季度报告"
    plain = [b for b in mime.bodies if b.content_type == "text/plain"]
    html = [b for b in mime.bodies if b.content_type == "text/html"]
    # Decoded text has Python's newlines; the bytes as sent are in the .eml.
    assert plain[0].text == truth["text_plain"].replace("\r\n", "\n")
    assert plain[0].declared_charset.lower() == "gb2312"
    assert plain[0].used_charset == "gb18030"
    # The truth hashes the HTML as the client encoded it: GBK bytes with CRLF. The
    # generator leaves an empty line before the next boundary, so the part (rightly)
    # ends in one more newline than the HTML it hashed.
    assert html[0].text.endswith("</html>\n")
    html_as_sent = html[0].text[:-1].replace("\n", "\r\n").encode("gbk")
    assert hashlib.sha256(html_as_sent).hexdigest() == truth["text_html_sha256"]
    inline = [a for a in mime.attachments if a.inline]
    assert [a.filename for a in inline] == ["InsertPic_33AB.png"]
    assert inline[0].detected_type == "image/png"
    assert message.helo == "DESKTOP-465M1IO"
    assert message.auth_user == "alice"


def test_rejected_recipients_and_abandoned_transaction_are_recorded():
    found = extract("postfix-rset-multi-message.pcap")
    (session,) = BY_FILE["postfix-rset-multi-message.pcap"]["sessions"]
    unsent = [m for m, _, _ in found["messages"] if not m.data_sent]
    assert len(unsent) >= 1  # the MAIL/RCPT abandoned by RSET is evidence too
    assert all(m.eml_path is None and m.sha256 is None for m in unsent)
    assert found["sessions"][0].messages == len(found["messages"])
