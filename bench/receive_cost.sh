#!/usr/bin/env bash
#
# bench/receive_cost.sh -- what history and waiting cost a receive (DESIGN
# invariant 5: the cost of a receive or an ack does not grow with the
# holes behind the read position; invariant 6a: memory is bounded by the
# result), side by side in one run, as ratios.
#
# usage: bash bench/receive_cost.sh    (as root: it runs the server via runuser)
#
#   HOLD_SECONDS     length of each run of the held-message comparison
#                    (default 60)
#   RANGES           acknowledged ranges behind the read position in the
#                    ranges comparison (default 100000, even)
#   RANGES_SECONDS   length of each run of the ranges comparison (default 5)
#   RANGES_ROUNDS    rounds of the ranges comparison, each a run of both
#                    cases, order alternating; the ratio is the median of
#                    the per-round ratios (default 5)
#   WAIT_SECONDS     how long others publish while a receive waits
#                    (default 10)
#   BENCH_PORT       port number of the Unix socket (default 5499)
#   BENCH_KEEP=1     keep the temp directory (server log, pgbench output)
#   BENCH_SERVER     set by bench/all.sh: use its running server, start none
#                    (bench/lib.sh)
#   BENCH_SYNCHRONOUS_COMMIT
#                    synchronous_commit of the server (default on)
#   PG_CONFIG        pg_config of the PostgreSQL 15 tree to run (default
#                    Debian's)
#
# What it measures:
#   held     eight consumers of a shared subscription, each transaction
#            receive 1 + ack of it (pgbench -c 8), for HOLD_SECONDS: once
#            while a ninth consumer holds one message unacknowledged, so
#            that the mark-delete position cannot move and every ack
#            stores a range (pulsar.acked_range grows through the run),
#            once with nothing held.  Ratio: held / none (goal 0.9 or
#            better).
#   ranges   one consumer, receive 1 + ack of it, for RANGES_SECONDS: on a
#            subscription with RANGES acknowledged ranges behind its read
#            position (RANGES + 1 messages, all but the first acknowledged,
#            every other one in a second ack so that none merge) and on one
#            whose same messages are all acknowledged.  Both are prepared
#            first, then each runs 2 s to warm up, then RANGES_ROUNDS
#            rounds run both, the order alternating, so that both meet the
#            same moods of a shared machine (autovacuum after the fills
#            included).  Ratio: the median of the per-round ratios ranges /
#            none (goal 0.9 or better).
#   waiting  a receive of up to 100000 messages waiting on an idle
#            16-partition topic while two sessions publish to another
#            topic for WAIT_SECONDS; the waiting backend's memory contexts
#            (pg_log_backend_memory_contexts, from the server log) and
#            resident size before and after.  Ratio: after / before (goal:
#            flat, 1.0).
# Each case runs on a fresh topic; fills run with synchronous_commit = off
# and a CHECKPOINT follows them.
#
# Prints a markdown report on stdout; progress goes to stderr.
#
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$root/bench
hold_seconds=${HOLD_SECONDS:-60}
ranges=${RANGES:-100000}
ranges_seconds=${RANGES_SECONDS:-5}
ranges_rounds=${RANGES_ROUNDS:-5}
wait_seconds=${WAIT_SECONDS:-10}
port=${BENCH_PORT:-5499}
keep=${BENCH_KEEP:-0}
sync_commit=${BENCH_SYNCHRONOUS_COMMIT:-on}
command_line="HOLD_SECONDS=$hold_seconds RANGES=$ranges RANGES_SECONDS=$ranges_seconds RANGES_ROUNDS=$ranges_rounds WAIT_SECONDS=$wait_seconds bash bench/receive_cost.sh"
[ "$sync_commit" = on ] || command_line="BENCH_SYNCHRONOUS_COMMIT=$sync_commit $command_line"

summary_name=receive_cost
me=receive_cost

. "$bench_dir/lib.sh"
whole HOLD_SECONDS "$hold_seconds"
whole RANGES "$ranges"
whole RANGES_SECONDS "$ranges_seconds"
whole RANGES_ROUNDS "$ranges_rounds"
whole WAIT_SECONDS "$wait_seconds"
whole BENCH_PORT "$port"
[ "$hold_seconds" -ge 1 ] || die "HOLD_SECONDS must be at least 1"
[ "$ranges_seconds" -ge 1 ] || die "RANGES_SECONDS must be at least 1"
[ "$ranges_rounds" -ge 1 ] || die "RANGES_ROUNDS must be at least 1"
[ "$wait_seconds" -ge 1 ] || die "WAIT_SECONDS must be at least 1"
[ "$ranges" -ge 2 ] && [ $(( ranges % 2 )) -eq 0 ] || die "RANGES must be a positive even number"
check_machine
[ -f "$("$bindir/pg_config" --pkglibdir)/pulsar_pg.so" ] ||
	die "pulsar_pg is not installed (make && make install, or scripts/setup.sh)"

