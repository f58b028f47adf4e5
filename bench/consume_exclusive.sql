-- a. pulsar exclusive subscription: receive 100, ack_cumulative the last
--    one.  One statement, so one transaction without BEGIN/COMMIT round
--    trips: a statement that receives and acknowledges is atomic (the
--    SKIP LOCKED peer needs two statements, so a transaction block).  The
--    \gset needs one row: an empty receive (the backlog is drained) returns
--    none, which ends the client, so the run stops when the backlog is gone
--    (bench/consume.sh expects this).
SELECT n, pulsar.ack_cumulative('backlog', 'ex', m) AS acked
  FROM (SELECT count(*) AS n, pulsar.max(message_id) AS m
          FROM pulsar.receive('backlog', 'ex', 100, consumer => 'e')) r
 WHERE m IS NOT NULL \gset
