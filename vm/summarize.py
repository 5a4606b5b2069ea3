#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarise the test results in VM console logs written by guest/run-tests.

    summarize.py [--check CHECK_LOG_SCRIPT] LOG [LOG...]

Each unit is framed by GPUSVM-TEST-BEGIN KIND NAME / GPUSVM-TEST-END NAME rc=N
time=SECONDS.
Inside, results are TAP: KUnit test cases are the lines one level deep
("    ok 1 - case"), kselftest cases are top-level lines ("ok 1 case").
A unit that exits non-zero without a failing case, or reports no case at all,
counts as one failure. Kernel problem reports (check-log.sh) count as one
failure of the pseudo-test "kernel log" (per log). Ends with one line for all
the logs: "N passed, N failed, N skipped", after one line per log with the
kernel release it booted and its own counts, and "matrix: N passed, M failed"
when the xe scenario matrix (units vsvm_xe_matrix_test*, every layout) ran,
and after "hmm-tests: test_hmm P passed, vsvm Q passed, R of P passed on both"
when hmm-peer-tests compared the two drivers (the sums of its runs, one per
layout). Before those, the slowest kselftest cases, from the "# case-time: S s"
line run-tests adds after each result.
"""
import os
import re
import subprocess
import sys

MATRIX_UNIT = 'vsvm_xe_matrix_test'
HMM_TESTS = re.compile(r'^hmm-tests: test_hmm (\d+) passed, vsvm (\d+) passed, '
                       r'(\d+) of (\d+) passed on both')
CASE_TIME = re.compile(r'^# case-time: (\S+) s$')
SLOWEST = 8
TAP = re.compile(r'^(?P<indent>\s*)(?P<not>not )?ok \d+ (?:- )?(?P<name>[^#]*?)\s*(?:#\s*(?P<dir>\S+).*)?$')


def summarize(log, check, counts, failures, times):
    """Add the results of one console log to counts (passed, failed, skipped),
    and (seconds, case) pairs to times."""
    unit = None
    last = None
    kernel = None
    vm_exit = None
    units = 0
    before = dict(counts)
    if not os.path.exists(log):
        counts['failed'] += 1
        failures.append(f'{log}: no such log (the VM did not start)')
        return
    with open(log, errors='replace') as f:
        for raw in f:
            line = raw.rstrip('\r\n')
            m = re.match(r'^GPUSVM-VM: booted ([^,\s]+)', line)
            if m:
                kernel = m.group(1)
                continue
            m = re.match(r'^GPUSVM-VM: exit (\d+)', line)
            if m:
                vm_exit = int(m.group(1))
                continue
            m = re.match(r'^GPUSVM-TEST-BEGIN (\S+) (\S+)', line)
            if m:
                units += 1
                unit = {'kind': m.group(1), 'name': m.group(2), 'cases': 0, 'failed': 0,
                        'matrix': MATRIX_UNIT in m.group(2)}
                if unit['matrix']:
                    counts['matrix_units'] += 1
                continue
            m = re.match(r'^GPUSVM-TEST-END (\S+) rc=(\d+)(?: time=(\S+))?', line)
            if m and unit:
                rc = int(m.group(2))
                if unit['cases'] == 0 or (rc != 0 and unit['failed'] == 0):
                    counts['failed'] += 1
                    if unit['matrix']:
                        counts['matrix_failed'] += 1
                    why = 'no test case ran' if unit['cases'] == 0 else f'exit code {rc}'
                    failures.append(f"{unit['name']}: {why}")
                took = f", {m.group(3)} s" if m.group(3) else ''
                print(f"unit {unit['name']}: {unit['cases']} cases, rc={rc}{took}")
                unit = None
                continue
            if unit is None or line.startswith('['):
                continue
            m = CASE_TIME.match(line)
            if m and last:
                times.append((float(m.group(1)), last))
                last = None
                continue
            m = HMM_TESTS.match(line)
            if m:
                counts['hmm_runs'] += 1
                for i, key in enumerate(('hmm_p', 'hmm_q', 'hmm_r'), 1):
                    counts[key] += int(m.group(i))
                continue
            m = TAP.match(line)
            if not m:
                continue
            depth = len(m.group('indent').expandtabs(4)) // 4
            want = 1 if unit['kind'] == 'kunit' else 0
            if depth != want:
                continue
            unit['cases'] += 1
            last = f"{unit['name']}: {m.group('name')}"
            directive = (m.group('dir') or '').upper()
            if directive.startswith('SKIP'):
                counts['skipped'] += 1
            elif m.group('not'):
                counts['failed'] += 1
                unit['failed'] += 1
                failures.append(f"{unit['name']}: {m.group('name')}")
                if unit['matrix']:
                    counts['matrix_failed'] += 1
            else:
                counts['passed'] += 1
                if unit['matrix']:
                    counts['matrix_passed'] += 1
    if unit is not None:
        counts['failed'] += 1
        if unit['matrix']:
            counts['matrix_failed'] += 1
        failures.append(f"{unit['name']}: never finished (VM died or timed out)")
    # A VM that ran nothing, or did not finish, or whose job failed without a
    # failing case (a unit the runner does not know, say) has not passed.
    why = None
    if units == 0:
        why = 'no test unit ran'
    elif vm_exit is None:
        why = 'the VM did not finish (timed out or died)'
    elif vm_exit != 0 and counts['failed'] == before['failed']:
        why = f'the job exited with {vm_exit}'
    if why:
        counts['failed'] += 1
        failures.append(f'{log}: {why}')
    if check:
        if subprocess.call([check, log]) == 0:
            counts['passed'] += 1
        else:
            counts['failed'] += 1
            failures.append(f'kernel log {log}: problem reports (see above)')
    print(f"log {log}: kernel {kernel or '(no boot line)'}, "
          + ', '.join(f"{counts[k] - before[k]} {k}" for k in ('passed', 'failed', 'skipped')))


def main():
    args = sys.argv[1:]
    check = None
    if len(args) >= 2 and args[0] == '--check':
        check = args[1]
        args = args[2:]
    if not args:
        print(__doc__)
        return 2
    counts = {'passed': 0, 'failed': 0, 'skipped': 0,
              'matrix_units': 0, 'matrix_passed': 0, 'matrix_failed': 0,
              'hmm_runs': 0, 'hmm_p': 0, 'hmm_q': 0, 'hmm_r': 0}
    failures = []
    times = []
    for log in args:
        summarize(log, check, counts, failures, times)
    for took, case in sorted(times, reverse=True)[:SLOWEST]:
        print(f'slow: {took:.1f} s {case}')
    for fl in failures:
        print(f'FAILED: {fl}')
    if counts['matrix_units']:
        print(f"matrix: {counts['matrix_passed']} passed, {counts['matrix_failed']} failed")
    if counts['hmm_runs']:
        print(f"hmm-tests: test_hmm {counts['hmm_p']} passed, vsvm {counts['hmm_q']} passed, "
              f"{counts['hmm_r']} of {counts['hmm_p']} passed on both")
    print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 0 if counts['failed'] == 0 and counts['passed'] > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
