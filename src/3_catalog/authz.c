/*-------------------------------------------------------------------------
 *
 * authz.c
 *	  Pulsar's authorization model on PostgreSQL roles, and the tables that
 *	  hold it: pulsar.tenant.admin_roles, pulsar.permission,
 *	  pulsar.subscription_permission and pulsar.channel_key.
 *
 * Superusers (PostgreSQL's, and whoever has the privileges of the
 * extension's owner) may do anything; a tenant's admins may do anything in
 * their tenant; everyone else needs a produce or consume grant on the
 * topic or its namespace, made to a role whose privileges they have or to
 * PUBLIC.  Subscription permissions further restrict who may use a
 * subscription name in a namespace.
 *
 * Every SQL entry point calls authz_check() with the name it was given,
 * before resolving it: a topic the caller may not use yields the same
 * error whether it exists or not, and a send never auto-creates a topic
 * in a namespace the caller may not produce to.
 *
 * The checks read a per-backend copy of the three tables.  Every change
 * goes through the functions below, which send a relcache invalidation for
 * pulsar.permission; the callback marks the copy stale, and each check
 * first takes in pending invalidations, so a revocation committed by
 * another session holds from this session's next call on, even inside an
 * open transaction.  Role membership is PostgreSQL's own
 * (has_privs_of_role), with its own cache and invalidation.
 *
 * A subscription's LISTEN channel is "pulsar_sub_" and 128 bits of an
 * HMAC-SHA256 of its id under a random per-database key that only the
 * extension's owner can read: a role that cannot consume a topic cannot
 * compute its channels, and the ids it could guess tell it nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "port/pg_bswap.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "3_catalog/authz.h"
#include "3_catalog/catalog.h"

/* a cache key: a kind letter, then tenant/namespace/topic-or-subscription */
#define AUTHZ_KEY_LEN \
	(2 + MAX_TENANT_NAME_LEN + 1 + MAX_NAMESPACE_NAME_LEN + 1 + 256)

#define KIND_ADMINS			'A'	/* tenant -> admin roles */
#define KIND_GRANTS			'P'	/* namespace or topic -> grants */
#define KIND_SUBSCRIPTION	'S' /* namespace and name -> allowed roles */

typedef struct AuthzEntry
{
	char		key[AUTHZ_KEY_LEN];
	int			count;
	Oid		   *roles;
	int		   *actions;		/* KIND_GRANTS only */
} AuthzEntry;

#define CHANNEL_KEY_LEN		32
#define CHANNEL_HASH_BYTES	16

static bool cache_valid = false;
static bool callback_registered = false;
static bool tables_present = false;
static MemoryContext AuthzContext = NULL;
static HTAB *AuthzCache = NULL;
static Oid	permission_relid = InvalidOid;
static Oid	extension_owner = InvalidOid;

/*
 * The last decision, reused while nothing it depends on changed: the same
 * user, action and target, and no invalidation of the tables, of roles or
 * of role membership since (each bumps the generation).  A producer or a
 * consumer calls with the same topic over and over.
 */
static uint64 authz_generation = 1;
static struct
{
	uint64		generation;
	Oid			user;
	AuthzAction action;
	bool		allowed;
	char		key[AUTHZ_KEY_LEN];
}			last_decision;

/* whether any subscription name is reserved anywhere */
static bool any_subscription_rules = false;

static Oid	channel_key_relid = InvalidOid;
static uint8 channel_key[CHANNEL_KEY_LEN];

static void
authz_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == permission_relid)
	{
		cache_valid = false;
		authz_generation++;
	}
}

/* roles (superuser, inheritance) and memberships changed */
static void
authz_role_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	authz_generation++;
}

static void
make_key(char *key, char kind, const char *tenant, const char *namespace,
		 const char *last)
{
	snprintf(key, AUTHZ_KEY_LEN, "%c:%s/%s/%s", kind, tenant, namespace,
			 last);
}

