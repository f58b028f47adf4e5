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

#include "access/genam.h"
#include "datatype/timestamp.h"

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
	bool		any_due;		/* of those, any that may be due for
								 * redelivery */
	int64		ranges_from;	/* 'ranges' hold every range ending here or later */
	AckedRanges ranges;
} CursorView;

/*
 * The acknowledged range of subscription $1 in ledger $2 that starts
 * nearest below or at entry e: the one that would cover e (see
 * read_acked_ranges() on nesting).  A backward index scan of one row,
 * however many ranges lie behind.
 */
#define NEAREST_ACKED_RANGE \
	"SELECT n.last_entry, n.xmin AS acked_by FROM pulsar.acked_range n" \
	" WHERE n.subscription_id = $1 AND n.ledger_id = $2" \
	"   AND n.first_entry <= e" \
	" ORDER BY n.first_entry DESC LIMIT 1"

extern SysScanDesc cursor_begin_partition_scan(Relation table, Relation index,
											   Snapshot snapshot,
											   int64 subscription_id,
											   int64 ledger_id);
extern void cursor_create(Subscription *subscription, bool earliest);
extern void cursor_forget_subscription(int64 subscription_id);
extern void cursor_lock_row(int64 subscription_id, int64 ledger_id);
extern int64 cursor_mark_delete(Subscription *subscription, int64 ledger_id);
extern void cursor_read(Subscription *subscription, int64 ledger_id,
						int64 ranges_from, int limit, const Consumer *live,
						int num_live, CursorView *view);
extern void cursor_load_acked_ranges(Subscription *subscription, int64 ledger_id,
									 int64 from_entry, int limit,
									 AckedRanges *ranges);
extern void cursor_ack_entries(Subscription *subscription, int64 ledger_id,
							   int64 *entries, int count);
extern void cursor_ack_ranges(Subscription *subscription, int64 ledger_id,
							  int64 *firsts, int64 *lasts, int count);

/* how a gap of aborted entries stands among a subscription's ranges */
typedef enum GapAckState
{
	GAP_TO_ACK,					/* not acknowledged yet */
	GAP_ACKED,					/* covered by a committed range, or our own */
	GAP_BEING_ACKED				/* another transaction is writing its range */
} GapAckState;

extern GapAckState cursor_gap_ack_state(Subscription *subscription, int64 ledger_id,
										int64 first, int64 last);
extern void cursor_ack_cumulative(Subscription *subscription, LedgerInfo *ledger,
								  MessageId *id);
extern void cursor_nack_entries(Subscription *subscription, int64 ledger_id,
								int64 *entries, int count);
extern void cursor_seek_to_message(Subscription *subscription, MessageId *id);
extern void cursor_seek_to_time(Subscription *subscription, TimestampTz publish_time);
extern void cursor_fold_acked_ranges_everywhere(void);
extern bool cursor_expiry_table_exists(void);
extern int64 cursor_expire_through(Subscription *subscription,
								   const LedgerInfo *ledger, int64 through,
								   bool wait);
extern int64 cursor_count_unacked(Subscription *subscription, int64 ledger_id,
								  int64 from, int64 to, int max_ranges);
extern LedgerInfo *cursor_ledger_of_message(TopicInfo *topic, const MessageId *id);
extern LedgerInfo *cursor_ledger_of_message_within(TopicInfo *topic,
										   const MessageId *id,
										   int64 *max_read);
extern bool cursor_slowest_mark_delete(int64 topic_id, int64 ledger_id,
									   int64 *mark_delete);
extern void cursor_forget_ranges_below(int64 topic_id, int64 ledger_id,
									   int64 below);

#endif							/* PULSAR_CURSOR_H */
