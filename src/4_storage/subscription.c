/*-------------------------------------------------------------------------
 *
 * subscription.c
 *	  Durable subscriptions and their consumers: what subscribe,
 *	  unsubscribe and close_consumer store, and consumer liveness.
 *
 * A subscription is a row of pulsar.subscription with a cursor per
 * partition (cursor.c).  Consumers are rows of the unlogged table
 * pulsar.consumer.  A consumer attached without a name belongs to its
 * session: it lives as long as that backend (its pid and start time), as a
 * Pulsar consumer lives as long as its connection, however long it waits
 * on LISTEN without a call.  A named consumer has no session; it is gone
 * when it has made no call for pulsar_pg.consumer_lease, which is what
 * lets consumers work behind a transaction-mode connection pooler.
 * Departed consumers are removed by the worker and whenever a live one
 * attaches or receives, and their unacknowledged messages go back to the
 * subscription.
 *
 * A consumer's last call is kept in shared memory (consumer_liveness.c).
 *
 * Locking: each subscription has a heavyweight lock (catalog.c).  Receive
 * and ack share it; attaching a consumer takes it in ExclusiveLock, so two
 * would-be exclusive consumers cannot both get in; unsubscribe and seek take
 * AccessExclusiveLock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/hsearch.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "1_value/argument.h"
#include "1_value/topic_name.h"
#include "2_shmem/dispatch_state.h"
#include "2_shmem/rate_limit.h"
#include "2_shmem/read_position.h"
#include "2_shmem/worker_signal.h"
#include "3_catalog/authz.h"
#include "3_catalog/policy.h"
#include "4_storage/cursor.h"
#include "4_storage/pending.h"
#include "4_storage/subscription.h"


static const char *const type_names[] = {
	[SUBSCRIPTION_EXCLUSIVE] = "exclusive",
	[SUBSCRIPTION_FAILOVER] = "failover",
	[SUBSCRIPTION_SHARED] = "shared",
	[SUBSCRIPTION_KEY_SHARED] = "key_shared"
};

const char *
subscription_type_name(SubscriptionType type)
{
	return type_names[type];
}

SubscriptionType
subscription_parse_type(const char *name)
{
	for (int i = 0; i < lengthof(type_names); i++)
		if (strcmp(name, type_names[i]) == 0)
			return (SubscriptionType) i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid subscription type \"%s\"", name),
			 errhint("Use exclusive, failover, shared or key_shared.")));
	pg_unreachable();
}



/* a stored interval, checked by subscribe() */
static int64
interval_usecs(Interval *interval)
{
	int64		usecs;

	if (!argument_interval_usecs(interval, &usecs))
		elog(ERROR, "stored interval out of range");
	return usecs;
}




/* the last call of a consumer, by (database, consumer id) */
char *
subscription_channel(int64 subscription_id)
{
	return authz_channel_name(subscription_id);
}

/*
 * The name of this session's own consumer.
 */
char *
subscription_session_consumer_name(void)
{
	return psprintf("session-%d-" INT64_FORMAT, MyProcPid,
					(int64) MyStartTimestamp);
}

/*
 * Subscriptions this backend loaded, so that receive and ack need no
 * catalog query for them.  Commits that create, change or delete
 * subscriptions bump a shared generation (worker_signal_subscriptions_changed);
 * the cache is emptied when it moves.  Callers hold the subscription's
 * lock, which a changing transaction keeps until after the bump.
 */
typedef struct CachedSubscriptionKey
{
	int64		topic_id;
	char		name[MAX_SUBSCRIPTION_NAME_LEN + 1];
} CachedSubscriptionKey;

typedef struct CachedSubscription
{
	CachedSubscriptionKey key;	/* hash key */
	int64		subscription_id;
	SubscriptionType type;
	int64		negative_ack_delay_us;
	int64		ack_timeout_us;
	int32		max_redeliver_count;
	char	   *dead_letter_topic;	/* NULL: the default name */
	int32		max_unacked_messages;
	bool		read_compacted;
} CachedSubscription;

static HTAB *SubscriptionCache = NULL;
static MemoryContext SubscriptionCacheContext = NULL;
static uint64 subscription_cache_generation = 0;

