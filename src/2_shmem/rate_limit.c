/*-------------------------------------------------------------------------
 *
 * rate_limit.c
 *	  Publish and dispatch rates: one rate bucket per topic or subscription
 *	  in shared memory, shared by every backend that sends to the topic or
 *	  receives from the subscription.
 *
 * A bucket keeps, per dimension (messages, bytes), the time at which what
 * was booked so far has been paid for at the rate: its *theoretical
 * arrival time* (TAT), as a generic cell rate algorithm does.  A call may
 * go once the TAT is at most one second ahead of now (the burst of one
 * second that Pulsar's per-second rate windows allow), and then moves the
 * TAT on by its cost, messages / rate seconds.  So a batch larger than a
 * second's worth goes at once but makes the calls after it wait as long as
 * it overdrew, and callers that book while others wait queue behind them
 * in the order they booked, since each sees the TAT its predecessors left.
 * Booking happens before the caller sleeps, so the sleep needs no lock.
 *
 * Only topics and subscriptions with a rate get a bucket.  The table has a
 * fixed size (pulsar_pg.max_rate_limiters, a hard limit checked before each
 * insertion, as the other shared tables do); a bucket goes when the
 * transaction that removed its topic or subscription commits, and with its
 * database.  A bucket lost with a restart starts again empty: rates are
 * volatile state.
 *
 * A send books its messages and bytes at once and waits until they fit; a
 * receive, whose bytes are known only once it has read them, waits until
 * one message fits, takes as many messages as fit, and afterwards gives
 * back those it did not hand out and books the bytes it did.
 *
 * Locking: RateState->lock (an LWLock) protects the hash table's shape:
 * lookups take it shared, insertions and removals exclusive.  Each bucket's
 * spinlock protects its times and counters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "2_shmem/rate_limit.h"

/* how far ahead of now the booked time may run before a call must wait */
#define BURST_USECS		((double) USECS_PER_SEC)

typedef struct RateKey
{
	Oid			database_id;
	int64		topic_id;
	int64		subscription_id;	/* RATE_LIMIT_PUBLISH for the topic's */
} RateKey;

typedef struct RateBucket
{
	RateKey		key;			/* hash key */
	slock_t		mutex;			/* protects the fields below */
	double		message_tat;	/* microseconds, as TimestampTz */
	double		byte_tat;
	RateLimitCounters counters;
} RateBucket;

typedef struct RateSharedState
{
	LWLock	   *lock;
} RateSharedState;

static RateSharedState *RateState = NULL;
static HTAB *RateBuckets = NULL;

/* (topic, subscription) pairs whose buckets go when the transaction commits */
static List *forget_at_commit = NIL;

void
RateLimitShmemRequest(void)
{
	RequestAddinShmemSpace(add_size(sizeof(RateSharedState),
									hash_estimate_size(pulsar_max_rate_limiters,
													   sizeof(RateBucket))));
	RequestNamedLWLockTranche("pulsar_pg rate limits", 1);
}

void
RateLimitShmemInit(void)
{
	HASHCTL		info;
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	RateState = ShmemInitStruct("pulsar_pg rate limits",
								sizeof(RateSharedState), &found);
	if (!found)
		RateState->lock = &(GetNamedLWLockTranche("pulsar_pg rate limits"))->lock;
	info.keysize = sizeof(RateKey);
	info.entrysize = sizeof(RateBucket);
	RateBuckets = ShmemInitHash("pulsar_pg rate buckets",
								pulsar_max_rate_limiters,
								pulsar_max_rate_limiters,
								&info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);
}

static void
make_key(RateKey *key, int64 topic_id, int64 subscription_id)
{
	memset(key, 0, sizeof(RateKey));
	key->database_id = MyDatabaseId;
	key->topic_id = topic_id;
	key->subscription_id = subscription_id;
}

/*
 * The bucket of a topic or subscription, made (empty) if missing; fails
 * when the table is full.  Buckets are never moved, so the pointer stays
 * valid for as long as the object exists.
 */
static RateBucket *
rate_bucket(int64 topic_id, int64 subscription_id)
{
	RateKey		key;
	RateBucket *bucket;
	bool		found;

	if (RateBuckets == NULL)
		elog(ERROR, "pulsar_pg rate limits are not in shared memory");
	make_key(&key, topic_id, subscription_id);
	LWLockAcquire(RateState->lock, LW_SHARED);
	bucket = hash_search(RateBuckets, &key, HASH_FIND, NULL);
	LWLockRelease(RateState->lock);
	if (bucket != NULL)
		return bucket;

	LWLockAcquire(RateState->lock, LW_EXCLUSIVE);
	bucket = hash_search(RateBuckets, &key, HASH_FIND, &found);
	if (bucket == NULL &&
		hash_get_num_entries(RateBuckets) < pulsar_max_rate_limiters)
	{
		bucket = hash_search(RateBuckets, &key, HASH_ENTER_NULL, &found);
		if (bucket != NULL && !found)
		{
			SpinLockInit(&bucket->mutex);
			bucket->message_tat = 0;
			bucket->byte_tat = 0;
			memset(&bucket->counters, 0, sizeof(bucket->counters));
		}
	}
	LWLockRelease(RateState->lock);
	if (bucket == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many rate-limited topics and subscriptions"),
				 errdetail("Shared memory holds the rate state of at most %d topics and subscriptions.",
						   pulsar_max_rate_limiters),
				 errhint("Remove rates that are no longer needed, or increase pulsar_pg.max_rate_limiters and restart the server.")));
	return bucket;
}

