#!/usr/bin/perl
#
# 003_standby.pl
#	  Streaming replication carries topics and messages (DESIGN invariant
#	  2).  On a hot standby every function of schema pulsar (all of them,
#	  found in pg_proc) either works as on the primary or fails with a
#	  read-only error (SQLSTATE 25006): it refuses to publish, to change
#	  subscriptions and to read, since it cannot see which of the primary's
#	  transactions still hold positions and could skip messages; nothing
#	  it returns would make a reader skip a message later.  After promotion
#	  it publishes, with entry ids above every replicated one (at or above
#	  each ledger's replicated high-water mark), and reads every message
#	  the primary had committed.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
# Topics without subscriptions are read whole on the standby: no
# maintenance pass may trim them meanwhile (standbys inherit the setting).
$primary->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pulsar_pg'\npulsar_pg.maintenance_interval = '1h'");
$primary->start;

$primary->safe_psql(
	'postgres', q(
CREATE EXTENSION pulsar_pg;
SELECT pulsar.create_topic('repl');
SELECT pulsar.create_topic('repl_parts', 2);
SELECT count(*) FROM pulsar.send_batch('repl',
	ARRAY(SELECT 'before-backup-' || g FROM generate_series(1, 5) g ORDER BY g));
));

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

# published after the backup: arrives by streaming
$primary->safe_psql(
	'postgres', q(
SELECT count(*) FROM pulsar.send_batch('repl',
	ARRAY(SELECT 'streamed-' || g FROM generate_series(1, 20) g ORDER BY g));
SELECT pulsar.send('repl_parts-partition-0', 'p0-' || g) FROM generate_series(1, 3) g;
SELECT pulsar.send('repl_parts-partition-1', 'p1-' || g) FROM generate_series(1, 4) g;
SELECT pulsar.subscribe('repl', 'stby', 'shared', 'earliest', consumer => 'c');
SELECT pulsar.subscribe('repl', 'stby_ex', 'exclusive', 'earliest', consumer => 'c');
SET pulsar_pg.segment_entries = 16;
SELECT pulsar.create_topic('repl_seg');
SELECT count(*) FROM pulsar.send_batch('repl_seg',
	ARRAY(SELECT 'seg-' || g FROM generate_series(1, 40) g ORDER BY g));
));
# a transaction that aborts on the primary leaves a gap at entries 25..26
$primary->safe_psql(
	'postgres', q(
BEGIN;
SELECT pulsar.send_batch('repl', ARRAY['aborted-1', 'aborted-2']);
ROLLBACK;
SELECT pulsar.send('repl', 'after-gap');
));
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

my $primary_repl = $primary->safe_psql('postgres',
	q(SELECT string_agg(convert_from(payload, 'UTF8'), ',') FROM pulsar.read('repl', 'earliest', 1000)));
my $highest = $primary->safe_psql('postgres',
	q(SELECT max(pulsar.entry_id(message_id)) FROM pulsar.read('repl', 'earliest', 1000)));
is($highest, '27', 'the primary has stored repl up to entry 27');

# A transaction still open on the primary when it fails: its rows reach the
# standby (a later commit streams its WAL), its commit never does.
my $inflight = $primary->background_psql('postgres');
$inflight->query_safe('BEGIN');
is( $inflight->query_safe(
		q(SELECT string_agg(pulsar.entry_id(id)::text, ',')
			FROM pulsar.send_batch('repl', ARRAY['inflight-1', 'inflight-2']) id)),
	'28,29', 'a transaction left open on the primary holds entries 28 and 29');
is( $primary->safe_psql('postgres',
		q(SELECT pulsar.entry_id(pulsar.send('repl', 'after-inflight')))),
	'30', 'a later one commits entry 30');
is( $primary->safe_psql(
		'postgres',
		q(SELECT count(*) FROM pulsar.read('repl', 'earliest', 1000)
		   WHERE pulsar.entry_id(message_id) > 27)),
	'0', 'on the primary, readers stop below the open transaction');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'the standby is in recovery');
is( $standby->safe_psql(
		'postgres',
		q(SELECT string_agg(t.name || ':' || t.partitions, ',' ORDER BY t.name) FROM pulsar.topic t)),
	'repl:0,repl_parts:2,repl_seg:0',
	'the topic catalog is replicated');
