/*-------------------------------------------------------------------------
 *
 * dispatch_state.c
 *	  The dispatch state of each subscription and partition in shared
 *	  memory, and what a transaction's receives must undo when it ends.
 *
 * Owns DispatchShared and its hash table of DispatchState entries: the
 * read position (the next entry never handed out), the consumer an
 * exclusive or failover partition was handed to, the count of rewinds and
 * the delivery rate.  It is lost on a crash, which only causes redelivery
 * (DESIGN invariant 2).  Per transaction it keeps the rewinds that undo a
 * rolled-back receive, the resets of unsubscribed or seeked subscriptions,
 * and the runs an exclusive or failover consumer received; transaction and
 * subtransaction callbacks apply or drop them.
 *
 * Locking of the shared state: DispatchShared->lock (LWLock) protects the
 * hash table's shape; each entry's spinlock protects its fields.  The
 * table has a fixed size, pulsar_pg.max_cursors, checked before each
 * insertion so that it never takes PostgreSQL's spare shared memory; its
 * entries go with their subscription (at the commit of unsubscribe or of
 * delete_topic, at the abort of the subscribe that created it) or their
 * database (DROP DATABASE, and CREATE EXTENSION after DROP EXTENSION).
 * The subscription's lock (AccessShareLock for receivers) keeps unsubscribe
 * and seek, which remove entries at commit, away while a receive looks; a
 * receive sleeping for messages may give it up between its looks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "1_value/subxact_items.h"
#include "2_shmem/dispatch_state.h"

typedef struct DispatchShared
{
	LWLock	   *lock;
} DispatchShared;

static DispatchShared *Dispatch = NULL;
static HTAB *DispatchStates = NULL;

/* what the open transaction must undo or reset when it ends */
typedef struct Rewind
{
	SubxactItem subxact;		/* first: the subtransaction of the scan */
	DispatchKey key;
	int64		first_entry;	/* where a scan of new messages began */
} Rewind;

/* a subscription whose dispatch state goes when the transaction ends */
typedef struct Reset
{
	SubxactItem subxact;		/* first: the subtransaction that asked */
	int64		subscription_id;
} Reset;

/*
 * Entries of an exclusive or failover subscription the open transaction
 * was handed, in runs of consecutive entries.  Its consumer holds them
 * without pending rows (unless there is an ack timeout), so a cumulative
 * ack finds here which of the messages it covers were this transaction's:
 * another transaction acknowledging one of them meanwhile (the consumer
 * was replaced, and its successor received them again) is a conflict
 * (cursor.c).  Runs of a subtransaction that rolls back go with its
 * rewind: its messages were given back.
 */
typedef struct ReceivedRun
{
	SubxactItem subxact;		/* first: the subtransaction of the receive */
	int64		subscription_id;
	int64		ledger_id;
	int64		first;
	int64		last;
} ReceivedRun;

static List *rewinds = NIL;
static List *resets_at_commit = NIL;
static List *resets_at_abort = NIL;
static List *received_runs = NIL;

void
DispatchStateShmemRequest(void)
{
	RequestAddinShmemSpace(add_size(sizeof(DispatchShared),
									hash_estimate_size(pulsar_max_cursors,
													   sizeof(DispatchState))));
	RequestNamedLWLockTranche("pulsar_pg dispatch", 1);
}

