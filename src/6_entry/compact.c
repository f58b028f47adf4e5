/*-------------------------------------------------------------------------
 *
 * compact.c
 *	  SQL entry points of topic compaction: pulsar.compact(),
 *	  pulsar.compaction_status() and pulsar.compaction_step().
 *
 * Compaction is its tenant's business, as in Pulsar: each call needs the
 * right to administer the topic.  What compaction does is in
 * 4_storage/compaction.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "1_value/argument.h"
#include "1_value/topic_name.h"
#include "2_shmem/read_position.h"
#include "3_catalog/authz.h"
#include "3_catalog/catalog.h"
#include "4_storage/compaction.h"
#include "4_storage/reader.h"

PG_FUNCTION_INFO_V1(pulsar_compact);
PG_FUNCTION_INFO_V1(pulsar_compaction_status);
PG_FUNCTION_INFO_V1(pulsar_compaction_step);

/*
 * The partitions a compaction or status call addresses: one partition, or
 * every partition of a topic.
 */
static TopicInfo *
compaction_target(FunctionCallInfo fcinfo, TopicName *name,
				  int *first_ledger, int *num_ledgers)
{
	TopicInfo  *topic;

	topic_name_parse(argument_required_text(fcinfo, 0, "topic"), name);
	authz_check(name, AUTHZ_ADMINISTER);
	topic = catalog_resolve_topic(name, false, AccessShareLock);
	if (name->partition_index != NOT_A_PARTITION || topic->partitions == 0)
	{
		*first_ledger = catalog_resolve_ledger(topic, name) - topic->ledgers;
		*num_ledgers = 1;
	}
	else
	{
		*first_ledger = 0;
		*num_ledgers = topic->num_ledgers;
	}
	return topic;
}

/*
 * compact(topic): compacts a topic (every partition of a partitioned one)
 * up to its max read position, in the caller's transaction.
 */
Datum
pulsar_compact(PG_FUNCTION_ARGS)
{
	TopicName	name;
	TopicInfo  *topic;
	int			first_ledger;
	int			num_ledgers;

	PreventCommandIfReadOnly("pulsar.compact()");
	reader_check_can_read("pulsar.compact()");
	topic = compaction_target(fcinfo, &name, &first_ledger, &num_ledgers);
	for (int i = first_ledger; i < first_ledger + num_ledgers; i++)
	{
		LedgerInfo *ledger = &topic->ledgers[i];

		if (compaction_compact_ledger(ledger, true) == COMPACTION_BUSY)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("compaction of topic \"%s\" is already in progress",
							topic_name_string(&topic->name,
											  ledger->partition_index)),
					 errhint("Wait for it to end; pulsar.compaction_status() tells when.")));
	}
	PG_RETURN_VOID();
}

/*
 * compaction_status(topic) RETURNS jsonb
 */
Datum
pulsar_compaction_status(PG_FUNCTION_ARGS)
{
	TopicName	name;
	TopicInfo  *topic;
	int			first_ledger;
	int			num_ledgers;

	read_position_require_state();
	topic = compaction_target(fcinfo, &name, &first_ledger, &num_ledgers);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in,
										CStringGetDatum(compaction_status_json(topic,
																			   first_ledger,
																			   num_ledgers))));
}

/*
 * compaction_step() RETURNS int: one pass of automatic compaction.
 */
Datum
pulsar_compaction_step(PG_FUNCTION_ARGS)
{
	PreventCommandIfReadOnly("pulsar.compaction_step()");
	reader_check_can_read("pulsar.compaction_step()");
	PG_RETURN_INT32(compaction_step(0));
}