/* the cache, emptied if a subscription changed since it was filled */
static HTAB *
subscription_cache(void)
{
	uint64		generation = worker_signal_subscriptions_generation();
	HASHCTL		info;

	if (SubscriptionCache != NULL && generation == subscription_cache_generation)
		return SubscriptionCache;
	if (SubscriptionCacheContext == NULL)
		SubscriptionCacheContext = AllocSetContextCreate(CacheMemoryContext,
														 "pulsar_pg subscriptions",
														 ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(SubscriptionCacheContext);
	info.keysize = sizeof(CachedSubscriptionKey);
	info.entrysize = sizeof(CachedSubscription);
	info.hcxt = SubscriptionCacheContext;
	SubscriptionCache = hash_create("pulsar_pg subscriptions", 64, &info,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	subscription_cache_generation = generation;
	return SubscriptionCache;
}

/*
 * Whether pulsar.subscription has the column read_compacted: an
 * installation not yet updated to 0.7.0 has none.
 */
static bool
subscription_has_read_compacted(void)
{
	Oid			schema = get_namespace_oid("pulsar", false);
	Oid			table = get_relname_relid("subscription", schema);

	return OidIsValid(table) &&
		get_attnum(table, "read_compacted") != InvalidAttrNumber;
}

/*
 * Reads a subscription's row; false if there is none.  The dead-letter
 * topic is allocated in 'context'.
 */
static bool
read_subscription(TopicInfo *topic, const char *name, CachedSubscription *entry,
				  MemoryContext context)
{
	CatalogAccess access;
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(topic->topic_id),
	CStringGetTextDatum(name)};
	bool		exists;

	catalog_access_begin(&access);
	/* read_compacted is there since 0.7.0 */
	if (subscription_has_read_compacted())
		catalog_run_sql("SELECT subscription_id, type, negative_ack_delay, ack_timeout,"
						"       max_redeliver_count, dead_letter_topic, max_unacked_messages,"
						"       read_compacted"
						"  FROM pulsar.subscription WHERE topic_id = $1 AND name = $2",
						2, argtypes, values, NULL, true);
	else
		catalog_run_sql("SELECT subscription_id, type, negative_ack_delay, ack_timeout,"
						"       max_redeliver_count, dead_letter_topic, max_unacked_messages,"
						"       false"
						"  FROM pulsar.subscription WHERE topic_id = $1 AND name = $2",
						2, argtypes, values, NULL, true);
	exists = SPI_processed > 0;
	if (exists)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		value;

		entry->subscription_id =
			DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
		entry->type = subscription_parse_type(SPI_getvalue(row, desc, 2));
		entry->negative_ack_delay_us =
			interval_usecs(DatumGetIntervalP(SPI_getbinval(row, desc, 3, &isnull)));
		value = SPI_getbinval(row, desc, 4, &isnull);
		entry->ack_timeout_us = isnull ? 0 :
			interval_usecs(DatumGetIntervalP(value));
		value = SPI_getbinval(row, desc, 5, &isnull);
		entry->max_redeliver_count = isnull ? 0 : DatumGetInt32(value);
		value = SPI_getbinval(row, desc, 6, &isnull);
		entry->dead_letter_topic = isnull ? NULL :
			MemoryContextStrdup(context, TextDatumGetCString(value));
		entry->max_unacked_messages =
			DatumGetInt32(SPI_getbinval(row, desc, 7, &isnull));
		entry->read_compacted =
			DatumGetBool(SPI_getbinval(row, desc, 8, &isnull));
	}
	catalog_access_end(&access);
	return exists;
}

/*
 * Loads a subscription; NULL if it does not exist.  Caller holds its lock.
 *
 * The cache is bypassed by a transaction that changed subscriptions (what
 * it reads may roll back) and during recovery (replay bumps no
 * generation).  The generation is read before the query's snapshot, so a
 * change committing meanwhile empties the cache at the next call.
 */
static Subscription *
load_subscription(TopicInfo *topic, const char *name)
{
	CachedSubscription local;
	CachedSubscription *entry = NULL;
	Subscription *subscription;
	bool		cacheable = !worker_signal_subscriptions_changed_here() &&
		!RecoveryInProgress();

	if (cacheable)
	{
		CachedSubscriptionKey key;

		memset(&key, 0, sizeof(key));
		key.topic_id = topic->topic_id;
		strlcpy(key.name, name, sizeof(key.name));
		entry = hash_search(subscription_cache(), &key, HASH_FIND, NULL);
		if (entry == NULL)
		{
			if (!read_subscription(topic, name, &local, SubscriptionCacheContext))
				return NULL;
			entry = hash_search(SubscriptionCache, &key, HASH_ENTER, NULL);
			local.key = entry->key;
			*entry = local;
		}
	}
	else
	{
		if (!read_subscription(topic, name, &local, CurrentMemoryContext))
			return NULL;
		entry = &local;
	}

	subscription = palloc0(sizeof(Subscription));
	subscription->subscription_id = entry->subscription_id;
	subscription->name = pstrdup(name);
	subscription->topic = topic;
	subscription->type = entry->type;
	subscription->negative_ack_delay_us = entry->negative_ack_delay_us;
	subscription->ack_timeout_us = entry->ack_timeout_us;
	subscription->max_redeliver_count = entry->max_redeliver_count;
	subscription->dead_letter_topic = entry->dead_letter_topic != NULL ?
		pstrdup(entry->dead_letter_topic) :
		psprintf("%s-%s-DLQ", topic_name_string(&topic->name, NOT_A_PARTITION),
				 name);
	subscription->max_unacked_messages = entry->max_unacked_messages;
	subscription->read_compacted = entry->read_compacted;
	return subscription;
}

