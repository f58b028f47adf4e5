/*-------------------------------------------------------------------------
 *
 * policy.c
 *	  Storage policies of namespaces and topics, and the server defaults.
 *
 * Owns table pulsar.policy and the GUCs pulsar_pg.default_*.  A policy is
 * one row per target and policy name whose value is a jsonb object; the
 * row of a namespace has topic_id 0.  A topic's setting overrides its
 * namespace's, which overrides the server default, one policy at a time,
 * as Pulsar's topic and namespace policies do.  Times are stored in
 * seconds and sizes in bytes; JSON null means unlimited (or none).
 *
 * Every set_* function resolves its target, validates, and replaces the
 * row; nothing here applies a policy: the maintenance pass and the
 * publishing path read them through policy_effective() or the SQL function
 * pulsar.effective_policy().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "1_value/topic_name.h"
#include "2_shmem/read_position.h"
#include "3_catalog/catalog.h"
#include "3_catalog/policy.h"

PG_FUNCTION_INFO_V1(pulsar_set_retention);
PG_FUNCTION_INFO_V1(pulsar_set_message_ttl);
PG_FUNCTION_INFO_V1(pulsar_set_backlog_quota);
PG_FUNCTION_INFO_V1(pulsar_set_subscription_expiration_time);
PG_FUNCTION_INFO_V1(pulsar_set_inactive_topic_policies);
PG_FUNCTION_INFO_V1(pulsar_set_compaction_threshold);
PG_FUNCTION_INFO_V1(pulsar_remove_policy);
PG_FUNCTION_INFO_V1(pulsar_get_policies);
PG_FUNCTION_INFO_V1(pulsar_policy_default);

int			policy_default_retention_time_s = 0;
int			policy_default_retention_size_mb = 0;
int			policy_default_message_ttl_s = 0;
int			policy_default_backlog_quota_size_mb = -1;
int			policy_default_backlog_quota_time_s = -1;
int			policy_default_backlog_quota_policy = 0;
int			policy_default_subscription_expiration_s = 0;
bool		policy_default_inactive_topic_enabled = false;
int			policy_default_inactive_topic_max_s = 60;
int			policy_default_inactive_topic_mode = 0;
int			policy_default_compaction_threshold_mb = 0;

/* Pulsar's names, in the order of the options below */
static const struct config_enum_entry backlog_quota_policies[] = {
	{"producer_request_hold", 0, false},
	{"producer_exception", 1, false},
	{"consumer_backlog_eviction", 2, false},
	{NULL, 0, false}
};

static const struct config_enum_entry inactive_topic_modes[] = {
	{"delete_when_no_subscriptions", 0, false},
	{"delete_when_subscriptions_caught_up", 1, false},
	{NULL, 0, false}
};

/* the policies there are, as remove_policy() and get_policies() name them */
static const char *const policy_names[] = {
	"retention",
	"message_ttl",
	"backlog_quota",
	"subscription_expiration_time",
	"inactive_topic_policies",
	"compaction_threshold",
};

#define POLICY_NAME_LIST "retention, message_ttl, backlog_quota, " \
	"subscription_expiration_time, inactive_topic_policies, compaction_threshold"

/* The target of a set_* call: a namespace (topic_id 0) or a topic. */
typedef struct PolicyTarget
{
	char		tenant[MAX_TENANT_NAME_LEN + 1];
	char		namespace[MAX_NAMESPACE_NAME_LEN + 1];
	int64		topic_id;
} PolicyTarget;

