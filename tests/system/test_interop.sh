#!/bin/sh
# The QUIC interop runner's hard cases (quic-interop-runner, testcases.py),
# each under the runner's link conditions and pass rule, through the link
# emulator (tests/tools/linkemu via linkemu.sh) with the product path: the
# real `serve` (namespace B) and `follow --exit-when-following` (namespace
# A) bootstrapping a snapshot. The runner's default link is 15 ms each way,
# 10 Mbit/s, a 25-packet queue; every case uses it unless it says otherwise.
#
#   transferloss       2 % loss each way, bursts <= 3; 2 MiB: byte-identical
#                      on one connection.
#   transfercorruption 2 % of datagrams each way get one byte changed among
#                      the first 51 of the UDP payload and are delivered;
#                      2 MiB: byte-identical on one connection.
#   handshakeloss      30 % loss each way, bursts <= 3; 50 follows of a tiny
#                      snapshot (25 at a time): every one completes; an
#                      attempt that fails ran out of time (follow's idle or
#                      handshake timeout, serve's 5 s handshake timeout)
#                      and follow then tried again.
#   blackhole          5 s on / 2 s off during a 10 MiB bootstrap: byte-
#                      identical on one connection.
#   keyupdate          the client initiates a key update within the first
#                      MiB (test knob MA_TEST_KEY_UPDATE_BYTES, a build with
#                      --enable-fault-injection) and a second one later,
#                      which ngtcp2 allows only once the server acknowledged
#                      a packet under the new keys; 2 MiB byte-identical.
#   longrtt            750 ms each way (1.5 s RTT): the client sends its
#                      Initial again before anything from the server reaches
#                      it (the relay's trace of QUIC packet kinds).
#   amplificationlimit the client's datagrams 2-7 dropped, the server's
#                      certificate padded to about 6 KB (the runner uses a
#                      chain of 9): until the server has validated the
#                      client's address (a Retry token, or a Handshake packet
#                      from it) it never sent more than 3x the UDP payload
#                      bytes it had received (the relay's trace).
#   rebind-port        the client's port (NAT) changes every 5 s during a
#   rebind-addr        10 MiB bootstrap, or its address: the server follows
#                      the new path (its connection counts the path changes)
#                      and the bootstrap completes on the same connection
#                      (one "connected" in follow's log, one connection in
#                      serve's).
#   crosstraffic       a 10 MiB bootstrap while a TCP cubic flow (tcpblast)
#                      crosses the same link in the same direction: over the
#                      bootstrap's time each has at least CROSS_MIN_SHARE of
#                      the link (default 0.2; an even share is 0.5).
#
# The cases run at once, each on its own link in its own namespaces, so the
# whole file takes about as long as its slowest case (blackhole, about
# 15-20 s). INTEROP_CASES="blackhole longrtt" runs some only; INTEROP_FULL=1
# uses the runner's own counts where this file is smaller (handshakeloss
# runs 50 either way; crosstraffic then 25 MiB); INTEROP_SEED fixes the
# relay's random seed (default: the case's number). Needs root, `ip`,
# /dev/net/tun and openssl; skips cleanly otherwise.
. "$abs_top_srcdir/tests/integration/lib.sh"
. "$abs_top_srcdir/tests/tools/linkemu.sh"

LINKEMU="$abs_top_builddir/tests/tools/linkemu"
TCPBLAST="$abs_top_builddir/tests/tools/tcpblast"
ALL_CASES="transferloss transfercorruption handshakeloss blackhole keyupdate
longrtt amplificationlimit rebind-port rebind-addr crosstraffic"
CASES=${INTEROP_CASES:-$ALL_CASES}
CROSS_MIN_SHARE=${CROSS_MIN_SHARE:-0.2}
# The runner's default link.
RUNNER_LINK="--delay-ms 15 --rate-kbit 10000 --queue 25"

# points CASE: how many test points a case reports.
points() { echo 3; }
total=0
for c in $CASES; do
	case " $(echo $ALL_CASES) " in
	*" $c "*) ;;
	*)
		echo "Bail out! unknown case '$c' (one of: $(echo $ALL_CASES))"
		exit 1
		;;
	esac
	total=$((total + $(points "$c")))
