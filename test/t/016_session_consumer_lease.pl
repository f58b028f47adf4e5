#!/usr/bin/perl
#
# 016_session_consumer_lease.pl
#	  A session's own consumer (subscribed without a consumer name) lives as
#	  long as its session, as a Pulsar consumer lives as long as its
#	  connection: waiting on LISTEN through a quiet spell longer than
#	  pulsar_pg.consumer_lease does not detach it.  The lease applies to
#	  named consumers, which have no session.  A session's consumer goes
#	  when its backend does (the same pid with another start time is
#	  another backend), and its messages go back to the subscription.
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
	"shared_preload_libraries = 'pulsar_pg'\npulsar_pg.consumer_lease = '1s'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pulsar_pg worker'"
) or die 'no worker';

$node->safe_psql('postgres', q{SELECT pulsar.create_topic('quiet')});

# a session consumer and a named one, both idle for three leases
my $session = $node->background_psql('postgres');
my $channel = $session->query_safe(
	q{SELECT pulsar.subscribe('quiet', 'sh', 'shared')});
$session->query_safe("LISTEN $channel");
$node->safe_psql('postgres',
	q{SELECT pulsar.subscribe('quiet', 'sh', 'shared', consumer => 'named')});
sleep(3);

# the first line of a session's output, without the notifications after it
sub first_line
{
	my ($out) = @_;
	return (split /\n/, $out)[0];
}

$node->safe_psql('postgres',
	q{SELECT pulsar.send_batch('quiet', ARRAY['q0', 'q1'])});
is( first_line(
		$session->query_safe(
			q{SELECT string_agg(convert_from(payload, 'UTF8'), ',' ORDER BY message_id)
				FROM pulsar.receive('quiet', 'sh', 10)})),
	'q0,q1',
	'a session consumer idle for longer than the lease still receives');

my ($stdout, $stderr);
$node->psql(
	'postgres',
	q{SELECT * FROM pulsar.receive('quiet', 'sh', 10, consumer => 'named')},
	stdout => \$stdout,
	stderr => \$stderr);
like(
	$stderr,
	qr/consumer "named" is not attached to subscription "sh"/,
	'a named consumer idle for longer than the lease is detached');

# a consumer row naming a live pid but another start time is not that
# backend's: as if the pid had been reused after the session ended
my $other = $node->background_psql('postgres');
my $other_pid = $other->query_safe('SELECT pg_backend_pid()');
my $impostor = $node->background_psql('postgres');
$impostor->query_safe(q{SELECT pulsar.subscribe('quiet', 'sh', 'shared')});
my $impostor_pid = $impostor->query_safe('SELECT pg_backend_pid()');
$node->safe_psql('postgres',
	"UPDATE pulsar.consumer SET backend_pid = $other_pid WHERE backend_pid = $impostor_pid"
);
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 0 FROM pulsar.consumer WHERE backend_pid = $other_pid"),
	'a session consumer whose pid now belongs to another backend is removed');
$impostor->quit;
$other->quit;

# ending the session frees what its consumer held, none of it acknowledged
$node->safe_psql('postgres',
	q{SELECT pulsar.send_batch('quiet', ARRAY['q2', 'q3'])});
is( first_line(
		$session->query_safe(
			q{SELECT count(*) FROM pulsar.receive('quiet', 'sh', 10)})),
	2,
	'the session consumer holds two more messages');
my $pid = $session->query_safe('SELECT pg_backend_pid()');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
eval { $session->quit };
my $taken = '';
my $deadline = time + 15;
while (time < $deadline)
{
	$node->safe_psql('postgres',
		q{SELECT pulsar.subscribe('quiet', 'sh', 'shared', consumer => 'next')});
	$taken .= $node->safe_psql(
		'postgres',
		q{SELECT string_agg(convert_from(payload, 'UTF8'), ',' ORDER BY message_id)
			FROM pulsar.receive('quiet', 'sh', 10, consumer => 'next')});
	last if $taken =~ /q3/;
	usleep(100_000);
}
is($taken, 'q0,q1,q2,q3',
	'once its session ends, its messages go to another consumer');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM pulsar.consumer WHERE backend_pid = $pid"),
	0,
	'and the session consumer is gone');

$node->stop;
done_testing();
