#!/usr/bin/perl
#
# 028_maintenance_idle.pl
#	  The maintenance pass runs a step only for the topics it has something
#	  to do for, picked for a whole batch in one query: idle topics (a
#	  subscription, messages in their open segment only, no compaction
#	  threshold) cost no transaction of their own.  A topic with full
#	  segments is trimmed, one with a compaction threshold is looked at
#	  for compaction.  The worker logs each pass at DEBUG1 with the number
#	  of steps it ran.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $topics = 300;

my $node = PostgreSQL::Test::Cluster->new('node');
$node->init;
$node->append_conf('postgresql.conf', q(
shared_preload_libraries = 'pulsar_pg'
pulsar_pg.maintenance_interval = '1h'
log_min_messages = debug1
));
$node->start;
$node->safe_psql(
	'postgres', qq(
CREATE EXTENSION pulsar_pg;
SET pulsar_pg.segment_entries = 16;
SELECT count(*) FROM generate_series(1, $topics) g,
	LATERAL pulsar.create_topic('idle' || g);
SELECT count(*) FROM generate_series(1, $topics) g,
	LATERAL pulsar.subscribe('idle' || g, 'sub', consumer => 'c');
SELECT count(*) FROM generate_series(1, $topics) g,
	LATERAL pulsar.send_batch('idle' || g, ARRAY['a', 'b', 'c']);
));

# the last pass line of the log after 'offset': (topics, steps run)
sub next_pass
{
	my ($offset) = @_;
	my ($topics_seen, $steps);
	$node->wait_for_log(qr/pulsar_pg maintenance pass: \d+ topics/, $offset);
	my $log = slurp_file($node->logfile, $offset);
	($topics_seen, $steps) =
	  $log =~ /pulsar_pg maintenance pass: (\d+) topics in .* (\d+) steps run/;
	return ($topics_seen, $steps);
}

sub pass_now
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres',
		q(ALTER SYSTEM SET pulsar_pg.maintenance_interval = '100ms'; SELECT pg_reload_conf();)
	);
	my @result = next_pass($offset);
	$node->safe_psql('postgres',
		q(ALTER SYSTEM SET pulsar_pg.maintenance_interval = '1h'; SELECT pg_reload_conf();)
	);
	return @result;
}

my ($seen, $steps) = pass_now();
is($seen, $topics, 'the pass walks every topic');
is($steps, 0, 'and runs no step for idle topics');

# 40 messages: segments 0 and 1 are full, the trim closes them
$node->safe_psql(
	'postgres', q(
SELECT count(*) FROM pulsar.send_batch('idle7', ARRAY(SELECT 'm' || g FROM generate_series(1, 40) g));
SELECT pulsar.set_compaction_threshold('idle9', 1000000);
));
($seen, $steps) = pass_now();
is($steps, 2, 'a trim for the topic with full segments, a compaction look for the one with a threshold');
is( $node->safe_psql(
		'postgres', q(
SELECT count(*) FROM pulsar.segment s JOIN pulsar.ledger l USING (ledger_id)
  JOIN pulsar.topic t USING (topic_id)
 WHERE t.name = 'idle7' AND s.closed_at IS NOT NULL)),
	'2',
	'its full segments are closed');

$node->stop;
done_testing();
