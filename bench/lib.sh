# bench/lib.sh: what the benchmark scripts share; sourced by bench/run.sh,
# bench/consume.sh and bench/latency.sh.
#
# Checks that the machine can run a benchmark, and runs a throw-away
# PostgreSQL 15 cluster as postgres (initdb refuses root) in a temp
# directory, Unix socket only, stopped and removed on exit.  The sourcing
# script defines say and die, and sets port, keep and sync_commit.

bindir=/usr/lib/postgresql/15/bin

as_postgres() { runuser -u postgres -- "$@"; }

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

# make_work_dir PREFIX: sets work and pgdata, and arranges for the server to
# be stopped and the directory removed on exit (kept with BENCH_KEEP=1).
# A script with more to stop defines before_cleanup.
server_started=no
make_work_dir() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	pgdata=$work/data
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	chown postgres: "$work"
	chmod 700 "$work"
	as_postgres mkdir "$work/runs" "$work/scripts"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if declare -F before_cleanup >/dev/null; then
		before_cleanup
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
	as_postgres "$bindir/psql" -h "$work" -p "$port" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}

# start_cluster NAME EXTRA_SETTINGS: initdb, the settings every benchmark
# uses plus the script's own (kept in $settings for the report), and start.
# Settings for a 2-core, 24 GB machine.  synchronous_commit = on is the
# PostgreSQL default, written out: every transaction that writes waits for
# its WAL flush (BENCH_SYNCHRONOUS_COMMIT=off is only a diagnostic).
# checkpoint_timeout is long and max_wal_size large because the scripts
# take a CHECKPOINT between runs.
start_cluster() {
	say "initdb in $pgdata"
	as_postgres "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 \
		--no-locale --no-sync >"$work/initdb.log" 2>&1 ||
		{ cat "$work/initdb.log" >&2; die "initdb failed"; }
	settings="listen_addresses = ''
unix_socket_directories = '$work'
port = $port
max_connections = 20
shared_preload_libraries = 'pulsar_pg'
shared_buffers = 1GB
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
$2
logging_collector = off
log_min_messages = warning"
	printf '\n# %s\n%s\n' "$1" "$settings" >>"$pgdata/postgresql.conf"
	as_postgres "$bindir/pg_ctl" -D "$pgdata" -l "$work/server.log" -w -t 120 start >/dev/null ||
		{ tail -n 30 "$work/server.log" >&2; die "the server did not start"; }
	server_started=yes
}
