"""Every crash the fuzz targets (fuzz/) found, replayed, and what the code does now.

An input is tests/fuzz_regressions/<target>-<what>.bin, as the fuzzer wrote it.
"""

import importlib
import pathlib
import sys

import pytest

atheris = pytest.importorskip("atheris")

from smtpcore.tls.keylog import KeyLog  # noqa: E402
from smtpcore.tls.layer import TlsConnection  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
INPUTS = ROOT / "tests" / "fuzz_regressions"


def _target(name: str):
    fuzz = str(ROOT / "fuzz")
    if fuzz not in sys.path:
        sys.path.insert(0, fuzz)
    return importlib.import_module(f"fuzz_{name}")


def test_tls_certificate_with_invalid_x509_version():
    """cryptography raises InvalidVersion (not a ValueError) for a version field of
    92: the certificate is kept by its hash, with the names unknown."""
    data = (INPUTS / "tls-x509-invalid-version.bin").read_bytes()
    _target("tls").TestOneInput(data)  # raised InvalidVersion before the fix
    connection = TlsConnection(KeyLog())
    _target("tls")._machine.drive(connection, data)
    certificate = connection.info.certificate
    assert certificate is not None
    assert certificate.subject == "" and certificate.issuer == ""
    assert len(certificate.sha256) == 64
