# Shared helpers for the shell integration tests (sourced). They print TAP:
# plan with `plan N`, results with `ok`/`not_ok`/`check`, skips with `skip`.
# Every wait is bounded; every process a test starts is killed on exit and
# all files live in one scratch directory that is removed at the end.

set -u

: "${abs_top_builddir:?run through make check (abs_top_builddir unset)}"
: "${abs_top_srcdir:?run through make check (abs_top_srcdir unset)}"
AGENT="$abs_top_builddir/mirror-agent"
SPOOLGEN="$abs_top_builddir/tests/tools/spoolgen"

T_NUM=0
T_FAILED=0
T_PIDS=""
TMP=$(mktemp -d /tmp/ma-it-XXXXXX)

plan() { echo "1..$1"; }

ok() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM - $*"; }

not_ok() {
	T_NUM=$((T_NUM + 1))
	T_FAILED=$((T_FAILED + 1))
	echo "not ok $T_NUM - $*"
}

skip() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM # SKIP $*"; }

# check NAME COMMAND...: one test point from a command's exit status.
check() {
	name=$1
	shift
	if "$@" >"$TMP/check.out" 2>&1; then
		ok "$name"
	else
		not_ok "$name"
		sed 's/^/# /' "$TMP/check.out" | tail -n 20
	fi
}

diag() { echo "# $*"; }

# assert_absent NAME PATTERN FILE...: one test point saying that no line
# of the FILEs matches PATTERN (grep basic regex). An absence proves
# something only about a log that was written: every FILE must exist and
# be non-empty, else the point fails and says which one.
assert_absent() {
	aa_name=$1
	aa_pat=$2
	shift 2
	if [ $# -eq 0 ]; then
		not_ok "$aa_name"
		diag "assert_absent: no file given (a glob that matched nothing?)"
		return
	fi
	for aa_f in "$@"; do
		if [ ! -s "$aa_f" ]; then
			not_ok "$aa_name"
			diag "$aa_f is missing or empty: the absence of '$aa_pat' proves nothing"
			return
		fi
	done
	if grep -n -e "$aa_pat" "$@" >"$TMP/absent.out" 2>&1; then
		not_ok "$aa_name"
		diag "'$aa_pat' found:"
		sed 's/^/#   /' "$TMP/absent.out" | head -n 10
	else
		ok "$aa_name"
	fi
}

# assert_no_files NAME DIR GLOB: one test point saying that no entry of
# DIR matches GLOB; DIR must exist, so that a mirror that never created
# it does not pass for one that kept it clean.
assert_no_files() {
	if [ ! -d "$2" ]; then
		not_ok "$1"
		diag "$2 does not exist: the absence of $3 proves nothing"
		return
	fi
	anf_found=$(cd "$2" && for f in $3; do [ -e "$f" ] && echo "$f"; done)
	if [ -n "$anf_found" ]; then
		not_ok "$1"
		diag "in $2:" $anf_found
	else
		ok "$1"
	fi
}

cleanup() {
	for p in $T_PIDS; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${KEEP_TMP:-0}" = 1 ] || [ "$T_FAILED" -gt 0 ]; then
		# Keep the evidence of a failure (small: logs, not data).
		mkdir -p "$TMP.logs" && cp "$TMP"/*.log "$TMP.logs/" 2>/dev/null
		echo "# logs kept in $TMP.logs"
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_until SECONDS COMMAND...: polls every 50 ms.
wait_until() {
	deadline=$(($(date +%s) + $1))
	# Also bounded in tries: this machine's wall clock can step back.
	tries=$(($1 * 20))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] && [ "$tries" -gt 0 ] || return 1
		tries=$((tries - 1))
		sleep 0.05
	done
}

# running PID: true while PID exists and has not exited (a child that
# exited but is not reaped yet is a zombie: not running).
running() {
	_st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$_st" ] &&
		[ "${_st#Z}" = "$_st" ]
}

# wait_pid PID [SECS]: waits for PID, a child of this shell, to exit
# (bounded: SECS, 60 by default) and returns its exit status. One still
# running then is killed (-9) and said so, so a hung daemon cannot hang the
# suite; its status is then 137.
wait_pid() {
	if ! wait_until "${2:-60}" eval "! running $1"; then
		diag "pid $1 did not exit within ${2:-60} s: killed"
		kill -9 "$1" 2>/dev/null
	fi
	wait "$1"
}

gen_certs() {
	"$abs_top_srcdir/tests/certs/gen-certs.sh" "$TMP/pki" >/dev/null 2>&1 ||
		{ echo "Bail out! cannot generate test certificates"; exit 1; }
	chmod 600 "$TMP"/pki/*.key
	PKI=$TMP/pki
}

# start_serve NAME [serve args...]: starts `mirror-agent serve` on an
# ephemeral port (or on $SERVE_LISTEN); sets SERVE_PORT and SERVE_PID.
start_serve() {
	name=$1
	shift
	rm -f "$TMP/$name.port"
	"$AGENT" serve --listen "${SERVE_LISTEN:-127.0.0.1:0}" --port-file "$TMP/$name.port" \
		--cert "$PKI/server.pem" --key "$PKI/server.key" \
		--client-ca "$PKI/ca.pem" "$@" >"$TMP/$name.log" 2>&1 &
	SERVE_PID=$!
	T_PIDS="$T_PIDS $SERVE_PID"
	if ! wait_until 20 test -s "$TMP/$name.port"; then
		echo "Bail out! serve '$name' did not start"
		sed 's/^/# /' "$TMP/$name.log"
		exit 1
	fi
	SERVE_PORT=$(cat "$TMP/$name.port")
}

# follow_args: the TLS part of a follow command line (client mirror-1).
follow_tls() {
	echo "--ca $PKI/ca.pem --cert $PKI/mirror-1.pem --key $PKI/mirror-1.key --server-name localhost"
}

# state_of DATA_DIR DB: prints the database's state from the status file.
state_of() {
	"$AGENT" status --data-dir "$1" --json 2>/dev/null |
		sed -n "s/.*\"database\":\"$2\",\"state\":\"\([A-Za-z]*\)\".*/\1/p"
}

# is_state DATA_DIR DB STATE: true when the status file says so.
is_state() { [ "$(state_of "$1" "$2")" = "$3" ]; }

finish() {
	[ "$T_FAILED" -eq 0 ]
	exit $?
}
