"""Write foxmail.eml and foxmail.json: a Foxmail 7.2 style message and its truth.

The layout follows the Foxmail capture in the SMTP traffic-restoration article:
multipart/mixed > multipart/related > multipart/alternative, a subject in two
adjacent =?GB2312?B?...?= words that really hold GBK (镕 and 喆 are not in
GB2312), a base64 GB2312 text/plain, a quoted-printable text/html with CSS lines
starting with "." (dot-stuffing on the wire), an inline cid PNG, an attachment
named with a GB2312 encoded-word and a ZIP attachment named with RFC 2231 UTF-8
continuations. Deterministic: re-running gives the same bytes.
"""

import base64
import hashlib
import io
import json
import quopri
import struct
import sys
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUBJECT = "邮件测试：朱镕基与陶喆的季度报告"
TEXT = (
    "\r\n邮件测试，这是邮件正文\r\n.这一行以句点开头\r\n\r\n\r\nalice@example.org\r\n"
)
B1 = "----=_001_NextPart166634325136_=----"
B2 = "----=_002_NextPart418455856474_=----"
B3 = "----=_003_NextPart021017628760_=----"
CID = "_Foxmail.1@example.org"
PNG_NAME = "InsertPic_33AB.png"
TXT_NAME = "会议纪要.txt"
ZIP_NAME = "报告2019年第三季度.zip"


def png(width=16, height=16):
    """A real, tiny RGB gradient PNG."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 16, y * 16, 128)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def zip_bytes():
    """A stored (uncompressed) ZIP with fixed timestamps, so it never changes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in (
            ("report.txt", "Quarterly report\r\nQ3 2019: all good.\r\n".encode()),
            ("数据.csv", "月份,金额\r\n7,100\r\n8,200\r\n9,300\r\n".encode("utf-8")),
        ):
            info = zipfile.ZipInfo(name, date_time=(2019, 10, 26, 15, 37, 18))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def b64_lines(data):
    text = base64.b64encode(data).decode("ascii")
    return "\n".join(text[i : i + 76] for i in range(0, len(text), 76))


def encoded_word(text, charset_label, codec):
    return f"=?{charset_label}?B?{base64.b64encode(text.encode(codec)).decode()}?="


def html():
    return (
        '<html><head><meta http-equiv="content-type" content="text/html; '
        'charset=GB2312"><style>\n'
        ".quote { color: gray; }\n"
        ".sig { font-size: 9pt; }\n"
        "body { line-height: 1.5; }</style></head><body>\n"
        "<div>邮件测试，这是邮件正文"
        f'<img src="cid:{CID}" border="0"></div>\n'
        '<div class="sig">alice@example.org</div>\n</body></html>'
    )


def build():
    image = png()
    txt = "会议纪要\r\n一、季度总结\r\n二、下一步计划\r\n".encode("gbk")
    archive = zip_bytes()
    html_bytes = html().encode("gbk")
    qp = quopri.encodestring(html_bytes.replace(b"\n", b"\r\n")).decode("ascii")
    qp = qp.replace("\r\n", "\n")
    # quopri leaves a leading "." alone; these lines get dot-stuffed on the wire.
    assert "\n.quote" in qp and "\n.sig" in qp
    half = len(SUBJECT) // 2
    subject = (
        encoded_word(SUBJECT[:half], "GB2312", "gbk")
        + "\n\t"
        + encoded_word(SUBJECT[half:], "GB2312", "gbk")
    )
    txt_word = encoded_word(TXT_NAME, "GB2312", "gb2312")
    zip_quoted = "".join(
        f"%{b:02X}" if b > 127 or chr(b) in "%'*; " else chr(b)
        for b in ZIP_NAME.encode("utf-8")
    )
    cut = zip_quoted.index("%E5%B9%B4")  # split before 年
    lines = [
        "Date: Sat, 26 Oct 2019 15:37:18 +0800",
        'From: "alice@example.org" <alice@example.org>',
        "To: bob <bob@example.org>",
        "Cc: carol <carol@example.org>",
        f"Subject: {subject}",
        "X-Priority: 3",
        "X-Has-Attach: yes",
        "X-Mailer: Foxmail 7.2.13.365[cn]",
        "Mime-Version: 1.0",
        "Message-ID: <201910261537180846517@example.org>",
        "Content-Type: multipart/mixed;",
        f'\tboundary="{B1}"',
        "",
        "This is a multi-part message in MIME format.",
        "",
        f"--{B1}",
        "Content-Type: multipart/related;",
        f'\tboundary="{B2}"',
        "",
        "",
        f"--{B2}",
        "Content-Type: multipart/alternative;",
        f'\tboundary="{B3}"',
        "",
        "",
        f"--{B3}",
        "Content-Type: text/plain;",
        '\tcharset="GB2312"',
        "Content-Transfer-Encoding: base64",
        "",
        b64_lines(TEXT.encode("gb2312")),
        "",
        f"--{B3}",
        "Content-Type: text/html;",
        '\tcharset="GB2312"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        qp.rstrip("\n"),
        "",
        f"--{B3}--",
        "",
        f"--{B2}",
        "Content-Type: image/png;",
        f'\tname="{PNG_NAME}"',
        "Content-Transfer-Encoding: base64",
        f"Content-ID: <{CID}>",
        "",
        b64_lines(image),
        "",
        f"--{B2}--",
        "",
        f"--{B1}",
        "Content-Type: application/octet-stream;",
        f'\tname="{txt_word}"',
        "Content-Transfer-Encoding: base64",
        "Content-Disposition: attachment;",
        f'\tfilename="{txt_word}"',
        "",
        b64_lines(txt),
        "",
        f"--{B1}",
        "Content-Type: application/zip;",
        f'\tname="{encoded_word(ZIP_NAME, "UTF-8", "utf-8")}"',
        "Content-Transfer-Encoding: base64",
        "Content-Disposition: attachment;",
        f"\tfilename*0*=UTF-8''{zip_quoted[:cut]};",
        f"\tfilename*1*={zip_quoted[cut:]}",
        "",
        b64_lines(archive),
        "",
        f"--{B1}--",
        "",
    ]
    eml = "\n".join(lines).encode("ascii")
    truth = {
        "subject": SUBJECT,
        "subject_charset_label": "GB2312",
        "subject_real_charset": "GBK",
        "text_plain": TEXT,
        "text_plain_charset": "GB2312",
        "text_html_sha256": hashlib.sha256(
            html_bytes.replace(b"\n", b"\r\n")
        ).hexdigest(),
        "attachments": [
            part(PNG_NAME, "image/png", f"<{CID}>", "inline (related, by cid)", image),
            part(
                TXT_NAME, "application/octet-stream", None, "GB2312 encoded-word", txt
            ),
            part(
                ZIP_NAME,
                "application/zip",
                None,
                "RFC 2231 UTF-8 continuation",
                archive,
            ),
        ],
    }
    return eml, truth


def part(name, content_type, content_id, naming, data):
    return {
        "filename": name,
        "content_type": content_type,
        "content_id": content_id,
        "naming": naming,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def main():
    eml, truth = build()
    (HERE / "foxmail.eml").write_bytes(eml)
    (HERE / "foxmail.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
