"""Tests for smtpcore.mime: every message here is built in the test from known bytes."""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import io
import quopri
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpcore import mime

CRLF = b"\r\n"


def crlf(text: str | bytes) -> bytes:
    """Message text written with \\n, sent with CRLF as SMTP does."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return data.replace(b"\r\n", b"\n").replace(b"\n", CRLF)


def b64_lines(data: bytes, width: int = 76) -> bytes:
    encoded = base64.b64encode(data)
    return CRLF.join(encoded[i : i + width] for i in range(0, len(encoded), width))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def analyse(message: bytes, **limits) -> mime.MimeInfo:
    return mime.analyse(io.BytesIO(message), **limits)


def simple(headers: str, body: bytes) -> bytes:
    return crlf(headers.strip("\n") + "\n\n") + body


# ---------------------------------------------------------------------------
# The Foxmail message of the reference article, rebuilt with known content

SUBJECT = "邮件test，这是主题：镕喆"  # 镕 and 喆 are GBK, not GB2312
PLAIN = "\r\n邮件测试，这是邮件正文，朱镕基\r\n\r\n\r\n[email protected]\r\n"
HTML = (
    '<html><head><meta http-equiv="content-type" content="text/html; charset=GB2312">'
    "</head><body>\n<div>邮件测试，这是邮件正文：镕"
    '<img src="cid:_Foxmail.1@qq.com" border="0"></div>\n'
    '<div style="MARGIN: 10px; FONT-FAMILY: verdana">[email protected]</div>\n'
    "</body></html>"
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
ZIP = b"PK\x03\x04" + b"\x14\x00" * 20 + bytes(range(200))
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 2 + b"\n%%EOF\n"
ZIP_NAME = "测试附件镕.zip"
PDF_NAME = "中文报告2024年度.pdf"


def gb_word(data: bytes) -> str:
    return "=?GB2312?B?" + base64.b64encode(data).decode() + "?="


def foxmail_message() -> bytes:
    subject = SUBJECT.encode("gb18030")
    # Split inside a two-byte character: the two words only decode joined.
    split = len("邮件test，".encode("gb18030")) + 1
    subject_words = gb_word(subject[:split]) + "\n " + gb_word(subject[split:])
    pdf_quoted = "".join(f"%{byte:02X}" for byte in PDF_NAME.encode("utf-8"))
    html_qp = quopri.encodestring(HTML.encode("gb18030")).decode("ascii")
    text = f"""\
Date: Sat, 26 Oct 2019 15:37:18 +0800
From: "{gb_word('张三'.encode('gb2312'))}" <[email protected]>
To: xxxxx <[email protected]>
Cc: xxxx <[email protected]>
Subject: {subject_words}
X-Priority: 3
X-Has-Attach: yes
X-Mailer: Foxmail 7.2.13.365[cn]
Mime-Version: 1.0
Message-ID: <[email protected]>
Content-Type: multipart/mixed;
\tboundary="----=_001_NextPart166634325136_=----"

This is a multi-part message in MIME format.

------=_001_NextPart166634325136_=----
Content-Type: multipart/related;
\tboundary="----=_002_NextPart418455856474_=----"


------=_002_NextPart418455856474_=----
Content-Type: multipart/alternative;
\tboundary="----=_003_NextPart021017628760_=----"


------=_003_NextPart021017628760_=----
Content-Type: text/plain;
\tcharset="GB2312"
Content-Transfer-Encoding: base64

{b64_lines(PLAIN.encode("gb18030")).decode()}

------=_003_NextPart021017628760_=----
Content-Type: text/html;
\tcharset="GB2312"
Content-Transfer-Encoding: quoted-printable

{html_qp}
------=_003_NextPart021017628760_=------

------=_002_NextPart418455856474_=----
Content-Type: image/png;
\tname="InsertPic_33AB.png"
Content-Transfer-Encoding: base64
Content-ID: <_Foxmail.1@qq.com>

{b64_lines(PNG).decode()}

------=_002_NextPart418455856474_=------

------=_001_NextPart166634325136_=----
Content-Type: application/octet-stream;
\tname="{gb_word(ZIP_NAME.encode('gb18030'))}"
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
\tfilename="{gb_word(ZIP_NAME.encode('gb18030'))}"

{b64_lines(ZIP).decode()}

------=_001_NextPart166634325136_=----
Content-Type: application/pdf
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
\tfilename*0*=UTF-8''{pdf_quoted[:39]};
\tfilename*1*={pdf_quoted[39:]}

{b64_lines(PDF).decode()}

