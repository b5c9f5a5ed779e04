#!/bin/sh
# What `make install` gives a user, tried as one would: install into a
# DESTDIR, build a small source-node program outside the tree against the
# installed tap library through pkg-config alone (shared, then static), let
# it write a spool, and serve that spool with the installed mirror-agent to
# a follow that must reach Following with the same entries.
. "$abs_top_srcdir/tests/integration/lib.sh"

plan 18
ROOT=$TMP/root
if ! make -s -C "$abs_top_builddir" install DESTDIR="$ROOT" >"$TMP/install.log" 2>&1; then
	echo "Bail out! make install DESTDIR=$ROOT failed"
	tail -n 20 "$TMP/install.log" | sed 's/^/# /'
	exit 1
fi
# The prefix is whatever configure was given: find the files by name.
pc=$(find "$ROOT" -name mirror-tap.pc | head -n 1)
bin=$(find "$ROOT" -path '*/bin/mirror-agent' | head -n 1)
if [ -z "$pc" ] || [ -z "$bin" ]; then
	echo "Bail out! no mirror-tap.pc or bin/mirror-agent under $ROOT"
	find "$ROOT" | sed 's/^/# /' | head -n 40
	exit 1
fi
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
prefix=$(dirname "$(dirname "$bin")")
iprefix=${prefix#"$ROOT"}

check "the library is installed in configure's libdir, not the dependencies'" \
	test "$libdir" = "$prefix/lib"
check "shared library with a versioned soname" \
	sh -c "readelf -d '$libdir/libmirror-tap.so.1' | grep -q 'SONAME.*\[libmirror-tap.so.1\]' &&
		test -L '$libdir/libmirror-tap.so'"
check "static library" test -s "$libdir/libmirror-tap.a"
check "the shared library exports tap_* and ma_strerror only" \
	sh -c "nm -D --defined-only '$libdir/libmirror-tap.so.1' | awk '{print \$3}' |
		grep -v -e '^tap_' -e '^ma_strerror\$' -e '^_' | { ! grep .; }"
check "public headers only: mirror-tap/tap.h and mirror-tap/errors.h" \
	sh -c "cd '$ROOT' && find . -name '*.h' | sort | sed 's|.*/include/||' | tr '\n' ' ' |
		grep -qx 'mirror-tap/errors.h mirror-tap/tap.h '"
check "man pages mirror-agent(8), mirror-agent.conf(5), mirror-tap(3)" \
	sh -c "test -s '$prefix/share/man/man8/mirror-agent.8' &&
		test -s '$prefix/share/man/man5/mirror-agent.conf.5' &&
		test -s '$prefix/share/man/man3/mirror-tap.3'"
if command -v man >/dev/null 2>&1; then
	check "the man pages render without warnings" \
		sh -c "for m in '$prefix'/share/man/man*/*; do
			MANWIDTH=80 man --warnings -l \"\$m\" 2>&1 >/dev/null | grep . && exit 1
		done; exit 0"
else
	skip "man is not installed"
fi
units=$(find "$ROOT" -name 'mirror-agent*.service' | wc -l)
check "three systemd units, naming the installed program" \
	sh -c "[ $units -eq 3 ] && grep -q '^ExecStart=$iprefix/bin/mirror-agent follow' \
		\$(find '$ROOT' -name mirror-agent-follow.service)"
if command -v systemd-analyze >/dev/null 2>&1; then
	for u in follow serve; do
		f=$(find "$ROOT" -name "mirror-agent-$u.service")
		fig=$(systemd-analyze security --offline=true "$f" 2>/dev/null |
			sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
		diag "systemd-analyze security mirror-agent-$u.service: $fig"
		# --threshold is in tenths: 20 is an exposure of 2.0.
		check "mirror-agent-$u.service: Type=notify, systemd-analyze security exposure <= 2.0 ($fig)" \
			sh -c "grep -qx 'Type=notify' '$f' && grep -q '^WatchdogSec=' '$f' &&
				systemd-analyze security --offline=true --threshold=20 '$f' >/dev/null 2>&1"
	done
else
	skip "systemd-analyze is not installed (units' exposure not measured)"
	skip "systemd-analyze is not installed"
fi
check "example configurations and documentation" \
	sh -c "find '$ROOT' -path '*/mirror-agent/examples/mirror-agent.conf.example' | grep -q . &&
		test -s '$prefix/share/doc/mirror-agent/OPERATIONS.md' &&
		test -s '$prefix/share/doc/mirror-agent/TAP.md' &&
		test -s '$prefix/share/doc/mirror-agent/DEPENDENCIES.md'"

# Only the DESTDIR's files: the sysroot makes pkg-config prefix its paths.
# The system's .pc files (libisal, raft) stay reachable; nothing else is.
PKG_CONFIG_LIBDIR="$pcdir:$(pkg-config --variable pc_path pkg-config)"
PKG_CONFIG_SYSROOT_DIR=$ROOT
unset PKG_CONFIG_PATH
export PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
cflags=$(pkg-config --cflags mirror-tap) && libs=$(pkg-config --libs mirror-tap) ||
	{ echo "Bail out! pkg-config mirror-tap failed"; exit 1; }
diag "cflags: $cflags libs: $libs"
mkdir "$TMP/app" && cp "$abs_top_srcdir/tests/integration/tap_install_app.c" "$TMP/app/app.c"
# An ASan build's library needs the same flags in the program
# (SAN_CFLAGS from configure --enable-sanitize, empty otherwise).
# shellcheck disable=SC2086
check "a program builds against the installed shared library (pkg-config)" \
	sh -c "cd '$TMP/app' && ${CC:-cc} -std=c11 -Wall -Werror ${SAN_CFLAGS:-} -o app app.c $cflags $libs \
		-Wl,-rpath,'$libdir'"
check "it loads the installed libmirror-tap.so.1" \
	sh -c "ldd '$TMP/app/app' | grep -q '$libdir/libmirror-tap.so.1'"
static_libs=$(pkg-config --static --libs mirror-tap | sed "s|-lmirror-tap|$libdir/libmirror-tap.a|")
# shellcheck disable=SC2086
check "and against the static library (pkg-config --static)" \
	sh -c "cd '$TMP/app' && ${CC:-cc} -std=c11 ${SAN_CFLAGS:-} -o app-static app.c $cflags $static_libs &&
		! ldd app-static | grep -q libmirror-tap"

check "the program writes a spool" sh -c "'$TMP/app/app' '$TMP/spool' | grep -qx 'last 300'"
check "installed mirror-agent verifies its wal and snapshot" \
	sh -c "'$bin' wal verify '$TMP/spool/wal' && '$bin' snapshot verify '$TMP/spool/snapshots/100-1.snapshot'"

# Served by the installed program to a follow.
AGENT=$bin
gen_certs
start_serve serve --database "kv=$TMP/spool" --allow "mirror-1=kv"
# shellcheck disable=SC2046
timeout 60 "$AGENT" follow --data-dir "$TMP/mirror" --source "127.0.0.1:$SERVE_PORT" \
	$(follow_tls) --database kv --exit-when-following >"$TMP/follow.log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok "follow of the spool reached Following"
else not_ok "follow exit status $rc"; tail -n 20 "$TMP/follow.log" | sed 's/^/# /'; fi
same_entries() {
	"$AGENT" wal dump "$TMP/spool/wal" --from 101 >"$TMP/src.dump" &&
	"$AGENT" wal dump "$TMP/mirror/kv/wal" --from 101 >"$TMP/mirror.dump" &&
	[ "$(wc -l <"$TMP/src.dump")" -eq 200 ] && cmp "$TMP/src.dump" "$TMP/mirror.dump"
}
check "the mirror holds entries 101..300 as written" same_entries
finish
