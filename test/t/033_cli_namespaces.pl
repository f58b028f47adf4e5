#!/usr/bin/perl
#
# 033_cli_namespaces.pl
#	  pulsar-pg namespaces, in the form of pulsar-admin's namespaces
#	  commands: each sets what the SQL functions set (sizes with k, m, g, t
#	  suffixes, times with s, m, h, d, w units, pulsar-admin's -ttl and -lt
#	  spellings, -1 for unlimited), policies and get-retention print them,
#	  remove-retention inherits again; wrong arguments exit 2 with the usage,
#	  a server error exits 1 with its SQLSTATE, and nothing is changed by
#	  either.  A tenant admin sets its namespaces' policies, a role that
#	  administers nothing is refused; the permission actions of namespaces
#	  still reach their own commands.
#
use strict;
use warnings;

use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $srcdir = $ENV{TESTDIR} // '.';
my $cli = File::Spec->rel2abs("$srcdir/cli/pulsar-pg");
unless (-x $cli)
{
	fail("$cli exists: build it with make in the source tree");
	done_testing();
	exit 1;
}

my $node = PostgreSQL::Test::Cluster->new('cli_namespaces');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pulsar_pg'\n");
$node->start;
$node->safe_psql(
	'postgres', q{
	CREATE EXTENSION pulsar_pg;
	CREATE ROLE acme_admin LOGIN;
	CREATE ROLE stranger LOGIN;
	SELECT pulsar.create_tenant('acme', ARRAY['acme_admin']);
	SELECT pulsar.create_namespace('acme/orders');
});
my $connstr = $node->connstr('postgres');

# (exit status, stdout, stderr) of the client
sub run_cli
{
	my ($stdout, $stderr) = ('', '');
	IPC::Run::run([ $cli, '-d', $connstr, @_ ], '>', \$stdout, '2>', \$stderr);
	return ($? >> 8, $stdout, $stderr);
}

# the same as another role
sub run_cli_as
{
	my ($user, @args) = @_;
	my ($stdout, $stderr) = ('', '');
	IPC::Run::run([ $cli, '-d', "$connstr user=$user", @args ],
		'>', \$stdout, '2>', \$stderr);
	return ($? >> 8, $stdout, $stderr);
}

# the namespace's own value of a policy, as JSON text
sub own
{
	my ($policy) = @_;
	return $node->safe_psql('postgres',
		"SELECT pulsar.get_policies('acme/orders')->'$policy'->'namespace'");
}

my ($rc, $out, $err) = run_cli(qw(namespaces get-retention acme/orders));
is($rc, 0, 'get-retention exits 0');
is($out, "null\n", 'nothing set: null');

($rc) = run_cli(qw(namespaces set-retention acme/orders --size 10M --time 3h));
is($rc, 0, 'set-retention exits 0');
is(own('retention'), '{"retention_size": 10485760, "retention_time": 10800}',
	'set-retention: 10M is 10485760 bytes, 3h is 10800 seconds');
($rc, $out) = run_cli(qw(namespaces get-retention acme/orders));
like($out, qr/"retention_time": 10800/, 'get-retention prints it');
($rc) = run_cli(qw(namespaces set-retention acme/orders -s -1 -t 120));
is(own('retention'), '{"retention_size": null, "retention_time": 120}',
	'-1 is unlimited, a time without a unit is in seconds');
($rc) = run_cli(qw(namespaces remove-retention acme/orders));
is($rc, 0, 'remove-retention exits 0');
is(own('retention'), 'null', 'remove-retention: inherited again');

($rc) = run_cli(qw(namespaces set-message-ttl acme/orders -ttl 2h));
is(own('message_ttl'), '{"ttl": 7200}', 'set-message-ttl -ttl 2h');
($rc) = run_cli(qw(namespaces set-message-ttl acme/orders --messageTTL 0));
is(own('message_ttl'), '{"ttl": null}', 'a TTL of 0 disables it');

($rc) = run_cli(qw(namespaces set-backlog-quota acme/orders -l 2G -p producer_exception));
is($rc, 0, 'set-backlog-quota exits 0');
is( own('backlog_quota'),
	'{"policy": "producer_exception", "limit_size": 2147483648, "limit_time": null}',
	'set-backlog-quota -l 2G -p producer_exception');
($rc) = run_cli(qw(namespaces set-backlog-quota acme/orders -lt 1h -t message_age));
is( own('backlog_quota'),
	'{"policy": "producer_exception", "limit_size": 2147483648, "limit_time": 3600}',
	'-lt 1h adds the age limit and keeps the size limit and the policy');

($rc) = run_cli(qw(namespaces set-subscription-expiration-time acme/orders -t 120));
is(own('subscription_expiration_time'), '{"expiration": 7200}',
	'set-subscription-expiration-time takes minutes, as pulsar-admin does');

($rc) = run_cli(qw(namespaces set-inactive-topic-policies acme/orders -e -t 1h),
	qw(-m delete_when_no_subscriptions));
is( own('inactive_topic_policies'),
	'{"mode": "delete_when_no_subscriptions", "enabled": true, "max_inactive": 3600}',
	'set-inactive-topic-policies -e');
($rc) = run_cli(qw(namespaces set-inactive-topic-policies acme/orders -d -t 5m),
	qw(-m delete_when_subscriptions_caught_up));