------=_001_NextPart166634325136_=------
"""
    return crlf(text)


def test_foxmail_headers():
    info = analyse(foxmail_message())
    assert info.subject == SUBJECT
    assert info.from_ == '"张三" <[email protected]>'
    assert info.to == "xxxxx <[email protected]>"
    assert info.cc == "xxxx <[email protected]>"
    assert info.x_mailer == "Foxmail 7.2.13.365[cn]"
    assert info.message_id == "<[email protected]>"
    assert info.date == "Sat, 26 Oct 2019 15:37:18 +0800"
    moment = datetime.datetime(2019, 10, 26, 7, 37, 18, tzinfo=datetime.timezone.utc)
    assert info.date_ns == int(moment.timestamp()) * 1_000_000_000


def test_foxmail_bodies():
    info = analyse(foxmail_message())
    assert [
        (b.content_type, b.declared_charset, b.used_charset) for b in info.bodies
    ] == [
        ("text/plain", "GB2312", "gb18030"),
        ("text/html", "GB2312", "gb18030"),
    ]
    assert info.bodies[0].text == PLAIN.replace("\r\n", "\n")
    assert info.bodies[1].text == HTML


def test_foxmail_attachments():
    info = analyse(foxmail_message())
    got = [
        (
            a.filename,
            a.content_type,
            a.detected_type,
            a.size,
            a.sha256,
            a.inline,
            a.content_id,
        )
        for a in info.attachments
    ]
    assert got == [
        ("InsertPic_33AB.png", "image/png", "image/png", len(PNG), sha256(PNG), True,
         "_Foxmail.1@qq.com"),
        (ZIP_NAME, "application/octet-stream", "application/zip", len(ZIP), sha256(ZIP),
         False, None),
        (PDF_NAME, "application/pdf", "application/pdf", len(PDF), sha256(PDF), False,
         None),
    ]  # fmt: skip
    assert [a.payload for a in info.attachments] == [PNG, ZIP, PDF]
    assert info.attachments[2].md5 == hashlib.md5(PDF).hexdigest()
    assert info.attachments[2].sha1 == hashlib.sha1(PDF).hexdigest()
    assert info.warnings == []


def test_keep_payloads_false_keeps_hashes():
    info = analyse(foxmail_message(), keep_payloads=False)
    assert [a.payload for a in info.attachments] == [None, None, None]
    assert [a.sha256 for a in info.attachments] == [
        sha256(PNG),
        sha256(ZIP),
        sha256(PDF),
    ]


def test_source_read_from_current_position():
    prefix = b"not part of the message"
    source = io.BytesIO(prefix + foxmail_message())
    source.seek(len(prefix))
    assert mime.analyse(source).subject == SUBJECT


# ---------------------------------------------------------------------------
# Charsets


@pytest.mark.parametrize(
    "label, text, encoding, used",
    [
        ("gb2312", "总理朱镕基", "gb18030", "gb18030"),
        ("GBK", "陶喆的歌", "gb18030", "gb18030"),
        ("big5", "佢嘅嘢", "big5hkscs", "big5hkscs"),
        ("ks_c_5601-1987", "똠방각하", "cp949", "cp949"),
        ("iso-8859-1", "“quoted” – café", "cp1252", "cp1252"),
        ("latin1", "“quoted”", "cp1252", "cp1252"),
        ("us-ascii", "“quoted”", "cp1252", "cp1252"),
        ("utf-8", "中文 ✓", "utf-8", "utf-8"),
        ("windows-1251", "Привет", "cp1251", "cp1251"),
    ],
)
def test_body_charset_aliases(label, text, encoding, used):
    message = simple(
        f"Content-Type: text/plain; charset={label}\nContent-Transfer-Encoding: 8bit",
        text.encode(encoding),
    )
    info = analyse(message)
    assert [(b.text, b.declared_charset, b.used_charset) for b in info.bodies] == [
        (text, label, used)
    ]
    assert info.warnings == []


def test_plain_python_codecs_would_fail_on_these():
    # The reason for the aliases: the declared codec rejects what senders really send.
    for text, label, real in [
        ("镕", "gb2312", "gb18030"),
        ("嘅", "big5", "big5hkscs"),
        ("똠", "ks_c_5601-1987", "cp949"),
    ]:
        with pytest.raises(UnicodeDecodeError):
            text.encode(real).decode(label)
        assert mime.decode_text(text.encode(real), label) == (text, real)


def test_unknown_charset_falls_back_with_warning():
    info = analyse(
        simple("Content-Type: text/plain; charset=x-martian", "naïve".encode())
    )
    assert [(b.text, b.used_charset) for b in info.bodies] == [("naïve", "utf-8")]
    assert info.warnings == ["part 1: unknown charset 'x-martian'; decoded as utf-8"]
    info = analyse(simple("Content-Type: text/plain; charset=x-martian", b"na\xefve"))
    assert [(b.text, b.used_charset) for b in info.bodies] == [("naïve", "cp1252")]


def test_decode_text_rules():
    assert mime.decode_text(b"plain", None) == ("plain", "ascii")
    assert mime.decode_text("中文".encode(), None) == ("中文", "utf-8")
    assert mime.decode_text("中文主题".encode("gbk"), None) == ("中文主题", "gb18030")
    assert mime.decode_text("Müller".encode("cp1252"), None) == ("Müller", "cp1252")
    # cp1252 leaves 0x81 undefined: it is kept as its Latin-1 character.
    assert mime.decode_text(b"a\x81b\x93", "iso-8859-1") == ("a\x81b“", "cp1252")
    assert mime.decode_text(b"abc", "iso-8859-1") == ("abc", "iso8859-1")
    assert mime.decode_text("中文".encode(), "us-ascii") == ("中文", "utf-8")
    # A declared single-byte charset is believed, as clients do: no UTF-8 guess.
    assert mime.decode_text("ü".encode(), "windows-1252") == ("Ã¼", "cp1252")
    assert mime.decode_text("ü".encode(), "koi8-r") == ("ц╪", "koi8-r")
    # A multibyte label whose codec rejects the bytes: valid UTF-8 wins, with a warning.
    warnings: list[str] = []
    assert mime._decode_text("ü ✓".encode(), "shift_jis", warnings.append) == (
        "ü ✓",
        "utf-8",
    )
    assert warnings == [
        "text labelled 'shift_jis' is not valid cp932; decoded as utf-8"
    ]
    assert mime.decode_text(b"\xef\xbb\xbfbom", "utf-8") == ("bom", "utf-8")
    assert mime.decode_text(b"\xff\xfeok", "utf-8") == ("\ufffd\ufffdok", "utf-8")
    assert mime.decode_text(b"x", "base64") == ("x", "ascii")  # not a text codec


# ---------------------------------------------------------------------------
# Encoded-words and raw 8-bit headers


@pytest.mark.parametrize(
    "raw, decoded",
    [
        ("=?GB2312?B?08q8/nRlc3SjrNXiysfW98zi?=", "邮件test，这是主题"),
        # Adjacent words: the space between them goes, folding too.
        ("=?utf-8?Q?a?= =?utf-8?Q?b?=\r\n\t=?utf-8?Q?c?= d", "abc d"),
        # A UTF-8 character split across two words.
        ("=?utf-8?Q?=E4=B8?= =?utf-8?Q?=AD=E6=96=87?=", "中文"),
        ("=?utf-8?B?5Lit5paH", "中文"),  # no closing ?=
        ("=?utf-8?B?5Lit5paHYQ?=", "中文a"),  # padding missing
        ("=?utf-8?B?5Lit5p!aH?=", "中文"),  # a character outside base64
        ('"=?utf-8?B?5byg5LiJ?=" <z@example.org>', '"张三" <z@example.org>'),
        ("abc=?utf-8?Q?=E4=B8=AD?=def", "abc中def"),
        ("=?gbk?B?" + base64.b64encode("陶喆".encode("gbk")).decode() + "?=", "陶喆"),
        ("=?big5?Q?=9D=EF?=", "嘅"),
        ("=?iso-8859-1?Q?=93hi=94?=", "“hi”"),
        ("=?utf-8*en?Q?lang?=", "lang"),  # RFC 2231 language tag
        ("=?x-unknown-cs?Q?caf=C3=A9?=", "café"),
        ("not =?encoded", "not =?encoded"),
        ("a\r\n b", "a b"),
    ],
)
def test_decode_header_value(raw, decoded):
    assert mime.decode_header_value(raw) == decoded


def test_arkime_style_utf8_q_subject():
    # Mirrors arkime's smtp-subject-utf8-q.pcap: UTF-8 Q words, full-width parentheses.
    subject = (
        "Subject: =?UTF-8?Q?xxxxxx_xxxxxx_xx_xxxxxxxxx_xx-xxxxxxx=EF=BC=88ANA?=\n"
        " =?UTF-8?Q?=EF=BC=89G?=\n"
        " =?UTF-8?Q?GL=5Fxxxxxxxxxxxxx=5Fxxxxxx.zip?="
    )
    info = analyse(simple(subject, b"body\r\n"))
    assert (
        info.subject
        == "xxxxxx xxxxxx xx xxxxxxxxx xx-xxxxxxx（ANA）GGL_xxxxxxxxxxxxx_xxxxxx.zip"
    )


@pytest.mark.parametrize(
    "raw, decoded",
    [
        ("中文主题 ✓".encode(), "中文主题 ✓"),  # SMTPUTF8
        ("中文主题".encode("gbk"), "中文主题"),  # undeclared, as Chinese clients send
        ("Müller café".encode("cp1252"), "Müller café"),
    ],
)
def test_raw_8bit_headers(raw, decoded):
    assert mime.decode_header_value(raw) == decoded
    info = analyse(b"Subject: " + raw + b"\r\n\r\nbody\r\n")
    assert info.subject == decoded


def test_header_fields():
    message = simple(
        """
