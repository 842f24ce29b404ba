"""POP3 STLS, IMAP STARTTLS and implicit TLS (995, 993, POP3 on 465) with key logs.

The truth (test_data/captures/mailbox-tls/MANIFEST.json) is what the clients
received and sent, the TLS version they negotiated, and tshark's view of each
handshake with the same key log (check_mailbox_tls_captures.py); nothing in it
comes from smtpcore.
"""

import hashlib
import io
import json
import pathlib
import subprocess
import sys

import dpkt
import pytest

from smtpcore import api
from smtpcore.tls.keylog import KeyLog

DIRECTORY = (
    pathlib.Path(__file__).resolve().parents[1] / "test_data/captures/mailbox-tls"
)
MANIFEST = json.loads((DIRECTORY / "MANIFEST.json").read_text(encoding="utf-8"))
CAPTURES = MANIFEST["captures"]
COMMAND = pathlib.Path(sys.executable).with_name("smtpcore")
IANA = {  # tshark's cipher suite numbers, by their IANA names
    0x1302: "TLS_AES_256_GCM_SHA384",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
}
FINGERPRINT = MANIFEST["server_certificate"][-1].split("=", 1)[1].replace(":", "")


def keylog(*names):
    keys = KeyLog()
    for name in names:
        with open(DIRECTORY / name, "rb") as handle:
            keys.add_file(handle, name)
    return keys


def extract(source, keys=None):
    found = {"sessions": [], "messages": [], "credentials": [], "warnings": []}
    for item in api.items(source, warn=found["warnings"].append, keylog=keys):
        if isinstance(item, api.Message):
            data = b"".join(item.content.chunks()) if item.content else None
            found["messages"].append((item, data))
        elif isinstance(item, api.Credential):
            found["credentials"].append(item)
        else:
            found["sessions"].append(item)
    return found


