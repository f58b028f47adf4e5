/*-------------------------------------------------------------------------
 *
 * expire.c
 *	  SQL entry points of message expiry: pulsar.expire_messages() and
 *	  pulsar.apply_expiry_policies().
 *
 * Expiring a subscription's messages is its tenant's business, as
 * compaction is: expire_messages() needs the right to administer the
 * topic.  expiry_apply_policies() does what the maintenance pass does, to
 * every topic of a namespace or of the database, so EXECUTE on it is
 * revoked from PUBLIC, as on trim_topic().  What expiry does is in
 * 4_storage/expiry.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "1_value/argument.h"
#include "1_value/topic_name.h"
#include "3_catalog/authz.h"
#include "3_catalog/catalog.h"
#include "4_storage/cursor.h"
#include "4_storage/expiry.h"
#include "4_storage/subscription.h"

PG_FUNCTION_INFO_V1(pulsar_expire_messages);
PG_FUNCTION_INFO_V1(pulsar_apply_expiry_policies);

/*
 * expire_messages(topic, subscription, expire_time): Pulsar's
 * "topics expire-messages", for whoever administers the topic.  Waits for
 * the cursor like an acknowledgement; messages whose acknowledgement is in
 * progress stop it below them.
 */
Datum
pulsar_expire_messages(PG_FUNCTION_ARGS)
{
	TopicName	name;
	TopicInfo  *topic;
	Subscription *subscription;
	Interval   *expire_time;
	int64		usecs;
	int64		expired = 0;
	TimestampTz cutoff;

	catalog_require_writable("pulsar.expire_messages()");
	catalog_require_consumption_tables();
	topic_name_parse(argument_required_text(fcinfo, 0, "topic"), &name);
	/* a subscription's backlog is its tenant's business, as compaction is */
	authz_check(&name, AUTHZ_ADMINISTER);
	if (name.partition_index != NOT_A_PARTITION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot expire messages of one partition of topic \"%s\"",
						topic_name_string(&name, NOT_A_PARTITION)),
				 errhint("Expire the messages of the partitioned topic; its subscriptions cover every partition.")));
	if (!cursor_expiry_table_exists())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pulsar_pg\" must be updated before messages can be expired"),
				 errhint("Run ALTER EXTENSION pulsar_pg UPDATE.")));
	topic = catalog_resolve_topic(&name, false, AccessShareLock);
	subscription = subscription_open(topic,
									 argument_required_text(fcinfo, 1, "subscription"),
									 AccessShareLock);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("expire_time must not be null"),
				 errhint("Pass '0' to expire every message published so far.")));
	expire_time = PG_GETARG_INTERVAL_P(2);
	if (!argument_interval_usecs(expire_time, &usecs))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("expire_time is out of range")));
	if (usecs < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expire_time must not be negative")));
	/* a message published in this very microsecond is not older than 0 */
	cutoff = GetCurrentTimestamp() - usecs + (usecs == 0 ? 1 : 0);
	for (int i = 0; i < topic->num_ledgers; i++)
		expired += expiry_expire_published_before(subscription, &topic->ledgers[i],
												  cutoff, true);
	PG_RETURN_INT64(expired);
}

/*
 * expiry_apply_policies(namespace, as_of): applies the policies to the
 * topics of a namespace (NULL: every topic) now, as if at 'as_of' (tests
 * move time forward with it), and says what it did.  Consumers count as
 * known since ever: only the worker knows its start.
 */
Datum
pulsar_apply_expiry_policies(PG_FUNCTION_ARGS)
{
	ExpiryCounts counts;
	TimestampTz now;
	char		tenant[MAX_TENANT_NAME_LEN + 1];
	char		namespace[MAX_NAMESPACE_NAME_LEN + 1];
	bool		all = PG_ARGISNULL(0);

	catalog_require_writable("pulsar.apply_expiry_policies()");
	if (!catalog_maintenance_tables_current() || !cursor_expiry_table_exists())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pulsar_pg\" must be updated before policies can be applied"),
				 errhint("Run ALTER EXTENSION pulsar_pg UPDATE.")));
	if (!all)
	{
		CatalogAccess access;

		topic_name_parse_namespace(text_to_cstring(PG_GETARG_TEXT_PP(0)), tenant,
								   namespace);
		catalog_access_begin(&access);
		catalog_check_namespace_exists(tenant, namespace);
		catalog_access_end(&access);
	}
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be null")));
	now = PG_GETARG_TIMESTAMPTZ(1);
	expiry_apply_policies(all ? NULL : tenant, all ? NULL : namespace, now,
						  DT_NOBEGIN, &counts);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in,
										CStringGetDatum(psprintf("{\"messages_expired\": " INT64_FORMAT
																 ", \"backlog_quotas_exceeded\": " INT64_FORMAT
																 ", \"messages_evicted\": " INT64_FORMAT
																 ", \"subscriptions_expired\": " INT64_FORMAT
																 ", \"topics_deleted\": " INT64_FORMAT "}",
																 counts.messages_expired,
																 counts.quotas_exceeded,
																 counts.messages_evicted,
																 counts.subscriptions_expired,
																 counts.topics_deleted))));
}
