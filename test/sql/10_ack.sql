-- pulsar.ack and pulsar.ack_cumulative: durable, exact and transactional
\set VERBOSITY default
\i test/include/error_of.sql
SELECT pulsar.create_topic('sub10_acks');
SELECT pulsar.ledger_id(id) AS ledger
  FROM pulsar.send_batch('sub10_acks', ARRAY['a0', 'a1', 'a2', 'a3', 'a4', 'a5']) id LIMIT 1 \gset
SELECT pulsar.create_topic('sub10_other');
SELECT pulsar.ledger_id(pulsar.send('sub10_other', 'x0')) AS other_ledger \gset

-- exclusive: acked messages are never delivered again; the others come
-- back, in order, when the consumer reconnects
SELECT pulsar.subscribe('sub10_acks', 'ex', initial_position => 'earliest') IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub10_acks', 'ex', 10);
SELECT pulsar.ack('sub10_acks', 'ex', (:'ledger' || ':0:-1')::pulsar.message_id);
SELECT pulsar.ack('sub10_acks', 'ex', ARRAY[(:'ledger' || ':2:-1')::pulsar.message_id,
                                           (:'ledger' || ':3:-1')::pulsar.message_id]);
-- a message another transaction acknowledged cannot be acknowledged again:
-- it was processed twice (serialization_failure); an empty array acks nothing
SELECT pulsar.ack('sub10_acks', 'ex', (:'ledger' || ':0:-1')::pulsar.message_id);
SELECT pulsar.ack('sub10_acks', 'ex', ARRAY[(:'ledger' || ':3:-1')::pulsar.message_id,
                                           (:'ledger' || ':3:-1')::pulsar.message_id]);
SELECT pulsar.ack('sub10_acks', 'ex', ARRAY[]::pulsar.message_id[]);
SELECT pulsar.close_consumer('sub10_acks', 'ex');
SELECT pulsar.subscribe('sub10_acks', 'ex') IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub10_acks', 'ex', 10);

-- an ack that rolls back was never made: the message is redelivered after
-- the consumer reconnects
BEGIN;
SELECT pulsar.ack('sub10_acks', 'ex', (:'ledger' || ':1:-1')::pulsar.message_id);
SELECT pulsar.ack('sub10_acks', 'ex', ARRAY[(:'ledger' || ':4:-1')::pulsar.message_id]);
ROLLBACK;
SELECT pulsar.ack('sub10_acks', 'ex', (:'ledger' || ':5:-1')::pulsar.message_id);
SELECT pulsar.close_consumer('sub10_acks', 'ex');
SELECT pulsar.subscribe('sub10_acks', 'ex') IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub10_acks', 'ex', 10);
-- consume, process and ack in one transaction: all or nothing
SELECT pulsar.close_consumer('sub10_acks', 'ex');
SELECT pulsar.subscribe('sub10_acks', 'ex') IS NOT NULL AS subscribed;
BEGIN;
SELECT pulsar.ack('sub10_acks', 'ex', message_id), pulsar.entry_id(message_id)
  FROM pulsar.receive('sub10_acks', 'ex', 1);
ROLLBACK;
BEGIN;
SELECT pulsar.ack('sub10_acks', 'ex', message_id), pulsar.entry_id(message_id)
  FROM pulsar.receive('sub10_acks', 'ex', 1);
COMMIT;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub10_acks', 'ex', 10);
SELECT pulsar.close_consumer('sub10_acks', 'ex');
SELECT pulsar.subscribe('sub10_acks', 'ex') IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub10_acks', 'ex', 10);

-- bad message ids (error_of masks the ledger ids in them)
SELECT pg_temp.error_of(format($$SELECT pulsar.ack('sub10_acks', 'ex', %L::pulsar.message_id)$$,
	:'other_ledger' || ':0:-1'));
SELECT pg_temp.error_of(format($$SELECT pulsar.ack('sub10_acks', 'ex', ARRAY[%L, %L]::pulsar.message_id[])$$,
	:'ledger' || ':4:-1', :'other_ledger' || ':0:-1'));
SELECT pg_temp.error_of(format($$SELECT pulsar.ack('sub10_acks', 'ex', %L::pulsar.message_id)$$,
	:'ledger' || ':6:-1'));
