#!/usr/bin/perl
#
# 011_notify.pl
#	  The worker wakes consumers (DESIGN invariant 3): one NOTIFY per
#	  subscription channel when messages are published, when delayed
#	  messages and nack redeliveries fall due, and when a consumer leaves;
#	  publishers never take the notification queue's lock, and an idle
#	  listener does not fill the queue.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('node');
# wal senders: a commit may then wait for a synchronous standby (below)
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pulsar_pg'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pulsar_pg worker'"
) or die 'no worker';

# Waits until $session has received a notification on $channel; returns its
# payloads (in order) or an empty list on timeout.  psql prints
# notifications after each command.
sub notifications
{
	my ($session, $channel, $timeout) = @_;
	my @payloads;
	my $deadline = time + ($timeout // 30);
	while (time < $deadline)
	{
		my $out = $session->query_safe('SELECT 1');
		while ($out =~
			/Asynchronous notification "\Q$channel\E" with payload "([^"]*)"/g)
		{
			push @payloads, $1;
		}
		return @payloads if @payloads;
		usleep(20_000);
	}
	return @payloads;
}

sub drain
{
	my ($session) = @_;
	$session->query_safe('SELECT 1');
}

$node->safe_psql('postgres', q{SELECT pulsar.create_topic('news')});
my $ex_channel = $node->safe_psql('postgres',
	q{SELECT pulsar.subscribe('news', 'ex', consumer => 'c-ex')});
my $sh_channel = $node->safe_psql('postgres',
	q{SELECT pulsar.subscribe('news', 'sh', 'shared', consumer => 'c-sh', negative_ack_delay => '500 ms')});
is( $node->safe_psql('postgres', q{SELECT pulsar.channel('news', 'sh')}),
	$sh_channel, 'pulsar.channel() names the channel subscribe returned');
like($sh_channel, qr/^[a-z_][a-z0-9_]{0,62}$/,
	'the channel is a valid identifier of at most 63 bytes');

my $listener = $node->background_psql('postgres');
$listener->query_safe("LISTEN $ex_channel; LISTEN $sh_channel;");

# a publish notifies every subscription of the topic, with topic and id
my $id = $node->safe_psql('postgres', q{SELECT pulsar.send('news', 'one')});
my @got = notifications($listener, $ex_channel);
is_deeply(\@got, ["persistent://public/default/news $id"],
	'a publish notifies the exclusive subscription with topic and id');
@got = notifications($listener, $sh_channel, 1);
drain($listener);

# one transaction publishing many messages: one notification per channel
$id = $node->safe_psql('postgres',
	q{SELECT (array_agg(id ORDER BY g DESC))[1]
		FROM (SELECT g, pulsar.send('news', 'm' || g) AS id
				FROM generate_series(1, 101) g) s});
sleep(1);
my $out = $listener->query_safe('SELECT 1');
my @ex = ($out =~ /notification "\Q$ex_channel\E" with payload "([^"]*)"/g);
my @sh = ($out =~ /notification "\Q$sh_channel\E" with payload "([^"]*)"/g);
is(scalar(@ex), 1, 'one notification for 101 messages of one transaction');
is($ex[0], "persistent://public/default/news $id",
	'carrying the newest message id');
is(scalar(@sh), 1, 'and one on the other subscription');

# the publishing transaction never notifies: nothing before its commit
$node->safe_psql('postgres',
	q{SELECT count(*) FROM pulsar.receive('news', 'ex', 1000, consumer => 'c-ex');
	  SELECT count(*) FROM pulsar.receive('news', 'sh', 1000, consumer => 'c-sh');}
);
drain($listener);
my $publisher = $node->background_psql('postgres');
$publisher->query_safe(q{BEGIN; SELECT pulsar.send('news', 'open')});
usleep(300_000);
@got = notifications($listener, $ex_channel, 0.3);
is(scalar(@got), 0, 'no notification while the publishing transaction is open');
$publisher->query_safe('COMMIT');
@got = notifications($listener, $ex_channel);
is(scalar(@got), 1, 'a notification once it commits');
drain($listener);

