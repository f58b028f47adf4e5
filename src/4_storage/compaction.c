/*-------------------------------------------------------------------------
 *
 * compaction.c
 *	  Topic compaction, as in Pulsar: compacting a partition, the automatic
 *	  step driven by the compaction_threshold policy, the status of the
 *	  last compaction, and reading a partition through its compacted view.
 *	  Owns the table pulsar.compaction; its SQL entry points are in
 *	  6_entry/compact.c.
 *
 * The compacted view of a partition holds, for each key, the latest message
 * at or below the *horizon*: the partition's max read position when the
 * compaction started.  A message whose payload is NULL is a tombstone: its
 * key leaves the view.  Messages without a key are not in it.  Readers of
 * the view (read(..., compacted => true), subscriptions with read_compacted)
 * see it up to the horizon, then the partition's own messages above it.
 *
 * Each compaction writes a new table (a *generation*) from the previous one
 * and the messages between the two horizons, as Pulsar writes a new
 * compacted ledger from the old one and the topic's newer entries, and
 * then points the partition's row of pulsar.compaction at it, all in one
 * transaction.  The view holds copies of its messages, so the segments
 * below the horizon are not needed by it: trimming them leaves the view
 * whole.  A generation is dropped once a newer one has committed and no
 * reader holds it, by the next compaction of the partition or by the
 * automatic step (catalog.c says how readers never wait for that).
 *
 * Locking: a compaction takes its partition's compaction lock without
 * waiting (a second one is refused, or skipped by the automatic step), the
 * topic's lock in the mode of readers, and each table it reads in
 * AccessShareLock, so it never blocks senders, readers or receivers.  A
 * reader finds the current generation, locks its table, and reads it with
 * a snapshot taken after the lock; if the table was dropped meanwhile, a
 * newer generation has committed and it looks again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "1_value/message_id.h"
#include "1_value/subxact_items.h"
#include "1_value/topic_name.h"
#include "2_shmem/read_position.h"
#include "3_catalog/catalog.h"
#include "3_catalog/policy.h"
#include "4_storage/compaction.h"
#include "4_storage/reader.h"

/* a partition's row of pulsar.compaction */
typedef struct CompactionRow
{
	bool		compacted;		/* a compaction succeeded */
	int64		horizon;
	int64		generation;		/* 0: the view is empty, with no table */
	char	   *last_error;		/* of the last failed automatic compaction */
	bool		failed_last;	/* it failed after the last success */
} CompactionRow;

/*
 * Reads a partition's row with the latest snapshot.  Caller is inside
 * catalog_access_begin().
 */
static void
read_compaction_row(int64 ledger_id, CompactionRow *row)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(ledger_id)};

	memset(row, 0, sizeof(*row));
	catalog_run_sql("SELECT horizon, generation, last_error,"
					"       failed_at IS NOT NULL AND"
					"       (compacted_at IS NULL OR failed_at > compacted_at)"
					"  FROM pulsar.compaction WHERE ledger_id = $1",
					1, argtypes, values, NULL, true);
	if (SPI_processed > 0)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		value;

		value = SPI_getbinval(tuple, desc, 1, &isnull);
		row->compacted = !isnull;
		row->horizon = isnull ? -1 : DatumGetInt64(value);
		value = SPI_getbinval(tuple, desc, 2, &isnull);
		row->generation = isnull ? 0 : DatumGetInt64(value);
		row->last_error = SPI_getvalue(tuple, desc, 3);
		value = SPI_getbinval(tuple, desc, 4, &isnull);
		row->failed_last = !isnull && DatumGetBool(value);
	}
}

/*
 * Opens the compacted view of a partition for a reader.  The view is
 * consistent on its own (a table and the horizon it was written for), so
 * it need not be read with the caller's snapshot.
 */
