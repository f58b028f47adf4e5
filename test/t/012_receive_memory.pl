#!/usr/bin/perl
#
# 012_receive_memory.pl
#	  A receive waiting for messages keeps its memory flat (DESIGN
#	  invariant 6a: memory of a call is bounded by its result), however
#	  many commits elsewhere in the cluster wake it up.
#
#	  The waiting backend's memory is read from the server log, where
#	  pg_log_backend_memory_contexts() makes it write its grand total.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('node');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pulsar_pg'\nlog_min_messages = log");
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pulsar_pg;
SELECT pulsar.create_topic('p16', 16);
SELECT pulsar.create_topic('busy');
SELECT pulsar.subscribe('p16', 's', consumer => 'waiter');
});

# The grand total of the memory contexts of backend $pid, in bytes.
sub backend_memory
{
	my ($pid) = @_;
	my $offset = -s $node->logfile;

	$node->safe_psql('postgres',
		"SELECT pg_log_backend_memory_contexts($pid)");
	for (my $i = 0; $i < 300; $i++)
	{
		my $log = slurp_file($node->logfile, $offset);
		return $1 if $log =~ /Grand total: (\d+) bytes/;
		usleep(100_000);
	}
	die "backend $pid logged no memory contexts";
}

my $waiter = $node->background_psql('postgres', timeout => 120);
my $pid = $waiter->query_safe('SELECT pg_backend_pid()');
$waiter->query_until(qr/waiting/, q{\echo waiting
SELECT count(*) FROM pulsar.receive('p16', 's', 100000, '30 s', 'waiter');
});
$node->poll_query_until('postgres',
	"SELECT wait_event_type = 'Extension' FROM pg_stat_activity WHERE pid = $pid"
) or die 'the receive does not wait';
sleep 1;
my $before = backend_memory($pid);

# two sessions publish to another topic: every commit wakes the waiter
my $script = $node->basedir . '/send.sql';
PostgreSQL::Test::Utils::append_to_file($script,
	"SELECT pulsar.send('busy', 'x'::bytea);\n");
my ($out, $err) = ('', '');
IPC::Run::run(
	[
		$node->installed_command('pgbench'), '-n',
		'-h', $node->host, '-p', $node->port, '-c', 2, '-T', 4,
		'-f', $script, 'postgres'
	],
	'>', \$out, '2>', \$err) or die "pgbench failed: $err";
my ($sent) = $out =~ /number of transactions actually processed: (\d+)/;
cmp_ok($sent, '>=', 100, 'commits elsewhere woke the waiting receive');

my $after = backend_memory($pid);
note "waiting receive: $before bytes before, $after bytes after";
cmp_ok($after - $before, '<', 1024 * 1024,
	'the memory of a waiting receive stays flat');

# it still returns what its topic gets
$node->safe_psql('postgres', q{SELECT pulsar.send('p16', 'hello'::bytea)});
like($waiter->query_safe('SELECT 1'), qr/^1\n1$/m,
	'the waiting receive returns the message published to its topic');
$waiter->quit;

$node->stop;
done_testing();
