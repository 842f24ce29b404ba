"""The `smtpcore` command: a thin layer over smtpcore.api for examiners at a terminal.

The library is imported once the arguments are read and the inputs' hashing has
started on a thread of its own (smtpcore.digests), so that the two overlap; the
reading does not wait for that hash either (see _CapturePrefix).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import os
import pathlib
import shutil
import sys
import threading
import time
import unicodedata
from typing import TYPE_CHECKING, Any, Optional, Sequence

from smtpcore import __version__, tskwatch
from smtpcore.digests import FileDigests, total_size

if TYPE_CHECKING:
    from smtpcore import api
    from smtpcore.model import Credential, Message, Session
    from smtpcore.output import OutputFolder

EXIT_OK, EXIT_DAMAGED, EXIT_USAGE = 0, 1, 2
LOG_NAME = "smtpcore.log"

log = logging.getLogger("smtpcore")

_EXIT_STATUS = """\
exit status:
  0  everything was read and every record is complete
  1  some input was damaged or some record is incomplete (a message, session or
     credential with bytes or replies missing); each case is one warning in the
     log, in manifest.json and in the report
  2  usage error, an input that cannot be opened, no capture in the inputs, or an
     output folder or log that cannot be written
"""

_INPUTS = """\
INPUT is a capture (pcap, pcapng, either gzip-compressed; recognised by content),
a folder (searched recursively) or a disk image or evidence container (raw, E01,
VMDK, QCOW2, VHD, ...). Files that are neither are skipped and listed, not counted
as damage. Inputs are only read.
"""

_EXTRACT_EPILOG = _INPUTS + """
examples:
  smtpcore extract case/trace.pcap -o case/out
  smtpcore extract evidence/ image.E01 -o out --case 2026-117 --examiner "J. Doe"
  smtpcore extract --no-deleted --partitions p2 disk.raw -o out --log run.log

files written to OUTDIR:
  messages.jsonl, sessions.jsonl, credentials.jsonl   one JSON object per record
  messages.csv, sessions.csv, credentials.csv         the same, for spreadsheets
  attachments.csv, attachments.md5, attachments.sha256  attachment hashes
  timesketch.jsonl                   one timeline event per time (Timesketch import)
  credentials.MODE.hashcat           per hashcat mode: hashcat -m MODE FILE
  credentials.dmd5.john              DIGEST-MD5 for John the Ripper (--format=dmd5)
  credentials.hashcat                all hashcat lines, with "# hashcat -m" headers
  eml/ID.eml                         every message byte-exact as transferred
  attachments/ID/                    decoded attachments and inline parts
  report.html                        the report to triage in
  smtpcore.log                       every warning, and what was read or skipped
  manifest.json                      inputs with SHA-256, case data, counts, hashes

