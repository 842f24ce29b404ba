"""Lab clients for the quirk captures: non-standard end-of-data markers, and FTP.

Run inside the client namespace by make_quirk_captures.sh. Each scenario writes its
ground truth from what the client sent and what the server answered (standard
library only): for SMTP the exact content bytes before each end marker, the marker
and the reply; for FTP the commands and replies of every control connection.
"""

import argparse
import ftplib
import hashlib
import json
import socket
import sys
from pathlib import Path

CRLF = b"\r\n"


def recv_reply(sock):
    """One complete SMTP reply (lines may end in CRLF), or (None, b"") on close."""
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return None, data
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) > 1 and len(lines[-2]) >= 4 and lines[-2][3:4] == b" ":
            return int(lines[-2][:3]), data


def content(tag, body_lines, line_end=CRLF):
    header = [
        b"Date: Sun, 29 Nov 2026 10:00:00 +0000",
        b"From: alice@example.org",
        b"To: bob@example.org",
        b"Subject: end marker " + tag.encode(),
        b"Message-ID: <" + tag.encode() + b"@client.example.org>",
        b"",
    ]
    return line_end.join(header + [line.encode() for line in body_lines]) + line_end


def digest(data):
    return {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "hex": data.hex(),
    }


def smtp_session(server, port, client, client_port, plan):
    """One session; plan: list of (tag, content, tail) sent after DATA/354.

    ``tail`` is what follows the content: a non-standard end marker alone, or a
    marker the server may ignore followed by more content and CRLF.CRLF. The truth
    records every byte sent and the reply the server gave to the data.
    """
    sock = socket.create_connection(
        (server, port), timeout=20, source_address=(client, client_port)
    )
    session = {
        "client_ip": client,
        "client_port": client_port,
        "server_ip": server,
        "server_port": port,
        "messages": [],
    }
    code, banner = recv_reply(sock)
    session["banner"] = banner.decode().strip()
    sock.sendall(b"EHLO client.example.org\r\n")
    recv_reply(sock)
    for tag, body, tail in plan:
        sock.sendall(b"MAIL FROM:<alice@example.org>\r\n")
        assert recv_reply(sock)[0] == 250
        sock.sendall(b"RCPT TO:<bob@example.org>\r\n")
        assert recv_reply(sock)[0] == 250
        sock.sendall(b"DATA\r\n")
        assert recv_reply(sock)[0] == 354
        pieces = tail if isinstance(tail, list) else [tail]
        sock.sendall(body)
        early = []
        for piece in pieces[:-1]:
            # A marker the server may or may not take as the end: wait for a reply.
            sock.sendall(piece)
            sock.settimeout(2)
            try:
                early.append(recv_reply(sock)[0])
            except TimeoutError:
                early.append(None)
            sock.settimeout(20)
            if early[-1] is not None:
                break
        else:
            sock.sendall(pieces[-1])
        code, reply = (
            recv_reply(sock) if not early or early[-1] is None else (early[-1], b"")
        )
        tail = b"".join(pieces)
        session["messages"].append(
            {
                "tag": tag,
                "sent_after_354": digest(body + tail),
                "content_before_tail": digest(body),
                "tail_hex": tail.hex(),
                "reply_after_pieces": early,
                "reply_code": code,
                "reply": reply.decode("utf-8", "backslashreplace").strip(),
            }
        )
        if code is None or code >= 500:
            session["closed_by_server"] = code is None or code == 521
            break
    else:
        sock.sendall(b"QUIT\r\n")
        session["quit_reply"] = recv_reply(sock)[0]
    sock.close()
    return session


def scenario_bare_lf(args):
    """Postfix with smtpd_forbid_bare_newline=no: which dot lines end the data."""
    plan = [
        # A netcat client: every line ends in LF, the data in "\n.\n".
        ("lf-lf", content("lf-lf", ["netcat line 1", "netcat line 2"], b"\n"), b".\n"),
        # CRLF lines, then ".\n": the marker "\r\n.\n".
        ("crlf-lf", content("crlf-lf", ["CRLF body"]), b".\n"),
        # LF before the dot, CRLF after it: "\n.\r\n".
        ("lf-crlf", content("lf-crlf", ["bare LF last line"], b"\n"), b".\r\n"),
        # "\r.\r" is no line to Postfix: the data goes on to a real CRLF.CRLF.
        (
            "cr-cr",
            content("cr-cr", ["before the CR dot CR"])[:-2],
            b"\r.\rafter it\r\n.\r\n",
        ),
        # "\r\n.\r" then more: also not an end for Postfix.
        ("crlf-cr", content("crlf-cr", ["before"]), b".\rafter\r\n.\r\n"),
    ]
    return [smtp_session(args.server, 25, args.client, 40101, plan)]


