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
# usage: bench_bootstrap.sh [-s MIB] [-r RUNS] [-t SECONDS] [-S]
#                           [-m "MIRROR_CCS"] [DIR]
#   -s snapshot size in MiB (default 1024)   -r runs (default 3)
#   -t time limit of each transfer in seconds (default 300)
#   -S skip the mirror (baselines only, e.g. before serve/follow work)
#   -m the mirror's congestion controls (`serve --cc`), each run in turn
#      in every round, serve restarted for each (default: one serve with
#      its configured default); the first is the one of the ratios, the
#      others get a line `ratio mirror[CC] / nginx+curl R` each
#   DIR scratch parent directory (default /tmp); everything the bench makes
#       lives in one mktemp dir under it and is removed at exit, Ctrl-C
#       included.
# Environment: SERVE_ARGS (extra `serve` options, e.g. "--cc bbr2"),
# FOLLOW_ARGS (extra `follow` options), MIRROR_AGENT, SPOOLGEN (binaries;
# default: the build tree, $abs_top_builddir or the current directory),
# KEEP_LOGS (a directory: each mirror run's follow log and serve's log are
# copied there, e.g. with "--log-level debug" in SERVE_ARGS and FOLLOW_ARGS
# for the connection statistics), MA_QLOG_DIR (qlogs, see OPERATIONS.md).
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
MIRROR_CCS=""
while getopts s:r:t:Sm: opt; do
	case $opt in
	s) SIZE_MIB=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	t) LIMIT=$OPTARG ;;
	S) SKIP_MIRROR=1 ;;
	m) MIRROR_CCS=$OPTARG ;;
	*)
		sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d' >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
PARENT=${1:-/tmp}

BENCH=bench_bootstrap
# shellcheck source=bench/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"
bench_init

# ---- runs ----

keep_logs() { # NAME
	[ -n "${KEEP_LOGS:-}" ] || return 0
	mkdir -p "$KEEP_LOGS"
	cp "$W/follow.log" "$KEEP_LOGS/$1.follow.log"
	cp "$W/serve.log" "$KEEP_LOGS/$1.serve.log"
}

start_nginx
[ "$SKIP_MIRROR" = 1 ] || [ -n "$MIRROR_CCS" ] || start_serve
echo "# bootstrap of $SIZE_MIB MiB over loopback, $RUNS runs," \
	"mirror cc: ${MIRROR_CCS:-the configured default}, scratch $W"
echo "# $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
M="" C="" D=""
r=0
while [ $r -lt "$RUNS" ]; do
	r=$((r + 1))
	line="run $r"
	if [ "$SKIP_MIRROR" = 0 ] && [ -z "$MIRROR_CCS" ]; then
		run_mirror
		keep_logs "run-$r"
		m=$T
		M="$M $m"
		line="$line  mirror $m s ($(mbps "$m") MB/s)"
	fi
	if [ "$SKIP_MIRROR" = 0 ]; then
		for cc in $MIRROR_CCS; do
			start_serve --cc "$cc"
			run_mirror
			stop_serve
			keep_logs "run-$r-$cc"
			echo "$T" >>"$W/mirror[$cc]"
			[ "$cc" != "${MIRROR_CCS%% *}" ] || M="$M $T"
			line="$line  mirror[$cc] $T s ($(mbps "$T") MB/s)"
		done
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
	printf '%-26s %8.3f s %8.1f MB/s\n' "mirror serve+follow${MIRROR_CCS:+[${MIRROR_CCS%% *}]}" "$mm" "$(mbps "$mm")"
	awk -v m="$mm" -v c="$mc" -v d="$md" 'BEGIN {
		printf "ratio mirror / nginx+curl  %.2f\n", c / m;
		printf "ratio mirror / dd          %.2f\n", d / m }'
	for cc in $MIRROR_CCS; do
		[ "$cc" != "${MIRROR_CCS%% *}" ] || continue
		# shellcheck disable=SC2046
		mo=$(median $(cat "$W/mirror[$cc]"))
		printf '%-26s %8.3f s %8.1f MB/s\n' "mirror[$cc]" "$mo" "$(mbps "$mo")"
		awk -v m="$mo" -v c="$mc" -v cc="$cc" 'BEGIN {
			printf "ratio mirror[%s] / nginx+curl  %.2f\n", cc, c / m }'
	done
fi
echo "# load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
