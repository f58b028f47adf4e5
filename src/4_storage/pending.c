/*-------------------------------------------------------------------------
 *
 * pending.c
 *	  pulsar.pending: every statement and index scan on it.
 *
 * A row of the unlogged table pulsar.pending is a run of entries of one
 * subscription in one partition that must be tracked one by one: what a
 * consumer of a shared or key_shared subscription holds, what waits for
 * redelivery (nacked, given back by a consumer that left, past its ack
 * timeout), a delayed message not yet due, and, with an ack timeout,
 * everything delivered.  Losing the table in a crash only causes
 * redelivery (DESIGN invariant 2).  Receive (dispatch.c), acks (cursor.c),
 * consumers (subscription.c), stats and the worker reach it only through
 * the functions here; a statement that names pulsar.pending lives here even
 * when it also changes another table (detaching consumers, deleting a
 * topic's subscriptions), since splitting it would change what one
 * snapshot sees.
 *
 * Locking rules, which the isolation specs hold the callers to:
 *	- A receive reads rows with a dirty snapshot (pending_load_runs), so
 *	  that rows of receives still in progress count as held, and before the
 *	  cursor, so that a message an ack takes out of its row is seen held or
 *	  acknowledged, never neither.
 *	- Redelivery claims rows FOR UPDATE SKIP LOCKED, after an unlocked look
 *	  that counts what it needs: a row an ack or another redelivery is busy
 *	  with is passed, never waited for.
 *	- Acks of exclusive and failover subscriptions lock the cursor row
 *	  before pending rows (cursor.c); a redelivery that may dead-letter
 *	  takes the cursor row first too.
 *	- What the worker and receivers run never waits for a transaction
 *	  (DESIGN invariant 6a): they give back a departed consumer's rows with
 *	  SKIP LOCKED and read the latest committed state.
 *	- A statement that takes rows out (ack, nack) counts the rows its
 *	  snapshot shows and looks again while it took fewer: a row split while
 *	  it waited has new rows it cannot see.
 *
 * Functions that run SQL without saying otherwise expect the caller inside
 * catalog_access_begin(); those that leave rows in SPI_tuptable say so.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "2_shmem/worker_signal.h"
#include "3_catalog/catalog.h"
#include "4_storage/cursor.h"
#include "4_storage/pending.h"


/* the bigint in the first column of the last statement's one row */
static int64
first_int64(void)
{
	bool		isnull;

	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Whether a pending row may be due for redelivery: its time came, or the
 * consumer holding it is not among the 'num_live' in 'live' (NULL: not
 * known, so it may be).  A consumer that leaves gives its rows back with a
 * redelivery time of then; a row it kept because another transaction held
 * it is due by its holder alone, which DUE_SQL checks.
 */
static bool
maybe_due(HeapTuple tuple, TupleDesc desc, AttrNumber consumer_attnum,
		  AttrNumber redeliver_attnum, TimestampTz now, const Consumer *live,
		  int num_live)
{
	bool		isnull;
	Datum		value;
	int64		consumer_id;

	value = heap_getattr(tuple, redeliver_attnum, desc, &isnull);
	if (!isnull && DatumGetTimestampTz(value) <= now)
		return true;
	value = heap_getattr(tuple, consumer_attnum, desc, &isnull);
	if (isnull || live == NULL)
		return true;
	consumer_id = DatumGetInt64(value);
	for (int i = 0; i < num_live; i++)
		if (live[i].consumer_id == consumer_id)
			return false;
	return true;
}

/*
 * Whether the subscription has a pending row in the partition that ends
 * above 'above'.  With 'any_due', also whether one of those may be due for
 * redelivery (see maybe_due()), so that a receive runs DUE_SQL only then.
 */
bool
pending_any_above(int64 subscription_id, int64 ledger_id, int64 above,
				  Snapshot snapshot, const Consumer *live, int num_live,
				  bool *any_due)
{
	Oid			relid = catalog_relation_oid(CATALOG_PENDING);
	AttrNumber	last_attnum = get_attnum(relid, "last_entry");
	AttrNumber	consumer_attnum = InvalidAttrNumber;
	AttrNumber	redeliver_attnum = InvalidAttrNumber;
	TimestampTz now = 0;
	Relation	pending = table_open(relid, AccessShareLock);
	Relation	index = index_open(RelationGetPrimaryKeyIndex(pending),
								   AccessShareLock);
	TupleDesc	desc = RelationGetDescr(pending);
	SysScanDesc scan = cursor_begin_partition_scan(pending, index, snapshot,
												   subscription_id, ledger_id);
	HeapTuple	tuple;
	bool		found = false;
	bool		isnull;

	if (any_due != NULL)
	{
		*any_due = false;
		consumer_attnum = get_attnum(relid, "consumer_id");
		redeliver_attnum = get_attnum(relid, "redeliver_at");
		now = GetCurrentTimestamp();
	}
	while ((tuple = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
	{
		if (DatumGetInt64(heap_getattr(tuple, last_attnum, desc, &isnull)) <= above)
			continue;
		found = true;
		if (any_due == NULL)
			break;
		if (maybe_due(tuple, desc, consumer_attnum, redeliver_attnum, now,
					  live, num_live))
		{
			*any_due = true;
			break;
		}
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(pending, AccessShareLock);
	return found;
}

/*
 * Reads the pending rows of a subscription in a partition that end at or
 * after 'from_entry', including those of receives still in progress.
 */
void
pending_load_runs(Subscription *subscription, int64 ledger_id,
				  int64 from_entry, int limit, PendingRows *rows)
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
 * Writes the pending rows of delayed messages a receive passed: each is a
 * redelivery due at its time, which no consumer holds yet.
 */
void
pending_hold_delayed(int64 subscription_id, int64 ledger_id, Datum *entries,
					 Datum *key_hashes, Datum *due, int count)
{
	CatalogAccess access;
	Oid			argtypes[5] = {INT8OID, INT8OID, INT8ARRAYOID, INT4ARRAYOID,
	TIMESTAMPTZARRAYOID};
	Datum		values[5];

	values[0] = Int64GetDatum(subscription_id);
	values[1] = Int64GetDatum(ledger_id);
	values[2] = PointerGetDatum(catalog_int8_array(entries, count));
	values[3] = PointerGetDatum(construct_array(key_hashes,
												count, INT4OID,
												4, true, TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_array(due,
												count,
												TIMESTAMPTZOID, 8, true,
												TYPALIGN_DOUBLE));
	catalog_access_begin(&access);
	catalog_run_sql("INSERT INTO pulsar.pending"
					" (subscription_id, ledger_id, first_entry, last_entry,"
					"  key_hash, redeliver_at)"
					" SELECT $1, $2, e, e, h, due FROM unnest($3, $4, $5) AS held(e, h, due)",
					5, argtypes, values, NULL, false);
	catalog_access_end(&access);
	pfree(DatumGetPointer(values[2]));
	pfree(DatumGetPointer(values[3]));
	pfree(DatumGetPointer(values[4]));
}

/*
 * Records what a consumer now holds of the new messages handed out: one
 * row per run of consecutive entries, or per message for Key_Shared
 * routing, which needs each message's key.
 */
void
pending_hold_for_consumer(Subscription *subscription, int64 ledger_id,
						  int64 consumer_id, const int64 *entries,
						  const int32 *key_hashes, int count)
{
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
	values[1] = Int64GetDatum(ledger_id);
	values[2] = Int64GetDatum(consumer_id);
	values[3] = PointerGetDatum(catalog_int8_array(firsts, num_runs));
	values[4] = PointerGetDatum(catalog_int8_array(lasts, num_runs));
	values[5] = PointerGetDatum(construct_md_array(hashes, hash_nulls, 1, dims,
												   lbs, INT4OID, 4, true,
												   TYPALIGN_INT));
	values[6] = Int64GetDatum(subscription->ack_timeout_us);
	if (subscription->ack_timeout_us > 0)
		worker_signal_timer(GetCurrentTimestamp() + subscription->ack_timeout_us);
	catalog_access_begin(&access);
	catalog_run_sql("INSERT INTO pulsar.pending"
					" (subscription_id, ledger_id, first_entry, last_entry,"
					"  consumer_id, key_hash, delivered_at, redeliver_at)"
					" SELECT $1, $2, f, l, $3, h, clock_timestamp(),"
					"        CASE WHEN $7 > 0"
					"          THEN clock_timestamp() + $7 * interval '1 microsecond'"
					"          ELSE 'infinity' END"
					"   FROM unnest($4, $5, $6) AS d(f, l, h)",
					7, argtypes, values, NULL, false);
	catalog_access_end(&access);
}

/*
 * How many entries a consumer of a shared or key_shared subscription holds,
 * counting at most 'limit' rows.
 */
int64
pending_count_held_by(int64 subscription_id, int64 ledger_id,
					  int64 consumer_id, int32 limit)
{
	CatalogAccess access;
	Oid			argtypes[8] = {INT8OID, INT8OID, INT8OID, INT8ARRAYOID, INT4ARRAYOID, INT8OID, INT4OID,
	TIMESTAMPTZARRAYOID};
	Datum		values[8];
	char		nulls[8] = "   nnn  ";
	int64		holding;

	values[0] = Int64GetDatum(subscription_id);
	values[1] = Int64GetDatum(ledger_id);
	values[2] = Int64GetDatum(consumer_id);
	values[6] = Int32GetDatum(limit);
	catalog_access_begin(&access);
	catalog_run_sql("SELECT coalesce(sum(n), 0)::bigint FROM"
					" (SELECT last_entry - first_entry + 1 AS n FROM pulsar.pending"
					"   WHERE subscription_id = $1 AND consumer_id = $3"
					"   LIMIT $7) held",
					7, argtypes, values, nulls, false);
	holding = first_int64();
	catalog_access_end(&access);
	return holding;
}

/*
 * How many entries of one partition the consumers of a shared or
 * key_shared subscription hold together, counting at most 'limit' rows.
 */
int64
pending_count_held(int64 subscription_id, int64 ledger_id, int32 limit)
{
	CatalogAccess access;
	Oid			argtypes[3] = {INT8OID, INT8OID, INT4OID};
	Datum		values[3];
	int64		holding;

	values[0] = Int64GetDatum(subscription_id);
	values[1] = Int64GetDatum(ledger_id);
	values[2] = Int32GetDatum(limit);
	catalog_access_begin(&access);
	catalog_run_sql("SELECT coalesce(sum(n), 0)::bigint FROM"
					" (SELECT last_entry - first_entry + 1 AS n FROM pulsar.pending"
					"   WHERE subscription_id = $1 AND ledger_id = $2"
					"     AND consumer_id IS NOT NULL"
					"   LIMIT $3) held",
					3, argtypes, values, NULL, false);
	holding = first_int64();
	catalog_access_end(&access);
	return holding;
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
 * Rows due for redelivery above 'mark_delete', at most 'limit', by first
 * entry; with 'claim', locked FOR UPDATE SKIP LOCKED.  Leaves them in
 * SPI_tuptable: first_entry, last_entry, the redelivery count they go out
 * with, key_hash.
 */
void
pending_find_due(int64 subscription_id, int64 ledger_id, int64 mark_delete,
				 int32 limit, bool claim)
{
	Oid			argtypes[7] = {INT8OID, INT8OID, INT8OID, INT8ARRAYOID,
	INT8ARRAYOID, INT8OID, INT4OID};
	Datum		values[7];
	char		nulls[7] = "  nnn  ";

	values[0] = Int64GetDatum(subscription_id);
	values[1] = Int64GetDatum(ledger_id);
	values[5] = Int64GetDatum(mark_delete);
	values[6] = Int32GetDatum(limit);
	if (claim)
		catalog_run_sql(DUE_SQL " FOR UPDATE SKIP LOCKED",
						7, argtypes, values, nulls, false);
	else
		catalog_run_sql(DUE_SQL, 7, argtypes, values, nulls, false);
}

/*
 * Claims the rows that start at 'first_entries' (an int8 array) FOR UPDATE
 * SKIP LOCKED, leaving them in SPI_tuptable: first_entry, last_entry, the
 * redelivery count they go out with.
 */
void
pending_claim_runs(int64 subscription_id, int64 ledger_id, Datum first_entries)
{
	Oid			argtypes[4] = {INT8OID, INT8OID, INT8OID, INT8ARRAYOID};
	Datum		values[4];
	char		nulls[4] = "  n ";

	values[0] = Int64GetDatum(subscription_id);
	values[1] = Int64GetDatum(ledger_id);
	values[3] = first_entries;
	catalog_run_sql("SELECT first_entry, last_entry,"
					"       redelivery_count + (delivered_at IS NOT NULL)::int"
					"  FROM pulsar.pending"
					" WHERE subscription_id = $1 AND ledger_id = $2"
					"   AND first_entry = ANY ($4)"
					" ORDER BY first_entry FOR UPDATE SKIP LOCKED",
					4, argtypes, values, nulls, false);
}

/*
 * The rest of a claimed run cut short, from 'rest_first' on, stays due as
 * it was: a row of its own beside the row that starts at 'first_entry'.
 */
void
pending_keep_rest_due(int64 subscription_id, int64 ledger_id,
					  int64 first_entry, int64 rest_first)
{
	/* $3 is not used */
	int64		args[5] = {subscription_id, ledger_id, 0, first_entry, rest_first};

	catalog_run_sql_int8("INSERT INTO pulsar.pending"
					" (subscription_id, ledger_id, first_entry, last_entry,"
					"  consumer_id, key_hash, delivered_at, redeliver_at,"
					"  redelivery_count)"
					" SELECT subscription_id, ledger_id, $5, last_entry,"
					"        consumer_id, key_hash, delivered_at, redeliver_at,"
					"        redelivery_count"
					"   FROM pulsar.pending"
					"  WHERE subscription_id = $1 AND ledger_id = $2"
					"    AND first_entry = $4",
					5, args, false);
}

/*
 * Hands claimed rows (those starting at 'firsts') to a consumer: each now
 * runs from 'starts' to 'cuts', delivered now, and is due again after the
 * ack timeout, if any.
 */
void
pending_mark_redelivered(int64 subscription_id, int64 ledger_id,
						 int64 consumer_id, const int64 *firsts,
						 const int64 *starts, const int64 *cuts, int count,
						 int64 ack_timeout_us)
{
	Oid			argtypes[8] = {INT8OID, INT8OID, INT8OID, INT8ARRAYOID,
	INT8ARRAYOID, INT8OID, INT4OID, INT8ARRAYOID};
	Datum		values[8];
	char		nulls[8] = "      n ";
	Datum	   *first_datums = palloc(sizeof(Datum) * count);
	Datum	   *start_datums = palloc(sizeof(Datum) * count);
	Datum	   *cut_datums = palloc(sizeof(Datum) * count);

	for (int i = 0; i < count; i++)
	{
		first_datums[i] = Int64GetDatum(firsts[i]);
		start_datums[i] = Int64GetDatum(starts[i]);
		cut_datums[i] = Int64GetDatum(cuts[i]);
	}
	values[0] = Int64GetDatum(subscription_id);
	values[1] = Int64GetDatum(ledger_id);
	values[2] = Int64GetDatum(consumer_id);
	values[3] = PointerGetDatum(catalog_int8_array(first_datums, count));
	values[4] = PointerGetDatum(catalog_int8_array(start_datums, count));
	values[5] = Int64GetDatum(ack_timeout_us);
	values[7] = PointerGetDatum(catalog_int8_array(cut_datums, count));
	catalog_run_sql("UPDATE pulsar.pending p"
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
					8, argtypes, values, nulls, false);
}

/* pending rows of subscription $1 in ledger $2 covering entries $3 (sorted) */
#define PENDING_COVERING_ENTRIES \
	"p.subscription_id = $1 AND p.ledger_id = $2" \
	" AND p.first_entry >= coalesce(" \
	"      (SELECT max(first_entry) FROM pulsar.pending" \
	"        WHERE subscription_id = $1 AND ledger_id = $2" \
	"          AND first_entry <= $3[1]), $3[1])" \
	" AND p.first_entry <= $3[array_upper($3, 1)]" \
	" AND int8range(p.first_entry, p.last_entry, '[]') @> ANY ($3)"

/*
 * Deletes the subscription's pending rows of one ledger that cover any of
 * 'entries' (an int8 array, sorted), leaving in SPI_tuptable the columns of
 * each deleted row after a first one that is, with 'count_candidates', how
 * many rows the statement's snapshot showed (then one row, all NULL but the
 * count, if none was deleted), else NULL.
 */
static void
delete_rows_covering(int64 subscription_id, int64 ledger_id, Datum entries,
					 bool count_candidates)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8ARRAYOID};
	Datum		values[3];

	values[0] = Int64GetDatum(subscription_id);
	values[1] = Int64GetDatum(ledger_id);
	values[2] = entries;
	if (!count_candidates)
	{
		catalog_run_sql("DELETE FROM pulsar.pending p"
						" WHERE " PENDING_COVERING_ENTRIES
						" RETURNING NULL::bigint, first_entry, last_entry,"
						"           consumer_id, key_hash, delivered_at,"
						"           redeliver_at, redelivery_count",
						3, argtypes, values, NULL, false);
		return;
	}
	catalog_run_sql("WITH candidates AS ("
					"  SELECT count(*) AS n FROM pulsar.pending p"
					"   WHERE " PENDING_COVERING_ENTRIES "),"
					" taken AS ("
					"  DELETE FROM pulsar.pending p"
					"   WHERE " PENDING_COVERING_ENTRIES
					"  RETURNING first_entry, last_entry, consumer_id, key_hash,"
					"            delivered_at, redeliver_at, redelivery_count)"
					" SELECT c.n, t.* FROM candidates c LEFT JOIN taken t ON true",
					3, argtypes, values, NULL, false);
}

/*
 * Fills 'taken' for the entries a row delete_rows_covering() returned
 * covers and that no earlier row did; returns how many.
 */
static int
note_taken_entries(HeapTuple row, TupleDesc desc, const int64 *entries,
				   int count, TakenEntry *taken)
{
	bool		isnull;
	int64		first = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
	int64		last = DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull));
	Datum		delivered_at = SPI_getbinval(row, desc, 6, &isnull);
	bool		delivered = !isnull;
	Datum		key_hash = SPI_getbinval(row, desc, 5, &isnull);
	bool		key_isnull = isnull;
	int32		redelivery_count = DatumGetInt32(SPI_getbinval(row, desc, 8, &isnull));
	int			found_now = 0;

	for (int i = 0; i < count; i++)
	{
		if (entries[i] < first || entries[i] > last || taken[i].found)
			continue;
		taken[i].found = true;
		taken[i].redelivery_count = redelivery_count;
		taken[i].delivered = delivered;
		taken[i].delivered_at = delivered ? DatumGetTimestampTz(delivered_at) : 0;
		taken[i].key_hash = key_isnull ? -1 : DatumGetInt32(key_hash);
		found_now++;
	}
	return found_now;
}

/*
 * Writes back the parts of a taken row's run that were not asked for, as
 * rows of their own in the row's state.
 */
static void
write_back_untaken(int64 subscription_id, int64 ledger_id, HeapTuple row,
				   TupleDesc desc, const int64 *entries, int count)
{
	bool		isnull;
	int64		first = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
	int64		last = DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull));
	int32		redelivery_count = DatumGetInt32(SPI_getbinval(row, desc, 8, &isnull));
	int64		piece_first = first;
	Datum	   *piece_firsts = palloc(sizeof(Datum) * (count + 1));
	Datum	   *piece_lasts = palloc(sizeof(Datum) * (count + 1));
	int			num_pieces = 0;
	Oid			piece_argtypes[9] = {INT8OID, INT8OID, INT8ARRAYOID,
		INT8ARRAYOID, INT8OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	INT4OID};
	Datum		piece_values[9];
	char		piece_nulls[9] = "         ";

	for (int i = 0; i < count; i++)
	{
		if (entries[i] < first || entries[i] > last)
			continue;
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
	if (num_pieces == 0)
		return;

	piece_values[0] = Int64GetDatum(subscription_id);
	piece_values[1] = Int64GetDatum(ledger_id);
	piece_values[2] = PointerGetDatum(catalog_int8_array(piece_firsts, num_pieces));
	piece_values[3] = PointerGetDatum(catalog_int8_array(piece_lasts, num_pieces));
	for (int c = 0; c < 4; c++)
	{
		piece_values[4 + c] = SPI_getbinval(row, desc, 4 + c, &isnull);
		if (isnull)
			piece_nulls[4 + c] = 'n';
	}
	piece_values[8] = Int32GetDatum(redelivery_count);
	catalog_run_sql("INSERT INTO pulsar.pending"
					" (subscription_id, ledger_id, first_entry, last_entry,"
					"  consumer_id, key_hash, delivered_at, redeliver_at,"
					"  redelivery_count)"
					" SELECT $1, $2, f, l, $5, $6, $7, $8, $9"
					"   FROM unnest($3, $4) AS piece(f, l)",
					9, piece_argtypes, piece_values, piece_nulls, false);
}

/*
 * Takes entries (sorted, distinct) of one ledger out of the subscription's
 * pending rows: a row is deleted, and the parts of its run that were not
 * asked for are written back as rows of their own, in the same state.
 * Fills 'taken' per entry and returns how many were found.
 *
 * A row another transaction changes while this one waits for it may have
 * been split: its new rows are invisible to the statement that waited.  So
 * each look also counts the rows its snapshot shows, and while it took
 * fewer, entries not found are looked for again with a new snapshot.
 * Caller is inside catalog_access_begin().
 */
int
pending_take_entries(Subscription *subscription, int64 ledger_id,
					 const int64 *entries, int count, TakenEntry *taken)
{
	int			found = 0;
	bool		first_look = true;

	memset(taken, 0, sizeof(TakenEntry) * count);
	for (;;)
	{
		Datum	   *missing = palloc(sizeof(Datum) * count);
		int			num_missing = 0;
		int			num_rows;
		int64		candidates;
		bool		isnull;
		SPITupleTable *rows;

		for (int i = 0; i < count; i++)
			if (!taken[i].found)
				missing[num_missing++] = Int64GetDatum(entries[i]);
		if (num_missing == 0)
			break;
		/*
		 * The first look only deletes: when it finds every entry, as an ack
		 * of what was received usually does, there is nothing to look for
		 * again, and counting would be a second scan for nothing.
		 */
		delete_rows_covering(subscription->subscription_id, ledger_id,
							 PointerGetDatum(catalog_int8_array(missing, num_missing)),
							 !first_look);
		rows = SPI_tuptable;
		num_rows = (int) SPI_processed;
		candidates = -1;		/* unknown: look again unless all found */
		if (!first_look)
		{
			candidates = DatumGetInt64(SPI_getbinval(rows->vals[0], rows->tupdesc,
													 1, &isnull));
			SPI_getbinval(rows->vals[0], rows->tupdesc, 2, &isnull);
			if (isnull)
				num_rows = 0;
		}
		first_look = false;

		for (int r = 0; r < num_rows; r++)
		{
			found += note_taken_entries(rows->vals[r], rows->tupdesc, entries,
										count, taken);
			write_back_untaken(subscription->subscription_id, ledger_id,
							   rows->vals[r], rows->tupdesc, entries, count);
		}
		/* every row this snapshot showed was taken: nothing else to find */
		if (num_rows == candidates)
			break;
	}
	return found;
}

/*
 * Takes every pending entry up to 'entry' out of the subscription's rows in
 * the partition (a cumulative ack); a run reaching past it keeps its rest.
 * Returns whether it took every row its snapshot showed: a row split while
 * the statement waited for it has new rows it cannot see, so while this is
 * false the caller looks again.
 */
bool
pending_take_through(int64 subscription_id, int64 ledger_id, int64 entry)
{
	int64		args[3] = {subscription_id, ledger_id, entry};
	bool		isnull;

	catalog_run_sql_int8("WITH candidates AS ("
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
					3, args, false);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * For an expiry that must not wait for consumers (cursor.c): locks the
 * subscription's rows in the partition up to 'entry' that no other
 * transaction holds, and returns the first entry of the lowest row another
 * one holds (an ack or nack in progress), or PG_INT64_MAX if none does.
 * Rows this transaction locked are its own then, so only another's remain.
 */
int64
pending_lock_free_through(int64 subscription_id, int64 ledger_id, int64 entry)
{
	int64		args[3] = {subscription_id, ledger_id, entry};
	bool		isnull;
	Datum		blocked;

	catalog_run_sql_int8("WITH mine AS ("
					"  SELECT ctid FROM pulsar.pending"
					"   WHERE subscription_id = $1 AND ledger_id = $2"
					"     AND first_entry <= $3"
					"   FOR UPDATE SKIP LOCKED)"
					" SELECT min(p.first_entry) FROM pulsar.pending p"
					"  WHERE p.subscription_id = $1 AND p.ledger_id = $2"
					"    AND p.first_entry <= $3"
					"    AND p.ctid NOT IN (SELECT ctid FROM mine)",
					3, args, false);
	blocked = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							&isnull);
	return isnull ? PG_INT64_MAX : DatumGetInt64(blocked);
}

/*
 * Puts nacked entries (sorted, distinct) back as rows of one entry each,
 * due after the subscription's negative ack delay, keeping what their rows
 * said when they were taken ('taken', from pending_take_entries()).
 * Entries acknowledged meanwhile are not put back.
 */
void
pending_put_back_nacked(Subscription *subscription, int64 ledger_id,
						const int64 *entries, int count,
						const TakenEntry *taken)
{
	Oid			argtypes[8] = {INT8OID, INT8OID, INT8ARRAYOID, INT8OID,
		BOOLARRAYOID, INT4ARRAYOID, INT4ARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		values[8];
	Datum	   *elements = palloc(sizeof(Datum) * count);
	Datum	   *found = palloc(sizeof(Datum) * count);
	Datum	   *counts = palloc(sizeof(Datum) * count);
	Datum	   *hashes = palloc(sizeof(Datum) * count);
	Datum	   *delivered_at = palloc(sizeof(Datum) * count);
	bool	   *hash_nulls = palloc(sizeof(bool) * count);
	bool	   *delivered_nulls = palloc(sizeof(bool) * count);
	int			dims[1];
	int			lbs[1] = {1};

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
	values[2] = PointerGetDatum(catalog_int8_array(elements, count));
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
	catalog_run_sql("INSERT INTO pulsar.pending"
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
}

/* Drops what consumers hold of a partition (a seek moved its cursor). */
void
pending_forget_partition(int64 subscription_id, int64 ledger_id)
{
	int64		args[2] = {subscription_id, ledger_id};

	catalog_run_sql_int8("DELETE FROM pulsar.pending"
						 " WHERE subscription_id = $1 AND ledger_id = $2",
						 2, args, false);
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

/* Runs a statement whose only parameter is an array of consumer ids. */
static void
run_on_consumers(const char *sql, Datum consumer_ids, bool latest_snapshot)
{
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		values[1] = {consumer_ids};

	catalog_run_sql(sql, 1, argtypes, values, NULL, latest_snapshot);
}

/*
 * Gives back what the consumers 'consumer_ids' (an int8 array) held: their
 * rows are due at once.  Skips rows another transaction holds and reads
 * the latest committed state.  Leaves the subscription_id of each row
 * given back in SPI_tuptable.
 */
void
pending_give_back_held(Datum consumer_ids)
{
	run_on_consumers(RELEASE_HELD_SQL " SKIP LOCKED" RELEASE_HELD_SQL_TAIL,
					 consumer_ids, true);
}

/*
 * Deletes those of the consumers 'consumer_ids' that no pending row names,
 * skipping consumers another transaction holds, as last committed.  Leaves
 * (subscription_id, consumer_id) of each deleted consumer in SPI_tuptable.
 */
void
pending_delete_consumers_holding_nothing(Datum consumer_ids)
{
	run_on_consumers(DELETE_UNHOLDING_SQL " SKIP LOCKED" DELETE_UNHOLDING_SQL_TAIL,
					 consumer_ids, true);
}

/*
 * Deletes the consumers 'consumer_ids' at once and gives back what they
 * held, waiting for rows another transaction changes.  Leaves
 * (subscription_id, consumer_id) of each deleted consumer in SPI_tuptable.
 */
void
pending_detach_consumers_giving_back(Datum consumer_ids)
{
	run_on_consumers("WITH detached AS ("
					"  DELETE FROM pulsar.consumer WHERE consumer_id = ANY ($1)"
					"  RETURNING subscription_id, consumer_id),"
					" released AS ("
					"  UPDATE pulsar.pending p"
					"     SET consumer_id = NULL, redeliver_at = clock_timestamp()"
					"    FROM detached d"
					"   WHERE p.subscription_id = d.subscription_id"
					"     AND p.consumer_id = d.consumer_id)"
					" SELECT subscription_id, consumer_id FROM detached",
					 consumer_ids, false);
}

/* Deletes every pending row of a subscription that goes. */
void
pending_forget_subscription(int64 subscription_id)
{
	catalog_run_sql_int8("DELETE FROM pulsar.pending WHERE subscription_id = $1",
						 1, &subscription_id, false);
}

/*
 * Deletes the subscriptions of a topic that goes, with their cursors,
 * acknowledged ranges, expiry counts, pending rows and consumers, in one
 * statement; their ids and those of their consumers are appended to the
 * lists (allocated in the caller's memory context) so that their shared
 * state can go with them.
 */
void
pending_delete_subscriptions_of_topic(int64 topic_id, List **subscription_ids,
									  List **consumer_ids)
{
	CatalogAccess access;
	MemoryContext caller = CurrentMemoryContext;
	/* the expiry counts are there since 0.7.0 */
	const char *expiry = cursor_expiry_table_exists() ?
		" expiry AS (DELETE FROM pulsar.cursor_expiry e USING gone g"
		"  WHERE e.subscription_id = g.subscription_id)," : "";

	catalog_access_begin(&access);
	catalog_run_sql_int8(psprintf("WITH gone AS ("
								  "  DELETE FROM pulsar.subscription WHERE topic_id = $1"
								  "  RETURNING subscription_id),"
								  " cursors AS (DELETE FROM pulsar.cursor c USING gone g"
								  "  WHERE c.subscription_id = g.subscription_id),"
								  " ranges AS (DELETE FROM pulsar.acked_range r USING gone g"
								  "  WHERE r.subscription_id = g.subscription_id),"
								  "%s"
								  " pending AS (DELETE FROM pulsar.pending p USING gone g"
								  "  WHERE p.subscription_id = g.subscription_id),"
								  " consumers AS (DELETE FROM pulsar.consumer c USING gone g"
								  "  WHERE c.subscription_id = g.subscription_id"
								  "  RETURNING c.consumer_id)"
								  " SELECT true, subscription_id FROM gone"
								  " UNION ALL SELECT false, consumer_id FROM consumers",
								  expiry),
						 1, &topic_id, false);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		bool		is_subscription = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
																 SPI_tuptable->tupdesc,
																 1, &isnull));
		MemoryContext old = MemoryContextSwitchTo(caller);
		int64	   *id = palloc(sizeof(int64));

		*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
										  SPI_tuptable->tupdesc, 2, &isnull));
		if (is_subscription)
			*subscription_ids = lappend(*subscription_ids, id);
		else
			*consumer_ids = lappend(*consumer_ids, id);
		MemoryContextSwitchTo(old);
	}
	catalog_access_end(&access);
}

