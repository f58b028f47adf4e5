#!/usr/bin/perl
#
# 031_fault_failover.pl
#	  The randomized faults of 030_fault_random.pl across a failover
#	  (DESIGN invariants 0, 2 and 6): a primary with a synchronous standby
#	  (synchronous_standby_names, synchronous_commit = on) under
#	  test/fault/fault_driver.py's producers, consumers and terminated
#	  backends; in the middle, after a VACUUM on the primary, the primary
#	  is stopped in immediate mode and the standby promoted, and every
#	  client reconnects to it.  On the promoted standby the same model
#	  must hold: nothing whose commit was confirmed is lost, every
#	  committed message is processed exactly once, nothing is stranded,
#	  and no id is handed out again after the promotion.
#
#	  Runs a shared subscription on a topic with two partitions.
#	  PULSAR_FAULT_SEED sets the seed (default 1), PULSAR_FAULT_SECONDS
#	  the load (default 12).
#
use strict;
use warnings;

use FindBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seed = $ENV{PULSAR_FAULT_SEED} // 1;
my $seconds = $ENV{PULSAR_FAULT_SECONDS} // 12;
my $python = '/usr/bin/python3';
my $driver = "$FindBin::RealBin/../fault/fault_driver.py";

plan skip_all => "$python with psycopg 3 is needed (python3-psycopg)"
  unless system($python, '-c', 'import psycopg') == 0;

# a word for sh -c
sub shell_quote
{
	my ($word) = @_;
	return $word if $word =~ m{^[-\w./=:]+$};
	$word =~ s/'/'\\''/g;
	return "'$word'";
}

my $conf = q(
shared_preload_libraries = 'pulsar_pg'
pulsar_pg.consumer_lease = '2s'
max_connections = 60
wal_keep_size = '256MB'
);

my $primary = PostgreSQL::Test::Cluster->new('fault_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', $conf);
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('fault_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

my $name = $standby->name;
$primary->append_conf(
	'postgresql.conf', qq(
synchronous_standby_names = '$name'
synchronous_commit = on
));
$primary->reload;
$primary->poll_query_until('postgres',
	"SELECT sync_state = 'sync' FROM pg_stat_replication WHERE application_name = '$name'")
  or die 'the standby never became synchronous';
pass('the standby is synchronous');

my $pg_ctl = $primary->installed_command('pg_ctl');
my $failover = join(' ',
	(map { shell_quote($_) } $pg_ctl, '-D', $primary->data_dir, '-m', 'immediate', 'stop'),
	'&&',
	(map { shell_quote($_) } $pg_ctl, '-D', $standby->data_dir, '-w', '-t', '120', 'promote'));

my @cmd = (
	$python, $driver,
	'--dsn' => $primary->connstr('postgres'),
	'--after-dsn' => $standby->connstr('postgres'),
	'--seed' => $seed,
	'--duration' => $seconds,
	'--type' => 'shared',
	'--partitions' => 2,
	'--fault' => $failover);
my $out = '';
my $ok = eval {
	IPC::Run::run(\@cmd, '<', \undef, '>&', \$out, IPC::Run::timeout($seconds + 300));
};
my $status = $ok ? 0 : ($@ ? "died: $@" : $? >> 8);
$primary->_update_pid(-1);
$standby->_update_pid(-1);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	'f', 'the standby was promoted');
is($status, 0,
	"the model holds across the promotion of a synchronous standby (seed $seed)")
  or diag("driver output:\n$out");
note($1) if $out =~ /^fault: ((?:PASS|FAIL) .*)$/m;
note($1) if $out =~ /^fault: (counts: .*)$/m;

for my $node ($primary, $standby)
{
	my @crashes = grep { /was terminated by signal|PANIC:|TRAP:/ }
	  split /\n/, slurp_file($node->logfile);
	is(scalar(@crashes), 0, $node->name . ': no server process crashed')
	  or diag(join("\n", @crashes[0 .. ($#crashes < 9 ? $#crashes : 9)]));
}

$standby->stop;

done_testing();