# nack: notified when the redelivery falls due
$node->safe_psql('postgres',
	q{SELECT count(*) FROM pulsar.receive('news', 'ex', 1000, consumer => 'c-ex');
	  SELECT count(*) FROM pulsar.receive('news', 'sh', 1000, consumer => 'c-sh');}
);
my $nacked = $node->safe_psql('postgres',
	q{SELECT message_id FROM pulsar.receive('news', 'sh', 1, consumer => 'c-sh')});
is($nacked, '', 'the shared subscription had nothing left');
$id = $node->safe_psql('postgres', q{SELECT pulsar.send('news', 'to nack')});
@got = notifications($listener, $sh_channel);
$nacked = $node->safe_psql('postgres',
	q{SELECT message_id FROM pulsar.receive('news', 'sh', 1, consumer => 'c-sh')});
is($nacked, $id, 'received the message to nack');
drain($listener);
my $nacked_at = time;
$node->safe_psql('postgres',
	"SELECT pulsar.nack('news', 'sh', ARRAY['$nacked'::pulsar.message_id])");
@got = notifications($listener, $sh_channel, 10);
my $waited = time - $nacked_at;
is_deeply(\@got, ['persistent://public/default/news'],
	'a nack redelivery falling due is notified');
cmp_ok($waited, '>=', 0.45, 'not before the negative-ack delay');
note(sprintf('nack notified %.3f s after nack (delay 0.5 s)', $waited));
is( $node->safe_psql(
		'postgres',
		q{SELECT redelivery_count FROM pulsar.receive('news', 'sh', 1, consumer => 'c-sh')}
	),
	1,
	'and the woken consumer gets the redelivery');

# delayed delivery: held back from the shared subscription, notified when due
$node->safe_psql('postgres',
	q{SELECT count(*) FROM pulsar.receive('news', 'ex', 1000, consumer => 'c-ex')});
drain($listener);
my $sent_at = time;
$id = $node->safe_psql('postgres',
	q{SELECT pulsar.send('news', 'delayed', deliver_after => '1.5 s')});
@got = notifications($listener, $sh_channel);
is(scalar(@got), 1, 'a delayed message is notified when published');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pulsar.receive('news', 'sh', 10, consumer => 'c-sh')}),
	0,
	'but the shared subscription does not get it before it is due');
is( $node->safe_psql(
		'postgres',
		q{SELECT message_id FROM pulsar.receive('news', 'ex', 10, consumer => 'c-ex')}),
	$id,
	'while the exclusive subscription gets it at once');
@got = notifications($listener, $sh_channel, 10);
$waited = time - $sent_at;
is_deeply(\@got, ['persistent://public/default/news'],
	'notified again when the delayed message falls due');
cmp_ok($waited, '>=', 1.4, 'not before it is due');
note(sprintf('delayed message notified %.3f s after send (delay 1.5 s)',
		$waited));
is( $node->safe_psql(
		'postgres',
		q{SELECT message_id FROM pulsar.receive('news', 'sh', 10, consumer => 'c-sh')}),
	$id,
	'and then the shared subscription gets it');
drain($listener);

# consumer liveness: when a failover consumer's session ends, the worker
# hands its partition to the next consumer and notifies the channel
$node->safe_psql('postgres', q{SELECT pulsar.create_topic('jobs')});
my $first = $node->background_psql('postgres');
my $fo_channel = $first->query_safe(
	q{SELECT pulsar.subscribe('jobs', 'fo', 'failover', priority => 0)});
my $second = $node->background_psql('postgres');
$second->query_safe(
	q{SELECT pulsar.subscribe('jobs', 'fo', 'failover', priority => 1)});
$second->query_safe("LISTEN $fo_channel");
$node->safe_psql('postgres', q{SELECT pulsar.send('jobs', 'job 1')});
notifications($second, $fo_channel);
is($second->query_safe(q{SELECT count(*) FROM pulsar.receive('jobs', 'fo', 10)}),
	0, 'the standby consumer of a failover subscription gets nothing');
is($first->query_safe(q{SELECT count(*) FROM pulsar.receive('jobs', 'fo', 10)}),
	1, 'the active one gets the message');
$first->quit;
@got = notifications($second, $fo_channel, 10);
is_deeply(\@got, ['persistent://public/default/jobs'],
	'the worker notifies the channel when the active consumer leaves');
is( $second->query_safe(
		q{SELECT convert_from(payload, 'UTF8') FROM pulsar.receive('jobs', 'fo', 10)}),
	'job 1',
	'and the next consumer takes over from the first unacknowledged message');

