-- pulsar.receive: what each type of subscription hands out, and when
\set VERBOSITY default
\i test/include/error_of.sql

SELECT pulsar.create_topic('sub09_events');
SELECT count(*) FROM pulsar.send_batch('sub09_events',
	ARRAY['e0', 'e1', 'e2', 'e3', 'e4', 'e5']);

-- receive before subscribe
SELECT * FROM pulsar.receive('sub09_events', 'ex');
SELECT * FROM pulsar.receive('sub09_no_topic', 'ex');
SELECT count(*) FROM pulsar.topic WHERE name = 'sub09_no_topic';
SELECT pulsar.subscribe('sub09_events', 'named_only', consumer => 'somebody') IS NOT NULL AS subscribed;
SELECT pg_temp.error_of($$SELECT * FROM pulsar.receive('sub09_events', 'named_only')$$);
SELECT * FROM pulsar.receive('sub09_events', 'named_only', consumer => 'nobody');
SELECT pulsar.close_consumer('sub09_events', 'named_only', 'somebody');

-- exclusive: in publish order, at most max_messages at a time (default 1)
SELECT pulsar.subscribe('sub09_events', 'ex', initial_position => 'earliest') IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub09_events', 'ex');
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub09_events', 'ex', 2);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub09_events', 'ex', 100000);
SELECT count(*) FROM pulsar.receive('sub09_events', 'ex', 100000);
-- the fields of a received message
SELECT pulsar.entry_id(pulsar.send('sub09_events', 'with fields', key => 'k',
	properties => '{"p": 1}', event_time => '2024-01-02 03:04:05+00',
	producer => 'prod-1', sequence_id => 42));
SELECT pulsar.entry_id(message_id), pulsar.partition_index(message_id), key,
       convert_from(payload, 'UTF8'), properties,
       event_time = '2024-01-02 03:04:05+00' AS same_event_time, redelivery_count,
       producer, sequence_id, topic, publish_time IS NOT NULL AS has_publish_time
  FROM pulsar.receive('sub09_events', 'ex', 10);
-- a NULL payload (a tombstone) is delivered too
SELECT pulsar.entry_id(pulsar.send('sub09_events', NULL::bytea, key => 'gone'));
SELECT pulsar.entry_id(message_id), key, payload IS NULL AS tombstone
  FROM pulsar.receive('sub09_events', 'ex', 10);

-- bad max_messages and timeout
SELECT * FROM pulsar.receive('sub09_events', 'ex', 0);
SELECT * FROM pulsar.receive('sub09_events', 'ex', -1);
SELECT * FROM pulsar.receive('sub09_events', 'ex', NULL);
SELECT * FROM pulsar.receive('sub09_events', 'ex', 100001);
SELECT * FROM pulsar.receive('sub09_events', 'ex', 1, NULL);
SELECT * FROM pulsar.receive('sub09_events', 'ex', 1, '-1 second');
SELECT * FROM pulsar.receive(NULL, 'ex');
SELECT * FROM pulsar.receive('sub09_events', NULL);
SELECT * FROM pulsar.receive('sub09_events', 'bad name');
SELECT * FROM pulsar.receive('bad topic', 'ex');

-- a receive with a timeout on an empty subscription waits, then returns nothing
SELECT clock_timestamp() AS before_wait \gset
SELECT count(*) FROM pulsar.receive('sub09_events', 'ex', 10, '200ms');
SELECT clock_timestamp() - :'before_wait'::timestamptz >= interval '200ms' AS waited;
-- with messages there, it returns them without waiting for more
SELECT pulsar.entry_id(pulsar.send('sub09_events', 'e8'));
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub09_events', 'ex', 10, '1 hour');

-- aborted sends are gaps that receive passes over
BEGIN;
SELECT pulsar.entry_id(pulsar.send('sub09_events', 'aborted'));
ROLLBACK;
SELECT pulsar.entry_id(pulsar.send('sub09_events', 'e10'));
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub09_events', 'ex', 10);
-- a transaction never receives its own uncommitted messages
BEGIN;
SELECT pulsar.entry_id(pulsar.send('sub09_events', 'mine'));
SELECT count(*) FROM pulsar.receive('sub09_events', 'ex', 10);
COMMIT;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub09_events', 'ex', 10);

