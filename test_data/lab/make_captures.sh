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

. "$LAB/netns.sh"
netns_begin lab /tmp/smtplab.XXXXXX
log() { netns_log "$@"; }

setup_network() {
    netns_pair "$SRV" veth-srv "$CLI" veth-cli 02:00:00:25:00 on
    netns_addr "$SRV" veth-srv "$SRV4/24" "$ALT4/24" "$SRV6/64"
    netns_addr "$CLI" veth-cli "$CLI4/24" "$CLI6/64"
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
    local pid
    pid=$(netns_pidfile "$WORK/spool/pid/master.pid")
    netns_track "$pid" "postfix master"
    log "postfix master pid $pid"
    netns_wait_port "$SRV4" 25
}

start_aiosmtpd() {
    ip netns exec "$SRV" "$PY" "$LAB/aiosmtpd_server.py" --host "$ALT4" --port 25 \
        >"$WORK/aiosmtpd.log" 2>&1 &
    netns_track $! aiosmtpd
    log "aiosmtpd pid $!"
    netns_wait_port "$ALT4" 25
}

# capture NAME.EXT KIND FILTER SCENARIO [clients.py options...]
# KIND: eth (tcpdump on the veth, microsecond pcap), nano (same, nanosecond pcap),
#       any (tcpdump -i any, LINUX_SLL2), pcapng (dumpcap on the veth).
capture() {
    local file=$1 kind=$2 filter=$3 scenario=$4
    shift 4
    local path=$OUT/$file name=${file%.*}
    local log=$WORK/$name.cap.log
    rm -f "$path"
    case $kind in
    eth) netns_capture_start veth-cli "$path" "$filter" "$log" ;;
    nano) netns_capture_start veth-cli "$path" "$filter" "$log" --time-stamp-precision=nano ;;
    any) netns_capture_start any "$path" "$filter" "$log" ;;
    pcapng) netns_dumpcap_start veth-cli "$path" "$filter" "$log" ;;
    esac
    log "$file: scenario $scenario"
    netns_client "$WORK/$name.client.log" "$PY" "$LAB/clients.py" "$scenario" --work "$WORK" \
        --truth "$WORK/$name.truth.json" "$@"
    netns_capture_stop
    chmod 644 "$path"
    printf '%s\t%s\t%s\n' "$file" "$kind" "$scenario" >>"$WORK/captures.tsv"
}

main() {
    netns_require_root
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
