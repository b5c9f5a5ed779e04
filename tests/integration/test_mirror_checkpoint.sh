#!/bin/sh
# Mirror checkpoints end to end (issue 10 item 1): a one-node raftkv
# source (real kv commands through the tap), `serve` on its spool, and a
# kv mirror with a small checkpoint cadence and small wal segments. Across
# 8000 writes the mirror stores checkpoints in its own snapshot store (the
# source's format: `snapshot verify` passes), keeps at most
# checkpoint_keep of them, and trims its wal behind them (the wal holds a
# bounded number of segments and starts past the early history). A
# restart restores the newest checkpoint and replays only the entries
# after it (the log line names both: exactly the entries after the newest
# checkpoint), reaches Following again and answers
# the source's fingerprint.
. "$abs_top_srcdir/tests/integration/lib.sh"

NODE="$abs_top_builddir/examples/raftkv/raftkv-node"
CLI="$abs_top_builddir/examples/raftkv/raftkv-cli"

[ -x "$NODE" ] && [ -x "$CLI" ] ||
	{ echo "Bail out! raftkv-node or raftkv-cli not built"; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
plan 11

UUID=$(cat /proc/sys/kernel/random/uuid)
cli() { timeout 120 "$CLI" --connect "127.0.0.1:$CPORT" --timeout 60 "$@"; }
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
leader() { cli leader 2>/dev/null | grep -q '^OK id=1'; }

started=0
for attempt in 1 2 3; do
	set -- $("$CLI" free-ports 2)
	RPORT=$1 CPORT=$2
	rm -rf "$TMP/data" "$TMP/spool"
	"$NODE" --id 1 --address "127.0.0.1:$RPORT" --cluster "1=127.0.0.1:$RPORT" \
		--client-cluster "1=127.0.0.1:$CPORT" --data "$TMP/data" \
		--spool "$TMP/spool" --client-listen "127.0.0.1:$CPORT" \
		--cluster-id "$UUID" --database kv \
		--snapshot-threshold 100000 --snapshot-trailing 16 \
		--election-timeout 300 --spool-trailing 100000 \
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

out=$(cli load --count 4000 --value-size 100 --namespace load --key-prefix a)
W1=$(field last_index "$out")
[ "${W1:-0}" -ge 4000 ] && ok "source took 4000 writes (last index $W1)" ||
	not_ok "load: $out"

gen_certs
start_serve serve --database "kv=$TMP/spool" --allow "mirror-1=kv"

start_follow() { # log name
	rm -f "$TMP/http.port"
	"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$SERVE_PORT" \
		$(follow_tls) --database kv --set database.kv.applier=kv \
		--set follow.checkpoint_entries=1000 --set follow.checkpoint_bytes=0 \
		--set follow.checkpoint_interval=0 --set follow.checkpoint_keep=2 \
		--set follow.checkpoint_wal_keep=100 --set follow.wal_segment_size=64KiB \
		--http-listen 127.0.0.1:0 --http-port-file "$TMP/http.port" \
		>"$TMP/$1.log" 2>&1 &
	FPID=$!
	T_PIDS="$T_PIDS $FPID"
	wait_until 20 test -s "$TMP/http.port" ||
		{ not_ok "read API of $1 did not start"; sed 's/^/# /' "$TMP/$1.log" | tail -n 20
		  echo "Bail out! no read API"; exit 1; }
	HTTP="http://127.0.0.1:$(cat "$TMP/http.port")"
}
req() { n=$1; shift; CODE=$(curl -s -o "$TMP/$n.json" -w '%{http_code}' --max-time 70 "$@"); }
num() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" "$TMP/$2.json"; }
str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$TMP/$2.json"; }

start_follow follow
req fp1 -G "$HTTP/v1/db/kv/fingerprint" -d "min_index=$W1" -d timeout_ms=60000
[ "$CODE" = 200 ] && ok "the mirror applied $W1" || not_ok "fingerprint 1: $CODE $(cat "$TMP/fp1.json")"

out=$(cli load --count 4000 --value-size 100 --namespace load --key-prefix b)
W2=$(field last_index "$out")
S=$(field spool_last "$(cli applied-index)")
srcfp=$(cli fingerprint)
req fp2 -G "$HTTP/v1/db/kv/fingerprint" -d "min_index=$S" -d timeout_ms=60000
[ "$CODE" = 200 ] && [ "$(str fingerprint fp2)" = "$(field fingerprint "$srcfp")" ] &&
	[ "$(num applied_index fp2)" = "$S" ] &&
	ok "after $W2 writes the mirror's fingerprint equals the source's at $S" ||
	not_ok "fingerprint 2: $CODE $(cat "$TMP/fp2.json") source: $srcfp (spool last $S)"

# Checkpoints are taken on the core's 100 ms tick: wait for the one that
# covers the second load.
ckpt_at_least() {
	n=$(sed -n 's/.*checkpoint \([0-9]*\)-[0-9]* stored.*/\1/p' "$TMP/follow.log" | tail -n 1)
	[ "${n:-0}" -ge "$1" ]
}
wait_until 20 ckpt_at_least $((S - 1000)) || diag "no checkpoint near $S"
# The cadence: at least 1000 entries between two checkpoints (they are
# taken on the tick, so a burst may pass more); over 8000 entries, at
# least 3 (catch-up comes in big batches).
idx=$(sed -n 's/.*checkpoint \([0-9]*\)-[0-9]* stored.*/\1/p' "$TMP/follow.log" | tr '\n' ' ')
taken=0 prev=0 gaps=1
for i in $idx; do
	[ $((i - prev)) -ge 1000 ] || gaps=0
	prev=$i taken=$((taken + 1))
done
[ "$taken" -ge 3 ] && [ $gaps = 1 ] && ok "$taken checkpoints stored at $idx(>= 1000 entries apart)" ||
	{ not_ok "checkpoints stored: $taken at $idx"; grep -i checkpoint "$TMP/follow.log" | sed 's/^/# /' | tail; }

snaps=$(ls "$TMP"/mirror/kv/snapshots/*.snapshot 2>/dev/null | wc -l)
[ "$snaps" -ge 1 ] && [ "$snaps" -le 2 ] && ok "the store keeps $snaps snapshots (checkpoint_keep = 2)" ||
	not_ok "snapshots in the store: $snaps"
newest=$TMP/mirror/kv/snapshots/$(ls "$TMP"/mirror/kv/snapshots/ | grep '\.snapshot$' | sort -n | tail -n 1)
"$AGENT" snapshot verify "$newest" >"$TMP/verify.out" 2>&1 &&
	ok "the newest checkpoint verifies as a snapshot ($(basename "$newest"))" ||
	{ not_ok "snapshot verify $newest"; sed 's/^/# /' "$TMP/verify.out"; }
CK=$(basename "$newest" | sed 's/-.*//')

# The wal: first segment past the early history, few segments.
first=$(ls "$TMP"/mirror/kv/wal/ | sed -n 's/^wal-0*\([0-9][0-9]*\)\.seg$/\1/p' | sort -n | head -n 1)
segs=$(ls "$TMP"/mirror/kv/wal/ | grep -c '^wal-[0-9]*\.seg$')
walkb=$(du -sk "$TMP/mirror/kv/wal" | cut -f1)
spoolkb=$(du -sk "$TMP/spool/wal" | cut -f1)
diag "mirror wal: $segs segments, ${walkb} KiB from index $first; source spool wal: ${spoolkb} KiB"
[ "${first:-0}" -gt $((CK - 2000)) ] && [ "$segs" -le 12 ] &&
	ok "the wal was trimmed behind checkpoint $CK (starts at $first, $segs segments)" ||
	not_ok "wal not trimmed: first $first, $segs segments, checkpoint $CK"

# A tail after the newest checkpoint, shorter than the cadence.
out=$(cli load --count 300 --value-size 100 --namespace load --key-prefix c)
W3=$(field last_index "$out")
req fp3 -G "$HTTP/v1/db/kv/fingerprint" -d "min_index=$W3" -d timeout_ms=60000
FP=$(str fingerprint fp3)
A=$(num applied_index fp3)
kill -TERM "$FPID"
wait_pid "$FPID"
check "follow stops cleanly on SIGTERM" test $? -eq 0
# The newest checkpoint at the stop (one may have been taken since).
CK=$(ls "$TMP"/mirror/kv/snapshots/ | sed -n 's/^\([0-9]*\)-.*\.snapshot$/\1/p' | sort -n | tail -n 1)

t0=$(date +%s%N)
start_follow follow2
wait_until 20 is_state "$TMP/mirror" kv Following
t1=$(date +%s%N)
diag "restart to Following: $(( (t1 - t0) / 1000000 )) ms"
# The copy is restored on a helper thread: Following (the log's
# position) can come first under load.
wait_until 20 grep -q 'kv applier at index' "$TMP/follow2.log"
line=$(grep 'kv applier at index' "$TMP/follow2.log" | head -n 1)
rs=$(echo "$line" | sed -n 's/.*(snapshot \([0-9]*\), \([0-9]*\) wal entries replayed.*/\1/p')
rn=$(echo "$line" | sed -n 's/.*(snapshot \([0-9]*\), \([0-9]*\) wal entries replayed.*/\2/p')
[ "${rs:-0}" = "$CK" ] && [ "${rn:-0}" = $((A - CK)) ] && [ "$rn" -lt 2000 ] &&
	ok "restart restored checkpoint $CK and replayed only the $rn entries after it (of $A)" ||
	not_ok "restart: '$line' (newest checkpoint $CK)"
req fp4 -G "$HTTP/v1/db/kv/fingerprint" -d "min_index=$A" -d timeout_ms=20000
is_state "$TMP/mirror" kv Following && [ "$CODE" = 200 ] && [ "$(str fingerprint fp4)" = "$FP" ] &&
	ok "restarted mirror is Following with the same fingerprint $FP" ||
	not_ok "after restart: state $(state_of "$TMP/mirror" kv), $CODE $(cat "$TMP/fp4.json") (before: $FP at $A)"
kill -TERM "$FPID"
wait_pid "$FPID"
finish
