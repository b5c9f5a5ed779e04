#!/bin/sh
# The one status model end to end (agent/status/status.h): a real serve and
# follow (applier kv) over loopback QUIC; the test writes a known number of
# entries and checks the VALUES in the status file, /status, /metrics and
# `mirror-agent status` (human, --json, exit codes): log_index and
# applied_index equal what it wrote, the file and /status agree field by
# field, and the figures follow what the test does next (more entries,
# the source gone, the follower stopped).
. "$abs_top_srcdir/tests/integration/lib.sh"

command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
plan 15
gen_certs

N1=37 # entries before the mirror starts
N2=13 # entries appended while it follows
SPOOL=$TMP/src/kv
"$SPOOLGEN" init "$SPOOL" --database kv >/dev/null &&
	"$SPOOLGEN" append "$SPOOL" --from 1 --count $N1 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve serve --database "kv=$SPOOL" --allow "mirror-1=kv"

"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv --set database.kv.applier=kv \
	--http-listen 127.0.0.1:0 --http-port-file "$TMP/http.port" \
	>"$TMP/follow.log" 2>&1 &
FPID=$!
T_PIDS="$T_PIDS $FPID"
wait_until 20 test -s "$TMP/http.port" ||
	{ echo "Bail out! the read API did not start"; sed 's/^/# /' "$TMP/follow.log"; exit 1; }
HTTP="http://127.0.0.1:$(cat "$TMP/http.port")"
FILE=$TMP/mirror/status

# num KEY FILE / str KEY FILE: the (last) value of a key in a JSON document.
num() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" "$2"; }
str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$2"; }
# fields FILE: one "key":value per line, sorted, without the rendering time
# (the file and /status are rendered at different moments).
fields() {
	tr ',{}[]' '\n\n\n\n\n' <"$1" | grep ':' | grep -v '^"\(updated_unix_ms\|last_contact_ms\|observed_age_ms\)":' | sort
}
# at_index N: the status file says Following with log and applied index N.
at_index() {
	cp "$FILE" "$TMP/poll.json" 2>/dev/null &&
		[ "$(str state "$TMP/poll.json")" = Following ] &&
		[ "$(num log_index "$TMP/poll.json")" = "$1" ] &&
		[ "$(num applied_index "$TMP/poll.json")" = "$1" ]
}
# expect FILE KEY=VALUE...: every key has exactly that value.
expect() {
	f=$1
	shift
	for kv in "$@"; do
		k=${kv%%=*} v=${kv#*=}
		case $v in
		'"'*) got="\"$(str "$k" "$f")\"" ;;
		*) got=$(num "$k" "$f") ;;
		esac
		[ "$got" = "$v" ] || { diag "$f: $k is '$got', want '$v'"; return 1; }
	done
}

if wait_until 30 at_index $N1; then ok "the mirror is Following at index $N1"
else not_ok "no Following at $N1: $(cat "$FILE" 2>/dev/null)"; tail -n 20 "$TMP/follow.log" | sed 's/^/# /'; fi

# What the test caused, value by value. spoolgen's payloads are not kv
# commands: the applier skips each (as the source nodes would) and still
# advances its index.
cp "$FILE" "$TMP/file1.json"
expect "$TMP/file1.json" pid=$FPID log_index=$N1 applied_index=$N1 \
	source_commit_index=$N1 lag_entries=0 reconnects=0 bytes_done=0 \
	bytes_total=0 skipped_commands=$N1 database='"kv"' state='"Following"' \
	endpoint="\"127.0.0.1:$SERVE_PORT\"" applier='"kv"' error='""' &&
	grep -q '"applier_error":null' "$TMP/file1.json" &&
	ok "status file: every figure is what the test caused" ||
	not_ok "status file: $(cat "$TMP/file1.json")"

now_ms=$(($(date +%s) * 1000))
upd=$(num updated_unix_ms "$TMP/file1.json")
[ "${upd:-0}" -le $((now_ms + 1000)) ] && [ "${upd:-0}" -ge $((now_ms - 5000)) ] &&
	ok "updated_unix_ms is the wall clock in ms (within 5 s)" ||
	not_ok "updated_unix_ms $upd vs now $now_ms"

CODE=$(curl -s -o "$TMP/api1.json" -w '%{http_code}' --max-time 10 "$HTTP/status")
cp "$FILE" "$TMP/file1b.json"
fields "$TMP/api1.json" >"$TMP/api1.fields"
fields "$TMP/file1b.json" >"$TMP/file1.fields"
[ "$CODE" = 200 ] && [ "$(wc -l <"$TMP/api1.fields")" -eq 38 ] &&
	diff "$TMP/file1.fields" "$TMP/api1.fields" >"$TMP/diff1" &&
	ok "/status and the status file agree field by field (38 fields, one endpoint; not the render time nor the contact and observation ages)" ||
	{ not_ok "/status ($CODE) vs file"; sed 's/^/# /' "$TMP/diff1"; sed 's/^/# /' "$TMP/api1.fields"; }

