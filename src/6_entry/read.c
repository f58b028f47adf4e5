/*-------------------------------------------------------------------------
 *
 * read.c
 *	  SQL entry point pulsar.read(): Pulsar's Reader (4_storage/reader.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"

#include "1_value/message_id.h"
#include "1_value/topic_name.h"
#include "3_catalog/authz.h"
#include "3_catalog/catalog.h"
#include "4_storage/reader.h"

PG_FUNCTION_INFO_V1(pulsar_read);

/*
 * read(topic, start_after, max_messages, compacted) RETURNS SETOF pulsar.message
 */
Datum
pulsar_read(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TopicName	name;
	TopicInfo  *topic;
	LedgerInfo *ledger;
	MessageId  *start_after;
	int32		max_messages;
	int64		after;
	bool		compacted;

	reader_check_can_read("pulsar.read()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("topic must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("start_after must not be null"),
				 errhint("Pass 'earliest' to read from the first message.")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_messages must not be null")));
	/* compacted is there since 0.7.0 */
	if (PG_NARGS() > 3 && PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("compacted must not be null")));
	compacted = PG_NARGS() > 3 && PG_GETARG_BOOL(3);
	start_after = PG_GETARG_MESSAGE_ID_P(1);
	max_messages = PG_GETARG_INT32(2);
	reader_check_max_messages(max_messages);

	topic_name_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &name);
	authz_check(&name, AUTHZ_CONSUME);
	topic = catalog_resolve_topic(&name, false, AccessShareLock);
	ledger = catalog_resolve_ledger(topic, &name);

	if (message_id_is_earliest(start_after))
		after = -1;
	else if (message_id_is_latest(start_after))
		after = PG_INT64_MAX;
	else if (start_after->ledger_id != ledger->ledger_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("message ID %s does not belong to topic \"%s\"",
						message_id_to_string(start_after),
						topic_name_string(&name, name.partition_index))));
	else
		after = start_after->entry_id;

	InitMaterializedSRF(fcinfo, 0);

	reader_read_partition(rsinfo, &name, ledger, after, max_messages,
						  compacted);
	return (Datum) 0;
}
