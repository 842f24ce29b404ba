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

. "$LAB/netns.sh"
netns_begin tlslab /tmp/tlslab.XXXXXX
log() { netns_log "$@"; }

setup_network() {
    netns_pair "$SRV" tlsv-srv "$CLI" tlsv-cli 02:00:00:46:00 off
    netns_addr "$SRV" tlsv-srv "$SRV4/24"
    netns_addr "$CLI" tlsv-cli "$CLI4/24"
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
    local pid
    pid=$(netns_pidfile "$WORK/spool/pid/master.pid")
    netns_track "$pid" "postfix master"
    log "postfix master pid $pid"
    netns_wait_port "$SRV4" 587
    netns_wait_port "$SRV4" 465
    openssl x509 -in "$WORK/tls/server.crt" -noout -subject -issuer -dates \
        -fingerprint -sha256 >"$WORK/server-cert.txt"
}

# capture SCENARIO CLIENT_PORT [TLS1.3 SUITE]
capture() {
    local name=$1 port=$2 suite=${3:-}
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
    netns_capture_start tlsv-cli "$path" "tcp port 587 or tcp port 465" "$WORK/$name.cap.log"
    log "$name.pcap"
    netns_client "$WORK/$name.client.log" env OPENSSL_CONF="$conf" "$PY" \
        "$LAB/tls_clients.py" "$name" --server "$SRV4" --client "$CLI4" \
        --client-port "$port" --keylog "$WORK/$name.keylog" --truth "$WORK/$name.truth.json"
    netns_capture_stop
    cp "$WORK/$name.keylog" "$OUT/$name.keylog"
    chmod 644 "$path" "$OUT/$name.keylog"
}

main() {
    netns_require_root
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
