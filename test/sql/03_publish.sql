-- Publishing: send and send_batch, what is stored, routing, limits
\set VERBOSITY default
SELECT pulsar.create_topic('pub');
SELECT pulsar.ledger_id(pulsar.send('pub', '\x00ff'::bytea)) AS ledger \gset

-- payloads: bytea, text and jsonb are stored as bytes (text as UTF-8)
SELECT pulsar.entry_id(pulsar.send('pub', 'plain text'));
SELECT pulsar.entry_id(pulsar.send('pub', 'ünïcödé'::text));
SELECT pulsar.entry_id(pulsar.send('pub', '{"b": 1, "a": [true]}'::jsonb));
-- a NULL payload is a tombstone
SELECT pulsar.entry_id(pulsar.send('pub', NULL::bytea));
SELECT pulsar.entry_id(pulsar.send('pub', NULL));

-- every field is stored
SELECT pulsar.entry_id(pulsar.send('pub', 'all fields',
		key => 'k1',
		properties => '{"origin": "test", "n": "1"}',
		event_time => '2026-01-02 03:04:05+00',
		deliver_at => '2030-01-01 00:00:00+00',
		producer => 'producer-1',
		sequence_id => 42));

SELECT pulsar.entry_id(message_id), payload, key, properties, event_time,
       deliver_at, producer, sequence_id, redelivery_count, topic,
       publish_time BETWEEN now() - interval '1 hour' AND clock_timestamp() AS publish_time_ok
  FROM pulsar.read('pub', 'earliest', 100);
SELECT convert_from(payload, 'UTF8') FROM pulsar.read('pub', 'earliest', 100)
 WHERE pulsar.entry_id(message_id) BETWEEN 1 AND 3;

-- message ids are in publish order and returned by send
BEGIN;
SELECT pulsar.entry_id(pulsar.send('pub', 'a')) AS first \gset
SELECT pulsar.entry_id(pulsar.send('pub', 'b')) = :first + 1 AS consecutive;
COMMIT;

-- batches: one id per payload, in order
SELECT pulsar.entry_id(id) FROM pulsar.send_batch('pub', ARRAY['\x01', '\x02', NULL]::bytea[]) id;
SELECT pulsar.entry_id(id) FROM pulsar.send_batch('pub', ARRAY['t1', 't2']) id;
SELECT pulsar.entry_id(id) FROM pulsar.send_batch('pub', ARRAY['{"x": 1}', '[2]']::jsonb[]) id;
SELECT count(*) FROM pulsar.send_batch('pub', ARRAY[]::bytea[]);
SELECT pulsar.entry_id(id) FROM pulsar.send_batch('pub', ARRAY['with', 'everything'],
		keys => ARRAY['k1', NULL],
		properties => ARRAY['{"a": "1"}', NULL]::jsonb[],
		event_times => ARRAY['2026-01-01 00:00:00+00', NULL]::timestamptz[],
		deliver_at => '2031-01-01 00:00:00+00',
		producer => 'batcher',
		sequence_ids => ARRAY[7, 8]) id;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), key, properties,
       event_time, deliver_at, producer, sequence_id
  FROM pulsar.read('pub', (:'ledger' || ':10:-1')::pulsar.message_id, 100);

