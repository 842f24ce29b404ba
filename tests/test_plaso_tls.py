"""plaso over TLS captures: decrypted with key logs beside the capture, inside a
disk image, from the capture's own DSB, or named by the examiner (SMTPCORE_KEYLOG)."""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from unittest import mock

from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.path import factory as path_spec_factory

from plaso.parsers import manager

from plaso_smtp.parsers.pcap_plugins import smtp

import plaso_test_lib

TLS = Path(__file__).resolve().parents[1] / "test_data" / "tls"
MANIFEST = json.loads((TLS / "MANIFEST.json").read_text(encoding="utf-8"))


class PlasoTlsTest(plaso_test_lib.ParserTestCase):
    """The smtp plugin decrypts what smtpcore decrypts, with the key logs it finds."""

    @classmethod
    def setUpClass(cls):
        plaso_test_lib.InstallStartupHook()

    def setUp(self):
        self._directory = Path(tempfile.mkdtemp())

    def tearDown(self):
        shutil.rmtree(self._directory)

    def _Parser(self):
        return manager.ParsersManager.GetParserObjects("pcap")["pcap"]

    def _Check(self, storage_writer, name):
        truth = MANIFEST["captures"][name]["sessions"][0]
        (session,) = self._GetEventData(storage_writer, "smtp:session")
        self.assertTrue(session.tls_decrypted)
        self.assertIsNone(session.tls_undecrypted_reason)
        self.assertEqual(session.tls_cipher, truth["tls_cipher"])
        self.assertEqual(session.tls_version, truth["tls_version"])
        self.assertEqual(session.ja3, MANIFEST["captures"][name]["tshark"]["ja3"])
        self.assertEqual(
            session.tls_certificate_subject, "CN=mail.example.org,O=TLS Lab,C=XX"
        )
        emails = [  # the sending times, not the Date headers' own event data
            email
            for email in self._GetEventData(storage_writer, "smtp:email")
            if email.date_header is None
        ]
        self.assertEqual(
            [email.message_sha256_hash for email in emails],
            [message["sha256"] for message in truth["messages"]],
        )
        (authentication,) = self._GetEventData(storage_writer, "smtp:authentication")
        self.assertEqual(
            (authentication.username, authentication.password, authentication.success),
            (truth["auth"][0]["username"], truth["auth"][0]["password"], True),
        )
        self.assertEqual(self._GetWarningMessages(storage_writer), [])

    def testKeyLogBesideTheCapture(self):
        shutil.copy(TLS / "tls13-aes128gcm.pcap", self._directory / "trace.pcap")
        shutil.copy(TLS / "tls13-aes128gcm.keylog", self._directory / "notes.txt")
        storage_writer = self._ParseFile(self._directory / "trace.pcap", self._Parser())
        self._Check(storage_writer, "tls13-aes128gcm")

    def testDecryptionSecretsBlock(self):
        storage_writer = self._ParseFile(
            TLS / "tls13-chacha20-dsb.pcapng", self._Parser()
        )
        self._Check(storage_writer, "tls13-chacha20")

    def testExaminersKeyLogAndItsAbsence(self):
        shutil.copy(TLS / "implicit-tls12-gcm.pcap", self._directory / "trace.pcap")
        storage_writer = self._ParseFile(self._directory / "trace.pcap", self._Parser())
        (session,) = self._GetEventData(storage_writer, "smtp:session")
        self.assertFalse(session.tls_decrypted)
        self.assertEqual(session.tls_undecrypted_reason, "no key log given")
        self.assertEqual(self._GetEventData(storage_writer, "smtp:email"), [])
        message, _ = self._GetMessages(session)
        self.assertIn("not decrypted: no key log given", message)

        variable = {smtp.KEYLOG_ENVIRONMENT_VARIABLE: str(TLS / "all.keylog")}
        with mock.patch.dict(os.environ, variable):
            storage_writer = self._ParseFile(
                self._directory / "trace.pcap", self._Parser()
            )
        self._Check(storage_writer, "implicit-tls12-gcm")

    def testInsideADiskImage(self):
        if shutil.which("mkfs.ext4") is None:
            self.skipTest("mkfs.ext4 not installed")
        content = self._directory / "content" / "home" / "user"
        content.mkdir(parents=True)
        shutil.copy(TLS / "tls12-ecdhe-chacha20.pcap", content / "capture.pcap")
        shutil.copy(TLS / "tls12-ecdhe-chacha20.keylog", content / "sslkeys.log")
        image = self._directory / "disk.raw"
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-d", str(self._directory / "content"),
             str(image), "4M"],
            check=True, capture_output=True,
        )  # fmt: skip
        os_spec = path_spec_factory.Factory.NewPathSpec(
            dfvfs_definitions.TYPE_INDICATOR_OS, location=str(image)
        )
        path_spec = path_spec_factory.Factory.NewPathSpec(
            dfvfs_definitions.TYPE_INDICATOR_EXT,
            location="/home/user/capture.pcap",
            parent=os_spec,
        )
        storage_writer = self._ParseFileByPathSpec(path_spec, self._Parser())
        self._Check(storage_writer, "tls12-ecdhe-chacha20")
        (session,) = self._GetEventData(storage_writer, "smtp:session")
        message, _ = self._GetMessages(session)
        self.assertIn(
            "TLSv1.2 TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 "
            "decrypted with a TLS key log ALPN: smtp",
            message,
        )
