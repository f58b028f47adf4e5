-- d. PgQ: next_batch, get_batch_events, finish_batch, in one transaction.
--    The fill ticks after every 100 events, so a batch is 100 events.
--    No batch (queue drained) returns no row, which ends the client.
BEGIN;
SELECT batch_id FROM pgq.next_batch('bq', 'c') AS batch_id
 WHERE batch_id IS NOT NULL \gset
SELECT count(*) AS n FROM pgq.get_batch_events(:batch_id) \gset
SELECT pgq.finish_batch(:batch_id);
COMMIT;
