#!/usr/bin/perl
#
# 006_failover_async.pl
#	  The load of 005_failover_sync.pl against a primary whose standby is
#	  asynchronous (no synchronous_standby_names): the primary confirms a
#	  commit before the standby has it, so the promotion may lose the last
#	  confirmed messages and acks.  This test measures and reports how many
#	  (note lines in the test output; docs/replication.md quotes them) and
#	  checks what holds all the same: the promoted standby holds nothing
#	  that was not published, its cursors cover nothing no consumer acked,
#	  consumption resumes with every message not acknowledged there, once,
#	  and new sends get ids above every message it holds.  It asserts no
#	  loss only in the synchronous case (005).
#
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PulsarFailover;
use Test::More;

my ($primary, $standby) = new_pair(sync => 0, prefix => 'async');

is( $primary->safe_psql('postgres',
		q(SELECT current_setting('synchronous_standby_names') = '' AND sync_state = 'async' FROM pg_stat_replication)),
	't',
	'the standby is asynchronous (synchronous_standby_names is empty)');

my $load = start_load($primary);
wait_for_load($load, seconds => 4, published => 300, acked => 50);
$primary->kill9;
stop_load($load);

is($load->{producers_failed}, 2,
	'both producers were publishing when the primary died');
is($load->{consumers_failed}, 3,
	'all three consumers were consuming when the primary died');

my $stats = promote_and_check($standby, $load, sync => 0);
note sprintf(
	'asynchronous: %d confirmed messages, %d lost; %d confirmed acks, %d lost; %d new ids reuse ids of lost messages; %d messages redelivered',
	$stats->{published}, $stats->{lost}, $stats->{acked}, $stats->{acks_lost},
	$stats->{reused}, $stats->{redelivered});
note 'no confirmed message or ack is lost with synchronous_standby_names naming the standby '
  . 'and synchronous_commit = on or remote_apply on the primary (005_failover_sync.pl)';

$standby->stop;

done_testing();
