/*-------------------------------------------------------------------------
 *
 * compaction.h
 *	  Topic compaction: the latest message of each key up to a horizon, and
 *	  reading a partition through that compacted view.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_COMPACTION_H
#define PULSAR_COMPACTION_H

#include "lib/stringinfo.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

#include "3_catalog/catalog.h"
#include "4_storage/reader.h"

/* what a reader of the compacted view of one partition uses */
typedef struct CompactedView
{
	bool		exists;			/* false: never compacted, read the ledger */
	int64		horizon;		/* last entry id the view covers */
	Relation	table;			/* locked AccessShareLock until closed */
	Snapshot	snapshot;		/* sees the whole table */
} CompactedView;

typedef enum CompactionOutcome
{
	COMPACTION_DONE,
	COMPACTION_BUSY				/* another compaction of it is running */
} CompactionOutcome;

extern CompactionOutcome compaction_compact_ledger(const LedgerInfo *ledger, bool wait);
extern char *compaction_status_json(const TopicInfo *topic, int first_ledger,
									int num_ledgers);
extern void compaction_open_view(const LedgerInfo *ledger, CompactedView *view);
extern void compaction_close_view(CompactedView *view);
extern void compaction_scan_ledger(const LedgerInfo *ledger,
								   const CompactedView *view, int64 after,
								   int64 last, Snapshot snapshot,
								   MessageVisitor visit, void *arg);
extern int	compaction_step(int64 topic_id);
extern void compaction_maintenance_step(int64 topic_id);
extern void compaction_select_topics(const int64 *topic_ids, int count,
									 bool *needed);
extern void compaction_append_internals(StringInfo json,
										const LedgerInfo *ledger);

#endif							/* PULSAR_COMPACTION_H */
