/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker of one database: NOTIFY fan-out, redelivery
 *	  and delayed-delivery timers, and consumer liveness.
 *
 * DESIGN invariant 3: publishers never NOTIFY.  A transaction that ran
 * NOTIFY takes one cluster-wide lock at commit, which would serialise every
 * publishing commit.  Instead, the commit that moves a partition's max read
 * position marks the partition (read_position.c), queues its ledger id in
 * this database's slot and sets the worker's latch.  The worker wakes,
 * takes the queue, reads each partition's max read position (clearing the
 * mark, so that a later move queues it again: no move is missed), and in
 * one transaction of its own sends one NOTIFY per channel of the topics'
 * subscriptions, whatever the number of messages: at most one per channel
 * per cycle.
 *
 * Timers: messages due for redelivery (nack, ack timeout, a consumer that
 * left) and delayed messages held back from shared subscriptions are rows
 * of pulsar.pending with a redeliver_at.  The worker looks for rows that
 * fell due since it last looked and notifies their channels, then sleeps
 * until the earliest future one.  A backend that sets an earlier time than
 * the one the worker sleeps until tells it at commit (WorkerNoteTimer).
 * The worker publishes "wake me for anything" before it looks and the time
 * it found after, so a timer committed while it looks is never missed.
 *
 * Liveness: once a second, and soon after a session that owned consumers
 * exits, the worker removes consumers whose session ended or whose lease
 * expired; their messages go back to the subscription.  Whoever detaches
 * consumers (the worker, a receive that finds them departed,
 * close_consumer) tells the worker at commit which subscriptions lost
 * some (WorkerNoteConsumersLeft), and it notifies their channels, so the
 * remaining consumers (a failover's next in line) call receive.  At the same time it folds into the mark-delete position the
 * acknowledged ranges that concurrent acknowledgements left beside it.
 *
 * DESIGN invariant 6a: the worker never waits for a user transaction.
 * Its statements read, or lock rows with SKIP LOCKED and find what they
 * skipped again next time; before each part of a cycle it takes the table
 * locks that part needs without waiting (lock_catalog_tables_now()), and a part
 * that finds a table locked is tried again shortly.
 *
 * Notifications are not durable: the worker commits them with
 * synchronous_commit off.  A listener that reconnects must call receive
 * once before it waits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "3_catalog/catalog.h"
#include "4_storage/cursor.h"
#include "1_value/message_id.h"
#include "2_shmem/read_position.h"
#include "4_storage/expiry.h"
#include "4_storage/subscription.h"
#include "1_value/topic_name.h"
#include "6_entry/maintenance.h"
#include "6_entry/worker.h"

PGDLLEXPORT void pulsar_worker_main(Datum main_arg);

#define CONSUMER_CHECK_INTERVAL_MS	1000
/*
 * Shortest time between the starts of two cycles that had publications to
 * look at: under sustained publishing the worker wakes at most once per
 * interval, whatever the rate of commits, and a channel gets at most one
 * notification per interval, which bounds the growth of the notification
 * queue behind an idle listener.  It costs a woken consumer at most this
 * much latency.
 */
#define MIN_CYCLE_INTERVAL_US		1000
/* a session's exit is visible in pg_stat_activity only once it is done */
#define CONSUMER_EXIT_GRACE_MS		100
/* work skipped because a table was locked is tried again this soon */
#define LOCKED_RETRY_MS				100

WorkerSharedState *WorkerState = NULL;

/* this backend's view of its database's slot */
static DatabaseWorker *my_slot = NULL;

/* earliest timer set by the open transaction, told to the worker at commit */
static TimestampTz timer_to_tell = DT_NOEND;
/* subscriptions that lost consumers in the open transaction, ditto */
static List *left_to_tell = NIL;	/* of int64 *, in TopTransactionContext */
static bool consumer_exit_registered = false;

static MemoryContext cycle_context = NULL;
static HTAB *ledger_subscribers = NULL;

/* the open transaction created or deleted subscriptions */
static bool subscriptions_changed = false;

/* partitions whose moves could not be notified yet, in TopMemoryContext */
static List *unnotified_ledgers = NIL;

/*
 * A payload is "<topic>" or "<topic> <message id>", the topic by its full
 * name (persistent://tenant/namespace/name, never a partition's name) and
 * the message id as text: both bounded, so a payload is never cut.
 */
#define PAYLOAD_TOPIC_MAX_LEN \
	(sizeof("persistent://") - 1 + MAX_TENANT_NAME_LEN + 1 + \
	 MAX_NAMESPACE_NAME_LEN + 1 + MAX_TOPIC_NAME_LEN)
/* "ledger:entry:partition": two int64 and an int32, signs included */
#define PAYLOAD_MESSAGE_ID_MAX_LEN	(20 + 1 + 20 + 1 + 11)
#define PAYLOAD_MAX_LEN \
	(PAYLOAD_TOPIC_MAX_LEN + 1 + PAYLOAD_MESSAGE_ID_MAX_LEN)

/* NOTIFY's limit on a payload, as async.c defines it */
StaticAssertDecl(PAYLOAD_MAX_LEN < BLCKSZ - NAMEDATALEN - 128,
				 "a notification payload must fit in NOTIFY's limit");

/* the channels to notify this cycle: channel name -> payload */
typedef struct PendingNotify
{
	int64		subscription_id;	/* hash key */
	char		payload[PAYLOAD_MAX_LEN + 1];
} PendingNotify;

/*
 * What the worker knows of a partition: the position it last notified, and
 * the channels to notify, loaded at a generation of the subscriptions.
 */
typedef struct LedgerSubscribers
{
	int64		ledger_id;		/* hash key */
	int64		notified_position;
	uint64		generation;		/* 0: not loaded */
	int32		partition_index;
	int			num_subscriptions;
	int64	   *subscription_ids;	/* in TopMemoryContext */
	char	   *topic;			/* in TopMemoryContext */
} LedgerSubscribers;

/* a partition whose max read position moved this cycle */
typedef struct MovedLedger
{
	LedgerSubscribers *ledger;
	int64		position;
	int64		previous;		/* the position notified before */
} MovedLedger;

/*
 * The extension's tables each part of a cycle uses, and the mode in which
 * they are locked beforehand (see lock_catalog_tables_now()).
 */
static const char *const activity_read_tables[] = {
	"subscription"
};
static const char *const activity_write_tables[] = {
	"subscription_activity"
};
static const char *const published_tables[] = {
	"ledger", "topic", "subscription"
};
static const char *const timer_tables[] = {
	"pending", "subscription", "topic"
};
static const char *const liveness_read_tables[] = {
	"subscription", "topic"
};
static const char *const liveness_write_tables[] = {
	"consumer", "pending", "cursor", "acked_range"
};

void
WorkerShmemRequest(void)
{
	RequestAddinShmemSpace(add_size(offsetof(WorkerSharedState, slots),
									mul_size(max_worker_processes,
											 sizeof(DatabaseWorker))));
	RequestNamedLWLockTranche("pulsar_pg workers", 1);
}

void
WorkerShmemInit(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	WorkerState = ShmemInitStruct("pulsar_pg workers",
								  add_size(offsetof(WorkerSharedState, slots),
										   mul_size(max_worker_processes,
													sizeof(DatabaseWorker))),
								  &found);
	if (!found)
	{
		WorkerState->lock = &(GetNamedLWLockTranche("pulsar_pg workers"))->lock;
		WorkerState->launcher_latch = NULL;
		/* 1 and up: a worker's 0 means "not loaded" */
		pg_atomic_init_u64(&WorkerState->subscriptions_generation, 1);
		WorkerState->num_slots = max_worker_processes;
		for (int i = 0; i < WorkerState->num_slots; i++)
		{
			DatabaseWorker *slot = &WorkerState->slots[i];

			memset(slot, 0, sizeof(DatabaseWorker));
			SpinLockInit(&slot->mutex);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The slot of this backend's database, or NULL if it has none (no worker
 * ever started there).  Must not fail: publishers call it at commit.
 */
static DatabaseWorker *
my_database_worker(void)
{
	if (WorkerState == NULL || !OidIsValid(MyDatabaseId))
		return NULL;
	/* a slot is reused for another database only after DROP DATABASE */
	if (my_slot == NULL || my_slot->database_id != MyDatabaseId)
		my_slot = find_database_worker(MyDatabaseId);
	return my_slot;
}

/*
 * What a backend tells its database's worker; 'id' (a ledger id) for
 * WAKE_PUBLISHED, 'id' (a subscription id) for WAKE_CONSUMERS_LEFT, 'due'
 * for WAKE_TIMER.  Must not fail.
 */
typedef enum WakeReason
{
	WAKE_PUBLISHED,				/* a partition's max read position moved */
	WAKE_TIMER,					/* a message falls due at 'due' */
	WAKE_CONSUMER_EXIT,			/* a session with consumers ended */
	WAKE_CONSUMERS_LEFT			/* subscription 'id' lost consumers */
} WakeReason;

static void
wake_worker(WakeReason reason, int64 id, TimestampTz due)
{
	DatabaseWorker *slot = my_database_worker();
	Latch	   *latch = NULL;

	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	switch (reason)
	{
		case WAKE_PUBLISHED:
			if (slot->num_published < PUBLISHED_QUEUE_SIZE)
				slot->published[slot->num_published++] = id;
			else
				slot->published_overflow = true;
			latch = slot->latch;
			break;
		case WAKE_TIMER:
			/* it wakes up by itself for anything at or after next_timer */
			if (due < slot->next_timer)
			{
				if (due < slot->earliest_new_timer)
					slot->earliest_new_timer = due;
				latch = slot->latch;
			}
			break;
		case WAKE_CONSUMER_EXIT:
			slot->check_consumers = true;
			latch = slot->latch;
			break;
		case WAKE_CONSUMERS_LEFT:
			if (slot->num_left < LEFT_QUEUE_SIZE)
				slot->left[slot->num_left++] = id;
			else
				slot->left_overflow = true;
			latch = slot->latch;
			break;
	}
	SpinLockRelease(&slot->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * A commit or abort moved the max read position of a partition.  Called
 * once per move the worker has not yet looked at, so the queue rarely fills.
 */
void
WorkerNotePublished(int64 ledger_id)
{
	wake_worker(WAKE_PUBLISHED, ledger_id, 0);
}

/*
 * The open transaction made a message due for (re)delivery at 'due'.  The
 * worker is told at commit, if it would otherwise sleep past it.
 */
void
WorkerNoteTimer(TimestampTz due)
{
	if (due < timer_to_tell)
		timer_to_tell = due;
}

/*
 * The open transaction detached consumers of a subscription, which gave
 * back what they held: at commit, the worker notifies its channel, so that
 * consumers that only LISTEN learn of it (DESIGN invariant 3: the
 * transaction does not NOTIFY itself).
 */
void
WorkerNoteConsumersLeft(int64 subscription_id)
{
	MemoryContext old;
	ListCell   *lc;
	int64	   *id;

	foreach(lc, left_to_tell)
		if (*(int64 *) lfirst(lc) == subscription_id)
			return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	id = palloc(sizeof(int64));
	*id = subscription_id;
	left_to_tell = lappend(left_to_tell, id);
	MemoryContextSwitchTo(old);
}

static void
worker_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (subscriptions_changed)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that has changed subscriptions"),
						 errdetail("Sessions learn of a change of subscriptions when the changing transaction commits, and COMMIT PREPARED would not tell them.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (timer_to_tell != DT_NOEND)
				wake_worker(WAKE_TIMER, 0, timer_to_tell);
			timer_to_tell = DT_NOEND;
			/* after the commit is visible: receives see what was given back */
			foreach(lc, left_to_tell)
				wake_worker(WAKE_CONSUMERS_LEFT, *(int64 *) lfirst(lc), 0);
			left_to_tell = NIL;
			/* after the commit is visible: see load_subscribers() */
			if (subscriptions_changed && WorkerState != NULL)
				pg_atomic_fetch_add_u64(&WorkerState->subscriptions_generation, 1);
			subscriptions_changed = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			timer_to_tell = DT_NOEND;
			left_to_tell = NIL;
			subscriptions_changed = false;
			break;
		default:
			break;
	}
}

static void
consumer_session_exit(int code, Datum arg)
{
	wake_worker(WAKE_CONSUMER_EXIT, 0, 0);
}

/*
 * This session attached a consumer: when it exits, the worker gives the
 * consumer's messages back at once instead of waiting for its lease.
 */
void
WorkerNoteConsumerSession(void)
{
	if (consumer_exit_registered)
		return;
	before_shmem_exit(consumer_session_exit, (Datum) 0);
	consumer_exit_registered = true;
}

void
WorkerInit(void)
{
	RegisterXactCallback(worker_xact_callback, NULL);
}

/*
 * Whether the extension is installed here, at a version whose tables this
 * library's code needs.  Caller is in a transaction.
 */
static bool
extension_ready(void)
{
	if (!OidIsValid(get_extension_oid("pulsar_pg", true)))
		return false;
	/* ALTER EXTENSION ... UPDATE starts a worker again */
	if (!consumption_tables_current())
	{
		ereport(LOG,
				(errmsg("pulsar_pg worker not started for database \"%s\": the extension must be updated",
						get_database_name(MyDatabaseId)),
				 errhint("Run ALTER EXTENSION pulsar_pg UPDATE.")));
		return false;
	}
	return true;
}

static void
queue_notify(HTAB *notifies, int64 subscription_id, const char *payload)
{
	PendingNotify *notify;

	/* names are validated to fit; never cut one, send a bare hint instead */
	if (strlen(payload) > PAYLOAD_MAX_LEN)
		payload = "";
	notify = hash_search(notifies, &subscription_id, HASH_ENTER, NULL);
	strlcpy(notify->payload, payload, sizeof(notify->payload));
}

/*
 * The subscriptions SUBSCRIPTION_TOPICS found, notified with their topic's
 * name as payload.
 */
#define SUBSCRIPTION_TOPICS \
	"SELECT s.subscription_id," \
	"       'persistent://' || t.tenant || '/' || t.namespace || '/' || t.name" \
	"  FROM pulsar.subscription s" \
	"  JOIN pulsar.topic t ON t.topic_id = s.topic_id"

static void
queue_found_subscriptions(HTAB *notifies)
{
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;

		queue_notify(notifies,
					 DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row],
												 SPI_tuptable->tupdesc, 1,
												 &isnull)),
					 SPI_getvalue(SPI_tuptable->vals[row],
								  SPI_tuptable->tupdesc, 2));
	}
}

