/*-------------------------------------------------------------------------
 *
 * worker_signal.c
 *	  How backends reach the extension's background processes: the slot
 *	  of each database's worker in shared memory, the signals a backend
 *	  sends its worker when its transaction commits, and the request that
 *	  starts a segment worker.
 *
 * Owns WorkerSharedState (one DatabaseWorker slot per database with a
 * worker, and the generation of subscriptions).  A backend never waits for
 * the worker: it queues what moved in its database's slot under a spinlock
 * and sets the worker's latch (DESIGN invariant 3: publishers never
 * NOTIFY).  What a transaction has to tell is collected while it runs and
 * sent from the commit callback, after the commit is visible, so the worker
 * never looks before the change is there; an abort drops it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "2_shmem/worker_signal.h"

WorkerSharedState *WorkerState = NULL;

/* this backend's view of its database's slot */
static DatabaseWorker *my_slot = NULL;

/* earliest timer set by the open transaction, told to the worker at commit */
static TimestampTz timer_to_tell = DT_NOEND;
/* subscriptions that lost consumers in the open transaction, ditto */
static List *left_to_tell = NIL;	/* of int64 *, in TopTransactionContext */
static bool consumer_exit_registered = false;

/* the open transaction created or deleted subscriptions */
static bool subscriptions_changed = false;

void
worker_signal_shmem_request(void)
{
	RequestAddinShmemSpace(add_size(offsetof(WorkerSharedState, slots),
									mul_size(max_worker_processes,
											 sizeof(DatabaseWorker))));
	RequestNamedLWLockTranche("pulsar_pg workers", 1);
}

void
worker_signal_shmem_init(void)
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
 * The slot of a database, or NULL.
 */
DatabaseWorker *
worker_signal_find_slot(Oid database_id)
{
	DatabaseWorker *found = NULL;

	LWLockAcquire(WorkerState->lock, LW_SHARED);
	for (int i = 0; i < WorkerState->num_slots; i++)
	{
		if (WorkerState->slots[i].database_id == database_id)
		{
			found = &WorkerState->slots[i];
			break;
		}
	}
	LWLockRelease(WorkerState->lock);
	return found;
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
		my_slot = worker_signal_find_slot(MyDatabaseId);
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
worker_signal_published(int64 ledger_id)
{
	wake_worker(WAKE_PUBLISHED, ledger_id, 0);
}

/*
 * The open transaction made a message due for (re)delivery at 'due'.  The
 * worker is told at commit, if it would otherwise sleep past it.
 */
void
worker_signal_timer(TimestampTz due)
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
worker_signal_consumers_left(int64 subscription_id)
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
worker_signal_consumer_session(void)
{
	if (consumer_exit_registered)
		return;
	before_shmem_exit(consumer_session_exit, (Datum) 0);
	consumer_exit_registered = true;
}

void
worker_signal_init(void)
{
	RegisterXactCallback(worker_xact_callback, NULL);
}

/*
 * The open transaction created, changed or deleted subscriptions: workers
 * and backends reload what they know of subscriptions once it commits.
 */
void
worker_signal_subscriptions_changed(void)
{
	subscriptions_changed = true;
}

/* whether the open transaction changed subscriptions */
bool
worker_signal_subscriptions_changed_here(void)
{
	return subscriptions_changed;
}

/* moves when a transaction that changed subscriptions commits */
uint64
worker_signal_subscriptions_generation(void)
{
	return WorkerState != NULL ?
		pg_atomic_read_u64(&WorkerState->subscriptions_generation) : 0;
}

/*
 * Describes one of the extension's background workers: connected to a
 * database, started only on a primary, not restarted by the postmaster.
 */
void
worker_signal_describe(BackgroundWorker *worker, const char *function,
						   const char *type)
{
	memset(worker, 0, sizeof(BackgroundWorker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "pulsar_pg");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_name, BGW_MAXLEN, "%s", type);
	snprintf(worker->bgw_type, BGW_MAXLEN, "%s", type);
}

/*
 * Starts a worker that creates a segment of a ledger of the current
 * database.  With 'wait', returns once it has exited.  Returns false if no
 * worker could be started.
 */
bool
worker_signal_start_segment_worker(int64 ledger_id, int64 segment_no, Oid role_id,
					 bool wait)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	SegmentRequest request;

	worker_signal_describe(&worker, "pulsar_segment_worker_main",
							   "pulsar_pg segment worker");
	snprintf(worker.bgw_name, BGW_MAXLEN,
			 "pulsar_pg segment worker for ledger " INT64_FORMAT, ledger_id);
	worker.bgw_notify_pid = wait ? MyProcPid : 0;

	request.database_id = MyDatabaseId;
	request.role_id = role_id;
	request.ledger_id = ledger_id;
	request.segment_no = segment_no;
	memcpy(worker.bgw_extra, &request, sizeof(request));

	/* worker slots free up quickly: a sender that must wait tries a while */
	for (int attempt = 0;; attempt++)
	{
		if (RegisterDynamicBackgroundWorker(&worker, wait ? &handle : NULL))
			break;
		if (!wait || attempt >= 500)
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	if (wait && WaitForBackgroundWorkerShutdown(handle) != BGWH_STOPPED)
		return false;
	return true;
}
