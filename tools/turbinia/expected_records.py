"""Prints, as JSON, the SMTP event data smtpcore finds in the captures of test images.

Run with the Python of the worker's plaso environment (it needs plaso_smtp):

    python expected_records.py IMAGES_DIR CAPTURES_DIR IMAGE_NAME...

For each image: the captures MANIFEST.json lists inside it, found among the captures by
SHA-256 and decoded by smtpcore directly, with no plaso involved. Deleted files are
left out: plaso does not extract them. One record per event plaso's timeliner should
make: the path inside the image, the data type, the values that identify the event
data, and the timestamp description (one event per time attribute that is set, as
plaso_smtp/data/timeliner.yaml says, or a "Not a time" place holder).
"""

import gzip
import hashlib
import json
import sys
from pathlib import Path

import yaml

from smtpcore import pipeline

from plaso_smtp import data_files
from plaso_smtp.parsers.pcap_plugins import smtp

# Data type: the values compared. Kept in step with run_local_turbinia.RECORD_KEYS.
RECORD_KEYS = {
    "smtp:authentication": ("source_ip", "mechanism", "username", "password"),
    "smtp:email": ("source_ip", "sender", "subject", "message_sha256_hash"),
    "smtp:session": ("source_ip", "source_port", "destination_ip", "destination_port"),
}


PLACE_HOLDER_DESCRIPTION = "Not a time"


def _TimeAttributes():
    """Data type: (attribute name, timestamp description) of our timeliner file."""
    with open(data_files.TIMELINER_PATH, encoding="utf-8") as file_object:
        return {
            definition["data_type"]: [
                (mapping["name"], mapping["description"])
                for mapping in definition["attribute_mappings"]
            ]
            for definition in yaml.safe_load_all(file_object)
            if definition
        }


def _CapturesBySha256(directory):
    return {
        hashlib.sha256(path.read_bytes()).hexdigest(): path
        for path in sorted(Path(directory).iterdir())
        if path.is_file()
    }


def _Records(capture_path, path_inside, time_attributes):
    data = capture_path.read_bytes()
    opener = gzip.open if data[:2] == b"\x1f\x8b" else open
    with opener(capture_path, "rb") as file_object:
        items = list(pipeline.extract(file_object, source="x", warn=lambda _: None))
    records = []
    for item in items:
        event_data = smtp.CreateEventData(item)
        keys = RECORD_KEYS[event_data.data_type]
        record = [path_inside, event_data.data_type] + [
            getattr(event_data, key, None) for key in keys
        ]
        descriptions = [
            description
            for name, description in time_attributes[event_data.data_type]
            if getattr(event_data, name, None) is not None
        ] or [PLACE_HOLDER_DESCRIPTION]
        records.extend(record + [description] for description in descriptions)
    return records


def main(arguments):
    images_directory, captures_directory, *image_names = arguments
    manifest = json.loads((Path(images_directory) / "MANIFEST.json").read_text())
    captures = _CapturesBySha256(captures_directory)
    time_attributes = _TimeAttributes()
    expected = {}
    for image_name in image_names:
        records = []
        for entry in manifest["images"][image_name]:
            if entry["how"] == "deleted":
                continue
            capture_path = captures.get(entry["capture_sha256"])
            if capture_path is None:
                raise SystemExit(f"{image_name}: no capture for {entry['path']}")
            records.extend(_Records(capture_path, entry["path"], time_attributes))
        expected[image_name] = sorted(records, key=json.dumps)
    json.dump(expected, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
