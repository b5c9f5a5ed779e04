#!/bin/sh
# The demo (README): on a fresh Debian 12 machine, as root, shows the product
# doing its job end to end on loopback, in a few minutes:
#   - installs what is missing (scripts/setup.sh) and builds into build/demo;
#   - starts the reference source cluster (three raftkv nodes, libraft) with
#     a `mirror-agent serve` sidecar beside each node, each serving its
#     node's spool over QUIC with mutual TLS;
#   - loads ~40 MiB so that every node takes a snapshot of that size;
#   - starts a mirror (`mirror-agent follow`, all three endpoints, applier
#     kv, read API on a local port) during a write burst; it bootstraps
#     from the snapshot, showing its progress every MiB, reaches
#     Following, and its status shows it behind the burst (a non-zero
#     lag, read from its status file) and then caught up (lag 0);
#   - reads from the mirror (get, scan, fingerprint against the source's)
#     and shows its lag while writes go on for ~20 s;
#   - prints where to look next and cleans up (processes and temporary
#     files), also on Ctrl-C.
#
# Environment (all optional): DEMO_BUILD_DIR (default ./build/demo),
# DEMO_KEEP=1 (keep the scratch directory), DEMO_WRITE_SECONDS (20),
# DEMO_SKIP_SETUP=1 (do not run scripts/setup.sh), JOBS (nproc).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DEMO_BUILD_DIR:-$top/build/demo}
JOBS=${JOBS:-$(nproc)}
WRITE_SECONDS=${DEMO_WRITE_SECONDS:-20}
# The snapshot: libraft snapshots every SNAP_THRESHOLD applied entries, so
# LOAD_KEYS puts of VALUE_SIZE bytes give each node a snapshot of about
# SNAP_THRESHOLD x VALUE_SIZE (~39 MiB) and a few hundred entries after it.
VALUE_SIZE=10000
LOAD_KEYS=4500
LOAD_BATCH=500
SNAP_THRESHOLD=4096
NSTEPS=8

WORK=""
PIDS=""
STEP=0
T0=$(date +%s)

if [ -t 1 ]; then
	B=$(printf '\033[1m') D=$(printf '\033[2m') G=$(printf '\033[32m')
	R=$(printf '\033[31m') N=$(printf '\033[0m')
else
	B="" D="" G="" R="" N=""
fi

step() {
	STEP=$((STEP + 1))
	printf '\n%s==> [%d/%d] %s%s\n' "$B" "$STEP" "$NSTEPS" "$*" "$N"
}
say() { printf '    %s\n' "$*"; }
dim() { printf '    %s%s%s\n' "$D" "$*" "$N"; }
good() { printf '    %s%s%s\n' "$G" "$*" "$N"; }
show_logs() {
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		for f in "$WORK"/*.log; do
			[ -s "$f" ] || continue
			printf '%s--- last lines of %s ---%s\n' "$D" "${f##*/}" "$N" >&2
			tail -n 8 "$f" >&2
		done
	fi
}
DIED=0
die() {
	DIED=1
	printf '\n%sdemo: %s%s\n' "$R" "$*" "$N" >&2
	show_logs
	exit 1
}

