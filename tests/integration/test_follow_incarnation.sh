#!/bin/sh
# A source rebuilt under the same cluster id (issue 8, identity): a new
# spool has a new incarnation, so the mirror, which recorded the node's
# incarnation at first contact (<db>/incarnations, per host:port as
# configured), refuses
# it as a new source (Error, MA_ERR_IDENTITY, naming both incarnations) and
# writes nothing over what it holds; --reseed starts over from the rebuilt
# one. A --reseed while
# a follower runs on the data directory is refused and touches nothing.
# A source given by name is recorded under the name, not its address.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 14
gen_certs
UUID=3b0c1a2e-5d4f-4a6b-8c7d-9e0f1a2b3c4d
INC1=11111111-2222-4333-8444-555555555555
INC2=66666666-7777-4888-8999-aaaaaaaaaaaa
spool=$TMP/src/kv

"$SPOOLGEN" init "$spool" --database kv --cluster-id $UUID --epoch 1 \
	--incarnation $INC1 >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 50 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }

follow_once() { # LOG [follow args...]
	log=$1
	shift
	timeout 60 "$AGENT" follow --data-dir "$TMP/m" \
		--source "127.0.0.1:$SERVE_PORT" $(follow_tls) --database kv \
		--set follow.backoff_min=100ms --set follow.backoff_max=200ms \
		--exit-when-following "$@" >"$TMP/$log" 2>&1
}

start_serve s1 --database "kv=$spool" --allow mirror-1=kv
follow_once first.log
check "first contact with incarnation $INC1" test $? -eq 0
check "the mirror recorded the node's incarnation" \
	grep -qx "node=127.0.0.1:$SERVE_PORT incarnation=$INC1" "$TMP/m/kv/incarnations"
kill "$SERVE_PID"; wait_pid "$SERVE_PID" 2>/dev/null
# The rebuilt node comes back at the same address.
SERVE_LISTEN=127.0.0.1:$SERVE_PORT

fingerprint() {
	(cd "$TMP/m/kv" && find identity snapshots wal -type f ! -name '*.lock' |
		sort | xargs sha256sum)
}
before=$(fingerprint)

# Rebuilt: same cluster id, database and epoch, more entries, a new spool.
rm -rf "$spool"
"$SPOOLGEN" init "$spool" --database kv --cluster-id $UUID --epoch 1 \
	--incarnation $INC2 >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 80 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve s2 --database "kv=$spool" --allow mirror-1=kv
follow_once rebuilt.log
rc=$?
check "a rebuilt source is refused (follow exits non-zero, not by timeout)" \
	test $rc -ne 0 -a $rc -ne 124
check "the refusal names the node and both incarnations" \
	grep -q "source 127.0.0.1:$SERVE_PORT answers with incarnation $INC2 but $INC1 was recorded for it" \
	"$TMP/rebuilt.log"
check "the status file says Error" is_state "$TMP/m" kv Error
check "nothing the mirror held was written over" \
	test "$(fingerprint)" = "$before"

follow_once reseed.log --reseed
check "--reseed starts over from the rebuilt source" test $? -eq 0
check "and records its incarnation" \
	grep -qx "node=127.0.0.1:$SERVE_PORT incarnation=$INC2" "$TMP/m/kv/incarnations"

"$AGENT" follow --data-dir "$TMP/m" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv >"$TMP/running.log" 2>&1 &
fpid=$!
T_PIDS="$T_PIDS $fpid"
check "a follower runs" wait_until 30 is_state "$TMP/m" kv Following
before=$(fingerprint)
follow_once reseed2.log --reseed
rc=$?
check "--reseed while it runs is refused at once" test $rc -ne 0 -a $rc -ne 124
check "saying another follower runs on the data_dir" \
	grep -q "another follower runs on data_dir" "$TMP/reseed2.log"
check "the running follower's files and locks are untouched" \
	test -f "$TMP/m/kv/wal/wal.lock" -a "$(fingerprint)" = "$before"
kill -TERM "$fpid"; wait_pid "$fpid" 2>/dev/null

# A node is recorded under its endpoint as written, not the address it
# resolves to (a name keeps its node when the address moves).
if [ "$(getent ahosts localhost 2>/dev/null | awk 'NR == 1 { print $1 }')" = 127.0.0.1 ]; then
	timeout 60 "$AGENT" follow --data-dir "$TMP/m2" \
		--source "localhost:$SERVE_PORT" $(follow_tls) --database kv \
		--set follow.backoff_min=100ms --set follow.backoff_max=200ms \
		--exit-when-following >"$TMP/byname.log" 2>&1
	check "a source given by name is followed" test $? -eq 0
	check "and recorded under that name, not its address" \
		test "$(grep -v '^crc32c=' "$TMP/m2/kv/incarnations")" = \
		"node=localhost:$SERVE_PORT incarnation=$INC2"
else
	skip "localhost does not resolve to 127.0.0.1 first here"
	skip "localhost does not resolve to 127.0.0.1 first here"
fi
finish