/*
 * The consumers of a subscription with the entries each holds, by priority
 * and name, as last committed: leaves (name, priority, held) in
 * SPI_tuptable.
 */
void
pending_held_per_consumer(int64 subscription_id)
{
	catalog_run_sql_int8("SELECT c.name, c.priority,"
					"       (SELECT coalesce(sum(p.last_entry - p.first_entry + 1), 0)::bigint"
					"          FROM pulsar.pending p"
					"         WHERE p.subscription_id = c.subscription_id"
					"           AND p.consumer_id = c.consumer_id)"
					"  FROM pulsar.consumer c WHERE c.subscription_id = $1"
					" ORDER BY c.priority, c.name",
					1, &subscription_id, true);
}

/* Entries of a subscription of one kind, as last committed. */
int64
pending_count(int64 subscription_id, PendingKind kind)
{
	CatalogAccess access;
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(subscription_id),
	Int32GetDatum(kind)};
	int64		count;

	catalog_access_begin(&access);
	catalog_run_sql("SELECT coalesce(sum(last_entry - first_entry + 1), 0)::bigint"
					"  FROM pulsar.pending WHERE subscription_id = $1"
					"   AND CASE WHEN $2 = 0 THEN consumer_id IS NOT NULL"
					"            ELSE delivered_at IS NULL"
					"                 AND redeliver_at > clock_timestamp() END",
					2, argtypes, values, NULL, true);
	count = first_int64();
	catalog_access_end(&access);
	return count;
}

