/*-------------------------------------------------------------------------
 *
 * cursor.c
 *	  A subscription's durable progress: the cursor, acknowledged ranges,
 *	  and what ack, cursor_ack_cumulative, nack, seek and expiry do to them.
 *
 * A subscription's progress in a partition is durable (DESIGN invariants 2
 * and 5): pulsar.cursor holds the mark-delete position, below which every
 * entry is acknowledged, and pulsar.acked_range the entries acknowledged
 * individually above it, exactly and without a cap.
 *
 * Individual acks only insert ranges, so consumers of a shared
 * subscription never wait for each other's transactions.  The ack that
 * finds the cursor row free (SKIP LOCKED) also folds the ranges that reach
 * the mark-delete position into it.  Everything happens in the caller's
 * transaction: an ack rolled back was never made.
 *
 * Expiry and backlog eviction (expiry.c, backlog_quota.c) move a cursor as
 * a cumulative ack would, and count what they passed in
 * pulsar.cursor_expiry, which this file owns too: a row there is written
 * only by the transaction that holds its cursor's row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "1_value/message_id.h"
#include "2_shmem/dispatch_state.h"
#include "2_shmem/read_position.h"
#include "2_shmem/worker_signal.h"
#include "4_storage/cursor.h"
#include "4_storage/pending.h"
#include "4_storage/reader.h"


/*
 * One cursor per partition, at the beginning (earliest) or after the last
 * message a reader could read now (latest).
 */
void
cursor_create(Subscription *subscription, bool earliest)
{
	TopicInfo  *topic = subscription->topic;
	int64	   *positions = palloc(sizeof(int64) * topic->num_ledgers);
	CatalogAccess access;

	for (int i = 0; i < topic->num_ledgers; i++)
		if (!earliest)
			positions[i] = read_position_max(topic->ledgers[i].ledger_id,
											 catalog_load_next_entry);

	catalog_access_begin(&access);
	for (int i = 0; i < topic->num_ledgers && earliest; i++)
	{
		LedgerInfo *ledger = &topic->ledgers[i];
		int64		lowest;

		/* no trim passes the position unseen until this commits */
		catalog_lock_ledger_against_trim(ledger->ledger_id);
		lowest = catalog_lowest_stored_segment(ledger->ledger_id);
		positions[i] = lowest < 0 ? -1 : lowest * ledger->segment_entries - 1;
	}
	for (int i = 0; i < topic->num_ledgers; i++)
	{
		Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
		Datum		values[3] = {Int64GetDatum(subscription->subscription_id),
			Int64GetDatum(topic->ledgers[i].ledger_id),
		Int64GetDatum(positions[i])};

		catalog_run_sql("INSERT INTO pulsar.cursor (subscription_id, ledger_id, mark_delete)"
						" VALUES ($1, $2, $3)",
						3, argtypes, values, NULL, false);
	}
	catalog_access_end(&access);
}

/* Caller is inside catalog_access_begin(). */
static int64
read_mark_delete(int64 subscription_id, int64 ledger_id)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(subscription_id),
	Int64GetDatum(ledger_id)};
	bool		isnull;

	catalog_run_sql("SELECT mark_delete FROM pulsar.cursor"
					" WHERE subscription_id = $1 AND ledger_id = $2",
					2, argtypes, values, NULL, true);
	if (SPI_processed == 0)
		elog(ERROR, "cursor of subscription " INT64_FORMAT " in ledger " INT64_FORMAT " is missing",
			 subscription_id, ledger_id);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

int64
cursor_mark_delete(Subscription *subscription, int64 ledger_id)
{
	CatalogAccess access;
	int64		mark_delete;

	catalog_access_begin(&access);
	mark_delete = read_mark_delete(subscription->subscription_id, ledger_id);
	catalog_access_end(&access);
	return mark_delete;
}

/* acknowledged ranges an expiry reads to count what it passed */
#define EXPIRY_COUNT_RANGES		10000

/* columns of pulsar.cursor and pulsar.acked_range, fixed since 0.2.0 */
#define CURSOR_MARK_DELETE_ATTNUM	3
#define ACKED_FIRST_ENTRY_ATTNUM	3
#define ACKED_LAST_ENTRY_ATTNUM		4

/*
 * Scans a table whose primary key starts with (subscription_id, ledger_id)
 * for one subscription's rows in one partition, in key order.  Receiving
 * and acknowledging read cursors on every call: these direct scans cost a
 * fraction of an SPI statement's executor start-up.
 */
SysScanDesc
cursor_begin_partition_scan(Relation table, Relation index, Snapshot snapshot,
							int64 subscription_id, int64 ledger_id)
{
	ScanKeyData keys[2];

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(subscription_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(ledger_id));
	return systable_beginscan_ordered(table, index, snapshot, 2, keys);
}

/*
 * Scans a subscription's acknowledged ranges in one partition that start
 * between 'low' and 'high' (both included), by first entry.
 */
static SysScanDesc
begin_ranges_between(Relation acked, Relation index, Snapshot snapshot,
					 int64 subscription_id, int64 ledger_id, int64 low,
					 int64 high)
{
	ScanKeyData keys[4];

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(subscription_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(ledger_id));
	ScanKeyInit(&keys[2], ACKED_FIRST_ENTRY_ATTNUM, BTGreaterEqualStrategyNumber,
				F_INT8GE, Int64GetDatum(low));
	ScanKeyInit(&keys[3], ACKED_FIRST_ENTRY_ATTNUM, BTLessEqualStrategyNumber,
				F_INT8LE, Int64GetDatum(high));
	return systable_beginscan_ordered(acked, index, snapshot, 4, keys);
}

static void
append_range(AckedRanges *ranges, int *capacity, int64 first, int64 last)
{
	if (ranges->count == *capacity)
	{
		*capacity *= 2;
		ranges->first = repalloc(ranges->first, sizeof(int64) * *capacity);
		ranges->last = repalloc(ranges->last, sizeof(int64) * *capacity);
	}
	ranges->first[ranges->count] = first;
	ranges->last[ranges->count] = last;
	ranges->count++;
}

/*
 * Reads acknowledged ranges that end at or after 'from_entry', by first
 * entry: those that start below it and reach it, then up to 'limit' that
 * start at or after it.  Both come from index range scans that start at
 * 'from_entry', so the ranges behind it, however many, cost nothing
 * (DESIGN invariant 5).
 *
 * Going back from 'from_entry', the look stops at the first range that
 * does not reach it.  That misses a range reaching it only behind a range
 * nested in it, and ranges rarely overlap at all: an entry is acknowledged
 * by one transaction (a second fails), ranges that start at the same entry
 * merge, and gaps are acknowledged by the receive that passes them.  What
 * remains is a transaction acknowledging entries twice in different calls,
 * and those it received: they lie below the read position unless a
 * rollback moved it back.
 */
#define RANGES_LOOK_BACK 16

