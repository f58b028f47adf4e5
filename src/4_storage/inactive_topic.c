/*-------------------------------------------------------------------------
 *
 * inactive_topic.c
 *	  Deleting inactive topics (inactive_topic_policies).
 *
 * Pulsar's two modes: delete_when_no_subscriptions deletes a topic that has
 * no subscription, delete_when_subscriptions_caught_up one whose
 * subscriptions have all acknowledged everything (with them).  Either way
 * the topic must have had no publication and no consumer for max_inactive:
 * it is inactive since the latest of its creation, its last message's
 * publish time and the last time one of its subscriptions had a consumer
 * (pulsar.subscription_activity), and not while a consumer is attached.
 * Off unless a policy or pulsar_pg.default_inactive_topic_enabled turns it
 * on.
 *
 * The topic is deleted only if no transaction holds it (a sender, a
 * reader, a consumer in an open transaction): its lock is taken without
 * waiting, and a busy topic is looked at again next pass.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "1_value/topic_name.h"
#include "2_shmem/read_position.h"
#include "3_catalog/catalog.h"
#include "3_catalog/policy.h"
#include "4_storage/expiry.h"
#include "4_storage/inactive_topic.h"
#include "4_storage/reader.h"
#include "4_storage/subscription.h"
#include "4_storage/trim.h"

/*
 * The extension's tables deleting a topic touches (subscription_delete_topic()),
 * locked beforehand without waiting by the maintenance step.
 */
static const char *const inactive_read_tables[] = {
	"subscription_activity"
};
static const char *const inactive_write_tables[] = {
	"topic", "policy", "ledger", "segment", "producer_sequence", "compaction",
	"subscription", "consumer", "cursor", "acked_range", "cursor_expiry",
	"pending"
};

/* how many of a partition's last entries are looked at for a publish time */
#define LAST_PUBLISH_PROBE	64

typedef struct LastPublish
{
	TimestampTz publish_time;
} LastPublish;

static bool
note_publish_time(const StoredMessage *message, void *arg)
{
	LastPublish *last = arg;

	last->publish_time = Max(last->publish_time,
							 DatumGetTimestampTz(message->values[SEGMENT_PUBLISH_TIME]));
	return true;
}

/*
 * Whether a subscription has not acknowledged something it could read (ids
 * a segment cut skipped and trimmed entries do not count: trim.c).  A
 * subscription that another transaction holds counts as behind.
 */
static bool
has_backlog(TopicInfo *topic, const int64 *last)
{
	ListCell   *lc;

	foreach(lc, expiry_subscription_names(topic->topic_id))
	{
		Subscription *subscription = subscription_try_open(topic, lfirst(lc),
														   AccessShareLock);

		if (subscription == NULL)
			return true;
		for (int i = 0; i < topic->num_ledgers; i++)
			if (trim_backlog_entries(subscription, &topic->ledgers[i], last[i]) > 0)
				return true;
	}
	return false;
}

/*
 * The inactive topic policy in effect for a topic: false if it is off.
 * Caller is inside catalog_access_begin().
 */
static bool
inactive_topic_policy(int64 topic_id, int64 *max_inactive,
					  bool *caught_up_mode)
{
	Jsonb	   *policy = policy_effective(topic_id, "inactive_topic_policies");
	JsonbValue *value;

	value = getKeyJsonValueFromContainer(&policy->root, "enabled", 7, NULL);
	if (value == NULL || value->type != jbvBool || !value->val.boolean ||
		!policy_limit(policy, "max_inactive", max_inactive))
		return false;
	value = getKeyJsonValueFromContainer(&policy->root, "mode", 4, NULL);
	*caught_up_mode = value != NULL && value->type == jbvString &&
		value->val.string.len == strlen("delete_when_subscriptions_caught_up") &&
		strncmp(value->val.string.val, "delete_when_subscriptions_caught_up",
				value->val.string.len) == 0;
	return true;
}

/*
 * Deletes a topic if it has been inactive for its policy's max_inactive
 * before 'now' and its mode lets it go.  Consumer activity counts at the
 * earliest from 'consumers_known_since'.  Returns whether it deleted it.
 */