# a lease expiry, with the lease changed by SIGHUP: the worker rereads it
$node->safe_psql('postgres',
	q{SELECT pulsar.subscribe('jobs', 'named', 'shared', consumer => 'gone')});
my $named_channel =
  $node->safe_psql('postgres', q{SELECT pulsar.channel('jobs', 'named')});
$second->query_safe("LISTEN $named_channel");
$node->safe_psql('postgres', q{SELECT pulsar.send('jobs', 'job 2')});
notifications($second, $named_channel);
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pulsar.receive('jobs', 'named', 10, consumer => 'gone')}),
	1,
	'consumer "gone" holds a message');
$node->safe_psql('postgres',
	q{ALTER SYSTEM SET pulsar_pg.consumer_lease = '1s'; SELECT pg_reload_conf();});
@got = notifications($second, $named_channel, 15);
is($got[0], 'persistent://public/default/jobs',
	'the worker notifies when a lease shortened by reload expires');
$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET pulsar_pg.consumer_lease; SELECT pg_reload_conf();});
$node->safe_psql('postgres',
	q{SELECT pulsar.subscribe('jobs', 'named', 'shared', consumer => 'back')});
is( $node->safe_psql(
		'postgres',
		q{SELECT convert_from(payload, 'UTF8') FROM pulsar.receive('jobs', 'named', 10, consumer => 'back')}),
	'job 2',
	'and the message held by the departed consumer goes to another');

# close_consumer gives back what the consumer held, and the worker
# notifies the channel once the close commits, as for a departed consumer:
# a shared consumer's message goes to another, a failover partition to the
# next consumer
$node->safe_psql('postgres',
	q{SELECT pulsar.subscribe('jobs', 'closing', 'shared', consumer => 'holder');
	  SELECT pulsar.subscribe('jobs', 'closing', 'shared', consumer => 'listener');
	  SELECT pulsar.subscribe('jobs', 'closing_fo', 'failover', consumer => 'active', priority => 0);
	  SELECT pulsar.subscribe('jobs', 'closing_fo', 'failover', consumer => 'standby', priority => 1);});
my $closing_channel =
  $node->safe_psql('postgres', q{SELECT pulsar.channel('jobs', 'closing')});
my $closing_fo_channel =
  $node->safe_psql('postgres', q{SELECT pulsar.channel('jobs', 'closing_fo')});
$second->query_safe("LISTEN $closing_channel; LISTEN $closing_fo_channel;");
$node->safe_psql('postgres', q{SELECT pulsar.send('jobs', 'job 3')});
notifications($second, $closing_fo_channel);
drain($second);
is( $node->safe_psql(
		'postgres',
		q{SELECT (SELECT count(*) FROM pulsar.receive('jobs', 'closing', 10, consumer => 'holder'))
			  || ' ' || (SELECT count(*) FROM pulsar.receive('jobs', 'closing_fo', 10, consumer => 'active'))}),
	'1 1',
	'consumers "holder" and "active" hold a message');
$node->safe_psql('postgres',
	q{SELECT pulsar.close_consumer('jobs', 'closing', 'holder')});
@got = notifications($second, $closing_channel, 15);
is_deeply(\@got, ['persistent://public/default/jobs'],
	'the worker notifies the channel when a consumer holding messages is closed');
is( $second->query_safe(
		q{SELECT convert_from(payload, 'UTF8') FROM pulsar.receive('jobs', 'closing', 10, consumer => 'listener')}),
	'job 3',
	'and the listening consumer gets the message the closed one held');
$node->safe_psql('postgres',
	q{SELECT pulsar.close_consumer('jobs', 'closing_fo', 'active')});
@got = notifications($second, $closing_fo_channel, 15);
is_deeply(\@got, ['persistent://public/default/jobs'],
	'the worker notifies the channel when the active failover consumer is closed');
is( $second->query_safe(
		q{SELECT convert_from(payload, 'UTF8') FROM pulsar.receive('jobs', 'closing_fo', 10, consumer => 'standby')}),
	'job 3',
	'and the next consumer takes over');
$second->quit;

