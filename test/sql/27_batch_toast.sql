-- send_batch of payloads large enough for TOAST: every message is readable
-- through the segment's primary key (a multi-insert made their index
-- entries from tuples that had not been given their location)
SELECT pulsar.create_topic('batch_toast');
SELECT count(*) FROM pulsar.send_batch('batch_toast',
  (SELECT array_agg(repeat(md5(i::text), 100)) FROM generate_series(1, 50) i));
SELECT count(*), sum(length(payload)) FROM pulsar.read('batch_toast', 'earliest', 100);
-- mixed with small ones
SELECT count(*) FROM pulsar.send_batch('batch_toast',
  (SELECT array_agg(CASE WHEN i % 2 = 0 THEN repeat('s', 10) ELSE repeat(md5(i::text), 100) END)
     FROM generate_series(1, 20) i));
SELECT count(*) FROM pulsar.read('batch_toast', 'earliest', 100);
SELECT pulsar.delete_topic('batch_toast');
