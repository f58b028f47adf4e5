#!/usr/bin/perl
#
# 024_cli_admin.pl
#	  pulsar-pg's administration commands in pulsar-admin's form: tenants
#	  create|update|list, namespaces and topics grant-permission|
#	  revoke-permission|permissions, namespaces grant- and
#	  revoke-subscription-permission; what they change is what a role may
#	  then do, and wrong arguments and refusals exit as documented.
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

my $node = PostgreSQL::Test::Cluster->new('cli_admin');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pulsar_pg'");
$node->start;
$node->safe_psql(
	'postgres', q{
	CREATE EXTENSION pulsar_pg;
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE carol LOGIN;
});

my $connstr = $node->connstr('postgres');

# Runs pulsar-pg as $user; returns (exit status, stdout, stderr).
sub cli
{
	my ($user, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $cli, '-d', "$connstr user=$user", @args ],
		'>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

sub cli_ok
{
	my ($user, $name, @args) = @_;
	my ($rc, $out, $err) = cli($user, @args);
	is($rc, 0, $name) or diag($err);
	return $out;
}

# tenants
cli_ok('postgres', 'tenants create with admins',
	split(' ', 'tenants create acme -r alice,bob'));
is( cli_ok('postgres', 'tenants list', qw(tenants list)),
	"acme\talice,bob\npublic\t\n",
	'a superuser lists every tenant and its admins');
is(cli_ok('alice', 'tenants list as an admin', qw(tenants list)),
	"acme\talice,bob\n", 'an admin lists its own tenants');
cli_ok('postgres', 'tenants update', qw(tenants update acme --admin-roles alice));
is(cli_ok('bob', 'tenants list as a former admin', qw(tenants list)),
	'', 'bob no longer administers acme');
my ($rc, $out, $err) = cli('alice', qw(tenants create other));
is($rc, 1, 'tenants create by a non-superuser fails');
like($err, qr/permission denied for function pulsar\.create_tenant\(\).*SQLSTATE 42501/,
	'... with the server error and its SQLSTATE');
($rc, $out, $err) = cli('postgres', qw(tenants update acme));
is($rc, 2, 'tenants update without roles is a usage error');
($rc, $out, $err) = cli('postgres', qw(tenants create acme -r nobody));
like($err, qr/role "nobody" does not exist/, 'an unknown role is refused');

# namespaces: alice administers acme, bob gets produce and consume
$node->safe_psql('postgres', q{SELECT pulsar.create_namespace('acme/ns')});
cli_ok('alice', 'namespaces grant-permission',
	split(' ', 'namespaces grant-permission acme/ns --role bob --actions produce,consume'));
is( cli_ok('alice', 'namespaces permissions', qw(namespaces permissions acme/ns)),
	"bob\tproduce,consume\n", 'the grant is listed');
cli_ok('bob', 'bob produces', qw(produce acme/ns/t -m hello -q));
($rc, $out, $err) = cli('carol', qw(produce acme/ns/t -m hello));
is($rc, 1, 'carol may not produce');
like($err, qr/permission denied to produce to topic "persistent:\/\/acme\/ns\/t"/,
	'... and is told so');
($rc, $out, $err) = cli('bob', qw(namespaces grant-permission acme/ns --role carol --actions consume));
like($err, qr/SQLSTATE 42501/, 'bob may not grant');
($rc, $out, $err) = cli('alice', qw(namespaces grant-permission acme/ns --role carol --actions delete));
like($err, qr/unknown action "delete"/, 'an unknown action is refused');
($rc, $out, $err) = cli('alice', qw(namespaces grant-permission acme/ns --role carol));
is($rc, 2, 'grant-permission without --actions is a usage error');

# subscription permissions
cli_ok('alice', 'namespaces grant-subscription-permission',
	qw(namespaces grant-subscription-permission acme/ns --subscription audit --roles carol));
($rc, $out, $err) = cli('bob', qw(consume acme/ns/t -s audit -p earliest -r 0));
like($err, qr/through subscription "audit"/, 'bob may not use a subscription reserved for carol');
cli_ok('alice', 'namespaces revoke-subscription-permission',
	qw(namespaces revoke-subscription-permission acme/ns --subscription audit --role carol));
is( cli_ok('bob', 'bob consumes', qw(consume acme/ns/t -s audit -p earliest -P -r 0)),
	"hello\n", 'once the reservation is gone, bob consumes');

# topics
cli_ok('alice', 'topics grant-permission',
	qw(topics grant-permission acme/ns/t --role carol --actions consume));
is( cli_ok('alice', 'topics permissions', qw(topics permissions acme/ns/t)),
	"carol\tconsume\n", 'the topic grant is listed');
is(cli_ok('carol', 'carol reads', qw(read acme/ns/t -P)),
	"hello\n", 'carol reads the topic');
is(cli_ok('carol', 'carol lists', qw(topics list acme/ns)),
	"persistent://acme/ns/t\t0\n", 'carol lists the topic she may use');
cli_ok('alice', 'topics revoke-permission',
	qw(topics revoke-permission acme/ns/t --role carol));
($rc, $out, $err) = cli('carol', qw(read acme/ns/t));
like($err, qr/permission denied to consume topic/, 'the revocation holds');
is(cli_ok('carol', 'carol lists again', qw(topics list acme/ns)),
	'', 'the topic is no longer listed for carol');
($rc, $out, $err) = cli('alice', qw(topics revoke-permission acme/ns/t --role carol));
like($err, qr/has no permissions granted to carol.*SQLSTATE 42704/,
	'revoking what was not granted fails');
cli_ok('alice', 'namespaces revoke-permission',
	qw(namespaces revoke-permission acme/ns --role bob));
is(cli_ok('alice', 'namespaces permissions, none', qw(namespaces permissions acme/ns)),
	'', 'no grant is left');
($rc, $out, $err) = cli('alice', qw(namespaces bogus acme/ns));
is($rc, 2, 'an unknown action is a usage error');

$node->stop;
done_testing();
