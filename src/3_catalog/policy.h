/*-------------------------------------------------------------------------
 *
 * policy.h
 *	  Policies of namespaces and topics (storage policies and limits), and
 *	  the server defaults.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_POLICY_H
#define PULSAR_POLICY_H

#include "lib/stringinfo.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "1_value/topic_name.h"

#include "2_shmem/rate_limit.h"

/* server defaults (GUCs pulsar_pg.default_*); -1 means unlimited or none */
extern int	policy_default_retention_time_s;
extern int	policy_default_retention_size_mb;
extern int	policy_default_message_ttl_s;
extern int	policy_default_backlog_quota_size_mb;
extern int	policy_default_backlog_quota_time_s;
extern int	policy_default_backlog_quota_policy;
extern int	policy_default_subscription_expiration_s;
extern bool policy_default_inactive_topic_enabled;
extern int	policy_default_inactive_topic_max_s;
extern int	policy_default_inactive_topic_mode;
extern int	policy_default_compaction_threshold_mb;
extern int	policy_default_max_topics_per_namespace;
extern int	policy_default_max_subscriptions_per_topic;
extern int	policy_default_max_consumers_per_topic;
extern int	policy_default_max_consumers_per_subscription;
extern int	policy_default_max_unacked_per_subscription;
extern int	policy_default_publish_rate_messages;
extern int	policy_default_publish_rate_bytes;
extern int	policy_default_dispatch_rate_messages;
extern int	policy_default_dispatch_rate_bytes;

/* the limits in effect for a topic; 0 in a field is no limit */
typedef struct TopicLimits
{
	int64		max_subscriptions;
	int64		max_consumers_per_topic;
	int64		max_consumers_per_subscription;
	int64		max_unacked_per_subscription;	/* per partition */
	RateLimit	publish;		/* of the topic */
	RateLimit	dispatch;		/* of each subscription */
} TopicLimits;

extern void policy_define_settings(void);
extern void PolicyInit(void);
extern void policy_limits(int64 topic_id, TopicLimits *limits);
extern int64 policy_max_topics_per_namespace(const char *tenant,
											 const char *namespace);
extern Jsonb *policy_default(const char *policy);
extern Jsonb *policy_effective(int64 topic_id, const char *policy);

/*
 * For a query over a batch of topics ($1, an int8 array): each topic with
 * its effective policy 'name' (a quoted SQL literal) as column v, joined
 * in one set rather than looked up by pulsar.effective_policy() per topic.
 */
#define POLICY_OF_BATCH(name) \
	"(SELECT b.topic_id," \
	"        coalesce(tp.value, np.value, pulsar.policy_default(" name ")) AS v" \
	"   FROM pg_catalog.unnest($1) b(topic_id)" \
	"   JOIN pulsar.topic pt ON pt.topic_id = b.topic_id" \
	"   LEFT JOIN pulsar.policy tp ON tp.tenant = pt.tenant" \
	"    AND tp.namespace = pt.namespace AND tp.topic_id = pt.topic_id" \
	"    AND tp.name = " name \
	"   LEFT JOIN pulsar.policy np ON np.tenant = pt.tenant" \
	"    AND np.namespace = pt.namespace AND np.topic_id = 0" \
	"    AND np.name = " name ")"
extern bool policy_limit(Jsonb *policy, const char *field, int64 *value);
extern char *policy_text(Jsonb *policy, const char *field);
extern void policy_forget_topic(int64 topic_id);

/* a namespace (topic_id 0) or a topic that policies are set on */
typedef struct PolicyTarget
{
	char		tenant[MAX_TENANT_NAME_LEN + 1];
	char		namespace[MAX_NAMESPACE_NAME_LEN + 1];
	int64		topic_id;
} PolicyTarget;

/* the policy names, as errors list them */
#define POLICY_NAME_LIST "retention, message_ttl, backlog_quota, " \
	"subscription_expiration_time, inactive_topic_policies, compaction_threshold, " \
	"max_topics_per_namespace, max_subscriptions_per_topic, max_consumers_per_topic, " \
	"max_consumers_per_subscription, max_unacked_messages_per_subscription, " \
	"publish_rate, dispatch_rate"

/* the options of the backlog quota policy and of the inactive topic mode */
extern const struct config_enum_entry backlog_quota_policies[];
extern const struct config_enum_entry inactive_topic_modes[];

extern void policy_check_name(const char *policy);
extern void policy_append_limit(StringInfo buf, const char *field, int64 value);
extern void policy_store(const PolicyTarget *target, const char *policy,
						 const char *json);
extern void policy_store_single_limit(const PolicyTarget *target,
									  const char *policy, const char *field,
									  int64 value);
extern void policy_remove(const PolicyTarget *target, const char *policy);
extern char *policy_describe(const PolicyTarget *target);

#endif							/* PULSAR_POLICY_H */
