#
# PulsarFailover.pm
#	  What the failover tests share: a primary with a streaming standby
#	  (synchronous or not), a load of producers and consumers that record
#	  every commit the server confirmed to them, the primary's death, and
#	  the checks of what the promoted standby holds against those records.
#
#	  The clients are plain psql processes running generated scripts, so
#	  what they print is exactly what the server confirmed: psql prints a
#	  statement's result only after its CommandComplete, which an autocommit
#	  statement sends after its commit (and, with a synchronous standby,
#	  after the standby flushed it); a backend whose postmaster died while
#	  it waited for the standby tells its client nothing.
#
#	  Topic 'fo' has two partitions; subscription 'ex' is exclusive, 'sh'
#	  shared.  Producers send batches of one to three messages per
#	  statement; each prints "id=payload ..." once its statement committed.
#	  Consumers print "RECV id=payload ..." once a receive returned and
#	  "ACK id=payload ..." once the ack of those messages committed.  The
#	  exclusive consumer and the first shared one receive and ack in
#	  separate transactions (at least once); the second shared consumer
#	  receives and acks in one (exactly once).
#
#	  Used by test/t/005_failover_sync.pl, 006_failover_async.pl,
#	  007_rewind.pl and scripts/soak-failover.sh.
#
package PulsarFailover;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(new_pair start_load wait_for_load stop_load
  promote_and_check read_partitions acked_positions drain check_worker);

our $topic = 'fo';
our $partitions = 2;

# Settings of every node; wal_log_hints lets pg_rewind rewind an old
# primary, which also needs its WAL since the last common checkpoint.
my $common_conf = qq(
shared_preload_libraries = 'pulsar_pg'
wal_log_hints = on
wal_keep_size = '256MB'
max_connections = 40
);

# Creates a started primary (the extension, topic 'fo', subscriptions 'ex'
# and 'sh' from the earliest message) and a started streaming standby of
# it.  With sync => 1 the standby is the primary's synchronous standby and
# commits wait for it to flush (synchronous_commit = on); this returns once
# the primary reports it as 'sync'.
sub new_pair
{
	my (%opts) = @_;
	my $prefix = $opts{prefix} // 'fo';

	my $primary = PostgreSQL::Test::Cluster->new("${prefix}_primary");
	$primary->init(allows_streaming => 1);
	$primary->append_conf('postgresql.conf', $common_conf);
	$primary->start;
	$primary->safe_psql(
		'postgres', qq(
CREATE EXTENSION pulsar_pg;
SELECT pulsar.create_topic('$topic', $partitions);
SELECT pulsar.subscribe('$topic', 'ex', 'exclusive', 'earliest');
SELECT pulsar.subscribe('$topic', 'sh', 'shared', 'earliest');
));

	$primary->backup('backup');
	my $standby = PostgreSQL::Test::Cluster->new("${prefix}_standby");
	$standby->init_from_backup($primary, 'backup', has_streaming => 1);
	$standby->start;

	if ($opts{sync})
	{
		# the standby connects with application_name = its node name
		my $name = $standby->name;
		$primary->append_conf(
			'postgresql.conf', qq(
synchronous_standby_names = '$name'
synchronous_commit = on
));
		$primary->reload;
		$primary->poll_query_until('postgres',
			"SELECT sync_state = 'sync' FROM pg_stat_replication WHERE application_name = '$name'"
		) or die 'the standby never became synchronous';
	}
	else
	{
		$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	}
	return ($primary, $standby);
}

# Writes a producer script: $n autocommit statements, each sending one to
# three messages "p<k>-<i>-<j>" and printing "id=payload ...".
sub producer_script
{
	my ($file, $k, $n) = @_;
	my $script = '';
	for my $i (1 .. $n)
	{
		my $count = 1 + ($i + $k) % 3;
		my $payloads = join(', ', map { "'p$k-$i-$_'" } (1 .. $count));
		$script .=
		  "SELECT string_agg(id::text || '=' || p, ' ' ORDER BY o) FROM pulsar.send_batch('$topic', ARRAY[$payloads]::text[]) WITH ORDINALITY AS s(id, o) JOIN unnest(ARRAY[$payloads]::text[]) WITH ORDINALITY AS u(p, o) USING (o);\n";
	}
	append_to_file($file, $script);
	return;
}

