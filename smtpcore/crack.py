"""Credentials in the input formats of password crackers, one file per format.

hashcat reads a file of one mode only (``hashcat -m 5600 credentials.5600.hashcat``):
a line of another mode, or a comment, is a parse error. DIGEST-MD5 has no hashcat
mode; John the Ripper's ``dmd5`` format takes it (``john --format=dmd5
credentials.dmd5.john``), built here from the decoded digest-response.
"""

from __future__ import annotations

import re
from typing import Optional

from smtpcore.model import Credential

JOHN_DIGEST_MD5 = "dmd5"

# John's dmd5 limits (DMD5_fmt_plug.c, valid()): longer fields are not read.
_JOHN_LIMITS = {
    "username": 63,
    "realm": 63,
    "nonce": 63,
    "digest-uri": 123,
    "cnonce": 32,
    "nc": 8,
    "authzid": 7,
}
_QOPS = ("auth", "auth-int", "auth-conf")
_HEX32 = re.compile(r"[0-9a-f]{32}")


def hashcat_file(mode: int) -> str:
    """The file that holds the hashcat lines of one mode."""
    return f"credentials.{mode}.hashcat"


def john_file(john_format: str) -> str:
    """The file that holds the John the Ripper lines of one format."""
    return f"credentials.{john_format}.john"


def john_line(credential: Credential) -> tuple[Optional[str], Optional[str]]:
    """(line, why not): the credential in John the Ripper's dmd5 format.

    ``user:$DIGEST-MD5$username$realm$nonce$digest-uri$cnonce$nc$qop$response[$authzid]``
    """
    if credential.mechanism != "DIGEST-MD5":
        return None, None
    response = credential.details.get("digest_response")
    if not isinstance(response, dict):
        return None, "no digest-response"
    challenge = credential.details.get("digest_challenge") or {}
    fields = dict(response)
    fields.setdefault("realm", challenge.get("realm", ""))
    fields["qop"] = fields.get("qop") or "auth"
    needed = ("username", "nonce", "digest-uri", "cnonce", "nc", "response")
    missing = [name for name in needed if not fields.get(name)]
    if missing:
        return None, f"digest-response lacks {', '.join(missing)}"
    values = [fields.get(name) or "" for name in _JOHN_LIMITS] + [fields["qop"]]
    if any("$" in value for value in values) or ":" in fields["username"]:
        return (
            None,
            "'$' in a field or ':' in the user name; the format cannot carry it",
        )
    for name, limit in _JOHN_LIMITS.items():
        if len(fields.get(name) or "") > limit:
            return None, f"{name} longer than John's dmd5 format takes ({limit})"
    if fields["qop"] not in _QOPS or not _HEX32.fullmatch(fields["response"].lower()):
        return None, "qop or response not in the form John's dmd5 format takes"
    parts = [
        fields["username"],
        fields["realm"],
        fields["nonce"],
        fields["digest-uri"],
        fields["cnonce"],
        fields["nc"],
        fields["qop"],
        fields["response"].lower(),
    ]
    if fields.get("authzid"):
        parts.append(fields["authzid"])
    return f"{fields['username']}:$DIGEST-MD5$" + "$".join(parts), None
