#!/bin/sh
# The DR drill (README, docs/OPERATIONS.md "DR drill"): the day of the
# disaster on loopback, at full size. A three-node raftkv source loaded
# with DRILL_STATE_MB (100) MiB takes continuous writes whose
# acknowledgements are logged while a mirror follows it over QUIC; all
# three nodes and their serves are killed with SIGKILL at a random moment;
# the mirror is promoted, a new three-node cluster is seeded from it
# (raftkv-seed), started and written to. Prints the RPO (acknowledged
# writes lost, and entries) and the RTO (seconds from the promote command
# to the first write the new cluster accepted), and checks what was kept.
#
# It is tests/system/test_dr_drill.sh (which `make check` runs with a
# small state) run at this size, its TAP output shown as it goes.
#
# Environment (all optional): DRILL_BUILD_DIR (default ./build/demo, the
# demo's; built when missing, dependencies as scripts/setup.sh installs
# them), DRILL_STATE_MB (100), DRILL_WRITE_MS (random 1000..2500),
# KEEP_TMP=1 (keep the logs), JOBS (nproc).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DRILL_BUILD_DIR:-$top/build/demo}
JOBS=${JOBS:-$(nproc)}
STATE_MB=${DRILL_STATE_MB:-100}

mkdir -p "$BUILD"
if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
	(cd "$top" && autoreconf -fi >"$BUILD/autoreconf.out" 2>&1) ||
		{ tail -n 20 "$BUILD/autoreconf.out"; echo "dr-drill: autoreconf failed" >&2; exit 1; }
fi
if [ ! -f "$BUILD/config.status" ]; then
	(cd "$BUILD" && "$top/configure" >configure.out 2>&1) ||
		{ tail -n 20 "$BUILD/configure.out"; echo "dr-drill: configure failed (see $BUILD/config.log)" >&2; exit 1; }
fi
echo "dr-drill: building in $BUILD"
(cd "$BUILD" && make -j"$JOBS" mirror-agent examples/raftkv/raftkv-node \
	examples/raftkv/raftkv-cli examples/raftkv/raftkv-seed >make.out 2>&1) ||
	{ tail -n 20 "$BUILD/make.out"; echo "dr-drill: build failed" >&2; exit 1; }

FIGURES=$(mktemp /tmp/dr-drill-figures-XXXXXX)
trap 'rm -f "$FIGURES"' EXIT
echo "dr-drill: ${STATE_MB} MiB of state, then writes, then kill -9 of the whole source"
rc=0
abs_top_srcdir=$top abs_top_builddir=$BUILD DRILL_STATE_KB=$((STATE_MB * 1024)) \
	DRILL_FIGURES=$FIGURES sh "$top/tests/system/test_dr_drill.sh" || rc=$?
echo
if [ -s "$FIGURES" ]; then
	echo "dr-drill figures: $(cat "$FIGURES")"
fi
if [ $rc -eq 0 ]; then
	echo "dr-drill: PASSED (every check above is 'ok')"
else
	echo "dr-drill: FAILED (see the 'not ok' lines above)"
fi
exit $rc
