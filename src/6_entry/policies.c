/*-------------------------------------------------------------------------
 *
 * policies.c
 *	  SQL entry points of policies: pulsar.set_retention() and the other
 *	  set_* functions of storage policies and limits, remove_policy(),
 *	  get_policies() and policy_default().
 *
 * Each resolves its target (a namespace or a whole topic, which must
 * exist), checks that the caller administers it, validates its arguments
 * and hands the policy to 3_catalog/policy.c, which stores it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "1_value/argument.h"
#include "1_value/topic_name.h"
#include "3_catalog/authz.h"
#include "3_catalog/catalog.h"
#include "3_catalog/policy.h"

PG_FUNCTION_INFO_V1(pulsar_set_retention);
PG_FUNCTION_INFO_V1(pulsar_set_message_ttl);
PG_FUNCTION_INFO_V1(pulsar_set_backlog_quota);
PG_FUNCTION_INFO_V1(pulsar_set_subscription_expiration_time);
PG_FUNCTION_INFO_V1(pulsar_set_inactive_topic_policies);
PG_FUNCTION_INFO_V1(pulsar_set_compaction_threshold);
PG_FUNCTION_INFO_V1(pulsar_set_max_topics_per_namespace);
PG_FUNCTION_INFO_V1(pulsar_set_max_subscriptions_per_topic);
PG_FUNCTION_INFO_V1(pulsar_set_max_consumers_per_topic);
PG_FUNCTION_INFO_V1(pulsar_set_max_consumers_per_subscription);
PG_FUNCTION_INFO_V1(pulsar_set_max_unacked_messages_per_subscription);
PG_FUNCTION_INFO_V1(pulsar_set_publish_rate);
PG_FUNCTION_INFO_V1(pulsar_set_dispatch_rate);
PG_FUNCTION_INFO_V1(pulsar_remove_policy);
PG_FUNCTION_INFO_V1(pulsar_get_policies);
PG_FUNCTION_INFO_V1(pulsar_policy_default);

/*
 * Resolves "tenant/namespace" or a topic name; either must exist.  A
 * policy applies to a topic as a whole, so a partition is refused.
 */
static void
resolve_policy_target(FunctionCallInfo fcinfo, PolicyTarget *target,
					  const char *function, bool for_change)
{
	char	   *input;

	if (for_change)
		catalog_require_writable(function);
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

		topic_name_parse_namespace(input, target->tenant, target->namespace);
		target->topic_id = 0;
		/* the same error for a namespace that is missing or not the caller's */
		authz_check_namespace(target->tenant, target->namespace,
							  AUTHZ_ADMINISTER);
		catalog_access_begin(&access);
		catalog_check_namespace_exists(target->tenant, target->namespace);
		catalog_access_end(&access);
	}
	else
	{
		TopicName	name;
		TopicInfo  *topic;

		topic_name_parse(input, &name);
		if (name.partition_index != NOT_A_PARTITION)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot set a policy on one partition of topic \"%s\"",
							topic_name_string(&name, NOT_A_PARTITION)),
					 errhint("Set it on the partitioned topic as a whole.")));
		authz_check(&name, AUTHZ_ADMINISTER);
		topic = catalog_resolve_topic(&name, false, AccessShareLock);
		strlcpy(target->tenant, name.tenant, sizeof(target->tenant));
		strlcpy(target->namespace, name.namespace, sizeof(target->namespace));
		target->topic_id = topic->topic_id;
	}
}

/* whether an argument is NULL; an error unless null_allowed */
static bool
argument_is_null(FunctionCallInfo fcinfo, int argno, const char *what,
				 bool null_allowed)
{
	if (!PG_ARGISNULL(argno))
		return false;
	if (!null_allowed)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return true;
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

	if (argument_is_null(fcinfo, argno, what, null_allowed))
		return -1;
	interval = PG_GETARG_INTERVAL_P(argno);
	if (!argument_interval_usecs(interval, &usecs))
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

	if (argument_is_null(fcinfo, argno, what, null_allowed))
		return -1;
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

	resolve_policy_target(fcinfo, &target, "pulsar.set_retention()", true);
	seconds = seconds_argument(fcinfo, 1, "retention_time", true);
	bytes = bytes_argument(fcinfo, 2, "retention_size", true);
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	policy_append_limit(&json, "retention_time", seconds);
	appendStringInfoString(&json, ", ");
	policy_append_limit(&json, "retention_size", bytes);
	appendStringInfoChar(&json, '}');
	policy_store(&target, "retention", json.data);
	PG_RETURN_VOID();
}

Datum
pulsar_set_message_ttl(PG_FUNCTION_ARGS)
{
	PolicyTarget target;
	int64		seconds;

	resolve_policy_target(fcinfo, &target, "pulsar.set_message_ttl()", true);
	seconds = seconds_argument(fcinfo, 1, "ttl", true);
	policy_store_single_limit(&target, "message_ttl", "ttl", seconds);
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

	resolve_policy_target(fcinfo, &target, "pulsar.set_backlog_quota()", true);
	bytes = bytes_argument(fcinfo, 1, "limit_size", true);
	seconds = seconds_argument(fcinfo, 2, "limit_time", true);
	policy = option_argument(fcinfo, 3, "backlog quota policy",
							 backlog_quota_policies);
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	policy_append_limit(&json, "limit_size", bytes);
	appendStringInfoString(&json, ", ");
	policy_append_limit(&json, "limit_time", seconds);
	appendStringInfo(&json, ", \"policy\": \"%s\"}",
					 backlog_quota_policies[policy].name);
	policy_store(&target, "backlog_quota", json.data);
	PG_RETURN_VOID();
}

