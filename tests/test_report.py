"""The report's building blocks without a browser: code points, type flags, inert HTML,
the data blocks, the pages written and their Content-Security-Policy."""

from __future__ import annotations

import base64
import hashlib
import html
import html.parser
import io
import json
import pathlib
import re
import subprocess
import sys

import jinja2
import pytest

import report_fixtures
from smtpcore import mime, report
from smtpcore.report import display, json_block
from smtpcore.report.sanitize import inert_html

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMAND = pathlib.Path(sys.executable).with_name("smtpcore")


def test_visible_shows_hidden_characters_by_code_point_and_escapes_markup():
    shown = str(display.visible("invoice\u202efdp.exe <b>&"))
    assert "\u202e" not in shown
    assert shown == (
        'invoice<span class="cp" title="RIGHT-TO-LEFT OVERRIDE">⟨U+202E⟩</span>'
        "fdp.exe &lt;b&gt;&amp;"
    )
    assert display.plain("a\u200bb\x00c\u2066") == "a⟨U+200B⟩b⟨U+0000⟩c⟨U+2066⟩"
    assert display.plain("报价单 2024.xlsx") == "报价单 2024.xlsx"  # CJK is not hidden
    assert str(display.visible_block("a\tb\nc\rd")) == (
        'a\tb\nc<span class="cp" title="control or unassigned character">'
        "⟨U+000D⟩</span>d"
    )
    assert display.has_hidden("x\u202ey") and not display.has_hidden("x y")


@pytest.mark.parametrize(
    "attachment, flags",
    [
        (
            {
                "filename": "invoice\u202efdp.exe",
                "content_type": "application/octet-stream",
                "detected_type": "application/x-dosexec",
            },
            ["hidden characters in name: ⟨U+202E⟩", "executable content"],
        ),
        (
            {
                "filename": "report.pdf.exe",
                "content_type": "application/pdf",
                "detected_type": "application/x-dosexec",
            },
            [
                "declared application/pdf, content is application/x-dosexec",
                "double extension .pdf.exe",
                "executable content",
            ],
        ),
        (
            {
                "filename": "scan.pdf",
                "content_type": "application/octet-stream",
                "detected_type": "application/x-dosexec",
            },
            ["name ends .pdf, content is application/x-dosexec", "executable content"],
        ),
        (  # a .docx is a ZIP archive: no lie
            {
                "filename": "offer.docx",
                "detected_type": "application/zip",
                "content_type": "application/vnd.openxmlformats-officedocument"
                ".wordprocessingml.document",
            },
            [],
        ),
        (
            {
                "filename": "logs.tar.gz",
                "content_type": "application/gzip",
                "detected_type": "application/gzip",
            },
            [],
        ),
        (
            {
                "filename": "report.2024.pdf",
                "content_type": "application/pdf",
                "detected_type": "application/pdf",
            },
            [],
        ),
        (
            {
                "filename": "photo.jpg",
                "content_type": "image/jpeg",
                "detected_type": "image/png",
            },
            [
                "declared image/jpeg, content is image/png",
                "name ends .jpg, content is image/png",
            ],
        ),
        ({"filename": None, "content_type": "text/plain", "detected_type": None}, []),
    ],
)
def test_attachment_flags(attachment, flags):
    assert display.attachment_flags(attachment) == flags


def test_source_parts_split_image_path_and_deleted():
    assert display.source_parts("/cases/disk.E01:/p1/Users/x/trace.pcap (deleted)") == {
        "image": "/cases/disk.E01",
        "path": "/p1/Users/x/trace.pcap",
        "deleted": True,
    }
    assert display.source_parts("/cases/disk.E01:/p1/mail.zip:/out/trace.pcap") == {
        "image": "/cases/disk.E01",
        "path": "/p1/mail.zip:/out/trace.pcap",  # nested containers stay in the path
        "deleted": False,
    }
    assert display.source_parts("/cases/trace.pcap") == {
        "image": None,
        "path": "/cases/trace.pcap",
        "deleted": False,
    }


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attributes = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]


def test_inert_html_keeps_the_look_and_drops_everything_active():
    inert, links = inert_html(
        report_fixtures.HTML_BODY
        + '<style>p > a { color: red }</style><img src="data:image/png;base64,AAAA">'
        + '<a href="https://x.example/\u202eexe.pdf">x</a>'
    )
    parsed = _Tags()
    parsed.feed(inert)
    assert set(parsed.tags) == {"p", "a", "span", "img", "input", "style"}
    assert {"href", "onclick", "action"}.isdisjoint(parsed.attributes)
    assert "pwned" not in inert
    assert links == ["https://evil.example/pay?id=1", "https://x.example/\u202eexe.pdf"]
    assert "[link: https://evil.example/pay?id=1]" in inert
    assert "[link: https://x.example/⟨U+202E⟩exe.pdf]" in inert
    assert 'alt="[remote image not loaded: https://evil.example/track.png]"' in inert
    assert '<img src="data:image/png;base64,AAAA">' in inert
    assert "p > a { color: red }" in inert


