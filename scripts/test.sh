#!/usr/bin/env bash
#
# scripts/test.sh -- run pulsar_pg's test suites on a throw-away server.
#
# usage: scripts/test.sh [--suite regress|isolation|tap|python]... [--keep]
#
#   --suite S   run only suite S (repeatable); default: regress, isolation,
#               tap, python
#   --keep      keep the temp directory (copy, results, server log) for
#               debugging; the server is stopped all the same
#
# Builds and installs the extension (scripts/setup.sh), copies the checkout
# into a temp directory owned by postgres (pg_regress and prove write their
# results next to the tests), starts a temporary PostgreSQL 15 listening only
# on a Unix socket in that directory, and runs `make installcheck` there once
# per suite, so a failing suite does not hide the others. Extra server
# settings for the tests can go in test/postgresql.conf (appended if present;
# the TAP suite's clusters get it too, through TEMP_CONFIG).
#
# The python suite runs the Python client's pytest tests (python/tests) with
# Debian's /usr/bin/python3 against the same server; the client is the copy
# scripts/setup.sh installed (PULSAR_PYTHON_SITE, if set, names where).
#
# Always ends with the line "tests: N passed, N failed" (pg_regress tests +
# isolation tests + TAP test files + pytest tests) and exits non-zero on any
# failure.
#
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PG_CONFIG
port=${PULSAR_TEST_PORT:-5441}

usage() { sed -n '4,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }

suites=()
keep=no
while [ $# -gt 0 ]; do
	case $1 in
		--suite) [ $# -ge 2 ] || usage; suites+=("$2"); shift 2 ;;
		--suite=*) suites+=("${1#--suite=}"); shift ;;
		--keep) keep=yes; shift ;;
		-h|--help) usage ;;
		*) echo "test: unknown argument: $1" >&2; usage ;;
	esac
done
[ ${#suites[@]} -gt 0 ] || suites=(regress isolation tap python)
for s in "${suites[@]}"; do
	case $s in
		regress|isolation|tap|python) ;;
		*) echo "test: unknown suite: $s" >&2; usage ;;
	esac
done

# initdb refuses root: the server and the tests run as postgres.
if [ "$(id -u)" -eq 0 ]; then
	as_postgres() { runuser -u postgres -- "$@"; }
	as_root() { "$@"; }
elif [ "$(id -un)" = postgres ]; then
	as_postgres() { "$@"; }
	as_root() { sudo "$@"; }
else
	as_postgres() { sudo -u postgres -- "$@"; }
	as_root() { sudo "$@"; }
fi

passed=0
failed=0
errors=0          # suites that ended badly without a failed test to show
failed_names=()
work=""
logs=""
pgdata=""
server_started=no
bindir=""

