"""What the report shows of hostile text: invisible characters by code point, type lies.

An attachment named ``invoice\\u202efdp.exe`` renders as "invoiceexe.pdf" if shown as
is. Every name and header the report displays goes through :func:`visible`, which writes
control, bidirectional, zero-width and other format characters as ``⟨U+202E⟩`` and tells
the caller so the item can be flagged. The same rules run in the index page's script.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Iterable, Optional

from markupsafe import Markup, escape

# Categories shown by code point: controls, format (bidi, zero-width, BOM, tags),
# surrogates, private use, line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def hidden_char(char: str) -> bool:
    """Whether a character would be invisible or would reorder text if shown as is."""
    return unicodedata.category(char) in _HIDDEN


def code_point(char: str) -> str:
    return f"⟨U+{ord(char):04X}⟩"


def has_hidden(text: Optional[str], keep: str = "") -> bool:
    if not text or text.isprintable():  # isprintable: none of _HIDDEN in it
        return False
    return any(c not in keep and hidden_char(c) for c in text)


_KEPT = re.compile(r"([\n\t])")


def _visible(text: Any, keep: str) -> Markup:
    if text is None:
        return Markup("")
    if not isinstance(text, str):
        text = str(text)
    # Nearly every text (a whole body, too) has no hidden character: escaped in one
    # piece, not line by line (escape per line was most of a message page's cost).
    plain_text = text
    for char in keep:
        plain_text = plain_text.replace(char, "")
    if plain_text.isprintable():
        return escape(text)
    parts = []
    for piece in _KEPT.split(text) if keep else (text,):
        # str.isprintable is False for every category in _HIDDEN (and for a few
        # harmless ones, such as no-break space): printable runs, nearly all of a
        # message body, are escaped whole; only the others go character by character.
        if piece in keep or piece.isprintable():
            parts.append(escape(piece))
            continue
        for char in piece:
            if char not in keep and hidden_char(char):
                name = unicodedata.name(char, "control or unassigned character")
                parts.append(
                    Markup('<span class="cp" title="{}">{}</span>').format(
                        name, code_point(char)
                    )
                )
            else:
                parts.append(escape(char))
    return Markup("").join(parts)


def visible(text: Any) -> Markup:
    """One-line text as HTML with every hidden character shown by code point."""
    return _visible(text, "")


def visible_block(text: Any) -> Markup:
    """Multi-line text (bodies, header blocks): line breaks and tabs stay as they are."""
    return _visible(text, "\n\t")


def plain(text: Optional[str]) -> str:
    """The text with hidden characters written out, for places HTML cannot go."""
    if not text:
        return text or ""
    return "".join(code_point(c) if hidden_char(c) else c for c in text)


# -- attachment types -----------------------------------------------------------------

# Families of types that are the same container whatever the label says: a .docx is a
# ZIP archive, a .doc an OLE compound file. Only what mime.detect_type can name.
_FAMILY_PREFIXES = (
    ("application/vnd.openxmlformats-officedocument.", "zip"),
    ("application/vnd.oasis.opendocument.", "zip"),
    ("application/vnd.ms-excel.sheet.macroenabled", "zip"),
    ("application/vnd.ms-word.document.macroenabled", "zip"),
    ("application/vnd.ms-powerpoint.presentation.macroenabled", "zip"),
    ("text/", "text"),
    ("message/", "text"),
)
_FAMILIES = {
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/x-zip": "zip",
    "application/java-archive": "zip",
    "application/vnd.android.package-archive": "zip",
    "application/epub+zip": "zip",
    "application/x-ole-storage": "ole",
    "application/msword": "ole",
    "application/vnd.ms-excel": "ole",
    "application/vnd.ms-powerpoint": "ole",
    "application/vnd.ms-outlook": "ole",
    "application/x-msi": "ole",
    "application/vnd.visio": "ole",
    "application/x-dosexec": "exe",
    "application/x-msdownload": "exe",
    "application/x-msdos-program": "exe",
    "application/x-ms-dos-executable": "exe",
    "application/vnd.microsoft.portable-executable": "exe",
    "application/x-executable": "exe",
    "application/x-elf": "exe",
    "application/x-sharedlib": "exe",
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
    "image/gif": "gif",
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
    "application/vnd.rar": "rar",
    "application/x-rar-compressed": "rar",
    "application/x-rar": "rar",
    "application/x-7z-compressed": "7z",
    "application/json": "text",
    "application/xml": "text",
    "application/javascript": "text",
    "application/x-javascript": "text",
    "application/x-sh": "text",
    "application/rtf": "text",
    "image/svg+xml": "text",
}
# Extensions whose content detect_type can check, by family (fixed here, not taken from
# the machine's /etc/mime.types, so every machine flags the same files).
_EXTENSIONS = {
    **dict.fromkeys(("zip", "docx", "xlsx", "pptx", "docm", "xlsm", "pptm"), "zip"),
    **dict.fromkeys(("odt", "ods", "odp", "jar", "apk", "epub"), "zip"),
    **dict.fromkeys(("doc", "xls", "ppt", "msg", "msi", "vsd"), "ole"),
    **dict.fromkeys(("exe", "dll", "scr", "com", "cpl", "sys", "pif"), "exe"),
    "pdf": "pdf",
    "png": "png",
    **dict.fromkeys(("jpg", "jpeg", "jpe"), "jpeg"),
    "gif": "gif",
    **dict.fromkeys(("gz", "tgz"), "gzip"),
    "rar": "rar",
    "7z": "7z",
    **dict.fromkeys(("txt", "csv", "log", "htm", "html", "xml", "json", "eml"), "text"),
    **dict.fromkeys(("ics", "vcf", "svg", "rtf", "md"), "text"),
}
# Extensions that run code when opened; a second extension before one of these is bait.
_RISKY = frozenset(
    "exe dll scr com cpl pif bat cmd vbs vbe js jse wsf wsh hta lnk msi ps1 jar iso img"
    " docm xlsm pptm reg chm".split()
)
_COMPRESSED_PAIRS = frozenset(
    {("tar", "gz"), ("tar", "bz2"), ("tar", "xz"), ("tar", "zst"), ("tar", "lz")}
)
_GENERIC = frozenset(
    {
        "application/octet-stream",
        "binary/octet-stream",
        "application/x-download",
        "application/force-download",
        "application/unknown",
        "application/binary",
    }
)


def family(content_type: Optional[str]) -> Optional[str]:
    """The container a type names, None for a label that says nothing (octet-stream)."""
    if not content_type:
        return None
    content_type = content_type.split(";")[0].strip().lower()
    if content_type in _GENERIC:
        return None
    if content_type in _FAMILIES:
        return _FAMILIES[content_type]
    for prefix, name in _FAMILY_PREFIXES:
        if content_type.startswith(prefix):
            return name
    return content_type


def extensions(filename: Optional[str]) -> list[str]:
    """The name's extensions, lower case, hidden characters dropped (as a shell sees it)."""
    if not filename:
        return []
    name = "".join(c for c in filename if not hidden_char(c)).strip().rstrip(".")
    parts = name.split(".")[1:]
    return [p.lower() for p in parts if p and len(p) <= 6 and p.isalnum()]