void
compaction_open_view(const LedgerInfo *ledger, CompactedView *view)
{
	int64		missing = 0;
	int64		tried = 0;

	memset(view, 0, sizeof(*view));
	for (;;)
	{
		CompactionRow row;
		CatalogAccess access;
		bool		busy;

		catalog_access_begin(&access);
		read_compaction_row(ledger->ledger_id, &row);
		catalog_access_end(&access);
		if (!row.compacted || row.generation == 0)
			return;

		/*
		 * Compactions drop only generations that a committed row no longer
		 * points at.  A table found locked is being dropped only if a newer
		 * generation has committed; if the row still names it, whoever holds
		 * it is no compaction, and we wait as for any table.
		 */
		view->table = catalog_open_compacted_table(ledger->ledger_id, row.generation,
												   row.generation == tried, &busy);
		if (view->table != NULL)
		{
			view->exists = true;
			view->horizon = row.horizon;
			view->snapshot = RegisterSnapshot(GetLatestSnapshot());
			return;
		}
		tried = row.generation;
		if (busy)
			continue;
		/* dropped by a compaction, which has committed: look again */
		if (row.generation == missing)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("compacted view of ledger " INT64_FORMAT " is missing its table",
							ledger->ledger_id),
					 errhint("A superuser can delete the partition's row of pulsar.compaction; the next compaction then rebuilds the view from the stored messages.")));
		missing = row.generation;
	}
}

void
compaction_close_view(CompactedView *view)
{
	if (!view->exists)
		return;
	UnregisterSnapshot(view->snapshot);
	table_close(view->table, AccessShareLock);
	view->exists = false;
}

/*
 * As reader_scan_ledger(), through the compacted view: at or below its horizon
 * only the messages of the view, above it those of the ledger.
 */
void
compaction_scan_ledger(const LedgerInfo *ledger, const CompactedView *view,
					   int64 after, int64 last, Snapshot snapshot,
					   MessageVisitor visit, void *arg)
{
	if (view->exists && after < view->horizon)
	{
		if (!reader_scan_relation(view->table, after, Min(last, view->horizon),
								  view->snapshot, visit, arg))
			return;
		after = view->horizon;
	}
	if (after < last)
		reader_scan_ledger(ledger, after, last, snapshot, visit, arg);
}

/*
 * The query text of what a new generation is made of: the current view's
 * table (whole) and the segments between the previous horizon and the new
 * one ($1 < entry_id <= $2), each locked.  Returns how many there are.
 */
static int
generation_sources(const LedgerInfo *ledger, const CompactionRow *row,
				   int64 previous, int64 horizon, bool wait,
				   StringInfo sources)
{
	int64		ledger_id = ledger->ledger_id;
	int			num_sources = 0;

	if (row->compacted && row->generation > 0)
	{
		char	   *table = catalog_lock_data_table(ledger_id, row->generation, true,
													wait);

		if (table == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("compacted view of ledger " INT64_FORMAT " is missing its table",
							ledger_id),
					 errhint("A superuser can delete the partition's row of pulsar.compaction; the next compaction then rebuilds the view from the stored messages.")));
		appendStringInfo(sources, "SELECT * FROM %s", table);
		num_sources++;
	}

	/*
	 * Segments trimmed before a compaction reached them are simply gone, for
	 * this view as for every reader.
	 */
	for (int64 segment_no = (previous + 1) / ledger->segment_entries;
		 segment_no * ledger->segment_entries <= horizon; segment_no++)
	{
		char	   *table = catalog_lock_data_table(ledger_id, segment_no, false, wait);

		if (table == NULL)
			continue;
		appendStringInfo(sources,
						 "%sSELECT * FROM %s WHERE entry_id > $1 AND entry_id <= $2",
						 num_sources > 0 ? " UNION ALL " : "", table);
		num_sources++;
	}
	return num_sources;
}

/*
 * Creates the table of a new generation and fills it from 'sources' as
 * 'snapshot' sees them.  Returns the number of messages it keeps.
 */
static int64
write_generation(int64 ledger_id, int64 generation, const char *sources,
				 int64 previous, int64 horizon, Snapshot snapshot)
{
	char	   *target = catalog_create_compacted_table(ledger_id, generation);
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(previous), Int64GetDatum(horizon)};
	char	   *sql;
	SPIPlanPtr	plan;
	int			rc;
	int64		kept;

	/*
	 * The latest message of each key, unless it is a tombstone.  Keys compare
	 * byte by byte, as Pulsar compares them.
	 */
	sql = psprintf("INSERT INTO %s"
				   " SELECT * FROM"
				   "  (SELECT DISTINCT ON (key COLLATE \"C\") *"
				   "     FROM (%s) source WHERE key IS NOT NULL"
				   "    ORDER BY key COLLATE \"C\", entry_id DESC) latest"
				   " WHERE payload IS NOT NULL",
				   target, sources);
	plan = SPI_prepare(sql, 2, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	rc = SPI_execute_snapshot(plan, values, NULL, snapshot,
							  InvalidSnapshot, false, false, 0);
	if (rc < 0)
		elog(ERROR, "SPI failed for \"%s\": %s", sql,
			 SPI_result_code_string(rc));
	kept = (int64) SPI_processed;
	SPI_freeplan(plan);
	return kept;
}

