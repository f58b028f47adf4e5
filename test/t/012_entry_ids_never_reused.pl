#!/usr/bin/perl
#
# 012_entry_ids_never_reused.pl
#	  DESIGN invariant 0: after a restart, a crash or a promotion, and
#	  whatever VACUUM removed, every new entry id is above every id ever
#	  handed out.
#
#	  The scenario, on a topic each time: a committed send (entry 0), a
#	  rolled-back send_batch (its entries become a gap), an exclusive
#	  subscription that receives the first message and acknowledges it,
#	  so that its mark-delete position moves through the gap; VACUUM then
#	  removes the gap's dead tuples, as autovacuum would.  Rebuilt from
#	  the stored rows alone, the partition would hand out the gap's ids
#	  again: the next message would sit below the mark-delete position,
#	  readable by pulsar.read() but never delivered to the subscription.
#
#	  Three times: a clean restart, an immediate shutdown (crash
#	  recovery), and the promotion of a streaming standby.  The last uses
#	  a rolled-back batch larger than the distance the ledger's mark is
#	  logged ahead, so the rolled-back transaction itself logged the mark.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('ids');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pulsar_pg'\nautovacuum = off");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');

# the scenario up to VACUUM; returns the last entry of the gap
sub leave_acknowledged_gap
{
	my ($server, $topic, $gap) = @_;

	$server->safe_psql('postgres',
		qq(SELECT pulsar.subscribe('$topic', 'sub', 'exclusive', 'earliest', consumer => 'c')));
	my $first = $server->safe_psql('postgres', qq(SELECT pulsar.send('$topic', 'm1')));
	my ($ledger) = $first =~ /^(\d+):0:-1$/;
	ok($ledger, "$topic: the first message is entry 0");
	$server->safe_psql(
		'postgres', qq(
BEGIN;
SELECT count(*) FROM pulsar.send_batch('$topic',
	ARRAY(SELECT 'rolled-back-' || g FROM generate_series(1, $gap) g));
ROLLBACK;
));
	is( $server->safe_psql(
			'postgres', qq(
SELECT string_agg(convert_from(payload, 'UTF8'), ' ')
  FROM pulsar.receive('$topic', 'sub', 100, consumer => 'c');
)),
		'm1',
		"$topic: the subscription receives the committed message");
	$server->safe_psql('postgres',
		qq(SELECT pulsar.ack('$topic', 'sub', '$first'::pulsar.message_id)));
	is( $server->safe_psql(
			'postgres',
			qq(SELECT pulsar.topic_internal_stats('$topic')->'cursors'->'sub'->>'markDeletePosition')
		),
		"$ledger:$gap",
		"$topic: its mark-delete position moved through the gap");
	$server->safe_psql('postgres',
		"VACUUM pulsar_data.ledger_${ledger}_0");
	return $gap;
}

# after the server came back: a new message gets an id above the gap and
# reaches the subscription
sub check_new_message
{
	my ($server, $topic, $gap, $when) = @_;

	my $message_id = $server->safe_psql('postgres',
		qq(SELECT pulsar.send('$topic', 'm2')));
	my ($id) = $message_id =~ /^\d+:(\d+):-1$/;
	cmp_ok($id, '>', $gap,
		"$topic: after $when, a new send gets an entry above the gap's ($gap)");
	$server->safe_psql('postgres',
		qq(SELECT pulsar.subscribe('$topic', 'sub', 'exclusive', consumer => 'c')));
	is( $server->safe_psql(
			'postgres', qq(
SELECT string_agg(pulsar.entry_id(message_id) || '=' || convert_from(payload, 'UTF8'), ' ')
  FROM pulsar.receive('$topic', 'sub', 100, consumer => 'c');
)),
		"$id=m2",
		"$topic: after $when, the subscription receives the new message");
	$server->safe_psql('postgres',
		qq(SELECT pulsar.ack('$topic', 'sub', '$message_id'::pulsar.message_id)));
	is( $server->safe_psql(
			'postgres',
			qq(SELECT pulsar.topic_internal_stats('$topic')->'cursors'->'sub'->>'msgBacklog')),
		'0',
		"$topic: after $when, nothing is left in its backlog once acknowledged");
}

##########################################################################
# Clean restart
##########################################################################

my $gap = leave_acknowledged_gap($node, 'restarted', 10);
$node->restart;
check_new_message($node, 'restarted', $gap, 'a restart');

##########################################################################
# Immediate shutdown: crash recovery replays the mark
##########################################################################

$gap = leave_acknowledged_gap($node, 'crashed', 10);
$node->stop('immediate');
$node->start;
ok( $node->log_contains(
		'database system was interrupted|database system was not properly shut down'
	),
	'the server went through crash recovery');
check_new_message($node, 'crashed', $gap, 'a crash');

##########################################################################
# Promotion of a streaming standby: the mark is replicated
##########################################################################

$node->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('ids_standby');
$standby->init_from_backup($node, 'backup', has_streaming => 1);
$standby->start;

$gap = leave_acknowledged_gap($node, 'promoted', 600);
$node->wait_for_catchup($standby);
$node->stop;
$standby->promote;
check_new_message($standby, 'promoted', $gap, 'a promotion');

$standby->stop;

done_testing();
