# Helpers for tests that run raftkv clusters (sourced after lib.sh). A
# cluster is named by a prefix P; its variables are P_CLUSTER (raft
# addresses), P_CCLUSTER (client addresses), P_CLIENTS (client list),
# P_RPORTi, P_CPORTi, P_PIDi, and with serves P_SPORTi, P_SPIDi. Logs go
# to $TMP/P-nodeI.log and $TMP/P-serveI.log.

NODE="$abs_top_builddir/examples/raftkv/raftkv-node"
CLI="$abs_top_builddir/examples/raftkv/raftkv-cli"
SEED="$abs_top_builddir/examples/raftkv/raftkv-seed"

# rk_ports P: picks six free loopback ports for a three-node cluster P.
rk_ports() {
	set -- "$1" $("$CLI" free-ports 6)
	eval "$1_RPORT1=$2 $1_RPORT2=$3 $1_RPORT3=$4 $1_CPORT1=$5 $1_CPORT2=$6 $1_CPORT3=$7"
	eval "$1_CLUSTER=1=127.0.0.1:$2,2=127.0.0.1:$3,3=127.0.0.1:$4"
	eval "$1_CCLUSTER=1=127.0.0.1:$5,2=127.0.0.1:$6,3=127.0.0.1:$7"
	eval "$1_CLIENTS=127.0.0.1:$5,127.0.0.1:$6,127.0.0.1:$7"
}

# rk_start_node P I DATA SPOOL CLUSTER_ID [raftkv-node args...]: node I of
# P in the background (database kv).
rk_start_node() {
	p=$1 i=$2 data=$3 spool=$4 cid=$5
	shift 5
	eval "rport=\$${p}_RPORT$i cport=\$${p}_CPORT$i cl=\$${p}_CLUSTER ccl=\$${p}_CCLUSTER"
	"$NODE" --id "$i" --address "127.0.0.1:$rport" --cluster "$cl" \
		--client-cluster "$ccl" --data "$data" --spool "$spool" \
		--client-listen "127.0.0.1:$cport" --cluster-id "$cid" \
		--database kv --election-timeout 300 \
		--install-snapshot-timeout 1000 "$@" >>"$TMP/$p-node$i.log" 2>&1 &
	eval "${p}_PID$i=$!"
	T_PIDS="$T_PIDS $!"
}

# rk_start_serve P I SPOOL: `mirror-agent serve` of node I's spool for
# client mirror-1 (database kv); keeps its port across restarts.
rk_start_serve() {
	p=$1 i=$2 spool=$3
	eval "port=\${${p}_SPORT$i:-0}"
	rm -f "$TMP/$p-serve$i.port"
	"$AGENT" serve --listen "127.0.0.1:$port" --port-file "$TMP/$p-serve$i.port" \
		--cert "$PKI/server.pem" --key "$PKI/server.key" \
		--client-ca "$PKI/ca.pem" --database "kv=$spool" \
		--allow mirror-1=kv --heartbeat-ms 200 >>"$TMP/$p-serve$i.log" 2>&1 &
	eval "${p}_SPID$i=$!"
	T_PIDS="$T_PIDS $!"
	wait_until 20 test -s "$TMP/$p-serve$i.port" ||
		{ echo "Bail out! serve $p/$i did not start"; tail -n 5 "$TMP/$p-serve$i.log"; exit 1; }
	eval "${p}_SPORT$i=$(cat "$TMP/$p-serve$i.port")"
}

# rk_kill P I: node I of P and its serve (if any), SIGKILL.
rk_kill() {
	eval "pids=\"\$${1}_PID$2 \${${1}_SPID$2:-}\""
	kill -9 $pids 2>/dev/null
	wait $pids 2>/dev/null
}

# rk_cli P ARGS...: raftkv-cli against the whole cluster P.
rk_cli() {
	eval "clients=\$${1}_CLIENTS"
	shift
	timeout 90 "$CLI" --connect "$clients" --timeout 60 "$@"
}
# rk_cli_at PORT ARGS...: against one node only.
rk_cli_at() {
	port=$1
	shift
	timeout 10 "$CLI" --connect "127.0.0.1:$port" --timeout 5 "$@"
}
# rk_field KEY LINE: the value of KEY=VALUE in LINE.
rk_field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }

# rk_leader P: prints the leader's id once one of P's nodes knows it.
rk_leader() {
	for i in 1 2 3; do
		eval "port=\$${1}_CPORT$i"
		id=$(rk_cli_at "$port" leader 2>/dev/null |
			sed -n 's/^OK id=\([1-9][0-9]*\) .*/\1/p')
		[ -n "$id" ] && { echo "$id"; return 0; }
	done
	return 1
}