void
policy_define_settings(void)
{
	DefineCustomIntVariable("pulsar_pg.default_retention_time",
							"Time acknowledged messages are kept, unless a namespace or topic sets it.",
							"-1 keeps them without a time limit; 0 keeps nothing a subscription does not need.",
							&policy_default_retention_time_s,
							0, -1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_retention_size",
							"Size of acknowledged messages kept per topic, unless a namespace or topic sets it.",
							"-1 keeps them without a size limit; 0 keeps nothing a subscription does not need.",
							&policy_default_retention_size_mb,
							0, -1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_message_ttl",
							"Age after which unacknowledged messages expire, unless a namespace or topic sets it.",
							"0 lets messages wait for ever.",
							&policy_default_message_ttl_s,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_backlog_quota_limit_size",
							"Backlog size per topic over which the backlog quota policy applies.",
							"-1 sets no limit.",
							&policy_default_backlog_quota_size_mb,
							-1, -1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_backlog_quota_limit_time",
							"Age of the oldest unacknowledged message over which the backlog quota policy applies.",
							"-1 sets no limit.",
							&policy_default_backlog_quota_time_s,
							-1, -1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomEnumVariable("pulsar_pg.default_backlog_quota_policy",
							 "What happens when a backlog quota is exceeded.",
							 NULL,
							 &policy_default_backlog_quota_policy,
							 0, backlog_quota_policies,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_subscription_expiration_time",
							"Time without consumers after which a subscription is removed.",
							"0 never removes one.",
							&policy_default_subscription_expiration_s,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomBoolVariable("pulsar_pg.default_inactive_topic_enabled",
							 "Whether inactive topics are deleted.",
							 NULL,
							 &policy_default_inactive_topic_enabled,
							 false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_inactive_topic_max_inactive",
							"Time without publishing or consuming after which a topic is inactive.",
							NULL,
							&policy_default_inactive_topic_max_s,
							60, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomEnumVariable("pulsar_pg.default_inactive_topic_mode",
							 "Which inactive topics are deleted.",
							 NULL,
							 &policy_default_inactive_topic_mode,
							 0, inactive_topic_modes,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_compaction_threshold",
							"Backlog size of a topic over which it is compacted automatically.",
							"0 never compacts automatically.",
							&policy_default_compaction_threshold_mb,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);
}

static Jsonb *
jsonb_from_string(const char *json)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/* a JSON number, or null for a negative ("unlimited") value */
static void
append_limit(StringInfo buf, const char *field, int64 value)
{
	if (value < 0)
		appendStringInfo(buf, "\"%s\": null", field);
	else
		appendStringInfo(buf, "\"%s\": " INT64_FORMAT, field, value);
}

/* a JSON number of bytes for a GUC in megabytes, null when negative */
static void
append_megabytes(StringInfo buf, const char *field, int megabytes)
{
	append_limit(buf, field, megabytes < 0 ? -1 : (int64) megabytes * 1024 * 1024);
}

static void
check_policy_name(const char *policy)
{
	for (int i = 0; i < lengthof(policy_names); i++)
		if (strcmp(policy, policy_names[i]) == 0)
			return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown policy \"%s\"", policy),
			 errhint("The policies are %s.", POLICY_NAME_LIST)));
}

/*
 * The server default of one policy, from the GUCs.
 */
Jsonb *
policy_default(const char *policy)
{
	StringInfoData buf;

	check_policy_name(policy);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (strcmp(policy, "retention") == 0)
	{
		append_limit(&buf, "retention_time", policy_default_retention_time_s);
		appendStringInfoString(&buf, ", ");
		append_megabytes(&buf, "retention_size", policy_default_retention_size_mb);
	}
	else if (strcmp(policy, "message_ttl") == 0)
		append_limit(&buf, "ttl", policy_default_message_ttl_s > 0 ?
					 policy_default_message_ttl_s : -1);
	else if (strcmp(policy, "backlog_quota") == 0)
	{
		append_megabytes(&buf, "limit_size", policy_default_backlog_quota_size_mb);
		appendStringInfoString(&buf, ", ");
		append_limit(&buf, "limit_time", policy_default_backlog_quota_time_s);
		appendStringInfo(&buf, ", \"policy\": \"%s\"",
						 backlog_quota_policies[policy_default_backlog_quota_policy].name);
	}
	else if (strcmp(policy, "subscription_expiration_time") == 0)
		append_limit(&buf, "expiration", policy_default_subscription_expiration_s > 0 ?
					 policy_default_subscription_expiration_s : -1);
	else if (strcmp(policy, "inactive_topic_policies") == 0)
		appendStringInfo(&buf, "\"enabled\": %s, \"max_inactive\": %d, \"mode\": \"%s\"",
						 policy_default_inactive_topic_enabled ? "true" : "false",
						 policy_default_inactive_topic_max_s,
						 inactive_topic_modes[policy_default_inactive_topic_mode].name);
	else if (strcmp(policy, "compaction_threshold") == 0)
		append_megabytes(&buf, "threshold", policy_default_compaction_threshold_mb > 0 ?
						 policy_default_compaction_threshold_mb : -1);
	appendStringInfoChar(&buf, '}');
	return jsonb_from_string(buf.data);
}

/*
 * The policy that applies to a topic: its own, else its namespace's, else
 * the server default.  Runs inside catalog access (SPI connected).
 */