done
plan "$total"
skip_all() {
	while [ "$T_NUM" -lt "$total" ]; do skip "$1"; done
	exit 0
}
why=$(linkemu_check)
[ -z "$why" ] || skip_all "$why"
[ -x "$TCPBLAST" ] || skip_all "tcpblast not built (make check builds it)"
command -v openssl >/dev/null 2>&1 || skip_all "openssl not installed"

# Every case's namespaces carry this shell's pid: whatever a case left
# behind (killed mid-way) goes at exit.
interop_cleanup() {
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep "^ma-le-$$-"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	cleanup
}
trap interop_cleanup EXIT

gen_certs
# mkspool NAME BYTES: a spool with a snapshot of BYTES at index 100 and 100
# entries after it.
mkspool() {
	"$SPOOLGEN" init "$TMP/src/$1" --database "$1" >/dev/null &&
		"$SPOOLGEN" append "$TMP/src/$1" --from 1 --count 100 --term 1 >/dev/null &&
		"$SPOOLGEN" snapshot "$TMP/src/$1" --index 100 --term 1 --size "$2" --seed 3 >/dev/null &&
		"$SPOOLGEN" append "$TMP/src/$1" --count 100 --term 1 >/dev/null ||
		{
			echo "Bail out! spoolgen failed for $1"
			exit 1
		}
}
mkspool small 2048
mkspool mib2 $((2 * 1024 * 1024))
mkspool mib10 $((10 * 1024 * 1024))
cross_mib=10
[ "${INTEROP_FULL:-0}" = 1 ] && cross_mib=25
[ $cross_mib = 10 ] || mkspool cross $((cross_mib * 1024 * 1024))
cross_db=mib10
[ $cross_mib = 10 ] || cross_db=cross

# A server certificate padded with 16 SANs of 250 characters (about 6 KB),
# as the runner's amplification case makes the server's first flight large.
padded_cert() {
	pad=""
	i=0
	while [ $i -lt 16 ]; do
		i=$((i + 1))
		pad="$pad,DNS:$(head -c 400 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 240).pad$i.invalid"
	done
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/big.key" 2>/dev/null &&
		openssl req -new -key "$PKI/big.key" -subj "/O=mirror-agent test/CN=localhost" \
			-out "$PKI/big.csr" 2>/dev/null &&
		printf '%s\n' "basicConstraints=critical,CA:FALSE" \
			"keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
			"subjectAltName=DNS:localhost,IP:127.0.0.1$pad" >"$PKI/big.ext" &&
		openssl x509 -req -in "$PKI/big.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
			-CAcreateserial -days 2 -sha256 -extfile "$PKI/big.ext" -out "$PKI/big.pem" 2>/dev/null &&
		chmod 600 "$PKI/big.key"
}
padded_cert || {
	echo "Bail out! cannot make the padded server certificate"
	exit 1
}

now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# ---- inside a case (a background subshell; results in $R) ----
r_ok() { echo "ok $*" >>"$R"; }
r_not() { echo "not ok $*" >>"$R"; }
r_diag() { echo "# $*" >>"$R"; }
# r_check NAME COMMAND...
r_check() {
	rc_name=$1
	shift
	if "$@" >"$TMP/$C.check" 2>&1; then
		r_ok "$rc_name"
	else
		r_not "$rc_name"
		sed 's/^/# /' "$TMP/$C.check" | tail -n 10 >>"$R"
	fi
}

# link [LINKEMU OPTION...]: the case's link; its counters in $TMP/$C.stats
# after link_down, its trace (when asked with --trace-file) where asked.
link() {
	LE_STATS_OUT=$TMP/$C.stats
	linkemu_up "$@" --seed "${INTEROP_SEED:-$CASE_NO}" 2>"$TMP/$C.linkerr"
}
cnt() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/$C.stats"; }

