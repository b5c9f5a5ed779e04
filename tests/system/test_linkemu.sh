#!/bin/sh
# Fidelity of the link emulator (tests/tools/linkemu via linkemu.sh): the
# link must behave like the one configured before any figure measured
# across it means anything.
#   - ping RTT over 10 ms each way is 20 ms (+ a small scheduling margin);
#   - a Reno TCP transfer over 20 ms RTT and 1 % loss each way runs at the
#     Mathis bound MSS/RTT * 1.22/sqrt(p) within a factor of two, and the
#     relay dropped about 1 % of the packets;
#   - a 50 Mbit/s rate limit carries TCP at 50 Mbit/s on the wire (+-15 %)
#     and its queue never holds more than the packets configured;
#   - UDP (udpprobe): --burst-max caps runs of random loss; Gilbert-Elliott
#     loss comes in bursts; --drop-index drops exactly those packets; --corrupt
#     delivers datagrams with one byte changed among the first 51 of the
#     payload; jitter keeps the order unless --reorder; a blackhole drops
#     whole stretches; port and address rebinding show the server new
#     source ports/addresses every period while the echoes still return.
# Needs root, iproute2 and /dev/net/tun; ping (iputils-ping) for the first
# check. Skips cleanly otherwise. About 30 s.
. "$abs_top_srcdir/tests/integration/lib.sh"
. "$abs_top_srcdir/tests/tools/linkemu.sh"

LINKEMU="$abs_top_builddir/tests/tools/linkemu"
TCPBLAST="$abs_top_builddir/tests/tools/tcpblast"
UDPPROBE="$abs_top_builddir/tests/tools/udpprobe"

plan 16
skip_all() {
	while [ "$T_NUM" -lt 16 ]; do skip "$1"; done
	exit 0
}
why=$(linkemu_check)
[ -z "$why" ] || skip_all "$why"
[ -x "$TCPBLAST" ] && [ -x "$UDPPROBE" ] ||
	skip_all "tcpblast or udpprobe not built (make check builds them)"
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
	ip netns exec "$LE_NS_A" "$TCPBLAST" recv --listen "$LE_ADDR_A:0" --port-file "$TMP/$1.port" \
		--timeout 30 >"$TMP/$1.recv" 2>&1 &
	rpid=$!
	T_PIDS="$T_PIDS $rpid"
	wait_until 5 test -s "$TMP/$1.port" || return 1
	le_b "$TCPBLAST" send --connect "$LE_ADDR_A:$(cat "$TMP/$1.port")" \
		--bytes "$2" --cc "${CC:-reno}" --timeout 30 >"$TMP/$1.out" 2>&1
	brc=$?
	wait_pid "$rpid"
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
# A queue of about two BDPs, so that cubic keeps the link busy through its
# loss recoveries and the transfer measures the link, not TCP.
linkemu_up --delay-ms 5 --rate-kbit 50000 --queue 100 || skip_all "cannot build the emulated link"
CC=cubic blast rate 16000000
rc=$?
linkemu_down
if [ $rc -ne 0 ]; then
	not_ok "TCP transfer over the 50 Mbit/s link failed"
	not_ok "queue bound"
	not_ok "bytes on the wire"
else
	t=$(field rate seconds)
	# Goodput carries MSS of every MSS + 52 bytes on the wire (TCP with
	# timestamps); the link's rate counts whole IP packets. One RTT of
	# handshake and slow start's few RTTs are in the time: at most 2 %.
	rate=$(awk -v t="$t" -v m="$(field rate mss)" \
		'BEGIN { printf "%.0f", 16000000 * 8 / t * (m + 52) / m }')
	diag "50 Mbit/s link: 16 MB in $t s: $rate bit/s on the wire; $(cat "$TMP/rate.out")"
	check "rate limit: $rate bit/s within 15 % of 50 Mbit/s" \
		awk -v r="$rate" 'BEGIN { exit !(r >= 42500000 && r <= 57500000) }'
	mq=$(le_stat ba_max_queue "$TMP/stats")
	check "the queue held at most its 100 packets (max $mq)" test "$mq" -le 100 -a "$mq" -gt 0
	fwd=$(le_stat ba_bytes_forwarded "$TMP/stats")
	check "the relay forwarded at least the transfer's bytes ($fwd)" \
		test "$fwd" -ge 16000000
fi

# probe NAME COUNT INTERVAL_MS [LINKEMU OPTION...]: a link with those
# options, COUNT datagrams from A to B's echo server; the echo server's
# lines in $TMP/NAME.echo, the sender's summary in $TMP/NAME.send, the
# relay's counters in $TMP/NAME.stats.
probe() {
	pn=$1 pc=$2 pi=$3
	shift 3
	LE_STATS_OUT=$TMP/$pn.stats
	linkemu_up "$@" || return 1
	rm -f "$TMP/$pn.port"
	ip netns exec "$LE_NS_B" "$UDPPROBE" echo --listen "$LE_ADDR_B:0" --port-file "$TMP/$pn.port" \
		--timeout 15 >"$TMP/$pn.echo" 2>&1 &
	epid=$!
	T_PIDS="$T_PIDS $epid"
	wait_until 5 test -s "$TMP/$pn.port" || return 1
	le_a "$UDPPROBE" send --connect "$LE_ADDR_B:$(cat "$TMP/$pn.port")" \
		--count "$pc" --interval-ms "$pi" --timeout 15 >"$TMP/$pn.send" 2>&1
	kill "$epid" 2>/dev/null
	wait_pid "$epid" 2>/dev/null
	linkemu_down
}
seqs() { awk '$1 == "seq" { printf "%s ", $2 }' "$TMP/$1.echo"; }
echoed() { awk '{ print $4 }' "$TMP/$1.send"; }

