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
 *	- read_position_reserve() advances a partition's next_entry and, in the same
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
 *	  (dead tuples included) and from the ledger's logged high-water mark.
 *	- A transaction that holds reservations cannot be prepared: they would
 *	  outlive the session that releases them.
 *	- When a release moves the max read position (it was the oldest
 *	  reservation), the partition is marked and queued for the database's
 *	  worker (worker.c), which notifies subscribers; the mark is cleared
 *	  when the worker reads the position, so each move queues the partition
 *	  at most once until the worker has looked.
 *
 * DESIGN invariant 0, positions are never reused, whatever VACUUM removed
 * before a restart, a crash or a promotion: the stored rows alone cannot
 * tell which ids were handed out (a rolled-back send leaves dead tuples
 * that VACUUM removes, and a cursor may have acknowledged through them).
 * So each ledger has a high-water mark, WAL-logged ahead of the ids it
 * covers, as a sequence logs ahead: no id at or above a partition's
 * logged_mark is handed out until a writer (catalog.c) has logged a higher
 * mark.  The record is inserted before the ids are handed out, so anything
 * durable that refers to them (a commit of their rows, an ack through them)
 * is later in WAL, and a standby that replayed it replayed the mark too.
 * The mark runs ENTRY_MARK_CHUNK ahead, so senders rarely write it; after a
 * restart ids continue at the mark, leaving a gap as sequences do.
 *
 * Forgetting: a partition's entry is dropped when its ledger's storage is
 * gone, at the commit that removed it (delete_topic, a CREATE EXTENSION that
 * follows a DROP EXTENSION, DROP DATABASE).  An entry that still holds
 * reservations of other transactions (doomed: their storage is gone) is not
 * dropped but *orphaned*: moved to a key no lookup finds, and dropped by the
 * release that empties it.  A reservation points to its entry, so a
 * release never looks it up by key and never finds another ledger's list.
 *
 * Locking: PositionState->lock (an LWLock) protects the hash table's shape.
 * Lookups take it shared; adding, orphaning or removing a partition takes it
 * exclusive.  Each partition's spinlock protects its next_entry, its
 * logged_mark and its reservation list.  PositionState->freelist_mutex
 * protects the list of free reservation slots.  Order: lock, then a
 * partition's spinlock; the freelist spinlock is never held together with
 * another spinlock.  No lock of this file is held while a mark is written.
 *
 * Backlog quotas: each partition also carries what a send to it must do
 * about its backlog quota (backlog_quota.c decides, in the maintenance pass
 * and while a sender is held), under the partition's spinlock.  A count of
 * flagged partitions, an atomic, lets senders skip the lookup while no
 * partition of the server is over its quota.
 *
 * The hash table is of fixed size: pulsar_pg.max_partitions is a hard
 * limit, checked before each insertion, so that the table never takes
 * PostgreSQL's spare shared memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "2_shmem/read_position.h"
#include "2_shmem/worker_signal.h"

#define NO_RESERVATION	(-1)

/* how far ahead of the ids handed out a ledger's mark is logged */
#define ENTRY_MARK_CHUNK	256

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
	int64		logged_mark;	/* ids below it are covered by a logged mark */
	int			oldest;			/* head of the open reservations, by entry */
	int			newest;			/* tail */
	bool		worker_told;	/* the worker has yet to look at a move of
								 * the max read position */
	bool		orphaned;		/* its storage is gone; dropped when empty */
	uint8		backlog_quota;	/* BacklogQuotaState the maintenance set */
} PartitionPosition;

/* one per (open transaction, partition) */
typedef struct Reservation
{
	PartitionPosition *partition;	/* whose list it is linked into */
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
	int			reservations_in_use;	/* under freelist_mutex */
	int64		orphans;		/* orphans made, for their keys; under lock */
	pg_atomic_uint32 quota_flagged; /* partitions whose backlog_quota is set */
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
/* room for the keys of orphans a release empties, as long as 'held' */
static PartitionKey *emptied_orphans = NULL;

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
		PositionState->reservations_in_use = 0;
		PositionState->orphans = 0;
		pg_atomic_init_u32(&PositionState->quota_flagged, 0);
	}

	info.keysize = sizeof(PartitionKey);
	info.entrysize = sizeof(PartitionPosition);
	PartitionPositions = ShmemInitHash("pulsar_pg partition positions",
									   pulsar_max_partitions,
									   pulsar_max_partitions,
									   &info,
									   HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);

	LWLockRelease(AddinShmemInitLock);
}

