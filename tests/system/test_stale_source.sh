#!/bin/sh
# A source node cut off from its cluster while the mirror follows it
# (issue 8, freshness): three raftkv nodes on libraft, each with its
# `mirror-agent serve`. The mirror follows a node that is not the leader;
# that node's Raft process is stopped (SIGSTOP: it hears from no leader
# and takes no more entries) while its serve keeps serving its spool and
# heartbeating, and the majority keeps taking writes. The mirror must see
# from the tap's freshness record (carried by serve) that the node lost
# its leader, move to a fresh node within a bounded time, say why, and end
# with the source's fingerprint. Prints the time to move off the stale
# source (MA_STALE_ROUNDS rounds, default 1; the median when more).
. "$abs_top_srcdir/tests/integration/lib.sh"
. "$abs_top_srcdir/tests/integration/raftkv_lib.sh"

ROUNDS=${MA_STALE_ROUNDS:-1}
plan $((3 + 3 * ROUNDS))

if [ ! -x "$NODE" ] || [ ! -x "$CLI" ] || [ ! -x "$AGENT" ]; then
	echo "Bail out! raftkv-node, raftkv-cli or mirror-agent not built"
	exit 1
fi
HAVE_API=0
if "$AGENT" follow --help 2>&1 | grep -q -- '--http-listen' &&
	command -v curl >/dev/null 2>&1; then
	HAVE_API=1
fi
gen_certs
UUID=$(cat /proc/sys/kernel/random/uuid)
SILENCE_MS=2000

jfield() { # KEY JSON: first value of "KEY": (string or number)
	printf '%s' "$2" | grep -o "\"$1\":\(\"[^\"]*\"\|[0-9a-z.]*\)" | head -n 1 |
		sed -e 's/^"[^"]*"://' -e 's/^"//' -e 's/"$//'
}
status_json() { "$AGENT" status --data-dir "$TMP/mirror" --json 2>/dev/null; }
endpoint_now() { jfield endpoint "$(status_json)"; }
node_of_port() {
	for i in 1 2 3; do eval "[ \"\$C_SPORT$i\" = \"$1\" ]" && { echo "$i"; return; }; done
}
has_leader() { rk_leader C >/dev/null; }
now_ms() { date +%s%3N; }
CONT="" # a stopped node, resumed by the cleanup trap
resume_all() { [ -n "$CONT" ] && kill -CONT $CONT 2>/dev/null; CONT=""; }
trap 'resume_all; cleanup' EXIT INT TERM

started=0
for attempt in 1 2 3; do
	rk_ports C
	rm -rf "$TMP"/data? "$TMP"/spool?
	for i in 1 2 3; do
		rk_start_node C "$i" "$TMP/data$i" "$TMP/spool$i" "$UUID" \
			--snapshot-threshold 400 --snapshot-trailing 64
	done
	if wait_until 20 has_leader; then started=1; break; fi
	for i in 1 2 3; do eval "kill -9 \$C_PID$i" 2>/dev/null; done
	wait 2>/dev/null
done
[ $started = 1 ] || { echo "Bail out! the cluster elected no leader"; exit 1; }
for i in 1 2 3; do rk_start_serve C "$i" "$TMP/spool$i"; done
out=$(rk_cli C load --count 500 --value-size 100 --namespace init 2>&1)
[ $? = 0 ] && ok "cluster, three serves, initial load ($out)" ||
	{ not_ok "initial load: $out"; echo "Bail out!"; exit 1; }

# The mirror starts on a node that is not the leader.
L=$(rk_leader C)
ORDER=""
for i in 1 2 3; do [ "$i" = "$L" ] || ORDER="$ORDER $i"; done
ORDER="$ORDER $L"
SOURCES=""
for i in $ORDER; do eval "SOURCES=\"\$SOURCES --source 127.0.0.1:\$C_SPORT$i\""; done
set -- --data-dir "$TMP/mirror" $SOURCES --database kv $(follow_tls) \
	--set follow.backoff_min=50ms --set follow.backoff_max=1s \
	--set follow.connect_timeout=2s --set follow.idle_timeout=3s \
	--set follow.keepalive=500ms --set follow.source_probe_interval=1s \
	--set follow.source_probe_timeout=1s \
	--set follow.source_leader_silence=${SILENCE_MS}ms \
	--set follow.source_lag_entries=1000000 \
	--set follow.source_switch_hold=5s
[ $HAVE_API = 1 ] && set -- "$@" --set database.kv.applier=kv \
	--http-listen 127.0.0.1:0 --http-port-file "$TMP/m.http"
"$AGENT" follow "$@" >>"$TMP/m.log" 2>&1 &
MPID=$!
T_PIDS="$T_PIDS $MPID"
HTTP=""
[ $HAVE_API = 1 ] && wait_until 20 test -s "$TMP/m.http" &&
	HTTP="http://127.0.0.1:$(cat "$TMP/m.http")"

