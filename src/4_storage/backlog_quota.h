/*-------------------------------------------------------------------------
 *
 * backlog_quota.h
 *	  Backlog quotas: holding or failing sends, evicting slow cursors.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_BACKLOG_QUOTA_H
#define PULSAR_BACKLOG_QUOTA_H

#include "datatype/timestamp.h"

#include "3_catalog/catalog.h"

/* setting, in milliseconds */
extern int	backlog_quota_hold_timeout_ms;

extern void backlog_quota_define_settings(void);
extern void backlog_quota_check(TopicInfo *topic, const LedgerInfo *ledger);
extern void backlog_quota_apply(int64 topic_id, TimestampTz now,
								int64 *exceeded, int64 *evicted);
extern void backlog_quota_step(int64 topic_id);
extern void backlog_quota_select_topics(const int64 *topic_ids, int count,
										bool *needed);

#endif							/* PULSAR_BACKLOG_QUOTA_H */
