/*-------------------------------------------------------------------------
 *
 * dispatch.c
 *	  pulsar.receive(): handing messages of a subscription to consumers.
 *
 * What is durable lives in the cursor (cursor.c).  What consumers hold is
 * dispatch state, which may be lost on a crash: that only causes
 * redelivery (DESIGN invariant 2).  It has two parts:
 *
 *	- a *read position* per subscription and partition, in shared memory:
 *	  the next entry never handed out.  It starts one above the mark-delete
 *	  position, and goes back there when an exclusive or failover partition
 *	  changes consumer, so the new consumer starts from the first unacked
 *	  message.  A receive that rolls back moves it back to where its scan
 *	  began, so its messages are available again at once, in order.  Such
 *	  a rewind may land while another receive scans: that receive then
 *	  leaves it in place rather than storing its own position over it.
 *	- rows of the unlogged table pulsar.pending for messages that must be
 *	  tracked one by one: what consumers of shared and key_shared
 *	  subscriptions hold, messages waiting for redelivery (nack, a consumer
 *	  that left, an expired acknowledgement timeout), delayed messages of
 *	  shared and key_shared subscriptions (deliver_at ahead: a row due
 *	  then, never delivered, so delivered_at is NULL and its first delivery
 *	  counts no redelivery), and, with an ack timeout, everything
 *	  delivered.  Exclusive and failover consumers without an ack timeout
 *	  write nothing per message, and receive delayed messages at once, as
 *	  in Pulsar.
 *
 * Receivers of one subscription in one partition are serialised for the
 * duration of a receive call by a heavyweight lock (catalog.c), never for
 * their transactions: pending rows of receives still in progress are found
 * with a dirty snapshot and skipped.  They are read before the cursor, so
 * that a message an ack takes out of its row is seen held or acknowledged.
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

#include "access/detoast.h"
#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "4_storage/cursor.h"
#include "5_dispatch/dispatch.h"
#include "1_value/murmur3.h"
#include "4_storage/publish.h"
#include "2_shmem/rate_limit.h"
#include "2_shmem/read_position.h"
#include "3_catalog/policy.h"
#include "4_storage/reader.h"
#include "4_storage/subscription.h"
#include "6_entry/worker.h"

PG_FUNCTION_INFO_V1(pulsar_receive);

/*
 * Acknowledged ranges (and pending rows, beyond what it hands out) a receive
 * loads at a time; entries it may look at in a call without moving the read
 * position past them
 */
#define SCAN_WINDOW			10000
/*
 * most acknowledged ranges a receive reads to count what the consumer of
 * an exclusive or failover subscription holds (count_unacked())
 */
#define UNACKED_COUNT_RANGES	1000
/* points per consumer on the key_shared hash ring */
#define RING_POINTS			64

typedef struct DispatchKey
{
	Oid			database_id;
	int64		subscription_id;
	int64		ledger_id;
} DispatchKey;

typedef struct DispatchState
{
	DispatchKey key;			/* hash key */
	slock_t		mutex;
	int64		read_position;	/* next entry never handed out; -1: unknown */
	int64		consumer_id;	/* exclusive/failover: who it was handed to */
	uint64		rewinds;		/* rewinds applied since start-up */
	uint64		delivered;		/* messages handed out since start-up */
	TimestampTz window_start;	/* rate sampling */
	uint64		window_count;
	double		rate;			/* messages per second, last full window */
} DispatchState;

typedef struct DispatchShared
{
	LWLock	   *lock;
} DispatchShared;

static DispatchShared *Dispatch = NULL;
static HTAB *DispatchStates = NULL;

/* what the open transaction must undo or reset when it ends */
typedef struct Rewind
{
	DispatchKey key;
	int64		first_entry;	/* where a scan of new messages began */
	int			nest_level;
} Rewind;

/* a subscription whose dispatch state goes when the transaction ends */
typedef struct Reset
{
	int64		subscription_id;
	int			nest_level;		/* of the subtransaction that asked */
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
	int64		subscription_id;
	int64		ledger_id;
	int64		first;
	int64		last;
	int			nest_level;
} ReceivedRun;

static List *rewinds = NIL;
static List *resets_at_commit = NIL;
static List *resets_at_abort = NIL;
static List *received_runs = NIL;

void
DispatchShmemRequest(void)
{
	RequestAddinShmemSpace(add_size(sizeof(DispatchShared),
									hash_estimate_size(pulsar_max_cursors,
													   sizeof(DispatchState))));
	RequestNamedLWLockTranche("pulsar_pg dispatch", 1);
}

void
DispatchShmemInit(void)
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
ForgetDatabaseDispatch(Oid database_id)
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
DispatchUsage(void)
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
static DispatchState *
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
dispatch_rate_out(int64 subscription_id, int64 ledger_id, int64 *delivered)
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
dispatch_read_position(int64 subscription_id, int64 ledger_id)
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

static void
count_delivered(DispatchState *state, int count)
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
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	Reset	   *reset = palloc(sizeof(Reset));

	reset->subscription_id = subscription_id;
	reset->nest_level = GetCurrentTransactionNestLevel();
	*resets = lappend(*resets, reset);
	MemoryContextSwitchTo(old);
}

/*
 * The open transaction unsubscribed, seeked, changed the type or deleted
 * the subscription's topic.
 */
void
reset_dispatch_at_commit(int64 subscription_id)
{
	remember_reset(&resets_at_commit, subscription_id);
}

/* The open transaction created the subscription. */
void
reset_dispatch_at_abort(int64 subscription_id)
{
	remember_reset(&resets_at_abort, subscription_id);
}

static void
remember_rewind(int64 subscription_id, int64 ledger_id, int64 first_entry)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	Rewind	   *rewind = palloc(sizeof(Rewind));

	make_dispatch_key(&rewind->key, subscription_id, ledger_id);
	rewind->first_entry = first_entry;
	rewind->nest_level = GetCurrentTransactionNestLevel();
	rewinds = lappend(rewinds, rewind);
	MemoryContextSwitchTo(old);
}

/* notes that the open transaction was handed entries first..last */
static void
note_received(int64 subscription_id, int64 ledger_id, int64 first, int64 last)
{
	int			level = GetCurrentTransactionNestLevel();
	MemoryContext old;
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
		if (run->nest_level == level && first == run->last + 1)
		{
			run->last = last;
			return;
		}
		break;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	run = palloc(sizeof(ReceivedRun));
	run->subscription_id = subscription_id;
	run->ledger_id = ledger_id;
	run->first = first;
	run->last = last;
	run->nest_level = level;
	received_runs = lappend(received_runs, run);
	MemoryContextSwitchTo(old);
}

/*
 * Whether the open transaction was handed an entry from 'first' to 'last'
 * of an exclusive or failover subscription; if so, sets *entry to the
 * lowest.
 */
bool
received_in_transaction(int64 subscription_id, int64 ledger_id, int64 first,
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
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (Dispatch == NULL)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		List	   *aborted = NIL;

		foreach(lc, rewinds)
		{
			Rewind	   *rewind = lfirst(lc);

			if (rewind->nest_level >= level)
			{
				apply_rewind(rewind);
				rewinds = foreach_delete_current(rewinds, lc);
			}
		}
		/* subscriptions the subtransaction created are gone */
		foreach(lc, resets_at_abort)
		{
			Reset	   *reset = lfirst(lc);

			if (reset->nest_level >= level)
			{
				aborted = lappend(aborted, reset);
				resets_at_abort = foreach_delete_current(resets_at_abort, lc);
			}
		}
		apply_resets(aborted);
		list_free(aborted);
		/* its messages were given back */
		foreach(lc, received_runs)
		{
			if (((ReceivedRun *) lfirst(lc))->nest_level >= level)
				received_runs = foreach_delete_current(received_runs, lc);
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, rewinds)
		{
			Rewind	   *rewind = lfirst(lc);

			if (rewind->nest_level >= level)
				rewind->nest_level = level - 1;
		}
		foreach(lc, resets_at_abort)
		{
			Reset	   *reset = lfirst(lc);

			if (reset->nest_level >= level)
				reset->nest_level = level - 1;
		}
		foreach(lc, received_runs)
		{
			ReceivedRun *run = lfirst(lc);

			if (run->nest_level >= level)
				run->nest_level = level - 1;
		}
	}
}

