#!/usr/bin/env bash
#
# bench/instructions.sh -- CPU instructions of one consuming statement,
# counted by valgrind's callgrind: unlike rows/s, the count does not depend
# on what else the machine is doing, so it shows what a change to the
# consuming code gains or loses (it leaves out waiting: the WAL flush, the
# client, the network).
#
# usage: bash bench/instructions.sh        (as root: it runs PostgreSQL via runuser)
#
#   BACKLOG     messages in the backlog (default 200000, a multiple of 1000)
#   BENCH_KEEP=1  keep the temp directory (callgrind outputs in runs/)
#
# A throw-away cluster (bench/lib.sh) gets one topic with an exclusive and
# a shared subscription and BACKLOG messages of 100 bytes; the server is
# then stopped and each case runs in single-user mode (postgres --single)
# under callgrind, 100 and then 300 times from the start of the backlog.
# Instructions per statement = (count of the 300 - count of the 100) / 200,
# which cancels the start-up and shut-down.  Each statement is the
# benchmark's, as a plain query (so it is parsed and planned each time,
# which pgbench -M prepared does not do):
#   exclusive   receive 100 + ack_cumulative (bench/consume_exclusive.sql)
#   shared      receive 100 + ack of the array (bench/consume_shared.sql)
# Prints a markdown table: instructions per statement and per message,
# and the share of the statement spent in pulsar_pg's entry points.
#
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
backlog=${BACKLOG:-200000}
port=${BENCH_PORT:-5479}
keep=${BENCH_KEEP:-0}
sync_commit=on

me=instructions

. "$root/bench/lib.sh"
whole BACKLOG "$backlog"
[ "$backlog" -ge 1000 ] && [ $(( backlog % 1000 )) -eq 0 ] ||
	die "BACKLOG must be a positive multiple of 1000"
[ "$backlog" -ge 30000 ] || die "BACKLOG must be at least 30000 (300 statements of 100)"
check_machine
ensure_packages valgrind
[ -f "$("$bindir/pg_config" --pkglibdir)/pulsar_pg.so" ] ||
	die "pulsar_pg is not installed (make && make install, or scripts/setup.sh)"

make_work_dir pulsar_instructions
start_cluster bench/instructions.sh ""
create_db bench
payload="\\x$(head -c 100 /dev/urandom | od -An -v -tx1 | tr -d ' \n')"
say "filling: $backlog messages into topic 'backlog'"
PGOPTIONS='-c synchronous_commit=off' psql_db bench <<SQL >/dev/null
CREATE EXTENSION pulsar_pg;
SELECT pulsar.create_topic('backlog');
SELECT pulsar.subscribe('backlog', 'ex', 'exclusive', 'earliest', consumer => 'e');
SELECT pulsar.subscribe('backlog', 'sh', 'shared', 'earliest', consumer => 's');
DO \$\$
BEGIN
	FOR i IN 1..$(( backlog / 1000 )) LOOP
		PERFORM pulsar.send_batch('backlog', array_fill('$payload'::bytea, ARRAY[1000]));
		COMMIT;
	END LOOP;
END \$\$;
VACUUM ANALYZE;
SQL
as_postgres "$bindir/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null
server_started=no

declare -A statement=(
	[exclusive]="SELECT n, pulsar.ack_cumulative('backlog', 'ex', m) FROM (SELECT count(*) AS n, pulsar.max(message_id) AS m FROM pulsar.receive('backlog', 'ex', 100, consumer => 'e')) r WHERE m IS NOT NULL"
	[shared]="SELECT n, pulsar.ack('backlog', 'sh', ids) FROM (SELECT count(*) AS n, array_agg(message_id) AS ids FROM pulsar.receive('backlog', 'sh', 100, consumer => 's')) r WHERE n > 0"
	[seek]="SELECT pulsar.seek('backlog', 'ex', 'earliest'), pulsar.seek('backlog', 'sh', 'earliest')"
)

single() { as_postgres "$bindir/postgres" --single -D "$pgdata" bench "$@"; }

# total_ir CASE N: instructions of a single-user session running the
# case's statement N times after a seek back to the start
total_ir() {
	local c=$1 n=$2 out=$work/runs/$1_$2
	echo "${statement[seek]}" | single >"$out.seek" 2>&1 ||
		{ cat "$out.seek" >&2; die "the seek failed"; }
	for (( i = 0; i < n; i++ )); do echo "${statement[$c]}"; done >"$out.sql"
	as_postgres valgrind --tool=callgrind --callgrind-out-file="$out.callgrind" \
		"$bindir/postgres" --single -D "$pgdata" bench <"$out.sql" >"$out.log" 2>&1 ||
		{ tail -n 20 "$out.log" >&2; die "$c: the single-user session failed"; }
	[ "$(grep -c '^	 1: n = "100"' "$out.log")" -eq "$n" ] ||
		die "$c: not $n statements of 100 messages (see $out.log)"
	callgrind_annotate "$out.callgrind" 2>/dev/null |
		awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

# entry_ir CASE N FUNCTION: inclusive instructions of a function (the
# awk scripts read to the end: an early exit would kill callgrind_annotate
# with SIGPIPE)
entry_ir() {
	callgrind_annotate --inclusive=yes "$work/runs/$1_$2.callgrind" 2>/dev/null |
		awk -v f=":$3 " 'index($0, f) && !/=>/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

echo "# pulsar_pg instructions per consuming statement"
echo
echo "- command: \`BACKLOG=$backlog bash bench/instructions.sh\`"
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(valgrind --version), PostgreSQL $("$bindir/postgres" --version | awk '{ print $3 }'), pulsar_pg $(awk -F"'" '/default_version/ { print $2 }' "$("$bindir/pg_config" --sharedir)/extension/pulsar_pg.control")"
echo "- single-user mode, one statement per transaction; (300 runs - 100 runs) / 200"
echo
echo "| case | instructions per statement | per message | in receive | in the ack |"
echo "|---|---:|---:|---:|---:|"
for c in exclusive shared; do
	say "$c: 100 and 300 statements under callgrind"
	a=$(total_ir "$c" 100)
	b=$(total_ir "$c" 300)
	per=$(( (b - a) / 200 ))
	ack_fn=pulsar_ack_cumulative
	[ "$c" = shared ] && ack_fn=pulsar_ack_array
	share() {
		local x y
		x=$(entry_ir "$c" 100 "$1")
		y=$(entry_ir "$c" 300 "$1")
		[ -n "$x" ] && [ -n "$y" ] || { echo "n/a"; return; }
		awk -v x="$x" -v y="$y" -v t="$per" 'BEGIN { printf "%.0f %%", (y - x) / 200 / t * 100 }'
	}
	printf '| %s | %s | %s | %s | %s |\n' "$c" "$per" "$(( per / 100 ))" \
		"$(share pulsar_receive)" "$(share "$ack_fn")"
done
