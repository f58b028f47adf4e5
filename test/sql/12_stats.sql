-- pulsar.topic_stats and pulsar.topic_internal_stats: Pulsar's field names
\set VERBOSITY default
\i test/include/error_of.sql

-- one subscription of each type, with named consumers
SELECT pulsar.create_topic('sub12_stats');
SELECT pulsar.ledger_id(id) AS ledger
  FROM pulsar.send_batch('sub12_stats',
	(SELECT array_agg('m' || i ORDER BY i) FROM generate_series(0, 9) i)) id LIMIT 1 \gset
SELECT pulsar.subscribe('sub12_stats', 'ex', 'exclusive', 'earliest', consumer => 'solo')
       IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub12_stats', 'fo', 'failover', 'latest', consumer => 'fo-a')
       IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub12_stats', 'fo', 'failover', 'latest', consumer => 'fo-b', priority => 1)
       IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub12_stats', 'sh', 'shared', 'earliest', consumer => 'w1')
       IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub12_stats', 'sh', 'shared', 'earliest', consumer => 'w2')
       IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub12_stats', 'ks', 'key_shared', 'earliest', consumer => 'k1')
       IS NOT NULL AS subscribed;
SELECT pulsar.topic_stats('sub12_stats')->>'topic' AS topic,
       pulsar.topic_stats('sub12_stats')->>'partitions' AS partitions;
SELECT s.key AS subscription, s.value->>'type' AS type,
       (s.value->>'msgBacklog')::int AS backlog,
       (s.value->>'unackedMessages')::int AS unacked,
       s.value->>'blockedSubscriptionOnUnackedMsgs' AS blocked
  FROM jsonb_each(pulsar.topic_stats('sub12_stats')->'subscriptions') s
 ORDER BY 1;
SELECT s.key AS subscription, c->>'consumerName' AS consumer,
       (c->>'priorityLevel')::int AS priority,
       (c->>'unackedMessages')::int AS unacked,
       c->>'blockedConsumerOnUnackedMsgs' AS blocked
  FROM jsonb_each(pulsar.topic_stats('sub12_stats')->'subscriptions') s,
       jsonb_array_elements(s.value->'consumers') c
 ORDER BY 1, 2;
-- the other fields are there too
SELECT array_agg(k ORDER BY k) AS subscription_fields
  FROM jsonb_object_keys(pulsar.topic_stats('sub12_stats')->'subscriptions'->'sh') k;

-- after some receives and acks
SELECT count(*) FROM pulsar.receive('sub12_stats', 'sh', 4, consumer => 'w1');
SELECT count(*) FROM pulsar.receive('sub12_stats', 'sh', 3, consumer => 'w2');
SELECT pulsar.ack('sub12_stats', 'sh', ARRAY[(:'ledger' || ':0:-1')::pulsar.message_id,
                                            (:'ledger' || ':5:-1')::pulsar.message_id]);
SELECT count(*) FROM pulsar.receive('sub12_stats', 'ex', 6, consumer => 'solo');
SELECT pulsar.ack_cumulative('sub12_stats', 'ex', (:'ledger' || ':3:-1')::pulsar.message_id);
SELECT s.key AS subscription, (s.value->>'msgBacklog')::int AS backlog,
       (s.value->>'unackedMessages')::int AS unacked
  FROM jsonb_each(pulsar.topic_stats('sub12_stats')->'subscriptions') s
 ORDER BY 1;
SELECT s.key AS subscription, c->>'consumerName' AS consumer,
       (c->>'unackedMessages')::int AS unacked
  FROM jsonb_each(pulsar.topic_stats('sub12_stats')->'subscriptions') s,
       jsonb_array_elements(s.value->'consumers') c
 WHERE s.key IN ('ex', 'sh')
 ORDER BY 1, 2;

-- internal stats: the mark-delete position and the ranges acknowledged above
-- it, as Pulsar prints them, "(a..b]" holding entries a+1 to b
SELECT pulsar.subscribe('sub12_stats', 'holes', 'shared', 'earliest', consumer => 'h')
       IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub12_stats', 'holes', 100, consumer => 'h');
