/*-------------------------------------------------------------------------
 *
 * cursor.c
 *	  Acknowledgements: ack, ack_cumulative, nack and seek.
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

#include "4_storage/cursor.h"
#include "5_dispatch/dispatch.h"
#include "1_value/message_id.h"
#include "2_shmem/read_position.h"
#include "4_storage/reader.h"
#include "6_entry/worker.h"

PG_FUNCTION_INFO_V1(pulsar_ack);
PG_FUNCTION_INFO_V1(pulsar_ack_array);
PG_FUNCTION_INFO_V1(pulsar_ack_cumulative);
PG_FUNCTION_INFO_V1(pulsar_nack);
PG_FUNCTION_INFO_V1(pulsar_seek);
PG_FUNCTION_INFO_V1(pulsar_seek_time);
PG_FUNCTION_INFO_V1(pulsar_seek_text);

/*
 * One cursor per partition, at the beginning (earliest) or after the last
 * message a reader could read now (latest).
 */
void
create_cursors(Subscription *subscription, bool earliest)
{
	TopicInfo  *topic = subscription->topic;
	int64	   *positions = palloc(sizeof(int64) * topic->num_ledgers);
	CatalogAccess access;

	for (int i = 0; i < topic->num_ledgers; i++)
		if (!earliest)
			positions[i] = GetMaxReadPosition(topic->ledgers[i].ledger_id,
											  load_next_entry);

	begin_catalog_access(&access);
	for (int i = 0; i < topic->num_ledgers && earliest; i++)
	{
		LedgerInfo *ledger = &topic->ledgers[i];
		int64		lowest;

		/* no trim passes the position unseen until this commits */
		lock_ledger_against_trim(ledger->ledger_id);
		lowest = lowest_stored_segment(ledger->ledger_id);
		positions[i] = lowest < 0 ? -1 : lowest * ledger->segment_entries - 1;
	}
	for (int i = 0; i < topic->num_ledgers; i++)
	{
		Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
		Datum		values[3] = {Int64GetDatum(subscription->subscription_id),
			Int64GetDatum(topic->ledgers[i].ledger_id),
		Int64GetDatum(positions[i])};

		run_catalog_sql("INSERT INTO pulsar.cursor (subscription_id, ledger_id, mark_delete)"
						" VALUES ($1, $2, $3)",
						3, argtypes, values, NULL, false);
	}
	end_catalog_access(&access);
}

