"""Writes seed corpora for every fuzz target into a folder: `make_seeds.py OUT`.

Seeds come from the committed test captures and messages (test_data/captures,
artifacts, quirks, tls, lab/foxmail.eml), turned into each target's record format
(_common.encode), so fuzzing starts from real sessions. OUT/<target>/ is created;
nothing under test_data is written.
"""

import collections
import glob
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

import _common
from smtpcore.capture import CaptureReader
from smtpcore.model import Message
from smtpcore.packets import PacketDecoder
from smtpcore.pipeline import extract
from smtpcore.reassembly import Data, Gap, Reassembler

from fuzz_evidence import FOLDER, NAMES, SPARSE
from fuzz_packets import LINKTYPES

LIMIT = 64 * 1024  # bytes per seed: small seeds keep executions fast
SOURCES = ("captures/**/*.pcap*", "artifacts/**/*.pcap*", "quirks/*.pcap*", "tls/*.pcap*")
MESSAGES = ("lab/foxmail.eml", "pivot/bec.eml")
SERVER_PORTS = {25, 465, 587, 2525, 110, 995, 143, 993, 1143, 2110, 24}

AUTH_SEEDS = [
    (0, [(0, b"PLAIN"), (0, b"AGFsaWNlAHNlY3JldA==")]),
    (1, [(1, b"LOGIN"), (1, b""), (0, b"VXNlcm5hbWU6"), (1, b"YWxpY2U="),
         (0, b"UGFzc3dvcmQ6"), (1, b"c2VjcmV0")]),
    (2, [(2, b"CRAM-MD5"), (1, b""), (0, b"PDEyMzQ1QGV4YW1wbGUub3JnPg=="),
         (1, b"YWxpY2UgYjkxM2E2MDJjN2VkYTdhNDk1YjRlNmU3MzM0ZDM4OTA=")]),
    (3, [(3, b"DIGEST-MD5"), (1, b""),
         (0, b"cmVhbG09ImV4YW1wbGUub3JnIixub25jZT0iT0E2TUc5dEVRR20yaGgiLHFvcD0iYXV0aCIsYWxnb3JpdGhtPW1kNS1zZXNz"),
         (1, b"dXNlcm5hbWU9ImFsaWNlIixyZWFsbT0iZXhhbXBsZS5vcmciLG5vbmNlPSJPQTZNRzl0RVFHbTJoaCIsY25vbmNlPSJPQTZNSFhoNlZxVHJSayIsbmM9MDAwMDAwMDEscW9wPWF1dGgsZGlnZXN0LXVyaT0ic210cC9leGFtcGxlLm9yZyIscmVzcG9uc2U9ZDM4OGRhZDkwZDRiYmQ3NjBhMTUyMzIxZjIxNDNhZjc=")]),
    (4, [(4, b"NTLM"), (0, b"TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==")]),
    (5, [(5, b"XOAUTH2"), (0, b"dXNlcj1hbGljZUBleGFtcGxlLm9yZwFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2c9PQEB")]),
    (7, [(7, b"SCRAM-SHA-1"), (0, b"biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM"),
         (0, b"cj1meWtvK2QybGJiRmdPTlJ2OXFreGRhd0wzcmZjTkhZSlkxWlZ2V1ZzN2oscz1RU1hDUitRNnNlazhiZjkyLGk9NDA5Ng=="),
         (1, b"Yz1iaXdzLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdMM3JmY05IWUpZMVpWdldWczdqLHA9djBYOHYzQnoyVDBDSkdiSlF5RjBYK0hJNFRzPQ==")]),
    (9, [(9, b"ANONYMOUS"), (0, b"dHJhY2U=")]),
]
NAME_SEEDS = [
    "../../etc/passwd", "C:\\Windows\\system32\\cmd.exe", "\\\\?\\C:\\x", "CON.txt",
    "report\u202egpj.exe", "a\x00b.txt", "  ..  ", "LPT1", "\udcff\udcfe.pdf",
    "x" * 300 + ".docx", "résumé .pdf", "nul.tar.gz", "/abs/path", "COM¹.txt",
]


def frames(path):
    with open(path, "rb") as handle:
        yield from CaptureReader(handle, lambda message: None)


def connections(path):
    """{connection id: [(direction, Data or Gap)...]} of one capture."""
    decoder = PacketDecoder(lambda message: None)
    reassembler = Reassembler(lambda message: None)
    streams = collections.defaultdict(list)
    events = []
    for frame in frames(path):
        segment = decoder.decode(frame)
        if segment is not None:
            events += reassembler.feed(segment)
    events += reassembler.finish()
    for event in events:
        if type(event) in (Data, Gap):
            streams[event.conn.id].append(event)
    return streams


def limited(items):
    out, size = [], 0
    for op, piece in items:
        size += 3 + len(piece)
        if size > LIMIT:
            break
        out.append((op, piece))
    return _common.encode(out)


