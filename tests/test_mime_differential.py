"""The fast body splitter against the email package: same parts, same bytes.

mime.analyse has two engines: "fast" (smtpcore.mimebody finds boundaries with
bytes.find) and "email" (the stdlib feed parser, line by line). Every message here is
decoded both ways and the results must be equal: the parse trees (structure, content
types, undecoded payload bytes, defects, repaired close delimiters) and the whole
MimeInfo (headers, bodies, attachments with their bytes and hashes, warnings).

Messages: every .eml under test_data, every message extracted from the committed
captures, messages from the shared benchmark's generator, and hypothesis-made MIME
trees and line soups with hostile shapes (shared and nested boundaries, CR-only and
mixed line ends, junk after close delimiters, missing boundaries, truncation).
"""

from __future__ import annotations

import base64
import dataclasses
import email.policy
import functools
import hashlib
import importlib.util
import io
import os
import pathlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpcore import api, mime

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "test_data"
BENCH_GENERATOR = ROOT.parent.parent / "shared" / "bench" / "make_smtp_pcap.py"
if not BENCH_GENERATOR.exists():
    BENCH_GENERATOR = pathlib.Path("/work/shared/bench/make_smtp_pcap.py")


def tree(message: bytes, engine: str, **limits) -> list:
    """The parse tree, flattened: what each part is and holds, before decoding."""
    analyser = mime._Analyser(
        limits.get("max_depth", 20),
        limits.get("max_parts", 1000),
        1 << 20,
        True,
        engine,
    )
    root = analyser.parse(io.BytesIO(message), "message", base_depth=0)
    out = [analyser.info.warnings]
    stack = [("", root)]
    while stack:
        label, part = stack.pop()
        if part is None:
            continue
        entry = [
            label,
            part.declared_type(),
            part.get_content_type(),
            sorted(part.keys()),
            [(type(d).__name__, str(d)) for d in part.defects],
            part.junk_close_lines,
            part.too_deep,
        ]
        if part.is_multipart():
            children = part.get_payload()
            entry.append(len(children))
            stack.extend(
                (f"{label}.{n}", child)
                for n, child in reversed(list(enumerate(children)))
            )
        else:
            entry.append(mime._undecoded(part))
        out.append(entry)
    return out


def outcome(message: bytes, engine: str, **limits) -> dict:
    return dataclasses.asdict(
        mime.analyse(io.BytesIO(message), engine=engine, **limits)
    )


def assert_same(message: bytes, **limits) -> None:
    assert tree(message, "fast", **limits) == tree(message, "email", **limits)
    reference = outcome(message, "email", **limits)
    assert outcome(message, "fast", **limits) == reference
    # Without payloads, attachments are hashed as they are decoded: same records.
    for attachment in reference["attachments"]:
        attachment["payload"] = None
    assert outcome(message, "fast", keep_payloads=False, **limits) == reference


# ---------------------------------------------------------------------------
# Real messages


def _eml_files() -> list[pathlib.Path]:
    return sorted(TEST_DATA.rglob("*.eml"))


@functools.lru_cache(maxsize=1)
def _captured_messages() -> tuple[bytes, ...]:
    """Every distinct message (SMTP, POP3, IMAP) in the committed captures."""
    seen: dict[str, bytes] = {}
    captures = sorted(
        path
        for path in TEST_DATA.rglob("*")
        if path.suffix in (".pcap", ".pcapng") and path.is_file()
    )
    for path in captures:
        try:
            for item in api.items(path, mime=False):
                content = getattr(item, "content", None)
                if content is None or content.closed:
                    continue
                data = content.open().read()
                seen.setdefault(hashlib.sha256(data).hexdigest(), data)
        except Exception:  # a capture the reader refuses has no message to compare
            continue
    return tuple(seen[key] for key in sorted(seen))


