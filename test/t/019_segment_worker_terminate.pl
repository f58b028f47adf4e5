#!/usr/bin/perl
#
# 019_segment_worker_terminate.pl
#	  A segment worker that is terminated (pg_terminate_backend, DROP
#	  DATABASE ... WITH (FORCE), a fast shutdown) stops at a safe point, as
#	  any backend does, instead of exiting from inside its signal handler,
#	  which could corrupt memory or turn into a PANIC in a critical
#	  section.  The sender that waited for it fails with a clear error, and
#	  later sends work.
#
#	  Deterministic part: a session holds a lock on pulsar.segment_template,
#	  which a worker needs to create a segment and no sender touches, so
#	  the workers a send starts wait for it until they are terminated.
#	  Loop part: rounds of sends crossing segment boundaries while another
#	  session terminates every segment worker it sees.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('node');
$node->init;
# %b shows which kind of process wrote a line, and LOCATION where it was
# raised: the termination message is the same from the signal handler
# (bgworker_die) and from an interrupt check (ProcessInterrupts).
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pulsar_pg'
max_worker_processes = 16
log_line_prefix = '%m [%p] %b: '
log_error_verbosity = verbose
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');

my $started =
  $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

# The server never crashed, restarted its processes or panicked.
sub server_intact
{
	my ($what) = @_;
	my $log = slurp_file($node->logfile);
	unlike($log, qr/terminated by signal/, "$what: no process crashed");
	unlike($log, qr/PANIC/, "$what: no PANIC");
	unlike($log, qr/reinitializing/, "$what: the server did not reinitialize");
	unlike(
		$log,
		qr/LOCATION:  bgworker_die/,
		"$what: no segment worker exited from its signal handler");
	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
		$started, "$what: same postmaster");
}

# Number of segment workers terminated at a safe point so far.
sub safe_terminations
{
	my @lines = slurp_file($node->logfile) =~
	  /pulsar_pg segment worker: LOCATION:  ProcessInterrupts,/g;
	return scalar @lines;
}

my $terminate_workers = q{
	SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE backend_type = 'pulsar_pg segment worker'};

# --- deterministic: workers waiting for a lock are terminated ---

$node->safe_psql(
	'postgres', q{
	SET pulsar_pg.segment_entries = 16;
	SELECT pulsar.create_topic('blocked');
});

my $locker = $node->background_psql('postgres');
$locker->query_safe(
	'BEGIN; LOCK TABLE pulsar.segment_template IN ACCESS EXCLUSIVE MODE');

# Entries 0-16: entry 0 asks for segment 1 ahead, entry 16 needs it and
# waits for a worker to create it.
my $sender = $node->background_psql('postgres', on_error_stop => 0);
$sender->query_until(
	qr/sending/, q{
\echo sending
SELECT count(*) FROM pulsar.send_batch('blocked', array_fill('m'::text, ARRAY[17]));
});

$node->poll_query_until(
	'postgres', q{
	SELECT count(*) FILTER (WHERE backend_type = 'pulsar_pg segment worker'
							AND wait_event_type = 'Lock') >= 1
	   AND count(*) FILTER (WHERE query LIKE '%send_batch(''blocked''%'
							AND wait_event = 'BgWorkerShutdown') = 1
	FROM pg_stat_activity})
  or die 'no segment worker waiting for the lock';

my $log_offset = -s $node->logfile;
ok($node->safe_psql('postgres', $terminate_workers) >= 1,
	'waiting segment workers terminated');

# the sender is told, and does not wait for anything else
my ($out, $ret) = $sender->query('SELECT 1');
like(
	$sender->{stderr},
	qr/could not create segment 1 of topic partition(.|\n)*DETAIL:  The segment worker exited without creating it/,
	'the sender fails with a clear error');
is($out, '1', 'the failed send returned no rows');
$sender->{stderr} = '';

$node->poll_query_until(
	'postgres', q{
	SELECT count(*) = 0 FROM pg_stat_activity
	WHERE backend_type = 'pulsar_pg segment worker'})
  or die 'segment workers did not exit';
