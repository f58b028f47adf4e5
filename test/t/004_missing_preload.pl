#!/usr/bin/perl
#
# 004_missing_preload.pl
#	  CREATE EXTENSION pulsar_pg on a server that did not preload the
#	  library fails with a hint about shared_preload_libraries and leaves
#	  nothing behind: the max read position lives in shared memory, so an
#	  extension installed without it could only fail on every call.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->start;

my ($ret, $stdout, $stderr) = $node->psql(
	'postgres',
	"\\set VERBOSITY verbose\nCREATE EXTENSION pulsar_pg;",
	on_error_stop => 1);
isnt($ret, 0, 'CREATE EXTENSION fails without shared_preload_libraries');
like(
	$stderr,
	qr/ERROR:  55000: pulsar_pg must be loaded via "shared_preload_libraries"/,
	'the error names shared_preload_libraries, with SQLSTATE 55000');
like(
	$stderr,
	qr/HINT:  Add pulsar_pg to shared_preload_libraries in postgresql\.conf and restart the server\./,
	'the error carries a hint saying how to fix it');

is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_namespace WHERE nspname IN ('pulsar', 'pulsar_data')"),
	'0', 'no schema pulsar or pulsar_data is left behind');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_extension WHERE extname = 'pulsar_pg'"),
	'0', 'no extension row is left behind');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_type WHERE typname IN ('message_id', 'message')"),
	'0', 'no type is left behind');

# Loading the library into a session later (LOAD) does not help: shared
# memory can only be requested at server start.
($ret, $stdout, $stderr) = $node->psql('postgres',
	"LOAD 'pulsar_pg'; CREATE EXTENSION pulsar_pg;");
isnt($ret, 0, 'CREATE EXTENSION still fails after LOAD in the session');
like(
	$stderr,
	qr/pulsar_pg must be loaded via "shared_preload_libraries"/,
	'with the same error');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_namespace WHERE nspname = 'pulsar'"),
	'0', 'and still no schema pulsar');

# Once preloaded, the same database accepts it.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pulsar_pg'");
$node->restart;
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');
is( $node->safe_psql(
		'postgres', "SELECT pulsar.entry_id(pulsar.send('after_preload', 'x'))"),
	'0',
	'after a restart with the library preloaded the extension installs and works');

$node->stop;

done_testing();
