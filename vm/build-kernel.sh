#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the test kernel: Debian's linux-source-6.1 configured as
# allnoconfig + vm/kernel.config. Prints the build directory on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_host_packages
mkdir -p "$GPUSVM_CACHE"
exec 9>"$GPUSVM_CACHE/lock"
flock 9

src=$(kernel_src_dir)
if [ ! -f "$src/.extracted" ]; then
	log "extracting $SRC_PKG $(src_version)"
	rm -rf "$(dirname "$src")"
	mkdir -p "$(dirname "$src")"
	tar -C "$(dirname "$src")" -xf /usr/src/linux-source-6.1.tar.xz
	touch "$src/.extracted"
fi

out=$(kernel_build_dir)
if [ -f "$out/.complete" ]; then
	log "reusing cached test kernel $out"
	echo "$out"
	exit 0
fi

log "building test kernel in $out (about 8 minutes on 2 cores)"
start=$(date +%s)
mkdir -p "$out"
make -s -C "$src" O="$out" KCONFIG_ALLCONFIG="$VM_DIR/kernel.config" allnoconfig >&2

# Every option of the fragment must survive Kconfig's dependency resolution.
bad=0
while IFS= read -r line; do
	case "$line" in CONFIG_*=*) ;; *) continue ;; esac
	grep -qx "$line" "$out/.config" || { log "fragment option not applied: $line"; bad=1; }
done <"$VM_DIR/kernel.config"
[ $bad -eq 0 ] || die "kernel config does not match vm/kernel.config"

make -s -C "$out" -j"$JOBS" bzImage modules >&2
rm -rf "$out/modroot"
make -s -C "$out" INSTALL_MOD_PATH="$out/modroot" INSTALL_MOD_STRIP=1 modules_install >&2
touch "$out/.complete"
log "test kernel built in $(( $(date +%s) - start ))s"
echo "$out"
