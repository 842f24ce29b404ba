"""Decode one SMTP AUTH exchange (RFC 4954) into the fields of a Credential.

The session machine feeds an :class:`AuthExchange` the AUTH line, each ``334``
challenge and each client line as they were seen, then asks for the record with
:meth:`AuthExchange.finish`. Everything is decoded at that point, from the kept lines,
so a truncated or odd exchange still yields whatever it carries.

Readable renderings: secrets and names are kept byte-exact in ``username_bytes`` and
``password_bytes``; ``username`` and ``password`` are those bytes as UTF-8 when they
are valid UTF-8, otherwise UTF-8 with each undecodable byte written as ``\\xNN``
(Python's ``backslashreplace``). NTLM names are UTF-16LE on the wire when the Unicode
flag is set; their ``*_bytes`` are the wire bytes.

Crackable lines: CRAM-MD5 becomes a hashcat mode 10200 line, NTLM a mode 5500
(NetNTLMv1, with or without ESS) or mode 5600 (NetNTLMv2) line. DIGEST-MD5 and SCRAM
have no released hashcat mode for this exchange, so they get none; everything needed
to attack them offline stays in ``exchange`` (decoded beside the base64) and in
:attr:`AuthExchange.details`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import struct
from typing import Optional

# The keys of the dict that finish() returns: these Credential fields, no others.
CREDENTIAL_FIELDS = (
    "mechanism",
    "username",
    "password",
    "username_bytes",
    "password_bytes",
    "authzid",
    "realm",
    "domain",
    "workstation",
    "token",
    "hashcat",
    "hashcat_mode",
    "success",
    "aborted",
    "reply",
    "exchange",
    "details",
)

# A hostile or broken client could keep an exchange going forever; these bound memory.
MAX_LINES = 64
MAX_LINE_BYTES = 256 * 1024

HASHCAT_CRAM_MD5 = 10200
HASHCAT_NETNTLMV1 = 5500
HASHCAT_NETNTLMV2 = 5600

_NTLMSSP = b"NTLMSSP\x00"
_NTLM_UNICODE = 0x00000001
_NTLM_ESS = 0x00080000
_NTLM_AV_NAMES = {
    1: "nb_computer",
    2: "nb_domain",
    3: "dns_computer",
    4: "dns_domain",
    5: "dns_tree",
}
_FILETIME_EPOCH_OFFSET = 116444736000000000  # 100 ns ticks from 1601 to 1970

_BASE64_ONLY = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_DIGEST_PAIR = re.compile(
    rb'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,]*?))\s*(?:,|$)', re.S
)
_HEX_DIGEST = re.compile(r"[0-9a-f]{32}")


def readable(data: bytes) -> str:
    """The project's one readable rendering of bytes that may not be UTF-8."""
    return data.decode("utf-8", "backslashreplace")


def _utf16_readable(data: bytes) -> str:
    return data.decode("utf-16-le", "backslashreplace")


def decode_base64(text: bytes) -> tuple[bytes, list[str]]:
    """Decode base64 leniently: whatever is decodable, and what was wrong with it."""
    compact = b"".join(text.split())
    try:
        return base64.b64decode(compact, validate=True), []
    except (binascii.Error, ValueError):
        pass
    problems = []
    body = compact.rstrip(b"=")
    if b"-" in body or b"_" in body:
        body = body.replace(b"-", b"+").replace(b"_", b"/")
        problems.append("URL-safe base64 alphabet")
    stray = _NOT_BASE64.findall(body)
    if stray:
        body = _NOT_BASE64.sub(b"", body)
        shown = readable(b"".join(stray[:8]))
        problems.append(f"{len(stray)} non-base64 character(s) dropped ({shown!r})")
    dangling = len(body) % 4 == 1
    if dangling:
        body = body[:-1]
        problems.append("one dangling base64 character dropped")
    padded = body + b"=" * (-len(body) % 4)
    if not stray and not dangling and compact != padded:
        problems.append("missing or wrong base64 padding")
    try:
        return base64.b64decode(padded), problems
    except (binascii.Error, ValueError) as error:  # not expected after cleaning
        return b"", problems + [f"undecodable base64 ({error})"]


