-- b. pulsar shared subscription: receive 100, ack the array of their ids,
--    in one statement (one transaction, see consume_exclusive.sql).  An
--    empty receive (backlog drained) returns no row, which ends the client.
SELECT n, pulsar.ack('backlog', 'sh', a) AS acked
  FROM (SELECT count(*) AS n, array_agg(message_id) AS a
          FROM pulsar.receive('backlog', 'sh', 100, consumer => 's')) r
 WHERE a IS NOT NULL \gset