static void
read_acked_ranges(int64 subscription_id, int64 ledger_id, int64 from_entry,
				  int64 mark_delete, int limit, Snapshot snapshot,
				  AckedRanges *ranges)
{
	Relation	acked = table_open(catalog_relation_oid(CATALOG_ACKED_RANGE),
								   AccessShareLock);
	Relation	index = index_open(RelationGetPrimaryKeyIndex(acked),
								   AccessShareLock);
	TupleDesc	desc = RelationGetDescr(acked);
	SysScanDesc scan;
	HeapTuple	tuple;
	int			capacity = 16;
	bool		isnull;
	bool		looked_enough = false;
	int64		low = from_entry - RANGES_LOOK_BACK;

	ranges->count = 0;
	ranges->first = palloc(sizeof(int64) * capacity);
	ranges->last = palloc(sizeof(int64) * capacity);

	/*
	 * Ranges that start below 'from_entry' and reach it, nearest first.  Far
	 * above the mark-delete position ('mark_delete', if known), where ranges
	 * may be many, those that start at most RANGES_LOOK_BACK entries below
	 * it come first, then, unless one of them ended the look, those below:
	 * an index scan reads a whole leaf page of what its keys allow, and the
	 * nearest range is most often just behind.
	 */
	if (from_entry - RANGES_LOOK_BACK <= mark_delete + 1)
		low = PG_INT64_MIN;
	for (int part = 0; part < 2 && !looked_enough; part++)
	{
		if (part == 1 && low == PG_INT64_MIN)
			break;

		scan = begin_ranges_between(acked, index, snapshot, subscription_id,
									ledger_id,
									part == 0 ? low : PG_INT64_MIN,
									part == 0 ? from_entry - 1 : low - 1);
		while ((tuple = systable_getnext_ordered(scan, BackwardScanDirection)) != NULL)
		{
			int64		last = DatumGetInt64(heap_getattr(tuple, ACKED_LAST_ENTRY_ATTNUM,
														  desc, &isnull));

			if (last < from_entry)
			{
				looked_enough = true;
				break;
			}
			append_range(ranges, &capacity,
						 DatumGetInt64(heap_getattr(tuple, ACKED_FIRST_ENTRY_ATTNUM,
													desc, &isnull)),
						 last);
		}
		systable_endscan_ordered(scan);
	}
	/* they came last first */
	for (int i = 0, j = ranges->count - 1; i < j; i++, j--)
	{
		int64		first = ranges->first[i];
		int64		last = ranges->last[i];

		ranges->first[i] = ranges->first[j];
		ranges->last[i] = ranges->last[j];
		ranges->first[j] = first;
		ranges->last[j] = last;
	}

	/* then those that start at or after it */
	scan = begin_ranges_between(acked, index, snapshot, subscription_id,
								ledger_id, from_entry, PG_INT64_MAX);
	limit += ranges->count;
	while (ranges->count < limit &&
		   (tuple = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
		append_range(ranges, &capacity,
					 DatumGetInt64(heap_getattr(tuple, ACKED_FIRST_ENTRY_ATTNUM,
												desc, &isnull)),
					 DatumGetInt64(heap_getattr(tuple, ACKED_LAST_ENTRY_ATTNUM,
												desc, &isnull)));
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(acked, AccessShareLock);
}

/*
 * What receive needs of a cursor: the mark-delete position, whether
 * anything is pending above it and whether any of that may be due for
 * redelivery ('live': the subscription's live consumers, NULL if not
 * known), and up to 'limit' acknowledged ranges that
 * end at or after the later of 'ranges_from' and the first entry above the
 * mark-delete position.  All as last committed, whatever the caller's
 * snapshot.
 */
void
cursor_read(Subscription *subscription, int64 ledger_id, int64 ranges_from,
			int limit, const Consumer *live, int num_live, CursorView *view)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	Relation	cursors = table_open(catalog_relation_oid(CATALOG_CURSOR),
									 AccessShareLock);
	Relation	index = index_open(RelationGetPrimaryKeyIndex(cursors),
								   AccessShareLock);
	SysScanDesc scan = cursor_begin_partition_scan(cursors, index, snapshot,
												   subscription->subscription_id,
												   ledger_id);
	HeapTuple	tuple = systable_getnext_ordered(scan, ForwardScanDirection);
	bool		isnull;

	if (tuple == NULL)
		elog(ERROR, "cursor of subscription " INT64_FORMAT " in ledger " INT64_FORMAT " is missing",
			 subscription->subscription_id, ledger_id);
	view->mark_delete = DatumGetInt64(heap_getattr(tuple, CURSOR_MARK_DELETE_ATTNUM,
												   RelationGetDescr(cursors),
												   &isnull));
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(cursors, AccessShareLock);

	view->any_pending = pending_any_above(subscription->subscription_id,
										  ledger_id, view->mark_delete,
										  snapshot, live, num_live,
										  &view->any_due);
	view->ranges_from = Max(ranges_from, view->mark_delete + 1);
	read_acked_ranges(subscription->subscription_id, ledger_id,
					  view->ranges_from, view->mark_delete, limit, snapshot,
					  &view->ranges);
	UnregisterSnapshot(snapshot);
}

/*
 * Loads up to 'limit' acknowledged ranges that end at or after 'from_entry',
 * as last committed.
 */
void
cursor_load_acked_ranges(Subscription *subscription, int64 ledger_id,
						 int64 from_entry, int limit, AckedRanges *ranges)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());

	read_acked_ranges(subscription->subscription_id, ledger_id, from_entry,
					  PG_INT64_MIN, limit, snapshot, ranges);
	UnregisterSnapshot(snapshot);
}

static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* sorts entries and drops repeats; returns how many are left */
static int
sort_distinct(int64 *entries, int count)
{
	int			kept = 0;

	qsort(entries, count, sizeof(int64), compare_int64);
	for (int i = 0; i < count; i++)
		if (kept == 0 || entries[i] != entries[kept - 1])
			entries[kept++] = entries[i];
	return kept;
}

/*
 * Entries that other transactions acknowledged and that this transaction's
 * folds moved under the mark-delete position: the cursor row then carries
 * this transaction's xmin and the ranges that said who acknowledged them
 * are gone, so the conflict checks look here too.
 */
typedef struct FoldedByOthers
{
	int64		subscription_id;
	int64		ledger_id;
	int64		first;
	int64		last;
} FoldedByOthers;

static List *folded_by_others = NIL;	/* in TopTransactionContext */
static LocalTransactionId folded_by_others_lxid = InvalidLocalTransactionId;

static List *
current_folded_by_others(void)
{
	if (folded_by_others_lxid != MyProc->lxid)
	{
		folded_by_others = NIL;
		folded_by_others_lxid = MyProc->lxid;
	}
	return folded_by_others;
}

static void
remember_folded_by_others(int64 subscription_id, int64 ledger_id,
						  int64 first, int64 last)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	FoldedByOthers *folded = palloc(sizeof(FoldedByOthers));

	folded->subscription_id = subscription_id;
	folded->ledger_id = ledger_id;
	folded->first = first;
	folded->last = last;
	folded_by_others = lappend(current_folded_by_others(), folded);
	MemoryContextSwitchTo(old);
}

