#!/usr/bin/env bash
#
# bench/compaction.sh -- how fast pulsar.compact() compacts, side by side
# with the same work done by a plain SQL statement on a plain table.
#
# usage: bash bench/compaction.sh    (as root: it runs the server via runuser)
#
#   MESSAGES         messages in the topic (default 100000)
#   KEYS             distinct keys, spread round-robin (default 1000)
#   INCREMENT        messages published after the first compaction, for the
#                    incremental one (default 10000)
#   ROUNDS           times each measure is taken; the median counts
#                    (default 3)
#   BENCH_PORT       port number of the Unix socket (default 5498)
#   BENCH_KEEP=1     keep the temp directory (server log)
#   BENCH_SERVER     use a running server started by bench/all.sh (bench/lib.sh)
#   BENCH_SYNCHRONOUS_COMMIT
#                    synchronous_commit of the server (default on)
#   PG_CONFIG        pg_config of the PostgreSQL 15 tree to run (default
#                    Debian's)
#
# What it measures, each round on a fresh topic of MESSAGES messages of 100
# bytes with keys k0..k(KEYS-1) (every 100th message a tombstone, NULL
# payload), published 1000 per transaction and followed by a CHECKPOINT:
#   full         pulsar.compact() of the topic: messages compacted per
#                second.
#   plain        the same result by hand: CREATE TABLE AS SELECT DISTINCT
#                ON (key) ... ORDER BY key, entry_id DESC over a plain table
#                holding the same rows.  Ratio: full / plain, messages/s
#                (goal: 0.8 or better: compaction costs little beyond the
#                statement it runs).
#   incremental  after INCREMENT more messages, pulsar.compact() again:
#                new messages per second (it reads the previous view, KEYS
#                rows, and the new messages only).
#   read         reading the whole compacted view with read(..., compacted
#                => true) vs reading the whole topic, in 1000-message
#                calls: time ratio view / topic.
#
# Prints a markdown report on stdout; progress goes to stderr.
#
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$root/bench
messages=${MESSAGES:-100000}
keys=${KEYS:-1000}
increment=${INCREMENT:-10000}
rounds=${ROUNDS:-3}
port=${BENCH_PORT:-5498}
keep=${BENCH_KEEP:-0}
sync_commit=${BENCH_SYNCHRONOUS_COMMIT:-on}
command_line="MESSAGES=$messages KEYS=$keys INCREMENT=$increment ROUNDS=$rounds bash bench/compaction.sh"
[ "$sync_commit" = on ] || command_line="BENCH_SYNCHRONOUS_COMMIT=$sync_commit $command_line"

summary_name=compaction
me=compaction

. "$bench_dir/lib.sh"
whole MESSAGES "$messages"
whole KEYS "$keys"
whole INCREMENT "$increment"
whole ROUNDS "$rounds"
whole BENCH_PORT "$port"
[ "$keys" -ge 1 ] || die "KEYS must be at least 1"
[ "$messages" -ge "$keys" ] || die "MESSAGES must be at least KEYS"
[ "$rounds" -ge 1 ] || die "ROUNDS must be at least 1"
check_machine
[ -f "$("$bindir/pg_config" --pkglibdir)/pulsar_pg.so" ] ||
	die "pulsar_pg is not installed (make && make install, or scripts/setup.sh)"

make_work_dir pulsar_compaction
start_cluster bench/compaction.sh ""
create_db bench_compaction
psql_bench() { psql_db bench_compaction "$@"; }
q1() { psql_bench -At -c "$1"; }
psql_bench -c 'CREATE EXTENSION pulsar_pg' >/dev/null
# keep every segment: the maintenance pass must not trim the topics
q1 "SELECT pulsar.set_retention('public/default', NULL, NULL)" >/dev/null
payload="\\x$(head -c 100 /dev/urandom | od -An -v -tx1 | tr -d ' \n')"

# fill TOPIC FIRST COUNT: COUNT messages numbered from FIRST, 1000 per
# transaction; message i has key k(i % KEYS), and every 100th is a tombstone
fill() {
	PGOPTIONS='-c synchronous_commit=off' psql_bench -c "DO \$\$
DECLARE
	i int := $2;
	n int;
BEGIN
	WHILE i < $2 + $3 LOOP
		n := least(1000, $2 + $3 - i);
		PERFORM pulsar.send_batch('$1',
			ARRAY(SELECT CASE WHEN j % 100 = 99 THEN NULL ELSE '$payload'::bytea END
			        FROM generate_series(i, i + n - 1) j),
			keys => ARRAY(SELECT 'k' || (j % $keys) FROM generate_series(i, i + n - 1) j));
		i := i + n;
		COMMIT;
	END LOOP;
END \$\$" >/dev/null
	psql_bench -c 'CHECKPOINT' >/dev/null
}

