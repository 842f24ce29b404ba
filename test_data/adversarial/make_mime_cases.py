"""Builds the content-level adversarial corpus (issue 14): hostile MIME and names.

Every case is made from its parameters alone, so the bytes, and the hashes the tests
expect, are the same on every run; nothing big is committed. Tests import the
functions; ``python make_mime_cases.py OUTDIR`` writes every case as OUTDIR/NAME.eml
(the sizes the tests use, largest included) to look at them with other tools.
"""

from __future__ import annotations

import base64
import hashlib
import pathlib
import sys
import urllib.parse

CRLF = b"\r\n"


def crlf(text: str) -> bytes:
    """Text written with \\n, sent with CRLF as SMTP does."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def payload(seed: str, size: int = 64) -> bytes:
    """Deterministic attachment bytes: SHA-256 blocks of the seed."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def b64_lines(data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def nested(depth: int) -> bytes:
    """depth multiparts, each inside the one before, with one text part at the bottom.

    Each level has a text part "level N" before its child multipart, so what was
    decoded shows how deep the walk went.
    """
    out = ["Subject: nested\n"]
    for level in range(depth):
        out.append(
            f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n'
            f"Content-Type: text/plain\n\nlevel {level}\n--b{level}\n"
        )
    out.append("Content-Type: text/plain\n\ninnermost\n")
    out += [f"--b{level}--\n" for level in reversed(range(depth))]
    return crlf("".join(out))


def many_parts(count: int) -> bytes:
    """One multipart with count small attachments named f0.bin, f1.bin..."""
    parts = "".join(
        f"--b\nContent-Type: application/octet-stream; name=f{n}.bin\n\npart {n}\n"
        for n in range(count)
    )
    return crlf(
        f'Subject: parts\nContent-Type: multipart/mixed; boundary="b"\n\n{parts}--b--\n'
    )


def long_header(size: int) -> bytes:
    """A header line of size bytes (X-Long: xxx...) between From and Subject."""
    line = b"X-Long: " + b"x" * (size - len(b"X-Long: ") - 2) + CRLF
    return (
        b"From: a@example.org\r\n"
        + line
        + b"Subject: after the long line\r\n\r\nbody\r\n"
    )


UNCLOSED_ATTACHMENT = payload("unclosed", 300)


def unclosed() -> bytes:
    """A multipart whose close delimiter never comes: the message just ends."""
    return crlf(
        'Subject: unclosed\nContent-Type: multipart/mixed; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nfirst part\n"
        "--b\nContent-Type: application/octet-stream; name=last.bin\n"
        "Content-Transfer-Encoding: base64\n\n"
        f"{b64_lines(UNCLOSED_ATTACHMENT)}\n"
    )


GARBAGE_ATTACHMENT = payload("garbage", 3000)


