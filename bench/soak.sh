#!/usr/bin/env bash
#
# bench/soak.sh -- storage soak: does what pulsar_pg stores stay bounded
# while messages flow for a long time, and does its throughput hold?  The
# same soak then runs on a SKIP LOCKED queue table (DELETE, autovacuum at
# its defaults), and both are reported side by side, with a plot.
#
# usage: bash bench/soak.sh [--minutes N]    (as root: the server runs via runuser)
#
#   --minutes N     length of each of the two runs (default 30)
#   SOAK_RATE       messages published per second (default 50), one per
#                   transaction, by one pgbench client held to that rate
#   SOAK_PAYLOAD    bytes per message (default 100)
#   SOAK_SAMPLE     seconds between samples (default 60)
#   SOAK_SEGMENT_ENTRIES
#                   pulsar_pg.segment_entries of the topic (default 5000,
#                   so that a short run sees segments close and go)
#   SOAK_MAINTENANCE_INTERVAL
#                   pulsar_pg.maintenance_interval (default 10s)
#   SOAK_PLOT       where the plot goes (default docs/soak.svg)
#   BENCH_PORT      port number of the Unix socket (default 5491)
#   BENCH_KEEP=1    keep the temp directory (samples, pgbench logs, server log)
#
# pulsar_pg: topic "soak" with two exclusive subscriptions, retention 0
# (the default); each subscription has one consumer looping over receive
# (100, blocking up to 500 ms) + ack_cumulative, one transaction each.
# Queue: two tables q1 and q2, one per subscription (a queue has no
# fan-out, so the publisher inserts each message into both, in one
# transaction); each has one consumer looping over DELETE ... WHERE id IN
# (SELECT ... ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED).
#
# Every sample records: the bytes of everything stored (pulsar_pg: segment
# tables, and the cursor, acknowledged-range, pending, consumer and segment
# catalog tables, each with indexes and TOAST; queue: both tables with
# indexes and TOAST), the WAL written since the last sample, messages
# consumed per second (both subscriptions) and the 99th percentile of the
# publishing transactions' latency.  The verdicts: the storage bound does
# not grow (the largest size of the second half is at most 1.25 times that
# of the first half), and the consume rate of the last five minutes (of the
# last half, if the run is shorter than ten) is at least 0.95 times that of
# the first five.
#
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$root/bench
minutes=30
while [ $# -gt 0 ]; do
	case $1 in
		--minutes) [ $# -ge 2 ] || { echo "soak: --minutes needs a value" >&2; exit 2; }; minutes=$2; shift 2 ;;
		--minutes=*) minutes=${1#--minutes=}; shift ;;
		-h|--help) sed -n '4,22s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
		*) echo "soak: unknown argument: $1" >&2; exit 2 ;;
	esac
done
rate=${SOAK_RATE:-50}
payload=${SOAK_PAYLOAD:-100}
sample=${SOAK_SAMPLE:-60}
segment_entries=${SOAK_SEGMENT_ENTRIES:-5000}
maintenance=${SOAK_MAINTENANCE_INTERVAL:-10s}
plot=${SOAK_PLOT:-$root/docs/soak.svg}
port=${BENCH_PORT:-5491}
keep=${BENCH_KEEP:-0}
sync_commit=on

me=soak

. "$bench_dir/lib.sh"
whole --minutes "$minutes"
whole SOAK_RATE "$rate"
whole SOAK_PAYLOAD "$payload"
whole SOAK_SAMPLE "$sample"
whole SOAK_SEGMENT_ENTRIES "$segment_entries"
whole BENCH_PORT "$port"
[ "$minutes" -ge 2 ] || die "--minutes must be at least 2"
[ "$rate" -ge 1 ] && [ "$sample" -ge 5 ] || die "SOAK_RATE must be at least 1 and SOAK_SAMPLE at least 5"
check_machine
[ -f "$("$bindir/pg_config" --sharedir)/extension/pulsar_pg.control" ] ||
	die "pulsar_pg is not installed (make && make install)"
command -v gnuplot >/dev/null || ensure_packages gnuplot-nox

pids=()
before_cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
make_work_dir pulsar_soak
start_cluster soak "pulsar_pg.maintenance_interval = '$maintenance'"

