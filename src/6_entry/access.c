/*-------------------------------------------------------------------------
 *
 * access.c
 *	  SQL entry points of authorization: tenant admins, produce/consume
 *	  permissions, subscription permissions, and the listings that show
 *	  each caller only what it may use.
 *
 * Arguments are checked first (they say nothing about the catalog), then
 * whether the caller may administer the target, and only then whether the
 * target exists: a role that may not administer a namespace learns
 * nothing about it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"

#include "1_value/argument.h"
#include "1_value/topic_name.h"
#include "2_shmem/read_position.h"
#include "3_catalog/authz.h"
#include "3_catalog/catalog.h"
#include "4_storage/subscription.h"

PG_FUNCTION_INFO_V1(pulsar_create_tenant_with_admins);
PG_FUNCTION_INFO_V1(pulsar_update_tenant);
PG_FUNCTION_INFO_V1(pulsar_list_tenants);
PG_FUNCTION_INFO_V1(pulsar_grant_permission);
PG_FUNCTION_INFO_V1(pulsar_revoke_permission);
PG_FUNCTION_INFO_V1(pulsar_get_permissions);
PG_FUNCTION_INFO_V1(pulsar_grant_subscription_permission);
PG_FUNCTION_INFO_V1(pulsar_revoke_subscription_permission);
PG_FUNCTION_INFO_V1(pulsar_get_subscription_permissions);
PG_FUNCTION_INFO_V1(pulsar_list_topics);

/*
 * A grantee: an existing role, or PUBLIC (InvalidOid) where allowed.
 */
static Oid
role_oid(const char *role, bool public_allowed)
{
	if (strcmp(role, "public") == 0)
	{
		if (!public_allowed)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("public cannot administer a tenant"),
					 errhint("Name the roles that may.")));
		return InvalidOid;
	}
	return get_role_oid(role, false);
}

static Oid
role_argument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role must not be null")));
	return role_oid(NameStr(*PG_GETARG_NAME(argno)), true);
}

/*
 * The roles of a text[] or name[] argument, every one existing.
 */
static Oid *
roles_argument(FunctionCallInfo fcinfo, int argno, const char *what,
			   bool public_allowed, int *count)
{
	ArrayType  *array;
	Datum	   *elems;
	bool	   *nulls;
	Oid			elemtype;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Oid		   *roles;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what),
				 errhint("Pass an empty array for none.")));
	array = PG_GETARG_ARRAYTYPE_P(argno);
	elemtype = ARR_ELEMTYPE(array);
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign, &elems,
					  &nulls, count);
	roles = palloc(sizeof(Oid) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		const char *name;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain nulls", what)));
		name = elemtype == NAMEOID ? NameStr(*DatumGetName(elems[i])) :
			TextDatumGetCString(elems[i]);
		roles[i] = role_oid(name, public_allowed);
	}
	return roles;
}

static int
actions_argument(FunctionCallInfo fcinfo, int argno)
{
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	int			actions = 0;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("actions must not be null")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(argno), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, &count);
	for (int i = 0; i < count; i++)
	{
		char	   *action;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("actions must not contain nulls")));
		action = TextDatumGetCString(elems[i]);
		if (strcmp(action, "produce") == 0)
			actions |= AUTHZ_PRODUCE;
		else if (strcmp(action, "consume") == 0)
			actions |= AUTHZ_CONSUME;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown action \"%s\"", action),
					 errhint("The actions are produce and consume.")));
	}
	if (actions == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("actions must name at least one action"),
				 errhint("To take every action away, use pulsar.revoke_permission().")));
	return actions;
}

/*
 * A grant's target: "tenant/namespace" names a namespace; a name with a
 * persistent:// scheme, three parts or one part (public/default) a topic.
 */
static void
target_argument(FunctionCallInfo fcinfo, int argno, TopicName *target)
{
	char	   *input = argument_required_text(fcinfo, argno, "target");
	const char *slash = strchr(input, '/');

	if (strncmp(input, "persistent://", strlen("persistent://")) != 0 &&
		slash != NULL && strchr(slash + 1, '/') == NULL)
	{
		topic_name_parse_namespace(input, target->tenant, target->namespace);
		target->local_name[0] = '\0';
		target->partition_index = NOT_A_PARTITION;
	}
	else
		topic_name_parse(input, target);
}

