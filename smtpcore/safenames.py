"""File names from hostile input (attachment names, subjects) that are safe to create.

A name taken from a message may try to leave the output folder (``../``, ``C:\\``,
``\\\\server\\share``), name a Windows device (``NUL.txt``), hide its real extension
behind bidi controls (``invoice\\u202Egpj.exe`` shows as ``invoiceexe.jpg``) or be too
long for the file system. :func:`safe_filename` turns any of these into one harmless
path component that stays readable; :func:`create_unique` creates the file without
ever replacing an existing one.

Path components are kept, joined with ``_`` (``../../etc/passwd`` becomes
``etc_passwd``), so no part of the name is silently lost.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import re
import unicodedata
from typing import BinaryIO

_SEPARATORS = re.compile(r"[\\/]+")
# \\?\ and \\.\ device prefixes, then a drive letter.
_ROOT_PREFIX = re.compile(r"^(?:[\\/]{2}[?.][\\/])?(?:[A-Za-z]:)?")
_WINDOWS_INVALID = re.compile(r'[<>:"|?*]')
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{device}{digit}" for device in ("COM", "LPT") for digit in "123456789¹²³"]
)
_MAX_EXTENSION_BYTES = 32
# A name that is safe as it stands (ASCII letters, digits, "-", "_", inner dots), as
# every name smtpcore makes itself is: `safe_filename` would return it unchanged,
# so it does at once, without the checks per character (two names per message).
_PLAIN = re.compile(r"[A-Za-z0-9_-](?:[A-Za-z0-9._-]*[A-Za-z0-9_-])?")


def _is_hidden(char: str) -> bool:
    """Controls (C0, C1, DEL), format characters (bidi, zero-width) and line breaks."""
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def _is_reserved(name: str) -> bool:
    stem = name.split(".", 1)[0].rstrip(" .")
    return stem.upper() in _RESERVED


def _split_extension(name: str) -> tuple[str, str]:
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension.encode()) + 1 > _MAX_EXTENSION_BYTES:
        return name, ""
    return stem, "." + extension


def _cut(text: str, max_bytes: int) -> str:
    """The longest prefix of text within max_bytes of UTF-8, never half a character."""
    return text.encode("utf-8")[: max(max_bytes, 0)].decode("utf-8", "ignore")


def _truncate(name: str, max_bytes: int, suffix: str = "") -> str:
    """Fits stem + suffix + extension in max_bytes, shortening the stem first."""
    stem, extension = _split_extension(name)
    fixed = len(suffix.encode()) + len(extension.encode())
    if len(stem.encode()) + fixed <= max_bytes:
        return stem + suffix + extension
    stem = _cut(stem, max_bytes - fixed).rstrip(" .")
    if not stem:  # no room for the extension: cut the whole name instead
        return _cut(name + suffix, max_bytes).strip(" .")
    return stem + suffix + extension


def safe_filename(
    name: str | None, *, default: str = "unnamed", max_bytes: int = 200
) -> str:
    """Returns a single, harmless, readable file name made from name.

    Args:
        name: the untrusted name, or None.
        default: what to return when nothing usable is left.
        max_bytes: the most UTF-8 bytes the result may take (the extension is kept).
    """
    if not name:
        return default
    if len(name) <= max_bytes and _PLAIN.fullmatch(name) and not _is_reserved(name):
        return name
    return _sanitise(name, default, max_bytes)


def _sanitise(name: str, default: str, max_bytes: int) -> str:
    """`safe_filename` for any name, character by character."""
    # Lone surrogates stand for undecodable bytes: something was there.
    text = "".join("_" if "\ud800" <= char <= "\udfff" else char for char in name)
    text = "".join(char for char in text if not _is_hidden(char))
    text = unicodedata.normalize("NFC", text)
    text = _ROOT_PREFIX.sub("", text)
    components = [
        part.strip(" .")
        for part in _SEPARATORS.split(text)
        if part.strip(" .") not in ("", ".", "..")
    ]
    text = "_".join(components)
    text = _WINDOWS_INVALID.sub("_", text).strip(" .")
    text = _truncate(text, max_bytes).strip(" .")
    if text and _is_reserved(text):
        text = _truncate("_" + text, max_bytes).strip(" .")
    return text or default


def _numbered(name: str, number: int, max_bytes: int = 200) -> str:
    return _truncate(name, max_bytes, suffix=f" ({number})")


def create_unique(directory: pathlib.Path, name: str) -> tuple[pathlib.Path, BinaryIO]:
    """Creates a new file in directory, never replacing one: "a.txt", "a (2).txt"...

    The name is passed through :func:`safe_filename` first, and the file is opened
    exclusively ('xb'), so a file or symbolic link that appears meanwhile is not
    followed or overwritten.

    Returns:
        The path of the new file and the file opened for writing.
    """
    directory = pathlib.Path(directory)
    base = safe_filename(name)
    candidates = itertools.chain(
        [base],
        (_numbered(base, number) for number in range(2, 10_000)),
        (_numbered(base, os.urandom(16).hex()) for _ in itertools.count()),
    )
    for candidate in candidates:
        path = directory / candidate
        try:
            handle = open(path, "xb")
        except FileExistsError:
            continue
        return path, handle
    raise AssertionError("unreachable")  # pragma: no cover
