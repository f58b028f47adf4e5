/* pulsar_pg 0.6.0 -> 0.7.0 */

\echo Use "ALTER EXTENSION pulsar_pg UPDATE TO '0.7.0'" to load this file. \quit

--------------------------------------------------------------------------
-- Storage policies of namespaces and topics
--
-- One row per target and policy.  A namespace's row has topic_id 0; a
-- topic's row overrides it, and the GUCs pulsar_pg.default_* stand in for
-- a namespace that sets nothing.  Values are jsonb objects with times in
-- seconds and sizes in bytes; null is unlimited (or none).  A topic's rows
-- go with the topic.
--------------------------------------------------------------------------

CREATE TABLE pulsar.policy (
	tenant text NOT NULL,
	namespace text NOT NULL,
	topic_id bigint NOT NULL DEFAULT 0,
	name text NOT NULL,
	value jsonb NOT NULL,
	PRIMARY KEY (tenant, namespace, topic_id, name)
);
CREATE INDEX ON pulsar.policy (topic_id) WHERE topic_id <> 0;
COMMENT ON TABLE pulsar.policy IS
	'Policies set on namespaces (topic_id 0) and topics';
SELECT pg_catalog.pg_extension_config_dump('pulsar.policy', '');

CREATE FUNCTION pulsar.set_retention(target text, retention_time interval,
									 retention_size bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_retention' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_retention(text, interval, bigint) IS
	'Keeps acknowledged messages of a namespace or topic for a time and a size (NULL: unlimited)';

CREATE FUNCTION pulsar.set_message_ttl(target text, ttl interval) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_message_ttl' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_message_ttl(text, interval) IS
	'Acknowledges messages older than ttl for every subscription (NULL or 0: never)';

CREATE FUNCTION pulsar.set_backlog_quota(target text, limit_size bigint,
										 limit_time interval,
										 policy text DEFAULT 'producer_request_hold')
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_backlog_quota' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_backlog_quota(text, bigint, interval, text) IS
	'Bounds the backlog of a namespace''s or a topic''s subscriptions by size and age';

CREATE FUNCTION pulsar.set_subscription_expiration_time(target text,
														expiration interval)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_subscription_expiration_time' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_subscription_expiration_time(text, interval) IS
	'Removes subscriptions without consumers for this long (NULL or 0: never)';

CREATE FUNCTION pulsar.set_inactive_topic_policies(target text, enabled boolean,
												   max_inactive interval,
												   mode text) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_inactive_topic_policies' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_inactive_topic_policies(text, boolean, interval, text) IS
	'Deletes topics inactive for max_inactive: delete_when_no_subscriptions or delete_when_subscriptions_caught_up';

CREATE FUNCTION pulsar.set_compaction_threshold(target text, threshold bigint)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_compaction_threshold' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_compaction_threshold(text, bigint) IS
	'Compacts a topic automatically when its backlog passes threshold bytes (0: never)';

CREATE FUNCTION pulsar.remove_policy(target text, policy text) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_remove_policy' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.remove_policy(text, text) IS
	'Removes a policy of a namespace or topic: it inherits again';

CREATE FUNCTION pulsar.get_policies(target text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'pulsar_get_policies' LANGUAGE C STABLE;
COMMENT ON FUNCTION pulsar.get_policies(text) IS
	'Each policy of a namespace or topic: as set, inherited, by default, and in effect';

CREATE FUNCTION pulsar.policy_default(policy text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'pulsar_policy_default' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION pulsar.policy_default(text) IS
	'A policy''s server default, from the pulsar_pg.default_* settings';

-- The policy in effect for a topic, for statements that apply policies.
CREATE FUNCTION pulsar.effective_policy(topic_id bigint, policy text)
	RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	-- the topic's own, then its namespace's: two primary key look-ups
	SELECT coalesce(
		(SELECT p.value FROM pulsar.topic t
		   JOIN pulsar.policy p ON p.tenant = t.tenant AND p.namespace = t.namespace
		    AND p.topic_id = t.topic_id AND p.name = $2
		  WHERE t.topic_id = $1),
		(SELECT p.value FROM pulsar.topic t
		   JOIN pulsar.policy p ON p.tenant = t.tenant AND p.namespace = t.namespace
		    AND p.topic_id = 0 AND p.name = $2
		  WHERE t.topic_id = $1),
		pulsar.policy_default($2))
	$$;
COMMENT ON FUNCTION pulsar.effective_policy(bigint, text) IS
	'The policy that applies to a topic: its own, its namespace''s, or the default';

REVOKE EXECUTE ON FUNCTION
	pulsar.set_retention(text, interval, bigint),
	pulsar.set_message_ttl(text, interval),
	pulsar.set_backlog_quota(text, bigint, interval, text),
	pulsar.set_subscription_expiration_time(text, interval),
	pulsar.set_inactive_topic_policies(text, boolean, interval, text),
	pulsar.set_compaction_threshold(text, bigint),
	pulsar.remove_policy(text, text),
	pulsar.get_policies(text),
	pulsar.effective_policy(bigint, text)
FROM PUBLIC;

--------------------------------------------------------------------------
-- Compaction
--
-- The compacted view of a partition keeps the latest message of each key
-- up to a horizon (a NULL payload removes its key; messages without a key
-- are left out).  Each compaction writes a new table
-- pulsar_data.compacted_<ledger>_<generation> holding copies of those
-- messages and points the partition's row here at it; older tables are
-- dropped once no reader holds them, and all of them with their topic.
-- A row without a horizon only records a failed automatic compaction.
--------------------------------------------------------------------------

CREATE TABLE pulsar.compaction (
	ledger_id bigint PRIMARY KEY,
	horizon bigint,
	generation bigint,
	entries bigint,
	compacted_at timestamptz,
	last_error text,
	failed_at timestamptz
);
COMMENT ON TABLE pulsar.compaction IS
	'The compacted view of each partition: its horizon and the table holding it';
COMMENT ON COLUMN pulsar.compaction.horizon IS
	'Last entry id the view covers; above it readers read the partition';
COMMENT ON COLUMN pulsar.compaction.generation IS
	'The view is table pulsar_data.compacted_<ledger_id>_<generation>; 0: empty, no table';
SELECT pg_catalog.pg_extension_config_dump('pulsar.compaction', '');

CREATE FUNCTION pulsar.compact(topic text) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_compact' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.compact(text) IS
	'Compacts a topic (or one partition) up to its max read position: the latest message of each key';

CREATE FUNCTION pulsar.compaction_status(topic text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'pulsar_compaction_status' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.compaction_status(text) IS
	'Status of a topic''s compaction: NOT_RUN, RUNNING, SUCCESS or ERROR, with the last error';

CREATE FUNCTION pulsar.compaction_step() RETURNS int
	AS 'MODULE_PATHNAME', 'pulsar_compaction_step' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.compaction_step() IS
	'Compacts every partition whose messages above the horizon pass its compaction_threshold policy; returns how many';

REVOKE EXECUTE ON FUNCTION
	pulsar.compact(text),
	pulsar.compaction_status(text),
	pulsar.compaction_step()
FROM PUBLIC;

-- read(..., compacted): through the compacted view
DROP FUNCTION pulsar.read(text, pulsar.message_id, int);
CREATE FUNCTION pulsar.read(topic text, start_after pulsar.message_id,
							max_messages int DEFAULT 100,
							compacted boolean DEFAULT false)
	RETURNS SETOF pulsar.message
	AS 'MODULE_PATHNAME', 'pulsar_read' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.read(text, pulsar.message_id, int, boolean) IS
	'Reads one partition in publish order after a message ID (or ''earliest''), up to its max read position; with compacted, through its compacted view';

-- subscribe(..., read_compacted): exclusive and failover subscriptions
ALTER TABLE pulsar.subscription
	ADD COLUMN read_compacted boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN pulsar.subscription.read_compacted IS
	'Reads the compacted view below its horizon (exclusive and failover only)';
DROP FUNCTION pulsar.subscribe(text, text, text, text, text, int, interval,
							   interval, int, text, int);
CREATE FUNCTION pulsar.subscribe(topic text, subscription text,
								 type text DEFAULT 'exclusive',
								 initial_position text DEFAULT 'latest',
								 consumer text DEFAULT NULL,
								 priority int DEFAULT 0,
								 negative_ack_delay interval DEFAULT '1 minute',
								 ack_timeout interval DEFAULT NULL,
								 max_redeliver_count int DEFAULT NULL,
								 dead_letter_topic text DEFAULT NULL,
								 max_unacked_messages int DEFAULT 50000,
								 read_compacted boolean DEFAULT false)
	RETURNS text
	AS 'MODULE_PATHNAME', 'pulsar_subscribe' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pulsar.subscribe(text, text, text, text, text, int, interval, interval, int, text, int, boolean) IS
	'Creates the subscription if missing and attaches a consumer; returns the channel to LISTEN on';

--------------------------------------------------------------------------
-- Segment lifecycle: closing and trimming
--
-- The maintenance pass of the database worker records when a segment
-- closed (no transaction can add to it any more), with its entries and
-- size counted then, and drops whole closed segments that no subscription
-- and no retention policy needs.  A segment closed early by age
-- (pulsar_pg.segment_max_age) records its last entry: the ids after it
-- were never handed out.
--------------------------------------------------------------------------

ALTER TABLE pulsar.segment
	ADD COLUMN last_entry bigint,
	ADD COLUMN closed_at timestamptz,
	ADD COLUMN entries bigint,
	ADD COLUMN size bigint;
COMMENT ON COLUMN pulsar.segment.last_entry IS
	'Last entry id of a segment closed early by age; NULL: the end of its range';
COMMENT ON COLUMN pulsar.segment.closed_at IS
	'When the maintenance pass saw the segment closed; NULL while open';
COMMENT ON COLUMN pulsar.segment.entries IS
	'Messages stored in the segment, counted when it closed';
COMMENT ON COLUMN pulsar.segment.size IS
	'Bytes of the segment table with its indexes and TOAST, when it closed';

CREATE FUNCTION pulsar.trim_topic(topic text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'pulsar_trim_topic' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.trim_topic(text) IS
	'Closes and drops now the segments of a topic that no subscription and no retention needs; returns how many were dropped';
REVOKE EXECUTE ON FUNCTION pulsar.trim_topic(text) FROM PUBLIC;

--------------------------------------------------------------------------
-- Authorization: tenant admins, produce/consume permissions per namespace
-- and topic, subscription permissions, unguessable channels
--
-- Roles are kept as regrole, so a renamed role keeps its rights and a
-- dump names roles, not OIDs; 0 (shown as '-') stands for PUBLIC.
-- topic = '' marks a grant on the whole namespace.  Rows change only
-- through the functions, which tell every session's cache.
--------------------------------------------------------------------------

ALTER TABLE pulsar.tenant
	ADD COLUMN admin_roles regrole[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN pulsar.tenant.admin_roles IS
	'Roles that administer the tenant: its namespaces, topics, policies and permissions';

CREATE TABLE pulsar.permission (
	tenant text NOT NULL,
	namespace text NOT NULL,
	topic text NOT NULL,
	grantee regrole NOT NULL,
	actions text[] NOT NULL
		CHECK (actions <@ '{produce,consume}' AND cardinality(actions) > 0),
	PRIMARY KEY (tenant, namespace, topic, grantee)
);
COMMENT ON TABLE pulsar.permission IS
	'produce/consume grants per namespace (topic = '''') or topic, to a role or to PUBLIC (grantee 0)';

CREATE TABLE pulsar.subscription_permission (
	tenant text NOT NULL,
	namespace text NOT NULL,
	subscription text NOT NULL,
	grantee regrole NOT NULL,
	PRIMARY KEY (tenant, namespace, subscription, grantee)
);
COMMENT ON TABLE pulsar.subscription_permission IS
	'Roles allowed to use a subscription name in a namespace; a name with no row is open to every consumer';

-- The key of the channel names: a channel is an HMAC of the subscription
-- id, so a role that cannot consume cannot guess it.  Not dumped: a
-- restored database gets a new key, and clients subscribe again anyway.
CREATE TABLE pulsar.channel_key (
	key bytea NOT NULL CHECK (length(key) = 32)
);
INSERT INTO pulsar.channel_key
	SELECT pg_catalog.decode(pg_catalog.md5(pg_catalog.gen_random_uuid()::text) ||
							 pg_catalog.md5(pg_catalog.gen_random_uuid()::text), 'hex');
COMMENT ON TABLE pulsar.channel_key IS 'The secret from which channel names derive';

-- public/default stays open to every role, as before this version.
INSERT INTO pulsar.permission (tenant, namespace, topic, grantee, actions)
VALUES ('public', 'default', '', 0, '{produce,consume}');

SELECT pg_catalog.pg_extension_config_dump('pulsar.permission',
	'WHERE (tenant, namespace, topic, grantee) <> (''public'', ''default'', '''', 0)');
SELECT pg_catalog.pg_extension_config_dump('pulsar.subscription_permission', '');

-- Administration is checked by the functions themselves now (superusers,
-- the extension's owner and each tenant's admins).
GRANT EXECUTE ON FUNCTION
	pulsar.create_tenant(text),
	pulsar.create_namespace(text),
	pulsar.set_deduplication(text, boolean),
	pulsar.create_topic(text, int),
	pulsar.delete_topic(text, boolean)
TO PUBLIC;

CREATE FUNCTION pulsar.create_tenant(tenant text, admin_roles text[]) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_create_tenant_with_admins' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.create_tenant(text, text[]) IS
	'Creates a tenant administered by these roles (superusers only)';

CREATE FUNCTION pulsar.update_tenant(tenant text, admin_roles text[]) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_update_tenant' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.update_tenant(text, text[]) IS
	'Replaces the admin roles of a tenant (superusers only)';

CREATE FUNCTION pulsar.list_tenants()
	RETURNS TABLE (tenant text, admin_roles name[])
	AS 'MODULE_PATHNAME', 'pulsar_list_tenants' LANGUAGE C STABLE;
COMMENT ON FUNCTION pulsar.list_tenants() IS
	'Tenants the caller administers (every tenant, for superusers) and their admin roles';

CREATE FUNCTION pulsar.grant_permission(target text, role name, actions text[])
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_grant_permission' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.grant_permission(text, name, text[]) IS
	'Sets the actions (produce, consume) a role, or public, may take on a namespace (tenant/ns) or topic';

CREATE FUNCTION pulsar.revoke_permission(target text, role name) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_revoke_permission' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.revoke_permission(text, name) IS
	'Removes what a role, or public, was granted on a namespace or topic';

CREATE FUNCTION pulsar.get_permissions(target text)
	RETURNS TABLE (role name, actions text[])
	AS 'MODULE_PATHNAME', 'pulsar_get_permissions' LANGUAGE C STABLE;
COMMENT ON FUNCTION pulsar.get_permissions(text) IS
	'The grants made on a namespace or on a topic itself (not those it inherits)';

CREATE FUNCTION pulsar.grant_subscription_permission(namespace text,
													 subscription text,
													 roles name[])
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_grant_subscription_permission' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.grant_subscription_permission(text, text, name[]) IS
	'Adds roles allowed to use a subscription name in a namespace; once a name has roles, no other consumer may use it';

CREATE FUNCTION pulsar.revoke_subscription_permission(namespace text,
													  subscription text,
													  role name)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_revoke_subscription_permission' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.revoke_subscription_permission(text, text, name) IS
	'Removes a role from those allowed to use a subscription name';

CREATE FUNCTION pulsar.get_subscription_permissions(namespace text)
	RETURNS TABLE (subscription text, roles name[])
	AS 'MODULE_PATHNAME', 'pulsar_get_subscription_permissions' LANGUAGE C STABLE;
COMMENT ON FUNCTION pulsar.get_subscription_permissions(text) IS
	'Subscription names of a namespace restricted to some roles, and those roles';

-- Only the topics the caller may use: checked in C, with the caller's
-- identity, which a SECURITY DEFINER function would have hidden.
CREATE OR REPLACE FUNCTION pulsar.list_topics(namespace text DEFAULT NULL)
	RETURNS TABLE (topic text, partitions int)
	AS 'MODULE_PATHNAME', 'pulsar_list_topics'
	LANGUAGE C STABLE SECURITY INVOKER;
COMMENT ON FUNCTION pulsar.list_topics(text) IS
	'Topics the caller may use, of one namespace (tenant/namespace) or of all; partitions = 0 for a non-partitioned topic';

-- end of authorization

--------------------------------------------------------------------------
-- Storage policies are set by whoever administers the target: the
-- functions check it (superusers, the extension's owner, tenant admins)
--------------------------------------------------------------------------

GRANT EXECUTE ON FUNCTION
	pulsar.set_retention(text, interval, bigint),
	pulsar.set_message_ttl(text, interval),
	pulsar.set_backlog_quota(text, bigint, interval, text),
	pulsar.set_subscription_expiration_time(text, interval),
	pulsar.set_inactive_topic_policies(text, boolean, interval, text),
	pulsar.set_compaction_threshold(text, bigint),
	pulsar.remove_policy(text, text),
	pulsar.get_policies(text)
TO PUBLIC;

-- compact() and compaction_status() are for whoever administers the topic:
-- the functions check it, as the policy setters do
GRANT EXECUTE ON FUNCTION
	pulsar.compact(text),
	pulsar.compaction_status(text)
TO PUBLIC;

--------------------------------------------------------------------------
-- limits: Pulsar's limits of namespaces and topics
--
-- Pulsar's namespace and topic limits, stored as policies in
-- pulsar.policy: counts ({"max": n}) and rates ({"messages_per_second": n,
-- "bytes_per_second": n}), JSON null for no limit.  NULL or 0 passed to a
-- set_* function is no limit, as in Pulsar.  Over a count limit a call
-- fails (SQLSTATE 54000); over a rate it waits, up to
-- pulsar_pg.rate_limit_timeout, then fails (SQLSTATE 54R01).
-- max_topics_per_namespace is set on namespaces only.  Whoever
-- administers the target may set them: the functions check it, as the
-- storage policy setters do.
--------------------------------------------------------------------------

CREATE FUNCTION pulsar.set_max_topics_per_namespace(namespace text, max int)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_max_topics_per_namespace' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_max_topics_per_namespace(text, int) IS
	'Bounds the topics of a namespace, each partition counted (NULL or 0: no limit)';

CREATE FUNCTION pulsar.set_max_subscriptions_per_topic(target text, max int)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_max_subscriptions_per_topic' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_max_subscriptions_per_topic(text, int) IS
	'Bounds the subscriptions of each topic of a namespace, or of a topic (NULL or 0: no limit)';

CREATE FUNCTION pulsar.set_max_consumers_per_topic(target text, max int)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_max_consumers_per_topic' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_max_consumers_per_topic(text, int) IS
	'Bounds the consumers attached to all subscriptions of a topic (NULL or 0: no limit)';

CREATE FUNCTION pulsar.set_max_consumers_per_subscription(target text, max int)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_max_consumers_per_subscription' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_max_consumers_per_subscription(text, int) IS
	'Bounds the consumers attached to each subscription (NULL or 0: no limit)';

CREATE FUNCTION pulsar.set_max_unacked_messages_per_subscription(target text, max int)
	RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_max_unacked_messages_per_subscription' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_max_unacked_messages_per_subscription(text, int) IS
	'Stops dispatching to a subscription holding this many unacknowledged messages in a partition (NULL or 0: no limit)';

CREATE FUNCTION pulsar.set_publish_rate(target text, messages_per_second bigint,
										bytes_per_second bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_publish_rate' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_publish_rate(text, bigint, bigint) IS
	'Bounds the messages and bytes per second sent to each topic (NULL or 0: no limit)';

CREATE FUNCTION pulsar.set_dispatch_rate(target text, messages_per_second bigint,
										 bytes_per_second bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'pulsar_set_dispatch_rate' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.set_dispatch_rate(text, bigint, bigint) IS
	'Bounds the messages and bytes per second each subscription receives (NULL or 0: no limit)';

GRANT EXECUTE ON FUNCTION
	pulsar.set_max_topics_per_namespace(text, int),
	pulsar.set_max_subscriptions_per_topic(text, int),
	pulsar.set_max_consumers_per_topic(text, int),
	pulsar.set_max_consumers_per_subscription(text, int),
	pulsar.set_max_unacked_messages_per_subscription(text, int),
	pulsar.set_publish_rate(text, bigint, bigint),
	pulsar.set_dispatch_rate(text, bigint, bigint)
TO PUBLIC;

-- end of limits

--------------------------------------------------------------------------
-- Message expiry, backlog quotas, subscription expiration and inactive
-- topics: what applies the message_ttl, backlog_quota,
-- subscription_expiration_time and inactive_topic_policies policies.
--
-- Expiry and eviction move cursors as acknowledgements would and count
-- what they passed in pulsar.cursor_expiry, written only by a transaction
-- that holds the cursor's row.  pulsar.subscription_activity records when
-- a subscription last lost a consumer; only the database worker writes
-- it.  A send over a backlog quota fails with SQLSTATE PB001
-- (producer_exception) or, after waiting up to
-- pulsar_pg.backlog_quota_hold_timeout, PB002 (producer_request_hold).
--------------------------------------------------------------------------

CREATE TABLE pulsar.cursor_expiry (
	subscription_id bigint NOT NULL,
	ledger_id bigint NOT NULL,
	expired bigint NOT NULL,
	last_expired_at timestamptz NOT NULL,
	PRIMARY KEY (subscription_id, ledger_id)
);
COMMENT ON TABLE pulsar.cursor_expiry IS
	'Messages each cursor passed by expiry or backlog eviction (msgExpired)';
SELECT pg_catalog.pg_extension_config_dump('pulsar.cursor_expiry', '');

CREATE TABLE pulsar.subscription_activity (
	subscription_id bigint PRIMARY KEY,
	last_consumer_at timestamptz NOT NULL
);
COMMENT ON TABLE pulsar.subscription_activity IS
	'When each subscription last had a consumer, for subscription expiration';
SELECT pg_catalog.pg_extension_config_dump('pulsar.subscription_activity', '');

CREATE FUNCTION pulsar.expire_messages(topic text, subscription text,
									   expire_time interval) RETURNS bigint
	AS 'MODULE_PATHNAME', 'pulsar_expire_messages' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.expire_messages(text, text, interval) IS
	'Moves a subscription past its messages published more than expire_time ago, as if acknowledged; returns how many';

CREATE FUNCTION pulsar.apply_expiry_policies(namespace text DEFAULT NULL,
											 as_of timestamptz DEFAULT now())
	RETURNS jsonb
	AS 'MODULE_PATHNAME', 'pulsar_apply_expiry_policies' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pulsar.apply_expiry_policies(text, timestamptz) IS
	'Applies message TTL, subscription expiration, backlog quotas and inactive topic policies to the topics of a namespace (NULL: all) now, as the maintenance pass does, as if at as_of';

-- expire_messages() is for whoever administers the topic: the function
-- checks it, as compact() does.  apply_expiry_policies(), like
-- trim_topic(), is for superusers and whom they grant it to.
REVOKE EXECUTE ON FUNCTION
	pulsar.apply_expiry_policies(text, timestamptz)
FROM PUBLIC;

-- end of message expiry, backlog quotas, subscription expiration and
-- inactive topics