# acknowledgements that could not fold into the mark-delete position (the
# cursor row was busy) are folded in by the worker
$node->safe_psql('postgres',
	q{SELECT pulsar.create_topic('fold');
	  SELECT pulsar.subscribe('fold', 'folding', 'shared', 'earliest', consumer => 'f');
	  SELECT count(*) FROM pulsar.send_batch('fold', ARRAY['a', 'b', 'c']);});
my $busy = $node->background_psql('postgres');
$busy->query_safe(
	q{BEGIN; SELECT 1 FROM pulsar.cursor c JOIN pulsar.subscription s USING (subscription_id) WHERE s.name = 'folding' FOR UPDATE OF c;}
);
$node->safe_psql('postgres',
	q{SELECT pulsar.ack('fold', 'folding', array_agg(message_id))
		FROM pulsar.receive('fold', 'folding', 10, consumer => 'f')});
my $cursor_sql =
  q{SELECT c->>'markDeletePosition' || ' ' || (c->>'individuallyDeletedMessages')
	  FROM pulsar.topic_internal_stats('fold') s,
		   jsonb_path_query(s, '$.cursors.folding') c};
like($node->safe_psql('postgres', $cursor_sql),
	qr/^\d+:-1 \[\(\d+:-1\.\.\d+:2\]\]$/,
	'acknowledged beside a busy cursor: a range above the mark-delete position');
$busy->query_safe('COMMIT');
ok( $node->poll_query_until(
		'postgres', "SELECT ($cursor_sql) LIKE '%:2 []'"),
	'the worker folds it into the mark-delete position');
$busy->quit;

# publishers never take the notification queue's lock: hold it with a
# NOTIFY whose commit waits for a synchronous standby that does not exist,
# and publish meanwhile
$node->safe_psql('postgres',
	q{ALTER SYSTEM SET synchronous_standby_names = 'nobody'; SELECT pg_reload_conf();});
my $holder = $node->background_psql('postgres', on_error_stop => 0);
my $holder_pid = $holder->query_safe('SELECT pg_backend_pid()');
# a transaction with an xid: its commit record waits for the standby
$holder->query_until(qr/committing/,
	"\\echo committing\nBEGIN; CREATE TEMP TABLE holder (); NOTIFY pulsar_test_holder; COMMIT;\n"
);
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'object'"
		  . " AND classid = 'pg_database'::regclass AND objid = 0"
		  . " AND granted AND pid = $holder_pid"),
	'a NOTIFY waiting in commit holds the notification queue lock');
my ($rc, $stdout, $stderr) = $node->psql(
	'postgres',
	q{SET synchronous_commit = local;
	  SELECT pulsar.send('news', 'while the queue is locked') IS NOT NULL;
	  SELECT count(*) FROM pulsar.send_batch('news', ARRAY['a', 'b']);},
	timeout => 60);
is($rc, 0, 'publishing commits while the notification queue is locked');
is($stdout, "t\n2", 'and its messages are stored');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_locks WHERE locktype = 'object'"
		  . " AND classid = 'pg_database'::regclass AND objid = 0 AND pid = $holder_pid"),
	1,
	'the lock was held all along');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($holder_pid)");
$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();});
$holder->quit;

# an idle listener in an open transaction reads nothing; sustained
# publishing keeps the queue near empty all the same, as the worker
# coalesces notifications
my $idle = $node->background_psql('postgres');
$idle->query_safe("LISTEN $ex_channel; LISTEN $sh_channel; BEGIN; SELECT 1;");
$node->pgbench(
	'--no-vacuum --client=2 --time=5 --host=' . $node->host . ' --port=' . $node->port,
	0,
	[qr{processed: [1-9]}],
	[qr{^$}],
	'sustained publishing with an idle listener',
	{ 'publish.sql' => q{SELECT pulsar.send('news', 'load');} },
	'postgres');
my $usage =
  $node->safe_psql('postgres', 'SELECT pg_notification_queue_usage()');
my $published = $node->safe_psql('postgres',
	q{SELECT pulsar.topic_stats('news')->>'msgInCounter'});
note("queue usage $usage after $published messages published");
cmp_ok($usage, '<', 0.001, 'the notification queue stays near empty');
$out = $idle->query_safe('COMMIT');
my $received = () = $out =~ /Asynchronous notification/g;
note("the idle listener then received $received notifications");
$idle->quit;
$listener->quit;
$publisher->quit;

$node->stop;
done_testing();
