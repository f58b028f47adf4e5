/*-------------------------------------------------------------------------
 *
 * policy.c
 *	  Policies of namespaces and topics (storage policies and limits), and
 *	  the server defaults.
 *
 * Owns table pulsar.policy and the GUCs pulsar_pg.default_*.  A policy is
 * one row per target and policy name whose value is a jsonb object; the
 * row of a namespace has topic_id 0.  A topic's setting overrides its
 * namespace's, which overrides the server default, one policy at a time,
 * as Pulsar's topic and namespace policies do.  Times are stored in
 * seconds and sizes in bytes; JSON null means unlimited (or none).
 *
 * The SQL functions that set, remove and show policies are in
 * 6_entry/policies.c: each resolves its target, checks that the caller
 * administers it (a superuser, the extension's owner or an admin of its
 * tenant), validates, and replaces the row through policy_store().
 * Nothing here applies a policy: the maintenance pass and the publishing path read them through
 * policy_effective() or the SQL function pulsar.effective_policy(), and
 * the limits through policy_limits().
 *
 * Limits (the max_* policies and the publish and dispatch rates) are read
 * on the hot paths: every send, receive and subscribe.  They are never
 * queried there: each backend caches what a topic and its namespace set
 * (policy_limits()), and every change of pulsar.policy sends a relcache
 * invalidation of that table, which empties the cache of every backend
 * when it commits (and of the changing backend at once).  The server
 * defaults are applied when a limit is read, so a reload needs no
 * invalidation.  max_topics_per_namespace is read only when a topic is
 * created, straight from the table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "1_value/topic_name.h"
#include "2_shmem/read_position.h"
#include "3_catalog/catalog.h"
#include "3_catalog/policy.h"


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
int			policy_default_max_topics_per_namespace = 0;
int			policy_default_max_subscriptions_per_topic = 0;
int			policy_default_max_consumers_per_topic = 0;
int			policy_default_max_consumers_per_subscription = 0;
int			policy_default_max_unacked_per_subscription = 0;
int			policy_default_publish_rate_messages = 0;
int			policy_default_publish_rate_bytes = 0;
int			policy_default_dispatch_rate_messages = 0;
int			policy_default_dispatch_rate_bytes = 0;

/* Pulsar's names, in the order of the options below */
const struct config_enum_entry backlog_quota_policies[] = {
	{"producer_request_hold", 0, false},
	{"producer_exception", 1, false},
	{"consumer_backlog_eviction", 2, false},
	{NULL, 0, false}
};

const struct config_enum_entry inactive_topic_modes[] = {
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
	"max_topics_per_namespace",
	"max_subscriptions_per_topic",
	"max_consumers_per_topic",
	"max_consumers_per_subscription",
	"max_unacked_messages_per_subscription",
	"publish_rate",
	"dispatch_rate",
};


/*
 * The limits a topic's hot paths read, in the order of the cache's arrays;
 * the rates take two fields each (messages, then bytes per second).
 */
typedef enum LimitField
{
	LIMIT_MAX_SUBSCRIPTIONS,
	LIMIT_MAX_CONSUMERS_PER_TOPIC,
	LIMIT_MAX_CONSUMERS_PER_SUBSCRIPTION,
	LIMIT_MAX_UNACKED_PER_SUBSCRIPTION,
	LIMIT_PUBLISH_MESSAGES,
	LIMIT_PUBLISH_BYTES,
	LIMIT_DISPATCH_MESSAGES,
	LIMIT_DISPATCH_BYTES,
	NUM_LIMIT_FIELDS
} LimitField;

