#!/bin/sh
# The command line of the real binary: every command and sub-command
# answers --help with its usage on stdout and exit 0; a flag and its key
# refuse the same out-of-range value with the same words and exit 2; and
# `serve --config` and `follow --config` run from files made from the
# shipped examples (etc/*.example, only paths, addresses and the port
# changed), as the systemd units run them: serve answers, follow
# bootstraps and reaches Following, and `status --config` reads the
# same data directory.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 40

# --- --help everywhere -------------------------------------------------
for c in "--help" "help" "serve --help" "follow --help" "status --help" \
	"check-config --help" "wal --help" "wal verify --help" \
	"wal dump --help" "snapshot --help" "snapshot verify --help" \
	"serve -h" "follow --config=/nonexistent --help" "promote --help"; do
	# shellcheck disable=SC2086
	"$AGENT" $c >"$TMP/help.out" 2>"$TMP/help.err"
	rc=$?
	if [ $rc -eq 0 ] && grep -q "^usage: mirror-agent" "$TMP/help.out" &&
		[ ! -s "$TMP/help.err" ]; then
		ok "mirror-agent $c: usage on stdout, exit 0"
	else
		not_ok "mirror-agent $c: exit $rc"
		sed 's/^/# /' "$TMP/help.out" "$TMP/help.err" | head -n 5
	fi
done

# --- a flag and its key: one range, one text, exit 2 --------------------
# expect_refused NAME WANT COMMAND...: exit 2 and WANT on stderr.
expect_refused() {
	name=$1 want=$2
	shift 2
	"$@" >"$TMP/ref.out" 2>"$TMP/ref.err"
	rc=$?
	if [ $rc -eq 2 ] && grep -qF -- "$want" "$TMP/ref.err"; then
		ok "$name"
	else
		not_ok "$name: exit $rc"
		sed 's/^/# /' "$TMP/ref.err" | head -n 5
	fi
}
# The flag's old range was 16 KiB-1 GiB; the table's is 64 KiB-4 GiB.
r16k='"16KiB": out of range 64KiB-4GiB'
expect_refused "serve --max-unacked 16KiB refused by the table's range" \
	"--max-unacked (serve.max_unacked_bytes): $r16k" \
	"$AGENT" serve --max-unacked 16KiB
expect_refused "serve --set serve.max_unacked_bytes=16KiB: same words" \
	"--set serve.max_unacked_bytes: $r16k" \
	"$AGENT" serve --set serve.max_unacked_bytes=16KiB
printf '[serve]\nmax_unacked_bytes = 16KiB\n' >"$TMP/bad.conf"
expect_refused "serve --config with max_unacked_bytes = 16KiB: same words" \
	"bad.conf:2: [serve] max_unacked_bytes: $r16k" \
	"$AGENT" serve --config "$TMP/bad.conf"
# The flag's old range was 100 ms-1 h; the table's is 1 s-10 min.
expect_refused "serve --idle-timeout-ms=100 refused by the table's range" \
	'--idle-timeout-ms (serve.idle_timeout): "100": out of range 1s-10min' \
	"$AGENT" serve --idle-timeout-ms=100
expect_refused "follow --set follow.keepalive=99ms" \
	'--set follow.keepalive: "99ms": out of range 0 (off) or 100ms-10min' \
	"$AGENT" follow --set follow.keepalive=99ms
expect_refused "unknown option: exit 2" "unknown option --bogus" \
	"$AGENT" follow --bogus
expect_refused "missing value: exit 2" "--data-dir needs a value" \
	"$AGENT" follow --data-dir
expect_refused "wal dump --from junk: exit 2" "--from 1x: not a whole number" \
	"$AGENT" wal dump "$TMP" --from 1x

# --- serve --config and follow --config, from the examples --------------
gen_certs
spool=$TMP/src/kv
{ "$SPOOLGEN" init "$spool" --database kv >/dev/null &&
	"$SPOOLGEN" append "$spool" --from 1 --count 300 --term 1 >/dev/null &&
	"$SPOOLGEN" snapshot "$spool" --index 200 --term 1 --size 300000 --seed 7 >/dev/null &&
	"$SPOOLGEN" append "$spool" --count 200 --term 2 >/dev/null; } ||
	{ echo "Bail out! spoolgen failed"; exit 1; }

ex="$abs_top_srcdir/etc"
sed -e "s|/etc/mirror-agent/tls/ca.pem|$PKI/ca.pem|" \
	-e "s|/etc/mirror-agent/tls/raft-1.pem|$PKI/server.pem|" \
	-e "s|/etc/mirror-agent/tls/raft-1.key|$PKI/server.key|" \
	-e "s|^listen = .*|listen = 127.0.0.1:0|" \
	-e "s|^spool = /var/lib/raftkv/spool/kv|spool = $spool|" \
	"$ex/mirror-agent-serve.conf.example" >"$TMP/serve.conf"
check "the serve example's keys survive the edit (listen, access, spool)" \
	grep -q "^listen = 127.0.0.1:0" "$TMP/serve.conf"
