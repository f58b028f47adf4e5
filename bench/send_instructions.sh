#!/usr/bin/env bash
#
# bench/send_instructions.sh -- CPU instructions of one pulsar.send, counted
# by valgrind's callgrind (as bench/instructions.sh counts consuming): the
# count does not depend on what else the machine is doing, so it shows what
# a change to the publishing path costs, such as the backlog quota check.
#
# usage: bash bench/send_instructions.sh   (as root: it runs PostgreSQL via runuser)
#
#   BENCH_KEEP=1  keep the temp directory (callgrind outputs in runs/)
#
# A throw-away cluster (bench/lib.sh) gets topic 'bench' with one
# subscription; each case then runs in single-user mode (postgres --single)
# under callgrind, 100 and then 300 times.  Instructions per statement =
# (count of the 300 - count of the 100) / 200, which cancels the start-up
# and shut-down.  Cases:
#   send        SELECT pulsar.send('bench', <100 bytes>), autocommit
#   send_quota  the same on topic 'quota', whose namespace has a backlog
#               quota that the backlog is under
# Prints a markdown table: instructions per statement, and the share spent
# in the backlog quota check.
#
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${BENCH_PORT:-5478}
keep=${BENCH_KEEP:-0}
sync_commit=on

me=send_instructions

. "$root/bench/lib.sh"
check_machine
ensure_packages valgrind
[ -f "$("$bindir/pg_config" --pkglibdir)/pulsar_pg.so" ] ||
	die "pulsar_pg is not installed (make && make install, or scripts/setup.sh)"

make_work_dir pulsar_send_instructions
start_cluster bench/send_instructions.sh ""
create_db bench
payload="\\x$(head -c 100 /dev/urandom | od -An -v -tx1 | tr -d ' \n')"
psql_db bench <<SQL >/dev/null
CREATE EXTENSION pulsar_pg;
SELECT pulsar.create_topic('bench');
SELECT pulsar.subscribe('bench', 'sub', 'exclusive', 'earliest', consumer => 'c');
SELECT pulsar.create_namespace('public/quota');
SELECT pulsar.create_topic('public/quota/quota');
SELECT pulsar.subscribe('public/quota/quota', 'sub', 'exclusive', 'earliest', consumer => 'c');
SELECT pulsar.set_backlog_quota('public/quota', 1000000000, '1 day', 'producer_exception');
SQL
as_postgres "$bindir/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null
server_started=no

declare -A statement=(
	[send]="SELECT pulsar.send('bench', '$payload'::bytea)"
	[send_quota]="SELECT pulsar.send('public/quota/quota', '$payload'::bytea)"
)

# total_ir CASE N: instructions of a single-user session running the
# case's statement N times
total_ir() {
	local c=$1 n=$2 out=$work/runs/$1_$2
	for (( i = 0; i < n; i++ )); do echo "${statement[$c]}"; done >"$out.sql"
	as_postgres valgrind --tool=callgrind --callgrind-out-file="$out.callgrind" \
		"$bindir/postgres" --single -D "$pgdata" bench <"$out.sql" >"$out.log" 2>&1 ||
		{ tail -n 20 "$out.log" >&2; die "$c: the single-user session failed"; }
	[ "$(grep -c '^	 1: send = ' "$out.log")" -eq "$n" ] ||
		die "$c: not $n sends (see $out.log)"
	callgrind_annotate "$out.callgrind" 2>/dev/null |
		awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

# entry_ir CASE N FUNCTION: inclusive instructions of a function
entry_ir() {
	callgrind_annotate --inclusive=yes --threshold=100 "$work/runs/$1_$2.callgrind" 2>/dev/null |
		awk -v f=":$3 " 'index($0, f) && !/=>/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

echo "# pulsar_pg instructions per send"
echo
echo "- command: \`bash bench/send_instructions.sh\`"
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(valgrind --version), PostgreSQL $("$bindir/postgres" --version | awk '{ print $3 }')"
echo "- single-user mode, one send per transaction; (300 runs - 100 runs) / 200"
echo
echo "| case | instructions per send | in the backlog quota check |"
echo "|---|---:|---:|"
for c in send send_quota; do
	say "$c: 100 and 300 statements under callgrind"
	a=$(total_ir "$c" 100)
	b=$(total_ir "$c" 300)
	per=$(( (b - a) / 200 ))
	x=$(entry_ir "$c" 100 check_backlog_quota)
	y=$(entry_ir "$c" 300 check_backlog_quota)
	if [ -n "$x" ] && [ -n "$y" ]; then
		check=$(( (y - x) / 200 ))
	else
		check="n/a"
	fi
	printf '| %s | %s | %s |\n' "$c" "$per" "$check"
done
