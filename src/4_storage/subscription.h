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

#include "2_shmem/consumer_liveness.h"
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
	bool		read_compacted; /* reads the compacted view (since 0.7.0) */
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

/* what subscribe() sets on a subscription */
typedef struct SubscriptionSettings
{
	SubscriptionType type;
	bool		earliest;		/* a new subscription's initial position */
	Interval   *negative_ack_delay;
	Interval   *ack_timeout;	/* NULL: none */
	int32		max_redeliver_count;	/* 0: no dead-letter policy */
	char	   *dead_letter_topic;	/* NULL: none */
	int32		max_unacked_messages;	/* 0: no limit */
	bool		has_read_compacted; /* the caller's subscribe() has it (0.7.0) */
	bool		read_compacted;
} SubscriptionSettings;

/*
 * Subscriptions with their topic's full name, for the worker's
 * notifications: (subscription_id, topic), to complete with a WHERE clause.
 */
#define SUBSCRIPTION_TOPICS \
	"SELECT s.subscription_id," \
	"       'persistent://' || t.tenant || '/' || t.namespace || '/' || t.name" \
	"  FROM pulsar.subscription s" \
	"  JOIN pulsar.topic t ON t.topic_id = s.topic_id"

extern SubscriptionType subscription_parse_type(const char *name);
extern Subscription *subscription_store(TopicInfo *topic, const char *name,
										const SubscriptionSettings *settings,
										const char *consumer_name);
extern void subscription_attach_consumer(Subscription *subscription,
										 const char *consumer_name, int32 priority,
										 bool session_consumer);
extern bool subscription_close_consumer(Subscription *subscription,
										const char *consumer_name);
extern void subscription_delete(Subscription *subscription);
extern const char *subscription_type_name(SubscriptionType type);
extern Subscription *subscription_open(TopicInfo *topic, const char *name,
									   LOCKMODE lockmode);
extern Subscription *subscription_try_open(TopicInfo *topic, const char *name,
											LOCKMODE lockmode);
extern bool subscription_remove_abandoned(TopicInfo *topic, const char *name);
extern void subscription_delete_topic(const TopicName *name, bool force);
extern char *subscription_session_consumer_name(void);
extern Consumer *subscription_touch_consumer(Subscription *subscription,
											 const char *consumer_name);
extern void subscription_remove_departed_consumers_everywhere(void);
extern Consumer *subscription_live_consumers(Subscription *subscription, int *count);
extern char *subscription_channel(int64 subscription_id);
extern TopicInfo *subscription_resolve_topic(FunctionCallInfo fcinfo,
											 bool create_if_missing);

#endif							/* PULSAR_SUBSCRIPTION_H */
