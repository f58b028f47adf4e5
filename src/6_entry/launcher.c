/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: one background worker per database that has the
 *	  extension, started without configuration.
 *
 * The launcher starts after recovery (so a hot standby runs none, and a
 * promoted one starts them), connected to no database.  Shared memory has
 * a slot per database with a worker.  For a connectable database it has
 * not seen, the launcher takes a slot and starts a worker that looks
 * whether the extension is installed and exits at once if not; the
 * launcher then remembers the database (in its own memory: it looks again
 * after a restart) and frees the slot.  CREATE EXTENSION and ALTER EXTENSION ... UPDATE ask for a worker
 * at commit (seen by the utility hook), which wakes the launcher.  A worker that dies is started again after a
 * second; one that exits because the extension is gone is not.
 *
 * A worker connected to a database would make DROP DATABASE, ALTER
 * DATABASE ... RENAME/SET TABLESPACE and CREATE DATABASE ... TEMPLATE fail
 * with "database is being accessed by other users".  A utility hook pauses
 * the worker around those commands: it stops it and keeps the launcher
 * from starting it until the command ends.  After DROP DATABASE, the same
 * hook drops the database's entries from the extension's shared tables.
 *
 * Locking: WorkerState->lock protects which database a slot belongs to and
 * its state; see worker.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "2_shmem/dispatch_state.h"
#include "2_shmem/rate_limit.h"
#include "2_shmem/read_position.h"
#include "2_shmem/worker_signal.h"
#include "4_storage/subscription.h"
#include "5_dispatch/dispatch.h"
#include "6_entry/launcher.h"

PGDLLEXPORT void pulsar_launcher_main(Datum main_arg);

#define DATABASE_SCAN_INTERVAL_MS	10000
#define WORKER_RESTART_DELAY_MS		1000
#define WORKER_STOP_TIMEOUT_MS		5000

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static bool start_worker_at_commit = false;

/*
 * The slot of a database, taking a free one if it has none; NULL if all
 * are taken.  Caller holds WorkerState->lock exclusively.
 */
static DatabaseWorker *
claim_slot(Oid database_id)
{
	DatabaseWorker *free_slot = NULL;

	for (int i = 0; i < WorkerState->num_slots; i++)
	{
		DatabaseWorker *slot = &WorkerState->slots[i];

		if (slot->database_id == database_id)
			return slot;
		if (free_slot == NULL && !OidIsValid(slot->database_id))
			free_slot = slot;
	}
	if (free_slot != NULL)
	{
		free_slot->database_id = database_id;
		free_slot->state = DATABASE_UNKNOWN;
		free_slot->pause_count = 0;
		free_slot->retry_now = false;
		SpinLockAcquire(&free_slot->mutex);
		free_slot->num_published = 0;
		free_slot->published_overflow = false;
		free_slot->check_consumers = false;
		SpinLockRelease(&free_slot->mutex);
	}
	return free_slot;
}

static void
wake_launcher(void)
{
	Latch	   *latch = WorkerState->launcher_latch;

	if (latch != NULL)
		SetLatch(latch);
}

static void
request_worker(void)
{
	DatabaseWorker *slot;

	LWLockAcquire(WorkerState->lock, LW_EXCLUSIVE);
	slot = claim_slot(MyDatabaseId);
	if (slot != NULL)
	{
		slot->state = DATABASE_UNKNOWN;
		slot->start_requests++;
		slot->retry_now = true;
	}
	LWLockRelease(WorkerState->lock);
	if (slot == NULL)
		ereport(WARNING,
				(errmsg("no background worker slot for pulsar_pg in this database"),
				 errdetail("The launcher keeps at most max_worker_processes databases."),
				 errhint("Increase max_worker_processes and restart the server.")));
	wake_launcher();
}

static void
launcher_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (start_worker_at_commit && WorkerState != NULL)
				request_worker();
			start_worker_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			start_worker_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * The database a utility statement needs without other connections, or
 * NULL.
 */