static bool
was_folded_by_others(int64 subscription_id, int64 ledger_id, int64 entry)
{
	ListCell   *lc;

	foreach(lc, current_folded_by_others())
	{
		FoldedByOthers *folded = lfirst(lc);

		if (folded->subscription_id == subscription_id &&
			folded->ledger_id == ledger_id &&
			entry >= folded->first && entry <= folded->last)
			return true;
	}
	return false;
}

/* the error of an ack of a message another transaction acknowledged */
static void
report_acked_by_other(const char *message_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("message %s was acknowledged by another transaction",
					message_id),
			 errdetail("It was delivered again while this transaction held it; committing would process it twice."),
			 errhint("Roll back this transaction and receive again.")));
}

/*
 * Fails if this transaction's folds moved under the mark-delete position an
 * entry up to 'upto' that another transaction acknowledged and that this
 * one was handed by pulsar.receive().  A cumulative ack covers messages it
 * does not name: one this transaction received was handed to another
 * consumer too (its consumer was replaced while the transaction was open)
 * and is then acknowledged twice, even when the other's ack did not reach
 * the acknowledged message.  Entries that were acknowledged before this
 * transaction received past them were never handed to it, so they do not
 * conflict.
 */
static void
check_received_folded_by_others(Subscription *subscription,
								const LedgerInfo *ledger, int64 upto)
{
	ListCell   *lc;

	foreach(lc, current_folded_by_others())
	{
		FoldedByOthers *folded = lfirst(lc);
		int64		entry;

		if (folded->subscription_id == subscription->subscription_id &&
			folded->ledger_id == ledger->ledger_id && folded->first <= upto &&
			dispatch_state_received_in_transaction(subscription->subscription_id,
												   ledger->ledger_id, folded->first,
												   Min(folded->last, upto), &entry))
			report_acked_by_other(psprintf(INT64_FORMAT ":" INT64_FORMAT ":%d",
										   ledger->ledger_id, entry,
										   ledger->partition_index));
	}
}

/* a cursor row as an acknowledging transaction locked it */
typedef struct LockedCursor
{
	ItemPointerData tid;		/* of the row version this transaction locked */
	int64		mark_delete;
	TransactionId set_by;		/* xmin of the row */
	bool		any_pending;	/* the subscription has pending rows here */
} LockedCursor;

/*
 * Locks a cursor row FOR UPDATE, as SELECT ... FOR UPDATE [SKIP LOCKED]
 * would, and reads it with the acknowledged ranges beside it.  Without
 * 'wait', returns false at once if another transaction holds the row, or
 * if the row is gone (an unsubscribe committed while the worker folded).
 */