def _bench_messages(count: int) -> list[bytes]:
    """Messages exactly as the shared benchmark generator builds them (if it is here)."""
    if not BENCH_GENERATOR.exists():
        return []
    spec = importlib.util.spec_from_file_location("make_smtp_pcap", BENCH_GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = random.Random(20231114)
    out = []
    for n in range(count):
        exchange, truth = module.smtp_session(rng, n)
        data = next(b for sent, b in exchange if sent and b.endswith(b"\r\n.\r\n"))
        lines = data[: -len(b".\r\n")].split(b"\r\n")
        message = b"\r\n".join(line[1:] if line[:1] == b"." else line for line in lines)
        assert hashlib.sha256(message).hexdigest() == truth["sha256"]
        out.append(message)
    return out


@pytest.mark.parametrize(
    "path", _eml_files(), ids=lambda path: str(path.relative_to(TEST_DATA))
)
def test_test_data_eml(path):
    assert_same(path.read_bytes())


def test_captured_messages():
    messages = _captured_messages()
    assert len(messages) >= 20  # the committed captures hold this many at least
    for message in messages:
        assert_same(message)


@pytest.mark.skipif(not BENCH_GENERATOR.exists(), reason="no shared benchmark here")
def test_benchmark_messages():
    messages = _bench_messages(40)
    for message in messages:
        assert_same(message)
    info = mime.analyse(io.BytesIO(messages[0]))
    assert [a.filename for a in info.attachments] == ["file0.bin"]


def test_messages_in_files_are_mapped_and_equal(tmp_path):
    """A message in a real file (the worker's case) is read through mmap."""
    messages = list(_captured_messages()[:10]) + _bench_messages(3)
    for n, message in enumerate(messages):
        path = tmp_path / f"{n}.eml"
        path.write_bytes(b"junk before" + message)
        with open(path, "rb") as handle:
            handle.seek(len(b"junk before"))
            from_file = dataclasses.asdict(
                mime.analyse(handle, engine="fast", size=len(message))
            )
        assert from_file == outcome(message, "email", size=len(message))


# ---------------------------------------------------------------------------
# Generated messages

# Longer runs: SMTPCORE_DIFF_SCALE=20 pytest tests/test_mime_differential.py
_SCALE = int(os.environ.get("SMTPCORE_DIFF_SCALE", "1"))
_BOUNDARIES = ["b", "b1", "b-", "bb", "=_x", "b b", "-b"]
_EOLS = ["\r\n", "\n", "\r"]


@st.composite
def _leaf(draw, eol: str) -> str:
    kind = draw(
        st.sampled_from(
            ["text/plain", "text/html", "application/octet-stream", "image/png"]
        )
    )
    encoding = draw(st.sampled_from(["", "base64", "quoted-printable", "8bit"]))
    headers = [f"Content-Type: {kind}"]
    if draw(st.booleans()):
        headers.append('Content-Disposition: attachment; filename="f.bin"')
    if encoding:
        headers.append(f"Content-Transfer-Encoding: {encoding}")
    if encoding == "base64":
        data = draw(st.binary(max_size=120))
        text = base64.encodebytes(data).decode().replace("\n", eol)
        if draw(st.booleans()):
            text += draw(st.sampled_from(["!!garbage==", "QQ=QQ", "=", "Zm9v"])) + eol
    else:
        text = draw(
            st.lists(
                st.sampled_from(
                    ["hello", "-- ", "--b", "--b--", "=41", "caf\xe9", "", "--", "x"]
                ),
                max_size=6,
            ).map(eol.join)
        )
    return eol.join(headers) + eol + eol + text


@st.composite
def _mime_tree(draw, depth: int = 0, eol: str | None = None) -> str:
    eol = eol if eol is not None else draw(st.sampled_from(_EOLS))
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return draw(_leaf(eol))
    boundary = draw(st.sampled_from(_BOUNDARIES))
    subtype = draw(st.sampled_from(["mixed", "alternative", "digest", "related"]))
    quoted = f'"{boundary}"' if " " in boundary or draw(st.booleans()) else boundary
    headers = [f"Content-Type: multipart/{subtype}; boundary={quoted}"]
    if draw(st.integers(0, 9)) == 0:
        headers = ["Content-Type: multipart/mixed"]  # no boundary at all
    if draw(st.integers(0, 9)) == 0:
        headers.append("Content-Transfer-Encoding: base64")
    if draw(st.integers(0, 9)) == 0:
        headers.append("From somebody")  # moved into the body by the stdlib
    out = eol.join(headers) + eol
    if draw(st.integers(0, 9)):
        out += eol  # the blank line; sometimes missing
    out += draw(st.sampled_from(["", "preamble" + eol, "--" + eol, "--bx" + eol]))
    children = draw(st.lists(_mime_tree(depth + 1, eol), max_size=3))
    for child in children:
        out += f"--{boundary}" + draw(st.sampled_from(["", " ", "\t"])) + eol
        if draw(st.integers(0, 9)) == 0:
            out += f"--{boundary}" + eol  # a second delimiter in a row
        out += child + eol
    close = draw(
        st.sampled_from(["--", "--", "---", "-- junk", "--  ", None, "--x", "- -"])
    )
    if close is not None:
        out += f"--{boundary}{close}" + draw(st.sampled_from([eol, ""]))
    out += draw(st.sampled_from(["", "epilogue" + eol, f"--{boundary}--junk" + eol]))
    return out


_TOKENS = [
    "\r\n",
    "\n",
    "\r",
    "--b",
    "--b--",
    "--b---",
    "--c",
    "--c--",
    "--",
    " ",
    "x",
    ":",
    "Content-Type: multipart/mixed; boundary=b\r\n",
    "Content-Type: multipart/alternative; boundary=c\n",
    "Content-Type: message/rfc822\r\n",
    "Content-Type: multipart/digest; boundary=b\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "From x\n",
    "\tcont\r\n",
    "QUJD",
    "=\r\n",
]


@settings(
    max_examples=300 * _SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    top=_mime_tree(),
    subject=st.sampled_from(["", "Subject: =?utf-8?q?gr=C3=BC=C3=9F?=\r\n"]),
)
def test_generated_trees(top, subject):
    message = (subject + "From: a@example.org\r\n" + top).encode("utf-8", "replace")
    assert_same(message)


@settings(
    max_examples=300 * _SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(top=_mime_tree(), cut=st.integers(min_value=0, max_value=2000))
def test_generated_trees_truncated(top, cut):
    message = top.encode("utf-8", "replace")
    assert_same(message[: cut % (len(message) + 1)])


@settings(
    max_examples=300 * _SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    tokens=st.lists(st.sampled_from(_TOKENS), max_size=60),
    head=st.sampled_from(
        [
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
            "Content-Type: multipart/mixed; boundary=b\r\n",
            "Content-Type: multipart/mixed; boundary=c\n\n--c\n",
            "",
        ]
    ),
)
def test_line_soup(tokens, head):
    assert_same((head + "".join(tokens)).encode())


def test_part_limit_cut_where_the_feed_stops(monkeypatch):
    """Over the part limit, both stop at the same feed chunk, with the same warning."""
    parts = "".join(
        f"--b\r\nContent-Type: application/octet-stream; name=f{n}\r\n\r\npart {n}\r\n"
        for n in range(1000)
    )
    message = f"Content-Type: multipart/mixed; boundary=b\r\n\r\n{parts}--b--\r\n"
    for chunk in (97, 4096):
        monkeypatch.setattr(mime, "FEED_CHUNK", chunk)
        assert_same(message.encode(), max_parts=10)
        assert_same(message.replace("\r\n", "\r").encode(), max_parts=10)
    fast = outcome(message.encode(), "fast", max_parts=10)
    assert "the rest of the message was not parsed" in fast["warnings"][0]
    # Cut and parsed again: the header section's warnings are said once.
    big_header = "X-Big: " + "x" * (2 << 20) + "\r\n"
    assert_same((big_header + message).encode(), max_parts=10)
    fast = outcome((big_header + message).encode(), "fast", max_parts=10)
    assert [w.split(": ", 2)[-1][:24] for w in fast["warnings"][:3]] == [
        "1 header field(s) larger",
        "more than 10 parts; the ",
        "part limit (10) reached;",
    ]


def test_nested_beyond_the_depth_limit():
    levels = []
    for level in range(200):
        levels.append(f"Content-Type: multipart/mixed; boundary=b{level}\r\n\r\n")
        levels.append(f"--b{level}\r\n")
    message = "".join(levels) + "Content-Type: text/plain\r\n\r\ndeep\r\n"
    message += "".join(f"--b{level}--\r\n" for level in reversed(range(200)))
    assert_same(message.encode())
    assert_same(message.encode(), max_depth=5)


# ---------------------------------------------------------------------------
# The header text shortcut

_TOKENS_IN_HEADERS = st.text(
    alphabet="!#$%&'*+.^_`{|}~09AZaz-", min_size=1, max_size=6
) | st.sampled_from(
    ["multipart", "mixed", "boundary", "filename*", "utf-8''%E2%82%AC", "name*0*", "*"]
)
_QUOTED = st.text(alphabet=' !#$%&()*+,-./:;<=>?@[]^_`{|}~aZ09="\\', max_size=8).map(
    lambda text: f'"{text}"'
)
_WS = st.sampled_from(["", " ", "\t", "  ", " \t"])
_HEADER_PARAM = st.tuples(
    _WS, _WS, _TOKENS_IN_HEADERS, _WS, _WS, _TOKENS_IN_HEADERS | _QUOTED, _WS
).map(lambda t: f"{t[0]};{t[1]}{t[2]}{t[3]}={t[4]}{t[5]}{t[6]}")


@settings(max_examples=1000 * _SCALE, deadline=None)
@given(
    name=st.sampled_from(
        ["content-type", "content-disposition", "content-transfer-encoding"]
    ),
    first=_TOKENS_IN_HEADERS,
    second=_TOKENS_IN_HEADERS,
    space=_WS,
    params=st.lists(_HEADER_PARAM, max_size=4),
    tail=st.sampled_from(["", ";", "; ", " ", ";;", "; x", "=?a?b?c?="]),
)
def test_registry_text_equals_the_registry(name, first, second, space, params, tail):
    """mime._Part.get skips policy.default's parse for simple MIME header values."""
    if name == "content-type":
        value = f"{first}/{second}{space}" + "".join(params) + tail
    elif name == "content-disposition":
        value = f"{first}{space}" + "".join(params) + tail
    else:
        value = first + space
    text = mime._registry_text(name, value)
    if text is not None:
        assert text == str(email.policy.default.header_factory(name, value))


def test_registry_text_is_used_for_common_values():
    assert mime._registry_text("content-type", "multipart/mixed;boundary=b1") == (
        'multipart/mixed; boundary="b1"'
    )
    assert mime._registry_text("content-type", "text/plain; name*=x") is None


class _Stream(io.RawIOBase):
    """A source that cannot tell or seek, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def tell(self) -> int:
        raise OSError("not seekable")


def test_unseekable_source():
    message = _bench_messages(1)[0] if BENCH_GENERATOR.exists() else b""
    message = message or (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nhi\r\n--b--\r\n'
    )
    for engine in ("fast", "email"):
        info = mime.analyse(io.BufferedReader(_Stream(message)), engine=engine)
        assert dataclasses.asdict(info) == outcome(message, "email")


def _adversarial():
    import sys

    sys.path.insert(0, str(TEST_DATA / "adversarial"))
    import make_mime_cases

    return make_mime_cases


@pytest.mark.parametrize(
    "make, limits",
    [
        (lambda cases: cases.nested(30), {}),
        (lambda cases: cases.nested(300), {"max_depth": 305}),
        (lambda cases: cases.many_parts(1500), {}),
        (lambda cases: cases.many_parts(900), {}),
        (lambda cases: cases.long_header(2 * 2**20), {}),
        (lambda cases: cases.unclosed(), {}),
        (lambda cases: cases.base64_garbage()[0], {}),
        (lambda cases: cases.hostile_names(), {}),
        (lambda cases: cases.duplicate_names(), {}),
    ],
    ids=[
        "nested-30",
        "nested-300",
        "parts-1500",
        "parts-900",
        "header-2MB",
        "unclosed",
        "base64-garbage",
        "hostile-names",
        "duplicate-names",
    ],
)
def test_adversarial_cases(make, limits):
    """The hostile shapes of test_data/adversarial, at sizes the email engine takes."""
    assert_same(make(_adversarial()), **limits)


def test_a_splitter_fault_falls_back_to_the_email_package(monkeypatch):
    message = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nhi\r\n'
        b"--b\r\nContent-Type: application/octet-stream; name=file0.bin\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nQUJD\r\n--b--\r\n"
    )
    reference = outcome(message, "email")

    def broken(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(mime.mimebody.Splitter, "split", broken)
    fallen_back = outcome(message, "fast")
    assert (
        fallen_back["warnings"]
        == [
            "message: MIME splitter failed (ValueError: boom); decoded by the email "
            "package instead"
        ]
        + reference["warnings"]
    )
    fallen_back["warnings"] = reference["warnings"]
    assert fallen_back == reference
    assert [a["filename"] for a in reference["attachments"]] == ["file0.bin"]


def test_engine_choice(monkeypatch):
    message = b"Subject: x\r\n\r\nbody\r\n"
    monkeypatch.setenv("SMTPCORE_MIME_ENGINE", "Email-typo")
    assert [b.text for b in mime.analyse(io.BytesIO(message)).bodies] == ["body\n"]
    with pytest.raises(ValueError):
        mime.analyse(io.BytesIO(message), engine="typo")