void
DispatchInit(void)
{
	RegisterXactCallback(dispatch_xact_callback, NULL);
	RegisterSubXactCallback(dispatch_subxact_callback, NULL);
}

/*
 * The key hash Key_Shared routing uses: Pulsar's, over the key's UTF-8
 * bytes; messages without a key share one.
 */
static int32
message_key_hash(const StoredMessage *message)
{
	text	   *key;
	char	   *utf8;
	int			len = 0;
	uint32		hash;

	if (message->nulls[SEGMENT_KEY])
		return (int32) (murmur3_32((const unsigned char *) "", 0, 0) & PG_INT32_MAX);

	/*
	 * A key may be large and stored out of line: it is fetched once, and
	 * every copy is freed at once, so that a scan holds no more than one key.
	 */
	key = DatumGetTextPP(message->values[SEGMENT_KEY]);
	utf8 = text_to_utf8(key, &len);
	hash = murmur3_32((const unsigned char *) utf8, len, 0) & PG_INT32_MAX;
	if (utf8 != VARDATA_ANY(key))
		pfree(utf8);
	if ((Pointer) key != DatumGetPointer(message->values[SEGMENT_KEY]))
		pfree(key);
	return (int32) hash;
}

/* one call of receive */
typedef struct Receiver
{
	Subscription *subscription;
	Consumer   *consumer;
	Consumer   *consumers;		/* live ones, failover order */
	int			num_consumers;
	uint32	   *ring_points;	/* key_shared: sorted hash ring */
	int64	   *ring_owners;
	int			ring_size;
	ReturnSetInfo *rsinfo;
	int			remaining;
	int64		bytes;			/* of payloads, keys and properties returned */
	TopicLimits limits;			/* of the topic, read once per call */
} Receiver;

/*
 * Whether a receive may return more: messages wanted, and bytes left under
 * pulsar_pg.max_receive_bytes.  The first message always goes out.
 */
static bool
receiver_wants_more(const Receiver *receiver)
{
	return receiver->remaining > 0 &&
		receiver->bytes < pulsar_max_receive_bytes;
}

/*
 * Counts a message returned against pulsar_pg.max_receive_bytes: the sizes
 * of its payload, key and properties as the client gets them, read from
 * their headers or TOAST pointers without fetching them.
 */
static void
count_returned_bytes(Receiver *receiver, const StoredMessage *message)
{
	static const int columns[] = {SEGMENT_PAYLOAD, SEGMENT_KEY,
	SEGMENT_PROPERTIES};

	for (int i = 0; i < lengthof(columns); i++)
		if (!message->nulls[columns[i]])
			receiver->bytes +=
				toast_raw_datum_size(message->values[columns[i]]);
}

static int
compare_ring(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

/*
 * Key_Shared: each consumer owns the arcs of a hash ring ending at its
 * points, so a consumer joining or leaving moves only its own share of keys.
 */
static void
build_ring(Receiver *receiver)
{
	int			n = receiver->num_consumers * RING_POINTS;
	uint64	   *packed = palloc(sizeof(uint64) * Max(n, 1));

	for (int c = 0; c < receiver->num_consumers; c++)
		for (int p = 0; p < RING_POINTS; p++)
		{
			char	   *point = psprintf("%s#%d", receiver->consumers[c].name, p);
			uint32		hash = murmur3_32((const unsigned char *) point,
										  strlen(point), 0) & PG_INT32_MAX;

			packed[c * RING_POINTS + p] = ((uint64) hash << 32) | (uint32) c;
		}
	qsort(packed, n, sizeof(uint64), compare_ring);
	receiver->ring_points = palloc(sizeof(uint32) * Max(n, 1));
	receiver->ring_owners = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		receiver->ring_points[i] = (uint32) (packed[i] >> 32);
		receiver->ring_owners[i] =
			receiver->consumers[(uint32) packed[i]].consumer_id;
	}
	receiver->ring_size = n;
}

static int64
key_owner(Receiver *receiver, int32 key_hash)
{
	int			low = 0;
	int			high = receiver->ring_size;

	if (receiver->ring_size == 0)
		return -1;
	while (low < high)
	{
		int			mid = (low + high) / 2;

		if (receiver->ring_points[mid] < (uint32) key_hash)
			low = mid + 1;
		else
			high = mid;
	}
	return receiver->ring_owners[low == receiver->ring_size ? 0 : low];
}

/*
 * Failover: the consumer that serves a partition, among those of the best
 * priority, in name order.
 */
static bool
is_active_consumer(Receiver *receiver, const LedgerInfo *ledger)
{
	int			best = 0;

	if (receiver->num_consumers == 0)
		return false;
	while (best < receiver->num_consumers &&
		   receiver->consumers[best].priority == receiver->consumers[0].priority)
		best++;
	return receiver->consumers[Max(ledger->partition_index, 0) % best].consumer_id ==
		receiver->consumer->consumer_id;
}

/* pending rows of a partition, as a dirty snapshot sees them */
typedef struct PendingRows
{
	int			count;
	int64	   *firsts;			/* sorted; runs do not overlap */
	int64	   *lasts;
	int64	   *consumers;		/* -1 if waiting for redelivery */
	int32	   *key_hashes;		/* -1 unless a Key_Shared row */
} PendingRows;

/*
 * Reads the pending rows of a subscription in a partition that end at or
 * after 'from_entry', including those of receives still in progress.
 */