static const char *
database_to_vacate(Node *parsetree)
{
	ListCell   *lc;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			return ((DropdbStmt *) parsetree)->dbname;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				return ((RenameStmt *) parsetree)->subname;
			return NULL;
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) parsetree)->options)
			{
				DefElem    *option = lfirst(lc);

				if (strcmp(option->defname, "template") == 0 && option->arg)
					return defGetString(option);
			}
			return NULL;
		case T_AlterDatabaseStmt:
			foreach(lc, ((AlterDatabaseStmt *) parsetree)->options)
			{
				DefElem    *option = lfirst(lc);

				if (strcmp(option->defname, "tablespace") == 0)
					return ((AlterDatabaseStmt *) parsetree)->dbname;
			}
			return NULL;
		default:
			return NULL;
	}
}

/*
 * Stops a database's worker and keeps it stopped until resume_worker().
 */
static DatabaseWorker *
pause_worker(const char *database)
{
	Oid			database_id = get_database_oid(database, true);
	DatabaseWorker *slot;
	TimestampTz deadline;

	if (!OidIsValid(database_id) || WorkerState == NULL)
		return NULL;
	LWLockAcquire(WorkerState->lock, LW_EXCLUSIVE);
	slot = NULL;
	for (int i = 0; i < WorkerState->num_slots; i++)
		if (WorkerState->slots[i].database_id == database_id)
			slot = &WorkerState->slots[i];
	if (slot != NULL)
		slot->pause_count++;
	LWLockRelease(WorkerState->lock);
	if (slot == NULL)
		return NULL;

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   WORKER_STOP_TIMEOUT_MS);
	for (;;)
	{
		pid_t		pid;

		SpinLockAcquire(&slot->mutex);
		pid = slot->pid;
		SpinLockRelease(&slot->mutex);
		if (pid == 0 || GetCurrentTimestamp() >= deadline)
			break;
		(void) kill(pid, SIGTERM);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return slot;
}

static void
resume_worker(DatabaseWorker *slot, bool database_gone)
{
	LWLockAcquire(WorkerState->lock, LW_EXCLUSIVE);
	slot->pause_count--;
	if (database_gone && slot->pause_count == 0)
		slot->database_id = InvalidOid;
	LWLockRelease(WorkerState->lock);
	wake_launcher();
}

/*
 * Whether a utility statement installs or updates this extension: a worker
 * must then run in this database (an installation older than 0.3.0 had no
 * worker).
 */
static bool
installs_extension(Node *parsetree)
{
	if (IsA(parsetree, CreateExtensionStmt))
		return strcmp(((CreateExtensionStmt *) parsetree)->extname,
					  "pulsar_pg") == 0;
	if (IsA(parsetree, AlterExtensionStmt))
		return strcmp(((AlterExtensionStmt *) parsetree)->extname,
					  "pulsar_pg") == 0;
	return false;
}

static void
pulsar_process_utility(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree, ProcessUtilityContext context,
					   ParamListInfo params, QueryEnvironment *queryEnv,
					   DestReceiver *dest, QueryCompletion *qc)
{
	const char *database = database_to_vacate(pstmt->utilityStmt);
	DatabaseWorker *paused = NULL;
	Oid			database_id = InvalidOid;

	if (installs_extension(pstmt->utilityStmt))
		start_worker_at_commit = true;

	if (database != NULL)
	{
		database_id = get_database_oid(database, true);
		paused = pause_worker(database);
	}

	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		if (paused != NULL)
			resume_worker(paused, false);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (paused != NULL)
		resume_worker(paused, IsA(pstmt->utilityStmt, DropdbStmt) &&
					  OidIsValid(database_id));

	/*
	 * The database is gone, and no session of it is left: its shared state
	 * goes with it, whether it had a worker or not.
	 */
	if (IsA(pstmt->utilityStmt, DropdbStmt) && OidIsValid(database_id))
	{
		read_position_forget_database(database_id);
		dispatch_state_forget_database(database_id);
		consumer_liveness_forget_database(database_id);
		rate_limit_forget_database(database_id);
	}
}

