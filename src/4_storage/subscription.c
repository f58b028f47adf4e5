/*-------------------------------------------------------------------------
 *
 * subscription.c
 *	  Durable subscriptions and their consumers: subscribe, unsubscribe,
 *	  close_consumer and channel.
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
 * A consumer's last call is kept in shared memory, not in its row: a row
 * updated by a receive would stay locked until the receive's transaction
 * ended, and everything that removes the consumer would wait for it.  That
 * table has a fixed size (pulsar_pg.max_cursors, a hard limit); an entry
 * goes when the transaction that removed its consumer commits, or that
 * attached it aborts, and with its database.
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
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "4_storage/cursor.h"
#include "5_dispatch/dispatch.h"
#include "2_shmem/read_position.h"
#include "4_storage/subscription.h"
#include "1_value/topic_name.h"
#include "6_entry/worker.h"

PG_FUNCTION_INFO_V1(pulsar_subscribe);
PG_FUNCTION_INFO_V1(pulsar_unsubscribe);
PG_FUNCTION_INFO_V1(pulsar_close_consumer);
PG_FUNCTION_INFO_V1(pulsar_channel);

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

static SubscriptionType
parse_subscription_type(const char *name)
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

char *
required_name_argument(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * An interval in microseconds, a month counting 30 days as PostgreSQL's
 * interval arithmetic does; false if that does not fit in 64 bits.
 */
bool
interval_to_usecs(const Interval *interval, int64 *usecs)
{
	int64		days;
	int64		day_usecs;

	return !pg_mul_s64_overflow((int64) interval->month, DAYS_PER_MONTH, &days) &&
		!pg_add_s64_overflow(days, interval->day, &days) &&
		!pg_mul_s64_overflow(days, USECS_PER_DAY, &day_usecs) &&
		!pg_add_s64_overflow(day_usecs, interval->time, usecs);
}

/* a stored interval, checked by subscribe() */
static int64
interval_usecs(Interval *interval)
{
	int64		usecs;

	if (!interval_to_usecs(interval, &usecs))
		elog(ERROR, "stored interval out of range");
	return usecs;
}

/* an interval argument in microseconds, at most MAX_INTERVAL_DAYS */
static int64
interval_argument_usecs(Interval *interval, const char *what)
{
	int64		usecs;

	if (!interval_to_usecs(interval, &usecs) ||
		usecs > MAX_INTERVAL_DAYS * USECS_PER_DAY ||
		usecs < -MAX_INTERVAL_DAYS * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is out of range", what),
				 errdetail("The longest %s is %d days.", what,
						   (int) MAX_INTERVAL_DAYS)));
	return usecs;
}

/* the last call of a consumer, by (database, consumer id) */
typedef struct ConsumerSeenKey
{
	Oid			database_id;
	int64		consumer_id;
} ConsumerSeenKey;

typedef struct ConsumerSeen
{
	ConsumerSeenKey key;
	TimestampTz last_seen;		/* written and read under ConsumerSeenLock */
} ConsumerSeen;

static HTAB *ConsumersSeen = NULL;
static LWLock *ConsumerSeenLock = NULL;

void
ConsumerShmemRequest(void)
{
	RequestAddinShmemSpace(hash_estimate_size(pulsar_max_cursors,
											  sizeof(ConsumerSeen)));
	RequestNamedLWLockTranche("pulsar_pg consumers", 1);
}

