#!/usr/bin/env bash
#
# bench/authz.sh -- what the authorization checks cost on the hot paths:
# the same workloads, by a granted role that is not a superuser, on this
# build and on a build of BASE_REF (before authorization), two servers side
# by side in one run, reported as ratios (this build / base).
#
# usage: bash bench/authz.sh            (as root: the servers run as postgres)
#
#   BASE_REF       the git revision to compare with (default a470988, the
#                  main branch before authorization)
#   BENCH_SECONDS  length of each pgbench run (default 10)
#   BENCH_ROUNDS   rounds; each runs every case on both servers, the order
#                  of the servers alternating (default 5).  A ratio is the
#                  median of the per-round ratios.
#   BENCH_PORT     port of the first server, the second takes the next
#                  (default 5495)
#   BENCH_KEEP=1   keep the temp directory
#   BENCH_INSTRUCTIONS=0  skip the instruction counts (below)
#   PG_CONFIG      the PostgreSQL 15 tree this build is installed in; the
#                  base is built into a copy of it
#   BENCH_SYNCHRONOUS_COMMIT
#                  synchronous_commit of both servers (default off: the
#                  checks cost CPU, and on a shared disk the WAL flush of
#                  each commit would bury that cost in noise; "on" measures
#                  what an application sees)
#
# Cases (pgbench -n -M prepared, one client, autocommit, as role bench_user, granted produce and consume on namespace
# bench/ns on this build; the base has no checks):
#   send         pulsar.send of one 100-byte payload
#   receive+ack  pulsar.receive of one message of an exclusive subscription
#                and pulsar.ack of it, one statement; the subscription seeks
#                back to 'earliest' before each run
#
# Throughput on a shared machine is noisy.  Then, as bench/instructions.sh
# does, both servers are stopped and each case runs 100 and 300 times in
# single-user mode (SET ROLE bench_user first) under valgrind's callgrind:
# instructions per statement = (count of 300 - count of 100) / 200, a
# figure the machine's load does not move; its ratio base / this build is
# the throughput ratio the checks allow when the CPU is the limit.
#
set -euo pipefail

me=authz
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
base_ref=${BASE_REF:-a470988}
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-5}
port=${BENCH_PORT:-5495}
keep=${BENCH_KEEP:-0}
backlog=300000
sync_commit=${BENCH_SYNCHRONOUS_COMMIT:-off}


[ "$(id -u)" -eq 0 ] || die "run me as root (the servers run as postgres through runuser)"
new_bindir=$("$PG_CONFIG" --bindir)
[ -f "$("$PG_CONFIG" --pkglibdir)/pulsar_pg.so" ] ||
	die "pulsar_pg is not installed in $PG_CONFIG's tree (make install)"

