-- Trimming: whole closed segments below the slowest cursor, within retention
\set VERBOSITY default
\i test/include/error_of.sql
-- the worker's passes stay out of the way: this test trims by hand
ALTER SYSTEM SET pulsar_pg.maintenance_interval = '1h';
SELECT pg_reload_conf();
SET pulsar_pg.segment_entries = 16;
SELECT pulsar.create_tenant('trim');
SELECT pulsar.create_namespace('trim/ns');

-- segments a topic stores: number, last entry, closed, entries; without
-- the empty ones that senders have segment workers create ahead of time
CREATE FUNCTION pg_temp.segments(topic text)
RETURNS TABLE (segment bigint, last_entry bigint, closed boolean, entries bigint)
LANGUAGE sql AS $$
	SELECT * FROM (
	SELECT (l->>'segment')::bigint, (l->>'lastEntry')::bigint,
	       l->>'closedAt' IS NOT NULL AS closed, (l->>'entries')::bigint AS entries
	  FROM jsonb_array_elements(pulsar.topic_internal_stats(topic)->'ledgers') l) s
	 WHERE closed OR entries > 0
	 ORDER BY 1
$$;
CREATE FUNCTION pg_temp.backlog(topic text, subscription text) RETURNS bigint
LANGUAGE sql AS $$
	SELECT (pulsar.topic_stats(topic)->'subscriptions'->subscription->>'msgBacklog')::bigint
$$;
CREATE FUNCTION pg_temp.entries(ids pulsar.message_id[]) RETURNS bigint[]
LANGUAGE sql AS $$ SELECT array_agg(pulsar.entry_id(i) ORDER BY i) FROM unnest(ids) i $$;

-- 56 messages: segments 0 to 2 are full, 3 is being written
SELECT pulsar.create_topic('trim/ns/t');
SELECT pulsar.subscribe('trim/ns/t', 'slow') IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('trim/ns/t', 'fast') IS NOT NULL AS subscribed;
SELECT count(*) FROM (SELECT pulsar.send('trim/ns/t', 'm' || i) FROM generate_series(0, 55) i) s;
-- nothing acknowledged: closing only
SELECT pulsar.trim_topic('trim/ns/t');
SELECT * FROM pg_temp.segments('trim/ns/t');
SELECT (s->>'storageSize')::bigint > 0 AS stored,
       (s->>'backlogSize')::bigint = (s->>'storageSize')::bigint AS all_backlog
  FROM pulsar.topic_stats('trim/ns/t') s;

-- 'fast' acknowledges everything, 'slow' the first 20: the slowest cursor
-- keeps segment 1 (entry 20 is in it), segment 0 goes
SELECT pulsar.ack('trim/ns/t', 'fast', (SELECT array_agg(message_id) FROM pulsar.receive('trim/ns/t', 'fast', 100)));
SELECT pulsar.ack_cumulative('trim/ns/t', 'slow', m)
  FROM (SELECT message_id m FROM pulsar.receive('trim/ns/t', 'slow', 20) OFFSET 19) s;
SELECT pulsar.trim_topic('trim/ns/t');
SELECT * FROM pg_temp.segments('trim/ns/t');
SELECT pg_temp.backlog('trim/ns/t', 'slow') AS slow, pg_temp.backlog('trim/ns/t', 'fast') AS fast;
-- a reader from a trimmed position, and from 'earliest', starts at the first stored entry
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.read('trim/ns/t', 'earliest', 2);
SELECT pulsar.entry_id(message_id)
  FROM pulsar.read('trim/ns/t', ((SELECT l.ledger_id FROM pulsar.ledger l JOIN pulsar.topic t USING (topic_id)
                                  WHERE t.name = 't') || ':3:-1')::pulsar.message_id, 1);
-- the slow subscription goes on where it was
SELECT pulsar.entry_id(message_id) FROM pulsar.receive('trim/ns/t', 'slow', 2);

-- a new subscription at 'earliest' starts at the first stored entry
SELECT pulsar.subscribe('trim/ns/t', 'late', initial_position => 'earliest') IS NOT NULL AS subscribed;
SELECT pg_temp.backlog('trim/ns/t', 'late') AS late;
SELECT pulsar.entry_id(message_id) FROM pulsar.receive('trim/ns/t', 'late', 1);
SELECT pulsar.unsubscribe('trim/ns/t', 'late');

-- a seek to a trimmed position continues at the first stored entry
SELECT pulsar.seek('trim/ns/t', 'fast', 'earliest');
SELECT pg_temp.backlog('trim/ns/t', 'fast') AS fast;
SELECT pulsar.entry_id(message_id) FROM pulsar.receive('trim/ns/t', 'fast', 1);
SELECT pulsar.seek('trim/ns/t', 'fast', 'latest');

-- acknowledged ranges below the trimmed point go with the segments
SELECT pulsar.ack('trim/ns/t', 'slow', ARRAY(SELECT message_id FROM pulsar.receive('trim/ns/t', 'slow', 40) WHERE pulsar.entry_id(message_id) % 2 = 1));
SELECT count(*) AS ranges_before FROM pulsar.acked_range;
SELECT pulsar.ack_cumulative('trim/ns/t', 'slow', m)
  FROM (SELECT message_id m FROM pulsar.read('trim/ns/t', 'earliest', 100) WHERE pulsar.entry_id(message_id) = 47) s;
