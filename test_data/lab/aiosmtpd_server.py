"""Lab SMTP server for AUTH mechanisms Postfix/Cyrus does not offer (XOAUTH2).

Runs in the server namespace until SIGTERM. XOAUTH2 answers a bad token the way
Gmail does (334 with a base64 JSON error, then 535 after the client's empty
line). LOGIN/PLAIN accept the lab users and a password given as raw bytes that
are not valid UTF-8. Messages are accepted and thrown away.
"""

import argparse
import asyncio
import base64
import signal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

GOOD_TOKENS = {"alice@example.org": "ya29.lab-access-token-0001"}
PASSWORDS = {b"alice": {"Wonder-Land-42".encode(), "pässwörd-ÿ".encode("latin-1")}}
ERROR_JSON = b'{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}'


class Handler:
    """Accepts mail; implements AUTH XOAUTH2 as an aiosmtpd auth_ hook."""

    async def auth_XOAUTH2(self, server, args):
        # args is ["XOAUTH2"] or ["XOAUTH2", initial response].
        if len(args) == 1:
            blob = await server.challenge_auth("")
        else:
            blob = base64.b64decode(args[1])
        fields = dict(
            item.split("=", 1) for item in blob.decode().split("\x01") if "=" in item
        )
        user = fields.get("user", "")
        token = fields.get("auth", "").removeprefix("Bearer ")
        if GOOD_TOKENS.get(user) == token:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        await server.challenge_auth(ERROR_JSON)
        return AuthResult(success=False, handled=False)

    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Ok: queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.password in PASSWORDS.get(
        auth_data.login, ()
    )
    return AuthResult(success=ok)


async def serve(host, port):
    controller = Controller(
        Handler(),
        hostname=host,
        port=port,
        server_hostname="mx.example.org",
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("ready", flush=True)
    await stop.wait()
    controller.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=25)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
