"""Parser for packet capture (pcap and pcapng) files.

The parser claims captures by their signature and hands the file to its plugins, one
per application protocol (SMTP today, POP3 or IMAP could follow).
"""

import os

from plaso.lib import errors
from plaso.lib import specification
from plaso.parsers import interface
from plaso.parsers import logger
from plaso.parsers import manager

from smtpcore import capture


def IsCaptureHeader(header):
    """Determines if the first bytes of a file are those of a pcap or pcapng file.

    Args:
      header (bytes): first 24 bytes of the file, or fewer if the file is shorter.

    Returns:
      bool: True if the header is that of a pcap or pcapng file.
    """
    return capture.identify(header) in ("pcap", "pcapng")


class PcapParser(interface.FileObjectParser):
    """Parser for packet capture (pcap and pcapng) files."""

    NAME = "pcap"
    DATA_FORMAT = "Packet capture (pcap or pcapng) file"

    # What IsCaptureHeader needs: a pcapng block type and byte-order magic (12
    # bytes). A pcapng file cut inside its section header is thus claimed and its
    # damage reported; a pcap file needs its whole 24-byte header to be claimed.
    _MINIMUM_FILE_SIZE = 12

    _plugin_classes = {}

    @classmethod
    def GetFormatSpecification(cls):
        """Retrieves the format specification.

        Returns:
          FormatSpecification: format specification.
        """
        format_specification = specification.FormatSpecification(cls.NAME)
        for signature in (*capture.PCAP_MAGICS, capture.PCAPNG_MAGIC):
            format_specification.AddNewSignature(signature, offset=0)
        return format_specification

    def ParseFileObject(self, parser_mediator, file_object):
        """Parses a packet capture file-like object with every enabled plugin.

        An error in a plugin ends that plugin's work on this file with an extraction
        warning; it never reaches the extraction worker.

        Args:
          parser_mediator (ParserMediator): mediates interactions between parsers
              and other components, such as storage and dfVFS.
          file_object (dfvfs.FileIO): a file-like object.

        Raises:
          WrongParser: when the file is not a packet capture.
        """
        header = file_object.read(24)
        if not IsCaptureHeader(header):
            raise errors.WrongParser(
                f"[{self.NAME:s}] unable to parse file: not a pcap or pcapng file"
            )

        display_name = parser_mediator.GetDisplayName()

        for plugin_name, plugin in self._plugins_per_name.items():
            if parser_mediator.abort:
                break

            logger.debug(f"Parsing file: {display_name:s} with plugin: {plugin_name:s}")

            file_object.seek(0, os.SEEK_SET)
            try:
                plugin.UpdateChainAndProcess(parser_mediator, file_object=file_object)

            except Exception as exception:  # pylint: disable=broad-except
                parser_mediator.ProduceWarning(
                    f"plugin: {plugin_name:s} unable to parse capture with error: "
                    f"{exception!s}"
                )


manager.ParsersManager.RegisterParser(PcapParser)