def _by_port(items, port):
    return [item for item in items if item.endpoints.client_port == port]


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_decrypted_sessions_match_the_clients(name):
    entry = CAPTURES[name]
    path = DIRECTORY / entry["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["file_sha256"]
    found = extract(path, keylog(entry["keylog"]))
    assert len(found["sessions"]) == len(entry["sessions"])
    for truth in entry["sessions"]:
        port = truth["client_port"]
        (session,) = _by_port(found["sessions"], port)
        # A LOGIN refused before its literal was sent is told (and evidence kept).
        assert session.warnings == [
            f"session {session.session_id}: LOGIN refused before its literal was "
            f"sent ({truth['refusal']!r} in place of the continuation): the "
            "password never sent"
            for login in truth["logins"]
            if login.get("form") == "literal refused before it was sent"
        ]
        assert session.protocol == truth["protocol"]
        assert session.endpoints.server_port == truth["server_port"]
        assert session.encrypted and session.decrypted and session.complete
        assert session.tls_undecrypted_reason is None
        assert session.starttls is (not truth["implicit_tls"])
        view = truth["tshark"]
        assert session.tls_version == view["version"]
        assert session.tls_version == truth.get("tls_version", view["version"])
        assert session.tls_cipher == IANA[view["cipher_suite"]]
        assert session.tls_client_random == view["client_random"]
        assert session.ja3 == view["ja3"]
        assert session.ja4 is not None
        assert session.tls_cert_sha256 == FINGERPRINT.lower()
        assert session.tls_cert_subject == "CN=mail.example.org,O=Mailbox TLS Lab,C=XX"
        # The greeting: clear before STLS/STARTTLS, decrypted on implicit TLS.
        greeting = (
            "+OK Dovecot (Debian) ready." if truth["protocol"] == "pop3" else "* OK"
        )
        assert session.banner.startswith(greeting)

        credentials = _by_port(found["credentials"], port)
        assert [
            (c.protocol, c.mechanism, c.username, c.password, c.success)
            for c in credentials
        ] == [
            (
                truth["protocol"],
                w["mechanism"],
                w["username"],
                w["password"],
                w["success"],
            )
            for w in truth["logins"]
        ]
        messages = _by_port([m for m, _ in found["messages"]], port)
        data = [d for m, d in found["messages"] if m.endpoints.client_port == port]
        assert len(messages) == len(truth["messages"]) == session.messages
        users = [w["username"] for w in truth["logins"] if w["success"]]
        for message, content, expected in zip(messages, data, truth["messages"]):
            assert content == bytes.fromhex(expected["hex"])
            assert hashlib.sha256(content).hexdigest() == expected["sha256"]
            assert (message.sha256, message.md5, message.size) == (
                expected["sha256"], expected["md5"], expected["size"]
            )  # fmt: skip
            assert expected["command"].split(" (")[0] in message.command
            assert message.protocol == truth["protocol"]
            assert message.kind == (
                "retrieved" if expected["kind"] == "partial" else expected["kind"]
            )
            assert message.complete is (expected["kind"] != "partial")
            assert (message.partial is None) is (expected["kind"] != "partial")
            assert message.mailbox == expected.get("mailbox")
            assert message.auth_user == users[-1]
            if "number" in expected and truth["protocol"] == "pop3":
                assert message.message_number == expected["number"]
            if "uid" in expected:
                assert message.uid == expected["uid"]


def test_attachment_of_a_decrypted_pop3_message():
    entry = CAPTURES["pop3-stls-tls13"]
    found = extract(DIRECTORY / entry["file"], keylog(entry["keylog"]))
    message, _ = found["messages"][0]
    assert message.command == "RETR 3"
    assert message.mime.subject == "Quarterly report (PDF)"
    assert [a.filename for a in message.mime.attachments] == ["report.pdf"]


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_without_key_log_encrypted_and_nothing_invented(name):
    entry = CAPTURES[name]
    found = extract(DIRECTORY / entry["file"])
    assert found["messages"] == [] and found["credentials"] == []
    assert len(found["sessions"]) == len(entry["sessions"])
    for session, truth in zip(found["sessions"], entry["sessions"]):
        assert session.encrypted and not session.decrypted
        assert session.tls_undecrypted_reason == "no key log given"
        assert session.tls_version == truth["tshark"]["version"]
        assert session.tls_client_random == truth["tshark"]["client_random"]
        assert session.messages == 0 and session.auth_attempts == 0
        # Nothing tells a POP3 server on 465 from SMTP but its encrypted greeting.
        port = truth["server_port"]
        assert session.protocol == {465: "smtp"}.get(port, truth["protocol"])
        assert not any("not decrypted" in w for w in session.warnings)
        if not truth["implicit_tls"]:  # the clear part before STLS/STARTTLS
            assert session.starttls and session.banner is not None
            assert session.complete


def test_wrong_key_log_encrypted_with_a_warning():
    entry = CAPTURES["imap-starttls-tls12"]
    (truth,) = entry["sessions"]
    found = extract(DIRECTORY / entry["file"], keylog("pop3s-995-tls12.keylog"))
    assert found["messages"] == [] and found["credentials"] == []
    (session,) = found["sessions"]
    assert session.encrypted and not session.decrypted and session.starttls
    reason = (
        "no CLIENT_RANDOM master secret for client random "
        f"{truth['tshark']['client_random']} in the key logs"
    )
    assert session.tls_undecrypted_reason == reason
    assert session.warnings == [
        f"session {session.session_id} (TLS): not decrypted: {reason}"
    ]
    assert session.tls_cert_sha256 == FINGERPRINT.lower()  # clear in TLS 1.2


def _moved(tmp_path, name, old, new):
    """The capture with the server's port changed (TCP checksums recomputed)."""
    moved = tmp_path / f"{name}-{new}.pcap"
    with open(DIRECTORY / f"{name}.pcap", "rb") as source, open(moved, "wb") as out:
        writer = dpkt.pcap.Writer(out, linktype=dpkt.pcap.DLT_EN10MB)
        for ts, frame in dpkt.pcap.Reader(source):
            ethernet = dpkt.ethernet.Ethernet(frame)
            tcp = ethernet.data.data
            tcp.sport = new if tcp.sport == old else tcp.sport
            tcp.dport = new if tcp.dport == old else tcp.dport
            tcp.sum = 0
            ethernet.data.sum = 0
            writer.writepkt(bytes(ethernet), ts)
    return moved


@pytest.mark.parametrize(
    "name, old, new, without_key",
    [
        ("imaps-993-tls13", 993, 10993, None),  # no mail port: found by its random
        ("pop3s-995-tls12", 995, 143, None),  # IMAP's port, POP3 inside
        ("imaps-993-tls13", 993, 995, "pop3"),  # POP3's implicit-TLS port, IMAP inside
    ],
)
def test_the_decrypted_greeting_names_the_protocol_not_the_port(
    tmp_path, name, old, new, without_key
):
    entry = CAPTURES[name]
    (truth,) = entry["sessions"]
    moved = _moved(tmp_path, name, old, new)
    found = extract(moved, keylog(entry["keylog"]))
    (session,) = found["sessions"]
    assert session.protocol == truth["protocol"]
    assert session.endpoints.server_port == new
    assert session.decrypted and session.complete and session.warnings == []
    assert [hashlib.sha256(d).hexdigest() for _, d in found["messages"]] == [
        m["sha256"] for m in truth["messages"]
    ]
    assert [(c.username, c.success) for c in found["credentials"]] == [
        (w["username"], w["success"]) for w in truth["logins"]
    ]
    # Without a key that opens it, only an implicit-TLS port keeps it, as before.
    for keys in (None, keylog("pop3-stls-tls13.keylog")):
        found = extract(moved, keys)
        assert found["messages"] == [] and found["credentials"] == []
        assert [s.protocol for s in found["sessions"]] == (
            [without_key] if without_key else []
        )


@pytest.mark.skipif(not COMMAND.exists(), reason="smtpcore command not installed")
def test_cli_jsonl_of_decrypted_mailbox_sessions(tmp_path):
    entry = CAPTURES["imaps-993-tls13"]
    (truth,) = entry["sessions"]
    out = tmp_path / "out"
    run = subprocess.run(
        [str(COMMAND), "extract", str(DIRECTORY / entry["file"]), "-o", str(out), "-q",
         "--keylog", str(DIRECTORY / entry["keylog"])],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (session,) = [json.loads(line) for line in (out / "sessions.jsonl").open()]
    assert {
        key: session[key]
        for key in ("protocol", "encrypted", "decrypted", "tls_version", "tls_cipher",
                    "tls_client_random", "ja3", "tls_cert_sha256", "complete")
    } == {
        "protocol": "imap", "encrypted": True, "decrypted": True,
        "tls_version": "TLSv1.3", "tls_cipher": "TLS_AES_256_GCM_SHA384",
        "tls_client_random": truth["tshark"]["client_random"],
        "ja3": truth["tshark"]["ja3"], "tls_cert_sha256": FINGERPRINT.lower(),
        "complete": True,
    }  # fmt: skip
    messages = [json.loads(line) for line in (out / "messages.jsonl").open()]
    assert [
        (m["protocol"], m["kind"], m["mailbox"], m["sha256"]) for m in messages
    ] == [("imap", e["kind"], e["mailbox"], e["sha256"]) for e in truth["messages"]]
    for record, expected in zip(messages, truth["messages"]):
        eml = out / "eml" / f"{record['id']}.eml"
        assert eml.read_bytes() == bytes.fromhex(expected["hex"])
    (credential,) = [json.loads(line) for line in (out / "credentials.jsonl").open()]
    assert (credential["protocol"], credential["username"], credential["password"]) == (
        "imap", "carol", 'Qu"o\\te-7 x'
    )  # fmt: skip
    assert credential["success"] is True


def test_tls_record_lost_inside_a_retr_is_told_and_nothing_invented():
    """The server segment holding RETR 3's one TLS record is dropped from the capture."""
    entry = CAPTURES["pop3s-995-tls12"]
    (truth,) = entry["sessions"]
    frames = list(dpkt.pcap.Reader(open(DIRECTORY / entry["file"], "rb")))
    server = [
        index
        for index, (_, frame) in enumerate(frames)
        if dpkt.ethernet.Ethernet(frame).data.data.sport == 995
        and len(dpkt.ethernet.Ethernet(frame).data.data.data) > 1400
    ]
    assert len(server) == 1  # the RETR 3 response: 1380 bytes in one record
    out = io.BytesIO()
    writer = dpkt.pcap.Writer(out)
    for index, (ts, frame) in enumerate(frames):
        if index != server[0]:
            writer.writepkt(frame, ts)
    found = extract(io.BytesIO(out.getvalue()), keylog(entry["keylog"]))
    ((message, data),) = found["messages"]  # RETR 1 only
    assert message.command == "RETR 1" and message.complete
    assert hashlib.sha256(data).hexdigest() == truth["messages"][0]["sha256"]
    assert [(c.username, c.success) for c in found["credentials"]] == [("bob", True)]
    (session,) = found["sessions"]
    assert session.decrypted and not session.complete
    prefix = f"session {session.session_id}"
    assert session.warnings == [
        f"{prefix} (server): 1380 server byte(s) lost",
        f"{prefix} (server): response(s) to RETR 3 lost in the gap; not matched to "
        "later responses",
        f"{prefix} (TLS): 1409 bytes of the server TLS stream lost; looking for the "
        "next record that authenticates",
        f"{prefix} (TLS): server: 1 TLS records lost in a gap (1409 bytes, about 1380 "
        "bytes of plaintext)",
    ]
