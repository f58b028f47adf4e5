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

extern void ConsumerShmemRequest(void);
extern void ConsumerShmemInit(void);
extern void ConsumerLivenessInit(void);
extern void consumer_seen_now(int64 consumer_id);
extern TimestampTz consumer_last_seen(int64 consumer_id, TimestampTz stored);
extern void forget_consumer_at_commit(int64 consumer_id);
extern void forget_consumer_at_abort(int64 consumer_id);
extern void ForgetDatabaseConsumers(Oid database_id);
extern int64 ConsumerUsage(void);

#endif							/* PULSAR_CONSUMER_LIVENESS_H */
