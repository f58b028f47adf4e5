/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *	  The maintenance pass of the database worker: every
 *	  pulsar_pg.maintenance_interval it applies the storage policies to each
 *	  topic (DESIGN invariant 9).
 *
 * A pass walks the topics in id order, a batch of ids at a time.  For each
 * batch, a step first picks in one query the topics it has something to do
 * for (a trim, those with more than their open segment), so that idle
 * topics cost a query per batch rather than a transaction per topic.  Then
 * it runs for each topic picked in a transaction of its own with an error
 * boundary: a topic whose step fails is logged and left for the next pass,
 * and the pass goes on with the next one.  The steps live in lower layers
 * (4_storage) and never wait for a lock a user transaction may hold: they
 * take locks conditionally, and what they cannot lock now they leave for
 * the next pass (DESIGN invariant 6a).
 *
 * A pass begins by removing the grants of roles dropped since the last
 * one (roles belong to the whole cluster, grants to this database).
 *
 * A pass gives the worker back control after MAINTENANCE_SLICE_MS, so that
 * notifications and timers are not held up by a pass over many topics; the
 * worker calls maintenance_run_pass() again in its next cycle, which goes on
 * after the last topic done.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "3_catalog/authz.h"
#include "3_catalog/catalog.h"
#include "4_storage/backlog_quota.h"
#include "4_storage/compaction.h"
#include "4_storage/expiry.h"
#include "4_storage/inactive_topic.h"
#include "4_storage/trim.h"
#include "6_entry/maintenance.h"

/* time a pass runs before the worker gets control back */
#define MAINTENANCE_SLICE_MS	100
/* topic ids read at a time */
#define MAINTENANCE_BATCH		1000

typedef void (*MaintenanceStepFunction) (int64 topic_id);

/*
 * Picks the topics of a batch that a step has something to do for: sets
 * needed[i] for topic_ids[i] (ascending).  A step without one runs for
 * every topic.
 */
typedef void (*MaintenanceStepSelect) (const int64 *topic_ids, int count,
									   bool *needed);

typedef struct MaintenanceStep
{
	const char *name;
	MaintenanceStepFunction apply;
	MaintenanceStepSelect select;
} MaintenanceStep;

/*
 * The steps, in the order they run for each topic.  Steps that move or
 * remove cursors come before the trim, which then reclaims what they
 * released in the same pass: message TTL (cursors move past expired
 * messages), subscription expiration (abandoned subscriptions go), the
 * backlog quota (what senders must do, and eviction of the slowest
 * cursors).  After it: compaction (a topic whose backlog passed its
 * threshold is compacted; the view holds copies, so the trim does not wait
 * for it), then inactive topics (deleted once inactive for their policy's
 * time).
 */
static void trim_step(int64 topic_id);

static const MaintenanceStep maintenance_steps[] = {
	{"message TTL", expiry_message_ttl_step, expiry_message_ttl_select_topics},
	{"subscription expiration", expiry_subscription_expiration_step,
	expiry_subscription_expiration_select_topics},
	{"backlog quota", backlog_quota_step, backlog_quota_select_topics},
	{"trim", trim_step, trim_select_topics},
	{"compaction", compaction_maintenance_step, compaction_select_topics},
	{"inactive topic", inactive_topic_step, inactive_topic_select_topics},
};

#define NUM_MAINTENANCE_STEPS lengthof(maintenance_steps)

static void
trim_step(int64 topic_id)
{
	(void) trim_topic(topic_id);
}

int			pulsar_maintenance_interval_ms = 60000;

/* where the pass in progress is: the topics of the batch not yet done */
static MemoryContext pass_context = NULL;
static int64 *batch = NULL;
static bool *batch_needs[NUM_MAINTENANCE_STEPS];	/* [step][topic] */
static int	batch_size = 0;
static int	batch_next = 0;
static int64 last_topic_id = -1;	/* -1: no pass in progress */
static TimestampTz pass_started = 0;
static int64 pass_topics = 0;
static int64 pass_steps = 0;	/* steps run for a topic */
static struct rusage pass_usage;	/* at its start */
static Size pass_peak_memory = 0;

