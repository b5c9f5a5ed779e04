#!/bin/sh
# Failures a retry cannot fix, as a mirror meets them: nothing listening on
# the source's UDP port (ICMP port unreachable) and a server certificate
# for another name. The message names the cause (the port; both names);
# each failure is logged once, not twice; after 5 identical failures in a
# row the mirror says once that a retry will not fix it and waits 60 s
# between attempts instead of logging each. Backoff is 10-100 ms here, so
# without that the 3 s of each case would log dozens of attempts.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 10
gen_certs

spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
fast="--set follow.backoff_min=10ms --set follow.backoff_max=100ms"

# 1. A port nothing listens on: where a serve listened a moment ago.
start_serve gone --database "kv=$spool" --allow mirror-1=kv
port=$SERVE_PORT
kill "$SERVE_PID" && wait_pid "$SERVE_PID" 2>/dev/null
# shellcheck disable=SC2086
timeout 8 "$AGENT" follow --data-dir "$TMP/m1" --source "127.0.0.1:$port" \
	$(follow_tls) $fast --database kv >"$TMP/m1.log" 2>&1
n=$(grep -c "nothing listens on UDP 127.0.0.1:$port (ICMP port unreachable)" "$TMP/m1.log")
check "nothing listens: named with the address, $n lines (5 expected)" \
	test "$n" -eq 5
check "nothing listens: said once that a retry will not fix it" \
	test "$(grep -c "same failure 5 times in a row: a retry will not fix it; retrying every 60 s" "$TMP/m1.log")" -eq 1
check "nothing listens: the last line is that notice" \
	sh -c "grep 'nothing listens' '$TMP/m1.log' | tail -n 1 | grep -q 'retrying every 60 s'"

# 2. The server's certificate names another host.
start_serve wrong --database "kv=$spool" --allow mirror-1=kv \
	--cert "$PKI/server-wrong.pem" --key "$PKI/server-wrong.key"
# shellcheck disable=SC2086
timeout 8 "$AGENT" follow --data-dir "$TMP/m2" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) $fast --database kv >"$TMP/m2.log" 2>&1
line=$(grep -m 1 "server name mismatch" "$TMP/m2.log")
echo "# $line"
check "name mismatch: the expected name is named" \
	sh -c "echo '$line' | grep -q '\"localhost\"'"
check "name mismatch: the presented name is named" \
	sh -c "echo '$line' | grep -q 'DNS:not-localhost.invalid'"
n=$(grep -c "server name mismatch" "$TMP/m2.log")
check "name mismatch: logged once per failure, 5 in all ($n)" test "$n" -eq 5
check "name mismatch: said once that a retry will not fix it" \
	test "$(grep -c "same failure 5 times in a row" "$TMP/m2.log")" -eq 1
check "name mismatch: serve logged no connection as accepted" \
	test "$(grep -c "identity mirror-1" "$TMP/wrong.log")" -eq 0

# 3. Without [tls] server_name each source is verified against its own
# host: the first (127.0.0.2, nothing there) is not the name the second
# (127.0.0.1, the certificate's IP SAN) must carry. Before, every source
# was verified against the first one's host and the second never passed.
start_serve good --database "kv=$spool" --allow mirror-1=kv
timeout 8 "$AGENT" follow --data-dir "$TMP/m3" --source "127.0.0.2:$port" \
	--source "127.0.0.1:$SERVE_PORT" --ca "$PKI/ca.pem" \
	--cert "$PKI/mirror-1.pem" --key "$PKI/mirror-1.key" \
	--database kv >"$TMP/m3.log" 2>&1
check "two sources, no server_name: connected to the second" \
	grep -q "connected to 127.0.0.1:$SERVE_PORT" "$TMP/m3.log"
check "two sources, no server_name: no name mismatch" \
	test "$(grep -c "name mismatch" "$TMP/m3.log")" -eq 0
