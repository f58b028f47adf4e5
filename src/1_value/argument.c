/*-------------------------------------------------------------------------
 *
 * argument.c
 *	  Checking and converting arguments of SQL functions.
 *
 * The extension's functions are not STRICT, so that a NULL gets an error
 * naming the argument instead of a silent NULL result.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "utils/builtins.h"

#include "1_value/argument.h"

/* a text argument that must not be NULL, as a C string */
char *
argument_required_text(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * An interval in microseconds, a month counting 30 days as PostgreSQL's
 * interval arithmetic does; false if that does not fit in 64 bits.
 */
bool
argument_interval_usecs(const Interval *interval, int64 *usecs)
{
	int64		days;
	int64		day_usecs;

	return !pg_mul_s64_overflow((int64) interval->month, DAYS_PER_MONTH, &days) &&
		!pg_add_s64_overflow(days, interval->day, &days) &&
		!pg_mul_s64_overflow(days, USECS_PER_DAY, &day_usecs) &&
		!pg_add_s64_overflow(day_usecs, interval->time, usecs);
}
