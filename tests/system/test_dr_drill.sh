#!/bin/sh
# The DR drill (docs/OPERATIONS.md "DR drill"; scripts/dr-drill.sh runs it
# at full size): a three-node raftkv source under continuous writes whose
# acknowledgements are logged, a mirror following it over QUIC; kill -9 of
# all three nodes and their serves at a random moment; promote the mirror
# (through the running follower), seed a new three-node cluster from it
# (raftkv-seed), start it and write to it. Prints the RPO (acknowledged
# writes the new cluster lacks, and entries) and the RTO (promote command
# to the first write the new cluster accepted), and checks: every
# acknowledged write at or below the promoted index is in the new cluster
# with its version and value, none above it is; the fingerprint of every
# new node equals the promoted one; the first write lands after the
# promoted index; the promoted mirror refuses the old source when it comes
# back. Bad input to raftkv-seed changes nothing.
#
# DRILL_STATE_KB (default 2048): the state loaded before the writes, in
# KiB of values (4 KiB each). DRILL_WRITE_MS (default 1000..2500, random):
# how long the writes run before the kill.
. "$abs_top_srcdir/tests/integration/lib.sh"
. "$abs_top_srcdir/tests/integration/raftkv_lib.sh"

plan 18

if [ ! -x "$NODE" ] || [ ! -x "$CLI" ] || [ ! -x "$SEED" ] || [ ! -x "$AGENT" ]; then
	echo "Bail out! raftkv-node, raftkv-cli, raftkv-seed or mirror-agent not built"
	exit 1
fi
gen_certs

STATE_KB=${DRILL_STATE_KB:-2048}
KEYS=$((STATE_KB / 4))
[ "$KEYS" -ge 1 ] || KEYS=1
THRESHOLD=$((KEYS / 4))
[ "$THRESHOLD" -ge 256 ] || THRESHOLD=256
WRITE_MS=${DRILL_WRITE_MS:-$((1000 + $(od -An -N2 -tu2 /dev/urandom) % 1500))}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- the source -------------------------------------------------------------
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
			--snapshot-threshold "$THRESHOLD" --snapshot-trailing 64 \
			--election-timeout "$ELECTION"
	done
	if wait_until 20 rk_leader src; then started=1; break; fi
	diag "attempt $attempt: no leader; retrying on new ports"
	for i in 1 2 3; do rk_kill src "$i"; done
done
[ $started = 1 ] || { echo "Bail out! the source elected no leader"; exit 1; }
for i in 1 2 3; do rk_start_serve src "$i" "$TMP/src-spool$i"; done
t=$(now_ms)
out=$(timeout 900 "$CLI" --connect "$src_CLIENTS" --timeout 800 load --count "$KEYS" --value-size 4096 --namespace base 2>"$TMP/load.log")
check "source up, state loaded: $KEYS keys of 4 KiB in $(($(now_ms) - t)) ms ($out)" \
	test "$(rk_field count "$out")" = "$KEYS"

# ---- the mirror --------------------------------------------------------------
M="$TMP/mirror"
"$AGENT" follow --data-dir "$M" --database kv $(follow_tls) \
	--source "127.0.0.1:$src_SPORT1" --source "127.0.0.1:$src_SPORT2" \
	--source "127.0.0.1:$src_SPORT3" --set database.kv.applier=kv \
	--set follow.backoff_min=50ms --set follow.backoff_max=500ms \
	--set follow.connect_timeout=2s --set follow.keepalive=500ms \
	>>"$TMP/mirror.log" 2>&1 &
MPID=$!
T_PIDS="$T_PIDS $MPID"
check "the mirror bootstraps and reaches Following" wait_until 120 is_state "$M" kv Following

# Seeding from a directory a follower holds: refused, nothing written.
"$SEED" --data-dir "$M" --database kv --cluster "1=127.0.0.1:1,2=127.0.0.1:2" \
	--out "$TMP/busy" >"$TMP/seed-busy.out" 2>&1
rc=$?
check "seed from a mirror a follower holds: exit 1, named, nothing written" sh -c \
	"[ $rc -eq 1 ] && grep -q 'in use by a running follower' '$TMP/seed-busy.out' && [ ! -e '$TMP/busy' ]"

# ---- writes, then the disaster -------------------------------------------------
ACKS="$TMP/acks"
: >"$ACKS"
"$CLI" --connect "$src_CLIENTS" --timeout 30 load --count 10000000 --value-size 16 \
	--namespace drill --key-prefix w --ack-log "$ACKS" >"$TMP/writer.log" 2>&1 &
