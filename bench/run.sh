#!/usr/bin/env bash
#
# bench/run.sh -- publish benchmark: plain INSERT vs pulsar.send vs PgQ,
# side by side in one run, reported as rows/s and ratios.
#
# usage: bash bench/run.sh            (as root: it runs the server via runuser)
#
#   BENCH_SECONDS  duration of each pgbench run (default 20)
#   BENCH_ROUNDS   how many times the whole sequence of cases runs; each
#                  case reports the median of its rounds (default 3)
#   BENCH_PORT     port number of the Unix socket (default 5499)
#   BENCH_KEEP=1   keep the temp directory (server log, pgbench output)
#   BENCH_SERVER   set by bench/all.sh: use its running server, start none
#                  (bench/lib.sh)
#   BENCH_SYNCHRONOUS_COMMIT
#                  synchronous_commit of the server (default on, the
#                  PostgreSQL default; "off" takes the WAL flush out of each
#                  commit, a diagnostic that shows the CPU cost of the paths)
#
# Starts a throw-away PostgreSQL 15 cluster (Unix socket only, in a temp
# dir), with shared_preload_libraries = 'pulsar_pg', creates pulsar_pg and
# PgQ, then runs pgbench (-n -M prepared -T BENCH_SECONDS) with the scripts
# bench/{plain,pulsar,pgq}_{single,batch}.sql:
#   single  one message per autocommit transaction, 1 and 4 clients:
#           plain INSERT, pulsar.send, pgq.insert_event
#   batch   100 messages per transaction, 1 and 2 clients:
#           INSERT ... SELECT unnest(array), pulsar.send_batch(array),
#           pgq.insert_event over unnest(array)
# Payload: 100 random bytes (bytea), or 100 characters (PgQ's text data);
# the same values for every peer.  Cases alternate (plain, pulsar, PgQ for
# each load, rotated each round); before each case the tables are emptied
# (TRUNCATE / delete_topic + create_topic / drop_queue + create_queue) and
# a CHECKPOINT is taken, so every case starts from the same state.
#
# Prints a markdown report on stdout (machine, settings, command, rows/s,
# ratios with their targets, and per row: server CPU time and WAL bytes,
# which a noisy machine disturbs much less than rows/s); progress goes to
# stderr.  The server is stopped and the temp dir removed on exit.
# Takes about BENCH_ROUNDS * 12 * (BENCH_SECONDS + 2) seconds plus a minute.
#
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$root/bench
duration=${BENCH_SECONDS:-20}
rounds=${BENCH_ROUNDS:-3}
port=${BENCH_PORT:-5499}
keep=${BENCH_KEEP:-0}
sync_commit=${BENCH_SYNCHRONOUS_COMMIT:-on}
command_line="BENCH_SECONDS=$duration BENCH_ROUNDS=$rounds bash bench/run.sh"
[ "$sync_commit" = on ] || command_line="BENCH_SYNCHRONOUS_COMMIT=$sync_commit $command_line"

summary_name=publish
me=bench

case $duration in ''|*[!0-9]*) die "BENCH_SECONDS must be a whole number of seconds" ;; esac
case $rounds in ''|*[!0-9]*) die "BENCH_ROUNDS must be a whole number" ;; esac
[ "$duration" -ge 1 ] || die "BENCH_SECONDS must be at least 1"
[ "$rounds" -ge 1 ] || die "BENCH_ROUNDS must be at least 1"
. "$bench_dir/lib.sh"
check_machine

# PgQ is the third peer: install it if it is missing.
ensure_packages postgresql-15-pgq3
check_extensions "PgQ's pgq.control is missing although postgresql-15-pgq3 is installed"

for s in plain pulsar pgq; do
	for k in single batch; do
		[ -f "$bench_dir/${s}_$k.sql" ] || die "missing pgbench script bench/${s}_$k.sql"
	done
done

#--------------------------------------------------------------------------
# Throw-away cluster
#--------------------------------------------------------------------------

make_work_dir pulsar_bench
for s in plain pulsar pgq; do
	for k in single batch; do
		install -o postgres -m 644 "$bench_dir/${s}_$k.sql" "$work/scripts/"
	done
done

# autovacuum is off: every case starts on empty tables and only appends for
# BENCH_SECONDS, and a vacuum starting in one case but not its peer would
# only add noise (and CPU that the per-row figures would count).
start_cluster bench/run.sh "autovacuum = off"

create_db bench
psql_db bench <<'SQL' >/dev/null
CREATE EXTENSION pulsar_pg;
CREATE EXTENSION pgq;
-- the same shape as a message: a bigint key from a sequence, a timestamp,
-- a 100-byte payload
CREATE TABLE bench_plain (
	id bigserial PRIMARY KEY,
	published_at timestamptz NOT NULL DEFAULT now(),
	payload bytea
);
SELECT pulsar.create_topic('bench');
SELECT pgq.create_queue('bench');
SQL