CREATE TEMP VIEW holes AS
SELECT regexp_replace(c->>'markDeletePosition', '[0-9]+:', 'L:', 'g') AS mark_delete,
       regexp_replace(c->>'individuallyDeletedMessages', '[0-9]+:', 'L:', 'g') AS acked_ranges,
       (c->>'msgBacklog')::int AS backlog,
       (pulsar.topic_stats('sub12_stats')->'subscriptions'->'holes'->>'msgBacklog')::int AS topic_stats_backlog,
       (pulsar.topic_stats('sub12_stats')->'subscriptions'->'holes'->>'unackedMessages')::int AS unacked
  FROM (SELECT pulsar.topic_internal_stats('sub12_stats')->'cursors'->'holes' AS c) s;
SELECT * FROM holes;
SELECT pulsar.ack('sub12_stats', 'holes', (:'ledger' || ':1:-1')::pulsar.message_id);
SELECT * FROM holes;
SELECT pulsar.ack('sub12_stats', 'holes', (:'ledger' || ':2:-1')::pulsar.message_id);
SELECT * FROM holes;
SELECT pulsar.ack('sub12_stats', 'holes', ARRAY[(:'ledger' || ':8:-1')::pulsar.message_id,
                                               (:'ledger' || ':4:-1')::pulsar.message_id,
                                               (:'ledger' || ':7:-1')::pulsar.message_id]);
SELECT * FROM holes;
SELECT pulsar.ack('sub12_stats', 'holes', (:'ledger' || ':0:-1')::pulsar.message_id);
SELECT * FROM holes;
SELECT pulsar.ack('sub12_stats', 'holes', (:'ledger' || ':3:-1')::pulsar.message_id);
SELECT * FROM holes;
SELECT pulsar.ack('sub12_stats', 'holes', ARRAY[(:'ledger' || ':6:-1')::pulsar.message_id,
                                               (:'ledger' || ':5:-1')::pulsar.message_id]);
SELECT * FROM holes;
SELECT pulsar.ack('sub12_stats', 'holes', (:'ledger' || ':9:-1')::pulsar.message_id);
SELECT * FROM holes;
-- a seek shows only in its own transaction until it commits
BEGIN;
SELECT pulsar.seek('sub12_stats', 'holes', 'earliest'::pulsar.message_id);
SELECT * FROM holes;
ROLLBACK;
SELECT * FROM holes;
-- the rest of the internal stats
SELECT regexp_replace(pulsar.topic_internal_stats('sub12_stats')->>'lastConfirmedEntry',
                      '^[0-9]+:', 'L:') AS last_confirmed,
       pulsar.topic_internal_stats('sub12_stats')->>'entriesAddedCounter' AS entries_added,
       jsonb_array_length(pulsar.topic_internal_stats('sub12_stats')->'ledgers') > 0 AS has_segments;
SELECT array_agg(k ORDER BY k) AS cursors
  FROM jsonb_object_keys(pulsar.topic_internal_stats('sub12_stats')->'cursors') k;

-- exclusive: unackedMessages is what the consumer holds, not what it was ever sent
SELECT pulsar.create_topic('sub12_exclusive');
SELECT pulsar.ledger_id(id) AS ledger
  FROM pulsar.send_batch('sub12_exclusive', ARRAY['x0', 'x1']) id LIMIT 1 \gset
SELECT pulsar.subscribe('sub12_exclusive', 'ex', 'exclusive', 'earliest', consumer => 'solo',
                        max_unacked_messages => 3) IS NOT NULL AS subscribed;
CREATE TEMP VIEW exclusive_stats AS
SELECT (s->>'msgBacklog')::int AS backlog, (s->>'unackedMessages')::int AS unacked,
       (s->'consumers'->0->>'unackedMessages')::int AS consumer_unacked,
       s->'consumers'->0->>'blockedConsumerOnUnackedMsgs' AS blocked
  FROM (SELECT pulsar.topic_stats('sub12_exclusive')->'subscriptions'->'ex' AS s) x;
