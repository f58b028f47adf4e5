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
 * the one the worker sleeps until tells it at commit (worker_signal_timer).
 * The worker publishes "wake me for anything" before it looks and the time
 * it found after, so a timer committed while it looks is never missed.
 *
 * Liveness: once a second, and soon after a session that owned consumers
 * exits, the worker removes consumers whose session ended or whose lease
 * expired; their messages go back to the subscription.  Whoever detaches
 * consumers (the worker, a receive that finds them departed,
 * close_consumer) tells the worker at commit which subscriptions lost
 * some (worker_signal_consumers_left), and it notifies their channels, so the
 * remaining consumers (a failover's next in line) call receive.  At the same time it folds into the mark-delete position the
 * acknowledged ranges that concurrent acknowledgements left beside it.
 *
 * DESIGN invariant 6a: the worker never waits for a user transaction.
 * Its statements read, or lock rows with SKIP LOCKED and find what they
 * skipped again next time; before each part of a cycle it takes the table
 * locks that part needs without waiting (catalog_lock_tables_now()), the
 * extension's own lock before any of them (catalog_lock_extension_now(), which
 * DROP EXTENSION holds while it locks the tables), and a part that finds
 * something locked is tried again shortly.
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

#include "1_value/message_id.h"
#include "1_value/topic_name.h"
#include "2_shmem/read_position.h"
#include "2_shmem/worker_signal.h"
#include "3_catalog/catalog.h"
#include "4_storage/cursor.h"
#include "4_storage/expiry.h"
#include "4_storage/pending.h"
#include "4_storage/subscription.h"
#include "6_entry/launcher.h"
#include "6_entry/maintenance.h"

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

static MemoryContext cycle_context = NULL;
static HTAB *ledger_subscribers = NULL;

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
 * they are locked beforehand (see catalog_lock_tables_now()).
 */
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
static const char *const left_tables[] = {
	"subscription", "topic"
};
static const char *const activity_read_tables[] = {
	"subscription"
};
static const char *const activity_write_tables[] = {
	"subscription_activity"
};

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
	if (!catalog_consumption_tables_current())
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

		if (!read_position_take_moved(ledger_id, &position))
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
 * The subscriptions that lost consumers could not be looked at this cycle:
 * queue them again for the next one, or all of them if they do not fit.
 */
static void
keep_left(DatabaseWorker *slot, const int64 *left, int num_left, bool overflow)
{
	SpinLockAcquire(&slot->mutex);
	if (overflow || slot->num_left + num_left > LEFT_QUEUE_SIZE)
		slot->left_overflow = true;
	else
	{
		memcpy(slot->left + slot->num_left, left, sizeof(int64) * num_left);
		slot->num_left += num_left;
	}
	SpinLockRelease(&slot->mutex);
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

	values[0] = PointerGetDatum(catalog_int8_array(stale, num_stale));
	catalog_access_begin(&access);
	catalog_run_sql("SELECT l.ledger_id, l.partition_index, s.subscription_id,"
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
	catalog_access_end(&access);
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
						   message_id_to_string(message_id_make(entry->ledger_id,
																move->position,
																entry->partition_index)));
		for (int i = 0; i < entry->num_subscriptions; i++)
			queue_notify(notifies, entry->subscription_ids[i], payload);
	}
}

/*
 * Channels of subscriptions with redeliveries or delayed messages that fell
 * due in [from, until]; returns the earliest timer after 'until', or
 * DT_NOEND.
 */