Received: from a.example by b.example;
\tSat, 26 Oct 2019 15:37:20 +0800
Received: from c.example by a.example; Sat, 26 Oct 2019 15:37:19 +0800
From: a@example.org
To: b@example.org
To: c@example.org
Reply-To: r@example.org
Sender: s@example.org
Bcc: hidden@example.org
In-Reply-To: <parent@example.org>
References: <root@example.org> <parent@example.org>
User-Agent: Mutt/2.2
X-Originating-IP: [192.0.2.7]
Date: Tue, 1 Feb 2022 03:04:05 -0000
""",
        b"hi\r\n",
    )
    info = analyse(message)
    assert info.received == [
        "from a.example by b.example; Sat, 26 Oct 2019 15:37:20 +0800",
        "from c.example by a.example; Sat, 26 Oct 2019 15:37:19 +0800",
    ]
    assert info.to == "b@example.org, c@example.org"
    assert (info.reply_to, info.sender, info.bcc) == (
        "r@example.org",
        "s@example.org",
        "hidden@example.org",
    )
    assert info.in_reply_to == "<parent@example.org>"
    assert info.references == "<root@example.org> <parent@example.org>"
    assert info.x_mailer == "Mutt/2.2"
    assert info.x_originating_ip == "192.0.2.7"
    moment = datetime.datetime(2022, 2, 1, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert info.date_ns == int(moment.timestamp()) * 1_000_000_000


def test_unparsable_date():
    info = analyse(simple("Date: sometime last week", b"x"))
    assert (info.date, info.date_ns) == ("sometime last week", None)
    assert info.warnings == ["message: Date header 'sometime last week' is not a date"]


# ---------------------------------------------------------------------------
# Transfer encodings, tolerant


def part_message(
    cte: str, body: bytes, ctype: str = "application/octet-stream"
) -> bytes:
    return simple(
        f"Content-Type: {ctype}; name=data.bin\nContent-Transfer-Encoding: {cte}", body
    )


def test_base64_with_junk_and_missing_padding():
    data = b"hello, world!"  # 13 bytes: base64 ends in one '='
    encoded = base64.b64encode(data).rstrip(b"=")
    body = encoded[:4] + b"!*" + encoded[4:] + CRLF
    info = analyse(part_message("base64", body))
    assert [a.payload for a in info.attachments] == [data]
    assert info.warnings == [
        "part 1: base64: 2 characters outside the alphabet ignored",
        "part 1: base64: missing base64 padding",
    ]


def test_base64_joined_blocks_and_long_lines():
    first, second = b"first block", b"second block!"
    body = base64.b64encode(first) + base64.b64encode(second) + b"A" * 0 + CRLF
    info = analyse(part_message("base64", body))
    assert [a.payload for a in info.attachments] == [first + second]
    assert info.warnings == [
        "part 1: base64: base64 data continues after padding (joined blocks)"
    ]
    long_line = base64.b64encode(bytes(range(120)))  # 160 characters on one line
    info = analyse(part_message("base64", long_line + CRLF))
    assert [a.payload for a in info.attachments] == [bytes(range(120))]
    assert info.warnings == ["part 1: base64: lines longer than 76 characters"]


def test_base64_truncated_by_one_character():
    body = base64.b64encode(b"abcdef") + b"Q" + CRLF  # a lone trailing character
    info = analyse(part_message("base64", body))
    assert [a.payload for a in info.attachments] == [b"abcdef"]
    assert info.warnings == ["part 1: base64: a stray base64 character was dropped"]


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=400),
    width=st.integers(min_value=4, max_value=120),
    chunk=st.integers(min_value=1, max_value=50),
)
def test_base64_decoder_any_chunking(data, width, chunk):
    encoded = base64.b64encode(data)
    text = b"\r\n".join(encoded[i : i + width] for i in range(0, len(encoded), width))
    original = mime.DECODE_CHUNK
    mime.DECODE_CHUNK = chunk
    try:
        warnings: list[str] = []
        decoded = mime._transfer_decode(text, "base64", warnings.append)
    finally:
        mime.DECODE_CHUNK = original
    assert decoded == data
    assert [w for w in warnings if "76" not in w] == []


def _base64_decoded(pieces, decode):
    decoder = mime._Base64Decoder(decode)
    out = b"".join(decoder.feed(piece) for piece in pieces) + decoder.close()
    return out, decoder.invalid, decoder.problems


_BASE64_HOSTILE = st.lists(
    st.one_of(
        st.binary(max_size=40).map(base64.b64encode),  # padded groups, joined
        st.sampled_from([b"\r\n", b"\n", b"\r", b" ", b"\t", b"=", b"==", b"==="]),
        st.sampled_from([b"!", b"-", b"_", b"\x00", b"\xff", b"\xc3\xa9", b"."]),
        st.text("ABCxyz019+/=", max_size=7).map(str.encode),  # stray, short groups
    ),
    max_size=30,
)


@settings(max_examples=400, deadline=None)
@given(parts=_BASE64_HOSTILE, cuts=st.lists(st.integers(0, 400), max_size=6))
def test_base64_decoder_simd_matches_binascii(parts, cuts):
    """pybase64 decodes the groups by default; binascii is the reference: the same
    bytes, the same count of characters outside the alphabet and the same
    problems, for junk, spacing, bad padding and joined blocks, cut anywhere."""
    text = b"".join(parts)
    bounds = sorted({0, len(text), *(min(cut, len(text)) for cut in cuts)})
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    assert mime.A2B_BASE64 is mime._simd_a2b_base64  # pybase64 is installed
    default = _base64_decoded(pieces, mime.A2B_BASE64)
    reference = _base64_decoded(pieces, binascii.a2b_base64)
    assert default == reference
    unspaced = text.translate(None, b" \t\r\n")
    alphabet = unspaced.translate(None, mime._BASE64_SKIPPED)
    assert default[1] == len(unspaced) - len(alphabet)  # the junk, whole text at once


@settings(max_examples=400, deadline=None)
@given(
    data=st.binary(max_size=600),
    width=st.integers(min_value=1, max_value=80),
    last_eol=st.booleans(),
    inserts=st.lists(
        st.tuples(
            st.integers(0, 900),
            st.sampled_from([b"\r\n", b"\n", b"\r", b" ", b"!", b"A", b"\x00"]),
        ),
        max_size=2,
    ),
    cuts=st.lists(st.integers(0, 900), max_size=4),
)
def test_base64_decoder_line_checks_equal_counting(
    data, width, last_eol, inserts, cuts
):
    """The decoder knows even lines by their line ends alone; counting CRs and LFs
    (``_has_long_line`` of each piece, junk counted over the whole text) is the
    reference: the same long-line verdict and the same junk count."""
    encoded = base64.b64encode(data)
    text = b"\r\n".join(encoded[i : i + width] for i in range(0, len(encoded), width))
    text += b"\r\n" if last_eol else b""
    for position, insert in inserts:
        position = min(position, len(text))
        text = text[:position] + insert + text[position:]
    bounds = sorted({0, len(text), *(min(cut, len(text)) for cut in cuts)})
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    decoder = mime._Base64Decoder()
    for piece in pieces:
        decoder.feed(piece)
    assert decoder.long_lines == any(mime._has_long_line(piece) for piece in pieces)
    unspaced = text.translate(None, b" \t\r\n")
    assert decoder.invalid == len(unspaced) - len(
        unspaced.translate(None, mime._BASE64_SKIPPED)
    )


def test_base64_even_lines_known_without_counting():
    lines = (b"Q" * 76 + b"\r\n") * 40
    for piece in (lines, lines + b"QUJD", lines + b"QUJD\r\n", b"QU\r\n" + lines):
        skipped = len(piece) - len(piece.translate(None, mime._BASE64_SKIPPED))
        assert mime._even_crlf_lines(piece, skipped)
    assert not mime._even_crlf_lines(lines + b"Q" * 77, 80)  # a long last line
    assert not mime._even_crlf_lines(lines[:100] + b"!" + lines[100:], 81)  # junk
    assert not mime._even_crlf_lines(lines[:100] + b"\n" + lines[100:], 81)


def test_base64_decoder_counts_junk_between_line_ends():
    # Junk beside line ends of both kinds: more is dropped than the CRLFs, counted.
    decoder = mime._Base64Decoder()
    assert decoder.feed(b"QUJD!!\r\nREVG\n\n") == b"ABCDEF"
    assert decoder.invalid == 2


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=300),
    newlines=st.booleans(),
    chunk=st.integers(min_value=3, max_value=40),
)
def test_quoted_printable_any_chunking(data, newlines, chunk):
    encoded = binascii.b2a_qp(data, istext=False)
    if not newlines:
        encoded = encoded.replace(b"=\n", b"")  # one long line: no line ends to cut at
    original = mime.DECODE_CHUNK
    mime.DECODE_CHUNK = chunk
    try:
        decoded = mime._transfer_decode(encoded, "quoted-printable", print)
    finally:
        mime.DECODE_CHUNK = original
    assert decoded == data


def test_quoted_printable_bad_escapes_kept():
    body = b"caf=C3=A9 =ZZ 100=\r\n% sure=\r\n"
    info = analyse(part_message("quoted-printable", body, "text/plain; charset=utf-8"))
    assert [b.text for b in info.bodies] == []  # a named part is an attachment
    assert [a.payload for a in info.attachments] == ["café =ZZ 100% sure".encode()]
    assert info.warnings == [
        "part 1: quoted-printable: 1 invalid escape sequences kept as they are"
    ]


def test_quoted_printable_body_split_in_pieces(monkeypatch):
    text = "".join(f"line {n} é\n" for n in range(200))
    body = quopri.encodestring(text.encode()).replace(b"\n", CRLF)
    monkeypatch.setattr(mime, "DECODE_CHUNK", 64)
    info = analyse(
        simple(
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: qUoTeD-PrInTaBlE",
            body,
        )
    )
    assert [b.text for b in info.bodies] == [text]


def test_unknown_transfer_encoding():
    info = analyse(part_message("x-martian", b"raw bytes"))
    assert [a.payload for a in info.attachments] == [b"raw bytes"]
    assert info.warnings == [
        "part 1: unknown Content-Transfer-Encoding 'x-martian'; content taken as it is"
    ]


def test_8bit_body_bytes_survive():
    raw = bytes(range(256)).replace(b"\r", b"").replace(b"\n", b"")
    info = analyse(part_message("binary", raw))
    assert [a.payload for a in info.attachments] == [raw]


# ---------------------------------------------------------------------------
# Structure: embedded messages, uuencode, TNEF


INNER = crlf(f"""\
From: inner@example.org
Subject: {gb_word("内层邮件".encode("gb2312"))}
Content-Type: multipart/mixed; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8

