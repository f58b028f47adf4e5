#!/usr/bin/perl
#
# 030_fault_random.pl
#	  Randomized faults against each subscription type (DESIGN invariants
#	  0, 1, 2, 6 and 6a): test/fault/fault_driver.py runs producers that
#	  roll back, consumers that receive, process and ack in one
#	  transaction and roll back, disconnect, nack, hold their transaction
#	  past the consumer lease or stop calling, and backends terminated at
#	  random; in the middle, after a VACUUM, a fast restart and then an
#	  immediate one (crash recovery).  Then it drains the subscription and
#	  checks its model: nothing committed lost, every committed message
#	  processed exactly once, no message of a rolled-back send delivered,
#	  nothing stranded in the backlog, no id handed out again after a
#	  restart, no session consumer detached while its session lives, no
#	  worker waiting for an idle transaction, no unexpected error.
#
#	  Runs: exclusive, failover, shared and key_shared on a topic without
#	  partitions (exclusive and failover acknowledge cumulatively or not,
#	  at random), then failover with individual acks and nacks on a topic
#	  with three partitions.
#
#	  PULSAR_FAULT_SEED sets the first run's seed (default 1; run n uses
#	  seed + n - 1), PULSAR_FAULT_SECONDS each run's load (default 12).
#	  A failing run prints what differed and its seed; to repeat it:
#	  test/fault/fault_driver.py --seed S (see scripts/soak-faults.sh).
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

my $node = PostgreSQL::Test::Cluster->new('fault');
$node->init;
$node->append_conf(
	'postgresql.conf', q(
shared_preload_libraries = 'pulsar_pg'
pulsar_pg.consumer_lease = '2s'
max_connections = 60
restart_after_crash = on
));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');

my $pg_ctl = $node->installed_command('pg_ctl');
my @ctl = ($pg_ctl, '-D', $node->data_dir, '-l', $node->logfile, '-w', '-t', '120');
my $fast = join(' ', map { shell_quote($_) } @ctl, '-m', 'fast', 'restart');
my $immediate = join(' ', map { shell_quote($_) } @ctl, '-m', 'immediate', 'restart');

my @runs = (
	[ 'exclusive', 0 ],
	[ 'failover', 0 ],
	[ 'shared', 0 ],
	[ 'key_shared', 0 ],
	[ 'failover', 3, '--ack', 'individual' ]);

my $n = 0;
for my $run (@runs)
{
	my ($type, $partitions, @extra) = @$run;
	my $run_seed = $seed + $n++;
	my $name = $partitions ? "$type, $partitions partitions" : $type;
	my @cmd = (
		$python, $driver,
		'--dsn' => $node->connstr('postgres'),
		'--seed' => $run_seed,
		'--duration' => $seconds,
		'--type' => $type,
		'--partitions' => $partitions,
		'--fault' => $fast,
		'--fault' => $immediate,
		@extra);
	my $log_offset = -s $node->logfile;
	my $out = '';
	my $ok = eval {
		IPC::Run::run(\@cmd, '<', \undef, '>&', \$out,
			IPC::Run::timeout($seconds + 300));
	};
	my $status = $ok ? 0 : ($@ ? "died: $@" : $? >> 8);
	# the driver restarted the server behind the node's back
	$node->_update_pid(-1);

	my ($summary) = $out =~ /^fault: ((?:PASS|FAIL) .*)$/m;
	is($status, 0,
		"$name: the model holds through random faults, a fast restart and a crash (seed $run_seed)")
	  or diag("driver output:\n$out");
	note($summary // 'the driver printed no verdict');
	note($1) if $out =~ /^fault: (counts: .*)$/m;

	my @crashes = grep { /was terminated by signal|PANIC:|TRAP:/ }
	  split /\n/, slurp_file($node->logfile, $log_offset);
	is(scalar(@crashes), 0, "$name: no server process crashed")
	  or diag(join("\n", @crashes[0 .. ($#crashes < 9 ? $#crashes : 9)]));
}

$node->stop;

done_testing();