# serve_b DB [serve option...]: serve for spool DB in namespace B, debug
# log (the connection's counters at its end); sets PORT.
serve_b() {
	sb_db=$1
	shift
	ip netns exec "$LE_NS_B" "$AGENT" serve --listen "$LE_ADDR_B:0" \
		--port-file "$TMP/$C.port" --client-ca "$PKI/ca.pem" \
		--database "$sb_db=$TMP/src/$sb_db" --allow "mirror-1=$sb_db" \
		--log-level debug --cert "$PKI/${SB_CERT:-server}.pem" \
		--key "$PKI/${SB_CERT:-server}.key" \
		"$@" >"$TMP/$C-serve.log" 2>&1 &
	SERVE=$!
	wait_until 20 test -s "$TMP/$C.port" || return 1
	PORT=$(cat "$TMP/$C.port")
}

# follow_a TAG DB SECONDS: one bootstrap from namespace A into a data dir
# of its own; sets FRC (exit status) and FMS (milliseconds).
follow_a() {
	fa_t0=$(now_ms)
	ip netns exec "$LE_NS_A" timeout "$3" "$AGENT" follow --data-dir "$TMP/$1-mirror" \
		--source "$LE_ADDR_B:$PORT" $(follow_tls) \
		--database "$2" --exit-when-following --log-level debug \
		>"$TMP/$1-follow.log" 2>&1
	FRC=$?
	FMS=$(($(now_ms) - fa_t0))
}

# identical TAG DB: the mirror's snapshot and entries equal the source's.
identical() {
	cmp "$TMP/src/$2/snapshots/100-1.snapshot" "$TMP/$1-mirror/$2/snapshots/100-1.snapshot" &&
		"$AGENT" wal dump "$TMP/src/$2/wal" --from 101 >"$TMP/$1.src.dump" &&
		"$AGENT" wal dump "$TMP/$1-mirror/$2/wal" --from 101 >"$TMP/$1.mir.dump" &&
		[ "$(wc -l <"$TMP/$1.src.dump")" -eq 100 ] &&
		cmp "$TMP/$1.src.dump" "$TMP/$1.mir.dump"
}

# connections TAG: "CLIENT SERVER": the connections follow made (its
# "connected to" lines) and those serve closed (its connection counters).
connections() {
	echo "$(grep -c 'connected to ' "$TMP/$1-follow.log")" \
		"$(grep -c 'transport: server connection stats' "$TMP/$C-serve.log")"
}
# path_changes: the path changes serve's connections counted, summed.
path_changes() {
	sed -n 's/.*server connection stats.* \([0-9]*\) path changes.*/\1/p' "$TMP/$C-serve.log" |
		awk '{ s += $1 } END { print s + 0 }'
}

# one_bootstrap DB SECONDS: follow once; waits for serve to log the end of
# the connection (follow closes it as it exits); the first two points:
# Following byte-identical, and on one connection.
one_bootstrap() {
	follow_a "$C" "$1" "$2"
	# follow sends its CONNECTION_CLOSE once as it exits; on a lossy or
	# corrupting link it can be lost, and serve then ends the connection
	# at its idle timeout (30 s): wait for that, not less.
	wait_until 40 grep -q 'server connection stats' "$TMP/$C-serve.log"
	r_diag "$C: bootstrap of $1 in $FMS ms (follow exit $FRC)"
	if [ "$FRC" -eq 0 ] && identical "$C" "$1"; then
		r_ok "$C: the mirror reaches Following, snapshot and entries byte-identical"
	else
		r_not "$C: follow exit $FRC, or the mirror differs from the source"
		tail -n 8 "$TMP/$C-follow.log" | sed 's/^/# /' >>"$R"
	fi
	set -- $(connections "$C")
	r_check "$C: one connection (follow connected $1 time(s), serve closed $2)" \
		test "$1" -eq 1 -a "$2" -eq 1
}

# ---- the cases ----
case_transferloss() {
	link $RUNNER_LINK --loss 2 --burst-max 3 || return 1
	serve_b mib2 || return 1
	one_bootstrap mib2 60
	linkemu_down
	r_check "transferloss: the link dropped 1-3.5 % each way ($(cnt ab_dropped_loss)/$(cnt ab_received) A->B, $(cnt ba_dropped_loss)/$(cnt ba_received) B->A)" \
		awk -v a="$(cnt ab_dropped_loss)" -v an="$(cnt ab_received)" \
		-v b="$(cnt ba_dropped_loss)" -v bn="$(cnt ba_received)" \
		'BEGIN { exit !(a > 0 && b >= bn * 0.01 && b <= bn * 0.035 && bn > 1000) }'
}

