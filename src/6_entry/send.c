/*-------------------------------------------------------------------------
 *
 * send.c
 *	  SQL entry points pulsar.send(), pulsar.send_batch() (with bytea, text
 *	  and jsonb payloads) and pulsar.partition_for_key(): their arguments
 *	  become a batch that 4_storage/publish.c publishes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "1_value/argument.h"
#include "1_value/message_id.h"
#include "1_value/murmur3.h"
#include "1_value/topic_name.h"
#include "3_catalog/authz.h"
#include "3_catalog/catalog.h"
#include "4_storage/publish.h"

PG_FUNCTION_INFO_V1(pulsar_send);
PG_FUNCTION_INFO_V1(pulsar_send_text);
PG_FUNCTION_INFO_V1(pulsar_send_jsonb);
PG_FUNCTION_INFO_V1(pulsar_send_batch);
PG_FUNCTION_INFO_V1(pulsar_send_batch_text);
PG_FUNCTION_INFO_V1(pulsar_send_batch_jsonb);
PG_FUNCTION_INFO_V1(pulsar_partition_for_key);

typedef enum PayloadKind
{
	PAYLOAD_BYTEA,
	PAYLOAD_TEXT,
	PAYLOAD_JSONB
} PayloadKind;

/* a payload argument as the bytes stored: text and jsonb in UTF-8 */
static bytea *
payload_bytes(Datum value, PayloadKind kind)
{
	char	   *data;
	int			len;
	bytea	   *result;

	switch (kind)
	{
		case PAYLOAD_BYTEA:
			return DatumGetByteaPP(value);
		case PAYLOAD_TEXT:
			data = publish_text_to_utf8(DatumGetTextPP(value), &len);
			break;
		case PAYLOAD_JSONB:
			{
				Jsonb	   *jsonb = DatumGetJsonbP(value);
				char	   *json = JsonbToCString(NULL, &jsonb->root,
												  VARSIZE(jsonb));

				data = pg_server_to_any(json, strlen(json), PG_UTF8);
				len = strlen(data);
				break;
			}
		default:
			elog(ERROR, "unexpected payload kind %d", (int) kind);
	}
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), data, len);
	return result;
}

/*
 * pulsar_pg.max_message_size bounds the whole message a send stores: its
 * payload, key and properties together.
 */
static void
check_message_size(OutgoingMessage *message)
{
	Size		payload = message->payload == NULL ? 0 :
		VARSIZE_ANY_EXHDR(message->payload);
	Size		key = message->key == NULL ? 0 :
		VARSIZE_ANY_EXHDR(message->key);
	Size		properties = message->properties == NULL ? 0 :
		VARSIZE_ANY_EXHDR(message->properties);

	if (payload > (Size) pulsar_max_message_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message payload is too large"),
				 errdetail("The payload has %zu bytes; pulsar_pg.max_message_size is %d bytes.",
						   payload, pulsar_max_message_size)));
	if (payload + key + properties > (Size) pulsar_max_message_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message is too large"),
				 errdetail("The payload, key and properties have %zu, %zu and %zu bytes; pulsar_pg.max_message_size is %d bytes for them together.",
						   payload, key, properties, pulsar_max_message_size)));
}

static void
check_properties(Jsonb *properties)
{
	if (properties != NULL && !JB_ROOT_IS_OBJECT(properties))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("message properties must be a JSON object"),
				 errhint("Pass properties like '{\"name\": \"value\"}'.")));
}

static void
check_sequence_id(OutgoingMessage *message)
{
	if (message->has_sequence_id && message->sequence_id < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sequence_id must not be negative"),
				 errdetail("The sequence id given was " INT64_FORMAT ".",
						   message->sequence_id)));
}

/*
 * Arguments common to send and send_batch, after the per-message ones.
 */
