/*-------------------------------------------------------------------------
 *
 * policy.h
 *	  Storage policies of namespaces and topics, and the server defaults.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_POLICY_H
#define PULSAR_POLICY_H

#include "utils/jsonb.h"

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

extern void policy_define_settings(void);
extern Jsonb *policy_default(const char *policy);
extern Jsonb *policy_effective(int64 topic_id, const char *policy);
extern bool policy_limit(Jsonb *policy, const char *field, int64 *value);
extern void policy_forget_topic(int64 topic_id);

#endif							/* PULSAR_POLICY_H */
