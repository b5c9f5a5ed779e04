#!/bin/sh
# Background snapshot refresh of a `none` mirror, real processes (issue 10
# item 1; the rules are tested first in tests/sim/test_sim_refresh.c). A
# one-node raftkv source takes a snapshot every 1000 entries and keeps a
# margin of 50; `serve` serves its spool; a mirror with the none applier
# (it cannot checkpoint) follows with refresh_distance 1000, the source's
# info asked every second, the fetch paced at 64 KiB/s. While writes go
# on, asserts:
#  - the mirror fetches a newer snapshot of the source in the background
#    (log lines), installs it (it verifies, it is the source's file) and
#    trims its wal behind it (margin 50);
#  - the log stream was never interrupted: between the first Following
#    and the end the mirror logs no other state and opened one log
#    stream, and it ends at the source's last index;
#  - the status file shows it (refresh_installed, refresh_last_index,
#    refresh_received_bytes, refresh_state);
#  - the store keeps at most checkpoint_keep (2) snapshots;
#  - since it trims, it publishes the reservation budget beside its
#    directory (the defaults: 1 GiB, 24 h) for mirrors served from it.
. "$abs_top_srcdir/tests/integration/lib.sh"

NODE="$abs_top_builddir/examples/raftkv/raftkv-node"
CLI="$abs_top_builddir/examples/raftkv/raftkv-cli"

[ -x "$NODE" ] && [ -x "$CLI" ] ||
	{ echo "Bail out! raftkv-node or raftkv-cli not built"; exit 1; }
plan 8
T0=$(date +%s)

UUID=$(cat /proc/sys/kernel/random/uuid)
cli() { timeout 120 "$CLI" --connect "127.0.0.1:$CPORT" --timeout 60 "$@"; }
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }
leader() { cli leader 2>/dev/null | grep -q '^OK id=1'; }

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
		--spool-segment-size 65536 \
		>>"$TMP/node.log" 2>&1 &
	NPID=$!
	T_PIDS="$T_PIDS $NPID"
	if wait_until 20 leader; then started=1; break; fi
	diag "attempt $attempt: no leader; retrying on new ports"
	kill -9 "$NPID" 2>/dev/null
	wait_pid "$NPID" 2>/dev/null
done
[ $started = 1 ] || { not_ok "no leader"; sed 's/^/# /' "$TMP/node.log" | tail -n 20; echo "Bail out!"; exit 1; }
cli load --count 1500 --value-size 200 --namespace r --key-prefix a >/dev/null

gen_certs
start_serve serve --database "kv=$TMP/spool" --allow "mirror-1=kv"
"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv --set follow.backoff_max=1s \
	--set follow.refresh_distance=1000 --set follow.refresh_check_interval=1s \
	--set follow.refresh_rate=64KiB --set follow.checkpoint_keep=2 \
	--set follow.checkpoint_wal_keep=50 --set follow.wal_segment_size=64KiB \
	>"$TMP/follow.log" 2>&1 &
FPID=$!
T_PIDS="$T_PIDS $FPID"
wait_until 30 is_state "$TMP/mirror" kv Following || diag "state $(state_of "$TMP/mirror" kv)"
B0=$(ls "$TMP"/mirror/kv/snapshots | sed -n 's/^\([0-9]*\)-.*\.snapshot$/\1/p' | sort -n | tail -n 1)

# Writes go on while the refresh runs: 2 rounds of 800.
for i in 1 2; do
	cli load --count 800 --value-size 200 --namespace r --key-prefix "b$i-" >/dev/null
done
installed() { grep -q 'snapshot refresh: .* installed' "$TMP/follow.log"; }
wait_until 60 installed
diag "writes done and a refresh installed at $(($(date +%s) - T0)) s"
line=$(grep 'snapshot refresh: .* installed' "$TMP/follow.log" | head -n 1)
diag "bootstrap snapshot $B0; ${line#*info }"
R=$(echo "$line" | sed -n 's/.*snapshot refresh: \([0-9]*\)-\([0-9]*\) installed.*/\1/p')
T=$(echo "$line" | sed -n 's/.*snapshot refresh: \([0-9]*\)-\([0-9]*\) installed.*/\2/p')
[ -n "$R" ] && [ "$R" -ge $((${B0:-0} + 1000)) ] && grep -q "snapshot refresh: fetching $R-$T" "$TMP/follow.log" &&
	ok "the mirror fetched the source's snapshot $R-$T in the background (bootstrapped from $B0)" ||
	{ not_ok "refresh: '$line'"; grep -i 'refresh\|snapshot' "$TMP/follow.log" | sed 's/^/# /' | tail -n 20; }

