"""Decodes a message into headers, text bodies and attachments, whatever its state.

The parse tree comes from the standard ``email`` package (``policy.default``). Where
that policy's header parser raises on a malformed header (it does, for instance, on
``Content-Type: text/plain; name*``), the header is read with compat32 rules instead:
the raw value, unfolded, split by simple parameter rules. Nothing raises out of
:func:`analyse`; every problem becomes a warning and decoding goes on.

Text, encoded-words and RFC 2231 parameters are all decoded by :func:`decode_text`,
so one set of charset rules applies everywhere:

* labels are mapped to the superset that senders really use (gb2312 and gbk to
  gb18030, big5 to big5hkscs, ks_c_5601-1987 and euc-kr to cp949, shift_jis to
  cp932, iso-8859-1 to cp1252 when 8-bit bytes are present, as browsers do);
* us-ascii text with 8-bit bytes is read as UTF-8 when it is valid UTF-8 (the
  usual cause is a sender that forgot to declare it), otherwise as cp1252;
* undeclared 8-bit bytes (raw headers, SMTPUTF8, text without a charset) are read
  as UTF-8 when valid; else as gb18030 when that decodes cleanly and at least half
  of the resulting non-ASCII characters are in the common GB2312 repertoire (what a
  Chinese mail client shows); else as cp1252, with the five bytes cp1252 leaves
  undefined kept as their Latin-1 characters;
* an unknown label is decoded by the undeclared rule, with a warning;
* bytes a declared multibyte codec rejects are read as UTF-8 if valid (a common
  mislabel), else decoded with replacement characters, with a warning; a declared
  single-byte charset (koi8-r, windows-1252...) is believed, as clients do.

Body text has its CRLF line ends turned into LF; attachment payloads are the exact
decoded bytes. Embedded messages (message/rfc822, message/global) are kept as
their bytes by the parser and parsed again by us, so the attachment holds the inner
message exactly as it was inside the outer one (after transfer decoding).
"""

from __future__ import annotations

import binascii
import codecs
import datetime
import email.errors
import email.feedparser
import email.message
import email.parser
import email.policy
import email.utils
import hashlib
import io
import mimetypes
import mmap
import os
import re
import urllib.parse
from typing import BinaryIO, Callable, Iterator, Optional

try:
    import pybase64
except ImportError:  # not installed: binascii's decoder, the reference, does it all
    pybase64 = None

from smtpcore import mimebody
from smtpcore.model import Attachment, MimeInfo, TextBody

Warn = Callable[[str], None]

FEED_CHUNK = 256 * 1024  # bytes handed to the parser at a time
DECODE_CHUNK = 4 * 1024 * 1024  # characters of encoded payload decoded at a time
MAGIC_BYTES = 4096  # how much of a payload detect_type looks at

# ---------------------------------------------------------------------------
# Charsets


def _latin1_for_undefined(error: UnicodeDecodeError) -> tuple[str, int]:
    """Keeps the bytes cp1252 leaves undefined (0x81, 0x8D...) as Latin-1 characters."""
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("smtpcore.latin1", _latin1_for_undefined)

_GB18030 = "gb18030"
_ALIASES = {
    **dict.fromkeys(
        (
            "gb2312",
            "gb_2312",
            "gb_2312-80",
            "csgb2312",
            "euc-cn",
            "euccn",
            "x-euc-cn",
            "chinese",
            "iso-ir-58",
            "csiso58gb231280",
            "gbk",
            "x-gbk",
            "cp936",
            "ms936",
            "windows-936",
            "gb18030",
        ),
        _GB18030,
    ),
    **dict.fromkeys(
        ("big5", "big-5", "big5-tw", "cn-big5", "csbig5", "x-x-big5", "x-big5"),
        "big5hkscs",
    ),
    **dict.fromkeys(
        (
            "ks_c_5601-1987",
            "ks_c_5601-1989",
            "ks_c_5601",
            "ksc_5601",
            "ksc5601",
            "korean",
            "csksc56011987",
            "iso-ir-149",
            "euc-kr",
            "x-euc-kr",
            "windows-949",
            "uhc",
        ),
        "cp949",
    ),
    **dict.fromkeys(
        ("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis"),
        "cp932",
    ),
    **dict.fromkeys(("windows-31j", "ms932"), "cp932"),
    **dict.fromkeys(("iso-8859-9", "iso8859-9", "latin5", "l5"), "cp1254"),
    **dict.fromkeys(("tis-620", "iso-8859-11", "windows-874"), "cp874"),
    "unicode-1-1-utf-8": "utf-8",
}
_LATIN1_LABELS = frozenset(
    (
        "iso-8859-1",
        "iso8859-1",
        "iso_8859-1",
        "iso_8859-1:1987",
        "latin1",
        "latin-1",
        "l1",
        "cp819",
        "ibm819",
        "iso-ir-100",
        "csisolatin1",
    )
)
_ASCII_LABELS = frozenset(
    ("us-ascii", "ascii", "ansi_x3.4-1968", "us", "iso646-us", "csascii", "iso-ir-6")
)
_UNDECLARED_LABELS = frozenset(("unknown-8bit", "x-unknown", "unknown", "8bit"))


def _codec_name(codec: str) -> str:
    return codecs.lookup(codec).name


def _cp1252(data: bytes) -> str:
    return data.decode("cp1252", "smtpcore.latin1")


def _looks_chinese(text: str) -> bool:
    """True when at least half of the non-ASCII characters are common GB2312 ones."""
    wide = [char for char in text if ord(char) > 0x7F]
    if not wide:
        return False
    common = 0
    for char in wide:
        try:
            char.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common * 2 >= len(wide)


def _decode_undeclared(data: bytes) -> tuple[str, str]:
    """Raw 8-bit bytes with no (usable) label: UTF-8, then gb18030, then cp1252."""
    if data.isascii():
        return data.decode("ascii"), "ascii"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode(_GB18030)
        if _looks_chinese(text):
            return text, _GB18030
    except UnicodeDecodeError:
        pass
    return _cp1252(data), "cp1252"


def _normalise_label(label: Optional[str]) -> str:
    return (label or "").strip().strip("\"'").strip().lower()


def _decode_text(
    data: bytes, declared: Optional[str], warn: Optional[Warn] = None
) -> tuple[str, str]:
    label = _normalise_label(declared)
    if not label or label in _UNDECLARED_LABELS:
        return _decode_undeclared(data)
    if label in _ASCII_LABELS:
        if data.isascii():
            return data.decode("ascii"), "ascii"
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return _cp1252(data), "cp1252"
    if label in _LATIN1_LABELS:
        if data.isascii():
            return data.decode("ascii"), _codec_name("latin-1")
        return _cp1252(data), "cp1252"
    codec = _ALIASES.get(label, label)
    try:
        name = _codec_name(codec)
        if name in ("utf-8", "utf-8-sig"):
            return data.decode("utf-8-sig"), "utf-8"
        if name == "cp1252":
            return _cp1252(data), "cp1252"
        return data.decode(name), name
    except UnicodeDecodeError as error:
        return _mislabelled(data, declared, name, error, warn)
    except (LookupError, ValueError):  # unknown, not a text codec, or not a name
        text, used = _decode_undeclared(data)
        if warn:
            warn(f"unknown charset {declared!r}; decoded as {used}")
        return text, used


