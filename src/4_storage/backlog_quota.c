/*-------------------------------------------------------------------------
 *
 * backlog_quota.c
 *	  Backlog quotas: measuring a partition's backlog, holding or failing
 *	  sends over the quota, and evicting the slowest cursors.
 *
 * As in Pulsar, the backlog of a partition is what its slowest
 * subscription has not acknowledged: the entries above the lowest
 * mark-delete position.  Its size is estimated from the sizes of the
 * segment tables it spans (a segment's size shared evenly among its
 * entries), its age is that of its first stored message.  A quota limits
 * either or both; over it, per the policy:
 *
 *	- producer_request_hold: a send waits, up to
 *	  pulsar_pg.backlog_quota_hold_timeout, for the backlog to fall under
 *	  the quota, then fails with SQLSTATE PB002;
 *	- producer_exception: a send fails at once with SQLSTATE PB001;
 *	- consumer_backlog_eviction: the maintenance pass moves the cursors
 *	  behind the limit forward, as if acknowledged, until the backlog fits.
 *
 * The send path never reads a policy: the maintenance pass records, in
 * each partition's shared state (read_position.c), whether sends must be
 * held or refused, and a sender reads only that, with one atomic read
 * while no partition of the server is over its quota.  A held sender looks
 * at its partition's backlog itself while it waits, and clears the state
 * when the backlog fits, so it does not wait for the next pass.  It waits
 * before it reserves an entry id, so that it holds back no reader.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "1_value/topic_name.h"
#include "2_shmem/read_position.h"
#include "3_catalog/catalog.h"
#include "3_catalog/policy.h"
#include "4_storage/backlog_quota.h"
#include "4_storage/cursor.h"
#include "4_storage/expiry.h"
#include "4_storage/subscription.h"

/* SQLSTATEs of class PB, pulsar_pg's backlog errors */
#define ERRCODE_BACKLOG_QUOTA_EXCEEDED	MAKE_SQLSTATE('P','B','0','0','1')
#define ERRCODE_BACKLOG_QUOTA_HOLD_TIMEOUT	MAKE_SQLSTATE('P','B','0','0','2')

/* how often a held sender looks at its partition's backlog again */
#define HOLD_RECHECK_MS		100

int			backlog_quota_hold_timeout_ms = 30000;

/* a backlog quota as pulsar.effective_policy() gives it */
typedef struct BacklogQuota
{
	int64		limit_size;		/* bytes; -1: none */
	int64		limit_time;		/* seconds; -1: none */
	char		policy[32];
} BacklogQuota;

/* one segment the backlog spans */
typedef struct SegmentShare
{
	int64		first;			/* first entry of the segment */
	int64		last;			/* last entry stored or storable in it */
	int64		bytes;			/* table and TOAST size */
} SegmentShare;

/* a partition's backlog, as its slowest subscription sees it */
typedef struct LedgerBacklog
{
	bool		subscribed;		/* the topic has a subscription */
	int64		slowest;		/* lowest mark-delete position */
	int64		last;			/* max read position */
	int64		size;			/* estimated bytes above 'slowest' */
	bool		has_oldest;
	TimestampTz oldest;			/* publish time of the first message */
	int			num_segments;
	SegmentShare *segments;
} LedgerBacklog;

/* which limits a backlog passed */
#define OVER_SIZE	0x01
#define OVER_TIME	0x02

