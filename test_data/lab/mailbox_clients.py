"""Clients of the mailbox lab: one scenario per capture, each writing its ground truth.

Run by make_mailbox_captures.sh inside the client namespace. The truth is what the
client itself sent and received (message bytes as poplib/imaplib/curl handed them
over, logins and their outcome), never what the parser finds.

Usage: mailbox_clients.py SCENARIO --server IP --work DIR --truth FILE
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import imaplib
import json
import os
import pathlib
import poplib
import re
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mailbox_messages  # noqa: E402

USERS = {
    "alice": "Wonder-Land-42",
    "bob": "b0b-S3cret!",
    "carol": 'Qu"o\\te-7 x',  # a quote, a backslash and a space: quoted with escapes
}
WRONG = "not-the-password"


class Truth:
    def __init__(self) -> None:
        self.sessions: list[dict] = []

    def session(self, protocol: str, sock: socket.socket, client: str) -> dict:
        local, remote = sock.getsockname(), sock.getpeername()
        entry = {
            "protocol": protocol,
            "client_software": client,
            "client_ip": local[0],
            "client_port": local[1],
            "server_ip": remote[0],
            "server_port": remote[1],
            "logins": [],
            "messages": [],
        }
        self.sessions.append(entry)
        return entry


def digest(data: bytes) -> dict:
    return {
        "size": len(data),
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def login(session, mechanism, user, password, success, **extra):
    session["logins"].append(
        {
            "mechanism": mechanism,
            "username": user,
            "password": password,
            "success": success,
            **extra,
        }
    )


def message(session, kind, command, data, **extra):
    session["messages"].append(
        {"kind": kind, "command": command, **extra, **digest(data), "hex": data.hex()}
    )


# -- POP3 ---------------------------------------------------------------------


def pop_body(lines: list[bytes]) -> bytes:
    """poplib has removed the CRLFs and the dot-stuffing; put the CRLFs back."""
    return b"".join(line + b"\r\n" for line in lines)


def pop3_user_pass(args, truth):
    pop = poplib.POP3(args.server, 110, timeout=20)
    session = truth.session("pop3", pop.sock, "Python poplib")
    pop.user("alice")
    try:
        pop.pass_(WRONG)
        raise SystemExit("wrong password accepted")
    except poplib.error_proto:
        login(session, "USER", "alice", WRONG, False)
    pop.user("alice")
    pop.pass_(USERS["alice"])
    login(session, "USER", "alice", USERS["alice"], True)
    pop.capa()
    session["stat"] = list(pop.stat())
    pop.list()
    uidl = {}
    for line in pop.uidl()[1]:
        number, uid = line.split()
        uidl[int(number)] = uid.decode()
    for number in (1, 2, 3):
        data = pop_body(pop.retr(number)[1])
        message(
            session,
            "retrieved",
            f"RETR {number}",
            data,
            number=number,
            uidl=uidl[number],
        )
    for number, lines in ((1, 0), (2, 3)):
        data = pop_body(pop.top(number, lines)[1])
        message(
            session,
            "partial",
            f"TOP {number} {lines}",
            data,
            number=number,
            uidl=uidl[number],
        )
    data = pop_body(pop.retr(2)[1])
    message(session, "retrieved", "RETR 2", data, number=2, uidl=uidl[2])
    pop.dele(3)
    pop.rset()
    pop.noop()
    pop.dele(1)
    session["deleted"] = [1]
    pop.quit()


def pop3_apop(args, truth):
    pop = poplib.POP3(args.server, 110, timeout=20)
    session = truth.session("pop3", pop.sock, "Python poplib")
    timestamp = re.search(rb"<[^>]*>", pop.welcome).group(0)
    session["apop_timestamp"] = timestamp.decode()
    try:
        pop.apop("bob", WRONG)
        raise SystemExit("wrong APOP accepted")
    except poplib.error_proto:
        login(
            session,
            "APOP",
            "bob",
            None,
            False,
            digest=hashlib.md5(timestamp + WRONG.encode()).hexdigest(),
        )
    pop.apop("bob", USERS["bob"])
    login(
        session,
        "APOP",
        "bob",
        None,
        True,
        digest=hashlib.md5(timestamp + USERS["bob"].encode()).hexdigest(),
        secret=USERS["bob"],
    )
    session["stat"] = list(pop.stat())
    data = pop_body(pop.retr(1)[1])
    message(session, "retrieved", "RETR 1", data, number=1)
    pop.quit()


class Lines:
    """A tiny line client for the exchanges poplib/imaplib cannot make."""

    def __init__(self, host, port, tls=False):
        self.sock = socket.create_connection((host, port), 20)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("connection closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def close(self):
        self.sock.close()


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def cram(challenge_b64: bytes, user: str, password: str) -> bytes:
    challenge = base64.b64decode(challenge_b64)
    mac = hmac.new(password.encode(), challenge, "md5").hexdigest()
    return b64(f"{user} {mac}".encode())


def pop3_sasl(args, truth):
    # 1: PLAIN with an initial response (wrong password), then PLAIN without one.
    c = Lines(args.server, 110)
    session = truth.session("pop3", c.sock, "raw socket")
    c.line()
    c.send(b"CAPA\r\n")
    while c.line() != b".":
        pass
    c.send(b"AUTH PLAIN " + b64(f"\0alice\0{WRONG}".encode()) + b"\r\n")
    assert c.line().startswith(b"-ERR")
    login(session, "PLAIN", "alice", WRONG, False, initial_response=True)
    c.send(b"AUTH PLAIN\r\n")
    assert c.line().startswith(b"+")
    c.send(b64(f"\0alice\0{USERS['alice']}".encode()) + b"\r\n")
    assert c.line().startswith(b"+OK")
    login(session, "PLAIN", "alice", USERS["alice"], True, initial_response=False)
    c.send(b"STAT\r\n")
    session["stat"] = [int(x) for x in c.line().split()[1:3]]
    c.send(b"QUIT\r\n")
    c.line()
    c.close()
    # 2: CRAM-MD5.
    c = Lines(args.server, 110)
    session = truth.session("pop3", c.sock, "raw socket")
    c.line()
    c.send(b"AUTH CRAM-MD5\r\n")
    challenge = c.line()[2:]
    c.send(cram(challenge, "bob", USERS["bob"]) + b"\r\n")
    assert c.line().startswith(b"+OK")
    login(
        session,
        "CRAM-MD5",
        "bob",
        None,
        True,
        challenge=base64.b64decode(challenge).decode(),
        secret=USERS["bob"],
    )
    c.send(b"LIST\r\n")
    while c.line() != b".":
        pass
    c.send(b"QUIT\r\n")
    c.line()
    c.close()
    # 3: LOGIN, answered "*" (cancelled) once, then for real.
    c = Lines(args.server, 110)
    session = truth.session("pop3", c.sock, "raw socket")
    c.line()
    c.send(b"AUTH LOGIN\r\n")
    c.line()
    c.send(b"*\r\n")
    assert c.line().startswith(b"-ERR")
    login(session, "LOGIN", None, None, False, aborted=True)
    c.send(b"AUTH LOGIN\r\n")
    c.line()
    c.send(b64(b"carol") + b"\r\n")
    c.line()
    c.send(b64(USERS["carol"].encode()) + b"\r\n")
    assert c.line().startswith(b"+OK")
    login(session, "LOGIN", "carol", USERS["carol"], True)
    c.send(b"QUIT\r\n")
    c.line()
    c.close()


def tls_context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def pop3_stls(args, truth):
    pop = poplib.POP3(args.server, 110, timeout=20)
    session = truth.session("pop3", pop.sock, "Python poplib")
    pop.capa()
    pop.stls(tls_context())
    session["tls"] = True
    pop.user("alice")
    pop.pass_(USERS["alice"])
    login(session, "USER", "alice", USERS["alice"], True, encrypted=True)
    pop.quit()


def curl(args, truth, protocol, url_path, port, local_port, extra, out_name):
    out = pathlib.Path(args.work) / out_name
    command = [
        "curl",
        "-sS",
        "--local-port",
        str(local_port),
        "-u",
        "alice:" + USERS["alice"],
        *extra,
        f"{protocol}://{args.server}:{port}/{url_path}",
        "-o",
        str(out),
    ]
    subprocess.run(command, check=True, timeout=30)
    session = {
        "protocol": protocol,
        "client_software": "curl "
        + subprocess.run(
            ["curl", "--version"], capture_output=True, text=True
        ).stdout.split()[1],
        "client_ip": None,
        "client_port": local_port,
        "server_ip": args.server,
        "server_port": port,
        "command_line": command[1:],
        # curl picks the strongest mechanism Dovecot offers: CRAM-MD5.
        "logins": [
            {
                "mechanism": "CRAM-MD5",
                "username": "alice",
                "password": None,
                "secret": USERS["alice"],
                "success": True,
            }
        ],
        "messages": [],
    }
    truth.sessions.append(session)
    return session, out


def pop3_curl(args, truth):
    session, out = curl(args, truth, "pop3", "1", 2110, 41110, [], "curl-pop3-1")
    message(session, "retrieved", "RETR 1", out.read_bytes(), number=1)
    session, out = curl(
        args, truth, "pop3", "", 2110, 41111, ["-X", "TOP 3 2"], "curl-pop3-top"
    )
    session["messages"].append(
        {
            "kind": "partial",
            "command": "TOP 3 2",
            "note": "curl prints the TOP response body",
            **digest(out.read_bytes()),
            "hex": out.read_bytes().hex(),
        }
    )


# -- IMAP ---------------------------------------------------------------------


def fetch_literal(response) -> bytes:
    """The literal of a one-message FETCH as imaplib returns it."""
    for part in response:
        if isinstance(part, tuple):
            return part[1]
    raise SystemExit(f"no literal in {response!r}")


def imap_login(args, truth):
    imap = imaplib.IMAP4(args.server, 143, timeout=20)
    session = truth.session("imap", imap.sock, "Python imaplib")
    try:
        imap.login("alice", WRONG)
        raise SystemExit("wrong password accepted")
    except imaplib.IMAP4.error:
        login(session, "LOGIN", "alice", WRONG, False)
    imap.login("carol", USERS["carol"])
    login(session, "LOGIN", "carol", USERS["carol"], True, form="quoted, escapes")
    imap.logout()
    # A synchronising literal password, then a non-synchronising one (LITERAL+).
    c = Lines(args.server, 143)
    session = truth.session("imap", c.sock, "raw socket")
    c.line()
    password = USERS["bob"].encode()
    c.send(b"L1 LOGIN bob {%d}\r\n" % len(password))
    assert c.line().startswith(b"+")
    c.send(password + b"\r\n")
    assert c.line().startswith(b"L1 OK")
    login(session, "LOGIN", "bob", USERS["bob"], True, form="literal {n}")
    c.send(b"L2 SELECT INBOX\r\n")
    while not c.line().startswith(b"L2 "):
        pass
    c.send(b"L3 LOGOUT\r\n")
    while not c.line().startswith(b"L3 "):
        pass
    c.close()
    c = Lines(args.server, 143)
    session = truth.session("imap", c.sock, "raw socket")
    c.line()
    password = USERS["alice"].encode()
    c.send(b"P1 LOGIN {5+}\r\nalice {%d+}\r\n%s\r\n" % (len(password), password))
    assert c.line().startswith(b"P1 OK")
    login(session, "LOGIN", "alice", USERS["alice"], True, form="literal {n+}")
    c.send(b"P2 LOGOUT\r\n")
    while not c.line().startswith(b"P2 "):
        pass
    c.close()


def deliver(args, user, data):
    """Delivers through Dovecot's LDA, as a local delivery agent would."""
    subprocess.run(
        ["/usr/lib/dovecot/dovecot-lda", "-c", args.dovecot_conf, "-d", user],
        input=data,
        check=True,
        timeout=30,
    )


