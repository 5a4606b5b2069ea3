#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make docs: render Documentation/ to HTML in build/docs/html, as the kernel
# renders its own: Sphinx with the kernel's kernel-doc extension and
# scripts/kernel-doc, both used from the kernel source tree (kernel_src_dir).
# Any warning, of Sphinx or of kernel-doc, is an error. vm/check-docs.py
# first checks that every DOC: section of the sources is in a page.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src=$(kernel_src_dir)
for f in scripts/kernel-doc Documentation/sphinx/kerneldoc.py; do
	[ -f "$src/$f" ] ||
		die "no $f in $src (bash vm/build-kernel.sh unpacks the kernel source)"
done
# Debian's Sphinx, whichever python3 comes first on PATH.
sphinx=/usr/bin/sphinx-build
[ -x "$sphinx" ] || die "no $sphinx: install python3-sphinx (make deps)"

cd "$TOP_DIR"
/usr/bin/python3 vm/check-docs.py "$TOP_DIR"

out=$TOP_DIR/build/docs
mkdir -p "$out"
# A fresh environment and every page written at each run (-E -a): a warning
# of a page that did not change since the last run must fail this one too.
GPUSVM_KSRC=$src "$sphinx" -E -a -q -W --keep-going -b html \
	-d "$out/doctrees" Documentation "$out/html" ||
	die "Sphinx or kernel-doc warnings (above)"
log "HTML in $out/html"
echo "$out/html/index.html"
