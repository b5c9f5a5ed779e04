#!/bin/sh
# Issue 8: the mirror says which source is fresher. Two endpoints serve
# the same source; A (followed first) holds 30 entries, B (a copy with
# more) 42. The mirror is told not to move (source_lag_grace 1h) and that
# a lag over 5 entries is Degraded: it follows A, probes B, and is
# Degraded by the lag against the freshest endpoint. /readyz must answer
# 503 naming kv with `fresher_source` B at commit 42; a read with
# max_staleness is refused the same way; /status lists both endpoints'
# positions; the metric mirror_endpoint_commit_index carries both.
. "$abs_top_srcdir/tests/integration/lib.sh"

command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
plan 4
gen_certs

SPOOL=$TMP/src/kv
SPOOLB=$TMP/srcb/kv
"$SPOOLGEN" init "$SPOOL" --database kv >/dev/null &&
	"$SPOOLGEN" append "$SPOOL" --from 1 --count 30 --term 1 >/dev/null &&
	mkdir -p "$TMP/srcb" && cp -a "$SPOOL" "$SPOOLB" &&
	"$SPOOLGEN" append "$SPOOLB" --from 31 --count 12 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve serve --database "kv=$SPOOL" --allow "mirror-1=kv"
PORT_A=$SERVE_PORT
start_serve serveb --database "kv=$SPOOLB" --allow "mirror-1=kv"
PORT_B=$SERVE_PORT

"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$PORT_A" \
	--source "127.0.0.1:$PORT_B" $(follow_tls) --database kv \
	--set database.kv.applier=kv --set follow.source_probe_interval=1s \
	--set follow.source_lag_entries=5 --set follow.source_lag_grace=1h \
	--set follow.degraded_lag_entries=5 \
	--http-listen 127.0.0.1:0 --http-port-file "$TMP/http.port" \
	>"$TMP/follow.log" 2>&1 &
T_PIDS="$T_PIDS $!"
wait_until 20 test -s "$TMP/http.port" ||
	{ echo "Bail out! the read API did not start"; sed 's/^/# /' "$TMP/follow.log"; exit 1; }
HTTP="http://127.0.0.1:$(cat "$TMP/http.port")"

want="\"fresher_source\":{\"endpoint\":\"127.0.0.1:$PORT_B\",\"commit_index\":42}"
readyz_names_b() {
	code=$(curl -s -o "$TMP/ready.json" -w '%{http_code}' --max-time 5 "$HTTP/readyz")
	[ "$code" = 503 ] && grep -q "\"db\":\"kv\",\"state\":\"Degraded\"" "$TMP/ready.json" &&
		grep -q "$want" "$TMP/ready.json"
}
if wait_until 20 readyz_names_b; then
	ok "/readyz 503: kv Degraded, fresher_source 127.0.0.1:$PORT_B at 42"
else
	not_ok "/readyz: $(cat "$TMP/ready.json")"
fi
# A 0 ms bound refuses whenever the staleness (lag_ms + last_contact_ms)
# is above 0, i.e. at any moment but right on a heartbeat: asked until
# refused (5 s at most).
stale_read() {
	code=$(curl -s -o "$TMP/read.json" -w '%{http_code}' --max-time 5 \
		"$HTTP/v1/db/kv/fingerprint?max_staleness=0")
	[ "$code" = 503 ]
}
if wait_until 5 stale_read; then
	grep -q '"error":"stale"' "$TMP/read.json" && grep -q "$want" "$TMP/read.json" &&
		ok "a read with max_staleness=0 is refused 503 stale naming the fresher source" ||
		not_ok "stale refusal: $(cat "$TMP/read.json")"
else
	not_ok "a read with max_staleness=0 answered $code for 5 s: $(cat "$TMP/read.json")"
fi
curl -s --max-time 5 -o "$TMP/status.json" "$HTTP/status"
grep -q "{\"endpoint\":\"127.0.0.1:$PORT_A\",\"commit_index\":30," "$TMP/status.json" &&
	grep -q "{\"endpoint\":\"127.0.0.1:$PORT_B\",\"commit_index\":42," "$TMP/status.json" &&
	grep -q "\"endpoint\":\"127.0.0.1:$PORT_A\",\"error\"" "$TMP/status.json" &&
	grep -q '"source_switches":0,' "$TMP/status.json" &&
	ok "/status: follows A (commit 30), B at 42, no switch" ||
	{ not_ok "/status"; sed 's/^/# /' "$TMP/status.json"; }
curl -s --max-time 5 -o "$TMP/metrics.txt" "$HTTP/metrics"
grep -q "^mirror_endpoint_commit_index{db=\"kv\",endpoint=\"127.0.0.1:$PORT_A\"} 30$" "$TMP/metrics.txt" &&
	grep -q "^mirror_endpoint_commit_index{db=\"kv\",endpoint=\"127.0.0.1:$PORT_B\"} 42$" "$TMP/metrics.txt" &&
	ok "metrics: both endpoints' commit index (30, 42)" ||
	{ not_ok "metrics"; grep 'endpoint_commit' "$TMP/metrics.txt" | sed 's/^/# /'; }
finish