inner body
--inner
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="inner.bin"
Content-Transfer-Encoding: base64

{base64.b64encode(b"inner attachment").decode()}
--inner--
""")


def forwarded(inner_headers: str, inner: bytes) -> bytes:
    return crlf(f"""\
Subject: outer
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain

outer body
--outer
{inner_headers}

""") + inner + crlf("\n--outer--\n")


def test_message_rfc822_is_attachment_and_recursed():
    info = analyse(forwarded("Content-Type: message/rfc822", INNER))
    assert info.subject == "outer"
    assert [b.text for b in info.bodies] == ["outer body", "inner body"]
    got = [(a.filename, a.content_type, a.size, a.sha256) for a in info.attachments]
    assert got == [
        ("内层邮件.eml", "message/rfc822", len(INNER), sha256(INNER)),
        ("inner.bin", "application/octet-stream", 16, sha256(b"inner attachment")),
    ]
    assert info.attachments[0].payload == INNER
    assert info.warnings == []


def test_message_rfc822_base64_and_named():
    headers = (
        "Content-Type: message/rfc822; name=fwd.eml\nContent-Transfer-Encoding: base64"
    )
    info = analyse(forwarded(headers, b64_lines(INNER)))
    assert [(a.filename, a.payload) for a in info.attachments][0] == ("fwd.eml", INNER)
    assert [a.filename for a in info.attachments] == ["fwd.eml", "inner.bin"]
    assert [b.text for b in info.bodies] == ["outer body", "inner body"]


def test_message_rfc822_without_subject():
    inner = crlf("From: x@example.org\n\nshort\n")
    info = analyse(forwarded("Content-Type: message/rfc822", inner))
    assert [(a.filename, a.payload) for a in info.attachments] == [
        ("message.eml", inner)
    ]
    assert [b.text for b in info.bodies] == ["outer body", "short\n"]


def test_multipart_digest_default_type():
    inner = crlf("Subject: in digest\n\ndigest body\n")
    message = (
        crlf('Content-Type: multipart/digest; boundary="d"\n\n--d\n\n')
        + inner
        + crlf("--d--\n")
    )
    info = analyse(message)
    assert [(a.filename, a.content_type) for a in info.attachments] == [
        ("in digest.eml", "message/rfc822")
    ]
    # The line end before a boundary belongs to the boundary (RFC 2046 5.1.1).
    assert [b.text for b in info.bodies] == ["digest body"]


def uuencode(name: str, data: bytes) -> bytes:
    lines = [f"begin 644 {name}".encode()]
    lines += [
        binascii.b2a_uu(data[i : i + 45]).rstrip(b"\n") for i in range(0, len(data), 45)
    ]
    lines += [b"`", b"end"]
    return CRLF.join(lines) + CRLF


def test_uuencoded_block_in_text_body():
    payload = bytes(range(256)) * 2
    body = (
        b"See the file below.\r\n\r\n" + uuencode("photo.jpg", payload) + b"\r\nBye\r\n"
    )
    info = analyse(simple("Content-Type: text/plain", body))
    assert len(info.bodies) == 1
    got = [(a.filename, a.content_type, a.size, a.sha256) for a in info.attachments]
    assert got == [("photo.jpg", "image/jpeg", len(payload), sha256(payload))]


def test_uuencoded_damaged_and_unterminated():
    payload = b"0123456789" * 9
    block = uuencode("x.bin", payload).replace(b"\r\n`\r\nend\r\n", b"\r\n")
    lines = block.split(CRLF)
    lines[1] = lines[1] + b"!!junk"  # extra characters after a full line
    info = analyse(simple("Content-Type: text/plain", CRLF.join(lines)))
    assert [a.payload for a in info.attachments] == [payload]
    assert info.warnings == [
        "part 1: uuencoded 'x.bin' has no 'end' line",
        "part 1: uuencoded 'x.bin': 1 damaged lines",
    ]


def test_x_uuencode_transfer_encoding():
    payload = b"uu transfer encoding"
    info = analyse(part_message("x-uuencode", uuencode("data.bin", payload)))
    assert [a.payload for a in info.attachments] == [payload]


def tnef_attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return (
        struct.pack("<BHHI", level, name, kind, len(data))
        + data
        + struct.pack("<H", checksum)
    )


def tnef_blob(files: list[tuple[bytes, bytes]]) -> bytes:
    """A minimal TNEF stream (MS-OXTNEF): version, OEM code page, then each file."""
    blob = struct.pack("<IH", 0x223E9F78, 0x0001)
    blob += tnef_attribute(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))
    blob += tnef_attribute(1, 0x9007, 0x0006, struct.pack("<II", 1252, 0))
    for name, data in files:
        blob += tnef_attribute(2, 0x9002, 0x0006, b"\x01\x00" + b"\xff" * 12)
        blob += tnef_attribute(2, 0x8010, 0x0001, name + b"\x00")
        blob += tnef_attribute(2, 0x800F, 0x0006, data)
    return blob


def test_tnef_winmail_dat_unpacked():
    report = b"quarterly numbers\r\n" * 10
    resume = b"%PDF-1.5 resume"
    blob = tnef_blob([(b"report.txt", report), ("résumé.pdf".encode("cp1252"), resume)])
    message = simple(
        "Content-Type: application/ms-tnef; name=winmail.dat\n"
        "Content-Disposition: attachment; filename=winmail.dat\n"
        "Content-Transfer-Encoding: base64",
        b64_lines(blob),
    )
    info = analyse(message)
    got = [(a.filename, a.content_type, a.size, a.sha256) for a in info.attachments]
    assert got == [
        ("winmail.dat", "application/ms-tnef", len(blob), sha256(blob)),
        ("report.txt", "text/plain", len(report), sha256(report)),
        ("résumé.pdf", "application/pdf", len(resume), sha256(resume)),
    ]
    assert info.attachments[2].detected_type == "application/pdf"


def test_broken_tnef_keeps_winmail_dat():
    info = analyse(part_message("binary", b"not tnef", "application/ms-tnef"))
    assert [a.filename for a in info.attachments] == ["data.bin"]
    assert info.warnings[0].startswith("part 1: TNEF unreadable (ValueError")


# ---------------------------------------------------------------------------
# Classification of parts


def test_attachment_rules():
    message = crlf("""\
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain; charset=us-ascii