static void
load_pending(Subscription *subscription, int64 ledger_id, int64 from_entry,
			 int limit, PendingRows *rows)
{
	Relation	pending;
	Relation	index;
	TupleDesc	desc;
	ScanKeyData keys[3];
	SysScanDesc scan;
	HeapTuple	tuple;
	SnapshotData dirty;
	Oid			relid;
	AttrNumber	last_attnum;
	int64		start = from_entry;
	int			capacity = 64;
	bool		isnull;

	relid = catalog_relation_oid(CATALOG_PENDING);
	last_attnum = get_attnum(relid, "last_entry");
	pending = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(pending);
	index = index_open(RelationGetPrimaryKeyIndex(pending), AccessShareLock);
	InitDirtySnapshot(dirty);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(subscription->subscription_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(ledger_id));

	/* a run that starts below 'from_entry' may reach it */
	ScanKeyInit(&keys[2], 3, BTLessStrategyNumber, F_INT8LT,
				Int64GetDatum(from_entry));
	scan = systable_beginscan_ordered(pending, index, &dirty, 3, keys);
	tuple = systable_getnext_ordered(scan, BackwardScanDirection);
	if (tuple != NULL &&
		DatumGetInt64(heap_getattr(tuple, last_attnum, desc, &isnull)) >= from_entry)
		start = DatumGetInt64(heap_getattr(tuple, 3, desc, &isnull));
	systable_endscan_ordered(scan);

	ScanKeyInit(&keys[2], 3, BTGreaterEqualStrategyNumber, F_INT8GE,
				Int64GetDatum(start));
	rows->count = 0;
	rows->firsts = palloc(sizeof(int64) * capacity);
	rows->lasts = palloc(sizeof(int64) * capacity);
	rows->consumers = palloc(sizeof(int64) * capacity);
	rows->key_hashes = palloc(sizeof(int32) * capacity);

	scan = systable_beginscan_ordered(pending, index, &dirty, 3, keys);
	while (rows->count < limit &&
		   (tuple = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
	{
		Datum		value;

		if (rows->count == capacity)
		{
			capacity *= 2;
			rows->firsts = repalloc(rows->firsts, sizeof(int64) * capacity);
			rows->lasts = repalloc(rows->lasts, sizeof(int64) * capacity);
			rows->consumers = repalloc(rows->consumers, sizeof(int64) * capacity);
			rows->key_hashes = repalloc(rows->key_hashes, sizeof(int32) * capacity);
		}
		rows->firsts[rows->count] =
			DatumGetInt64(heap_getattr(tuple, 3, desc, &isnull));
		rows->lasts[rows->count] =
			DatumGetInt64(heap_getattr(tuple, last_attnum, desc, &isnull));
		value = heap_getattr(tuple, 4, desc, &isnull);
		rows->consumers[rows->count] = isnull ? -1 : DatumGetInt64(value);
		value = heap_getattr(tuple, 5, desc, &isnull);
		rows->key_hashes[rows->count] = isnull ? -1 : DatumGetInt32(value);
		rows->count++;
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(pending, AccessShareLock);
}

/*
 * Whether another consumer holds a message with this key hash.  Messages
 * waiting for redelivery hold nobody back: they go out first, to the key's
 * owner.
 */
static bool
key_held_by_other(const PendingRows *rows, int32 key_hash, int64 consumer_id)
{
	for (int i = 0; i < rows->count; i++)
		if (rows->key_hashes[i] == key_hash && rows->consumers[i] != -1 &&
			rows->consumers[i] != consumer_id)
			return true;
	return false;
}

/* what one partition's receive has chosen */
typedef struct Batch
{
	Receiver   *receiver;
	const LedgerInfo *ledger;
	Datum		topic;			/* text of the messages' topic column */
	int			want;
	/* new deliveries */
	int			count;
	int64	   *entries;
	int32	   *key_hashes;
	/* delayed messages passed, held back until due (shared, key_shared) */
	TimestampTz now;
	bool		hold_delayed;
	int			num_delayed;
	int			delayed_capacity;
	Datum	   *delayed_entries;
	Datum	   *delayed_hashes;
	Datum	   *delayed_due;
	/* the scan */
	const AckedRanges *acked;
	const PendingRows *held;	/* rows at or above the read position */
	const PendingRows *all_pending;	/* key_shared: every row */
	bool		need_key_hash;	/* Key_Shared routing */
	int			held_index;
	int			acked_index;
	int			scanned;
	/* entries passed that were never stored: aborted sends */
	int64		last_seen;
	int			num_gaps;
	int			gap_capacity;
	int64	   *gap_firsts;
	int64	   *gap_lasts;
	int64		next_read_position;
	bool		position_blocked;
	bool		stopped;
} Batch;

static bool
is_held(Batch *batch, int64 entry_id)
{
	const PendingRows *held = batch->held;

	while (batch->held_index < held->count &&
		   held->lasts[batch->held_index] < entry_id)
		batch->held_index++;
	return batch->held_index < held->count &&
		held->firsts[batch->held_index] <= entry_id;
}

/* entries come in increasing order, so both lookups only move forward */
static bool
is_acked(Batch *batch, int64 entry_id)
{
	const AckedRanges *acked = batch->acked;

	while (batch->acked_index < acked->count &&
		   acked->last[batch->acked_index] < entry_id)
		batch->acked_index++;
	for (int i = batch->acked_index;
		 i < acked->count && acked->first[i] <= entry_id; i++)
		if (entry_id <= acked->last[i])
			return true;
	return false;
}

static void
note_gap(Batch *batch, int64 first, int64 last)
{
	GapAckState state;

	if (last < first)
		return;
	state = gap_ack_state(batch->receiver->subscription,
						  batch->ledger->ledger_id, first, last);
	/* another transaction's range: read no further until it ends */
	if (state == GAP_BEING_ACKED)
		batch->position_blocked = true;
	if (state != GAP_TO_ACK)
		return;
	if (batch->num_gaps == batch->gap_capacity)
	{
		batch->gap_capacity = Max(16, batch->gap_capacity * 2);
		batch->gap_firsts = batch->gap_firsts ?
			repalloc(batch->gap_firsts, sizeof(int64) * batch->gap_capacity) :
			palloc(sizeof(int64) * batch->gap_capacity);
		batch->gap_lasts = batch->gap_lasts ?
			repalloc(batch->gap_lasts, sizeof(int64) * batch->gap_capacity) :
			palloc(sizeof(int64) * batch->gap_capacity);
	}
	batch->gap_firsts[batch->num_gaps] = first;
	batch->gap_lasts[batch->num_gaps] = last;
	batch->num_gaps++;
}

/*
 * Whether the scan may go on; a scan cut short says so.  Entries the read
 * position moved past (acknowledged, held, delayed, handed out) are never
 * looked at again, so passing them costs no budget: a receive behind a long
 * run of delayed messages reaches the ready ones after it in one call.
 * Entries it stayed behind (Key_Shared messages of other consumers, and
 * whatever follows them) the next receive looks at again: only so many of
 * those per call.
 */
static bool
keep_scanning(Batch *batch)
{
	if (batch->position_blocked)
		batch->scanned++;
	if (batch->count >= batch->want ||
		batch->receiver->bytes >= pulsar_max_receive_bytes ||
		batch->scanned >= SCAN_WINDOW + batch->want)
	{
		batch->stopped = true;
		return false;
	}
	return true;
}

/*
 * A message whose deliver_at lies ahead: shared subscriptions track it as
 * a redelivery due then, which no consumer holds yet.
 */
static bool
hold_back_delayed(Batch *batch, const StoredMessage *message, int32 key_hash)
{
	TimestampTz due;

	if (!batch->hold_delayed || message->nulls[SEGMENT_DELIVER_AT])
		return false;
	due = DatumGetTimestampTz(message->values[SEGMENT_DELIVER_AT]);
	if (due <= batch->now)
		return false;
	if (batch->num_delayed == batch->delayed_capacity)
	{
		batch->delayed_capacity = Max(16, batch->delayed_capacity * 2);
		batch->delayed_entries = batch->delayed_entries ?
			repalloc(batch->delayed_entries, sizeof(Datum) * batch->delayed_capacity) :
			palloc(sizeof(Datum) * batch->delayed_capacity);
		batch->delayed_hashes = batch->delayed_hashes ?
			repalloc(batch->delayed_hashes, sizeof(Datum) * batch->delayed_capacity) :
			palloc(sizeof(Datum) * batch->delayed_capacity);
		batch->delayed_due = batch->delayed_due ?
			repalloc(batch->delayed_due, sizeof(Datum) * batch->delayed_capacity) :
			palloc(sizeof(Datum) * batch->delayed_capacity);
	}
	batch->delayed_entries[batch->num_delayed] = Int64GetDatum(message->entry_id);
	batch->delayed_hashes[batch->num_delayed] = Int32GetDatum(key_hash);
	batch->delayed_due[batch->num_delayed] = TimestampTzGetDatum(due);
	batch->num_delayed++;
	return true;
}

/*
 * Writes the pending rows of the delayed messages a scan passed: each is a
 * redelivery due at its time, which no consumer holds yet.
 */
static void
hold_delayed_rows(Batch *batch)
{
	Subscription *subscription = batch->receiver->subscription;
	TimestampTz earliest = DT_NOEND;
	CatalogAccess access;
	Oid			argtypes[5] = {INT8OID, INT8OID, INT8ARRAYOID, INT4ARRAYOID,
	TIMESTAMPTZARRAYOID};
	Datum		values[5];

	if (batch->num_delayed == 0)
		return;
	for (int i = 0; i < batch->num_delayed; i++)
		earliest = Min(earliest, DatumGetTimestampTz(batch->delayed_due[i]));
	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = Int64GetDatum(batch->ledger->ledger_id);
	values[2] = PointerGetDatum(construct_array(batch->delayed_entries,
												batch->num_delayed, INT8OID,
												8, true, TYPALIGN_DOUBLE));
	values[3] = PointerGetDatum(construct_array(batch->delayed_hashes,
												batch->num_delayed, INT4OID,
												4, true, TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_array(batch->delayed_due,
												batch->num_delayed,
												TIMESTAMPTZOID, 8, true,
												TYPALIGN_DOUBLE));
	begin_catalog_access(&access);
	run_catalog_sql("INSERT INTO pulsar.pending"
					" (subscription_id, ledger_id, first_entry, last_entry,"
					"  key_hash, redeliver_at)"
					" SELECT $1, $2, e, e, h, due FROM unnest($3, $4, $5) AS held(e, h, due)",
					5, argtypes, values, NULL, false);
	end_catalog_access(&access);
	pfree(DatumGetPointer(values[2]));
	pfree(DatumGetPointer(values[3]));
	pfree(DatumGetPointer(values[4]));
	WorkerNoteTimer(earliest);
	batch->num_delayed = 0;
}

static bool
choose_new_message(const StoredMessage *message, void *arg)
{
	Batch	   *batch = arg;
	Receiver   *receiver = batch->receiver;
	int64		entry = message->entry_id;
	int32		key_hash = batch->need_key_hash ? message_key_hash(message) : -1;

	/* below the max read position, a missing entry is gone for good */
	note_gap(batch, batch->last_seen + 1, entry - 1);
	batch->last_seen = entry;
	if (is_acked(batch, entry) || is_held(batch, entry))
	{
		if (!batch->position_blocked)
			batch->next_read_position = entry + 1;
		return keep_scanning(batch);
	}
	if (hold_back_delayed(batch, message, key_hash))
	{
		if (!batch->position_blocked)
			batch->next_read_position = entry + 1;
		/* a long run of them is written as it goes, in bounded memory */
		if (batch->num_delayed >= SCAN_WINDOW)
			hold_delayed_rows(batch);
		return keep_scanning(batch);
	}
	if (receiver->subscription->type == SUBSCRIPTION_KEY_SHARED &&
		(key_owner(receiver, key_hash) != receiver->consumer->consumer_id ||
		 key_held_by_other(batch->all_pending, key_hash,
						   receiver->consumer->consumer_id)))
	{
		/* not ours, or an earlier message of its key is still out */
		batch->position_blocked = true;
		return keep_scanning(batch);
	}

	put_message(receiver->rsinfo->setResult, receiver->rsinfo->setDesc,
				batch->ledger, batch->topic, message, 0);
	count_returned_bytes(receiver, message);
	batch->entries[batch->count] = entry;
	batch->key_hashes[batch->count] = key_hash;
	batch->count++;
	if (!batch->position_blocked)
		batch->next_read_position = entry + 1;
	return keep_scanning(batch);
}

/*
 * Publishes a message that was redelivered too often to the subscription's
 * dead-letter topic, with Pulsar's properties, and acknowledges it here:
 * both in the receiving transaction.
 */
static void
dead_letter(Receiver *receiver, const LedgerInfo *ledger,
			StoredMessage *message)
{
	Subscription *subscription = receiver->subscription;
	char	   *origin = psprintf(INT64_FORMAT ":" INT64_FORMAT ":%d",
								  ledger->ledger_id, message->entry_id,
								  ledger->partition_index);
	Jsonb	   *added;
	Jsonb	   *properties;
	int64		entry = message->entry_id;

	added = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											   CStringGetDatum(psprintf("{\"REAL_TOPIC\": \"%s\", \"ORIGIN_MESSAGE_ID\": \"%s\"}",
																		topic_name_string(&subscription->topic->name,
																						  NOT_A_PARTITION),
																		origin))));
	properties = message->nulls[SEGMENT_PROPERTIES] ? added :
		DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
										   message->values[SEGMENT_PROPERTIES],
										   JsonbPGetDatum(added)));
	publish_stored_message(subscription->dead_letter_topic, message,
						   properties);
	ack_entries(subscription, ledger->ledger_id, &entry, 1);
}