# Writes a consumer script: subscribes (a session consumer), then $n times
# receives up to five messages and acks them, in one transaction or two.
sub consumer_script
{
	my ($file, $sub, $type, $one_transaction, $n) = @_;
	my $script =
	  "SELECT pulsar.subscribe('$topic', '$sub', '$type', 'earliest') \\g /dev/null\n";
	my $receive =
	  "SELECT coalesce(array_agg(message_id)::text, '{}') AS ids, coalesce(string_agg(message_id::text || '=' || convert_from(payload, 'UTF8'), ' '), '') AS got FROM pulsar.receive('$topic', '$sub', 5, '50ms') \\gset\n"
	  . "\\echo RECV :got\n";
	my $ack =
	  "SELECT pulsar.ack('$topic', '$sub', :'ids'::pulsar.message_id[]) WHERE :'ids' <> '{}' \\g /dev/null\n";
	for (1 .. $n)
	{
		$script .=
		  $one_transaction
		  ? "BEGIN;\n$receive$ack" . "COMMIT;\n\\echo ACK :got\n"
		  : "$receive$ack\\echo ACK :got\n";
	}
	append_to_file($file, $script);
	return;
}

# Starts the clients against $node: two producers, the exclusive consumer
# and two shared consumers.  Returns the load (a hash).
sub start_load
{
	my ($node, %opts) = @_;
	my $statements = $opts{statements} // 20000;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my @clients;

	for my $k (1 .. 2)
	{
		my $file = "$dir/producer$k.sql";
		producer_script($file, $k, $statements);
		push @clients, { role => 'producer', name => "p$k", file => $file };
	}
	my @consumers = (
		[ 'ex', 'ex', 'exclusive', 0 ],
		[ 'sh1', 'sh', 'shared', 0 ],
		[ 'sh2', 'sh', 'shared', 1 ]);
	for my $c (@consumers)
	{
		my ($name, $sub, $type, $one) = @$c;
		my $file = "$dir/consumer_$name.sql";
		consumer_script($file, $sub, $type, $one, $statements);
		push @clients,
		  { role => 'consumer', name => $name, sub => $sub, file => $file };
	}

	local %ENV = %ENV;
	delete $ENV{PGOPTIONS};
	for my $client (@clients)
	{
		$client->{out} = '';
		$client->{err} = '';
		$client->{handle} = IPC::Run::start(
			[
				$node->installed_command('psql'), '-X', '-A', '-t', '-q',
				'-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
				'-f', $client->{file}
			],
			'<', \undef,
			'>', \$client->{out},
			'2>', \$client->{err},
			IPC::Run::timeout(600));
	}
	return { clients => \@clients, started => time };
}

