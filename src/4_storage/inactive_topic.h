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

extern int64 delete_inactive_topics(TimestampTz now,
									TimestampTz consumers_known_since);

#endif							/* PULSAR_INACTIVE_TOPIC_H */
