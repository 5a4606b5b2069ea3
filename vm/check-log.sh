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
# kmemleak records of test_hmm's own leak (lib/test_hmm.c, 6.1): it names
# its devices with dev_set_name() and adds them with cdev_device_add(), but
# removes them with cdev_device_del() and never put_device(), so unloading it
# leaks, per device, the name and device_add()'s private data (struct
# device_private). hmm-peer-tests loads and unloads it. Only records with
# exactly one of these two backtraces are expected; "?" is the frame of the
# module's init, which kmemleak shows as a bare address once the module is
# gone. The frames' own addresses may print as "(____ptrval____)" (pointer
# hashing not ready yet early in the boot). load_module is left out: the
# KASAN kernel shows it between do_init_module and __do_sys_finit_module,
# the test kernel inlines it.
test_hmm_leaks='__kmalloc_node_track_caller kvasprintf kobject_set_name_vargs '
test_hmm_leaks+='dev_set_name ? do_one_initcall do_init_module '
test_hmm_leaks+='__do_sys_finit_module do_syscall_64 entry_SYSCALL_64_after_hwframe|'
test_hmm_leaks+='kmalloc_trace device_add cdev_device_add ? do_one_initcall '
test_hmm_leaks+='do_init_module __do_sys_finit_module do_syscall_64 '
test_hmm_leaks+='entry_SYSCALL_64_after_hwframe'
expected+=$'\n'$(awk -v leaks="$test_hmm_leaks" '
	BEGIN { n = split(leaks, l, "|"); for (i = 1; i <= n; i++) want[" " l[i]] = 1 }
	function flush() {
		if (start && modprobe && (bt in want))
			print start
		start = 0
	}
	/unreferenced object 0x/ { flush(); start = NR; bt = ""; inbt = 0; modprobe = 0; next }
	start && !inbt && /^ *comm "modprobe", / { modprobe = 1; next }
	start && /^ *backtrace:/ { inbt = 1; next }
	start && inbt && /\[<[^>]+>\] / {
		fn = $0
		sub(/\r$/, "", fn)
		sub(/.*\] /, "", fn)
		sub(/\+0x.*/, "", fn)
		if (fn ~ /^0x[0-9a-f]+$/)
			fn = "?"
		if (fn != "load_module")
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