Jsonb *
policy_effective(int64 topic_id, const char *policy)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(topic_id), CStringGetTextDatum(policy)};
	bool		isnull;
	Datum		value;

	check_policy_name(policy);
	run_catalog_sql("SELECT p.value FROM pulsar.topic t"
					" JOIN pulsar.policy p ON p.tenant = t.tenant"
					"  AND p.namespace = t.namespace"
					"  AND p.topic_id IN (0, t.topic_id) AND p.name = $2"
					" WHERE t.topic_id = $1"
					" ORDER BY p.topic_id DESC LIMIT 1",
					2, argtypes, values, NULL, false);
	if (SPI_processed == 0)
		return policy_default(policy);
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
	return DatumGetJsonbPCopy(value);
}

/*
 * A limit of a policy (a time in seconds or a size in bytes): false if it
 * is null (unlimited, or none) or absent.
 */
bool
policy_limit(Jsonb *policy, const char *field, int64 *value)
{
	JsonbValue *found;

	found = getKeyJsonValueFromContainer(&policy->root, field, strlen(field),
										 NULL);
	if (found == NULL || found->type != jbvNumeric)
		return false;
	*value = DatumGetInt64(DirectFunctionCall1(numeric_int8,
											   NumericGetDatum(found->val.numeric)));
	return true;
}

/*
 * Removes a deleted topic's own policies.  Runs inside catalog access.
 */
void
policy_forget_topic(int64 topic_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(topic_id)};

	run_catalog_sql("DELETE FROM pulsar.policy WHERE topic_id = $1",
					1, argtypes, values, NULL, false);
}

/*
 * Resolves "tenant/namespace" or a topic name; either must exist.  A
 * policy applies to a topic as a whole, so a partition is refused.
 */
static void
resolve_policy_target(FunctionCallInfo fcinfo, PolicyTarget *target,
					  const char *function)
{
	char	   *input;

	PreventCommandIfReadOnly(function);
	PreventCommandDuringRecovery(function);
	RequireReadPositionState();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null"),
				 errhint("Name a namespace as tenant/namespace, or a topic.")));
	input = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (strstr(input, "://") == NULL && strchr(input, '/') != NULL &&
		strchr(strchr(input, '/') + 1, '/') == NULL)
	{
		CatalogAccess access;

		parse_namespace_name(input, target->tenant, target->namespace);
		target->topic_id = 0;
		begin_catalog_access(&access);
		check_namespace_exists(target->tenant, target->namespace);
		end_catalog_access(&access);
	}
	else
	{
		TopicName	name;
		TopicInfo  *topic;

		parse_topic_name(input, &name);
		if (name.partition_index != NOT_A_PARTITION)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot set a policy on one partition of topic \"%s\"",
							topic_name_string(&name, NOT_A_PARTITION)),
					 errhint("Set it on the partitioned topic as a whole.")));
		topic = resolve_topic(&name, false, AccessShareLock);
		strlcpy(target->tenant, name.tenant, sizeof(target->tenant));
		strlcpy(target->namespace, name.namespace, sizeof(target->namespace));
		target->topic_id = topic->topic_id;
	}
}

static void
store_policy(const PolicyTarget *target, const char *policy, const char *json)
{
	CatalogAccess access;
	Oid			argtypes[5] = {TEXTOID, TEXTOID, INT8OID, TEXTOID, JSONBOID};
	Datum		values[5] = {CStringGetTextDatum(target->tenant),
		CStringGetTextDatum(target->namespace),
		Int64GetDatum(target->topic_id),
		CStringGetTextDatum(policy),
	JsonbPGetDatum(jsonb_from_string(json))};

	begin_catalog_access(&access);
	run_catalog_sql("INSERT INTO pulsar.policy (tenant, namespace, topic_id, name, value)"
					" VALUES ($1, $2, $3, $4, $5)"
					" ON CONFLICT (tenant, namespace, topic_id, name)"
					" DO UPDATE SET value = excluded.value",
					5, argtypes, values, NULL, false);
	end_catalog_access(&access);
}

/*
 * Whole seconds of an interval argument; NULL gives -1 when null_allowed.
 */
static int64
seconds_argument(FunctionCallInfo fcinfo, int argno, const char *what,
				 bool null_allowed)
{
	Interval   *interval;
	int64		usecs;

	if (PG_ARGISNULL(argno))
	{
		if (!null_allowed)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", what)));
		return -1;
	}
	interval = PG_GETARG_INTERVAL_P(argno);
	usecs = interval->time;
	if (pg_mul_s64_overflow((int64) interval->day, USECS_PER_DAY, &usecs) ||
		pg_add_s64_overflow(usecs, interval->time, &usecs) ||
		pg_add_s64_overflow(usecs,
							(int64) interval->month * DAYS_PER_MONTH * USECS_PER_DAY,
							&usecs))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range", what)));
	if (usecs < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", what),
				 null_allowed ? errhint("Pass NULL for no limit.") : 0));
	return usecs / USECS_PER_SEC;
}