# seconds SQL: how long SQL takes, measured in the server
seconds() {
	q1 "DO \$\$ DECLARE t timestamptz := clock_timestamp(); BEGIN $1; RAISE NOTICE 'elapsed %', extract(epoch FROM clock_timestamp() - t); END \$\$" 2>&1 |
		sed -n 's/.*elapsed \([0-9.e-]*\).*/\1/p'
}

# read_all TOPIC COMPACTED: a block reading the whole topic (or its view)
# 1000 messages a call
read_all() {
	echo "PERFORM 1; DECLARE m pulsar.message_id := 'earliest'; n int;
		BEGIN LOOP
			SELECT pulsar.max(message_id), count(*) INTO m, n
			  FROM pulsar.read('$1', m, 1000, compacted => $2);
			EXIT WHEN n < 1000;
		END LOOP; END"
}

# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

full=() plain=() incremental=() view_read=() topic_read=()
kept=
for (( r = 1; r <= rounds; r++ )); do
	topic=bench_compact_$r
	say "round $r: $messages messages, $keys keys"
	q1 "SELECT pulsar.create_topic('$topic')" >/dev/null
	fill "$topic" 0 "$messages"
	full+=("$(seconds "PERFORM pulsar.compact('$topic')")")
	kept=$(q1 "SELECT count(*) FROM pulsar.read('$topic', 'earliest', 100000, compacted => true)")

	# the same rows in a plain table, and the statement compaction runs
	psql_bench -c "DROP TABLE IF EXISTS plain_rows, plain_view" \
		-c "CREATE TABLE plain_rows (LIKE pulsar.segment_template INCLUDING ALL)" \
		-c "INSERT INTO plain_rows SELECT m.entry_id, publish_time, key, payload, properties,
		           event_time, deliver_at, producer, sequence_id
		      FROM pulsar.read('$topic', 'earliest', 100000) r,
		           LATERAL (SELECT pulsar.entry_id(r.message_id) AS entry_id) m" \
		-c "VACUUM ANALYZE plain_rows" -c 'CHECKPOINT' >/dev/null
	plain+=("$(seconds "CREATE TABLE plain_view (LIKE pulsar.segment_template INCLUDING ALL);
		INSERT INTO plain_view SELECT * FROM
		 (SELECT DISTINCT ON (key COLLATE \"C\") * FROM plain_rows WHERE key IS NOT NULL
		   ORDER BY key COLLATE \"C\", entry_id DESC) l WHERE payload IS NOT NULL")")

	say "round $r: $increment more, compacted again"
	fill "$topic" "$messages" "$increment"
	incremental+=("$(seconds "PERFORM pulsar.compact('$topic')")")

	view_read+=("$(seconds "$(read_all "$topic" true)")")
	topic_read+=("$(seconds "$(read_all "$topic" false)")")
	q1 "SELECT pulsar.delete_topic('$topic')" >/dev/null
done

f=$(median "${full[@]}")
p=$(median "${plain[@]}")
i=$(median "${incremental[@]}")
v=$(median "${view_read[@]}")
t=$(median "${topic_read[@]}")
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
full_rate=$(rate "$messages" "$f")
plain_rate=$(rate "$messages" "$p")
incr_rate=$(rate "$increment" "$i")
full_ratio=$(ratio "$full_rate" "$plain_rate")
read_ratio=$(ratio "$v" "$t")
verdict=met
awk -v r="$full_ratio" 'BEGIN { exit !(r >= 0.8) }' || verdict=**missed**
summary_row "compact / plain DISTINCT ON, messages/s" "$full_ratio" ">= 0.8" "$verdict"

cat <<REPORT
## Compaction (bench/compaction.sh)

- \`$command_line\`
- $(date -u '+%Y-%m-%d %H:%M UTC'); $("$bindir/postgres" --version); $(nproc) cores
- $messages messages of 100 bytes, $keys keys, every 100th a tombstone:
  $kept messages in the view; medians of $rounds rounds (seconds:
  full ${full[*]}; plain ${plain[*]}; incremental ${incremental[*]})

| measure | value | target |
|---|---:|---|
| \`compact\`, $messages messages: messages/s | $full_rate | |
| plain \`DISTINCT ON\` into a table, same rows: messages/s | $plain_rate | |
| compact / plain | $full_ratio | >= 0.8 ($verdict) |
| incremental \`compact\`, $increment new messages: messages/s | $incr_rate | |
| read the view / read the topic, time | $read_ratio | |
REPORT