Datum
pulsar_set_subscription_expiration_time(PG_FUNCTION_ARGS)
{
	PolicyTarget target;
	int64		seconds;

	resolve_policy_target(fcinfo, &target,
						  "pulsar.set_subscription_expiration_time()", true);
	seconds = seconds_argument(fcinfo, 1, "expiration", true);
	policy_store_single_limit(&target, "subscription_expiration_time", "expiration",
					   seconds);
	PG_RETURN_VOID();
}

Datum
pulsar_set_inactive_topic_policies(PG_FUNCTION_ARGS)
{
	PolicyTarget target;
	int64		seconds;
	int			mode;

	resolve_policy_target(fcinfo, &target,
						  "pulsar.set_inactive_topic_policies()", true);
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
	policy_store(&target, "inactive_topic_policies",
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

	resolve_policy_target(fcinfo, &target, "pulsar.set_compaction_threshold()", true);
	bytes = bytes_argument(fcinfo, 1, "threshold", false);
	policy_store_single_limit(&target, "compaction_threshold", "threshold", bytes);
	PG_RETURN_VOID();
}

/*
 * A count or a rate argument: NULL and 0 are no limit (-1), as in Pulsar.
 */
static int64
limit_argument(FunctionCallInfo fcinfo, int argno, const char *what,
			   bool is_int4)
{
	int64		value;

	if (PG_ARGISNULL(argno))
		return -1;
	value = is_int4 ? PG_GETARG_INT32(argno) : PG_GETARG_INT64(argno);
	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", what),
				 errhint("Pass NULL or 0 for no limit.")));
	return value > 0 ? value : -1;
}

/* set_max_*(target, max): one count limit */
static void
set_count_limit(FunctionCallInfo fcinfo, const char *policy,
				const char *function)
{
	PolicyTarget target;

	resolve_policy_target(fcinfo, &target, function, true);
	policy_store_single_limit(&target, policy, "max",
					   limit_argument(fcinfo, 1, "max", true));
}

/* set_*_rate(target, messages_per_second, bytes_per_second) */
static void
set_rate_limit(FunctionCallInfo fcinfo, const char *policy,
			   const char *function)
{
	PolicyTarget target;
	StringInfoData json;
	int64		messages;
	int64		bytes;

	resolve_policy_target(fcinfo, &target, function, true);
	messages = limit_argument(fcinfo, 1, "messages_per_second", false);
	bytes = limit_argument(fcinfo, 2, "bytes_per_second", false);
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	policy_append_limit(&json, "messages_per_second", messages);
	appendStringInfoString(&json, ", ");
	policy_append_limit(&json, "bytes_per_second", bytes);
	appendStringInfoChar(&json, '}');
	policy_store(&target, policy, json.data);
}

Datum
pulsar_set_max_topics_per_namespace(PG_FUNCTION_ARGS)
{
	PolicyTarget target;

	resolve_policy_target(fcinfo, &target,
						  "pulsar.set_max_topics_per_namespace()", true);
	if (target.topic_id != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_topics_per_namespace is set on a namespace, not on a topic"),
				 errhint("Name the namespace as tenant/namespace.")));
	policy_store_single_limit(&target, "max_topics_per_namespace", "max",
					   limit_argument(fcinfo, 1, "max", true));
	PG_RETURN_VOID();
}

Datum
pulsar_set_max_subscriptions_per_topic(PG_FUNCTION_ARGS)
{
	set_count_limit(fcinfo, "max_subscriptions_per_topic",
					"pulsar.set_max_subscriptions_per_topic()");
	PG_RETURN_VOID();
}

Datum
pulsar_set_max_consumers_per_topic(PG_FUNCTION_ARGS)
{
	set_count_limit(fcinfo, "max_consumers_per_topic",
					"pulsar.set_max_consumers_per_topic()");
	PG_RETURN_VOID();
}

Datum
pulsar_set_max_consumers_per_subscription(PG_FUNCTION_ARGS)
{
	set_count_limit(fcinfo, "max_consumers_per_subscription",
					"pulsar.set_max_consumers_per_subscription()");
	PG_RETURN_VOID();
}

Datum
pulsar_set_max_unacked_messages_per_subscription(PG_FUNCTION_ARGS)
{
	set_count_limit(fcinfo, "max_unacked_messages_per_subscription",
					"pulsar.set_max_unacked_messages_per_subscription()");
	PG_RETURN_VOID();
}

Datum
pulsar_set_publish_rate(PG_FUNCTION_ARGS)
{
	set_rate_limit(fcinfo, "publish_rate", "pulsar.set_publish_rate()");
	PG_RETURN_VOID();
}

Datum
pulsar_set_dispatch_rate(PG_FUNCTION_ARGS)
{
	set_rate_limit(fcinfo, "dispatch_rate", "pulsar.set_dispatch_rate()");
	PG_RETURN_VOID();
}

Datum
pulsar_remove_policy(PG_FUNCTION_ARGS)
{
	PolicyTarget target;
	char	   *policy;

	resolve_policy_target(fcinfo, &target, "pulsar.remove_policy()", true);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("policy must not be null"),
				 errhint("The policies are %s.", POLICY_NAME_LIST)));
	policy = text_to_cstring(PG_GETARG_TEXT_PP(1));
	policy_check_name(policy);
	policy_remove(&target, policy);
	PG_RETURN_VOID();
}

/*
 * get_policies(target) RETURNS jsonb
 */
Datum
pulsar_get_policies(PG_FUNCTION_ARGS)
{
	PolicyTarget target;

	resolve_policy_target(fcinfo, &target, "pulsar.get_policies()", false);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in,
										CStringGetDatum(policy_describe(&target))));
}

Datum
pulsar_policy_default(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(policy_default(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