/*
 * Locks and loads an existing subscription, or fails clearly.
 */
Subscription *
subscription_open(TopicInfo *topic, const char *name, LOCKMODE lockmode)
{
	Subscription *subscription;

	topic_name_check_simple(name, MAX_SUBSCRIPTION_NAME_LEN, "subscription");
	catalog_require_consumption_tables();
	catalog_lock_subscription(topic->topic_id, name, lockmode);
	subscription = load_subscription(topic, name);
	if (subscription == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subscription \"%s\" does not exist on topic \"%s\"",
						name, topic_name_string(&topic->name, NOT_A_PARTITION)),
				 errhint("Create it with pulsar.subscribe().")));
	return subscription;
}

/* tells the worker of the subscriptions in the last query's first column */
static void
note_consumers_left(void)
{
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		worker_signal_consumers_left(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc,
															1, &isnull)));
	}
}

/*
 * Detaches consumers (an array of ids) and gives back what they held: their
 * pending rows wait for redelivery, due at once, and the subscriptions that
 * lost them are told to the worker, which notifies their channels once this
 * transaction commits, so that consumers that only LISTEN learn of them (an
 * exclusive or failover partition's next consumer takes over from the
 * first unacknowledged message).  Every way a consumer goes comes here:
 * close_consumer, an expired lease and an ended session, found by a
 * receive, a subscribe or the worker.  Returns how many consumers it
 * removed.  Caller is inside catalog_access_begin().
 *
 * With 'skip_locked' it never waits for a transaction (DESIGN invariant
 * 6a): the worker and receivers pass it, and a consumer's own transaction
 * may hold rows of what it held (an ack in progress) for as long as it
 * stays open.  Rows locked by another transaction are skipped, and a
 * consumer is deleted only once no row tracks a message it holds, so what
 * is skipped now is found again on the next call.  Until then it counts as
 * departed for dispatch (see subscription_live_consumers()); receive already treats rows
 * of a consumer that is gone as due.  Both statements read the latest
 * committed state whatever the caller's isolation level.
 */
static uint64
detach_consumers(Datum consumer_ids, bool skip_locked)
{
	uint64		removed;

	if (skip_locked)
	{
		pending_give_back_held(consumer_ids);
		note_consumers_left();
		pending_delete_consumers_holding_nothing(consumer_ids);
	}
	else
	{
		/*
		 * The consumer goes at once; a row of what it held that another
		 * transaction was changing (its own ack in progress) is waited for
		 * and given back, and rows that transaction writes back name a
		 * consumer that is gone, which receive treats as due.
		 */
		pending_detach_consumers_giving_back(consumer_ids);
	}
	removed = SPI_processed;
	note_consumers_left();
	for (uint64 i = 0; i < removed; i++)
	{
		bool		isnull;

		consumer_liveness_forget_at_commit(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
															   SPI_tuptable->tupdesc,
															   2, &isnull)));
	}
	return removed;
}

/*
 * Detaches the consumers among the rows of the last catalog query (columns:
 * consumer_id, last_seen, whether it is named, whether its session lives)
 * that departed: a session's own consumer when its session ended, a named
 * one when it made no call for pulsar_pg.consumer_lease.  Returns the ids
 * of every departed consumer, removed or not.  Caller is inside
 * catalog_access_begin().
 */
static ArrayType *
remove_departed(void)
{
	TimestampTz now = GetCurrentTimestamp();
	Datum	   *departed;
	int			num_departed = 0;
	ArrayType  *departed_ids;

	departed = palloc(sizeof(Datum) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		consumer_id = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
		bool		named = DatumGetBool(SPI_getbinval(row, desc, 3, &isnull));
		bool		session_alive = DatumGetBool(SPI_getbinval(row, desc, 4, &isnull));

		/* a session's consumer lives with its session, as in Pulsar */
		if (!session_alive ||
			(named &&
			 TimestampDifferenceExceeds(consumer_liveness_last_seen(consumer_id,
																	DatumGetTimestampTz(SPI_getbinval(row, desc, 2, &isnull))),
										now, pulsar_consumer_lease_ms)))
			departed[num_departed++] = Int64GetDatum(consumer_id);
	}
	departed_ids = catalog_int8_array(departed, num_departed);
	if (num_departed > 0)
		(void) detach_consumers(PointerGetDatum(departed_ids), true);
	return departed_ids;
}

