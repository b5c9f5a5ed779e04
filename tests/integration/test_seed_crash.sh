#!/bin/sh
# raftkv-seed is crash-safe (issue 11: "kill -9 at any point leaves either
# the old or the new state, never a mix"): a two-node seed is crashed at
# every durability operation of common/io (RAFTKV_SEED_CRASH_AT=N, the
# crash points promote's test walks too). After each crash --out is either
# absent (nothing of it written; the staging directory beside it is a
# leftover the next run removes, saying so, and then succeeds) or complete
# (both nodes' raft snapshot and spool; a rerun refuses the non-empty
# target, naming it). Then a seed finished after a crash starts as a
# two-node raftkv cluster holding the seeded fingerprint.
. "$abs_top_srcdir/tests/integration/lib.sh"
. "$abs_top_srcdir/tests/integration/raftkv_lib.sh"

plan 9

if [ ! -x "$SEED" ] || [ ! -x "$NODE" ] || [ ! -x "$CLI" ]; then
	echo "Bail out! raftkv-seed, raftkv-node or raftkv-cli not built"
	exit 1
fi

# The sweep runs the seed about 90 times: its scratch directory is in
# /dev/shm when there is one (fsync there costs nothing), removed at exit.
SW=$(mktemp -d /dev/shm/ma-it-seed-XXXXXX 2>/dev/null) || SW=$(mktemp -d "$TMP/sw-XXXXXX")
trap 'rm -rf "$SW"; cleanup' EXIT

# A mirror directory: identity (no incarnation) and a wal 1..40.
"$SPOOLGEN" init "$TMP/m/kv" --database kv \
	--cluster-id 6f1c3a52-9d0e-4b7a-8c21-0a1b2c3d4e5f --incarnation none >/dev/null &&
	"$SPOOLGEN" append "$TMP/m/kv" --count 40 --term 3 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
set -- $("$CLI" free-ports 4)
CL="1=127.0.0.1:$1,2=127.0.0.1:$2"
CCL="1=127.0.0.1:$3,2=127.0.0.1:$4"
RP1=$1 RP2=$2 CP1=$3 CP2=$4
CID=0c4f5a1e-8d2b-4e6f-9a7c-3b5d1e2f4a6c

seed() { # OUT [CRASH_AT]: one run, stdout to $TMP/seed.out, stderr to $TMP/seed.err
	RAFTKV_SEED_CRASH_AT=${2:-0} "$SEED" --data-dir "$TMP/m" --database kv \
		--cluster "$CL" --cluster-id "$CID" --out "$1" >"$TMP/seed.out" 2>"$TMP/seed.err"
}

# complete OUT: both nodes' libraft snapshot at 40 (term 3) and spool
# (identity with the new cluster id, snapshot 40-3), nothing staged.
complete() {
	for i in 1 2; do
		ls "$1/node-$i/raft" | grep -q '^snapshot-3-40-[0-9]*\.meta$' &&
			test -s "$1/node-$i/raft/metadata1" &&
			test -s "$1/node-$i/spool/snapshots/40-3.snapshot" &&
			test -s "$1/node-$i/spool/snapshots/40-3.meta" &&
			grep -q "$CID" "$1/node-$i/spool/identity" || return 1
	done
	[ ! -e "$1/../.$(basename "$1").seeding" ]
}

seed "$TMP/count"
rc=$?
TOTAL=$(sed -n 's/^io_ops=//p' "$TMP/seed.err")
FP=$(rk_field fingerprint "$(cat "$TMP/seed.out")")
diag "$(cat "$TMP/seed.out"); $TOTAL durability operations"
check "an uninterrupted seed writes both nodes and counts its crash points" \
	sh -c "[ $rc -eq 0 ] && [ '${TOTAL:-0}' -ge 10 ] && [ '${TOTAL:-0}' -lt 400 ]"
check "... the target is complete" complete "$TMP/count"

