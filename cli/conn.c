/*-------------------------------------------------------------------------
 *
 * conn.c
 *	  Connections of the pulsar-pg client: connecting, reconnecting with
 *	  backoff, running statements, reporting server errors with their
 *	  SQLSTATE, and waiting on a connection's socket until it is readable,
 *	  a timeout passes or the user interrupts.
 *
 * Connection parameters come from -d/--dbname (a conninfo string or URI,
 * which may name several hosts) and otherwise from libpq's defaults and
 * the PG* environment variables, exactly as for psql.
 *
 * A statement that fails because the connection was lost returns NULL to
 * its caller, which reconnects (cli_reconnect) and redoes what the lost
 * session held: a consumer subscribes and LISTENs again.  Any other
 * server error ends the program with exit status 1.
 *
 * SIGINT and SIGTERM, once caught (cli_catch_signals), set a flag and
 * write a byte to a pipe; every wait polls that pipe along with the
 * socket, so an interrupt ends a wait at once with no race between
 * testing the flag and starting to wait.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "pulsar-pg.h"

volatile sig_atomic_t cli_interrupted = 0;

static int	signal_pipe[2] = {-1, -1};

/* Backoff between reconnection attempts */
#define RECONNECT_FIRST_MS	100
#define RECONNECT_MAX_MS	2000

static void
handle_signal(int signo)
{
	int			save_errno = errno;

	cli_interrupted = 1;
	if (signal_pipe[1] >= 0)
	{
		/* the pipe is non-blocking: a full pipe is already a wake-up */
		if (write(signal_pipe[1], "x", 1) < 0)
		{
			/* nothing to do */
		}
	}
	errno = save_errno;
}

/*
 * Catch SIGINT and SIGTERM: from now on they end waits and set
 * cli_interrupted instead of killing the program.
 */