def _mislabelled(
    data: bytes,
    declared: Optional[str],
    name: str,
    error: UnicodeDecodeError,
    warn: Optional[Warn],
) -> tuple[str, str]:
    """Text its declared codec rejects: valid UTF-8 wins, else replacement characters."""
    if not data.isascii():
        try:
            text = data.decode("utf-8")
            if warn:
                warn(
                    f"text labelled {declared!r} is not valid {name}; decoded as utf-8"
                )
            return text, "utf-8"
        except UnicodeDecodeError:
            pass
    if warn:
        warn(
            f"text labelled {declared!r} has bytes invalid in {name} "
            f"(first at byte {error.start}); they were replaced"
        )
    try:
        return data.decode(name, "replace"), name
    except (UnicodeError, LookupError):  # codecs such as idna refuse "replace"
        return _decode_undeclared(data)


def decode_text(data: bytes, declared_charset: str | None) -> tuple[str, str]:
    """Decodes text the way mail clients show it; see the module notes for the rules.

    Args:
        data: the bytes after transfer decoding.
        declared_charset: the label from the message, or None when there was none.

    Returns:
        The text and the Python codec that was used (e.g. ``gb18030`` for gb2312).
    """
    return _decode_text(data, declared_charset)


# ---------------------------------------------------------------------------
# Headers: RFC 2047 encoded-words


# charset, optional RFC 2231 language, encoding, then text up to "?=", or, for a
# word missing its end, up to the next white space.
_ENCODED_WORD = re.compile(
    r"=\?(?P<charset>[^?\s*]+)(?:\*[^?\s]*)?\?(?P<encoding>[bBqQ])\?"
    r"(?:(?P<text>[^?]*?)\?=|(?P<open>[^?\s]*))"
)
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAK = re.compile(r"[\r\n]+")
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def _str_to_bytes(value: str) -> bytes:
    """Undoes the parser's surrogateescape; real non-ASCII characters become UTF-8."""
    return value.encode("utf-8", "surrogateescape")


def _has_surrogates(value: str) -> bool:
    return not value.isascii() and any(0xDC80 <= ord(c) <= 0xDCFF for c in value)


def _unfold(value: str) -> str:
    if "\n" not in value and "\r" not in value:
        return value  # the usual one-line value: no regex needed
    return _LINE_BREAK.sub("", _FOLD.sub("", value))


def _decode_b(text: str, warn: Optional[Warn]) -> bytes:
    raw = text.encode("ascii", "replace")
    core = _BASE64_JUNK.sub(b"", raw.rstrip(b"="))
    if len(core) != len(raw.rstrip(b"=")) and warn:
        warn(f"encoded-word {text!r}: characters outside base64 ignored")
    remainder = len(core) % 4
    if remainder == 1:
        core = core[:-1]
        if warn:
            warn(f"encoded-word {text!r}: truncated base64; last character dropped")
    elif remainder and len(raw) - len(raw.rstrip(b"=")) != 4 - remainder and warn:
        warn(f"encoded-word {text!r}: base64 padding missing")
    core += b"=" * (-len(core) % 4)
    try:
        return binascii.a2b_base64(core)
    except binascii.Error:
        return b""


def _decode_q(text: str) -> bytes:
    return binascii.a2b_qp(text.encode("ascii", "replace"), header=True)


