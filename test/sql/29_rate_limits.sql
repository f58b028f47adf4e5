-- Publish and dispatch rates: a call over the rate waits, up to
-- pulsar_pg.rate_limit_timeout, then fails clearly; topic_stats counts
-- the throttling.  Timing checks are lower bounds that hold by
-- construction (a call booked behind a second of traffic cannot return
-- sooner), never upper bounds, which a busy machine would break; refusals
-- are of waits of seconds against timeouts of at most one.
\set VERBOSITY default
\i test/include/error_of.sql
-- the wait in an error's detail varies: masked
CREATE FUNCTION pg_temp.rate_error_of(command text) RETURNS SETOF text
LANGUAGE sql AS $$
	SELECT regexp_replace(e, 'would wait [0-9]+ ms', 'would wait N ms')
	  FROM pg_temp.error_of(command) e
$$;
SELECT pulsar.create_tenant('rate');
SELECT pulsar.create_namespace('rate/ns');
SELECT pulsar.create_topic('rate/ns/pub');

-- publish rate in messages: a second's worth goes at once, then the rate
SELECT pulsar.set_publish_rate('rate/ns/pub', 10, NULL);
SET pulsar_pg.rate_limit_timeout = '100ms';
SELECT count(*) FROM pulsar.send_batch('rate/ns/pub', array_fill('m'::text, ARRAY[10]));
-- a second is booked: 20 more would wait two seconds, over the timeout
SELECT pg_temp.rate_error_of($$SELECT count(*) FROM pulsar.send_batch('rate/ns/pub', array_fill('m'::text, ARRAY[20]))$$);
-- one more waits at most 100 ms: within the timeout
SELECT pg_temp.rate_error_of($$SELECT pulsar.send('rate/ns/pub', 'one more')$$);
-- nothing of the refused send was stored
SELECT count(*) FROM pulsar.read('rate/ns/pub', 'earliest', 100);
SELECT (pulsar.topic_stats('rate/ns/pub')->>'publishRateLimitedTimes')::int >= 1 AS throttled;
-- with a longer timeout a send waits its turn, then goes: 20 messages
-- behind at least a second booked wait at least a second
SET pulsar_pg.rate_limit_timeout = '30s';
DO $$
DECLARE
	started timestamptz := clock_timestamp();
BEGIN
	PERFORM pulsar.send_batch('rate/ns/pub', array_fill('w'::text, ARRAY[20]));
	RAISE NOTICE 'waited at least a second: %',
		clock_timestamp() - started >= interval '1 second';
END
$$;
SELECT count(*) FROM pulsar.read('rate/ns/pub', 'earliest', 100);
-- a rate of 0 (or NULL) is no rate: nothing waits
SELECT pulsar.set_publish_rate('rate/ns/pub', 0, NULL);
SET pulsar_pg.rate_limit_timeout = 0;
SELECT count(*) FROM pulsar.send_batch('rate/ns/pub', array_fill('f'::text, ARRAY[100]));

-- publish rate in bytes (payload, key and properties), set on the namespace
SELECT pulsar.create_topic('rate/ns/bytes');
SELECT pulsar.set_publish_rate('rate/ns', NULL, 1000);
SELECT pulsar.send('rate/ns/bytes', repeat('b', 1000)) IS NOT NULL AS sent;
SELECT pg_temp.rate_error_of($$SELECT pulsar.send('rate/ns/bytes', repeat('b', 1000), key => 'k')$$);
-- a message larger than a second's worth plus the timeout can never go
SET pulsar_pg.rate_limit_timeout = '1s';
SELECT pg_temp.rate_error_of($$SELECT pulsar.send('rate/ns/bytes', repeat('b', 5000))$$);
SELECT pulsar.remove_policy('rate/ns', 'publish_rate');
SELECT pulsar.send('rate/ns/bytes', repeat('b', 5000)) IS NOT NULL AS sent;

-- dispatch rate of each subscription, in messages
SELECT pulsar.create_topic('rate/ns/out');
SELECT count(*) FROM pulsar.send_batch('rate/ns/out', array_fill(repeat('d', 100), ARRAY[30]));
SELECT pulsar.subscribe('rate/ns/out', 'one', 'exclusive', 'earliest', consumer => 'c') IS NOT NULL,
       pulsar.subscribe('rate/ns/out', 'two', 'shared', 'earliest', consumer => 'c') IS NOT NULL;
SELECT pulsar.set_dispatch_rate('rate/ns/out', 1, NULL);
SET pulsar_pg.rate_limit_timeout = 0;
-- one message per second, a second's worth at once
SELECT count(*) FROM pulsar.receive('rate/ns/out', 'one', 100, consumer => 'c');
SELECT pg_temp.rate_error_of($$SELECT count(*) FROM pulsar.receive('rate/ns/out', 'one', 100, consumer => 'c')$$);
-- the other subscription has its own rate
SELECT count(*) FROM pulsar.receive('rate/ns/out', 'two', 100, consumer => 'c');
-- with a longer timeout a receive waits for the rate: one message a second
SET pulsar_pg.rate_limit_timeout = '30s';
DO $$
DECLARE
	started timestamptz;
	first int;
	second int;
BEGIN
	SELECT count(*) INTO first FROM pulsar.receive('rate/ns/out', 'one', 100, consumer => 'c');
	started := clock_timestamp();
	SELECT count(*) INTO second FROM pulsar.receive('rate/ns/out', 'one', 100, consumer => 'c');
	RAISE NOTICE 'got % and %, the second after at least half a second: %',
		first, second, clock_timestamp() - started >= interval '500 ms';
END
$$;
SELECT (pulsar.topic_stats('rate/ns/out') #>> '{subscriptions,one,dispatchThrottledMsgEventsBySubscriptionLimit}')::int >= 2 AS throttled,
       pulsar.topic_stats('rate/ns/out') #>> '{subscriptions,one,dispatchThrottledBytesEventsBySubscriptionLimit}' AS bytes_throttled;

-- dispatch rate in bytes: charged after the receive (500 bytes at 10 a
-- second), so the next receive would wait for most of a minute
SELECT pulsar.set_dispatch_rate('rate/ns/out', NULL, 10);
SET pulsar_pg.rate_limit_timeout = '1s';
SELECT count(*) FROM pulsar.receive('rate/ns/out', 'two', 5, consumer => 'c');
SELECT pg_temp.rate_error_of($$SELECT count(*) FROM pulsar.receive('rate/ns/out', 'two', 5, consumer => 'c')$$);
SELECT (pulsar.topic_stats('rate/ns/out') #>> '{subscriptions,two,dispatchThrottledBytesEventsBySubscriptionLimit}')::int >= 1 AS throttled;

-- rate state lives in shared memory and goes with its topic or subscription
SELECT entries > 0 AS in_use FROM pulsar.shared_memory_usage() WHERE area = 'rate_limits';
SELECT pulsar.close_consumer('rate/ns/out', 'two', 'c');
SELECT pulsar.unsubscribe('rate/ns/out', 'two');
SELECT pulsar.delete_topic('rate/ns/out', force => true);
SELECT pulsar.delete_topic('rate/ns/pub');
SELECT pulsar.delete_topic('rate/ns/bytes');
SELECT entries AS left_over FROM pulsar.shared_memory_usage() WHERE area = 'rate_limits';
RESET pulsar_pg.rate_limit_timeout;
