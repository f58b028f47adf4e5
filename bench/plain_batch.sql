-- d. plain INSERT of 100 rows in one statement (one transaction)
INSERT INTO bench_plain (payload) SELECT unnest(:payloads::bytea[]);
