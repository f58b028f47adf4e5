-- pulsar_pg.max_receive_bytes: a receive returns once the payloads, keys
-- and properties it collected reach the limit, and always with at least
-- one message; what it left stays for the next receive, in order
\set VERBOSITY default
\i test/include/error_of.sql

SHOW pulsar_pg.max_receive_bytes;
SELECT * FROM pg_temp.error_of($$SET pulsar_pg.max_receive_bytes = 0$$);

SELECT pulsar.create_topic('sub17_bytes');
SELECT pulsar.subscribe('sub17_bytes', 'ex', 'exclusive', 'earliest') IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub17_bytes', 'sh', 'shared', 'earliest',
                        negative_ack_delay => '0') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.send_batch('sub17_bytes', array_fill(repeat('x', 400)::bytea, ARRAY[5]));

-- 400 bytes a message: the third reaches 1000 bytes
SET pulsar_pg.max_receive_bytes = 1000;
SELECT pulsar.entry_id(message_id), length(payload) FROM pulsar.receive('sub17_bytes', 'ex', 10);
SELECT pulsar.entry_id(message_id), length(payload) FROM pulsar.receive('sub17_bytes', 'ex', 10);

-- one message larger than the limit still goes out, alone
SET pulsar_pg.max_receive_bytes = 1;
SELECT pulsar.seek('sub17_bytes', 'ex', 'earliest');
SELECT pulsar.entry_id(message_id), length(payload) FROM pulsar.receive('sub17_bytes', 'ex', 10);

-- keys and properties count too
SET pulsar_pg.max_receive_bytes = 1000;
SELECT pulsar.send('sub17_bytes', 'small', key => repeat('k', 600)) AS keyed \gset
SELECT pulsar.send('sub17_bytes', 'small', properties => jsonb_build_object('p', repeat('v', 600))) IS NOT NULL AS sent;
SELECT pulsar.send('sub17_bytes', 'small') IS NOT NULL AS sent;
SELECT pulsar.seek('sub17_bytes', 'ex', :'keyed'::pulsar.message_id);
SELECT pulsar.entry_id(message_id), length(payload), length(key) FROM pulsar.receive('sub17_bytes', 'ex', 10);

-- redeliveries: a run is cut where the limit is reached, the rest stays due
RESET pulsar_pg.max_receive_bytes;
SELECT pulsar.nack('sub17_bytes', 'sh', array_agg(message_id))
  FROM pulsar.receive('sub17_bytes', 'sh', 5);
SET pulsar_pg.max_receive_bytes = 1000;
SELECT pulsar.entry_id(message_id), redelivery_count FROM pulsar.receive('sub17_bytes', 'sh', 10);
SELECT pulsar.entry_id(message_id), redelivery_count FROM pulsar.receive('sub17_bytes', 'sh', 10);
SELECT pulsar.entry_id(message_id), redelivery_count FROM pulsar.receive('sub17_bytes', 'sh', 10);
RESET pulsar_pg.max_receive_bytes;

SELECT pulsar.unsubscribe('sub17_bytes', 'ex');
SELECT pulsar.unsubscribe('sub17_bytes', 'sh');
SELECT pulsar.delete_topic('sub17_bytes');
