#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make deb-check: check the packages of make deb without changing the host.
#   1. dpkg-deb --info and --contents of each package, and the files each
#      one must carry;
#   2. lintian (pedantic): no error and no warning;
#   3. a real DKMS build of the packaged sources against Debian's stock
#      headers: gpusvm-dkms is extracted into a throwaway root and dkms add,
#      build and install run there with their own trees (--sourcetree,
#      --dkmstree, --installtree; a throwaway signing key, no depmod), so
#      neither /var/lib/dkms nor /lib/modules is touched; no compiler
#      warning. The modules it installs are copied to build/dkms-stock/ and
#      must carry the stock kernel's vermagic. A 6.18 kernel must be skipped
#      (exit code 77).
set -euo pipefail
. "$(dirname "$0")/../vm/lib.sh"

DEB=$TOP_DIR/build/deb
OUT=$TOP_DIR/build/dkms-stock
MODULES="drm_gpusvm drm_pagemap vsvm"

deb_of() { # PACKAGE: its .deb in build/deb
	local f
	f=$(ls "$DEB/$1"_*.deb 2>/dev/null) || die "no $1 package: run 'make deb'"
	echo "$f"
}
dkms_deb=$(deb_of gpusvm-dkms)
tools_deb=$(deb_of vsvm-tools)
dev_deb=$(deb_of libvsvm-dev)
version=$(dpkg-deb -f "$dkms_deb" Version)
fail=0
bad() { log "FAIL: $*"; fail=1; }

