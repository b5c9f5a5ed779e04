#!/bin/sh
# Fidelity of the link emulator (tests/tools/linkemu via linkemu.sh): the
# link must behave like the one configured before any figure measured
# across it means anything.
#   - ping RTT over 10 ms each way is 20 ms (+ a small scheduling margin);
#   - a Reno TCP transfer over 20 ms RTT and 1 % loss each way runs at the
#     Mathis bound MSS/RTT * 1.22/sqrt(p) within a factor of two, and the
#     relay dropped about 1 % of the packets;
#   - a 50 Mbit/s rate limit with a 25-packet queue carries TCP at 50 Mbit/s
#     on the wire (+-15 %, from the slope between two transfer sizes, so
#     the handshake and slow start cancel out) and never queues more than
#     25 packets.
# Needs root, iproute2 and /dev/net/tun; ping (iputils-ping) for the first
# check. Skips cleanly otherwise. About 15 s.
. "$abs_top_srcdir/tests/integration/lib.sh"
. "$abs_top_srcdir/tests/tools/linkemu.sh"

LINKEMU="$abs_top_builddir/tests/tools/linkemu"
TCPBLAST="$abs_top_builddir/tests/tools/tcpblast"

plan 6
skip_all() {
	while [ "$T_NUM" -lt 6 ]; do skip "$1"; done
	exit 0
}
why=$(linkemu_check)
[ -z "$why" ] || skip_all "$why"
[ -x "$TCPBLAST" ] || skip_all "tcpblast not built (make check builds it)"
trap 'linkemu_down; cleanup' EXIT
LE_STATS_OUT=$TMP/stats

# ---- ping RTT ----
if ! command -v ping >/dev/null 2>&1; then
	skip "ping not installed (scripts/setup.sh installs iputils-ping)"
else
	linkemu_up --delay-ms 10 || skip_all "cannot build the emulated link"
	le_a ping -n -c 20 -i 0.05 -q "$LE_ADDR_B" >"$TMP/ping.out" 2>&1
	linkemu_down
	# rtt min/avg/max/mdev = 20.293/20.535/21.759/0.432 ms
	rtt=$(sed -n 's|.*= \([0-9.]*\)/\([0-9.]*\)/.*|\1 \2|p' "$TMP/ping.out")
	diag "ping over 10 ms each way: min/avg RTT ${rtt:-none} ms"
	check "ping RTT over 10 ms each way: min >= 20 ms, avg <= 23 ms" \
		awk -v r="$rtt" 'BEGIN { split(r, v, " ");
			exit !(r != "" && v[1] >= 20 && v[2] <= 23) }'
fi

# blast NAME BYTES: one tcpblast transfer from B to A (the server sends, as
# in a bootstrap), its result line in $TMP/NAME.out.
blast() {
	rm -f "$TMP/$1.port"
	le_a "$TCPBLAST" recv --listen "$LE_ADDR_A:0" --port-file "$TMP/$1.port" \
		--timeout 30 >"$TMP/$1.recv" 2>&1 &
	rpid=$!
	T_PIDS="$T_PIDS $rpid"
	wait_until 5 test -s "$TMP/$1.port" || return 1
	le_b "$TCPBLAST" send --connect "$LE_ADDR_A:$(cat "$TMP/$1.port")" \
		--bytes "$2" --cc "${CC:-reno}" --timeout 30 >"$TMP/$1.out" 2>&1
	brc=$?
	wait "$rpid"
	[ $brc -eq 0 ] || { sed 's/^/# /' "$TMP/$1.out"; return 1; }
}
field() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' "$TMP/$1.out"; }

# ---- loss: the Mathis bound ----
linkemu_up --delay-ms 10 --loss 1 --seed 7 || skip_all "cannot build the emulated link"
CC=reno blast mathis 3000000
rc=$?
linkemu_down
if [ $rc -ne 0 ]; then
	not_ok "Reno transfer over 20 ms RTT and 1 % loss failed"
	not_ok "relay loss rate"
else
	bps=$(field mathis rate_bps)
	mss=$(field mathis mss)
	bound=$(awk -v m="$mss" 'BEGIN { printf "%.0f", m * 8 / 0.020 * 1.22 / sqrt(0.01) }')
	diag "Reno over 20 ms RTT, 1 % loss: $bps bit/s, Mathis bound $bound bit/s (MSS $mss); $(cat "$TMP/mathis.out")"
	check "Reno throughput $bps bit/s is within 0.5x-2x of the Mathis bound $bound bit/s" \
		awk -v b="$bps" -v m="$bound" 'BEGIN { exit !(b >= m / 2 && b <= m * 2) }'
	sent=$(le_stat ba_received "$TMP/stats")
	lost=$(le_stat ba_dropped_loss "$TMP/stats")
	diag "relay B->A: $lost of $sent packets dropped"
	check "the relay dropped 0.4-1.8 % of the data packets ($lost of $sent)" \
		awk -v l="$lost" -v s="$sent" 'BEGIN { exit !(s > 1000 && l >= s * 0.004 && l <= s * 0.018) }'
fi

# ---- rate limit with a bounded queue ----
linkemu_up --delay-ms 5 --rate-kbit 50000 --queue 25 || skip_all "cannot build the emulated link"
CC=cubic blast small 4000000 && CC=cubic blast large 16000000
rc=$?
linkemu_down
if [ $rc -ne 0 ]; then
	not_ok "TCP transfers over the 50 Mbit/s link failed"
	not_ok "queue bound"
	not_ok "bytes on the wire"
else
	ts=$(field small seconds)
	tl=$(field large seconds)
	# Goodput carries 1448 of every 1500 bytes on the wire (TCP with
	# timestamps); the link's rate counts whole IP packets.
	rate=$(awk -v a="$ts" -v b="$tl" -v m="$(field large mss)" \
		'BEGIN { printf "%.0f", 12000000 * 8 / (b - a) * (m + 52) / m }')
	diag "50 Mbit/s link: 4 MB in $ts s, 16 MB in $tl s: $rate bit/s on the wire"
	check "rate limit: $rate bit/s within 15 % of 50 Mbit/s" \
		awk -v r="$rate" 'BEGIN { exit !(r >= 42500000 && r <= 57500000) }'
	mq=$(le_stat ba_max_queue "$TMP/stats")
	check "the queue never held more than 25 packets (max $mq)" test "$mq" -le 25 -a "$mq" -gt 0
	fwd=$(le_stat ba_bytes_forwarded "$TMP/stats")
	check "the relay forwarded at least the bytes of both transfers ($fwd)" \
		test "$fwd" -ge 20000000
fi
finish
