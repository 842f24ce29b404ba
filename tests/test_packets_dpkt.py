"""Our packet decoder against dpkt's independent decoding, frame by frame.

Every committed capture (the lab captures, the derived artifact captures and the
external corpus in ../shared when it is there) is read twice: by smtpcore's capture
reader and PacketDecoder, and by dpkt (its pcap reader and pcapng block classes, its
link-layer, IP and TCP classes; IPv4 fragments joined here from dpkt's fragments).
Both must find the same frames and, in each, the same TCP segment: addresses, ports,
sequence and acknowledgement numbers, flags and payload bytes.
"""

import gzip
import io
import pathlib
import struct

import dpkt
import pytest

from smtpcore.capture import CaptureReader
from smtpcore.packets import PacketDecoder

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORPORA = [
    ROOT / "test_data" / "captures",
    ROOT / "test_data" / "artifacts",
]
# ../shared beside the main checkout, or beside the folder of worktrees.
EXTERNAL = next(
    (
        base / "shared" / "corpus" / "external"
        for base in (ROOT.parent, ROOT.parent.parent)
        if (base / "shared" / "corpus" / "external").is_dir()
    ),
    None,
)
SUFFIXES = (".pcap", ".pcapng", ".cap", ".gz")


def captures():
    found = []
    for folder in CORPORA + ([EXTERNAL] if EXTERNAL else []):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name.endswith(SUFFIXES):
                found.append(
                    pytest.param(
                        path, id=f"{folder.name}/{path.relative_to(folder).as_posix()}"
                    )
                )
    return found


def dpkt_frames(raw: bytes):
    """(link type, bytes) of every frame, read with dpkt."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[:4] != b"\x0a\x0d\x0d\x0a":
        reader = dpkt.pcap.Reader(io.BytesIO(raw))
        linktype = reader.datalink()
        return [(linktype, data) for _, data in reader]
    frames, linktypes = [], []
    pos = 0
    little = True
    while pos < len(raw):
        kind = struct.unpack_from("<I", raw, pos)[0]
        if kind == 0x0A0D0D0A:  # section header: byte order from its magic
            little = raw[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a"
            linktypes = []
        order = "<" if little else ">"
        kind, length = struct.unpack_from(order + "II", raw, pos)
        block = raw[pos : pos + length]
        pos += length
        pcapng = dpkt.pcapng
        if kind == 1:
            idb = (
                pcapng.InterfaceDescriptionBlockLE
                if little
                else pcapng.InterfaceDescriptionBlock
            )(block)
            linktypes.append(idb.linktype)
        elif kind == 6:
            epb = (
                pcapng.EnhancedPacketBlockLE if little else pcapng.EnhancedPacketBlock
            )(block)
            frames.append((linktypes[epb.iface_id], epb.pkt_data))
        elif kind in (2, 3):
            raise AssertionError("packet block kinds this test does not read")
    return frames


def _network_layer(linktype: int, data: bytes):
    if linktype == 1:
        return dpkt.ethernet.Ethernet(data).data
    if linktype == 113:
        return dpkt.sll.SLL(data).data
    if linktype == 276:
        return dpkt.sll2.SLL2(data).data
    if linktype in (12, 14, 101):
        return (dpkt.ip6.IP6 if data[0] >> 4 == 6 else dpkt.ip.IP)(data)
    if linktype in (0, 108):
        return dpkt.loopback.Loopback(data).data
    raise AssertionError(f"link type {linktype} not handled by this test")


class DpktDecoder:
    """TCP segments from frames with dpkt; IPv4 fragments joined in arrival order."""

    def __init__(self):
        self.pending = {}

    def decode(self, linktype: int, data: bytes):
        ip = _network_layer(linktype, data)
        if isinstance(ip, dpkt.ip6.IP6):
            if 44 in ip.extension_hdrs:
                raise AssertionError("IPv6 fragments not handled by this test")
            tcp = ip.data
        elif isinstance(ip, dpkt.ip.IP):
            if ip.p != 6:
                return None
            if ip.mf or ip.offset:
                tcp = self._fragment(ip)
                if tcp is None:
                    return None
            else:
                tcp = ip.data
        else:
            return None
        if not isinstance(tcp, dpkt.tcp.TCP):
            return None
        return (
            ip.src,
            ip.dst,
            tcp.sport,
            tcp.dport,
            tcp.seq,
            tcp.ack,
            tcp.flags,
            bytes(tcp.data),
        )

    def _fragment(self, ip):
        key = (ip.src, ip.dst, ip.id)
        pieces = self.pending.setdefault(key, {"pieces": [], "total": None})
        payload = ip.data if isinstance(ip.data, bytes) else bytes(ip.data)
        offset = ip.offset * 8  # dpkt gives the field, in units of 8 bytes
        pieces["pieces"].append((offset, payload))
        if not ip.mf:
            pieces["total"] = offset + len(payload)
        total = pieces["total"]
        if total is None:
            return None
        buffer = bytearray(total)
        covered = bytearray(total)
        for offset, piece in pieces["pieces"]:
            for i, byte in enumerate(piece[: total - offset]):
                if not covered[offset + i]:
                    buffer[offset + i] = byte
                    covered[offset + i] = 1
        if not all(covered):
            return None
        del self.pending[key]
        return dpkt.tcp.TCP(bytes(buffer))


def ours(raw: bytes):
    warnings = []
    decoder = PacketDecoder(warnings.append)
    result = []
    for frame in CaptureReader(io.BytesIO(raw), warnings.append):
        segment = decoder.decode(frame)
        if segment is not None:
            segment = (
                segment.src,
                segment.dst,
                segment.sport,
                segment.dport,
                segment.seq,
                segment.ack,
                segment.flags,
                bytes(segment.payload),
            )
        result.append((frame.linktype, bytes(frame.data), segment))
    return result


@pytest.mark.parametrize("path", captures())
def test_decoder_agrees_with_dpkt(path):
    raw = path.read_bytes()
    mine = ours(raw)
    theirs = dpkt_frames(raw)
    assert [(linktype, data) for linktype, data, _ in mine] == theirs
    decoder = DpktDecoder()
    segments = 0
    for number, ((linktype, data, segment), _) in enumerate(zip(mine, theirs), 1):
        assert segment == decoder.decode(linktype, data), f"frame {number}"
        segments += segment is not None
    assert segments > 0
    assert decoder.pending == {}
