"""Tests for the mapping of smtpcore objects to plaso event data, and its events."""

import pytest

from smtpcore import model

from plaso_smtp.parsers.pcap_plugins import smtp

import plaso_test_lib

ENDPOINTS = model.Endpoints("10.0.0.1", 40000, "10.0.0.2", 25)


def _Message(**values):
    message = model.Message(
        id="s7-1",
        session_id="s7",
        endpoints=ENDPOINTS,
        helo="client.example",
        auth_user="alice",
        start_ns=1_700_000_000_100_000_000,
        time_ns=1_700_000_001_234_567_891,
        mail_from="alice@example.com",
    )
    for name, value in values.items():
        setattr(message, name, value)
    return message


class TestEventDataMapping(plaso_test_lib.ParserTestCase):
    """Checks every attribute and the events the timeliner makes of them."""

    @classmethod
    def setUpClass(cls):
        plaso_test_lib.InstallStartupHook()

    def testSession(self):
        session = model.Session(
            session_id="s7",
            source="capture.pcap",
            endpoints=ENDPOINTS,
            start_ns=1_700_000_000_000_000_001,
            end_ns=1_700_000_002_500_000_000,
            banner="220-mx.example ESMTP\n220 ready",
            helo="client.example",
            starttls=True,
            tls_server_name="mx.example",
            encrypted=True,
            messages=2,
            auth_attempts=1,
            auth_user="alice",
            complete=False,
        )
        event_data = smtp.CreateEventData(session)

        self.assertIsInstance(event_data, smtp.SMTPSessionEventData)
        self.CheckEventData(
            event_data,
            {
                "authentication_count": 1,
                "banner": "220-mx.example ESMTP\n220 ready",
                "complete": False,
                "data_type": "smtp:session",
                "destination_ip": "10.0.0.2",
                "destination_port": 25,
                "encrypted": True,
                "end_time": "2023-11-14T22:13:22.500000000+00:00",
                "helo": "client.example",
                "message_count": 2,
                "session_identifier": "s7",
                "source_ip": "10.0.0.1",
                "source_port": 40000,
                "start_time": "2023-11-14T22:13:20.000000001+00:00",
                "starttls": True,
                "tls_server_name": "mx.example",
                "username": "alice",
            },
        )
        self.assertEqual(
            self._GetEvents(event_data),
            [
                ("2023-11-14T22:13:20.000000001+00:00", "Start Time"),
                ("2023-11-14T22:13:22.500000000+00:00", "End Time"),
            ],
        )

        message, message_short = self._GetMessages(event_data)
        self.assertEqual(
            message,
            "SMTP session client 10.0.0.1 port 40000 -> server 10.0.0.2 port 25 "
            "HELO: client.example user: alice messages: 2 authentication attempts: 1 "
            "STARTTLS requested then TLS (rest of the session encrypted) "
            "TLS server name: mx.example (incomplete) "
            "banner: 220-mx.example ESMTP 220 ready",
        )
        self.assertEqual(
            message_short, "SMTP session 10.0.0.1 -> 10.0.0.2 HELO: client.example"
        )

    def testAuthentication(self):
        credential = model.Credential(
            session_id="s7",
            time_ns=1_700_000_000_500_000_000,
            endpoints=ENDPOINTS,
            mechanism="CRAM-MD5",
            username="alice",
            hashcat="$cram_md5$PDEyMzQ1Pg==$YWxpY2UgMDAwMA==",
            hashcat_mode=16400,
            success=False,
        )
        event_data = smtp.CreateEventData(credential)

        self.assertIsInstance(event_data, smtp.SMTPAuthenticationEventData)
        self.CheckEventData(
            event_data,
            {
                "authentication_time": "2023-11-14T22:13:20.500000000+00:00",
                "data_type": "smtp:authentication",
                "destination_ip": "10.0.0.2",
                "hashcat": "$cram_md5$PDEyMzQ1Pg==$YWxpY2UgMDAwMA==",
                "hashcat_mode": 16400,
                "mechanism": "CRAM-MD5",
                "password": None,
                "session_identifier": "s7",
                "source_port": 40000,
                "success": False,
                "username": "alice",
            },
        )
        self.assertEqual(
            self._GetEvents(event_data),
            [("2023-11-14T22:13:20.500000000+00:00", "Authentication Time")],
        )
        message, message_short = self._GetMessages(event_data)
        self.assertEqual(
            message,
            "SMTP authentication failed user: alice mechanism: CRAM-MD5 "
            "client 10.0.0.1 port 40000 -> server 10.0.0.2 port 25 "
            "hashcat mode 16400: $cram_md5$PDEyMzQ1Pg==$YWxpY2UgMDAwMA==",
        )
        self.assertEqual(message_short, "SMTP authentication failed user: alice")

    def testAuthenticationWithUnknownOutcome(self):
        credential = model.Credential(
            session_id="s1",
            time_ns=1_700_000_000_000_000_000,
            endpoints=ENDPOINTS,
            mechanism="PLAIN",
            username="bob",
            password="secret",
        )
        message, _ = self._GetMessages(smtp.CreateEventData(credential))
        self.assertEqual(
            message,
            "SMTP authentication user: bob password: secret mechanism: PLAIN "
            "client 10.0.0.1 port 40000 -> server 10.0.0.2 port 25 "
            "(outcome not in the capture)",
        )

    def testEmail(self):
        message_object = _Message(
            recipients=[
                model.Recipient("bob@example.org", "", True, "250 ok"),
                model.Recipient("carol@example.org", "", None, None),
                model.Recipient("mallory@example.net", "", False, "550 no"),
            ],
            accepted=True,
            queue_id="4AB12",
            data_sent=True,
            complete=False,
            size=1234,
            md5="0" * 32,
            sha256="f" * 64,
            mime=model.MimeInfo(
                subject="Quarterly report",
                date="Tue, 14 Nov 2023 23:13:10 +0100",
                date_ns=1_699_999_990_000_000_000,
                message_id="<id-1@example.com>",
                attachments=[
                    model.Attachment(
                        "report.pdf",
                        "application/pdf",
                        None,
                        10,
                        "",
                        "",
                        "a" * 64,
                        False,
                        None,
                    ),
                    model.Attachment(
                        None, "image/png", None, 5, "", "", "b" * 64, True, "cid1"
                    ),
                ],
            ),
        )
        event_data = smtp.CreateEventData(message_object)

        self.assertIsInstance(event_data, smtp.SMTPEmailEventData)
        self.CheckEventData(
            event_data,
            {
                "accepted": True,
                "attachment_names": ["report.pdf", ""],
                "attachment_sha256_hashes": ["a" * 64, "b" * 64],
                "complete": False,
                "creation_time": None,
                "date_header": None,
                "data_type": "smtp:email",
                "email_identifier": "s7-1",
                "helo": "client.example",
                "message_identifier": "<id-1@example.com>",
                "message_md5_hash": "0" * 32,
                "message_sha256_hash": "f" * 64,
                "queue_identifier": "4AB12",
                "recipients": ["bob@example.org", "carol@example.org"],
                "rejected_recipients": ["mallory@example.net"],
                "sender": "alice@example.com",
                "sent_time": "2023-11-14T22:13:21.234567891+00:00",
                "session_identifier": "s7",
                "size": 1234,
                "source_ip": "10.0.0.1",
                "subject": "Quarterly report",
                "username": "alice",
            },
        )
        self.assertEqual(
            self._GetEvents(event_data),
            [("2023-11-14T22:13:21.234567891+00:00", "Sent Time")],
        )
        # The Date header: event data of its own, whose message says so.
        sent_event_data, date_event_data = smtp.CreateEventDataList(message_object)
        self.assertIs(type(sent_event_data), type(date_event_data))
        self.CheckEventData(
            date_event_data,
            {
                "creation_time": "2023-11-14T22:13:10.000000000+00:00",
                "date_header": "Tue, 14 Nov 2023 23:13:10 +0100",
                "sent_time": None,
                "subject": "Quarterly report",
                "message_sha256_hash": "f" * 64,
                "session_identifier": "s7",
            },
        )
        self.assertEqual(
            self._GetEvents(date_event_data),
            [("2023-11-14T22:13:10.000000000+00:00", "Creation Time")],
        )
        date_message, date_message_short = self._GetMessages(date_event_data)
        self.assertTrue(
            date_message.startswith(
                "SMTP email Date header: Tue, 14 Nov 2023 23:13:10 +0100 from "
                "alice@example.com to bob@example.org"
            ),
            date_message,
        )
        self.assertTrue(date_message_short.startswith("SMTP email (Date header) from"))
        message, message_short = self._GetMessages(event_data)
        self.assertEqual(
            message,
            "SMTP email from alice@example.com to bob@example.org, carol@example.org "
            "refused recipients: mallory@example.net Subject: Quarterly report "
            "(accepted) size: 1234 bytes queue id: 4AB12 user: alice "
            "attachments: report.pdf, (no name) Message-ID: <id-1@example.com> "
            f"SHA-256: {'f' * 64} client 10.0.0.1 port 40000 -> server 10.0.0.2 "
            "port 25 (incomplete: bytes missing from the capture)",
        )
        self.assertEqual(
            message_short,
            "SMTP email from alice@example.com to bob@example.org, carol@example.org "
            "Subje...",
        )

    def testEnvelopeWithoutContent(self):
        """A transaction refused before DATA has no size, hashes or Date event."""
        message_object = _Message(
            mail_from="",
            auth_user=None,
            recipients=[model.Recipient("x@example.org", "", False, "550 no")],
            accepted=None,
            data_sent=False,
            md5="d41d8cd98f00b204e9800998ecf8427e",
        )
        event_data = smtp.CreateEventData(message_object)

        self.CheckEventData(
            event_data,
            {
                "attachment_names": None,
                "creation_time": None,
                "message_md5_hash": None,
                "recipients": None,
                "rejected_recipients": ["x@example.org"],
                "sender": "",
                "size": None,
                "subject": None,
            },
        )
        self.assertEqual(
            self._GetEvents(event_data),
            [("2023-11-14T22:13:21.234567891+00:00", "Sent Time")],
        )
        message, _ = self._GetMessages(event_data)
        self.assertEqual(
            message,
            "SMTP email from <> refused recipients: x@example.org "
            "client 10.0.0.1 port 40000 -> server 10.0.0.2 port 25",
        )

    def testPivotHeaders(self):
        """The fields a BEC or phishing case starts from, and their formatter text."""
        message_object = _Message(
            mail_from="billing@mailer.test",
            data_sent=True,
            size=10,
            sha256="e" * 64,
            mime=model.MimeInfo(
                subject="Invoice",
                from_="CEO <ceo@example.com>",
                to="ap@example.com",
                reply_to="CEO <ceo.private@freemail.test>",
                sender="agent@mailer.test",
                in_reply_to="<a@example.com>",
                references="<z@example.com> <a@example.com>",
                x_mailer="Foxmail 7.2.13.365[cn]",
                x_originating_ip="198.51.100.7",
                return_path="<bounce@mailer.test>",
                received=[
                    "from relay.test ([192.0.2.1]) by mx.example.com with ESMTP id "
                    "A1; Tue, 14 Nov 2023 23:13:15 +0100",
                    "from pc ([203.0.113.9]) by relay.test with ESMTPSA id B2; Tue, "
                    "14 Nov 2023 23:13:12 +0100",
                ],
            ),
        )
        event_data = smtp.CreateEventData(message_object)
        self.CheckEventData(
            event_data,
            {
                "from_header": "CEO <ceo@example.com>",
                "to_header": "ap@example.com",
                "reply_to": "CEO <ceo.private@freemail.test>",
                "reply_to_differs": True,
                "from_differs_from_envelope": True,
                "sender_header": "agent@mailer.test",
                "in_reply_to": "<a@example.com>",
                "references": "<z@example.com> <a@example.com>",
                "user_agent": "Foxmail 7.2.13.365[cn]",
                "x_originating_ip": "198.51.100.7",
                "return_path": "bounce@mailer.test",
                "received_first_hop_ip": "203.0.113.9",
                "received_headers": message_object.mime.received,
            },
        )
        message, _ = self._GetMessages(event_data)
        self.assertEqual(
            message,
            "SMTP email from billing@mailer.test Subject: Invoice size: 10 bytes "
            "user: alice From: CEO <ceo@example.com> Reply-To: CEO "
            "<ceo.private@freemail.test> (Reply-To differs from From) (From differs "
            "from MAIL FROM) Sender: agent@mailer.test In-Reply-To: <a@example.com> "
            "user agent: Foxmail 7.2.13.365[cn] X-Originating-IP: 198.51.100.7 "
            "first Received from: 203.0.113.9 SHA-256: " + "e" * 64 + " client "
            "10.0.0.1 port 40000 -> server 10.0.0.2 port 25",
        )

    def testAuthenticationIdentities(self):
        """NTLM domain and workstation, authzid and bearer tokens reach plaso."""
        credential = model.Credential(
            session_id="c0123456789ab-s2",
            time_ns=1_700_000_000_000_000_000,
            endpoints=ENDPOINTS,
            mechanism="NTLM",
            username="alice",
            domain="CORP",
            workstation="DESKTOP-1",
            authzid="admin",
            success=True,
            id="c0123456789ab-s2-a1",
        )
        event_data = smtp.CreateEventData(credential)
        self.CheckEventData(
            event_data,
            {
                "authentication_identifier": "c0123456789ab-s2-a1",
                "authorization_identity": "admin",
                "complete": True,
                "domain": "CORP",
                "workstation": "DESKTOP-1",
                "token": None,
            },
        )
        message, _ = self._GetMessages(event_data)
        self.assertEqual(
            message,
            "SMTP authentication succeeded user: alice mechanism: NTLM acting as: "
            "admin domain: CORP workstation: DESKTOP-1 client 10.0.0.1 port 40000 "
            "-> server 10.0.0.2 port 25",
        )
        oauth = model.Credential(
            session_id="s1",
            time_ns=1,
            endpoints=ENDPOINTS,
            mechanism="XOAUTH2",
            username="alice@example.org",
            token="ya29.lab-access-token-0001",
            success=False,
        )
        message, _ = self._GetMessages(smtp.CreateEventData(oauth))
        self.assertIn("bearer token: ya29.lab-access-token-0001", message)

    def testSmugglingIndicatorsAndPlaintextAfterStartTls(self):
        message_object = _Message(
            data_sent=True,
            accepted=True,
            smuggling_indicators=[
                model.SmugglingIndicator(b"\n.\n", 175, True),
                model.SmugglingIndicator(b"\r.\r", 12, False),
            ],
        )
        event_data = smtp.CreateEventData(message_object)
        self.CheckEventData(
            event_data,
            {
                "smuggling_indicators": [
                    "\\n.\\n at offset 175 (ended the data)",
                    "\\r.\\r at offset 12 (did not end the data)",
                ]
            },
        )
        message, _ = self._GetMessages(event_data)
        self.assertIn(
            "possible SMTP smuggling: \\n.\\n at offset 175 (ended the data), "
            "\\r.\\r at offset 12 (did not end the data)",
            message,
        )

        session = model.Session(
            session_id="s8",
            source="capture.pcap",
            endpoints=ENDPOINTS,
            start_ns=1_700_000_000_000_000_001,
            end_ns=1_700_000_002_500_000_000,
            starttls=True,
            starttls_plaintext=True,
            smuggling_suspected=True,
        )
        event_data = smtp.CreateEventData(session)
        self.CheckEventData(
            event_data,
            {
                "encrypted": False,
                "smuggling_suspected": True,
                "starttls_plaintext": True,
            },
        )
        message, _ = self._GetMessages(event_data)
        self.assertEqual(
            message,
            "SMTP session client 10.0.0.1 port 40000 -> server 10.0.0.2 port 25 "
            "messages: 0 authentication attempts: 0 "
            "STARTTLS requested dialogue after STARTTLS in clear (decrypted capture) "
            "possible SMTP smuggling (non-standard end of data)",
        )

    def testUnsupportedObject(self):
        with pytest.raises(TypeError):
            smtp.CreateEventData(ENDPOINTS)
