/*-------------------------------------------------------------------------
 *
 * publish.c
 *	  pulsar.send(), pulsar.send_batch() and the routing of messages to
 *	  partitions.
 *
 * A send takes part in the caller's transaction: it reserves entry ids in
 * shared memory (read_position.c), then inserts the rows straight into the
 * segment tables, without going through SQL.  Until the transaction ends,
 * readers stop below its first entry in each partition it wrote.
 *
 * Keyed messages of a partitioned topic go where Pulsar's clients send them
 * (murmur3.c); unkeyed ones go round-robin, one partition per call, as a
 * Pulsar batch does.
 *
 * With deduplication enabled on the namespace, a message with a producer
 * name and a sequence id at or below the highest already stored for that
 * producer on that topic is dropped: its id comes back NULL.  The highest
 * sequence id is kept in pulsar.producer_sequence, whose row lock orders
 * concurrent senders of one producer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "executor/tuptable.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "1_value/argument.h"
#include "3_catalog/authz.h"
#include "3_catalog/catalog.h"
#include "1_value/message_id.h"
#include "1_value/murmur3.h"
#include "4_storage/backlog_quota.h"
#include "4_storage/publish.h"
#include "2_shmem/read_position.h"
#include "4_storage/reader.h"

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

typedef struct OutgoingMessage
{
	bytea	   *payload;		/* NULL for a tombstone */
	text	   *key;
	Jsonb	   *properties;
	Datum		event_time;
	bool		has_event_time;
	int64		sequence_id;
	bool		has_sequence_id;
	int			ledger_index;	/* into TopicInfo.ledgers */
	bool		duplicate;
	int64		entry_id;
} OutgoingMessage;

typedef struct OutgoingBatch
{
	TopicName	name;
	TopicInfo  *topic;
	text	   *producer;
	Datum		deliver_at;
	bool		has_deliver_at;
	TimestampTz publish_time;
	int			count;
	OutgoingMessage *messages;
} OutgoingBatch;

/*
 * The UTF-8 bytes of a text value, as Pulsar keys and string payloads are.
 */
char *
text_to_utf8(text *value, int *len)
{
	char	   *data = VARDATA_ANY(value);
	int			size = VARSIZE_ANY_EXHDR(value);
	char	   *converted = pg_server_to_any(data, size, PG_UTF8);

	*len = (converted == data) ? size : strlen(converted);
	return converted;
}

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
			data = text_to_utf8(DatumGetTextPP(value), &len);
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
 * Chooses each message's partition.
 */
static void
route_messages(OutgoingBatch *pub)
{
	TopicInfo  *topic = pub->topic;
	int			unkeyed_ledger;

	if (pub->name.partition_index != NOT_A_PARTITION ||
		topic->partitions == 0)
	{
		LedgerInfo *ledger = resolve_ledger(topic, &pub->name);
		int			index = ledger - topic->ledgers;

		for (int i = 0; i < pub->count; i++)
			pub->messages[i].ledger_index = index;
		return;
	}

	unkeyed_ledger = topic->round_robin++ % (uint32) topic->partitions;
	for (int i = 0; i < pub->count; i++)
	{
		OutgoingMessage *message = &pub->messages[i];

		if (message->key != NULL)
		{
			int			len;
			char	   *key = text_to_utf8(message->key, &len);

			message->ledger_index = partition_for_key(key, len,
													  topic->partitions);
		}
		else
			message->ledger_index = unkeyed_ledger;
	}
}

/*
 * Marks messages whose sequence id is not above the producer's last one,
 * and records the new last one.
 */
static void
mark_duplicates(OutgoingBatch *pub)
{
	CatalogAccess access;
	Oid			argtypes[3] = {INT8OID, TEXTOID, INT8OID};
	Datum		values[3];
	const char *select_last =
		"SELECT last_sequence_id FROM pulsar.producer_sequence"
		" WHERE topic_id = $1 AND producer = $2 FOR UPDATE";
	int64		last;
	int64		stored;
	bool		isnull;

	if (!pub->topic->deduplication || pub->producer == NULL)
		return;

	values[0] = Int64GetDatum(pub->topic->topic_id);
	values[1] = PointerGetDatum(pub->producer);

	begin_catalog_access(&access);
	run_catalog_sql(select_last, 2, argtypes, values, NULL, true);
	if (SPI_processed == 0)
	{
		/* first message of this producer: make a row to lock */
		run_catalog_sql("INSERT INTO pulsar.producer_sequence"
						" (topic_id, producer, last_sequence_id)"
						" VALUES ($1, $2, -1) ON CONFLICT DO NOTHING",
						2, argtypes, values, NULL, false);
		run_catalog_sql(select_last, 2, argtypes, values, NULL, true);
		if (SPI_processed == 0)
			elog(ERROR, "could not lock the producer sequence row");
	}
	stored = last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1,
												&isnull));

	for (int i = 0; i < pub->count; i++)
	{
		OutgoingMessage *message = &pub->messages[i];

		if (!message->has_sequence_id)
			continue;
		if (message->sequence_id <= last)
			message->duplicate = true;
		else
			last = message->sequence_id;
	}

	if (last != stored)
	{
		values[2] = Int64GetDatum(last);
		run_catalog_sql("UPDATE pulsar.producer_sequence"
						"   SET last_sequence_id = $3"
						" WHERE topic_id = $1 AND producer = $2",
						3, argtypes, values, NULL, false);
	}
	end_catalog_access(&access);
}

