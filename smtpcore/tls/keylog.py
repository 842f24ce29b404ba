"""NSS key log files (SSLKEYLOGFILE): secrets indexed by client random.

Lines are ``LABEL <client random, 64 hex> <secret, hex>``; ``#`` starts a comment.
TLS 1.2 uses ``CLIENT_RANDOM`` (the 48-byte master secret), TLS 1.3 the
``CLIENT_/SERVER_HANDSHAKE_TRAFFIC_SECRET`` and ``CLIENT_/SERVER_TRAFFIC_SECRET_0``
lines. ``RSA`` lines give the pre-master secret of an RSA key exchange keyed by
the first 8 bytes of its encrypted form (older NSS writes only those).

Memory is bounded: at most ``max_sessions`` client randoms are indexed (a few
hundred bytes each, exporter secrets not kept); lines past that are counted and
reported, never silently dropped. Key logs are recognised by content (`looks_like_keylog`), not by name.
"""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO, Callable, Iterable, Optional

# The secrets that decrypt, in the order they are stored per client random.
USED = (
    "CLIENT_RANDOM",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
    "CLIENT_EARLY_TRAFFIC_SECRET",
)
_SLOT = {label: index for index, label in enumerate(USED)}
# Valid labels that decrypt nothing here (exporters): recognised, counted, not kept.
LABELS = frozenset(USED) | {"EARLY_EXPORTER_SECRET", "EXPORTER_SECRET"}
MAX_SESSIONS = 250_000  # about 0.4 KB each: some 100 MB at most
MAX_LINE = 4096
_LINE = re.compile(rb"([A-Z_0-9]+) ([0-9A-Fa-f]{64}) ((?:[0-9A-Fa-f]{2}){1,128})\s*")
_RSA = re.compile(rb"RSA ([0-9A-Fa-f]{16}) ([0-9A-Fa-f]{96})\s*")


def looks_like_keylog(head: bytes) -> bool:
    """True when the first non-comment line of ``head`` is a key log line."""
    for line in head.split(b"\n")[:50]:
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        match = _LINE.fullmatch(line)
        if match:
            return match.group(1).decode() in LABELS
        return bool(_RSA.fullmatch(line))
    return False


class KeyLog:
    """Secrets of many sessions; ``parent`` is consulted when a random is not here."""

    def __init__(
        self,
        warn: Optional[Callable[[str], None]] = None,
        parent: Optional["KeyLog"] = None,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self._warn = warn or (lambda message: None)
        self._parent = parent
        self._max = max_sessions
        self._secrets: dict[bytes, list[Optional[bytes]]] = {}
        self._rsa: dict[bytes, bytes] = {}  # encrypted pre-master prefix -> pre-master
        self.sources: list[dict] = []  # {source, sha256, lines, sessions, ...}
        self.dropped = 0

    def __len__(self) -> int:
        own = len(self._secrets) + len(self._rsa)
        return own + (len(self._parent) if self._parent is not None else 0)

    def secrets(self, client_random: bytes) -> Optional[dict[str, bytes]]:
        """The secrets logged for a client random, by label; None if there are none."""
        found = self._secrets.get(client_random)
        if found is None:
            if self._parent is not None:
                return self._parent.secrets(client_random)
            return None
        return {label: value for label, value in zip(USED, found) if value is not None}

    def rsa_premaster(self, encrypted_prefix: bytes) -> Optional[bytes]:
        """The pre-master secret whose RSA encryption starts with these 8 bytes."""
        found = self._rsa.get(encrypted_prefix)
        if found is None and self._parent is not None:
            return self._parent.rsa_premaster(encrypted_prefix)
        return found

    def add_file(self, fileobj: BinaryIO, source: str) -> dict:
        """Reads a key log from a binary file object, line by line."""
        digest = hashlib.sha256()

        def lines():
            pending = b""
            skipping = False  # inside a line too long to be a key log line
            while True:
                chunk = fileobj.read(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                if skipping:
                    end = chunk.find(b"\n")
                    if end < 0:
                        continue
                    chunk, skipping = chunk[end + 1 :], False
                pending += chunk
                *complete, pending = pending.split(b"\n")
                yield from complete
                if len(pending) >= MAX_LINE:  # counted as one line not understood
                    yield pending[:MAX_LINE]
                    pending, skipping = b"", True
            if pending:
                yield pending

        entry = self.add_lines(lines(), source)
        entry["sha256"] = digest.hexdigest()
        return entry

    def add_bytes(self, data: bytes, source: str) -> dict:
        entry = self.add_lines(data.split(b"\n"), source)
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        return entry

    def add_lines(self, lines: Iterable[bytes], source: str) -> dict:
        counts = {
            "lines": 0,
            "secrets": 0,
            "unused": 0,
            "rsa": 0,
            "bad": 0,
            "dropped": 0,
        }
        before = len(self._secrets)
        table = self._secrets
        for line in lines:
            line = line.strip()
            if not line or line.startswith(b"#"):
                continue
            counts["lines"] += 1
            match = _LINE.fullmatch(line) if len(line) < MAX_LINE else None
            if match is None or match.group(1).decode() not in LABELS:
                rsa = _RSA.fullmatch(line)
                if rsa is None:
                    counts["bad"] += 1
                elif len(self._rsa) >= self._max:
                    counts["dropped"] += 1
                else:
                    counts["rsa"] += 1
                    prefix = bytes.fromhex(rsa.group(1).decode())
                    self._rsa[prefix] = bytes.fromhex(rsa.group(2).decode())
                continue
            slot = _SLOT.get(match.group(1).decode())
            if slot is None:
                counts["unused"] += 1
                continue
            random = bytes.fromhex(match.group(2).decode())
            entry = table.get(random)
            if entry is None:
                if len(table) >= self._max:
                    counts["dropped"] += 1
                    continue
                entry = table[random] = [None] * len(USED)
            entry[slot] = bytes.fromhex(match.group(3).decode())
            counts["secrets"] += 1
        if counts["bad"]:
            self._warn(
                f"{source}: {counts['bad']} key log lines not understood, ignored"
            )
        if counts["dropped"]:
            self.dropped += counts["dropped"]
            self._warn(
                f"{source}: {counts['dropped']} key log lines not indexed: more than "
                f"{self._max} sessions held"
            )
        entry = {"source": source, **counts, "sessions": len(self._secrets) - before}
        self.sources.append(entry)
        return entry