/*
 * The partitions among 'ledgers' whose max read position moved past what
 * was last notified.  Needs no transaction.
 */
static List *
take_moved(List *ledgers)
{
	List	   *moved = NIL;
	ListCell   *lc;

	foreach(lc, ledgers)
	{
		int64		ledger_id = *(int64 *) lfirst(lc);
		int64		position;
		LedgerSubscribers *entry;
		MovedLedger *move;
		bool		found;

		if (!TakeMovedReadPosition(ledger_id, &position))
			continue;
		entry = hash_search(ledger_subscribers, &ledger_id, HASH_ENTER, &found);
		if (!found)
		{
			entry->notified_position = -1;
			entry->generation = 0;
			entry->num_subscriptions = 0;
			entry->subscription_ids = NULL;
			entry->topic = NULL;
		}
		if (entry->notified_position >= position)
			continue;
		move = palloc(sizeof(MovedLedger));
		move->ledger = entry;
		move->position = position;
		move->previous = entry->notified_position;
		entry->notified_position = position;
		moved = lappend(moved, move);
	}
	return moved;
}

/*
 * The moves could not be notified this cycle: the next one looks at these
 * partitions again.
 */
static void
keep_unnotified(List *moved)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	ListCell   *lc;

	foreach(lc, moved)
	{
		MovedLedger *move = lfirst(lc);
		int64	   *ledger_id = palloc(sizeof(int64));

		move->ledger->notified_position = move->previous;
		*ledger_id = move->ledger->ledger_id;
		unnotified_ledgers = lappend(unnotified_ledgers, ledger_id);
	}
	MemoryContextSwitchTo(old);
}

