#!/bin/sh
# The read API as an attacker meets it (issue 13): a real serve and follow
# (applier kv) over loopback QUIC, the read API with bearer tokens and
# tight limits, the follower under a low descriptor limit.
# - no token: 401 for every path, and the same answer for a database that
#   exists and one that does not; a wrong token: 403, again the same;
#   a database's token does not open /status; the right ones do;
# - a non-loopback address without any token is refused at start;
# - slowloris (connections that trickle a request head) are cut at the
#   header timeout while another client is served;
# - descriptor exhaustion (hundreds of idle connections from many
#   addresses, more than the follower's descriptors) leaves the mirror
#   Following, applying new entries, and /status answering.
. "$abs_top_srcdir/tests/integration/lib.sh"

command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
command -v python3 >/dev/null 2>&1 || { echo "1..0 # SKIP python3 not installed"; exit 0; }
command -v sha256sum >/dev/null 2>&1 || { echo "1..0 # SKIP sha256sum not installed"; exit 0; }
plan 18
gen_certs

DBTOK=db-secret-1
STTOK=status-secret-2
sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }

N1=20
N2=25
SPOOL=$TMP/src/kv
"$SPOOLGEN" init "$SPOOL" --database kv >/dev/null &&
	"$SPOOLGEN" append "$SPOOL" --from 1 --count $N1 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve serve --database "kv=$SPOOL" --allow "mirror-1=kv"

(
	# 96 descriptors: the read API may take 48; the attack below opens
	# several hundred connections.
	ulimit -n 96
	exec "$AGENT" follow --data-dir "$TMP/mirror" \
		--source "127.0.0.1:$SERVE_PORT" $(follow_tls) --database kv \
		--set database.kv.applier=kv \
		--set "database.kv.read_token_sha256=$(sha $DBTOK)" \
		--set "follow.http_status_token_sha256=$(sha $STTOK)" \
		--set follow.http_header_timeout=1s \
		--set follow.http_max_connections_per_address=8 \
		--http-listen 127.0.0.1:0 --http-port-file "$TMP/http.port" \
		>"$TMP/follow.log" 2>&1
) &
FPID=$!
T_PIDS="$T_PIDS $FPID"
wait_until 20 test -s "$TMP/http.port" ||
	{ echo "Bail out! the read API did not start"; sed 's/^/# /' "$TMP/follow.log"; exit 1; }
PORT=$(cat "$TMP/http.port")
HTTP="http://127.0.0.1:$PORT"

# req NAME TOKEN PATH: status code to NAME.code, body to NAME.body.
req() {
	if [ -n "$2" ]; then set -- "$1" -H "Authorization: Bearer $2" "$3"
	else set -- "$1" "$3"; fi
	name=$1
	shift
	curl -s --max-time 5 -o "$TMP/$name.body" -w '%{http_code}' "$@" \
		>"$TMP/$name.code" 2>/dev/null
	cat "$TMP/$name.code"
}
num() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" "$2"; }
applied() { # applied index N through the read API
	[ "$(req pos $DBTOK "$HTTP/v1/db/kv/fingerprint")" = 200 ] &&
		[ "$(num applied_index "$TMP/pos.body")" = "$1" ]
}
following() { # /status says Following at log index N
	[ "$(req st $STTOK "$HTTP/status")" = 200 ] &&
		grep -q '"state":"Following"' "$TMP/st.body" &&
		[ "$(num applied_index "$TMP/st.body")" = "$1" ]
}
check "the mirror follows and applies $N1 entries (right token: 200)" \
	wait_until 20 applied $N1

c1=$(req anon "" "$HTTP/v1/db/kv/fingerprint")
c2=$(req anon2 "" "$HTTP/v1/db/nosuch/fingerprint")
if [ "$c1" = 401 ] && [ "$c2" = 401 ] && cmp -s "$TMP/anon.body" "$TMP/anon2.body"; then
	ok "no token: 401, the same body for an existing and a missing database"
else not_ok "no token: $c1 / $c2: $(cat "$TMP/anon.body") / $(cat "$TMP/anon2.body")"; fi
check "no token: nothing of the database in the answer" \
	test "$(grep -c 'applied_index\|fingerprint\|"kv"' "$TMP/anon.body")" = 0
hdr=$(curl -s --max-time 5 -D - -o /dev/null "$HTTP/status" | tr -d '\r')
check "no token on /status: 401 with WWW-Authenticate: Bearer" \
	sh -c "echo '$hdr' | grep -q '^HTTP/1.1 401' && echo '$hdr' | grep -qi '^WWW-Authenticate: Bearer'"
c1=$(req bad wrong-token "$HTTP/v1/db/kv/fingerprint")
c2=$(req bad2 wrong-token "$HTTP/v1/db/nosuch/get?ns=a&key=b")
if [ "$c1" = 403 ] && [ "$c2" = 403 ] && cmp -s "$TMP/bad.body" "$TMP/bad2.body"; then
	ok "wrong token: 403, the same body for an existing and a missing database"
