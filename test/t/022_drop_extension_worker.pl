#!/usr/bin/perl
#
# 022_drop_extension_worker.pl
#	  DESIGN invariant 6a: the worker never waits for a lock a user
#	  transaction holds.  DROP EXTENSION holds the extension and then locks
#	  every table of it; a worker that locked one table and then waited for
#	  another would deadlock with it.  Here DROP EXTENSION runs again and
#	  again while the worker is busy: maintenance passes every 10 ms over
#	  many topics, segments to close and trim, consumers that just left
#	  (their channels to notify), and timers due.  Every DROP must succeed,
#	  at once, and the worker must never be seen waiting for a lock.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $rounds = 15;

my $node = PostgreSQL::Test::Cluster->new('node');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pulsar_pg'
pulsar_pg.maintenance_interval = '10ms'
pulsar_pg.segment_entries = 4
pulsar_pg.default_retention_time = 0
log_lock_waits = on
deadlock_timeout = '10ms'
});
$node->start;

my $log_offset = -s $node->logfile;
my $slowest = 0;
for my $round (1 .. $rounds)
{
	$node->safe_psql(
		'postgres', q{
		CREATE EXTENSION pulsar_pg;
		SELECT pulsar.create_topic('t' || i) FROM generate_series(1, 30) i;
		SELECT pulsar.send_batch('t' || i, ARRAY['a', 'b', 'c', 'd', 'e', 'f'])
		  FROM generate_series(1, 30) i;
		SELECT pulsar.subscribe('t1', 'sub', 'shared', 'earliest', consumer => 'c');
		SELECT count(*) FROM pulsar.receive('t1', 'sub', 3, consumer => 'c');
		SELECT pulsar.nack('t1', 'sub', ARRAY(SELECT message_id FROM
		  pulsar.receive('t1', 'sub', 1, consumer => 'c')));
});
	# the worker runs for the new installation before the DROP comes
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pulsar_pg worker'"
	) or die 'no worker';

	# a consumer leaves: the worker notifies its subscription's channel
	# while DROP EXTENSION locks the tables
	my $started = time;
	my ($rc, $stdout, $stderr) = $node->psql(
		'postgres', q{
		SET statement_timeout = '20s';
		SELECT pulsar.close_consumer('t1', 'sub', 'c');
		DROP EXTENSION pulsar_pg;
});
	my $elapsed = time - $started;
	$slowest = $elapsed if $elapsed > $slowest;
	is($rc, 0, "round $round: DROP EXTENSION succeeds")
	  or diag($stderr);
}
cmp_ok($slowest, '<', 10,
	"DROP EXTENSION never waits long for the worker (slowest: ${slowest}s)");

my @log = split /\n/, slurp_file($node->logfile, $log_offset);
my @deadlocks = grep { /deadlock detected/ } @log;
is(scalar @deadlocks, 0, 'no deadlock') or diag(join("\n", @deadlocks));
# the worker takes share and row-exclusive locks, DROP EXTENSION exclusive ones
my @waits =
  grep { /still waiting for (AccessShare|RowShare|RowExclusive)Lock/ } @log;
is(scalar @waits, 0, 'nothing waits for a lock in the modes the worker takes')
  or diag(join("\n", @waits));

# the worker of the last installation is gone, and a new one starts
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pulsar_pg worker'"
	),
	'a worker runs for the next installation');

$node->stop;
done_testing();
