/* pulsar_pg 0.1.0: tenants, namespaces, topics, publishing and reading */

\echo Use "CREATE EXTENSION pulsar_pg" to load this file. \quit

-- The library keeps each partition's max read position in shared memory,
-- so it must be preloaded; state of an earlier installation is dropped.
CREATE FUNCTION pulsar.prepare_database() RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_prepare_database' LANGUAGE C;
SELECT pulsar.prepare_database();
DROP FUNCTION pulsar.prepare_database();

GRANT USAGE ON SCHEMA pulsar TO PUBLIC;

--------------------------------------------------------------------------
-- Message IDs: Pulsar's ledgerId:entryId:partitionIndex
--------------------------------------------------------------------------

CREATE TYPE pulsar.message_id;

CREATE FUNCTION pulsar.message_id_in(cstring) RETURNS pulsar.message_id
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.message_id_out(pulsar.message_id) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.message_id_recv(internal) RETURNS pulsar.message_id
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.message_id_send(pulsar.message_id) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE pulsar.message_id (
	INPUT = pulsar.message_id_in,
	OUTPUT = pulsar.message_id_out,
	RECEIVE = pulsar.message_id_recv,
	SEND = pulsar.message_id_send,
	INTERNALLENGTH = 24,
	ALIGNMENT = double
);
COMMENT ON TYPE pulsar.message_id IS
	'Pulsar message ID ledgerId:entryId:partitionIndex; orders messages of a partition in publish order';

