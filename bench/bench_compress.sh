#!/bin/sh
# bench_compress.sh: does zstd per snapshot chunk pay? Measured on real
# snapshots of the reference cluster (examples/raftkv, one node, the tap's
# spool), loaded three ways:
#   a  the demo loader's values (raftkv-cli load: a repeating alphabet;
#      flatters compression, it is the loader's, not a workload's)
#   b  values of random bytes (/dev/urandom: incompressible)
#   c  real text as values: the machine's license texts, Perl modules and
#      decompressed man pages, concatenated (a corpus, read in order)
# For each snapshot bench/bench_compress prints the zstd ratio, compress and
# decompress MB/s per chunk (64 KiB and serve's 256 KiB, levels 1 and 3)
# and the projected bootstrap time on profiles A and B, from the raw MB/s
# the mirror reaches there today (bench/README.md, bench_wan 16 and 256 MiB
# medians; -A/-B to change).
#
# usage: bench_compress.sh [-d a|b|c]... [-n KEYS] [-v VALUE_BYTES]
#                          [-r RUNS] [-A MBPS] [-B MBPS] [-o OUTDIR] [DIR]
#   -n values per snapshot (default 4096, the demo's snapshot threshold)
#   -v value size (default 10000, the demo's)
#   -o keep the snapshots there (OUTDIR/a.snapshot, ...; bench_wan.sh -d
#      takes them)
# Run from the build directory (or set abs_top_builddir).
set -u

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${abs_top_builddir:-$(pwd)}
NODE=$BUILDDIR/examples/raftkv/raftkv-node
CLI=$BUILDDIR/examples/raftkv/raftkv-cli
BENCH=$BUILDDIR/bench/bench_compress
KINDS="" KEYS=4096 VSIZE=10000 RUNS=3 OUT="" A_MBPS=1.12 B_MBPS=8.80
while getopts d:n:v:r:o:A:B: o; do
	case $o in
	d) KINDS="$KINDS $OPTARG" ;;
	n) KEYS=$OPTARG ;;
	v) VSIZE=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	o) OUT=$OPTARG ;;
	A) A_MBPS=$OPTARG ;;
	B) B_MBPS=$OPTARG ;;
	*) echo "usage: $0 [-d a|b|c]... [-n KEYS] [-v BYTES] [-r RUNS] [-A MBPS] [-B MBPS] [-o OUTDIR] [DIR]" >&2
	   exit 2 ;;
	esac
done
shift $((OPTIND - 1))
KINDS=${KINDS:-a b c}
PARENT=${1:-/tmp}
for b in "$NODE" "$CLI" "$BENCH"; do
	[ -x "$b" ] || { echo "bench_compress: $b not built (make examples/raftkv/raftkv-node examples/raftkv/raftkv-cli bench/bench_compress)" >&2; exit 1; }
done
W=$(mktemp -d "$PARENT/ma-bench-compress-XXXXXX") || exit 1
NPID=""
cleanup() {
	[ -n "$NPID" ] && kill -TERM "$NPID" 2>/dev/null && wait "$NPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "bench_compress: $*" >&2; exit 1; }

# The text corpus: every file decompressed and read in a fixed order.
make_corpus() {
	{
		cat /usr/share/common-licenses/* 2>/dev/null
		find /usr/share/perl /usr/share/perl5 -name '*.pm' 2>/dev/null |
			sort | xargs cat 2>/dev/null
		find /usr/share/man/man1 /usr/share/man/man3 /usr/share/man/man5 \
			/usr/share/man/man8 -name '*.gz' 2>/dev/null | sort |
			xargs zcat 2>/dev/null
	} | head -c $((KEYS * VSIZE + 1048576)) >"$W/corpus"
	echo "# text corpus: $(($(stat -c %s "$W/corpus") / 1048576)) MiB of licenses, Perl modules, man pages"
}

# snapshot KIND: one raftkv node (a cluster of one), KEYS puts of VSIZE
# bytes, waits for the snapshot the tap writes to the spool.
snapshot() {
	kind=$1
	set -- $("$CLI" free-ports 2)
	rm -rf "$W/node"
	"$NODE" --id 1 --address "127.0.0.1:$1" --cluster "1=127.0.0.1:$1" \
		--client-cluster "1=127.0.0.1:$2" --client-listen "127.0.0.1:$2" \
		--data "$W/node/data" --spool "$W/node/spool" \
		--cluster-id "$(cat /proc/sys/kernel/random/uuid)" --database kv \
		--snapshot-threshold "$KEYS" --snapshot-trailing 16 \
		--election-timeout 300 >"$W/node.log" 2>&1 &
	NPID=$!
	case $kind in
	a) src="" ;;
	b) src="--value-source /dev/urandom" ;;
	c) src="--value-source $W/corpus" ;;
	esac
	# shellcheck disable=SC2086
	timeout 600 "$CLI" --connect "127.0.0.1:$2" --timeout 30 load \
		--count "$KEYS" --value-size "$VSIZE" --namespace bench \
		--key-prefix "$kind-" $src >"$W/load.log" 2>&1 ||
		{ tail -n 5 "$W/load.log" "$W/node.log" >&2; die "load ($kind) failed"; }
	i=0
	while ! ls "$W/node/spool/snapshots/"*.snapshot >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -le 600 ] || die "no snapshot after 60 s ($kind)"
		sleep 0.1
	done
	f=$(ls "$W/node/spool/snapshots/"*.snapshot | head -n 1)
	sleep 0.5
	cp "$f" "$W/$kind.snapshot"
	kill -TERM "$NPID"
	wait "$NPID" 2>/dev/null
	NPID=""
	echo "# snapshot $kind: $(stat -c %s "$W/$kind.snapshot") bytes ($KEYS values of $VSIZE bytes)"
}

echo "# bench_compress: load average $(cut -d' ' -f1-3 /proc/loadavg)"
case " $KINDS " in *" c "*) make_corpus ;; esac
files=""
for k in $KINDS; do
	snapshot "$k"
	files="$files $W/$k.snapshot"
done
# shellcheck disable=SC2086
"$BENCH" -r "$RUNS" -l "A=$A_MBPS" -l "B=$B_MBPS" $files || die "bench_compress failed"
if command -v zstd >/dev/null 2>&1; then
	echo "# cross-check, the zstd tool (zstd -q -b1e3 -B65536: level, wire bytes, ratio, compress, decompress):"
	for f in $files; do
		zstd -q -b1e3 -B65536 "$f" 2>&1 | tr '\r' '\n' | grep '^-[0-9]' |
			sed "s|^|# ${f##*/} |"
	done
fi
if [ -n "$OUT" ]; then
	mkdir -p "$OUT" && for k in $KINDS; do cp "$W/$k.snapshot" "$OUT/"; done
	echo "# snapshots kept in $OUT"
fi
echo "# load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