def attachment_flags(attachment: dict[str, Any]) -> list[str]:
    """Why an attachment deserves a second look, in words an examiner can quote."""
    flags = []
    name = attachment.get("filename")
    if has_hidden(name):
        hidden = sorted({code_point(c) for c in name if hidden_char(c)})
        flags.append(f"hidden characters in name: {' '.join(hidden)}")
    declared = attachment.get("content_type")
    detected = attachment.get("detected_type")
    found = family(detected) if detected else None
    if found and family(declared) and family(declared) != found:
        flags.append(f"declared {declared}, content is {detected}")
    parts = extensions(name)
    if parts:
        claimed = _EXTENSIONS.get(parts[-1])
        if found and claimed and claimed != found:
            flags.append(f"name ends .{parts[-1]}, content is {detected}")
    if len(parts) >= 2:
        first, last = parts[-2], parts[-1]
        if (first, last) not in _COMPRESSED_PAIRS and (
            last in _RISKY and (first in _EXTENSIONS or first in _RISKY)
        ):
            flags.append(f"double extension .{first}.{last}")
    if found == "exe":
        flags.append("executable content")
    return flags


def shown_extension(filename: Optional[str]) -> Optional[str]:
    """The extension the name really has (hidden characters dropped)."""
    parts = extensions(filename)
    return parts[-1] if parts else None


def message_alerts(record: dict[str, Any]) -> list[str]:
    """The message's own flags plus those of its headers and attachments."""
    alerts = list(_record_flags(record))
    if record.get("reply_to_differs"):
        alerts.append("Reply-To differs from From")
    if record.get("from_differs_from_envelope"):
        alerts.append("From differs from the envelope sender")
    for label, key in (
        ("Subject", "subject"),
        ("From", "from"),
        ("To", "to"),
        ("Cc", "cc"),
        ("envelope sender", "mail_from"),
        ("Reply-To", "reply_to"),
        ("Sender", "sender"),
    ):
        if isinstance(record.get(key), str) and has_hidden(record[key]):
            alerts.append(f"hidden characters in {label}")
    if any(has_hidden(r) for r in record.get("rcpt_to") or []):
        alerts.append("hidden characters in an envelope recipient")
    for attachment in record.get("attachments") or []:
        for flag in attachment_flags(attachment):
            alerts.append(f"attachment: {flag}")
    return alerts


def _record_flags(record: dict[str, Any]) -> Iterable[str]:
    """Flags another stage put on the record (``flags``: strings or {name: ...})."""
    flags = record.get("flags")
    if isinstance(flags, dict):
        return [k for k, v in flags.items() if v]
    if isinstance(flags, list):
        return [f if isinstance(f, str) else str(f) for f in flags]
    return []


_SOURCE_SPLIT = re.compile(r"^(?P<image>.+?):(?P<inner>/.*)$")


def source_parts(source: Optional[str]) -> dict[str, Any]:
    """Splits ``IMAGE:/p1/dir/file.pcap (deleted)`` into its parts for display."""
    source = source or ""
    deleted = source.endswith(" (deleted)")
    if deleted:
        source = source[: -len(" (deleted)")]
    match = _SOURCE_SPLIT.match(source)
    image, inner = (match["image"], match["inner"]) if match else (None, source)
    return {"image": image, "path": inner, "deleted": deleted}
