#!/usr/bin/perl
#
# 015_receive_memory.pl
#	  A receive waiting for messages keeps its memory flat (DESIGN
#	  invariant 6a: memory of a call is bounded by its result), however
#	  many commits elsewhere in the cluster wake it up.
#
#	  The waiting backend's memory is read from the server log, where
#	  pg_log_backend_memory_contexts() makes it write its grand total.
#	  Dead-lettering and Key_Shared hashing of large messages keep one
#	  message at a time: the backend's high-water mark (VmHWM) grows by
#	  about one message, not by all of them.
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
	"shared_preload_libraries = 'pulsar_pg'\nlog_min_messages = log\n"
	  # shared buffers a backend touches count in its resident size: few
	  # of them, so that its high-water mark shows its own memory
	  . "shared_buffers = 16MB");
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
# A waiting receive looks again at least every 100 ms, reopening its
# subscription each time: about 1 kB a look that stayed in the call's
# context grew it by more than 40 kB over these seconds.
cmp_ok($after - $before, '<', 16 * 1024,
	'the memory of a waiting receive stays flat');

# it still returns what its topic gets
$node->safe_psql('postgres', q{SELECT pulsar.send('p16', 'hello'::bytea)});
like($waiter->query_safe('SELECT 1'), qr/^1\n1$/m,
	'the waiting receive returns the message published to its topic');
$waiter->quit;

# Peak memory of one receive (a query returning a count), from the
# backend's high-water mark, and the count it returned: a
# receive holds its result and one message at a time, not a copy of each
# message it dead-letters, nor copies of a large key it hashes.
sub receive_peak_kb
{
	my ($receive) = @_;
	my $hwm = q{SELECT (regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'),
	                                 'VmHWM:\s*(\d+)'))[1]};
	my ($before, $received, $after) = split /\n/,
	  $node->safe_psql('postgres', "$hwm;\n$receive;\n$hwm;");
	return ($after - $before, $received);
}

# 20 messages of 5 MB of random bytes (TOAST cannot compress them) past
# their dead-letter limit
$node->safe_psql(
	'postgres', q{
SELECT pulsar.create_topic('dead');
SELECT pulsar.subscribe('dead', 's', 'shared', 'earliest', consumer => 'd',
                        negative_ack_delay => '0', max_redeliver_count => 1);
DO $$ BEGIN
	FOR i IN 1..20 LOOP
		PERFORM pulsar.send('dead', (SELECT decode(string_agg(md5(random()::text), ''), 'hex')
		                               FROM generate_series(1, 327680)));
	END LOOP;
END $$;
});
# delivered twice and nacked, all at once (above pulsar_pg.max_receive_bytes)
for (1 .. 2)
{
	$node->safe_psql('postgres',
		q{SELECT set_config(name, '1GB', false) FROM pg_settings
		   WHERE name = 'pulsar_pg.max_receive_bytes';
		  SELECT pulsar.nack('dead', 's', array_agg(message_id))
		    FROM pulsar.receive('dead', 's', 100, consumer => 'd')});
}
my ($peak, $received) = receive_peak_kb(
	q{SELECT count(*) FROM pulsar.receive('dead', 's', 100, consumer => 'd')});
is($received, 0, 'the receive returned no dead letter');
note "dead-lettering 20 messages of 5 MB: peak grew by $peak kB";
is( $node->safe_psql('postgres',
		q{SELECT pulsar.topic_stats('dead-s-DLQ')->>'msgInCounter'}),
	'20',
	'the receive dead-lettered the 20 messages');
cmp_ok($peak, '<', 50 * 1024,
	'dead-lettering 100 MB of messages holds one message at a time');

# a Key_Shared receive over four messages with 25 MB keys (random hex
# digits); pulsar_pg.max_message_size counts keys too
$node->safe_psql(
	'postgres', q{
SET pulsar_pg.max_message_size = '30MB';
SELECT pulsar.create_topic('bigkey');
SELECT pulsar.subscribe('bigkey', 'k', 'key_shared', 'earliest', consumer => 'k');
DO $$ BEGIN
	FOR i IN 1..4 LOOP
		PERFORM pulsar.send('bigkey', 'p',
		                    key => (SELECT string_agg(md5(random()::text), '')
		                              FROM generate_series(1, 819200)));
	END LOOP;
END $$;
});
($peak, $received) = receive_peak_kb(
	q{SELECT count(*) FROM pulsar.receive('bigkey', 'k', 10, consumer => 'k')});
is($received, 3,
	'the receive returned three messages (the third reached pulsar_pg.max_receive_bytes)');
note "key_shared receive over four 25 MB keys: peak grew by $peak kB";
cmp_ok($peak, '<', 64 * 1024,
	'hashing the keys of 100 MB of messages holds one key at a time');

$node->stop;
done_testing();