/*
 * A session's consumer lives while a backend with its pid and start time
 * does (a pid reused by a later backend does not keep it).
 * pg_stat_get_activity(pid) builds that backend's row only, where the
 * pg_stat_activity view would build every backend's.
 */
#define CONSUMER_LIVENESS_COLUMNS \
	"SELECT c.consumer_id, c.last_seen, c.backend_pid IS NULL," \
	"       c.backend_pid IS NULL OR EXISTS" \
	"         (SELECT 1 FROM pg_catalog.pg_stat_get_activity(c.backend_pid) a" \
	"           WHERE a.backend_start = c.backend_start)" \
	"  FROM pulsar.consumer c"

/*
 * The same for one subscription, as a receive sees it; returns the ids of
 * its departed consumers, removed or not.
 */
static ArrayType *
remove_departed_consumers(Subscription *subscription)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(subscription->subscription_id)};

	catalog_run_sql(CONSUMER_LIVENESS_COLUMNS " WHERE c.subscription_id = $1",
					1, argtypes, values, NULL, true);
	return remove_departed();
}

/*
 * For the worker: removes departed consumers of every subscription of this
 * database; their channels are notified after the commit.
 */
void
subscription_remove_departed_consumers_everywhere(void)
{
	CatalogAccess access;

	catalog_access_begin(&access);
	catalog_run_sql(CONSUMER_LIVENESS_COLUMNS, 0, NULL, NULL, NULL, true);
	(void) remove_departed();
	catalog_access_end(&access);
}

/*
 * The subscription's live consumers, in failover order: by priority, then
 * name.  A departed consumer that could not be removed yet (another
 * transaction holds a row of what it held) is not among them.
 */
Consumer *
subscription_live_consumers(Subscription *subscription, int *count)
{
	CatalogAccess access;
	Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};
	Datum		values[2];
	Consumer   *consumers;
	MemoryContext caller = CurrentMemoryContext;

	catalog_access_begin(&access);
	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = PointerGetDatum(remove_departed_consumers(subscription));
	catalog_run_sql("SELECT consumer_id, name, priority FROM pulsar.consumer"
					" WHERE subscription_id = $1 AND consumer_id <> ALL ($2)"
					" ORDER BY priority, name",
					2, argtypes, values, NULL, false);
	*count = (int) SPI_processed;
	consumers = MemoryContextAlloc(caller, sizeof(Consumer) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		bool		isnull;

		consumers[i].consumer_id =
			DatumGetInt64(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull));
		consumers[i].name = MemoryContextStrdup(caller,
												SPI_getvalue(row, SPI_tuptable->tupdesc, 2));
		consumers[i].priority =
			DatumGetInt32(SPI_getbinval(row, SPI_tuptable->tupdesc, 3, &isnull));
	}
	catalog_access_end(&access);
	return consumers;
}

/* columns of pulsar.consumer, fixed since 0.2.0 */
#define CONSUMER_ID_ATTNUM			1
#define CONSUMER_SUBSCRIPTION_ATTNUM	2
#define CONSUMER_NAME_ATTNUM		3
#define CONSUMER_PRIORITY_ATTNUM	4

/*
 * Records a call of a consumer, renewing its lease, without locking its
 * row; fails if it is not attached.  Every receive asks, so the row is
 * found by a direct scan of the unique index on (subscription_id, name),
 * as last committed.
 */