/* what a redelivery hands out of one claimed pending row */
typedef struct Redelivery
{
	Receiver   *receiver;
	const LedgerInfo *ledger;
	Datum		topic;			/* text of the messages' topic column */
	int32		redelivery_count;
	int			delivered;
	int64		last_returned;	/* entry of the last message returned */
	bool		stopped;		/* at pulsar_pg.max_receive_bytes */
	MemoryContext scratch;		/* for one dead letter at a time */
} Redelivery;

static bool
is_dead_letter(const Subscription *subscription, int32 redelivery_count)
{
	return subscription->max_redeliver_count > 0 &&
		redelivery_count > subscription->max_redeliver_count;
}

static bool
redeliver_message(const StoredMessage *message, void *arg)
{
	Redelivery *redelivery = arg;
	Receiver   *receiver = redelivery->receiver;
	Subscription *subscription = receiver->subscription;

	if (is_dead_letter(subscription, redelivery->redelivery_count))
	{
		/* its copies (payload, properties) are freed before the next one */
		MemoryContext caller = MemoryContextSwitchTo(redelivery->scratch);
		StoredMessage copy = *message;

		dead_letter(receiver, redelivery->ledger, &copy);
		MemoryContextSwitchTo(caller);
		MemoryContextReset(redelivery->scratch);
		return true;
	}
	put_message(receiver->rsinfo->setResult, receiver->rsinfo->setDesc,
				redelivery->ledger, redelivery->topic, message,
				redelivery->redelivery_count);
	count_returned_bytes(receiver, message);
	if (subscription->type == SUBSCRIPTION_EXCLUSIVE ||
		subscription->type == SUBSCRIPTION_FAILOVER)
		note_received(subscription->subscription_id,
					  redelivery->ledger->ledger_id, message->entry_id,
					  message->entry_id);
	redelivery->delivered++;
	redelivery->last_returned = message->entry_id;
	if (receiver->bytes >= pulsar_max_receive_bytes)
	{
		redelivery->stopped = true;
		return false;
	}
	return true;
}

static void
init_redelivery(Redelivery *redelivery, Receiver *receiver,
				const LedgerInfo *ledger, Datum topic, int32 redelivery_count)
{
	memset(redelivery, 0, sizeof(Redelivery));
	redelivery->receiver = receiver;
	redelivery->ledger = ledger;
	redelivery->topic = topic;
	redelivery->redelivery_count = redelivery_count;
}

/*
 * Pending rows due for redelivery: nacked, released by a consumer that left
 * (or whose late transaction committed after it left), or past the ack
 * timeout; a delayed message was never delivered, so its first time is no
 * redelivery.  A run reaching back to the mark-delete position (an ack
 * passed it while it was being split) counts from the position on.
 */
#define DUE_SQL \
	"SELECT first_entry, last_entry," \
	"       redelivery_count + (delivered_at IS NOT NULL)::int, key_hash" \
	"  FROM pulsar.pending p" \
	" WHERE subscription_id = $1 AND ledger_id = $2 AND last_entry > $6" \
	"   AND (redeliver_at <= clock_timestamp()" \
	"        OR (consumer_id IS NOT NULL AND NOT EXISTS" \
	"            (SELECT 1 FROM pulsar.consumer c" \
	"              WHERE c.consumer_id = p.consumer_id)))" \
	" ORDER BY first_entry LIMIT $7"

/*
 * Hands out what is due for redelivery, in entry order, up to 'want'
 * messages.  Rows are claimed with SKIP LOCKED, so a message an ack or
 * another redelivery is busy with is not sent, and only as many rows as
 * the messages wanted need: an unlocked look counts them first.  A run
 * longer than what is wanted is cut: the rest stays due.
 */
