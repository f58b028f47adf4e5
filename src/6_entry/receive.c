/*-------------------------------------------------------------------------
 *
 * receive.c
 *	  SQL entry point pulsar.receive(): its arguments, then
 *	  5_dispatch/dispatch.c hands out the messages.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "1_value/argument.h"
#include "3_catalog/catalog.h"
#include "4_storage/reader.h"
#include "4_storage/subscription.h"
#include "5_dispatch/dispatch.h"

PG_FUNCTION_INFO_V1(pulsar_receive);

/* Reads and checks receive()'s max_messages and timeout. */
static void
receive_limits(FunctionCallInfo fcinfo, int32 *max_messages,
			   int64 *timeout_us)
{
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_messages must not be null")));
	*max_messages = PG_GETARG_INT32(2);
	reader_check_max_messages(*max_messages);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("timeout must not be null"),
				 errhint("Pass '0' to return at once.")));
	if (!argument_interval_usecs(PG_GETARG_INTERVAL_P(3), timeout_us) ||
		*timeout_us > MAX_INTERVAL_DAYS * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout is out of range"),
				 errdetail("The longest timeout is %d days.",
						   (int) MAX_INTERVAL_DAYS)));
	if (*timeout_us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));
}

/*
 * receive(topic, subscription, max_messages, timeout, consumer)
 *		RETURNS SETOF pulsar.message
 */
Datum
pulsar_receive(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic;
	char	   *name;
	char	   *consumer_name;
	int32		max_messages;
	int64		timeout_us;

	reader_check_can_read("pulsar.receive()");
	PreventCommandIfReadOnly("pulsar.receive()");
	receive_limits(fcinfo, &max_messages, &timeout_us);

	topic = subscription_resolve_topic(fcinfo, false);
	name = argument_required_text(fcinfo, 1, "subscription");
	consumer_name = PG_ARGISNULL(4) ? subscription_session_consumer_name() :
		text_to_cstring(PG_GETARG_TEXT_PP(4));
	InitMaterializedSRF(fcinfo, 0);
	dispatch_receive((ReturnSetInfo *) fcinfo->resultinfo, topic, name,
					 consumer_name, max_messages, timeout_us);
	return (Datum) 0;
}
