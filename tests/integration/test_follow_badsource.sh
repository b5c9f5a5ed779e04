#!/bin/sh
# A source that sends bad snapshot streams (serve built with
# --enable-fault-injection): a wrong chunk CRC, an offset gap, data whose
# total CRC cannot match, an oversize frame, a frame that is not msgpack and
# an oversize field. Each must give a clean protocol error naming the
# problem, no new .snapshot, and leave what the mirror already stored
# untouched (its earlier snapshot and log).
. "$abs_top_srcdir/tests/integration/lib.sh"

faults="chunk-crc offset-gap total-crc oversize-frame malformed oversize-field"
plan 20
if "$AGENT" serve --inject-fault x 2>&1 | grep -q "unknown option"; then
	for i in $(seq 20); do skip "serve built without --enable-fault-injection"; done
	exit 0
fi
gen_certs

spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 300 --term 1 --segment-size 8192 >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 200 --term 1 --size 3000000 --seed 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }

# A good first bootstrap.
start_serve good --database "kv=$spool" --allow mirror-1=kv
timeout 60 "$AGENT" follow --data-dir "$TMP/m" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv --exit-when-following >"$TMP/first.log" 2>&1
check "first bootstrap from a good source" test $? -eq 0
kill "$SERVE_PID"

# The source moves on: a new snapshot and a compacted log force the mirror
# to bootstrap again, from the faulty sources below.
"$SPOOLGEN" append "$spool" --count 1000 --term 2 --segment-size 8192 >/dev/null
"$SPOOLGEN" snapshot "$spool" --index 1200 --term 2 --size 3000000 --seed 2 >/dev/null
"$SPOOLGEN" compact "$spool" --before 1250 >/dev/null
fingerprint() {
	(cd "$TMP/m/kv" && find snapshots wal -type f ! -name '*.lock' | sort |
		xargs sha256sum)
}
before=$(fingerprint)

expect_for() {
	case $1 in
	chunk-crc) echo "envelope says" ;;
	offset-gap) echo "offset regression/gap" ;;
	total-crc) echo "declared total_crc32c" ;;
	oversize-frame) echo "frame length" ;;
	malformed) echo "msgpack" ;;
	oversize-field) echo "'database_id': 300 bytes exceeds the limit" ;;
	esac
}

for fault in $faults; do
	start_serve "bad-$fault" --database "kv=$spool" --allow mirror-1=kv \
		--inject-fault "$fault"
	"$AGENT" follow --data-dir "$TMP/m" --source "127.0.0.1:$SERVE_PORT" \
		$(follow_tls) --database kv --set follow.backoff_min=100ms \
		--set follow.backoff_max=200ms >"$TMP/f-$fault.log" 2>&1 &
	fpid=$!
	T_PIDS="$T_PIDS $fpid"
	want=$(expect_for "$fault")
	check "$fault: the mirror reports '$want'" \
		wait_until 30 grep -qi "$want" "$TMP/f-$fault.log"
	retried() { [ "$(grep -c 'bootstrapping from snapshot 1200-2' "$TMP/f-$fault.log")" -ge 2 ]; }
	wait_until 15 retried
	kill -TERM "$fpid"; wait_pid "$fpid" 2>/dev/null
	kill "$SERVE_PID"
	assert_no_files "$fault: no snapshot 1200-2 exposed" \
		"$TMP/m/kv/snapshots" 1200-2.snapshot
	check "$fault: stored snapshot and log untouched" \
		test "$(fingerprint)" = "$before"
done
assert_absent "the mirror was never in Error" 'state Error' "$TMP"/f-*.log
finish
