#!/usr/bin/perl
#
# 001_concurrent_publish_stress.pl
#	  Concurrent publishers whose transactions commit and abort in random
#	  order, and a reader that polls meanwhile, always continuing after the
#	  last message id it got.  In the end the reader has seen exactly the
#	  committed messages, each once, in strictly increasing entry order
#	  (DESIGN invariant 1: no message is ever skipped; invariant 6: an
#	  aborted send is never delivered).
#
#	  The producers are pgbench clients.  Each transaction sends to three
#	  topics: a non-partitioned one, one with 16 entries per segment (so
#	  that publishers cross segment boundaries concurrently, creating
#	  segment tables while others insert), and a partitioned one, also with
#	  small segments, addressed by key.  Every send is logged in a table in
#	  the same transaction, so the log holds exactly the committed payloads.
#	  Transactions sleep between their sends and before ending, so that
#	  later positions commit while earlier ones are still open, and ~30% of
#	  them roll back.
#
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $producers = 4;
# producers run for a fixed time, so that a loaded machine only runs fewer
# transactions
my $duration = 15;
my $partitions = 3;

my $node = PostgreSQL::Test::Cluster->new('stress');
$node->init;
$node->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'pulsar_pg'
max_connections = 30
# the topics have no subscriptions and the test counts their segments: no
# maintenance pass may trim them meanwhile
pulsar_pg.maintenance_interval = '1h'
));
$node->start;

$node->safe_psql(
	'postgres', qq(
CREATE EXTENSION pulsar_pg;
SELECT pulsar.create_topic('stress');
SET pulsar_pg.segment_entries = 16;
SELECT pulsar.create_topic('stress_seg');
SELECT pulsar.create_topic('stress_part', $partitions);
CREATE TABLE committed (topic text NOT NULL, payload text PRIMARY KEY);
));
is( $node->safe_psql(
		'postgres',
		q(SELECT string_agg(DISTINCT l.segment_entries::text, ',' ORDER BY l.segment_entries::text)
			FROM pulsar.ledger l JOIN pulsar.topic t USING (topic_id)
		   WHERE t.name IN ('stress_seg', 'stress_part'))),
	'16',
	'the small-segment topics have 16 entries per segment');

# One pgbench transaction: sends to each topic, each logged in the same
# transaction, with pauses in between; then COMMIT or (30%) ROLLBACK.
# Variables persist per client, so :n numbers the client's transactions.
# Half the transactions visit the topics in the opposite order: senders
# crossing segment boundaries of several topics in different orders must
# neither wait for each other's segments nor deadlock.
my $send_stress = q{
SELECT pulsar.send('stress', 'p' || :client_id || '-' || :n);
INSERT INTO committed VALUES ('stress', 'p' || :client_id || '-' || :n);
};
my $send_seg = q{
SELECT count(*) FROM pulsar.send_batch('stress_seg',
	ARRAY(SELECT 'b' || :client_id || '-' || :n || '-' || g FROM generate_series(1, :batch) g ORDER BY g));
INSERT INTO committed SELECT 'stress_seg', 'b' || :client_id || '-' || :n || '-' || g FROM generate_series(1, :batch) g;
};
my $send_part = q{
SELECT count(*) FROM pulsar.send_batch('stress_part',
	ARRAY['k' || :client_id || '-' || :n || '-1', 'k' || :client_id || '-' || :n || '-2'],
	keys => ARRAY['key' || :key1, 'key' || :key2]);
INSERT INTO committed VALUES ('stress_part', 'k' || :client_id || '-' || :n || '-1'),
	('stress_part', 'k' || :client_id || '-' || :n || '-2');
};
my $script = qq{
\\set n :n + 1
\\set pause1 random(0, 1500)
\\set pause2 random(0, 1500)
\\set pause3 random(0, 1500)
\\set batch random(1, 5)
\\set key1 random(1, 40)
\\set key2 random(1, 40)
\\set reverse random(0, 1)
\\set abort random(1, 100)
BEGIN;
\\if :reverse
$send_part
\\sleep :pause1 us
$send_seg
\\sleep :pause2 us
$send_stress
\\else
$send_stress
\\sleep :pause1 us
$send_seg
\\sleep :pause2 us
$send_part
\\endif
\\sleep :pause3 us
\\if :abort <= 30
ROLLBACK;
\\else
COMMIT;
\\endif
};
my $script_file = $node->basedir . '/producer.sql';
append_to_file($script_file, $script);