/*
 * Whether notifying these moves needs a transaction: some have subscribers,
 * or the subscribers of some must be loaded.
 */
static bool
moves_need_transaction(List *moved, uint64 generation)
{
	ListCell   *lc;

	foreach(lc, moved)
	{
		LedgerSubscribers *entry = ((MovedLedger *) lfirst(lc))->ledger;

		if (entry->generation != generation || entry->num_subscriptions > 0)
			return true;
	}
	return false;
}

/*
 * Loads the subscribers of the moved partitions not loaded at this
 * generation; 'generation' was read before the snapshot was taken, so a
 * later change makes them load again.
 */
static void
load_subscribers(List *moved, uint64 generation)
{
	Datum	   *stale;
	int			num_stale = 0;
	ListCell   *lc;
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		values[1];
	CatalogAccess access;
	MemoryContext old;

	stale = palloc(sizeof(Datum) * Max(list_length(moved), 1));
	foreach(lc, moved)
	{
		LedgerSubscribers *entry = ((MovedLedger *) lfirst(lc))->ledger;

		if (entry->generation == generation)
			continue;
		if (entry->subscription_ids)
			pfree(entry->subscription_ids);
		if (entry->topic)
			pfree(entry->topic);
		entry->subscription_ids = NULL;
		entry->topic = NULL;
		entry->num_subscriptions = 0;
		entry->generation = generation;
		stale[num_stale++] = Int64GetDatum(entry->ledger_id);
	}
	if (num_stale == 0)
		return;

	values[0] = PointerGetDatum(construct_array(stale, num_stale, INT8OID, 8,
												true, TYPALIGN_DOUBLE));
	begin_catalog_access(&access);
	run_catalog_sql("SELECT l.ledger_id, l.partition_index, s.subscription_id,"
					"       'persistent://' || t.tenant || '/' || t.namespace || '/' || t.name"
					"  FROM pulsar.ledger l"
					"  JOIN pulsar.topic t ON t.topic_id = l.topic_id"
					"  JOIN pulsar.subscription s ON s.topic_id = l.topic_id"
					" WHERE l.ledger_id = ANY ($1)",
					1, argtypes, values, NULL, false);
	old = MemoryContextSwitchTo(TopMemoryContext);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		ledger_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		LedgerSubscribers *entry = hash_search(ledger_subscribers, &ledger_id,
											   HASH_FIND, NULL);

		Assert(entry != NULL);
		entry->partition_index = DatumGetInt32(SPI_getbinval(tuple, desc, 2, &isnull));
		entry->subscription_ids = entry->subscription_ids ?
			repalloc(entry->subscription_ids,
					 sizeof(int64) * (entry->num_subscriptions + 1)) :
			palloc(sizeof(int64));
		entry->subscription_ids[entry->num_subscriptions++] =
			DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
		if (entry->topic == NULL)
			entry->topic = SPI_getvalue(tuple, desc, 4);
	}
	MemoryContextSwitchTo(old);
	end_catalog_access(&access);
}

