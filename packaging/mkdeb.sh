#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make deb: build the project's Debian packages into build/deb/, without
# debhelper (each package's tree is laid out here and packed by dpkg-deb):
#
#   gpusvm-dkms  (all)    the kernel sources and dkms.conf in
#                         /usr/src/gpusvm-VERSION; its postinst has DKMS build
#                         and install drm_gpusvm, drm_pagemap and vsvm for
#                         every installed 6.1 kernel with headers
#   vsvm-tools   (amd64)  /usr/bin/vsvm-demo, linked against the system's
#                         libdrm (Depends: libdrm2) and its manual page
#   libvsvm-dev  (amd64)  the UAPI header vsvm_drm.h and libvsvm's vsvm.h in
#                         /usr/include/vsvm/, libvsvm.a and vsvm.pc
#
# The version is VERSION's, plus +gitN.gHASH (N commits, HEAD's hash) in a
# git checkout: it grows with every commit, as upgrades need. The packages
# are reproducible: every timestamp is HEAD's commit time.
set -euo pipefail
. "$(dirname "$0")/../vm/lib.sh"

PKG_DIR=$TOP_DIR/packaging
OUT=$TOP_DIR/build/deb
WORK=$TOP_DIR/build/deb-work
cd "$TOP_DIR"

# Kernel sources of the DKMS package (as KMOD_SOURCES in the Makefile).
KMOD_SOURCES="Kbuild include gpusvm vsvm"

base=$(tr -d ' \n' <VERSION)
if git rev-parse --git-dir >/dev/null 2>&1; then
	version=$base+git$(git rev-list --count HEAD).g$(git rev-parse --short=7 HEAD)
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
	maintainer=$(git log -1 --format='%an <%ae>')
	# shellcheck disable=SC2086 # one word per path
	sources=$(git ls-files -- $KMOD_SOURCES)
	# shellcheck disable=SC2086
	[ -z "$(git status --porcelain -- $KMOD_SOURCES user VERSION dkms.conf packaging)" ] ||
		log "warning: uncommitted changes are packaged as $version"
else
	version=$base
	SOURCE_DATE_EPOCH=$(stat -c %Y VERSION)
	maintainer="gpusvm maintainers <gpusvm-maintainers@users.noreply.github.com>"
	# shellcheck disable=SC2086
	sources=$(find $KMOD_SOURCES -type f \( -name Kbuild -o -name '*.[ch]' \) | sort)
fi
maintainer=${DEB_MAINTAINER:-$maintainer}
export SOURCE_DATE_EPOCH
dpkg --compare-versions "$version" gt 0 2>/dev/null || die "bad Debian version '$version'"
date_rfc2822=$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)

rm -rf "$WORK" "$OUT"
mkdir -p "$WORK/obj" "$OUT"

# Common files of every package: copyright and a changelog naming the commit.
add_docs() { # ROOT PACKAGE
	local doc=$1/usr/share/doc/$2
	mkdir -p "$doc"
	cp "$PKG_DIR/debian/copyright" "$doc/copyright"
	{
		echo "$2 ($version) unstable; urgency=medium"
		echo
		echo "  * Built from the gpusvm repository$(git rev-parse --short=12 HEAD 2>/dev/null |
			sed 's/^/ at commit /'); see its history."
		echo
		echo " -- $maintainer  $date_rfc2822"
	} | gzip -9n >"$doc/changelog.gz"
}

# Pack ROOT into build/deb/NAME_VERSION_ARCH.deb: ROOT/DEBIAN/control gets
# the fields common to all packages, Installed-Size and md5sums.
pack() { # ROOT NAME ARCH CONTROL-FIELDS
	local root=$1 name=$2 parch=$3 fields=$4 size
	find "$root" -type d -exec chmod 0755 {} +
	find "$root" -type f -exec chmod go-w,a+r {} +
	size=$(du -s -k --apparent-size --exclude=DEBIAN "$root" | cut -f1)
	mkdir -p "$root/DEBIAN"
	{
		echo "Package: $name"
		echo "Version: $version"
		echo "Architecture: $parch"
		echo "Maintainer: $maintainer"
		echo "Installed-Size: $size"
		printf '%s\n' "$fields"
	} >"$root/DEBIAN/control"
	(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' |
		LC_ALL=C sort | xargs -r md5sum) >"$root/DEBIAN/md5sums"
	chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
	find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	dpkg-deb --root-owner-group -Zxz --build "$root" \
		"$OUT/${name}_${version}_$parch.deb" >/dev/null
	log "$(basename "$OUT")/${name}_${version}_$parch.deb: $(du -h \
		"$OUT/${name}_${version}_$parch.deb" | cut -f1)"
}

# --- gpusvm-dkms ---------------------------------------------------------
root=$WORK/gpusvm-dkms
src=$root/usr/src/gpusvm-$version
mkdir -p "$src"
for f in $sources; do
	install -D -m 0644 "$f" "$src/$f"
done
sed "s/@VERSION@/$version/" dkms.conf >"$src/dkms.conf"
add_docs "$root" gpusvm-dkms
mkdir -p "$root/DEBIAN"
for s in postinst prerm; do
	sed "s/@VERSION@/$version/" "$PKG_DIR/debian/gpusvm-dkms.$s" >"$root/DEBIAN/$s"
	chmod 0755 "$root/DEBIAN/$s"
