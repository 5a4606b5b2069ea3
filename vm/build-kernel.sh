#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the test kernel: Debian's linux-source-6.1 configured as
# allnoconfig + vm/kernel.config. Prints the build directory on stdout.
#
#   build-kernel.sh [VARIANT]
#
# VARIANT (or KCONFIG_VARIANT in the environment), e.g. "kasan", merges
# vm/kernel-VARIANT.config on top of vm/kernel.config: a second kernel with its
# own cache directory (see vm/lib.sh).
set -euo pipefail
[ $# -eq 0 ] || export KCONFIG_VARIANT=$1
. "$(dirname "$0")/lib.sh"

ensure_host_packages
mkdir -p "$GPUSVM_CACHE"
# The shared lock guards the source extraction; each kernel's build directory
# has a lock of its own, so a long build of one variant does not hold up
# runs that only reuse the other.
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
exec 8>"$out.lock"
flock -u 9
flock 8
if [ -f "$out/.complete" ]; then
	log "reusing cached test kernel $out"
	echo "$out"
	exit 0
fi

variant=$(kernel_variant)
read -r -a fragments <<<"$(kernel_fragments)"
if [ -n "$variant" ]; then
	log "building the $variant test kernel in $out (about 15 minutes on 2 cores)"
else
	log "building test kernel in $out (about 8 minutes on 2 cores)"
fi
start=$(date +%s)
mkdir -p "$out"
# The fragments, merged in order (a later assignment of an option wins).
cat "${fragments[@]}" >"$out/fragment.config"
make -s -C "$src" O="$out" KCONFIG_ALLCONFIG="$out/fragment.config" allnoconfig >&2

# Every option of the fragments must survive Kconfig's dependency resolution
# (checked with its last assignment, the one Kconfig applied): CONFIG_X=v
# must be in .config as it is; "# CONFIG_X is not set" must leave X unset.
bad=0
while IFS= read -r line; do
	case $line in
	"# "*) opt=${line#"# "}; opt=${opt%% *}
		grep -q "^$opt=" "$out/.config" && { log "fragment option not applied: $line"; bad=1; } ;;
	*) grep -qx "$line" "$out/.config" || { log "fragment option not applied: $line"; bad=1; } ;;
	esac
done < <(awk '
	/^CONFIG_[A-Za-z0-9_]+=/ { name = $0; sub(/=.*/, "", name) }
	/^# CONFIG_[A-Za-z0-9_]+ is not set$/ { name = $2 }
	/^CONFIG_[A-Za-z0-9_]+=/ || /^# CONFIG_[A-Za-z0-9_]+ is not set$/ {
		last[name] = $0; if (!(name in seen)) { seen[name] = 1; order[n++] = name } }
	END { for (i = 0; i < n; i++) print last[order[i]] }' "$out/fragment.config")
[ $bad -eq 0 ] || die "kernel config does not match ${fragments[*]#"$TOP_DIR"/}"

make -s -C "$out" -j"$JOBS" bzImage modules >&2
rm -rf "$out/modroot"
make -s -C "$out" INSTALL_MOD_PATH="$out/modroot" INSTALL_MOD_STRIP=1 modules_install >&2
touch "$out/.complete"
log "test kernel built in $(( $(date +%s) - start ))s"
echo "$out"