static int
redeliver_due(Receiver *receiver, const LedgerInfo *ledger,
			  const char *topic_name, int64 mark_delete, int want,
			  Snapshot snapshot, const PendingRows *all_pending)
{
	Subscription *subscription = receiver->subscription;
	int64		me = receiver->consumer->consumer_id;
	MemoryContext caller = CurrentMemoryContext;
	CatalogAccess access;
	Oid			argtypes[8] = {INT8OID, INT8OID, INT8OID, INT8ARRAYOID,
	INT8ARRAYOID, INT8OID, INT4OID, INT8ARRAYOID};
	Oid			rest_argtypes[5] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		values[8];
	int			num_rows = 0;
	int64	   *firsts = NULL;	/* the claimed rows, by first entry */
	int64	   *starts = NULL;	/* first entry above the mark-delete position */
	int64	   *cuts = NULL;	/* last entry handed out */
	int64	   *lasts = NULL;
	int32	   *counts = NULL;
	int			taken = 0;
	int			delivered = 0;
	uint64		claimed = 0;
	Datum		topic = CStringGetTextDatum(topic_name);

	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = Int64GetDatum(ledger->ledger_id);
	values[2] = Int64GetDatum(me);
	values[5] = Int64GetDatum(mark_delete);
	values[6] = Int32GetDatum(want);
	begin_catalog_access(&access);
	if (subscription->type == SUBSCRIPTION_KEY_SHARED)
	{
		/*
		 * Only the rows of our keys: locking others' would let their owners
		 * pass them and send later messages of those keys first.  A row
		 * without a key hash was written for another type of subscription.
		 */
		Datum	   *mine;
		int			num_mine = 0;

		values[6] = Int32GetDatum(SCAN_WINDOW);
		run_catalog_sql(DUE_SQL, 7, argtypes, values, NULL, false);
		mine = palloc(sizeof(Datum) * Max(SPI_processed, 1));
		for (uint64 i = 0; i < SPI_processed && num_mine < want; i++)
		{
			bool		isnull;
			Datum		hash = SPI_getbinval(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 4, &isnull);
			int32		key_hash = isnull ? 0 : DatumGetInt32(hash);

			if (key_owner(receiver, key_hash) == me &&
				!key_held_by_other(all_pending, key_hash, me))
				mine[num_mine++] = SPI_getbinval(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, 1, &isnull);
		}
		values[3] = PointerGetDatum(construct_array(mine, num_mine, INT8OID, 8,
													true, TYPALIGN_DOUBLE));
		run_catalog_sql("SELECT first_entry, last_entry,"
						"       redelivery_count + (delivered_at IS NOT NULL)::int"
						"  FROM pulsar.pending"
						" WHERE subscription_id = $1 AND ledger_id = $2"
						"   AND first_entry = ANY ($4)"
						" ORDER BY first_entry FOR UPDATE SKIP LOCKED",
						4, argtypes, values, NULL, false);
		claimed = SPI_processed;
	}
	else
	{
		int64		counted = 0;
		int			needed = 0;

		bool		dead_letters = false;

		run_catalog_sql(DUE_SQL, 7, argtypes, values, NULL, false);
		for (uint64 i = 0; i < SPI_processed && counted < want; i++)
		{
			bool		isnull;
			int64		first = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc, 1, &isnull));
			int64		last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 2, &isnull));
			int32		count = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc, 3, &isnull));

			counted += last - Max(first, mark_delete + 1) + 1;
			needed++;
			dead_letters |= subscription->max_redeliver_count > 0 &&
				count > subscription->max_redeliver_count;
		}

		/*
		 * A dead letter is acknowledged, which for exclusive and failover
		 * subscriptions locks the cursor row; cumulative acks lock it before
		 * the pending rows, so take it first too, or the two deadlock.
		 */
		if (dead_letters &&
			(subscription->type == SUBSCRIPTION_EXCLUSIVE ||
			 subscription->type == SUBSCRIPTION_FAILOVER))
			run_catalog_sql("SELECT 1 FROM pulsar.cursor"
							" WHERE subscription_id = $1 AND ledger_id = $2 FOR UPDATE",
							2, argtypes, values, NULL, false);
		if (needed > 0)
		{
			values[6] = Int32GetDatum(needed);
			run_catalog_sql(DUE_SQL " FOR UPDATE SKIP LOCKED",
							7, argtypes, values, NULL, false);
			claimed = SPI_processed;
		}
	}

	if (claimed > 0)
	{
		firsts = MemoryContextAlloc(caller, sizeof(int64) * claimed);
		starts = MemoryContextAlloc(caller, sizeof(int64) * claimed);
		cuts = MemoryContextAlloc(caller, sizeof(int64) * claimed);
		lasts = MemoryContextAlloc(caller, sizeof(int64) * claimed);
		counts = MemoryContextAlloc(caller, sizeof(int32) * claimed);
		for (int i = 0; i < (int) claimed && taken < want; i++)
		{
			HeapTuple	row = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		length;

			firsts[i] = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
			lasts[i] = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
			counts[i] = DatumGetInt32(SPI_getbinval(row, desc, 3, &isnull));
			starts[i] = Max(firsts[i], mark_delete + 1);
			length = Min(lasts[i] - starts[i] + 1, want - taken);
			cuts[i] = starts[i] + length - 1;
			taken += (int) length;
			num_rows = i + 1;
		}
	}

	/*
	 * Messages that are no dead letters go out now, before the claim is
	 * written: a receive that reaches pulsar_pg.max_receive_bytes cuts the
	 * run where it stopped, and the rest, with the rows after it, stays due.
	 */
	for (int i = 0; i < num_rows; i++)
	{
		Redelivery	redelivery;

		if (is_dead_letter(subscription, counts[i]))
			continue;
		init_redelivery(&redelivery, receiver, ledger, topic, counts[i]);
		scan_ledger(ledger, starts[i] - 1, cuts[i], snapshot,
					redeliver_message, &redelivery);
		delivered += redelivery.delivered;
		if (redelivery.stopped)
		{
			cuts[i] = redelivery.last_returned;
			num_rows = i + 1;
			break;
		}
	}
	if (num_rows > 0)
	{
		Datum	   *first_datums = palloc(sizeof(Datum) * num_rows);
		Datum	   *start_datums = palloc(sizeof(Datum) * num_rows);
		Datum	   *cut_datums = palloc(sizeof(Datum) * num_rows);
		int			last_row = num_rows - 1;

		/* the rest of a run cut short stays due, as it was */
		if (cuts[last_row] < lasts[last_row])
		{
			values[3] = Int64GetDatum(firsts[last_row]);
			values[4] = Int64GetDatum(cuts[last_row] + 1);
			run_catalog_sql("INSERT INTO pulsar.pending"
							" (subscription_id, ledger_id, first_entry, last_entry,"
							"  consumer_id, key_hash, delivered_at, redeliver_at,"
							"  redelivery_count)"
							" SELECT subscription_id, ledger_id, $5, last_entry,"
							"        consumer_id, key_hash, delivered_at, redeliver_at,"
							"        redelivery_count"
							"   FROM pulsar.pending"
							"  WHERE subscription_id = $1 AND ledger_id = $2"
							"    AND first_entry = $4",
							5, rest_argtypes, values, NULL, false);
		}
		for (int i = 0; i < num_rows; i++)
		{
			first_datums[i] = Int64GetDatum(firsts[i]);
			start_datums[i] = Int64GetDatum(starts[i]);
			cut_datums[i] = Int64GetDatum(cuts[i]);
		}
		values[3] = PointerGetDatum(construct_array(first_datums, num_rows,
													INT8OID, 8, true,
													TYPALIGN_DOUBLE));
		values[4] = PointerGetDatum(construct_array(start_datums, num_rows,
													INT8OID, 8, true,
													TYPALIGN_DOUBLE));
		values[5] = Int64GetDatum(subscription->ack_timeout_us);
		values[7] = PointerGetDatum(construct_array(cut_datums, num_rows,
													INT8OID, 8, true,
													TYPALIGN_DOUBLE));
		if (subscription->ack_timeout_us > 0)
			WorkerNoteTimer(GetCurrentTimestamp() + subscription->ack_timeout_us);
		run_catalog_sql("UPDATE pulsar.pending p"
						"   SET first_entry = c.start, last_entry = c.cut,"
						"       consumer_id = $3, delivered_at = clock_timestamp(),"
						"       redeliver_at = CASE WHEN $6 > 0"
						"         THEN clock_timestamp() + $6 * interval '1 microsecond'"
						"         ELSE 'infinity' END,"
						"       redelivery_count = redelivery_count"
						"         + (delivered_at IS NOT NULL)::int"
						"  FROM unnest($4, $5, $8) AS c(first, start, cut)"
						" WHERE p.subscription_id = $1 AND p.ledger_id = $2"
						"   AND p.first_entry = c.first",
						8, argtypes, values, NULL, false);
	}
	end_catalog_access(&access);

	/* messages past the dead-letter limit are acknowledged: after the claim */
	for (int i = 0; i < num_rows; i++)
	{
		Redelivery	redelivery;

		if (!is_dead_letter(subscription, counts[i]))
			continue;
		init_redelivery(&redelivery, receiver, ledger, topic, counts[i]);
		redelivery.scratch = AllocSetContextCreate(CurrentMemoryContext,
												   "pulsar_pg dead letter",
												   ALLOCSET_DEFAULT_SIZES);
		scan_ledger(ledger, starts[i] - 1, cuts[i], snapshot,
					redeliver_message, &redelivery);
		MemoryContextDelete(redelivery.scratch);
	}
	return delivered;
}

