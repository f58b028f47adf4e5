#!/usr/bin/env bash
#
# scripts/soak-faults.sh -- run the randomized fault workload for a while.
#
# usage: scripts/soak-faults.sh [--minutes N] [--seed S] [--type T] [--partitions N]
#                               [--run-seconds N] [--keep]
#
#   --minutes N      keep starting runs for N minutes (default 10)
#   --seed S         seed of the first run; run k uses S + k - 1 (default: random)
#   --type T         exclusive, failover, shared, key_shared or all (default all:
#                    each run takes the next type)
#   --partitions N   partitions of each run's topic (default: 0 and 3 in turn)
#   --run-seconds N  load of each run (default 60); two faults in each: a fast
#                    restart and an immediate one, each after a VACUUM
#   --keep           keep the temp directory (server log, driver outputs)
#
# Builds and installs the extension (scripts/setup.sh), starts a throw-away
# PostgreSQL 15 on a Unix socket in a temp directory (port $PULSAR_TEST_PORT,
# default 5441) with pulsar_pg.consumer_lease = 2s, and runs
# test/fault/fault_driver.py over and over on new topics, each run checked
# against the driver's model. Prints each run's verdict; stops at the first
# failing run, prints what differed and its seed, keeps the temp directory
# and exits 1. Not part of scripts/test.sh (test/t/030_fault_random.pl and
# 031_fault_failover.pl are).
#
set -euo pipefail

me=soak-faults
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
port=${PULSAR_TEST_PORT:-5441}

usage() { sed -n '4,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }

minutes=10
seed=""
type=all
partitions=""
run_seconds=60
keep=no
number='^[0-9]+$'
while [ $# -gt 0 ]; do
	case $1 in
		--minutes) [ $# -ge 2 ] || usage; minutes=$2; shift 2 ;;
		--seed) [ $# -ge 2 ] || usage; seed=$2; shift 2 ;;
		--type) [ $# -ge 2 ] || usage; type=$2; shift 2 ;;
		--partitions) [ $# -ge 2 ] || usage; partitions=$2; shift 2 ;;
		--run-seconds) [ $# -ge 2 ] || usage; run_seconds=$2; shift 2 ;;
		--keep) keep=yes; shift ;;
		-h|--help) usage ;;
		*) echo "soak-faults: unknown argument: $1" >&2; usage ;;
	esac
done
[[ $minutes =~ $number ]] && [[ $run_seconds =~ $number ]] && [ "$run_seconds" -gt 0 ] || usage
[ -z "$seed" ] || [[ $seed =~ $number ]] || usage
[ -z "$partitions" ] || [[ $partitions =~ $number ]] || usage
case $type in
	all) types=(exclusive failover shared key_shared) ;;
	exclusive|failover|shared|key_shared) types=("$type") ;;
	*) usage ;;
esac
[ -n "$seed" ] || seed=$(( (RANDOM << 15 | RANDOM) + 1 ))


work=""
pgdata=""
server_started=no
failed=no
runs=0
messages=0

finish() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$server_started" = yes ]; then
		as_postgres "$bindir/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 ||
			as_postgres "$bindir/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
	fi
	echo "soak-faults: $runs runs, $messages committed messages checked, first seed $seed"
	if [ "$failed" = yes ] || [ "$keep" = yes ]; then
		[ -z "$work" ] || echo "soak-faults: kept $work (server.log, run-*.out)"
	else
		[ -z "$work" ] || rm -rf "$work"
	fi
	[ "$failed" = no ] || rc=1
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$root/scripts/setup.sh" || die "setup/build failed"
/usr/bin/python3 -c 'import psycopg' 2>/dev/null ||
	{ echo "soak-faults: /usr/bin/python3 has no psycopg 3 (apt-get install python3-psycopg)" >&2; exit 1; }

# $work belongs to postgres and stays 0700: it holds the server's socket.
work=$(mktemp -d -t pulsar_soak_faults.XXXXXX)
pgdata=$work/data
cp "$root/test/fault/fault_driver.py" "$work/"
chown -R postgres:postgres "$work"

init_private_server "$pgdata" "$work" "$port" "$work/initdb.log" <<EOF
pulsar_pg.consumer_lease = '2s'
max_connections = 60
restart_after_crash = on
EOF
server_started=yes
as_postgres "$bindir/pg_ctl" -D "$pgdata" -l "$work/server.log" -w -t 60 start >/dev/null ||
	{ tail -n 50 "$work/server.log" >&2; echo "soak-faults: the server did not start" >&2; exit 1; }
as_postgres "$bindir/psql" -X -q -h "$work" -p "$port" -d postgres -c 'CREATE EXTENSION pulsar_pg'

ctl="$bindir/pg_ctl -D $pgdata -l $work/server.log -w -t 120"
end=$(( $(date +%s) + minutes * 60 ))
echo "soak-faults: runs of ${run_seconds}s for ${minutes} minutes, first seed $seed"
while [ "$(date +%s)" -lt "$end" ]; do
	run_seed=$((seed + runs))
	run_type=${types[$((runs % ${#types[@]}))]}
	run_partitions=${partitions:-$(( (runs / ${#types[@]}) % 2 * 3 ))}
	left=$(( end - $(date +%s) ))
	seconds=$(( left < run_seconds ? (left < 10 ? 10 : left) : run_seconds ))
	out=$work/run-$((runs + 1)).out
	rc=0
	as_postgres /usr/bin/python3 "$work/fault_driver.py" \
		--dsn "host=$work port=$port dbname=postgres user=postgres" \
		--seed "$run_seed" --duration "$seconds" \
		--type "$run_type" --partitions "$run_partitions" \
		--fault "$ctl -m fast restart" --fault "$ctl -m immediate restart" \
		>"$out" 2>&1 || rc=$?
	runs=$((runs + 1))
	sent=$(sed -n 's/^fault: counts: .*, sent \([0-9]*\),.*/\1/p' "$out" | tail -n 1)
	messages=$((messages + ${sent:-0}))
	verdict=$(grep -a '^fault: \(PASS\|FAIL\) ' "$out" | tail -n 1 || true)
	echo "soak-faults: run $runs: ${verdict:-no verdict (exit $rc)}"
	if [ "$rc" -ne 0 ]; then
		failed=yes
		grep -av '^fault: \[' "$out" | head -n 200
		echo "soak-faults: to repeat: /usr/bin/python3 test/fault/fault_driver.py --seed $run_seed --type $run_type --partitions $run_partitions --duration $seconds --fault ... (see $out)"
		exit 1
	fi
done