static TimestampTz
collect_due(HTAB *notifies, TimestampTz from, TimestampTz until)
{
	TimestampTz next;
	CatalogAccess access;

	catalog_access_begin(&access);
	pending_find_subscriptions_due(from, until);
	queue_found_subscriptions(notifies);
	next = pending_next_due_after(from, until);
	catalog_access_end(&access);
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

	catalog_access_begin(&access);
	if (overflow)
		catalog_run_sql(SUBSCRIPTION_TOPICS, 0, NULL, NULL, NULL, false);
	else
	{
		ids = palloc(sizeof(Datum) * Max(num_left, 1));
		for (int i = 0; i < num_left; i++)
			ids[i] = Int64GetDatum(left[i]);
		values[0] = PointerGetDatum(catalog_int8_array(ids, num_left));
		catalog_run_sql(SUBSCRIPTION_TOPICS " WHERE s.subscription_id = ANY ($1)",
						1, argtypes, values, NULL, false);
	}
	queue_found_subscriptions(notifies);
	catalog_access_end(&access);
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

/* what the worker carries from one cycle to the next */
typedef struct WorkerLoop
{
	DatabaseWorker *slot;
	uint32		start_requests; /* of the slot when this worker started */
	TimestampTz timers_checked_through;
	TimestampTz next_consumer_check;
	TimestampTz last_maintenance;
	TimestampTz next_maintenance;
	bool		worked;			/* since the last sleep */
	bool		retry_soon;		/* a table was locked: look again soon */
	bool		retry_now;		/* a maintenance pass is under way */
} WorkerLoop;

/* what one cycle took from the slot */
typedef struct CycleRequests
{
	List	   *ledgers;		/* partitions whose position may have moved */
	int64		left[LEFT_QUEUE_SIZE];
	int			num_left;
	bool		left_overflow;
	bool		check_timers;
	TimestampTz earliest_new_timer;
} CycleRequests;

/*
 * Takes the slot, connects to the database and checks the extension is
 * there; exits if the database has no worker slot, is paused or lacks the
 * extension.
 */
static void
worker_start(Oid database_id, WorkerLoop *loop)
{
	DatabaseWorker *slot;
	bool		paused;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	slot = worker_signal_find_slot(database_id);
	if (slot == NULL)
		proc_exit(0);

	/* known before connecting, so that DROP DATABASE can stop us at once */
	SpinLockAcquire(&slot->mutex);
	slot->pid = MyProcPid;
	slot->latch = MyLatch;
	SpinLockRelease(&slot->mutex);
	before_shmem_exit(worker_exit, PointerGetDatum(slot));
	LWLockAcquire(WorkerState->lock, LW_SHARED);
	loop->slot = slot;
	loop->start_requests = slot->start_requests;
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
		exit_without_extension(slot, loop->start_requests);
	}
	ereport(LOG,
			(errmsg("pulsar_pg worker started for database \"%s\"",
					get_database_name(database_id))));
	CommitTransactionCommand();
	/* consumers that left before now (a crash, say) went unrecorded */
	expiry_consumers_known_since = GetCurrentTimestamp();
}

/* The worker's own memory and tables, and a first look at everything. */
static void
worker_init_cycles(DatabaseWorker *slot)
{
	HASHCTL		info;

	cycle_context = AllocSetContextCreate(TopMemoryContext,
										  "pulsar_pg worker cycle",
										  ALLOCSET_DEFAULT_SIZES);
	info.keysize = sizeof(int64);
	info.entrysize = sizeof(LedgerSubscribers);
	ledger_subscribers = hash_create("pulsar_pg ledger subscribers", 1024,
									 &info, HASH_ELEM | HASH_BLOBS);

	SpinLockAcquire(&slot->mutex);
	slot->next_timer = DT_NOEND;	/* wake me for any timer */
	slot->earliest_new_timer = DT_NOBEGIN;	/* and look for due ones now */
	/* anything queued before this worker ran is looked at below */
	slot->published_overflow = true;
	SpinLockRelease(&slot->mutex);
}

/*
 * Takes what backends told the slot since the last cycle: partitions that
 * moved (all of them if the queue overflowed, and those a cycle could not
 * notify), subscriptions that lost consumers, new timers.
 */
static void
take_requests(WorkerLoop *loop, TimestampTz now, CycleRequests *requests)
{
	DatabaseWorker *slot = loop->slot;
	int64		taken[PUBLISHED_QUEUE_SIZE];
	int			num_taken;
	bool		scan_all;
	bool		check_consumers;

	SpinLockAcquire(&slot->mutex);
	num_taken = slot->num_published;
	memcpy(taken, slot->published, sizeof(int64) * num_taken);
	slot->num_published = 0;
	scan_all = slot->published_overflow;
	slot->published_overflow = false;
	check_consumers = slot->check_consumers;
	slot->check_consumers = false;
	requests->num_left = slot->num_left;
	memcpy(requests->left, slot->left, sizeof(int64) * requests->num_left);
	slot->num_left = 0;
	requests->left_overflow = slot->left_overflow;
	slot->left_overflow = false;
	requests->earliest_new_timer = slot->earliest_new_timer;
	slot->earliest_new_timer = DT_NOEND;
	requests->check_timers = requests->earliest_new_timer != DT_NOEND ||
		slot->next_timer <= now;
	if (requests->check_timers)
		slot->next_timer = DT_NOEND;	/* wake me for any timer */
	SpinLockRelease(&slot->mutex);

	/* nothing that can fail while the spinlock was held */
	requests->ledgers = NIL;
	for (int i = 0; i < num_taken; i++)
	{
		int64	   *ledger_id = palloc(sizeof(int64));

		*ledger_id = taken[i];
		requests->ledgers = lappend(requests->ledgers, ledger_id);
	}

	if (check_consumers)
		loop->next_consumer_check = Min(loop->next_consumer_check,
										TimestampTzPlusMilliseconds(now, CONSUMER_EXIT_GRACE_MS));

	if (scan_all)
		requests->ledgers = list_concat(requests->ledgers, read_position_moved_partitions());
	if (unnotified_ledgers != NIL)
	{
		ListCell   *lc;

		foreach(lc, unnotified_ledgers)
		{
			int64	   *ledger_id = palloc(sizeof(int64));

			*ledger_id = *(int64 *) lfirst(lc);
			requests->ledgers = lappend(requests->ledgers, ledger_id);
		}
		list_free_deep(unnotified_ledgers);
		unnotified_ledgers = NIL;
	}
}

