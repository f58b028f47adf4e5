/*-------------------------------------------------------------------------
 *
 * worker_signal.h
 *	  The worker slots in shared memory, the signals backends send their
 *	  database's worker, and the request that starts a segment worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_WORKER_SIGNAL_H
#define PULSAR_WORKER_SIGNAL_H

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#define PUBLISHED_QUEUE_SIZE	256
/* subscriptions that lost consumers, before it notifies them all */
#define LEFT_QUEUE_SIZE			64

typedef enum DatabaseWorkerState
{
	DATABASE_UNKNOWN,			/* a worker should run, or look whether one
								 * is needed */
	DATABASE_WITHOUT_EXTENSION	/* a worker looked: none is needed */
} DatabaseWorkerState;

/*
 * One slot per database the launcher knows.  WorkerState->lock protects
 * database_id, state, start_requests, pause_count and retry_now; 'mutex'
 * protects the rest, which backends of the database write on their hot
 * paths.
 */
typedef struct DatabaseWorker
{
	Oid			database_id;	/* InvalidOid: free slot */
	DatabaseWorkerState state;
	uint32		start_requests; /* bumped by each CREATE EXTENSION */
	int			pause_count;	/* > 0: keep no worker (DROP DATABASE...) */
	bool		retry_now;		/* start again without the crash delay */

	slock_t		mutex;
	pid_t		pid;			/* the running worker, or 0 */
	Latch	   *latch;			/* its latch, or NULL */
	int			num_published;	/* partitions whose max read position */
	bool		published_overflow; /* moved: queue, or "scan them all" */
	int64		published[PUBLISHED_QUEUE_SIZE];
	TimestampTz next_timer;		/* the worker will look for due timers then */
	TimestampTz earliest_new_timer; /* earliest timer set since it looked */
	bool		check_consumers;	/* a consumer's session ended */
	int			num_left;		/* subscriptions that lost consumers: */
	bool		left_overflow;	/* queue, or "notify them all" */
	int64		left[LEFT_QUEUE_SIZE];
} DatabaseWorker;

typedef struct WorkerSharedState
{
	LWLock	   *lock;
	pg_atomic_uint64 subscriptions_generation;	/* bumped by commits that
												 * create, change or delete
												 * subscriptions */
	Latch	   *launcher_latch;
	int			num_slots;
	DatabaseWorker slots[FLEXIBLE_ARRAY_MEMBER];
} WorkerSharedState;

extern WorkerSharedState *WorkerState;

/* what a segment worker is asked to do, passed in bgw_extra */
typedef struct SegmentRequest
{
	Oid			database_id;
	Oid			role_id;
	int64		ledger_id;
	int64		segment_no;
} SegmentRequest;

StaticAssertDecl(sizeof(SegmentRequest) <= BGW_EXTRALEN,
				 "SegmentRequest must fit in bgw_extra");

extern void worker_signal_shmem_request(void);
extern void worker_signal_shmem_init(void);
extern void worker_signal_init(void);
extern DatabaseWorker *worker_signal_find_slot(Oid database_id);
extern void worker_signal_describe(BackgroundWorker *worker,
								   const char *function, const char *type);
extern bool worker_signal_start_segment_worker(int64 ledger_id,
											   int64 segment_no,
											   Oid role_id, bool wait);

extern void worker_signal_published(int64 ledger_id);
extern void worker_signal_timer(TimestampTz due);
extern void worker_signal_consumer_session(void);
extern void worker_signal_consumers_left(int64 subscription_id);
extern void worker_signal_subscriptions_changed(void);
extern bool worker_signal_subscriptions_changed_here(void);
extern uint64 worker_signal_subscriptions_generation(void);

#endif							/* PULSAR_WORKER_SIGNAL_H */
