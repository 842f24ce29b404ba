"""Imports the modules that register the pcap parser plugins."""

from plaso_smtp.parsers.pcap_plugins import smtp
