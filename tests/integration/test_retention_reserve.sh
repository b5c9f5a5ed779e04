#!/bin/sh
# Retention reservations end to end (issue 10 item 2): a one-node raftkv
# source with a small trailing margin (50 entries) and small spool
# segments, `serve` on its spool, a kv mirror.
#  1. The mirror's log request records its durable position in
#     <spool>.reservations/ (serve writes there, never in the spool).
#  2. Stopped for far longer than the trailing margin but within the
#     budget, the mirror resumes without a snapshot (serve sends no new
#     snapshot) and ends with the source's fingerprint.
#  3. The source away beyond the budget's age: the mirror's headroom
#     gauge reaches zero before the reservation is dropped by the tap
#     (with a log line); then the mirror re-bootstraps exactly once.
. "$abs_top_srcdir/tests/integration/lib.sh"

NODE="$abs_top_builddir/examples/raftkv/raftkv-node"
CLI="$abs_top_builddir/examples/raftkv/raftkv-cli"

[ -x "$NODE" ] && [ -x "$CLI" ] ||
	{ echo "Bail out! raftkv-node or raftkv-cli not built"; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
plan 12

UUID=$(cat /proc/sys/kernel/random/uuid)
T0=$(date +%s)
at() { diag "$1 at $(($(date +%s) - T0)) s"; }
cli() { timeout 120 "$CLI" --connect "127.0.0.1:$CPORT" --timeout 60 "$@"; }
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
leader() { cli leader 2>/dev/null | grep -q '^OK id=1'; }
# The budget's age: longer than phase 2's stop, shorter than phase 3's.
AGE_MS=15000

started=0
for attempt in 1 2 3; do
	set -- $("$CLI" free-ports 2)
	RPORT=$1 CPORT=$2
	rm -rf "$TMP/data" "$TMP/spool" "$TMP/spool.reservations"
	"$NODE" --id 1 --address "127.0.0.1:$RPORT" --cluster "1=127.0.0.1:$RPORT" \
		--client-cluster "1=127.0.0.1:$CPORT" --data "$TMP/data" \
		--spool "$TMP/spool" --client-listen "127.0.0.1:$CPORT" \
		--cluster-id "$UUID" --database kv \
		--snapshot-threshold 500 --snapshot-trailing 16 \
		--election-timeout 300 --spool-trailing 50 \
		--spool-segment-size 16384 --reserve-max-age $AGE_MS \
		>>"$TMP/node.log" 2>&1 &
	NPID=$!
	T_PIDS="$T_PIDS $NPID"
	if wait_until 20 leader; then started=1; break; fi
	diag "attempt $attempt: no leader; retrying on new ports"
	kill -9 "$NPID" 2>/dev/null
	wait_pid "$NPID" 2>/dev/null
done
[ $started = 1 ] && ok "a one-node raftkv source is up" ||
	{ not_ok "no leader"; sed 's/^/# /' "$TMP/node.log" | tail -n 20; echo "Bail out!"; exit 1; }

out=$(cli load --count 1200 --value-size 100 --namespace load --key-prefix a)
W1=$(field last_index "$out")

gen_certs
start_serve serve --database "kv=$TMP/spool" --allow "mirror-1=kv"

start_follow() { # log name
	rm -f "$TMP/http.port"
	"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$SERVE_PORT" \
		$(follow_tls) --database kv --set database.kv.applier=kv --set follow.backoff_max=1s \
		--http-listen 127.0.0.1:0 --http-port-file "$TMP/http.port" \
		>"$TMP/$1.log" 2>&1 &
	FPID=$!
	T_PIDS="$T_PIDS $FPID"
	wait_until 20 test -s "$TMP/http.port" ||
		{ not_ok "read API of $1 did not start"; sed 's/^/# /' "$TMP/$1.log" | tail -n 20
		  echo "Bail out! no read API"; exit 1; }
	HTTP="http://127.0.0.1:$(cat "$TMP/http.port")"
}
stop_follow() { kill -TERM "$FPID"; wait_pid "$FPID"; }
req() { n=$1; shift; CODE=$(curl -s -o "$TMP/$n.json" -w '%{http_code}' --max-time 70 "$@"); }
str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$TMP/$2.json"; }
snapshots_sent() { grep -c 'serve: sending snapshot' "$TMP/serve.log"; }
resv_index() { sed -n 's/^index=//p' "$TMP"/spool.reservations/r-* 2>/dev/null; }
# mirror_matches NAME: the mirror reached the source's last index with the
# source's fingerprint.
mirror_matches() {
	S=$(field spool_last "$(cli applied-index)")
	srcfp=$(field fingerprint "$(cli fingerprint)")
	req "$1" -G "$HTTP/v1/db/kv/fingerprint" -d "min_index=$S" -d timeout_ms=60000
	[ "$CODE" = 200 ] && [ "$(str fingerprint "$1")" = "$srcfp" ]
}

at "phase 1"
# 1. A first run bootstraps (one snapshot), a second one resumes: its log
# request from A + 1 is the reservation at A.
start_follow follow1
mirror_matches fp1 || diag "fingerprint 1: $CODE $(cat "$TMP/fp1.json")"
stop_follow
start_follow follow2
wait_until 20 is_state "$TMP/mirror" kv Following
A=$(field spool_last "$(cli applied-index)")
stop_follow
[ "$(resv_index)" = "$A" ] &&
	grep -q '^identity=mirror-1$' "$TMP"/spool.reservations/r-* &&
	[ "$(ls "$TMP/spool" | sort | tr '\n' ' ')" = "freshness identity snapshots wal " ] &&
	ok "serve recorded mirror-1's reservation at $A beside the spool (spool unchanged)" ||
	{ not_ok "reservation: '$(resv_index)' (want $A)"; ls -la "$TMP" "$TMP"/spool.reservations | sed 's/^/# /'; }
SENT1=$(snapshots_sent)
[ "$SENT1" = 1 ] && ok "the first run bootstrapped from one snapshot" ||
	not_ok "snapshots sent: $SENT1"

at "phase 2"
# 2. Away for 1500 entries (30 times the trailing margin; 3 snapshots).
cli load --count 1500 --value-size 100 --namespace load --key-prefix b >/dev/null
LS=$(ls "$TMP"/spool/snapshots | sed -n 's/^\([0-9]*\)-.*\.snapshot$/\1/p' | sort -n | tail -n 1)
first=$(ls "$TMP"/spool/wal | sed -n 's/^wal-0*\([0-9][0-9]*\)\.seg$/\1/p' | sort -n | head -n 1)
diag "source: latest snapshot $LS, wal from $first, mirror reserved $A"
[ "${LS:-0}" -gt $((A + 50)) ] && [ "${first:-0}" -gt 1 ] && [ "$first" -le "$A" ] &&
	ok "the tap kept the wal from the reservation ($first <= $A) though its margin ends at $((LS - 50))" ||
	not_ok "retention: snapshot $LS, wal from $first, reservation $A"
start_follow follow3
mirror_matches fp3 &&
	ok "the mirror resumed past the trailing margin with the source's fingerprint" ||
	not_ok "fingerprint 3: $CODE $(cat "$TMP/fp3.json")"
[ "$(snapshots_sent)" = "$SENT1" ] &&
	ok "no snapshot was sent for the resume (still $SENT1)" ||
	not_ok "snapshots sent: $(snapshots_sent), was $SENT1"

at "phase 3"
# 3. The source goes away for longer than the budget's age (serve frozen
# with SIGSTOP, the mirror keeps running): the mirror's headroom gauge
# counts down to zero before the reservation is dropped; writes meanwhile
# make the tap drop it (log line); once serve is back the mirror
# re-bootstraps once. (Frozen rather than killed: a mirror that finds
# nothing listening 5 times in a row waits 60 s before the next try.)
headroom() {
	"$AGENT" status --data-dir "$TMP/mirror" --json 2>/dev/null |
		sed -n 's/.*"retention_headroom_s":\([0-9][0-9]*\).*/\1/p'
}
headroom_is() { [ "$(headroom)" = "$1" ]; }
headroom_known() { [ -n "$(headroom)" ]; }
wait_until 20 headroom_known
H0=$(headroom)
[ -n "$H0" ] && [ "$H0" -gt 0 ] && [ "$H0" -le $((AGE_MS / 1000)) ] &&
	ok "the following mirror reports a retention headroom of $H0 s (budget age $((AGE_MS / 1000)) s)" ||
	not_ok "headroom while following: '$H0'"
kill -STOP "$SERVE_PID"
B=$(resv_index)
wait_until $((AGE_MS / 1000 + 15)) headroom_is 0 &&
	[ "$(resv_index)" = "$B" ] &&
	ok "the headroom reached 0 while the reservation at $B still stood" ||
	not_ok "headroom $(headroom), reservation '$(resv_index)' (was $B)"
at "headroom 0"
sleep 1 # the reservation's age passes the budget's (written when serve last heard it)
cli load --count 1500 --value-size 100 --namespace load --key-prefix c >/dev/null
wait_until 10 grep -q "reservation of mirror mirror-1 at index $B dropped: older than the reservation budget's age" "$TMP/node.log" &&
	ok "the tap dropped the reservation at $B older than ${AGE_MS} ms, with a log line" ||
	{ not_ok "no drop line for $B"; grep -i reserv "$TMP/node.log" | sed 's/^/# /' | tail; }
[ -z "$(resv_index)" ] && ok "its file is gone" || not_ok "reservation left: $(resv_index)"
at "serve back"
SENT1=$(snapshots_sent)
kill -CONT "$SERVE_PID"
mirror_matches fp4 &&
	ok "the mirror re-bootstrapped and matches the source" ||
	not_ok "fingerprint 4: $CODE $(cat "$TMP/fp4.json")"
[ "$(snapshots_sent)" = $((SENT1 + 1)) ] &&
	ok "exactly one more snapshot was sent ($((SENT1 + 1)) in all)" ||
	not_ok "snapshots sent: $(snapshots_sent), want $((SENT1 + 1))"
at "end"
stop_follow
finish