is( $standby->safe_psql(
		'postgres',
		q(SELECT count(*) FROM pulsar.segment s JOIN pulsar.ledger l USING (ledger_id)
			JOIN pulsar.topic t USING (topic_id) WHERE t.name = 'repl_seg')),
	$primary->safe_psql(
		'postgres',
		q(SELECT count(*) FROM pulsar.segment s JOIN pulsar.ledger l USING (ledger_id)
			JOIN pulsar.topic t USING (topic_id) WHERE t.name = 'repl_seg')),
	'the segments are replicated');

##########################################################################
# On the standby: every function of schema pulsar works or refuses
##########################################################################

# Each function of schema pulsar, found in pg_proc, so that a new one
# cannot be forgotten here, is called on the standby; what it must do:
#   same  works, and returns what it returns on the primary
#   25006 fails with a read-only error (SQLSTATE 25006): it would write,
#         or it reads up to a max read position, which a standby cannot
#         know (it cannot see which primary transactions hold positions)
#   stats either fails with 25006, or returns what the primary returns:
#         a lastConfirmedEntry above the primary's max read position would
#         make a reader that starts after it skip the messages of the
#         transaction still open there
# Stats calls go to repl (with the open transaction) and repl_parts (whose
# partition 0 gets more messages before the promotion, so that positions
# a standby computed and kept would be stale).
my $ledger_repl = $primary->safe_psql('postgres',
	q(SELECT l.ledger_id FROM pulsar.ledger l JOIN pulsar.topic t USING (topic_id) WHERE t.name = 'repl'));
