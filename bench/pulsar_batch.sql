-- d. pulsar.send_batch of 100 payloads in one call (one transaction);
--    the 100 ids are counted server-side, as the INSERT returns none
SELECT count(*) FROM pulsar.send_batch('bench', :payloads::bytea[]);
