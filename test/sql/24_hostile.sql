-- A hostile search_path: a stranger puts functions, operators and tables
-- named like those the extension uses in public and in a schema of its
-- own, first on its search_path (pg_catalog last).  Then the stranger and
-- a superuser call every function: nothing of the stranger's may run, and
-- its tables stay untouched.
\set VERBOSITY terse
CREATE ROLE regress_hostile;
GRANT CREATE ON SCHEMA public TO regress_hostile;
CREATE SCHEMA hostile AUTHORIZATION regress_hostile;
SET ROLE regress_hostile;

CREATE TABLE hostile.ran (who name, what text);
GRANT INSERT, SELECT ON hostile.ran TO PUBLIC;
DO $do$
DECLARE
	s text;
	t text;
BEGIN
	FOREACH s IN ARRAY ARRAY['hostile', 'public'] LOOP
		-- functions the extension's SQL or its catalog statements name
		FOREACH t IN ARRAY ARRAY['ltrim', 'lower', 'upper', 'btrim', 'length'] LOOP
			EXECUTE format($f$CREATE FUNCTION %I.%I(text) RETURNS text LANGUAGE sql AS
				$b$INSERT INTO hostile.ran VALUES (current_user, %L); SELECT $1$b$$f$, s, t, s || '.' || t);
		END LOOP;
		EXECUTE format($f$CREATE FUNCTION %I.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql AS
			$b$INSERT INTO hostile.ran VALUES (current_user, %L); SELECT x FROM pg_catalog.unnest($1) x$b$$f$, s, s || '.unnest');
		EXECUTE format($f$CREATE FUNCTION %I.md5(text) RETURNS text LANGUAGE sql AS
			$b$INSERT INTO hostile.ran VALUES (current_user, %L); SELECT 'x'$b$$f$, s, s || '.md5');
		EXECUTE format($f$CREATE FUNCTION %I.now() RETURNS timestamptz LANGUAGE sql AS
			$b$INSERT INTO hostile.ran VALUES (current_user, %L); SELECT pg_catalog.now()$b$$f$, s, s || '.now');
		-- functions named like the extension's own
		FOREACH t IN ARRAY ARRAY['send', 'receive', 'subscribe', 'ack', 'channel', 'read', 'topic_stats'] LOOP
			EXECUTE format($f$CREATE FUNCTION %I.%I(text, text) RETURNS text LANGUAGE sql AS
				$b$INSERT INTO hostile.ran VALUES (current_user, %L); SELECT $1$b$$f$, s, t, s || '.' || t);
		END LOOP;
		-- operators on the types the catalog statements compare
		EXECUTE format($f$CREATE FUNCTION %I.eq(text, text) RETURNS bool LANGUAGE sql AS
			$b$INSERT INTO hostile.ran VALUES (current_user, %L); SELECT true$b$$f$, s, s || '.=');
		EXECUTE format('CREATE OPERATOR %I.= (FUNCTION = %I.eq, LEFTARG = text, RIGHTARG = text)', s, s);
		EXECUTE format($f$CREATE FUNCTION %I.cat(text, text) RETURNS text LANGUAGE sql AS
			$b$INSERT INTO hostile.ran VALUES (current_user, %L); SELECT $1$b$$f$, s, s || '.||');
		EXECUTE format('CREATE OPERATOR %I.|| (FUNCTION = %I.cat, LEFTARG = text, RIGHTARG = text)', s, s);
		EXECUTE format($f$CREATE FUNCTION %I.like(text, text) RETURNS bool LANGUAGE sql AS
			$b$INSERT INTO hostile.ran VALUES (current_user, %L); SELECT true$b$$f$, s, s || '.~~');
		EXECUTE format('CREATE OPERATOR %I.~~ (FUNCTION = %I.like, LEFTARG = text, RIGHTARG = text)', s, s);
		EXECUTE format($f$CREATE FUNCTION %I.int8eq(bigint, bigint) RETURNS bool LANGUAGE sql AS
			$b$INSERT INTO hostile.ran VALUES (current_user, %L); SELECT true$b$$f$, s, s || '.=(bigint)');
		EXECUTE format('CREATE OPERATOR %I.= (FUNCTION = %I.int8eq, LEFTARG = bigint, RIGHTARG = bigint)', s, s);
		-- tables named like the extension's
		FOREACH t IN ARRAY ARRAY['tenant', 'namespace', 'topic', 'ledger', 'segment',
								 'subscription', 'cursor', 'permission', 'channel_key'] LOOP
			EXECUTE format('CREATE TABLE %I.%I (x int)', s, t);
			EXECUTE format('GRANT ALL ON %I.%I TO PUBLIC', s, t);
		END LOOP;
	END LOOP;
