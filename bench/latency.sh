#!/usr/bin/env bash
#
# bench/latency.sh -- end-to-end latency benchmark: from a publisher's
# COMMIT to a waiting consumer's receipt, for pulsar_pg's two ways of
# waiting (LISTEN, blocking receive) side by side with PgQ and a polled
# SKIP LOCKED queue table, in one run on one throw-away server; then the
# CPU use of the background worker with 10,000 topics of which 100 are
# active.
#
# usage: bash bench/latency.sh         (as root: it runs the server via runuser)
#
#   BENCH_SECONDS    measured seconds of each path (default 30)
#   BENCH_WARMUP     seconds published first and left out (default 3)
#   BENCH_RATE       messages per second of the producer (default 1000)
#   BENCH_PRODUCERS  connections the producer spreads its schedule over
#                    (default 2: one synchronous commit takes most of a
#                    millisecond here, which leaves one connection no
#                    headroom at 1,000 messages/s)
#   CPU_TOPICS       topics of the worker CPU measurement (default 10000;
#                    0 skips the measurement)
#   CPU_ACTIVE       how many of them are published to (default 100)
#   CPU_RATE         messages per second, all active topics together
#                    (default 200)
#   CPU_SECONDS      length of the idle and of the active measurement
#                    (default 30)
#   BENCH_RESULTS    where the report, histograms and plot go (default
#                    bench/results)
#   BENCH_PORT       port number of the Unix socket (default 5479)
#   BENCH_KEEP=1     keep the temp directory (server and pgqd logs)
#   BENCH_SERVER     set by bench/all.sh: use its running server, start none
#                    (bench/lib.sh)
#   BENCH_NO_SETUP=1 install nothing: fail if a package is missing
#   BENCH_SYNCHRONOUS_COMMIT
#                    synchronous_commit of the server (default on, the
#                    PostgreSQL default; anything else is a diagnostic)
#
# Needs postgresql-15-pgq3, pgqd and python3-psycopg2 (installed with
# apt-get when missing, unless BENCH_NO_SETUP=1) and the pulsar_pg that is
# installed system-wide; gnuplot, if installed, draws the distributions.
#
# Paths, one after the other, each with its own producer and consumer
# (bench/latency.py; a new connection each):
#   listen       pulsar: LISTEN on the subscription's channel, wait in
#                select() on the libpq socket, pulsar.receive when woken;
#                the NOTIFY comes from pulsar_pg's background worker
#   blocking     pulsar: pulsar.receive(..., timeout => '1 s') in a loop
#   pgq          PgQ, ticked by pgqd at its default settings; the consumer
#                loop of PgQ's consumer framework (next_batch, sleep 1 s
#                when there is no batch, get_batch_events, finish_batch)
#   skip_locked  a queue table read as pgmq reads it (FOR UPDATE SKIP
#                LOCKED, visibility timeout, then DELETE), polled every
#                100 ms when empty
# The producer publishes BENCH_RATE messages/s, each in its own autocommit
# transaction, for BENCH_WARMUP + BENCH_SECONDS, over BENCH_PRODUCERS
# connections that take turns; latency is the consumer's
# receipt time minus the time the producer's COMMIT returned, both read
# from CLOCK_MONOTONIC on this host.
#
# Prints a markdown report on stdout and writes it, one histogram per path
# (latency_PATH.hist) and, with gnuplot, latency.png to BENCH_RESULTS;
# progress goes to stderr.  The server and pgqd are stopped and the temp
# dir removed on exit.  About 5 minutes with the defaults.
#
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$root/bench
duration=${BENCH_SECONDS:-30}
warmup=${BENCH_WARMUP:-3}
rate=${BENCH_RATE:-1000}
producers=${BENCH_PRODUCERS:-2}
cpu_topics=${CPU_TOPICS:-10000}
cpu_active=${CPU_ACTIVE:-100}
cpu_rate=${CPU_RATE:-200}
cpu_seconds=${CPU_SECONDS:-30}
results=${BENCH_RESULTS:-$root/bench/results}
port=${BENCH_PORT:-5479}
keep=${BENCH_KEEP:-0}
sync_commit=${BENCH_SYNCHRONOUS_COMMIT:-on}
python=/usr/bin/python3     # Debian's, which python3-psycopg2 serves
paths=(listen blocking pgq skip_locked)
command_line="BENCH_SECONDS=$duration BENCH_WARMUP=$warmup BENCH_RATE=$rate BENCH_PRODUCERS=$producers CPU_TOPICS=$cpu_topics CPU_ACTIVE=$cpu_active CPU_RATE=$cpu_rate CPU_SECONDS=$cpu_seconds bash bench/latency.sh"
[ "$sync_commit" = on ] || command_line="BENCH_SYNCHRONOUS_COMMIT=$sync_commit $command_line"

