"""The messages of the mailbox lab, as the Maildir files Dovecot serves (LF line ends).

Deterministic: the same bytes on every run. Dovecot sends them with CRLF line ends,
so what a client receives is these bytes with LF turned into CRLF.
"""

from __future__ import annotations

import base64
import zlib


def _pdf() -> bytes:
    """A small valid one-page PDF with a compressed content stream."""
    stream = zlib.compress(b"BT /F1 18 Tf 72 720 Td (Mailbox lab PDF) Tj ET")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
        + stream
        + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


PDF = _pdf()
GB2312_ATTACHMENT = "附件：实验室报告。\n".encode("gb2312")


def _b64(data: bytes) -> bytes:
    text = base64.b64encode(data)
    return b"\n".join(text[i : i + 76] for i in range(0, len(text), 76))


def gb2312_message() -> bytes:
    subject = base64.b64encode("测试邮件：收件箱".encode("gb2312"))
    filename = base64.b64encode("报告.txt".encode("gb2312"))
    body = "你好，这是一封测试邮件。\n".encode("gb2312")
    return (
        b"Return-Path: <bob@example.org>\n"
        b"From: Bob <bob@example.org>\n"
        b"To: Alice <alice@example.org>\n"
        b"Subject: =?gb2312?B?" + subject + b"?=\n"
        b"Date: Tue, 01 Dec 2026 10:00:00 +0800\n"
        b"Message-ID: <gb2312.1@mboxlab.example.org>\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="=_mbox_gb"\n'
        b"\n"
        b"--=_mbox_gb\n"
        b"Content-Type: text/plain; charset=gb2312\n"
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + _b64(body) + b"\n"
        b"--=_mbox_gb\n"
        b'Content-Type: text/plain; charset=gb2312; name="=?gb2312?B?'
        + filename
        + b'?="\n'
        b"Content-Transfer-Encoding: base64\n"
        b'Content-Disposition: attachment; filename="=?gb2312?B?' + filename + b'?="\n'
        b"\n" + _b64(GB2312_ATTACHMENT) + b"\n"
        b"--=_mbox_gb--\n"
    )


def dots_message() -> bytes:
    return (
        b"From: Carol <carol@example.org>\n"
        b"To: Alice <alice@example.org>\n"
        b"Subject: Lines that start with a dot\n"
        b"Date: Tue, 01 Dec 2026 11:00:00 +0000\n"
        b"Message-ID: <dots.2@mboxlab.example.org>\n"
        b"\n"
        b".first line starts with a dot\n"
        b"..two dots\n"
        b".\n"
        b"a line with only a dot above; dot-stuffed on the wire\n"
        b"...\n"
        b"end\n"
    )


def pdf_message() -> bytes:
    return (
        b"From: Bob <bob@example.org>\n"
        b"To: Alice <alice@example.org>\n"
        b"Subject: Quarterly report (PDF)\n"
        b"Date: Tue, 01 Dec 2026 12:00:00 +0000\n"
        b"Message-ID: <pdf.3@mboxlab.example.org>\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="=_mbox_pdf"\n'
        b"\n"
        b"--=_mbox_pdf\n"
        b"Content-Type: text/plain; charset=us-ascii\n"
        b"\n"
        b"The report is attached.\n"
        b"--=_mbox_pdf\n"
        b'Content-Type: application/pdf; name="report.pdf"\n'
        b"Content-Transfer-Encoding: base64\n"
        b'Content-Disposition: attachment; filename="report.pdf"\n'
        b"\n" + _b64(PDF) + b"\n"
        b"--=_mbox_pdf--\n"
    )


def idle_message() -> bytes:
    return (
        b"From: Bob <bob@example.org>\n"
        b"To: Alice <alice@example.org>\n"
        b"Subject: Arrived during IDLE\n"
        b"Date: Tue, 01 Dec 2026 13:00:00 +0000\n"
        b"Message-ID: <idle.4@mboxlab.example.org>\n"
        b"\n"
        b"This message was delivered while the client was idling.\n"
    )


def sent_copy() -> bytes:
    """What the IMAP client APPENDs to Sent (CRLF, as a client sends it)."""
    return (
        b"From: Alice <alice@example.org>\r\n"
        b"To: Bob <bob@example.org>\r\n"
        b"Subject: Re: Quarterly report (sent copy)\r\n"
        b"Date: Tue, 01 Dec 2026 14:00:00 +0000\r\n"
        b"Message-ID: <sent.5@mboxlab.example.org>\r\n"
        b"\r\n"
        b"Thanks, received.\r\n"
        b".a dot line in an appended message\r\n"
    )


INBOX = [gb2312_message(), dots_message(), pdf_message()]


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")