my $id = "'$ledger_repl:3:-1'::pulsar.message_id";
my $id2 = "'$ledger_repl:5:-1'::pulsar.message_id";
my %calls = (
	'pulsar.ack(text,text,pulsar.message_id)' =>
	  [ 25006, "SELECT pulsar.ack('repl', 'stby', $id)" ],
	'pulsar.ack(text,text,pulsar.message_id[])' =>
	  [ 25006, "SELECT pulsar.ack('repl', 'stby', ARRAY[$id])" ],
	'pulsar.ack(text,text,text)' =>
	  [ 25006, "SELECT pulsar.ack('repl', 'stby', '$ledger_repl:3:-1')" ],
	'pulsar.ack_cumulative(text,text,pulsar.message_id)' =>
	  [ 25006, "SELECT pulsar.ack_cumulative('repl', 'stby_ex', $id)" ],
	'pulsar.channel(text,text)' =>
	  [ 'same', "SELECT pulsar.channel('repl', 'stby')" ],
	'pulsar.close_consumer(text,text,text)' =>
	  [ 25006, "SELECT pulsar.close_consumer('repl', 'stby', 'c')" ],
	'pulsar.create_namespace(text)' =>
	  [ 25006, "SELECT pulsar.create_namespace('public/standby')" ],
	'pulsar.create_tenant(text)' =>
	  [ 25006, "SELECT pulsar.create_tenant('standby')" ],
	'pulsar.create_topic(text,integer)' =>
	  [ 25006, "SELECT pulsar.create_topic('standby_parts', 3)" ],
	'pulsar.delete_topic(text,boolean)' =>
	  [ 25006, "SELECT pulsar.delete_topic('repl_seg', true)" ],
	'pulsar.entry_id(pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.entry_id($id)" ],
	'pulsar.ledger_id(pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.ledger_id($id)" ],
	'pulsar.partition_index(pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.partition_index($id)" ],
	'pulsar.max(pulsar.message_id)' => [
		'same',
		"SELECT pulsar.max(m) FROM (VALUES ($id), ($id2)) v(m)"
	],
	'pulsar.min(pulsar.message_id)' => [
		'same',
		"SELECT pulsar.min(m) FROM (VALUES ($id), ($id2)) v(m)"
	],
	'pulsar.message_id_cmp(pulsar.message_id,pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.message_id_cmp($id, $id2)" ],
	'pulsar.message_id_eq(pulsar.message_id,pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.message_id_eq($id, $id)" ],
	'pulsar.message_id_ge(pulsar.message_id,pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.message_id_ge($id, $id2)" ],
	'pulsar.message_id_gt(pulsar.message_id,pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.message_id_gt($id2, $id)" ],
	'pulsar.message_id_hash(pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.message_id_hash($id)" ],
	'pulsar.message_id_in(cstring)' =>
	  [ 'same', "SELECT pulsar.message_id_in('7:8:9')::text" ],
	'pulsar.message_id_larger(pulsar.message_id,pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.message_id_larger($id, $id2)" ],
	'pulsar.message_id_le(pulsar.message_id,pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.message_id_le($id, $id2)" ],
	'pulsar.message_id_lt(pulsar.message_id,pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.message_id_lt($id2, $id)" ],
	'pulsar.message_id_ne(pulsar.message_id,pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.message_id_ne($id, $id2)" ],
	'pulsar.message_id_out(pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.message_id_out('7:8:9')" ],
	# binary input is reachable only through the protocol (a standby cannot
	# COPY into a table): immutable, so the same everywhere
	'pulsar.message_id_recv(internal)' => [
		'same',
		q(SELECT provolatile FROM pg_proc WHERE oid = 'pulsar.message_id_recv(internal)'::regprocedure)
	],
	'pulsar.message_id_send(pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.message_id_send('7:8:9')" ],
	'pulsar.message_id_smaller(pulsar.message_id,pulsar.message_id)' =>
	  [ 'same', "SELECT pulsar.message_id_smaller($id, $id2)" ],
	'pulsar.nack(text,text,pulsar.message_id[])' =>
	  [ 25006, "SELECT pulsar.nack('repl', 'stby', ARRAY[$id])" ],
	'pulsar.list_topics(text)' =>
	  [ 'same', "SELECT * FROM pulsar.list_topics('public/default')" ],
	'pulsar.partition_for_key(text,integer)' =>
	  [ 'same', "SELECT pulsar.partition_for_key('customer-7', 5)" ],
	'pulsar.read(text,pulsar.message_id,integer,boolean)' =>
	  [ 25006, "SELECT * FROM pulsar.read('repl', 'earliest', 100)" ],
	'pulsar.receive(text,text,integer,interval,text)' => [
		25006,
		"SELECT * FROM pulsar.receive('repl', 'stby', 10, consumer => 'c')"
	],
	'pulsar.seek(text,text,pulsar.message_id)' =>
	  [ 25006, "SELECT pulsar.seek('repl', 'stby', $id)" ],
	'pulsar.seek(text,text,text)' =>
	  [ 25006, "SELECT pulsar.seek('repl', 'stby', 'earliest')" ],
	'pulsar.seek(text,text,timestamp with time zone)' =>
	  [ 25006, "SELECT pulsar.seek('repl', 'stby', now())" ],
	'pulsar.send(text,bytea,text,jsonb,timestamp with time zone,timestamp with time zone,text,bigint,interval)'
	  => [ 25006, "SELECT pulsar.send('repl', 'on-standby'::bytea)" ],
	'pulsar.send(text,jsonb,text,jsonb,timestamp with time zone,timestamp with time zone,text,bigint,interval)'
	  => [ 25006, "SELECT pulsar.send('repl_parts', '{}'::jsonb, key => 'k')" ],
	'pulsar.send(text,text,text,jsonb,timestamp with time zone,timestamp with time zone,text,bigint,interval)'
	  => [ 25006, "SELECT pulsar.send('not_yet_a_topic', 'would auto-create')" ],
	'pulsar.send_batch(text,bytea[],text[],jsonb[],timestamp with time zone[],timestamp with time zone,text,bigint[],interval)'
	  => [ 25006, "SELECT * FROM pulsar.send_batch('repl', ARRAY['a'::bytea])" ],
	'pulsar.send_batch(text,jsonb[],text[],jsonb[],timestamp with time zone[],timestamp with time zone,text,bigint[],interval)'
	  => [ 25006, "SELECT * FROM pulsar.send_batch('repl', ARRAY['{}'::jsonb])" ],
	'pulsar.send_batch(text,text[],text[],jsonb[],timestamp with time zone[],timestamp with time zone,text,bigint[],interval)'
	  => [ 25006, "SELECT * FROM pulsar.send_batch('repl', ARRAY['a', 'b'])" ],
	'pulsar.set_retention(text,interval,bigint)' =>
	  [ 25006, "SELECT pulsar.set_retention('public/default', NULL, NULL)" ],
	'pulsar.set_message_ttl(text,interval)' =>
	  [ 25006, "SELECT pulsar.set_message_ttl('repl', '1 hour')" ],
	'pulsar.set_backlog_quota(text,bigint,interval,text)' =>
	  [ 25006, "SELECT pulsar.set_backlog_quota('public/default', 1000, NULL)" ],
	'pulsar.set_subscription_expiration_time(text,interval)' =>
	  [ 25006, "SELECT pulsar.set_subscription_expiration_time('public/default', '1 day')" ],
	'pulsar.set_inactive_topic_policies(text,boolean,interval,text)' => [
		25006,
		"SELECT pulsar.set_inactive_topic_policies('public/default', true, '1 h', 'delete_when_no_subscriptions')"
	],
	'pulsar.set_compaction_threshold(text,bigint)' =>
	  [ 25006, "SELECT pulsar.set_compaction_threshold('repl', 1000)" ],
	'pulsar.remove_policy(text,text)' =>
	  [ 25006, "SELECT pulsar.remove_policy('repl', 'retention')" ],
	'pulsar.get_policies(text)' =>
	  [ 'same', "SELECT pulsar.get_policies('repl')" ],
	'pulsar.policy_default(text)' =>
	  [ 'same', "SELECT pulsar.policy_default('backlog_quota')" ],
	'pulsar.effective_policy(bigint,text)' => [
		'same',
		"SELECT pulsar.effective_policy(topic_id, 'retention') FROM pulsar.topic WHERE name = 'repl'"
	],
	'pulsar.set_deduplication(text,boolean)' =>
	  [ 25006, "SELECT pulsar.set_deduplication('public/default', true)" ],
	'pulsar.set_max_topics_per_namespace(text,integer)' =>
	  [ 25006, "SELECT pulsar.set_max_topics_per_namespace('public/default', 10)" ],
	'pulsar.set_max_subscriptions_per_topic(text,integer)' =>
	  [ 25006, "SELECT pulsar.set_max_subscriptions_per_topic('repl', 10)" ],
	'pulsar.set_max_consumers_per_topic(text,integer)' =>
	  [ 25006, "SELECT pulsar.set_max_consumers_per_topic('repl', 10)" ],
	'pulsar.set_max_consumers_per_subscription(text,integer)' =>
	  [ 25006, "SELECT pulsar.set_max_consumers_per_subscription('repl', 10)" ],
	'pulsar.set_max_unacked_messages_per_subscription(text,integer)' => [
		25006,
		"SELECT pulsar.set_max_unacked_messages_per_subscription('repl', 10)"
	],
	'pulsar.set_publish_rate(text,bigint,bigint)' =>
	  [ 25006, "SELECT pulsar.set_publish_rate('repl', 10, NULL)" ],
	'pulsar.set_dispatch_rate(text,bigint,bigint)' =>
	  [ 25006, "SELECT pulsar.set_dispatch_rate('repl', 10, NULL)" ],
	'pulsar.subscribe(text,text,text,text,text,integer,interval,interval,integer,text,integer,boolean)'
	  => [ 25006, "SELECT pulsar.subscribe('repl', 'stby2')" ],
	'pulsar.compact(text)' => [ 25006, "SELECT pulsar.compact('repl')" ],
	'pulsar.compaction_status(text)' =>
	  [ 'same', "SELECT pulsar.compaction_status('repl')" ],
	'pulsar.compaction_step()' => [ 25006, "SELECT pulsar.compaction_step()" ],
	'pulsar.trim_topic(text)' => [ 25006, "SELECT pulsar.trim_topic('repl')" ],
	'pulsar.expire_messages(text,text,interval)' =>
	  [ 25006, "SELECT pulsar.expire_messages('repl', 'sub', '0')" ],
	'pulsar.apply_expiry_policies(text,timestamp with time zone)' =>
	  [ 25006, "SELECT pulsar.apply_expiry_policies()" ],
	'pulsar.topic_internal_stats(text)' =>
	  [ 'stats', "SELECT pulsar.topic_internal_stats('repl')" ],
	'pulsar.shared_memory_usage()' =>
	  [ 'same', "SELECT area, max_entries FROM pulsar.shared_memory_usage()" ],
	'pulsar.topic_stats(text)' =>
	  [ 'stats', "SELECT pulsar.topic_stats('repl_parts') - 'msgRateIn' - 'msgRateOut'" ],
	'pulsar.unsubscribe(text,text)' =>
	  [ 25006, "SELECT pulsar.unsubscribe('repl', 'stby')" ],
	'pulsar.create_tenant(text,text[])' =>
	  [ 25006, "SELECT pulsar.create_tenant('on_standby', '{}')" ],
	'pulsar.update_tenant(text,text[])' =>
	  [ 25006, "SELECT pulsar.update_tenant('public', '{}')" ],
	'pulsar.list_tenants()' =>
	  [ 'same', "SELECT * FROM pulsar.list_tenants()" ],
	'pulsar.grant_permission(text,name,text[])' => [
		25006,
		"SELECT pulsar.grant_permission('public/default', 'public', '{produce}')"
	],
	'pulsar.revoke_permission(text,name)' =>
	  [ 25006, "SELECT pulsar.revoke_permission('public/default', 'public')" ],
	'pulsar.get_permissions(text)' =>
	  [ 'same', "SELECT * FROM pulsar.get_permissions('public/default')" ],
	'pulsar.grant_subscription_permission(text,text,name[])' => [
		25006,
		"SELECT pulsar.grant_subscription_permission('public/default', 's', '{public}')"
	],
	'pulsar.revoke_subscription_permission(text,text,name)' => [
		25006,
		"SELECT pulsar.revoke_subscription_permission('public/default', 's', 'public')"
	],
	'pulsar.get_subscription_permissions(text)' => [
		'same',
		"SELECT * FROM pulsar.get_subscription_permissions('public/default')"
	],
);