void
ConsumerShmemInit(void)
{
	HASHCTL		info;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	info.keysize = sizeof(ConsumerSeenKey);
	info.entrysize = sizeof(ConsumerSeen);
	ConsumersSeen = ShmemInitHash("pulsar_pg consumers seen",
								  pulsar_max_cursors, pulsar_max_cursors,
								  &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	ConsumerSeenLock = &(GetNamedLWLockTranche("pulsar_pg consumers"))->lock;
	LWLockRelease(AddinShmemInitLock);
}

static void
make_seen_key(ConsumerSeenKey *key, int64 consumer_id)
{
	memset(key, 0, sizeof(ConsumerSeenKey));
	key->database_id = MyDatabaseId;
	key->consumer_id = consumer_id;
}

/* Records a call now; fails if shared memory holds too many consumers. */
static void
consumer_seen_now(int64 consumer_id)
{
	ConsumerSeenKey key;
	ConsumerSeen *seen;

	make_seen_key(&key, consumer_id);
	LWLockAcquire(ConsumerSeenLock, LW_EXCLUSIVE);
	seen = hash_search(ConsumersSeen, &key, HASH_FIND, NULL);
	if (seen == NULL &&
		hash_get_num_entries(ConsumersSeen) < pulsar_max_cursors)
		seen = hash_search(ConsumersSeen, &key, HASH_ENTER_NULL, NULL);
	if (seen == NULL)
	{
		LWLockRelease(ConsumerSeenLock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many consumers in use"),
				 errdetail("Shared memory holds the liveness of at most %d consumers.",
						   pulsar_max_cursors),
				 errhint("Close consumers that are no longer used, or increase pulsar_pg.max_cursors and restart the server.")));
	}
	seen->last_seen = GetCurrentTimestamp();
	LWLockRelease(ConsumerSeenLock);
}

static TimestampTz
consumer_last_seen(int64 consumer_id, TimestampTz stored)
{
	ConsumerSeenKey key;
	ConsumerSeen *seen;
	TimestampTz last_seen = stored;

	make_seen_key(&key, consumer_id);
	LWLockAcquire(ConsumerSeenLock, LW_SHARED);
	seen = hash_search(ConsumersSeen, &key, HASH_FIND, NULL);
	if (seen != NULL && seen->last_seen > last_seen)
		last_seen = seen->last_seen;
	LWLockRelease(ConsumerSeenLock);
	return last_seen;
}

/* a consumer whose liveness goes when the open transaction ends */
typedef struct ForgetSeen
{
	int64		consumer_id;
	int			nest_level;		/* of the subtransaction that asked */
} ForgetSeen;

/* consumers whose liveness goes when the open transaction commits, aborts */
static List *forget_seen_at_commit = NIL;
static List *forget_seen_at_abort = NIL;

static void
forget_seen_when(List **list, int64 consumer_id)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	ForgetSeen *forget = palloc(sizeof(ForgetSeen));

	forget->consumer_id = consumer_id;
	forget->nest_level = GetCurrentTransactionNestLevel();
	*list = lappend(*list, forget);
	MemoryContextSwitchTo(old);
}

/* The open transaction removes a consumer's row. */
void
forget_consumer_at_commit(int64 consumer_id)
{
	forget_seen_when(&forget_seen_at_commit, consumer_id);
}

static void
forget_consumers_seen(List *consumer_ids)
{
	ListCell   *lc;

	if (consumer_ids == NIL || ConsumersSeen == NULL)
		return;
	LWLockAcquire(ConsumerSeenLock, LW_EXCLUSIVE);
	foreach(lc, consumer_ids)
	{
		ConsumerSeenKey key;

		make_seen_key(&key, ((ForgetSeen *) lfirst(lc))->consumer_id);
		hash_search(ConsumersSeen, &key, HASH_REMOVE, NULL);
	}
	LWLockRelease(ConsumerSeenLock);
}

static void
consumer_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			forget_consumers_seen(forget_seen_at_commit);
			forget_seen_at_commit = NIL;
			forget_seen_at_abort = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			forget_consumers_seen(forget_seen_at_abort);
			forget_seen_at_commit = NIL;
			forget_seen_at_abort = NIL;
			break;
		case XACT_EVENT_PREPARE:
			/* nothing to forget: its consumers stay until it ends */
			forget_seen_at_commit = NIL;
			forget_seen_at_abort = NIL;
			break;
		default:
			break;
	}
}

