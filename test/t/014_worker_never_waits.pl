#!/usr/bin/perl
#
# 014_worker_never_waits.pl
#	  DESIGN invariant 6a: no user transaction stalls the worker.  A named
#	  consumer of a shared subscription acknowledges one message in a
#	  transaction it leaves open, so that transaction holds the row of
#	  pulsar.pending that tracked what the consumer held.  Its lease then
#	  expires.  The worker must go on notifying publications of every
#	  topic, firing timers and removing departed consumers; another
#	  consumer's receive must not wait either; and once the open
#	  transaction ends, the messages the departed consumer held go back to
#	  the subscription and its channel is notified.  The maintenance pass
#	  skips a segment that a transaction uses, and trims it later.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('node');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pulsar_pg'\npulsar_pg.consumer_lease = '1s'\n"
	  . "pulsar_pg.maintenance_interval = '100ms'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pulsar_pg worker'"
) or die 'no worker';

# Payloads of the notifications $session got on $channel within $timeout s.
sub notifications
{
	my ($session, $channel, $timeout) = @_;
	my @payloads;
	my $deadline = time + $timeout;
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

# A statement in a session of its own that must not wait: it fails after
# 10 s.  Returns (exit code, stdout, stderr).
sub without_waiting
{
	my ($sql) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql(
		'postgres',
		"SET statement_timeout = '10s'; $sql",
		stdout => \$stdout,
		stderr => \$stderr);
	return ($rc, $stdout, $stderr);
}

$node->safe_psql(
	'postgres', q{
	SELECT pulsar.create_topic('stuck');
	SELECT pulsar.create_topic('other');
	SELECT pulsar.subscribe('stuck', 'sh', 'shared', 'earliest', consumer => 'c1');
	SELECT pulsar.send_batch('stuck', ARRAY['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
});
my $stuck_channel =
  $node->safe_psql('postgres', q{SELECT pulsar.channel('stuck', 'sh')});

# c1 receives three messages, then acknowledges the first in a transaction
# it leaves open
my $holder = $node->background_psql('postgres');
my @held = split /\n/,
  $holder->query_safe(
	q{SELECT message_id FROM pulsar.receive('stuck', 'sh', 3, consumer => 'c1')}
  );
is(scalar(@held), 3, 'the consumer received three messages');
$holder->query_safe(
	"BEGIN; SELECT pulsar.ack('stuck', 'sh', '$held[0]'::pulsar.message_id)");

# its lease (1 s) expires; the worker looks once a second
sleep(3);

# publications of another topic are still notified, each one promptly
my $other_channel = $node->safe_psql('postgres',
	q{SELECT pulsar.subscribe('other', 'ob', consumer => 'o1')});
my $listener = $node->background_psql('postgres');
$listener->query_safe("LISTEN $other_channel; LISTEN $stuck_channel");
my $notified = 0;
for my $i (1 .. 5)
{
	my $id = $node->safe_psql('postgres',
		"SELECT pulsar.send('other', 'o$i')");
	my @got = notifications($listener, $other_channel, 3);
	$notified++
	  if grep { $_ eq "persistent://public/default/other $id" } @got;
}
is($notified, 5, 'every send to another topic is notified within 3 s');

# timers still fire: a nack redelivery is notified when it falls due
my $nack_channel = $node->safe_psql('postgres',
	q{SELECT pulsar.subscribe('other', 'nk', 'shared', 'earliest', consumer => 'n1', negative_ack_delay => '300 ms')}
);
$listener->query_safe("LISTEN $nack_channel");
my $nacked = $node->safe_psql(
	'postgres', q{
	SELECT pulsar.nack('other', 'nk', array_agg(message_id))
	  FROM pulsar.receive('other', 'nk', 1, consumer => 'n1');
	SELECT 1});
my @got = notifications($listener, $nack_channel, 5);
is_deeply(\@got, ['persistent://public/default/other'],
	'a nack redelivery falling due is notified');

# liveness still runs: a named consumer idle past its lease is removed
$node->safe_psql('postgres',
	q{SELECT pulsar.subscribe('other', 'lv', 'shared', consumer => 'idle')});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 0 FROM pulsar.consumer WHERE name = 'idle'}),
	'a consumer idle past its lease is removed meanwhile');

# another consumer of the stuck subscription attaches and receives without
# waiting, and gets what nobody holds
my ($rc, $out, $err) = without_waiting(
	q{SELECT pulsar.subscribe('stuck', 'sh', 'shared', consumer => 'c2');
	  SELECT convert_from(payload, 'UTF8')
		FROM pulsar.receive('stuck', 'sh', 10, consumer => 'c2')});
is($rc, 0, 'another consumer subscribes and receives without waiting')
  or diag($err);
like($out, qr/\bm3\nm4\nm5$/, 'and gets the messages nobody holds');

# once the open transaction commits, what the departed consumer held goes
# back to the subscription, whose channel is notified
$listener->query_safe('SELECT 1');
$holder->query_safe('COMMIT');
@got = notifications($listener, $stuck_channel, 5);
ok(@got && !grep({ $_ ne 'persistent://public/default/stuck' } @got),
	'the subscription is notified when the held messages are released');