shown
--b
Content-Type: text/plain
Content-Disposition: attachment

a text attachment
--b
Content-Type: text/html; name="page.html"

<p>named</p>
--b
Content-Type: text/calendar

BEGIN:VCALENDAR
--b
Content-Type: image/gif
Content-Disposition: inline
Content-ID: < logo@x >

GIF89a
--b
Content-Type: image/gif
Content-Disposition: attachment; filename=a.gif
Content-ID: <a@x>

GIF87a
--b--
""")
    info = analyse(message)
    assert [b.text for b in info.bodies] == ["shown"]
    got = [
        (a.filename, a.content_type, a.inline, a.content_id) for a in info.attachments
    ]
    assert got == [
        (None, "text/plain", False, None),
        ("page.html", "text/html", False, None),
        (None, "text/calendar", False, None),
        (None, "image/gif", True, "logo@x"),
        ("a.gif", "image/gif", False, "a@x"),
    ]
    assert [a.detected_type for a in info.attachments] == [
        "text/plain", "text/plain", "text/plain", "image/gif", "image/gif",
    ]  # fmt: skip


def test_report_and_signed_multiparts():
    returned = crlf("Subject: returned\nContent-Type: text/plain\n\noriginal text\n")
    status = crlf("Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; x@y\n")
    signature = b"-----BEGIN PGP SIGNATURE-----\r\nabc\r\n-----END PGP SIGNATURE-----"
    message = (
        crlf("""\
