/*-------------------------------------------------------------------------
 *
 * consumer_liveness.h
 *	  The last call of each consumer, in shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_CONSUMER_LIVENESS_H
#define PULSAR_CONSUMER_LIVENESS_H

#include "datatype/timestamp.h"

extern void ConsumerLivenessShmemRequest(void);
extern void ConsumerLivenessShmemInit(void);
extern void ConsumerLivenessInit(void);
extern void consumer_liveness_seen_now(int64 consumer_id);
extern TimestampTz consumer_liveness_last_seen(int64 consumer_id, TimestampTz stored);
extern void consumer_liveness_forget_at_commit(int64 consumer_id);
extern void consumer_liveness_forget_at_abort(int64 consumer_id);
extern void consumer_liveness_forget_database(Oid database_id);
extern int64 consumer_liveness_usage(void);

#endif							/* PULSAR_CONSUMER_LIVENESS_H */
