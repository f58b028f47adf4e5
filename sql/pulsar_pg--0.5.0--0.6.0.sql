/* pulsar_pg 0.5.0 -> 0.6.0 */

\echo Use "ALTER EXTENSION pulsar_pg UPDATE TO '0.6.0'" to load this file. \quit

--------------------------------------------------------------------------
-- ack with a message id written as a literal
--
-- ack(topic, subscription, '1:0:-1') failed with "function is not
-- unique": an untyped literal fits both ack(..., pulsar.message_id) and
-- ack(..., pulsar.message_id[]), whose types are of different categories.
-- PostgreSQL resolves an untyped argument to a candidate of the string
-- category when there is one, so this overload takes such literals: a
-- single id, or an array of ids written '{1:0:-1,1:1:-1}'.  Typed
-- arguments still go to the overloads of their types.
--------------------------------------------------------------------------

CREATE FUNCTION pulsar.ack(topic text, subscription text, message_id text)
	RETURNS void
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	AS $$
SELECT CASE
	WHEN pg_catalog.ltrim(message_id) OPERATOR(pg_catalog.~~) '{%'
	THEN pulsar.ack(topic, subscription, message_id::pulsar.message_id[])
	ELSE pulsar.ack(topic, subscription, message_id::pulsar.message_id)
END
$$;
COMMENT ON FUNCTION pulsar.ack(text, text, text) IS
	'Acknowledges a message id, or an array of them, written as text: ''1:0:-1'' or ''{1:0:-1,1:1:-1}''';
