# Clustered bars of median Mpps per traffic case and path, one panel per
# scenario in chart.dat (written by xdpgw-bench). Called by bench/run.sh:
#   gnuplot -e "datafile='chart.dat'; outfile='chart.png'" bench/chart.gp
if (!exists("datafile")) datafile = 'chart.dat'
if (!exists("outfile")) outfile = 'chart.png'

stats datafile using 0 nooutput
scenarios = STATS_blocks

set terminal pngcairo size 1200, 560 * scenarios font "sans,10" noenhanced
set output outfile
set multiplot layout scenarios, 1

set style fill solid 0.85 border -1
set key below horizontal
set grid ytics
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set ylabel "Mpps on one core (median)"
set datafile missing "?"
# The first row of a block names the columns.
set key autotitle columnheader

do for [block = 0:scenarios - 1] {
  # The block's first comment line is the scenario title.
  title_cmd = sprintf("awk 'BEGIN{b=0} /^$/{e++; if (e==2) {b++; e=0}; next} {e=0} b==%d && /^#/ {sub(/^# */, \"\"); print; exit}' '%s'", block, datafile)
  set title system(title_cmd) . "   (higher is better; generator, gateway and sink share one CPU)"
  stats datafile index block using 0 nooutput
  series = STATS_columns - 1
  set xrange [-0.6 : STATS_max + 0.6]  # STATS_max: the last row's $0
  # Boxes placed by hand (not `histograms`) so the value labels can be put
  # on them: series i of traffic case x sits at barx(x, i).
  width = 0.8 / series
  barx(x, i) = x + (i - (series - 1) / 2.0) * width
  set boxwidth width * 0.9
  set xtics scale 0
  plot datafile index block using 0:(NaN):xtic(1) with points notitle, \
       for [col = 2:*] datafile index block using (barx($0, col - 2)):col with boxes, \
       for [col = 2:*] datafile index block using (barx($0, col - 2)):col:(sprintf("%.2f", column(col))) \
         with labels offset 0, 0.7 font "sans,8" notitle
}
unset multiplot
