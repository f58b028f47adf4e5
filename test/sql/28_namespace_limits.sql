-- Limits of namespaces and topics: set, inherited, removed, and enforced
-- with a clear error that changes nothing
\set VERBOSITY default
\i test/include/error_of.sql
SELECT pulsar.create_tenant('lim');
SELECT pulsar.create_namespace('lim/ns');
SELECT pulsar.create_namespace('lim/other');
SELECT pulsar.create_topic('lim/ns/orders');

-- every limit is a policy: unset, the server default (no limit)
SELECT key, value->'namespace' AS namespace, value->'effective' AS effective
  FROM jsonb_each(pulsar.get_policies('lim/ns'))
 WHERE key LIKE 'max_%' OR key LIKE '%_rate' ORDER BY key;

-- set on the namespace, overridden on a topic; NULL and 0 are no limit
SELECT pulsar.set_max_topics_per_namespace('lim/ns', 4);
SELECT pulsar.set_max_subscriptions_per_topic('lim/ns', 1);
SELECT pulsar.set_max_subscriptions_per_topic('lim/ns/orders', 2);
SELECT pulsar.set_max_consumers_per_topic('lim/ns', NULL);
SELECT pulsar.set_max_consumers_per_subscription('lim/ns', 0);
SELECT pulsar.set_max_unacked_messages_per_subscription('persistent://lim/ns/orders', 1000);
SELECT pulsar.set_publish_rate('lim/ns', 1000, NULL);
SELECT pulsar.set_dispatch_rate('lim/ns/orders', 0, 1048576);
SELECT key, value->'topic' AS topic, value->'namespace' AS namespace,
       value->'effective' AS effective
  FROM jsonb_each(pulsar.get_policies('lim/ns/orders'))
 WHERE key LIKE 'max_%' OR key LIKE '%_rate' ORDER BY key;
-- the namespace's topic count limit shows on its topics too
SELECT pulsar.effective_policy(topic_id, 'max_topics_per_namespace')
  FROM pulsar.topic WHERE tenant = 'lim' AND name = 'orders';
-- removing inherits again
SELECT pulsar.remove_policy('lim/ns/orders', 'max_subscriptions_per_topic');
SELECT pulsar.remove_policy('lim/ns/orders', 'dispatch_rate');
SELECT pulsar.remove_policy('lim/ns', 'publish_rate');
SELECT pulsar.remove_policy('lim/ns', 'max_consumers_per_topic');
SELECT pulsar.remove_policy('lim/ns', 'max_consumers_per_subscription');
SELECT pulsar.remove_policy('lim/ns/orders', 'max_unacked_messages_per_subscription');
SELECT key, value->'effective' AS effective
  FROM jsonb_each(pulsar.get_policies('lim/ns/orders'))
 WHERE key LIKE 'max_%' OR key LIKE '%_rate' ORDER BY key;

