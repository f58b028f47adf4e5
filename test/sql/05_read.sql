-- pulsar.read: a reader of one partition, in position order
\set VERBOSITY default
SELECT pulsar.create_topic('reading');
SELECT pulsar.ledger_id(id) AS ledger
  FROM pulsar.send_batch('reading', ARRAY['m0', 'm1', 'm2', 'm3', 'm4']) id LIMIT 1 \gset

SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.read('reading', 'earliest', 3);
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.read('reading', (:'ledger' || ':2:-1')::pulsar.message_id, 100);
SELECT count(*) FROM pulsar.read('reading', 'latest', 100);
SELECT count(*) FROM pulsar.read('reading', (:'ledger' || ':4:-1')::pulsar.message_id, 100);
SELECT count(*) FROM pulsar.read('reading', 'earliest');

-- an aborted send leaves a gap that readers pass
BEGIN;
SELECT pulsar.entry_id(pulsar.send('reading', 'aborted'));
ROLLBACK;
SELECT pulsar.entry_id(pulsar.send('reading', 'm6'));
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.read('reading', (:'ledger' || ':4:-1')::pulsar.message_id, 100);

-- a transaction does not read its own uncommitted messages: nobody does
BEGIN;
SELECT pulsar.entry_id(pulsar.send('reading', 'mine'));
SELECT count(*) FROM pulsar.read('reading', (:'ledger' || ':6:-1')::pulsar.message_id, 100);
COMMIT;
SELECT convert_from(payload, 'UTF8')
  FROM pulsar.read('reading', (:'ledger' || ':6:-1')::pulsar.message_id, 100);

-- many segments: pages of a reader see every committed message once, in order
SET pulsar_pg.segment_entries = 16;
SELECT pulsar.create_topic('segmented');
RESET pulsar_pg.segment_entries;
SELECT count(*) FROM pulsar.send_batch('segmented',
	(SELECT array_agg('s' || i) FROM generate_series(0, 39) i));
BEGIN;
SELECT count(*) FROM pulsar.send_batch('segmented',
	(SELECT array_agg('aborted' || i) FROM generate_series(40, 79) i));
ROLLBACK;
SELECT count(*) FROM pulsar.send_batch('segmented',
	(SELECT array_agg('s' || i) FROM generate_series(80, 99) i));
-- entries 0..99 span segments 0..6 (the next one may be created ahead)
SELECT count(*) AS segments FROM pulsar.segment s JOIN pulsar.ledger l USING (ledger_id)
  JOIN pulsar.topic t USING (topic_id)
 WHERE t.name = 'segmented' AND s.segment_no * 16 <= 99;
CREATE TEMP TABLE pages (n serial, entry_id bigint, payload text);
DO $$
DECLARE
	last pulsar.message_id := 'earliest';
	got int;
BEGIN
	LOOP
		INSERT INTO pages (entry_id, payload)
		SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
		  FROM pulsar.read('segmented', last, 7);
		GET DIAGNOSTICS got = ROW_COUNT;
		EXIT WHEN got = 0;
		SELECT (SELECT ledger_id FROM pulsar.ledger l JOIN pulsar.topic t USING (topic_id)
		         WHERE t.name = 'segmented') || ':' || max(entry_id) || ':-1'
		  INTO last FROM pages;
	END LOOP;
END
$$;
SELECT count(*), count(DISTINCT entry_id), min(payload), max(entry_id),
       bool_and(payload = 's' || entry_id) AS payload_matches_position
  FROM pages;
SELECT count(*) AS out_of_order FROM pages a JOIN pages b ON b.n = a.n + 1
 WHERE b.entry_id <= a.entry_id;

-- readers need READ COMMITTED: an older snapshot could skip messages
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM pulsar.read('reading', 'earliest');
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*) FROM pulsar.read('reading', 'earliest');
ROLLBACK;
-- publishing works at any isolation level
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT pulsar.send('reading', 'serializable') IS NOT NULL AS sent;
COMMIT;

-- bad input
SELECT * FROM pulsar.read(NULL, 'earliest', 1);
SELECT * FROM pulsar.read('reading', NULL, 1);
SELECT * FROM pulsar.read('reading', 'earliest', NULL);
SELECT * FROM pulsar.read('reading', 'earliest', 0);
SELECT * FROM pulsar.read('reading', 'earliest', -1);
SELECT * FROM pulsar.read('reading', 'earliest', 100001);
SELECT * FROM pulsar.read('reading', '999999:0:-1', 1);
SELECT * FROM pulsar.read('never_created', 'earliest', 1);
SELECT count(*) FROM pulsar.topic WHERE name = 'never_created';
SELECT * FROM pulsar.read('bad name', 'earliest', 1);
SELECT * FROM pulsar.read('reading', 'not an id', 1);
