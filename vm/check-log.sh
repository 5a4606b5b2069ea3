#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Scan a VM console log for kernel problem reports. Prints each report's first
# lines and exits 1 if there is any, 0 if the log is clean.
# kmemleak records count too (vm/guest/init prints them, less early-boot ones).
# The sanitizers of the KASAN kernel (make check-full) report as
# "BUG: KASAN: ...", "BUG: KFENCE: ..." and "UBSAN: ... in FILE:LINE".
set -u
log=${1:?usage: check-log.sh CONSOLE_LOG}
pattern='WARNING:|BUG:|kernel BUG at|Oops|general protection fault|Kernel panic|'
pattern+='Call Trace:|INFO: task .* blocked for more than|INFO: trying to register|'
pattern+='possible recursive locking|circular locking dependency|inconsistent lock state|'
pattern+='suspicious RCU usage|rcu: INFO|self-detected stall|'
pattern+='KASAN|KFENCE|UBSAN|DMA-API: .*(error|leak|pending|overlapping)|unreferenced object'
hits=$(grep -naE "$pattern" "$log")
if [ -n "$hits" ]; then
	echo "KERNEL PROBLEMS in $log:"
	echo "$hits" | head -n 40
	exit 1
fi
exit 0
