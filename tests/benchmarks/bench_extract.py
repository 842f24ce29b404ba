#!/usr/bin/env python3
"""Benchmark: smtpcore extract against `tshark --export-objects imf`, in the same run.

Usage: .venv/bin/python tests/benchmarks/bench_extract.py [--size-mb 200] [--keep DIR]

Writes the deterministic benchmark capture with ../shared/bench/make_smtp_pcap.py (with
its ground truth), runs both tools on it, checks smtpcore's messages against the truth
(SHA-256 of every message as sent, envelopes, credentials) and prints the time ratio and
each tool's peak memory. Speed is measured here, never asserted in the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
GENERATOR = ROOT.parent / "shared" / "bench" / "make_smtp_pcap.py"


def timed(command: list[str]) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (KiB) of a command, via GNU time."""
    run = subprocess.run(
        ["/usr/bin/time", "-v", *command], capture_output=True, text=True
    )
    wall = re.search(
        r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", run.stderr
    )
    hours, minutes, seconds = wall.groups()
    elapsed = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    rss = int(
        re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1)
    )
    return elapsed, rss, run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--capture", help="use this capture (with --truth) instead")
    parser.add_argument("--truth")
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args()

    work = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="smtpbench-"))
    work.mkdir(parents=True, exist_ok=True)
    capture = (
        pathlib.Path(args.capture) if args.capture else work / "evidence" / "bench.pcap"
    )
    capture.parent.mkdir(parents=True, exist_ok=True)
    truth = pathlib.Path(args.truth) if args.truth else work / "truth.jsonl"
    if not args.capture:
        subprocess.run(
            [
                sys.executable,
                str(GENERATOR),
                str(capture),
                "--size-mb",
                str(args.size_mb),
                "--truth",
                str(truth),
            ],
            check=True,
        )
    size_mb = capture.stat().st_size / 1e6

    # smtpcore writes nothing beside its input: results go to a folder of their own.
    results = pathlib.Path(tempfile.mkdtemp(prefix="smtpbench-results-"))
    out = results / "smtpcore-out"
    shutil.rmtree(out, ignore_errors=True)
    smtpcore = shutil.which("smtpcore", path=str(ROOT / ".venv" / "bin")) or "smtpcore"
    ours, our_rss, run = timed(
        [smtpcore, "extract", "-q", str(capture), "-o", str(out)]
    )
    if run.returncode not in (0, 1):
        print(run.stdout, run.stderr, file=sys.stderr)
        return 1

    expected = [json.loads(line) for line in truth.open()]
    found = [json.loads(line) for line in (out / "messages.jsonl").open()]
    want = sorted(e["sha256"] for e in expected)
    # The generator ends DATA with "message CRLF . CRLF" although its message already
    # ends in CRLF, so under RFC 5321 the mail data carries one more empty line than
    # the message it hashed. Compare both ways and say which matched.
    exact, less_crlf = set(), set()
    for record in found:
        if record["eml"]:
            data = (out / record["eml"]).read_bytes()
            exact.add(hashlib.sha256(data).hexdigest())
            if data.endswith(b"\r\n\r\n"):
                less_crlf.add(hashlib.sha256(data[:-2]).hexdigest())
    matched = sum(1 for digest in want if digest in exact or digest in less_crlf)
    print(f"capture: {capture} ({size_mb:,.1f} MB)")
    print(
        f"messages: truth {len(want)}, smtpcore {len(found)}, matching the truth "
        f"{matched} ({len(set(want) & exact)} as hashed, "
        f"{len(set(want) & less_crlf)} once the generator's extra CRLF is removed)"
    )
    correct = matched == len(want) == len(found)

    tshark_line = "tshark: not installed"
    if shutil.which("tshark"):
        objects = results / "tshark-imf"
        shutil.rmtree(objects, ignore_errors=True)
        theirs, their_rss, run = timed(
            [
                "tshark",
                "-n",
                "-q",
                "-r",
                str(capture),
                "--export-objects",
                f"imf,{objects}",
            ]
        )
        exported = len(list(objects.iterdir())) if objects.exists() else 0
        tshark_line = (
            f"tshark --export-objects imf: {theirs:.2f} s, peak RSS "
            f"{their_rss / 1024:,.0f} MiB, {exported} objects; "
            f"smtpcore/tshark time ratio {ours / theirs:.3f}"
        )
    print(
        f"smtpcore extract: {ours:.2f} s ({size_mb / ours:,.1f} MB/s), "
        f"peak RSS {our_rss / 1024:,.0f} MiB"
    )
    print(tshark_line)
    shutil.rmtree(results, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
