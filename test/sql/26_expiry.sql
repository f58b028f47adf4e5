-- Message expiry, backlog quotas, subscription expiration, inactive topics
\set VERBOSITY default
\i test/include/error_of.sql
SELECT pulsar.create_tenant('exp');
SELECT pulsar.create_namespace('exp/ttl');
SELECT pulsar.create_namespace('exp/quota');
SELECT pulsar.create_namespace('exp/subs');
SELECT pulsar.create_namespace('exp/idle');

-- expire_messages: Pulsar's expire-messages; what a consumer holds expires too
SELECT pulsar.create_topic('exp/ttl/a');
SELECT pulsar.subscribe('exp/ttl/a', 'shared', 'shared', 'earliest', consumer => 'c1') IS NOT NULL;
SELECT pulsar.subscribe('exp/ttl/a', 'excl', 'exclusive', 'earliest', consumer => 'c2') IS NOT NULL;
SELECT count(pulsar.send('exp/ttl/a', 'm' || i)) FROM generate_series(1, 10) i;
SELECT count(*) AS held FROM pulsar.receive('exp/ttl/a', 'shared', 3, consumer => 'c1');
SELECT pulsar.ack('exp/ttl/a', 'excl', message_id)
  FROM pulsar.receive('exp/ttl/a', 'excl', 2, consumer => 'c2');
-- nothing is older than an hour
SELECT pulsar.expire_messages('exp/ttl/a', 'shared', '1 hour');
-- everything is older than 0: acknowledged messages do not count
SELECT pulsar.expire_messages('exp/ttl/a', 'shared', '0');
SELECT pulsar.expire_messages('exp/ttl/a', 'excl', '0');
SELECT pulsar.expire_messages('exp/ttl/a', 'excl', '0');
SELECT key, value->'msgBacklog' AS backlog, value->'unackedMessages' AS unacked,
       value->'msgExpired' AS expired, (value->>'lastExpireTimestamp')::bigint > 0 AS expired_at
  FROM jsonb_each(pulsar.topic_stats('exp/ttl/a')->'subscriptions') ORDER BY key;
-- nothing is deleted: a reader still reads every message
SELECT count(*) FROM pulsar.read('exp/ttl/a', 'earliest', 100);
-- what comes next is delivered, nothing expired comes back
SELECT pulsar.send('exp/ttl/a', 'after') IS NOT NULL;
SELECT convert_from(payload, 'UTF8') FROM pulsar.receive('exp/ttl/a', 'shared', 10, consumer => 'c1');
-- an ack of an expired message fails as an ack of another's would
SELECT pg_temp.error_of($$SELECT pulsar.ack('exp/ttl/a', 'excl', (l.ledger_id || ':4:-1')::pulsar.message_id) FROM pulsar.ledger l JOIN pulsar.topic t USING (topic_id) WHERE t.tenant = 'exp' AND t.name = 'a'$$);

-- every partition of a partitioned topic
SELECT pulsar.create_topic('exp/ttl/p', 3);
SELECT pulsar.subscribe('exp/ttl/p', 'sub', 'shared', 'earliest', consumer => 'c') IS NOT NULL;
SELECT count(pulsar.send('exp/ttl/p', 'm' || i, key => 'k' || i)) FROM generate_series(1, 30) i;
SELECT pulsar.expire_messages('exp/ttl/p', 'sub', '0');
SELECT pulsar.topic_stats('exp/ttl/p')->'subscriptions'->'sub'->'msgBacklog' AS backlog;

-- bad input: a clear error, nothing moved
SELECT pg_temp.error_of($$SELECT pulsar.expire_messages(NULL, 'sub', '0')$$);
SELECT pg_temp.error_of($$SELECT pulsar.expire_messages('exp/ttl/none', 'sub', '0')$$);
SELECT pg_temp.error_of($$SELECT pulsar.expire_messages('exp/ttl/p', 'none', '0')$$);
SELECT pg_temp.error_of($$SELECT pulsar.expire_messages('exp/ttl/p', NULL, '0')$$);
SELECT pg_temp.error_of($$SELECT pulsar.expire_messages('exp/ttl/p-partition-1', 'sub', '0')$$);
SELECT pg_temp.error_of($$SELECT pulsar.expire_messages('exp/ttl/a', 'shared', '-1 s')$$);
SELECT pg_temp.error_of($$SELECT pulsar.expire_messages('exp/ttl/a', 'shared', NULL)$$);
SELECT pg_temp.error_of($$SELECT pulsar.apply_expiry_policies('exp/none')$$);
SELECT pg_temp.error_of($$SELECT pulsar.apply_expiry_policies('exp', now())$$);
SELECT pg_temp.error_of($$SELECT pulsar.apply_expiry_policies('exp/ttl', NULL)$$);

