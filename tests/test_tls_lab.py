"""TLS lab captures: decrypted with their key logs, byte-exact against the client.

The truth (test_data/tls/MANIFEST.json) comes from the clients (hashes of what
they sent, what OpenSSL negotiated, the client random) and from tshark, which
decrypted every capture with the same key log in make_tls_captures.sh; nothing
in it comes from smtpcore.
"""

import hashlib
import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from smtpcore import api
from smtpcore.tls.keylog import KeyLog

TLS = pathlib.Path(__file__).resolve().parents[1] / "test_data" / "tls"
MANIFEST = json.loads((TLS / "MANIFEST.json").read_text(encoding="utf-8"))
CAPTURES = MANIFEST["captures"]
COMMAND = pathlib.Path(sys.executable).with_name("smtpcore")


def keylog(*names):
    keys = KeyLog()
    for name in names:
        with open(TLS / name, "rb") as handle:
            keys.add_file(handle, name)
    return keys


def _prefix(path):
    return api.capture_prefix(hashlib.sha256(path.read_bytes()).hexdigest())


def extract(name, keys=None):
    result = {"sessions": [], "messages": [], "credentials": [], "warnings": []}
    for item in api.items(TLS / name, warn=result["warnings"].append, keylog=keys):
        if isinstance(item, api.Message):
            data = b"".join(item.content.chunks()) if item.content else None
            result["messages"].append((item, data))
        elif isinstance(item, api.Credential):
            result["credentials"].append(item)
        else:
            result["sessions"].append(item)
    return result


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_decrypted_capture_matches_client_truth(name):
    entry = CAPTURES[name]
    assert hashlib.sha256((TLS / entry["file"]).read_bytes()).hexdigest() == (
        entry["file_sha256"]
    )
    truth = entry["sessions"][0]
    found = extract(entry["file"], keylog(entry["keylog"]))
    assert found["warnings"] == []
    (session,) = found["sessions"]
    assert session.warnings == []
    assert (session.endpoints.client_port, session.endpoints.server_port) == (
        truth["client_port"],
        truth["server_port"],
    )
    assert session.encrypted and session.decrypted and session.complete
    assert session.tls_undecrypted_reason is None
    assert session.starttls is (not truth["implicit_tls"])
    assert session.tls_version == truth["tls_version"]
    assert session.tls_cipher == truth["tls_cipher"]
    assert session.tls_server_name == truth["tls_server_name"]
    assert session.tls_alpn == truth["tls_alpn_offered"]
    assert session.tls_client_random == truth["client_random"]
    assert session.ja3 == entry["tshark"]["ja3"]
    assert session.ja3_string == entry["tshark"]["ja3_full"]
    assert session.helo == "client.example.org"
    if truth["tls_version"] == "TLSv1.2":
        assert session.tls_extended_master_secret is ("no-ems" not in truth["options"])
        cbc = "_CBC_" in truth["tls_cipher"]
        assert session.tls_encrypt_then_mac is (
            cbc and "no-etm" not in truth["options"]
        )
    # The certificate: visible in TLS 1.2, decrypted in TLS 1.3.
    fingerprint = MANIFEST["server_certificate"][-1].split("=", 1)[1]
    assert session.tls_cert_sha256 == fingerprint.replace(":", "").lower()
    assert session.tls_cert_subject == "CN=mail.example.org,O=TLS Lab,C=XX"
    assert session.tls_cert_issuer == session.tls_cert_subject

    assert [
        (c.mechanism, c.username, c.password, c.success) for c in found["credentials"]
    ] == [
        (a["mechanism"], a["username"], a["password"], a["success"])
        for a in truth["auth"]
    ]
    assert len(found["messages"]) == len(truth["messages"])
    for (message, data), expected in zip(found["messages"], truth["messages"]):
        assert hashlib.sha256(data).hexdigest() == expected["sha256"]
        assert message.sha256 == expected["sha256"]
        assert message.size == expected["size"]
        assert message.complete and message.accepted
        assert message.mail_from == expected["mail_from"]
        assert message.rcpt_to == expected["rcpt_accepted"]
        assert message.mime.subject == expected["subject"]
        assert message.auth_user == truth["auth"][0]["username"]


def test_several_messages_numbered_after_the_clear_part():
    found = extract("tls13-multi.pcap", keylog("all.keylog"))
    prefix = _prefix(TLS / "tls13-multi.pcap")
    assert [m.id for m, _ in found["messages"]] == [
        f"{prefix}s1-{n}" for n in (1, 2, 3)
    ]


