#!/bin/sh
# The demo run as `scripts/demo.sh | tee demo.log` and interrupted with
# Ctrl-C (issue 13): Ctrl-C sends SIGINT to the whole foreground process
# group, so tee dies with the demo and every line the cleanup writes goes
# to a dead pipe. The cleanup must still stop every process the demo
# started and remove its scratch directory.
. "$abs_top_srcdir/tests/integration/lib.sh"

command -v setsid >/dev/null 2>&1 || { echo "1..0 # SKIP setsid not installed"; exit 0; }
env --default-signal=INT true 2>/dev/null ||
	{ echo "1..0 # SKIP env --default-signal (coreutils 8.31+) not available"; exit 0; }
[ -x "$abs_top_builddir/examples/raftkv/raftkv-node" ] ||
	{ echo "1..0 # SKIP raftkv not built"; exit 0; }
plan 4

SCRATCH=$TMP/demotmp
mkdir -p "$SCRATCH"
# A session of its own: its process group stands for the terminal's
# foreground group that Ctrl-C signals. A background job starts with
# SIGINT ignored, which no trap could undo: env restores its default. The
# build directory is this one (already built: make finds nothing to do).
setsid env --default-signal=INT sh -c "TMPDIR='$SCRATCH' DEMO_SKIP_SETUP=1 DEMO_BUILD_DIR='$abs_top_builddir' \
	JOBS=1 '$abs_top_srcdir/scripts/demo.sh' 2>&1 | tee '$TMP/demo.log' >/dev/null" \
	</dev/null >/dev/null 2>&1 &
GPID=$!
T_PIDS="$T_PIDS $GPID"
# In the middle of it: the source cluster runs.
started() { grep -q 'Source cluster' "$TMP/demo.log" && ls "$SCRATCH"/mirror-agent-demo.*/node1.log; }
check "the demo started its cluster" wait_until 60 started
sleep 1
procs() { ps -eo args | grep -F "$SCRATCH" | grep -v grep; }
diag "$(procs | wc -l) processes of the demo running"
kill -INT "-$GPID"
# The session's shell counts until it exits (a zombie, unreaped by this
# shell, has exited); the demo waits up to 5 s for TERM before KILL.
alive() { case $(ps -o stat= -p "$1" 2>/dev/null) in '' | Z*) return 1 ;; esac; }
gone() { ! alive "$GPID" && [ -z "$(procs)" ]; }
check "after Ctrl-C every process of the demo is gone within 20 s" wait_until 20 gone
left=$(ls -A "$SCRATCH")
check "the scratch directory is removed (left: '${left:-nothing}')" test -z "$left"
check "tee received the start of the demo (the log is not empty)" test -s "$TMP/demo.log"
finish
