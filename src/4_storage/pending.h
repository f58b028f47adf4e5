/*-------------------------------------------------------------------------
 *
 * pending.h
 *	  pulsar.pending: the messages consumers hold, redeliveries and delayed
 *	  messages waiting for their time.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_PENDING_H
#define PULSAR_PENDING_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/snapshot.h"

#include "4_storage/subscription.h"

/* pending rows of a partition, as a dirty snapshot sees them */
typedef struct PendingRows
{
	int			count;
	int64	   *firsts;			/* sorted; runs do not overlap */
	int64	   *lasts;
	int64	   *consumers;		/* -1 if waiting for redelivery */
	int32	   *key_hashes;		/* -1 unless a Key_Shared row */
} PendingRows;

/* what a pending row said of an entry taken out of it */
typedef struct TakenEntry
{
	bool		found;
	int32		redelivery_count;
	bool		delivered;		/* delivered_at was set */
	TimestampTz delivered_at;
	int32		key_hash;		/* -1: none */
} TakenEntry;

/* entries of pulsar.pending a subscription's stats count */
typedef enum PendingKind
{
	PENDING_HELD,				/* out with a consumer */
	PENDING_DELAYED				/* delayed, not yet due */
} PendingKind;

/* reads without SPI */
extern bool pending_any_above(int64 subscription_id, int64 ledger_id,
							  int64 above, Snapshot snapshot,
							  const Consumer *live, int num_live,
							  bool *any_due);
extern void pending_load_runs(Subscription *subscription, int64 ledger_id,
							  int64 from_entry, int limit, PendingRows *rows);

/* receive: new messages */
extern void pending_hold_delayed(int64 subscription_id, int64 ledger_id,
								 Datum *entries, Datum *key_hashes,
								 Datum *due, int count);
extern void pending_hold_for_consumer(Subscription *subscription,
									  int64 ledger_id, int64 consumer_id,
									  const int64 *entries,
									  const int32 *key_hashes, int count);
extern int64 pending_count_held_by(int64 subscription_id, int64 ledger_id,
								   int64 consumer_id, int32 limit);
extern int64 pending_count_held(int64 subscription_id, int64 ledger_id,
								int32 limit);

/* receive: redeliveries (caller is inside catalog_access_begin()) */
extern void pending_find_due(int64 subscription_id, int64 ledger_id,
							 int64 mark_delete, int32 limit, bool claim);
extern void pending_claim_runs(int64 subscription_id, int64 ledger_id,
							   Datum first_entries);
extern void pending_keep_rest_due(int64 subscription_id, int64 ledger_id,
								  int64 first_entry, int64 rest_first);
extern void pending_mark_redelivered(int64 subscription_id, int64 ledger_id,
									 int64 consumer_id, const int64 *firsts,
									 const int64 *starts, const int64 *cuts,
									 int count, int64 ack_timeout_us);

/* acks, nacks and seeks (caller is inside catalog_access_begin()) */
extern int	pending_take_entries(Subscription *subscription, int64 ledger_id,
								 const int64 *entries, int count,
								 TakenEntry *taken);
extern int64 pending_lock_free_through(int64 subscription_id, int64 ledger_id,
									   int64 entry);
extern bool pending_take_through(int64 subscription_id, int64 ledger_id,
								 int64 entry);
extern void pending_put_back_nacked(Subscription *subscription,
									int64 ledger_id, const int64 *entries,
									int count, const TakenEntry *taken);
extern void pending_forget_partition(int64 subscription_id, int64 ledger_id);

/* consumers and subscriptions (caller is inside catalog_access_begin()) */
extern void pending_give_back_held(Datum consumer_ids);
extern void pending_delete_consumers_holding_nothing(Datum consumer_ids);
extern void pending_detach_consumers_giving_back(Datum consumer_ids);
extern void pending_forget_subscription(int64 subscription_id);
extern void pending_delete_subscriptions_of_topic(int64 topic_id,
												  List **subscription_ids,
												  List **consumer_ids);

/* stats and the worker */
extern void pending_held_per_consumer(int64 subscription_id);
extern int64 pending_count(int64 subscription_id, PendingKind kind);
extern void pending_find_subscriptions_due(TimestampTz from,
										   TimestampTz until);
extern TimestampTz pending_next_due_after(TimestampTz from, TimestampTz until);
extern void pending_forget_below(int64 topic_id, int64 ledger_id,
								 int64 below);

#endif							/* PULSAR_PENDING_H */