static char *
target_string(const TopicName *target)
{
	if (target->local_name[0] == '\0')
		return psprintf("namespace \"%s/%s\"", target->tenant,
						target->namespace);
	return psprintf("topic \"%s\"", topic_name_string(target, NOT_A_PARTITION));
}

static void
namespace_argument(FunctionCallInfo fcinfo, int argno, TopicName *target)
{
	topic_name_parse_namespace(argument_required_text(fcinfo, argno, "namespace"),
						 target->tenant, target->namespace);
	target->local_name[0] = '\0';
	target->partition_index = NOT_A_PARTITION;
}

static char *
role_display(Oid role)
{
	char	   *name;

	if (!OidIsValid(role))
		return "public";
	/* a role dropped after its grant shows as its OID */
	name = GetUserNameFromId(role, true);
	return name != NULL ? name : psprintf("%u", role);
}

/*
 * catalog_create_tenant(tenant, admin_roles text[])
 */
Datum
pulsar_create_tenant_with_admins(PG_FUNCTION_ARGS)
{
	char	   *tenant = argument_required_text(fcinfo, 0, "tenant");
	int			count;
	Oid		   *roles;

	catalog_require_writable("pulsar.create_tenant()");
	topic_name_check_tenant(tenant);
	roles = roles_argument(fcinfo, 1, "admin_roles", false, &count);
	authz_check_superuser("pulsar.create_tenant()");
	catalog_create_tenant(tenant);
	authz_set_tenant_admins(tenant, roles, count);
	PG_RETURN_VOID();
}

/*
 * update_tenant(tenant, admin_roles text[])
 */
Datum
pulsar_update_tenant(PG_FUNCTION_ARGS)
{
	char	   *tenant = argument_required_text(fcinfo, 0, "tenant");
	int			count;
	Oid		   *roles;

	catalog_require_writable("pulsar.update_tenant()");
	topic_name_check_tenant(tenant);
	roles = roles_argument(fcinfo, 1, "admin_roles", false, &count);
	authz_check_superuser("pulsar.update_tenant()");
	authz_set_tenant_admins(tenant, roles, count);
	PG_RETURN_VOID();
}

/*
 * list_tenants() RETURNS TABLE (tenant text, admin_roles name[])
 */
Datum
pulsar_list_tenants(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CatalogAccess access;
	MemoryContext caller = CurrentMemoryContext;
	List	   *tenants = NIL;
	List	   *admins = NIL;
	ListCell   *lc1,
			   *lc2;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	(void) authz_is_superuser();	/* loads the cache outside catalog access */
	catalog_access_begin(&access);
	catalog_run_sql("SELECT name, admin_roles::pg_catalog.name[]"
					"  FROM pulsar.tenant ORDER BY name",
					0, NULL, NULL, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);
		bool		isnull;
		Datum		roles = SPI_getbinval(SPI_tuptable->vals[i],
										  SPI_tuptable->tupdesc, 2, &isnull);

		tenants = lappend(tenants, SPI_getvalue(SPI_tuptable->vals[i],
												SPI_tuptable->tupdesc, 1));
		admins = lappend(admins, DatumGetPointer(datumCopy(roles, false, -1)));
		MemoryContextSwitchTo(old);
	}
	catalog_access_end(&access);

	forboth(lc1, tenants, lc2, admins)
	{
		TopicName	target;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		memset(&target, 0, sizeof(target));
		strlcpy(target.tenant, lfirst(lc1), sizeof(target.tenant));
		if (!authz_allowed(&target, AUTHZ_ADMINISTER))
			continue;
		values[0] = CStringGetTextDatum(lfirst(lc1));
		values[1] = PointerGetDatum(lfirst(lc2));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * grant_permission(target, role, actions text[])
 */
Datum
pulsar_grant_permission(PG_FUNCTION_ARGS)
{
	TopicName	target;
	Oid			role;
	int			actions;

	catalog_require_writable("pulsar.grant_permission()");
	target_argument(fcinfo, 0, &target);
	role = role_argument(fcinfo, 1);
	actions = actions_argument(fcinfo, 2);
	authz_check(&target, AUTHZ_ADMINISTER);
	authz_require_target(&target);
	authz_grant(&target, role, actions);
	PG_RETURN_VOID();
}

/*
 * revoke_permission(target, role)
 */
Datum
pulsar_revoke_permission(PG_FUNCTION_ARGS)
{
	TopicName	target;
	Oid			role;

	catalog_require_writable("pulsar.revoke_permission()");
	target_argument(fcinfo, 0, &target);
	role = role_argument(fcinfo, 1);
	authz_check(&target, AUTHZ_ADMINISTER);
	authz_require_target(&target);
	if (!authz_revoke(&target, role))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s has no permissions granted to %s",
						target_string(&target), role_display(role)),
				 errhint("pulsar.get_permissions() shows what was granted.")));
	PG_RETURN_VOID();
}

