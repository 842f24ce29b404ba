"""Where the timeliner and formatter definitions shipped with plaso_smtp live."""

import os

DATA_DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

# Our additions to plaso's data/timeliner.yaml and data/formatters/*.yaml.
TIMELINER_PATH = os.path.join(DATA_DIRECTORY, "timeliner.yaml")
FORMATTERS_PATH = os.path.join(DATA_DIRECTORY, "formatters.yaml")

# The event data types the pcap parser produces; every one needs a timeliner and a
# formatter definition.
DATA_TYPES = (
    "mailbox:authentication",
    "mailbox:email",
    "mailbox:session",
    "smtp:authentication",
    "smtp:email",
    "smtp:session",
)
