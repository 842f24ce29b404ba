#!/bin/bash
# Make the quirk captures in test_data/quirks/: a raw-socket client ending DATA with
# non-standard end markers ("\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r", "\r\n.\r") against
# Postfix 3.7 (smtpd_forbid_bare_newline=no on port 25, =yes on port 2526), and an
# FTP password guesser plus one anonymous session (Python ftplib against vsftpd 3.0.3),
# which must yield no SMTP session. Ground truth comes from the clients
# (test_data/lab/quirk_clients.py); tshark checks the captures hold what the clients
# sent. Namespaces smtpq-srv/smtpq-cli, addresses 10.209.0.0/24.
#
# Run as root on Debian 12 after:
#   apt-get install postfix vsftpd tcpdump tshark iproute2 ethtool python3
#
# Usage: test_data/lab/make_quirk_captures.sh [OUTPUT_DIR]   (default test_data/quirks)
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${1:-$LAB/../quirks}")
PY=${LAB_PYTHON:-/usr/bin/python3}
SRV=smtpq-srv
CLI=smtpq-cli
SRV4=10.209.0.1
CLI4=10.209.0.2

. "$LAB/netns.sh"
netns_begin quirks /tmp/smtpq.XXXXXX
log() { netns_log "$@"; }

setup_network() {
    netns_pair "$SRV" vq-srv "$CLI" vq-cli 02:00:00:d1:00 off
    netns_addr "$SRV" vq-srv "$SRV4/24"
    netns_addr "$CLI" vq-cli "$CLI4/24"
}

setup_postfix() {
    local dir=$WORK/postfix
    mkdir -p "$dir" "$WORK/spool" "$WORK/data"
    sed "s|@LABDIR@|$WORK|g" "$LAB/postfix/main.cf.in" \
        | grep -vE '^(smtpd_sasl_|smtpd_tls_|tls_random_source)' >"$dir/main.cf"
    {
        echo "inet_interfaces = $SRV4"
        echo "inet_protocols = ipv4"
        echo "smtpd_sasl_auth_enable = no"
        echo "smtpd_forbid_bare_newline = no"
    } >>"$dir/main.cf"
    grep -vE '^(2525|submission|  -o syslog_name=postfix/submission|tlsmgr)' \
        "$LAB/postfix/master.cf" >"$dir/master.cf"
    echo "2526      inet  n       -       n       -       -       smtpd -o smtpd_forbid_bare_newline=yes" \
        >>"$dir/master.cf"
    printf '%s OK\n' alice@example.org bob@example.org >"$dir/relay_recipients"
    chown postfix "$WORK/data"
    touch "$WORK/maillog"
    ip netns exec "$SRV" script -qec "postfix -c $dir check" /dev/null
    ip netns exec "$SRV" script -qec "postfix -c $dir start" /dev/null
    local pid
    pid=$(netns_pidfile "$WORK/spool/pid/master.pid")
    netns_track "$pid" "postfix master"
    log "postfix master pid $pid"
    netns_wait_port "$SRV4" 25
    netns_wait_port "$SRV4" 2526
}

setup_vsftpd() {
    mkdir -p "$WORK/ftproot/pub"
    echo "quirk lab file" >"$WORK/ftproot/pub/readme.txt"
    chmod -R a+rX,go-w "$WORK/ftproot"
    cat >"$WORK/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=$SRV4
background=NO
anonymous_enable=YES
local_enable=NO
write_enable=NO
anon_root=$WORK/ftproot
no_anon_password=NO
pasv_enable=YES
pasv_min_port=40900
pasv_max_port=40910
secure_chroot_dir=/var/run/vsftpd/empty
seccomp_sandbox=NO
xferlog_enable=NO
vsftpd_log_file=$WORK/vsftpd.log
CONF
    ip netns exec "$SRV" vsftpd "$WORK/vsftpd.conf" >"$WORK/vsftpd.out" 2>&1 &
    netns_track $! vsftpd
    log "vsftpd pid $!"
    netns_wait_port "$SRV4" 21
}

capture() {  # capture FILE FILTER SCENARIO
    local file=$1 filter=$2 scenario=$3 path=$OUT/$1 name=${1%.*}
    rm -f "$path"
    netns_capture_start vq-cli "$path" "$filter" "$WORK/$name.cap.log"
    log "$file: scenario $scenario"
    netns_client "$WORK/$name.client.log" "$PY" "$LAB/quirk_clients.py" "$scenario" \
        --server "$SRV4" --client "$CLI4" --truth "$WORK/$name.truth.json"
    netns_capture_stop
    chmod 644 "$path"
}

main() {
    netns_require_root
    mkdir -p "$OUT"
    setup_network
    setup_postfix
    setup_vsftpd
    # The wait for a session's last 250 lets Postfix's one-second pause pass too.
    capture postfix-bare-lf-end-markers.pcap "tcp port 25" bare-lf
    capture postfix-bare-lf-piped.pcap "tcp port 25" piped
    capture postfix-forbid-bare-newline.pcap "tcp port 2526" forbid-bare-lf
    capture vsftpd-password-guessing.pcap "tcp" ftp
    {
        echo "postfix=$(postconf -c "$WORK/postfix" -h mail_version)"
        echo "vsftpd=$(dpkg-query -W -f '${Version}' vsftpd)"
        echo "python=$("$PY" -c 'import platform; print(platform.python_version())')"
        echo "tcpdump=$(tcpdump --version 2>&1 | head -1 | awk '{print $3}')"
    } >"$WORK/versions.txt"
    "$PY" - "$WORK" "$OUT" <<'PYEOF'
import hashlib, json, pathlib, subprocess, sys
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
software = dict(line.split("=", 1) for line in (work / "versions.txt").read_text().split())
captures = []
for path in sorted(out.glob("*.pcap")):
    truth = json.loads((work / (path.stem + ".truth.json")).read_text())
    # Independent check: tshark's client-side follow stream holds what was sent.
    follow = subprocess.run(
        ["tshark", "-r", str(path), "-q", "-z", "follow,tcp,raw,0"],
        capture_output=True, text=True, check=True,
    ).stdout
    client_hex = "".join(
        line.strip() for line in follow.splitlines()
        if line and not line.startswith(("=", "\t", "Follow", "Filter", "Node"))
    )
    for session in truth["sessions"]:
        if "sent" in session:
            assert session["sent"]["hex"] in client_hex
        for message in session.get("messages", []):
            if "sent_after_354" in message:
                assert message["sent_after_354"]["hex"] in client_hex, message["tag"]
    captures.append({
        "file": path.name,
        "file_size": path.stat().st_size,
        "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "sessions": truth["sessions"],
    })
manifest = {
    "about": "Ground truth for the quirk captures, recorded by test_data/lab/quirk_clients.py "
             "from what the clients sent and the replies they got; made by "
             "test_data/lab/make_quirk_captures.sh.",
    "software": software,
    "captures": captures,
}
(out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
PYEOF
    log "done: $(ls "$OUT")"
}

main "$@"
