#!/usr/bin/env bash
#
# scripts/demo.sh -- build pulsar_pg, start a local PostgreSQL 15 with it and
# publish and read a few messages.
#
# The cluster lives in .pgdata/ inside the checkout (git-ignored), belongs to
# the postgres user and listens only on a Unix socket inside .pgdata/ (no
# TCP), on port 5440 so it cannot clash with a system server. Running the
# script again reuses the cluster, the database and the extension.
#
#   PULSAR_DEMO_PORT=5440   port of the demo server (socket file name)
#
set -euo pipefail

me=demo
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
pgdata=$root/.pgdata
port=${PULSAR_DEMO_PORT:-5440}
db=pulsar

# a command line that runs as postgres, for the hints printed at the end
if [ "$(id -u)" -eq 0 ]; then
	run_as_postgres="runuser -u postgres --"
elif [ "$(id -un)" = postgres ]; then
	run_as_postgres=""
else
	command -v sudo >/dev/null 2>&1 || die "run this script as root (or install sudo)"
	run_as_postgres="sudo -u postgres --"
fi

bash "$root/scripts/setup.sh"

bindir=$("$PG_CONFIG" --bindir)   # now installed
id postgres >/dev/null 2>&1 || die "there is no postgres user (is postgresql-15 installed?)"

# The postgres user must be able to reach the checkout. Say which directory
# blocks it rather than silently opening up someone's home directory.
if ! as_postgres test -x "$root"; then
	# Walk down from /: the first unreachable directory is a sure blocker;
	# below it, postgres cannot even try, so judge by the mode bits.
	blockers=""
	dir=""
	blocked=no
	IFS=/ read -ra parts <<<"${root#/}"
	for part in "${parts[@]}"; do
		dir="$dir/$part"
		if [ "$blocked" = no ]; then
			as_postgres test -x "$dir" && continue
			blocked=yes
		elif [ "$(stat -c %U "$dir")" = postgres ] || [ "$(stat -c %A "$dir" | cut -c10)" = x ]; then
			continue
		fi
		blockers="$blockers  $dir (mode $(stat -c %A "$dir"), owner $(stat -c %U "$dir"))
"
	done
	first=$(printf '%s' "$blockers" | head -n 1 | sed 's/^  \([^ ]*\) .*/\1/')
	die "the postgres user cannot reach $root; these directories are not searchable by postgres:
${blockers}Either clone pulsar_pg into a directory postgres can traverse (e.g. /srv or /tmp),
or grant search-only access to each directory above, for example:
  chmod o+x $first     (or, with the acl package: setfacl -m u:postgres:x $first)"
fi

# A Unix socket path is limited to 107 bytes, socket file name included.
sock="$pgdata/.s.PGSQL.$port"
[ "${#sock}" -le 107 ] ||
	die "the socket path $sock is too long for a Unix socket (max 107 bytes); use a shorter checkout path"

psql_pg() {
	as_postgres "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$pgdata" -p "$port" "$@"
}

# Create the cluster once.
if ! as_postgres test -f "$pgdata/PG_VERSION"; then
	if [ -e "$pgdata" ] && [ -n "$(as_root ls -A "$pgdata")" ]; then
		die "$pgdata exists, is not empty and holds no cluster; move it away and run again"
	fi
	echo "demo: creating a PostgreSQL 15 cluster in $pgdata"
	as_root mkdir -p "$pgdata"
	as_root chown postgres:postgres "$pgdata"
	as_root chmod 700 "$pgdata"
	# Trust is safe here: the only way in is the socket inside this 0700
	# directory, which only postgres (and root) can open.
	as_postgres "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 >/dev/null
	as_postgres sh -c "echo \"include_if_exists = 'pulsar_demo.conf'\" >> '$pgdata/postgresql.conf'"
fi

[ "$(stat -c %U "$pgdata")" = postgres ] ||
	die "$pgdata is owned by $(stat -c %U "$pgdata"), not postgres; fix with: chown -R postgres:postgres $pgdata"

# Rewritten on every run so the socket path follows the checkout if it moves.
conf=$(cat <<EOF
# Written by scripts/demo.sh on every run; edit postgresql.conf instead.
listen_addresses = ''
unix_socket_directories = '$pgdata'
port = $port
shared_preload_libraries = 'pulsar_pg'
EOF
)
conf_changed=no
if [ "$(as_postgres cat "$pgdata/pulsar_demo.conf" 2>/dev/null || true)" != "$conf" ]; then
	printf '%s\n' "$conf" | as_postgres sh -c "cat > '$pgdata/pulsar_demo.conf'"
	conf_changed=yes
