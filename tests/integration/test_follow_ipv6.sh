#!/bin/sh
# A source given as an IPv6 address ([::1]:PORT) is named one way
# everywhere: the status file's endpoint (top level and per database)
# equals its entry in the database's sources list, and the status page
# marks that entry as the followed one. (follow.c once wrote the
# followed endpoint as ::1:PORT and the sources as [::1]:PORT, so the
# two never matched.)
. "$abs_top_srcdir/tests/integration/lib.sh"

command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
python3 -c 'import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1", 0))' 2>/dev/null ||
	{ echo "1..0 # SKIP no IPv6 loopback (::1)"; exit 0; }
plan 3
gen_certs

SPOOL=$TMP/src/kv
"$SPOOLGEN" init "$SPOOL" --database kv >/dev/null &&
	"$SPOOLGEN" append "$SPOOL" --from 1 --count 20 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
SERVE_LISTEN="[::1]:0" start_serve serve --database "kv=$SPOOL" --allow "mirror-1=kv"
EP="[::1]:$SERVE_PORT"

"$AGENT" follow --data-dir "$TMP/mirror" --source "$EP" $(follow_tls) \
	--database kv --http-listen 127.0.0.1:0 --http-port-file "$TMP/http.port" \
	>"$TMP/follow.log" 2>&1 &
T_PIDS="$T_PIDS $!"
wait_until 20 test -s "$TMP/http.port" ||
	{ echo "Bail out! the read API did not start"; sed 's/^/# /' "$TMP/follow.log"; exit 1; }
HTTP="http://127.0.0.1:$(cat "$TMP/http.port")"
wait_until 20 is_state "$TMP/mirror" kv Following ||
	{ echo "Bail out! kv never reached Following"; sed 's/^/# /' "$TMP/follow.log"; exit 1; }

"$AGENT" status --data-dir "$TMP/mirror" --json >"$TMP/status.json" 2>&1
diag "$(head -c 600 "$TMP/status.json")"
check "status: the followed endpoint is $EP (top level and kv)" \
	sh -c "[ \$(grep -o '\"endpoint\":\"\\[::1\\]:$SERVE_PORT\"' '$TMP/status.json' | wc -l) -ge 3 ]"
# The database's endpoint, then its sources list naming the same one.
check "status: kv follows $EP, the first of its sources" \
	grep -q "\"endpoint\":\"\\[::1\\]:$SERVE_PORT\".*\"sources\":\\[{\"endpoint\":\"\\[::1\\]:$SERVE_PORT\"" "$TMP/status.json"
curl -s --max-time 5 "$HTTP/" >"$TMP/page.html"
check "status page: $EP is marked followed" \
	grep -q "<li class=\"src followed\" data-endpoint=\"\\[::1\\]:$SERVE_PORT\"" "$TMP/page.html"
finish