Consumer *
subscription_touch_consumer(Subscription *subscription, const char *consumer_name)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	Relation	consumers = table_open(catalog_relation_oid(CATALOG_CONSUMER),
									   AccessShareLock);
	Relation	index = index_open(catalog_relation_oid(CATALOG_CONSUMER_BY_NAME),
								   AccessShareLock);
	TupleDesc	desc = RelationGetDescr(consumers);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	Consumer   *consumer = NULL;

	ScanKeyInit(&keys[0], CONSUMER_SUBSCRIPTION_ATTNUM, BTEqualStrategyNumber,
				F_INT8EQ, Int64GetDatum(subscription->subscription_id));
	ScanKeyEntryInitialize(&keys[1], 0, CONSUMER_NAME_ATTNUM,
						   BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[1], F_TEXTEQ,
						   CStringGetTextDatum(consumer_name));
	scan = systable_beginscan_ordered(consumers, index, snapshot, 2, keys);
	tuple = systable_getnext_ordered(scan, ForwardScanDirection);
	if (tuple != NULL)
	{
		bool		isnull;

		consumer = palloc(sizeof(Consumer));
		consumer->consumer_id =
			DatumGetInt64(heap_getattr(tuple, CONSUMER_ID_ATTNUM, desc, &isnull));
		consumer->priority =
			DatumGetInt32(heap_getattr(tuple, CONSUMER_PRIORITY_ATTNUM, desc,
									   &isnull));
		consumer->name = pstrdup(consumer_name);
		consumer_liveness_seen_now(consumer->consumer_id);
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(consumers, AccessShareLock);
	UnregisterSnapshot(snapshot);

	if (consumer == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("consumer \"%s\" is not attached to subscription \"%s\"",
						consumer_name, subscription->name),
				 errdetail("A consumer is detached when it is closed, a session's own consumer when its session ends, and a named consumer after pulsar_pg.consumer_lease without a call."),
				 errhint("Call pulsar.subscribe() first.")));
	return consumer;
}


/*
 * Resolves the topic argument of a consuming function: a whole topic, not
 * one partition of it.
 */
TopicInfo *
subscription_resolve_topic(FunctionCallInfo fcinfo, bool create_if_missing)
{
	TopicName	name;

	catalog_require_consumption_tables();
	topic_name_parse(argument_required_text(fcinfo, 0, "topic"), &name);
	authz_check_subscription(&name, PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	if (name.partition_index != NOT_A_PARTITION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot subscribe to one partition of topic \"%s\"",
						topic_name_string(&name, NOT_A_PARTITION)),
				 errhint("Subscribe to the partitioned topic; its subscriptions cover every partition.")));
	return catalog_resolve_topic(&name, create_if_missing, AccessShareLock);
}

/* the first column of the last catalog query's only row */
static int64
counted(void)
{
	bool		isnull;

	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * How many of the consumers among the rows of the last catalog query (a
 * CONSUMER_LIVENESS_COLUMNS query) are live: departed ones take no slot of
 * a limit, and are removed on the way.  Caller is inside
 * catalog_access_begin().
 */
static int64
count_live(void)
{
	uint64		rows = SPI_processed;
	ArrayType  *departed = remove_departed();

	return (int64) rows - ArrayGetNItems(ARR_NDIM(departed), ARR_DIMS(departed));
}

/*
 * Fails if the topic has as many subscriptions as its
 * max_subscriptions_per_topic allows.  For a subscription not created yet;
 * caller holds its lock.
 */
static void
check_subscription_count(TopicInfo *topic, const TopicLimits *limits)
{
	CatalogAccess access;
	int64		subscriptions;

	if (limits->max_subscriptions <= 0)
		return;
	catalog_lock_limit_slot("subscriptions of topic", topic->topic_id);
	catalog_access_begin(&access);
	catalog_run_sql_int8("SELECT count(*) FROM pulsar.subscription WHERE topic_id = $1",
						 1, &topic->topic_id, true);
	subscriptions = counted();
	catalog_access_end(&access);
	if (subscriptions >= limits->max_subscriptions)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("topic \"%s\" has reached its limit of " INT64_FORMAT " subscriptions",
						topic_name_string(&topic->name, NOT_A_PARTITION),
						limits->max_subscriptions),
				 errhint("Unsubscribe subscriptions that are no longer used, or raise the limit with pulsar.set_max_subscriptions_per_topic().")));
}

/*
 * Fails if attaching consumer 'name' would go beyond the topic's
 * max_consumers_per_subscription or max_consumers_per_topic.  A consumer
 * already attached takes no new slot; a departed one (its session ended,
 * or its lease expired) takes none either.  Caller holds the
 * subscription's lock in ExclusiveLock, which serialises attaching to one
 * subscription; attaching to any subscription of the topic is serialised
 * here, when that limit is set.
 */