-- message TTL: the maintenance pass moves cursors past what is older than it
SELECT pulsar.create_topic('exp/ttl/b');
SELECT pulsar.create_topic('exp/ttl/keep');
SELECT pulsar.subscribe('exp/ttl/b', 'sub', 'exclusive', 'earliest', consumer => 'c') IS NOT NULL;
SELECT pulsar.subscribe('exp/ttl/keep', 'sub', 'exclusive', 'earliest', consumer => 'c') IS NOT NULL;
SELECT count(pulsar.send(t, 'm' || i)) FROM generate_series(1, 5) i,
       unnest(ARRAY['exp/ttl/b', 'exp/ttl/keep']) t;
SELECT pulsar.set_message_ttl('exp/ttl', '1 hour');
SELECT pulsar.set_message_ttl('exp/ttl/keep', '0');		-- the topic's "none" wins
-- in an hour's time nothing has expired yet; in two hours it has
SELECT pulsar.apply_expiry_policies('exp/ttl', now() + interval '59 minutes')->'messages_expired';
SELECT pulsar.apply_expiry_policies('exp/ttl', now() + interval '2 hours')->'messages_expired';
SELECT t, pulsar.topic_stats(t)->'subscriptions'->'sub'->'msgBacklog' AS backlog,
       pulsar.topic_stats(t)->'subscriptions'->'sub'->'msgExpired' AS expired
  FROM unnest(ARRAY['exp/ttl/b', 'exp/ttl/keep']) t;

