#!/bin/sh
# `mirror-agent promote` end to end over loopback QUIC: a mirror follows a
# source, is promoted at an index behind the source (figures: index, term,
# fingerprint, RPO, entries removed), refuses to follow again, is served
# as a new source that a second mirror bootstraps from and promotes to the
# same fingerprint, and the old and new sources are refused by each
# other's mirrors. Then a promotion through a running follower (SIGUSR1),
# and bad input that changes nothing.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 33
gen_certs

field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
follow_once() { # DATA_DIR PORT LOG: follow until Following, exit
	timeout 60 "$AGENT" follow --data-dir "$1" --source "127.0.0.1:$2" \
		$(follow_tls) --database db1 --exit-when-following >"$3" 2>&1
}

spool="$TMP/src/db1"
"$SPOOLGEN" init "$spool" --database db1 >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 300 --term 1 >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 200 --term 1 --size 100000 --seed 3 >/dev/null &&
"$SPOOLGEN" append "$spool" --count 300 --term 2 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve serve --database "db1=$spool" --allow "mirror-1=db1"
SRC_PORT=$SERVE_PORT
E0=$(sed -n 's/^epoch=//p' "$spool/identity")
E1=$((E0 + 1))
E2=$((E0 + 2))

check "the mirror reaches Following" follow_once "$TMP/m1" "$SRC_PORT" "$TMP/follow1.log"

# Promote 50 entries behind what the source committed (600).
out=$("$AGENT" promote --data-dir "$TMP/m1" --database db1 --at-index 550 2>"$TMP/promote1.err")
rc=$?
echo "$out" | sed 's/^/# /'
check "promote exits 0" test "$rc" -eq 0
FP=$(field fingerprint "$out")
check "promote reports index 550, term 2, the next epoch" \
	test "$(field index "$out") $(field term "$out") $(field epoch "$out")" = "550 2 $E1"
check "the identity file carries the new epoch" grep -qx "epoch=$E1" "$TMP/m1/db1/identity"
check "promote reports the RPO against the source commit index 600" \
	test "$(field source_commit_index "$out") $(field rpo_entries "$out")" = "600 50"
check "promote removed the 50 entries after the index" test "$(field truncated "$out")" = 50
check "the fingerprint is a log fingerprint" sh -c "echo '$FP' | grep -qx 'log:[0-9a-f]\{8\}'"
check "the mirror's wal ends at 550" sh -c \
	"'$AGENT' wal dump '$TMP/m1/db1/wal' --from 550 | wc -l | grep -qx 1"
out2=$("$AGENT" promote --data-dir "$TMP/m1" --database all --set database.db1.applier=none 2>&1)
check "promote again: the same figures, already=1" \
	test "$(field index "$out2") $(field fingerprint "$out2") $(field already "$out2")" = "550 $FP 1"

# Fenced: follow refuses the promoted directory and says why.
timeout 30 "$AGENT" follow --data-dir "$TMP/m1" --source "127.0.0.1:$SRC_PORT" \
	$(follow_tls) --database db1 >"$TMP/follow-refused.log" 2>&1
rc=$?
check "follow refuses the promoted directory (exit 1)" test "$rc" -eq 1
check "follow names the promotion" grep -q "was promoted at index 550" "$TMP/follow-refused.log"
"$AGENT" status --data-dir "$TMP/m1" >"$TMP/status-m1.out" 2>&1
rc=$?
check "its final status says Promoted at 550, term 2 (status exit 3)" sh -c \
	"[ $rc -eq 3 ] && grep -qx 'db1: Promoted' '$TMP/status-m1.out' &&
	 grep -q 'promoted at index 550, term 2' '$TMP/status-m1.out' &&
	 grep -q '\"state\":\"Promoted\",.*\"promoted_index\":550,\"promoted_term\":2,' '$TMP/m1/status'"

# A follower with the promoted database and another one runs on (the
# other's source does not answer: it retries): /status, /metrics and the
# status page say Promoted for db1, at 550.
"$AGENT" follow --data-dir "$TMP/m1" --source "127.0.0.1:1" \
	$(follow_tls) --database db1 --database other \
	--http-listen 127.0.0.1:0 --http-port-file "$TMP/m1-http.port" \
	>"$TMP/follow-mixed.log" 2>&1 &
MIXED=$!
T_PIDS="$T_PIDS $MIXED"
wait_until 20 test -s "$TMP/m1-http.port"
H="http://127.0.0.1:$(cat "$TMP/m1-http.port" 2>/dev/null)"
curl -s --max-time 5 "$H/status" >"$TMP/mixed-status.json"
check "/status of a running follower: db1 Promoted at index 550, term 2" \
	grep -q '"database":"db1","state":"Promoted",.*"promoted_index":550,"promoted_term":2,' "$TMP/mixed-status.json"
check "/metrics: mirror_state{db=\"db1\",state=\"Promoted\"} 1" sh -c \
	"curl -s --max-time 5 '$H/metrics' | grep -qx 'mirror_state{db=\"db1\",state=\"Promoted\"} 1'"
check "the status page: db1's row is Promoted, at index 550, term 2" sh -c \
	"curl -s --max-time 5 '$H/' | grep -q 'id=\"db-db1\" data-state=\"Promoted\".*data-index=\"550\" data-term=\"2\"'"
kill -TERM "$MIXED" 2>/dev/null
wait_pid "$MIXED"

# A mirror of the old source, made before the promoted one is served.
check "a second mirror of the old source reaches Following" \
	follow_once "$TMP/m-old" "$SRC_PORT" "$TMP/follow-old.log"