static void
check_consumer_count(Subscription *subscription, const char *name,
					 const TopicLimits *limits)
{
	CatalogAccess access;
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(subscription->subscription_id),
	CStringGetTextDatum(name)};
	char	   *topic_name = topic_name_string(&subscription->topic->name,
											   NOT_A_PARTITION);
	int64		consumers;

	if (limits->max_consumers_per_subscription <= 0 &&
		limits->max_consumers_per_topic <= 0)
		return;
	if (limits->max_consumers_per_topic > 0)
		catalog_lock_limit_slot("consumers of topic", subscription->topic->topic_id);
	catalog_access_begin(&access);
	catalog_run_sql("SELECT count(*) FROM pulsar.consumer"
					" WHERE subscription_id = $1 AND name = $2",
					2, argtypes, values, NULL, true);
	if (counted() > 0)
	{
		catalog_access_end(&access);
		return;
	}
	if (limits->max_consumers_per_subscription > 0)
	{
		catalog_run_sql_int8(CONSUMER_LIVENESS_COLUMNS
							 " WHERE c.subscription_id = $1",
							 1, &subscription->subscription_id, true);
		consumers = count_live();
		if (consumers >= limits->max_consumers_per_subscription)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("subscription \"%s\" of topic \"%s\" has reached its limit of " INT64_FORMAT " consumers",
							subscription->name, topic_name,
							limits->max_consumers_per_subscription),
					 errhint("Close consumers that are no longer used, or raise the limit with pulsar.set_max_consumers_per_subscription().")));
	}
	if (limits->max_consumers_per_topic > 0)
	{
		catalog_run_sql_int8(CONSUMER_LIVENESS_COLUMNS
							 "  JOIN pulsar.subscription s"
							 "    ON s.subscription_id = c.subscription_id"
							 " WHERE s.topic_id = $1",
							 1, &subscription->topic->topic_id, true);
		consumers = count_live();
		if (consumers >= limits->max_consumers_per_topic)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("topic \"%s\" has reached its limit of " INT64_FORMAT " consumers",
							topic_name, limits->max_consumers_per_topic),
					 errdetail("The limit counts the consumers of all its subscriptions."),
					 errhint("Close consumers that are no longer used, or raise the limit with pulsar.set_max_consumers_per_topic().")));
	}
	catalog_access_end(&access);
}

/*
 * Creates subscription 'name' of a topic, or changes the settings of the
 * one there (its type only while no consumer other than 'consumer_name' is
 * attached).  Returns it, locked in ExclusiveLock until the transaction
 * ends, so that two would-be exclusive consumers cannot both get in.
 */
