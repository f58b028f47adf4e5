#!/usr/bin/perl
#
# 020_cli.pl
#	  The pulsar-pg command-line client (cli/pulsar-pg, built by make in the
#	  source tree):
#
#	  - wrong arguments give a usage message on stderr and exit status 2,
#		--help of every command exits 0, and a server error is shown with
#		its SQLSTATE and exit status 1;
#	  - connection parameters come from -d (a conninfo string, several
#		hosts allowed) or the PG* environment variables;
#	  - produce then consume: the messages, keys and properties come back,
#		and are acknowledged; read and stats see them;
#	  - consume sleeps on its subscription's LISTEN channel: a NOTIFY on the
#		channel wakes it, and a message published while it sleeps reaches
#		it within a bound far below its recheck interval, so only the
#		background worker's notification can have woken it;
#	  - after the server restarts, a running consumer reconnects, LISTENs
#		again, and gets messages published after the restart; it exits
#		cleanly with status 0 on SIGINT and SIGTERM;
#	  - perf produce and perf e2e run and report in pulsar-perf's form.
#
use strict;
use warnings;

use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

# prove runs in the source tree; TESTDIR names it too
my $srcdir = $ENV{TESTDIR} // '.';
my $cli = File::Spec->rel2abs("$srcdir/cli/pulsar-pg");
unless (-x $cli)
{
	fail("$cli exists: build it with make in the source tree");
	done_testing();
	exit 1;
}

# a consumer's recheck interval, far above every bound below: only a
# notification can wake it in time
my $recheck = 60;
# how long a woken consumer may take to show a message
my $wake_bound = 5;

my $node = PostgreSQL::Test::Cluster->new('cli');
$node->init;
$node->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'pulsar_pg'
));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');

my $connstr = $node->connstr('postgres');

# Run the client to completion: (exit status, stdout, stderr).
sub cli
{
	my @args = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $cli, @args ], '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout(120));
	return ($? >> 8, $out, $err);
}

# Start a client in the background, with its output in the hash returned.
sub cli_start
{
	my @args = @_;
	my $bg = { out => '', err => '' };
	$bg->{h} = IPC::Run::start([ $cli, @args ],
		'<', \undef, '>', \$bg->{out}, '2>', \$bg->{err},
		IPC::Run::timeout(300));
	return $bg;
}

# Pump a background client until its stdout (or stderr, with $stream 'err')
# matches, or the time is up.
sub wait_output
{
	my ($bg, $re, $seconds, $stream) = @_;
	my $until = time + $seconds;
	$stream //= 'out';
	while (1)
	{
		$bg->{h}->pump_nb;
		return 1 if $bg->{$stream} =~ $re;
		return 0 if time >= $until;
		usleep(20_000);
	}
}

# Stop a background client with a signal; its exit status.
sub cli_stop
{
	my ($bg, $signal) = @_;
	$bg->{h}->signal($signal);
	$bg->{h}->finish;
	return $? >> 8;
}

# Wait until the consumer whose application_name is $app sleeps: idle after
# its receive found fewer messages than it asked for, or after acknowledging
# those it found.  Returns its backend's query_start.
sub consumer_sleeping
{
	my ($app) = @_;
	my $where = qq{application_name = '$app' AND state = 'idle'
				   AND query ~ 'pulsar[.](receive|ack)[(]'};
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE $where")
	  or return undef;
	return $node->safe_psql('postgres',
		"SELECT query_start FROM pg_stat_activity WHERE $where");
}

# Send a bare NOTIFY on the channel of the sleeping consumer $app: returns
# how many seconds later it started another receive (undef if it did not).
sub wake_by_notify
{
	my ($app, $channel) = @_;
	my $started = consumer_sleeping($app);
	return undef unless defined $started;
	my $notified_at = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
	$node->safe_psql('postgres', qq(NOTIFY "$channel"));
	$node->poll_query_until('postgres',
		qq(SELECT query_start > '$started' FROM pg_stat_activity
			WHERE application_name = '$app' AND state = 'idle'))
	  or return undef;
	return $node->safe_psql('postgres',
		qq(SELECT extract(epoch FROM query_start - '$notified_at')
			 FROM pg_stat_activity WHERE application_name = '$app'));
}

##########################################################################
# Arguments, help and errors
##########################################################################

