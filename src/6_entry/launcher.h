/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The launcher, which starts the worker of each database that has the
 *	  extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_LAUNCHER_H
#define PULSAR_LAUNCHER_H

extern void launcher_register(void);
extern void launcher_init(void);

#endif							/* PULSAR_LAUNCHER_H */