def scenario_piped(args):
    """Like ``nc mx 25 < script``: every line ends in LF, sent in one flight after
    the banner; the second message follows the first "\n.\n" (SMTP smuggling's
    shape). The truth lists the two messages as Postfix took them."""
    first = content("piped-1", ["first message"], b"\n")
    second = content("piped-2", ["second message, after the bare-LF end"], b"\n")
    script = (
        b"EHLO client.example.org\nMAIL FROM:<alice@example.org>\n"
        b"RCPT TO:<bob@example.org>\nDATA\n" + first + b".\n"
        b"MAIL FROM:<mallory@example.org>\nRCPT TO:<bob@example.org>\nDATA\n"
        + second
        + b".\nQUIT\n"
    )
    sock = socket.create_connection(
        (args.server, 25), timeout=20, source_address=(args.client, 40103)
    )
    banner = recv_reply(sock)[1]
    sock.sendall(script)
    replies = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        replies += chunk
    sock.close()
    lines = replies.decode().split("\r\n")
    queued = [line for line in lines if "queued as" in line]
    return [
        {
            "client_ip": args.client,
            "client_port": 40103,
            "server_ip": args.server,
            "server_port": 25,
            "banner": banner.decode().strip(),
            "sent": digest(script),
            "replies": lines,
            "messages": [
                {
                    "tag": "piped-1",
                    "mail_from": "alice@example.org",
                    "content": digest(first),
                    "reply": queued[0] if queued else None,
                },
                {
                    "tag": "piped-2",
                    "mail_from": "mallory@example.org",
                    "content": digest(second),
                    "reply": queued[1] if len(queued) > 1 else None,
                },
            ],
        }
    ]


def scenario_forbid_bare_lf(args):
    """Postfix with smtpd_forbid_bare_newline=yes on port 2526."""
    plan = [
        # "\n.\n" then, as no reply comes within 2 s, more content and CRLF.CRLF.
        (
            "lf-lf-forbidden",
            content("lf-lf-forbidden", ["line 1", "line 2"], b"\n"),
            [b".\n", b"more after the bare-LF dot\r\n.\r\n"],
        ),
    ]
    return [smtp_session(args.server, 2526, args.client, 40102, plan)]


def scenario_ftp(args):
    """An FTP password guesser then a real anonymous session with a listing."""
    sessions = []
    for number, (user, password) in enumerate(
        [("alice", "123456"), ("alice", "password"), ("admin", "admin"),
         ("root", "toor"), ("anonymous", "guest@example.org")]
    ):  # fmt: skip
        ftp = ftplib.FTP()
        ftp.connect(
            args.server, 21, timeout=20, source_address=(args.client, 40200 + number)
        )
        ftp.source_address = (args.client, 0)  # data connections: any port
        entry = {
            "client_port": 40200 + number,
            "welcome": ftp.getwelcome(),
            "user": user,
        }
        try:
            entry["login"] = ftp.login(user, password)
            entry["pwd"] = ftp.pwd()
            entry["syst"] = ftp.sendcmd("SYST")
            entry["feat"] = ftp.sendcmd("FEAT")
            entry["listing"] = ftp.nlst()
        except ftplib.error_perm as error:
            entry["login"] = str(error)
        try:
            ftp.quit()
        except (ftplib.Error, OSError):
            ftp.close()
        sessions.append(entry)
    return sessions


SCENARIOS = {
    "bare-lf": scenario_bare_lf,
    "piped": scenario_piped,
    "forbid-bare-lf": scenario_forbid_bare_lf,
    "ftp": scenario_ftp,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--server", required=True)
    parser.add_argument("--client", required=True)
    parser.add_argument("--truth", required=True)
    args = parser.parse_args(argv)
    sessions = SCENARIOS[args.scenario](args)
    Path(args.truth).write_text(json.dumps({"sessions": sessions}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
