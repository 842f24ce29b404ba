"""Model objects as the JSON records of the output contract (see README, "Output").

Field names here are a published contract: other tools read them. Add, never rename.
"""

from __future__ import annotations

from typing import Any, Optional

from smtpcore import crack, headers
from smtpcore.model import Credential, Endpoints, Message, Session, iso_time


def _endpoints(endpoints: Endpoints) -> dict[str, Any]:
    return {
        "client_ip": endpoints.client_ip,
        "client_port": endpoints.client_port,
        "server_ip": endpoints.server_ip,
        "server_port": endpoints.server_port,
    }


def message_record(message: Message, source: str) -> dict[str, Any]:
    mime = message.mime
    record: dict[str, Any] = {
        "id": message.id,
        "session_id": message.session_id,
        "source": source,
        "time": iso_time(message.time_ns),
        **_endpoints(message.endpoints),
        "helo": message.helo,
        "auth_user": message.auth_user,
        "mail_from": message.mail_from,
        "mail_parameters": message.mail_parameters,
        "rcpt_to": message.rcpt_to,
        "rcpt_rejected": [
            {"address": r.address, "reply": r.reply} for r in message.rcpt_rejected
        ],
        "accepted": message.accepted,
        "reply": message.reply,
        "queue_id": message.queue_id,
        "complete": message.complete,
        "missing_bytes": message.missing_bytes,
        "missing_ranges": [list(r) for r in message.missing_ranges],
        "missing_start": message.missing_start,
        "missing_end": message.missing_end,
        "size": message.size if message.data_sent else None,
        "md5": message.md5,
        "sha1": message.sha1,
        "sha256": message.sha256,
        "eml": message.eml_path,
        "subject": mime.subject if mime else None,
        "from": mime.from_ if mime else None,
        "to": mime.to if mime else None,
        "cc": mime.cc if mime else None,
        "date": mime.date if mime else None,
        "date_utc": iso_time(mime.date_ns) if mime else None,
        "message_id": mime.message_id if mime else None,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "detected_type": a.detected_type,
                "size": a.size,
                "md5": a.md5,
                "sha1": a.sha1,
                "sha256": a.sha256,
                "path": a.path,
                "inline": a.inline,
                "content_id": a.content_id,
            }
            for a in (mime.attachments if mime else [])
        ],
        "warnings": message.warnings,
        "smuggling_indicators": [
            {
                "marker": i.marker.decode("latin-1"),
                "offset": i.offset,
                "ended_data": i.ended_data,
            }
            for i in message.smuggling_indicators
        ],
        "protocol": message.protocol,
        "kind": message.kind,
        "mailbox": message.mailbox,
        "mailbox_raw": message.mailbox_raw,
        "command": message.command,
        "message_number": message.message_number,
        "uid": message.uid,
        "uidl": message.uidl,
        "partial": message.partial,
        "same_bytes_as": message.same_bytes_as,
        "joined_from": message.joined_from,
    }
    record.update(headers.pivot_fields(mime, message.mail_from))
    return record


def session_record(session: Session) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "source": session.source,
        **_endpoints(session.endpoints),
        "start_time": iso_time(session.start_ns),
        "end_time": iso_time(session.end_ns),
        "banner": session.banner,
        "helo": session.helo,
        "extensions": session.extensions,
        "starttls": session.starttls,
        "tls_server_name": session.tls_server_name,
        "encrypted": session.encrypted,
        "starttls_plaintext": session.starttls_plaintext,
        "smuggling_suspected": session.smuggling_suspected,
        "messages": session.messages,
        "auth_attempts": session.auth_attempts,
        "auth_user": session.auth_user,
        "complete": session.complete,
        "close_reason": session.close_reason,
        "warnings": session.warnings,
        "tls_version": session.tls_version,
        "tls_cipher": session.tls_cipher,
        "tls_alpn": session.tls_alpn,
        "tls_alpn_selected": session.tls_alpn_selected,
        "tls_client_random": session.tls_client_random,
        "tls_extended_master_secret": session.tls_extended_master_secret,
        "tls_encrypt_then_mac": session.tls_encrypt_then_mac,
        "tls_cert_subject": session.tls_cert_subject,
        "tls_cert_issuer": session.tls_cert_issuer,
        "tls_cert_not_before": session.tls_cert_not_before,
        "tls_cert_not_after": session.tls_cert_not_after,
        "tls_cert_sha256": session.tls_cert_sha256,
        "ja3": session.ja3,
        "ja3_string": session.ja3_string,
        "ja4": session.ja4,
        "decrypted": session.decrypted,
        "tls_undecrypted_reason": session.tls_undecrypted_reason,
        "protocol": session.protocol,
        "capabilities": session.capabilities,
        "mailboxes": session.mailboxes,
        "mailbox_messages": session.mailbox_messages,
        "mailbox_octets": session.mailbox_octets,
        "deleted": session.deleted,
        "deletions_committed": session.deletions_committed,
    }


def _hex(data: Optional[bytes]) -> Optional[str]:
    return data.hex() if data is not None else None


def credential_record(credential: Credential) -> dict[str, Any]:
    john, _ = crack.john_line(credential)
    return {
        "session_id": credential.session_id,
        "time": iso_time(credential.time_ns),
        **_endpoints(credential.endpoints),
        "helo": credential.helo,
        "mechanism": credential.mechanism,
        "username": credential.username,
        "password": credential.password,
        "username_hex": _hex(credential.username_bytes),
        "password_hex": _hex(credential.password_bytes),
        "authzid": credential.authzid,
        "realm": credential.realm,
        "domain": credential.domain,
        "workstation": credential.workstation,
        "token": credential.token,
        "hashcat": credential.hashcat,
        "hashcat_mode": credential.hashcat_mode,
        "success": credential.success,
        "aborted": credential.aborted,
        "reply": credential.reply,
        "exchange": credential.exchange,
        "id": credential.id,
        "complete": credential.success is not None,
        "details": credential.details,
        "john": john,
        "john_format": crack.JOHN_DIGEST_MD5 if john else None,
        "protocol": credential.protocol,
        "command": credential.command,
    }