static AuthzEntry *
cache_entry(char kind, const char *tenant, const char *namespace,
			const char *last, bool create)
{
	char		key[AUTHZ_KEY_LEN];
	bool		found;
	AuthzEntry *entry;

	make_key(key, kind, tenant, namespace, last);
	entry = hash_search(AuthzCache, key, create ? HASH_ENTER : HASH_FIND,
						&found);
	if (create && !found)
	{
		entry->count = 0;
		entry->roles = NULL;
		entry->actions = NULL;
	}
	return entry;
}

static void
cache_add(AuthzEntry *entry, Oid role, int actions)
{
	if (entry->roles == NULL)
	{
		entry->roles = MemoryContextAlloc(AuthzContext, sizeof(Oid));
		entry->actions = MemoryContextAlloc(AuthzContext, sizeof(int));
	}
	else
	{
		entry->roles = repalloc(entry->roles, sizeof(Oid) * (entry->count + 1));
		entry->actions = repalloc(entry->actions,
								  sizeof(int) * (entry->count + 1));
	}
	entry->roles[entry->count] = role;
	entry->actions[entry->count] = actions;
	entry->count++;
}

static char *
result_text(int row, int column)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column);
}

static Oid
result_oid(int row, int column)
{
	bool		isnull;

	return DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[row],
										  SPI_tuptable->tupdesc, column,
										  &isnull));
}

static bool
result_bool(int row, int column)
{
	bool		isnull;

	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[row],
									  SPI_tuptable->tupdesc, column, &isnull));
}

/*
 * The owner of the installed extension, from pg_extension.
 */
static Oid
load_extension_owner(void)
{
	Oid			extension = get_extension_oid("pulsar_pg", true);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner = InvalidOid;

	if (!OidIsValid(extension))
		return InvalidOid;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extension));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/* Reads the authorization tables into the cache. */
