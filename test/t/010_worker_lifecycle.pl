#!/usr/bin/perl
#
# 010_worker_lifecycle.pl
#	  One background worker per database that has the extension: started
#	  by the launcher on CREATE EXTENSION without a restart, stopped by DROP
#	  EXTENSION, out of the way of DROP DATABASE and CREATE DATABASE ...
#	  TEMPLATE, started again after it is killed, absent on a hot standby
#	  and running after promotion.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
# kill -9 of a backend makes the server restart its processes
$primary->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pulsar_pg'
restart_after_crash = on
});
$primary->start;

sub workers
{
	my ($node, $database) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity"
		  . " WHERE backend_type = 'pulsar_pg worker' AND datname = '$database'");
}

sub worker_pid
{
	my ($node, $database) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity"
		  . " WHERE backend_type = 'pulsar_pg worker' AND datname = '$database'");
}

sub wait_workers
{
	my ($node, $database, $count) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) = $count FROM pg_stat_activity"
		  . " WHERE backend_type = 'pulsar_pg worker' AND datname = '$database'");
}

is( $primary->safe_psql(
		'postgres',
		"SELECT application_name FROM pg_stat_activity WHERE backend_type = 'pulsar_pg launcher'"
	),
	'pulsar_pg launcher',
	'the launcher runs, named in pg_stat_activity');
is(workers($primary, 'postgres'), 0, 'no worker before CREATE EXTENSION');

# CREATE EXTENSION starts the worker at commit, without a restart
$primary->safe_psql('postgres', 'BEGIN; CREATE EXTENSION pulsar_pg; ROLLBACK;');
sleep(1);
is(workers($primary, 'postgres'), 0,
	'a rolled-back CREATE EXTENSION starts no worker');
my $started = time;
$primary->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');
ok(wait_workers($primary, 'postgres', 1), 'CREATE EXTENSION starts a worker');
note(sprintf('worker seen %.3f s after CREATE EXTENSION returned',
		time - $started));
is( $primary->safe_psql(
		'postgres',
		"SELECT application_name FROM pg_stat_activity WHERE backend_type = 'pulsar_pg worker'"
	),
	'pulsar_pg worker',
	'the worker is named in pg_stat_activity');

# one worker per database with the extension, none elsewhere
$primary->safe_psql('postgres', 'CREATE DATABASE other');
$primary->safe_psql('postgres', 'CREATE DATABASE plain');
$primary->safe_psql('other', 'CREATE EXTENSION pulsar_pg');
ok(wait_workers($primary, 'other', 1), 'a worker in a second database');
is(workers($primary, 'plain'), 0,
	'no worker in a database without the extension');

# databases with a worker can be copied, renamed and dropped
$primary->safe_psql('postgres', 'CREATE DATABASE copied TEMPLATE other');
ok(1, 'CREATE DATABASE ... TEMPLATE a database with a worker');
ok(wait_workers($primary, 'other', 1), 'the template gets its worker back');
$primary->safe_psql('postgres', 'ALTER DATABASE copied RENAME TO renamed');
ok(1, 'ALTER DATABASE ... RENAME of a database with a worker');
$primary->safe_psql('postgres', 'DROP DATABASE other');
ok(1, 'DROP DATABASE of a database with a worker');
# a copy made from a template with the extension gets a worker too
ok(wait_workers($primary, 'renamed', 1),
	'a database copied with the extension gets a worker');
$primary->safe_psql('postgres', 'DROP DATABASE renamed');

# DROP EXTENSION stops the worker; a later CREATE EXTENSION starts one
$primary->safe_psql('plain', 'CREATE EXTENSION pulsar_pg');
ok(wait_workers($primary, 'plain', 1), 'worker in database plain');
$primary->safe_psql('plain', 'DROP EXTENSION pulsar_pg');
ok(wait_workers($primary, 'plain', 0), 'DROP EXTENSION stops the worker');
$primary->safe_psql('plain', 'CREATE EXTENSION pulsar_pg');
ok(wait_workers($primary, 'plain', 1),
	'CREATE EXTENSION after DROP starts it again');