/* where each field is stored: policy name and JSON field */
static const struct
{
	const char *policy;
	const char *field;
}			limit_fields[NUM_LIMIT_FIELDS] =
{
	[LIMIT_MAX_SUBSCRIPTIONS] = {"max_subscriptions_per_topic", "max"},
	[LIMIT_MAX_CONSUMERS_PER_TOPIC] = {"max_consumers_per_topic", "max"},
	[LIMIT_MAX_CONSUMERS_PER_SUBSCRIPTION] = {"max_consumers_per_subscription", "max"},
	[LIMIT_MAX_UNACKED_PER_SUBSCRIPTION] = {"max_unacked_messages_per_subscription", "max"},
	[LIMIT_PUBLISH_MESSAGES] = {"publish_rate", "messages_per_second"},
	[LIMIT_PUBLISH_BYTES] = {"publish_rate", "bytes_per_second"},
	[LIMIT_DISPATCH_MESSAGES] = {"dispatch_rate", "messages_per_second"},
	[LIMIT_DISPATCH_BYTES] = {"dispatch_rate", "bytes_per_second"},
};

/* a limit the topic or its namespace does not set */
#define LIMIT_NOT_SET	(-1)

/* what a topic and its namespace set, as one backend last read it */
typedef struct CachedLimits
{
	int64		topic_id;		/* hash key */
	int64		topic_value[NUM_LIMIT_FIELDS];	/* LIMIT_NOT_SET, 0: none */
	int64		namespace_value[NUM_LIMIT_FIELDS];
} CachedLimits;

static HTAB *LimitCache = NULL;
static MemoryContext LimitCacheContext = NULL;
static bool limit_cache_valid = false;
static Oid	policy_table_oid = InvalidOid;
static CachedLimits *last_limits = NULL;

/* The target of a set_* call: a namespace (topic_id 0) or a topic. */

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
	DefineCustomIntVariable("pulsar_pg.default_max_topics_per_namespace",
							"Topics a namespace may hold, partitions counted one by one, unless it sets its own limit.",
							"0 sets no limit.",
							&policy_default_max_topics_per_namespace,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_max_subscriptions_per_topic",
							"Subscriptions a topic may have, unless its namespace or the topic sets a limit.",
							"0 sets no limit.",
							&policy_default_max_subscriptions_per_topic,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_max_consumers_per_topic",
							"Consumers attached to all subscriptions of a topic, unless its namespace or the topic sets a limit.",
							"0 sets no limit.",
							&policy_default_max_consumers_per_topic,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_max_consumers_per_subscription",
							"Consumers attached to one subscription, unless its namespace or topic sets a limit.",
							"0 sets no limit.",
							&policy_default_max_consumers_per_subscription,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_max_unacked_messages_per_subscription",
							"Unacknowledged messages per subscription and partition at which dispatch stops, unless its namespace or topic sets a limit.",
							"0 sets no limit.",
							&policy_default_max_unacked_per_subscription,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_publish_rate_messages",
							"Messages per second a topic accepts, unless its namespace or the topic sets a publish rate.",
							"0 sets no limit.",
							&policy_default_publish_rate_messages,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_publish_rate_bytes",
							"Bytes per second a topic accepts, unless its namespace or the topic sets a publish rate.",
							"0 sets no limit.",
							&policy_default_publish_rate_bytes,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_dispatch_rate_messages",
							"Messages per second each subscription receives, unless its namespace or topic sets a dispatch rate.",
							"0 sets no limit.",
							&policy_default_dispatch_rate_messages,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.default_dispatch_rate_bytes",
							"Bytes per second each subscription receives, unless its namespace or topic sets a dispatch rate.",
							"0 sets no limit.",
							&policy_default_dispatch_rate_bytes,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
}

/* the server default of one limit field; 0 is none */
static int64
limit_default(LimitField field)
{
	switch (field)
	{
		case LIMIT_MAX_SUBSCRIPTIONS:
			return policy_default_max_subscriptions_per_topic;
		case LIMIT_MAX_CONSUMERS_PER_TOPIC:
			return policy_default_max_consumers_per_topic;
		case LIMIT_MAX_CONSUMERS_PER_SUBSCRIPTION:
			return policy_default_max_consumers_per_subscription;
		case LIMIT_MAX_UNACKED_PER_SUBSCRIPTION:
			return policy_default_max_unacked_per_subscription;
		case LIMIT_PUBLISH_MESSAGES:
			return policy_default_publish_rate_messages;
		case LIMIT_PUBLISH_BYTES:
			return policy_default_publish_rate_bytes;
		case LIMIT_DISPATCH_MESSAGES:
			return policy_default_dispatch_rate_messages;
		case LIMIT_DISPATCH_BYTES:
			return policy_default_dispatch_rate_bytes;
		case NUM_LIMIT_FIELDS:
			break;
	}
	elog(ERROR, "unknown limit field %d", (int) field);
	return 0;
}

