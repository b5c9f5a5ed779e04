#!/bin/sh
# The shell helpers' own checks (tests/integration/lib.sh): a negative
# assertion fails when the log it reads is missing or empty, or when the
# directory it lists does not exist, and passes only on evidence.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 11

# outcome CMD...: runs one helper in a subshell (so its counters and TAP
# line stay out of ours) and prints "ok" or "not ok" from its TAP line.
outcome() {
	( "$@" ) >"$TMP/outcome.out" 2>&1
	sed -n 's/^\(ok\|not ok\) [0-9]* - .*/\1/p' "$TMP/outcome.out" | head -n 1
}

printf 'line one\nconnected to 127.0.0.1:4433\n' >"$TMP/a.log"
printf 'other\n' >"$TMP/b.log"
: >"$TMP/empty.log"

check "absent pattern in a written log passes" \
	test "$(outcome assert_absent x 'state Error' "$TMP/a.log")" = ok
check "present pattern fails" \
	test "$(outcome assert_absent x 'connected to' "$TMP/a.log")" = "not ok"
check "a missing log fails" \
	test "$(outcome assert_absent x 'state Error' "$TMP/none.log")" = "not ok"
check "an empty log fails" \
	test "$(outcome assert_absent x 'state Error' "$TMP/empty.log")" = "not ok"
check "the pattern in any of several logs fails" \
	test "$(outcome assert_absent x 'connected' "$TMP/b.log" "$TMP/a.log")" = "not ok"
check "one missing log among several fails" \
	test "$(outcome assert_absent x 'zzz' "$TMP/a.log" "$TMP/none.log")" = "not ok"
check "a glob that matched nothing fails" \
	test "$(outcome assert_absent x 'zzz' "$TMP"/nomatch-*.log)" = "not ok"

mkdir -p "$TMP/snaps"
: >"$TMP/snaps/1-1.partial"
check "no matching file in an existing directory passes" \
	test "$(outcome assert_no_files x "$TMP/snaps" '*.snapshot')" = ok
check "a missing directory fails" \
	test "$(outcome assert_no_files x "$TMP/nosnaps" '*.snapshot')" = "not ok"
: >"$TMP/snaps/100-2.snapshot"
check "a matching file fails" \
	test "$(outcome assert_no_files x "$TMP/snaps" '*.snapshot')" = "not ok"
check "the failure names the file" \
	grep -q "100-2.snapshot" "$TMP/outcome.out"
finish
