/*-------------------------------------------------------------------------
 *
 * dispatch.h
 *	  Handing messages to consumers: pulsar.receive().
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_DISPATCH_H
#define PULSAR_DISPATCH_H

/* setting, defined in pulsar_pg.c */
extern int	pulsar_max_receive_bytes;


#endif							/* PULSAR_DISPATCH_H */
