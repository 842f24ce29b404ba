"""A local Turbinia on loopback, with plaso-smtp in its workers' plaso (make test-turbinia).

Starts Debian's redis-server on 127.0.0.1 (its own port and folder), ``turbiniactl
server``, the API server and Celery workers, with only PlasoJob, PsortJob and
FinalizeRequestJob. Turbinia and plaso live in two venvs: Turbinia 20240820 pins
acstore and plaso versions that cannot share one with a current plaso, and it only
runs log2timeline, pinfo and psort from PATH, so the plaso venv's bin comes first on
the workers' PATH.

Phase 1: one worker, one disk image. Phase 2: a second worker, every image submitted
at once. Each image is RawDisk evidence: Turbinia attaches it read-only with ``sudo
losetup -r`` and runs ``log2timeline --parsers '!filestat'`` on the loop device, then
psort. Turbinia reports success even when a parser produced nothing, so for every
request the script counts the SMTP events in PlasoParserTask's .plaso (pinfo, and
psort json_line event by event) and in PsortTask's CSV, against what smtpcore finds in
the image's captures directly (expected_records.py): every event exactly once.

Every process it starts is stopped by PID, children included. Exit status 0 only
when every check holds; the last line is the figures.
"""

import argparse
import collections
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPOSITORY_PATH = Path(__file__).resolve().parents[2]
IMAGES_PATH = REPOSITORY_PATH / "test_data/images"
CAPTURES_PATH = REPOSITORY_PATH / "test_data/captures"
EXPECTED_SCRIPT = Path(__file__).resolve().parent / "expected_records.py"

JOBS = ["PlasoJob", "PsortJob", "FinalizeRequestJob"]
# Tasks those jobs make for one RawDisk: PlasoJob a parser and a hasher task, PsortJob
# one psort per .plaso, then the final report.
EXPECTED_TASKS = collections.Counter(
    {
        "PlasoParserTask": 1,
        "PlasoHasherTask": 1,
        "PsortTask": 2,
        "FinalizeRequestTask": 1,
    }
)
# Data type: the json_line fields that identify one event data (as expected_records.py).
RECORD_KEYS = {
    "smtp:authentication": ("source_ip", "mechanism", "username", "password"),
    "smtp:email": ("source_ip", "sender", "subject", "message_sha256_hash"),
    "smtp:session": ("source_ip", "source_port", "destination_ip", "destination_port"),
}
# Copies the media of a VMDK or EWF image to a raw file. argv: image, target.
RAW_COPY_SCRIPT = """
import sys
source, target = sys.argv[1:3]
if source.lower().endswith(".vmdk"):
    import pyvmdk
    handle = pyvmdk.handle()
    handle.open(source)
    handle.open_extent_data_files()
else:
    import pyewf
    handle = pyewf.handle()
    handle.open(pyewf.glob(source))
remaining = handle.get_media_size()
with open(target, "xb") as file_object:
    while remaining:
        data = handle.read(min(remaining, 1 << 20))
        if not data:
            raise SystemExit(f"{source}: media ends {remaining} bytes early")
        file_object.write(data)
        remaining -= len(data)
handle.close()
"""
TASK_RECEIVED = re.compile(r"Task task_runner\[[0-9a-f-]+\] received")
REQUEST_TIMEOUT = 1800
TERMINAL_STATES = ("successful", "completed_with_errors", "failed")


class Failure(Exception):
    """A check that did not hold."""


class Checks:
    """Counts checks; a failed check is reported and remembered, not raised."""

    def __init__(self):
        self.passed = 0
        self.failed = []

    def Check(self, condition, description):
        if condition:
            self.passed += 1
        else:
            self.failed.append(description)
            print(f"FAIL: {description}", flush=True)
        return condition


def Log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _Children(pid):
    """PIDs of all descendants of a process, from /proc."""
    parents = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as file_object:
                stat = file_object.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(fields[1])].append(int(entry))
    descendants, pending = [], [pid]
    while pending:
        for child in parents.get(pending.pop(), []):
            descendants.append(child)
            pending.append(child)
    return descendants


def _IsAlive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as file_object:
            return file_object.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


