/*-------------------------------------------------------------------------
 *
 * trim.h
 *	  Closing segments, and dropping the whole closed segments that neither
 *	  a subscription nor the retention policy needs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_TRIM_H
#define PULSAR_TRIM_H

#include "3_catalog/catalog.h"
#include "4_storage/subscription.h"

/* setting, defined in pulsar_pg.c: seconds; 0 closes by entries only */
extern int	pulsar_segment_max_age_s;

extern int64 trim_topic(int64 topic_id);
extern void trim_select_topics(const int64 *topic_ids, int count,
							   bool *needed);
extern void trim_ledger_storage_size(int64 topic_id, const LedgerInfo *ledger,
									 int64 *storage_size, int64 *backlog_size);
extern int64 trim_backlog_entries(Subscription *subscription,
								  const LedgerInfo *ledger, int64 last);

#endif							/* PULSAR_TRIM_H */
