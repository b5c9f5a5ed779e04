#!/bin/sh
# Runs every libFuzzer target for a bounded time and exits non-zero when
# one crashes. Usage: tests/fuzz/run-fuzz.sh [SECONDS] [BUILD_DIR]
# (default 30 s, build dir "."). The build dir must come from
#   CC=clang .../configure --enable-fuzzing --enable-sanitize && make
# Each target NAME uses tests/fuzz/corpus/NAME-without-fuzz_ as seeds;
# new inputs go to a scratch corpus, crashes to the current directory.
set -u
secs=${1:-30}
build=${2:-.}
here=$(cd "$(dirname "$0")" && pwd)
status=0
found=0

case $secs in
''|*[!0-9]*) echo "usage: $0 [SECONDS] [BUILD_DIR]" >&2; exit 2 ;;
esac

for bin in "$build"/tests/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	found=1
	name=$(basename "$bin")
	seeds="$here/corpus/${name#fuzz_}"
	work=$(mktemp -d /tmp/ma-fuzz-XXXXXX)
	[ -d "$seeds" ] && cp "$seeds"/* "$work"/ 2>/dev/null
	echo "== $name: ${secs}s"
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 "$work" 2>"$work.log"; then
		tail -n 12 "$work.log" | grep -E "stat::|Done" || true
		echo "== $name: OK"
	else
		tail -n 40 "$work.log"
		echo "== $name: FAILED (log kept in $work.log)"
		status=1
		rm -rf "$work"
		continue
	fi
	rm -rf "$work" "$work.log"
done
if [ $found -eq 0 ]; then
	echo "$0: no fuzz targets under $build/tests/fuzz (build with --enable-fuzzing)" >&2
	exit 2
fi
exit $status