/* Caller is inside begin_catalog_access(). */
static int64
read_mark_delete(int64 subscription_id, int64 ledger_id)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(subscription_id),
	Int64GetDatum(ledger_id)};
	bool		isnull;

	run_catalog_sql("SELECT mark_delete FROM pulsar.cursor"
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

	begin_catalog_access(&access);
	mark_delete = read_mark_delete(subscription->subscription_id, ledger_id);
	end_catalog_access(&access);
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
static SysScanDesc
begin_partition_scan(Relation table, Relation index, Snapshot snapshot,
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
 * Whether the subscription has a pending row in the partition that ends
 * above 'above'.
 */
static bool
any_pending_above(int64 subscription_id, int64 ledger_id, int64 above,
				  Snapshot snapshot)
{
	Oid			relid = catalog_relation_oid(CATALOG_PENDING);
	AttrNumber	last_attnum = get_attnum(relid, "last_entry");
	Relation	pending = table_open(relid, AccessShareLock);
	Relation	index = index_open(RelationGetPrimaryKeyIndex(pending),
								   AccessShareLock);
	SysScanDesc scan = begin_partition_scan(pending, index, snapshot,
											subscription_id, ledger_id);
	HeapTuple	tuple;
	bool		found = false;
	bool		isnull;

	while (!found &&
		   (tuple = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
		found = DatumGetInt64(heap_getattr(tuple, last_attnum,
										   RelationGetDescr(pending),
										   &isnull)) > above;
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(pending, AccessShareLock);
	return found;
}

/*
 * Scans a subscription's acknowledged ranges in one partition by first
 * entry, from those whose first entry compares with 'first_entry' as
 * 'strategy' says, in 'direction'.
 */
static SysScanDesc
begin_ranges_scan(Relation acked, Relation index, Snapshot snapshot,
				  int64 subscription_id, int64 ledger_id,
				  StrategyNumber strategy, RegProcedure procedure,
				  int64 first_entry)
{
	ScanKeyData keys[3];

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(subscription_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(ledger_id));
	ScanKeyInit(&keys[2], ACKED_FIRST_ENTRY_ATTNUM, strategy, procedure,
				Int64GetDatum(first_entry));
	return systable_beginscan_ordered(acked, index, snapshot, 3, keys);
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
static void
read_acked_ranges(int64 subscription_id, int64 ledger_id, int64 from_entry,
				  int limit, Snapshot snapshot, AckedRanges *ranges)
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

	ranges->count = 0;
	ranges->first = palloc(sizeof(int64) * capacity);
	ranges->last = palloc(sizeof(int64) * capacity);

	/* ranges that start below 'from_entry' and reach it, nearest first */
	scan = begin_ranges_scan(acked, index, snapshot, subscription_id,
							 ledger_id, BTLessStrategyNumber, F_INT8LT,
							 from_entry);
	while ((tuple = systable_getnext_ordered(scan, BackwardScanDirection)) != NULL)
	{
		int64		last = DatumGetInt64(heap_getattr(tuple, ACKED_LAST_ENTRY_ATTNUM,
													  desc, &isnull));

		if (last < from_entry)
			break;
		append_range(ranges, &capacity,
					 DatumGetInt64(heap_getattr(tuple, ACKED_FIRST_ENTRY_ATTNUM,
												desc, &isnull)),
					 last);
	}
	systable_endscan_ordered(scan);
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
	scan = begin_ranges_scan(acked, index, snapshot, subscription_id,
							 ledger_id, BTGreaterEqualStrategyNumber, F_INT8GE,
							 from_entry);
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
 * anything is pending above it, and up to 'limit' acknowledged ranges that
 * end at or after the later of 'ranges_from' and the first entry above the
 * mark-delete position.  All as last committed, whatever the caller's
 * snapshot.
 */
void
read_cursor(Subscription *subscription, int64 ledger_id, int64 ranges_from,
			int limit, CursorView *view)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	Relation	cursors = table_open(catalog_relation_oid(CATALOG_CURSOR),
									 AccessShareLock);
	Relation	index = index_open(RelationGetPrimaryKeyIndex(cursors),
								   AccessShareLock);
	SysScanDesc scan = begin_partition_scan(cursors, index, snapshot,
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

	view->any_pending = any_pending_above(subscription->subscription_id,
										  ledger_id, view->mark_delete,
										  snapshot);
	view->ranges_from = Max(ranges_from, view->mark_delete + 1);
	read_acked_ranges(subscription->subscription_id, ledger_id,
					  view->ranges_from, limit, snapshot, &view->ranges);
	UnregisterSnapshot(snapshot);
}

/*
 * Loads up to 'limit' acknowledged ranges that end at or after 'from_entry',
 * as last committed.
 */
void
load_acked_ranges(Subscription *subscription, int64 ledger_id,
				  int64 from_entry, int limit, AckedRanges *ranges)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());

	read_acked_ranges(subscription->subscription_id, ledger_id, from_entry,
					  limit, snapshot, ranges);
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
			received_in_transaction(subscription->subscription_id,
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
	scan = begin_partition_scan(cursors, index, snapshot, subscription_id,
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
	cursor->any_pending = any_pending_above(subscription_id, ledger_id,
											PG_INT64_MIN, snapshot);
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
 * Acknowledges ranges of entries of one ledger (sorted by first entry) and
 * folds into the mark-delete position what reaches it, stored ranges
 * included.  The fold needs the cursor row: the caller may have locked it
 * ('locked'); otherwise it is locked here unless another transaction holds
 * it, and then the ranges are only stored, for a later ack or the worker
 * to fold.  Ranges the fold covers are never written.  Caller is inside
 * begin_catalog_access().
 */
static void
fold_ranges(int64 subscription_id, int64 ledger_id, const int64 *firsts,
			const int64 *lasts, int count, LockedCursor *locked)
{
	Oid			argtypes[4] = {INT8OID, INT8OID, INT8ARRAYOID, INT8ARRAYOID};
	Oid			position_argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[4];
	LockedCursor own;
	LockedCursor *cursor = locked;
	Datum	   *first_datums;
	Datum	   *last_datums;
	int64		folded_to;
	int			num_kept = 0;

	values[0] = Int64GetDatum(subscription_id);
	values[1] = Int64GetDatum(ledger_id);
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
	{
		Relation	acked = table_open(catalog_relation_oid(CATALOG_ACKED_RANGE),
									   AccessShareLock);
		Relation	index = index_open(RelationGetPrimaryKeyIndex(acked),
									   AccessShareLock);
		Snapshot	snapshot;
		SysScanDesc scan;
		HeapTuple	tuple;
		int			folded_stored = 0;
		int			i = 0;

		/*
		 * Chain the stored ranges, read one at a time by first entry, with
		 * this ack's from the mark-delete position: the read stops at the
		 * first range that does not reach it, so a fold costs what it
		 * folds, whatever lies above.
		 */
		CommandCounterIncrement();
		snapshot = RegisterSnapshot(GetTransactionSnapshot());
		scan = begin_partition_scan(acked, index, snapshot, subscription_id,
									ledger_id);
		tuple = systable_getnext_ordered(scan, ForwardScanDirection);
		folded_to = cursor->mark_delete;
		while (tuple != NULL || i < count)
		{
			bool		isnull;
			int64		stored_first = 0;
			bool		take_stored;
			int64		first;
			int64		last;

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
				folded_stored++;
				tuple = systable_getnext_ordered(scan, ForwardScanDirection);
			}
			else
				i++;
		}
		systable_endscan_ordered(scan);
		UnregisterSnapshot(snapshot);
		index_close(index, NoLock);
		table_close(acked, NoLock);

		/* what the position covered was acknowledged by its last mover */
		if (folded_to > cursor->mark_delete && cursor->mark_delete >= 0 &&
			!TransactionIdIsCurrentTransactionId(cursor->set_by))
			remember_folded_by_others(subscription_id, ledger_id, 0,
									  cursor->mark_delete);

		if (folded_to > cursor->mark_delete)
			update_mark_delete(subscription_id, ledger_id, cursor, folded_to);

		/*
		 * Chained ranges are covered now, stale ones below it included; all
		 * start at or below the new position, so the delete reads only
		 * them.  A range another transaction is extending (an ack that found
		 * the cursor row busy) is left for a later fold rather than waited
		 * for: the worker folds too, and must never wait (DESIGN invariant
		 * 6a).  A covered range left behind lies below the mark-delete
		 * position, where nothing reads it.  The rows are locked once, in
		 * an array taken before the delete, rather than in a joined subquery
		 * that a nested loop would run again for every row it deletes.
		 */
		values[2] = Int64GetDatum(folded_to);
		if (folded_stored > 0)
			run_catalog_sql("DELETE FROM pulsar.acked_range"
							" WHERE ctid = ANY (ARRAY("
							"   SELECT ctid FROM pulsar.acked_range"
							"    WHERE subscription_id = $1 AND ledger_id = $2"
							"      AND first_entry <= $3 AND last_entry <= $3"
							"      FOR UPDATE SKIP LOCKED))",
							3, position_argtypes, values, NULL, false);
	}

	/* what the fold did not reach is stored */
	first_datums = palloc(sizeof(Datum) * Max(count, 1));
	last_datums = palloc(sizeof(Datum) * Max(count, 1));
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
	values[2] = PointerGetDatum(construct_array(first_datums, num_kept, INT8OID,
												8, true, TYPALIGN_DOUBLE));
	values[3] = PointerGetDatum(construct_array(last_datums, num_kept, INT8OID,
												8, true, TYPALIGN_DOUBLE));
	run_catalog_sql("INSERT INTO pulsar.acked_range"
					" (subscription_id, ledger_id, first_entry, last_entry)"
					" SELECT $1, $2, f, l FROM unnest($3, $4) AS r(f, l)"
					" ON CONFLICT (subscription_id, ledger_id, first_entry) DO UPDATE"
					"   SET last_entry = greatest(acked_range.last_entry, EXCLUDED.last_entry)",
					4, argtypes, values, NULL, false);
}

/*
 * For the worker: folds acknowledged ranges into the mark-delete position
 * of every cursor where an acknowledging transaction could not (another one
 * held the cursor row) and none has since, and drops ranges a fold passed
 * without seeing them (they committed after its snapshot).
 */
void
fold_acked_ranges_everywhere(void)
{
	CatalogAccess access;
	int64	   *subscriptions;
	int64	   *ledgers;
	uint64		count;

	begin_catalog_access(&access);
	run_catalog_sql("SELECT c.subscription_id, c.ledger_id FROM pulsar.cursor c"
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
	end_catalog_access(&access);
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
 * removed), or -1 when the cursor was busy.
 */
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
	load_acked_ranges(subscription, ledger->ledger_id, after + 1,
					  EXPIRY_COUNT_RANGES, &counting.ranges);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan_ledger(ledger, after, through, snapshot, count_unacked_message,
				&counting);
	UnregisterSnapshot(snapshot);
	return counting.count;
}

int64
expire_cursor_through(Subscription *subscription, const LedgerInfo *ledger,
					  int64 through, bool wait)
{
	CatalogAccess access;
	LockedCursor cursor;
	int64		subscription_id = subscription->subscription_id;
	int64		ledger_id = ledger->ledger_id;
	int64		passed;

	begin_catalog_access(&access);
	if (!lock_cursor(subscription_id, ledger_id, wait, &cursor))
	{
		end_catalog_access(&access);
		return -1;
	}
	if (cursor.mark_delete >= through)
	{
		end_catalog_access(&access);
		return 0;
	}
	if (cursor.any_pending)
	{
		Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
		Datum		values[3] = {Int64GetDatum(subscription_id),
			Int64GetDatum(ledger_id), Int64GetDatum(through)};
		bool		isnull;
		Datum		blocked;

		/*
		 * Lock what is free, then find the first run that is not: rows this
		 * transaction locked are its own now, so only another's remain.
		 */
		run_catalog_sql("WITH mine AS ("
						"  SELECT ctid FROM pulsar.pending"
						"   WHERE subscription_id = $1 AND ledger_id = $2"
						"     AND first_entry <= $3"
						"   FOR UPDATE SKIP LOCKED)"
						" SELECT min(p.first_entry) FROM pulsar.pending p"
						"  WHERE p.subscription_id = $1 AND p.ledger_id = $2"
						"    AND p.first_entry <= $3"
						"    AND p.ctid NOT IN (SELECT ctid FROM mine)",
						3, argtypes, values, NULL, false);
		blocked = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								1, &isnull);
		if (!isnull)
			through = Min(through, DatumGetInt64(blocked) - 1);
		if (cursor.mark_delete >= through)
		{
			end_catalog_access(&access);
			return 0;
		}

		/* runs passed go; one reaching past 'through' keeps its rest */
		values[2] = Int64GetDatum(through);
		run_catalog_sql("WITH gone AS ("
						"  DELETE FROM pulsar.pending"
						"   WHERE subscription_id = $1 AND ledger_id = $2"
						"     AND first_entry <= $3"
						"  RETURNING *)"
						" INSERT INTO pulsar.pending"
						" (subscription_id, ledger_id, first_entry, last_entry,"
						"  consumer_id, key_hash, delivered_at, redeliver_at,"
						"  redelivery_count)"
						" SELECT subscription_id, ledger_id, $3 + 1, last_entry,"
						"        consumer_id, key_hash, delivered_at, redeliver_at,"
						"        redelivery_count"
						"   FROM gone WHERE last_entry > $3",
						3, argtypes, values, NULL, false);
	}
	passed = count_unacked_messages(subscription, ledger, cursor.mark_delete,
									through);

	/*
	 * The position moves as a cumulative ack would; ranges it reaches or
	 * covers fold into it.
	 */
	update_mark_delete(subscription_id, ledger_id, &cursor, through);
	fold_ranges(subscription_id, ledger_id, NULL, NULL, 0, &cursor);
	end_catalog_access(&access);
	return passed;
}

/*
 * Acknowledges ranges of entries of one ledger, sorted by first entry, and
 * advances the mark-delete position when it can.
 */
void
ack_ranges(Subscription *subscription, int64 ledger_id, int64 *firsts,
		   int64 *lasts, int count)
{
	CatalogAccess access;

	begin_catalog_access(&access);
	fold_ranges(subscription->subscription_id, ledger_id, firsts, lasts, count,
				NULL);
	end_catalog_access(&access);
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
gap_ack_state(Subscription *subscription, int64 ledger_id, int64 first,
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
	scan = begin_ranges_scan(acked, index, &dirty,
							 subscription->subscription_id, ledger_id,
							 BTLessEqualStrategyNumber, F_INT8LE, last);
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
 * The acknowledged range of subscription $1 in ledger $2 that starts
 * nearest below or at entry e: the one that would cover e (see
 * read_acked_ranges() on nesting).  A backward index scan of one row,
 * however many ranges lie behind.
 */
#define NEAREST_ACKED_RANGE \
	"SELECT n.last_entry, n.xmin AS acked_by FROM pulsar.acked_range n" \
	" WHERE n.subscription_id = $1 AND n.ledger_id = $2" \
	"   AND n.first_entry <= e" \
	" ORDER BY n.first_entry DESC LIMIT 1"

/* pending rows of subscription $1 in ledger $2 covering entries $3 (sorted) */
#define PENDING_COVERING_ENTRIES \
	"p.subscription_id = $1 AND p.ledger_id = $2" \
	" AND p.first_entry >= coalesce(" \
	"      (SELECT max(first_entry) FROM pulsar.pending" \
	"        WHERE subscription_id = $1 AND ledger_id = $2" \
	"          AND first_entry <= $3[1]), $3[1])" \
	" AND p.first_entry <= $3[array_upper($3, 1)]" \
	" AND int8range(p.first_entry, p.last_entry, '[]') @> ANY ($3)"

/* what a pending row said of an entry taken out of it */
typedef struct TakenEntry
{
	bool		found;
	int32		redelivery_count;
	bool		delivered;		/* delivered_at was set */
	TimestampTz delivered_at;
	int32		key_hash;		/* -1: none */
} TakenEntry;

/*
 * Takes entries (sorted, distinct) of one ledger out of the subscription's
 * pending rows: a row is deleted, and the parts of its run that were not
 * asked for are written back as rows of their own, in the same state.
 * Fills 'taken' per entry and returns how many were found.
 *
 * A row another transaction changes while this one waits for it may have
 * been split: its new rows are invisible to the statement that waited.  So
 * each look also counts the rows its snapshot shows, and while it took
 * fewer, entries not found are looked for again with a new snapshot.  Caller is inside begin_catalog_access().
 */
static int
take_pending_entries(Subscription *subscription, int64 ledger_id,
					 const int64 *entries, int count, TakenEntry *taken)
{
	int			found = 0;

	memset(taken, 0, sizeof(TakenEntry) * count);
	for (;;)
	{
		Oid			argtypes[3] = {INT8OID, INT8OID, INT8ARRAYOID};
		Datum		values[3];
		Datum	   *missing = palloc(sizeof(Datum) * count);
		int			num_missing = 0;
		int			found_now = 0;
		int			num_rows;
		int64		candidates;
		bool		isnull;
		SPITupleTable *rows;

		for (int i = 0; i < count; i++)
			if (!taken[i].found)
				missing[num_missing++] = Int64GetDatum(entries[i]);
		if (num_missing == 0)
			break;
		values[0] = Int64GetDatum(subscription->subscription_id);
		values[1] = Int64GetDatum(ledger_id);
		values[2] = PointerGetDatum(construct_array(missing, num_missing,
													INT8OID, 8, true,
													TYPALIGN_DOUBLE));
		run_catalog_sql("WITH candidates AS ("
						"  SELECT count(*) AS n FROM pulsar.pending p"
						"   WHERE " PENDING_COVERING_ENTRIES "),"
						" taken AS ("
						"  DELETE FROM pulsar.pending p"
						"   WHERE " PENDING_COVERING_ENTRIES
						"  RETURNING first_entry, last_entry, consumer_id, key_hash,"
						"            delivered_at, redeliver_at, redelivery_count)"
						" SELECT c.n, t.* FROM candidates c LEFT JOIN taken t ON true",
						3, argtypes, values, NULL, false);
		rows = SPI_tuptable;
		num_rows = (int) SPI_processed;
		candidates = DatumGetInt64(SPI_getbinval(rows->vals[0], rows->tupdesc,
												 1, &isnull));
		SPI_getbinval(rows->vals[0], rows->tupdesc, 2, &isnull);
		if (isnull)
			num_rows = 0;

		for (int r = 0; r < num_rows; r++)
		{
			HeapTuple	row = rows->vals[r];
			TupleDesc	desc = rows->tupdesc;
			int64		first = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
			int64		last = DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull));
			Datum		delivered_at = SPI_getbinval(row, desc, 6, &isnull);
			bool		delivered = !isnull;
			Datum		key_hash = SPI_getbinval(row, desc, 5, &isnull);
			bool		key_isnull = isnull;
			int32		redelivery_count = DatumGetInt32(SPI_getbinval(row, desc, 8, &isnull));
			int64		piece_first = first;
			Datum	   *piece_firsts = palloc(sizeof(Datum) * (count + 1));
			Datum	   *piece_lasts = palloc(sizeof(Datum) * (count + 1));
			int			num_pieces = 0;

			for (int i = 0; i < count; i++)
			{
				if (entries[i] < first || entries[i] > last)
					continue;
				if (!taken[i].found)
				{
					taken[i].found = true;
					taken[i].redelivery_count = redelivery_count;
					taken[i].delivered = delivered;
					taken[i].delivered_at = delivered ? DatumGetTimestampTz(delivered_at) : 0;
					taken[i].key_hash = key_isnull ? -1 : DatumGetInt32(key_hash);
					found_now++;
				}
				if (entries[i] > piece_first)
				{
					piece_firsts[num_pieces] = Int64GetDatum(piece_first);
					piece_lasts[num_pieces] = Int64GetDatum(entries[i] - 1);
					num_pieces++;
				}
				piece_first = entries[i] + 1;
			}
			if (piece_first <= last)
			{
				piece_firsts[num_pieces] = Int64GetDatum(piece_first);
				piece_lasts[num_pieces] = Int64GetDatum(last);
				num_pieces++;
			}
			if (num_pieces > 0)
			{
				Oid			piece_argtypes[9] = {INT8OID, INT8OID, INT8ARRAYOID,
					INT8ARRAYOID, INT8OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
				INT4OID};
				Datum		piece_values[9];
				char		piece_nulls[9] = "         ";

				piece_values[0] = Int64GetDatum(subscription->subscription_id);
				piece_values[1] = Int64GetDatum(ledger_id);
				piece_values[2] = PointerGetDatum(construct_array(piece_firsts, num_pieces,
																  INT8OID, 8, true,
																  TYPALIGN_DOUBLE));
				piece_values[3] = PointerGetDatum(construct_array(piece_lasts, num_pieces,
																  INT8OID, 8, true,
																  TYPALIGN_DOUBLE));
				for (int c = 0; c < 4; c++)
				{
					piece_values[4 + c] = SPI_getbinval(row, desc, 4 + c, &isnull);
					if (isnull)
						piece_nulls[4 + c] = 'n';
				}
				piece_values[8] = Int32GetDatum(redelivery_count);
				run_catalog_sql("INSERT INTO pulsar.pending"
								" (subscription_id, ledger_id, first_entry, last_entry,"
								"  consumer_id, key_hash, delivered_at, redeliver_at,"
								"  redelivery_count)"
								" SELECT $1, $2, f, l, $5, $6, $7, $8, $9"
								"   FROM unnest($3, $4) AS piece(f, l)",
								9, piece_argtypes, piece_values, piece_nulls, false);
			}
		}
		found += found_now;
		/* every row this snapshot showed was taken: nothing else to find */
		if (num_rows == candidates)
			break;
	}
	return found;
}

/*
 * Fails if another transaction acknowledged one of these entries, which this
 * transaction did not find pending: the message was redelivered while this
 * transaction held it, and committing would process it twice.  Pulsar
 * refuses a transactional ack of an acknowledged message the same way.
 * Caller is inside begin_catalog_access().
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
	values[2] = PointerGetDatum(construct_array(elements, count, INT8OID, 8,
												true, TYPALIGN_DOUBLE));
	values[3] = found;
	run_catalog_sql("SELECT e, c.xmin, r.acked_by"
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
ack_entries(Subscription *subscription, int64 ledger_id, int64 *entries,
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
	begin_catalog_access(&access);
	if (ordered)
		lock_cursor(subscription->subscription_id, ledger_id, true, &cursor);
	if (!ordered || cursor.any_pending)
		found = take_pending_entries(subscription, ledger_id, entries, count,
									 taken);
	if (found < count)
	{
		Datum	   *found = palloc(sizeof(Datum) * count);
		int			nfound = 0;

		for (int i = 0; i < count; i++)
			if (taken[i].found)
				found[nfound++] = Int64GetDatum(entries[i]);
		check_ack_conflicts(subscription, ledger_id, entries, count,
							PointerGetDatum(construct_array(found, nfound, INT8OID,
															8, true, TYPALIGN_DOUBLE)));
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
	end_catalog_access(&access);
}

/*
 * Entries from 'from' to 'to' not acknowledged.  Gaps count: dispatch
 * acknowledges them when it passes them.  At most 'max_ranges' ranges are
 * read, from 'from' on; entries past the last of them count as
 * acknowledged, so that a caller on a hot path pays for a bounded number
 * of ranges and, when there are more, undercounts.
 */
int64
count_unacked(Subscription *subscription, int64 ledger_id, int64 from,
			  int64 to, int max_ranges)
{
	AckedRanges acked;
	int64		unacked;
	int64		covered = from - 1;

	if (to < from)
		return 0;
	load_acked_ranges(subscription, ledger_id, from, max_ranges, &acked);
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
 * consumer could have received.
 */
LedgerInfo *
ledger_of_message(TopicInfo *topic, const MessageId *id)
{
	if (message_id_is_earliest(id) || message_id_is_latest(id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("message ID %s does not name a message",
						message_id_is_earliest(id) ? "'earliest'" : "'latest'")));
	for (int i = 0; i < topic->num_ledgers; i++)
	{
		LedgerInfo *ledger = &topic->ledgers[i];

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
		if (id->entry_id < 0 ||
			id->entry_id > GetMaxReadPosition(ledger->ledger_id, load_next_entry))
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

/*
 * What the acknowledging functions share: checks, the topic and the
 * subscription.
 */
static Subscription *
open_for_ack(FunctionCallInfo fcinfo, const char *function)
{
	TopicInfo  *topic;

	PreventCommandIfReadOnly(function);
	PreventCommandDuringRecovery(function);
	RequireReadPositionState();
	topic = resolve_subscribed_topic(fcinfo, false);
	return open_subscription(topic,
							 required_name_argument(fcinfo, 1, "subscription"),
							 AccessShareLock);
}

static MessageId *
message_id_argument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message_id must not be null")));
	return PG_GETARG_MESSAGE_ID_P(argno);
}

static ArrayType *
message_ids_argument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message_ids must not be null")));
	return PG_GETARG_ARRAYTYPE_P(argno);
}

/*
 * The message ids of an array argument, grouped by ledger: calls 'apply'
 * once per ledger with its entries.
 */
static void
for_each_ledger_of_ids(Subscription *subscription, ArrayType *ids,
					   void (*apply) (Subscription *, int64, int64 *, int))
{
	TopicInfo  *topic = subscription->topic;
	Datum	   *elements;
	bool	   *nulls;
	int			count;
	int64	   *entries;
	int64	   *ledgers;

	if (ARR_NDIM(ids) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("message_ids must be a one-dimensional array")));
	deconstruct_array(ids, ARR_ELEMTYPE(ids), sizeof(MessageId), false,
					  TYPALIGN_DOUBLE, &elements, &nulls, &count);
	entries = palloc(sizeof(int64) * Max(count, 1));
	ledgers = palloc(sizeof(int64) * Max(count, 1));
	for (int i = 0; i < count; i++)
	{
		MessageId  *id;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("message_ids must not contain nulls")));
		id = DatumGetMessageIdP(elements[i]);
		ledgers[i] = ledger_of_message(topic, id)->ledger_id;
		entries[i] = id->entry_id;
	}
	for (int l = 0; l < topic->num_ledgers; l++)
	{
		int64	   *mine = palloc(sizeof(int64) * Max(count, 1));
		int			n = 0;

		for (int i = 0; i < count; i++)
			if (ledgers[i] == topic->ledgers[l].ledger_id)
				mine[n++] = entries[i];
		if (n > 0)
			apply(subscription, topic->ledgers[l].ledger_id, mine, n);
	}
}

/*
 * ack(topic, subscription, message_id)
 */
Datum
pulsar_ack(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_ack(fcinfo, "pulsar.ack()");
	MessageId  *id = message_id_argument(fcinfo, 2);
	LedgerInfo *ledger = ledger_of_message(subscription->topic, id);
	int64		entry = id->entry_id;

	ack_entries(subscription, ledger->ledger_id, &entry, 1);
	PG_RETURN_VOID();
}

/*
 * ack(topic, subscription, message_ids[])
 */
Datum
pulsar_ack_array(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_ack(fcinfo, "pulsar.ack()");

	for_each_ledger_of_ids(subscription, message_ids_argument(fcinfo, 2),
						   ack_entries);
	PG_RETURN_VOID();
}

/*
 * ack_cumulative(topic, subscription, message_id): everything up to and
 * including the message, in its partition.
 */
Datum
pulsar_ack_cumulative(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_ack(fcinfo, "pulsar.ack_cumulative()");
	MessageId  *id = message_id_argument(fcinfo, 2);
	LedgerInfo *ledger;
	CatalogAccess access;
	LockedCursor cursor;
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3];
	int64		first;
	int64		last;

	if (subscription->type == SUBSCRIPTION_SHARED ||
		subscription->type == SUBSCRIPTION_KEY_SHARED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cumulative acknowledgement is not supported on %s subscription \"%s\"",
						subscription_type_name(subscription->type),
						subscription->name),
				 errdetail("Consumers of shared and key_shared subscriptions receive messages out of order."),
				 errhint("Acknowledge each message with pulsar.ack().")));
	ledger = ledger_of_message(subscription->topic, id);

	begin_catalog_access(&access);
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
	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = Int64GetDatum(ledger->ledger_id);
	values[2] = Int64GetDatum(id->entry_id);
	while (cursor.any_pending)
	{
		bool		isnull;

		run_catalog_sql("WITH candidates AS ("
						"  SELECT count(*) AS n FROM pulsar.pending"
						"   WHERE subscription_id = $1 AND ledger_id = $2"
						"     AND first_entry <= $3),"
						" acked AS ("
						"  DELETE FROM pulsar.pending"
						"   WHERE subscription_id = $1 AND ledger_id = $2"
						"     AND first_entry <= $3"
						"  RETURNING *),"
						" rest AS ("
						"  INSERT INTO pulsar.pending"
						"  (subscription_id, ledger_id, first_entry, last_entry,"
						"   consumer_id, key_hash, delivered_at, redeliver_at,"
						"   redelivery_count)"
						"  SELECT subscription_id, ledger_id, $3 + 1, last_entry,"
						"         consumer_id, key_hash, delivered_at, redeliver_at,"
						"         redelivery_count"
						"    FROM acked WHERE last_entry > $3)"
						" SELECT n = (SELECT count(*) FROM acked) FROM candidates",
						3, argtypes, values, NULL, false);
		cursor.any_pending =
			!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));
	}
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
	end_catalog_access(&access);
	PG_RETURN_VOID();
}