# Payloads, made once and shared by all peers: 100 random bytes for the
# bytea cases; for PgQ, whose data is text, 100 characters (base64 of 75
# random bytes).  The batch cases use 100 different values.
rand_hex() { head -c "$1" /dev/urandom | od -An -v -tx1 | tr -d ' \n'; }
rand_b64() { head -c "$1" /dev/urandom | base64 -w0; }

payload="\\x$(rand_hex 100)"
data=$(rand_b64 75)
payloads="{"
datas="{"
for i in $(seq 1 100); do
	[ "$i" -eq 1 ] || { payloads+=","; datas+=","; }
	payloads+="\"\\\\x$(rand_hex 100)\""
	datas+="\"$(rand_b64 75)\""
done
payloads+="}"
datas+="}"
[ ${#data} -eq 100 ] || die "PgQ data is ${#data} characters, expected 100"

# check the parameters the scripts get: 100 bytes, 100 elements of 100
psql_db bench -At -v p="$payload" -v ps="$payloads" -v d="$data" -v ds="$datas" <<'SQL' >"$work/check.out"
SELECT length(:'p'::bytea), length(:'d'::text),
       array_length(:'ps'::bytea[], 1), min(length(b)), max(length(b))
  FROM unnest(:'ps'::bytea[]) b;
SELECT array_length(:'ds'::text[], 1), min(length(t)), max(length(t))
  FROM unnest(:'ds'::text[]) t;
SQL
[ "$(tr '\n' ' ' <"$work/check.out")" = "100|100|100|100|100 100|100|100 " ] ||
	die "payload check failed: $(tr '\n' ' ' <"$work/check.out")"

reset_state() {
	psql_db bench <<'SQL' >/dev/null
TRUNCATE bench_plain RESTART IDENTITY;
SELECT pulsar.delete_topic('bench', true);
SELECT pulsar.create_topic('bench');
SELECT pgq.drop_queue('bench');
SELECT pgq.create_queue('bench');
CHECKPOINT;
SQL
}

nproc_=$(nproc)
threads_for() { local c=$1; [ "$c" -le "$nproc_" ] && echo "$c" || echo "$nproc_"; }

# CPU used by server processes: the postmaster's cutime + cstime, which grow
# by the CPU time of each child it reaps: the client backends, and short-
# lived workers such as pulsar_pg's segment workers.  Long-lived processes
# (checkpointer, WAL writer, any permanent worker) are not counted;
# autovacuum is off.  Before reading the counters, wait until every child
# that is not one of those long-lived ones has exited and been reaped.
pm_pid=$(head -n 1 "$pgdata/postmaster.pid")
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $16 + $17 }' "/proc/$pm_pid/stat"; }
children() { ps -o pid=,stat= --ppid "$pm_pid" | awk '{ print $1, $2 }'; }
long_lived=" $(ps -o pid=,stat=,args= --ppid "$pm_pid" |
	awk '$2 !~ /^Z/ && !($3 == "postgres:" && $4 == "postgres") { print $1 }' | paste -sd ' ') "
wait_backends_gone() {
	local k busy pid stat
	for (( k = 0; k < 500; k++ )); do
		busy=no
		while read -r pid stat; do
			[ -n "$pid" ] || continue
			case $stat in Z*) busy=yes; break ;; esac
			case $long_lived in *" $pid "*) ;; *) busy=yes; break ;; esac
		done < <(children)
		[ "$busy" = yes ] || return 0
		sleep 0.02
	done
	# still there after 10 s: a long-lived process started since (a worker
	# the extension launched); stop waiting for it
	while read -r pid stat; do
		case $stat in Z*) continue ;; esac
		case $long_lived in *" $pid "*) ;; *)
			say "note: server process $pid ($(ps -o args= -p "$pid")) is long-lived; its CPU is not counted"
			long_lived+="$pid " ;;
		esac
	done < <(children)
}