CREATE FUNCTION pulsar.message_id_cmp(pulsar.message_id, pulsar.message_id) RETURNS int
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.message_id_lt(pulsar.message_id, pulsar.message_id) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.message_id_le(pulsar.message_id, pulsar.message_id) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.message_id_eq(pulsar.message_id, pulsar.message_id) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.message_id_ne(pulsar.message_id, pulsar.message_id) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.message_id_ge(pulsar.message_id, pulsar.message_id) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.message_id_gt(pulsar.message_id, pulsar.message_id) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.message_id_hash(pulsar.message_id) RETURNS int
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR pulsar.< (
	LEFTARG = pulsar.message_id, RIGHTARG = pulsar.message_id,
	FUNCTION = pulsar.message_id_lt, COMMUTATOR = OPERATOR(pulsar.>),
	NEGATOR = OPERATOR(pulsar.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR pulsar.<= (
	LEFTARG = pulsar.message_id, RIGHTARG = pulsar.message_id,
	FUNCTION = pulsar.message_id_le, COMMUTATOR = OPERATOR(pulsar.>=),
	NEGATOR = OPERATOR(pulsar.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR pulsar.= (
	LEFTARG = pulsar.message_id, RIGHTARG = pulsar.message_id,
	FUNCTION = pulsar.message_id_eq, COMMUTATOR = OPERATOR(pulsar.=),
	NEGATOR = OPERATOR(pulsar.<>), RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES);
CREATE OPERATOR pulsar.<> (
	LEFTARG = pulsar.message_id, RIGHTARG = pulsar.message_id,
	FUNCTION = pulsar.message_id_ne, COMMUTATOR = OPERATOR(pulsar.<>),
	NEGATOR = OPERATOR(pulsar.=), RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR pulsar.>= (
	LEFTARG = pulsar.message_id, RIGHTARG = pulsar.message_id,
	FUNCTION = pulsar.message_id_ge, COMMUTATOR = OPERATOR(pulsar.<=),
	NEGATOR = OPERATOR(pulsar.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR pulsar.> (
	LEFTARG = pulsar.message_id, RIGHTARG = pulsar.message_id,
	FUNCTION = pulsar.message_id_gt, COMMUTATOR = OPERATOR(pulsar.<),
	NEGATOR = OPERATOR(pulsar.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);

CREATE OPERATOR CLASS pulsar.message_id_ops
	DEFAULT FOR TYPE pulsar.message_id USING btree AS
		OPERATOR 1 pulsar.<,
		OPERATOR 2 pulsar.<=,
		OPERATOR 3 pulsar.=,
		OPERATOR 4 pulsar.>=,
		OPERATOR 5 pulsar.>,
		FUNCTION 1 pulsar.message_id_cmp(pulsar.message_id, pulsar.message_id);

CREATE OPERATOR CLASS pulsar.message_id_hash_ops
	DEFAULT FOR TYPE pulsar.message_id USING hash AS
		OPERATOR 1 pulsar.=,
		FUNCTION 1 pulsar.message_id_hash(pulsar.message_id);

CREATE CAST (pulsar.message_id AS text) WITH INOUT AS ASSIGNMENT;
CREATE CAST (text AS pulsar.message_id) WITH INOUT;

CREATE FUNCTION pulsar.ledger_id(pulsar.message_id) RETURNS bigint
	AS 'MODULE_PATHNAME', 'message_id_ledger_id' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.entry_id(pulsar.message_id) RETURNS bigint
	AS 'MODULE_PATHNAME', 'message_id_entry_id' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pulsar.partition_index(pulsar.message_id) RETURNS int
	AS 'MODULE_PATHNAME', 'message_id_partition_index' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pulsar.ledger_id(pulsar.message_id) IS
	'The ledger of a message ID: it names one partition''s storage';
COMMENT ON FUNCTION pulsar.entry_id(pulsar.message_id) IS
	'The position of a message in its partition';
COMMENT ON FUNCTION pulsar.partition_index(pulsar.message_id) IS
	'The partition of a message ID, -1 for a non-partitioned topic';

--------------------------------------------------------------------------
-- Messages as consumers and readers see them
--------------------------------------------------------------------------

CREATE TYPE pulsar.message AS (
	message_id pulsar.message_id,
	key text,
	payload bytea,
	properties jsonb,
	publish_time timestamptz,
	event_time timestamptz,
	redelivery_count int,
	producer text,
	sequence_id bigint,
	topic text,
	deliver_at timestamptz
);
COMMENT ON TYPE pulsar.message IS 'A message as pulsar.read() returns it';

--------------------------------------------------------------------------
-- Catalog: tenants, namespaces, topics and their storage
--
-- Users have no privileges on these tables: the functions below are the
-- interface.  pg_dump keeps their rows (pg_extension_config_dump).  The
-- functions keep the references between them: foreign keys would be
-- checked with the caller's snapshot, which in REPEATABLE READ can be
-- older than the rows that publishing reads with the latest one.
--------------------------------------------------------------------------

CREATE TABLE pulsar.tenant (
	name text PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pulsar.tenant IS 'Pulsar tenants';

CREATE TABLE pulsar.namespace (
	tenant text NOT NULL,
	name text NOT NULL,
	deduplication boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant, name)
);
COMMENT ON TABLE pulsar.namespace IS 'Pulsar namespaces, named tenant/namespace';

CREATE SEQUENCE pulsar.topic_id_seq;
CREATE TABLE pulsar.topic (
	topic_id bigint PRIMARY KEY DEFAULT nextval('pulsar.topic_id_seq'),
	tenant text NOT NULL,
	namespace text NOT NULL,
	name text NOT NULL,
	partitions int NOT NULL DEFAULT 0 CHECK (partitions >= 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant, namespace, name)
);
ALTER SEQUENCE pulsar.topic_id_seq OWNED BY pulsar.topic.topic_id;
COMMENT ON TABLE pulsar.topic IS
	'Topics; partitions = 0 for a non-partitioned topic';

-- One ledger per partition (one for a non-partitioned topic); its id is the
-- ledgerId of every message ID in it.
CREATE SEQUENCE pulsar.ledger_id_seq;
CREATE TABLE pulsar.ledger (
	ledger_id bigint PRIMARY KEY DEFAULT nextval('pulsar.ledger_id_seq'),
	topic_id bigint NOT NULL,
	partition_index int NOT NULL,
	segment_entries bigint NOT NULL CHECK (segment_entries > 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (topic_id, partition_index)
);
ALTER SEQUENCE pulsar.ledger_id_seq OWNED BY pulsar.ledger.ledger_id;
COMMENT ON TABLE pulsar.ledger IS
	'The storage of one partition: messages with entry ids in segment tables';

-- Segment n of ledger l is table pulsar_data.ledger_<l>_<n>; it holds entry
-- ids from n * segment_entries to (n + 1) * segment_entries - 1.
CREATE TABLE pulsar.segment (
	ledger_id bigint NOT NULL,
	segment_no bigint NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (ledger_id, segment_no)
);
COMMENT ON TABLE pulsar.segment IS
	'Segment tables of each ledger, reclaimed whole';

CREATE TABLE pulsar.producer_sequence (
	topic_id bigint NOT NULL,
	producer text NOT NULL,
	last_sequence_id bigint NOT NULL,
	PRIMARY KEY (topic_id, producer)
);
COMMENT ON TABLE pulsar.producer_sequence IS
	'Highest sequence id stored per producer and topic, for deduplication';

CREATE TABLE pulsar.subscription (
	topic_id bigint NOT NULL,
	name text NOT NULL,
	type text NOT NULL
		CHECK (type IN ('exclusive', 'failover', 'shared', 'key_shared')),
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (topic_id, name)
);
COMMENT ON TABLE pulsar.subscription IS 'Durable subscriptions of topics';

-- The shape of every segment table; entry_id is the position in the ledger.
CREATE TABLE pulsar.segment_template (
	entry_id bigint PRIMARY KEY,
	publish_time timestamptz NOT NULL,
	key text,
	payload bytea,
	properties jsonb,
	event_time timestamptz,
	deliver_at timestamptz,
	producer text,
	sequence_id bigint
);
COMMENT ON TABLE pulsar.segment_template IS
	'The columns of every segment table in schema pulsar_data';

CREATE SCHEMA pulsar_data;
COMMENT ON SCHEMA pulsar_data IS 'Segment tables holding messages of pulsar_pg topics';

INSERT INTO pulsar.tenant (name) VALUES ('public');
INSERT INTO pulsar.namespace (tenant, name) VALUES ('public', 'default');

SELECT pg_catalog.pg_extension_config_dump('pulsar.tenant', 'WHERE name <> ''public''');
SELECT pg_catalog.pg_extension_config_dump('pulsar.namespace',
	'WHERE (tenant, name) <> (''public'', ''default'')');
SELECT pg_catalog.pg_extension_config_dump('pulsar.topic', '');
SELECT pg_catalog.pg_extension_config_dump('pulsar.topic_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pulsar.ledger', '');
SELECT pg_catalog.pg_extension_config_dump('pulsar.ledger_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pulsar.segment', '');
SELECT pg_catalog.pg_extension_config_dump('pulsar.producer_sequence', '');
SELECT pg_catalog.pg_extension_config_dump('pulsar.subscription', '');

--------------------------------------------------------------------------
-- Administration (EXECUTE revoked from PUBLIC: grant it to administrators)
--------------------------------------------------------------------------

CREATE FUNCTION pulsar.create_tenant(tenant text) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_create_tenant' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.create_tenant(text) IS 'Creates a tenant';

CREATE FUNCTION pulsar.create_namespace(namespace text) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_create_namespace' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.create_namespace(text) IS
	'Creates a namespace, named tenant/namespace, in an existing tenant';

CREATE FUNCTION pulsar.set_deduplication(namespace text, enabled boolean) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_deduplication' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_deduplication(text, boolean) IS
	'Turns producer deduplication on or off for every topic of a namespace';

CREATE FUNCTION pulsar.create_topic(topic text, partitions int DEFAULT 0) RETURNS text
	AS 'MODULE_PATHNAME', 'pulsar_create_topic' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.create_topic(text, int) IS
	'Creates a topic, partitioned if partitions > 0; returns its full name';

CREATE FUNCTION pulsar.delete_topic(topic text, force boolean DEFAULT false) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_delete_topic' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.delete_topic(text, boolean) IS
	'Deletes a topic and its messages; with subscriptions only if force';

REVOKE EXECUTE ON FUNCTION
	pulsar.create_tenant(text),
	pulsar.create_namespace(text),
	pulsar.set_deduplication(text, boolean),
	pulsar.create_topic(text, int),
	pulsar.delete_topic(text, boolean)
FROM PUBLIC;

--------------------------------------------------------------------------
-- Publishing: the message is stored in the caller's transaction
--------------------------------------------------------------------------

CREATE FUNCTION pulsar.send(topic text, payload bytea, key text DEFAULT NULL,
							properties jsonb DEFAULT NULL,
							event_time timestamptz DEFAULT NULL,
							deliver_at timestamptz DEFAULT NULL,
							producer text DEFAULT NULL,
							sequence_id bigint DEFAULT NULL)
	RETURNS pulsar.message_id
	AS 'MODULE_PATHNAME', 'pulsar_send' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.send(topic text, payload text, key text DEFAULT NULL,
							properties jsonb DEFAULT NULL,
							event_time timestamptz DEFAULT NULL,
							deliver_at timestamptz DEFAULT NULL,
							producer text DEFAULT NULL,
							sequence_id bigint DEFAULT NULL)
	RETURNS pulsar.message_id
	AS 'MODULE_PATHNAME', 'pulsar_send_text' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.send(topic text, payload jsonb, key text DEFAULT NULL,
							properties jsonb DEFAULT NULL,
							event_time timestamptz DEFAULT NULL,
							deliver_at timestamptz DEFAULT NULL,
							producer text DEFAULT NULL,
							sequence_id bigint DEFAULT NULL)
	RETURNS pulsar.message_id
	AS 'MODULE_PATHNAME', 'pulsar_send_jsonb' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.send(text, bytea, text, jsonb, timestamptz, timestamptz, text, bigint) IS
	'Publishes a message in the current transaction; NULL if dropped as a duplicate';
COMMENT ON FUNCTION pulsar.send(text, text, text, jsonb, timestamptz, timestamptz, text, bigint) IS
	'Publishes a text message, stored as UTF-8 bytes';
COMMENT ON FUNCTION pulsar.send(text, jsonb, text, jsonb, timestamptz, timestamptz, text, bigint) IS
	'Publishes a JSON message, stored as UTF-8 bytes of its text';

CREATE FUNCTION pulsar.send_batch(topic text, payloads bytea[],
								  keys text[] DEFAULT NULL,
								  properties jsonb[] DEFAULT NULL,
								  event_times timestamptz[] DEFAULT NULL,
								  deliver_at timestamptz DEFAULT NULL,
								  producer text DEFAULT NULL,
								  sequence_ids bigint[] DEFAULT NULL)
	RETURNS SETOF pulsar.message_id
	AS 'MODULE_PATHNAME', 'pulsar_send_batch' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.send_batch(topic text, payloads text[],
								  keys text[] DEFAULT NULL,
								  properties jsonb[] DEFAULT NULL,
								  event_times timestamptz[] DEFAULT NULL,
								  deliver_at timestamptz DEFAULT NULL,
								  producer text DEFAULT NULL,
								  sequence_ids bigint[] DEFAULT NULL)
	RETURNS SETOF pulsar.message_id
	AS 'MODULE_PATHNAME', 'pulsar_send_batch_text' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.send_batch(topic text, payloads jsonb[],
								  keys text[] DEFAULT NULL,
								  properties jsonb[] DEFAULT NULL,
								  event_times timestamptz[] DEFAULT NULL,
								  deliver_at timestamptz DEFAULT NULL,
								  producer text DEFAULT NULL,
								  sequence_ids bigint[] DEFAULT NULL)
	RETURNS SETOF pulsar.message_id
	AS 'MODULE_PATHNAME', 'pulsar_send_batch_jsonb' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.send_batch(text, bytea[], text[], jsonb[], timestamptz[], timestamptz, text, bigint[]) IS
	'Publishes many messages; one ID per payload, in order, NULL for a dropped duplicate';
COMMENT ON FUNCTION pulsar.send_batch(text, text[], text[], jsonb[], timestamptz[], timestamptz, text, bigint[]) IS
	'Publishes many text messages';
COMMENT ON FUNCTION pulsar.send_batch(text, jsonb[], text[], jsonb[], timestamptz[], timestamptz, text, bigint[]) IS
	'Publishes many JSON messages';

CREATE FUNCTION pulsar.partition_for_key(key text, partitions int) RETURNS int
	AS 'MODULE_PATHNAME', 'pulsar_partition_for_key'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pulsar.partition_for_key(text, int) IS
	'The partition a keyed message goes to, as in Pulsar''s clients (Murmur3-32 of the key)';

--------------------------------------------------------------------------
-- Reading without a subscription (Pulsar's Reader)
--------------------------------------------------------------------------

CREATE FUNCTION pulsar.read(topic text, start_after pulsar.message_id,
							max_messages int DEFAULT 100)
	RETURNS SETOF pulsar.message
	AS 'MODULE_PATHNAME', 'pulsar_read' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.read(text, pulsar.message_id, int) IS
	'Reads one partition in publish order after a message ID (or ''earliest''), up to its max read position';
