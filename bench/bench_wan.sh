#!/bin/sh
# bench_wan.sh: snapshot bootstrap across an emulated WAN through the real
# `mirror-agent serve` (in namespace B) + `follow --exit-when-following`
# (in namespace A), next to nginx (TLS 1.3 only, client certificate
# required) + curl --tlsv1.3 + fsync over the identical link: both cross
# tests/tools/linkemu, which relays IP packets between the namespaces
# through TUN devices (MTU 1500). Same timing and checks as
# bench_bootstrap.sh, whose parts it shares (bench_lib.sh). Not a test.
#
# usage: bench_wan.sh [-p PROFILE]... [-r RUNS] [-s MIB | --size MIB]
#                     [-t SECONDS] [-c "TCP_CCS"] [-m "MIRROR_CCS"]
#                     [-d FILE] [-z "MODES"] [DIR]
#   -p profile, repeatable (default: A B C D):
#      A  30 ms RTT, 10 Mbit/s, 25-packet queue (the QUIC interop
#         runner's default link)
#      B  50 ms RTT, 1 % random loss each way, 100 Mbit/s (400-packet
#         queue, about one BDP)
#      C  100 ms RTT, 0.1 % loss each way, no rate limit (as fast as the
#         relay and this machine carry)
#      D  600 ms RTT, 20 Mbit/s forward (server to mirror) / 2 Mbit/s
#         return, 1 % loss each way (satellite; one-BDP queues)
#      J  50 ms RTT, 5 ms jitter each way with reordering, 100 Mbit/s, no
#         loss (the jitter case: what reordering costs)
#      K  as J with the order kept (jitter as a real path has it)
#   -r runs per profile (default 3)      -s snapshot MiB (default 256)
#   -t time limit of each transfer in seconds (default 900)
#   -c TCP congestion controls for nginx+curl, set in both namespaces
#      (default: this host's default, then cubic; "none": no nginx+curl,
#      so the link's byte counts are the mirror's alone)
#   -m the mirror's congestion controls (`serve --cc`; default: bbr,
#      serve's default)
#   -d the snapshot's bytes: FILE's, repeated to the size (e.g. a real
#      snapshot kept by bench_compress.sh -o; default: spoolgen's random
#      bytes); nginx serves the same file
#   -z the mirror's snapshot compression, one variant each (`follow
#      --snapshot-compression`: zstd, none, auto; default: none given,
#      the product's default auto); serve offers zstd at its default
#      level, and the bytes serve put on the wire are printed per run
#   DIR scratch parent directory (default /tmp)
# Environment: as bench_bootstrap.sh (SERVE_ARGS, FOLLOW_ARGS, MIRROR_AGENT,
# SPOOLGEN), LINKEMU (default: the build tree's tests/tools/linkemu),
# KEEP_LOGS (a directory: serve's and follow's log of every mirror run are
# copied there as P-RUN-CC.serve.log / .follow.log, e.g. with SERVE_ARGS
# and FOLLOW_ARGS "--log-level debug" for the connection statistics).
#
# Prints one line per run and profile with every variant's seconds, then
# per profile the medians and `profile P ratio mirror/nginx+curl R` (the
# first mirror cc against nginx+curl with the first TCP cc; above 1 = the
# mirror is faster), then the ratio of every other pair. Needs root.
set -u

PROFILES=""
RUNS=3
SIZE_MIB=256
LIMIT=900
TCP_CCS=""
MIRROR_CCS="bbr"
MODES=""
SKIP_MIRROR=0
# getopts has no long options: --size becomes -s.
for a in "$@"; do
	shift
	if [ "$a" = --size ]; then set -- "$@" -s; else set -- "$@" "$a"; fi
done
while getopts p:r:s:t:c:m:d:z: opt; do
	case $opt in
	p) PROFILES="$PROFILES $OPTARG" ;;
	r) RUNS=$OPTARG ;;
	s) SIZE_MIB=$OPTARG ;;
	t) LIMIT=$OPTARG ;;
	c) TCP_CCS=$OPTARG ;;
	m) MIRROR_CCS=$OPTARG ;;
	d) SNAPSHOT_FROM=$OPTARG ;;
	z) MODES=$OPTARG ;;
	*)
		sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d' >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
