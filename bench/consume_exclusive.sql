-- a. pulsar exclusive subscription: receive 100, ack_cumulative the last
--    one, in one transaction.  The \gset needs one row: an empty receive
--    (the backlog is drained) returns none, which ends the client, so the
--    run stops when the backlog is gone (bench/consume.sh expects this).
BEGIN;
SELECT n, pulsar.ack_cumulative('backlog', 'ex', m) AS acked
  FROM (SELECT count(*) AS n, pulsar.max(message_id) AS m
          FROM pulsar.receive('backlog', 'ex', 100, consumer => 'e')) r
 WHERE m IS NOT NULL \gset
COMMIT;
