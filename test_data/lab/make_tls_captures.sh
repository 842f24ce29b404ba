#!/bin/bash
# Make the TLS test captures: Python smtplib (with SSLContext.keylog_filename)
# talking to Postfix 3.7 over STARTTLS on 587 (AUTH only after TLS) and implicit
# TLS on 465, in two network namespaces joined by a veth pair, captured by tcpdump
# on the client side. One capture per TLS version / cipher suite, each with its
# own NSS key log; then the derived files: all.keylog (every key), other-keys.keylog
# (every key but one session's), a capture cut after the handshake, and a pcapng
# with the key log injected as a Decryption Secrets Block. check_tls_captures.py
# checks each with tshark and writes test_data/tls/MANIFEST.json.
#
# Run as root on Debian 12 after:
#   apt-get install postfix sasl2-bin libsasl2-modules tcpdump tshark \
#       wireshark-common iproute2 ethtool openssl python3
#
# Usage: test_data/lab/make_tls_captures.sh [OUTPUT_DIR]   (default test_data/tls)
# The server's private key stays in the temporary work directory: decryption of
# the captures must work from the key logs alone.
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${1:-$LAB/../tls}")
PY=${LAB_PYTHON:-/usr/bin/python3}
SRV=tlslab-srv
CLI=tlslab-cli
SRV4=10.46.0.1
CLI4=10.46.0.2

WORK=$(mktemp -d /tmp/tlslab.XXXXXX)
chmod 755 "$WORK"
CAPTURE_PID=
POSTFIX_PID=

log() { echo "[tlslab] $*" >&2; }

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
    ip link add tlsv-cli netns "$CLI" type veth peer name tlsv-srv netns "$SRV"
    ip -n "$CLI" link set tlsv-cli address 02:00:00:46:00:02 mtu 1500
    ip -n "$SRV" link set tlsv-srv address 02:00:00:46:00:01 mtu 1500
    ip netns exec "$CLI" ethtool -K tlsv-cli tso off gso off gro off >/dev/null
    ip netns exec "$SRV" ethtool -K tlsv-srv tso off gso off gro off >/dev/null
    for ns in "$SRV" "$CLI"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    ip -n "$SRV" addr add "$SRV4/24" dev tlsv-srv
    ip -n "$CLI" addr add "$CLI4/24" dev tlsv-cli
    ip -n "$SRV" link set tlsv-srv up
    ip -n "$CLI" link set tlsv-cli up
}

