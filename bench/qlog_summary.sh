#!/bin/sh
# qlog_summary.sh: what a QUIC connection did, interval by interval, from
# the qlog that serve or follow write with MA_QLOG_DIR (ngtcp2's JSON-SEQ,
# one event per line; docs/OPERATIONS.md "Across a WAN"). Not a test.
#
# usage: qlog_summary.sh [-i MS] FILE.sqlog
#   -i interval in milliseconds (default 1000)
#
# Per interval: the MB/s this end put on the wire (every packet it sent,
# retransmissions included), packets sent, packets it declared lost, the
# congestion window's low and high, the most bytes in flight, the last
# smoothed RTT (ms) and the packets received; then the totals. On the
# sending end a congestion window that falls while the RTT stays at the
# path's minimum and losses stay at the link's rate is the controller's
# loss response, not a queue (docs/DECISIONS.md, "WAN (issue 12)").
set -u
IV=1000
while getopts i: opt; do
	case $opt in
	i) IV=$OPTARG ;;
	*)
		sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d' >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ] || [ ! -r "$1" ]; then
	echo "qlog_summary: give one readable qlog file (see -h)" >&2
	exit 2
fi
grep -q '"qlog_format":"JSON-SEQ"' "$1" || {
	echo "qlog_summary: $1 is not a JSON-SEQ qlog (MA_QLOG_DIR writes them)" >&2
	exit 2
}

awk -v iv="$IV" '
function num(key,   s) {
	if (!match($0, "\"" key "\":[0-9]+"))
		return -1
	s = substr($0, RSTART, RLENGTH)
	sub(/.*:/, "", s)
	return s + 0
}
{
	t = num("time")
	if (t < 0)
		next
	b = int(t / iv)
	if (b > last)
		last = b
	seen[b] = 1
}
/"name":"transport:packet_sent"/ {
	n = num("length")
	if (match($0, /"raw":\{"length":[0-9]+/)) {
		s = substr($0, RSTART, RLENGTH)
		sub(/.*:/, "", s)
		n = s + 0
	}
	bytes[b] += n; pkts[b]++; tb += n; tp++
	next
}
/"name":"transport:packet_received"/ { rx[b]++; trx++; next }
/"name":"recovery:packet_lost"/ { lost[b]++; tl++; next }
/"name":"recovery:metrics_updated"/ {
	c = num("congestion_window")
	if (c >= 0) {
		if (!(b in cmin) || c < cmin[b]) cmin[b] = c
		if (c > cmax[b]) cmax[b] = c
	}
	f = num("bytes_in_flight")
	if (f > inf[b]) inf[b] = f
	r = num("smoothed_rtt")
	if (r >= 0) rtt[b] = r
}
END {
	printf "%8s %7s %6s %5s %9s %9s %9s %6s %6s\n", "t_ms", "MB/s",
	    "sent", "lost", "cwnd_min", "cwnd_max", "inflight", "srtt", "recv"
	for (i = 0; i <= last; i++) {
		if (!(i in seen))
			continue
		printf "%8d %7.2f %6d %5d %9d %9d %9d %6d %6d\n", i * iv,
		    bytes[i] / iv / 1000, pkts[i], lost[i], cmin[i], cmax[i],
		    inf[i], rtt[i], rx[i]
	}
	printf "total: %d packets sent (%.1f MB), %d declared lost (%.2f %%), %d received\n",
	    tp, tb / 1e6, tl, tp ? 100 * tl / tp : 0, trx
}' "$1"