def imap_fetch(args, truth):
    imap = imaplib.IMAP4(args.server, 143, timeout=20)
    session = truth.session("imap", imap.sock, "Python imaplib")
    imap.login("alice", USERS["alice"])
    login(session, "LOGIN", "alice", USERS["alice"], True)
    typ, data = imap.select("INBOX")
    session["selected"] = [["INBOX", int(data[0])]]
    typ, data = imap.fetch("1:3", "(UID)")
    uids = {}
    for line in data:
        number, uid = re.match(rb"(\d+) \(UID (\d+)\)", line).groups()
        uids[int(number)] = int(uid)
    session["uids"] = uids

    def fetch(number, item, kind, partial=None, uid=False):
        if uid:
            typ, response = imap.uid("FETCH", str(uids[number]), item)
            command = f"UID FETCH {uids[number]} {item}"
        else:
            typ, response = imap.fetch(str(number), item)
            command = f"FETCH {number} {item}"
        assert typ == "OK", response
        message(
            session,
            kind,
            command,
            fetch_literal(response),
            mailbox="INBOX",
            number=number,
            uid=uids[number],
            partial=partial,
        )

    fetch(1, "(BODY[])", "retrieved")
    fetch(2, "(RFC822)", "retrieved", uid=True)
    fetch(3, "(BODY.PEEK[])", "retrieved")
    fetch(1, "(BODY.PEEK[HEADER])", "partial", "HEADER")
    fetch(2, "(BODY[TEXT])", "partial", "TEXT")
    fetch(3, "(BODY[]<0.200>)", "partial", "<0.200>")
    fetch(1, "(BODY.PEEK[2])", "partial", "2")
    fetch(1, "(BODY[])", "retrieved")  # the same message again
    # Pipelined: three commands in one write, answered in order.
    imap.send(
        b"X1 NOOP\r\nX2 FETCH 2 (BODY.PEEK[])\r\nX3 UID FETCH %d (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n"
        % uids[3]
    )
    literals, done = [], 0
    while done < 3:
        line = imap.readline()
        match = re.search(rb"\{(\d+)\}\r\n$", line)
        if match:
            literals.append(imap.read(int(match.group(1))))
        elif re.match(rb"X\d OK", line):
            done += 1
    message(
        session,
        "retrieved",
        "FETCH 2 (BODY.PEEK[])",
        literals[0],
        mailbox="INBOX",
        number=2,
        uid=uids[2],
        pipelined=True,
    )
    message(
        session,
        "partial",
        f"UID FETCH {uids[3]} (BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
        literals[1],
        mailbox="INBOX",
        number=3,
        uid=uids[3],
        partial="HEADER.FIELDS (SUBJECT)",
        pipelined=True,
    )
    typ, data = imap.select("Sent", readonly=True)
    session["selected"].append(["Sent", int(data[0])])
    sent = mailbox_messages.sent_copy()
    typ, data = imap.append("Sent", r"(\Seen)", None, sent)
    assert typ == "OK", data
    uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
    message(session, "appended", "APPEND Sent", sent, mailbox="Sent", uid=uid)
    typ, data = imap.select("INBOX")
    session["selected"].append(["INBOX", int(data[0])])
    # IDLE until a message is delivered, then fetch it.
    tag = imap._new_tag()
    imap.send(tag + b" IDLE\r\n")
    assert imap.readline().startswith(b"+")
    deliver(args, "alice", mailbox_messages.idle_message())
    while True:
        line = imap.readline()
        if line.rstrip().endswith(b"EXISTS"):
            exists = int(line.split()[1])
            break
    imap.send(b"DONE\r\n")
    while not imap.readline().startswith(tag):
        pass
    session["idle_exists"] = exists
    typ, response = imap.fetch(str(exists), "(UID BODY[])")
    uid = int(re.search(rb"UID (\d+)", response[0][0]).group(1))
    message(
        session,
        "retrieved",
        f"FETCH {exists} (UID BODY[])",
        fetch_literal(response),
        mailbox="INBOX",
        number=exists,
        uid=uid,
    )
    imap.logout()