/* New messages: the channels of the moved partitions' subscriptions. */
static void
collect_published(HTAB *notifies, List *moved)
{
	ListCell   *lc;

	foreach(lc, moved)
	{
		MovedLedger *move = lfirst(lc);
		LedgerSubscribers *entry = move->ledger;
		char	   *payload;

		if (entry->num_subscriptions == 0)
			continue;
		payload = psprintf("%s %s", entry->topic,
						   message_id_to_string(make_message_id(entry->ledger_id,
																move->position,
																entry->partition_index)));
		for (int i = 0; i < entry->num_subscriptions; i++)
			queue_notify(notifies, entry->subscription_ids[i], payload);
	}
}

/*
 * The open transaction created, changed or deleted subscriptions: workers
 * and backends reload what they know of subscriptions once it commits.
 */
void
WorkerNoteSubscriptionsChanged(void)
{
	subscriptions_changed = true;
}

/* whether the open transaction changed subscriptions */
bool
WorkerSubscriptionsChangedHere(void)
{
	return subscriptions_changed;
}

/* moves when a transaction that changed subscriptions commits */
uint64
WorkerSubscriptionsGeneration(void)
{
	return WorkerState != NULL ?
		pg_atomic_read_u64(&WorkerState->subscriptions_generation) : 0;
}

