/*-------------------------------------------------------------------------
 *
 * admin.c
 *	  SQL entry points that manage tenants, namespaces and topics.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "1_value/argument.h"
#include "1_value/topic_name.h"
#include "2_shmem/dispatch_state.h"
#include "2_shmem/read_position.h"
#include "3_catalog/authz.h"
#include "3_catalog/catalog.h"
#include "4_storage/pending.h"
#include "4_storage/subscription.h"
#include "4_storage/trim.h"
#include "5_dispatch/dispatch.h"

PG_FUNCTION_INFO_V1(pulsar_create_tenant);
PG_FUNCTION_INFO_V1(pulsar_create_namespace);
PG_FUNCTION_INFO_V1(pulsar_set_deduplication);
PG_FUNCTION_INFO_V1(pulsar_create_topic);
PG_FUNCTION_INFO_V1(pulsar_delete_topic);
PG_FUNCTION_INFO_V1(pulsar_trim_topic);

/* the most partitions one topic may have */
#define MAX_TOPIC_PARTITIONS	1024

Datum
pulsar_create_tenant(PG_FUNCTION_ARGS)
{
	char	   *tenant = argument_required_text(fcinfo, 0, "tenant");

	catalog_require_writable("pulsar.create_tenant()");
	authz_check_superuser("pulsar.create_tenant()");
	catalog_create_tenant(tenant);
	PG_RETURN_VOID();
}

Datum
pulsar_create_namespace(PG_FUNCTION_ARGS)
{
	char	   *input = argument_required_text(fcinfo, 0, "namespace");
	char		tenant[MAX_TENANT_NAME_LEN + 1];
	char		namespace[MAX_NAMESPACE_NAME_LEN + 1];

	catalog_require_writable("pulsar.create_namespace()");
	topic_name_parse_namespace(input, tenant, namespace);
	authz_check_namespace(tenant, namespace, AUTHZ_ADMINISTER);
	catalog_create_namespace(tenant, namespace);
	PG_RETURN_VOID();
}

Datum
pulsar_set_deduplication(PG_FUNCTION_ARGS)
{
	char	   *input = argument_required_text(fcinfo, 0, "namespace");
	char		tenant[MAX_TENANT_NAME_LEN + 1];
	char		namespace[MAX_NAMESPACE_NAME_LEN + 1];

	catalog_require_writable("pulsar.set_deduplication()");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("enabled must not be null")));
	topic_name_parse_namespace(input, tenant, namespace);
	authz_check_namespace(tenant, namespace, AUTHZ_ADMINISTER);
	catalog_set_namespace_deduplication(tenant, namespace, PG_GETARG_BOOL(1));
	PG_RETURN_VOID();
}

Datum
pulsar_create_topic(PG_FUNCTION_ARGS)
{
	char	   *input = argument_required_text(fcinfo, 0, "topic");
	TopicName	name;
	int32		partitions;

	catalog_require_writable("pulsar.create_topic()");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("partitions must not be null"),
				 errhint("Pass 0 for a non-partitioned topic.")));
	partitions = PG_GETARG_INT32(1);
	if (partitions < 0 || partitions > MAX_TOPIC_PARTITIONS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partitions must be between 0 and %d",
						MAX_TOPIC_PARTITIONS),
				 errdetail("The value given was %d; 0 makes a non-partitioned topic.",
						   partitions)));
	topic_name_parse(input, &name);
	authz_check(&name, AUTHZ_ADMINISTER);
	PG_RETURN_TEXT_P(cstring_to_text(catalog_create_topic(&name, partitions)));
}

Datum
pulsar_delete_topic(PG_FUNCTION_ARGS)
{
	char	   *input = argument_required_text(fcinfo, 0, "topic");
	TopicName	name;

	catalog_require_writable("pulsar.delete_topic()");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("force must not be null")));
	topic_name_parse(input, &name);
	authz_check(&name, AUTHZ_ADMINISTER);
	subscription_delete_topic(&name, PG_GETARG_BOOL(1));
	PG_RETURN_VOID();
}

/*
 * trim_topic(topic) RETURNS bigint: what the maintenance pass does to a
 * topic, now, in the caller's transaction (Pulsar's trim-topic): closes its
 * segments and drops those no subscription and no retention policy needs.
 * Segments in use are left, as the pass leaves them.  Returns the number of
 * segments dropped.
 */
Datum
pulsar_trim_topic(PG_FUNCTION_ARGS)
{
	char	   *input = argument_required_text(fcinfo, 0, "topic");
	TopicName	name;
	TopicInfo  *topic;

	catalog_require_writable("pulsar.trim_topic()");
	if (!catalog_maintenance_tables_current())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pulsar_pg\" must be updated before topics can be trimmed"),
				 errhint("Run ALTER EXTENSION pulsar_pg UPDATE.")));
	topic_name_parse(input, &name);
	topic = catalog_resolve_topic(&name, false, AccessShareLock);
	if (name.partition_index != NOT_A_PARTITION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot trim one partition of topic \"%s\"",
						topic_name_string(&name, NOT_A_PARTITION)),
				 errhint("Trim the partitioned topic as a whole.")));
	PG_RETURN_INT64(trim_topic(topic->topic_id));
}