/*
 * A size in bytes; NULL gives -1 when null_allowed.
 */
static int64
bytes_argument(FunctionCallInfo fcinfo, int argno, const char *what,
			   bool null_allowed)
{
	int64		bytes;

	if (PG_ARGISNULL(argno))
	{
		if (!null_allowed)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", what)));
		return -1;
	}
	bytes = PG_GETARG_INT64(argno);
	if (bytes < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", what),
				 null_allowed ? errhint("Pass NULL for no limit.") : 0));
	return bytes;
}

/* the option's index in an enum's entries, or an error listing them */
static int
option_argument(FunctionCallInfo fcinfo, int argno, const char *what,
				const struct config_enum_entry *options)
{
	char	   *value;
	StringInfoData names;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	value = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	initStringInfo(&names);
	for (int i = 0; options[i].name != NULL; i++)
	{
		if (strcmp(value, options[i].name) == 0)
			return i;
		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "", options[i].name);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown %s \"%s\"", what, value),
			 errhint("Use one of %s.", names.data)));
	return -1;					/* keep compiler quiet */
}

Datum
pulsar_set_retention(PG_FUNCTION_ARGS)
{
	PolicyTarget target;
	StringInfoData json;
	int64		seconds;
	int64		bytes;

	resolve_policy_target(fcinfo, &target, "pulsar.set_retention()");
	seconds = seconds_argument(fcinfo, 1, "retention_time", true);
	bytes = bytes_argument(fcinfo, 2, "retention_size", true);
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	append_limit(&json, "retention_time", seconds);
	appendStringInfoString(&json, ", ");
	append_limit(&json, "retention_size", bytes);
	appendStringInfoChar(&json, '}');
	store_policy(&target, "retention", json.data);
	PG_RETURN_VOID();
}

Datum
pulsar_set_message_ttl(PG_FUNCTION_ARGS)
{
	PolicyTarget target;
	int64		seconds;

	resolve_policy_target(fcinfo, &target, "pulsar.set_message_ttl()");
	seconds = seconds_argument(fcinfo, 1, "ttl", true);
	/* a TTL of zero is Pulsar's "no TTL" */
	store_policy(&target, "message_ttl",
				 seconds > 0 ? psprintf("{\"ttl\": " INT64_FORMAT "}", seconds) :
				 "{\"ttl\": null}");
	PG_RETURN_VOID();
}

Datum
pulsar_set_backlog_quota(PG_FUNCTION_ARGS)
{
	PolicyTarget target;
	StringInfoData json;
	int64		bytes;
	int64		seconds;
	int			policy;

	resolve_policy_target(fcinfo, &target, "pulsar.set_backlog_quota()");
	bytes = bytes_argument(fcinfo, 1, "limit_size", true);
	seconds = seconds_argument(fcinfo, 2, "limit_time", true);
	policy = option_argument(fcinfo, 3, "backlog quota policy",
							 backlog_quota_policies);
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	append_limit(&json, "limit_size", bytes);
	appendStringInfoString(&json, ", ");
	append_limit(&json, "limit_time", seconds);
	appendStringInfo(&json, ", \"policy\": \"%s\"}",
					 backlog_quota_policies[policy].name);
	store_policy(&target, "backlog_quota", json.data);
	PG_RETURN_VOID();
}

Datum
pulsar_set_subscription_expiration_time(PG_FUNCTION_ARGS)
{
	PolicyTarget target;
	int64		seconds;

	resolve_policy_target(fcinfo, &target,
						  "pulsar.set_subscription_expiration_time()");
	seconds = seconds_argument(fcinfo, 1, "expiration", true);
	/* zero is Pulsar's "never" */
	store_policy(&target, "subscription_expiration_time",
				 seconds > 0 ? psprintf("{\"expiration\": " INT64_FORMAT "}", seconds) :
				 "{\"expiration\": null}");
	PG_RETURN_VOID();
}

