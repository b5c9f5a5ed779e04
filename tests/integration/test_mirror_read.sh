#!/bin/sh
# Reading from the mirror end to end: a three-node raftkv cluster (real
# kv commands through the tap), `serve` on node 1's spool, `follow` with
# applier = kv and the read API on an ephemeral port. get/scan/fingerprint
# answer what the source holds (same fingerprint, same revision), a write
# acknowledged with index N is visible with min_index=N, an index never
# reached times out with 504, writes are refused with 405, inputs are
# checked, /status and /metrics report the figures, and a restarted mirror
# (source gone) restores from its snapshot + wal to the same fingerprint.
. "$abs_top_srcdir/tests/integration/lib.sh"

NODE="$abs_top_builddir/examples/raftkv/raftkv-node"
CLI="$abs_top_builddir/examples/raftkv/raftkv-cli"

[ -x "$NODE" ] && [ -x "$CLI" ] ||
	{ echo "Bail out! raftkv-node or raftkv-cli not built"; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
plan 29

UUID=$(cat /proc/sys/kernel/random/uuid)

start_node() {
	i=$1
	eval "rport=\$RPORT$i cport=\$CPORT$i"
	"$NODE" --id "$i" --address "127.0.0.1:$rport" --cluster "$CLUSTER" \
		--client-cluster "$CCLUSTER" --data "$TMP/data$i" \
		--spool "$TMP/spool$i" --client-listen "127.0.0.1:$cport" \
		--cluster-id "$UUID" --database kv \
		--snapshot-threshold 64 --snapshot-trailing 16 \
		--election-timeout 300 --install-snapshot-timeout 1000 \
		--spool-trailing 32 \
		>>"$TMP/node$i.log" 2>&1 &
	eval "PID$i=$!"
	T_PIDS="$T_PIDS $!"
}

cli() { timeout 60 "$CLI" --connect "$CLIENTS" --timeout 30 "$@"; }
cli_at() { port=$1; shift; timeout 10 "$CLI" --connect "127.0.0.1:$port" "$@"; }
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

some_leader() {
	for p in $CPORT1 $CPORT2 $CPORT3; do
		cli_at "$p" leader 2>/dev/null | grep -q '^OK id=[1-9]' && return 0
	done
	return 1
}

started=0
for attempt in 1 2 3; do
	set -- $("$CLI" free-ports 6)
	RPORT1=$1 RPORT2=$2 RPORT3=$3 CPORT1=$4 CPORT2=$5 CPORT3=$6
	CLUSTER="1=127.0.0.1:$RPORT1,2=127.0.0.1:$RPORT2,3=127.0.0.1:$RPORT3"
	CCLUSTER="1=127.0.0.1:$CPORT1,2=127.0.0.1:$CPORT2,3=127.0.0.1:$CPORT3"
	CLIENTS="127.0.0.1:$CPORT1,127.0.0.1:$CPORT2,127.0.0.1:$CPORT3"
	rm -rf "$TMP"/data? "$TMP"/spool?
	for i in 1 2 3; do start_node "$i"; done
	if wait_until 20 some_leader; then
		started=1
		break
	fi
	diag "attempt $attempt: no leader; retrying on new ports"
	for i in 1 2 3; do eval "kill -9 \$PID$i" 2>/dev/null; done
	wait 2>/dev/null
done
if [ $started = 1 ]; then ok "three raftkv nodes elected a leader"
else not_ok "no leader within 20 s"; echo "Bail out! cluster did not start"; exit 1; fi

# Enough writes for node snapshots (threshold 64): the mirror bootstraps
# from a kv snapshot, then applies the log after it.
cli put app greeting hello >/dev/null
for k in user/1 user/2 user/3 usex/1 admin/1; do cli put app "$k" "v $k" >/dev/null; done
cli put app bin "$(printf 'a\001\377')" >/dev/null   # binary value: 61 01 ff
cli load --count 200 --value-size 50 --namespace load >/dev/null 2>&1
out=$(cli put app greeting "hello again")
W1=$(field index "$out")
if [ "${out%% *}" = OK ] && [ "${W1:-0}" -gt 64 ]; then ok "source took 207 writes (last index $W1)"
else not_ok "writes: $out"; fi
spool_has() { # index: node 1's spool holds it and a snapshot exists
	out=$(cli_at "$CPORT1" applied-index) || return 1
	[ "$(field spool_last "$out")" -ge "$1" ] && ls "$TMP"/spool1/snapshots/*.snapshot
}
wait_until 30 spool_has "$W1" || diag "node 1's spool did not reach $W1 with a snapshot"

gen_certs
start_serve serve --database "kv=$TMP/spool1" --allow "mirror-1=kv"

start_follow() { # log name
	rm -f "$TMP/http.port"
	"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$SERVE_PORT" \
		$(follow_tls) --database kv --set database.kv.applier=kv \
		--http-listen 127.0.0.1:0 --http-port-file "$TMP/http.port" \
		>"$TMP/$1.log" 2>&1 &
	FPID=$!
	T_PIDS="$T_PIDS $FPID"
	if ! wait_until 20 test -s "$TMP/http.port"; then
		not_ok "read API of $1 did not start"
		sed 's/^/# /' "$TMP/$1.log" | tail -n 20
		echo "Bail out! no read API"; exit 1
	fi
	HTTP="http://127.0.0.1:$(cat "$TMP/http.port")"
}
start_follow follow
ok "follow started with the read API on port ${HTTP##*:}"

# req NAME [curl args...] URL: body in $TMP/NAME.json, status in $CODE.
req() {
	n=$1
	shift
	CODE=$(curl -s -o "$TMP/$n.json" -w '%{http_code}' --max-time 70 "$@")
}
num() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" "$TMP/$2.json"; }
str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$TMP/$2.json"; }
b64() { printf '%s' "$1" | base64 -d 2>/dev/null; }

req get1 -G "$HTTP/v1/db/kv/get" --data-urlencode ns=app \
	--data-urlencode key=greeting -d "min_index=$W1"
[ "$CODE" = 200 ] && [ "$(b64 "$(str value get1)")" = "hello again" ] &&
	[ "$(num version get1)" -ge 1 ] && [ "$(num applied_index get1)" -ge "$W1" ] &&
	[ -n "$(num lag_entries get1)" ] && [ -n "$(num lag_ms get1)" ] &&
	ok "get with min_index=$W1 answers the latest value, version, applied index and lag" ||
	{ not_ok "get: $CODE $(cat "$TMP/get1.json")"; tail -n 20 "$TMP/follow.log" | sed 's/^/# /'; }

src=$(cli get app greeting)
[ "$(num version get1)" = "$(field version "$src")" ] &&
	ok "version equals the source's ($(field version "$src"))" ||
	not_ok "version $(num version get1) vs source: $src"

check "the mirror bootstrapped from a kv snapshot" \
	grep -q 'bootstrapping from snapshot' "$TMP/follow.log"

req bin -G "$HTTP/v1/db/kv/get" -d ns=app -d key=bin
[ "$CODE" = 200 ] && [ "$(str value bin)" = "YQH/" ] &&
	ok "binary value comes back in base64 (YQH/)" || not_ok "bin: $CODE $(cat "$TMP/bin.json")"

req miss -G "$HTTP/v1/db/kv/get" -d ns=app -d key=nosuchkey
[ "$CODE" = 404 ] && grep -q '"error":"not found"' "$TMP/miss.json" &&
	[ -n "$(num applied_index miss)" ] &&
	ok "missing key: 404 JSON with the applied index" || not_ok "miss: $CODE $(cat "$TMP/miss.json")"

req scan -G "$HTTP/v1/db/kv/scan" -d ns=app --data-urlencode prefix=user/
keys=$(grep -o '"key":"[^"]*"' "$TMP/scan.json" | sed 's/"key":"\(.*\)"/\1/' |
	while read -r k; do b64 "$k"; echo; done | tr '\n' ' ')
[ "$CODE" = 200 ] && [ "$keys" = "user/1 user/2 user/3 " ] &&
	[ "$(num count scan)" = 3 ] && grep -q '"truncated":false' "$TMP/scan.json" &&
	grep -q '"version":' "$TMP/scan.json" &&
	ok "scan returns exactly the prefix's keys with values and versions" ||
	not_ok "scan: $CODE keys '$keys' $(head -c 400 "$TMP/scan.json")"

req scanl -G "$HTTP/v1/db/kv/scan" -d ns=load -d limit=10
req scanl2 -G "$HTTP/v1/db/kv/scan" -d ns=load -d limit=10 \
	--data-urlencode "after=$(b64 "$(str next_after scanl)")"
[ "$CODE" = 200 ] && [ "$(num count scanl)" = 10 ] &&
	grep -q '"truncated":true' "$TMP/scanl.json" && [ "$(num count scanl2)" = 10 ] &&
	! grep -q "$(str next_after scanl)" "$TMP/scanl2.json" &&
	ok "scan limit truncates and after= continues from next_after" ||
	not_ok "scan limit: $CODE $(head -c 300 "$TMP/scanl.json")"

# The same state at the same index: node 1's fingerprint (no write since
# W1; anything after it in its log is a barrier) and the mirror's once it
# applied everything node 1's spool holds.
S=$(field spool_last "$(cli_at "$CPORT1" applied-index)")
srcfp=$(cli_at "$CPORT1" fingerprint)
req fp -G "$HTTP/v1/db/kv/fingerprint" -d "min_index=$S"
[ "$CODE" = 200 ] && [ "$(str fingerprint fp)" = "$(field fingerprint "$srcfp")" ] &&
	[ "$(num revision fp)" = "$(field revision "$srcfp")" ] &&
	[ "$(num count fp)" = "$(field count "$srcfp")" ] && [ "$(num applied_index fp)" = "$S" ] &&
	ok "fingerprint equals the source's at index $S ($(str fingerprint fp))" ||
	not_ok "fingerprint: $CODE $(cat "$TMP/fp.json") source: $srcfp (spool last $S)"
FP1=$(str fingerprint fp)

# min_index: a write acknowledged with index N is visible with min_index=N.
out=$(cli put app fresh "new value")
N=$(field index "$out")
req fresh -G "$HTTP/v1/db/kv/get" -d ns=app -d key=fresh -d "min_index=$N" -d timeout_ms=20000
[ "$CODE" = 200 ] && [ "$(b64 "$(str value fresh)")" = "new value" ] &&
	[ "$(num applied_index fresh)" -ge "$N" ] &&
	ok "write acknowledged at index $N is visible with min_index=$N" ||
	not_ok "min_index: $CODE $(cat "$TMP/fresh.json")"

# A waiting request does not block others: park one, then ask another.
# The trace (on stderr, unbuffered) proves the request reached the mirror
# before the entry it waits for was written, and that no answer had come
# back by then: a request that was never parked cannot pass.
curl -s -o "$TMP/park.json" -w '%{http_code}' --max-time 30 --trace-ascii % \
	"$HTTP/v1/db/kv/get?ns=app&key=later&min_index=$((N + 3))&timeout_ms=15000" \
	>"$TMP/park.code" 2>"$TMP/park.trace" &
PARK=$!
wait_until 10 grep -q '^=> Send header' "$TMP/park.trace" ||
	diag "the parked request was not sent within 10 s"
req during -G "$HTTP/v1/db/kv/get" -d ns=app -d key=fresh
[ "$CODE" = 200 ] && ok "a parked min_index request does not block the loop" ||
	not_ok "during: $CODE"
req before "$HTTP/status"
parked=0
grep -q '^=> Send header' "$TMP/park.trace" && ! grep -q '^<= Recv header' "$TMP/park.trace" &&
	kill -0 "$PARK" 2>/dev/null && [ "$(num applied_index before)" -lt $((N + 3)) ] && parked=1
cli put app x1 1 >/dev/null; cli put app x2 2 >/dev/null
out=$(cli put app later L)
L=$(field index "$out")
wait_pid "$PARK"
[ $parked = 1 ] && [ "$L" = $((N + 3)) ] && [ "$(cat "$TMP/park.code")" = 200 ] &&
	[ "$(b64 "$(str value park)")" = L ] && [ "$(num applied_index park)" -ge "$L" ] &&
	ok "the request parked at applied index $(num applied_index before) is answered once $L is applied" ||
	not_ok "parked: sent-and-waiting=$parked, later at ${L:-?}, $(cat "$TMP/park.code") $(cat "$TMP/park.json")"

req tmo -G "$HTTP/v1/db/kv/get" -d ns=app -d key=fresh -d min_index=999999999 -d timeout_ms=300
[ "$CODE" = 504 ] && [ "$(num min_index tmo)" = 999999999 ] && [ -n "$(num applied_index tmo)" ] &&
	ok "min_index never reached: 504 after timeout_ms with the applied index" ||
	not_ok "timeout: $CODE $(cat "$TMP/tmo.json")"

codes=""
for m in POST PUT DELETE PATCH; do
	req w -X "$m" "$HTTP/v1/db/kv/get?ns=app&key=greeting"
	grep -q '"error":"read-only mirror"' "$TMP/w.json" || CODE="$CODE-nojson"
	codes="$codes $CODE"
done
[ "$codes" = " 405 405 405 405" ] && ok "POST/PUT/DELETE/PATCH: 405 read-only mirror" ||
	not_ok "write methods: $codes"
req wp -G "$HTTP/v1/db/kv/put" -d ns=app -d key=a
[ "$CODE" = 405 ] && grep -q 'read-only mirror' "$TMP/wp.json" &&
	ok "GET of a write path: 405" || not_ok "write path: $CODE"

bad=""
for q in "get?ns=app" "get?key=k" "get?ns=bad%20ns&key=k" "get?ns=app&key=" \
	"get?ns=app&key=k&min_index=12x" "get?ns=app&key=k&min_index=99999999999999999999" \
	"get?ns=app&key=k&timeout_ms=60001" "scan?ns=app&limit=10001" "scan?ns=app&limit=0" \
	"get?ns=app&key=k&bogus=1" "get?ns=app&ns=app&key=k" "get?ns=app&key=%zz" \
	"fingerprint?ns=app"; do
	req bad "$HTTP/v1/db/kv/$q"
	grep -q '"error":"bad request"' "$TMP/bad.json" || CODE="$CODE-nojson"
	[ "$CODE" = 400 ] || bad="$bad [$q: $CODE]"
done
longkey=$(head -c 1025 /dev/zero | tr '\0' k)
req bad "$HTTP/v1/db/kv/get?ns=app&key=$longkey"
[ "$CODE" = 400 ] || bad="$bad [1025-byte key: $CODE]"
[ -z "$bad" ] && ok "bad parameters: 400 JSON naming the problem" || not_ok "bad inputs:$bad"

req nodb "$HTTP/v1/db/other/get?ns=app&key=k"
c1=$CODE
req baddb "$HTTP/v1/db/..%2f/get?ns=app&key=k"
c2=$CODE
req noop "$HTTP/v1/db/kv/frobnicate"
[ "$c1" = 404 ] && grep -q 'unknown database' "$TMP/nodb.json" && [ "$c2" = 400 ] &&
	[ "$CODE" = 404 ] && ok "unknown database 404, bad name 400, unknown op 404" ||
	not_ok "db checks: $c1 $c2 $CODE"

# /status: the values, not their presence. Once the mirror has applied
# everything node 1's spool holds (S2), the log and applied index are S2,
# the source announces S2, nothing lags, and the snapshot it bootstrapped
# from was received whole.
S2=$(field spool_last "$(cli_at "$CPORT1" applied-index)")
# The file is rewritten every second: wait for both to show S2.
caught_up() {
	req status "$HTTP/status" && [ "$(num log_index status)" = "$S2" ] &&
		[ "$(num applied_index status)" = "$S2" ] && [ "$(num source_commit_index status)" = "$S2" ] &&
		cp "$TMP/mirror/status" "$TMP/statusfile.json" &&
		[ "$(num log_index statusfile)" = "$S2" ] &&
		[ "$(num applied_index statusfile)" = "$S2" ]
}
wait_until 20 caught_up || diag "the mirror did not reach node 1's spool index $S2"
req status "$HTTP/status"
SNAP=$(sed -n 's/.*bootstrapping from snapshot \([0-9]*-[0-9]*\).*/\1/p' "$TMP/follow.log" | head -n 1)
SNAPSZ=$(stat -c %s "$TMP/mirror/kv/snapshots/$SNAP.snapshot" 2>/dev/null)
sok=1
for kv in log_index=$S2 applied_index=$S2 source_commit_index=$S2 lag_entries=0 \
	reconnects=0 bytes_done=${SNAPSZ:-none} bytes_total=${SNAPSZ:-none} skipped_commands=0 \
	pid=$FPID; do
	[ "$(num "${kv%%=*}" status)" = "${kv#*=}" ] ||
		{ sok=0; diag "/status ${kv%%=*} is '$(num "${kv%%=*}" status)', want '${kv#*=}'"; }
done
# fields FILE: sorted "key":value lines without the rendering time.
fields() { tr ',{}[]' '\n\n\n\n\n' <"$1" | grep ':' | grep -v '^"\(updated_unix_ms\|last_contact_ms\|observed_age_ms\)":' | sort; }
[ "$CODE" = 200 ] && [ $sok = 1 ] &&
	grep -q '"database":"kv","state":"Following"' "$TMP/status.json" &&
	[ "$(str endpoint status)" = "127.0.0.1:$SERVE_PORT" ] &&
	grep -q '"error":"","applier":"kv","applier_error":null' "$TMP/status.json" &&
	ok "/status: index $S2 applied and logged, no lag, snapshot $SNAP of $SNAPSZ bytes, applier kv" ||
	not_ok "status: $CODE $(cat "$TMP/status.json")"
fields "$TMP/status.json" >"$TMP/status.fields"
fields "$TMP/statusfile.json" >"$TMP/statusfile.fields"
diff "$TMP/statusfile.fields" "$TMP/status.fields" >"$TMP/status.diff" &&
	[ "$(wc -l <"$TMP/status.fields")" -eq 38 ] &&
	ok "the status file and /status agree field by field (38 fields with one endpoint)" ||
	{ not_ok "status file vs /status"; sed 's/^/# /' "$TMP/status.diff"; }

req metrics "$HTTP/metrics"
m="$TMP/metrics.json"
mok=1
for name in mirror_state mirror_bootstrap_received_bytes mirror_applied_index mirror_source_commit_index \
	mirror_lag_entries mirror_lag_seconds mirror_reconnects_total; do
	grep -q "^# HELP $name " "$m" && grep -q "^# TYPE $name " "$m" || { mok=0; diag "no HELP/TYPE for $name"; }
done
grep -q '^mirror_state{db="kv",state="Following"} 1$' "$m" || mok=0
grep -q '^mirror_reconnects_total{db="kv"} [0-9]' "$m" || mok=0
grep -q '^# TYPE mirror_reconnects_total counter$' "$m" || mok=0
for kv in mirror_applied_index=$S2 mirror_log_index=$S2 mirror_source_commit_index=$S2 \
	mirror_lag_entries=0 mirror_reconnects_total=0 mirror_applier_failed=0; do
	[ "$(sed -n "s/^${kv%%=*}{db=\"kv\"} //p" "$m")" = "${kv#*=}" ] ||
		{ mok=0; diag "/metrics ${kv%%=*} is not ${kv#*=}"; }
done
[ "$CODE" = 200 ] && [ $mok = 1 ] && ok "/metrics: Prometheus text with HELP/TYPE and every figure" ||
	not_ok "metrics: $CODE $(head -c 600 "$m")"

# Restart with the source gone: the mirror restores from its newest
# snapshot and replays its wal, and answers the same fingerprint.
req fp2 -G "$HTTP/v1/db/kv/fingerprint"
FP2=$(str fingerprint fp2)
A2=$(num applied_index fp2)
kill -TERM "$FPID"
wait_pid "$FPID"
check "follow stops cleanly on SIGTERM" test $? -eq 0
kill -TERM "$SERVE_PID" 2>/dev/null
wait_pid "$SERVE_PID" 2>/dev/null
ls "$TMP"/mirror/kv/snapshots/*.snapshot >/dev/null 2>&1 &&
	ok "the mirror holds a snapshot" || not_ok "no snapshot in the mirror"
start_follow follow2
req fp3 -G "$HTTP/v1/db/kv/fingerprint" -d "min_index=$A2" -d timeout_ms=10000
[ "$CODE" = 200 ] && [ "$(str fingerprint fp3)" = "$FP2" ] && [ "$(num applied_index fp3)" = "$A2" ] &&
	ok "restarted without its source: same fingerprint $FP2 at index $A2" ||
	not_ok "after restart: $CODE $(cat "$TMP/fp3.json") (before: $FP2 at $A2)"
check "restored from snapshot + wal (log says so)" \
	grep -q 'kv applier at index [0-9]* (snapshot [1-9][0-9]*, [0-9]* wal entries replayed' "$TMP/follow2.log"
[ "$FP1" != "$FP2" ] && ok "later writes changed the fingerprint ($FP1 -> $FP2)" ||
	not_ok "fingerprint did not change after writes"
req get3 -G "$HTTP/v1/db/kv/get" -d ns=app -d key=later
[ "$CODE" = 200 ] && [ "$(b64 "$(str value get3)")" = L ] &&
	ok "restored mirror answers get" || not_ok "get after restart: $CODE"
kill -TERM "$FPID"
wait_pid "$FPID"
check "restarted follow stops cleanly" test $? -eq 0
finish
