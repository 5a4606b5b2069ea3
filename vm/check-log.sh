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
# The memcg OOM tests (user/tests/vsvm_teardown_test.c) OOM-kill processes in
# cgroups named gpusvm-oom-*, and the kernel's OOM reports dump stacks:
# - the report of the task that hit the limit, from its "invoked oom-killer:"
#   line to its "Memory cgroup stats for /gpusvm-oom-" line;
# - "oom_reaper: unable to reap pid:N" of a process the OOM killer killed in
#   such a cgroup, up to the end of its lock dump ("=====" line): the reaper
#   cannot reap memory a GPU mirrors (see vsvm's DOC: Memory cgroups).
# Their "Call Trace:" lines are expected; anything else in them still counts.
expected=$(awk '/invoked oom-killer:/ { start = NR; next }
	start && /Memory cgroup stats for \// {
		if ($0 ~ /Memory cgroup stats for \/gpusvm-oom-/)
			for (i = start; i < NR; i++)
				if (i in trace)
					print i
		start = 0
	}
	start && /Call Trace:/ { trace[NR] = 1 }
	/oom-kill:constraint=CONSTRAINT_MEMCG.*oom_memcg=\/gpusvm-oom-/ {
		if (match($0, /,pid=[0-9]+,/))
			victim[substr($0, RSTART + 5, RLENGTH - 6)] = 1
	}
	/oom_reaper: unable to reap pid:/ {
		reap = 0
		if (match($0, /pid:[0-9]+ /) && (substr($0, RSTART + 4, RLENGTH - 5) in victim))
			reap = 1
		next
	}
	reap && /Call Trace:/ { print NR }
	reap && /=====/ { reap = 0 }' "$log")
# kmemleak records of test_hmm's own leak (lib/test_hmm.c, 6.1): its devices
# are named with dev_set_name() and removed with cdev_device_del(), never
# put_device(), so unloading it leaks each device's name, allocated by this
# exact backtrace (make run CMD=hmm-peer-tests, hmm-peer-tests in make check).
# Only records whose whole backtrace is this one are expected.
test_hmm_leak='__kmalloc_node_track_caller kvasprintf kvasprintf_const '
test_hmm_leak+='kobject_set_name_vargs dev_set_name dmirror_device_init '
test_hmm_leak+='hmm_dmirror_init do_one_initcall do_init_module load_module '
test_hmm_leak+='__do_sys_finit_module do_syscall_64 entry_SYSCALL_64_after_hwframe'
expected+=$'\n'$(awk -v want="$test_hmm_leak" '
	function flush() {
		if (start && bt == " " want)
			print start
		start = 0
	}
	/unreferenced object 0x/ { flush(); start = NR; bt = ""; inbt = 0; next }
	start && /^ *backtrace:/ { inbt = 1; next }
	start && inbt && /\[<[0-9a-f]+>\]/ {
		fn = $0
		sub(/.*\] /, "", fn)
		sub(/\+0x.*/, "", fn)
		bt = bt " " fn
		next
	}
	start && inbt { flush() }
	END { flush() }' "$log")
hits=$(grep -naE "$pattern" "$log" |
	awk -F: -v skip="$expected" 'BEGIN { n = split(skip, s, "\n"); for (i = 1; i <= n; i++) ok[s[i]] = 1 }
		!($1 in ok)')
if [ -n "$hits" ]; then
	echo "KERNEL PROBLEMS in $log:"
	echo "$hits" | head -n 40
	exit 1
fi
exit 0