static void
read_publication_options(FunctionCallInfo fcinfo, OutgoingBatch *pub,
						 int deliver_at_arg, int producer_arg,
						 int deliver_after_arg)
{
	pub->has_deliver_at = !PG_ARGISNULL(deliver_at_arg);
	pub->deliver_at = pub->has_deliver_at ? PG_GETARG_DATUM(deliver_at_arg) : 0;
	/* absent before 0.3.0 */
	if (PG_NARGS() > deliver_after_arg && !PG_ARGISNULL(deliver_after_arg))
	{
		Interval   *after = PG_GETARG_INTERVAL_P(deliver_after_arg);
		Interval	zero;

		if (pub->has_deliver_at)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("deliver_at and deliver_after cannot both be given"),
					 errhint("Pass one of them.")));
		memset(&zero, 0, sizeof(zero));
		if (DatumGetBool(DirectFunctionCall2(interval_lt,
											 IntervalPGetDatum(after),
											 IntervalPGetDatum(&zero))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("deliver_after must not be negative")));
		pub->has_deliver_at = true;
		pub->deliver_at =
			DirectFunctionCall2(timestamptz_pl_interval,
								TimestampTzGetDatum(GetCurrentTimestamp()),
								IntervalPGetDatum(after));
	}
	pub->producer = PG_ARGISNULL(producer_arg) ? NULL :
		PG_GETARG_TEXT_PP(producer_arg);
}

/*
 * send(topic, payload, key, properties, event_time, deliver_at, producer,
 *		sequence_id) RETURNS pulsar.message_id
 */
static Datum
send_one(FunctionCallInfo fcinfo, PayloadKind kind)
{
	OutgoingBatch pub;
	OutgoingMessage message;
	MessageId  *id;

	catalog_require_writable("pulsar.send()");
	topic_name_parse(argument_required_text(fcinfo, 0, "topic"), &pub.name);
	authz_check(&pub.name, AUTHZ_PRODUCE);

	memset(&message, 0, sizeof(message));
	message.payload = PG_ARGISNULL(1) ? NULL :
		payload_bytes(PG_GETARG_DATUM(1), kind);
	message.key = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);
	message.properties = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	message.has_event_time = !PG_ARGISNULL(4);
	message.event_time = message.has_event_time ? PG_GETARG_DATUM(4) : 0;
	message.has_sequence_id = !PG_ARGISNULL(7);
	message.sequence_id = message.has_sequence_id ? PG_GETARG_INT64(7) : 0;
	check_properties(message.properties);
	check_message_size(&message);
	check_sequence_id(&message);
	read_publication_options(fcinfo, &pub, 5, 6, 8);

	pub.count = 1;
	pub.messages = &message;
	publish(&pub, true);

	id = publish_message_id(&pub, &message);
	if (id == NULL)
		PG_RETURN_NULL();
	PG_RETURN_MESSAGE_ID_P(id);
}

Datum
pulsar_send(PG_FUNCTION_ARGS)
{
	return send_one(fcinfo, PAYLOAD_BYTEA);
}

Datum
pulsar_send_text(PG_FUNCTION_ARGS)
{
	return send_one(fcinfo, PAYLOAD_TEXT);
}

Datum
pulsar_send_jsonb(PG_FUNCTION_ARGS)
{
	return send_one(fcinfo, PAYLOAD_JSONB);
}

/*
 * Unpacks an optional array argument whose length must match the payloads'.
 * Returns false if the argument is NULL.
 */
static bool
batch_array(FunctionCallInfo fcinfo, int argno, const char *argname,
			int count, Datum **values, bool **nulls)
{
	ArrayType  *array;
	Oid			elemtype;
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	int			n;

	if (PG_ARGISNULL(argno))
		return false;
	array = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", argname)));
	elemtype = ARR_ELEMTYPE(array);
	get_typlenbyvalalign(elemtype, &elemlen, &elembyval, &elemalign);
	deconstruct_array(array, elemtype, elemlen, elembyval, elemalign,
					  values, nulls, &n);
	if (n != count)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s and payloads differ in length", argname),
				 errdetail_plural("%s has %d element and payloads has %d.",
								  "%s has %d elements and payloads has %d.",
								  n, argname, n, count),
				 errhint("Each array argument of pulsar.send_batch() has one element per payload.")));
	return true;
}

