#!/bin/sh
# Issue 8 with real processes: one database's trouble is its own, and the
# mirror tells the truth about it.
#   - two databases; the source's snapshot of `big` is damaged on its disk
#     (metadata intact): `kv` completes on the one connection, `big` names
#     the corruption, and the source sends it a few times, not in a loop
#     (figures printed: sends and bytes asked minute by minute over
#     MA_ISOLATION_SECONDS, 25 s by default; >= 60 s for a per-minute
#     figure: at most 12 in the first minute, 4 in each later one);
#   - /healthz 200, /readyz 503 naming `big`, a kv read with a loose
#     max_staleness answered;
#   - a second `follow` on the same data dir is refused and leaves the live
#     status file alone;
#   - every source down: Degraded within degraded_silence (time printed),
#     `status` exits 1, /readyz 503, a read with max_staleness 503 "stale";
#   - a clean stop writes its final state ("stopped") and `status` exits 1.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 13
gen_certs
MEASURE=${MA_ISOLATION_SECONDS:-25}
SILENCE_MS=3000

good=$TMP/src/kv
big=$TMP/src/big
"$SPOOLGEN" init "$good" --database kv >/dev/null &&
	"$SPOOLGEN" append "$good" --from 1 --count 300 --term 1 >/dev/null &&
	"$SPOOLGEN" init "$big" --database big >/dev/null &&
	"$SPOOLGEN" append "$big" --from 1 --count 300 --term 1 >/dev/null &&
	"$SPOOLGEN" snapshot "$big" --index 200 --term 1 --size 1000000 --seed 2 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
# One byte of the file changes; its metadata (size, CRC) does not.
f=$big/snapshots/200-1.snapshot
[ -f "$f" ] || { echo "Bail out! no $f"; exit 1; }
printf '\377' | dd of="$f" bs=1 seek=500000 conv=notrunc 2>/dev/null

start_serve src --database "kv=$good" --database "big=$big" --allow mirror-1=kv,big
rm -f "$TMP/http.port"
"$AGENT" follow --data-dir "$TMP/m" --source "127.0.0.1:$SERVE_PORT" $(follow_tls) \
	--database kv --database big --set database.kv.applier=kv \
	--set follow.degraded_silence=${SILENCE_MS}ms \
	--http-listen 127.0.0.1:0 --http-port-file "$TMP/http.port" \
	>"$TMP/follow.log" 2>&1 &
FPID=$!
T_PIDS="$T_PIDS $FPID"
wait_until 20 test -s "$TMP/http.port" || { echo "Bail out! follow did not start"; cat "$TMP/follow.log" | sed 's/^/# /'; exit 1; }
HTTP="http://127.0.0.1:$(cat "$TMP/http.port")"
T0=$(date +%s)

check "kv reaches Following beside a broken database" wait_until 30 is_state "$TMP/m" kv Following
# What the source sent, counted at every minute of the window (the last
# one may be partial): sends of the corrupt file (serve's log) and the
# bytes the mirror asked for (size - resume offset of each request).
sends_now() { grep -c 'snapshot 200-1 of big is corrupt' "$TMP/src.log"; }
asked_now() {
	grep -o 'big: bootstrapping from snapshot 200-1 ([0-9]* bytes) from offset [0-9]*' "$TMP/follow.log" |
		awk '{sum += 1000000 - $NF} END {print sum + 0}'
}
per_min="" bytes_min="" prev=0 prevb=0 mark=0 worst_later=0 first_min=0 minute=0
while [ $mark -lt "$MEASURE" ]; do
	mark=$((mark + 60))
	[ $mark -gt "$MEASURE" ] && mark=$MEASURE
	sleep $((mark - ($(date +%s) - T0))) 2>/dev/null
	n=$(sends_now)
	b=$(asked_now)
	minute=$((minute + 1))
	per_min="$per_min $((n - prev))"
	bytes_min="$bytes_min $((b - prevb))"
	if [ $minute = 1 ]; then first_min=$((n - prev))
	elif [ $((n - prev)) -gt $worst_later ]; then worst_later=$((n - prev)); fi
	prev=$n prevb=$b
done
sends=$(sends_now)
requests=$(grep -c 'big: bootstrapping from snapshot 200-1' "$TMP/follow.log")
conns=$(grep -c 'connected to 127.0.0.1' "$TMP/follow.log")
bytes=$(asked_now)
diag "corrupt snapshot of big (1000000 bytes) over ${MEASURE} s: the source said 'corrupt' $sends times," \
	"the mirror asked $requests times (about $bytes bytes asked for), $conns connection(s)"
diag "sends per minute (minute by minute, the last may be partial):$per_min;" \
	"bytes asked per minute:$bytes_min; overall $((sends * 60 / MEASURE)) sends/min" \
	"(MA_ISOLATION_SECONDS=$MEASURE; backoff 100 ms .. 30 s)"
# The sim's bound (test_sim test_isolation_corrupt_snapshot): at most 12
# in the first minute (the backoff climbing to its 30 s cap), at most 4
# in every later one; never a loop.
[ "$sends" -ge 1 ] && [ "$first_min" -le 12 ] && [ "$worst_later" -le 4 ] &&
	[ "$requests" -le $((12 + 4 * (minute - 1))) ] &&
	ok "the corrupt snapshot was sent $sends times in ${MEASURE} s (per minute:$per_min; backoff, not a loop)" ||
	not_ok "corrupt snapshot sent $sends times (per minute:$per_min), asked $requests times in ${MEASURE} s"