def test_json_block_cannot_close_its_script_element():
    value = {"s": "</script><script>alert(1)</script>&\u2028\u202e\udcff"}
    text = json_block(value)
    assert not set("<>&") & set(text)
    assert "\u2028" not in text and "\u202e" not in text
    assert json.loads(text) == value


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    evidence = tmp_path_factory.mktemp("evidence")
    report_fixtures.write_hostile_capture(evidence / "hostile.pcap")
    out = tmp_path_factory.mktemp("case") / "out"
    run = subprocess.run(
        [str(COMMAND), "extract", "-q", str(evidence / "hostile.pcap"), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode in (0, 1), run.stderr
    return out


def ids(out):
    """Message identifiers in the order of the capture (their scheme is not ours)."""
    with open(out / "messages.jsonl", encoding="utf-8") as handle:
        return [json.loads(line)["id"] for line in handle]


def test_index_allows_only_its_own_script(out):
    page = (out / "report.html").read_text(encoding="utf-8")
    csp = html.unescape(
        re.search(r'Content-Security-Policy" content="([^"]+)"', page)[1]
    )
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1  # the five others are type="application/json" data
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert csp.startswith(f"default-src 'none'; script-src 'sha256-{digest}'; ")
    assert "unsafe-inline" not in csp and "http" not in csp
    data = re.search(
        r'<script type="application/json" id="d-messages">(.*?)</script>', page, re.S
    )[1]
    rows = json.loads(data)
    assert [r["id"] for r in rows] == ids(out) and len(rows) == 3
    assert rows[0]["sub"] == report_fixtures.SUBJECT
    assert rows[0]["p"] == f"report/{rows[0]['id']}.html"
    assert "\u202e" not in page  # only \u escapes in the data, nothing raw


def test_message_pages_are_written_hashed_and_script_free(out):
    manifest = json.loads((out / "manifest.json").read_text())
    hostile, refused, gappy = ids(out)
    for message in (hostile, refused, gappy):
        relative = f"report/{message}.html"
        data = (out / relative).read_bytes()
        assert manifest["files"][relative] == hashlib.sha256(data).hexdigest()
        text = data.decode()
        assert "<script" not in text.lower().replace("&lt;script", "")
        csp = re.search(r'Content-Security-Policy" content="([^"]+)"', text)[1]
        assert html.unescape(csp) == (
            "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src data:"
        )
    assert (
        manifest["files"]["report/report.css"]
        == hashlib.sha256((out / "report/report.css").read_bytes()).hexdigest()
    )  # one stylesheet for all the pages
    page = (out / f"report/{hostile}.html").read_text()
    assert '<link rel="stylesheet" href="report.css">' in page
    assert "\u202e" not in page
    assert (
        'invoice<span class="cp" title="RIGHT-TO-LEFT OVERRIDE">⟨U+202E⟩</span>fdp.exe'
        in page
    )
    assert f'href="../attachments/{hostile}/invoicefdp.exe"' in page
    assert f'href="../eml/{hostile}.eml"' in page
    assert "&lt;/script&gt;&lt;script&gt;document.title=" in page
    gap = (out / f"report/{gappy}.html").read_text()
    assert "no — 100 bytes missing from the capture" in gap


def test_record_fields_are_looked_up_as_jinja_itself_looks_them_up():
    """The report's environment takes a dict's key first; every lookup must still
    give what Jinja's own order (attribute, then key) gives."""
    source = (
        "{{ r.subject }}|{{ r.get('subject') }}|{{ r['from'] }}|{{ r.items()|list }}"
        "|{{ r.keys is defined }}|{{ o.real }}|{{ s.subject }}|{{ s.get('x', 1) }}"
    )

    class Sub(dict):
        pass

    values = {
        "r": {"subject": "<Hi>", "from": "a@b", "items": "shadowed", "get": 5},
        "o": 3,
        "s": Sub(subject="sub"),
    }
    stock = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    ours = report._environment()
    assert ours.from_string(source).render(**values) == stock.from_string(
        source
    ).render(**values)
    for missing in ("{{ r.nothing }}", "{{ r.nothing.deeper }}"):
        for environment in (stock, ours):
            with pytest.raises(jinja2.UndefinedError):
                environment.from_string(missing).render(**values)


def test_message_page_blocks_are_the_template_rendered_whole(out):
    records = [json.loads(line) for line in open(out / "messages.jsonl")]
    template = report._environment().get_template("message.html")
    for record in records:
        with open(out / record["eml"], "rb") as handle:
            info = mime.analyse(handle, keep_payloads=True)
        blocks = list(report.message_page(out, record, info, []))
        whole = template.render(**report._message_context(out, record, info, []))
        assert b"".join(blocks) == whole.encode("utf-8")
        assert all(blocks)
        # As the run wrote it, up to its session's credentials (none given here).
        written = (out / "report" / f"{record['id']}.html").read_bytes()
        cut = b"<h2>Credentials of session"
        assert b"".join(blocks).split(cut)[0] == written.split(cut)[0]


def _compiled_here() -> jinja2.Environment:
    """The report's environment, compiling its templates itself."""
    env = report._environment.__wrapped__()
    env.bytecode_cache = None
    return env


def test_templates_compiled_at_build_time_render_as_compiled_here(out, monkeypatch):
    """setup.py compiled every template (`make setup` again after changing one), and
    the pages and the index rendered from that code are byte for byte the ones a
    fresh compile renders."""
    env, here = report._environment(), _compiled_here()
    names = env.list_templates(extensions=["html"])
    assert names == ["index.html", "message.html"]
    for name in names:
        source, filename, _ = env.loader.get_source(env, name)
        bucket = env.bytecode_cache.get_bucket(env, name, filename, source)
        assert bucket.code is not None, f"{name}: not compiled at build time"
        assert bucket.code.co_filename == f"smtpcore/report/templates/{name}"
    records = [json.loads(line) for line in open(out / "messages.jsonl")]
    assert len(records) >= 3
    for record in records:
        with open(out / record["eml"], "rb") as handle:
            info = mime.analyse(handle, keep_payloads=True)
        context = report._message_context(out, record, info, [])
        page = env.get_template("message.html").render(**context)
        assert page == here.get_template("message.html").render(**context)
        # As the run wrote it, up to its session's credentials (none given here).
        written = (out / "report" / f"{record['id']}.html").read_text("utf-8")
        cut = "<h2>Credentials of session"
        assert written.split(cut)[0] == page.split(cut)[0]

    def index() -> bytes:
        builder = report.ReportBuilder()
        for record in records:
            builder.add_message(record, None, report.page_name(record["id"]))
        written = io.BytesIO()
        builder.write(written, ["a warning <b>"])
        return written.getvalue()

    built = index()
    monkeypatch.setattr(report, "_environment", lambda: here)
    assert index() == built
    assert built.count(b'"sub":') == len(records)


def test_compiled_templates_not_matching_are_compiled_afresh():
    """Code compiled from another source, or by an environment set up otherwise, is
    not used; and a template compiled at run time is not written for the next run."""
    env = report._environment()
    source, filename, _ = env.loader.get_source(env, "message.html")
    cache = env.bytecode_cache
    assert cache.get_bucket(env, "message.html", filename, source).code is not None
    changed = source.replace("<h2>", "<h2 class=x>", 1)
    assert changed != source
    assert cache.get_bucket(env, "message.html", filename, changed).code is None
    other = report._environment.__wrapped__()
    other.trim_blocks = False
    assert cache.get_bucket(other, "message.html", filename, source).code is None
    other = report._environment.__wrapped__()
    other.filters["extra"] = str
    assert cache.get_bucket(other, "message.html", filename, source).code is None
    templates = pathlib.Path(report.__file__).parent / "templates"
    before = {path: path.read_bytes() for path in templates.iterdir()}
    other = report._environment.__wrapped__()
    other.loader = jinja2.DictLoader({"message.html": "<h2 class=x>{{ n }}</h2>"})
    assert other.get_template("message.html").render(n=1) == "<h2 class=x>1</h2>"
    assert {path: path.read_bytes() for path in templates.iterdir()} == before


def test_visible_escapes_printable_runs_whole_and_hidden_ones_by_code_point():
    """The fast path (whole printable runs) gives what character by character gives."""
    import re

    from smtpcore.report import display

    def per_char(text, keep):  # the definition: each character on its own
        out = []
        for char in text:
            if char not in keep and display.hidden_char(char):
                out.append(display.code_point(char))
            else:
                out.append(str(display.escape(char)))
        return "".join(out)

    samples = [
        "plain <b>&amp;</b> 'quoted' \"text\"",
        "line one\nline\ttwo\r\nthree",
        "invoice\u202efdp.exe and zero\u200bwidth, nbsp\u00a0here",
        "中文 测试\x00\x1b[31m\u2028end",
    ]
    for text in samples:
        for keep, render in (("", display.visible), ("\n\t", display.visible_block)):
            shown = str(render(text))
            flat = re.sub(
                r'<span class="cp" title="[^"]*">(⟨U\+[0-9A-F]+⟩)</span>', r"\1", shown
            )
            assert flat == per_char(text, keep), text