SELECT pulsar.trim_topic('trim/ns/t');
SELECT * FROM pg_temp.segments('trim/ns/t');
SELECT count(*) AS ranges_after FROM pulsar.acked_range;

-- retention: both unlimited keep everything
SELECT pulsar.create_topic('trim/ns/keep');
SELECT pulsar.set_retention('trim/ns/keep', NULL, NULL);
SELECT count(*) FROM (SELECT pulsar.send('trim/ns/keep', 'x') FROM generate_series(1, 40)) s;
SELECT pulsar.trim_topic('trim/ns/keep');
SELECT * FROM pg_temp.segments('trim/ns/keep');
-- a size keeps the newest segments that fit; without subscriptions,
-- retention alone decides
SELECT pulsar.set_retention('trim/ns/keep', NULL, (SELECT (l->>'size')::bigint
  FROM jsonb_array_elements(pulsar.topic_internal_stats('trim/ns/keep')->'ledgers') l
 WHERE (l->>'segment')::int = 1));
SELECT pulsar.trim_topic('trim/ns/keep');
SELECT * FROM pg_temp.segments('trim/ns/keep');
-- a time counts from the close
SELECT pulsar.set_retention('trim/ns/keep', '1 hour', NULL);
SELECT pulsar.trim_topic('trim/ns/keep');
SELECT pulsar.set_retention('trim/ns/keep', '0', NULL);
SELECT pulsar.trim_topic('trim/ns/keep');
SELECT * FROM pg_temp.segments('trim/ns/keep');
-- both zero: the default, keep nothing no subscription needs
SELECT pulsar.remove_policy('trim/ns/keep', 'retention');
SELECT pulsar.trim_topic('trim/ns/keep');
-- ids go on after the trimmed ones
SELECT pulsar.entry_id(pulsar.send('trim/ns/keep', 'after'));

-- a slow topic: its segment closes by age, ids stay unique and ordered, the
-- backlog counts messages only
SELECT pulsar.create_topic('trim/ns/slow');
SELECT pulsar.subscribe('trim/ns/slow', 's') IS NOT NULL AS subscribed;
SELECT pg_temp.entries(ARRAY(SELECT pulsar.send('trim/ns/slow', 'a' || i) FROM generate_series(1, 3) i));
ALTER SYSTEM SET pulsar_pg.segment_max_age = '1s';
SELECT pg_reload_conf();
SELECT pg_sleep(1.2);
SHOW pulsar_pg.segment_max_age;
SELECT pulsar.trim_topic('trim/ns/slow');
SELECT pg_temp.entries(ARRAY(SELECT pulsar.send('trim/ns/slow', 'b' || i) FROM generate_series(1, 2) i));
SELECT * FROM pg_temp.segments('trim/ns/slow');
SELECT pg_temp.backlog('trim/ns/slow', 's') AS backlog,
       (pulsar.topic_stats('trim/ns/slow')->>'msgInCounter')::bigint AS msg_in;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('trim/ns/slow', 's', 10);
SELECT pg_temp.backlog('trim/ns/slow', 's') AS backlog;
SELECT pulsar.ack_cumulative('trim/ns/slow', 's', m)
  FROM (SELECT message_id m FROM pulsar.read('trim/ns/slow', 'earliest', 10)
         ORDER BY message_id DESC LIMIT 1) s;
ALTER SYSTEM RESET pulsar_pg.segment_max_age;
SELECT pg_reload_conf();
SELECT pulsar.trim_topic('trim/ns/slow');
SELECT * FROM pg_temp.segments('trim/ns/slow');
SELECT pg_temp.backlog('trim/ns/slow', 's') AS backlog;

-- bad input: a clear error, nothing changed
SELECT pulsar.create_topic('trim/ns/parts', 2);
SELECT count(*) AS segments_before FROM pulsar.segment WHERE closed_at IS NOT NULL \gset
SELECT pg_temp.error_of($$SELECT pulsar.trim_topic(NULL)$$);
SELECT pg_temp.error_of($$SELECT pulsar.trim_topic('trim/ns/nothing')$$);
SELECT pg_temp.error_of($$SELECT pulsar.trim_topic('nothing/ns/t')$$);
SELECT pg_temp.error_of($$SELECT pulsar.trim_topic('trim/ns/bad name!')$$);
SELECT pg_temp.error_of($$SELECT pulsar.trim_topic('trim/ns/parts-partition-1')$$);
ALTER SYSTEM SET pulsar_pg.segment_max_age = -1;
ALTER SYSTEM SET pulsar_pg.maintenance_interval = 0;
SELECT pg_temp.error_of($$SET pulsar_pg.maintenance_interval = '1s'$$);
CREATE ROLE trim_user;
SET ROLE trim_user;
SELECT pg_temp.error_of($$SELECT pulsar.trim_topic('trim/ns/t')$$);
RESET ROLE;
DROP ROLE trim_user;
SELECT count(*) = :segments_before AS unchanged FROM pulsar.segment WHERE closed_at IS NOT NULL;

ALTER SYSTEM RESET pulsar_pg.maintenance_interval;
SELECT pg_reload_conf();

-- DROP EXTENSION takes the trimmed topics' storage and catalog with it
DROP FUNCTION pg_temp.entries(pulsar.message_id[]);
DROP EXTENSION pulsar_pg;
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('pulsar', 'pulsar_data');
CREATE EXTENSION pulsar_pg;