static void
consumer_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		List	   *aborted = NIL;

		/* consumers the subtransaction attached are gone */
		foreach(lc, forget_seen_at_abort)
		{
			ForgetSeen *forget = lfirst(lc);

			if (forget->nest_level >= level)
			{
				aborted = lappend(aborted, forget);
				forget_seen_at_abort =
					foreach_delete_current(forget_seen_at_abort, lc);
			}
		}
		forget_consumers_seen(aborted);
		list_free(aborted);
		/* consumers it removed are back */
		foreach(lc, forget_seen_at_commit)
		{
			if (((ForgetSeen *) lfirst(lc))->nest_level >= level)
				forget_seen_at_commit =
					foreach_delete_current(forget_seen_at_commit, lc);
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, forget_seen_at_abort)
		{
			ForgetSeen *forget = lfirst(lc);

			if (forget->nest_level >= level)
				forget->nest_level = level - 1;
		}
		foreach(lc, forget_seen_at_commit)
		{
			ForgetSeen *forget = lfirst(lc);

			if (forget->nest_level >= level)
				forget->nest_level = level - 1;
		}
	}
}

void
SubscriptionInit(void)
{
	RegisterXactCallback(consumer_xact_callback, NULL);
	RegisterSubXactCallback(consumer_subxact_callback, NULL);
}

/*
 * Forgets the lease of every consumer of a database: after DROP DATABASE,
 * and at the commit of CREATE EXTENSION (consumer ids start again from 1
 * after DROP EXTENSION).  Must not fail.
 */
void
ForgetDatabaseConsumers(Oid database_id)
{
	HASH_SEQ_STATUS status;
	ConsumerSeen *seen;

	if (ConsumersSeen == NULL)
		return;
	LWLockAcquire(ConsumerSeenLock, LW_EXCLUSIVE);
	hash_seq_init(&status, ConsumersSeen);
	while ((seen = hash_seq_search(&status)) != NULL)
	{
		if (seen->key.database_id == database_id)
			hash_search(ConsumersSeen, &seen->key, HASH_REMOVE, NULL);
	}
	LWLockRelease(ConsumerSeenLock);
}

/* For pulsar.shared_memory_usage(): entries of every database. */
int64
ConsumerUsage(void)
{
	int64		entries;

	LWLockAcquire(ConsumerSeenLock, LW_SHARED);
	entries = hash_get_num_entries(ConsumersSeen);
	LWLockRelease(ConsumerSeenLock);
	return entries;
}

char *
subscription_channel(int64 subscription_id)
{
	return psprintf("pulsar_sub_" INT64_FORMAT, subscription_id);
}

/*
 * The name of this session's own consumer.
 */
char *
session_consumer_name(void)
{
	return psprintf("session-%d-" INT64_FORMAT, MyProcPid,
					(int64) MyStartTimestamp);
}

/*
 * Subscriptions this backend loaded, so that receive and ack need no
 * catalog query for them.  Commits that create, change or delete
 * subscriptions bump a shared generation (WorkerNoteSubscriptionsChanged);
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
} CachedSubscription;

static HTAB *SubscriptionCache = NULL;
static MemoryContext SubscriptionCacheContext = NULL;
static uint64 subscription_cache_generation = 0;

/* the cache, emptied if a subscription changed since it was filled */
static HTAB *
subscription_cache(void)
{
	uint64		generation = WorkerSubscriptionsGeneration();
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

	begin_catalog_access(&access);
	run_catalog_sql("SELECT subscription_id, type, negative_ack_delay, ack_timeout,"
					"       max_redeliver_count, dead_letter_topic, max_unacked_messages"
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
		entry->type = parse_subscription_type(SPI_getvalue(row, desc, 2));
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
	}
	end_catalog_access(&access);
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
	bool		cacheable = !WorkerSubscriptionsChangedHere() &&
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
	return subscription;
}

/*
 * Locks and loads an existing subscription, or fails clearly.
 */
Subscription *
open_subscription(TopicInfo *topic, const char *name, LOCKMODE lockmode)
{
	Subscription *subscription;

	check_simple_name(name, MAX_SUBSCRIPTION_NAME_LEN, "subscription");
	require_consumption_tables();
	lock_subscription(topic->topic_id, name, lockmode);
	subscription = load_subscription(topic, name);
	if (subscription == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subscription \"%s\" does not exist on topic \"%s\"",
						name, topic_name_string(&topic->name, NOT_A_PARTITION)),
				 errhint("Create it with pulsar.subscribe().")));
	return subscription;
}

