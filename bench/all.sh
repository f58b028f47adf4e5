#!/usr/bin/env bash
#
# bench/all.sh -- the whole benchmark suite in one run on one server:
# publish (bench/run.sh), consume (bench/consume.sh), end-to-end latency
# (bench/latency.sh) and what history and waiting cost a receive
# (bench/receive_cost.sh), one after the other against one throw-away
# PostgreSQL 15 cluster, then one markdown table of the ratios with their
# targets.
#
# usage: bash bench/all.sh            (as root: it runs the server via runuser)
#
#   PUBLISH_SECONDS   bench/run.sh's BENCH_SECONDS (default 10)
#   PUBLISH_ROUNDS    bench/run.sh's BENCH_ROUNDS (default 2)
#   CONSUME_SECONDS   bench/consume.sh's BENCH_SECONDS (default 10)
#   CONSUME_ROUNDS    bench/consume.sh's BENCH_ROUNDS (default 4)
#   BACKLOG, BIG_BACKLOG, SMALL_BACKLOG, DEPTH_ROUNDS, DEPTH_SECONDS,
#   STORAGE_MESSAGES  bench/consume.sh's (defaults 1000000, 10000000,
#                     10000, 8, 4, 200000)
#   LATENCY_SECONDS   bench/latency.sh's BENCH_SECONDS (default 30)
#   BENCH_WARMUP, BENCH_RATE, BENCH_PRODUCERS, CPU_TOPICS, CPU_ACTIVE,
#   CPU_RATE          bench/latency.sh's (defaults 3, 1000, 2, 10000, 100,
#                     200)
#   CPU_SECONDS       bench/latency.sh's (default 20)
#   HOLD_SECONDS, RANGES, RANGES_SECONDS, RANGES_ROUNDS, WAIT_SECONDS
#                     bench/receive_cost.sh's (defaults 60, 100000, 5, 5, 10)
#   BENCH_RESULTS     where the reports, histograms and plot go (default
#                     bench/results)
#   BENCH_PORT        port number of the Unix socket (default 5469)
#   BENCH_KEEP=1      keep the temp directories (server log, pgbench output)
#   BENCH_NO_SETUP=1  install nothing: fail if a package is missing
#   BENCH_SYNCHRONOUS_COMMIT
#                     synchronous_commit of the server (default on; anything
#                     else is a diagnostic)
#
# The server is started once, through bench/lib.sh, with the settings all
# four benchmarks share; each benchmark runs with BENCH_SERVER and
# BENCH_PORT pointing at it, applies its own settings (autovacuum,
# consumer lease) with ALTER SYSTEM and a reload, makes its databases and
# drops them when it ends (see bench/lib.sh).  Each writes its full report
# to BENCH_RESULTS (publish.md, consume.md, latency.md, receive_cost.md,
# with the latency histograms latency_PATH.hist and the plot latency.png,
# drawn with gnuplot, installed with apt-get when missing) and its headline
# ratios to a summary file, from which this script prints one table, also
# written to BENCH_RESULTS/all.md.  Progress goes to stderr.  The server is
# stopped and the temp dir removed on exit.  About 20 minutes with the
# defaults on a 2-core machine.
#
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$root/bench
publish_seconds=${PUBLISH_SECONDS:-10}
publish_rounds=${PUBLISH_ROUNDS:-2}
consume_seconds=${CONSUME_SECONDS:-10}
consume_rounds=${CONSUME_ROUNDS:-4}
backlog=${BACKLOG:-1000000}
big=${BIG_BACKLOG:-10000000}
small=${SMALL_BACKLOG:-10000}
depth_rounds=${DEPTH_ROUNDS:-8}
depth_seconds=${DEPTH_SECONDS:-4}
store_n=${STORAGE_MESSAGES:-200000}
latency_seconds=${LATENCY_SECONDS:-30}
warmup=${BENCH_WARMUP:-3}
rate=${BENCH_RATE:-1000}
producers=${BENCH_PRODUCERS:-2}
cpu_topics=${CPU_TOPICS:-10000}
cpu_active=${CPU_ACTIVE:-100}
cpu_rate=${CPU_RATE:-200}
cpu_seconds=${CPU_SECONDS:-20}
hold_seconds=${HOLD_SECONDS:-60}
cost_ranges=${RANGES:-100000}
ranges_seconds=${RANGES_SECONDS:-5}
ranges_rounds=${RANGES_ROUNDS:-5}
wait_seconds=${WAIT_SECONDS:-10}
results=${BENCH_RESULTS:-$root/bench/results}
port=${BENCH_PORT:-5469}
keep=${BENCH_KEEP:-0}
sync_commit=${BENCH_SYNCHRONOUS_COMMIT:-on}
command_line="PUBLISH_SECONDS=$publish_seconds PUBLISH_ROUNDS=$publish_rounds CONSUME_SECONDS=$consume_seconds CONSUME_ROUNDS=$consume_rounds BACKLOG=$backlog BIG_BACKLOG=$big SMALL_BACKLOG=$small DEPTH_ROUNDS=$depth_rounds DEPTH_SECONDS=$depth_seconds STORAGE_MESSAGES=$store_n LATENCY_SECONDS=$latency_seconds BENCH_WARMUP=$warmup BENCH_RATE=$rate BENCH_PRODUCERS=$producers CPU_TOPICS=$cpu_topics CPU_ACTIVE=$cpu_active CPU_RATE=$cpu_rate CPU_SECONDS=$cpu_seconds HOLD_SECONDS=$hold_seconds RANGES=$cost_ranges RANGES_SECONDS=$ranges_seconds RANGES_ROUNDS=$ranges_rounds WAIT_SECONDS=$wait_seconds bash bench/all.sh"
[ "$sync_commit" = on ] || command_line="BENCH_SYNCHRONOUS_COMMIT=$sync_commit $command_line"