Subscription *
subscription_store(TopicInfo *topic, const char *name,
				   const SubscriptionSettings *settings,
				   const char *consumer_name)
{
	Subscription *subscription;
	CatalogAccess access;
	Oid			argtypes[9];
	Datum		values[9];
	char		nulls[9];
	int			consumers;
	TopicLimits limits;

	catalog_lock_subscription(topic->topic_id, name, ExclusiveLock);
	subscription = load_subscription(topic, name);
	policy_limits(topic->topic_id, &limits);

	argtypes[0] = INT8OID;
	values[0] = Int64GetDatum(topic->topic_id);
	argtypes[1] = TEXTOID;
	values[1] = CStringGetTextDatum(name);
	argtypes[2] = TEXTOID;
	values[2] = CStringGetTextDatum(subscription_type_name(settings->type));
	argtypes[3] = INTERVALOID;
	values[3] = IntervalPGetDatum(settings->negative_ack_delay);
	argtypes[4] = INTERVALOID;
	values[4] = settings->ack_timeout ? IntervalPGetDatum(settings->ack_timeout) : (Datum) 0;
	argtypes[5] = INT4OID;
	values[5] = Int32GetDatum(settings->max_redeliver_count);
	argtypes[6] = TEXTOID;
	values[6] = settings->dead_letter_topic ?
		CStringGetTextDatum(settings->dead_letter_topic) : (Datum) 0;
	argtypes[7] = INT4OID;
	values[7] = Int32GetDatum(settings->max_unacked_messages);
	argtypes[8] = BOOLOID;
	values[8] = BoolGetDatum(settings->read_compacted);
	memset(nulls, ' ', sizeof(nulls));
	nulls[4] = settings->ack_timeout ? ' ' : 'n';
	nulls[5] = settings->max_redeliver_count ? ' ' : 'n';
	nulls[6] = settings->dead_letter_topic ? ' ' : 'n';

	if (subscription == NULL)
	{
		check_subscription_count(topic, &limits);
		/* before the row exists: the cache must not keep it */
		worker_signal_subscriptions_changed();
		catalog_access_begin(&access);
		if (settings->has_read_compacted)
			catalog_run_sql("INSERT INTO pulsar.subscription"
							" (topic_id, name, type, negative_ack_delay, ack_timeout,"
							"  max_redeliver_count, dead_letter_topic, max_unacked_messages,"
							"  read_compacted)"
							" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
							9, argtypes, values, nulls, false);
		else
			catalog_run_sql("INSERT INTO pulsar.subscription"
							" (topic_id, name, type, negative_ack_delay, ack_timeout,"
							"  max_redeliver_count, dead_letter_topic, max_unacked_messages)"
							" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
							8, argtypes, values, nulls, false);
		catalog_access_end(&access);
		subscription = load_subscription(topic, name);
		if (subscription == NULL)
			elog(ERROR, "subscription \"%s\" vanished after its insert", name);
		cursor_create(subscription, settings->earliest);
		/* receives of this transaction leave nothing behind if it aborts */
		dispatch_state_reset_at_abort(subscription->subscription_id);
		return subscription;
	}

	{
		Consumer   *live = subscription_live_consumers(subscription, &consumers);

		if (subscription->type != settings->type)
		{
			int			others = 0;

			for (int i = 0; i < consumers; i++)
				if (strcmp(live[i].name, consumer_name) != 0)
					others++;
			if (others > 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_IN_USE),
						 errmsg("subscription \"%s\" is of type %s and has consumers",
								name, subscription_type_name(subscription->type)),
						 errdetail("A subscription's type can change only while no other consumer is connected."),
						 errhint("Subscribe with type %s, or close its consumers first.",
								 subscription_type_name(subscription->type))));
			dispatch_state_reset_at_commit(subscription->subscription_id);
		}
		if (settings->type == SUBSCRIPTION_EXCLUSIVE)
			for (int i = 0; i < consumers; i++)
				if (strcmp(live[i].name, consumer_name) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_IN_USE),
							 errmsg("exclusive subscription \"%s\" already has consumer \"%s\"",
									name, live[i].name),
							 errhint("Use a failover, shared or key_shared subscription for several consumers.")));
	}
	worker_signal_subscriptions_changed();
	catalog_access_begin(&access);
	if (settings->has_read_compacted)
		catalog_run_sql("UPDATE pulsar.subscription"
						"   SET type = $3, negative_ack_delay = $4, ack_timeout = $5,"
						"       max_redeliver_count = $6, dead_letter_topic = $7,"
						"       max_unacked_messages = $8, read_compacted = $9"
						" WHERE topic_id = $1 AND name = $2",
						9, argtypes, values, nulls, false);
	else
		catalog_run_sql("UPDATE pulsar.subscription"
						"   SET type = $3, negative_ack_delay = $4, ack_timeout = $5,"
						"       max_redeliver_count = $6, dead_letter_topic = $7,"
						"       max_unacked_messages = $8"
						" WHERE topic_id = $1 AND name = $2",
						8, argtypes, values, nulls, false);
	catalog_access_end(&access);
	subscription = load_subscription(topic, name);
	if (subscription == NULL)
		elog(ERROR, "subscription \"%s\" vanished after its update", name);
	return subscription;
}

/*
 * Attaches consumer 'consumer_name' to a subscription, or refreshes it.  A
 * session's own consumer lives as long as this backend; a named one
 * outlives sessions and is kept alive by its calls.
 */
void
subscription_attach_consumer(Subscription *subscription, const char *consumer_name,
							 int32 priority, bool session_consumer)
{
	CatalogAccess access;
	Oid			argtypes[5] = {INT8OID, TEXTOID, INT4OID, INT4OID, TIMESTAMPTZOID};
	Datum		values[5];
	char		nulls[5];
	bool		isnull;
	HeapTuple	row;
	TopicLimits limits;

	policy_limits(subscription->topic->topic_id, &limits);
	check_consumer_count(subscription, consumer_name, &limits);
	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = CStringGetTextDatum(consumer_name);
	values[2] = Int32GetDatum(priority);
	values[3] = Int32GetDatum(MyProcPid);
	values[4] = TimestampTzGetDatum(MyStartTimestamp);
	memset(nulls, ' ', sizeof(nulls));
	if (!session_consumer)
		nulls[3] = nulls[4] = 'n';
	catalog_access_begin(&access);
	catalog_run_sql("INSERT INTO pulsar.consumer"
					" (subscription_id, name, priority, backend_pid, backend_start)"
					" VALUES ($1, $2, $3, $4, $5)"
					" ON CONFLICT (subscription_id, name) DO UPDATE"
					"   SET priority = EXCLUDED.priority,"
					"       backend_pid = EXCLUDED.backend_pid,"
					"       backend_start = EXCLUDED.backend_start,"
					"       last_seen = clock_timestamp()"
					" RETURNING consumer_id, xmax = 0",
					5, argtypes, values, nulls, false);
	row = SPI_tuptable->vals[0];
	/* a consumer this transaction inserted goes if it aborts */
	if (DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull)))
		consumer_liveness_forget_at_abort(DatumGetInt64(SPI_getbinval(row, SPI_tuptable->tupdesc,
													 1, &isnull)));
	catalog_access_end(&access);
	if (session_consumer)
		worker_signal_consumer_session();
}