# EXIT trap: stop the server, remove the temp directory, print the summary.
finish() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$server_started" = yes ]; then
		as_postgres "$bindir/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 ||
			as_postgres "$bindir/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
	fi
	if [ "$keep" = yes ]; then
		[ -z "$work" ] || echo "test: kept $work (suite logs in $logs)"
	else
		[ -z "$work" ] || as_root rm -rf "$work"
		[ -z "$logs" ] || rm -rf "$logs"
	fi
	if [ ${#failed_names[@]} -gt 0 ]; then
		echo "failed: ${failed_names[*]}"
	fi
	echo "tests: $passed passed, $failed failed"
	if [ "$rc" -eq 0 ] && { [ "$failed" -gt 0 ] || [ "$errors" -gt 0 ]; }; then
		rc=1
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Print at most $2 lines of file $1 (head: the first diff is the root cause).
show() {
	local file=$1 lines=$2 how=${3:-tail}
	as_postgres test -s "$file" || return 0
	echo "======== $file ($how -n $lines) ========"
	as_postgres "$how" -n "$lines" "$file"
}

bash "$root/scripts/setup.sh" || { echo "test: setup/build failed" >&2; exit 1; }
bindir=$("$PG_CONFIG" --bindir)

# $work belongs to postgres and stays 0700: it holds the server's socket.
# $logs belongs to the caller, who tees the suites' output into it.
work=$(mktemp -d -t pulsar_pg_test.XXXXXX)
logs=$(mktemp -d -t pulsar_pg_logs.XXXXXX)
src=$work/src
pgdata=$work/data
mkdir -p "$src"

# Copy the checkout minus VCS data, the demo cluster and old results.
tar -C "$root" \
	--exclude=./.git --exclude=./.pgdata --exclude=./results \
	--exclude=./output_iso --exclude=./tmp_check --exclude=./log \
	--exclude=./regression.diffs --exclude=./regression.out \
	--exclude=./bench/results \
	-cf - . | tar -C "$src" -xf -
chown -R postgres:postgres "$work" 2>/dev/null || as_root chown -R postgres:postgres "$work"
as_postgres test -w "$src" ||
	{ echo "test: postgres cannot write to $src (is ${TMPDIR:-/tmp} reachable by postgres?)" >&2; exit 1; }

# Ask the Makefile which tests a suite has, so test.sh never disagrees with it.
make_var() {
	# shellcheck disable=SC2016  # $($*) is for make, not the shell
	as_postgres make -s --no-print-directory -C "$src" \
		--eval '_pulsar_print-%: ; @echo $($*)' "_pulsar_print-$1" PG_CONFIG="$PG_CONFIG"
}

need_server=no
for s in "${suites[@]}"; do
	[ "$s" = tap ] || need_server=yes
done

if [ "$need_server" = yes ]; then
	as_postgres "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust \
		--no-locale --encoding=UTF8 --no-sync >"$logs/initdb.log" 2>&1 ||
		{ cat "$logs/initdb.log" >&2; echo "test: initdb failed" >&2; exit 1; }
	# Unix socket only, inside the temp directory: nothing else can connect.
	# max_prepared_transactions > 0 so tests can check PREPARE is refused.
	as_postgres tee -a "$pgdata/postgresql.conf" >/dev/null <<EOF

# Added by scripts/test.sh
listen_addresses = ''
unix_socket_directories = '$work'
port = $port
shared_preload_libraries = 'pulsar_pg'
max_prepared_transactions = 10
EOF
	if [ -f "$src/test/postgresql.conf" ]; then
		as_postgres sh -c "cat '$src/test/postgresql.conf' >> '$pgdata/postgresql.conf'"
	fi
	server_started=yes
	as_postgres "$bindir/pg_ctl" -D "$pgdata" -l "$work/server.log" -w -t 60 start >/dev/null ||
		{ show "$work/server.log" 100; echo "test: the test server did not start" >&2; exit 1; }
fi

# Count pg_regress / pg_isolation_regress results in log $1 for suite $2.
# PG15 prints "test name ... ok 12 ms" (or "     name ... FAILED" in
# parallel groups); PG16+ prints "ok 1 - name" / "not ok 2 - name". A test
# line with neither is a test pg_regress aborted on (e.g. no expected file).
count_regress() {
	local counts
	counts=$(awk '
		/^(test |     )[^ ]+ +\.\.\. +ok/ || /^ok [0-9]+ +[-+] / { p++; next }
		/^(test |     )[^ ]+ +\.\.\. +failed \(ignored\)/ { p++; next }
		/^(test |     )[^ ]+ +\.\.\. / { f++; sub(/^(test |     )/, ""); names = names " " $1; next }
		/^not ok [0-9]+ +[-+] / { f++; names = names " " $5; next }
		END { printf "%d %d%s\n", p, f, names }' "$1")
	# shellcheck disable=SC2086  # split "passed failed names..." into words
	set -- "$2" $counts
	passed=$((passed + $2))
	failed=$((failed + $3))
	local suite=$1
	shift 3
	for n in "$@"; do failed_names+=("$suite/$n"); done
}

# Count TAP test files from prove's summary in log $1; print logs of failures.
count_tap() {
	local total bad=()
	total=$(sed -n 's/^Files=\([0-9]*\),.*/\1/p' "$1" | tail -n 1)
	mapfile -t bad < <(sed -n 's/^\([^ ]*\.pl\) *(Wstat:.*/\1/p' "$1" | sort -u)
	[ -n "$total" ] || total=${#bad[@]}
	passed=$((passed + total - ${#bad[@]}))
	failed=$((failed + ${#bad[@]}))
	local t base f
	for t in "${bad[@]}"; do
		failed_names+=("tap/$t")
		base=$(basename "$t" .pl)
		show "$src/tmp_check/log/regress_log_$base" 200
		for f in $(as_postgres sh -c "ls '$src/tmp_check/log/${base}'_*.log 2>/dev/null" || true); do
			show "$f" 200
		done
	done
}

# Count pytest's results from its summary line in log $1 ("3 passed, 1
# failed, 2 errors in 5.1s"); errors count as failures, and so does a run
# that collected no test (exit status 5) or printed no summary.
count_pytest() {
	local log=$1 rc=$2 summary p f e
	summary=$(grep -E '(passed|failed|errors?|no tests ran).* in [0-9.]+s' "$log" | tail -n 1 || true)
	p=$(grep -oE '[0-9]+ passed' <<<"$summary" | cut -d' ' -f1 || true)
	f=$(grep -oE '[0-9]+ failed' <<<"$summary" | cut -d' ' -f1 || true)
	e=$(grep -oE '[0-9]+ errors?' <<<"$summary" | cut -d' ' -f1 || true)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0}))
	local name
	while read -r name; do
		failed_names+=("python/$name")
	done < <(sed -n 's/^\(FAILED\|ERROR\) \([^ ]*\).*/\2/p' "$log")
	if [ "$rc" -eq 5 ] || [ -z "$summary" ] || [ $((${p:-0} + ${f:-0} + ${e:-0})) -eq 0 ]; then
		echo "test: python: pytest ran no test (exit $rc)" >&2
		failed=$((failed + 1))
		failed_names+=("python/no-tests")
	fi
}

# The python suite: pytest as postgres, on the test server, with Debian's
# python3 (another python3 may come first on PATH).
run_python_suite() {
	echo "test: running the python suite"
	local rc=0
	as_postgres env -u PGUSER -u PGDATABASE -u PGSERVICE -u PGOPTIONS -u PGHOSTADDR \
		PGHOST="$work" PGPORT="$port" PG_CONFIG="$PG_CONFIG" \
		${PULSAR_PYTHON_SITE:+PYTHONPATH="$PULSAR_PYTHON_SITE"} \
		PYTHONDONTWRITEBYTECODE=1 \
		sh -c "cd '$src/python/tests' && exec /usr/bin/python3 -m pytest -p no:cacheprovider -rfE -q ." \
		2>&1 | tee "$logs/python.log" || rc=$?
	count_pytest "$logs/python.log" "$rc"
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ] && [ "$rc" -ne 5 ]; then
		echo "test: python: pytest failed (exit $rc)" >&2
		errors=$((errors + 1))
	fi
}

for suite in "${suites[@]}"; do
	if [ "$suite" = python ]; then
		run_python_suite
		continue
	fi
	case $suite in
		regress) var=REGRESS; skip=(ISOLATION= TAP_TESTS=) ;;
		isolation) var=ISOLATION; skip=(REGRESS= TAP_TESTS=) ;;
		tap) var=PROVE_TESTS; skip=(REGRESS= ISOLATION=) ;;
	esac
	if ! tests=$(make_var "$var" 2>"$logs/$suite.err"); then
		cat "$logs/$suite.err" >&2
		echo "test: $suite: cannot read the Makefile" >&2
		errors=$((errors + 1))
		continue
	fi
	if [ -z "${tests// /}" ]; then
		echo "test: $suite: no tests, skipped"
		continue
	fi

	echo "test: running the $suite suite"
	before=$failed
	rc=0
	# TAP clusters get test/postgresql.conf too (PostgreSQL::Test::Cluster
	# appends TEMP_CONFIG; a test's own settings come after it)
	tap_config=()
	if [ "$suite" = tap ] && [ -f "$src/test/postgresql.conf" ]; then
		tap_config=(TEMP_CONFIG="$src/test/postgresql.conf")
	fi
	as_postgres env -u PGUSER -u PGDATABASE -u PGSERVICE -u PGOPTIONS -u PGHOSTADDR \
		PGHOST="$work" PGPORT="$port" PG_CONFIG="$PG_CONFIG" "${tap_config[@]}" \
		make -s -C "$src" --no-print-directory installcheck \
		PG_CONFIG="$PG_CONFIG" "${skip[@]}" 2>&1 | tee "$logs/$suite.log" || rc=$?

	if [ "$suite" = tap ]; then
		count_tap "$logs/$suite.log"
	else
		count_regress "$logs/$suite.log" "$suite"
		if [ "$failed" -gt "$before" ] || [ "$rc" -ne 0 ]; then
			if [ "$suite" = regress ]; then
				show "$src/regression.diffs" 200 head
			else
				show "$src/output_iso/regression.diffs" 200 head
			fi
			show "$work/server.log" 100
		fi
	fi
	if [ "$rc" -ne 0 ] && [ "$failed" -eq "$before" ]; then
		echo "test: $suite: make installcheck failed (exit $rc) without a failed test to show" >&2
		errors=$((errors + 1))
	fi
done