/*
 * get_permissions(target) RETURNS TABLE (role name, actions text[])
 */
Datum
pulsar_get_permissions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TopicName	target;
	ListCell   *lc;

	target_argument(fcinfo, 0, &target);
	authz_check(&target, AUTHZ_ADMINISTER);
	authz_require_target(&target);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	foreach(lc, authz_grants(&target))
	{
		AuthzGrant *grant = lfirst(lc);
		Datum		names[2];
		int			count = 0;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (grant->actions & AUTHZ_PRODUCE)
			names[count++] = CStringGetTextDatum("produce");
		if (grant->actions & AUTHZ_CONSUME)
			names[count++] = CStringGetTextDatum("consume");
		values[0] = DirectFunctionCall1(namein,
										CStringGetDatum(role_display(grant->role)));
		values[1] = PointerGetDatum(construct_array(names, count, TEXTOID, -1,
													false, TYPALIGN_INT));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

static char *
subscription_argument(FunctionCallInfo fcinfo, int argno)
{
	char	   *subscription = argument_required_text(fcinfo, argno, "subscription");

	topic_name_check_simple(subscription, MAX_SUBSCRIPTION_NAME_LEN, "subscription");
	return subscription;
}

/*
 * grant_subscription_permission(namespace, subscription, roles name[])
 */
Datum
pulsar_grant_subscription_permission(PG_FUNCTION_ARGS)
{
	TopicName	target;
	char	   *subscription;
	int			count;
	Oid		   *roles;

	catalog_require_writable("pulsar.grant_subscription_permission()");
	namespace_argument(fcinfo, 0, &target);
	subscription = subscription_argument(fcinfo, 1);
	roles = roles_argument(fcinfo, 2, "roles", true, &count);
	if (count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("roles must name at least one role")));
	authz_check(&target, AUTHZ_ADMINISTER);
	authz_require_target(&target);
	authz_grant_subscription(target.tenant, target.namespace, subscription,
							 roles, count);
	PG_RETURN_VOID();
}

/*
 * revoke_subscription_permission(namespace, subscription, role)
 */
Datum
pulsar_revoke_subscription_permission(PG_FUNCTION_ARGS)
{
	TopicName	target;
	char	   *subscription;
	Oid			role;

	catalog_require_writable("pulsar.revoke_subscription_permission()");
	namespace_argument(fcinfo, 0, &target);
	subscription = subscription_argument(fcinfo, 1);
	role = role_argument(fcinfo, 2);
	authz_check(&target, AUTHZ_ADMINISTER);
	authz_require_target(&target);
	if (!authz_revoke_subscription(target.tenant, target.namespace,
								   subscription, role))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subscription \"%s\" of namespace \"%s/%s\" is not granted to %s",
						subscription, target.tenant, target.namespace,
						role_display(role)),
				 errhint("pulsar.get_subscription_permissions() shows what was granted.")));
	PG_RETURN_VOID();
}

/*
 * get_subscription_permissions(namespace)
 *	 RETURNS TABLE (subscription text, roles name[])
 */
