/* pulsar_pg 0.6.0 -> 0.7.0 */

\echo Use "ALTER EXTENSION pulsar_pg UPDATE TO '0.7.0'" to load this file. \quit

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
