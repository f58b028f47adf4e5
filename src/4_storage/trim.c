/*-------------------------------------------------------------------------
 *
 * trim.c
 *	  Storage reclamation (DESIGN invariants 4 and 8): segments close, and
 *	  whole closed segments that no subscription and no retention policy
 *	  needs are dropped.  One maintenance step, run per topic by the
 *	  database worker (6_entry/maintenance.c).
 *
 * A segment is *closed* once every entry id it can hold was handed out and
 * settled: the partition's max read position reached its last entry, so no
 * open transaction can add to it.  The first pass that sees it closed
 * records the time, its entries and its size.  A segment of a slow topic
 * would fill only after a long time, so once its oldest message is older
 * than pulsar_pg.segment_max_age it is *cut*: the partition's next entry id
 * jumps to the next segment (read_position.c logs the ledger's high-water
 * mark past it first, so the skipped ids are never handed out, after a
 * crash either), and the segment records its last entry.  Ids therefore
 * stay unique and ordered; the skipped ones are gaps that backlogs do not
 * count (trim_backlog_entries()) and that receives pass as aborted sends.
 *
 * A closed segment is dropped when every subscription's mark-delete
 * position is at or past its last entry (readers never pin data) and the
 * retention policy lets it go: a segment goes when either limit is passed
 * (time counted from its close; size summed over the acknowledged segments
 * from the newest down to it); both unlimited keep everything.  Topics
 * without subscriptions are decided by retention alone.
 *
 * Nothing here waits for a user transaction (DESIGN invariant 6a): the
 * extension (maintenance.c), the catalog tables, the topic and each
 * segment are locked conditionally; a
 * segment a reader or a receive holds, a topic being deleted, or a ledger
 * whose subscription is being created at 'earliest' or sought is left for
 * the next pass.  Positions are read without tracking idle partitions in
 * shared memory (read_position_untracked()).  DROP TABLE is WAL-logged, so
 * standbys follow.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "2_shmem/read_position.h"
#include "3_catalog/catalog.h"
#include "3_catalog/policy.h"
#include "4_storage/cursor.h"
#include "4_storage/pending.h"
#include "4_storage/trim.h"

/* the extension's tables a trim reads, and those it writes */
static const char *const trim_read_tables[] = {
	"topic", "policy", "subscription", "cursor"
};
static const char *const trim_write_tables[] = {
	"ledger", "segment", "acked_range", "pending"
};

/* retention of a topic; a negative limit is unlimited */
typedef struct Retention
{
	int64		time_us;
	int64		size;
} Retention;

static void
load_retention(int64 topic_id, Retention *retention)
{
	Jsonb	   *policy = policy_effective(topic_id, "retention");
	int64		seconds;

	retention->time_us = policy_limit(policy, "retention_time", &seconds) ?
		seconds * USECS_PER_SEC : -1;
	if (!policy_limit(policy, "retention_size", &retention->size))
		retention->size = -1;
}

/*
 * Cuts the segment being written if its oldest message is older than
 * pulsar_pg.segment_max_age; true if it did.  Caller is inside
 * catalog_access_begin().
 */
static bool
cut_by_age(const LedgerInfo *ledger, const SegmentInfo *segments, int count)
{
	int64		next_entry;
	int64		segment_no;
	int64		start;
	TimestampTz oldest;
	int64		before;
	bool		known = false;

	read_position_untracked(ledger->ledger_id, catalog_load_next_entry, &next_entry,
							NULL);
	segment_no = next_entry / ledger->segment_entries;
	start = segment_no * ledger->segment_entries;
	if (pulsar_segment_max_age_s <= 0 || next_entry == start)
		return false;			/* closing by entries only, or nothing in it */
	/* its messages came after it was made: a young segment needs no look */
	for (int i = 0; i < count; i++)
		if (segments[i].segment_no == segment_no && !segments[i].cut &&
			TimestampDifferenceExceeds(segments[i].created_at,
									   GetCurrentTimestamp(),
									   pulsar_segment_max_age_s * 1000))
			known = true;
	if (!known)
		return false;
	if (!catalog_segment_first_publish_time(ledger->ledger_id, segment_no, &oldest) ||
		!TimestampDifferenceExceeds(oldest, GetCurrentTimestamp(),
									pulsar_segment_max_age_s * 1000))
		return false;
	before = read_position_skip_to(ledger->ledger_id, start,
								   start + ledger->segment_entries,
								   catalog_load_next_entry, catalog_log_entry_high_water);
	/*
	 * Should the transaction fail from here on, the segment only looks
	 * longer than it is: its skipped ids wait for cursors like aborted sends.
	 */
	if (before <= start)
		return false;
	catalog_cut_segment(ledger->ledger_id, segment_no, before - 1);
	return true;
}