def imap_chunked(args, truth):
    """Thunderbird-style: one message fetched in 500-byte chunks with its size."""
    imap = imaplib.IMAP4(args.server, 143, timeout=20)
    session = truth.session("imap", imap.sock, "Python imaplib")
    imap.login("alice", USERS["alice"])
    login(session, "LOGIN", "alice", USERS["alice"], True)
    imap.select("INBOX")
    joined, first = b"", None
    for origin in range(0, 2000, 500):
        item = f"(UID RFC822.SIZE BODY.PEEK[]<{origin}.500>)"
        typ, response = imap.uid("FETCH", "3", item)
        assert typ == "OK", response
        size = int(re.search(rb"RFC822.SIZE (\d+)", response[0][0]).group(1))
        chunk = fetch_literal(response)
        first = first or f"UID FETCH 3 {item}"
        message(
            session,
            "partial",
            f"UID FETCH 3 {item}",
            chunk,
            mailbox="INBOX",
            uid=3,
            partial=f"BODY[]<{origin}.{len(chunk)}>",
        )
        joined += chunk
        if origin + len(chunk) >= size:
            break
    # The whole message, from the chunks in order (what the client itself keeps).
    message(session, "retrieved", first, joined, mailbox="INBOX", uid=3, joined=True)
    imap.logout()


