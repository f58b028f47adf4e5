-- Authorization: every SQL function, called by each kind of role, on a
-- topic whose namespace is granted and on a topic granted by itself.
\set VERBOSITY default
CREATE ROLE regress_owner_member;
SELECT current_user AS owner \gset
GRANT :"owner" TO regress_owner_member;	-- the extension's owner
CREATE ROLE regress_tadmin;
CREATE ROLE regress_granted;
CREATE ROLE regress_team;
CREATE ROLE regress_member IN ROLE regress_team;
CREATE ROLE regress_stranger;

SELECT pulsar.create_tenant('acme', ARRAY['regress_tadmin']);
SELECT pulsar.create_namespace('acme/ns1');
SELECT pulsar.create_namespace('acme/ns2');
SELECT pulsar.create_topic('acme/ns1/t1');
SELECT pulsar.create_topic('acme/ns2/t2');
-- namespace-level grants on acme/ns1, topic-level ones on acme/ns2/t2
SELECT pulsar.grant_permission('acme/ns1', 'regress_granted', '{produce,consume}');
SELECT pulsar.grant_permission('acme/ns1', 'regress_team', '{consume,produce}');
SELECT pulsar.grant_permission('acme/ns2/t2', 'regress_granted', '{produce,consume}');
SELECT pulsar.grant_permission('persistent://acme/ns2/t2', 'regress_team', '{produce,consume}');
SELECT * FROM pulsar.get_permissions('acme/ns1');
SELECT * FROM pulsar.get_permissions('acme/ns2/t2');
SELECT * FROM pulsar.get_permissions('acme/ns2');
-- a subscription name reserved for some roles
SELECT pulsar.grant_subscription_permission('acme/ns1', 'reserved', ARRAY['regress_granted', 'regress_stranger']);
SELECT pulsar.revoke_subscription_permission('acme/ns1', 'reserved', 'regress_stranger');
SELECT * FROM pulsar.get_subscription_permissions('acme/ns1');

-- what the calls need: messages, a subscription 'sub' with consumer c1, a
-- subscription 'idle' without consumers, a reservation to revoke
SELECT count(*) FROM pulsar.send_batch('acme/ns1/t1', ARRAY['a', 'b', 'c']);
SELECT count(*) FROM pulsar.send_batch('acme/ns2/t2', ARRAY['a', 'b', 'c']);
SELECT pulsar.subscribe(t, 'sub', 'exclusive', 'earliest', consumer => 'c1') IS NOT NULL,
       pulsar.subscribe(t, 'idle', 'shared', 'earliest', consumer => 'c2') IS NOT NULL,
       pulsar.close_consumer(t, 'idle', 'c2')
  FROM (VALUES ('acme/ns1/t1'), ('acme/ns2/t2')) v(t);
SELECT pulsar.grant_subscription_permission('acme/ns1', 'held', ARRAY['regress_member']);

