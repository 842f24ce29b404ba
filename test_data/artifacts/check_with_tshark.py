#!/usr/bin/env python3
"""Confirms with tshark that every derived capture holds its artifact and its payload.

For each file in EXPECTED.json (made by derive.py) and for its source capture, tshark
dissects every segment (-T fields: addresses, ports, raw sequence numbers, payload
bytes, TCP analysis flags, VLAN tags, fragments, interfaces, lengths). From that:

* the artifact is really there (the analysis flags tshark must raise, tags on the
  right direction, fragments, truncated frames, two interfaces, time going back...);
* the TCP payload is intact: the bytes of each direction, placed by their raw sequence
  numbers, equal the source's byte for byte, every copy of a byte agrees with the
  others (tshark's keep-alive garbage bytes excepted), and none is missing (with
  snaplen: nothing differs, something is missing);
* tshark's own reassembly (-z follow,tcp,raw) of the client stream holds every
  expected message, byte-exact, where tshark's follow copes with the artifact.

The outcome goes to CHECKED.json beside EXPECTED.json (the test suite reads it and
does not need tshark). Run after derive.py:

    python test_data/artifacts/check_with_tshark.py [FOLDER]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
SOURCES = HERE.parent / "captures"
MASK = 0xFFFFFFFF

FLAGS = (
    "tcp.analysis.ack_lost_segment",
    "tcp.analysis.lost_segment",
    "tcp.analysis.out_of_order",
    "tcp.analysis.duplicate_ack",
    "tcp.analysis.retransmission",
    "tcp.analysis.spurious_retransmission",
    "tcp.analysis.keep_alive",
    "tcp.analysis.keep_alive_ack",
    "tcp.analysis.zero_window",
    "tcp.analysis.zero_window_probe",
    "tcp.analysis.zero_window_probe_ack",
    "tcp.analysis.window_update",
)
FIELDS = (
    "frame.number",
    "frame.time_epoch",
    "frame.cap_len",
    "frame.len",
    "frame.interface_id",
    "frame.protocols",
    "vlan.id",
    "ieee8021ad.id",
    "eth.trailer",
    "eth.padding",
    "ip.src",
    "ipv6.src",
    "ip.id",
    "ip.flags.mf",
    "ip.frag_offset",
    "ip.len",
    "tcp.srcport",
    "tcp.stream",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.len",
    "tcp.flags",
    "tcp.payload",
    "tcp.checksum.status",
    "ip.checksum.status",
    "_ws.malformed",
) + FLAGS

# Artifacts where tshark's follow stream itself does not cope; the payload check
# (sequence-placed bytes from tshark's per-segment dissection) still applies.
FOLLOW_UNRELIABLE = {
    "snaplen-96": "frames are cut: the stream is incomplete by design",
    "late-retransmission-after-ack": (
        "tshark's follow declares the hole at the ACK covering it ('[N bytes missing "
        "in capture file]') and leaves out the late copy"
    ),
    "ring-rotated": "tshark's follow splits the connection in two at the SYN",
}


def tshark(*args: str) -> str:
    result = subprocess.run(
        ["tshark", *args], capture_output=True, text=True, check=True
    )
    return result.stdout


def dissect(path: pathlib.Path, checksums: bool = False) -> list[dict]:
    args = ["-r", str(path), "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
    if checksums:
        args += ["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"]
    for field in FIELDS:
        args += ["-e", field]
    rows = []
    for line in tshark(*args).splitlines():
        values = line.split("\t")
        rows.append(dict(zip(FIELDS, values)))
    return rows


def sender(row: dict) -> tuple:
    return (row["ip.src"] or row["ipv6.src"], row["tcp.srcport"])


def segments(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["tcp.seq_raw"]]


def streams(rows: list[dict], isn: dict) -> tuple[dict, list]:
    """{sender: {offset: byte}} from the payloads, and the conflicting copies."""
    data: dict = {}
    conflicts = []
    for row in segments(rows):
        payload = bytes.fromhex(row["tcp.payload"].replace(":", ""))
        if not payload:
            continue
        side = sender(row)
        start = (int(row["tcp.seq_raw"]) - isn[side] - 1) & MASK
        held = data.setdefault(side, {})
        for i, byte in enumerate(payload):
            offset = (start + i) & MASK
            if offset in held and held[offset] != byte:
                if not row["tcp.analysis.keep_alive"]:
                    conflicts.append((row["frame.number"], offset))
                continue
            if row["tcp.analysis.keep_alive"] and len(payload) == 1:
                continue  # the garbage byte of a keep-alive is not stream data
            held[offset] = byte
    return data, conflicts


def first_syns(rows: list[dict]) -> dict:
    isn = {}
    for row in segments(rows):
        if int(row["tcp.flags"], 16) & 0x02:
            isn.setdefault(sender(row), int(row["tcp.seq_raw"]))
    return isn


def follow_client(path: pathlib.Path, stream: str, client: tuple) -> bytes:
    out = tshark("-r", str(path), "-q", "-z", f"follow,tcp,raw,{stream}")
    nodes = dict(re.findall(r"^Node (\d): (.*)$", out, re.M))
    client_node = None
    for node, address in nodes.items():
        host, _, port = address.rpartition(":")
        if host.strip("[]") == client[0] and port == client[1]:
            client_node = node
    data = bytearray()
    started = False
    for line in out.splitlines():
        if line.startswith("Node 1:"):
            started = True
            continue
        if not started or line.startswith("=") or not line.strip():
            continue
        from_node0 = not line.startswith("\t")
        if from_node0 == (client_node == "0"):
            data += bytes.fromhex(line.strip())
    return bytes(data)


def messages_in_stream(data: bytes) -> list[bytes]:
    """Message contents in a client stream: DATA (unstuffed) and BDAT chunks."""
    messages = []
    pos = 0
    bdat = bytearray()
    while pos < len(data):
        end = data.find(b"\r\n", pos)
        if end < 0:
            break
        line = data[pos:end]
        pos = end + 2
        verb = line.split(b" ", 1)[0].upper()
        if verb == b"DATA":
            stop = data.find(b"\r\n.\r\n", pos - 2)
            if stop < 0:
                break
            lines = data[pos : stop + 2].split(b"\r\n")
            pos = stop + 5
            messages.append(
                b"\r\n".join(x[1:] if x.startswith(b".") else x for x in lines)
            )
        elif verb == b"BDAT":
            match = re.fullmatch(rb"BDAT (\d+)( LAST)?", line, re.I)
            size = int(match.group(1))
            bdat += data[pos : pos + size]
            pos += size
            if match.group(2):
                messages.append(bytes(bdat))
                bdat.clear()
    return messages


def acks_unseen(segs: list[dict], isn: dict) -> int:
    """Segments that acknowledge sequence space of the peer not yet all in the file."""
    covered: dict = {}
    count = 0
    for r in segs:
        side, flags = sender(r), int(r["tcp.flags"], 16)
        length = int(r["tcp.len"] or 0) + bool(flags & 0x02) + bool(flags & 0x01)
        start = (int(r["tcp.seq_raw"]) - isn[side]) & MASK
        if length:
            covered[side] = merge(covered.get(side, []), (start, start + length))
        peer = next((p for p in isn if p != side), None)
        if flags & 0x10 and peer is not None:
            acked = (int(r["tcp.ack_raw"]) - isn[peer]) & MASK
            spans = covered.get(peer, [])
            if not spans or spans[0][0] > 0 or spans[0][1] < acked:
                count += 1
    return count


def merge(spans: list, new: tuple) -> list:
    out = []
    for span in sorted(spans + [new]):
        if out and span[0] <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], span[1]))
        else:
            out.append(span)
    return out


def order(rows: list[dict]) -> list[tuple]:
    return [
        (sender(r), r["tcp.seq_raw"], r["tcp.len"], r["tcp.flags"])
        for r in segments(rows)
    ]


def check(path: pathlib.Path, expected: dict) -> dict:
    (source_name,) = expected["sources"]
    source = SOURCES / source_name
    rows, base = dissect(path), dissect(source)
    spec = expected["tshark"]
    artifact = expected["artifact"]
    checks: dict = {}
    problems: list[str] = []

    def need(name: str, value: bool, detail: str = "") -> None:
        checks[name] = bool(value)
        if not value:
            problems.append(f"{name} {detail}".strip())

    need("no_malformed_frames", not any(r["_ws.malformed"] for r in rows))

    # The payload, placed by raw sequence numbers, against the source's.
    base_isn = first_syns(base)
    isn = {**base_isn, **first_syns(rows)}
    client = sender(segments(base)[0])  # the source starts with the client's SYN
    want, _ = streams(base, base_isn)
    have, conflicts = streams(rows, isn)
    need("copies_agree", not conflicts, str(conflicts[:5]))
    for side, held in want.items():
        got = have.get(side, {})
        wrong = [o for o in got if o not in held or got[o] != held[o]]
        missing = len(held) - len(set(held) & set(got))
        label = "client" if side == client else "server"
        need(f"{label}_bytes_never_differ", not wrong, str(wrong[:5]))
        if expected["truncated"]:
            need(f"{label}_bytes_missing", missing > 0)
        else:
            need(f"{label}_bytes_all_present", missing == 0, f"{missing} missing")

    # tshark's own reassembly of the client stream.
    if artifact in FOLLOW_UNRELIABLE:
        checks["follow_skipped"] = FOLLOW_UNRELIABLE[artifact]
    else:
        found = []
        for stream in sorted({r["tcp.stream"] for r in segments(rows)}, key=int):
            found += messages_in_stream(follow_client(path, stream, client))
        need(
            "follow_stream_messages",
            [hashlib.sha256(m).hexdigest() for m in found]
            == [m["sha256"] for m in expected["messages"]],
        )

    # The artifact itself.
    for flag in spec.get("flags", []):
        need(flag, any(r[flag] for r in rows))
    segs = segments(rows)
    if spec.get("reordered"):
        need("reordered", order(rows) != order(base))
        need("same_segments", sorted(order(rows)) == sorted(order(base)))
    if spec.get("direction_order_changed"):
        need(
            "direction_order_changed",
            any(
                [o for o in order(rows) if o[0] == side]
                != [o for o in order(base) if o[0] == side]
                for side in want
            ),
        )
    if spec.get("acks_unseen_data"):
        need("acks_unseen_data", acks_unseen(segs, isn) > 0)
        checks["acks_unseen_data"] = acks_unseen(segs, isn)
    if spec.get("direction_order_kept"):
        for side in want:
            need(
                "direction_order_kept",
                [o for o in order(rows) if o[0] == side]
                == [o for o in order(base) if o[0] == side],
            )
    if spec.get("vlan"):
        tagged = {sender(r) for r in segs if r["vlan.id"]}
        untagged = {sender(r) for r in segs if not r["vlan.id"]}
        if artifact.startswith("span"):
            count = sum(1 for r in rows if r["vlan.id"])
            need("half_the_frames_tagged", count * 2 == len(rows))
        elif artifact.startswith("vlan"):
            need(
                "tags_on_client_side_only",
                tagged == {client} and client not in untagged,
            )
        if spec.get("qinq"):
            need(
                "two_tags_on_server_side_only",
                all(
                    r["ieee8021ad.id"] and r["vlan.id"]
                    for r in segs
                    if sender(r) != client
                )
                and not any(
                    r["vlan.id"] or r["ieee8021ad.id"]
                    for r in segs
                    if sender(r) == client
                ),
            )
    if spec.get("two_interfaces"):
        by_side = {}
        for r in segs:
            by_side.setdefault(sender(r), set()).add(
                (r["frame.interface_id"], r["frame.protocols"].split(":")[0])
            )
        need(
            "one_interface_per_direction",
            all(len(v) == 1 for v in by_side.values())
            and len({next(iter(v))[0] for v in by_side.values()}) == 2,
            str(by_side),
        )
        checks["link_layers"] = sorted({next(iter(v))[1] for v in by_side.values()})
    if spec.get("no_syn"):
        need("no_syn", not any(int(r["tcp.flags"], 16) & 0x02 for r in segs))
    if spec.get("larger_than_mss"):
        need("super_segment", any(int(r["tcp.len"] or 0) > 1460 for r in segs))
    if spec.get("ip_len_zero"):
        text = tshark("-r", str(path), "-V")
        need("ip_total_length_zero", "reported as 0" in text)
    if expected["truncated"]:
        need(
            "frames_cut",
            all(int(r["frame.cap_len"]) <= 96 for r in rows)
            and any(int(r["frame.len"]) > int(r["frame.cap_len"]) for r in rows),
        )
    if spec.get("overlaps"):
        spans = []
        straddles = 0
        for r in segs:
            length = int(r["tcp.len"] or 0)
            if not length:
                continue
            start = int(r["tcp.seq_raw"])
            end = start + length
            covered = [
                s for s in spans if s[0] == sender(r) and s[1] < end and s[2] > start
            ]
            if len(covered) >= 2 and any(s[1] < start for s in covered):
                straddles += 1
            spans.append((sender(r), start, end))
        need("straddling_resends", straddles > 0)
        checks["straddling_resends"] = straddles
    times = [float(r["frame.time_epoch"]) for r in rows]
    steps = [b - a for a, b in zip(times, times[1:])]
    if spec.get("time_goes_back"):
        need("time_goes_back", any(s < 0 for s in steps))
    else:  # the capture point writes increasing times unless that is the artifact
        need("time_never_goes_back", all(s >= 0 for s in steps))
    if spec.get("time_jumps"):
        need("time_jumps_forward", any(s > 1000 for s in steps))
    if spec.get("fragments"):
        fragments = [
            r
            for r in rows
            if r["ip.flags.mf"] == "1" or r["ip.frag_offset"] not in ("", "0")
        ]
        need("fragments", len(fragments) > 0)
        checks["fragment_frames"] = len(fragments)
        if artifact.endswith("reversed"):
            need(
                "last_fragment_first",
                any(
                    r["ip.frag_offset"] not in ("", "0")
                    and r["ip.flags.mf"] == "0"
                    and rows[i + 1]["ip.id"] == r["ip.id"]
                    for i, r in enumerate(rows[:-1])
                ),
            )
    if spec.get("seq_wrap"):
        for side in want:
            need(
                "sequence_wraps",
                any(
                    int(r["tcp.seq_raw"]) + int(r["tcp.len"] or 0) > MASK + 1
                    for r in segs
                    if sender(r) == side
                ),
            )
    if spec.get("bad_checksums"):
        checked = dissect(path, checksums=True)
        need(
            "tcp_checksums_bad",
            all(r["tcp.checksum.status"] == "0" for r in segments(checked)),
        )
        if any(r["ip.src"] for r in checked):
            need(
                "ip_checksums_bad", any(r["ip.checksum.status"] == "0" for r in checked)
            )
    if spec.get("trailers"):
        need("trailers", all(r["eth.trailer"] or r["eth.padding"] for r in rows))
    if spec.get("late_syn"):
        syns = [i for i, r in enumerate(segs) if int(r["tcp.flags"], 16) == 0x02]
        first_data = next(i for i, r in enumerate(segs) if int(r["tcp.len"] or 0))
        need("syn_after_data", any(i > first_data for i in syns))
    return {"ok": not problems, "problems": problems, "checks": checks}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default=str(HERE))
    parser.add_argument(
        "--only", action="append", help="check this artifact again (kept: the rest)"
    )
    args = parser.parse_args(argv)
    folder = pathlib.Path(args.folder)
    expected = json.loads((folder / "EXPECTED.json").read_text(encoding="utf-8"))
    version = tshark("--version").splitlines()[0]
    results = {}
    if args.only:
        earlier = json.loads((folder / "CHECKED.json").read_text(encoding="utf-8"))
        results = {
            name: outcome
            for name, outcome in earlier["files"].items()
            if name in expected["files"]
            and expected["files"][name]["artifact"] not in args.only
        }
    for name, entry in sorted(expected["files"].items()):
        if name in results:
            continue
        outcome = check(folder / name, entry)
        outcome["sha256"] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        results[name] = outcome
        status = "ok" if outcome["ok"] else "FAILED: " + "; ".join(outcome["problems"])
        print(f"{name}: {status}", file=sys.stderr)
    document = {
        "about": "Outcome of check_with_tshark.py over the captures of EXPECTED.json.",
        "tshark": version,
        "files": dict(sorted(results.items())),
    }
    (folder / "CHECKED.json").write_text(
        json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    failed = [n for n, r in results.items() if not r["ok"]]
    print(
        f"{len(results) - len(failed)} of {len(results)} captures confirmed",
        file=sys.stderr,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
