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

# The test kernel variant: "" (default) or the NAME of a vm/kernel-NAME.config.
kernel_variant() {
	local v=${KCONFIG_VARIANT:-}
	[ "$v" != default ] || v=
	[ -z "$v" ] || [ -f "$VM_DIR/kernel-$v.config" ] ||
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

# Directory of Debian's stock kernel headers (the compile-only target).
stock_kdir() {
	local d
	d=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] || die "no Debian stock headers in /usr/src"
	echo "$d"
}

JOBS=${JOBS:-$(nproc)}

# Fail early (in the sourcing script) on an unknown KCONFIG_VARIANT.
kernel_variant >/dev/null