/* Runs a statement of the worker's timers on the times [$1, $2]. */
static void
run_between(const char *sql, TimestampTz from, TimestampTz until)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2] = {TimestampTzGetDatum(from), TimestampTzGetDatum(until)};

	catalog_run_sql(sql, 2, argtypes, values, NULL, false);
}

/*
 * For the worker: subscriptions with redeliveries or delayed messages that
 * fell due in [from, until].  Leaves (subscription_id, topic name) in
 * SPI_tuptable, as SUBSCRIPTION_TOPICS does.
 */
void
pending_find_subscriptions_due(TimestampTz from, TimestampTz until)
{
	run_between(SUBSCRIPTION_TOPICS
					" WHERE s.subscription_id IN"
					"       (SELECT subscription_id FROM pulsar.pending"
					"         WHERE redeliver_at >= $1 AND redeliver_at <= $2"
					"           AND redeliver_at < 'infinity')",
				from, until);
}

/* For the worker: the earliest timer after 'until', or DT_NOEND. */
TimestampTz
pending_next_due_after(TimestampTz from, TimestampTz until)
{
	bool		isnull;
	Datum		value;

	run_between("SELECT min(redeliver_at) FROM pulsar.pending"
				" WHERE redeliver_at > $2 AND redeliver_at < 'infinity'",
				from, until);
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
	return isnull ? DT_NOEND : DatumGetTimestampTz(value);
}

/*
 * Deletes the pending rows of the topic's subscriptions in a ledger that
 * end below 'below' (entries trimmed away); rows another transaction holds
 * are left for later.  Caller is inside catalog_access_begin().
 */
void
pending_forget_below(int64 topic_id, int64 ledger_id, int64 below)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3] = {Int64GetDatum(ledger_id), Int64GetDatum(below),
	Int64GetDatum(topic_id)};

	/* through the topic's subscriptions: rows are keyed by subscription */
	catalog_run_sql("DELETE FROM pulsar.pending p USING"
					" (SELECT ctid FROM pulsar.pending"
					"   WHERE subscription_id IN (SELECT subscription_id"
					"          FROM pulsar.subscription WHERE topic_id = $3)"
					"     AND ledger_id = $1 AND last_entry < $2"
					"     FOR UPDATE SKIP LOCKED) g"
					" WHERE p.ctid = g.ctid",
					3, argtypes, values, NULL, false);
}
