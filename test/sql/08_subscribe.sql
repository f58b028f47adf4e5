-- pulsar.subscribe, channel, close_consumer and unsubscribe
\set VERBOSITY default
\i test/include/error_of.sql

SELECT pulsar.create_topic('sub08_orders');
SELECT count(*) FROM pulsar.send_batch('sub08_orders', ARRAY['o0', 'o1', 'o2']);

-- every type; the channel is pulsar_sub_<128 bits of hex> and is what channel() tells
SELECT pulsar.subscribe('sub08_orders', 'excl') AS channel \gset
SELECT :'channel' ~ '^pulsar_sub_[0-9a-f]{32}$' AS channel_form,
       :'channel' = pulsar.channel('sub08_orders', 'excl') AS same_as_channel;
SELECT pulsar.subscribe('sub08_orders', 'fail', 'failover') AS channel \gset
SELECT :'channel' ~ '^pulsar_sub_[0-9a-f]{32}$' AS channel_form,
       :'channel' = pulsar.channel('sub08_orders', 'fail') AS same_as_channel;
SELECT pulsar.subscribe('sub08_orders', 'shr', type => 'shared') AS channel \gset
SELECT :'channel' ~ '^pulsar_sub_[0-9a-f]{32}$' AS channel_form,
       :'channel' = pulsar.channel('sub08_orders', 'shr') AS same_as_channel;
SELECT pulsar.subscribe('sub08_orders', 'kshr', type => 'key_shared') AS channel \gset
SELECT :'channel' ~ '^pulsar_sub_[0-9a-f]{32}$' AS channel_form,
       :'channel' = pulsar.channel('sub08_orders', 'kshr') AS same_as_channel;
-- each subscription has its own channel
SELECT count(DISTINCT pulsar.channel('sub08_orders', s)) AS channels
  FROM unnest(ARRAY['excl', 'fail', 'shr', 'kshr']) s;
SELECT s.key AS subscription, s.value->>'type' AS type,
       jsonb_array_length(s.value->'consumers') AS consumers
  FROM jsonb_each(pulsar.topic_stats('sub08_orders')->'subscriptions') s
 ORDER BY 1;
-- the full topic name and its short forms name the same subscription
SELECT pulsar.channel('persistent://public/default/sub08_orders', 'excl') =
       pulsar.channel('public/default/sub08_orders', 'excl') AS same_subscription;

-- initial position: latest (the default) starts after what is published now
SELECT pulsar.subscribe('sub08_orders', 'from_latest') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub08_orders', 'from_latest', 10);
SELECT pulsar.entry_id(pulsar.send('sub08_orders', 'o3'));
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub08_orders', 'from_latest', 10);
-- earliest starts at the first message
SELECT pulsar.subscribe('sub08_orders', 'from_earliest', initial_position => 'earliest')
       IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub08_orders', 'from_earliest', 10);
-- the initial position only matters when the subscription is created
SELECT pulsar.subscribe('sub08_orders', 'from_latest', initial_position => 'earliest')
       IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.receive('sub08_orders', 'from_latest', 10);

-- subscribing again is idempotent: same channel, still one consumer
SELECT pulsar.subscribe('sub08_orders', 'excl') = pulsar.channel('sub08_orders', 'excl')
       AS same_channel;
SELECT pulsar.subscribe('sub08_orders', 'excl') = pulsar.channel('sub08_orders', 'excl')
       AS same_channel;
SELECT jsonb_array_length(pulsar.topic_stats('sub08_orders')->'subscriptions'->'excl'->'consumers')
       AS consumers;

-- an exclusive subscription takes one consumer
SELECT pg_temp.error_of($$SELECT pulsar.subscribe('sub08_orders', 'excl', consumer => 'second')$$);
SELECT pulsar.subscribe('sub08_orders', 'excl_named', consumer => 'first') IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub08_orders', 'excl_named', consumer => 'first') IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub08_orders', 'excl_named', consumer => 'second');
SELECT pulsar.subscribe('sub08_orders', 'excl_named');
SELECT pulsar.close_consumer('sub08_orders', 'excl_named', 'first');
SELECT pulsar.unsubscribe('sub08_orders', 'excl_named');
SELECT jsonb_array_length(pulsar.topic_stats('sub08_orders')->'subscriptions'->'excl'->'consumers')
       AS consumers;
-- a failover or shared one takes several, named or not
SELECT pulsar.subscribe('sub08_orders', 'fail', 'failover', consumer => 'fail-b', priority => 1)
       IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub08_orders', 'shr', 'shared', consumer => 'worker-1')
       IS NOT NULL AS subscribed;
