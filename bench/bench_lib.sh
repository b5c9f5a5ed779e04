# bench_lib.sh: the parts of the bootstrap benchmarks that bench_bootstrap.sh
# (loopback) and bench_wan.sh (an emulated link) share, sourced by both:
# the scratch dir and cleanup, the PKI, the snapshot, nginx (TLS 1.3 only,
# client certificate required) and curl, `serve` and `follow`, medians.
#
# The caller sets BENCH (its name, for messages), PARENT (where the scratch
# dir goes), SIZE_MIB, LIMIT (seconds per transfer), SKIP_MIRROR (0/1),
# then calls bench_init. Where the processes run is set by
#   SRV_EXEC  command prefix for nginx and serve (e.g. "ip netns exec NS")
#   CLI_EXEC  command prefix for curl and follow
#   SRV_ADDR  the address nginx and serve listen on (default 127.0.0.1)
# (empty prefixes: this namespace). Environment: SERVE_ARGS, FOLLOW_ARGS
# (extra options), MIRROR_AGENT, SPOOLGEN (binaries; default: the build
# tree, $abs_top_builddir or the current directory), SNAPSHOT_FROM (a file
# whose bytes, repeated to the size, are the snapshot's instead of
# spoolgen's random ones: e.g. a real snapshot kept by
# bench_compress.sh -o).

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${abs_top_builddir:-$(pwd)}
AGENT=${MIRROR_AGENT:-$BUILDDIR/mirror-agent}
SPOOLGEN=${SPOOLGEN:-$BUILDDIR/tests/tools/spoolgen}
SERVE_ARGS=${SERVE_ARGS:-}
FOLLOW_ARGS=${FOLLOW_ARGS:-}
SRV_EXEC=${SRV_EXEC:-}
CLI_EXEC=${CLI_EXEC:-}
SRV_ADDR=${SRV_ADDR:-127.0.0.1}
DB=benchdb
PIDS=""
CHILD=""
NGINX_PID=""
SERVE_PID=""

die() {
	echo "$BENCH: $*" >&2
	exit 1
}

# bench_cleanup_hook: the caller may redefine it (run first at exit).
bench_cleanup_hook() { :; }
cleanup() {
	trap - EXIT INT TERM
	for p in $CHILD $PIDS; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.2
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
	bench_cleanup_hook
	wait 2>/dev/null
	rm -rf "$W"
}

