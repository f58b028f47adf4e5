/*-------------------------------------------------------------------------
 *
 * message_id.h
 *	  The pulsar.message_id type: Pulsar's ledgerId:entryId:partitionIndex.
 *
 * In pulsar_pg the ledger id names one partition's storage (a topic, or one
 * partition of a partitioned topic) and never changes for it; the entry id is
 * the message's position in that partition, assigned in publish order.  The
 * partition index is -1 for a non-partitioned topic, as in Pulsar.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_MESSAGE_ID_H
#define PULSAR_MESSAGE_ID_H

#include "fmgr.h"

typedef struct MessageId
{
	int64		ledger_id;
	int64		entry_id;
	int32		partition_index;
} MessageId;

/* Pulsar's MessageId.earliest and MessageId.latest */
#define EARLIEST_LEDGER_ID	INT64CONST(-1)
#define LATEST_LEDGER_ID	PG_INT64_MAX

#define DatumGetMessageIdP(X)	((MessageId *) DatumGetPointer(X))
#define MessageIdPGetDatum(X)	PointerGetDatum(X)
#define PG_GETARG_MESSAGE_ID_P(n) DatumGetMessageIdP(PG_GETARG_DATUM(n))
#define PG_RETURN_MESSAGE_ID_P(x) return MessageIdPGetDatum(x)

extern Datum message_id_in(PG_FUNCTION_ARGS);
extern MessageId *message_id_make(int64 ledger_id, int64 entry_id,
								  int32 partition_index);
extern char *message_id_to_string(const MessageId *id);
extern bool message_id_is_earliest(const MessageId *id);
extern bool message_id_is_latest(const MessageId *id);

#endif							/* PULSAR_MESSAGE_ID_H */
