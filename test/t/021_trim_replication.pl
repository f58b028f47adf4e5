#!/usr/bin/perl
#
# 021_trim_replication.pl
#	  Trimming is WAL-logged DDL (DESIGN invariants 2, 4 and 8): the
#	  maintenance pass of the primary's worker drops whole segments that
#	  every subscription acknowledged, and a streaming standby loses the
#	  same segment tables and catalog rows; what it still holds it reads
#	  after promotion.  The promoted standby's own worker goes on trimming,
#	  and its entry ids continue above every replicated one.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', q(
shared_preload_libraries = 'pulsar_pg'
pulsar_pg.maintenance_interval = '100ms'
));
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

# segments of 16 entries: 100 messages fill segments 0 to 5
$primary->safe_psql(
	'postgres', q(
SET pulsar_pg.segment_entries = 16;
SELECT pulsar.create_topic('trimmed');
SELECT pulsar.subscribe('trimmed', 'sub', 'exclusive', 'earliest', consumer => 'c');
SELECT count(*) FROM pulsar.send_batch('trimmed',
	ARRAY(SELECT 'm' || g FROM generate_series(0, 99) g ORDER BY g));
));
# acknowledge 0..69: segments 0 to 3 (up to entry 63) may go
$primary->safe_psql(
	'postgres', q(
SELECT pulsar.ack_cumulative('trimmed', 'sub', message_id)
  FROM (SELECT message_id FROM pulsar.receive('trimmed', 'sub', 70, consumer => 'c')
        OFFSET 69) s;
));

my $segments = q(
SELECT string_agg(s.segment_no::text, ',' ORDER BY s.segment_no)
  FROM pulsar.segment s JOIN pulsar.ledger l USING (ledger_id)
  JOIN pulsar.topic t USING (topic_id)
 WHERE t.name = 'trimmed' AND (s.closed_at IS NOT NULL OR s.segment_no < 6)
);
my $tables = q(
SELECT string_agg(c.relname, ',' ORDER BY c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'pulsar_data' AND c.relkind = 'r'
);

ok( $primary->poll_query_until('postgres', $segments, '4,5'),
	'the worker trims the acknowledged segments');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $segments),
	'4,5', 'the standby has the same segments in the catalog');
is( $standby->safe_psql('postgres', $tables),
	$primary->safe_psql('postgres', $tables),
	'the standby has the same segment tables');

# the standby cannot trim: it is read-only
my ($ret, $stdout, $stderr) =
  $standby->psql('postgres', q(SELECT pulsar.trim_topic('trimmed')));
like($stderr, qr/cannot execute pulsar\.trim_topic\(\) in a read-only transaction/,
	'trim_topic fails on a standby');

$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'promotion did not finish';
$standby->append_conf('postgresql.conf', "pulsar_pg.maintenance_interval = '100ms'");
$standby->reload;

# what was not trimmed is read after promotion, from the first stored entry
is( $standby->safe_psql(
		'postgres', q(
SELECT string_agg(pulsar.entry_id(message_id)::text, ',')
  FROM pulsar.read('trimmed', 'earliest', 3))),
	'64,65,66',
	'a reader at earliest starts at the first stored entry');

# the promoted standby publishes above every replicated id, and trims
my $first_new = $standby->safe_psql(
	'postgres', q(
SELECT min(pulsar.entry_id(id)) FROM pulsar.send_batch('trimmed',
	ARRAY(SELECT 'n' || g FROM generate_series(1, 40) g ORDER BY g)) id));
cmp_ok($first_new, '>=', 100, 'ids continue above the replicated ones');
$standby->safe_psql(
	'postgres', q(
SELECT pulsar.subscribe('trimmed', 'sub', 'exclusive', consumer => 'c');
SELECT pulsar.ack_cumulative('trimmed', 'sub', message_id)
  FROM (SELECT message_id FROM pulsar.read('trimmed', 'earliest', 1000)
         ORDER BY message_id DESC LIMIT 1) s;
));
ok( $standby->poll_query_until(
		'postgres', q(
SELECT count(*) = 0 FROM pulsar.segment s JOIN pulsar.ledger l USING (ledger_id)
  JOIN pulsar.topic t USING (topic_id)
 WHERE t.name = 'trimmed' AND s.segment_no <= 5)),
	'the promoted standby goes on trimming');
is( $standby->safe_psql(
		'postgres', q(
SELECT (pulsar.topic_stats('trimmed')->'subscriptions'->'sub'->>'msgBacklog')::int)),
	'0', 'nothing is left in the backlog');

$standby->stop;
$primary->stop;
done_testing();
