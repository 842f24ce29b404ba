"""How long report.html takes to draw in Chromium, and screenshots of what it shows.

Usage: bench_report.py OUTDIR [--shots FOLDER] [--runs 3] [--rebuild]

OUTDIR is the output folder of ``smtpcore extract``. Prints, per run, the time from
navigation to the first page of rows on screen (measured by the page itself with
performance.now(), and by the driver around it), then the time to sort by subject and
to filter by a text. Needs Debian's chromium and the playwright package (no download).
--rebuild first writes OUTDIR/report-rebuilt.html from the JSONL records with the current
code (message pages as they are), to time a changed index without extracting again.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import time

from playwright.sync_api import sync_playwright

from smtpcore.report import ReportBuilder, page_name

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=pathlib.Path)
    parser.add_argument("--shots", type=pathlib.Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--label", default="")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    index = (args.outdir / "report.html").resolve()
    if args.rebuild:
        index = rebuild(args.outdir).resolve()
    size = index.stat().st_size
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        loads, own, sorts, filters = [], [], [], []
        for _ in range(args.runs):
            page.goto("about:blank")
            started = time.perf_counter()
            page.goto(index.as_uri() + "#messages")
            page.wait_for_selector("body[data-rendered-ms]")
            loads.append(time.perf_counter() - started)
            own.append(int(page.get_attribute("body", "data-rendered-ms")) / 1000)
            started = time.perf_counter()
            page.click("#grid th[data-key=sub]")
            page.wait_for_selector("#grid th[data-key=sub][aria-sort]")
            sorts.append(time.perf_counter() - started)
            started = time.perf_counter()
            page.fill("#f-q", "zzz-no-such-text")
            page.wait_for_selector("#count:has-text('Showing 0')")
            filters.append(
                time.perf_counter() - started - 0.15
            )  # less the typing pause
        count = page.text_content("#count")
        print(
            f"{args.label} report.html {size / 1e6:.1f} MB; {count}\n"
            f"  first rows on screen: page's own clock {statistics.median(own):.2f} s, "
            f"driver {statistics.median(loads):.2f} s (median of {args.runs}: "
            f"{', '.join(f'{x:.2f}' for x in loads)})\n"
            f"  sort by subject {statistics.median(sorts):.3f} s, "
            f"text filter {statistics.median(filters):.3f} s"
        )
        if args.shots:
            args.shots.mkdir(parents=True, exist_ok=True)
            label = args.label or "report"
            page.goto("about:blank")
            page.goto(index.as_uri() + "#messages")
            page.wait_for_selector("body[data-rendered-ms]")
            page.screenshot(path=str(args.shots / f"{label}-index.png"))
            page.goto(index.as_uri() + "#activity")
            page.wait_for_selector("#chart svg")
            page.screenshot(path=str(args.shots / f"{label}-chart.png"))
            page.goto(index.as_uri() + "#credentials")
            page.wait_for_selector("#grid tbody tr")
            page.screenshot(path=str(args.shots / f"{label}-credentials.png"))
            page.goto(index.as_uri() + "#sessions")
            page.wait_for_selector("#grid tbody tr")
            page.screenshot(path=str(args.shots / f"{label}-sessions.png"))
            page.goto("about:blank")
            page.goto(index.as_uri() + "#messages")
            page.wait_for_selector("body[data-rendered-ms]")
            page.click("#grid tbody tr a.subj")
            page.wait_for_selector("#transaction")
            for frame in page.frames[1:]:  # HTML bodies: let them paint first
                frame.wait_for_load_state()
            # A viewport as tall as the page: full-page captures leave sandboxed
            # frames (their own process) blank.
            height = page.evaluate("() => document.documentElement.scrollHeight")
            page.set_viewport_size({"width": 1600, "height": height})
            page.wait_for_timeout(300)
            page.screenshot(path=str(args.shots / f"{label}-message.png"))
        browser.close()


def rebuild(outdir: pathlib.Path) -> pathlib.Path:
    builder = ReportBuilder()

    def records(name):
        with open(outdir / name, encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)

    for record in records("credentials.jsonl"):
        builder.add_credential(record)
    for record in records("messages.jsonl"):
        builder.add_message(record, None, page=page_name(record["id"]))
    for record in records("sessions.jsonl"):
        builder.add_session(record)
    target = outdir / "report-rebuilt.html"
    with open(target, "wb") as handle:
        builder.write(handle, [])
    return target


if __name__ == "__main__":
    main()