my @functions = split /\n/,
  $standby->safe_psql('postgres',
	q(SELECT oid::regprocedure FROM pg_proc WHERE pronamespace = 'pulsar'::regnamespace ORDER BY 1));
cmp_ok(scalar(@functions), '>=', 40, 'schema pulsar has its functions on the standby');
my @unlisted = grep { !$calls{$_} } @functions;
is(join(', ', @unlisted), '', 'this test calls every function of schema pulsar');

for my $function (@functions)
{
	my ($expect, $sql) = @{ $calls{$function} // next };
	my ($ret, $stdout, $stderr) = $standby->psql('postgres',
		"\\set VERBOSITY verbose\n$sql", on_error_stop => 1);
	my ($code) = $stderr =~ /ERROR:  ([0-9A-Z]{5}):/;
	$code //= '';
	if ($expect eq '25006' || ($expect eq 'stats' && $ret != 0))
	{
		is($code, '25006', "on the standby, $function fails with a read-only error")
		  or diag "got: $stderr";
		is($stdout, '', "on the standby, $function returns no data");
	}
	else
	{
		is($ret, 0, "on the standby, $function works") or diag $stderr;
		is($stdout, $primary->safe_psql('postgres', $sql),
			"on the standby, $function returns what it returns on the primary");
	}
}

# the error says which function and why
my ($ret, $stdout, $err) = $standby->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT pulsar.send('repl', 'on-standby')",
	on_error_stop => 1);
