-- b. pulsar.send of one 100-byte payload, autocommit (the id is returned)
SELECT pulsar.send('bench', :payload::bytea);