static Jsonb *
jsonb_from_string(const char *json)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/* a JSON number, or null for a negative ("unlimited") value */
void
policy_append_limit(StringInfo buf, const char *field, int64 value)
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
	policy_append_limit(buf, field, megabytes < 0 ? -1 : (int64) megabytes * 1024 * 1024);
}

void
policy_check_name(const char *policy)
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

	policy_check_name(policy);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (strcmp(policy, "retention") == 0)
	{
		policy_append_limit(&buf, "retention_time", policy_default_retention_time_s);
		appendStringInfoString(&buf, ", ");
		append_megabytes(&buf, "retention_size", policy_default_retention_size_mb);
	}
	else if (strcmp(policy, "message_ttl") == 0)
		policy_append_limit(&buf, "ttl", policy_default_message_ttl_s > 0 ?
					 policy_default_message_ttl_s : -1);
	else if (strcmp(policy, "backlog_quota") == 0)
	{
		append_megabytes(&buf, "limit_size", policy_default_backlog_quota_size_mb);
		appendStringInfoString(&buf, ", ");
		policy_append_limit(&buf, "limit_time", policy_default_backlog_quota_time_s);
		appendStringInfo(&buf, ", \"policy\": \"%s\"",
						 backlog_quota_policies[policy_default_backlog_quota_policy].name);
	}
	else if (strcmp(policy, "subscription_expiration_time") == 0)
		policy_append_limit(&buf, "expiration", policy_default_subscription_expiration_s > 0 ?
					 policy_default_subscription_expiration_s : -1);
	else if (strcmp(policy, "inactive_topic_policies") == 0)
		appendStringInfo(&buf, "\"enabled\": %s, \"max_inactive\": %d, \"mode\": \"%s\"",
						 policy_default_inactive_topic_enabled ? "true" : "false",
						 policy_default_inactive_topic_max_s,
						 inactive_topic_modes[policy_default_inactive_topic_mode].name);
	else if (strcmp(policy, "compaction_threshold") == 0)
		append_megabytes(&buf, "threshold", policy_default_compaction_threshold_mb > 0 ?
						 policy_default_compaction_threshold_mb : -1);
	else if (strcmp(policy, "max_topics_per_namespace") == 0)
		policy_append_limit(&buf, "max", policy_default_max_topics_per_namespace > 0 ?
					 policy_default_max_topics_per_namespace : -1);
	else
	{
		bool		first = true;

		/* the limits the topic cache reads: one or two fields */
		for (int f = 0; f < NUM_LIMIT_FIELDS; f++)
		{
			int64		value = limit_default((LimitField) f);

			if (strcmp(limit_fields[f].policy, policy) != 0)
				continue;
			if (!first)
				appendStringInfoString(&buf, ", ");
			policy_append_limit(&buf, limit_fields[f].field, value > 0 ? value : -1);
			first = false;
		}
	}
	appendStringInfoChar(&buf, '}');
	return jsonb_from_string(buf.data);
}

/* pulsar.policy's oid, or InvalidOid in an installation without it */
static Oid
policy_table(void)
{
	Oid			schema = get_namespace_oid("pulsar", true);

	return OidIsValid(schema) ? get_relname_relid("policy", schema) : InvalidOid;
}

/*
 * Tells every backend, this one included, that policies changed: their
 * caches of limits are emptied when the open transaction commits.
 */
