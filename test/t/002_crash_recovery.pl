#!/usr/bin/perl
#
# 002_crash_recovery.pl
#	  Crashes with a publishing transaction open, and what must hold after
#	  recovery: the max read position lives in shared memory and is lost,
#	  so it is rebuilt from the tables (DESIGN invariant 2: durable means
#	  WAL-logged).
#
#	  - every committed message is read, none of the open transaction's;
#	  - a reader continues from the last id it read before the crash;
#	  - messages committed above the open transaction's positions, which
#		no reader could read before the crash, are read after it;
#	  - new sends get entry ids above every stored one, including the
#		ids the crashed transaction had been given, also where it was the
#		first to reach a segment (crash_fresh): segment tables must not
#		belong to the sender's transaction and vanish with it.  They
#		continue at the ledger's logged high-water mark, so there may be a
#		gap (t/012_entry_ids_never_reused.pl covers ids VACUUM removed).
#
#	  Three times: an immediate shutdown (postmaster and all, then crash
#	  recovery on start), the kill -9 of the publishing backend (the
#	  postmaster reinitialises shared memory without a restart), and the
#	  kill -9 of the postmaster while three transactions hold interleaved
#	  open sends.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'pulsar_pg'
restart_after_crash = on
));
$node->start;

$node->safe_psql(
	'postgres', q(
CREATE EXTENSION pulsar_pg;
SELECT pulsar.create_topic('crash');
SELECT pulsar.create_topic('crash_top');
SET pulsar_pg.segment_entries = 16;
SELECT pulsar.create_topic('crash_seg');
SELECT pulsar.create_topic('crash_fresh');
));

sub query
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# entry ids and payloads read from a topic after a message id
sub read_after
{
	my ($topic, $after) = @_;
	return query(
		qq(SELECT string_agg(pulsar.entry_id(message_id) || '=' || convert_from(payload, 'UTF8'), ' ')
			 FROM pulsar.read('$topic', '$after', 1000)));
}

sub max_entry
{
	my ($topic) = @_;
	return query(
		qq(SELECT coalesce(max(pulsar.entry_id(message_id)), -1)
			 FROM pulsar.read('$topic', 'earliest', 100000)));
}

##########################################################################
# Immediate shutdown with a publishing transaction open
##########################################################################

# committed: crash 0..19 (c1..c20), crash_top 0..4, crash_seg 0..15
query(q(SELECT pulsar.send('crash', 'c' || g) FROM generate_series(1, 10) g));
query(q(SELECT count(*) FROM pulsar.send_batch('crash',
			ARRAY(SELECT 'c' || g FROM generate_series(11, 20) g ORDER BY g))));
query(q(SELECT count(*) FROM pulsar.send_batch('crash_top',
			ARRAY(SELECT 't' || g FROM generate_series(1, 5) g ORDER BY g))));
query(q(SELECT count(*) FROM pulsar.send_batch('crash_seg',
			ARRAY(SELECT 's' || g FROM generate_series(1, 16) g ORDER BY g))));

# a reader gets part of it before the crash
my $last_read = query(
	q(SELECT message_id FROM pulsar.read('crash', 'earliest', 15)
	   ORDER BY message_id DESC LIMIT 1));
like($last_read, qr/^\d+:14:-1$/, 'before the crash, a reader has read up to entry 14');

# an open transaction sends to every topic
my $open = $node->background_psql('postgres');
$open->query_safe('BEGIN');
my $open_ids = $open->query_safe(
	q(SELECT string_agg(pulsar.entry_id(id)::text, ' ') FROM (
		SELECT pulsar.send('crash', 'u1') AS id
		UNION ALL SELECT * FROM pulsar.send_batch('crash', ARRAY['u2', 'u3'])) s));
is($open_ids, '20 21 22', 'the open transaction holds entries 20..22 of crash');
is( $open->query_safe(q(SELECT pulsar.entry_id(pulsar.send('crash_top', 'u-top')))),
	'5', 'and entry 5 of crash_top, above every committed one');
is( $open->query_safe(
		q(SELECT max(pulsar.entry_id(id)) FROM pulsar.send_batch('crash_seg',
			ARRAY['u-s1', 'u-s2', 'u-s3', 'u-s4', 'u-s5']) id)),
	'20', 'and entries 16..20 of crash_seg, in its second segment');
is( $open->query_safe(
		q(SELECT min(pulsar.entry_id(id)) || '..' || max(pulsar.entry_id(id))
			FROM pulsar.send_batch('crash_fresh',
				ARRAY(SELECT 'u-f' || g FROM generate_series(1, 40) g ORDER BY g)) id)),
	'0..39',
	'and entries 0..39 of crash_fresh, spanning three segments it was the first to reach'
);

