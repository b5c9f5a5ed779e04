#!/bin/sh
# Snapshot compression end to end over loopback QUIC (issue 12 item 8):
# serve (default level 3) and follow --snapshot-compression zstd move an
# 8 MiB snapshot, half text lines, half random bytes; the snapshot must be
# byte-identical, serve must have sent fewer bytes than the snapshot's
# (its log), and the mirror's metrics must count the same wire bytes and
# the snapshot's raw bytes. Then the cases that must stay raw: auto on
# loopback (RTT under 10 ms), and a source with compression off (it
# offers none, so the mirror does not ask).
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 13
gen_certs
SIZE=8388608
# 2 MiB of text lines, then 2 MiB of random bytes, twice: serve's 256 KiB
# chunks are all text or all random.
seq -f 'key-%08g = the value of this line, unchanged' 1 80000 |
	head -c 2097152 >"$TMP/data"
head -c 2097152 /dev/urandom >>"$TMP/data"
spool=$TMP/src/kv
"$SPOOLGEN" init "$spool" --database kv >/dev/null &&
"$SPOOLGEN" append "$spool" --from 1 --count 200 --term 1 >/dev/null &&
"$SPOOLGEN" snapshot "$spool" --index 200 --term 1 --size "$SIZE" \
	--from-file "$TMP/data" >/dev/null &&
"$SPOOLGEN" append "$spool" --count 100 --term 1 >/dev/null ||
	{ echo "Bail out! spoolgen failed"; exit 1; }

# follow_run NAME MODE: follows until Following, reads /metrics into
# $TMP/NAME.metrics, stops.
follow_run() {
	# shellcheck disable=SC2046
	"$AGENT" follow --data-dir "$TMP/$1" --source "127.0.0.1:$SERVE_PORT" \
		$(follow_tls) --database kv --snapshot-compression "$2" \
		--http-listen 127.0.0.1:0 --http-port-file "$TMP/$1.port" \
		>"$TMP/$1.log" 2>&1 &
	fpid=$!
	T_PIDS="$T_PIDS $fpid"
	wait_until 60 is_state "$TMP/$1" kv Following &&
		wait_until 5 test -s "$TMP/$1.port" ||
		{ echo "Bail out! follow ($2) did not reach Following"; sed 's/^/# /' "$TMP/$1.log" | tail -n 20; exit 1; }
	curl -s --max-time 10 -o "$TMP/$1.metrics" \
		"http://127.0.0.1:$(cat "$TMP/$1.port")/metrics" ||
		{ echo "Bail out! GET /metrics failed"; exit 1; }
	kill -TERM "$fpid"
	wait "$fpid" 2>/dev/null
}
metric() { sed -n "s/^$2{db=\"kv\"} //p" "$TMP/$1.metrics"; }

start_serve serve --database "kv=$spool" --allow "mirror-1=kv"
follow_run z zstd
check "zstd: snapshot byte-identical" \
	cmp "$spool/snapshots/200-1.snapshot" "$TMP/z/kv/snapshots/200-1.snapshot"
check "zstd: the mirror asked for zstd chunks" \
	grep -q "asking for zstd snapshot chunks (snapshot_compression zstd" "$TMP/z.log"
line=$(grep "on the wire (zstd level 3)" "$TMP/serve.log" | tail -n 1)
raw=$(echo "$line" | sed -n 's/.*: \([0-9]*\) bytes in \([0-9]*\) on the wire.*/\1/p')
wire=$(echo "$line" | sed -n 's/.*: \([0-9]*\) bytes in \([0-9]*\) on the wire.*/\2/p')
diag "serve: $raw snapshot bytes in $wire on the wire"
check "zstd: serve sent the whole snapshot's raw bytes" [ "${raw:-0}" -eq $SIZE ]
# The random half is sent raw (it does not shrink), the text half
# compressed to well under a quarter of itself.
check "zstd: wire bytes = the random half + under 1/8 for the text ($wire of $raw)" \
	[ "${wire:-0}" -gt $((SIZE / 2)) -a "${wire:-0}" -lt $((SIZE / 2 + SIZE / 8)) ]
mw=$(metric z mirror_snapshot_wire_bytes_total)
mr=$(metric z mirror_snapshot_raw_bytes_total)
diag "mirror: mirror_snapshot_wire_bytes_total $mw, mirror_snapshot_raw_bytes_total $mr"
check "zstd: the mirror's wire counter equals serve's ($mw)" [ "${mw:-x}" = "$wire" ]
check "zstd: the mirror's raw counter is the snapshot's size ($mr)" [ "${mr:-0}" -eq $SIZE ]
check "zstd: the mirror's wal verifies" "$AGENT" wal verify "$TMP/z/kv/wal"

# auto on loopback: the RTT is far under 10 ms, raw chunks.
follow_run a auto
check "auto: snapshot byte-identical" \
	cmp "$spool/snapshots/200-1.snapshot" "$TMP/a/kv/snapshots/200-1.snapshot"
check "auto on loopback asked for raw chunks" \
	grep -q "asking for raw snapshot chunks (snapshot_compression auto, minimum RTT [0-9] ms)" "$TMP/a.log"
check "auto: wire bytes equal raw bytes, the snapshot's size" \
	[ "$(metric a mirror_snapshot_wire_bytes_total)" = "$SIZE" ] &&
	[ "$(metric a mirror_snapshot_raw_bytes_total)" = "$SIZE" ]

# A source with compression off offers none; the mirror asks for raw
# (and never sends `encodings`, which an older serve would refuse).
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
start_serve serve0 --database "kv=$spool" --allow "mirror-1=kv" --compression-level 0
follow_run n zstd
check "level 0: snapshot byte-identical" \
	cmp "$spool/snapshots/200-1.snapshot" "$TMP/n/kv/snapshots/200-1.snapshot"
check "level 0: the mirror asked for raw chunks, the source offered none" \
	grep -q "asking for raw snapshot chunks (the source offers no compression)" "$TMP/n.log"
check "level 0: wire bytes equal raw bytes ($SIZE)" \
	[ "$(metric n mirror_snapshot_wire_bytes_total)" = $SIZE ]
