#!/bin/bash
# Make the project's real SMTP test captures: real clients (swaks, Python smtplib,
# small raw-socket clients) talking to real servers (Postfix 3.7 + Cyrus SASL,
# aiosmtpd) in two network namespaces joined by a veth pair, captured by tcpdump
# or dumpcap on the client side. Writes test_data/captures/*.pcap[ng] and
# test_data/captures/MANIFEST.json (ground truth computed by the clients).
#
# Run as root on Debian 12 after:
#   apt-get install postfix sasl2-bin libsasl2-modules swaks tcpdump tshark \
#       wireshark-common iproute2 ethtool openssl python3 python3-aiosmtpd
#
# Usage: test_data/lab/make_captures.sh [OUTPUT_DIR]   (default test_data/captures)
# Everything it starts is stopped by PID and the namespaces are deleted on exit,
# also on failure.
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${1:-$LAB/../captures}")
PY=${LAB_PYTHON:-/usr/bin/python3}
SRV=smtplab-srv
CLI=smtplab-cli
SRV4=10.25.0.1
ALT4=10.25.0.3      # aiosmtpd
CLI4=10.25.0.2
SRV6=fd00:25::1
CLI6=fd00:25::2

WORK=$(mktemp -d /tmp/smtplab.XXXXXX)
chmod 755 "$WORK"
CAPTURE_PID=
AIOSMTPD_PID=
POSTFIX_PID=

log() { echo "[lab] $*" >&2; }

stop_pid() {  # stop_pid PID NAME: SIGTERM, wait up to 10 s, then SIGKILL
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
    stop_pid "$AIOSMTPD_PID" aiosmtpd
    stop_pid "$POSTFIX_PID" "postfix master"
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
    ip link add veth-cli netns "$CLI" type veth peer name veth-srv netns "$SRV"
    ip -n "$CLI" link set veth-cli address 02:00:00:25:00:02 mtu 1500
    ip -n "$SRV" link set veth-srv address 02:00:00:25:00:01 mtu 1500
    # Real 1500-byte frames on the wire: no segmentation offload on the capture side.
    ip netns exec "$CLI" ethtool -K veth-cli tso off gso off gro off >/dev/null
    ip netns exec "$SRV" ethtool -K veth-srv tso off gso off gro off >/dev/null
    for ns in "$SRV" "$CLI"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 \
            net.ipv6.conf.default.accept_ra=0
        ip -n "$ns" link set lo up
    done
    ip -n "$SRV" addr add "$SRV4/24" dev veth-srv
    ip -n "$SRV" addr add "$ALT4/24" dev veth-srv
    ip -n "$SRV" addr add "$SRV6/64" dev veth-srv nodad
    ip -n "$CLI" addr add "$CLI4/24" dev veth-cli
    ip -n "$CLI" addr add "$CLI6/64" dev veth-cli nodad
    ip -n "$SRV" link set veth-srv up
    ip -n "$CLI" link set veth-cli up
}

setup_postfix() {
    local dir=$WORK/postfix
    mkdir -p "$dir/sasl" "$WORK/spool" "$WORK/data" "$WORK/tls"
    sed "s|@LABDIR@|$WORK|g" "$LAB/postfix/main.cf.in" >"$dir/main.cf"
    cp "$LAB/postfix/master.cf" "$dir/master.cf"
    echo "inet_interfaces = $SRV4, $SRV6" >>"$dir/main.cf"
    sed "s|@LABDIR@|$WORK|g" "$LAB/postfix/smtpd.conf.in" >"$dir/sasl/smtpd.conf"
    printf '%s OK\n' alice@example.org bob@example.org carol@example.org \
        >"$dir/relay_recipients"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mail.example.org" \
        -keyout "$WORK/tls/server.key" -out "$WORK/tls/server.crt" 2>/dev/null
    chmod 640 "$WORK/tls/server.key"
    chgrp postfix "$WORK/tls/server.key"
    # Users live in realm example.org (smtpd_sasl_local_domain).
    echo 'Wonder-Land-42' | saslpasswd2 -p -c -f "$WORK/sasldb2" -u example.org alice
    echo 'b0b-S3cret!' | saslpasswd2 -p -c -f "$WORK/sasldb2" -u example.org bob
    chown postfix "$WORK/sasldb2"
    chmod 600 "$WORK/sasldb2"
    chown postfix "$WORK/data"
    touch "$WORK/maillog"
    # postfix(1) only shows its errors on a terminal: give it one with script(1).
    ip netns exec "$SRV" script -qec "postfix -c $dir check" /dev/null
    ip netns exec "$SRV" script -qec "postfix -c $dir start" /dev/null
    local i
    for i in $(seq 50); do
        [ -s "$WORK/spool/pid/master.pid" ] && break
        sleep 0.2
    done
    POSTFIX_PID=$(tr -d ' \n' <"$WORK/spool/pid/master.pid")
    log "postfix master pid $POSTFIX_PID"
    wait_port "$SRV4" 25
}

