-- DROP EXTENSION takes every topic's storage with it; a new one starts afresh
\set VERBOSITY default
SELECT count(*) > 0 AS has_segments FROM pg_tables WHERE schemaname = 'pulsar_data';
DROP EXTENSION pulsar_pg;
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('pulsar', 'pulsar_data');
SELECT count(*) FROM pg_namespace WHERE nspname = 'pulsar_data';

CREATE EXTENSION pulsar_pg;
-- ledger ids start again, and so do positions: nothing of the old state remains
SELECT pulsar.send('fresh', 'first');
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.read('fresh', 'earliest');
