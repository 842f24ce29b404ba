"""TLS lab clients: Python smtplib over STARTTLS (587) and implicit TLS (465).

Each scenario makes one session with a chosen TLS version and cipher suite, writes
the NSS key log (``SSLContext.keylog_filename``) and its ground truth: what it
sent (message hashes, credentials) and what OpenSSL negotiated (version, suite,
the client random read back from the key log). TLS 1.3 suites are chosen by the
``OPENSSL_CONF`` file make_tls_captures.sh sets, since Python cannot pick them.
"""

import argparse
import json
import smtplib
import ssl
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clients import (  # noqa: E402
    USERS,
    auth_entry,
    b64,
    describe_message,
    smtplib_content,
    text_message,
)

SERVER_NAME = "mail.example.org"
OP_NO_EXTENDED_MASTER_SECRET = 1 << 0  # OpenSSL 3.0 SSL_OP_NO_EXTENDED_MASTER_SECRET
OP_NO_ENCRYPT_THEN_MAC = 1 << 19  # SSL_OP_NO_ENCRYPT_THEN_MAC

# name: (port, TLS version, OpenSSL TLS 1.2 cipher or None, IANA suite, options)
SCENARIOS = {
    "tls13-aes128gcm": (587, "TLSv1.3", None, "TLS_AES_128_GCM_SHA256", ()),
    "tls13-aes256gcm": (587, "TLSv1.3", None, "TLS_AES_256_GCM_SHA384", ()),
    "tls13-chacha20": (587, "TLSv1.3", None, "TLS_CHACHA20_POLY1305_SHA256", ()),
    "tls12-ecdhe-aes128gcm": (
        587, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", (),
    ),
    "tls12-ecdhe-aes256gcm-noems": (
        587, "TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", ("no-ems",),
    ),
    "tls12-ecdhe-chacha20": (
        587, "TLSv1.2", "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", (),
    ),
    "tls12-ecdhe-aes128-sha-etm": (
        587, "TLSv1.2", "ECDHE-RSA-AES128-SHA",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", (),
    ),
    "tls12-ecdhe-aes256-sha384-noetm": (
        587, "TLSv1.2", "ECDHE-RSA-AES256-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", ("no-etm",),
    ),
    "tls12-rsa-aes128-sha256-noetm-noems": (
        587, "TLSv1.2", "AES128-SHA256",
        "TLS_RSA_WITH_AES_128_CBC_SHA256", ("no-etm", "no-ems"),
    ),
    "tls12-rsa-aes256gcm-ems": (
        587, "TLSv1.2", "AES256-GCM-SHA384",
        "TLS_RSA_WITH_AES_256_GCM_SHA384", (),
    ),
    "tls13-multi": (587, "TLSv1.3", None, "TLS_AES_128_GCM_SHA256", ("multi",)),
    "implicit-tls13": (465, "TLSv1.3", None, "TLS_AES_256_GCM_SHA384", ()),
    "implicit-tls12-gcm": (
        465, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", (),
    ),
}  # fmt: skip


def context(version, cipher, options, keylog):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.keylog_filename = keylog
    ctx.set_alpn_protocols(["smtp"])
    if version == "TLSv1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(cipher)
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if "no-ems" in options:
        ctx.options |= OP_NO_EXTENDED_MASTER_SECRET
    if "no-etm" in options:
        ctx.options |= OP_NO_ENCRYPT_THEN_MAC
    return ctx


class ImplicitTls(smtplib.SMTP_SSL):
    """SMTP_SSL that sends the lab server name as SNI while connecting by address."""

    def _get_socket(self, host, port, timeout):
        sock = smtplib.SMTP._get_socket(self, host, port, timeout)
        return self.context.wrap_socket(sock, server_hostname=SERVER_NAME)


def send(session, conn, tag, subject, sender, to, body):
    msg = text_message(tag, subject, sender, to, body)
    refused = conn.sendmail(sender, to, msg)
    session["messages"].append(
        describe_message(
            smtplib_content(msg),
            sender,
            [r for r in to if r not in refused],
            [{"address": r, "reply_code": refused[r][0]} for r in refused],
            "DATA",
        )
    )
    session["messages"][-1]["encrypted"] = True


def run(args):
    port, version, cipher, iana, options = SCENARIOS[args.scenario]
    keylog = Path(args.keylog)
    ctx = context(version, cipher, options, str(keylog))
    source = (args.client, args.client_port)
    if port == 465:
        conn = ImplicitTls(
            args.server,
            port,
            local_hostname="client.example.org",
            source_address=source,
            timeout=30,
            context=ctx,
        )
    else:
        conn = smtplib.SMTP(
            args.server,
            port,
            local_hostname="client.example.org",
            source_address=source,
            timeout=30,
        )
        conn.ehlo()
        conn._host = SERVER_NAME  # the SNI smtplib sends is the host it was given
        conn.starttls(context=ctx)
    conn.ehlo()
    sock = conn.sock
    session = {
        "client_ip": args.client,
        "client_port": args.client_port,
        "server_ip": args.server,
        "server_port": port,
        "tls": True,
        "implicit_tls": port == 465,
        "tls_version": sock.version(),
        "tls_cipher": iana,
        "tls_cipher_openssl": sock.cipher()[0],
        "tls_server_name": SERVER_NAME,
        "tls_alpn_offered": ["smtp"],
        "options": list(options),
        "auth": [],
        "messages": [],
    }
    assert sock.version() == version, sock.version()
    user = "alice" if "multi" not in options else "bob"
    code, _ = conn.docmd("AUTH PLAIN " + b64(f"\0{user}\0{USERS[user]}"))
    session["auth"].append(auth_entry("PLAIN", user, USERS[user], code == 235, True, code))
    session["auth"][-1]["encrypted"] = True
    assert code == 235, code
    count = 3 if "multi" in options else 1
    for number in range(1, count + 1):
        tag = f"{args.scenario}-{number}"
        body = ["Hello,", "", f"This is the TLS lab message '{tag}'.", ".dotted line"]
        body += [f"line {i} of a longer body to span records" for i in range(40 * number)]
        send(
            session,
            conn,
            tag,
            f"TLS {args.scenario} message {number}",
            f"{user}@example.org",
            ["carol@example.org"],
            body,
        )
    conn.quit()
    randoms = [
        line.split()[1]
        for line in keylog.read_text().splitlines()
        if line.split()[:1] in (["CLIENT_RANDOM"], ["CLIENT_TRAFFIC_SECRET_0"])
    ]
    session["client_random"] = randoms[0]
    return session


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--server", required=True)
    parser.add_argument("--client", required=True)
    parser.add_argument("--client-port", type=int, required=True)
    parser.add_argument("--keylog", required=True)
    parser.add_argument("--truth", required=True)
    args = parser.parse_args(argv)
    session = run(args)
    Path(args.truth).write_text(json.dumps({"sessions": [session]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
