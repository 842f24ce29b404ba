"""report.html: one self-contained page for an examiner who would rather look than read JSON.

Safety: the page carries a Content-Security-Policy that forbids scripts and any remote
load; HTML bodies are shown inside sandboxed iframes (srcdoc, no script permission), and
everything else is escaped text. Sections are spooled to temporary files as items
arrive, so the report costs no memory per message.
"""

from __future__ import annotations

import base64
import html
import tempfile
from typing import Any, BinaryIO, Optional

from smtpcore import __version__
from smtpcore.model import Attachment, MimeInfo

_BODY_LIMIT = 200_000  # characters of a body shown in the report
_INLINE_IMAGE_LIMIT = 1 << 20  # bytes of an inline picture embedded in the report

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top;font-size:13px}th{background:#f3f3f3}
.msg{border:1px solid #ccc;border-radius:4px;margin:1em 0;padding:.6em 1em}
.msg h3{margin:.2em 0;font-size:1.05em}.meta td:first-child{width:9em;color:#555}
pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;padding:.5em;
border:1px solid #eee;max-height:30em;overflow:auto}
iframe{width:100%;height:22em;border:1px solid #eee;background:#fff}
.bad{color:#a00}.ok{color:#070}.warn{color:#a60;font-size:12px}
"""


def _e(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_e(v) for v in value)
    return html.escape(str(value), quote=True)


def _outcome(value: Optional[bool]) -> str:
    if value is None:
        return '<span class="warn">unknown</span>'
    return '<span class="ok">yes</span>' if value else '<span class="bad">no</span>'


def shows_inline(attachment: Attachment) -> bool:
    """Whether the report embeds this attachment's bytes (an inline picture)."""
    return bool(
        attachment.content_id
        and attachment.content_type.startswith("image/")
        and attachment.size <= _INLINE_IMAGE_LIMIT
    )


def _inline_images(text: str, mime: MimeInfo) -> str:
    """Points cid: references at data: URIs, so inline pictures show without any load."""
    for attachment in mime.attachments:
        if (
            attachment.payload is not None
            and shows_inline(attachment)
            and f"cid:{attachment.content_id}" in text
        ):
            data = base64.b64encode(attachment.payload).decode("ascii")
            uri = f"data:{attachment.content_type};base64,{data}"
            text = text.replace(f"cid:{attachment.content_id}", uri)
    return text


class ReportBuilder:
    """Collects report sections as items arrive; writes the page at the end."""

    def __init__(self) -> None:
        self._sections = {
            name: tempfile.SpooledTemporaryFile(
                max_size=1 << 20, mode="w+t", encoding="utf-8"
            )
            for name in ("sessions", "messages", "credentials")
        }
        self._counts = {name: 0 for name in self._sections}

    def add_session(self, r: dict[str, Any]) -> None:
        self._counts["sessions"] += 1
        self._sections["sessions"].write(
            "<tr>"
            f"<td>{_e(r['session_id'])} ({_e(r.get('protocol', 'smtp')).upper()})</td>"
            f"<td>{_e(r['start_time'])}</td><td>{_e(r['end_time'])}</td>"
            f"<td>{_e(r['client_ip'])}:{_e(r['client_port'])} → "
            f"{_e(r['server_ip'])}:{_e(r['server_port'])}</td>"
            f"<td>{_e(r['helo'])}</td><td>{_e(r['banner'])}</td>"
            f"<td>{_e(r['encrypted'])}</td><td>{_e(r['messages'])}</td>"
            f"<td>{_e(r['auth_attempts'])}</td><td>{_outcome(r['complete'])}</td>"
            f"<td class=warn>{_e(r['warnings'])}</td><td>{_e(r['source'])}</td>"
            "</tr>\n"
        )

    def add_credential(self, r: dict[str, Any]) -> None:
        self._counts["credentials"] += 1
        self._sections["credentials"].write(
            "<tr>"
            f"<td>{_e(r['time'])}</td><td>{_e(r['session_id'])}</td>"
            f"<td>{_e(r['client_ip'])} → {_e(r['server_ip'])}:{_e(r['server_port'])}</td>"
            f"<td>{_e(r.get('protocol', 'smtp')).upper()} {_e(r['mechanism'])}</td>"
            f"<td>{_e(r['username'])}</td>"
            f"<td>{_e(r['password'])}</td><td>{_outcome(r['success'])}</td>"
            f"<td><code>{_e(r['hashcat'])}</code></td>"
            "</tr>\n"
        )

    def add_message(self, r: dict[str, Any], mime: Optional[MimeInfo]) -> None:
        self._counts["messages"] += 1
        protocol = r.get("protocol", "smtp")
        rows = [
            ("Time (UTC)", r["time"]),
            ("Protocol", f"{protocol.upper()}, {r.get('kind', 'sent')}"),
            ("Mailbox", r.get("mailbox")),
            ("Command", r.get("command")),
            ("Partial fetch", r.get("partial")),
            ("Same bytes as", r.get("same_bytes_as")),
            (
                "Client → server",
                f"{r['client_ip']}:{r['client_port']} → "
                f"{r['server_ip']}:{r['server_port']}",
            ),
            ("Envelope from", r["mail_from"]),
            ("Envelope to", r["rcpt_to"]),
            (
                "Rejected",
                [f"{x['address']} ({x['reply']})" for x in r["rcpt_rejected"]],
            ),
            (
                ("Accepted", None)
                if protocol == "smtp" or r.get("kind") == "appended"
                else ("", None)
            ),
            ("Queue id", r["queue_id"]),
            ("Auth user", r["auth_user"]),
            ("From", r["from"]),
            ("To", r["to"]),
            ("Cc", r["cc"]),
            ("Date", r["date"]),
            ("Message-ID", r["message_id"]),
            (
                "Size / SHA-256",
                f"{r['size']} bytes, {r['sha256']}" if r["sha256"] else None,
            ),
            (".eml", r["eml"]),
        ]
        out = self._sections["messages"]
        label = f"{protocol.upper()} {r.get('kind', 'sent')}"
        out.write(
            f'<div class="msg" id="{_e(r["id"])}"><h3>[{_e(label)}] '
            f'{_e(r["subject"]) or "(no subject)"}'
            f' <small>{_e(r["id"])}</small></h3><table class="meta">'
        )
        for label, value in rows:
            shown = _outcome(r["accepted"]) if label == "Accepted" else _e(value)
            if label == "Accepted" or value:
                out.write(f"<tr><td>{label}</td><td>{shown}</td></tr>")
        if not r["complete"] and (r["missing_bytes"] or not r.get("partial")):
            out.write(
                f'<tr><td>Incomplete</td><td class="bad">{_e(r["missing_bytes"])} bytes '
                "missing from the capture</td></tr>"
            )
        out.write("</table>")
        if r["attachments"]:
            out.write(
                "<table><tr><th>Attachment</th><th>Type</th><th>Size</th>"
                "<th>SHA-256</th><th>File</th></tr>"
            )
            for a in r["attachments"]:
                out.write(
                    f"<tr><td>{_e(a['filename'])}{' (inline)' if a['inline'] else ''}</td>"
                    f"<td>{_e(a['content_type'])}</td><td>{_e(a['size'])}</td>"
                    f"<td><code>{_e(a['sha256'])}</code></td><td>{_e(a['path'])}</td></tr>"
                )
            out.write("</table>")
        for body in mime.bodies if mime else []:
            text = body.text[:_BODY_LIMIT]
            label = f"{_e(body.content_type)} ({_e(body.used_charset)})"
            if body.content_type == "text/html":
                text = _inline_images(text, mime)
                page = f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">{text}'
                out.write(
                    f"<p>{label}, shown without scripts or remote content:</p>"
                    f'<iframe sandbox="" referrerpolicy="no-referrer" '
                    f'srcdoc="{html.escape(page, quote=True)}"></iframe>'
                )
            else:
                out.write(f"<p>{label}:</p><pre>{_e(text)}</pre>")
        if r["warnings"]:
            out.write(f'<p class="warn">{_e(r["warnings"])}</p>')
        out.write("</div>\n")

    def write(self, writer: BinaryIO, warnings: list[str]) -> None:
        def emit(text: str) -> None:
            writer.write(text.encode("utf-8"))

        emit(
            "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            "<title>smtpcore report</title>"
            f"<style>{_STYLE}</style></head><body>"
            f"<h1>SMTP evidence — smtpcore {_e(__version__)}</h1>"
            f"<p>{self._counts['sessions']} sessions, {self._counts['messages']} "
            f"mail transactions, {self._counts['credentials']} authentication attempts.</p>"
        )
        emit(f"<h2>Messages ({self._counts['messages']})</h2>")
        self._copy("messages", emit)
        emit(
            f"<h2>Credentials ({self._counts['credentials']})</h2><table><tr>"
            "<th>Time (UTC)</th><th>Session</th><th>Client → server</th><th>Mechanism</th>"
            "<th>User</th><th>Password</th><th>Success</th><th>hashcat</th></tr>"
        )
        self._copy("credentials", emit)
        emit(
            f"</table><h2>Sessions ({self._counts['sessions']})</h2><table><tr>"
            "<th>Session</th><th>Start (UTC)</th><th>End (UTC)</th><th>Client → server</th>"
            "<th>HELO</th><th>Banner</th><th>Encrypted</th><th>Messages</th><th>AUTH</th>"
            "<th>Complete</th><th>Warnings</th><th>Source</th></tr>"
        )
        self._copy("sessions", emit)
        emit("</table>")
        if warnings:
            emit(f"<h2>Warnings ({len(warnings)})</h2><ul>")
            for warning in warnings:
                emit(f"<li>{_e(warning)}</li>")
            emit("</ul>")
        emit("</body></html>\n")

    def _copy(self, name: str, emit) -> None:
        section = self._sections[name]
        section.seek(0)
        while chunk := section.read(1 << 16):
            emit(chunk)
        section.close()
