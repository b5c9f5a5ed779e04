#!/bin/sh
# Installs everything mirror-agent needs on Debian 12, as root. Idempotent:
# Debian packages are installed only when missing and the libraries kept
# out of the system (wolfSSL with QUIC, ngtcp2 1.11 with its wolfSSL crypto
# helper, nghttp3 1.8) are cached under $MIRROR_AGENT_DEPS (default
# /opt/mirror-agent-deps), keyed by version and flags, so a second run
# takes seconds.
#
# Why self-built: Debian builds wolfSSL without --enable-quic and ngtcp2
# without libngtcp2_crypto_wolfssl. Both are built from Debian's own source
# packages (ngtcp2 1.11 from bookworm-backports). nghttp3 1.8 is Debian's
# bookworm-backports binary package, unpacked into a prefix rather than
# installed, so the system keeps its libnghttp3-dev. Each gets its own
# prefix (ngtcp2 and nghttp3 named by version) so the QUIC-enabled wolfSSL
# headers are never mixed with a system copy.
set -eu

PREFIX=${MIRROR_AGENT_DEPS:-/opt/mirror-agent-deps}
WOLFSSL_VERSION=5.5.4
# ngtcp2 and nghttp3 come from bookworm-backports (issue 12 item 4): ngtcp2
# as the upstream tarball of its source package (its .dsc is not served),
# nghttp3 as Debian's binary packages unpacked into a prefix of their own,
# so the system's libnghttp3-dev (0.8) stays as it is. Backports are
# NotAutomatic: adding the entry upgrades nothing.
NGTCP2_VERSION=1.11.0
NGTCP2_DEB_VERSION=1.11.0-1~bpo12+1
NGHTTP3_VERSION=1.8.0
NGHTTP3_DEB_VERSION=1.8.0-1~bpo12+1
# Verified flag set (docs/DEPENDENCIES.md). Not Debian's: --enable-distro
# silently drops early data; the lean set without the openssl* options is
# reported to break server-side ALPN.
WOLFSSL_FLAGS="--enable-quic --enable-opensslall --enable-opensslextra \
--enable-session-ticket --enable-earlydata --enable-psk --enable-harden \
--enable-altcertchains --enable-aesni --enable-intelasm"
NGTCP2_FLAGS="--enable-lib-only --with-wolfssl"

PACKAGES="build-essential autoconf automake libtool pkg-config dpkg-dev \
clang-format python3 \
ca-certificates openssl iproute2 procps psmisc \
libevent-dev libmsgpack-dev libisal-dev libinih-dev libcmocka-dev \
libjansson-dev libzstd-dev zstd \
libnghttp3-dev libraft-dev libuv1-dev clang libclang-rt-14-dev \
nginx-light curl prometheus jq iputils-ping \
chromium"

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs Debian packages into the system)"
[ -r /etc/debian_version ] || die "this script supports Debian 12 only"

missing=""
for p in $PACKAGES; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing="$missing $p"
done
if [ -n "$missing" ]; then
	log "installing Debian packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >/dev/null
	# nginx is only a benchmark baseline; do not leave a service running.
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now nginx >/dev/null 2>&1 || true
		# prometheus is there for promtool (test_metrics.sh) only.
		systemctl disable --now prometheus >/dev/null 2>&1 || true
	fi
	pkill -x nginx 2>/dev/null || true
else
	log "Debian packages present"
fi

# deb-src entry derived from the machine's own apt sources (no host is
# written into the repository).
ensure_deb_src() {
	if grep -Rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ ||
	   grep -qs '^deb-src' /etc/apt/sources.list; then
		return 0
	fi
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
			> /etc/apt/sources.list.d/mirror-agent-src.sources
	elif [ -f /etc/apt/sources.list ]; then
		sed -n 's/^deb /deb-src /p' /etc/apt/sources.list \
			> /etc/apt/sources.list.d/mirror-agent-src.list
	else
		die "no apt sources found to derive a deb-src entry from"
	fi
	apt-get update -q >/dev/null
}

