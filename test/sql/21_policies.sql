-- Storage policies: set on a namespace or a topic, inherited, removed
\set VERBOSITY default
\i test/include/error_of.sql
SELECT pulsar.create_tenant('pol');
SELECT pulsar.create_namespace('pol/ns');
SELECT pulsar.create_topic('pol/ns/orders');
SELECT pulsar.create_topic('pol/ns/parts', 2);

-- nothing set: every policy is the server default (Pulsar's broker defaults)
SELECT jsonb_pretty(pulsar.get_policies('pol/ns'));

SELECT pulsar.set_retention('pol/ns', '3 days', 1073741824);
SELECT pulsar.set_message_ttl('pol/ns', '1 hour');
SELECT pulsar.set_backlog_quota('pol/ns', 1048576, NULL);
SELECT pulsar.set_backlog_quota('pol/ns/orders', NULL, '10 min', 'producer_exception');
SELECT pulsar.set_subscription_expiration_time('pol/ns', '2 days');
SELECT pulsar.set_inactive_topic_policies('pol/ns', true, '30 min', 'delete_when_subscriptions_caught_up');
SELECT pulsar.set_compaction_threshold('persistent://pol/ns/orders', 104857600);
-- NULL is unlimited; zero is "none" where Pulsar says so
SELECT pulsar.set_retention('pol/ns/parts', NULL, NULL);
SELECT pulsar.set_message_ttl('pol/ns/parts', '0');

-- a topic setting overrides its namespace's, which overrides the default
SELECT key, value->'topic' AS topic, value->'namespace' AS namespace,
       value->'effective' AS effective
  FROM jsonb_each(pulsar.get_policies('pol/ns/orders')) ORDER BY key;
SELECT key, value->'effective' AS effective
  FROM jsonb_each(pulsar.get_policies('pol/ns/parts')) ORDER BY key;
SELECT pulsar.effective_policy(topic_id, 'backlog_quota') FROM pulsar.topic WHERE name = 'orders';

-- setting again replaces; removing inherits again
SELECT pulsar.set_message_ttl('pol/ns', '2 hours');
SELECT pulsar.remove_policy('pol/ns/orders', 'backlog_quota');
SELECT pulsar.remove_policy('pol/ns/orders', 'backlog_quota');  -- nothing set: no error
SELECT value->'effective' FROM jsonb_each(pulsar.get_policies('pol/ns/orders'))
 WHERE key IN ('backlog_quota', 'message_ttl') ORDER BY key;

-- bad input: a clear error, nothing changed
SELECT count(*) AS policies_before FROM pulsar.policy \gset
SELECT pg_temp.error_of($$SELECT pulsar.set_retention(NULL, '1 day', 0)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_retention('pol/none', '1 day', 0)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_retention('nobody/ns', '1 day', 0)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_retention('pol/ns/missing', '1 day', 0)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_retention('pol/ns/parts-partition-1', '1 day', 0)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_retention('bad name!/ns', '1 day', 0)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_retention('pol/ns', '-1 day', 0)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_retention('pol/ns', '1 day', -5)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_retention('pol/ns', '1 month -40 days', 0)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_retention('pol/ns', '200000000 years', 0)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_message_ttl('pol/ns', '-1 s')$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_backlog_quota('pol/ns', 10, NULL, 'producer_block')$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_backlog_quota('pol/ns', 10, NULL, NULL)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_backlog_quota('pol/ns', -10, NULL)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_subscription_expiration_time('pol/ns', '-1 min')$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_inactive_topic_policies('pol/ns', NULL, '1 min', 'delete_when_no_subscriptions')$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_inactive_topic_policies('pol/ns', true, '0', 'delete_when_no_subscriptions')$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_inactive_topic_policies('pol/ns', true, NULL, 'delete_when_no_subscriptions')$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_inactive_topic_policies('pol/ns', true, '1 min', 'delete')$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_compaction_threshold('pol/ns', -1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_compaction_threshold('pol/ns', NULL)$$);
SELECT pg_temp.error_of($$SELECT pulsar.remove_policy('pol/ns', 'retention_policy')$$);
SELECT pg_temp.error_of($$SELECT pulsar.remove_policy('pol/ns', NULL)$$);
SELECT count(*) = :policies_before AS nothing_changed FROM pulsar.policy;

-- the defaults come from the settings pulsar_pg.default_* (reloadable)
SELECT pulsar.policy_default('message_ttl'), pulsar.policy_default('retention');
SELECT pg_temp.error_of($$SELECT pulsar.policy_default('nope')$$);

-- the admins of a tenant set the policies of its namespaces and topics;
-- nobody else may, and a stranger cannot tell a missing namespace from one
-- that is not theirs
CREATE ROLE policy_admin;
CREATE ROLE policy_stranger;
SELECT pulsar.update_tenant('pol', ARRAY['policy_admin']);
SET ROLE policy_admin;
SELECT pulsar.set_retention('pol/ns', '1 day', NULL);
SELECT pulsar.set_message_ttl('pol/ns/orders', '5 min');
SELECT pulsar.get_policies('pol/ns/orders')->'message_ttl'->'topic' AS admin_sees;
SELECT pulsar.remove_policy('pol/ns/orders', 'message_ttl');
RESET ROLE;
SET ROLE policy_stranger;
SELECT pg_temp.error_of($$SELECT pulsar.set_retention('pol/ns', NULL, NULL)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_retention('pol/missing', NULL, NULL)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_message_ttl('pol/ns/orders', '1 s')$$);
SELECT pg_temp.error_of($$SELECT pulsar.get_policies('pol/ns')$$);
SELECT pg_temp.error_of($$SELECT pulsar.remove_policy('pol/ns', 'retention')$$);
SELECT pg_temp.error_of($$SELECT pulsar.effective_policy(1, 'retention')$$);
RESET ROLE;
SELECT value->'namespace' FROM jsonb_each(pulsar.get_policies('pol/ns'))
 WHERE key = 'retention';
SELECT pulsar.update_tenant('pol', ARRAY[]::text[]);
DROP ROLE policy_admin;
DROP ROLE policy_stranger;

-- a topic's policies go with it
SELECT pulsar.delete_topic('pol/ns/orders');
SELECT count(*) FROM pulsar.policy WHERE topic_id <> 0 AND tenant = 'pol' AND namespace = 'ns';
SELECT pulsar.delete_topic('pol/ns/parts');
SELECT count(*) FROM pulsar.policy WHERE topic_id <> 0 AND tenant = 'pol';