work=$(mktemp -d "${TMPDIR:-/tmp}/pulsar_authz_bench.XXXXXX")
chown postgres: "$work"
chmod 700 "$work"
started=()
cleanup() {
	local rc=$? d
	trap - EXIT INT TERM
	for d in "${started[@]}"; do
		as_postgres "${d%%|*}/pg_ctl" -D "${d#*|}" -m fast -w stop >/dev/null 2>&1 || true
	done
	if [ "$keep" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The base: this PostgreSQL tree copied (it is relocatable: paths follow the
# binaries), and BASE_REF built and installed into the copy.
tree=${new_bindir%/lib/postgresql/15/bin}
say "building $base_ref into a copy of $tree"
mkdir -p "$work/base_pg/usr/lib/postgresql" "$work/base_pg/usr/share/postgresql" \
	"$work/base_pg/usr/include" "$work/base_src"
cp -a "$tree/lib/postgresql/15" "$work/base_pg/usr/lib/postgresql/"
cp -a "$tree/share/postgresql/15" "$work/base_pg/usr/share/postgresql/"
cp -a "$tree/include/postgresql" "$work/base_pg/usr/include/"
rm -f "$work/base_pg/usr/share/postgresql/15/extension/pulsar_pg"*
git -C "$root" archive "$base_ref" | tar -C "$work/base_src" -xf -
base_config=$work/base_pg/usr/lib/postgresql/15/bin/pg_config
(cd "$work/base_src" && make -s -j2 PG_CONFIG="$base_config" >"$work/base_build.log" 2>&1 &&
	make -s install PG_CONFIG="$base_config" >>"$work/base_build.log" 2>&1) ||
	{ tail -n 30 "$work/base_build.log" >&2; die "the base did not build"; }
chown -R postgres: "$work"
base_bindir=$work/base_pg/usr/lib/postgresql/15/bin

# start NAME BINDIR PORT: a throw-away server, Unix socket in $work/NAME
start() {
	local name=$1 bindir=$2 p=$3 dir=$work/$1
	as_postgres mkdir -p "$dir"
	as_postgres "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
		--no-locale --no-sync >"$work/$name.initdb.log" 2>&1 ||
		{ cat "$work/$name.initdb.log" >&2; die "initdb failed"; }
	as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $p
shared_preload_libraries = 'pulsar_pg'
shared_buffers = 512MB
synchronous_commit = $sync_commit
max_wal_size = 4GB
checkpoint_timeout = 30min
jit = off
EOF
	as_postgres "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null ||
		{ tail -n 20 "$dir/server.log" >&2; die "$name did not start"; }
	started+=("$bindir|$dir/data")
}

psql_on() {
	local name=$1 bindir=$2 p=$3
	shift 3
	as_postgres "$bindir/psql" -h "$work/$name" -p "$p" -X -q -v ON_ERROR_STOP=1 -d postgres "$@"
}

start base "$base_bindir" "$port"
start new "$new_bindir" $((port + 1))

setup_sql="
CREATE EXTENSION pulsar_pg;
CREATE ROLE bench_user LOGIN;
SELECT pulsar.create_tenant('bench');
SELECT pulsar.create_namespace('bench/ns');
SELECT pulsar.create_topic('bench/ns/send');
SELECT pulsar.send('bench/ns/counted', 'first');
SELECT pulsar.create_topic('bench/ns/backlog');
SELECT count(*) FROM pulsar.send_batch('bench/ns/backlog',
	ARRAY(SELECT repeat('x', 100) FROM generate_series(1, $backlog)));
SELECT pulsar.subscribe('bench/ns/backlog', 'ex', 'exclusive', 'earliest', consumer => 'e');
"
psql_on base "$base_bindir" "$port" -c "$setup_sql" >/dev/null
psql_on new "$new_bindir" $((port + 1)) -c "$setup_sql" >/dev/null
# the runs replay the backlog from 'earliest': the trim must keep it
psql_on new "$new_bindir" $((port + 1)) -c \
	"SELECT pulsar.grant_permission('bench/ns', 'bench_user', '{produce,consume}');
	 SELECT pulsar.set_retention('bench/ns', NULL, NULL)" >/dev/null
say "synchronous_commit = $sync_commit; base $(psql_on base "$base_bindir" "$port" -At -c "SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg'"), new $(psql_on new "$new_bindir" $((port + 1)) -At -c "SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg'")"

as_postgres tee "$work/send.sql" >/dev/null <<'EOF'
SELECT pulsar.send('bench/ns/send', repeat('x', 100)::bytea);
EOF
as_postgres tee "$work/receive_ack.sql" >/dev/null <<'EOF'
SELECT pulsar.ack('bench/ns/backlog', 'ex', m.message_id)
  FROM pulsar.receive('bench/ns/backlog', 'ex', 1, consumer => 'e') m;
EOF

# tps NAME BINDIR PORT SCRIPT: one pgbench run as bench_user
tps() {
	local name=$1 bindir=$2 p=$3 script=$4
	if [ "$script" = receive_ack ]; then
		psql_on "$name" "$bindir" "$p" -c \
			"SELECT pulsar.seek('bench/ns/backlog', 'ex', 'earliest'); CHECKPOINT" >/dev/null
	fi
	as_postgres "$bindir/pgbench" -h "$work/$name" -p "$p" -U bench_user -n -M prepared \
		-c 1 -T "$seconds" -f "$work/$script.sql" postgres 2>"$work/pgbench.err" |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# warm-up: caches, plans and the first segments, not measured
for case in send receive_ack; do
	seconds=2 tps base "$base_bindir" "$port" "$case" >/dev/null
	seconds=2 tps new "$new_bindir" $((port + 1)) "$case" >/dev/null
done

declare -A ratios best_base best_new
for case in send receive_ack; do
	ratios[$case]=""
	best_base[$case]=0
	best_new[$case]=0
done
for (( r = 1; r <= rounds; r++ )); do
	for case in send receive_ack; do
		if (( r % 2 )); then
			b=$(tps base "$base_bindir" "$port" "$case")
			n=$(tps new "$new_bindir" $((port + 1)) "$case")
		else
			n=$(tps new "$new_bindir" $((port + 1)) "$case")
			b=$(tps base "$base_bindir" "$port" "$case")
		fi
		[ -n "$b" ] && [ -n "$n" ] || { cat "$work/pgbench.err" >&2; die "pgbench failed"; }
		ratio=$(awk -v n="$n" -v b="$b" 'BEGIN { printf "%.3f", n / b }')
		say "round $r $case: base $b tps, new $n tps, ratio $ratio"
		ratios[$case]+="$ratio "
		best_base[$case]=$(awk -v a="${best_base[$case]}" -v b="$b" 'BEGIN { print (b > a) ? b : a }')
		best_new[$case]=$(awk -v a="${best_new[$case]}" -v b="$n" 'BEGIN { print (b > a) ? b : a }')
	done
done

echo
echo "| case | base $base_ref, best tps | this build, best tps | ratio (median of $rounds rounds) | goal |"
echo "|---|---|---|---|---|"
for case in send receive_ack; do
	m=$(tr ' ' '\n' <<<"${ratios[$case]}" | grep . | median)
	printf '| %s | %.0f | %.0f | %.3f | >= 0.97 |\n' "${case/_/+}" "${best_base[$case]}" "${best_new[$case]}" "$m"
done

[ "${BENCH_INSTRUCTIONS:-1}" = 1 ] || exit 0
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind), or set BENCH_INSTRUCTIONS=0"

for d in "${started[@]}"; do
	as_postgres "${d%%|*}/pg_ctl" -D "${d#*|}" -m fast -w stop >/dev/null
done
started=()

declare -A statement=(
	[send]="SELECT pulsar.send('bench/ns/counted', repeat('x', 100)::bytea)"
	[receive_ack]="SELECT pulsar.ack('bench/ns/backlog', 'ex', m.message_id) FROM pulsar.receive('bench/ns/backlog', 'ex', 1, consumer => 'e') m"
)

# total_ir NAME BINDIR CASE N: instructions of a single-user session that
# runs the case's statement N times as bench_user
total_ir() {
	local name=$1 bindir=$2 c=$3 n=$4 out=$work/$1_$3_$4
	echo "SELECT pulsar.seek('bench/ns/backlog', 'ex', 'earliest')" |
		as_postgres "$bindir/postgres" --single -D "$work/$name/data" postgres >"$out.seek" 2>&1 ||
		{ cat "$out.seek" >&2; die "the seek failed"; }
	{ echo "SET ROLE bench_user"; for (( i = 0; i < n; i++ )); do echo "${statement[$c]}"; done; } |
		as_postgres tee "$out.sql" >/dev/null
	as_postgres valgrind --tool=callgrind --callgrind-out-file="$out.callgrind" \
		"$bindir/postgres" --single -D "$work/$name/data" postgres <"$out.sql" >"$out.log" 2>&1 ||
		{ tail -n 20 "$out.log" >&2; die "$name $c: the single-user session failed"; }
	! grep -q 'ERROR' "$out.log" || { grep -m 3 ERROR "$out.log" >&2; die "$name $c: a statement failed"; }
	callgrind_annotate "$out.callgrind" 2>/dev/null |
		awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

echo
echo "| case | base $base_ref, instructions per statement | this build | ratio base / this build |"
echo "|---|---:|---:|---:|"
for case in send receive_ack; do
	say "$case: callgrind, 100 and 300 statements on each server"
	b=$(( ($(total_ir base "$base_bindir" "$case" 300) - $(total_ir base "$base_bindir" "$case" 100)) / 200 ))
	n=$(( ($(total_ir new "$new_bindir" "$case" 300) - $(total_ir new "$new_bindir" "$case" 100)) / 200 ))
	printf '| %s | %d | %d | %s |\n' "${case/_/+}" "$b" "$n" \
		"$(awk -v b="$b" -v n="$n" 'BEGIN { printf "%.3f", b / n }')"
done