my $log = slurp_file($node->logfile, $log_offset);
like(
	$log,
	qr/pulsar_pg segment worker: FATAL:  57P01: terminating background worker "pulsar_pg segment worker" due to administrator command\n(.*\n)*?.*pulsar_pg segment worker: LOCATION:  ProcessInterrupts,/,
	'the worker stopped at a safe point');
server_intact('terminated while waiting');

# the lock holder was not thrown out by a restart
$locker->query_safe('COMMIT');

is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pulsar.send_batch('blocked', array_fill('n'::text, ARRAY[33]))}
	),
	'33',
	'sends crossing segment boundaries work afterwards');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM pulsar.subscribe('blocked', 's', 'exclusive', 'earliest');
	SELECT count(*) FROM pulsar.receive('blocked', 's', 100)}),
	"1\n33",
	'the messages sent afterwards are all readable');

# --- loop: sends crossing boundaries while workers are terminated ---

$node->safe_psql(
	'postgres', q{
	SET pulsar_pg.segment_entries = 16;
	SELECT pulsar.create_topic('looped');
});
my $terminations_before = safe_terminations();

# a worker may exit between the scan and pg_terminate_backend's signal
my $terminator = $node->background_psql('postgres');
$terminator->query_until(
	qr/terminating/, q{
\echo terminating
SET client_min_messages = error;
DO $$
DECLARE
	stop timestamptz := clock_timestamp() + interval '8 s';
BEGIN
	WHILE clock_timestamp() < stop LOOP
		PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE backend_type = 'pulsar_pg segment worker';
		PERFORM pg_stat_clear_snapshot();
		-- at random points of their work, so that some sends succeed
		PERFORM pg_sleep(random() * 0.1);
	END LOOP;
END
$$;
});

my ($sent, $failed, $unexpected) = (0, 0, 0);
my $deadline = time + 7;
while (time < $deadline)
{
	my ($stdout, $stderr);
	my $rc = $node->psql(
		'postgres',
		q{SELECT count(*) FROM pulsar.send_batch('looped', array_fill('x'::text, ARRAY[20]))},
		stdout => \$stdout,
		stderr => \$stderr);
	if ($rc == 0 && $stdout eq '20')
	{
		$sent++;
	}
	elsif ($stderr =~ /could not create segment/)
	{
		$failed++;
	}
	else
	{
		$unexpected++;
		diag("unexpected outcome of a send: rc $rc, $stderr");
		last;
	}
}
$terminator->query_safe('SELECT 1');
$terminator->quit;

note "sends: $sent succeeded, $failed failed for want of a segment";
is($unexpected, 0, 'every send succeeded or failed with a clear error');
ok($failed > 0, 'some senders saw their segment worker terminated');
ok(safe_terminations() > $terminations_before,
	'segment workers were terminated at safe points');
server_intact('terminated in a loop');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pulsar.send_batch('looped', array_fill('y'::text, ARRAY[20]))}
	),
	'20',
	'sends work after the loop');

# --- fast shutdown while a worker waits ---

$locker->query_safe(
	'BEGIN; LOCK TABLE pulsar.segment_template IN ACCESS EXCLUSIVE MODE');
$sender->query_until(
	qr/sending/, q{
\echo sending
SELECT count(*) FROM pulsar.send_batch('blocked', array_fill('m'::text, ARRAY[17]));
});
$node->poll_query_until(
	'postgres', q{
	SELECT count(*) >= 1 FROM pg_stat_activity
	WHERE backend_type = 'pulsar_pg segment worker' AND wait_event_type = 'Lock'})
  or die 'no segment worker waiting for the lock';
$terminations_before = safe_terminations();
$node->stop('fast');
ok(safe_terminations() > $terminations_before,
	'a fast shutdown stops a waiting segment worker at a safe point');
$log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|PANIC/,
	'fast shutdown: no process crashed');
like($log, qr/database system is shut down/, 'the server shut down cleanly');

done_testing();
