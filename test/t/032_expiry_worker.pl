#!/usr/bin/perl
#
# 032_expiry_worker.pl
#	  The database worker applies the expiry policies in its maintenance
#	  pass, every pulsar_pg.maintenance_interval (set low here):
#
#	  - message TTL: a subscription's cursor moves past messages older than
#		the TTL, counted as msgExpired, and nothing is deleted by it;
#	  - producer_exception: once the pass has found the backlog over the
#		quota, sends fail with SQLSTATE PB001; once it fits, they go again;
#	  - producer_request_hold: a send held over the quota goes through as
#		soon as a consumer acknowledges the backlog, well before the hold
#		timeout;
#	  - consumer_backlog_eviction: the pass moves the slowest cursor;
#	  - subscription expiration: a subscription whose consumer left is
#		removed after its expiration time, one with a consumer is not;
#	  - inactive topics: a topic without subscriptions is deleted after
#		max_inactive;
#	  - after a restart, expiration counts from the worker's start.
#
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('expiry');
$node->init;
$node->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'pulsar_pg'
pulsar_pg.maintenance_interval = '200ms'
));
$node->start;
$node->safe_psql(
	'postgres', q{
	CREATE EXTENSION pulsar_pg;
	SELECT pulsar.create_namespace('public/' || n)
	  FROM unnest(ARRAY['ttl', 'quota', 'subs', 'idle']) n;
});

# the SQLSTATE of a statement's error, or 'ok'
sub sqlstate_of
{
	my ($sql) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql(
		'postgres', "\\set VERBOSITY verbose\n$sql",
		stdout => \$stdout,
		stderr => \$stderr);
	return 'ok' if $rc == 0;
	return $stderr =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : "rc $rc: $stderr";
}

# poll a statement until it gives 'expected' (or time out)
sub wait_for
{
	my ($sql, $expected, $name) = @_;
	my $result;
	for (1 .. 300)
	{
		$result = $node->safe_psql('postgres', $sql);
		last if $result eq $expected;
		select(undef, undef, undef, 0.1);
	}
	is($result, $expected, $name);
}

# message TTL
$node->safe_psql(
	'postgres', q{
	SELECT pulsar.subscribe('public/ttl/t', 'sub', 'shared', 'earliest', consumer => 'c');
	SELECT pulsar.send('public/ttl/t', 'm' || i) FROM generate_series(1, 5) i;
	SELECT pulsar.set_message_ttl('public/ttl', '1 second');
});
wait_for(
	q{SELECT s->>'msgBacklog' || ' ' || (s->>'msgExpired')
	    FROM (SELECT pulsar.topic_stats('public/ttl/t')->'subscriptions'->'sub' AS s) x},
	'0 5',
	'the worker moves the cursor past messages older than the TTL');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM pulsar.read('public/ttl/t', 'earliest', 10)}),
	'5',
	'and deletes nothing itself');

# producer_exception
$node->safe_psql(
	'postgres', q{
	SELECT pulsar.subscribe('public/quota/x', 'sub', 'exclusive', 'earliest', consumer => 'c');
	SELECT pulsar.send('public/quota/x', repeat(md5(i::text), 30)) FROM generate_series(1, 30) i;
	SELECT pulsar.set_backlog_quota('public/quota/x', 4096, NULL, 'producer_exception');
});
my $state;
for (1 .. 300)
{
	$state = sqlstate_of(q{SELECT pulsar.send('public/quota/x', 'probe')});
	last if $state ne 'ok';
	select(undef, undef, undef, 0.1);
}
is($state, 'PB001', 'once the pass found the backlog over the quota, sends fail with PB001');
$node->safe_psql(
	'postgres', q{
	SELECT pulsar.ack_cumulative('public/quota/x', 'sub', pulsar.max(message_id))
	  FROM pulsar.receive('public/quota/x', 'sub', 1000, consumer => 'c');
});
is(sqlstate_of(q{SELECT pulsar.send('public/quota/x', 'after')}),
	'ok', 'once the backlog is consumed, sends go again');

# producer_request_hold: held, then let through by an acknowledgement
$node->safe_psql(
	'postgres', q{
	SELECT pulsar.subscribe('public/quota/h', 'sub', 'exclusive', 'earliest', consumer => 'c');
	SELECT pulsar.send('public/quota/h', repeat(md5(i::text), 30)) FROM generate_series(1, 30) i;
	SELECT pulsar.set_backlog_quota('public/quota/h', 4096, NULL, 'producer_request_hold');
});
for (1 .. 300)
{
	$state = sqlstate_of(
		q{SET pulsar_pg.backlog_quota_hold_timeout = '10ms';
		  SELECT pulsar.send('public/quota/h', 'probe')});
	last if $state ne 'ok';
	select(undef, undef, undef, 0.1);
}
is($state, 'PB002', 'a send held past the hold timeout fails with PB002');
my ($held_out, $held_err) = ('', '');
my $started = time();
my $held = IPC::Run::start(
	[
		$node->installed_command('psql'), '-XAtq',
		'-d', $node->connstr('postgres'),
		'-v', 'ON_ERROR_STOP=1',
		'-c', q{SET pulsar_pg.backlog_quota_hold_timeout = '60s'},
		'-c', q{SELECT pulsar.entry_id(pulsar.send('public/quota/h', 'held'))}
	],
	'>', \$held_out, '2>', \$held_err);