create_db soak_pulsar
create_db soak_queue
psql_db soak_pulsar <<SQL
CREATE EXTENSION pulsar_pg;
SET pulsar_pg.segment_entries = $segment_entries;
SELECT pulsar.create_topic('soak');
SELECT pulsar.subscribe('soak', 's1', 'exclusive', consumer => 'c1');
SELECT pulsar.subscribe('soak', 's2', 'exclusive', consumer => 'c2');
SQL
psql_db soak_queue <<SQL
CREATE TABLE q1 (id bigserial PRIMARY KEY, payload text NOT NULL);
CREATE TABLE q2 (id bigserial PRIMARY KEY, payload text NOT NULL);
SQL

s=$work/scripts
as_postgres tee "$s/pulsar_publish.sql" >/dev/null <<SQL
SELECT pulsar.send('soak', repeat('x', $payload));
SQL
for sub in s1 s2; do
	as_postgres tee "$s/pulsar_consume_$sub.sql" >/dev/null <<SQL
SELECT pulsar.ack_cumulative('soak', '$sub', m)
  FROM (SELECT pulsar.max(message_id) AS m
          FROM pulsar.receive('soak', '$sub', 100, '500 ms', consumer => 'c${sub#s}')) r
 WHERE m IS NOT NULL;
SQL
done
as_postgres tee "$s/queue_publish.sql" >/dev/null <<SQL
BEGIN;
INSERT INTO q1 (payload) VALUES (repeat('x', $payload));
INSERT INTO q2 (payload) VALUES (repeat('x', $payload));
COMMIT;
SQL
for q in q1 q2; do
	# an empty queue sleeps as long as an empty receive waits at most
	as_postgres tee "$s/queue_consume_$q.sql" >/dev/null <<SQL
WITH d AS (DELETE FROM $q WHERE id IN
             (SELECT id FROM $q ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED)
           RETURNING 1)
SELECT pg_sleep(CASE WHEN count(*) = 0 THEN 0.5 ELSE 0 END) FROM d;
SQL
done

# what each side stores, in bytes, with indexes and TOAST
pulsar_size="SELECT coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE n.nspname = 'pulsar_data'), 0),
	coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE n.nspname = 'pulsar'), 0)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND (n.nspname = 'pulsar_data' OR
       (n.nspname = 'pulsar' AND c.relname IN ('cursor', 'acked_range', 'pending', 'consumer', 'segment')))"
pulsar_consumed="SELECT sum(c.mark_delete + 1) FROM pulsar.cursor c"
queue_size="SELECT pg_total_relation_size('q1') + pg_total_relation_size('q2'), 0"
queue_consumed="SELECT sum(n_tup_del) FROM pg_stat_user_tables WHERE relname IN ('q1', 'q2')"