-- partitioned topics: a keyed message goes where Pulsar's clients send it
SELECT pulsar.create_topic('routed', 4);
SELECT key, pulsar.partition_index(pulsar.send('routed', 'v', key => key)) AS partition,
       pulsar.partition_for_key(key, 4) AS expected
  FROM unnest(ARRAY['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'ключ']) key;
-- the same key always goes to the same partition
SELECT count(DISTINCT pulsar.partition_index(pulsar.send('routed', 'v', key => 'sticky')))
  FROM generate_series(1, 20);
-- unkeyed messages are spread round-robin over all partitions
SELECT count(DISTINCT pulsar.partition_index(pulsar.send('routed', 'v')))
  FROM generate_series(1, 8);
-- a batch: keyed messages by key, the unkeyed ones together in one partition
SELECT count(DISTINCT pulsar.partition_index(id))
  FROM pulsar.send_batch('routed', ARRAY['a', 'b', 'c', 'd']) id;
SELECT bool_and(pulsar.partition_index(id) = pulsar.partition_for_key(k, 4))
  FROM pulsar.send_batch('routed', ARRAY['a', 'b', 'c'], keys => ARRAY['alpha', 'beta', 'gamma'])
       WITH ORDINALITY AS b(id, n)
  JOIN unnest(ARRAY['alpha', 'beta', 'gamma']) WITH ORDINALITY AS k(k, n) USING (n);
-- Murmur3-32 reference values (seed 0), as Pulsar's Murmur3_32Hash computes them
SELECT pulsar.partition_for_key('hello', 2147483647) = x'248bfa47'::int AS hello,
       pulsar.partition_for_key('The quick brown fox jumps over the lazy dog', 2147483647)
         = x'2e4ff723'::int AS fox,
       pulsar.partition_for_key('', 3) AS empty;
SELECT pulsar.partition_for_key('x', 0);

-- oversized payloads
SET pulsar_pg.max_message_size = '1kB';
SELECT pulsar.send('pub', repeat('x', 1024)) IS NOT NULL AS at_limit;
SELECT pulsar.send('pub', repeat('x', 1025));
SELECT pulsar.send_batch('pub', ARRAY['small', repeat('y', 2000)]);
RESET pulsar_pg.max_message_size;
SHOW pulsar_pg.max_message_size;
-- large payloads up to the default 5 MB are stored and read back whole
SELECT pulsar.entry_id(pulsar.send('pub', decode(repeat('ab', 5 * 1024 * 1024), 'hex'))) AS big \gset
SELECT length(payload) FROM pulsar.read('pub', (:'ledger' || ':' || :big - 1 || ':-1')::pulsar.message_id, 1);
SELECT pulsar.send('pub', decode(repeat('ab', 5 * 1024 * 1024 + 1), 'hex'));

-- bad input leaves nothing behind
SELECT max(pulsar.entry_id(message_id)) AS last FROM pulsar.read('pub', 'earliest', 1000) \gset
SELECT pulsar.send(NULL, 'x');
SELECT pulsar.send('', 'x');
SELECT pulsar.send('bad name', 'x');
SELECT pulsar.send('pub', 'x', properties => '[1, 2]');
SELECT pulsar.send('pub', 'x', properties => '"text"');
SELECT pulsar.send('pub', 'x', properties => 'null');
SELECT pulsar.send('pub', 'x', sequence_id => -1);
SELECT pulsar.send_batch('pub', NULL::bytea[]);
SELECT pulsar.send_batch(NULL, ARRAY['x']);
SELECT pulsar.send_batch('pub', ARRAY['a', 'b'], keys => ARRAY['k']);
SELECT pulsar.send_batch('pub', ARRAY['a', 'b'], properties => ARRAY['{}']::jsonb[]);
SELECT pulsar.send_batch('pub', ARRAY['a', 'b'], event_times => ARRAY[now(), now(), now()]);
SELECT pulsar.send_batch('pub', ARRAY['a', 'b'], sequence_ids => ARRAY[1]);
SELECT pulsar.send_batch('pub', ARRAY[['a', 'b'], ['c', 'd']]);
SELECT pulsar.send_batch('pub', ARRAY['a', 'b'], properties => ARRAY['{}', '[]']::jsonb[]);
SELECT pulsar.send_batch('pub', ARRAY['a'], sequence_ids => ARRAY[-5]);
SELECT max(pulsar.entry_id(message_id)) = :last AS nothing_stored
  FROM pulsar.read('pub', 'earliest', 1000);
-- a send that failed does not hold readers back
SELECT pulsar.entry_id(pulsar.send('pub', 'after errors')) > :last AS sent;
SELECT convert_from(payload, 'UTF8') FROM pulsar.read('pub', 'earliest', 1000)
 WHERE pulsar.entry_id(message_id) > :last;

-- read-only transactions cannot publish
BEGIN READ ONLY;
SELECT pulsar.send('pub', 'x');
ROLLBACK;
BEGIN READ ONLY;
SELECT pulsar.send_batch('pub', ARRAY['x']);
ROLLBACK;

-- a transaction that published cannot be prepared
BEGIN;
SELECT pulsar.send('pub', 'prepared?') IS NOT NULL AS sent;
PREPARE TRANSACTION 'pulsar_prepare_test';
SELECT count(*) FROM pg_prepared_xacts;
SELECT count(*) FROM pulsar.read('pub', 'earliest', 1000)
 WHERE payload = convert_to('prepared?', 'UTF8');
