#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Pack the VM's initramfs: static busybox, the test kernel's modules plus the
# project's modules (given as arguments), the project's static programs from
# build/bin and the guest scripts. Output: build/initramfs.cpio.gz, or
# build/initramfs-VARIANT.cpio.gz for the KCONFIG_VARIANT=VARIANT kernel.
# For the "stock" variant (Debian's own kernel image) only the stock modules
# the project's modules depend on are packed, not the whole tree (400 MB).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

variant=$(kernel_variant)
if [ "$variant" = stock ]; then
	ensure_stock_image
	kver=$(stock_kver)
	modsrc=$(stock_image_dir)/lib/modules/$kver
else
	kdir=$(kernel_build_dir)
	[ -f "$kdir/.complete" ] || die "no test kernel: run 'make kernel${variant:+-$variant}'"
	kver=$(cat "$kdir/include/config/kernel.release")
	modsrc=$kdir/modroot/lib/modules/$kver
fi
out=$(initramfs_path)
root=$TOP_DIR/build/initramfs-root${variant:+-$variant}
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,lib/modules,opt/gpusvm/bin}

cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$VM_DIR/guest/init" "$root/init"
install -m 0755 "$VM_DIR"/guest/run-tests "$VM_DIR"/guest/hmm-peer-tests \
	"$VM_DIR"/guest/reload-loop \
	"$VM_DIR"/guest/demo "$VM_DIR"/guest/bench "$VM_DIR"/guest/profile \
	"$root/opt/gpusvm/bin/"

if [ "$variant" = stock ]; then
	# The closure, in the stock modules.dep, of what our modules need.
	own=" "
	for ko in "$@"; do
		own+="$(basename "$ko" .ko | tr _ -) "
	done
	want=
	for ko in "$@"; do
		for dep in $(modinfo -F depends "$ko" | tr , ' '); do
			case "$own" in *" $(echo "$dep" | tr _ -) "*) continue ;; esac
			want+=" $dep"
		done
	done
	files=
	for dep in $want; do
		found=$(awk -v m="$dep" -F: '{ n = $1; sub(/.*\//, "", n); sub(/\.ko$/, "", n)
			gsub(/_/, "-", n); gsub(/_/, "-", m)
			if (n == m) { print $1; print $2 } }' "$modsrc/modules.dep")
		[ -n "$found" ] || die "no module $dep in the stock kernel's modules.dep"
		files+=" $found"
	done
	files=$(echo "$files" | tr ' ' '\n' | sed '/^$/d' | sort -u)
	mkdir -p "$root/lib/modules/$kver"
	for f in $files; do
		install -D -m 0644 "$modsrc/$f" "$root/lib/modules/$kver/$f"
	done
	cp "$modsrc"/modules.builtin* "$modsrc"/modules.order "$root/lib/modules/$kver/"
else
	cp -a "$modsrc" "$root/lib/modules/"
	rm -f "$root/lib/modules/$kver/build" "$root/lib/modules/$kver/source"
fi
mkdir -p "$root/lib/modules/$kver/extra"
for ko in "$@"; do
	cp "$ko" "$root/lib/modules/$kver/extra/"
done
depmod -b "$root" "$kver"

if [ -d "$TOP_DIR/build/bin" ]; then
	cp "$TOP_DIR"/build/bin/* "$root/opt/gpusvm/bin/" 2>/dev/null || true
fi

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
log "initramfs${variant:+ ($variant)}: $(du -h "$out" | cut -f1), kernel $kver, $# project modules"