me=all

. "$bench_dir/lib.sh"
whole PUBLISH_SECONDS "$publish_seconds"
whole PUBLISH_ROUNDS "$publish_rounds"
whole CONSUME_SECONDS "$consume_seconds"
whole CONSUME_ROUNDS "$consume_rounds"
whole LATENCY_SECONDS "$latency_seconds"
whole BENCH_PORT "$port"
# the other variables are checked by the benchmark that uses them, when
# it starts
[ -z "${BENCH_SERVER:-}" ] || die "BENCH_SERVER is set: bench/all.sh starts its own server"

check_machine
ensure_packages postgresql-15-pgq3 pgqd python3-psycopg2 gnuplot-nox
check_extensions "PgQ's pgq.control is missing although postgresql-15-pgq3 is installed"
mkdir -p "$results"
results=$(cd "$results" && pwd)

make_work_dir pulsar_all
# the settings every benchmark shares; each adds its own when it starts
start_cluster bench/all.sh ""
say "server running, socket in $sock, port $port"

summary=$work/summary.md
: >"$summary"
chmod 644 "$summary"
rm -f "$results/all.md" "$results/publish.md" "$results/consume.md" "$results/receive_cost.md"

# bench NAME SCRIPT VAR=VALUE...: one benchmark on this server; its report
# (stdout) goes to the temp dir, bench/latency.sh writes its own to
# BENCH_RESULTS
declare -A took
bench() {
	local name=$1 script=$2 t0
	shift 2
	say "$name: bash bench/$script $*"
	t0=$(date +%s)
	env BENCH_SERVER="$sock" BENCH_PORT="$port" BENCH_SUMMARY="$summary" \
		BENCH_KEEP="$keep" BENCH_SYNCHRONOUS_COMMIT="$sync_commit" BENCH_RESULTS="$results" \
		"$@" bash "$bench_dir/$script" >"$work/$name.md" ||
		die "$name (bench/$script) failed"
	took[$name]=$(( $(date +%s) - t0 ))
	say "$name: done in ${took[$name]} s"
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)
date_start=$(date -u '+%Y-%m-%d %H:%M')
bench publish run.sh BENCH_SECONDS="$publish_seconds" BENCH_ROUNDS="$publish_rounds"
bench consume consume.sh BENCH_SECONDS="$consume_seconds" BENCH_ROUNDS="$consume_rounds" \
	BACKLOG="$backlog" BIG_BACKLOG="$big" SMALL_BACKLOG="$small" \
	DEPTH_ROUNDS="$depth_rounds" DEPTH_SECONDS="$depth_seconds" STORAGE_MESSAGES="$store_n"
bench latency latency.sh BENCH_SECONDS="$latency_seconds" BENCH_WARMUP="$warmup" \
	BENCH_RATE="$rate" BENCH_PRODUCERS="$producers" CPU_TOPICS="$cpu_topics" \
	CPU_ACTIVE="$cpu_active" CPU_RATE="$cpu_rate" CPU_SECONDS="$cpu_seconds"
bench receive_cost receive_cost.sh HOLD_SECONDS="$hold_seconds" RANGES="$cost_ranges" \
	RANGES_SECONDS="$ranges_seconds" RANGES_ROUNDS="$ranges_rounds" WAIT_SECONDS="$wait_seconds"
cp "$work/publish.md" "$work/consume.md" "$work/receive_cost.md" "$results/"
[ -f "$results/latency.png" ] || die "bench/latency.sh drew no plot ($results/latency.png)"

#--------------------------------------------------------------------------
# Summary
#--------------------------------------------------------------------------

pg_version=$(psql_db postgres -At -c 'SELECT version()')
pulsar_version=$(psql_db postgres -At -c "SELECT default_version FROM pg_available_extensions WHERE name = 'pulsar_pg'")
pgq_version=$(psql_db postgres -At -c "SELECT default_version FROM pg_available_extensions WHERE name = 'pgq'")
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GB", $2 / 1024 / 1024 }' /proc/meminfo)
os=$(. /etc/os-release && echo "$PRETTY_NAME")
total=$(( $(date +%s) - t_start ))

{
echo "# pulsar_pg benchmark suite"
echo
echo "- command: \`$command_line\`"
echo "- date: $date_start UTC, $(( total / 60 )) min $(( total % 60 )) s (publish ${took[publish]} s, consume ${took[consume]} s, latency ${took[latency]} s, receive_cost ${took[receive_cost]} s)"
echo "- machine: $(nproc) CPUs ($cpu), $mem RAM, $os, kernel $(uname -r)"
echo "- server: $pg_version; one server for the four benchmarks"
echo "- extensions: pulsar_pg $pulsar_version (installed), pgq $pgq_version"
if [ "$sync_commit" = on ]; then
	echo "- synchronous_commit = on (the PostgreSQL default)"
else
	echo "- **synchronous_commit = $sync_commit: a diagnostic run; the targets are defined with synchronous_commit = on**"
fi
echo "- load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| benchmark | measure | value | target | |"
echo "|---|---|---:|---|---|"
cat "$summary"
echo
echo "Ratios are ours / the peer's (throughput) or the peer's / ours (latency: how many times longer the peer takes). Full reports: \`$results/publish.md\`, \`consume.md\`, \`latency.md\`, \`receive_cost.md\`; latency histograms \`latency_PATH.hist\`, plot \`latency.png\`."
} | tee "$results/all.md"
