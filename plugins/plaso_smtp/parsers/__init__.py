"""Imports the modules that register the pcap parser and its plugins."""

from plaso_smtp import compat

# Before the parser modules: they call methods that older plaso releases lack.
compat.Install()

# pylint: disable=wrong-import-position
from plaso_smtp.parsers import pcap  # noqa: E402
from plaso_smtp.parsers import pcap_plugins  # noqa: E402