/*
 * Channels of timers that fell due since the last look; returns the next
 * timer, or DT_NOEND if the tables were busy (looked at again next cycle).
 */
static TimestampTz
notify_due_timers(WorkerLoop *loop, HTAB *notifies, bool extension_locked,
				  TimestampTz earliest_new_timer, TimestampTz now)
{
	TimestampTz from = Min(loop->timers_checked_through, earliest_new_timer);
	TimestampTz next_timer = DT_NOEND;

	if (extension_locked &&
		catalog_lock_tables_now(timer_tables, lengthof(timer_tables),
						AccessShareLock))
	{
		next_timer = collect_due(notifies, from, now);
		loop->timers_checked_through = now;
	}
	else
	{
		/* look from the same time again in the next cycle */
		SpinLockAcquire(&loop->slot->mutex);
		loop->slot->earliest_new_timer = Min(loop->slot->earliest_new_timer,
											 from);
		SpinLockRelease(&loop->slot->mutex);
		loop->retry_soon = true;
	}
	return next_timer;
}

/* Removes departed consumers and folds ranges no ack could fold. */
static void
check_consumers_now(WorkerLoop *loop, bool extension_locked, TimestampTz now)
{
	if (extension_locked &&
		catalog_lock_tables_now(liveness_read_tables,
						lengthof(liveness_read_tables),
						AccessShareLock) &&
		catalog_lock_tables_now(liveness_write_tables,
						lengthof(liveness_write_tables),
						RowExclusiveLock))
	{
		/* their channels are notified next cycle (Liveness, in the header) */
		subscription_remove_departed_consumers_everywhere();
		cursor_fold_acked_ranges_everywhere();
		loop->next_consumer_check =
			TimestampTzPlusMilliseconds(now, CONSUMER_CHECK_INTERVAL_MS);
	}
	else
		loop->next_consumer_check =
			TimestampTzPlusMilliseconds(now, LOCKED_RETRY_MS);
}

/*
 * Subscriptions that lost consumers had one until now, for subscription
 * expiration (expiry.c).  Should its table be locked, expiration counts
 * from now for every subscription instead: never earlier than it should.
 */
static void
note_subscriptions_left(const CycleRequests *requests, TimestampTz now)
{
	if (catalog_maintenance_tables_current() &&
		catalog_lock_tables_now(activity_read_tables,
								lengthof(activity_read_tables),
								AccessShareLock) &&
		catalog_lock_tables_now(activity_write_tables,
								lengthof(activity_write_tables),
								RowExclusiveLock))
		expiry_note_subscriptions_active(requests->left, requests->num_left,
										 requests->left_overflow, now);
	else
		expiry_consumers_known_since = now;
}

/*
 * One cycle's transaction: notifies what moved, fell due or lost
 * consumers, and checks consumers when it is time.
 */
static void
run_cycle_transaction(WorkerLoop *loop, const CycleRequests *requests,
					  List *moved, uint64 generation, TimestampTz now)
{
	DatabaseWorker *slot = loop->slot;
	TimestampTz next_timer = DT_NOEND;
	HASHCTL		notify_info;
	HTAB	   *notifies;
	bool		extension_locked;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "pulsar_pg worker cycle");

	/*
	 * The extension before any of its tables, as DROP EXTENSION takes them:
	 * while it holds the extension, this cycle touches none of them and
	 * tries again shortly; once this cycle holds it, DROP EXTENSION waits for
	 * the extension alone, before it locks any table.  Taken before looking
	 * at the extension, so that what is seen stays so until the commit.
	 */
	extension_locked = catalog_lock_extension_now();
	if (!extension_ready() || extension_recreated(slot, loop->start_requests))
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		exit_without_extension(slot, loop->start_requests);
	}

	notify_info.keysize = sizeof(int64);
	notify_info.entrysize = sizeof(PendingNotify);
	notify_info.hcxt = CurrentMemoryContext;
	notifies = hash_create("pulsar_pg notifies", 64, &notify_info,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (moved != NIL)
	{
		if (extension_locked &&
			catalog_lock_tables_now(published_tables,
							lengthof(published_tables),
							AccessShareLock))
		{
			load_subscribers(moved, generation);
			collect_published(notifies, moved);
		}
		else
		{
			keep_unnotified(moved);
			loop->retry_soon = true;
		}
	}
	if (requests->check_timers)
		next_timer = notify_due_timers(loop, notifies, extension_locked,
									   requests->earliest_new_timer, now);
	if (requests->num_left > 0 || requests->left_overflow)
	{
		if (extension_locked &&
			catalog_lock_tables_now(left_tables, lengthof(left_tables),
									AccessShareLock))
		{
			collect_left(notifies, requests->left, requests->num_left,
						 requests->left_overflow);
			note_subscriptions_left(requests, now);
		}
		else
		{
			keep_left(slot, requests->left, requests->num_left,
					  requests->left_overflow);
			loop->retry_soon = true;
		}
	}
	if (now >= loop->next_consumer_check)
		check_consumers_now(loop, extension_locked, now);
	if (hash_get_num_entries(notifies) > 0)
		loop->worked = true;
	send_notifies(notifies);

	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	if (requests->check_timers)
	{
		SpinLockAcquire(&slot->mutex);
		slot->next_timer = next_timer;
		SpinLockRelease(&slot->mutex);
	}
}