/* for the error context of a step */
typedef struct StepContext
{
	const MaintenanceStep *step;
	int64		topic_id;
} StepContext;

static void
step_error_context(void *arg)
{
	StepContext *context = arg;

	errcontext("maintenance step \"%s\" of topic " INT64_FORMAT,
			   context->step->name, context->topic_id);
}

/*
 * Runs 'body' in a transaction of its own; an error is logged and rolled
 * back, and false returned.
 */
static bool
run_in_transaction(void (*body) (void *), void *arg)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		body(arg);
		PopActiveSnapshot();
		CommitTransactionCommand();

		/*
		 * The worker commits with synchronous_commit off, which suits its
		 * notifications; what a step changed must survive a crash before
		 * anything acts on it (a segment cut by age skips entry ids that the
		 * backlog must know are skipped), so its commit is flushed.
		 */
		XLogFlush(XactLastCommitEnd);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	CurrentResourceOwner = owner;
	return ok;
}

static void
run_step_body(void *arg)
{
	StepContext *context = arg;
	ErrorContextCallback callback;

	callback.callback = step_error_context;
	callback.arg = context;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	/* DROP EXTENSION or ALTER EXTENSION under way: not now */
	if (catalog_lock_extension_now() && catalog_maintenance_tables_current())
		context->step->apply(context->topic_id);
	error_context_stack = callback.previous;
}

/* reads the next batch of topic ids after last_topic_id */
static void
load_batch_body(void *arg)
{
	static const char *const tables[] = {"topic"};
	CatalogAccess access;
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(last_topic_id),
	Int32GetDatum(MAINTENANCE_BATCH)};

	batch_size = 0;
	batch_next = 0;
	if (!catalog_lock_extension_now() || !catalog_maintenance_tables_current() ||
		!catalog_lock_tables_now(tables, lengthof(tables), AccessShareLock))
	{
		batch_size = -1;		/* try again next time */
		return;
	}
	catalog_access_begin(&access);
	catalog_run_sql("SELECT topic_id FROM pulsar.topic WHERE topic_id > $1"
					" ORDER BY topic_id LIMIT $2",
					2, argtypes, values, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		batch[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
											   SPI_tuptable->tupdesc, 1,
											   &isnull));
	}
	batch_size = (int) SPI_processed;
	catalog_access_end(&access);
}

typedef struct SelectContext
{
	const MaintenanceStep *step;
	bool	   *needed;
} SelectContext;

static void
select_body(void *arg)
{
	SelectContext *context = arg;

	if (catalog_lock_extension_now() && catalog_maintenance_tables_current())
		context->step->select(batch, batch_size, context->needed);
}

/*
 * Which topics of the batch each step runs for.  A step whose choice fails
 * (logged) runs for every topic of the batch, as a step without one does.
 */
static void
select_batch_steps(void)
{
	for (int s = 0; s < NUM_MAINTENANCE_STEPS; s++)
	{
		SelectContext context;

		context.step = &maintenance_steps[s];
		context.needed = batch_needs[s];
		memset(context.needed, 0, sizeof(bool) * batch_size);
		if (context.step->select == NULL ||
			!run_in_transaction(select_body, &context))
			memset(context.needed, true, sizeof(bool) * batch_size);
	}
}

/* the grants of roles dropped since the last pass */
static void
forget_dropped_roles_body(void *arg)
{
	if (catalog_lock_extension_now() && catalog_maintenance_tables_current())
		(void) authz_forget_dropped_roles();
}

/*
 * For the pass's DEBUG1 line: the worker's memory, taken at the ends of
 * slices and batches only, since it walks every memory context (thousands
 * once the relation cache knows many segment tables).
 */
static void
note_peak_memory(void)
{
	if (message_level_is_interesting(DEBUG1))
		pass_peak_memory = Max(pass_peak_memory,
							   MemoryContextMemAllocated(TopMemoryContext, true));
}

