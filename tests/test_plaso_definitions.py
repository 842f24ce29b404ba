"""Every data type of the pcap parser has timeliner and formatter definitions."""

import os
import tempfile

import yaml

from plaso.formatters import yaml_formatters_file

from plaso_smtp import data_files
from plaso_smtp import integration
from plaso_smtp.parsers.pcap_plugins import mailbox
from plaso_smtp.parsers.pcap_plugins import smtp

import plaso_test_lib

EVENT_DATA_CLASSES = (
    mailbox.MailboxAuthenticationEventData,
    mailbox.MailboxEmailEventData,
    mailbox.MailboxSessionEventData,
    smtp.SMTPAuthenticationEventData,
    smtp.SMTPEmailEventData,
    smtp.SMTPSessionEventData,
)


def _DateTimeAttributes(event_data_class):
    """Attributes documented as dfdatetime values in the class docstring."""
    return sorted(
        line.split("(")[0].strip()
        for line in event_data_class.__doc__.splitlines()
        if "(dfdatetime.DateTimeValues)" in line
    )


def testDataTypesListMatchesEventData():
    assert sorted(data_files.DATA_TYPES) == sorted(
        event_data_class.DATA_TYPE for event_data_class in EVENT_DATA_CLASSES
    )


def testTimelinerDefinitionsLoadWithPlasoReader():
    definitions = integration.ReadTimelinerDefinitions()

    mappings = {
        definition.data_type: definition.attribute_mappings
        for definition in definitions
    }
    assert sorted(mappings) == sorted(data_files.DATA_TYPES)
    for event_data_class in EVENT_DATA_CLASSES:
        attribute_mappings = mappings[event_data_class.DATA_TYPE]
        # Every date and time attribute becomes an event, and nothing else does.
        assert sorted(attribute_mappings) == _DateTimeAttributes(event_data_class)
        for attribute_name in attribute_mappings:
            assert hasattr(event_data_class(), attribute_name)

    assert mappings["smtp:session"] == {
        "end_time": "End Time",
        "start_time": "Start Time",
    }
    assert mappings["smtp:email"] == {
        "creation_time": "Creation Time",
        "sent_time": "Sent Time",
    }


def testFormattersLoadWithPlasoReader():
    formatters = list(
        yaml_formatters_file.YAMLFormattersFile().ReadFromFile(
            data_files.FORMATTERS_PATH
        )
    )
    assert sorted(formatter.data_type for formatter in formatters) == sorted(
        data_files.DATA_TYPES
    )
    for formatter in formatters:
        event_data_class = next(
            event_data_class
            for event_data_class in EVENT_DATA_CLASSES
            if event_data_class.DATA_TYPE == formatter.data_type
        )
        event_data = event_data_class()
        helper_outputs = {
            getattr(helper, "output_attribute", None) for helper in formatter.helpers
        }
        # Every attribute a message names exists, or is made by a helper.
        for attribute_name in formatter.GetFormatStringAttributeNames():
            assert hasattr(event_data, attribute_name) or (
                attribute_name in helper_outputs
            ), (formatter.data_type, attribute_name)


def testFormattersFileAppendsToTimesketchFile(tmp_path):
    """Appended to another formatters file, ours are separate YAML documents."""
    combined = tmp_path / "plaso_formatters.yaml"
    combined.write_text(
        "# Timesketch formatters\n---\ntype: 'basic'\ndata_type: 'other:type'\n"
        "message: '{text}'\nshort_message: '{text}'\nshort_source: 'LOG'\n"
        "source: 'Other'\n" + open(data_files.FORMATTERS_PATH, encoding="utf-8").read(),
        encoding="utf-8",
    )
    data_types = [
        formatter.data_type
        for formatter in yaml_formatters_file.YAMLFormattersFile().ReadFromFile(
            os.fspath(combined)
        )
    ]
    assert data_types == ["other:type"] + sorted(data_files.DATA_TYPES)


def testDataFilesAreYamlDocuments():
    for path in (data_files.FORMATTERS_PATH, data_files.TIMELINER_PATH):
        with open(path, encoding="utf-8") as file_object:
            documents = list(yaml.safe_load_all(file_object))
        assert [document["data_type"] for document in documents] == sorted(
            data_files.DATA_TYPES
        )


class TestPlasoLoadsOurDefinitions(plaso_test_lib.ParserTestCase):
    """plaso's own timeliner and output mediator know our data types."""

    @classmethod
    def setUpClass(cls):
        plaso_test_lib.InstallStartupHook()

    def testTimelinerKnowsDataTypes(self):
        from plaso.engine import timeliner  # pylint: disable=import-outside-toplevel

        event_data_timeliner = timeliner.EventDataTimeliner(
            data_location=plaso_test_lib.PLASO_DATA_LOCATION
        )
        for data_type in data_files.DATA_TYPES:
            self.assertTrue(event_data_timeliner._attribute_mappings.get(data_type))
        # plaso's own definitions are still there.
        self.assertIn("fs:stat", event_data_timeliner._attribute_mappings)

    def testOutputMediatorKnowsFormatters(self):
        from plaso.output import mediator  # pylint: disable=import-outside-toplevel

        output_mediator = mediator.OutputMediator(
            None, data_location=plaso_test_lib.PLASO_DATA_LOCATION
        )
        output_mediator.ReadMessageFormattersFromDirectory(
            os.path.join(plaso_test_lib.PLASO_DATA_LOCATION, "formatters")
        )
        for data_type in data_files.DATA_TYPES:
            formatter = output_mediator.GetMessageFormatter(data_type)
            self.assertIsNotNone(formatter, data_type)
            self.assertEqual(
                output_mediator.GetSourceMapping(data_type)[0], "PCAP", data_type
            )
        self.assertIsNotNone(output_mediator.GetMessageFormatter("fs:stat"))

    def testCustomFormatterFileOverridesOurs(self):
        """psort --custom_formatter_definitions still wins over our definitions."""
        from plaso.output import mediator  # pylint: disable=import-outside-toplevel

        custom_definition = (
            "type: 'basic'\ndata_type: 'smtp:email'\nmessage: 'custom {subject}'\n"
            "short_message: '{subject}'\nshort_source: 'MAIL'\nsource: 'Custom'\n"
        )
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
            file.write(custom_definition)
            custom_path = file.name
        try:
            output_mediator = mediator.OutputMediator(
                None, data_location=plaso_test_lib.PLASO_DATA_LOCATION
            )
            output_mediator.ReadMessageFormattersFromDirectory(
                os.path.join(plaso_test_lib.PLASO_DATA_LOCATION, "formatters")
            )
            output_mediator.ReadMessageFormattersFromFile(
                custom_path, override_existing=True
            )
        finally:
            os.unlink(custom_path)

        self.assertEqual(output_mediator.GetSourceMapping("smtp:email")[0], "MAIL")
        self.assertEqual(output_mediator.GetSourceMapping("smtp:session")[0], "PCAP")
