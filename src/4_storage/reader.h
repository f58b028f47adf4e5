/*-------------------------------------------------------------------------
 *
 * reader.h
 *	  Reading messages of one partition in position order.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_READER_H
#define PULSAR_READER_H

#include "funcapi.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/tuplestore.h"

#include "3_catalog/catalog.h"

/* the most messages one call returns */
#define MAX_MESSAGES_PER_CALL	100000

extern void reader_check_can_read(const char *function);
extern void reader_check_max_messages(int32 max_messages);
/* the columns of pulsar.message */
enum MessageColumn
{
	MESSAGE_ID,
	MESSAGE_KEY,
	MESSAGE_PAYLOAD,
	MESSAGE_PROPERTIES,
	MESSAGE_PUBLISH_TIME,
	MESSAGE_EVENT_TIME,
	MESSAGE_REDELIVERY_COUNT,
	MESSAGE_PRODUCER,
	MESSAGE_SEQUENCE_ID,
	MESSAGE_TOPIC,
	MESSAGE_DELIVER_AT,
	MESSAGE_NUM_COLUMNS
};

/* a message as stored in its segment table */
typedef struct StoredMessage
{
	int64		entry_id;
	Datum		values[SEGMENT_NUM_COLUMNS];
	bool		nulls[SEGMENT_NUM_COLUMNS];
} StoredMessage;

/* returns false to stop the scan */
typedef bool (*MessageVisitor) (const StoredMessage *message, void *arg);

extern bool reader_scan_relation(Relation table, int64 after, int64 last,
								 Snapshot snapshot, MessageVisitor visit, void *arg);
extern void reader_scan_ledger(const LedgerInfo *ledger, int64 after, int64 last,
							   Snapshot snapshot, MessageVisitor visit, void *arg);
extern void reader_read_partition(ReturnSetInfo *rsinfo, const TopicName *name,
								  const LedgerInfo *ledger, int64 after,
								  int32 max_messages, bool compacted);
extern void reader_put_message(Tuplestorestate *result, TupleDesc result_desc,
							   const LedgerInfo *ledger, Datum topic,
							   const StoredMessage *message, int32 redelivery_count);

#endif							/* PULSAR_READER_H */