END
$do$;
SET search_path = hostile, public, pg_catalog;

-- the stranger calls every function on public/default, open to everyone
-- (but expire_messages and apply_expiry_policies, for admins)
CREATE TEMP TABLE calls (command text);
INSERT INTO calls VALUES
('SELECT pulsar.send(''hostile_t'', ''x''::text)'),
('SELECT pulsar.send(''hostile_t'', ''\x01''::bytea)'),
('SELECT pulsar.send(''hostile_t'', ''{}''::jsonb)'),
('SELECT pulsar.send_batch(''hostile_t'', ARRAY[''a'', ''b''])'),
('SELECT * FROM pulsar.read(''hostile_t'', ''earliest'', 10)'),
('SELECT pulsar.subscribe(''hostile_t'', ''s'', ''shared'', ''earliest'', consumer => ''h1'')'),
('SELECT * FROM pulsar.receive(''hostile_t'', ''s'', 1, consumer => ''h1'')'),
('SELECT pulsar.ack(''hostile_t'', ''s'', m.message_id) FROM pulsar.receive(''hostile_t'', ''s'', 1, consumer => ''h1'') m'),
('SELECT pulsar.ack(''hostile_t'', ''s'', ARRAY[m.message_id]) FROM pulsar.receive(''hostile_t'', ''s'', 1, consumer => ''h1'') m'),
('SELECT pulsar.ack(''hostile_t'', ''s'', m.message_id::text) FROM pulsar.receive(''hostile_t'', ''s'', 1, consumer => ''h1'') m'),
('SELECT pulsar.ack(''hostile_t'', ''s'', (ARRAY[m.message_id])::text) FROM pulsar.receive(''hostile_t'', ''s'', 1, consumer => ''h1'') m'),
('SELECT pulsar.nack(''hostile_t'', ''s'', ARRAY[m.message_id]) FROM pulsar.receive(''hostile_t'', ''s'', 1, consumer => ''h1'') m'),
('SELECT pulsar.seek(''hostile_t'', ''s'', ''earliest'')'),
('SELECT pulsar.seek(''hostile_t'', ''s'', pg_catalog.now())'),
('SELECT pulsar.channel(''hostile_t'', ''s'')'),
('SELECT pulsar.topic_stats(''hostile_t'')'),
('SELECT pulsar.topic_internal_stats(''hostile_t'')'),
('SELECT * FROM pulsar.list_topics()'),
('SELECT * FROM pulsar.list_topics(''public/default'')'),
('SELECT * FROM pulsar.list_tenants()'),
('SELECT pulsar.expire_messages(''hostile_t'', ''s'', ''0'')'),
('SELECT pulsar.apply_expiry_policies(''public/default'')'),
('SELECT pulsar.close_consumer(''hostile_t'', ''s'', ''h1'')'),
('SELECT pulsar.unsubscribe(''hostile_t'', ''s'')'),
('SELECT pulsar.subscribe(''hostile_t'', ''x'', ''exclusive'', ''earliest'', max_redeliver_count => 1)'),
('SELECT * FROM pulsar.shared_memory_usage()');

CREATE FUNCTION pg_temp.run_all() RETURNS TABLE (command text, outcome text)
LANGUAGE plpgsql AS $$
DECLARE
	c text;
