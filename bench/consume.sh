#!/usr/bin/env bash
#
# bench/consume.sh -- consume benchmark: pulsar_pg exclusive and shared
# subscriptions against a SKIP LOCKED queue table (the pgmq pattern) and
# PgQ, side by side in one run, from the same backlog, reported as rows/s
# and ratios; then consume rate against backlog depth, and storage per
# message with 1 and 10 subscriptions.
#
# usage: bash bench/consume.sh         (as root: it runs the server via runuser)
#
#   BENCH_SECONDS   longest time of each consume run (default 20); a run also
#                   ends when its backlog is drained
#   BENCH_ROUNDS    how many times the four cases run, order rotated; each
#                   case reports its best round, and each ratio is the
#                   median of the per-round ratios (default 3)
#   BACKLOG         messages in each backlog (default 1000000; a multiple of
#                   1000)
#   BIG_BACKLOG     deep backlog of the depth comparison (default 10000000, a
#                   multiple of 1000; 0 skips the comparison)
#   SMALL_BACKLOG   shallow backlog of the depth comparison (default 10000, a
#                   multiple of 100)
#   DEPTH_ROUNDS    rounds of the depth comparison, each a run on the shallow
#                   topic then one on the deep topic (default 8)
#   DEPTH_SECONDS   length of each depth run (default 4): many short runs,
#                   alternating, so that both depths meet the same moods of
#                   a shared machine
#   STORAGE_MESSAGES messages of the storage comparison (default 200000, a
#                   multiple of 2000; 0 skips it)
#   BENCH_PORT      port number of the Unix socket (default 5489)
#   BENCH_KEEP=1    keep the temp directory (server log, pgbench output)
#   BENCH_SERVER    set by bench/all.sh: use its running server, start none
#                   (bench/lib.sh)
#   BENCH_SYNCHRONOUS_COMMIT
#                   synchronous_commit of the server (default on, the
#                   PostgreSQL default; "off" takes the WAL flush out of each
#                   consuming transaction: a diagnostic of the CPU cost)
#   BENCH_PERF=1    record a perf profile (perf record -g) of the server
#                   backend during round 1 of the two pulsar cases and print
#                   the top symbols (needs perf; adds a little overhead to
#                   those runs)
#
# What it measures (one client, pgbench -n -M prepared, one transaction per
# iteration, synchronous_commit = on):
#   exclusive    pulsar.receive 100 + pulsar.ack_cumulative, one statement
#                                                               (consume_exclusive.sql)
#   shared       pulsar.receive 100 + pulsar.ack(array), one statement
#                                                               (consume_shared.sql)
#   SKIP LOCKED  BEGIN; SELECT 100 ... FOR UPDATE SKIP LOCKED, UPDATE vt
#                (visibility timeout); DELETE; COMMIT           (consume_skip_locked.sql)
#   PgQ          BEGIN; next_batch; get_batch_events; finish_batch; COMMIT,
#                100 events a batch                             (consume_pgq.sql)
# A pulsar case is one statement, so one transaction without a transaction
# block; the peers need several statements, so BEGIN and COMMIT.
# Each starts from a backlog of BACKLOG messages of 100 bytes: the pulsar
# subscriptions seek back to 'earliest' and the PgQ consumer is registered
# back at its first tick before each run; the queue table is refilled and
# vacuumed.  A run lasts BENCH_SECONDS or until its backlog is drained
# (an empty read returns no row for \gset, which ends pgbench's client).
# Consumed rows are counted from the backlogs (topic_stats msgBacklog, PgQ
# ticks, count(*) of the table), not from pgbench, and checked against
# pgbench's transaction count; rows/s = consumed rows / pgbench's elapsed
# time (transactions / tps, without connection time).
# Depth: the exclusive case on a SMALL_BACKLOG topic (seeking back to
# 'earliest' whenever drained) and on a BIG_BACKLOG topic, same script
# (consume_depth.sql).  Storage: 1 vs 10 shared subscriptions of one topic,
# each consuming half, in databases of their own.
#
# Prints a markdown report on stdout; progress goes to stderr.  The server
# is stopped and the temp dir removed on exit.
#
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$root/bench
duration=${BENCH_SECONDS:-20}
rounds=${BENCH_ROUNDS:-3}
backlog=${BACKLOG:-1000000}
big=${BIG_BACKLOG:-10000000}
small=${SMALL_BACKLOG:-10000}
depth_rounds=${DEPTH_ROUNDS:-8}
depth_seconds=${DEPTH_SECONDS:-4}
store_n=${STORAGE_MESSAGES:-200000}
port=${BENCH_PORT:-5489}
keep=${BENCH_KEEP:-0}
perf_on=${BENCH_PERF:-0}
sync_commit=${BENCH_SYNCHRONOUS_COMMIT:-on}
command_line="BENCH_SECONDS=$duration BENCH_ROUNDS=$rounds BACKLOG=$backlog BIG_BACKLOG=$big SMALL_BACKLOG=$small DEPTH_ROUNDS=$depth_rounds DEPTH_SECONDS=$depth_seconds STORAGE_MESSAGES=$store_n bash bench/consume.sh"
[ "$sync_commit" = on ] || command_line="BENCH_SYNCHRONOUS_COMMIT=$sync_commit $command_line"

summary_name=consume
me=consume

