#!/usr/bin/env bash
#
# bench/maintenance.sh -- what one maintenance pass of the database worker
# costs over many topics with policies: its duration, the worker's CPU time
# and the peak of the worker's own memory (its memory contexts), idle and
# while messages are published and consumed.
#
# usage: bash bench/maintenance.sh      (as root: the server runs via runuser)
#
#   MAINT_TOPICS      topics (default 10000)
#   MAINT_LOAD_TOPICS topics the load publishes to and consumes from
#                     (default 100)
#   MAINT_LOAD_RATE   messages per second of the load (default 100)
#   BENCH_PORT        port number of the Unix socket (default 5493)
#   BENCH_KEEP=1      keep the temp directory
#
# Every topic has a subscription, its own retention policy (1 hour or
# 1 MB) on top of its namespace's (message TTL, subscription expiration,
# backlog quota: stored, applied by the steps that read them), segments of
# 16 entries and 40 messages, of which its subscription acknowledged 20:
# the first pass closes two segments per topic and drops one; later passes
# find nothing to do but look.  The worker logs each pass at DEBUG1 (topics,
# elapsed ms, CPU ms of the worker during the pass, peak bytes of its
# memory contexts); this script reads those lines.  Passes: the first
# (catch-up), then two idle ones, then two under load (pgbench: one client
# publishing at MAINT_LOAD_RATE to MAINT_LOAD_TOPICS topics, one consuming
# them).
#
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$root/bench
topics=${MAINT_TOPICS:-10000}
load_topics=${MAINT_LOAD_TOPICS:-100}
load_rate=${MAINT_LOAD_RATE:-100}
port=${BENCH_PORT:-5493}
keep=${BENCH_KEEP:-0}
sync_commit=on

me=maintenance

. "$bench_dir/lib.sh"
whole MAINT_TOPICS "$topics"
whole MAINT_LOAD_TOPICS "$load_topics"
whole MAINT_LOAD_RATE "$load_rate"
whole BENCH_PORT "$port"
[ "$topics" -ge 100 ] && [ $(( topics % 100 )) -eq 0 ] || die "MAINT_TOPICS must be a positive multiple of 100"
[ "$load_topics" -ge 1 ] && [ "$load_topics" -le "$topics" ] || die "MAINT_LOAD_TOPICS must be between 1 and MAINT_TOPICS"
check_machine
[ -f "$("$bindir/pg_config" --sharedir)/extension/pulsar_pg.control" ] ||
	die "pulsar_pg is not installed (make && make install)"

pids=()
before_cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
make_work_dir pulsar_maintenance
# passes an hour apart while the topics are made; then back to back
start_cluster maintenance "pulsar_pg.maintenance_interval = '1h'
pulsar_pg.max_partitions = $(( topics * 2 ))
max_locks_per_transaction = 256
log_min_messages = debug1"
create_db maint
psql_db maint -c 'CREATE EXTENSION pulsar_pg'
psql_db maint <<SQL
SELECT pulsar.create_tenant('bench');
SELECT pulsar.create_namespace('bench/ns');
SELECT pulsar.set_message_ttl('bench/ns', '1 day');
SELECT pulsar.set_subscription_expiration_time('bench/ns', '7 days');
SELECT pulsar.set_backlog_quota('bench/ns', 1073741824, NULL, 'producer_exception');
SQL

say "making $topics topics"
for (( b = 0; b < topics / 100; b++ )); do
	# one transaction: a topic's own transaction makes its segments itself,
	# without starting segment workers
	psql_db maint -q <<SQL >/dev/null
BEGIN;
SET LOCAL pulsar_pg.segment_entries = 16;
SELECT pulsar.create_topic('bench/ns/t' || g) FROM generate_series($(( b * 100 )), $(( b * 100 + 99 ))) g;
SELECT pulsar.subscribe('bench/ns/t' || g, 'sub', 'exclusive', 'earliest', consumer => 'c')
  FROM generate_series($(( b * 100 )), $(( b * 100 + 99 ))) g;