# Every endpoint heard (probes) and the followed node's leader contact
# known and recent.
all_heard() {
	j=$(status_json)
	[ "$(printf '%s' "$j" | grep -o '"probe":"ok"' | wc -l)" -eq 3 ] &&
		is_state "$TMP/mirror" kv Following
}
if wait_until 60 all_heard; then
	j=$(status_json)
	c=$(jfield source_last_leader_contact "$j")
	case "$c" in
	[0-9]*.[0-9][0-9][0-9]) awk -v c="$c" 'BEGIN { exit !(c < 2) }' &&
		ok "Following; all 3 endpoints probed; followed node's leader contact ${c}s ago" ||
		not_ok "leader contact of a healthy node is ${c}s old" ;;
	*) not_ok "source_last_leader_contact is '$c'" ;;
	esac
else
	not_ok "not Following with all endpoints probed: $(status_json | head -c 600)"
	tail -n 10 "$TMP/m.log" | sed 's/^/# /'
fi

TIMES=""
round=0
while [ $round -lt "$ROUNDS" ]; do
	round=$((round + 1))
	ep=$(endpoint_now)
	K=$(node_of_port "${ep##*:}")
	L=$(rk_leader C)
	if [ -z "$K" ] || [ "$K" = "$L" ]; then
		# A stopped leader is an election, not a partitioned
		# minority: this round measures nothing.
		skip "round $round: the mirror follows the leader (node ${K:-?})"
		skip "round $round: no move measured"
		skip "round $round: fingerprint"
		continue
	fi
	eval "kpid=\$C_PID$K"
	rk_cli C load --count 1500 --value-size 100 --namespace "r$round" \
		>"$TMP/load$round.out" 2>"$TMP/load$round.err" &
	LOADPID=$!
	T_PIDS="$T_PIDS $LOADPID"
	sleep 1
	t0=$(now_ms)
	kill -STOP "$kpid"
	CONT=$kpid
	diag "round $round: stopped node $K's Raft process (its serve $ep keeps serving)"
	moved() { e=$(endpoint_now); [ -n "$e" ] && [ "$e" != "$ep" ]; }
	if wait_until 30 moved; then
		t1=$(now_ms)
		dt=$((t1 - t0))
		TIMES="$TIMES $dt"
		echo "# time to move off the stale source: $dt ms (source_leader_silence ${SILENCE_MS} ms)"
		why=$(grep "leaving 127.0.0.1:${ep##*:} for" "$TMP/m.log" | tail -n 1)
		case "$why" in
		*"has not heard from a leader"*) ok "round $round: moved off node $K after $dt ms: ${why#*: }" ;;
		*) not_ok "round $round: moved, but the reason is '$why'" ;;
		esac
		[ "$dt" -le $((SILENCE_MS + 8000)) ] &&
			ok "round $round: within source_leader_silence + 8 s" ||
			not_ok "round $round: $dt ms to move"
	else
		not_ok "round $round: still on $ep after 30 s: $(status_json | head -c 800)"
		skip "round $round: no move measured"
	fi
	wait_until 120 sh -c "! kill -0 $LOADPID 2>/dev/null" || kill -9 "$LOADPID" 2>/dev/null
	wait_pid "$LOADPID"
	# The source's fingerprint at the leader's applied index.
	l=$(rk_leader C)
	eval "lport=\$C_CPORT$l"
	fp=$(rk_cli_at "$lport" fingerprint)
	A=$(rk_field applied "$fp")
	if [ -n "$HTTP" ]; then
		r=$(curl -sS --max-time 40 "$HTTP/v1/db/kv/fingerprint?min_index=$A&timeout_ms=30000")
		[ "$(jfield fingerprint "$r")" = "$(rk_field fingerprint "$fp")" ] &&
			ok "round $round: mirror fingerprint equals the source's at index $A" ||
			not_ok "round $round: fingerprints differ: source '$fp', mirror '$r'"
	else
		skip "round $round: fingerprint (no read API)"
	fi
	kill -CONT "$kpid"
	CONT=""
	# The resumed node catches up before the next round.
	sleep 3
done

if [ -n "$TIMES" ]; then
	med=$(echo $TIMES | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	echo "# time to move off the stale source: median $med ms over $(echo $TIMES | wc -w | tr -d ' ') round(s) (each:$TIMES); load average $(cut -d' ' -f1-3 /proc/loadavg)"
fi
j=$(status_json)
sw=$(jfield source_switches "$j")
[ "${sw:-0}" -ge 1 ] && ok "status counts the move(s): source_switches $sw" ||
	not_ok "source_switches '$sw'"
finish