void
DispatchStateShmemInit(void)
{
	HASHCTL		info;
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	Dispatch = ShmemInitStruct("pulsar_pg dispatch", sizeof(DispatchShared),
							   &found);
	if (!found)
		Dispatch->lock = &(GetNamedLWLockTranche("pulsar_pg dispatch"))->lock;
	info.keysize = sizeof(DispatchKey);
	info.entrysize = sizeof(DispatchState);
	DispatchStates = ShmemInitHash("pulsar_pg dispatch states",
								   pulsar_max_cursors, pulsar_max_cursors,
								   &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Forgets the dispatch state of every subscription of a database: after
 * DROP DATABASE, and at the commit of CREATE EXTENSION (subscription and
 * ledger ids start again from 1 after DROP EXTENSION).  Must not fail.
 */
void
dispatch_state_forget_database(Oid database_id)
{
	HASH_SEQ_STATUS status;
	DispatchState *state;

	if (Dispatch == NULL)
		return;
	LWLockAcquire(Dispatch->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, DispatchStates);
	while ((state = hash_seq_search(&status)) != NULL)
	{
		if (state->key.database_id == database_id)
			hash_search(DispatchStates, &state->key, HASH_REMOVE, NULL);
	}
	LWLockRelease(Dispatch->lock);
}

/* For pulsar.shared_memory_usage(): entries of every database. */
int64
dispatch_state_usage(void)
{
	int64		entries;

	LWLockAcquire(Dispatch->lock, LW_SHARED);
	entries = hash_get_num_entries(DispatchStates);
	LWLockRelease(Dispatch->lock);
	return entries;
}

static void
make_dispatch_key(DispatchKey *key, int64 subscription_id, int64 ledger_id)
{
	memset(key, 0, sizeof(DispatchKey));
	key->database_id = MyDatabaseId;
	key->subscription_id = subscription_id;
	key->ledger_id = ledger_id;
}

/*
 * The shared state of a subscription in a partition, created if missing.
 * Entries are only removed under the exclusive lock, at the commit of
 * unsubscribe or seek, which exclude receivers while they look (a receive
 * sleeping between its looks may not hold the lock), so the pointer stays
 * valid for one look.
 */
DispatchState *
dispatch_state(int64 subscription_id, int64 ledger_id)
{
	DispatchKey key;
	DispatchState *state;
	bool		found;

	make_dispatch_key(&key, subscription_id, ledger_id);
	LWLockAcquire(Dispatch->lock, LW_SHARED);
	state = hash_search(DispatchStates, &key, HASH_FIND, NULL);
	LWLockRelease(Dispatch->lock);
	if (state != NULL)
		return state;

	LWLockAcquire(Dispatch->lock, LW_EXCLUSIVE);
	state = hash_search(DispatchStates, &key, HASH_FIND, NULL);
	found = state != NULL;
	if (!found && hash_get_num_entries(DispatchStates) < pulsar_max_cursors)
		state = hash_search(DispatchStates, &key, HASH_ENTER_NULL, &found);
	if (state == NULL)
	{
		LWLockRelease(Dispatch->lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many subscription cursors in use"),
				 errdetail("Shared memory holds the dispatch state of at most %d subscription partitions.",
						   pulsar_max_cursors),
				 errhint("Increase pulsar_pg.max_cursors and restart the server.")));
	}
	if (!found)
	{
		SpinLockInit(&state->mutex);
		state->read_position = -1;
		state->consumer_id = -1;
		state->rewinds = 0;
		state->delivered = 0;
		state->window_start = GetCurrentTimestamp();
		state->window_count = 0;
		state->rate = 0;
	}
	LWLockRelease(Dispatch->lock);
	return state;
}

/*
 * Messages per second handed out lately, and in all, for statistics.
 */
double
dispatch_state_rate_out(int64 subscription_id, int64 ledger_id, int64 *delivered)
{
	DispatchKey key;
	DispatchState *state;
	double		rate = 0;

	*delivered = 0;
	if (Dispatch == NULL)
		return 0;
	make_dispatch_key(&key, subscription_id, ledger_id);
	LWLockAcquire(Dispatch->lock, LW_SHARED);
	state = hash_search(DispatchStates, &key, HASH_FIND, NULL);
	if (state != NULL)
	{
		TimestampTz now = GetCurrentTimestamp();

		SpinLockAcquire(&state->mutex);
		*delivered = (int64) state->delivered;
		/* an idle subscription's last rate goes stale */
		if (!TimestampDifferenceExceeds(state->window_start, now, 2000))
			rate = state->rate;
		SpinLockRelease(&state->mutex);
	}
	LWLockRelease(Dispatch->lock);
	return rate;
}

/*
 * The read position of a subscription in a partition; -1 if nothing was
 * handed out since start-up.
 */
int64
dispatch_state_read_position(int64 subscription_id, int64 ledger_id)
{
	DispatchKey key;
	DispatchState *state;
	int64		read_position = -1;

	if (Dispatch == NULL)
		return -1;
	make_dispatch_key(&key, subscription_id, ledger_id);
	LWLockAcquire(Dispatch->lock, LW_SHARED);
	state = hash_search(DispatchStates, &key, HASH_FIND, NULL);
	if (state != NULL)
	{
		SpinLockAcquire(&state->mutex);
		read_position = state->read_position;
		SpinLockRelease(&state->mutex);
	}
	LWLockRelease(Dispatch->lock);
	return read_position;
}

void
dispatch_state_count_delivered(DispatchState *state, int count)
{
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&state->mutex);
	state->delivered += count;
	state->window_count += count;
	if (TimestampDifferenceExceeds(state->window_start, now, 1000))
	{
		state->rate = state->window_count /
			((now - state->window_start) / (double) USECS_PER_SEC);
		state->window_start = now;
		state->window_count = 0;
	}
	SpinLockRelease(&state->mutex);
}

static void
remember_reset(List **resets, int64 subscription_id)
{
	Reset	   *reset = subxact_item_append(resets, sizeof(Reset));

	reset->subscription_id = subscription_id;
}

/*
 * The open transaction unsubscribed, seeked, changed the type or deleted
 * the subscription's topic.
 */
void
dispatch_state_reset_at_commit(int64 subscription_id)
{
	remember_reset(&resets_at_commit, subscription_id);
}

