#!/usr/bin/env bash
#
# scripts/setup.sh -- install what pulsar_pg needs, then build and install it.
#
# Debian 12 only (Debian's own PostgreSQL 15 packages). Safe to run again:
# apt is only called when a package is missing, make only rebuilds what
# changed. Quiet on success; on failure prints the failing step's output.
#
#   scripts/setup.sh [--ha]    --ha: also Patroni and etcd (scripts/ha-failover.sh)
#   PG_CONFIG=/path/to/pg_config  override the PostgreSQL 15 pg_config
#   PULSAR_PYTHON_SITE=DIR        install the Python client (python/) into DIR
#                                 instead of Debian's python3 site directory
#
set -euo pipefail

me=setup
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# postgresql-15-pgtap: pg_regress runs with --load-extension=pgtap.
# libipc-run-perl: PostgreSQL::Test::Cluster (TAP tests) needs IPC::Run.
# postgresql-15-pgq3, pgqd: PgQ, for the side-by-side benchmarks.
# libpq-dev: the pulsar-pg client (cli/) is a libpq program.
# python3-psycopg2: the driver of the latency benchmark (bench/latency.py).
# gnuplot-nox: bench/all.sh's plot of the latency distribution.
# python3-psycopg (psycopg 3), python3-pytest: the Python client (python/),
#   its tests and the randomized fault tests (test/fault/).
packages=(
	postgresql-15
	postgresql-server-dev-15
	libpq-dev
	postgresql-15-pgtap
	libipc-run-perl
	postgresql-15-pgq3
	pgqd
	python3-psycopg2
	gnuplot-nox
	python3-psycopg
	python3-pytest
	make
	gcc
)
# With --ha, also what scripts/ha-failover.sh runs: Patroni and etcd.
if [ "${1:-}" = --ha ]; then
	packages+=(patroni etcd-server curl)
fi

# Run a command with its output captured; show the output only if it fails.
quiet() {
	local log rc=0
	log=$(mktemp)
	("$@") >"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "setup: '$*' failed (exit $rc); last lines of its output:" >&2
		tail -n 200 "$log" >&2
		rm -f "$log"
		exit "$rc"
	fi
	rm -f "$log"
}

command -v dpkg-query >/dev/null 2>&1 ||
	die "dpkg-query not found: this script supports Debian 12 only"

missing=()
for pkg in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	quiet as_root env DEBIAN_FRONTEND=noninteractive apt-get update
	# Packages with a service (etcd-server) must not start it: servers are
	# started by the scripts that need them, on loopback, and stopped.
	no_start=no
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
		as_root chmod 755 /usr/sbin/policy-rc.d
		no_start=yes
	fi
	rc=0
	( quiet as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing[@]}" ) || rc=$?
	[ "$no_start" = no ] || as_root rm -f /usr/sbin/policy-rc.d
	[ "$rc" -eq 0 ] || exit "$rc"
fi

[ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found or not executable"

# Build as the calling user; installing into PostgreSQL's tree needs root.
cd "$root"
quiet make -j2 PG_CONFIG="$PG_CONFIG"
quiet as_root make install PG_CONFIG="$PG_CONFIG"
echo "setup: pulsar_pg built and installed into $("$PG_CONFIG" --pkglibdir), pulsar-pg into $("$PG_CONFIG" --bindir)"

# The Python client: a pure-Python package, copied into the site directory
# of Debian's own python3 (/usr/local/lib/python3.X/dist-packages), where
# /usr/bin/python3 finds it whatever other python3 comes first on PATH.
py_site=${PULSAR_PYTHON_SITE:-$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])')}
py_new=$(mktemp -d)
cp -R "$root/python/pulsar_pg" "$py_new/pulsar_pg"
find "$py_new" -name __pycache__ -prune -exec rm -rf {} +
chmod -R a+rX "$py_new"
if [ -d "$py_site" ] && [ -w "$py_site" ]; then as_py=(); else as_py=(as_root); fi
quiet "${as_py[@]}" mkdir -p "$py_site"
quiet "${as_py[@]}" rm -rf "$py_site/pulsar_pg"
quiet "${as_py[@]}" cp -R "$py_new/pulsar_pg" "$py_site/pulsar_pg"
rm -rf "$py_new"
echo "setup: the Python client pulsar_pg installed into $py_site"
