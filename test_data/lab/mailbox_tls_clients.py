"""TLS clients of the mailbox lab: POP3 STLS, IMAP STARTTLS, implicit TLS (995, 993).

Run by make_mailbox_tls_captures.sh inside the client namespace. Every client's
ssl context writes its secrets to the key log (``keylog_filename``; curl reads
``SSLKEYLOGFILE``), so the capture can be decrypted from the key log alone. The
truth is what the client sent and received: the message bytes as poplib/imaplib/
curl handed them over, the logins and their outcome, the TLS version and suite
the client's socket negotiated.

Usage: mailbox_tls_clients.py SCENARIO --server IP --work DIR --truth FILE --keylog FILE
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import pathlib
import poplib
import re
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mailbox_messages  # noqa: E402
from mailbox_clients import (  # noqa: E402
    USERS,
    WRONG,
    Lines,
    Truth,
    fetch_literal,
    login,
    message,
    pop_body,
)

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def context(args, version: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
    ctx.keylog_filename = args.keylog
    return ctx


def describe(session: dict, sock: ssl.SSLSocket, implicit: bool) -> None:
    session["tls"] = True
    session["implicit_tls"] = implicit
    session["tls_version"] = sock.version()
    session["tls_cipher_openssl"] = sock.cipher()[0]


# -- POP3 ---------------------------------------------------------------------


def uidl(pop) -> dict:
    out = {}
    for line in pop.uidl()[1]:
        number, uid = line.split()
        out[int(number)] = uid.decode()
    return out


def pop3_stls_tls13(args, truth):
    pop = poplib.POP3(args.server, 110, timeout=20)
    session = truth.session("pop3", pop.sock, "Python poplib")
    pop.capa()
    pop.stls(context(args, "1.3"))
    describe(session, pop.sock, implicit=False)
    pop.user("alice")
    try:
        pop.pass_(WRONG)
        raise SystemExit("wrong password accepted")
    except poplib.error_proto:
        login(session, "USER", "alice", WRONG, False, encrypted=True)
    pop.user("alice")
    pop.pass_(USERS["alice"])
    login(session, "USER", "alice", USERS["alice"], True, encrypted=True)
    session["stat"] = list(pop.stat())
    uids = uidl(pop)
    data = pop_body(pop.retr(3)[1])
    message(session, "retrieved", "RETR 3", data, number=3, uidl=uids[3])
    data = pop_body(pop.top(1, 0)[1])
    message(session, "partial", "TOP 1 0", data, number=1, uidl=uids[1])
    pop.quit()


def pop3_implicit(args, truth, port: int, version: str):
    pop = poplib.POP3_SSL(args.server, port, context=context(args, version), timeout=20)
    session = truth.session("pop3", pop.sock, "Python poplib")
    describe(session, pop.sock, implicit=True)
    pop.user("bob")
    pop.pass_(USERS["bob"])
    login(session, "USER", "bob", USERS["bob"], True, encrypted=True)
    session["stat"] = list(pop.stat())
    uids = uidl(pop)
    for number in (1, 3):
        data = pop_body(pop.retr(number)[1])
        message(
            session,
            "retrieved",
            f"RETR {number}",
            data,
            number=number,
            uidl=uids[number],
        )
    pop.quit()


def pop3s_995_tls12(args, truth):
    pop3_implicit(args, truth, 995, "1.2")


def pop3s_port_465(args, truth):
    """POP3 over implicit TLS on the SMTP submission port: the greeting decides."""
    pop3_implicit(args, truth, 465, "1.3")


# -- IMAP ---------------------------------------------------------------------


def select_and_fetch(imap, session, number: int, uid: bool):
    typ, data = imap.select("INBOX")
    session["selected"] = [["INBOX", int(data[0])]]
    typ, data = imap.fetch(str(number), "(UID)")
    uid_value = int(re.match(rb"\d+ \(UID (\d+)\)", data[0]).group(1))
    if uid:
        typ, response = imap.uid("FETCH", str(uid_value), "(BODY.PEEK[])")
        command = f"UID FETCH {uid_value} (BODY.PEEK[])"
    else:
        typ, response = imap.fetch(str(number), "(BODY[])")
        command = f"FETCH {number} (BODY[])"
    assert typ == "OK", response
    message(
        session,
        "retrieved",
        command,
        fetch_literal(response),
        mailbox="INBOX",
        number=number,
        uid=uid_value,
    )


def append(imap, session, label: str):
    data = mailbox_messages.sent_copy().replace(b"sent copy", label.encode())
    typ, response = imap.append("Sent", r"(\Seen)", None, data)
    assert typ == "OK", response
    message(session, "appended", "APPEND Sent", data, mailbox="Sent")


def imap_starttls_tls12(args, truth):
    imap = imaplib.IMAP4(args.server, 143, timeout=20)
    session = truth.session("imap", imap.sock, "Python imaplib")
    imap.starttls(context(args, "1.2"))
    describe(session, imap.sock, implicit=False)
    try:
        imap.login("alice", WRONG)
        raise SystemExit("wrong password accepted")
    except imaplib.IMAP4.error:
        login(session, "LOGIN", "alice", WRONG, False, encrypted=True)
    imap.login("alice", USERS["alice"])
    login(session, "LOGIN", "alice", USERS["alice"], True, encrypted=True)
    select_and_fetch(imap, session, 3, uid=False)
    append(imap, session, "STARTTLS copy")
    imap.logout()


def imaps_993_tls13(args, truth):
    imap = imaplib.IMAP4_SSL(
        args.server, 993, ssl_context=context(args, "1.3"), timeout=20
    )
    session = truth.session("imap", imap.sock, "Python imaplib")
    describe(session, imap.sock, implicit=True)
    imap.login("carol", USERS["carol"])
    login(
        session, "LOGIN", "carol", USERS["carol"], True, encrypted=True,
        form="quoted, escapes",
    )  # fmt: skip
    select_and_fetch(imap, session, 1, uid=True)
    append(imap, session, "implicit TLS copy")
    imap.logout()


def imaps_993_literal_refused(args, truth):
    """A LOGIN literal too large for Dovecot, refused in place of the continuation.

    Dovecot 2.3 answers ``* BYE Literal size too large`` and closes: the password
    is never sent.
    """
    c = Lines(args.server, 993)
    c.sock = context(args, "1.3").wrap_socket(c.sock)
    session = truth.session("imap", c.sock, "raw socket")
    describe(session, c.sock, implicit=True)
    c.line()
    c.send(b"R1 LOGIN alice {%d}\r\n" % (10 << 20))
    reply = c.line()
    if reply.startswith(b"+"):
        raise SystemExit(f"the literal was not refused: {reply!r}")
    session["refusal"] = reply.decode()
    login(
        session, "LOGIN", "alice", None, False, encrypted=True,
        form="literal refused before it was sent",
    )  # fmt: skip
    try:  # Dovecot closes; read to the end so that the close is a FIN, not a reset
        while c.sock.recv(65536):
            pass
    except (ssl.SSLError, OSError):
        pass
    c.close()


# -- curl ---------------------------------------------------------------------


def curl_implicit(args, truth):
    """curl over pop3s:// (995) and imaps:// (993); SSLKEYLOGFILE for its secrets."""
    version = subprocess.run(
        ["curl", "--version"], capture_output=True, text=True
    ).stdout.split()[1]
    env = dict(os.environ, SSLKEYLOGFILE=args.keylog)
    runs = (
        ("pop3", "pop3s", 995, 41995, "3", "RETR 3", {"number": 3}),
        ("imap", "imaps", 993, 41993, "INBOX;UID=3", "UID FETCH 3 BODY[]",
         {"mailbox": "INBOX", "uid": 3}),
    )  # fmt: skip
    for protocol, scheme, port, local_port, path, command, extra in runs:
        out = pathlib.Path(args.work) / f"curl-{scheme}.out"
        argv = [
            "curl", "-sS", "-v", "-k", "--tlsv1.3", "--local-port", str(local_port),
            "-u", "alice:" + USERS["alice"],
            f"{scheme}://{args.server}:{port}/{path}", "-o", str(out),
        ]  # fmt: skip
        result = subprocess.run(
            argv, check=True, timeout=30, env=env, capture_output=True, text=True
        )
        # curl's own trace says which SASL mechanism it chose and what was accepted.
        sent = [
            line[2:] for line in result.stderr.splitlines() if line.startswith("> ")
        ]
        auth = [line for line in sent if re.match(r"(?:[A-Z0-9]+ )?AUTH", line)]
        mechanism = auth[0].split()[-1] if auth else None
        session = {
            "protocol": protocol,
            "client_software": f"curl {version}",
            "client_ip": None,
            "client_port": local_port,
            "server_ip": args.server,
            "server_port": port,
            "command_line": argv[1:],
            "tls": True,
            "implicit_tls": True,
            "curl_commands": sent,
            "logins": [
                {
                    "mechanism": mechanism,
                    "username": "alice",
                    "password": None,
                    "secret": USERS["alice"],
                    "success": True,
                    "encrypted": True,
                }
            ],
            "messages": [],
        }
        truth.sessions.append(session)
        message(session, "retrieved", command, out.read_bytes(), **extra)


SCENARIOS = {
    "pop3-stls-tls13": pop3_stls_tls13,
    "pop3s-995-tls12": pop3s_995_tls12,
    "pop3s-port-465": pop3s_port_465,
    "imap-starttls-tls12": imap_starttls_tls12,
    "imaps-993-tls13": imaps_993_tls13,
    "imaps-993-literal-refused": imaps_993_literal_refused,
    "curl-implicit-tls": curl_implicit,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--server", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--keylog", required=True)
    args = parser.parse_args()
    truth = Truth()
    SCENARIOS[args.scenario](args, truth)
    time.sleep(0.5)
    pathlib.Path(args.truth).write_text(
        json.dumps({"scenario": args.scenario, "sessions": truth.sessions}, indent=1)
    )


if __name__ == "__main__":
    main()
