/*-------------------------------------------------------------------------
 *
 * read_position.c
 *	  Position assignment and the max read position of every partition.
 *
 * The invariant kept here (DESIGN invariant 1): no reader ever skips a
 * message.  Positions (entry ids) are handed out in publish order, but the
 * transactions that hold them commit in any order.  A reader may therefore
 * read a partition only up to its *max read position*: one below the lowest
 * entry still reserved by an open transaction, or the last entry handed out
 * when none is open.  Positions of aborted transactions become gaps.
 *
 * How it holds:
 *	- ReserveEntries() advances a partition's next_entry and, in the same
 *	  spinlock-protected critical section, links a reservation carrying the
 *	  first entry it took into the partition's list.  A transaction keeps
 *	  only its first reservation per partition: later ones are above it.
 *	- Entries are handed out in increasing order under that spinlock and
 *	  reservations are appended, so each partition's list is sorted by first
 *	  entry and its head is the lowest open reservation.
 *	- The transaction callback unlinks the reservations at COMMIT or ABORT.
 *	  PostgreSQL calls it after the transaction has become visible to new
 *	  snapshots (ProcArrayEndTransaction), so a reader that reads the max
 *	  read position and only then takes its snapshot sees every committed
 *	  entry at or below it.
 *	- Shared memory is lost on a crash; a partition's state is rebuilt the
 *	  first time it is used, from the highest entry stored in its tables
 *	  (dead tuples included, so ids of aborted sends are not handed out
 *	  twice while their tuples remain).
 *	- A transaction that holds reservations cannot be prepared: they would
 *	  outlive the session that releases them.
 *	- When a release moves the max read position (it was the oldest
 *	  reservation), the partition is marked and queued for the database's
 *	  worker (worker.c), which notifies subscribers; the mark is cleared
 *	  when the worker reads the position, so each move queues the partition
 *	  at most once until the worker has looked.
 *
 * Locking: PositionState->lock (an LWLock) protects the hash table's shape.
 * Lookups take it shared; adding or removing a partition takes it
 * exclusive.  Each partition's spinlock protects its next_entry and its
 * reservation list.  PositionState->freelist_mutex protects the list of free
 * reservation slots.  Order: lock, then a partition's spinlock; the freelist
 * spinlock is never held together with another spinlock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "read_position.h"
#include "worker.h"

#define NO_RESERVATION	(-1)

/* ledger ids are per database */
typedef struct PartitionKey
{
	Oid			database_id;
	int64		ledger_id;
} PartitionKey;

/* one per partition (ledger) that has been used since start-up */
typedef struct PartitionPosition
{
	PartitionKey key;			/* hash key */
	slock_t		mutex;
	int64		next_entry;		/* next entry id to hand out */
	int			oldest;			/* head of the open reservations, by entry */
	int			newest;			/* tail */
	bool		worker_told;	/* the worker has yet to look at a move of
								 * the max read position */
} PartitionPosition;

/* one per (open transaction, partition) */
typedef struct Reservation
{
	int64		ledger_id;
	int64		first_entry;
	int			prev;
	int			next;			/* also links the free list */
} Reservation;

typedef struct PositionSharedState
{
	LWLock	   *lock;
	ConditionVariable published;	/* broadcast when positions become readable */
	slock_t		freelist_mutex;
	int			free_head;
	Reservation reservations[FLEXIBLE_ARRAY_MEMBER];
} PositionSharedState;

/* what this backend's open transaction holds */
typedef struct HeldReservation
{
	int64		ledger_id;
	int			slot;
	bool		tell_worker;	/* set at release: the position moved */
} HeldReservation;

static PositionSharedState *PositionState = NULL;
static HTAB *PartitionPositions = NULL;

static HeldReservation *held = NULL;
static int	held_count = 0;
static int	held_capacity = 0;

/* ledgers created or deleted by the open transaction */
static List *ledgers_to_forget_at_commit = NIL;
static List *ledgers_to_forget_at_abort = NIL;

static bool exit_callback_registered = false;

static void read_position_exit_callback(int code, Datum arg);

static Size
position_shmem_size(void)
{
	Size		size;

	size = add_size(offsetof(PositionSharedState, reservations),
					mul_size(pulsar_max_open_reservations, sizeof(Reservation)));
	return add_size(size, hash_estimate_size(pulsar_max_partitions,
											 sizeof(PartitionPosition)));
}

void
ReadPositionShmemRequest(void)
{
	RequestAddinShmemSpace(position_shmem_size());
	RequestNamedLWLockTranche("pulsar_pg read position", 1);
}

