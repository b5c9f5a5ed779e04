#!/bin/sh
# Faults end to end over loopback QUIC:
#  - kill -9 of `follow` mid-bootstrap: the restart resumes, fetching less
#    than the remainder plus one fsync interval plus one chunk;
#  - kill of `serve` mid-bootstrap and mid-tail (and its restart): the
#    mirror moves to the other endpoint and continues;
#  - the source compacts past the mirror: re-bootstrap, then equal state;
#  - a snapshot corrupted on the source after its metadata was written is
#    rejected at the end, never exposed, reported, and retried.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 14
gen_certs

SIZE=$((256 * 1024 * 1024))
FSYNC=$((8 * 1024 * 1024))
CHUNK=$((1024 * 1024))
spool=$TMP/src/big
"$SPOOLGEN" init "$spool" --database big >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 100 --term 1 --segment-size 16384 >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 100 --term 1 --size $SIZE --seed 7 >/dev/null &&
"$SPOOLGEN" append "$spool" --count 2000 --term 1 --segment-size 16384 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }

start_serve serveA --database "big=$spool" --allow mirror-1=big
PORT_A=$SERVE_PORT
PID_A=$SERVE_PID
start_serve serveB --database "big=$spool" --allow mirror-1=big
PORT_B=$SERVE_PORT
PID_B_REAL=$SERVE_PID

follow_bg() { # log
	"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$PORT_A" \
		--source "127.0.0.1:$PORT_B" $(follow_tls) --database big \
		--set follow.backoff_min=50ms --set follow.backoff_max=500ms \
		>"$TMP/$1" 2>&1 &
	FPID=$!
	T_PIDS="$T_PIDS $FPID"
}

# Largest byte count the receiver had reported before the kill.
reported_bytes() {
	sed -n 's/.*big: Bootstrapping [0-9.]*% (\([0-9]*\) of.*/\1/p' "$1" | tail -n1
}

# 1. kill -9 mid-bootstrap, restart, resume.
follow_bg follow1.log
past() { b=$(reported_bytes "$TMP/follow1.log"); [ "${b:-0}" -ge $((SIZE / 3)) ]; }
if wait_until 60 past; then
	kill -9 "$FPID"
	wait_pid "$FPID" 2>/dev/null
	done_before=$(reported_bytes "$TMP/follow1.log")
	ok "follow killed with -9 after $done_before of $SIZE bytes"
else
	not_ok "bootstrap never passed a third"
	done_before=0
fi
assert_no_files "no .snapshot visible after the kill" \
	"$TMP/mirror/big/snapshots" '*.snapshot'

follow_bg follow2.log
# 2. serve A dies mid-bootstrap: the mirror resumes through serve B.
resumed_at=
started() {
	resumed_at=$(sed -n 's/.*bootstrapping from snapshot .* from offset \([0-9]*\).*/\1/p' "$TMP/follow2.log" | head -n1)
	b=$(reported_bytes "$TMP/follow2.log")
	[ -n "$resumed_at" ] && [ "${b:-0}" -ge $((resumed_at + 16 * 1024 * 1024)) ]
}
if wait_until 60 started; then
	kill -9 "$PID_A"
	ok "serve A killed mid-bootstrap"
else
	not_ok "the resumed bootstrap did not progress"
fi
check "restart reaches Following (through serve B)" \
	wait_until 90 is_state "$TMP/mirror" big Following
# Mid-bootstrap means: after connecting to B the mirror resumed the
# snapshot from a non-zero offset (not merely tailed the log through B).
resumed_on_b() {
	awk -v b="connected to 127.0.0.1:$PORT_B" '
		index($0, b) { on_b = 1 }
		on_b && /bootstrapping from snapshot .* from offset [1-9]/ { found = 1 }
		END { exit !found }' "$TMP/follow2.log"
}
check "the mirror switched to serve B mid-bootstrap and resumed there" resumed_on_b
refetched=$((SIZE - ${resumed_at:-0}))
limit=$((SIZE - ${done_before:-0} + FSYNC + CHUNK))
diag "resumed at $resumed_at: fetched $refetched bytes after restart, limit $limit"
check "bytes fetched after restart < remainder + fsync interval + chunk" \
	test "${resumed_at:-0}" -gt 0 -a "$refetched" -lt "$limit"
