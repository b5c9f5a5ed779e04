#!/bin/sh
# check-config checks the [tls] certificate (issue 9): each mistake an
# operator makes with openssl is named with what to do, and a good mirror
# certificate prints the identity sources must grant (SAN URI, else SAN
# DNS, else CN). The bad certificates are made here with openssl.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 18
gen_certs
command -v openssl >/dev/null 2>&1 || { echo "Bail out! openssl not found"; exit 1; }

cd "$PKI" || exit 1
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }
# cert NAME DAYS EXTFILE_LINES... (signed by the test CA; no lines: v1)
cert() {
	n=$1 d=$2
	shift 2
	key "$n.key"
	openssl req -new -key "$n.key" -subj "/CN=$n-cn" -out "$n.csr" 2>/dev/null
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" >"$n.ext"
		openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days "$d" -extfile "$n.ext" -out "$n.pem" 2>/dev/null
	else
		openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days "$d" -out "$n.pem" 2>/dev/null
	fi
}
cert v1 30
cert expired -1 "extendedKeyUsage=clientAuth" "subjectAltName=DNS:expired"
cert uri 400 "extendedKeyUsage=clientAuth" \
	"subjectAltName=DNS:dns-name,URI:spiffe://example.org/mirror-9"
cert dnsonly 400 "extendedKeyUsage=clientAuth" "subjectAltName=DNS:mirror-dns"
cert cnonly 400 "extendedKeyUsage=clientAuth"
cert serveronly 400 "extendedKeyUsage=serverAuth" "subjectAltName=DNS:s"
cd - >/dev/null || exit 1

# conf NAME CERT KEY ROLE: a config for ROLE (follow|serve) using them.
conf() {
	{
		echo "[agent]"
		echo "data_dir = $TMP/data"
		echo "[tls]"
		echo "ca_file = $PKI/ca.pem"
		echo "cert_file = $PKI/$2.pem"
		echo "key_file = $PKI/$3.key"
		if [ "$4" = follow ]; then
			echo "[follow]"
			echo "sources = 127.0.0.1:4433"
			echo "[database \"kv\"]"
		else
			mkdir -p "$TMP/spool"
			echo "[serve]"
			echo "listen = 127.0.0.1:0"
			echo "[access \"m\"]"
			echo "databases = kv"
			echo "[database \"kv\"]"
			echo "spool = $TMP/spool"
		fi
	} >"$TMP/$1.conf"
}

# refused NAME PATTERN: check-config exits 1 and says PATTERN.
refused() {
	"$AGENT" check-config "$TMP/$1.conf" >"$TMP/$1.out" 2>&1
	rc=$?
	check "$1: check-config fails (status $rc)" test $rc -eq 1
	check "$1: the message names the cause" grep -q "$2" "$TMP/$1.out"
}

conf v1 v1 v1 follow
refused v1 "v1.pem is an X.509 v1 certificate: peers refuse anything but v3"
conf expired expired expired follow
refused expired "expired.pem expired on .*: issue a new one"
conf keymismatch mirror-1 mirror-2 follow
refused keymismatch "mirror-2.key does not match \[tls\] cert_file .*mirror-1.pem"
conf otherca other-client other-client follow
refused otherca "other-client.pem is not signed by the CA in \[tls\] ca_file"
conf eku serveronly serveronly follow
refused eku "serveronly.pem: its extendedKeyUsage lacks clientAuth, which follow needs"
conf serveeku mirror-1 mirror-1 serve
refused serveeku "mirror-1.pem: its extendedKeyUsage lacks serverAuth, which serve needs"

# identity_is NAME CERT IDENTITY: a good certificate is OK and prints it.
identity_is() {
	conf "$1" "$2" "$2" follow
	"$AGENT" check-config "$TMP/$1.conf" >"$TMP/$1.out" 2>&1 &&
		grep -q "configuration OK" "$TMP/$1.out" &&
		grep -qx "identity this mirror presents to sources: $3 (what their \[access \"$3\"\] must name)" "$TMP/$1.out"
}
check "SAN URI first: the identity is the URI, not the DNS name or CN" \
	identity_is uri uri "spiffe://example.org/mirror-9"
check "SAN DNS when there is no URI" identity_is dnsonly dnsonly mirror-dns
check "the CN when there is no SAN" identity_is cnonly cnonly cnonly-cn
check "a good server certificate passes for serve" sh -c \
	"'$AGENT' check-config '$TMP/serveeku.conf' --set tls.cert_file=$PKI/server.pem --set tls.key_file=$PKI/server.key"

# The flag path checks the key's permissions like the file does.
cp "$PKI/server.key" "$TMP/open.key" && chmod 644 "$TMP/open.key"
"$AGENT" serve --listen 127.0.0.1:0 --cert "$PKI/server.pem" --key "$TMP/open.key" \
	--client-ca "$PKI/ca.pem" --database "kv=$TMP/spool" --allow m=kv >"$TMP/flag.out" 2>&1
rc=$?
check "serve --key readable by others: refused (status $rc)" test $rc -eq 2
check "serve --key readable by others: says so and what to do" \
	grep -q "private key is accessible to other users (mode 0644); chmod o-rwx it" "$TMP/flag.out"
finish
