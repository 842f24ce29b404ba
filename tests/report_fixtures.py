"""A hostile capture for the report tests: what a phishing campaign puts in front of an examiner.

Three SMTP sessions, crafted with pcapgen: a message whose subject, From and attachment
names carry bidirectional controls and markup (``invoice\\u202efdp.exe``, a .pdf.exe, a
script in the subject and in the HTML body, a remote picture, a live link); a message the
server refuses after DATA; and a message with a segment missing from the capture.
"""

from __future__ import annotations

import base64
import pathlib

import pcapgen

RLO = "\u202e"
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(range(64)) * 4
)
SUBJECT = "Invoice " + RLO + "txt.exe </script><script>document.title='pwned'</script>"
HTML_BODY = (
    "<html><head><script>document.title='pwned'</script>"
    "<base href='https://evil.example/'></head><body>"
    "<p onclick=\"document.title='pwned'\">Please pay the "
    '<a href="https://evil.example/pay?id=1">attached invoice</a> today.</p>'
    '<img src="https://evil.example/track.png" alt="logo">'
    '<iframe src="https://evil.example/frame"></iframe>'
    '<form action="https://evil.example/login"><input name=p></form>'
    "</body></html>"
)


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")


def hostile_message() -> bytes:
    subject = "=?UTF-8?B?" + base64.b64encode(SUBJECT.encode()).decode() + "?="
    sender = "=?UTF-8?B?" + base64.b64encode(f"Accounts {RLO}gnp.".encode()).decode()
    return (
        f"From: {sender}?= <billing@evil.example>\r\n"
        "To: Victim <victim@corp.example>\r\n"
        f"Subject: {subject}\r\n"
        "Reply-To: <collector@elsewhere.example>\r\n"
        "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
        "Message-ID: <hostile-1@evil.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\n"
        'Content-Type: multipart/alternative; boundary="b2"\r\n\r\n'
        "--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Please pay the attached invoice today.\r\n"
        "--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"{HTML_BODY}\r\n"
        "--b2--\r\n"
        "--b1\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe\r\n"
        f"\r\n{_b64(EXE)}"
        "--b1\r\n"
        'Content-Type: application/pdf; name="report.pdf.exe"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="report.pdf.exe"\r\n'
        f"\r\n{_b64(EXE)}"
        "--b1\r\n"
        'Content-Type: text/plain; name="notes.txt"\r\n'
        'Content-Disposition: attachment; filename="notes.txt"\r\n\r\n'
        "plain notes\r\n"
        "--b1--\r\n"
    ).encode("ascii")


def _session(message: bytes, final_reply: bytes, sender: str) -> list:
    return [
        (1, b"220 mx.corp.example ESMTP\r\n"),
        (0, b"EHLO bot.evil.example\r\n"),
        (1, b"250-mx.corp.example\r\n250 AUTH PLAIN\r\n"),
        (0, b"AUTH PLAIN " + base64.b64encode(b"\0billing\0hunter2") + b"\r\n"),
        (1, b"235 2.7.0 Authentication successful\r\n"),
        (0, f"MAIL FROM:<{sender}>\r\n".encode()),
        (1, b"250 2.1.0 Ok\r\n"),
        (0, b"RCPT TO:<victim@corp.example>\r\n"),
        (1, b"250 2.1.5 Ok\r\n"),
        (0, b"DATA\r\n"),
        (1, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
        (0, message + b".\r\n"),
        (1, final_reply),
        (0, b"QUIT\r\n"),
        (1, b"221 2.0.0 Bye\r\n"),
    ]


def write_hostile_capture(path: pathlib.Path) -> None:
    """Writes the three sessions, a minute apart, in one pcap."""
    plain = (
        "From: <spam@evil.example>\r\nTo: <victim@corp.example>\r\n"
        "Subject: refused one\r\n\r\n" + "line of text\r\n" * 20
    ).encode()
    frames = pcapgen.tcp_conversation(
        client=("192.0.2.66", 40001),
        server=("198.51.100.25", 25),
        exchanges=_session(
            hostile_message(),
            b"250 2.0.0 Ok: queued as 4H0ST1LE\r\n",
            "billing@evil.example",
        ),
        start_ns=1_700_000_000_000_000_000,
    )
    frames += pcapgen.tcp_conversation(
        client=("192.0.2.67", 40002),
        server=("198.51.100.25", 25),
        exchanges=_session(
            plain, b"554 5.7.1 Message rejected as spam\r\n", "spam@evil.example"
        ),
        start_ns=1_700_000_060_000_000_000,
    )
    gappy = pcapgen.tcp_conversation(
        client=("192.0.2.68", 40003),
        server=("198.51.100.25", 25),
        exchanges=_session(
            plain.replace(b"refused one", b"cut short"),
            b"250 2.0.0 Ok: queued as 9GAP\r\n",
            "gap@evil.example",
        ),
        start_ns=1_700_000_120_000_000_000,
        mss=100,
    )
    # Drop one data segment in the middle of the DATA content: 100 bytes never seen.
    data_frames = [i for i, (_, frame) in enumerate(gappy) if b"line of text" in frame]
    del gappy[data_frames[len(data_frames) // 2]]
    frames += gappy
    pcapgen.write_pcap(path, frames)
