#!/bin/sh
# Resume of a large snapshot with a short idle timeout (issue 8 item 4):
# a 512 MiB snapshot is received to about 90 %, the follower is killed,
# and a new follower with a 1 s idle timeout (on both ends) resumes it.
# Neither end may read the durable prefix in one go on its event loop
# (the receiver reads it back in slices between events, the sender reads
# its prefix in slices beside the chunks), so the connection never times
# out during the resume: one connection, one resume request, the snapshot
# byte-identical, all within 60 s.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 8
gen_certs

SIZE=536870912
db=big
spool="$TMP/src/$db"
"$SPOOLGEN" init "$spool" --database "$db" >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 200 --term 1 >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 100 --term 1 --size "$SIZE" --seed 8 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }

start_serve serve --database "$db=$spool" --allow "mirror-1=$db" \
	--set serve.idle_timeout=1s --set serve.heartbeat_interval=300ms

# shellcheck disable=SC2046
"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database "$db" >"$TMP/follow1.log" 2>&1 &
FPID=$!
T_PIDS="$T_PIDS $FPID"
partial="$TMP/mirror/$db/recv/$db.partial"
at90() { [ -f "$partial" ] && [ "$(stat -c %s "$partial")" -ge $((SIZE / 10 * 9)) ]; }
if wait_until 60 at90; then
	kill -KILL "$FPID"
	wait "$FPID" 2>/dev/null
	ok "first follower killed with $(stat -c %s "$partial") bytes received"
else
	not_ok "the .partial never reached 90 %"
	tail -n 20 "$TMP/follow1.log" | sed 's/^/# /'
	kill -KILL "$FPID" 2>/dev/null
fi

start=$(date +%s)
# shellcheck disable=SC2046
timeout 60 "$AGENT" follow --data-dir "$TMP/mirror" \
	--source "127.0.0.1:$SERVE_PORT" $(follow_tls) --database "$db" \
	--set follow.idle_timeout=1s --set follow.keepalive=200ms \
	--exit-when-following >"$TMP/follow2.log" 2>&1
rc=$?
took=$(($(date +%s) - start))
if [ $rc -eq 0 ]; then ok "the resumed follower reached Following in ${took}s (< 60 s)"
else not_ok "follow exit status $rc after ${took}s"; tail -n 30 "$TMP/follow2.log" | sed 's/^/# /'; fi

check "the snapshot is byte-identical" \
	cmp "$spool/snapshots/100-1.snapshot" "$TMP/mirror/$db/snapshots/100-1.snapshot"
resumed=$(sed -n "s/.*resuming $db 100-1 at offset \([0-9]*\) of.*/\1/p" "$TMP/follow2.log" | head -n 1)
check "it resumed from the durable offset (${resumed:-none}), not from 0" \
	test "${resumed:-0}" -ge $((SIZE / 10 * 8))
check "one connection: no reconnect during the resume" \
	test "$(grep -c 'connecting to' "$TMP/follow2.log")" -eq 1
check "one snapshot request" \
	test "$(grep -c 'bootstrapping from snapshot' "$TMP/follow2.log")" -eq 1
check "the receiver read the prefix back in the background and verified it" \
	grep -q "the resumed prefix ($resumed bytes, [0-9]* regions) is verified" "$TMP/follow2.log"
check "serve sent the resumed part once, from that offset" \
	test "$(grep -c "sending snapshot 100-1 of $db ($SIZE bytes) from offset $resumed " "$TMP/serve.log")" -eq 1