void
launcher_init(void)
{
	RegisterXactCallback(launcher_xact_callback, NULL);
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = pulsar_process_utility;
}

void
launcher_register(void)
{
	BackgroundWorker worker;

	worker_signal_describe(&worker, "pulsar_launcher_main",
							   "pulsar_pg launcher");
	worker.bgw_restart_time = WORKER_RESTART_DELAY_MS / 1000;
	RegisterBackgroundWorker(&worker);
}

/*
 * Gives every connectable database a slot, but those known to be without
 * the extension, as far as free slots go; frees the slots of databases
 * that are gone and have no worker.
 */
static void
scan_databases(BackgroundWorkerHandle **handles, List *without_extension)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	List	   *databases = NIL;
	ListCell   *lc;
	MemoryContext launcher_context = CurrentMemoryContext;
	MemoryContext old_context;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database database = (Form_pg_database) GETSTRUCT(tuple);

		/* a worker on a template would make CREATE DATABASE fail */
		if (!database->datallowconn || database->datistemplate ||
			database->datconnlimit == DATCONNLIMIT_INVALID_DB)
			continue;
		/* the list outlives the transaction */
		old_context = MemoryContextSwitchTo(launcher_context);
		databases = lappend_oid(databases, database->oid);
		MemoryContextSwitchTo(old_context);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	LWLockAcquire(WorkerState->lock, LW_EXCLUSIVE);
	for (int i = 0; i < WorkerState->num_slots; i++)
	{
		DatabaseWorker *slot = &WorkerState->slots[i];

		if (OidIsValid(slot->database_id) && handles[i] == NULL &&
			slot->pause_count == 0 &&
			!list_member_oid(databases, slot->database_id))
			slot->database_id = InvalidOid;
	}
	foreach(lc, databases)
	{
		Oid			database_id = lfirst_oid(lc);
		bool		known = false;

		for (int i = 0; i < WorkerState->num_slots; i++)
			if (WorkerState->slots[i].database_id == database_id)
				known = true;
		if (known || list_member_oid(without_extension, database_id))
			continue;
		if (claim_slot(database_id) == NULL)
			break;				/* the others at the next scan */
	}
	LWLockRelease(WorkerState->lock);
	list_free(databases);
}

static bool
start_worker(Oid database_id, BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	bool		started;

	worker_signal_describe(&worker, "pulsar_worker_main",
							   "pulsar_pg worker");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pulsar_pg worker %u", database_id);
	worker.bgw_main_arg = ObjectIdGetDatum(database_id);
	worker.bgw_notify_pid = MyProcPid;
	started = RegisterDynamicBackgroundWorker(&worker, handle);
	MemoryContextSwitchTo(old);
	return started;
}

static void
launcher_exit(int code, Datum arg)
{
	LWLockAcquire(WorkerState->lock, LW_EXCLUSIVE);
	WorkerState->launcher_latch = NULL;
	LWLockRelease(WorkerState->lock);
}

/* what the launcher keeps between its rounds */
typedef struct Launcher
{
	BackgroundWorkerHandle **handles;	/* per slot: the worker it started */
	TimestampTz *start_after;	/* per slot: no start before then */
	TimestampTz next_scan;
	List	   *without_extension;	/* databases a worker found without the
									 * extension */
} Launcher;

