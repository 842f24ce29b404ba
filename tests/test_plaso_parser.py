"""Tests for the pcap parser and its smtp plugin, in plaso's ParserTestCase idiom."""

import copy
import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from unittest import mock

from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.path import factory as path_spec_factory
from dfvfs.resolver import resolver as path_spec_resolver

from plaso.containers import events
from plaso.lib import errors
from plaso.parsers import manager
from plaso.parsers import mediator as parsers_mediator

from smtpcore import api
from smtpcore import model
from smtpcore import pipeline

from plaso_smtp.parsers import pcap
from plaso_smtp.parsers.pcap_plugins import smtp

import plaso_test_lib

ZEEK_SMTP_PATH = plaso_test_lib.EXTERNAL_CORPUS_PATH / "zeek-smtp.pcap"
REPOSITORY_CAPTURES_PATH = Path(__file__).resolve().parents[1] / "test_data/captures"

PCAP_HEADER = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")

ENDPOINTS = model.Endpoints("10.0.0.1", 40000, "10.0.0.2", 25)


def _Session(session_id):
    return model.Session(
        session_id=session_id,
        source="x",
        endpoints=ENDPOINTS,
        start_ns=1_600_000_000_000_000_000,
        end_ns=1_600_000_001_000_000_000,
    )


def _Record(event_data):
    """The values of event data that must not change on the way through plaso."""
    keys = {
        "smtp:session": ("source_ip", "source_port", "destination_ip", "helo"),
        "smtp:authentication": ("mechanism", "username", "password", "success"),
        "smtp:email": (
            "sender",
            "subject",
            "recipients",
            "message_sha256_hash",
            "username",
            "attachment_sha256_hashes",
        ),
    }[event_data.data_type]
    return (event_data.data_type,) + tuple(
        repr(getattr(event_data, key, None)) for key in keys
    )


