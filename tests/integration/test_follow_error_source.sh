#!/bin/sh
# Issue 8 with real processes: a source that answers an error to every
# request of a database (the rule is tested first in tests/sim/test_sim.c,
# test_refusing_source and test_isolation_missing_database). The mirror
# follows `kv` and `bad` from one serve. `bad`'s spool is damaged: its log
# starts after its snapshot, and that snapshot's metadata names another
# cluster (copied from another spool), so serve answers 503 to every
# request for it. (A database the source does not serve cannot be
# granted: serve refuses such an [access] grant at start, and an ungranted
# one is a 403, which is Error at once, not a retry.) Asserts:
#   - kv reaches Following with the source's last index, on one
#     connection (bad's errors never drop it);
#   - the rate of bad's requests stays bounded: counted minute by minute
#     in serve's log over MA_ERRSRC_SECONDS (20 s by default; >= 60 s for
#     a per-minute figure), at most 12 in the first minute (the backoff
#     climbing to its 30 s cap) and 4 in each later one;
#   - bad's state (status file, /status) is Disconnected or Degraded and
#     names the source's answer ("source answered 503 ...");
#   - `mirror-agent status` exits 1 naming bad, and /readyz is 503 naming
#     bad only.
. "$abs_top_srcdir/tests/integration/lib.sh"

command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
plan 5
gen_certs
MEASURE=${MA_ERRSRC_SECONDS:-20}
N=120

good=$TMP/src/kv
other=$TMP/other/bad
bad=$TMP/src/bad
"$SPOOLGEN" init "$good" --database kv >/dev/null &&
	"$SPOOLGEN" append "$good" --from 1 --count $N --term 1 >/dev/null &&
	"$SPOOLGEN" init "$other" --database bad --cluster-id 11111111-1111-4111-8111-111111111111 >/dev/null &&
	"$SPOOLGEN" append "$other" --from 1 --count 300 --term 1 >/dev/null &&
	"$SPOOLGEN" snapshot "$other" --index 200 --term 1 --size 100000 --seed 3 >/dev/null &&
	"$SPOOLGEN" init "$bad" --database bad --cluster-id 22222222-2222-4222-8222-222222222222 >/dev/null &&
	"$SPOOLGEN" append "$bad" --from 1 --count 300 --term 1 --segment-size 8192 >/dev/null &&
	mkdir -p "$bad/snapshots" &&
	cp "$other/snapshots/200-1.meta" "$other/snapshots/200-1.snapshot" "$bad/snapshots/" &&
	"$SPOOLGEN" compact "$bad" --before 250 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve src --database "kv=$good" --database "bad=$bad" --allow mirror-1=kv,bad
rm -f "$TMP/http.port"
"$AGENT" follow --data-dir "$TMP/m" --source "127.0.0.1:$SERVE_PORT" $(follow_tls) \
	--database kv --database bad \
	--http-listen 127.0.0.1:0 --http-port-file "$TMP/http.port" \
	>"$TMP/follow.log" 2>&1 &
FPID=$!
T_PIDS="$T_PIDS $FPID"
T0=$(date +%s)
wait_until 20 test -s "$TMP/http.port" ||
	{ echo "Bail out! follow did not start"; sed 's/^/# /' "$TMP/follow.log"; exit 1; }
HTTP="http://127.0.0.1:$(cat "$TMP/http.port")"

kv_done() {
	is_state "$TMP/m" kv Following &&
		"$AGENT" status --data-dir "$TMP/m" --json 2>/dev/null |
		grep -q "\"database\":\"kv\",\"state\":\"Following\",[^}]*\"applied_index\":$N,"
}
check "kv reaches Following at index $N beside a database whose source spool is damaged" \
	wait_until 30 kv_done

# bad's requests answered with an error (serve logs every one),
# minute by minute; the last minute may be partial.
errors_now() { grep -c "serve: .* /v1/db/bad/[^ ]* -> 5[0-9][0-9] " "$TMP/src.log"; }
per_min="" prev=0 mark=0 minute=0 first_min=0 worst_later=0
while [ $mark -lt "$MEASURE" ]; do
	mark=$((mark + 60))
	[ $mark -gt "$MEASURE" ] && mark=$MEASURE
	sleep $((mark - ($(date +%s) - T0))) 2>/dev/null
	n=$(errors_now)
	minute=$((minute + 1))
	per_min="$per_min $((n - prev))"
	if [ $minute = 1 ]; then first_min=$((n - prev))
	elif [ $((n - prev)) -gt $worst_later ]; then worst_later=$((n - prev)); fi
	prev=$n
done
total=$(errors_now)
conns=$(grep -c 'connected to 127.0.0.1' "$TMP/follow.log")
diag "a source answering 503 to every request of bad, over $MEASURE s: $total requests," \
	"per minute:$per_min (overall $((total * 60 / MEASURE))/min; MA_ERRSRC_SECONDS=$MEASURE," \
	"backoff 100 ms .. 30 s), $conns connection(s)"
[ "$total" -ge 2 ] && [ "$first_min" -le 12 ] && [ "$worst_later" -le 4 ] &&
	ok "bad's request rate stays bounded: $total in $MEASURE s (per minute:$per_min)" ||
	{ not_ok "bad asked $total times in $MEASURE s (per minute:$per_min)"; grep 'bad' "$TMP/src.log" | tail -n 5 | sed 's/^/# /'; }
check "one connection throughout ($conns)" test "$conns" -eq 1

"$AGENT" status --data-dir "$TMP/m" --json 2>/dev/null | tr '{' '\n' | grep '"database":"bad"' >"$TMP/bad.json"
curl -s --max-time 10 "$HTTP/status" | tr '{' '\n' | grep '"database":"bad"' >"$TMP/bad_api.json"
named() {
	grep -q '"error":"[^"]*source answered 503' "$1" &&
		grep -Eq '"state":"(Disconnected|Degraded)"' "$1"
}
named "$TMP/bad.json" && named "$TMP/bad_api.json" &&
	ok "bad's state names the answer: $(sed -n 's/.*"state":"\([A-Za-z]*\)".*"error":"\([^"]*\)".*/\1: \2/p' "$TMP/bad.json")" ||
	{ not_ok "bad's state"; sed 's/^/# /' "$TMP/bad.json" "$TMP/bad_api.json"; }

"$AGENT" status --data-dir "$TMP/m" >/dev/null 2>"$TMP/status.err"
rc=$?
code=$(curl -s -o "$TMP/ready.json" -w '%{http_code}' --max-time 10 "$HTTP/readyz")
[ $rc = 1 ] && grep -q 'bad is ' "$TMP/status.err" && ! grep -q 'kv is ' "$TMP/status.err" &&
	[ "$code" = 503 ] && grep -q '"db":"bad"' "$TMP/ready.json" && ! grep -q '"db":"kv"' "$TMP/ready.json" &&
	ok "status exits 1 naming bad, /readyz 503 naming bad only" ||
	{ not_ok "status exit $rc, /readyz $code"; sed 's/^/# /' "$TMP/status.err" "$TMP/ready.json"; }
finish
