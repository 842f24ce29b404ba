"""report.html as an examiner sees it: rendered by headless Chromium.

Skips when Chromium is not installed (Debian: apt-get install chromium).
"""

import pathlib
import shutil
import struct
import subprocess
import sys
import zlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "test_data" / "captures"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
COMMAND = pathlib.Path(sys.executable).with_name("smtpcore")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")


def chromium(profile, *args):
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def png_pixels(path):
    """Width, height and the RGB rows of an 8-bit RGB/RGBA PNG (Chromium's screenshots)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, header = 8, b"", None
    while offset < len(data):
        (length,), kind = (
            struct.unpack(">I", data[offset : offset + 4]),
            data[offset + 4 : offset + 8],
        )
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour = header[:4]
    assert depth == 8 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(
            raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]
        )
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (
                    line[x]
                    + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)
                ) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def test_report_renders_messages_without_active_content(tmp_path):
    out = tmp_path / "out"
    run = subprocess.run(
        [
            str(COMMAND),
            "extract",
            "-q",
            str(CAPTURES / "postfix-foxmail.pcap"),
            str(CAPTURES / "postfix-auth-fail-then-success.pcap"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    page = (out / "report.html").as_uri()

    dom = chromium(tmp_path / "profile1", "--dump-dom", page)
    assert "邮件测试：朱镕基与陶喆的季度报告" in dom.stdout
    assert "Failed login then success" in dom.stdout
    assert "not-the-password" in dom.stdout  # the failed attempt's password is shown
    assert "<script" not in dom.stdout.lower()

    shot = tmp_path / "report.png"
    chromium(
        tmp_path / "profile2", "--window-size=1000,900", f"--screenshot={shot}", page
    )
    width, height, channels, rows = png_pixels(shot)
    assert (width, height) == (1000, 900)
    # Rendered text and tables, not a blank or error page: a good share of the
    # pixels are not the white background.
    inked = sum(
        1
        for row in rows
        for x in range(0, len(row), channels)
        if row[x : x + 3] != b"\xff\xff\xff"
    )
    assert inked > width * height // 50