# committed after it, above its positions (this commit also flushes the
# open transaction's WAL: its rows are stored when the server crashes)
is( query(
		q(SELECT string_agg(pulsar.entry_id(id)::text, ' ')
			FROM pulsar.send_batch('crash', ARRAY['d1', 'd2']) id)),
	'23 24',
	'a later transaction commits entries 23 and 24 of crash');

is( read_after('crash', $last_read),
	'15=c16 16=c17 17=c18 18=c19 19=c20',
	'before the crash, readers stop below the open transaction');

$node->stop('immediate');
$open->quit;
$node->start;
ok( $node->log_contains(
		'database system was interrupted|database system was not properly shut down'
	),
	'the server went through crash recovery');

is( read_after('crash', $last_read),
	'15=c16 16=c17 17=c18 18=c19 19=c20 23=d1 24=d2',
	'after the crash, the reader continues from its last id: committed messages only, including those above the crashed transaction'
);
is( query(
		q(SELECT count(*) FROM pulsar.read('crash', 'earliest', 1000))),
	'22', 'crash holds the 22 committed messages');
is( query(
		q(SELECT count(*) FROM (
			SELECT payload FROM pulsar.read('crash', 'earliest', 1000)
			UNION ALL SELECT payload FROM pulsar.read('crash_top', 'earliest', 1000)
			UNION ALL SELECT payload FROM pulsar.read('crash_seg', 'earliest', 1000)
			UNION ALL SELECT payload FROM pulsar.read('crash_fresh', 'earliest', 1000)) m
		   WHERE convert_from(payload, 'UTF8') LIKE 'u%')),
	'0', 'no message of the crashed transaction is read');
is(read_after('crash_top', 'earliest'), '0=t1 1=t2 2=t3 3=t4 4=t5',
	'crash_top holds its committed messages');
is( query(q(SELECT count(*) FROM pulsar.read('crash_seg', 'earliest', 1000))),
	'16', 'crash_seg holds its committed messages');

# new positions are above everything stored, the crashed sends included,
# and at or above the logged high-water mark: possibly with a gap
my $n1 = query(q(SELECT pulsar.entry_id(pulsar.send('crash', 'n1'))));
cmp_ok($n1, '>', 24, 'a new send on crash gets an entry above the highest stored (24)');
my $new_top = query(q(SELECT pulsar.entry_id(pulsar.send('crash_top', 'n-top'))));
cmp_ok($new_top, '>', 5,
	'a new send on crash_top gets an entry above the crashed one (5)');
cmp_ok(
	query(q(SELECT pulsar.entry_id(pulsar.send('crash_seg', 'n-seg')))),
	'>', 20,
	'a new send on crash_seg gets an entry above the crashed ones (16..20)');
cmp_ok(
	query(q(SELECT pulsar.entry_id(pulsar.send('crash_fresh', 'n-fresh')))),
	'>', 39,
	'a new send on crash_fresh gets an entry above the crashed ones (0..39)');
is(read_after('crash_fresh', 'earliest') =~ s/^\d+=//r, 'n-fresh',
	'crash_fresh reads only the new message');
is( read_after('crash', $last_read),
	"15=c16 16=c17 17=c18 18=c19 19=c20 23=d1 24=d2 $n1=n1",
	'the reader reads on into new messages');
is( read_after('crash_top', 'earliest'),
	"0=t1 1=t2 2=t3 3=t4 4=t5 $new_top=n-top",
	'crash_top reads its committed messages and the new one, nothing else');

# A transaction after recovery that aborts is a gap, and a later one that
# commits is read: the rebuilt state tracks reservations again.
my $open2 = $node->background_psql('postgres');
$open2->query_safe('BEGIN');
my $held = $open2->query_safe(q(SELECT pulsar.entry_id(pulsar.send('crash', 'w1'))));
is($held, $n1 + 1, 'a transaction after recovery holds the next entry');
query(q(SELECT pulsar.send('crash', 'n2')));
my ($crash_ledger) = $last_read =~ /^(\d+):/;
is( read_after('crash', "$crash_ledger:24:-1"),
	"$n1=n1",
	'readers stop below it again');
$open2->query_safe('ROLLBACK');
$open2->quit;
is(read_after('crash', "$crash_ledger:24:-1"),
	"$n1=n1 " . ($n1 + 2) . "=n2", 'and read on once it aborted');

##########################################################################
# kill -9 of the publishing backend: shared memory is reinitialised
##########################################################################

my $before_kill = max_entry('crash');
is($before_kill, $n1 + 2, 'crash ends at n2 before the backend crash');
my $last_before_kill = query(
	q(SELECT message_id FROM pulsar.read('crash', 'earliest', 1000)
	   ORDER BY message_id DESC LIMIT 1));
is($last_before_kill, "$crash_ledger:$before_kill:-1", 'a reader has read it all');