# Stops everything this script started (TERM, then KILL after 5 s) and
# removes the scratch directory. Runs on every exit, Ctrl-C included.
cleanup() {
	rc=$?
	trap - EXIT
	# Nothing may stop the cleanup half-way: not a second Ctrl-C, not a
	# reader that is gone (`demo.sh | tee log` and Ctrl-C: tee dies of the
	# same SIGINT, and the next line written would kill the shell with
	# SIGPIPE, leaving processes and the scratch directory behind). With
	# SIGPIPE ignored a write to the dead pipe just fails; so does every
	# message below, which is why errors no longer stop the script.
	trap '' INT TERM PIPE
	set +e
	if [ "$rc" != 0 ] && [ $DIED = 0 ]; then
		case $rc in
		130 | 143) printf '\n%sdemo: interrupted%s\n' "$R" "$N" >&2 ;;
		*)
			printf '\n%sdemo: stopped unexpectedly in step %d (exit status %d)%s\n' \
				"$R" "$STEP" "$rc" "$N" >&2
			show_logs ;;
		esac
	fi
	[ -n "$WORK" ] && touch "$WORK/stop" 2>/dev/null
	if [ -n "$PIDS" ]; then
		printf '\n%s==> cleaning up%s\n' "$B" "$N"
		for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
		n=0
		while [ $n -lt 50 ]; do
			alive=""
			for p in $PIDS; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
			[ -n "$alive" ] || break
			sleep 0.1
			n=$((n + 1))
		done
		for p in $PIDS; do kill -KILL "$p" 2>/dev/null || true; done
		wait 2>/dev/null || true
		say "stopped the $(echo $PIDS | wc -w) processes the demo started"
	fi
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ "${DEMO_KEEP:-0}" = 1 ]; then
			say "kept $WORK (DEMO_KEEP=1)"
		else
			rm -rf "$WORK"
			say "removed $WORK"
		fi
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS COMMAND...: polls every 100 ms; false on timeout.
wait_for() {
	deadline=$(($(date +%s) + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# field NAME TEXT: the first value of NAME=... (raftkv answers) or
# "NAME":... (flat JSON: a string without escaped quotes, or a number)
# in TEXT.
field() {
	case $2 in
	"{"*)
		printf '%s' "$2" | grep -o "\"$1\":\(\"[^\"]*\"\|[0-9a-z.]*\)" | head -n 1 |
			sed -e 's/^"[^"]*"://' -e 's/^"//' -e 's/"$//' ;;
	*)
		printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1 ;;
	esac
}

# ---------------------------------------------------------------------------
printf '%smirror-agent demo%s: a three-node Raft source cluster and a read-only mirror\n' "$B" "$N"
printf 'Everything runs on loopback and is removed at the end (Ctrl-C is safe).\n'

step "Dependencies (scripts/setup.sh)"
if [ "${DEMO_SKIP_SETUP:-0}" = 1 ]; then
	say "skipped (DEMO_SKIP_SETUP=1)"
elif [ "$(id -u)" != 0 ]; then
	say "not root: skipping scripts/setup.sh; the build below needs its"
	say "dependencies already installed (run 'sudo scripts/setup.sh' otherwise)"
else
	"$top/scripts/setup.sh" 2>&1 | sed 's/^/    /'
fi

step "Building mirror-agent and the reference cluster in ${BUILD#"$top"/}"
mkdir -p "$BUILD"
if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
	say "autoreconf -fi"
	(cd "$top" && autoreconf -fi >"$BUILD/autoreconf.out" 2>&1) ||
		{ tail -n 20 "$BUILD/autoreconf.out"; die "autoreconf failed"; }
fi
# An existing build directory keeps its options: make reruns config.status
# itself when configure changed.
if [ ! -f "$BUILD/config.status" ]; then
	say "configure"
	(cd "$BUILD" && "$top/configure" >configure.out 2>&1) ||
		{ tail -n 20 "$BUILD/configure.out"; die "configure failed (see $BUILD/config.log)"; }
fi
TARGETS="mirror-agent examples/raftkv/raftkv-node examples/raftkv/raftkv-cli"
# shellcheck disable=SC2086
total=$(cd "$BUILD" && make -n $TARGETS 2>/dev/null | grep -c -- ' -c -o ' || true)
if [ "${total:-0}" -eq 0 ]; then
	say "up to date"
	# shellcheck disable=SC2086
	(cd "$BUILD" && make $TARGETS >build.out 2>&1) ||
		{ tail -n 30 "$BUILD/build.out"; die "build failed"; }
else
	say "make -j$JOBS: $total files to compile (log: ${BUILD#"$top"/}/build.out)"
	: >"$BUILD/build.out"
	# make runs in the foreground (so Ctrl-C reaches it); a watcher shows
	# how many files are compiled.
	(
		last=-1
		while :; do
			n=$(grep -c '^ *CC ' "$BUILD/build.out" 2>/dev/null || true)
			[ "${n:-0}" -gt "$total" ] && n=$total
			if [ -t 1 ]; then
				printf '\r    compiled %d/%d ' "$n" "$total"
			elif [ $((n * 4 / total)) -ne "$last" ]; then
				last=$((n * 4 / total))
				say "compiled $n/$total"
			fi
			sleep 0.5
		done
	) &
	watcher=$!
	PIDS="$PIDS $watcher"
	rc=0
	# shellcheck disable=SC2086
	(cd "$BUILD" && exec make -j"$JOBS" $TARGETS >build.out 2>&1) || rc=$?
	kill "$watcher" 2>/dev/null || true
	wait "$watcher" 2>/dev/null || true
	PIDS=""
	[ -t 1 ] && printf '\r    compiled %d/%d \n' "$total" "$total"
	[ $rc = 0 ] || { tail -n 30 "$BUILD/build.out"; die "build failed"; }
	say "done"
fi
AGENT=$BUILD/mirror-agent
NODE=$BUILD/examples/raftkv/raftkv-node
CLI=$BUILD/examples/raftkv/raftkv-cli

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mirror-agent-demo.XXXXXX")
HAVE_API=0
"$AGENT" follow --help 2>&1 | grep -q -- '--http-listen' && HAVE_API=1

step "Demo PKI (tests/certs/gen-certs.sh)"
"$top/tests/certs/gen-certs.sh" "$WORK/pki" >"$WORK/pki.log" 2>&1 || die "cannot generate certificates"
chmod 600 "$WORK"/pki/*.key
PKI=$WORK/pki
say "CA, server certificate for localhost/127.0.0.1, client certificate 'mirror-1'"
dim "in $PKI"

step "Source cluster: three raftkv nodes, each with its mirror-agent serve"
UUID=$(cat /proc/sys/kernel/random/uuid)
# --foreground: the CLI stays in our process group, so Ctrl-C reaches it.
cli() { timeout --foreground 60 "$CLI" --connect "$CLIENTS" --timeout 30 "$@"; }
leader_client() {
	field client "$(timeout --foreground 5 "$CLI" --connect "$CLIENTS" --timeout 3 leader 2>/dev/null)"
}
some_leader() { [ -n "$(leader_client)" ] && [ "$(leader_client)" != - ]; }
started=0
for attempt in 1 2 3; do
	# shellcheck disable=SC2046
	set -- $("$CLI" free-ports 6)
	CLUSTER="1=127.0.0.1:$1,2=127.0.0.1:$2,3=127.0.0.1:$3"
	CCLUSTER="1=127.0.0.1:$4,2=127.0.0.1:$5,3=127.0.0.1:$6"
	CLIENTS="127.0.0.1:$4,127.0.0.1:$5,127.0.0.1:$6"
	NODE_PIDS=""
	for i in 1 2 3; do
		eval "rport=\${$i} cport=\${$((i + 3))}"
		rm -rf "$WORK/node$i"
		mkdir -p "$WORK/node$i"
		"$NODE" --id "$i" --address "127.0.0.1:$rport" --cluster "$CLUSTER" \
			--client-cluster "$CCLUSTER" --client-listen "127.0.0.1:$cport" \
			--data "$WORK/node$i/data" --spool "$WORK/node$i/spool" \
			--cluster-id "$UUID" --database kv \
			--snapshot-threshold $SNAP_THRESHOLD --snapshot-trailing 256 \
			--election-timeout 500 >"$WORK/node$i.log" 2>&1 &
		NODE_PIDS="$NODE_PIDS $!"
		eval "NODE_PID$i=$! CPORT$i=$cport"
	done
	PIDS="$PIDS $NODE_PIDS"
	if wait_for 20 some_leader; then
		started=1
		break
	fi
	# A port taken by someone else between free-ports and the bind: retry.
	for p in $NODE_PIDS; do kill -KILL "$p" 2>/dev/null || true; done
done
[ $started = 1 ] || die "the cluster elected no leader"
LEADER=$(leader_client)
say "raft on 127.0.0.1:{$1,$2,$3}, clients on 127.0.0.1:{$4,$5,$6}"
say "cluster id $UUID, database 'kv'; leader's client address $LEADER"

SOURCES=""
for i in 1 2 3; do
	"$AGENT" serve --listen 127.0.0.1:0 --port-file "$WORK/serve$i.port" \
		--cert "$PKI/server.pem" --key "$PKI/server.key" --client-ca "$PKI/ca.pem" \
		--database "kv=$WORK/node$i/spool" --allow mirror-1=kv \
		--log-file "$WORK/serve$i.log" 2>>"$WORK/serve$i.log" &
	PIDS="$PIDS $!"
	eval "SERVE_PID$i=$!"
done
for i in 1 2 3; do
	wait_for 20 test -s "$WORK/serve$i.port" || die "serve $i did not start"
	port=$(cat "$WORK/serve$i.port")
	eval "SERVE_PORT$i=$port"
	SOURCES="$SOURCES --source 127.0.0.1:$port"
	say "node $i: serve on udp 127.0.0.1:$port (QUIC), spool ${WORK##*/}/node$i/spool, readable by 'mirror-1'"