/* microseconds a dimension's rate gives each unit */
static inline double
unit_cost(int64 per_second)
{
	return (double) USECS_PER_SEC / (double) per_second;
}

/*
 * Microseconds until a call costing 'messages' and 'bytes' fits in the
 * burst on top of what was booked before it.  Caller holds the bucket's
 * spinlock; *message_wait and *byte_wait get each dimension's share.
 */
static double
wait_for_cost(RateBucket *bucket, const RateLimit *limit, double now,
			  int64 messages, int64 bytes, double *message_wait,
			  double *byte_wait)
{
	*message_wait = *byte_wait = 0;
	if (limit->messages_per_second > 0)
		*message_wait = Max(Max(bucket->message_tat, now) +
							messages * unit_cost(limit->messages_per_second) -
							BURST_USECS - now, 0);
	if (limit->bytes_per_second > 0)
		*byte_wait = Max(Max(bucket->byte_tat, now) +
						 bytes * unit_cost(limit->bytes_per_second) -
						 BURST_USECS - now, 0);
	return Max(*message_wait, *byte_wait);
}

/*
 * Returns how many microseconds a call costing 'messages' and 'bytes' must
 * wait before it goes (0: at once), and books it when 'book' is true,
 * unless that wait is longer than 'max_wait_us': then it books nothing and
 * sets *within to false.  A call that must wait, or would wait too long,
 * is counted as held back, and against the dimension(s) that held it back.
 */
int64
RateLimitBook(int64 topic_id, int64 subscription_id, const RateLimit *limit,
			  int64 messages, int64 bytes, bool book, int64 max_wait_us,
			  bool *within)
{
	RateBucket *bucket = rate_bucket(topic_id, subscription_id);
	double		now = (double) GetCurrentTimestamp();
	double		message_wait;
	double		byte_wait;
	double		wait;

	SpinLockAcquire(&bucket->mutex);
	wait = wait_for_cost(bucket, limit, now, messages, bytes, &message_wait,
						 &byte_wait);
	if (wait > 0)
		bucket->counters.throttled++;
	if (message_wait > 0)
		bucket->counters.message_throttled++;
	if (byte_wait > 0)
		bucket->counters.byte_throttled++;
	*within = wait <= (double) max_wait_us;
	if (*within && book)
	{
		if (limit->messages_per_second > 0)
			bucket->message_tat = Max(bucket->message_tat, now) +
				messages * unit_cost(limit->messages_per_second);
		if (limit->bytes_per_second > 0)
			bucket->byte_tat = Max(bucket->byte_tat, now) +
				bytes * unit_cost(limit->bytes_per_second);
	}
	SpinLockRelease(&bucket->mutex);
	return (int64) ceil(wait);
}

/*
 * Books as many of 'wanted' messages as fit in the burst now (none when
 * the bytes booked are more than a second ahead), for a dispatch whose
 * bytes are known only afterwards: RateLimitSettle() then gives back what
 * was not used and charges the bytes.
 */
int64
RateLimitTakeMessages(int64 topic_id, int64 subscription_id,
					  const RateLimit *limit, int64 wanted)
{
	RateBucket *bucket = rate_bucket(topic_id, subscription_id);
	double		now = (double) GetCurrentTimestamp();
	int64		taken = wanted;

	SpinLockAcquire(&bucket->mutex);
	if (limit->bytes_per_second > 0 &&
		bucket->byte_tat - now > BURST_USECS)
	{
		taken = 0;
		bucket->counters.throttled++;
		bucket->counters.byte_throttled++;
	}
	if (taken > 0 && limit->messages_per_second > 0)
	{
		double		cost = unit_cost(limit->messages_per_second);
		double		ahead = Max(bucket->message_tat, now) - now;
		double		fit = ahead >= BURST_USECS ? 0 :
			floor((BURST_USECS - ahead) / cost);

		taken = (int64) Min((double) wanted, fit);
		if (taken < wanted)
		{
			bucket->counters.throttled++;
			bucket->counters.message_throttled++;
		}
		bucket->message_tat = Max(bucket->message_tat, now) + taken * cost;
	}
	SpinLockRelease(&bucket->mutex);
	return taken;
}

/*
 * After a dispatch that took 'taken' messages with RateLimitTakeMessages()
 * and handed out 'messages' of 'bytes': gives back the messages not used
 * and charges the bytes.
 */
