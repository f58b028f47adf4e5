-- pulsar.message_id: Pulsar's ledgerId:entryId:partitionIndex
CREATE EXTENSION pulsar_pg;

SELECT '1:2:3'::pulsar.message_id, '10:0:-1'::pulsar.message_id;
SELECT 'earliest'::pulsar.message_id, 'LATEST'::pulsar.message_id;
SELECT pulsar.ledger_id('7:8:9'), pulsar.entry_id('7:8:9'), pulsar.partition_index('7:8:9');

-- casts to and from text
SELECT '4:5:-1'::pulsar.message_id::text;
SELECT ('4:5:' || 2)::text::pulsar.message_id;

-- publish order within a partition; Pulsar's ordering across ledgers
SELECT id FROM unnest(ARRAY['2:10:-1', '2:9:-1', '1:100:-1', 'earliest', '2:10:0']::pulsar.message_id[]) id
ORDER BY id;
-- the operators live in schema pulsar
SELECT '1:2:3'::pulsar.message_id OPERATOR(pulsar.<) '1:3:0';
SET search_path = public, pulsar;
SELECT '1:2:3'::pulsar.message_id < '1:3:0', '1:2:3'::pulsar.message_id = '1:2:3',
       '1:2:3'::pulsar.message_id <> '1:2:4', '2:0:0'::pulsar.message_id > '1:9:9',
       '1:2:3'::pulsar.message_id >= '1:2:3', '1:2:3'::pulsar.message_id <= '1:2:2';

-- hashing and sorting agree with equality
SELECT count(DISTINCT id) FROM unnest(ARRAY['1:2:3', '1:2:3', '1:2:4']::pulsar.message_id[]) id;
SET enable_sort = off;
SELECT id, count(*) FROM unnest(ARRAY['1:2:3', '1:2:3', '1:2:4']::pulsar.message_id[]) id
GROUP BY id ORDER BY id;
RESET enable_sort;

RESET search_path;

-- binary form: two int8 and an int4, network byte order
SELECT pulsar.message_id_send('3:4:5');

-- bad input
SELECT ''::pulsar.message_id;
SELECT '1:2'::pulsar.message_id;
SELECT '1:2:3:4'::pulsar.message_id;
SELECT 'a:b:c'::pulsar.message_id;
SELECT '1:2:99999999999'::pulsar.message_id;
SELECT '99999999999999999999:0:0'::pulsar.message_id;
SELECT '-2:0:0'::pulsar.message_id;
SELECT '1: 2:3'::pulsar.message_id;
