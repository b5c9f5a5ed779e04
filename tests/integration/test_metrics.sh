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
# serve's own /metrics and /status ([serve] metrics_listen) pass the same
# checks and show the mirror with its identity, database and position,
# mirror_build_info and serve's own process_* metrics; its listener holds
# at most 16 connections (40 idle ones take 16 descriptors, the rest wait
# in the backlog) and answers again once they are gone. With
# metrics_token_sha256 set, its listener asks for the token (401 with
# WWW-Authenticate, 403 for another token, 200 for it, the scheme's case
# aside), parsed as the read API parses it (status_token_from_header).
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 24
gen_certs
spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 1000 --term 1 >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 1000 --term 1 --size 1048576 --seed 3 >/dev/null &&
"$SPOOLGEN" append "$spool" --count 500 --term 2 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve serve --database "kv=$spool" --allow "mirror-1=kv" \
	--metrics-listen 127.0.0.1:0 --metrics-port-file "$TMP/serve-metrics.port"
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

# serve's side: the mirror as the source sees it, after one client with a
# certificate of another CA was refused.
"$AGENT" follow --data-dir "$TMP/bad" --source "127.0.0.1:$SERVE_PORT" \
	--ca "$PKI/ca.pem" --cert "$PKI/other-client.pem" --key "$PKI/other-client.key" \
	--server-name localhost --database kv >"$TMP/bad.log" 2>&1 &
bad_pid=$!
T_PIDS="$T_PIDS $bad_pid"
wait_until 20 grep -q "not signed by a CA we trust" "$TMP/serve.log" ||
	diag "serve did not log the refusal of other-client"
kill "$bad_pid" 2>/dev/null
wait_pid "$bad_pid" 10 >/dev/null
SM=$TMP/serve-metrics.txt
SURL="http://127.0.0.1:$(cat "$TMP/serve-metrics.port")"
curl -s --max-time 10 -o "$SM" "$SURL/metrics" &&
	curl -s --max-time 10 -o "$TMP/serve-status.json" "$SURL/status" ||
	{ echo "Bail out! GET serve's /metrics or /status failed"; exit 1; }
sval() { grep -F "$1" "$SM" | sed -n 's/^[^ ]* //p'; }
if command -v promtool >/dev/null 2>&1; then
	if promtool check metrics <"$SM" >"$TMP/promtool.out" 2>&1; then
		ok "promtool check metrics (serve): clean"
	else
		not_ok "promtool check metrics (serve)"
		sed 's/^/# /' "$TMP/promtool.out" | head -n 20
	fi
else
	skip "promtool is not installed: serve's metrics not checked"
