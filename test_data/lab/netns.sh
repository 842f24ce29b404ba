# Sourced by the lab's capture scripts (make_*captures.sh, ../pivot/make_pivot_capture.sh):
# two network namespaces joined by a veth pair, tcpdump/dumpcap on the client side,
# waits for servers, and one EXIT trap that stops every tracked process by PID, deletes
# the namespaces and keeps the work folder only on failure. Safe under set -euo pipefail.
# Names, addresses and ports stay with each script: they are arguments here.
#
#   netns_begin TAG WORK_TEMPLATE   log tag, WORK=$(mktemp -d TEMPLATE), traps
#   netns_pair SRV SRV_IF CLI CLI_IF MAC_STEM IPV6
#   netns_addr NS IF ADDR/LEN...    IPv6 addresses are added with nodad
#   netns_track PID NAME / netns_stop PID NAME
#   netns_pidfile FILE              prints the PID a daemon wrote (waits up to 10 s)
#   netns_wait_port HOST PORT       a TCP connect from the client namespace works
#   netns_capture_start IF PATH FILTER LOG [TCPDUMP_OPTION...] / netns_dumpcap_start
#   netns_capture_stop              after the client: 2 s for the last packets, stop
#   netns_client LOG CMD...         CMD in the client namespace, its output in LOG
# The python for netns_wait_port is $PY (default /usr/bin/python3).

NETNS_TAG=lab
NETNS_SRV=
NETNS_CLI=
NETNS_CLI_IF=
NETNS_CAPTURE_PID=
NETNS_PIDS=()       # "PID NAME", stopped at exit, last tracked first
NETNS_EXIT_RM=()    # files deleted at exit whatever happens (private keys)

netns_log() { echo "[$NETNS_TAG] $*" >&2; }

netns_require_root() {
    [ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
}

netns_stop_pid() {  # netns_stop_pid PID NAME: SIGTERM, wait up to 10 s, then SIGKILL
    local pid=$1 name=$2 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    netns_log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
}

netns_track() {  # netns_track PID NAME: stop it at exit unless netns_stop did before
    NETNS_PIDS+=("$1 $2")
}

netns_stop() {  # netns_stop PID NAME: stop it now and forget it (no stale PID at exit)
    local i
    netns_stop_pid "$1" "$2"
    for i in "${!NETNS_PIDS[@]}"; do
        [ "${NETNS_PIDS[$i]%% *}" != "$1" ] || unset 'NETNS_PIDS[i]'
    done
}

netns_cleanup() {  # the EXIT trap
    local rc=$? i
    set +e
    local idx=("${!NETNS_PIDS[@]}")
    for ((i = ${#idx[@]} - 1; i >= 0; i--)); do
        local entry=${NETNS_PIDS[${idx[i]}]}
        netns_stop_pid "${entry%% *}" "${entry#* }"
    done
    [ -z "$NETNS_CLI" ] || ip netns del "$NETNS_CLI" 2>/dev/null
    [ -z "$NETNS_SRV" ] || ip netns del "$NETNS_SRV" 2>/dev/null
    for i in "${NETNS_EXIT_RM[@]}"; do
        rm -f "$i"
    done
    if [ "$rc" -ne 0 ]; then
        netns_log "FAILED (rc=$rc); logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}

netns_begin() {  # netns_begin TAG WORK_TEMPLATE: sets WORK (mode 755, servers read it)
    NETNS_TAG=$1
    WORK=$(mktemp -d "$2")
    chmod 755 "$WORK"
    trap netns_cleanup EXIT
    trap 'exit 130' INT TERM
}

# netns_pair SRV SRV_IF CLI CLI_IF MAC_STEM IPV6
# Recreates namespaces SRV and CLI joined by veth SRV_IF <-> CLI_IF (MTU 1500, MACs
# MAC_STEM:01 and MAC_STEM:02, segmentation offload off so the capture sees real
# 1500-byte frames), loopback and veth up. IPV6: off (disabled), on (router
# advertisements ignored) or kernel (as the kernel sets it).
netns_pair() {
    local srv=$1 srv_if=$2 cli=$3 cli_if=$4 mac=$5 ipv6=$6 ns
    NETNS_SRV=$srv NETNS_CLI=$cli NETNS_CLI_IF=$cli_if
    ip netns del "$cli" 2>/dev/null || true
    ip netns del "$srv" 2>/dev/null || true
    ip netns add "$srv"
    ip netns add "$cli"
    ip link add "$cli_if" netns "$cli" type veth peer name "$srv_if" netns "$srv"
    ip -n "$cli" link set "$cli_if" address "$mac:02" mtu 1500
    ip -n "$srv" link set "$srv_if" address "$mac:01" mtu 1500
    ip netns exec "$cli" ethtool -K "$cli_if" tso off gso off gro off >/dev/null
    ip netns exec "$srv" ethtool -K "$srv_if" tso off gso off gro off >/dev/null
    for ns in "$srv" "$cli"; do
        case $ipv6 in
        off) ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 ;;
        on) ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 \
            net.ipv6.conf.default.accept_ra=0 ;;
        kernel) ;;
        *) netns_log "netns_pair: IPV6 must be off, on or kernel, not $ipv6"; return 1 ;;
        esac
        ip -n "$ns" link set lo up
    done
    ip -n "$srv" link set "$srv_if" up
    ip -n "$cli" link set "$cli_if" up
}

netns_addr() {  # netns_addr NS IF ADDR/LEN...
    local ns=$1 dev=$2 addr
    shift 2
    for addr in "$@"; do
        case $addr in
        *:*) ip -n "$ns" addr add "$addr" dev "$dev" nodad ;;
        *) ip -n "$ns" addr add "$addr" dev "$dev" ;;
        esac
    done
}

