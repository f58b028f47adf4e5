-- The upgrade chain: 0.1.0 -> 0.2.0 keeps topics and messages, adds
-- consumption; 0.2.0 -> 0.3.0 adds deliver_after and the timer index;
-- 0.3.0 -> 0.4.0 tracks pending messages by runs of entries; 0.4.0 ->
-- 0.5.0 gives cursor rows room for their updates; 0.5.0 -> 0.6.0 gives
-- ledgers a logged high-water mark of their entry ids; 0.6.0 -> 0.7.0
-- adds authorization, public/default open to every role as before
\set VERBOSITY default
DROP EXTENSION pulsar_pg;
CREATE EXTENSION pulsar_pg VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg';
SELECT pulsar.create_topic('upgraded');
SELECT count(*) FROM pulsar.send_batch('upgraded', ARRAY['before 1', 'before 2']);

ALTER EXTENSION pulsar_pg UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg';
-- the library consumes with the tables of 0.4.0: until the update, every
-- consuming function fails clearly
SELECT pulsar.subscribe('upgraded', 'after', initial_position => 'earliest');

ALTER EXTENSION pulsar_pg UPDATE TO '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg';
SELECT pulsar.send('upgraded', 'after 1', deliver_after => '0') IS NOT NULL AS sent;
-- a pending message as 0.3.0 tracked it, a row per entry
INSERT INTO pulsar.pending (subscription_id, ledger_id, entry_id, redeliver_at)
VALUES (1000, 1, 7, 'infinity');

ALTER EXTENSION pulsar_pg UPDATE TO '0.4.0';
SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg';
-- ... is a run of one entry
SELECT subscription_id, ledger_id, first_entry, last_entry FROM pulsar.pending;
DELETE FROM pulsar.pending;

ALTER EXTENSION pulsar_pg UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg';
SELECT reloptions FROM pg_class WHERE oid = 'pulsar.cursor'::regclass;
SELECT * FROM pulsar.get_permissions('public/default');

-- what was published before the upgrade is consumed after it
SELECT pulsar.subscribe('upgraded', 'after', initial_position => 'earliest') ~ '^pulsar_sub_[0-9a-f]{32}$' AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('upgraded', 'after', 10);

-- the upgraded ledger rows can hold their mark: a send logs one above it
SELECT pulsar.entry_id(pulsar.send('upgraded', 'after update')) AS entry \gset
SELECT entry_high_water > :entry AS above_entry
  FROM pulsar.ledger l JOIN pulsar.topic t USING (topic_id)
 WHERE t.name = 'upgraded';

-- an upgraded installation has the same objects as a fresh one
CREATE TEMP TABLE upgraded_objects AS
SELECT pg_describe_object(classid, objid, objsubid) AS object
  FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
 WHERE e.extname = 'pulsar_pg' AND d.deptype = 'e';
SELECT pulsar.close_consumer('upgraded', 'after');
DROP EXTENSION pulsar_pg;
CREATE EXTENSION pulsar_pg;
SELECT object FROM upgraded_objects
EXCEPT
SELECT pg_describe_object(classid, objid, objsubid)
  FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
 WHERE e.extname = 'pulsar_pg' AND d.deptype = 'e';
SELECT (SELECT count(*) FROM upgraded_objects) =
       (SELECT count(*) FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
         WHERE e.extname = 'pulsar_pg' AND d.deptype = 'e') AS same_objects;
SELECT reloptions FROM pg_class WHERE oid = 'pulsar.cursor'::regclass;

-- a new installation starts afresh: subscription and ledger ids start again
-- from 1, and no state of the dropped one shows through
SELECT pulsar.subscribe('again', 'sub', 'shared', 'earliest') ~ '^pulsar_sub_[0-9a-f]{32}$' AS channel;
SELECT subscription_id FROM pulsar.subscription WHERE name = 'sub';
SELECT pulsar.send('again', 'first') AS id;
SELECT convert_from(payload, 'UTF8') FROM pulsar.receive('again', 'sub', 10);
SELECT pulsar.close_consumer('again', 'sub');
