#!/bin/sh
# End to end over loopback QUIC: one `serve` with five databases whose
# snapshots are 0 B, 1 B, 1 MiB - 1, 1 MiB + 1 and 64 MiB, each followed by
# thousands of log entries; one `follow` mirrors all five over one
# connection. The mirror must end with byte-identical snapshots, the same
# entries (wal dump equal) and every database Following; entries appended
# while following must arrive in order, none missing, none twice.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 18
gen_certs

sizes="0 1 1048575 1048577 67108864"
dbs=""
n=0
for size in $sizes; do
	n=$((n + 1))
	db="db$n"
	dbs="$dbs $db"
	spool="$TMP/src/$db"
	"$SPOOLGEN" init "$spool" --database "$db" >/dev/null &&
	"$SPOOLGEN" append "$spool" --from 1 --count 1500 --term 1 >/dev/null &&
	"$SPOOLGEN" snapshot "$spool" --index 1000 --term 1 --size "$size" --seed "$n" >/dev/null &&
	"$SPOOLGEN" append "$spool" --count 1500 --term 2 >/dev/null ||
		{ echo "Bail out! spoolgen failed for $db"; exit 1; }
done

serve_args=""
allow=""
for db in $dbs; do
	serve_args="$serve_args --database $db=$TMP/src/$db"
	allow="$allow${allow:+,}$db"
done
# shellcheck disable=SC2086
start_serve serve $serve_args --allow "mirror-1=$allow"

follow_args=""
for db in $dbs; do follow_args="$follow_args --database $db"; done
# The progress hook records what it is given.
cat >"$TMP/hook.sh" <<HOOK
#!/bin/sh
echo "\$MIRROR_AGENT_DATABASE \$MIRROR_AGENT_STATE \$MIRROR_AGENT_BYTES_DONE \$MIRROR_AGENT_BYTES_TOTAL" >>"$TMP/hook.out"
HOOK
chmod +x "$TMP/hook.sh"
# shellcheck disable=SC2086
timeout 120 "$AGENT" follow --data-dir "$TMP/mirror" \
	--source "127.0.0.1:$SERVE_PORT" $(follow_tls) $follow_args \
	--progress-hook "$TMP/hook.sh" \
	--exit-when-following >"$TMP/follow.log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok "follow reached Following for all five databases"
else not_ok "follow exit status $rc"; tail -n 30 "$TMP/follow.log" | sed 's/^/# /'; fi

n=0
for db in $dbs; do
	n=$((n + 1))
	check "$db: snapshot byte-identical" \
		cmp "$TMP/src/$db/snapshots/1000-1.snapshot" "$TMP/mirror/$db/snapshots/1000-1.snapshot"
done

same_entries() { # db
	"$AGENT" wal dump "$TMP/src/$1/wal" --from 1001 >"$TMP/$1.src.dump" &&
	"$AGENT" wal dump "$TMP/mirror/$1/wal" --from 1001 >"$TMP/$1.mirror.dump" &&
	[ "$(wc -l <"$TMP/$1.src.dump")" -ge 2000 ] &&
	cmp "$TMP/$1.src.dump" "$TMP/$1.mirror.dump"
}
for db in db1 db5; do
	check "$db: entries 1001..3000 equal (wal dump)" same_entries "$db"
done

check "the progress hook ran with the bootstrap figures in its environment" \
	grep -q "^db5 Bootstrapping [0-9]* 67108864$" "$TMP/hook.out"
check "bytes_done reported to the hook never went backwards" \
	sh -c "grep '^db5 Bootstrapping' '$TMP/hook.out' | awk '\$3 < last { exit 1 } { last = \$3 }'"
check "mirror wal verifies" "$AGENT" wal verify "$TMP/mirror/db5/wal"
check "progress was logged at least every MiB for the 64 MiB snapshot" \
	sh -c "[ \$(grep -c 'db5: Bootstrapping' '$TMP/follow.log') -ge 60 ]"

# Live tail: follow again (resuming, no bootstrap), append on the source
# while it runs, and check that everything arrives exactly once, in order.
# shellcheck disable=SC2086
"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) $follow_args --log-file "$TMP/follow2.log" 2>"$TMP/follow2.err" &
FPID=$!
T_PIDS="$T_PIDS $FPID"
wait_until 30 is_state "$TMP/mirror" db1 Following ||
	diag "db1 did not report Following before the appends"
for i in 1 2 3 4 5; do
	"$SPOOLGEN" append "$TMP/src/db1" --count 200 --term 3 >/dev/null
	sleep 0.1
done
caught_up() {
	"$AGENT" wal dump "$TMP/mirror/db1/wal" --from 3001 2>/dev/null | wc -l |
		grep -qx 1000
}
check "1000 entries appended while following arrived" wait_until 30 caught_up
# SIGHUP reopens the log file (rotation).
mv "$TMP/follow2.log" "$TMP/follow2.log.1"
kill -HUP "$FPID"
check "SIGHUP reopens the log file" wait_until 10 grep -q "SIGHUP" "$TMP/follow2.log"
check "status reports Following with zero lag once idle" \
	wait_until 10 sh -c "'$AGENT' status --data-dir '$TMP/mirror' | grep -A3 '^db1: Following' | grep -q 'lag 0 entries'"
cat "$TMP/follow2.log" >>"$TMP/follow2.log.1"
mv "$TMP/follow2.log.1" "$TMP/follow2.log"
kill -TERM "$FPID" 2>/dev/null
wait_pid "$FPID"
check "follow stops cleanly on SIGTERM" test $? -eq 0
check "live entries equal the source's, in order, none twice" same_entries db1
assert_absent "follow did not bootstrap again when restarted" \
	'bootstrapping from snapshot' "$TMP/follow2.log"
finish
