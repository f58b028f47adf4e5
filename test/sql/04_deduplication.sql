-- Producer deduplication, Pulsar style: per producer and topic
\set VERBOSITY default
SELECT pulsar.create_tenant('dd');
SELECT pulsar.create_namespace('dd/ns');
SELECT pulsar.create_topic('dd/ns/orders');
-- the topic is cached by this session before deduplication is enabled
SELECT pulsar.send('dd/ns/orders', 'before', producer => 'p1', sequence_id => 5) IS NOT NULL AS stored;
SELECT pulsar.set_deduplication('dd/ns', true);

-- a sequence id not above the last stored one is dropped: NULL, nothing stored
SELECT pulsar.send('dd/ns/orders', 'one', producer => 'p1', sequence_id => 1) IS NOT NULL AS stored;
SELECT pulsar.send('dd/ns/orders', 'two', producer => 'p1', sequence_id => 2) IS NOT NULL AS stored;
SELECT pulsar.send('dd/ns/orders', 'two again', producer => 'p1', sequence_id => 2) IS NOT NULL AS stored;
SELECT pulsar.send('dd/ns/orders', 'one again', producer => 'p1', sequence_id => 1) IS NOT NULL AS stored;
SELECT pulsar.send('dd/ns/orders', 'three', producer => 'p1', sequence_id => 3) IS NOT NULL AS stored;
-- each producer has its own sequence
SELECT pulsar.send('dd/ns/orders', 'p2 one', producer => 'p2', sequence_id => 1) IS NOT NULL AS stored;
-- without a producer or a sequence id there is nothing to compare
SELECT pulsar.send('dd/ns/orders', 'anonymous', sequence_id => 1) IS NOT NULL AS stored;
SELECT pulsar.send('dd/ns/orders', 'unnumbered', producer => 'p1') IS NOT NULL AS stored;

-- batches: each message is checked against the last one before it
SELECT id IS NOT NULL AS stored
  FROM pulsar.send_batch('dd/ns/orders', ARRAY['3', '4', '5'], producer => 'p1',
                         sequence_ids => ARRAY[3, 4, 5]) id;
SELECT id IS NOT NULL AS stored
  FROM pulsar.send_batch('dd/ns/orders', ARRAY['10', '9', '11', 'none'], producer => 'p1',
                         sequence_ids => ARRAY[10, 9, 11, NULL]) id;

-- a rolled-back send does not advance the producer's sequence
BEGIN;
SELECT pulsar.send('dd/ns/orders', 'rolled back', producer => 'p1', sequence_id => 20) IS NOT NULL AS stored;
ROLLBACK;
SELECT pulsar.send('dd/ns/orders', 'twenty', producer => 'p1', sequence_id => 20) IS NOT NULL AS stored;

SELECT convert_from(payload, 'UTF8') AS payload, producer, sequence_id
  FROM pulsar.read('dd/ns/orders', 'earliest', 100);
SELECT producer, last_sequence_id FROM pulsar.producer_sequence ORDER BY producer;

-- on a partitioned topic the sequence is the topic's, whatever the partition
SELECT pulsar.create_topic('dd/ns/parted', 4);
SELECT pulsar.send('dd/ns/parted', 'a', key => 'alpha', producer => 'p', sequence_id => 1) IS NOT NULL AS stored;
SELECT pulsar.partition_for_key('alpha', 4) <> pulsar.partition_for_key('gamma', 4) AS other_partition;
SELECT pulsar.send('dd/ns/parted', 'a again', key => 'gamma', producer => 'p', sequence_id => 1) IS NOT NULL AS stored;
SELECT pulsar.send('dd/ns/parted-partition-3', 'direct', producer => 'p', sequence_id => 1) IS NOT NULL AS stored;

-- turned off, duplicates are stored again
SELECT pulsar.set_deduplication('dd/ns', false);
SELECT pulsar.send('dd/ns/orders', 'dup allowed', producer => 'p1', sequence_id => 1) IS NOT NULL AS stored;

-- bad input
SELECT pulsar.set_deduplication('dd/nothing', true);
SELECT pulsar.set_deduplication('nobody/ns', true);
SELECT pulsar.set_deduplication('dd', true);
SELECT pulsar.set_deduplication(NULL, true);
SELECT pulsar.set_deduplication('dd/ns', NULL);
