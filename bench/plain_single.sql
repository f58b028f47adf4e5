-- a. plain INSERT of one 100-byte message-shaped row, autocommit
INSERT INTO bench_plain (payload) VALUES (:payload::bytea);