static bool
lock_cursor(int64 subscription_id, int64 ledger_id, bool wait,
			LockedCursor *cursor)
{
	Relation	cursors = table_open(catalog_relation_oid(CATALOG_CURSOR),
									 RowExclusiveLock);
	Relation	index = index_open(RelationGetPrimaryKeyIndex(cursors),
								   RowExclusiveLock);
	TupleTableSlot *slot = table_slot_create(cursors, NULL);
	Snapshot	snapshot;
	SysScanDesc scan;
	HeapTuple	tuple;
	ItemPointerData tid;
	TM_FailureData failure;
	TM_Result	result;
	bool		found;
	bool		isnull;
	int			flags = TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS;

	/* a statement of its own: it sees what this transaction did before */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	scan = cursor_begin_partition_scan(cursors, index, snapshot, subscription_id,
									   ledger_id);
	tuple = systable_getnext_ordered(scan, ForwardScanDirection);
	found = tuple != NULL;
	if (found)
		tid = tuple->t_self;
	systable_endscan_ordered(scan);
	index_close(index, NoLock);

	/* READ COMMITTED locks the latest version, as EvalPlanQual would */
	if (!IsolationUsesXactSnapshot())
		flags |= TUPLE_LOCK_FLAG_FIND_LAST_VERSION;
	result = !found ? TM_Deleted :
		table_tuple_lock(cursors, &tid, snapshot, slot,
						 GetCurrentCommandId(true), LockTupleExclusive,
						 wait ? LockWaitBlock : LockWaitSkip, flags, &failure);
	UnregisterSnapshot(snapshot);
	switch (result)
	{
		case TM_Ok:
			break;
		case TM_Updated:
		case TM_Deleted:
			if (found && IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			if (wait)
				elog(ERROR, "cursor of subscription " INT64_FORMAT " in ledger " INT64_FORMAT " is missing",
					 subscription_id, ledger_id);

			/*
			 * Gone with its subscription (READ COMMITTED follows updates):
			 * nothing to fold, as if busy.
			 */
			/* FALLTHROUGH */
		case TM_WouldBlock:
			ExecDropSingleTupleTableSlot(slot);
			table_close(cursors, NoLock);
			return false;
		default:
			elog(ERROR, "unexpected status %d locking the cursor of subscription " INT64_FORMAT " in ledger " INT64_FORMAT,
				 (int) result, subscription_id, ledger_id);
	}
	tuple = ExecFetchSlotHeapTuple(slot, false, NULL);
	cursor->tid = tuple->t_self;
	cursor->mark_delete = DatumGetInt64(heap_getattr(tuple, CURSOR_MARK_DELETE_ATTNUM,
													 RelationGetDescr(cursors),
													 &isnull));
	cursor->set_by = HeapTupleHeaderGetXmin(tuple->t_data);
	ExecDropSingleTupleTableSlot(slot);
	table_close(cursors, NoLock);

	/*
	 * The row is ours now; a transaction that held it before may have
	 * changed ranges and pending rows, so READ COMMITTED looks again (and
	 * the fold reads the ranges with a snapshot taken later still).
	 */
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	cursor->any_pending = pending_any_above(subscription_id, ledger_id,
											PG_INT64_MIN, snapshot, NULL, 0,
											NULL);
	UnregisterSnapshot(snapshot);
	return true;
}

/*
 * Moves a cursor row this transaction locked to a new mark-delete
 * position.  The key does not change, so the update is usually HOT.
 */
static void
update_mark_delete(int64 subscription_id, int64 ledger_id,
				   LockedCursor *cursor, int64 mark_delete)
{
	Relation	cursors = table_open(catalog_relation_oid(CATALOG_CURSOR),
									 RowExclusiveLock);
	Datum		values[3] = {Int64GetDatum(subscription_id),
		Int64GetDatum(ledger_id),
	Int64GetDatum(mark_delete)};
	bool		nulls[3] = {false, false, false};
	HeapTuple	tuple;

	if (RelationGetDescr(cursors)->natts != lengthof(values))
		elog(ERROR, "pulsar.cursor has %d columns, not %d",
			 RelationGetDescr(cursors)->natts, (int) lengthof(values));
	tuple = heap_form_tuple(RelationGetDescr(cursors), values, nulls);
	CatalogTupleUpdate(cursors, &cursor->tid, tuple);
	/* as after an UPDATE statement: later reads of this command see it */
	CommandCounterIncrement();
	cursor->tid = tuple->t_self;
	cursor->mark_delete = mark_delete;
	cursor->set_by = GetCurrentTransactionId();
	heap_freetuple(tuple);
	table_close(cursors, NoLock);
}

/*
 * Deletes the acknowledged ranges, the cursors and the expiry counts of a
 * subscription that goes.  Caller is inside catalog_access_begin().
 */
void
cursor_forget_subscription(int64 subscription_id)
{
	catalog_run_sql_int8("DELETE FROM pulsar.acked_range WHERE subscription_id = $1",
						 1, &subscription_id, false);
	catalog_run_sql_int8("DELETE FROM pulsar.cursor WHERE subscription_id = $1",
						 1, &subscription_id, false);
	/* after the cursor rows, whose holders alone write these */
	if (cursor_expiry_table_exists())
		catalog_run_sql_int8("DELETE FROM pulsar.cursor_expiry WHERE subscription_id = $1",
							 1, &subscription_id, false);
}

/*
 * Locks a cursor row FOR UPDATE, waiting for it, in the order acks take it:
 * a redelivery that may acknowledge dead letters takes it before pending
 * rows.  Caller is inside catalog_access_begin().
 */
void
cursor_lock_row(int64 subscription_id, int64 ledger_id)
{
	int64		args[2] = {subscription_id, ledger_id};

	catalog_run_sql_int8("SELECT 1 FROM pulsar.cursor"
						 " WHERE subscription_id = $1 AND ledger_id = $2 FOR UPDATE",
						 2, args, false);
}

/*
 * Chains the stored ranges, read one at a time by first entry, with this
 * ack's (sorted) from the mark-delete position of a cursor row this
 * transaction locked, and returns how far the chain reaches; counts in
 * 'folded_stored' the stored ranges it passed.  The read stops at the
 * first range that does not reach the chain, so a fold costs what it
 * folds, whatever lies above: the index scans only ranges that start at
 * most one entry above where the chain can reach so far (the mark-delete
 * position, or the end of this ack's ranges if they start there), and
 * scans again above that when the chain grew past it, since an index scan
 * reads a whole leaf page of what its keys allow at once.
 */
static int64
chain_ranges(int64 subscription_id, int64 ledger_id, const int64 *firsts,
			 const int64 *lasts, int count, const LockedCursor *cursor,
			 int *folded_stored)
{
	Relation	acked = table_open(catalog_relation_oid(CATALOG_ACKED_RANGE),
								   AccessShareLock);
	Relation	index = index_open(RelationGetPrimaryKeyIndex(acked),
								   AccessShareLock);
	Snapshot	snapshot;
	SysScanDesc scan;
	HeapTuple	tuple;
	int64		folded_to;
	int64		scanned_to;
	int			i = 0;

	*folded_stored = 0;
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	folded_to = cursor->mark_delete;
	scanned_to = folded_to + 1;
	if (count > 0 && firsts[0] <= scanned_to)
		scanned_to = Max(scanned_to, lasts[count - 1] + 1);
	scan = begin_ranges_between(acked, index, snapshot, subscription_id,
								ledger_id, PG_INT64_MIN, scanned_to);
	tuple = systable_getnext_ordered(scan, ForwardScanDirection);
	for (;;)
	{
		bool		isnull;
		int64		stored_first = 0;
		bool		take_stored;
		int64		first;
		int64		last;

		if (tuple == NULL && folded_to + 1 > scanned_to)
		{
			/* the chain reached past what the scan covers */
			systable_endscan_ordered(scan);
			scan = begin_ranges_between(acked, index, snapshot, subscription_id,
										ledger_id, scanned_to + 1, folded_to + 1);
			scanned_to = folded_to + 1;
			tuple = systable_getnext_ordered(scan, ForwardScanDirection);
			continue;
		}
		if (tuple == NULL && i == count)
			break;
		if (tuple != NULL)
			stored_first = DatumGetInt64(heap_getattr(tuple, ACKED_FIRST_ENTRY_ATTNUM,
													  RelationGetDescr(acked),
													  &isnull));
		take_stored = i == count ||
			(tuple != NULL && stored_first <= firsts[i]);
		first = take_stored ? stored_first : firsts[i];
		last = take_stored ?
			DatumGetInt64(heap_getattr(tuple, ACKED_LAST_ENTRY_ATTNUM,
									   RelationGetDescr(acked), &isnull)) :
			lasts[i];
		if (first > folded_to + 1)
			break;
		folded_to = Max(folded_to, last);
		if (take_stored)
		{
			if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data)))
				remember_folded_by_others(subscription_id, ledger_id,
										  first, last);
			(*folded_stored)++;
			tuple = systable_getnext_ordered(scan, ForwardScanDirection);
		}
		else
			i++;
	}
	systable_endscan_ordered(scan);
	UnregisterSnapshot(snapshot);
	index_close(index, NoLock);
	table_close(acked, NoLock);
	return folded_to;
}

/*
 * Folds into a cursor row this transaction locked what reaches its
 * mark-delete position, of this ack's ranges and the stored ones; returns
 * the new position.
 */
static int64
fold_into_cursor(int64 subscription_id, int64 ledger_id, const int64 *firsts,
				 const int64 *lasts, int count, LockedCursor *cursor)
{
	Oid			position_argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3];
	int			folded_stored;
	int64		folded_to = chain_ranges(subscription_id, ledger_id, firsts,
										 lasts, count, cursor, &folded_stored);

	/* what the position covered was acknowledged by its last mover */
	if (folded_to > cursor->mark_delete && cursor->mark_delete >= 0 &&
		!TransactionIdIsCurrentTransactionId(cursor->set_by))
		remember_folded_by_others(subscription_id, ledger_id, 0,
								  cursor->mark_delete);

	if (folded_to > cursor->mark_delete)
		update_mark_delete(subscription_id, ledger_id, cursor, folded_to);

	/*
	 * Chained ranges are covered now, stale ones below it included; all
	 * start at or below the new position, so the delete reads only them.  A
	 * range another transaction is extending (an ack that found the cursor
	 * row busy) is left for a later fold rather than waited for: the worker
	 * folds too, and must never wait (DESIGN invariant 6a).  A covered range
	 * left behind lies below the mark-delete position, where nothing reads
	 * it.  The rows are locked once, in an array taken before the delete,
	 * rather than in a joined subquery that a nested loop would run again
	 * for every row it deletes.
	 */
	values[0] = Int64GetDatum(subscription_id);
	values[1] = Int64GetDatum(ledger_id);
	values[2] = Int64GetDatum(folded_to);
	if (folded_stored > 0)
		catalog_run_sql("DELETE FROM pulsar.acked_range"
						" WHERE ctid = ANY (ARRAY("
						"   SELECT ctid FROM pulsar.acked_range"
						"    WHERE subscription_id = $1 AND ledger_id = $2"
						"      AND first_entry <= $3 AND last_entry <= $3"
						"      FOR UPDATE SKIP LOCKED))",
						3, position_argtypes, values, NULL, false);
	return folded_to;
}