def frame_seed(path):
    items = []
    for frame in frames(path):
        if frame.linktype in LINKTYPES:
            items.append((LINKTYPES.index(frame.linktype) | 0x10, frame.data))
    return limited(items)


def fastpath_seed(path, flag, pcapng=False):
    """fuzz_fastpath's layout: a header record, then one record per frame (op bit 6,
    its flow rejected, on every frame when flag, else on none)."""
    items = []
    for frame in frames(path):
        if frame.linktype in LINKTYPES:
            if not items:
                first = LINKTYPES.index(frame.linktype) << 2 | (0x80 if pcapng else 0)
                items.append((first, b"\x03"))  # pcapng: if_tsresol 6, µs
            op = 0x40 if flag else 0
            if frame.orig_len > len(frame.data):
                op |= 0x80
            items.append((op, frame.data))
    return limited(items)


def handshake_seeds():
    """fuzz_handshakes' layout: web connections on its eight flows, opened, their
    first bytes (TLS, an HTTP request) sent and answered, some reset."""
    for variant in range(4):
        items = []
        for flow in range(8):
            client, server = 2 * flow, 2 * flow + 1
            isn, peer = (flow * 37 + variant) & 0xFF, (flow * 91) & 0xFF
            step = 1 if variant != 2 else 2  # 1.5 s: sweeps between the flows
            items.append((client, bytes((0x02, isn, 0, 0))))
            if variant == 3 and flow % 2:
                items.append((client, bytes((0x02, isn, 0, 0))))  # retransmitted
            items.append((server, bytes((0x12, peer, isn + 1 & 0xFF, 0))))
            items.append((client, bytes((0x10, isn + 1 & 0xFF, peer + 1 & 0xFF, 0))))
            kind = (flow + variant) % 4 << 2
            control = kind | (step if flow == 4 else 0)
            items.append(
                (client, bytes((0x18, isn + 1 & 0xFF, peer + 1 & 0xFF, control)) + b"x" * 8)
            )
            if flow % 3 == 0:
                items.append((server, bytes((0x14, peer + 1 & 0xFF, 0, 0))))
        yield _common.encode([(0x80 if variant == 1 else 0, items[0][1])] + items[1:])


def segment_seed(path):
    decoder = PacketDecoder(lambda message: None)
    items = []
    for frame in frames(path):
        segment = decoder.decode(frame)
        if segment is None:
            continue
        direction = 0 if segment.dport in SERVER_PORTS else 1
        head = bytes((segment.flags,)) + segment.seq.to_bytes(4, "big")
        head += segment.ack.to_bytes(4, "big")
        items.append((direction, head + segment.payload))
    return limited(items)


def stream_seed(events, start=None):
    items = []
    for event in events:
        skip = start[event.direction] if start else 0
        if type(event) is Data:
            data = event.data
            if event.offset + len(data) <= skip:
                continue
            data = data[max(0, skip - event.offset):]
            for at in range(0, len(data), 0xFFFF):
                items.append((event.direction, data[at:at + 0xFFFF]))
        elif not start or event.offset >= skip:
            items.append((event.direction | 2, b"\0" * min(event.length, 0xFFFF)))
    return limited(items)


def tls_start(events):
    """Where each direction's TLS records start, or None when one has none."""
    streams = [b"", b""]
    for event in events:
        if type(event) is Data and event.offset == len(streams[event.direction]):
            streams[event.direction] += event.data
    starts = [stream.find(b"\x16\x03") for stream in streams]
    return starts if min(starts) >= 0 else None


EVIDENCE_LIMIT = 256 * 1024  # fuzz_evidence's -max_len (run.py)
IMAGES = {  # file in test_data/images: the name fuzz_evidence gives it
    "case.tar": "evidence.bin", "case.tgz": "case.tgz", "case.zip": "case.zip",
    "streamed.zip": "evidence.bin", "gpt-fat.qcow2": "disk.qcow2",
    "fat-mbr.E01": "disk.E01", "ntfs.vmdk": "disk.vmdk",
}


def sparse_seed(name, media):
    """fuzz_evidence's sparse layout of a raw medium: its non-zero sectors, runs of
    one byte value as fills."""
    items = [(0, len(media).to_bytes(4, "big"))]  # an empty piece sets the size
    size = 1 + 7
    at = 0
    while at < len(media) and size < EVIDENCE_LIMIT:
        sector = media[at:at + 512]
        if not sector.strip(b"\0"):
            at += 512
            continue
        end = at + 512
        if len(set(sector)) == 1:
            while media[end:end + 512] == sector:
                end += 512
            item = (1, at.to_bytes(4, "big") + (end - at).to_bytes(4, "big") + sector[:1])
        else:
            while end < len(media) and len(set(media[end:end + 512])) > 1 and end - at < 0xFE00:
                end += 512
            item = (0, at.to_bytes(4, "big") + media[at:end])
        size += 3 + len(item[1])
        if size <= EVIDENCE_LIMIT:
            items.append(item)
        at = end
    return bytes((NAMES.index(name) | SPARSE,)) + _common.encode(items)