-- backlog quota, producer_exception: sends fail with SQLSTATE PB001
SELECT pulsar.create_topic('exp/quota/q');
SELECT pulsar.subscribe('exp/quota/q', 'sub', 'exclusive', 'earliest', consumer => 'c') IS NOT NULL;
SELECT count(pulsar.send('exp/quota/q', repeat('x', 1000))) FROM generate_series(1, 20) i;
SELECT pulsar.set_backlog_quota('exp/quota', 4096, NULL, 'producer_exception');
-- a send is checked against what the last pass found
SELECT pulsar.send('exp/quota/q', 'before the pass') IS NOT NULL;
SELECT pulsar.apply_expiry_policies('exp/quota')->'backlog_quotas_exceeded';
-- (the size is an estimate from the segment tables' sizes)
SELECT regexp_replace(e, 'about [0-9]+ bytes', 'about N bytes')
  FROM pg_temp.error_of($$SELECT pulsar.send('exp/quota/q', 'over')$$) e;
SELECT e FROM pg_temp.error_of($$SELECT pulsar.send_batch('exp/quota/q', ARRAY['a', 'b'])$$) e LIMIT 1;
-- the refused sends stored nothing
SELECT count(*) FROM pulsar.read('exp/quota/q', 'earliest', 100);
-- consuming the backlog lets sends through again, without waiting for a pass
SELECT pulsar.ack_cumulative('exp/quota/q', 'sub', pulsar.max(message_id))
  FROM pulsar.receive('exp/quota/q', 'sub', 100, consumer => 'c');
SELECT pulsar.send('exp/quota/q', 'under') IS NOT NULL;

-- producer_request_hold: a send waits up to pulsar_pg.backlog_quota_hold_timeout, then PB002
SELECT count(pulsar.send('exp/quota/q', repeat('x', 1000))) FROM generate_series(1, 20) i;
SELECT pulsar.set_backlog_quota('exp/quota/q', 4096, NULL);	-- the default policy
SELECT pulsar.apply_expiry_policies('exp/quota')->'backlog_quotas_exceeded';
SET pulsar_pg.backlog_quota_hold_timeout = '200ms';
SELECT regexp_replace(e, 'about [0-9]+ bytes', 'about N bytes')
  FROM pg_temp.error_of($$SELECT pulsar.send('exp/quota/q', 'held')$$) e;
RESET pulsar_pg.backlog_quota_hold_timeout;
-- a quota removed: the next pass lets sends through
SELECT pulsar.remove_policy('exp/quota/q', 'backlog_quota');
SELECT pulsar.remove_policy('exp/quota', 'backlog_quota');
SELECT pulsar.apply_expiry_policies('exp/quota')->'backlog_quotas_exceeded';
SELECT pulsar.send('exp/quota/q', 'free') IS NOT NULL;

-- the age limit: the oldest unacknowledged message
SELECT pulsar.set_backlog_quota('exp/quota/q', NULL, '1 s', 'producer_exception');
SELECT pg_sleep(1.5);
SELECT pulsar.apply_expiry_policies('exp/quota')->'backlog_quotas_exceeded';
SELECT regexp_replace(e, 'published [0-9]+ seconds', 'published N seconds')
  FROM pg_temp.error_of($$SELECT pulsar.send('exp/quota/q', 'old backlog')$$) e;
SELECT pulsar.remove_policy('exp/quota/q', 'backlog_quota');
SELECT pulsar.apply_expiry_policies('exp/quota')->'backlog_quotas_exceeded';

-- consumer_backlog_eviction: the slowest cursors move until the backlog fits
SELECT pulsar.create_topic('exp/quota/evict');
SELECT pulsar.subscribe('exp/quota/evict', 'slow', 'shared', 'earliest', consumer => 'c') IS NOT NULL;
SELECT pulsar.subscribe('exp/quota/evict', 'fast', 'shared', 'latest', consumer => 'c') IS NOT NULL;
SELECT count(*) FROM pulsar.send_batch('exp/quota/evict',
  (SELECT array_agg(repeat('y', 2000)) FROM generate_series(1, 200) i));
-- "fast" has read everything
SELECT pulsar.seek('exp/quota/evict', 'fast', 'latest');
SELECT pulsar.set_backlog_quota('exp/quota/evict', 8192, NULL, 'consumer_backlog_eviction');
SELECT (r->>'backlog_quotas_exceeded')::int AS exceeded, (r->>'messages_evicted')::int > 0 AS evicted
  FROM pulsar.apply_expiry_policies('exp/quota') r;
-- senders go on; the slow subscription lost its oldest messages, not the newest
SELECT pulsar.send('exp/quota/evict', 'z') IS NOT NULL;
SELECT (s->'slow'->>'msgBacklog')::int BETWEEN 2 AND 150 AS slow_trimmed,
       (s->'slow'->>'msgExpired')::int + (s->'slow'->>'msgBacklog')::int AS slow_total,
       s->'fast'->'msgBacklog' AS fast_backlog, s->'fast'->'msgExpired' AS fast_expired
  FROM (SELECT pulsar.topic_stats('exp/quota/evict')->'subscriptions' AS s) stats;
-- the backlog fits now (one more message may tip the estimate over)
SELECT (pulsar.apply_expiry_policies('exp/quota')->>'messages_evicted')::int <= 1 AS settled;
-- by age: what is older than the limit
SELECT pulsar.set_backlog_quota('exp/quota/evict', NULL, '1 hour', 'consumer_backlog_eviction');
SELECT pulsar.apply_expiry_policies('exp/quota', now() + interval '2 hours')->'backlog_quotas_exceeded';
SELECT key, value->'msgBacklog' FROM jsonb_each(pulsar.topic_stats('exp/quota/evict')->'subscriptions') ORDER BY key;

-- subscription expiration: without a consumer for the set time, a subscription goes
SELECT pulsar.create_topic('exp/subs/s');
SELECT pulsar.subscribe('exp/subs/s', 'abandoned', 'shared', 'earliest', consumer => 'gone') IS NOT NULL;
SELECT pulsar.close_consumer('exp/subs/s', 'abandoned', 'gone');
SELECT pulsar.subscribe('exp/subs/s', 'attended', 'shared', 'earliest', consumer => 'here') IS NOT NULL;
-- default: never
SELECT pulsar.apply_expiry_policies('exp/subs', now() + interval '100 years')->'subscriptions_expired';
SELECT pulsar.set_subscription_expiration_time('exp/subs', '1 day');
SELECT pulsar.apply_expiry_policies('exp/subs', now() + interval '23 hours')->'subscriptions_expired';
SELECT pulsar.apply_expiry_policies('exp/subs', now() + interval '25 hours')->'subscriptions_expired';
SELECT s.name FROM pulsar.subscription s JOIN pulsar.topic t USING (topic_id)
 WHERE t.tenant = 'exp' AND t.namespace = 'subs' ORDER BY s.name;

-- inactive topics: off by default
SELECT pulsar.create_topic('exp/idle/unsubscribed');
SELECT pulsar.create_topic('exp/idle/caught-up');
SELECT pulsar.create_topic('exp/idle/behind');
SELECT pulsar.create_topic('exp/idle/consumed');
SELECT pulsar.subscribe('exp/idle/caught-up', 'sub', 'exclusive', 'earliest', consumer => 'c') IS NOT NULL;
SELECT pulsar.subscribe('exp/idle/behind', 'sub', 'exclusive', 'earliest', consumer => 'c') IS NOT NULL;
SELECT pulsar.subscribe('exp/idle/consumed', 'sub', 'exclusive', 'earliest', consumer => 'c') IS NOT NULL;
SELECT pulsar.send('exp/idle/behind', 'unread') IS NOT NULL;
SELECT pulsar.close_consumer('exp/idle/' || t, 'sub', 'c')
  FROM unnest(ARRAY['caught-up', 'behind']) t;
SELECT pulsar.apply_expiry_policies('exp/idle', now() + interval '100 years')->'topics_deleted';
-- delete_when_no_subscriptions: only the topic without subscriptions
SELECT pulsar.set_inactive_topic_policies('exp/idle', true, '1 hour', 'delete_when_no_subscriptions');
SELECT pulsar.apply_expiry_policies('exp/idle', now() + interval '30 minutes')->'topics_deleted';
SELECT pulsar.apply_expiry_policies('exp/idle', now() + interval '2 hours')->'topics_deleted';
SELECT name FROM pulsar.topic WHERE tenant = 'exp' AND namespace = 'idle' ORDER BY name;
-- delete_when_subscriptions_caught_up: also with subscriptions that read
-- everything, and no consumer; not with a backlog, not with a consumer
SELECT pulsar.set_inactive_topic_policies('exp/idle', true, '1 hour', 'delete_when_subscriptions_caught_up');
SELECT pulsar.apply_expiry_policies('exp/idle', now() + interval '2 hours')->'topics_deleted';
SELECT name FROM pulsar.topic WHERE tenant = 'exp' AND namespace = 'idle' ORDER BY name;
-- a message published lately keeps a topic active, created long ago or not
SELECT pulsar.create_topic('exp/idle/fresh');
SELECT pulsar.send('exp/idle/fresh', 'new') IS NOT NULL;
UPDATE pulsar.topic SET created_at = created_at - interval '3 hours'
 WHERE tenant = 'exp' AND namespace = 'idle' AND name = 'fresh';
SELECT pulsar.apply_expiry_policies('exp/idle', now() + interval '30 minutes')->'topics_deleted';
SELECT name FROM pulsar.topic WHERE tenant = 'exp' AND namespace = 'idle' ORDER BY name;
SELECT pulsar.apply_expiry_policies('exp/idle', now() + interval '2 hours')->'topics_deleted';
SELECT name FROM pulsar.topic WHERE tenant = 'exp' AND namespace = 'idle' ORDER BY name;

-- a plain role may not expire messages nor apply policies; an admin of
-- the tenant may expire messages, and only apply_expiry_policies is
-- refused to it (test 23_authorization has every role)
CREATE ROLE expiry_stranger;
CREATE ROLE expiry_admin;
SELECT pulsar.update_tenant('exp', ARRAY['expiry_admin']);
SET ROLE expiry_stranger;
SELECT pg_temp.error_of($$SELECT pulsar.expire_messages('exp/ttl/a', 'shared', '0')$$);
SELECT pg_temp.error_of($$SELECT pulsar.apply_expiry_policies()$$);
SET ROLE expiry_admin;
SELECT pulsar.send('exp/ttl/a', 'for the admin') IS NOT NULL AS sent;
SELECT pulsar.expire_messages('exp/ttl/a', 'shared', '0');
SELECT pg_temp.error_of($$SELECT pulsar.apply_expiry_policies('exp/ttl')$$);
RESET ROLE;
SELECT pulsar.update_tenant('exp', '{}');
DROP ROLE expiry_stranger, expiry_admin;

-- the rows of subscriptions and topics go with them
SELECT pulsar.delete_topic('exp/' || t, force => true)
  FROM unnest(ARRAY['ttl/a', 'ttl/p', 'ttl/b', 'ttl/keep', 'quota/q', 'quota/evict',
                    'subs/s', 'idle/behind', 'idle/consumed']) t;
SELECT count(*) FROM pulsar.cursor_expiry e
 WHERE NOT EXISTS (SELECT 1 FROM pulsar.cursor c WHERE c.subscription_id = e.subscription_id);
SELECT pulsar.remove_policy('exp/' || n, p)
  FROM unnest(ARRAY['ttl', 'subs', 'idle']) n,
       unnest(ARRAY['message_ttl', 'subscription_expiration_time', 'inactive_topic_policies']) p;