WPID=$!
T_PIDS="$T_PIDS $WPID"
sleep "$(echo "$WRITE_MS" | awk '{ printf "%.3f", $1 / 1000 }')"
for i in 1 2 3; do rk_kill src "$i"; done
kill -9 "$WPID" 2>/dev/null
wait_pid "$WPID" 2>/dev/null
NACK=$(wc -l <"$ACKS")
LAST_ACK=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$ACKS")
check "writes acknowledged before the kill after $WRITE_MS ms: $NACK (last index $LAST_ACK)" \
	test "$NACK" -gt 0

# ---- failover: promote, seed, start, write ------------------------------------------
T0=$(now_ms)
pout=$(timeout 60 "$AGENT" promote --data-dir "$M" --database kv 2>"$TMP/promote.err")
rc=$?
echo "$pout" | sed 's/^/# /'
P=$(rk_field index "$pout")
FP=$(rk_field fingerprint "$pout")
check "promote through the running follower exits 0 with an index and a kv fingerprint" \
	sh -c "[ $rc -eq 0 ] && [ -n '$P' ] && echo '$FP' | grep -qx 'kv:[0-9a-f]\{8\}'"
T1=$(now_ms)
rk_ports new
sout=$("$SEED" --data-dir "$M" --database kv --cluster "$new_CLUSTER" --out "$TMP/new" 2>"$TMP/seed.err")
rc=$?
echo "$sout" | sed 's/^/# /'
check "raftkv-seed writes three nodes at the promoted index with its fingerprint" \
	test "$rc $(rk_field index "$sout") $(rk_field fingerprint "$sout") $(rk_field nodes "$sout")" = "0 $P $FP 3"
T2=$(now_ms)
NEW_UUID=$(rk_field cluster_id "$sout")
for i in 1 2 3; do
	rk_start_node new "$i" "$TMP/new/node-$i/raft" "$TMP/new/node-$i/spool" "$NEW_UUID"
done
# Every node holds the seeded state before the first write changes it.
fps=""
for i in 1 2 3; do
	eval "port=\$new_CPORT$i"
	wait_until 20 rk_cli_at "$port" fingerprint
	fps="$fps $(rk_cli_at "$port" fingerprint | sed -n 's/^OK fingerprint=\([0-9a-f]*\) .*/\1/p')"
done
wout=$(rk_cli new put after-drill first "written-after-failover" 2>"$TMP/first.err")
T3=$(now_ms)
WIDX=$(rk_field index "$wout")
echo "# first write on the new cluster: $wout"
check "the three new nodes start with the promoted fingerprint" \
	test "$fps" = " ${FP#kv:} ${FP#kv:} ${FP#kv:}"
check "the new cluster accepts a write, after the promoted index $P" \
	sh -c "[ -n '$WIDX' ] && [ '$WIDX' -gt '$P' ]"
RTO_MS=$((T3 - T0))

# ---- what was kept and what was lost -----------------------------------------
rk_cli new scan drill w 0 >"$TMP/scan.out" 2>"$TMP/scan.err"
# ack lines: KEY INDEX VERSION VALUE; scan lines: KEY VERSION VALUE.
awk -v P="$P" '
	FNR == NR { if (FNR > 1) { have[$1] = $2 " " $3 } ; next }
	$2 <= P { if (have[$1] != $3 " " $4) { bad++; if (bad <= 5) print "# kept write differs or missing: " $0 " new: " have[$1] } ; kept++ ; next }
	{ lost++; if ($1 in have) { extra++; print "# write above the promoted index present: " $0 } }
	END { printf "kept=%d lost=%d bad=%d extra=%d\n", kept, lost, bad, extra }' \
	"$TMP/scan.out" "$ACKS" >"$TMP/verdict"
cat "$TMP/verdict" | sed 's/^/# /'
V=$(tail -n 1 "$TMP/verdict")
check "every acknowledged write at or below index $P is in the new cluster with its version and value" \
	sh -c "[ '$(rk_field bad "$V")' = 0 ] && [ '$(rk_field kept "$V")' -gt 0 ]"
check "no acknowledged write above index $P is (RPO is exactly what the mirror had not received)" \
	test "$(rk_field extra "$V")" = 0
