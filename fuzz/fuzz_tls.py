"""Fuzz target: the TLS layer (TlsConnection) fed both directions with gaps.

The committed key logs of test_data/tls are loaded once, so seeds made from the
lab's TLS captures reach the decryption paths until a mutation touches a random.
"""

import glob
import os
import sys

import _common
import _machine
import atheris

with atheris.instrument_imports(include=["smtpcore"]):
    from smtpcore.tls.keylog import KeyLog
    from smtpcore.tls.layer import TlsConnection

KEYS = KeyLog()
for _pattern in ("test_data/tls/*.keylog", "test_data/captures/mailbox-tls/*.keylog"):
    for _path in sorted(glob.glob(os.path.join(_common.ROOT, _pattern))):
        with open(_path, "rb") as _handle:
            KEYS.add_file(_handle, _path)


def TestOneInput(data: bytes) -> None:
    connection = TlsConnection(KEYS)
    _machine.drive(connection, data)
    assert connection.info.decrypted or connection.info.undecrypted_reason


if __name__ == "__main__":
    _common.run(TestOneInput)
