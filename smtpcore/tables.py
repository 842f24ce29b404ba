"""The JSON records as flat rows, for spreadsheets (messages.csv and the others).

Lists are joined with ``"; "``, booleans are ``true``/``false``, unknown values are
empty. A text cell that a spreadsheet would run as a formula (it starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) gets a leading ``'``, so opening a
hostile subject never runs it; the JSONL files keep every value exactly.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Optional

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (list, tuple)):
        return "; ".join(_cell(item) for item in value)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _hop(hop: Optional[dict], name: str) -> Optional[str]:
    return hop.get(name) if hop else None


MESSAGE_COLUMNS = (
    "id", "session_id", "source", "time", "client_ip", "client_port", "server_ip",
    "server_port", "helo", "auth_user", "mail_from", "rcpt_to", "rcpt_rejected",
    "accepted", "reply", "queue_id", "complete", "missing_bytes", "size", "md5",
    "sha1", "sha256", "eml", "subject", "from", "to", "cc", "date", "date_utc",
    "message_id", "reply_to", "reply_to_differs", "from_differs_from_envelope",
    "return_path", "sender", "user_agent", "x_originating_ip", "in_reply_to",
    "references", "received_hops", "first_hop_from", "first_hop_ip",
    "first_hop_date", "last_hop_by", "last_hop_date", "attachments",
    "attachment_sha256", "warnings",
)  # fmt: skip

SESSION_COLUMNS = (
    "session_id", "source", "client_ip", "client_port", "server_ip", "server_port",
    "start_time", "end_time", "banner", "helo", "extensions", "starttls",
    "tls_server_name", "encrypted", "messages", "auth_attempts", "auth_user",
    "complete", "close_reason", "warnings",
)  # fmt: skip

CREDENTIAL_COLUMNS = (
    "id", "session_id", "time", "client_ip", "client_port", "server_ip",
    "server_port", "helo", "mechanism", "username", "password", "username_hex",
    "password_hex", "authzid", "realm", "domain", "workstation", "token", "success",
    "complete", "aborted", "reply", "hashcat_mode", "hashcat", "john_format", "john",
)  # fmt: skip

ATTACHMENT_COLUMNS = (
    "message", "filename", "size", "md5", "sha1", "sha256", "detected_type",
    "content_type", "inline", "content_id", "path", "message_id", "source",
)  # fmt: skip


def message_row(record: dict[str, Any]) -> list[str]:
    first, last = record["received_first_hop"], record["received_last_hop"]
    derived = {
        "rcpt_rejected": [r["address"] for r in record["rcpt_rejected"]],
        "received_hops": len(record["received"]),
        "first_hop_from": _hop(first, "from"),
        "first_hop_ip": _hop(first, "ip"),
        "first_hop_date": _hop(first, "date"),
        "last_hop_by": _hop(last, "by"),
        "last_hop_date": _hop(last, "date"),
        "attachments": [a["filename"] or "" for a in record["attachments"]],
        "attachment_sha256": [a["sha256"] for a in record["attachments"]],
        "warnings": " | ".join(record["warnings"]) or None,
    }
    return [
        _cell(derived[name] if name in derived else record[name])
        for name in MESSAGE_COLUMNS
    ]


def session_row(record: dict[str, Any]) -> list[str]:
    row = dict(record, warnings=" | ".join(record["warnings"]) or None)
    return [_cell(row[name]) for name in SESSION_COLUMNS]


def credential_row(record: dict[str, Any]) -> list[str]:
    return [_cell(record[name]) for name in CREDENTIAL_COLUMNS]


def attachment_rows(record: dict[str, Any]) -> Iterable[list[str]]:
    for attachment in record["attachments"]:
        row = dict(
            attachment,
            message=record["id"],
            message_id=record["message_id"],
            source=record["source"],
        )
        yield [_cell(row[name]) for name in ATTACHMENT_COLUMNS]


def csv_line(row: Iterable[str]) -> bytes:
    """One CSV line (RFC 4180 quoting, CRLF), UTF-8."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(row)
    return buffer.getvalue().encode("utf-8")
