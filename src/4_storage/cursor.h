/*-------------------------------------------------------------------------
 *
 * cursor.h
 *	  Subscription cursors: the mark-delete position and the exact set of
 *	  acknowledged entries above it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_CURSOR_H
#define PULSAR_CURSOR_H

#include "1_value/message_id.h"
#include "4_storage/subscription.h"

/* acknowledged entry ranges, sorted by first entry; they may overlap */
typedef struct AckedRanges
{
	int			count;
	int64	   *first;
	int64	   *last;
} AckedRanges;

/* a cursor as receive reads it */
typedef struct CursorView
{
	int64		mark_delete;
	bool		any_pending;	/* pending rows above the mark-delete position */
	int64		ranges_from;	/* 'ranges' hold every range ending here or later */
	AckedRanges ranges;
} CursorView;

extern void create_cursors(Subscription *subscription, bool earliest);
extern int64 cursor_mark_delete(Subscription *subscription, int64 ledger_id);
extern void read_cursor(Subscription *subscription, int64 ledger_id,
						int64 ranges_from, int limit, CursorView *view);
extern void load_acked_ranges(Subscription *subscription, int64 ledger_id,
							  int64 from_entry, int limit,
							  AckedRanges *ranges);
extern void ack_entries(Subscription *subscription, int64 ledger_id,
						int64 *entries, int count);
extern void ack_ranges(Subscription *subscription, int64 ledger_id,
					   int64 *firsts, int64 *lasts, int count);

/* how a gap of aborted entries stands among a subscription's ranges */
typedef enum GapAckState
{
	GAP_TO_ACK,					/* not acknowledged yet */
	GAP_ACKED,					/* covered by a committed range, or our own */
	GAP_BEING_ACKED				/* another transaction is writing its range */
} GapAckState;

extern GapAckState gap_ack_state(Subscription *subscription, int64 ledger_id,
								 int64 first, int64 last);
extern void fold_acked_ranges_everywhere(void);
extern int64 expire_cursor_through(Subscription *subscription,
								   const LedgerInfo *ledger, int64 through,
								   bool wait);
extern int64 count_unacked(Subscription *subscription, int64 ledger_id,
						   int64 from, int64 to, int max_ranges);
extern LedgerInfo *ledger_of_message(TopicInfo *topic, const MessageId *id);

#endif							/* PULSAR_CURSOR_H */
