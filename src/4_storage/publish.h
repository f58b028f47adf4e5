/*-------------------------------------------------------------------------
 *
 * publish.h
 *	  Publishing a batch of messages to a topic.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_PUBLISH_H
#define PULSAR_PUBLISH_H

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "1_value/message_id.h"
#include "1_value/topic_name.h"
#include "3_catalog/catalog.h"

/* settings, defined in pulsar_pg.c */
extern int	pulsar_max_message_size;

typedef struct OutgoingMessage
{
	bytea	   *payload;		/* NULL for a tombstone */
	text	   *key;
	Jsonb	   *properties;
	Datum		event_time;
	bool		has_event_time;
	int64		sequence_id;
	bool		has_sequence_id;
	int			ledger_index;	/* into TopicInfo.ledgers */
	bool		duplicate;
	int64		entry_id;
} OutgoingMessage;

typedef struct OutgoingBatch
{
	TopicName	name;
	TopicInfo  *topic;
	text	   *producer;
	Datum		deliver_at;
	bool		has_deliver_at;
	TimestampTz publish_time;
	int			count;
	OutgoingMessage *messages;
} OutgoingBatch;

extern char *publish_text_to_utf8(text *value, int *len);
extern void publish(OutgoingBatch *pub, bool rate_limited);
extern MessageId *publish_message_id(OutgoingBatch *pub, OutgoingMessage *message);

struct StoredMessage;
extern void publish_stored_message(const char *topic,
								   const struct StoredMessage *stored,
								   Jsonb *properties);

#endif							/* PULSAR_PUBLISH_H */
