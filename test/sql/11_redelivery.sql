-- redelivery: nack, ack timeout, dead letters, departed consumers,
-- max_unacked_messages and seek
\set VERBOSITY default
\i test/include/error_of.sql

-- nack: redelivered after the negative-ack delay, with redelivery_count + 1
SELECT pulsar.create_topic('sub11_nack');
SELECT pulsar.ledger_id(id) AS ledger
  FROM pulsar.send_batch('sub11_nack', ARRAY['n0', 'n1', 'n2', 'n3']) id LIMIT 1 \gset
SELECT pulsar.subscribe('sub11_nack', 'sh', 'shared', 'earliest', negative_ack_delay => '0')
       IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_nack', 'sh', 3);
SELECT pulsar.nack('sub11_nack', 'sh', ARRAY[(:'ledger' || ':1:-1')::pulsar.message_id]);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_nack', 'sh', 10);
SELECT pulsar.nack('sub11_nack', 'sh', ARRAY[(:'ledger' || ':1:-1')::pulsar.message_id,
                                            (:'ledger' || ':2:-1')::pulsar.message_id]);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_nack', 'sh', 10);
-- a nack that rolls back changes nothing
BEGIN;
SELECT pulsar.nack('sub11_nack', 'sh', ARRAY[(:'ledger' || ':0:-1')::pulsar.message_id]);
ROLLBACK;
SELECT count(*) FROM pulsar.receive('sub11_nack', 'sh', 10);
-- an acknowledged message is never redelivered, even if nacked afterwards
SELECT pulsar.ack('sub11_nack', 'sh', (:'ledger' || ':0:-1')::pulsar.message_id);
SELECT pulsar.ack('sub11_nack', 'sh', (:'ledger' || ':2:-1')::pulsar.message_id);
SELECT pulsar.nack('sub11_nack', 'sh', ARRAY[(:'ledger' || ':0:-1')::pulsar.message_id,
                                            (:'ledger' || ':2:-1')::pulsar.message_id]);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_nack', 'sh', 10);
-- exclusive subscriptions redeliver nacked messages too
SELECT pulsar.subscribe('sub11_nack', 'ex', 'exclusive', 'earliest', negative_ack_delay => '0')
       IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_nack', 'ex', 10);
SELECT pulsar.nack('sub11_nack', 'ex', ARRAY[(:'ledger' || ':2:-1')::pulsar.message_id]);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_nack', 'ex', 10);
-- with the default delay (a minute) a nacked message is not back yet
SELECT pulsar.subscribe('sub11_nack', 'slow', 'shared', 'earliest') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub11_nack', 'slow', 10);
SELECT pulsar.nack('sub11_nack', 'slow', ARRAY[(:'ledger' || ':0:-1')::pulsar.message_id]);
SELECT count(*) FROM pulsar.receive('sub11_nack', 'slow', 10);
SELECT (pulsar.topic_stats('sub11_nack')->'subscriptions'->'slow'->>'msgBacklog')::int AS backlog;
-- bad nacks
SELECT pulsar.nack('sub11_nack', 'sh', NULL);
SELECT pulsar.nack('sub11_nack', 'sh', ARRAY[NULL]::pulsar.message_id[]);
SELECT pulsar.nack('sub11_nack', 'sh', ARRAY['earliest']::pulsar.message_id[]);
SELECT pg_temp.error_of(format($$SELECT pulsar.nack('sub11_nack', 'sh', ARRAY[%L]::pulsar.message_id[])$$,
	:'ledger' || ':4:-1'));
SELECT pulsar.nack('sub11_nack', 'no_such_sub', ARRAY[(:'ledger' || ':0:-1')::pulsar.message_id]);
BEGIN READ ONLY;
SELECT pulsar.nack('sub11_nack', 'sh', ARRAY[(:'ledger' || ':1:-1')::pulsar.message_id]);
ROLLBACK;