my ($rc, $out, $err) = cli();
is($rc, 2, 'no command: exit status 2');
like($err, qr/no command given.*Usage:/s, 'no command: usage on stderr');

for my $case (
	[ [ 'frobnicate' ], qr/unknown command "frobnicate"/, 'an unknown command' ],
	[ [ '-d', $connstr, 'produce', 'cli_t' ], qr/no message to send/, 'produce without -m' ],
	[ [ 'produce', '-m', 'x' ], qr/the topic is missing/, 'produce without a topic' ],
	[ [ 'produce', 'a', 'b', '-m', 'x' ], qr/too many arguments/, 'produce with two topics' ],
	[ [ 'produce', 'cli_t', '-m', 'x', '-n', 'zero' ], qr/invalid value "zero" for -n/, 'produce -n zero' ],
	[ [ 'produce', 'cli_t', '-m', 'x', '-p', 'novalue' ], qr/invalid property "novalue"/, 'a property without =' ],
	[ [ 'consume', 'cli_t' ], qr/the subscription is missing/, 'consume without -s' ],
	[ [ 'consume', 'cli_t', '-s', 's', '-t', 'fancy' ], qr/invalid subscription type "fancy"/, 'consume -t fancy' ],
	[ [ 'consume', 'cli_t', '-s', 's', '-p', 'middle' ], qr/invalid position "middle"/, 'consume -p middle' ],
	[ [ 'consume', 'cli_t', '-s', 's', '--bogus' ], qr/unrecognized option/, 'an unknown option' ],
	[ [ 'read', 'cli_t', '-n', '-1' ], qr/invalid value "-1" for -n/, 'read -n -1' ],
	[ [ 'topics' ], qr/the action is missing/, 'topics without an action' ],
	[ [ 'topics', 'rename', 'x' ], qr/unknown action "rename"/, 'topics rename' ],
	[ [ 'namespaces' ], qr/the command is missing/, 'namespaces without an action' ],
	[ [ 'namespaces', 'set-quota', 'public/default' ], qr/unknown namespaces command "set-quota"/, 'namespaces set-quota' ],
	[ [ 'namespaces', 'set-max-topics-per-namespace', 'public/default' ],
	  qr/needs --max-topics-per-namespace/, 'a count limit without its value' ],
	[ [ 'namespaces', 'set-max-consumers-per-topic', 'public/default', '-c', '-1' ],
	  qr/invalid value "-1" for max-consumers-per-topic/, 'a negative limit' ],
	[ [ 'namespaces', 'set-publish-rate', 'public/default', '-m', 'fast' ],
	  qr/invalid value "fast" for msg-publish-rate/, 'a rate that is not a number' ],
	[ [ 'namespaces', 'set-max-topics-per-namespace', 'public/default', '-b', '3' ],
	  qr/takes no -b/, 'an option of another action' ],
	[ [ 'namespaces', 'set-dispatch-rate', 'public/default', '--msg-publish-rate', '3' ],
	  qr/unrecognized option/, 'a long option of another action' ],
	[ [ 'namespaces', 'set-publish-rate' ], qr/the namespace is missing/, 'namespaces without a namespace' ],
	[ [ 'stats' ], qr/the topic is missing/, 'stats without a topic' ],
	[ [ 'perf' ], qr/perf needs produce, consume or e2e/, 'perf without a mode' ],
	[ [ 'perf', 'e2e', 'cli_t', '-s', '4' ], qr/e2e needs messages of at least \d+ bytes/, 'perf e2e with tiny messages' ],
	[ [ 'perf', 'consume', 'cli_t', '-c', '2' ], qr/exclusive subscription takes one consumer/, 'two exclusive perf consumers' ],
	[ [ 'perf', 'produce', 'cli_t', '--wait', 'sometimes' ], qr/listen or receive/, 'perf --wait sometimes' ])
{
	my ($args, $re, $name) = @$case;
	($rc, $out, $err) = cli(@$args);
	is($rc, 2, "$name: exit status 2");
	like($err, qr/$re.*Usage:/s, "$name: says why, with the usage, on stderr");
	is($out, '', "$name: nothing on stdout");
}

for my $command ([], ['produce'], ['consume'], ['read'], ['topics'], ['namespaces'], ['stats'], ['perf'], ['perf', 'e2e'])
{
	($rc, $out, $err) = cli(@$command, '--help');
	is($rc, 0, "@$command --help: exit status 0");
	like($out, qr/^Usage:\n  pulsar-pg/, "@$command --help: usage on stdout");
}

