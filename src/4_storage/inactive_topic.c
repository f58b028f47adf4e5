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
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "1_value/topic_name.h"
#include "2_shmem/read_position.h"
#include "3_catalog/catalog.h"
#include "4_storage/expiry.h"
#include "4_storage/inactive_topic.h"
#include "4_storage/reader.h"
#include "4_storage/subscription.h"

/* how many of a partition's last entries are looked at for a publish time */
#define LAST_PUBLISH_PROBE	64

typedef struct InactiveTopic
{
	TopicName	name;
	bool		caught_up_mode;
	int64		max_inactive;	/* seconds */
	TimestampTz active_at;		/* without its publications */
	TimestampTz now;
	int64		deleted;
} InactiveTopic;

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

/* whether a subscription has not acknowledged something it could read */
static bool
has_backlog(TopicInfo *topic, const int64 *last)
{
	CatalogAccess access;
	Oid			argtypes[3] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[3];
	Datum	   *ledgers = palloc(sizeof(Datum) * topic->num_ledgers);
	Datum	   *lasts = palloc(sizeof(Datum) * topic->num_ledgers);
	bool		behind;

	for (int i = 0; i < topic->num_ledgers; i++)
	{
		ledgers[i] = Int64GetDatum(topic->ledgers[i].ledger_id);
		lasts[i] = Int64GetDatum(last[i]);
	}
	values[0] = Int64GetDatum(topic->topic_id);
	values[1] = PointerGetDatum(construct_array(ledgers, topic->num_ledgers,
												INT8OID, 8, true, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(lasts, topic->num_ledgers,
												INT8OID, 8, true, TYPALIGN_DOUBLE));
	begin_catalog_access(&access);
	run_catalog_sql("SELECT 1 FROM pulsar.subscription s"
					"  JOIN pulsar.cursor c ON c.subscription_id = s.subscription_id"
					"  JOIN unnest($2, $3) AS l(ledger_id, last_entry)"
					"    ON l.ledger_id = c.ledger_id"
					" WHERE s.topic_id = $1 AND c.mark_delete < l.last_entry"
					" LIMIT 1",
					3, argtypes, values, NULL, true);
	behind = SPI_processed > 0;
	end_catalog_access(&access);
	return behind;
}

static void
delete_if_inactive(void *arg)
{
	InactiveTopic *inactive = arg;
	TopicInfo  *topic = try_resolve_topic(&inactive->name, AccessExclusiveLock);
	TimestampTz active_at = inactive->active_at;
	int64	   *last;
	List	   *subscription_ids = NIL;
	List	   *consumer_ids = NIL;

	/* busy (or gone): next pass */
	if (topic == NULL)
		return;
	last = palloc(sizeof(int64) * topic->num_ledgers);
	for (int i = 0; i < topic->num_ledgers; i++)
	{
		const LedgerInfo *ledger = &topic->ledgers[i];
		LastPublish published;
		Snapshot	snapshot;

		last[i] = GetMaxReadPosition(ledger->ledger_id, load_next_entry);
		snapshot = RegisterSnapshot(GetLatestSnapshot());
		published.publish_time = DT_NOBEGIN;
		scan_ledger(ledger, last[i] - LAST_PUBLISH_PROBE, last[i], snapshot,
					note_publish_time, &published);
		UnregisterSnapshot(snapshot);
		active_at = Max(active_at, published.publish_time);
	}
	if (active_at + inactive->max_inactive * USECS_PER_SEC > inactive->now)
		return;
	if (inactive->caught_up_mode && has_backlog(topic, last))
		return;

	delete_topic(&inactive->name, true, &subscription_ids, &consumer_ids);
	forget_deleted_subscriptions(subscription_ids, consumer_ids);
	ereport(LOG,
			(errmsg("pulsar_pg deleted inactive topic \"%s\"",
					topic_name_string(&inactive->name, NOT_A_PARTITION))));
	inactive->deleted++;
}

/*
 * Deletes the topics that have been inactive for their max_inactive
 * before 'now' and that their mode allows to go.  Consumer activity counts
 * at the earliest from 'consumers_known_since'.  Returns how many it
 * deleted.
 */
int64
delete_inactive_topics(TimestampTz now, TimestampTz consumers_known_since)
{
	MemoryContext caller = CurrentMemoryContext;
	CatalogAccess access;
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2] = {TimestampTzGetDatum(now),
	TimestampTzGetDatum(consumers_known_since)};
	List	   *topics = NIL;
	ListCell   *lc;
	int64		deleted = 0;

	begin_catalog_access(&access);
	run_catalog_sql("SELECT t.tenant, t.namespace, t.name,"
					"       p.value->>'mode' = 'delete_when_subscriptions_caught_up',"
					"       (p.value->>'max_inactive')::bigint,"
					"       greatest(t.created_at, $2,"
					"                (SELECT max(a.last_consumer_at)"
					"                   FROM pulsar.subscription s"
					"                   JOIN pulsar.subscription_activity a"
					"                     ON a.subscription_id = s.subscription_id"
					"                  WHERE s.topic_id = t.topic_id))"
					"  FROM pulsar.topic t"
					"  CROSS JOIN LATERAL pulsar.effective_policy(t.topic_id,"
					"                     'inactive_topic_policies') p(value)"
					" WHERE (p.value->>'enabled')::boolean"
					"   AND NOT EXISTS (SELECT 1 FROM pulsar.subscription s"
					"                     JOIN pulsar.consumer c"
					"                       ON c.subscription_id = s.subscription_id"
					"                    WHERE s.topic_id = t.topic_id)"
					"   AND (p.value->>'mode' = 'delete_when_subscriptions_caught_up'"
					"        OR NOT EXISTS (SELECT 1 FROM pulsar.subscription s"
					"                        WHERE s.topic_id = t.topic_id))"
					" ORDER BY t.topic_id",
					2, argtypes, values, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(caller);
		InactiveTopic *topic = palloc0(sizeof(InactiveTopic));
		bool		isnull;

		MemoryContextSwitchTo(old);

		catalog_topic_name(SPI_getvalue(row, desc, 1), SPI_getvalue(row, desc, 2),
						   SPI_getvalue(row, desc, 3), &topic->name);
		topic->caught_up_mode = DatumGetBool(SPI_getbinval(row, desc, 4, &isnull));
		topic->max_inactive = DatumGetInt64(SPI_getbinval(row, desc, 5, &isnull));
		topic->active_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 6, &isnull));
		topic->now = now;
		/* no need to read a partition to know it is too early */
		if (topic->active_at + topic->max_inactive * USECS_PER_SEC <= now)
		{
			old = MemoryContextSwitchTo(caller);
			topics = lappend(topics, topic);
			MemoryContextSwitchTo(old);
		}
	}
	end_catalog_access(&access);

	foreach(lc, topics)
	{
		InactiveTopic *topic = lfirst(lc);

		run_guarded(delete_if_inactive, topic, "the inactive topic policy");
		deleted += topic->deleted;
	}
	return deleted;
}
