/* pulsar_pg 0.1.0 -> 0.2.0: durable subscriptions, consumers and consumption */

\echo Use "ALTER EXTENSION pulsar_pg UPDATE TO '0.2.0'" to load this file. \quit

--------------------------------------------------------------------------
-- min() and max() of message IDs, for cumulative acknowledgements
--------------------------------------------------------------------------

CREATE FUNCTION pulsar.message_id_larger(pulsar.message_id, pulsar.message_id)
	RETURNS pulsar.message_id
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.message_id_smaller(pulsar.message_id, pulsar.message_id)
	RETURNS pulsar.message_id
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE pulsar.max(pulsar.message_id) (
	SFUNC = pulsar.message_id_larger, STYPE = pulsar.message_id,
	SORTOP = OPERATOR(pulsar.>), COMBINEFUNC = pulsar.message_id_larger,
	PARALLEL = SAFE);
CREATE AGGREGATE pulsar.min(pulsar.message_id) (
	SFUNC = pulsar.message_id_smaller, STYPE = pulsar.message_id,
	SORTOP = OPERATOR(pulsar.<), COMBINEFUNC = pulsar.message_id_smaller,
	PARALLEL = SAFE);
COMMENT ON AGGREGATE pulsar.max(pulsar.message_id) IS
	'The last message ID, in publish order within a partition';
COMMENT ON AGGREGATE pulsar.min(pulsar.message_id) IS
	'The first message ID, in publish order within a partition';

--------------------------------------------------------------------------
-- Subscriptions: durable, with a cursor per partition
--------------------------------------------------------------------------

CREATE SEQUENCE pulsar.subscription_id_seq;
ALTER TABLE pulsar.subscription
	ADD COLUMN subscription_id bigint NOT NULL UNIQUE
		DEFAULT nextval('pulsar.subscription_id_seq'),
	ADD COLUMN negative_ack_delay interval NOT NULL DEFAULT '1 minute'
		CHECK (negative_ack_delay >= '0'),
	ADD COLUMN ack_timeout interval CHECK (ack_timeout > '0'),
	ADD COLUMN max_redeliver_count int CHECK (max_redeliver_count > 0),
	ADD COLUMN dead_letter_topic text,
	ADD COLUMN max_unacked_messages int NOT NULL DEFAULT 50000
		CHECK (max_unacked_messages >= 0);
ALTER SEQUENCE pulsar.subscription_id_seq OWNED BY pulsar.subscription.subscription_id;
SELECT pg_catalog.pg_extension_config_dump('pulsar.subscription_id_seq', '');
COMMENT ON COLUMN pulsar.subscription.max_unacked_messages IS
	'Unacknowledged messages a consumer may hold before it receives nothing new; 0 is no limit';

-- Every entry at or below mark_delete is acknowledged (-1: none yet).
CREATE TABLE pulsar.cursor (
	subscription_id bigint NOT NULL,
	ledger_id bigint NOT NULL,
	mark_delete bigint NOT NULL,
	PRIMARY KEY (subscription_id, ledger_id)
);
COMMENT ON TABLE pulsar.cursor IS
	'Mark-delete position of each subscription in each partition';

-- Entries first_entry..last_entry acknowledged individually above
-- mark_delete; kept exactly, with no cap.
CREATE TABLE pulsar.acked_range (
	subscription_id bigint NOT NULL,
	ledger_id bigint NOT NULL,
	first_entry bigint NOT NULL,
	last_entry bigint NOT NULL CHECK (last_entry >= first_entry),
	PRIMARY KEY (subscription_id, ledger_id, first_entry)
);
COMMENT ON TABLE pulsar.acked_range IS
	'Individually acknowledged entries above the mark-delete position';

SELECT pg_catalog.pg_extension_config_dump('pulsar.cursor', '');
SELECT pg_catalog.pg_extension_config_dump('pulsar.acked_range', '');

--------------------------------------------------------------------------
-- Dispatch state: lost on a crash, which only causes redelivery
--------------------------------------------------------------------------

CREATE SEQUENCE pulsar.consumer_id_seq;
CREATE UNLOGGED TABLE pulsar.consumer (
	consumer_id bigint PRIMARY KEY DEFAULT nextval('pulsar.consumer_id_seq'),
	subscription_id bigint NOT NULL,
	name text NOT NULL,
	priority int NOT NULL DEFAULT 0,
	backend_pid int,				-- a session's own consumer; NULL if named
	backend_start timestamptz,
	connected_at timestamptz NOT NULL DEFAULT now(),
	last_seen timestamptz NOT NULL DEFAULT now(),
	UNIQUE (subscription_id, name)
);
COMMENT ON TABLE pulsar.consumer IS 'Connected consumers of each subscription';