stamp_of() { printf '%s|%s' "$1" "$2" | cksum | cut -d' ' -f1; }

build_from_debian_source() { # name version prefix flags [pkg_config_path]
	name=$1; version=$2; dest=$3; flags=$4; pcpath=${5:-}
	stamp="$dest/.mirror-agent-stamp"
	want=$(stamp_of "$version" "$flags")
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		log "$name $version cached in $dest"
		return 0
	fi
	ensure_deb_src
	work=$(mktemp -d /tmp/mirror-agent-build.XXXXXX)
	log "building $name $version into $dest (a few minutes)"
	(
		cd "$work"
		apt-get source -q "$name=$version*" >/dev/null 2>&1 ||
			apt-get source -q "$name" >/dev/null
		src=$(find . -maxdepth 1 -mindepth 1 -type d -name "$name-*" | head -n1)
		[ -n "$src" ] || die "apt-get source $name produced no tree"
		cd "$src"
		[ -x configure ] || autoreconf -fi >/dev/null 2>&1
		rm -rf "$dest"
		# shellcheck disable=SC2086
		PKG_CONFIG_PATH="$pcpath" ./configure --prefix="$dest" $flags \
			>build.log 2>&1 || { tail -n 40 build.log; die "$name configure failed"; }
		make -j"$(nproc)" >>build.log 2>&1 || { tail -n 40 build.log; die "$name build failed"; }
		make install >>build.log 2>&1 || { tail -n 40 build.log; die "$name install failed"; }
	)
	rm -rf "$work"
	echo "$want" > "$stamp"
}

