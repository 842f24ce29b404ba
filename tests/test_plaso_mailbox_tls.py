"""plaso over the POP3/IMAP TLS captures: decrypted with the key log beside them.

What reaches plaso is compared with the clients' truth
(test_data/captures/mailbox-tls/MANIFEST.json).
"""

import json
import shutil
import tempfile
from pathlib import Path

from plaso.parsers import manager

import plaso_test_lib

CAPTURES = (
    Path(__file__).resolve().parents[1] / "test_data" / "captures" / "mailbox-tls"
)
MANIFEST = json.loads((CAPTURES / "MANIFEST.json").read_text(encoding="utf-8"))
FINGERPRINT = MANIFEST["server_certificate"][-1].split("=", 1)[1].replace(":", "")


class MailboxTlsPlasoTest(plaso_test_lib.ParserTestCase):
    """Decrypted POP3 and IMAP sessions as event data and formatted messages."""

    @classmethod
    def setUpClass(cls):
        plaso_test_lib.InstallStartupHook()

    def setUp(self):
        self._directory = Path(tempfile.mkdtemp())

    def tearDown(self):
        shutil.rmtree(self._directory)

    def _Parse(self, name, with_keylog=True):
        entry = MANIFEST["captures"][name]
        shutil.copy(CAPTURES / entry["file"], self._directory / "trace.pcap")
        if with_keylog:
            shutil.copy(CAPTURES / entry["keylog"], self._directory / "secrets.log")
        parser = manager.ParsersManager.GetParserObjects("pcap")["pcap"]
        return self._ParseFile(self._directory / "trace.pcap", parser)

    def _CheckDecrypted(self, name):
        (truth,) = MANIFEST["captures"][name]["sessions"]
        writer = self._Parse(name)
        self.assertEqual(self._GetWarningMessages(writer), [])
        emails = self._GetEventData(writer, "mailbox:email")
        self.assertEqual(
            [(e.protocol, e.message_sha256_hash, e.size, e.complete) for e in emails],
            [
                (truth["protocol"], m["sha256"], m["size"], m["kind"] != "partial")
                for m in truth["messages"]
            ],
        )
        logins = self._GetEventData(writer, "mailbox:authentication")
        self.assertEqual(
            [(l.mechanism, l.username, l.password, l.success) for l in logins],
            [
                (w["mechanism"], w["username"], w["password"], w["success"])
                for w in truth["logins"]
            ],
        )
        (session,) = self._GetEventData(writer, "mailbox:session")
        view = truth["tshark"]
        self.assertEqual(
            (
                session.protocol,
                session.encrypted,
                session.starttls,
                session.tls_decrypted,
                session.tls_undecrypted_reason,
                session.tls_version,
                session.ja3,
                session.tls_certificate_sha256,
                session.tls_certificate_subject,
                session.complete,
            ),
            (
                truth["protocol"],
                True,
                not truth["implicit_tls"],
                True,
                None,
                view["version"],
                view["ja3"],
                FINGERPRINT.lower(),
                "CN=mail.example.org,O=Mailbox TLS Lab,C=XX",
                True,
            ),
        )
        message, _ = self._GetMessages(session)
        self.assertIn("decrypted with a TLS key log", message)
        self.assertIn(f"{view['version']} ", message)
        return session, emails

    def testPop3StlsDecrypted(self):
        session, emails = self._CheckDecrypted("pop3-stls-tls13")
        self.assertIn("STLS/STARTTLS requested", self._GetMessages(session)[0])
        self.assertEqual(emails[0].attachment_names, ["report.pdf"])

    def testImapImplicitTlsDecrypted(self):
        _, emails = self._CheckDecrypted("imaps-993-tls13")
        self.assertEqual(
            [(e.kind, e.mailbox) for e in emails],
            [("retrieved", "INBOX"), ("appended", "Sent")],
        )

    def testPop3OnPort465IsNotSmtp(self):
        self._CheckDecrypted("pop3s-port-465")

    def testWithoutKeyLog(self):
        writer = self._Parse("imap-starttls-tls12", with_keylog=False)
        self.assertEqual(self._GetEventData(writer, "mailbox:email"), [])
        self.assertEqual(self._GetEventData(writer, "mailbox:authentication"), [])
        (session,) = self._GetEventData(writer, "mailbox:session")
        self.assertEqual(
            (session.encrypted, session.tls_decrypted, session.tls_undecrypted_reason),
            (True, False, "no key log given"),
        )
        self.assertEqual(session.tls_version, "TLSv1.2")
        self.assertIn("not decrypted: no key log given", self._GetMessages(session)[0])