/*
 * Holds or refuses the send where a partition it goes to is over a backlog
 * quota; before any entry id is reserved, so that a held send holds back no
 * reader (unless an earlier send of its transaction does).
 */
static void
check_backlog_quotas(OutgoingBatch *pub)
{
	TopicInfo  *topic = pub->topic;

	for (int l = 0; l < topic->num_ledgers; l++)
		for (int i = 0; i < pub->count; i++)
			if (pub->messages[i].ledger_index == l &&
				!pub->messages[i].duplicate)
			{
				check_backlog_quota(topic, &topic->ledgers[l]);
				break;
			}
}

/*
 * Reserves entry ids, partition by partition, in the order of the messages.
 */
static void
assign_entries(OutgoingBatch *pub)
{
	TopicInfo  *topic = pub->topic;

	for (int l = 0; l < topic->num_ledgers; l++)
	{
		int64		count = 0;
		int64		next;

		for (int i = 0; i < pub->count; i++)
			if (pub->messages[i].ledger_index == l &&
				!pub->messages[i].duplicate)
				count++;
		if (count == 0)
			continue;

		next = ReserveEntries(topic->ledgers[l].ledger_id, count,
							  load_next_entry, log_entry_high_water);
		for (int i = 0; i < pub->count; i++)
			if (pub->messages[i].ledger_index == l &&
				!pub->messages[i].duplicate)
				pub->messages[i].entry_id = next++;
	}
}

/*
 * Inserts tuples bound for one segment: a run of several goes in with one
 * multi-insert, which writes one WAL record per page rather than per row.
 */
