-- d. PgQ: 100 insert_event calls in one statement (one transaction)
SELECT count(pgq.insert_event('bench', 'bench', d)) FROM unnest(:datas::text[]) AS d;