@dataclasses.dataclass
class _Turn:
    """One line of the exchange: the AUTH line's data, a 334 text or a client line."""

    side: str  # "C" or "S"
    where: str  # for warnings: "AUTH line", "client line 2", "server line 1"
    raw: bytes
    abort: bool = False
    data: Optional[bytes] = None
    problems: list[str] = dataclasses.field(default_factory=list)
    reported: bool = False

    @property
    def looks_base64(self) -> bool:
        compact = b"".join(self.raw.split())
        return bool(_BASE64_ONLY.fullmatch(compact)) and len(compact) % 4 != 1


class AuthExchange:
    """One AUTH attempt, fed the lines of the exchange as they were seen.

    Attributes:
      mechanism: the mechanism name, upper case.
      warnings: problems met while decoding, filled by finish().
      details: mechanism-specific decoded fields (NTLM challenge and flags, DIGEST-MD5
        directives, SCRAM salt and iterations, OAuth error JSON...), filled by finish().
    """

    def __init__(
        self,
        mechanism: str,
        initial_response: bytes | None,
        *,
        command: str = "AUTH",
        challenge: str = "334",
    ):
        """``command`` and ``challenge`` only shape the ``exchange`` lines: POP3 and
        IMAP (RFC 5034, 3501) send ``AUTH``/``tag AUTHENTICATE`` and ``+`` challenges.
        """
        self._command = command
        self._challenge = challenge
        if isinstance(mechanism, bytes):
            mechanism = mechanism.decode("latin-1")
        self._mechanism_sent = mechanism or ""
        self.mechanism = self._mechanism_sent.strip().upper()
        if isinstance(initial_response, str):
            initial_response = initial_response.encode("utf-8", "surrogateescape")
        if initial_response is not None:
            initial_response = initial_response.strip()
            if not initial_response:
                initial_response = None
        self._initial = initial_response
        self._steps: list[tuple[str, bytes]] = []
        self._dropped_lines = 0
        self._cut_lines = 0
        self.aborted = False
        self.warnings: list[str] = []
        self.details: dict[str, object] = {}

    # -- feeding --------------------------------------------------------------

    def server_challenge(self, text: bytes) -> None:
        """Keep the text of one ``334`` reply."""
        self._keep("S", text)

    def client_response(self, line: bytes) -> None:
        """Keep one client line; ``*`` cancels the exchange (RFC 4954)."""
        if isinstance(line, (bytes, bytearray)) and line.strip() == b"*":
            self.aborted = True
        self._keep("C", line)

    def _keep(self, side: str, text: bytes) -> None:
        if isinstance(text, str):
            text = text.encode("utf-8", "surrogateescape")
        text = bytes(text or b"").rstrip(b"\r\n")
        if len(self._steps) >= MAX_LINES:
            self._dropped_lines += 1
            return
        if len(text) > MAX_LINE_BYTES:
            self._cut_lines += 1
            text = text[:MAX_LINE_BYTES]
        self._steps.append((side, text))

    # -- the record -----------------------------------------------------------

    def finish(
        self, code: int | None, reply: str | None, success: bool | None = None
    ) -> dict:
        """Decode everything kept into a dict of Credential fields; never raises.

        ``success``: the outcome when the protocol has no SMTP reply code (POP3
        ``+OK``/``-ERR``, IMAP ``OK``/``NO``); ``code`` is then None.
        """
        self.warnings = []
        self.details = {}
        record: dict = dict.fromkeys(CREDENTIAL_FIELDS)
        record["mechanism"] = self.mechanism
        record["aborted"] = self.aborted
        record["reply"] = reply
        record["exchange"] = []
        try:
            turns = self._turns()
            record["exchange"] = self._exchange_lines(turns, code, reply)
            if self._dropped_lines:
                self._warn(f"{self._dropped_lines} line(s) beyond {MAX_LINES} not kept")
            if self._cut_lines:
                self._warn(f"{self._cut_lines} line(s) cut at {MAX_LINE_BYTES} bytes")
            self._decode(turns, record)
        except Exception as error:  # a decoder bug must not lose the exchange
            self._warn(f"decoding stopped: {type(error).__name__}: {error}")
        if self.aborted:
            record["success"] = False
        elif code is None:
            record["success"] = success
        else:
            record["success"] = 200 <= code < 300
        record["details"] = dict(self.details)
        return record

    # -- shared helpers -------------------------------------------------------

    def _warn(self, text: str, turn: Optional[_Turn] = None) -> None:
        where = f"{turn.where}: " if turn is not None else ""
        self.warnings.append(
            f"AUTH {self.mechanism or '(no mechanism)'}: {where}{text}"
        )

    def _turns(self) -> list[_Turn]:
        turns = []
        if self._initial is not None:
            raw = b"" if self._initial == b"=" else self._initial
            turns.append(_Turn("C", "AUTH line", raw))
        counts = {"C": 0, "S": 0}
        for side, raw in self._steps:
            counts[side] += 1
            name = "client" if side == "C" else "server"
            turn = _Turn(side, f"{name} line {counts[side]}", raw)
            turn.abort = side == "C" and raw.strip() == b"*"
            turns.append(turn)
        return turns

    def _live(self, turns: list[_Turn]) -> list[_Turn]:
        """The turns that carry data: up to the abort, without it."""
        live = []
        for index, turn in enumerate(turns):
            if turn.abort:
                if index + 1 < len(turns):
                    self._warn(f"{len(turns) - index - 1} line(s) after the abort")
                break
            live.append(turn)
        return live

    def _data(self, turn: _Turn) -> bytes:
        """The turn's base64 decoded, reporting its problems once."""
        if turn.data is None:
            turn.data, turn.problems = decode_base64(turn.raw)
        if turn.problems and not turn.reported:
            turn.reported = True
            for problem in turn.problems:
                self._warn(problem, turn)
        return turn.data

    def _extra(self, turns: list[_Turn], used: set[int]) -> None:
        """Note client lines with data that the mechanism has no place for."""
        for turn in turns:
            if turn.side != "C" or id(turn) in used:
                continue
            # An empty line (or OAUTHBEARER's lone %x01) only acknowledges a
            # server message: normal, nothing lost.
            if self._data(turn) not in (b"", b"\x01"):
                self._warn("unexpected extra client line, not decoded", turn)

    # -- exchange lines -------------------------------------------------------

    def _exchange_lines(
        self, turns: list[_Turn], code: int | None, reply: str | None
    ) -> list[str]:
        lines = []
        auth = f"C: {self._command} {self._mechanism_sent}"
        first = 0
        if self._initial is not None:
            auth += " " + readable(self._initial) + _annotation(turns[0])
            first = 1
        lines.append(auth)
        for turn in turns[first:]:
            if turn.side == "S":
                text = readable(turn.raw)
                prefix = self._challenge
                shown = f"S: {prefix} {text}" if text else f"S: {prefix}"
                lines.append(shown + _annotation(turn))
            else:
                lines.append(f"C: {readable(turn.raw)}" + _annotation(turn))
        if code is not None:
            if reply and reply.startswith(str(code)):
                lines.append(f"S: {reply}")
            else:
                lines.append(f"S: {code} {reply}" if reply else f"S: {code}")
        elif reply:
            lines.append(f"S: {reply}")
        return lines

    # -- mechanisms -----------------------------------------------------------

    def _decode(self, turns: list[_Turn], record: dict) -> None:
        live = self._live(turns)
        mechanism = self.mechanism
        if mechanism == "PLAIN":
            self._plain(live, record)
        elif mechanism == "LOGIN":
            self._login(live, record)
        elif mechanism == "CRAM-MD5":
            self._cram_md5(live, record)
        elif mechanism == "DIGEST-MD5":
            self._digest_md5(live, record)
        elif mechanism in ("XOAUTH2", "OAUTHBEARER"):
            self._oauth(live, record)
        elif mechanism.startswith("SCRAM-"):
            self._scram(live, record)
        elif mechanism == "ANONYMOUS":
            self._anonymous(live, record)
        elif mechanism == "EXTERNAL":
            self._external(live, record)
        elif mechanism == "GSSAPI":
            for turn in live:
                if turn.side == "C":
                    self._data(turn)
        elif mechanism == "NTLM" or _carries_ntlmssp(live):
            # MSN and GSS-SPNEGO carry NTLMSSP too; the signature decides.
            self._ntlm(live, record)

    def _client_data(self, live: list[_Turn]) -> list[tuple[_Turn, bytes]]:
        return [(turn, self._data(turn)) for turn in live if turn.side == "C"]

    def _first_nonempty(self, live: list[_Turn]) -> Optional[tuple[_Turn, bytes]]:
        messages = self._client_data(live)
        for index, (turn, data) in enumerate(messages):
            if data:
                self._extra([t for t, _ in messages[index + 1 :]], set())
                return turn, data
        self._warn("no client data")
        return None

    def _set_user(self, record: dict, name: bytes, render=readable) -> None:
        record["username_bytes"] = name
        record["username"] = render(name)

    def _set_password(self, record: dict, secret: bytes) -> None:
        record["password_bytes"] = secret
        record["password"] = readable(secret)

    def _plain(self, live: list[_Turn], record: dict) -> None:
        found = self._first_nonempty(live)
        if found is None:
            return
        turn, data = found
        parts = data.split(b"\x00")
        if len(parts) == 1:
            self._warn("no NUL separator: not authzid\\0authcid\\0passwd", turn)
            return
        if len(parts) == 2:
            self._warn("one NUL separator only: read as authcid\\0passwd", turn)
            parts.insert(0, b"")
        elif len(parts) > 3:
            self._warn("more than two NUL separators: password is all after 2nd", turn)
            parts = parts[:2] + [b"\x00".join(parts[2:])]
        authzid, authcid, passwd = parts
        if authzid:
            record["authzid"] = readable(authzid)
        self._set_user(record, authcid)
        self._set_password(record, passwd)

    def _login(self, live: list[_Turn], record: dict) -> None:
        prompt: Optional[bytes] = None
        filled: dict[str, bytes] = {}
        for turn in live:
            if turn.side == "S":
                prompt = self._data(turn) if turn.looks_base64 else turn.raw.strip()
                prompt = prompt or None  # an empty 334 asks for nothing in particular
                continue
            value = self._data(turn)
            if turn.where == "AUTH line":
                field = "username"
            else:
                field = _prompt_field(prompt) if prompt is not None else None
                if field is None:
                    if prompt is not None:
                        self._warn(f"prompt {readable(prompt)!r} not understood", turn)
                    field = next(
                        (f for f in ("username", "password") if f not in filled), None
                    )
            prompt = None
            if field is None:
                self._warn("unexpected extra client line, not decoded", turn)
                continue
            if field in filled:
                self._warn(f"{field} sent again; the later one is kept", turn)
            filled[field] = value
        if "username" in filled:
            self._set_user(record, filled["username"])
        else:
            self._warn("no username seen")
        if "password" in filled:
            self._set_password(record, filled["password"])
        else:
            self._warn("no password seen")

    def _cram_md5(self, live: list[_Turn], record: dict) -> None:
        if live and live[0].where == "AUTH line":
            self._warn("CRAM-MD5 takes no initial response; ignored", live[0])
            live = live[1:]
        challenge = next((t for t in live if t.side == "S"), None)
        if challenge is None:
            self._warn("no server challenge")
        start = live.index(challenge) + 1 if challenge is not None else 0
        response = next((t for t in live[start:] if t.side == "C"), None)
        self._extra(live, {id(response)})
        if response is None:
            self._warn("no client response")
            return
        data = self._data(response)
        name, _, digest = data.rpartition(b" ")
        if not name:
            self._warn("response is not 'user digest'", response)
            return
        self._set_user(record, name)
        digest_text = readable(digest).lower()
        self.details["digest"] = digest_text
        if challenge is None:
            return
        challenge_text = self._data(challenge)
        self.details["challenge"] = readable(challenge_text)
        if not _HEX_DIGEST.fullmatch(digest_text):
            self._warn("digest is not 32 hex digits; no hashcat line", response)
            return
        record["hashcat"] = (
            f"$cram_md5${_as_sent(challenge, challenge_text)}"
            f"${_as_sent(response, data)}"
        )
        record["hashcat_mode"] = HASHCAT_CRAM_MD5

    def _digest_md5(self, live: list[_Turn], record: dict) -> None:
        challenge = response = rspauth = None
        challenge_fields: dict[str, list[bytes]] = {}
        response_fields: dict[str, list[bytes]] = {}
        used = set()
        for turn in live:
            data = self._data(turn) if turn.side == "C" or turn.looks_base64 else b""
            if turn.side == "S":
                if challenge is None and b"nonce" in data:
                    challenge = turn
                    challenge_fields = self._directives(turn, data)
                elif rspauth is None and b"rspauth" in data:
                    rspauth = turn
                    self.details["rspauth"] = readable(
                        self._directives(turn, data).get("rspauth", [b""])[0]
                    )
            elif response is None and b"response" in data:
                response = turn
                response_fields = self._directives(turn, data)
                used.add(id(turn))
            elif not data:
                used.add(id(turn))  # the empty answer to rspauth
        self._extra(live, used)
        if challenge is None:
            self._warn("no digest-challenge seen")
        else:
            self.details["digest_challenge"] = _render_fields(challenge_fields)
        if response is None:
            self._warn("no digest-response seen")
            return
        self.details["digest_response"] = _render_fields(response_fields)
        missing = [
            key
            for key in ("username", "nonce", "cnonce", "nc", "digest-uri", "response")
            if key not in response_fields
        ]
        if missing:
            self._warn(f"digest-response lacks {', '.join(missing)}", response)
        if "username" in response_fields:
            self._set_user(record, response_fields["username"][0])
        realm = response_fields.get("realm") or challenge_fields.get("realm")
        if realm:
            record["realm"] = readable(realm[0])
        if "authzid" in response_fields:
            record["authzid"] = readable(response_fields["authzid"][0])
        sent = challenge_fields.get("nonce", [None])[0]
        if sent is not None and response_fields.get("nonce", [sent])[0] != sent:
            self._warn("response nonce differs from the challenge nonce", response)

    def _directives(self, turn: _Turn, data: bytes) -> dict[str, list[bytes]]:
        fields, problems = parse_digest_directives(data)
        for problem in problems:
            self._warn(problem, turn)
        return fields

    def _oauth(self, live: list[_Turn], record: dict) -> None:
        found = self._first_nonempty(live)
        if found is None:
            return
        turn, data = found
        if self.mechanism == "XOAUTH2":
            pairs = _kv_pairs(data)
            name = pairs.get("user")
        else:
            header, _, rest = data.partition(b"\x01")
            pairs = _kv_pairs(rest)
            flag, _, authz = header.partition(b",")
            if flag not in (b"n", b"y") and not flag.startswith(b"p="):
                self._warn("no GS2 header ('n,a=user,')", turn)
            name = (
                _saslname(authz[2:].rstrip(b",")) if authz.startswith(b"a=") else None
            )
            for key in ("host", "port"):
                if key in pairs:
                    self.details[key] = readable(pairs[key])
        if name is not None:
            self._set_user(record, name)
        else:
            self._warn("no user name in the client message", turn)
        auth = pairs.get("auth")
        if auth is None:
            self._warn("no auth= field", turn)
        else:
            scheme, _, token = auth.partition(b" ")
            if scheme.lower() != b"bearer" or not token:
                self._warn("auth= is not 'Bearer <token>'; kept whole", turn)
                token = auth
            record["token"] = readable(token.strip())
        after = live[live.index(turn) + 1 :]
        for server in (t for t in after if t.side == "S"):
            # A 334 after the token is the server's JSON error (RFC 7628 3.2.2).
            self.details["server_error"] = readable(self._data(server))
            break

    def _scram(self, live: list[_Turn], record: dict) -> None:
        messages = self._client_data(live)
        if not messages:
            self._warn("no client-first-message")
            return
        turn, first = messages[0]
        gs2_flag, _, rest = first.partition(b",")
        authz, _, bare = rest.partition(b",")
        if authz.startswith(b"a="):
            record["authzid"] = readable(_saslname(authz[2:]))
        attrs = _scram_attributes(bare)
        self.details["gs2_header"] = readable(gs2_flag + b"," + authz + b",")
        if "n" in attrs:
            self._set_user(record, _saslname(attrs["n"]))
        else:
            self._warn("client-first-message has no n=", turn)
        self.details["client_nonce"] = readable(attrs.get("r", b""))
        server_first = next(
            (t for t in live if t.side == "S" and t.looks_base64 and self._data(t)),
            None,
        )
        if server_first is not None:
            attrs = _scram_attributes(self._data(server_first))
            self.details["server_nonce"] = readable(attrs.get("r", b""))
            self.details["salt"] = readable(attrs.get("s", b""))
            self.details["iterations"] = readable(attrs.get("i", b""))
            if not self.details["server_nonce"].startswith(
                self.details["client_nonce"]
            ):
                self._warn("server nonce does not extend the client nonce")
            later = [t for t in live if t.side == "S" and t is not server_first]
            for server in later:
                final = _scram_attributes(self._data(server))
                for key, name in (("v", "server_signature"), ("e", "server_error")):
                    if key in final:
                        self.details[name] = readable(final[key])
        if len(messages) > 1:
            final = _scram_attributes(messages[1][1])
            self.details["client_proof"] = readable(final.get("p", b""))
            self.details["channel_binding"] = readable(final.get("c", b""))
        self._extra([t for t, _ in messages[2:]], set())

    def _anonymous(self, live: list[_Turn], record: dict) -> None:
        messages = self._client_data(live)
        if messages and messages[0][1]:
            self._set_user(record, messages[0][1])  # the RFC 4505 trace
        self._extra([t for t, _ in messages[1:]], set())

    def _external(self, live: list[_Turn], record: dict) -> None:
        messages = self._client_data(live)
        if messages and messages[0][1]:
            record["authzid"] = readable(messages[0][1])
        self._extra([t for t, _ in messages[1:]], set())

    def _ntlm(self, live: list[_Turn], record: dict) -> None:
        messages: dict[int, tuple[_Turn, bytes]] = {}
        for turn in live:
            if not turn.looks_base64 and turn.side == "S":
                continue  # "334 NTLM supported" (MS-SMTPNTLM) is plain text
            data = self._data(turn) if turn.side == "C" or turn.looks_base64 else b""
            start = data.find(_NTLMSSP)
            if start < 0:
                if turn.side == "C" and data:
                    self._warn("client line carries no NTLMSSP message", turn)
                continue
            message = data[start:]
            kind = struct.unpack_from("<I", message, 8)[0] if len(message) >= 12 else 0
            if kind in messages:
                self._warn(f"second NTLMSSP type {kind} message ignored", turn)
            elif kind in (1, 2, 3):
                messages[kind] = (turn, message)
            else:
                self._warn(f"unknown NTLMSSP message type {kind}", turn)
        challenge = None
        server_flags = None
        if 1 in messages:
            turn, message = messages[1]
            if len(message) >= 16:
                self.details["negotiate_flags"] = (
                    f"0x{struct.unpack_from('<I', message, 12)[0]:08x}"
                )
        if 2 in messages:
            turn, message = messages[2]
            if len(message) < 32:
                self._warn("NTLMSSP CHALLENGE message truncated", turn)
            else:
                server_flags = struct.unpack_from("<I", message, 20)[0]
                challenge = message[24:32]
                self.details["server_challenge"] = challenge.hex()
                self.details["challenge_flags"] = f"0x{server_flags:08x}"
                unicode = bool(server_flags & _NTLM_UNICODE)
                target = self._ntlm_field(turn, message, 12)
                if target:
                    self.details["target_name"] = _ntlm_text(target, unicode)
                if len(message) >= 48:
                    info = self._ntlm_field(turn, message, 40)
                    self.details.update(_av_pairs(info))
        else:
            self._warn("no NTLMSSP CHALLENGE (type 2) seen; no hashcat line")
        if 3 not in messages:
            self._warn("no NTLMSSP AUTHENTICATE (type 3) seen")
            return
        turn, message = messages[3]
        self._ntlm_authenticate(turn, message, challenge, server_flags, record)

    def _ntlm_field(self, turn: _Turn, message: bytes, at: int) -> bytes:
        """A (length, maxlength, offset) payload field of an NTLMSSP message."""
        if len(message) < at + 8:
            self._warn(f"NTLMSSP message too short for the field at {at}", turn)
            return b""
        length, _, offset = struct.unpack_from("<HHI", message, at)
        if offset + length > len(message):
            self._warn(f"NTLMSSP field at {at} runs past the message end", turn)
        return message[offset : offset + length]

    def _ntlm_authenticate(
        self,
        turn: _Turn,
        message: bytes,
        challenge: Optional[bytes],
        server_flags: Optional[int],
        record: dict,
    ) -> None:
        if len(message) < 52:
            self._warn("NTLMSSP AUTHENTICATE message truncated", turn)
            return
        lm, nt, domain, user, host = (
            self._ntlm_field(turn, message, at) for at in (12, 20, 28, 36, 44)
        )
        offsets = [
            struct.unpack_from("<HHI", message, at)
            for at in (12, 20, 28, 36, 44)
            if len(message) >= at + 8
        ]
        payload_start = min((o for n, _, o in offsets if n), default=len(message))
        if len(message) >= 64 and payload_start >= 64:
            flags = struct.unpack_from("<I", message, 60)[0]
        else:
            flags = server_flags if server_flags is not None else _NTLM_UNICODE
        self.details["authenticate_flags"] = f"0x{flags:08x}"
        unicode = bool(flags & _NTLM_UNICODE)
        render = _utf16_readable if unicode else readable
        if user:
            self._set_user(record, user, render)
        record["domain"] = render(domain) if domain else None
        record["workstation"] = render(host) if host else None
        self.details["lm_response"] = lm.hex()
        self.details["nt_response"] = nt.hex()
        name, domain_name = render(user), render(domain)
        if not user and not nt:
            self.details["ntlm_version"] = "anonymous"
            return
        if len(nt) == 24:
            ess = bool(flags & _NTLM_ESS) and len(lm) == 24 and lm[8:] == bytes(16)
            self.details["ntlm_version"] = "NTLMv1-ESS" if ess else "NTLMv1"
        elif len(nt) > 24:
            self.details["ntlm_version"] = "NTLMv2"
            if len(nt) >= 32:
                stamp = struct.unpack_from("<Q", nt, 24)[0]
                if stamp:
                    ticks = stamp - _FILETIME_EPOCH_OFFSET
                    self.details["client_time_ns"] = ticks * 100
        else:
            self._warn(f"NT response of {len(nt)} bytes: no hashcat line", turn)
            return
        if challenge is None:
            return
        if ":" in name or ":" in domain_name:
            self._warn("':' in user or domain makes the hashcat line ambiguous", turn)
        if len(nt) == 24:
            line = f"{name}::{domain_name}:{lm.hex()}:{nt.hex()}:{challenge.hex()}"
            mode = HASHCAT_NETNTLMV1
        else:
            line = f"{name}::{domain_name}:{challenge.hex()}:{nt[:16].hex()}:"
            line += nt[16:].hex()
            mode = HASHCAT_NETNTLMV2
        record["hashcat"] = line
        record["hashcat_mode"] = mode