static void
invalidate_limits(void)
{
	Oid			relid = policy_table();

	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
}

static void
policy_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == policy_table_oid)
		limit_cache_valid = false;
}

void
PolicyInit(void)
{
	CacheRegisterRelcacheCallback(policy_relcache_callback, (Datum) 0);
}

/*
 * Reads what a topic and its namespace set of the limits in the cache.
 */
static void
load_limits(CachedLimits *entry)
{
	CatalogAccess access;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(entry->topic_id)};

	for (int f = 0; f < NUM_LIMIT_FIELDS; f++)
		entry->topic_value[f] = entry->namespace_value[f] = LIMIT_NOT_SET;
	catalog_access_begin(&access);
	catalog_run_sql("SELECT p.topic_id <> 0, p.name, (p.value->>'max')::bigint,"
					"       (p.value->>'messages_per_second')::bigint,"
					"       (p.value->>'bytes_per_second')::bigint"
					"  FROM pulsar.topic t"
					"  JOIN pulsar.policy p ON p.tenant = t.tenant"
					"   AND p.namespace = t.namespace"
					"   AND p.topic_id IN (0, t.topic_id)"
					" WHERE t.topic_id = $1"
					"   AND p.name IN ('max_subscriptions_per_topic',"
					"       'max_consumers_per_topic', 'max_consumers_per_subscription',"
					"       'max_unacked_messages_per_subscription',"
					"       'publish_rate', 'dispatch_rate')",
					1, argtypes, values, NULL, true);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		is_topic = DatumGetBool(SPI_getbinval(tuple, desc, 1, &isnull));
		char	   *name = SPI_getvalue(tuple, desc, 2);

		for (int f = 0; f < NUM_LIMIT_FIELDS; f++)
		{
			int			column;
			Datum		value;

			if (strcmp(limit_fields[f].policy, name) != 0)
				continue;
			column = strcmp(limit_fields[f].field, "max") == 0 ? 3 :
				strcmp(limit_fields[f].field, "messages_per_second") == 0 ? 4 : 5;
			value = SPI_getbinval(tuple, desc, column, &isnull);
			/* JSON null: set, and unlimited */
			(is_topic ? entry->topic_value : entry->namespace_value)[f] =
				isnull ? 0 : DatumGetInt64(value);
		}
	}
	catalog_access_end(&access);
}

/*
 * The limits in effect for a topic: its own, else its namespace's, else the
 * server default, field by field; 0 is none.  Reads pulsar.policy only the
 * first time a backend asks about a topic after a change of policies.
 */