Content-Type: multipart/report; report-type=delivery-status; boundary="r"

--r
Content-Type: text/plain

delivery failed
--r
Content-Type: message/delivery-status

""")
        + status
        + crlf("\n--r\nContent-Type: message/rfc822\n\n")
        + returned
        + crlf("""
--r
Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary="s"

--s
Content-Type: text/plain

signed text
--s
Content-Type: application/pgp-signature; name="signature.asc"

""")
        + signature
        + crlf("\n--s--\n--r--\n")
    )
    info = analyse(message)
    assert [b.text for b in info.bodies] == [
        "delivery failed",
        "original text\n",
        "signed text",
    ]
    got = [(a.filename, a.content_type, a.payload) for a in info.attachments]
    assert got == [
        (None, "message/delivery-status", status),
        ("returned.eml", "message/rfc822", returned),
        ("signature.asc", "application/pgp-signature", signature),
    ]
    assert info.warnings == []


@pytest.mark.parametrize(
    "head, kind",
    [
        (b"%PDF-1.7", "application/pdf"),
        (b"PK\x03\x04rest", "application/zip"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"GIF89a", "image/gif"),
        (b"\x1f\x8b\x08", "application/gzip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
        (b"MZ\x90\x00", "application/x-dosexec"),
        (b"Rar!\x1a\x07\x00", "application/vnd.rar"),
        (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
        (b"\x7fELF\x02", "application/x-executable"),
        ("plain text ✓\n".encode(), "text/plain"),
        (b"<!DOCTYPE html><html>", "text/html"),
        (b"\x00\x01\x02\x03", "application/octet-stream"),
        (b"", None),
    ],
)
def test_detect_type(head, kind):
    assert mime.detect_type(head) == kind


def test_rfc2231_and_2047_parameters():
    message = crlf("""\
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: application/octet-stream; name*=gb2312''%D6%EC%E9%46.txt

