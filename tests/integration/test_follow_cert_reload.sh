#!/bin/sh
# follow re-reads its client certificate, key and CA on SIGHUP (issue 9):
# the files named in the configuration are checked as check-config checks
# them; a good set is used by the next connections, a broken one (here an
# expired certificate) is refused with a log line saying so, and the last
# good set stays in use: serve restarted on the same port after the broken
# rotation takes the mirror back (it would refuse the expired certificate).
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 8
gen_certs
mkdir -p "$TMP/live"
install_pair() { # CERT KEY
	cp "$1" "$TMP/live/c.tmp" && mv "$TMP/live/c.tmp" "$TMP/live/mirror.pem" &&
	cp "$2" "$TMP/live/k.tmp" && chmod 600 "$TMP/live/k.tmp" &&
	mv "$TMP/live/k.tmp" "$TMP/live/mirror.key"
}
install_pair "$PKI/mirror-1.pem" "$PKI/mirror-1.key"
# A renewal of mirror-1: same identity, new key and serial.
(
	cd "$PKI" &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out m1b.key 2>/dev/null &&
	openssl req -new -key m1b.key -subj "/O=mirror-agent test renewed/CN=mirror-1" -out m1b.csr 2>/dev/null &&
	printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=clientAuth" "subjectAltName=DNS:mirror-1" >m1b.ext &&
	openssl x509 -req -in m1b.csr -CA ca.pem -CAkey ca.key -set_serial 0x5EED0003 \
		-days 2 -sha256 -extfile m1b.ext -out m1b.pem 2>/dev/null && chmod 600 m1b.key
) || { echo "Bail out! cannot make the renewed certificate"; exit 1; }

spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 10 --term 1 --size 5000 >/dev/null &&
"$SPOOLGEN" append "$spool" --from 11 --count 10 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve serve --database "kv=$spool" --allow "mirror-1=kv"
"$AGENT" follow --data-dir "$TMP/m1" --source "127.0.0.1:$SERVE_PORT" \
	--ca "$PKI/ca.pem" --cert "$TMP/live/mirror.pem" --key "$TMP/live/mirror.key" \
	--server-name localhost --database kv --set follow.backoff_max=300ms >"$TMP/m1.log" 2>&1 &
M1_PID=$!
T_PIDS="$T_PIDS $M1_PID"
applied() { "$AGENT" status --data-dir "$TMP/m1" --json | grep -q "\"applied_index\":$1"; }
check "mirror-1 follows kv" wait_until 30 applied 20
# The copy the connections read: a memfd of the process, not a file.
check "the certificate the connections read is an in-memory copy" \
	sh -c "cmp '$PKI/mirror-1.pem' \"\$(for l in /proc/$M1_PID/fd/*; do case \$(readlink \$l) in */memfd:tls-cert*) echo \$l;; esac; done)\""

install_pair "$PKI/m1b.pem" "$PKI/m1b.key"
kill -HUP "$M1_PID"
check "a renewed certificate is reloaded (identity mirror-1)" \
	wait_until 10 grep -q "SIGHUP: certificates reloaded: $TMP/live/mirror.pem (identity mirror-1," "$TMP/m1.log"
check "the in-memory copy is the renewed certificate" \
	sh -c "cmp '$PKI/m1b.pem' \"\$(for l in /proc/$M1_PID/fd/*; do case \$(readlink \$l) in */memfd:tls-cert*) echo \$l;; esac; done)\""

install_pair "$PKI/mirror-expired.pem" "$PKI/mirror-expired.key"
kill -HUP "$M1_PID"
check "an expired certificate is refused, saying so" \
	wait_until 10 grep -q "SIGHUP: certificate refused: .*expired" "$TMP/m1.log"
check "the refusal says the previous certificate stays" \
	grep -q "SIGHUP: the new certificate files were NOT applied" "$TMP/m1.log"

# serve restarts on the same port: the mirror reconnects with the renewed
# (last good) certificate, not the expired one in the configured files.
kill "$SERVE_PID"
wait_pid "$SERVE_PID" 20 >/dev/null
port=$SERVE_PORT
SERVE_LISTEN=127.0.0.1:$port start_serve serve2 --database "kv=$spool" --allow "mirror-1=kv"
"$SPOOLGEN" append "$spool" --from 21 --count 10 --term 1 >/dev/null
check "after serve's restart the mirror reconnects and receives 21..30" \
	wait_until 30 applied 30
assert_absent "serve saw no expired client certificate" "expired" "$TMP/serve2.log"
finish
