/*-------------------------------------------------------------------------
 *
 * publish.h
 *	  Publishing messages: pulsar.send() and pulsar.send_batch().
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_PUBLISH_H
#define PULSAR_PUBLISH_H

#include "utils/jsonb.h"

/* settings, defined in pulsar_pg.c */
extern int	pulsar_max_message_size;

extern char *text_to_utf8(text *value, int *len);

struct StoredMessage;
extern void publish_stored_message(const char *topic,
								   const struct StoredMessage *stored,
								   Jsonb *properties);

#endif							/* PULSAR_PUBLISH_H */
