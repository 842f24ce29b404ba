"""Early rejection of frames of connections already found not to be mail.

On mostly-web evidence nearly every frame belongs to a connection the classifier
has already rejected, and decoding it into a segment only for the reassembler to
ignore it is most of the work. This test looks at fixed header offsets of the
common encapsulations and answers "skip" only when the decoder and the
reassembler would certainly have done nothing but ignore the frame: a complete,
well-formed, unfragmented TCP segment without SYN of a rejected connection.
Anything else (other link types, fragments, IPv6 extension headers, odd header
lengths, snapshot cuts) takes the full path, so skipping never changes output.

``smtpcore._flowskip`` is the same function compiled with Cython; this module is
its reference and the fallback (``SMTPCORE_PURE=1`` selects it).
"""

from __future__ import annotations

import importlib
import os
import struct
from typing import Callable, Optional

_ETHERNET, _RAW, _RAW_IPV4, _LINUX_SLL, _LINUX_SLL2 = 1, 101, 228, 113, 276
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_SYN = 0x02


_PORTS = struct.Struct(">HH").pack


def flow_key(src: bytes, sport: int, dst: bytes, dport: int) -> bytes:
    """The key of one direction of a connection, as ``is_skippable`` computes it."""
    return src + dst + _PORTS(sport, dport)


def is_skippable(
    data: bytes, orig_len: int, linktype: int, ts_ns: int, rejected: dict
) -> bool:
    """True when the frame is a plain segment of a rejected connection.

    ``rejected`` maps flow keys to the reassembler's record of the connection,
    whose ``last_ns`` is kept up to date as if the frame had been fed.
    """
    caplen = len(data)
    if caplen != orig_len or not -(1 << 62) < ts_ns < (1 << 62):
        return False  # a timestamp beyond 64 bits: the compiled twin's limit
    if linktype == _ETHERNET:
        if caplen < 14:
            return False
        ethertype = (data[12] << 8) | data[13]
        off = 14
        while ethertype in _VLAN_TAGS:
            if caplen < off + 4:
                return False
            ethertype = (data[off + 2] << 8) | data[off + 3]
            off += 4
    elif linktype == _LINUX_SLL:
        if caplen < 16:
            return False
        ethertype = (data[14] << 8) | data[15]
        off = 16
    elif linktype == _LINUX_SLL2:
        if caplen < 20:
            return False
        ethertype = (data[0] << 8) | data[1]
        off = 20
    elif linktype in (_RAW, _RAW_IPV4):
        if caplen < 1:
            return False
        ethertype = 0x0800 if data[0] >> 4 == 4 else 0x86DD
        off = 0
    else:
        return False
    if ethertype == 0x0800:
        if caplen < off + 20:
            return False
        version_ihl = data[off]
        header = (version_ihl & 15) * 4
        total = (data[off + 2] << 8) | data[off + 3]
        if (
            version_ihl >> 4 != 4
            or header < 20
            or data[off + 9] != 6
            or (data[off + 6] & 0x3F) | data[off + 7]  # a fragment
            or total < header + 20
            or off + total > caplen
        ):
            return False
        tcp = off + header
        end = off + total
        key = data[off + 12 : off + 20] + data[tcp : tcp + 4]
    elif ethertype == 0x86DD:
        if caplen < off + 60:
            return False
        length = (data[off + 4] << 8) | data[off + 5]
        if data[off] >> 4 != 6 or data[off + 6] != 6 or length < 20:
            return False
        tcp = off + 40
        end = tcp + length
        if end > caplen:
            return False
        key = data[off + 8 : off + 40] + data[tcp : tcp + 4]
    else:
        return False
    if tcp + (data[tcp + 12] >> 4) * 4 > end or data[tcp + 12] >> 4 < 5:
        return False
    if data[tcp + 13] & _SYN:
        return False
    known = rejected.get(key)
    if known is None:
        return False
    if ts_ns > known.last_ns:
        known.last_ns = ts_ns
    return True


def skip_pcap_records(
    buf: bytes,
    pos: int,
    big_endian: bool,
    frac_ns: int,
    linktype: int,
    max_packet: int,
    rejected: dict,
    record_size: int = 16,
) -> tuple[int, int, int]:
    """Steps over consecutive pcap records whose frames are skippable.

    Stops at the first record that is not, or that is incomplete in ``buf`` or
    implausible (the reader's own loop deals with those). Returns the position
    reached, the number of records skipped and the seconds field of the last.
    """
    order = "big" if big_endian else "little"
    end = len(buf)
    skipped = 0
    last_sec = -1
    while end - pos >= record_size:
        sec = int.from_bytes(buf[pos : pos + 4], order)
        frac = int.from_bytes(buf[pos + 4 : pos + 8], order)
        incl = int.from_bytes(buf[pos + 8 : pos + 12], order)
        orig = int.from_bytes(buf[pos + 12 : pos + 16], order)
        stop = pos + record_size + incl
        if incl > max_packet or incl == 0 or stop > end:
            break
        ts_ns = sec * 1_000_000_000 + frac * frac_ns
        data = buf[pos + record_size : stop]
        if not is_skippable(data, orig, linktype, ts_ns, rejected):
            break
        pos = stop
        skipped += 1
        last_sec = sec
    return pos, skipped, last_sec


def compiled(module: str):
    """The compiled module ``smtpcore.<module>``; None when not built or SMTPCORE_PURE=1."""
    if os.environ.get("SMTPCORE_PURE", "") not in ("", "0"):
        return None
    try:
        return importlib.import_module(f"smtpcore.{module}")
    except ImportError:
        return None


def _select(name: str):
    module = compiled("_flowskip")
    return globals()[name] if module is None else getattr(module, name)


skippable: Callable[[bytes, int, int, int, dict], bool] = _select("is_skippable")
"""The implementation in use: compiled when built, unless SMTPCORE_PURE=1."""
skip_records: Callable[..., tuple[int, int, int]] = _select("skip_pcap_records")
COMPILED: bool = skippable is not is_skippable
