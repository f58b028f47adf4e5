#!/usr/bin/perl
#
# 018_exactly_once.pl
#	  Consume-process-ack in one transaction is exactly-once, whatever
#	  other consumers' transactions do, and nothing is left undeliverable
#	  (DESIGN invariant 6), on shared and key_shared subscriptions.
#
#	  One producer sends (5% of its transactions roll back) while four
#	  consumers loop: BEGIN; receive 10; log them in a table; ack them;
#	  COMMIT, with 5% of the transactions rolling back instead.  A consumer
#	  whose ack fails with serialization_failure (the message was
#	  delivered to another transaction while it held it) rolls back and
#	  tries again: that is allowed.  Both sides are pgbench clients with a
#	  fixed random seed.  Then the four consumers are closed and a fifth
#	  drains the subscription.  In the end every committed message is
#	  logged exactly once, no aborted one is, and the backlog is empty.
#
#	  Rolled-back receives move the subscription's read position back
#	  while other consumers hold, acknowledge and receive messages above
#	  it; this found messages handed out twice without a serialization
#	  failure, and messages left behind the read position for good.  The
#	  races behind it have their own isolation tests:
#	  receive_behind_ack.spec and receive_rewind.spec.
#
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# each workload runs for a fixed time: a loaded machine runs fewer
# transactions, not a longer test
my $duration = 12;
my $consumers = 4;
my $seed = 20261202;

my $node = PostgreSQL::Test::Cluster->new('exactly_once');
$node->init;
$node->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'pulsar_pg'
max_connections = 30
));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');

sub write_script
{
	my ($name, $text) = @_;
	my $file = $node->basedir . "/$name.sql";
	unlink $file;
	append_to_file($file, $text);
	return $file;
}

sub pgbench
{
	my ($clients, $file, $out, $err) = @_;
	return IPC::Run::start(
		[
			$node->installed_command('pgbench'), '-n',
			'-h', $node->host,
			'-p', $node->port,
			'-c', $clients,
			'-j', 1,
			'-T', $duration,
			'--random-seed', $seed,
			'--max-tries', 1000,
			'-f', $file,
			'postgres'
		],
		'>', $out,
		'2>', $err,
		IPC::Run::timeout(300));
}

for my $type ('shared', 'key_shared')
{
	my $topic = "eo_$type";

	$node->safe_psql(
		'postgres', qq(
SELECT pulsar.create_topic('$topic');
SELECT pulsar.subscribe('$topic', 'sub', '$type', 'earliest', consumer => 'c' || g)
  FROM generate_series(0, $consumers - 1) g;
CREATE TABLE ${topic}_sent (message_id text NOT NULL);
CREATE TABLE ${topic}_log (consumer text NOT NULL, message_id text NOT NULL);
));

	# the producer logs what it sends in the sending transaction
	my $produce = write_script(
		"produce_$type", qq{
\\set key random(1, 20)
\\set roll random(1, 100)
BEGIN;
INSERT INTO ${topic}_sent SELECT pulsar.send('$topic', 'x', key => 'k' || :key)::text;
\\if :roll <= 5
ROLLBACK;
\\else
COMMIT;
\\endif
});

	# consume-process-ack; pgbench retries a transaction that fails with
	# serialization_failure
	my $consume = write_script(
		"consume_$type", qq{
\\set roll random(1, 100)
BEGIN;
WITH r AS MATERIALIZED
       (SELECT message_id FROM pulsar.receive('$topic', 'sub', 10, consumer => 'c' || :client_id)),
     logged AS (INSERT INTO ${topic}_log SELECT 'c' || :client_id, message_id::text FROM r)
SELECT count(pulsar.ack('$topic', 'sub', message_id)) FROM r;
\\if :roll <= 5
ROLLBACK;
\\else
COMMIT;
\\endif
});

	my ($produce_out, $produce_err, $consume_out, $consume_err) =
	  ('', '', '', '');
	my $producer = pgbench(1, $produce, \$produce_out, \$produce_err);
	my $consuming =
	  pgbench($consumers, $consume, \$consume_out, \$consume_err);
	ok($producer->finish, "$type: the producer ran without errors")
	  or diag($produce_err);
	ok($consuming->finish, "$type: the consumers ran without errors")
	  or diag($consume_err);
	my ($consumed) = $consume_out =~ /number of transactions actually processed: (\d+)/;
	my ($retried) = $consume_out =~ /number of transactions retried: (\d+)/;
	note("$type: $consumed consuming transactions, "
		  . ($retried // 0)
		  . ' retried after serialization_failure');

	# the others leave; the drainer takes all keys
	$node->safe_psql(
		'postgres', qq(
SELECT pulsar.close_consumer('$topic', 'sub', 'c' || g)
  FROM generate_series(0, $consumers - 1) g;
SELECT pulsar.subscribe('$topic', 'sub', '$type', 'earliest', consumer => 'drain');
));
	my $drained = 0;
	for (;;)
	{
		my $got = $node->safe_psql(
			'postgres', qq(
WITH r AS MATERIALIZED
       (SELECT message_id FROM pulsar.receive('$topic', 'sub', 1000, consumer => 'drain')),
     logged AS (INSERT INTO ${topic}_log SELECT 'drain', message_id::text FROM r)
SELECT count(pulsar.ack('$topic', 'sub', message_id)) FROM r;
));
		last if $got == 0;
		$drained += $got;
	}
	note("$type: the drain got $drained messages");

	my $sent = $node->safe_psql('postgres', "SELECT count(*) FROM ${topic}_sent");
	cmp_ok($sent, '>', 100, "$type: the producer sent messages ($sent)");
	is( $node->safe_psql(
			'postgres', qq(
SELECT count(*) FROM (SELECT message_id FROM ${topic}_log
                       GROUP BY message_id HAVING count(*) > 1) twice)),
		'0',
		"$type: no committed message was processed twice");
	is( $node->safe_psql(
			'postgres', qq(
SELECT count(*) FROM ${topic}_sent s
 WHERE NOT EXISTS (SELECT FROM ${topic}_log l WHERE l.message_id = s.message_id))),
		'0',
		"$type: every committed message was processed");
	is( $node->safe_psql(
			'postgres', qq(
SELECT count(*) FROM ${topic}_log l
 WHERE NOT EXISTS (SELECT FROM ${topic}_sent s WHERE s.message_id = l.message_id))),
		'0',
		"$type: no rolled-back message was processed");
	is( $node->safe_psql(
			'postgres', qq(
SELECT (pulsar.topic_stats('$topic') -> 'subscriptions' -> 'sub' ->> 'msgBacklog')
    || ' ' || (SELECT count(*) FROM pulsar.pending))),
		'0 0',
		"$type: the backlog is empty and nothing is pending");
}

$node->stop;
done_testing();