static void
load_authz_tables(void)
{
	CatalogAccess access;

	catalog_access_begin(&access);
	catalog_run_sql("SELECT name, pg_catalog.unnest(admin_roles)::pg_catalog.oid"
					"  FROM pulsar.tenant",
					0, NULL, NULL, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
		cache_add(cache_entry(KIND_ADMINS, result_text(i, 1), "", "", true),
				  result_oid(i, 2), 0);
	catalog_run_sql("SELECT tenant, namespace, topic, grantee::pg_catalog.oid,"
					"       'produce' OPERATOR(pg_catalog.=) ANY (actions),"
					"       'consume' OPERATOR(pg_catalog.=) ANY (actions)"
					"  FROM pulsar.permission",
					0, NULL, NULL, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
		cache_add(cache_entry(KIND_GRANTS, result_text(i, 1),
							  result_text(i, 2), result_text(i, 3), true),
				  result_oid(i, 4),
				  (result_bool(i, 5) ? AUTHZ_PRODUCE : 0) |
				  (result_bool(i, 6) ? AUTHZ_CONSUME : 0));
	catalog_run_sql("SELECT tenant, namespace, subscription,"
					"       grantee::pg_catalog.oid"
					"  FROM pulsar.subscription_permission",
					0, NULL, NULL, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
		cache_add(cache_entry(KIND_SUBSCRIPTION, result_text(i, 1),
							  result_text(i, 2), result_text(i, 3), true),
				  result_oid(i, 4), 0);
	any_subscription_rules = SPI_processed > 0;
	catalog_access_end(&access);
}

/*
 * Rebuilds the copy of the authorization tables if an invalidation marked
 * it stale.  Pending invalidations are taken in first.
 */
static void
ensure_authz_cache(void)
{
	HASHCTL		info;
	Oid			schema;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(authz_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, authz_role_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, authz_role_callback,
									  (Datum) 0);
		callback_registered = true;
	}
	AcceptInvalidationMessages();
	if (cache_valid)
		return;

	if (AuthzContext != NULL)
		MemoryContextDelete(AuthzContext);
	AuthzContext = AllocSetContextCreate(CacheMemoryContext,
										 "pulsar_pg authorization cache",
										 ALLOCSET_SMALL_SIZES);
	info.keysize = AUTHZ_KEY_LEN;
	info.entrysize = sizeof(AuthzEntry);
	info.hcxt = AuthzContext;
	AuthzCache = hash_create("pulsar_pg authorization", 64, &info,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	/* set before reading: an invalidation arriving meanwhile clears it */
	cache_valid = true;
	authz_generation++;
	any_subscription_rules = false;
	/* a load cut short (a cancel, a lock timeout) must not count as whole */
	PG_TRY();
	{
		extension_owner = load_extension_owner();
		schema = get_namespace_oid("pulsar", true);
		permission_relid = OidIsValid(schema) ?
			get_relname_relid("permission", schema) : InvalidOid;
		tables_present = OidIsValid(permission_relid);
		if (tables_present)
			load_authz_tables();
		else
		{
			/* look again next time: the update creates them without telling */
			cache_valid = false;
		}
	}
	PG_CATCH();
	{
		cache_valid = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * Whether 'user' has the privileges of one of the entry's roles (PUBLIC,
 * InvalidOid, covers everyone) for one of 'actions' (0: any grant).
 */
static bool
entry_covers(AuthzEntry *entry, Oid user, int actions)
{
	if (entry == NULL)
		return false;
	for (int i = 0; i < entry->count; i++)
	{
		if (actions != 0 && (entry->actions[i] & actions) == 0)
			continue;
		if (!OidIsValid(entry->roles[i]) ||
			has_privs_of_role(user, entry->roles[i]))
			return true;
	}
	return false;
}

static bool
is_superuser(Oid user)
{
	if (superuser_arg(user))
		return true;
	return OidIsValid(extension_owner) && has_privs_of_role(user, extension_owner);
}

/*
 * Until ALTER EXTENSION pulsar_pg UPDATE creates the tables, only
 * superusers may use the extension: nothing says what others may do.
 */
static void
require_authz_tables(void)
{
	if (!tables_present)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pulsar_pg\" must be updated before roles other than superusers can use it"),
				 errdetail("The installed library keeps permissions in tables of version 0.7.0 of the extension."),
				 errhint("Run ALTER EXTENSION pulsar_pg UPDATE.")));
}

bool
authz_is_superuser(void)
{
	ensure_authz_cache();
	return is_superuser(GetUserId());
}

static bool
decide(const TopicName *target, AuthzAction action, Oid user)
{
	if (is_superuser(user))
		return true;
	require_authz_tables();
	if (target->tenant[0] != '\0' &&
		entry_covers(cache_entry(KIND_ADMINS, target->tenant, "", "", false),
					 user, 0))
		return true;
	if (action == AUTHZ_ADMINISTER || target->namespace[0] == '\0')
		return false;
	if (entry_covers(cache_entry(KIND_GRANTS, target->tenant,
								 target->namespace, "", false),
					 user, action))
		return true;
	return target->local_name[0] != '\0' &&
		entry_covers(cache_entry(KIND_GRANTS, target->tenant,
								 target->namespace, target->local_name, false),
					 user, action);
}

bool
authz_allowed(const TopicName *target, AuthzAction action)
{
	Oid			user = GetUserId();
	char		key[AUTHZ_KEY_LEN];
	uint64		generation;

	ensure_authz_cache();
	make_key(key, '-', target->tenant, target->namespace, target->local_name);
	if (last_decision.generation == authz_generation &&
		last_decision.user == user && last_decision.action == action &&
		strcmp(last_decision.key, key) == 0)
		return last_decision.allowed;

	generation = authz_generation;
	last_decision.generation = 0;
	last_decision.allowed = decide(target, action, user);
	last_decision.user = user;
	last_decision.action = action;
	strlcpy(last_decision.key, key, sizeof(last_decision.key));
	/* an invalidation taken in while deciding leaves it unusable */
	if (cache_valid && authz_generation == generation)
		last_decision.generation = generation;
	return last_decision.allowed;
}

static const char *
action_name(AuthzAction action)
{
	switch (action)
	{
		case AUTHZ_PRODUCE:
			return "produce to";
		case AUTHZ_CONSUME:
			return "consume";
		case AUTHZ_ADMINISTER:
			break;
	}
	return "administer";
}

void
authz_check(const TopicName *target, AuthzAction action)
{
	if (authz_allowed(target, action))
		return;
	if (target->namespace[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s tenant \"%s\"",
						action_name(action), target->tenant),
				 errhint("Superusers name a tenant's admins with pulsar.update_tenant().")));
	if (target->local_name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s namespace \"%s/%s\"",
						action_name(action), target->tenant,
						target->namespace),
				 action == AUTHZ_ADMINISTER ?
				 errhint("Only superusers and the admins of tenant \"%s\" may.",
						 target->tenant) :
				 errhint("An admin of tenant \"%s\" can grant it with pulsar.grant_permission().",
						 target->tenant)));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s topic \"%s\"",
					action_name(action),
					topic_name_string(target, NOT_A_PARTITION)),
			 action == AUTHZ_ADMINISTER ?
			 errhint("Only superusers and the admins of tenant \"%s\" may.",
					 target->tenant) :
			 errhint("An admin of tenant \"%s\" can grant it with pulsar.grant_permission().",
					 target->tenant)));
}