def _decode_header(raw: str | bytes, warn: Optional[Warn] = None) -> str:
    if isinstance(raw, str):
        if _has_surrogates(raw):
            raw = _str_to_bytes(raw)
        else:
            value = raw
    if isinstance(raw, bytes):
        value = _decode_undeclared(raw)[0]
    value = _unfold(value)
    if "=?" not in value:
        return value
    # Pieces: str for plain text, (charset, bytes) for an encoded-word.
    pieces: list[str | tuple[str, bytes]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        previous_is_word = bool(pieces) and isinstance(pieces[-1], tuple)
        if between and not (previous_is_word and between.isspace()):
            pieces.append(between)
        text = match.group("text")
        if text is None:
            text = match.group("open")
            if warn:
                warn(f"encoded-word {match.group(0)!r} has no closing '?='")
        if match.group("encoding") in "bB":
            data = _decode_b(text, warn)
        else:
            data = _decode_q(text)
        charset = _normalise_label(match.group("charset"))
        if pieces and isinstance(pieces[-1], tuple) and pieces[-1][0] == charset:
            # Same charset: join the bytes so a character split across words survives.
            pieces[-1] = (charset, pieces[-1][1] + data)
        else:
            pieces.append((charset, data))
        position = match.end()
    pieces.append(value[position:])
    out = []
    for piece in pieces:
        if isinstance(piece, tuple):
            out.append(_decode_text(piece[1], piece[0], warn)[0])
        else:
            out.append(piece)
    return "".join(out)


def decode_header_value(raw: str | bytes) -> str:
    """Decodes a header value: RFC 2047 encoded-words, raw 8-bit bytes, folding.

    Adjacent encoded-words are joined (RFC 2047 section 6.2) and malformed ones are
    decoded as far as they go. A ``str`` holding the email parser's surrogate-escaped
    bytes is treated as those bytes.
    """
    return _decode_header(raw)


# ---------------------------------------------------------------------------
# Header parameters (Content-Type, Content-Disposition), RFC 2231 and 2047

_PARAM_SPECIALS = re.compile(r'[;"\\]')
_RFC2231_NAME = re.compile(r"^(?P<name>[^*]+)\*(?:(?P<index>[0-9]+)\*?)?$")


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace("\\\\", "\\").replace('\\"', '"')
    if value.startswith('"'):
        return value[1:]
    return value


def _split_items(value: str) -> list[str]:
    """Splits at semicolons outside quoted strings; the first item is the main value."""
    items = []
    start = 0
    quoted = False
    skip = -1
    for match in _PARAM_SPECIALS.finditer(value):
        index = match.start()
        if index <= skip:
            continue
        char = value[index]
        if char == "\\":
            if quoted:
                skip = index + 1
        elif char == '"':
            quoted = not quoted
        elif not quoted:
            items.append(value[start:index])
            start = index + 1
    items.append(value[start:])
    return items


def _parse_params(value: Optional[str], warn: Warn) -> dict[str, str]:
    """A MIME header's parameters, decoded; an RFC 2231 value beats a plain one."""
    if not value:
        return {}
    plain: dict[str, str] = {}
    extended: dict[str, list[tuple[int, bool, str]]] = {}
    for item in _split_items(_unfold(value))[1:]:
        name, _, text = item.partition("=")
        name = name.strip().lower()
        if not name:
            continue
        match = _RFC2231_NAME.match(name)
        if match:
            index = int(match.group("index") or 0)
            segments = extended.setdefault(match.group("name"), [])
            segments.append((index, name.endswith("*"), _unquote(text)))
        elif name not in plain:
            decoded = _decode_header(_unquote(text), warn)
            if decoded:
                plain[name] = decoded
    for name, segments in extended.items():
        segments.sort(key=lambda segment: segment[0])
        indexes = [segment[0] for segment in segments]
        if indexes != list(range(len(segments))):
            warn(
                f"parameter {name}*: continuations {indexes} "
                f"are not 0..{len(segments) - 1}"
            )
        charset = None
        chunks = []
        for position, (_, encoded, text) in enumerate(segments):
            if encoded:
                if position == 0:
                    fields = text.split("'", 2)
                    if len(fields) == 3:
                        charset, _, text = fields
                chunks.append(urllib.parse.unquote_to_bytes(_str_to_bytes(text)))
            else:
                chunks.append(_str_to_bytes(text))
        data = b"".join(chunks)
        if charset:
            decoded = _decode_text(data, charset, warn)[0]
        else:
            decoded = _decode_header(data, warn)
        if decoded:
            plain[name] = decoded
    return plain


# ---------------------------------------------------------------------------
# Content type detection


def detect_type(head: bytes) -> Optional[str]:
    """Names a payload's real type from its first bytes (a small magic table).

    Office Open XML files (docx, xlsx) are ZIP archives and are reported as such.
    Returns None for an empty payload, ``application/octet-stream`` when unknown.
    """
    if not head:
        return None
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "application/zip"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/x-ole-storage"
    if head.startswith(b"MZ"):
        return "application/x-dosexec"
    if head.startswith(b"Rar!\x1a\x07"):
        return "application/vnd.rar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "application/x-7z-compressed"
    if head.startswith(b"\x7fELF"):
        return "application/x-executable"
    if _looks_like_text(head[:MAGIC_BYTES]):
        lowered = head[:512].lstrip().lower()
        if lowered.startswith((b"<!doctype html", b"<html")):
            return "text/html"
        return "text/plain"
    return "application/octet-stream"


def _looks_like_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as error:
        if error.start >= len(sample) - 3 and error.reason == "unexpected end of data":
            return True  # a character cut by the sample's end
    controls = sum(1 for byte in sample if byte < 0x20 and byte not in b"\t\r\n\f")
    return controls * 20 < len(sample)


# ---------------------------------------------------------------------------
# Transfer decoding


def _simd_a2b_base64(clean: bytes) -> bytes:
    """pybase64's SIMD decoder, seven times binascii's speed (base64 attachments
    were a tenth of a worker's time). ``_Base64Decoder`` hands it only alphabet in
    groups of four, at most the last one padded: there both give the same bytes."""
    return pybase64.b64decode(clean, validate=True)


A2B_BASE64 = _simd_a2b_base64 if pybase64 is not None else binascii.a2b_base64


class _Base64Decoder:
    """Decodes base64 piece by piece, tolerating junk, bad padding and joined blocks.

    ``decode`` turns the clean groups into bytes (binascii's in the tests that
    compare it with the default).
    """

    def __init__(self, decode: Callable[[bytes], bytes] = A2B_BASE64) -> None:
        self._decode = decode
        self._carry = b""
        self.invalid = 0
        self.long_lines = False  # a line over 76 characters (RFC 2045) was fed
        self.problems: list[str] = []

    def _note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def _finish(self, segment: bytes, pads: int, out: list[bytes]) -> None:
        full = len(segment) - len(segment) % 4
        out.append(self._decode(segment[:full]))
        remainder = len(segment) - full
        if remainder == 1:
            self._note("a stray base64 character was dropped")
        elif remainder:
            out.append(self._decode(segment[full:] + b"=" * (4 - remainder)))
        if pads != (-remainder % 4) and remainder != 1:
            self._note("wrong base64 padding" if pads else "missing base64 padding")

    def feed(self, text: bytes) -> bytes:
        cleaned = text.translate(None, _BASE64_SKIPPED)
        skipped = len(text) - len(cleaned)
        # The usual piece, even lines of the alphabet, is known by its line ends.
        if not (skipped and _even_crlf_lines(text, skipped)):
            if skipped != 2 * text.count(b"\r\n"):
                # Not just lines of the alphabet: other spacing, or junk to count.
                without_space = text.translate(None, b" \t\r\n")
                self.invalid += len(without_space) - len(cleaned)
            self.long_lines = self.long_lines or _has_long_line(text)
        data = self._carry + cleaned
        out: list[bytes] = []
        while True:
            pad = data.find(b"=")
            if pad < 0:
                usable = len(data) - len(data) % 4
                out.append(self._decode(data[:usable]))
                self._carry = data[usable:]
                break
            end = pad
            while end < len(data) and data[end] == 0x3D:
                end += 1
            if end == len(data):  # the padding may go on in the next piece
                full = pad - pad % 4
                out.append(self._decode(data[:full]))
                self._carry = data[full:]
                break
            self._finish(data[:pad], end - pad, out)
            self._note("base64 data continues after padding (joined blocks)")
            data = data[end:]
        return b"".join(out)

    def close(self) -> bytes:
        data, self._carry = self._carry, b""
        if not data:
            return b""
        segment = data.rstrip(b"=")
        out: list[bytes] = []
        self._finish(segment, len(data) - len(segment), out)
        return b"".join(out)


_BASE64_SKIPPED = bytes(  # all but the alphabet and "=": spacing and junk
    byte
    for byte in range(256)
    if not (chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) in "+/="))
)
_QP_BAD_ESCAPE = re.compile(rb"=(?![0-9A-Fa-f]{2}|[ \t]*\r?\n|[ \t]*\Z)")


def _has_long_line(piece: bytes) -> bool:
    """A line over 76 characters (RFC 2045), found with C-speed splitting."""
    if len(piece) <= 78 or _even_crlf_lines(piece):
        return False
    return max(map(len, piece.splitlines())) > 76


def _even_crlf_lines(piece: bytes, skipped: Optional[int] = None) -> bool:
    """Whether piece is lines of one width, at most 76, each ending in CRLF.

    That is how base64 bodies are written; checking it by striding over the line
    ends is several times faster than splitting the piece into lines. ``skipped``,
    the count of bytes of piece outside the base64 alphabet, stands in for
    counting its CRs and LFs (two passes over the piece): when the stride's line
    ends are all of them, there is no other line end, nor junk.
    """
    head = piece.find(b"\r\n")
    if not 0 <= head <= 76:
        return False
    start = head + 2
    width = piece.find(b"\r\n", start) - start
    if not 0 <= width <= 76:
        return False
    step = width + 2
    carriage_returns = piece[start + width :: step]
    newlines = piece[start + width + 1 :: step]
    if not (
        carriage_returns.count(b"\r") == len(carriage_returns)
        and newlines.count(b"\n") == len(newlines)
    ):
        return False
    if skipped is not None:
        ends = 2 + len(carriage_returns) + len(newlines)
        if piece.endswith(b"\r\n") and (len(piece) - 2 - start - width) % step:
            ends += 2  # a shorter last line
        return skipped == ends
    return piece.count(b"\r", start) == len(carriage_returns) and piece.count(
        b"\n", start
    ) == len(newlines)


