"""plaso's ParserTestCase idiom (tests/parsers/test_lib.py), for the pcap parser.

Parses a file the way an extraction worker does, into plaso's in-memory storage
writer, so tests can count event data and warnings and compare attribute values.
"""

import os
import unittest
from pathlib import Path

import plaso

from dfdatetime import interface as dfdatetime_interface
from dfvfs.file_io import fake_file_io
from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.path import factory as path_spec_factory
from dfvfs.path import fake_path_spec
from dfvfs.resolver import context as dfvfs_context
from dfvfs.resolver import resolver as path_spec_resolver

from plaso.containers import events
from plaso.engine import timeliner
from plaso.output import dynamic
from plaso.output import mediator as output_mediator
from plaso.parsers import interface
from plaso.parsers import mediator as parsers_mediator
from plaso.storage.fake import writer as fake_writer

from plaso_smtp import startup

# Acceptance captures from other projects (see EXPECTED.md there); may be absent.
EXTERNAL_CORPUS_PATH = Path(__file__).resolve().parents[2] / "shared/corpus/external"

PLASO_DATA_LOCATION = os.path.join(os.path.dirname(plaso.__file__), "data")


def InstallStartupHook():
    """Makes sure this process is extended even if the .pth file did not run."""
    startup.Install()


class ParserTestCase(unittest.TestCase):
    """Parser test case."""

    def _CreateFileObject(self, filename, data):
        """Creates a file-like object of in-memory data.

        Args:
          filename (str): name of the file.
          data (bytes): data of the file.

        Returns:
          dfvfs.FakeFile: file-like object.
        """
        resolver_context = dfvfs_context.Context()

        test_path_spec = fake_path_spec.FakePathSpec(location=f"/{filename:s}")
        file_object = fake_file_io.FakeFile(resolver_context, test_path_spec, data)
        file_object.Open()

        return file_object

    def _CreateStorageWriter(self):
        """Creates an in-memory storage writer.

        Returns:
          FakeStorageWriter: storage writer.
        """
        storage_writer = fake_writer.FakeStorageWriter()
        storage_writer.Open()
        return storage_writer

    def _ParseFile(self, path, parser, parser_mediator=None, sha256_hash=None):
        """Parses a file with a parser and writes results to a storage writer.

        Args:
          path (str|Path): path of the file.
          parser (BaseParser): parser.
          parser_mediator (Optional[ParserMediator]): parser mediator, where None
              creates one.
          sha256_hash (Optional[str]): what plaso's hashing analyzer put in the
              event data stream, where None is no hashing (plaso's own test_lib).

        Returns:
          FakeStorageWriter: storage writer.

        Raises:
          SkipTest: if the file does not exist.
        """
        if not os.path.exists(path):
            raise unittest.SkipTest(f"missing test file: {path!s}")

        path_spec = path_spec_factory.Factory.NewPathSpec(
            dfvfs_definitions.TYPE_INDICATOR_OS, location=os.fspath(path)
        )
        return self._ParseFileByPathSpec(
            path_spec, parser, parser_mediator=parser_mediator, sha256_hash=sha256_hash
        )

    def _ParseFileByPathSpec(
        self, path_spec, parser, parser_mediator=None, sha256_hash=None
    ):
        """Parses a file with a parser and writes results to a storage writer.

        Args:
          path_spec (dfvfs.PathSpec): path specification.
          parser (BaseParser): parser.
          parser_mediator (Optional[ParserMediator]): parser mediator, where None
              creates one.
          sha256_hash (Optional[str]): what plaso's hashing analyzer put in the
              event data stream, where None is no hashing (plaso's own test_lib).

        Returns:
          FakeStorageWriter: storage writer.
        """
        if parser_mediator is None:
            parser_mediator = parsers_mediator.ParserMediator()

        storage_writer = self._CreateStorageWriter()
        parser_mediator.SetStorageWriter(storage_writer)

        file_entry = path_spec_resolver.Resolver.OpenFileEntry(path_spec)
        parser_mediator.SetFileEntry(file_entry)

        if file_entry:
            event_data_stream = events.EventDataStream()
            event_data_stream.path_spec = file_entry.path_spec
            if sha256_hash is not None:
                event_data_stream.sha256_hash = sha256_hash

            parser_mediator.ProduceEventDataStream(event_data_stream)

        if isinstance(parser, interface.FileEntryParser):
            parser.Parse(parser_mediator)

        elif isinstance(parser, interface.FileObjectParser):
            file_object = file_entry.GetFileObject()
            parser.Parse(parser_mediator, file_object)

        else:
            self.fail(f"Unsupported parser type: {type(parser)!s}")

        return storage_writer

    def _GetEventData(self, storage_writer, data_type=None):
        """Retrieves the event data written, in order.

        Args:
          storage_writer (FakeStorageWriter): storage writer.
          data_type (Optional[str]): only event data of this data type.

        Returns:
          list[EventData]: event data.
        """
        return [
            event_data
            for event_data in storage_writer.GetAttributeContainers("event_data")
            if data_type is None or event_data.data_type == data_type
        ]

    def _GetWarningMessages(self, storage_writer):
        """Retrieves the messages of the extraction warnings written.

        Args:
          storage_writer (FakeStorageWriter): storage writer.

        Returns:
          list[str]: warning messages.
        """
        return [
            warning.message
            for warning in storage_writer.GetAttributeContainers("extraction_warning")
        ]

    def _GetEvents(self, event_data):
        """Generates events from event data with plaso's timeliner.

        Args:
          event_data (EventData): event data.

        Returns:
          list[tuple[str, str]]: ISO 8601 date and time and timestamp description
              of each event, sorted.
        """
        storage_writer = self._CreateStorageWriter()
        storage_writer.AddAttributeContainer(event_data)

        event_data_timeliner = timeliner.EventDataTimeliner(
            data_location=PLASO_DATA_LOCATION
        )
        event_data_timeliner.ProcessEventData(storage_writer, event_data, None)

        return sorted(
            (event.date_time.CopyToDateTimeStringISO8601(), event.timestamp_desc)
            for event in storage_writer.GetAttributeContainers("event")
        )

    def _GetMessages(self, event_data):
        """Formats event data as psort does.

        Args:
          event_data (EventData): event data.

        Returns:
          tuple[str, str]: message and short message.
        """
        mediator_object = output_mediator.OutputMediator(
            None, data_location=PLASO_DATA_LOCATION
        )
        mediator_object.ReadMessageFormattersFromDirectory(
            os.path.join(PLASO_DATA_LOCATION, "formatters")
        )
        formatting_helper = dynamic.DynamicFieldFormattingHelper()

        message = formatting_helper.GetFormattedField(
            mediator_object, "message", None, event_data, None, None
        )
        message_short = formatting_helper.GetFormattedField(
            mediator_object, "message_short", None, event_data, None, None
        )
        return message, message_short

    def CheckEventData(self, event_data, expected_event_values):
        """Asserts that event data matches the expected values.

        Args:
          event_data (EventData): event data to check.
          expected_event_values (dict[str, object]): expected values of the event
              data attribute values per name; date and time values as ISO 8601.
        """
        for name, expected_value in expected_event_values.items():
            value = getattr(event_data, name, None)
            if isinstance(value, dfdatetime_interface.DateTimeValues):
                value = value.CopyToDateTimeStringISO8601()

            self.assertEqual(
                value, expected_value, f'event value: "{name:s}" does not match'
            )