/*
 * Points a partition's row of pulsar.compaction at a generation; 'kept'
 * below zero keeps the count of messages it had.
 */
static void
record_generation(int64 ledger_id, int64 horizon, int64 generation, int64 kept)
{
	Oid			argtypes[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		values[4] = {Int64GetDatum(ledger_id), Int64GetDatum(horizon),
	Int64GetDatum(generation), Int64GetDatum(kept)};

	catalog_run_sql("INSERT INTO pulsar.compaction"
					" (ledger_id, horizon, generation, entries, compacted_at)"
					" VALUES ($1, $2, $3, greatest($4, 0), clock_timestamp())"
					" ON CONFLICT (ledger_id) DO UPDATE"
					"   SET horizon = EXCLUDED.horizon,"
					"       generation = EXCLUDED.generation,"
					"       entries = CASE WHEN $4 < 0 THEN compaction.entries"
					"                 ELSE EXCLUDED.entries END,"
					"       compacted_at = EXCLUDED.compacted_at,"
					"       last_error = NULL, failed_at = NULL",
					4, argtypes, values, NULL, false);
}

/*
 * Compacts one partition up to its max read position.  'wait' says
 * whether to wait for locks others hold on the tables it reads (the
 * automatic step does not: lock_not_available).  Caller holds the topic's
 * lock.
 */
CompactionOutcome
compaction_compact_ledger(const LedgerInfo *ledger, bool wait)
{
	int64		ledger_id = ledger->ledger_id;
	int64		horizon;
	int64		previous;
	int64		generation;
	int64		kept = 0;
	Snapshot	snapshot;
	CompactionRow row;
	CatalogAccess access;

	if (!catalog_try_lock_compaction(ledger_id))
		return COMPACTION_BUSY;

	/* the order of these two is what keeps the view from skipping */
	horizon = read_position_max(ledger_id, catalog_load_next_entry);
	snapshot = RegisterSnapshot(GetLatestSnapshot());

	catalog_access_begin(&access);
	read_compaction_row(ledger_id, &row);
	previous = row.compacted ? row.horizon : -1;
	generation = row.generation;

	/*
	 * Views older than the current one are no reader's any more; the
	 * current one stays until this compaction's successor has committed.
	 */
	catalog_drop_compacted_tables(ledger_id, generation, true);
	if (horizon > previous)
	{
		StringInfoData sources;

		initStringInfo(&sources);
		if (generation_sources(ledger, &row, previous, horizon, wait,
							   &sources) > 0)
			kept = write_generation(ledger_id, ++generation, sources.data,
									previous, horizon, snapshot);
		else
			generation = 0;		/* nothing stored up to the horizon */
	}
	else if (row.compacted)
	{
		/* nothing new: the view stays as it is */
		horizon = row.horizon;
		kept = -1;
	}
	record_generation(ledger_id, horizon, generation, kept);
	catalog_access_end(&access);
	UnregisterSnapshot(snapshot);
	return COMPACTION_DONE;
}

/*
 * Pulsar's status of the last compaction of partitions first_ledger ..
 * first_ledger + num_ledgers - 1 of a topic, as JSON text: NOT_RUN,
 * RUNNING, SUCCESS or ERROR (with lastError), plus the horizon; for
 * several partitions the worst of them, and each one's own.
 */
char *
compaction_status_json(const TopicInfo *topic, int first_ledger,
					   int num_ledgers)
{
	static const char *const names[] = {"NOT_RUN", "SUCCESS", "RUNNING", "ERROR"};
	int			worst = 0;
	char	   *worst_error = NULL;
	StringInfoData parts;
	StringInfoData json;
	CatalogAccess access;
	MemoryContext caller = CurrentMemoryContext;

	initStringInfo(&parts);
	catalog_access_begin(&access);
	for (int i = first_ledger; i < first_ledger + num_ledgers; i++)
	{
		LedgerInfo *ledger = &topic->ledgers[i];
		CompactionRow row;
		int			status;

		read_compaction_row(ledger->ledger_id, &row);
		/* a standby sees the replicated rows, not the primary's locks */
		if (!RecoveryInProgress() && catalog_compaction_in_progress(ledger->ledger_id))
			status = 2;
		else if (row.failed_last)
			status = 3;
		else if (row.compacted)
			status = 1;
		else
			status = 0;
		if (status > worst)
		{
			worst = status;
			worst_error = status == 3 && row.last_error != NULL ?
				MemoryContextStrdup(caller, row.last_error) : NULL;
		}
		if (num_ledgers > 1)
		{
			appendStringInfo(&parts, "%s", i > first_ledger ? ", " : "");
			escape_json(&parts, topic_name_string(&topic->name,
												  ledger->partition_index));
			appendStringInfo(&parts, ": {\"status\": \"%s\"}", names[status]);
		}
		else if (row.compacted)
			appendStringInfo(&parts, "\"" INT64_FORMAT ":" INT64_FORMAT ":%d\"",
							 ledger->ledger_id, row.horizon,
							 ledger->partition_index);
	}
	catalog_access_end(&access);

	initStringInfo(&json);
	appendStringInfo(&json, "{\"status\": \"%s\", \"lastError\": ",
					 names[worst]);
	if (worst_error != NULL)
		escape_json(&json, worst_error);
	else
		appendStringInfoString(&json, "null");
	if (num_ledgers > 1)
		appendStringInfo(&json, ", \"partitions\": {%s}", parts.data);
	else
		appendStringInfo(&json, ", \"compactionHorizon\": %s",
						 parts.len > 0 ? parts.data : "null");
	appendStringInfoChar(&json, '}');
	return json.data;
}

/* a partition the automatic step looks at */
typedef struct StepCandidate
{
	int64		topic_id;
	LedgerInfo	ledger;
	int64		horizon;
	int64		threshold;
} StepCandidate;

/*
 * An estimate of the bytes a partition holds above its horizon: each
 * segment's size (with indexes and TOAST) in proportion to the share of its
 * entries above the horizon.  It reads no message.  Caller is inside
 * catalog_access_begin().
 */
static int64
uncompacted_bytes(const StepCandidate *candidate, int64 max_read_position)
{
	Oid			argtypes[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		values[4];
	bool		isnull;
	Datum		value;

	values[0] = Int64GetDatum(candidate->ledger.ledger_id);
	values[1] = Int64GetDatum(candidate->horizon);
	values[2] = Int64GetDatum(max_read_position);
	values[3] = Int64GetDatum(candidate->ledger.segment_entries);
	catalog_run_sql("SELECT coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)::float8"
					"        * (least(s.last, $3) - greatest(s.first, $2 + 1) + 1)"
					"        / (least(s.last, $3) - s.first + 1)), 0)::bigint"
					"  FROM (SELECT segment_no, segment_no * $4 AS first,"
					"               segment_no * $4 + $4 - 1 AS last"
					"          FROM pulsar.segment WHERE ledger_id = $1) s"
					"  JOIN pg_catalog.pg_class c"
					"    ON c.relname = 'ledger_' || $1::text || '_' || s.segment_no::text"
					"   AND c.relnamespace = 'pulsar_data'::pg_catalog.regnamespace"
					" WHERE s.last > $2 AND s.first <= $3",
					4, argtypes, values, NULL, true);
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
	return isnull ? 0 : DatumGetInt64(value);
}

/*
 * Remembers why an automatic compaction failed, for compaction_status().
 */
static void
record_failure(int64 ledger_id, const char *message)
{
	CatalogAccess access;
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(ledger_id),
	CStringGetTextDatum(message)};

	catalog_access_begin(&access);
	catalog_run_sql("INSERT INTO pulsar.compaction (ledger_id, last_error, failed_at)"
					" SELECT $1, $2, clock_timestamp()"
					"  WHERE EXISTS (SELECT 1 FROM pulsar.ledger WHERE ledger_id = $1)"
					" ON CONFLICT (ledger_id) DO UPDATE"
					"   SET last_error = EXCLUDED.last_error,"
					"       failed_at = EXCLUDED.failed_at",
					2, argtypes, values, NULL, false);
	catalog_access_end(&access);
}

/* what step_compact_body() works on and tells */
typedef struct StepCompaction
{
	const StepCandidate *candidate;
	bool		compacted;
} StepCompaction;

static void
step_compact_body(void *arg)
{
	StepCompaction *step = arg;
	const StepCandidate *candidate = step->candidate;
	CatalogAccess access;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(candidate->ledger.ledger_id)};
	bool		exists;

	if (!catalog_try_lock_topic(candidate->topic_id))
		return;
	/* the topic may have gone since the candidates were listed */
	catalog_access_begin(&access);
	catalog_run_sql("SELECT 1 FROM pulsar.ledger WHERE ledger_id = $1",
					1, argtypes, values, NULL, true);
	exists = SPI_processed > 0;
	catalog_access_end(&access);
	if (exists)
		step->compacted =
			compaction_compact_ledger(&candidate->ledger, false) == COMPACTION_DONE;
}