is( own('inactive_topic_policies'),
	'{"mode": "delete_when_subscriptions_caught_up", "enabled": false, "max_inactive": 300}',
	'-d disables there, as in pulsar-admin');

($rc) = run_cli(qw(namespaces set-compaction-threshold acme/orders -t 100M));
is(own('compaction_threshold'), '{"threshold": 104857600}', 'set-compaction-threshold');

($rc, $out) = run_cli(qw(namespaces policies acme/orders));
is($rc, 0, 'policies exits 0');
like($out, qr/"effective": \{\s*"ttl": null/s, 'policies prints the policies in effect');

# wrong arguments: status 2 with the usage, nothing changed
my $before = $node->safe_psql('postgres',
	q{SELECT pulsar.get_policies('acme/orders')::text});
for my $args (
	[qw(namespaces)],
	[qw(namespaces nope acme/orders)],
	[qw(namespaces set-retention acme/orders --size 10M)],
	[qw(namespaces set-retention acme/orders --size 10X --time 1h)],
	[qw(namespaces set-retention acme/orders --size 10M --time 1y)],
	[qw(namespaces set-retention acme/orders --size -5 --time 1h)],
	[qw(namespaces set-message-ttl acme/orders)],
	[qw(namespaces set-message-ttl acme/orders -ttl -1)],
	[qw(namespaces set-backlog-quota acme/orders)],
	[qw(namespaces set-backlog-quota acme/orders -l 1M -t sizes)],
	[qw(namespaces set-subscription-expiration-time acme/orders -t -3)],
	[qw(namespaces set-inactive-topic-policies acme/orders -t 1h -m delete_when_no_subscriptions)],
	[qw(namespaces set-inactive-topic-policies acme/orders -e -d -t 1h -m delete_when_no_subscriptions)],
	[qw(namespaces set-compaction-threshold acme/orders)],
	[qw(namespaces policies)],
	[qw(namespaces policies acme/orders extra)])
{
	($rc, $out, $err) = run_cli(@$args);
	is($rc, 2, "exit 2: @$args");
	like($err, qr/Usage:/, "with the usage: @$args");
}
($rc, $out) = run_cli(qw(namespaces --help));
is($rc, 0, '--help exits 0');
like($out, qr/set-backlog-quota/, 'and lists the commands');

# server errors: status 1 with the SQLSTATE
($rc, $out, $err) = run_cli(qw(namespaces set-backlog-quota acme/orders -l 1M -p nope));
is($rc, 1, 'an unknown quota policy: exit 1');
like($err, qr/unknown backlog quota policy "nope".*SQLSTATE 22023/s, 'with the server\'s error');
($rc, $out, $err) = run_cli(qw(namespaces set-inactive-topic-policies acme/orders -e -t 1h -m sometimes));
like($err, qr/unknown inactive topic mode "sometimes"/, 'an unknown inactive topic mode');
($rc, $out, $err) = run_cli(qw(namespaces set-message-ttl acme/none -ttl 1h));
is($rc, 1, 'an unknown namespace: exit 1');
like($err, qr/namespace "acme\/none" does not exist.*SQLSTATE 42704/s, 'named in the error');
is( $node->safe_psql('postgres', q{SELECT pulsar.get_policies('acme/orders')::text}),
	$before, 'nothing changed');

# a tenant admin sets and reads its namespaces' policies; a role that
# administers nothing is refused, and changes nothing
($rc, $out, $err) =
  run_cli_as('acme_admin', qw(namespaces set-message-ttl acme/orders -ttl 30m));
is($rc, 0, 'a tenant admin sets a policy') or diag($err);
is(own('message_ttl'), '{"ttl": 1800}', 'which is stored');
($rc, $out, $err) = run_cli_as('acme_admin', qw(namespaces policies acme/orders));
is($rc, 0, 'a tenant admin reads the policies') or diag($err);
like($out, qr/"ttl": 1800/, 'and sees them');
$before = $node->safe_psql('postgres',
	q{SELECT pulsar.get_policies('acme/orders')::text});
($rc, $out, $err) =
  run_cli_as('stranger', qw(namespaces set-message-ttl acme/orders -ttl 1h));
is($rc, 1, 'a stranger is refused: exit 1');
like($err, qr/SQLSTATE 42501/, 'with insufficient_privilege');
($rc, $out, $err) = run_cli_as('stranger', qw(namespaces policies acme/orders));
is($rc, 1, 'and may not read them either');
is( $node->safe_psql('postgres', q{SELECT pulsar.get_policies('acme/orders')::text}),
	$before, 'nothing changed');

# the permission actions of namespaces are still the permission commands
($rc, $out, $err) = run_cli_as('acme_admin',
	qw(namespaces grant-permission acme/orders --role stranger --actions consume));
is($rc, 0, 'namespaces grant-permission grants') or diag($err);
($rc, $out) = run_cli_as('acme_admin', qw(namespaces permissions acme/orders));
like($out, qr/stranger.*consume/, 'namespaces permissions lists the grant');
($rc, $out) = run_cli(qw(namespaces grant-permission --help));
like($out, qr/--actions/, 'namespaces grant-permission --help is its own usage');
($rc, $out) = run_cli(qw(namespaces --help));
like($out, qr/grant-permission/, 'namespaces --help points to the permission commands');

$node->stop;
done_testing();