done

step "Loading $(mib $((LOAD_KEYS * VALUE_SIZE))) into the source"
cli put demo greeting "hello from the source" >/dev/null || die "put failed"
for u in alice bob carol; do cli put demo "users/$u" "profile of $u" >/dev/null; done
cli put demo "usex/dave" "not a user" >/dev/null
say "put demo/greeting, demo/users/{alice,bob,carol}, demo/usex/dave"
done_keys=0
start=$(date +%s)
while [ $done_keys -lt $LOAD_KEYS ]; do
	out=$(cli load --count $LOAD_BATCH --value-size $VALUE_SIZE --namespace bulk \
		--key-prefix "k$done_keys-" 2>>"$WORK/load.log") || die "load failed: $out"
	done_keys=$((done_keys + LOAD_BATCH))
	say "$(printf '%5d' $done_keys) keys, $(mib $((done_keys * VALUE_SIZE))), commit index $(field last_index "$out")"
done
say "loaded in $(($(date +%s) - start)) s"
# Every node snapshots on its own once SNAP_THRESHOLD entries are applied.
snapshots_taken() {
	for i in 1 2 3; do
		ls "$WORK/node$i/spool/snapshots/"*.snapshot >/dev/null 2>&1 || return 1
	done
}
wait_for 60 snapshots_taken || die "the nodes took no snapshot"
for i in 1 2 3; do
	f=$(ls -t "$WORK/node$i/spool/snapshots/"*.snapshot | head -n 1)
	size=$(stat -c %s "$f")
	eval "cport=\$CPORT$i"
	a=$(timeout --foreground 5 "$CLI" --connect "127.0.0.1:$cport" applied-index 2>/dev/null || true)
	say "node $i spool: snapshot ${f##*/} ($(mib "$size")), log entries $(field spool_first "$a")..$(field spool_last "$a")"
