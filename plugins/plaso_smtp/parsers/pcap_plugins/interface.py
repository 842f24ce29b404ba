"""Interface for packet capture parser plugins."""

import abc

from plaso.parsers import plugins


class PcapPlugin(plugins.BasePlugin):
    """Packet capture parser plugin: one application protocol."""

    NAME = "pcap_plugin"
    DATA_FORMAT = "Packet capture (pcap or pcapng) file"

    @abc.abstractmethod
    def ParseCapture(self, parser_mediator, file_object):
        """Produces event data for the protocol's traffic in a capture.

        Args:
          parser_mediator (ParserMediator): mediates interactions between parsers
              and other components, such as storage and dfVFS.
          file_object (dfvfs.FileIO): the capture, positioned at its start.
        """

    # pylint: disable=arguments-differ
    def Process(self, parser_mediator, file_object=None, **kwargs):
        """Parses a capture; an error ends the work on it with an extraction warning.

        Catching here, not only in the parser, keeps the plugin in the warning's
        parser chain.

        Args:
          parser_mediator (ParserMediator): mediates interactions between parsers
              and other components, such as storage and dfVFS.
          file_object (Optional[dfvfs.FileIO]): the capture.

        Raises:
          ValueError: when there are unused keyword arguments.
        """
        # This will raise if unhandled keyword arguments are passed.
        super().Process(parser_mediator, **kwargs)

        try:
            self.ParseCapture(parser_mediator, file_object)

        except Exception as exception:  # pylint: disable=broad-except
            parser_mediator.ProduceWarning(
                f"unable to parse capture with error: {type(exception).__name__:s}: "
                f"{exception!s}"
            )
