#!/usr/bin/env python3
"""smtpcore against cat, tcpflow, tshark and Suricata on the shared benchmark captures.

Usage: .venv/bin/python tests/benchmarks/bench_compare.py [--work /dev/shm/smtpbench]
           [--workloads smtp200,mixed200,smtp1000] [--repeat 3] [--tools ...]
           [--baseline REV]

For each workload the deterministic capture is written once (../shared/bench, with its
ground truth) into WORK/in/, then every tool runs on it in turn, alternating, --repeat
times, each writing into a fresh folder under WORK/out/ (use tmpfs: disk writes on these
machines are noisy). Reported per tool: median wall time, the median of the ratios
smtpcore/tool paired within each round (both measured in the same round, so a machine
busy in one round affects both), and the peak RSS of the whole process tree (sampled
every 20 ms in one more round that is not timed, so smtpcore's worker and hashing
processes count too). Every smtpcore run is checked against the truth: every message
byte-exact, no extra message. The table is printed as Markdown.

``--baseline REV`` adds the package as it was at git revision REV (extracted under
WORK/baseline/, its compiled path built in place, run with the same Python) as the tool
``smtpcore@REV``: its ratio is what the change did to the time (below 1: faster), measured
in the same rounds, which is what a machine that drifts by a third within an hour still
lets one compare. Building it needs Cython in this Python (`.venv/bin/pip install
'Cython>=3.0'`: `make setup` builds in an isolated environment and leaves none in
.venv); a baseline that would run as pure Python is refused.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import threading
import time

import psutil

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH = ROOT.parent / "shared" / "bench"
WORKLOADS = {
    "smtp200": ("make_smtp_pcap.py", 200),
    "mixed200": ("make_mixed_pcap.py", 200),
    "smtp1000": ("make_smtp_pcap.py", 1000),
}


def run_measured(
    command: list[str], cwd: pathlib.Path, sample: bool = True
) -> tuple[float, int, int]:
    """Wall seconds, peak RSS of the process tree (bytes; 0 unless ``sample``) and
    the exit status."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peak = 0
    if not sample:
        status = proc.wait()
        return time.perf_counter() - start, peak, status
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for each in tree:
                    try:
                        total += each.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
                peak = max(peak, total)
            except psutil.NoSuchProcess:
                return
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    status = proc.wait()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    return elapsed, peak, status