/* Stores what of this ack's ranges lies above 'folded_to'. */
static void
store_ranges_above(int64 subscription_id, int64 ledger_id, const int64 *firsts,
				   const int64 *lasts, int count, int64 folded_to)
{
	Oid			argtypes[4] = {INT8OID, INT8OID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[4];
	Datum	   *first_datums = palloc(sizeof(Datum) * Max(count, 1));
	Datum	   *last_datums = palloc(sizeof(Datum) * Max(count, 1));
	int			num_kept = 0;

	for (int r = 0; r < count; r++)
	{
		if (lasts[r] <= folded_to)
			continue;
		first_datums[num_kept] = Int64GetDatum(Max(firsts[r], folded_to + 1));
		last_datums[num_kept] = Int64GetDatum(lasts[r]);
		num_kept++;
	}
	if (num_kept == 0)
		return;
	values[0] = Int64GetDatum(subscription_id);
	values[1] = Int64GetDatum(ledger_id);
	values[2] = PointerGetDatum(catalog_int8_array(first_datums, num_kept));
	values[3] = PointerGetDatum(catalog_int8_array(last_datums, num_kept));
	catalog_run_sql("INSERT INTO pulsar.acked_range"
					" (subscription_id, ledger_id, first_entry, last_entry)"
					" SELECT $1, $2, f, l FROM unnest($3, $4) AS r(f, l)"
					" ON CONFLICT (subscription_id, ledger_id, first_entry) DO UPDATE"
					"   SET last_entry = greatest(acked_range.last_entry, EXCLUDED.last_entry)",
					4, argtypes, values, NULL, false);
}

/*
 * Acknowledges ranges of entries of one ledger (sorted by first entry) and
 * folds into the mark-delete position what reaches it, stored ranges
 * included.  The fold needs the cursor row: the caller may have locked it
 * ('locked'); otherwise it is locked here unless another transaction holds
 * it, and then the ranges are only stored, for a later ack or the worker
 * to fold.  Ranges the fold covers are never written.  Caller is inside
 * catalog_access_begin().
 */
static void
fold_ranges(int64 subscription_id, int64 ledger_id, const int64 *firsts,
			const int64 *lasts, int count, LockedCursor *locked)
{
	LockedCursor own;
	LockedCursor *cursor = locked;
	int64		folded_to;

	if (cursor == NULL && lock_cursor(subscription_id, ledger_id, false, &own))
		cursor = &own;
	if (cursor == NULL)
	{
		/* busy: store what is above the mark-delete position */
		if (count == 0)
			return;
		folded_to = read_mark_delete(subscription_id, ledger_id);
	}
	else
		folded_to = fold_into_cursor(subscription_id, ledger_id, firsts, lasts,
									 count, cursor);

	/* what the fold did not reach is stored */
	store_ranges_above(subscription_id, ledger_id, firsts, lasts, count,
					   folded_to);
}

/*
 * For the worker: folds acknowledged ranges into the mark-delete position
 * of every cursor where an acknowledging transaction could not (another one
 * held the cursor row) and none has since, and drops ranges a fold passed
 * without seeing them (they committed after its snapshot).
 */
void
cursor_fold_acked_ranges_everywhere(void)
{
	CatalogAccess access;
	int64	   *subscriptions;
	int64	   *ledgers;
	uint64		count;

	catalog_access_begin(&access);
	catalog_run_sql("SELECT c.subscription_id, c.ledger_id FROM pulsar.cursor c"
					" WHERE EXISTS (SELECT 1 FROM pulsar.acked_range r"
					"                WHERE r.subscription_id = c.subscription_id"
					"                  AND r.ledger_id = c.ledger_id"
					"                  AND r.first_entry <= c.mark_delete + 1)",
					0, NULL, NULL, NULL, false);
	count = SPI_processed;
	subscriptions = palloc(sizeof(int64) * Max(count, 1));
	ledgers = palloc(sizeof(int64) * Max(count, 1));
	for (uint64 i = 0; i < count; i++)
	{
		bool		isnull;

		subscriptions[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													   SPI_tuptable->tupdesc, 1, &isnull));
		ledgers[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, 2, &isnull));
	}
	for (uint64 i = 0; i < count; i++)
		fold_ranges(subscriptions[i], ledgers[i], NULL, NULL, 0, NULL);
	catalog_access_end(&access);
}

/* counting what an expiry passes: stored messages outside acked ranges */
typedef struct UnackedCount
{
	AckedRanges ranges;
	int			next_range;
	int64		count;
} UnackedCount;

static bool
count_unacked_message(const StoredMessage *message, void *arg)
{
	UnackedCount *counting = arg;
	AckedRanges *ranges = &counting->ranges;

	while (counting->next_range < ranges->count &&
		   ranges->last[counting->next_range] < message->entry_id)
		counting->next_range++;
	for (int i = counting->next_range;
		 i < ranges->count && ranges->first[i] <= message->entry_id; i++)
		if (ranges->last[i] >= message->entry_id)
			return true;
	counting->count++;
	return true;
}

/*
 * Messages stored in (after, through] that the subscription has not
 * acknowledged, as Pulsar counts expired messages: the backlog an expiry
 * removed.  Entries of aborted sends are not messages and do not count;
 * past the first EXPIRY_COUNT_RANGES acknowledged ranges, every message
 * counts.
 */
static int64
count_unacked_messages(Subscription *subscription, const LedgerInfo *ledger,
					   int64 after, int64 through)
{
	UnackedCount counting;
	Snapshot	snapshot;

	memset(&counting, 0, sizeof(counting));
	cursor_load_acked_ranges(subscription, ledger->ledger_id, after + 1,
							 EXPIRY_COUNT_RANGES, &counting.ranges);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	reader_scan_ledger(ledger, after, through, snapshot, count_unacked_message,
					   &counting);
	UnregisterSnapshot(snapshot);
	return counting.count;
}

/*
 * Whether the installed extension has pulsar.cursor_expiry (0.7.0): the
 * library may run with older tables until ALTER EXTENSION ... UPDATE.
 */
bool
cursor_expiry_table_exists(void)
{
	Oid			schema = get_namespace_oid("pulsar", true);

	return OidIsValid(schema) &&
		OidIsValid(get_relname_relid("cursor_expiry", schema));
}

/*
 * Counts what an expiry passed, in pulsar.cursor_expiry (msgExpired).  Only
 * a transaction that holds the cursor's row writes its rows, so nobody
 * waits for them who does not also wait for the cursor.  Caller holds the
 * cursor row and is inside catalog_access_begin().
 */