void
authz_check_namespace(const char *tenant, const char *namespace,
					  AuthzAction action)
{
	TopicName	target;

	memset(&target, 0, sizeof(target));
	strlcpy(target.tenant, tenant, sizeof(target.tenant));
	strlcpy(target.namespace, namespace, sizeof(target.namespace));
	target.partition_index = NOT_A_PARTITION;
	authz_check(&target, action);
}

void
authz_check_subscription(const TopicName *topic, const char *subscription)
{
	Oid			user = GetUserId();
	AuthzEntry *allowed;

	authz_check(topic, AUTHZ_CONSUME);
	if (subscription == NULL || !any_subscription_rules || is_superuser(user) ||
		entry_covers(cache_entry(KIND_ADMINS, topic->tenant, "", "", false),
					 user, 0))
		return;
	allowed = cache_entry(KIND_SUBSCRIPTION, topic->tenant, topic->namespace,
						  subscription, false);
	if (allowed != NULL && allowed->count > 0 &&
		!entry_covers(allowed, user, 0))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to consume topic \"%s\" through subscription \"%s\"",
						topic_name_string(topic, NOT_A_PARTITION),
						subscription),
				 errdetail("Subscription name \"%s\" is reserved for some roles in namespace \"%s/%s\".",
						   subscription, topic->tenant, topic->namespace),
				 errhint("An admin of tenant \"%s\" can add a role with pulsar.grant_subscription_permission().",
						 topic->tenant)));
}

void
authz_check_superuser(const char *function)
{
	if (!authz_is_superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", function),
				 errdetail("Only superusers and the owner of extension \"pulsar_pg\" may call it.")));
}

/*
 * Tells every session, this one included, that the tables changed.
 */
static void
invalidate_authz(void)
{
	CommandCounterIncrement();
	CacheInvalidateRelcacheByRelid(permission_relid);
}

static Datum
oid_array(const Oid *oids, int count)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(count, 1));

	for (int i = 0; i < count; i++)
		elems[i] = ObjectIdGetDatum(oids[i]);
	return PointerGetDatum(construct_array(elems, count, OIDOID, sizeof(Oid),
										   true, TYPALIGN_INT));
}

/*
 * Runs one statement that changes the authorization tables; what it changed
 * is seen by every backend's next check.  Returns the rows it touched.
 */
