#!/usr/bin/env bash
#
# scripts/soak-failover.sh -- repeat the synchronous failover test.
#
# usage: scripts/soak-failover.sh [cycles]       (default 10; 0 = until interrupted)
#
# Runs test/t/005_failover_sync.pl (a primary with a synchronous standby
# killed under load, the standby promoted, everything the clients were told
# had committed checked) over and over, each time on new clusters, and
# reports after every cycle and at the end: cycles, messages published
# (confirmed to producers), lost (must be 0) and redelivered (messages a
# consumer had received but not acknowledged, delivered again after the
# promotion). Stops at the first failing cycle and keeps its logs.
#
# Not part of scripts/test.sh. Uses the installed extension: run
# scripts/setup.sh first. Needs root or the postgres user (initdb refuses
# root, so the tests run as postgres).
#
set -euo pipefail

me=soak
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cycles=${1:-10}
[[ "$cycles" =~ ^[0-9]+$ ]] || { echo "usage: $0 [cycles]" >&2; exit 2; }

work=$(mktemp -d -t pulsar_soak.XXXXXX)
src=$work/src
mkdir -p "$src"
tar -C "$root" --exclude=./.git --exclude=./.pgdata --exclude=./tmp_check \
	--exclude=./results --exclude=./output_iso -cf - . | tar -C "$src" -xf -
[ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$work"

done_cycles=0 published=0 lost=0 redelivered=0 failed=no
report() {
	echo "soak: cycles $done_cycles, messages published $published, lost $lost, redelivered $redelivered"
}
finish() {
	local rc=$?
	trap - EXIT INT TERM
	report
	if [ "$failed" = yes ]; then
		echo "soak: FAIL; logs of the failing cycle in $src/tmp_check/log"
		exit 1
	fi
	rm -rf "$work"
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

while [ "$cycles" -eq 0 ] || [ "$done_cycles" -lt "$cycles" ]; do
	rc=0
	as_postgres make -s -C "$src" --no-print-directory installcheck REGRESS= ISOLATION= \
		PROVE_TESTS=test/t/005_failover_sync.pl PG_CONFIG="$PG_CONFIG" \
		>"$work/cycle.out" 2>&1 || rc=$?
	line=$(grep -a '# synchronous: .* confirmed messages' "$src/tmp_check/log/regress_log_005_failover_sync" || true)
	done_cycles=$((done_cycles + 1))
	if [[ "$line" =~ ([0-9]+)\ confirmed\ messages,\ ([0-9]+)\ lost.*\ ([0-9]+)\ messages\ redelivered ]]; then
		published=$((published + BASH_REMATCH[1]))
		lost=$((lost + BASH_REMATCH[2]))
		redelivered=$((redelivered + BASH_REMATCH[3]))
	fi
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		failed=yes
		grep -a '^not ok\|Failed test' "$src/tmp_check/log/regress_log_005_failover_sync" | head -n 20 || tail -n 30 "$work/cycle.out"
		exit 1
	fi
	report
done
[ "$lost" -eq 0 ] || { failed=yes; exit 1; }