/*
 * Channels of subscriptions with redeliveries or delayed messages that fell
 * due in [from, until]; returns the earliest timer after 'until', or
 * DT_NOEND.
 */
static TimestampTz
collect_due(HTAB *notifies, TimestampTz from, TimestampTz until)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2] = {TimestampTzGetDatum(from), TimestampTzGetDatum(until)};
	TimestampTz next = DT_NOEND;
	CatalogAccess access;
	bool		isnull;
	Datum		value;

	begin_catalog_access(&access);
	run_catalog_sql(SUBSCRIPTION_TOPICS
					" WHERE s.subscription_id IN"
					"       (SELECT subscription_id FROM pulsar.pending"
					"         WHERE redeliver_at >= $1 AND redeliver_at <= $2"
					"           AND redeliver_at < 'infinity')",
					2, argtypes, values, NULL, false);
	queue_found_subscriptions(notifies);
	run_catalog_sql("SELECT min(redeliver_at) FROM pulsar.pending"
					" WHERE redeliver_at > $2 AND redeliver_at < 'infinity'",
					2, argtypes, values, NULL, false);
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
	if (!isnull)
		next = DatumGetTimestampTz(value);
	end_catalog_access(&access);
	return next;
}

/*
 * Channels of subscriptions that lost consumers: those backends told of
 * ('left'), or all of them if the queue overflowed.
 */