summary_name=latency
me=latency

. "$bench_dir/lib.sh"
whole BENCH_SECONDS "$duration"
whole BENCH_WARMUP "$warmup"
whole BENCH_RATE "$rate"
whole BENCH_PRODUCERS "$producers"
whole CPU_TOPICS "$cpu_topics"
whole CPU_ACTIVE "$cpu_active"
whole CPU_RATE "$cpu_rate"
whole CPU_SECONDS "$cpu_seconds"
whole BENCH_PORT "$port"
[ "$duration" -ge 1 ] || die "BENCH_SECONDS must be at least 1"
[ "$rate" -ge 1 ] || die "BENCH_RATE must be at least 1"
[ "$producers" -ge 1 ] || die "BENCH_PRODUCERS must be at least 1"
if [ "$cpu_topics" -gt 0 ]; then
	[ "$cpu_active" -ge 1 ] && [ "$cpu_active" -le "$cpu_topics" ] ||
		die "CPU_ACTIVE must be between 1 and CPU_TOPICS"
	[ "$cpu_rate" -ge 1 ] && [ "$cpu_seconds" -ge 1 ] ||
		die "CPU_RATE and CPU_SECONDS must be at least 1"
fi

check_machine
ensure_packages postgresql-15-pgq3 pgqd python3-psycopg2
check_extensions "PgQ's pgq.control is missing although postgresql-15-pgq3 is installed"
command -v pgqd >/dev/null || die "pgqd not found although the package is installed"
"$python" -c 'import psycopg2' 2>/dev/null ||
	die "$python cannot import psycopg2 (apt-get install python3-psycopg2)"
[ -f "$bench_dir/latency.py" ] || die "missing bench/latency.py"
mkdir -p "$results"

#--------------------------------------------------------------------------
# Server and pgqd
#--------------------------------------------------------------------------

pgqd_pid=
before_cleanup() {
	if [ -n "$pgqd_pid" ] && kill -0 "$pgqd_pid" 2>/dev/null; then
		kill -TERM "$pgqd_pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pgqd_pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
}
make_work_dir pulsar_latency

# autovacuum stays on (the default): the queue table needs it.
start_cluster bench/latency.sh "autovacuum = on"
q1() { psql_db bench -At -c "$1"; }

create_db bench
psql_db bench <<'SQL' >/dev/null
CREATE EXTENSION pulsar_pg;
CREATE EXTENSION pgq;
-- pulsar: a topic per path, an exclusive subscription at its end
SELECT pulsar.create_topic('lat_listen');
SELECT pulsar.subscribe('lat_listen', 'lat', 'exclusive', 'latest', consumer => 'c');
SELECT pulsar.create_topic('lat_blocking');
SELECT pulsar.subscribe('lat_blocking', 'lat', 'exclusive', 'latest', consumer => 'c');
-- PgQ: a queue at its default ticker settings, one consumer
SELECT pgq.create_queue('lat');
SELECT pgq.register_consumer('lat', 'c');
-- the queue table, shaped as pgmq's (msg_id, vt, message), with its vt index
CREATE TABLE lat_queue (
	id bigserial PRIMARY KEY,
	vt timestamptz NOT NULL DEFAULT now(),
	payload text
);
CREATE INDEX lat_queue_vt ON lat_queue (vt);
SQL