SELECT pg_temp.error_of(format($$SELECT pulsar.ack('sub10_acks', 'ex', ARRAY[%L, %L]::pulsar.message_id[])$$,
	:'ledger' || ':4:-1', :'ledger' || ':100:-1'));
SELECT pulsar.ack('sub10_acks', 'ex', NULL::pulsar.message_id);
SELECT pulsar.ack('sub10_acks', 'ex', NULL::pulsar.message_id[]);
SELECT pulsar.ack('sub10_acks', 'ex', ARRAY[(:'ledger' || ':4:-1')::pulsar.message_id, NULL]);
SELECT pulsar.ack('sub10_acks', 'ex', 'earliest'::pulsar.message_id);
SELECT pulsar.ack('sub10_acks', 'ex', ARRAY[ARRAY[(:'ledger' || ':4:-1')::pulsar.message_id]]);
-- none of the refused arrays acked entry 4
SELECT pulsar.close_consumer('sub10_acks', 'ex');
SELECT pulsar.subscribe('sub10_acks', 'ex') IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub10_acks', 'ex', 10);
-- bad topic or subscription
SELECT pulsar.ack('sub10_acks', 'no_such_sub', (:'ledger' || ':4:-1')::pulsar.message_id);
SELECT pulsar.ack('sub10_no_topic', 'ex', (:'ledger' || ':4:-1')::pulsar.message_id);
SELECT pulsar.ack(NULL, 'ex', (:'ledger' || ':4:-1')::pulsar.message_id);
SELECT pulsar.ack('sub10_acks', NULL, (:'ledger' || ':4:-1')::pulsar.message_id);
SELECT pulsar.ack('sub10_acks', 'bad name', (:'ledger' || ':4:-1')::pulsar.message_id);
-- acks change the subscription, so a read-only transaction cannot make them
BEGIN READ ONLY;
SELECT pulsar.ack('sub10_acks', 'ex', (:'ledger' || ':4:-1')::pulsar.message_id);
ROLLBACK;
BEGIN READ ONLY;
SELECT pulsar.ack_cumulative('sub10_acks', 'ex', (:'ledger' || ':4:-1')::pulsar.message_id);
ROLLBACK;

-- ack_cumulative: everything up to and including the message
SELECT pulsar.subscribe('sub10_acks', 'cumul', initial_position => 'earliest') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub10_acks', 'cumul', 10);
SELECT pulsar.ack_cumulative('sub10_acks', 'cumul', (:'ledger' || ':3:-1')::pulsar.message_id);
-- going back in a later transaction is refused: the message was acknowledged
SELECT pulsar.ack_cumulative('sub10_acks', 'cumul', (:'ledger' || ':1:-1')::pulsar.message_id);
SELECT pulsar.close_consumer('sub10_acks', 'cumul');
SELECT pulsar.subscribe('sub10_acks', 'cumul') IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub10_acks', 'cumul', 10);
-- rolled back, it acks nothing
BEGIN;
SELECT pulsar.ack_cumulative('sub10_acks', 'cumul', (:'ledger' || ':5:-1')::pulsar.message_id);
ROLLBACK;
SELECT pulsar.close_consumer('sub10_acks', 'cumul');
SELECT pulsar.subscribe('sub10_acks', 'cumul') IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub10_acks', 'cumul', 10);
-- bad ids
SELECT pulsar.ack_cumulative('sub10_acks', 'cumul', NULL);
SELECT pg_temp.error_of(format($$SELECT pulsar.ack_cumulative('sub10_acks', 'cumul', %L)$$,
	:'other_ledger' || ':0:-1'));
SELECT pg_temp.error_of(format($$SELECT pulsar.ack_cumulative('sub10_acks', 'cumul', %L)$$,
	:'ledger' || ':6:-1'));
SELECT pulsar.ack_cumulative('sub10_acks', 'cumul', 'earliest');
-- on failover too
SELECT pulsar.subscribe('sub10_acks', 'fo', 'failover', 'earliest', consumer => 'fo-a')
       IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub10_acks', 'fo', 10, consumer => 'fo-a');