SELECT pulsar.subscribe('sub08_orders', 'shr', 'shared', consumer => 'worker-2')
       IS NOT NULL AS subscribed;
SELECT c->>'consumerName' LIKE 'session-%' AS session_consumer,
       CASE WHEN c->>'consumerName' LIKE 'session-%' THEN NULL
            ELSE c->>'consumerName' END AS name,
       c->>'priorityLevel' AS priority
  FROM jsonb_array_elements(pulsar.topic_stats('sub08_orders')->'subscriptions'->'fail'->'consumers') c;
SELECT c->>'consumerName' LIKE 'session-%' AS session_consumer,
       CASE WHEN c->>'consumerName' LIKE 'session-%' THEN NULL
            ELSE c->>'consumerName' END AS name
  FROM jsonb_array_elements(pulsar.topic_stats('sub08_orders')->'subscriptions'->'shr'->'consumers') c
 ORDER BY 2 NULLS FIRST;

-- the type cannot change while another consumer is connected...
SELECT pulsar.subscribe('sub08_orders', 'shr', 'exclusive');
SELECT pulsar.subscribe('sub08_orders', 'shr', 'failover', consumer => 'worker-1');
SELECT pulsar.topic_stats('sub08_orders')->'subscriptions'->'shr'->>'type' AS type;
-- ...and can once the others are closed
SELECT pulsar.close_consumer('sub08_orders', 'shr', 'worker-1');
SELECT pulsar.close_consumer('sub08_orders', 'shr', 'worker-2');
SELECT pulsar.subscribe('sub08_orders', 'shr', 'key_shared') IS NOT NULL AS subscribed;
SELECT pulsar.topic_stats('sub08_orders')->'subscriptions'->'shr'->>'type' AS type;
-- or when nobody is connected at all
SELECT pulsar.close_consumer('sub08_orders', 'shr');
SELECT jsonb_array_length(pulsar.topic_stats('sub08_orders')->'subscriptions'->'shr'->'consumers')
       AS consumers;
SELECT pulsar.subscribe('sub08_orders', 'shr', 'exclusive', consumer => 'solo') IS NOT NULL AS subscribed;
SELECT pulsar.topic_stats('sub08_orders')->'subscriptions'->'shr'->>'type' AS type;
SELECT pulsar.close_consumer('sub08_orders', 'shr', 'solo');

-- named consumers receive by name; a name that is not attached cannot receive
SELECT pulsar.subscribe('sub08_orders', 'named', 'shared', 'earliest', consumer => 'alpha')
       IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8')
  FROM pulsar.receive('sub08_orders', 'named', 2, consumer => 'alpha');
SELECT * FROM pulsar.receive('sub08_orders', 'named', 2, consumer => 'beta');
-- this session is not a consumer of it either
SELECT pg_temp.error_of($$SELECT * FROM pulsar.receive('sub08_orders', 'named', 2)$$);

-- close_consumer: this session's own consumer, a named one, an unknown one
SELECT pulsar.close_consumer('sub08_orders', 'excl');
SELECT pg_temp.error_of($$SELECT pulsar.close_consumer('sub08_orders', 'excl')$$);
SELECT pg_temp.error_of($$SELECT * FROM pulsar.receive('sub08_orders', 'excl')$$);
SELECT pulsar.close_consumer('sub08_orders', 'fail', 'fail-b');
SELECT pulsar.close_consumer('sub08_orders', 'fail', 'nobody');
SELECT pulsar.close_consumer('sub08_orders', 'no_such_subscription');
SELECT pulsar.close_consumer('sub08_orders', 'fail', 'bad name');
-- now the exclusive subscription takes a named consumer
SELECT pulsar.subscribe('sub08_orders', 'excl', consumer => 'second') IS NOT NULL AS subscribed;
SELECT pulsar.close_consumer('sub08_orders', 'excl', 'second');

-- unsubscribe: refused while another consumer is connected
SELECT pulsar.unsubscribe('sub08_orders', 'named');
SELECT pulsar.channel('sub08_orders', 'named') IS NOT NULL AS still_there;
SELECT pulsar.close_consumer('sub08_orders', 'named', 'alpha');
SELECT pulsar.unsubscribe('sub08_orders', 'named');
SELECT pulsar.channel('sub08_orders', 'named');
-- with only this session's consumer it goes, consumer and all
SELECT pulsar.unsubscribe('sub08_orders', 'kshr');
SELECT * FROM pulsar.receive('sub08_orders', 'kshr');
SELECT pulsar.unsubscribe('sub08_orders', 'kshr');
-- a new subscription of the same name starts afresh, at its initial position
SELECT pulsar.subscribe('sub08_orders', 'kshr', 'key_shared', 'earliest') IS NOT NULL AS subscribed;
SELECT pulsar.entry_id(message_id), convert_from(payload, 'UTF8'), redelivery_count
  FROM pulsar.receive('sub08_orders', 'kshr', 10);
