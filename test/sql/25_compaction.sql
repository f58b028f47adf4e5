-- Compaction: the latest message of each key up to a horizon, read through
-- read(..., compacted => true) and read_compacted subscriptions
\set VERBOSITY default
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pulsar_pg;
RESET client_min_messages;
\i test/include/error_of.sql
SELECT pulsar.create_tenant('cmp');
SELECT pulsar.create_namespace('cmp/ns');
SELECT pulsar.create_topic('cmp/ns/prices');

CREATE FUNCTION pg_temp.view_of(topic text, after pulsar.message_id DEFAULT 'earliest')
RETURNS TABLE (entry bigint, key text, payload text)
LANGUAGE sql AS $$
	SELECT pulsar.entry_id(message_id), key, convert_from(payload, 'UTF8')
	  FROM pulsar.read(topic, after, 1000, compacted => true)
$$;
CREATE FUNCTION pg_temp.compacted_tables() RETURNS SETOF text
LANGUAGE sql AS $$
	SELECT regexp_replace(relname, '_[0-9]+_', '_<ledger>_')
	  FROM pg_class WHERE relnamespace = 'pulsar_data'::regnamespace
	   AND relname LIKE 'compacted%' AND relkind = 'r' ORDER BY relname
$$;

-- never compacted: the view is the topic itself
SELECT pulsar.entry_id(pulsar.send('cmp/ns/prices', 'a1'::text, key => 'a')) AS entry;
SELECT * FROM pg_temp.view_of('cmp/ns/prices');
SELECT pulsar.compaction_status('cmp/ns/prices') - 'compactionHorizon';

-- the latest message per key; a NULL payload removes its key; messages
-- without a key and rolled-back sends are not in the view
SELECT pulsar.entry_id(pulsar.send('cmp/ns/prices', 'b1'::text, key => 'b')) AS entry;
SELECT pulsar.entry_id(pulsar.send('cmp/ns/prices', 'no key'::text)) AS entry;
SELECT pulsar.entry_id(pulsar.send('cmp/ns/prices', 'a2'::text, key => 'a')) AS entry;
BEGIN;
SELECT pulsar.entry_id(pulsar.send('cmp/ns/prices', 'rolled back'::text, key => 'r')) AS entry;
ROLLBACK;
SELECT pulsar.entry_id(pulsar.send('cmp/ns/prices', NULL::bytea, key => 'b')) AS entry;
SELECT pulsar.entry_id(pulsar.send('cmp/ns/prices', 'c1'::text, key => 'c')) AS entry;
SELECT pulsar.entry_id(pulsar.send('cmp/ns/prices', ''::text, key => 'e')) AS entry;
SELECT pulsar.compact('cmp/ns/prices');
SELECT * FROM pg_temp.view_of('cmp/ns/prices');
SELECT (pulsar.compaction_status('cmp/ns/prices') - 'compactionHorizon'),
	   split_part(pulsar.compaction_status('cmp/ns/prices') ->> 'compactionHorizon', ':', 2) AS horizon;
SELECT * FROM pg_temp.compacted_tables();

-- above the horizon, the topic as it is
SELECT pulsar.entry_id(pulsar.send('cmp/ns/prices', 'a3'::text, key => 'a')) AS entry;
SELECT pulsar.entry_id(pulsar.send('cmp/ns/prices', 'unkeyed after'::text)) AS entry;
SELECT * FROM pg_temp.view_of('cmp/ns/prices');
-- from a position inside the view, and past it
SELECT * FROM pg_temp.view_of('cmp/ns/prices',
	(SELECT message_id FROM pulsar.read('cmp/ns/prices', 'earliest', 4) OFFSET 3));
SELECT count(*) FROM pulsar.read('cmp/ns/prices', 'earliest', 2, compacted => true);
-- the topic itself is untouched
SELECT count(*) FROM pulsar.read('cmp/ns/prices', 'earliest', 1000);
SELECT count(*) FROM pulsar.read('cmp/ns/prices', 'earliest');

