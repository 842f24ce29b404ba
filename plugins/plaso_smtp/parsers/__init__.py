"""Imports the modules that register the pcap parser and its plugins."""

from plaso_smtp.parsers import pcap
from plaso_smtp.parsers import pcap_plugins