SELECT * FROM exclusive_stats;
SELECT count(*) FROM pulsar.receive('sub12_exclusive', 'ex', 10, consumer => 'solo');
SELECT * FROM exclusive_stats;
SELECT pulsar.ack('sub12_exclusive', 'ex', ARRAY[(:'ledger' || ':0:-1')::pulsar.message_id,
                                                (:'ledger' || ':1:-1')::pulsar.message_id]);
SELECT * FROM exclusive_stats;
SELECT count(*) FROM pulsar.send_batch('sub12_exclusive', ARRAY['x2', 'x3', 'x4', 'x5']);
SELECT * FROM exclusive_stats;
BEGIN;
SELECT count(*) FROM pulsar.receive('sub12_exclusive', 'ex', 10, consumer => 'solo');
ROLLBACK;
SELECT * FROM exclusive_stats;
SELECT count(*) FROM pulsar.receive('sub12_exclusive', 'ex', 10, consumer => 'solo');
SELECT * FROM exclusive_stats;

-- entries of aborted sends are gaps: once everything around them is
-- acknowledged, nothing is left in the backlog
SELECT pulsar.create_topic('sub12_gaps');
SELECT pulsar.subscribe('sub12_gaps', 'sh', 'shared', 'earliest', consumer => 'w')
       IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub12_gaps', 'ex', 'exclusive', 'earliest', consumer => 'solo')
       IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(pulsar.send('sub12_gaps', 'g0'));
BEGIN;
SELECT pulsar.entry_id(pulsar.send('sub12_gaps', 'aborted'));
ROLLBACK;
SELECT pulsar.entry_id(pulsar.send('sub12_gaps', 'g2'));
SELECT (pulsar.topic_stats('sub12_gaps')->'subscriptions'->'sh'->>'msgBacklog')::int AS backlog;
SELECT pulsar.entry_id(message_id), pulsar.ack('sub12_gaps', 'sh', message_id)
  FROM pulsar.receive('sub12_gaps', 'sh', 10, consumer => 'w');
SELECT pulsar.entry_id(message_id), pulsar.ack('sub12_gaps', 'ex', message_id)
  FROM pulsar.receive('sub12_gaps', 'ex', 10, consumer => 'solo');
SELECT c.key AS subscription,
       regexp_replace(c.value->>'markDeletePosition', '[0-9]+:', 'L:', 'g') AS mark_delete,
       regexp_replace(c.value->>'individuallyDeletedMessages', '[0-9]+:', 'L:', 'g') AS acked_ranges,
       (c.value->>'msgBacklog')::int AS backlog
  FROM jsonb_each(pulsar.topic_internal_stats('sub12_gaps')->'cursors') c
 ORDER BY 1;
SELECT s.key AS subscription, (s.value->>'msgBacklog')::int AS backlog,
       (s.value->>'unackedMessages')::int AS unacked
  FROM jsonb_each(pulsar.topic_stats('sub12_gaps')->'subscriptions') s
 ORDER BY 1;

-- a partitioned topic: one cursor per partition
SELECT pulsar.create_topic('sub12_parts', 2);
SELECT pulsar.subscribe('sub12_parts', 'sh', 'shared', 'earliest', consumer => 'w')
       IS NOT NULL AS subscribed;
SELECT count(*) FROM (
	SELECT pulsar.send('sub12_parts', 'p' || i, key => 'k' || i) FROM generate_series(0, 7) i
) sent;
SELECT pulsar.ack('sub12_parts', 'sh', message_id)
  FROM pulsar.receive('sub12_parts', 'sh', 100, consumer => 'w')
 WHERE convert_from(payload, 'UTF8') IN ('p0', 'p1', 'p2');
