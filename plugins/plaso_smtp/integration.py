"""Extends the plaso modules of the current process with the pcap parser.

Each function runs right after the named plaso module was imported (see
:mod:`plaso_smtp.startup`). They change plaso only in memory, never its files, and
running one twice has no further effect.
"""

import functools
import os

from plaso_smtp import data_files

# Name of the parser to add to the presets, and the marker set on the functions this
# module wraps, so that wrapping twice is noticed.
PARSER_NAME = "pcap"
_WRAPPED_MARKER = "_plaso_smtp_wrapped"


def _IsWrapped(function):
    """Determines if a function is one of our wrappers.

    Args:
      function (function): function.

    Returns:
      bool: True if the function was already wrapped by plaso_smtp.
    """
    return getattr(function, _WRAPPED_MARKER, False)


def _MarkWrapped(function):
    """Marks a wrapper, so that a second call of a hook leaves it alone.

    Args:
      function (function): wrapper.

    Returns:
      function: the same wrapper.
    """
    setattr(function, _WRAPPED_MARKER, True)
    return function


def RegisterParsers():
    """Registers the pcap parser and its plugins with plaso's parsers manager.

    Runs after plaso.parsers was imported, so the stock parsers are registered first.
    """
    # pylint: disable=import-outside-toplevel,unused-import
    from plaso_smtp import parsers  # noqa: F401


def AddParserToOperatingSystemPresets(presets_manager):
    """Adds the pcap parser to every preset that applies to an operating system.

    When log2timeline runs without --parsers it detects the operating system of the
    source and uses the presets that name that operating system.

    Args:
      presets_manager (ParserPresetsManager): parser presets manager.
    """
    for preset_name in presets_manager.GetNames():
        preset = presets_manager.GetPresetByName(preset_name)
        if preset.operating_systems and PARSER_NAME not in preset.parsers:
            preset.parsers.append(PARSER_NAME)


def ExtendPresets():
    """Makes the parser presets manager add the pcap parser after reading presets."""
    # pylint: disable=import-outside-toplevel
    from plaso.parsers import presets

    read_from_file = presets.ParserPresetsManager.ReadFromFile
    if _IsWrapped(read_from_file):
        return

    @functools.wraps(read_from_file)
    def ReadFromFile(self, path):
        read_from_file(self, path)
        AddParserToOperatingSystemPresets(self)

    presets.ParserPresetsManager.ReadFromFile = _MarkWrapped(ReadFromFile)


def ReadTimelinerDefinitions(path=None):
    """Reads our timeliner definitions with plaso's own reader.

    Args:
      path (Optional[str]): path of the timeliner configuration file, where None
          represents the one shipped with plaso_smtp.

    Returns:
      list[TimelinerDefinition]: timeliner definitions.
    """
    # pylint: disable=import-outside-toplevel
    from plaso.engine import yaml_timeliner_file

    configuration_file = yaml_timeliner_file.YAMLTimelinerConfigurationFile()
    return list(configuration_file.ReadFromFile(path or data_files.TIMELINER_PATH))


def ExtendTimeliner():
    """Makes the event data timeliner read our timeliner definitions as well.

    Event data of a data type without timeliner definition produces no events.
    """
    # pylint: disable=import-outside-toplevel
    from plaso.engine import timeliner

    read_configuration_file = timeliner.EventDataTimeliner._ReadConfigurationFile
    if _IsWrapped(read_configuration_file):
        return

    @functools.wraps(read_configuration_file)
    def _ReadConfigurationFile(self):
        read_configuration_file(self)

        # pylint: disable=protected-access
        for definition in ReadTimelinerDefinitions():
            if definition.data_type in self._attribute_mappings:
                continue

            self._attribute_mappings[definition.data_type] = (
                definition.attribute_mappings
            )
            if definition.place_holder_event:
                self._place_holder_event.add(definition.data_type)

    # pylint: disable=protected-access
    timeliner.EventDataTimeliner._ReadConfigurationFile = _MarkWrapped(
        _ReadConfigurationFile
    )


def _AddMessageFormatters(output_mediator, read_from_file):
    """Reads our message formatters unless the mediator already has them.

    Args:
      output_mediator (OutputMediator): output mediator.
      read_from_file (function): plaso's OutputMediator.ReadMessageFormattersFromFile.
    """
    if all(
        output_mediator.GetMessageFormatter(data_type) is None
        for data_type in data_files.DATA_TYPES
    ):
        read_from_file(output_mediator, data_files.FORMATTERS_PATH)


def ExtendMessageFormatters():
    """Makes the output mediator read our message formatters after plaso's.

    psort reads plaso's formatters directory (or file) and then the optional
    --custom_formatter_definitions file, which may override our definitions.
    """
    # pylint: disable=import-outside-toplevel
    from plaso.formatters import manager as formatters_manager
    from plaso.output import mediator

    from plaso_smtp import formatter_helpers

    for helper_class in formatter_helpers.HELPER_CLASSES:
        if (
            formatters_manager.FormattersManager.GetEventFormatterHelper(
                helper_class.IDENTIFIER
            )
            is None
        ):
            formatters_manager.FormattersManager.RegisterEventFormatterHelper(
                helper_class
            )

    output_mediator_class = mediator.OutputMediator
    read_from_directory = output_mediator_class.ReadMessageFormattersFromDirectory
    read_from_file = output_mediator_class.ReadMessageFormattersFromFile
    if _IsWrapped(read_from_directory):
        return

    @functools.wraps(read_from_directory)
    def ReadMessageFormattersFromDirectory(self, path):
        read_from_directory(self, path)
        _AddMessageFormatters(self, read_from_file)

    @functools.wraps(read_from_file)
    def ReadMessageFormattersFromFile(self, path, override_existing=False):
        read_from_file(self, path, override_existing=override_existing)
        if os.path.abspath(path) != data_files.FORMATTERS_PATH:
            _AddMessageFormatters(self, read_from_file)

    output_mediator_class.ReadMessageFormattersFromDirectory = _MarkWrapped(
        ReadMessageFormattersFromDirectory
    )
    output_mediator_class.ReadMessageFormattersFromFile = _MarkWrapped(
        ReadMessageFormattersFromFile
    )


def ExtendPinfo():
    """Lets pinfo list the warnings of several files (see compat.InstallPinfo)."""
    # pylint: disable=import-outside-toplevel
    from plaso_smtp import compat

    compat.InstallPinfo()
