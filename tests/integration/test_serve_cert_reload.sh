#!/bin/sh
# SIGHUP reloads serve's certificate, key and client CA without dropping
# connected mirrors (issue 9): mirror-1 follows kv; serve's certificate is
# replaced by a new one (new serial, same CA) and serve gets SIGHUP.
# mirror-1 keeps its connection (no reconnect; serve's /status shows the
# same log stream, older than the reload) and receives the entries appended
# after it; mirror-2 connecting afterwards sees the NEW certificate's serial
# (logged by follow from the handshake). A broken set (key of another
# certificate; an expired certificate) is refused with a log line naming
# the problem and serve keeps serving the new one.
. "$abs_top_srcdir/tests/integration/lib.sh"

command -v curl >/dev/null 2>&1 || {
	echo "1..0 # SKIP curl is not installed"
	exit 77
}
plan 14
gen_certs

# server2: the rotation target, signed by the same CA, its own serial.
(
	cd "$PKI" &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out server2.key 2>/dev/null &&
	openssl req -new -key server2.key -subj "/O=mirror-agent test rotated/CN=localhost" \
		-out server2.csr 2>/dev/null &&
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" \
		"subjectAltName=DNS:localhost,IP:127.0.0.1" >server2.ext &&
	openssl x509 -req -in server2.csr -CA ca.pem -CAkey ca.key \
		-set_serial 0x5EED0002 -days 2 -sha256 -extfile server2.ext \
		-out server2.pem 2>/dev/null &&
	chmod 600 server2.key
) || { echo "Bail out! cannot make the rotated certificate"; exit 1; }
serial_of() { openssl x509 -noout -serial -in "$1" | sed 's/^serial=//'; }
OLD=$(serial_of "$PKI/server.pem")
NEW=$(serial_of "$PKI/server2.pem")
diag "old serial $OLD, new serial $NEW"

# install CERT KEY: puts a certificate and key where serve's config points
# (rename: serve never reads a half-written file).
mkdir -p "$TMP/live"
install_pair() {
	cp "$1" "$TMP/live/cert.tmp" && mv "$TMP/live/cert.tmp" "$TMP/live/server.pem" &&
	cp "$2" "$TMP/live/key.tmp" && chmod 600 "$TMP/live/key.tmp" &&
	mv "$TMP/live/key.tmp" "$TMP/live/server.key"
}
install_pair "$PKI/server.pem" "$PKI/server.key"

spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 10 --term 1 --size 5000 >/dev/null &&
"$SPOOLGEN" append "$spool" --from 11 --count 10 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }

cat >"$TMP/serve.conf" <<EOC
[tls]
ca_file = $PKI/ca.pem
cert_file = $TMP/live/server.pem
key_file = $TMP/live/server.key

[serve]
listen = 127.0.0.1:0
heartbeat_interval = 100ms
metrics_listen = 127.0.0.1:0

[access "mirror-1"]
databases = kv

[access "mirror-2"]
databases = kv

[database "kv"]
spool = $spool
EOC
"$AGENT" serve --config "$TMP/serve.conf" --port-file "$TMP/serve.port" \
	--metrics-port-file "$TMP/metrics.port" >"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
T_PIDS="$T_PIDS $SERVE_PID"
wait_until 20 test -s "$TMP/metrics.port" ||
	{ echo "Bail out! serve did not start"; sed 's/^/# /' "$TMP/serve.log"; exit 1; }
SERVE_PORT=$(cat "$TMP/serve.port")
STATUS_URL="http://127.0.0.1:$(cat "$TMP/metrics.port")/status"

