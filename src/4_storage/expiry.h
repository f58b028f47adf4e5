/*-------------------------------------------------------------------------
 *
 * expiry.h
 *	  Message expiry, subscription expiration, and the pass that applies
 *	  every expiry policy.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_EXPIRY_H
#define PULSAR_EXPIRY_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/snapshot.h"

#include "3_catalog/catalog.h"
#include "4_storage/subscription.h"

/* what one application of the policies did */
typedef struct ExpiryCounts
{
	int64		messages_expired;	/* by message TTL */
	int64		quotas_exceeded;	/* partitions over a backlog quota */
	int64		messages_evicted;	/* by consumer_backlog_eviction */
	int64		subscriptions_expired;
	int64		topics_deleted;
} ExpiryCounts;

typedef void (*GuardedStep) (void *arg);

/* when the worker started: consumers before it are not known */
extern TimestampTz expiry_consumers_known_since;

extern bool expiry_lock_policy_tables_now(void);
extern bool expiry_lock_cursor_tables_now(void);
extern void expiry_run_guarded(GuardedStep step, void *arg, const char *what);
extern void expiry_topic_name(const char *tenant, const char *namespace,
							  const char *local_name, TopicName *name);
extern List *expiry_subscription_names(int64 topic_id);
extern int64 expiry_newest_published_before(const LedgerInfo *ledger, int64 after,
											int64 last, TimestampTz cutoff,
											Snapshot snapshot);
extern bool expiry_first_publish_time(const LedgerInfo *ledger, int64 after,
									  int64 last, Snapshot snapshot,
									  TimestampTz *publish_time);
extern int64 expiry_evict_cursor_through(Subscription *subscription,
										 const LedgerInfo *ledger, int64 through,
										 bool wait);
extern int64 expiry_count(Subscription *subscription, TopicInfo *topic,
						  int first_ledger, int num_ledgers,
						  int64 *last_expired_ms);
extern int64 expiry_expire_published_before(Subscription *subscription,
											const LedgerInfo *ledger,
											TimestampTz cutoff, bool wait);
extern TopicInfo *expiry_open_topic_now(int64 topic_id, LOCKMODE lockmode);
extern bool expiry_effective_limit(int64 topic_id, const char *policy,
								   const char *field, int64 *value);
extern int64 expiry_apply_message_ttl(int64 topic_id, TimestampTz now);
extern void expiry_message_ttl_step(int64 topic_id);
extern void expiry_message_ttl_select_topics(const int64 *topic_ids, int count,
											 bool *needed);
extern void expiry_note_subscriptions_active(const int64 *subscription_ids,
											 int count, bool all, TimestampTz now);
extern int64 expiry_expire_subscriptions(int64 topic_id, TimestampTz now,
										 TimestampTz consumers_known_since);
extern void expiry_subscription_expiration_step(int64 topic_id);
extern void expiry_subscription_expiration_select_topics(const int64 *topic_ids,
														 int count, bool *needed);
extern void expiry_apply_policies(const char *tenant, const char *namespace,
								  TimestampTz now,
								  TimestampTz consumers_known_since,
								  ExpiryCounts *counts);

#endif							/* PULSAR_EXPIRY_H */