done

step "Starting the mirror during a write burst: mirror-agent follow with all three endpoints"
# The burst: batches of 200 values of 1000 bytes into namespace 'burst',
# until the mirror was seen behind and caught up (WORK/burst.stop) or for
# 40 s at most, so the mirror starts behind a moving source. Stopped by
# the cleanup like the other writer.
(
	cpid=""
	trap '[ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null; exit 143' TERM
	end=$(($(date +%s) + 40))
	n=0
	while [ ! -f "$WORK/stop" ] && [ ! -f "$WORK/burst.stop" ] &&
		[ "$(date +%s)" -lt "$end" ]; do
		timeout 60 "$CLI" --connect "$CLIENTS" --timeout 30 load --count 200 \
			--value-size 1000 --namespace burst --key-prefix "s$n-" \
			>/dev/null 2>>"$WORK/burst.log" &
		cpid=$!
		wait "$cpid" || true
		cpid=""
		n=$((n + 1))
	done
	echo $((n * 200)) >"$WORK/burst.done"
) &
BURST_PID=$!
PIDS="$PIDS $BURST_PID"
say "a write burst starts on the source (namespace 'burst', 200 values at a time)"
# The lag as the mirror reports it: its status file, sampled every 0.1 s
# from now on (state applied source-commit lag-entries lag-ms per line;
# "null" while the lag is unknown), until the demo has seen it behind and
# caught up.
(
	end=$(($(date +%s) + 180))
	while [ ! -f "$WORK/stop" ] && [ ! -f "$WORK/sampler.stop" ] &&
		[ "$(date +%s)" -lt "$end" ]; do
		s=$("$AGENT" status --data-dir "$WORK/mirror" --json 2>/dev/null) &&
			printf '%s %s %s %s %s\n' "$(field state "$s")" \
				"$(field applied_index "$s")" "$(field source_commit_index "$s")" \
				"$(field lag_entries "$s")" "$(field lag_ms "$s")" >>"$WORK/lag.samples"
		sleep 0.1
	done
) &
SAMPLER_PID=$!
PIDS="$PIDS $SAMPLER_PID"
set -- --data-dir "$WORK/mirror" $SOURCES --database kv \
	--ca "$PKI/ca.pem" --cert "$PKI/mirror-1.pem" --key "$PKI/mirror-1.key" \
	--server-name localhost --set follow.backoff_min=100ms --set follow.backoff_max=2s
