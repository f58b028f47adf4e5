/* pulsar_pg 0.2.0 -> 0.3.0: the background worker, delayed delivery */

\echo Use "ALTER EXTENSION pulsar_pg UPDATE TO '0.3.0'" to load this file. \quit

--------------------------------------------------------------------------
-- Timers: the worker finds redeliveries and delayed messages falling due
--------------------------------------------------------------------------

-- Rows held by a consumer without an ack timeout wait at 'infinity' and
-- stay out of this index.
CREATE INDEX pending_due_idx ON pulsar.pending (redeliver_at)
	WHERE redeliver_at < 'infinity';

--------------------------------------------------------------------------
-- Publishing: deliver_after, relative to the send
--------------------------------------------------------------------------

DROP FUNCTION pulsar.send(text, bytea, text, jsonb, timestamptz, timestamptz, text, bigint);
DROP FUNCTION pulsar.send(text, text, text, jsonb, timestamptz, timestamptz, text, bigint);
DROP FUNCTION pulsar.send(text, jsonb, text, jsonb, timestamptz, timestamptz, text, bigint);
DROP FUNCTION pulsar.send_batch(text, bytea[], text[], jsonb[], timestamptz[], timestamptz, text, bigint[]);
DROP FUNCTION pulsar.send_batch(text, text[], text[], jsonb[], timestamptz[], timestamptz, text, bigint[]);
DROP FUNCTION pulsar.send_batch(text, jsonb[], text[], jsonb[], timestamptz[], timestamptz, text, bigint[]);

CREATE FUNCTION pulsar.send(topic text, payload bytea, key text DEFAULT NULL,
							properties jsonb DEFAULT NULL,
							event_time timestamptz DEFAULT NULL,
							deliver_at timestamptz DEFAULT NULL,
							producer text DEFAULT NULL,
							sequence_id bigint DEFAULT NULL,
							deliver_after interval DEFAULT NULL)
	RETURNS pulsar.message_id
	AS 'MODULE_PATHNAME', 'pulsar_send' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.send(topic text, payload text, key text DEFAULT NULL,
							properties jsonb DEFAULT NULL,
							event_time timestamptz DEFAULT NULL,
							deliver_at timestamptz DEFAULT NULL,
							producer text DEFAULT NULL,
							sequence_id bigint DEFAULT NULL,
							deliver_after interval DEFAULT NULL)
	RETURNS pulsar.message_id
	AS 'MODULE_PATHNAME', 'pulsar_send_text' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.send(topic text, payload jsonb, key text DEFAULT NULL,
							properties jsonb DEFAULT NULL,
							event_time timestamptz DEFAULT NULL,
							deliver_at timestamptz DEFAULT NULL,
							producer text DEFAULT NULL,
							sequence_id bigint DEFAULT NULL,
							deliver_after interval DEFAULT NULL)
	RETURNS pulsar.message_id
	AS 'MODULE_PATHNAME', 'pulsar_send_jsonb' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.send(text, bytea, text, jsonb, timestamptz, timestamptz, text, bigint, interval) IS
	'Publishes a message in the current transaction; NULL if dropped as a duplicate';
COMMENT ON FUNCTION pulsar.send(text, text, text, jsonb, timestamptz, timestamptz, text, bigint, interval) IS
	'Publishes a text message, stored as UTF-8 bytes';
COMMENT ON FUNCTION pulsar.send(text, jsonb, text, jsonb, timestamptz, timestamptz, text, bigint, interval) IS
	'Publishes a JSON message, stored as UTF-8 bytes of its text';

CREATE FUNCTION pulsar.send_batch(topic text, payloads bytea[],
								  keys text[] DEFAULT NULL,
								  properties jsonb[] DEFAULT NULL,
								  event_times timestamptz[] DEFAULT NULL,
								  deliver_at timestamptz DEFAULT NULL,
								  producer text DEFAULT NULL,
								  sequence_ids bigint[] DEFAULT NULL,
								  deliver_after interval DEFAULT NULL)
	RETURNS SETOF pulsar.message_id
	AS 'MODULE_PATHNAME', 'pulsar_send_batch' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.send_batch(topic text, payloads text[],
								  keys text[] DEFAULT NULL,
								  properties jsonb[] DEFAULT NULL,
								  event_times timestamptz[] DEFAULT NULL,
								  deliver_at timestamptz DEFAULT NULL,
								  producer text DEFAULT NULL,
								  sequence_ids bigint[] DEFAULT NULL,
								  deliver_after interval DEFAULT NULL)
	RETURNS SETOF pulsar.message_id
	AS 'MODULE_PATHNAME', 'pulsar_send_batch_text' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION pulsar.send_batch(topic text, payloads jsonb[],
								  keys text[] DEFAULT NULL,
								  properties jsonb[] DEFAULT NULL,
								  event_times timestamptz[] DEFAULT NULL,
								  deliver_at timestamptz DEFAULT NULL,
								  producer text DEFAULT NULL,
								  sequence_ids bigint[] DEFAULT NULL,
								  deliver_after interval DEFAULT NULL)
	RETURNS SETOF pulsar.message_id
	AS 'MODULE_PATHNAME', 'pulsar_send_batch_jsonb' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.send_batch(text, bytea[], text[], jsonb[], timestamptz[], timestamptz, text, bigint[], interval) IS
	'Publishes many messages; one ID per payload, in order, NULL for a dropped duplicate';
COMMENT ON FUNCTION pulsar.send_batch(text, text[], text[], jsonb[], timestamptz[], timestamptz, text, bigint[], interval) IS
	'Publishes many text messages';
COMMENT ON FUNCTION pulsar.send_batch(text, jsonb[], text[], jsonb[], timestamptz[], timestamptz, text, bigint[], interval) IS
	'Publishes many JSON messages';

--------------------------------------------------------------------------
-- Administration: listing topics, as pulsar-admin topics list does
--------------------------------------------------------------------------

CREATE FUNCTION pulsar.list_topics(namespace text DEFAULT NULL)
	RETURNS TABLE (topic text, partitions int)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	IF list_topics.namespace IS NOT NULL AND NOT EXISTS
		(SELECT 1 FROM pulsar.namespace n
		  WHERE n.tenant || '/' || n.name = list_topics.namespace) THEN
		RAISE EXCEPTION 'namespace "%" does not exist', list_topics.namespace
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it with pulsar.create_namespace().';
	END IF;
	RETURN QUERY
		SELECT 'persistent://' || t.tenant || '/' || t.namespace || '/' || t.name,
			   t.partitions
		  FROM pulsar.topic t
		 WHERE list_topics.namespace IS NULL
			OR t.tenant || '/' || t.namespace = list_topics.namespace
		 ORDER BY t.tenant, t.namespace, t.name;
END
$$;
COMMENT ON FUNCTION pulsar.list_topics(text) IS
	'Topics of one namespace (tenant/namespace), or of all; partitions = 0 for a non-partitioned topic';
