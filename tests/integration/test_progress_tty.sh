#!/bin/sh
# The progress display on a terminal (issue 13): `follow` under a pseudo
# terminal (util-linux script) bootstraps an 8 MiB snapshot. The bar owns
# its line: log lines are written above it (the bar's line cleared first),
# never after it on the same line; it ends at 100 % and a summary line
# gives size, time and rate; sizes and rates use one unit family (MiB,
# MiB/s).
. "$abs_top_srcdir/tests/integration/lib.sh"

command -v script >/dev/null 2>&1 || { echo "1..0 # SKIP script (util-linux) not installed"; exit 0; }
plan 6
gen_certs

SIZE=$((8 * 1048576))
SPOOL=$TMP/src/kv
"$SPOOLGEN" init "$SPOOL" --database kv >/dev/null &&
	"$SPOOLGEN" append "$SPOOL" --from 1 --count 100 --term 1 >/dev/null &&
	"$SPOOLGEN" snapshot "$SPOOL" --index 80 --term 1 --size $SIZE --seed 7 >/dev/null &&
	"$SPOOLGEN" append "$SPOOL" --count 20 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve serve --database "kv=$SPOOL" --allow "mirror-1=kv"

# A progress hook that fails: each run logs a warning while the bar is
# drawn.
printf '#!/bin/sh\nexit 3\n' >"$TMP/hook.sh"
chmod +x "$TMP/hook.sh"
CMD="$AGENT follow --data-dir $TMP/mirror --source 127.0.0.1:$SERVE_PORT \
$(follow_tls) --database kv --progress-hook $TMP/hook.sh --exit-when-following"
timeout 60 script -q -e -c "$CMD" "$TMP/tty.out" >/dev/null 2>&1 </dev/null
rc=$?
check "follow on a terminal bootstrapped and exited 0 once Following (exit $rc)" test $rc = 0

# Lines as the terminal shows them: a carriage return starts over, the
# erase-line sequence leaves nothing behind.
tr '\r' '\n' <"$TMP/tty.out" | sed 's/\x1b\[K//g' >"$TMP/segments"
check "the bar ends at 100 %" \
	grep -q '^kv \[##############################\] 100\.0%  *8\.0/8\.0 MiB .* MiB/s$' "$TMP/segments"
check "a summary line gives size, time and rate" \
	grep -q ' info kv: bootstrapped 8\.0 MiB in [0-9.]* s ([0-9.]* MiB/s)$' "$TMP/segments"
bars=$(grep -c '^kv \[' "$TMP/segments")
logs=$(awk '/^kv \[/ { b = 1; next } b && /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T/ { n++ } END { print n + 0 }' "$TMP/segments")
diag "$bars bar drawings, $logs log lines after the first"
check "log lines were written while the bar was drawn ($logs)" test "$logs" -gt 0
n=$(grep -c 'MiB/s.*[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T' "$TMP/segments")
check "no log line follows the bar on its line ($n)" test "$n" = 0 -a -s "$TMP/segments"
n=$(grep -c 'MB/s' "$TMP/segments")
check "one unit family: no MB/s ($n)" test "$n" = 0 -a -s "$TMP/segments"
finish
