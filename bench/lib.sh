# bench/lib.sh: what the benchmark scripts share; sourced by bench/run.sh,
# bench/consume.sh, bench/latency.sh and bench/all.sh.
#
# Checks that the machine can run a benchmark, and runs a throw-away
# PostgreSQL 15 cluster as postgres (initdb refuses root) in a temp
# directory, Unix socket only, stopped and removed on exit.  The sourcing
# script sets me (its name in messages), port, keep and sync_commit.
# The cluster's shared_buffers is a quarter of the machine's memory, the
# starting value PostgreSQL's documentation gives for a dedicated server;
# BENCH_SHARED_BUFFERS sets another (1GB, say): a diagnostic, to see what a
# working set larger than the buffer pool costs.
#
# Shared server: bench/all.sh starts one cluster and runs the three
# benchmarks against it with BENCH_SERVER set to the cluster's directory
# (its Unix socket directory; the data directory is BENCH_SERVER/data) and
# BENCH_PORT to its port.  A benchmark then starts no server of its own:
# start_cluster applies its own settings to the running server (ALTER
# SYSTEM, reload), and the databases it makes with create_db are dropped
# when it exits.  Each benchmark keeps a temp directory of its own for its
# scratch files.  With BENCH_SUMMARY set to a file, summary_row appends the
# benchmark's headline ratios to it, for bench/all.sh's summary table.

# root, PG_CONFIG (another PostgreSQL 15 tree to run), bindir, say, die
# and as_postgres
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

# whole NAME VALUE: dies unless VALUE, the setting NAME, is a whole number
whole() { case $2 in ''|*[!0-9]*) die "$1 must be a whole number" ;; esac; }

# The checks every benchmark needs: root, the postgres user, the server
# binaries, a valid synchronous_commit.
check_machine() {
	case $sync_commit in
		on|off|local|remote_write|remote_apply) ;;
		*) die "BENCH_SYNCHRONOUS_COMMIT must be on, off, local, remote_write or remote_apply" ;;
	esac
	[ "$(id -u)" -eq 0 ] ||
		die "run me as root (initdb refuses root, so the server runs as postgres through runuser)"
	id postgres >/dev/null 2>&1 || die "there is no postgres user (install postgresql-15)"
	[ -x "$bindir/initdb" ] && [ -x "$bindir/pgbench" ] ||
		die "PostgreSQL 15 server binaries not found in $bindir (install postgresql-15)"
}

# ensure_packages PKG...: installs the Debian packages that are missing,
# with apt-get.  BENCH_NO_SETUP=1 installs nothing: a missing package is
# then an error.
ensure_packages() {
	local pkg missing=()
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$pkg")
	done
	[ "${#missing[@]}" -gt 0 ] || return 0
	[ "${BENCH_NO_SETUP:-0}" != 1 ] ||
		die "missing ${missing[*]} (BENCH_NO_SETUP=1: not installing; apt-get install them)"
	say "${missing[*]} missing: installing with apt-get"
	apt-get update >&2 || die "apt-get update failed; install ${missing[*]} by hand"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
		die "could not install ${missing[*]}; install them by hand"
}

# PgQ and pulsar_pg must be installed; $1 says how to get PgQ.
check_extensions() {
	local sharedir pkglibdir
	sharedir=$("$bindir/pg_config" --sharedir)
	pkglibdir=$("$bindir/pg_config" --pkglibdir)
	[ -f "$sharedir/extension/pgq.control" ] || die "$1"
	[ -f "$sharedir/extension/pulsar_pg.control" ] && [ -f "$pkglibdir/pulsar_pg.so" ] ||
		die "pulsar_pg is not installed (make && make install, or scripts/setup.sh)"
}

# make_work_dir PREFIX: sets work (the script's temp directory), sock (the
# server's Unix socket directory) and pgdata, and arranges for the server
# to be stopped (or, on a shared server, the script's databases dropped)
# and the directory removed on exit (kept with BENCH_KEEP=1).  A script
# with more to stop defines before_cleanup.
server_started=no
shared_server=${BENCH_SERVER:-}
created_dbs=()
make_work_dir() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	if [ -n "$shared_server" ]; then
		sock=$shared_server
		pgdata=$shared_server/data
	else
		sock=$work
		pgdata=$work/data
	fi
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	chown postgres: "$work"
	chmod 700 "$work"
	as_postgres mkdir "$work/runs" "$work/scripts"
	if [ -n "$shared_server" ]; then
		[ -f "$pgdata/postmaster.pid" ] ||
			die "BENCH_SERVER=$shared_server: no server runs there (bench/all.sh sets it)"
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if declare -F before_cleanup >/dev/null; then
		before_cleanup
	fi
	if [ -n "$shared_server" ]; then
		local db
		for db in "${created_dbs[@]}"; do
			psql_db postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
				say "note: could not drop database $db"
		done
	fi
	if [ "$server_started" = yes ]; then
		as_postgres "$bindir/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 ||
			as_postgres "$bindir/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ "$keep" = 1 ]; then
		say "kept $work (server.log, pgbench output in runs/)"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}