wait_port() {  # wait_port HOST PORT: until a TCP connect from the client works
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

start_aiosmtpd() {
    ip netns exec "$SRV" "$PY" "$LAB/aiosmtpd_server.py" --host "$ALT4" --port 25 \
        >"$WORK/aiosmtpd.log" 2>&1 &
    AIOSMTPD_PID=$!
    log "aiosmtpd pid $AIOSMTPD_PID"
    wait_port "$ALT4" 25
}

# capture NAME.EXT KIND FILTER SCENARIO [clients.py options...]
# KIND: eth (tcpdump on the veth, microsecond pcap), nano (same, nanosecond pcap),
#       any (tcpdump -i any, LINUX_SLL2), pcapng (dumpcap on the veth).
capture() {
    local file=$1 kind=$2 filter=$3 scenario=$4
    shift 4
    local path=$OUT/$file name=${file%.*} i
    rm -f "$path"
    case $kind in
    eth) ip netns exec "$CLI" tcpdump -Z root -i veth-cli -s 0 -U --immediate-mode -w "$path" \
        "$filter" 2>"$WORK/$name.cap.log" & ;;
    nano) ip netns exec "$CLI" tcpdump -Z root -i veth-cli -s 0 -U --immediate-mode \
        --time-stamp-precision=nano -w "$path" "$filter" 2>"$WORK/$name.cap.log" & ;;
    any) ip netns exec "$CLI" tcpdump -Z root -i any -s 0 -U --immediate-mode -w "$path" \
        "$filter" 2>"$WORK/$name.cap.log" & ;;
    pcapng) ip netns exec "$CLI" dumpcap -q -i veth-cli -s 0 -f "$filter" -w "$path" \
        2>"$WORK/$name.cap.log" & ;;
    esac
    CAPTURE_PID=$!
    for i in $(seq 50); do
        grep -qE 'listening on|Capturing on' "$WORK/$name.cap.log" 2>/dev/null && break
        [ -s "$path" ] && [ "$kind" = pcapng ] && break
        sleep 0.2
    done
    sleep 0.5
    log "$file: scenario $scenario"
    ip netns exec "$CLI" "$PY" "$LAB/clients.py" "$scenario" --work "$WORK" \
        --truth "$WORK/$name.truth.json" "$@" >"$WORK/$name.client.log" 2>&1 || {
        log "client failed, see $WORK/$name.client.log"
        cat "$WORK/$name.client.log" >&2
        return 1
    }
    sleep 2  # let the last packets (QUIT reply, FIN) reach the capture file
    stop_pid "$CAPTURE_PID" capture
    wait "$CAPTURE_PID" 2>/dev/null || true
    CAPTURE_PID=
    chmod 644 "$path"
    printf '%s\t%s\t%s\n' "$file" "$kind" "$scenario" >>"$WORK/captures.tsv"
}

main() {
    [ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
    mkdir -p "$OUT"
    : >"$WORK/captures.tsv"
    setup_network
    setup_postfix
    start_aiosmtpd

    local v4=(--server "$SRV4" --client "$CLI4")
    capture postfix-auth-plain.pcap eth "tcp port 25" swaks-plain "${v4[@]}"
    capture postfix-auth-plain-no-initial-response.pcap eth "tcp port 25" \
        plain-no-initial "${v4[@]}"
    capture postfix-auth-login.pcap eth "tcp port 25" swaks-login "${v4[@]}"
    capture postfix-auth-login-initial-response.pcap eth "tcp port 25" \
        login-initial "${v4[@]}"
    capture postfix-auth-cram-md5.pcap eth "tcp port 25" swaks-cram-md5 "${v4[@]}"
    capture postfix-auth-digest-md5.pcap eth "tcp port 25" digest-md5 "${v4[@]}"
    capture postfix-auth-fail-then-success.pcap eth "tcp port 25" \
        fail-then-success "${v4[@]}"
    capture postfix-pipelining-rejected-rcpt.pcap eth "tcp port 25" pipelining "${v4[@]}"
    capture postfix-rset-multi-message.pcap eth "tcp port 25" rset-multi "${v4[@]}"
    capture postfix-bdat-chunks.pcap eth "tcp port 25" bdat "${v4[@]}"
    capture postfix-starttls.pcap eth "tcp port 25" starttls "${v4[@]}"
    capture postfix-port-2525.pcap eth "tcp port 2525" swaks-port "${v4[@]}" --port 2525
    capture postfix-ipv6.pcap eth "tcp port 25" ipv6 --server "$SRV6" --client "$CLI6"
    capture postfix-dumpcap.pcapng pcapng "tcp port 25" smtplib-plain "${v4[@]}" \
        --client-port 40042 --tag dumpcap-pcapng
    capture postfix-linux-sll2.pcap any "tcp port 25" smtplib-plain "${v4[@]}" \
        --client-port 40043 --tag linux-sll2
    capture postfix-nanosecond.pcap nano "tcp port 25" smtplib-plain "${v4[@]}" \
        --client-port 40044 --tag nanosecond
    capture postfix-foxmail.pcap eth "tcp port 25" foxmail "${v4[@]}"
    capture aiosmtpd-xoauth2.pcap eth "tcp port 25" xoauth2 --server "$ALT4" \
        --client "$CLI4"
    capture aiosmtpd-login-latin1.pcap eth "tcp port 25" login-latin1 --server "$ALT4" \
        --client "$CLI4"

    {
        echo "postfix=$(postconf -c "$WORK/postfix" -h mail_version)"
        echo "cyrus_sasl=$(dpkg-query -W -f '${Version}' libsasl2-2 2>/dev/null || echo unknown)"
        echo "swaks=$(swaks --version | head -1 | awk '{print $3}')"
        echo "python=$("$PY" -c 'import platform; print(platform.python_version())')"
        echo "aiosmtpd=$("$PY" -c 'import aiosmtpd; print(aiosmtpd.__version__)')"
        echo "tcpdump=$(tcpdump --version 2>&1 | head -1 | awk '{print $3}')"
        echo "dumpcap=$(dumpcap --version 2>&1 | head -1 | awk '{print $3}')"
        echo "openssl=$(openssl version | awk '{print $2}')"
    } >"$WORK/versions.txt"
    "$PY" "$LAB/build_manifest.py" --work "$WORK" --out "$OUT"
    log "done: $(ls "$OUT" | wc -l) files in $OUT"
}

main "$@"
