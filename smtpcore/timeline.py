"""Timeline events for Timesketch (timesketch.jsonl), one per time a record carries.

Timesketch imports JSONL with ``message``, ``datetime`` and ``timestamp_desc`` plus any
fields. Time descriptions are plaso's, so these events sort and filter like those of
the plaso parser; the messages read like its formatter's. The Date header is the
sender's claim, not a time the capture saw, so its event says "Date header".
"""

from __future__ import annotations

from typing import Any, Optional

from smtpcore.model import Credential, Message, Session, iso_time

_NESTED = ("attachments", "received", "received_first_hop", "received_last_hop")


def fields(record: dict[str, Any]) -> dict[str, Any]:
    """The record's fields, flat: Timesketch shows scalars and lists of scalars.

    Every event of the record carries them after its head (`heads`).
    """
    flat = {k: v for k, v in record.items() if k not in _NESTED and k != "details"}
    if "id" in flat:
        flat["record_id"] = flat.pop("id")
    if "rcpt_rejected" in flat:
        flat["rcpt_rejected"] = [r["address"] for r in record["rcpt_rejected"]]
    if "attachments" in record:
        flat["attachment_names"] = [a["filename"] or "" for a in record["attachments"]]
        flat["attachment_sha256"] = [a["sha256"] for a in record["attachments"]]
        flat["received"] = [hop["raw"] for hop in record["received"]]
        first = record["received_first_hop"]
        flat["received_first_hop_ip"] = first["ip"] if first else None
    return flat


def _head(
    ts_ns: Optional[int], description: str, text: str, data_type: str
) -> Optional[dict[str, Any]]:
    moment = iso_time(ts_ns)
    if moment is None:
        return None
    return {
        "message": text,
        "datetime": moment,
        "timestamp": ts_ns // 1000,
        "timestamp_desc": description,
        "data_type": data_type,
    }


def _join(*pieces: Optional[str]) -> str:
    return " ".join(piece for piece in pieces if piece)


def _endpoints(record: dict[str, Any]) -> str:
    return (
        f"client {record['client_ip']} port {record['client_port']} -> server "
        f"{record['server_ip']} port {record['server_port']}"
    )


def _email_text(record: dict[str, Any], date_header: bool) -> str:
    accepted = {True: "(accepted)", False: "(refused by the server)"}
    return _join(
        "SMTP email",
        f"Date header: {record['date']}" if date_header else None,
        f"from {record['mail_from'] or '<>'}",
        f"to {', '.join(record['rcpt_to'])}" if record["rcpt_to"] else None,
        f"Subject: {record['subject']}" if record["subject"] is not None else None,
        accepted.get(record["accepted"]),
        f"size: {record['size']} bytes" if record["size"] is not None else None,
        f"From: {record['from']}" if record["from"] else None,
        f"Reply-To: {record['reply_to']}" if record["reply_to"] else None,
        "(Reply-To differs from From)" if record["reply_to_differs"] else None,
        (
            "(From differs from MAIL FROM)"
            if record["from_differs_from_envelope"]
            else None
        ),
        f"user: {record['auth_user']}" if record["auth_user"] else None,
        _endpoints(record),
        None if record["complete"] else "(incomplete: bytes missing from the capture)",
    )


def heads(item: Message | Session | Credential, record: dict[str, Any]) -> list[dict]:
    """The heads of the timeline events of one record (its JSON form beside the model
    object): each event is its head, then the record's `fields`."""
    if isinstance(item, Message):
        data_type = "smtp:email"
        found = [
            _head(item.time_ns, "Sent Time", _email_text(record, False), data_type)
        ]
        if item.mime is not None and item.mime.date_ns is not None:
            found.append(
                _head(
                    item.mime.date_ns,
                    "Creation Time",
                    _email_text(record, True),
                    data_type,
                )
            )
    elif isinstance(item, Credential):
        outcome = {True: "succeeded", False: "failed"}.get(record["success"])
        text = _join(
            "SMTP authentication",
            outcome,
            f"user: {record['username']}" if record["username"] is not None else None,
            (
                f"password: {record['password']}"
                if record["password"] is not None
                else None
            ),
            f"mechanism: {record['mechanism']}",
            _endpoints(record),
            None if record["complete"] else "(outcome not in the capture)",
        )
        found = [
            _head(item.time_ns, "Authentication Time", text, "smtp:authentication")
        ]
    elif isinstance(item, Session):
        text = _join(
            f"SMTP session {_endpoints(record)}",
            f"HELO: {record['helo']}" if record["helo"] else None,
            f"user: {record['auth_user']}" if record["auth_user"] else None,
            f"messages: {record['messages']}",
            "then TLS (rest of the session encrypted)" if record["encrypted"] else None,
            None if record["complete"] else "(incomplete)",
        )
        found = [
            _head(ts_ns, description, text, "smtp:session")
            for ts_ns, description in (
                (item.start_ns, "Start Time"),
                (item.end_ns, "End Time"),
            )
        ]
    else:
        found = []
    return [head for head in found if head is not None]
