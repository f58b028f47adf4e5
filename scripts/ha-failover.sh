#!/usr/bin/env bash
#
# scripts/ha-failover.sh -- automatic failover of pulsar_pg by Patroni.
#
# usage: scripts/ha-failover.sh [--keep]
#
#   --keep   keep the temp directory (logs, data directories) afterwards
#
# Runs on loopback only, as the postgres user, in a temp directory: one
# etcd and two Patroni nodes of PostgreSQL 15 with pulsar_pg preloaded, in
# Patroni's synchronous mode. A producer (Python, psycopg2) publishes
# through a libpq multi-host connection string with
# target_session_attrs=read-write and records every message whose commit
# was confirmed. The leader is killed (its Patroni and its postmaster, kill
# -9) under load; Patroni promotes the synchronous standby; the producer
# reconnects by itself and publishes on. Then every confirmed message must
# be on the new leader with the id the producer got: zero loss.
#
# Installs and builds what it needs first (scripts/setup.sh --ha: the
# extension, patroni, etcd-server, python3-psycopg2). Not part of
# scripts/test.sh: it takes about a minute. Prints "ha-failover: PASS" or
# "ha-failover: FAIL ..." and exits non-zero on failure; stops everything it
# started, also on failure.
#
set -euo pipefail

me=ha-failover
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
keep=no
[ "${1:-}" = --keep ] && keep=yes

die() { echo "ha-failover: FAIL: $*" >&2; exit 1; }   # the verdict line

bash "$root/scripts/setup.sh" --ha || die "setup failed"

python3=/usr/bin/python3   # Debian's, which has python3-psycopg2
for cmd in patroni etcd "$python3"; do
	command -v "$cmd" >/dev/null || die "$cmd not found (run scripts/setup.sh --ha)"
done
"$python3" -c 'import psycopg2' 2>/dev/null || die "python3-psycopg2 missing (run scripts/setup.sh --ha)"

work=$(mktemp -d -t pulsar_ha.XXXXXX)
chmod 755 "$work"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$work"

# ports: pick a base from the PID so that two runs do not collide
base=$((20000 + ($$ % 2000) * 10))
etcd_client=$base
etcd_peer=$((base + 1))
pg_port=($((base + 2)) $((base + 3)))
api_port=($((base + 4)) $((base + 5)))

names=()    # what start_bg started; each wrote its PID to $work/<name>.pid

