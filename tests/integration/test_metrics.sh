#!/bin/sh
# /metrics as Prometheus's own tools see it: a mirror that bootstrapped a
# 1 MiB snapshot at index 1000 and tailed entries 1001..1500 exposes
# metrics `promtool check metrics` accepts, in base units, with counters
# whose values are what the test caused, mirror_build_info and the
# process_* metrics; the sample alert rules pass `promtool check rules`
# and the sample dashboard is valid JSON whose queries name only metrics
# the mirror exposes. The promtool and jq checks skip, saying so, where
# Debian's prometheus / jq packages are not installed (scripts/setup.sh
# installs them).
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 10
gen_certs
spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 1000 --term 1 >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 1000 --term 1 --size 1048576 --seed 3 >/dev/null &&
"$SPOOLGEN" append "$spool" --count 500 --term 2 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve serve --database "kv=$spool" --allow "mirror-1=kv"
# shellcheck disable=SC2046
"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv --http-listen 127.0.0.1:0 \
	--http-port-file "$TMP/http.port" >"$TMP/follow.log" 2>&1 &
T_PIDS="$T_PIDS $!"
wait_until 20 is_state "$TMP/mirror" kv Following &&
	wait_until 5 test -s "$TMP/http.port" ||
	{ echo "Bail out! follow did not reach Following"; sed 's/^/# /' "$TMP/follow.log" | tail -n 20; exit 1; }
M=$TMP/metrics.txt
curl -s --max-time 10 -o "$M" "http://127.0.0.1:$(cat "$TMP/http.port")/metrics" ||
	{ echo "Bail out! GET /metrics failed"; exit 1; }
val() { sed -n "s/^$1 //p" "$M"; }

if command -v promtool >/dev/null 2>&1; then
	# promtool prints each problem and exits non-zero on any.
	if promtool check metrics <"$M" >"$TMP/promtool.out" 2>&1; then
		ok "promtool check metrics: clean"
	else
		not_ok "promtool check metrics"
		sed 's/^/# /' "$TMP/promtool.out" | head -n 20
	fi
	check "promtool check rules etc/mirror-agent-alerts.yml" \
		promtool check rules "$abs_top_srcdir/etc/mirror-agent-alerts.yml"
else
	skip "promtool is not installed (Debian package prometheus; scripts/setup.sh installs it)"
	skip "promtool is not installed: alert rules not checked"
fi

check "base units: mirror_lag_seconds, no mirror_lag_ms, no gauge named *_total" \
	sh -c "grep -q '^# TYPE mirror_lag_seconds gauge\$' '$M' && ! grep -q mirror_lag_ms '$M' &&
		! grep -q '^# TYPE [a-z_]*_total gauge' '$M'"
check "bootstrap gauges: 1048576 of 1048576 bytes" \
	test "$(val 'mirror_bootstrap_received_bytes{db="kv"}')/$(val 'mirror_bootstrap_size_bytes{db="kv"}')" = "1048576/1048576"
check "500 entries received and 500 made durable (1001..1500)" \
	test "$(val 'mirror_received_entries_total{db="kv"}')/$(val 'mirror_appended_entries_total{db="kv"}')" = "500/500"
rx=$(val 'mirror_received_bytes_total{db="kv"}')
check "received bytes cover the snapshot and the entries ($rx)" test "${rx:-0}" -gt 1048576
check "nothing re-fetched in an uninterrupted bootstrap" \
	test "$(val 'mirror_refetched_bytes_total{db="kv"}')" = 0
commit=$("$AGENT" --version | sed -n 's/^commit //p')
check "mirror_build_info names the version, the commit --version prints ($commit) and the libraries" \
	grep -q "^mirror_build_info{version=\"0.1.0\",commit=\"$commit\",ngtcp2=\"[0-9.]*\",nghttp3=\"[0-9.]*\",wolfssl=\"[0-9.]*\",libevent=\"[0-9a-z.-]*\",msgpack=\"[0-9.]*\"} 1\$" "$M"
now=$(date +%s)
start=$(val process_start_time_seconds | cut -d. -f1)
fds=$(val process_open_fds)
check "process metrics: started in the last 5 minutes ($start), $fds descriptors open" \
	sh -c "[ '${start:-0}' -le $now ] && [ '${start:-0}' -gt $((now - 300)) ] &&
		[ '${fds:-0}' -ge 5 ] && [ '$(val process_max_fds)' -ge '${fds:-0}' ] &&
		[ '$(val process_resident_memory_bytes)' -gt 1000000 ]"

if command -v jq >/dev/null 2>&1; then
	dash=$abs_top_srcdir/etc/mirror-agent-dashboard.json
	# Every metric name in the panels' queries must be one /metrics has.
	jq -r '.panels[].targets[].expr' "$dash" >"$TMP/exprs" &&
		grep -o '\b\(mirror\|process\)_[a-z_]*' "$TMP/exprs" | sort -u >"$TMP/used"
	missing=$(while read -r name; do grep -q "^# TYPE $name " "$M" || echo "$name"; done <"$TMP/used")
	check "dashboard: valid JSON, panels for state, lag, last contact and rates, every query's metric exposed${missing:+ (missing: $missing)}" \
		sh -c "[ -z '$missing' ] && [ \$(wc -l <'$TMP/used') -ge 8 ] &&
			jq -e '[.panels[].title] | (map(test(\"State\")) | any) and (map(test(\"Lag\")) | any)
				and (map(test(\"Last contact\")) | any) and (map(test(\"per second\")) | any)' '$dash' >/dev/null"
else
	skip "jq is not installed: dashboard not checked"
fi
finish