static void
collect_left(HTAB *notifies, const int64 *left, int num_left, bool overflow)
{
	Datum	   *ids;
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		values[1];
	CatalogAccess access;

	begin_catalog_access(&access);
	if (overflow)
		run_catalog_sql(SUBSCRIPTION_TOPICS, 0, NULL, NULL, NULL, false);
	else
	{
		ids = palloc(sizeof(Datum) * Max(num_left, 1));
		for (int i = 0; i < num_left; i++)
			ids[i] = Int64GetDatum(left[i]);
		values[0] = PointerGetDatum(construct_array(ids, num_left, INT8OID, 8,
													true, TYPALIGN_DOUBLE));
		run_catalog_sql(SUBSCRIPTION_TOPICS " WHERE s.subscription_id = ANY ($1)",
						1, argtypes, values, NULL, false);
	}
	queue_found_subscriptions(notifies);
	end_catalog_access(&access);
}

static void
send_notifies(HTAB *notifies)
{
	HASH_SEQ_STATUS status;
	PendingNotify *notify;

	hash_seq_init(&status, notifies);
	while ((notify = hash_seq_search(&status)) != NULL)
		Async_Notify(subscription_channel(notify->subscription_id),
					 notify->payload);
}

static void
worker_exit(int code, Datum arg)
{
	DatabaseWorker *slot = (DatabaseWorker *) DatumGetPointer(arg);

	SpinLockAcquire(&slot->mutex);
	slot->pid = 0;
	slot->latch = NULL;
	SpinLockRelease(&slot->mutex);
}

/*
 * The extension is not installed here: tell the launcher not to start a
 * worker again until CREATE EXTENSION asks, unless one asked meanwhile.
 */
static void
exit_without_extension(DatabaseWorker *slot, uint32 start_requests)
{
	LWLockAcquire(WorkerState->lock, LW_EXCLUSIVE);
	if (slot->start_requests == start_requests)
		slot->state = DATABASE_WITHOUT_EXTENSION;
	else
		slot->retry_now = true;
	LWLockRelease(WorkerState->lock);
	proc_exit(0);
}

/*
 * Whether CREATE EXTENSION ran since this worker started: after DROP and
 * CREATE, ledger ids start again and what it remembers is wrong.
 */
static bool
extension_recreated(DatabaseWorker *slot, uint32 start_requests)
{
	bool		recreated;

	LWLockAcquire(WorkerState->lock, LW_SHARED);
	recreated = slot->start_requests != start_requests;
	LWLockRelease(WorkerState->lock);
	return recreated;
}