static void
record_expired(int64 subscription_id, int64 ledger_id, int64 expired)
{
	int64		args[3] = {subscription_id, ledger_id, expired};

	catalog_run_sql_int8("INSERT INTO pulsar.cursor_expiry"
						 " (subscription_id, ledger_id, expired, last_expired_at)"
						 " VALUES ($1, $2, $3, clock_timestamp())"
						 " ON CONFLICT (subscription_id, ledger_id) DO UPDATE"
						 "   SET expired = cursor_expiry.expired + EXCLUDED.expired,"
						 "       last_expired_at = EXCLUDED.last_expired_at",
						 3, args, false);
}

/*
 * Moves a cursor's mark-delete position forward to 'through' as if every
 * entry up to it had been acknowledged: message expiry (TTL, and
 * pulsar.expire_messages()) and backlog eviction.  As Pulsar's expiry
 * monitor marks the cursor deleted up to the newest expired entry, this
 * passes messages that consumers hold too, and forgets their pending rows:
 * a later ack of one of them finds it acknowledged by this transaction and
 * fails with serialization_failure (check_ack_conflicts()), so a consumer
 * that processed an expired message in an open transaction rolls back
 * rather than commit a message the subscription no longer has.
 *
 * It never waits for a consumer's transaction unless 'wait' says so (an
 * admin's call; the worker never waits, DESIGN invariant 6a): a cursor row
 * another transaction holds makes it return -1, and a pending row another
 * transaction has locked (an ack or nack in progress) stops the move just
 * below it, to be passed on a later call.  Returns the number of
 * unacknowledged entries passed (Pulsar's msgExpired counts the backlog it
 * removed), which it also adds to pulsar.cursor_expiry, or -1 when the
 * cursor was busy.
 */
int64
cursor_expire_through(Subscription *subscription, const LedgerInfo *ledger,
					  int64 through, bool wait)
{
	CatalogAccess access;
	LockedCursor cursor;
	int64		subscription_id = subscription->subscription_id;
	int64		ledger_id = ledger->ledger_id;
	int64		passed;

	catalog_access_begin(&access);
	if (!lock_cursor(subscription_id, ledger_id, wait, &cursor))
	{
		catalog_access_end(&access);
		return -1;
	}
	if (cursor.mark_delete < through && cursor.any_pending)
	{
		int64		blocked = pending_lock_free_through(subscription_id,
														ledger_id, through);

		if (blocked <= through)
			through = blocked - 1;
	}
	if (cursor.mark_delete >= through)
	{
		catalog_access_end(&access);
		return 0;
	}
	/* runs passed go, one reaching past 'through' keeps its rest */
	while (cursor.any_pending)
		cursor.any_pending = !pending_take_through(subscription_id, ledger_id,
												   through);
	passed = count_unacked_messages(subscription, ledger, cursor.mark_delete,
									through);

	/*
	 * The position moves as a cumulative ack would; ranges it reaches or
	 * covers fold into it.
	 */
	update_mark_delete(subscription_id, ledger_id, &cursor, through);
	fold_ranges(subscription_id, ledger_id, NULL, NULL, 0, &cursor);
	if (passed > 0)
		record_expired(subscription_id, ledger_id, passed);
	catalog_access_end(&access);
	return passed;
}

/*
 * Acknowledges ranges of entries of one ledger, sorted by first entry, and
 * advances the mark-delete position when it can.
 */
void
cursor_ack_ranges(Subscription *subscription, int64 ledger_id, int64 *firsts,
				  int64 *lasts, int count)
{
	CatalogAccess access;

	catalog_access_begin(&access);
	fold_ranges(subscription->subscription_id, ledger_id, firsts, lasts, count,
				NULL);
	catalog_access_end(&access);
}

/*
 * Whether a gap of a partition (entries of aborted sends, first..last) is
 * acknowledged, seen with a dirty snapshot.  Receives acknowledge the gaps
 * they pass, and while a Key_Shared read position is held back, every
 * receive passes the same gaps: writing a range that another transaction
 * is writing would wait for that transaction, which may itself be waiting
 * for this receive's partition, a deadlock.  A receive therefore leaves a
 * gap that another transaction is acknowledging (or whose range it has
 * locked) to that transaction, and does not read past it; one that is
 * covered already is not written again.
 */
GapAckState
cursor_gap_ack_state(Subscription *subscription, int64 ledger_id, int64 first,
					 int64 last)
{
	Relation	acked = table_open(catalog_relation_oid(CATALOG_ACKED_RANGE),
								   AccessShareLock);
	Relation	index = index_open(RelationGetPrimaryKeyIndex(acked),
								   AccessShareLock);
	TupleDesc	desc = RelationGetDescr(acked);
	SnapshotData dirty;
	SysScanDesc scan;
	HeapTuple	tuple;
	GapAckState state = GAP_TO_ACK;

	InitDirtySnapshot(dirty);
	scan = begin_ranges_between(acked, index, &dirty,
								subscription->subscription_id, ledger_id,
								PG_INT64_MIN, last);
	/* ranges starting in the gap, then the one starting nearest below it */
	while ((tuple = systable_getnext_ordered(scan, BackwardScanDirection)) != NULL)
	{
		bool		isnull;
		int64		range_first = DatumGetInt64(heap_getattr(tuple,
															 ACKED_FIRST_ENTRY_ATTNUM,
															 desc, &isnull));
		int64		range_last = DatumGetInt64(heap_getattr(tuple,
															ACKED_LAST_ENTRY_ATTNUM,
															desc, &isnull));

		if (range_last >= first &&
			(TransactionIdIsValid(dirty.xmin) || TransactionIdIsValid(dirty.xmax)))
		{
			state = GAP_BEING_ACKED;
			break;
		}
		if (range_first <= first && range_last >= last)
			state = GAP_ACKED;
		if (range_first <= first)
			break;
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(acked, AccessShareLock);
	return state;
}

static int32
ledger_partition_index(TopicInfo *topic, int64 ledger_id)
{
	for (int i = 0; i < topic->num_ledgers; i++)
		if (topic->ledgers[i].ledger_id == ledger_id)
			return topic->ledgers[i].partition_index;
	return NOT_A_PARTITION;
}

/*
 * Fails if another transaction acknowledged one of these entries, which this
 * transaction did not find pending: the message was redelivered while this
 * transaction held it, and committing would process it twice.  Pulsar
 * refuses a transactional ack of an acknowledged message the same way.
 * Caller is inside catalog_access_begin().
 */
static void
check_ack_conflicts(Subscription *subscription, int64 ledger_id,
					int64 *entries, int count, Datum found)
{
	Oid			argtypes[4] = {INT8OID, INT8OID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[4];
	Datum	   *elements = palloc(sizeof(Datum) * Max(count, 1));

	for (int i = 0; i < count; i++)
		elements[i] = Int64GetDatum(entries[i]);
	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = Int64GetDatum(ledger_id);
	values[2] = PointerGetDatum(catalog_int8_array(elements, count));
	values[3] = found;
	catalog_run_sql("SELECT e, c.xmin, r.acked_by"
					"  FROM unnest($3) AS e"
					"  JOIN pulsar.cursor c"
					"    ON c.subscription_id = $1 AND c.ledger_id = $2"
					"  LEFT JOIN LATERAL (" NEAREST_ACKED_RANGE ") r"
					"    ON r.last_entry >= e"
					" WHERE e <> ALL ($4)"
					"   AND (e <= c.mark_delete OR r.last_entry IS NOT NULL)",
					4, argtypes, values, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		bool		isnull;
		bool		range_isnull;
		TransactionId cursor_xmin =
			DatumGetTransactionId(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull));
		TransactionId range_xmin =
			DatumGetTransactionId(SPI_getbinval(row, SPI_tuptable->tupdesc, 3, &range_isnull));
		TransactionId acked_by = range_isnull ? cursor_xmin : range_xmin;

		int64		entry = DatumGetInt64(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull));

		if (!TransactionIdIsCurrentTransactionId(acked_by) ||
			was_folded_by_others(subscription->subscription_id, ledger_id, entry))
			report_acked_by_other(psprintf(INT64_FORMAT ":" INT64_FORMAT ":%d",
										   ledger_id, entry,
										   ledger_partition_index(subscription->topic,
																  ledger_id)));
	}
}

