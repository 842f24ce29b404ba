#!/bin/bash
# Make the POP3/IMAP TLS test captures with key logs: Python poplib/imaplib and
# curl talking to Dovecot 2.3 with STLS on 110, STARTTLS on 143, implicit TLS on
# 995 and 993 (and POP3 over implicit TLS on 465, where only the decrypted
# greeting tells it is not SMTP), TLS 1.3 and 1.2, a self-signed certificate made
# here. Two network namespaces (mtls-srv, mtls-cli) joined by a veth pair,
# captured by tcpdump on the client side. Every client writes its TLS secrets to
# NAME.keylog; the server's private key stays in the work directory and is
# deleted. Writes test_data/captures/mailbox-tls/{NAME.pcap,NAME.keylog} and
# MANIFEST.json (ground truth from the clients, checked with tshark and the key
# logs by check_mailbox_tls_captures.py).
#
# Run as root on Debian 12 after:
#   apt-get install dovecot-pop3d dovecot-imapd tcpdump tshark iproute2 \
#       ethtool openssl curl python3
#
# Usage: test_data/lab/make_mailbox_tls_captures.sh [OUTPUT_DIR]
# Everything it starts is stopped by PID and the namespaces are deleted on exit.
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${1:-$LAB/../captures/mailbox-tls}")
PY=${LAB_PYTHON:-/usr/bin/python3}
SRV=mtls-srv
CLI=mtls-cli
SRV4=10.113.0.1
CLI4=10.113.0.2

WORK=$(mktemp -d /tmp/mtls.XXXXXX)
chmod 755 "$WORK"
CAPTURE_PID=
DOVECOT_PID=

log() { echo "[mtls] $*" >&2; }

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
    rm -f "$WORK/tls/server.key"
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
    ip link add mtls-cli netns "$CLI" type veth peer name mtls-srv netns "$SRV"
    ip -n "$CLI" link set mtls-cli address 02:00:00:71:00:02 mtu 1500
    ip -n "$SRV" link set mtls-srv address 02:00:00:71:00:01 mtu 1500
    ip netns exec "$CLI" ethtool -K mtls-cli tso off gso off gro off >/dev/null
    ip netns exec "$SRV" ethtool -K mtls-srv tso off gso off gro off >/dev/null
    for ns in "$SRV" "$CLI"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    ip -n "$SRV" addr add "$SRV4/24" dev mtls-srv
    ip -n "$CLI" addr add "$CLI4/24" dev mtls-cli
    ip -n "$SRV" link set mtls-srv up
    ip -n "$CLI" link set mtls-cli up
}

setup_dovecot() {
    mkdir -p "$WORK/run" "$WORK/state" "$WORK/tls" "$WORK/home"
    # The clear-text lab's configuration, with the implicit-TLS listeners on.
    sed -e "s|@LABDIR@|$WORK|g" -e "s|@LISTEN@|$SRV4|g" \
        -e '/inet_listener imaps {/,/}/s/port = 0/port = 993\n    ssl = yes/' \
        -e '/inet_listener pop3s {/,/}/s/port = 0/port = 995\n    ssl = yes\n  }\n  inet_listener pop3s-465 {\n    port = 465\n    ssl = yes/' \
        "$LAB/dovecot/dovecot.conf.in" >"$WORK/dovecot.conf"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
        -subj "/C=XX/O=Mailbox TLS Lab/CN=mail.example.org" \
        -keyout "$WORK/tls/server.key" -out "$WORK/tls/server.crt" 2>/dev/null
    openssl x509 -in "$WORK/tls/server.crt" -noout -subject -issuer -dates \
        -fingerprint -sha256 >"$WORK/server-cert.txt"
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
    local user
    for user in alice carol; do
        ip netns exec "$SRV" doveadm -c "$WORK/dovecot.conf" mailbox create -u "$user" Sent \
            2>/dev/null || true
    done
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

capture() {  # capture NAME FILTER
    local name=$1 filter=$2 i
    local path=$OUT/$name.pcap keylog=$OUT/$name.keylog
    rm -f "$path" "$keylog"
    fill_mailboxes
    ip netns exec "$CLI" tcpdump -Z root -i mtls-cli -s 0 -U --immediate-mode -w "$path" \
        "$filter" 2>"$WORK/$name.cap.log" &
    CAPTURE_PID=$!
    for i in $(seq 50); do
        grep -q 'listening on' "$WORK/$name.cap.log" 2>/dev/null && break
        sleep 0.2
    done
    sleep 0.5
    log "$name"
    ip netns exec "$CLI" "$PY" "$LAB/mailbox_tls_clients.py" "$name" --server "$SRV4" \
        --work "$WORK" --truth "$WORK/$name.truth.json" --keylog "$keylog" \
        >"$WORK/$name.client.log" 2>&1 || {
        log "client failed, see $WORK/$name.client.log"
        cat "$WORK/$name.client.log" >&2
        return 1
    }
    sleep 2
    stop_pid "$CAPTURE_PID" capture
    wait "$CAPTURE_PID" 2>/dev/null || true
    CAPTURE_PID=
    chmod 644 "$path" "$keylog"
}

main() {
    [ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
    export LAB
    mkdir -p "$OUT"
    setup_network
    setup_dovecot
    local port
    for port in 110 143 993 995 465; do
        wait_port "$SRV4" "$port"
    done
    capture pop3-stls-tls13 "tcp port 110"
    capture pop3s-995-tls12 "tcp port 995"
    capture pop3s-port-465 "tcp port 465"
    capture imap-starttls-tls12 "tcp port 143"
    capture imaps-993-tls13 "tcp port 993"
    capture imaps-993-literal-refused "tcp port 993"
    capture curl-implicit-tls "tcp port 993 or tcp port 995"
    stop_pid "$DOVECOT_PID" dovecot
    DOVECOT_PID=
    rm -f "$WORK/tls/server.key"
    "$PY" "$LAB/check_mailbox_tls_captures.py" --work "$WORK" --dir "$OUT"
    log "done: $(ls "$OUT"/*.pcap | wc -l) captures in $OUT"
}

main "$@"