/*
 * Compacts one partition for the automatic step, in a subtransaction: a
 * failure is recorded and the step goes on.  Nothing here waits for a lock
 * another transaction holds; what is busy is tried again next pass.
 */
static bool
step_compact(const StepCandidate *candidate)
{
	StepCompaction step = {candidate, false};
	ErrorData  *error = subxact_run(step_compact_body, &step);

	if (error == NULL)
		return step.compacted;
	if (error->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
	{
		ereport(LOG,
				(errmsg("automatic compaction of ledger " INT64_FORMAT " failed: %s",
						candidate->ledger.ledger_id, error->message)));
		record_failure(candidate->ledger.ledger_id, error->message);
	}
	FreeErrorData(error);
	return false;
}

/*
 * Automatic compaction of one topic (topic_id 0: of every topic): compacts
 * each partition whose messages above its horizon take more than its
 * topic's compaction_threshold policy, and drops the views that newer ones
 * have replaced and no reader holds.  Returns how many partitions it
 * compacted.  Runs in the caller's transaction, which must be able to take
 * a fresh snapshot; waits for no lock another transaction holds.
 */
int
compaction_step(int64 topic_id)
{
	MemoryContext caller = CurrentMemoryContext;
	CatalogAccess access;
	StepCandidate *candidates;
	int			num_candidates;
	int			compacted = 0;

	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(topic_id)};

	catalog_access_begin(&access);
	catalog_run_sql("SELECT l.topic_id, l.ledger_id, l.partition_index,"
					"       l.segment_entries, coalesce(c.horizon, -1), p.threshold"
					"  FROM pulsar.ledger l"
					" CROSS JOIN LATERAL"
					"  (SELECT (pulsar.effective_policy(l.topic_id, 'compaction_threshold')"
					"           ->> 'threshold')::bigint AS threshold) p"
					"  LEFT JOIN pulsar.compaction c ON c.ledger_id = l.ledger_id"
					" WHERE p.threshold > 0 AND $1 IN (0, l.topic_id)"
					" ORDER BY l.ledger_id",
					1, argtypes, values, NULL, true);
	num_candidates = (int) SPI_processed;
	candidates = MemoryContextAlloc(caller,
									sizeof(StepCandidate) * Max(num_candidates, 1));
	for (int i = 0; i < num_candidates; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		candidates[i].topic_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		candidates[i].ledger.ledger_id = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
		candidates[i].ledger.partition_index = DatumGetInt32(SPI_getbinval(tuple, desc, 3, &isnull));
		candidates[i].ledger.segment_entries = DatumGetInt64(SPI_getbinval(tuple, desc, 4, &isnull));
		candidates[i].horizon = DatumGetInt64(SPI_getbinval(tuple, desc, 5, &isnull));
		candidates[i].threshold = DatumGetInt64(SPI_getbinval(tuple, desc, 6, &isnull));
	}

	for (int i = 0; i < num_candidates; i++)
	{
		int64		max_read_position;
		bool		due;

		CHECK_FOR_INTERRUPTS();
		max_read_position = read_position_max(candidates[i].ledger.ledger_id,
											  catalog_load_next_entry);
		if (max_read_position <= candidates[i].horizon)
			continue;
		due = uncompacted_bytes(&candidates[i], max_read_position) >
			candidates[i].threshold;
		if (!due)
			continue;
		/* a compaction must not run inside this SPI connection */
		catalog_access_end(&access);
		if (step_compact(&candidates[i]))
			compacted++;
		catalog_access_begin(&access);
	}

	/* views superseded since the last pass, that no reader holds now */
	catalog_run_sql("SELECT c.ledger_id, c.generation FROM pulsar.compaction c"
					" WHERE c.generation IS NOT NULL"
					"   AND ($1 = 0 OR c.ledger_id IN"
					"        (SELECT ledger_id FROM pulsar.ledger WHERE topic_id = $1))"
					"   AND EXISTS"
					"  (SELECT 1 FROM pg_catalog.pg_class r"
					"    WHERE r.relnamespace = 'pulsar_data'::pg_catalog.regnamespace"
					"      AND r.relkind = 'r'"
					"      AND r.relname::text LIKE 'compacted\\_' || c.ledger_id::text || '\\_%'"
					"      AND r.relname::text <> 'compacted_' || c.ledger_id::text"
					"                             || '_' || c.generation::text)",
					1, argtypes, values, NULL, true);
	{
		uint64		count = SPI_processed;
		int64	   *ledgers = palloc(sizeof(int64) * Max(count, 1));
		int64	   *generations = palloc(sizeof(int64) * Max(count, 1));

		for (uint64 i = 0; i < count; i++)
		{
			bool		isnull;

			ledgers[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1,
													 &isnull));
			generations[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc,
														 2, &isnull));
		}
		for (uint64 i = 0; i < count; i++)
			catalog_drop_compacted_tables(ledgers[i], generations[i], true);
	}
	catalog_access_end(&access);
	return compacted;
}

