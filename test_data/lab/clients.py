"""SMTP lab clients: one scenario per capture, each writing its own ground truth.

Run inside the client network namespace by make_captures.sh. Every scenario talks
to the lab server, binds its own source address and port (so the ground truth
knows them without looking at the capture) and writes a JSON file describing what
the client did: the AUTH attempts with their credentials and outcome, and each
message with its envelope and the hashes of the exact bytes the client sent as
message content (after its own dot-stuffing is undone). Standard library only.
"""

import argparse
import base64
import hashlib
import json
import re
import smtplib
import socket
import subprocess
import sys
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from pathlib import Path

USERS = {"alice": "Wonder-Land-42", "bob": "b0b-S3cret!"}
DATE = "Sun, 29 Nov 2026 10:00:00 +0000"
CRLF = b"\r\n"


def text_message(tag, subject, sender, to, body_lines):
    """Build a small deterministic RFC 5322 message with CRLF line ends."""
    lines = [
        f"Date: {DATE}",
        f"From: {sender}",
        f"To: {', '.join(to)}",
        f"Subject: {subject}",
        f"Message-ID: <{tag}@client.example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        *body_lines,
    ]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def smtplib_content(msg):
    """Return the message content smtplib transmits for msg (bytes).

    smtplib turns every line end into CRLF and adds a final CRLF if missing;
    dot-stuffing is undone by the receiver, so it is not part of the content.
    """
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", CRLF, msg)
    if not data.endswith(CRLF):
        data += CRLF
    return data


def swaks_content(raw):
    """Return the message content swaks 20201014 transmits for a --data file.

    Mirrors swaks' data fix-up for inputs without tokens or literal '\\n':
    headers are re-joined with CRLF, a blank line separates the body, bare LF
    becomes CRLF, and swaks ends DATA with CRLF "." CRLF after the data, so a file
    ending in a newline gains one empty line at the end.
    """
    text = raw
    tokens = re.compile(
        rb"\\n|%(?:NEWLINE|FROM_ADDRESS|TO_ADDRESS|MESSAGEID|DATE|BODY)%"
    )
    if tokens.search(text):
        raise ValueError("swaks data file uses swaks tokens; content not predictable")
    match = re.match(rb"\A(.*?)\r?\n\r?\n", text, re.S)
    if match:
        header, body = match.group(1), text[match.end() :]
    else:
        header, body = text, b""
    new_header = b"".join(line + CRLF for line in re.split(rb"\r?\n", header))
    data = new_header + CRLF + body
    if data.startswith(b"From "):
        data = data.split(b"\n", 1)[1]
    data = re.sub(rb"\r?\n\.\r?\n?\Z", b"", data)
    data = re.sub(rb"(?<=[^\r])\n", CRLF, data)
    return data + CRLF


