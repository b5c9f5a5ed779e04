#!/bin/sh
# Without [tls] server_name each source is verified against its own host
# (issue 9; the sample config always said so): the first source,
# "localhost", has nothing listening, the second, "127.0.0.1", presents a
# certificate naming only IP:127.0.0.1. The mirror fails over and follows
# it; verified against the first source's name it would be refused.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 3
gen_certs
command -v openssl >/dev/null 2>&1 || { echo "Bail out! openssl not found"; exit 1; }
(
	cd "$PKI" &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ip.key 2>/dev/null &&
	chmod 600 ip.key &&
	openssl req -new -key ip.key -subj "/CN=source-by-ip" -out ip.csr 2>/dev/null &&
	printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1" >ip.ext &&
	openssl x509 -req -in ip.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-extfile ip.ext -out ip.pem 2>/dev/null
) || { echo "Bail out! openssl failed"; exit 1; }

spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 10 --term 1 >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 10 --term 1 --size 5000 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve ip --database "kv=$spool" --allow mirror-1=kv \
	--cert "$PKI/ip.pem" --key "$PKI/ip.key"

# A UDP port with nothing behind it: bind one, note it, close it.
dead=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null)
[ -n "$dead" ] || dead=9

timeout 60 "$AGENT" follow --data-dir "$TMP/m" \
	--source "localhost:$dead" --source "127.0.0.1:$SERVE_PORT" \
	--ca "$PKI/ca.pem" --cert "$PKI/mirror-1.pem" --key "$PKI/mirror-1.key" \
	--set follow.connect_timeout=1s --database kv --exit-when-following \
	>"$TMP/m.log" 2>&1
rc=$?
check "the mirror follows the second source (status $rc)" test $rc -eq 0
check "it holds the source's snapshot" \
	cmp "$spool/snapshots/10-1.snapshot" "$TMP/m/kv/snapshots/10-1.snapshot"
assert_absent "no name mismatch against the first source's name" "name mismatch" "$TMP/m.log"
finish