-- ack timeout: what is not acknowledged in time is redelivered
SELECT pulsar.create_topic('sub11_timeout');
SELECT pulsar.ledger_id(id) AS ledger
  FROM pulsar.send_batch('sub11_timeout', ARRAY['t0', 't1', 't2']) id LIMIT 1 \gset
SELECT pulsar.subscribe('sub11_timeout', 'sh', 'shared', 'earliest', ack_timeout => '100ms')
       IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub11_timeout', 'ex', 'exclusive', 'earliest', ack_timeout => '100ms')
       IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_timeout', 'sh', 2);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_timeout', 'ex', 2);
SELECT pulsar.ack('sub11_timeout', 'sh', (:'ledger' || ':0:-1')::pulsar.message_id);
SELECT pulsar.ack('sub11_timeout', 'ex', (:'ledger' || ':0:-1')::pulsar.message_id);
SELECT pg_sleep(0.3);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_timeout', 'sh', 10);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_timeout', 'ex', 10);
SELECT pulsar.ack('sub11_timeout', 'sh', ARRAY[(:'ledger' || ':1:-1')::pulsar.message_id,
                                              (:'ledger' || ':2:-1')::pulsar.message_id]);
SELECT pg_sleep(0.3);
SELECT count(*) FROM pulsar.receive('sub11_timeout', 'sh', 10);

-- dead letters: after max_redeliver_count redeliveries a message goes to
-- <topic>-<subscription>-DLQ, with Pulsar's properties, and is acknowledged
SELECT pulsar.create_topic('sub11_dead');
SELECT pulsar.ledger_id(id) AS ledger
  FROM pulsar.send_batch('sub11_dead', ARRAY['d0', 'd1', 'd2'], keys => ARRAY['k0', NULL, NULL],
	properties => ARRAY['{"app": "x"}'::jsonb, NULL, NULL]) id LIMIT 1 \gset
SELECT pulsar.subscribe('sub11_dead', 'dl', 'shared', 'earliest', negative_ack_delay => '0',
                        max_redeliver_count => 1) IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_dead', 'dl', 1);
SELECT pulsar.nack('sub11_dead', 'dl', ARRAY[(:'ledger' || ':0:-1')::pulsar.message_id]);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_dead', 'dl', 1);
SELECT pulsar.nack('sub11_dead', 'dl', ARRAY[(:'ledger' || ':0:-1')::pulsar.message_id]);
-- the receive that would redeliver it a second time dead-letters it; if it
-- rolls back, so does the dead letter
BEGIN;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_dead', 'dl', 10);
ROLLBACK;
SELECT count(*) FROM pulsar.topic WHERE name = 'sub11_dead-dl-DLQ';
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_dead', 'dl', 10);
SELECT pulsar.entry_id(message_id), key, convert_from(payload, 'UTF8'),
       properties - 'ORIGIN_MESSAGE_ID' AS properties,
       regexp_replace(properties->>'ORIGIN_MESSAGE_ID', '^[0-9]+:', 'L:') AS origin_message_id,
       properties->>'ORIGIN_MESSAGE_ID' = :'ledger' || ':0:-1' AS origin_is_d0
  FROM pulsar.read('sub11_dead-dl-DLQ', 'earliest', 10);
-- it is acknowledged on the original topic: never received again
SELECT pulsar.close_consumer('sub11_dead', 'dl');
SELECT pulsar.subscribe('sub11_dead', 'dl', 'shared', negative_ack_delay => '0',
                        max_redeliver_count => 1) IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_dead', 'dl', 10);
SELECT regexp_replace(pulsar.topic_internal_stats('sub11_dead')->'cursors'->'dl'->>'markDeletePosition',
                      '^[0-9]+:', 'L:') AS mark_delete;