# The streams the reader follows: one per partition.
my @streams = (
	{ topic => 'stress', name => 'stress', partition => -1 },
	{ topic => 'stress_seg', name => 'stress_seg', partition => -1 },
	map {
		{
			topic => 'stress_part',
			name => "stress_part-partition-$_",
			partition => $_
		}
	} (0 .. $partitions - 1));
for my $stream (@streams)
{
	$stream->{last} = 'earliest';
	$stream->{seen} = [];
	$stream->{out_of_order} = 0;
	$stream->{bad_id} = 0;
}

my $reader = $node->background_psql('postgres', timeout => 300);

# Reads each stream once, continuing after the last id read, in one query
# (each pulsar.read() call takes its own snapshot); returns the number of
# messages read.  Half the polls read at most a few messages per stream,
# so that reads also stop short of the max read position.
sub read_all_streams
{
	my $max_messages = rand() < 0.5 ? 1 + int(rand(5)) : 100;
	my $query = join(
		"\nUNION ALL\n",
		map {
			my $stream = $streams[$_];
			qq(SELECT $_ AS stream, m.ordinality, m.message_id,
					  pulsar.entry_id(m.message_id) AS entry,
					  pulsar.partition_index(m.message_id) AS partition,
					  convert_from(m.payload, 'UTF8') AS payload
				 FROM pulsar.read('$stream->{name}', '$stream->{last}', $max_messages)
					  WITH ORDINALITY AS m)
		} (0 .. $#streams));
	my $rows = $reader->query_safe(
		"SELECT stream, message_id, entry, partition, payload FROM ($query) r ORDER BY stream, ordinality"
	);
	my $count = 0;
	for my $row (split /\n/, $rows)
	{
		my ($s, $id, $entry, $partition, $payload) = split /\|/, $row, 5;
		my $stream = $streams[$s];
		my $seen = $stream->{seen};
		$stream->{out_of_order}++
		  if @$seen && $entry <= $seen->[-1]{entry};
		$stream->{bad_id}++ if $partition != $stream->{partition};
		push @$seen, { entry => $entry, payload => $payload };
		$stream->{last} = $id;
		$count++;
	}
	return $count;
}

# Start the producers in the background.
my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start(
	[
		$node->installed_command('pgbench'), '-n',
		'-h', $node->host,
		'-p', $node->port,
		'-c', $producers,
		'-j', 2,
		'-T', $duration,
		'-D', 'n=0',
		'-f', $script_file,
		'postgres'
	],
	'>', \$bench_out,
	'2>', \$bench_err,
	IPC::Run::timeout(300));

# Poll while they run.
my $started = time;
my ($polls, $read_during) = (0, 0);
while ($bench->pumpable)
{
	$bench->pump_nb;
	$read_during += read_all_streams();
	$polls++;
}
my $bench_ok = $bench->finish;
my $bench_status = $?;
my $elapsed = time - $started;
note "pgbench output:\n$bench_out";
note sprintf('producers ran %.1f s; reader polled %d times, read %d messages meanwhile',
	$elapsed, $polls, $read_during);

ok($bench_ok && $bench_status == 0, 'pgbench producers finished without error')
  or diag "pgbench stdout:\n$bench_out\npgbench stderr:\n$bench_err";
my ($total_transactions) =
  $bench_out =~ /number of transactions actually processed: (\d+)/;
$total_transactions //= 0;
cmp_ok($total_transactions, '>=', 100,
	"the producers ran enough transactions ($total_transactions)");
unlike($bench_out, qr/number of failed transactions: [1-9]/,
	'no producer transaction failed');
cmp_ok($read_during, '>', 0, 'the reader read messages while producers ran');

# Drain: every transaction has ended, so the reader must reach the end.
my $final_rounds = 0;
while (read_all_streams() > 0)
{
	$final_rounds++;
	last if $final_rounds > 1000;
}
$reader->quit;

# Compare, topic by topic, with the payloads that committed.
my %committed_by_topic;
for my $row (split /\n/,
	$node->safe_psql('postgres', 'SELECT topic, payload FROM committed'))
{
	my ($topic, $payload) = split /\|/, $row, 2;
	push @{ $committed_by_topic{$topic} }, $payload;
}
my $committed_transactions = scalar @{ $committed_by_topic{stress} // [] };
note "$committed_transactions of $total_transactions transactions committed";
cmp_ok($committed_transactions, '>', $total_transactions * 0.55,
	'most transactions committed');
cmp_ok($committed_transactions, '<', $total_transactions * 0.85,
	'and some rolled back');

for my $topic ('stress', 'stress_seg', 'stress_part')
{
	my @topic_streams = grep { $_->{topic} eq $topic } @streams;
	my %times_seen;
	my ($seen_total, $out_of_order, $bad_id) = (0, 0, 0);
	for my $stream (@topic_streams)
	{
		$times_seen{ $_->{payload} }++ for @{ $stream->{seen} };
		$seen_total += @{ $stream->{seen} };
		$out_of_order += $stream->{out_of_order};
		$bad_id += $stream->{bad_id};
	}
	my %committed = map { $_ => 1 } @{ $committed_by_topic{$topic} // [] };

	my @missing = sort grep { !$times_seen{$_} } keys %committed;
	my @phantom = sort grep { !$committed{$_} } keys %times_seen;
	my @duplicate = sort grep { $times_seen{$_} > 1 } keys %times_seen;

	is(scalar(@missing), 0,
		"$topic: every committed message was read (none skipped)")
	  or diag "missing: @missing[0 .. ($#missing < 19 ? $#missing : 19)]";
	is(scalar(@phantom), 0,
		"$topic: no message of an aborted transaction was read")
	  or diag "phantom: @phantom[0 .. ($#phantom < 19 ? $#phantom : 19)]";
	is(scalar(@duplicate), 0, "$topic: no message was read twice")
	  or diag "duplicate: @duplicate[0 .. ($#duplicate < 19 ? $#duplicate : 19)]";
	is($seen_total, scalar(keys %committed),
		"$topic: read as many messages as committed ($seen_total)");
	is($out_of_order, 0, "$topic: entry ids strictly increase in every partition");
	is($bad_id, 0, "$topic: message ids carry the partition read");
}

# The small segments were really crossed, by concurrent writers.  The
# producers run for a fixed time, so a loaded machine crosses fewer: 26
# and 35 segments were seen on a 2-CPU machine at a load average of 13.
my $segments = $node->safe_psql(
	'postgres', q(
	SELECT count(*) FROM pulsar.segment s
	  JOIN pulsar.ledger l USING (ledger_id) JOIN pulsar.topic t USING (topic_id)
	 WHERE t.name = 'stress_seg'));
cmp_ok($segments, '>', 10, "stress_seg spans many segments ($segments)");

# Keyed messages are where Pulsar's clients would have sent them.
my $misrouted = $node->safe_psql(
	'postgres', qq(
	SELECT count(*) FROM generate_series(0, @{[ $partitions - 1 ]}) p,
		LATERAL pulsar.read('stress_part-partition-' || p, 'earliest', 100000) m
	 WHERE pulsar.partition_for_key(m.key, $partitions) <> p));
is($misrouted, '0', 'every keyed message is in its key\'s partition');

$node->stop;

done_testing();
