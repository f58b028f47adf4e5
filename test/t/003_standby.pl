#!/usr/bin/perl
#
# 003_standby.pl
#	  Streaming replication carries topics and messages (DESIGN invariant
#	  2).  A hot standby refuses to publish or create topics (read-only
#	  transaction, SQLSTATE 25006), and refuses to read: it cannot see which
#	  of the primary's transactions still hold positions, so it could skip
#	  messages.  After promotion it publishes, with entry ids above every
#	  replicated one, and reads every message the primary had committed.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pulsar_pg'");
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
# On the standby: no publishing, no topic creation, no reading
##########################################################################

# Runs SQL on the standby that must fail; returns its stderr (verbose).
sub standby_error
{
	my ($sql) = @_;
	my ($ret, $stdout, $stderr) = $standby->psql('postgres',
		"\\set VERBOSITY verbose\n$sql", on_error_stop => 1);
	isnt($ret, 0, "on the standby, fails: $sql");
	is($stdout, '', "on the standby, returns no data: $sql");
	return $stderr;
}

my $err = standby_error(q(SELECT pulsar.send('repl', 'on-standby')));
like($err, qr/ERROR:  25006: cannot execute pulsar\.send\(\) in a read-only transaction/,
	'send fails with a read-only transaction error (25006)');

$err = standby_error(q(SELECT pulsar.send('repl', 'on-standby'::bytea)));
like($err, qr/ERROR:  25006: .*read-only transaction/,
	'send of bytea fails with a read-only transaction error (25006)');

$err = standby_error(q(SELECT pulsar.send('repl_parts', 'keyed', key => 'k')));
like($err, qr/ERROR:  25006: .*read-only transaction/,
	'send to a partitioned topic fails with a read-only transaction error (25006)');

$err = standby_error(q(SELECT pulsar.send('not_yet_a_topic', 'x')));
like($err, qr/ERROR:  25006: .*read-only transaction/,
	'send that would auto-create a topic fails with a read-only transaction error (25006)');

$err = standby_error(
	q(SELECT * FROM pulsar.send_batch('repl', ARRAY['a', 'b'])));
like($err, qr/ERROR:  25006: cannot execute pulsar\.send_batch\(\) in a read-only transaction/,
	'send_batch fails with a read-only transaction error (25006)');

$err = standby_error(q(SELECT pulsar.create_topic('standby_topic')));
like($err, qr/ERROR:  25006: .*read-only transaction/,
	'create_topic fails with a read-only transaction error (25006)');

$err = standby_error(q(SELECT pulsar.create_topic('standby_parts', 3)));
like($err, qr/ERROR:  25006: .*read-only transaction/,
	'create_topic of a partitioned topic fails with a read-only transaction error (25006)');

$err = standby_error(q(SELECT * FROM pulsar.read('repl', 'earliest', 100)));
like($err, qr/ERROR:  0A000: cannot execute pulsar\.read\(\) during recovery/,
	'read fails clearly during recovery');
like($err,
	qr/DETAIL:  A standby cannot see which transactions on the primary still hold positions, so it could skip messages\./,
	'and says why');
like($err, qr/HINT:  Read from the primary\./, 'and what to do instead');

$err = standby_error(
	q(SELECT * FROM pulsar.read('repl_parts-partition-1', 'earliest', 100)));
like($err, qr/cannot execute pulsar\.read\(\) during recovery/,
	'read of a partition fails the same way');

$err = standby_error(
	qq(SELECT * FROM pulsar.read('repl', (SELECT l.ledger_id || ':3:-1' FROM pulsar.ledger l
		JOIN pulsar.topic t USING (topic_id) WHERE t.name = 'repl')::pulsar.message_id, 100)));
like($err, qr/cannot execute pulsar\.read\(\) during recovery/,
	'read from a message id fails the same way');

# nothing on the standby changed
is( $standby->safe_psql(
		'postgres', q(SELECT count(*) FROM pulsar.topic)),
	'3', 'no topic was created on the standby');

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

is( $standby->safe_psql('postgres',
		q(SELECT pulsar.entry_id(pulsar.send('repl', 'promoted-1')))),
	'31', 'a send after promotion gets the entry above the highest replicated one (the unfinished ones included)');
is( $standby->safe_psql('postgres',
		q(SELECT string_agg(pulsar.entry_id(id)::text, ',') FROM pulsar.send_batch('repl', ARRAY['promoted-2', 'promoted-3']) id)),
	'32,33', 'and send_batch the entries after it');
is( $standby->safe_psql('postgres',
		q(SELECT pulsar.entry_id(pulsar.send('repl_parts-partition-0', 'promoted-p0')))),
	'3', 'a partition continues above its replicated entries');
is( $standby->safe_psql('postgres',
		q(SELECT pulsar.entry_id(pulsar.send('repl_seg', 'promoted-seg')))),
	'40', 'a topic with many segments continues above its replicated entries');

# a reader that read on the old primary continues on the new one
my $ledger = $standby->safe_psql('postgres',
	q(SELECT pulsar.ledger_id(message_id) FROM pulsar.read('repl', 'earliest', 1)));
is( $standby->safe_psql(
		'postgres',
		qq(SELECT string_agg(pulsar.entry_id(message_id) || '=' || convert_from(payload, 'UTF8'), ',')
			 FROM pulsar.read('repl', '$ledger:24:-1', 100))),
	'27=after-gap,30=after-inflight,31=promoted-1,32=promoted-2,33=promoted-3',
	'a reader continues from a pre-promotion message id into new messages');

# new topics and open transactions work as on any primary
$standby->safe_psql('postgres', q(SELECT pulsar.create_topic('after_promotion')));
my $open = $standby->background_psql('postgres');
$open->query_safe('BEGIN');
is($open->query_safe(q(SELECT pulsar.entry_id(pulsar.send('repl', 'open')))),
	'34', 'a transaction on the promoted standby holds entry 34');
$standby->safe_psql('postgres', q(SELECT pulsar.send('repl', 'committed-after-open')));
is( $standby->safe_psql(
		'postgres',
		qq(SELECT count(*) FROM pulsar.read('repl', '$ledger:33:-1', 100))),
	'0', 'readers stop below the open transaction after promotion too');
$open->query_safe('COMMIT');
$open->quit;
is( $standby->safe_psql(
		'postgres',
		qq(SELECT string_agg(pulsar.entry_id(message_id) || '=' || convert_from(payload, 'UTF8'), ',')
			 FROM pulsar.read('repl', '$ledger:33:-1', 100))),
	'34=open,35=committed-after-open',
	'and read both once it committed');

$standby->stop;

done_testing();
