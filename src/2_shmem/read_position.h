/*-------------------------------------------------------------------------
 *
 * read_position.h
 *	  Position assignment and each partition's max read position, kept in
 *	  shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_READ_POSITION_H
#define PULSAR_READ_POSITION_H

#include "nodes/pg_list.h"

/* settings, defined in pulsar_pg.c */
extern int	pulsar_max_partitions;
extern int	pulsar_max_open_reservations;

/*
 * Computes a ledger's first unused entry id from its stored rows; called
 * without locks when a ledger is first touched after start-up.
 */
typedef int64 (*NextEntryLoader) (int64 ledger_id);

/*
 * Makes sure the ledger's WAL-logged high-water mark is at least 'mark',
 * writing it if needed, and returns the mark now logged; -1 if the
 * installation keeps no marks (not yet updated).  Called with no lock of
 * read_position.c held.
 */
typedef int64 (*EntryMarkWriter) (int64 ledger_id, int64 mark);

/* what a send must do about its partition's backlog quota */
typedef enum BacklogQuotaState
{
	BACKLOG_QUOTA_NONE = 0,		/* under its quota, or none */
	BACKLOG_QUOTA_HOLD,			/* over: producer_request_hold */
	BACKLOG_QUOTA_EXCEPTION		/* over: producer_exception */
} BacklogQuotaState;

extern void ReadPositionShmemRequest(void);
extern void ReadPositionShmemInit(void);
extern void ReadPositionInit(void);
extern void read_position_require_state(void);

extern int64 read_position_reserve(int64 ledger_id, int64 count,
								   NextEntryLoader loader, EntryMarkWriter log_mark);
extern int64 read_position_max(int64 ledger_id, NextEntryLoader loader);
extern int64 read_position_peek_next(int64 ledger_id, NextEntryLoader loader);
extern void read_position_untracked(int64 ledger_id, NextEntryLoader loader,
									int64 *next_entry,
									int64 *max_read_position);
extern int64 read_position_skip_to(int64 ledger_id, int64 start, int64 boundary,
								   NextEntryLoader loader, EntryMarkWriter log_mark);
extern void read_position_forget_at_commit(int64 ledger_id);
extern void read_position_forget_at_abort(int64 ledger_id);
extern bool read_position_created_in_transaction(int64 ledger_id);
extern void read_position_forget_database(Oid database_id);
extern void read_position_usage(int64 *partitions, int64 *reservations);
extern BacklogQuotaState read_position_backlog_quota(int64 ledger_id);
extern bool read_position_any_backlog_quota(void);
extern void read_position_set_backlog_quota(int64 ledger_id, BacklogQuotaState state,
											NextEntryLoader loader);
extern bool read_position_take_moved(int64 ledger_id, int64 *max_read_position);
extern List *read_position_moved_partitions(void);
extern void read_position_wait_prepare(void);
extern void read_position_wait(long timeout_ms);
extern void read_position_wait_done(void);

#endif							/* PULSAR_READ_POSITION_H */