void
pulsar_worker_main(Datum main_arg)
{
	Oid			database_id = DatumGetObjectId(main_arg);
	DatabaseWorker *slot;
	uint32		start_requests;
	bool		paused;
	TimestampTz timers_checked_through = DT_NOBEGIN;
	TimestampTz next_consumer_check = 0;
	TimestampTz last_maintenance = 0;
	TimestampTz next_maintenance = 0;
	bool		worked = false;
	HASHCTL		info;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	slot = find_database_worker(database_id);
	if (slot == NULL)
		proc_exit(0);

	/* known before connecting, so that DROP DATABASE can stop us at once */
	SpinLockAcquire(&slot->mutex);
	slot->pid = MyProcPid;
	slot->latch = MyLatch;
	SpinLockRelease(&slot->mutex);
	before_shmem_exit(worker_exit, PointerGetDatum(slot));
	LWLockAcquire(WorkerState->lock, LW_SHARED);
	start_requests = slot->start_requests;
	paused = slot->pause_count > 0;
	LWLockRelease(WorkerState->lock);
	if (paused)
		proc_exit(0);

	BackgroundWorkerInitializeConnectionByOid(database_id, InvalidOid, 0);
	pgstat_report_appname("pulsar_pg worker");
	/* notifications need no durability: they are not replicated either */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	StartTransactionCommand();
	if (!extension_ready())
	{
		CommitTransactionCommand();
		exit_without_extension(slot, start_requests);
	}
	ereport(LOG,
			(errmsg("pulsar_pg worker started for database \"%s\"",
					get_database_name(database_id))));
	CommitTransactionCommand();
	/* consumers that left before now (a crash, say) went unrecorded */
	expiry_consumers_known_since = GetCurrentTimestamp();

	cycle_context = AllocSetContextCreate(TopMemoryContext,
										  "pulsar_pg worker cycle",
										  ALLOCSET_DEFAULT_SIZES);
	info.keysize = sizeof(int64);
	info.entrysize = sizeof(LedgerSubscribers);
	ledger_subscribers = hash_create("pulsar_pg ledger subscribers", 1024,
									 &info, HASH_ELEM | HASH_BLOBS);

	/* the first pass one interval after start, as every later one */
	last_maintenance = GetCurrentTimestamp();
	next_maintenance = TimestampTzPlusMilliseconds(last_maintenance,
												   pulsar_maintenance_interval_ms);

	SpinLockAcquire(&slot->mutex);
	slot->next_timer = DT_NOEND;	/* wake me for any timer */
	slot->earliest_new_timer = DT_NOBEGIN;	/* and look for due ones now */
	/* anything queued before this worker ran is looked at below */
	slot->published_overflow = true;
	SpinLockRelease(&slot->mutex);

	for (;;)
	{
		List	   *ledgers = NIL;
		List	   *moved;
		uint64		generation;
		int64		taken[PUBLISHED_QUEUE_SIZE];
		int64		left[LEFT_QUEUE_SIZE];
		int			num_left;
		bool		left_overflow;
		int			num_taken;
		bool		scan_all;
		bool		check_consumers;
		TimestampTz earliest_new_timer;
		TimestampTz now;
		TimestampTz next_timer = DT_NOEND;
		bool		check_timers;
		bool		retry_soon = false;
		bool		retry_now = false;
		HTAB	   *notifies;
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* a new interval counts from the last pass */
			next_maintenance =
				TimestampTzPlusMilliseconds(last_maintenance,
											pulsar_maintenance_interval_ms);
		}
		MemoryContextReset(cycle_context);
		MemoryContextSwitchTo(cycle_context);

		now = GetCurrentTimestamp();
		SpinLockAcquire(&slot->mutex);
		num_taken = slot->num_published;
		memcpy(taken, slot->published, sizeof(int64) * num_taken);
		slot->num_published = 0;
		scan_all = slot->published_overflow;
		slot->published_overflow = false;
		check_consumers = slot->check_consumers;
		slot->check_consumers = false;
		num_left = slot->num_left;
		memcpy(left, slot->left, sizeof(int64) * num_left);
		slot->num_left = 0;
		left_overflow = slot->left_overflow;
		slot->left_overflow = false;
		earliest_new_timer = slot->earliest_new_timer;
		slot->earliest_new_timer = DT_NOEND;
		check_timers = earliest_new_timer != DT_NOEND ||
			slot->next_timer <= now;
		if (check_timers)
			slot->next_timer = DT_NOEND;	/* wake me for any timer */
		SpinLockRelease(&slot->mutex);

		/* nothing that can fail while the spinlock was held */
		for (int i = 0; i < num_taken; i++)
		{
			int64	   *ledger_id = palloc(sizeof(int64));

			*ledger_id = taken[i];
			ledgers = lappend(ledgers, ledger_id);
		}

		if (check_consumers)
			next_consumer_check = Min(next_consumer_check,
									  TimestampTzPlusMilliseconds(now, CONSUMER_EXIT_GRACE_MS));

		if (scan_all)
			ledgers = list_concat(ledgers, MovedPartitions());
		if (unnotified_ledgers != NIL)
		{
			ListCell   *lc;

			foreach(lc, unnotified_ledgers)
			{
				int64	   *ledger_id = palloc(sizeof(int64));

				*ledger_id = *(int64 *) lfirst(lc);
				ledgers = lappend(ledgers, ledger_id);
			}
			list_free_deep(unnotified_ledgers);
			unnotified_ledgers = NIL;
		}
		moved = take_moved(ledgers);
		generation = pg_atomic_read_u64(&WorkerState->subscriptions_generation);
		if (ledgers != NIL)
			worked = true;

		if (moves_need_transaction(moved, generation) || check_timers ||
			num_left > 0 || left_overflow || now >= next_consumer_check)
		{
			HASHCTL		notify_info;

			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			pgstat_report_activity(STATE_RUNNING, "pulsar_pg worker cycle");
			if (!extension_ready() || extension_recreated(slot, start_requests))
			{
				PopActiveSnapshot();
				CommitTransactionCommand();
				exit_without_extension(slot, start_requests);
			}

			notify_info.keysize = sizeof(int64);
			notify_info.entrysize = sizeof(PendingNotify);
			notify_info.hcxt = CurrentMemoryContext;
			notifies = hash_create("pulsar_pg notifies", 64, &notify_info,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
			if (moved != NIL)
			{
				if (lock_catalog_tables_now(published_tables,
									lengthof(published_tables),
									AccessShareLock))
				{
					load_subscribers(moved, generation);
					collect_published(notifies, moved);
				}
				else
				{
					keep_unnotified(moved);
					retry_soon = true;
				}
			}
			if (check_timers)
			{
				TimestampTz from = Min(timers_checked_through,
									   earliest_new_timer);

				if (lock_catalog_tables_now(timer_tables, lengthof(timer_tables),
									AccessShareLock))
				{
					next_timer = collect_due(notifies, from, now);
					timers_checked_through = now;
				}
				else
				{
					/* look from the same time again in the next cycle */
					SpinLockAcquire(&slot->mutex);
					slot->earliest_new_timer = Min(slot->earliest_new_timer,
												   from);
					SpinLockRelease(&slot->mutex);
					retry_soon = true;
				}
			}
			if (num_left > 0 || left_overflow)
			{
				collect_left(notifies, left, num_left, left_overflow);

				/*
				 * They had consumers until now, for subscription expiration;
				 * should the table be locked, expiration counts from now for
				 * every subscription instead.
				 */
				if (maintenance_tables_current() &&
					lock_catalog_tables_now(activity_read_tables,
											lengthof(activity_read_tables),
											AccessShareLock) &&
					lock_catalog_tables_now(activity_write_tables,
											lengthof(activity_write_tables),
											RowExclusiveLock))
					note_subscriptions_active(left, num_left, left_overflow, now);
				else
					expiry_consumers_known_since = now;
			}
			if (now >= next_consumer_check)
			{
				if (lock_catalog_tables_now(liveness_read_tables,
									lengthof(liveness_read_tables),
									AccessShareLock) &&
					lock_catalog_tables_now(liveness_write_tables,
									lengthof(liveness_write_tables),
									RowExclusiveLock))
				{
					/* their channels are notified next cycle: see above */
					remove_departed_consumers_everywhere();
					fold_acked_ranges_everywhere();
					next_consumer_check =
						TimestampTzPlusMilliseconds(now, CONSUMER_CHECK_INTERVAL_MS);
				}
				else
					next_consumer_check =
						TimestampTzPlusMilliseconds(now, LOCKED_RETRY_MS);
			}
			if (hash_get_num_entries(notifies) > 0)
				worked = true;
			send_notifies(notifies);

			PopActiveSnapshot();
			CommitTransactionCommand();
			pgstat_report_stat(false);
			pgstat_report_activity(STATE_IDLE, NULL);

			if (check_timers)
			{
				SpinLockAcquire(&slot->mutex);
				slot->next_timer = next_timer;
				SpinLockRelease(&slot->mutex);
			}
		}

		MemoryContextSwitchTo(TopMemoryContext);

		/* storage policies, in slices between the cycles above */
		if (now >= next_maintenance)
		{
			if (maintenance_run_pass())
			{
				last_maintenance = GetCurrentTimestamp();
				next_maintenance =
					TimestampTzPlusMilliseconds(last_maintenance,
												pulsar_maintenance_interval_ms);
			}
			else
				retry_now = true;
		}

		if (worked)
		{
			/* 'now' is when this cycle started */
			long		elapsed_us = GetCurrentTimestamp() - now;

			if (elapsed_us >= 0 && elapsed_us < MIN_CYCLE_INTERVAL_US)
				pg_usleep(MIN_CYCLE_INTERVAL_US - elapsed_us);
			worked = false;
		}
		now = GetCurrentTimestamp();
		SpinLockAcquire(&slot->mutex);
		next_timer = slot->next_timer;
		SpinLockRelease(&slot->mutex);
		sleep_ms = TimestampDifferenceMilliseconds(now, next_consumer_check);
		if (retry_soon)
			sleep_ms = Min(sleep_ms, LOCKED_RETRY_MS);
		sleep_ms = Min(sleep_ms,
					   TimestampDifferenceMilliseconds(now, next_maintenance));
		if (retry_now)
			sleep_ms = 0;
		if (next_timer != DT_NOEND)
		{
			/* wake up on the due time, not one tick before it */
			long		timer_ms = TimestampDifferenceMilliseconds(now, next_timer);

			if (next_timer > now && timer_ms == 0)
				timer_ms = 1;
			sleep_ms = Min(sleep_ms, timer_ms);
		}
		if (sleep_ms > 0)
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