Payload = "bytes | mimebody.BodyRange"


def _span(payload: Payload) -> tuple[object, int, int]:
    """(buffer, start, end) of a payload: a part's range stays in its buffer."""
    if isinstance(payload, mimebody.BodyRange):
        if not payload.prefix:
            return payload.buffer, payload.start, payload.end
        payload = payload.tobytes()
    return payload, 0, len(payload)


def _pieces(payload: Payload, at_line_ends: bool) -> Iterator[bytes]:
    """The payload in bounded pieces, copied out of its buffer one at a time.

    With at_line_ends (quoted-printable), a piece ends after a line end, or at least
    never inside an "=XX" escape or soft line break.
    """
    buffer, start, stop = _span(payload)
    while start < stop:
        end = min(start + DECODE_CHUNK, stop)
        if at_line_ends and end < stop:
            newline = buffer.rfind(b"\n", start, end)
            if newline > start:
                end = newline + 1
            else:
                escape = buffer.rfind(b"=", max(start, end - 2), end)
                if escape > start:
                    end = escape
        yield buffer[start:end]
        start = end


def _uudecode_line(line: bytes) -> tuple[bytes, bool]:
    """One uuencoded line; returns (bytes, clean). Trailing junk is cut as uu.py did."""
    try:
        return binascii.a2b_uu(line), True
    except binascii.Error:
        length = (((line[0] - 32) & 63) * 4 + 5) // 3
        try:
            return binascii.a2b_uu(line[:length]), False
        except binascii.Error:
            return b"", False


def _transfer_decode(payload: Payload, encoding: str, warn: Warn) -> bytes:
    """The payload's bytes after transfer decoding; problems are warnings."""
    return b"".join(_decoded_pieces(payload, encoding, warn))


def _decoded_pieces(payload: Payload, encoding: str, warn: Warn) -> Iterator[bytes]:
    """Transfer decoding, a piece at a time; the warnings come once it is exhausted."""
    encoding = encoding.strip().lower()
    if encoding in ("", "7bit", "8bit", "binary"):
        yield from _pieces(payload, at_line_ends=False)
        return
    if encoding == "base64" or (
        encoding not in ("quoted-printable",) and "base64" in encoding
    ):
        decoder = _Base64Decoder()
        for piece in _pieces(payload, at_line_ends=False):
            yield decoder.feed(piece)
        yield decoder.close()
        if decoder.invalid:
            warn(f"base64: {decoder.invalid} characters outside the alphabet ignored")
        for problem in decoder.problems:
            warn(f"base64: {problem}")
        if decoder.long_lines:
            warn("base64: lines longer than 76 characters")
        return
    if encoding == "quoted-printable" or "quoted" in encoding:
        bad = 0
        long_lines = False
        for piece in _pieces(payload, at_line_ends=True):
            bad += len(_QP_BAD_ESCAPE.findall(piece))
            long_lines = long_lines or _has_long_line(piece)
            yield binascii.a2b_qp(piece)
        if bad:
            warn(f"quoted-printable: {bad} invalid escape sequences kept as they are")
        if long_lines:
            warn("quoted-printable: lines longer than 76 characters")
        return
    if encoding in ("x-uuencode", "uuencode", "x-uue", "uue"):
        buffer, start, end = _span(payload)
        lines = buffer[start:end].splitlines()
        if lines and lines[0].startswith(b"begin"):
            lines = lines[1:]
        out = []
        dirty = 0
        for line in lines:
            if line.strip() == b"end":
                break
            if not line.strip():
                continue
            data, clean = _uudecode_line(line)
            out.append(data)
            dirty += not clean
        if dirty:
            warn(f"uuencode: {dirty} damaged lines")
        yield b"".join(out)
        return
    warn(f"unknown Content-Transfer-Encoding {encoding!r}; content taken as it is")
    yield from _pieces(payload, at_line_ends=False)


# ---------------------------------------------------------------------------
# Parsing


class _ParseState:
    """What the parser's parts share: the limits and how many parts were made."""

    def __init__(self, base_depth: int, max_depth: int, shortcut: bool = True) -> None:
        self.base_depth = base_depth
        self.max_depth = max_depth
        self.parts = 0
        self.shortcut = shortcut  # _registry_text; off for the reference engine


_TOKEN = r"[!#$%&+.^_`{|}~0-9A-Za-z-]+"  # RFC 2045 token chars but * and '
_PARAM = re.compile(
    rf'[ \t]*([A-Za-z0-9._-]+)[ \t]*=[ \t]*(?:({_TOKEN})|"([ !#-\[\]-~]*)")[ \t]*'
)
_PARAMS = rf"(?:;{_PARAM.pattern})*(?:;[ \t]*)?"
# Header values whose text the email package's registry gives in a simple way:
# tokens, parameters with plain (or plainly quoted) values; no comments, escapes,
# RFC 2231, encoded-words or repeated parameters.
_SIMPLE_HEADERS = {
    "content-type": re.compile(rf"{_TOKEN}/{_TOKEN}[ \t]*{_PARAMS}\Z"),
    "content-disposition": re.compile(rf"{_TOKEN}[ \t]*{_PARAMS}\Z"),
    "content-transfer-encoding": re.compile(rf"{_TOKEN}[ \t]*\Z"),
}
_LINESEP = re.compile(r"\n|\r")  # policy.default's linesep_splitter


def _registry_text(name: str, value: str) -> Optional[str]:
    """What ``str()`` of policy.default's parsed header is, for simple values.

    The registry parses a header value into a tree and gives it back as text with
    each parameter rewritten as ``; name="value"``. Every use of the three MIME
    headers reads them as that text, and the parse is the costliest step of a
    decode, so simple values are rewritten here the same way (the equivalence is
    tested with hypothesis); None for anything else.
    """
    pattern = _SIMPLE_HEADERS.get(name)
    if pattern is None or "=?" in value or not pattern.match(value):
        return None
    head, semicolon, rest = value.partition(";")
    if not semicolon:
        return head
    found = _PARAM.findall(rest)
    if len({key.lower() for key, _, _ in found}) != len(found):
        return None  # the registry merges repeated parameters its own way
    params = [
        f'{key}="{token or quoted}"' if token or quoted else key
        for key, token, quoted in found
    ]
    return head + ";" + (" " + "; ".join(params) if params else "")


