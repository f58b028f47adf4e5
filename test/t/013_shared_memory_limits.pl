#!/usr/bin/perl
#
# 013_shared_memory_limits.pl
#	  The extension's shared tables hold only what exists, and their sizes
#	  are hard limits.
#
#	  - Entries go with their objects: partition positions, dispatch state,
#		consumer liveness and rate buckets with delete_topic(force),
#		unsubscribe and DROP DATABASE.  Many create/subscribe/receive/delete
#		cycles leave the tables as they found them
#		(pulsar.shared_memory_usage()).
#	  - Beyond pulsar_pg.max_partitions, pulsar_pg.max_cursors and
#		pulsar_pg.max_rate_limiters, calls fail with
#		configuration_limit_exceeded and a hint naming the setting, and
#		PostgreSQL's own shared memory is untouched: CREATE TABLE and
#		advisory locks still work.
#	  - No user action PANICs the server: a transaction that sent, dropped
#		and re-created the extension, then rolled back.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('limits');
$node->init;
$node->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'pulsar_pg'
pulsar_pg.max_partitions = 16
pulsar_pg.max_cursors = 16
pulsar_pg.max_open_reservations = 16
pulsar_pg.max_rate_limiters = 16
));
$node->start;
my $postmaster = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');

sub usage
{
	my ($db) = @_;
	return $node->safe_psql($db // 'postgres',
		q(SELECT string_agg(area || '=' || entries, ' ' ORDER BY area) FROM pulsar.shared_memory_usage()));
}

# runs SQL that must fail; returns "SQLSTATE message | hint"
sub failure
{
	my ($sql) = @_;
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"\\set VERBOSITY verbose\n$sql", on_error_stop => 1);
	my ($code, $message) = $stderr =~ /ERROR:  ([0-9A-Z]{5}): ([^\n]*)/;
	my ($hint) = $stderr =~ /HINT:  ([^\n]*)/;
	return $ret == 0 ? 'no error' : ($code // '?') . " $message | " . ($hint // '');
}

my $empty = 'consumers=0 cursors=0 partitions=0 rate_limits=0 reservations=0';
is(usage(), $empty, 'the shared tables start empty');

##########################################################################
# Cycles of create, subscribe, receive, delete
##########################################################################