/* user and system CPU time of a usage, in milliseconds */
static long
cpu_ms(const struct rusage *usage)
{
	return (usage->ru_utime.tv_sec + usage->ru_stime.tv_sec) * 1000L +
		(usage->ru_utime.tv_usec + usage->ru_stime.tv_usec) / 1000L;
}

/*
 * Forgets a pass in progress: the next call starts a new one.
 */
void
maintenance_reset(void)
{
	last_topic_id = -1;
	batch_size = 0;
	batch_next = 0;
}

/*
 * Runs the maintenance pass, or goes on with the one in progress, for about
 * MAINTENANCE_SLICE_MS.  Returns true when the pass is over (complete, or
 * given up because the topics could not be read: the next one starts
 * over), false if it stopped early and wants to be called again soon.
 * Called by the worker outside any transaction.
 */
bool
maintenance_run_pass(void)
{
	TimestampTz started = GetCurrentTimestamp();
	MemoryContext caller = CurrentMemoryContext;

	if (pass_context == NULL)
	{
		pass_context = AllocSetContextCreate(TopMemoryContext,
											 "pulsar_pg maintenance",
											 ALLOCSET_DEFAULT_SIZES);
		batch = MemoryContextAlloc(TopMemoryContext,
								   sizeof(int64) * MAINTENANCE_BATCH);
		for (int s = 0; s < NUM_MAINTENANCE_STEPS; s++)
			batch_needs[s] = MemoryContextAlloc(TopMemoryContext,
												sizeof(bool) * MAINTENANCE_BATCH);
	}
	if (last_topic_id < 0)
	{
		last_topic_id = 0;
		batch_size = 0;
		batch_next = 0;
		pass_started = started;
		pass_topics = 0;
		pass_steps = 0;
		pass_peak_memory = 0;
		getrusage(RUSAGE_SELF, &pass_usage);
		MemoryContextReset(pass_context);
		MemoryContextSwitchTo(pass_context);
		(void) run_in_transaction(forget_dropped_roles_body, NULL);
	}

	pgstat_report_activity(STATE_RUNNING, "pulsar_pg maintenance pass");
	for (;;)
	{
		StepContext context;

		CHECK_FOR_INTERRUPTS();
		if (batch_next >= batch_size)
		{
			MemoryContextReset(pass_context);
			MemoryContextSwitchTo(pass_context);
			/* topics locked or failing: the next pass starts over */
			note_peak_memory();
			if (!run_in_transaction(load_batch_body, NULL) || batch_size <= 0)
				break;
			MemoryContextReset(pass_context);
			select_batch_steps();
		}
		context.topic_id = batch[batch_next];
		for (int i = 0; i < NUM_MAINTENANCE_STEPS; i++)
		{
			if (!batch_needs[i][batch_next])
				continue;
			context.step = &maintenance_steps[i];
			MemoryContextReset(pass_context);
			MemoryContextSwitchTo(pass_context);
			(void) run_in_transaction(run_step_body, &context);
			pass_steps++;
		}
		batch_next++;
		last_topic_id = context.topic_id;
		pass_topics++;
		if (TimestampDifferenceExceeds(started, GetCurrentTimestamp(),
									   MAINTENANCE_SLICE_MS))
		{
			note_peak_memory();
			MemoryContextSwitchTo(caller);
			pgstat_report_stat(false);
			pgstat_report_activity(STATE_IDLE, NULL);
			return false;
		}
	}
	MemoryContextReset(pass_context);
	MemoryContextSwitchTo(caller);
	/* for operators and bench/maintenance.sh */
	if (message_level_is_interesting(DEBUG1))
	{
		struct rusage usage;

		getrusage(RUSAGE_SELF, &usage);
		ereport(DEBUG1,
				(errmsg_internal("pulsar_pg maintenance pass: " INT64_FORMAT " topics in %ld ms, CPU %ld ms, peak memory %zu bytes, " INT64_FORMAT " steps run",
								 pass_topics,
								 TimestampDifferenceMilliseconds(pass_started,
																 GetCurrentTimestamp()),
								 cpu_ms(&usage) - cpu_ms(&pass_usage),
								 pass_peak_memory, pass_steps)));
	}
	maintenance_reset();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return true;
}
