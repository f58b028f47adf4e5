/*-------------------------------------------------------------------------
 *
 * ack.c
 *	  SQL entry points that move a subscription's cursor: ack,
 *	  cursor_ack_cumulative, nack and seek.
 *
 * Each checks its arguments and the server's state, opens the topic and
 * the subscription, and leaves the work on the cursor and pending rows to
 * the storage layer (cursor.c), in the caller's transaction: an ack rolled
 * back was never made.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "1_value/argument.h"
#include "1_value/message_id.h"
#include "2_shmem/dispatch_state.h"
#include "2_shmem/read_position.h"
#include "4_storage/cursor.h"
#include "4_storage/reader.h"
#include "4_storage/subscription.h"

PG_FUNCTION_INFO_V1(pulsar_ack);
PG_FUNCTION_INFO_V1(pulsar_ack_array);
PG_FUNCTION_INFO_V1(pulsar_ack_cumulative);
PG_FUNCTION_INFO_V1(pulsar_nack);
PG_FUNCTION_INFO_V1(pulsar_seek);
PG_FUNCTION_INFO_V1(pulsar_seek_time);
PG_FUNCTION_INFO_V1(pulsar_seek_text);

/*
 * What the acknowledging functions share: checks, the topic and the
 * subscription.
 */
static Subscription *
open_for_ack(FunctionCallInfo fcinfo, const char *function)
{
	TopicInfo  *topic;

	catalog_require_writable(function);
	topic = subscription_resolve_topic(fcinfo, false);
	return subscription_open(topic,
							 argument_required_text(fcinfo, 1, "subscription"),
							 AccessShareLock);
}

static MessageId *
message_id_argument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message_id must not be null")));
	return PG_GETARG_MESSAGE_ID_P(argno);
}

static ArrayType *
message_ids_argument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message_ids must not be null")));
	return PG_GETARG_ARRAYTYPE_P(argno);
}

/*
 * The message ids of an array argument, grouped by ledger: calls 'apply'
 * once per ledger with its entries.
 */
static void
for_each_ledger_of_ids(Subscription *subscription, ArrayType *ids,
					   void (*apply) (Subscription *, int64, int64 *, int))
{
	TopicInfo  *topic = subscription->topic;
	Datum	   *elements;
	bool	   *nulls;
	int			count;
	int64	   *entries;
	int64	   *ledgers;
	int64	   *max_read;		/* per ledger, see cursor_ledger_of_message_within() */

	if (ARR_NDIM(ids) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("message_ids must be a one-dimensional array")));
	deconstruct_array(ids, ARR_ELEMTYPE(ids), sizeof(MessageId), false,
					  TYPALIGN_DOUBLE, &elements, &nulls, &count);
	entries = palloc(sizeof(int64) * Max(count, 1));
	ledgers = palloc(sizeof(int64) * Max(count, 1));
	max_read = palloc(sizeof(int64) * topic->num_ledgers);
	for (int l = 0; l < topic->num_ledgers; l++)
		max_read[l] = -1;
	for (int i = 0; i < count; i++)
	{
		MessageId  *id;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("message_ids must not contain nulls")));
		id = DatumGetMessageIdP(elements[i]);
		ledgers[i] = cursor_ledger_of_message_within(topic, id, max_read)->ledger_id;
		entries[i] = id->entry_id;
	}
	for (int l = 0; l < topic->num_ledgers; l++)
	{
		int64	   *mine = palloc(sizeof(int64) * Max(count, 1));
		int			n = 0;

		for (int i = 0; i < count; i++)
			if (ledgers[i] == topic->ledgers[l].ledger_id)
				mine[n++] = entries[i];
		if (n > 0)
			apply(subscription, topic->ledgers[l].ledger_id, mine, n);
	}
}

/*
 * ack(topic, subscription, message_id)
 */
Datum
pulsar_ack(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_ack(fcinfo, "pulsar.ack()");
	MessageId  *id = message_id_argument(fcinfo, 2);
	LedgerInfo *ledger = cursor_ledger_of_message(subscription->topic, id);
	int64		entry = id->entry_id;

	cursor_ack_entries(subscription, ledger->ledger_id, &entry, 1);
	PG_RETURN_VOID();
}

