"""Tests for smtpcore.safenames: hostile names in, one harmless component out."""

from __future__ import annotations

import os
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpcore.safenames import create_unique, safe_filename

LONG_CHINESE = "年度财务报告" * 17 + ".pdf"  # 310 UTF-8 bytes


@pytest.mark.parametrize(
    "hostile, safe",
    [
        ("../../etc/passwd", "etc_passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("/etc/shadow", "etc_shadow"),
        ("C:\\Windows\\x", "Windows_x"),
        ("c:evil.exe", "evil.exe"),
        ("\\\\server\\share\\x", "server_share_x"),
        ("\\\\?\\C:\\x\\y", "x_y"),
        ("NUL.txt", "_NUL.txt"),
        ("nul .txt", "_nul .txt"),
        ("con", "_con"),
        ("CON.", "_CON"),
        ("aux.tar.gz", "_aux.tar.gz"),
        ("Com1", "_Com1"),
        ("lpt9.log", "_lpt9.log"),
        ("COM¹.txt", "_COM¹.txt"),
        ("console.txt", "console.txt"),
        ("a\x00b", "ab"),
        ("tab\there\x7f\x85\x9f", "tabhere"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("\u2066report\u2069\u200b.pdf\ufeff", "report.pdf"),
        ("line\u2028break", "linebreak"),
        ('what<>:"|?*.txt', "what_______.txt"),
        ("...", "unnamed"),
        ("", "unnamed"),
        (None, "unnamed"),
        ("  . spaced . ", "spaced"),
        ("../..", "unnamed"),
        ("报价单 2024.xlsx", "报价单 2024.xlsx"),
        ("cafe\u0301.txt", "café.txt"),  # NFC
        ("e\u200b\u0301.txt", "é.txt"),  # NFC after removing the zero-width space
        ("bad\udcffbyte.txt", "bad_byte.txt"),  # an undecodable byte, escaped
    ],
)
def test_hostile_names(hostile, safe):
    assert safe_filename(hostile) == safe


def test_default_is_configurable():
    assert safe_filename("..", default="attachment.bin") == "attachment.bin"


def test_long_chinese_name_keeps_extension_and_whole_characters():
    safe = safe_filename(LONG_CHINESE)
    assert len(LONG_CHINESE.encode()) == 310
    assert safe.endswith(".pdf")
    assert len(safe.encode()) <= 200
    # 196 bytes for the stem: 65 whole three-byte characters, none split.
    assert safe == LONG_CHINESE[:65] + ".pdf"
    assert len(safe.encode()) == 199


def test_max_bytes_and_long_extension():
    assert safe_filename("a" * 50 + ".txt", max_bytes=20) == "a" * 16 + ".txt"
    # An "extension" too long to be one is cut like the rest.
    name = "x." + "y" * 300
    assert safe_filename(name) == name[:200]
    assert len(safe_filename("é" * 300, max_bytes=101).encode()) == 100


def test_reserved_name_prefix_respects_limit():
    safe = safe_filename("nul." + "e" * 20, max_bytes=10)
    assert len(safe.encode()) <= 10
    assert not safe.upper().startswith("NUL.")


FORBIDDEN = set('/\\<>:"|?*')
RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{d}{n}" for d in ("COM", "LPT") for n in "123456789"
}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=8, max_value=255))
def test_any_name_is_one_safe_component(name, max_bytes):
    safe = safe_filename(name, max_bytes=max_bytes)
    assert safe
    assert len(safe.encode("utf-8")) <= max(max_bytes, len(b"unnamed"))
    assert not FORBIDDEN & set(safe)
    assert all(
        unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in safe
    )
    assert safe not in (".", "..")
    assert safe[0] not in " ." and safe[-1] not in " ."
    assert safe.split(".")[0].rstrip(" ").upper() not in RESERVED
    assert safe == unicodedata.normalize("NFC", safe)
    assert (
        safe_filename(safe, max_bytes=max_bytes) == safe
    )  # create_unique re-applies it


def test_create_unique_never_overwrites(tmp_path):
    paths = []
    for content in (b"first", b"second", b"third"):
        path, handle = create_unique(tmp_path, "report.pdf")
        with handle:
            handle.write(content)
        paths.append(path)
    assert [p.name for p in paths] == ["report.pdf", "report (2).pdf", "report (3).pdf"]
    assert [p.read_bytes() for p in paths] == [b"first", b"second", b"third"]
    assert all(p.parent == tmp_path for p in paths)


def test_create_unique_sanitises_and_stays_inside(tmp_path):
    (tmp_path / "inner").mkdir()
    path, handle = create_unique(tmp_path / "inner", "../../escape.txt")
    handle.close()
    assert path == tmp_path / "inner" / "escape.txt"
    assert path.resolve().parent == (tmp_path / "inner").resolve()


def test_create_unique_does_not_follow_symlinks(tmp_path):
    target = tmp_path / "target.txt"
    target.write_bytes(b"keep me")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(target, out / "a.txt")
    path, handle = create_unique(out, "a.txt")
    with handle:
        handle.write(b"new")
    assert path == out / "a (2).txt"
    assert target.read_bytes() == b"keep me"


def test_create_unique_numbered_names_fit_the_limit(tmp_path):
    name = "长" * 100 + ".txt"
    first, handle = create_unique(tmp_path, name)
    handle.close()
    second, handle = create_unique(tmp_path, name)
    handle.close()
    assert second.name.endswith(" (2).txt")
    assert len(second.name.encode()) <= 200
    assert first != second


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="AaZz09._- CONULPTcom1¹/\\", min_size=1, max_size=220),
        st.sampled_from(["CON", "con.txt", "LPT1", "a..b", ".a", "a.", "-", "x" * 201]),
    ),
    st.sampled_from([200, 16, 3]),
)
def test_plain_names_take_the_short_way_with_the_same_result(name, max_bytes):
    from smtpcore.safenames import _sanitise

    assert safe_filename(name, max_bytes=max_bytes) == _sanitise(
        name, "unnamed", max_bytes
    )
