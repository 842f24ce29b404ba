"""Derives captures that lost bytes from the lab captures, as a capture point does.

``drop_segment`` removes one TCP segment carrying client data from a pcap, keeping
every other frame as it was recorded (timestamps, link layer, the receiver's ACKs).
"""

from __future__ import annotations

import pathlib

import dpkt


def client_data_frames(path: pathlib.Path, server_port: int = 25) -> list[int]:
    """Indexes of the frames that carry client-to-server TCP payload."""
    found = []
    with open(path, "rb") as handle:
        for index, (_, frame) in enumerate(dpkt.pcap.Reader(handle)):
            ip = dpkt.ethernet.Ethernet(frame).data
            tcp = getattr(ip, "data", None)
            if isinstance(tcp, dpkt.tcp.TCP) and tcp.dport == server_port and tcp.data:
                found.append(index)
    return found


def drop_segment(source: pathlib.Path, target: pathlib.Path, frame: int) -> bytes:
    """Writes source without one frame; returns the TCP payload that was dropped."""
    with open(source, "rb") as handle:
        reader = dpkt.pcap.Reader(handle)
        nano = reader.nano if hasattr(reader, "nano") else False
        with open(target, "wb") as out:
            writer = dpkt.pcap.Writer(
                out, snaplen=reader.snaplen, linktype=reader.datalink(), nano=nano
            )
            dropped = b""
            for index, (ts, data) in enumerate(reader):
                if index == frame:
                    dropped = dpkt.ethernet.Ethernet(data).data.data.data
                    continue
                writer.writepkt(data, ts)
    return dropped


def keep_first(source: pathlib.Path, target: pathlib.Path, frames: int) -> None:
    """Writes the first frames of source: a capture that stopped early."""
    with open(source, "rb") as handle:
        reader = dpkt.pcap.Reader(handle)
        with open(target, "wb") as out:
            writer = dpkt.pcap.Writer(
                out, snaplen=reader.snaplen, linktype=reader.datalink()
            )
            for index, (ts, data) in enumerate(reader):
                if index == frames:
                    break
                writer.writepkt(data, ts)
