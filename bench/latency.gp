# bench/latency.gp -- plots the latency histograms of bench/latency.sh
#
#   gnuplot -e "files='a.hist b.hist'; out='latency.png'" bench/latency.gp
#
# Each file: bin_low_ms bin_high_ms count fraction cumulative_fraction
# (20 bins per decade).  Top: the share of messages in each bin, with the
# key; bottom: the cumulative distribution.  Both on a logarithmic latency axis.

set terminal pngcairo size 800,720 noenhanced
set output out
set multiplot layout 2,1
set logscale x
set xrange [0.01:*]
set grid
set key top left Left reverse
set xlabel "latency from publish commit to receipt (ms)"
name(f) = system("sed -n '1s/^# \\([^:]*\\):.*/\\1/p' " . f)

set title "share of messages per bin, 20 bins per decade (first bin: 0.01 ms and below)"
set ylabel "share per bin"
# room above the curves for the key
set offsets 0, 0, graph 0.45, 0
plot for [f in files] f using 2:4 with steps linewidth 2 title name(f)

unset title
set offsets 0, 0, 0, 0
set ylabel "share of messages received within"
set yrange [0:1]
# the same colours as above, whose key names them
unset key
plot for [f in files] f using 2:5 with steps linewidth 2 title name(f)
unset multiplot