class Processes:
    """The processes the script started; stopped by PID, last started first."""

    def __init__(self, log_directory):
        self._log_directory = log_directory
        self._started = []

    def Start(self, name, command, environment):
        log_path = self._log_directory / f"{name}.log"
        log_file = open(log_path, "ab")  # pylint: disable=consider-using-with
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
            # plaso tools (Turbinia's pinfo check) write their log files here.
            cwd=self._log_directory,
        )
        log_file.close()
        self._started.append((name, process))
        Log(f"started {name} (PID {process.pid}): {' '.join(command)}")
        return process

    def Stop(self, name, process, timeout=60):
        """Stops one process and its descendants by PID; True if all are gone."""
        descendants = _Children(process.pid)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        deadline = time.monotonic() + 15
        for pid in descendants:
            while _IsAlive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _IsAlive(pid):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        left = [pid for pid in [process.pid] + descendants if _IsAlive(pid)]
        Log(
            f"stopped {name} (PID {process.pid}, {len(descendants)} children)"
            + (f", still alive: {left}" if left else "")
        )
        self._started.remove((name, process))
        return not left

    def StopAll(self):
        stopped = True
        for name, process in reversed(list(self._started)):
            stopped = self.Stop(name, process) and stopped
        return stopped

    def CheckRunning(self):
        for name, process in self._started:
            if process.poll() is not None:
                raise Failure(f"{name} exited early with {process.returncode}")