static uint64
change_authz_tables(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	CatalogAccess access;
	uint64		changed;

	ensure_authz_cache();
	require_authz_tables();
	catalog_access_begin(&access);
	catalog_run_sql(sql, nargs, argtypes, values, NULL, false);
	changed = SPI_processed;
	if (changed > 0)
		invalidate_authz();
	catalog_access_end(&access);
	return changed;
}

/*
 * Replaces the admins of an existing tenant; the caller checked who may.
 */
void
authz_set_tenant_admins(const char *tenant, const Oid *roles, int nroles)
{
	Oid			argtypes[2] = {TEXTOID, OIDARRAYOID};
	Datum		values[2] = {CStringGetTextDatum(tenant), oid_array(roles, nroles)};

	if (change_authz_tables("UPDATE pulsar.tenant"
							"   SET admin_roles = ARRAY(SELECT DISTINCT r::pg_catalog.regrole"
							"                             FROM pg_catalog.unnest($2) r"
							"                            ORDER BY 1)"
							" WHERE name = $1",
							2, argtypes, values) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant \"%s\" does not exist", tenant),
				 errhint("Create it with pulsar.create_tenant().")));
}

void
authz_grant(const TopicName *target, Oid role, int actions)
{
	Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTOID, OIDOID, TEXTARRAYOID};
	Datum		names[2];
	int			count = 0;
	Datum		values[5];

	if (actions & AUTHZ_PRODUCE)
		names[count++] = CStringGetTextDatum("produce");
	if (actions & AUTHZ_CONSUME)
		names[count++] = CStringGetTextDatum("consume");
	values[0] = CStringGetTextDatum(target->tenant);
	values[1] = CStringGetTextDatum(target->namespace);
	values[2] = CStringGetTextDatum(target->local_name);
	values[3] = ObjectIdGetDatum(role);
	values[4] = PointerGetDatum(construct_array(names, count, TEXTOID, -1,
												false, TYPALIGN_INT));

	change_authz_tables("INSERT INTO pulsar.permission"
						" (tenant, namespace, topic, grantee, actions)"
						" VALUES ($1, $2, $3, $4::pg_catalog.regrole, $5)"
						" ON CONFLICT (tenant, namespace, topic, grantee)"
						" DO UPDATE SET actions = EXCLUDED.actions",
						5, argtypes, values);
}

bool
authz_revoke(const TopicName *target, Oid role)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, OIDOID};
	Datum		values[4] = {CStringGetTextDatum(target->tenant),
		CStringGetTextDatum(target->namespace),
		CStringGetTextDatum(target->local_name),
	ObjectIdGetDatum(role)};

	return change_authz_tables("DELETE FROM pulsar.permission"
							   " WHERE tenant = $1 AND namespace = $2 AND topic = $3"
							   "   AND grantee = $4::pg_catalog.regrole",
							   4, argtypes, values) > 0;
}

/*
 * The grants made on exactly this namespace or topic, as a List of
 * AuthzGrant in the caller's memory context, PUBLIC first, then by role.
 */
List *
authz_grants(const TopicName *target)
{
	CatalogAccess access;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3] = {CStringGetTextDatum(target->tenant),
		CStringGetTextDatum(target->namespace),
	CStringGetTextDatum(target->local_name)};
	MemoryContext caller = CurrentMemoryContext;
	List	   *grants = NIL;

	ensure_authz_cache();
	require_authz_tables();
	catalog_access_begin(&access);
	catalog_run_sql("SELECT grantee::pg_catalog.oid,"
					"       'produce' OPERATOR(pg_catalog.=) ANY (actions),"
					"       'consume' OPERATOR(pg_catalog.=) ANY (actions)"
					"  FROM pulsar.permission"
					" WHERE tenant = $1 AND namespace = $2 AND topic = $3"
					" ORDER BY grantee::pg_catalog.oid",
					3, argtypes, values, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);
		AuthzGrant *grant = palloc(sizeof(AuthzGrant));

		grant->role = result_oid(i, 1);
		grant->actions = (result_bool(i, 2) ? AUTHZ_PRODUCE : 0) |
			(result_bool(i, 3) ? AUTHZ_CONSUME : 0);
		grants = lappend(grants, grant);
		MemoryContextSwitchTo(old);
	}
	catalog_access_end(&access);
	return grants;
}