case_transfercorruption() {
	link $RUNNER_LINK --corrupt 2 || return 1
	serve_b mib2 || return 1
	one_bootstrap mib2 60
	linkemu_down
	r_check "transfercorruption: corrupted datagrams were delivered each way ($(cnt ab_corrupted) A->B, $(cnt ba_corrupted) B->A of $(cnt ba_received))" \
		awk -v a="$(cnt ab_corrupted)" -v b="$(cnt ba_corrupted)" -v bn="$(cnt ba_received)" \
		'BEGIN { exit !(a > 0 && b >= bn * 0.01 && b <= bn * 0.035) }'
}

case_handshakeloss() {
	link $RUNNER_LINK --loss 30 --burst-max 3 || return 1
	serve_b small --set serve.max_handshakes_per_address=32 || return 1
	t0=$(now_ms)
	n=0
	while [ $n -lt 50 ]; do
		k=0
		batch=""
		while [ $k -lt 25 ]; do
			n=$((n + 1))
			k=$((k + 1))
			(
				follow_a "$C-$n" small 90
				echo "$FRC $FMS" >"$TMP/$C-$n.rc"
			) &
			batch="$batch $!"
		done
		# Not a bare wait: the relay is this shell's child too.
		for p in $batch; do wait_pid "$p" 100; done
	done
	ms=$(($(now_ms) - t0))
	linkemu_down
	done=0 conns=0 worst=0
	n=0
	while [ $n -lt 50 ]; do
		n=$((n + 1))
		set -- $(cat "$TMP/$C-$n.rc" 2>/dev/null || echo "x 0")
		[ "$1" = 0 ] && identical "$C-$n" small && done=$((done + 1))
		[ "$2" -gt "$worst" ] && worst=$2
		conns=$((conns + $(grep -c 'connected to ' "$TMP/$C-$n-follow.log")))
	done
	r_diag "$C: 50 bootstraps in $ms ms, the slowest $worst ms"
	r_check "handshakeloss: all 50 mirrors reached Following byte-identical ($done)" test $done -eq 50
	# With 30 % loss some attempts run out of time: every Initial (or
	# every answer) lost until follow's 10 s idle timeout, a handshake
	# still incomplete at follow's 10 s handshake timeout, or at serve's
	# 5 s one (serve closes it: "handshake not completed in time"; follow
	# then reports the peer's close during the handshake). follow tries
	# again and completes. Any failed attempt for another reason (a TLS
	# or protocol error) is a defect.
	cat "$TMP/$C"-*-follow.log >"$TMP/$C.all"
	retried=$(grep -c 'reconnecting' "$TMP/$C.all")
	idle=$(grep 'reconnecting' "$TMP/$C.all" | grep -c 'idle timeout: no packets from the peer')
	hst=$(grep 'reconnecting' "$TMP/$C.all" | grep -c 'handshake timed out')
	pcl=$(grep 'reconnecting' "$TMP/$C.all" | grep -c 'peer closed the connection during the handshake')
	srv=$(grep -c 'closed: handshake not completed in time' "$TMP/$C-serve.log")
	# A handshake can complete on follow's side only: serve never gets
	# follow's Finished, closes at its 5 s timeout, and that close is
	# lost too; follow, "connected", then idles out. Each such extra
	# connection must be one of serve's handshake timeouts.
	extra=$((conns - 50))
	r_diag "$C: $retried attempt(s) failed: $idle idle timeouts, $hst handshake timeouts, $pcl closed by serve's handshake timeout (serve timed out $srv); $extra connection(s) completed only on follow's side"
	r_check "handshakeloss: 50 handshakes completed, each into a full bootstrap; the $retried failed attempt(s) all ran out of time ($idle + $hst + $pcl, serve's timeouts $srv, completed on follow's side only $extra)" \
		test $extra -ge 0 -a $extra -le "$idle" -a "$retried" -eq $((idle + hst + pcl)) -a "$srv" -ge $((pcl + extra))
	r_check "handshakeloss: the link dropped 20-40 % each way ($(cnt ab_dropped_loss)/$(cnt ab_received), $(cnt ba_dropped_loss)/$(cnt ba_received))" \
		awk -v a="$(cnt ab_dropped_loss)" -v an="$(cnt ab_received)" \
		-v b="$(cnt ba_dropped_loss)" -v bn="$(cnt ba_received)" \
		'BEGIN { exit !(an > 200 && bn > 200 && a >= an * 0.2 && a <= an * 0.4 && b >= bn * 0.2 && b <= bn * 0.4) }'
}