def _WriteConfig(template_path, path, work_directory, ports, lock_file):
    """Turbinia's own template, with our paths, loopback addresses and ports."""
    overrides = f"""
# plaso-smtp test overrides (run_local_turbinia.py)
INSTANCE_ID = 'plaso-smtp-test-{ports['redis']}'
OUTPUT_DIR = '{work_directory}/output'
TMP_DIR = '{work_directory}/tmp'
LOG_DIR = '{work_directory}/log'
# The worker holds this lock while it runs a task (10 s timeout): one per worker.
LOCK_FILE = '{lock_file}'
# Resource tracking is per host: shared by the workers.
TMP_RESOURCE_DIR = '{work_directory}/resources'
RESOURCE_FILE = f'{{TMP_RESOURCE_DIR}}/turbinia-state.json'
RESOURCE_FILE_LOCK = f'{{RESOURCE_FILE}}.lock'
SCALEDOWN_WORKER_FILE = '{work_directory}/tmp/turbinia-to-scaledown.lock'
MOUNT_DIR_PREFIX = '{work_directory}/mounts'
SHARED_FILESYSTEM = True
VERSION_CHECK = False
SLEEP_TIME = 2
API_SERVER_ADDRESS = '127.0.0.1'
API_SERVER_PORT = {ports['api']}
API_ALLOWED_ORIGINS = ['http://127.0.0.1:{ports['api']}']
API_EVIDENCE_UPLOAD_DIR = '{work_directory}/upload'
PROMETHEUS_ENABLED = False
PROMETHEUS_ADDR = '127.0.0.1'
REDIS_HOST = '127.0.0.1'
REDIS_PORT = '{ports['redis']}'
REDIS_DB = '0'
CELERY_BROKER = f'redis://{{REDIS_HOST}}:{{REDIS_PORT}}'
CELERY_BACKEND = CELERY_BROKER
KOMBU_BROKER = CELERY_BROKER
KOMBU_CHANNEL = f'{{INSTANCE_ID}}-kombu'
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(template_path.read_text() + overrides)
    return path


def _ApiRequest(ports, path, data=None):
    url = f"http://127.0.0.1:{ports['api']}/api/{path}"
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _WaitFor(description, condition, timeout, processes):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.CheckRunning()
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(1)
    raise Failure(f"timed out waiting for {description}")


def _Run(command, environment, cwd, timeout=900):
    """Runs a command in cwd (plaso tools write their log files there)."""
    result = subprocess.run(
        command,
        capture_output=True,
        cwd=cwd,
        env=environment,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise Failure(f"{command}: exit {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def _Sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file_object:
        for block in iter(lambda: file_object.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _PathInside(display_name):
    """The path inside the image, as in MANIFEST.json, of a plaso display name."""
    _, _, path = display_name.partition(":")
    return path.replace("\\", "/")


class Lab:
    """The local Turbinia and the checks of its requests."""

    def __init__(self, arguments, work_directory):
        self.arguments = arguments
        self.work = work_directory
        self.ports = {"redis": arguments.redis_port, "api": arguments.api_port}
        self.checks = Checks()
        self.processes = Processes(work_directory / "log")
        self.turbinia_bin = Path(arguments.turbinia_venv).resolve() / "bin"
        self.plaso_bin = Path(arguments.plaso_venv).resolve() / "bin"
        self.plaso_environment = dict(os.environ)
        self.plaso_environment.pop("PLASO_SMTP_DISABLE", None)
        self.plaso_environment.pop("PYTHONPATH", None)
        self.workers = []
        self.figures = {}
        self.raw_copies = {}

    # Set-up.

    def _TurbiniaEnvironment(self, config_path, worker=False):
        environment = dict(self.plaso_environment)
        environment["TURBINIA_CONFIG_PATH"] = os.fspath(config_path.parent)
        path = [os.fspath(self.turbinia_bin), environment.get("PATH", "")]
        if worker:
            # Turbinia runs log2timeline, pinfo and psort from PATH.
            path.insert(0, os.fspath(self.plaso_bin))
            if self.arguments.control_without_hook:
                environment["PLASO_SMTP_DISABLE"] = "1"
        environment["PATH"] = os.pathsep.join(path)
        return environment

    def _Config(self, name, lock_name):
        template = next(
            (self.turbinia_bin.parent / "lib").glob(
                "python3*/site-packages/turbinia/config/turbinia_config_tmpl.py"
            )
        )
        return _WriteConfig(
            template,
            self.work / "config" / name / "turbinia.conf",
            self.work,
            self.ports,
            self.work / "tmp" / f"{lock_name}.lock",
        )

    def Start(self):
        for name in ("output", "tmp", "log", "resources", "mounts", "redis", "upload"):
            (self.work / name).mkdir(parents=True, exist_ok=True)

        redis_server = shutil.which("redis-server")
        if not redis_server:
            raise Failure("redis-server not found (apt-get install redis-server)")
        self.processes.Start(
            "redis",
            [
                redis_server,
                "--bind", "127.0.0.1",
                "--port", str(self.ports["redis"]),
                "--dir", os.fspath(self.work / "redis"),
                "--save", "",
                "--appendonly", "no",
                "--protected-mode", "yes",
            ],
            self.plaso_environment,
        )  # fmt: skip
        _WaitFor("redis", self._RedisAnswers, 30, self.processes)

        self.config = self._Config("server", "server")
        turbiniactl = os.fspath(self.turbinia_bin / "turbiniactl")
        environment = self._TurbiniaEnvironment(self.config)
        jobs = ",".join(JOBS)
        self.processes.Start(
            "server",
            [turbiniactl, "-c", os.fspath(self.config), "-j", jobs, "server"],
            environment,
        )
        self.processes.Start(
            "api_server",
            [turbiniactl, "-c", os.fspath(self.config), "api_server"],
            environment,
        )
        self.AddWorker()
        _WaitFor(
            "the API server",
            lambda: _ApiRequest(self.ports, "config/") is not None,
            120,
            self.processes,
        )

    def _RedisAnswers(self):
        import socket  # pylint: disable=import-outside-toplevel

        with socket.create_connection(("127.0.0.1", self.ports["redis"]), 2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def AddWorker(self):
        name = f"worker{len(self.workers) + 1}"
        config = self._Config(name, name)
        process = self.processes.Start(
            name,
            [
                os.fspath(self.turbinia_bin / "turbiniactl"),
                "-c", os.fspath(config),
                "-j", ",".join(JOBS),
                "celeryworker",
            ],
            self._TurbiniaEnvironment(config, worker=True),
        )  # fmt: skip
        log_path = self.work / "log" / f"{name}.log"
        _WaitFor(
            f"{name} to connect",
            lambda: b" ready." in log_path.read_bytes(),
            180,
            self.processes,
        )
        self.workers.append((name, process, log_path))

    # Requests.

    def Submit(self, image_path):
        response = _ApiRequest(
            self.ports,
            "request/",
            {
                "description": f"plaso-smtp test: {image_path.name}",
                "evidence": {"type": "RawDisk", "source_path": os.fspath(image_path)},
                "request_options": {
                    "jobs_allowlist": JOBS,
                    "requester": "plaso-smtp-test",
                    "reason": "make test-turbinia",
                },
            },
        )
        Log(f"submitted {image_path.name}: request {response['request_id']}")
        return response["request_id"], time.monotonic()

    def Wait(self, submitted):
        """Waits for requests; returns {request id: (status, seconds)}."""
        finished = {}
        deadline = time.monotonic() + REQUEST_TIMEOUT
        while len(finished) < len(submitted):
            if time.monotonic() > deadline:
                raise Failure(
                    f"requests not finished: {set(submitted) - set(finished)}"
                )
            self.processes.CheckRunning()
            for request_id, started in submitted.items():
                if request_id in finished:
                    continue
                try:
                    status = _ApiRequest(self.ports, f"request/{request_id}")
                except OSError:
                    continue
                done = status.get("status") in TERMINAL_STATES
                # FinalizeRequestTask runs last; wait for its result too.
                if (
                    done
                    and not status.get("queued_tasks")
                    and not (status.get("running_tasks"))
                ):
                    finished[request_id] = (status, time.monotonic() - started)
                    Log(
                        f"request {request_id}: {status['status']} after "
                        f"{finished[request_id][1]:.0f} s, {status['task_count']} tasks"
                    )
            time.sleep(2)
        return finished

    # Checks.

    def _JsonLineRecords(self, storage_path):
        output_path = storage_path.parent / f"check-{storage_path.stem}.jsonl"
        _Run(
            [
                os.fspath(self.plaso_bin / "psort"),
                "--status_view", "none",
                "--logfile", os.fspath(output_path.with_suffix(".log")),
                "-o", "json_line",
                "-w", os.fspath(output_path),
                os.fspath(storage_path),
            ],
            self.plaso_environment,
            self.work / "log",
        )  # fmt: skip
        records = []
        with open(output_path, encoding="utf-8") as file_object:
            for line in file_object:
                event = json.loads(line)
                data_type = event.get("data_type", "")
                if data_type in RECORD_KEYS:
                    records.append(
                        [_PathInside(event["display_name"]), data_type]
                        + [event.get(key) for key in RECORD_KEYS[data_type]]
                        + [event.get("timestamp_desc")]
                    )
        output_path.unlink()
        return records

    def _PinfoCounts(self, storage_path):
        information = json.loads(
            _Run(
                [
                    os.fspath(self.plaso_bin / "pinfo"),
                    "--output_format", "json",
                    os.fspath(storage_path),
                ],
                self.plaso_environment,
                self.work / "log",
            )  # fmt: skip
        )
        counters = information["storage_counters"]
        # Events per parser: "smtp" is our plugin, the last parser of its chain.
        counts = {"smtp": counters["parsers"].get("smtp", 0)}
        # Events per data type: only pinfo newer than 20240308 counts them.
        if "data_types" in counters:
            counts.update(
                {key: counters["data_types"].get(key, 0) for key in RECORD_KEYS}
            )
        sessions = information.get("sessions", {})
        versions = {
            session.get("product_version")
            for session in sessions.values()
            if isinstance(session, dict)
        }
        return counts, versions

    def CheckRequest(self, status, image_name, expected):
        """Checks one finished request against the records expected of its image."""
        check = self.checks.Check
        tasks = status["tasks"]
        names = collections.Counter(task["name"] for task in tasks)
        check(names == EXPECTED_TASKS, f"{image_name}: tasks {dict(names)}")
        check(status["status"] == "successful", f"{image_name}: {status['status']}")
        check(
            all(task["successful"] for task in tasks),
            f"{image_name}: failed tasks "
            f"{[t['name'] for t in tasks if not t['successful']]}",
        )

        parser_tasks = [task for task in tasks if task["name"] == "PlasoParserTask"]
        if not check(len(parser_tasks) == 1, f"{image_name}: one PlasoParserTask"):
            return {}
        storage_paths = [
            Path(path)
            for path in parser_tasks[0]["saved_paths"] or []
            if path.endswith(".plaso")
            and path.startswith(os.fspath(self.work / "output"))
        ]
        if not check(len(storage_paths) == 1, f"{image_name}: parser .plaso saved"):
            return {}
        storage_path = storage_paths[0]

        counts, versions = self._PinfoCounts(storage_path)
        expected_counts = collections.Counter(record[1] for record in expected)
        expected_counts = {key: expected_counts.get(key, 0) for key in RECORD_KEYS}
        expected_counts["smtp"] = len(expected)
        check(
            counts == {key: expected_counts[key] for key in counts},
            f"{image_name}: pinfo SMTP counts {counts}, expected {expected_counts}",
        )
        check(
            versions == {self.plaso_version},
            f"{image_name}: written by plaso {versions}, expected {self.plaso_version}",
        )

        records = self._JsonLineRecords(storage_path)
        key = json.dumps
        missing = collections.Counter(map(key, expected)) - collections.Counter(
            map(key, records)
        )
        extra = collections.Counter(map(key, records)) - collections.Counter(
            map(key, expected)
        )
        check(
            not missing and not extra,
            f"{image_name}: events in .plaso: missing {list(missing)[:3]}, "
            f"extra or repeated {list(extra)[:3]}",
        )

        # PsortTask of the parser's .plaso: its CSV has the same SMTP events.
        psort_tasks = [
            task
            for task in tasks
            if task["name"] == "PsortTask"
            and task.get("evidence_name") == os.fspath(storage_path)
        ]
        csv_rows = []
        if check(len(psort_tasks) == 1, f"{image_name}: PsortTask of parser .plaso"):
            csv_paths = {p for p in psort_tasks[0]["saved_paths"] if p.endswith(".csv")}
            if check(len(csv_paths) == 1, f"{image_name}: one psort CSV"):
                with open(csv_paths.pop(), encoding="utf-8", newline="") as file_object:
                    csv_rows = [
                        row
                        for row in csv.DictReader(file_object)
                        if row["parser"] == "pcap/smtp"
                    ]
        csv_counts = collections.Counter(
            (_PathInside(row["display_name"]), row["timestamp_desc"])
            for row in csv_rows
        )
        expected_csv = collections.Counter(
            (record[0], record[-1]) for record in expected
        )
        check(
            csv_counts == expected_csv,
            f"{image_name}: psort CSV rows {sum(csv_counts.values())}, expected "
            f"{len(expected)}",
        )
        for record in expected:
            if record[1] == "smtp:email" and record[-1] == "Sent Time":
                check(
                    any(
                        f"SHA-256: {record[5]}" in row["message"]
                        and _PathInside(row["display_name"]) == record[0]
                        for row in csv_rows
                    ),
                    f"{image_name}: psort CSV message of email {record[5]}",
                )
        return {
            "events": counts["smtp"],
            "csv_rows": len(csv_rows),
            "tasks": len(tasks),
        }

    def Evidence(self, image_name):
        """The file submitted for an image: the image, or its media as raw."""
        return self.raw_copies.get(image_name, IMAGES_PATH / image_name)

    def MakeRawCopies(self, image_names):
        """Writes the media of VMDK and EWF images as raw files in the work folder.

        Turbinia hands RawDisk evidence to log2timeline as a loop device, which has no
        file name: libewf then finds no segment files, and plaso 20240308's libvmdk no
        extent file. The raw copy (read with the same libraries, from the image file)
        is what a loop device of the media would show.
        """
        for image_name in image_names:
            if not image_name.lower().endswith((".vmdk", ".e01")):
                continue
            target = self.work / "evidence" / f"{image_name}.raw"
            target.parent.mkdir(parents=True, exist_ok=True)
            _Run(
                [os.fspath(self.plaso_bin / "python"), "-c", RAW_COPY_SCRIPT]
                + [os.fspath(IMAGES_PATH / image_name), os.fspath(target)],
                self.plaso_environment,
                self.work / "log",
            )
            self.raw_copies[image_name] = target
            Log(
                f"{image_name}: media written to {target} ({target.stat().st_size} bytes)"
            )

    def LoopDevicesOf(self, image_path):
        output = subprocess.run(
            ["losetup", "-j", os.fspath(image_path)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return [line.split(":")[0] for line in output.splitlines() if line.strip()]

    def TasksReceived(self):
        """Tasks each worker received so far, from its Celery log."""
        return {
            name: len(TASK_RECEIVED.findall(log_path.read_text(errors="replace")))
            for name, _, log_path in self.workers
        }

    def RunPhase(self, label, image_names, expected):
        hashes = {name: _Sha256(IMAGES_PATH / name) for name in image_names}
        received_before = self.TasksReceived()
        phase_started = time.monotonic()
        submitted, images = {}, {}
        for image_name in image_names:
            request_id, started = self.Submit(self.Evidence(image_name))
            submitted[request_id] = started
            images[request_id] = image_name
        finished = self.Wait(submitted)
        phase_seconds = time.monotonic() - phase_started

        results = {}
        for request_id, (status, seconds) in finished.items():
            image_name = images[request_id]
            figures = self.CheckRequest(status, image_name, expected[image_name])
            figures["seconds"] = round(seconds)
            results[image_name] = figures
        for image_name in image_names:
            self.checks.Check(
                _Sha256(IMAGES_PATH / image_name) == hashes[image_name],
                f"{image_name}: evidence unchanged",
            )
            self.checks.Check(
                not self.LoopDevicesOf(self.Evidence(image_name)),
                f"{image_name}: loop device detached",
            )
        task_counts = {
            name: received - received_before.get(name, 0)
            for name, received in self.TasksReceived().items()
        }
        self.figures[label] = {
            "workers": len(self.workers),
            "requests": len(image_names),
            "wall_seconds": round(phase_seconds),
            "images": results,
            "tasks_received_per_worker": task_counts,
        }
        Log(f"{label}: {json.dumps(self.figures[label])}")


def _Summary(figures, checks):
    parts = []
    for label, phase in figures.items():
        per_image = ", ".join(
            f"{name} {values.get('events', '?')} events/{values.get('csv_rows', '?')} "
            f"CSV rows in {values['seconds']} s"
            for name, values in sorted(phase["images"].items())
        )
        tasks = sum(values.get("tasks", 0) for values in phase["images"].values())
        parts.append(
            f"{label}: {phase['workers']} worker(s), {phase['requests']} request(s), "
            f"{tasks} tasks, wall {phase['wall_seconds']} s ({per_image}); "
            f"tasks per worker {phase['tasks_received_per_worker']}"
        )
    verdict = "OK" if not checks.failed else f"FAILED {len(checks.failed)}"
    return f"turbinia {verdict}: {checks.passed} checks passed; " + " | ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turbinia-venv", required=True)
    parser.add_argument("--plaso-venv", required=True)
    parser.add_argument("--redis-port", type=int, default=26315)
    parser.add_argument("--api-port", type=int, default=28315)
    parser.add_argument("--first-image", default="ext4.raw")
    parser.add_argument(
        "--images", default="ext4.raw,ntfs.vmdk,gpt-fat.qcow2,fat-mbr.E01"
    )
    parser.add_argument("--work-directory", help="default: a new folder in /tmp")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--control-without-hook",
        action="store_true",
        help="negative control: PLASO_SMTP_DISABLE=1 in the workers; must fail",
    )
    arguments = parser.parse_args()

    work = Path(
        arguments.work_directory or tempfile.mkdtemp(prefix="plaso-smtp-turbinia-")
    ).resolve()
    work.mkdir(parents=True, exist_ok=True)
    (work / "log").mkdir(exist_ok=True)
    Log(f"work folder: {work}")
    lab = Lab(arguments, work)
    image_names = arguments.images.split(",")
    all_names = sorted(set(image_names) | {arguments.first_image})

    try:
        lab.plaso_version = _Run(
            [
                os.fspath(lab.plaso_bin / "python"),
                "-c",
                "import plaso; print(plaso.__version__)",
            ],
            lab.plaso_environment,
            work / "log",
        ).strip()
        listed = _Run(
            [os.fspath(lab.plaso_bin / "log2timeline"), "--parsers", "list"],
            lab.plaso_environment,
            work / "log",
        )
        lab.checks.Check(
            any(line.split()[:1] == ["pcap"] for line in listed.splitlines()),
            "worker plaso lists the pcap parser",
        )
        expected = json.loads(
            _Run(
                [os.fspath(lab.plaso_bin / "python"), os.fspath(EXPECTED_SCRIPT),
                 os.fspath(IMAGES_PATH), os.fspath(CAPTURES_PATH)] + all_names,
                lab.plaso_environment,
                work / "log",
            )  # fmt: skip
        )
        for name in all_names:
            lab.checks.Check(expected[name], f"{name}: smtpcore finds SMTP in it")
        Log(
            f"plaso {lab.plaso_version}; expected events: "
            f"{ {name: len(records) for name, records in expected.items()} }"
        )

        lab.MakeRawCopies(all_names)
        lab.Start()
        lab.RunPhase("one worker", [arguments.first_image], expected)
        lab.AddWorker()
        lab.RunPhase("two workers", image_names, expected)
        if len(image_names) > 1:
            busy = [
                n
                for n, c in lab.figures["two workers"][
                    "tasks_received_per_worker"
                ].items()
                if c
            ]
            lab.checks.Check(len(busy) == 2, f"both workers ran tasks: {busy}")

    except Failure as exception:
        lab.checks.Check(False, str(exception))
    except Exception as exception:  # pylint: disable=broad-except
        lab.checks.Check(False, f"{type(exception).__name__}: {exception}")
    finally:
        lab.checks.Check(lab.processes.StopAll(), "every process stopped")

    if lab.checks.failed:
        Log(f"logs and outputs kept in {work}")
    elif not arguments.keep and not arguments.work_directory:
        shutil.rmtree(work, ignore_errors=True)
    print(_Summary(lab.figures, lab.checks), flush=True)
    return 1 if lab.checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