PARENT=${1:-/tmp}
PROFILES=${PROFILES:-A B C D}
HOST_CC=$(cat /proc/sys/net/ipv4/tcp_congestion_control)
if [ "$TCP_CCS" = none ]; then
	TCP_CCS=""
elif [ -z "$TCP_CCS" ]; then
	TCP_CCS=$HOST_CC
	[ "$HOST_CC" = cubic ] || TCP_CCS="$TCP_CCS cubic"
fi

profile_args() {
	case $1 in
	A) echo "--delay-ms 15 --rate-kbit 10000 --queue 25" ;;
	B) echo "--delay-ms 25 --loss 1 --rate-kbit 100000 --queue 400" ;;
	C) echo "--delay-ms 50 --loss 0.1" ;;
	D) echo "--delay-ms 300 --loss 1 --ba-rate-kbit 20000 --ba-queue 1000" \
		"--ab-rate-kbit 2000 --ab-queue 100" ;;
	J) echo "--delay-ms 25 --jitter-ms 5 --reorder --rate-kbit 100000 --queue 400" ;;
	K) echo "--delay-ms 25 --jitter-ms 5 --rate-kbit 100000 --queue 400" ;;
	*) return 1 ;;
	esac
}
for p in $PROFILES; do
	profile_args "$p" >/dev/null || {
		echo "bench_wan: unknown profile '$p' (A, B, C, D, J or K)" >&2
		exit 2
	}
done

if [ -n "${SNAPSHOT_FROM:-}" ] && [ ! -s "$SNAPSHOT_FROM" ]; then
	echo "bench_wan: -d $SNAPSHOT_FROM: not a non-empty file" >&2
	exit 2
fi
for z in $MODES; do
	case $z in zstd | none | auto) ;; *)
		echo "bench_wan: -z: unknown mode '$z' (zstd, none or auto)" >&2
		exit 2 ;;
	esac
done
# The mirror's variants: each cc, with each compression mode if given.
VARIANTS=""
for m in $MIRROR_CCS; do
	if [ -z "$MODES" ]; then
		VARIANTS="$VARIANTS $m"
	else
		for z in $MODES; do VARIANTS="$VARIANTS $m,$z"; done
	fi
done
BENCH=bench_wan
# shellcheck source=bench/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"
LINKEMU=${LINKEMU:-$BUILDDIR/tests/tools/linkemu}
# shellcheck source=tests/tools/linkemu.sh
. "$SRCDIR/tests/tools/linkemu.sh"
why=$(linkemu_check)
[ -z "$why" ] || die "$why"
# A namespace other than the host's may only select the congestion controls
# the host allows (tcp_allowed_congestion_control, "reno bbr" where bbr is
# the default): the ones asked for are allowed for the run and the host's
# list restored at exit.
ALLOWED=/proc/sys/net/ipv4/tcp_allowed_congestion_control
ALLOWED_SAVED=$(cat "$ALLOWED")
bench_cleanup_hook() {
	linkemu_down
	[ "$(cat "$ALLOWED")" = "$ALLOWED_SAVED" ] || echo "$ALLOWED_SAVED" >"$ALLOWED"
}
bench_init
want="$ALLOWED_SAVED"
for c in $TCP_CCS; do
	case " $want " in *" $c "*) ;; *) want="$want $c" ;; esac
done
if [ "$want" != "$ALLOWED_SAVED" ]; then
	echo "$want" >"$ALLOWED" || die "cannot allow TCP congestion controls '$want'"
	echo "# allowed TCP congestion controls for this run: $want (restored at exit)"
fi
RES=$W/results
mkdir -p "$RES"

set_tcp_cc() {
	for ns in "$LE_NS_A" "$LE_NS_B"; do
		ip netns exec "$ns" sysctl -qw "net.ipv4.tcp_congestion_control=$1" ||
			die "cannot set TCP congestion control $1 (modprobe tcp_$1?)"
	done
}

