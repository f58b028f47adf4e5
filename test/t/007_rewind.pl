#!/usr/bin/perl
#
# 007_rewind.pl
#	  An old primary rejoins, through pg_rewind, as a standby of the standby
#	  that replaced it; nothing it had alone is ever delivered.
#
#	  The standby is cut off from the primary (primary_conninfo emptied),
#	  and the primary goes on alone: it commits messages to an existing
#	  topic, creates a topic with messages and acks messages of a
#	  subscription.  Then it dies (kill -9), the standby is promoted and
#	  publishes, reusing the positions the old primary had given away
#	  alone.  pg_rewind (wal_log_hints = on) turns the old primary into a
#	  standby of the new one; after a switchover back to it, it holds
#	  exactly what the new primary held: not the messages, topic or acks it
#	  had alone.
#
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PulsarFailover;
use Test::More;
use Time::HiRes qw(usleep);

my ($old, $new) = new_pair(sync => 0, prefix => 'rewind');
my $topic = $PulsarFailover::topic;

# shared history: 10 messages, the first 3 acked on 'ex'
$old->safe_psql(
	'postgres', qq(
SELECT count(*) FROM pulsar.send_batch('$topic-partition-0', ARRAY(SELECT 'common-' || g FROM generate_series(1, 10) g ORDER BY g));
SELECT pulsar.subscribe('$topic', 'ex', 'exclusive', consumer => 'c');
SELECT pulsar.ack('$topic', 'ex', ARRAY(SELECT message_id FROM pulsar.read('$topic-partition-0', 'earliest', 3)));
));
$old->wait_for_catchup($new, 'replay', $old->lsn('insert'));

# cut the standby off
$new->append_conf('postgresql.conf', "primary_conninfo = ''");
$new->reload;
$old->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_stat_replication')
  or die 'the standby did not disconnect';

# the old primary alone
$old->safe_psql(
	'postgres', qq(
SELECT count(*) FROM pulsar.send_batch('$topic-partition-1', ARRAY(SELECT 'alone-' || g FROM generate_series(1, 6) g ORDER BY g));
SELECT pulsar.create_topic('alone_topic');
SELECT pulsar.send('alone_topic', 'alone-topic-' || g) FROM generate_series(1, 5) g;
SELECT pulsar.ack_cumulative('$topic', 'ex', (SELECT pulsar.max(message_id) FROM pulsar.read('$topic-partition-0', 'earliest', 10)));
));
my $alone = read_partitions($old);
is(scalar(grep { /^alone-/ } keys %$alone), 6,
	'the old primary committed 6 messages alone');
my $alone_acked = acked_positions($old, 'ex');
is(scalar(grep { $alone_acked->($alone->{"common-$_"}) } 1 .. 10), 10,
	'and acked all 10 shared messages of ex alone');

$old->kill9;
$new->promote;
$new->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'timed out waiting for the promotion';

# the new primary reuses the positions the old one gave away alone
my $new_ids = $new->safe_psql('postgres',
	qq(SELECT string_agg(id::text, ' ') FROM pulsar.send_batch('$topic-partition-1', ARRAY(SELECT 'new-' || g FROM generate_series(1, 6) g ORDER BY g)) id)
);
my %alone_ids = map { $alone->{$_} => 1 } grep { /^alone-/ } keys %$alone;
is(scalar(grep { $alone_ids{$_} } split / /, $new_ids), 6,
	'the new primary gives the positions of the lost messages to new ones');
my $expected = read_partitions($new);
is(join(',', sort grep { !/^(common|new)-/ } keys %$expected), '',
	'the new primary holds only the shared messages and its own');

##########################################################################
# pg_rewind the old primary into a standby of the new one
##########################################################################

# pg_rewind reads the source's timeline from its control file, which the
# end-of-recovery checkpoint updates
$new->safe_psql('postgres', 'CHECKPOINT');

# pg_rewind copies the source's configuration files: keep the old one's
my $conf = $old->data_dir . '/postgresql.conf';
my $saved_conf = slurp_file($conf);

# the killed postmaster's backends may take a moment to go: pg_rewind
# first runs crash recovery in single-user mode, which needs them gone
my $rewound = 0;
for (1 .. 20)
{
	$rewound = $old->run_log(
		[
			'pg_rewind', '--target-pgdata=' . $old->data_dir,
			'--source-server=' . $new->connstr('postgres')
		]);
	last if $rewound;
	usleep(500_000);
}
ok($rewound, 'pg_rewind rewinds the old primary') or die 'pg_rewind failed';

# restore it, and follow the new primary
open my $fh, '>', $conf or die "open $conf: $!";
print $fh $saved_conf;
close $fh;
$old->append_conf('postgresql.conf',
	"primary_conninfo = '" . $new->connstr . ' application_name=' . $old->name . "'");
$old->set_standby_mode;
$old->start;
$new->wait_for_catchup($old, 'replay', $new->lsn('insert'));
is($old->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'the old primary runs as a standby of the new one');
is($old->safe_psql('postgres', q(SELECT count(*) FROM pulsar.topic WHERE name = 'alone_topic')),
	'0', 'the topic it created alone is gone');

##########################################################################
# switch over to it: it holds what the new primary held, nothing of its own
##########################################################################

$new->stop;
$old->promote;
$old->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'timed out waiting for the promotion';

my $after = read_partitions($old);
is( join(',', map { "$_=$after->{$_}" } sort keys %$after),
	join(',', map { "$_=$expected->{$_}" } sort keys %$expected),
	'after the switchover it reads exactly the messages of the new primary, with their ids');
my ($ret, $stdout, $stderr) = $old->psql('postgres',
	q(SELECT count(*) FROM pulsar.read('alone_topic', 'earliest', 100)));
like($stderr, qr/does not exist/, 'the topic it had created alone does not exist');

my $delivered = drain($old, 'ex', 'exclusive', 'after');
is( join(',', sort keys %$delivered),
	join(',', sort((map { "common-$_" } 4 .. 10), map { "new-$_" } 1 .. 6)),
	'ex delivers every message not acked in the surviving history, including those acked alone, and no message the old primary had alone');

$old->stop;

done_testing();