#--------------------------------------------------------------------------
# Server
#--------------------------------------------------------------------------

make_work_dir pulsar_receive_cost
# the consumer lease outlasts the runs: the held message stays held
start_cluster bench/receive_cost.sh "pulsar_pg.consumer_lease = '1h'"
log=$sock/server.log
[ -f "$log" ] || die "no server log at $log"
create_db bench_cost
psql_bench() { psql_db bench_cost "$@"; }
q1() { psql_bench -At -c "$1"; }
psql_fill() { PGOPTIONS='-c synchronous_commit=off' psql_bench "$@"; }
psql_bench -c 'CREATE EXTENSION pulsar_pg' >/dev/null
payload="\\x$(head -c 100 /dev/urandom | od -An -v -tx1 | tr -d ' \n')"

# fill TOPIC N: N messages of 100 bytes, 1000 per transaction
fill() {
	psql_fill -c "DO \$\$
DECLARE
	rest int := $2;
BEGIN
	WHILE rest > 0 LOOP
		PERFORM pulsar.send_batch('$1', array_fill('$payload'::bytea, ARRAY[least(rest, 1000)]));
		rest := rest - 1000;
		COMMIT;
	END LOOP;
END \$\$" >/dev/null
}

quiesce() { psql_bench -c 'VACUUM' -c 'CHECKPOINT' >/dev/null; }

# pgbench_tps NAME CLIENTS SECONDS SCRIPT: runs the script, prints tps
pgbench_tps() {
	local out=$work/runs/$1.out
	as_postgres "$bindir/pgbench" -n -M prepared -h "$sock" -p "$port" \
		-c "$2" -j "$(( $2 < 2 ? $2 : 2 ))" -T "$3" -f "$4" bench_cost >"$out" 2>&1 ||
		{ tail -n 20 "$out" >&2; die "$1: pgbench failed"; }
	awk '/^tps = / { print $3; exit }' "$out"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
median() { tr ' ' '\n' | sort -g | awk 'NF { v[n++] = $1 } END { if (n == 0) print "n/a"; else printf "%.2f", n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }'; }
best() { tr ' ' '\n' | sort -g | awk 'NF { v = $1 } END { print v }'; }
verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r != "n/a" && r >= g) ? "met" : "missed" }'; }

#--------------------------------------------------------------------------
# held: eight consumers while one message is held unacknowledged
#--------------------------------------------------------------------------

# receive 1 and ack it; an empty receive (drained) returns no row for \gset,
# which ends the client
cat >"$work/scripts/held.sql" <<'SQL'
SELECT pulsar.ack(:'topic', 's', m) AS acked
  FROM (SELECT message_id AS m FROM pulsar.receive(:'topic', 's', 1, consumer => 'c' || :client_id)) r \gset
SQL
chown postgres: "$work/scripts/held.sql"

declare -A tps all_tps
hold_backlog=$(( hold_seconds * 8000 + 10000 ))
for c in none held; do
	topic=hold_$c
	say "held: $c: $hold_backlog messages, 8 consumers"
	q1 "SELECT pulsar.create_topic('$topic')" >/dev/null
	for i in 0 1 2 3 4 5 6 7; do
		q1 "SELECT pulsar.subscribe('$topic', 's', 'shared', 'earliest', consumer => 'c$i')" >/dev/null
	done
	q1 "SELECT pulsar.subscribe('$topic', 's', 'shared', 'earliest', consumer => 'holder')" >/dev/null
	fill "$topic" "$hold_backlog"
	# the holder takes the first message and never acknowledges it
	[ "$c" = none ] || [ "$(q1 "SELECT count(*) FROM pulsar.receive('$topic', 's', 1, consumer => 'holder')")" = 1 ] ||
		die "held: the holder received nothing"
	quiesce
	sed "s/:'topic'/'$topic'/g" "$work/scripts/held.sql" >"$work/scripts/held_$c.sql"
	chown postgres: "$work/scripts/held_$c.sql"
	tps[held_$c]=$(pgbench_tps "held_$c" 8 "$hold_seconds" "$work/scripts/held_$c.sql")
	tps[held_${c}_ranges]=$(q1 "SELECT count(*) FROM pulsar.acked_range r JOIN pulsar.subscription s USING (subscription_id) JOIN pulsar.topic t USING (topic_id) WHERE t.name = '$topic'")
	say "held: $c: ${tps[held_$c]} tps, ${tps[held_${c}_ranges]} ranges at the end"
done
held_ratio=$(ratio "${tps[held_held]}" "${tps[held_none]}")