-- a receive that rolls back hands its messages out again at once, in order
SELECT count(*) FROM pulsar.send_batch('sub09_events', ARRAY['r12', 'r13', 'r14']);
BEGIN;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub09_events', 'ex', 2);
ROLLBACK;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub09_events', 'ex', 10);
-- and so does one rolled back to a savepoint
SELECT count(*) FROM pulsar.send_batch('sub09_events', ARRAY['r15', 'r16', 'r17']);
BEGIN;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub09_events', 'ex');
SAVEPOINT one;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub09_events', 'ex');
ROLLBACK TO SAVEPOINT one;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub09_events', 'ex', 10);
COMMIT;
SELECT count(*) FROM pulsar.receive('sub09_events', 'ex', 10);

-- receive needs READ COMMITTED and a transaction that can write
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM pulsar.receive('sub09_events', 'ex');
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT * FROM pulsar.receive('sub09_events', 'ex');
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM pulsar.receive('sub09_events', 'ex');
ROLLBACK;
-- nothing was handed out by the refused calls
SELECT pulsar.entry_id(pulsar.send('sub09_events', 'e18'));
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub09_events', 'ex', 10);

-- shared: consumers split the messages, none gets one twice
SELECT pulsar.create_topic('sub09_shared');
SELECT pulsar.subscribe('sub09_shared', 'sh', 'shared', consumer => 'w1') IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub09_shared', 'sh', 'shared', consumer => 'w2') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.send_batch('sub09_shared',
	(SELECT array_agg('s' || i) FROM generate_series(0, 5) i));
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub09_shared', 'sh', 2, consumer => 'w1');
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub09_shared', 'sh', 2, consumer => 'w2');
-- a rolled-back receive gives its messages to whoever asks next
BEGIN;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub09_shared', 'sh', 1, consumer => 'w1');
ROLLBACK;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub09_shared', 'sh', 10, consumer => 'w2');
SELECT count(*) FROM pulsar.receive('sub09_shared', 'sh', 10, consumer => 'w1');
SELECT pulsar.close_consumer('sub09_shared', 'sh', 'w1');
SELECT pulsar.close_consumer('sub09_shared', 'sh', 'w2');

-- failover: one active consumer per partition, the first by priority then
-- name; the others get nothing until it leaves
SELECT pulsar.create_topic('sub09_failover');
SELECT pulsar.subscribe('sub09_failover', 'fo', 'failover', consumer => 'fo-b') IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub09_failover', 'fo', 'failover', consumer => 'fo-a') IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub09_failover', 'fo', 'failover', consumer => 'fo-0', priority => 1)
       IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.send_batch('sub09_failover', ARRAY['f0', 'f1', 'f2']);
SELECT count(*) FROM pulsar.receive('sub09_failover', 'fo', 10, consumer => 'fo-b');
SELECT count(*) FROM pulsar.receive('sub09_failover', 'fo', 10, consumer => 'fo-0');
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub09_failover', 'fo', 2, consumer => 'fo-a');
-- the next consumer takes over from the first unacknowledged message
SELECT pulsar.close_consumer('sub09_failover', 'fo', 'fo-a');
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub09_failover', 'fo', 10, consumer => 'fo-b');
SELECT count(*) FROM pulsar.receive('sub09_failover', 'fo', 10, consumer => 'fo-0');
SELECT pulsar.close_consumer('sub09_failover', 'fo', 'fo-b');
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub09_failover', 'fo', 10, consumer => 'fo-0');
SELECT pulsar.close_consumer('sub09_failover', 'fo', 'fo-0');

-- key_shared: all messages of a key go to one consumer
SELECT pulsar.create_topic('sub09_keys');
SELECT pulsar.subscribe('sub09_keys', 'ks', 'key_shared', consumer => 'ks-a') IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub09_keys', 'ks', 'key_shared', consumer => 'ks-b') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.send_batch('sub09_keys',
	(SELECT array_agg('m' || i ORDER BY i) FROM generate_series(0, 39) i),
	keys => (SELECT array_agg('key' || (i % 8) ORDER BY i) FROM generate_series(0, 39) i));