# run SIDE: one soak of --minutes, sampled; writes $work/SIDE.samples
# (minute, data bytes, catalog bytes, WAL bytes, consumed/s, publish p99 ms)
run_side() {
	local side=$1 db=soak_$1 size consumed out=$work/$1.samples
	local start now lsn last_lsn count last_count elapsed t0 data catalog p99 k
	if [ "$side" = pulsar ]; then size=$pulsar_size consumed=$pulsar_consumed
	else size=$queue_size consumed=$queue_consumed; fi
	say "$side: $minutes min at $rate messages/s"
	pids=()
	as_postgres "$bindir/pgbench" -h "$sock" -p "$port" -n -M prepared -c 1 -j 1 \
		-R "$rate" -T $(( minutes * 60 )) -l --log-prefix="$work/runs/$side.publish" \
		-f "$s/${side}_publish.sql" "$db" >"$work/runs/$side.publish.out" 2>&1 &
	pids+=($!)
	for k in 1 2; do
		local script
		if [ "$side" = pulsar ]; then script=$s/pulsar_consume_s$k.sql; else script=$s/queue_consume_q$k.sql; fi
		as_postgres "$bindir/pgbench" -h "$sock" -p "$port" -n -M prepared -c 1 -j 1 \
			-T $(( minutes * 60 )) -f "$script" "$db" >"$work/runs/$side.consume$k.out" 2>&1 &
		pids+=($!)
	done
	start=$(date +%s)
	last_lsn=$(psql_db "$db" -At -c "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
	last_count=$(psql_db "$db" -At -c "$consumed")
	last_count=${last_count:-0}
	t0=$start
	: >"$out"
	while :; do
		# the last sample ends with the run
		now=$(date +%s)
		elapsed=$(( now - start ))
		[ "$elapsed" -lt $(( minutes * 60 )) ] || break
		sleep "$(( sample < minutes * 60 - elapsed ? sample : minutes * 60 - elapsed ))"
		now=$(date +%s)
		elapsed=$(( now - start ))
		IFS='|' read -r data catalog < <(psql_db "$db" -At -c "$size")
		lsn=$(psql_db "$db" -At -c "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
		count=$(psql_db "$db" -At -c "$consumed")
		count=${count:-0}
		# publishing latency of the transactions that started in the window
		p99=$(cat "$work/runs/$side.publish".* 2>/dev/null |
			awk -v a="$t0" -v b="$now" '$5 >= a && $5 < b { print $3 / 1000 }' |
			sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", v[i] } }')
		printf '%.2f %s %s %s %.1f %s\n' "$(echo "$elapsed / 60" | bc -l)" "$data" "$catalog" \
			"$(echo "$lsn - $last_lsn" | bc)" \
			"$(echo "($count - $last_count) / ($now - $t0)" | bc -l)" "$p99" >>"$out"
		last_lsn=$lsn last_count=$count t0=$now
	done
	wait "${pids[@]}" 2>/dev/null || true
	pids=()
}

run_side pulsar
run_side queue

# verdicts of one side: the storage bound and the throughput (the consume
# rates of the samples in a window, weighted by the samples' lengths)
verdict() {
	awk -v m="$minutes" '
		{ t[NR] = $1; s[NR] = $2 + $3; r[NR] = $5 }
		END {
			w = (m >= 10) ? 5 : m / 2
			for (i = 1; i <= NR; i++) {
				d = t[i] - ((i > 1) ? t[i - 1] : 0)
				if (t[i] <= m / 2) { if (s[i] > first) first = s[i] } else if (s[i] > second) second = s[i]
				if (t[i] - d < w - 0.01) { fr += r[i] * d; fd += d }
				if (t[i] > m - w + 0.01) { lr += r[i] * d; ld += d }
			}
			g = (first > 0) ? second / first : 0
			q = (fd > 0 && ld > 0 && fr > 0) ? (lr / ld) / (fr / fd) : 0
			printf "%.2f MB | %.2f MB | %.2f (%s) | %.0f/s | %.0f/s | %.2f (%s)",
				first / 1048576, second / 1048576, g, (g <= 1.25) ? "bounded" : "grows",
				fr / fd, lr / ld, q, (q >= 0.95) ? "holds" : "drops"
		}' "$work/$1.samples"
}

echo
echo "Soak: $minutes min per side, $rate messages/s of $payload bytes, two subscriptions, sample every $sample s"
echo "(pulsar_pg: segment_entries $segment_entries, maintenance_interval $maintenance, retention 0)"
echo
for side in pulsar queue; do
	echo "$side samples: minute, data bytes, catalog bytes, WAL bytes, consumed/s, publish p99 ms"
	cat "$work/$side.samples"
	echo
done
echo "| side | max stored, first half | max stored, second half | growth | consumed, first | consumed, last | ratio |"
echo "|---|---|---|---|---|---|---|"
for side in pulsar queue; do
	echo "| $side | $(verdict $side) |"
done

gnuplot <<GP
set terminal svg size 800,480 dynamic
set output '$plot'
set title 'Stored bytes during the soak ($rate msg/s, two subscriptions)'
set xlabel 'minutes'
set ylabel 'MB stored (tables, indexes, TOAST)'
set key top left
plot '$work/pulsar.samples' using 1:((\$2+\$3)/1048576) with linespoints title 'pulsar_pg (segments + cursors)', \
     '$work/queue.samples' using 1:((\$2+\$3)/1048576) with linespoints title 'SKIP LOCKED queue (DELETE + autovacuum)'
GP
say "plot written to $plot"
