-- e. pulsar exclusive consume, as consume_exclusive.sql, on topic :topic,
--    for the backlog-depth comparison.  When the backlog is drained the
--    subscription seeks back to 'earliest' (a transaction of its own), so a
--    small topic keeps a small backlog without publishing during the run;
--    both depths run this same script (the deep one never drains).
SELECT n, CASE WHEN n > 0 THEN pulsar.ack_cumulative(:topic, 'ex', m) END AS acked
  FROM (SELECT count(*) AS n, pulsar.max(message_id) AS m
          FROM pulsar.receive(:topic, 'ex', 100, consumer => 'e')) r \gset
\if :n = 0
SELECT pulsar.seek(:topic, 'ex', 'earliest');
\endif