1
--b
Content-Type: application/octet-stream; name*0="long "; name*1="name.txt"

2
--b
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="=?utf-8?B?5Lit5paH?=.doc";
 filename*=utf-8''%E6%96%87.doc

3
--b
Content-Type: application/octet-stream
Content-Disposition: attachment; filename*0*=utf-8''%E4%B8;
 filename*2*=%E6%96%87; filename*1*=%AD

4
--b--
""")
    info = analyse(message)
    assert [a.filename for a in info.attachments] == [
        "朱镕.txt",
        "long name.txt",
        "文.doc",
        "中文",
    ]


# ---------------------------------------------------------------------------
# Malformed input and limits


def test_malformed_content_type_falls_back_to_compat32():
    info = analyse(simple("Subject: x\nContent-Type: text/plain; name*", b"hello\r\n"))
    assert [(b.content_type, b.text) for b in info.bodies] == [
        ("text/plain", "hello\n")
    ]
    assert info.warnings == [
        "part 1: malformed header content-type (IndexError); read with compat32 rules"
    ]


def test_missing_close_boundary_reported():
    message = crlf('Content-Type: multipart/mixed; boundary="b"\n\n--b\n\nonly part\n')
    info = analyse(message)
    assert [b.text for b in info.bodies] == ["only part"]
    assert any("CloseBoundaryNotFoundDefect" in w for w in info.warnings)


def test_never_raises_on_garbage():
    for message in [
        b"",
        b"\x00\xff" * 100,
        b":\r\n\r\n",
        b"Content-Type: multipart/x\r\n\r\n",
    ]:
        info = analyse(message)
        assert isinstance(info, mime.MimeInfo)
    broken = io.BytesIO(b"Subject: x\r\n\r\nbody")
    broken.close()
    assert mime.analyse(broken).warnings[0].startswith("message: ")


def nested(levels: int) -> bytes:
    out = []
    for level in range(levels):
        out.append(
            f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n'
        )
        out.append(f"Content-Type: text/plain\n\nlevel {level}\n--b{level}\n")
    out.append("Content-Type: text/plain\n\ninnermost\n")
    out += [f"--b{level}--\n" for level in reversed(range(levels))]
    return crlf("".join(out))


def test_depth_limit():
    info = analyse(nested(25), max_depth=20)
    assert [b.text for b in info.bodies] == [f"level {n}" for n in range(20)]
    assert any("nested deeper than 20 levels; not decoded" in w for w in info.warnings)


def test_absurd_depth_does_not_crash():
    info = analyse(nested(3000))
    assert [b.text for b in info.bodies] == [f"level {n}" for n in range(20)]
    info = analyse(nested(3000), max_depth=5000)  # past the stdlib parser's recursion
    assert any("MIME parser failed (RecursionError" in w for w in info.warnings)


def many_parts(count: int) -> bytes:
    parts = "".join(
        f"--b\nContent-Type: application/octet-stream; name=f{n}.bin\n\npart {n}\n"
        for n in range(count)
    )
    return crlf(f'Content-Type: multipart/mixed; boundary="b"\n\n{parts}--b--\n')


def test_part_limit():
    info = analyse(many_parts(50), max_parts=10)
    assert [a.filename for a in info.attachments] == [f"f{n}.bin" for n in range(9)]
    assert info.warnings == ["part 10: part limit (10) reached; not decoded"]


def test_part_limit_stops_parsing(monkeypatch):
    monkeypatch.setattr(mime, "FEED_CHUNK", 512)
    info = analyse(many_parts(5000), max_parts=10)
    assert [a.filename for a in info.attachments] == [f"f{n}.bin" for n in range(9)]
    assert "the rest of the message was not parsed" in info.warnings[0]


def test_header_limit():
    filler = "".join(f"X-Filler-{n}: {'x' * 80}\n" for n in range(50))
    message = simple(f"From: a@example.org\n{filler}Subject: late", b"body\r\n")
    info = analyse(message, max_header_bytes=1000)
    assert info.from_ == "a@example.org"
    assert info.subject is None
    assert [b.text for b in info.bodies] == ["body\n"]
    assert info.warnings[0].startswith("message: offset 0x")
    assert info.warnings[0].endswith(
        "header section larger than 1000 bytes; the rest of it was skipped"
    )
    assert analyse(message).subject == "late"


def test_header_limit_inside_one_long_line():
    message = b"Subject: " + b"y" * 5000 + b"\r\nTo: b@example.org\r\n\r\nbody\r\n"
    info = analyse(message, max_header_bytes=1000)
    # The field that can never fit goes alone; the field after it fits and is read.
    assert (info.subject, info.to) == (None, "b@example.org")
    assert [b.text for b in info.bodies] == ["body\n"]
    assert info.warnings == [
        "message: offset 0x0: 1 header field(s) larger than the 1000 bytes allowed "
        "for the header section skipped (5011 bytes), the first 'Subject'"
    ]


def test_large_attachment_exact():
    payload = hashlib.sha256(b"seed").digest() * 100_000  # 3.2 MB
    info = analyse(part_message("base64", b64_lines(payload)))
    assert [(a.size, a.sha256) for a in info.attachments] == [
        (len(payload), sha256(payload))
    ]
    assert info.warnings == []


@pytest.mark.parametrize(
    "label", ["idna", "punycode", "undefined", "a\x00b", "x\udcff"]
)
def test_strange_charset_labels(label):
    text, used = mime.decode_text("中文".encode(), label)
    assert (text, used) == ("中文", "utf-8")


def test_truncated_messages_decode_without_internal_errors():
    message = foxmail_message()
    internal = ("decoding stopped", "not decoded (", "parser failed")
    subjects = set()
    for end in range(0, len(message), 97):
        info = analyse(message[:end])
        assert not [w for w in info.warnings if any(m in w for m in internal)], end
        subjects.add(info.subject)
    assert SUBJECT in subjects


def test_date_past_year_9999_is_kept_as_text_without_a_timestamp():
    info = analyse(
        simple("Subject: x\nDate: Fri, 31 Dec 9999 23:30:00 -0100", b"hi\r\n")
    )
    assert info.date == "Fri, 31 Dec 9999 23:30:00 -0100"
    assert info.date_ns is None


def test_messages_over_the_size_limit_get_headers_only():
    message = crlf(
        'Subject: =?UTF-8?Q?gro=C3=9F?=\nContent-Type: multipart/mixed; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nbody\n--b--\n"
    )
    whole = analyse(message, size=len(message))
    assert [b.text for b in whole.bodies] == ["body"] and whole.warnings == []
    limited = analyse(message, size=len(message), max_size=40)
    assert limited.subject == "groß"
    assert limited.bodies == [] and limited.attachments == []
    assert limited.warnings == [
        f"message: {len(message)} bytes, more than 40: headers decoded, "
        "body parts not (a limit of decoding, not of extraction)"
    ]


# -- close delimiters with trailing junk (issue 9.6) ------------------------------

_ZIP = (
    b"PK\x03\x04\x14\x00\x00\x00\x08\x00"
    + bytes(range(256)) * 2
    + b"PK\x05\x06"
    + bytes(18)
)


def _spam(close_line: bytes, boundary: bytes = b"----=_NextPart_000_0012") -> bytes:
    return (
        b"From: spam@example.net\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
        b"--" + boundary + b"\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--" + boundary + b"\r\n"
        b'Content-Type: application/zip; name="invoice.zip"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="invoice.zip"\r\n\r\n'
        + b64_lines(_ZIP)
        + b"\r\n"
        + close_line
    )


@pytest.mark.parametrize(
    "close_line",
    [
        b"--%s---\r\n",
        b"--%s---",  # the last line without a line end
        b"--%s--junkAAAA\r\n",
        b"--%s--\t--\r\nepilogue text\r\n",
    ],
)
def test_close_delimiter_with_trailing_junk_is_the_close_delimiter(close_line):
    boundary = b"----=_NextPart_000_0012"
    info = analyse(_spam(close_line.replace(b"%s", boundary), boundary))
    (attachment,) = info.attachments
    assert attachment.filename == "invoice.zip"
    assert attachment.payload == _ZIP
    assert attachment.size == len(_ZIP) == 544
    assert (
        attachment.sha256
        == "2e600247455ef6969817116b37e28930aeaa6ec4214bd391d49399b92d97fba2"
    )
    assert attachment.md5 == hashlib.md5(_ZIP).hexdigest()
    assert [b.text for b in info.bodies] == ["see attached"]
    assert not any("base64" in w or "CloseBoundary" in w for w in info.warnings)
    assert any("taken as the close delimiter" in w for w in info.warnings)


def test_proper_close_delimiter_gives_no_warning():
    info = analyse(_spam(b"--BND--  \r\n", b"BND"))
    assert info.attachments[0].sha256 == sha256(_ZIP)
    assert info.warnings == []


def test_nested_junk_close_ends_the_inner_multipart_only():
    message = (
        crlf(
            "From: a@example.org\nMIME-Version: 1.0\n"
            'Content-Type: multipart/mixed; boundary="outer"\n\n'
            "--outer\n"
            'Content-Type: multipart/alternative; boundary="inner"\n\n'
            "--inner\nContent-Type: text/plain\n\nplain text\n"
            "--inner---\n"
            "--outer\n"
            "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
            'Content-Disposition: attachment; filename="b.bin"\n\n'
        )
        + b64_lines(b"\x00\x01payload\xff")
        + b"\r\n--outer--\r\n"
    )
    info = analyse(message)
    assert [b.text for b in info.bodies] == ["plain text"]
    (attachment,) = info.attachments
    assert attachment.filename == "b.bin"
    assert attachment.payload == b"\x00\x01payload\xff"


def test_longer_nested_boundary_is_not_taken_for_the_outer_delimiter():
    """``--b-alt`` starts with ``--b`` but is the nested part's own boundary."""
    message = crlf(
        "From: a@example.org\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n'
        "--b\n"
        'Content-Type: multipart/alternative; boundary="b-alt"\n\n'
        "--b-alt\nContent-Type: text/plain\n\nalt one\n"
        "--b-alt\nContent-Type: text/html\n\n<p>alt two</p>\n"
        "--b-alt--\n"
        "--b--\n"
    )
    info = analyse(message)
    assert [b.text for b in info.bodies] == ["alt one", "<p>alt two</p>"]
    assert info.warnings == []


@settings(max_examples=300, deadline=None)
@given(
    widths=st.lists(st.integers(min_value=0, max_value=80), max_size=12),
    eols=st.lists(st.sampled_from([b"\r\n", b"\n", b"\r"]), min_size=12, max_size=12),
    offset=st.integers(min_value=0, max_value=90),
)
def test_long_line_check_equals_splitting(widths, eols, offset):
    piece = b"".join(b"A" * width + eol for width, eol in zip(widths, eols))
    piece = (b"B" * 200 + piece)[offset:]
    expected = len(piece) > 78 and max(map(len, piece.splitlines())) > 76
    assert mime._has_long_line(piece) == expected
    even = b"A" * 30 + b"\r\n" + (b"Q" * 76 + b"\r\n") * 40 + b"Q" * 10
    assert not mime._has_long_line(even)
    assert mime._has_long_line(even + b"Q" * 67)
