-- Tenants, namespaces and topics: names, creation, deletion
\set VERBOSITY default

-- public/default exists after CREATE EXTENSION
SELECT tenant, name FROM pulsar.namespace ORDER BY 1, 2;

-- tenants
SELECT pulsar.create_tenant('acme');
SELECT pulsar.create_tenant('acme');
SELECT pulsar.create_tenant('bad name');
SELECT pulsar.create_tenant('');
SELECT pulsar.create_tenant(NULL);
SELECT pulsar.create_tenant(repeat('t', 65));
SELECT pulsar.create_tenant('a/b');

-- namespaces are named tenant/namespace, in an existing tenant
SELECT pulsar.create_namespace('acme/orders');
SELECT pulsar.create_namespace('acme/orders');
SELECT pulsar.create_namespace('nobody/orders');
SELECT pulsar.create_namespace('acme');
SELECT pulsar.create_namespace('acme/a/b');
SELECT pulsar.create_namespace('/orders');
SELECT pulsar.create_namespace('acme/');
SELECT pulsar.create_namespace('acme/ord ers');
SELECT pulsar.create_namespace(NULL);
SELECT tenant, name FROM pulsar.namespace ORDER BY 1, 2;

-- the three forms of a topic name
SELECT pulsar.create_topic('persistent://acme/orders/created');
SELECT pulsar.create_topic('acme/orders/shipped');
SELECT pulsar.create_topic('events');
SELECT pulsar.create_topic('Mixed_Case-name=1:2.3');
SELECT pulsar.create_topic('acme/orders/created');
SELECT pulsar.create_topic('persistent://public/default/events');

-- partitioned topics
SELECT pulsar.create_topic('acme/orders/partitioned', 4);
SELECT partitions FROM pulsar.topic WHERE name = 'partitioned';
SELECT partition_index FROM pulsar.ledger l JOIN pulsar.topic t USING (topic_id)
 WHERE t.name = 'partitioned' ORDER BY 1;
SELECT pulsar.create_topic('neg', -1);
SELECT pulsar.create_topic('huge', 1025);
SELECT pulsar.create_topic('nullparts', NULL);
SELECT pulsar.create_topic('x-partition-0');
SELECT pulsar.create_topic('x-partition-');
SELECT pulsar.create_topic('-partition-1');

-- bad topic names
SELECT pulsar.create_topic(NULL);
SELECT pulsar.create_topic('');
SELECT pulsar.create_topic('has space');
SELECT pulsar.create_topic('tópico');
SELECT pulsar.create_topic('a/b');
SELECT pulsar.create_topic('a/b/c/d');
SELECT pulsar.create_topic('persistent://events');
SELECT pulsar.create_topic('persistent:///default/x');
SELECT pulsar.create_topic('non-persistent://public/default/x');
SELECT pulsar.create_topic(repeat('n', 256));
SELECT pulsar.create_topic(repeat('n', 255)) = 'persistent://public/default/' || repeat('n', 255);
SELECT pulsar.create_topic('nobody/orders/x');
SELECT pulsar.create_topic('acme/nothing/x');

-- nothing was left behind by the failures
SELECT tenant, namespace, name, partitions FROM pulsar.topic
 WHERE length(name) < 100 ORDER BY 1, 2, 3;

-- deleting
SELECT pulsar.delete_topic('events');
SELECT pulsar.delete_topic('events');
SELECT pulsar.delete_topic('acme/orders/partitioned-partition-1');
SELECT pulsar.delete_topic('acme/orders/partitioned', NULL);
SELECT pulsar.delete_topic('acme/orders/partitioned');
SELECT count(*) FROM pulsar.ledger l LEFT JOIN pulsar.topic t USING (topic_id)
 WHERE t.topic_id IS NULL;
SELECT count(*) AS segment_tables_left FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'pulsar_data' AND c.relkind = 'r'
   AND NOT EXISTS (SELECT 1 FROM pulsar.segment s
                    WHERE c.relname = format('ledger_%s_%s', s.ledger_id, s.segment_no));

-- a topic with subscriptions is deleted only with force
INSERT INTO pulsar.subscription (topic_id, name, type)
SELECT topic_id, 'audit', 'exclusive' FROM pulsar.topic WHERE name = 'shipped';
SELECT pulsar.delete_topic('acme/orders/shipped');
SELECT pulsar.delete_topic('acme/orders/shipped', force => true);
SELECT count(*) FROM pulsar.subscription;

-- deleting inside a transaction that rolls back keeps the topic and its data
SELECT pulsar.send('acme/orders/created', 'kept') IS NOT NULL AS sent;
BEGIN;
SELECT pulsar.delete_topic('acme/orders/created');
ROLLBACK;
SELECT convert_from(payload, 'UTF8') FROM pulsar.read('acme/orders/created', 'earliest');

-- auto-creation on first send: only the topic, never its namespace
SELECT pulsar.entry_id(pulsar.send('auto', 'first'));
SELECT name, partitions FROM pulsar.topic WHERE name = 'auto';
SELECT pulsar.send('acme/unknown/auto', 'x');
SELECT pulsar.send('unknown/ns/auto', 'x');
SET pulsar_pg.allow_auto_topic_creation = off;
SELECT pulsar.send('not_created', 'x');
SELECT pulsar.send('auto', 'existing topics still work') IS NOT NULL AS sent;
RESET pulsar_pg.allow_auto_topic_creation;
-- a partition name is never auto-created
SELECT pulsar.send('nothing-partition-0', 'x');
SELECT count(*) FROM pulsar.topic WHERE name IN ('not_created', 'nothing');

-- partitions are addressed as name-partition-N
SELECT pulsar.create_topic('parts', 2);
SELECT pulsar.partition_index(pulsar.send('parts-partition-1', 'to one'));
SELECT pulsar.send('parts-partition-2', 'x');
SELECT pulsar.send('auto-partition-0', 'x');
SELECT convert_from(payload, 'UTF8'), topic FROM pulsar.read('parts-partition-1', 'earliest');
SELECT * FROM pulsar.read('parts', 'earliest');

-- listing topics, of all namespaces or of one
SELECT * FROM pulsar.list_topics('acme/orders');
SELECT count(*) > 0 AS some FROM pulsar.list_topics() WHERE topic LIKE 'persistent://public/default/%';
SELECT * FROM pulsar.list_topics('acme/nothing');
SELECT * FROM pulsar.list_topics('nothing');