# psql_db DB [psql args]: psql as postgres on the throw-away server
psql_db() {
	local db=$1
	shift
	as_postgres "$bindir/psql" -h "$sock" -p "$port" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}

# create_db NAME: a new database; on a shared server, one left by an
# earlier run is dropped first, and the database is dropped on exit
create_db() {
	if [ -n "$shared_server" ]; then
		psql_db postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" 2>/dev/null
		created_dbs+=("$1")
	fi
	psql_db postgres -c "CREATE DATABASE $1"
}

# summary_row MEASURE VALUE TARGET VERDICT: a row of bench/all.sh's summary
# table, appended to BENCH_SUMMARY when it is set (summary_name: the
# benchmark)
summary_row() {
	[ -n "${BENCH_SUMMARY:-}" ] || return 0
	printf '| %s | %s | %s | %s | %s |\n' "$summary_name" "$1" "$2" "$3" "$4" >>"$BENCH_SUMMARY"
}

# start_cluster NAME EXTRA_SETTINGS: initdb, the settings every benchmark
# uses plus the script's own (kept in $settings for the report), and start.
# On a shared server: the script's own settings replace those of the
# previous script (ALTER SYSTEM RESET ALL, ALTER SYSTEM SET, reload); they
# must be ones a reload can change.
# Settings for a 2-core, 24 GB machine.  synchronous_commit = on is the
# PostgreSQL default, written out: every transaction that writes waits for
# its WAL flush (BENCH_SYNCHRONOUS_COMMIT=off is only a diagnostic).
# checkpoint_timeout is long and max_wal_size large because the scripts
# take a CHECKPOINT between runs.
start_cluster() {
	if [ -n "$shared_server" ]; then
		apply_settings "$2"
		settings=$(cluster_settings "$2")
		return
	fi
	say "initdb in $pgdata"
	as_postgres "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 \
		--no-locale --no-sync >"$work/initdb.log" 2>&1 ||
		{ cat "$work/initdb.log" >&2; die "initdb failed"; }
	settings=$(cluster_settings "$2")
	printf '\n# %s\n%s\n' "$1" "$settings" >>"$pgdata/postgresql.conf"
	as_postgres "$bindir/pg_ctl" -D "$pgdata" -l "$work/server.log" -w -t 120 start >/dev/null ||
		{ tail -n 30 "$work/server.log" >&2; die "the server did not start"; }
	server_started=yes
}

# a quarter of MemTotal, in megabytes
quarter_of_memory() { awk '/^MemTotal:/ { printf "%dMB", $2 / 4 / 1024 }' /proc/meminfo; }

# cluster_settings EXTRA_SETTINGS: the server's settings, the script's own
# last so that they override these (the last of a name wins)
cluster_settings() {
	echo "listen_addresses = ''
unix_socket_directories = '$sock'
port = $port
max_connections = 20
shared_preload_libraries = 'pulsar_pg'
shared_buffers = ${BENCH_SHARED_BUFFERS:-$(quarter_of_memory)}
effective_cache_size = 16GB
maintenance_work_mem = 256MB
work_mem = 16MB
wal_buffers = 16MB
max_wal_size = 4GB
min_wal_size = 1GB
checkpoint_timeout = 30min
checkpoint_completion_target = 0.9
synchronous_commit = $sync_commit
fsync = on
full_page_writes = on
wal_compression = off
jit = off
logging_collector = off
log_min_messages = warning
$1"
}

# apply_settings EXTRA_SETTINGS: on a shared server, the script's settings
# (lines "name = value") replace the previous script's; waits until new
# sessions see them
apply_settings() {
	local line name value k ok
	psql_db postgres -c 'ALTER SYSTEM RESET ALL'
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		psql_db postgres -c "ALTER SYSTEM SET ${line%% =*} = ${line#*= }"
	done <<<"$1"
	psql_db postgres -At -c 'SELECT pg_reload_conf()' >/dev/null
	for (( k = 0; k < 100; k++ )); do
		ok=yes
		while IFS= read -r line; do
			[ -n "$line" ] || continue
			name=${line%% =*}
			value=${line#*= }
			value=${value#\'}
			value=${value%\'}
			[ "$(psql_db postgres -At -c "SHOW $name")" = "$value" ] || { ok=no; break; }
		done <<<"$1"
		[ "$ok" = yes ] && return 0
		sleep 0.1
	done
	die "the shared server did not take the settings: $1"
}
