-- Subscriptions a session used are kept in memory; what a transaction does
-- to subscriptions and then rolls back must not stay there
\set VERBOSITY default
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pulsar_pg;
RESET client_min_messages;
SELECT pulsar.create_topic('sub16_cache') IS NOT NULL AS created;
SELECT pulsar.send('sub16_cache', 'first') IS NOT NULL AS sent;

-- a subscription created and rolled back does not exist afterwards...
BEGIN;
SELECT pulsar.subscribe('sub16_cache', 'rolled_back', 'shared', 'earliest') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub16_cache', 'rolled_back', 10);
ROLLBACK;
SELECT count(*) FROM pulsar.receive('sub16_cache', 'rolled_back', 10);
-- ... and can be created again, for real
SELECT pulsar.subscribe('sub16_cache', 'rolled_back', 'shared', 'earliest') IS NOT NULL AS subscribed;
SELECT convert_from(payload, 'UTF8') FROM pulsar.receive('sub16_cache', 'rolled_back', 10);

-- a change of settings rolled back leaves the settings as they were: the
-- consumer holds one message, and a limit of one rolled back lets it get
-- the next
SELECT pulsar.send('sub16_cache', 'second') IS NOT NULL AS sent;
BEGIN;
SELECT pulsar.subscribe('sub16_cache', 'rolled_back', 'shared', max_unacked_messages => 1) IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub16_cache', 'rolled_back', 10);
ROLLBACK;
SELECT convert_from(payload, 'UTF8') FROM pulsar.receive('sub16_cache', 'rolled_back', 10);
-- committed, it holds
SELECT pulsar.send('sub16_cache', 'third') IS NOT NULL AS sent;
SELECT pulsar.subscribe('sub16_cache', 'rolled_back', 'shared', max_unacked_messages => 1) IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub16_cache', 'rolled_back', 10);

-- a transaction that changed subscriptions cannot be prepared: other
-- sessions would not learn of the change when it commits
BEGIN;
SELECT pulsar.subscribe('sub16_cache', 'prepared', 'shared') IS NOT NULL AS subscribed;
PREPARE TRANSACTION 'pulsar_subscription_prepare';
SELECT count(*) FROM pg_prepared_xacts;
SELECT count(*) FROM pulsar.subscription WHERE name = 'prepared';

SELECT pulsar.close_consumer('sub16_cache', 'rolled_back');
SELECT pulsar.unsubscribe('sub16_cache', 'rolled_back');
SELECT pulsar.delete_topic('sub16_cache');