. "$bench_dir/lib.sh"
whole BENCH_SECONDS "$duration"
whole BENCH_ROUNDS "$rounds"
whole BACKLOG "$backlog"
whole BIG_BACKLOG "$big"
whole SMALL_BACKLOG "$small"
whole DEPTH_ROUNDS "$depth_rounds"
whole DEPTH_SECONDS "$depth_seconds"
whole STORAGE_MESSAGES "$store_n"
whole BENCH_PORT "$port"
[ "$duration" -ge 1 ] || die "BENCH_SECONDS must be at least 1"
[ "$rounds" -ge 1 ] || die "BENCH_ROUNDS must be at least 1"
[ "$depth_rounds" -ge 1 ] || die "DEPTH_ROUNDS must be at least 1"
[ "$depth_seconds" -ge 1 ] || die "DEPTH_SECONDS must be at least 1"
[ "$backlog" -ge 1000 ] && [ $(( backlog % 1000 )) -eq 0 ] || die "BACKLOG must be a positive multiple of 1000"
[ $(( big % 1000 )) -eq 0 ] || die "BIG_BACKLOG must be a multiple of 1000 (0 skips)"
[ "$small" -ge 100 ] && [ $(( small % 100 )) -eq 0 ] || die "SMALL_BACKLOG must be a positive multiple of 100"
[ $(( store_n % 2000 )) -eq 0 ] || die "STORAGE_MESSAGES must be a multiple of 2000 (0 skips)"
check_machine
check_extensions "PgQ is not installed (apt-get install postgresql-15-pgq3)"
if [ "$perf_on" = 1 ]; then
	command -v perf >/dev/null || die "BENCH_PERF=1 needs perf"
fi

#--------------------------------------------------------------------------
# Server
#--------------------------------------------------------------------------

perf_pid=
before_cleanup() {
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
	fi
}
make_work_dir pulsar_consume
for f in "$bench_dir"/consume_*.sql; do
	install -o postgres -m 644 "$f" "$work/scripts/"
done

# autovacuum stays on (the default): a SKIP LOCKED queue table needs it, and
# pulsar's cursor and pending tables are updated in place.  The consumer
# lease is long so that the named consumers stay attached between runs.
# Before each run: VACUUM of the tables consuming updates, no autovacuum
# worker running, CHECKPOINT (see quiesce).
start_cluster bench/consume.sh "autovacuum = on
pulsar_pg.consumer_lease = '1h'"

psql_bench() { psql_db bench "$@"; }
# a value from a query
q1() { psql_bench -At -c "$1"; }
# fills run with synchronous_commit = off: they are not measured, and a
# CHECKPOINT follows them
psql_fill() { PGOPTIONS='-c synchronous_commit=off' psql_db "$@"; }

create_db bench