case_blackhole() {
	link $RUNNER_LINK --blackhole 5000:2000 || return 1
	serve_b mib10 || return 1
	one_bootstrap mib10 90
	linkemu_down
	r_check "blackhole: the link went dark during the bootstrap ($(cnt ab_dropped_blackhole) A->B, $(cnt ba_dropped_blackhole) B->A packets dropped)" \
		test "$(cnt ab_dropped_blackhole)" -gt 0 -a "$(cnt ba_dropped_blackhole)" -gt 0
}

case_keyupdate() {
	link $RUNNER_LINK || return 1
	serve_b mib2 || return 1
	MA_TEST_KEY_UPDATE_BYTES=262144
	export MA_TEST_KEY_UPDATE_BYTES
	one_bootstrap mib2 60
	unset MA_TEST_KEY_UPDATE_BYTES
	linkemu_down
	k1=$(sed -n 's/.*key update 1 initiated after \([0-9]*\) bytes.*/\1/p' "$TMP/$C-follow.log")
	k2=$(sed -n 's/.*key update 2 initiated after \([0-9]*\) bytes.*/\1/p' "$TMP/$C-follow.log")
	if [ -z "$k1" ] && ! grep -q 'MA_FAULT_INJECTION 1' "$abs_top_builddir/build-config.h" 2>/dev/null; then
		r_ok "# SKIP keyupdate: the test knob needs a build with --enable-fault-injection"
		return 0
	fi
	r_diag "$C: key updates initiated after ${k1:-none} and ${k2:-none} bytes read"
	r_check "keyupdate: the client initiated a key update within the first MiB (after ${k1:-no} bytes), then a second one once the server had acknowledged the new keys (after ${k2:-no} bytes)" \
		test -n "$k1" -a -n "$k2" -a "${k1:-0}" -le 1048576
}


case_longrtt() {
	link --delay-ms 750 --rate-kbit 10000 --queue 25 --trace-file "$TMP/$C.trace" || return 1
	serve_b small || return 1
	follow_a "$C" small 90
	wait_until 40 grep -q 'server connection stats' "$TMP/$C-serve.log"
	linkemu_down
	r_diag "$C: bootstrap over 1.5 s RTT in $FMS ms (follow exit $FRC)"
	if [ "$FRC" -eq 0 ] && identical "$C" small; then
		r_ok "longrtt: the mirror reaches Following over 1.5 s RTT, byte-identical"
	else
		r_not "longrtt: follow exit $FRC, or the mirror differs"
		tail -n 8 "$TMP/$C-follow.log" | sed 's/^/# /' >>"$R"
	fi
	set -- $(connections "$C")
	r_check "longrtt: one connection (follow $1, serve $2)" test "$1" -eq 1 -a "$2" -eq 1
	# Datagrams with an Initial the client sent before the first datagram
	# from the server reached it.
	t=$(awk '$2 == "ba" && $3 == "out" { print $1; exit }' "$TMP/$C.trace")
	n=$(awk -v t="${t:-1e18}" '$2 == "ab" && $3 == "in" && $1 < t && index($5, "I") == 1' "$TMP/$C.trace" | wc -l)
	r_diag "$C: first datagram from the server arrived at ${t:-never} ms; the client had sent $n Initial datagram(s) by then"
	r_check "longrtt: the client retransmitted its Initial before the server's first reply arrived ($n Initial datagrams)" \
		test "$n" -ge 2
}