void
backlog_quota_define_settings(void)
{
	DefineCustomIntVariable("pulsar_pg.backlog_quota_hold_timeout",
							"How long a send waits for a backlog over its quota to shrink (producer_request_hold).",
							"0 fails at once.",
							&backlog_quota_hold_timeout_ms,
							30000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
}

/* Caller is inside catalog_access_begin(). */
static bool
read_backlog_quota(int64 topic_id, BacklogQuota *quota)
{
	Jsonb	   *policy = policy_effective(topic_id, "backlog_quota");
	char	   *name = policy_text(policy, "policy");

	if (!policy_limit(policy, "limit_size", &quota->limit_size))
		quota->limit_size = -1;
	if (!policy_limit(policy, "limit_time", &quota->limit_time))
		quota->limit_time = -1;
	strlcpy(quota->policy, name != NULL ? name : "", sizeof(quota->policy));
	return quota->limit_size >= 0 || quota->limit_time >= 0;
}

/*
 * Bytes of a segment table and of its TOAST table, from their files' lengths.
 * pg_table_size() would look up every fork of both by path name, which in a
 * data directory holding the files of many segments costs a millisecond a
 * look-up on some file systems, and a maintenance pass asks this for every
 * segment of every topic with a quota; the lengths come from files the
 * relation cache keeps open.  Free space and visibility maps, which
 * pg_table_size() adds, are not messages.
 */
static int64
segment_table_bytes(Relation segment)
{
	BlockNumber blocks = RelationGetNumberOfBlocks(segment);
	Oid			toast_oid = segment->rd_rel->reltoastrelid;

	if (OidIsValid(toast_oid))
	{
		Relation	toast = try_relation_open(toast_oid, AccessShareLock);

		if (toast != NULL)
		{
			blocks += RelationGetNumberOfBlocks(toast);
			relation_close(toast, AccessShareLock);
		}
	}
	return (int64) blocks * BLCKSZ;
}

/* the bytes of a segment's entries from 'from' on, its size shared evenly */
static int64
segment_bytes_from(const SegmentShare *segment, int64 from)
{
	int64		stored = segment->last - segment->first + 1;
	int64		above = segment->last - Max(from, segment->first) + 1;

	if (stored <= 0 || above <= 0)
		return 0;
	return (int64) ((double) segment->bytes * above / stored);
}

/*
 * Measures a partition's backlog: the slowest cursor, the sizes of the
 * segments above it, and the publish time of its first message.
 */
static void
measure_backlog(TopicInfo *topic, const LedgerInfo *ledger,
				LedgerBacklog *backlog)
{
	CatalogAccess access;
	Snapshot	snapshot;
	int64		next_entry;
	int64		first_needed;
	SegmentInfo *segments;
	int			count;

	memset(backlog, 0, sizeof(LedgerBacklog));
	/* an idle partition is not added to shared memory (read_position.c) */
	read_position_untracked(ledger->ledger_id, catalog_load_next_entry, &next_entry,
							&backlog->last);
	catalog_access_begin(&access);
	backlog->subscribed = cursor_slowest_mark_delete(topic->topic_id,
													 ledger->ledger_id,
													 &backlog->slowest);
	if (!backlog->subscribed)
		backlog->slowest = backlog->last;
	if (backlog->slowest >= backlog->last)
	{
		catalog_access_end(&access);
		return;
	}
	segments = catalog_ledger_segments(ledger, &count);
	catalog_access_end(&access);
	first_needed = (backlog->slowest + 1) / ledger->segment_entries;

	/* after the max read position, as readers do */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	backlog->segments = palloc(sizeof(SegmentShare) * Max(count, 1));
	for (int i = 0; i < count; i++)
	{
		Relation	segment;
		SegmentShare *share = &backlog->segments[backlog->num_segments];

		if (segments[i].segment_no < first_needed)
			continue;
		segment = catalog_open_segment_for_read(ledger, segments[i].segment_no,
												snapshot);
		if (segment == NULL)
			continue;
		share->first = segments[i].segment_no * ledger->segment_entries;
		/* a segment cut early by age ends at its last entry (trim.c) */
		share->last = Min(segments[i].last_entry, backlog->last);
		share->bytes = segment_table_bytes(segment);
		table_close(segment, AccessShareLock);
		if (share->last < share->first)
			continue;
		backlog->size += segment_bytes_from(share, backlog->slowest + 1);
		backlog->num_segments++;
	}
	backlog->has_oldest = expiry_first_publish_time(ledger, backlog->slowest,
													backlog->last, snapshot,
													&backlog->oldest);
	UnregisterSnapshot(snapshot);
}

/* which limits of 'quota' the backlog passes at 'now' */
static int
over_quota(const BacklogQuota *quota, const LedgerBacklog *backlog,
		   TimestampTz now)
{
	int			over = 0;

	if (quota->limit_size >= 0 && backlog->size > quota->limit_size)
		over |= OVER_SIZE;
	if (quota->limit_time >= 0 && backlog->has_oldest &&
		backlog->oldest < now - quota->limit_time * USECS_PER_SEC)
		over |= OVER_TIME;
	return over;
}

static BacklogQuotaState
sender_state(const BacklogQuota *quota, int over)
{
	if (over == 0)
		return BACKLOG_QUOTA_NONE;
	if (strcmp(quota->policy, "producer_exception") == 0)
		return BACKLOG_QUOTA_EXCEPTION;
	if (strcmp(quota->policy, "producer_request_hold") == 0)
		return BACKLOG_QUOTA_HOLD;
	return BACKLOG_QUOTA_NONE;	/* eviction: senders go on */
}

/*
 * The entry through which cursors must be moved for the backlog to fit
 * 'limit' bytes: segments are counted from the newest down.
 */
static int64
size_eviction_position(const LedgerBacklog *backlog, int64 limit)
{
	int64		kept = 0;

	for (int i = backlog->num_segments - 1; i >= 0; i--)
	{
		const SegmentShare *segment = &backlog->segments[i];
		int64		bytes = segment_bytes_from(segment, backlog->slowest + 1);
		int64		stored = segment->last - segment->first + 1;
		int64		fitting;

		if (kept + bytes <= limit)
		{
			kept += bytes;
			continue;
		}
		/* part of this segment fits; the rest goes */
		fitting = segment->bytes > 0 ?
			(int64) ((double) (limit - kept) * stored / segment->bytes) : stored;
		return segment->last - fitting;
	}
	return backlog->slowest;
}

/*
 * consumer_backlog_eviction: moves the cursors behind the limits forward.
 * Returns how many messages they passed.
 */
static int64
evict_backlog(TopicInfo *topic, const LedgerInfo *ledger,
			  const BacklogQuota *quota, const LedgerBacklog *backlog,
			  int over, TimestampTz now)
{
	List	   *names;
	ListCell   *lc;
	int64		through = backlog->slowest;
	int64		evicted = 0;

	if (over & OVER_SIZE)
		through = size_eviction_position(backlog, quota->limit_size);
	names = expiry_subscription_names(topic->topic_id);
	foreach(lc, names)
	{
		Subscription *subscription = subscription_try_open(topic, lfirst(lc),
														   AccessShareLock);

		if (subscription == NULL)
			continue;
		if (through > backlog->slowest)
			evicted += expiry_evict_cursor_through(subscription, ledger, through, false);
		if (over & OVER_TIME)
			evicted += expiry_expire_published_before(subscription, ledger,
													  now - quota->limit_time * USECS_PER_SEC,
													  false);
	}
	return evicted;
}

/* the error of a send over a quota, held or refused at once */
static void
report_over_quota(TopicInfo *topic, const LedgerInfo *ledger,
				  const BacklogQuota *quota, const LedgerBacklog *backlog,
				  int over, TimestampTz now, bool held)
{
	char	   *name = topic_name_string(&topic->name, ledger->partition_index);
	const char *which = (over & OVER_SIZE) ? "size" : "time";
	char	   *detail;

	if (over & OVER_SIZE)
		detail = psprintf("The slowest subscription's backlog is about " INT64_FORMAT
						  " bytes; the quota allows " INT64_FORMAT " bytes.",
						  backlog->size, quota->limit_size);
	else
		detail = psprintf("The oldest unacknowledged message was published " INT64_FORMAT
						  " seconds ago; the quota allows " INT64_FORMAT " seconds.",
						  (int64) ((now - backlog->oldest) / USECS_PER_SEC),
						  quota->limit_time);
	if (held)
		ereport(ERROR,
				(errcode(ERRCODE_BACKLOG_QUOTA_HOLD_TIMEOUT),
				 errmsg("backlog %s quota of topic \"%s\" still exceeded after holding the send for pulsar_pg.backlog_quota_hold_timeout (%d ms)",
						which, name, backlog_quota_hold_timeout_ms),
				 errdetail("%s", detail),
				 errhint("Consume and acknowledge the backlog, raise the quota with pulsar.set_backlog_quota(), or wait longer with pulsar_pg.backlog_quota_hold_timeout.")));
	ereport(ERROR,
			(errcode(ERRCODE_BACKLOG_QUOTA_EXCEEDED),
			 errmsg("backlog %s quota of topic \"%s\" exceeded", which, name),
			 errdetail("%s", detail),
			 errhint("Consume and acknowledge the backlog, or raise or remove the quota with pulsar.set_backlog_quota() or pulsar.remove_policy().")));
}

/*
 * Looks at a partition's backlog now and records what sends must do.
 */
static BacklogQuotaState
evaluate_for_sender(TopicInfo *topic, const LedgerInfo *ledger,
					BacklogQuota *quota, LedgerBacklog *backlog, int *over,
					TimestampTz now)
{
	CatalogAccess access;
	bool		limited;
	BacklogQuotaState state;

	catalog_access_begin(&access);
	limited = read_backlog_quota(topic->topic_id, quota);
	catalog_access_end(&access);
	*over = 0;
	if (limited)
	{
		measure_backlog(topic, ledger, backlog);
		*over = over_quota(quota, backlog, now);
	}
	state = sender_state(quota, *over);
	read_position_set_backlog_quota(ledger->ledger_id, state, catalog_load_next_entry);
	return state;
}

/*
 * Called by a send before it reserves entry ids in a partition: returns at
 * once unless the last look found the partition over a quota that holds
 * or refuses sends.  Then it looks again, and holds the send until the
 * backlog fits or pulsar_pg.backlog_quota_hold_timeout has passed.
 */
void
backlog_quota_check(TopicInfo *topic, const LedgerInfo *ledger)
{
	BacklogQuota quota;
	LedgerBacklog backlog;
	TimestampTz start;
	int			over;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext look_context;

	if (read_position_backlog_quota(ledger->ledger_id) == BACKLOG_QUOTA_NONE)
		return;

	/* a send held for long looks many times: each look's memory goes */
	look_context = AllocSetContextCreate(caller, "pulsar_pg backlog quota hold",
										 ALLOCSET_SMALL_SIZES);
	start = GetCurrentTimestamp();
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		long		held_ms = TimestampDifferenceMilliseconds(start, now);
		BacklogQuotaState state;

		MemoryContextReset(look_context);
		MemoryContextSwitchTo(look_context);
		state = evaluate_for_sender(topic, ledger, &quota, &backlog, &over, now);
		MemoryContextSwitchTo(caller);
		switch (state)
		{
			case BACKLOG_QUOTA_NONE:
				MemoryContextDelete(look_context);
				return;
			case BACKLOG_QUOTA_EXCEPTION:
				report_over_quota(topic, ledger, &quota, &backlog, over, now,
								  false);
				break;
			case BACKLOG_QUOTA_HOLD:
				if (held_ms >= backlog_quota_hold_timeout_ms)
					report_over_quota(topic, ledger, &quota, &backlog, over, now,
									  true);
				break;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(HOLD_RECHECK_MS,
							 backlog_quota_hold_timeout_ms - held_ms),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The backlog quota of one topic: measures its partitions, records what
 * their senders must do (clearing what an earlier look recorded when the
 * backlog fits, or the quota is gone), and evicts where the policy says
 * so.  Adds how many partitions were over the quota and how many messages
 * eviction passed.
 */
void
backlog_quota_apply(int64 topic_id, TimestampTz now, int64 *exceeded,
					int64 *evicted)
{
	CatalogAccess access;
	BacklogQuota quota;
	TopicInfo  *topic;
	bool		limited;

	catalog_access_begin(&access);
	limited = read_backlog_quota(topic_id, &quota);
	catalog_access_end(&access);
	/* without a quota, only a state recorded before could need clearing */
	if (!limited && !read_position_any_backlog_quota())
		return;
	topic = expiry_open_topic_now(topic_id, AccessShareLock);
	if (topic == NULL)
		return;
	for (int i = 0; i < topic->num_ledgers; i++)
	{
		const LedgerInfo *ledger = &topic->ledgers[i];
		LedgerBacklog backlog;
		int			over = 0;
		BacklogQuotaState state;

		if (limited)
		{
			measure_backlog(topic, ledger, &backlog);
			over = over_quota(&quota, &backlog, now);
		}
		if (over != 0)
			(*exceeded)++;
		state = sender_state(&quota, over);
		read_position_set_backlog_quota(ledger->ledger_id, state, catalog_load_next_entry);
		if (over != 0 && state == BACKLOG_QUOTA_NONE)
			*evicted += evict_backlog(topic, ledger, &quota, &backlog, over,
									  now);
	}
}

/*
 * Which of 'count' topics (ascending) the maintenance pass must look at for
 * backlog quotas: those with a quota in effect, or every one while a
 * partition of the server is flagged over a quota (a flag whose quota went
 * must be cleared).  Sets needed[i] for topic_ids[i].
 */
void
backlog_quota_select_topics(const int64 *topic_ids, int count, bool *needed)
{
	if (read_position_any_backlog_quota())
	{
		memset(needed, true, sizeof(bool) * count);
		return;
	}
	catalog_select_topics("SELECT t.topic_id FROM " POLICY_OF_BATCH("'backlog_quota'") " t"
						  " WHERE t.v ->> 'limit_size' IS NOT NULL"
						  "    OR t.v ->> 'limit_time' IS NOT NULL",
						  0, NULL, NULL, topic_ids, count, needed);
}

/*
 * The maintenance step: see backlog_quota_apply().  Tables locked by others
 * leave the topic for the next pass.
 */
void
backlog_quota_step(int64 topic_id)
{
	CatalogAccess access;
	BacklogQuota quota;
	bool		limited;
	int64		exceeded = 0;
	int64		evicted = 0;

	if (!expiry_lock_policy_tables_now())
		return;
	catalog_access_begin(&access);
	limited = read_backlog_quota(topic_id, &quota);
	catalog_access_end(&access);
	/* without a quota, only a state recorded before could need clearing */
	if ((!limited && !read_position_any_backlog_quota()) || !expiry_lock_cursor_tables_now())
		return;
	backlog_quota_apply(topic_id, GetCurrentTimestamp(), &exceeded, &evicted);
}
