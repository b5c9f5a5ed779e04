#!/bin/sh
# serve indexes the wal segments already sealed when it starts on a thread
# of its own (wal_reader_index_sealed), so that the first log request into
# any of them scans no whole segment on the event loop: a spool of 3000
# entries in 256 KiB segments, serve started on it, a mirror that follows
# from index 1 through every segment. Each sealed segment is read whole
# exactly once (by the thread, before the mirror came: the index cache's
# miss count stays at the number of sealed segments) and every log
# request's load of a sealed segment is a cache hit.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 5
gen_certs
spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 3000 --term 1 --size 1000 \
	--segment-size 262144 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
segs=$(find "$spool/wal" -name 'wal-*.seg' | wc -l)
sealed=$((segs - 1))
diag "$segs segments, $sealed sealed"
start_serve serve --database "kv=$spool" --allow "mirror-1=kv" \
	--metrics-listen 127.0.0.1:0 --metrics-port-file "$TMP/serve-metrics.port"
check "serve indexed the $sealed sealed segments off the event loop" \
	wait_until 20 grep -q "serve: kv: indexed $sealed sealed wal segment(s) off the event loop in [0-9]* ms" "$TMP/serve.log"
SURL="http://127.0.0.1:$(cat "$TMP/serve-metrics.port")"
loads() { # RESULT: the count of mirror_serve_wal_index_loads_total{result=RESULT}
	curl -s --max-time 10 "$SURL/metrics" |
		sed -n "s/^mirror_serve_wal_index_loads_total{result=\"$1\"} //p"
}
m0=$(loads miss)
check "each sealed segment read whole once, by that thread ($m0 misses)" \
	test "${m0:-x}" = "$sealed"
# shellcheck disable=SC2046
timeout 60 "$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv --exit-when-following >"$TMP/follow.log" 2>&1
rc=$?
check "the mirror followed from index 1 to Following (exit $rc)" test $rc -eq 0
m1=$(loads miss)
h1=$(loads hit)
check "the mirror's log requests read no sealed segment whole ($m1 misses after, $m0 before)" \
	test "${m1:-x}" = "$m0"
check "... they loaded the sealed segments from the cache ($h1 hits, $sealed sealed)" \
	test "${h1:-0}" -ge "$sealed"
finish
