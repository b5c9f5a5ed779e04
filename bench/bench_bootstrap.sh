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

BENCH=bench_bootstrap
# shellcheck source=bench/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"
bench_init

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
