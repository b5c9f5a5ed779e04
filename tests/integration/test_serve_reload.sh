#!/bin/sh
# SIGHUP reloads serve's [access] without dropping mirrors (issue 9): two
# mirrors follow kv; the file then withdraws mirror-2's grant and serve gets
# SIGHUP. mirror-2 is refused (403 forbidden, Error), mirror-1 keeps its
# connection and receives the entries appended after the reload. A file
# with an error is not applied, and a changed setting that needs a restart
# is named.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 10
gen_certs

spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 10 --term 1 --size 5000 >/dev/null &&
"$SPOOLGEN" append "$spool" --from 11 --count 10 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }

# write_conf MIRROR2_DATABASES [EXTRA_SERVE_LINE]
write_conf() {
	cat >"$TMP/serve.conf.tmp" <<EOC
[tls]
ca_file = $PKI/ca.pem
cert_file = $PKI/server.pem
key_file = $PKI/server.key

[serve]
listen = 127.0.0.1:0
heartbeat_interval = 100ms
$2

[access "mirror-1"]
databases = kv

[access "mirror-2"]
databases = $1

[database "kv"]
spool = $spool
EOC
	mv "$TMP/serve.conf.tmp" "$TMP/serve.conf"
}
write_conf kv ""
"$AGENT" serve --config "$TMP/serve.conf" --port-file "$TMP/serve.port" \
	>"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
T_PIDS="$T_PIDS $SERVE_PID"
wait_until 20 test -s "$TMP/serve.port" ||
	{ echo "Bail out! serve did not start"; sed 's/^/# /' "$TMP/serve.log"; exit 1; }
SERVE_PORT=$(cat "$TMP/serve.port")

follow() { # NAME CLIENT
	"$AGENT" follow --data-dir "$TMP/$1" --source "127.0.0.1:$SERVE_PORT" \
		--ca "$PKI/ca.pem" --cert "$PKI/$2.pem" --key "$PKI/$2.key" \
		--server-name localhost --database kv >"$TMP/$1.log" 2>&1 &
	eval "${1}_PID=\$!"
	T_PIDS="$T_PIDS $!"
}
follow m1 mirror-1
follow m2 mirror-2
check "both mirrors follow kv" wait_until 30 sh -c \
	"$AGENT status --data-dir $TMP/m1 --json | grep -q '\"state\":\"Following\"' &&
	 $AGENT status --data-dir $TMP/m2 --json | grep -q '\"state\":\"Following\"'"
connects_before=$(grep -c "connected to" "$TMP/m1.log")

# A file with an error is not applied: both still allowed.
write_conf "kv" "no_such_key = 1"
kill -HUP "$SERVE_PID"
check "a configuration with errors is refused" \
	wait_until 10 grep -q "SIGHUP: the configuration has errors (above); still running with the previous one" "$TMP/serve.log"
check "the error is named" grep -q "serve.conf:9: \[serve\] no_such_key: unknown key" "$TMP/serve.log"

# Withdraw mirror-2's grant (drop its section) and change a setting that
# needs a restart.
write_conf "kv" "max_connections = 32
handshake_timeout = 7s"
sed -i '/^\[access "mirror-2"\]/,/^databases/d' "$TMP/serve.conf"
kill -HUP "$SERVE_PID"
wait_until 10 grep -q "SIGHUP: \[serve\] max_connections changed; restart" "$TMP/serve.log"
check "the reload is logged with what needs a restart (max_connections, handshake_timeout)" \
	sh -c "grep -q 'SIGHUP: \[serve\] max_connections changed; restart' '$TMP/serve.log' &&
	       grep -q 'SIGHUP: \[serve\] handshake_timeout changed; restart' '$TMP/serve.log'"
check "the reload applied one grant and ended mirror-2's stream" \
	wait_until 10 grep -q "SIGHUP: configuration reloaded: 1 \[access\] grant(s) applied (1 stream(s) ended" "$TMP/serve.log"
wait_until 30 sh -c "! kill -0 $m2_PID 2>/dev/null"
wait_pid "$m2_PID"
rc=$?
check "mirror-2 stops with an error (status $rc)" test "$rc" -eq 1
check "mirror-2 was told 403 forbidden" grep -q "403 forbidden" "$TMP/m2.log"

# mirror-1 carries on, on the same connection.
"$SPOOLGEN" append "$spool" --from 21 --count 30 --term 1 >/dev/null
check "mirror-1 receives the entries appended after the reload" \
	wait_until 30 sh -c "$AGENT status --data-dir $TMP/m1 --json | grep -q '\"applied_index\":50'"
check "mirror-1 did not reconnect" \
	test "$(grep -c 'connected to' "$TMP/m1.log")" -eq "$connects_before"
check "serve kept running" kill -0 "$SERVE_PID"
finish