/*
 * send_batch(topic, payloads[], keys[], properties[], event_times[],
 *			  deliver_at, producer, sequence_ids[]) RETURNS SETOF message_id
 *
 * Returns one id per payload, in order; NULL for a dropped duplicate.
 */
static Datum
send_many(FunctionCallInfo fcinfo, PayloadKind kind)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OutgoingBatch pub;
	Datum	   *payloads;
	bool	   *payload_nulls;
	Datum	   *column;
	bool	   *column_nulls;
	int			count;

	catalog_require_writable("pulsar.send_batch()");
	topic_name_parse(argument_required_text(fcinfo, 0, "topic"), &pub.name);
	authz_check(&pub.name, AUTHZ_PRODUCE);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payloads must not be null"),
				 errhint("Pass an array with one element per message; an element may be NULL.")));
	{
		ArrayType  *array = PG_GETARG_ARRAYTYPE_P(1);

		count = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
		if (!batch_array(fcinfo, 1, "payloads", count, &payloads,
						 &payload_nulls))
			elog(ERROR, "payloads vanished");
	}

	pub.count = count;
	pub.messages = palloc0(sizeof(OutgoingMessage) * Max(count, 1));
	for (int i = 0; i < count; i++)
	{
		pub.messages[i].payload = payload_nulls[i] ? NULL :
			payload_bytes(payloads[i], kind);
	}
	if (batch_array(fcinfo, 2, "keys", count, &column, &column_nulls))
		for (int i = 0; i < count; i++)
			pub.messages[i].key = column_nulls[i] ? NULL :
				DatumGetTextPP(column[i]);
	if (batch_array(fcinfo, 3, "properties", count, &column, &column_nulls))
		for (int i = 0; i < count; i++)
		{
			pub.messages[i].properties = column_nulls[i] ? NULL :
				DatumGetJsonbP(column[i]);
			check_properties(pub.messages[i].properties);
		}
	for (int i = 0; i < count; i++)
		check_message_size(&pub.messages[i]);
	if (batch_array(fcinfo, 4, "event_times", count, &column, &column_nulls))
		for (int i = 0; i < count; i++)
		{
			pub.messages[i].has_event_time = !column_nulls[i];
			pub.messages[i].event_time = column[i];
		}
	if (batch_array(fcinfo, 7, "sequence_ids", count, &column, &column_nulls))
		for (int i = 0; i < count; i++)
		{
			pub.messages[i].has_sequence_id = !column_nulls[i];
			pub.messages[i].sequence_id = DatumGetInt64(column[i]);
			check_sequence_id(&pub.messages[i]);
		}
	read_publication_options(fcinfo, &pub, 5, 6, 8);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	if (count == 0)
		return (Datum) 0;
	publish(&pub, true);

	for (int i = 0; i < count; i++)
	{
		MessageId  *id = publish_message_id(&pub, &pub.messages[i]);
		Datum		value = MessageIdPGetDatum(id);
		bool		isnull = (id == NULL);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value,
							 &isnull);
	}
	return (Datum) 0;
}

Datum
pulsar_send_batch(PG_FUNCTION_ARGS)
{
	return send_many(fcinfo, PAYLOAD_BYTEA);
}

Datum
pulsar_send_batch_text(PG_FUNCTION_ARGS)
{
	return send_many(fcinfo, PAYLOAD_TEXT);
}

Datum
pulsar_send_batch_jsonb(PG_FUNCTION_ARGS)
{
	return send_many(fcinfo, PAYLOAD_JSONB);
}

/*
 * murmur3_partition_for_key(key, partitions): where a keyed message goes.
 */
Datum
pulsar_partition_for_key(PG_FUNCTION_ARGS)
{
	int32		partitions = PG_GETARG_INT32(1);
	int			len;
	char	   *key = publish_text_to_utf8(PG_GETARG_TEXT_PP(0), &len);

	if (partitions < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of partitions must be at least 1")));
	PG_RETURN_INT32(murmur3_partition_for_key(key, len, partitions));
}