/*
 * Fails clearly when the library was loaded too late to own shared memory.
 */
void
read_position_require_state(void)
{
	if (PositionState == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pulsar_pg must be loaded via \"shared_preload_libraries\""),
				 errhint("Add pulsar_pg to shared_preload_libraries in postgresql.conf and restart the server.")));
}

static void
make_key(PartitionKey *key, int64 ledger_id)
{
	memset(key, 0, sizeof(PartitionKey));	/* hashed as bytes */
	key->database_id = MyDatabaseId;
	key->ledger_id = ledger_id;
}

/*
 * Finds a partition's shared entry, creating it from its stored rows and
 * logged mark if this is its first use since start-up.  Returns with
 * PositionState->lock held in shared mode.
 */
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
	partition = hash_search(PartitionPositions, &key, HASH_FIND, NULL);
	found = partition != NULL;
	if (!found && hash_get_num_entries(PartitionPositions) < pulsar_max_partitions)
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
		/* whatever the mark says, the next id handed out logs a new one */
		partition->logged_mark = next_entry;
		partition->oldest = NO_RESERVATION;
		partition->newest = NO_RESERVATION;
		partition->worker_told = false;
		partition->orphaned = false;
		partition->backlog_quota = BACKLOG_QUOTA_NONE;
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
	{
		PositionState->free_head = PositionState->reservations[slot].next;
		PositionState->reservations_in_use++;
	}
	SpinLockRelease(&PositionState->freelist_mutex);
	return slot;
}

static void
free_reservation_slot(int slot)
{
	SpinLockAcquire(&PositionState->freelist_mutex);
	PositionState->reservations[slot].next = PositionState->free_head;
	PositionState->free_head = slot;
	PositionState->reservations_in_use--;
	SpinLockRelease(&PositionState->freelist_mutex);
}

/*
 * A reservation slot for a partition the transaction holds none of yet,
 * remembered in 'held'.  Room is made first: nothing may fail once the
 * slot is linked.
 */