if [ $HAVE_API = 1 ]; then
	set -- "$@" --set database.kv.applier=kv \
		--http-listen 127.0.0.1:0 --http-port-file "$WORK/http.port"
fi
dim "mirror-agent follow --data-dir ${WORK##*/}/mirror ${SOURCES# } --database kv \\"
dim "    --ca ca.pem --cert mirror-1.pem --key mirror-1.key --server-name localhost \\"
if [ $HAVE_API = 1 ]; then
	dim "    --set database.kv.applier=kv --http-listen 127.0.0.1:0"
else
	dim "    (this build has no read API yet: reads below come from the mirror's log)"
fi
"$AGENT" follow "$@" --log-file "$WORK/follow.log" 2>>"$WORK/follow.log" &
FOLLOW_PID=$!
PIDS="$PIDS $FOLLOW_PID"

# Shows the follower's log as it grows (progress every MiB) until the
# database is Following; false on timeout or when the follower died.
seen=0
show_follow_log() {
	deadline=$(($(date +%s) + $1))
	while :; do
		lines=$(wc -l <"$WORK/follow.log")
		if [ "$lines" -gt "$seen" ]; then
			sed -n "$((seen + 1)),${lines}p" "$WORK/follow.log" |
				sed -e 's/^[^a-z]*\(info\|warn\|error\)[]: ]*//' \
				    -e 's/^[0-9TZ:.-]* *//' |
				while IFS= read -r l; do
					[ -n "$l" ] || continue
					case $l in
					*": Bootstrapping "*)
						if [ -t 1 ]; then
							printf '\r    | %s ' "$l"
							BAR=1
							continue
						fi ;;
					esac
					[ -t 1 ] && printf '\r\033[K'
					printf '    | %s\n' "$l"
				done
			seen=$lines
		fi
		sed -n "1,${lines}p" "$WORK/follow.log" | grep -q 'kv: state Following' && return 0
		kill -0 "$FOLLOW_PID" 2>/dev/null || return 1
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}
start=$(date +%s)
show_follow_log 120 || die "the mirror did not reach Following"
say "${G}Following${N} after $(($(date +%s) - start)) s"
if [ $HAVE_API = 1 ]; then
	wait_for 10 test -s "$WORK/http.port" || die "the read API did not start"
	HTTP="http://127.0.0.1:$(cat "$WORK/http.port")"
	say "read API on $HTTP"