"$AGENT" status --data-dir "$TMP/mirror" --json >"$TMP/cli1.json"
rc=$?
fields "$TMP/cli1.json" >"$TMP/cli1.fields"
[ $rc = 0 ] && diff "$TMP/api1.fields" "$TMP/cli1.fields" >/dev/null &&
	ok "status --json: exit 0 and the same fields" ||
	not_ok "status --json: exit $rc, $(cat "$TMP/cli1.json")"

"$AGENT" status --data-dir "$TMP/mirror" >"$TMP/cli1.txt"
rc=$?
[ $rc = 0 ] && grep -q '^kv: Following$' "$TMP/cli1.txt" &&
	grep -q "^  log index $N1, applied index $N1, source commit index $N1, lag 0 entries / [0-9]* ms$" "$TMP/cli1.txt" &&
	grep -q "^source endpoint: 127.0.0.1:$SERVE_PORT (pid $FPID," "$TMP/cli1.txt" &&
	ok "status (human): exit 0, state and indexes" ||
	{ not_ok "status (human): exit $rc"; sed 's/^/# /' "$TMP/cli1.txt"; }

curl -s -o "$TMP/metrics1.txt" --max-time 10 "$HTTP/metrics"
metric() { sed -n "s/^$1{db=\"kv\"} //p" "$TMP/metrics1.txt"; }
[ "$(metric mirror_log_index)" = $N1 ] && [ "$(metric mirror_applied_index)" = $N1 ] &&
	[ "$(metric mirror_source_commit_index)" = $N1 ] && [ "$(metric mirror_lag_entries)" = 0 ] &&
	[ "$(metric mirror_reconnects_total)" = 0 ] && [ "$(metric mirror_applier_failed)" = 0 ] &&
	grep -q '^mirror_state{db="kv",state="Following"} 1$' "$TMP/metrics1.txt" &&
	[ "$(grep -c '^mirror_state{db="kv",state="[A-Za-z]*"} 1$' "$TMP/metrics1.txt")" = 1 ] &&
	ok "/metrics: the same figures" || { not_ok "/metrics"; sed 's/^/# /' "$TMP/metrics1.txt"; }

# More entries: every rendering moves to the new index.
"$SPOOLGEN" append "$SPOOL" --count $N2 --term 1 >/dev/null
N=$((N1 + N2))
if wait_until 30 at_index $N; then ok "after $N2 more entries the file says log and applied index $N"
else not_ok "file after append: $(cat "$FILE")"; fi
curl -s -o "$TMP/api2.json" --max-time 10 "$HTTP/status"
cp "$FILE" "$TMP/file2.json"
expect "$TMP/api2.json" log_index=$N applied_index=$N source_commit_index=$N \
	lag_entries=0 skipped_commands=$N &&
	fields "$TMP/api2.json" >"$TMP/api2.fields" && fields "$TMP/file2.json" >"$TMP/file2.fields" &&
	diff "$TMP/file2.fields" "$TMP/api2.fields" >/dev/null &&
	ok "/status says $N too and agrees with the file" ||
	not_ok "/status after append: $(cat "$TMP/api2.json") file: $(cat "$TMP/file2.json")"

# The source goes away: Disconnected (or Connecting between attempts), a
# reconnect counted, `status` exits 1 and says why.
kill -TERM "$SERVE_PID"
wait_pid "$SERVE_PID" 2>/dev/null
gone() {
	cp "$FILE" "$TMP/poll.json" &&
		case $(str state "$TMP/poll.json") in Disconnected|Connecting) true ;; *) false ;; esac &&
		[ "$(num reconnects "$TMP/poll.json")" -ge 1 ]
}
if wait_until 30 gone; then ok "source gone: $(str state "$TMP/poll.json"), reconnects $(num reconnects "$TMP/poll.json")"
else not_ok "source gone: $(cat "$FILE")"; fi
"$AGENT" status --data-dir "$TMP/mirror" >"$TMP/cli2.txt" 2>"$TMP/cli2.err"
rc=$?
[ $rc = 1 ] && grep -q '^mirror-agent status: kv is \(Disconnected\|Connecting\)' "$TMP/cli2.err" &&
	ok "status exits 1 while the source is gone and names the state" ||
	{ not_ok "status while gone: exit $rc"; sed 's/^/# /' "$TMP/cli2.err"; }
expect "$FILE" log_index=$N applied_index=$N >/dev/null &&
	ok "the indexes stay at $N without a source" || not_ok "indexes without a source: $(cat "$FILE")"

# The follower stops: its last status keeps the indexes, and `status`
# exits 1 because the writer is gone.
kill -TERM "$FPID"
wait_pid "$FPID"
check "follow stops cleanly on SIGTERM" test $? -eq 0
cp "$FILE" "$TMP/file3.json"
expect "$TMP/file3.json" log_index=$N applied_index=$N applier='"stopped"' &&
	ok "final status: log and applied index $N, applier stopped" ||
	not_ok "final status: $(cat "$TMP/file3.json")"
"$AGENT" status --data-dir "$TMP/mirror" >/dev/null 2>"$TMP/cli3.err"
rc=$?
[ $rc = 1 ] && grep -q "(pid $FPID) is not running" "$TMP/cli3.err" &&
	ok "status exits 1 once the follower is gone" ||
	{ not_ok "status after stop: exit $rc"; sed 's/^/# /' "$TMP/cli3.err"; }
finish
