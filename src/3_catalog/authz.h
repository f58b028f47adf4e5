/*-------------------------------------------------------------------------
 *
 * authz.h
 *	  Who may do what: superusers, tenant admins, produce/consume
 *	  permissions per namespace and topic, subscription permissions, and
 *	  the unguessable names of subscription channels.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_AUTHZ_H
#define PULSAR_AUTHZ_H

#include "nodes/pg_list.h"

#include "1_value/topic_name.h"

typedef enum AuthzAction
{
	AUTHZ_PRODUCE = 1 << 0,		/* send, send_batch */
	AUTHZ_CONSUME = 1 << 1,		/* read, subscribe, receive, ack, stats ... */
	AUTHZ_ADMINISTER = 1 << 2	/* tenant admins and superusers only */
} AuthzAction;

/* a grant as get_permissions() shows it; role InvalidOid is PUBLIC */
typedef struct AuthzGrant
{
	Oid			role;
	int			actions;		/* AUTHZ_PRODUCE | AUTHZ_CONSUME */
} AuthzGrant;

/*
 * The one check every SQL entry point makes before it touches data.  The
 * target is a topic, a namespace (local_name "") or a tenant (namespace
 * ""); it need not exist, and the error is the same whether it does or
 * not.  Throws SQLSTATE 42501 naming the action and the target.
 */
extern void authz_check(const TopicName *target, AuthzAction action);

extern void authz_check_namespace(const char *tenant, const char *namespace,
								  AuthzAction action);

/* consume, plus the subscription permissions of the topic's namespace */
extern void authz_check_subscription(const TopicName *topic,
									 const char *subscription);

extern bool authz_allowed(const TopicName *target, AuthzAction action);
extern bool authz_is_superuser(void);
extern void authz_check_superuser(const char *function);

/* changes, made by callers that passed authz_check(ADMINISTER) */
extern void authz_set_tenant_admins(const char *tenant, const Oid *roles,
									int nroles);
extern void authz_grant(const TopicName *target, Oid role, int actions);
extern bool authz_revoke(const TopicName *target, Oid role);
extern List *authz_grants(const TopicName *target);
extern void authz_grant_subscription(const char *tenant, const char *namespace,
									 const char *subscription,
									 const Oid *roles, int nroles);
extern bool authz_revoke_subscription(const char *tenant,
									  const char *namespace,
									  const char *subscription, Oid role);
extern uint64 authz_forget_dropped_roles(void);
extern void authz_forget_topic(const TopicName *topic);
extern bool authz_namespace_exists(const char *tenant, const char *namespace);
extern void authz_require_target(const TopicName *target);

extern char *authz_channel_name(int64 subscription_id);

#endif							/* PULSAR_AUTHZ_H */