/*
 * Acknowledges entries of one ledger: records them as ranges of consecutive
 * entries and forgets their dispatch state.  A consumer of an exclusive or
 * failover subscription waits for other acks of the partition (there is
 * one active consumer, so this is rare); shared consumers meet only on the
 * pending rows of the same messages.
 */
void
cursor_ack_entries(Subscription *subscription, int64 ledger_id, int64 *entries,
				   int count)
{
	CatalogAccess access;
	LockedCursor cursor;
	int64	   *firsts = palloc(sizeof(int64) * count);
	int64	   *lasts = palloc(sizeof(int64) * count);
	TakenEntry *taken = palloc0(sizeof(TakenEntry) * count);
	int			found = 0;
	int			nranges = 0;
	bool		ordered = subscription->type == SUBSCRIPTION_EXCLUSIVE ||
		subscription->type == SUBSCRIPTION_FAILOVER;

	count = sort_distinct(entries, count);
	catalog_access_begin(&access);
	if (ordered)
		lock_cursor(subscription->subscription_id, ledger_id, true, &cursor);
	if (!ordered || cursor.any_pending)
		found = pending_take_entries(subscription, ledger_id, entries, count,
									 taken);
	if (found < count)
	{
		Datum	   *found = palloc(sizeof(Datum) * count);
		int			nfound = 0;

		for (int i = 0; i < count; i++)
			if (taken[i].found)
				found[nfound++] = Int64GetDatum(entries[i]);
		check_ack_conflicts(subscription, ledger_id, entries, count,
							PointerGetDatum(catalog_int8_array(found, nfound)));
	}

	for (int i = 0; i < count; i++)
	{
		if (nranges > 0 && entries[i] == lasts[nranges - 1] + 1)
			lasts[nranges - 1] = entries[i];
		else
		{
			firsts[nranges] = entries[i];
			lasts[nranges] = entries[i];
			nranges++;
		}
	}
	fold_ranges(subscription->subscription_id, ledger_id, firsts, lasts, nranges,
				ordered ? &cursor : NULL);
	catalog_access_end(&access);
}

/*
 * Entries from 'from' to 'to' not acknowledged.  Gaps count: dispatch
 * acknowledges them when it passes them.  At most 'max_ranges' ranges are
 * read, from 'from' on; entries past the last of them count as
 * acknowledged, so that a caller on a hot path pays for a bounded number
 * of ranges and, when there are more, undercounts.
 */
int64
cursor_count_unacked(Subscription *subscription, int64 ledger_id, int64 from,
					 int64 to, int max_ranges)
{
	AckedRanges acked;
	int64		unacked;
	int64		covered = from - 1;

	if (to < from)
		return 0;
	cursor_load_acked_ranges(subscription, ledger_id, from, max_ranges, &acked);
	if (acked.count >= max_ranges)
	{
		int64		reached = from - 1;

		for (int i = 0; i < acked.count; i++)
			reached = Max(reached, acked.last[i]);
		to = Min(to, reached);
	}
	unacked = to - from + 1;
	/* ranges may overlap: count each entry once */
	for (int i = 0; i < acked.count && acked.first[i] <= to; i++)
	{
		int64		first = Max(acked.first[i], covered + 1);
		int64		last = Min(acked.last[i], to);

		if (last >= first)
			unacked -= last - first + 1;
		covered = Max(covered, last);
	}
	return unacked;
}

/*
 * The ledger of a message id of this topic, checking the id is one a
 * consumer could have received.  'max_read', when given, holds for each
 * ledger of the topic (by index) a max read position already read, or -1:
 * a max read position never moves back, so an id at or below one read
 * before needs no new look at the shared state.
 */
LedgerInfo *
cursor_ledger_of_message_within(TopicInfo *topic, const MessageId *id,
								int64 *max_read)
{
	if (message_id_is_earliest(id) || message_id_is_latest(id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("message ID %s does not name a message",
						message_id_is_earliest(id) ? "'earliest'" : "'latest'")));
	for (int i = 0; i < topic->num_ledgers; i++)
	{
		LedgerInfo *ledger = &topic->ledgers[i];
		int64		known = max_read != NULL ? max_read[i] : -1;

		if (ledger->ledger_id != id->ledger_id)
			continue;
		if (ledger->partition_index != id->partition_index)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message ID %s has the wrong partition index",
							message_id_to_string(id)),
					 errdetail("Ledger " INT64_FORMAT " holds partition %d of topic \"%s\".",
							   ledger->ledger_id, ledger->partition_index,
							   topic_name_string(&topic->name, NOT_A_PARTITION))));
		if (id->entry_id > known)
		{
			known = read_position_max(ledger->ledger_id, catalog_load_next_entry);
			if (max_read != NULL)
				max_read[i] = known;
		}
		if (id->entry_id < 0 || id->entry_id > known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message ID %s has not been delivered",
							message_id_to_string(id)),
					 errdetail("It is beyond the last message readers of its partition can see.")));
		return ledger;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("message ID %s does not belong to topic \"%s\"",
					message_id_to_string(id),
					topic_name_string(&topic->name, NOT_A_PARTITION))));
	pg_unreachable();
}

LedgerInfo *
cursor_ledger_of_message(TopicInfo *topic, const MessageId *id)
{
	return cursor_ledger_of_message_within(topic, id, NULL);
}

void
cursor_nack_entries(Subscription *subscription, int64 ledger_id, int64 *entries,
					int count)
{
	CatalogAccess access;
	TakenEntry *taken;

	count = sort_distinct(entries, count);
	taken = palloc(sizeof(TakenEntry) * count);

	/* not after the statement: the row's time must not precede the note */
	worker_signal_timer(GetCurrentTimestamp() + subscription->negative_ack_delay_us);
	catalog_access_begin(&access);

	/* out of the runs consumers hold, keeping what each row said */
	pending_take_entries(subscription, ledger_id, entries, count, taken);
	pending_put_back_nacked(subscription, ledger_id, entries, count, taken);
	catalog_access_end(&access);
}