#--------------------------------------------------------------------------
# ranges: receive 1 with RANGES acknowledged ranges behind the read position
#--------------------------------------------------------------------------

cat >"$work/scripts/ranges.sql" <<'SQL'
SELECT pulsar.ack(:'topic', 's', m) AS acked
  FROM (SELECT message_id AS m FROM pulsar.receive(:'topic', 's', 1, consumer => 'm')) r \gset
SQL
# enough for the warm-up and every round at 5000 receives a second
ranges_backlog=$(( (ranges_rounds * ranges_seconds + 2) * 5000 + 10000 ))
for c in none ranges; do
	topic=ranges_$c
	say "ranges: $c: $(( ranges + 1 )) messages behind, $ranges_backlog ahead"
	q1 "SELECT pulsar.create_topic('$topic')" >/dev/null
	q1 "SELECT pulsar.subscribe('$topic', 's', 'shared', 'earliest', consumer => 'h', max_unacked_messages => 0)" >/dev/null
	q1 "SELECT pulsar.subscribe('$topic', 's', 'shared', 'earliest', consumer => 'm', max_unacked_messages => 0)" >/dev/null
	fill "$topic" $(( ranges + 1 ))
	# all received by h; entry 0 stays unacknowledged in the ranges case.
	# Odd entries first, then even ones, so that no two ranges merge (and
	# 2000 entries an ack, so that each takes its entries out of a few
	# pending rows)
	psql_fill >/dev/null <<SQL
CREATE TEMP TABLE got (message_id pulsar.message_id, e bigint);
$(for (( k = 0; k <= ranges / 100000; k++ )); do
	echo "INSERT INTO got SELECT message_id, pulsar.entry_id(message_id) FROM pulsar.receive('$topic', 's', 100000, consumer => 'h');"
done)
CREATE INDEX ON got (e);
DO \$\$
DECLARE
	ids pulsar.message_id[];
BEGIN
	FOR parity IN REVERSE 1..0 LOOP
		FOR w IN 0..$(( ranges / 2000 )) LOOP
			SELECT array_agg(message_id) INTO ids FROM got
			 WHERE e BETWEEN w * 2000 AND w * 2000 + 1999 AND e % 2 = parity
			   AND (e > 0 OR '$c' = 'none');
			IF ids IS NOT NULL THEN
				PERFORM pulsar.ack('$topic', 's', ids);
			END IF;
		END LOOP;
	END LOOP;
END \$\$;
SQL
	got=$(q1 "SELECT count(*) FROM pulsar.acked_range r JOIN pulsar.subscription s USING (subscription_id) JOIN pulsar.topic t USING (topic_id) WHERE t.name = '$topic'")
	if [ "$c" = ranges ]; then
		[ "$got" = "$ranges" ] || die "ranges: $got ranges stored, expected $ranges"
	else
		[ "$got" = 0 ] || die "ranges: none: $got ranges stored, expected 0"
	fi
	fill "$topic" "$ranges_backlog"
	sed "s/:'topic'/'$topic'/g" "$work/scripts/ranges.sql" >"$work/scripts/ranges_$c.sql"
	chown postgres: "$work/scripts/ranges_$c.sql"
done
quiesce
for c in none ranges; do
	say "ranges: $c: warm-up, 2 s"
	pgbench_tps "ranges_warmup_$c" 1 2 "$work/scripts/ranges_$c.sql" >/dev/null
done
ranges_rows=
for (( r = 0; r < ranges_rounds; r++ )); do
	order="none ranges"
	[ $(( r % 2 )) -eq 0 ] || order="ranges none"
	for c in $order; do
		tps[ranges_$c]=$(pgbench_tps "ranges_r${r}_$c" 1 "$ranges_seconds" "$work/scripts/ranges_$c.sql")
		all_tps[ranges_$c]+="${tps[ranges_$c]} "
	done
	round_ratio=$(ratio "${tps[ranges_ranges]}" "${tps[ranges_none]}")
	ranges_rows+="$round_ratio "
	say "ranges: round $(( r + 1 ))/$ranges_rounds: none ${tps[ranges_none]} tps, ranges ${tps[ranges_ranges]} tps, ratio $round_ratio"
done
ranges_ratio=$(median <<<"$ranges_rows")
ranges_ranges_end=$(q1 "SELECT count(*) FROM pulsar.acked_range r JOIN pulsar.subscription s USING (subscription_id) JOIN pulsar.topic t USING (topic_id) WHERE t.name = 'ranges_ranges'")

#--------------------------------------------------------------------------
# waiting: memory of a receive that waits while others publish
#--------------------------------------------------------------------------

