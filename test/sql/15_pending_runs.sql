-- pulsar.pending by runs: a row covers consecutive entries handed out
-- together to one consumer, in one state.  Acks and nacks take entries out
-- of runs and write the rest back unchanged; a redelivery claims whole runs
-- and splits the last one when it wants fewer messages.
\set VERBOSITY default
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pulsar_pg;
RESET client_min_messages;
\i test/include/error_of.sql

-- the pending rows of a subscription of a topic in public/default: who
-- holds each run ('<gone>': a consumer that no longer exists), how often
-- it was redelivered, whether it is due for redelivery
CREATE FUNCTION pg_temp.runs(topic text, sub text)
RETURNS TABLE (first_entry bigint, last_entry bigint, consumer text,
               redelivery_count int, due bool)
LANGUAGE sql AS $$
	SELECT p.first_entry, p.last_entry,
	       coalesce(c.name, CASE WHEN p.consumer_id IS NOT NULL THEN '<gone>' END),
	       p.redelivery_count, p.redeliver_at <= clock_timestamp()
	  FROM pulsar.pending p
	  JOIN pulsar.subscription s USING (subscription_id)
	  JOIN pulsar.topic t USING (topic_id)
	  LEFT JOIN pulsar.consumer c ON c.consumer_id = p.consumer_id
	 WHERE t.tenant = 'public' AND t.namespace = 'default'
	   AND t.name = $1 AND s.name = $2
	 ORDER BY p.first_entry
$$;
-- the same rows with their whole state, to compare before and after
CREATE FUNCTION pg_temp.pending_state(topic text, sub text)
RETURNS TABLE (first_entry bigint, last_entry bigint, consumer_id bigint,
               key_hash int, delivered_at timestamptz, redeliver_at timestamptz,
               redelivery_count int)
LANGUAGE sql AS $$
	SELECT p.first_entry, p.last_entry, p.consumer_id, p.key_hash,
	       p.delivered_at, p.redeliver_at, p.redelivery_count
	  FROM pulsar.pending p
	  JOIN pulsar.subscription s USING (subscription_id)
	  JOIN pulsar.topic t USING (topic_id)
	 WHERE t.tenant = 'public' AND t.namespace = 'default'
	   AND t.name = $1 AND s.name = $2
$$;
-- acknowledged ranges stored above the mark-delete position
CREATE FUNCTION pg_temp.acked_ranges(topic text, sub text)
RETURNS TABLE (first_entry bigint, last_entry bigint)
LANGUAGE sql AS $$
	SELECT r.first_entry, r.last_entry
	  FROM pulsar.acked_range r
	  JOIN pulsar.subscription s USING (subscription_id)
	  JOIN pulsar.topic t USING (topic_id)
	 WHERE t.tenant = 'public' AND t.namespace = 'default'
	   AND t.name = $1 AND s.name = $2
	 ORDER BY r.first_entry
$$;
-- what the statistics say of a subscription (ledger ids masked)
CREATE FUNCTION pg_temp.stats(topic text, sub text)
RETURNS TABLE (unacked int, backlog int, mark_delete text, acked text)
LANGUAGE sql AS $$
	SELECT (pulsar.topic_stats($1)->'subscriptions'->$2->>'unackedMessages')::int,
	       (pulsar.topic_stats($1)->'subscriptions'->$2->>'msgBacklog')::int,
	       regexp_replace(c->>'markDeletePosition', '[0-9]+:', 'L:', 'g'),
	       regexp_replace(c->>'individuallyDeletedMessages', '[0-9]+:', 'L:', 'g')
	  FROM (SELECT pulsar.topic_internal_stats($1)->'cursors'->$2 AS c) s
$$;

-- ten messages r0..r9 at entries 0..9; 'sent' maps entries to message ids
SELECT pulsar.create_topic('sub15_runs');
CREATE TEMP TABLE sent AS
SELECT (n - 1)::int AS entry, id
  FROM pulsar.send_batch('sub15_runs',
	(SELECT array_agg('r' || i ORDER BY i) FROM generate_series(0, 9) i))
       WITH ORDINALITY AS s(id, n);
SELECT bool_and(pulsar.entry_id(id) = entry) AS entries_0_to_9 FROM sent;

-- shared, named consumers w1 and w2, nacked messages due at once (each
-- subscribe sets the subscription's settings)
SELECT pulsar.subscribe('sub15_runs', 'sh', 'shared', 'earliest', consumer => 'w1',
                        negative_ack_delay => '0') IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub15_runs', 'sh', 'shared', consumer => 'w2',
                        negative_ack_delay => '0') IS NOT NULL AS subscribed;