setup_postfix() {
    local dir=$WORK/postfix
    mkdir -p "$dir/sasl" "$WORK/spool" "$WORK/data" "$WORK/tls"
    sed "s|@LABDIR@|$WORK|g" "$LAB/postfix/main.cf.in" >"$dir/main.cf"
    cp "$LAB/tls/master.cf" "$dir/master.cf"
    echo "inet_interfaces = $SRV4" >>"$dir/main.cf"
    sed -i "s/^inet_protocols = all/inet_protocols = ipv4/" "$dir/main.cf"
    sed "s|@LABDIR@|$WORK|g" "$LAB/postfix/smtpd.conf.in" >"$dir/sasl/smtpd.conf"
    printf '%s OK\n' alice@example.org bob@example.org carol@example.org \
        >"$dir/relay_recipients"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
        -subj "/C=XX/O=TLS Lab/CN=mail.example.org" \
        -keyout "$WORK/tls/server.key" -out "$WORK/tls/server.crt" 2>/dev/null
    chmod 640 "$WORK/tls/server.key"
    chgrp postfix "$WORK/tls/server.key"
    echo 'Wonder-Land-42' | saslpasswd2 -p -c -f "$WORK/sasldb2" -u example.org alice
    echo 'b0b-S3cret!' | saslpasswd2 -p -c -f "$WORK/sasldb2" -u example.org bob
    chown postfix "$WORK/sasldb2"
    chmod 600 "$WORK/sasldb2"
    chown postfix "$WORK/data"
    touch "$WORK/maillog"
    ip netns exec "$SRV" script -qec "postfix -c $dir check" /dev/null
    ip netns exec "$SRV" script -qec "postfix -c $dir start" /dev/null
    local i
    for i in $(seq 50); do
        [ -s "$WORK/spool/pid/master.pid" ] && break
        sleep 0.2
    done
    POSTFIX_PID=$(tr -d ' \n' <"$WORK/spool/pid/master.pid")
    log "postfix master pid $POSTFIX_PID"
    wait_port "$SRV4" 587
    wait_port "$SRV4" 465
    openssl x509 -in "$WORK/tls/server.crt" -noout -subject -issuer -dates \
        -fingerprint -sha256 >"$WORK/server-cert.txt"
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

# capture SCENARIO CLIENT_PORT [TLS1.3 SUITE]
capture() {
    local name=$1 port=$2 suite=${3:-} i
    local path=$OUT/$name.pcap conf=$WORK/$name.openssl.cnf
    rm -f "$path" "$OUT/$name.keylog"
    {
        echo "openssl_conf = default_conf"
        echo "[default_conf]"
        echo "ssl_conf = ssl_sect"
        echo "[ssl_sect]"
        echo "system_default = system_default_sect"
        echo "[system_default_sect]"
        [ -n "$suite" ] && echo "Ciphersuites = $suite"
        echo "CipherString = DEFAULT:@SECLEVEL=1"
    } >"$conf"
    ip netns exec "$CLI" tcpdump -Z root -i tlsv-cli -s 0 -U --immediate-mode -w "$path" \
        "tcp port 587 or tcp port 465" 2>"$WORK/$name.cap.log" &
    CAPTURE_PID=$!
    for i in $(seq 50); do
        grep -q 'listening on' "$WORK/$name.cap.log" 2>/dev/null && break
        sleep 0.2
    done
    sleep 0.5
    log "$name.pcap"
    OPENSSL_CONF=$conf ip netns exec "$CLI" env OPENSSL_CONF="$conf" "$PY" \
        "$LAB/tls_clients.py" "$name" --server "$SRV4" --client "$CLI4" \
        --client-port "$port" --keylog "$WORK/$name.keylog" \
        --truth "$WORK/$name.truth.json" >"$WORK/$name.client.log" 2>&1 || {
        log "client failed, see $WORK/$name.client.log"
        cat "$WORK/$name.client.log" >&2
        return 1
    }
    sleep 2
    stop_pid "$CAPTURE_PID" capture
    wait "$CAPTURE_PID" 2>/dev/null || true
    CAPTURE_PID=
    cp "$WORK/$name.keylog" "$OUT/$name.keylog"
    chmod 644 "$path" "$OUT/$name.keylog"
}

main() {
    [ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
    mkdir -p "$OUT"
    setup_network
    setup_postfix
    capture tls13-aes128gcm 41001 TLS_AES_128_GCM_SHA256
    capture tls13-aes256gcm 41002 TLS_AES_256_GCM_SHA384
    capture tls13-chacha20 41003 TLS_CHACHA20_POLY1305_SHA256
    capture tls12-ecdhe-aes128gcm 41004
    capture tls12-ecdhe-aes256gcm-noems 41005
    capture tls12-ecdhe-chacha20 41006
    capture tls12-ecdhe-aes128-sha-etm 41007
    capture tls12-ecdhe-aes256-sha384-noetm 41008
    capture tls12-rsa-aes128-sha256-noetm-noems 41009
    capture tls12-rsa-aes256gcm-ems 41013
    capture tls13-multi 41010 TLS_AES_128_GCM_SHA256
    capture implicit-tls13 41011 TLS_AES_256_GCM_SHA384
    capture implicit-tls12-gcm 41012

    # Derived files.
    cat "$OUT"/tls1[23]-*.keylog "$OUT"/implicit-*.keylog >"$OUT/all.keylog"
    grep -v -F -f <(awk '{print $2}' "$OUT/tls13-aes128gcm.keylog" | sort -u) \
        "$OUT/all.keylog" >"$OUT/other-keys.keylog"
    # A capture that starts after the handshake: from the first frame after the
    # last Finished message tshark decrypts.
    local last
    last=$(tshark -r "$OUT/tls12-ecdhe-aes128gcm.pcap" \
        -o "tls.keylog_file:$OUT/tls12-ecdhe-aes128gcm.keylog" \
        -Y "tls.handshake.type == 20" -T fields -e frame.number | tail -1)
    editcap -r "$OUT/tls12-ecdhe-aes128gcm.pcap" "$OUT/after-handshake.pcap" \
        "$((last + 1))-100000" -F pcap
    # The key log carried inside the capture (pcapng Decryption Secrets Block).
    editcap --inject-secrets "tls,$OUT/tls13-chacha20.keylog" \
        "$OUT/tls13-chacha20.pcap" "$OUT/tls13-chacha20-dsb.pcapng"
    chmod 644 "$OUT"/*
    "$PY" "$LAB/check_tls_captures.py" --dir "$OUT" --work "$WORK" \
        --postfix "$(postconf -c "$WORK/postfix" -h mail_version)" \
        --openssl "$(openssl version | awk '{print $2}')" \
        --python "$("$PY" -c 'import platform; print(platform.python_version())')"
    log "done: $(ls "$OUT" | wc -l) files in $OUT"
}

main "$@"