void
cli_catch_signals(void)
{
	struct sigaction sa;

	if (signal_pipe[0] >= 0)
		return;
	if (pipe(signal_pipe) != 0)
	{
		fprintf(stderr, "%s: could not create pipe: %m\n", progname);
		exit(EXIT_SERVER_ERROR);
	}
	for (int i = 0; i < 2; i++)
	{
		fcntl(signal_pipe[i], F_SETFL, fcntl(signal_pipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(signal_pipe[i], F_SETFD, FD_CLOEXEC);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;			/* no SA_RESTART: waits return EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * The read end of the signal pipe, for callers that poll several sockets;
 * -1 if signals are not caught.
 */
int
cli_signal_fd(void)
{
	return signal_pipe[0];
}

static void
drain_signal_pipe(void)
{
	char		buf[64];

	if (signal_pipe[0] < 0)
		return;
	while (read(signal_pipe[0], buf, sizeof(buf)) > 0)
		;
}

/* Microseconds of a monotonic clock, for measuring intervals */
int64
cli_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Microseconds since the Unix epoch, for stamps that cross processes */
int64
cli_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Attempt one connection; NULL with the reason in *error on failure. */
static PGconn *
try_connect(char **error)
{
	const char *keywords[] = {"dbname", "fallback_application_name", NULL};
	const char *values[] = {cli_conninfo, "pulsar-pg", NULL};
	PGconn	   *conn;

	conn = PQconnectdbParams(keywords, values, true);
	if (conn == NULL)
	{
		*error = pg_strdup("out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK)
	{
		*error = pg_strdup(PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	*error = NULL;
	return conn;
}

/* Trim the newline libpq ends its messages with. */
static void
print_trimmed(const char *message)
{
	size_t		len = strlen(message);

	while (len > 0 && message[len - 1] == '\n')
		len--;
	fprintf(stderr, "%.*s\n", (int) len, message);
}

/*
 * Connect, or exit with status 1 saying why.  The first connection is not
 * retried: a wrong host or password should fail at once.
 */
PGconn *
cli_connect(void)
{
	char	   *error;
	PGconn	   *conn = try_connect(&error);

	if (conn == NULL)
	{
		fprintf(stderr, "%s: could not connect: ", progname);
		print_trimmed(error);
		exit(EXIT_SERVER_ERROR);
	}
	return conn;
}

/*
 * Replace a lost connection, trying again with exponential backoff until it
 * works.  Returns false if the user interrupted meanwhile.  The caller must
 * redo whatever the old session held (subscriptions, LISTEN).
 */
bool
cli_reconnect(PGconn **conn)
{
	int			delay = RECONNECT_FIRST_MS;
	char	   *last_error = NULL;

	if (*conn)
	{
		fprintf(stderr, "%s: connection lost: ", progname);
		print_trimmed(PQerrorMessage(*conn));
		PQfinish(*conn);
		*conn = NULL;
	}
	fprintf(stderr, "%s: reconnecting\n", progname);

	while (!cli_interrupted)
	{
		char	   *error;

		*conn = try_connect(&error);
		if (*conn)
		{
			fprintf(stderr, "%s: reconnected\n", progname);
			free(last_error);
			return true;
		}
		/* say why once per different reason, not at every attempt */
		if (last_error == NULL || strcmp(last_error, error) != 0)
		{
			fprintf(stderr, "%s: could not reconnect: ", progname);
			print_trimmed(error);
			free(last_error);
			last_error = error;
		}
		else
			free(error);
		if (!cli_sleep_ms(delay))
			break;
		delay = Min(delay * 2, RECONNECT_MAX_MS);
	}
	free(last_error);
	return false;
}

/*
 * Did this failure lose the connection?  Besides a broken socket, the
 * server ends sessions with SQLSTATE class 08 (connection exception) or
 * 57P01..57P03 (shutdown, crash, starting up).
 */
bool
cli_connection_lost(PGconn *conn, const PGresult *res)
{
	const char *sqlstate;

	if (PQstatus(conn) == CONNECTION_BAD)
		return true;
	if (res == NULL)
		return true;
	sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (sqlstate == NULL)
		return false;
	return strncmp(sqlstate, "08", 2) == 0 ||
		strcmp(sqlstate, "57P01") == 0 ||
		strcmp(sqlstate, "57P02") == 0 ||
		strcmp(sqlstate, "57P03") == 0;
}

/*
 * Print a server error with its SQLSTATE, detail and hint, and exit 1.
 */
void
cli_die_result(PGconn *conn, const PGresult *res)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (primary)
	{
		const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY);
		const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);

		fprintf(stderr, "%s: %s:  %s (SQLSTATE %s)\n", progname,
				severity ? severity : "ERROR", primary,
				sqlstate ? sqlstate : "?????");
		if (detail)
			fprintf(stderr, "DETAIL:  %s\n", detail);
		if (hint)
			fprintf(stderr, "HINT:  %s\n", hint);
	}
	else
	{
		fprintf(stderr, "%s: ", progname);
		print_trimmed(res && *PQresultErrorMessage(res) ?
					  PQresultErrorMessage(res) : PQerrorMessage(conn));
	}
	exit(EXIT_SERVER_ERROR);
}

/*
 * Run a statement with text parameters and text results.  Returns its
 * result, or NULL if the connection was lost; exits on any other error.
 */
PGresult *
cli_query(PGconn *conn, const char *sql, int nparams, const char *const *values)
{
	return cli_query_params(conn, sql, nparams, NULL, values, NULL, NULL, 0);
}

/* cli_query with parameter types and formats, and a result format */
PGresult *
cli_query_params(PGconn *conn, const char *sql, int nparams,
				 const Oid *types, const char *const *values,
				 const int *lengths, const int *formats, int result_format)
{
	PGresult   *res;

	res = PQexecParams(conn, sql, nparams, types, values, lengths, formats,
					   result_format);
	if (res &&
		(PQresultStatus(res) == PGRES_TUPLES_OK ||
		 PQresultStatus(res) == PGRES_COMMAND_OK))
		return res;
	if (cli_connection_lost(conn, res))
	{
		PQclear(res);
		return NULL;
	}
	cli_die_result(conn, res);
}

/*
 * Wait until the connection's socket is readable, timeout_ms pass (-1:
 * no timeout) or the user interrupts.
 */
int
cli_wait_socket(PGconn *conn, int timeout_ms)
{
	struct pollfd fds[2];
	int			nfds = 0;
	int			rc;

	if (cli_interrupted)
		return CLI_WAIT_INTERRUPTED;

	fds[nfds].fd = PQsocket(conn);
	fds[nfds].events = POLLIN;
	nfds++;
	if (signal_pipe[0] >= 0)
	{
		fds[nfds].fd = signal_pipe[0];
		fds[nfds].events = POLLIN;
		nfds++;
	}

	rc = poll(fds, nfds, timeout_ms);
	if (cli_interrupted)
	{
		drain_signal_pipe();
		return CLI_WAIT_INTERRUPTED;
	}
	if (rc < 0)
	{
		if (errno == EINTR)
			return CLI_WAIT_TIMEOUT;	/* some other signal: look again */
		fprintf(stderr, "%s: poll failed: %m\n", progname);
		exit(EXIT_SERVER_ERROR);
	}
	if (rc == 0)
		return CLI_WAIT_TIMEOUT;
	return CLI_WAIT_READABLE;
}

/*
 * Sleep, unless interrupted first; returns false if interrupted.
 */
bool
cli_sleep_ms(int ms)
{
	int64		until = cli_now_us() + (int64) ms * 1000;

	while (!cli_interrupted)
	{
		int64		left = until - cli_now_us();
		struct pollfd fd;

		if (left <= 0)
			return true;
		fd.fd = signal_pipe[0];
		fd.events = POLLIN;
		/* poll ignores a negative fd and just sleeps */
		(void) poll(&fd, 1, (int) ((left + 999) / 1000));
	}
	drain_signal_pipe();
	return false;
}

/* A name quoted as an SQL identifier, for LISTEN; exits on failure. */
char *
cli_quote_ident(PGconn *conn, const char *name)
{
	char	   *quoted = PQescapeIdentifier(conn, name, strlen(name));
	char	   *copy;

	if (quoted == NULL)
	{
		fprintf(stderr, "%s: ", progname);
		print_trimmed(PQerrorMessage(conn));
		exit(EXIT_SERVER_ERROR);
	}
	copy = pg_strdup(quoted);
	PQfreemem(quoted);
	return copy;
}
