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
	SELECT coalesce(
		(SELECT p.value FROM pulsar.topic t
		   JOIN pulsar.policy p ON p.tenant = t.tenant AND p.namespace = t.namespace
		    AND p.topic_id IN (0, t.topic_id) AND p.name = $2
		  WHERE t.topic_id = $1
		  ORDER BY p.topic_id DESC LIMIT 1),
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

REVOKE EXECUTE ON FUNCTION
	pulsar.expire_messages(text, text, interval),
	pulsar.apply_expiry_policies(text, timestamptz)
FROM PUBLIC;