BEGIN
	FOR c IN SELECT calls.command FROM calls LOOP
		BEGIN
			EXECUTE c;
			command := c; outcome := 'ok';
		EXCEPTION WHEN OTHERS THEN
			-- not ||: the stranger's operator would run
			command := c; outcome := pg_catalog.concat(SQLSTATE, ' ', SQLERRM);
		END;
		RETURN NEXT;
	END LOOP;
END
$$;

SELECT * FROM pg_temp.run_all();
-- administration is refused, the same way whatever is on the path
SELECT pulsar.create_topic('hostile_new');
SELECT pulsar.grant_permission('public/default', 'regress_hostile', '{produce}');
RESET ROLE;

-- a superuser with the stranger's schemas first on its path
SET search_path = hostile, public, pg_catalog;
SELECT outcome, count(*) FROM pg_temp.run_all() GROUP BY outcome;
SELECT pulsar.create_tenant('hostile_tenant', ARRAY['regress_hostile']);
SELECT pulsar.create_namespace('hostile_tenant/ns');
-- limits run their counts and their cache's load on the same path
SELECT pulsar.set_max_topics_per_namespace('hostile_tenant/ns', 10);
SELECT pulsar.create_topic('hostile_tenant/ns/t', 2);
SELECT pulsar.set_max_subscriptions_per_topic('hostile_tenant/ns', 10);
SELECT pulsar.set_max_consumers_per_topic('hostile_tenant/ns', 10);
SELECT pulsar.set_max_consumers_per_subscription('hostile_tenant/ns/t', 10);
SELECT pulsar.set_max_unacked_messages_per_subscription('hostile_tenant/ns', 10);
SELECT pulsar.set_publish_rate('hostile_tenant/ns', 100000, NULL);
SELECT pulsar.set_dispatch_rate('hostile_tenant/ns/t', 100000, 104857600);
SELECT pulsar.subscribe('hostile_tenant/ns/t', 'lim', 'shared', 'earliest', consumer => 'h2') IS NOT NULL AS subscribed;
SELECT count(*) FROM pulsar.send_batch('hostile_tenant/ns/t', ARRAY['a', 'b', 'c']);
SELECT count(*) FROM pulsar.receive('hostile_tenant/ns/t', 'lim', 10, consumer => 'h2');
SELECT pulsar.close_consumer('hostile_tenant/ns/t', 'lim', 'h2');
SELECT pulsar.unsubscribe('hostile_tenant/ns/t', 'lim');
SELECT pulsar.grant_permission('hostile_tenant/ns/t', 'public', '{consume}');
SELECT * FROM pulsar.get_permissions('hostile_tenant/ns/t');
SELECT pulsar.grant_subscription_permission('hostile_tenant/ns', 's', ARRAY['regress_hostile']);
SELECT * FROM pulsar.get_subscription_permissions('hostile_tenant/ns');
SELECT pulsar.revoke_subscription_permission('hostile_tenant/ns', 's', 'regress_hostile');
SELECT pulsar.revoke_permission('hostile_tenant/ns/t', 'public');
SELECT pulsar.set_deduplication('hostile_tenant/ns', true);
SELECT pulsar.update_tenant('hostile_tenant', '{}');
SELECT pulsar.delete_topic('hostile_tenant/ns/t');
RESET search_path;

-- nothing of the stranger's ran, and its tables are as they were
SELECT who, what FROM hostile.ran;
SELECT count(*) AS rows_in_stranger_tables FROM (
	SELECT x FROM hostile.tenant UNION ALL SELECT x FROM hostile.topic
	UNION ALL SELECT x FROM hostile.permission UNION ALL SELECT x FROM hostile.subscription
	UNION ALL SELECT x FROM public.tenant UNION ALL SELECT x FROM public.topic
	UNION ALL SELECT x FROM public.permission UNION ALL SELECT x FROM public.channel_key) t;

DROP SCHEMA hostile CASCADE;
DROP OWNED BY regress_hostile CASCADE;
DROP ROLE regress_hostile;
SELECT pulsar.delete_topic('hostile_t', force => true);