/*
 * Records what a consumer now holds of the new messages handed out: one
 * row per run of consecutive entries, or per message for Key_Shared
 * routing, which needs each message's key.
 */
static void
track_delivered(Receiver *receiver, const LedgerInfo *ledger,
				const int64 *entries, const int32 *key_hashes, int count)
{
	Subscription *subscription = receiver->subscription;
	bool		per_message = subscription->type == SUBSCRIPTION_KEY_SHARED;
	CatalogAccess access;
	Oid			argtypes[7] = {INT8OID, INT8OID, INT8OID, INT8ARRAYOID,
	INT8ARRAYOID, INT4ARRAYOID, INT8OID};
	Datum		values[7];
	Datum	   *firsts = palloc(sizeof(Datum) * count);
	Datum	   *lasts = palloc(sizeof(Datum) * count);
	Datum	   *hashes = palloc(sizeof(Datum) * count);
	bool	   *hash_nulls = palloc(sizeof(bool) * count);
	int			num_runs = 0;
	int			dims[1];
	int			lbs[1] = {1};

	for (int i = 0; i < count; i++)
	{
		if (!per_message && num_runs > 0 &&
			entries[i] == DatumGetInt64(lasts[num_runs - 1]) + 1)
		{
			lasts[num_runs - 1] = Int64GetDatum(entries[i]);
			continue;
		}
		firsts[num_runs] = Int64GetDatum(entries[i]);
		lasts[num_runs] = Int64GetDatum(entries[i]);
		hashes[num_runs] = Int32GetDatum(key_hashes[i]);
		hash_nulls[num_runs] = !per_message;
		num_runs++;
	}
	dims[0] = num_runs;
	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = Int64GetDatum(ledger->ledger_id);
	values[2] = Int64GetDatum(receiver->consumer->consumer_id);
	values[3] = PointerGetDatum(construct_array(firsts, num_runs, INT8OID, 8,
												true, TYPALIGN_DOUBLE));
	values[4] = PointerGetDatum(construct_array(lasts, num_runs, INT8OID, 8,
												true, TYPALIGN_DOUBLE));
	values[5] = PointerGetDatum(construct_md_array(hashes, hash_nulls, 1, dims,
												   lbs, INT4OID, 4, true,
												   TYPALIGN_INT));
	values[6] = Int64GetDatum(subscription->ack_timeout_us);
	if (subscription->ack_timeout_us > 0)
		WorkerNoteTimer(GetCurrentTimestamp() + subscription->ack_timeout_us);
	begin_catalog_access(&access);
	run_catalog_sql("INSERT INTO pulsar.pending"
					" (subscription_id, ledger_id, first_entry, last_entry,"
					"  consumer_id, key_hash, delivered_at, redeliver_at)"
					" SELECT $1, $2, f, l, $3, h, clock_timestamp(),"
					"        CASE WHEN $7 > 0"
					"          THEN clock_timestamp() + $7 * interval '1 microsecond'"
					"          ELSE 'infinity' END"
					"   FROM unnest($4, $5, $6) AS d(f, l, h)",
					7, argtypes, values, NULL, false);
	end_catalog_access(&access);
}

/*
 * Hands out up to 'want' messages of one partition to the consumer.
 */