void
RateLimitSettle(int64 topic_id, int64 subscription_id, const RateLimit *limit,
				int64 taken, int64 messages, int64 bytes)
{
	RateBucket *bucket;
	double		now;

	if (taken == messages && (limit->bytes_per_second <= 0 || bytes == 0))
		return;
	bucket = rate_bucket(topic_id, subscription_id);
	now = (double) GetCurrentTimestamp();
	SpinLockAcquire(&bucket->mutex);
	if (limit->messages_per_second > 0 && taken > messages)
		bucket->message_tat -= (taken - messages) *
			unit_cost(limit->messages_per_second);
	if (limit->bytes_per_second > 0)
		bucket->byte_tat = Max(bucket->byte_tat, now) +
			bytes * unit_cost(limit->bytes_per_second);
	SpinLockRelease(&bucket->mutex);
}

/*
 * What a bucket counted; zeros when it has none (its rate was never
 * reached for, or it was forgotten).
 */
void
RateLimitCounted(int64 topic_id, int64 subscription_id,
				 RateLimitCounters *counters)
{
	RateKey		key;
	RateBucket *bucket;

	memset(counters, 0, sizeof(RateLimitCounters));
	if (RateBuckets == NULL)
		return;
	make_key(&key, topic_id, subscription_id);
	LWLockAcquire(RateState->lock, LW_SHARED);
	bucket = hash_search(RateBuckets, &key, HASH_FIND, NULL);
	if (bucket != NULL)
	{
		SpinLockAcquire(&bucket->mutex);
		*counters = bucket->counters;
		SpinLockRelease(&bucket->mutex);
	}
	LWLockRelease(RateState->lock);
}

/*
 * The buckets of a topic (subscription_id RATE_LIMIT_PUBLISH: the topic's
 * and all its subscriptions') or of one subscription go when the open
 * transaction commits.
 */
void
rate_limit_forget_at_commit(int64 topic_id, int64 subscription_id)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	RateKey    *key = palloc(sizeof(RateKey));

	make_key(key, topic_id, subscription_id);
	forget_at_commit = lappend(forget_at_commit, key);
	MemoryContextSwitchTo(old);
}

/* removes the buckets that 'matches' selects; must not fail */
static void
remove_buckets(bool (*matches) (const RateKey *bucket, const void *arg),
			   const void *arg)
{
	HASH_SEQ_STATUS status;
	RateBucket *bucket;

	if (RateBuckets == NULL)
		return;
	LWLockAcquire(RateState->lock, LW_EXCLUSIVE);
	if (hash_get_num_entries(RateBuckets) > 0)
	{
		hash_seq_init(&status, RateBuckets);
		while ((bucket = hash_seq_search(&status)) != NULL)
			if (matches(&bucket->key, arg))
				hash_search(RateBuckets, &bucket->key, HASH_REMOVE, NULL);
	}
	LWLockRelease(RateState->lock);
}

static bool
matches_forgotten(const RateKey *bucket, const void *arg)
{
	ListCell   *lc;

	foreach(lc, (const List *) arg)
	{
		const RateKey *gone = lfirst(lc);

		if (bucket->database_id == gone->database_id &&
			bucket->topic_id == gone->topic_id &&
			(gone->subscription_id == RATE_LIMIT_PUBLISH ||
			 bucket->subscription_id == gone->subscription_id))
			return true;
	}
	return false;
}

static bool
matches_database(const RateKey *bucket, const void *arg)
{
	return bucket->database_id == *(const Oid *) arg;
}

static void
rate_limit_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (forget_at_commit != NIL)
				remove_buckets(matches_forgotten, forget_at_commit);
			forget_at_commit = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			forget_at_commit = NIL;
			break;
		default:
			break;
	}
}

void
RateLimitInit(void)
{
	RegisterXactCallback(rate_limit_xact_callback, NULL);
}

/*
 * Forgets every bucket of a database: after DROP DATABASE, and at the
 * commit of CREATE EXTENSION (ids start again from 1).  Must not fail.
 */
void
rate_limit_forget_database(Oid database_id)
{
	remove_buckets(matches_database, &database_id);
}

/* For pulsar.shared_memory_usage(): buckets of every database. */
int64
RateLimitUsage(void)
{
	int64		entries;

	if (RateBuckets == NULL)
		return 0;
	LWLockAcquire(RateState->lock, LW_SHARED);
	entries = hash_get_num_entries(RateBuckets);
	LWLockRelease(RateState->lock);
	return entries;
}

/* "10 messages and 1024 bytes", for messages */
char *
rate_limit_description(const RateLimit *limit)
{
	if (limit->messages_per_second > 0 && limit->bytes_per_second > 0)
		return psprintf(INT64_FORMAT " messages and " INT64_FORMAT " bytes",
						limit->messages_per_second, limit->bytes_per_second);
	if (limit->messages_per_second > 0)
		return psprintf(INT64_FORMAT " messages", limit->messages_per_second);
	return psprintf(INT64_FORMAT " bytes", limit->bytes_per_second);
}

/*
 * Sleeps for a booked wait, waking for interrupts (a cancel ends it).
 */
void
RateLimitSleep(int64 wait_us)
{
	TimestampTz until = GetCurrentTimestamp() + wait_us;

	for (;;)
	{
		long		wait_ms;

		CHECK_FOR_INTERRUPTS();
		wait_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);
		if (wait_ms <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