first=$(echo "$line" | sed -n 's/.*wal now starts at \([0-9]*\).*/\1/p')
[ -n "$first" ] && [ "$first" -gt "${B0:-0}" ] && [ "$first" -le $((R - 50 + 1)) ] &&
	ok "its wal was trimmed behind it (starts at $first, margin 50 before $R)" ||
	not_ok "wal after the refresh: '$line'"

# The refresh's figures are in the status model (file, /status,
# /metrics), not only in the log: rewritten every second.
rnum() { sed -n "s/.*\"$1\":\([0-9]*\)[,}].*/\1/p" "$TMP/mirror/status"; }
refresh_shown() {
	[ "$(rnum refresh_installed)" -ge 1 ] 2>/dev/null &&
		[ "$(rnum refresh_last_index)" -ge "${R:-1}" ] 2>/dev/null
}
wait_until 5 refresh_shown
rs=$(sed -n 's/.*"refresh_state":"\([a-z]*\)".*/\1/p' "$TMP/mirror/status")
diag "status: refresh_state $rs, installed $(rnum refresh_installed), last index $(rnum refresh_last_index), $(rnum refresh_received_bytes) bytes, $(rnum refresh_failures) failures"
refresh_shown && [ "$(rnum refresh_received_bytes)" -gt 0 ] 2>/dev/null &&
	echo "$rs" | grep -Eqx 'idle|checking|fetching|paused|verifying' &&
	ok "the status shows the refresh: state $rs, $(rnum refresh_installed) installed, last $(rnum refresh_last_index) >= $R, $(rnum refresh_received_bytes) bytes" ||
	{ not_ok "refresh in the status"; sed 's/^/# /' "$TMP/mirror/status"; }

S=$(field spool_last "$(cli applied-index)")
caught_up() {
	"$AGENT" status --data-dir "$TMP/mirror" --json 2>/dev/null | grep -q "\"log_index\":$S[,}]"
}
wait_until 30 caught_up
states=$(sed -n 's/.* kv: state \([A-Za-z]*\).*/\1/p' "$TMP/follow.log" | tr '\n' ' ')
logs=$(grep -c 'kv: following the log from' "$TMP/follow.log")
# The first run bootstraps (the source compacted), then only Following.
[ "$states" = "Connecting CatchingUp Bootstrapping CatchingUp Following " ] && [ "$logs" = 1 ] &&
	ok "the log was never interrupted (states: $states; one log stream)" ||
	not_ok "states: $states; log streams: $logs"
caught_up && ok "the mirror's log reached the source's last index $S" ||
	not_ok "mirror at $("$AGENT" status --data-dir "$TMP/mirror" --json | sed -n 's/.*"log_index":\([0-9]*\).*/\1/p'), source $S"
# The newest snapshot of the store (later refreshes may have replaced
# R): it verifies and is the source's file, byte for byte.
N=$(ls "$TMP"/mirror/kv/snapshots | sed -n 's/^\([0-9]*-[0-9]*\)\.snapshot$/\1/p' | sort -n | tail -n 1)
f="$TMP/mirror/kv/snapshots/$N.snapshot"
src="$TMP/spool/snapshots/$N.snapshot"
if [ "${N%-*}" -ge "$R" ] && "$AGENT" snapshot verify "$f" >"$TMP/verify.out" 2>&1; then
	if [ ! -f "$src" ] || cmp -s "$f" "$src"; then
		ok "the newest snapshot $N verifies$( [ -f "$src" ] && echo ' and equals the source file')"
	else
		not_ok "snapshot $N differs from the source's"
	fi
else
	not_ok "snapshot verify $f: $(cat "$TMP/verify.out" 2>/dev/null)"
fi
n=$(ls "$TMP"/mirror/kv/snapshots/*.snapshot | wc -l)
[ "$n" -ge 1 ] && [ "$n" -le 2 ] && ok "the store keeps $n snapshots (checkpoint_keep 2)" ||
	not_ok "snapshots in the store: $n"
budget="$TMP/mirror/kv.reservations/budget"
grep -q '^max_bytes=1073741824$' "$budget" 2>/dev/null && grep -q '^max_age_ms=86400000$' "$budget" &&
	ok "the none mirror published its reservation budget (defaults)" ||
	not_ok "budget: $(cat "$budget" 2>&1)"
kill -TERM "$FPID"
wait_pid "$FPID"
finish
