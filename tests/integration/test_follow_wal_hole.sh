#!/bin/sh
# A hole between a mirror's snapshot and its wal (issue 8, the wal): a
# mirror bootstrapped from snapshot 200 whose wal is then replaced by one
# starting at 5000 (what deleting its first segments leaves: every file
# well-formed and contiguous) must not go on as if nothing happened. Its
# database goes to Error naming the segment and the snapshot, `wal verify`
# fails naming both, and `--reseed` starts over.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 7
gen_certs
spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 300 --term 1 --segment-size 8192 >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 200 --term 1 --size 100000 --seed 1 >/dev/null &&
"$SPOOLGEN" compact "$spool" --before 150 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve s --database "kv=$spool" --allow mirror-1=kv

follow_once() { # LOG [follow args...]
	log=$1
	shift
	timeout 60 "$AGENT" follow --data-dir "$TMP/m" \
		--source "127.0.0.1:$SERVE_PORT" $(follow_tls) --database kv \
		--set follow.backoff_min=100ms --set follow.backoff_max=200ms \
		--exit-when-following "$@" >"$TMP/$log" 2>&1
}

rm -rf "$TMP/m/kv/wal"
follow_once first.log
check "bootstrap from the snapshot and follow" test $? -eq 0

# The hole: the wal now starts at 5000, the snapshot ends at 200.
rm -rf "$TMP/m/kv/wal"
"$SPOOLGEN" append "$TMP/m/kv" --from 5000 --count 10 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
seg=wal-00000000000000005000.seg
"$AGENT" wal verify "$TMP/m/kv/wal" >"$TMP/verify.out" 2>&1
check "wal verify fails" test $? -eq 1
check "wal verify names the segment, the snapshot and the missing range" \
	grep -q "$seg is the first WAL segment but the latest snapshot 200-1.snapshot ends at index 200: entries 201..4999 are missing" \
	"$TMP/verify.out"

follow_once hole.log
rc=$?
check "follow stops on the hole (exit $rc, not a timeout)" test $rc -ne 0 -a $rc -ne 124
check "the database is in Error, naming the segment" \
	grep -q "error kv: .*$seg is the first WAL segment but the latest snapshot 200-1.snapshot" \
	"$TMP/hole.log"
check "the status file says Error" is_state "$TMP/m" kv Error

follow_once reseed.log --reseed
check "--reseed starts over" test $? -eq 0
finish