/*
 * ack(topic, subscription, message_ids[])
 */
Datum
pulsar_ack_array(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_ack(fcinfo, "pulsar.ack()");

	for_each_ledger_of_ids(subscription, message_ids_argument(fcinfo, 2),
						   cursor_ack_entries);
	PG_RETURN_VOID();
}

/*
 * cursor_ack_cumulative(topic, subscription, message_id): everything up to and
 * including the message, in its partition.
 */
Datum
pulsar_ack_cumulative(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_ack(fcinfo, "pulsar.ack_cumulative()");
	MessageId  *id = message_id_argument(fcinfo, 2);
	LedgerInfo *ledger;

	if (subscription->type == SUBSCRIPTION_SHARED ||
		subscription->type == SUBSCRIPTION_KEY_SHARED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cumulative acknowledgement is not supported on %s subscription \"%s\"",
						subscription_type_name(subscription->type),
						subscription->name),
				 errdetail("Consumers of shared and key_shared subscriptions receive messages out of order."),
				 errhint("Acknowledge each message with pulsar.ack().")));
	ledger = cursor_ledger_of_message(subscription->topic, id);

	cursor_ack_cumulative(subscription, ledger, id);
	PG_RETURN_VOID();
}

/*
 * nack(topic, subscription, message_ids[]): redeliver after the
 * subscription's negative-ack delay.
 */
Datum
pulsar_nack(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_ack(fcinfo, "pulsar.nack()");

	for_each_ledger_of_ids(subscription, message_ids_argument(fcinfo, 2),
						   cursor_nack_entries);
	PG_RETURN_VOID();
}

static Subscription *
open_for_seek(FunctionCallInfo fcinfo)
{
	TopicInfo  *topic;

	catalog_require_writable("pulsar.seek()");
	topic = subscription_resolve_topic(fcinfo, false);
	return subscription_open(topic,
							 argument_required_text(fcinfo, 1, "subscription"),
							 AccessExclusiveLock);
}

/*
 * seek(topic, subscription, message_id): the message becomes the next one
 * delivered in its partition; 'earliest' and 'latest' move every partition.
 */
Datum
pulsar_seek(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_seek(fcinfo);

	cursor_seek_to_message(subscription, message_id_argument(fcinfo, 2));
	PG_RETURN_VOID();
}

/*
 * seek(topic, subscription, publish_time): in every partition, the first
 * message published at or after the time becomes the next one delivered.
 */
Datum
pulsar_seek_time(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_seek(fcinfo);

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("publish_time must not be null")));
	cursor_seek_to_time(subscription, PG_GETARG_TIMESTAMPTZ(2));
	PG_RETURN_VOID();
}

/*
 * seek(topic, subscription, target text): 'earliest', 'latest', a message
 * ID or a time, so that an untyped literal finds a function.
 */
Datum
pulsar_seek_text(PG_FUNCTION_ARGS)
{
	Subscription *subscription = open_for_seek(fcinfo);
	char	   *position = argument_required_text(fcinfo, 2, "target");
	Datum		parsed;

	if (strchr(position, ':') != NULL && strchr(position, '-') != position &&
		strspn(position, "0123456789:-") == strlen(position))
		cursor_seek_to_message(subscription,
							   DatumGetMessageIdP(DirectFunctionCall1(message_id_in,
															   CStringGetDatum(position))));
	else if (pg_strcasecmp(position, "earliest") == 0 ||
			 pg_strcasecmp(position, "latest") == 0)
		cursor_seek_to_message(subscription,
							   DatumGetMessageIdP(DirectFunctionCall1(message_id_in,
															   CStringGetDatum(position))));
	else
	{
		parsed = DirectFunctionCall3(timestamptz_in, CStringGetDatum(position),
									 ObjectIdGetDatum(InvalidOid),
									 Int32GetDatum(-1));
		cursor_seek_to_time(subscription, DatumGetTimestampTz(parsed));
	}
	PG_RETURN_VOID();
}
