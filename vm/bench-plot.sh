#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Plot make bench's results: bench-plot.sh RESULTS.csv OUT.png
# One panel per figure (THP off, then on), time against buffer size for
# ours, dmirror and the floor, both axes logarithmic.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
HOST_PACKAGES=gnuplot-nox ensure_host_packages
csv=$1
png=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# One data file per figure: size (KiB), ours, dmirror, floor.
awk -F, -v dir="$dir" 'NR > 1 {
	f = dir "/" $1 ".dat"
	print $2 / 1024, $3, $4, $5 > f
	if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 }
}
END { for (i = 0; i < n; i++) print order[i] > (dir "/figures") }' "$csv"
n=$(wc -l <"$dir/figures")
cols=3
rows=$(( (n + cols - 1) / cols ))
{
	echo "set terminal pngcairo size $((cols * 480)),$((rows * 360)) font ',9'"
	echo "set output '$png'"
	echo "set multiplot layout $rows,$cols title 'make bench: ms against buffer size (KiB)'"
	echo "set logscale xy"
	echo "set key top left"
	echo "set grid"
	while read -r fig; do
		echo "set title '$fig'"
		echo "plot '$dir/$fig.dat' using 1:(\$2 > 0 ? \$2 : NaN) with linespoints title 'ours', \
'' using 1:(\$3 > 0 ? \$3 : NaN) with linespoints title 'dmirror', \
'' using 1:(\$4 > 0 ? \$4 : NaN) with linespoints title 'floor'"
	done <"$dir/figures"
	echo "unset multiplot"
} | gnuplot