fi
sel='identity="mirror-1",database="kv",address="127.0.0.1:'
check "serve: mirror-1 on kv sent up to 1500 of commit index 1500, lag 0" \
	test "$(sval "mirror_serve_mirror_sent_index{$sel")/$(sval 'mirror_serve_commit_index{database="kv"}')/$(sval "mirror_serve_mirror_lag_entries{$sel")" = "1500/1500/0"
resv=$(sval "mirror_serve_mirror_reservation_index{$sel")
check "serve: the log request started at 1001, the reservation holds 1000..1500 ($resv)" \
	sh -c "[ '$(sval "mirror_serve_mirror_requested_index{$sel")' = 1001 ] &&
		[ '${resv:-0}' -ge 1000 ] && [ '${resv:-0}' -le 1500 ]"
tls=$(sval 'mirror_serve_refused_connections_total{reason="tls"}')
check "serve: the other CA's client counted as a TLS refusal ($tls), the 9 other reasons 0" \
	sh -c "[ '${tls:-0}' -ge 1 ] && [ \$(grep -c '^mirror_serve_refused_[a-z_]*_total{reason=\"[a-z_]*\"} 0\$' '$SM') -eq 9 ]"
if command -v jq >/dev/null 2>&1; then
	check "serve /status: one log stream of mirror-1 on kv at 1500, lag 0, contact within 5 s" \
		jq -e '[.mirrors[] | select(.stream == "log")] | length == 1 and
			.[0].identity == "mirror-1" and .[0].database == "kv" and
			.[0].sent_index == 1500 and .[0].commit_index == 1500 and
			.[0].lag_entries == 0 and .[0].last_contact_s < 5 and
			(.[0].address | startswith("127.0.0.1:"))' "$TMP/serve-status.json"
else
	skip "jq is not installed: serve's /status not checked"
fi
check "serve: mirror_build_info names the version, the commit ($commit) and the libraries" \
	grep -q "^mirror_build_info{version=\"0.1.0\",commit=\"$commit\",ngtcp2=\"[0-9.]*\",nghttp3=\"[0-9.]*\",wolfssl=\"[0-9.]*\",libevent=\"[0-9a-z.-]*\",msgpack=\"[0-9.]*\"} 1\$" "$SM"
now=$(date +%s)
sproc() { sed -n "s/^$1 //p" "$SM"; }
sstart=$(sproc process_start_time_seconds | cut -d. -f1)
sfds=$(sproc process_open_fds)
pfds=$(ls "/proc/$SERVE_PID/fd" | wc -l)
check "serve: process metrics of serve itself: started in the last 5 minutes ($sstart), $sfds descriptors open (/proc says $pfds now)" \
	sh -c "[ '${sstart:-0}' -le $now ] && [ '${sstart:-0}' -gt $((now - 300)) ] &&
		[ '${sfds:-0}' -ge $((pfds - 2)) ] && [ '${sfds:-0}' -le $((pfds + 2)) ] &&
		[ '$(sproc process_max_fds)' -ge '${sfds:-0}' ] &&
		[ '$(sproc process_resident_memory_bytes)' -gt 1000000 ]"

# The connection cap of serve's metrics listener: 40 idle TCP connections
# (curl's telnet client, holding each open without a byte) take at most 16
# of serve's descriptors; once they go, /metrics answers again.
sport=$(cat "$TMP/serve-metrics.port")
idle_pids=
i=0
while [ $i -lt 40 ]; do
	sleep 8 | curl -s --max-time 8 "telnet://127.0.0.1:$sport" >/dev/null 2>&1 &
	idle_pids="$idle_pids $!"
	i=$((i + 1))
done
T_PIDS="$T_PIDS $idle_pids"
wait_until 5 sh -c "[ \$(ls /proc/$SERVE_PID/fd | wc -l) -ge $((pfds + 16)) ]"
sleep 1
held=$(($(ls "/proc/$SERVE_PID/fd" | wc -l) - pfds))
# shellcheck disable=SC2086
kill $idle_pids 2>/dev/null
check "serve: 40 idle connections to the metrics listener hold $held descriptors (16 expected)" \
	test "$held" -eq 16
check "serve: /metrics answers once the idle connections are gone" \
	sh -c "curl -s --max-time 15 '$SURL/metrics' | grep -q '^mirror_serve_connections [0-9]'"

# Descriptors run out under the metrics listener (accept() fails with
# EMFILE): serve pauses it and says so once, stays up without spinning,
# and answers again once descriptors are free. serve's limit is lowered
# from outside (prlimit) to 4 above what it holds now.
if command -v prlimit >/dev/null 2>&1; then
	wait_until 10 sh -c "[ \$(ls /proc/$SERVE_PID/fd | wc -l) -le $((pfds + 1)) ]"
	nofile=$(($(ls "/proc/$SERVE_PID/fd" | wc -l) + 4))
	prlimit --pid "$SERVE_PID" --nofile="$nofile:$nofile"
	idle_pids=
	i=0
	while [ $i -lt 12 ]; do
		sleep 6 | curl -s --max-time 6 "telnet://127.0.0.1:$sport" >/dev/null 2>&1 &
		idle_pids="$idle_pids $!"
		i=$((i + 1))
	done
	T_PIDS="$T_PIDS $idle_pids"
	wait_until 10 grep -q "metrics listener: accept: .*pausing it" "$TMP/serve.log"
	t0=$(awk '{print $14 + $15}' "/proc/$SERVE_PID/stat")
	sleep 1.5
	t1=$(awk '{print $14 + $15}' "/proc/$SERVE_PID/stat")
	# shellcheck disable=SC2086
	kill $idle_pids 2>/dev/null
	check "serve: descriptors exhausted under the metrics listener ($nofile): paused and said so once, $((t1 - t0)) CPU ticks in 1.5 s" \
		sh -c "[ \$(grep -c 'metrics listener: accept: .*pausing it' '$TMP/serve.log') -eq 1 ] &&
			[ $((t1 - t0)) -lt $(($(getconf CLK_TCK) * 3 / 10)) ] && kill -0 $SERVE_PID"
	prlimit --pid "$SERVE_PID" --nofile=1024:1024
	check "serve: /metrics answers again once descriptors are free" \
		sh -c "curl -s --max-time 15 '$SURL/metrics' | grep -q '^mirror_serve_connections [0-9]'"
else
	skip "prlimit (util-linux) not installed"
	skip "prlimit (util-linux) not installed"
fi

# serve's metrics listener with a token: the same header parser as the
# read API's (agent/status/status_token.c).
MTOK=metrics-secret-3
start_serve serve-auth --database "kv=$spool" --allow "mirror-1=kv" \
	--metrics-listen 127.0.0.1:0 --metrics-port-file "$TMP/serve-auth-metrics.port" \
	--set "serve.metrics_token_sha256=$(printf %s "$MTOK" | sha256sum | cut -d' ' -f1)"
wait_until 20 test -s "$TMP/serve-auth-metrics.port" ||
	{ echo "Bail out! serve-auth's metrics listener did not start"; exit 1; }
AURL="http://127.0.0.1:$(cat "$TMP/serve-auth-metrics.port")/metrics"
# areq NAME CURL-ARGS...: status code; headers to NAME.hdr, body to NAME.body.
areq() {
	name=$1
	shift
	curl -s --max-time 10 -D "$TMP/$name.hdr" -o "$TMP/$name.body" \
		-w '%{http_code}' "$@" "$AURL" 2>/dev/null
}
c_none=$(areq anone)
c_basic=$(areq abasic -H "Authorization: Basic bWV0cmljczpzZWNyZXQ=")
c_empty=$(areq aempty -H "Authorization: Bearer ")
check "serve with a metrics token: no token, Basic or an empty Bearer get 401 ($c_none $c_basic $c_empty) with WWW-Authenticate: Bearer realm=\"mirror-agent serve\"" \
	sh -c "[ '$c_none' = 401 ] && [ '$c_basic' = 401 ] && [ '$c_empty' = 401 ] &&
		grep -qi '^WWW-Authenticate: Bearer realm=\"mirror-agent serve\"' '$TMP/anone.hdr' &&
		grep -q 'send Authorization: Bearer TOKEN' '$TMP/anone.body'"
c_wrong=$(areq awrong -H "Authorization: Bearer $MTOK-not")
c_space=$(areq aspace -H "Authorization: Bearer  $MTOK")
check "serve with a metrics token: another token, or the token behind a second space, gets 403 ($c_wrong $c_space)" \
	sh -c "[ '$c_wrong' = 403 ] && [ '$c_space' = 403 ] &&
		grep -q 'this token is not accepted' '$TMP/awrong.body'"
c_ok=$(areq aok -H "Authorization: Bearer $MTOK")
c_case=$(areq acase -H "Authorization: bearer $MTOK")
check "serve with a metrics token: the token gets /metrics, the scheme in any case ($c_ok $c_case)" \
	sh -c "[ '$c_ok' = 200 ] && [ '$c_case' = 200 ] &&
		grep -q '^mirror_serve_connections [0-9]' '$TMP/aok.body' &&
		grep -q '^mirror_serve_connections [0-9]' '$TMP/acase.body'"
finish