# gaps NAME: "LOST RUNS LONGEST" over the 500 sequence numbers sent.
gaps() {
	awk '$1 == "seq" { got[$2] = 1 }
		END { for (i = 0; i < 500; i++)
			if (!got[i]) { lost++; run++; if (run == 1) runs++; if (run > max) max = run }
			else run = 0
		      print lost + 0, runs + 0, max + 0 }' "$TMP/$1.echo"
}
probe burst 500 1 --ab-loss 30 --ab-burst-max 2 --seed 11
set -- $(gaps burst)
diag "--loss 30 --burst-max 2: $1 of 500 lost in $2 runs, the longest $3"
check "--burst-max 2 caps runs of loss at 2 ($1 lost, longest run $3)" \
	test "$3" -eq 2 -a "$1" -ge 75 -a "$1" -le 175
probe ge 500 1 --ab-ge 5,30,0,100 --seed 11
set -- $(gaps ge)
diag "--ge 5,30,0,100: $1 of 500 lost in $2 runs, the longest $3 (random loss at this rate: runs of about 1.2)"
check "Gilbert-Elliott loss comes in bursts: $1 lost (5-25 % expected), $2 runs averaging 2 or more" \
	test "$1" -ge 25 -a "$1" -le 125 -a "$2" -gt 0 -a "$1" -ge $((2 * $2))

probe dropidx 10 20 --ab-drop-index 1,2,5
got=$(seqs dropidx)
check "--ab-drop-index 1,2,5 drops exactly packets 1, 2 and 5 (B got seqs: $got)" \
	test "$got" = "2 3 5 6 7 8 9 "

probe corrupt 200 2 --ab-corrupt 50 --seed 3
n=$(grep -c '^seq' "$TMP/corrupt.echo")
bad=$(awk '$1 == "seq" && $8 != 0' "$TMP/corrupt.echo" | wc -l)
relay=$(le_stat ab_corrupted "$TMP/corrupt.stats")
diag "--ab-corrupt 50: $n of 200 delivered, $bad corrupted (relay: $relay)"
check "corrupted datagrams are delivered: all 200 arrive, $bad (relay says $relay) corrupted, 60-140 expected" \
	test "$n" -eq 200 -a "$bad" -ge 60 -a "$bad" -le 140 -a "$bad" -eq "${relay:-x}"
check "each corrupted datagram has exactly one byte changed, among the first 51 of the payload" \
	awk '$1 == "seq" && $8 != 0 && ($8 != 1 || $10 < 0 || $10 > 50) { bad = 1; print } END { exit bad }' \
	"$TMP/corrupt.echo"

inorder() { awk '$1 == "seq" { if (NR > 1 && $2 <= last) n++; last = $2 } END { print n + 0 }' "$TMP/$1.echo"; }
probe jitter 200 1 --delay-ms 5 --jitter-ms 4 --seed 5
probe reorder 200 1 --delay-ms 5 --jitter-ms 4 --reorder --seed 5
diag "jitter 4 ms on 1 ms spacing: $(inorder jitter) out of order; with --reorder $(inorder reorder)"
check "jitter without --reorder keeps the order (all 200 arrive in order)" \
	test "$(grep -c '^seq' "$TMP/jitter.echo")" -eq 200 -a "$(inorder jitter)" -eq 0
check "jitter with --reorder reorders" test "$(inorder reorder)" -gt 0

probe blackhole 100 10 --blackhole 300:300
n=$(grep -c '^seq' "$TMP/blackhole.echo")
# Runs of missing sequence numbers: each down period is one.
runs=$(awk '$1 == "seq" { if ($2 != last + 1 && NR > 1) r++; last = $2 } END { print r + 0 }' \
	"$TMP/blackhole.echo")
diag "--blackhole 300:300 over 1 s of datagrams: $n of 100 arrived, $runs gaps"
check "a 300 ms on / 300 ms off blackhole drops 25-75 % in 1-3 whole stretches" \
	test "$n" -ge 25 -a "$n" -le 75 -a "$runs" -ge 1 -a "$runs" -le 3

probe rebport 100 15 --rebind-port-ms 400
ports=$(awk '$1 == "seq" { split($4, a, ":"); print a[1], a[2] }' "$TMP/rebport.echo" | sort -u)
np=$(echo "$ports" | awk '{ print $2 }' | sort -u | wc -l)
na=$(echo "$ports" | awk '{ print $1 }' | sort -u)
diag "--rebind-port-ms 400 over 1.5 s: source ports seen by B: $(echo "$ports" | awk '{ printf "%s ", $2 }'); echoes $(echoed rebport)"
check "port rebinding: B sees 3 or more source ports from $LE_ADDR_A, and 95+ of 100 echoes return" \
	test "$np" -ge 3 -a "$na" = "$LE_ADDR_A" -a "$(echoed rebport)" -ge 95

probe rebaddr 100 15 --rebind-addr-ms 400
addrs=$(awk '$1 == "seq" { split($4, a, ":"); print a[1] }' "$TMP/rebaddr.echo" | sort -u)
nad=$(echo "$addrs" | grep -c '^10\.77\.0\.')
diag "--rebind-addr-ms 400 over 1.5 s: source addresses seen by B: $(echo $addrs); echoes $(echoed rebaddr)"
check "address rebinding: B sees 3 or more source addresses in 10.77.0.0/24, and 95+ of 100 echoes return" \
	test "$nad" -ge 3 -a "$nad" -eq "$(echo "$addrs" | wc -l)" -a "$(echoed rebaddr)" -ge 95
finish