def base64_garbage() -> tuple[bytes, bytes, int]:
    """A base64 attachment with junk after every 4th character, one junk-only part.

    Returns the message, the bytes a tolerant decoder recovers from the first part
    (the true payload) and the number of junk characters in it.
    """
    encoded = base64.b64encode(GARBAGE_ATTACHMENT).decode("ascii")
    junk = "!*#%&\x7f~\x01"
    dirty = []
    count = 0
    for index in range(0, len(encoded), 4):
        dirty.append(encoded[index : index + 4])
        character = junk[(index // 4) % len(junk)]
        dirty.append(character)
        count += 1
    lines = "".join(dirty)
    lines = "\n".join(lines[i : i + 76] for i in range(0, len(lines), 76))
    only_junk = "\n".join(["!@#$%^&*()_" * 6] * 20)
    message = crlf(
        'Subject: garbage\nContent-Type: multipart/mixed; boundary="b"\n\n'
        "--b\nContent-Type: application/octet-stream; name=dirty.bin\n"
        "Content-Transfer-Encoding: base64\n\n"
        f"{lines}\n"
        "--b\nContent-Type: application/octet-stream; name=junk.bin\n"
        "Content-Transfer-Encoding: base64\n\n"
        f"{only_junk}\n--b--\n"
    )
    return message, GARBAGE_ATTACHMENT, count


# Names crafted to leave the output folder, hide their type or upset a file system.
HOSTILE_NAMES = {
    "dotdot": "../../../etc/passwd",
    "dotdot_windows": "..\\..\\Windows\\System32\\drivers\\etc\\hosts",
    "absolute": "/etc/cron.d/evil",
    "drive": "C:\\Windows\\System32\\evil.dll",
    "drive_relative": "C:evil.exe",
    "unc": "\\\\server\\share\\evil.exe",
    "device_path": "\\\\?\\C:\\evil.exe",
    "nul_byte": "safe.txt\x00.exe",
    "control": "line\nbreak\rcarriage\ttab\x1b[31mred\x07.txt",
    "rtl_override": "invoice\u202egpj.exe",
    "con": "CON",
    "nul_txt": "NUL.txt",
    "com1": "COM1",
    "lpt9": "lpt9.log",
    "aux_spaces": "AUX .txt",
    "trailing_dots": "report.pdf...",
    "trailing_spaces": "report.pdf   ",
    "dot_only": "..",
    "long": "A" * 10_000 + ".txt",
    "long_multibyte": "镕" * 4_000 + ".zip",
}

# How each name must come out of smtpcore.safenames.safe_filename (default limits).
SAFE_NAMES = {
    "dotdot": "etc_passwd",
    "dotdot_windows": "Windows_System32_drivers_etc_hosts",
    "absolute": "etc_cron.d_evil",
    "drive": "Windows_System32_evil.dll",
    "drive_relative": "evil.exe",
    "unc": "server_share_evil.exe",
    "device_path": "evil.exe",
    "nul_byte": "safe.txt.exe",
    "control": "linebreakcarriagetab[31mred.txt",
    "rtl_override": "invoicegpj.exe",
    "con": "_CON",
    "nul_txt": "_NUL.txt",
    "com1": "_COM1",
    "lpt9": "_lpt9.log",
    "aux_spaces": "_AUX .txt",
    "trailing_dots": "report.pdf",
    "trailing_spaces": "report.pdf",
    "dot_only": "attachment",
    "long": "A" * 196 + ".txt",
    "long_multibyte": "镕" * 65 + ".zip",
}


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rfc2231(name: str) -> str:
    """filename*=utf-8''..., cut into continuations of 60 characters for long names."""
    encoded = urllib.parse.quote(name.encode("utf-8"), safe="")
    if len(encoded) <= 60:
        return f"filename*=utf-8''{encoded}"
    pieces = [encoded[i : i + 60] for i in range(0, len(encoded), 60)]
    first = f"filename*0*=utf-8''{pieces[0]}"
    rest = [f"filename*{n}*={piece}" for n, piece in enumerate(pieces[1:], 1)]
    return ";\n ".join([first] + rest)


def _rfc2047(name: str) -> str:
    """filename="=?utf-8?B?...?=" in words of at most 45 bytes, folded."""
    data = name.encode("utf-8")
    words = []
    start = 0
    while start < len(data):
        end = min(start + 45, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1  # a word holds whole characters (RFC 2047 section 5)
        words.append(
            "=?utf-8?B?" + base64.b64encode(data[start:end]).decode("ascii") + "?="
        )
        start = end
    return 'filename="' + "\n ".join(words) + '"'


ENCODINGS = ("plain", "rfc2231", "rfc2047")


def _disposition(name: str, encoding: str) -> str:
    if encoding == "plain":
        # Raw NUL and line breaks cannot be sent in a header: those names are sent
        # quoted with their control characters as the sender typed them.
        return f"filename={_quoted(name)}"
    if encoding == "rfc2231":
        return _rfc2231(name)
    return _rfc2047(name)


def _has_raw_break(name: str) -> bool:
    return any(char in name for char in "\r\n")


def hostile_cases() -> list[tuple[str, str, str]]:
    """(case id, name, encoding) for every hostile name in every encoding.

    A name with a raw line break cannot be sent as a plain quoted string (it would
    end the header), so it is sent in the two encoded forms only.
    """
    return [
        (f"{key}-{encoding}", name, encoding)
        for key, name in HOSTILE_NAMES.items()
        for encoding in ENCODINGS
        if not (encoding == "plain" and _has_raw_break(name))
    ]


def hostile_names() -> bytes:
    """One message with an attachment for every (name, encoding) of hostile_cases.

    The payload of each attachment is made from its case id, so each file written
    can be traced back to its case by its hash.
    """
    parts = []
    for case, name, encoding in hostile_cases():
        parts.append(
            "--b\nContent-Type: application/octet-stream\n"
            f"Content-Disposition: attachment; {_disposition(name, encoding)}\n"
            "Content-Transfer-Encoding: base64\n\n"
            f"{b64_lines(payload(case))}\n"
        )
    return crlf(
        "Subject: =?utf-8?B?"
        + base64.b64encode("<script>alert(1)</script> \u202eevil".encode()).decode()
        + '?=\nContent-Type: multipart/mixed; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nnames\n" + "".join(parts) + "--b--\n"
    )


DUPLICATE_NAME = "report.pdf"


def duplicate_names(count: int = 5) -> bytes:
    """count attachments all called report.pdf (two of them with equal bytes)."""
    parts = []
    for n in range(count):
        seed = "dup-same" if n in (0, 1) else f"dup-{n}"
        parts.append(
            "--b\nContent-Type: application/pdf\n"
            f'Content-Disposition: attachment; filename="{DUPLICATE_NAME}"\n'
            "Content-Transfer-Encoding: base64\n\n"
            f"{b64_lines(payload(seed))}\n"
        )
    return crlf(
        'Subject: duplicates\nContent-Type: multipart/mixed; boundary="b"\n\n'
        + "".join(parts)
        + "--b--\n"
    )


def all_cases() -> dict[str, bytes]:
    """Every case at the size the tests use (largest included)."""
    return {
        "nested-10000": nested(10_000),
        "parts-100000": many_parts(100_000),
        "header-10MB": long_header(10 * 2**20),
        "unclosed": unclosed(),
        "base64-garbage": base64_garbage()[0],
        "hostile-names": hostile_names(),
        "duplicate-names": duplicate_names(),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: make_mime_cases.py OUTDIR", file=sys.stderr)
        return 2
    folder = pathlib.Path(argv[0])
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in all_cases().items():
        (folder / f"{name}.eml").write_bytes(data)
        print(f"{name}.eml {len(data)} bytes {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