/*
 * For detaching without waiting: giving back what departing consumers
 * held, then deleting those of them that no pending row names any more,
 * with " SKIP LOCKED" between each head and tail.  Rows are locked once,
 * in an array taken before the change, rather than in a joined subquery
 * that a nested loop would run again for every row it changes.
 */
#define RELEASE_HELD_SQL \
	"UPDATE pulsar.pending" \
	"   SET consumer_id = NULL, redeliver_at = clock_timestamp()" \
	" WHERE ctid = ANY (ARRAY(" \
	"   SELECT h.ctid FROM pulsar.consumer c" \
	"     JOIN pulsar.pending h" \
	"       ON h.subscription_id = c.subscription_id" \
	"      AND h.consumer_id = c.consumer_id" \
	"    WHERE c.consumer_id = ANY ($1)" \
	"      FOR UPDATE OF h"
#define RELEASE_HELD_SQL_TAIL \
	"))" \
	" RETURNING subscription_id"
#define DELETE_UNHOLDING_SQL \
	"DELETE FROM pulsar.consumer" \
	" WHERE ctid = ANY (ARRAY(" \
	"   SELECT c.ctid FROM pulsar.consumer c" \
	"    WHERE c.consumer_id = ANY ($1)" \
	"      AND NOT EXISTS (SELECT 1 FROM pulsar.pending h" \
	"                       WHERE h.subscription_id = c.subscription_id" \
	"                         AND h.consumer_id = c.consumer_id)" \
	"      FOR UPDATE OF c"
#define DELETE_UNHOLDING_SQL_TAIL \
	"))" \
	" RETURNING subscription_id, consumer_id"

/* tells the worker of the subscriptions in the last query's first column */
static void
note_consumers_left(void)
{
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		WorkerNoteConsumersLeft(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
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
 * removed.  Caller is inside begin_catalog_access().
 *
 * With 'skip_locked' it never waits for a transaction (DESIGN invariant
 * 6a): the worker and receivers pass it, and a consumer's own transaction
 * may hold rows of what it held (an ack in progress) for as long as it
 * stays open.  Rows locked by another transaction are skipped, and a
 * consumer is deleted only once no row tracks a message it holds, so what
 * is skipped now is found again on the next call.  Until then it counts as
 * departed for dispatch (see live_consumers()); receive already treats rows
 * of a consumer that is gone as due.  Both statements read the latest
 * committed state whatever the caller's isolation level.
 */
static uint64
detach_consumers(Datum consumer_ids, bool skip_locked)
{
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		values[1] = {consumer_ids};
	uint64		removed;

	if (skip_locked)
	{
		run_catalog_sql(RELEASE_HELD_SQL " SKIP LOCKED" RELEASE_HELD_SQL_TAIL,
						1, argtypes, values, NULL, true);
		note_consumers_left();
		run_catalog_sql(DELETE_UNHOLDING_SQL " SKIP LOCKED" DELETE_UNHOLDING_SQL_TAIL,
						1, argtypes, values, NULL, true);
	}
	else
	{
		/*
		 * The consumer goes at once; a row of what it held that another
		 * transaction was changing (its own ack in progress) is waited for
		 * and given back, and rows that transaction writes back name a
		 * consumer that is gone, which receive treats as due.
		 */
		run_catalog_sql("WITH detached AS ("
						"  DELETE FROM pulsar.consumer WHERE consumer_id = ANY ($1)"
						"  RETURNING subscription_id, consumer_id),"
						" released AS ("
						"  UPDATE pulsar.pending p"
						"     SET consumer_id = NULL, redeliver_at = clock_timestamp()"
						"    FROM detached d"
						"   WHERE p.subscription_id = d.subscription_id"
						"     AND p.consumer_id = d.consumer_id)"
						" SELECT subscription_id, consumer_id FROM detached",
						1, argtypes, values, NULL, false);
	}
	removed = SPI_processed;
	note_consumers_left();
	for (uint64 i = 0; i < removed; i++)
	{
		bool		isnull;

		forget_consumer_at_commit(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
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
 * begin_catalog_access().
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
			 TimestampDifferenceExceeds(consumer_last_seen(consumer_id,
														   DatumGetTimestampTz(SPI_getbinval(row, desc, 2, &isnull))),
										now, pulsar_consumer_lease_ms)))
			departed[num_departed++] = Int64GetDatum(consumer_id);
	}
	departed_ids = construct_array(departed, num_departed, INT8OID,
								   8, true, TYPALIGN_DOUBLE);
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

	run_catalog_sql(CONSUMER_LIVENESS_COLUMNS " WHERE c.subscription_id = $1",
					1, argtypes, values, NULL, true);
	return remove_departed();
}

/*
 * For the worker: removes departed consumers of every subscription of this
 * database; their channels are notified after the commit.
 */
void
remove_departed_consumers_everywhere(void)
{
	CatalogAccess access;

	begin_catalog_access(&access);
	run_catalog_sql(CONSUMER_LIVENESS_COLUMNS, 0, NULL, NULL, NULL, true);
	(void) remove_departed();
	end_catalog_access(&access);
}

/*
 * The subscription's live consumers, in failover order: by priority, then
 * name.  A departed consumer that could not be removed yet (another
 * transaction holds a row of what it held) is not among them.
 */
Consumer *
live_consumers(Subscription *subscription, int *count)
{
	CatalogAccess access;
	Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};
	Datum		values[2];
	Consumer   *consumers;
	MemoryContext caller = CurrentMemoryContext;

	begin_catalog_access(&access);
	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = PointerGetDatum(remove_departed_consumers(subscription));
	run_catalog_sql("SELECT consumer_id, name, priority FROM pulsar.consumer"
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
	end_catalog_access(&access);
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
touch_consumer(Subscription *subscription, const char *consumer_name)
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
		consumer_seen_now(consumer->consumer_id);
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

static void
check_can_change(const char *function)
{
	PreventCommandIfReadOnly(function);
	PreventCommandDuringRecovery(function);
	RequireReadPositionState();
}

/*
 * Resolves the topic argument of a consuming function: a whole topic, not
 * one partition of it.
 */
TopicInfo *
resolve_subscribed_topic(FunctionCallInfo fcinfo, bool create_if_missing)
{
	TopicName	name;

	require_consumption_tables();
	parse_topic_name(required_name_argument(fcinfo, 0, "topic"), &name);
	if (name.partition_index != NOT_A_PARTITION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot subscribe to one partition of topic \"%s\"",
						topic_name_string(&name, NOT_A_PARTITION)),
				 errhint("Subscribe to the partitioned topic; its subscriptions cover every partition.")));
	return resolve_topic(&name, create_if_missing, AccessShareLock);
}

