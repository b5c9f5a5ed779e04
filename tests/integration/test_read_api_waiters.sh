#!/bin/sh
# A parked min_index read ends with its client: a client that gives up
# before its timeout_ms (its own deadline shorter) and closes the
# connection frees its waiter at once, not at the timeout. With
# http_max_waiters 4, clients that park reads of 60 s and hang up would
# otherwise fill every slot for a minute (503 busy for everyone else).
. "$abs_top_srcdir/tests/integration/lib.sh"

command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
command -v python3 >/dev/null 2>&1 || { echo "1..0 # SKIP python3 not installed"; exit 0; }
plan 5
gen_certs

N=10
SPOOL=$TMP/src/kv
"$SPOOLGEN" init "$SPOOL" --database kv >/dev/null &&
	"$SPOOLGEN" append "$SPOOL" --from 1 --count $N --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve serve --database "kv=$SPOOL" --allow "mirror-1=kv"
"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv --set database.kv.applier=kv \
	--set follow.http_max_waiters=4 --set agent.log_level=debug \
	--http-listen 127.0.0.1:0 --http-port-file "$TMP/http.port" \
	>"$TMP/follow.log" 2>&1 &
T_PIDS="$T_PIDS $!"
wait_until 20 test -s "$TMP/http.port" ||
	{ echo "Bail out! the read API did not start"; sed 's/^/# /' "$TMP/follow.log"; exit 1; }
HTTP="http://127.0.0.1:$(cat "$TMP/http.port")"
applied() {
	curl -s --max-time 5 "$HTTP/v1/db/kv/fingerprint" | grep -q "\"applied_index\":$N[,}]"
}
check "the mirror applied $N entries" wait_until 20 applied

# park COUNT: COUNT clients each park a read of index 1000 for 60 s, then
# give up after 0.3 s and close; prints how many got no answer at all
# (parked, as they should be).
park() {
	python3 - "$(cat "$TMP/http.port")" "$1" <<'EOF'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks, parked = [], 0
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /v1/db/kv/get?ns=a&key=b&min_index=1000&timeout_ms=60000 "
              b"HTTP/1.1\r\nHost: x\r\n\r\n")
    socks.append(s)
time.sleep(0.3)
for s in socks:
    s.setblocking(False)
    try:
        s.recv(100)  # an answer or a close: not parked
    except BlockingIOError:
        parked += 1
    s.close()
print(parked)
EOF
}
p=$(park 4)
check "4 clients park min_index reads (no answer within 0.3 s)" test "$p" = 4

# A fifth read right after they hung up: with their waiters freed it
# parks too and times out (504) after its own 300 ms; with them still
# held every slot is taken (503 busy).
sleep 0.2
code=$(curl -s --max-time 10 -o "$TMP/r.body" -w '%{http_code}' \
	"$HTTP/v1/db/kv/get?ns=a&key=b&min_index=1000&timeout_ms=300")
check "a read after the clients hung up is parked (504 timeout, not 503 busy)" \
	sh -c "[ '$code' = 504 ] && grep -q '\"error\":\"timeout\"' '$TMP/r.body'" ||
	sed 's/^/# /' "$TMP/r.body"
check "the follower says each wait ended with its client" \
	sh -c "[ \$(grep -c 'closed its connection; its wait ends' '$TMP/follow.log') -eq 4 ]"

# Again, many times over the cap in a row: never busy.
busy=0
for round in 1 2 3; do
	park 4 >/dev/null
	sleep 0.1
	c=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
		"$HTTP/v1/db/kv/get?ns=a&key=b&min_index=1000&timeout_ms=100")
	[ "$c" = 503 ] && busy=$((busy + 1))
done
check "three more rounds of 4 abandoned waits: no 503 busy" test "$busy" -eq 0
finish