def test_key_log_of_other_sessions_decrypts_nothing_and_says_why():
    entry = CAPTURES["tls13-aes128gcm"]
    found = extract(entry["file"], keylog("other-keys.keylog"))
    assert found["messages"] == [] and found["credentials"] == []
    (session,) = found["sessions"]
    assert session.encrypted and not session.decrypted
    assert session.tls_undecrypted_reason == (
        "no TLS 1.3 traffic secrets for client random "
        f"{entry['sessions'][0]['client_random']} in the key logs"
    )
    # Still described from the clear-text handshake.
    assert session.tls_version == "TLSv1.3"
    assert session.tls_cipher == "TLS_AES_128_GCM_SHA256"
    assert session.ja3 == entry["tshark"]["ja3"]
    assert session.tls_cert_sha256 is None  # encrypted in TLS 1.3
    assert session.warnings == [
        f"session {session.session_id} (TLS): not decrypted: "
        + session.tls_undecrypted_reason
    ]


def test_tls12_without_key_log():
    found = extract("tls12-ecdhe-aes128gcm.pcap")
    (session,) = found["sessions"]
    assert found["messages"] == [] and found["credentials"] == []
    assert session.tls_undecrypted_reason == "no key log given"
    assert session.tls_cert_sha256 is not None  # clear in TLS 1.2


def test_capture_after_the_handshake_decrypts_nothing():
    found = extract("after-handshake.pcap", keylog("all.keylog"))
    assert found["messages"] == [] and found["credentials"] == []
    (session,) = found["sessions"]
    assert session.encrypted and not session.decrypted and not session.complete
    assert session.tls_undecrypted_reason.startswith("TLS handshake not captured")
    assert session.banner is None and session.helo is None
    # The records were not read as SMTP; the key log's failure is told.
    assert session.warnings == [
        f"session {session.session_id} (TLS): not decrypted: "
        + session.tls_undecrypted_reason
    ]


def test_pcapng_decryption_secrets_block_is_used_for_its_capture():
    truth = CAPTURES["tls13-chacha20"]["sessions"][0]
    found = extract("tls13-chacha20-dsb.pcapng")
    (session,) = found["sessions"]
    assert session.decrypted
    assert [hashlib.sha256(d).hexdigest() for _, d in found["messages"]] == [
        m["sha256"] for m in truth["messages"]
    ]