-- bad input: a clear error, nothing changed
SELECT count(*) AS policies_before FROM pulsar.policy \gset
SELECT pg_temp.error_of($$SELECT pulsar.set_max_topics_per_namespace('lim/ns', -1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_topics_per_namespace(NULL, 1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_topics_per_namespace('lim/none', 1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_topics_per_namespace('lim/ns/orders', 1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_topics_per_namespace('bad name!/ns', 1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_subscriptions_per_topic('lim/ns', -1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_subscriptions_per_topic('lim/ns/missing', 1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_subscriptions_per_topic(NULL, 1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_consumers_per_topic('lim/ns', -5)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_consumers_per_topic('nobody/ns', 5)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_consumers_per_subscription('lim/ns', -1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_consumers_per_subscription('lim/ns/orders-partition-0', 1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_unacked_messages_per_subscription('lim/ns', -1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_unacked_messages_per_subscription('lim/ns/missing', 1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_publish_rate('lim/ns', -1, NULL)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_publish_rate('lim/ns', NULL, -1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_publish_rate('lim/none', 1, 1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_dispatch_rate('lim/ns', -1, 0)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_dispatch_rate('lim/ns', 0, -1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_dispatch_rate('lim/ns/missing', 1, 1)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_consumers_per_topic(NULL, 5)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_consumers_per_subscription(NULL, 5)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_consumers_per_subscription('lim/none', 5)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_unacked_messages_per_subscription(NULL, 5)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_publish_rate(NULL, 5, 5)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_dispatch_rate(NULL, 5, 5)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_dispatch_rate('lim/ns/orders-partition-0', 5, 5)$$);
SELECT pg_temp.error_of($$SELECT pulsar.remove_policy('lim/ns', 'max_topics')$$);
SELECT count(*) = :policies_before AS nothing_changed FROM pulsar.policy;

-- the defaults come from pulsar_pg.default_* settings
SELECT pulsar.policy_default('max_topics_per_namespace'),
       pulsar.policy_default('publish_rate'), pulsar.policy_default('dispatch_rate');

-- a plain role may not set limits
CREATE ROLE limit_stranger;
SET ROLE limit_stranger;
SELECT pg_temp.error_of($$SELECT pulsar.set_max_topics_per_namespace('lim/ns', 100)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_subscriptions_per_topic('lim/ns', 100)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_consumers_per_topic('lim/ns', 100)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_consumers_per_subscription('lim/ns', 100)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_max_unacked_messages_per_subscription('lim/ns', 100)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_publish_rate('lim/ns', 100, 100)$$);
SELECT pg_temp.error_of($$SELECT pulsar.set_dispatch_rate('lim/ns', 100, 100)$$);
RESET ROLE;
SELECT count(*) = :policies_before AS nothing_changed FROM pulsar.policy;
DROP ROLE limit_stranger;

-- max_topics_per_namespace (4): each partition counts, as in Pulsar
SELECT pulsar.create_topic('lim/ns/parts', 2);
SELECT pulsar.create_topic('lim/ns/third');
SELECT pg_temp.error_of($$SELECT pulsar.create_topic('lim/ns/fourth')$$);
SELECT pg_temp.error_of($$SELECT pulsar.create_topic('lim/ns/more', 3)$$);
-- auto-creation on the first send counts too
SELECT pg_temp.error_of($$SELECT pulsar.send('lim/ns/auto', 'x')$$);
SELECT count(*) AS topics FROM pulsar.topic WHERE tenant = 'lim' AND namespace = 'ns';
-- another namespace has its own count
SELECT pulsar.create_topic('lim/other/fourth');
-- deleting a topic frees its slots; raising the limit makes room
SELECT pulsar.delete_topic('lim/ns/third');
SELECT pulsar.create_topic('lim/ns/fourth');
SELECT pulsar.set_max_topics_per_namespace('lim/ns', NULL);
SELECT pulsar.send('lim/ns/auto', 'x') IS NOT NULL AS sent;

-- max_subscriptions_per_topic (1 from the namespace)
SELECT pulsar.subscribe('lim/ns/orders', 's1', 'shared', consumer => 'c1') IS NOT NULL AS subscribed;
SELECT pg_temp.error_of($$SELECT pulsar.subscribe('lim/ns/orders', 's2', 'shared')$$);
-- an existing subscription takes no new slot
SELECT pulsar.subscribe('lim/ns/orders', 's1', 'shared', consumer => 'c2') IS NOT NULL AS subscribed;
SELECT count(*) AS subscriptions FROM pulsar.subscription s JOIN pulsar.topic t USING (topic_id)
 WHERE t.tenant = 'lim' AND t.name = 'orders';
-- the topic's own setting overrides it; a change is seen at once
SELECT pulsar.set_max_subscriptions_per_topic('lim/ns/orders', 2);
SELECT pulsar.subscribe('lim/ns/orders', 's2', 'shared', consumer => 'c1') IS NOT NULL AS subscribed;
SELECT pg_temp.error_of($$SELECT pulsar.subscribe('lim/ns/orders', 's3', 'exclusive')$$);

-- max_consumers_per_subscription
SELECT pulsar.set_max_consumers_per_subscription('lim/ns/orders', 2);
SELECT pg_temp.error_of($$SELECT pulsar.subscribe('lim/ns/orders', 's1', 'shared', consumer => 'c3')$$);
-- a consumer already attached subscribes again
SELECT pulsar.subscribe('lim/ns/orders', 's1', 'shared', consumer => 'c2') IS NOT NULL AS subscribed;
-- a closed consumer frees its slot
SELECT pulsar.close_consumer('lim/ns/orders', 's1', 'c2');
SELECT pulsar.subscribe('lim/ns/orders', 's1', 'shared', consumer => 'c3') IS NOT NULL AS subscribed;

-- max_consumers_per_topic counts every subscription's consumers (3 now)
SELECT pulsar.set_max_consumers_per_topic('lim/ns/orders', 3);
SELECT pg_temp.error_of($$SELECT pulsar.subscribe('lim/ns/orders', 's2', 'shared', consumer => 'c2')$$);
SELECT count(*) AS consumers FROM pulsar.consumer c JOIN pulsar.subscription s USING (subscription_id)
  JOIN pulsar.topic t USING (topic_id) WHERE t.tenant = 'lim' AND t.name = 'orders';
SELECT pulsar.set_max_consumers_per_topic('lim/ns/orders', 0);
SELECT pulsar.subscribe('lim/ns/orders', 's2', 'shared', consumer => 'c2') IS NOT NULL AS subscribed;

-- max_unacked_messages_per_subscription: dispatch stops, no error
SELECT pulsar.remove_policy('lim/ns', 'max_subscriptions_per_topic');
SELECT pulsar.create_topic('lim/ns/unacked');
SELECT pulsar.set_max_unacked_messages_per_subscription('lim/ns/unacked', 3);
SELECT pulsar.subscribe('lim/ns/unacked', 'sh', 'shared', 'earliest', consumer => 'a') IS NOT NULL,
       pulsar.subscribe('lim/ns/unacked', 'sh', 'shared', 'earliest', consumer => 'b') IS NOT NULL,
       pulsar.subscribe('lim/ns/unacked', 'ex', 'exclusive', 'earliest', consumer => 'e') IS NOT NULL;
SELECT count(*) FROM pulsar.send_batch('lim/ns/unacked', ARRAY['1', '2', '3', '4', '5', '6']);
CREATE TEMP TABLE got_a AS
SELECT message_id FROM pulsar.receive('lim/ns/unacked', 'sh', 10, consumer => 'a');
SELECT count(*) AS a_got FROM got_a;
-- another consumer of the blocked subscription gets nothing either
SELECT count(*) AS b_got FROM pulsar.receive('lim/ns/unacked', 'sh', 10, consumer => 'b');
SELECT pulsar.topic_stats('lim/ns/unacked') #> '{subscriptions,sh,blockedSubscriptionOnUnackedMsgs}' AS blocked;
-- acks unblock it
SELECT pulsar.ack('lim/ns/unacked', 'sh', (SELECT array_agg(message_id) FROM (SELECT message_id FROM got_a ORDER BY message_id LIMIT 2) x));
SELECT count(*) AS b_got FROM pulsar.receive('lim/ns/unacked', 'sh', 10, consumer => 'b');
-- an exclusive subscription: the same
CREATE TEMP TABLE got_e AS
SELECT message_id FROM pulsar.receive('lim/ns/unacked', 'ex', 10, consumer => 'e');
SELECT count(*) AS e_got FROM got_e;
SELECT count(*) AS e_got FROM pulsar.receive('lim/ns/unacked', 'ex', 10, consumer => 'e');
SELECT pulsar.topic_stats('lim/ns/unacked') #> '{subscriptions,ex,blockedSubscriptionOnUnackedMsgs}' AS blocked;
SELECT pulsar.ack_cumulative('lim/ns/unacked', 'ex', (SELECT pulsar.max(message_id) FROM got_e));
SELECT count(*) AS e_got FROM pulsar.receive('lim/ns/unacked', 'ex', 10, consumer => 'e');
SELECT pulsar.topic_stats('lim/ns/unacked') #> '{subscriptions,ex,blockedSubscriptionOnUnackedMsgs}' AS blocked;

-- a departed consumer (a named one whose lease expired) takes no slot
SELECT pulsar.create_topic('lim/ns/lease');
SELECT pulsar.set_max_consumers_per_subscription('lim/ns/lease', 1);
SELECT pulsar.subscribe('lim/ns/lease', 's', 'shared', consumer => 'old') IS NOT NULL AS subscribed;
SELECT pg_temp.error_of($$SELECT pulsar.subscribe('lim/ns/lease', 's', 'shared', consumer => 'new')$$);
SET pulsar_pg.consumer_lease = '100ms';
SELECT pg_sleep(0.3);
SELECT pulsar.subscribe('lim/ns/lease', 's', 'shared', consumer => 'new') IS NOT NULL AS subscribed;
RESET pulsar_pg.consumer_lease;
SELECT c.name FROM pulsar.consumer c JOIN pulsar.subscription s USING (subscription_id)
  JOIN pulsar.topic t USING (topic_id) WHERE t.tenant = 'lim' AND t.name = 'lease';
SELECT pulsar.delete_topic('lim/ns/lease', force => true);

-- clean up: a topic's limits go with it
SELECT pulsar.delete_topic('lim/ns/unacked', force => true);
SELECT pulsar.delete_topic('lim/ns/orders', force => true);
SELECT count(*) FROM pulsar.policy WHERE tenant = 'lim' AND topic_id <> 0;
SELECT pulsar.delete_topic('lim/ns/parts');
SELECT pulsar.delete_topic('lim/ns/fourth');
SELECT pulsar.delete_topic('lim/ns/auto');
SELECT pulsar.delete_topic('lim/other/fourth');
DELETE FROM pulsar.policy WHERE tenant = 'lim';
