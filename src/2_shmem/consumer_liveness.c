/*-------------------------------------------------------------------------
 *
 * consumer_liveness.c
 *	  The last call of each consumer, in shared memory.
 *
 * Owns the hash table ConsumersSeen.  A consumer's last call is kept here,
 * not in its row: a row updated by a receive would stay locked until the
 * receive's transaction ended, and everything that removes the consumer
 * would wait for it.  The table has a fixed size (pulsar_pg.max_cursors, a
 * hard limit); an entry goes when the transaction that removed its
 * consumer commits, or that attached it aborts, and with its database.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "1_value/subxact_items.h"
#include "2_shmem/consumer_liveness.h"
#include "2_shmem/dispatch_state.h"

typedef struct ConsumerSeenKey
{
	Oid			database_id;
	int64		consumer_id;
} ConsumerSeenKey;

typedef struct ConsumerSeen
{
	ConsumerSeenKey key;
	TimestampTz last_seen;		/* written and read under ConsumerSeenLock */
} ConsumerSeen;

static HTAB *ConsumersSeen = NULL;
static LWLock *ConsumerSeenLock = NULL;

void
ConsumerLivenessShmemRequest(void)
{
	RequestAddinShmemSpace(hash_estimate_size(pulsar_max_cursors,
											  sizeof(ConsumerSeen)));
	RequestNamedLWLockTranche("pulsar_pg consumers", 1);
}

void
ConsumerLivenessShmemInit(void)
{
	HASHCTL		info;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	info.keysize = sizeof(ConsumerSeenKey);
	info.entrysize = sizeof(ConsumerSeen);
	ConsumersSeen = ShmemInitHash("pulsar_pg consumers seen",
								  pulsar_max_cursors, pulsar_max_cursors,
								  &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	ConsumerSeenLock = &(GetNamedLWLockTranche("pulsar_pg consumers"))->lock;
	LWLockRelease(AddinShmemInitLock);
}

static void
make_seen_key(ConsumerSeenKey *key, int64 consumer_id)
{
	memset(key, 0, sizeof(ConsumerSeenKey));
	key->database_id = MyDatabaseId;
	key->consumer_id = consumer_id;
}

/* Records a call now; fails if shared memory holds too many consumers. */
void
consumer_liveness_seen_now(int64 consumer_id)
{
	ConsumerSeenKey key;
	ConsumerSeen *seen;

	make_seen_key(&key, consumer_id);
	LWLockAcquire(ConsumerSeenLock, LW_EXCLUSIVE);
	seen = hash_search(ConsumersSeen, &key, HASH_FIND, NULL);
	if (seen == NULL &&
		hash_get_num_entries(ConsumersSeen) < pulsar_max_cursors)
		seen = hash_search(ConsumersSeen, &key, HASH_ENTER_NULL, NULL);
	if (seen == NULL)
	{
		LWLockRelease(ConsumerSeenLock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many consumers in use"),
				 errdetail("Shared memory holds the liveness of at most %d consumers.",
						   pulsar_max_cursors),
				 errhint("Close consumers that are no longer used, or increase pulsar_pg.max_cursors and restart the server.")));
	}
	seen->last_seen = GetCurrentTimestamp();
	LWLockRelease(ConsumerSeenLock);
}

TimestampTz
consumer_liveness_last_seen(int64 consumer_id, TimestampTz stored)
{
	ConsumerSeenKey key;
	ConsumerSeen *seen;
	TimestampTz last_seen = stored;

	make_seen_key(&key, consumer_id);
	LWLockAcquire(ConsumerSeenLock, LW_SHARED);
	seen = hash_search(ConsumersSeen, &key, HASH_FIND, NULL);
	if (seen != NULL && seen->last_seen > last_seen)
		last_seen = seen->last_seen;
	LWLockRelease(ConsumerSeenLock);
	return last_seen;
}

/* a consumer whose liveness goes when the open transaction ends */
typedef struct ForgetSeen
{
	SubxactItem subxact;		/* first: the subtransaction that asked */
	int64		consumer_id;
} ForgetSeen;

/* consumers whose liveness goes when the open transaction commits, aborts */
static List *forget_seen_at_commit = NIL;
static List *forget_seen_at_abort = NIL;

static void
forget_seen_when(List **list, int64 consumer_id)
{
	ForgetSeen *forget = subxact_item_append(list, sizeof(ForgetSeen));

	forget->consumer_id = consumer_id;
}

/* The open transaction removes a consumer's row. */
void
consumer_liveness_forget_at_commit(int64 consumer_id)
{
	forget_seen_when(&forget_seen_at_commit, consumer_id);
}

void
consumer_liveness_forget_at_abort(int64 consumer_id)
{
	forget_seen_when(&forget_seen_at_abort, consumer_id);
}

static void
forget_consumers_seen(List *consumer_ids)
{
	ListCell   *lc;

	if (consumer_ids == NIL || ConsumersSeen == NULL)
		return;
	LWLockAcquire(ConsumerSeenLock, LW_EXCLUSIVE);
	foreach(lc, consumer_ids)
	{
		ConsumerSeenKey key;

		make_seen_key(&key, ((ForgetSeen *) lfirst(lc))->consumer_id);
		hash_search(ConsumersSeen, &key, HASH_REMOVE, NULL);
	}
	LWLockRelease(ConsumerSeenLock);
}

static void
consumer_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			forget_consumers_seen(forget_seen_at_commit);
			forget_seen_at_commit = NIL;
			forget_seen_at_abort = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			forget_consumers_seen(forget_seen_at_abort);
			forget_seen_at_commit = NIL;
			forget_seen_at_abort = NIL;
			break;
		case XACT_EVENT_PREPARE:
			/* nothing to forget: its consumers stay until it ends */
			forget_seen_at_commit = NIL;
			forget_seen_at_abort = NIL;
			break;
		default:
			break;
	}
}

static void
consumer_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		/* consumers the subtransaction attached are gone */
		List	   *aborted = subxact_items_take_aborted(&forget_seen_at_abort);

		forget_consumers_seen(aborted);
		list_free(aborted);
		/* consumers it removed are back */
		list_free(subxact_items_take_aborted(&forget_seen_at_commit));
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		subxact_items_to_parent(forget_seen_at_abort);
		subxact_items_to_parent(forget_seen_at_commit);
	}
}

void
ConsumerLivenessInit(void)
{
	RegisterXactCallback(consumer_xact_callback, NULL);
	RegisterSubXactCallback(consumer_subxact_callback, NULL);
}

/*
 * Forgets the lease of every consumer of a database: after DROP DATABASE,
 * and at the commit of CREATE EXTENSION (consumer ids start again from 1
 * after DROP EXTENSION).  Must not fail.
 */
void
consumer_liveness_forget_database(Oid database_id)
{
	HASH_SEQ_STATUS status;
	ConsumerSeen *seen;

	if (ConsumersSeen == NULL)
		return;
	LWLockAcquire(ConsumerSeenLock, LW_EXCLUSIVE);
	hash_seq_init(&status, ConsumersSeen);
	while ((seen = hash_seq_search(&status)) != NULL)
	{
		if (seen->key.database_id == database_id)
			hash_search(ConsumersSeen, &seen->key, HASH_REMOVE, NULL);
	}
	LWLockRelease(ConsumerSeenLock);
}

/* For pulsar.shared_memory_usage(): entries of every database. */
int64
consumer_liveness_usage(void)
{
	int64		entries;

	LWLockAcquire(ConsumerSeenLock, LW_SHARED);
	entries = hash_get_num_entries(ConsumersSeen);
	LWLockRelease(ConsumerSeenLock);
	return entries;
}
