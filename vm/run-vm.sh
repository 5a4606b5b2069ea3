#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boot the test kernel in QEMU (TCG) with the project's initramfs and run one
# job in it.
#
#   run-vm.sh [--timeout SEC] [--log FILE] [--mem SIZE] [--append ARGS]
#             [--kernel-variant NAME] [--quiet] -- COMMAND [ARG...]
#   run-vm.sh [--kernel-variant NAME] --shell
#
# --append adds kernel command-line arguments (e.g. swiotlb=force). The
# kernel always boots with secretmem.enable=1, so memfd_secret() exists.
# --kernel-variant (or KCONFIG_VARIANT in the environment) boots another test
# kernel with its own initramfs: "kasan" is the KASAN/UBSAN/KFENCE kernel
# (make kernel-kasan initramfs-kasan), given 3G of memory unless --mem says
# otherwise (KASAN's shadow takes an eighth of it, its quarantine more);
# "stock" is Debian's own kernel image, unpacked from linux-image-RELEASE
# (make initramfs-stock), with the modules DKMS built from the package.
#
# The console is streamed to stdout and saved whole to the log file, whose path
# is printed at the end. With --quiet only the job's own output reaches
# stdout (the guest copies it to a second serial port, ttyS1); the console,
# the job's output included, goes to the log file alone, and a kernel
# problem report found there is printed with its lines. The exit code is the job's exit code in the guest, or
# non-zero when the VM timed out or died, or when the console shows any kernel
# WARNING, BUG, oops, lockdep, KASAN or kmemleak report (even if the job passed).
#
# VM_APPEND (environment, optional) is appended to the kernel command line,
# e.g. VM_APPEND=slub_debug=FZP to poison freed objects, which makes a
# use-after-free visible without KASAN.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

timeout=1200
mem=
append=
log=
shell=0
quiet=0
while [ $# -gt 0 ]; do
	case "$1" in
	--timeout) timeout=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--append) append=$2; shift 2 ;;
	--kernel-variant) export KCONFIG_VARIANT=$2; shift 2 ;;
	--shell) shell=1; shift ;;
	--quiet) quiet=1; shift ;;
	--) shift; break ;;
	*) die "unknown option $1 (see the header of $0)" ;;
	esac
done
[ $shell -eq 1 ] || [ $# -gt 0 ] || die "no command given (or --shell)"

kernel_variant >/dev/null # dies on an unknown variant
variant=$(kernel_variant)
if [ -z "$mem" ]; then
	case "$variant" in
	kasan) mem=3G ;;
	*) mem=2G ;;
	esac
fi
if [ "$variant" = stock ]; then
	[ -f "$(stock_image_dir)/.complete" ] || die "no stock kernel image: run 'make initramfs-stock'"
	bzimage=$(stock_image_dir)/boot/vmlinuz-$(stock_kver)
else
	kdir=$(kernel_build_dir)
	[ -f "$kdir/.complete" ] || die "no test kernel: run 'make kernel${variant:+-$variant}'"
	bzimage=$kdir/arch/x86/boot/bzImage
fi
initramfs=$(initramfs_path)
[ -f "$initramfs" ] || die "no $initramfs: run 'make initramfs${variant:+-$variant}'"

mkdir -p "$TOP_DIR/build/logs"
[ -n "$log" ] || log=$TOP_DIR/build/logs/vm-$(date +%Y%m%d-%H%M%S)-$$.log

# The job travels as a second cpio archive appended to the initramfs.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/etc"
if [ $shell -eq 0 ]; then
	{
		echo '#!/bin/sh'
		printf '%q ' "$@"
		echo
	} >"$work/root/etc/vm-job"
	chmod +x "$work/root/etc/vm-job"
fi
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/job.cpio.gz"
cat "$initramfs" "$work/job.cpio.gz" >"$work/initrd"

# --quiet: the guest's init copies the job's output to ttyS1 (a kernel
# parameter the kernel does not know reaches init's environment).
job_out=
[ $quiet -eq 0 ] || job_out=/dev/ttyS1
qemu=(qemu-system-x86_64 -machine pc -accel tcg,thread=multi -cpu max -smp 2
	-m "$mem" -kernel "$bzimage" -initrd "$work/initrd"
	-append "console=ttyS0 panic=-1 rdinit=/init loglevel=7 kunit.enable=1 printk.devkmsg=on secretmem.enable=1${append:+ $append}${VM_APPEND:+ $VM_APPEND}${job_out:+ gpusvm_job_out=$job_out}"
	-display none -no-reboot)

if [ $shell -eq 1 ]; then
	log "interactive VM; console saved to $log (Ctrl-A X quits QEMU)"
	"${qemu[@]}" -serial mon:stdio | tee "$log"
	exit 0
fi

start=$(date +%s)
set +e
if [ $quiet -eq 1 ]; then
	echo "VM: booting the ${variant:-test} kernel; console log: $log"
	timeout -k 10 "$timeout" "${qemu[@]}" -serial "file:$log" \
		-serial stdio </dev/null
	qrc=$?
else
	timeout -k 10 "$timeout" "${qemu[@]}" -serial stdio </dev/null | tee "$log"
	qrc=${PIPESTATUS[0]}
fi
set -e
secs=$(( $(date +%s) - start ))

rc=$(sed -n 's/^GPUSVM-VM: exit \([0-9]*\).*/\1/p' "$log" | tail -n 1)
if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
	echo "VM: timed out after ${timeout}s"
	rc=124
elif [ -z "$rc" ]; then
	echo "VM: died before the job finished (qemu exit $qrc)"
	rc=1
fi
if ! "$VM_DIR/check-log.sh" "$log"; then
	[ "$rc" -ne 0 ] || rc=1
fi
echo "VM: job exit code $rc after ${secs}s; console log: $log"
exit "$rc"