fi

pg_ctl() { as_postgres "$bindir/pg_ctl" -D "$pgdata" "$@"; }

# A running server keeps the library it loaded at start. make install
# rewrites the file on every run, so compare contents, not timestamps:
# the checksum of the library each start loaded is kept in .pgdata.
so="$("$PG_CONFIG" --pkglibdir)/pulsar_pg.so"
so_sum=$(sha256sum "$so" | cut -d' ' -f1)
loaded=$(as_postgres cat "$pgdata/pulsar_demo.loaded" 2>/dev/null || true)

if pg_ctl status >/dev/null 2>&1; then
	if [ "$conf_changed" = yes ] || [ "$so_sum" != "$loaded" ]; then
		echo "demo: restarting the server to load the new build/settings"
		pg_ctl -w -m fast -l "$pgdata/server.log" restart >/dev/null ||
			{ as_postgres tail -n 50 "$pgdata/server.log" >&2; die "the server did not restart"; }
	else
		echo "demo: reusing the server already running in $pgdata"
	fi
else
	echo "demo: starting the server (log: $pgdata/server.log)"
	pg_ctl -w -l "$pgdata/server.log" start >/dev/null ||
		{ as_postgres tail -n 50 "$pgdata/server.log" >&2; die "the server did not start"; }
fi
echo "$so_sum" | as_postgres sh -c "cat > '$pgdata/pulsar_demo.loaded'"

if [ -z "$(psql_pg -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
	as_postgres "$bindir/createdb" -h "$pgdata" -p "$port" "$db"
fi

psql_pg -d "$db" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pulsar_pg;
ALTER EXTENSION pulsar_pg UPDATE;
\echo
\echo Publishing three messages to topic demo, then reading the topic from the start:
\set ECHO queries
SELECT pulsar.send('demo', 'hello ' || i) FROM generate_series(1,3) i;
SELECT message_id, convert_from(payload,'UTF8') AS payload, publish_time FROM pulsar.read('demo', 'earliest', 10);
\set ECHO none
\echo
\echo Consuming through a durable subscription: receive and acknowledge in one transaction:
\set ECHO queries
SELECT pulsar.subscribe('demo', 'demo-sub', 'shared', 'earliest', consumer => 'demo-consumer');
BEGIN;
CREATE TEMP TABLE batch ON COMMIT DROP AS
  SELECT * FROM pulsar.receive('demo', 'demo-sub', 10, consumer => 'demo-consumer');
SELECT message_id, convert_from(payload, 'UTF8') AS payload FROM batch;
SELECT pulsar.ack('demo', 'demo-sub', ARRAY(SELECT message_id FROM batch));
COMMIT;
SELECT pulsar.topic_stats('demo')->'subscriptions'->'demo-sub'->>'msgBacklog' AS backlog;
SQL

echo
echo "A consumer (pulsar-pg consume) sleeps on LISTEN until the background worker"
echo "notifies it; three messages are published, one a second:"
# a new subscription each run, starting at the latest message
psql_pg -d "$db" -tAc "SELECT pulsar.unsubscribe('demo', 'live')
	WHERE pulsar.topic_stats('demo')->'subscriptions' ? 'live'" >/dev/null
as_postgres "$bindir/pulsar-pg" consume demo -s live -t shared -n 3 -r 0 \
	-d "host=$pgdata port=$port dbname=$db" &
consumer=$!
# the consumer has subscribed once its subscription exists
for _ in $(seq 50); do
	[ -n "$(psql_pg -d "$db" -tAc "SELECT 1 FROM pulsar.list_topics() t, pulsar.topic_stats(t.topic) s WHERE s->'subscriptions' ? 'live'")" ] && break
	sleep 0.1
done
for i in 1 2 3; do
	psql_pg -d "$db" -tAc "SELECT 'published ' || pulsar.send('demo', 'live ' || $i)"
	sleep 1
done
wait "$consumer" || die "the consumer failed"

# Root and postgres can open the socket directly; other users go via sudo.
if [ "$(id -u)" -eq 0 ] || [ "$(id -un)" = postgres ]; then
	psql_cmd="$bindir/psql -h $pgdata -p $port -U postgres -d $db"
else
	psql_cmd="sudo -u postgres $bindir/psql -h $pgdata -p $port -d $db"
fi
cat <<EOF
The demo server is running (data directory and socket: $pgdata, port $port).
  connect:  $psql_cmd
  stop:     ${run_as_postgres:+$run_as_postgres }$bindir/pg_ctl -D $pgdata stop
  again:    bash scripts/demo.sh   (reuses the cluster)
EOF
