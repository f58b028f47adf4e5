-- c. PgQ insert_event with 100 characters of data, autocommit (the id is returned)
SELECT pgq.insert_event('bench', 'bench', :data::text);
