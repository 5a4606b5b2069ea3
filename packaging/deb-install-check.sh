#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make deb-install-check: the packages of make deb installed for real on this
# host, then purged. CHANGES THE HOST while it runs (root only; refuses when
# one of the packages is already installed):
#   1. apt-get install ./build/deb/*.deb (resolves their dependencies); the
#      postinst has DKMS build and install the modules for each kernel with
#      headers;
#   2. dkms status shows gpusvm installed for the stock kernel, whose
#      /lib/modules/KVER/updates/dkms/ holds the modules (modinfo only: they
#      are not loaded, the host may run another kernel);
#   3. the header, libvsvm and vsvm-demo are usable: a program compiled
#      against the installed header and library with pkg-config runs, and so
#      does vsvm-demo (it finds no vsvm device where the modules are not
#      loaded);
#   4. apt-get remove --purge, and nothing of the packages or of DKMS's
#      gpusvm trees is left. depmod's index files and DKMS's signing key,
#      made by the install, are then removed if they were not there before.
set -euo pipefail
. "$(dirname "$0")/../vm/lib.sh"

DEB=$TOP_DIR/build/deb
PACKAGES="gpusvm-dkms vsvm-tools libvsvm-dev"
MODULES="drm_gpusvm drm_pagemap vsvm"

[ "$(id -u)" -eq 0 ] || die "installs packages: run as root"
for p in $PACKAGES; do
	! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		die "$p is installed already: not touching it"
done
debs=$(ls "$DEB"/*.deb 2>/dev/null) || die "no packages: run 'make deb'"
version=$(dpkg-deb -f "$DEB"/gpusvm-dkms_*.deb Version)
kver=$(basename "$(stock_kdir)")
kver=${kver#linux-headers-}
moddir=/lib/modules/$kver
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
fail=0
bad() { log "FAIL: $*"; fail=1; }
step() { printf '\n== %s\n' "$*"; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpusvm-deb-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# What the install may leave behind that was not there before.
before_moddir=$(ls -A "$moddir")
had_mok=$([ -e /var/lib/dkms/mok.key ] && echo yes || true)

step "apt-get install $(echo "$debs" | xargs -n1 basename | tr '\n' ' ')"
start=$(date +%s.%N)
# shellcheck disable=SC2086 # one word per package file
DEBIAN_FRONTEND=noninteractive apt-get install -y $debs 2>&1 |
	grep -vE '^(Reading|Building|Selecting|\(Reading|Preparing|Note, selecting)' || true
printf 'install: %.1f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"
for p in $PACKAGES; do
	dpkg-query -W -f='${Status} ${Package} ${Version}\n' "$p" 2>/dev/null |
		grep '^install ok installed' || bad "$p is not installed"
done

step "dkms status"
status=$(dkms status gpusvm 2>&1)
echo "$status"
grep -qF "gpusvm/$version, $kver, $(uname -m): installed" <<<"$status" ||
	bad "gpusvm/$version is not installed for $kver"

step "$moddir/updates/dkms"
ls -l "$moddir/updates/dkms/"
for m in $MODULES; do
	ko=$moddir/updates/dkms/$m.ko
	[ -f "$ko" ] || { bad "no $ko"; continue; }
	echo "$m.ko: vermagic $(modinfo -F vermagic "$ko"); depends $(modinfo -F depends "$ko");" \
		"signer $(modinfo -F signer "$ko")"
	[ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$kver" ] || bad "$m.ko: vermagic"
	grep -q "^updates/dkms/$m.ko:" "$moddir/modules.dep" || bad "$m.ko is not in modules.dep"
done
grep '^updates/dkms/' "$moddir/modules.dep"

step "libvsvm-dev and vsvm-tools"
ls -l /usr/include/vsvm/ "/usr/lib/$multiarch/libvsvm.a" "/usr/lib/$multiarch/pkgconfig/vsvm.pc" \
	/usr/bin/vsvm-demo
echo "pkg-config --cflags --libs vsvm: $(pkg-config --cflags --libs vsvm)"
cat >"$tmp/prog.c" <<'EOF'
#include <stdio.h>
#include <vsvm.h>

int main(void)
{
	struct drm_vsvm_info info = { 0 };	/* from the UAPI header */
	int n = vsvm_num_devices();		/* from libvsvm */

	printf("sizeof(struct drm_vsvm_info) %zu, vsvm_num_devices() %d\n",
	       sizeof(info), n);
	return 0;
}
EOF
# shellcheck disable=SC2046 # pkg-config's flags
gcc -Wall -Werror -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs vsvm) ||
	bad "cannot build a program against libvsvm-dev"
"$tmp/prog" || bad "the program built against libvsvm-dev failed"
echo "vsvm-demo: $(ldd /usr/bin/vsvm-demo | grep -o 'libdrm[^ ]*' | head -n 1)," \
	"man page $(man -w vsvm-demo 2>/dev/null || echo missing)"
out=$(/usr/bin/vsvm-demo 2>&1) && rc=0 || rc=$?
echo "vsvm-demo: \"$out\" (exit $rc)"
if grep -qs '^vsvm ' /proc/modules; then
	[ "$rc" -eq 0 ] || bad "vsvm-demo failed with vsvm loaded"
else
	grep -q 'no vsvm device' <<<"$out" || bad "vsvm-demo did not run"
fi

step "apt-get remove --purge $PACKAGES"
start=$(date +%s.%N)
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y $PACKAGES 2>&1 |
	grep -vE '^(Reading|Building|\(Reading)' || true
printf 'purge: %.1f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"

step "left behind"
for p in $PACKAGES; do
	! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || bad "$p still installed"
done
[ -z "$(dkms status gpusvm 2>&1)" ] || bad "dkms status: $(dkms status gpusvm 2>&1)"
for f in /var/lib/dkms/gpusvm /usr/src/gpusvm-"$version" /usr/include/vsvm \
	"/usr/lib/$multiarch/libvsvm.a" "/usr/lib/$multiarch/pkgconfig/vsvm.pc" /usr/bin/vsvm-demo \
	/usr/share/doc/gpusvm-dkms /usr/share/doc/vsvm-tools /usr/share/doc/libvsvm-dev; do
	[ ! -e "$f" ] || bad "$f is left"
done
left=$(find "$moddir/updates/" -name '*.ko*' 2>/dev/null || true)
[ -z "$left" ] || bad "modules left: $left"
grep -q 'updates/dkms' "$moddir/modules.dep" 2>/dev/null && bad "modules.dep still lists updates/dkms"
echo "dkms status gpusvm: '$(dkms status gpusvm 2>&1)'; no module in $moddir/updates"

# depmod's index files (and the empty updates/dkms) and DKMS's signing key,
# if the install made them.
made=$(comm -13 <(echo "$before_moddir" | sort) <(ls -A "$moddir" | sort) | tr '\n' ' ')
echo "made by the install in $moddir: ${made:-nothing}"
for f in $made; do
	case "$f" in
	modules.*) rm -f "${moddir:?}/$f" ;;
	updates) find "${moddir:?}/updates" -depth -type d -empty -delete ;;
	*) bad "$moddir/$f is left" ;;
	esac
done
if [ -z "$had_mok" ] && [ -e /var/lib/dkms/mok.key ]; then
	echo "DKMS made its signing key /var/lib/dkms/mok.key (mok.pub): removed"
	rm -f /var/lib/dkms/mok.key /var/lib/dkms/mok.pub
fi

[ $fail -eq 0 ] || die "deb-install-check failed"
log "deb-install-check: $version installed, checked and purged"