/*
 * Deletes acknowledged ranges and pending rows of entries below 'below',
 * which are no longer stored, so that their tables stay bounded.  Rows
 * another transaction holds are left to a later pass.  Caller is inside
 * catalog_access_begin().
 */
static void
forget_trimmed(int64 topic_id, int64 ledger_id, int64 below)
{
	cursor_forget_ranges_below(topic_id, ledger_id, below);
	pending_forget_below(topic_id, ledger_id, below);
}

/* returns the number of segments dropped */
static int64
trim_ledger(int64 topic_id, const LedgerInfo *ledger,
			const Retention *retention)
{
	CatalogAccess access;
	SegmentInfo *segments;
	int			count;
	int64		max_read_position;
	int64		slowest;
	int64		acked_size = 0;
	int64		lowest_kept = -1;
	int64		dropped_through = -1;
	int64		dropped = 0;
	bool		closed = false;
	TimestampTz now = GetCurrentTimestamp();
	int64		next_entry;

	/* a subscription created at 'earliest', or a seek, is under way */
	if (!catalog_try_lock_ledger_trim(ledger->ledger_id))
		return 0;

	catalog_access_begin(&access);
	segments = catalog_ledger_segments(ledger, &count);
	if (cut_by_age(ledger, segments, count))
		segments = catalog_ledger_segments(ledger, &count);

	/* after any cut: closing needs the position that covers it */
	read_position_untracked(ledger->ledger_id, catalog_load_next_entry, &next_entry,
							&max_read_position);
	for (int i = 0; i < count; i++)
		if (!segments[i].closed && segments[i].last_entry <= max_read_position)
		{
			catalog_close_segment(ledger->ledger_id, segments[i].segment_no);
			closed = true;
		}
	if (closed)
		segments = catalog_ledger_segments(ledger, &count);

	if (!cursor_slowest_mark_delete(topic_id, ledger->ledger_id, &slowest))
		slowest = PG_INT64_MAX;

	/* newest first, so that the size kept is that of the newest segments */
	for (int i = count - 1; i >= 0; i--)
	{
		SegmentInfo *segment = &segments[i];
		bool		goes;

		if (!segment->closed || segment->last_entry > slowest)
		{
			lowest_kept = segment->segment_no;
			continue;
		}
		acked_size += Max(segment->size, 0);
		goes = (retention->time_us >= 0 &&
				now - segment->closed_at >= retention->time_us) ||
			(retention->size >= 0 && acked_size > retention->size);
		if (goes && catalog_drop_segment_now(ledger->ledger_id, segment->segment_no))
		{
			dropped_through = Max(dropped_through, segment->last_entry);
			dropped++;
		}
		else
			lowest_kept = segment->segment_no;
	}

	if (dropped_through >= 0)
		forget_trimmed(topic_id, ledger->ledger_id,
					   lowest_kept >= 0 ?
					   lowest_kept * ledger->segment_entries :
					   dropped_through + 1);
	catalog_access_end(&access);
	return dropped;
}

/*
 * The maintenance step: closes and trims every partition of a topic, and
 * returns the number of segments dropped.  Does nothing if the tables or
 * the topic are locked.  The worker runs it in a transaction of its own.
 */