Datum
pulsar_set_inactive_topic_policies(PG_FUNCTION_ARGS)
{
	PolicyTarget target;
	int64		seconds;
	int			mode;

	resolve_policy_target(fcinfo, &target,
						  "pulsar.set_inactive_topic_policies()");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("enabled must not be null")));
	seconds = seconds_argument(fcinfo, 2, "max_inactive", false);
	if (seconds < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_inactive must be at least one second")));
	mode = option_argument(fcinfo, 3, "inactive topic mode",
						   inactive_topic_modes);
	store_policy(&target, "inactive_topic_policies",
				 psprintf("{\"enabled\": %s, \"max_inactive\": " INT64_FORMAT
						  ", \"mode\": \"%s\"}",
						  PG_GETARG_BOOL(1) ? "true" : "false", seconds,
						  inactive_topic_modes[mode].name));
	PG_RETURN_VOID();
}

Datum
pulsar_set_compaction_threshold(PG_FUNCTION_ARGS)
{
	PolicyTarget target;
	int64		bytes;

	resolve_policy_target(fcinfo, &target, "pulsar.set_compaction_threshold()");
	bytes = bytes_argument(fcinfo, 1, "threshold", false);
	/* zero turns automatic compaction off */
	store_policy(&target, "compaction_threshold",
				 bytes > 0 ? psprintf("{\"threshold\": " INT64_FORMAT "}", bytes) :
				 "{\"threshold\": null}");
	PG_RETURN_VOID();
}

Datum
pulsar_remove_policy(PG_FUNCTION_ARGS)
{
	PolicyTarget target;
	CatalogAccess access;
	char	   *policy;
	Oid			argtypes[4] = {TEXTOID, TEXTOID, INT8OID, TEXTOID};
	Datum		values[4];

	resolve_policy_target(fcinfo, &target, "pulsar.remove_policy()");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("policy must not be null"),
				 errhint("The policies are %s.", POLICY_NAME_LIST)));
	policy = text_to_cstring(PG_GETARG_TEXT_PP(1));
	check_policy_name(policy);
	values[0] = CStringGetTextDatum(target.tenant);
	values[1] = CStringGetTextDatum(target.namespace);
	values[2] = Int64GetDatum(target.topic_id);
	values[3] = CStringGetTextDatum(policy);
	begin_catalog_access(&access);
	run_catalog_sql("DELETE FROM pulsar.policy WHERE tenant = $1"
					" AND namespace = $2 AND topic_id = $3 AND name = $4",
					4, argtypes, values, NULL, false);
	end_catalog_access(&access);
	PG_RETURN_VOID();
}

/*
 * {policy: {"topic": ..., "namespace": ..., "default": ..., "effective": ...}}
 * for every policy; "topic" only when the target is a topic, null where
 * nothing is set.
 */
Datum
pulsar_get_policies(PG_FUNCTION_ARGS)
{
	PolicyTarget target;
	CatalogAccess access;
	StringInfoData json;
	Oid			argtypes[4] = {TEXTOID, TEXTOID, INT8OID, TEXTOID};

	resolve_policy_target(fcinfo, &target, "pulsar.get_policies()");
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	begin_catalog_access(&access);
	for (int i = 0; i < lengthof(policy_names); i++)
	{
		const char *own[2] = {NULL, NULL};	/* namespace's, topic's */
		char	   *fallback = JsonbToCString(NULL,
											  &policy_default(policy_names[i])->root,
											  0);
		Datum		values[4] = {CStringGetTextDatum(target.tenant),
			CStringGetTextDatum(target.namespace),
			Int64GetDatum(target.topic_id),
		CStringGetTextDatum(policy_names[i])};

		run_catalog_sql("SELECT topic_id <> 0, value::text FROM pulsar.policy"
						" WHERE tenant = $1 AND namespace = $2"
						" AND topic_id IN (0, $3) AND name = $4",
						4, argtypes, values, NULL, false);
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			bool		isnull;
			bool		is_topic = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[row],
															  SPI_tuptable->tupdesc, 1, &isnull));

			own[is_topic ? 1 : 0] = SPI_getvalue(SPI_tuptable->vals[row],
												 SPI_tuptable->tupdesc, 2);
		}
		appendStringInfo(&json, "%s\"%s\": {", i > 0 ? ", " : "", policy_names[i]);
		if (target.topic_id != 0)
			appendStringInfo(&json, "\"topic\": %s, ", own[1] ? own[1] : "null");
		appendStringInfo(&json, "\"namespace\": %s, \"default\": %s, \"effective\": %s}",
						 own[0] ? own[0] : "null", fallback,
						 own[1] ? own[1] : own[0] ? own[0] : fallback);
	}
	end_catalog_access(&access);
	appendStringInfoChar(&json, '}');
	PG_RETURN_JSONB_P(jsonb_from_string(json.data));
}

Datum
pulsar_policy_default(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(policy_default(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