# run_case SYSTEM KIND CLIENTS SECONDS TAG
# -> prints "rows/s  server-CPU-us/row  WAL-bytes/row"
run_case() {
	local sys=$1 kind=$2 clients=$3 secs=$4 tag=$5
	local out=$work/runs/$tag.out rows=1 tps failed txs lsn0 wal cpu0 cpu1
	[ "$kind" = batch ] && rows=100
	reset_state
	lsn0=$(psql_db bench -At -c 'SELECT pg_current_wal_insert_lsn()')
	wait_backends_gone
	cpu0=$(cpu_ticks)
	if ! as_postgres "$bindir/pgbench" -h "$sock" -p "$port" -n -M prepared \
		-T "$secs" -c "$clients" -j "$(threads_for "$clients")" \
		-D payload="$payload" -D data="$data" \
		-D payloads="$payloads" -D datas="$datas" \
		-f "$work/scripts/${sys}_$kind.sql" bench >"$out" 2>&1; then
		tail -n 20 "$out" >&2
		die "pgbench failed for $sys $kind with $clients clients"
	fi
	wait_backends_gone
	cpu1=$(cpu_ticks)
	wal=$(psql_db bench -At -c "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn0')")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	[ "${failed:-0}" -eq 0 ] || die "$failed failed transactions in $sys $kind ($out)"
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out")
	txs=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	[ -n "$tps" ] && [ -n "$txs" ] && [ "$txs" -gt 0 ] ||
		{ cat "$out" >&2; die "no transactions in pgbench output"; }
	awk -v t="$tps" -v r="$rows" -v n="$txs" -v c=$(( cpu1 - cpu0 )) -v hz="$clk_tck" -v w="$wal" \
		'BEGIN { printf "%.0f %.1f %.0f\n", t * r, c / hz * 1e6 / (n * r), w / (n * r) }'
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g |
	awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# per-round ratios of two space-separated lists of the same length (paired
# runs of the same round, a minute or so apart: shared noise mostly cancels)
paired_ratios() {
	local -a a b
	read -r -a a <<<"$1"
	read -r -a b <<<"$2"
	for (( k = 0; k < ${#a[@]}; k++ )); do
		ratio "${a[$k]}" "${b[$k]}"
		echo
	done | paste -sd ' '
}
verdict() {	# ratio, target, strict (1: must be > target)
	awk -v r="$1" -v t="$2" -v s="$3" 'BEGIN { ok = s ? r > t : r >= t; print ok ? "met" : "**missed**" }'
}

#--------------------------------------------------------------------------
# Runs
#--------------------------------------------------------------------------

loads=("single 1" "single 4" "batch 1" "batch 2")
systems=(plain pulsar pgq)
declare -A results loads_seen cpus wals
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

say "warm-up: each script for 2 s"
for sys in "${systems[@]}"; do
	for kind in single batch; do
		run_case "$sys" "$kind" 1 2 "warmup_${sys}_$kind" >/dev/null
	done
done

total=$(( rounds * ${#loads[@]} * ${#systems[@]} ))
n=0
for (( r = 0; r < rounds; r++ )); do
	for load in "${loads[@]}"; do
		read -r kind clients <<<"$load"
		for (( i = 0; i < ${#systems[@]}; i++ )); do
			sys=${systems[$(( (i + r) % ${#systems[@]} ))]}
			n=$(( n + 1 ))
			say "[$n/$total] round $(( r + 1 )): $sys $kind, $clients client(s), ${duration} s"
			load1=$(cut -d' ' -f1 /proc/loadavg)
			read -r v cpu wal < <(run_case "$sys" "$kind" "$clients" "$duration" "r${r}_${sys}_${kind}_$clients")
			[ -n "${wal:-}" ] || die "the $sys $kind case failed"
			say "    $v rows/s, server CPU $cpu us/row, WAL $wal bytes/row (load average before: $load1)"
			results[$sys:$kind:$clients]+="$v "
			cpus[$sys:$kind:$clients]+="$cpu "
			wals[$sys:$kind:$clients]+="$wal "
			loads_seen[$sys:$kind:$clients]+="$load1 "
		done
	done
done

#--------------------------------------------------------------------------
# Report
#--------------------------------------------------------------------------

pg_version=$(psql_db bench -At -c 'SELECT version()')
pulsar_version=$(psql_db bench -At -c "SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg'")
pgq_version=$(psql_db bench -At -c "SELECT extversion FROM pg_extension WHERE extname = 'pgq'")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal/ { printf "%.1f GB", $2 / 1024 / 1024 }' /proc/meminfo)
fs=$(df -PT "$pgdata" | awk 'NR == 2 { print $2 " on " $1 }')

med() { median <<<"${results[$1]}" | xargs printf '%.0f'; }
rng() { minmax <<<"${results[$1]}"; }

echo "# pulsar_pg publish benchmark"
echo
echo "- command: \`$command_line\`"
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs ($cpu), $mem RAM, data dir on $fs, kernel $(uname -r)"
echo "- server: $pg_version"
echo "- extensions: pulsar_pg $pulsar_version, pgq $pgq_version"
echo "- settings: $(grep -v '^\(listen_addresses\|unix_socket_directories\|port\|logging_collector\|log_min_messages\) ' <<<"$settings" | paste -sd ';' | sed 's/;/; /g')"
if [ "$sync_commit" = on ]; then
	echo "- synchronous_commit = on (the PostgreSQL default): each commit waits for its WAL flush to disk"
else
	echo "- **synchronous_commit = $sync_commit: a diagnostic run, commits do not wait for the WAL flush; the targets are defined with synchronous_commit = on**"
fi
echo "- pgbench: -n -M prepared -T $duration, -j = min(clients, $(nproc)); $rounds round(s), cases alternated; each value is the median of the rounds (min-max in brackets)"
echo
echo "## Rows per second"
echo
echo "| load | clients | plain INSERT | pulsar.send / send_batch | PgQ insert_event |"
echo "|---|---:|---:|---:|---:|"
for load in "${loads[@]}"; do
	read -r kind clients <<<"$load"
	label="1 row / tx"
	[ "$kind" = batch ] && label="100 rows / tx"
	printf '| %s | %s |' "$label" "$clients"
	for sys in "${systems[@]}"; do
		printf ' %s [%s] |' "$(med "$sys:$kind:$clients")" "$(rng "$sys:$kind:$clients")"
	done
	echo
done
echo
echo "## Ratios"
echo
echo "Each ratio is the median of the per-round ratios (pulsar's run against its peer's run of the same round, a minute apart), [min-max] over the rounds."
echo
echo "| load | clients | pulsar / plain INSERT | target | | pulsar / PgQ | target | |"
echo "|---|---:|---:|---:|---|---:|---:|---|"
for load in "${loads[@]}"; do
	read -r kind clients <<<"$load"
	pa=$(paired_ratios "${results[pulsar:$kind:$clients]}" "${results[plain:$kind:$clients]}")
	pq=$(paired_ratios "${results[pulsar:$kind:$clients]}" "${results[pgq:$kind:$clients]}")
	if [ "$kind" = single ]; then
		label="send, 1 row / tx"; target=0.85
	else
		label="send_batch, 100 rows / tx"; target=0.80
	fi
	rp=$(median <<<"$pa" | xargs printf '%.2f')
	rq=$(median <<<"$pq" | xargs printf '%.2f')
	printf '| %s | %s | %s [%s] | >= %s | %s | %s [%s] | > 1.00 | %s |\n' "$label" "$clients" \
		"$rp" "$(minmax <<<"$pa")" "$target" "$(verdict "$rp" "$target" 0)" \
		"$rq" "$(minmax <<<"$pq")" "$(verdict "$rq" 1 1)"
	summary_row "${label%%,*} / plain INSERT, ${label#*, }, $clients client(s)" "$rp" ">= $target" "$(verdict "$rp" "$target" 0)"
	summary_row "${label%%,*} / PgQ, ${label#*, }, $clients client(s)" "$rq" "> 1.00" "$(verdict "$rq" 1 1)"
done
echo
echo "## Cost per row (less sensitive to a noisy machine than rows/s)"
echo
echo "Server CPU: user + system time per row, in microseconds, of the server processes that ended during the case (the client backends, and short-lived workers such as pulsar_pg's segment workers; from the postmaster's reaped-children counters). It excludes waiting for the WAL flush and the long-lived checkpointer and WAL writer, and includes the pgbench connections' start-up. WAL: bytes of WAL written per row, full-page images included. Medians of the rounds; ratios are pulsar / peer."
echo
echo "| load | clients | CPU us/row: plain | pulsar | PgQ | pulsar/plain | pulsar/PgQ | WAL B/row: plain | pulsar | PgQ | pulsar/plain | pulsar/PgQ |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for load in "${loads[@]}"; do
	read -r kind clients <<<"$load"
	label="1 row / tx"
	[ "$kind" = batch ] && label="100 rows / tx"
	ca=$(median <<<"${cpus[plain:$kind:$clients]}" | xargs printf '%.1f')
	cp=$(median <<<"${cpus[pulsar:$kind:$clients]}" | xargs printf '%.1f')
	cq=$(median <<<"${cpus[pgq:$kind:$clients]}" | xargs printf '%.1f')
	wa=$(median <<<"${wals[plain:$kind:$clients]}" | xargs printf '%.0f')
	wp=$(median <<<"${wals[pulsar:$kind:$clients]}" | xargs printf '%.0f')
	wq=$(median <<<"${wals[pgq:$kind:$clients]}" | xargs printf '%.0f')
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$clients" \
		"$ca" "$cp" "$cq" "$(ratio "$cp" "$ca")" "$(ratio "$cp" "$cq")" \
		"$wa" "$wp" "$wq" "$(ratio "$wp" "$wa")" "$(ratio "$wp" "$wq")"
done
echo
echo "Load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "Raw rows/s, round 1, round 2, ... (within a round the order of the three peers rotates):"
echo
for load in "${loads[@]}"; do
	read -r kind clients <<<"$load"
	for sys in "${systems[@]}"; do
		echo "- $sys $kind, $clients client(s): ${results[$sys:$kind:$clients]% } rows/s; CPU ${cpus[$sys:$kind:$clients]% } us/row; 1-min load average before each: ${loads_seen[$sys:$kind:$clients]% }"
	done
done