/*
 * subscribe(topic, subscription, type, initial_position, consumer, priority,
 *			 negative_ack_delay, ack_timeout, max_redeliver_count,
 *			 dead_letter_topic, max_unacked_messages) RETURNS text
 */
Datum
pulsar_subscribe(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic;
	char	   *name;
	char	   *type_name;
	SubscriptionType type;
	char	   *initial_position;
	char	   *consumer_name;
	Subscription *subscription;
	CatalogAccess access;
	Interval   *negative_ack_delay;
	Interval   *ack_timeout = NULL;
	char	   *dead_letter_topic = NULL;
	int32		max_redeliver_count = 0;
	int32		max_unacked_messages;
	Oid			argtypes[9];
	Datum		values[9];
	char		nulls[9];
	int			consumers;

	check_can_change("pulsar.subscribe()");
	name = required_name_argument(fcinfo, 1, "subscription");
	check_simple_name(name, MAX_SUBSCRIPTION_NAME_LEN, "subscription");
	type_name = required_name_argument(fcinfo, 2, "type");
	type = parse_subscription_type(type_name);
	initial_position = required_name_argument(fcinfo, 3, "initial_position");
	if (strcmp(initial_position, "latest") != 0 &&
		strcmp(initial_position, "earliest") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid initial position \"%s\"", initial_position),
				 errhint("Use latest or earliest.")));
	consumer_name = PG_ARGISNULL(4) ? session_consumer_name() :
		text_to_cstring(PG_GETARG_TEXT_PP(4));
	check_simple_name(consumer_name, MAX_SUBSCRIPTION_NAME_LEN, "consumer");
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("priority must not be null")));
	if (PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("negative_ack_delay must not be null")));
	negative_ack_delay = PG_GETARG_INTERVAL_P(6);
	if (interval_argument_usecs(negative_ack_delay, "negative_ack_delay") < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("negative_ack_delay must not be negative")));
	if (!PG_ARGISNULL(7))
	{
		ack_timeout = PG_GETARG_INTERVAL_P(7);
		if (interval_argument_usecs(ack_timeout, "ack_timeout") <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ack_timeout must be positive"),
					 errhint("Pass NULL to turn the acknowledgement timeout off.")));
	}
	if (!PG_ARGISNULL(8))
	{
		max_redeliver_count = PG_GETARG_INT32(8);
		if (max_redeliver_count < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_redeliver_count must be at least 1"),
					 errhint("Pass NULL for no dead-letter policy.")));
	}
	if (!PG_ARGISNULL(9))
	{
		TopicName	dlq;

		parse_topic_name(text_to_cstring(PG_GETARG_TEXT_PP(9)), &dlq);
		dead_letter_topic = topic_name_string(&dlq, dlq.partition_index);
		if (max_redeliver_count == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("dead_letter_topic needs max_redeliver_count"),
					 errhint("Set max_redeliver_count to the number of redeliveries before a message goes to the dead-letter topic.")));
	}
	if (PG_ARGISNULL(10))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_unacked_messages must not be null"),
				 errhint("0 means no limit.")));
	if (PG_GETARG_INT32(10) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_unacked_messages must be zero or more"),
				 errhint("0 means no limit.")));
	max_unacked_messages = PG_GETARG_INT32(10);

	topic = resolve_subscribed_topic(fcinfo, true);
	lock_subscription(topic->topic_id, name, ExclusiveLock);
	subscription = load_subscription(topic, name);

	argtypes[0] = INT8OID;
	values[0] = Int64GetDatum(topic->topic_id);
	argtypes[1] = TEXTOID;
	values[1] = CStringGetTextDatum(name);
	argtypes[2] = TEXTOID;
	values[2] = CStringGetTextDatum(type_name);
	argtypes[3] = INTERVALOID;
	values[3] = IntervalPGetDatum(negative_ack_delay);
	argtypes[4] = INTERVALOID;
	values[4] = ack_timeout ? IntervalPGetDatum(ack_timeout) : (Datum) 0;
	argtypes[5] = INT4OID;
	values[5] = Int32GetDatum(max_redeliver_count);
	argtypes[6] = TEXTOID;
	values[6] = dead_letter_topic ? CStringGetTextDatum(dead_letter_topic) : (Datum) 0;
	argtypes[7] = INT4OID;
	values[7] = Int32GetDatum(max_unacked_messages);
	memset(nulls, ' ', sizeof(nulls));
	nulls[4] = ack_timeout ? ' ' : 'n';
	nulls[5] = max_redeliver_count ? ' ' : 'n';
	nulls[6] = dead_letter_topic ? ' ' : 'n';

	if (subscription == NULL)
	{
		/* before the row exists: the cache must not keep it */
		WorkerNoteSubscriptionsChanged();
		begin_catalog_access(&access);
		run_catalog_sql("INSERT INTO pulsar.subscription"
						" (topic_id, name, type, negative_ack_delay, ack_timeout,"
						"  max_redeliver_count, dead_letter_topic, max_unacked_messages)"
						" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
						8, argtypes, values, nulls, false);
		end_catalog_access(&access);
		subscription = load_subscription(topic, name);
		if (subscription == NULL)
			elog(ERROR, "subscription \"%s\" vanished after its insert", name);
		create_cursors(subscription, strcmp(initial_position, "earliest") == 0);
		/* receives of this transaction leave nothing behind if it aborts */
		reset_dispatch_at_abort(subscription->subscription_id);
	}
	else
	{
		Consumer   *live = live_consumers(subscription, &consumers);

		if (subscription->type != type)
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
			reset_dispatch_at_commit(subscription->subscription_id);
		}
		if (type == SUBSCRIPTION_EXCLUSIVE)
			for (int i = 0; i < consumers; i++)
				if (strcmp(live[i].name, consumer_name) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_IN_USE),
							 errmsg("exclusive subscription \"%s\" already has consumer \"%s\"",
									name, live[i].name),
							 errhint("Use a failover, shared or key_shared subscription for several consumers.")));
		WorkerNoteSubscriptionsChanged();
		begin_catalog_access(&access);
		run_catalog_sql("UPDATE pulsar.subscription"
						"   SET type = $3, negative_ack_delay = $4, ack_timeout = $5,"
						"       max_redeliver_count = $6, dead_letter_topic = $7,"
						"       max_unacked_messages = $8"
						" WHERE topic_id = $1 AND name = $2",
						8, argtypes, values, nulls, false);
		end_catalog_access(&access);
		subscription = load_subscription(topic, name);
		if (subscription == NULL)
			elog(ERROR, "subscription \"%s\" vanished after its update", name);
	}

	/* attach the consumer */
	argtypes[0] = INT8OID;
	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = CStringGetTextDatum(consumer_name);
	argtypes[2] = INT4OID;
	values[2] = Int32GetDatum(PG_GETARG_INT32(5));
	argtypes[3] = INT4OID;
	values[3] = Int32GetDatum(MyProcPid);
	argtypes[4] = TIMESTAMPTZOID;
	values[4] = TimestampTzGetDatum(MyStartTimestamp);
	memset(nulls, ' ', sizeof(nulls));
	if (!PG_ARGISNULL(4))
		nulls[3] = nulls[4] = 'n';	/* a named consumer outlives sessions */
	begin_catalog_access(&access);
	run_catalog_sql("INSERT INTO pulsar.consumer"
					" (subscription_id, name, priority, backend_pid, backend_start)"
					" VALUES ($1, $2, $3, $4, $5)"
					" ON CONFLICT (subscription_id, name) DO UPDATE"
					"   SET priority = EXCLUDED.priority,"
					"       backend_pid = EXCLUDED.backend_pid,"
					"       backend_start = EXCLUDED.backend_start,"
					"       last_seen = clock_timestamp()"
					" RETURNING consumer_id, xmax = 0",
					5, argtypes, values, nulls, false);
	{
		bool		isnull;
		HeapTuple	row = SPI_tuptable->vals[0];

		/* a consumer this transaction inserted goes if it aborts */
		if (DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull)))
			forget_seen_when(&forget_seen_at_abort,
							 DatumGetInt64(SPI_getbinval(row, SPI_tuptable->tupdesc,
														 1, &isnull)));
	}
	end_catalog_access(&access);
	if (PG_ARGISNULL(4))
		WorkerNoteConsumerSession();

	PG_RETURN_TEXT_P(cstring_to_text(subscription_channel(subscription->subscription_id)));
}

