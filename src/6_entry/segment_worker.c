/*-------------------------------------------------------------------------
 *
 * segment_worker.c
 *	  Short-lived background workers that create segment tables.
 *
 * A segment table created inside a sender's transaction would stay
 * invisible, and its creation lock held, until that transaction ends, so
 * every other sender reaching the segment would wait for it, and two
 * senders crossing boundaries of two partitions could deadlock.  A worker
 * creates the segment in a transaction of its own and commits at once.
 *
 * A sender waits for its worker on its latch, which the deadlock detector
 * cannot see, so a worker may wait only for locks that no waiting sender
 * holds: the segment lock, which only workers and delete_topic (after it
 * has waited out every sender of the topic) take.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/snapmgr.h"

#include "3_catalog/catalog.h"
#include "6_entry/segment_worker.h"
#include "6_entry/worker.h"

PGDLLEXPORT void pulsar_segment_worker_main(Datum main_arg);

/* what a worker is asked to do, passed in bgw_extra */
typedef struct SegmentRequest
{
	Oid			database_id;
	Oid			role_id;
	int64		ledger_id;
	int64		segment_no;
} SegmentRequest;

StaticAssertDecl(sizeof(SegmentRequest) <= BGW_EXTRALEN,
				 "SegmentRequest must fit in bgw_extra");

/*
 * Starts a worker that creates a segment of a ledger of the current
 * database.  With 'wait', returns once it has exited.  Returns false if no
 * worker could be started.
 */
bool
start_segment_worker(int64 ledger_id, int64 segment_no, Oid role_id,
					 bool wait)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	SegmentRequest request;

	describe_background_worker(&worker, "pulsar_segment_worker_main",
							   "pulsar_pg segment worker");
	snprintf(worker.bgw_name, BGW_MAXLEN,
			 "pulsar_pg segment worker for ledger " INT64_FORMAT, ledger_id);
	worker.bgw_notify_pid = wait ? MyProcPid : 0;

	request.database_id = MyDatabaseId;
	request.role_id = role_id;
	request.ledger_id = ledger_id;
	request.segment_no = segment_no;
	memcpy(worker.bgw_extra, &request, sizeof(request));

	/* worker slots free up quickly: a sender that must wait tries a while */
	for (int attempt = 0;; attempt++)
	{
		if (RegisterDynamicBackgroundWorker(&worker, wait ? &handle : NULL))
			break;
		if (!wait || attempt >= 500)
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	if (wait && WaitForBackgroundWorkerShutdown(handle) != BGWH_STOPPED)
		return false;
	return true;
}

void
pulsar_segment_worker_main(Datum main_arg)
{
	SegmentRequest request;

	memcpy(&request, MyBgworkerEntry->bgw_extra, sizeof(request));

	/*
	 * The default SIGTERM handler of a background worker exits from inside
	 * the handler, which may interrupt malloc or a spinlock, and whose FATAL
	 * becomes a PANIC in the critical sections of CREATE TABLE.  Like any
	 * backend, stop at the next CHECK_FOR_INTERRUPTS instead: terminations
	 * come from pg_terminate_backend, DROP DATABASE ... WITH (FORCE) and
	 * fast shutdowns.
	 */
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(request.database_id,
											  request.role_id, 0);

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "creating a segment table");
	create_segment_in_worker(request.ledger_id, request.segment_no);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	proc_exit(0);
}
