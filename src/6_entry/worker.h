/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The background worker of each database that has the extension, the
 *	  launcher that starts them, and how other backends wake a worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_WORKER_H
#define PULSAR_WORKER_H

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

/* partitions a worker is told about before it falls back to a full scan */
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

/* pulsar_pg.c */
extern void WorkerShmemRequest(void);
extern void WorkerShmemInit(void);
extern void WorkerInit(void);

/* launcher.c */
extern void RegisterLauncher(void);
extern void LauncherInit(void);
extern DatabaseWorker *find_database_worker(Oid database_id);
extern void describe_background_worker(BackgroundWorker *worker,
									   const char *function,
									   const char *type);

/* called by other backends of the database */
extern void WorkerNotePublished(int64 ledger_id);
extern void WorkerNoteTimer(TimestampTz due);
extern void WorkerNoteConsumerSession(void);
extern void WorkerNoteConsumersLeft(int64 subscription_id);
extern void WorkerNoteSubscriptionsChanged(void);
extern bool WorkerSubscriptionsChangedHere(void);
extern uint64 WorkerSubscriptionsGeneration(void);

#endif							/* PULSAR_WORKER_H */