SELECT pulsar.ack_cumulative('sub10_acks', 'fo', (:'ledger' || ':4:-1')::pulsar.message_id);
SELECT pulsar.close_consumer('sub10_acks', 'fo', 'fo-a');
SELECT pulsar.subscribe('sub10_acks', 'fo', 'failover', consumer => 'fo-b') IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub10_acks', 'fo', 10, consumer => 'fo-b');
SELECT pulsar.close_consumer('sub10_acks', 'fo', 'fo-b');
-- but not on shared or key_shared subscriptions
SELECT pulsar.subscribe('sub10_acks', 'sh', 'shared', 'earliest', consumer => 'w1') IS NOT NULL AS subscribed;
SELECT pulsar.ack_cumulative('sub10_acks', 'sh', (:'ledger' || ':2:-1')::pulsar.message_id);
SELECT pulsar.subscribe('sub10_acks', 'ksh', 'key_shared', 'earliest', consumer => 'w1')
       IS NOT NULL AS subscribed;
SELECT pulsar.ack_cumulative('sub10_acks', 'ksh', (:'ledger' || ':2:-1')::pulsar.message_id);
SELECT pulsar.close_consumer('sub10_acks', 'ksh', 'w1');

-- shared: a rolled-back ack leaves the message unacknowledged, held by its
-- consumer, and it is redelivered when that consumer leaves
SELECT pulsar.subscribe('sub10_acks', 'sh', 'shared', consumer => 'w2') IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub10_acks', 'sh', 3, consumer => 'w1');
BEGIN;
SELECT pulsar.ack('sub10_acks', 'sh', ARRAY[(:'ledger' || ':0:-1')::pulsar.message_id,
                                           (:'ledger' || ':1:-1')::pulsar.message_id]);
ROLLBACK;
SELECT pulsar.ack('sub10_acks', 'sh', (:'ledger' || ':2:-1')::pulsar.message_id);
SELECT (pulsar.topic_stats('sub10_acks')->'subscriptions'->'sh'->>'unackedMessages')::int AS unacked,
       (pulsar.topic_stats('sub10_acks')->'subscriptions'->'sh'->>'msgBacklog')::int AS backlog;
-- w2 gets only what nobody holds
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub10_acks', 'sh', 10, consumer => 'w2');
SELECT pulsar.close_consumer('sub10_acks', 'sh', 'w1');
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub10_acks', 'sh', 10, consumer => 'w2');
SELECT pulsar.ack('sub10_acks', 'sh', ARRAY(
	SELECT (:'ledger' || ':' || i || ':-1')::pulsar.message_id FROM generate_series(0, 5) i
	 WHERE i <> 2));
SELECT count(*) FROM pulsar.receive('sub10_acks', 'sh', 10, consumer => 'w2');
SELECT (pulsar.topic_stats('sub10_acks')->'subscriptions'->'sh'->>'unackedMessages')::int AS unacked,
       (pulsar.topic_stats('sub10_acks')->'subscriptions'->'sh'->>'msgBacklog')::int AS backlog;
SELECT pulsar.close_consumer('sub10_acks', 'sh', 'w2');

-- a partitioned topic: one array may ack messages of several partitions
SELECT pulsar.create_topic('sub10_parts', 2);
SELECT pulsar.subscribe('sub10_parts', 'ex', initial_position => 'earliest') IS NOT NULL AS subscribed;
SELECT count(*) FROM (
	SELECT pulsar.send('sub10_parts', 'p' || i, key => 'k' || i) FROM generate_series(0, 7) i
) sent;
CREATE TEMP TABLE got AS
SELECT message_id, convert_from(payload, 'UTF8') AS payload
  FROM pulsar.receive('sub10_parts', 'ex', 100);
SELECT count(*), count(DISTINCT pulsar.partition_index(message_id)) AS partitions FROM got;
SELECT pulsar.ack('sub10_parts', 'ex', ARRAY(SELECT message_id FROM got WHERE payload <> 'p7'));
SELECT pulsar.close_consumer('sub10_parts', 'ex');
SELECT pulsar.subscribe('sub10_parts', 'ex') IS NOT NULL AS subscribed;
SELECT convert_from(payload, 'UTF8'),
       message_id::text = (SELECT message_id::text FROM got WHERE payload = 'p7') AS same_id
  FROM pulsar.receive('sub10_parts', 'ex', 100);