-- compacting again starts from the previous view: a new table replaces it,
-- and the old one stays until the next compaction (readers may hold it)
SELECT pulsar.entry_id(pulsar.send('cmp/ns/prices', NULL::text, key => 'c')) AS entry;
SELECT pulsar.compact('cmp/ns/prices');
SELECT * FROM pg_temp.view_of('cmp/ns/prices');
SELECT * FROM pg_temp.compacted_tables();
-- nothing new: the view stays
SELECT pulsar.compact('cmp/ns/prices');
SELECT * FROM pg_temp.view_of('cmp/ns/prices');

-- topic_internal_stats: the horizon and the compacted view's size
SELECT split_part(s ->> 'compactionHorizon', ':', 2) AS horizon,
	   s -> 'compactedLedger' ->> 'entries' AS entries,
	   (s -> 'compactedLedger' ->> 'size')::bigint > 0 AS has_size,
	   s -> 'compactedLedger' ? 'compactedAt' AS has_time
  FROM pulsar.topic_internal_stats('cmp/ns/prices') s;

-- a read_compacted exclusive subscription sees the view, then the topic;
-- messages left out of the view are acknowledged as it passes them
SELECT pulsar.entry_id(pulsar.send('cmp/ns/prices', 'b2'::text, key => 'b')) AS entry;
SELECT pulsar.subscribe('cmp/ns/prices', 'image', 'exclusive', 'earliest',
						read_compacted => true) LIKE 'pulsar_sub_%';
CREATE TEMP TABLE got AS
	SELECT * FROM pulsar.receive('cmp/ns/prices', 'image', 100);
SELECT pulsar.entry_id(message_id), key, convert_from(payload, 'UTF8') FROM got;
SELECT pulsar.ack('cmp/ns/prices', 'image', ARRAY(SELECT message_id FROM got));
SELECT (pulsar.topic_stats('cmp/ns/prices') -> 'subscriptions' -> 'image' ->> 'msgBacklog');
-- an ordinary subscription sees every message
SELECT pulsar.subscribe('cmp/ns/prices', 'log', 'failover', 'earliest') LIKE 'pulsar_sub_%';
SELECT count(*) FROM pulsar.receive('cmp/ns/prices', 'log', 100);
-- failover with read_compacted
SELECT pulsar.subscribe('cmp/ns/prices', 'image2', 'failover', 'earliest',
						read_compacted => true) LIKE 'pulsar_sub_%';
SELECT pulsar.entry_id(message_id), key FROM pulsar.receive('cmp/ns/prices', 'image2', 2);
SELECT pulsar.entry_id(message_id), key FROM pulsar.receive('cmp/ns/prices', 'image2', 100);

-- partitioned topics: the whole topic, or one partition
SELECT pulsar.create_topic('cmp/ns/parted', 2);
SELECT count(*) FROM pulsar.send_batch('cmp/ns/parted', ARRAY['x1', 'y1', 'x2', 'y2']::text[],
									   keys => ARRAY['x', 'y', 'x', 'y']);
SELECT pulsar.compact('cmp/ns/parted');
SELECT jsonb_pretty(pulsar.compaction_status('cmp/ns/parted'));
SELECT p, v.key, v.payload
  FROM generate_series(0, 1) p,
	   pg_temp.view_of('cmp/ns/parted-partition-' || p) v ORDER BY p, v.entry;
SELECT pulsar.entry_id(pulsar.send('cmp/ns/parted', 'x3'::text, key => 'x')) AS entry;
SELECT pulsar.compact('cmp/ns/parted-partition-' || pulsar.partition_for_key('x', 2));
SELECT p, v.key, v.payload
  FROM generate_series(0, 1) p,
	   pg_temp.view_of('cmp/ns/parted-partition-' || p) v ORDER BY p, v.entry;