my @after_cycle;
for my $cycle (1 .. 12)
{
	$node->safe_psql(
		'postgres', q(
SELECT pulsar.create_topic('cycle', 4);
SELECT pulsar.set_dispatch_rate('cycle', 1000000000, NULL);
SELECT pulsar.subscribe('cycle', 'shared', 'shared', 'earliest', consumer => 'cs');
SELECT pulsar.subscribe('cycle', 'exclusive', 'exclusive', 'earliest', consumer => 'ce');
SELECT count(*) FROM pulsar.send_batch('cycle', ARRAY['a', 'b', 'c', 'd'],
	keys => ARRAY['1', '2', '3', '4']);
SELECT count(*) FROM pulsar.receive('cycle', 'shared', 10, consumer => 'cs');
SELECT count(*) FROM pulsar.receive('cycle', 'exclusive', 10, consumer => 'ce');
));
	push @after_cycle, usage() if $cycle == 1;
	$node->safe_psql('postgres',
		q(SELECT pulsar.delete_topic('cycle', force => true)));
	push @after_cycle, usage();
}
is( $after_cycle[0],
	'consumers=2 cursors=8 partitions=4 rate_limits=2 reservations=0',
	'a cycle fills the tables: 4 partitions, 2 subscriptions of 4 partitions, 2 consumers, 2 dispatch rates'
);
is(join(',', grep { $_ ne $empty } @after_cycle[1 .. $#after_cycle]),
	'', 'delete_topic(force) empties them again, twelve times over');

# unsubscribe takes its consumers' and partitions' entries
$node->safe_psql(
	'postgres', q(
SELECT pulsar.create_topic('kept', 2);
SELECT pulsar.set_publish_rate('kept', 1000000000, NULL);
SELECT pulsar.set_dispatch_rate('kept', 1000000000, NULL);
SELECT pulsar.send('kept', 'k');
SELECT pulsar.subscribe('kept', 'sub', 'shared', 'earliest', consumer => 'c1');
SELECT pulsar.subscribe('kept', 'sub', 'shared', 'earliest', consumer => 'c2');
SELECT count(*) FROM pulsar.receive('kept', 'sub', 10, consumer => 'c1');
SELECT count(*) FROM pulsar.receive('kept', 'sub', 10, consumer => 'c2');
));
is(usage(), 'consumers=2 cursors=2 partitions=2 rate_limits=2 reservations=0',
	'a subscription of two consumers on a topic of two partitions, with two rates');
$node->safe_psql(
	'postgres', q(
SELECT pulsar.close_consumer('kept', 'sub', 'c1');
SELECT pulsar.close_consumer('kept', 'sub', 'c2');
SELECT pulsar.unsubscribe('kept', 'sub');
));
is(usage(), 'consumers=0 cursors=0 partitions=2 rate_limits=1 reservations=0',
	'unsubscribe leaves only the partitions and the publish rate of the topic');

##########################################################################
# Hard limits
##########################################################################

$node->safe_psql('postgres', q(SELECT pulsar.create_topic('wide', 20)));
is( failure(
		q(SELECT count(pulsar.send('wide-partition-' || g, 'w'))
			FROM generate_series(0, 19) g)),
	'53400 too many topic partitions in use | Increase pulsar_pg.max_partitions and restart the server.',
	'a send beyond max_partitions fails clearly');
is(usage(), 'consumers=0 cursors=0 partitions=16 rate_limits=1 reservations=0',
	'the partitions table is full, and no reservation is left behind');

$node->safe_psql('postgres',
	q(SELECT pulsar.delete_topic('wide'); SELECT pulsar.create_topic('deep', 9);));
$node->safe_psql(
	'postgres', q(
SELECT pulsar.subscribe('deep', 'one', 'exclusive', 'earliest', consumer => 'c');
SELECT pulsar.subscribe('deep', 'two', 'exclusive', 'earliest', consumer => 'c');
SELECT count(*) FROM pulsar.receive('deep', 'one', 10, consumer => 'c');
));
is( failure(q(SELECT count(*) FROM pulsar.receive('deep', 'two', 10, consumer => 'c'))),
	'53400 too many subscription cursors in use | Increase pulsar_pg.max_cursors and restart the server.',
	'a receive beyond max_cursors fails clearly');

$node->safe_psql('postgres',
	q(SELECT pulsar.delete_topic('deep', force => true); SELECT pulsar.create_topic('crowd');));
for my $c (1 .. 16)
{
	$node->safe_psql('postgres',
		qq(SELECT pulsar.subscribe('crowd', 'sub', 'shared', consumer => 'c$c');
		   SELECT count(*) FROM pulsar.receive('crowd', 'sub', 1, consumer => 'c$c')));
}
is( failure(
		q(SELECT pulsar.subscribe('crowd', 'sub', 'shared', consumer => 'c17');
		  SELECT count(*) FROM pulsar.receive('crowd', 'sub', 1, consumer => 'c17'))),
	'53400 too many consumers in use | Close consumers that are no longer used, or increase pulsar_pg.max_cursors and restart the server.',
	'a consumer beyond max_cursors fails clearly');

is( $node->safe_psql(
		'postgres', q(
CREATE TABLE plain (id int);
CREATE INDEX ON plain (id);
DO $$BEGIN PERFORM pg_advisory_lock(g) FROM generate_series(1, 1000) g; END$$;
SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
)),
	'1000',
	'PostgreSQL still has its shared memory: CREATE TABLE and 1000 advisory locks work'
);

##########################################################################
# DROP DATABASE
##########################################################################

$node->safe_psql(
	'postgres', q(
SELECT pulsar.delete_topic('crowd', force => true);
SELECT pulsar.delete_topic('kept');
CREATE DATABASE doomed;
));
is(usage(), $empty, 'the tables are empty again');

# the rate buckets of topics: beyond max_rate_limiters a send fails, before
# it holds anything
$node->safe_psql(
	'postgres', q(
SELECT pulsar.create_tenant('rl');
SELECT pulsar.create_namespace('rl/ns');
SELECT pulsar.set_publish_rate('rl/ns', 1000000000, NULL);
SELECT pulsar.create_topic('rl/ns/t' || g) FROM generate_series(1, 17) g;
SELECT count(pulsar.send('rl/ns/t' || g, 'r')) FROM generate_series(1, 16) g;
));
is( failure(q(SELECT pulsar.send('rl/ns/t17', 'r'))),
	'53400 too many rate-limited topics and subscriptions | Remove rates that are no longer needed, or increase pulsar_pg.max_rate_limiters and restart the server.',
	'a send beyond max_rate_limiters fails clearly');
is(usage(), 'consumers=0 cursors=0 partitions=16 rate_limits=16 reservations=0',
	'the rate table is full, and the refused send took no partition');
$node->safe_psql('postgres',
	q(SELECT pulsar.delete_topic('rl/ns/t' || g) FROM generate_series(1, 17) g));
is(usage(), $empty, 'the buckets go with their topics');
$node->safe_psql(
	'doomed', q(
CREATE EXTENSION pulsar_pg;
SELECT pulsar.create_topic('d', 3);
SELECT pulsar.subscribe('d', 'sub', 'exclusive', 'earliest', consumer => 'c');
SELECT pulsar.set_publish_rate('d', 1000000000, NULL);
SELECT count(*) FROM pulsar.send_batch('d', ARRAY['x', 'y', 'z'], keys => ARRAY['1', '2', '3']);
SELECT count(*) FROM pulsar.receive('d', 'sub', 10, consumer => 'c');
));
is(usage(), 'consumers=1 cursors=3 partitions=3 rate_limits=1 reservations=0',
	'another database fills the tables');
$node->safe_psql('postgres', 'DROP DATABASE doomed');
is(usage(), $empty, 'DROP DATABASE empties them');

##########################################################################
# No PANIC
##########################################################################

$node->safe_psql(
	'postgres', q(
SELECT pulsar.create_topic('t');
BEGIN;
SELECT pulsar.send('t', 'y');
DROP EXTENSION pulsar_pg CASCADE;
CREATE EXTENSION pulsar_pg;
ROLLBACK;
));
is( $node->safe_psql('postgres',
		q(SELECT string_agg(convert_from(payload, 'UTF8'), ' ') FROM pulsar.read('t', 'earliest', 10))),
	'',
	'after a rolled-back DROP and CREATE EXTENSION, the topic is back, without the rolled-back message'
);
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$postmaster, 'the server kept running');
ok(!$node->log_contains('PANIC'), 'nothing PANICked');
is(usage(), 'consumers=0 cursors=0 partitions=1 rate_limits=0 reservations=0',
	'the partition of the topic is tracked, and no reservation is left');

$node->stop;

done_testing();
