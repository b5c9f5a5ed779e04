#!/bin/sh
# bench_tail.sh: tail latency, from an append on the source spool to durable
# in the mirror's wal, through the real `serve` and `follow`, at 1k, 10k and
# 50k entries/s of 256 bytes, and the highest rate the mirror sustains;
# bench/bench_tail (C) writes the entries (as the tap: fdatasync every
# 10 ms) and times the mirror's "wal durable through N" log lines. Each
# variant of the mirror's wal group commit runs in the same run, so their
# ratios compare like with like. Not a test.
#
# usage: bench_tail.sh [-p PROFILE]... [-r RUNS] [-s SECONDS] [-v VARIANTS]
#                      [-R RATES] [-m RAMP] [DIR]
#   -p L (loopback, default), A (30 ms RTT, 10 Mbit/s, 25-packet queue), B
#      (50 ms RTT, 1 % loss each way, 100 Mbit/s): A and B cross linkemu
#      (root); their latencies are printed minus the one-way delay
#   -r runs (default 3)            -s seconds per rate (default 5)
#   -v the mirror's variants (default "default"):
#      default   the binary's defaults (no --set: commit on arrival while
#                fdatasync takes at most wal_sync_budget = 25 % of the
#                time, wal_sync_interval 100ms as the upper bound)
#      interval  [follow] wal_sync_interval = 100ms
#      arrival   wal_sync_interval = 0: one fdatasync per batch received
#                (what arrives meanwhile is the next batch)
#      Nms       wal_sync_interval = N ms (e.g. 2ms)
#      budgetN   wal_sync_budget = N (percent, 1-100)
#      before    wal_sync_interval = 100ms with the binary in $BEFORE_AGENT
#                (a build of the code before a change: same-run ratios)
#   -R rates (default 1000,10000,50000)
#   -m the ramp for the highest sustained rate (default
#      100000,200000,400000; "none" to skip)
#   DIR scratch parent (default /tmp; the wal's fsyncs hit its disk)
# Environment: MIRROR_AGENT, SPOOLGEN, BENCH_TAIL, LINKEMU (binaries;
# default the build tree: $abs_top_builddir or the current directory).
#
# Prints every run's lines, then per profile, variant and rate the medians
# over the runs of p50/p99/p999 and fdatasyncs/s (the mirror's durable
# advances), the ratio of each variant's p99 to the first's, the load
# average, and the disk's own fdatasync time (probed by bench_tail before
# each run on the scratch file system: the baseline of the group commit).
set -u

PROFILES=""
RUNS=3
SECS=5
VARIANTS="default"
RATES=1000,10000,50000
RAMP=100000,200000,400000
while getopts p:r:s:v:R:m: opt; do
	case $opt in
	p) PROFILES="$PROFILES $OPTARG" ;;
	r) RUNS=$OPTARG ;;
	s) SECS=$OPTARG ;;
	v) VARIANTS=$OPTARG ;;
	R) RATES=$OPTARG ;;
	m) RAMP=$OPTARG ;;
	*)
		sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d' >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
PARENT=${1:-/tmp}
PROFILES=${PROFILES:-L}
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${abs_top_builddir:-$(pwd)}
AGENT=${MIRROR_AGENT:-$BUILDDIR/mirror-agent}
SPOOLGEN=${SPOOLGEN:-$BUILDDIR/tests/tools/spoolgen}
BENCH_TAIL=${BENCH_TAIL:-$BUILDDIR/bench/bench_tail}
LINKEMU=${LINKEMU:-$BUILDDIR/tests/tools/linkemu}
die() {
	echo "bench_tail: $*" >&2
	exit 1
}
for b in "$AGENT" "$SPOOLGEN" "$BENCH_TAIL"; do
	[ -x "$b" ] || die "$b not built (make mirror-agent tests/tools/spoolgen bench/bench_tail)"
done
for v in $VARIANTS; do
	case $v in
	default | interval | arrival | [0-9]*ms | budget[0-9]*) ;;
	before) [ -x "${BEFORE_AGENT:-}" ] || die "variant before: set BEFORE_AGENT to a mirror-agent binary" ;;
	*) die "unknown variant '$v'" ;;
	esac
