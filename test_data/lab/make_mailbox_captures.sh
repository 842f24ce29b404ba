#!/bin/bash
# Make the POP3/IMAP test captures: Python poplib/imaplib, small raw-socket
# clients and curl talking to Dovecot 2.3 (POP3 110 + 2110, IMAP 143 + 1143,
# APOP, STLS/STARTTLS) in two network namespaces joined by a veth pair,
# captured by tcpdump on the client side. Mailboxes are filled by Dovecot's
# LDA before each capture, so every capture starts from the same mailboxes.
# Writes test_data/captures/mailbox/*.pcap and MANIFEST.json there (ground
# truth from the clients, checked against tshark by build_mailbox_manifest.py).
#
# Run as root on Debian 12 after:
#   apt-get install dovecot-pop3d dovecot-imapd tcpdump tshark iproute2 \
#       ethtool openssl curl python3
#
# Usage: test_data/lab/make_mailbox_captures.sh [OUTPUT_DIR]
# Everything it starts is stopped by PID and the namespaces are deleted on exit.
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${1:-$LAB/../captures/mailbox}")
PY=${LAB_PYTHON:-/usr/bin/python3}
SRV=mboxlab-srv
CLI=mboxlab-cli
SRV4=10.110.0.1
CLI4=10.110.0.2

WORK=$(mktemp -d /tmp/mboxlab.XXXXXX)
chmod 755 "$WORK"
CAPTURE_PID=
DOVECOT_PID=

log() { echo "[mboxlab] $*" >&2; }

stop_pid() {
    local pid=$1 name=$2 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    stop_pid "$CAPTURE_PID" capture
    stop_pid "$DOVECOT_PID" dovecot
    ip netns del "$CLI" 2>/dev/null
    ip netns del "$SRV" 2>/dev/null
    if [ "$rc" -ne 0 ]; then
        log "FAILED (rc=$rc); logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup_network() {
    ip netns del "$CLI" 2>/dev/null || true
    ip netns del "$SRV" 2>/dev/null || true
    ip netns add "$SRV"
    ip netns add "$CLI"
    ip link add mbox-cli netns "$CLI" type veth peer name mbox-srv netns "$SRV"
    ip -n "$CLI" link set mbox-cli address 02:00:00:6e:00:02 mtu 1500
    ip -n "$SRV" link set mbox-srv address 02:00:00:6e:00:01 mtu 1500
    ip netns exec "$CLI" ethtool -K mbox-cli tso off gso off gro off >/dev/null
    ip netns exec "$SRV" ethtool -K mbox-srv tso off gso off gro off >/dev/null
    for ns in "$SRV" "$CLI"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    ip -n "$SRV" addr add "$SRV4/24" dev mbox-srv
    ip -n "$CLI" addr add "$CLI4/24" dev mbox-cli
    ip -n "$SRV" link set mbox-srv up
    ip -n "$CLI" link set mbox-cli up
}

setup_dovecot() {
    mkdir -p "$WORK/run" "$WORK/state" "$WORK/tls" "$WORK/home"
    sed -e "s|@LABDIR@|$WORK|g" -e "s|@LISTEN@|$SRV4|g" \
        "$LAB/dovecot/dovecot.conf.in" >"$WORK/dovecot.conf"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mail.example.org" \
        -keyout "$WORK/tls/server.key" -out "$WORK/tls/server.crt" 2>/dev/null
    openssl dhparam -dsaparam -out "$WORK/tls/dh.pem" 2048 2>/dev/null
    "$PY" - "$WORK/passwd" <<'PYEOF'
import sys
import os; sys.path.insert(0, os.environ["LAB"])
from mailbox_clients import USERS
with open(sys.argv[1], "w") as out:
    for user, password in USERS.items():
        out.write(f"{user}:{{PLAIN}}{password}::::::\n")
PYEOF
    chmod 644 "$WORK/passwd"
    ip netns exec "$SRV" dovecot -c "$WORK/dovecot.conf"
    local i
    for i in $(seq 50); do
        [ -s "$WORK/run/master.pid" ] && break
        sleep 0.2
    done
    DOVECOT_PID=$(tr -d ' \n' <"$WORK/run/master.pid")
    log "dovecot master pid $DOVECOT_PID"
}