/*
 * The maintenance pass (storage policies, trimming), in slices between
 * the cycles: a pass that stopped early goes on at once after the next
 * cycle.
 */
static void
run_maintenance(WorkerLoop *loop, TimestampTz now)
{
	loop->retry_now = false;
	if (now < loop->next_maintenance)
		return;
	if (maintenance_run_pass())
	{
		loop->last_maintenance = GetCurrentTimestamp();
		loop->next_maintenance =
			TimestampTzPlusMilliseconds(loop->last_maintenance,
										pulsar_maintenance_interval_ms);
	}
	else
		loop->retry_now = true;
}

/*
 * Sleeps until the next timer, consumer check, maintenance pass or retry, or a backend sets
 * the latch; after a cycle that worked, not before MIN_CYCLE_INTERVAL_US
 * from its start ('cycle_start').
 */
static void
sleep_until_next(WorkerLoop *loop, TimestampTz cycle_start)
{
	TimestampTz now;
	TimestampTz next_timer;
	long		sleep_ms;

	if (loop->worked)
	{
		long		elapsed_us = GetCurrentTimestamp() - cycle_start;

		if (elapsed_us >= 0 && elapsed_us < MIN_CYCLE_INTERVAL_US)
			pg_usleep(MIN_CYCLE_INTERVAL_US - elapsed_us);
		loop->worked = false;
	}
	now = GetCurrentTimestamp();
	SpinLockAcquire(&loop->slot->mutex);
	next_timer = loop->slot->next_timer;
	SpinLockRelease(&loop->slot->mutex);
	sleep_ms = TimestampDifferenceMilliseconds(now, loop->next_consumer_check);
	if (loop->retry_soon)
		sleep_ms = Min(sleep_ms, LOCKED_RETRY_MS);
	sleep_ms = Min(sleep_ms,
				   TimestampDifferenceMilliseconds(now, loop->next_maintenance));
	if (loop->retry_now)
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

void
pulsar_worker_main(Datum main_arg)
{
	WorkerLoop	loop;

	memset(&loop, 0, sizeof(loop));
	loop.timers_checked_through = DT_NOBEGIN;
	loop.next_consumer_check = 0;
	worker_start(DatumGetObjectId(main_arg), &loop);
	worker_init_cycles(loop.slot);
	/* the first pass one interval after start, as every later one */
	loop.last_maintenance = GetCurrentTimestamp();
	loop.next_maintenance = TimestampTzPlusMilliseconds(loop.last_maintenance,
														pulsar_maintenance_interval_ms);

	for (;;)
	{
		CycleRequests requests;
		List	   *moved;
		uint64		generation;
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* a new interval counts from the last pass */
			loop.next_maintenance =
				TimestampTzPlusMilliseconds(loop.last_maintenance,
											pulsar_maintenance_interval_ms);
		}
		MemoryContextReset(cycle_context);
		MemoryContextSwitchTo(cycle_context);

		loop.retry_soon = false;
		now = GetCurrentTimestamp();
		take_requests(&loop, now, &requests);
		moved = take_moved(requests.ledgers);
		generation = pg_atomic_read_u64(&WorkerState->subscriptions_generation);
		if (requests.ledgers != NIL)
			loop.worked = true;

		if (moves_need_transaction(moved, generation) || requests.check_timers ||
			requests.num_left > 0 || requests.left_overflow ||
			now >= loop.next_consumer_check)
			run_cycle_transaction(&loop, &requests, moved, generation, now);

		MemoryContextSwitchTo(TopMemoryContext);
		run_maintenance(&loop, now);
		/* 'now' is when this cycle started */
		sleep_until_next(&loop, now);
	}
}
