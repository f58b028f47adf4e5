/*-------------------------------------------------------------------------
 *
 * reader.c
 *	  Pulsar's Reader, which reads one partition in position order from a
 *	  given message id, with no subscription, optionally through the
 *	  partition's compacted view (compaction.c); its SQL entry point,
 *	  pulsar.read(), is in 6_entry/read.c.
 *
 * It returns only messages at or below the partition's max read position,
 * and takes its snapshot after reading that position, so that every entry
 * it passes is either visible to it or aborted (DESIGN invariant 1).  That
 * needs a fresh snapshot, which REPEATABLE READ and SERIALIZABLE forbid;
 * there, and on a standby, whose snapshots cannot see the primary's open
 * transactions, it refuses to read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "1_value/message_id.h"
#include "2_shmem/read_position.h"
#include "3_catalog/catalog.h"
#include "4_storage/compaction.h"
#include "4_storage/reader.h"

/*
 * Checks what every reading entry point needs; 'function' names it.
 */
void
reader_check_can_read(const char *function)
{
	read_position_require_state();
	/* read-only, as PreventCommandDuringRecovery() reports it */
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s during recovery", function),
				 errdetail("A standby cannot see which transactions on the primary still hold positions, so it could skip messages."),
				 errhint("Read from the primary.")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot execute %s in a %s transaction", function,
						IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errdetail("Reading needs a snapshot newer than the topic's max read position; an older one could skip messages that commit later."),
				 errhint("Use READ COMMITTED isolation.")));
}

void
reader_check_max_messages(int32 max_messages)
{
	if (max_messages < 1 || max_messages > MAX_MESSAGES_PER_CALL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_messages must be between 1 and %d",
						MAX_MESSAGES_PER_CALL),
				 errdetail("The value given was %d.", max_messages)));
}

/*
 * Calls 'visit' for each row of a table shaped like a segment with an entry
 * id in (after, last], in entry order, as seen by 'snapshot', until it
 * returns false; returns false if it did.
 */