/*
 * Which of 'count' topics (ascending) the maintenance pass must look at for
 * compaction: those with a compaction_threshold, and those compacted before,
 * whose replaced views may wait to be dropped.  Sets needed[i] for
 * topic_ids[i].
 */
void
compaction_select_topics(const int64 *topic_ids, int count, bool *needed)
{
	catalog_select_topics("SELECT t.topic_id"
						  "  FROM " POLICY_OF_BATCH("'compaction_threshold'") " t"
						  " WHERE (t.v ->> 'threshold')::bigint > 0"
						  "    OR EXISTS (SELECT 1 FROM pulsar.ledger l"
						  "                 JOIN pulsar.compaction c USING (ledger_id)"
						  "                WHERE l.topic_id = t.topic_id)",
						  0, NULL, NULL, topic_ids, count, needed);
}

/*
 * The step of the maintenance pass of the database worker.
 */
void
compaction_maintenance_step(int64 topic_id)
{
	(void) compaction_step(topic_id);
}

/*
 * Appends a partition's compaction fields to its topic_internal_stats:
 * "compactionHorizon" (the last message id the view covers, null if never
 * compacted) and "compactedLedger" (the table, its messages and its size
 * in bytes).  An installation not yet updated to 0.7.0 has neither.
 */
void
compaction_append_internals(StringInfo json, const LedgerInfo *ledger)
{
	CatalogAccess access;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(ledger->ledger_id)};

	if (!OidIsValid(get_relname_relid("compaction",
									  get_namespace_oid("pulsar", false))))
		return;
	catalog_access_begin(&access);
	catalog_run_sql("SELECT c.horizon, c.entries,"
					"       CASE WHEN c.generation > 0 THEN"
					"         'pulsar_data.compacted_' || c.ledger_id::text"
					"         || '_' || c.generation::text END,"
					"       coalesce(pg_catalog.pg_total_relation_size("
					"         pg_catalog.to_regclass('pulsar_data.compacted_'"
					"           || c.ledger_id::text || '_' || c.generation::text)), 0),"
					"       c.compacted_at"
					"  FROM pulsar.compaction c"
					" WHERE c.ledger_id = $1 AND c.horizon IS NOT NULL",
					1, argtypes, values, NULL, true);
	if (SPI_processed == 0)
		appendStringInfoString(json, ", \"compactionHorizon\": null"
							   ", \"compactedLedger\": null");
	else
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *table = SPI_getvalue(tuple, desc, 3);

		appendStringInfo(json, ", \"compactionHorizon\": \"" INT64_FORMAT ":%s:%d\""
						 ", \"compactedLedger\": {\"table\": ",
						 ledger->ledger_id, SPI_getvalue(tuple, desc, 1),
						 ledger->partition_index);
		if (table != NULL)
			escape_json(json, table);
		else
			appendStringInfoString(json, "null");
		appendStringInfo(json, ", \"entries\": %s, \"size\": %s"
						 ", \"compactedAt\": ",
						 SPI_getvalue(tuple, desc, 2),
						 SPI_getvalue(tuple, desc, 4));
		escape_json(json, SPI_getvalue(tuple, desc, 5));
		appendStringInfoChar(json, '}');
	}
	catalog_access_end(&access);
}