done
# shellcheck source=tests/tools/linkemu.sh
. "$SRCDIR/tests/tools/linkemu.sh"
W=$(mktemp -d "$PARENT/ma-bench-tail-XXXXXX") || die "cannot make a dir in $PARENT"
SPID=""
FPID=""
cleanup() {
	trap - EXIT INT TERM
	for p in $FPID $SPID; do kill -TERM "$p" 2>/dev/null; done
	linkemu_down
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'echo "bench_tail: interrupted" >&2; exit 130' INT TERM
"$SRCDIR/tests/certs/gen-certs.sh" "$W/pki" >/dev/null 2>&1 || die "cannot generate certificates"
chmod 600 "$W"/pki/*.key
PKI=$W/pki

profile_args() {
	case $1 in
	A) echo "--delay-ms 15 --rate-kbit 10000 --queue 25" ;;
	B) echo "--delay-ms 25 --loss 1 --rate-kbit 100000 --queue 400" ;;
	*) return 1 ;;
	esac
}
owd_of() { case $1 in A) echo 15 ;; B) echo 25 ;; *) echo 0 ;; esac; }
for p in $PROFILES; do
	[ "$p" = L ] || profile_args "$p" >/dev/null || die "unknown profile '$p' (L, A or B)"
done

# one_run PROFILE VARIANT RUN: a fresh spool and mirror, serve, follow
# piped into bench_tail; its lines go to stdout and $W/results.
one_run() {
	rm -rf "$W/spool" "$W/mirror" "$W/port"
	"$SPOOLGEN" init "$W/spool" --database tail >/dev/null &&
		"$SPOOLGEN" append "$W/spool" --from 1 --count 100 --term 1 >/dev/null &&
		"$SPOOLGEN" snapshot "$W/spool" --index 100 --term 1 --size 65536 >/dev/null ||
		die "spoolgen failed"
	fagent=$AGENT
	set=""
	case $2 in
	default) ;;
	interval) set=follow.wal_sync_interval=100ms ;;
	arrival) set=follow.wal_sync_interval=0 ;;
	before) set=follow.wal_sync_interval=100ms fagent=$BEFORE_AGENT ;;
	budget*) set=follow.wal_sync_budget=${2#budget} ;;
	*) set=follow.wal_sync_interval=$2 ;;
	esac
	$SRV_EXEC "$AGENT" serve --listen "$SRV_ADDR:0" --port-file "$W/port" \
		--cert "$PKI/server.pem" --key "$PKI/server.key" --client-ca "$PKI/ca.pem" \
		--database "tail=$W/spool" --allow mirror-1=tail >"$W/serve.log" 2>&1 &
	SPID=$!
	i=0
	while [ ! -s "$W/port" ]; do
		i=$((i + 1))
		[ $i -le 200 ] || die "serve did not start: $(tail -n 3 "$W/serve.log")"
		sleep 0.05
	done
	rm -f "$W/log.fifo"
	mkfifo "$W/log.fifo" || die "mkfifo failed"
	$CLI_EXEC "$fagent" follow --data-dir "$W/mirror" --source "$SRV_ADDR:$(cat "$W/port")" \
		--ca "$PKI/ca.pem" --cert "$PKI/mirror-1.pem" --key "$PKI/mirror-1.key" \
		--server-name localhost --database tail --log-level debug \
		${set:+--set "$set"} >"$W/log.fifo" 2>&1 &
	FPID=$!
	"$BENCH_TAIL" --spool "$W/spool" --rates "$RATES" --seconds "$SECS" \
		--owd-ms "$(owd_of "$1")" --label "$1 $2 run $3" \
		$([ "$RAMP" = none ] || echo "--ramp $RAMP") <"$W/log.fifo" |
		tee -a "$W/results"
	kill -TERM "$FPID" "$SPID" 2>/dev/null
	wait "$FPID" "$SPID" 2>/dev/null
	FPID="" SPID=""
}

echo "# bench_tail: $RUNS run(s) of $SECS s per rate; rates $RATES; ramp $RAMP;" \
	"profiles$(printf ' %s' $PROFILES); variants $VARIANTS"
echo "# $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg); scratch $W" \
	"($(df -P "$W" | awk 'NR == 2 { print $1 }'))"
for p in $PROFILES; do
	if [ "$p" = L ]; then
		SRV_EXEC="" CLI_EXEC="" SRV_ADDR=127.0.0.1
	else
		# shellcheck disable=SC2046
		linkemu_up $(profile_args "$p") --seed 12 || die "cannot build the link"
		SRV_EXEC="ip netns exec $LE_NS_B" CLI_EXEC="ip netns exec $LE_NS_A"
		SRV_ADDR=$LE_ADDR_B
		echo "# profile $p: linkemu $(profile_args "$p")"
	fi
	r=0
	while [ $r -lt "$RUNS" ]; do
		r=$((r + 1))
		for v in $VARIANTS; do one_run "$p" "$v" "$r"; done
	done
	[ "$p" = L ] || linkemu_down
done

# Medians over the runs: "P V rate R: N entries, p50 A ms p99 B ms p999 C ms"
echo "# medians over $RUNS run(s); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
first=$(echo "$VARIANTS" | awk '{ print $1 }')
awk -v first="$first" '
	$5 == "rate" && $8 == "entries," {
		k = $1 " " $2 " " $6; n[k]++
		p50[k, n[k]] = $10; p99[k, n[k]] = $13; p999[k, n[k]] = $16; fs[k, n[k]] = $21
		if (!(k in seen)) { seen[k] = 1; order[++no] = k }
	}
	$2 ~ /./ && $5 == "max" && $6 == "sustained" { ms[$1 " " $2] = ms[$1 " " $2] " " $8 }
	$5 == "disk:" && $11 == "p50" { nd[$1]++; d50[$1, nd[$1]] = $12; d99[$1, nd[$1]] = $18 }
	function med(a, k, c,   i, j, t, v) {
		for (i = 1; i <= c; i++) v[i] = a[k, i]
		for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
	}
	END {
		for (i = 1; i <= no; i++) {
			k = order[i]; split(k, f, " ")
			m99[k] = med(p99, k, n[k])
			printf "profile %s %-8s rate %s: p50 %.2f ms p99 %.2f ms p999 %.2f ms %.0f fdatasyncs/s (medians of %d)\n",
				f[1], f[2], substr(f[3], 1, length(f[3]) - 1), med(p50, k, n[k]), m99[k], med(p999, k, n[k]), med(fs, k, n[k]), n[k]
		}
		for (i = 1; i <= no; i++) {
			k = order[i]; split(k, f, " ")
			b = f[1] " " first " " f[3]
			if (f[2] != first && (b in m99) && m99[k] > 0)
				printf "profile %s rate %s p99 ratio %s/%s %.3f\n", f[1],
					substr(f[3], 1, length(f[3]) - 1), first, f[2], m99[b] / m99[k]
		}
		for (k in ms) printf "profile %s max sustained rate (runs):%s entries/s\n", k, ms[k]
		for (k in nd) printf "profile %s disk: fdatasync after an append p50 %.2f ms p99 %.2f ms (medians of %d probes)\n", k, med(d50, k, nd[k]), med(d99, k, nd[k]), nd[k]
	}' "$W/results"
