/*-------------------------------------------------------------------------
 *
 * maintenance.h
 *	  The maintenance pass of the database worker: storage policies applied
 *	  to every topic, one step at a time.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_MAINTENANCE_H
#define PULSAR_MAINTENANCE_H

/* setting, defined in pulsar_pg.c: milliseconds between passes */
extern int	pulsar_maintenance_interval_ms;

extern bool maintenance_run_pass(void);
extern void maintenance_reset(void);

#endif							/* PULSAR_MAINTENANCE_H */