# the version reported is the extension's, from its control file
my ($control_version) =
  PostgreSQL::Test::Utils::slurp_file("$srcdir/pulsar_pg.control") =~ /^default_version = '([^']+)'/m;
($rc, $out, $err) = cli('--version');
is($rc, 0, '--version: exit status 0');
is($out, "pulsar-pg (pulsar_pg) $control_version\n",
	'--version reports the version of the extension it was built with');
is($node->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg'"),
	$control_version, 'which is the version CREATE EXTENSION installs');

($rc, $out, $err) = cli('-d', $connstr, 'stats', 'no_such_topic');
is($rc, 1, 'a server error: exit status 1');
like($err,
	qr/ERROR:  topic "persistent:\/\/public\/default\/no_such_topic" does not exist \(SQLSTATE 42704\)/,
	'a server error is shown with its SQLSTATE');

($rc, $out, $err) = cli('-d', $connstr . ' port=1', 'stats', 'x');
is($rc, 1, 'a connection failure: exit status 1');
like($err, qr/could not connect/, 'a connection failure says so');

##########################################################################
# Connection parameters
##########################################################################

# several hosts: libpq tries them in turn
my $host = $node->host;
my $port = $node->port;
($rc, $out, $err) = cli('-d', "host=/nonexistent/dir,$host port=$port dbname=postgres",
	'topics', 'create', 'cli_conn');
is($rc, 0, 'a multi-host conninfo string reaches the server that is up')
  or diag $err;
is($out, "persistent://public/default/cli_conn\n", 'topics create prints the full name');

