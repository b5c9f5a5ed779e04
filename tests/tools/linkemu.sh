# linkemu.sh: sourced by tests and benchmarks to build an emulated link
# between two network namespaces (tests/tools/linkemu relays IP packets
# between a TUN device in each). POSIX sh; needs root, `ip` and /dev/net/tun.
#
#   . tests/tools/linkemu.sh
#   LINKEMU=/path/to/build/tests/tools/linkemu
#   trap 'linkemu_down' EXIT        # or call it from your own EXIT trap
#   linkemu_up --delay-ms 25 --loss 1 ...   # linkemu's options, see linkemu.c
#   ip netns exec "$LE_NS_B" server --listen "$LE_ADDR_B:4433" &  # B: server
#   le_a client "$LE_ADDR_B:4433"              # A: the client's side
# (background a command with `ip netns exec` itself, not le_a/le_b: a
# backgrounded shell function is a subshell, and $! would be its pid, not
# the command's.)
#   linkemu_down                    # stats in $LE_STATS afterwards
#
# linkemu_up returns non-zero with a message on stderr (and leaves nothing
# behind) when it cannot build the link: callers skip on that. It sets
#   LE_NS_A, LE_NS_B     the namespaces (unique per shell and link)
#   LE_ADDR_A, LE_ADDR_B 10.77.0.1 and 10.77.0.2 (the namespaces are
#                        private, so parallel links may share them)
#   LE_PID               the relay's pid; LE_STATS its counters file,
#                        written when linkemu_down stops it
#   LE_DIR               a scratch dir of the link (removed by linkemu_down
#                        unless LE_KEEP=1; LE_STATS is copied to
#                        ${LE_STATS_OUT:-} first when that is set)
# B routes the whole 10.77.0.0/24 into its TUN device, so NAT rebinding of
# A's address (--rebind-addr-ms) reaches B from 10.77.0.17, .33, ...
# LINKEMU_MTU sets both devices' MTU (default 1500). IPv6 is disabled in
# both namespaces so that only the test's packets cross (and packet indexes
# for --drop-index count only them).

LE_N=${LE_N:-0}
LE_PID=""
LE_NS_A=""
LE_NS_B=""
LE_DIR=""
LE_ADDR_A=10.77.0.1
LE_ADDR_B=10.77.0.2

le_a() { ip netns exec "$LE_NS_A" "$@"; }
le_b() { ip netns exec "$LE_NS_B" "$@"; }

# linkemu_check: why a link cannot be built here, on stdout; empty if it can.
linkemu_check() {
	if [ "$(id -u)" != 0 ]; then
		echo "needs root (network namespaces, TUN devices)"
	elif ! command -v ip >/dev/null 2>&1; then
		echo "ip (iproute2) not installed"
	elif [ ! -c /dev/net/tun ]; then
		echo "no /dev/net/tun (TUN driver missing)"
	elif [ ! -x "${LINKEMU:-}" ]; then
		echo "linkemu not built (make check builds tests/tools/linkemu)"
	fi
}

linkemu_up() {
	le_why=$(linkemu_check)
	if [ -n "$le_why" ]; then
		echo "linkemu: $le_why" >&2
		return 1
	fi
	[ -z "$LE_PID" ] || linkemu_down
	LE_N=$((LE_N + 1))
	le_tag="$$-$LE_N"
	LE_NS_A="ma-le-$le_tag-a"
	LE_NS_B="ma-le-$le_tag-b"
	LE_DIR=$(mktemp -d /tmp/ma-linkemu-XXXXXX) || return 1
	LE_STATS=$LE_DIR/stats
	if ! ip netns add "$LE_NS_A" 2>"$LE_DIR/err" ||
		! ip netns add "$LE_NS_B" 2>>"$LE_DIR/err"; then
		echo "linkemu: cannot create network namespaces: $(cat "$LE_DIR/err")" >&2
		linkemu_down
		return 1
	fi
	# Short device names: IFNAMSIZ is 16 and the namespaces keep them apart.
	nice -n -10 "$LINKEMU" --a "$LE_NS_A:lea" --b "$LE_NS_B:leb" \
		--ready-file "$LE_DIR/ready" --stats-file "$LE_STATS" "$@" \
		>"$LE_DIR/relay.log" 2>&1 &
	LE_PID=$!
	le_i=0
	while [ ! -s "$LE_DIR/ready" ]; do
		le_i=$((le_i + 1))
		if [ $le_i -gt 100 ] || ! kill -0 "$LE_PID" 2>/dev/null; then
			echo "linkemu: the relay did not start: $(cat "$LE_DIR/relay.log")" >&2
			linkemu_down
			return 1
		fi
		sleep 0.05
	done
	mtu=${LINKEMU_MTU:-1500}
	for le_side in a b; do
		if [ $le_side = a ]; then
			le_ns=$LE_NS_A dev=lea addr="$LE_ADDR_A/32" peer="$LE_ADDR_B"
		else
			le_ns=$LE_NS_B dev=leb addr="$LE_ADDR_B/24" peer=""
		fi
		if ! {
			ip netns exec "$le_ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
				net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
			ip -n "$le_ns" link set lo up &&
				ip -n "$le_ns" link set "$dev" mtu "$mtu" up &&
				if [ -n "$peer" ]; then
					ip -n "$le_ns" addr add "$addr" peer "$peer" dev "$dev"
				else
					ip -n "$le_ns" addr add "$addr" dev "$dev"
				fi
		} 2>"$LE_DIR/err"; then
			echo "linkemu: cannot configure $dev in $le_ns: $(cat "$LE_DIR/err")" >&2
			linkemu_down
			return 1
		fi
	done
	# A reaches B's whole /24 through its device (B answers rebound
	# addresses from there).
	ip -n "$LE_NS_A" route add 10.77.0.0/24 dev lea 2>/dev/null
	return 0
}

# linkemu_down: stops the relay (its counters land in $LE_STATS), kills what
# still runs in the namespaces, deletes them. Safe to call twice.
linkemu_down() {
	if [ -n "$LE_PID" ]; then
		kill -TERM "$LE_PID" 2>/dev/null
		wait "$LE_PID" 2>/dev/null
		le_rc=$?
		LE_PID=""
		# It exits 0 on SIGTERM: anything else is the relay's failure
		# (a sanitizer's report, a device gone), which must not pass
		# silently.
		if [ $le_rc -ne 0 ]; then
			echo "linkemu: the relay exited with status $le_rc:" >&2
			sed 's/^/linkemu:   /' "$LE_DIR/relay.log" >&2
		fi
	fi
	for le_ns in $LE_NS_A $LE_NS_B; do
		ip netns pids "$le_ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$le_ns" 2>/dev/null
	done
	LE_NS_A=""
	LE_NS_B=""
	if [ -n "$LE_DIR" ]; then
		[ -z "${LE_STATS_OUT:-}" ] || cp "$LE_STATS" "$LE_STATS_OUT" 2>/dev/null
		[ "${LE_KEEP:-0}" = 1 ] || rm -rf "$LE_DIR"
	fi
	LE_DIR=""
}

# le_stat NAME: a counter from the stats file (after linkemu_down, read
# $LE_STATS_OUT), e.g. le_stat ab_dropped_loss FILE.
le_stat() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
