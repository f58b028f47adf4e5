/*-------------------------------------------------------------------------
 *
 * dispatch_state.h
 *	  Read positions of subscriptions in shared memory, and what a
 *	  transaction's receives undo when it ends.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_DISPATCH_STATE_H
#define PULSAR_DISPATCH_STATE_H

#include "datatype/timestamp.h"
#include "storage/spin.h"

typedef struct DispatchKey
{
	Oid			database_id;
	int64		subscription_id;
	int64		ledger_id;
} DispatchKey;

typedef struct DispatchState
{
	DispatchKey key;			/* hash key */
	slock_t		mutex;
	int64		read_position;	/* next entry never handed out; -1: unknown */
	int64		consumer_id;	/* exclusive/failover: who it was handed to */
	uint64		rewinds;		/* rewinds applied since start-up */
	uint64		delivered;		/* messages handed out since start-up */
	TimestampTz window_start;	/* rate sampling */
	uint64		window_count;
	double		rate;			/* messages per second, last full window */
} DispatchState;

/* setting, defined in pulsar_pg.c */
extern int	pulsar_max_cursors;
extern void DispatchStateShmemRequest(void);
extern void DispatchStateShmemInit(void);
extern void DispatchStateInit(void);
extern void dispatch_state_reset_at_commit(int64 subscription_id);
extern void dispatch_state_reset_at_abort(int64 subscription_id);
extern bool dispatch_state_received_in_transaction(int64 subscription_id, int64 ledger_id,
												   int64 first, int64 last, int64 *entry);
extern int64 dispatch_state_read_position(int64 subscription_id, int64 ledger_id);
extern double dispatch_state_rate_out(int64 subscription_id, int64 ledger_id,
									  int64 *delivered);
extern void dispatch_state_forget_database(Oid database_id);
extern int64 dispatch_state_usage(void);
extern DispatchState *dispatch_state(int64 subscription_id, int64 ledger_id);
extern void dispatch_state_count_delivered(DispatchState *state, int count);
extern void dispatch_state_remember_rewind(int64 subscription_id, int64 ledger_id,
										   int64 first_entry);
extern void dispatch_state_note_received(int64 subscription_id, int64 ledger_id, int64 first,
										 int64 last);

#endif							/* PULSAR_DISPATCH_STATE_H */
