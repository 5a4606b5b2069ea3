# SPDX-License-Identifier: GPL-2.0
# Shared settings for the VM tooling. Source it; do not run it.
#
# Everything expensive (the kernel source and the built test kernel) lives in
# $GPUSVM_CACHE, outside the clone, so a fresh clone on the same machine reuses
# it. The test kernel's directory name is keyed by the config fragment's hash
# and the linux-source package version.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP_DIR=$(cd "$VM_DIR/.." && pwd)
GPUSVM_CACHE=${GPUSVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpusvm}
SRC_PKG=linux-source-6.1
STOCK_HEADERS_PKG=linux-headers-amd64

# Debian packages the project needs on the host.
HOST_PACKAGES="build-essential bc bison flex libelf-dev libssl-dev cpio kmod \
xz-utils gzip perl python3 rsync $SRC_PKG $STOCK_HEADERS_PKG qemu-system-x86 \
busybox-static libdrm-dev pkg-config sparse"

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

kernel_key() {
	local h
	h=$(sha256sum "$VM_DIR/kernel.config" | cut -c1-16)
	echo "$(src_version)-$h"
}

# Build directory (O=) of the test kernel: also the KDIR for our modules.
kernel_build_dir() { echo "$GPUSVM_CACHE/kernel-$(kernel_key)"; }

# Directory of Debian's stock kernel headers (the compile-only target).
stock_kdir() {
	local d
	d=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] || die "no Debian stock headers in /usr/src"
	echo "$d"
}

JOBS=${JOBS:-$(nproc)}