void
ReadPositionShmemInit(void)
{
	HASHCTL		info;
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);

	PositionState = ShmemInitStruct("pulsar_pg read position",
									offsetof(PositionSharedState, reservations) +
									mul_size(pulsar_max_open_reservations,
											 sizeof(Reservation)),
									&found);
	if (!found)
	{
		PositionState->lock =
			&(GetNamedLWLockTranche("pulsar_pg read position"))->lock;
		SpinLockInit(&PositionState->freelist_mutex);
		ConditionVariableInit(&PositionState->published);
		for (int i = 0; i < pulsar_max_open_reservations; i++)
			PositionState->reservations[i].next =
				(i + 1 < pulsar_max_open_reservations) ? i + 1 : NO_RESERVATION;
		PositionState->free_head = 0;
	}

	info.keysize = sizeof(PartitionKey);
	info.entrysize = sizeof(PartitionPosition);
	PartitionPositions = ShmemInitHash("pulsar_pg partition positions",
									   pulsar_max_partitions,
									   pulsar_max_partitions,
									   &info,
									   HASH_ELEM | HASH_BLOBS);

	LWLockRelease(AddinShmemInitLock);
}

/*
 * Fails clearly when the library was loaded too late to own shared memory.
 */
void
RequireReadPositionState(void)
{
	if (PositionState == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pulsar_pg must be loaded via \"shared_preload_libraries\""),
				 errhint("Add pulsar_pg to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * Finds a partition's shared entry, creating it from its stored rows if
 * this is its first use since start-up.  Returns with PositionState->lock
 * held in shared mode.
 */
static void
make_key(PartitionKey *key, int64 ledger_id)
{
	memset(key, 0, sizeof(PartitionKey));	/* hashed as bytes */
	key->database_id = MyDatabaseId;
	key->ledger_id = ledger_id;
}

static PartitionPosition *
lookup_partition(int64 ledger_id, NextEntryLoader loader)
{
	PartitionPosition *partition;
	PartitionKey key;
	int64		next_entry;
	bool		found;

	make_key(&key, ledger_id);
	LWLockAcquire(PositionState->lock, LW_SHARED);
	partition = hash_search(PartitionPositions, &key, HASH_FIND, NULL);
	if (partition != NULL)
		return partition;
	LWLockRelease(PositionState->lock);

	/*
	 * Read the stored rows without holding the lock; whoever adds the entry
	 * first wins, and both read the same rows: no position can be handed out
	 * before an entry exists.
	 */
	next_entry = loader(ledger_id);

	LWLockAcquire(PositionState->lock, LW_EXCLUSIVE);
	partition = hash_search(PartitionPositions, &key, HASH_ENTER_NULL,
							&found);
	if (partition == NULL)
	{
		LWLockRelease(PositionState->lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many topic partitions in use"),
				 errdetail("Shared memory holds the state of at most %d partitions.",
						   pulsar_max_partitions),
				 errhint("Increase pulsar_pg.max_partitions and restart the server.")));
	}
	if (!found)
	{
		SpinLockInit(&partition->mutex);
		partition->next_entry = next_entry;
		partition->oldest = NO_RESERVATION;
		partition->newest = NO_RESERVATION;
		partition->worker_told = false;
	}
	LWLockRelease(PositionState->lock);

	/* entries are removed only under the exclusive lock, by their owner */
	LWLockAcquire(PositionState->lock, LW_SHARED);
	partition = hash_search(PartitionPositions, &key, HASH_FIND, NULL);
	Assert(partition != NULL);
	return partition;
}

static int
find_held(int64 ledger_id)
{
	for (int i = 0; i < held_count; i++)
		if (held[i].ledger_id == ledger_id)
			return i;
	return -1;
}

static int
allocate_reservation_slot(void)
{
	int			slot;

	SpinLockAcquire(&PositionState->freelist_mutex);
	slot = PositionState->free_head;
	if (slot != NO_RESERVATION)
		PositionState->free_head = PositionState->reservations[slot].next;
	SpinLockRelease(&PositionState->freelist_mutex);
	return slot;
}

static void
free_reservation_slot(int slot)
{
	SpinLockAcquire(&PositionState->freelist_mutex);
	PositionState->reservations[slot].next = PositionState->free_head;
	PositionState->free_head = slot;
	SpinLockRelease(&PositionState->freelist_mutex);
}

/*
 * Hands out 'count' consecutive entry ids of a partition to the current
 * transaction and returns the first.  Until the transaction ends, readers
 * stop below the first entry it took from this partition.
 */
int64
ReserveEntries(int64 ledger_id, int64 count, NextEntryLoader loader)
{
	PartitionPosition *partition;
	Reservation *reservations = PositionState->reservations;
	int			held_index = find_held(ledger_id);
	int			slot = NO_RESERVATION;
	int64		first;

	Assert(count > 0);

	if (!exit_callback_registered)
	{
		before_shmem_exit(read_position_exit_callback, (Datum) 0);
		exit_callback_registered = true;
	}

	if (held_index < 0)
	{
		/* make room first: nothing may fail once the slot is linked */
		if (held_count == held_capacity)
		{
			int			capacity = Max(16, held_capacity * 2);

			held = held ? repalloc(held, capacity * sizeof(HeldReservation))
				: MemoryContextAlloc(TopMemoryContext,
									 capacity * sizeof(HeldReservation));
			held_capacity = capacity;
		}
		slot = allocate_reservation_slot();
		if (slot == NO_RESERVATION)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many open transactions with unpublished messages"),
					 errdetail("At most %d partitions, counted over all open transactions, can hold uncommitted sends.",
							   pulsar_max_open_reservations),
					 errhint("Commit publishing transactions sooner, or increase pulsar_pg.max_open_reservations and restart the server.")));
		held[held_count].ledger_id = ledger_id;
		held[held_count].slot = slot;
		held[held_count].tell_worker = false;
		held_count++;
	}

	PG_TRY();
	{
		partition = lookup_partition(ledger_id, loader);
	}
	PG_CATCH();
	{
		if (slot != NO_RESERVATION)
		{
			held_count--;
			free_reservation_slot(slot);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();

	SpinLockAcquire(&partition->mutex);
	first = partition->next_entry;
	partition->next_entry += count;
	if (slot != NO_RESERVATION)
	{
		Reservation *reservation = &reservations[slot];

		reservation->ledger_id = ledger_id;
		reservation->first_entry = first;
		reservation->next = NO_RESERVATION;
		reservation->prev = partition->newest;
		if (partition->newest != NO_RESERVATION)
			reservations[partition->newest].next = slot;
		else
			partition->oldest = slot;
		partition->newest = slot;
	}
	SpinLockRelease(&partition->mutex);
	LWLockRelease(PositionState->lock);

	return first;
}

/*
 * The highest entry id a reader may read now; -1 if none.  The caller must
 * take its snapshot after this returns.
 */
int64
GetMaxReadPosition(int64 ledger_id, NextEntryLoader loader)
{
	PartitionPosition *partition = lookup_partition(ledger_id, loader);
	int64		max_read_position;

	SpinLockAcquire(&partition->mutex);
	if (partition->oldest != NO_RESERVATION)
		max_read_position =
			PositionState->reservations[partition->oldest].first_entry - 1;
	else
		max_read_position = partition->next_entry - 1;
	SpinLockRelease(&partition->mutex);
	LWLockRelease(PositionState->lock);

	return max_read_position;
}

/*
 * Unlinks every reservation of this backend.  Runs at transaction end and
 * at backend exit, so it must not fail.
 */
static void
release_held_reservations(void)
{
	Reservation *reservations;

	if (held_count == 0)
		return;
	reservations = PositionState->reservations;

	LWLockAcquire(PositionState->lock, LW_SHARED);
	for (int i = 0; i < held_count; i++)
	{
		int			slot = held[i].slot;
		Reservation *reservation = &reservations[slot];
		PartitionPosition *partition;
		PartitionKey key;

		make_key(&key, held[i].ledger_id);
		partition = hash_search(PartitionPositions, &key, HASH_FIND, NULL);
		if (partition == NULL)
			elog(PANIC, "pulsar_pg: reserved partition %lld vanished",
				 (long long) held[i].ledger_id);

		SpinLockAcquire(&partition->mutex);
		if (reservation->prev != NO_RESERVATION)
			reservations[reservation->prev].next = reservation->next;
		else
		{
			/* it was the oldest: the max read position moves */
			partition->oldest = reservation->next;
			held[i].tell_worker = !partition->worker_told;
			partition->worker_told = true;
		}
		if (reservation->next != NO_RESERVATION)
			reservations[reservation->next].prev = reservation->prev;
		else
			partition->newest = reservation->prev;
		SpinLockRelease(&partition->mutex);
	}
	LWLockRelease(PositionState->lock);

	for (int i = 0; i < held_count; i++)
	{
		free_reservation_slot(held[i].slot);
		if (held[i].tell_worker)
			WorkerNotePublished(held[i].ledger_id);
	}
	held_count = 0;

	/* readers waiting in receive(..., timeout) look again */
	ConditionVariableBroadcast(&PositionState->published);
}

/*
 * For the worker: the max read position of a partition it was told had
 * moved, clearing the mark so that the next move tells it again.  Returns
 * false if the partition is no longer tracked.
 */
bool
TakeMovedReadPosition(int64 ledger_id, int64 *max_read_position)
{
	PartitionPosition *partition;
	PartitionKey key;

	make_key(&key, ledger_id);
	LWLockAcquire(PositionState->lock, LW_SHARED);
	partition = hash_search(PartitionPositions, &key, HASH_FIND, NULL);
	if (partition != NULL)
	{
		SpinLockAcquire(&partition->mutex);
		partition->worker_told = false;
		if (partition->oldest != NO_RESERVATION)
			*max_read_position =
				PositionState->reservations[partition->oldest].first_entry - 1;
		else
			*max_read_position = partition->next_entry - 1;
		SpinLockRelease(&partition->mutex);
	}
	LWLockRelease(PositionState->lock);
	return partition != NULL;
}

/*
 * For the worker, when too many partitions moved to queue them all: the
 * partitions of this database whose max read position moved.
 */
List *
MovedPartitions(void)
{
	HASH_SEQ_STATUS status;
	PartitionPosition *partition;
	List	   *moved = NIL;

	LWLockAcquire(PositionState->lock, LW_SHARED);
	hash_seq_init(&status, PartitionPositions);
	while ((partition = hash_seq_search(&status)) != NULL)
	{
		bool		told;

		if (partition->key.database_id != MyDatabaseId)
			continue;
		SpinLockAcquire(&partition->mutex);
		told = partition->worker_told;
		SpinLockRelease(&partition->mutex);
		if (told)
		{
			int64	   *ledger_id = palloc(sizeof(int64));

			*ledger_id = partition->key.ledger_id;
			moved = lappend(moved, ledger_id);
		}
	}
	LWLockRelease(PositionState->lock);
	return moved;
}

/*
 * Waiting for messages to become readable: call PublicationWaitPrepare()
 * before looking, then PublicationWait() between looks, and
 * PublicationWaitDone() at the end, so that no commit is missed.
 */
void
PublicationWaitPrepare(void)
{
	ConditionVariablePrepareToSleep(&PositionState->published);
}

void
PublicationWait(long timeout_ms)
{
	(void) ConditionVariableTimedSleep(&PositionState->published, timeout_ms,
									   PG_WAIT_EXTENSION);
}

void
PublicationWaitDone(void)
{
	ConditionVariableCancelSleep();
}

/*
 * Drops shared entries of partitions whose storage is gone.  Their ids are
 * never used again, so nobody can be reserving in them.
 */
static void
forget_ledgers(List *ledgers)
{
	ListCell   *lc;

	if (ledgers == NIL)
		return;
	LWLockAcquire(PositionState->lock, LW_EXCLUSIVE);
	foreach(lc, ledgers)
	{
		PartitionKey key;

		make_key(&key, *(int64 *) lfirst(lc));
		hash_search(PartitionPositions, &key, HASH_REMOVE, NULL);
	}
	LWLockRelease(PositionState->lock);
}

/*
 * Forgets every partition of the current database.  CREATE EXTENSION calls
 * it: ledger ids start again from 1 after DROP EXTENSION.
 */
void
ForgetDatabasePartitions(void)
{
	HASH_SEQ_STATUS status;
	PartitionPosition *partition;

	LWLockAcquire(PositionState->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, PartitionPositions);
	while ((partition = hash_seq_search(&status)) != NULL)
	{
		if (partition->key.database_id == MyDatabaseId)
			hash_search(PartitionPositions, &partition->key, HASH_REMOVE,
						NULL);
	}
	LWLockRelease(PositionState->lock);
}

static void
remember_ledger(List **list, int64 ledger_id)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	int64	   *copy = palloc(sizeof(int64));

	*copy = ledger_id;
	*list = lappend(*list, copy);
	MemoryContextSwitchTo(old);
}

