/* pulsar_pg 0.3.0 -> 0.4.0: pending messages tracked as runs of entries */

\echo Use "ALTER EXTENSION pulsar_pg UPDATE TO '0.4.0'" to load this file. \quit

--------------------------------------------------------------------------
-- Dispatch state: a row of pulsar.pending covers consecutive entries
-- handed out together, in one state, so that a receive of 100 messages by
-- a shared consumer writes one row and its ack deletes one row
--------------------------------------------------------------------------

ALTER TABLE pulsar.pending RENAME COLUMN entry_id TO first_entry;
ALTER TABLE pulsar.pending ADD COLUMN last_entry bigint;
UPDATE pulsar.pending SET last_entry = first_entry;
ALTER TABLE pulsar.pending
	ALTER COLUMN last_entry SET NOT NULL,
	ADD CHECK (last_entry >= first_entry);
COMMENT ON COLUMN pulsar.pending.first_entry IS
	'First entry of the run; runs of a subscription in a ledger do not overlap';
COMMENT ON COLUMN pulsar.pending.last_entry IS 'Last entry of the run';
COMMENT ON COLUMN pulsar.pending.key_hash IS
	'Key_Shared routing hash; only on rows of one entry';
COMMENT ON TABLE pulsar.pending IS
	'Delivered, unacknowledged messages tracked by runs of consecutive entries';