# The promoted directory is a source of its own.
start_serve serve2 --database "db1=$TMP/m1/db1" --allow "mirror-1=db1"
NEW_PORT=$SERVE_PORT
check "a new mirror bootstraps from the promoted directory" \
	follow_once "$TMP/m2" "$NEW_PORT" "$TMP/follow2.log"
out3=$("$AGENT" promote --data-dir "$TMP/m2" --database db1 2>"$TMP/promote3.err")
check "promoting that mirror gives index 550 and the same fingerprint" \
	test "$(field index "$out3") $(field fingerprint "$out3")" = "550 $FP"
check "its epoch is one more again (a promotion of a promotion)" \
	test "$(field epoch "$out3")" = "$E2"

check "a third mirror follows the promoted source" \
	follow_once "$TMP/m3" "$NEW_PORT" "$TMP/follow3.log"
timeout 30 "$AGENT" follow --data-dir "$TMP/m3" --source "127.0.0.1:$SRC_PORT" \
	$(follow_tls) --database db1 >"$TMP/follow3-old.log" 2>&1
check "a mirror of the promoted source refuses the old source" \
	grep -q "epoch $E0 .*differs from the stored .* epoch $E1" "$TMP/follow3-old.log"
timeout 30 "$AGENT" follow --data-dir "$TMP/m-old" --source "127.0.0.1:$NEW_PORT" \
	$(follow_tls) --database db1 >"$TMP/follow-old-new.log" 2>&1
check "a mirror of the old source refuses the promoted one" \
	grep -q "epoch $E1 .*differs from the stored .* epoch $E0" "$TMP/follow-old-new.log"

# A promotion committed but not finished (a crash after DIR/promoted was
# written): serve refuses it, promote finishes it.
cp -r "$TMP/m-old" "$TMP/half" && cp "$TMP/m1/db1/promoted" "$TMP/half/db1/promoted"
timeout 20 "$AGENT" serve --listen 127.0.0.1:0 --cert "$PKI/server.pem" --key "$PKI/server.key" \
	--client-ca "$PKI/ca.pem" --database "db1=$TMP/half/db1" --allow "mirror-1=db1" \
	>"$TMP/serve-half.log" 2>&1
check "serve refuses an unfinished promotion" grep -q "promotion of .* is not finished" "$TMP/serve-half.log"
out5=$("$AGENT" promote --data-dir "$TMP/half" --database db1 2>&1)
check "promote finishes it with the recorded figures" \
	test "$(field index "$out5") $(field fingerprint "$out5") $(field already "$out5") $(field truncated "$out5")" = "550 $FP 1 50"

# Through a running follower: promote signals it, it stops and promotes.
"$AGENT" follow --data-dir "$TMP/m4" --source "127.0.0.1:$SRC_PORT" $(follow_tls) \
	--database db1 --log-file "$TMP/follow4.log" 2>"$TMP/follow4.err" &
FPID=$!
T_PIDS="$T_PIDS $FPID"
wait_until 30 is_state "$TMP/m4" db1 Following || diag "m4 not Following"
timeout 40 "$AGENT" promote --data-dir "$TMP/m4" --database db1 --at-index 9999 \
	>"$TMP/promote4-bad.out" 2>&1
rc=$?
check "a bad request through the follower: exit 2, named" sh -c \
	"[ $rc -eq 2 ] && grep -q 'at-index 9999 is beyond the last durable, applied index 600' '$TMP/promote4-bad.out'"
check "... and the follower keeps following" sh -c \
	"kill -0 $FPID && [ ! -e '$TMP/m4/db1/promoted' ] && grep -q 'still following' '$TMP/follow4.log'"
out4=$(timeout 40 "$AGENT" promote --data-dir "$TMP/m4" --database db1 2>"$TMP/promote4.err")
rc=$?
echo "$out4" | sed 's/^/# /'
check "promote through the running follower exits 0" test "$rc" -eq 0
check "it promoted at the source's commit index 600 (RPO 0)" \
	test "$(field index "$out4") $(field rpo_entries "$out4")" = "600 0"
wait_until 10 sh -c "! kill -0 $FPID"
wait_pid "$FPID"
check "the follower exited 0 after promoting" test $? -eq 0
"$AGENT" status --data-dir "$TMP/m4" >"$TMP/status-m4.out" 2>&1
rc=$?
sed 's/^/# /' "$TMP/status-m4.out"
check "status after promoting through the follower: Promoted at 600 (exit 3)" sh -c \
	"[ $rc -eq 3 ] && grep -qx 'db1: Promoted' '$TMP/status-m4.out' &&
	 grep -q 'promoted at index 600, term 2' '$TMP/status-m4.out'"
check "... the status file too (state, promoted_index, log_index)" sh -c \
	"grep -q '\"state\":\"Promoted\",' '$TMP/m4/status' &&
	 grep -q '\"log_index\":600,' '$TMP/m4/status' &&
	 grep -q '\"promoted_index\":600,' '$TMP/m4/status'"

# Bad input changes nothing.
cp "$TMP/m-old/db1/identity" "$TMP/identity.before"
"$AGENT" promote --data-dir "$TMP/m-old" --database db1 --at-index 601 >"$TMP/bad.out" 2>&1
rc=$?
check "--at-index beyond the last index: exit 2, named" \
	sh -c "[ $rc -eq 2 ] && grep -q 'beyond the last durable, applied index 600' '$TMP/bad.out'"
check "... and nothing changed" sh -c \
	"cmp -s '$TMP/identity.before' '$TMP/m-old/db1/identity' && [ ! -e '$TMP/m-old/db1/promoted' ]"
finish