# Pumps the clients until at least $seconds passed, the producers have
# confirmed $published messages and the consumers $acked acks; dies if a
# client ends first.  psql writes to a pipe in blocks, so the counts seen
# here lag behind.
sub wait_for_load
{
	my ($load, %opts) = @_;
	my $deadline = time + 120;
	while (1)
	{
		my ($published, $acked) = (0, 0);
		for my $client (@{ $load->{clients} })
		{
			$client->{handle}->pump_nb;
			die "client $client->{name} ended early: $client->{err}"
			  unless $client->{handle}->pumpable;
			if ($client->{role} eq 'producer')
			{
				$published += () = $client->{out} =~ /=/g;
			}
			else
			{
				$acked += () = $client->{out} =~ /^ACK \S/mg;
			}
		}
		return 1
		  if time - $load->{started} >= ($opts{seconds} // 0)
		  && $published >= ($opts{published} // 0)
		  && $acked >= ($opts{acked} // 0);
		die "the load did not reach $opts{published} messages and $opts{acked} acks"
		  if time > $deadline;
		usleep(100_000);
	}
}

# Waits for every client to end (the server under them died) and parses
# what they printed.  Adds to $load:
#   published{payload} = id       confirmed sends
#   inflight{payload} = 1         payloads of the statement each producer
#                                 had sent when its server died
#   acked{sub}{payload} = id      confirmed acks
#   maybe_acked{sub}{payload} = 1 received by a consumer whose ack had not
#                                 been confirmed when its server died
#   received{sub}{payload} = n    times delivered
#   producers_failed              producers that ended with an error
sub stop_load
{
	my ($load) = @_;
	my %r = (
		published => {},
		inflight => {},
		acked => { ex => {}, sh => {} },
		maybe_acked => { ex => {}, sh => {} },
		received => { ex => {}, sh => {} },
		producers_failed => 0,
		consumers_failed => 0);

	for my $client (@{ $load->{clients} })
	{
		my $ok = eval { $client->{handle}->finish; 1 };
		$client->{handle}->kill_kill unless $ok;
		my $failed = !$ok || $? != 0;
		my @lines = split /\n/, $client->{out};

		if ($client->{role} eq 'producer')
		{
			$r{producers_failed}++ if $failed;
			my ($k) = $client->{name} =~ /^p(\d+)$/;
			my $last = 0;
			for my $line (@lines)
			{
				for my $pair (split / /, $line)
				{
					my ($id, $payload) = split /=/, $pair, 2;
					$r{published}{$payload} = $id;
					($last) = $payload =~ /^p\d+-(\d+)-/;
				}
			}
			my $next = $last + 1;
			$r{inflight}{"p$k-$next-$_"} = 1 for (1 .. 3);
		}
		else
		{
			$r{consumers_failed}++ if $failed;
			my $sub = $client->{sub};
			my %pending;
			for my $line (@lines)
			{
				my ($what, @pairs) = split / /, $line;
				my %batch = map { reverse split /=/, $_, 2 } @pairs;
				if ($what eq 'RECV')
				{
					$r{received}{$sub}{$_}++ for keys %batch;
					%pending = %batch;
				}
				elsif ($what eq 'ACK')
				{
					$r{acked}{$sub}{$_} = $batch{$_} for keys %batch;
					%pending = ();
				}
			}
			$r{maybe_acked}{$sub}{$_} = 1 for keys %pending;
		}
	}
	%$load = (%$load, %r);
	return $load;
}

# payload => message id of every message readable on $node
sub read_partitions
{
	my ($node) = @_;
	my %present;
	for my $p (0 .. $partitions - 1)
	{
		my $rows = $node->safe_psql('postgres',
			qq(SELECT message_id || '=' || convert_from(payload, 'UTF8')
				 FROM pulsar.read('$topic-partition-$p', 'earliest', 100000)));
		for my $row (split /\n/, $rows)
		{
			my ($id, $payload) = split /=/, $row, 2;
			$present{$payload} = $id;
		}
	}
	return \%present;
}

# A predicate telling whether subscription $sub's cursor on $node covers a
# message id: at or below its partition's mark-delete position, or in one
# of the acknowledged ranges above it (topic_internal_stats).
sub acked_positions
{
	my ($node, $sub) = @_;
	my $rows = $node->safe_psql(
		'postgres', qq(
SELECT p.value->'cursors'->'$sub'->>'markDeletePosition',
	   p.value->'cursors'->'$sub'->>'individuallyDeletedMessages'
  FROM jsonb_each(pulsar.topic_internal_stats('$topic')->'partitions') p));
	my %mark;		# ledger => mark-delete entry
	my %ranges;		# ledger => [[first, last], ...]
	for my $row (split /\n/, $rows)
	{
		my ($mark, $deleted) = split /\|/, $row;
		my ($ledger, $entry) = $mark =~ /^(\d+):(-?\d+)$/
		  or die "unexpected markDeletePosition '$mark'";
		$mark{$ledger} = $entry;
		while ($deleted =~ /\((\d+):(-?\d+)\.\.\d+:(-?\d+)\]/g)
		{
			push @{ $ranges{$1} }, [ $2 + 1, $3 ];
		}
	}
	return sub {
		my ($id) = @_;
		my ($ledger, $entry) = $id =~ /^(\d+):(-?\d+):/;
		die "no cursor of $sub for ledger $ledger" unless exists $mark{$ledger};
		return 1 if $entry <= $mark{$ledger};
		for my $range (@{ $ranges{$ledger} // [] })
		{
			return 1 if $entry >= $range->[0] && $entry <= $range->[1];
		}
		return 0;
	};
}

# Receives and acks everything subscription $sub delivers on $node, as a
# consumer named $consumer, until a receive comes back empty; returns
# payload => times delivered.
sub drain
{
	my ($node, $sub, $type, $consumer) = @_;
	my %delivered;
	$node->safe_psql('postgres',
		"SELECT pulsar.subscribe('$topic', '$sub', '$type', 'earliest', consumer => '$consumer')"
	);
	for (1 .. 1000)
	{
		my $rows = $node->safe_psql(
			'postgres', qq(
BEGIN;
CREATE TEMP TABLE b AS
	SELECT message_id, convert_from(payload, 'UTF8') AS p
	  FROM pulsar.receive('$topic', '$sub', 1000, '200ms', consumer => '$consumer');
SELECT count(*) FROM (SELECT pulsar.ack('$topic', '$sub', array_agg(message_id))
						FROM b HAVING count(*) > 0) a;
SELECT 'D ' || p FROM b;
COMMIT;
));
		my @got = $rows =~ /^D (.*)$/mg;
		last unless @got;
		$delivered{$_}++ for @got;
	}
	return \%delivered;
}

# Promotes $standby after its primary died under $load (stopped with
# stop_load) and checks what it holds against the clients' records.  With
# sync => 1 nothing confirmed may be missing; otherwise the losses are
# counted and returned:
#   { lost, acks_lost, reused, redelivered, published, acked }
sub promote_and_check
{
	my ($standby, $load, %opts) = @_;
	my $sync = $opts{sync};
	my $what = $sync ? 'synchronous' : 'asynchronous';
	my %stats;

	$standby->promote;
	$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die 'timed out waiting for the promotion';

	my $published = $load->{published};
	my $present = read_partitions($standby);
	$stats{published} = scalar keys %$published;

	# every confirmed message is there, under the id its producer got
	my @lost = sort grep { ($present->{$_} // '') ne $published->{$_} }
	  keys %$published;
	$stats{lost} = scalar @lost;
	if ($sync)
	{
		is(scalar(@lost), 0,
			"$what: every message whose send was confirmed ($stats{published}) is on the promoted standby, with its id"
		) or diag "lost: @lost[0 .. ($#lost < 19 ? $#lost : 19)]";
	}

	# anything else there is from a statement whose commit was not confirmed
	my @unknown = sort grep {
		!exists $published->{$_} && !exists $load->{inflight}{$_}
	} keys %$present;
	is(scalar(@unknown), 0,
		"$what: every other message on the promoted standby is one a producer had in flight"
	) or diag "unknown: @unknown[0 .. ($#unknown < 19 ? $#unknown : 19)]";

	# cursors
	my %max_entry;		# ledger => highest entry id ever confirmed or stored
	for my $id (values %$published, values %$present)
	{
		my ($ledger, $entry) = $id =~ /^(\d+):(-?\d+):/;
		$max_entry{$ledger} = $entry
		  if !defined $max_entry{$ledger} || $entry > $max_entry{$ledger};
	}
	$stats{acks_lost} = 0;
	$stats{redelivered} = 0;
	$stats{acked} = 0;
	for my $sub ('ex', 'sh')
	{
		my $type = $sub eq 'ex' ? 'exclusive' : 'shared';
		my $is_acked = acked_positions($standby, $sub);
		my $acked = $load->{acked}{$sub};
		my $maybe = $load->{maybe_acked}{$sub};
		$stats{acked} += keys %$acked;

		my @behind = sort grep { !$is_acked->($acked->{$_}) } keys %$acked;
		$stats{acks_lost} += @behind;
		if ($sync)
		{
			is(scalar(@behind), 0,
				"$what: no cursor of $sub is behind an ack it confirmed (" . scalar(keys %$acked) . ' acks)')
			  or diag "acked but not covered: @behind[0 .. ($#behind < 19 ? $#behind : 19)]";
		}

		my @phantom = sort grep {
			$is_acked->($present->{$_}) && !exists $acked->{$_} && !exists $maybe->{$_}
		} keys %$present;
		is(scalar(@phantom), 0,
			"$what: $sub covers no message that no consumer acked");

		# consumption resumes: everything not acked, once, nothing acked
		my $delivered = drain($standby, $sub, $type, "after-$sub");
		my @twice = sort grep { $delivered->{$_} > 1 } keys %$delivered;
		is(scalar(@twice), 0, "$what: after the promotion, $sub delivers no message twice");
		my @acked_again = sort grep { exists $acked->{$_} } keys %$delivered;
		if ($sync)
		{
			is(scalar(@acked_again), 0,
				"$what: after the promotion, $sub delivers no message whose ack was confirmed")
			  or diag "acked, delivered again: @acked_again[0 .. ($#acked_again < 19 ? $#acked_again : 19)]";
		}
		my @missed = sort grep {
			!$delivered->{$_} && !$is_acked->($present->{$_})
		} keys %$present;
		is(scalar(@missed), 0,
			"$what: after the promotion, $sub delivers every message not acked (" . scalar(keys %$delivered) . ' delivered)')
		  or diag "never delivered: @missed[0 .. ($#missed < 19 ? $#missed : 19)]";
		my @not_there = sort grep { !exists $present->{$_} } keys %$delivered;
		is(scalar(@not_there), 0,
			"$what: after the promotion, $sub delivers only messages that are there");
		$stats{redelivered} +=
		  grep { $load->{received}{$sub}{$_} } keys %$delivered;
	}

	# new ids never reuse old ones
	my $new_ids = $standby->safe_psql('postgres',
		qq(SELECT string_agg(id::text, ' ') FROM pulsar.send_batch('$topic', ARRAY['new-1', 'new-2', 'new-3', 'new-4']) id)
	);
	my @reused;
	for my $id (split / /, $new_ids)
	{
		my ($ledger, $entry) = $id =~ /^(\d+):(-?\d+):/;
		push @reused, $id if $entry <= ($max_entry{$ledger} // -1);
	}
	$stats{reused} = @reused;
	my @reused_present = grep {
		my ($l, $e) = /^(\d+):(-?\d+):/;
		grep { /^$l:(-?\d+):/ && $1 >= $e } values %$present
	} split / /, $new_ids;
	is(scalar(@reused_present), 0,
		"$what: new sends get ids above every message on the promoted standby ($new_ids)");
	if ($sync)
	{
		is(scalar(@reused), 0,
			"$what: new sends get ids above every id ever confirmed");
	}
	return \%stats;
}

# The background worker runs on $node and wakes a listener that connects
# after the promotion: it LISTENs on a subscription's channel, a message
# is published, and a NOTIFY arrives.
sub check_worker
{
	my ($node, $what) = @_;
	# it starts within about a second; poll for 20
	my $workers = 0;
	for (1 .. 40)
	{
		$workers = $node->safe_psql('postgres',
			q(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pulsar_pg worker' AND datname = 'postgres'));
		last if $workers > 0;
		usleep(500_000);
	}
	is($workers, '1', "$what: the pulsar_pg worker runs on the promoted standby");

	my $listener = $node->background_psql('postgres');
	my $channel = $listener->query_safe(qq(SELECT pulsar.channel('$topic', 'ex')));
	$listener->query_safe(qq(LISTEN "$channel"));
	$node->safe_psql('postgres', qq(SELECT pulsar.send('$topic', 'wake-up')));
	my $notified = '';
	for (1 .. 100)
	{
		my $out = $listener->query('SELECT 1');
		if ($out =~ /Asynchronous notification "\Q$channel\E" with payload "([^"]*)"/)
		{
			$notified = $1;
			last;
		}
		usleep(100_000);
	}
	$listener->quit;
	like($notified, qr{^persistent://public/default/$topic(-partition-\d+)? \d+:\d+:-?\d+$},
		"$what: a listener that reconnected is notified of a new message on $channel");
	return;
}

1;
