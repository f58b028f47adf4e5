#!/usr/bin/perl
#
# 027_maintenance_errors.pl
#	  Each step of the maintenance pass runs for each topic in a
#	  transaction of its own, inside an error boundary: a topic whose step
#	  fails is logged, with the step and the topic, and rolled back; the
#	  pass goes on with the other topics, and the worker goes on working.
#	  A retention policy whose value cannot be read (a time beyond bigint,
#	  written into the catalog by hand) makes one topic's trim fail.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('node');
$node->init;
$node->append_conf('postgresql.conf', q(
shared_preload_libraries = 'pulsar_pg'
pulsar_pg.maintenance_interval = '100ms'
));
$node->start;
$node->safe_psql(
	'postgres', q(
CREATE EXTENSION pulsar_pg;
SET pulsar_pg.segment_entries = 16;
SELECT pulsar.create_topic('broken');
SELECT pulsar.create_topic('fine');
INSERT INTO pulsar.policy (tenant, namespace, topic_id, name, value)
	SELECT 'public', 'default', topic_id, 'retention',
	       '{"retention_time": 1e30, "retention_size": 0}'
	  FROM pulsar.topic WHERE name = 'broken';
SELECT count(*) FROM pulsar.send_batch('broken', ARRAY(SELECT 'b' || g FROM generate_series(1, 40) g));
SELECT count(*) FROM pulsar.send_batch('fine', ARRAY(SELECT 'f' || g FROM generate_series(1, 40) g));
));
my $broken_id = $node->safe_psql('postgres',
	q(SELECT topic_id FROM pulsar.topic WHERE name = 'broken'));

my $stored = q(
SELECT count(*) FROM pulsar.segment s JOIN pulsar.ledger l USING (ledger_id)
  JOIN pulsar.topic t USING (topic_id)
 WHERE t.name = '%s' AND s.segment_no < 2);
ok($node->poll_query_until('postgres', sprintf($stored, 'fine'), '0'),
	'the pass trims a topic after one whose step fails');
is($node->safe_psql('postgres', sprintf($stored, 'broken')),
	'2', 'the failing topic keeps its segments');
ok( $node->log_contains(
		qr/ERROR:  bigint out of range\n.*CONTEXT:  maintenance step "trim" of topic $broken_id/),
	'the error is logged with its step and topic');

# the worker goes on: the topic is trimmed once its policy is readable
$node->safe_psql('postgres',
	q(SELECT pulsar.remove_policy('broken', 'retention')));
ok($node->poll_query_until('postgres', sprintf($stored, 'broken'), '0'),
	'a later pass trims it');

$node->stop;
done_testing();
