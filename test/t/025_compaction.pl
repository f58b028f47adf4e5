#!/usr/bin/perl
#
# 025_compaction.pl
#	  Compaction from outside: the database worker compacts automatically,
#	  and pulsar-pg topics compact and topics compaction-status work in
#	  pulsar-admin's form:
#
#	  - the worker's maintenance pass compacts a topic whose messages above
#		its horizon pass its compaction_threshold policy, and no other;
#
#	  - compact compacts a topic or one partition and says so; the
#		compacted view then holds the latest message of each key;
#	  - compaction-status prints pulsar-admin's sentences for a topic never
#		compacted, compacted, being compacted (and with -w waits for the
#		end), and a failed automatic compaction (exit status 1, with the
#		error);
#	  - a compaction while another runs, an unknown topic and a partition
#		out of range fail with the server's error and exit status 1; wrong
#		arguments give the usage and exit status 2.
#
use strict;
use warnings;

use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $srcdir = $ENV{TESTDIR} // '.';
my $cli = File::Spec->rel2abs("$srcdir/cli/pulsar-pg");
unless (-x $cli)
{
	fail("$cli exists: build it with make in the source tree");
	done_testing();
	exit 1;
}

my $node = PostgreSQL::Test::Cluster->new('compaction');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'pulsar_pg'
pulsar_pg.maintenance_interval = '200ms'
));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pulsar_pg');
my $connstr = $node->connstr('postgres');

# (exit status, stdout, stderr) of a client run to completion
sub cli
{
	my @args = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $cli, '-d', $connstr, @args ], '<', \undef, '>', \$out,
		'2>', \$err, IPC::Run::timeout(120));
	return ($? >> 8, $out, $err);
}

my ($rc, $out, $err);

# automatic compaction by the worker's maintenance pass.  A subscription
# keeps the segments (retention is zero), though the view would not need
# them.
$node->safe_psql('postgres', q{
	SELECT pulsar.create_topic('auto');
	SELECT pulsar.create_topic('manual');
	SELECT pulsar.subscribe(t, 'keep', 'exclusive', 'earliest', consumer => 'keeper')
	  FROM unnest(ARRAY['auto', 'manual']) t;
	SELECT pulsar.send(t, repeat('x', 100), key => 'k' || (i % 10))
	  FROM unnest(ARRAY['auto', 'manual']) t, generate_series(1, 200) i;
	SELECT pulsar.set_compaction_threshold('auto', 1024);
});
ok( $node->poll_query_until('postgres',
		q{SELECT pulsar.compaction_status('auto') ->> 'status' = 'SUCCESS'}),
	'the worker compacts a topic past its compaction threshold');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pulsar.read('auto', 'earliest', 1000, compacted => true)}),
	'10', 'its view holds one message per key');
is( $node->safe_psql('postgres',
		q{SELECT pulsar.compaction_status('manual') ->> 'status'}),
	'NOT_RUN', 'a topic without a threshold is left alone');

# wrong arguments
for my $case (
	[ [ 'topics', 'compact' ], qr/the topic is missing/, 'compact without a topic' ],
	[ [ 'topics', 'compact', 'a', 'b' ], qr/too many arguments, starting with "b"/, 'compact with two topics' ],
	[ [ 'topics', 'compact', 'a', '--force' ], qr/takes no -p or --force/, 'compact --force' ],
	[ [ 'topics', 'compaction-status' ], qr/the topic is missing/, 'compaction-status without a topic' ],
	[ [ 'topics', 'compact', 'a', '-w' ], qr/only topics compaction-status takes -w/, 'compact -w' ])
{
	my ($args, $re, $name) = @$case;
	($rc, $out, $err) = cli(@$args);
	is($rc, 2, "$name: exit status 2");
	like($err, qr/$re.*Usage:/s, "$name: says why, with the usage");
	is($out, '', "$name: nothing on stdout");
}
($rc, $out, $err) = cli('topics', '--help');
like($out, qr/topics compact TOPIC\n.*topics compaction-status TOPIC \[-w\]/s,
	'topics --help shows both actions');

# a topic never compacted, then compacted
$node->safe_psql('postgres', q{
	SELECT pulsar.create_topic('prices');
	SELECT pulsar.send('prices', 'v' || i, key => 'k' || (i % 4)) FROM generate_series(1, 40) i;
});
($rc, $out, $err) = cli('topics', 'compaction-status', 'prices');
is($rc, 0, 'compaction-status of a topic never compacted: exit status 0') or diag $err;
is($out, "Compaction has not been run\n", 'and says so');