# it waits: nothing was stored after a second
sleep 1;
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pulsar.read('public/quota/h', 'earliest', 1000)
		   WHERE convert_from(payload, 'UTF8') = 'held'}),
	'0',
	'the held send has stored nothing yet');
$node->safe_psql(
	'postgres', q{
	SELECT pulsar.ack_cumulative('public/quota/h', 'sub', pulsar.max(message_id))
	  FROM pulsar.receive('public/quota/h', 'sub', 1000, consumer => 'c');
});
$held->finish;
is($held->result(0), 0, 'the held send succeeds once the backlog is acknowledged');
like($held_out, qr/^\d+$/, 'and returns its message id');
cmp_ok(time() - $started, '<', 30, 'well before its hold timeout');

# consumer_backlog_eviction
$node->safe_psql(
	'postgres', q{
	SELECT pulsar.subscribe('public/quota/e', 'slow', 'shared', 'earliest', consumer => 'c');
	SELECT pulsar.send('public/quota/e', repeat(md5(i::text), 30)) FROM generate_series(1, 100) i;
	SELECT pulsar.set_backlog_quota('public/quota/e', 8192, NULL, 'consumer_backlog_eviction');
});
wait_for(
	q{SELECT (s->>'msgBacklog')::int < 100 AND (s->>'msgExpired')::int > 0
	    FROM (SELECT pulsar.topic_stats('public/quota/e')->'subscriptions'->'slow' AS s) x},
	't',
	'the worker evicts the slowest subscription\'s oldest messages');
is(sqlstate_of(q{SELECT pulsar.send('public/quota/e', 'goes')}),
	'ok', 'eviction never refuses a send');

# subscription expiration
$node->safe_psql(
	'postgres', q{
	SELECT pulsar.subscribe('public/subs/s', 'left', 'shared', 'earliest', consumer => 'gone');
	SELECT pulsar.subscribe('public/subs/s', 'kept', 'shared', 'earliest', consumer => 'here');
	SELECT pulsar.close_consumer('public/subs/s', 'left', 'gone');
	SELECT pulsar.set_subscription_expiration_time('public/subs', '2 seconds');
});
wait_for(
	q{SELECT string_agg(s.name, ' ' ORDER BY s.name) FROM pulsar.subscription s
	    JOIN pulsar.topic t USING (topic_id) WHERE t.namespace = 'subs'},
	'kept',
	'a subscription without consumers is removed after its expiration time');
my $log = slurp_file($node->logfile);
like($log, qr/removed subscription "left" of topic "persistent:\/\/public\/subs\/s"/,
	'the removal is logged');

# inactive topics
$node->safe_psql(
	'postgres', q{
	SELECT pulsar.create_topic('public/idle/unused');
	SELECT pulsar.subscribe('public/idle/used', 'sub', 'shared', 'earliest', consumer => 'c');
	SELECT pulsar.set_inactive_topic_policies('public/idle', true, '2 seconds',
											  'delete_when_no_subscriptions');
});
wait_for(
	q{SELECT string_agg(name, ' ' ORDER BY name) FROM pulsar.topic WHERE namespace = 'idle'},
	'used',
	'a topic without subscriptions is deleted after max_inactive');

# after a restart, the consumers that left unseen (a crash empties the
# consumer table) count from the worker's start: nothing expires at once
$node->safe_psql(
	'postgres', q{
	SELECT pulsar.set_subscription_expiration_time('public/subs', '5 seconds');
	SELECT pulsar.subscribe('public/subs/r', 'crashed', 'shared', 'earliest', consumer => 'c');
	-- made long ago: only the worker's start protects it after the crash
	UPDATE pulsar.subscription SET created_at = created_at - interval '1 hour'
	 WHERE name = 'crashed';
});
$node->stop('immediate');
$node->start;
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM pulsar.consumer c
		   JOIN pulsar.subscription s USING (subscription_id) WHERE s.name = 'crashed'}),
	'0',
	'the crash left no consumer');
sleep 2;
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM pulsar.subscription WHERE name = 'crashed'}),
	'1',
	'two seconds after the restart the subscription is still there');
wait_for(q{SELECT count(*) FROM pulsar.subscription WHERE name = 'crashed'},
	'0', 'and goes once its expiration time has passed since');

$node->stop;
done_testing();
