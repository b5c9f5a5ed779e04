#!/bin/sh
# Generates the test PKI used by the transport tests into OUTDIR.
#
#   ca.pem / ca.key                the test CA
#   server.pem / server.key        server, SAN DNS:localhost, IP:127.0.0.1
#   server-wrong.pem / .key        server signed by the test CA, wrong name
#                                  (SAN DNS:not-localhost.invalid)
#   mirror-1.pem / .key            client, CN=mirror-1, SAN DNS:mirror-1
#   mirror-2.pem / .key            client, CN=mirror-2, no SAN (identity from CN)
#   other-ca.pem / other-ca.key    an unrelated CA
#   other-client.pem / .key        client signed by the other CA, CN=mirror-1
#   mirror-v1.pem / .key           client, X.509 version 1 (no extensions)
#   mirror-expired.pem / .key      client, v3, expired in 2020
#   server-v1.pem / .key           server, X.509 version 1, CN=localhost
#   server-expired.pem / .key      server, SAN DNS:localhost, expired in 2020
#   mirror-long.pem / .key         client, SAN URI of 255 bytes (the longest)
#   mirror-toolong.pem / .key      client, SAN URI of 256 bytes
#   mirror-colon.pem / .key        client, no SAN, CN=urn:mirror-1 (a CN
#                                  with ':' could pass for a URI: refused)
#
# All keys are ECDSA P-256; certificates are valid for 2 days. Test use only.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
mkdir -p "$out"
cd "$out"

command -v openssl >/dev/null 2>&1 || {
	echo "gen-certs.sh: openssl not found (install the 'openssl' package)" >&2
	exit 1
}

days=2

key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1" 2>/dev/null
}

ca() { # name cn
	key "$1.key"
	openssl req -x509 -new -key "$1.key" -sha256 -days $days \
		-subj "/O=mirror-agent test/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$1.pem"
}

leaf() { # name ca cn eku san(or empty)
	key "$1.key"
	openssl req -new -key "$1.key" -subj "/O=mirror-agent test/CN=$3" \
		-out "$1.csr"
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature"
		echo "extendedKeyUsage=$4"
		if [ -n "$5" ]; then
			echo "subjectAltName=$5"
		fi
	} >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
		-CAcreateserial -sha256 -days $days -extfile "$1.ext" \
		-out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

ca ca "mirror-agent test CA"
ca other-ca "unrelated test CA"
leaf server ca localhost serverAuth "DNS:localhost,IP:127.0.0.1"
leaf server-wrong ca not-localhost.invalid serverAuth \
	"DNS:not-localhost.invalid"
leaf mirror-1 ca mirror-1 clientAuth "DNS:mirror-1"
leaf mirror-2 ca mirror-2 clientAuth ""
leaf other-client other-ca mirror-1 clientAuth "DNS:mirror-1"
# Version 1: no extensions given to "openssl x509 -req".
v1() { # name cn
	key "$1.key"
	openssl req -new -key "$1.key" -subj "/O=mirror-agent test/CN=$2" \
		-out "$1.csr"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
		-CAcreateserial -sha256 -days $days -out "$1.pem" 2>/dev/null
	rm -f "$1.csr"
}

# Expired: "openssl ca" is the one that takes explicit dates (3.0).
expired() { # name cn eku san
	key "$1.key"
	openssl req -new -key "$1.key" -subj "/O=mirror-agent test/CN=$2" \
		-out "$1.csr"
	printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
		"$3" "$4" >"$1.ext"
	: >index.txt
	echo 1000 >serial
	cat >ca.cnf <<-EOF
	[ca]
	default_ca = tca
	[tca]
	database = index.txt
	new_certs_dir = .
	serial = serial
	default_md = sha256
	policy = any
	[any]
	commonName = supplied
	organizationName = optional
	EOF
	openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key \
		-in "$1.csr" -out "$1.pem" -notext -extfile "$1.ext" \
		-startdate 20200101000000Z -enddate 20200102000000Z \
		>/dev/null 2>&1
	rm -f "$1.csr" "$1.ext" ca.cnf index.txt* serial* ./*.pem.old 1000.pem
}

# "spiffe://mirror-agent.test/" is 27 bytes: pad to 255 and 256.
pad=$(printf '%0228d' 0 | tr 0 a)
leaf mirror-long ca mirror-long clientAuth \
	"URI:spiffe://mirror-agent.test/$pad"
leaf mirror-toolong ca mirror-toolong clientAuth \
	"URI:spiffe://mirror-agent.test/${pad}b"
leaf mirror-colon ca "urn:mirror-1" clientAuth ""
v1 mirror-v1 mirror-v1
v1 server-v1 localhost
expired mirror-expired mirror-expired clientAuth DNS:mirror-expired
expired server-expired localhost serverAuth DNS:localhost
rm -f ca.srl other-ca.srl