class _Part(email.message.EmailMessage):
    """A parsed part that never lets one malformed header stop the parse.

    While the tree is built, message/* parts and parts nested too deeply claim to be
    plain data, so the parser keeps their bytes exactly instead of recursing (we
    parse embedded messages ourselves, with our limits).
    """

    def __init__(self, policy: email.policy.Policy | None = None) -> None:
        super().__init__(policy)
        self.malformed_headers: list[str] = []
        self.depth = 0
        self.too_deep = False
        self.state: Optional[_ParseState] = None
        self._type_memo: Optional[tuple[Optional[str], str]] = None
        self._separator_memo: Optional[tuple[Optional[str], Optional[str]]] = None
        self.junk_close_lines: list[str] = []
        self.cut_by_limit = False  # parsing stopped inside it at the part limit
        self.body: Optional[mimebody.BodyRange] = None  # the fast splitter's payload
        self._get_memo: dict[str, tuple] = {}

    def attach(self, payload: "_Part") -> None:  # called by the parser for each child
        if isinstance(payload, _Part):
            payload.depth = self.depth + 1
            if self.state and payload.depth > self.state.max_depth:
                payload.too_deep = True
        super().attach(payload)

    def get(self, name, failobj=None):  # noqa: D102 - email.message API
        """The header, parsed once: policy.default parses it again on every get.

        The memo is keyed by the raw (name, value) pair itself, so a changed header
        is parsed afresh.
        """
        wanted = name.lower()
        for key, value in self._headers:
            if key.lower() == wanted:
                break
        else:
            return failobj
        memo = self._get_memo.get(wanted)
        if memo is not None and memo[0] is key and memo[1] is value:
            return memo[2]
        shortcut = self.state is None or self.state.shortcut
        if shortcut and wanted in _SIMPLE_HEADERS and isinstance(value, str):
            text = _registry_text(wanted, "".join(_LINESEP.split(value)))
            if text is not None:
                self._get_memo[wanted] = (key, value, text)
                return text
        try:
            parsed = self.policy.header_fetch_parse(key, value)
        except Exception as error:  # policy.default raises on some malformed headers
            note = f"{name} ({type(error).__name__})"
            if note not in self.malformed_headers:
                self.malformed_headers.append(note)
            parsed = _raw_header(self, name)
        self._get_memo[wanted] = (key, value, parsed)
        return parsed

    def get_content_type(self) -> str:  # noqa: D102 - what the parser sees
        ctype = self.declared_type()
        if self.too_deep or ctype.startswith("message/"):
            return "application/octet-stream"
        return ctype

    def declared_type(self) -> str:
        """The type from the Content-Type header (or the default), lower case.

        Memoised per raw header value: the parser asks many times per part, and
        policy.default's header parsing is the costliest step of the whole decode.
        """
        raw = _raw_header(self, "content-type")
        if self._type_memo is None or self._type_memo[0] != raw:
            self._type_memo = (raw, super().get_content_type())
        return self._type_memo[1]

    def separator(self) -> Optional[str]:
        """``"--" + boundary`` while the parser treats this part as a multipart."""
        if self.get_content_maintype() != "multipart":
            return None
        raw = _raw_header(self, "content-type")
        if self._separator_memo is None or self._separator_memo[0] != raw:
            boundary = self.get_boundary()
            self._separator_memo = (raw, None if boundary is None else "--" + boundary)
        return self._separator_memo[1]


class _DelimiterInput(email.feedparser.BufferedSubFile):
    """The parser's line buffer, reading a close delimiter with trailing junk.

    ``--boundary---`` (seen in real spam) does not match the stdlib's strict
    delimiter pattern, so the line and all after it became the last part's body and
    the boundary's letters were base64-decoded into an attachment. Mail clients take
    a line that starts with the close delimiter as the close delimiter; so do we, by
    handing the parser the plain ``--boundary--`` line (the .eml keeps the bytes as
    sent). A delimiter followed by other text (``--boundary-x``) is left alone: it may
    be a nested part's longer boundary.
    """

    def __init__(self, parser: email.feedparser.FeedParser) -> None:
        super().__init__()
        self._parser = parser

    def readline(self):  # noqa: D102 - BufferedSubFile API
        lines = self._lines  # the stdlib's deque of complete lines
        # Only a line with a second "--" can be a close delimiter: a plain
        # delimiter line costs nothing, whatever the depth of the stack.
        if lines and lines[0].startswith("--") and lines[0].find("--", 3) > 0:
            lines[0] = self._repaired(lines[0])
        return super().readline()

    def _repaired(self, line: str) -> str:
        for part in reversed(self._parser._msgstack):
            separator = part.separator() if isinstance(part, _Part) else None
            if not separator or not line.startswith(separator + "--"):
                continue
            body = line.rstrip("\r\n")
            rest = body[len(separator) + 2 :]
            if not rest.strip(" \t"):
                return line  # a proper close delimiter
            part.junk_close_lines.append(body)
            return separator + "--" + line[len(body) :]
        return line


def _raw_header(part: email.message.Message, name: str) -> Optional[str]:
    wanted = name.lower()
    for key, value in part._headers:  # raw_items() copies the list on every call
        if key.lower() == wanted:
            return _unfold(value) if isinstance(value, str) else str(value)
    return None


def _undecoded(part: _Part) -> bytes:
    """A leaf's payload before transfer decoding, from either engine."""
    if part.body is not None:
        return part.body.tobytes()
    # get_payload() would re-decode 8-bit text with replacement characters; the
    # undecoded form is only reachable as _payload.
    payload = part._payload
    if not isinstance(payload, str):  # not expected from our parser; be safe
        return part.as_bytes(policy=email.policy.compat32)
    return _str_to_bytes(payload)