like($err, qr/ERROR:  25006: cannot execute pulsar\.send\(\) in a read-only transaction/,
	'send names itself in its read-only error');
($ret, $stdout, $err) = $standby->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT * FROM pulsar.read('repl', 'earliest', 100)",
	on_error_stop => 1);
like($err, qr/ERROR:  [0-9A-Z]{5}: cannot execute pulsar\.read\(\) during recovery/,
	'read names itself in its error during recovery');
like($err,
	qr/DETAIL:  A standby cannot see which transactions on the primary still hold positions, so it could skip messages\./,
	'and says why');
like($err, qr/HINT:  Read from the primary\./, 'and what to do instead');

# nothing on the standby changed
is( $standby->safe_psql(
		'postgres', q(SELECT count(*) FROM pulsar.topic)),
	'3', 'no topic was created on the standby');

# more messages reach the standby after those calls
$primary->safe_psql('postgres',
	q(SELECT pulsar.send('repl_parts-partition-0', 'late-' || g) FROM generate_series(1, 3) g));
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

##########################################################################
# Promotion
##########################################################################

# The primary fails with the transaction open; the standby has all the
# rest.
$primary->stop('immediate');
$inflight->quit;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'timed out waiting for the promotion';

is( $standby->safe_psql(
		'postgres',
		q(SELECT string_agg(convert_from(payload, 'UTF8'), ',') FROM pulsar.read('repl', 'earliest', 1000))),
	"$primary_repl,after-inflight",
	'the promoted standby reads every message committed on the primary, and none of the aborted or unfinished ones');