def parse_digest_directives(data: bytes) -> tuple[dict[str, list[bytes]], list[str]]:
    """Parse an RFC 2831 digest-challenge or digest-response into its directives.

    Keys are lower case; values are unquoted bytes, each key holding every value it
    was given (a challenge may offer several realms).
    """
    fields: dict[str, list[bytes]] = {}
    problems = []
    position = 0
    while position < len(data):
        while position < len(data) and data[position : position + 1] in b" \t\r\n,":
            position += 1
        if position >= len(data):
            break
        match = _DIGEST_PAIR.match(data, position)
        if match is None or match.end() == position:
            end = data.find(b",", position)
            end = len(data) if end < 0 else end + 1
            problems.append(f"unparsable directive {readable(data[position:end])!r}")
            position = end
            continue
        key = match.group(1).decode("ascii").lower()
        if match.group(2) is not None:
            value = re.sub(rb"\\(.)", rb"\1", match.group(2), flags=re.S)
        else:
            value = match.group(3)
            if value.startswith(b'"'):
                problems.append(f"unterminated quoted value for {key}")
                value = value[1:]
        fields.setdefault(key, []).append(value)
        position = match.end()
    return fields, problems


def _render_fields(fields: dict[str, list[bytes]]) -> dict[str, str]:
    return {
        key: ",".join(readable(v) for v in values) for key, values in fields.items()
    }