/*
 * Removes a subscription and everything it holds: its consumers, cursors,
 * ranges and pending rows, and its dispatch state at commit.  Caller holds
 * the subscription in AccessExclusiveLock.
 */
static void
drop_subscription(Subscription *subscription)
{
	CatalogAccess access;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];

	values[0] = Int64GetDatum(subscription->subscription_id);
	begin_catalog_access(&access);
	run_catalog_sql("DELETE FROM pulsar.pending WHERE subscription_id = $1",
					1, argtypes, values, NULL, false);
	run_catalog_sql("DELETE FROM pulsar.consumer WHERE subscription_id = $1"
					" RETURNING consumer_id",
					1, argtypes, values, NULL, false);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		forget_consumer_at_commit(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
															  SPI_tuptable->tupdesc,
															  1, &isnull)));
	}
	run_catalog_sql("DELETE FROM pulsar.acked_range WHERE subscription_id = $1",
					1, argtypes, values, NULL, false);
	run_catalog_sql("DELETE FROM pulsar.cursor WHERE subscription_id = $1",
					1, argtypes, values, NULL, false);
	/* after the cursor rows, whose holders alone write these (expiry.c) */
	run_catalog_sql("DELETE FROM pulsar.cursor_expiry WHERE subscription_id = $1",
					1, argtypes, values, NULL, false);
	run_catalog_sql("DELETE FROM pulsar.subscription WHERE subscription_id = $1",
					1, argtypes, values, NULL, false);
	end_catalog_access(&access);
	reset_dispatch_at_commit(subscription->subscription_id);
	WorkerNoteSubscriptionsChanged();
}