fi

# The mirror came up behind the burst: the first status sample past the
# bootstrap with a known, non-zero lag (the figures are the status
# file's, as sampled: typically while the kv copy is rebuilt from the
# snapshot and the wal, applied still behind the source's commit), then,
# once the burst stopped, the first with lag 0 while Following.
behind() {
	awk '$4 ~ /^[0-9]+$/ && ($4 > 0 || $5 > 0) && $1 != "Bootstrapping" { print; f = 1; exit } END { exit !f }' \
		"$WORK/lag.samples" 2>/dev/null
}
caught_up() {
	awk -v from="$1" 'NR > from && $1 == "Following" && $4 == "0" { print; f = 1; exit } END { exit !f }' \
		"$WORK/lag.samples" 2>/dev/null
}
sample_line() { # STATE APPLIED COMMIT LAG_ENTRIES LAG_MS
	printf 'mirror-agent status: %s, applied %s, source commit %s, lag %s entries / %s ms' "$@"
}
wait_for 30 behind || die "the mirror never reported a non-zero lag during the burst (samples in lag.samples)"
set -- $(behind)
say "behind the burst:  $(sample_line "$@")"
seen_at=$(grep -n -m 1 -F "$*" "$WORK/lag.samples" | cut -d: -f1)
touch "$WORK/burst.stop"
wait "$BURST_PID" 2>/dev/null || true
say "the burst put $(cat "$WORK/burst.done" 2>/dev/null || echo '?') values; it stops"
wait_for 30 caught_up "$seen_at" || die "the mirror did not report lag 0 after the burst"
set -- $(caught_up "$seen_at")
good "caught up:        $(sample_line "$@")"
touch "$WORK/sampler.stop"

# ---------------------------------------------------------------------------
# get PATH: the mirror's answer to GET PATH (read API).
api() { curl -sS --max-time 40 "$HTTP$1" 2>&1 || true; }
b64() { printf '%s' "$1" | base64 -d 2>/dev/null || printf '?'; }
position() { # JSON answer: the mirror's position it reports
	printf 'mirror at index %s, lag %s entries / %s ms' "$(field applied_index "$1")" \
		"$(field lag_entries "$1")" "$(field lag_ms "$1")"
}
curl_line() { say "\$ curl '$HTTP$1'"; }
status_line() {
	s=$("$AGENT" status --data-dir "$WORK/mirror" --json 2>/dev/null || true)
	printf '%s applied %s, source commit %s, lag %s entries / %s ms' \
		"$(field state "$s")" "$(field applied_index "$s")" \
		"$(field source_commit_index "$s")" "$(field lag_entries "$s")" \
		"$(field lag_ms "$s")"
}