-- automatic compaction: partitions past their threshold
SELECT pulsar.create_topic('cmp/ns/auto');
SELECT pulsar.send('cmp/ns/auto', 'v' || i, key => 'k' || (i % 3)) FROM generate_series(1, 30) i \g /dev/null
SELECT pulsar.compaction_step();
SELECT pulsar.set_compaction_threshold('cmp/ns/auto', 1);
-- (the database worker's maintenance pass may get there first)
SELECT pulsar.compaction_step() <= 1 AS stepped;
SELECT pulsar.compaction_status('cmp/ns/auto') ->> 'status';
SELECT key, payload FROM pg_temp.view_of('cmp/ns/auto') ORDER BY key;
-- nothing new since: nothing to do
SELECT pulsar.compaction_step();
-- a threshold above the backlog waits
SELECT pulsar.set_compaction_threshold('cmp/ns', 1073741824);
SELECT pulsar.remove_policy('cmp/ns/auto', 'compaction_threshold');
SELECT pulsar.entry_id(pulsar.send('cmp/ns/auto', 'later', key => 'k0')) AS entry;
SELECT pulsar.compaction_step();
SELECT pulsar.set_compaction_threshold('cmp/ns', 0);

-- bad input: each a clear error that changes nothing
SELECT * FROM pg_temp.error_of($$SELECT pulsar.compact(NULL)$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.compact('cmp/ns/missing')$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.compact('cmp/nope/x')$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.compact('bad name!')$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.compact('cmp/ns/parted-partition-2')$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.compact('cmp/ns/prices-partition-0')$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.compaction_status(NULL)$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.compaction_status('cmp/ns/missing')$$);
SELECT * FROM pg_temp.error_of($$SELECT * FROM pulsar.read('cmp/ns/prices', 'earliest', 10, compacted => NULL)$$);
SELECT * FROM pg_temp.error_of($$SELECT * FROM pulsar.read('cmp/ns/parted', 'earliest', 10, compacted => true)$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.subscribe('cmp/ns/prices', 'bad', 'shared', read_compacted => true)$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.subscribe('cmp/ns/prices', 'bad', 'key_shared', read_compacted => true)$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.subscribe('cmp/ns/prices', 'bad', 'exclusive', read_compacted => NULL)$$);
-- an existing read_compacted subscription cannot become shared with it
SELECT * FROM pg_temp.error_of($$SELECT pulsar.subscribe('cmp/ns/prices', 'image2', 'shared', read_compacted => true)$$);
SELECT name, type, read_compacted FROM pulsar.subscription ORDER BY name;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM pg_temp.error_of($$SELECT pulsar.compact('cmp/ns/prices')$$);
ROLLBACK;
-- nothing changed by the failures
SELECT * FROM pg_temp.compacted_tables();

-- a role without the grant
CREATE ROLE cmp_user;
SET ROLE cmp_user;
SELECT * FROM pg_temp.error_of($$SELECT pulsar.compact('cmp/ns/prices')$$);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.compaction_step()$$);
-- reading the view needs consume, as reading does
SELECT * FROM pg_temp.error_of($$SELECT count(*) FROM pulsar.read('cmp/ns/prices', 'earliest', 100, compacted => true)$$);
RESET ROLE;
SELECT pulsar.grant_permission('cmp/ns', 'cmp_user', ARRAY['consume']);
SET ROLE cmp_user;
SELECT count(*) FROM pulsar.read('cmp/ns/prices', 'earliest', 100, compacted => true);
SELECT * FROM pg_temp.error_of($$SELECT pulsar.compact('cmp/ns/prices')$$);
RESET ROLE;
-- the tenant's admins compact
SELECT pulsar.update_tenant('cmp', ARRAY['cmp_user']);
SET ROLE cmp_user;
SELECT pulsar.compact('cmp/ns/prices');
SELECT pulsar.compaction_status('cmp/ns/prices')->>'status' AS status;
RESET ROLE;
SELECT pulsar.update_tenant('cmp', ARRAY[]::text[]);
SELECT pulsar.revoke_permission('cmp/ns', 'cmp_user');
DROP ROLE cmp_user;

-- DROP EXTENSION takes the compacted views with it
SELECT count(*) FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE c.relnamespace = 'pulsar_data'::regnamespace AND c.relname LIKE 'compacted%'
   AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pulsar_pg');

-- the compacted views go with their topic
SELECT pulsar.delete_topic('cmp/ns/prices', force => true);
SELECT pulsar.delete_topic('cmp/ns/parted');
SELECT pulsar.delete_topic('cmp/ns/auto');
SELECT * FROM pg_temp.compacted_tables();
SELECT count(*) FROM pulsar.compaction;