int64
trim_topic(int64 topic_id)
{
	CatalogAccess access;
	Retention	retention;
	LedgerInfo *ledgers;
	int			num_ledgers;
	int64		dropped = 0;

	if (!catalog_lock_tables_now(trim_read_tables, lengthof(trim_read_tables),
								 AccessShareLock) ||
		!catalog_lock_tables_now(trim_write_tables, lengthof(trim_write_tables),
								 RowExclusiveLock) ||
		!catalog_lock_topic_now(topic_id, AccessShareLock))
		return 0;

	catalog_access_begin(&access);
	load_retention(topic_id, &retention);
	ledgers = catalog_topic_ledgers(topic_id, &num_ledgers);
	catalog_access_end(&access);

	for (int i = 0; i < num_ledgers; i++)
		dropped += trim_ledger(topic_id, &ledgers[i], &retention);
	return dropped;
}

/* what trim_select_topics() reads of a partition */
typedef struct TrimCandidate
{
	int64		topic_index;	/* into the batch */
	int64		ledger_id;
	int64		open_first;		/* first entry of its lowest open segment */
	int64		open_end;		/* first entry after it */
	bool		later_segments; /* it has a successor: it may be full */
	bool		any_closed;
	TimestampTz open_created_at;
} TrimCandidate;

/*
 * Which of 'count' topics (ascending) the maintenance pass must trim: those
 * with a partition that has a closed segment (to drop, once no cursor and
 * no retention needs it), whose lowest open segment is full (to close:
 * then a later segment exists, made before that one filled), or,
 * when segments close by age, whose lowest open segment holds messages and
 * was made longer than pulsar_pg.segment_max_age ago.  Other partitions
 * have nothing to close or drop, so idle topics cost the pass one query
 * per batch.  Sets needed[i] for topic_ids[i].
 */
void
trim_select_topics(const int64 *topic_ids, int count, bool *needed)
{
	CatalogAccess access;
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		values[1];
	Datum	   *ids = palloc(sizeof(Datum) * Max(count, 1));
	TrimCandidate *candidates;
	int			num_candidates;
	int			topic_index = 0;

	for (int i = 0; i < count; i++)
		ids[i] = Int64GetDatum(topic_ids[i]);
	values[0] = PointerGetDatum(catalog_int8_array(ids, count));
	catalog_access_begin(&access);
	catalog_run_sql("SELECT l.topic_id, l.ledger_id, l.segment_entries,"
					"       min(s.segment_no) FILTER (WHERE s.closed_at IS NULL),"
					"       bool_or(s.closed_at IS NOT NULL),"
					"       min(s.created_at) FILTER (WHERE s.closed_at IS NULL),"
					"       count(*) FILTER (WHERE s.closed_at IS NULL) > 1"
					"  FROM pulsar.ledger l JOIN pulsar.segment s USING (ledger_id)"
					" WHERE l.topic_id = ANY ($1)"
					" GROUP BY l.topic_id, l.ledger_id"
					" ORDER BY l.topic_id, l.ledger_id",
					1, argtypes, values, NULL, true);
	num_candidates = (int) SPI_processed;
	candidates = SPI_palloc(sizeof(TrimCandidate) * Max(num_candidates, 1));
	for (int r = 0; r < num_candidates; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		TrimCandidate *candidate = &candidates[r];
		bool		isnull;
		int64		topic_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		int64		segment_entries = DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
		Datum		value;

		/* rows come in the batch's order */
		while (topic_ids[topic_index] != topic_id)
			topic_index++;
		candidate->topic_index = topic_index;
		candidate->ledger_id = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
		value = SPI_getbinval(tuple, desc, 4, &isnull);
		candidate->open_first = isnull ? -1 : DatumGetInt64(value) * segment_entries;
		candidate->open_end = candidate->open_first + segment_entries;
		candidate->any_closed = DatumGetBool(SPI_getbinval(tuple, desc, 5, &isnull));
		value = SPI_getbinval(tuple, desc, 6, &isnull);
		candidate->open_created_at = isnull ? 0 : DatumGetTimestampTz(value);
		candidate->later_segments = DatumGetBool(SPI_getbinval(tuple, desc, 7, &isnull));
	}
	catalog_access_end(&access);

	for (int r = 0; r < num_candidates; r++)
	{
		TrimCandidate *candidate = &candidates[r];
		int64		next_entry;
		bool		aged;

		if (needed[candidate->topic_index])
			continue;
		if (candidate->any_closed)
		{
			needed[candidate->topic_index] = true;
			continue;
		}
		aged = pulsar_segment_max_age_s > 0 &&
			TimestampDifferenceExceeds(candidate->open_created_at,
									   GetCurrentTimestamp(),
									   pulsar_segment_max_age_s * 1000);
		/* the position is read only where it can tell */
		if (candidate->open_first < 0 ||
			(!candidate->later_segments && !aged))
			continue;
		read_position_untracked(candidate->ledger_id, catalog_load_next_entry,
								&next_entry, NULL);
		if ((candidate->later_segments && next_entry >= candidate->open_end) ||
			(aged && next_entry > candidate->open_first))
			needed[candidate->topic_index] = true;
	}
}