SELECT pulsar.unsubscribe('sub08_orders', 'kshr');
-- an unsubscribe that rolls back leaves the subscription
BEGIN;
SELECT pulsar.unsubscribe('sub08_orders', 'fail');
ROLLBACK;
SELECT pulsar.channel('sub08_orders', 'fail') IS NOT NULL AS still_there;

-- subscribing creates a missing topic, unless auto-creation is off
SELECT pulsar.subscribe('sub08_auto', 'sub') IS NOT NULL AS subscribed;
SELECT pulsar.create_topic('sub08_auto');
SET pulsar_pg.allow_auto_topic_creation = off;
SELECT pulsar.subscribe('sub08_not_auto', 'sub');
RESET pulsar_pg.allow_auto_topic_creation;
SELECT pulsar.subscribe('no_such_tenant/ns/sub08_t', 'sub');
-- the other functions never create a topic
SELECT pulsar.channel('sub08_never', 'sub');
SELECT pulsar.unsubscribe('sub08_never', 'sub');
SELECT pulsar.close_consumer('sub08_never', 'sub');
SELECT count(*) FROM pulsar.topic WHERE name = 'sub08_never';

-- a partitioned topic is subscribed whole, never one partition
SELECT pulsar.create_topic('sub08_parts', 3);
SELECT pulsar.subscribe('sub08_parts', 'whole') ~ '^pulsar_sub_[0-9a-f]{32}$' AS channel_form;
SELECT pulsar.subscribe('sub08_parts-partition-1', 'one');
SELECT pulsar.channel('sub08_parts-partition-1', 'whole');
SELECT pulsar.subscribe('sub08_parts-partition-7', 'one');

-- delete_topic refuses a topic with subscriptions unless forced
SELECT pulsar.delete_topic('sub08_auto');
SELECT count(*) FROM pulsar.send_batch('sub08_auto', ARRAY['a0', 'a1', 'a2']);
SELECT pulsar.subscribe('sub08_auto', 'busy', 'shared', 'earliest') IS NOT NULL AS subscribed;
SELECT pulsar.ack('sub08_auto', 'busy', message_id)
  FROM pulsar.receive('sub08_auto', 'busy', 2) WHERE pulsar.entry_id(message_id) = 1;
SELECT array_agg(subscription_id) AS auto_subscriptions FROM pulsar.subscription
 WHERE topic_id = (SELECT topic_id FROM pulsar.topic WHERE name = 'sub08_auto') \gset
SELECT pulsar.delete_topic('sub08_auto');
SELECT pulsar.delete_topic('sub08_auto', force => true);
-- forcing takes the subscriptions' cursors, acks and consumers with them
SELECT (SELECT count(*) FROM pulsar.subscription WHERE subscription_id = ANY (:'auto_subscriptions')) AS subscriptions,
       (SELECT count(*) FROM pulsar.cursor WHERE subscription_id = ANY (:'auto_subscriptions')) AS cursors,
       (SELECT count(*) FROM pulsar.acked_range WHERE subscription_id = ANY (:'auto_subscriptions')) AS acked_ranges,
       (SELECT count(*) FROM pulsar.pending WHERE subscription_id = ANY (:'auto_subscriptions')) AS pending,
       (SELECT count(*) FROM pulsar.consumer WHERE subscription_id = ANY (:'auto_subscriptions')) AS consumers;
SELECT pulsar.channel('sub08_auto', 'sub');
SELECT pulsar.subscribe('sub08_auto', 'sub') IS NOT NULL AS subscribed_again;
SELECT pulsar.delete_topic('sub08_auto', true);

