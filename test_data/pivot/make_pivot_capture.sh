#!/bin/bash
# Capture of a business-email-compromise style message with the headers examiners
# pivot on (Received chain, Reply-To unlike From, Sender, Return-Path, In-Reply-To,
# References, X-Mailer, X-Originating-IP, encoded words), sent by swaks after AUTH
# LOGIN to the lab's aiosmtpd server, in two network namespaces joined by a veth
# pair, captured by tcpdump on the client side. The message is bec.eml, sent as it is
# (CRLF line ends), so its SHA-256 is the ground truth for the .eml smtpcore writes.
#
# Run as root on Debian 12 after:
#   apt-get install swaks tcpdump iproute2 ethtool python3-aiosmtpd
#
# Usage: test_data/pivot/make_pivot_capture.sh [OUTPUT_DIR]   (default test_data/pivot;
# writes OUTPUT_DIR/bec.pcap)
# Everything it starts is stopped by PID and the namespaces are deleted on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
LAB=$HERE/../lab
OUT=$(realpath -m "${1:-$HERE}")
PY=/usr/bin/python3
SRV=desk-pivot-srv
CLI=desk-pivot-cli
SRV4=10.77.0.1
CLI4=10.77.0.2

. "$LAB/netns.sh"
netns_begin desk-pivot /tmp/desk-pivot.XXXXXX
netns_require_root
netns_pair "$SRV" veth-srv "$CLI" veth-cli 02:00:00:77:00 kernel
netns_addr "$SRV" veth-srv "$SRV4/24"
netns_addr "$CLI" veth-cli "$CLI4/24"

ip netns exec "$SRV" "$PY" "$LAB/aiosmtpd_server.py" --host "$SRV4" \
    >"$WORK/server.log" 2>&1 &
netns_track $! aiosmtpd
netns_wait_line "$WORK/server.log" ready

netns_capture_start veth-cli "$WORK/bec.pcap" "tcp port 25" "$WORK/tcpdump.log"
netns_client "$WORK/swaks.log" swaks --server "$SRV4" --port 25 --lport 40077 \
    --helo ws01.corp.test --from billing@mailer.test --to ap@example.org \
    --auth LOGIN --auth-user alice --auth-password Wonder-Land-42 \
    --data "$HERE/bec.eml"
netns_capture_stop
grep -q "^<-  221" "$WORK/swaks.log"  # the QUIT reply was received
mkdir -p "$OUT"
cp "$WORK/bec.pcap" "$OUT/bec.pcap"
sha256sum "$HERE/bec.eml" "$OUT/bec.pcap"
