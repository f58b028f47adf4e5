#!/usr/bin/env bash
#
# bench/reclaim.sh -- what reclaiming consumed messages costs: pulsar_pg
# drops one whole segment of 100,000 messages (DROP TABLE, by
# pulsar.trim_topic(), which is what the worker's maintenance pass runs),
# against DELETE of the same 100,000 rows from a table of the same shape
# followed by the VACUUM that makes their space reusable.  Reported as a
# ratio of elapsed times and of WAL written, median of the rounds.
#
# usage: bash bench/reclaim.sh          (as root: the server runs via runuser)
#
#   RECLAIM_MESSAGES  messages in the segment (default 100000)
#   RECLAIM_PAYLOAD   bytes per message (default 100)
#   BENCH_ROUNDS      rounds (default 3)
#   BENCH_PORT        port number of the Unix socket (default 5492)
#   BENCH_KEEP=1      keep the temp directory
#
# Each round: a fresh topic whose segments hold RECLAIM_MESSAGES entries,
# filled with one more than that (so that segment 0 is full and closed),
# one subscription that acknowledges segment 0; a first trim_topic() only
# records the close (counting the segment once), then the timed one drops
# it.  The peer table gets the same rows (same columns, primary key on
# entry_id); the timed part is DELETE WHERE entry_id < RECLAIM_MESSAGES,
# then VACUUM of the table.  A CHECKPOINT precedes each timed part, so that
# both pay their full-page writes alike.
#
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$root/bench
messages=${RECLAIM_MESSAGES:-100000}
payload=${RECLAIM_PAYLOAD:-100}
rounds=${BENCH_ROUNDS:-3}
port=${BENCH_PORT:-5492}
keep=${BENCH_KEEP:-0}
sync_commit=on

me=reclaim

. "$bench_dir/lib.sh"
whole RECLAIM_MESSAGES "$messages"
whole RECLAIM_PAYLOAD "$payload"
whole BENCH_ROUNDS "$rounds"
whole BENCH_PORT "$port"
[ "$messages" -ge 16 ] && [ "$rounds" -ge 1 ] || die "RECLAIM_MESSAGES must be at least 16, BENCH_ROUNDS at least 1"
check_machine
[ -f "$("$bindir/pg_config" --sharedir)/extension/pulsar_pg.control" ] ||
	die "pulsar_pg is not installed (make && make install)"

make_work_dir pulsar_reclaim
# the maintenance pass stays out of the way: this script trims by hand
start_cluster reclaim "pulsar_pg.maintenance_interval = '1h'
autovacuum = off"
create_db reclaim
psql_db reclaim -c 'CREATE EXTENSION pulsar_pg'

# ms of a statement run by psql's \timing, and the WAL it wrote
timed() {
	psql_db reclaim -At <<SQL | awk '/^Time:/ { t += $2 } /^wal / { w = $2 } END { printf "%s %s\n", t, w }'
CHECKPOINT;
SELECT pg_current_wal_insert_lsn() AS before \gset
\timing on
$1
\timing off
SELECT 'wal ' || (pg_current_wal_insert_lsn() - :'before'::pg_lsn);
SQL
}

results=$work/rounds
: >"$results"
for (( r = 1; r <= rounds; r++ )); do
	say "round $r of $rounds"
	psql_db reclaim -q <<SQL
SET pulsar_pg.segment_entries = $messages;
SELECT pulsar.create_topic('reclaim_$r');
SELECT pulsar.subscribe('reclaim_$r', 'sub', 'exclusive', consumer => 'c');
SELECT count(*) FROM (
	SELECT pulsar.send_batch('reclaim_$r',
		ARRAY(SELECT repeat('x', $payload) FROM generate_series(1, 10000)))
	  FROM generate_series(1, $(( messages / 10000 ))) g) s;
SELECT count(*) FROM pulsar.send_batch('reclaim_$r',
	ARRAY(SELECT repeat('x', $payload) FROM generate_series(1, $(( messages % 10000 + 1 )))));
CREATE TABLE peer_$r (LIKE pulsar.segment_template INCLUDING ALL);
INSERT INTO peer_$r (entry_id, publish_time, payload)
	SELECT g, now(), convert_to(repeat('x', $payload), 'UTF8')
	  FROM generate_series(0, $messages) g;
VACUUM ANALYZE peer_$r;
SELECT pulsar.trim_topic('reclaim_$r');
SELECT pulsar.seek('reclaim_$r', 'sub', 'latest');
SQL
	read -r drop_ms drop_wal < <(timed "SELECT pulsar.trim_topic('reclaim_$r');")
	read -r delete_ms delete_wal < <(timed "DELETE FROM peer_$r WHERE entry_id < $messages; VACUUM peer_$r;")
	dropped=$(psql_db reclaim -At -c "SELECT count(*) FROM pulsar.segment s JOIN pulsar.ledger l USING (ledger_id) JOIN pulsar.topic t USING (topic_id) WHERE t.name = 'reclaim_$r' AND s.segment_no = 0")
	[ "$dropped" = 0 ] || die "round $r: segment 0 was not dropped"
	echo "$drop_ms $drop_wal $delete_ms $delete_wal" >>"$results"
	say "drop $drop_ms ms, $drop_wal B of WAL; delete + vacuum $delete_ms ms, $delete_wal B of WAL"
done

echo
echo "Reclaim: one segment of $messages messages of $payload bytes, $rounds rounds"
echo
echo "| round | drop segment (ms) | WAL (bytes) | DELETE + VACUUM (ms) | WAL (bytes) | time ratio | WAL ratio |"
echo "|---|---|---|---|---|---|---|"
awk '{ printf "| %d | %.1f | %d | %.1f | %d | %.1fx | %.0fx |\n", NR, $1, $2, $3, $4, $3 / $1, $4 / $2 }' "$results"
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] }'; }
echo
echo "median: DELETE + VACUUM takes $(awk '{ print $3 / $1 }' "$results" | median)x the time" \
	"and $(awk '{ print $4 / $2 }' "$results" | median)x the WAL of dropping the segment"
