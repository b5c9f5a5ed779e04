#!/bin/sh
# The test command (README): on a fresh Debian 12 machine, as root, installs
# what is missing (scripts/setup.sh), builds and runs the whole suite in
# three configurations, and ends with the line "N passed, N failed".
#   1. optimised build, warnings as errors: make check
#   2. ASan + UBSan (LeakSanitizer on): make check
#   (both with --enable-fault-injection, for the bad-source tests)
#   3. clang + libFuzzer: each fuzz target for FUZZ_SECONDS (default 30;
#      ten targets and the clang build take about seven minutes)
# Build trees go under $BUILD_ROOT (default ./build, ignored by git).
# Exit status is non-zero when anything failed.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD_ROOT=${BUILD_ROOT:-$top/build}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
JOBS=${JOBS:-$(nproc)}

"$top/scripts/setup.sh"

cd "$top"
# Always regenerate: cheap (seconds), and a stale configure or Makefile.in
# from an earlier checkout can never be tested by mistake.
echo "test: autoreconf"
autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; exit 1; }

passed=0; failed=0; skipped=0

# Adds the automake summary counts of one `make check` log to the totals.
count_summary() { # log
	p=$(sed -n 's/^# PASS: *\([0-9]*\)/\1/p' "$1" | tail -n1)
	s=$(sed -n 's/^# SKIP: *\([0-9]*\)/\1/p' "$1" | tail -n1)
	f=$(sed -n 's/^# FAIL: *\([0-9]*\)/\1/p' "$1" | tail -n1)
	x=$(sed -n 's/^# XPASS: *\([0-9]*\)/\1/p' "$1" | tail -n1)
	e=$(sed -n 's/^# ERROR: *\([0-9]*\)/\1/p' "$1" | tail -n1)
	passed=$((passed + ${p:-0}))
	skipped=$((skipped + ${s:-0}))
	failed=$((failed + ${f:-0} + ${x:-0} + ${e:-0}))
	# A build or harness failure leaves no summary: count it as one failure.
	[ -n "$p" ] || failed=$((failed + 1))
}

run_check() { # name configure-args...
	name=$1; shift
	dir="$BUILD_ROOT/$name"
	mkdir -p "$dir"
	echo "test: [$name] configure $*"
	(cd "$dir" && "$top/configure" "$@" >configure.out 2>&1) ||
		{ tail -n 20 "$dir/configure.out"; failed=$((failed + 1)); return 0; }
	echo "test: [$name] make check"
	(cd "$dir" && make -j"$JOBS" >build.out 2>&1) ||
		{ tail -n 40 "$dir/build.out"; failed=$((failed + 1)); return 0; }
	(cd "$dir" && make -j"$JOBS" check >check.out 2>&1) || true
	grep -E '^(PASS|FAIL|SKIP|ERROR|XPASS|XFAIL):' "$dir/check.out" |
		grep -v '^PASS' || true
	sed -n '/^====/,$p' "$dir/check.out" | grep '^#' || true
	if grep -q '^# FAIL: *[1-9]\|^# ERROR: *[1-9]' "$dir/check.out"; then
		for l in $(find "$dir/tests" -name '*.log' 2>/dev/null); do
			grep -q '^not ok\|^Bail out\|ERROR' "$l" 2>/dev/null &&
				{ echo "---- $l"; tail -n 30 "$l"; }
		done
	fi
	count_summary "$dir/check.out"
}

run_check release --enable-werror --enable-fault-injection

if (cd "$BUILD_ROOT/release" && make check-format); then
	echo "test: clang-format: ok"
	passed=$((passed + 1))
else
	echo "test: clang-format: FAILED"
	failed=$((failed + 1))
fi
run_check sanitize --enable-werror --enable-sanitize --enable-fault-injection

if [ "$FUZZ_SECONDS" -gt 0 ]; then
	dir="$BUILD_ROOT/fuzz"
	mkdir -p "$dir"
	echo "test: [fuzz] build (clang, libFuzzer) and run ${FUZZ_SECONDS}s per target"
	if (cd "$dir" && CC=clang "$top/configure" --enable-fuzzing --enable-sanitize \
		>configure.out 2>&1 && make -j"$JOBS" fuzz >build.out 2>&1); then
		(cd "$dir" && "$top/tests/fuzz/run-fuzz.sh" "$FUZZ_SECONDS" "$dir") \
			>"$dir/fuzz.out" 2>&1 || true
		grep '^== .*: \(OK\|FAILED\)' "$dir/fuzz.out" | sed 's/^/test: [fuzz] /'
		p=$(grep -c '^== .*: OK' "$dir/fuzz.out" || true)
		f=$(grep -c '^== .*: FAILED' "$dir/fuzz.out" || true)
		passed=$((passed + p))
		failed=$((failed + f))
		if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
			tail -n 20 "$dir/fuzz.out"
			failed=$((failed + 1))
		elif [ "$f" -gt 0 ]; then
			tail -n 60 "$dir/fuzz.out"
		fi
	else
		tail -n 30 "$dir/build.out" "$dir/configure.out" 2>/dev/null || true
		failed=$((failed + 1))
	fi
fi

[ "$skipped" -eq 0 ] || echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
