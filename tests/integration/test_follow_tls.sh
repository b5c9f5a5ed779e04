#!/bin/sh
# TLS, access and identity refusals end to end: a client identity not
# allowed for the database, a client certificate from another CA, a server
# certificate with the wrong name, and no client certificate at all. Each is
# refused with a clear message and no data reaches the mirror's data
# directory. Last, a source whose identity differs from the one a mirror
# stored is refused (Error) and left untouched until --reseed.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 15
gen_certs

spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 10 --term 1 >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 10 --term 1 --size 100000 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve serve --database "kv=$spool" --allow mirror-1=kv

# 0. A good mirror of kv, for the identity checks at the end.
timeout 60 "$AGENT" follow --data-dir "$TMP/m0" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv --exit-when-following >"$TMP/m0.log" 2>&1

# Data files a refused mirror must not have: anything but the status file.
no_data() { # dir (the follower's lock is no data)
	[ -z "$(find "$1" -type f ! -name status ! -name follow.lock 2>/dev/null)" ]
}

# 1. mirror-2 is a valid client of the right CA, but not allowed to read kv.
timeout 30 "$AGENT" follow --data-dir "$TMP/m1" --source "127.0.0.1:$SERVE_PORT" \
	--ca "$PKI/ca.pem" --cert "$PKI/mirror-2.pem" --key "$PKI/mirror-2.key" \
	--server-name localhost --database kv >"$TMP/m1.log" 2>&1
rc=$?
check "identity not allowed: follow stops with an error (status $rc)" test $rc -eq 1
check "identity not allowed: the message says forbidden" grep -q "403 forbidden" "$TMP/m1.log"
check "identity not allowed: nothing stored" no_data "$TMP/m1"

# 2. A client certificate from an unrelated CA: the handshake fails.
timeout 8 "$AGENT" follow --data-dir "$TMP/m2" --source "127.0.0.1:$SERVE_PORT" \
	--ca "$PKI/ca.pem" --cert "$PKI/other-client.pem" --key "$PKI/other-client.key" \
	--server-name localhost --database kv >"$TMP/m2.log" 2>&1
check "client cert from another CA: refused during the handshake" \
	grep -q "certificate" "$TMP/m2.log"
check "client cert from another CA: nothing stored" no_data "$TMP/m2"

# 3. The server presents a certificate for another name.
start_serve wrong --database "kv=$spool" --allow mirror-1=kv \
	--cert "$PKI/server-wrong.pem" --key "$PKI/server-wrong.key"
timeout 8 "$AGENT" follow --data-dir "$TMP/m3" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv >"$TMP/m3.log" 2>&1
check "server certificate with the wrong name: refused" \
	grep -qi "name mismatch" "$TMP/m3.log"
check "server certificate with the wrong name: nothing stored" no_data "$TMP/m3"

# 4. No client certificate: follow refuses to start.
"$AGENT" follow --data-dir "$TMP/m4" --source "127.0.0.1:$SERVE_PORT" \
	--ca "$PKI/ca.pem" --database kv >"$TMP/m4.log" 2>&1
rc=$?
check "no client certificate: configuration error (status $rc)" test $rc -eq 2
check "no client certificate: the message names the missing key" \
	grep -q "cert_file" "$TMP/m4.log"
check "no client certificate: nothing stored" no_data "$TMP/m4"
# 5. A source that is not the one the mirror stored (another cluster id
# under the same name): refused as Error; --reseed starts over and accepts.
"$SPOOLGEN" init "$TMP/src/other" --database kv >/dev/null &&
"$SPOOLGEN" append "$TMP/src/other" --from 1 --count 20 --term 1 >/dev/null &&
"$SPOOLGEN" snapshot "$TMP/src/other" --index 20 --term 1 --size 5000 >/dev/null
start_serve other --database "kv=$TMP/src/other" --allow mirror-1=kv
timeout 30 "$AGENT" follow --data-dir "$TMP/m0" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv >"$TMP/m5.log" 2>&1
rc=$?
check "another source identity: follow stops with an error (status $rc)" test $rc -eq 1
check "another source identity: the message says so and names --reseed" \
	grep -q "differs from the stored .*--reseed" "$TMP/m5.log"
check "another source identity: the stored copy is untouched" \
	test -e "$TMP/m0/kv/snapshots/10-1.snapshot"
timeout 60 "$AGENT" follow --data-dir "$TMP/m0" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv --reseed --exit-when-following >"$TMP/m6.log" 2>&1
check "--reseed: the new source is accepted and followed" \
	cmp "$TMP/src/other/snapshots/20-1.snapshot" "$TMP/m0/kv/snapshots/20-1.snapshot"

# 6. [database] directory puts a database outside DATA_DIR/NAME.
timeout 60 "$AGENT" follow --data-dir "$TMP/m7" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv --set "database.kv.directory=$TMP/elsewhere/kv" \
	--exit-when-following >"$TMP/m7.log" 2>&1
check "a configured database directory is used" \
	cmp "$TMP/src/other/snapshots/20-1.snapshot" "$TMP/elsewhere/kv/snapshots/20-1.snapshot"
finish