/* Connects, and takes the launcher's place in shared memory. */
static void
launcher_start(Launcher *launcher)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pulsar_pg launcher");

	launcher->handles = MemoryContextAllocZero(TopMemoryContext,
											   sizeof(BackgroundWorkerHandle *) *
											   WorkerState->num_slots);
	launcher->start_after = MemoryContextAllocZero(TopMemoryContext,
												   sizeof(TimestampTz) *
												   WorkerState->num_slots);
	launcher->next_scan = 0;
	launcher->without_extension = NIL;
	LWLockAcquire(WorkerState->lock, LW_EXCLUSIVE);
	WorkerState->launcher_latch = MyLatch;
	/* after a restart of the launcher, workers it started are gone */
	for (int i = 0; i < WorkerState->num_slots; i++)
		WorkerState->slots[i].retry_now = true;
	LWLockRelease(WorkerState->lock);
	before_shmem_exit(launcher_exit, (Datum) 0);
}

/*
 * Looks after slot 'i': notes a worker that stopped, frees the slot of a
 * database without the extension, and starts a worker the slot wants when
 * it may.  Lowers 'next_wake' to when the slot needs a look again.
 */
static void
tend_slot(Launcher *launcher, int i, TimestampTz now, TimestampTz *next_wake)
{
	DatabaseWorker *slot = &WorkerState->slots[i];
	BackgroundWorkerHandle **handles = launcher->handles;
	TimestampTz *start_after = launcher->start_after;
	Oid			database_id;
	bool		wanted;
	bool		retry_now;

	if (handles[i] != NULL)
	{
		pid_t		pid;

		if (GetBackgroundWorkerPid(handles[i], &pid) != BGWH_STOPPED)
			return;
		pfree(handles[i]);
		handles[i] = NULL;
		start_after[i] = TimestampTzPlusMilliseconds(now,
													 WORKER_RESTART_DELAY_MS);
	}

	LWLockAcquire(WorkerState->lock, LW_EXCLUSIVE);
	database_id = slot->database_id;
	if (OidIsValid(database_id) &&
		slot->state == DATABASE_WITHOUT_EXTENSION &&
		slot->pause_count == 0)
	{
		/*
		 * Slots are for databases with a worker: remember this one here,
		 * free its slot, and look at the next databases.  CREATE EXTENSION
		 * takes a slot again.
		 */
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		launcher->without_extension = lappend_oid(launcher->without_extension,
												  database_id);
		MemoryContextSwitchTo(old);
		slot->database_id = InvalidOid;
		database_id = InvalidOid;
		launcher->next_scan = now;
		*next_wake = now;
	}
	else if (OidIsValid(database_id))
		launcher->without_extension = list_delete_oid(launcher->without_extension,
													  database_id);
	wanted = OidIsValid(database_id) &&
		slot->state == DATABASE_UNKNOWN && slot->pause_count == 0;
	retry_now = slot->retry_now;
	slot->retry_now = false;
	LWLockRelease(WorkerState->lock);

	if (!wanted)
		return;
	if (retry_now)
		start_after[i] = now;
	if (now < start_after[i])
	{
		*next_wake = Min(*next_wake, start_after[i]);
		return;
	}
	if (!start_worker(database_id, &handles[i]))
	{
		/* no free background worker slot: try again later */
		handles[i] = NULL;
		start_after[i] = TimestampTzPlusMilliseconds(now,
													 WORKER_RESTART_DELAY_MS);
		*next_wake = Min(*next_wake, start_after[i]);
	}
}

void
pulsar_launcher_main(Datum main_arg)
{
	Launcher	launcher;

	launcher_start(&launcher);
	for (;;)
	{
		TimestampTz now;
		TimestampTz next_wake;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		now = GetCurrentTimestamp();
		if (now >= launcher.next_scan)
		{
			scan_databases(launcher.handles, launcher.without_extension);
			launcher.next_scan = TimestampTzPlusMilliseconds(now, DATABASE_SCAN_INTERVAL_MS);
		}
		next_wake = launcher.next_scan;
		for (int i = 0; i < WorkerState->num_slots; i++)
			tend_slot(&launcher, i, now, &next_wake);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(TimestampDifferenceMilliseconds(now, next_wake), 1),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