@pytest.mark.skipif(not COMMAND.exists(), reason="smtpcore command not installed")
def test_cli_keylog_option_and_key_log_found_in_an_input_folder(tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    shutil.copy(TLS / "implicit-tls13.pcap", evidence)
    shutil.copy(TLS / "tls13-multi.pcap", evidence)
    shutil.copy(TLS / "tls13-multi.keylog", evidence / "secrets.txt")  # any name
    out = tmp_path / "out"
    run = subprocess.run(
        [str(COMMAND), "extract", str(evidence), "-o", str(out), "-q",
         "--keylog", str(TLS / "implicit-tls13.keylog")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    sessions = [json.loads(line) for line in (out / "sessions.jsonl").open()]
    assert [s["decrypted"] for s in sessions] == [True, True]
    assert [s["tls_cipher"] for s in sessions] == [
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_128_GCM_SHA256",
    ]
    single, multi = (
        _prefix(evidence / "implicit-tls13.pcap"), _prefix(evidence / "tls13-multi.pcap")
    )  # fmt: skip
    assert sorted(p.name for p in (out / "eml").iterdir()) == sorted(
        [f"{single}s1-1.eml"] + [f"{multi}s1-{n}.eml" for n in (1, 2, 3)]
    )
    expected = [m["sha256"] for m in CAPTURES["tls13-multi"]["sessions"][0]["messages"]]
    assert [
        hashlib.sha256((out / "eml" / f"{multi}s1-{n}.eml").read_bytes()).hexdigest()
        for n in (1, 2, 3)
    ] == expected
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(k["source"], k["sha256"]) for k in manifest["keylogs"]] == [
        (
            str(TLS / "implicit-tls13.keylog"),
            hashlib.sha256((TLS / "implicit-tls13.keylog").read_bytes()).hexdigest(),
        ),
        (
            str(evidence / "secrets.txt"),
            hashlib.sha256((TLS / "tls13-multi.keylog").read_bytes()).hexdigest(),
        ),
    ]
    assert [i["source"] for i in manifest["inputs"]] == [
        str(evidence / "implicit-tls13.pcap"),
        str(evidence / "tls13-multi.pcap"),
    ]
    from smtpcore.report import session_row

    report = (out / "report.html").read_text(encoding="utf-8")
    # The index draws its session rows from these values (smtpcore.report).
    row = session_row(sessions[1], 0)
    assert (row["tv"], row["tc"], row["dec"], row["sni"]) == (
        "TLSv1.3", "TLS_AES_128_GCM_SHA256", True, "mail.example.org"
    )  # fmt: skip
    assert row["ja3"] == CAPTURES["tls13-multi"]["tshark"]["ja3"]
    assert f'"ja3":"{row["ja3"]}"' in report.replace(": ", ":")
    credentials = [json.loads(line) for line in (out / "credentials.jsonl").open()]
    assert [(c["username"], c["password"], c["success"]) for c in credentials] == [
        ("alice", "Wonder-Land-42", True),
        ("bob", "b0b-S3cret!", True),
    ]


@pytest.mark.skipif(
    not COMMAND.exists() or shutil.which("mkfs.ext4") is None,
    reason="smtpcore command or mkfs.ext4 not installed",
)
def test_cli_key_log_inside_a_disk_image(tmp_path):
    content = tmp_path / "content" / "var" / "log"
    content.mkdir(parents=True)
    shutil.copy(TLS / "tls12-ecdhe-aes128-sha-etm.pcap", content / "mail.pcap")
    shutil.copy(TLS / "tls12-ecdhe-aes128-sha-etm.keylog", content / "keys")
    (tmp_path / "evidence").mkdir()
    image = tmp_path / "evidence" / "disk.raw"
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-d", str(tmp_path / "content"), str(image), "4M"],
        check=True,
        capture_output=True,
    )
    out = tmp_path / "out"
    run = subprocess.run(
        [str(COMMAND), "extract", str(image), "-o", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    (session,) = [json.loads(line) for line in (out / "sessions.jsonl").open()]
    assert session["decrypted"] and session["tls_encrypt_then_mac"]
    truth = CAPTURES["tls12-ecdhe-aes128-sha-etm"]["sessions"][0]
    (eml,) = (out / "eml").iterdir()
    assert (
        hashlib.sha256(eml.read_bytes()).hexdigest() == truth["messages"][0]["sha256"]
    )
    manifest = json.loads((out / "manifest.json").read_text())
    (keys,) = manifest["keylogs"]
    assert keys["source"].endswith("/var/log/keys")
    assert keys["sha256"] == CAPTURES["tls12-ecdhe-aes128-sha-etm"]["keylog_sha256"]


def test_lost_segment_inside_tls_gives_an_incomplete_message_and_nothing_invented(
    tmp_path,
):
    """The frame with the first 1448 bytes of the message's record is deleted."""
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import pcapgen
    from smtpcore.capture import CaptureReader

    name = "tls12-ecdhe-aes128gcm"
    frames = list(CaptureReader(open(TLS / f"{name}.pcap", "rb"), print))
    (dropped,) = [f.index for f in frames if len(f.data) == 14 + 20 + 32 + 1448]
    cut = tmp_path / "cut.pcap"
    pcapgen.write_pcap(cut, [(f.ts_ns, f.data) for f in frames if f.index != dropped])
    result = {"sessions": [], "messages": [], "credentials": [], "warnings": []}
    for item in api.items(
        cut, warn=result["warnings"].append, keylog=keylog(f"{name}.keylog")
    ):
        if isinstance(item, api.Message):
            result["messages"].append(
                (item, b"".join(item.content.chunks()) if item.content else b"")
            )
        elif isinstance(item, api.Session):
            result["sessions"].append(item)
        else:
            result["credentials"].append(item)
    truth = CAPTURES[name]["sessions"][0]
    (session,) = result["sessions"]
    assert session.decrypted and not session.complete
    (credential,) = result["credentials"]  # before the loss: intact
    assert (credential.username, credential.password) == ("alice", "Wonder-Land-42")
    ((message, data),) = result["messages"]
    assert not message.complete and data == b""
    # The whole record is lost: its 2010 bytes of plaintext are the content as sent
    # (one line dot-stuffed) and the end marker ".\r\n"; counted, never invented.
    assert message.missing_bytes == truth["messages"][0]["size"] + 1 + 3 == 2010
    assert message.missing_ranges == [(0, message.missing_bytes)]
    assert any("TLS records lost in a gap" in w for w in session.warnings)


@pytest.mark.parametrize(
    "name, other",
    [
        ("tls13-aes128gcm", "tls13-multi"),
        ("tls12-ecdhe-chacha20", "tls12-ecdhe-aes128gcm"),
    ],
)
def test_wrong_secrets_for_the_client_random_decrypt_nothing(name, other):
    """Secrets of another session filed under this session's client random."""
    random = CAPTURES[name]["sessions"][0]["client_random"]
    lines = [
        line.split()
        for line in (TLS / f"{other}.keylog").read_text().splitlines()
        if line and not line.startswith("#") and not line.startswith("RSA")
    ]
    keys = KeyLog()
    keys.add_bytes(
        "\n".join(f"{label} {random} {secret}" for label, _, secret in lines).encode(),
        "wrong",
    )
    found = extract(f"{name}.pcap", keys)
    assert found["messages"] == [] and found["credentials"] == []
    (session,) = found["sessions"]
    assert not session.decrypted
    assert session.tls_undecrypted_reason == (
        "records do not decrypt with the key log's secrets for this client random"
    )