def describe_message(content, mail_from, accepted, rejected, transfer, note=None):
    """Ground truth for one message: envelope, hashes, subject, attachments."""
    parsed = message_from_bytes(content, policy=policy.compat32)
    subject = parsed.get("Subject")
    if subject is not None:
        try:
            subject = str(make_header(decode_header(subject)))
        except (UnicodeDecodeError, LookupError):
            pass  # the caller knows better (see scenario_foxmail)
    attachments = []
    for part in parsed.walk():
        if part.is_multipart():
            continue
        name = part.get_filename()
        if name is None and part.get("Content-ID") is None:
            continue
        if name is not None:
            name = str(make_header(decode_header(name)))
        payload = part.get_payload(decode=True) or b""
        attachments.append(
            {
                "filename": name,
                "content_type": part.get_content_type(),
                "content_id": part.get("Content-ID"),
                "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            }
        )
    entry = {
        "mail_from": mail_from,
        "rcpt_accepted": accepted,
        "rcpt_rejected": rejected,
        "transfer": transfer,
        "size": len(content),
        "md5": hashlib.md5(content).hexdigest(),
        "sha1": hashlib.sha1(content).hexdigest(),
        "sha256": hashlib.sha256(content).hexdigest(),
        "subject": subject,
        "attachments": attachments,
    }
    if note:
        entry["note"] = note
    return entry


def auth_entry(mechanism, username, password, success, initial_response, code):
    """Ground truth for one AUTH attempt; non-UTF-8 passwords also go as hex."""
    if isinstance(password, bytes):
        entry_password = password.decode("latin-1")
        password_hex = password.hex()
    else:
        entry_password = password
        password_hex = password.encode("utf-8").hex()
    return {
        "mechanism": mechanism,
        "username": username,
        "password": entry_password,
        "password_hex": password_hex,
        "initial_response": initial_response,
        "success": success,
        "reply_code": code,
    }


def b64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


class Lab:
    """Scenario context: addresses, ports, work directory and collected truth."""

    def __init__(self, args):
        self.args = args
        self.server = args.server
        self.port = args.port
        self.client = args.client
        self.sessions = []
        self.work = Path(args.work)

    def session(self, client_port, tls=False):
        entry = {
            "client_ip": self.client,
            "client_port": client_port,
            "server_ip": self.server,
            "server_port": self.port,
            "tls": tls,
            "auth": [],
            "messages": [],
        }
        self.sessions.append(entry)
        return entry

    def smtp(self, client_port):
        conn = smtplib.SMTP(
            self.server,
            self.port,
            local_hostname="client.example.org",
            source_address=(self.client, client_port),
            timeout=30,
        )
        conn.set_debuglevel(1)
        return conn

    def swaks(self, client_port, data_file, sender, to, extra, log_name):
        cmd = [
            "swaks",
            "--server",
            self.server,
            "--port",
            str(self.port),
            "--local-interface",
            self.client,
            "--local-port",
            str(client_port),
            "--from",
            sender,
            "--to",
            ",".join(to),
            "--data",
            f"@{data_file}",
            *extra,
        ]
        if ":" in self.server:
            cmd.insert(1, "-6")
        result = subprocess.run(cmd, capture_output=True, timeout=60)
        print(result.stdout.decode("utf-8", "replace"), result.stderr.decode())
        (self.work / f"{log_name}.swaks.log").write_bytes(
            b" ".join(c.encode() for c in cmd) + b"\n" + result.stdout + result.stderr
        )
        return result.stdout.decode("utf-8", "replace")

    def write_data(self, name, content_lf):
        path = self.work / name
        path.write_bytes(content_lf)
        return path


SWAKS_SENT = (" -> ", " ~> ")
SWAKS_RECEIVED = ("<-  ", "<** ", "<~  ", "<~* ")


def swaks_replies(transcript):
    """Pair each command in a swaks transcript with its final reply code.

    Message data lines are printed like commands but end in CR (swaks prints
    the CRLF-joined data), so they are skipped; the final "." is kept because
    it gets a reply. Replies come back in command order, also when pipelined.
    """
    commands, codes = [], []
    for line in transcript.split("\n"):
        if line.startswith(SWAKS_SENT) and not line.endswith("\r"):
            commands.append(line[4:])
        elif line.startswith(SWAKS_RECEIVED) and line[7:8] != "-":
            codes.append(int(line[4:7]))
    return list(zip(commands, codes[1:]))  # the banner answers no command


def swaks_rcpt_outcome(transcript):
    """Accepted and rejected recipients, from the replies swaks printed."""
    accepted, rejected = [], []
    for command, code in swaks_replies(transcript):
        if command.upper().startswith("RCPT TO:"):
            address = command.split("<", 1)[1].split(">", 1)[0]
            if 200 <= code < 300:
                accepted.append(address)
            else:
                rejected.append({"address": address, "reply_code": code})
    return accepted, rejected


def swaks_auth_ok(transcript):
    return any(code == 235 for _, code in swaks_replies(transcript))


# --- scenarios -------------------------------------------------------------


def plain_message_lf(tag, subject, to, extra_body=()):
    body = [
        "Hello Bob,",
        "",
        f"This is the lab message '{tag}'.",
        *extra_body,
        "",
        "-- ",
        "Alice",
    ]
    header = [
        f"Date: {DATE}",
        "From: Alice <alice@example.org>",
        f"To: {', '.join(to)}",
        f"Subject: {subject}",
        f"Message-ID: <{tag}@client.example.org>",
    ]
    return ("\n".join(header + [""] + body) + "\n").encode("ascii")


def run_swaks_auth(lab, mechanism, client_port, tag, subject):
    session = lab.session(client_port)
    to = ["bob@example.org"]
    raw = plain_message_lf(tag, subject, to, [".leading dot line", "..two dots"])
    path = lab.write_data(f"{tag}.txt", raw)
    transcript = lab.swaks(
        client_port,
        path,
        "alice@example.org",
        to,
        [
            "--ehlo",
            "client.example.org",
            "--auth",
            mechanism,
            "--auth-user",
            "alice",
            "--auth-password",
            USERS["alice"],
        ],
        tag,
    )
    ok = swaks_auth_ok(transcript)
    session["auth"].append(
        auth_entry(
            mechanism,
            "alice",
            USERS["alice"],
            ok,
            mechanism == "PLAIN",
            235 if ok else None,
        )
    )
    accepted, rejected = swaks_rcpt_outcome(transcript)
    session["messages"].append(
        describe_message(
            swaks_content(raw), "alice@example.org", accepted, rejected, "DATA"
        )
    )
    if not ok:
        raise SystemExit(f"{tag}: AUTH {mechanism} failed:\n{transcript}")


def scenario_swaks_plain(lab):
    run_swaks_auth(
        lab, "PLAIN", 40025, "swaks-plain", "AUTH PLAIN with initial response"
    )


def scenario_swaks_login(lab):
    run_swaks_auth(lab, "LOGIN", 40026, "swaks-login", "AUTH LOGIN")


def scenario_swaks_cram_md5(lab):
    run_swaks_auth(lab, "CRAM-MD5", 40027, "swaks-cram-md5", "AUTH CRAM-MD5")


def scenario_swaks_port(lab):
    run_swaks_auth(lab, "PLAIN", 40028, "swaks-port-2525", "Submission on port 2525")


def send_smtplib(lab, session, conn, tag, subject, sender, to, extra_body=()):
    """Send one message with smtplib and record it; returns refused recipients."""
    msg = text_message(
        tag,
        subject,
        sender,
        to,
        ["Hello,", "", f"This is the lab message '{tag}'.", *extra_body, "", "Bye"],
    )
    refused = conn.sendmail(sender, to, msg)
    accepted = [r for r in to if r not in refused]
    rejected = [{"address": r, "reply_code": refused[r][0]} for r in refused]
    session["messages"].append(
        describe_message(smtplib_content(msg), sender, accepted, rejected, "DATA")
    )


def scenario_plain_no_initial(lab):
    session = lab.session(40030)
    conn = lab.smtp(40030)
    conn.ehlo()
    code, _ = conn.docmd("AUTH PLAIN")
    assert code == 334, code
    code, _ = conn.docmd(b64("\0alice\0" + USERS["alice"]))
    session["auth"].append(
        auth_entry("PLAIN", "alice", USERS["alice"], code == 235, False, code)
    )
    send_smtplib(
        lab,
        session,
        conn,
        "plain-no-initial",
        "AUTH PLAIN without initial response",
        "alice@example.org",
        ["bob@example.org"],
    )
    conn.quit()


def scenario_login_initial(lab):
    session = lab.session(40031)
    conn = lab.smtp(40031)
    conn.ehlo()
    code, _ = conn.docmd("AUTH LOGIN " + b64("bob"))
    assert code == 334, code
    code, _ = conn.docmd(b64(USERS["bob"]))
    session["auth"].append(
        auth_entry("LOGIN", "bob", USERS["bob"], code == 235, True, code)
    )
    send_smtplib(
        lab,
        session,
        conn,
        "login-initial",
        "AUTH LOGIN with initial response",
        "bob@example.org",
        ["alice@example.org"],
    )
    conn.quit()


def parse_digest_challenge(challenge):
    fields = {}
    rest = challenge.decode("utf-8")
    while rest:
        key, _, rest = rest.partition("=")
        key = key.strip().lstrip(",").strip()
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(",")
        fields[key] = value
        rest = rest.lstrip(",").strip()
    return fields


def digest_md5_response(challenge, user, password, host):
    """RFC 2831 client response, computed here from the credentials."""
    fields = parse_digest_challenge(challenge)
    realm = fields.get("realm", "example.org")
    nonce = fields["nonce"]
    cnonce = "bGFiLWNub25jZS0wMDAx"
    uri = f"smtp/{host}"
    a1 = (
        hashlib.md5(f"{user}:{realm}:{password}".encode()).digest()
        + f":{nonce}:{cnonce}".encode()
    )
    a2 = f"AUTHENTICATE:{uri}".encode()
    ha1 = hashlib.md5(a1).hexdigest()
    ha2 = hashlib.md5(a2).hexdigest()
    kd = f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()
    digest = hashlib.md5(kd).hexdigest()
    response = (
        f'charset=utf-8,username="{user}",realm="{realm}",nonce="{nonce}",'
        f'nc=00000001,cnonce="{cnonce}",digest-uri="{uri}",response={digest},'
        "qop=auth"
    )
    return response, realm


def scenario_digest_md5(lab):
    session = lab.session(40032)
    conn = lab.smtp(40032)
    conn.ehlo()
    code, challenge = conn.docmd("AUTH DIGEST-MD5")
    assert code == 334, (code, challenge)
    response, realm = digest_md5_response(
        base64.b64decode(challenge), "alice", USERS["alice"], "mail.example.org"
    )
    code, rspauth = conn.docmd(b64(response))
    if code == 334:
        code, _ = conn.docmd("")
    session["auth"].append(
        auth_entry("DIGEST-MD5", "alice", USERS["alice"], code == 235, False, code)
    )
    session["auth"][-1]["realm"] = realm
    if code != 235:
        raise SystemExit(f"DIGEST-MD5 failed: {code}")
    send_smtplib(
        lab,
        session,
        conn,
        "digest-md5",
        "AUTH DIGEST-MD5",
        "alice@example.org",
        ["bob@example.org"],
    )
    conn.quit()


def scenario_fail_then_success(lab):
    session = lab.session(40033)
    conn = lab.smtp(40033)
    conn.ehlo()
    wrong = "not-the-password"
    code, _ = conn.docmd("AUTH PLAIN " + b64("\0alice\0" + wrong))
    session["auth"].append(auth_entry("PLAIN", "alice", wrong, code == 235, True, code))
    assert code == 535, code
    code, _ = conn.docmd("AUTH LOGIN")
    assert code == 334, code
    code, _ = conn.docmd(b64("alice"))
    assert code == 334, code
    code, _ = conn.docmd(b64(USERS["alice"]))
    session["auth"].append(
        auth_entry("LOGIN", "alice", USERS["alice"], code == 235, False, code)
    )
    assert code == 235, code
    send_smtplib(
        lab,
        session,
        conn,
        "fail-then-success",
        "Failed login then success",
        "alice@example.org",
        ["bob@example.org"],
    )
    conn.quit()


def scenario_pipelining(lab):
    client_port = 40034
    session = lab.session(client_port)
    to = ["bob@example.org", "nobody@example.org", "carol@elsewhere.test"]
    tag = "pipelining-rejected"
    raw = plain_message_lf(tag, "Pipelined, one RCPT accepted and two rejected", to)
    path = lab.write_data(f"{tag}.txt", raw)
    transcript = lab.swaks(
        client_port,
        path,
        "mallory@elsewhere.test",
        to,
        ["--ehlo", "client.example.org", "--pipeline"],
        tag,
    )
    accepted, rejected = swaks_rcpt_outcome(transcript)
    assert accepted == ["bob@example.org"], transcript
    session["messages"].append(
        describe_message(
            swaks_content(raw), "mallory@elsewhere.test", accepted, rejected, "DATA"
        )
    )
    session["pipelining"] = True


def scenario_rset_multi(lab):
    session = lab.session(40035)
    conn = lab.smtp(40035)
    conn.ehlo()
    send_smtplib(
        lab,
        session,
        conn,
        "multi-1",
        "First of three",
        "alice@example.org",
        ["bob@example.org"],
        [".", ".starts with a dot", "a line", "."],
    )
    conn.rset()
    # An abandoned transaction: envelope only, reset before DATA.
    conn.mail("alice@example.org")
    conn.rcpt("bob@example.org")
    conn.rset()
    session["abandoned_transactions"] = [
        {"mail_from": "alice@example.org", "rcpt_accepted": ["bob@example.org"]}
    ]
    send_smtplib(
        lab,
        session,
        conn,
        "multi-2",
        "Second of three",
        "bob@example.org",
        ["alice@example.org", "bob@example.org"],
    )
    conn.rset()
    send_smtplib(
        lab,
        session,
        conn,
        "multi-3",
        "Third of three",
        "alice@example.org",
        ["bob@example.org", "ghost@example.org"],
    )
    conn.quit()


def recv_reply(sock):
    """Read one complete (possibly multi-line) SMTP reply from a raw socket."""
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("server closed the connection")
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) > 1 and len(lines[-2]) >= 4 and lines[-2][3:4] == b" ":
            return int(lines[-2][:3]), data


