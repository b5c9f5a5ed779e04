#!/bin/sh
# bench_offload.sh: what UDP GSO and GRO buy at Ethernet size. Runs
# bench_transport with 1452-byte datagrams across a veth pair with MTU 1500
# between this network namespace and one the script makes, with the same
# binary in three modes, interleaved run by run:
#   off  MA_UDP_GSO=0 MA_UDP_GRO=0 (sendmmsg batches, one datagram per
#        receive)
#   gso  MA_UDP_GSO=1 MA_UDP_GRO=0 (what the transport did before GRO)
#   both MA_UDP_GSO=1 MA_UDP_GRO=1 (the default)
# Prints every run (MB/s, CPU seconds per GiB of the server and of the
# client), the medians, the ratios both/off and both/gso, and the load
# average before and after. Needs root (network namespaces); exits 77
# without it. Not a test.
#
# usage: bench_offload.sh [-n MIB] [-r RUNS] [-c CC]
#   -n bytes per run in MiB (default 256)   -r runs per mode (default 3)
#   -c congestion control (default: bench_transport's, cubic)
# Environment: BENCH_TRANSPORT (default: bench/bench_transport in the build
# tree, $abs_top_builddir or the current directory).
set -u

MIB=256
RUNS=3
CC=cubic
while getopts n:r:c: opt; do
	case $opt in
	n) MIB=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	c) CC=$OPTARG ;;
	*)
		sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d' >&2
		exit 2
		;;
	esac
done

BT=${BENCH_TRANSPORT:-${abs_top_builddir:-.}/bench/bench_transport}
if [ ! -x "$BT" ]; then
	echo "bench_offload: $BT not found: run 'make bench/bench_transport'" \
		"in the build tree, or set BENCH_TRANSPORT" >&2
	exit 2
fi
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; then
	echo "bench_offload: SKIP: needs root and iproute2 (network namespaces)" >&2
	exit 77
fi

NS=maoff$$
VA=moa$$
VB=mob$$
NET=10.97.$(($$ % 250)).
cleanup() {
	ip link del "$VA" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NS" || exit 1
ip link add "$VA" type veth peer name "$VB" || exit 1
ip link set "$VB" netns "$NS" &&
	ip addr add "${NET}1/24" dev "$VA" &&
	ip link set "$VA" mtu 1500 up &&
	ip -n "$NS" addr add "${NET}2/24" dev "$VB" &&
	ip -n "$NS" link set "$VB" mtu 1500 up &&
	ip -n "$NS" link set lo up || exit 1

OUT=$(mktemp) || exit 1
trap 'rm -f "$OUT"; cleanup' EXIT
echo "# $MIB MiB per run, 1452-byte datagrams, veth MTU 1500, cc $CC," \
	"$RUNS runs per mode; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run=1
while [ "$run" -le "$RUNS" ]; do
	for mode in off gso both; do
		case $mode in
		off) g=0 r=0 ;;
		gso) g=1 r=0 ;;
		both) g=1 r=1 ;;
		esac
		line=$(MA_UDP_GSO=$g MA_UDP_GRO=$r "$BT" -S "$NS" -A "${NET}2" \
			-u 1452 -n "$MIB" -r 1 -B -c "$CC" 2>&1 |
			grep 'quic/h3 .*median')
		# "quic/h3 median 141.1 MB/s (cpu s: server 0.29, client 0.37;
		#  per GiB: server 1.15, client 1.48)"
		set -- $(echo "$line" | sed 's/[(),;:]/ /g')
		if [ $# -lt 16 ]; then
			echo "run $run $mode: bench_transport failed: $line" >&2
			exit 1
		fi
		echo "$mode $3 ${14} ${16}" >>"$OUT"
		printf 'run %d %-4s %7.1f MB/s  cpu s/GiB server %.2f client %.2f\n' \
			"$run" "$mode" "$3" "${14}" "${16}"
	done
	run=$((run + 1))
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
med() { # mode column
	awk -v m="$1" -v c="$2" '$1 == m { print $c }' "$OUT" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2];
			else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
for mode in off gso both; do
	printf 'median %-4s %7.1f MB/s  cpu s/GiB server %.2f client %.2f\n' \
		"$mode" "$(med $mode 2)" "$(med $mode 3)" "$(med $mode 4)"
done
awk -v b="$(med both 2)" -v o="$(med off 2)" -v g="$(med gso 2)" \
	-v bs="$(med both 3)" -v bc="$(med both 4)" \
	-v os="$(med off 3)" -v oc="$(med off 4)" \
	-v gs="$(med gso 3)" -v gc="$(med gso 4)" 'BEGIN {
	printf "ratio MB/s both/off %.2f both/gso %.2f\n", b / o, b / g
	printf "ratio cpu s/GiB (server+client) both/off %.2f both/gso %.2f\n",
		(bs + bc) / (os + oc), (bs + bc) / (gs + gc)
}'