/*
 * The shared state of subscriptions and consumers that a deleted topic
 * took with it goes when the deletion commits.
 */
void
forget_deleted_subscriptions(List *subscription_ids, List *consumer_ids)
{
	ListCell   *lc;

	foreach(lc, subscription_ids)
		reset_dispatch_at_commit(*(int64 *) lfirst(lc));
	foreach(lc, consumer_ids)
		forget_consumer_at_commit(*(int64 *) lfirst(lc));
}

/*
 * For the database worker, which must not wait: opens a subscription when
 * its lock is free; NULL when it is busy or gone.
 */
Subscription *
try_open_subscription(TopicInfo *topic, const char *name, LOCKMODE lockmode)
{
	if (!try_lock_subscription(topic->topic_id, name, lockmode))
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
remove_abandoned_subscription(TopicInfo *topic, const char *name)
{
	Subscription *subscription;
	CatalogAccess access;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	bool		has_consumers;

	subscription = try_open_subscription(topic, name, AccessExclusiveLock);
	if (subscription == NULL)
		return false;
	values[0] = Int64GetDatum(subscription->subscription_id);
	begin_catalog_access(&access);
	run_catalog_sql("SELECT 1 FROM pulsar.consumer WHERE subscription_id = $1",
					1, argtypes, values, NULL, true);
	has_consumers = SPI_processed > 0;
	end_catalog_access(&access);
	if (has_consumers)
		return false;
	drop_subscription(subscription);
	return true;
}

/*
 * unsubscribe(topic, subscription)
 */
Datum
pulsar_unsubscribe(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic;
	Subscription *subscription;
	Consumer   *live;
	int			consumers;
	char	   *own = session_consumer_name();

	check_can_change("pulsar.unsubscribe()");
	topic = resolve_subscribed_topic(fcinfo, false);
	subscription = open_subscription(topic,
									 required_name_argument(fcinfo, 1, "subscription"),
									 AccessExclusiveLock);
	live = live_consumers(subscription, &consumers);
	for (int i = 0; i < consumers; i++)
		if (strcmp(live[i].name, own) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("subscription \"%s\" has connected consumers",
							subscription->name),
					 errdetail("Consumer \"%s\" is connected.", live[i].name),
					 errhint("Close them with pulsar.close_consumer() first.")));

	drop_subscription(subscription);
	PG_RETURN_VOID();
}

