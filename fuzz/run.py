"""Runs every fuzz target for N seconds each: `run.py SECONDS [TARGET[=SECONDS]...]`.

The targets share a work folder under /dev/shm ($FUZZ_WORK if set, kept between
runs): seeds from make_seeds.py, the corpus each grows, and any crash-, timeout-
or oom- input. Prints one line per target, and
last the executions and findings of every target; exits 1 when anything was found.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import _common

TARGETS = (
    "capture", "packets", "reassembly", "smtp", "pop3", "imap", "tls", "auth",
    "mime", "safenames", "pipeline", "evidence", "flowskip", "fastpath", "handshakes",
)
MAX_LEN = {"evidence": 256 * 1024}  # disk images: make_seeds.EVIDENCE_LIMIT
_STATUS = re.compile(rb"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)", re.M)
_DONE = re.compile(rb"^Done (\d+) runs", re.M)


def run(target, seconds, work):
    seeds = os.path.join(work, "seeds")
    corpus = os.path.join(work, "corpus", target)
    os.makedirs(corpus, exist_ok=True)
    findings = os.path.join(work, "findings", target)
    os.makedirs(findings, exist_ok=True)
    command = [
        sys.executable, os.path.join(_common.HERE, f"fuzz_{target}.py"),
        f"-max_total_time={seconds}", "-timeout=20", "-rss_limit_mb=2048",
        f"-max_len={MAX_LEN.get(target, 65536)}", "-print_final_stats=1",
        f"-artifact_prefix={findings}/", corpus, os.path.join(seeds, target),
    ]
    log = os.path.join(work, f"{target}.log")
    number = 1
    while os.path.exists(log):  # a kept work folder keeps every run's log
        number += 1
        log = os.path.join(work, f"{target}.{number}.log")
    start = time.monotonic()
    with open(log, "wb") as handle:
        code = subprocess.call(command, stdout=handle, stderr=subprocess.STDOUT, cwd=work)
    seconds = time.monotonic() - start
    with open(log, "rb") as handle:
        text = handle.read()
    status = _STATUS.findall(text)
    done = _DONE.findall(text)
    runs = int(done[-1]) if done else int(status[-1][0]) if status else 0
    cov = int(status[-1][1]) if status else 0
    ft = int(status[-1][2]) if status else 0
    found = sorted(glob.glob(os.path.join(findings, "*")))
    if code != 0 and not found:
        found = [f"exit status {code} (see {log})"]
    return runs, cov, ft, found, seconds


def main():
    seconds = int(sys.argv[1])
    targets = sys.argv[2:] or TARGETS
    work = os.environ.get("FUZZ_WORK")
    if work:  # a folder kept between runs: its corpus grows on
        os.makedirs(work, exist_ok=True)
    else:
        work = tempfile.mkdtemp(prefix="smtpcore-fuzz-", dir="/dev/shm")
    names = [target.partition("=")[0] for target in targets]
    if not all(os.path.isdir(os.path.join(work, "seeds", n)) for n in names):
        # A work folder kept from before a target was added lacks its seeds.
        subprocess.check_call(
            [sys.executable, os.path.join(_common.HERE, "make_seeds.py"),
             os.path.join(work, "seeds")],
            stdout=subprocess.DEVNULL,
        )
    summary = []
    total = 0
    for target in targets:
        target, _, own = target.partition("=")
        runs, cov, ft, found, took = run(target, int(own or seconds), work)
        total += len(found)
        print(f"{target}: {runs} executions in {took:.0f} s ({runs / took:.0f}/s), "
              f"cov {cov}, ft {ft}, {len(found)} findings", flush=True)
        for path in found:
            print(f"  {path}", flush=True)
        summary.append(f"{target} {runs} execs/{len(found)} found")
    if total or os.environ.get("FUZZ_WORK"):
        print(f"work folder: {work}")
    else:  # nothing found, nothing to keep
        shutil.rmtree(work, ignore_errors=True)
    print("fuzz: " + "; ".join(summary))
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