def raw_media(path):
    """The raw medium inside an image (qemu-img for VMDK and QCOW2, pyewf for EWF)."""
    if path.endswith(".E01"):
        import pyewf

        handle = pyewf.handle()
        handle.open([path])
        try:
            return handle.read(handle.get_media_size())
        finally:
            handle.close()
    if shutil.which("qemu-img") is None:
        return None
    with tempfile.TemporaryDirectory(dir="/dev/shm") as folder:
        raw = os.path.join(folder, "media.raw")
        subprocess.check_call(["qemu-img", "convert", "-O", "raw", path, raw])
        with open(raw, "rb") as handle:
            return handle.read()


def evidence_seeds(root, capture):
    """Images and archives of test_data/images, as files and as raw media, and small
    gzip, zip and tar files around one capture."""
    images = os.path.join(root, "images")
    for name, as_name in IMAGES.items():
        with open(os.path.join(images, name), "rb") as handle:
            data = handle.read()
        if len(data) < EVIDENCE_LIMIT:
            yield bytes((NAMES.index(as_name),)) + data
            yield bytes((NAMES.index(as_name) | FOLDER,)) + data
        if name.endswith((".E01", ".vmdk", ".qcow2")):
            media = raw_media(os.path.join(images, name))
            if media is not None:
                yield sparse_seed("disk.raw", media)
    with open(os.path.join(images, "ext4.raw"), "rb") as handle:
        yield sparse_seed("disk.raw", handle.read())
    yield bytes((NAMES.index("evidence.bin"),)) + capture
    yield bytes((NAMES.index("evidence.bin"),)) + gzip.compress(capture, mtime=0)
    for kind in ("w", "w:gz"):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode=kind) as tar:
            info = tarfile.TarInfo("pcaps/smtp.pcap")
            info.size = len(capture)
            tar.addfile(info, io.BytesIO(capture))
        yield bytes((NAMES.index("case.tgz"),)) + buffer.getvalue()
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", method) as archive:
            archive.writestr(zipfile.ZipInfo("smtp.pcap", (2023, 11, 14, 0, 0, 0)), capture)
        yield bytes((NAMES.index("case.zip"),)) + buffer.getvalue()


def main(out):
    seeds = collections.defaultdict(dict)

    def add(target, data):
        if data:
            seeds[target][hashlib.sha1(data).hexdigest()] = data

    root = os.path.join(_common.ROOT, "test_data")
    paths = sorted(
        {p for pattern in SOURCES for p in glob.glob(os.path.join(root, pattern), recursive=True)}
    )
    for path in paths:
        with open(path, "rb") as handle:
            raw = handle.read()
        add("capture", raw[:LIMIT])
        add("capture", gzip.compress(raw[:16384], mtime=0))
        add("packets", frame_seed(path))
        add("pipeline", frame_seed(path))
        add("flowskip", frame_seed(path))
        add("fastpath", fastpath_seed(path, False))
        add("fastpath", fastpath_seed(path, True))
        add("fastpath", fastpath_seed(path, True, pcapng=True))
        add("reassembly", segment_seed(path))
        name = os.path.basename(path)
        protocol = "pop3" if "pop3" in name else "imap" if "imap" in name else "smtp"
        for events in connections(path).values():
            add(protocol, stream_seed(events))
            start = tls_start(events)
            if start is not None:
                add("tls", stream_seed(events, start))
        with open(path, "rb") as handle:
            for item in extract(handle, source=path, warn=lambda m: None, mime=False):
                if type(item) is Message and item.content is not None:
                    add("mime", b"".join(item.content.chunks())[:LIMIT])
    for message in MESSAGES:
        with open(os.path.join(root, message), "rb") as handle:
            add("mime", handle.read()[:LIMIT])
    for data in list(seeds["mime"].values()):
        add("mime", b"\x01" + data)  # decoded by both MIME engines, which must agree
    smallest = min(
        (p for p in paths if "captures" in p and p.endswith(".pcap")), key=os.path.getsize
    )
    with open(smallest, "rb") as handle:
        for data in evidence_seeds(root, handle.read()):
            add("evidence", data)
    for data in handshake_seeds():
        add("handshakes", data)
    for op, items in AUTH_SEEDS:
        add("auth", _common.encode([(op, items[0][1])] + items[1:]))
    for number, name in enumerate(NAME_SEEDS):
        add("safenames", bytes((200 - number,)) + name.encode("utf-8", "surrogateescape"))
    for target, found in sorted(seeds.items()):
        folder = os.path.join(out, target)
        os.makedirs(folder, exist_ok=True)
        for digest, data in found.items():
            with open(os.path.join(folder, digest), "wb") as handle:
                handle.write(data)
        print(f"{target}: {len(found)} seeds")


if __name__ == "__main__":
    main(sys.argv[1])