my $victim = $node->background_psql('postgres');
my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
$victim->query_safe('BEGIN');
is($victim->query_safe(q(SELECT pulsar.entry_id(pulsar.send('crash', 'v1')))),
	$before_kill + 1, 'the doomed transaction holds the next entry');
is( $victim->query_safe(
		q(SELECT string_agg(pulsar.entry_id(id)::text, ' ')
			FROM pulsar.send_batch('crash_top', ARRAY['v2', 'v3']) id)),
	($new_top + 1) . ' ' . ($new_top + 2),
	'and the two entries above the last one of crash_top');
my $e1 = $before_kill + 2;
is(query(q(SELECT pulsar.entry_id(pulsar.send('crash', 'e1')))),
	$e1, 'a later transaction commits the entry after it');
is(read_after('crash', $last_before_kill), '',
	'before the backend crash, readers stop below the open transaction');

my $log_offset = -s $node->logfile;
kill 'KILL', $victim_pid;
$node->wait_for_log(qr/all server processes terminated; reinitializing/,
	$log_offset);
ok( $node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'the server is back after reinitialising shared memory');
$victim->quit;

is(read_after('crash', $last_before_kill), "$e1=e1",
	'after the backend crash, the reader continues: the committed message above the crashed one, not the crashed one'
);
my $e2 = query(q(SELECT pulsar.entry_id(pulsar.send('crash', 'e2'))));
cmp_ok($e2, '>', $e1, 'a new send on crash gets an entry above the highest stored');
cmp_ok(
	query(q(SELECT pulsar.entry_id(pulsar.send('crash_top', 'e-top')))),
	'>', $new_top + 2,
	'a new send on crash_top gets an entry above both crashed ones');
is(read_after('crash', $last_before_kill), "$e1=e1 $e2=e2",
	'and the reader reads on');
is( query(
		q(SELECT count(*) FROM pulsar.read('crash', 'earliest', 1000)
		   WHERE convert_from(payload, 'UTF8') ~ '^[uvw]')),
	'0',
	'no message of any crashed or aborted transaction was ever read');

##########################################################################
# kill -9 of the postmaster while several transactions hold open sends
##########################################################################

query(q(SELECT pulsar.create_topic('crash_many')));
query(q(SELECT pulsar.subscribe('crash_many', 'sub', 'exclusive', 'earliest', consumer => 'c')));

# three transactions take positions in turn, committed sends in between
my @open_tx = map { $node->background_psql('postgres') } (1 .. 3);
$_->query_safe('BEGIN') for @open_tx;
sub open_send
{
	my ($tx, $payloads) = @_;
	return $open_tx[$tx]->query_safe(
		qq(SELECT string_agg(pulsar.entry_id(id)::text, ' ') FROM pulsar.send_batch('crash_many', ARRAY[$payloads]) id));
}
sub committed_send
{
	my ($payloads) = @_;
	return query(
		qq(SELECT string_agg(pulsar.entry_id(id)::text, ' ') FROM pulsar.send_batch('crash_many', ARRAY[$payloads]) id));
}
my @entries = (
	open_send(0, q('x1a')),
	committed_send(q('k1')),
	open_send(1, q('x2a', 'x2b')),
	open_send(0, q('x1b')),
	open_send(2, q('x3a')),
	committed_send(q('k2')),
	open_send(1, q('x2c')),
	committed_send(q('k3', 'k4')));
is("@entries", '0 1 2 3 4 5 6 7 8 9',
	'three open transactions and three committed ones took entries 0..9 in turn');
is(read_after('crash_many', 'earliest'), '',
	'before the crash, readers stop below the lowest open transaction');

# the killed postmaster's children leave on their own; until they have,
# a new postmaster refuses to start
my @server_pids = ($node->{_pid},
	split /\n/, query('SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()'));
$node->kill9;
$_->quit for @open_tx;
for (1 .. 300)
{
	last unless grep { kill 0, $_ } @server_pids;
	usleep(100_000);
}
is(join(' ', grep { kill 0, $_ } @server_pids), '',
	'every process of the killed postmaster has exited');
$node->start;

is(read_after('crash_many', 'earliest'), '1=k1 6=k2 8=k3 9=k4',
	'after the crash, a reader reads every committed message once, past the gaps of the crashed transactions');
cmp_ok(query(q(SELECT pulsar.entry_id(pulsar.send('crash_many', 'k5')))),
	'>', 9, 'a new send gets an entry above the highest, crashed ones included');
# consumers are dispatch state, lost with the crash: subscribe again
query(q(SELECT pulsar.subscribe('crash_many', 'sub', 'exclusive', consumer => 'c')));
is( query(
		q(SELECT string_agg(convert_from(payload, 'UTF8'), ' ')
			FROM pulsar.receive('crash_many', 'sub', 100, consumer => 'c'))),
	'k1 k2 k3 k4 k5',
	'a subscription delivers the committed messages, each once, and none of the crashed ones');

$node->stop;

done_testing();