my $redelivered = '';
my $deadline = time + 10;
while (time < $deadline)
{
	$node->safe_psql('postgres',
		q{SELECT pulsar.subscribe('stuck', 'sh', 'shared', consumer => 'c2')});
	my $got = $node->safe_psql(
		'postgres', q{
		SELECT string_agg(convert_from(payload, 'UTF8'), ',' ORDER BY message_id)
		  FROM pulsar.receive('stuck', 'sh', 10, consumer => 'c2')});
	$redelivered .= $got;
	last if $redelivered =~ /m2/;
	usleep(100_000);
}
is($redelivered, 'm1,m2',
	'the other consumer gets the unacknowledged ones, the acknowledged one never'
);
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM pulsar.consumer WHERE name = 'c1'}),
	0,
	'and the departed consumer is gone');

# A transaction that locks tables of the extension and stays open (DDL,
# LOCK TABLE, TRUNCATE) stalls only the work that needs those tables: the
# worker takes its table locks without waiting and tries again later.
my $nack2_channel = $node->safe_psql('postgres',
	q{SELECT pulsar.subscribe('other', 'nk2', 'shared', 'earliest', consumer => 'n2', negative_ack_delay => '1 s')}
);
$listener->query_safe("LISTEN $nack2_channel");
$node->safe_psql(
	'postgres', q{
	SELECT pulsar.nack('other', 'nk2', array_agg(message_id))
	  FROM pulsar.receive('other', 'nk2', 1, consumer => 'n2')});
$node->safe_psql('postgres',
	q{SELECT pulsar.subscribe('other', 'lv2', 'shared', consumer => 'idle2')});
my $locker = $node->background_psql('postgres');
$locker->query_safe(
	'BEGIN; LOCK TABLE pulsar.consumer, pulsar.pending, pulsar.acked_range IN ACCESS EXCLUSIVE MODE'
);
# the nack falls due and the lease expires while the tables are locked
sleep(2);
$notified = 0;
for my $i (1 .. 3)
{
	my $id = $node->safe_psql('postgres',
		"SELECT pulsar.send('other', 'p$i')");
	my @got = notifications($listener, $other_channel, 3);
	$notified++
	  if grep { $_ eq "persistent://public/default/other $id" } @got;
}
is($notified, 3,
	'sends are notified promptly while a transaction keeps tables locked');
$locker->query_safe('COMMIT');
my $due = 0;
$deadline = time + 10;
while (time < $deadline && !$due)
{
	my $out = $listener->query_safe('SELECT 1');
	$due = 1
	  if $out =~
	  /notification "\Q$nack2_channel\E" with payload "persistent:\/\/public\/default\/other"/;
	usleep(50_000);
}
ok($due, 'a timer that fell due meanwhile is notified once the lock is gone');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 0 FROM pulsar.consumer WHERE name = 'idle2'}),
	'and the consumer whose lease expired meanwhile is removed');

# The maintenance pass does not wait either: a segment that a transaction
# uses is left for a later pass, the others go, and the worker goes on
# notifying meanwhile.  "trimmed" has no subscription, so only retention
# (0 by default) keeps its closed segments 0 and 1.
$node->safe_psql(
	'postgres', q{
SET pulsar_pg.segment_entries = 16;
SELECT pulsar.create_topic('trimmed');
});
my $stored = q{
SELECT string_agg(s.segment_no::text, ',' ORDER BY s.segment_no)
  FROM pulsar.segment s JOIN pulsar.ledger l USING (ledger_id)
  JOIN pulsar.topic t USING (topic_id)
 WHERE t.name = 'trimmed' AND s.segment_no < 2};
# a transaction holds segment 0 (as a reader does while it reads it)
my $reader = $node->background_psql('postgres');
$reader->query_safe(
	q{BEGIN; DO $$ BEGIN EXECUTE (SELECT format('LOCK TABLE pulsar_data.%I IN ACCESS SHARE MODE',
	     'ledger_' || l.ledger_id || '_0') FROM pulsar.ledger l JOIN pulsar.topic t
	     USING (topic_id) WHERE t.name = 'trimmed'); END $$});
$node->safe_psql('postgres',
	q{SELECT count(*) FROM pulsar.send_batch('trimmed',
	    ARRAY(SELECT 'm' || g FROM generate_series(1, 40) g))});
ok($node->poll_query_until('postgres', $stored, '0'),
	'the maintenance pass drops the segment nobody uses and skips the one in use');
$notified = 0;
for my $i (1 .. 3)
{
	my $id = $node->safe_psql('postgres',
		"SELECT pulsar.send('other', 't$i')");
	my @got = notifications($listener, $other_channel, 3);
	$notified++
	  if grep { $_ eq "persistent://public/default/other $id" } @got;
}
is($notified, 3, 'sends are notified promptly meanwhile');
$reader->query_safe('COMMIT');
ok( $node->poll_query_until(
		'postgres', "SELECT coalesce(($stored), '') = ''"),
	'a later pass drops it once it is free');

$holder->quit;
$listener->quit;
$locker->quit;
$reader->quit;
$node->stop;
done_testing();