# pgqd with nothing but where to connect, log and write its pid: the
# ticker and maintenance periods are its defaults
as_postgres tee "$work/pgqd.ini" >/dev/null <<EOF
[pgqd]
logfile = $work/pgqd.log
pidfile = $work/pgqd.pid
base_connstr = host=$sock port=$port user=postgres
initial_database = bench
database_list = bench
syslog = 0
EOF
as_postgres pgqd -q -d "$work/pgqd.ini" || die "pgqd did not start"
for _ in $(seq 50); do
	[ -s "$work/pgqd.pid" ] && break
	sleep 0.1
done
pgqd_pid=$(cat "$work/pgqd.pid" 2>/dev/null) || die "pgqd wrote no pid file"
# create_queue made the queue's first tick; pgqd makes the next one within
# a few seconds of starting
ticks() { q1 "SELECT count(*) FROM pgq.tick t JOIN pgq.queue q ON q.queue_id = t.tick_queue
	WHERE q.queue_name = 'lat'"; }
for _ in $(seq 100); do
	[ "$(ticks)" -ge 2 ] && break
	sleep 0.2
done
[ "$(ticks)" -ge 2 ] || { cat "$work/pgqd.log" >&2 || true; die "pgqd does not tick queue 'lat'"; }
kill -0 "$pgqd_pid" 2>/dev/null || die "pgqd is not running"

# the background workers of a database (pulsar_pg's contract: one per
# database that has the extension, backend_type 'pulsar_pg worker')
worker_pid() {
	psql_db postgres -At -c "SELECT pid FROM pg_stat_activity
		WHERE backend_type = 'pulsar_pg worker' AND datname = '$1'" | head -n 1
}
wait_worker() {	# DB: the worker's pid, or nothing after 10 s
	local pid
	for _ in $(seq 100); do
		pid=$(worker_pid "$1")
		[ -n "$pid" ] && { echo "$pid"; return 0; }
		sleep 0.1
	done
}
bench_worker=$(wait_worker bench)
if [ -n "$bench_worker" ]; then
	say "pulsar_pg worker of database bench: pid $bench_worker"
else
	say "note: no 'pulsar_pg worker' runs for database bench: nothing will notify the LISTEN path"
fi

clk_tck=$(getconf CLK_TCK)
# utime + stime of a process, in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the command name in parentheses)
proc_ticks() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	awk '{ print $12 + $13 }' <<<"${st##*) }"
}
cpu_percent() {	# ticks seconds
	awk -v t="$1" -v s="$2" -v hz="$clk_tck" 'BEGIN { printf "%.1f", t / hz / s * 100 }'
}
# measure_worker PID SECONDS [command...]: CPU % of PID while the command
# runs (or for SECONDS), over the wall time measured; fails if the command
# fails or the process is gone.  (Called in $(...), where bash clears -e:
# every step checks for itself.)
measure_worker() {
	local pid=$1 secs=$2 t0 t1 c0 c1
	shift 2
	c0=$(proc_ticks "$pid") || return 1
	t0=$(date +%s.%N)
	if [ $# -gt 0 ]; then
		"$@" || return 1
	else
		sleep "$secs"
	fi
	t1=$(date +%s.%N)
	c1=$(proc_ticks "$pid") || { echo "latency: error: process $pid is gone" >&2; return 1; }
	cpu_percent $(( c1 - c0 )) "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
}

#--------------------------------------------------------------------------
# Latency, one path after the other
#--------------------------------------------------------------------------

dsn="host=$sock port=$port dbname=bench user=postgres"
declare -A path_cpu
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
rm -f "$results/latency.md" "$results/latency.png"
for p in "${paths[@]}"; do
	rm -f "$results/latency_$p.hist" "$results/latency_$p.json"
done
for p in "${paths[@]}"; do
	psql_db bench -c CHECKPOINT
	say "path $p: $rate messages/s for $warmup + $duration s"
	run_path() {
		"$python" "$bench_dir/latency.py" run --dsn "$dsn" --path "$p" --out "$results" \
			--seconds "$duration" --warmup "$warmup" --rate "$rate" --producers "$producers" \
			>"$work/latency_$p.out"
	}
	if [ -n "$bench_worker" ]; then
		path_cpu[$p]=$(measure_worker "$bench_worker" 0 run_path) || die "path $p failed"
	else
		run_path || die "path $p failed"
	fi
	"$python" - "$results/latency_$p.json" <<'EOF' >&2
import json, sys
s = json.load(open(sys.argv[1]))
f = lambda v: 'n/a' if v is None else '%.2f' % v
print('    p50 %s ms, p99 %s ms, p99.9 %s ms, max %s ms; %d published, %d received, %d lost, %d duplicates'
      % (f(s['p50']), f(s['p99']), f(s['p999']), f(s['max']),
         s['published'], s['received'], s['lost'], s['duplicates']))
EOF
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

#--------------------------------------------------------------------------
# Worker CPU: CPU_TOPICS topics with a subscription each, CPU_ACTIVE active
#--------------------------------------------------------------------------

cpu_idle= cpu_busy= cpu_worker= cpu_sent= cpu_create_s=
if [ "$cpu_topics" -gt 0 ]; then
	create_db cpu
	psql_db cpu -c 'CREATE EXTENSION pulsar_pg'
	say "worker CPU: creating $cpu_topics topics with a subscription each"
	t0=$(date +%s)
	# 100 topics per transaction (each is a table: one transaction for all
	# would run out of lock slots); not measured, so no WAL flush wait
	PGOPTIONS='-c synchronous_commit=off' psql_db cpu -c "DO \$\$
BEGIN
	FOR i IN 1..$cpu_topics LOOP
		PERFORM pulsar.create_topic('t' || i);
		PERFORM pulsar.subscribe('t' || i, 's', 'exclusive', 'latest', consumer => 'c');
		IF i % 100 = 0 THEN
			COMMIT;
		END IF;
	END LOOP;
END \$\$"
	cpu_create_s=$(( $(date +%s) - t0 ))
	[ "$(psql_db cpu -At -c "SELECT count(*) FROM pulsar.subscription")" = "$cpu_topics" ] ||
		die "expected $cpu_topics subscriptions in database cpu"
	psql_db cpu -c 'VACUUM ANALYZE' -c CHECKPOINT
	cpu_worker=$(wait_worker cpu)
	if [ -z "$cpu_worker" ]; then
		say "note: no 'pulsar_pg worker' runs for database cpu: no CPU to measure"
	else
		say "worker CPU: pid $cpu_worker, idle for $cpu_seconds s"
		cpu_idle=$(measure_worker "$cpu_worker" "$cpu_seconds") || die "the worker of database cpu is gone"
		# every (CPU_TOPICS / CPU_ACTIVE)-th topic is active
		stride=$(( cpu_topics / cpu_active ))
		as_postgres tee "$work/cpu_send.sql" >/dev/null <<EOF
\set t random(1, $cpu_active) * $stride
SELECT pulsar.send('t' || :t, 'x'::text);
EOF
		say "worker CPU: $cpu_rate messages/s to $cpu_active topics for $cpu_seconds s"
		cpu_load() {
			as_postgres "$bindir/pgbench" -h "$sock" -p "$port" -n -M prepared \
				-R "$cpu_rate" -T "$cpu_seconds" -c 2 -j 2 -f "$work/cpu_send.sql" cpu \
				>"$work/cpu_pgbench.out" 2>&1
		}
		cpu_busy=$(measure_worker "$cpu_worker" "$cpu_seconds" cpu_load) ||
			{ cat "$work/cpu_pgbench.out" >&2; die "pgbench failed"; }
		cpu_sent=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/cpu_pgbench.out")
		[ -n "$cpu_sent" ] && [ "$cpu_sent" -gt 0 ] ||
			{ cat "$work/cpu_pgbench.out" >&2; die "no message sent"; }
		say "    idle $cpu_idle %, active $cpu_busy % ($cpu_sent messages)"
	fi
fi

#--------------------------------------------------------------------------
# Report
#--------------------------------------------------------------------------

pg_version=$(q1 'SELECT version()')
pulsar_version=$(q1 "SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg'")
pgq_version=$(q1 "SELECT extversion FROM pg_extension WHERE extname = 'pgq'")
pgqd_version=$(dpkg-query -W -f='${Version}' pgqd)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GB", $2 / 1024 / 1024 }' /proc/meminfo)
os=$(. /etc/os-release && echo "$PRETTY_NAME")

if command -v gnuplot >/dev/null; then
	files=
	for p in "${paths[@]}"; do
		# an empty histogram (nothing received) has nothing to draw
		grep -q '^[0-9]' "$results/latency_$p.hist" && files+="$results/latency_$p.hist "
	done
	if [ -n "$files" ]; then
		gnuplot -e "files='${files% }'; out='$results/latency.png'" "$bench_dir/latency.gp" ||
			say "note: gnuplot failed; no plot"
	fi
else
	say "note: gnuplot is not installed (apt-get install gnuplot-nox): no plot"
fi

{
echo "# pulsar_pg latency benchmark"
echo
echo "- command: \`$command_line\`"
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs ($cpu), $mem RAM, $os, kernel $(uname -r)"
echo "- server: $pg_version"
echo "- extensions: pulsar_pg $pulsar_version, pgq $pgq_version; pgqd $pgqd_version at its default settings"
if [ "$sync_commit" = on ]; then
	echo "- synchronous_commit = on: every publish waits for its WAL flush before COMMIT returns"
else
	echo "- **synchronous_commit = $sync_commit: a diagnostic run; the targets are defined with synchronous_commit = on**"
fi
echo "- load average (1, 5, 15 min) before the paths: $load_start; after: $load_end"
echo
echo "## Latency from the producer's COMMIT to the consumer's receipt"
echo
echo "$rate messages/s, one per autocommit transaction, for $warmup s (warm-up, not counted) + $duration s per path; a consumer process and $producers producer process(es) per path, each with its own connection."
echo
"$python" "$bench_dir/latency.py" table "$results" "${paths[@]}"
echo
echo "messages: received messages of the measured $duration s; lost: published - received over the whole run (warm-up included), which must be 0; msg/s: the producer's achieved rate. Histograms: \`$results/latency_PATH.hist\`$( [ -f "$results/latency.png" ] && echo "; plot: \`$results/latency.png\`")."
if [ -n "$bench_worker" ]; then
	echo
	echo "CPU of the database's pulsar_pg worker during each path (the whole run of the path, warm-up and drain included; 100 % = one core): $(for p in "${paths[@]}"; do printf '%s %s %%; ' "$p" "${path_cpu[$p]}"; done | sed 's/; $//')."
else
	echo "**No pulsar_pg worker ran for the database: nothing sent the LISTEN path a notification.**"
fi
echo
echo "## Background worker CPU"
echo
if [ "$cpu_topics" -eq 0 ]; then
	echo "Skipped (CPU_TOPICS=0)."
elif [ -z "$cpu_worker" ]; then
	echo "**No 'pulsar_pg worker' process ran for the database: nothing measured.**"
else
	echo "$cpu_topics topics with an exclusive subscription each (created in $cpu_create_s s), in a database of their own; CPU of its 'pulsar_pg worker' process (utime + stime from /proc/PID/stat over the wall time; 100 % = one core)."
	echo
	echo "| load | worker CPU % |"
	echo "|---|---:|"
	echo "| idle, $cpu_seconds s | $cpu_idle |"
	echo "| $cpu_rate messages/s to $cpu_active of the topics, $cpu_seconds s ($cpu_sent messages) | $cpu_busy |"
fi
} | tee "$results/latency.md"

"$python" "$bench_dir/latency.py" summary "$results" "${paths[@]}" >"$work/summary.tsv"
while IFS=$'\t' read -r measure value target verdict; do
	summary_row "$measure" "$value" "$target" "$verdict"
done <"$work/summary.tsv"
if [ -n "$cpu_busy" ]; then
	summary_row "worker CPU, $cpu_topics topics: idle / $cpu_rate msg/s to $cpu_active of them" "$cpu_idle % / $cpu_busy %" "" ""
fi