/*
 * Detaches consumer 'consumer_name' of a subscription, giving its messages
 * back; false if it is not attached.
 */
bool
subscription_close_consumer(Subscription *subscription, const char *consumer_name)
{
	CatalogAccess access;
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	Datum		consumer_ids;
	bool		isnull;
	bool		closed;

	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = CStringGetTextDatum(consumer_name);
	catalog_access_begin(&access);
	catalog_run_sql("SELECT array_agg(consumer_id) FROM pulsar.consumer"
					" WHERE subscription_id = $1 AND name = $2",
					2, argtypes, values, NULL, false);
	consumer_ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								 1, &isnull);
	closed = !isnull && detach_consumers(consumer_ids, false) > 0;
	catalog_access_end(&access);
	return closed;
}

/*
 * Deletes a subscription with its consumers, pending rows, acknowledged
 * ranges and cursors; its shared state goes when the deletion commits.
 */
void
subscription_delete(Subscription *subscription)
{
	CatalogAccess access;

	catalog_access_begin(&access);
	pending_forget_subscription(subscription->subscription_id);
	catalog_run_sql_int8("DELETE FROM pulsar.consumer WHERE subscription_id = $1"
						 " RETURNING consumer_id",
						 1, &subscription->subscription_id, false);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		consumer_liveness_forget_at_commit(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
															  SPI_tuptable->tupdesc,
															  1, &isnull)));
	}
	cursor_forget_subscription(subscription->subscription_id);
	catalog_run_sql_int8("DELETE FROM pulsar.subscription WHERE subscription_id = $1",
						 1, &subscription->subscription_id, false);
	catalog_access_end(&access);
	dispatch_state_reset_at_commit(subscription->subscription_id);
	rate_limit_forget_at_commit(subscription->topic->topic_id,
								subscription->subscription_id);
	worker_signal_subscriptions_changed();
}

/*
 * Deletes a topic with its storage and its subscriptions, with all that
 * hangs on them, in the order catalog_delete_topic_storage() (catalog.c) tells:
 * pulsar.delete_topic() and the inactive topic step (inactive_topic.c)
 * both come here.  The subscriptions' and consumers' shared state goes
 * when the deletion commits.
 */
void
subscription_delete_topic(const TopicName *name, bool force)
{
	TopicInfo  *topic;
	List	   *subscription_ids = NIL;
	List	   *consumer_ids = NIL;
	ListCell   *lc;

	topic = catalog_delete_topic_storage(name, force);
	Assert(name != &topic->name);	/* the cache entry goes with the topic */
	pending_delete_subscriptions_of_topic(topic->topic_id, &subscription_ids,
										  &consumer_ids);
	catalog_delete_topic_row(topic);
	authz_forget_topic(name);
	foreach(lc, subscription_ids)
		dispatch_state_reset_at_commit(*(int64 *) lfirst(lc));
	foreach(lc, consumer_ids)
		consumer_liveness_forget_at_commit(*(int64 *) lfirst(lc));
}

/*
 * For the database worker, which must not wait: opens a subscription when
 * its lock is free; NULL when it is busy or gone.
 */
Subscription *
subscription_try_open(TopicInfo *topic, const char *name, LOCKMODE lockmode)
{
	if (!catalog_try_lock_subscription(topic->topic_id, name, lockmode))
		return NULL;
	return load_subscription(topic, name);
}

/*
 * Removes a subscription that has had no consumer for its expiration time,
 * unless a consumer attached meanwhile or someone holds it (then false):
 * the lock of an attaching consumer conflicts with the exclusive lock taken
 * here without waiting, so no consumer attaches to what goes.
 */
bool
subscription_remove_abandoned(TopicInfo *topic, const char *name)
{
	Subscription *subscription;
	CatalogAccess access;
	bool		has_consumers;

	subscription = subscription_try_open(topic, name, AccessExclusiveLock);
	if (subscription == NULL)
		return false;
	catalog_access_begin(&access);
	catalog_run_sql_int8("SELECT 1 FROM pulsar.consumer WHERE subscription_id = $1",
						 1, &subscription->subscription_id, true);
	has_consumers = SPI_processed > 0;
	catalog_access_end(&access);
	if (has_consumers)
		return false;
	subscription_delete(subscription);
	return true;
}