check "check-config --role serve accepts the serve file" \
	"$AGENT" check-config --role serve "$TMP/serve.conf"

"$AGENT" serve --config "$TMP/serve.conf" --port-file "$TMP/serve.port" \
	--set serve.heartbeat_interval=200ms --set "agent.pid_file=$TMP/serve.pid" \
	>"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
T_PIDS="$T_PIDS $SERVE_PID"
if wait_until 20 test -s "$TMP/serve.port"; then
	ok "serve --config came up"
else
	not_ok "serve --config did not write its port"
	sed 's/^/# /' "$TMP/serve.log" | tail -n 10
	finish
fi
SERVE_PORT=$(cat "$TMP/serve.port")
check "serve logged the file's database" grep -q "database kv" "$TMP/serve.log"
check "serve wrote its pid to [agent] pid_file" \
	sh -c "test \"\$(cat '$TMP/serve.pid')\" = $SERVE_PID"

# The follow example: TLS paths, data_dir, the read API, the source list
# (a continued list in the example) and the certificate name changed.
awk -v pki="$PKI" -v dir="$TMP/mirror" -v port="$SERVE_PORT" '
	/^sources = / { print "sources = 127.0.0.1:" port; skip = 1; next }
	skip && /^[ \t]/ { next }
	{ skip = 0 }
	/^#data_dir = / { print "data_dir = " dir; next }
	/^#http_listen = / { print "http_listen = 127.0.0.1:0"; next }
	/^#server_name = / { print "server_name = localhost"; next }
	{ sub("/etc/mirror-agent/tls/ca.pem", pki "/ca.pem")
	  sub("/etc/mirror-agent/tls/mirror-1.pem", pki "/mirror-1.pem")
	  sub("/etc/mirror-agent/tls/mirror-1.key", pki "/mirror-1.key")
	  print }' "$ex/mirror-agent.conf.example" >"$TMP/follow.conf"
check "the follow example's keys survive the edit (sources, data_dir)" \
	grep -q "^sources = 127.0.0.1:$SERVE_PORT\$" "$TMP/follow.conf"
check "check-config --role follow accepts the follow file" \
	"$AGENT" check-config --role follow "$TMP/follow.conf"

# The example's applier is kv; spoolgen's entries are not kv commands,
# so --set overrides it (and shows that follow takes --set).
timeout 60 "$AGENT" follow --config "$TMP/follow.conf" \
	--set database.kv.applier=none --http-port-file "$TMP/http.port" \
	--exit-when-following >"$TMP/follow.log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok "follow --config reached Following and exited 0"
else not_ok "follow --config exit status $rc"; tail -n 20 "$TMP/follow.log" | sed 's/^/# /'; fi
check "follow --config: snapshot byte-identical" \
	cmp "$spool/snapshots/200-1.snapshot" "$TMP/mirror/kv/snapshots/200-1.snapshot"
"$AGENT" wal dump "$spool/wal" --from 201 >"$TMP/src.dump" 2>/dev/null
"$AGENT" wal dump "$TMP/mirror/kv/wal" --from 201 >"$TMP/mirror.dump" 2>/dev/null
check "follow --config: entries 201..500 equal to the source's" \
	sh -c "test \$(wc -l <'$TMP/mirror.dump') -eq 300 && cmp '$TMP/src.dump' '$TMP/mirror.dump'"
check "the read API from [agent] http_listen wrote its port" \
	test -s "$TMP/http.port"
check "the status file says kv is Following" is_state "$TMP/mirror" kv Following
"$AGENT" status --config "$TMP/follow.conf" --json >"$TMP/st.conf" 2>&1
"$AGENT" status --data-dir "$TMP/mirror" --json >"$TMP/st.dir" 2>&1
check "status --config reads the file's data_dir (same as --data-dir)" \
	sh -c "test -s '$TMP/st.dir' && cmp '$TMP/st.conf' '$TMP/st.dir'"

# --config=FILE (one argument) and --set agent.data_dir: a second mirror.
timeout 60 "$AGENT" follow --config="$TMP/follow.conf" \
	--set=database.kv.applier=none --set "agent.data_dir=$TMP/mirror2" \
	--set agent.http_listen=127.0.0.1:0 --exit-when-following \
	>"$TMP/follow2.log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok "follow --config=FILE --set agent.data_dir=... reached Following"
else not_ok "follow --config=FILE exit status $rc"; tail -n 20 "$TMP/follow2.log" | sed 's/^/# /'; fi
check "the second mirror is in --set's data_dir" \
	cmp "$spool/snapshots/200-1.snapshot" "$TMP/mirror2/kv/snapshots/200-1.snapshot"
check "the second mirror's status file says kv is Following" \
	is_state "$TMP/mirror2" kv Following

kill "$SERVE_PID" 2>/dev/null
wait_pid "$SERVE_PID" 2>/dev/null
check "serve --config stopped cleanly on SIGTERM" \
	grep -q "stopping on signal" "$TMP/serve.log"
check "serve removed its pid file" test ! -e "$TMP/serve.pid"
finish