void
authz_grant_subscription(const char *tenant, const char *namespace,
						 const char *subscription, const Oid *roles,
						 int nroles)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, OIDARRAYOID};
	Datum		values[4] = {CStringGetTextDatum(tenant),
		CStringGetTextDatum(namespace),
		CStringGetTextDatum(subscription),
	oid_array(roles, nroles)};

	change_authz_tables("INSERT INTO pulsar.subscription_permission"
						" (tenant, namespace, subscription, grantee)"
						" SELECT DISTINCT $1, $2, $3, r::pg_catalog.regrole"
						"   FROM pg_catalog.unnest($4) r"
						" ON CONFLICT DO NOTHING",
						4, argtypes, values);
}

bool
authz_revoke_subscription(const char *tenant, const char *namespace,
						  const char *subscription, Oid role)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, OIDOID};
	Datum		values[4] = {CStringGetTextDatum(tenant),
		CStringGetTextDatum(namespace),
		CStringGetTextDatum(subscription),
	ObjectIdGetDatum(role)};

	return change_authz_tables("DELETE FROM pulsar.subscription_permission"
							   " WHERE tenant = $1 AND namespace = $2"
							   "   AND subscription = $3"
							   "   AND grantee = $4::pg_catalog.regrole",
							   4, argtypes, values) > 0;
}

/*
 * A deleted topic takes its grants along: a topic created later under the
 * same name starts with its namespace's grants only.
 */
void
authz_forget_topic(const TopicName *topic)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3] = {CStringGetTextDatum(topic->tenant),
		CStringGetTextDatum(topic->namespace),
	CStringGetTextDatum(topic->local_name)};

	ensure_authz_cache();
	if (!tables_present)
		return;
	change_authz_tables("DELETE FROM pulsar.permission"
						" WHERE tenant = $1 AND namespace = $2 AND topic = $3",
						3, argtypes, values);
}

/*
 * Roles are shared by every database and a dropped role's grants stay in
 * this database's tables: they cover no one, but a role created later
 * could get the same OID.  The maintenance pass removes them, and dropped
 * roles from the tenants' admins.  Like every step of the pass it waits
 * for no lock: rows or tables in use are left for the next pass.  Returns
 * the number of rows changed.
 */
uint64
authz_forget_dropped_roles(void)
{
	static const char *const tables[] = {
		"tenant", "permission", "subscription_permission"
	};
	uint64		changed = 0;

	ensure_authz_cache();
	if (!tables_present ||
		!catalog_lock_tables_now(tables, lengthof(tables), RowExclusiveLock))
		return 0;
	changed += change_authz_tables("DELETE FROM pulsar.permission"
								   " WHERE ctid = ANY (ARRAY("
								   "  SELECT p.ctid FROM pulsar.permission p"
								   "   WHERE p.grantee OPERATOR(pg_catalog.<>) 0"
								   "     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles a"
								   "                      WHERE a.oid OPERATOR(pg_catalog.=) p.grantee)"
								   "     FOR UPDATE SKIP LOCKED))",
								   0, NULL, NULL);
	changed += change_authz_tables("DELETE FROM pulsar.subscription_permission"
								   " WHERE ctid = ANY (ARRAY("
								   "  SELECT p.ctid FROM pulsar.subscription_permission p"
								   "   WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles a"
								   "                      WHERE a.oid OPERATOR(pg_catalog.=) p.grantee)"
								   "     FOR UPDATE SKIP LOCKED))",
								   0, NULL, NULL);
	changed += change_authz_tables("UPDATE pulsar.tenant t"
								   "   SET admin_roles = ARRAY(SELECT r FROM pg_catalog.unnest(t.admin_roles) r"
								   "                            WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles a"
								   "                                           WHERE a.oid OPERATOR(pg_catalog.=) r)"
								   "                            ORDER BY 1)"
								   " WHERE ctid = ANY (ARRAY("
								   "  SELECT d.ctid FROM pulsar.tenant d"
								   "   WHERE EXISTS (SELECT 1 FROM pg_catalog.unnest(d.admin_roles) r"
								   "                  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles a"
								   "                                     WHERE a.oid OPERATOR(pg_catalog.=) r))"
								   "     FOR UPDATE SKIP LOCKED))",
								   0, NULL, NULL);
	return changed;
}