-- a custom dead-letter topic
SELECT pulsar.subscribe('sub11_dead', 'custom', 'shared', 'earliest', negative_ack_delay => '0',
                        max_redeliver_count => 2, dead_letter_topic => 'sub11_graveyard')
       IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_dead', 'custom', 10);
SELECT pulsar.nack('sub11_dead', 'custom', ARRAY[(:'ledger' || ':1:-1')::pulsar.message_id]);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_dead', 'custom', 10);
SELECT pulsar.nack('sub11_dead', 'custom', ARRAY[(:'ledger' || ':1:-1')::pulsar.message_id]);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_dead', 'custom', 10);
SELECT pulsar.nack('sub11_dead', 'custom', ARRAY[(:'ledger' || ':1:-1')::pulsar.message_id]);
SELECT count(*) FROM pulsar.receive('sub11_dead', 'custom', 10);
SELECT convert_from(payload, 'UTF8'), properties->>'REAL_TOPIC' AS real_topic,
       properties->>'ORIGIN_MESSAGE_ID' = :'ledger' || ':1:-1' AS origin_is_d1
  FROM pulsar.read('sub11_graveyard', 'earliest', 10);
SELECT count(*) FROM pulsar.topic WHERE name = 'sub11_dead-custom-DLQ';
-- the default DLQ got nothing new
SELECT count(*) FROM pulsar.read('sub11_dead-dl-DLQ', 'earliest', 10);

-- a departed consumer's messages go to the others: a named consumer leaves
-- when its lease runs out
SELECT pulsar.create_topic('sub11_lease');
SELECT count(*) FROM pulsar.send_batch('sub11_lease', ARRAY['l0', 'l1', 'l2']);
SELECT pulsar.subscribe('sub11_lease', 'sh', 'shared', 'earliest', consumer => 'gone')
       IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub11_lease', 'sh', 'shared', 'earliest', consumer => 'stays')
       IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub11_lease', 'sh', 2, consumer => 'gone');
SET pulsar_pg.consumer_lease = '100ms';
SELECT pg_sleep(0.3);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_lease', 'sh', 10, consumer => 'stays');
SELECT * FROM pulsar.receive('sub11_lease', 'sh', 10, consumer => 'gone');
RESET pulsar_pg.consumer_lease;
SELECT pulsar.close_consumer('sub11_lease', 'sh', 'stays');

-- max_unacked_messages: a consumer at the limit gets nothing new until it acks
SELECT pulsar.create_topic('sub11_limit');
SELECT pulsar.ledger_id(id) AS ledger
  FROM pulsar.send_batch('sub11_limit', ARRAY['u0', 'u1', 'u2', 'u3', 'u4', 'u5']) id LIMIT 1 \gset
SELECT pulsar.subscribe('sub11_limit', 'sh', 'shared', 'earliest', max_unacked_messages => 2)
       IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub11_limit', 'sh', 10);
SELECT count(*) FROM pulsar.receive('sub11_limit', 'sh', 10);
SELECT c->>'unackedMessages' AS unacked, c->>'blockedConsumerOnUnackedMsgs' AS blocked
  FROM jsonb_array_elements(pulsar.topic_stats('sub11_limit')->'subscriptions'->'sh'->'consumers') c;
SELECT pulsar.ack('sub11_limit', 'sh', (:'ledger' || ':1:-1')::pulsar.message_id);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub11_limit', 'sh', 10);
-- other consumers have limits of their own
SELECT pulsar.subscribe('sub11_limit', 'sh', 'shared', consumer => 'other', max_unacked_messages => 2)
       IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub11_limit', 'sh', 10, consumer => 'other');
SELECT pulsar.close_consumer('sub11_limit', 'sh', 'other');
-- exclusive: the limit counts what the consumer holds unacknowledged
SELECT pulsar.subscribe('sub11_limit', 'ex', 'exclusive', 'earliest', max_unacked_messages => 2)
       IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub11_limit', 'ex', 10);
