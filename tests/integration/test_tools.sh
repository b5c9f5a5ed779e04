#!/bin/sh
# The operator tools say what they found, and say it in JSON on request:
# wal verify refuses a directory without segments (pointing at DIR/wal),
# --json for wal verify|dump, snapshot verify and check-config (parsed
# with jq), snapshot verify takes the .meta name too, wal dump --from abc
# says what is wrong, --version names the commit and the libraries.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 14
spool=$TMP/spool
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 40 --term 1 >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 30 --term 1 --size 4097 --seed 5 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }

"$AGENT" wal verify "$spool" >"$TMP/v.out" 2>"$TMP/v.err"
rc=$?
check "wal verify of the spool itself: exit 1, FAILED, 'did you mean $spool/wal?'" \
	sh -c "[ $rc -eq 1 ] && grep -qx FAILED '$TMP/v.out' &&
		grep -qF 'holds no wal segments; did you mean $spool/wal?' '$TMP/v.err'"
mkdir "$TMP/empty"
"$AGENT" wal verify "$TMP/empty" >/dev/null 2>"$TMP/e.err"
rc=$?
check "wal verify of an empty directory: exit 1, no segments" \
	sh -c "[ $rc -eq 1 ] && grep -q 'empty holds no wal segments' '$TMP/e.err'"
"$AGENT" wal dump "$spool/wal" --from abc >/dev/null 2>"$TMP/d.err"
rc=$?
check "wal dump --from abc: exit 2 saying what is wrong" \
	sh -c "[ $rc -eq 2 ] && grep -q -- '--from abc: not a whole number' '$TMP/d.err'"
snap=$spool/snapshots/30-1.snapshot
check "snapshot verify X.snapshot.meta checks X.snapshot" \
	sh -c "'$AGENT' snapshot verify '$snap.meta' | grep -q '^$snap: OK (database kv, .* index 30, term 1, 4097 bytes'"
"$AGENT" --version >"$TMP/version" 2>&1
check "--version: version, commit and the five libraries" \
	sh -c "[ \$(wc -l <'$TMP/version') -eq 3 ] && grep -qx 'mirror-agent [0-9.]*' '$TMP/version' &&
		grep -qx 'commit [0-9a-zA-Z.-]\{4,\}' '$TMP/version' &&
		grep -qx 'ngtcp2 [0-9.]*, nghttp3 [0-9.]*, wolfSSL [0-9.]*, libevent [0-9a-z.-]*, msgpack-c [0-9.]*' '$TMP/version'"

if ! command -v jq >/dev/null 2>&1; then
	for i in 1 2 3 4 5 6 7 8 9; do skip "jq is not installed (scripts/setup.sh installs it): --json output not checked"; done
	finish
fi
"$AGENT" wal verify --json "$spool/wal" >"$TMP/v.json"
check "wal verify --json: ok, 40 entries 1..40, identity kv, no torn tail" \
	jq -e '.ok == true and .entries == 40 and .first_index == 1 and .last_index == 40
		and .identity.database == "kv" and (.segments | length) >= 1
		and .segments[0].first_index == 1 and .torn_tail == null' "$TMP/v.json"
"$AGENT" wal verify --json "$spool" >"$TMP/vf.json"
rc=$?
check "wal verify --json of the spool: exit 1, ok false, the hint" \
	sh -c "[ $rc -eq 1 ] && jq -e '.ok == false and (.error | test(\"did you mean\"))' '$TMP/vf.json' >/dev/null"
"$AGENT" wal dump --json "$spool/wal" --from 5 --count 3 >"$TMP/dump.json"
"$AGENT" wal dump "$spool/wal" --from 5 --count 3 >"$TMP/dump.txt"
check "wal dump --json: 3 objects, indexes 5..7" \
	sh -c "[ \$(wc -l <'$TMP/dump.json') -eq 3 ] &&
		[ \"\$(jq -r .index '$TMP/dump.json' | tr '\n' ' ')\" = '5 6 7 ' ]"
# The same term, length and CRC as the text dump, and data whose length
# is the entry's.
jq -r '"index=\(.index) term=\(.term) type=\(.type) len=\(.len) crc32c=\(.crc32c)"' "$TMP/dump.json" >"$TMP/dump.fields"
sed 's/ data=.*//' "$TMP/dump.txt" >"$TMP/dump.txtfields"
check "wal dump --json agrees with the text dump, data in base64 of the entry's length" \
	sh -c "cmp '$TMP/dump.fields' '$TMP/dump.txtfields' &&
		jq -r '.data' '$TMP/dump.json' | head -n 1 | base64 -d | wc -c | grep -qx \"\$(jq -r .len '$TMP/dump.json' | head -n 1)\""
"$AGENT" snapshot verify --json "$snap" >"$TMP/s.json"
check "snapshot verify --json: index, term, size, database, CRC" \
	jq -e '.ok == true and .index == 30 and .term == 1 and .size == 4097
		and .database == "kv" and (.crc32c | test("^0x[0-9a-f]{8}$"))' "$TMP/s.json"
: >"$TMP/bad.snapshot"
"$AGENT" snapshot verify --json "$TMP/bad.snapshot" >"$TMP/sb.json"
rc=$?
check "snapshot verify --json of a file without metadata: exit 1, ok false" \
	sh -c "[ $rc -eq 1 ] && jq -e '.ok == false and (.error | length) > 0' '$TMP/sb.json' >/dev/null"
"$AGENT" check-config --json --no-fs-checks "$abs_top_srcdir/etc/mirror-agent.conf.example" >"$TMP/c.json"
check "check-config --json of the follow example: ok, role follow, no errors" \
	jq -e '.ok == true and .roles == ["follow"] and .errors == []' "$TMP/c.json"
printf '[agent]\nlog_level = loud\n[follow]\nsources = 127.0.0.1:1\n' >"$TMP/bad.conf"
"$AGENT" check-config --json --no-fs-checks "$TMP/bad.conf" >"$TMP/cb.json"
rc=$?
check "check-config --json of a bad file: exit 1, each error with FILE:LINE" \
	sh -c "[ $rc -eq 1 ] && jq -e '.ok == false and
		(.errors | map(select(test(\"bad.conf:2: \\\\[agent\\\\] log_level\"))) | length) == 1' '$TMP/cb.json' >/dev/null"
check "check-config --json prints nothing else on stdout" \
	sh -c "[ \$(wc -l <'$TMP/cb.json') -eq 1 ]"
finish