($rc, $out, $err) = cli('topics', 'compact', 'prices');
is($rc, 0, 'topics compact: exit status 0') or diag $err;
is($out, "Topic compaction done for prices\n", 'topics compact says it is done');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(key || '=' || convert_from(payload, 'UTF8'), ',' ORDER BY key)
		    FROM pulsar.read('prices', 'earliest', 100, compacted => true)}),
	'k0=v40,k1=v37,k2=v38,k3=v39', 'the view holds the latest message of each key');
($rc, $out, $err) = cli('topics', 'compaction-status', 'persistent://public/default/prices');
is($out, "Compaction was a success\n", 'compaction-status after it: a success');

# partitions
$node->safe_psql('postgres', q{
	SELECT pulsar.create_topic('parts', 2);
	SELECT pulsar.send('parts', 'x', key => 'k');
});
($rc, $out, $err) = cli('topics', 'compact', 'parts-partition-1');
is($rc, 0, 'topics compact of one partition') or diag $err;
($rc, $out, $err) = cli('topics', 'compact', 'parts-partition-2');
is($rc, 1, 'a partition out of range: exit status 1');
like($err, qr/partition index 2 is out of range .*\(SQLSTATE 22023\)/, 'with the server error');
($rc, $out, $err) = cli('topics', 'compact', 'nothing_here');
is($rc, 1, 'an unknown topic: exit status 1');
like($err, qr/topic "persistent:\/\/public\/default\/nothing_here" does not exist \(SQLSTATE 42704\)/,
	'with the server error');

# a compaction in progress in another session
my $open = $node->background_psql('postgres');
$open->query_safe('BEGIN');
$open->query_safe(q{SELECT pulsar.send('prices', 'v41', key => 'k1')});
$open->query_safe('COMMIT');
$open->query_safe('BEGIN');
$open->query_safe(q{SELECT pulsar.compact('prices')});
($rc, $out, $err) = cli('topics', 'compaction-status', 'prices');
is($out, "Compaction is running\n", 'compaction-status while another session compacts');
($rc, $out, $err) = cli('topics', 'compact', 'prices');
is($rc, 1, 'a second compaction at once: exit status 1');
like($err, qr/compaction of topic "persistent:\/\/public\/default\/prices" is already in progress \(SQLSTATE 55006\)/,
	'refused at once, with the reason');

my ($wait_out, $wait_err) = ('', '');
my $waiter = IPC::Run::start([ $cli, '-d', $connstr, 'topics', 'compaction-status', 'prices', '-w' ],
	'<', \undef, '>', \$wait_out, '2>', \$wait_err, IPC::Run::timeout(120));
usleep(1_500_000);
$waiter->pump_nb;
is($wait_out, '', 'compaction-status -w waits while the compaction runs');
$open->query_safe('COMMIT');
$waiter->finish;
is($? >> 8, 0, 'and exits 0 once it ended');
is($wait_out, "Compaction was a success\n", 'with its outcome');
$open->quit;

# a failed automatic compaction: its view's table was removed by hand
$node->safe_psql('postgres', q{
	SELECT pulsar.send('prices', 'v42', key => 'k2');
	SELECT pulsar.set_compaction_threshold('prices', 1);
	DO $$
	BEGIN
		EXECUTE format('DROP TABLE pulsar_data.%I',
			(SELECT 'compacted_' || ledger_id || '_' || generation FROM pulsar.compaction
			  WHERE ledger_id = (SELECT pulsar.ledger_id(pulsar.send('prices', 'v43', key => 'k3')))));
	END
	$$;
});
is($node->safe_psql('postgres', 'SELECT pulsar.compaction_step()'), '0',
	'the automatic step fails on that topic and goes on');
($rc, $out, $err) = cli('topics', 'compaction-status', 'prices');
is($rc, 1, 'compaction-status of a failed compaction: exit status 1');
like($err, qr/^Error in compaction: compacted view of ledger \d+ is missing its table$/m,
	'with the error of the failure');

# as the error's hint says: without the row, the view is rebuilt
$node->safe_psql('postgres', q{
	SELECT pulsar.set_compaction_threshold('prices', 0);
	DELETE FROM pulsar.compaction
	 WHERE ledger_id = (SELECT pulsar.ledger_id(message_id)
						  FROM pulsar.read('prices', 'earliest', 1));
});
($rc, $out, $err) = cli('topics', 'compact', 'prices');
is($rc, 0, 'compact rebuilds the view once its row is gone') or diag $err;
is( $node->safe_psql('postgres',
		q{SELECT string_agg(key || '=' || convert_from(payload, 'UTF8'), ',' ORDER BY key)
		    FROM pulsar.read('prices', 'earliest', 100, compacted => true)}),
	'k0=v40,k1=v41,k2=v42,k3=v43', 'from the stored messages');

$node->stop;
done_testing();