SELECT (pulsar.topic_stats('sub12_parts')->>'partitions')::int AS partitions,
       (pulsar.topic_stats('sub12_parts')->'subscriptions'->'sh'->>'msgBacklog')::int AS backlog,
       (pulsar.topic_stats('sub12_parts')->'subscriptions'->'sh'->>'unackedMessages')::int AS unacked;
SELECT p.key AS partition,
       (p.value->'cursors'->'sh'->>'msgBacklog')::int AS backlog,
       (p.value->>'entriesAddedCounter')::int AS entries
  FROM jsonb_each(pulsar.topic_internal_stats('sub12_parts')->'partitions') p
 ORDER BY 1;
SELECT sum((p.value->'cursors'->'sh'->>'msgBacklog')::int) AS backlog,
       sum((p.value->>'entriesAddedCounter')::int) AS entries
  FROM jsonb_each(pulsar.topic_internal_stats('sub12_parts')->'partitions') p;

-- a topic without subscriptions, and bad input
SELECT pulsar.create_topic('sub12_quiet');
SELECT pulsar.topic_stats('sub12_quiet')->'subscriptions' AS subscriptions;
SELECT pulsar.topic_internal_stats('sub12_quiet')->'cursors' AS cursors;
SELECT pulsar.topic_stats('sub12_none');
SELECT pulsar.topic_internal_stats('sub12_none');
SELECT count(*) FROM pulsar.topic WHERE name = 'sub12_none';
SELECT pulsar.topic_stats(NULL);
SELECT pulsar.topic_internal_stats(NULL);
SELECT pulsar.topic_stats('bad name');
-- stats only read: they work in a read-only transaction
BEGIN READ ONLY;
SELECT (pulsar.topic_stats('sub12_stats')->'subscriptions'->'holes'->>'msgBacklog')::int AS backlog;
SELECT pulsar.topic_internal_stats('sub12_stats')->'cursors'->'holes'->>'individuallyDeletedMessages' AS acked_ranges;
ROLLBACK;

-- the statistics of one partition
SELECT pulsar.create_topic('sub12_onepart', 2);
SELECT pulsar.subscribe('sub12_onepart', 'p', 'shared', 'earliest') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.send_batch('sub12_onepart-partition-1', ARRAY['a', 'b', 'c']);
SELECT pulsar.topic_stats('sub12_onepart-partition-1')->>'topic' AS topic,
       pulsar.topic_stats('sub12_onepart-partition-1')->>'msgInCounter' AS messages,
       pulsar.topic_stats('sub12_onepart-partition-1')->'subscriptions'->'p'->>'msgBacklog' AS backlog,
       pulsar.topic_stats('sub12_onepart-partition-0')->'subscriptions'->'p'->>'msgBacklog' AS other_backlog;
SELECT regexp_replace(pulsar.topic_internal_stats('sub12_onepart-partition-1')->>'lastConfirmedEntry',
                      '^[0-9]+', 'L') AS last_confirmed;
SELECT pulsar.topic_stats('sub12_onepart-partition-2');
SELECT pulsar.close_consumer('sub12_onepart', 'p');

-- max() of the received ids feeds a cumulative ack
SELECT pulsar.create_topic('sub12_agg');
SELECT pulsar.subscribe('sub12_agg', 'agg', initial_position => 'earliest') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.send_batch('sub12_agg', ARRAY['x', 'y', 'z']);
CREATE TEMP TABLE sub12_got AS SELECT * FROM pulsar.receive('sub12_agg', 'agg', 10);
SELECT pulsar.entry_id(pulsar.max(message_id)) AS last, pulsar.entry_id(pulsar.min(message_id)) AS first
  FROM sub12_got;
SELECT pulsar.ack_cumulative('sub12_agg', 'agg', (SELECT pulsar.max(message_id) FROM sub12_got));
SELECT (pulsar.topic_stats('sub12_agg')->'subscriptions'->'agg'->>'msgBacklog')::int AS backlog;
SELECT pulsar.close_consumer('sub12_agg', 'agg');
