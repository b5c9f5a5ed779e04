#!/bin/sh
# The mirror against the real reference cluster (three raftkv nodes on
# libraft, each with its `mirror-agent serve`), writes running throughout:
#  (e) a write the source acknowledged at index N is visible to a mirror
#      read with min_index=N;
#  (a) the node (and serve) the mirror is attached to is killed: the mirror
#      moves to another endpoint and continues;
#  (b) the leader is killed: same;
#  (c) the mirror is killed mid-follow and restarted: it restores from its
#      snapshot + wal, no second bootstrap, and continues;
#  (d) the nodes snapshot and compact their Raft logs while the mirror
#      follows; a brand-new mirror started late bootstraps from that newer
#      snapshot.
# After each case, once the writes stopped: the mirror's fingerprint equals
# the source's at the same index (read API, min_index), and the mirror's
# wal holds exactly a surviving node's spool entries over the mirror's
# range (wal dump: none missing, none twice). Without the read API the
# fingerprint checks skip and the wal comparisons still run.
. "$abs_top_srcdir/tests/integration/lib.sh"

NODE="$abs_top_builddir/examples/raftkv/raftkv-node"
CLI="$abs_top_builddir/examples/raftkv/raftkv-cli"

plan 19

# make check builds all three: a missing one is a broken build, not a skip.
if [ ! -x "$NODE" ] || [ ! -x "$CLI" ] || [ ! -x "$AGENT" ]; then
	echo "Bail out! raftkv-node, raftkv-cli or mirror-agent not built"
	exit 1
fi
HAVE_API=0
if "$AGENT" follow --help 2>&1 | grep -q -- '--http-listen' &&
	command -v curl >/dev/null 2>&1; then
	HAVE_API=1
else
	diag "no read API in this build (or no curl): fingerprint checks skip"
fi
gen_certs

UUID=$(cat /proc/sys/kernel/random/uuid)
SNAP_THRESHOLD=400
LOAD=1500 # puts per case; several snapshots per case on every node

# start_node I: node I on its ports, appending to its log.
start_node() {
	i=$1
	eval "rport=\$RPORT$i cport=\$CPORT$i"
	"$NODE" --id "$i" --address "127.0.0.1:$rport" --cluster "$CLUSTER" \
		--client-cluster "$CCLUSTER" --data "$TMP/data$i" \
		--spool "$TMP/spool$i" --client-listen "127.0.0.1:$cport" \
		--cluster-id "$UUID" --database kv \
		--snapshot-threshold $SNAP_THRESHOLD --snapshot-trailing 64 \
		--election-timeout 300 --install-snapshot-timeout 1000 \
		>>"$TMP/node$i.log" 2>&1 &
	eval "PID$i=$!"
	T_PIDS="$T_PIDS $!"
}

# start_node_serve I: serve for node I's spool, on its fixed port once
# known (a restarted serve keeps its address, as in production).
start_node_serve() {
	i=$1
	eval "port=\${SPORT$i:-0}"
	rm -f "$TMP/serve$i.port"
	"$AGENT" serve --listen "127.0.0.1:$port" --port-file "$TMP/serve$i.port" \
		--cert "$PKI/server.pem" --key "$PKI/server.key" \
		--client-ca "$PKI/ca.pem" --database "kv=$TMP/spool$i" \
		--allow mirror-1=kv --heartbeat-ms 200 >>"$TMP/serve$i.log" 2>&1 &
	eval "SPID$i=$!"
	T_PIDS="$T_PIDS $!"
	wait_until 20 test -s "$TMP/serve$i.port" ||
		{ echo "Bail out! serve $i did not start"; tail -n 5 "$TMP/serve$i.log"; exit 1; }
	eval "SPORT$i=$(cat "$TMP/serve$i.port")"
}

kill_node() { # I: node I and its serve, SIGKILL
	eval "kill -9 \$PID$1 \$SPID$1" 2>/dev/null
	eval "wait \$PID$1 \$SPID$1" 2>/dev/null
}

