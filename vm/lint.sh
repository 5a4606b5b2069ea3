#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Kernel-style lint of the project's kernel sources: checkpatch (strict) and
# kernel-doc (every documented item complete, no warnings). sparse runs with
# the module build (make modules, C=1).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src=$(kernel_src_dir)
cd "$TOP_DIR"
files=$(git ls-files -- '*.c' '*.h' | grep -E '^(gpusvm|vsvm|include)/')
[ -n "$files" ] || die "no kernel sources found"
fail=0

# Types and macros this out-of-tree project uses the way the kernel does.
ignore=SPDX_LICENSE_TAG,FILE_PATH_CHANGES,COMPLEX_MACRO,MACRO_ARG_REUSE
# TRACE_EVENT() headers have their own layout (as in include/trace/events).
trace_ignore=$ignore,PARENTHESIS_ALIGNMENT,OPEN_ENDED_LINE
for f in $files; do
	case "$f" in
	*_trace.h) ign=$trace_ignore ;;
	*) ign=$ignore ;;
	esac
	if ! out=$(perl "$src/scripts/checkpatch.pl" --no-tree --strict --quiet \
		--ignore "$ign" --file "$f" 2>&1); then
		echo "$out"
		fail=1
	fi
done

# kernel-doc: no warnings anywhere, and every exported symbol documented.
out=$(perl "$src/scripts/kernel-doc" -none $files 2>&1 | grep -v "^$" || true)
if [ -n "$out" ]; then
	echo "$out"
	fail=1
fi
for f in $(echo "$files" | grep '\.c$'); do
	for sym in $(sed -n 's/^EXPORT_SYMBOL\(_GPL\)\?(\(.*\));/\2/p' "$f"); do
		grep -q "^ \* $sym() - " "$f" || { echo "$f: $sym has no kernel-doc"; fail=1; }
	done
done

[ $fail -eq 0 ] || die "lint failed"
log "lint clean: $(echo "$files" | wc -l) files (checkpatch --strict, kernel-doc)"