SELECT count(*) FROM pulsar.receive('sub11_limit', 'ex', 10);
SELECT pulsar.ack('sub11_limit', 'ex', (:'ledger' || ':0:-1')::pulsar.message_id);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub11_limit', 'ex', 10);
SELECT pulsar.ack('sub11_limit', 'ex', (:'ledger' || ':2:-1')::pulsar.message_id);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub11_limit', 'ex', 10);
-- entries of aborted sends are not held by anyone: once everything received
-- is acknowledged, more comes
SELECT pulsar.create_topic('sub11_limit_gap');
SELECT pulsar.subscribe('sub11_limit_gap', 'ex', 'exclusive', 'earliest', max_unacked_messages => 2)
       IS NOT NULL AS subscribed;
BEGIN;
SELECT pulsar.entry_id(pulsar.send('sub11_limit_gap', 'aborted'));
ROLLBACK;
SELECT count(*) FROM pulsar.send_batch('sub11_limit_gap', ARRAY['v1', 'v2', 'v3', 'v4']);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'),
       pulsar.ack('sub11_limit_gap', 'ex', message_id)
  FROM pulsar.receive('sub11_limit_gap', 'ex', 10);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'),
       pulsar.ack('sub11_limit_gap', 'ex', message_id)
  FROM pulsar.receive('sub11_limit_gap', 'ex', 10);
-- 0 means no limit
SELECT pulsar.subscribe('sub11_limit', 'unlimited', 'shared', 'earliest', max_unacked_messages => 0)
       IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub11_limit', 'unlimited', 100);

-- seek
SELECT pulsar.create_topic('sub11_seek');
SELECT pulsar.ledger_id(id) AS ledger
  FROM pulsar.send_batch('sub11_seek', ARRAY['s0', 's1', 's2', 's3']) id LIMIT 1 \gset
SELECT clock_timestamp() AS between_batches \gset
SELECT count(*) FROM pulsar.send_batch('sub11_seek', ARRAY['s4', 's5']);
SELECT pulsar.subscribe('sub11_seek', 'ex', initial_position => 'earliest') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub11_seek', 'ex', 100);
SELECT pulsar.ack_cumulative('sub11_seek', 'ex', (:'ledger' || ':5:-1')::pulsar.message_id);
-- to a message id: that message is the next one delivered
SELECT pulsar.seek('sub11_seek', 'ex', (:'ledger' || ':2:-1')::pulsar.message_id);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_seek', 'ex', 2);
-- to earliest and latest
SELECT pulsar.seek('sub11_seek', 'ex', 'earliest'::pulsar.message_id);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub11_seek', 'ex', 100);
SELECT pulsar.seek('sub11_seek', 'ex', 'latest'::pulsar.message_id);
SELECT count(*) FROM pulsar.receive('sub11_seek', 'ex', 100);
SELECT pulsar.entry_id(pulsar.send('sub11_seek', 's6'));
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub11_seek', 'ex', 100);
-- by publish time: the first message published at or after it comes next
SELECT pulsar.seek('sub11_seek', 'ex', :'between_batches'::timestamptz);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub11_seek', 'ex', 100);
SELECT pulsar.seek('sub11_seek', 'ex', '-infinity'::timestamptz);
SELECT count(*) FROM pulsar.receive('sub11_seek', 'ex', 100);
SELECT pulsar.seek('sub11_seek', 'ex', 'infinity'::timestamptz);
SELECT count(*) FROM pulsar.receive('sub11_seek', 'ex', 100);
-- seek drops individual acks and what consumers hold: a shared subscription
SELECT pulsar.subscribe('sub11_seek', 'sh', 'shared', 'earliest', consumer => 'w1')
       IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub11_seek', 'sh', 3, consumer => 'w1');