static int
receive_from_ledger(Receiver *receiver, const LedgerInfo *ledger, int want)
{
	Subscription *subscription = receiver->subscription;
	int64		me = receiver->consumer->consumer_id;
	bool		ordered = (subscription->type == SUBSCRIPTION_EXCLUSIVE ||
						   subscription->type == SUBSCRIPTION_FAILOVER);
	bool		track = !ordered || subscription->ack_timeout_us > 0;
	char	   *topic_name = topic_name_string(&subscription->topic->name,
											   ledger->partition_index);
	DispatchState *state;
	int64		mark_delete;
	int64		max_read_position;
	int64		scan_until;
	int64		read_position;
	Snapshot	snapshot;
	CursorView	cursor;
	int64		start;
	bool		new_consumer;
	uint64		rewinds;
	int			held_limit;
	PendingRows held;
	PendingRows all_pending;
	Batch		batch;
	CatalogAccess access;
	Oid			argtypes[8] = {INT8OID, INT8OID, INT8OID, INT8ARRAYOID, INT4ARRAYOID, INT8OID, INT4OID,
	TIMESTAMPTZARRAYOID};
	Datum		values[8];
	int			delivered = 0;

	if (subscription->type == SUBSCRIPTION_FAILOVER &&
		!is_active_consumer(receiver, ledger))
		return 0;

	lock_dispatch(subscription->subscription_id, ledger->ledger_id);
	state = dispatch_state(subscription->subscription_id, ledger->ledger_id);

	/*
	 * Where reading resumes, and how many rewinds the state has seen: a
	 * transaction that rolls back moves the read position back at any time,
	 * and the position this call stores must not undo that (see the end).
	 */
	SpinLockAcquire(&state->mutex);
	new_consumer = ordered && state->consumer_id != me;
	start = new_consumer ? -1 : state->read_position;
	rewinds = state->rewinds;
	SpinLockRelease(&state->mutex);
	/* a new consumer starts from the first unacknowledged message */
	if (start < 0)
		start = cursor_mark_delete(subscription, ledger->ledger_id) + 1;

	/* the order of these two is what keeps consumers from skipping */
	max_read_position = GetMaxReadPosition(ledger->ledger_id, load_next_entry);

	/*
	 * What consumers hold is read before what is acknowledged.  An ack
	 * deletes the pending row of a message and acknowledges it in one
	 * transaction: read in this order, a message is seen held (the row, with
	 * a dirty snapshot, even while the ack is in progress) or acknowledged
	 * (the ack committed before the cursor was read), never neither.  Read
	 * the other way round, an ack committing between the two reads made its
	 * message look new, and handing it out again went unnoticed: this
	 * transaction's own ack then found it pending
	 * (test/isolation/specs/receive_behind_ack.spec).
	 */
	held_limit = SCAN_WINDOW + want;
	memset(&held, 0, sizeof(held));
	if (start <= max_read_position)
		load_pending(subscription, ledger->ledger_id, start, held_limit, &held);
	read_cursor(subscription, ledger->ledger_id, start, SCAN_WINDOW, &cursor);
	mark_delete = cursor.mark_delete;
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	read_position = Max(start, mark_delete + 1);
	if (new_consumer)
	{
		SpinLockAcquire(&state->mutex);
		state->read_position = read_position;
		state->consumer_id = me;
		rewinds = state->rewinds;
		SpinLockRelease(&state->mutex);
	}

	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = Int64GetDatum(ledger->ledger_id);
	values[2] = Int64GetDatum(me);

	/* a consumer at its limit of unacknowledged messages gets nothing new */
	if (subscription->max_unacked_messages > 0)
	{
		int64		holding;

		if (track && !ordered)
		{
			bool		isnull;

			values[6] = Int32GetDatum(subscription->max_unacked_messages);
			begin_catalog_access(&access);
			run_catalog_sql("SELECT coalesce(sum(n), 0)::bigint FROM"
							" (SELECT last_entry - first_entry + 1 AS n FROM pulsar.pending"
							"   WHERE subscription_id = $1 AND consumer_id = $3"
							"   LIMIT $7) held",
							7, argtypes, values, NULL, false);
			holding = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
			end_catalog_access(&access);
		}
		else if (read_position - 1 - mark_delete <=
				 subscription->max_unacked_messages - want)
			holding = 0;		/* it cannot hold enough to matter */
		else
			holding = count_unacked(subscription, ledger->ledger_id,
									mark_delete + 1, read_position - 1,
									UNACKED_COUNT_RANGES);
		want = Min(want, subscription->max_unacked_messages - holding);
	}

	/*
	 * A subscription holding max_unacked_messages_per_subscription
	 * unacknowledged messages in this partition gets nothing new, whichever
	 * consumer asks: Pulsar blocks the subscription until acks come.
	 */
	if (want > 0 && receiver->limits.max_unacked_per_subscription > 0)
	{
		int64		limit = receiver->limits.max_unacked_per_subscription;
		int64		holding;

		if (track && !ordered)
		{
			bool		isnull;

			values[6] = Int32GetDatum((int32) Min(limit, PG_INT32_MAX));
			begin_catalog_access(&access);
			run_catalog_sql("SELECT coalesce(sum(n), 0)::bigint FROM"
							" (SELECT last_entry - first_entry + 1 AS n FROM pulsar.pending"
							"   WHERE subscription_id = $1 AND ledger_id = $2"
							"     AND consumer_id IS NOT NULL"
							"   LIMIT $7) held",
							7, argtypes, values, NULL, false);
			holding = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
			end_catalog_access(&access);
		}
		else if (read_position - 1 - mark_delete <= limit - want)
			holding = 0;		/* it cannot hold enough to matter */
		else
			holding = count_unacked(subscription, ledger->ledger_id,
									mark_delete + 1, read_position - 1,
									UNACKED_COUNT_RANGES);
		want = (int) Min((int64) want, limit - holding);
	}
	if (want <= 0)
	{
		UnregisterSnapshot(snapshot);
		unlock_dispatch(subscription->subscription_id, ledger->ledger_id);
		return 0;
	}

	memset(&all_pending, 0, sizeof(all_pending));
	if (subscription->type == SUBSCRIPTION_KEY_SHARED)
		load_pending(subscription, ledger->ledger_id, 0, INT_MAX, &all_pending);
	if (cursor.any_pending)
		delivered = redeliver_due(receiver, ledger, topic_name, mark_delete,
								  want, snapshot, &all_pending);

	/* then new messages from the read position */
	memset(&batch, 0, sizeof(batch));
	batch.receiver = receiver;
	batch.ledger = ledger;
	batch.topic = CStringGetTextDatum(topic_name);
	batch.want = want - delivered;
	batch.entries = palloc(sizeof(int64) * Max(batch.want, 1));
	batch.key_hashes = palloc(sizeof(int32) * Max(batch.want, 1));
	batch.next_read_position = read_position;
	batch.last_seen = read_position - 1;
	batch.need_key_hash = subscription->type == SUBSCRIPTION_KEY_SHARED;
	batch.hold_delayed = !ordered;
	batch.now = GetCurrentTimestamp();
	if (batch.want > 0 && read_position <= max_read_position &&
		receiver->bytes < pulsar_max_receive_bytes)
	{
		int64		scan_after = read_position - 1;

		batch.acked = &cursor.ranges;
		batch.held = &held;
		batch.all_pending = subscription->type == SUBSCRIPTION_KEY_SHARED ?
			&all_pending : NULL;
		for (;;)
		{
			batch.acked_index = 0;
			batch.held_index = 0;

			/*
			 * When as many ranges or pending rows were loaded as asked for,
			 * nothing is known past the last one: this round of the scan
			 * stops there, and the next loads what follows.
			 */
			scan_until = max_read_position;
			if (cursor.ranges.count >= SCAN_WINDOW)
				scan_until = Min(scan_until,
								 cursor.ranges.last[cursor.ranges.count - 1]);
			if (held.count >= held_limit)
				scan_until = Min(scan_until, held.lasts[held.count - 1]);
			scan_ledger(ledger, scan_after, scan_until, snapshot,
						choose_new_message, &batch);
			if (batch.stopped)
				break;
			/* whatever lay past the last message seen was a gap */
			note_gap(&batch, batch.last_seen + 1, scan_until);
			batch.last_seen = scan_until;
			if (!batch.position_blocked)
				batch.next_read_position = scan_until + 1;
			if (scan_until >= max_read_position)
				break;
			scan_after = scan_until;
			/* what is held before what is acknowledged, as above */
			load_pending(subscription, ledger->ledger_id, scan_after + 1,
						 held_limit, &held);
			pfree(cursor.ranges.first);
			pfree(cursor.ranges.last);
			load_acked_ranges(subscription, ledger->ledger_id, scan_after + 1,
							  SCAN_WINDOW, &cursor.ranges);
		}
		delivered += batch.count;
	}
	/* aborted sends are acknowledged, so that the cursor moves past them */
	if (batch.num_gaps > 0)
		ack_ranges(subscription, ledger->ledger_id, batch.gap_firsts,
				   batch.gap_lasts, batch.num_gaps);

	/* delayed messages wait as redeliveries due at their time */
	hold_delayed_rows(&batch);

	/* record what consumers now hold */
	if (ordered)
	{
		int			run_start = 0;

		for (int i = 1; i <= batch.count; i++)
			if (i == batch.count || batch.entries[i] != batch.entries[i - 1] + 1)
			{
				note_received(subscription->subscription_id, ledger->ledger_id,
							  batch.entries[run_start], batch.entries[i - 1]);
				run_start = i;
			}
	}
	if (track && batch.count > 0)
		track_delivered(receiver, ledger, batch.entries, batch.key_hashes,
						batch.count);

	/*
	 * A rewind since this call read the position gives back messages below
	 * it, which the scan may have passed as held: it wins, and what this
	 * call handed out is pending, so later scans pass it.  (Storing the
	 * position over it left those messages behind the read position for
	 * good: test/isolation/specs/receive_rewind.spec.)
	 */
	if (batch.next_read_position != read_position)
	{
		SpinLockAcquire(&state->mutex);
		if (state->rewinds == rewinds)
			state->read_position = batch.next_read_position;
		SpinLockRelease(&state->mutex);
	}

	/*
	 * If this transaction rolls back, what it passed is looked at again: its
	 * messages come back first, and the delayed messages and aborted entries
	 * it recorded are recorded again, even when it handed out nothing.  A
	 * Key_Shared scan held back at a message of another consumer's key
	 * leaves the position where it was, but its messages further on may
	 * have been passed as held by a later scan, which moved it: it rewinds
	 * too.
	 */
	if (batch.next_read_position != read_position || batch.count > 0)
		remember_rewind(subscription->subscription_id, ledger->ledger_id,
						read_position);
	if (delivered > 0)
		count_delivered(state, delivered);

	UnregisterSnapshot(snapshot);
	unlock_dispatch(subscription->subscription_id, ledger->ledger_id);
	return delivered;
}

/*
 * Opens the subscription for a receive: takes its lock, loads it and the
 * consumer (renewing its lease), and what routing needs of the others.
 * What it knows of the other consumers is kept while the subscription keeps
 * its id and type.
 */
static void
open_receiver(Receiver *receiver, TopicInfo *topic, const char *name,
			  const char *consumer_name)
{
	Subscription *subscription = open_subscription(topic, name, AccessShareLock);
	bool		same = receiver->subscription != NULL &&
		receiver->subscription->subscription_id == subscription->subscription_id &&
		receiver->subscription->type == subscription->type;

	receiver->subscription = subscription;
	receiver->consumer = touch_consumer(subscription, consumer_name);
	if (same)
		return;
	if (subscription->type == SUBSCRIPTION_FAILOVER ||
		subscription->type == SUBSCRIPTION_KEY_SHARED ||
		subscription->type == SUBSCRIPTION_SHARED)
		receiver->consumers = live_consumers(subscription,
											 &receiver->num_consumers);
	if (subscription->type == SUBSCRIPTION_KEY_SHARED)
		build_ring(receiver);
}

/*
 * Whether the max read position of a partition of the topic moved from what
 * 'seen' holds.  Neither allocates nor reads a table: a waiting receive
 * asks this on every wake-up.
 */
static bool
topic_moved(TopicInfo *topic, const int64 *seen)
{
	for (int i = 0; i < topic->num_ledgers; i++)
		if (GetMaxReadPosition(topic->ledgers[i].ledger_id, load_next_entry) !=
			seen[i])
			return true;
	return false;
}

/* whether the subscriptions of the topic have a dispatch rate */
static inline bool
dispatch_rate_limited(const Receiver *receiver)
{
	return receiver->limits.dispatch.messages_per_second > 0 ||
		receiver->limits.dispatch.bytes_per_second > 0;
}

/*
 * One look at every partition, from 'first' on, for as many messages as
 * the receive still wants and the subscription's dispatch rate lets go
 * now; what the rate let go and was not handed out is given back, and the
 * bytes handed out are charged.
 */
