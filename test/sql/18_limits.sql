-- Limits and small errors: pulsar_pg.max_message_size bounds the whole
-- message; receive and subscribe refuse intervals out of range; ack takes
-- a message id written as an untyped literal
\set VERBOSITY default
SELECT pulsar.create_topic('limits17');

-- payload, key and properties count together
SET pulsar_pg.max_message_size = '1kB';
SELECT pulsar.send('limits17', repeat('p', 1000), key => repeat('k', 25));
SELECT pulsar.send('limits17', 'small', key => repeat('k', 2000));
SELECT pulsar.send('limits17', 'small'::bytea,
                   properties => jsonb_build_object('big', repeat('x', 2000)));
SELECT pulsar.send('limits17', '{"a": 1}'::jsonb,
                   properties => jsonb_build_object('big', repeat('x', 2000)));
SELECT count(*) FROM pulsar.send_batch('limits17', ARRAY['a', 'b'],
                                       keys => ARRAY['k', repeat('k', 1024)]);
SELECT count(*) FROM pulsar.send_batch('limits17', ARRAY['a', 'b'],
                                       properties => ARRAY[NULL, jsonb_build_object('big', repeat('x', 2000))]);
-- the payload alone is reported as before
SELECT pulsar.send('limits17', repeat('p', 1025));
-- exactly the limit is accepted
SELECT pulsar.send('limits17', repeat('p', 1000), key => repeat('k', 24)) IS NOT NULL AS sent;
-- nothing of the refused sends was stored
SELECT count(*) FROM pulsar.read('limits17', 'earliest', 100);
RESET pulsar_pg.max_message_size;

-- intervals: out of range is an error, not a wrapped-around negative value
SELECT pulsar.subscribe('limits17', 'sub', 'shared', 'earliest') ~ '^pulsar_sub_' AS subscribed;
SELECT * FROM pulsar.receive('limits17', 'sub', 1, timeout => '300000 years');
SELECT * FROM pulsar.receive('limits17', 'sub', 1, timeout => '106751992 days');
SELECT * FROM pulsar.receive('limits17', 'sub', 1, timeout => '-1 s');
-- the longest timeout is accepted (and returns at once with a message)
SELECT message_id::text AS big_id
  FROM pulsar.receive('limits17', 'sub', 1, timeout => '106751991 days') \gset
SELECT pulsar.subscribe('limits17', 'sub', 'shared', negative_ack_delay => '300000 years');
SELECT pulsar.subscribe('limits17', 'sub', 'shared', ack_timeout => '300000 years');
SELECT pulsar.subscribe('limits17', 'sub', 'shared', negative_ack_delay => '-300000 years');

-- ack with untyped literals: one id, or an array of them
SELECT count(*) FROM pulsar.send_batch('limits17', ARRAY['l1', 'l2', 'l3', 'l4', 'l5']);
CREATE TEMP TABLE got17 AS
SELECT message_id, convert_from(payload, 'UTF8') AS payload
  FROM pulsar.receive('limits17', 'sub', 10);
SELECT payload FROM got17 ORDER BY message_id;
SELECT message_id::text AS l1_id FROM got17 WHERE payload = 'l1' \gset
SELECT array_agg(message_id ORDER BY message_id)::text AS l2_l3_ids
  FROM got17 WHERE payload IN ('l2', 'l3') \gset
SELECT message_id::text AS l4_id FROM got17 WHERE payload = 'l4' \gset
SELECT pulsar.ack('limits17', 'sub', :'l1_id');
SELECT pulsar.ack('limits17', 'sub', :'l2_l3_ids');
SELECT pulsar.ack('limits17', 'sub', message_id => :'l4_id');
SELECT pulsar.ack('limits17', 'sub', 'not an id');
-- typed arguments go to the overloads of their types, as before
SELECT pulsar.ack('limits17', 'sub', message_id) FROM got17 WHERE payload = 'l5';
SELECT pulsar.ack('limits17', 'sub', ARRAY[:'big_id'::pulsar.message_id]);
SELECT (pulsar.topic_stats('limits17') #> '{subscriptions,sub,msgBacklog}')::int AS backlog;
-- nack and seek have one candidate for a literal, or one of type text
SELECT pulsar.nack('limits17', 'sub', '{}');
SELECT pulsar.seek('limits17', 'sub', 'earliest');

SELECT pulsar.close_consumer('limits17', 'sub');
SELECT pulsar.unsubscribe('limits17', 'sub');
SELECT pulsar.delete_topic('limits17');
