/*-------------------------------------------------------------------------
 *
 * argument.h
 *	  Checking and converting arguments of SQL functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_ARGUMENT_H
#define PULSAR_ARGUMENT_H

#include "fmgr.h"
#include "utils/timestamp.h"

extern char *argument_required_text(FunctionCallInfo fcinfo, int argno,
									const char *what);
extern bool argument_interval_usecs(const Interval *interval, int64 *usecs);

#endif							/* PULSAR_ARGUMENT_H */
