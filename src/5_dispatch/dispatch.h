/*-------------------------------------------------------------------------
 *
 * dispatch.h
 *	  Handing messages to consumers: pulsar.receive().
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_DISPATCH_H
#define PULSAR_DISPATCH_H

#include "funcapi.h"

#include "3_catalog/catalog.h"

/* setting, defined in pulsar_pg.c */
extern int	pulsar_max_receive_bytes;

extern void dispatch_receive(ReturnSetInfo *rsinfo, TopicInfo *topic,
							 const char *name, const char *consumer_name,
							 int32 max_messages, int64 timeout_us);


#endif							/* PULSAR_DISPATCH_H */