follow() { # NAME CLIENT
	"$AGENT" follow --data-dir "$TMP/$1" --source "127.0.0.1:$SERVE_PORT" \
		--ca "$PKI/ca.pem" --cert "$PKI/$2.pem" --key "$PKI/$2.key" \
		--server-name localhost --database kv >"$TMP/$1.log" 2>&1 &
	eval "${1}_PID=\$!"
	T_PIDS="$T_PIDS $!"
}
applied() { # DATA_DIR INDEX
	"$AGENT" status --data-dir "$1" --json | grep -q "\"applied_index\":$2"
}
follow m1 mirror-1
check "mirror-1 follows kv" wait_until 30 applied "$TMP/m1" 20
check "mirror-1's handshake saw the old certificate ($OLD)" \
	grep -q "server certificate serial $OLD," "$TMP/m1.log"
curl -s --max-time 5 "$STATUS_URL" >"$TMP/before.json"
t_before=$(date +%s.%N)
# The age of mirror-1's log stream, to tell the same stream later.
stream_age() { sed -n 's/.*"identity":"mirror-1","database":"kv",[^}]*"stream":"log","age_s":\([0-9.]*\).*/\1/p' "$1"; }
age_before=$(stream_age "$TMP/before.json")
diag "mirror-1's log stream age before the reload: ${age_before:-none}"

# Rotate: new certificate and key, then SIGHUP.
install_pair "$PKI/server2.pem" "$PKI/server2.key"
kill -HUP "$SERVE_PID"
check "serve logs the reload with the new subject" \
	wait_until 10 grep -q "SIGHUP: certificates reloaded: $TMP/live/server.pem (subject .*rotated" "$TMP/serve.log"

follow m2 mirror-2
check "mirror-2 connecting after the reload sees the new certificate ($NEW)" \
	wait_until 30 grep -q "server certificate serial $NEW," "$TMP/m2.log"
"$SPOOLGEN" append "$spool" --from 21 --count 30 --term 1 >/dev/null
check "mirror-1 receives the entries appended after the reload" \
	wait_until 30 applied "$TMP/m1" 50
check "mirror-1 did not reconnect (one 'connected to')" \
	test "$(grep -c 'connected to' "$TMP/m1.log")" -eq 1
t_after=$(date +%s.%N)
curl -s --max-time 5 "$STATUS_URL" >"$TMP/after.json"
age_after=$(stream_age "$TMP/after.json")
diag "mirror-1's log stream age after: ${age_after:-none}; between the looks: $(echo "$t_after - $t_before" | bc 2>/dev/null || echo ?) s"
# The same stream: it aged by the time between the two looks (a stream
# opened after the reload would be younger than that).
check "serve's /status shows mirror-1's log stream opened before the reload" \
	awk -v a="${age_after:-0}" -v b="${age_before:-x}" -v t0="$t_before" -v t1="$t_after" \
	'BEGIN { exit !(b != "x" && a + 0 >= b + (t1 - t0) - 0.2) }'
check "serve counts one TLS reload" grep -q '"tls_reloads":1,' "$TMP/after.json"

# Broken rotations: refused, the new (current) set stays in use.
install_pair "$PKI/server.pem" "$PKI/server2.key"
kill -HUP "$SERVE_PID"
check "a key of another certificate is refused, saying so" \
	wait_until 10 grep -q "SIGHUP: certificate refused: .*does not match" "$TMP/serve.log"
check "the refusal says the previous certificate stays" \
	grep -q "new certificate files were NOT applied: still serving the previous" "$TMP/serve.log"
install_pair "$PKI/server-expired.pem" "$PKI/server-expired.key"
kill -HUP "$SERVE_PID"
check "an expired certificate is refused, saying so" \
	wait_until 10 grep -q "SIGHUP: certificate refused: .*expired" "$TMP/serve.log"
follow m3 mirror-1
check "a mirror connecting after the refused rotations sees the new certificate" \
	wait_until 30 grep -q "server certificate serial $NEW," "$TMP/m3.log"
check "serve still counts one TLS reload" sh -c \
	"curl -s --max-time 5 '$STATUS_URL' | grep -q '\"tls_reloads\":1,'"
check "serve kept running" kill -0 "$SERVE_PID"
finish