def baseline_tree(work: pathlib.Path, revision: str) -> pathlib.Path:
    """The package at ``revision``, extracted and built once under WORK/baseline/."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    tree = work / "baseline" / commit[:12]
    if not (tree / ".built").exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", commit], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        subprocess.run(
            [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
            cwd=tree, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        # The report's templates, as setup.py's build_py compiles them (if it does).
        subprocess.run(
            [sys.executable, "-c", "import pathlib; from smtpcore import report; "
             "getattr(report, 'compile_templates', lambda _: None)"
             "(pathlib.Path('smtpcore/report/templates'))"],
            cwd=tree, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        compileall.compile_dir(tree / "smtpcore", quiet=1)
        if list(ROOT.glob("smtpcore/_*.so")) and not list(tree.glob("smtpcore/_*.so")):
            # setup.py builds without Cython as pure Python: a baseline so built
            # is measured against the compiled package, not against its own self.
            raise SystemExit(
                f"{revision}: its compiled modules were not built (Cython is not "
                f"installed for {sys.executable}: pip install 'Cython>=3.0')"
            )
        (tree / ".built").touch()
    return tree


def tool_commands(
    capture: pathlib.Path, out: pathlib.Path, baseline: tuple[str, pathlib.Path] = ()
) -> dict[str, list[str]]:
    smtpcore = str(ROOT / ".venv" / "bin" / "smtpcore")
    commands = {
        "cat": ["sh", "-c", f"cat {capture} > /dev/null"],
        "smtpcore": [smtpcore, "extract", "-q", str(capture), "-o", str(out)],
        "smtpcore-pure": [
            "env", "SMTPCORE_PURE=1", smtpcore, "extract", "-q", str(capture),
            "-o", str(out),
        ],  # fmt: skip
    }
    if baseline:
        revision, tree = baseline
        # PYTHONPATH comes before the editable install's finder: the old tree wins.
        commands[f"smtpcore@{revision}"] = [
            "env", f"PYTHONPATH={tree}", sys.executable, "-m", "smtpcore.cli",
            "extract", "-q", str(capture), "-o", str(out),
        ]  # fmt: skip
    if shutil.which("tcpflow"):
        commands["tcpflow"] = ["tcpflow", "-r", str(capture), "-o", str(out), "port 25"]
    if shutil.which("tshark"):
        commands["tshark"] = [
            "tshark", "-n", "-q", "-r", str(capture), "--export-objects", f"imf,{out}",
        ]  # fmt: skip
    if shutil.which("suricata"):
        commands["suricata"] = [
            "suricata", "-c", str(BENCH / "suricata-smtp.yaml"), "-S", "/dev/null",
            "-r", str(capture), "-l", str(out), "-k", "none",
        ]  # fmt: skip
    return commands


def check_smtpcore(out: pathlib.Path, truth: pathlib.Path) -> str:
    """Every message of the truth byte-exact, none extra (see bench_extract.py)."""
    want = sorted(json.loads(line)["sha256"] for line in truth.open())
    found = [json.loads(line) for line in (out / "messages.jsonl").open()]
    got = []
    for record in found:
        if record.get("eml"):
            data = (out / record["eml"]).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest not in want and data.endswith(b"\r\n\r\n"):
                # The generator's DATA ends in CRLF CRLF . CRLF: one more empty line.
                digest = hashlib.sha256(data[:-2]).hexdigest()
            got.append(digest)
    if sorted(got) == want and len(found) == len(want):
        return f"{len(want)}/{len(want)} byte-exact"
    return (
        f"MISMATCH: {len(set(got) & set(want))}/{len(want)} exact, {len(found)} found"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/dev/shm/smtpbench")
    parser.add_argument("--workloads", default="smtp200,mixed200")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools", default="")
    parser.add_argument("--baseline", default="")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    (work / "in").mkdir(parents=True, exist_ok=True)
    baseline = (
        (args.baseline, baseline_tree(work, args.baseline)) if args.baseline else ()
    )
    # An installed package has its bytecode; a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would compile every module in every run.
    compileall.compile_dir(ROOT / "smtpcore", quiet=1)
    rows = []
    failed = False
    for name in args.workloads.split(","):
        generator, size = WORKLOADS[name]
        capture = work / "in" / f"{name}.pcap"
        truth = work / f"{name}.truth.jsonl"
        if not capture.exists() or not truth.exists():
            subprocess.run(
                [sys.executable, str(BENCH / generator), str(capture),
                 "--size-mb", str(size), "--truth", str(truth)],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        times: dict[str, list[float]] = {}
        peaks: dict[str, int] = {}
        ratios: dict[str, list[float]] = {}
        checks = set()
        # The timed rounds run unsampled: walking the process tree every 20 ms
        # on the same two cores slowed the tools it watched by 5 to 20 %. Peak
        # RSS comes from one more round, sampled and not timed.
        for round_ in range(args.repeat + 1):
            sampled = round_ == args.repeat
            this_round = {}
            order = list(tool_commands(capture, work, baseline).items())
            if args.tools:
                chosen = args.tools.split(",")
                order = [t for t in order if t[0] in chosen or "@" in t[0]]
            if round_ % 2:
                order.reverse()  # alternate, so neither tool always runs first
            for tool, _ in order:
                out = work / "out" / f"{name}-{tool}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                command = tool_commands(capture, out, baseline)[tool]
                if tool.startswith("smtpcore"):
                    out.rmdir()  # smtpcore makes its own, new folder
                seconds, peak, status = run_measured(command, work, sampled)
                if tool.startswith("smtpcore"):
                    if status not in (0, 1):
                        checks.add(f"{tool} exit {status}")
                    else:
                        checks.add(f"{tool}: {check_smtpcore(out, truth)}")
                if sampled:
                    peaks[tool] = peak
                    continue
                this_round[tool] = seconds
                times.setdefault(tool, []).append(seconds)
            for tool, seconds in this_round.items():
                ratios.setdefault(tool, []).append(this_round["smtpcore"] / seconds)
        for tool in ratios:
            if "@" in tool:  # what the change did, every round: its spread shows
                paired = ", ".join(f"{ratio:.2f}" for ratio in ratios[tool])
                print(f"{name}: smtpcore ÷ {tool} by round: {paired}")
        for tool in times:
            rows.append(
                (name, tool, statistics.median(times[tool]),
                 statistics.median(ratios[tool]), peaks[tool] / 2**20)
            )  # fmt: skip
        print(
            f"{name}: {capture.stat().st_size / 1e6:,.1f} MB; "
            + "; ".join(sorted(checks))
        )
        failed |= any("MISMATCH" in c or "exit" in c for c in checks)
    print()
    print(
        "| workload | tool | median s | smtpcore ÷ tool (median of paired) | peak RSS MiB |"
    )
    print("|---|---|---|---|---|")
    for name, tool, seconds, ratio, rss in rows:
        print(f"| {name} | {tool} | {seconds:.2f} | {ratio:.2f} | {rss:,.0f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
