#!/bin/sh
# Bootstrap and tail across an emulated WAN: two network namespaces joined
# by a veth pair with netem on both ends (25 ms each way, so 50 ms RTT, 1%
# loss, some reordering and duplication) where the kernel has netem, a plain
# veth link otherwise. `serve` runs in one namespace, `follow` in the other.
# Needs root and `ip netns`; skips cleanly otherwise. The namespaces are
# deleted on exit whatever happens.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 4
skip_all() {
	for i in 1 2 3 4; do skip "$1"; done
	exit 0
}
[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces"
command -v ip >/dev/null 2>&1 || skip_all "ip (iproute2) not installed"
command -v tc >/dev/null 2>&1 || skip_all "tc (iproute2) not installed"

NS_S="ma-wan-s-$$"
NS_M="ma-wan-m-$$"
NET="10.213.$(($$ % 250))"
wan_cleanup() {
	ip netns pids "$NS_S" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns pids "$NS_M" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$NS_S" 2>/dev/null
	ip netns del "$NS_M" 2>/dev/null
	cleanup
}
trap wan_cleanup EXIT
ip netns add "$NS_S" 2>/dev/null && ip netns add "$NS_M" 2>/dev/null ||
	skip_all "cannot create network namespaces here"
ip link add "vs$$" netns "$NS_S" type veth peer name "vm$$" netns "$NS_M" ||
	skip_all "cannot create a veth pair"
ns_s() { ip netns exec "$NS_S" "$@"; }
ns_m() { ip netns exec "$NS_M" "$@"; }
ns_s ip addr add "$NET.1/24" dev "vs$$"
ns_m ip addr add "$NET.2/24" dev "vm$$"
for ns in "$NS_S" "$NS_M"; do ip netns exec "$ns" ip link set lo up; done
ns_s ip link set "vs$$" up
ns_m ip link set "vm$$" up
# Without netem (a kernel without sch_netem) the namespaces still give a
# real non-loopback path (1500-byte MTU, path MTU discovery): run anyway
# and say so.
link="50 ms RTT, 1% loss"
if ! ns_s tc qdisc add dev "vs$$" root netem delay 25ms 5ms loss 1% reorder 1% duplicate 0.5% 2>/dev/null ||
   ! ns_m tc qdisc add dev "vm$$" root netem delay 25ms 5ms loss 1% reorder 1% duplicate 0.5% 2>/dev/null; then
	link="veth without netem (not available in this kernel)"
	diag "tc netem unavailable: testing across namespaces without delay or loss"
fi

gen_certs
spool=$TMP/src/wan
"$SPOOLGEN" init "$spool" --database wan >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 500 --term 1 >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 500 --term 1 --size $((64 * 1024 * 1024)) --seed 5 >/dev/null &&
"$SPOOLGEN" append "$spool" --count 2000 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }

ns_s "$AGENT" serve --listen "$NET.1:0" --port-file "$TMP/serve.port" \
	--cert "$PKI/server.pem" --key "$PKI/server.key" --client-ca "$PKI/ca.pem" \
	--database "wan=$spool" --allow mirror-1=wan >"$TMP/serve.log" 2>&1 &
T_PIDS="$T_PIDS $!"
wait_until 20 test -s "$TMP/serve.port" ||
	{ echo "Bail out! serve did not start"; sed 's/^/# /' "$TMP/serve.log"; exit 1; }
port=$(cat "$TMP/serve.port")

start=$(date +%s)
ns_m timeout 240 "$AGENT" follow --data-dir "$TMP/mirror" --source "$NET.1:$port" \
	$(follow_tls) --database wan --exit-when-following >"$TMP/follow.log" 2>&1
rc=$?
secs=$(($(date +%s) - start))
diag "64 MiB bootstrap over $link: ${secs} s"
check "across namespaces ($link) the mirror reaches Following (exit $rc)" test $rc -eq 0
check "snapshot byte-identical" \
	cmp "$spool/snapshots/500-1.snapshot" "$TMP/mirror/wan/snapshots/500-1.snapshot"
same_entries() {
	"$AGENT" wal dump "$spool/wal" --from 501 >"$TMP/src.dump" &&
	"$AGENT" wal dump "$TMP/mirror/wan/wal" --from 501 >"$TMP/mirror.dump" &&
	[ "$(wc -l <"$TMP/src.dump")" -eq 2000 ] && cmp "$TMP/src.dump" "$TMP/mirror.dump"
}
check "the 2000 entries after the snapshot are identical" same_entries
check "progress was reported while bootstrapping" \
	grep -q "wan: Bootstrapping" "$TMP/follow.log"
finish