done
pack "$root" gpusvm-dkms all "Depends: dkms (>= 3.0)
Recommends: linux-headers-amd64 | linux-headers-generic | linux-headers
Suggests: vsvm-tools
Section: kernel
Priority: optional
Description: GPU shared virtual memory framework and virtual SVM GPU (DKMS)
 DKMS sources of three Linux 6.1 kernel modules:
  - drm_gpusvm: GPU shared virtual memory helpers (GPU page faults on
    process memory through hmm_range_fault and MMU notifiers);
  - drm_pagemap: device-memory providers and migration helpers;
  - vsvm: a virtual GPU whose engine runs in software, the reference
    driver of drm_gpusvm (render nodes in /dev/dri).
 DKMS builds and installs them for every installed 6.1 kernel with its
 headers, now and when a kernel is installed later. Where the kernel has no
 DEVICE_PRIVATE (Debian's stock kernel), vsvm's device memory is compiled
 out and everything else works."

# --- user space: libvsvm and vsvm-demo -----------------------------------
# Debian's build flags, hardening on; the project's warnings as make user.
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cppflags=$(dpkg-buildflags --get CPPFLAGS)
cflags=$(dpkg-buildflags --get CFLAGS)
ldflags=$(dpkg-buildflags --get LDFLAGS)
warn="-Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Werror"
inc="-Iinclude/uapi/drm -Iuser/lib $(pkg-config --cflags libdrm)"
obj=$WORK/obj
# shellcheck disable=SC2086 # flag lists
gcc $cppflags $cflags $warn $inc -c -o "$obj/vsvm.o" user/lib/vsvm.c
ar rcsD "$obj/libvsvm.a" "$obj/vsvm.o"
# shellcheck disable=SC2086,SC2046
gcc $cppflags $cflags $warn $inc $ldflags -o "$obj/vsvm-demo" user/demo/vsvm-demo.c \
	"$obj/libvsvm.a" $(pkg-config --libs libdrm)
# As dh_strip does (the debug information is not packaged).
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$obj/vsvm-demo"
strip --remove-section=.comment --strip-debug --enable-deterministic-archives \
	"$obj/libvsvm.a"

# The demo's library dependencies, as dh_shlibdeps computes them.
mkdir -p "$WORK/shlibs/debian"
printf 'Source: gpusvm\n\nPackage: vsvm-tools\nArchitecture: any\n' \
	>"$WORK/shlibs/debian/control"
shlibs=$(cd "$WORK/shlibs" && dpkg-shlibdeps -O -e"$obj/vsvm-demo" 2>"$WORK/shlibdeps.err" |
	sed -n 's/^shlibs:Depends=//p') || true
[ -n "$shlibs" ] || { cat "$WORK/shlibdeps.err" >&2
	die "dpkg-shlibdeps found no dependencies of vsvm-demo"; }

# --- vsvm-tools ----------------------------------------------------------
root=$WORK/vsvm-tools
install -D -m 0755 "$obj/vsvm-demo" "$root/usr/bin/vsvm-demo"
mkdir -p "$root/usr/share/man/man1"
gzip -9n <"$PKG_DIR/debian/vsvm-demo.1" >"$root/usr/share/man/man1/vsvm-demo.1.gz"
add_docs "$root" vsvm-tools
pack "$root" vsvm-tools "$arch" "Depends: $shlibs
Recommends: gpusvm-dkms
Section: utils
Priority: optional
Description: demo of the virtual SVM GPU (vsvm)
 vsvm-demo has the vsvm virtual GPU work on ordinary allocations of the
 process (malloc, the stack, a global, a transparent huge page, a file
 mapping) without registering them, checks every result and prints what
 the driver did: GPU page faults, ranges, invalidations, migrations.
 The vsvm kernel module comes from gpusvm-dkms."

# --- libvsvm-dev ---------------------------------------------------------
root=$WORK/libvsvm-dev
install -D -m 0644 include/uapi/drm/vsvm_drm.h "$root/usr/include/vsvm/vsvm_drm.h"
install -D -m 0644 user/lib/vsvm.h "$root/usr/include/vsvm/vsvm.h"
install -D -m 0644 "$obj/libvsvm.a" "$root/usr/lib/$multiarch/libvsvm.a"
mkdir -p "$root/usr/lib/$multiarch/pkgconfig"
sed -e "s/@VERSION@/$version/" -e "s/@MULTIARCH@/$multiarch/" \
	"$PKG_DIR/debian/vsvm.pc.in" >"$root/usr/lib/$multiarch/pkgconfig/vsvm.pc"
add_docs "$root" libvsvm-dev
pack "$root" libvsvm-dev "$arch" "Depends: libdrm-dev
Section: libdevel
Priority: optional
Description: UAPI header and static library of the virtual SVM GPU (vsvm)
 The vsvm UAPI (vsvm_drm.h: ioctls, job and VM structures) and libvsvm, a
 small C library over it through libdrm (vsvm.h, libvsvm.a), in
 /usr/include/vsvm/ so as not to clash with libdrm's headers. Build with
 pkg-config: cc prog.c \$(pkg-config --cflags --libs vsvm)."

rm -rf "$WORK"
log "deb: $version in $OUT"