now() { date +%s.%N; }
# bg CMD...: runs CMD in the background and waits for it, so that a signal
# reaches the trap at once (the shell defers traps while a foreground
# command runs); returns CMD's status.
bg() {
	"$@" &
	CHILD=$!
	wait "$CHILD"
	rc=$?
	CHILD=""
	return $rc
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
mbps() { awk -v s="$SIZE" -v t="$1" 'BEGIN { printf "%.2f", s / 1e6 / t }'; }
median() { # values as arguments
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR % 2) print v[(NR + 1) / 2];
		      else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
wait_file() { # SECONDS FILE
	i=0
	while [ ! -s "$2" ]; do
		i=$((i + 1))
		[ $i -le $(($1 * 20)) ] || return 1
		sleep 0.05
	done
}

# bench_init: checks the tools, makes the scratch dir W, the PKI and the
# snapshot file SNAP (spoolgen's snapshot in a spool, or random bytes with
# SKIP_MIRROR=1); installs the cleanup.
bench_init() {
	SIZE=$((SIZE_MIB * 1048576))
	for tool in curl dd openssl timeout; do
		command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
	done
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
	[ -x "$NGINX" ] || die "nginx not found (scripts/setup.sh installs nginx-light)"
	if [ "$SKIP_MIRROR" = 0 ]; then
		[ -x "$AGENT" ] || die "$AGENT not built (make mirror-agent), or use -S"
		[ -x "$SPOOLGEN" ] ||
			die "$SPOOLGEN not built (make tests/tools/spoolgen), or use -S"
	fi
	W=$(mktemp -d "$PARENT/ma-$BENCH-XXXXXX") || die "cannot make a dir in $PARENT"
	trap cleanup EXIT
	trap 'echo "$BENCH: interrupted" >&2; exit 130' INT TERM
	"$SRCDIR/tests/certs/gen-certs.sh" "$W/pki" >/dev/null 2>&1 ||
		die "cannot generate certificates (tests/certs/gen-certs.sh)"
	chmod 600 "$W"/pki/*.key
	PKI=$W/pki
	mkdir -p "$W/www"
	if [ "$SKIP_MIRROR" = 0 ]; then
		echo "# making a $SIZE_MIB MiB snapshot with spoolgen${SNAPSHOT_FROM:+ from $SNAPSHOT_FROM} ..."
		"$SPOOLGEN" init "$W/spool" --database "$DB" >/dev/null &&
			"$SPOOLGEN" append "$W/spool" --from 1 --count 100 --term 1 >/dev/null &&
			"$SPOOLGEN" snapshot "$W/spool" --index 100 --term 1 --size "$SIZE" \
				${SNAPSHOT_FROM:+--from-file "$SNAPSHOT_FROM"} >/dev/null &&
			"$SPOOLGEN" append "$W/spool" --count 100 --term 1 >/dev/null ||
			die "spoolgen failed"
		SNAP=$W/spool/snapshots/100-1.snapshot
		[ -f "$SNAP" ] || die "spoolgen made no $SNAP"
		ln "$SNAP" "$W/www/snapshot" 2>/dev/null || cp "$SNAP" "$W/www/snapshot"
	else
		echo "# making a $SIZE_MIB MiB file ..."
		head -c "$SIZE" /dev/urandom >"$W/www/snapshot" || die "cannot make the file"
	fi
	SNAP=$W/www/snapshot
}

# curl_args: TLS 1.3 with the test PKI; "localhost" (the server
# certificate's name) resolves to SRV_ADDR.
curl_args() {
	echo "--tlsv1.3 --cacert $PKI/ca.pem --cert $PKI/mirror-1.pem" \
		"--key $PKI/mirror-1.key --resolve localhost:$NGINX_PORT:$SRV_ADDR"
}

# ---- nginx ----

start_nginx() {
	mkdir -p "$W/nginx/tmp"
	tries=0
	while [ $tries -lt 10 ]; do
		tries=$((tries + 1))
		NGINX_PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		cat >"$W/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $W/nginx/tmp/body;
	proxy_temp_path $W/nginx/tmp/proxy;
	fastcgi_temp_path $W/nginx/tmp/fastcgi;
	uwsgi_temp_path $W/nginx/tmp/uwsgi;
	scgi_temp_path $W/nginx/tmp/scgi;
	default_type application/octet-stream;
	sendfile on;
	server {
		listen $SRV_ADDR:$NGINX_PORT ssl;
		ssl_certificate $PKI/server.pem;
		ssl_certificate_key $PKI/server.key;
		ssl_protocols TLSv1.3;
		ssl_client_certificate $PKI/ca.pem;
		ssl_verify_client on;
		root $W/www;
	}
}
EOF
		# shellcheck disable=SC2086
		$SRV_EXEC "$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" \
			-e "$W/nginx/error.log" >"$W/nginx/stdout.log" 2>&1 &
		NGINX_PID=$!
		PIDS="$PIDS $NGINX_PID"
		i=0
		while [ $i -lt 100 ]; do
			# shellcheck disable=SC2046,SC2086
			if $SRV_EXEC curl -s -o /dev/null --max-time 2 $(curl_args) \
				-r 0-0 "https://localhost:$NGINX_PORT/snapshot"; then
				return 0
			fi
			kill -0 "$NGINX_PID" 2>/dev/null || break
			i=$((i + 1))
			sleep 0.05
		done
		kill "$NGINX_PID" 2>/dev/null
		wait "$NGINX_PID" 2>/dev/null
	done
	sed 's/^/# /' "$W/nginx/error.log" "$W/nginx/stdout.log" >&2
	die "nginx did not start"
}

stop_nginx() {
	[ -n "$NGINX_PID" ] || return 0
	kill -TERM "$NGINX_PID" 2>/dev/null
	wait "$NGINX_PID" 2>/dev/null
	NGINX_PID=""
}

# The run_* functions set T to the seconds taken (no command substitution:
# it would run them in a subshell that the cleanup cannot see).
run_curl() {
	rm -f "$W/curl.out"
	t0=$(now)
	# shellcheck disable=SC2046,SC2086
	bg $CLI_EXEC timeout "$LIMIT" curl -s --fail $(curl_args) \
		-o "$W/curl.out" "https://localhost:$NGINX_PORT/snapshot" ||
		die "curl failed (or took more than $LIMIT s)"
	bg sync "$W/curl.out" || die "sync failed"
	t1=$(now)
	bg cmp -s "$SNAP" "$W/curl.out" || die "curl: downloaded file differs"
	rm -f "$W/curl.out"
	T=$(elapsed "$t0" "$t1")
}

run_dd() {
	rm -f "$W/dd.out"
	t0=$(now)
	bg timeout "$LIMIT" dd if="$SNAP" of="$W/dd.out" bs=1M conv=fsync \
		status=none || die "dd failed"
	t1=$(now)
	rm -f "$W/dd.out"
	T=$(elapsed "$t0" "$t1")
}

# ---- mirror-agent ----

# start_serve [OPTION...]: serve with SERVE_ARGS and the options given.
start_serve() {
	rm -f "$W/serve.port"
	# shellcheck disable=SC2086
	$SRV_EXEC "$AGENT" serve --listen "$SRV_ADDR:0" --port-file "$W/serve.port" \
		--cert "$PKI/server.pem" --key "$PKI/server.key" \
		--client-ca "$PKI/ca.pem" --database "$DB=$W/spool" \
		--allow "mirror-1=$DB" --log-level warn $SERVE_ARGS "$@" \
		>"$W/serve.log" 2>&1 &
	SERVE_PID=$!
	PIDS="$PIDS $SERVE_PID"
	wait_file 20 "$W/serve.port" || {
		sed 's/^/# /' "$W/serve.log" >&2
		die "serve did not start"
	}
	SERVE_PORT=$(cat "$W/serve.port")
}

stop_serve() {
	[ -n "$SERVE_PID" ] || return 0
	kill -TERM "$SERVE_PID" 2>/dev/null
	wait "$SERVE_PID" 2>/dev/null
	SERVE_PID=""
}

run_mirror() {
	rm -rf "$W/mirror"
	t0=$(now)
	# shellcheck disable=SC2086
	bg $CLI_EXEC timeout "$LIMIT" "$AGENT" follow --data-dir "$W/mirror" \
		--source "$SRV_ADDR:$SERVE_PORT" --ca "$PKI/ca.pem" \
		--cert "$PKI/mirror-1.pem" --key "$PKI/mirror-1.key" \
		--server-name localhost --database "$DB" --exit-when-following \
		$FOLLOW_ARGS >"$W/follow.log" 2>&1
	rc=$?
	t1=$(now)
	if [ $rc -ne 0 ]; then
		tail -n 20 "$W/follow.log" | sed 's/^/# /' >&2
		die "follow exited with status $rc (124: more than $LIMIT s)"
	fi
	got=$(ls "$W/mirror/$DB/snapshots/"*.snapshot 2>/dev/null | head -n 1)
	[ -n "$got" ] && bg cmp -s "$SNAP" "$got" ||
		die "mirror: snapshot missing or different"
	rm -rf "$W/mirror"
	T=$(elapsed "$t0" "$t1")
}
