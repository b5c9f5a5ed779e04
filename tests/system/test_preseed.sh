#!/bin/sh
# Pre-seeding a node that joins the source cluster (docs/OPERATIONS.md
# "Pre-seed a node joining the source"): a three-node raftkv source with
# PRESEED_STATE_KB (default 4096) KiB of state, a mirror that caught up
# and stopped, more writes after it; then node 4, pre-seeded from the
# mirror (raftkv-seed --join), and node 5, empty, join with "add"
# (raft_add, learner, then voter). Measures the bytes the cluster sent to
# each joiner until it caught up (TCP bytes_received of the joiner's
# inbound raft connections, from ss) and checks that the pre-seeded one
# got only the entries after the seed (less than a quarter of the state)
# while the plain one got the leader's snapshot; both end with the
# leader's fingerprint.
. "$abs_top_srcdir/tests/integration/lib.sh"
. "$abs_top_srcdir/tests/integration/raftkv_lib.sh"

plan 8

if [ ! -x "$NODE" ] || [ ! -x "$CLI" ] || [ ! -x "$SEED" ] || [ ! -x "$AGENT" ]; then
	echo "Bail out! raftkv-node, raftkv-cli, raftkv-seed or mirror-agent not built"
	exit 1
fi
if ! ss -tinH state established >/dev/null 2>&1; then
	for n in 1 2 3 4 5 6 7 8; do skip "no ss (iproute2) to count TCP bytes"; done
	exit 0
fi
gen_certs

STATE_KB=${PRESEED_STATE_KB:-4096}
KEYS=$((STATE_KB / 4))
[ "$KEYS" -ge 1 ] || KEYS=1
THRESHOLD=$((KEYS / 4))
[ "$THRESHOLD" -ge 512 ] || THRESHOLD=512
AFTER=200 # writes after the mirror stopped: what the joiner still needs

# A node serialises its snapshot on its event loop: with tens of MiB that
# outlasts a short election timeout and the cluster keeps electing.
ELECTION=300
[ "$STATE_KB" -le 16384 ] || ELECTION=2000
UUID=$(cat /proc/sys/kernel/random/uuid)
started=0
for attempt in 1 2 3; do
	rk_ports src
	rm -rf "$TMP"/src-data? "$TMP"/src-spool?
	for i in 1 2 3; do
		rk_start_node src "$i" "$TMP/src-data$i" "$TMP/src-spool$i" "$UUID" \
			--snapshot-threshold "$THRESHOLD" --snapshot-trailing $((AFTER * 4)) \
			--election-timeout "$ELECTION"
	done
	if wait_until 20 rk_leader src; then started=1; break; fi
	diag "attempt $attempt: no leader; retrying on new ports"
	for i in 1 2 3; do rk_kill src "$i"; done
done
[ $started = 1 ] || { echo "Bail out! the source elected no leader"; exit 1; }
rk_start_serve src 1 "$TMP/src-spool1"
out=$(timeout 900 "$CLI" --connect "$src_CLIENTS" --timeout 800 load --count "$KEYS" \
	--value-size 4096 --namespace base 2>"$TMP/load.log")
check "source up, $KEYS keys of 4 KiB loaded" test "$(rk_field count "$out")" = "$KEYS"

M="$TMP/mirror"
timeout 120 "$AGENT" follow --data-dir "$M" --database kv $(follow_tls) \
	--source "127.0.0.1:$src_SPORT1" --set database.kv.applier=kv \
	--exit-when-following >"$TMP/mirror.log" 2>&1
check "the mirror caught up and stopped" test $? -eq 0
out=$(rk_cli src load --count $AFTER --value-size 16 --namespace after 2>"$TMP/load2.err")
[ "$(rk_field count "$out")" = $AFTER ] || diag "writes after the mirror: $out"

set -- $("$CLI" free-ports 4)
R4=$1 C4=$2 R5=$3 C5=$4
sout=$("$SEED" --data-dir "$M" --database kv --cluster "$src_CLUSTER" \
	--join "4=127.0.0.1:$R4" --keep-cluster-id --out "$TMP/join" 2>"$TMP/seed.err")
