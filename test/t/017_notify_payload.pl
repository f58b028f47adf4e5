#!/usr/bin/perl
#
# 017_notify_payload.pl
#	  The worker's notification payloads are whole: "<topic> <message id>"
#	  for a publication, with the topic's full name however long its
#	  tenant, namespace and name are (64, 64 and 255 bytes at most), never
#	  cut in the middle of a value.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('node');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pulsar_pg'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pulsar_pg worker'"
) or die 'no worker';

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

my $tenant = 't' x 64;
my $namespace = "$tenant/" . ('n' x 64);
my $topic = "persistent://$namespace/" . ('x' x 255);
my $partitioned = "persistent://$namespace/" . ('p' x 240);
$node->safe_psql(
	'postgres', qq{
	SELECT pulsar.create_tenant('$tenant');
	SELECT pulsar.create_namespace('$namespace');
	SELECT pulsar.create_topic('$topic');
	SELECT pulsar.create_topic('$partitioned', 4);
});
my $listener = $node->background_psql('postgres');
my $channel =
  $listener->query_safe("SELECT pulsar.subscribe('$topic', 'longest')");
my $partitioned_channel =
  $listener->query_safe("SELECT pulsar.subscribe('$partitioned', 'longest')");
$listener->query_safe("LISTEN $channel; LISTEN $partitioned_channel");

my $id = $node->safe_psql('postgres', "SELECT pulsar.send('$topic', 'm')");
my @got = notifications($listener, $channel, 10);
is_deeply(\@got, ["$topic $id"],
	'the payload holds the longest topic name and the whole message id');

$id = $node->safe_psql('postgres',
	"SELECT pulsar.send('$partitioned-partition-3', 'm')");
@got = notifications($listener, $partitioned_channel, 10);
is_deeply(\@got, ["$partitioned $id"],
	'a partition\'s publication names the partitioned topic and the whole id');
like($id, qr/:3$/, 'whose id tells the partition');

$listener->quit;
$node->stop;
done_testing();