{
	local $ENV{PGHOST} = $host;
	local $ENV{PGPORT} = $port;
	local $ENV{PGDATABASE} = 'postgres';
	($rc, $out, $err) = cli('topics', 'list');
	is($rc, 0, 'without -d, the PG* environment variables apply') or diag $err;
	like($out, qr{^persistent://public/default/cli_conn\t0$}m, 'topics list shows the topic');
}

($rc, $out, $err) = cli('--dbname', $connstr, 'topics', 'create', 'cli_part', '-p', '3');
is($rc, 0, 'topics create -p 3');
($rc, $out, $err) = cli("--dbname=$connstr", 'topics', 'list', 'public/default');
is($out, "persistent://public/default/cli_conn\t0\npersistent://public/default/cli_part\t3\n",
	'topics list NAMESPACE lists its topics and their partitions');
($rc, $out, $err) = cli('topics', 'delete', 'cli_part', '-d', $connstr);
is($rc, 0, 'topics delete');
($rc, $out, $err) = cli('-d', $connstr, 'topics', 'list', 'public/default');
is($out, "persistent://public/default/cli_conn\t0\n", 'the deleted topic is gone');

##########################################################################
# namespaces: limits in pulsar-admin's form
##########################################################################

$node->safe_psql('postgres', q(
	SELECT pulsar.create_tenant('clit');
	SELECT pulsar.create_namespace('clit/ns');
));
# the effective value of a policy of clit/ns
sub limit_of
{
	my ($policy) = @_;
	return $node->safe_psql('postgres',
		"SELECT pulsar.get_policies('clit/ns') #> '{$policy,namespace}'");
}

for my $case (
	[ [ 'set-max-topics-per-namespace', '-t', '2' ], 'max_topics_per_namespace', '{"max": 2}' ],
	[ [ 'set-max-subscriptions-per-topic', '--max-subscriptions-per-topic', '3' ],
	  'max_subscriptions_per_topic', '{"max": 3}' ],
	[ [ 'set-max-consumers-per-topic', '-c', '4' ], 'max_consumers_per_topic', '{"max": 4}' ],
	[ [ 'set-max-consumers-per-subscription', '--max-consumers-per-subscription=5' ],
	  'max_consumers_per_subscription', '{"max": 5}' ],
	[ [ 'set-max-unacked-messages-per-subscription', '-m', '0' ],
	  'max_unacked_messages_per_subscription', '{"max": null}' ],
	[ [ 'set-publish-rate', '-m', '100', '--byte-publish-rate', '1048576' ],
	  'publish_rate', '{"bytes_per_second": 1048576, "messages_per_second": 100}' ],
	[ [ 'set-dispatch-rate', '--msg-dispatch-rate', '7' ],
	  'dispatch_rate', '{"bytes_per_second": null, "messages_per_second": 7}' ])
{
	my ($args, $policy, $stored) = @$case;
	my ($action, @options) = @$args;
	($rc, $out, $err) = cli('namespaces', $action, 'clit/ns', @options, '-d', $connstr);
	is($rc, 0, "namespaces $action exits 0") or diag $err;
	is(limit_of($policy), $stored, "namespaces $action sets $policy");
}

($rc, $out, $err) = cli('namespaces', 'policies', 'clit/ns', '-d', $connstr);
is($rc, 0, 'namespaces policies exits 0') or diag $err;
like($out, qr/"dispatch_rate": \{.*"messages_per_second": 7/s,
	'namespaces policies prints the policies');

# the limits hold for calls through the client too
($rc, $out, $err) = cli('-d', $connstr, 'topics', 'create', 'clit/ns/t', '-p', '2');
is($rc, 0, 'a partitioned topic takes the namespace\'s two topic slots') or diag $err;
($rc, $out, $err) = cli('-d', $connstr, 'topics', 'create', 'clit/ns/u');
is($rc, 1, 'a topic over max_topics_per_namespace: exit status 1');
like($err, qr/namespace "clit\/ns" has reached its limit of 2 topics \(SQLSTATE 54000\)/,
	'and the limit\'s error');

($rc, $out, $err) = cli('-d', $connstr, 'namespaces', 'set-publish-rate', 'clit/none', '-m', '1');
is($rc, 1, 'a namespace that does not exist: exit status 1');
like($err, qr/namespace "clit\/none" does not exist \(SQLSTATE 42704\)/, 'and says so');
is($node->safe_psql('postgres', q(SELECT count(*) FROM pulsar.policy WHERE namespace = 'none')),
	'0', 'and sets nothing');

($rc, $out, $err) = cli('-d', $connstr, 'topics', 'delete', 'clit/ns/t');
is($rc, 0, 'topics delete in a limited namespace');

##########################################################################
# produce, then consume
##########################################################################

($rc, $out, $err) = cli('-d', $connstr, 'produce', 'cli_rt', '-m', 'first', '-m', 'second',
	'-k', 'key-1', '-p', 'color=blue', '-p', 'quote="x"', '-n', '2');
is($rc, 0, 'produce exits 0') or diag $err;
my ($ledger) = $out =~ /^(\d+):/;
$ledger //= 'none';
is($out, join('', map { "$ledger:$_:-1\n" } 0 .. 3),
	'produce prints the id of each of the 2 x 2 messages, in order');
like($err, qr/4 messages produced/, 'and says how many it sent');

my $file = $node->basedir . '/payload.bin';
append_to_file($file, "line one\nline two");
($rc, $out, $err) = cli('-d', $connstr, 'produce', 'cli_rt', '-f', $file, '-q');
is($rc, 0, 'produce -f exits 0');
is($out, '', 'produce -q prints no ids');

($rc, $out, $err) = cli('-d', $connstr, 'consume', 'cli_rt', '-s', 'rt', '-p', 'earliest', '-n', '5');
is($rc, 0, 'consume -n 5 exits 0 after five messages') or diag $err;
my @got = $out =~ /^message_id:\[(\S+)\], key:\[(.*?)\], properties:\[(.*?)\], content:(.*)$/mg;
is_deeply(
	[ @got[ 0 .. 15 ] ],
	[
		"$ledger:0:-1", 'key-1', '{"color": "blue", "quote": "\"x\""}', 'first',
		"$ledger:1:-1", 'key-1', '{"color": "blue", "quote": "\"x\""}', 'second',
		"$ledger:2:-1", 'key-1', '{"color": "blue", "quote": "\"x\""}', 'first',
		"$ledger:3:-1", 'key-1', '{"color": "blue", "quote": "\"x\""}', 'second',
	],
	'consume prints the messages in order, with their keys and properties');
like($out, qr/message_id:\[$ledger:4:-1\], key:\[null\], properties:\[\], content:line one\nline two\n\z/,
	'and the file, byte for byte');
like($err, qr/5 messages received/, 'and says how many it received');
is( $node->safe_psql('postgres',
		q(SELECT pulsar.topic_stats('cli_rt') #>> '{subscriptions,rt,msgBacklog}')),
	'0', 'consume acknowledged what it printed: the backlog is empty');

($rc, $out, $err) = cli('-d', $connstr, 'read', 'cli_rt', '--start-after', "$ledger:2:-1", '-P');
is($rc, 0, 'read exits 0');
is($out, "second\nline one\nline two\n", 'read --start-after -P prints the payloads after that id');
($rc, $out, $err) = cli('-d', $connstr, 'read', 'cli_rt', '-n', '2', '-P');
is($out, "first\nsecond\n", 'read -n 2 reads two from the earliest');

($rc, $out, $err) = cli('-d', $connstr, 'stats', 'cli_rt');
is($rc, 0, 'stats exits 0');
like($out, qr/^msgInCounter: 5$/m, 'stats shows the counters as text');
like($out, qr/^subscriptions:\n  rt:\n(    .*\n)*    msgBacklog: 0$/m,
	'stats shows each subscription indented under its name');
($rc, $out, $err) = cli('-d', $connstr, 'stats', 'cli_rt', '--json');
like($out, qr/^\{"topic": "persistent:\/\/public\/default\/cli_rt".*\}\n\z/, 'stats --json prints the JSON');

##########################################################################
# consume sleeps on LISTEN and wakes on NOTIFY
##########################################################################

$node->safe_psql('postgres', q(SELECT pulsar.create_topic('cli_wake')));
my $consumer = cli_start('-d', "$connstr application_name=cli_wake",
	'consume', 'cli_wake', '-s', 'wake', '-n', '2', '-P', '-r', $recheck);
my $started = consumer_sleeping('cli_wake');
ok(defined $started, 'the consumer sleeps after finding nothing');
my $channel = $node->safe_psql('postgres', q(SELECT pulsar.channel('cli_wake', 'wake')));
is( $node->safe_psql('postgres',
		q(SELECT count(*) FROM pulsar.consumer c JOIN pulsar.subscription s USING (subscription_id)
		   WHERE s.name = 'wake')),
	'1', 'it is a consumer of its subscription');

# a bare NOTIFY on its channel makes it look again (a new receive)
my $delay = wake_by_notify('cli_wake', $channel);
ok(defined $delay && $delay < $wake_bound,
	"a NOTIFY on the channel wakes it into another receive within $wake_bound s, far below its $recheck s recheck interval"
) or diag 'woken after ' . ($delay // 'never');

# a message published while it sleeps: the worker's notification wakes it
consumer_sleeping('cli_wake');
my $t0 = time;
$node->safe_psql('postgres', q(SELECT pulsar.send('cli_wake', 'wake up')));
ok(wait_output($consumer, qr/^wake up$/m, $wake_bound),
	"a message published while it sleeps reaches it within $wake_bound s")
  or diag "consumer stdout: $consumer->{out}\nstderr: $consumer->{err}";
note sprintf('publish to output: %.3f s', time - $t0);

consumer_sleeping('cli_wake');
$node->safe_psql('postgres', q(SELECT pulsar.send('cli_wake', 'and again')));
ok(wait_output($consumer, qr/^and again$/m, $wake_bound), 'and so does the next one');
$consumer->{h}->finish;
is($? >> 8, 0, 'consume -n 2 exits 0 after its two messages');

##########################################################################
# Reconnection after a server restart
##########################################################################

$node->safe_psql('postgres', q(SELECT pulsar.send('cli_restart', 'before')));
$consumer = cli_start('-d', "$connstr application_name=cli_restart",
	'consume', 'cli_restart', '-s', 'restart', '-t', 'shared', '-p', 'earliest',
	'-n', '0', '-P', '-r', $recheck);
ok(wait_output($consumer, qr/^before$/m, 30), 'a consumer running until interrupted gets a message');
ok(defined consumer_sleeping('cli_restart'), 'and sleeps');

$node->restart;
ok(wait_output($consumer, qr/connection lost.*reconnected/s, 60, 'err'),
	'the consumer reports the lost connection, and reconnects')
  or diag "consumer stderr: $consumer->{err}";
ok(defined consumer_sleeping('cli_restart'), 'it subscribed again and sleeps');

$channel = $node->safe_psql('postgres', q(SELECT pulsar.channel('cli_restart', 'restart')));
$delay = wake_by_notify('cli_restart', $channel);
ok(defined $delay && $delay < $wake_bound,
	"it LISTENs again: a NOTIFY wakes it within $wake_bound s")
  or diag 'woken after ' . ($delay // 'never');

$node->safe_psql('postgres', q(SELECT pulsar.send('cli_restart', 'after')));
ok(wait_output($consumer, qr/^after$/m, $wake_bound),
	'a message published after the restart reaches it')
  or diag "consumer stdout: $consumer->{out}\nstderr: $consumer->{err}";
is($consumer->{out}, "before\nafter\n", 'each message once, in order');

is(cli_stop($consumer, 'INT'), 0, 'SIGINT ends consume -n 0 with exit status 0');
like($consumer->{err}, qr/2 messages received\n\z/, 'after saying how many it received');
is( $node->safe_psql('postgres',
		q(SELECT pulsar.topic_stats('cli_restart') #> '{subscriptions,restart,consumers}')),
	'[]', 'its consumer left the subscription');

$consumer = cli_start('-d', $connstr, 'consume', 'cli_restart', '-s', 'restart',
	'-t', 'shared', '-n', '0', '-r', $recheck);
$node->poll_query_until('postgres',
	q(SELECT jsonb_array_length(pulsar.topic_stats('cli_restart') #> '{subscriptions,restart,consumers}') = 1))
  or diag 'the second consumer did not subscribe';
is(cli_stop($consumer, 'TERM'), 0, 'SIGTERM ends it with exit status 0 too');

##########################################################################
# perf
##########################################################################

my $hist = $node->basedir . '/latency.hist';
($rc, $out, $err) = cli('perf', 'produce', 'cli_perf', '--dbname', $connstr,
	'-r', '0', '-m', '200', '-b', '10', '-s', '100', '-c', '2', '--histogram', $hist);
is($rc, 0, 'perf produce exits 0') or diag $err;
like($out, qr/^Aggregated throughput stats --- 200 records sent --- [\d.]+ msg\/s --- [\d.]+ MB\/s$/m,
	'perf produce reports throughput as pulsar-perf does');
like($out,
	qr/^Aggregated latency stats --- Latency: mean: [\d.]+ ms - med: [\d.]+ - 95pct: [\d.]+ - 99pct: [\d.]+ - 99.9pct: [\d.]+ - Max: [\d.]+$/m,
	'and latency percentiles');
is( $node->safe_psql('postgres', q(SELECT pulsar.topic_stats('cli_perf') ->> 'msgInCounter')),
	'200', 'the 200 messages are in the topic');
my @hist = grep { !/^#/ } split /\n/, slurp_file($hist);
my $counted = 0;
$counted += (split /\t/)[1] for @hist;
is($counted, 200, '--histogram writes the distribution of the 200 publish latencies');

($rc, $out, $err) = cli('perf', 'consume', 'cli_perf', '--dbname', $connstr,
	'-S', 'perf', '-p', 'earliest', '-t', 'shared', '-c', '2', '-d', '2');
is($rc, 0, 'perf consume exits 0') or diag $err;
like($out, qr/^Aggregated throughput stats --- 200 records received --- [\d.]+ msg\/s --- [\d.]+ MB\/s$/m,
	'perf consume receives the 200 messages from the earliest');
is( $node->safe_psql('postgres',
		q(SELECT pulsar.topic_stats('cli_perf') #>> '{subscriptions,perf,msgBacklog}')),
	'0', 'and acknowledges them');

($rc, $out, $err) = cli('perf', 'e2e', 'cli_e2e', '--dbname', $connstr,
	'-r', '100', '-d', '2', '-s', '64', '--wait', 'receive', '-i', '1');
is($rc, 0, 'perf e2e --wait receive exits 0') or diag $err;
my ($sent) = $out =~ /(\d+) records sent/;
my ($received) = $out =~ /(\d+) records received/;
cmp_ok($sent // 0, '>', 50, 'perf e2e published');
is($received, $sent, 'and received every message it published');
like($out, qr/^Aggregated end-to-end latency stats \(commit to receipt\) --- Latency: mean: [\d.]+ ms/m,
	'and reports the end-to-end latency, from commit to receipt');
like($out, qr/^Aggregated send-to-receipt latency stats --- Latency: mean: [\d.]+ ms/m,
	'and from send to receipt');
like($out, qr/Throughput received: [\d.]+ msg\/s/, 'with progress lines');

$node->stop;

done_testing();