static void
insert_run(Relation segment, CatalogIndexState indexes, HeapTuple *run,
		   int count)
{
	TupleTableSlot **slots;
	bool		toasted = false;

	/*
	 * heap_multi_insert() inserts a tuple that needs TOAST as a copy and
	 * sets the row's location in the slot only, while the index entries are
	 * made from the tuple: such a run goes in row by row, where
	 * heap_insert() hands the location back.
	 */
	for (int i = 0; i < count && !toasted; i++)
		toasted = HeapTupleHasExternal(run[i]) ||
			run[i]->t_len > TOAST_TUPLE_THRESHOLD;
	if (count == 1 || toasted)
	{
		for (int i = 0; i < count; i++)
		{
			CatalogTupleInsertWithInfo(segment, run[i], indexes);
			heap_freetuple(run[i]);
		}
		return;
	}
	slots = palloc(sizeof(TupleTableSlot *) * count);
	for (int i = 0; i < count; i++)
	{
		slots[i] = MakeSingleTupleTableSlot(RelationGetDescr(segment),
											&TTSOpsHeapTuple);
		ExecStoreHeapTuple(run[i], slots[i], true);
	}
	CatalogTuplesMultiInsertWithInfo(segment, slots, count, indexes);
	for (int i = 0; i < count; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	pfree(slots);
}

/* at most this many tuples are built before they are inserted */
#define MAX_RUN		1000

static void
store_messages(OutgoingBatch *pub)
{
	Relation	segment = NULL;
	CatalogIndexState indexes = NULL;
	int64		segment_ledger = -1;
	int64		segment_no = -1;
	Datum		values[SEGMENT_NUM_COLUMNS];
	bool		nulls[SEGMENT_NUM_COLUMNS];
	HeapTuple  *run = palloc(sizeof(HeapTuple) * Min(Max(pub->count, 1), MAX_RUN));
	int			run_length = 0;

	for (int i = 0; i < pub->count; i++)
	{
		OutgoingMessage *message = &pub->messages[i];
		LedgerInfo *ledger = &pub->topic->ledgers[message->ledger_index];

		if (message->duplicate)
			continue;

		if (ledger->ledger_id != segment_ledger ||
			message->entry_id / ledger->segment_entries != segment_no ||
			message->entry_id % ledger->segment_entries == 0)
		{
			if (segment != NULL)
			{
				insert_run(segment, indexes, run, run_length);
				run_length = 0;
				CatalogCloseIndexes(indexes);
				table_close(segment, NoLock);
			}
			segment = open_segment_for_insert(ledger, message->entry_id);
			if (RelationGetDescr(segment)->natts != SEGMENT_NUM_COLUMNS)
				elog(ERROR, "segment table \"%s\" has %d columns, expected %d",
					 RelationGetRelationName(segment),
					 RelationGetDescr(segment)->natts, SEGMENT_NUM_COLUMNS);
			indexes = CatalogOpenIndexes(segment);
			segment_ledger = ledger->ledger_id;
			segment_no = message->entry_id / ledger->segment_entries;
		}
		else if (run_length == MAX_RUN)
		{
			insert_run(segment, indexes, run, run_length);
			run_length = 0;
		}

		memset(nulls, false, sizeof(nulls));
		values[SEGMENT_ENTRY_ID] = Int64GetDatum(message->entry_id);
		values[SEGMENT_PUBLISH_TIME] = TimestampTzGetDatum(pub->publish_time);
		values[SEGMENT_KEY] = PointerGetDatum(message->key);
		nulls[SEGMENT_KEY] = message->key == NULL;
		values[SEGMENT_PAYLOAD] = PointerGetDatum(message->payload);
		nulls[SEGMENT_PAYLOAD] = message->payload == NULL;
		values[SEGMENT_PROPERTIES] = PointerGetDatum(message->properties);
		nulls[SEGMENT_PROPERTIES] = message->properties == NULL;
		values[SEGMENT_EVENT_TIME] = message->event_time;
		nulls[SEGMENT_EVENT_TIME] = !message->has_event_time;
		values[SEGMENT_DELIVER_AT] = pub->deliver_at;
		nulls[SEGMENT_DELIVER_AT] = !pub->has_deliver_at;
		values[SEGMENT_PRODUCER] = PointerGetDatum(pub->producer);
		nulls[SEGMENT_PRODUCER] = pub->producer == NULL;
		values[SEGMENT_SEQUENCE_ID] = Int64GetDatum(message->sequence_id);
		nulls[SEGMENT_SEQUENCE_ID] = !message->has_sequence_id;

		run[run_length++] = heap_form_tuple(RelationGetDescr(segment), values,
											nulls);
	}
	if (segment != NULL)
	{
		insert_run(segment, indexes, run, run_length);
		CatalogCloseIndexes(indexes);
		table_close(segment, NoLock);
	}
}

static void
publish(OutgoingBatch *pub)
{
	pub->topic = resolve_topic(&pub->name, true, AccessShareLock);
	pub->publish_time = GetCurrentTimestamp();
	route_messages(pub);
	mark_duplicates(pub);
	check_backlog_quotas(pub);
	assign_entries(pub);
	store_messages(pub);
}

static MessageId *
published_id(OutgoingBatch *pub, OutgoingMessage *message)
{
	if (message->duplicate)
		return NULL;
	return make_message_id(pub->topic->ledgers[message->ledger_index].ledger_id,
						   message->entry_id,
						   pub->topic->ledgers[message->ledger_index].partition_index);
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
	parse_topic_name(required_text_argument(fcinfo, 0, "topic"), &pub.name);
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
	publish(&pub);

	id = published_id(&pub, &message);
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
	parse_topic_name(required_text_argument(fcinfo, 0, "topic"), &pub.name);
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
	publish(&pub);

	for (int i = 0; i < count; i++)
	{
		MessageId  *id = published_id(&pub, &pub.messages[i]);
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
 * Publishes a copy of a stored message, with other properties, to a topic
 * given by its full name; used for dead letters.
 */
void
publish_stored_message(const char *topic, const StoredMessage *stored,
					   Jsonb *properties)
{
	OutgoingBatch pub;
	OutgoingMessage message;

	parse_topic_name(topic, &pub.name);
	authz_check(&pub.name, AUTHZ_PRODUCE);
	memset(&message, 0, sizeof(message));
	message.payload = stored->nulls[SEGMENT_PAYLOAD] ? NULL :
		DatumGetByteaPP(stored->values[SEGMENT_PAYLOAD]);
	message.key = stored->nulls[SEGMENT_KEY] ? NULL :
		DatumGetTextPP(stored->values[SEGMENT_KEY]);
	message.properties = properties;
	message.has_event_time = !stored->nulls[SEGMENT_EVENT_TIME];
	message.event_time = stored->values[SEGMENT_EVENT_TIME];
	pub.producer = NULL;
	pub.has_deliver_at = false;
	pub.deliver_at = 0;
	pub.count = 1;
	pub.messages = &message;
	publish(&pub);
}

/*
 * partition_for_key(key, partitions): where a keyed message goes.
 */
Datum
pulsar_partition_for_key(PG_FUNCTION_ARGS)
{
	int32		partitions = PG_GETARG_INT32(1);
	int			len;
	char	   *key = text_to_utf8(PG_GETARG_TEXT_PP(0), &len);

	if (partitions < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of partitions must be at least 1")));
	PG_RETURN_INT32(partition_for_key(key, len, partitions));
}