/*
 * close_consumer(topic, subscription, consumer)
 */
Datum
pulsar_close_consumer(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic;
	Subscription *subscription;
	CatalogAccess access;
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	Datum		consumer_ids;
	bool		isnull;
	char	   *consumer_name;

	check_can_change("pulsar.close_consumer()");
	topic = resolve_subscribed_topic(fcinfo, false);
	subscription = open_subscription(topic,
									 required_name_argument(fcinfo, 1, "subscription"),
									 ExclusiveLock);
	consumer_name = PG_ARGISNULL(2) ? session_consumer_name() :
		text_to_cstring(PG_GETARG_TEXT_PP(2));

	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = CStringGetTextDatum(consumer_name);
	begin_catalog_access(&access);
	run_catalog_sql("SELECT array_agg(consumer_id) FROM pulsar.consumer"
					" WHERE subscription_id = $1 AND name = $2",
					2, argtypes, values, NULL, false);
	consumer_ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								 1, &isnull);
	if (isnull || detach_consumers(consumer_ids, false) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer \"%s\" is not attached to subscription \"%s\"",
						consumer_name, subscription->name)));
	end_catalog_access(&access);
	PG_RETURN_VOID();
}

/*
 * channel(topic, subscription) RETURNS text
 */
Datum
pulsar_channel(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic = resolve_subscribed_topic(fcinfo, false);
	Subscription *subscription =
		open_subscription(topic, required_name_argument(fcinfo, 1, "subscription"),
						  AccessShareLock);

	PG_RETURN_TEXT_P(cstring_to_text(subscription_channel(subscription->subscription_id)));
}
