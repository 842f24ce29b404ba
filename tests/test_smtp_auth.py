"""Tests for smtpcore.smtp.auth: every AUTH mechanism decoded into Credential fields.

Crackable lines are proven crackable: the test recomputes the challenge response from
the known password and the line's own fields (HMAC-MD5 for CRAM-MD5, NTProofStr for
NetNTLMv2 with a small MD4, since OpenSSL 3 hides hashlib's md4) and checks it equals
the response the line carries. Published vectors: hashcat's example hashes (modes 10200,
5600), RFC 2195, RFC 2831, RFC 4505, RFC 5802, RFC 7628, RFC 7677 and MS-NLMP 4.2.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from smtpcore.model import Credential, Endpoints
from smtpcore.smtp import auth
from smtpcore.smtp.auth import AuthExchange


def b64(data: bytes | str) -> bytes:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data)


def run(mechanism, initial, steps, code=235, reply="2.7.0 Authentication successful"):
    """Feed an exchange: steps are ("S", text after 334) or ("C", client line)."""
    exchange = AuthExchange(mechanism, initial)
    for side, text in steps:
        if side == "S":
            exchange.server_challenge(text)
        else:
            exchange.client_response(text)
    return exchange.finish(code, reply), exchange


# -- MD4 / NTLM helpers (MS-NLMP 3.3.2) --------------------------------------


def md4(data: bytes) -> bytes:
    """RFC 1320 MD4, for NTOWF: hashlib has none under OpenSSL 3."""

    def rol(value, shift):
        value &= 0xFFFFFFFF
        return ((value << shift) | (value >> (32 - shift))) & 0xFFFFFFFF

    rounds = (
        (lambda x, y, z: (x & y) | (~x & z), 0, range(16), (3, 7, 11, 19)),
        (
            lambda x, y, z: (x & y) | (x & z) | (y & z),
            0x5A827999,
            [(i % 4) * 4 + i // 4 for i in range(16)],
            (3, 5, 9, 13),
        ),
        (
            lambda x, y, z: x ^ y ^ z,
            0x6ED9EBA1,
            (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15),
            (3, 9, 11, 15),
        ),
    )
    padding = b"\x80" + b"\x00" * ((55 - len(data)) % 64)
    message = data + padding + struct.pack("<Q", len(data) * 8)
    state = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
    for block in range(0, len(message), 64):
        words = struct.unpack("<16I", message[block : block + 64])
        a, b, c, d = state
        for function, constant, order, shifts in rounds:
            for step, index in enumerate(order):
                value = a + function(b, c, d) + words[index] + constant
                a, b, c, d = d, rol(value, shifts[step % 4]), b, c
        state = [(s + v) & 0xFFFFFFFF for s, v in zip(state, (a, b, c, d))]
    return struct.pack("<4I", *state)


def ntowf_v2(password: str, user: str, domain: str) -> bytes:
    key = md4(password.encode("utf-16-le"))
    identity = (user.upper() + domain).encode("utf-16-le")
    return hmac.new(key, identity, "md5").digest()


def ntproofstr_from_hashcat_5600(line: str, password: str) -> tuple[str, str]:
    """What hashcat computes for a mode 5600 line: (recomputed, carried) NTProofStr."""
    user, empty, domain, challenge, proof, blob = line.split(":")
    assert empty == ""
    key = ntowf_v2(password, user, domain)
    data = bytes.fromhex(challenge) + bytes.fromhex(blob)
    return hmac.new(key, data, "md5").hexdigest(), proof


def ntlm_negotiate(flags=0x00088207) -> bytes:
    return b"NTLMSSP\x00" + struct.pack("<II", 1, flags) + bytes(16)


def ntlm_challenge(challenge: bytes, flags: int, target: bytes, info: bytes) -> bytes:
    header = 48
    return (
        b"NTLMSSP\x00"
        + struct.pack("<I", 2)
        + struct.pack("<HHI", len(target), len(target), header)
        + struct.pack("<I", flags)
        + challenge
        + bytes(8)
        + struct.pack("<HHI", len(info), len(info), header + len(target))
        + target
        + info
    )


def ntlm_authenticate(lm, nt, domain, user, host, flags) -> bytes:
    payload = b""
    fields = b""
    offset = 64 + 8 + 16  # header, version, MIC
    for value in (lm, nt, domain, user, host, b""):
        fields += struct.pack("<HHI", len(value), len(value), offset + len(payload))
        payload += value
    return (
        b"NTLMSSP\x00"
        + struct.pack("<I", 3)
        + fields
        + struct.pack("<I", flags)
        + bytes(8 + 16)
        + payload
    )


def av_pairs(pairs) -> bytes:
    out = b""
    for av_id, text in pairs:
        value = text.encode("utf-16-le")
        out += struct.pack("<HH", av_id, len(value)) + value
    return out + struct.pack("<HH", 0, 0)


# MS-NLMP 4.2.1 / 4.2.4 common values.
NLMP_CHALLENGE = bytes.fromhex("0123456789abcdef")
NLMP_CLIENT_CHALLENGE = bytes.fromhex("aa" * 8)
NLMP_INFO = av_pairs([(2, "Domain"), (1, "Server")])
NLMP_V2_FLAGS = 0xE28A8233  # Unicode, NTLM, ESS, target info, version, 128, 56...


# -- the record ------------------------------------------------------------


def test_record_keys_are_exactly_the_credential_fields_and_build_one():
    record, _ = run("PLAIN", b64("\x00alice\x00secret"), [])
    wanted = {f.name for f in dataclasses.fields(Credential)} - {
        "session_id",
        "time_ns",
        "endpoints",
        "helo",  # the session's context, set by the builder
        "id",  # numbered by the builder
        "protocol",
        "command",
    }
    assert set(record) == wanted
    assert set(auth.CREDENTIAL_FIELDS) == wanted
    credential = Credential(
        session_id="s1",
        time_ns=1,
        endpoints=Endpoints("10.0.0.1", 1025, "10.0.0.2", 25),
        **record,
    )
    assert credential.username == "alice"
    assert credential.password == "secret"


# -- PLAIN -----------------------------------------------------------------


def test_plain_initial_response_keeps_authzid():
    message = b"admin\x00alice\x00s3cret"
    record, exchange = run("plain", b64(message), [])
    assert record["mechanism"] == "PLAIN"
    assert record["authzid"] == "admin"
    assert record["username"] == "alice"
    assert record["password"] == "s3cret"
    assert record["username_bytes"] == b"alice"
    assert record["password_bytes"] == b"s3cret"
    assert record["success"] is True
    assert record["aborted"] is False
    assert record["exchange"] == [
        "C: AUTH plain YWRtaW4AYWxpY2UAczNjcmV0 (admin\\x00alice\\x00s3cret)",
        "S: 235 2.7.0 Authentication successful",
    ]
    assert exchange.warnings == []


def test_plain_after_empty_challenge():
    line = b64("\x00bob@example.org\x00hunter2")
    record, exchange = run("PLAIN", None, [("S", b""), ("C", line)])
    assert record["authzid"] is None
    assert record["username"] == "bob@example.org"
    assert record["password"] == "hunter2"
    assert record["exchange"] == [
        "C: AUTH PLAIN",
        "S: 334",
        "C: AGJvYkBleGFtcGxlLm9yZwBodW50ZXIy (\\x00bob@example.org\\x00hunter2)",
        "S: 235 2.7.0 Authentication successful",
    ]
    assert exchange.warnings == []


def test_plain_empty_initial_response_equals_sign():
    record, exchange = run("PLAIN", b"=", [], code=501, reply="5.5.2 Bad")
    assert record["username"] is None
    assert record["success"] is False
    assert record["exchange"] == ["C: AUTH PLAIN =", "S: 501 5.5.2 Bad"]
    assert exchange.warnings == ["AUTH PLAIN: no client data"]


def test_plain_non_utf8_password_kept_exactly_and_rendered_with_escapes():
    secret = "pässwörd".encode("latin-1")
    record, _ = run("PLAIN", b64(b"\x00j\xc3\xbcrgen\x00" + secret), [])
    assert record["username"] == "jürgen"
    assert record["username_bytes"] == "jürgen".encode("utf-8")
    assert record["password_bytes"] == b"p\xe4ssw\xf6rd"
    assert record["password"] == "p\\xe4ssw\\xf6rd"
    assert record["password"] == auth.readable(secret)


def test_plain_with_one_separator_is_read_as_user_and_password():
    record, exchange = run("PLAIN", b64("carol\x00pw"), [])
    assert (record["username"], record["password"]) == ("carol", "pw")
    assert exchange.warnings == [
        "AUTH PLAIN: AUTH line: one NUL separator only: read as authcid\\0passwd"
    ]


# -- LOGIN -----------------------------------------------------------------

# The AUTH exchange of zeek's testing/btest/Traces/smtp.pcap (the external corpus
# zeek-smtp.pcap), as its lines appear in the capture.
ZEEK_LOGIN = [
    ("S", b"VXNlcm5hbWU6"),
    ("C", b"Z3VycGFydGFwQHBhdHJpb3RzLmlu"),
    ("S", b"UGFzc3dvcmQ6"),
    ("C", b"cHVuamFiQDEyMw=="),
]


def test_login_zeek_corpus_exchange():
    record, exchange = run("LOGIN", None, ZEEK_LOGIN, 235, "Authentication succeeded")
    assert record["username"] == "gurpartap@patriots.in"
    assert record["password"] == "punjab@123"
    assert record["password_bytes"] == b"punjab@123"
    assert record["success"] is True
    assert record["reply"] == "Authentication succeeded"
    assert record["exchange"] == [
        "C: AUTH LOGIN",
        "S: 334 VXNlcm5hbWU6 (Username:)",
        "C: Z3VycGFydGFwQHBhdHJpb3RzLmlu (gurpartap@patriots.in)",
        "S: 334 UGFzc3dvcmQ6 (Password:)",
        "C: cHVuamFiQDEyMw== (punjab@123)",
        "S: 235 Authentication succeeded",
    ]
    assert exchange.warnings == []


def test_login_with_initial_response_is_the_username():
    steps = [("S", b64("Password:")), ("C", b64("pa55"))]
    record, exchange = run("LOGIN", b64("dave"), steps)
    assert (record["username"], record["password"]) == ("dave", "pa55")
    assert record["exchange"][0] == "C: AUTH LOGIN ZGF2ZQ== (dave)"
    assert exchange.warnings == []


def test_login_answers_follow_the_prompts_not_the_order():
    steps = [
        ("S", b64("Password:")),
        ("C", b64("first-is-secret")),
        ("S", b64("Username:")),
        ("C", b64("erin")),
    ]
    record, exchange = run("LOGIN", None, steps)
    assert record["username"] == "erin"
    assert record["password"] == "first-is-secret"
    assert exchange.warnings == []


def test_login_odd_prompts_fall_back_to_order():
    steps = [
        ("S", b64("Wer bist du?")),
        ("C", b64("frank")),
        ("S", b""),
        ("C", b64("geheim")),
    ]
    record, exchange = run("LOGIN", None, steps)
    assert (record["username"], record["password"]) == ("frank", "geheim")
    assert exchange.warnings == [
        "AUTH LOGIN: client line 1: prompt 'Wer bist du?' not understood"
    ]


def test_login_extra_client_line_is_noted_not_decoded_as_a_field():
    steps = ZEEK_LOGIN + [("C", b64("surplus"))]
    record, exchange = run("LOGIN", None, steps)
    assert record["password"] == "punjab@123"
    assert exchange.warnings == [
        "AUTH LOGIN: client line 3: unexpected extra client line, not decoded"
    ]
    assert record["exchange"][-2] == "C: c3VycGx1cw== (surplus)"


def test_failed_login_535():
    record, _ = run("LOGIN", None, ZEEK_LOGIN, 535, "5.7.8 Authentication failed")
    assert record["success"] is False
    assert record["password"] == "punjab@123"
    assert record["reply"] == "5.7.8 Authentication failed"
    assert record["exchange"][-1] == "S: 535 5.7.8 Authentication failed"


def test_aborted_login():
    steps = ZEEK_LOGIN[:2] + [("S", b"UGFzc3dvcmQ6"), ("C", b"*")]
    record, exchange = run("LOGIN", None, steps, 501, "5.0.0 AUTH aborted")
    assert record["aborted"] is True
    assert record["success"] is False
    assert record["username"] == "gurpartap@patriots.in"
    assert record["password"] is None
    assert record["exchange"][-2:] == ["C: *", "S: 501 5.0.0 AUTH aborted"]
    assert exchange.warnings == ["AUTH LOGIN: no password seen"]


def test_aborted_without_reply_is_still_a_failure():
    record, _ = run("PLAIN", None, [("S", b""), ("C", b"*")], None, None)
    assert record["aborted"] is True
    assert record["success"] is False
    assert record["reply"] is None


def test_missing_reply_leaves_success_unknown():
    record, _ = run("LOGIN", None, ZEEK_LOGIN, None, None)
    assert record["success"] is None
    assert record["reply"] is None
    assert record["password"] == "punjab@123"
    assert record["exchange"][-1] == "C: cHVuamFiQDEyMw== (punjab@123)"


def test_truncated_login_keeps_what_was_seen():
    record, exchange = run("LOGIN", None, ZEEK_LOGIN[:2], None, None)
    assert record["username"] == "gurpartap@patriots.in"
    assert record["password"] is None
    assert record["success"] is None
    assert exchange.warnings == ["AUTH LOGIN: no password seen"]


def test_bad_base64_is_decoded_as_far_as_possible():
    steps = [
        ("S", b"VXNlcm5hbWU6"),
        ("C", b"dXNlcg"),  # "user", padding missing
        ("S", b"UGFzc3dvcmQ6"),
        ("C", b"c2Vj!cmV0"),  # "secret" with a stray "!"
    ]
    record, exchange = run("LOGIN", None, steps)
    assert record["username"] == "user"
    assert record["password"] == "secret"
    assert exchange.warnings == [
        "AUTH LOGIN: client line 1: missing or wrong base64 padding",
        "AUTH LOGIN: client line 2: 1 non-base64 character(s) dropped ('!')",
    ]
    assert record["exchange"][2] == "C: dXNlcg (user)"
    assert record["exchange"][4] == "C: c2Vj!cmV0"


def test_decode_base64_leniency():
    assert auth.decode_base64(b"dXNlcg==") == (b"user", [])
    assert auth.decode_base64(b"dXNl cg==") == (b"user", [])
    data, problems = auth.decode_base64(b"dXNlcgA")
    assert data == b"user\x00"
    assert problems == ["missing or wrong base64 padding"]
    data, problems = auth.decode_base64(b"dXN=lcg==")
    assert data == b"user"
    assert problems == ["1 non-base64 character(s) dropped ('=')"]
    data, problems = auth.decode_base64(b"_-8")
    assert data == base64.b64decode(b"/+8=")
    assert problems == ["URL-safe base64 alphabet", "missing or wrong base64 padding"]
    data, problems = auth.decode_base64(b"QUJDR")
    assert data == b"ABC"
    assert problems == ["one dangling base64 character dropped"]


# -- CRAM-MD5 ----------------------------------------------------------------

HASHCAT_10200 = (
    "$cram_md5$PG5vLXJlcGx5QGhhc2hjYXQubmV0Pg=="
    "$dXNlciA0NGVhZmQyMmZlNzY2NzBmNmIyODc5MDgxYTdmNWY3MQ=="
)


def cram_md5_recomputed(line: str, password: bytes) -> tuple[str, str]:
    """What hashcat computes for a mode 10200 line: (recomputed, carried) digest."""
    _, _, challenge, response = line.split("$")
    carried = base64.b64decode(response).rsplit(b" ", 1)[1].decode()
    digest = hmac.new(password, base64.b64decode(challenge), "md5").hexdigest()
    return digest, carried


def test_cram_md5_gives_hashcat_example_line():
    _, _, challenge, response = HASHCAT_10200.split("$")
    steps = [("S", challenge.encode()), ("C", response.encode())]
    record, exchange = run("CRAM-MD5", None, steps)
    assert record["username"] == "user"
    assert record["hashcat"] == HASHCAT_10200
    assert record["hashcat_mode"] == 10200
    assert record["password"] is None
    recomputed, carried = cram_md5_recomputed(record["hashcat"], b"hashcat")
    assert recomputed == carried == "44eafd22fe76670f6b2879081a7f5f71"
    assert exchange.details["challenge"] == "<no-reply@hashcat.net>"
    assert exchange.warnings == []


def test_cram_md5_rfc2195_line_cracks_with_the_password():
    challenge = b64("<1896.697170952@postoffice.reston.mci.net>")
    response = b64("tim b913a602c7eda7a495b4e6e7334d3890")
    record, _ = run("CRAM-MD5", None, [("S", challenge), ("C", response)], 535, "no")
    assert record["username"] == "tim"
    assert record["success"] is False
    assert record["hashcat"] == f"$cram_md5${challenge.decode()}${response.decode()}"
    recomputed, carried = cram_md5_recomputed(record["hashcat"], b"tanstaaftanstaaf")
    assert recomputed == carried
    assert record["exchange"][1] == (
        "S: 334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
        " (<1896.697170952@postoffice.reston.mci.net>)"
    )


def test_cram_md5_malformed_base64_is_reencoded_in_the_line():
    challenge = b"PDEyMzQ1QGV4YW1wbGU+"  # "<12345@example>"
    response = b64("anna 0123456789abcdef0123456789abcdef").rstrip(b"=")
    record, exchange = run("CRAM-MD5", None, [("S", challenge), ("C", response)])
    assert record["hashcat"] == (
        "$cram_md5$PDEyMzQ1QGV4YW1wbGU+$"
        + b64("anna 0123456789abcdef0123456789abcdef").decode()
    )
    assert exchange.warnings == [
        "AUTH CRAM-MD5: client line 1: missing or wrong base64 padding"
    ]


def test_cram_md5_without_challenge_has_user_but_no_line():
    response = b64("tim b913a602c7eda7a495b4e6e7334d3890")
    record, exchange = run("CRAM-MD5", None, [("C", response)], None, None)
    assert record["username"] == "tim"
    assert record["hashcat"] is None
    assert record["hashcat_mode"] is None
    assert exchange.warnings == ["AUTH CRAM-MD5: no server challenge"]


# -- DIGEST-MD5 (RFC 2831 section 4 example, over SMTP) ----------------------

DIGEST_CHALLENGE = (
    b'realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",'
    b"algorithm=md5-sess,charset=utf-8"
)
DIGEST_RESPONSE = (
    b'charset=utf-8,username="chris",realm="elwood.innosoft.com",'
    b'nonce="OA6MG9tEQGm2hh",nc=00000001,cnonce="OA6MHXh6VqTrRk",'
    b'digest-uri="imap/elwood.innosoft.com",'
    b"response=d388dad90d4bbd760a152321f2143af7,qop=auth"
)


def digest_md5_response(fields: dict[str, str], password: str, a2_prefix: str) -> str:
    """RFC 2831 2.1.2.1 response-value (a2_prefix "AUTHENTICATE" or "" for rspauth)."""

    def hex_md5(data: bytes) -> str:
        return hashlib.md5(data).hexdigest()

    secret = f"{fields['username']}:{fields['realm']}:{password}".encode()
    a1 = (
        hashlib.md5(secret).digest() + f":{fields['nonce']}:{fields['cnonce']}".encode()
    )
    if "authzid" in fields:
        a1 += f":{fields['authzid']}".encode()
    a2 = f"{a2_prefix}:{fields['digest-uri']}".encode()
    parts = [fields["nonce"], fields["nc"], fields["cnonce"], fields["qop"]]
    return hex_md5(f"{hex_md5(a1)}:{':'.join(parts)}:{hex_md5(a2)}".encode())


def test_digest_md5_fields_parsed_and_response_recomputes():
    steps = [
        ("S", b64(DIGEST_CHALLENGE)),
        ("C", b64(DIGEST_RESPONSE)),
        ("S", b64("rspauth=ea40f60335c427b5527b84dbabcdfffd")),
        ("C", b""),
    ]
    record, exchange = run("DIGEST-MD5", None, steps)
    assert record["username"] == "chris"
    assert record["realm"] == "elwood.innosoft.com"
    assert record["authzid"] is None
    assert record["hashcat"] is None
    assert record["hashcat_mode"] is None
    assert record["success"] is True
    assert exchange.details["digest_challenge"] == {
        "realm": "elwood.innosoft.com",
        "nonce": "OA6MG9tEQGm2hh",
        "qop": "auth",
        "algorithm": "md5-sess",
        "charset": "utf-8",
    }
    response = exchange.details["digest_response"]
    assert response == {
        "charset": "utf-8",
        "username": "chris",
        "realm": "elwood.innosoft.com",
        "nonce": "OA6MG9tEQGm2hh",
        "nc": "00000001",
        "cnonce": "OA6MHXh6VqTrRk",
        "digest-uri": "imap/elwood.innosoft.com",
        "response": "d388dad90d4bbd760a152321f2143af7",
        "qop": "auth",
    }
    assert digest_md5_response(response, "secret", "AUTHENTICATE") == (
        response["response"]
    )
    assert digest_md5_response(response, "secret", "") == exchange.details["rspauth"]
    assert record["exchange"][2].endswith(f" ({DIGEST_RESPONSE.decode()})")
    assert exchange.warnings == []


def test_digest_directives_quoting_and_repeats():
    fields, problems = auth.parse_digest_directives(
        b'realm="a",realm="b\\"c", qop="auth,auth-int" ,maxbuf=65536,junk,nonce="x'
    )
    assert fields["realm"] == [b"a", b'b"c']
    assert fields["qop"] == [b"auth,auth-int"]
    assert fields["maxbuf"] == [b"65536"]
    assert fields["nonce"] == [b"x"]
    assert problems == [
        "unparsable directive 'junk,'",
        "unterminated quoted value for nonce",
    ]


# -- NTLM --------------------------------------------------------------------


def nlmp_v2_blob() -> bytes:
    """MS-NLMP 4.2.4.1.3 temp: time 0, client challenge aa.., the target info."""
    return (
        bytes.fromhex("0101000000000000")
        + bytes(8)
        + NLMP_CLIENT_CHALLENGE
        + bytes(4)
        + NLMP_INFO
        + bytes(4)
    )


def test_ntlmv2_line_matches_ms_nlmp_vector_and_cracks():
    key = ntowf_v2("Password", "User", "Domain")
    assert key.hex() == "0c868a403bfd7a93a3001ef22ef02e3f"  # MS-NLMP 4.2.4.1.1
    blob = nlmp_v2_blob()
    proof = hmac.new(key, NLMP_CHALLENGE + blob, "md5").digest()
    assert proof.hex() == "68cd0ab851e51c96aabc927bebef6a1c"  # MS-NLMP 4.2.4.2.2
    lm = hmac.new(key, NLMP_CHALLENGE + NLMP_CLIENT_CHALLENGE, "md5").digest()
    assert lm.hex() == "86c35097ac9cec102554764a57cccc19"  # MS-NLMP 4.2.4.2.1
    type2 = ntlm_challenge(
        NLMP_CHALLENGE, NLMP_V2_FLAGS, "Server".encode("utf-16-le"), NLMP_INFO
    )
    type3 = ntlm_authenticate(
        lm + NLMP_CLIENT_CHALLENGE,
        proof + blob,
        "Domain".encode("utf-16-le"),
        "User".encode("utf-16-le"),
        "COMPUTER".encode("utf-16-le"),
        NLMP_V2_FLAGS,
    )
    steps = [("S", b64(type2)), ("C", b64(type3))]
    record, exchange = run("NTLM", b64(ntlm_negotiate()), steps)
    assert record["username"] == "User"
    assert record["username_bytes"] == "User".encode("utf-16-le")
    assert record["domain"] == "Domain"
    assert record["workstation"] == "COMPUTER"
    assert record["password"] is None
    assert record["hashcat_mode"] == 5600
    assert record["hashcat"] == (
        "User::Domain:0123456789abcdef:68cd0ab851e51c96aabc927bebef6a1c:" + blob.hex()
    )
    recomputed, carried = ntproofstr_from_hashcat_5600(record["hashcat"], "Password")
    assert recomputed == carried
    wrong, _ = ntproofstr_from_hashcat_5600(record["hashcat"], "password")
    assert wrong != carried
    assert exchange.details["server_challenge"] == "0123456789abcdef"
    assert exchange.details["ntlm_version"] == "NTLMv2"
    assert exchange.details["nb_domain"] == "Domain"
    assert exchange.details["nb_computer"] == "Server"
    assert exchange.details["target_name"] == "Server"
    assert "client_time_ns" not in exchange.details  # the vector's time is 0
    assert record["exchange"][0].endswith(" (NTLMSSP type 1)")
    assert record["exchange"][1].endswith(" (NTLMSSP type 2)")
    assert record["exchange"][2].endswith(" (NTLMSSP type 3)")
    assert exchange.warnings == []


def test_ntlmv2_recompute_agrees_with_hashcat_own_5600_example():
    example = (
        "admin::N46iSNekpT:08ca45b7d7ea58ee:88dcbe4446168966a153a0064958dac6:"
        "5c7830315c7830310000000000000b45c67103d07d7b95acd12ffa11230e0000000052920b"
        "85f78d013c31cdb3b92f5d765c783030"
    )
    recomputed, carried = ntproofstr_from_hashcat_5600(example, "hashcat")
    assert recomputed == carried


def test_ntlm_ms_smtpntlm_flow_with_plain_text_334_and_client_time():
    stamp = 133_000_000_000_000_000  # FILETIME, 100 ns ticks since 1601
    blob = (
        bytes.fromhex("0101000000000000")
        + struct.pack("<Q", stamp)
        + NLMP_CLIENT_CHALLENGE
        + bytes(4)
        + NLMP_INFO
        + bytes(4)
    )
    key = ntowf_v2("Winter2024!", "mallory", "CORP")
    proof = hmac.new(key, NLMP_CHALLENGE + blob, "md5").digest()
    type3 = ntlm_authenticate(
        bytes(24),
        proof + blob,
        "CORP".encode("utf-16-le"),
        "mallory".encode("utf-16-le"),
        b"",
        NLMP_V2_FLAGS,
    )
    type2 = ntlm_challenge(NLMP_CHALLENGE, NLMP_V2_FLAGS, b"", NLMP_INFO)
    steps = [
        ("S", b"ntlm supported"),
        ("C", b64(ntlm_negotiate())),
        ("S", b64(type2)),
        ("C", b64(type3)),
    ]
    record, exchange = run("NTLM", None, steps)
    assert record["username"] == "mallory"
    assert record["domain"] == "CORP"
    assert record["workstation"] is None
    recomputed, carried = ntproofstr_from_hashcat_5600(record["hashcat"], "Winter2024!")
    assert recomputed == carried
    expected_ns = (stamp - 116_444_736_000_000_000) * 100
    assert exchange.details["client_time_ns"] == expected_ns
    assert record["exchange"][1] == "S: 334 ntlm supported"
    assert exchange.warnings == []


def test_ntlmv1_oem_line_format():
    # MS-NLMP 4.2.2.2 responses to the 4.2.1 challenge, user/domain in OEM.
    lm = bytes.fromhex("98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13")
    nt = bytes.fromhex("67c43011f30298a2ad35ece64f16331c44bdbed927841f94")
    flags = 0x00008202  # NTLM, OEM, no Unicode
    type2 = ntlm_challenge(NLMP_CHALLENGE, flags, b"", b"")
    type3 = ntlm_authenticate(lm, nt, b"Domain", b"User", b"COMPUTER", flags)
    steps = [("S", b64(type2)), ("C", b64(type3))]
    record, exchange = run("NTLM", b64(ntlm_negotiate(flags)), steps, 535, "5.7.3")
    assert record["username"] == "User"
    assert record["username_bytes"] == b"User"
    assert record["domain"] == "Domain"
    assert record["workstation"] == "COMPUTER"
    assert record["hashcat_mode"] == 5500
    assert record["hashcat"] == f"User::Domain:{lm.hex()}:{nt.hex()}:0123456789abcdef"
    assert exchange.details["ntlm_version"] == "NTLMv1"
    assert record["success"] is False


def test_ntlmv1_ess_is_recognised():
    lm = bytes.fromhex("aaaaaaaaaaaaaaaa") + bytes(16)
    nt = bytes(range(24))
    flags = 0x00088201  # Unicode, NTLM, ESS
    type2 = ntlm_challenge(NLMP_CHALLENGE, flags, b"", b"")
    type3 = ntlm_authenticate(lm, nt, "D".encode("utf-16-le"), b"u\x00", b"", flags)
    record, exchange = run("NTLM", None, [("S", b64(type2)), ("C", b64(type3))])
    assert exchange.details["ntlm_version"] == "NTLMv1-ESS"
    assert record["hashcat"] == f"u::D:{lm.hex()}:{nt.hex()}:0123456789abcdef"


def test_ntlm_without_challenge_or_authenticate():
    record, exchange = run("NTLM", b64(ntlm_negotiate()), [], None, None)
    assert record["username"] is None
    assert record["hashcat"] is None
    assert exchange.warnings == [
        "AUTH NTLM: no NTLMSSP CHALLENGE (type 2) seen; no hashcat line",
        "AUTH NTLM: no NTLMSSP AUTHENTICATE (type 3) seen",
    ]


def test_ntlm_truncated_authenticate_does_not_raise():
    type2 = ntlm_challenge(NLMP_CHALLENGE, NLMP_V2_FLAGS, b"", b"")
    type3 = ntlm_authenticate(
        bytes(24), bytes(40), b"D\x00", b"U\x00", b"", NLMP_V2_FLAGS
    )
    record, exchange = run("NTLM", None, [("S", b64(type2)), ("C", b64(type3[:-20]))])
    assert record["mechanism"] == "NTLM"
    assert any("runs past the message end" in w for w in exchange.warnings)


# -- OAuth -------------------------------------------------------------------


def test_xoauth2_token_and_user():
    message = (
        "user=someuser@example.com\x01"
        "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
    )
    record, exchange = run("XOAUTH2", b64(message), [])
    assert record["username"] == "someuser@example.com"
    assert record["token"] == "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
    assert record["password"] is None
    assert exchange.warnings == []


def test_xoauth2_failure_keeps_the_server_error_json():
    error = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
    error_text = json.dumps(error)
    message = "user=a@b.example\x01auth=Bearer expired-token\x01\x01"
    steps = [("S", b64(error_text)), ("C", b"")]
    record, exchange = run(
        "XOAUTH2", b64(message), steps, 535, "5.7.8 Username and Password not accepted"
    )
    assert record["success"] is False
    assert record["token"] == "expired-token"
    assert json.loads(exchange.details["server_error"]) == error
    assert record["exchange"][1] == f"S: 334 {b64(error_text).decode()} ({error_text})"
    assert record["exchange"][2] == "C: "
    assert exchange.warnings == []


def test_oauthbearer_rfc7628_example():
    message = (
        "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
        "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
    )
    record, exchange = run("OAUTHBEARER", b64(message), [])
    assert record["username"] == "user@example.com"
    assert record["token"] == "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
    assert exchange.details["host"] == "server.example.com"
    assert exchange.details["port"] == "143"
    assert exchange.warnings == []


# -- SCRAM -------------------------------------------------------------------


def scram_client_proof(
    password: str, salt_b64: str, iterations: int, auth_message: str, digest: str
) -> str:
    """RFC 5802 section 3 ClientProof."""
    salted = hashlib.pbkdf2_hmac(
        digest, password.encode(), base64.b64decode(salt_b64), iterations
    )
    client_key = hmac.new(salted, b"Client Key", digest).digest()
    stored_key = hashlib.new(digest, client_key).digest()
    signature = hmac.new(stored_key, auth_message.encode(), digest).digest()
    return base64.b64encode(
        bytes(a ^ b for a, b in zip(client_key, signature))
    ).decode()


def test_scram_sha1_rfc5802_example():
    client_first = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    server_first = (
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
    )
    client_final = (
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
        "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    )
    steps = [
        ("S", b64(server_first)),
        ("C", b64(client_final)),
        ("S", b64("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")),
        ("C", b""),
    ]
    record, exchange = run("SCRAM-SHA-1", b64(client_first), steps)
    assert record["username"] == "user"
    assert record["hashcat"] is None
    details = exchange.details
    assert details["salt"] == "QSXCR+Q6sek8bf92"
    assert details["iterations"] == "4096"
    assert details["client_nonce"] == "fyko+d2lbbFgONRv9qkxdawL"
    assert details["server_signature"] == "rmF9pqV8S7suAoZWja4dJRkFsKQ="
    auth_message = ",".join(
        [client_first[3:], server_first, client_final.rsplit(",p=", 1)[0]]
    )
    proof = scram_client_proof(
        "pencil", details["salt"], int(details["iterations"]), auth_message, "sha1"
    )
    assert proof == details["client_proof"]


def test_scram_sha256_escaped_name_and_authzid():
    client_first = "n,a=ad=2Cmin,n=us=3Der=2Cx,r=rOprNGfwEbeRWgbNEkqO"
    server_first = (
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    record, exchange = run(
        "scram-sha-256", b64(client_first), [("S", b64(server_first))], None, None
    )
    assert record["mechanism"] == "SCRAM-SHA-256"
    assert record["username"] == "us=er,x"
    assert record["authzid"] == "ad,min"
    assert exchange.details["iterations"] == "4096"
    assert exchange.details["salt"] == "W22ZaJ0SNY7soEsUEjb6gQ=="
    assert record["success"] is None


# -- ANONYMOUS, EXTERNAL, GSSAPI, unknown -------------------------------------


def test_anonymous_trace_is_the_username():
    record, _ = run("ANONYMOUS", b64("sirhc"), [])
    assert record["username"] == "sirhc"
    assert record["password"] is None


def test_external_authzid():
    record, _ = run("EXTERNAL", b64("postmaster@example.org"), [])
    assert record["authzid"] == "postmaster@example.org"
    assert record["username"] is None
    record, _ = run("EXTERNAL", b"=", [])
    assert record["authzid"] is None
    assert record["exchange"][0] == "C: AUTH EXTERNAL ="


def test_gssapi_kept_raw():
    token = bytes([0x60, 0x82, 0x02, 0x10]) + bytes(range(40))
    record, exchange = run("GSSAPI", b64(token), [("S", b""), ("C", b"")])
    assert record["username"] is None
    assert record["exchange"][0] == f"C: AUTH GSSAPI {b64(token).decode()} (44 bytes)"
    assert record["exchange"][1:3] == ["S: 334", "C: "]
    assert exchange.warnings == []


def test_unknown_mechanism_kept_raw():
    record, exchange = run("X-FOO", b"c29tZXRoaW5n", [("S", b"Pz8/"), ("C", b"YWJj")])
    assert record["mechanism"] == "X-FOO"
    assert record["username"] is None
    assert record["exchange"] == [
        "C: AUTH X-FOO c29tZXRoaW5n (something)",
        "S: 334 Pz8/ (???)",
        "C: YWJj (abc)",
        "S: 235 2.7.0 Authentication successful",
    ]


def test_ntlmssp_inside_another_mechanism_is_decoded():
    flags = 0x00008202
    type2 = ntlm_challenge(NLMP_CHALLENGE, flags, b"", b"")
    nt = bytes(range(24))
    type3 = ntlm_authenticate(bytes(24), nt, b"DOM", b"bob", b"", flags)
    record, _ = run("MSN", None, [("S", b64(type2)), ("C", b64(type3))])
    assert record["username"] == "bob"
    assert record["hashcat_mode"] == 5500


# -- robustness --------------------------------------------------------------


def test_lines_beyond_the_limit_are_counted_not_kept():
    exchange = AuthExchange("X-LOOP", None)
    for _ in range(auth.MAX_LINES + 5):
        exchange.client_response(b"QQ==")
    record = exchange.finish(None, None)
    assert len(record["exchange"]) == 1 + auth.MAX_LINES
    assert exchange.warnings == [
        f"AUTH X-LOOP: 5 line(s) beyond {auth.MAX_LINES} not kept"
    ]


MECHANISMS = [
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "DIGEST-MD5",
    "NTLM",
    "XOAUTH2",
    "OAUTHBEARER",
    "SCRAM-SHA-1",
    "ANONYMOUS",
    "EXTERNAL",
    "GSSAPI",
    "X-OTHER",
]


@settings(max_examples=300, deadline=None)
@given(
    mechanism=st.sampled_from(MECHANISMS),
    initial=st.one_of(st.none(), st.binary(max_size=60), st.just(b"=")),
    steps=st.lists(
        st.tuples(
            st.sampled_from("SC"),
            st.one_of(
                st.binary(max_size=80),
                st.binary(max_size=80).map(base64.b64encode),
                st.sampled_from([b"*", b"", b"=", b"TlRMTVNTUAADAAAA", b"bm9uY2U9"]),
                st.tuples(st.sampled_from([1, 2, 3]), st.binary(max_size=120)).map(
                    lambda t: base64.b64encode(
                        b"NTLMSSP\x00" + struct.pack("<I", t[0]) + t[1]
                    )
                ),
            ),
        ),
        max_size=6,
    ),
    code=st.one_of(st.none(), st.integers(100, 599)),
)
def test_never_raises_and_always_gives_every_field(mechanism, initial, steps, code):
    record, exchange = run(mechanism, initial, steps, code, "reply")
    assert tuple(record) == auth.CREDENTIAL_FIELDS
    assert record["aborted"] is any(
        side == "C" and t.strip() == b"*" for side, t in steps
    )
    assert len(record["exchange"]) == 1 + len(steps) + 1  # AUTH, steps, reply
    assert all(isinstance(w, str) for w in exchange.warnings)
    # The catch-all in finish() hides decoder bugs from callers, not from this test.
    assert not any("decoding stopped" in w for w in exchange.warnings)


def test_ntlm_anonymous_has_no_user_and_no_line():
    type2 = ntlm_challenge(NLMP_CHALLENGE, NLMP_V2_FLAGS, b"", b"")
    type3 = ntlm_authenticate(b"\x00", b"", b"", b"", b"", NLMP_V2_FLAGS)
    record, exchange = run("NTLM", None, [("S", b64(type2)), ("C", b64(type3))])
    assert record["username"] is None
    assert record["domain"] is None
    assert record["hashcat"] is None
    assert exchange.details["ntlm_version"] == "anonymous"