def bdat_message(tag, subject, body_size):
    """A message whose body holds every byte value, including NUL and bare CR/LF."""
    header = text_message(tag, subject, "alice@example.org", ["bob@example.org"], [])
    header = header.replace(
        b"Content-Type: text/plain; charset=us-ascii",
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary",
    )
    pattern = bytes(range(256)) + b"\r\n.\r\n" + b".dot\r\n" + b"bare\nLF bare\rCR\r\n"
    body = (pattern * (body_size // len(pattern) + 1))[:body_size]
    return header + body


def scenario_bdat(lab):
    session = lab.session(40036)
    sock = socket.create_connection(
        (lab.server, lab.port), timeout=30, source_address=(lab.client, 40036)
    )
    code, _ = recv_reply(sock)
    assert code == 220
    sock.sendall(b"EHLO client.example.org\r\n")
    code, ehlo = recv_reply(sock)
    assert b"CHUNKING" in ehlo, ehlo

    def command(line):
        sock.sendall(line + CRLF)
        return recv_reply(sock)[0]

    # Message 1: BDAT 1000, BDAT 2000, BDAT n LAST.
    msg1 = bdat_message("bdat-1", "BDAT in three chunks", 3500)
    assert command(b"MAIL FROM:<alice@example.org> BODY=8BITMIME") == 250
    assert command(b"RCPT TO:<bob@example.org>") == 250
    chunks = [msg1[:1000], msg1[1000:3000], msg1[3000:]]
    for index, chunk in enumerate(chunks):
        last = b" LAST" if index == len(chunks) - 1 else b""
        sock.sendall(b"BDAT %d%s\r\n" % (len(chunk), last) + chunk)
        code, _ = recv_reply(sock)
        assert code == 250, code
    session["messages"].append(
        describe_message(msg1, "alice@example.org", ["bob@example.org"], [], "BDAT")
    )
    session["messages"][-1]["chunks"] = [len(c) for c in chunks]
    # Message 2: BDAT 500 then BDAT 0 LAST.
    msg2 = bdat_message("bdat-2", "BDAT ended by BDAT 0 LAST", 300)
    assert command(b"MAIL FROM:<alice@example.org> BODY=8BITMIME") == 250
    assert command(b"RCPT TO:<bob@example.org>") == 250
    sock.sendall(b"BDAT %d\r\n" % len(msg2) + msg2)
    assert recv_reply(sock)[0] == 250
    assert command(b"BDAT 0 LAST") == 250
    session["messages"].append(
        describe_message(msg2, "alice@example.org", ["bob@example.org"], [], "BDAT")
    )
    session["messages"][-1]["chunks"] = [len(msg2), 0]
    assert command(b"QUIT") == 221
    sock.close()


def scenario_starttls(lab):
    client_port = 40037
    session = lab.session(client_port, tls=True)
    to = ["bob@example.org"]
    tag = "starttls"
    raw = plain_message_lf(tag, "Sent after STARTTLS", to)
    path = lab.write_data(f"{tag}.txt", raw)
    transcript = lab.swaks(
        client_port,
        path,
        "alice@example.org",
        to,
        [
            "--ehlo",
            "client.example.org",
            "--tls",
            "--tls-sni",
            "mail.example.org",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice",
            "--auth-password",
            USERS["alice"],
        ],
        tag,
    )
    ok = swaks_auth_ok(transcript)
    session["auth"].append(
        auth_entry("PLAIN", "alice", USERS["alice"], ok, True, 235 if ok else None)
    )
    session["auth"][-1]["encrypted"] = True
    accepted, rejected = swaks_rcpt_outcome(transcript)
    session["messages"].append(
        describe_message(
            swaks_content(raw), "alice@example.org", accepted, rejected, "DATA"
        )
    )
    session["messages"][-1]["encrypted"] = True


def scenario_smtplib_plain(lab):
    """A plain authenticated smtplib session, reused for the capture formats."""
    client_port = lab.args.client_port
    session = lab.session(client_port)
    conn = lab.smtp(client_port)
    conn.ehlo()
    code, _ = conn.docmd("AUTH PLAIN " + b64("\0bob\0" + USERS["bob"]))
    session["auth"].append(
        auth_entry("PLAIN", "bob", USERS["bob"], code == 235, True, code)
    )
    assert code == 235, code
    send_smtplib(
        lab,
        session,
        conn,
        f"{lab.args.tag}",
        f"Capture format check ({lab.args.tag})",
        "bob@example.org",
        ["alice@example.org"],
        [".dotted line"],
    )
    conn.quit()


def scenario_ipv6(lab):
    session = lab.session(40038)
    conn = lab.smtp(40038)
    conn.ehlo()
    code, _ = conn.docmd("AUTH LOGIN")
    code, _ = conn.docmd(b64("alice"))
    code, _ = conn.docmd(b64(USERS["alice"]))
    session["auth"].append(
        auth_entry("LOGIN", "alice", USERS["alice"], code == 235, False, code)
    )
    assert code == 235, code
    send_smtplib(
        lab,
        session,
        conn,
        "ipv6",
        "Sent over IPv6",
        "alice@example.org",
        ["bob@example.org"],
    )
    conn.quit()


def scenario_foxmail(lab):
    client_port = 40039
    session = lab.session(client_port)
    eml = Path(__file__).resolve().parent / "foxmail.eml"
    to = ["bob@example.org", "carol@example.org"]
    transcript = lab.swaks(
        client_port,
        eml,
        "alice@example.org",
        to,
        [
            "--ehlo",
            "DESKTOP-465M1IO",
            "--auth",
            "LOGIN",
            "--auth-user",
            "alice",
            "--auth-password",
            USERS["alice"],
        ],
        "foxmail",
    )
    ok = swaks_auth_ok(transcript)
    session["auth"].append(
        auth_entry("LOGIN", "alice", USERS["alice"], ok, False, 235 if ok else None)
    )
    accepted, rejected = swaks_rcpt_outcome(transcript)
    message = describe_message(
        swaks_content(eml.read_bytes()), "alice@example.org", accepted, rejected, "DATA"
    )
    # The subject is GBK labelled GB2312, so the stdlib cannot decode it; the
    # generator's own inputs are the truth for subject and attachments.
    known = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
    found = [a["sha256"] for a in message["attachments"]]
    assert found == [a["sha256"] for a in known["attachments"]], found
    message["subject"] = known["subject"]
    message["attachments"] = known["attachments"]
    message["text_plain"] = known["text_plain"]
    message["text_html_sha256"] = known["text_html_sha256"]
    session["messages"].append(message)


def scenario_xoauth2(lab):
    session = lab.session(40040)
    conn = lab.smtp(40040)
    conn.ehlo()

    def xoauth2(user, token):
        return f"user={user}\x01auth=Bearer {token}\x01\x01"

    bad = "ya29.expired-token"
    code, reply = conn.docmd("AUTH XOAUTH2 " + b64(xoauth2("alice@example.org", bad)))
    if code == 334:
        session["xoauth2_error_challenge"] = base64.b64decode(reply).decode()
        code, _ = conn.docmd("")
    entry = auth_entry("XOAUTH2", "alice@example.org", bad, code == 235, True, code)
    entry["token"] = bad
    session["auth"].append(entry)
    good = "ya29.lab-access-token-0001"
    code, _ = conn.docmd("AUTH XOAUTH2 " + b64(xoauth2("alice@example.org", good)))
    entry = auth_entry("XOAUTH2", "alice@example.org", good, code == 235, True, code)
    entry["token"] = good
    session["auth"].append(entry)
    assert code == 235, code
    send_smtplib(
        lab,
        session,
        conn,
        "xoauth2",
        "AUTH XOAUTH2",
        "alice@example.org",
        ["bob@example.org"],
    )
    conn.quit()


def scenario_login_latin1(lab):
    session = lab.session(40041)
    conn = lab.smtp(40041)
    conn.ehlo()
    password = "pässwörd-ÿ".encode("latin-1")
    code, _ = conn.docmd("AUTH LOGIN")
    code, _ = conn.docmd(b64(b"alice"))
    code, _ = conn.docmd(b64(password))
    session["auth"].append(
        auth_entry("LOGIN", "alice", password, code == 235, False, code)
    )
    session["auth"][-1]["note"] = "password is ISO-8859-1 bytes, not valid UTF-8"
    assert code == 235, code
    send_smtplib(
        lab,
        session,
        conn,
        "login-latin1",
        "AUTH LOGIN with a non-UTF-8 password",
        "alice@example.org",
        ["bob@example.org"],
    )
    conn.quit()


SCENARIOS = {
    name[len("scenario_") :].replace("_", "-"): func
    for name, func in globals().items()
    if name.startswith("scenario_")
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--server", required=True)
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--client", required=True)
    parser.add_argument("--client-port", type=int, default=40050)
    parser.add_argument("--tag", default="smtplib-plain")
    parser.add_argument("--work", required=True)
    parser.add_argument("--truth", required=True)
    args = parser.parse_args(argv)
    lab = Lab(args)
    SCENARIOS[args.scenario](lab)
    Path(args.truth).write_text(json.dumps({"sessions": lab.sessions}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