check "snapshot byte-identical after resume and failover" \
	cmp "$spool/snapshots/100-1.snapshot" "$TMP/mirror/big/snapshots/100-1.snapshot"

# 3. Mid-tail: serve B dies and serve A comes back on its old port.
kill -9 "$PID_B_REAL"
SERVE_LISTEN=127.0.0.1:$PORT_A start_serve serveA-again --database "big=$spool" --allow mirror-1=big
SERVE_LISTEN=
"$SPOOLGEN" append "$spool" --count 500 --term 1 --segment-size 16384 >/dev/null
tail_done() {
	"$AGENT" wal dump "$TMP/mirror/big/wal" --from 101 2>/dev/null | wc -l | grep -qx 2500
}
check "mid-tail, after serve B is killed, entries arrive through the restarted serve A" \
	wait_until 60 tail_done
check "the mirror reconnected to serve A" \
	sh -c "[ \$(grep -c 'connected to 127.0.0.1:$PORT_A' '$TMP/follow2.log') -ge 2 ]"
kill -TERM "$FPID"; wait_pid "$FPID" 2>/dev/null
kill "$SERVE_PID"

# 4. The source compacts past the mirror's position while it is stopped.
"$SPOOLGEN" append "$spool" --count 1000 --term 2 --segment-size 16384 >/dev/null
"$SPOOLGEN" snapshot "$spool" --index 3500 --term 2 --size 3000000 --seed 9 >/dev/null
"$SPOOLGEN" compact "$spool" --before 3400 >/dev/null
"$SPOOLGEN" append "$spool" --count 100 --term 2 --segment-size 16384 >/dev/null
start_serve serveA2 --database "big=$spool" --allow mirror-1=big
PORT_A=$SERVE_PORT
follow_bg follow3.log
rebooted() { grep -q "bootstrapping from snapshot 3500-2" "$TMP/follow3.log" &&
	[ "$(state_of "$TMP/mirror" big)" = Following ]; }
check "compacted source: the mirror re-bootstraps and follows" wait_until 90 rebooted
same_tail() {
	"$AGENT" wal dump "$spool/wal" --from 3501 >"$TMP/src.dump" &&
	"$AGENT" wal dump "$TMP/mirror/big/wal" --from 3501 >"$TMP/mirror.dump" &&
	[ -s "$TMP/src.dump" ] && cmp "$TMP/src.dump" "$TMP/mirror.dump"
}
check "after re-bootstrap the entries equal the source's" wait_until 30 same_tail
kill -TERM "$FPID"; wait_pid "$FPID" 2>/dev/null

# 5. A snapshot corrupted on the source after its metadata was written.
"$SPOOLGEN" init "$TMP/src/bad" --database bad >/dev/null
"$SPOOLGEN" append "$TMP/src/bad" --from 1 --count 10 --term 1 >/dev/null
"$SPOOLGEN" snapshot "$TMP/src/bad" --index 10 --term 1 --size 5000000 --seed 3 >/dev/null
printf 'X' | dd of="$TMP/src/bad/snapshots/10-1.snapshot" bs=1 seek=4000000 conv=notrunc 2>/dev/null
start_serve serveBad --database "bad=$TMP/src/bad" --allow mirror-1=bad
"$AGENT" follow --data-dir "$TMP/mirror2" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database bad --set follow.backoff_min=50ms \
	--set follow.backoff_max=200ms >"$TMP/follow4.log" 2>&1 &
FPID=$!
T_PIDS="$T_PIDS $FPID"
retried() { [ "$(grep -c 'bootstrapping from snapshot 10-1' "$TMP/follow4.log")" -ge 2 ]; }
check "corrupted source snapshot: error reported and retried" wait_until 30 retried
check "the source names the CRC problem" grep -qi "crc" "$TMP/serveBad.log"
assert_no_files "no .snapshot was ever exposed for it" \
	"$TMP/mirror2/bad/snapshots" '*.snapshot'
kill -TERM "$FPID"; wait_pid "$FPID" 2>/dev/null
finish