bool
inactive_topic_delete_if_inactive(int64 topic_id, TimestampTz now,
								  TimestampTz consumers_known_since)
{
	CatalogAccess access;
	Oid			argtypes[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2] = {Int64GetDatum(topic_id),
	TimestampTzGetDatum(consumers_known_since)};
	int64		max_inactive;
	bool		caught_up_mode;
	bool		candidate;
	TimestampTz active_at = 0;
	TopicInfo  *topic;
	TopicName	name;
	int64	   *last;

	catalog_access_begin(&access);
	if (!inactive_topic_policy(topic_id, &max_inactive, &caught_up_mode))
	{
		catalog_access_end(&access);
		return false;
	}

	/* no consumer attached, no subscription unless caught up is enough */
	catalog_run_sql("SELECT greatest(t.created_at, $2,"
					"                (SELECT max(a.last_consumer_at)"
					"                   FROM pulsar.subscription s"
					"                   JOIN pulsar.subscription_activity a"
					"                     ON a.subscription_id = s.subscription_id"
					"                  WHERE s.topic_id = t.topic_id)),"
					"       EXISTS (SELECT 1 FROM pulsar.subscription s"
					"                WHERE s.topic_id = t.topic_id),"
					"       EXISTS (SELECT 1 FROM pulsar.subscription s"
					"                 JOIN pulsar.consumer c"
					"                   ON c.subscription_id = s.subscription_id"
					"                WHERE s.topic_id = t.topic_id)"
					"  FROM pulsar.topic t WHERE t.topic_id = $1",
					2, argtypes, values, NULL, true);
	candidate = SPI_processed > 0;
	if (candidate)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		subscribed = DatumGetBool(SPI_getbinval(row, desc, 2, &isnull));
		bool		consumed = DatumGetBool(SPI_getbinval(row, desc, 3, &isnull));

		active_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 1, &isnull));
		candidate = !consumed && (caught_up_mode || !subscribed) &&
			active_at + max_inactive * USECS_PER_SEC <= now;
	}
	catalog_access_end(&access);
	if (!candidate)
		return false;

	/* busy (or gone): next pass */
	topic = expiry_open_topic_now(topic_id, AccessExclusiveLock);
	if (topic == NULL)
		return false;
	last = palloc(sizeof(int64) * topic->num_ledgers);
	for (int i = 0; i < topic->num_ledgers; i++)
	{
		const LedgerInfo *ledger = &topic->ledgers[i];
		LastPublish published;
		Snapshot	snapshot;
		int64		next_entry;

		read_position_untracked(ledger->ledger_id, catalog_load_next_entry,
								&next_entry, &last[i]);
		snapshot = RegisterSnapshot(GetLatestSnapshot());
		published.publish_time = DT_NOBEGIN;
		reader_scan_ledger(ledger, last[i] - LAST_PUBLISH_PROBE, last[i], snapshot,
						   note_publish_time, &published);
		UnregisterSnapshot(snapshot);
		active_at = Max(active_at, published.publish_time);
	}
	if (active_at + max_inactive * USECS_PER_SEC > now)
		return false;
	if (caught_up_mode && has_backlog(topic, last))
		return false;

	/* the topic cache, and the name in it, go with the topic */
	name = topic->name;
	subscription_delete_topic(&name, true);
	ereport(LOG,
			(errmsg("pulsar_pg deleted topic \"%s\", inactive for its max_inactive time",
					topic_name_string(&name, NOT_A_PARTITION))));
	return true;
}

/*
 * Which of 'count' topics (ascending) the maintenance pass must look at for
 * deletion while inactive: those whose inactive topic policy is enabled.
 * Sets needed[i] for topic_ids[i].
 */
void
inactive_topic_select_topics(const int64 *topic_ids, int count, bool *needed)
{
	catalog_select_topics("SELECT t.topic_id"
						  "  FROM " POLICY_OF_BATCH("'inactive_topic_policies'") " t"
						  " WHERE (t.v ->> 'enabled')::boolean",
						  0, NULL, NULL, topic_ids, count, needed);
}

/*
 * The maintenance step: see inactive_topic_delete_if_inactive().  Tables locked by
 * others leave the topic for the next pass.
 */
void
inactive_topic_step(int64 topic_id)
{
	CatalogAccess access;
	int64		max_inactive;
	bool		caught_up_mode;
	bool		enabled;

	if (!expiry_lock_policy_tables_now())
		return;
	catalog_access_begin(&access);
	enabled = inactive_topic_policy(topic_id, &max_inactive, &caught_up_mode);
	catalog_access_end(&access);
	if (!enabled || !expiry_lock_cursor_tables_now() ||
		!catalog_lock_tables_now(inactive_read_tables,
								 lengthof(inactive_read_tables),
								 AccessShareLock) ||
		!catalog_lock_tables_now(inactive_write_tables,
								 lengthof(inactive_write_tables),
								 RowExclusiveLock))
		return;
	(void) inactive_topic_delete_if_inactive(topic_id, GetCurrentTimestamp(),
											 expiry_consumers_known_since);
}