# 100 random bytes for pulsar and the queue table; for PgQ, whose data is
# text, 100 characters (base64 of 75 random bytes)
payload="\\x$(head -c 100 /dev/urandom | od -An -v -tx1 | tr -d ' \n')"
data=$(head -c 75 /dev/urandom | base64 -w0)
[ ${#data} -eq 100 ] || die "PgQ data is ${#data} characters, expected 100"
[ "$(q1 "SELECT length('$payload'::bytea)")" = 100 ] || die "the payload is not 100 bytes"

psql_bench <<SQL >/dev/null
CREATE EXTENSION pulsar_pg;
CREATE EXTENSION pgq;
-- pulsar: one topic, an exclusive and a shared subscription, both at the
-- start; each subscription has the whole backlog.  Every run replays the
-- topics from 'earliest', so what the subscriptions acknowledged must be
-- kept (without retention the maintenance pass trims it).
SELECT pulsar.set_retention('public/default', NULL, NULL);
SELECT pulsar.create_topic('backlog');
SELECT pulsar.subscribe('backlog', 'ex', 'exclusive', 'earliest', consumer => 'e');
SELECT pulsar.subscribe('backlog', 'sh', 'shared', 'earliest', consumer => 's');
-- PgQ: a tick whenever the ticker finds at least one new event; the fill
-- calls it after every 100 events, so a batch holds 100 events
SELECT pgq.create_queue('bq');
SELECT pgq.set_queue_config('bq', 'ticker_max_count', '1');
SELECT pgq.set_queue_config('bq', 'ticker_max_lag', '1 day');
SELECT pgq.set_queue_config('bq', 'ticker_idle_period', '1 day');
SELECT pgq.register_consumer('bq', 'c');
-- the queue table, shaped as pgmq's (msg_id, vt, message), with its vt index
CREATE TABLE q (
	id bigserial PRIMARY KEY,
	vt timestamptz NOT NULL DEFAULT now(),
	payload bytea
);
CREATE INDEX q_vt ON q (vt);
SQL

# fill_pulsar TOPIC N JOBS: N messages (a multiple of 1000) by send_batch of
# 1000 per transaction, from JOBS sessions at once
fill_pulsar() {
	local topic=$1 n=$2 jobs=$3 batches each j pids=() b
	batches=$(( n / 1000 ))
	each=$(( (batches + jobs - 1) / jobs ))
	for (( j = 0; j < jobs; j++ )); do
		b=$(( batches - j * each ))
		[ "$b" -le "$each" ] || b=$each
		[ "$b" -gt 0 ] || continue
		psql_fill bench -c "DO \$\$
BEGIN
	FOR i IN 1..$b LOOP
		PERFORM pulsar.send_batch('$topic', array_fill('$payload'::bytea, ARRAY[1000]));
		COMMIT;
	END LOOP;
END \$\$" &
		pids+=($!)
	done
	for b in "${pids[@]}"; do
		wait "$b" || die "filling topic $topic failed"
	done
}

# backlog of a subscription, from topic_stats
sub_backlog() { q1 "SELECT (pulsar.topic_stats('$1')->'subscriptions'->'$2'->>'msgBacklog')::bigint"; }

#--------------------------------------------------------------------------
# Backlogs
#--------------------------------------------------------------------------

say "filling: $backlog messages into topic 'backlog' (send_batch of 1000)"
t0=$(date +%s.%N)
fill_pulsar backlog "$backlog" 2
t1=$(date +%s.%N)
fill_pulsar_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
[ "$(q1 "SELECT (pulsar.topic_stats('backlog')->>'msgInCounter')::bigint")" = "$backlog" ] ||
	die "topic 'backlog' does not hold $backlog messages after the fill"

say "filling: $backlog PgQ events (insert_event, a tick every 100)"
pgq_start_tick=$(q1 "SELECT last_tick FROM pgq.get_consumer_info('bq', 'c')")
t0=$(date +%s.%N)
psql_fill bench -c "DO \$\$
BEGIN
	FOR i IN 1..$(( backlog / 100 )) LOOP
		PERFORM pgq.insert_event('bq', 'bench', '$data') FROM generate_series(1, 100);
		COMMIT;
		PERFORM pgq.ticker('bq');
		COMMIT;
	END LOOP;
END \$\$"
t1=$(date +%s.%N)
fill_pgq_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
# every tick after the consumer's first one closes a batch of 100 events
# (the first tick's event_seq is the sequence's uncalled start value, 1)
read -r nticks _ maxid mind maxd < <(q1 "
	SELECT count(*), min(tick_id), max(tick_id), min(d), max(d)
	  FROM (SELECT tick_id, tick_event_seq - lag(tick_event_seq) OVER (ORDER BY tick_id) AS d
	          FROM pgq.tick t JOIN pgq.queue q ON q.queue_id = t.tick_queue
	         WHERE q.queue_name = 'bq' AND tick_id >= $pgq_start_tick) s
	 WHERE d IS NOT NULL AND tick_id > $pgq_start_tick + 1" | tr '|' ' ')
pgq_table=$(q1 "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = 'bq'")
pgq_total=$(q1 "SELECT count(*) FROM $pgq_table")
[ "$pgq_total" -eq "$backlog" ] || die "PgQ holds $pgq_total events after the fill, expected $backlog"
[ "$nticks" -eq $(( backlog / 100 - 1 )) ] && [ "$mind" = 100 ] && [ "$maxd" = 100 ] &&
	[ "$maxid" -eq $(( pgq_start_tick + backlog / 100 )) ] ||
	die "PgQ ticks are not batches of 100 events ($nticks ticks, $mind-$maxd events, last tick $maxid)"
pgq_end_tick=$maxid

# the queue table: refilled before each of its runs
fill_queue_table() {
	psql_fill bench <<SQL >/dev/null
TRUNCATE q RESTART IDENTITY;
INSERT INTO q (payload) SELECT '$payload'::bytea FROM generate_series(1, $backlog);
VACUUM ANALYZE q;
SQL
}
say "filling: $backlog rows into the queue table (INSERT ... SELECT generate_series)"
t0=$(date +%s.%N)
fill_queue_table
t1=$(date +%s.%N)
fill_q_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

say "VACUUM ANALYZE (sets hint bits and the visibility map of the fills)"
psql_bench -c 'VACUUM ANALYZE' -c 'CHECKPOINT'

#--------------------------------------------------------------------------
# Runs
#--------------------------------------------------------------------------

# CPU used by backends: the postmaster's cutime + cstime, which grow by the
# CPU time of each child it reaps (client backends, and autovacuum workers
# that ended during the run).
pm_pid=$(head -n 1 "$pgdata/postmaster.pid")
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $16 + $17 }' "/proc/$pm_pid/stat"; }
wait_backends_gone() {
	local k children
	for (( k = 0; k < 500; k++ )); do
		children=$(ps -o stat=,args= --ppid "$pm_pid" | sed 's/^ *//')
		grep -q -e '^Z' -e '^[^ ]* *postgres: postgres ' <<<"$children" || return 0
		sleep 0.02
	done
	say "warning: client backends still running after 10 s"
}

# quiesce: vacuum what the runs update (queue table, cursors, pending rows,
# PgQ's subscription and tick rows), wait for autovacuum workers to finish,
# and checkpoint, so that no run pays for its predecessor's dead rows or
# dirty pages
quiesce() {
	local k
	psql_bench -c 'VACUUM ANALYZE q, pulsar.cursor, pulsar.acked_range, pulsar.pending,
		pulsar.consumer, pulsar.subscription, pgq.subscription, pgq.tick, pgq.queue'
	for (( k = 0; k < 600; k++ )); do
		[ "$(q1 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")" = 0 ] && break
		sleep 0.1
	done
	psql_bench -c CHECKPOINT
}

# reset_case CASE: back to a full backlog
reset_case() {
	case $1 in
	exclusive) psql_bench -c "SELECT pulsar.seek('backlog', 'ex', 'earliest')" >/dev/null ;;
	shared) psql_bench -c "SELECT pulsar.seek('backlog', 'sh', 'earliest')" >/dev/null ;;
	pgq) psql_bench -c "SELECT pgq.register_consumer_at('bq', 'c', $pgq_start_tick)" >/dev/null ;;
	skip_locked) fill_queue_table ;;
	esac
}

