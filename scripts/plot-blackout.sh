#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Draws luod's share of the blackout against the number of sessions from bench-blackout's CSV
# (bench-blackout --csv FILE): an SVG for docs/performance.md. Needs gnuplot (Debian:
# gnuplot-nox).
# Usage: scripts/plot-blackout.sh CSV SVG
set -eu
csv=${1:?usage: plot-blackout.sh CSV SVG}
svg=${2:?usage: plot-blackout.sh CSV SVG}
command -v gnuplot >/dev/null || { echo "plot-blackout.sh: gnuplot is not installed (apt install gnuplot-nox)" >&2; exit 1; }
load=$(awk -F, 'NR > 1 && !/^#/ { printf "%s%s", sep, $10; sep = ", " }' "$csv")
gnuplot <<PLOT
set terminal svg size 720,420 dynamic font "sans,12"
set output "$svg"
set datafile separator ","
set key top left
set title "luod's share of the blackout on the kernel model (load average: $load)"
set xlabel "sessions (one 1 MiB memfd each)"
set ylabel "milliseconds"
set yrange [0:*]
set grid ytics
plot "$csv" using 1:6 skip 1 with linespoints linewidth 2 pointtype 7 title "luod's share (before + after)", \
     "$csv" using 1:2 skip 1 with linespoints pointtype 5 title "before the reboot (PrepareForUpdate(true) to reboot(2) in the model, sync included)", \
     "$csv" using 1:5 skip 1 with linespoints pointtype 9 title "after the boot (luod's start to ready)", \
     "$csv" using 1:14 skip 1 with linespoints pointtype 11 title "of it, luod on the CPU (the rest: waiting for a CPU, blocked)", \
     "$csv" using 1:6:(sprintf("%.2fx", \$7)) skip 1 with labels offset 0,1 notitle
PLOT