RPO_WRITES=$(rk_field lost "$V")
RPO_ENTRIES=$((LAST_ACK > P ? LAST_ACK - P : 0))
echo "# DR drill: state ${STATE_KB} KiB ($(rk_field bytes "$sout") bytes serialised), writes for ${WRITE_MS} ms"
echo "# RPO: $RPO_WRITES of $NACK acknowledged writes lost, $RPO_ENTRIES entries (last acknowledged index $LAST_ACK, promoted $P; promote said rpo_entries=$(rk_field rpo_entries "$pout"))"
echo "# RTO: $RTO_MS ms from the promote command to the first write accepted (promote $((T1 - T0)) ms, seed $((T2 - T1)) ms, start + election + write $((T3 - T2)) ms)"
[ -n "${DRILL_FIGURES:-}" ] && printf 'state_kb=%s bytes=%s acks=%s rpo_writes=%s rpo_entries=%s rto_ms=%s promote_ms=%s seed_ms=%s start_ms=%s\n' \
	"$STATE_KB" "$(rk_field bytes "$sout")" "$NACK" "$RPO_WRITES" "$RPO_ENTRIES" "$RTO_MS" \
	$((T1 - T0)) $((T2 - T1)) $((T3 - T2)) >"$DRILL_FIGURES"

# ---- the old source comes back ------------------------------------------------
rk_start_serve src 1 "$TMP/src-spool1"
timeout 30 "$AGENT" follow --data-dir "$M" --database kv $(follow_tls) \
	--source "127.0.0.1:$src_SPORT1" >"$TMP/follow-old.log" 2>&1
rc=$?
check "the promoted mirror refuses to follow the old source (exit 1, names the promotion)" \
	sh -c "[ $rc -eq 1 ] && grep -q 'was promoted at index $P' '$TMP/follow-old.log'"

# ---- bad input to raftkv-seed changes nothing ------------------------------------
seed_bad() { # NAME EXPECTED-TEXT ARGS...: exit 1 naming it
	sb_name=$1 sb_text=$2
	shift 2
	"$SEED" "$@" >"$TMP/seed-$sb_name.out" 2>&1
	rc=$?
	[ $rc -eq 1 ] && grep -q "$sb_text" "$TMP/seed-$sb_name.out" && return 0
	echo "exit $rc:"
	cat "$TMP/seed-$sb_name.out"
	return 1
}
# (The running nodes' taps rewrite their freshness hint: not compared.)
find "$TMP/new" -type f ! -name freshness -exec cksum {} + | sort >"$TMP/new.before"
check "seeding into a non-empty directory: refused, named" \
	seed_bad nonempty "is not empty" --data-dir "$M" --database kv \
	--cluster "$new_CLUSTER" --out "$TMP/new"
find "$TMP/new" -type f ! -name freshness -exec cksum {} + | sort >"$TMP/new.after"
check "... and the seeded directories are unchanged" cmp -s "$TMP/new.before" "$TMP/new.after"
if seed_bad dupid "node id 2 is given twice" --data-dir "$M" --database kv \
	--cluster "1=127.0.0.1:7001,2=127.0.0.1:7002,2=127.0.0.1:7003" --out "$TMP/dup" &&
	[ ! -e "$TMP/dup" ]; then
	ok "duplicate node ids: refused, named, nothing written"
else
	not_ok "duplicate node ids"; sed 's/^/# /' "$TMP/seed-dupid.out"
fi
if seed_bad dupaddr "address 127.0.0.1:7001 is given to nodes 1 and 3" --data-dir "$M" \
	--database kv --cluster "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7001" \
	--out "$TMP/dup" && [ ! -e "$TMP/dup" ]; then
	ok "duplicate addresses: refused, named, nothing written"
else
	not_ok "duplicate addresses"; sed 's/^/# /' "$TMP/seed-dupaddr.out"
fi
if seed_bad atindex "was promoted at index $P" --data-dir "$M" --database kv \
	--at-index $((P + 5)) --cluster "$new_CLUSTER" --out "$TMP/late" && [ ! -e "$TMP/late" ]; then
	ok "--at-index other than the promoted index: refused, named, nothing written"
else
	not_ok "--at-index"; sed 's/^/# /' "$TMP/seed-atindex.out"
fi
if seed_bad badcid "cluster-id" --data-dir "$M" --database kv --cluster-id not-a-uuid \
	--cluster "$new_CLUSTER" --out "$TMP/badcid" && [ ! -e "$TMP/badcid" ]; then
	ok "a malformed --cluster-id: refused, named, nothing written"
else
	not_ok "--cluster-id"; sed 's/^/# /' "$TMP/seed-badcid.out"
fi
mkdir -p "$TMP/empty-mirror/kv"
if seed_bad noid "no identity" --data-dir "$TMP/empty-mirror" --database kv \
	--cluster "$new_CLUSTER" --out "$TMP/none" && [ ! -e "$TMP/none" ]; then
	ok "a mirror without complete state: refused, named, nothing written"
else
	not_ok "no state"; sed 's/^/# /' "$TMP/seed-noid.out"
fi
finish
