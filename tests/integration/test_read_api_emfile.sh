#!/bin/sh
# The read API when clients outnumber the follower's descriptors (issues 9
# and 13): with more connections waiting than descriptors left, the read
# API must neither spin on a readable listener nor let accept() take the
# descriptors the follower needs. Its connection cap is at most half the
# descriptor limit and it stops accepting while it counts a batch, so
# accept() never runs out (the EMFILE pause of issue 9 stays as the last
# guard); the excess is refused, and the API serves again at once.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 4
gen_certs
command -v python3 >/dev/null 2>&1 || { for i in 1 2 3 4; do skip "python3 not found"; done; exit 0; }

# A source that never answers (a UDP socket that reads and drops): the
# follower's one handshake waits for the whole connect_timeout, so it opens
# no file (the CA) while descriptors are exhausted; the read API is up
# regardless.
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
end = time.time() + 60
while time.time() < end:
    s.settimeout(1)
    try: s.recv(65536)
    except OSError: pass' >"$TMP/silent.port" &
T_PIDS="$T_PIDS $!"
wait_until 10 test -s "$TMP/silent.port" || { echo "Bail out! no silent source"; exit 1; }
(
	ulimit -n 48
	exec "$AGENT" follow --data-dir "$TMP/m" \
		--source "127.0.0.1:$(cat "$TMP/silent.port")" \
		--set follow.connect_timeout=60s \
		$(follow_tls) --database kv \
		--http-listen 127.0.0.1:0 --http-port-file "$TMP/http.port" \
		>"$TMP/follow.log" 2>&1
) &
FPID=$!
T_PIDS="$T_PIDS $FPID"
wait_until 20 test -s "$TMP/http.port" ||
	{ echo "Bail out! the read API did not start"; sed 's/^/# /' "$TMP/follow.log"; exit 1; }
PORT=$(cat "$TMP/http.port")

# cpu_ticks PID: user + system clock ticks so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Hold up to 200 connections (more than the 48 descriptors) for 4 s.
python3 - "$PORT" >"$TMP/hold.out" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
held = []
for _ in range(200):
    s = socket.socket()
    s.settimeout(0.3)
    try:
        s.connect(("127.0.0.1", port))
        held.append(s)
    except OSError:
        break
print(len(held), flush=True)
time.sleep(4)
PY
HPID=$!
T_PIDS="$T_PIDS $HPID"
wait_until 30 test -s "$TMP/hold.out"
sleep 0.3
t0=$(cpu_ticks "$FPID")
sleep 1.5
t1=$(cpu_ticks "$FPID")
hz=$(getconf CLK_TCK)
diag "follower CPU while descriptors ran out: $((t1 - t0)) ticks in 1.5 s (CLK_TCK $hz); $(cat "$TMP/hold.out") connections held"
check "no busy loop on the listener (under 20% of a core)" test $((t1 - t0)) -lt $((hz * 3 / 10))
wait_pid "$HPID"
check "the cap is lowered to half the descriptor limit, and says so" \
	grep -q "http_max_connections 128 lowered to 24, half the descriptor limit (48" "$TMP/follow.log"
assert_absent "accept() never ran out of descriptors" "cannot accept" "$TMP/follow.log"
check "the read API serves again once descriptors are free" \
	wait_until 10 curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/status"
finish