bool
reader_scan_relation(Relation table, int64 after, int64 last, Snapshot snapshot,
					 MessageVisitor visit, void *arg)
{
	Relation	index = index_open(RelationGetPrimaryKeyIndex(table),
								   AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		more = true;

	ScanKeyInit(&keys[0], 1, BTGreaterStrategyNumber, F_INT8GT,
				Int64GetDatum(after));
	ScanKeyInit(&keys[1], 1, BTLessEqualStrategyNumber, F_INT8LE,
				Int64GetDatum(last));
	scan = systable_beginscan_ordered(table, index, snapshot, 2, keys);
	while (more &&
		   (tuple = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
	{
		StoredMessage message;

		heap_deform_tuple(tuple, RelationGetDescr(table), message.values,
						  message.nulls);
		message.entry_id = DatumGetInt64(message.values[SEGMENT_ENTRY_ID]);
		more = visit(&message, arg);
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	return more;
}

/*
 * Calls 'visit' for each stored message of a ledger with an entry id in
 * (after, last], in entry order, as seen by 'snapshot', until it returns
 * false.  Segments that were never created hold only gaps, as do those
 * trimmed: a scan from a trimmed position goes on at the first stored
 * segment (readers never pin data).
 */
void
reader_scan_ledger(const LedgerInfo *ledger, int64 after, int64 last,
				   Snapshot snapshot, MessageVisitor visit, void *arg)
{
	int64		segment_no;

	if (after < -1)
		after = -1;
	for (segment_no = (after + 1) / ledger->segment_entries;
		 segment_no * ledger->segment_entries <= last;
		 segment_no++)
	{
		Relation	segment = catalog_open_segment_for_read(ledger, segment_no,
															snapshot);
		bool		more;

		if (segment == NULL)
		{
			/* trimmed or never created: go on at the next stored one */
			int64		next = catalog_next_stored_segment(ledger->ledger_id, segment_no,
														   snapshot);

			if (next < 0)
				break;
			segment_no = next - 1;
			continue;
		}
		more = reader_scan_relation(segment, after, last, snapshot, visit, arg);
		table_close(segment, AccessShareLock);
		if (!more)
			break;
	}
}

/*
 * Appends a stored message to a result set of type pulsar.message; 'topic'
 * is the text of its topic column, made once by the caller.
 */
void
reader_put_message(Tuplestorestate *result, TupleDesc result_desc,
				   const LedgerInfo *ledger, Datum topic,
				   const StoredMessage *message, int32 redelivery_count)
{
	Datum		values[MESSAGE_NUM_COLUMNS];
	bool		nulls[MESSAGE_NUM_COLUMNS];

	memset(nulls, false, sizeof(nulls));
	values[MESSAGE_ID] =
		MessageIdPGetDatum(message_id_make(ledger->ledger_id,
										   message->entry_id,
										   ledger->partition_index));
#define COPY_COLUMN(to, from) \
	(values[to] = message->values[from], nulls[to] = message->nulls[from])
	COPY_COLUMN(MESSAGE_KEY, SEGMENT_KEY);
	COPY_COLUMN(MESSAGE_PAYLOAD, SEGMENT_PAYLOAD);
	COPY_COLUMN(MESSAGE_PROPERTIES, SEGMENT_PROPERTIES);
	COPY_COLUMN(MESSAGE_PUBLISH_TIME, SEGMENT_PUBLISH_TIME);
	COPY_COLUMN(MESSAGE_EVENT_TIME, SEGMENT_EVENT_TIME);
	COPY_COLUMN(MESSAGE_PRODUCER, SEGMENT_PRODUCER);
	COPY_COLUMN(MESSAGE_SEQUENCE_ID, SEGMENT_SEQUENCE_ID);
	COPY_COLUMN(MESSAGE_DELIVER_AT, SEGMENT_DELIVER_AT);
#undef COPY_COLUMN
	values[MESSAGE_REDELIVERY_COUNT] = Int32GetDatum(redelivery_count);
	values[MESSAGE_TOPIC] = topic;

	tuplestore_putvalues(result, result_desc, values, nulls);
}

typedef struct ReaderState
{
	ReturnSetInfo *rsinfo;
	const LedgerInfo *ledger;
	Datum		topic;
	int			remaining;
} ReaderState;

static bool
reader_visit(const StoredMessage *message, void *arg)
{
	ReaderState *state = arg;

	reader_put_message(state->rsinfo->setResult, state->rsinfo->setDesc,
					   state->ledger, state->topic, message, 0);
	return --state->remaining > 0;
}

/*
 * Puts into rsinfo's tuplestore the messages of one partition after entry
 * 'after', at most max_messages of them, as pulsar.read() returns them;
 * 'compacted' reads through the partition's compacted view.
 */
void
reader_read_partition(ReturnSetInfo *rsinfo, const TopicName *name,
					  const LedgerInfo *ledger, int64 after,
					  int32 max_messages, bool compacted)
{
	int64		max_read_position;
	Snapshot	snapshot;
	CompactedView view;

	/* the order of these two is what keeps readers from skipping */
	max_read_position = read_position_max(ledger->ledger_id, catalog_load_next_entry);
	snapshot = RegisterSnapshot(GetLatestSnapshot());

	if (after < max_read_position)
	{
		ReaderState state;

		state.rsinfo = rsinfo;
		state.ledger = ledger;
		state.topic = CStringGetTextDatum(topic_name_string(name,
															ledger->partition_index));
		state.remaining = max_messages;
		if (compacted)
		{
			compaction_open_view(ledger, &view);
			compaction_scan_ledger(ledger, &view, after, max_read_position,
								   snapshot, reader_visit, &state);
			compaction_close_view(&view);
		}
		else
			reader_scan_ledger(ledger, after, max_read_position, snapshot,
							   reader_visit, &state);
	}
	UnregisterSnapshot(snapshot);
}
