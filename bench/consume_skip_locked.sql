-- c. queue table read with FOR UPDATE SKIP LOCKED, the pgmq pattern: take
--    100 visible rows in id order, hide them for 30 s (visibility timeout
--    UPDATE), then DELETE them.  Two statements: a DELETE in the same
--    statement as the UPDATE would not see the rows it updated.  pgmq runs
--    read and delete in two transactions (two commits); here they share one,
--    which favours this peer.  No row (queue drained) ends the client.
BEGIN;
WITH c AS (SELECT id FROM q WHERE vt <= now() ORDER BY id LIMIT 100
           FOR UPDATE SKIP LOCKED),
     u AS (UPDATE q SET vt = now() + interval '30 seconds' FROM c
            WHERE q.id = c.id RETURNING q.id, q.payload)
SELECT array_agg(id) AS ids FROM u HAVING count(*) > 0 \gset
DELETE FROM q WHERE id = ANY (:ids::bigint[]);
COMMIT;