case_amplificationlimit() {
	link $RUNNER_LINK --ab-drop-index 2,3,4,5,6,7 --trace-file "$TMP/$C.trace" || return 1
	SB_CERT=big serve_b small || return 1
	follow_a "$C" small 60
	wait_until 40 grep -q 'server connection stats' "$TMP/$C-serve.log"
	linkemu_down
	if [ "$FRC" -eq 0 ] && identical "$C" small; then
		r_ok "amplificationlimit: the mirror reaches Following (client datagrams 2-7 dropped, 6 KB certificate)"
	else
		r_not "amplificationlimit: follow exit $FRC, or the mirror differs"
		tail -n 8 "$TMP/$C-follow.log" | sed 's/^/# /' >>"$R"
	fi
	# Walk the trace in time order: the server's bytes sent (ba in)
	# against the bytes it received (ab out) until a datagram carrying a
	# Retry token (It) or a Handshake packet (H) reached it.
	awk '$2 == "ab" && $3 == "out" { rx += $4; if ($5 ~ /It|H/) { print "validated", $1, rx, tx, worst + 0, srv_h + 0; exit } }
	     $2 == "ba" && $3 == "in" { tx += $4; if (tx > 3 * rx) bad++; else if (tx / rx > worst) worst = tx / rx; if ($5 ~ /H/) srv_h++ }
	     END { if (!bad) bad = 0; print "over", bad }' "$TMP/$C.trace" >"$TMP/$C.amp"
	set -- $(head -n 1 "$TMP/$C.amp") x x x x x
	over=$(awk '$1 == "over" { print $2 }' "$TMP/$C.amp")
	r_diag "$C: address validated at $2 ms: the server had received $3 bytes and sent $4 (ratio at worst $5), $6 Handshake datagrams"
	r_check "amplificationlimit: before validating the client's address the server sent at most 3x what it received ($4 of $3 bytes; $over excess)" \
		test "$1" = validated -a "$over" -eq 0 -a "$3" -gt 0
	# The certificate makes the server's handshake flight larger than 3x
	# one Initial: the limit would bind without Retry.
	hs=$(awk '$2 == "ba" && $3 == "in" && $5 ~ /H/ { tx += $4 } END { print tx + 0 }' "$TMP/$C.trace")
	r_check "amplificationlimit: the server's datagrams with Handshake packets ($hs bytes) exceed 3x a 1200-byte Initial, so the limit binds" \
		test "$hs" -gt 3600
}

rebind_case() {
	link $RUNNER_LINK "$1" 5000 || return 1
	serve_b mib10 || return 1
	one_bootstrap mib10 90
	linkemu_down
	pc=$(path_changes)
	r_diag "$C: the server's connection counted $pc path change(s); the relay rewrote $(cnt ab_rewritten) packets, dropped $(cnt ba_dropped_nat) for forgotten mappings"
	r_check "$C: the server followed the client to its new $2 on that connection ($pc path changes, NAT every 5 s)" \
		test "$pc" -ge 1 -a "$(cnt ab_rewritten)" -gt 0
}
case_rebind_port() { rebind_case --rebind-port-ms port; }
case_rebind_addr() { rebind_case --rebind-addr-ms address; }

