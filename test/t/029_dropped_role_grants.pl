#!/usr/bin/perl
#
# 029_dropped_role_grants.pl
#	  Roles belong to the whole cluster, grants to one database: a dropped
#	  role's grants (produce/consume, subscription names, tenant admin)
#	  stay in the extension's tables, where a role created later with the
#	  same OID would find them.  The maintenance pass removes them, and
#	  waits for no transaction to do it: a row another transaction holds
#	  is left for a later pass.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('node');
$node->init;
$node->append_conf('postgresql.conf', q(
shared_preload_libraries = 'pulsar_pg'
pulsar_pg.maintenance_interval = '100ms'
));
$node->start;
$node->safe_psql(
	'postgres', q(
CREATE EXTENSION pulsar_pg;
CREATE ROLE gone;
CREATE ROLE kept;
SELECT pulsar.create_tenant('acme', ARRAY['gone', 'kept']);
SELECT pulsar.create_namespace('acme/ns');
SELECT pulsar.create_topic('acme/ns/t');
SELECT pulsar.grant_permission('acme/ns', 'gone', '{produce,consume}');
SELECT pulsar.grant_permission('acme/ns/t', 'gone', '{consume}');
SELECT pulsar.grant_permission('acme/ns', 'kept', '{consume}');
SELECT pulsar.grant_subscription_permission('acme/ns', 'sub', ARRAY['gone', 'kept']::name[]);
));

my $grants_of_dropped = q(
SELECT (SELECT count(*) FROM pulsar.permission p
         WHERE p.grantee <> 0 AND NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = p.grantee))
     + (SELECT count(*) FROM pulsar.subscription_permission p
         WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = p.grantee))
     + (SELECT count(*) FROM pulsar.tenant t, unnest(t.admin_roles) a
         WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = a)));

# a transaction that holds the tenant's row keeps the pass off that row,
# and the pass goes on with the others
my $holder = $node->background_psql('postgres');
$holder->query_safe(q(BEGIN; SELECT 1 FROM pulsar.tenant WHERE name = 'acme' FOR UPDATE;));
$node->safe_psql('postgres', 'DROP ROLE gone');
ok($node->poll_query_until('postgres', $grants_of_dropped, '1'),
	'the pass removes the grants of a dropped role');
is($node->safe_psql('postgres', $grants_of_dropped), '1',
	'but not from the tenant row another transaction holds');
$holder->query_safe('COMMIT');
$holder->quit;
ok($node->poll_query_until('postgres', $grants_of_dropped, '0'),
	'a later pass removes the dropped tenant admin');

is( $node->safe_psql(
		'postgres', q(
SELECT string_agg(role || ':' || array_to_string(actions, ','), ' ' ORDER BY role)
  FROM pulsar.get_permissions('acme/ns'))),
	'kept:consume',
	'the grants of the other roles stay');
is( $node->safe_psql(
		'postgres',
		q(SELECT array_to_string(admin_roles, ',') FROM pulsar.tenant WHERE name = 'acme')),
	'kept',
	'and so do the other admins');
is($node->safe_psql('postgres', q(SELECT count(*) FROM pulsar.permission WHERE topic = 't')),
	'0', 'the topic grant of the dropped role is gone too');

$node->stop;
done_testing();