CREATE TEMP TABLE key_deliveries (consumer text, key text, entry_id bigint);
INSERT INTO key_deliveries
SELECT 'ks-a', key, pulsar.entry_id(message_id)
  FROM pulsar.receive('sub09_keys', 'ks', 100, consumer => 'ks-a');
INSERT INTO key_deliveries
SELECT 'ks-b', key, pulsar.entry_id(message_id)
  FROM pulsar.receive('sub09_keys', 'ks', 100, consumer => 'ks-b');
SELECT count(*) AS delivered, count(DISTINCT entry_id) AS distinct_entries,
       count(DISTINCT consumer) AS consumers
  FROM key_deliveries;
SELECT key, count(DISTINCT consumer) AS consumers, count(*) AS messages
  FROM key_deliveries GROUP BY key ORDER BY key;
SELECT pulsar.close_consumer('sub09_keys', 'ks', 'ks-a');
SELECT pulsar.close_consumer('sub09_keys', 'ks', 'ks-b');

-- a partitioned topic: receive serves every partition
SELECT pulsar.create_topic('sub09_parts', 3);
SELECT pulsar.subscribe('sub09_parts', 'all', initial_position => 'earliest') IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub09_parts', 'paged', initial_position => 'earliest') IS NOT NULL AS subscribed;
SELECT count(*) FROM (
	SELECT pulsar.send('sub09_parts', 'p' || i, key => 'k' || i) FROM generate_series(0, 11) i
) sent;
SELECT pulsar.partition_index(message_id), convert_from(payload, 'UTF8'),
       pulsar.partition_index(message_id) = pulsar.partition_for_key(key, 3) AS routed_by_key,
       topic = 'persistent://public/default/sub09_parts-partition-' ||
               pulsar.partition_index(message_id) AS topic_is_partition
  FROM pulsar.receive('sub09_parts', 'all', 100)
 ORDER BY 1, pulsar.entry_id(message_id);
-- nothing is left
SELECT count(*) FROM pulsar.receive('sub09_parts', 'all', 100);
-- small pages also get everything exactly once
CREATE TEMP TABLE part_pages (n serial, partition_index int, entry_id bigint);
DO $$
BEGIN
	FOR i IN 1..10 LOOP
		INSERT INTO part_pages (partition_index, entry_id)
		SELECT pulsar.partition_index(message_id), pulsar.entry_id(message_id)
		  FROM pulsar.receive('sub09_parts', 'paged', 2);
	END LOOP;
END
$$;
SELECT count(*), count(DISTINCT (partition_index, entry_id)) AS distinct_messages,
       count(DISTINCT partition_index) AS partitions
  FROM part_pages;
SELECT count(*) AS out_of_order FROM part_pages a JOIN part_pages b
    ON b.partition_index = a.partition_index AND b.n > a.n AND b.entry_id <= a.entry_id;
-- failover spreads the partitions over the consumers of the best priority
SELECT pulsar.subscribe('sub09_parts', 'fo', 'failover', 'earliest', consumer => 'fo-a')
       IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub09_parts', 'fo', 'failover', 'earliest', consumer => 'fo-b')
       IS NOT NULL AS subscribed;
SELECT 'fo-a' AS consumer, pulsar.partition_index(message_id) AS partition, count(*)
  FROM pulsar.receive('sub09_parts', 'fo', 100, consumer => 'fo-a') GROUP BY 2
UNION ALL
SELECT 'fo-b', pulsar.partition_index(message_id), count(*)
  FROM pulsar.receive('sub09_parts', 'fo', 100, consumer => 'fo-b') GROUP BY 2
 ORDER BY 2;
SELECT pulsar.close_consumer('sub09_parts', 'fo', 'fo-a');
SELECT pulsar.close_consumer('sub09_parts', 'fo', 'fo-b');
-- one partition cannot be consumed on its own
SELECT * FROM pulsar.receive('sub09_parts-partition-0', 'all');