like($primary_repl, qr/^before-backup-1,.*,streamed-20,after-gap$/,
	'(those are the messages sent before and after the backup)');
unlike($primary_repl, qr/aborted/, '(and not the aborted ones)');
is( $standby->safe_psql(
		'postgres',
		q(SELECT string_agg(pulsar.entry_id(message_id) || '=' || convert_from(payload, 'UTF8'), ',')
			FROM pulsar.read('repl_parts-partition-1', 'earliest', 1000))),
	'0=p1-1,1=p1-2,2=p1-3,3=p1-4',
	'partitions are read on the promoted standby');
is( $standby->safe_psql(
		'postgres',
		q(SELECT count(*) || ' ' || min(pulsar.entry_id(message_id)) || ' ' || max(pulsar.entry_id(message_id))
			FROM pulsar.read('repl_seg', 'earliest', 1000))),
	'40 0 39', 'messages across many segments are read on the promoted standby');

# New ids continue above every id the primary handed out: at or above the
# logged high-water mark of each ledger, so possibly with a gap.
my $promoted = $standby->safe_psql('postgres',
	q(SELECT pulsar.entry_id(pulsar.send('repl', 'promoted-1'))));
cmp_ok($promoted, '>', 30,
	'a send after promotion gets an entry above the highest replicated one (the unfinished ones included)');
is( $standby->safe_psql('postgres',
		q(SELECT string_agg(pulsar.entry_id(id)::text, ',') FROM pulsar.send_batch('repl', ARRAY['promoted-2', 'promoted-3']) id)),
	($promoted + 1) . ',' . ($promoted + 2), 'and send_batch the entries after it');
cmp_ok(
	$standby->safe_psql('postgres',
		q(SELECT pulsar.entry_id(pulsar.send('repl_parts-partition-0', 'promoted-p0')))),
	'>', 5,
	'a partition continues above its replicated entries, also those replicated after stats calls on the standby');
cmp_ok(
	$standby->safe_psql('postgres',
		q(SELECT pulsar.entry_id(pulsar.send('repl_seg', 'promoted-seg')))),
	'>', 39, 'a topic with many segments continues above its replicated entries');

# a reader that read on the old primary continues on the new one
my $ledger = $standby->safe_psql('postgres',
	q(SELECT pulsar.ledger_id(message_id) FROM pulsar.read('repl', 'earliest', 1)));
my $last = $promoted + 2;
is( $standby->safe_psql(
		'postgres',
		qq(SELECT string_agg(pulsar.entry_id(message_id) || '=' || convert_from(payload, 'UTF8'), ',')
			 FROM pulsar.read('repl', '$ledger:24:-1', 100))),
	"27=after-gap,30=after-inflight,$promoted=promoted-1,"
	  . ($promoted + 1)
	  . "=promoted-2,$last=promoted-3",
	'a reader continues from a pre-promotion message id into new messages');

# new topics and open transactions work as on any primary
$standby->safe_psql('postgres', q(SELECT pulsar.create_topic('after_promotion')));
my $open = $standby->background_psql('postgres');
$open->query_safe('BEGIN');
is($open->query_safe(q(SELECT pulsar.entry_id(pulsar.send('repl', 'open')))),
	$last + 1, 'a transaction on the promoted standby holds the next entry');
$standby->safe_psql('postgres', q(SELECT pulsar.send('repl', 'committed-after-open')));
is( $standby->safe_psql(
		'postgres',
		qq(SELECT count(*) FROM pulsar.read('repl', '$ledger:$last:-1', 100))),
	'0', 'readers stop below the open transaction after promotion too');
$open->query_safe('COMMIT');
$open->quit;
is( $standby->safe_psql(
		'postgres',
		qq(SELECT string_agg(pulsar.entry_id(message_id) || '=' || convert_from(payload, 'UTF8'), ',')
			 FROM pulsar.read('repl', '$ledger:$last:-1', 100))),
	($last + 1) . '=open,' . ($last + 2) . '=committed-after-open',
	'and read both once it committed');

$standby->stop;

done_testing();
