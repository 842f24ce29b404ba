#!/usr/bin/env python3
"""Benchmark: MIME decoding of the benchmark's messages, fast splitter against email.

Usage: .venv/bin/python tests/benchmarks/bench_mime.py [--messages 300] [--rounds 5]
           [--work /dev/shm/bench_mime]
       .venv/bin/python tests/benchmarks/bench_mime.py --capture SMTP.pcap
           --truth SMTP.truth.jsonl [--before /path/to/old/checkout] [--jobs 1,2]

Builds messages exactly as ../shared/bench/make_smtp_pcap.py does (a text part and a
base64 attachment each), writes them as .eml files under --work (the worker's case:
``mime.analyse`` on an open file) and decodes all of them with each engine in turn,
alternating, --rounds times. Prints each engine's median seconds per round and the
median of the paired ratios (fast / email, both measured in the same round), and
checks that both engines gave equal results.

With --capture, ``smtpcore extract -q -jN`` runs on the capture instead, alternating
between variants: this tree with each engine (SMTPCORE_MIME_ENGINE), and with
--before another checkout (e.g. main before the splitter) on PYTHONPATH. Each run
writes a fresh folder under --work and is checked against the generator's truth
(every message byte-exact, as bench_compare.py checks); printed are the median
time, the median of the ratios to the first variant paired within each round, and
the peak RSS of the process tree. Speed is measured here,
never asserted in the test suite.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import pathlib
import random
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from smtpcore import mime  # noqa: E402

GENERATORS = [
    ROOT.parent / "shared" / "bench" / "make_smtp_pcap.py",
    pathlib.Path("/work/shared/bench/make_smtp_pcap.py"),
]


def benchmark_messages(count: int) -> list[bytes]:
    """The generator's messages, unstuffed: the bytes smtpcore writes as .eml."""
    path = next(path for path in GENERATORS if path.exists())
    spec = importlib.util.spec_from_file_location("make_smtp_pcap", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = random.Random(1)
    out = []
    for n in range(count):
        exchange, _ = module.smtp_session(rng, n)
        data = next(b for sent, b in exchange if sent and b.endswith(b"\r\n.\r\n"))
        lines = data[: -len(b".\r\n")].split(b"\r\n")
        out.append(
            b"\r\n".join(line[1:] if line[:1] == b"." else line for line in lines)
        )
    return out


def decode_all(paths: list[pathlib.Path], engine: str) -> tuple[float, list]:
    results = []
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb") as handle:
            info = mime.analyse(
                handle, keep_payloads=True, size=path.stat().st_size, engine=engine
            )
        results.append(dataclasses.asdict(info))
    return time.perf_counter() - start, results


def extract_rounds(args: argparse.Namespace) -> None:
    """smtpcore extract on a capture, variants alternating, checked against truth."""
    sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))
    from bench_compare import check_smtpcore, run_measured

    variants = {engine: (ROOT, engine) for engine in args.engines.split(",")}
    if args.before:
        variants["before"] = (pathlib.Path(args.before).resolve(), "email")
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    saved = dict(os.environ)
    reference = next(iter(variants))
    for jobs in args.jobs.split(","):
        times: dict[str, list[float]] = {name: [] for name in variants}
        peaks: dict[str, list[int]] = {name: [] for name in variants}
        for round_ in range(args.rounds):
            names = list(variants)
            names = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in names:
                tree, engine = variants[name]
                out = work / f"out-{name}-{jobs}"
                shutil.rmtree(out, ignore_errors=True)
                os.environ["SMTPCORE_MIME_ENGINE"] = engine
                os.environ["PYTHONPATH"] = os.pathsep.join(
                    [str(tree), str(tree / "plugins")]
                )
                command = [sys.executable, "-m", "smtpcore.cli", "extract", "-q"]
                command += ["-j", jobs, args.capture, "-o", str(out)]
                try:
                    seconds, peak, _ = run_measured(command, work)
                finally:
                    os.environ.clear()
                    os.environ.update(saved)
                times[name].append(seconds)
                peaks[name].append(peak)
                check = check_smtpcore(out, pathlib.Path(args.truth))
                if "MISMATCH" in check:
                    sys.exit(f"{name} -j{jobs}: {check}")
                shutil.rmtree(out)
        print(f"-j{jobs}, {args.rounds} rounds, every run {check}")
        for name, values in times.items():
            ratios = [a / b for a, b in zip(values, times[reference])]
            print(
                f"  {name:7} median {statistics.median(values):.2f} s, "
                f"÷ {reference} (paired) {statistics.median(ratios):.3f}, "
                f"peak RSS {max(peaks[name]) / 2**20:.0f} MiB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", default="/dev/shm/bench_mime")
    parser.add_argument("--capture", help="run smtpcore extract on this capture")
    parser.add_argument("--truth", help="the capture's truth (with --capture)")
    parser.add_argument("--before", help="another checkout to compare (--capture)")
    parser.add_argument("--jobs", default="1,2", help="-j values (with --capture)")
    parser.add_argument(
        "--engines", default="fast,email", help="engines of this tree (--capture)"
    )
    args = parser.parse_args()
    if args.capture:
        extract_rounds(args)
        return
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    paths = []
    total = 0
    for n, message in enumerate(benchmark_messages(args.messages)):
        path = work / f"{n}.eml"
        path.write_bytes(message)
        paths.append(path)
        total += len(message)
    times: dict[str, list[float]] = {"fast": [], "email": []}
    ratios = []
    try:
        for round_ in range(args.rounds):
            order = ["fast", "email"] if round_ % 2 == 0 else ["email", "fast"]
            results = {}
            for engine in order:
                seconds, results[engine] = decode_all(paths, engine)
                times[engine].append(seconds)
            if results["fast"] != results["email"]:
                sys.exit("the engines disagree")
            ratios.append(times["fast"][-1] / times["email"][-1])
    finally:
        shutil.rmtree(work)
    print(f"{args.messages} messages, {total / 2**20:.1f} MiB, {args.rounds} rounds")
    for engine, values in times.items():
        median = statistics.median(values)
        print(
            f"{engine:6} median {median:.3f} s "
            f"({median / args.messages * 1e3:.2f} ms/message, "
            f"{total / 2**20 / median:.0f} MiB/s)"
        )
    print(f"fast/email: median of paired ratios {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
