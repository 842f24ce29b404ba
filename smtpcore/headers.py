"""The header fields examiners pivot on, read from a decoded message (BEC, phishing).

`mime` keeps each header as decoded text; this module turns them into the fields of
the output contract: the Received chain as hops (newest first, as the headers stand),
bare addresses, and the two classic mismatch flags. Nothing here guesses: a clause a
Received header does not carry is None, and the header's own text stays beside it.
"""

from __future__ import annotations

import email.utils
import re
from typing import Any, Optional

from smtpcore.model import MimeInfo, iso_time

# RFC 5321 4.4 clause keywords of a Received header, in their usual order.
_CLAUSES = ("from", "by", "via", "with", "id", "for")
_IP_IN_BRACKETS = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]")
_BARE_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")


def _tokens(text: str) -> tuple[list[str], Optional[str]]:
    """Words and (nested) comments before the last ';' outside comments; the date."""
    depth = 0
    split_at = None
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char == ";" and not depth:
            split_at = index
    head = text if split_at is None else text[:split_at]
    date = None if split_at is None else text[split_at + 1 :].strip() or None
    tokens: list[str] = []
    word: list[str] = []
    comment: list[str] = []
    depth = 0
    for char in head:
        if depth:
            comment.append(char)
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if not depth:
                    tokens.append("".join(comment))
                    comment = []
        elif char == "(":
            if word:
                tokens.append("".join(word))
                word = []
            depth = 1
            comment = [char]
        elif char.isspace():
            if word:
                tokens.append("".join(word))
                word = []
        else:
            word.append(char)
    if word:
        tokens.append("".join(word))
    if comment:
        tokens.append("".join(comment))  # an unclosed comment, kept as it is
    return tokens, date


def parse_received(text: str) -> dict[str, Any]:
    """One Received header as a hop: its clauses, its date, the sending host's IP."""
    tokens, date = _tokens(text)
    clauses: dict[str, list[str]] = {}
    current: Optional[str] = None
    for token in tokens:
        keyword = token.lower()
        if keyword in _CLAUSES and keyword not in clauses:
            current = keyword
            clauses[current] = []
        elif current is not None:
            clauses[current].append(token)
    hop: dict[str, Any] = {
        name: " ".join(clauses[name]) if clauses.get(name) else None
        for name in _CLAUSES
    }
    if hop["for"]:
        hop["for"] = hop["for"].split()[0].strip("<>")
    hop["ip"] = _sender_ip(hop["from"])
    hop["date"] = date
    hop["date_utc"] = None
    if date is not None:
        from smtpcore.mime import _date_ns  # the one parser of header dates

        hop["date_utc"] = iso_time(_date_ns(date))
    hop["raw"] = text
    return hop


def _sender_ip(clause: Optional[str]) -> Optional[str]:
    """The address the receiving host recorded for the sender, in brackets by custom."""
    if not clause:
        return None
    match = _IP_IN_BRACKETS.search(clause) or _BARE_IPV4.search(clause)
    return match.group(1) if match else None


def addresses(value: Optional[str]) -> list[str]:
    """The addr-specs of an address header, lower-cased for comparison."""
    if not value:
        return []
    return [
        address.lower()
        for _, address in email.utils.getaddresses([value])
        if "@" in address
    ]


def bare_address(value: Optional[str]) -> Optional[str]:
    """A path such as Return-Path's ``<a@b>`` without its angle brackets."""
    if value is None:
        return None
    value = value.strip()
    if value.startswith("<") and ">" in value:
        return value[1 : value.index(">")]
    return value


def pivot_fields(mime: Optional[MimeInfo], mail_from: Optional[str]) -> dict[str, Any]:
    """The pivot fields of messages.jsonl for one message (None without content)."""
    if mime is None:
        return {
            "reply_to": None,
            "in_reply_to": None,
            "references": None,
            "return_path": None,
            "sender": None,
            "user_agent": None,
            "x_originating_ip": None,
            "received": [],
            "received_first_hop": None,
            "received_last_hop": None,
            "reply_to_differs": None,
            "from_differs_from_envelope": None,
        }
    hops = [parse_received(text) for text in mime.received]
    from_addresses = addresses(mime.from_)
    reply_to = addresses(mime.reply_to)
    reply_to_differs = None
    if mime.reply_to is not None and from_addresses:
        reply_to_differs = not set(reply_to) <= set(from_addresses)
    envelope_differs = None
    if from_addresses and mail_from:
        envelope_differs = mail_from.lower() not in from_addresses
    return {
        "reply_to": mime.reply_to,
        "in_reply_to": mime.in_reply_to,
        "references": mime.references,
        "return_path": bare_address(mime.return_path),
        "sender": mime.sender,
        "user_agent": mime.x_mailer,
        "x_originating_ip": mime.x_originating_ip,
        "received": hops,
        "received_first_hop": hops[-1] if hops else None,  # the oldest: the origin
        "received_last_hop": hops[0] if hops else None,  # the newest
        "reply_to_differs": reply_to_differs,
        "from_differs_from_envelope": envelope_differs,
    }