/* The open transaction created the subscription. */
void
dispatch_state_reset_at_abort(int64 subscription_id)
{
	remember_reset(&resets_at_abort, subscription_id);
}

void
dispatch_state_remember_rewind(int64 subscription_id, int64 ledger_id, int64 first_entry)
{
	Rewind	   *rewind = subxact_item_append(&rewinds, sizeof(Rewind));

	make_dispatch_key(&rewind->key, subscription_id, ledger_id);
	rewind->first_entry = first_entry;
}

/* notes that the open transaction was handed entries first..last */
void
dispatch_state_note_received(int64 subscription_id, int64 ledger_id, int64 first, int64 last)
{
	int			level = GetCurrentTransactionNestLevel();
	ReceivedRun *run;

	/*
	 * What follows the partition's latest run extends it (receives of a
	 * partitioned topic interleave their partitions' runs)
	 */
	for (int i = list_length(received_runs) - 1; i >= 0; i--)
	{
		run = list_nth(received_runs, i);
		if (run->subscription_id != subscription_id ||
			run->ledger_id != ledger_id)
			continue;
		if (run->subxact.nest_level == level && first == run->last + 1)
		{
			run->last = last;
			return;
		}
		break;
	}
	run = subxact_item_append(&received_runs, sizeof(ReceivedRun));
	run->subscription_id = subscription_id;
	run->ledger_id = ledger_id;
	run->first = first;
	run->last = last;
}

/*
 * Whether the open transaction was handed an entry from 'first' to 'last'
 * of an exclusive or failover subscription; if so, sets *entry to the
 * lowest.
 */
bool
dispatch_state_received_in_transaction(int64 subscription_id, int64 ledger_id, int64 first,
									   int64 last, int64 *entry)
{
	ListCell   *lc;
	bool		found = false;

	foreach(lc, received_runs)
	{
		ReceivedRun *run = lfirst(lc);

		if (run->subscription_id == subscription_id &&
			run->ledger_id == ledger_id &&
			run->first <= last && run->last >= first &&
			(!found || Max(run->first, first) < *entry))
		{
			*entry = Max(run->first, first);
			found = true;
		}
	}
	return found;
}

static void
apply_rewind(Rewind *rewind)
{
	DispatchState *state;

	LWLockAcquire(Dispatch->lock, LW_SHARED);
	state = hash_search(DispatchStates, &rewind->key, HASH_FIND, NULL);
	if (state != NULL)
	{
		SpinLockAcquire(&state->mutex);
		if (state->read_position > rewind->first_entry)
			state->read_position = rewind->first_entry;
		/* counted even when the position was lower: see receive_from_ledger */
		state->rewinds++;
		SpinLockRelease(&state->mutex);
	}
	LWLockRelease(Dispatch->lock);
}

static void
apply_resets(List *resets)
{
	HASH_SEQ_STATUS status;
	DispatchState *state;

	if (resets == NIL)
		return;
	LWLockAcquire(Dispatch->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, DispatchStates);
	while ((state = hash_seq_search(&status)) != NULL)
	{
		ListCell   *lc;

		if (state->key.database_id != MyDatabaseId)
			continue;
		foreach(lc, resets)
			if (state->key.subscription_id ==
				((Reset *) lfirst(lc))->subscription_id)
			{
				hash_search(DispatchStates, &state->key, HASH_REMOVE, NULL);
				break;
			}
	}
	LWLockRelease(Dispatch->lock);
}

static void
dispatch_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (Dispatch == NULL)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			apply_resets(resets_at_commit);
			rewinds = NIL;
			resets_at_commit = NIL;
			resets_at_abort = NIL;
			received_runs = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			foreach(lc, rewinds)
				apply_rewind(lfirst(lc));
			apply_resets(resets_at_abort);
			rewinds = NIL;
			resets_at_commit = NIL;
			resets_at_abort = NIL;
			received_runs = NIL;
			break;
		default:
			break;
	}
}

static void
dispatch_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	List	   *aborted;
	ListCell   *lc;

	if (Dispatch == NULL)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		aborted = subxact_items_take_aborted(&rewinds);
		foreach(lc, aborted)
			apply_rewind(lfirst(lc));
		list_free(aborted);
		/* subscriptions the subtransaction created are gone */
		aborted = subxact_items_take_aborted(&resets_at_abort);
		apply_resets(aborted);
		list_free(aborted);
		/* its messages were given back */
		list_free(subxact_items_take_aborted(&received_runs));
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		subxact_items_to_parent(rewinds);
		subxact_items_to_parent(resets_at_abort);
		subxact_items_to_parent(received_runs);
	}
}

void
DispatchStateInit(void)
{
	RegisterXactCallback(dispatch_xact_callback, NULL);
	RegisterSubXactCallback(dispatch_subxact_callback, NULL);
}