SELECT pulsar.ack('sub11_seek', 'sh', (:'ledger' || ':1:-1')::pulsar.message_id);
SELECT pulsar.seek('sub11_seek', 'sh', (:'ledger' || ':1:-1')::pulsar.message_id);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub11_seek', 'sh', 100, consumer => 'w1');
SELECT pulsar.close_consumer('sub11_seek', 'sh', 'w1');
-- a seek that rolls back moves nothing
SELECT pulsar.seek('sub11_seek', 'ex', 'latest'::pulsar.message_id);
BEGIN;
SELECT pulsar.seek('sub11_seek', 'ex', 'earliest'::pulsar.message_id);
ROLLBACK;
SELECT count(*) FROM pulsar.receive('sub11_seek', 'ex', 100);
-- an untyped target is read as 'earliest', 'latest', a message ID or a time
SELECT pulsar.seek('sub11_seek', 'ex', 'earliest');
SELECT count(*) FROM pulsar.receive('sub11_seek', 'ex', 100);
SELECT pulsar.seek('sub11_seek', 'ex', 'LATEST');
SELECT count(*) FROM pulsar.receive('sub11_seek', 'ex', 100);
SELECT pulsar.seek('sub11_seek', 'ex', :'ledger' || ':5:-1');
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub11_seek', 'ex', 100);
SELECT pulsar.seek('sub11_seek', 'ex', :'between_batches');
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub11_seek', 'ex', 100);
SELECT pulsar.seek('sub11_seek', 'ex', 'soon');
SELECT pulsar.seek('sub11_seek', 'ex', NULL);
SELECT pg_temp.error_of(format($$SELECT pulsar.seek('sub11_seek', 'ex', %L)$$,
	:'ledger' || ':9:-1'));
-- bad seeks
SELECT pulsar.seek('sub11_seek', 'no_such_sub', 'earliest'::pulsar.message_id);
SELECT pulsar.seek('sub11_seek', 'no_such_sub', now());
SELECT pulsar.seek('sub11_no_topic', 'ex', 'earliest'::pulsar.message_id);
SELECT pulsar.seek('sub11_seek', 'ex', NULL::pulsar.message_id);
SELECT pulsar.seek('sub11_seek', 'ex', NULL::timestamptz);
SELECT pulsar.seek(NULL, 'ex', 'earliest'::pulsar.message_id);
SELECT pulsar.seek('sub11_seek', NULL, 'earliest'::pulsar.message_id);
SELECT pg_temp.error_of(format($$SELECT pulsar.seek('sub11_seek', 'ex', %L::pulsar.message_id)$$,
	:'ledger' || ':7:-1'));
SELECT pg_temp.error_of(format($$SELECT pulsar.seek('sub11_seek', 'ex', %L::pulsar.message_id)$$,
	(SELECT message_id FROM pulsar.read('sub11_nack', 'earliest', 1))));
BEGIN READ ONLY;
SELECT pulsar.seek('sub11_seek', 'ex', 'earliest'::pulsar.message_id);
ROLLBACK;
-- on a partitioned topic, earliest and a publish time move every partition
SELECT pulsar.create_topic('sub11_seek_parts', 2);
SELECT count(*) FROM (
	SELECT pulsar.send('sub11_seek_parts', 'p' || i, key => 'k' || i) FROM generate_series(0, 5) i
) sent;
SELECT pulsar.subscribe('sub11_seek_parts', 'ex', initial_position => 'earliest') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub11_seek_parts', 'ex', 100);
SELECT pulsar.seek('sub11_seek_parts', 'ex', 'earliest'::pulsar.message_id);
SELECT count(*), count(DISTINCT pulsar.partition_index(message_id)) AS partitions
  FROM pulsar.receive('sub11_seek_parts', 'ex', 100);
SELECT pulsar.seek('sub11_seek_parts', 'ex', '-infinity'::timestamptz);
SELECT count(*), count(DISTINCT pulsar.partition_index(message_id)) AS partitions
  FROM pulsar.receive('sub11_seek_parts', 'ex', 100);
