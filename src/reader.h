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
#include "utils/snapshot.h"
#include "utils/tuplestore.h"

#include "catalog.h"

/* the most messages one call returns */
#define MAX_MESSAGES_PER_CALL	100000

extern void check_can_read(const char *function);
extern void check_max_messages(int32 max_messages);
extern int	read_ledger_range(const LedgerInfo *ledger, const char *topic_name,
							  int64 after, int64 last, int limit,
							  Snapshot snapshot, Tuplestorestate *result,
							  TupleDesc result_desc);

#endif							/* PULSAR_READER_H */