echo "# bootstrap of $SIZE_MIB MiB across linkemu (MTU 1500), $RUNS runs," \
	"profiles$(printf ' %s' $PROFILES), TCP cc: $TCP_CCS, mirror:$VARIANTS," \
	"snapshot ${SNAPSHOT_FROM:-random (spoolgen)}"
echo "# $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg);" \
	"host TCP default $HOST_CC; scratch $W"
for p in $PROFILES; do
	LE_STATS_OUT=$RES/$p.linkstats
	# shellcheck disable=SC2046
	linkemu_up $(profile_args "$p") --seed 12 || die "cannot build the link"
	echo "# profile $p: linkemu $(profile_args "$p")"
	SRV_EXEC="ip netns exec $LE_NS_B"
	CLI_EXEC="ip netns exec $LE_NS_A"
	SRV_ADDR=$LE_ADDR_B
	r=0
	while [ $r -lt "$RUNS" ]; do
		r=$((r + 1))
		line="$p run $r"
		for v in $VARIANTS; do
			m=${v%%,*}
			zopt=""
			case $v in *,*) zopt="--snapshot-compression ${v#*,}" ;; esac
			start_serve --cc "$m" --log-level info
			FOLLOW_ARGS_SAVED=$FOLLOW_ARGS
			FOLLOW_ARGS="$FOLLOW_ARGS $zopt"
			run_mirror
			FOLLOW_ARGS=$FOLLOW_ARGS_SAVED
			stop_serve
			if [ -n "${KEEP_LOGS:-}" ]; then
				mkdir -p "$KEEP_LOGS"
				cp "$W/serve.log" "$KEEP_LOGS/$p-$r-$v.serve.log"
				cp "$W/follow.log" "$KEEP_LOGS/$p-$r-$v.follow.log"
			fi
			echo "$T" >>"$RES/$p.mirror[$v]"
			# serve's account of a compressed stream: raw bytes in
			# wire bytes (none for raw chunks).
			wire=$(sed -n 's/.*: \([0-9]*\) bytes in \([0-9]*\) on the wire.*/\2/p' \
				"$W/serve.log" | tail -n 1)
			line="$line  mirror[$v] $T s ($(mbps "$T") MB/s${wire:+, wire $(awk -v w="$wire" -v s="$SIZE" 'BEGIN { printf "%.1f MB, ratio %.2f", w / 1e6, s / w }')})"
		done
		for c in $TCP_CCS; do
			set_tcp_cc "$c"
			start_nginx
			run_curl
			stop_nginx
			echo "$T" >>"$RES/$p.nginx+curl[$c]"
			line="$line  nginx+curl[$c] $T s ($(mbps "$T") MB/s)"
		done
		echo "$line"
	done
	linkemu_down
	awk '$2 != 0 && $1 ~ /received|bytes|dropped|corrupted|max_queue/ { printf "%s %s  ", $1, $2 }
		END { print "" }' "$RES/$p.linkstats" | sed 's/^/# link: /'
done

load=$(cut -d' ' -f1-3 /proc/loadavg)
for p in $PROFILES; do
	for f in "$RES/$p".mirror* "$RES/$p".nginx*; do
		[ -f "$f" ] || continue
		# shellcheck disable=SC2046
		md=$(median $(cat "$f"))
		echo "$md" >"$f.median"
		printf 'profile %s %-22s median %9.3f s %8.2f MB/s\n' "$p" \
			"${f#"$RES/$p".}" "$md" "$(mbps "$md")"
	done
	first_m=$(echo "$VARIANTS" | awk '{ print $1 }')
	first_c=$(echo "$TCP_CCS" | awk '{ print $1 }')
	for m in $VARIANTS; do
		for c in $TCP_CCS; do
			ratio=$(awk -v a="$(cat "$RES/$p.mirror[$m].median")" \
				-v b="$(cat "$RES/$p.nginx+curl[$c].median")" \
				'BEGIN { printf "%.2f", b / a }')
			if [ "$m" = "$first_m" ] && [ "$c" = "$first_c" ]; then
				echo "profile $p ratio mirror/nginx+curl $ratio"
			else
				echo "profile $p ratio mirror[$m]/nginx+curl[$c] $ratio"
			fi
		done
	done
done
echo "# load average at the end $load"
