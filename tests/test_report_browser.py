"""report.html as an examiner uses it: driven in headless Chromium with Playwright.

Debian's chromium (``.ci/install-chromium``) and the playwright package (the test extra)
are needed; Playwright's own browser download is not. Skips when either is missing,
except under CI (CI=true), where a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import urllib.parse

import pytest

import report_fixtures

ROOT = pathlib.Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "test_data" / "captures"
COMMAND = pathlib.Path(sys.executable).with_name("smtpcore")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REAL = [
    "postfix-foxmail.pcap",
    "postfix-auth-fail-then-success.pcap",
    "postfix-pipelining-rejected-rcpt.pcap",
    "postfix-rset-multi-message.pcap",
]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

_MISSING = (
    "playwright is not installed (pip install -e '.[test]')"
    if sync_playwright is None
    else (
        None
        if os.path.exists(CHROMIUM)
        else "Chromium is not installed (.ci/install-chromium)"
    )
)
if _MISSING and os.environ.get("CI") == "true":
    raise RuntimeError(f"the report's browser test cannot run in CI: {_MISSING}")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The hostile capture and four real ones, extracted; the records as written."""
    evidence = tmp_path_factory.mktemp("evidence")
    report_fixtures.write_hostile_capture(evidence / "hostile.pcap")
    out = tmp_path_factory.mktemp("case") / "out"
    run = subprocess.run(
        [str(COMMAND), "extract", "-q", str(evidence / "hostile.pcap")]
        + [str(CAPTURES / name) for name in REAL]
        + ["-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode in (0, 1), run.stderr  # exit status of a gap: test_cli's job

    def load(name):
        return [json.loads(line) for line in (out / name).read_text().splitlines()]

    messages = load("messages.jsonl")

    def subject(start):  # identifiers depend on the scheme; subjects do not
        return next(m for m in messages if (m["subject"] or "").startswith(start))

    return {
        "out": out,
        "messages": messages,
        "credentials": load("credentials.jsonl"),
        "sessions": load("sessions.jsonl"),
        "hostile": subject("Invoice \u202e"),
        "foxmail": subject("邮件测试"),
        "pipelined": subject("Pipelined"),
    }


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A page that records every request and every console error it sees."""
    context = browser.new_context(viewport={"width": 1500, "height": 900})
    page = context.new_page()
    page.requests, page.errors = [], []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on(
        "console",
        lambda m: (
            page.errors.append(m.text) if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    assert not page.errors, page.errors  # no CSP violation, no script error
    remote = [
        u for u in page.requests if not u.startswith(("file:", "data:", "about:"))
    ]
    assert not remote, remote
    context.close()


def open_index(page, case, fragment="messages"):
    page.goto((case["out"] / "report.html").as_uri() + "#" + fragment)
    page.wait_for_selector("body[data-rendered-ms]")


def column(page, key):
    """The displayed text of one column of the table on screen, row by row."""
    # After a click the view is redrawn a moment later: wait for its columns.
    page.wait_for_selector(f'#grid thead th[data-key="{key}"]')
    keys = page.eval_on_selector_all(
        "#grid thead th", "ths => ths.map(th => th.dataset.key)"
    )
    i = keys.index(key)
    return page.eval_on_selector_all(
        "#grid tbody tr", f"trs => trs.map(tr => tr.cells[{i}].innerText)"
    )


def fill(page, name, value):
    """Types into a filter box and waits until the view has taken it (it debounces)."""
    page.fill(f"#f-{name}", value)
    wanted = f"{name}={urllib.parse.quote(value, safe='')}"
    page.wait_for_url(
        lambda url: ((wanted in url) if value else (f"{name}=" not in url))
    )


def record_alerts(record):
    """The flags the message page lists, from the record as written."""
    alerts = [
        "hidden characters in Subject",
        "hidden characters in From",
        "attachment: hidden characters in name: ⟨U+202E⟩",
        "attachment: executable content",
        "attachment: declared application/pdf, content is application/x-dosexec",
        "attachment: double extension .pdf.exe",
        "attachment: executable content",
    ]
    if record.get("reply_to_differs"):  # where the records carry the pivot fields
        alerts.insert(0, "Reply-To differs from From")
    return alerts


def times(page):
    """The time column as ISO text (shown as the date above the time of day)."""
    return [t.replace("\n", "T") for t in column(page, "t")]


def shown(page):
    return page.locator("#grid tbody tr").count()


def target(base_file: pathlib.Path, href: str) -> pathlib.Path:
    """The file a relative link points at, checked to stay relative."""
    assert not href.startswith(("/", "file:", "http:", "https:")), href
    path = urllib.parse.unquote(href.split("#")[0])
    return (base_file.parent / path).resolve()


def test_index_lists_every_transaction_in_time_order(page, case):
    hostile = case["hostile"]
    open_index(page, case)
    messages = case["messages"]
    assert shown(page) == len(messages) == 10
    count = page.text_content("#count")
    assert count == f"Showing 1–{len(messages)} of {len(messages)} mail transactions"
    assert times(page) == sorted(m["time"] for m in messages)
    assert column(page, "id")[0].splitlines() == [hostile["id"], hostile["session_id"]]
    # Sorting by time again turns the order round; by subject, empty subjects last.
    page.click("#grid th[data-key=t]")
    assert times(page) == sorted((m["time"] for m in messages), reverse=True)
    assert page.get_attribute("#grid th[data-key=t]", "aria-sort") == "descending"
    page.click("#grid th[data-key=sub]")
    subjects = column(page, "sub")
    with_subject = sorted(m["subject"] for m in messages if m["subject"])
    assert subjects[:-1] == [s.replace("\u202e", "⟨U+202E⟩") for s in with_subject]
    assert subjects[-1] == "(no subject)"  # the RSET transaction, no content: last
    assert page.url.endswith("#messages?dir=asc&sort=sub")  # the view can be linked


def test_filters_count_what_they_select(page, case):
    hostile, foxmail = case["hostile"]["id"], case["foxmail"]["id"]
    open_index(page, case)
    messages = case["messages"]
    fill(page, "sender", "evil.example")
    expected = [
        m for m in messages if "evil.example" in (m["mail_from"] + (m["from"] or ""))
    ]
    assert shown(page) == len(expected) == 3
    assert page.text_content("#count") == (
        f"Showing 1–3 of 3 mail transactions (filtered from {len(messages)})"
    )
    fill(page, "sender", "")
    page.select_option("#f-status", "incomplete")
    assert shown(page) == sum(not m["complete"] for m in messages) == 1
    assert column(page, "sub") == ["cut short"]
    assert column(page, "cmp")[0].startswith("no")
    page.select_option("#f-status", "refused")
    assert column(page, "sub") == ["refused one"]
    assert shown(page) == sum(m["accepted"] is False for m in messages)
    page.select_option("#f-status", "rcpt")
    assert shown(page) == sum(bool(m["rcpt_rejected"]) for m in messages) == 2
    page.select_option("#f-status", "")
    fill(page, "recipient", "carol@")  # To/Cc of one, a refused RCPT of another
    assert sorted(i.split()[0] for i in column(page, "id")) == sorted(
        [foxmail, case["pipelined"]["id"]]
    )
    fill(page, "recipient", "")
    page.select_option("#f-attachment", "dt:application/x-dosexec")
    assert column(page, "id")[0].startswith(hostile) and shown(page) == 1
    page.select_option("#f-attachment", "any")
    assert shown(page) == sum(bool(m["attachments"]) for m in messages) == 2
    page.select_option("#f-attachment", "")
    # Free text matches the displayed form, code points included.
    fill(page, "q", "U+202E")
    assert [i.split()[0] for i in column(page, "id")] == [hostile]
    fill(page, "q", "朱镕基")
    assert shown(page) == 1
    assert column(page, "id")[0].startswith(foxmail)
    page.click("#clear")
    assert shown(page) == len(messages)


def test_hostile_names_and_headers_show_code_points_and_flags(page, case):
    open_index(page, case)
    body = page.inner_text("body")
    assert "\u202e" not in body  # nowhere is the override character itself shown
    assert "invoiceexe.pdf" not in body
    row = page.locator("#grid tbody tr", has_text=case["hostile"]["id"])
    cell = row.locator("td.atts")
    attachments = cell.inner_text()
    assert "invoice⟨U+202E⟩fdp.exe" in attachments
    assert "application/x-dosexec declared application/octet-stream" in attachments
    assert "application/x-dosexec declared application/pdf" in attachments
    # Each flag a short tag, its full wording on hover (and on the message page).
    flags = cell.locator(".tag.warn")
    assert flags.all_inner_texts() == [
        "hidden characters",
        "executable",
        "type differs",
        ".pdf.exe",
        "executable",
    ]
    assert [flags.nth(i).get_attribute("title") for i in range(flags.count())] == [
        "hidden characters in name: ⟨U+202E⟩",
        "executable content",
        "declared application/pdf, content is application/x-dosexec",
        "double extension .pdf.exe",
        "executable content",
    ]
    flags = row.locator("td.flags").inner_text().splitlines()
    assert "hidden characters in Subject" in flags[:2]  # two shown, the rest counted
    assert flags[2] == f"+{len(record_alerts(case['hostile'])) - 2} more"
    assert row.locator("span.cp").first.inner_text() == "⟨U+202E⟩"
    assert row.get_attribute("class") == "flagged"
    # Markup in a header is text: the subject's </script> neither closed the data block
    # nor ran; the page has its six own script elements and its own title.
    subject = row.locator("td").nth(7).inner_text()
    assert subject == (
        "Invoice ⟨U+202E⟩txt.exe </script><script>document.title='pwned'</script>"
    )
    assert page.locator("script").count() == 6
    assert page.title() == "SMTP evidence — smtpcore report"
    assert "Accounts ⟨U+202E⟩gnp." in row.locator("td").nth(5).inner_text()


def test_message_page_links_resolve_to_the_files_written(page, case):
    out = case["out"]
    record = case["hostile"]
    mid, sid = record["id"], record["session_id"]
    open_index(page, case)
    link = page.locator("#grid tbody tr", has_text=mid).locator("a.subj")
    page_file = target(out / "report.html", link.get_attribute("href"))
    assert page_file == out / "report" / f"{mid}.html" and page_file.is_file()
    link.click()
    page.wait_for_selector("#transaction")
    assert page.url == page_file.as_uri()
    assert page.title() == f"{mid} — smtpcore report"
    header = (
        "() => getComputedStyle(document.querySelector('header.top')).backgroundColor"
    )
    assert page.evaluate(header) == "rgb(23, 35, 59)"  # report/report.css, allowed
    eml = target(page_file, page.get_attribute("#eml-link", "href"))
    assert eml == out / record["eml"]
    assert hashlib.sha256(eml.read_bytes()).hexdigest() == record["sha256"]
    files = page.locator("#attachments a.file")
    assert files.count() == len(record["attachments"]) == 3
    for i, attachment in enumerate(record["attachments"]):
        written = target(page_file, files.nth(i).get_attribute("href"))
        assert written == out / attachment["path"]
        assert hashlib.sha256(written.read_bytes()).hexdigest() == attachment["sha256"]
    text = page.inner_text("body")
    assert "\u202e" not in text
    assert "invoice⟨U+202E⟩fdp.exe" in page.inner_text("#attachments")
    assert record["sha256"] in page.inner_text("#transaction")
    assert "hunter2" in page.inner_text("#credentials")  # its session's AUTH PLAIN
    assert page.locator("#alerts li").all_inner_texts() == record_alerts(record)
    assert "Subject: =?UTF-8?B?" in page.inner_text("#raw-headers")
    # The HTML body: sandboxed, nothing active, links written out, never live.
    frame_element = page.locator("iframe.html")
    assert frame_element.get_attribute("sandbox") == ""
    frame = page.frames[1]
    frame.wait_for_selector("p")
    assert "[link: https://evil.example/pay?id=1]" in frame.inner_text("body")
    assert frame.locator("a[href], script, iframe, form, base, [onclick]").count() == 0
    assert frame.get_attribute("img", "alt").startswith("[remote image not loaded")
    assert page.title() == f"{mid} — smtpcore report"
    assert "https://evil.example/pay?id=1" in page.inner_text("ol.links")
    # Back to the session this message came in, then to that session's messages.
    page.click("#session-link")
    page.wait_for_selector("#grid tbody tr")
    assert page.url.endswith(f"report.html#sessions?session={sid}")
    assert shown(page) == 1 and column(page, "sid")[0].startswith(sid)
    page.locator("#grid tbody tr td").first.locator("a", has_text="msg").click()
    assert page.url.endswith(f"#messages?session={sid}")
    assert column(page, "id") == [f"{mid}\n{sid}"]
    assert page.locator("#chips .chip").inner_text().startswith(f"session: {sid}")


def test_credentials_and_sessions_tables_link_both_ways(page, case):
    credentials, sessions = case["credentials"], case["sessions"]
    open_index(page, case, "credentials")
    assert shown(page) == len(credentials) == 6
    assert times(page) == sorted(c["time"] for c in credentials)
    page.select_option("#f-outcome", "failed")
    failed = [c for c in credentials if c["success"] is False]
    assert shown(page) == len(failed) == 1
    assert column(page, "pw") == ["not-the-password"]
    page.locator("#grid tbody a", has_text="1 msg").click()
    sid = failed[0]["session_id"]
    assert page.url.endswith(f"#messages?session={sid}")
    assert column(page, "sub") == ["Failed login then success"]
    page.goto((case["out"] / "report.html").as_uri() + "#sessions")
    page.wait_for_selector("#grid tbody tr")
    assert shown(page) == len(sessions)
    page.select_option("#f-status", "authfail")
    assert column(page, "sid")[0].startswith(sid) and shown(page) == 1
    page.locator("#grid tbody a", has_text="2 auth").first.click()
    assert page.url.endswith(f"#credentials?session={sid}")
    assert shown(page) == sum(c["session_id"] == sid for c in credentials) == 2


def test_activity_chart_counts_and_leads_to_messages(page, case):
    open_index(page, case, "activity")
    page.wait_for_selector("#chart svg")
    counts = {}
    for name in page.eval_on_selector_all(
        "#chart g.series", "gs => gs.map(g => g.dataset.series)"
    ):
        counts[name] = sum(
            int(x)
            for x in page.eval_on_selector_all(
                f'#chart g.series[data-series="{name}"] rect',
                "rs => rs.map(r => r.dataset.count)",
            )
        )
    credentials = case["credentials"]
    assert counts == {
        "Messages": len(case["messages"]),
        "Logins accepted": sum(c["success"] is True for c in credentials),
        "Logins failed or unanswered": sum(
            c["success"] is not True for c in credentials
        ),
        "Sessions (start)": len(case["sessions"]),
    }
    bar = page.locator('#chart g.series[data-series="Messages"] rect').first
    in_bar = int(bar.get_attribute("data-count"))
    bar.click()
    page.wait_for_selector("#grid tbody tr")
    assert page.url.split("#")[1].startswith("messages?from=")
    assert shown(page) == in_bar


def test_output_folder_moved_whole_keeps_working(page, case, tmp_path):
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(case["out"], moved)
    page.goto((moved / "report.html").as_uri())
    page.wait_for_selector("body[data-rendered-ms]")
    mid = case["foxmail"]["id"]
    page.locator("#grid tbody tr", has_text=mid).locator("a.subj").click()
    page.wait_for_selector("#attachments")
    assert page.url == (moved / "report" / f"{mid}.html").as_uri()
    assert "邮件测试：朱镕基与陶喆的季度报告" in page.inner_text("h1")
    hrefs = page.eval_on_selector_all(
        "a[href]", "as => as.map(a => a.getAttribute('href'))"
    )
    for href in hrefs:
        assert target(moved / "report" / f"{mid}.html", href).exists(), href
    assert "会议纪要.txt" in page.inner_text("#attachments")
    assert "declared application/octet-stream" not in page.inner_text("#attachments")


def test_pivot_headers_of_a_lab_bec_message(page, tmp_path):
    """Reply-To, Sender, the Received chain of test_data/pivot/bec.pcap, as recorded."""
    out = tmp_path / "out"
    run = subprocess.run(
        [str(COMMAND), "extract", "-q", str(ROOT / "test_data/pivot/bec.pcap")]
        + ["-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    (record,) = [json.loads(line) for line in (out / "messages.jsonl").open()]
    page.goto((out / "report.html").as_uri())
    page.wait_for_selector("body[data-rendered-ms]")
    flags = page.locator("#grid tbody tr td.flags").inner_text().splitlines()
    assert flags == [
        "Reply-To differs from From",
        "From differs from the envelope sender",
    ]
    page.locator("#grid tbody a.subj").click()
    page.wait_for_selector("#fields")
    fields = dict(
        line.split("\t", 1) for line in page.inner_text("#fields").splitlines()
    )
    assert fields["Reply-To"] == record["reply_to"]
    assert fields["Sender"] == record["sender"]
    assert fields["User agent"] == record["user_agent"]
    assert fields["X-Originating-IP"] == record["x_originating_ip"]
    hops = page.locator("#hops tbody tr")
    assert hops.count() == len(record["received"]) == 3
    first = hops.nth(0).locator("td").all_inner_texts()
    newest = record["received"][0]
    assert first == ["1"] + [newest[f] or "" for f in ("from", "ip", "by", "with")] + [
        newest["id"],
        newest["for"],
        newest["date"],
    ]
    assert page.locator("#alerts li").all_inner_texts()[:2] == flags
