-- what lies behind the read position costs a receive nothing, and what
-- lies ahead of it is passed in one call: a receive behind a long run of
-- delayed messages returns the ready ones after it; acknowledged ranges
-- are kept exactly however many there are (DESIGN invariant 5)
\set VERBOSITY default

-- 100,000 delayed messages, then three ready ones: one receive returns them
SELECT pulsar.create_topic('sub18_delayed');
SELECT pulsar.subscribe('sub18_delayed', 'sh', 'shared', 'earliest', consumer => 'c') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.send_batch('sub18_delayed',
	array_fill('later'::bytea, ARRAY[100000]), deliver_after => '1 hour');
SELECT count(*) FROM pulsar.send_batch('sub18_delayed', ARRAY['a', 'b', 'c']::bytea[]);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub18_delayed', 'sh', 10, consumer => 'c');
SELECT s.value->'msgDelayed' AS delayed
  FROM jsonb_each(pulsar.topic_stats('sub18_delayed')->'subscriptions') s;
SELECT pulsar.close_consumer('sub18_delayed', 'sh', 'c');
SELECT pulsar.unsubscribe('sub18_delayed', 'sh');
SELECT pulsar.delete_topic('sub18_delayed');

-- 12,500 holes: every odd message of 25,000 acknowledged one by one
SELECT pulsar.create_topic('sub18_holes');
SELECT pulsar.subscribe('sub18_holes', 'ex', 'exclusive', 'earliest', consumer => 'c1') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.send_batch('sub18_holes', array_fill('m'::bytea, ARRAY[25000]));
SELECT pulsar.ack('sub18_holes', 'ex', array_agg(message_id) FILTER (WHERE pulsar.entry_id(message_id) % 2 = 1))
  FROM pulsar.receive('sub18_holes', 'ex', 25000, consumer => 'c1');
SELECT count(*) AS ranges FROM pulsar.acked_range r JOIN pulsar.subscription s USING (subscription_id)
 WHERE s.name = 'ex';
SELECT length(d) - length(replace(d, '(', '')) AS ranges_reported
  FROM (SELECT pulsar.topic_internal_stats('sub18_holes')->'cursors'->'ex'->>'individuallyDeletedMessages' AS d) s;

-- a new consumer starts at the first hole and gets exactly the 12,500
-- unacknowledged messages, in one call, past more ranges than one look reads
SELECT pulsar.close_consumer('sub18_holes', 'ex', 'c1');
SELECT pulsar.subscribe('sub18_holes', 'ex', 'exclusive', 'earliest', consumer => 'c2') IS NOT NULL AS subscribed;
SELECT count(*), min(e), max(e), count(*) FILTER (WHERE e % 2 = 1) AS acked_again
  FROM (SELECT pulsar.entry_id(message_id) AS e
          FROM pulsar.receive('sub18_holes', 'ex', 100000, consumer => 'c2')) r;
SELECT s.value->'msgBacklog' AS backlog
  FROM jsonb_each(pulsar.topic_stats('sub18_holes')->'subscriptions') s;

-- acknowledging them folds every range into the mark-delete position
SELECT pulsar.seek('sub18_holes', 'ex', 'earliest');
SELECT pulsar.ack('sub18_holes', 'ex', array_agg(message_id) FILTER (WHERE pulsar.entry_id(message_id) % 2 = 1))
  FROM pulsar.receive('sub18_holes', 'ex', 25000, consumer => 'c2');
SELECT pulsar.ack('sub18_holes', 'ex', array_agg(message_id) FILTER (WHERE pulsar.entry_id(message_id) % 2 = 0))
  FROM pulsar.read('sub18_holes', 'earliest', 25000);
SELECT count(*) AS ranges FROM pulsar.acked_range r JOIN pulsar.subscription s USING (subscription_id)
 WHERE s.name = 'ex';
SELECT split_part(pulsar.topic_internal_stats('sub18_holes')->'cursors'->'ex'->>'markDeletePosition',
                  ':', 2) AS mark_delete;
SELECT pulsar.close_consumer('sub18_holes', 'ex', 'c2');
SELECT pulsar.unsubscribe('sub18_holes', 'ex');
SELECT pulsar.delete_topic('sub18_holes');