def imap_sasl(args, truth):
    # PLAIN without an initial response (imaplib), after a failed one.
    imap = imaplib.IMAP4(args.server, 143, timeout=20)
    session = truth.session("imap", imap.sock, "Python imaplib")
    try:
        imap.authenticate("PLAIN", lambda _: f"\0alice\0{WRONG}".encode())
        raise SystemExit("wrong password accepted")
    except imaplib.IMAP4.error:
        login(session, "PLAIN", "alice", WRONG, False, initial_response=False)
    imap.authenticate("PLAIN", lambda _: f"\0alice\0{USERS['alice']}".encode())
    login(session, "PLAIN", "alice", USERS["alice"], True, initial_response=False)
    imap.logout()
    # CRAM-MD5 (imaplib).
    imap = imaplib.IMAP4(args.server, 143, timeout=20)
    session = truth.session("imap", imap.sock, "Python imaplib")
    imap.login_cram_md5("bob", USERS["bob"])
    login(session, "CRAM-MD5", "bob", None, True, secret=USERS["bob"])
    imap.logout()
    # SASL-IR (RFC 4959): PLAIN with the response on the command line.
    c = Lines(args.server, 143)
    session = truth.session("imap", c.sock, "raw socket")
    c.line()
    c.send(
        b"S1 AUTHENTICATE PLAIN " + b64(f"\0carol\0{USERS['carol']}".encode()) + b"\r\n"
    )
    while True:
        line = c.line()
        if line.startswith(b"S1 "):
            break
    assert line.startswith(b"S1 OK"), line
    login(session, "PLAIN", "carol", USERS["carol"], True, initial_response=True)
    c.send(b"S2 LOGOUT\r\n")
    while not c.line().startswith(b"S2 "):
        pass
    c.close()