void
policy_limits(int64 topic_id, TopicLimits *limits)
{
	CachedLimits *entry;
	int64		value[NUM_LIMIT_FIELDS];

	if (!limit_cache_valid)
	{
		HASHCTL		info;

		if (LimitCacheContext == NULL)
			LimitCacheContext = AllocSetContextCreate(CacheMemoryContext,
													  "pulsar_pg limits",
													  ALLOCSET_SMALL_SIZES);
		else
			MemoryContextReset(LimitCacheContext);
		LimitCache = NULL;
		last_limits = NULL;
		policy_table_oid = policy_table();
		info.keysize = sizeof(int64);
		info.entrysize = sizeof(CachedLimits);
		info.hcxt = LimitCacheContext;
		LimitCache = hash_create("pulsar_pg limits", 64, &info,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		/* invalidations from here on are seen: loads read the latest state */
		limit_cache_valid = OidIsValid(policy_table_oid);
	}

	entry = last_limits;
	if (entry == NULL || entry->topic_id != topic_id)
	{
		entry = hash_search(LimitCache, &topic_id, HASH_FIND, NULL);
		if (entry == NULL)
		{
			CachedLimits loaded;

			/* loaded first: a failed load leaves no entry behind */
			loaded.topic_id = topic_id;
			if (OidIsValid(policy_table_oid))
				load_limits(&loaded);
			else
				for (int f = 0; f < NUM_LIMIT_FIELDS; f++)
					loaded.topic_value[f] = loaded.namespace_value[f] =
						LIMIT_NOT_SET;
			entry = hash_search(LimitCache, &topic_id, HASH_ENTER, NULL);
			*entry = loaded;
		}
		last_limits = entry;
	}

	for (int f = 0; f < NUM_LIMIT_FIELDS; f++)
		value[f] = entry->topic_value[f] != LIMIT_NOT_SET ? entry->topic_value[f] :
			entry->namespace_value[f] != LIMIT_NOT_SET ? entry->namespace_value[f] :
			limit_default((LimitField) f);
	limits->max_subscriptions = value[LIMIT_MAX_SUBSCRIPTIONS];
	limits->max_consumers_per_topic = value[LIMIT_MAX_CONSUMERS_PER_TOPIC];
	limits->max_consumers_per_subscription = value[LIMIT_MAX_CONSUMERS_PER_SUBSCRIPTION];
	limits->max_unacked_per_subscription = value[LIMIT_MAX_UNACKED_PER_SUBSCRIPTION];
	limits->publish.messages_per_second = value[LIMIT_PUBLISH_MESSAGES];
	limits->publish.bytes_per_second = value[LIMIT_PUBLISH_BYTES];
	limits->dispatch.messages_per_second = value[LIMIT_DISPATCH_MESSAGES];
	limits->dispatch.bytes_per_second = value[LIMIT_DISPATCH_BYTES];
}

/*
 * The topics a namespace may hold (0: no limit).  Read when a topic is
 * created, not cached.  Runs inside catalog access.
 */
int64
policy_max_topics_per_namespace(const char *tenant, const char *namespace)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(tenant),
	CStringGetTextDatum(namespace)};
	bool		isnull;
	Datum		value;

	if (!OidIsValid(policy_table()))
		return policy_default_max_topics_per_namespace;
	catalog_run_sql("SELECT (value->>'max')::bigint FROM pulsar.policy"
					" WHERE tenant = $1 AND namespace = $2 AND topic_id = 0"
					"   AND name = 'max_topics_per_namespace'",
					2, argtypes, values, NULL, true);
	if (SPI_processed == 0)
		return policy_default_max_topics_per_namespace;
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
	return isnull ? 0 : DatumGetInt64(value);
}

/*
 * The policy that applies to a topic: its own, else its namespace's, else
 * the server default, as last committed: a sender in a REPEATABLE READ
 * transaction must not act on the quota its snapshot saw.  Runs inside
 * catalog access (SPI connected).
 */
Jsonb *
policy_effective(int64 topic_id, const char *policy)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(topic_id), CStringGetTextDatum(policy)};
	bool		isnull;
	Datum		value;

	policy_check_name(policy);
	/* two primary key look-ups: an IN list there reads the whole table */
	catalog_run_sql("SELECT p.value FROM pulsar.topic t"
					" JOIN pulsar.policy p ON p.tenant = t.tenant"
					"  AND p.namespace = t.namespace"
					"  AND p.topic_id = t.topic_id AND p.name = $2"
					" WHERE t.topic_id = $1"
					" UNION ALL "
					"SELECT p.value FROM pulsar.topic t"
					" JOIN pulsar.policy p ON p.tenant = t.tenant"
					"  AND p.namespace = t.namespace"
					"  AND p.topic_id = 0 AND p.name = $2"
					" WHERE t.topic_id = $1"
					" LIMIT 1",
					2, argtypes, values, NULL, true);
	if (SPI_processed == 0)
		return policy_default(policy);
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
	return DatumGetJsonbPCopy(value);
}

/* A text field of a policy, or NULL if it is null or absent. */
char *
policy_text(Jsonb *policy, const char *field)
{
	JsonbValue *found;

	found = getKeyJsonValueFromContainer(&policy->root, field, strlen(field),
										 NULL);
	if (found == NULL || found->type != jbvString)
		return NULL;
	return pnstrdup(found->val.string.val, found->val.string.len);
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
	catalog_run_sql_int8("DELETE FROM pulsar.policy WHERE topic_id = $1",
						 1, &topic_id, false);
	if (SPI_processed > 0)
		invalidate_limits();
}

