-- Users work through the functions; the tables are the extension's own
\set VERBOSITY default
CREATE ROLE pulsar_app;
SET ROLE pulsar_app;

-- producing and reading are open to all, including auto-creation
SELECT pulsar.send('app_topic', 'from app') IS NOT NULL AS sent;
SELECT convert_from(payload, 'UTF8') FROM pulsar.read('app_topic', 'earliest');
-- so is listing topics
SELECT * FROM pulsar.list_topics('public/default') WHERE topic LIKE '%app_topic';

-- administration needs a superuser or an admin of the tenant
SELECT pulsar.create_topic('app_created');
SELECT pulsar.delete_topic('app_topic');
SELECT pulsar.create_tenant('app');
SELECT pulsar.set_deduplication('public/default', true);

-- no direct access to catalog or messages
SELECT count(*) FROM pulsar.topic;
SELECT count(*) FROM pulsar.segment_template;
SELECT format('pulsar_data.ledger_%s_0', ledger_id) AS segment
  FROM (SELECT pulsar.ledger_id(pulsar.send('app_topic', 'x')) AS ledger_id) s \gset
\set VERBOSITY terse
SELECT count(*) FROM :segment;
\set VERBOSITY default
INSERT INTO pulsar.tenant (name) VALUES ('sneaky');

RESET ROLE;
SELECT pulsar.update_tenant('public', ARRAY['pulsar_app']);
SET ROLE pulsar_app;
SELECT pulsar.create_topic('app_created', 2);
RESET ROLE;
SELECT pulsar.update_tenant('public', '{}');
DROP ROLE pulsar_app;

-- catalog SQL does not follow the caller's search_path
CREATE SCHEMA shadow;
CREATE TABLE shadow.topic (topic_id bigint, tenant text, namespace text, name text, partitions int);
SET search_path = shadow, public;
SELECT pulsar.send('shadowed', 'x') IS NOT NULL AS sent;
SELECT count(*) FROM shadow.topic;
SELECT count(*) FROM pulsar.topic WHERE name = 'shadowed';
RESET search_path;
DROP SCHEMA shadow CASCADE;
