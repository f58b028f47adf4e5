/*-------------------------------------------------------------------------
 *
 * segment_worker.h
 *	  Short-lived background workers that create segment tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_SEGMENT_WORKER_H
#define PULSAR_SEGMENT_WORKER_H

extern bool start_segment_worker(int64 ledger_id, int64 segment_no,
								 Oid role_id, bool wait);

#endif							/* PULSAR_SEGMENT_WORKER_H */