def imap_starttls(args, truth):
    imap = imaplib.IMAP4(args.server, 143, timeout=20)
    session = truth.session("imap", imap.sock, "Python imaplib")
    imap.starttls(tls_context())
    session["tls"] = True
    imap.login("alice", USERS["alice"])
    login(session, "LOGIN", "alice", USERS["alice"], True, encrypted=True)
    imap.logout()


def imap_curl(args, truth):
    session, out = curl(
        args, truth, "imap", "INBOX;UID=1", 1143, 41143, [], "curl-imap-1"
    )
    message(
        session,
        "retrieved",
        "UID FETCH 1 BODY[]",
        out.read_bytes(),
        mailbox="INBOX",
        uid=1,
    )
    session, out = curl(
        args,
        truth,
        "imap",
        "INBOX;UID=3;SECTION=HEADER",
        1143,
        41144,
        [],
        "curl-imap-header",
    )
    message(
        session,
        "partial",
        "UID FETCH 3 BODY[HEADER]",
        out.read_bytes(),
        mailbox="INBOX",
        uid=3,
        partial="HEADER",
    )
    upload = pathlib.Path(args.work) / "curl-append.eml"
    data = mailbox_messages.sent_copy().replace(b"sent copy", b"curl copy")
    upload.write_bytes(data)
    session, _ = curl(
        args,
        truth,
        "imap",
        "Sent",
        1143,
        41145,
        ["-T", str(upload)],
        "curl-imap-append",
    )
    message(session, "appended", "APPEND Sent", data, mailbox="Sent")


SCENARIOS = {
    "pop3-user-pass": pop3_user_pass,
    "pop3-apop": pop3_apop,
    "pop3-sasl": pop3_sasl,
    "pop3-stls": pop3_stls,
    "pop3-curl": pop3_curl,
    "imap-login": imap_login,
    "imap-fetch": imap_fetch,
    "imap-chunked": imap_chunked,
    "imap-sasl": imap_sasl,
    "imap-starttls": imap_starttls,
    "imap-curl": imap_curl,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--server", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--dovecot-conf")
    args = parser.parse_args()
    truth = Truth()
    SCENARIOS[args.scenario](args, truth)
    time.sleep(0.5)
    pathlib.Path(args.truth).write_text(
        json.dumps({"scenario": args.scenario, "sessions": truth.sessions}, indent=1)
    )


if __name__ == "__main__":
    main()
