"""IMAP mailbox names in modified UTF-7 (RFC 3501 section 5.1.3), decoded.

``&`` starts a run of modified base64 (``,`` for ``/``, no padding) of UTF-16BE code
units and ``-`` ends it; ``&-`` is ``&``; every other character stands for itself.
A name sent as UTF-8 (IMAP4rev2, UTF8=ACCEPT) has no ``&`` run and is left as it is.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Optional

_RUN = re.compile(r"[A-Za-z0-9+,]+")


def decode(name: str) -> Optional[str]:
    """The name as the user sees it; None when it is not valid modified UTF-7."""
    if "&" not in name:
        return name
    out = []
    position = 0
    while True:
        start = name.find("&", position)
        if start < 0:
            out.append(name[position:])
            return "".join(out)
        out.append(name[position:start])
        end = name.find("-", start + 1)
        if end < 0:
            return None
        run = name[start + 1 : end]
        if not run:
            out.append("&")
        else:
            if not _RUN.fullmatch(run):
                return None
            encoded = run.replace(",", "/")
            try:
                raw = base64.b64decode(
                    encoded + "=" * (-len(encoded) % 4), validate=True
                )
                if len(raw) % 2:
                    return None
                text = raw.decode("utf-16-be")
            except (binascii.Error, UnicodeDecodeError):
                return None
            if not text or all(" " <= c <= "~" for c in text):
                return None  # printable ASCII is never encoded (RFC 3501 5.1.3)
            out.append(text)
        position = end + 1