def _body_buffer(
    source: BinaryIO, start: Optional[int], consumed: int, tail: bytes
) -> tuple[object, int]:
    """The message as a buffer, and the buffer position of the message's first byte.

    The body starts with ``tail``, what the header parser read past the headers, and
    goes on at ``consumed`` bytes from the message's start. A message in a file is
    mapped, not read: the splitter finds boundaries in the mapping and only the
    parts' own bytes are copied out. Anything else is read.
    """
    fileobj = source
    if getattr(source, "_rolled", False):  # a SpooledTemporaryFile gone to disk
        fileobj = source._file  # type: ignore[attr-defined]
    mappable = (io.BufferedReader, io.BufferedRandom, io.FileIO)
    if start is not None and isinstance(fileobj, mappable):
        end = start + consumed
        try:
            mapped = mmap.mmap(fileobj.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # not mappable (a pipe, an empty file)
            pass
        else:
            if end - len(tail) >= start and mapped[end - len(tail) : end] == tail:
                return mapped, start
            mapped.close()
    return tail + source.read(), len(tail) - consumed


ENGINES = ("fast", "email")
_HEADER_LINE = re.compile(rb"^(From |[\041-\071\073-\176]*:|[\t ])")


class _Analyser:
    """One message's decoding: the limits, the counters and the MimeInfo filled in."""

    def __init__(
        self,
        max_depth: int,
        max_parts: int,
        max_header_bytes: int,
        keep_payloads: bool,
        engine: str = "fast",
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown MIME engine {engine!r}; use one of {ENGINES}")
        self.engine = engine
        self.mapped: list[mmap.mmap] = []  # messages mapped by the fast engine
        self.max_depth = max_depth
        self.max_parts = max_parts
        self.max_header_bytes = max_header_bytes
        self.keep_payloads = keep_payloads
        self.info = MimeInfo()
        self.parts_seen = 0
        self.part_limit_warned = False

    def warn(self, where: str, text: str) -> None:
        self.info.warnings.append(f"{where}: {text}")

    # -- parsing ----------------------------------------------------------

    def parse(self, source: BinaryIO, where: str, base_depth: int) -> Optional[_Part]:
        if self.engine == "fast":
            return self.parse_fast(source, where, base_depth)
        return self.parse_email(source, where, base_depth)

    def _factory(self, state: _ParseState) -> Callable[..., _Part]:
        def factory(policy: email.policy.Policy | None = None) -> _Part:
            part = _Part(policy or email.policy.default)
            part.state = state
            part.depth = state.base_depth
            state.parts += 1
            return part

        return factory

    def parse_fast(
        self, source: BinaryIO, where: str, base_depth: int
    ) -> Optional[_Part]:
        """Headers by the email package, the body by mimebody's splitter."""
        try:
            start = source.tell()
        except (OSError, ValueError):
            start = None
        budget = max(self.max_parts - self.parts_seen, 1)
        stop = None
        entry = len(self.info.warnings)
        while True:
            state = _ParseState(base_depth, self.max_depth)
            factory = self._factory(state)
            parser = email.parser.BytesFeedParser(
                _factory=factory, policy=email.policy.default
            )
            parser._set_headersonly()
            offset = 0
            try:
                said = len(self.info.warnings)
                offset = self._feed_headers(source, parser, where)
                if stop is not None:  # the second pass: its warnings are said
                    del self.info.warnings[said:]
                root = parser.close()
                tail = _str_to_bytes(root._payload or "")
                buffer, shift = _body_buffer(source, start, offset, tail)
                if isinstance(buffer, mmap.mmap):
                    self.mapped.append(buffer)
                splitter = mimebody.Splitter(
                    buffer,
                    len(buffer) if stop is None else stop,
                    lambda: factory(email.policy.default),
                    offset + shift,  # where the stdlib's chunked feed began
                    FEED_CHUNK,
                    budget if stop is None and start is not None else None,
                    None if stop is None else mimebody.last_line_start(buffer, stop),
                )
                try:
                    splitter.split(root, b"", offset + shift - len(tail))
                except mimebody.Truncated as cut:
                    if stop is not None:
                        raise
                    stop = cut.end
                    self.warn(
                        where,
                        f"offset 0x{cut.end - shift:x}: more than "
                        f"{self.max_parts} parts; the rest of the message was not "
                        "parsed",
                    )
                    source.seek(start)
                    continue
                return root
            except Exception as error:
                # A RecursionError (an absurd max_depth) defeats the email package
                # too; anything else is a fault of ours, and the reference parser
                # must not lose the parts because of it.
                if isinstance(error, RecursionError) or start is None:
                    self.warn(
                        where,
                        f"offset 0x{offset:x}: MIME parser failed "
                        f"({type(error).__name__}: {error}); only the headers were "
                        "decoded",
                    )
                    break
                del self.info.warnings[entry:]
                self.warn(
                    where,
                    f"MIME splitter failed ({type(error).__name__}: {error}); "
                    "decoded by the email package instead",
                )
                source.seek(start)
                return self.parse_email(source, where, base_depth)
        return self._headers_only(source, start, where)

    def _headers_only(
        self, source: BinaryIO, start: Optional[int], where: str
    ) -> Optional[_Part]:
        if start is None:
            return None
        try:
            source.seek(start)
            headers_only = email.parser.BytesParser(
                _class=_Part, policy=email.policy.default
            ).parse(source, headersonly=True)
            return headers_only
        except Exception as error:
            self.warn(where, f"headers unreadable ({type(error).__name__}: {error})")
            return None

    def parse_email(
        self, source: BinaryIO, where: str, base_depth: int
    ) -> Optional[_Part]:
        """The whole parse by the email package's feed parser (the reference)."""
        state = _ParseState(base_depth, self.max_depth, shortcut=False)
        factory = self._factory(state)
        parser = email.parser.BytesFeedParser(
            _factory=factory, policy=email.policy.default
        )
        parser._input = _DelimiterInput(parser)  # before the first byte is fed
        state.parts = 0
        budget = max(self.max_parts - self.parts_seen, 1)
        offset = 0
        try:
            start = source.tell()
        except (OSError, ValueError):
            start = None
        try:
            offset = self._feed_headers(source, parser, where)
            while True:
                chunk = source.read(FEED_CHUNK)
                if not chunk:
                    break
                if state.parts > budget:
                    self.warn(
                        where,
                        f"offset 0x{offset:x}: more than {self.max_parts} parts; "
                        "the rest of the message was not parsed",
                    )
                    for open_part in parser._msgstack:  # cut here, not unclosed
                        if isinstance(open_part, _Part):
                            open_part.cut_by_limit = True
                    break
                parser.feed(chunk)
                offset += len(chunk)
            return parser.close()
        except Exception as error:  # e.g. RecursionError with an absurd max_depth
            self.warn(
                where,
                f"offset 0x{offset:x}: MIME parser failed ({type(error).__name__}: "
                f"{error}); only the headers were decoded",
            )
        return self._headers_only(source, start, where)

    def _feed_headers(
        self, source: BinaryIO, parser: email.parser.BytesFeedParser, where: str
    ) -> int:
        """Feeds the header section field by field within max_header_bytes.

        A field larger than the whole budget (a 10 MB line) can never fit: it alone
        is skipped and the fields after it are still read. A field that fits the
        budget but not what is left of it ends the section: it and the rest are
        skipped. Either way a warning says so; the .eml keeps every byte.
        """
        limit = self.max_header_bytes
        consumed = fed = 0
        field = bytearray()  # the field being read, while it still fits
        field_start = field_size = 0
        dropped = False  # the field being read no longer fits
        full = False  # the budget is spent: the rest of the section is skipped
        oversized: list[tuple[int, bytes]] = []  # (offset, name) of skipped fields
        oversized_bytes = 0
        at_line_start = True

        def end_field() -> None:
            nonlocal fed, full, oversized_bytes
            if not field_size:
                return
            if not dropped:
                parser.feed(bytes(field))
                fed += field_size
            elif full:
                pass
            elif field_size > limit:
                oversized.append((field_start, bytes(field_name)))
                oversized_bytes += field_size
            else:
                full = True
                self.warn(
                    where,
                    f"offset 0x{field_start:x}: header section larger than "
                    f"{limit} bytes; the rest of it was skipped",
                )

        field_name = b""
        while True:
            line = source.readline(64 * 1024)
            if at_line_start and (not line or not _HEADER_LINE.match(line)):
                end_field()
                if line:
                    parser.feed(line)  # blank line, or a body with no separator
                consumed += len(line)
                break
            if at_line_start and line[:1] not in b" \t":  # a new field starts
                end_field()
                field.clear()
                field_start, field_size = consumed, 0
                field_name = line.split(b":", 1)[0][:100].rstrip(b"\r\n")
                dropped = full
            consumed += len(line)
            field_size += len(line)
            if not dropped and fed + field_size > limit:
                dropped = True
                field.clear()
            if not dropped:
                field += line
            at_line_start = line.endswith(b"\n")
            if not line:
                end_field()
                break
        if oversized:
            offset, name = oversized[0]
            shown = name.decode("ascii", "backslashreplace")
            self.warn(
                where,
                f"offset 0x{offset:x}: {len(oversized)} header field(s) larger than "
                f"the {limit} bytes allowed for the header section skipped "
                f"({oversized_bytes} bytes), the first {shown!r}",
            )
        return consumed

    # -- headers ----------------------------------------------------------

    def read_headers(self, root: _Part) -> None:
        info = self.info
        found: dict[str, list[str]] = {}
        for name, value in root.raw_items():
            found.setdefault(name.strip().lower(), []).append(value)

        def warn(text: str) -> None:
            self.warn("message", text)

        def first(*names: str) -> Optional[str]:
            for name in names:
                if name in found:
                    return _decode_header(found[name][0], warn).strip()
            return None

        def joined(name: str) -> Optional[str]:
            if name not in found:
                return None
            return ", ".join(
                _decode_header(value, warn).strip() for value in found[name]
            )

        info.subject = first("subject")
        info.from_ = joined("from")
        info.to = joined("to")
        info.cc = joined("cc")
        info.bcc = joined("bcc")
        info.reply_to = joined("reply-to")
        info.sender = first("sender")
        info.date = first("date")
        info.message_id = first("message-id")
        info.in_reply_to = first("in-reply-to")
        info.references = first("references")
        info.x_mailer = first("x-mailer", "user-agent")
        info.return_path = first("return-path")
        originating = first("x-originating-ip")
        info.x_originating_ip = originating.strip("[] ") if originating else None
        info.received = [
            " ".join(_decode_header(value, warn).split())
            for value in found.get("received", [])
        ]
        for name in ("subject", "date", "from", "message-id"):
            if len(found.get(name, [])) > 1:
                warn(f"{len(found[name])} {name} headers; the first is used")
        if info.date is not None:
            info.date_ns = _date_ns(info.date)
            if info.date_ns is None:
                warn(f"Date header {info.date!r} is not a date")

    # -- walking ----------------------------------------------------------

    def walk_message(self, root: _Part, base: str) -> None:
        if root.is_multipart():
            self.walk(root, base)
        else:
            self.walk(root, f"{base}.1" if base else "1")

    def walk(self, part: _Part, label: str) -> None:
        where = f"part {label}" if label else "message"
        if part.too_deep or part.depth > self.max_depth:
            self.warn(where, f"nested deeper than {self.max_depth} levels; not decoded")
            return
        if self.parts_seen >= self.max_parts:
            if not self.part_limit_warned:
                self.warn(where, f"part limit ({self.max_parts}) reached; not decoded")
                self.part_limit_warned = True
            return
        self.parts_seen += 1
        self._report_defects(part, where)
        if part.is_multipart():
            for index, child in enumerate(part.get_payload(), 1):
                self.walk(child, f"{label}.{index}" if label else str(index))
            return
        try:
            self.leaf(part, label or "1", where)
        except Exception as error:  # one broken part must not lose the others
            self.warn(where, f"not decoded ({type(error).__name__}: {error})")

    def _report_defects(self, part: _Part, where: str) -> None:
        for line in part.junk_close_lines[:1]:
            shown = line[:100].encode("utf-8", "surrogateescape")
            self.warn(
                where,
                f"close delimiter with trailing text {shown.decode('ascii', 'backslashreplace')!r}"
                " taken as the close delimiter",
            )
        for defect in part.defects:
            if part.cut_by_limit and isinstance(
                defect, email.errors.CloseBoundaryNotFoundDefect
            ):
                continue  # its close delimiter lies in what was not parsed
            detail = str(defect)
            name = type(defect).__name__
            self.warn(where, f"{name}: {detail}" if detail else name)
        for header in part.malformed_headers:
            self.warn(where, f"malformed header {header}; read with compat32 rules")
        size = sum(len(name) + len(value) + 4 for name, value in part.raw_items())
        if size > self.max_header_bytes:
            self.warn(where, f"headers take {size} bytes, over {self.max_header_bytes}")

    def leaf(self, part: _Part, label: str, where: str) -> None:
        def warn(text: str) -> None:
            self.warn(where, text)

        ctype = part.declared_type()
        type_params = _parse_params(_raw_header(part, "content-type"), warn)
        disposition_params = _parse_params(
            _raw_header(part, "content-disposition"), warn
        )
        disposition = part.get_content_disposition()
        filename = (
            disposition_params.get("filename")
            or type_params.get("name")
            or disposition_params.get("name")
            or type_params.get("filename")
            or None
        )
        content_id = _raw_header(part, "content-id")
        if content_id is not None:
            content_id = _decode_header(content_id).strip().strip("<>").strip() or None
        encoding = _raw_header(part, "content-transfer-encoding") or ""

        raw = part.body if part.body is not None else _undecoded(part)
        part.set_payload("")  # the decoded copy is all we need from here on
        part.body = None
        pieces = _decoded_pieces(raw, encoding, warn)

        maintype, _, subtype = ctype.partition("/")
        embedded = maintype == "message" and subtype in ("rfc822", "global", "news")
        is_body = (
            ctype in ("text/plain", "text/html")
            and disposition != "attachment"
            and filename is None
        )
        is_tnef = ctype in ("application/ms-tnef", "application/vnd.ms-tnef") or (
            (filename or "").strip().lower() == "winmail.dat"
        )
        inline = disposition == "inline" or (
            disposition is None and content_id is not None
        )
        if not (embedded or is_body or is_tnef or self.keep_payloads):
            # Only the hashes are kept: decode straight into them, a piece at a time.
            self.add_attachment(pieces, filename, ctype, inline, content_id)
            return
        data = b"".join(pieces)
        del raw, pieces
        if embedded:
            self.embedded_message(part, data, filename, label, where)
            return
        if is_body:
            declared = type_params.get("charset")
            text, used = _decode_text(data, declared, warn)
            self.info.bodies.append(
                TextBody(
                    content_type=ctype,
                    declared_charset=declared,
                    used_charset=used,
                    text=text.replace("\r\n", "\n"),
                )
            )
            if ctype == "text/plain":
                self.uuencoded(data, where)
            return
        self.add_attachment(data, filename, ctype, inline, content_id)
        if is_tnef:
            self.tnef(data, where)

    def add_attachment(
        self,
        data: bytes | Iterator[bytes],
        filename: Optional[str],
        content_type: str,
        inline: bool,
        content_id: Optional[str],
    ) -> None:
        """Records an attachment: its bytes, or pieces of them hashed as they come."""
        md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
        head = b""
        size = 0
        for piece in (data,) if isinstance(data, bytes) else data:
            md5.update(piece)
            sha1.update(piece)
            sha256.update(piece)
            size += len(piece)
            if len(head) < MAGIC_BYTES:
                head += piece[: MAGIC_BYTES - len(head)]
        keep = self.keep_payloads and isinstance(data, bytes)
        self.info.attachments.append(
            Attachment(
                filename=filename,
                content_type=content_type,
                detected_type=detect_type(head),
                size=size,
                md5=md5.hexdigest(),
                sha1=sha1.hexdigest(),
                sha256=sha256.hexdigest(),
                inline=inline,
                content_id=content_id,
                payload=data if keep else None,
            )
        )

    def embedded_message(
        self, part: _Part, data: bytes, filename: Optional[str], label: str, where: str
    ) -> None:
        inner = self.parse(io.BytesIO(data), where, base_depth=part.depth + 1)
        if filename is None and inner is not None:
            subject = _raw_header(inner, "subject")
            if subject is not None:
                subject = _decode_header(subject).strip()
            filename = f"{subject}.eml" if subject else None
        self.add_attachment(
            data,
            filename or "message.eml",
            part.declared_type(),
            inline=False,
            content_id=None,
        )
        if inner is not None:
            self.walk_message(inner, label)

    def uuencoded(self, data: bytes, where: str) -> None:
        if b"begin" not in data:
            return
        position = 0
        while True:
            match = _UU_BEGIN.search(data, position)
            if not match:
                return
            name = _decode_header(match.group(1).strip()) or None
            cursor = match.end() + 1
            out = []
            dirty = 0
            ended = False
            while cursor < len(data):
                newline = data.find(b"\n", cursor)
                line_end = len(data) if newline < 0 else newline
                line = data[cursor:line_end].rstrip(b"\r")
                cursor = line_end + 1
                if line.strip() == b"end":
                    ended = True
                    break
                if not line:
                    continue
                decoded, clean = _uudecode_line(line)
                out.append(decoded)
                dirty += not clean
            position = cursor
            if not ended:
                self.warn(where, f"uuencoded {name!r} has no 'end' line")
            if dirty:
                self.warn(where, f"uuencoded {name!r}: {dirty} damaged lines")
            guessed = mimetypes.guess_type(name or "")[0] or "application/octet-stream"
            self.add_attachment(b"".join(out), name, guessed, False, None)

    def tnef(self, data: bytes, where: str) -> None:
        try:
            import tnefparse
        except ImportError:
            self.warn(where, "TNEF not unpacked: tnefparse is not installed")
            return
        try:
            parsed = tnefparse.TNEF(data, do_checksum=False)
        except Exception as error:
            self.warn(where, f"TNEF unreadable ({type(error).__name__}: {error})")
            return
        for item in parsed.attachments:
            try:
                name = item.long_filename()
            except Exception:  # names in a codepage tnefparse cannot decode
                name = getattr(item, "_name", None)
            if isinstance(name, bytes):
                name = _decode_text(name.rstrip(b"\x00"), parsed.codepage)[0]
            name = (name or "").strip("\x00").strip() or None
            payload = item.data if isinstance(item.data, bytes) else b""
            guessed = mimetypes.guess_type(name or "")[0] or "application/octet-stream"
            self.add_attachment(payload, name, guessed, False, None)


_UU_BEGIN = re.compile(rb"^begin[ \t]+[0-7]{3,4}[ \t]+([^\r\n]*?)[ \t]*\r?$", re.M)

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _date_ns(value: str) -> Optional[int]:
    """The Date header as UTC nanoseconds; a date without a zone is taken as UTC."""
    candidates = [value, re.sub(r"\([^)]*\)", "", value).strip()]
    for candidate in candidates:
        try:
            moment = email.utils.parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if moment is None:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        try:
            delta = moment - _EPOCH
            moment.astimezone(datetime.timezone.utc)  # a date past year 9999 fails here
        except (OverflowError, ValueError):
            continue
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + (
            delta.microseconds * 1_000
        )
    return None


# Largest message whose parts are decoded (the stdlib parser holds it all in memory).
MAX_MESSAGE_BYTES = 128 * 2**20


def _header_section(source: BinaryIO, limit: int) -> BinaryIO:
    """The header section alone, up to its blank line, as a file of its own."""
    head = bytearray()
    while len(head) <= limit:
        line = source.readline(64 * 1024)
        head += line
        if not line or line in (b"\r\n", b"\n"):
            break
    return io.BytesIO(bytes(head))


def analyse(
    source: BinaryIO,
    *,
    max_depth: int = 20,
    max_parts: int = 1000,
    max_header_bytes: int = 1 << 20,
    keep_payloads: bool = True,
    size: Optional[int] = None,
    max_size: int = MAX_MESSAGE_BYTES,
    engine: Optional[str] = None,
) -> MimeInfo:
    """Decodes one message; never raises, problems are listed in ``warnings``.

    Args:
        source: binary file object positioned at the start of the message.
        max_depth: deepest nesting (multiparts and embedded messages) decoded.
        max_parts: most MIME parts decoded, embedded messages included.
        max_header_bytes: largest header section read; the excess is skipped.
        keep_payloads: keep each attachment's decoded bytes in ``payload``.
        size: the message's size, when known.
        max_size: larger messages get their headers decoded, not their parts:
            the parser holds a whole message in memory.
        engine: ``"fast"`` (mimebody's splitter) or ``"email"`` (the stdlib feed
            parser, the reference it is tested against); by default the
            ``SMTPCORE_MIME_ENGINE`` environment variable, else (or when that
            names no engine) ``"fast"``. An unknown ``engine`` is a ValueError.
    """
    chosen = engine or os.environ.get("SMTPCORE_MIME_ENGINE") or "fast"
    if engine is None and chosen not in ENGINES:
        chosen = "fast"  # a mistyped variable must not stop every decode
    analyser = _Analyser(max_depth, max_parts, max_header_bytes, keep_payloads, chosen)
    headers_only = size is not None and size > max_size
    if headers_only:
        source = _header_section(source, max_header_bytes)
        analyser.warn(
            "message",
            f"{size} bytes, more than {max_size}: headers decoded, body parts not "
            "(a limit of decoding, not of extraction)",
        )
    try:
        root = analyser.parse(source, "message", base_depth=0)
        if root is not None:
            analyser.read_headers(root)
            if not headers_only:
                analyser.walk_message(root, "")
    except Exception as error:  # last resort: keep what was decoded so far
        analyser.warn("message", f"decoding stopped ({type(error).__name__}: {error})")
    finally:
        for mapped in analyser.mapped:  # every part is decoded: unmap at once
            mapped.close()
    return analyser.info