/*
 * The key of the channel names, read once per backend (again if the
 * extension was created anew); false before the update that creates it.
 */
static bool
load_channel_key(void)
{
	Oid			schema = get_namespace_oid("pulsar", true);
	Oid			relid = OidIsValid(schema) ?
		get_relname_relid("channel_key", schema) : InvalidOid;
	CatalogAccess access;
	bool		isnull;
	bytea	   *key;

	if (!OidIsValid(relid))
		return false;
	if (relid == channel_key_relid)
		return true;
	catalog_access_begin(&access);
	catalog_run_sql("SELECT key FROM pulsar.channel_key", 0, NULL, NULL, NULL,
					true);
	if (SPI_processed != 1)
		elog(ERROR, "pulsar.channel_key must hold exactly one row");
	key = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull || VARSIZE_ANY_EXHDR(key) != CHANNEL_KEY_LEN)
		elog(ERROR, "pulsar.channel_key holds a key of the wrong length");
	memcpy(channel_key, VARDATA_ANY(key), CHANNEL_KEY_LEN);
	catalog_access_end(&access);
	channel_key_relid = relid;
	return true;
}

char *
authz_channel_name(int64 subscription_id)
{
	pg_hmac_ctx *ctx;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		hex[CHANNEL_HASH_BYTES * 2 + 1];
	uint64		id = pg_hton64((uint64) subscription_id);

	/* before the update, the tables of 0.6.0 have no key */
	if (!load_channel_key())
		return psprintf("pulsar_sub_" INT64_FORMAT, subscription_id);

	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL ||
		pg_hmac_init(ctx, channel_key, CHANNEL_KEY_LEN) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) &id, sizeof(id)) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute the channel of subscription " INT64_FORMAT,
			 subscription_id);
	pg_hmac_free(ctx);
	hex_encode((const char *) digest, CHANNEL_HASH_BYTES, hex);
	hex[CHANNEL_HASH_BYTES * 2] = '\0';
	return psprintf("pulsar_sub_%s", hex);
}

bool
authz_namespace_exists(const char *tenant, const char *namespace)
{
	CatalogAccess access;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(tenant),
	CStringGetTextDatum(namespace)};
	bool		found;

	catalog_access_begin(&access);
	/* namespaces are never deleted: nothing to lock against */
	catalog_run_sql("SELECT 1 FROM pulsar.namespace"
					" WHERE tenant = $1 AND name = $2",
					2, argtypes, values, NULL, true);
	found = SPI_processed > 0;
	catalog_access_end(&access);
	return found;
}

/*
 * Fails unless the namespace or topic a grant names exists; a topic stays
 * locked against deletion until the end of the transaction, so no grant
 * outlives its topic.
 */
void
authz_require_target(const TopicName *target)
{
	if (target->local_name[0] == '\0')
	{
		if (!authz_namespace_exists(target->tenant, target->namespace))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("namespace \"%s/%s\" does not exist",
							target->tenant, target->namespace),
					 errhint("Create it with pulsar.create_namespace().")));
		return;
	}
	if (target->partition_index != NOT_A_PARTITION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("permissions of topic \"%s\" are those of the partitioned topic",
						topic_name_string(target, target->partition_index)),
				 errhint("Name the partitioned topic \"%s\".",
						 topic_name_string(target, NOT_A_PARTITION))));
	(void) catalog_resolve_topic(target, false, AccessShareLock);
}
