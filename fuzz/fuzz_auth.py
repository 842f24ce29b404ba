"""Fuzz target: AUTH decoding (AuthExchange and the DIGEST-MD5 directive parser).

The first record names the mechanism (its op byte picks one of the known names or,
past them, the piece itself), the second is the initial response (op bit 0 set:
none); then even ops are server challenges, odd ops client lines. finish() catches
decoder exceptions as a "decoding stopped" warning: that warning is a finding here.
"""

import sys

import _common
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore.smtp.auth import AuthExchange, decode_base64, parse_digest_directives

MECHANISMS = (
    "PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "NTLM", "XOAUTH2", "OAUTHBEARER",
    "SCRAM-SHA-1", "SCRAM-SHA-256", "ANONYMOUS", "EXTERNAL", "GSSAPI",
)
COMMANDS = (("AUTH", "334"), ("AUTH", "+"), ("AUTHENTICATE", "+"))


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    pieces = list(_common.records(fdp))
    if not pieces:
        return
    op, name = pieces[0]
    mechanism = MECHANISMS[op] if op < len(MECHANISMS) else name.decode("latin-1")
    initial = None
    if len(pieces) > 1 and not pieces[1][0] & 1:
        initial = pieces[1][1]
    command, challenge = COMMANDS[op % 3]
    exchange = AuthExchange(mechanism, initial, command=command, challenge=challenge)
    for op, piece in pieces[2:]:
        if op & 1:
            exchange.client_response(piece)
        else:
            exchange.server_challenge(piece)
        decode_base64(piece)
        parse_digest_directives(piece)
    code = (None, 235, 535, 334)[op & 3]
    record = exchange.finish(code, None if code is None else f"{code} x", True)
    stopped = [w for w in exchange.warnings if "decoding stopped" in w]
    assert not stopped, stopped
    assert isinstance(record["exchange"], list)


if __name__ == "__main__":
    _common.run(TestOneInput)
