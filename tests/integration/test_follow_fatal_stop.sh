#!/bin/sh
# Issue 8 (honest health): a follower that stops on a fatal error while
# tailing -- its disk full (ENOSPC) -- must not leave a status file that
# says Following. The mirror's data directory is a 4 MiB tmpfs (root
# only: the test skips otherwise); the mirror follows (its status file
# says Following), then the source writes 4 MB a second. The follower
# must exit non-zero on its own (every database failed), and
# the status file must then be its final report (`"stopped":true`, the
# database in Error naming the full disk) or, if even that could not be
# written, be gone (the follower logs that it removed it); either way
# `mirror-agent status` exits 1 and never reports Following.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 4
skip_all() {
	while [ "$T_NUM" -lt 4 ]; do skip "$1"; done
	exit 0
}
[ "$(id -u)" = 0 ] || skip_all "needs root to mount a small tmpfs"
MNT=$TMP/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=4m tmpfs "$MNT" 2>/dev/null || skip_all "cannot mount a tmpfs here"
trap 'umount "$MNT" 2>/dev/null; cleanup' EXIT
gen_certs

spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
	"$SPOOLGEN" append "$spool" --from 1 --count 100 --term 1 --size 4000 \
		--segment-size 1048576 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve src --database "kv=$spool" --allow mirror-1=kv

"$AGENT" follow --data-dir "$MNT/m" --source "127.0.0.1:$SERVE_PORT" $(follow_tls) \
	--database kv --set follow.wal_segment_size=256KiB >"$TMP/follow.log" 2>&1 &
FPID=$!
T_PIDS="$T_PIDS $FPID"
# The status file says Following before the disk fills (what a stale
# file would go on saying).
wait_until 20 is_state "$MNT/m" kv Following ||
	{ echo "Bail out! not Following: $(state_of "$MNT/m" kv)"; sed 's/^/# /' "$TMP/follow.log"; exit 1; }
cp "$MNT/m/status" "$TMP/status-before.json"
# The source goes on at 1000 entries (4 MB) a second: the 4 MiB fill.
"$SPOOLGEN" append "$spool" --from 101 --count 8000 --term 1 --size 4000 \
	--segment-size 1048576 --rate-per-s 1000 >/dev/null 2>&1 &
T_PIDS="$T_PIDS $!"
stopped() { ! kill -0 "$FPID" 2>/dev/null; }
wait_until 30 stopped
if stopped; then
	wait "$FPID"
	rc=$?
else
	rc=124
fi
check "follow stops on its own with a non-zero exit (got $rc; 124: still running after 30 s)" \
	test $rc -ne 0 -a $rc -ne 124
check "its log names the full disk and kv goes to Error" \
	sh -c "grep -q 'kv: write to .* No space left on device; the log refuses further writes' '$TMP/follow.log' &&
		grep -q 'kv: state Error' '$TMP/follow.log'"

st=$MNT/m/status
if [ -f "$st" ]; then
	cp "$st" "$TMP/status.json"
	diag "final status: $(cut -c1-300 "$TMP/status.json")"
	grep -q '"stopped":true' "$TMP/status.json" &&
		grep -q '"database":"kv","state":"Error"' "$TMP/status.json" &&
		ok "the status file is the final report: stopped, kv in Error" ||
		not_ok "the status file is not a final report"
else
	grep -q 'removed the old status file rather than leave it stale' "$TMP/follow.log" &&
		ok "the status file could not be written on the full disk and was removed (logged)" ||
		not_ok "no status file and no log line saying why"
fi
"$AGENT" status --data-dir "$MNT/m" >"$TMP/status.out" 2>"$TMP/status.err"
src=$?
[ $src = 1 ] && ! grep -q Following "$TMP/status.out" "$TMP/status.err" &&
	ok "status exits 1 without a word of Following: $(head -n 1 "$TMP/status.err")" ||
	{ not_ok "status exit $src"; sed 's/^/# /' "$TMP/status.out" "$TMP/status.err"; }
umount "$MNT" 2>/dev/null
finish
