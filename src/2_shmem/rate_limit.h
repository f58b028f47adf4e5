/*-------------------------------------------------------------------------
 *
 * rate_limit.h
 *	  Publish and dispatch rates: one rate bucket per topic or subscription
 *	  in shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_RATE_LIMIT_H
#define PULSAR_RATE_LIMIT_H

/* settings, defined in pulsar_pg.c */
extern int	pulsar_max_rate_limiters;
extern int	pulsar_rate_limit_timeout_ms;

/* a rate; 0 in a field means that dimension is not limited */
typedef struct RateLimit
{
	int64		messages_per_second;
	int64		bytes_per_second;
} RateLimit;

/* what a topic's or a subscription's bucket has counted */
typedef struct RateLimitCounters
{
	int64		throttled;		/* calls held back, by either rate */
	int64		message_throttled;	/* calls held back by the message rate */
	int64		byte_throttled; /* calls held back by the byte rate */
} RateLimitCounters;

#define RATE_LIMIT_PUBLISH	0	/* the subscription id of a topic's bucket */

/* a call that would wait longer than pulsar_pg.rate_limit_timeout */
#define ERRCODE_RATE_LIMIT_EXCEEDED	MAKE_SQLSTATE('5','4','R','0','1')

extern char *rate_limit_description(const RateLimit *limit);

extern void RateLimitShmemRequest(void);
extern void RateLimitShmemInit(void);
extern void RateLimitInit(void);

extern int64 RateLimitBook(int64 topic_id, int64 subscription_id,
						   const RateLimit *limit, int64 messages, int64 bytes,
						   bool book, int64 max_wait_us, bool *within);
extern int64 RateLimitTakeMessages(int64 topic_id, int64 subscription_id,
								   const RateLimit *limit, int64 wanted);
extern void RateLimitSettle(int64 topic_id, int64 subscription_id,
							const RateLimit *limit, int64 taken,
							int64 messages, int64 bytes);
extern void RateLimitCounted(int64 topic_id, int64 subscription_id,
							 RateLimitCounters *counters);
extern void RateLimitSleep(int64 wait_us);
extern void rate_limit_forget_at_commit(int64 topic_id, int64 subscription_id);
extern void rate_limit_forget_database(Oid database_id);
extern int64 RateLimitUsage(void);

#endif							/* PULSAR_RATE_LIMIT_H */
