"""POP3/IMAP through the plaso parser: event data, timeliner events and messages.

The real Dovecot captures go through the pcap parser; what reaches plaso is compared
with the clients' truth (test_data/captures/mailbox/MANIFEST.json).
"""

import json
from pathlib import Path

from plaso.parsers import manager

import plaso_test_lib

CAPTURES = Path(__file__).resolve().parents[1] / "test_data" / "captures" / "mailbox"
MANIFEST = json.loads((CAPTURES / "MANIFEST.json").read_text(encoding="utf-8"))
TRUTH = {entry["file"]: entry for entry in MANIFEST["captures"]}


class MailboxPlasoTest(plaso_test_lib.ParserTestCase):
    """POP3 and IMAP event data from real captures."""

    @classmethod
    def setUpClass(cls):
        plaso_test_lib.InstallStartupHook()

    def _Parse(self, name):
        parser = manager.ParsersManager.GetParserObjects("pcap")["pcap"]
        return self._ParseFile(CAPTURES / name, parser)

    def testPop3MessagesAndLogins(self):
        writer = self._Parse("pop3-user-pass.pcap")
        (truth,) = TRUTH["pop3-user-pass.pcap"]["sessions"]
        emails = self._GetEventData(writer, "mailbox:email")
        self.assertEqual(
            [(e.command, e.message_sha256_hash, e.size) for e in emails],
            [(m["command"], m["sha256"], m["size"]) for m in truth["messages"]],
        )
        self.assertEqual(
            [e.complete for e in emails],
            [m["kind"] != "partial" for m in truth["messages"]],
        )
        first = emails[0]
        self.assertEqual(first.protocol, "pop3")
        self.assertEqual(first.subject, "测试邮件：收件箱")
        self.assertEqual(first.attachment_names, ["报告.txt"])
        self.assertEqual(
            sorted(description for _, description in self._GetEvents(first)),
            ["Creation Time", "Retrieved Time"],
        )
        message, short = self._GetMessages(first)
        self.assertTrue(message.startswith("POP3 email retrieved command: RETR 1 "))
        self.assertIn("Subject: 测试邮件：收件箱", short)
        self.assertIn(
            "partial: TOP: header and 0 body line(s)", self._GetMessages(emails[3])[0]
        )
        self.assertIn("(not the complete message)", self._GetMessages(emails[3])[0])

        logins = self._GetEventData(writer, "mailbox:authentication")
        self.assertEqual(
            [(l.mechanism, l.username, l.password, l.success) for l in logins],
            [
                (w["mechanism"], w["username"], w["password"], w["success"])
                for w in truth["logins"]
            ],
        )
        message, short = self._GetMessages(logins[0])
        self.assertEqual(short, "POP3 login failed user: alice")
        (session,) = self._GetEventData(writer, "mailbox:session")
        self.assertEqual(
            (
                session.protocol,
                session.username,
                session.deleted_count,
                session.mailbox_message_count,
                session.message_count,
            ),
            ("pop3", "alice", 1, 3, 6),
        )
        self.assertEqual(self._GetEventData(writer, "smtp:email"), [])

    def testImapFetchAppendIdle(self):
        writer = self._Parse("imap-fetch-append-idle.pcap")
        (truth,) = TRUTH["imap-fetch-append-idle.pcap"]["sessions"]
        emails = self._GetEventData(writer, "mailbox:email")
        self.assertEqual(
            [(e.message_sha256_hash, e.kind) for e in emails],
            [
                (m["sha256"], "retrieved" if m["kind"] == "partial" else m["kind"])
                for m in truth["messages"]
            ],
        )
        appended = [e for e in emails if e.kind == "appended"]
        (append,) = appended
        self.assertEqual((append.mailbox, append.protocol), ("Sent", "imap"))
        self.assertEqual(
            sorted(description for _, description in self._GetEvents(append)),
            ["Appended Time", "Creation Time"],
        )
        self.assertTrue(
            self._GetMessages(append)[0].startswith(
                "IMAP email appended (stored by the client) mailbox: Sent"
            )
        )
        partial = next(e for e in emails if e.partial == "BODY[]<0.200>")
        self.assertFalse(partial.complete)
        (session,) = self._GetEventData(writer, "mailbox:session")
        self.assertEqual(session.mailboxes, ["INBOX", "Sent", "INBOX"])
        self.assertIn("mailboxes: INBOX, Sent, INBOX", self._GetMessages(session)[0])

    def testImapLoginsWithOutcome(self):
        for name in ("imap-login.pcap", "imap-sasl.pcap"):
            writer = self._Parse(name)
            logins = self._GetEventData(writer, "mailbox:authentication")
            expected = [
                (w["mechanism"], w["username"], w["password"], w["success"])
                for s in TRUTH[name]["sessions"]
                for w in s["logins"]
            ]
            self.assertEqual(
                [(l.mechanism, l.username, l.password, l.success) for l in logins],
                expected,
            )
            for login in logins:
                self.assertEqual(
                    [d for _, d in self._GetEvents(login)], ["Authentication Time"]
                )
