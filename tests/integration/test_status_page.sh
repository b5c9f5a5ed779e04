#!/bin/sh
# The status page at / (issue 13) in a real browser: a real serve and
# follow (applier kv) over loopback QUIC; Debian's headless Chromium loads
# the page from the running mirror; the test checks the DOM it built shows
# the figures the test caused (state Following, applied index and source
# commit equal to what it wrote, the followed source marked, a lag
# sparkline) and saves a screenshot under the build directory. Issue 8:
# two endpoints serve the same source (B a copy of A with more entries);
# the mirror starts on A, probes B, moves to B (B is ahead by more than
# source_lag_entries) and the DOM shows every endpoint's position (commit
# index, leader, leader contact, probe), the followed one marked, the
# source's leader contact and the switch with its reason. Without
# Chromium (scripts/setup.sh installs the `chromium` package) the browser
# checks skip, saying so; the page's own checks run regardless.
. "$abs_top_srcdir/tests/integration/lib.sh"

command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
plan 13
gen_certs

# A holds 30 entries, B (a copy: the same source) 42.
N=42
SPOOL=$TMP/src/kv
SPOOLB=$TMP/srcb/kv
"$SPOOLGEN" init "$SPOOL" --database kv >/dev/null &&
	"$SPOOLGEN" append "$SPOOL" --from 1 --count 30 --term 1 >/dev/null &&
	mkdir -p "$TMP/srcb" && cp -a "$SPOOL" "$SPOOLB" &&
	"$SPOOLGEN" append "$SPOOLB" --from 31 --count $((N - 30)) --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }
start_serve serve --database "kv=$SPOOL" --allow "mirror-1=kv"
PORT_A=$SERVE_PORT
PID_A=$SERVE_PID
start_serve serveb --database "kv=$SPOOLB" --allow "mirror-1=kv"
PORT_B=$SERVE_PORT
PID_B=$SERVE_PID

"$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$PORT_A" \
	--source "127.0.0.1:$PORT_B" \
	$(follow_tls) --database kv --set database.kv.applier=kv \
	--set follow.source_probe_interval=1s --set follow.source_lag_entries=5 \
	--set follow.source_lag_grace=0 \
	--http-listen 127.0.0.1:0 --http-port-file "$TMP/http.port" \
	>"$TMP/follow.log" 2>&1 &
T_PIDS="$T_PIDS $!"
wait_until 20 test -s "$TMP/http.port" ||
	{ echo "Bail out! the read API did not start"; sed 's/^/# /' "$TMP/follow.log"; exit 1; }
URL="http://127.0.0.1:$(cat "$TMP/http.port")/"

following() {
	curl -s --max-time 5 -o "$TMP/page.html" "$URL" &&
		grep -q "id=\"db-kv\" data-state=\"Following\" data-applied=\"$N\"" "$TMP/page.html"
}
check "the page says Following with applied index $N" wait_until 20 following
# Two samples at least for the sparkline, and A (no longer followed)
# probed since the move (probes every 1 s).
sleep 2.2
a_probed() {
	curl -s --max-time 5 "$URL" | grep -q "data-endpoint=\"127.0.0.1:$PORT_A\" [^>]*data-probe=\"ok\""
}
wait_until 10 a_probed
curl -s --max-time 5 -D "$TMP/page.hdr" -o "$TMP/page.html" "$URL"
check "served as text/html with a policy that forbids external assets" \
	sh -c "grep -qi '^Content-Type: text/html' '$TMP/page.hdr' && grep -qi \"^Content-Security-Policy: default-src 'none'\" '$TMP/page.hdr'"
n=$(grep -c 'src=\|href="http\|<script\|<link' "$TMP/page.html")
check "self-contained: no script, no external link or source ($n found)" test "$n" = 0

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
	for i in 1 2 3 4 5 6 7 8 9 10; do skip "chromium not installed (scripts/setup.sh installs the chromium package)"; done
	finish
fi
# chromium ARGS...: headless, no sandbox (tests may run as root), its
# profile in the scratch directory, bounded in time.
chromium_run() {
	timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
		--no-first-run --disable-extensions --user-data-dir="$TMP/chromium" \
		"$@" 2>>"$TMP/chromium.log"
}
chromium_run --dump-dom "$URL" >"$TMP/dom.html"
if [ -s "$TMP/dom.html" ]; then ok "headless Chromium loaded the page ($(wc -c <"$TMP/dom.html") bytes of DOM)"
else not_ok "Chromium produced no DOM"; sed 's/^/# /' "$TMP/chromium.log" | tail -5; fi
# cell CLASS: the text of the kv row's cell of that class in the DOM.
row=$(tr -d '\n' <"$TMP/dom.html" | sed -n 's/.*\(<tr class="db" id="db-kv"[^>]*>.*<\/tr>\).*/\1/p')
cell() { echo "$row" | sed -n "s/.*<td class=\"[^\"]*$1[^\"]*\">\([^<]*\)<.*/\1/p"; }
st=$(echo "$row" | sed -n 's/.*<td class="l state [a-z]*">\([A-Za-z]*\).*/\1/p')
check "the DOM shows state Following (got '$st')" test "$st" = Following
check "the DOM shows applied index $N and source commit $N (got '$(cell applied)', '$(cell source-commit)')" \
	test "$(cell applied)" = "$N" -a "$(cell source-commit)" = "$N"
