#!/usr/bin/env python3
"""What the pcap parser adds to a stock log2timeline run over a disk image.

Usage: .venv/bin/python tests/benchmarks/bench_plaso.py [--work /dev/shm/plasobench]
           [--workload smtp200] [--repeat 3] [--baseline REV]

The workload's capture (see bench_compare.py) is put alone into an ext4 image
(`mke2fs -d`, no mounting), then log2timeline runs over it with `--parsers filestat`
and with `--parsers filestat,pcap`, alternating, --repeat times, each into a fresh
storage file on WORK (use tmpfs). Reported: median wall times, the median of the
paired ratios pcap/filestat-only, peak RSS of the process tree, and the number of
smtp: events the pcap run stored (pinfo), which must equal the generator's truth of
messages plus sessions plus credentials. ``--baseline REV`` adds a third run in each
round, the parser as it was at git revision REV (see bench_compare.py), and the paired
ratios of the pcap run to it.
"""

from __future__ import annotations

import argparse
import compileall
import json
import pathlib
import shutil
import statistics
import subprocess
import sys

from bench_compare import BENCH, ROOT, WORKLOADS, baseline_tree, run_measured

BIN = ROOT / ".venv" / "bin"


def make_image(work: pathlib.Path, workload: str) -> tuple[pathlib.Path, pathlib.Path]:
    """The ext4 image holding the workload's capture, and the truth file."""
    generator, size = WORKLOADS[workload]
    image = work / f"{workload}.ext4.raw"
    truth = work / f"{workload}.truth.jsonl"
    if image.exists() and truth.exists():
        return image, truth
    tree = work / "tree"
    tree.mkdir(parents=True, exist_ok=True)
    capture = tree / f"{workload}.pcap"
    subprocess.run(
        [sys.executable, str(BENCH / generator), str(capture), "--size-mb", str(size),
         "--truth", str(truth)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    megabytes = capture.stat().st_size // (1 << 20) + 64
    subprocess.run(
        ["mke2fs", "-q", "-t", "ext4", "-d", str(tree), "-L", "evidence", str(image),
         f"{megabytes}M"],
        check=True,
    )  # fmt: skip
    shutil.rmtree(tree)
    return image, truth


def count_smtp_events(storage: pathlib.Path) -> dict[str, int]:
    """Event data of the smtp: types in a storage file, by type (pinfo's JSON)."""
    result = subprocess.run(
        [str(BIN / "pinfo"), "--output_format", "json", str(storage)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    data_types = json.loads(result.stdout)["storage_counters"]["data_types"]
    counts = {name: value for name, value in data_types.items() if "smtp:" in name}
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/dev/shm/plasobench")
    parser.add_argument("--workload", default="smtp200")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", default="")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    old_tree = baseline_tree(work, args.baseline) if args.baseline else None
    image, truth = make_image(work, args.workload)
    for package in (
        ROOT / "smtpcore",
        ROOT / "plugins",
    ):  # as installed (bench_compare)
        compileall.compile_dir(package, quiet=1)
    runs: dict[str, list[tuple[float, int]]] = {"filestat": [], "filestat,pcap": []}
    if old_tree:
        runs[f"filestat,pcap@{args.baseline}"] = []
    storage = work / "out.plaso"
    events: dict[str, int] = {}
    for _ in range(args.repeat):
        for run in runs:
            parsers, _, revision = run.partition("@")
            storage.unlink(missing_ok=True)
            command = [
                str(BIN / "log2timeline"), "--status_view", "none", "--unattended",
                "--parsers", parsers, "--storage_file", str(storage),
                "--logfile", str(work / "log2timeline.log.gz"), str(image),
            ]  # fmt: skip
            if revision:  # PYTHONPATH comes before the editable install's finder
                path = f"PYTHONPATH={old_tree}:{old_tree / 'plugins'}"
                command = ["env", path, *command]
            elapsed, peak, status = run_measured(command, work)
            if status != 0:
                print(f"log2timeline --parsers {run} exited {status}")
                return 1
            runs[run].append((elapsed, peak))
            if parsers.endswith("pcap"):
                found = count_smtp_events(storage)
                if events and found != events:
                    print(f"{run}: other smtp: event data: {found}")
                events = found
    ratios = [
        pcap[0] / plain[0]
        for plain, pcap in zip(runs["filestat"], runs["filestat,pcap"])
    ]
    records = [json.loads(line) for line in truth.open()]
    print(f"| {args.workload} in ext4 | median s | peak RSS (tree) |")
    print("|---|---|---|")
    for parsers, measured in runs.items():
        seconds = statistics.median(elapsed for elapsed, _ in measured)
        peak = max(rss for _, rss in measured) >> 20
        print(f"| --parsers {parsers} | {seconds:.2f} | {peak} MiB |")
    print(
        f"\npcap run ÷ filestat-only run, median of paired ratios: "
        f"{statistics.median(ratios):.2f} ({', '.join(f'{r:.2f}' for r in ratios)})"
    )
    if old_tree:
        speedups = [
            new[0] / old[0]
            for new, old in zip(
                runs["filestat,pcap"], runs[f"filestat,pcap@{args.baseline}"]
            )
        ]
        print(
            f"pcap run ÷ pcap run at {args.baseline}, median of paired ratios: "
            f"{statistics.median(speedups):.2f} "
            f"({', '.join(f'{r:.2f}' for r in speedups)})"
        )
    print(f"smtp: event data stored: {events}; truth: {len(records)} messages")
    storage.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