# remaining CASE: messages left in the case's backlog
remaining() {
	case $1 in
	exclusive) sub_backlog backlog ex ;;
	shared) sub_backlog backlog sh ;;
	pgq) echo $(( (pgq_end_tick - $(q1 "SELECT last_tick FROM pgq.get_consumer_info('bq', 'c')")) * 100 )) ;;
	skip_locked) q1 "SELECT count(*) FROM q" ;;
	esac
}

# the backend of the running pgbench client (for perf)
backend_pid() {
	local k pid
	for (( k = 0; k < 100; k++ )); do
		pid=$(q1 "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1")
		[ -n "$pid" ] && { echo "$pid"; return; }
		sleep 0.05
	done
}

# run_pgbench TAG SCRIPT SECONDS [pgbench args]: runs one client; prints
# "transactions elapsed-seconds drained(0/1)"
run_pgbench() {
	local tag=$1 script=$2 secs=$3 out rc tps txs drained=0
	shift 3
	out=$work/runs/$tag.out
	rc=0
	as_postgres "$bindir/pgbench" -h "$sock" -p "$port" -n -M prepared -T "$secs" \
		-c 1 -j 1 "$@" -f "$work/scripts/$script" bench >"$out" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		# the only error expected: an empty read ends the client
		if [ "$rc" -eq 2 ] && grep -q 'expected one row, got 0' "$out" &&
			[ "$(grep -c 'error' "$out")" -eq 2 ]; then
			drained=1
		else
			tail -n 20 "$out" >&2
			die "pgbench failed for $tag ($out)"
		fi
	fi
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out")
	txs=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	[ -n "$tps" ] && [ -n "$txs" ] && [ "$txs" -gt 0 ] ||
		{ cat "$out" >&2; die "no transactions in pgbench output ($tag)"; }
	awk -v n="$txs" -v t="$tps" -v d="$drained" 'BEGIN { printf "%d %.3f %d\n", n, n / t, d }'
}

script_of() {
	case $1 in
	exclusive) echo consume_exclusive.sql ;;
	shared) echo consume_shared.sql ;;
	skip_locked) echo consume_skip_locked.sql ;;
	pgq) echo consume_pgq.sql ;;
	esac
}

# run_case CASE SECONDS TAG [perf]
# -> prints "rows/s consumed elapsed drained CPU-us/row WAL-bytes/row"
run_case() {
	local c=$1 secs=$2 tag=$3 prof=${4:-} before after txs el dr consumed lsn0 wal cpu0 cpu1 bpid
	reset_case "$c"
	quiesce
	before=$(remaining "$c")
	[ "$before" -eq "$backlog" ] || die "$c: the backlog is $before before the run, expected $backlog"
	lsn0=$(q1 'SELECT pg_current_wal_insert_lsn()')
	wait_backends_gone
	cpu0=$(cpu_ticks)
	if [ -n "$prof" ]; then
		(
			bpid=$(backend_pid)
			[ -n "$bpid" ] || exit 0
			exec perf record -q -g -o "$work/runs/$tag.perf" -p "$bpid" >/dev/null 2>&1
		) &
		perf_pid=$!
	fi
	read -r txs el dr < <(run_pgbench "$tag" "$(script_of "$c")" "$secs")
	[ -n "${dr:-}" ] || die "the $c run failed"
	if [ -n "$prof" ]; then
		wait "$perf_pid" 2>/dev/null || true
		perf_pid=
	fi
	wait_backends_gone
	cpu1=$(cpu_ticks)
	wal=$(q1 "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn0')")
	after=$(remaining "$c")
	consumed=$(( before - after ))
	# every transaction consumed 100, but the last one before a drain
	if [ "$consumed" -gt $(( txs * 100 )) ] || [ "$consumed" -le $(( (txs - 1) * 100 )) ]; then
		die "$c: $consumed rows left the backlog in $txs transactions of up to 100"
	fi
	if [ "$c" = skip_locked ]; then
		# rows taken are deleted, not only hidden
		# (the fill gave every row the same vt, a taken row got a later one)
		[ "$(q1 "SELECT count(DISTINCT vt) FROM q")" -le 1 ] ||
			die "skip_locked: rows were updated but not deleted"
	fi
	awk -v n="$consumed" -v e="$el" -v d="$dr" -v c=$(( cpu1 - cpu0 )) -v hz="$clk_tck" -v w="$wal" \
		'BEGIN { printf "%.0f %d %.2f %d %.1f %.0f\n", n / e, n, e, d, c / hz * 1e6 / n, w / n }'
}

