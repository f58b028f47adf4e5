-- delayed delivery: deliver_at and deliver_after hold a message back from
-- shared and key_shared subscriptions until due; exclusive and failover
-- subscriptions receive it at once, as in Pulsar
\set VERBOSITY default
\i test/include/error_of.sql

SELECT pulsar.create_topic('sub14_delayed');
SELECT pulsar.subscribe('sub14_delayed', 'sh', 'shared', 'earliest') IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub14_delayed', 'ks', 'key_shared', 'earliest') IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub14_delayed', 'ex', 'exclusive', 'earliest') IS NOT NULL AS subscribed;
SELECT pulsar.send('sub14_delayed', 'later', key => 'k', deliver_after => '1 hour') IS NOT NULL AS sent;
SELECT pulsar.send('sub14_delayed', 'past', key => 'k', deliver_at => now() - interval '1 minute') IS NOT NULL AS sent;
SELECT clock_timestamp() + interval '2 s' AS soon \gset
SELECT pulsar.send('sub14_delayed', 'soon', key => 'k', deliver_at => :'soon') IS NOT NULL AS sent;
SELECT pulsar.send('sub14_delayed', 'now', key => 'k') IS NOT NULL AS sent;

-- exclusive: everything, in order, at once
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub14_delayed', 'ex', 10);

-- shared and key_shared: only what is due
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub14_delayed', 'sh', 10);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub14_delayed', 'ks', 10);
SELECT s.key AS subscription, s.value->'msgDelayed' AS delayed, s.value->'msgBacklog' AS backlog
  FROM jsonb_each(pulsar.topic_stats('sub14_delayed')->'subscriptions') s ORDER BY 1;

-- a receive that rolls back leaves the delayed messages held back
BEGIN;
SELECT count(*) FROM pulsar.receive('sub14_delayed', 'sh', 10);
ROLLBACK;
SELECT count(*) FROM pulsar.receive('sub14_delayed', 'sh', 10);

-- once due, a delayed message is delivered as a first delivery
SELECT pg_sleep_until(:'soon'::timestamptz + interval '10 ms');
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub14_delayed', 'sh', 10);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub14_delayed', 'ks', 10);
SELECT s.key AS subscription, s.value->'msgDelayed' AS delayed
  FROM jsonb_each(pulsar.topic_stats('sub14_delayed')->'subscriptions') s ORDER BY 1;

-- a batch shares one deliver_after
SELECT count(*) FROM pulsar.send_batch('sub14_delayed', ARRAY['b1', 'b2'], deliver_after => '1 day');
SELECT count(*) FROM pulsar.receive('sub14_delayed', 'sh', 10);
SELECT pulsar.topic_stats('sub14_delayed')->'subscriptions'->'sh'->'msgDelayed' AS delayed;

-- stored as deliver_at
SELECT deliver_at > now() + interval '23 hours' AS later
  FROM pulsar.read('sub14_delayed', 'earliest', 100) ORDER BY message_id DESC LIMIT 1;

-- bad input changes nothing
SELECT max(pulsar.entry_id(message_id)) AS last_entry FROM pulsar.read('sub14_delayed', 'earliest', 100) \gset
SELECT * FROM pg_temp.error_of($$SELECT pulsar.send('sub14_delayed', 'x', deliver_at => now(), deliver_after => '1 s')$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.send('sub14_delayed', 'x', deliver_after => '-1 s')$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.send_batch('sub14_delayed', ARRAY['x'], deliver_after => '-1 day')$$);
SELECT max(pulsar.entry_id(message_id)) = :last_entry AS nothing_sent
  FROM pulsar.read('sub14_delayed', 'earliest', 100);

SELECT pulsar.close_consumer('sub14_delayed', s) FROM unnest(ARRAY['sh', 'ks', 'ex']) s;
