/*-------------------------------------------------------------------------
 *
 * publish.c
 *	  Publishing a batch of messages: the routing of messages to
 *	  partitions, deduplication, entry ids and the rows; the SQL entry
 *	  points pulsar.send() and pulsar.send_batch() are in 6_entry/send.c.
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
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "1_value/message_id.h"
#include "1_value/murmur3.h"
#include "2_shmem/rate_limit.h"
#include "2_shmem/read_position.h"
#include "3_catalog/authz.h"
#include "3_catalog/catalog.h"
#include "3_catalog/policy.h"
#include "4_storage/backlog_quota.h"
#include "4_storage/publish.h"
#include "4_storage/reader.h"



/*
 * The UTF-8 bytes of a text value, as Pulsar keys and string payloads are.
 */
char *
publish_text_to_utf8(text *value, int *len)
{
	char	   *data = VARDATA_ANY(value);
	int			size = VARSIZE_ANY_EXHDR(value);
	char	   *converted = pg_server_to_any(data, size, PG_UTF8);

	*len = (converted == data) ? size : strlen(converted);
	return converted;
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
		LedgerInfo *ledger = catalog_resolve_ledger(topic, &pub->name);
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
			char	   *key = publish_text_to_utf8(message->key, &len);

			message->ledger_index = murmur3_partition_for_key(key, len,
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

	catalog_access_begin(&access);
	catalog_run_sql(select_last, 2, argtypes, values, NULL, true);
	if (SPI_processed == 0)
	{
		/* first message of this producer: make a row to lock */
		catalog_run_sql("INSERT INTO pulsar.producer_sequence"
						" (topic_id, producer, last_sequence_id)"
						" VALUES ($1, $2, -1) ON CONFLICT DO NOTHING",
						2, argtypes, values, NULL, false);
		catalog_run_sql(select_last, 2, argtypes, values, NULL, true);
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
		catalog_run_sql("UPDATE pulsar.producer_sequence"
						"   SET last_sequence_id = $3"
						" WHERE topic_id = $1 AND producer = $2",
						3, argtypes, values, NULL, false);
	}
	catalog_access_end(&access);
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
				backlog_quota_check(topic, &topic->ledgers[l]);
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

		next = read_position_reserve(topic->ledgers[l].ledger_id, count,
									 catalog_load_next_entry, catalog_log_entry_high_water);
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
			segment = catalog_open_segment_for_insert(ledger, message->entry_id);
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

/*
 * Waits until the topic's publish rate lets the batch go: booked before
 * the sleep, so senders queue in order, and before any entry id is
 * reserved, so a waiting sender holds back no reader.  Fails at once if
 * the wait would be longer than pulsar_pg.rate_limit_timeout.
 */
static void
wait_for_publish_rate(OutgoingBatch *pub)
{
	TopicLimits limits;
	int64		bytes = 0;
	int64		wait_us;
	bool		booked;

	policy_limits(pub->topic->topic_id, &limits);
	if (limits.publish.messages_per_second <= 0 &&
		limits.publish.bytes_per_second <= 0)
		return;
	for (int i = 0; i < pub->count; i++)
	{
		OutgoingMessage *message = &pub->messages[i];

		if (message->payload != NULL)
			bytes += VARSIZE_ANY_EXHDR(message->payload);
		if (message->key != NULL)
			bytes += VARSIZE_ANY_EXHDR(message->key);
		if (message->properties != NULL)
			bytes += VARSIZE_ANY_EXHDR(message->properties);
	}
	wait_us = RateLimitBook(pub->topic->topic_id, RATE_LIMIT_PUBLISH,
							&limits.publish, pub->count, bytes, true,
							(int64) pulsar_rate_limit_timeout_ms * 1000,
							&booked);
	if (!booked)
		ereport(ERROR,
				(errcode(ERRCODE_RATE_LIMIT_EXCEEDED),
				 errmsg("topic \"%s\" is over its publish rate",
						topic_name_string(&pub->name, NOT_A_PARTITION)),
				 errdetail("The topic accepts %s per second; this send would wait " INT64_FORMAT " ms, longer than pulsar_pg.rate_limit_timeout (%d ms).",
						   rate_limit_description(&limits.publish),
						   (wait_us + 999) / 1000, pulsar_rate_limit_timeout_ms),
				 errhint("Send more slowly, raise pulsar_pg.rate_limit_timeout, or raise the rate with pulsar.set_publish_rate().")));
	if (wait_us > 0)
		RateLimitSleep(wait_us);
}

/*
 * Publishes a batch to its topic, in the caller's transaction: routes,
 * drops duplicates, reserves entry ids, stores the rows.  'rate_limited' is
 * false for dead letters, which a receive moves rather than a producer
 * sends.
 */
void
publish(OutgoingBatch *pub, bool rate_limited)
{
	pub->topic = catalog_resolve_topic(&pub->name, true, AccessShareLock);
	if (rate_limited)
		wait_for_publish_rate(pub);
	pub->publish_time = GetCurrentTimestamp();
	route_messages(pub);
	mark_duplicates(pub);
	check_backlog_quotas(pub);
	assign_entries(pub);
	store_messages(pub);
}

/* the id a message of a published batch got; NULL for a duplicate */
MessageId *
publish_message_id(OutgoingBatch *pub, OutgoingMessage *message)
{
	if (message->duplicate)
		return NULL;
	return message_id_make(pub->topic->ledgers[message->ledger_index].ledger_id,
						   message->entry_id,
						   pub->topic->ledgers[message->ledger_index].partition_index);
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

	topic_name_parse(topic, &pub.name);
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
	publish(&pub, false);
}