step "Reading from the mirror while writes continue (${WRITE_SECONDS} s)"
# The writer: small puts into namespace 'live', bounded in count and time.
# Stopped by the cleanup with SIGTERM, which it passes on to its CLI.
(
	cpid=""
	trap '[ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null; exit 143' TERM
	end=$(($(date +%s) + WRITE_SECONDS))
	n=0
	while [ ! -f "$WORK/stop" ] && [ "$(date +%s)" -lt "$end" ] && [ $n -lt 300 ]; do
		timeout 60 "$CLI" --connect "$CLIENTS" --timeout 30 load --count 10 \
			--value-size 64 --namespace live --key-prefix "b$n-" \
			>/dev/null 2>>"$WORK/writer.log" &
		cpid=$!
		wait "$cpid" || true
		cpid=""
		n=$((n + 1))
		sleep 0.05
	done
	echo $((n * 10)) >"$WORK/writer.done"
) &
WRITER_PID=$!
PIDS="$PIDS $WRITER_PID"
say "a writer puts small values into namespace 'live' on the source meanwhile"
if [ $HAVE_API = 1 ]; then
	p="/v1/db/kv/get?ns=demo&key=greeting"
	curl_line "$p"
	r=$(api "$p")
	say "  value \"$(b64 "$(field value "$r")")\", version $(field version "$r"); $(position "$r")"
	p="/v1/db/kv/scan?ns=demo&prefix=users/"
	curl_line "$p"
	r=$(api "$p")
	printf '%s\n' "$r" | grep -o '{"key":"[^"]*","value":"[^"]*","version":[0-9]*}' |
		while IFS= read -r item; do
			say "  $(b64 "$(field key "$item")") = \"$(b64 "$(field value "$item")")\" (version $(field version "$item"))"
		done
	say "  $(field count "$r") keys (demo/usex/dave is outside the prefix); $(position "$r")"
	p="/v1/db/kv/fingerprint"
	curl_line "$p"
	r=$(api "$p")
	say "  fingerprint $(field fingerprint "$r") over $(field count "$r") keys (revision $(field revision "$r")); $(position "$r")"
	say "\$ curl -X PUT '$HTTP/v1/db/kv/get?ns=demo&key=greeting'"
	code=$(curl -s -o "$WORK/put.out" -w '%{http_code}' -X PUT \
		"$HTTP/v1/db/kv/get?ns=demo&key=greeting" || true)
	say "  $code $(field error "$(cat "$WORK/put.out")"): $(field message "$(cat "$WORK/put.out")")"
else
	say "mirror-agent wal dump ${WORK##*/}/mirror/kv/wal (last entries the mirror holds):"
	s=$("$AGENT" status --data-dir "$WORK/mirror" --json || true)
	a=$(field applied_index "$s")
	"$AGENT" wal dump "$WORK/mirror/kv/wal" --from $((a > 3 ? a - 2 : 1)) --count 3 2>&1 |
		cut -c 1-120 | sed "s/^/      ${D}|${N} /"
fi
say ""
say "every 2 s: a put on the source, then the same key read from the mirror"
say "with min_index = the index the source acknowledged, and the mirror's lag"
k=0
end=$(($(date +%s) + WRITE_SECONDS))
while [ "$(date +%s)" -lt "$end" ]; do
	k=$((k + 1))
	out=$(cli put demo counter "$k") || die "put failed: $out"
	idx=$(field index "$out")
	if [ $HAVE_API = 1 ]; then
		r=$(api "/v1/db/kv/get?ns=demo&key=counter&min_index=$idx")
		say "put demo counter $k -> acknowledged at index $idx; mirror (min_index=$idx): value \"$(b64 "$(field value "$r")")\", version $(field version "$r")"
	else
		say "put demo/counter=$k -> index $idx"
	fi
	dim "    mirror-agent status: $(status_line)"
	sleep 2
done
wait "$WRITER_PID" 2>/dev/null || true
say "the writer put $(cat "$WORK/writer.done" 2>/dev/null || echo '?') values into 'live'"

step "Mirror against source once the writes stopped"
fp=$(timeout --foreground 10 "$CLI" --connect "$(leader_client)" fingerprint) || die "no fingerprint from the leader"
applied=$(field applied "$fp")
say "source (leader):  fingerprint $(field fingerprint "$fp"), $(field count "$fp") keys, applied index $applied"
mirror_applied() {
	s=$("$AGENT" status --data-dir "$WORK/mirror" --json 2>/dev/null) &&
		[ "$(field applied_index "$s")" -ge "$applied" ]
}
wait_for 30 mirror_applied || die "the mirror did not reach index $applied"
if [ $HAVE_API = 1 ]; then
	m=$(api "/v1/db/kv/fingerprint?min_index=$applied")
	say "mirror:           fingerprint $(field fingerprint "$m"), $(field count "$m") keys, applied index $(field applied_index "$m")"
	if [ "$(field fingerprint "$m")" = "$(field fingerprint "$fp")" ]; then
		good "equal: the mirror holds exactly the source's data"
	else
		die "fingerprints differ"
	fi