static void
nack_entries(Subscription *subscription, int64 ledger_id, int64 *entries,
			 int count)
{
	CatalogAccess access;
	Oid			argtypes[8] = {INT8OID, INT8OID, INT8ARRAYOID, INT8OID,
		BOOLARRAYOID, INT4ARRAYOID, INT4ARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		values[8];
	Datum	   *elements;
	Datum	   *found;
	Datum	   *counts;
	Datum	   *hashes;
	Datum	   *delivered_at;
	bool	   *hash_nulls;
	bool	   *delivered_nulls;
	TakenEntry *taken;
	int			dims[1];
	int			lbs[1] = {1};

	count = sort_distinct(entries, count);
	elements = palloc(sizeof(Datum) * count);
	found = palloc(sizeof(Datum) * count);
	counts = palloc(sizeof(Datum) * count);
	hashes = palloc(sizeof(Datum) * count);
	delivered_at = palloc(sizeof(Datum) * count);
	hash_nulls = palloc(sizeof(bool) * count);
	delivered_nulls = palloc(sizeof(bool) * count);
	taken = palloc(sizeof(TakenEntry) * count);

	/* not after the statement: the row's time must not precede the note */
	WorkerNoteTimer(GetCurrentTimestamp() + subscription->negative_ack_delay_us);
	begin_catalog_access(&access);

	/* out of the runs consumers hold, keeping what each row said */
	take_pending_entries(subscription, ledger_id, entries, count, taken);
	for (int i = 0; i < count; i++)
	{
		elements[i] = Int64GetDatum(entries[i]);
		found[i] = BoolGetDatum(taken[i].found);
		counts[i] = Int32GetDatum(taken[i].redelivery_count);
		hashes[i] = Int32GetDatum(taken[i].key_hash);
		hash_nulls[i] = !taken[i].found || taken[i].key_hash == -1;
		delivered_at[i] = TimestampTzGetDatum(taken[i].delivered_at);
		delivered_nulls[i] = taken[i].found && !taken[i].delivered;
	}
	dims[0] = count;
	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = Int64GetDatum(ledger_id);
	values[2] = PointerGetDatum(construct_array(elements, count, INT8OID, 8,
												true, TYPALIGN_DOUBLE));
	values[3] = Int64GetDatum(subscription->negative_ack_delay_us);
	values[4] = PointerGetDatum(construct_array(found, count, BOOLOID, 1,
												true, TYPALIGN_CHAR));
	values[5] = PointerGetDatum(construct_array(counts, count, INT4OID, 4,
												true, TYPALIGN_INT));
	values[6] = PointerGetDatum(construct_md_array(hashes, hash_nulls, 1, dims,
												   lbs, INT4OID, 4, true,
												   TYPALIGN_INT));
	values[7] = PointerGetDatum(construct_md_array(delivered_at, delivered_nulls,
												   1, dims, lbs, TIMESTAMPTZOID,
												   8, true, TYPALIGN_DOUBLE));
	run_catalog_sql("INSERT INTO pulsar.pending"
					" (subscription_id, ledger_id, first_entry, last_entry, key_hash,"
					"  delivered_at, redeliver_at, redelivery_count)"
					" SELECT $1, $2, e, e, h,"
					"        CASE WHEN f THEN d ELSE clock_timestamp() END,"
					"        clock_timestamp() + $4 * interval '1 microsecond', n"
					"   FROM unnest($3, $5, $6, $7, $8) AS nacked(e, f, n, h, d)"
					"  WHERE e > (SELECT mark_delete FROM pulsar.cursor"
					"              WHERE subscription_id = $1 AND ledger_id = $2)"
					"    AND NOT EXISTS (SELECT 1 FROM (" NEAREST_ACKED_RANGE ") r"
					"                     WHERE r.last_entry >= e)"
					" ON CONFLICT (subscription_id, ledger_id, first_entry) DO UPDATE"
					"   SET consumer_id = NULL, redeliver_at = EXCLUDED.redeliver_at"
					"   WHERE pending.last_entry = pending.first_entry",
					8, argtypes, values, NULL, false);
	end_catalog_access(&access);
}

/*
 * nack(topic, subscription, message_ids[]): redeliver after the
 * subscription's negative-ack delay.
 */
Datum
pulsar_nack(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_ack(fcinfo, "pulsar.nack()");

	for_each_ledger_of_ids(subscription, message_ids_argument(fcinfo, 2),
						   nack_entries);
	PG_RETURN_VOID();
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

	begin_catalog_access(&access);
	/* a trimmed position is the first stored one, as for readers */
	lock_ledger_against_trim(ledger->ledger_id);
	lowest = lowest_stored_segment(ledger->ledger_id);
	if (lowest >= 0)
		next_entry = Max(next_entry, lowest * ledger->segment_entries);
	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = Int64GetDatum(ledger->ledger_id);
	values[2] = Int64GetDatum(next_entry - 1);
	run_catalog_sql("UPDATE pulsar.cursor SET mark_delete = $3"
					" WHERE subscription_id = $1 AND ledger_id = $2",
					3, argtypes, values, NULL, false);
	run_catalog_sql("DELETE FROM pulsar.acked_range"
					" WHERE subscription_id = $1 AND ledger_id = $2",
					2, argtypes, values, NULL, false);
	run_catalog_sql("DELETE FROM pulsar.pending"
					" WHERE subscription_id = $1 AND ledger_id = $2",
					2, argtypes, values, NULL, false);
	end_catalog_access(&access);
}

static Subscription *
open_for_seek(FunctionCallInfo fcinfo)
{
	TopicInfo  *topic;

	PreventCommandIfReadOnly("pulsar.seek()");
	PreventCommandDuringRecovery("pulsar.seek()");
	RequireReadPositionState();
	topic = resolve_subscribed_topic(fcinfo, false);
	return open_subscription(topic,
							 required_name_argument(fcinfo, 1, "subscription"),
							 AccessExclusiveLock);
}

static void
seek_to_message(Subscription *subscription, MessageId *id)
{
	TopicInfo  *topic = subscription->topic;

	if (message_id_is_earliest(id) || message_id_is_latest(id))
	{
		for (int i = 0; i < topic->num_ledgers; i++)
			reset_cursor(subscription, &topic->ledgers[i],
						 message_id_is_earliest(id) ? 0 :
						 GetMaxReadPosition(topic->ledgers[i].ledger_id,
											load_next_entry) + 1);
	}
	else
		reset_cursor(subscription, ledger_of_message(topic, id),
					 id->entry_id);
	reset_dispatch_at_commit(subscription->subscription_id);
}

/*
 * seek(topic, subscription, message_id): the message becomes the next one
 * delivered in its partition; 'earliest' and 'latest' move every partition.
 */
Datum
pulsar_seek(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_seek(fcinfo);

	seek_to_message(subscription, message_id_argument(fcinfo, 2));
	PG_RETURN_VOID();
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

static void
seek_to_time(Subscription *subscription, TimestampTz publish_time)
{
	TopicInfo  *topic = subscription->topic;

	for (int i = 0; i < topic->num_ledgers; i++)
	{
		LedgerInfo *ledger = &topic->ledgers[i];
		int64		last = GetMaxReadPosition(ledger->ledger_id, load_next_entry);
		Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
		TimeSeek	seek;

		seek.publish_time = publish_time;
		seek.found = last + 1;
		scan_ledger(ledger, -1, last, snapshot, find_publish_time, &seek);
		UnregisterSnapshot(snapshot);
		reset_cursor(subscription, ledger, seek.found);
	}
	reset_dispatch_at_commit(subscription->subscription_id);
}

/*
 * seek(topic, subscription, publish_time): in every partition, the first
 * message published at or after the time becomes the next one delivered.
 */
Datum
pulsar_seek_time(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_seek(fcinfo);

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("publish_time must not be null")));
	seek_to_time(subscription, PG_GETARG_TIMESTAMPTZ(2));
	PG_RETURN_VOID();
}

/*
 * seek(topic, subscription, target text): 'earliest', 'latest', a message
 * ID or a time, so that an untyped literal finds a function.
 */
Datum
pulsar_seek_text(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_seek(fcinfo);
	char	   *position = required_name_argument(fcinfo, 2, "target");
	Datum		parsed;

	if (strchr(position, ':') != NULL && strchr(position, '-') != position &&
		strspn(position, "0123456789:-") == strlen(position))
		seek_to_message(subscription,
						DatumGetMessageIdP(DirectFunctionCall1(message_id_in,
															   CStringGetDatum(position))));
	else if (pg_strcasecmp(position, "earliest") == 0 ||
			 pg_strcasecmp(position, "latest") == 0)
		seek_to_message(subscription,
						DatumGetMessageIdP(DirectFunctionCall1(message_id_in,
															   CStringGetDatum(position))));
	else
	{
		parsed = DirectFunctionCall3(timestamptz_in, CStringGetDatum(position),
									 ObjectIdGetDatum(InvalidOid),
									 Int32GetDatum(-1));
		seek_to_time(subscription, DatumGetTimestampTz(parsed));
	}
	PG_RETURN_VOID();
}