-- bad subscription and consumer names
SELECT pulsar.subscribe('sub08_orders', '');
SELECT pulsar.subscribe('sub08_orders', 'has space');
SELECT pulsar.subscribe('sub08_orders', 'a/b');
SELECT pulsar.subscribe('sub08_orders', repeat('s', 256));
SELECT pulsar.subscribe('sub08_orders', repeat('s', 255)) IS NOT NULL AS longest_name_ok;
SELECT pulsar.unsubscribe('sub08_orders', repeat('s', 255));
SELECT pulsar.subscribe('sub08_orders', 'ok', consumer => '');
SELECT pulsar.subscribe('sub08_orders', 'ok', consumer => 'bad consumer');
SELECT pulsar.subscribe('sub08_orders', 'ok', consumer => repeat('c', 256));
SELECT pulsar.channel('sub08_orders', 'bad name');
SELECT pulsar.unsubscribe('sub08_orders', 'bad name');
SELECT pulsar.subscribe('bad topic', 'ok');
-- unknown type and initial position
SELECT pulsar.subscribe('sub08_orders', 'ok', 'Exclusive');
SELECT pulsar.subscribe('sub08_orders', 'ok', 'round_robin');
SELECT pulsar.subscribe('sub08_orders', 'ok', 'shared', 'middle');
SELECT pulsar.subscribe('sub08_orders', 'ok', 'shared', 'EARLIEST');
-- NULL arguments
SELECT pulsar.subscribe(NULL, 'ok');
SELECT pulsar.subscribe('sub08_orders', NULL);
SELECT pulsar.subscribe('sub08_orders', 'ok', NULL);
SELECT pulsar.subscribe('sub08_orders', 'ok', 'shared', NULL);
SELECT pulsar.subscribe('sub08_orders', 'ok', priority => NULL);
SELECT pulsar.subscribe('sub08_orders', 'ok', negative_ack_delay => NULL);
SELECT pulsar.subscribe('sub08_orders', 'ok', max_unacked_messages => NULL);
SELECT pulsar.channel(NULL, 'ok');
SELECT pulsar.channel('sub08_orders', NULL);
SELECT pulsar.unsubscribe(NULL, 'ok');
SELECT pulsar.unsubscribe('sub08_orders', NULL);
SELECT pulsar.close_consumer(NULL, 'ok');
SELECT pulsar.close_consumer('sub08_orders', NULL);
-- bad policies
SELECT pulsar.subscribe('sub08_orders', 'ok', negative_ack_delay => '-1 second');
SELECT pulsar.subscribe('sub08_orders', 'ok', ack_timeout => '0');
SELECT pulsar.subscribe('sub08_orders', 'ok', ack_timeout => '-5 seconds');
SELECT pulsar.subscribe('sub08_orders', 'ok', max_redeliver_count => 0);
SELECT pulsar.subscribe('sub08_orders', 'ok', max_redeliver_count => -3);
SELECT pulsar.subscribe('sub08_orders', 'ok', dead_letter_topic => 'sub08_dlq');
SELECT pulsar.subscribe('sub08_orders', 'ok', max_redeliver_count => 2,
                        dead_letter_topic => 'bad topic');
SELECT pulsar.subscribe('sub08_orders', 'ok', max_unacked_messages => -1);
-- none of the refused calls left a subscription behind
SELECT s.key AS subscription, s.value->>'type' AS type
  FROM jsonb_each(pulsar.topic_stats('sub08_orders')->'subscriptions') s
 ORDER BY 1;
-- and a bad policy on an existing subscription changes nothing
SELECT pulsar.subscribe('sub08_orders', 'fail', 'shared', max_unacked_messages => -1);
SELECT pulsar.topic_stats('sub08_orders')->'subscriptions'->'fail'->>'type' AS type;
-- valid policies are accepted, and a new subscribe replaces them
SELECT pulsar.subscribe('sub08_orders', 'policies', 'shared', negative_ack_delay => '0',
                        ack_timeout => '30 seconds', max_redeliver_count => 3,
                        dead_letter_topic => 'sub08_dlq', max_unacked_messages => 0)
       IS NOT NULL AS subscribed;
SELECT type, extract(epoch FROM negative_ack_delay) AS negative_ack_delay_s,
       extract(epoch FROM ack_timeout) AS ack_timeout_s, max_redeliver_count,
       dead_letter_topic, max_unacked_messages
  FROM pulsar.subscription WHERE name = 'policies';
SELECT pulsar.subscribe('sub08_orders', 'policies', 'shared') IS NOT NULL AS subscribed;
SELECT type, extract(epoch FROM negative_ack_delay) AS negative_ack_delay_s,
       extract(epoch FROM ack_timeout) AS ack_timeout_s, max_redeliver_count,
       dead_letter_topic, max_unacked_messages
  FROM pulsar.subscription WHERE name = 'policies';
SELECT pulsar.unsubscribe('sub08_orders', 'policies');

-- changes are refused in a read-only transaction
BEGIN READ ONLY;
SELECT pulsar.subscribe('sub08_orders', 'read_only');
ROLLBACK;
BEGIN READ ONLY;
SELECT pulsar.unsubscribe('sub08_orders', 'fail');
ROLLBACK;
BEGIN READ ONLY;
SELECT pulsar.close_consumer('sub08_orders', 'fail');
ROLLBACK;
-- channel() only reads
BEGIN READ ONLY;
SELECT pulsar.channel('sub08_orders', 'fail') ~ '^pulsar_sub_[0-9a-f]{32}$' AS channel_form;
ROLLBACK;