def _annotation(turn: _Turn) -> str:
    """The decoded text shown beside a base64 line, when there is something to show."""
    if not turn.raw or not turn.looks_base64 or turn.abort:
        return ""
    data, _ = decode_base64(turn.raw)
    if not data:
        return ""
    if _NTLMSSP in data:
        start = data.find(_NTLMSSP)
        kind = data[start + 8] if len(data) > start + 8 else 0
        return f" (NTLMSSP type {kind})"
    shown = readable(data).replace("\x00", "\\x00").replace("\x01", "\\x01")
    if shown.isprintable():
        return f" ({shown})"
    return f" ({len(data)} bytes)"


def _prompt_field(prompt: bytes) -> Optional[str]:
    """Which LOGIN field a server prompt asks for, from its words."""
    text = readable(prompt).lower()
    if "pass" in text:
        return "password"
    if "user" in text or "name" in text or "login" in text:
        return "username"
    return None


def _as_sent(turn: _Turn, data: bytes) -> str:
    """The base64 as the wire carried it, or re-encoded when it was malformed."""
    if not turn.problems:
        return b"".join(turn.raw.split()).decode("ascii")
    return base64.b64encode(data).decode("ascii")


def _kv_pairs(data: bytes) -> dict[str, bytes]:
    pairs = {}
    for item in data.split(b"\x01"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            pairs.setdefault(key.decode("latin-1").lower(), value)
    return pairs


def _saslname(value: bytes) -> bytes:
    """Undo the RFC 5801/5802 escaping of ',' and '=' in a name."""
    return value.replace(b"=2C", b",").replace(b"=3D", b"=")


def _scram_attributes(data: bytes) -> dict[str, bytes]:
    attributes = {}
    for item in data.split(b","):
        if len(item) >= 2 and item[1:2] == b"=":
            attributes.setdefault(item[:1].decode("latin-1"), item[2:])
    return attributes


def _carries_ntlmssp(turns: list[_Turn]) -> bool:
    for turn in turns:
        if turn.looks_base64 and _NTLMSSP in decode_base64(turn.raw)[0]:
            return True
    return False


def _ntlm_text(data: bytes, unicode: bool) -> str:
    return _utf16_readable(data) if unicode else readable(data)


def _av_pairs(info: bytes) -> dict[str, str]:
    """The names an NTLMSSP CHALLENGE's target info announces (MS-NLMP 2.2.2.1)."""
    names = {}
    position = 0
    while position + 4 <= len(info):
        av_id, length = struct.unpack_from("<HH", info, position)
        if av_id == 0:
            break
        value = info[position + 4 : position + 4 + length]
        if av_id in _NTLM_AV_NAMES:
            names[_NTLM_AV_NAMES[av_id]] = _utf16_readable(value)
        position += 4 + length
    return names