SELECT pulsar.set_retention('bench/ns/t' || g, CASE WHEN g % 2 = 0 THEN interval '1 hour' END,
                            CASE WHEN g % 2 = 1 THEN 1048576 END)
  FROM generate_series($(( b * 100 )), $(( b * 100 + 99 ))) g;
SELECT count(*) FROM generate_series($(( b * 100 )), $(( b * 100 + 99 ))) g,
	LATERAL pulsar.send_batch('bench/ns/t' || g, ARRAY(SELECT 'm' || i FROM generate_series(1, 40) i));
COMMIT;
SQL
	psql_db maint -q <<SQL >/dev/null
SELECT pulsar.ack_cumulative('bench/ns/t' || g, 'sub', m)
  FROM generate_series($(( b * 100 )), $(( b * 100 + 99 ))) g,
  LATERAL (SELECT pulsar.max(message_id) AS m
             FROM pulsar.receive('bench/ns/t' || g, 'sub', 20, consumer => 'c')) r;
SQL
done
psql_db maint -c 'VACUUM ANALYZE' >/dev/null

worker_pid=$(psql_db maint -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pulsar_pg worker' AND datname = 'maint'")
[ -n "$worker_pid" ] || die "no worker for the database"
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$worker_pid/status"; }
say "worker $worker_pid, resident $(rss_kb) kB before the first pass"

# passes N: waits until the log holds N pass lines
passes() {
	local n=$1 k
	for (( k = 0; k < 3600; k++ )); do
		[ "$(grep -c 'pulsar_pg maintenance pass:' "$work/server.log")" -ge "$n" ] && return 0
		sleep 1
	done
	die "no maintenance pass in an hour"
}
psql_db maint -c "ALTER SYSTEM SET pulsar_pg.maintenance_interval = '1s'" -c 'SELECT pg_reload_conf()' >/dev/null
passes 3
say "idle passes done, resident $(rss_kb) kB"

s=$work/scripts
as_postgres tee "$s/publish.sql" >/dev/null <<SQL
\set t random(0, $(( load_topics - 1 )))
SELECT pulsar.send('bench/ns/t' || :t, 'load');
SQL
as_postgres tee "$s/consume.sql" >/dev/null <<SQL
\set t random(0, $(( load_topics - 1 )))
SELECT pulsar.ack_cumulative('bench/ns/t' || :t, 'sub', m)
  FROM (SELECT pulsar.max(message_id) AS m
          FROM pulsar.receive('bench/ns/t' || :t, 'sub', 100, consumer => 'c')) r
 WHERE m IS NOT NULL;
SQL
as_postgres "$bindir/pgbench" -h "$sock" -p "$port" -n -M prepared -c 1 -j 1 -R "$load_rate" \
	-T 3600 -f "$s/publish.sql" maint >"$work/runs/publish.out" 2>&1 &
pids+=($!)
as_postgres "$bindir/pgbench" -h "$sock" -p "$port" -n -M prepared -c 1 -j 1 -R "$load_rate" \
	-T 3600 -f "$s/consume.sql" maint >"$work/runs/consume.out" 2>&1 &
pids+=($!)
sleep 2
have=$(grep -c 'pulsar_pg maintenance pass:' "$work/server.log")
passes $(( have + 3 ))
say "passes under load done, resident $(rss_kb) kB"
before_cleanup
pids=()

echo
echo "Maintenance pass over $topics topics with policies (segments of 16 entries, 40 messages, 20 acknowledged)"
echo "load: $load_rate messages/s published to and consumed from $load_topics topics"
echo
echo "| pass | topics | steps run | elapsed (ms) | worker CPU (ms) | CPU per topic (us) | peak worker memory (kB) |"
echo "|---|---|---|---|---|---|---|"
grep -o 'pulsar_pg maintenance pass: .*' "$work/server.log" |
	awk -v idle=3 '{
		label = (NR == 1) ? "first (closes, trims)" : (NR <= idle) ? "idle" : "under load"
		if (NR == idle + 1) next	# started before the load did
		printf "| %s | %d | %d | %d | %d | %.0f | %d |\n", label, $4, $16, $7, $10, $10 * 1000 / $4, $14 / 1024
	}'
