/*-------------------------------------------------------------------------
 *
 * pulsar-pg.h
 *	  Declarations shared by the files of the pulsar-pg command-line client.
 *
 * conn.c owns connections (connect, reconnect with backoff, error
 * reporting, waiting on a socket), signals and clocks; pulsar-pg.c owns
 * the command line and the simple commands; perf.c owns the benchmarks;
 * histogram.c the latency histograms they report; admin.c the tenants,
 * namespaces and topic permission commands; namespaces.c the namespace
 * policies.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_PG_CLI_H
#define PULSAR_PG_CLI_H

#include <signal.h>

#include "libpq-fe.h"

#define EXIT_SERVER_ERROR	1
#define EXIT_USAGE			2

/* Set by -d/--dbname; NULL means libpq's defaults and PG* variables. */
extern const char *cli_conninfo;
extern const char *progname;

/* Set by SIGINT and SIGTERM once signals are caught (cli_catch_signals). */
extern volatile sig_atomic_t cli_interrupted;

/* conn.c */
extern void cli_catch_signals(void);
extern PGconn *cli_connect(void);
extern bool cli_reconnect(PGconn **conn);
extern bool cli_connection_lost(PGconn *conn, const PGresult *res);
extern PGresult *cli_query(PGconn *conn, const char *sql, int nparams,
						   const char *const *values);
extern PGresult *cli_query_params(PGconn *conn, const char *sql, int nparams,
								  const Oid *types, const char *const *values,
								  const int *lengths, const int *formats,
								  int result_format);
extern void cli_die_result(PGconn *conn, const PGresult *res) pg_attribute_noreturn();
extern int	cli_wait_socket(PGconn *conn, int timeout_ms);
extern bool cli_sleep_ms(int ms);
extern int	cli_signal_fd(void);
extern int64 cli_now_us(void);
extern int64 cli_wall_us(void);
extern char *cli_quote_ident(PGconn *conn, const char *name);

/* Result of cli_wait_socket */
#define CLI_WAIT_TIMEOUT	0
#define CLI_WAIT_READABLE	1
#define CLI_WAIT_INTERRUPTED 2

/* admin.c */
extern int	cmd_tenants(int argc, char **argv);
extern int	cmd_namespace_permissions(int argc, char **argv);
extern bool is_namespace_permission_action(const char *action);
extern int	cmd_topic_permissions(int argc, char **argv);
extern bool is_topic_permission_action(const char *action);

/* pulsar-pg.c */
#define OPT_HELP	1000		/* getopt_long code of --help */

extern void cli_usage_error(const char *usage, const char *fmt,...)
			pg_attribute_printf(2, 3) pg_attribute_noreturn();
extern void cli_print_help(const char *usage) pg_attribute_noreturn();
extern void cli_bad_option(const char *usage) pg_attribute_noreturn();
extern void cli_help_or_bad_option(char **argv, const char *usage) pg_attribute_noreturn();
extern void cli_reset_getopt(void);
extern long cli_parse_long(const char *usage, const char *option,
						   const char *value, long min, long max);
extern double cli_parse_double(const char *usage, const char *option,
							   const char *value, double min, double max);

/* namespaces.c */
extern int	namespaces_main(int argc, char **argv);

/* perf.c */
extern int	perf_main(int argc, char **argv);

/* histogram.c */
typedef struct Histogram
{
	uint64	   *counts;		/* one per bucket */
	uint64		total;			/* values recorded */
	double		sum;			/* of the values, for the mean */
	int64		max;			/* largest value recorded */
} Histogram;

extern Histogram *histogram_create(void);
extern void histogram_record(Histogram *h, int64 value, uint64 count);
extern void histogram_add(Histogram *into, const Histogram *from);
extern void histogram_reset(Histogram *h);
extern int64 histogram_percentile(const Histogram *h, double percentile);
extern double histogram_mean(const Histogram *h);
extern bool histogram_write(const Histogram *h, const char *path);

#endif							/* PULSAR_PG_CLI_H */
