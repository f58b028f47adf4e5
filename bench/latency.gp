# bench/latency.gp -- plots the latency histograms of bench/latency.sh
#
#   gnuplot -e "files='a.hist b.hist'; out='latency.png'" bench/latency.gp
#
# Each file: bin_low_ms bin_high_ms count fraction cumulative_fraction
# (20 bins per decade).  Top: the share of messages in each bin; bottom:
# the cumulative distribution.  Both on a logarithmic latency axis.

set terminal pngcairo size 800,720 noenhanced
set output out
set multiplot layout 2,1
set logscale x
set xrange [0.01:*]
set grid
set key top left
set xlabel "latency from publish commit to receipt (ms)"
name(f) = system("sed -n '1s/^# \\([^:]*\\):.*/\\1/p' " . f)

set title "first bin: 0.01 ms and below, negative latencies included"
set ylabel "share of messages per bin (20 bins per decade)"
plot for [f in files] f using 2:4 with steps linewidth 2 title name(f)

unset title
set ylabel "share of messages received within"
set yrange [0:1]
set key bottom right
plot for [f in files] f using 2:5 with steps linewidth 2 title name(f)
unset multiplot