echo "$row" >"$TMP/row.html"
# li ENDPOINT: the opening tag of that endpoint's item in the row.
li() { echo "$row" | grep -o "<li class=\"[a-z ]*\" data-endpoint=\"$1\"[^>]*>"; }
attr() { echo "$1" | sed -n "s/.* $2=\"\([^\"]*\)\".*/\1/p"; }
LA=$(li "127.0.0.1:$PORT_A")
LB=$(li "127.0.0.1:$PORT_B")
diag "A: $LA"
diag "B: $LB"
check "the DOM marks B (127.0.0.1:$PORT_B) followed at commit $N, A not followed at commit 30" \
	sh -c "echo '$LB' | grep -q 'class=\"src followed\"' && echo '$LA' | grep -q 'class=\"src\"' &&
		[ '$(attr "$LB" data-commit)' = $N ] && [ '$(attr "$LA" data-commit)' = 30 ]"
# spoolgen writes no freshness record: the leader is unknown, shown as
# such (empty attribute, a dash), never as a made-up figure; A, no longer
# followed, is probed.
check "the DOM shows each endpoint's leader and leader contact as unknown and A's probe ok" \
	sh -c "[ -z '$(attr "$LA" data-leader)' ] && [ -z '$(attr "$LB" data-leader-contact-ms)' ] &&
		[ '$(attr "$LA" data-probe)' = ok ] &&
		grep -q '<div class=\"small leader-contact\" data-ms=\"\">source leader contact: unknown</div>' '$TMP/row.html'"
sw=$(echo "$row" | sed -n 's/.*<div class="small switch" data-switches="\([0-9]*\)">.*<span class="switch-reason">\([^<]*\)<.*/\1 \2/p')
sw_ok() { echo "$sw" | grep -Eq '^1 kv: moving from endpoint 0 to endpoint 1 .*entries behind'; }
check "the DOM shows one switch and its reason (got '$sw')" sw_ok
check "the DOM has a lag sparkline with samples" \
	grep -q '<polyline[^>]*points="[0-9.]*,[0-9.]* [0-9.]*,' "$TMP/row.html"
# The source goes away: the lag is unknown from then on, and the
# sparkline must show those seconds as a gap, never as a lag of 0.
kill -TERM "$PID_A" "$PID_B" 2>/dev/null
unknown_lag() {
	curl -s --max-time 5 "$URL" | grep -q 'data-unknown="[3-9]"'
}
wait_until 20 unknown_lag
chromium_run --dump-dom "$URL" >"$TMP/dom2.html"
svg=$(tr -d '\n' <"$TMP/dom2.html" | grep -o '<svg class="spark"[^>]*>.*</svg>' | head -n 1)
samples=$(echo "$svg" | sed -n 's/.*data-samples="\([0-9]*\)".*/\1/p')
unknown=$(echo "$svg" | sed -n 's/.*data-unknown="\([0-9]*\)".*/\1/p')
# Points drawn: one per pair in every polyline, one per lone dot.
drawn=$(( $(echo "$svg" | grep -o 'points="[^"]*"' | tr ' ' '\n' | grep -c ',') + \
	$(echo "$svg" | grep -o '<circle class="lag"' | wc -l) ))
check "with the source gone the DOM's sparkline has unknown seconds ($unknown of $samples)" \
	sh -c "[ '${unknown:-0}' -ge 3 ] && grep -q 's unknown (gaps)' '$TMP/dom2.html'"
check "... drawn as a gap: only the known samples are points ($drawn = $samples - $unknown)" \
	test "$drawn" -eq $(( ${samples:-0} - ${unknown:-0} ))
SHOT="$abs_top_builddir/tests/integration/status_page.png"
rm -f "$SHOT"
chromium_run --screenshot="$SHOT" --window-size=1500,420 "$URL" >/dev/null
if [ -s "$SHOT" ] && [ "$(head -c 8 "$SHOT" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
	ok "screenshot saved: $SHOT ($(wc -c <"$SHOT") bytes, PNG)"
else not_ok "no screenshot at $SHOT"; sed 's/^/# /' "$TMP/chromium.log" | tail -5; fi
finish