-- Messages delivered and not yet acknowledged, where they must be tracked
-- one by one: held by a consumer (consumer_id set) or waiting for
-- redelivery (consumer_id NULL, due at redeliver_at).
CREATE UNLOGGED TABLE pulsar.pending (
	subscription_id bigint NOT NULL,
	ledger_id bigint NOT NULL,
	entry_id bigint NOT NULL,
	consumer_id bigint,
	key_hash int,
	delivered_at timestamptz,
	redeliver_at timestamptz,
	redelivery_count int NOT NULL DEFAULT 0,
	PRIMARY KEY (subscription_id, ledger_id, entry_id)
);
CREATE INDEX ON pulsar.pending (subscription_id, consumer_id);
COMMENT ON TABLE pulsar.pending IS
	'Delivered, unacknowledged messages tracked one by one';

--------------------------------------------------------------------------
-- Consuming
--------------------------------------------------------------------------

CREATE FUNCTION pulsar.subscribe(topic text, subscription text,
								 type text DEFAULT 'exclusive',
								 initial_position text DEFAULT 'latest',
								 consumer text DEFAULT NULL,
								 priority int DEFAULT 0,
								 negative_ack_delay interval DEFAULT '1 minute',
								 ack_timeout interval DEFAULT NULL,
								 max_redeliver_count int DEFAULT NULL,
								 dead_letter_topic text DEFAULT NULL,
								 max_unacked_messages int DEFAULT 50000)
	RETURNS text
	AS 'MODULE_PATHNAME', 'pulsar_subscribe' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.subscribe(text, text, text, text, text, int, interval, interval, int, text, int) IS
	'Creates the subscription if missing and attaches a consumer; returns the channel to LISTEN on';

CREATE FUNCTION pulsar.unsubscribe(topic text, subscription text) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_unsubscribe' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.unsubscribe(text, text) IS
	'Deletes a subscription, its cursor and its consumers';

CREATE FUNCTION pulsar.close_consumer(topic text, subscription text,
									  consumer text DEFAULT NULL) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_close_consumer' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.close_consumer(text, text, text) IS
	'Disconnects a consumer (this session''s if none is named); its unacknowledged messages go back';

CREATE FUNCTION pulsar.receive(topic text, subscription text,
							   max_messages int DEFAULT 1,
							   timeout interval DEFAULT '0',
							   consumer text DEFAULT NULL)
	RETURNS SETOF pulsar.message
	AS 'MODULE_PATHNAME', 'pulsar_receive' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.receive(text, text, int, interval, text) IS
	'Receives up to max_messages, waiting up to timeout for the first';

CREATE FUNCTION pulsar.ack(topic text, subscription text, message_id pulsar.message_id)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_ack' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.ack(topic text, subscription text, message_ids pulsar.message_id[])
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_ack_array' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.ack_cumulative(topic text, subscription text,
									  message_id pulsar.message_id)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_ack_cumulative' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.nack(topic text, subscription text, message_ids pulsar.message_id[])
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_nack' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.ack(text, text, pulsar.message_id) IS
	'Acknowledges one message in the current transaction';
COMMENT ON FUNCTION pulsar.ack(text, text, pulsar.message_id[]) IS
	'Acknowledges messages in the current transaction';
COMMENT ON FUNCTION pulsar.ack_cumulative(text, text, pulsar.message_id) IS
	'Acknowledges every message of its partition up to this one (exclusive and failover)';
COMMENT ON FUNCTION pulsar.nack(text, text, pulsar.message_id[]) IS
	'Asks for redelivery after the subscription''s negative-ack delay';

CREATE FUNCTION pulsar.seek(topic text, subscription text, message_id pulsar.message_id)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_seek' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.seek(topic text, subscription text, publish_time timestamptz)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_seek_time' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.seek(topic text, subscription text, target text)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_seek_text' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.seek(text, text, text) IS
	'Resets the subscription to ''earliest'', ''latest'', a message ID or a time given as text';
COMMENT ON FUNCTION pulsar.seek(text, text, pulsar.message_id) IS
	'Resets the subscription so that this message is the next one delivered';
COMMENT ON FUNCTION pulsar.seek(text, text, timestamptz) IS
	'Resets the subscription to the first message published at or after this time';

CREATE FUNCTION pulsar.channel(topic text, subscription text) RETURNS text
	AS 'MODULE_PATHNAME', 'pulsar_channel' LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.channel(text, text) IS
	'The LISTEN channel of a subscription';

--------------------------------------------------------------------------
-- Observing
--------------------------------------------------------------------------

CREATE FUNCTION pulsar.topic_stats(topic text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'pulsar_topic_stats' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.topic_stats(text) IS
	'Pulsar-style statistics of a topic and its subscriptions';
CREATE FUNCTION pulsar.topic_internal_stats(topic text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'pulsar_topic_internal_stats' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.topic_internal_stats(text) IS
	'Pulsar-style internal statistics: ledgers, segments and cursors';
