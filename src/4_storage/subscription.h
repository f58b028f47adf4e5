/*-------------------------------------------------------------------------
 *
 * subscription.h
 *	  Durable subscriptions and their consumers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_SUBSCRIPTION_H
#define PULSAR_SUBSCRIPTION_H

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "storage/lockdefs.h"

#include "3_catalog/catalog.h"

/* settings, defined in pulsar_pg.c */
extern int	pulsar_consumer_lease_ms;

#define MAX_SUBSCRIPTION_NAME_LEN	255

typedef enum SubscriptionType
{
	SUBSCRIPTION_EXCLUSIVE,
	SUBSCRIPTION_FAILOVER,
	SUBSCRIPTION_SHARED,
	SUBSCRIPTION_KEY_SHARED
} SubscriptionType;

typedef struct Subscription
{
	int64		subscription_id;
	char	   *name;
	TopicInfo  *topic;
	SubscriptionType type;
	int64		negative_ack_delay_us;
	int64		ack_timeout_us; /* 0: off */
	int32		max_redeliver_count;	/* 0: no dead-lettering */
	char	   *dead_letter_topic;	/* full name */
	int32		max_unacked_messages;	/* 0: no limit */
} Subscription;

/* a connected consumer, as receive sees it */
typedef struct Consumer
{
	int64		consumer_id;
	char	   *name;
	int32		priority;
} Consumer;

/* the whole days that fit in 64 bits of microseconds: about 292,000 years */
#define MAX_INTERVAL_DAYS	INT64CONST(106751991)

extern bool interval_to_usecs(const Interval *interval, int64 *usecs);
extern void ConsumerShmemRequest(void);
extern void ConsumerShmemInit(void);
extern const char *subscription_type_name(SubscriptionType type);
extern Subscription *open_subscription(TopicInfo *topic, const char *name,
									   LOCKMODE lockmode);
extern Subscription *try_open_subscription(TopicInfo *topic, const char *name,
											LOCKMODE lockmode);
extern void forget_deleted_subscriptions(List *subscription_ids,
										List *consumer_ids);
extern bool remove_abandoned_subscription(TopicInfo *topic, const char *name);
extern char *session_consumer_name(void);
extern Consumer *touch_consumer(Subscription *subscription,
								const char *consumer_name);
extern void remove_departed_consumers_everywhere(void);
extern Consumer *live_consumers(Subscription *subscription, int *count);
extern char *subscription_channel(int64 subscription_id);
extern char *required_name_argument(FunctionCallInfo fcinfo, int argno,
									const char *what);
extern TopicInfo *resolve_subscribed_topic(FunctionCallInfo fcinfo,
										   bool create_if_missing);
extern void SubscriptionInit(void);
extern void forget_consumer_at_commit(int64 consumer_id);
extern void ForgetDatabaseConsumers(Oid database_id);
extern int64 ConsumerUsage(void);

#endif							/* PULSAR_SUBSCRIPTION_H */