fill_mailboxes() {  # the same mailboxes before every capture
    rm -rf "$WORK/home"
    mkdir -p "$WORK/home"
    local user
    for user in alice bob carol; do
        mkdir -p "$WORK/home/$user"
        chown nobody:nogroup "$WORK/home/$user"
    done
    "$PY" - "$WORK/dovecot.conf" <<'PYEOF'
import os, subprocess, sys
sys.path.insert(0, os.environ["LAB"])
import mailbox_messages
for user in ("alice", "bob", "carol"):
    for data in mailbox_messages.INBOX:
        subprocess.run(["/usr/lib/dovecot/dovecot-lda", "-c", sys.argv[1], "-d", user],
                       input=data, check=True)
PYEOF
    ip netns exec "$SRV" doveadm -c "$WORK/dovecot.conf" mailbox create -u alice Sent \
        2>/dev/null || true
}

wait_port() {
    local i
    for i in $(seq 50); do
        if ip netns exec "$CLI" "$PY" -c \
            "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()" \
            "$1" "$2" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    log "server $1:$2 not reachable"
    return 1
}

capture() {  # capture FILE FILTER SCENARIO
    local file=$1 filter=$2 scenario=$3
    local path=$OUT/$file name=${file%.*} i
    rm -f "$path"
    fill_mailboxes
    ip netns exec "$CLI" tcpdump -Z root -i mbox-cli -s 0 -U --immediate-mode -w "$path" \
        "$filter" 2>"$WORK/$name.cap.log" &
    CAPTURE_PID=$!
    for i in $(seq 50); do
        grep -q 'listening on' "$WORK/$name.cap.log" 2>/dev/null && break
        sleep 0.2
    done
    sleep 0.5
    log "$file: scenario $scenario"
    ip netns exec "$CLI" "$PY" "$LAB/mailbox_clients.py" "$scenario" --server "$SRV4" \
        --work "$WORK" --truth "$WORK/$name.truth.json" \
        --dovecot-conf "$WORK/dovecot.conf" >"$WORK/$name.client.log" 2>&1 || {
        log "client failed, see $WORK/$name.client.log"
        cat "$WORK/$name.client.log" >&2
        return 1
    }
    sleep 2
    stop_pid "$CAPTURE_PID" capture
    wait "$CAPTURE_PID" 2>/dev/null || true
    CAPTURE_PID=
    chmod 644 "$path"
    printf '%s\t%s\n' "$file" "$scenario" >>"$WORK/captures.tsv"
}

main() {
    [ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
    export LAB
    mkdir -p "$OUT"
    : >"$WORK/captures.tsv"
    setup_network
    setup_dovecot
    wait_port "$SRV4" 110
    wait_port "$SRV4" 143
    local pop="tcp port 110 or tcp port 2110" imap="tcp port 143 or tcp port 1143"
    capture pop3-user-pass.pcap "$pop" pop3-user-pass
    capture pop3-apop.pcap "$pop" pop3-apop
    capture pop3-sasl.pcap "$pop" pop3-sasl
    capture pop3-stls.pcap "$pop" pop3-stls
    capture pop3-curl-port-2110.pcap "$pop" pop3-curl
    capture imap-login.pcap "$imap" imap-login
    capture imap-fetch-append-idle.pcap "$imap" imap-fetch
    capture imap-chunked-fetch.pcap "$imap" imap-chunked
    capture imap-sasl.pcap "$imap" imap-sasl
    capture imap-starttls.pcap "$imap" imap-starttls
    capture imap-curl-port-1143.pcap "$imap" imap-curl
    "$PY" "$LAB/build_mailbox_manifest.py" --work "$WORK" --out "$OUT"
    log "done: $(wc -l <"$WORK/captures.tsv") captures in $OUT"
}

main "$@"
