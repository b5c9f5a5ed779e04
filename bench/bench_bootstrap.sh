#!/bin/sh
# bench_bootstrap.sh: snapshot bootstrap throughput over loopback through the
# real `mirror-agent serve` + `mirror-agent follow`, next to two baselines
# measured in the same run on the same file and the same disk:
#   (a) nginx (TLS 1.3 only, client certificate required) serving the
#       snapshot file and curl --tlsv1.3 downloading it to a file, then
#       fsync of that file (`sync FILE`), as the mirror fsyncs;
#   (b) a local copy with fsync: dd bs=1M conv=fsync.
# Prints each run, the medians, and the ratios mirror/nginx+curl and
# mirror/dd. Not a test.
#
# usage: bench_bootstrap.sh [-s MIB] [-r RUNS] [-t SECONDS] [-S] [DIR]
#   -s snapshot size in MiB (default 1024)   -r runs (default 3)
#   -t time limit of each transfer in seconds (default 300)
#   -S skip the mirror (baselines only, e.g. before serve/follow work)
#   DIR scratch parent directory (default /tmp); everything the bench makes
#       lives in one mktemp dir under it and is removed at exit, Ctrl-C
#       included.
# Environment: SERVE_ARGS (extra `serve` options, e.g. "--cc bbr2"),
# FOLLOW_ARGS (extra `follow` options), MIRROR_AGENT, SPOOLGEN (binaries;
# default: the build tree, $abs_top_builddir or the current directory).
#
# Timing: the mirror from the start of `follow --exit-when-following` (with
# an empty data dir) to its exit once the database is Following (snapshot
# received, CRC-checked, fsynced, renamed, log tail caught up); curl from
# its start to the end of the fsync; dd as a whole.
set -u

SIZE_MIB=1024
RUNS=3
LIMIT=300
SKIP_MIRROR=0
while getopts s:r:t:S opt; do
	case $opt in
	s) SIZE_MIB=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	t) LIMIT=$OPTARG ;;
	S) SKIP_MIRROR=1 ;;
	*)
		sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d' >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
PARENT=${1:-/tmp}

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${abs_top_builddir:-$(pwd)}
AGENT=${MIRROR_AGENT:-$BUILDDIR/mirror-agent}
SPOOLGEN=${SPOOLGEN:-$BUILDDIR/tests/tools/spoolgen}
SERVE_ARGS=${SERVE_ARGS:-}
FOLLOW_ARGS=${FOLLOW_ARGS:-}
SIZE=$((SIZE_MIB * 1048576))
DB=benchdb

die() {
	echo "bench_bootstrap: $*" >&2
	exit 1
}

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

# ---- scratch dir, processes, cleanup ----