check "one connection throughout (no drop for big's trouble)" test "$conns" -eq 1
big_state() { "$AGENT" status --data-dir "$TMP/m" --json 2>/dev/null | tr '{' '\n' | grep '"database":"big"'; }
big_state >"$TMP/big.json"
grep -q 'snapshot 200-1 is corrupt on the source' "$TMP/big.json" &&
	grep -Eq '"state":"(Disconnected|Degraded)"' "$TMP/big.json" &&
	ok "big's state names the corruption" || { not_ok "big's state"; sed 's/^/# /' "$TMP/big.json"; }

code() { curl -s -o "$TMP/$1.json" -w '%{http_code}' --max-time 10 "$2"; }
[ "$(code healthz "$HTTP/healthz")" = 200 ] && grep -q '"status":"ok"' "$TMP/healthz.json" &&
	ok "/healthz 200" || { not_ok "/healthz"; cat "$TMP/healthz.json" | sed 's/^/# /'; }
[ "$(code ready1 "$HTTP/readyz")" = 503 ] && grep -q '"db":"big"' "$TMP/ready1.json" &&
	! grep -q '"db":"kv"' "$TMP/ready1.json" &&
	ok "/readyz 503 naming big only" || { not_ok "/readyz"; sed 's/^/# /' "$TMP/ready1.json"; }
[ "$(code fresh "$HTTP/v1/db/kv/fingerprint?max_staleness=60000")" = 200 ] &&
	ok "a kv read with max_staleness=60000 is answered" ||
	{ not_ok "fresh read"; sed 's/^/# /' "$TMP/fresh.json"; }

# A second follower on the same data dir: refused, the live status kept.
pid_in() { sed -n 's/^{"pid":\([0-9]*\),.*/\1/p' "$TMP/m/status"; }
timeout 20 "$AGENT" follow --data-dir "$TMP/m" --source "127.0.0.1:$SERVE_PORT" $(follow_tls) \
	--database kv --database big >"$TMP/second.log" 2>&1
rc=$?
sleep 0.2
[ $rc -ne 0 ] && [ "$(pid_in)" = "$FPID" ] && grep -q '"database":"kv","state":"Following"' "$TMP/m/status" &&
	ok "a second follow is refused (exit $rc) and the status file is still the live one's" ||
	{ not_ok "second follow: exit $rc, status pid $(pid_in) (live $FPID)"; sed 's/^/# /' "$TMP/second.log" | tail -n 5; }

# Every source down.
kill -9 "$SERVE_PID"
t_down=$(date +%s%N)
degraded() { is_state "$TMP/m" kv Degraded && is_state "$TMP/m" big Degraded; }
if wait_until 20 degraded; then
	ms=$((($(date +%s%N) - t_down) / 1000000))
	diag "every source down: both databases Degraded after $ms ms (degraded_silence ${SILENCE_MS} ms)"
	[ $ms -le $((SILENCE_MS + 2500)) ] && ok "Degraded within degraded_silence (+ status period): $ms ms" ||
		not_ok "Degraded only after $ms ms"
else
	not_ok "not Degraded 20 s after the source went down: kv $(state_of "$TMP/m" kv), big $(state_of "$TMP/m" big)"
fi
"$AGENT" status --data-dir "$TMP/m" >/dev/null 2>"$TMP/status_down.err"
rc=$?
[ $rc = 1 ] && grep -q 'kv is Degraded: nothing heard from the source' "$TMP/status_down.err" &&
	ok "status exits 1 and says why" || { not_ok "status exit $rc"; sed 's/^/# /' "$TMP/status_down.err"; }
[ "$(code ready2 "$HTTP/readyz")" = 503 ] && grep -q '"db":"kv"' "$TMP/ready2.json" &&
	ok "/readyz 503 naming kv too" || { not_ok "/readyz down"; sed 's/^/# /' "$TMP/ready2.json"; }
# Silent for longer than the bound: refused, saying how stale it may be
# (the lag when last told plus the age of that word), or null once the
# connection is gone.
[ "$(code stale "$HTTP/v1/db/kv/fingerprint?max_staleness=$SILENCE_MS")" = 503 ] &&
	grep -q '"error":"stale"' "$TMP/stale.json" &&
	grep -Eq '"staleness_ms":(null|[0-9]{4,})' "$TMP/stale.json" &&
	ok "a read with max_staleness=$SILENCE_MS is refused 503 stale: $(grep -o '"staleness_ms":[a-z0-9]*' "$TMP/stale.json")" ||
	{ not_ok "stale read"; sed 's/^/# /' "$TMP/stale.json"; }

kill -TERM "$FPID"
wait_pid "$FPID" 2>/dev/null
grep -q '"stopped":true' "$TMP/m/status" &&
	! "$AGENT" status --data-dir "$TMP/m" >/dev/null 2>&1 &&
	ok "a clean stop writes its final state (stopped) and status exits 1" ||
	{ not_ok "final status"; sed 's/^/# /' "$TMP/m/status"; }
finish
