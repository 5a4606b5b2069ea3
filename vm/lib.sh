# SPDX-License-Identifier: GPL-2.0
# Shared settings for the VM tooling. Source it; do not run it.
#
# Everything expensive (the kernel source and the built test kernel) lives in
# $GPUSVM_CACHE, outside the clone, so a fresh clone on the same machine reuses
# it. The test kernel's directory name is keyed by the config fragment's hash
# and the linux-source package version.
#
# KCONFIG_VARIANT selects a second test kernel: empty (the default) is
# allnoconfig + vm/kernel.config; "kasan" merges vm/kernel-kasan.config on top
# (KASAN, UBSAN, KFENCE) and has its own cache key, build directory and
# initramfs, so both kernels stay cached side by side.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP_DIR=$(cd "$VM_DIR/.." && pwd)
GPUSVM_CACHE=${GPUSVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpusvm}
SRC_PKG=linux-source-6.1
STOCK_HEADERS_PKG=linux-headers-amd64

# Debian packages the project needs on the host.
HOST_PACKAGES="build-essential bc bison flex libelf-dev libssl-dev cpio kmod \
xz-utils gzip perl python3 rsync $SRC_PKG $STOCK_HEADERS_PKG qemu-system-x86 \
busybox-static libdrm-dev pkg-config sparse python3-sphinx dkms lintian openssl"

# depmod, modinfo and dkms live in /sbin and /usr/sbin, which a user's PATH
# may lack.
PATH=$PATH:/usr/sbin:/sbin

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Install missing host packages (idempotent and quick when all are present).
ensure_host_packages() {
	local missing=() p
	for p in $HOST_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing: ${missing[*]}"
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq || die "apt-get update failed"
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}

src_version() {
	dpkg-query -W -f='${Version}' "$SRC_PKG" 2>/dev/null || die "$SRC_PKG not installed"
}

# Pristine kernel source tree, extracted once per package version.
kernel_src_dir() { echo "$GPUSVM_CACHE/src-$(src_version)/linux-source-6.1"; }

# The test kernel variant: "" (default), the NAME of a vm/kernel-NAME.config,
# or "stock": Debian's own kernel image, not built here (see stock_image_dir).
kernel_variant() {
	local v=${KCONFIG_VARIANT:-}
	[ "$v" != default ] || v=
	[ -z "$v" ] || [ "$v" = stock ] || [ -f "$VM_DIR/kernel-$v.config" ] ||
		die "unknown KCONFIG_VARIANT '$v' (no vm/kernel-$v.config)"
	echo "$v"
}

# The config fragments of the variant, in merge order (later ones win).
kernel_fragments() {
	local v
	v=$(kernel_variant)
	echo "$VM_DIR/kernel.config${v:+ $VM_DIR/kernel-$v.config}"
}

# The default kernel's key hashes vm/kernel.config alone (as it always did, so
# its cached build stays valid); a variant's key hashes every fragment.
kernel_key() {
	local h v
	v=$(kernel_variant)
	# shellcheck disable=SC2046 # one word per fragment file
	h=$(cat $(kernel_fragments) | sha256sum | cut -c1-16)
	echo "${v:+$v-}$(src_version)-$h"
}

# Build directory (O=) of the test kernel: also the KDIR for our modules.
kernel_build_dir() { echo "$GPUSVM_CACHE/kernel-$(kernel_key)"; }

# The VM's initramfs for the variant's kernel (its modules are in it).
initramfs_path() {
	local v
	v=$(kernel_variant)
	echo "$TOP_DIR/build/initramfs${v:+-$v}.cpio.gz"
}

# Directory of Debian's stock kernel headers: those linux-headers-amd64
# depends on (other flavours, backports or older releases installed beside
# them are not Debian's current 6.1 kernel).
stock_kdir() {
	local pkg
	pkg=$(dpkg-query -W -f='${Depends}' "$STOCK_HEADERS_PKG" 2>/dev/null |
		grep -o 'linux-headers-[^ ,]*' | head -n 1)
	[ -n "$pkg" ] || die "$STOCK_HEADERS_PKG is not installed (make deps)"
	[ -d "/usr/src/$pkg" ] || die "no /usr/src/$pkg ($STOCK_HEADERS_PKG depends on it)"
	echo "/usr/src/$pkg"
}

# Release of Debian's stock kernel whose headers are installed, e.g.
# 6.1.0-56-amd64: the kernel make modules-stock builds for and the stock VM
# boots.
stock_kver() {
	local d
	d=$(stock_kdir)
	d=${d##*/linux-headers-}
	echo "$d"
}

# Debian's kernel image package of that release, unpacked (dpkg-deb -x, not
# installed) with its modules and a modules.dep: vmlinuz in boot/, modules in
# lib/modules/RELEASE/. Keyed by release and package version, like the test
# kernel; ensure_stock_image fills it.
stock_image_dir() {
	local kver ver
	kver=$(stock_kver)
	ver=$(dpkg-query -W -f='${Version}' "linux-headers-$kver" 2>/dev/null) ||
		die "linux-headers-$kver not installed"
	echo "$GPUSVM_CACHE/stock-image-$kver-$ver"
}

# Fetch linux-image-RELEASE of the same version as the installed headers
# (apt-get download: the host's own kernel is not touched) and unpack it.
# It is unpacked beside its final place in the cache and renamed into it,
# so a run sharing the cache never sees half of it.
ensure_stock_image() {
	local dir kver ver tmp sudo=
	dir=$(stock_image_dir)
	[ -f "$dir/.complete" ] && return 0
	kver=$(stock_kver)
	ver=$(dpkg-query -W -f='${Version}' "linux-headers-$kver")
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	mkdir -p "$GPUSVM_CACHE"
	tmp=$(mktemp -d "$GPUSVM_CACHE/stock-image.XXXXXX")
	log "fetching Debian's linux-image-$kver $ver"
	# Downloaded as the user running this (apt's sandbox user may not
	# write here).
	if ! (cd "$tmp" && { apt-get download -qq -o APT::Sandbox::User="$(id -un)" \
			"linux-image-$kver=$ver" >/dev/null 2>&1 ||
		{ $sudo apt-get update -qq &&
		  apt-get download -qq -o APT::Sandbox::User="$(id -un)" \
			"linux-image-$kver=$ver"; }; }); then
		rm -rf "$tmp"
		die "apt-get download linux-image-$kver=$ver failed: Debian's mirror has only the current kernel; upgrade $STOCK_HEADERS_PKG (apt-get install $STOCK_HEADERS_PKG) and run again"
	fi
	mkdir "$tmp/root"
	dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/root" || { rm -rf "$tmp"; die "dpkg-deb -x failed"; }
	[ -f "$tmp/root/boot/vmlinuz-$kver" ] ||
		{ rm -rf "$tmp"; die "no boot/vmlinuz-$kver in linux-image-$kver"; }
	depmod -b "$tmp/root" "$kver" || { rm -rf "$tmp"; die "depmod of the stock modules failed"; }
	touch "$tmp/root/.complete"
	rm -rf "$dir"
	mv -T "$tmp/root" "$dir" 2>/dev/null || [ -f "$dir/.complete" ] ||
		{ rm -rf "$tmp"; die "cannot move the stock image to $dir"; }
	rm -rf "$tmp"
}

JOBS=${JOBS:-$(nproc)}

# Fail early (in the sourcing script) on an unknown KCONFIG_VARIANT.
kernel_variant >/dev/null