else not_ok "wrong token: $c1 / $c2: $(cat "$TMP/bad.body") / $(cat "$TMP/bad2.body")"; fi
check "a database's token does not open /status or /metrics (403)" \
	sh -c "[ $(req x $DBTOK "$HTTP/status") = 403 ] && [ $(req y $DBTOK "$HTTP/metrics") = 403 ]"
check "the status token does not read a database (403)" \
	test "$(req z $STTOK "$HTTP/v1/db/kv/fingerprint")" = 403
check "the status token reads /status: Following at $N1" following $N1
check "/healthz needs no token: 200 ok" \
	sh -c '[ "$1" = 200 ] && grep -q "\"status\":\"ok\"" "$2"' _ \
	"$(req hz "" "$HTTP/healthz")" "$TMP/hz.body"
check "/readyz names databases: 401 without the status token, 200 with it" \
	test "$(req rz0 "" "$HTTP/readyz")/$(req rz1 $STTOK "$HTTP/readyz")" = 401/200

# A non-loopback address without a token does not start.
timeout 10 "$AGENT" follow --data-dir "$TMP/m2" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv --http-listen 0.0.0.0:0 >"$TMP/open.log" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "not a loopback address and no token" "$TMP/open.log"; then
	ok "http_listen 0.0.0.0 without a token is refused (exit $rc)"
else not_ok "0.0.0.0 without a token: exit $rc: $(head -3 "$TMP/open.log")"; fi

# attack MODE PORT N FIRST LAST SECONDS: N connections spread over
# 127.0.0.FIRST..LAST; slow: each trickles a request head, one byte per
# 200 ms; idle: each sends nothing. Prints how many the server closed (or
# refused) and within how many seconds of the start the last of them did.
attack() {
	python3 - "$@" <<'PY'
import socket, sys, time
mode, port, n, first, last, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
socks = []
start = time.time()
for i in range(n):
    s = socket.socket()
    s.bind(("127.0.0.%d" % (first + i % (last - first + 1)), 0))
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    except OSError:
        pass
head = b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
closed, last_close, k = set(), 0.0, 0
while time.time() - start < secs:
    for j, s in enumerate(socks):
        if j in closed:
            continue
        try:
            d = s.recv(4096)
            if d == b"" or d.startswith(b"HTTP/1.1 503"):
                closed.add(j); last_close = time.time() - start
                continue
        except BlockingIOError:
            pass
        except OSError:
            closed.add(j); last_close = time.time() - start
            continue
        if mode == "slow" and k < len(head):
            try:
                s.send(head[k:k + 1])
            except OSError:
                closed.add(j); last_close = time.time() - start
    k += 1
    time.sleep(0.2)
print(len(socks), len(closed), "%.1f" % last_close, flush=True)
PY
}

# Slowloris from 127.0.0.2: 20 connections (8 admitted by the
# per-address cap), each trickling its head for 6 s; the header timeout
# is 1 s, so the mirror must cut each long before the attacker stops.
attack slow "$PORT" 20 2 2 6 >"$TMP/slow.out" 2>&1 &
APID=$!
T_PIDS="$T_PIDS $APID"
sleep 0.5
check "during slowloris another client reads (200)" \
	test "$(req during $DBTOK "$HTTP/v1/db/kv/fingerprint")" = 200
wait_pid $APID
set -- $(cat "$TMP/slow.out")
diag "slowloris: $1 connected, $2 closed by the mirror, the last after $3 s"
check "every trickling connection was cut (${2:-?} of ${1:-?})" test "${1:-0}" -gt 0 -a "${2:-x}" = "${1:-y}"
check "within the header timeout and a margin (last after ${3:-?} s, limit 2.5 s; the attack lasts 6 s)" \
	awk -v t="${3:-99}" 'BEGIN { exit !(t <= 2.5) }'

# Descriptor exhaustion: 400 idle connections from 127.0.0.10..59 (8 per
# address), more than the follower's 96 descriptors, held for 5 s while
# the source appends entries.
attack idle "$PORT" 400 10 59 5 >"$TMP/idle.out" 2>&1 &
APID=$!
T_PIDS="$T_PIDS $APID"
sleep 1
"$SPOOLGEN" append "$SPOOL" --from $((N1 + 1)) --count $N2 --term 1 >/dev/null ||
	not_ok "spoolgen append failed"
check "under the flood the mirror applies the new entries (applied $((N1 + N2)))" \
	wait_until 4 following $((N1 + N2))
check "under the flood /metrics answers (200)" \
	test "$(req met $STTOK "$HTTP/metrics")" = 200
wait_pid $APID
diag "flood: $(cat "$TMP/idle.out") (connected, closed by the mirror, last close s)"
check "the flood did reach the connection cap (most were closed or refused)" \
	sh -c "set -- \$(cat '$TMP/idle.out'); [ \"\$2\" -ge 300 ]"
assert_absent "no database went to Error, no file of the mirror failed to open" \
	"Error\|cannot open\|cannot load" "$TMP/follow.log"
finish
