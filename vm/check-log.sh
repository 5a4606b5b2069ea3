#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Scan a VM console log for kernel problem reports. Prints each report's first
# lines and exits 1 if there is any, 0 if the log is clean.
#
# kmemleak records of objects allocated by "swapper/0", pid 0 (early boot,
# before any job or module ran; some ACPI caches are known false positives)
# are not counted; every other kmemleak record is.
set -u
log=${1:?usage: check-log.sh CONSOLE_LOG}
pattern='WARNING:|BUG:|kernel BUG at|Oops|general protection fault|Kernel panic|'
pattern+='Call Trace:|INFO: task .* blocked for more than|INFO: trying to register|'
pattern+='possible recursive locking|circular locking dependency|inconsistent lock state|'
pattern+='suspicious RCU usage|rcu: INFO|self-detected stall|'
pattern+='KASAN|UBSAN|DMA-API: .*(error|leak|pending|overlapping)'
hits=$(grep -naE "$pattern" "$log")
leaks=$(awk '
	/unreferenced object/ { obj = NR ": " $0; next }
	obj != "" {
		if ($0 !~ /comm "swapper\/0", pid 0,/) print obj
		obj = ""
	}' "$log")
if [ -n "$hits$leaks" ]; then
	echo "KERNEL PROBLEMS in $log:"
	printf '%s\n%s\n' "$hits" "$leaks" | sed '/^$/d' | head -n 40
	exit 1
fi
exit 0