# Each crash point k: the run dies there (exit 86); --out is then absent
# or complete. Every third leftover, and the last ones, are rerun (the
# rerun path is the same for all; the sweep stays within seconds).
k=1 crashed=0 absent=0 done_=0 reruns=0 bad=""
while [ "$k" -le "${TOTAL:-0}" ]; do
	out="$SW/o$k"
	seed "$out" "$k"
	rc=$?
	if [ "$rc" -ne 86 ]; then
		bad="$bad $k:exit$rc"
	elif [ ! -e "$out" ]; then
		# The old state: nothing of OUT. A rerun removes the leftover
		# staging directory (if the crash left one, naming it) and
		# succeeds.
		crashed=$((crashed + 1)) absent=$((absent + 1))
		if [ $((k % 3)) -eq 1 ] || [ "$k" -gt $((TOTAL - 6)) ]; then
			reruns=$((reruns + 1))
			staged=0
			[ -e "$SW/.o$k.seeding" ] && staged=1
			seed "$out" || bad="$bad $k:rerun"
			if [ "$staged" -eq 1 ] && ! grep -q "removed $SW/.o$k.seeding, left by an interrupted run" "$TMP/seed.err"; then
				bad="$bad $k:unnamed"
			fi
			complete "$out" || bad="$bad $k:rerun-incomplete"
			[ "$(rk_field fingerprint "$(cat "$TMP/seed.out")")" = "$FP" ] || bad="$bad $k:fp"
			[ "$k" -eq 10 ] && cp -r "$out" "$TMP/start"
		fi
	else
		# The new state: complete (the staging marker may remain:
		# harmless), and a rerun refuses the target, naming it.
		crashed=$((crashed + 1)) done_=$((done_ + 1))
		complete "$out" || bad="$bad $k:mixed"
		seed "$out" && bad="$bad $k:rewrote"
		grep -q "$out is not empty (holds " "$TMP/seed.err" || bad="$bad $k:unnamed-refusal"
	fi
	[ -e "$SW/.o$k.seeding" ] && [ -e "$out" ] && bad="$bad $k:staging-left"
	rm -rf "$out" "$SW/.o$k.seeding"
	k=$((k + 1))
done
diag "$reruns reruns after a crash"

diag "$crashed crash points: $absent left nothing, $done_ the complete seed"
check "a crash at every point exits with the crash code" test "$crashed" -eq "${TOTAL:-0}"
check "each crash left nothing or the complete seed, never a mix; reruns succeed or refuse naming the target" \
	sh -c "[ -z '$bad' ] || { echo 'failures:$bad'; false; }"
check "both outcomes happened (the commit point is inside the sequence)" \
	sh -c "[ $absent -gt 0 ] && [ $done_ -gt 0 ]"

# Something at the staging path that is not ours is refused, untouched.
mkdir -p "$TMP/.x.seeding" && echo keep >"$TMP/.x.seeding/mine"
seed "$TMP/x"
rc=$?
check "a foreign directory at the staging path: exit 1, named, untouched" sh -c \
	"[ $rc -eq 1 ] && grep -q '$TMP/.x.seeding exists and is not raftkv-seed' '$TMP/seed.err' &&
	 [ \"\$(cat '$TMP/.x.seeding/mine')\" = keep ] && [ ! -e '$TMP/x' ]"
# An empty --out is fine (replaced by the seed).
mkdir -p "$TMP/y"
seed "$TMP/y"
rc=$?
[ "$rc" -eq 0 ] || sed 's/^/# /' "$TMP/seed.err" | tail -n 3
check "an empty --out directory is seeded (exit 0, complete)" complete "$TMP/y"

# The seed finished after crash point 10 starts: two nodes, a leader, the
# seeded fingerprint on both.
if [ -d "$TMP/start" ] && complete "$TMP/start"; then
	for i in 1 2; do
		eval "rp=\$RP$i cp=\$CP$i"
		"$NODE" --id "$i" --address "127.0.0.1:$rp" --cluster "$CL" \
			--client-cluster "$CCL" --data "$TMP/start/node-$i/raft" \
			--spool "$TMP/start/node-$i/spool" --client-listen "127.0.0.1:$cp" \
			--cluster-id "$CID" --database kv --election-timeout 300 \
			>>"$TMP/node$i.log" 2>&1 &
		T_PIDS="$T_PIDS $!"
	done
	fps=""
	for i in 1 2; do
		eval "cp=\$CP$i"
		wait_until 20 rk_cli_at "$cp" fingerprint >/dev/null
		fps="$fps $(rk_cli_at "$cp" fingerprint | sed -n 's/^OK fingerprint=\([0-9a-f]*\) .*/\1/p')"
	done
	check "the seed finished after a crash starts with the seeded fingerprint on both nodes" \
		test "$fps" = " ${FP#kv:} ${FP#kv:}"
	w=$(timeout 30 "$CLI" --connect "127.0.0.1:$CP1,127.0.0.1:$CP2" --timeout 20 put seeded k v 2>&1)
	check "... and takes a write after the seeded index 40" \
		sh -c "[ '$(rk_field index "$w")' -gt 40 ] 2>/dev/null" || diag "$w"
else
	not_ok "the seed finished after a crash starts (no complete seed kept)"
	not_ok "... and takes a write"
fi
finish