case_crosstraffic() {
	link $RUNNER_LINK || return 1
	serve_b "$cross_db" || return 1
	ip netns exec "$LE_NS_A" "$TCPBLAST" recv --listen "$LE_ADDR_A:0" \
		--port-file "$TMP/$C.tport" --progress-file "$TMP/$C-progress.log" --timeout 120 \
		>"$TMP/$C-recv.log" 2>&1 &
	rpid=$!
	wait_until 5 test -s "$TMP/$C.tport" || return 1
	# TCP first (cubic, as the runner's iperf), for long enough to
	# outlast the bootstrap; the bootstrap joins it after a second.
	ip netns exec "$LE_NS_B" "$TCPBLAST" send --connect "$LE_ADDR_A:$(cat "$TMP/$C.tport")" \
		--bytes $((cross_mib * 3 * 1024 * 1024)) --cc cubic --timeout 120 >"$TMP/$C-send.log" 2>&1 &
	spid=$!
	sleep 1
	t0=$(now_ms)
	follow_a "$C" "$cross_db" 120
	t1=$(now_ms)
	tcp_running=0
	running "$spid" && tcp_running=1
	kill "$spid" "$rpid" 2>/dev/null
	wait "$spid" "$rpid" 2>/dev/null
	wait_until 40 grep -q 'server connection stats' "$TMP/$C-serve.log"
	linkemu_down
	if [ "$FRC" -eq 0 ] && identical "$C" "$cross_db"; then
		r_ok "crosstraffic: the mirror reaches Following beside a TCP flow, byte-identical"
	else
		r_not "crosstraffic: follow exit $FRC, or the mirror differs"
		tail -n 8 "$TMP/$C-follow.log" | sed 's/^/# /' >>"$R"
	fi
	set -- $(connections "$C")
	r_check "crosstraffic: one connection (follow $1, serve $2)" test "$1" -eq 1 -a "$2" -eq 1
	# TCP's bytes over the bootstrap's window [t0, t1].
	tcp=$(awk -v a="$t0" -v b="$t1" '$1 <= a { s = $2 } $1 <= b { e = $2 } END { print e - s }' "$TMP/$C-progress.log")
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
	# The link's goodput for TCP payload: 10 Mbit/s of 1500-byte packets
	# carrying 1448 bytes.
	link_Bps=1206666
	mshare=$(awk -v m=$((cross_mib * 1048576)) -v s="$secs" -v l=$link_Bps 'BEGIN { printf "%.2f", m / s / l }')
	tshare=$(awk -v t="$tcp" -v s="$secs" -v l=$link_Bps 'BEGIN { printf "%.2f", t / s / l }')
	r_diag "$C: over the bootstrap's $secs s: mirror $mshare of the link, TCP cubic $tshare (TCP still running at the end: $tcp_running)"
	r_check "crosstraffic: neither starves: mirror $mshare and TCP $tshare of the link, each >= $CROSS_MIN_SHARE, TCP running throughout" \
		awk -v m="$mshare" -v t="$tshare" -v f="$CROSS_MIN_SHARE" -v r="$tcp_running" \
		'BEGIN { exit !(r == 1 && m >= f && t >= f && m + t <= 1.1) }'
}

# ---- run them all at once ----
CASE_NO=0
PIDS=""
for C in $CASES; do
	CASE_NO=$((CASE_NO + 1))
	R=$TMP/$C.result
	: >"$R"
	(
		# Namespaces unique per case: linkemu.sh names them after $$
		# (this shell's pid in every subshell) and LE_N.
		LE_N=$((CASE_NO * 100))
		trap 'linkemu_down' EXIT
		fn=case_$(echo "$C" | tr - _)
		"$fn" || r_diag "$C: could not set up: $(cat "$TMP/$C.linkerr" 2>/dev/null) $(tail -n 3 "$TMP/$C-serve.log" 2>/dev/null)"
	) &
	PIDS="$PIDS $!"
done
T_PIDS="$T_PIDS $PIDS"
t_all=$(now_ms)
for p in $PIDS; do wait_pid "$p" 240; done
diag "all cases in $(($(now_ms) - t_all)) ms; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# Report in a fixed order; a case that reported fewer points than it owes
# failed (it stopped early).
for C in $CASES; do
	want=$(points "$C")
	got=0
	while IFS= read -r line; do
		case $line in
		"ok # SKIP "*)
			skip "${line#ok \# SKIP }"
			got=$((got + 1))
			;;
		"ok "*)
			ok "${line#ok }"
			got=$((got + 1))
			;;
		"not ok "*)
			not_ok "${line#not ok }"
			got=$((got + 1))
			;;
		*) echo "$line" ;;
		esac
	done <"$TMP/$C.result"
	while [ $got -lt "$want" ]; do
		not_ok "$C: stopped before reporting (see the diagnostics above)"
		got=$((got + 1))
	done
done
finish
