"""The `smtpcore` command: a thin layer over smtpcore.api for examiners at a terminal."""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys
import time
from typing import Optional, Sequence

from smtpcore import __version__, api
from smtpcore.evidence import EvidenceError
from smtpcore.model import Credential, Message, Session, iso_time
from smtpcore.output import OutputError, OutputFolder
from smtpcore.workers import ParallelOutput

EXIT_OK, EXIT_DAMAGED, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("smtpcore")


class _Progress:
    """A one-line progress bar on stderr, redrawn at most a few times a second."""

    def __init__(self, total: int, enabled: bool):
        self.total = max(total, 1)
        self.enabled = enabled and sys.stderr.isatty()
        self.done = 0  # bytes of earlier inputs
        self._last = 0.0

    def update(self, position: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.2:
            return
        self._last = now
        share = min((self.done + position) / self.total, 1.0)
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\r[{bar:<30}] {share:6.1%} of {self.total / 1e6:,.1f} MB")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 60 + "\r")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smtpcore",
        description="SMTP sessions, messages, attachments and credentials from packet "
        "captures, folders of captures and disk images.",
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
            help="capture (pcap/pcapng, gzip too), folder, or disk image",
        )
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        sub.add_argument("--log", metavar="FILE", help="also write warnings to FILE")
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
            "--no-deleted",
            action="store_true",
            help="skip deleted files that the file system still lists",
        )

    extract = commands.add_parser(
        "extract",
        help="write messages, attachments, "
        "credentials, JSONL, report.html to a folder",
    )
    add_common(extract)
    extract.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUTDIR",
        help="new or empty folder for the results",
    )
    extract.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty OUTDIR, replacing an earlier run's files",
    )
    extract.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=min(os.cpu_count() or 1, 2),
        metavar="N",
        help="processes to use: 1 reads the capture, the "
        "others decode messages (default: %(default)s)",
    )
    summary = commands.add_parser(
        "summary", help="print a table of what the inputs hold"
    )
    add_common(summary)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.argv = argv
    clash = _misplaced_output(args)
    if clash:
        print(f"smtpcore: {clash}", file=sys.stderr)
        return EXIT_USAGE
    warnings: list[str] = []
    try:
        _setup_logging(args.log, warnings)
    except OSError as error:
        print(f"smtpcore: cannot write the log: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        found = api.find(
            args.inputs,
            warn=log.warning,
            partitions=args.partitions,
            volumes=args.volumes,
            snapshots=args.snapshots,
            include_deleted=not args.no_deleted,
        )
    except EvidenceError as error:
        print(f"smtpcore: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not found:
        print(
            "smtpcore: no packet capture found in the inputs "
            "(pcap, pcapng, gzip-compressed, or inside a disk image).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.command == "extract":
        status = _extract(args, found, warnings)
    else:
        status = _summary(args, found)
    if warnings:
        print(
            f"smtpcore: {len(warnings)} warnings (damaged or incomplete input); "
            "see the log or report.html",
            file=sys.stderr,
        )
        status = max(status, EXIT_DAMAGED)
    return status


def _setup_logging(log_file: Optional[str], warnings: list[str]) -> None:
    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING and len(warnings) < 100_000:
                warnings.append(record.getMessage())

    log.handlers.clear()
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(Collect())
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)


def _extract(
    args: argparse.Namespace, found: list[api.FoundCapture], warnings: list[str]
) -> int:
    started = time.time_ns()
    try:
        out = OutputFolder(pathlib.Path(args.output), force=args.force)
    except OutputError as error:
        print(f"smtpcore: {error}", file=sys.stderr)
        return EXIT_USAGE
    progress = _Progress(sum(c.size or 0 for c in found), not args.quiet)
    sink = ParallelOutput(out, args.jobs - 1) if args.jobs > 1 else out
    inputs = []
    for number, capture in enumerate(found, 1):
        log.info("reading %s", capture.source)
        result = api.read_capture(
            capture,
            session_prefix=f"c{number}-",
            warn=log.warning,
            mime=sink is out,
            payloads=True,
            progress=progress.update,
            on_item=lambda item, source=capture.source: sink.add(item, source),
        )
        progress.done += capture.size or 0
        inputs.append(result)
    if sink is not out:
        sink.close()
    progress.close()
    manifest = {
        "tool": "smtpcore",
        "version": __version__,
        "command_line": ["smtpcore", *args.argv],
        "start_time": iso_time(started),
        "end_time": iso_time(time.time_ns()),
        "inputs": inputs,
        "warnings": len(warnings),
    }
    out.close(manifest, warnings)
    counts = out.counts
    print(
        f"{counts['sessions']} sessions, {counts['messages']} mail transactions "
        f"({counts['eml']} .eml), {counts['attachments']} attachments, "
        f"{counts['credentials']} credentials → {args.output}"
    )
    return EXIT_OK


def _misplaced_output(args: argparse.Namespace) -> Optional[str]:
    """Why the output folder or the log may not go where asked, if they may not."""
    output = getattr(args, "output", None)
    if output:
        clash = _inside_evidence(pathlib.Path(output), args.inputs)
        if clash:
            return f"{clash}; choose an output folder outside the evidence"
    if args.log:
        log_path = pathlib.Path(args.log)
        clash = _inside_evidence(log_path.parent, args.inputs, holding_ok=True)
        if clash:
            return f"{clash}; choose a log file outside the evidence"
        if output and pathlib.Path(output).resolve() in log_path.resolve().parents:
            return f"the log {args.log} would be inside the output folder {output}"
    return None


def _inside_evidence(
    output: pathlib.Path, inputs: Sequence[str], holding_ok: bool = False
) -> Optional[str]:
    """Evidence is read-only: nothing is written into, beside or around an input."""
    target = output.resolve()
    for name in inputs:
        source = pathlib.Path(name).resolve()
        folder = source if source.is_dir() else source.parent
        if target == folder or folder in target.parents:
            where = "inside the input folder" if source.is_dir() else "beside the input"
            return f"{output} is {where} {name}"
        if target in source.parents and not holding_ok:
            return f"{output} holds the input {name}"
    return None


def _summary(args: argparse.Namespace, found: list[api.FoundCapture]) -> int:
    """One row per mail transaction, and one per session that carried none."""
    rows: list[tuple[str, ...]] = []
    counts = {"sessions": 0, "messages": 0}

    def endpoints(item: Session | Message) -> str:
        e = item.endpoints
        return f"{e.client_ip} → {e.server_ip}:{e.server_port}"

    def take(item: Session | Message | Credential) -> None:
        if isinstance(item, Message):
            counts["messages"] += 1
            mime = item.mime
            rejected = (
                f" (+{len(item.rcpt_rejected)} rejected)" if item.rcpt_rejected else ""
            )
            rows.append(
                (
                    iso_time(item.time_ns) or "",
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
                )
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
                rows.append(
                    (
                        iso_time(item.start_ns) or "",
                        endpoints(item),
                        "",
                        "",
                        f"({state})",
                        "",
                        item.auth_user or "",
                    )
                )

    for number, capture in enumerate(found, 1):
        api.read_capture(
            capture, session_prefix=f"c{number}-", warn=log.warning, on_item=take
        )
    header = (
        "Time (UTC)",
        "Client → server",
        "Sender",
        "Recipients",
        "Subject",
        "Attachments",
        "Auth user",
    )
    _print_table(header, rows)
    print(f"{counts['sessions']} sessions, {counts['messages']} mail transactions")
    return EXIT_OK


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    limit = 40
    cells = [
        tuple(c if len(c) <= limit else c[: limit - 1] + "…" for c in row)
        for row in [header, *rows]
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())