/* The current transaction deleted this ledger's storage. */
void
ForgetLedgerAtCommit(int64 ledger_id)
{
	remember_ledger(&ledgers_to_forget_at_commit, ledger_id);
}

/* Whether the current transaction created this ledger. */
bool
LedgerCreatedInTransaction(int64 ledger_id)
{
	ListCell   *lc;

	foreach(lc, ledgers_to_forget_at_abort)
		if (*(int64 *) lfirst(lc) == ledger_id)
			return true;
	return false;
}

/* The current transaction created this ledger. */
void
ForgetLedgerAtAbort(int64 ledger_id)
{
	remember_ledger(&ledgers_to_forget_at_abort, ledger_id);
}

static void
read_position_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (held_count > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that has published messages"),
						 errdetail("Readers wait for a publishing transaction to end, and a prepared transaction outlives the session that would signal its end.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			release_held_reservations();
			forget_ledgers(ledgers_to_forget_at_commit);
			ledgers_to_forget_at_commit = NIL;
			ledgers_to_forget_at_abort = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			release_held_reservations();
			forget_ledgers(ledgers_to_forget_at_abort);
			ledgers_to_forget_at_commit = NIL;
			ledgers_to_forget_at_abort = NIL;
			break;
		default:
			break;
	}
}

static void
read_position_exit_callback(int code, Datum arg)
{
	/* normally already done by the abort of any open transaction */
	if (PositionState != NULL)
		release_held_reservations();
}

void
ReadPositionInit(void)
{
	RegisterXactCallback(read_position_xact_callback, NULL);
}
