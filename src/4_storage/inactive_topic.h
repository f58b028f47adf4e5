/*-------------------------------------------------------------------------
 *
 * inactive_topic.h
 *	  Deleting inactive topics.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_INACTIVE_TOPIC_H
#define PULSAR_INACTIVE_TOPIC_H

#include "datatype/timestamp.h"

extern bool inactive_topic_delete_if_inactive(int64 topic_id, TimestampTz now,
											  TimestampTz consumers_known_since);
extern void inactive_topic_step(int64 topic_id);
extern void inactive_topic_select_topics(const int64 *topic_ids, int count,
										 bool *needed);

#endif							/* PULSAR_INACTIVE_TOPIC_H */