static void
look_once(Receiver *receiver, TopicInfo *topic, uint32 first)
{
	bool		rate_limited = dispatch_rate_limited(receiver);
	int64		allowed = receiver->remaining;
	int64		delivered = 0;
	int64		bytes_before = receiver->bytes;

	if (rate_limited)
		allowed = RateLimitTakeMessages(topic->topic_id,
										receiver->subscription->subscription_id,
										&receiver->limits.dispatch,
										receiver->remaining);
	for (int i = 0;
		 i < topic->num_ledgers && receiver_wants_more(receiver) &&
		 delivered < allowed;
		 i++)
	{
		LedgerInfo *ledger = &topic->ledgers[(first + i) % topic->num_ledgers];
		int			got = receive_from_ledger(receiver, ledger,
											  (int) Min((int64) receiver->remaining,
														allowed - delivered));

		receiver->remaining -= got;
		delivered += got;
	}
	if (rate_limited)
		RateLimitSettle(topic->topic_id, receiver->subscription->subscription_id,
						&receiver->limits.dispatch, allowed, delivered,
						receiver->bytes - bytes_before);
}

/*
 * Waits, before a receive's first look, until the subscription's dispatch
 * rate has room for a message (and its bytes are not booked more than a
 * second ahead); fails if that would take longer than
 * pulsar_pg.rate_limit_timeout.  Sleeps without the subscription's lock;
 * returns whether it slept (and so gave the lock up).
 */
static bool
wait_for_dispatch_rate(Receiver *receiver, TopicInfo *topic)
{
	int64		wait_us;
	bool		within;

	if (!dispatch_rate_limited(receiver))
		return false;
	wait_us = RateLimitBook(topic->topic_id,
							receiver->subscription->subscription_id,
							&receiver->limits.dispatch, 1, 0, false,
							(int64) pulsar_rate_limit_timeout_ms * 1000, &within);
	if (!within)
		ereport(ERROR,
				(errcode(ERRCODE_RATE_LIMIT_EXCEEDED),
				 errmsg("subscription \"%s\" of topic \"%s\" is over its dispatch rate",
						receiver->subscription->name,
						topic_name_string(&topic->name, NOT_A_PARTITION)),
				 errdetail("The subscription receives %s per second; this receive would wait " INT64_FORMAT " ms, longer than pulsar_pg.rate_limit_timeout (%d ms).",
						   rate_limit_description(&receiver->limits.dispatch),
						   (wait_us + 999) / 1000, pulsar_rate_limit_timeout_ms),
				 errhint("Receive less often, raise pulsar_pg.rate_limit_timeout, or raise the rate with pulsar.set_dispatch_rate().")));
	if (wait_us == 0)
		return false;
	unlock_subscription(topic->topic_id, receiver->subscription->name,
						AccessShareLock);
	RateLimitSleep(wait_us);
	return true;
}

/*
 * receive(topic, subscription, max_messages, timeout, consumer)
 *		RETURNS SETOF pulsar.message
 *
 * A receive with a timeout sleeps between its looks without the
 * subscription's lock, when it has changed nothing yet: a seek or an
 * unsubscribe (which lock it exclusively) then goes ahead at once, instead
 * of waiting for the sleeper, with every other receive of the subscription
 * queued behind it.  After each sleep the receive takes the lock again and
 * reloads the subscription and its consumer, so it fails if either is
 * gone, and its next look starts from where a seek left the cursor.
 * A receive that wrote something (passed aborted entries or delayed
 * messages, released departed consumers) keeps the lock: a seek must not
 * commit under its uncommitted rows.
 */
Datum
pulsar_receive(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic;
	Receiver	receiver;
	char	   *name;
	char	   *consumer_name;
	int32		max_messages;
	int64		timeout_us;
	TimestampTz now;
	TimestampTz deadline;
	CommandId	command_at_start = GetCurrentCommandId(false);
	bool		locked = true;	/* holds the subscription's lock */
	TimestampTz next_look = 0;
	MemoryContext look_context;
	int64	   *seen;			/* max read position of each partition */
	static uint32 next_partition = 0;

	check_can_read("pulsar.receive()");
	PreventCommandIfReadOnly("pulsar.receive()");
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_messages must not be null")));
	max_messages = PG_GETARG_INT32(2);
	check_max_messages(max_messages);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("timeout must not be null"),
				 errhint("Pass '0' to return at once.")));
	if (!interval_to_usecs(PG_GETARG_INTERVAL_P(3), &timeout_us) ||
		timeout_us > MAX_INTERVAL_DAYS * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout is out of range"),
				 errdetail("The longest timeout is %d days.",
						   (int) MAX_INTERVAL_DAYS)));
	if (timeout_us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));

	topic = resolve_subscribed_topic(fcinfo, false);
	name = required_name_argument(fcinfo, 1, "subscription");
	consumer_name = PG_ARGISNULL(4) ? session_consumer_name() :
		text_to_cstring(PG_GETARG_TEXT_PP(4));
	memset(&receiver, 0, sizeof(receiver));
	open_receiver(&receiver, topic, name, consumer_name);
	policy_limits(topic->topic_id, &receiver.limits);
	/* nothing was written yet: the lock may go while it waits */
	if (wait_for_dispatch_rate(&receiver, topic))
		locked = false;

	InitMaterializedSRF(fcinfo, 0);
	receiver.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	receiver.remaining = max_messages;

	/*
	 * Every publishing commit in the cluster wakes a waiting receive.  It
	 * looks again only when a partition of its topic moved, or every 100 ms
	 * for redeliveries that fall due, and each look allocates in a context
	 * of its own, reset after it: however many wake-ups, the memory of the
	 * call stays that of its result.
	 */
	if (timeout_us > 0)
	{
		look_context = AllocSetContextCreate(CurrentMemoryContext,
											 "pulsar_pg receive look",
											 ALLOCSET_DEFAULT_SIZES);
		seen = palloc(sizeof(int64) * topic->num_ledgers);
	}
	else
	{
		/* one look: the call's own memory is freed with it */
		look_context = CurrentMemoryContext;
		seen = NULL;
	}
	/* a timeout reaching past the last representable time waits until then */
	now = GetCurrentTimestamp();
	deadline = timeout_us > END_TIMESTAMP - now ? END_TIMESTAMP :
		now + timeout_us;
	if (timeout_us > 0)
		PublicationWaitPrepare();
	for (;;)
	{
		long		wait_ms;

		now = GetCurrentTimestamp();
		if (now >= next_look || topic_moved(topic, seen))
		{
			uint32		first = next_partition++;
			MemoryContext caller;

			/* a seek or unsubscribe may have committed while it slept */
			if (!locked)
			{
				open_receiver(&receiver, topic, name, consumer_name);
				locked = true;
			}
			caller = MemoryContextSwitchTo(look_context);
			next_look = TimestampTzPlusMilliseconds(now, 100);
			for (int i = 0; seen != NULL && i < topic->num_ledgers; i++)
				seen[i] = GetMaxReadPosition(topic->ledgers[i].ledger_id,
											 load_next_entry);
			look_once(&receiver, topic, first);
			MemoryContextSwitchTo(caller);
			if (timeout_us > 0)
				MemoryContextReset(look_context);
		}
		if (receiver.remaining < max_messages || timeout_us == 0)
			break;
		now = GetCurrentTimestamp();
		wait_ms = TimestampDifferenceMilliseconds(now, deadline);
		if (wait_ms <= 0)
			break;

		/*
		 * Sleep without the subscription's lock if nothing was written since
		 * the call began (no command of it used its command id, so the
		 * counter has not moved): seek and unsubscribe need not wait.
		 */
		if (locked && GetCurrentCommandId(false) == command_at_start)
		{
			unlock_subscription(topic->topic_id, name, AccessShareLock);
			locked = false;
		}
		PublicationWait(Max(Min(wait_ms,
								TimestampDifferenceMilliseconds(now, next_look)),
							1));
		CHECK_FOR_INTERRUPTS();
	}
	if (timeout_us > 0)
		PublicationWaitDone();
	return (Datum) 0;
}