# 1. Metadata and contents.
has() { # DEB PATH...: the package holds each PATH
	local deb=$1 list p
	shift
	list=$(dpkg-deb --contents "$deb" | awk '{ print $6 }' | sed 's|^\./|/|')
	for p in "$@"; do
		grep -qxF "$p" <<<"$list" || bad "$(basename "$deb") lacks $p"
	done
}
for deb in "$dkms_deb" "$tools_deb" "$dev_deb"; do
	echo "== $(basename "$deb")"
	dpkg-deb --info "$deb" | sed -n '/^ Package:/,/^ Description:/p'
	echo "   $(dpkg-deb --contents "$deb" | grep -vc '/$') files"
	[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || bad "$(basename "$deb"): version"
done
src=/usr/src/gpusvm-$version
has "$dkms_deb" "$src/dkms.conf" "$src/Kbuild" "$src/gpusvm/drm_gpusvm.c" \
	"$src/gpusvm/drm_pagemap.c" "$src/vsvm/vsvm_drv.c" "$src/include/drm/drm_gpusvm.h" \
	"$src/include/uapi/drm/vsvm_drm.h" /usr/share/doc/gpusvm-dkms/copyright
has "$tools_deb" /usr/bin/vsvm-demo /usr/share/man/man1/vsvm-demo.1.gz
has "$dev_deb" /usr/include/vsvm/vsvm_drm.h /usr/include/vsvm/vsvm.h \
	"/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libvsvm.a" \
	"/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/pkgconfig/vsvm.pc"
dpkg-deb -f "$dkms_deb" Depends | grep -qw dkms || bad "gpusvm-dkms does not depend on dkms"
dpkg-deb -f "$tools_deb" Depends | grep -qw libdrm2 || bad "vsvm-tools does not depend on libdrm2"

# 2. lintian: every tag but the informational ones fails (no overrides).
echo "== lintian --pedantic"
out=$(lintian --pedantic --fail-on error,warning "$dkms_deb" "$tools_deb" "$dev_deb" 2>&1) &&
	rc=0 || rc=$?
out=$(grep -v 'running with root privileges' <<<"$out" || true)
[ -z "$out" ] || printf '%s\n' "$out"
[ "$rc" -eq 0 ] || bad "lintian"
[ -n "$out" ] || echo "   clean"

# 3. DKMS build and install in throwaway trees.
kdir=$(stock_kdir)
kver=$(basename "$kdir")
kver=${kver#linux-headers-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpusvm-deb-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/dkms" "$tmp/install/$kver" "$tmp/tmp"
dpkg-deb -x "$dkms_deb" "$tmp/root"
# dkms reads its signing settings from the environment too: the key is
# made in the throwaway tree, not in /var/lib/dkms.
dkms_env=(env "TMPDIR=$tmp/tmp" "mok_signing_key=$tmp/mok.key" "mok_certificate=$tmp/mok.pub")
dkms_args=(-m gpusvm -v "$version" --sourcetree "$tmp/root/usr/src"
	--dkmstree "$tmp/dkms" --installtree "$tmp/install")
dkms_() { # ACTION [OPTION...]: dkms with the throwaway trees
	local action=$1
	shift
	"${dkms_env[@]}" dkms "$action" "${dkms_args[@]}" "$@"
}
echo "== dkms add, build, install gpusvm/$version for $kver (throwaway trees)"
start=$(date +%s)
dkms_ add >"$tmp/add.log" 2>&1 || { cat "$tmp/add.log"; die "dkms add failed"; }
# A kernel that is not 6.1 is skipped with exit code 77 (dkms.conf's
# BUILD_EXCLUSIVE_KERNEL), which the postinst and DKMS's hooks take as such.
rc=0
dkms_ build -k 6.18.0-not-6.1 --kernelsourcedir "$kdir" >"$tmp/exclusive.log" 2>&1 || rc=$?
echo "   dkms build for a 6.18 kernel: exit $rc (77: not built, as dkms.conf says)"
[ "$rc" -eq 77 ] || { cat "$tmp/exclusive.log"; bad "dkms build for 6.18: exit $rc, not 77"; }
if ! nice -n 19 "${dkms_env[@]}" dkms build "${dkms_args[@]}" -k "$kver" \
	--kernelsourcedir "$kdir" >"$tmp/build.log" 2>&1; then
	cat "$tmp/build.log"
	cat "$tmp/dkms/gpusvm/$version/build/make.log" 2>/dev/null || true
	die "dkms build failed"
fi
dkms_ install -k "$kver" --kernelsourcedir "$kdir" --no-depmod >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; die "dkms install failed"; }
echo "   $(dkms_ status -k "$kver" 2>&1) ($(($(date +%s) - start)) s)"
grep -E 'Signing module|won.t be signed' "$tmp/build.log" | sed 's/^/   /' | head -n 3
# The project builds with -Werror everywhere else: no warning here either.
makelog=$tmp/dkms/gpusvm/$version/$kver/$(uname -m)/log/make.log
[ -f "$makelog" ] || bad "no DKMS make.log"
if grep -q 'warning:' "$makelog" 2>/dev/null; then
	grep -B2 -A2 'warning:' "$makelog"
	bad "compiler warnings in the DKMS build"
fi

rm -rf "$OUT"
mkdir -p "$OUT"
want=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$kdir/include/generated/utsrelease.h")
[ "$want" = "$kver" ] || bad "headers $kdir are for $want, not $kver"
for m in $MODULES; do
	ko=$tmp/install/$kver/updates/dkms/$m.ko
	[ -f "$ko" ] || { bad "dkms installed no $m.ko"; continue; }
	cp "$ko" "$OUT/"
	vermagic=$(modinfo -F vermagic "$ko")
	printf '   %-12s vermagic %s; depends %s\n' "$m.ko" "$vermagic" \
		"$(modinfo -F depends "$ko")"
	[ "${vermagic%% *}" = "$want" ] || bad "$m.ko: vermagic $vermagic, not $want"
	modinfo -F vermagic "$ko" | grep -qw modversions || bad "$m.ko: no modversions"
done
extra=$(find "$tmp/install" -name '*.ko*' | grep -cvE "/($(echo "$MODULES" | tr ' ' '|'))\.ko$" || true)
[ "$extra" -eq 0 ] || bad "dkms installed modules not listed in MODULES"

[ $fail -eq 0 ] || die "deb-check failed"
log "deb-check: $version clean (lintian), DKMS-built for $kver: $OUT"
