#!/usr/bin/perl
#
# 040_fuzz_sqlsmith.pl
#	  Random SQL from sqlsmith, run by a role that is not a superuser, on a
#	  database with the extension, topics it may read and a topic it may
#	  not: the server does not crash, and no statement returns a message
#	  of the topic the role may not read.
#
#	  Two passes, bounded in time: sqlsmith against the server (its own
#	  driver, errors counted), then sqlsmith's queries run through psql so
#	  that their results can be searched for the secret messages.
#	  PULSAR_FUZZ_SECONDS (default 20) bounds each pass, PULSAR_FUZZ_SEED
#	  (default 1) seeds sqlsmith.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($sqlsmith) =
  grep { -x $_ } map { "$_/sqlsmith" } split /:/, "$ENV{PATH}:/usr/bin";
# scripts/setup.sh installs it; without it this test cannot run at all
BAIL_OUT('sqlsmith is not installed (apt-get install sqlsmith)')
  unless $sqlsmith;

my $seconds = $ENV{PULSAR_FUZZ_SECONDS} // 20;
my $seed = $ENV{PULSAR_FUZZ_SEED} // 1;
note "sqlsmith seed $seed, $seconds s per pass";

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init;
$node->append_conf('postgresql.conf',
	qq{shared_preload_libraries = 'pulsar_pg'
statement_timeout = '2s'
log_min_messages = 'error'});
$node->start;

# The secret is stored as text and shows as text or as bytea hex.
my $secret = 'SECRET-payroll-7f3a9c';
my $secret_hex = unpack('H*', $secret);
$node->safe_psql(
	'postgres', qq{
	CREATE EXTENSION pulsar_pg;
	CREATE ROLE fuzzer LOGIN;
	SELECT pulsar.create_tenant('acme', '{}');
	SELECT pulsar.create_namespace('acme/payroll');
	SELECT pulsar.create_namespace('acme/open');
	SELECT pulsar.grant_permission('acme/open', 'fuzzer', '{produce,consume}');
	SELECT pulsar.send_batch('acme/payroll/salaries',
		ARRAY['$secret 1', '$secret 2', '$secret 3']::text[],
		keys => ARRAY['$secret', NULL, NULL]);
	SELECT pulsar.subscribe('acme/payroll/salaries', 'hr', 'shared', 'earliest', consumer => 'hr1');
	SELECT pulsar.send_batch('acme/open/events', ARRAY['e1', 'e2']::text[]);
	SELECT pulsar.subscribe('acme/open/events', 'sub', 'shared', 'earliest', consumer => 'c1');
	SELECT pulsar.send('orders', 'o1');
});

my $connstr = $node->connstr('postgres') . ' user=fuzzer';

# Pass 1: sqlsmith's own driver.
my ($out, $err);
my $ran = IPC::Run::run(
	[ 'timeout', $seconds, $sqlsmith, "--target=$connstr", "--seed=$seed",
		'--max-queries=100000' ],
	'>', \$out, '2>', \$err);
note "sqlsmith: " . substr($err // '', -400);
ok($node->safe_psql('postgres', 'SELECT 1') eq '1',
	'the server is up after the fuzz run');

# Pass 2: the queries of another seed, run by psql as fuzzer, results kept.
my $queries;
IPC::Run::run(
	[ 'timeout', $seconds, $sqlsmith, "--target=$connstr",
		'--seed=' . ($seed + 1), '--dry-run', '--max-queries=400' ],
	'>', \$queries, '2>', \$err);
my @statements = grep { /\S/ } split /;\s*\n/, $queries // '';
cmp_ok(scalar(@statements), '>', 50, 'sqlsmith generated queries');
my $script = join('', map { "$_;\n" } @statements);
my ($results, $errors) = ('', '');
IPC::Run::run(
	[ 'timeout', 3 * $seconds, $node->installed_command('psql'), '-X',
		'-d', $connstr, '-v', 'ON_ERROR_STOP=0', '-At' ],
	'<', \$script, '>', \$results, '2>', \$errors);
note 'psql printed ' . length($results) . ' bytes of results';
unlike($results, qr/\Q$secret\E|\Q$secret_hex\E/i,
	'no result holds a message of the topic fuzzer may not read');

# What fuzzer may read, it can; what it may not, it cannot.
my $readable = $node->safe_psql('postgres',
	q{SELECT count(*) FROM pulsar.read('acme/open/events', 'earliest')},
	extra_params => [ '-U', 'fuzzer' ]);
is($readable, '2', 'fuzzer reads its own topic');
my ($rc, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT * FROM pulsar.read('acme/payroll/salaries', 'earliest')},
	extra_params => [ '-U', 'fuzzer' ]);
like($stderr, qr/permission denied to consume topic/,
	'fuzzer cannot read the payroll topic');

ok($node->safe_psql('postgres', 'SELECT 1') eq '1', 'the server is still up');
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|TRAP:|PANIC/,
	'no backend crashed and no assertion failed');

$node->stop;
done_testing();