OUTDIR must be new or empty (--force replaces an earlier run's files), and may not
be an input, lie inside an input folder or hold an input.

""" + _EXIT_STATUS

_SUMMARY_EPILOG = _INPUTS + """
Prints one row per mail transaction and per session that carried none, sorted by
time, fitted to the terminal's width; writes no files (except --log).

examples:
  smtpcore summary case/trace.pcap
  smtpcore summary evidence/ image.E01 --log summary.log | less -S

""" + _EXIT_STATUS


class _Progress:
    """A one-line progress bar on stderr, redrawn at most a few times a second."""

    def __init__(self, total: int, enabled: bool, label: str = ""):
        self.total = max(total, 1)
        self.enabled = enabled and sys.stderr.isatty()
        self.label = label
        self.done = 0  # bytes of earlier inputs
        self._last = 0.0

    def update(self, position: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.2:
            return
        self._last = now
        share = min((self.done + position) / self.total, 1.0)
        bar = "#" * int(share * 30)
        sys.stderr.write(
            f"\r{self.label}[{bar:<30}] {share:6.1%} of {self.total / 1e6:,.1f} MB"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 72 + "\r")


class _Warnings(logging.Handler):
    """The one place every warning of a run passes: counted, kept, summarised.

    Records met before the log files are open are held and written to them later,
    so the log holds everything, also what the evidence scan reported.
    """

    LIMIT = 100_000

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.warnings: list[str] = []
        self.count = 0
        self._held: Optional[list[logging.LogRecord]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.count += 1
            if len(self.warnings) < self.LIMIT:
                self.warnings.append(record.getMessage())
        if self._held is not None and len(self._held) < self.LIMIT:
            self._held.append(record)

    def hand_over(self, handlers: list[logging.Handler]) -> None:
        """Writes what was held to the log files, which take over from now on."""
        held, self._held = self._held or [], None
        for record in held:
            for handler in handlers:
                handler.handle(record)

    SHOWN_KINDS = 5
    WIDTH = 160

    def terminal_lines(self, where: str) -> list[str]:
        """What the terminal shows about the warnings: counts per kind, first few."""
        if not self.count:
            return []
        from smtpcore.diagnostics import summarize

        kinds = summarize(self.warnings)
        total = sum(count for count, _ in kinds) + self.count - len(self.warnings)
        lines = [f"smtpcore: {total} warnings (damaged or incomplete input); {where}"]
        for count, first in kinds[: self.SHOWN_KINDS]:
            text = first if len(first) <= self.WIDTH else first[: self.WIDTH - 1] + "…"
            lines.append(f"  {count:>7} × {text}")
        if len(kinds) > self.SHOWN_KINDS:
            lines.append(f"  … and {len(kinds) - self.SHOWN_KINDS} more kinds")
        return lines


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smtpcore",
        description="SMTP sessions, messages, attachments and credentials from packet "
        "captures, archives (tar, tar.gz, zip), folders and disk images.",
        epilog="Run 'smtpcore extract --help' or 'smtpcore summary --help' for "
        "examples, the files written and the exit statuses.",
    )
    parser.add_argument(
        "--version", action="version", version=f"smtpcore {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def add_common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "inputs",
            nargs="+",
            metavar="INPUT",
            help="capture (pcap/pcapng, gzip too), archive, folder, or disk image",
        )
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        sub.add_argument(
            "--log",
            metavar="FILE",
            help="also write the log to FILE (outside the evidence)",
        )
        sub.add_argument(
            "--partitions",
            default="all",
            help="partitions of disk images to search: all, or e.g. p1,p3",
        )
        sub.add_argument(
            "--volumes",
            default="all",
            help="volumes of disk images to search: all, or e.g. apfs1",
        )
        sub.add_argument(
            "--vss-stores",
            "--snapshots",
            dest="snapshots",
            default="none",
            help="volume shadow snapshots: none (default), all, or e.g. 1,2",
        )
        sub.add_argument(
            "--keylog",
            action="append",
            default=[],
            metavar="FILE",
            help="TLS key log (SSLKEYLOGFILE format) to decrypt STARTTLS and "
            "implicit-TLS sessions with; repeatable. Key logs among the inputs "
            "are found and used too",
        )
        sub.add_argument(
            "--no-deleted",
            action="store_true",
            help="skip deleted files that the file system still lists",
        )
        sub.add_argument(
            "--tsk-stall-seconds",
            type=_positive_seconds,
            default=None,
            metavar="S",
            help="give up what the deleted-file search reads when The Sleuth Kit "
            "spends more than S seconds on one folder or entry (damaged file "
            f"system); default {tskwatch.STALL_SECONDS:g}",
        )

    formatter = argparse.RawDescriptionHelpFormatter
    extract = commands.add_parser(
        "extract",
        help="write messages, attachments, credentials, tables and report.html "
        "to a folder",
        description="Write everything found in the inputs to OUTDIR.",
        epilog=_EXTRACT_EPILOG,
        formatter_class=formatter,
    )
    add_common(extract)
    extract.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUTDIR",
        help="new or empty folder for the results (its parent must exist)",
    )
    extract.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty OUTDIR, replacing an earlier run's files",
    )
    extract.add_argument(
        "-j",
        "--jobs",
        type=_positive,
        default=min(os.cpu_count() or 1, 2),
        metavar="N",
        help="processes to use, 1 or more: 1 reads the capture, the "
        "others decode messages and write their report pages (default: %(default)s)",
    )
    extract.add_argument("--case", help="case number or name, kept in manifest.json")
    extract.add_argument("--examiner", help="examiner's name, kept in manifest.json")
    extract.add_argument("--note", help="free text, kept in manifest.json")
    summary = commands.add_parser(
        "summary",
        help="print a table of what the inputs hold",
        description="Print a table of the mail transactions and sessions found.",
        epilog=_SUMMARY_EPILOG,
        formatter_class=formatter,
    )
    add_common(summary)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        return _main(argv)
    finally:
        gc.unfreeze()  # for a caller that goes on (tests run main many times)


def run() -> None:
    """The ``smtpcore`` command: `main`, then an exit without the interpreter's
    teardown.

    Why: freeing every module and object one by one at exit took 40 to 50 ms, a
    sixteenth of a run over a mostly-web capture. Nothing is lost: every output is
    closed when `main` returns, and what a normal exit still does is done here
    first: other threads are waited for, the exit handlers run (the TSK watchdog's
    child is stopped, the log flushed) and the standard streams are flushed.
    """
    status = main()
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: what the interpreter would exit with
        status = status or 120
    os._exit(status)


def _main(argv: Optional[Sequence[str]]) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.argv = argv
    clash = _misplaced_output(args)
    if clash:
        print(f"smtpcore: {clash}", file=sys.stderr)
        return EXIT_USAGE
    digests = None
    if args.command == "extract":  # read-only; meanwhile the library is imported
        digests = FileDigests([name for name in args.inputs if not os.path.isdir(name)])
    from smtpcore import api
    from smtpcore.evidence import EvidenceError

    # What is imported now lives as long as the run: the cyclic collector need not
    # walk it again at every full collection (a few % of a mostly-web capture).
    gc.freeze()
    warnings = _Warnings()
    log.handlers.clear()
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(warnings)
    skipped: list[dict[str, str]] = []

    def skip(path: str, reason: str) -> None:
        skipped.append({"path": path, "reason": reason})
        log.info("skipped %s: %s", path, reason)

    try:
        found = api.find(
            args.inputs,
            warn=log.warning,
            partitions=args.partitions,
            volumes=args.volumes,
            snapshots=args.snapshots,
            include_deleted=not args.no_deleted,
            tsk_stall_seconds=args.tsk_stall_seconds,
            skipped=skip,
        )
    except EvidenceError as error:
        print(f"smtpcore: {error}", file=sys.stderr)
        return EXIT_USAGE
    _print_skipped(skipped)
    keylog, keylogs = api.load_keylogs(found, args.keylog, warn=log.warning)
    args.keylogs = keylogs
    found = [capture for capture in found if capture.kind != "keylog"]
    if not found:
        print(
            "smtpcore: no packet capture found in the inputs "
            "(pcap, pcapng, gzip-compressed, or inside an archive or disk image).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.command == "extract":
        status = _extract(args, found, warnings, skipped, keylog, digests)
    else:
        status = _summary(args, found, warnings, keylog)
    if status == EXIT_USAGE:
        return status
    if warnings.count:
        status = max(status, EXIT_DAMAGED)
    return status


def _print_skipped(skipped: list[dict[str, str]]) -> None:
    if not skipped:
        return
    names = ", ".join(entry["path"] for entry in skipped[:5])
    more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    what = (
        "1 file that is neither a capture nor a disk image"
        if len(skipped) == 1
        else f"{len(skipped)} files that are neither captures nor disk images"
    )
    print(f"smtpcore: skipped {what}: {names}{more}", file=sys.stderr)


def _open_logs(paths: list[pathlib.Path], warnings: _Warnings) -> list[logging.Handler]:
    """The log files, each holding everything logged so far and from now on."""
    handlers: list[logging.Handler] = []
    seen: set[pathlib.Path] = set()
    for path in paths:
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        handler = logging.FileHandler(path, mode="w", encoding="utf-8")
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handlers.append(handler)
    warnings.hand_over(handlers)
    for handler in handlers:
        log.addHandler(handler)
    return handlers


def _close_logs(handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        log.removeHandler(handler)
        handler.close()


def _hash_inputs(
    inputs: Sequence[str], quiet: bool, digests: FileDigests
) -> list[dict[str, Any]]:
    """Each input as given: a folder, or a file with its size and SHA-256 (streamed,
    on the thread that started with the run; waited for here, after the reading,
    for the inputs that are not captures: disk images, archives)."""
    progress = _Progress(
        total_size([name for name in inputs if not os.path.isdir(name)]),
        not quiet,
        "hashing ",
    )
    while not digests.wait(0.2):
        progress.update(digests.position)
    progress.close()
    entries = []
    for name in inputs:
        if os.path.isdir(name):
            entries.append({"path": name, "type": "folder"})
            continue
        try:
            sha256, size = digests.result(name)
        except OSError as error:
            log.warning("%s: cannot be hashed: %s", name, error.strerror or error)
            entries.append({"path": name, "type": "file", "error": str(error)})
            continue
        entries.append({"path": name, "type": "file", "size": size, "sha256": sha256})
    return entries


def _extract(
    args: argparse.Namespace,
    found: list[api.FoundCapture],
    warnings: _Warnings,
    skipped: list[dict[str, str]],
    keylog=None,
    digests: Optional[FileDigests] = None,
) -> int:
    from smtpcore.output import OutputError, OutputFolder

    started = time.time_ns()
    root = pathlib.Path(args.output)
    try:
        out = OutputFolder(root, force=args.force)
    except OutputError as error:
        print(f"smtpcore: {error}", file=sys.stderr)
        return EXIT_USAGE
    log_paths = [root / LOG_NAME] + ([pathlib.Path(args.log)] if args.log else [])
    try:
        handlers = _open_logs(log_paths, warnings)
    except OSError as error:
        print(f"smtpcore: cannot write the log: {error}", file=sys.stderr)
        return EXIT_USAGE
    log.info("smtpcore %s: %s", __version__, " ".join(["smtpcore", *args.argv]))
    try:
        manifest = _extract_into(args, found, out, skipped, started, keylog, digests)
        _close_logs(handlers)
        out.add_existing(LOG_NAME)
        out.close(dict(manifest, warnings=warnings.count), warnings.warnings)
    except OSError as error:  # a full disk, a folder removed under our feet
        _close_logs(handlers)
        print(f"smtpcore: cannot write into {root}: {error}", file=sys.stderr)
        return EXIT_USAGE
    counts = out.counts
    print(
        f"{counts['sessions']} sessions, {counts['messages']} mail transactions "
        f"({counts['eml']} .eml), {counts['attachments']} attachments, "
        f"{counts['credentials']} credentials → {args.output}; "
        f"report: {root / 'report.html'}"
    )
    for line in warnings.terminal_lines(
        f"see {root / LOG_NAME} and {root / 'report.html'}"
    ):
        print(line, file=sys.stderr)
    return EXIT_OK


def _extract_into(
    args: argparse.Namespace,
    found: list[api.FoundCapture],
    out: OutputFolder,
    skipped: list[dict[str, str]],
    started: int,
    keylog=None,
    digests: Optional[FileDigests] = None,
) -> dict[str, Any]:
    """Reads every capture into the folder; returns the manifest, less its counts."""
    from smtpcore import api
    from smtpcore.model import iso_time
    from smtpcore.workers import ParallelOutput

    if digests is None:
        digests = FileDigests([n for n in args.inputs if not os.path.isdir(n)])
    progress = _Progress(sum(c.size or 0 for c in found), not args.quiet)
    sink = ParallelOutput(out, args.jobs - 1) if args.jobs > 1 else out
    inputs = []
    prefixes: set[str] = set()
    for capture in found:
        prefix = _CapturePrefix(capture, digests, prefixes, len(inputs) + 1)
        log.info("reading %s", capture.source)
        deferred = capture.source in digests  # else: a first pass, now
        result = api.read_capture(
            capture,
            session_prefix=prefix if deferred else prefix(True),
            warn=log.warning,
            mime=sink is out,
            payloads=True,
            progress=progress.update,
            on_item=lambda item, source=capture.source: sink.add(item, source),
            expected_sha256=prefix.sha256,
            keylog=keylog,
            md5_sha1=sink is out,  # else the workers hash each .eml they decode
            hash_in_child=True,
        )
        log.info("%s: identifiers %s", capture.source, result.get("id"))
        progress.done += capture.size or 0
        inputs.append(result)
    if sink is not out:
        sink.close()
    progress.close()
    evidence = _hash_inputs(args.inputs, args.quiet, digests)  # done by now, mostly
    return {
        "tool": "smtpcore",
        "version": __version__,
        "command_line": ["smtpcore", *args.argv],
        "case": args.case,
        "examiner": args.examiner,
        "note": args.note,
        "start_time": iso_time(started),
        "end_time": iso_time(time.time_ns()),
        "evidence": evidence,
        "inputs": inputs,
        "skipped": skipped,
        "keylogs": args.keylogs,
        "log": LOG_NAME,
    }


class _CapturePrefix:
    """The identifier prefix of a capture, from its SHA-256 (``api.capture_prefix``).

    Called as ``pipeline.extract`` takes a prefix that is still being computed: an
    input file is hashed on the thread that started with the run, and the reading
    need not wait for it (on mostly-web captures that wait was a fifth of the run).
    A capture in a folder or an image is hashed by a first pass when first asked.
    """

    def __init__(self, capture, digests: FileDigests, taken: set, number: int):
        self._capture = capture
        self._digests = digests
        self._taken = taken  # prefixes given so far: a capture read twice gets _2
        self._number = number
        self._prefix: Optional[str] = None
        self._sha256: Optional[str] = None

    def __call__(self, wait: bool) -> Optional[str]:
        if self._prefix is None:
            from smtpcore import api

            source = self._capture.source
            if source in self._digests:
                if not wait and not self._digests.ready(source):
                    return None
                try:
                    self._sha256 = self._digests.result(source)[0]
                except OSError:
                    self._sha256 = None
            else:
                self._sha256 = _capture_digest(self._capture)
            sha256 = self._sha256
            prefix = api.capture_prefix(sha256) if sha256 else f"c{self._number}-"
            copy = 1
            while prefix in self._taken:  # the same capture twice (a copy in an image)
                copy += 1
                prefix = api.capture_prefix(sha256)[:-1] + f"_{copy}-"
            self._taken.add(prefix)
            self._prefix = prefix
        return self._prefix

    def sha256(self) -> Optional[str]:
        """The SHA-256 of the earlier pass, to check the bytes read against."""
        self(True)
        return self._sha256


def _capture_digest(capture: api.FoundCapture) -> Optional[str]:
    """The SHA-256 of a capture found in a folder or image, by a first pass."""
    from smtpcore import api

    try:
        with capture.open() as handle:
            return api.digest(handle)[0]
    except OSError as error:
        log.warning("%s: cannot be read: %s", capture.source, error)
        return None


def _misplaced_output(args: argparse.Namespace) -> Optional[str]:
    """Why the output folder or the log may not go where asked, if they may not."""
    output = getattr(args, "output", None)
    if output:
        clash = _endangers_evidence(pathlib.Path(output), args.inputs)
        if clash:
            return f"{clash}; choose an output folder outside the evidence"
    if args.log:
        clash = _endangers_evidence(pathlib.Path(args.log), args.inputs)
        if clash:
            return f"{clash}; choose a log file outside the evidence"
    return None


def _endangers_evidence(target: pathlib.Path, inputs: Sequence[str]) -> Optional[str]:
    """Evidence is read-only: nothing is written over an input, into an input folder
    or around an input (a folder that holds one). Beside an input file is fine."""
    resolved = target.resolve()
    for name in inputs:
        source = pathlib.Path(name).resolve()
        if resolved == source:
            return f"{target} is the input {name}"
        if source.is_dir() and source in resolved.parents:
            return f"{target} is inside the input folder {name}"
        if resolved in source.parents:
            return f"{target} holds the input {name}"
    return None


# -- summary ------------------------------------------------------------------


def _summary(
    args: argparse.Namespace,
    found: list[api.FoundCapture],
    warnings: _Warnings,
    keylog=None,
) -> int:
    """One row per mail transaction, and one per session that carried none."""
    from smtpcore import api
    from smtpcore.model import Message, Session

    handlers: list[logging.Handler] = []
    if args.log:
        try:
            handlers = _open_logs([pathlib.Path(args.log)], warnings)
        except OSError as error:
            print(f"smtpcore: cannot write the log: {error}", file=sys.stderr)
            return EXIT_USAGE
    rows: list[tuple[int, int, tuple[str, ...]]] = []
    counts = {"sessions": 0, "messages": 0}

    def endpoints(item: Session | Message) -> str:
        e = item.endpoints
        return f"{e.client_ip} → {e.server_ip}:{e.server_port}"

    def add(ts_ns: int, cells: tuple[str, ...]) -> None:
        rows.append((ts_ns, len(rows), cells))

    def take(item: Session | Message | Credential, source: str) -> None:
        if isinstance(item, Message):
            counts["messages"] += 1
            mime = item.mime
            rejected = (
                f" (+{len(item.rcpt_rejected)} rejected)" if item.rcpt_rejected else ""
            )
            add(
                item.time_ns,
                (
                    _short_time(item.time_ns),
                    source,
                    endpoints(item),
                    (
                        (item.mail_from or "<>")
                        if item.protocol == "smtp"
                        else (
                            f"{item.protocol.upper()} {item.kind}: {mime.from_ or ''}"
                            if mime
                            else f"{item.protocol.upper()} {item.kind}"
                        )
                    ),
                    (
                        (", ".join(item.rcpt_to) + rejected).strip()
                        if item.protocol == "smtp"
                        else (item.mailbox or "")
                    ),
                    (mime.subject or "") if mime else "",
                    (
                        ", ".join(a.filename or "?" for a in mime.attachments)
                        if mime
                        else ""
                    ),
                    item.auth_user or "",
                ),
            )
        elif isinstance(item, Session):
            counts["sessions"] += 1
            if item.messages == 0:
                if item.encrypted:
                    state = (
                        "encrypted after STARTTLS" if item.starttls else "implicit TLS"
                    )
                else:
                    state = "no mail transaction"
                add(
                    item.start_ns,
                    (
                        _short_time(item.start_ns),
                        source,
                        endpoints(item),
                        "",
                        "",
                        f"({state})",
                        "",
                        item.auth_user or "",
                    ),
                )

    for capture in found:
        api.read_capture(
            capture,
            warn=log.warning,
            on_item=lambda item, source=capture.source: take(item, source),
            keylog=keylog,
        )
    header = (
        "Time (UTC)",
        "Source",
        "Client → server",
        "Sender",
        "Recipients",
        "Subject",
        "Attachments",
        "Auth user",
    )
    rows.sort(key=lambda row: (row[0], row[1]))
    _print_table(header, [cells for _, _, cells in rows], _terminal_width())
    print(f"{counts['sessions']} sessions, {counts['messages']} mail transactions")
    _close_logs(handlers)
    where = f"see {args.log}" if args.log else "--log FILE keeps them"
    for line in warnings.terminal_lines(where):
        print(line, file=sys.stderr)
    return EXIT_OK


def _short_time(ts_ns: int) -> str:
    from smtpcore.model import iso_time

    moment = iso_time(ts_ns)
    return moment[:19].replace("T", " ") if moment else "?"


def _terminal_width() -> Optional[int]:
    """The terminal's width; None (no limit) when the output is not a terminal."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return shutil.get_terminal_size().columns
    return None


def _visible(text: str) -> str:
    """Controls and bidi/format characters shown by code point, never interpreted."""
    if text.isprintable():
        return text
    return "".join(
        (
            f"⟨U+{ord(c):04X}⟩"
            if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
            else c
        )
        for c in text
    )


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns the text takes on a terminal: CJK characters take two."""
    return sum(_char_width(char) for char in text)


def _fit(text: str, width: int, keep_end: bool = False) -> str:
    """The text cut to width columns, with "…" where it was cut."""
    if display_width(text) <= width:
        return text
    chars = reversed(text) if keep_end else iter(text)
    kept, used = [], 0
    for char in chars:
        size = _char_width(char)
        if used + size > width - 1:
            break
        kept.append(char)
        used += size
    if keep_end:
        return "…" + "".join(reversed(kept))
    return "".join(kept) + "…"


def _column_widths(natural: list[int], minimum: list[int], room: int) -> list[int]:
    """Widths that fit room: the widest columns give way first, none below minimum."""
    if sum(natural) <= room:
        return natural
    low, high = 0, max(natural)
    while low < high:  # the largest cap that still fits
        cap = (low + high + 1) // 2
        if sum(max(min(n, cap), m) for n, m in zip(natural, minimum)) <= room:
            low = cap
        else:
            high = cap - 1
    return [max(min(n, low), m) for n, m in zip(natural, minimum)]


# Narrowest width of each summary column, and the columns left out first when even
# those do not fit the terminal.
_MINIMUM = {"Time (UTC)": 19, "Client → server": 15, "Auth user": 6}
_LEFT_OUT_FIRST = ("Attachments", "Auth user", "Source", "Client → server")


def _print_table(
    header: tuple[str, ...], rows: list[tuple[str, ...]], width: Optional[int]
) -> None:
    cells = [tuple(_visible(c) for c in row) for row in [header, *rows]]
    natural = [max(display_width(row[i]) for row in cells) for i in range(len(header))]
    shown = list(range(len(header)))
    widths = natural
    if width is not None:
        minimum = [min(n, _MINIMUM.get(h, 8)) for h, n in zip(header, natural)]
        left_out = list(_LEFT_OUT_FIRST)

        def needed() -> int:
            return sum(minimum[i] for i in shown) + 2 * (len(shown) - 1)

        while needed() > width and left_out:
            shown.remove(header.index(left_out.pop(0)))
        fitted = _column_widths(
            [natural[i] for i in shown],
            [minimum[i] for i in shown],
            width - 2 * (len(shown) - 1),
        )
        widths = [0] * len(header)
        for i, w in zip(shown, fitted):
            widths[i] = w
    source = header.index("Source")
    for index, row in enumerate(cells):
        line = "  ".join(
            _pad(_fit(row[i], widths[i], keep_end=(i == source)), widths[i])
            for i in shown
        )
        print(line.rstrip())
        if index == 0:
            print("  ".join("-" * widths[i] for i in shown))
    if len(shown) < len(header):
        missing = ", ".join(h for i, h in enumerate(header) if i not in shown)
        print(f"(left out to fit the terminal: {missing}; widen it or use | less -S)")


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


if __name__ == "__main__":
    sys.exit(main())