# an installation older than the worker gets one when it is updated
$primary->safe_psql('postgres', 'CREATE DATABASE old');
$primary->safe_psql('old', "CREATE EXTENSION pulsar_pg VERSION '0.1.0'");
sleep(2);
is(workers($primary, 'old'), 0, 'no worker for an installation of 0.1.0');
$primary->safe_psql('old', 'ALTER EXTENSION pulsar_pg UPDATE');
ok(wait_workers($primary, 'old', 1), 'ALTER EXTENSION ... UPDATE starts one');
$primary->safe_psql('postgres', 'DROP DATABASE old');

# kill -9 of the worker alone: the server restarts its processes and the
# launcher starts the worker again
my $killed = worker_pid($primary, 'postgres');
kill 'KILL', $killed;
ok( $primary->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity"
		  . " WHERE backend_type = 'pulsar_pg worker' AND datname = 'postgres'"
		  . " AND pid <> $killed"),
	'the worker is started again after kill -9');
ok(wait_workers($primary, 'plain', 1),
	'so are the workers of other databases');

# more databases than worker slots: after a restart the launcher still
# finds every database with the extension
$primary->safe_psql('postgres', "CREATE DATABASE many_$_") for 1 .. 10;
$primary->safe_psql('many_10', 'CREATE EXTENSION pulsar_pg');
$primary->restart;
ok(wait_workers($primary, 'many_10', 1),
	'after a restart, a worker for a database found after ten without the extension');
ok(wait_workers($primary, 'postgres', 1), 'and for the others');
$primary->safe_psql('postgres', "DROP DATABASE many_$_") for 1 .. 10;

# SIGTERM: the worker exits cleanly and the launcher starts a new one
my $terminated = worker_pid($primary, 'postgres');
$primary->safe_psql('postgres', "SELECT pg_terminate_backend($terminated)");
ok( $primary->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity"
		  . " WHERE backend_type = 'pulsar_pg worker' AND datname = 'postgres'"
		  . " AND pid <> $terminated"),
	'a terminated worker is started again');

# a hot standby runs neither launcher nor worker; promotion starts them
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
sleep(1);
is( $standby->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pulsar_pg%'"
	),
	0,
	'no launcher and no worker on a hot standby');
$primary->stop;
$standby->promote;
ok(wait_workers($standby, 'postgres', 1), 'a worker after promotion');
ok(wait_workers($standby, 'plain', 1),
	'in every database with the extension');

$standby->stop;

# more databases with the extension than worker slots: CREATE EXTENSION
# still succeeds, and says why this database has no worker
my $small = PostgreSQL::Test::Cluster->new('small');
$small->init;
$small->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pulsar_pg'
max_worker_processes = 2
});
$small->start;
$small->safe_psql('postgres', "CREATE DATABASE db_$_") for 1 .. 3;
$small->safe_psql("db_$_", 'CREATE EXTENSION pulsar_pg') for 1 .. 2;
my ($rc, $stdout, $stderr) =
  $small->psql('db_3', 'CREATE EXTENSION pulsar_pg');
is($rc, 0, 'CREATE EXTENSION succeeds without a free worker slot');
like(
	$stderr,
	qr/WARNING:  no background worker slot for pulsar_pg in this database\n.*DETAIL:  The launcher keeps at most max_worker_processes databases\.\n.*HINT:  Increase max_worker_processes and restart the server\./s,
	'and warns, with a hint');
is( $small->safe_psql(
		'db_3',
		"SELECT e.extversion = a.default_version FROM pg_extension e"
		  . " JOIN pg_available_extensions a ON a.name = e.extname"
		  . " WHERE e.extname = 'pulsar_pg'"),
	't',
	'the extension is installed');
$small->stop;

done_testing();
