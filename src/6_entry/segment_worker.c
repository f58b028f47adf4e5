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

#include "2_shmem/worker_signal.h"
#include "3_catalog/catalog.h"

PGDLLEXPORT void pulsar_segment_worker_main(Datum main_arg);

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
	catalog_create_segment_in_worker(request.ledger_id, request.segment_no);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	proc_exit(0);
}