static int
hold_new_reservation(int64 ledger_id)
{
	int			slot;

	if (held_count == held_capacity)
	{
		int			capacity = Max(16, held_capacity * 2);

		held = held ? repalloc(held, capacity * sizeof(HeldReservation))
			: MemoryContextAlloc(TopMemoryContext,
								 capacity * sizeof(HeldReservation));
		emptied_orphans = emptied_orphans ?
			repalloc(emptied_orphans, capacity * sizeof(PartitionKey)) :
			MemoryContextAlloc(TopMemoryContext,
							   capacity * sizeof(PartitionKey));
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
	return slot;
}

/*
 * Returns the partition with PositionState->lock and its spinlock held,
 * once 'count' more ids stay below its logged mark; logs a higher mark
 * first when they would not, with neither lock held.
 */
static PartitionPosition *
lock_partition_under_mark(int64 ledger_id, int64 count,
						  NextEntryLoader loader, EntryMarkWriter log_mark)
{
	PartitionPosition *partition;
	bool		unlogged = false;

	for (;;)
	{
		int64		mark;
		int64		logged;

		partition = lookup_partition(ledger_id, loader);
		SpinLockAcquire(&partition->mutex);
		if (partition->next_entry + count <= partition->logged_mark ||
			unlogged)
			return partition;	/* with both locks held */
		mark = partition->next_entry + count + ENTRY_MARK_CHUNK;
		SpinLockRelease(&partition->mutex);
		LWLockRelease(PositionState->lock);

		/* the record goes to WAL before any id below 'mark' is ours */
		logged = log_mark(ledger_id, mark);

		partition = lookup_partition(ledger_id, loader);
		SpinLockAcquire(&partition->mutex);
		if (logged < 0)
			unlogged = true;	/* an installation without marks */
		else if (logged > partition->logged_mark)
			partition->logged_mark = logged;
		SpinLockRelease(&partition->mutex);
		LWLockRelease(PositionState->lock);
	}
}

/* Links a new reservation as the partition's newest; caller holds its spinlock. */
static void
link_reservation(PartitionPosition *partition, int slot, int64 first)
{
	Reservation *reservations = PositionState->reservations;
	Reservation *reservation = &reservations[slot];

	reservation->partition = partition;
	reservation->first_entry = first;
	reservation->next = NO_RESERVATION;
	reservation->prev = partition->newest;
	if (partition->newest != NO_RESERVATION)
		reservations[partition->newest].next = slot;
	else
		partition->oldest = slot;
	partition->newest = slot;
}

/*
 * Hands out 'count' consecutive entry ids of a partition to the current
 * transaction and returns the first.  Until the transaction ends, readers
 * stop below the first entry it took from this partition.  When the ids
 * would reach the partition's logged mark, 'log_mark' logs a higher one
 * first, with no lock of this file held.
 */
int64
read_position_reserve(int64 ledger_id, int64 count, NextEntryLoader loader,
					  EntryMarkWriter log_mark)
{
	PartitionPosition *partition;
	int			slot = NO_RESERVATION;
	int64		first;

	Assert(count > 0);

	if (!exit_callback_registered)
	{
		before_shmem_exit(read_position_exit_callback, (Datum) 0);
		exit_callback_registered = true;
	}

	if (find_held(ledger_id) < 0)
		slot = hold_new_reservation(ledger_id);

	PG_TRY();
	{
		partition = lock_partition_under_mark(ledger_id, count, loader,
											  log_mark);
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

	/* still holding the lock and the partition's spinlock */
	first = partition->next_entry;
	partition->next_entry += count;
	if (slot != NO_RESERVATION)
		link_reservation(partition, slot, first);
	SpinLockRelease(&partition->mutex);
	LWLockRelease(PositionState->lock);

	return first;
}

/*
 * The highest entry id a reader may read now; -1 if none.  The caller must
 * take its snapshot after this returns.
 */
int64
read_position_max(int64 ledger_id, NextEntryLoader loader)
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
 * The next entry id a partition will hand out.
 */
int64
read_position_peek_next(int64 ledger_id, NextEntryLoader loader)
{
	PartitionPosition *partition = lookup_partition(ledger_id, loader);
	int64		next_entry;

	SpinLockAcquire(&partition->mutex);
	next_entry = partition->next_entry;
	SpinLockRelease(&partition->mutex);
	LWLockRelease(PositionState->lock);
	return next_entry;
}

/*
 * The next entry id and the max read position of a partition, without
 * adding it to shared memory if it is not tracked: for the maintenance
 * pass, which looks at every partition, most of them idle, and must not
 * fill the table that senders need (pulsar_pg.max_partitions), nor track
 * again a ledger whose entry was just forgotten.  An untracked partition
 * holds no reservation, and whoever tracks it next starts from what
 * 'loader' reads here: every id below is settled, and none will be handed
 * out.  'max_read_position' may be NULL.
 */
void
read_position_untracked(int64 ledger_id, NextEntryLoader loader,
						int64 *next_entry, int64 *max_read_position)
{
	PartitionPosition *partition;
	PartitionKey key;
	int64		max_read;

	make_key(&key, ledger_id);
	LWLockAcquire(PositionState->lock, LW_SHARED);
	partition = hash_search(PartitionPositions, &key, HASH_FIND, NULL);
	if (partition != NULL)
	{
		SpinLockAcquire(&partition->mutex);
		*next_entry = partition->next_entry;
		if (partition->oldest != NO_RESERVATION)
			max_read = PositionState->reservations[partition->oldest].first_entry - 1;
		else
			max_read = partition->next_entry - 1;
		SpinLockRelease(&partition->mutex);
		LWLockRelease(PositionState->lock);
	}
	else
	{
		LWLockRelease(PositionState->lock);
		*next_entry = loader(ledger_id);
		max_read = *next_entry - 1;
	}
	if (max_read_position != NULL)
		*max_read_position = max_read;
}

/*
 * Closes a partition's segment early: if its next entry id lies in
 * (start, boundary), the ids up to 'boundary' are never handed out and the
 * next send takes 'boundary'.  Returns the next entry id before the move,
 * or -1 if it did not move (it was elsewhere, or the installation keeps no
 * marks).
 *
 * The skipped ids must stay unused after a crash too, when the partition
 * is rebuilt from its rows and its mark: so the mark is logged at
 * 'boundary' first, with no lock of this file held, before the move.
 */
int64
read_position_skip_to(int64 ledger_id, int64 start, int64 boundary,
					  NextEntryLoader loader, EntryMarkWriter log_mark)
{
	PartitionPosition *partition;
	int64		logged;
	int64		before = -1;

	/* no further: a restart after the skip goes on at 'boundary' */
	logged = log_mark(ledger_id, boundary);
	if (logged < boundary)
		return -1;
	partition = lookup_partition(ledger_id, loader);
	SpinLockAcquire(&partition->mutex);
	if (logged > partition->logged_mark)
		partition->logged_mark = logged;
	if (partition->next_entry > start && partition->next_entry < boundary)
	{
		before = partition->next_entry;
		partition->next_entry = boundary;
	}
	SpinLockRelease(&partition->mutex);
	LWLockRelease(PositionState->lock);
	return before;
}

/*
 * Unlinks every reservation of this backend.  Runs at transaction end and
 * at backend exit, so it must not fail.  Each reservation points to the
 * list it is in, which stays in shared memory while it is not empty: an
 * entry forgotten meanwhile was orphaned, and the release that empties it
 * drops it.
 */
static void
release_held_reservations(void)
{
	Reservation *reservations;
	int			num_emptied_orphans = 0;

	if (held_count == 0)
		return;
	reservations = PositionState->reservations;

	LWLockAcquire(PositionState->lock, LW_SHARED);
	for (int i = 0; i < held_count; i++)
	{
		int			slot = held[i].slot;
		Reservation *reservation = &reservations[slot];
		PartitionPosition *partition = reservation->partition;
		bool		emptied_orphan;

		SpinLockAcquire(&partition->mutex);
		if (reservation->prev != NO_RESERVATION)
			reservations[reservation->prev].next = reservation->next;
		else
		{
			/* it was the oldest: the max read position moves */
			partition->oldest = reservation->next;
			held[i].tell_worker = !partition->worker_told &&
				!partition->orphaned;
			partition->worker_told = true;
		}
		if (reservation->next != NO_RESERVATION)
			reservations[reservation->next].prev = reservation->prev;
		else
			partition->newest = reservation->prev;
		emptied_orphan = partition->orphaned &&
			partition->oldest == NO_RESERVATION;
		SpinLockRelease(&partition->mutex);

		if (emptied_orphan)
			emptied_orphans[num_emptied_orphans++] = partition->key;
	}
	LWLockRelease(PositionState->lock);

	for (int i = 0; i < held_count; i++)
	{
		free_reservation_slot(held[i].slot);
		if (held[i].tell_worker)
			worker_signal_published(held[i].ledger_id);
	}
	held_count = 0;

	if (num_emptied_orphans > 0)
	{
		LWLockAcquire(PositionState->lock, LW_EXCLUSIVE);
		for (int i = 0; i < num_emptied_orphans; i++)
		{
			PartitionPosition *orphan = hash_search(PartitionPositions,
													&emptied_orphans[i],
													HASH_FIND, NULL);

			/* only the release that emptied it removes an orphan */
			if (orphan != NULL && orphan->oldest == NO_RESERVATION)
				hash_search(PartitionPositions, &emptied_orphans[i],
							HASH_REMOVE, NULL);
		}
		LWLockRelease(PositionState->lock);
	}

	/* readers waiting in receive(..., timeout) look again */
	ConditionVariableBroadcast(&PositionState->published);
}

/*
 * For the worker: the max read position of a partition it was told had
 * moved, clearing the mark so that the next move tells it again.  Returns
 * false if the partition is no longer tracked.
 */
bool
read_position_take_moved(int64 ledger_id, int64 *max_read_position)
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
read_position_moved_partitions(void)
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
 * Waiting for messages to become readable: call read_position_wait_prepare()
 * before looking, then read_position_wait() between looks, and
 * read_position_wait_done() at the end, so that no commit is missed.
 */
void
read_position_wait_prepare(void)
{
	ConditionVariablePrepareToSleep(&PositionState->published);
}

void
read_position_wait(long timeout_ms)
{
	(void) ConditionVariableTimedSleep(&PositionState->published, timeout_ms,
									   PG_WAIT_EXTENSION);
}

void
read_position_wait_done(void)
{
	ConditionVariableCancelSleep();
}

/*
 * Sets a partition's backlog quota state, keeping the count of flagged
 * partitions that lets senders skip the lookup while none is.  Caller holds
 * PositionState->lock (shared is enough: the table's shape does not change).
 */
static void
set_backlog_quota(PartitionPosition *partition, BacklogQuotaState state)
{
	BacklogQuotaState old;

	SpinLockAcquire(&partition->mutex);
	old = partition->backlog_quota;
	partition->backlog_quota = state;
	SpinLockRelease(&partition->mutex);
	if (old == BACKLOG_QUOTA_NONE && state != BACKLOG_QUOTA_NONE)
		pg_atomic_fetch_add_u32(&PositionState->quota_flagged, 1);
	else if (old != BACKLOG_QUOTA_NONE && state == BACKLOG_QUOTA_NONE)
		pg_atomic_fetch_sub_u32(&PositionState->quota_flagged, 1);
}

/*
 * What a send to this partition must do about its backlog quota, as the
 * maintenance pass (or a held sender) last found it.  While no partition of
 * the server is over its quota this is one atomic read: the send path pays
 * nothing for quotas it does not hit.  A partition not in shared memory
 * (first use since start-up) is taken as under its quota until the next
 * pass.
 */
BacklogQuotaState
read_position_backlog_quota(int64 ledger_id)
{
	PartitionKey key;
	PartitionPosition *partition;
	BacklogQuotaState state = BACKLOG_QUOTA_NONE;

	if (pg_atomic_read_u32(&PositionState->quota_flagged) == 0)
		return BACKLOG_QUOTA_NONE;
	make_key(&key, ledger_id);
	LWLockAcquire(PositionState->lock, LW_SHARED);
	partition = hash_search(PartitionPositions, &key, HASH_FIND, NULL);
	if (partition != NULL)
	{
		SpinLockAcquire(&partition->mutex);
		state = partition->backlog_quota;
		SpinLockRelease(&partition->mutex);
	}
	LWLockRelease(PositionState->lock);
	return state;
}

/*
 * Whether any partition of the server is over its backlog quota.
 */
bool
read_position_any_backlog_quota(void)
{
	return pg_atomic_read_u32(&PositionState->quota_flagged) > 0;
}

/*
 * Records what sends to a partition must do about its backlog quota.
 */
void
read_position_set_backlog_quota(int64 ledger_id, BacklogQuotaState state,
								NextEntryLoader loader)
{
	PartitionPosition *partition;

	if (state == BACKLOG_QUOTA_NONE)
	{
		PartitionKey key;

		make_key(&key, ledger_id);
		LWLockAcquire(PositionState->lock, LW_SHARED);
		partition = hash_search(PartitionPositions, &key, HASH_FIND, NULL);
		if (partition != NULL)
			set_backlog_quota(partition, state);
		LWLockRelease(PositionState->lock);
		return;
	}
	partition = lookup_partition(ledger_id, loader);
	set_backlog_quota(partition, state);
	LWLockRelease(PositionState->lock);
}

/*
 * Drops a partition's entry, whose storage is gone, or orphans it if
 * reservations (of transactions that can no longer commit into it) are
 * still linked.  Caller holds PositionState->lock exclusively and is not in
 * a sequential scan of the table.
 */
static void
forget_partition(PartitionPosition *partition)
{
	bool		empty;

	set_backlog_quota(partition, BACKLOG_QUOTA_NONE);
	SpinLockAcquire(&partition->mutex);
	empty = partition->oldest == NO_RESERVATION;
	SpinLockRelease(&partition->mutex);

	if (empty)
		hash_search(PartitionPositions, &partition->key, HASH_REMOVE, NULL);
	else if (!partition->orphaned)
	{
		PartitionKey orphan_key;

		/* a key no lookup makes: no database, a ledger id never used */
		memset(&orphan_key, 0, sizeof(PartitionKey));
		orphan_key.database_id = InvalidOid;
		orphan_key.ledger_id = -(++PositionState->orphans);
		SpinLockAcquire(&partition->mutex);
		partition->orphaned = true;
		SpinLockRelease(&partition->mutex);
		/* cannot fail, orphan keys being new; if it did, it stays keyed */
		if (!hash_update_hash_key(PartitionPositions, partition, &orphan_key))
			elog(WARNING, "pulsar_pg: orphan key of partition %lld in use",
				 (long long) partition->key.ledger_id);
	}
}

/*
 * Forgets partitions whose storage the committed or aborted transaction
 * removed.
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
		PartitionPosition *partition;

		make_key(&key, *(int64 *) lfirst(lc));
		partition = hash_search(PartitionPositions, &key, HASH_FIND, NULL);
		if (partition != NULL)
			forget_partition(partition);
	}
	LWLockRelease(PositionState->lock);
}

/*
 * Forgets every partition of a database: after DROP DATABASE, or at the
 * commit of CREATE EXTENSION (ledger ids start again from 1 after DROP
 * EXTENSION).  Nothing of the database may be in use by then but doomed
 * reservations, whose entries are orphaned.
 */
void
read_position_forget_database(Oid database_id)
{
	HASH_SEQ_STATUS status;
	PartitionPosition *partition;

	if (PositionState == NULL)
		return;
	LWLockAcquire(PositionState->lock, LW_EXCLUSIVE);
	/* removing the entry just returned is allowed during a scan */
	hash_seq_init(&status, PartitionPositions);
	while ((partition = hash_seq_search(&status)) != NULL)
	{
		if (partition->key.database_id == database_id &&
			partition->oldest == NO_RESERVATION)
		{
			set_backlog_quota(partition, BACKLOG_QUOTA_NONE);
			hash_search(PartitionPositions, &partition->key, HASH_REMOVE,
						NULL);
		}
	}

	/*
	 * Re-keying is not, and must not allocate: one scan per entry left, of
	 * which there are none unless doomed transactions still hold some.
	 */
	for (;;)
	{
		hash_seq_init(&status, PartitionPositions);
		while ((partition = hash_seq_search(&status)) != NULL)
			if (partition->key.database_id == database_id)
				break;
		if (partition == NULL)
			break;
		hash_seq_term(&status);
		forget_partition(partition);
	}
	LWLockRelease(PositionState->lock);
}

/*
 * For pulsar.shared_memory_usage(): partitions tracked (of every database,
 * orphans included) and reservation slots in use.
 */
void
read_position_usage(int64 *partitions, int64 *reservations)
{
	LWLockAcquire(PositionState->lock, LW_SHARED);
	*partitions = hash_get_num_entries(PartitionPositions);
	LWLockRelease(PositionState->lock);
	SpinLockAcquire(&PositionState->freelist_mutex);
	*reservations = PositionState->reservations_in_use;
	SpinLockRelease(&PositionState->freelist_mutex);
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
read_position_forget_at_commit(int64 ledger_id)
{
	remember_ledger(&ledgers_to_forget_at_commit, ledger_id);
}

/* Whether the current transaction created this ledger. */
bool
read_position_created_in_transaction(int64 ledger_id)
{
	ListCell   *lc;

	foreach(lc, ledgers_to_forget_at_abort)
		if (*(int64 *) lfirst(lc) == ledger_id)
			return true;
	return false;
}

/* The current transaction created this ledger. */
void
read_position_forget_at_abort(int64 ledger_id)
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
