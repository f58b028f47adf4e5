-- Shared state follows the transactions that change it: no user action
-- PANICs the server (DESIGN invariant 6a), and the shared tables hold only
-- what exists (pulsar.shared_memory_usage())
\set VERBOSITY terse
SELECT pulsar.create_topic('shared17');
SELECT pulsar.send('shared17', 'kept') IS NOT NULL AS sent;

-- A transaction that sent, dropped and re-created the extension, and rolled
-- back: its reservation is released, the earlier installation is back
-- with its messages, and the position it had stays taken.
BEGIN;
SELECT pulsar.entry_id(pulsar.send('shared17', 'rolled back'));
DROP EXTENSION pulsar_pg CASCADE;
CREATE EXTENSION pulsar_pg;
ROLLBACK;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.read('shared17', 'earliest', 10);
SELECT pulsar.entry_id(pulsar.send('shared17', 'after'));

-- The same with sends to the new installation's topic of the same ledger id
BEGIN;
SELECT pulsar.entry_id(pulsar.send('shared17', 'rolled back'));
DROP EXTENSION pulsar_pg CASCADE;
CREATE EXTENSION pulsar_pg;
SELECT pulsar.create_topic('shared17');
SELECT pulsar.entry_id(pulsar.send('shared17', 'new, rolled back'));
ROLLBACK;
SELECT convert_from(payload, 'UTF8')
  FROM pulsar.read('shared17', 'earliest', 10);

-- Committed, the new installation starts afresh: the old state is
-- forgotten once the transaction has released what it held.
BEGIN;
SELECT pulsar.entry_id(pulsar.send('shared17', 'dropped')) > 4 AS above_every_earlier_id;
DROP EXTENSION pulsar_pg CASCADE;
CREATE EXTENSION pulsar_pg;
COMMIT;
SELECT pulsar.send('shared17', 'fresh');
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.read('shared17', 'earliest', 10);

-- Entries go with their objects: a topic deleted with its subscriptions
-- leaves no dispatch state or consumer behind, and neither does an
-- unsubscribe, or a subscribe that rolls back.
CREATE TEMP TABLE usage17 AS SELECT area, entries FROM pulsar.shared_memory_usage();
SELECT area, max_entries > 0 AS limited FROM pulsar.shared_memory_usage();
SELECT pulsar.create_topic('gone17', 3);
SELECT pulsar.subscribe('gone17', 'a', 'shared', 'earliest', consumer => 'ca') ~ '^pulsar_sub_[0-9a-f]{32}$' AS subscribed;
SELECT pulsar.subscribe('gone17', 'b', 'exclusive', 'earliest', consumer => 'cb') ~ '^pulsar_sub_[0-9a-f]{32}$' AS subscribed;
SELECT count(*) FROM pulsar.send_batch('gone17', ARRAY['x', 'y', 'z'], keys => ARRAY['1', '2', '3']);
SELECT count(*) FROM pulsar.receive('gone17', 'a', 10, consumer => 'ca');
SELECT count(*) FROM pulsar.receive('gone17', 'b', 10, consumer => 'cb');
SELECT u.area, u.entries - b.entries AS added
  FROM pulsar.shared_memory_usage() u JOIN usage17 b USING (area) ORDER BY 1;
SELECT pulsar.close_consumer('gone17', 'b', 'cb');
SELECT pulsar.unsubscribe('gone17', 'b');
SELECT u.area, u.entries - b.entries AS added
  FROM pulsar.shared_memory_usage() u JOIN usage17 b USING (area) ORDER BY 1;
SELECT pulsar.delete_topic('gone17', force => true);
SELECT u.area, u.entries - b.entries AS added
  FROM pulsar.shared_memory_usage() u JOIN usage17 b USING (area) ORDER BY 1;
BEGIN;
SELECT pulsar.subscribe('shared17', 'rolled', 'shared', 'earliest', consumer => 'cr') ~ '^pulsar_sub_[0-9a-f]{32}$' AS subscribed;
SELECT count(*) FROM pulsar.receive('shared17', 'rolled', 10, consumer => 'cr');
ROLLBACK;
SELECT u.area, u.entries - b.entries AS added
  FROM pulsar.shared_memory_usage() u JOIN usage17 b USING (area) ORDER BY 1;
BEGIN;
SAVEPOINT before_subscribe;
SELECT pulsar.subscribe('shared17', 'saved', 'shared', 'earliest', consumer => 'cs') ~ '^pulsar_sub_[0-9a-f]{32}$' AS subscribed;
SELECT count(*) FROM pulsar.receive('shared17', 'saved', 10, consumer => 'cs');
ROLLBACK TO SAVEPOINT before_subscribe;
COMMIT;
SELECT u.area, u.entries - b.entries AS added
  FROM pulsar.shared_memory_usage() u JOIN usage17 b USING (area) ORDER BY 1;