netns_pidfile() {  # netns_pidfile FILE: the PID a daemon wrote there
    local i
    for i in $(seq 50); do
        [ -s "$1" ] && break
        sleep 0.2
    done
    tr -d ' \n' <"$1"
}

netns_wait_line() {  # netns_wait_line FILE REGEX: up to 10 s for a line (then go on)
    local i
    for i in $(seq 50); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    netns_log "no '$2' in $1 after 10 s"
}

netns_wait_port() {  # netns_wait_port HOST PORT: until a TCP connect from the client works
    local i
    for i in $(seq 50); do
        if ip netns exec "$NETNS_CLI" "${PY:-/usr/bin/python3}" -c \
            "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()" \
            "$1" "$2" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    netns_log "server $1:$2 not reachable"
    return 1
}

# netns_capture_start IF PATH FILTER LOG [TCPDUMP_OPTION...]
# tcpdump in the client namespace on IF (or any), whole packets, written at once.
netns_capture_start() {
    local dev=$1 path=$2 filter=$3 log=$4
    shift 4
    ip netns exec "$NETNS_CLI" tcpdump -Z root -i "$dev" -s 0 -U --immediate-mode "$@" \
        -w "$path" "$filter" 2>"$log" &
    NETNS_CAPTURE_PID=$!
    netns_track "$NETNS_CAPTURE_PID" capture
    netns_wait_line "$log" 'listening on'
    sleep 0.5
}

netns_dumpcap_start() {  # netns_dumpcap_start IF PATH FILTER LOG: pcapng by dumpcap
    local dev=$1 path=$2 filter=$3 log=$4 i
    ip netns exec "$NETNS_CLI" dumpcap -q -i "$dev" -s 0 -f "$filter" -w "$path" 2>"$log" &
    NETNS_CAPTURE_PID=$!
    netns_track "$NETNS_CAPTURE_PID" capture
    for i in $(seq 50); do
        grep -qE 'listening on|Capturing on' "$log" 2>/dev/null && break
        [ -s "$path" ] && break
        sleep 0.2
    done
    sleep 0.5
}

netns_capture_stop() {  # let the last packets (QUIT reply, FIN) reach the file, stop
    sleep 2
    netns_stop "$NETNS_CAPTURE_PID" capture
    wait "$NETNS_CAPTURE_PID" 2>/dev/null || true
    NETNS_CAPTURE_PID=
}

netns_client() {  # netns_client LOG CMD...: CMD in the client namespace; on failure show LOG
    local log=$1
    shift
    ip netns exec "$NETNS_CLI" "$@" >"$log" 2>&1 || {
        netns_log "client failed, see $log"
        cat "$log" >&2
        return 1
    }
}