pid_of() { cat "$work/$1.pid" 2>/dev/null || true; }

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for name in "${names[@]}"; do
		pid=$(pid_of "$name")
		[ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true
	done
	sleep 2
	for name in "${names[@]}"; do
		pid=$(pid_of "$name")
		[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
	done
	for n in 0 1; do
		if [ -f "$work/pg$n/postmaster.pid" ]; then
			as_postgres "$bindir/pg_ctl" -D "$work/pg$n" -m immediate -w stop >/dev/null 2>&1 || true
		fi
	done
	if [ "$keep" = yes ]; then
		echo "ha-failover: kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg NAME COMMAND...: runs COMMAND as postgres in the background,
# output in $work/NAME.log, its PID in $work/NAME.pid
start_bg() {
	local name=$1
	shift
	names+=("$name")
	as_postgres bash -c 'echo $$ > "$0"; exec "$@"' "$work/$name.pid" "$@" >"$work/$name.log" 2>&1 &
	for _ in $(seq 1 50); do
		[ -s "$work/$name.pid" ] && return 0
		sleep 0.1
	done
	die "$name did not start"
}

echo "ha-failover: etcd on 127.0.0.1:$etcd_client"
start_bg etcd etcd --name e1 --data-dir "$work/etcd" \
	--enable-v2=true \
	--listen-client-urls "http://127.0.0.1:$etcd_client" \
	--advertise-client-urls "http://127.0.0.1:$etcd_client" \
	--listen-peer-urls "http://127.0.0.1:$etcd_peer" \
	--initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
	--initial-cluster "e1=http://127.0.0.1:$etcd_peer"

for n in 0 1; do
	cat >"$work/patroni$n.yml" <<EOF
scope: pulsar_ha
name: pg$n
restapi:
  listen: 127.0.0.1:${api_port[$n]}
  connect_address: 127.0.0.1:${api_port[$n]}
etcd:
  host: 127.0.0.1:$etcd_client
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 2
    retry_timeout: 5
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        shared_preload_libraries: pulsar_pg
        wal_log_hints: 'on'
        synchronous_commit: 'on'
        max_connections: 40
  initdb:
    - encoding: UTF8
    - no-locale
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication replicator 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:${pg_port[$n]}
  connect_address: 127.0.0.1:${pg_port[$n]}
  data_dir: $work/pg$n
  bin_dir: $bindir
  pgpass: $work/pgpass$n
  parameters:
    unix_socket_directories: '$work'
  authentication:
    superuser:
      username: postgres
      password: postgres
    replication:
      username: replicator
      password: replicator
EOF
done
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$work"/*.yml

# wait for etcd, then start the first node (it bootstraps the cluster)
for _ in $(seq 1 50); do
	curl -fs "http://127.0.0.1:$etcd_client/health" >/dev/null 2>&1 && break
	sleep 0.2
done
start_bg patroni0 patroni "$work/patroni0.yml"

psql_at() { as_postgres "$bindir/psql" -X -A -t -h 127.0.0.1 -p "$1" -U postgres -d postgres "${@:2}"; }

for _ in $(seq 1 60); do
	[ "$(psql_at "${pg_port[0]}" -c 'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = t ] && break
	sleep 1
done
[ "$(psql_at "${pg_port[0]}" -c 'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = t ] ||
	die "the first node did not become leader (see $work/patroni0.log)"
psql_at "${pg_port[0]}" -q -c 'CREATE EXTENSION pulsar_pg' -c "SELECT pulsar.create_topic('ha', 2)" >/dev/null

start_bg patroni1 patroni "$work/patroni1.yml"
echo "ha-failover: waiting for pg1 to become the synchronous standby"
for _ in $(seq 1 90); do
	[ "$(psql_at "${pg_port[0]}" -c "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'" 2>/dev/null)" = 1 ] && break
	sleep 1
done
[ "$(psql_at "${pg_port[0]}" -c "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")" = 1 ] ||
	die "no synchronous standby (see $work/patroni1.log)"

# The producer: publishes through the multi-host connection string,
# reconnecting after errors, until $work/stop exists; prints one line
# "id payload" per confirmed send to its output file.
dsn="host=127.0.0.1,127.0.0.1 port=${pg_port[0]},${pg_port[1]} user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2"
cat >"$work/producer.py" <<'EOF'
import os, sys, time, psycopg2
dsn, out_path, stop_path = sys.argv[1:4]
out = open(out_path, "w", buffering=1)
conn = None
n = 0
reconnects = 0
while not os.path.exists(stop_path):
    try:
        if conn is None:
            conn = psycopg2.connect(dsn)
            conn.autocommit = True
            cur = conn.cursor()
        n += 1
        payload = "m-%d" % n
        cur.execute("SELECT pulsar.send('ha', %s)::text", (payload,))
        out.write("%s %s\n" % (cur.fetchone()[0], payload))
    except psycopg2.Error as e:
        out.write("ERROR %s\n" % str(e).strip().replace("\n", " "))
        try:
            conn.close()
        except Exception:
            pass
        conn = None
        reconnects += 1
        time.sleep(0.2)
out.write("RECONNECTS %d\n" % reconnects)
EOF
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$work/producer.py"
start_bg producer "$python3" "$work/producer.py" "$dsn" "$work/producer.out" "$work/stop"

sleep 5
before=$(grep -c '^[0-9]' "$work/producer.out" || true)
[ "$before" -gt 0 ] || die "the producer confirmed nothing before the kill"

# kill the leader: its Patroni first, so that it cannot restart PostgreSQL,
# then its postmaster
leader_pid=$(head -n 1 "$work/pg0/postmaster.pid")
echo "ha-failover: $before messages confirmed; killing the leader pg0 (Patroni $(pid_of patroni0), postmaster $leader_pid)"
kill -KILL "$(pid_of patroni0)"
kill -KILL "$leader_pid"
killed_at=$(date +%s)

echo "ha-failover: waiting for pg1 to be promoted"
for _ in $(seq 1 90); do
	[ "$(psql_at "${pg_port[1]}" -c 'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = t ] && break
	sleep 1
done
[ "$(psql_at "${pg_port[1]}" -c 'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = t ] ||
	die "pg1 was not promoted (see $work/patroni1.log)"
promoted_at=$(date +%s)

# let the producer reconnect and publish on the new leader
at_kill=$(wc -l <"$work/producer.out")
for _ in $(seq 1 30); do
	after=$(tail -n +"$((at_kill + 1))" "$work/producer.out" | grep -c '^[0-9]' || true)
	[ "$after" -ge 50 ] && break
	sleep 1
done
touch "$work/stop"
for _ in $(seq 1 50); do
	kill -0 "$(pid_of producer)" 2>/dev/null || break
	sleep 0.2
done
[ "$after" -ge 50 ] || die "the producer did not publish on the new leader"

# every confirmed message is on the new leader, with its id
grep '^[0-9]' "$work/producer.out" | LC_ALL=C sort >"$work/confirmed"
psql_at "${pg_port[1]}" -c "
	SELECT message_id || ' ' || convert_from(payload, 'UTF8')
	  FROM pulsar.read('ha-partition-0', 'earliest', 100000)
	UNION ALL
	SELECT message_id || ' ' || convert_from(payload, 'UTF8')
	  FROM pulsar.read('ha-partition-1', 'earliest', 100000)" | LC_ALL=C sort >"$work/stored"
confirmed=$(wc -l <"$work/confirmed")
lost=$(LC_ALL=C comm -23 "$work/confirmed" "$work/stored" | wc -l)
errors=$(grep -c '^ERROR' "$work/producer.out" || true)
reconnects=$(sed -n 's/^RECONNECTS //p' "$work/producer.out")

echo "ha-failover: failover took $((promoted_at - killed_at)) s; the producer saw $errors errors and reconnected $reconnects times"
echo "ha-failover: $confirmed messages confirmed, $(wc -l <"$work/stored") stored on the new leader, $lost lost"
if [ "$lost" -ne 0 ]; then
	comm -23 "$work/confirmed" "$work/stored" | head -n 20 >&2
	die "$lost confirmed messages are missing on the new leader"
fi
echo "ha-failover: PASS"