/* Sets a policy of a target to the JSON object given. */
void
policy_store(const PolicyTarget *target, const char *policy, const char *json)
{
	CatalogAccess access;
	Oid			argtypes[5] = {TEXTOID, TEXTOID, INT8OID, TEXTOID, JSONBOID};
	Datum		values[5] = {CStringGetTextDatum(target->tenant),
		CStringGetTextDatum(target->namespace),
		Int64GetDatum(target->topic_id),
		CStringGetTextDatum(policy),
	JsonbPGetDatum(jsonb_from_string(json))};

	catalog_access_begin(&access);
	catalog_run_sql("INSERT INTO pulsar.policy (tenant, namespace, topic_id, name, value)"
					" VALUES ($1, $2, $3, $4, $5)"
					" ON CONFLICT (tenant, namespace, topic_id, name)"
					" DO UPDATE SET value = excluded.value",
					5, argtypes, values, NULL, false);
	catalog_access_end(&access);
	invalidate_limits();
}

/*
 * Stores {"field": value}, or {"field": null} for zero, which is Pulsar's
 * "none" for a TTL, an expiration time, a compaction threshold and a count
 * limit.
 */
void
policy_store_single_limit(const PolicyTarget *target, const char *policy,
						  const char *field, int64 value)
{
	StringInfoData json;

	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	policy_append_limit(&json, field, value > 0 ? value : -1);
	appendStringInfoChar(&json, '}');
	policy_store(target, policy, json.data);
}

/* Removes a policy of a target: it inherits again. */
void
policy_remove(const PolicyTarget *target, const char *policy)
{
	CatalogAccess access;
	Oid			argtypes[4] = {TEXTOID, TEXTOID, INT8OID, TEXTOID};
	Datum		values[4] = {CStringGetTextDatum(target->tenant),
		CStringGetTextDatum(target->namespace),
		Int64GetDatum(target->topic_id),
	CStringGetTextDatum(policy)};

	catalog_access_begin(&access);
	catalog_run_sql("DELETE FROM pulsar.policy WHERE tenant = $1"
					" AND namespace = $2 AND topic_id = $3 AND name = $4",
					4, argtypes, values, NULL, false);
	catalog_access_end(&access);
	invalidate_limits();
}

/*
 * {policy: {"topic": ..., "namespace": ..., "default": ..., "effective": ...}}
 * for every policy, as JSON text; "topic" only when the target is a topic,
 * null where nothing is set.
 */
char *
policy_describe(const PolicyTarget *target)
{
	CatalogAccess access;
	StringInfoData json;
	Oid			argtypes[4] = {TEXTOID, TEXTOID, INT8OID, TEXTOID};

	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	catalog_access_begin(&access);
	for (int i = 0; i < lengthof(policy_names); i++)
	{
		const char *own[2] = {NULL, NULL};	/* namespace's, topic's */
		char	   *fallback = JsonbToCString(NULL,
											  &policy_default(policy_names[i])->root,
											  0);
		Datum		values[4] = {CStringGetTextDatum(target->tenant),
			CStringGetTextDatum(target->namespace),
			Int64GetDatum(target->topic_id),
		CStringGetTextDatum(policy_names[i])};

		catalog_run_sql("SELECT topic_id <> 0, value::text FROM pulsar.policy"
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
		if (target->topic_id != 0)
			appendStringInfo(&json, "\"topic\": %s, ", own[1] ? own[1] : "null");
		appendStringInfo(&json, "\"namespace\": %s, \"default\": %s, \"effective\": %s}",
						 own[0] ? own[0] : "null", fallback,
						 own[1] ? own[1] : own[0] ? own[0] : fallback);
	}
	catalog_access_end(&access);
	appendStringInfoChar(&json, '}');
	return json.data;
}
