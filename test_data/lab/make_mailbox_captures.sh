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

. "$LAB/netns.sh"
netns_begin mboxlab /tmp/mboxlab.XXXXXX
log() { netns_log "$@"; }

setup_network() {
    netns_pair "$SRV" mbox-srv "$CLI" mbox-cli 02:00:00:6e:00 off
    netns_addr "$SRV" mbox-srv "$SRV4/24"
    netns_addr "$CLI" mbox-cli "$CLI4/24"
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
    local pid
    pid=$(netns_pidfile "$WORK/run/master.pid")
    netns_track "$pid" dovecot
    log "dovecot master pid $pid"
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

capture() {  # capture FILE FILTER SCENARIO
    local file=$1 filter=$2 scenario=$3
    local path=$OUT/$file name=${file%.*}
    rm -f "$path"
    fill_mailboxes
    netns_capture_start mbox-cli "$path" "$filter" "$WORK/$name.cap.log"
    log "$file: scenario $scenario"
    netns_client "$WORK/$name.client.log" "$PY" "$LAB/mailbox_clients.py" "$scenario" \
        --server "$SRV4" --work "$WORK" --truth "$WORK/$name.truth.json" \
        --dovecot-conf "$WORK/dovecot.conf"
    netns_capture_stop
    chmod 644 "$path"
    printf '%s\t%s\n' "$file" "$scenario" >>"$WORK/captures.tsv"
}

main() {
    netns_require_root
    export LAB
    mkdir -p "$OUT"
    : >"$WORK/captures.tsv"
    setup_network
    setup_dovecot
    netns_wait_port "$SRV4" 110
    netns_wait_port "$SRV4" 143
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