cli() { timeout 90 "$CLI" --connect "$CLIENTS" --timeout 60 "$@"; }
cli_at() { port=$1; shift; timeout 10 "$CLI" --connect "127.0.0.1:$port" --timeout 5 "$@"; }
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }
jfield() { # KEY JSON: first value of "KEY": (string or number)
	printf '%s' "$2" | grep -o "\"$1\":\(\"[^\"]*\"\|[0-9a-z.]*\)" | head -n 1 |
		sed -e 's/^"[^"]*"://' -e 's/^"//' -e 's/"$//'
}

leader_id() {
	for p in $CPORT1 $CPORT2 $CPORT3; do
		id=$(cli_at "$p" leader 2>/dev/null | sed -n 's/^OK id=\([1-9][0-9]*\) .*/\1/p')
		[ -n "$id" ] && { echo "$id"; return 0; }
	done
	return 1
}
has_leader() { leader_id >/dev/null; }

started=0
for attempt in 1 2 3; do
	set -- $("$CLI" free-ports 6)
	RPORT1=$1 RPORT2=$2 RPORT3=$3 CPORT1=$4 CPORT2=$5 CPORT3=$6
	CLUSTER="1=127.0.0.1:$RPORT1,2=127.0.0.1:$RPORT2,3=127.0.0.1:$RPORT3"
	CCLUSTER="1=127.0.0.1:$CPORT1,2=127.0.0.1:$CPORT2,3=127.0.0.1:$CPORT3"
	CLIENTS="127.0.0.1:$CPORT1,127.0.0.1:$CPORT2,127.0.0.1:$CPORT3"
	rm -rf "$TMP"/data? "$TMP"/spool?
	for i in 1 2 3; do start_node "$i"; done
	if wait_until 20 has_leader; then started=1; break; fi
	diag "attempt $attempt: no leader; retrying on new ports"
	for i in 1 2 3; do eval "kill -9 \$PID$i" 2>/dev/null; done
	wait 2>/dev/null
done
[ $started = 1 ] || { echo "Bail out! the cluster elected no leader"; exit 1; }
for i in 1 2 3; do start_node_serve "$i"; done
out=$(cli load --count 1000 --value-size 200 --namespace init 2>"$TMP/load0.err")
[ $? = 0 ] && ok "cluster and three serves up, initial load ($out)" ||
	{ not_ok "initial load: $out"; echo "Bail out! no initial data"; exit 1; }
snap_of() { # I: index of node I's newest spool snapshot
	ls "$TMP/spool$1/snapshots/" 2>/dev/null | sed -n 's/^\([0-9]*\)-[0-9]*\.snapshot$/\1/p' |
		sort -n | tail -n 1
}
snapshots_everywhere() { [ -n "$(snap_of 1)" ] && [ -n "$(snap_of 2)" ] && [ -n "$(snap_of 3)" ]; }
wait_until 30 snapshots_everywhere || diag "not every node has a spool snapshot yet"