-- ack_cumulative acks in the message's partition only
SELECT pulsar.subscribe('sub10_parts', 'cumul', initial_position => 'earliest') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub10_parts', 'cumul', 100);
SELECT pulsar.ack_cumulative('sub10_parts', 'cumul',
	(SELECT message_id FROM got WHERE pulsar.partition_index(message_id) = 0
	 ORDER BY message_id DESC LIMIT 1));
SELECT pulsar.close_consumer('sub10_parts', 'cumul');
SELECT pulsar.subscribe('sub10_parts', 'cumul') IS NOT NULL AS subscribed;
SELECT count(*) AS redelivered,
       bool_and(pulsar.partition_index(message_id) = 1) AS all_of_partition_1,
       (SELECT count(*) FROM got WHERE pulsar.partition_index(message_id) = 1) AS in_partition_1
  FROM pulsar.receive('sub10_parts', 'cumul', 100);
-- an id of a partition is refused on another topic
SELECT pg_temp.error_of(format($$SELECT pulsar.ack('sub10_acks', 'ex', %L::pulsar.message_id)$$,
	(SELECT message_id FROM got WHERE payload = 'p7')));

-- An ack another transaction made stays another's when a fold passes it.
-- f5 is acknowledged on its own, then a transaction acknowledges f0..f4,
-- which folds f5 into the mark-delete position (the cursor row is then
-- the second transaction's): acknowledging f5 there must still fail.
SELECT pulsar.create_topic('sub10_fold') IS NOT NULL AS created;
SELECT pulsar.subscribe('sub10_fold', 'sh', 'shared', 'earliest', consumer => 'a') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.send_batch('sub10_fold', ARRAY['f0', 'f1', 'f2', 'f3', 'f4', 'f5']);
CREATE TEMP TABLE fold_ids AS
SELECT pulsar.entry_id(message_id) AS entry, message_id
  FROM pulsar.receive('sub10_fold', 'sh', 6, consumer => 'a');
SELECT pulsar.ack('sub10_fold', 'sh', (SELECT message_id FROM fold_ids WHERE entry = 5));
BEGIN;
SELECT pulsar.ack('sub10_fold', 'sh', (SELECT array_agg(message_id) FROM fold_ids WHERE entry < 5));
SELECT pulsar.topic_internal_stats('sub10_fold')->'cursors'->'sh'->>'markDeletePosition' ~ ':5$' AS folded_to_f5;
SELECT pg_temp.error_of($$SELECT pulsar.ack('sub10_fold', 'sh', (SELECT message_id FROM fold_ids WHERE entry = 5))$$);
ROLLBACK;
-- the same with cumulative acks: one transaction acknowledges up to e3,
-- another up to e5 and then e2, which the first had acknowledged
SELECT pulsar.subscribe('sub10_fold', 'ex', 'exclusive', 'earliest', consumer => 'e') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub10_fold', 'ex', 6, consumer => 'e');
SELECT pulsar.ack_cumulative('sub10_fold', 'ex', (SELECT message_id FROM fold_ids WHERE entry = 3));
BEGIN;
SELECT pulsar.ack_cumulative('sub10_fold', 'ex', (SELECT message_id FROM fold_ids WHERE entry = 5));
SELECT pg_temp.error_of($$SELECT pulsar.ack_cumulative('sub10_fold', 'ex', (SELECT message_id FROM fold_ids WHERE entry = 2))$$);
SELECT pg_temp.error_of($$SELECT pulsar.ack('sub10_fold', 'ex', (SELECT message_id FROM fold_ids WHERE entry = 2))$$);
-- what this transaction acknowledged itself it may acknowledge again
SELECT pg_temp.error_of($$SELECT pulsar.ack('sub10_fold', 'ex', (SELECT message_id FROM fold_ids WHERE entry = 4))$$);
ROLLBACK;
SELECT pulsar.close_consumer('sub10_fold', 'sh', 'a');
SELECT pulsar.close_consumer('sub10_fold', 'ex', 'e');
SELECT pulsar.delete_topic('sub10_fold', force => true);

-- More acknowledged ranges than a receive loads at once (10,000): the
-- receive loads the next ones where its knowledge ends, and never hands out
-- a message acknowledged past it.  Every odd entry of 20,002 is
-- acknowledged on its own (entry 0 is not, so none folds), then the
-- consumer starts again from the first unacknowledged message: the 10,001
-- even entries come, in one call.
SELECT pulsar.create_topic('sub10_many') IS NOT NULL AS created;
SELECT pulsar.subscribe('sub10_many', 'ex', 'exclusive', 'earliest', consumer => 'e') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.send_batch('sub10_many',
	(SELECT array_agg('m' || i) FROM generate_series(0, 20001) AS i));
CREATE TEMP TABLE many_ids AS
SELECT pulsar.entry_id(message_id) AS entry, message_id
  FROM pulsar.receive('sub10_many', 'ex', 20002, consumer => 'e');
SELECT count(*) FROM many_ids;
SELECT pulsar.ack('sub10_many', 'ex', (SELECT array_agg(message_id) FROM many_ids WHERE entry % 2 = 1));
SELECT count(*) AS acked_ranges FROM pulsar.acked_range r
  JOIN pulsar.subscription s USING (subscription_id)
 WHERE s.name = 'ex' AND s.topic_id = (SELECT topic_id FROM pulsar.topic WHERE name = 'sub10_many');
SELECT pulsar.close_consumer('sub10_many', 'ex', 'e');
SELECT pulsar.subscribe('sub10_many', 'ex', consumer => 'e') IS NOT NULL AS subscribed;
CREATE TEMP TABLE many_again AS
SELECT pulsar.entry_id(message_id) AS entry
  FROM pulsar.receive('sub10_many', 'ex', 20002, consumer => 'e');
SELECT count(*) AS received, count(*) FILTER (WHERE entry % 2 = 1) AS acknowledged_ones
  FROM many_again;
-- and nothing is left for the next one
SELECT count(*) AS received, count(*) FILTER (WHERE pulsar.entry_id(message_id) % 2 = 1) AS acknowledged_ones
  FROM pulsar.receive('sub10_many', 'ex', 20002, consumer => 'e');
SELECT pulsar.close_consumer('sub10_many', 'ex', 'e');
SELECT pulsar.delete_topic('sub10_many', force => true);

-- A fold that chains stored ranges beyond the first entry above the
-- mark-delete position: entries 1, 3, 4 and 6 are acknowledged on their own
-- (entry 0 is not, so none folds); acknowledging 0 folds to 1 and stops at
-- the gap at 2; acknowledging 2 then chains 2, 3 and 4, and stops at 5.
SELECT pulsar.create_topic('sub10_chain') IS NOT NULL AS created;
SELECT pulsar.subscribe('sub10_chain', 'sh', 'shared', 'earliest', consumer => 'a') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.send_batch('sub10_chain',
	(SELECT array_agg('m' || i) FROM generate_series(0, 7) AS i));
CREATE TEMP TABLE chain_ids AS
SELECT pulsar.entry_id(message_id) AS entry, message_id
  FROM pulsar.receive('sub10_chain', 'sh', 8, consumer => 'a');
SELECT pulsar.ack('sub10_chain', 'sh', message_id) FROM chain_ids WHERE entry IN (1, 3, 4, 6) ORDER BY entry;
SELECT pulsar.topic_internal_stats('sub10_chain')->'cursors'->'sh'->>'markDeletePosition' ~ ':-1$' AS nothing_folded;
SELECT pulsar.ack('sub10_chain', 'sh', (SELECT message_id FROM chain_ids WHERE entry = 0));
SELECT pulsar.topic_internal_stats('sub10_chain')->'cursors'->'sh'->>'markDeletePosition' ~ ':1$' AS folded_to_1;
SELECT pulsar.ack('sub10_chain', 'sh', (SELECT message_id FROM chain_ids WHERE entry = 2));
SELECT pulsar.topic_internal_stats('sub10_chain')->'cursors'->'sh'->>'markDeletePosition' ~ ':4$' AS folded_to_4;
SELECT r.first_entry, r.last_entry FROM pulsar.acked_range r
  JOIN pulsar.subscription s USING (subscription_id)
 WHERE s.name = 'sh' AND s.topic_id = (SELECT topic_id FROM pulsar.topic WHERE name = 'sub10_chain')
 ORDER BY r.first_entry;
SELECT pulsar.close_consumer('sub10_chain', 'sh', 'a');
SELECT pulsar.delete_topic('sub10_chain', force => true);
