#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Plot make bench's results: bench-plot.sh RESULTS.csv OUT.png
# One panel per figure (THP off, then on), time (ms) against buffer size
# (KiB) for ours, dmirror and the floor, both axes logarithmic; a side
# without the figure has no line. The x of figure 5 (multi-dev-*) is the
# number of devices, of figure 6 (fault-vs-ranges) the live ranges, of
# figure 7 (chunk-first-read) the largest range size in KiB; each panel's
# title says.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
HOST_PACKAGES=gnuplot-nox ensure_host_packages
csv=$1
png=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# One data file per figure: x, ours, dmirror, floor (0: none); and the
# figures in order with their x axis.
awk -F, -v dir="$dir" 'BEGIN { n = 0 }
NR > 1 {
	f = dir "/" $1 ".dat"
	count = $1 ~ /^(multi-dev-|fault-vs-ranges)/
	print (count ? $2 : $2 / 1024), $3 + 0, $4 + 0, $5 + 0 > f
	if (!($1 in seen)) {
		seen[$1] = 1
		order[n] = $1
		axis[n] = $1 ~ /^multi-dev-/ ? "devices" : \
			$1 ~ /^fault-vs-ranges/ ? "live ranges" : \
			$1 ~ /^chunk-/ ? "largest range, KiB" : "KiB"
		n++
	}
}
END { for (i = 0; i < n; i++) print order[i], axis[i] > (dir "/figures") }' "$csv"
n=$(wc -l <"$dir/figures")
cols=3
rows=$(( (n + cols - 1) / cols ))
{
	echo "set terminal pngcairo size $((cols * 480)),$((rows * 360)) font ',9'"
	echo "set output '$png'"
	echo "set multiplot layout $rows,$cols title 'make bench: ms against buffer size (KiB) or the x of the title'"
	echo "set logscale xy"
	echo "set key top left"
	echo "set grid"
	while read -r fig axis; do
		echo "set title '$fig (x: $axis)'"
		echo "plot '$dir/$fig.dat' using 1:(\$2 > 0 ? \$2 : NaN) with linespoints title 'ours', \
'' using 1:(\$3 > 0 ? \$3 : NaN) with linespoints title 'dmirror', \
'' using 1:(\$4 > 0 ? \$4 : NaN) with linespoints title 'floor'"
	done <"$dir/figures"
	echo "unset multiplot"
} | gnuplot