-- a receive of 10 is one run, held by w1, not due
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub15_runs', 'sh', 10, consumer => 'w1');
SELECT * FROM pg_temp.runs('sub15_runs', 'sh');
SELECT unacked, backlog FROM pg_temp.stats('sub15_runs', 'sh');
CREATE TEMP TABLE state_before AS SELECT * FROM pg_temp.pending_state('sub15_runs', 'sh');

-- acking one message in the middle leaves two runs, in the same state as
-- the run they came from: same consumer, delivery time, redelivery time
-- and count
SELECT pulsar.ack('sub15_runs', 'sh', (SELECT id FROM sent WHERE entry = 4));
SELECT * FROM pg_temp.runs('sub15_runs', 'sh');
SELECT count(*) AS runs,
       bool_and(a.consumer_id = b.consumer_id) AS same_consumer,
       bool_and(a.delivered_at = b.delivered_at) AS same_delivered_at,
       bool_and(a.redeliver_at = b.redeliver_at) AS same_redeliver_at,
       bool_and(a.redelivery_count = b.redelivery_count) AS same_count,
       bool_and(a.key_hash IS NULL) AS no_key_hash
  FROM pg_temp.pending_state('sub15_runs', 'sh') a, state_before b;
SELECT unacked, backlog FROM pg_temp.stats('sub15_runs', 'sh');
-- entry 0 is not acknowledged: entry 4 is stored as a range
SELECT * FROM pg_temp.acked_ranges('sub15_runs', 'sh');
SELECT mark_delete, acked FROM pg_temp.stats('sub15_runs', 'sh');

-- acking the first and the last entry shrinks both runs; entry 0 folds
-- into the mark-delete position, and is never stored as a range
SELECT pulsar.ack('sub15_runs', 'sh', ARRAY(SELECT id FROM sent WHERE entry IN (0, 9)));
SELECT * FROM pg_temp.runs('sub15_runs', 'sh');
SELECT count(*) AS runs,
       bool_and(a.consumer_id = b.consumer_id) AS same_consumer,
       bool_and(a.delivered_at = b.delivered_at) AS same_delivered_at,
       bool_and(a.redeliver_at = b.redeliver_at) AS same_redeliver_at
  FROM pg_temp.pending_state('sub15_runs', 'sh') a, state_before b;
SELECT * FROM pg_temp.acked_ranges('sub15_runs', 'sh');
SELECT * FROM pg_temp.stats('sub15_runs', 'sh');

-- a nacked message of a run becomes a row of its own, released and due,
-- with its delivery time kept; the rest of the run stays with w1
SELECT pulsar.nack('sub15_runs', 'sh', ARRAY(SELECT id FROM sent WHERE entry = 6));
SELECT * FROM pg_temp.runs('sub15_runs', 'sh');
SELECT count(*) AS rows, bool_and(a.delivered_at = b.delivered_at) AS same_delivered_at
  FROM pg_temp.pending_state('sub15_runs', 'sh') a, state_before b;
-- w2 gets it again, redelivery_count 1, and nothing w1 holds
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub15_runs', 'sh', 10, consumer => 'w2');
SELECT * FROM pg_temp.runs('sub15_runs', 'sh');
SELECT count(*) FROM pulsar.receive('sub15_runs', 'sh', 10, consumer => 'w1');

-- w1 leaves: its runs go back, due; what w2 holds stays
SELECT pulsar.close_consumer('sub15_runs', 'sh', 'w1');
SELECT * FROM pg_temp.runs('sub15_runs', 'sh');
SELECT unacked, backlog FROM pg_temp.stats('sub15_runs', 'sh');
-- a receive of 2 takes a prefix of the first released run, in entry order;
-- the rest of that run stays due as it was
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub15_runs', 'sh', 2, consumer => 'w2');
SELECT * FROM pg_temp.runs('sub15_runs', 'sh');
-- a receive of 3 takes the rest of it, the next run, and splits the last
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub15_runs', 'sh', 3, consumer => 'w2');
SELECT * FROM pg_temp.runs('sub15_runs', 'sh');
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub15_runs', 'sh', 10, consumer => 'w2');
SELECT * FROM pg_temp.runs('sub15_runs', 'sh');
SELECT count(*) FROM pulsar.receive('sub15_runs', 'sh', 10, consumer => 'w2');
SELECT unacked, backlog FROM pg_temp.stats('sub15_runs', 'sh');

