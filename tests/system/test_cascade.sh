#!/bin/sh
# Cascade (issue 10): source -> mirror A -> mirror B, real processes. A
# one-node raftkv source with a small trailing margin and `serve` on its
# spool; mirror A (kv, checkpoints every 1000 entries, small segments)
# follows it, and a second `serve` serves A's database directory; mirror
# B follows A. Asserts:
#  - A publishes its reservation budget ([follow] reserve_max_*) beside
#    its directory, with the configured values, as a tap does;
#  - serve on A's directory records B's reservation and reports B's
#    headroom (a number, not "unknown"), and B's own status shows it;
#  - B stopped while A takes several checkpoints: A's wal is not trimmed
#    past B's position (B's reservation is kept in A's retention), though
#    A's margin alone would have cut it;
#  - B restarted resumes from A without a snapshot and ends with the
#    source's fingerprint.
. "$abs_top_srcdir/tests/integration/lib.sh"

NODE="$abs_top_builddir/examples/raftkv/raftkv-node"
CLI="$abs_top_builddir/examples/raftkv/raftkv-cli"

[ -x "$NODE" ] && [ -x "$CLI" ] ||
	{ echo "Bail out! raftkv-node or raftkv-cli not built"; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
plan 8

UUID=$(cat /proc/sys/kernel/random/uuid)
cli() { timeout 120 "$CLI" --connect "127.0.0.1:$CPORT" --timeout 60 "$@"; }
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }
leader() { cli leader 2>/dev/null | grep -q '^OK id=1'; }
AGE_MS=600000

started=0
for attempt in 1 2 3; do
	set -- $("$CLI" free-ports 2)
	RPORT=$1 CPORT=$2
	rm -rf "$TMP/data" "$TMP/spool" "$TMP/spool.reservations"
	"$NODE" --id 1 --address "127.0.0.1:$RPORT" --cluster "1=127.0.0.1:$RPORT" \
		--client-cluster "1=127.0.0.1:$CPORT" --data "$TMP/data" \
		--spool "$TMP/spool" --client-listen "127.0.0.1:$CPORT" \
		--cluster-id "$UUID" --database kv \
		--snapshot-threshold 1000 --snapshot-trailing 16 \
		--election-timeout 1000 --spool-trailing 50 \
		--spool-segment-size 65536 --reserve-max-age 3600000 \
		>>"$TMP/node.log" 2>&1 &
	NPID=$!
	T_PIDS="$T_PIDS $NPID"
	if wait_until 20 leader; then started=1; break; fi
	diag "attempt $attempt: no leader; retrying on new ports"
	kill -9 "$NPID" 2>/dev/null
	wait_pid "$NPID" 2>/dev/null
done
[ $started = 1 ] || { not_ok "no leader"; sed 's/^/# /' "$TMP/node.log" | tail -n 20; echo "Bail out!"; exit 1; }
cli load --count 1500 --value-size 100 --namespace c --key-prefix a >/dev/null

gen_certs
start_serve serve-src --database "kv=$TMP/spool" --allow "mirror-1=kv"
SRC_PORT=$SERVE_PORT

# Mirror A: identity mirror-1 towards the source.
"$AGENT" follow --data-dir "$TMP/a" --source "127.0.0.1:$SRC_PORT" \
	$(follow_tls) --database kv --set database.kv.applier=kv \
	--set follow.backoff_max=1s \
	--set follow.checkpoint_entries=1000 --set follow.checkpoint_bytes=0 \
	--set follow.checkpoint_interval=0 --set follow.checkpoint_keep=1 \
	--set follow.checkpoint_wal_keep=50 --set follow.wal_segment_size=64KiB \
	--set follow.reserve_max_bytes=256MiB --set follow.reserve_max_age=10min \
	>"$TMP/follow-a.log" 2>&1 &
APID=$!
T_PIDS="$T_PIDS $APID"
wait_until 30 is_state "$TMP/a" kv Following || diag "A: $(state_of "$TMP/a" kv)"

budget="$TMP/a/kv.reservations/budget"
grep -q "^max_bytes=268435456$" "$budget" 2>/dev/null && grep -q "^max_age_ms=$AGE_MS$" "$budget" &&
	ok "mirror A published its reservation budget beside its directory (256MiB, 10min)" ||
	{ not_ok "budget file: $(cat "$budget" 2>&1)"; ls -la "$TMP/a" | sed 's/^/# /'; }

start_serve serve-a --database "kv=$TMP/a/kv" --allow "mirror-2=kv"
A_PORT=$SERVE_PORT