/*
 * Moves a cursor so that 'next_entry' is the next entry delivered, and drops
 * what consumers hold.  Caller holds the subscription in
 * AccessExclusiveLock.
 */
static void
reset_cursor(Subscription *subscription, const LedgerInfo *ledger,
			 int64 next_entry)
{
	CatalogAccess access;
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3];
	int64		lowest;

	catalog_access_begin(&access);
	/* a trimmed position is the first stored one, as for readers */
	catalog_lock_ledger_against_trim(ledger->ledger_id);
	lowest = catalog_lowest_stored_segment(ledger->ledger_id);
	if (lowest >= 0)
		next_entry = Max(next_entry, lowest * ledger->segment_entries);
	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = Int64GetDatum(ledger->ledger_id);
	values[2] = Int64GetDatum(next_entry - 1);
	catalog_run_sql("UPDATE pulsar.cursor SET mark_delete = $3"
					" WHERE subscription_id = $1 AND ledger_id = $2",
					3, argtypes, values, NULL, false);
	catalog_run_sql("DELETE FROM pulsar.acked_range"
					" WHERE subscription_id = $1 AND ledger_id = $2",
					2, argtypes, values, NULL, false);
	pending_forget_partition(subscription->subscription_id, ledger->ledger_id);
	catalog_access_end(&access);
}

void
cursor_seek_to_message(Subscription *subscription, MessageId *id)
{
	TopicInfo  *topic = subscription->topic;

	if (message_id_is_earliest(id) || message_id_is_latest(id))
	{
		for (int i = 0; i < topic->num_ledgers; i++)
			reset_cursor(subscription, &topic->ledgers[i],
						 message_id_is_earliest(id) ? 0 :
						 read_position_max(topic->ledgers[i].ledger_id,
										   catalog_load_next_entry) + 1);
	}
	else
		reset_cursor(subscription, cursor_ledger_of_message(topic, id),
					 id->entry_id);
	dispatch_state_reset_at_commit(subscription->subscription_id);
}

typedef struct TimeSeek
{
	TimestampTz publish_time;
	int64		found;
} TimeSeek;

static bool
find_publish_time(const StoredMessage *message, void *arg)
{
	TimeSeek   *seek = arg;

	if (DatumGetTimestampTz(message->values[SEGMENT_PUBLISH_TIME]) >=
		seek->publish_time)
	{
		seek->found = message->entry_id;
		return false;
	}
	return true;
}

void
cursor_seek_to_time(Subscription *subscription, TimestampTz publish_time)
{
	TopicInfo  *topic = subscription->topic;

	for (int i = 0; i < topic->num_ledgers; i++)
	{
		LedgerInfo *ledger = &topic->ledgers[i];
		int64		last = read_position_max(ledger->ledger_id, catalog_load_next_entry);
		Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
		TimeSeek	seek;

		seek.publish_time = publish_time;
		seek.found = last + 1;
		reader_scan_ledger(ledger, -1, last, snapshot, find_publish_time, &seek);
		UnregisterSnapshot(snapshot);
		reset_cursor(subscription, ledger, seek.found);
	}
	dispatch_state_reset_at_commit(subscription->subscription_id);
}

/*
 * Acknowledges every message of a ledger up to 'id' for an exclusive or
 * failover subscription: pending rows up to it go, the ranges below it fold
 * into the mark-delete position, and a fold that passes messages another
 * transaction acknowledged after this one received them fails (40001).
 */
void
cursor_ack_cumulative(Subscription *subscription, LedgerInfo *ledger, MessageId *id)
{
	CatalogAccess access;
	LockedCursor cursor;
	int64		first;
	int64		last;

	catalog_access_begin(&access);
	lock_cursor(subscription->subscription_id, ledger->ledger_id, true, &cursor);

	/* someone else's ack already covers this message */
	if (cursor.mark_delete >= id->entry_id &&
		(!TransactionIdIsCurrentTransactionId(cursor.set_by) ||
		 was_folded_by_others(subscription->subscription_id, ledger->ledger_id,
							  id->entry_id)))
		report_acked_by_other(message_id_to_string(id));

	/*
	 * A run reaching past the message keeps its rest.  A row split while
	 * this statement waited for it has new rows it cannot see: while it
	 * takes fewer rows than its snapshot showed, it looks again.
	 */
	while (cursor.any_pending)
		cursor.any_pending = !pending_take_through(subscription->subscription_id,
												   ledger->ledger_id,
												   id->entry_id);
	first = cursor.mark_delete + 1;
	last = id->entry_id;
	fold_ranges(subscription->subscription_id, ledger->ledger_id, &first, &last,
				first <= last ? 1 : 0, &cursor);

	/*
	 * What the fold passed that others acknowledged: what the cursor covered
	 * (a position another transaction moved past a message this one was
	 * handed), and their stored ranges.
	 */
	check_received_folded_by_others(subscription, ledger, id->entry_id);
	catalog_access_end(&access);
}

/*
 * The lowest mark-delete position in a ledger of the topic's subscriptions,
 * as committed; false if it has none: below it, no subscription needs the
 * ledger's messages.  Caller is inside catalog_access_begin().
 */
bool
cursor_slowest_mark_delete(int64 topic_id, int64 ledger_id, int64 *mark_delete)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(topic_id), Int64GetDatum(ledger_id)};
	bool		isnull;
	Datum		value;

	/* through the topic's subscriptions: cursors are keyed by subscription */
	catalog_run_sql("SELECT min(c.mark_delete) FROM pulsar.subscription s"
					"  JOIN pulsar.cursor c ON c.subscription_id = s.subscription_id"
					" WHERE s.topic_id = $1 AND c.ledger_id = $2",
					2, argtypes, values, NULL, true);
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
	if (isnull)
		return false;
	*mark_delete = DatumGetInt64(value);
	return true;
}

/*
 * Deletes the acknowledged ranges of the topic's subscriptions in a ledger
 * that end below 'below' (entries trimmed away); ranges another transaction
 * holds are left for later.  Caller is inside catalog_access_begin().
 */
void
cursor_forget_ranges_below(int64 topic_id, int64 ledger_id, int64 below)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3] = {Int64GetDatum(ledger_id), Int64GetDatum(below),
	Int64GetDatum(topic_id)};

	/* through the topic's subscriptions: rows are keyed by subscription */
	catalog_run_sql("DELETE FROM pulsar.acked_range r USING"
					" (SELECT subscription_id, ledger_id, first_entry"
					"    FROM pulsar.acked_range"
					"   WHERE subscription_id IN (SELECT subscription_id"
					"          FROM pulsar.subscription WHERE topic_id = $3)"
					"     AND ledger_id = $1 AND last_entry < $2"
					"     FOR UPDATE SKIP LOCKED) g"
					" WHERE r.subscription_id = g.subscription_id"
					"   AND r.ledger_id = g.ledger_id"
					"   AND r.first_entry = g.first_entry",
					3, argtypes, values, NULL, false);
}