cases=(exclusive shared skip_locked pgq)
declare -A label=([exclusive]="pulsar exclusive: receive 100 + ack_cumulative, one statement"
	[shared]="pulsar shared: receive 100 + ack(array), one statement"
	[skip_locked]="SKIP LOCKED queue table (pgmq pattern)"
	[pgq]="PgQ next_batch / get_batch_events / finish_batch")
declare -A results cpus wals drains elapsed
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

say "warm-up: each case for 2 s"
for c in "${cases[@]}"; do
	run_case "$c" 2 "warmup_$c" >/dev/null
done

total=$(( rounds * ${#cases[@]} ))
n=0
for (( r = 0; r < rounds; r++ )); do
	for (( i = 0; i < ${#cases[@]}; i++ )); do
		c=${cases[$(( (i + r) % ${#cases[@]} ))]}
		n=$(( n + 1 ))
		prof=
		if [ "$perf_on" = 1 ] && [ "$r" -eq 0 ] && { [ "$c" = exclusive ] || [ "$c" = shared ]; }; then
			prof=perf
		fi
		say "[$n/$total] round $(( r + 1 )): $c, up to $duration s${prof:+ (perf record)}"
		read -r v consumed el dr cpu wal < <(run_case "$c" "$duration" "r${r}_$c" $prof)
		[ -n "${wal:-}" ] || die "the $c case failed"
		say "    $v rows/s ($consumed rows in $el s$([ "$dr" = 1 ] && echo ', backlog drained')), server CPU $cpu us/row, WAL $wal bytes/row"
		results[$c]+="$v "
		cpus[$c]+="$cpu "
		wals[$c]+="$wal "
		elapsed[$c]+="$el "
		drains[$c]+="$dr "
	done
done

#--------------------------------------------------------------------------
# Backlog depth: exclusive consume rate at SMALL_BACKLOG vs BIG_BACKLOG
#--------------------------------------------------------------------------

declare -A depth
if [ "$big" -gt 0 ]; then
	psql_bench <<SQL >/dev/null
SELECT pulsar.create_topic('shallow');
SELECT pulsar.subscribe('shallow', 'ex', 'exclusive', 'earliest', consumer => 'e');
SELECT pulsar.create_topic('deep');
SELECT pulsar.subscribe('deep', 'ex', 'exclusive', 'earliest', consumer => 'e');
SQL
	say "filling: $small messages into topic 'shallow'"
	psql_fill bench -c "SELECT count(*) FROM pulsar.send_batch('shallow', array_fill('$payload'::bytea, ARRAY[$small]))" >/dev/null
	say "filling: $big messages into topic 'deep' (send_batch of 1000, 2 sessions)"
	t0=$(date +%s.%N)
	fill_pulsar deep "$big" 2
	t1=$(date +%s.%N)
	fill_big_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
	[ "$(sub_backlog deep ex)" = "$big" ] || die "topic 'deep' does not have a backlog of $big"
	say "    filled in $fill_big_s s; VACUUM ANALYZE (as autovacuum would after inserts)"
	t0=$(date +%s.%N)
	psql_bench -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
	t1=$(date +%s.%N)
	vacuum_big_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
	deep_bytes=$(q1 "SELECT sum((l->>'size')::bigint) FROM jsonb_array_elements(pulsar.topic_internal_stats('deep')->'ledgers') l")
	deep_segments=$(q1 "SELECT jsonb_array_length(pulsar.topic_internal_stats('deep')->'ledgers')")

	# warm-up of the script on the small topic
	psql_bench -c "SELECT pulsar.seek('shallow', 'ex', 'earliest')" >/dev/null
	run_pgbench depth_warmup consume_depth.sql 2 -D topic=shallow >/dev/null
	for (( r = 0; r < depth_rounds; r++ )); do
		for t in shallow deep; do
			[ "$t" = shallow ] && psql_bench -c "SELECT pulsar.seek('shallow', 'ex', 'earliest')" >/dev/null
			quiesce
			before=$(sub_backlog "$t" ex)
			say "depth round $(( r + 1 ))/$depth_rounds: topic '$t', backlog $before, $depth_seconds s"
			read -r txs el dr < <(run_pgbench "depth_r${r}_$t" consume_depth.sql "$depth_seconds" -D topic="$t")
			[ "$dr" = 0 ] || die "the depth run stopped early"
			after=$(sub_backlog "$t" ex)
			# what the script does from this backlog: transactions of 100
			# while there are messages, one that finds none and seeks back
			# to 'earliest' when there are none
			[ "$t" = shallow ] && size=$small || size=$big
			read -r consumed expect < <(awk -v s="$size" -v b="$before" -v n="$txs" 'BEGIN {
				c = 0
				for (i = 0; i < n; i++) {
					if (b > 0) { b -= 100; c += 100 } else b = s
				}
				print c, b
			}')
			[ "$after" -eq "$expect" ] ||
				die "$t: backlog $after after $txs transactions from $before, expected $expect"
			v=$(awk -v n="$consumed" -v e="$el" 'BEGIN { printf "%.0f", n / e }')
			say "    $v rows/s ($consumed rows in $el s)"
			depth[$t]+="$v "
			depth[$t:start]+="$before "
		done
	done
fi

#--------------------------------------------------------------------------
# Storage per message: 1 vs 10 subscriptions
#--------------------------------------------------------------------------

declare -A st
if [ "$store_n" -gt 0 ]; then
	for subs in 1 10; do
		db=st$subs
		say "storage: $store_n messages, $subs shared subscription(s), each consumes half"
		create_db "$db"
		psql_db "$db" <<SQL >/dev/null
CREATE EXTENSION pulsar_pg;
CREATE EXTENSION pgstattuple;
SELECT pulsar.create_topic('s');
SELECT pulsar.subscribe('s', 'sub' || i, 'shared', 'earliest', consumer => 'c')
  FROM generate_series(1, $subs) i;
SQL
		PGOPTIONS='-c synchronous_commit=off' as_postgres "$bindir/psql" -h "$sock" -p "$port" -X -q \
			-v ON_ERROR_STOP=1 -d "$db" -c "DO \$\$
BEGIN
	FOR i IN 1..$(( store_n / 1000 )) LOOP
		PERFORM pulsar.send_batch('s', array_fill('$payload'::bytea, ARRAY[1000]));
		COMMIT;
	END LOOP;
END \$\$"
		# each subscription: receive and ack half the messages, 1000 at a
		# time; then receive 100 more and ack every other one, leaving 50
		# acknowledgement holes and 50 messages held by the consumer
		PGOPTIONS='-c synchronous_commit=off' as_postgres "$bindir/psql" -h "$sock" -p "$port" -X -q \
			-v ON_ERROR_STOP=1 -d "$db" -c "DO \$\$
DECLARE
	ids pulsar.message_id[];
BEGIN
	FOR s IN 1..$subs LOOP
		FOR i IN 1..$(( store_n / 2000 )) LOOP
			ids := ARRAY(SELECT message_id FROM pulsar.receive('s', 'sub' || s, 1000, consumer => 'c'));
			PERFORM pulsar.ack('s', 'sub' || s, ids);
			COMMIT;
		END LOOP;
		ids := ARRAY(SELECT message_id FROM pulsar.receive('s', 'sub' || s, 100, consumer => 'c'));
		PERFORM pulsar.ack('s', 'sub' || s, ARRAY(SELECT ids[j] FROM generate_series(1, 100, 2) j));
		COMMIT;
	END LOOP;
END \$\$"
		psql_db "$db" -c 'VACUUM' -c 'CHECKPOINT'
		st[$subs:backlog]=$(psql_db "$db" -At -c "SELECT sum((v->>'msgBacklog')::bigint) FROM jsonb_each(pulsar.topic_stats('s')->'subscriptions') AS e(k, v)")
		st[$subs:segments]=$(psql_db "$db" -At -c "SELECT sum((l->>'size')::bigint) FROM jsonb_array_elements(pulsar.topic_internal_stats('s')->'ledgers') l")
		st[$subs:nseg]=$(psql_db "$db" -At -c "SELECT jsonb_array_length(pulsar.topic_internal_stats('s')->'ledgers')")
		for tbl in cursor acked_range pending consumer subscription; do
			read -r rows bytes live < <(psql_db "$db" -At -F ' ' -c "
				SELECT (SELECT count(*) FROM pulsar.$tbl), pg_total_relation_size('pulsar.$tbl'),
				       tuple_len FROM pgstattuple('pulsar.$tbl')")
			st[$subs:$tbl:rows]=$rows
			st[$subs:$tbl:bytes]=$bytes
			st[$subs:$tbl:live]=$live
		done
	done
fi

#--------------------------------------------------------------------------
# Report
#--------------------------------------------------------------------------

pg_version=$(q1 'SELECT version()')
pulsar_version=$(q1 "SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg'")
pgq_version=$(q1 "SELECT extversion FROM pg_extension WHERE extname = 'pgq'")
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GB", $2 / 1024 / 1024 }' /proc/meminfo)
fs=$(df -PT "$pgdata" | awk 'NR == 2 { print $2 " on " $1 }')

best() { awk '{ for (i = 1; i <= NF; i++) if (m == "" || $i > m) m = $i } END { print m }'; }
median() { tr ' ' '\n' | sort -g | awk 'NF { v[n++] = $1 } END { printf "%.2f", n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }'; }
lowest() { awk '{ for (i = 1; i <= NF; i++) if (m == "" || $i < m) m = $i } END { print m }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t) ? "met" : "**missed**" }'; }
paired() {	# per-round ratios of two lists
	local -a a b
	read -r -a a <<<"$1"
	read -r -a b <<<"$2"
	for (( k = 0; k < ${#a[@]}; k++ )); do ratio "${a[$k]}" "${b[$k]}"; echo; done | paste -sd ' '
}

echo "# pulsar_pg consume benchmark"
echo
echo "- command: \`$command_line\`"
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs ($cpu), $mem RAM, data dir on $fs, kernel $(uname -r)"
echo "- server: $pg_version"
echo "- extensions: pulsar_pg $pulsar_version, pgq $pgq_version"
echo "- settings: $(grep -v '^\(listen_addresses\|unix_socket_directories\|port\|logging_collector\|log_min_messages\) ' <<<"$settings" | paste -sd ';' | sed 's/;/; /g')"
if [ "$sync_commit" = on ]; then
	echo "- synchronous_commit = on (the PostgreSQL default): each consuming transaction waits for its WAL flush"
else
	echo "- **synchronous_commit = $sync_commit: a diagnostic run, commits do not wait for the WAL flush; the targets are defined with synchronous_commit = on**"
fi
echo "- pgbench -n -M prepared, 1 client, one transaction per iteration: one statement for the pulsar cases, a BEGIN ... COMMIT block for the peers, which need several statements; each run lasts $duration s or until its backlog is drained; $rounds round(s), order rotated each round; the table shows the best round of each case, and each ratio is the median of the per-round ratios"
echo "- before each run: back to a full backlog (seek to 'earliest', PgQ consumer registered at its first tick, queue table refilled), VACUUM ANALYZE of the tables consuming updates (queue table; pulsar cursor, acked_range, pending, consumer; PgQ subscription, tick), wait until no autovacuum worker runs, CHECKPOINT; autovacuum may start during a run"
echo "- fills (not measured, synchronous_commit = off): pulsar $backlog messages in $fill_pulsar_s s (send_batch of 1000, 2 sessions); PgQ $backlog events in $fill_pgq_s s (insert_event, a tick every 100 events); queue table $backlog rows in $fill_q_s s (INSERT ... SELECT, VACUUM ANALYZE)"
echo
echo "## Consume from a backlog of $backlog messages of 100 bytes"
echo
echo "| case | rows/s (best) | all rounds | server CPU us/row | WAL bytes/row |"
echo "|---|---:|---|---:|---:|"
for c in "${cases[@]}"; do
	rr=""
	read -r -a vs <<<"${results[$c]}"
	read -r -a ds <<<"${drains[$c]}"
	read -r -a es <<<"${elapsed[$c]}"
	for (( k = 0; k < ${#vs[@]}; k++ )); do
		rr+="${vs[$k]}"
		[ "${ds[$k]}" = 1 ] && rr+=" (drained in ${es[$k]} s)"
		rr+="; "
	done
	cmed=$(lowest <<<"${cpus[$c]}")
	wmed=$(lowest <<<"${wals[$c]}")
	printf '| %s | %s | %s | %s | %s |\n' "${label[$c]}" "$(best <<<"${results[$c]}")" "${rr%; }" "$cmed" "$wmed"
done
echo
# ratio_row LABEL OURS PEERS [TARGET]: the median of the per-round ratios
# (a run against its peer's run of the same round, so that slow drifts of
# the machine cancel, as in bench/run.sh), the rounds, the ratio of the
# best rounds; with a target, a verdict on the median and a summary row
ratio_row() {
	local rounds med
	rounds=$(paired "$2" "$3")
	med=$(median <<<"$rounds")
	if [ -n "${4:-}" ]; then
		printf '| %s | %s | %s | %s | >= %s | %s |\n' "$1" "$med" "$rounds" "$(ratio "$(best <<<"$2")" "$(best <<<"$3")")" "$4" "$(verdict "$med" "$4")"
		summary_row "$1, rows/s" "$med" ">= $4" "$(verdict "$med" "$4")"
	else
		printf '| %s | %s | %s | %s | | |\n' "$1" "$med" "$rounds" "$(ratio "$(best <<<"$2")" "$(best <<<"$3")")"
	fi
}
echo "| ratio | median of the rounds | per round | best rounds | target | |"
echo "|---|---:|---|---:|---:|---|"
ratio_row "exclusive / SKIP LOCKED" "${results[exclusive]}" "${results[skip_locked]}" 5
ratio_row "shared / SKIP LOCKED" "${results[shared]}" "${results[skip_locked]}" 3
ratio_row "exclusive / PgQ" "${results[exclusive]}" "${results[pgq]}"
ratio_row "shared / PgQ" "${results[shared]}" "${results[pgq]}"
ratio_row "SKIP LOCKED / PgQ" "${results[skip_locked]}" "${results[pgq]}"
summary_row "exclusive / PgQ, rows/s" "$(median <<<"$(paired "${results[exclusive]}" "${results[pgq]}")")" "" ""
summary_row "shared / PgQ, rows/s" "$(median <<<"$(paired "${results[shared]}" "${results[pgq]}")")" "" ""
echo
echo "Server CPU: user + system time of the server processes the postmaster reaped during the run (the client backend, and any autovacuum worker that finished), per row consumed; the lowest of the rounds. WAL: bytes per row consumed, full-page images included (a CHECKPOINT precedes each run); the lowest of the rounds."

if [ "$big" -gt 0 ]; then
	d_sh=$(best <<<"${depth[shallow]}")
	d_dp=$(best <<<"${depth[deep]}")
	echo
	echo "## Consume rate against backlog depth (exclusive, receive 100 + ack_cumulative)"
	echo
	echo "Topic 'deep': $big messages in $deep_segments segment tables, $(awk -v b="$deep_bytes" 'BEGIN { printf "%.2f GB", b / 1e9 }'), filled in $fill_big_s s (send_batch of 1000, 2 sessions, synchronous_commit = off; $(awk -v n="$big" -v s="$fill_big_s" 'BEGIN { printf "%.0f", n / s }') messages/s), then VACUUM ANALYZE in $vacuum_big_s s. Topic 'shallow': $small messages; when its subscription has drained them it seeks back to 'earliest' (bench/consume_depth.sql; the deep topic runs the same script, and would seek back only if consumed to its end). $depth_rounds rounds of $depth_seconds s, each a run on the shallow topic then one on the deep topic; the deep subscription continues where the previous round stopped."
	echo
	echo "| backlog | rows/s (best) | all rounds | backlog at the start of each round |"
	echo "|---|---:|---|---|"
	printf '| %s (shallow) | %s | %s | %s |\n' "$small" "$d_sh" "${depth[shallow]% }" "${depth[shallow:start]% }"
	printf '| %s (deep) | %s | %s | %s |\n' "$big" "$d_dp" "${depth[deep]% }" "${depth[deep:start]% }"
	echo
	d_rounds=$(paired "${depth[deep]}" "${depth[shallow]}")
	d_med=$(median <<<"$d_rounds")
	printf 'deep / shallow = **%s**, the median of the per-round ratios (%s; best rounds %s); target >= 0.8: %s\n' "$d_med" "$d_rounds" "$(ratio "$d_dp" "$d_sh")" "$(verdict "$d_med" 0.8)"
	summary_row "exclusive rows/s, backlog $big / $small" "$d_med" ">= 0.8" "$(verdict "$d_med" 0.8)"
else
	echo
	echo "## Consume rate against backlog depth"
	echo
	echo "Skipped (BIG_BACKLOG=0)."
fi

if [ "$store_n" -gt 0 ]; then
	echo
	echo "## Storage per message: 1 vs 10 subscriptions"
	echo
	echo "$store_n messages of 100 bytes published to a topic (in a database of its own) with 1 or 10 shared subscriptions made before publishing. Each subscription then received and acknowledged half the messages (1000 per transaction), received 100 more and acknowledged every other one: 50 acknowledgement holes (acked ranges) and 50 unacknowledged messages (pending rows) per subscription. Sizes after VACUUM, pg_total_relation_size (indexes and TOAST included); segment sizes from topic_internal_stats(topic)->'ledgers'."
	echo
	echo "| | 1 subscription | 10 subscriptions |"
	echo "|---|---:|---:|"
	printf '| messages published | %s | %s |\n' "$store_n" "$store_n"
	printf '| backlog, summed over subscriptions | %s | %s |\n' "${st[1:backlog]}" "${st[10:backlog]}"
	printf '| segment tables (messages) | %s bytes in %s tables | %s bytes in %s tables |\n' "${st[1:segments]}" "${st[1:nseg]}" "${st[10:segments]}" "${st[10:nseg]}"
	for tbl in subscription consumer cursor acked_range pending; do
		printf '| pulsar.%s: rows; bytes allocated (live tuples) | %s; %s (%s) | %s; %s (%s) |\n' "$tbl" \
			"${st[1:$tbl:rows]}" "${st[1:$tbl:bytes]}" "${st[1:$tbl:live]}" \
			"${st[10:$tbl:rows]}" "${st[10:$tbl:bytes]}" "${st[10:$tbl:live]}"
	done
	for subs in 1 10; do
		tot=${st[$subs:segments]}
		live=${st[$subs:segments]}
		for tbl in subscription consumer cursor acked_range pending; do
			tot=$(( tot + ${st[$subs:$tbl:bytes]} ))
			live=$(( live + ${st[$subs:$tbl:live]} ))
		done
		st[$subs:total]=$tot
		st[$subs:totlive]=$live
	done
	per() { awk -v a="$1" -v n="$store_n" 'BEGIN { printf "%.1f", a / n }'; }
	printf '| **bytes per message: segment tables** | **%s** | **%s** |\n' "$(per "${st[1:segments]}")" "$(per "${st[10:segments]}")"
	printf '| bytes per message: segments + subscription state allocated | %s | %s |\n' "$(per "${st[1:total]}")" "$(per "${st[10:total]}")"
	printf '| bytes per message: segments + subscription state live tuples | %s | %s |\n' "$(per "${st[1:totlive]}")" "$(per "${st[10:totlive]}")"
	echo
	echo "10 subscriptions / 1: segment tables $(ratio "${st[10:segments]}" "${st[1:segments]}")x; with the subscription state, allocated $(ratio "${st[10:total]}" "${st[1:total]}")x, live $(ratio "${st[10:totlive]}" "${st[1:totlive]}")x. Live tuples: pgstattuple's tuple_len of the heap (indexes not counted)."
	summary_row "storage per message, 10 subscriptions / 1: segment tables" "$(ratio "${st[10:segments]}" "${st[1:segments]}")" "<= 1.00 (not growing)" "$(awk -v a="${st[10:segments]}" -v b="${st[1:segments]}" 'BEGIN { print (a <= b) ? "met" : "**missed**" }')"
	summary_row "storage per message, 10 subscriptions / 1: with subscription state, live / allocated" "$(ratio "${st[10:totlive]}" "${st[1:totlive]}") / $(ratio "${st[10:total]}" "${st[1:total]}")" "" ""
fi

echo
echo "Load average (1, 5, 15 min) at the start of the runs: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)."

if [ "$perf_on" = 1 ]; then
	for c in exclusive shared; do
		f=$work/runs/r0_$c.perf
		[ -s "$f" ] || continue
		echo
		echo "## perf: server backend, $c, round 1 (self time, top 25)"
		echo
		echo '```'
		{ perf report -i "$f" --no-children --sort dso,symbol -g none --stdio 2>/dev/null || true; } |
			grep -v '^#' | grep -v '^$' | head -n 25 || true
		echo '```'
	done
fi