-- Runs a command as a role and undoes its effects: 'ok', or the SQLSTATE
-- of its error ('hidden' for a listing that left the object out).
CREATE FUNCTION pg_temp.try(role text, command text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	state text;
BEGIN
	BEGIN
		EXECUTE format('SET ROLE %I', role);
		EXECUTE command;
		RAISE EXCEPTION USING ERRCODE = 'PT000';
	EXCEPTION WHEN OTHERS THEN
		state = SQLSTATE;
	END;
	RESET ROLE;
	RETURN CASE state WHEN 'PT000' THEN 'ok' WHEN '22012' THEN 'hidden' ELSE state END;
END
$$;

CREATE TEMP TABLE calls (n serial, name text, command text);
INSERT INTO calls (name, command) VALUES
('send bytea', $$SELECT pulsar.send(%1$L, '\x01'::bytea)$$),
('send text', $$SELECT pulsar.send(%1$L, 'x'::text)$$),
('send jsonb', $$SELECT pulsar.send(%1$L, '{}'::jsonb)$$),
('send_batch', $$SELECT pulsar.send_batch(%1$L, ARRAY['x', 'y'])$$),
('send auto-create', $$SELECT pulsar.send(%1$L || '-auto', 'x'::text)$$),
('read', $$SELECT * FROM pulsar.read(%1$L, 'earliest', 10)$$),
('subscribe', $$SELECT pulsar.subscribe(%1$L, 'new', 'shared', consumer => 'c9')$$),
('subscribe reserved', $$SELECT pulsar.subscribe(%1$L, 'reserved', 'shared', consumer => 'c9')$$),
('receive', $$SELECT * FROM pulsar.receive(%1$L, 'sub', 10, consumer => 'c1')$$),
('ack', $$SELECT pulsar.ack(%1$L, 'sub', m.message_id) FROM pulsar.receive(%1$L, 'sub', 1, consumer => 'c1') m$$),
('ack array', $$SELECT pulsar.ack(%1$L, 'sub', ARRAY[m.message_id]) FROM pulsar.receive(%1$L, 'sub', 1, consumer => 'c1') m$$),
('ack text', $$SELECT pulsar.ack(%1$L, 'sub', m.message_id::text) FROM pulsar.receive(%1$L, 'sub', 1, consumer => 'c1') m$$),
('ack_cumulative', $$SELECT pulsar.ack_cumulative(%1$L, 'sub', m.message_id) FROM pulsar.receive(%1$L, 'sub', 1, consumer => 'c1') m$$),
('nack', $$SELECT pulsar.nack(%1$L, 'sub', ARRAY[m.message_id]) FROM pulsar.receive(%1$L, 'sub', 1, consumer => 'c1') m$$),
('seek id', $$SELECT pulsar.seek(%1$L, 'sub', m.message_id) FROM pulsar.read(%1$L, 'earliest', 1) m$$),
('seek time', $$SELECT pulsar.seek(%1$L, 'sub', now())$$),
('seek text', $$SELECT pulsar.seek(%1$L, 'sub', 'earliest')$$),
('channel', $$SELECT pulsar.channel(%1$L, 'sub')$$),
('close_consumer', $$SELECT pulsar.close_consumer(%1$L, 'sub', 'c1')$$),
('unsubscribe', $$SELECT pulsar.unsubscribe(%1$L, 'idle')$$),
('topic_stats', $$SELECT pulsar.topic_stats(%1$L)$$),
('topic_internal_stats', $$SELECT pulsar.topic_internal_stats(%1$L)$$),
('list_topics', $$SELECT 1 / count(*)::int FROM pulsar.list_topics() WHERE topic = 'persistent://' || %1$L$$),
('list_topics ns', $$SELECT 1 / count(*)::int FROM pulsar.list_topics(%2$L) WHERE topic = 'persistent://' || %1$L$$),
('create_topic', $$SELECT pulsar.create_topic(%1$L || '-new')$$),
('delete_topic', $$SELECT pulsar.delete_topic(%1$L, force => true)$$),
('set_deduplication', $$SELECT pulsar.set_deduplication(%2$L, true)$$),
('set_max_topics_per_namespace', $$SELECT pulsar.set_max_topics_per_namespace(%2$L, 100)$$),
('set_max_subscriptions_per_topic', $$SELECT pulsar.set_max_subscriptions_per_topic(%1$L, 100)$$),
('set_max_consumers_per_topic', $$SELECT pulsar.set_max_consumers_per_topic(%2$L, 100)$$),
('set_max_consumers_per_subscription', $$SELECT pulsar.set_max_consumers_per_subscription(%1$L, 100)$$),
('set_max_unacked_messages_per_subscription', $$SELECT pulsar.set_max_unacked_messages_per_subscription(%2$L, 100)$$),
('set_publish_rate', $$SELECT pulsar.set_publish_rate(%1$L, 100000, NULL)$$),
('set_dispatch_rate', $$SELECT pulsar.set_dispatch_rate(%2$L, NULL, 1048576)$$),
('expire_messages', $$SELECT pulsar.expire_messages(%1$L, 'sub', '0')$$),
('apply_expiry_policies', $$SELECT pulsar.apply_expiry_policies(%2$L)$$),
('create_namespace', $$SELECT pulsar.create_namespace('acme/new')$$),
('grant_permission', $$SELECT pulsar.grant_permission(%1$L, 'regress_stranger', '{consume}')$$),
('revoke_permission', $$SELECT pulsar.revoke_permission(%3$L, 'regress_granted')$$),
('get_permissions', $$SELECT pulsar.get_permissions(%1$L)$$),
('grant_subscription_permission', $$SELECT pulsar.grant_subscription_permission(%2$L, 'mine', ARRAY['regress_stranger'])$$),
('revoke_subscription_permission', $$SELECT pulsar.revoke_subscription_permission('acme/ns1', 'held', 'regress_member')$$),
('get_subscription_permissions', $$SELECT pulsar.get_subscription_permissions(%2$L)$$),
('create_tenant', $$SELECT pulsar.create_tenant('other')$$),
('create_tenant admins', $$SELECT pulsar.create_tenant('other', ARRAY['regress_stranger'])$$),
('update_tenant', $$SELECT pulsar.update_tenant('acme', ARRAY['regress_stranger'])$$),
('list_tenants', $$SELECT 1 / count(*)::int FROM pulsar.list_tenants() WHERE tenant = 'acme'$$),
('consume missing topic', $$SELECT * FROM pulsar.read(%2$L || '/missing', 'earliest', 1)$$),
('stats missing topic', $$SELECT pulsar.topic_stats(%2$L || '/missing')$$);

CREATE TEMP TABLE who (k int, role text);
INSERT INTO who VALUES (1, current_user), (2, 'regress_owner_member'),
	(3, 'regress_tadmin'), (4, 'regress_granted'), (5, 'regress_member'),
	(6, 'regress_stranger');

-- superuser | owner's member | tenant admin | granted | member of granted | stranger
CREATE FUNCTION pg_temp.matrix(topic text, grant_target text)
RETURNS TABLE (call text, su text, owner text, tadmin text, granted text,
			   member text, stranger text)
LANGUAGE sql AS $$
SELECT c.name,
	   max(r) FILTER (WHERE k = 1), max(r) FILTER (WHERE k = 2),
	   max(r) FILTER (WHERE k = 3), max(r) FILTER (WHERE k = 4),
	   max(r) FILTER (WHERE k = 5), max(r) FILTER (WHERE k = 6)
  FROM calls c, who w,
	   LATERAL pg_temp.try(w.role, format(c.command, topic,
										  split_part(topic, '/', 1) || '/' || split_part(topic, '/', 2),
										  grant_target)) r
 GROUP BY c.n, c.name ORDER BY c.n
$$;

-- acme/ns1 granted to regress_granted and regress_team
SELECT * FROM pg_temp.matrix('acme/ns1/t1', 'acme/ns1');
-- acme/ns2/t2 granted itself to regress_granted and regress_team
SELECT * FROM pg_temp.matrix('acme/ns2/t2', 'acme/ns2/t2');

-- the error names the action and the topic, the same whether it exists or not
SET ROLE regress_stranger;
SELECT pulsar.send('acme/ns1/t1', 'x');
SELECT pulsar.send('acme/ns1/nothing', 'x');
SELECT * FROM pulsar.receive('acme/ns1/t1', 'sub');
SELECT * FROM pulsar.receive('acme/nothing/t', 'sub');
SELECT pulsar.create_topic('acme/ns1/x');
SELECT pulsar.create_namespace('nobody/ns');
SELECT * FROM pulsar.list_topics('acme/ns1');
SELECT * FROM pulsar.list_topics('acme/nothing');
SELECT * FROM pulsar.list_tenants();
RESET ROLE;
SET ROLE regress_member;
SELECT pulsar.subscribe('acme/ns1/t1', 'reserved');
RESET ROLE;

-- produce and consume are separate rights
CREATE ROLE regress_producer;
SELECT pulsar.grant_permission('acme/ns1', 'regress_producer', '{produce}');
SET ROLE regress_producer;
SELECT pulsar.send('acme/ns1/t1', 'from producer') IS NOT NULL AS sent;
SELECT * FROM pulsar.read('acme/ns1/t1', 'earliest');
RESET ROLE;
-- granting again replaces the actions
SELECT pulsar.grant_permission('acme/ns1', 'regress_producer', '{consume}');
SET ROLE regress_producer;
SELECT pulsar.send('acme/ns1/t1', 'from producer');
SELECT count(*) > 0 AS reads FROM pulsar.read('acme/ns1/t1', 'earliest');
RESET ROLE;

-- a dead letter is published as the consumer: without produce on the
-- dead-letter topic, the receive that would move it there fails
SET ROLE regress_producer;
SELECT pulsar.subscribe('acme/ns1/t1', 'dl', 'shared', 'earliest', consumer => 'd',
						negative_ack_delay => '0', max_redeliver_count => 1) IS NOT NULL AS subscribed;
SELECT pulsar.nack('acme/ns1/t1', 'dl', ARRAY(SELECT message_id FROM pulsar.receive('acme/ns1/t1', 'dl', 1, consumer => 'd')));
SELECT pulsar.nack('acme/ns1/t1', 'dl', ARRAY(SELECT message_id FROM pulsar.receive('acme/ns1/t1', 'dl', 1, consumer => 'd')));
SELECT count(*) FROM pulsar.receive('acme/ns1/t1', 'dl', 1, consumer => 'd');
RESET ROLE;
SELECT pulsar.grant_permission('acme/ns1', 'regress_producer', '{consume,produce}');
SET ROLE regress_producer;
SELECT count(*) FROM pulsar.receive('acme/ns1/t1', 'dl', 1, consumer => 'd');
SELECT count(*) AS dead_letters FROM pulsar.read('acme/ns1/t1-dl-DLQ', 'earliest');
RESET ROLE;

-- a grant to public covers every role
SELECT pulsar.grant_permission('acme/ns2', 'public', '{consume}');
SET ROLE regress_stranger;
SELECT count(*) > 0 AS reads FROM pulsar.read('acme/ns2/t2', 'earliest');
SELECT pulsar.send('acme/ns2/t2', 'x');
RESET ROLE;
SELECT pulsar.revoke_permission('acme/ns2', 'public');

-- revocation holds at once for a session that already used the topic,
-- also inside its open transaction (test/isolation/specs/revocation.spec
-- shows it across sessions)
SET ROLE regress_granted;
BEGIN;
SELECT pulsar.send('acme/ns1/t1', 'before') IS NOT NULL AS sent;
RESET ROLE;
SELECT pulsar.revoke_permission('acme/ns1', 'regress_granted');
SET ROLE regress_granted;
SELECT pulsar.send('acme/ns1/t1', 'after');
ROLLBACK;
RESET ROLE;
-- the revocation above rolled back with the transaction
SET ROLE regress_granted;
SELECT pulsar.send('acme/ns1/t1', 'kept') IS NOT NULL AS sent;
RESET ROLE;
SELECT pulsar.revoke_permission('acme/ns1', 'regress_granted');
SET ROLE regress_granted;
SELECT pulsar.send('acme/ns1/t1', 'revoked');
RESET ROLE;
-- membership is PostgreSQL's: leaving the role leaves its rights
REVOKE regress_team FROM regress_member;
SET ROLE regress_member;
SELECT pulsar.send('acme/ns2/t2', 'left');
RESET ROLE;

-- a deleted topic takes its grants along
SELECT pulsar.delete_topic('acme/ns2/t2', force => true);
SELECT pulsar.create_topic('acme/ns2/t2');
SELECT * FROM pulsar.get_permissions('acme/ns2/t2');

-- Bad input: clear errors, nothing changed
\i test/include/error_of.sql
CREATE TEMP TABLE before AS
SELECT 'ns1' AS t, * FROM pulsar.get_permissions('acme/ns1')
UNION ALL SELECT 't1', * FROM pulsar.get_permissions('acme/ns1/t1');
SELECT pg_temp.error_of($$SELECT pulsar.grant_permission('acme/ns1', 'regress_nobody', '{produce}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_permission('acme/ns1', 'regress_granted', '{produce,functions}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_permission('acme/ns1', 'regress_granted', '{}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_permission('acme/ns1', 'regress_granted', '{produce,NULL}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_permission('acme/ns1', 'regress_granted', NULL)$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_permission('acme/ns1', NULL, '{produce}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_permission(NULL, 'regress_granted', '{produce}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_permission('acme/nothing', 'regress_granted', '{produce}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_permission('nobody/ns', 'regress_granted', '{produce}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_permission('acme/ns1/nothing', 'regress_granted', '{produce}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_permission('acme/ns1/t1-partition-0', 'regress_granted', '{produce}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_permission('a/b/c/d', 'regress_granted', '{produce}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.revoke_permission('acme/ns1', 'regress_stranger')$$);
SELECT pg_temp.error_of($$SELECT pulsar.revoke_permission('acme/ns1/t1', 'public')$$);
SELECT pg_temp.error_of($$SELECT pulsar.revoke_permission('acme/ns1', 'regress_nobody')$$);
SELECT pg_temp.error_of($$SELECT pulsar.get_permissions('acme/nothing')$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_subscription_permission('acme/ns1', 'sub', '{}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_subscription_permission('acme/ns1', 'sub', ARRAY['regress_nobody'])$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_subscription_permission('acme/ns1', 'bad name!', ARRAY['regress_granted'])$$);
SELECT pg_temp.error_of($$SELECT pulsar.grant_subscription_permission('acme/ns1/t1', 'sub', ARRAY['regress_granted'])$$);
SELECT pg_temp.error_of($$SELECT pulsar.revoke_subscription_permission('acme/ns1', 'reserved', 'regress_stranger')$$);
SELECT pg_temp.error_of($$SELECT pulsar.create_tenant('other', ARRAY['regress_nobody'])$$);
SELECT pg_temp.error_of($$SELECT pulsar.create_tenant('other', ARRAY['public'])$$);
SELECT pg_temp.error_of($$SELECT pulsar.create_tenant('other', NULL)$$);
SELECT pg_temp.error_of($$SELECT pulsar.create_tenant('acme', '{}')$$);
SELECT pg_temp.error_of($$SELECT pulsar.update_tenant('nothing', ARRAY['regress_tadmin'])$$);
SELECT pg_temp.error_of($$SELECT pulsar.update_tenant('acme', ARRAY['regress_tadmin', NULL])$$);
CREATE TEMP TABLE after AS
SELECT 'ns1' AS t, * FROM pulsar.get_permissions('acme/ns1')
UNION ALL SELECT 't1', * FROM pulsar.get_permissions('acme/ns1/t1');
SELECT count(*) AS grants,
	   NOT EXISTS ((TABLE before EXCEPT ALL TABLE after)
				   UNION ALL (TABLE after EXCEPT ALL TABLE before)) AS unchanged
  FROM before;
SELECT * FROM pulsar.list_tenants() WHERE tenant IN ('acme', 'other', 'public');
SELECT * FROM pulsar.get_subscription_permissions('acme/ns1');

-- a tenant admin manages its own tenant only
SET ROLE regress_tadmin;
SELECT pulsar.grant_permission('public/default', 'regress_stranger', '{produce}');
SELECT * FROM pulsar.list_tenants();
RESET ROLE;

-- Channels are keyed hashes of the subscription id: nothing to count up
-- from, and the key is the extension's own
SELECT pulsar.channel('acme/ns1/t1', 'sub') ~ '^pulsar_sub_[0-9a-f]{32}$' AS keyed,
	   pulsar.channel('acme/ns1/t1', 'sub') <> pulsar.channel('acme/ns1/t1', 'idle') AS distinct_channels,
	   pulsar.channel('acme/ns1/t1', 'sub') <> 'pulsar_sub_' || subscription_id AS id_not_shown
  FROM pulsar.subscription s JOIN pulsar.topic t USING (topic_id)
 WHERE t.tenant = 'acme' AND s.name = 'sub';
SELECT key AS old_key FROM pulsar.channel_key \gset
SET ROLE regress_stranger;
SELECT * FROM pulsar.channel_key;
SELECT * FROM pulsar.permission;
RESET ROLE;

DROP EXTENSION pulsar_pg;
CREATE EXTENSION pulsar_pg;
-- a new installation has a new key
SELECT key <> :'old_key' AS new_key FROM pulsar.channel_key;
DROP ROLE regress_owner_member, regress_tadmin, regress_granted, regress_team,
	regress_member, regress_stranger, regress_producer;
