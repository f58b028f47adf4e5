#!/usr/bin/env bash
#
# bench/python.sh -- the Python client (python/, package pulsar_pg) side by
# side with bare SQL through psycopg, in one run on one throw-away server:
# producer.send vs a SELECT pulsar.send loop, send_async with batching vs
# send, receive + acknowledge vs a bare receive/ack loop of the same batch
# size, and end-to-end latency at 1,000 msg/s through LISTEN
# (bench/python.py says how each is measured).
#
# usage: bash bench/python.sh        (as root: the server runs as postgres)
#
#   PG_CONFIG        pg_config of the PostgreSQL 15 with pulsar_pg installed
#                    (default /usr/lib/postgresql/15/bin/pg_config)
#   BENCH_PORT       port number of the Unix socket (default 5482)
#   BENCH_SECONDS    seconds of the latency measurement (default 10)
#   PULSAR_PYTHON_SITE  where scripts/setup.sh installed the client, if not
#                    in Debian's python3 site directory
#
# Prints a markdown table of ratios (run it on an idle machine: the ratios
# hold there, absolute rates do not travel).
set -euo pipefail

me=python
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
port=${BENCH_PORT:-5482}
seconds=${BENCH_SECONDS:-10}
[ "$(id -u)" -eq 0 ] || die "run me as root (the server runs as postgres through runuser)"

work=$(mktemp -d "${TMPDIR:-/tmp}/pulsar_pg_pybench.XXXXXX")
chown postgres: "$work"
chmod 700 "$work"
started=no
cleanup() {
	if [ "$started" = yes ]; then
		as_postgres "$bindir/pg_ctl" -D "$work/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
			as_postgres "$bindir/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_postgres "$bindir/initdb" -D "$work/data" -U postgres --auth=trust --no-locale \
	-E UTF8 >/dev/null
as_postgres tee -a "$work/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = ''
unix_socket_directories = '$work'
port = $port
shared_preload_libraries = 'pulsar_pg'
EOF
started=yes
as_postgres "$bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -w -t 60 start >/dev/null
as_postgres "$bindir/psql" -X -q -h "$work" -p "$port" -d postgres -c "CREATE EXTENSION pulsar_pg"

echo "| Python client, $(date -u +%Y-%m-%d), one server | rates | ratio |"
echo "|---|---|---|"
as_postgres env ${PULSAR_PYTHON_SITE:+PYTHONPATH="$PULSAR_PYTHON_SITE"} \
	/usr/bin/python3 "$root/bench/python.py" \
	"host=$work port=$port dbname=postgres user=postgres" "$seconds"