rc=$?
echo "$sout" | sed 's/^/# /'
check "raftkv-seed --join writes node 4 with the source's cluster id" \
	test "$rc $(rk_field nodes "$sout") $(rk_field cluster_id "$sout")" = "0 1 $UUID"
P=$(rk_field index "$sout")

# join ID RPORT CPORT DATA SPOOL: starts node ID with --join, adds it,
# waits until it applied what the leader had; prints the bytes it received.
join() {
	id=$1 rport=$2 cport=$3
	"$NODE" --id "$id" --address "127.0.0.1:$rport" \
		--cluster "$src_CLUSTER,$id=127.0.0.1:$rport" --data "$4" --spool "$5" \
		--client-listen "127.0.0.1:$cport" --cluster-id "$UUID" --database kv \
		--election-timeout "$ELECTION" --join >>"$TMP/join$id.log" 2>&1 &
	# join runs in $(...): a subshell's T_PIDS is lost, so the caller
	# adds the pid from this file (the cleanup kills it).
	echo "$!" >"$TMP/join$id.pid"
	wait_until 10 rk_cli_at "$cport" leader || return 1
	a=$(rk_cli src add "$id" "127.0.0.1:$rport") || { diag "add $id: $a" >&2; return 1; }
	target=$(rk_field applied "$(rk_cli_at "$(leader_cport)" applied-index)")
	wait_until 120 caught_up "$cport" "$target" || { diag "node $id did not catch up to $target" >&2; return 1; }
	ss -tinH state established "( sport = :$rport )" |
		grep -o 'bytes_received:[0-9]*' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }'
}
leader_cport() { eval "echo \$src_CPORT$(rk_leader src)"; }
caught_up() { [ "$(rk_field applied "$(rk_cli_at "$1" applied-index)")" -ge "$2" ]; }
fp_of() { rk_cli_at "$1" fingerprint | sed -n 's/^OK fingerprint=\([0-9a-f]*\) .*/\1/p'; }

t=$(date +%s%N)
B4=$(join 4 "$R4" "$C4" "$TMP/join/node-4/raft" "$TMP/join/node-4/spool")
T_PIDS="$T_PIDS $(cat "$TMP/join4.pid" 2>/dev/null)"
T4=$((($(date +%s%N) - t) / 1000000))
check "the pre-seeded node 4 joined and caught up" expr "$B4" : '[0-9][0-9]*$' 
t=$(date +%s%N)
B5=$(join 5 "$R5" "$C5" "$TMP/plain5" "$TMP/plain5-spool")
T_PIDS="$T_PIDS $(cat "$TMP/join5.pid" 2>/dev/null)"
T5=$((($(date +%s%N) - t) / 1000000))
check "the plain node 5 joined and caught up" expr "$B5" : '[0-9][0-9]*$' 
LFP=$(fp_of "$(leader_cport)")
check "both joiners have the leader's fingerprint" test "$(fp_of "$C4") $(fp_of "$C5")" = "$LFP $LFP"
B4=${B4:-0} B5=${B5:-1}
echo "# pre-seed: state $STATE_KB KiB, seeded at $P, $AFTER writes after it"
echo "# bytes sent to the joiner until caught up: pre-seeded $B4 ($T4 ms), plain $B5 ($T5 ms), ratio $(awk -v a="$B4" -v b="$B5" 'BEGIN { printf "%.4f", a / b }')"
check "the pre-seeded joiner got less than a quarter of what the plain one got" \
	test $((B4 * 4)) -lt "$B5"
check "the plain joiner got at least the state's size (the leader's snapshot)" \
	test "$B5" -ge $((STATE_KB * 1024))
[ -n "${PRESEED_FIGURES:-}" ] && echo "state_kb=$STATE_KB preseed_bytes=$B4 preseed_ms=$T4 plain_bytes=$B5 plain_ms=$T5" >"$PRESEED_FIGURES"
finish