-- an id given twice in one array is acknowledged once, without error
SELECT pulsar.ack('sub15_runs', 'sh', ARRAY(SELECT id FROM sent WHERE entry = 7)
                                      || ARRAY(SELECT id FROM sent WHERE entry = 2)
                                      || ARRAY(SELECT id FROM sent WHERE entry = 7));
SELECT * FROM pg_temp.runs('sub15_runs', 'sh');
SELECT unacked, backlog FROM pg_temp.stats('sub15_runs', 'sh');
-- once acknowledged, it cannot be acknowledged by a later transaction
SELECT pg_temp.error_of(format($$SELECT pulsar.ack('sub15_runs', 'sh', %L::pulsar.message_id)$$,
	(SELECT id FROM sent WHERE entry = 7)));

-- acking everything left in one array: no pending row, no backlog, and the
-- mark-delete position at the last entry with no range above it
SELECT pulsar.ack('sub15_runs', 'sh', ARRAY(SELECT id FROM sent WHERE entry IN (1, 3, 5, 6, 8)));
SELECT * FROM pg_temp.runs('sub15_runs', 'sh');
SELECT * FROM pg_temp.acked_ranges('sub15_runs', 'sh');
SELECT * FROM pg_temp.stats('sub15_runs', 'sh');
SELECT count(*) FROM pulsar.receive('sub15_runs', 'sh', 10, consumer => 'w2');
SELECT pulsar.close_consumer('sub15_runs', 'sh', 'w2');

-- exclusive with an ack timeout tracks what it hands out, by runs too.
-- ack_cumulative in the middle of a run keeps the rest of it pending, held
-- by the consumer, in the same state
SELECT pulsar.subscribe('sub15_runs', 'ex', 'exclusive', 'earliest', consumer => 'solo',
                        ack_timeout => '1 hour') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub15_runs', 'ex', 10, consumer => 'solo');
SELECT * FROM pg_temp.runs('sub15_runs', 'ex');
CREATE TEMP TABLE ex_before AS SELECT * FROM pg_temp.pending_state('sub15_runs', 'ex');
SELECT pulsar.ack_cumulative('sub15_runs', 'ex', (SELECT id FROM sent WHERE entry = 4));
SELECT * FROM pg_temp.runs('sub15_runs', 'ex');
SELECT count(*) AS runs,
       bool_and(a.consumer_id = b.consumer_id) AS same_consumer,
       bool_and(a.delivered_at = b.delivered_at) AS same_delivered_at,
       bool_and(a.redeliver_at = b.redeliver_at) AS same_redeliver_at
  FROM pg_temp.pending_state('sub15_runs', 'ex') a, ex_before b;
SELECT * FROM pg_temp.stats('sub15_runs', 'ex');
-- an individual ack in what is left splits it again
SELECT pulsar.ack('sub15_runs', 'ex', (SELECT id FROM sent WHERE entry = 7));
SELECT * FROM pg_temp.runs('sub15_runs', 'ex');
SELECT * FROM pg_temp.stats('sub15_runs', 'ex');
-- ack_cumulative to the end takes every run, and the range acknowledged
-- individually below the new mark-delete position goes with them
SELECT pulsar.ack_cumulative('sub15_runs', 'ex', (SELECT id FROM sent WHERE entry = 9));
SELECT * FROM pg_temp.runs('sub15_runs', 'ex');
SELECT * FROM pg_temp.acked_ranges('sub15_runs', 'ex');
SELECT * FROM pg_temp.stats('sub15_runs', 'ex');
SELECT pulsar.close_consumer('sub15_runs', 'ex', 'solo');

-- Key_Shared rows stay one per message, with its key hash: routing needs
-- each message's key
SELECT pulsar.subscribe('sub15_runs', 'ks', 'key_shared', 'earliest', consumer => 'k1')
       IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub15_runs', 'ks', 10, consumer => 'k1');
SELECT count(*) AS rows, bool_and(first_entry = last_entry) AS one_entry_each,
       bool_and(key_hash IS NOT NULL) AS with_key_hash
  FROM pg_temp.pending_state('sub15_runs', 'ks');
SELECT pulsar.ack('sub15_runs', 'ks', ARRAY(SELECT id FROM sent WHERE entry IN (0, 4, 9)));
SELECT string_agg(first_entry::text, ',' ORDER BY first_entry) AS pending_entries,
       bool_and(first_entry = last_entry) AS one_entry_each
  FROM pg_temp.pending_state('sub15_runs', 'ks');
SELECT unacked, backlog, mark_delete FROM pg_temp.stats('sub15_runs', 'ks');
SELECT pulsar.close_consumer('sub15_runs', 'ks', 'k1');