Datum
pulsar_get_subscription_permissions(PG_FUNCTION_ARGS)
{
	TopicName	target;
	CatalogAccess access;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];

	namespace_argument(fcinfo, 0, &target);
	authz_check(&target, AUTHZ_ADMINISTER);
	authz_require_target(&target);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	args[0] = CStringGetTextDatum(target.tenant);
	args[1] = CStringGetTextDatum(target.namespace);
	catalog_access_begin(&access);
	catalog_run_sql("SELECT subscription,"
					"       pg_catalog.array_agg(CASE WHEN grantee::pg_catalog.oid"
					"                                      OPERATOR(pg_catalog.=) 0"
					"                                 THEN 'public'::pg_catalog.name"
					"                                 ELSE grantee::pg_catalog.name END"
					"                            ORDER BY grantee::pg_catalog.oid)"
					"  FROM pulsar.subscription_permission"
					" WHERE tenant = $1 AND namespace = $2"
					" GROUP BY subscription ORDER BY subscription",
					2, argtypes, args, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
		Datum		values[2];
		bool		nulls[2];

		values[0] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
								  1, &nulls[0]);
		values[1] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
								  2, &nulls[1]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	catalog_access_end(&access);
	return (Datum) 0;
}

typedef struct ListedTopic
{
	TopicName	name;
	int32		partitions;
} ListedTopic;

/*
 * list_topics(namespace) RETURNS TABLE (topic text, partitions int)
 *
 * Only topics the caller may produce to or consume.  A caller with no
 * right on the namespace as a whole gets no "does not exist" either.
 */
Datum
pulsar_list_topics(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller = CurrentMemoryContext;
	CatalogAccess access;
	TopicName	filter;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	List	   *topics = NIL;
	ListCell   *lc;

	if (!PG_ARGISNULL(0))
	{
		namespace_argument(fcinfo, 0, &filter);
		if ((authz_allowed(&filter, AUTHZ_PRODUCE) ||
			 authz_allowed(&filter, AUTHZ_CONSUME)) &&
			!authz_namespace_exists(filter.tenant, filter.namespace))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("namespace \"%s/%s\" does not exist",
							filter.tenant, filter.namespace),
					 errhint("Create it with pulsar.create_namespace().")));
	}
	(void) authz_is_superuser();	/* loads the cache outside catalog access */
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);

	catalog_access_begin(&access);
	if (PG_ARGISNULL(0))
		catalog_run_sql("SELECT tenant, namespace, name, partitions"
						"  FROM pulsar.topic ORDER BY tenant, namespace, name",
						0, NULL, NULL, NULL, true);
	else
	{
		args[0] = CStringGetTextDatum(filter.tenant);
		args[1] = CStringGetTextDatum(filter.namespace);
		catalog_run_sql("SELECT tenant, namespace, name, partitions"
						"  FROM pulsar.topic"
						" WHERE tenant = $1 AND namespace = $2"
						" ORDER BY name",
						2, argtypes, args, NULL, true);
	}
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);
		ListedTopic *topic = palloc0(sizeof(ListedTopic));
		bool		isnull;

		strlcpy(topic->name.tenant,
				SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
				sizeof(topic->name.tenant));
		strlcpy(topic->name.namespace,
				SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2),
				sizeof(topic->name.namespace));
		strlcpy(topic->name.local_name,
				SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3),
				sizeof(topic->name.local_name));
		topic->name.partition_index = NOT_A_PARTITION;
		topic->partitions =
			DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 4, &isnull));
		topics = lappend(topics, topic);
		MemoryContextSwitchTo(old);
	}
	catalog_access_end(&access);

	foreach(lc, topics)
	{
		ListedTopic *topic = lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (!authz_allowed(&topic->name, AUTHZ_PRODUCE) &&
			!authz_allowed(&topic->name, AUTHZ_CONSUME))
			continue;
		values[0] = CStringGetTextDatum(topic_name_string(&topic->name,
														  NOT_A_PARTITION));
		values[1] = Int32GetDatum(topic->partitions);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
