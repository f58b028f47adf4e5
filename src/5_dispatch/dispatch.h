/*-------------------------------------------------------------------------
 *
 * dispatch.h
 *	  Handing messages to consumers: pulsar.receive().
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_DISPATCH_H
#define PULSAR_DISPATCH_H

/* settings, defined in pulsar_pg.c */
extern int	pulsar_max_cursors;
extern int	pulsar_max_receive_bytes;

extern void DispatchShmemRequest(void);
extern void DispatchShmemInit(void);
extern void DispatchInit(void);
extern void reset_dispatch_at_commit(int64 subscription_id);
extern void reset_dispatch_at_abort(int64 subscription_id);
extern bool received_in_transaction(int64 subscription_id, int64 ledger_id,
									int64 first, int64 last, int64 *entry);
extern int64 dispatch_read_position(int64 subscription_id, int64 ledger_id);
extern double dispatch_rate_out(int64 subscription_id, int64 ledger_id,
								int64 *delivered);
extern void ForgetDatabaseDispatch(Oid database_id);
extern int64 DispatchUsage(void);

#endif							/* PULSAR_DISPATCH_H */