fi
# The mirror's log is the source's committed log, entry for entry.
# Its log starts after the snapshot it bootstrapped from.
"$AGENT" wal verify "$WORK/mirror/kv/wal" >"$WORK/verify.out" 2>&1 ||
	die "mirror-agent wal verify of the mirror's log failed: $(tail -n 3 "$WORK/verify.out")"
first=$(sed -n 's/^first_index //p' "$WORK/verify.out")
last=$(sed -n 's/^last_index //p' "$WORK/verify.out")
from=$((last > 2000 ? last - 1999 : 1))
[ "$from" -ge "$first" ] || from=$first
count=$((last - from + 1))
"$AGENT" wal dump "$WORK/mirror/kv/wal" --from $from --count $count >"$WORK/mirror.dump" 2>&1 || true
"$AGENT" wal dump "$WORK/node1/spool/wal" --from $from --count $count >"$WORK/node1.dump" 2>&1 || true
if [ "$(wc -l <"$WORK/mirror.dump")" -ge $count ] && cmp -s "$WORK/mirror.dump" "$WORK/node1.dump"; then
	good "log entries $from..$last: identical to node 1's spool (mirror-agent wal dump)"
else
	die "the mirror's log differs from node 1's spool over $from..$last"
fi
say "mirror: $(status_line)"

if [ $HAVE_API = 1 ]; then
	say "\$ curl $HTTP/metrics   (excerpt)"
	curl -sS --max-time 10 "$HTTP/metrics" 2>/dev/null |
		grep -E '^mirror_(applied_index|source_commit_index|lag_entries|lag_ms|reconnects_total)[{ ]' |
		sed 's/^/      /' || true
fi

printf '\n%s==> Where to look next%s\n' "$B" "$N"
if [ "${DEMO_HOLD:-0}" = 1 ]; then
	say "mirror-agent status --data-dir $WORK/mirror"
	say "                                      state, bytes, applied index, lag, reconnects"
	if [ $HAVE_API = 1 ]; then
		say "$HTTP/            the status page (a browser)"
		say "curl $HTTP/status     the same as JSON, per database"
		say "curl $HTTP/metrics    Prometheus metrics"
		say "curl '$HTTP/v1/db/kv/get?ns=demo&key=counter&min_index=N'"
		say "                                      a read that waits until the mirror applied index N"
	fi
else
	# The addresses would be dead by the time anyone tried them: the
	# cleanup follows at once.
	say "the cluster and the mirror stop now, with the demo; to try them, run"
	say "DEMO_HOLD=1 scripts/demo.sh           keeps them running until Ctrl-C"
	say "mirror-agent status --data-dir DIR   state, bytes, applied index, lag, reconnects"
	say "/, /status and /metrics on the read API: the status page, JSON, Prometheus"
fi
say "docs/OPERATIONS.md                    running it; sections 'The demo' and"
say "                                      'Running against your own cluster'"
if [ "${DEMO_HOLD:-0}" = 1 ]; then
	say ""
	say "DEMO_HOLD=1: running until Ctrl-C; try:"
	say "  $AGENT status --data-dir $WORK/mirror"
	say "  $CLI --connect $CLIENTS put demo greeting hi"
	[ $HAVE_API = 1 ] && say "  curl '$HTTP/v1/db/kv/get?ns=demo&key=greeting&min_index=N'   (N: the index=N the put printed)"
	while :; do sleep 1; done
fi
printf '\ndemo finished in %d s\n' "$(($(date +%s) - T0))"
