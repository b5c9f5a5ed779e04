#!/bin/sh
# systemd's Type=notify, played by tests/tools/notify_recv: `serve` sends
# READY=1 once it listens and `follow` once its databases are open, both
# send STATUS= lines with their state and WATCHDOG=1 every half
# WATCHDOG_USEC from their event loop, and STOPPING=1 on SIGTERM. Both
# socket kinds are used: a path (serve) and an abstract name (follow).
. "$abs_top_srcdir/tests/integration/lib.sh"

RECV="$abs_top_builddir/tests/tools/notify_recv"
plan 9
gen_certs
"$SPOOLGEN" init "$TMP/src/kv" --database kv >/dev/null &&
"$SPOOLGEN" append "$TMP/src/kv" --from 1 --count 50 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }

"$RECV" "$TMP/serve.sock" 30 >"$TMP/serve.notify" 2>"$TMP/recv1.log" &
T_PIDS="$T_PIDS $!"
wait_until 5 test -S "$TMP/serve.sock" || { echo "Bail out! notify_recv did not bind"; exit 1; }
NOTIFY_SOCKET="$TMP/serve.sock" WATCHDOG_USEC=200000 \
	start_serve serve --database "kv=$TMP/src/kv" --allow "mirror-1=kv"
check "serve: READY=1 once listening" wait_until 10 grep -qx 'READY=1' "$TMP/serve.notify"
check "serve: STATUS= names its databases and port" \
	wait_until 10 grep -qx "STATUS=serving 1 database(s) on UDP port $SERVE_PORT, [0-9]* open request(s)" "$TMP/serve.notify"
# 200 ms watchdog: a ping every 100 ms; 1.5 s gives about 15.
sleep 1.5
n=$(grep -cx 'WATCHDOG=1' "$TMP/serve.notify")
check "serve: WATCHDOG=1 every half interval from the loop ($n in about 1.5 s)" \
	test "$n" -ge 8

abs="@ma-notify-$$-$(date +%s)"
"$RECV" "$abs" 30 >"$TMP/follow.notify" 2>"$TMP/recv2.log" &
T_PIDS="$T_PIDS $!"
sleep 0.2
# shellcheck disable=SC2046
NOTIFY_SOCKET=$abs WATCHDOG_USEC=400000 WATCHDOG_PID=$$ \
	"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv >"$TMP/follow.log" 2>&1 &
FOLLOW_PID=$!
T_PIDS="$T_PIDS $FOLLOW_PID"
check "follow: READY=1 once its databases are open (abstract socket)" \
	wait_until 10 grep -qx 'READY=1' "$TMP/follow.notify"
check "follow: STATUS= reaches 'kv Following applied 50 lag 0'" \
	wait_until 15 grep -qx 'STATUS=kv Following applied 50 lag 0' "$TMP/follow.notify"
# WATCHDOG_PID names another process: this one must not ping.
check "follow: no WATCHDOG=1 when WATCHDOG_PID is another process" \
	sh -c "! grep -q WATCHDOG '$TMP/follow.notify'"
kill -TERM "$FOLLOW_PID"
wait_pid "$FOLLOW_PID"
check "follow: STOPPING=1 on SIGTERM" grep -qx 'STOPPING=1' "$TMP/follow.notify"
kill -TERM "$SERVE_PID"
wait_pid "$SERVE_PID"
check "serve: STOPPING=1 on SIGTERM" wait_until 5 grep -qx 'STOPPING=1' "$TMP/serve.notify"
check "READY=1 came before the first STATUS= (serve)" \
	sh -c "grep -n -e '^READY=1' -e '^STATUS=' '$TMP/serve.notify' | head -n 1 | grep -q READY"
finish