class PcapParserTest(plaso_test_lib.ParserTestCase):
    """Tests for the pcap parser."""

    @classmethod
    def setUpClass(cls):
        plaso_test_lib.InstallStartupHook()

    def setUp(self):
        self._temporary_directory = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self._temporary_directory)

    def _CreatePathSpec(self, name, data):
        path = os.path.join(self._temporary_directory, name)
        with open(path, "wb") as file_object:
            file_object.write(data)
        return path_spec_factory.Factory.NewPathSpec(
            dfvfs_definitions.TYPE_INDICATOR_OS, location=path
        )

    def _CreateParser(self):
        return manager.ParsersManager.GetParserObjects("pcap")["pcap"]

    def testRegistration(self):
        """The parser and its plugin are selectable by name."""
        known, unknown = manager.ParsersManager.CheckFilterExpression("pcap/smtp")
        self.assertEqual((known, unknown), ({"pcap/smtp"}, set()))
        known, _ = manager.ParsersManager.CheckFilterExpression("pcap")
        self.assertEqual(known, {"pcap/smtp"})

        parser = manager.ParsersManager.GetParserObjects("pcap/smtp")["pcap"]
        self.assertIsInstance(parser, pcap.PcapParser)
        self.assertEqual(list(parser._plugins_per_name), ["smtp"])

    def testFormatSpecification(self):
        """Every pcap and pcapng magic is claimed at offset 0."""
        format_specification = pcap.PcapParser.GetFormatSpecification()
        signatures = {
            (signature.pattern.hex(), signature.offset)
            for signature in format_specification.signatures
        }
        self.assertEqual(
            signatures,
            {
                ("a1b2c3d4", 0),
                ("d4c3b2a1", 0),
                ("a1b23c4d", 0),
                ("4d3cb2a1", 0),
                ("34cdb2a1", 0),  # Kuznetzov's modified pcap, which smtpcore reads
                ("a1b2cd34", 0),
                ("0a0d0d0a", 0),
            },
        )
        specification_store, remainder = (
            manager.ParsersManager.GetFormatsWithSignatures("pcap")
        )
        self.assertEqual(remainder, [])
        self.assertEqual(
            [spec.identifier for spec in specification_store.specifications], ["pcap"]
        )

    def testIsCaptureHeader(self):
        self.assertTrue(pcap.IsCaptureHeader(PCAP_HEADER[:24]))
        # A pcap magic needs the whole 24-byte header, with version 2, behind it.
        self.assertFalse(pcap.IsCaptureHeader(PCAP_HEADER[:12]))
        self.assertFalse(
            pcap.IsCaptureHeader(PCAP_HEADER[:4] + b"\x00\x09" + bytes(18))
        )
        self.assertTrue(pcap.IsCaptureHeader(bytes.fromhex("0a0d0d0a1c0000004d3c2b1a")))
        self.assertTrue(pcap.IsCaptureHeader(bytes.fromhex("0a0d0d0a0000001c1a2b3c4d")))
        # The pcapng block type alone is not enough.
        self.assertFalse(pcap.IsCaptureHeader(b"\n\r\r\n  text line\n"))
        self.assertFalse(pcap.IsCaptureHeader(b"PK\x03\x04" + bytes(8)))

    def testParseNotACapture(self):
        path_spec = self._CreatePathSpec("notes.txt", b"\n\r\r\n" + b"x" * 60)
        with self.assertRaises(errors.WrongParser):
            self._ParseFileByPathSpec(path_spec, self._CreateParser())

    def testParseEmptyCapture(self):
        """A capture with a header and no packets gives nothing and no warning."""
        storage_writer = self._ParseFileByPathSpec(
            self._CreatePathSpec("empty.pcap", PCAP_HEADER), self._CreateParser()
        )
        self.assertEqual(self._GetEventData(storage_writer), [])
        self.assertEqual(self._GetWarningMessages(storage_writer), [])

    def _SentEmails(self, storage_writer):
        """The email event data of the sending times, not of the Date headers."""
        return [
            event_data
            for event_data in self._GetEventData(storage_writer, "smtp:email")
            if event_data.date_header is None
        ]

    def testPivotHeadersAndIdentifiers(self):
        """A lab BEC message: the pivot headers survive plaso's storage, the Date
        header has its own event data, identifiers carry the capture's hash."""
        path = REPOSITORY_CAPTURES_PATH.parent / "pivot" / "bec.pcap"
        storage_writer = self._ParseFile(path, self._CreateParser())
        self.assertEqual(self._GetWarningMessages(storage_writer), [])
        prefix = api.capture_prefix(hashlib.sha256(path.read_bytes()).hexdigest())
        (sent,) = self._SentEmails(storage_writer)
        self.CheckEventData(
            sent,
            {
                "email_identifier": f"{prefix}s1-1",
                "session_identifier": f"{prefix}s1",
                "from_header": "Chief Executive <ceo@example.org>",
                "reply_to": "Chief Executive – office <ceo.office@freemail.test>",
                "reply_to_differs": True,
                "from_differs_from_envelope": True,
                "sender_header": "billing@mailer.test",
                "return_path": "billing@mailer.test",
                "in_reply_to": "<CAF=invoice-4471@example.org>",
                "user_agent": "Microsoft Outlook 16.0",
                "x_originating_ip": "203.0.113.77",
                "received_first_hop_ip": None,
                "date_header": None,
                "creation_time": None,
            },
        )
        self.assertEqual(len(sent.received_headers), 3)
        self.assertTrue(sent.received_headers[0].startswith("from relay.mailer.test"))
        (dated,) = [
            event_data
            for event_data in self._GetEventData(storage_writer, "smtp:email")
            if event_data.date_header is not None
        ]
        self.CheckEventData(
            dated,
            {
                "date_header": "Mon, 30 Nov 2026 10:14:50 +0100",
                "creation_time": "2026-11-30T09:14:50.000000000+00:00",
                "sent_time": None,
                "email_identifier": f"{prefix}s1-1",
            },
        )
        (authentication,) = self._GetEventData(storage_writer, "smtp:authentication")
        self.CheckEventData(
            authentication,
            {
                "authentication_identifier": f"{prefix}s1-a1",
                "complete": True,
                "username": "alice",
            },
        )

    def testPrefixFromPlasoHashReadsTheCaptureOnce(self):
        """With the SHA-256 plaso took of the stream, identifiers carry it and the
        parser does not hash the capture a second time."""
        path = REPOSITORY_CAPTURES_PATH.parent / "pivot" / "bec.pcap"
        analyzed = hashlib.sha256(b"what plaso's hashing analyzer saw").hexdigest()

        class NoHashing:
            @staticmethod
            def sha256(*unused_arguments):
                raise AssertionError("the capture was hashed again")

        with mock.patch.object(smtp, "hashlib", NoHashing):
            storage_writer = self._ParseFile(
                path, self._CreateParser(), sha256_hash=analyzed
            )
        self.assertEqual(self._GetWarningMessages(storage_writer), [])
        prefix = api.capture_prefix(analyzed)
        self.assertEqual(
            sorted(
                {
                    event_data.session_identifier
                    for event_data in self._GetEventData(storage_writer)
                }
            ),
            [f"{prefix}s1"],
        )
        (sent,) = self._SentEmails(storage_writer)
        self.assertEqual(sent.email_identifier, f"{prefix}s1-1")

    def testPrefixHashedByTheParserWhenPlasoHashIsInDoubt(self):
        """No SHA-256, one that is not a SHA-256, or one of another stream: the
        parser hashes the capture itself."""
        path = REPOSITORY_CAPTURES_PATH.parent / "pivot" / "bec.pcap"
        own = hashlib.sha256(path.read_bytes()).hexdigest()
        for doubtful in (None, own.upper(), own[:63], f"{own}0", 42):
            with self.subTest(sha256_hash=doubtful):
                storage_writer = self._ParseFile(
                    path, self._CreateParser(), sha256_hash=doubtful
                )
                (sent,) = self._SentEmails(storage_writer)
                self.assertEqual(
                    sent.email_identifier, f"{api.capture_prefix(own)}s1-1"
                )

        os_path_spec = path_spec_factory.Factory.NewPathSpec(
            dfvfs_definitions.TYPE_INDICATOR_OS, location=os.fspath(path)
        )
        other_path_spec = path_spec_factory.Factory.NewPathSpec(
            dfvfs_definitions.TYPE_INDICATOR_OS, location=os.fspath(path.parent)
        )
        alternate_path_spec = copy.deepcopy(os_path_spec)  # as plaso's worker names one
        alternate_path_spec.data_stream = "alternate"
        for stream_path_spec, expected in (
            (os_path_spec, own),
            (other_path_spec, None),
            (alternate_path_spec, None),
        ):
            with self.subTest(stream=stream_path_spec.comparable):
                parser_mediator = parsers_mediator.ParserMediator()
                parser_mediator.SetStorageWriter(self._CreateStorageWriter())
                parser_mediator.SetFileEntry(
                    path_spec_resolver.Resolver.OpenFileEntry(os_path_spec)
                )
                event_data_stream = events.EventDataStream()
                event_data_stream.path_spec = stream_path_spec
                event_data_stream.sha256_hash = own
                parser_mediator.ProduceEventDataStream(event_data_stream)
                self.assertEqual(smtp._AnalyzedSha256(parser_mediator), expected)

    def testParseZeekSMTP(self):
        """Acceptance capture from Zeek's test suite (see EXPECTED.md)."""
        storage_writer = self._ParseFile(ZEEK_SMTP_PATH, self._CreateParser())

        # Its last session is cut by the end of the capture: an incomplete record.
        (session_prefix,) = {
            event_data.session_identifier.split("-")[0]
            for event_data in self._GetEventData(storage_writer)
        }
        self.assertEqual(
            self._GetWarningMessages(storage_writer),
            [f"session {session_prefix}-s3: incomplete (the capture ends first)"],
        )
        data_types = [
            event_data.data_type for event_data in self._GetEventData(storage_writer)
        ]
        # Each email twice: the time it was sent, and its Date header.
        self.assertEqual(
            sorted(data_types),
            ["smtp:authentication"] + ["smtp:email"] * 4 + ["smtp:session"] * 2,
        )
        for event_data in self._GetEventData(storage_writer):
            self.assertEqual(event_data._parser_chain, "pcap/smtp")

        (authentication,) = self._GetEventData(storage_writer, "smtp:authentication")
        self.CheckEventData(
            authentication,
            {
                "destination_port": 25,
                "mechanism": "LOGIN",
                "password": "punjab@123",
                "success": True,
                "username": "gurpartap@patriots.in",
            },
        )

        first_email, second_email = self._SentEmails(storage_writer)
        self.CheckEventData(
            first_email,
            {
                "accepted": True,
                "attachment_names": ["NEWS.txt"],
                "complete": True,
                "recipients": ["raj_deol2002in@yahoo.co.in"],
                "sender": "gurpartap@patriots.in",
                "size": 14545,
                "subject": "SMTP",
                "username": "gurpartap@patriots.in",
            },
        )
        self.assertRegex(first_email.message_sha256_hash, "^[0-9a-f]{64}$")
        self.CheckEventData(
            second_email,
            {"size": 804, "subject": "Re: Bro SMTP CC Header", "username": None},
        )
        self.assertEqual(len(second_email.recipients), 3)

        sessions = self._GetEventData(storage_writer, "smtp:session")
        self.assertEqual(
            [(session.message_count, session.username) for session in sessions],
            [(1, "gurpartap@patriots.in"), (1, None)],
        )

    def testParseSmugglingCapture(self):
        """A real Postfix capture: the second message follows a bare-LF end."""
        path = Path(__file__).resolve().parents[1] / "test_data/quirks"
        storage_writer = self._ParseFile(
            path / "postfix-bare-lf-piped.pcap", self._CreateParser()
        )
        self.assertEqual(self._GetWarningMessages(storage_writer), [])
        emails = [  # the sending times, not the Date headers' own event data
            email
            for email in self._GetEventData(storage_writer, "smtp:email")
            if email.date_header is None
        ]
        self.assertEqual(
            [
                (email.sender, email.size, email.smuggling_indicators)
                for email in emails
            ],
            [
                ("alice@example.org", 166, ["\\n.\\n at offset 165 (ended the data)"]),
                (
                    "mallory@example.org",
                    190,
                    ["\\n.\\n at offset 189 (ended the data)"],
                ),
            ],
        )
        (session,) = self._GetEventData(storage_writer, "smtp:session")
        self.CheckEventData(
            session,
            {
                "message_count": 2,
                "smuggling_suspected": True,
                "starttls_plaintext": False,
            },
        )

    def testParseGzipCapture(self):
        """dfvfs decompresses a gzip stream; the parser sees the capture inside."""
        if not ZEEK_SMTP_PATH.exists():
            self.skipTest("external corpus not available")

        gzip_path_spec = path_spec_factory.Factory.NewPathSpec(
            dfvfs_definitions.TYPE_INDICATOR_GZIP,
            parent=self._CreatePathSpec(
                "capture.pcap.gz", gzip.compress(ZEEK_SMTP_PATH.read_bytes())
            ),
        )
        storage_writer = self._ParseFileByPathSpec(gzip_path_spec, self._CreateParser())
        subjects = [
            event_data.subject for event_data in self._SentEmails(storage_writer)
        ]
        self.assertEqual(subjects, ["SMTP", "Re: Bro SMTP CC Header"])

    def testParseMatchesSmtpcore(self):
        """What plaso stores equals what smtpcore finds, for every capture we have."""
        paths = sorted(REPOSITORY_CAPTURES_PATH.glob("*.pcap*"))
        if ZEEK_SMTP_PATH.parent.is_dir():
            paths.extend(sorted(ZEEK_SMTP_PATH.parent.glob("*.pcap")))
        if not paths:
            self.skipTest("no captures available")

        for path in paths:
            with self.subTest(capture=path.name):
                warnings = []  # incomplete records and MIME defects among them
                expected = []
                with open(path, "rb") as file_object:
                    prefix = api.capture_prefix(api.digest(file_object)[0])
                    file_object.seek(0)
                    for item in pipeline.extract(
                        file_object,
                        source="x",
                        warn=warnings.append,
                        session_prefix=prefix,
                    ):
                        expected.extend(
                            _Record(event_data)
                            for event_data in smtp.CreateEventDataList(item)
                        )
                        # What decoding left out is a warning in plaso.
                        decoded = getattr(item, "mime", None)
                        if decoded is None or getattr(item, "partial", None):
                            continue
                        for warning in decoded.warnings:
                            where = warning.removeprefix("message: ")
                            warnings.append(f"message {item.id}: {where}")

                storage_writer = self._ParseFile(path, self._CreateParser())
                records = [
                    _Record(event_data)
                    for event_data in self._GetEventData(storage_writer)
                ]
                self.assertEqual(records, expected)
                self.assertEqual(self._GetWarningMessages(storage_writer), warnings)
                identifiers = {
                    event_data.session_identifier
                    for event_data in self._GetEventData(storage_writer)
                }
                self.assertTrue(all(i.startswith(prefix) for i in identifiers))

    def testDamagedCaptureGivesWarnings(self):
        """A capture cut short: what came before survives, the rest is marked."""
        if not ZEEK_SMTP_PATH.exists():
            self.skipTest("external corpus not available")

        data = ZEEK_SMTP_PATH.read_bytes()
        path_spec = self._CreatePathSpec("cut.pcap", data[: len(data) * 3 // 4 + 5])
        storage_writer = self._ParseFileByPathSpec(path_spec, self._CreateParser())

        warnings = list(storage_writer.GetAttributeContainers("extraction_warning"))
        self.assertGreaterEqual(len(warnings), 1)
        for warning in warnings:
            self.assertEqual(warning.parser_chain, "pcap/smtp")
        first_email, cut_email = self._SentEmails(storage_writer)
        self.CheckEventData(first_email, {"complete": True, "subject": "SMTP"})
        self.assertFalse(cut_email.complete)

    def testRepeatedWarningsAreAggregatedInTheStorage(self):
        """A flood of one anomaly is stored five times and once counted, not 400 times."""
        session = (REPOSITORY_CAPTURES_PATH / "postfix-auth-plain.pcap").read_bytes()
        # 400 frames cut inside their TCP header (captured length = original length).
        header = bytearray(session[24:40])
        header[8:12] = (40).to_bytes(4, "little")
        header[12:16] = (40).to_bytes(4, "little")
        broken = bytes(header) + session[40:80]
        path_spec = self._CreatePathSpec("flood.pcap", session + broken * 400)
        storage_writer = self._ParseFileByPathSpec(path_spec, self._CreateParser())

        messages = self._GetWarningMessages(storage_writer)
        self.assertLess(len(messages), 15)
        examples = [m for m in messages if m.startswith("frame ")]
        self.assertEqual(len(examples), 5)  # then counted, once
        self.assertTrue(all(m.endswith("TCP header incomplete") for m in examples))
        self.assertTrue(any("(400 in total)" in m for m in messages), messages)
        self.assertEqual(len(self._SentEmails(storage_writer)), 1)

    def testStreamingWarningsAbort(self):
        """Event data is stored as objects arrive, warnings pass through, abort stops."""
        parser_mediator = parsers_mediator.ParserMediator()
        calls = {}

        def FakeExtract(
            fileobj, *, source, warn, abort, mime, progress, session_prefix, keylog
        ):
            calls["session_prefix"] = session_prefix
            calls["source"] = source
            calls["mime"] = mime
            parser_mediator.last_activity_timestamp = 0.0
            progress(4096)
            calls["activity_reported"] = parser_mediator.last_activity_timestamp > 0
            warn("frame 3: truncated")
            yield _Session("s1")
            # Stored already: nothing is collected before it is produced.
            calls["stored_before_second"] = len(self._GetEventData(storage_writer))
            calls["abort_before"] = abort()
            parser_mediator.SignalAbort()
            calls["abort_after"] = abort()
            yield _Session("s2")
            yield _Session("s3")
            calls["ran_to_end"] = True

        storage_writer = self._CreateStorageWriter()
        original_create = self._CreateStorageWriter
        self._CreateStorageWriter = lambda: storage_writer
        try:
            with mock.patch.object(smtp.pipeline, "extract", FakeExtract):
                path_spec = self._CreatePathSpec("capture.pcap", PCAP_HEADER)
                self._ParseFileByPathSpec(
                    path_spec, self._CreateParser(), parser_mediator=parser_mediator
                )
        finally:
            self._CreateStorageWriter = original_create

        self.assertEqual(
            calls,
            {
                "source": f"OS:{path_spec.location:s}",
                "session_prefix": api.capture_prefix(
                    hashlib.sha256(PCAP_HEADER).hexdigest()
                ),
                "mime": True,
                "activity_reported": True,
                "stored_before_second": 1,
                "abort_before": False,
                "abort_after": True,
            },
        )
        self.assertEqual(
            [
                event_data.session_identifier
                for event_data in self._GetEventData(storage_writer)
            ],
            ["s1", "s2"],
        )
        self.assertEqual(
            self._GetWarningMessages(storage_writer), ["frame 3: truncated"]
        )

    def testExceptionBecomesWarning(self):
        """An error inside smtpcore ends the file with a warning, not an exception."""

        def FailingExtract(fileobj, **unused_kwargs):
            yield _Session("s1")
            raise RuntimeError("boom")

        with mock.patch.object(smtp.pipeline, "extract", FailingExtract):
            storage_writer = self._ParseFileByPathSpec(
                self._CreatePathSpec("capture.pcap", PCAP_HEADER),
                self._CreateParser(),
            )

        self.assertEqual(len(self._GetEventData(storage_writer)), 1)
        warnings = list(storage_writer.GetAttributeContainers("extraction_warning"))
        self.assertEqual(
            [(warning.message, warning.parser_chain) for warning in warnings],
            [("unable to parse capture with error: RuntimeError: boom", "pcap/smtp")],
        )

    def testBrokenHeaderGivesWarning(self):
        """A file with a capture magic but a broken header is reported, not raised."""
        path_spec = self._CreatePathSpec(
            "broken.pcapng", bytes.fromhex("0a0d0d0aff0000004d3c2b1a") + bytes(20)
        )
        storage_writer = self._ParseFileByPathSpec(path_spec, self._CreateParser())

        self.assertEqual(self._GetEventData(storage_writer), [])
        messages = self._GetWarningMessages(storage_writer)
        self.assertEqual(len(messages), 1)
        self.assertIn("implausible length 255", messages[0])