W=$(mktemp -d "$PARENT/ma-bench-boot-XXXXXX") || die "cannot make a dir in $PARENT"
PIDS=""
CHILD=""
cleanup() {
	trap - EXIT INT TERM
	for p in $CHILD $PIDS; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.2
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'echo "bench_bootstrap: interrupted" >&2; exit 130' INT TERM

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
mbps() { awk -v s="$SIZE" -v t="$1" 'BEGIN { printf "%.1f", s / 1e6 / t }'; }
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

"$SRCDIR/tests/certs/gen-certs.sh" "$W/pki" >/dev/null 2>&1 ||
	die "cannot generate certificates (tests/certs/gen-certs.sh)"
chmod 600 "$W"/pki/*.key
PKI=$W/pki

# ---- the snapshot file ----

mkdir -p "$W/www"
if [ "$SKIP_MIRROR" = 0 ]; then
	echo "# making a $SIZE_MIB MiB snapshot with spoolgen ..."
	"$SPOOLGEN" init "$W/spool" --database "$DB" >/dev/null &&
		"$SPOOLGEN" append "$W/spool" --from 1 --count 100 --term 1 >/dev/null &&
		"$SPOOLGEN" snapshot "$W/spool" --index 100 --term 1 --size "$SIZE" >/dev/null &&
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
		listen 127.0.0.1:$NGINX_PORT ssl;
		ssl_certificate $PKI/server.pem;
		ssl_certificate_key $PKI/server.key;
		ssl_protocols TLSv1.3;
		ssl_client_certificate $PKI/ca.pem;
		ssl_verify_client on;
		root $W/www;
	}
}
EOF
		"$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" -e "$W/nginx/error.log" \
			>"$W/nginx/stdout.log" 2>&1 &
		NGINX_PID=$!
		PIDS="$PIDS $NGINX_PID"
		i=0
		while [ $i -lt 100 ]; do
			if curl -s -o /dev/null --max-time 2 --tlsv1.3 \
				--cacert "$PKI/ca.pem" --cert "$PKI/mirror-1.pem" \
				--key "$PKI/mirror-1.key" -r 0-0 \
				"https://localhost:$NGINX_PORT/snapshot"; then
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

# The run_* functions set T to the seconds taken (no command substitution:
# it would run them in a subshell that the cleanup cannot see).
run_curl() {
	rm -f "$W/curl.out"
	t0=$(now)
	bg timeout "$LIMIT" curl -s --fail --tlsv1.3 --cacert "$PKI/ca.pem" \
		--cert "$PKI/mirror-1.pem" --key "$PKI/mirror-1.key" \
		-o "$W/curl.out" "https://localhost:$NGINX_PORT/snapshot" ||
		die "curl failed"
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

start_serve() {
	"$AGENT" serve --listen 127.0.0.1:0 --port-file "$W/serve.port" \
		--cert "$PKI/server.pem" --key "$PKI/server.key" \
		--client-ca "$PKI/ca.pem" --database "$DB=$W/spool" \
		--allow "mirror-1=$DB" --log-level warn $SERVE_ARGS \
		>"$W/serve.log" 2>&1 &
	SERVE_PID=$!
	PIDS="$PIDS $SERVE_PID"
	wait_file 20 "$W/serve.port" || {
		sed 's/^/# /' "$W/serve.log" >&2
		die "serve did not start"
	}
	SERVE_PORT=$(cat "$W/serve.port")
}

run_mirror() {
	rm -rf "$W/mirror"
	t0=$(now)
	# shellcheck disable=SC2086
	bg timeout "$LIMIT" "$AGENT" follow --data-dir "$W/mirror" \
		--source "127.0.0.1:$SERVE_PORT" --ca "$PKI/ca.pem" \
		--cert "$PKI/mirror-1.pem" --key "$PKI/mirror-1.key" \
		--server-name localhost --database "$DB" --exit-when-following \
		$FOLLOW_ARGS >"$W/follow.log" 2>&1
	rc=$?
	t1=$(now)
	if [ $rc -ne 0 ]; then
		tail -n 20 "$W/follow.log" | sed 's/^/# /' >&2
		die "follow exited with status $rc"
	fi
	got=$(ls "$W/mirror/$DB/snapshots/"*.snapshot 2>/dev/null | head -n 1)
	[ -n "$got" ] && bg cmp -s "$SNAP" "$got" ||
		die "mirror: snapshot missing or different"
	rm -rf "$W/mirror"
	T=$(elapsed "$t0" "$t1")
}

# ---- runs ----

start_nginx
[ "$SKIP_MIRROR" = 1 ] || start_serve
echo "# bootstrap of $SIZE_MIB MiB over loopback, $RUNS runs, scratch $W"
echo "# $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
M="" C="" D=""
r=0
while [ $r -lt "$RUNS" ]; do
	r=$((r + 1))
	line="run $r"
	if [ "$SKIP_MIRROR" = 0 ]; then
		run_mirror
		m=$T
		M="$M $m"
		line="$line  mirror $m s ($(mbps "$m") MB/s)"
	fi
	run_curl
	c=$T
	run_dd
	d=$T
	C="$C $c"
	D="$D $d"
	echo "$line  nginx+curl $c s ($(mbps "$c") MB/s)  dd $d s ($(mbps "$d") MB/s)"
done

# shellcheck disable=SC2086
mc=$(median $C)
# shellcheck disable=SC2086
md=$(median $D)
printf '%-26s %8.3f s %8.1f MB/s\n' "nginx+curl (TLS 1.3)+fsync" "$mc" "$(mbps "$mc")"
printf '%-26s %8.3f s %8.1f MB/s\n' "dd bs=1M conv=fsync" "$md" "$(mbps "$md")"
if [ "$SKIP_MIRROR" = 0 ]; then
	# shellcheck disable=SC2086
	mm=$(median $M)
	printf '%-26s %8.3f s %8.1f MB/s\n' "mirror serve+follow" "$mm" "$(mbps "$mm")"
	awk -v m="$mm" -v c="$mc" -v d="$md" 'BEGIN {
		printf "ratio mirror / nginx+curl  %.2f\n", c / m;
		printf "ratio mirror / dd          %.2f\n", d / m }'
fi
