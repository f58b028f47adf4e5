#!/usr/bin/perl
#
# 005_failover_sync.pl
#	  A primary with a synchronous standby is killed (kill -9 of the
#	  postmaster) while producers publish and exclusive and shared
#	  consumers receive and ack; the standby is promoted.  What a client
#	  was told had committed survives (DESIGN invariant 2):
#
#	  - every message whose send was confirmed is on the new primary, with
#		its id, and nothing else but what a producer had in flight;
#	  - no subscription's cursor is behind an ack that was confirmed, and
#		none covers a message no consumer acked;
#	  - consumption resumes: every message not acknowledged is delivered,
#		once; no message whose ack was confirmed is delivered again;
#	  - new sends get ids above every old one;
#	  - the background worker runs on the new primary and notifies a
#		listener that reconnected (notifications are not replicated).
#
#	  The clients and the checks are in test/perl/PulsarFailover.pm.
#
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PulsarFailover;
use Test::More;

my ($primary, $standby) = new_pair(sync => 1, prefix => 'sync');

is( $primary->safe_psql('postgres',
		q(SELECT current_setting('synchronous_commit') || ' ' || sync_state FROM pg_stat_replication)),
	'on sync',
	'commits wait for the standby to flush (synchronous_commit = on, sync_state = sync)');

# no worker on a hot standby
is( $standby->safe_psql('postgres',
		q(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pulsar_pg worker')),
	'0', 'no pulsar_pg worker runs on the hot standby');

my $load = start_load($primary);
wait_for_load($load, seconds => 4, published => 300, acked => 50);
$primary->kill9;
stop_load($load);

is($load->{producers_failed}, 2,
	'both producers were publishing when the primary died');
is($load->{consumers_failed}, 3,
	'all three consumers were consuming when the primary died');
note sprintf('confirmed before the kill: %d messages published, %d acks on ex, %d on sh',
	scalar keys %{ $load->{published} },
	scalar keys %{ $load->{acked}{ex} },
	scalar keys %{ $load->{acked}{sh} });

my $stats = promote_and_check($standby, $load, sync => 1);
note sprintf(
	'synchronous: %d confirmed messages, %d lost; %d confirmed acks, %d lost; %d messages redelivered',
	$stats->{published}, $stats->{lost}, $stats->{acked}, $stats->{acks_lost},
	$stats->{redelivered});

check_worker($standby, 'synchronous');

$standby->stop;

done_testing();