# bookworm-backports (deb and deb-src) derived from the machine's own entry
# for bookworm (no host is written into the repository).
ensure_backports() {
	if grep -Rqs 'bookworm-backports' /etc/apt/sources.list.d/ /etc/apt/sources.list; then
		return 0
	fi
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		awk 'BEGIN { RS = ""; ORS = "\n\n" }
			/(^|\n)Suites:[ \t]*bookworm([ \t]|\n|$)/ && !found {
				found = 1; n = split($0, l, "\n"); out = ""
				for (i = 1; i <= n; i++) {
					if (l[i] ~ /^#/) continue
					if (l[i] ~ /^Types:/) l[i] = "Types: deb deb-src"
					if (l[i] ~ /^Suites:/) l[i] = "Suites: bookworm-backports"
					out = out l[i] "\n"
				}
				printf "%s", out
			}' /etc/apt/sources.list.d/debian.sources \
			> /etc/apt/sources.list.d/mirror-agent-backports.sources
	elif [ -f /etc/apt/sources.list ]; then
		sed -n 's/^deb \(.*\) bookworm main.*$/deb \1 bookworm-backports main\
deb-src \1 bookworm-backports main/p' /etc/apt/sources.list \
			> /etc/apt/sources.list.d/mirror-agent-backports.list
	fi
	grep -Rqs 'bookworm-backports' /etc/apt/sources.list.d/ ||
		die "no bookworm entry in the apt sources to derive bookworm-backports from"
	apt-get update -q >/dev/null
}

# Builds the upstream tarball of a Debian source package (for versions whose
# .dsc is not served, only their .orig.tar.*).
build_from_debian_orig() { # name version debversion prefix flags [pkg_config_path]
	name=$1; version=$2; debversion=$3; dest=$4; flags=$5; pcpath=${6:-}
	stamp="$dest/.mirror-agent-stamp"
	want=$(stamp_of "$debversion" "$flags")
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		log "$name $version cached in $dest"
		return 0
	fi
	ensure_backports
	work=$(mktemp -d /tmp/mirror-agent-build.XXXXXX)
	chmod 755 "$work"
	log "building $name $version into $dest (a few minutes)"
	(
		cd "$work"
		# The .dsc and Debian tarball may 404; the orig tarball is what counts.
		apt-get source -q --download-only "$name=$debversion" >/dev/null 2>&1 || true
		orig=$(find . -maxdepth 1 -name "${name}_${version}*.orig.tar.*" ! -name '*.asc' | head -n1)
		[ -n "$orig" ] || die "apt-get source --download-only $name=$debversion fetched no orig tarball"
		tar xf "$orig"
		src=$(find . -maxdepth 1 -mindepth 1 -type d -name "$name-*" | head -n1)
		[ -n "$src" ] || die "$orig unpacked no tree"
		cd "$src"
		[ -x configure ] || autoreconf -fi >/dev/null 2>&1
		rm -rf "$dest"
		# shellcheck disable=SC2086
		PKG_CONFIG_PATH="$pcpath" ./configure --prefix="$dest" $flags \
			>build.log 2>&1 || { tail -n 40 build.log; die "$name configure failed"; }
		make -j"$(nproc)" >>build.log 2>&1 || { tail -n 40 build.log; die "$name build failed"; }
		make install >>build.log 2>&1 || { tail -n 40 build.log; die "$name install failed"; }
	)
	rm -rf "$work"
	echo "$want" > "$stamp"
}

# Unpacks Debian binary packages (library + -dev) into a prefix of their own
# with a flat include/ and lib/, and points the .pc file at it.
install_debs_into_prefix() { # pcname debversion prefix package...
	pcname=$1; debversion=$2; dest=$3; shift 3
	stamp="$dest/.mirror-agent-stamp"
	want=$(stamp_of "$debversion" "$*")
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		log "$pcname $debversion cached in $dest"
		return 0
	fi
	ensure_backports
	work=$(mktemp -d /tmp/mirror-agent-debs.XXXXXX)
	chmod 755 "$work"
	log "unpacking $* $debversion into $dest"
	(
		cd "$work"
		for p in "$@"; do
			apt-get download -q "$p=$debversion" >/dev/null 2>&1 ||
				die "apt-get download $p=$debversion failed"
		done
		mkdir root
		for d in ./*.deb; do dpkg-deb -x "$d" root; done
		rm -rf "$dest"
		mkdir -p "$dest/lib"
		cp -a root/usr/include "$dest/include"
		arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
		cp -a "root/usr/lib/$arch/." "$dest/lib/"
		pc="$dest/lib/pkgconfig/$pcname.pc"
		[ -f "$pc" ] || die "$* brought no $pcname.pc"
		sed -i -e "s|^prefix=.*|prefix=$dest|" \
			-e 's|^libdir=.*|libdir=${prefix}/lib|' \
			-e 's|^includedir=.*|includedir=${prefix}/include|' "$pc"
	)
	rm -rf "$work"
	echo "$want" > "$stamp"
}

build_from_debian_source wolfssl "$WOLFSSL_VERSION" "$PREFIX/wolfssl" "$WOLFSSL_FLAGS"
grep -q '#define WOLFSSL_QUIC\|-DWOLFSSL_QUIC' \
	"$PREFIX/wolfssl/include/wolfssl/options.h" ||
	die "wolfSSL in $PREFIX/wolfssl was built without QUIC"
build_from_debian_orig ngtcp2 "$NGTCP2_VERSION" "$NGTCP2_DEB_VERSION" \
	"$PREFIX/ngtcp2-$NGTCP2_VERSION" "$NGTCP2_FLAGS" "$PREFIX/wolfssl/lib/pkgconfig"
[ -f "$PREFIX/ngtcp2-$NGTCP2_VERSION/lib/pkgconfig/libngtcp2_crypto_wolfssl.pc" ] ||
	die "ngtcp2 in $PREFIX/ngtcp2-$NGTCP2_VERSION lacks libngtcp2_crypto_wolfssl"
install_debs_into_prefix libnghttp3 "$NGHTTP3_DEB_VERSION" \
	"$PREFIX/nghttp3-$NGHTTP3_VERSION" libnghttp3-9 libnghttp3-dev

log "ready: configure finds $PREFIX by default (or pass --with-deps=$PREFIX)"