start_b() { # log name
	rm -f "$TMP/b.port"
	"$AGENT" follow --data-dir "$TMP/b" --source "127.0.0.1:$A_PORT" \
		--ca "$PKI/ca.pem" --cert "$PKI/mirror-2.pem" --key "$PKI/mirror-2.key" \
		--server-name localhost --database kv --set database.kv.applier=kv \
		--set follow.backoff_max=1s \
		--http-listen 127.0.0.1:0 --http-port-file "$TMP/b.port" \
		>"$TMP/$1.log" 2>&1 &
	BPID=$!
	T_PIDS="$T_PIDS $BPID"
	wait_until 20 test -s "$TMP/b.port" ||
		{ not_ok "read API of B did not start"; sed 's/^/# /' "$TMP/$1.log" | tail; echo "Bail out!"; exit 1; }
	HTTP="http://127.0.0.1:$(cat "$TMP/b.port")"
}
req() { n=$1; shift; CODE=$(curl -s -o "$TMP/$n.json" -w '%{http_code}' --max-time 70 "$@"); }
str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$TMP/$2.json"; }
b_matches() { # name
	S=$(field spool_last "$(cli applied-index)")
	srcfp=$(field fingerprint "$(cli fingerprint)")
	req "$1" -G "$HTTP/v1/db/kv/fingerprint" -d "min_index=$S" -d timeout_ms=60000
	[ "$CODE" = 200 ] && [ "$(str fingerprint "$1")" = "$srcfp" ]
}
resv_b() { sed -n 's/^index=//p' "$TMP"/a/kv.reservations/r-* 2>/dev/null; }
headroom_b() {
	"$AGENT" status --data-dir "$TMP/b" --json 2>/dev/null |
		sed -n 's/.*"retention_headroom_s":\([0-9][0-9]*\).*/\1/p'
}
a_first() { ls "$TMP"/a/kv/wal | sed -n 's/^wal-0*\([0-9][0-9]*\)\.seg$/\1/p' | sort -n | head -n 1; }
a_ckpt() { ls "$TMP"/a/kv/snapshots | sed -n 's/^\([0-9]*\)-.*\.snapshot$/\1/p' | sort -n | tail -n 1; }

start_b follow-b1
b_matches fp1 || diag "B fingerprint 1: $CODE $(cat "$TMP/fp1.json")"
wait_until 20 eval '[ -n "$(headroom_b)" ]'
H=$(headroom_b)
[ -n "$H" ] && [ "$H" -gt 0 ] && [ "$H" -le $((AGE_MS / 1000)) ] &&
	ok "B reports a retention headroom of $H s from serve on A's directory (budget age $((AGE_MS / 1000)) s)" ||
	not_ok "B's headroom: '$H'"
kill -TERM "$BPID"
wait_pid "$BPID"
B=$(resv_b)
SENT=$(grep -c 'serve: sending snapshot' "$TMP/serve-a.log")
# The reservation is B's log request's from - 1, refreshed on a live
# stream from what was sent 10 s earlier (serve_reserve.h): between
# the snapshot B bootstrapped from and what it holds.
BS=$(ls "$TMP"/b/kv/snapshots | sed -n 's/^\([0-9]*\)-.*\.snapshot$/\1/p' | sort -n | head -n 1)
[ -n "$B" ] && [ "$B" -ge "${BS:-1}" ] && [ "$B" -le 1501 ] &&
	grep -q '^identity=mirror-2$' "$TMP"/a/kv.reservations/r-* &&
	ok "serve on A's directory recorded B's reservation at $B (B bootstrapped from $BS)" ||
	not_ok "B's reservation: '$B'"

# B away while the source takes 5000 more writes: A checkpoints about
# five times and trims behind each.
cli load --count 5000 --value-size 100 --namespace c --key-prefix b >/dev/null
S=$(field spool_last "$(cli applied-index)")
ckpt_past() { [ "$(a_ckpt)" -ge $((S - 1000)) ]; }
wait_until 30 ckpt_past || diag "A's newest checkpoint $(a_ckpt), source at $S"
CK=$(a_ckpt) FIRST=$(a_first)
diag "A: newest checkpoint $CK, wal from $FIRST; B reserved $B; A's margin alone would cut at $((CK - 50 + 1))"
[ "${CK:-0}" -gt $((B + 2000)) ] && [ "${FIRST:-0}" -le $((B + 1)) ] &&
	ok "A kept its wal from $FIRST (<= B's $B + 1) past checkpoint $CK" ||
	not_ok "A's wal from $FIRST, checkpoint $CK, B at $B"
grep -q "reservation of mirror-2 at $B keeps [1-9][0-9]* bytes of wal" "$TMP/follow-a.log" &&
	ok "A's log says what B's reservation holds" ||
	{ not_ok "no line about mirror-2 in A's log"; grep -i reserv "$TMP/follow-a.log" | sed 's/^/# /' | tail -n 5; }

# serve A's report (every 60 s; the status file) names B with a headroom.
start_b follow-b2
b_matches fp2 && ok "B resumed from A and matches the source's fingerprint at $S" ||
	not_ok "B fingerprint 2: $CODE $(cat "$TMP/fp2.json")"
[ "$(grep -c 'serve: sending snapshot' "$TMP/serve-a.log")" = "$SENT" ] &&
	ok "no snapshot was sent to B for the resume (still $SENT)" ||
	not_ok "snapshots sent by A: $(grep -c 'serve: sending snapshot' "$TMP/serve-a.log"), was $SENT"
wait_until 20 eval '[ -n "$(headroom_b)" ]'
H=$(headroom_b)
[ -n "$H" ] && [ "$H" -gt 0 ] && [ "$H" -le $((AGE_MS / 1000)) ] &&
	ok "B's headroom after the resume: $H s" || not_ok "B's headroom after the resume: '$H'"
kill -TERM "$BPID" "$APID"
wait_pid "$BPID"
wait_pid "$APID"
finish