# The mirror attaches first to a node that is not the leader.
L=$(leader_id)
ORDER=""
for i in 1 2 3; do [ "$i" = "$L" ] || ORDER="$ORDER $i"; done
F=${ORDER# }
F=${F%% *}
ORDER="$F $L $(echo 1 2 3 | tr ' ' '\n' | grep -v "^$F\$" | grep -v "^$L\$")"
SOURCES=""
for i in $ORDER; do eval "SOURCES=\"\$SOURCES --source 127.0.0.1:\$SPORT$i\""; done
diag "leader $L; mirror sources in order: nodes$ORDER"

# start_mirror NAME DIR: follow in the background (log NAME.log); sets
# MPID and, with the read API, HTTP.
start_mirror() {
	name=$1
	dir=$2
	set -- --data-dir "$dir" $SOURCES --database kv $(follow_tls) \
		--set follow.backoff_min=50ms --set follow.backoff_max=500ms \
		--set follow.connect_timeout=2s --set follow.idle_timeout=3s \
		--set follow.keepalive=500ms
	rm -f "$TMP/$name.http"
	if [ $HAVE_API = 1 ]; then
		set -- "$@" --set database.kv.applier=kv \
			--http-listen 127.0.0.1:0 --http-port-file "$TMP/$name.http"
	fi
	"$AGENT" follow "$@" >>"$TMP/$name.log" 2>&1 &
	MPID=$!
	T_PIDS="$T_PIDS $MPID"
	HTTP=""
	if [ $HAVE_API = 1 ] && wait_until 20 test -s "$TMP/$name.http"; then
		HTTP="http://127.0.0.1:$(cat "$TMP/$name.http")"
	fi
}
applied_of() { # DIR: the mirror's applied (durable) index from its status file
	"$AGENT" status --data-dir "$1" --json 2>/dev/null |
		sed -n 's/.*"applied_index":\([0-9]*\).*/\1/p'
}
endpoint_of() { # DIR: the endpoint the mirror is attached to
	"$AGENT" status --data-dir "$1" --json 2>/dev/null |
		grep -o '"endpoint":"[^"]*"' | head -n 1 | sed 's/^"endpoint":"\(.*\)"$/\1/'
}
node_of_port() { # PORT: the node whose serve listens there
	for i in 1 2 3; do eval "[ \"\$SPORT$i\" = \"$1\" ]" && { echo "$i"; return; }; done
}

start_mirror m1 "$TMP/mirror"
if wait_until 60 is_state "$TMP/mirror" kv Following; then
	S0=$(sed -n 's/.*bootstrapping from snapshot \([0-9]*\)-.*/\1/p' "$TMP/m1.log" | head -n 1)
	ok "mirror bootstrapped (from snapshot ${S0:-?}) and is Following"
else
	not_ok "mirror did not reach Following"
	tail -n 20 "$TMP/m1.log" | sed 's/^/# /'
fi
S0=${S0:-0}

# (e) min_index: every acknowledged write is visible at its index.
if [ -n "$HTTP" ]; then
	bad=""
	for n in $(seq 1 20); do
		out=$(cli put rw "key$n" "value-$n")
		idx=$(field index "$out")
		r=$(curl -sS --max-time 15 "$HTTP/v1/db/kv/get?ns=rw&key=key$n&min_index=$idx&timeout_ms=10000")
		v=$(jfield value "$r" | base64 -d 2>/dev/null)
		a=$(jfield applied_index "$r")
		if [ "$v" != "value-$n" ] || [ "${a:-0}" -lt "${idx:-1}" ]; then
			bad="$bad [put at $idx: $r]"
		fi
	done
	[ -z "$bad" ] && ok "(e) 20 writes, each read back from the mirror with min_index = its index" ||
		not_ok "(e) min_index reads:$bad"
else
	skip "(e) min_index: no read API"
fi

# Writes in the background, bounded in count (and by the CLI's timeout).
# The CLI runs directly under this shell (no wrapper), so the cleanup's
# kill reaches it; wait_load bounds it in time.
start_load() { # NAME
	"$CLI" --connect "$CLIENTS" --timeout 30 load --count $LOAD --value-size 100 \
		--namespace "$1" >"$TMP/$1.out" 2>"$TMP/$1.err" &
	LOADPID=$!
	T_PIDS="$T_PIDS $LOADPID"
}
running() { st=$(ps -o stat= -p "$1" 2>/dev/null); [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
load_done() { ! running "$LOADPID"; }
wait_load() { # exit status of the load; killed after 120 s
	wait_until 120 load_done || kill -9 "$LOADPID" 2>/dev/null
	wait_pid "$LOADPID"
}
# progressed DIR N: the mirror applied beyond N.
progressed() { a=$(applied_of "$1"); [ "${a:-0}" -gt "$2" ]; }

# same_as_source NAME DIR: after the writes stopped, the mirror's
# fingerprint at the source's index equals the source's (skipped without
# the read API), and its wal equals a surviving node's spool wal over the
# mirror's range. Two test points.
same_as_source() {
	name=$1
	dir=$2
	l=$(leader_id)
	eval "lport=\$CPORT$l"
	fp=$(cli_at "$lport" fingerprint)
	A=$(field applied "$fp")
	if [ -n "$HTTP" ]; then
		r=$(curl -sS --max-time 40 "$HTTP/v1/db/kv/fingerprint?min_index=$A&timeout_ms=30000")
		if [ "$(jfield fingerprint "$r")" = "$(field fingerprint "$fp")" ] &&
			[ "$(jfield revision "$r")" = "$(field revision "$fp")" ]; then
			ok "$name: mirror fingerprint equals the source's at index $A ($(field fingerprint "$fp"), $(field count "$fp") keys)"
		else
			not_ok "$name: fingerprints differ: source '$fp', mirror '$r'"
		fi
	else
		skip "$name: fingerprint (no read API)"
	fi
	# The mirror's log up to A (the applied index is durable: synced).
	wait_until 30 progressed "$dir" $((A - 1)) || diag "$name: mirror's log below $A"
	"$AGENT" wal verify "$dir/kv/wal" >"$TMP/$name.verify" 2>&1
	mf=$(sed -n 's/^first_index //p' "$TMP/$name.verify")
	ml=$(sed -n 's/^last_index //p' "$TMP/$name.verify")
	count=$((ml - mf + 1))
	# A live node whose spool holds the whole range (a node restarted
	# through an InstallSnapshot has a rebased, shorter spool).
	src=""
	for i in $l 1 2 3; do
		eval "p=\$CPORT$i"
		ai=$(cli_at "$p" applied-index 2>/dev/null) || continue
		[ "$(field spool_first "$ai")" -le "$mf" ] &&
			[ "$(field spool_last "$ai")" -ge "$ml" ] && { src=$i; break; }
	done
	[ -n "$src" ] || { diag "$name: no node's spool holds $mf..$ml"; src=$l; }
	"$AGENT" wal dump "$dir/kv/wal" --from "$mf" --count "$count" >"$TMP/$name.mdump" 2>&1
	"$AGENT" wal dump "$TMP/spool$src/wal" --from "$mf" --count "$count" >"$TMP/$name.sdump" 2>&1
	# Indexes strictly consecutive from mf to ml, and byte-equal dumps.
	consecutive=$(awk -v f="$mf" '{ split($1, w, "="); if (w[1] != "index" || w[2] + 0 != f + NR - 1) { print "gap or repeat at line " NR ": " substr($0, 1, 60); exit } }' "$TMP/$name.mdump")
	if [ "$ml" -ge "$A" ] && [ "$(wc -l <"$TMP/$name.mdump")" -eq "$count" ] &&
		[ -z "$consecutive" ] && cmp -s "$TMP/$name.mdump" "$TMP/$name.sdump"; then
		ok "$name: mirror wal $mf..$ml equals node $src's spool entry for entry"
	else
		not_ok "$name: mirror wal $mf..$ml (source at $A) vs node $src's spool: $consecutive"
		diff "$TMP/$name.mdump" "$TMP/$name.sdump" | head -n 6 | sed 's/^/# /'
		head -n 3 "$TMP/$name.mdump" | sed 's/^/# /'
	fi
}

# (a) kill the node the mirror is attached to.
start_load loada
wait_until 30 progressed "$TMP/mirror" $(($(applied_of "$TMP/mirror") + 200)) ||
	diag "(a) the mirror did not progress before the kill"
ep=$(endpoint_of "$TMP/mirror")
K=$(node_of_port "${ep##*:}")
if [ -n "$K" ]; then
	before=$(applied_of "$TMP/mirror")
	kill_node "$K"
	diag "(a) killed node $K and its serve (mirror was at $before via $ep)"
	moved() {
		e=$(endpoint_of "$TMP/mirror")
		[ -n "$e" ] && [ "$e" != "$ep" ] && progressed "$TMP/mirror" $((before + 100))
	}
	check "(a) the mirror moved from node $K to another endpoint and continues" wait_until 60 moved
else
	not_ok "(a) cannot tell which node the mirror is attached to ('$ep')"
	K=$F
	kill_node "$K"
fi
wait_load
rc=$?
[ $rc = 0 ] && ok "(a) writes continued through the kill ($(cat "$TMP/loada.out"))" ||
	{ not_ok "(a) load exit $rc"; tail -n 5 "$TMP/loada.err" | sed 's/^/# /'; }
same_as_source "(a)" "$TMP/mirror"
# Node K comes back (quorum for the leader kill).
start_node "$K"
start_node_serve "$K"

# (b) kill the leader.
start_load loadb
wait_until 30 progressed "$TMP/mirror" $(($(applied_of "$TMP/mirror") + 200)) ||
	diag "(b) the mirror did not progress before the kill"
L=$(leader_id)
before=$(applied_of "$TMP/mirror")
kill_node "$L"
diag "(b) killed the leader, node $L, and its serve (mirror at $before via $(endpoint_of "$TMP/mirror"))"
new_leader() { l=$(leader_id) && [ "$l" != "$L" ]; }
continues() { progressed "$TMP/mirror" $((before + 100)); }
if wait_until 30 new_leader && wait_until 60 continues; then
	ok "(b) a new leader (node $(leader_id)) took over and the mirror continues"
else
	not_ok "(b) no new leader or the mirror is stuck at $(applied_of "$TMP/mirror")"
	tail -n 10 "$TMP/m1.log" | sed 's/^/# /'
fi
wait_load
rc=$?
[ $rc = 0 ] && ok "(b) writes continued through the leader kill ($(cat "$TMP/loadb.out"))" ||
	{ not_ok "(b) load exit $rc"; tail -n 5 "$TMP/loadb.err" | sed 's/^/# /'; }
same_as_source "(b)" "$TMP/mirror"
start_node "$L"
start_node_serve "$L"

# (c) kill the mirror mid-follow and restart it.
start_load loadc
wait_until 30 progressed "$TMP/mirror" $(($(applied_of "$TMP/mirror") + 200)) ||
	diag "(c) the mirror did not progress before the kill"
kill -9 "$MPID"
wait_pid "$MPID" 2>/dev/null
diag "(c) killed the mirror at index $(applied_of "$TMP/mirror")"
start_mirror m1b "$TMP/mirror"
# With the kv applier the copy is rebuilt from the local snapshot plus the
# local wal ("kv applier at index I (snapshot S, K wal entries replayed");
# without it the log position is recovered ("holds entries up to").
if [ $HAVE_API = 1 ]; then
	restored_re='kv applier at index [0-9]* (snapshot [0-9]*, [1-9][0-9]* wal entries replayed'
else
	restored_re='holds entries up to [1-9]'
fi
restored() {
	grep -q "$restored_re" "$TMP/m1b.log" && is_state "$TMP/mirror" kv Following
}
if wait_until 60 restored; then
	assert_absent "(c) restarted mirror restored locally ($(grep -o "$restored_re[^)]*" "$TMP/m1b.log" | head -n 1)) and follows without a new bootstrap" \
		'bootstrapping from snapshot' "$TMP/m1b.log"
else
	not_ok "(c) restart"
	tail -n 15 "$TMP/m1b.log" | sed 's/^/# /'
fi
wait_load
rc=$?
[ $rc = 0 ] && ok "(c) writes completed ($(cat "$TMP/loadc.out"))" ||
	{ not_ok "(c) load exit $rc"; tail -n 5 "$TMP/loadc.err" | sed 's/^/# /'; }
same_as_source "(c)" "$TMP/mirror"

# (d) the nodes snapshotted (and libraft compacted its log) while the
# mirror followed; a brand-new mirror bootstraps from the newer snapshot.
S1=$(snap_of "$(leader_id)")
[ "${S1:-0}" -gt "$S0" ] &&
	ok "(d) the source snapshotted while the mirror followed (snapshot $S0 -> $S1)" ||
	not_ok "(d) no newer snapshot on the source ($S0 -> $S1)"
start_load loadd
start_mirror m2 "$TMP/mirror2"
if wait_until 90 is_state "$TMP/mirror2" kv Following; then
	S2=$(sed -n 's/.*bootstrapping from snapshot \([0-9]*\)-.*/\1/p' "$TMP/m2.log" | head -n 1)
	[ "${S2:-0}" -gt "$S0" ] &&
		ok "(d) a late mirror bootstrapped from snapshot $S2 (first mirror: $S0) and follows" ||
		not_ok "(d) late mirror bootstrapped from '${S2}', not beyond $S0"
else
	not_ok "(d) the late mirror did not reach Following"
	tail -n 15 "$TMP/m2.log" | sed 's/^/# /'
fi
wait_load || diag "(d) load failed: $(tail -n 2 "$TMP/loadd.err")"
same_as_source "(d) late mirror" "$TMP/mirror2"
finish
