/* pulsar_pg 0.5.0 -> 0.6.0 */

\echo Use "ALTER EXTENSION pulsar_pg UPDATE TO '0.6.0'" to load this file. \quit

--------------------------------------------------------------------------
-- Entry ids are never reused: each ledger's high-water mark
--
-- Every entry id handed out is below the ledger's entry_high_water, which
-- senders raise ahead of the ids they take, in place (a WAL-logged,
-- non-transactional write, as for a sequence), so a restart, a crash or a
-- promotion continues above every id ever handed out, whatever VACUUM
-- removed.  The column is written in place only: ledger rows must never be
-- UPDATEd.  The UPDATE below is the exception that makes it possible: it
-- gives each existing row a version that physically holds the column
-- (ADD COLUMN leaves old rows without it), in the same transaction as the
-- ALTER TABLE, which keeps every sender out.
--------------------------------------------------------------------------

ALTER TABLE pulsar.ledger
	ADD COLUMN entry_high_water bigint NOT NULL DEFAULT 0;
UPDATE pulsar.ledger SET entry_high_water = 0;
COMMENT ON COLUMN pulsar.ledger.entry_high_water IS
	'Every entry id handed out is below it; written in place, never updated';

--------------------------------------------------------------------------
-- Shared memory: how full the extension's fixed-size tables are
--------------------------------------------------------------------------

CREATE FUNCTION pulsar.shared_memory_usage(OUT area text, OUT entries bigint,
										   OUT max_entries bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'pulsar_shared_memory_usage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.shared_memory_usage() IS
	'Entries in use of the shared tables of every database: partitions, reservations, cursors, consumers';

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