/*
 * The backlog of a subscription in a ledger up to 'last', in entries:
 * those not acknowledged from its mark-delete position on, without the
 * entries that are no longer stored (trimmed before a seek moved the
 * cursor back to them) or were never handed out (skipped by a cut).
 */
int64
trim_backlog_entries(Subscription *subscription, const LedgerInfo *ledger,
					 int64 last)
{
	int64		from = cursor_mark_delete(subscription, ledger->ledger_id) + 1;
	int64		backlog;
	CatalogAccess access;
	SegmentInfo *segments;
	int			count;

	catalog_access_begin(&access);
	segments = catalog_ledger_segments(ledger, &count);
	catalog_access_end(&access);
	if (count > 0)
		from = Max(from, segments[0].segment_no * ledger->segment_entries);
	backlog = cursor_count_unacked(subscription, ledger->ledger_id, from, last,
								   INT_MAX);
	for (int i = 0; i < count; i++)
	{
		int64		skipped_from = Max(segments[i].last_entry + 1, from);
		int64		skipped_to = Min((segments[i].segment_no + 1) *
									 ledger->segment_entries - 1, last);

		if (segments[i].cut && skipped_from <= skipped_to)
			backlog -= cursor_count_unacked(subscription, ledger->ledger_id,
											skipped_from, skipped_to, INT_MAX);
	}
	return backlog;
}

/*
 * Pulsar's storageSize and backlogSize of a ledger: the bytes of its stored
 * segments, and of those from the slowest cursor on (the segment holding
 * that cursor counted in proportion of its entries above it, as Pulsar
 * estimates it).  A ledger without subscriptions has no backlog.
 */
void
trim_ledger_storage_size(int64 topic_id, const LedgerInfo *ledger,
						 int64 *storage_size, int64 *backlog_size)
{
	CatalogAccess access;
	SegmentInfo *segments;
	int			count;
	int64		slowest;
	bool		subscribed;

	*storage_size = 0;
	*backlog_size = 0;
	catalog_access_begin(&access);
	segments = catalog_ledger_segments(ledger, &count);
	subscribed = cursor_slowest_mark_delete(topic_id, ledger->ledger_id, &slowest);
	for (int i = 0; i < count; i++)
	{
		int64		first = segments[i].segment_no * ledger->segment_entries;
		int64		entries;
		int64		size;

		if (!catalog_segment_usage(ledger->ledger_id, segments[i].segment_no, false,
								   &entries, &size))
			continue;
		*storage_size += size;
		if (!subscribed || segments[i].last_entry <= slowest)
			continue;
		if (slowest < first)
			*backlog_size += size;
		else
			*backlog_size += (int64) ((double) size *
									  (segments[i].last_entry - slowest) /
									  (segments[i].last_entry - first + 1));
	}
	catalog_access_end(&access);
}