q1 "SELECT pulsar.create_topic('p16', 16)" >/dev/null
q1 "SELECT pulsar.create_topic('busy')" >/dev/null
q1 "SELECT pulsar.subscribe('p16', 's', consumer => 'waiter')" >/dev/null
echo "SELECT pulsar.send('busy', '$payload'::bytea);" >"$work/scripts/publish.sql"
chown postgres: "$work/scripts/publish.sql"

# backend_memory PID: "context_bytes rss_kb" of a backend
backend_memory() {
	local from lines k total
	from=$(( $(wc -l <"$log") + 1 ))
	q1 "SELECT pg_log_backend_memory_contexts($1)" >/dev/null
	for (( k = 0; k < 100; k++ )); do
		total=$(tail -n +"$from" "$log" | grep "\[$1\].*Grand total" | sed -n 's/.*Grand total: \([0-9]*\) bytes.*/\1/p' | head -n 1)
		[ -z "$total" ] || break
		sleep 0.1
	done
	[ -n "$total" ] || die "waiting: backend $1 logged no memory contexts"
	echo "$total $(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")"
}

say "waiting: a receive waits on p16 while two sessions publish for $wait_seconds s"
psql_bench -c "SELECT count(*) FROM pulsar.receive('p16', 's', 100000, '$(( wait_seconds + 30 )) s', 'waiter')" \
	>"$work/runs/waiter.out" 2>&1 &
waiter=$!
pid=
for (( k = 0; k < 100; k++ )); do
	pid=$(q1 "SELECT pid FROM pg_stat_activity WHERE datname = 'bench_cost' AND query LIKE '%receive(''p16''%' AND wait_event_type = 'Extension'")
	[ -z "$pid" ] || break
	sleep 0.1
done
[ -n "$pid" ] || die "waiting: the receive does not wait"
sleep 1
read -r ctx_before rss_before <<<"$(backend_memory "$pid")"
published=$(pgbench_tps waiting 2 "$wait_seconds" "$work/scripts/publish.sql")
read -r ctx_after rss_after <<<"$(backend_memory "$pid")"
q1 "SELECT pulsar.send('p16', 'wake up')" >/dev/null
wait "$waiter" || die "waiting: the receive failed ($(cat "$work/runs/waiter.out"))"
ctx_ratio=$(ratio "$ctx_after" "$ctx_before")
rss_ratio=$(ratio "$rss_after" "$rss_before")
say "waiting: contexts $ctx_before -> $ctx_after bytes, resident $rss_before -> $rss_after kB"

#--------------------------------------------------------------------------
# Report
#--------------------------------------------------------------------------

flat() { awk -v r="$1" 'BEGIN { print (r != "n/a" && r <= 1.05) ? "met" : "missed" }'; }
summary_row "held message: receive+ack, 8 consumers, held / none" "$held_ratio" "≥ 0.9" "$(verdict "$held_ratio" 0.9)"
summary_row "receive(1) behind $ranges ranges / none" "$ranges_ratio" "≥ 0.9" "$(verdict "$ranges_ratio" 0.9)"
summary_row "waiting receive memory, after / before ${wait_seconds} s of publishing elsewhere" "$ctx_ratio" "flat (≤ 1.05)" "$(flat "$ctx_ratio")"

echo "# pulsar_pg: what history and waiting cost a receive"
echo
echo "- command: \`$command_line\`"
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- server: $(q1 'SELECT version()'); pulsar_pg $(q1 "SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg'"), synchronous_commit = $sync_commit"
echo
echo "| comparison | peer | value | ours | value | ratio | goal |"
echo "|---|---|---:|---|---:|---:|---|"
echo "| receive 1 + ack, 8 consumers, ${hold_seconds} s | nothing held | ${tps[held_none]} tps | one message held (${tps[held_held_ranges]} ranges at the end) | ${tps[held_held]} tps | $held_ratio | ≥ 0.9 |"
echo "| receive 1 + ack, 1 consumer, $ranges_rounds rounds of ${ranges_seconds} s (best round) | no ranges | $(best <<<"${all_tps[ranges_none]}") tps | $ranges ranges behind ($ranges_ranges_end at the end) | $(best <<<"${all_tps[ranges_ranges]}") tps | $ranges_ratio (median of the rounds) | ≥ 0.9 |"
echo "| waiting receive, memory contexts | before | $ctx_before B | after ${wait_seconds} s of publishing elsewhere ($published tps) | $ctx_after B | $ctx_ratio | flat |"
echo "| waiting receive, resident | before | $rss_before kB | after | $rss_after kB | $rss_ratio | flat |"
echo
echo "Ranges rounds (order alternating, none first in odd rounds): none ${all_tps[ranges_none]}tps; ranges ${all_tps[ranges_ranges]}tps; ratios $ranges_rows"
