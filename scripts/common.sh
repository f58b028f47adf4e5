# scripts/common.sh -- the set-up the scripts of scripts/ and bench/ share.
#
# Sourced, never run. The sourcing script sets `me` (its name in messages)
# first. Defines:
#   root         the checkout
#   PG_CONFIG    the PostgreSQL 15 pg_config (override: PG_CONFIG=...), exported
#   bindir       its server binaries (initdb, pg_ctl, psql)
#   say MSG      prints "$me: HH:MM:SS MSG" on standard error
#   die MSG      prints "$me: error: MSG" and exits 1
#   as_postgres  runs a command as the postgres user (initdb refuses root)
#   as_root      runs a command as root (directly, or through sudo)
#   init_private_server PGDATA SOCKET_DIR PORT LOG
#                initdb PGDATA, reachable only through a Unix socket in
#                SOCKET_DIR (trust is safe there: the directory is 0700 and
#                belongs to postgres) with the library preloaded; settings
#                read from standard input are appended
# shellcheck shell=bash

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PG_CONFIG
bindir=$("$PG_CONFIG" --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)

say() { echo "${me:-pulsar_pg}: $(date '+%H:%M:%S') $*" >&2; }
die() { echo "${me:-pulsar_pg}: error: $*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
	as_postgres() { runuser -u postgres -- "$@"; }
	as_root() { "$@"; }
elif [ "$(id -un)" = postgres ]; then
	as_postgres() { "$@"; }
	as_root() { sudo "$@"; }
else
	command -v sudo >/dev/null 2>&1 || die "run this as root, as postgres, or install sudo"
	as_postgres() { sudo -u postgres -- "$@"; }
	as_root() { sudo "$@"; }
fi

init_private_server() {
	local pgdata=$1 socket_dir=$2 port=$3 log=$4
	as_postgres "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust \
		--no-locale --encoding=UTF8 --no-sync >"$log" 2>&1 ||
		{ cat "$log" >&2; die "initdb failed"; }
	{
		printf "\n# Added by %s\nlisten_addresses = ''\n" "$me"
		printf "unix_socket_directories = '%s'\nport = %s\n" "$socket_dir" "$port"
		printf "shared_preload_libraries = 'pulsar_pg'\n"
		cat
	} | as_postgres tee -a "$pgdata/postgresql.conf" >/dev/null
}
