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
# Usage: test_data/pivot/make_pivot_capture.sh   (writes test_data/pivot/bec.pcap)
# Everything it starts is stopped by PID and the namespaces are deleted on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
LAB=$HERE/../lab
SRV=desk-pivot-srv
CLI=desk-pivot-cli
SRV4=10.77.0.1
CLI4=10.77.0.2
WORK=$(mktemp -d /tmp/desk-pivot.XXXXXX)
CAPTURE_PID=
SERVER_PID=

stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    stop_pid "$CAPTURE_PID"
    stop_pid "$SERVER_PID"
    ip netns del "$CLI" 2>/dev/null
    ip netns del "$SRV" 2>/dev/null
    [ "$rc" -eq 0 ] && rm -rf "$WORK" || echo "failed; logs in $WORK" >&2
    exit "$rc"
}
trap cleanup EXIT

ip netns add "$SRV"
ip netns add "$CLI"
ip link add veth-cli netns "$CLI" type veth peer name veth-srv netns "$SRV"
ip -n "$CLI" link set veth-cli address 02:00:00:77:00:02 mtu 1500
ip -n "$SRV" link set veth-srv address 02:00:00:77:00:01 mtu 1500
ip netns exec "$CLI" ethtool -K veth-cli tso off gso off gro off >/dev/null
ip netns exec "$SRV" ethtool -K veth-srv tso off gso off gro off >/dev/null
ip -n "$SRV" addr add "$SRV4/24" dev veth-srv
ip -n "$CLI" addr add "$CLI4/24" dev veth-cli
for ns in "$SRV" "$CLI"; do
    ip -n "$ns" link set lo up
done
ip -n "$SRV" link set veth-srv up
ip -n "$CLI" link set veth-cli up

ip netns exec "$SRV" /usr/bin/python3 "$LAB/aiosmtpd_server.py" --host "$SRV4" \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 50); do
    grep -q ready "$WORK/server.log" && break
    sleep 0.2
done

ip netns exec "$CLI" tcpdump -i veth-cli -s 0 -U --immediate-mode -w "$WORK/bec.pcap" \
    "tcp port 25" 2>"$WORK/tcpdump.log" &
CAPTURE_PID=$!
sleep 1

ip netns exec "$CLI" swaks --server "$SRV4" --port 25 --lport 40077 \
    --helo ws01.corp.test --from billing@mailer.test --to ap@example.org \
    --auth LOGIN --auth-user alice --auth-password Wonder-Land-42 \
    --data "$HERE/bec.eml" >"$WORK/swaks.log" 2>&1

sleep 2
stop_pid "$CAPTURE_PID"
CAPTURE_PID=
grep -q "^<-  221" "$WORK/swaks.log"  # the QUIT reply was received
cp "$WORK/bec.pcap" "$HERE/bec.pcap"
sha256sum "$HERE/bec.eml" "$HERE/bec.pcap"
