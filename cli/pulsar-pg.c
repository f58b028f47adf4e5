/*-------------------------------------------------------------------------
 *
 * pulsar-pg.c
 *	  The pulsar-pg command-line client: the command line, and the commands
 *	  produce, consume, read, topics, namespace limits and stats.  The
 *	  benchmarks (perf) live in perf.c, the namespace storage policies
 *	  (namespaces) in namespaces.c, connections and waiting in conn.c, the
 *	  permission commands in admin.c.
 *
 * Every command talks to the extension only through its SQL functions
 * (pulsar.send, subscribe, receive, ack, read, list_topics, create_topic,
 * delete_topic, topic_stats, get_policies and the set_* functions of
 * namespace limits).
 *
 * consume is driven by LISTEN/NOTIFY: it subscribes, LISTENs on the
 * channel pulsar.subscribe returns, receives what is already there, and
 * then sleeps on the connection's socket until a notification (sent by the
 * extension's background worker after a publishing commit) wakes it.  As a
 * safety net against a missed wake-up it also looks again after
 * --recheck-interval seconds without one (default 1, 0 disables).
 *
 * Exit status: 0 on success, 1 on a server or connection error (server
 * errors are printed with their SQLSTATE), 2 on wrong arguments.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <errno.h>
#include <limits.h>

#include "getopt_long.h"
#include "lib/stringinfo.h"

#include "pulsar-pg.h"

/* type OIDs used as parameter types */
#define TEXTOID		25
#define BYTEAOID	17

const char *cli_conninfo = NULL;
const char *progname = "pulsar-pg";

static const char *main_usage =
"Usage:\n"
"  pulsar-pg [-d CONNINFO] COMMAND [ARGUMENT]... [OPTION]...\n"
"\n"
"Commands:\n"
"  produce TOPIC -m MSG     publish messages\n"
"  consume TOPIC -s SUB     receive and acknowledge messages of a subscription\n"
"  read TOPIC               read messages without a subscription\n"
"  topics list|create|delete|compact|compaction-status\n"
"                           list, create, delete or compact topics\n"
"  topics grant-permission|revoke-permission|permissions\n"
"                           who may produce to or consume a topic\n"
"  namespaces grant-permission|revoke-permission|permissions|...\n"
"                           who may produce to or consume a namespace\n"
"  namespaces policies|set-retention|set-message-ttl|...\n"
"                           a namespace's storage policies: retention, message\n"
"                           TTL, backlog quota, subscription expiration,\n"
"                           inactive topics, compaction threshold\n"
"  namespaces set-max-topics-per-namespace|...|set-publish-rate\n"
"                           set a namespace's limits\n"
"  tenants create|update|list\n"
"                           tenants and their admin roles\n"
"  stats TOPIC              statistics of a topic and its subscriptions\n"
"  perf produce|consume|e2e benchmarks in the manner of pulsar-perf\n"
"\n"
"Options:\n"
"  -d, --dbname=CONNINFO    database to connect to: a name, a conninfo string\n"
"                           (\"host=a,b port=5432 dbname=app\") or a URI\n"
"                           (postgresql://a,b/app); otherwise libpq's defaults\n"
"                           and the PG* environment variables\n"
"  -V, --version            print the version and exit\n"
"  -?, --help               show this help and exit\n"
"\n"
"\"pulsar-pg COMMAND --help\" shows a command's options.  --dbname is also\n"
"accepted after the command (-d too, except in perf, where -d is the duration,\n"
"and in namespaces set-inactive-topic-policies, where it disables).\n";

static const char *produce_usage =
"Usage:\n"
"  pulsar-pg produce TOPIC -m MSG [-m MSG]... [OPTION]...\n"
"\n"
"Publishes messages with pulsar.send, each in its own transaction, and\n"
"prints the message id of each.\n"
"\n"
"Options:\n"
"  -m, --message=MSG        a message to send (repeatable)\n"
"  -f, --file=FILE          send the contents of FILE as one message\n"
"                           (repeatable; - for standard input)\n"
"  -n, --num-produce=N      send every message N times (default 1)\n"
"  -k, --key=KEY            the messages' key\n"
"  -p, --property=KEY=VALUE a message property (repeatable)\n"
"  -q, --quiet              do not print message ids\n"
"  -d, --dbname=CONNINFO    database to connect to\n"
"  -?, --help               show this help and exit\n"
"\n"
"If the connection is lost, pulsar-pg reconnects and sends the message\n"
"again whose outcome it did not learn: delivery is at least once.\n";

static const char *consume_usage =
"Usage:\n"
"  pulsar-pg consume TOPIC -s SUBSCRIPTION [OPTION]...\n"
"\n"
"Subscribes, prints messages as they arrive and acknowledges them.  It\n"
"sleeps until the subscription's LISTEN channel is notified of new\n"
"messages.\n"
"\n"
"Options:\n"
"  -s, --subscription=NAME  the subscription (created if missing)\n"
"  -t, --type=TYPE          exclusive (default), failover, shared or key_shared\n"
"  -p, --position=POSITION  where a new subscription starts: latest (default)\n"
"                           or earliest\n"
"  -n, --num-messages=N     stop after N messages (default 1; 0: run until\n"
"                           interrupted)\n"
"  -r, --recheck-interval=SECONDS\n"
"                           look for messages after this long without a\n"
"                           notification, as a safety net (default 1;\n"
"                           0: only when notified)\n"
"  -P, --payload-only       print only each message's payload and a newline\n"
"  -d, --dbname=CONNINFO    database to connect to\n"
"  -?, --help               show this help and exit\n"
"\n"
"A lost connection is re-established with backoff; the consumer then\n"
"subscribes and LISTENs again and continues from its durable subscription.\n"
"Messages are acknowledged after they are printed, so a message printed\n"
"just before a connection loss can be printed again after it.\n";

static const char *read_usage =
"Usage:\n"
"  pulsar-pg read TOPIC [OPTION]...\n"
"\n"
"Reads messages of a non-partitioned topic or of one partition\n"
"(name-partition-N) with pulsar.read, in publish order, without a\n"
"subscription.\n"
"\n"
"Options:\n"
"      --start-after=ID     start after this message id (default: earliest)\n"
"  -n, --num-messages=N     read at most N messages (default 0: all that are\n"
"                           readable now)\n"
"  -P, --payload-only       print only each message's payload and a newline\n"
"  -d, --dbname=CONNINFO    database to connect to\n"
"  -?, --help               show this help and exit\n";

static const char *topics_usage =
"Usage:\n"
"  pulsar-pg topics list [TENANT/NAMESPACE]\n"
"  pulsar-pg topics create TOPIC [-p PARTITIONS]\n"
"  pulsar-pg topics delete TOPIC [--force]\n"
"  pulsar-pg topics compact TOPIC\n"
"  pulsar-pg topics compaction-status TOPIC [-w]\n"
"\n"
"list prints each topic's full name and its number of partitions (0 for a\n"
"non-partitioned topic), from pulsar.list_topics.  create and delete call\n"
"pulsar.create_topic and pulsar.delete_topic.  compact compacts a topic (or\n"
"one partition) with pulsar.compact and returns when it is done;\n"
"compaction-status tells how its last compaction went, from\n"
"pulsar.compaction_status, and exits 1 if it failed.\n"
"\n"
"Options:\n"
"  -p, --partitions=N       create a partitioned topic of N partitions\n"
"      --force              delete a topic that has subscriptions\n"
"  -w, --wait-complete      compaction-status: wait while a compaction runs\n"
"  -d, --dbname=CONNINFO    database to connect to\n"
"  -?, --help               show this help and exit\n";

static const char *namespace_limits_usage =
"Usage:\n"
"  pulsar-pg namespaces set-max-topics-per-namespace TENANT/NAMESPACE -t N\n"
"  pulsar-pg namespaces set-max-subscriptions-per-topic TENANT/NAMESPACE -m N\n"
"  pulsar-pg namespaces set-max-consumers-per-topic TENANT/NAMESPACE -c N\n"
"  pulsar-pg namespaces set-max-consumers-per-subscription TENANT/NAMESPACE -c N\n"
"  pulsar-pg namespaces set-max-unacked-messages-per-subscription TENANT/NAMESPACE -m N\n"
"  pulsar-pg namespaces set-publish-rate TENANT/NAMESPACE [-m N] [-b N]\n"
"  pulsar-pg namespaces set-dispatch-rate TENANT/NAMESPACE [-m N] [-b N]\n"
"\n"
"The set-* actions call the pulsar.set_* functions of the same names: 0 is\n"
"no limit; a rate left out is no limit.  The namespace's limits apply to\n"
"its topics unless a topic sets its own; \"pulsar-pg namespaces policies\"\n"
"shows them.\n"
"\n"
"Options:\n"
"  -t, --max-topics-per-namespace=N\n"
"  -m, --max-subscriptions-per-topic=N, --max-unacked-messages-per-subscription=N\n"
"  -c, --max-consumers-per-topic=N, --max-consumers-per-subscription=N\n"
"  -m, --msg-publish-rate=N, --msg-dispatch-rate=N   messages per second\n"
"  -b, --byte-publish-rate=N, --byte-dispatch-rate=N bytes per second\n"
"  -d, --dbname=CONNINFO    database to connect to\n"
"  -?, --help               show this help and exit\n";

static const char *stats_usage =
"Usage:\n"
"  pulsar-pg stats TOPIC [OPTION]...\n"
"\n"
"Prints pulsar.topic_stats of a topic or partition as indented text.\n"
"\n"
"Options:\n"
"  -j, --json               print the JSON document as the server returns it\n"
"  -i, --internal           pulsar.topic_internal_stats instead (ledgers,\n"
"                           segments, cursors)\n"
"  -d, --dbname=CONNINFO    database to connect to\n"
"  -?, --help               show this help and exit\n";

/*
 * Wrong arguments: say what is wrong, show the usage on stderr, exit 2.
 */
void
cli_usage_error(const char *usage, const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n%s", usage);
	exit(EXIT_USAGE);
}

void
cli_print_help(const char *usage)
{
	fputs(usage, stdout);
	exit(0);
}

long
cli_parse_long(const char *usage, const char *option, const char *value,
			   long min, long max)
{
	char	   *end;
	long		result;

	errno = 0;
	result = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || result < min || result > max)
		cli_usage_error(usage, "invalid value \"%s\" for %s: an integer from %ld to %ld is expected",
						value, option, min, max);
	return result;
}

double
cli_parse_double(const char *usage, const char *option, const char *value,
				 double min, double max)
{
	char	   *end;
	double		result;

	errno = 0;
	result = strtod(value, &end);
	if (errno != 0 || end == value || *end != '\0' || !(result >= min) || !(result <= max))
		cli_usage_error(usage, "invalid value \"%s\" for %s: a number from %g to %g is expected",
						value, option, min, max);
	return result;
}

/*
 * getopt_long's complaints go to stderr already; finish them with the
 * usage and exit 2.
 */
void
cli_bad_option(const char *usage)
{
	fprintf(stderr, "\n%s", usage);
	exit(EXIT_USAGE);
}

/*
 * getopt_long returned '?': for -? show the help, otherwise getopt_long
 * has complained about a wrong option already.
 */
void
cli_help_or_bad_option(char **argv, const char *usage)
{
	if (strcmp(argv[optind - 1], "-?") == 0)
		cli_print_help(usage);
	cli_bad_option(usage);
}

/* The one positional argument a command takes, or a usage error. */
static const char *
one_argument(int argc, char **argv, const char *usage, const char *what)
{
	if (optind >= argc)
		cli_usage_error(usage, "%s is missing", what);
	if (optind + 1 < argc)
		cli_usage_error(usage, "too many arguments, starting with \"%s\"", argv[optind + 1]);
	return argv[optind];
}

/* Append s to buf as a JSON string literal. */
static void
append_json_string(StringInfo buf, const char *s)
{
	appendStringInfoChar(buf, '"');
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				appendStringInfoString(buf, "\\\"");
				break;
			case '\\':
				appendStringInfoString(buf, "\\\\");
				break;
			case '\n':
				appendStringInfoString(buf, "\\n");
				break;
			case '\r':
				appendStringInfoString(buf, "\\r");
				break;
			case '\t':
				appendStringInfoString(buf, "\\t");
				break;
			default:
				if (*p < 0x20)
					appendStringInfo(buf, "\\u%04x", *p);
				else
					appendStringInfoChar(buf, (char) *p);
		}
	}
	appendStringInfoChar(buf, '"');
}

/* Read a whole file (or standard input for "-"); exits on failure. */
static char *
read_file(const char *path, int *length)
{
	FILE	   *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	StringInfoData buf;
	char		chunk[65536];
	size_t		n;

	if (f == NULL)
	{
		fprintf(stderr, "%s: could not open \"%s\": %m\n", progname, path);
		exit(EXIT_SERVER_ERROR);
	}
	initStringInfo(&buf);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		appendBinaryStringInfo(&buf, chunk, (int) n);
	if (ferror(f))
	{
		fprintf(stderr, "%s: could not read \"%s\": %m\n", progname, path);
		exit(EXIT_SERVER_ERROR);
	}
	if (f != stdin)
		fclose(f);
	*length = buf.len;
	return buf.data;
}

/*
 * Print one message of a result whose columns are message_id, key,
 * payload (bytea, text format), properties.
 */
static void
print_message(PGresult *res, int row, bool payload_only)
{
	size_t		len;
	unsigned char *payload = NULL;

	if (!PQgetisnull(res, row, 2))
	{
		payload = PQunescapeBytea((const unsigned char *) PQgetvalue(res, row, 2), &len);
		if (payload == NULL)
		{
			fprintf(stderr, "%s: out of memory\n", progname);
			exit(EXIT_SERVER_ERROR);
		}
	}
	if (payload_only)
	{
		if (payload)
			fwrite(payload, 1, len, stdout);
		fputc('\n', stdout);
	}
	else
	{
		printf("----- got message -----\n");
		printf("message_id:[%s], key:[%s], properties:[%s], content:",
			   PQgetvalue(res, row, 0),
			   PQgetisnull(res, row, 1) ? "null" : PQgetvalue(res, row, 1),
			   PQgetvalue(res, row, 3));
		if (payload)
			fwrite(payload, 1, len, stdout);
		else
			fputs("null", stdout);
		fputc('\n', stdout);
	}
	if (payload)
		PQfreemem(payload);
}

/*
 * Parse the global options before the command: -d/--dbname, --help,
 * --version.  Returns the index of the command word.
 */
static int
parse_global_options(int argc, char **argv)
{
	int			i = 1;

	while (i < argc && argv[i][0] == '-')
	{
		const char *arg = argv[i];

		if (strcmp(arg, "-?") == 0 || strcmp(arg, "--help") == 0)
			cli_print_help(main_usage);
		else if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0)
		{
			printf("pulsar-pg (pulsar_pg) %s\n", PULSAR_PG_VERSION);
			exit(0);
		}
		else if (strcmp(arg, "-d") == 0 || strcmp(arg, "--dbname") == 0)
		{
			if (i + 1 >= argc)
				cli_usage_error(main_usage, "option %s needs a value", arg);
			cli_conninfo = argv[i + 1];
			i += 2;
		}
		else if (strncmp(arg, "--dbname=", 9) == 0)
		{
			cli_conninfo = arg + 9;
			i++;
		}
		else if (strncmp(arg, "-d", 2) == 0)
		{
			cli_conninfo = arg + 2;
			i++;
		}
		else
			cli_usage_error(main_usage, "unknown option \"%s\"", arg);
	}
	return i;
}

/* Start parsing a command's options afresh. */
void
cli_reset_getopt(void)
{
	optind = 1;
	opterr = 1;
}

/*
 * produce TOPIC -m MSG [-n N] [-k KEY] [-p k=v ...] [-f FILE]
 */
typedef struct Payload
{
	char	   *data;
	int			length;
} Payload;

static int
cmd_produce(int argc, char **argv)
{
	static struct option long_options[] = {
		{"message", required_argument, NULL, 'm'},
		{"file", required_argument, NULL, 'f'},
		{"num-produce", required_argument, NULL, 'n'},
		{"key", required_argument, NULL, 'k'},
		{"property", required_argument, NULL, 'p'},
		{"quiet", no_argument, NULL, 'q'},
		{"dbname", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	Payload    *payloads = pg_malloc(sizeof(Payload) * argc);
	int			npayloads = 0;
	long		repeat = 1;
	const char *key = NULL;
	StringInfoData props;
	bool		quiet = false;
	const char *topic;
	int			c;
	PGconn	   *conn;
	long		sent = 0;

	initStringInfo(&props);
	cli_reset_getopt();
	while ((c = getopt_long(argc, argv, "m:f:n:k:p:qd:?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'm':
				payloads[npayloads].data = optarg;
				payloads[npayloads].length = strlen(optarg);
				npayloads++;
				break;
			case 'f':
				payloads[npayloads].data = read_file(optarg, &payloads[npayloads].length);
				npayloads++;
				break;
			case 'n':
				repeat = cli_parse_long(produce_usage, "-n", optarg, 1, LONG_MAX);
				break;
			case 'k':
				key = optarg;
				break;
			case 'p':
				{
					char	   *eq = strchr(optarg, '=');

					if (eq == NULL || eq == optarg)
						cli_usage_error(produce_usage,
										"invalid property \"%s\": KEY=VALUE is expected", optarg);
					*eq = '\0';
					appendStringInfoString(&props, props.len ? ", " : "{");
					append_json_string(&props, optarg);
					appendStringInfoString(&props, ": ");
					append_json_string(&props, eq + 1);
					*eq = '=';
					break;
				}
			case 'q':
				quiet = true;
				break;
			case 'd':
				cli_conninfo = optarg;
				break;
			case OPT_HELP:
				cli_print_help(produce_usage);
				break;
			case '?':
				cli_help_or_bad_option(argv, produce_usage);
				break;
			default:
				cli_bad_option(produce_usage);
		}
	}
	topic = one_argument(argc, argv, produce_usage, "the topic");
	if (npayloads == 0)
		cli_usage_error(produce_usage, "no message to send: give -m or -f");
	if (props.len)
		appendStringInfoChar(&props, '}');

	conn = cli_connect();
	for (long i = 0; i < repeat; i++)
	{
		for (int m = 0; m < npayloads; m++)
		{
			const Oid	types[] = {TEXTOID, BYTEAOID, TEXTOID, TEXTOID};
			const char *values[] = {topic, payloads[m].data, key, props.len ? props.data : NULL};
			const int	lengths[] = {0, payloads[m].length, 0, 0};
			const int	formats[] = {0, 1, 0, 0};
			PGresult   *res;

			while ((res = cli_query_params(conn,
										   "SELECT pulsar.send($1, $2, key => $3, properties => $4::jsonb)",
										   4, types, values, lengths, formats, 0)) == NULL)
			{
				if (!cli_reconnect(&conn))
					exit(EXIT_SERVER_ERROR);
			}
			if (!quiet)
			{
				printf("%s\n", PQgetisnull(res, 0, 0) ? "null" : PQgetvalue(res, 0, 0));
				fflush(stdout);
			}
			PQclear(res);
			sent++;
		}
	}
	PQfinish(conn);
	fprintf(stderr, "%s: %ld message%s produced\n", progname, sent, sent == 1 ? "" : "s");
	return 0;
}

/*
 * consume TOPIC -s SUB [-t TYPE] [-p POSITION] [-n N]
 */
typedef struct ConsumeOptions
{
	const char *topic;
	const char *subscription;
	const char *type;
	const char *position;
	char	   *channel;		/* as pulsar.subscribe returned it */
} ConsumeOptions;

/*
 * Subscribe and LISTEN on the subscription's channel.  Returns false if the
 * connection was lost.
 */
static bool
consume_setup(PGconn *conn, ConsumeOptions *opts)
{
	const char *values[] = {opts->topic, opts->subscription, opts->type, opts->position};
	PGresult   *res;
	char	   *listen;
	char	   *quoted;

	res = cli_query(conn, "SELECT pulsar.subscribe($1, $2, $3, $4)", 4, values);
	if (res == NULL)
		return false;
	free(opts->channel);
	opts->channel = pg_strdup(PQgetvalue(res, 0, 0));
	PQclear(res);

	quoted = cli_quote_ident(conn, opts->channel);
	listen = psprintf("LISTEN %s", quoted);
	res = cli_query(conn, listen, 0, NULL);
	free(listen);
	free(quoted);
	if (res == NULL)
		return false;
	PQclear(res);
	return true;
}

/* Free every notification queued on the connection; returns how many. */
static int
drain_notifications(PGconn *conn)
{
	PGnotify   *notify;
	int			n = 0;

	while ((notify = PQnotifies(conn)) != NULL)
	{
		PQfreemem(notify);
		n++;
	}
	return n;
}

typedef enum
{
	WAKE_NOTIFIED,
	WAKE_RECHECK,
	WAKE_LOST,
	WAKE_INTERRUPTED
} WakeReason;

/*
 * Sleep until the subscription's channel is notified, recheck_ms pass
 * (0: no limit) or the user interrupts.  Notifications that arrived while
 * the last receive ran count: they may announce messages that committed
 * after that receive took its snapshot.
 */
static WakeReason
wait_for_messages(PGconn *conn, int recheck_ms)
{
	int64		deadline = cli_now_us() + (int64) recheck_ms * 1000;

	if (drain_notifications(conn) > 0)
		return WAKE_NOTIFIED;
	for (;;)
	{
		int			timeout = -1;
		int			rc;

		if (recheck_ms > 0)
		{
			int64		left = deadline - cli_now_us();

			if (left <= 0)
				return WAKE_RECHECK;
			timeout = (int) ((left + 999) / 1000);
		}
		rc = cli_wait_socket(conn, timeout);
		if (rc == CLI_WAIT_INTERRUPTED)
			return WAKE_INTERRUPTED;
		if (rc == CLI_WAIT_TIMEOUT)
			continue;
		if (!PQconsumeInput(conn) || PQstatus(conn) == CONNECTION_BAD)
			return WAKE_LOST;
		if (drain_notifications(conn) > 0)
			return WAKE_NOTIFIED;
	}
}

#define CONSUME_BATCH 100

static int
cmd_consume(int argc, char **argv)
{
	static struct option long_options[] = {
		{"subscription", required_argument, NULL, 's'},
		{"type", required_argument, NULL, 't'},
		{"position", required_argument, NULL, 'p'},
		{"num-messages", required_argument, NULL, 'n'},
		{"recheck-interval", required_argument, NULL, 'r'},
		{"payload-only", no_argument, NULL, 'P'},
		{"dbname", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	ConsumeOptions opts = {NULL, NULL, "exclusive", "latest", NULL};
	long		limit = 1;
	double		recheck = 1;
	bool		payload_only = false;
	int			c;
	PGconn	   *conn;
	long		received = 0;

	cli_reset_getopt();
	while ((c = getopt_long(argc, argv, "s:t:p:n:r:Pd:?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 's':
				opts.subscription = optarg;
				break;
			case 't':
				if (strcmp(optarg, "exclusive") != 0 && strcmp(optarg, "failover") != 0 &&
					strcmp(optarg, "shared") != 0 && strcmp(optarg, "key_shared") != 0)
					cli_usage_error(consume_usage,
									"invalid subscription type \"%s\": exclusive, failover, shared or key_shared is expected",
									optarg);
				opts.type = optarg;
				break;
			case 'p':
				if (strcmp(optarg, "latest") != 0 && strcmp(optarg, "earliest") != 0)
					cli_usage_error(consume_usage,
									"invalid position \"%s\": latest or earliest is expected", optarg);
				opts.position = optarg;
				break;
			case 'n':
				limit = cli_parse_long(consume_usage, "-n", optarg, 0, LONG_MAX);
				break;
			case 'r':
				recheck = cli_parse_double(consume_usage, "--recheck-interval", optarg, 0, 86400);
				break;
			case 'P':
				payload_only = true;
				break;
			case 'd':
				cli_conninfo = optarg;
				break;
			case OPT_HELP:
				cli_print_help(consume_usage);
				break;
			case '?':
				cli_help_or_bad_option(argv, consume_usage);
				break;
			default:
				cli_bad_option(consume_usage);
		}
	}
	opts.topic = one_argument(argc, argv, consume_usage, "the topic");
	if (opts.subscription == NULL)
		cli_usage_error(consume_usage, "the subscription is missing: give -s");

	cli_catch_signals();
	conn = cli_connect();
	while (!consume_setup(conn, &opts))
	{
		if (!cli_reconnect(&conn))
			goto done;
	}

	while (!cli_interrupted)
	{
		long		want = CONSUME_BATCH;
		char		want_text[32];
		const char *values[3];
		PGresult   *res;
		StringInfoData ids;
		int			rows;

		if (limit > 0 && limit - received < want)
			want = limit - received;
		snprintf(want_text, sizeof(want_text), "%ld", want);
		values[0] = opts.topic;
		values[1] = opts.subscription;
		values[2] = want_text;
		res = cli_query(conn,
						"SELECT message_id, key, payload, properties FROM pulsar.receive($1, $2, $3::int)",
						3, values);
		if (res == NULL)
			goto lost;

		rows = PQntuples(res);
		initStringInfo(&ids);
		appendStringInfoChar(&ids, '{');
		for (int i = 0; i < rows; i++)
		{
			print_message(res, i, payload_only);
			appendStringInfo(&ids, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
		}
		appendStringInfoChar(&ids, '}');
		fflush(stdout);
		PQclear(res);

		if (rows > 0)
		{
			values[2] = ids.data;
			res = cli_query(conn, "SELECT pulsar.ack($1, $2, $3::pulsar.message_id[])", 3, values);
			if (res == NULL)
			{
				pfree(ids.data);
				goto lost;
			}
			PQclear(res);
			received += rows;
		}
		pfree(ids.data);
		if (limit > 0 && received >= limit)
			break;
		if (rows == want)
			continue;			/* there may be more: no need to wait */

		switch (wait_for_messages(conn, (int) (recheck * 1000)))
		{
			case WAKE_NOTIFIED:
			case WAKE_RECHECK:
				continue;
			case WAKE_INTERRUPTED:
				goto done;
			case WAKE_LOST:
				goto lost;
		}
		continue;

lost:
		/* the session's consumer left with it: subscribe and LISTEN again */
		do
		{
			if (!cli_reconnect(&conn))
				goto done;
		} while (!consume_setup(conn, &opts));
	}

done:
	if (conn && PQstatus(conn) == CONNECTION_OK)
	{
		const char *values[] = {opts.topic, opts.subscription};
		PGresult   *res;

		/* leave at once rather than when the session's end is noticed */
		res = PQexecParams(conn, "SELECT pulsar.close_consumer($1, $2)", 2,
						   NULL, values, NULL, NULL, 0);
		PQclear(res);
	}
	PQfinish(conn);
	fprintf(stderr, "%s: %ld message%s received\n", progname, received, received == 1 ? "" : "s");
	return 0;
}

/*
 * read TOPIC [--start-after ID] [-n N]
 */
#define READ_BATCH 1000

static int
cmd_read(int argc, char **argv)
{
	static struct option long_options[] = {
		{"start-after", required_argument, NULL, 'a'},
		{"num-messages", required_argument, NULL, 'n'},
		{"payload-only", no_argument, NULL, 'P'},
		{"dbname", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	char	   *last = pg_strdup("earliest");
	long		limit = 0;
	bool		payload_only = false;
	const char *topic;
	int			c;
	PGconn	   *conn;
	long		count = 0;

	cli_reset_getopt();
	while ((c = getopt_long(argc, argv, "n:Pd:?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'a':
				free(last);
				last = pg_strdup(optarg);
				break;
			case 'n':
				limit = cli_parse_long(read_usage, "-n", optarg, 0, LONG_MAX);
				break;
			case 'P':
				payload_only = true;
				break;
			case 'd':
				cli_conninfo = optarg;
				break;
			case OPT_HELP:
				cli_print_help(read_usage);
				break;
			case '?':
				cli_help_or_bad_option(argv, read_usage);
				break;
			default:
				cli_bad_option(read_usage);
		}
	}
	topic = one_argument(argc, argv, read_usage, "the topic");

	conn = cli_connect();
	for (;;)
	{
		long		want = READ_BATCH;
		char		want_text[32];
		const char *values[3];
		PGresult   *res;
		int			rows;

		if (limit > 0 && limit - count < want)
			want = limit - count;
		if (want == 0)
			break;
		snprintf(want_text, sizeof(want_text), "%ld", want);
		values[0] = topic;
		values[1] = last;
		values[2] = want_text;
		res = cli_query(conn,
						"SELECT message_id, key, payload, properties FROM pulsar.read($1, $2, $3::int)",
						3, values);
		if (res == NULL)
		{
			/* reading has no side effect: continue after the last id */
			if (!cli_reconnect(&conn))
				exit(EXIT_SERVER_ERROR);
			continue;
		}
		rows = PQntuples(res);
		for (int i = 0; i < rows; i++)
			print_message(res, i, payload_only);
		if (rows > 0)
		{
			free(last);
			last = pg_strdup(PQgetvalue(res, rows - 1, 0));
		}
		PQclear(res);
		count += rows;
		if (rows < want)
			break;
	}
	fflush(stdout);
	PQfinish(conn);
	fprintf(stderr, "%s: %ld message%s read\n", progname, count, count == 1 ? "" : "s");
	return 0;
}

/*
 * The set-* actions of namespaces: the function each calls, the options
 * that give its values (the long options of pulsar-admin and a short one),
 * and whether it takes a count (one value, required) or a rate (two,
 * optional).
 */
typedef struct NamespaceAction
{
	const char *action;
	const char *function;
	char		short_option;	/* of the first value */
	const char *long_options[2];	/* a rate's messages, then bytes */
	bool		rate;
} NamespaceAction;

static const NamespaceAction namespace_actions[] = {
	{"set-max-topics-per-namespace", "set_max_topics_per_namespace", 't',
	{"max-topics-per-namespace", NULL}, false},
	{"set-max-subscriptions-per-topic", "set_max_subscriptions_per_topic", 'm',
	{"max-subscriptions-per-topic", NULL}, false},
	{"set-max-consumers-per-topic", "set_max_consumers_per_topic", 'c',
	{"max-consumers-per-topic", NULL}, false},
	{"set-max-consumers-per-subscription", "set_max_consumers_per_subscription", 'c',
	{"max-consumers-per-subscription", NULL}, false},
	{"set-max-unacked-messages-per-subscription",
		"set_max_unacked_messages_per_subscription", 'm',
	{"max-unacked-messages-per-subscription", NULL}, false},
	{"set-publish-rate", "set_publish_rate", 'm',
	{"msg-publish-rate", "byte-publish-rate"}, true},
	{"set-dispatch-rate", "set_dispatch_rate", 'm',
	{"msg-dispatch-rate", "byte-dispatch-rate"}, true},
};

/* Whether "namespaces ACTION" is one of the limit actions of this file. */
static bool
is_namespace_limit_action(const char *action)
{
	for (int i = 0; i < lengthof(namespace_actions); i++)
		if (strcmp(action, namespace_actions[i].action) == 0)
			return true;
	return false;
}

/*
 * namespaces set-max-...|set-publish-rate|set-dispatch-rate TENANT/NAMESPACE
 * OPTIONS; "namespaces policies", in namespaces.c, shows them
 */
static int
cmd_namespace_limits(int argc, char **argv)
{
	const NamespaceAction *chosen = NULL;
	struct option long_options[6];
	const char *values[3] = {NULL, NULL, NULL};
	const char *action;
	const char *namespace;
	int			c;
	PGconn	   *conn;
	PGresult   *res;

	/* the action comes first, so that its options can be known */
	if (argc < 2)
		cli_usage_error(namespace_limits_usage, "the action is missing: set-...");
	action = argv[1];
	if (strcmp(action, "-?") == 0 || strcmp(action, "--help") == 0)
		cli_print_help(namespace_limits_usage);
	for (int i = 0; i < lengthof(namespace_actions); i++)
		if (strcmp(action, namespace_actions[i].action) == 0)
			chosen = &namespace_actions[i];
	if (chosen == NULL)
		cli_usage_error(namespace_limits_usage, "unknown action \"%s\"", action);

	memset(long_options, 0, sizeof(long_options));
	long_options[0] = (struct option)
	{
		"dbname", required_argument, NULL, 'd'
	};
	long_options[1] = (struct option)
	{
		"help", no_argument, NULL, OPT_HELP
	};
	long_options[2] = (struct option)
	{
		chosen->long_options[0], required_argument, NULL, chosen->short_option
	};
	if (chosen->rate)
		long_options[3] = (struct option)
		{
			chosen->long_options[1], required_argument, NULL, 'b'
		};

	cli_reset_getopt();
	argc--;
	argv++;
	argv[0] = argv[-1];
	while ((c = getopt_long(argc, argv, "t:m:c:b:d:?", long_options, NULL)) != -1)
	{
		if (c == 'd')
			cli_conninfo = optarg;
		else if (c == OPT_HELP)
			cli_print_help(namespace_limits_usage);
		else if (c == '?')
			cli_help_or_bad_option(argv, namespace_limits_usage);
		else if (c == chosen->short_option)
			values[1] = psprintf("%ld", cli_parse_long(namespace_limits_usage,
													   chosen->long_options[0],
													   optarg, 0, chosen->rate ? LONG_MAX : INT_MAX));
		else if (chosen->rate && c == 'b')
			values[2] = psprintf("%ld", cli_parse_long(namespace_limits_usage,
													   chosen->long_options[1],
													   optarg, 0, LONG_MAX));
		else
			cli_usage_error(namespace_limits_usage, "namespaces %s takes no -%c", action, c);
	}
	if (optind >= argc)
		cli_usage_error(namespace_limits_usage, "the namespace is missing");
	namespace = argv[optind++];
	if (optind < argc)
		cli_usage_error(namespace_limits_usage, "too many arguments, starting with \"%s\"", argv[optind]);
	values[0] = namespace;

	if (!chosen->rate && values[1] == NULL)
		cli_usage_error(namespace_limits_usage, "namespaces %s needs --%s",
						action, chosen->long_options[0]);
	conn = cli_connect();
	res = cli_query(conn,
					psprintf(chosen->rate ?
							 "SELECT pulsar.%s($1, $2::bigint, $3::bigint)" :
							 "SELECT pulsar.%s($1, $2::int)",
							 chosen->function),
					chosen->rate ? 3 : 2, values);
	if (res == NULL)
		cli_die_result(conn, NULL);
	printf("%s of %s set\n", chosen->action + strlen("set-"), namespace);
	PQclear(res);
	PQfinish(conn);
	return 0;
}

/*
 * topics list [TENANT/NAMESPACE] | create TOPIC [-p N] | delete TOPIC [--force]
 *		  | compact TOPIC | compaction-status TOPIC [-w]
 */
static int
cmd_topics(int argc, char **argv)
{
	static struct option long_options[] = {
		{"partitions", required_argument, NULL, 'p'},
		{"force", no_argument, NULL, 'F'},
		{"wait-complete", no_argument, NULL, 'w'},
		{"dbname", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	long		partitions = -1;
	bool		force = false;
	bool		wait_complete = false;
	const char *action;
	int			c;
	PGconn	   *conn;
	PGresult   *res;

	cli_reset_getopt();
	while ((c = getopt_long(argc, argv, "p:wd:?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'p':
				partitions = cli_parse_long(topics_usage, "-p", optarg, 0, INT_MAX);
				break;
			case 'F':
				force = true;
				break;
			case 'w':
				wait_complete = true;
				break;
			case 'd':
				cli_conninfo = optarg;
				break;
			case OPT_HELP:
				cli_print_help(topics_usage);
				break;
			case '?':
				cli_help_or_bad_option(argv, topics_usage);
				break;
			default:
				cli_bad_option(topics_usage);
		}
	}
	if (optind >= argc)
		cli_usage_error(topics_usage, "the action is missing: list, create, delete, compact or compaction-status");
	action = argv[optind++];
	if (wait_complete && strcmp(action, "compaction-status") != 0)
		cli_usage_error(topics_usage, "only topics compaction-status takes -w");

	if (strcmp(action, "list") == 0)
	{
		const char *namespace = NULL;

		if (partitions >= 0 || force)
			cli_usage_error(topics_usage, "topics list takes no -p or --force");
		if (optind < argc)
			namespace = argv[optind++];
		if (optind < argc)
			cli_usage_error(topics_usage, "too many arguments, starting with \"%s\"", argv[optind]);

		conn = cli_connect();
		res = cli_query(conn,
						"SELECT topic, partitions FROM pulsar.list_topics($1)",
						1, &namespace);
		if (res == NULL)
			cli_die_result(conn, NULL);
		for (int i = 0; i < PQntuples(res); i++)
			printf("%s\t%s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	}
	else if (strcmp(action, "create") == 0)
	{
		const char *values[2];
		char		partitions_text[32];

		if (force)
			cli_usage_error(topics_usage, "topics create takes no --force");
		if (optind >= argc)
			cli_usage_error(topics_usage, "the topic is missing");
		values[0] = argv[optind++];
		if (optind < argc)
			cli_usage_error(topics_usage, "too many arguments, starting with \"%s\"", argv[optind]);
		snprintf(partitions_text, sizeof(partitions_text), "%ld", Max(partitions, 0));
		values[1] = partitions_text;

		conn = cli_connect();
		res = cli_query(conn, "SELECT pulsar.create_topic($1, $2::int)", 2, values);
		if (res == NULL)
			cli_die_result(conn, NULL);
		printf("%s\n", PQgetvalue(res, 0, 0));
	}
	else if (strcmp(action, "delete") == 0)
	{
		const char *values[2];

		if (partitions >= 0)
			cli_usage_error(topics_usage, "topics delete takes no -p");
		if (optind >= argc)
			cli_usage_error(topics_usage, "the topic is missing");
		values[0] = argv[optind++];
		if (optind < argc)
			cli_usage_error(topics_usage, "too many arguments, starting with \"%s\"", argv[optind]);
		values[1] = force ? "true" : "false";

		conn = cli_connect();
		res = cli_query(conn, "SELECT pulsar.delete_topic($1, $2::boolean)", 2, values);
		if (res == NULL)
			cli_die_result(conn, NULL);
		printf("deleted %s\n", values[0]);
	}
	else if (strcmp(action, "compact") == 0 ||
			 strcmp(action, "compaction-status") == 0)
	{
		bool		compact = strcmp(action, "compact") == 0;
		const char *topic;

		if (partitions >= 0 || force)
			cli_usage_error(topics_usage, "topics %s takes no -p or --force", action);
		if (optind >= argc)
			cli_usage_error(topics_usage, "the topic is missing");
		topic = argv[optind++];
		if (optind < argc)
			cli_usage_error(topics_usage, "too many arguments, starting with \"%s\"", argv[optind]);

		conn = cli_connect();
		if (compact)
		{
			res = cli_query(conn, "SELECT pulsar.compact($1)", 1, &topic);
			if (res == NULL)
				cli_die_result(conn, NULL);
			printf("Topic compaction done for %s\n", topic);
		}
		else
		{
			const char *status;

			for (;;)
			{
				res = cli_query(conn,
								"SELECT s ->> 'status', s ->> 'lastError'"
								"  FROM pulsar.compaction_status($1) s",
								1, &topic);
				if (res == NULL)
					cli_die_result(conn, NULL);
				status = PQgetvalue(res, 0, 0);
				if (!wait_complete || strcmp(status, "RUNNING") != 0)
					break;
				PQclear(res);
				pg_usleep(500000L);
			}
			/* pulsar-admin's words */
			if (strcmp(status, "SUCCESS") == 0)
				printf("Compaction was a success\n");
			else if (strcmp(status, "RUNNING") == 0)
				printf("Compaction is running\n");
			else if (strcmp(status, "NOT_RUN") == 0)
				printf("Compaction has not been run\n");
			else
			{
				fprintf(stderr, "Error in compaction: %s\n",
						PQgetisnull(res, 0, 1) ? "unknown" : PQgetvalue(res, 0, 1));
				PQclear(res);
				PQfinish(conn);
				return 1;
			}
		}
	}
	else
		cli_usage_error(topics_usage, "unknown action \"%s\": list, create, delete, compact or compaction-status is expected", action);

	PQclear(res);
	PQfinish(conn);
	return 0;
}

/*
 * stats TOPIC [--json] [--internal]
 *
 * The readable form walks the JSON document in SQL, depth first, one row
 * per key or array element: depth, label ("-" for an array element),
 * and the scalar value (NULL for an object or array with members).
 */
static const char *stats_walk_sql =
"WITH RECURSIVE node(path, depth, label, value) AS ("
"  SELECT ARRAY[]::bigint[], -1, NULL::text, $1::jsonb"
"  UNION ALL"
"  SELECT n.path || c.i, n.depth + 1, c.label, c.value"
"    FROM node n CROSS JOIN LATERAL ("
"      SELECT row_number() OVER () AS i, e.key AS label, e.value"
"        FROM jsonb_each(CASE WHEN jsonb_typeof(n.value) = 'object' THEN n.value END) e"
"      UNION ALL"
"      SELECT a.i, '-', a.value"
"        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(n.value) = 'array' THEN n.value END)"
"             WITH ORDINALITY a(value, i)"
"    ) c"
")"
"SELECT depth, label,"
"       CASE WHEN jsonb_typeof(value) NOT IN ('object', 'array') THEN value #>> '{}'"
"            WHEN value IN ('{}', '[]') THEN value::text END"
"  FROM node WHERE depth >= 0 ORDER BY path";

static void
print_stats_readable(PGconn *conn, const char *json)
{
	PGresult   *res = cli_query(conn, stats_walk_sql, 1, &json);
	bool		dash = false;

	if (res == NULL)
		cli_die_result(conn, NULL);
	for (int i = 0; i < PQntuples(res); i++)
	{
		int			depth = atoi(PQgetvalue(res, i, 0));
		const char *label = PQgetvalue(res, i, 1);
		bool		composite = PQgetisnull(res, i, 2);
		int			indent = depth * 2;

		if (strcmp(label, "-") == 0 && composite)
		{
			/* an object in an array: its first member goes on the dash line */
			dash = true;
			continue;
		}
		if (dash)
		{
			printf("%*s- ", indent - 2, "");
			dash = false;
		}
		else
			printf("%*s", indent, "");
		if (strcmp(label, "-") == 0)
			printf("- %s\n", PQgetvalue(res, i, 2));
		else if (composite)
			printf("%s:\n", label);
		else
			printf("%s: %s\n", label, PQgetvalue(res, i, 2));
	}
	PQclear(res);
}

static int
cmd_stats(int argc, char **argv)
{
	static struct option long_options[] = {
		{"json", no_argument, NULL, 'j'},
		{"internal", no_argument, NULL, 'i'},
		{"dbname", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	bool		json = false;
	bool		internal = false;
	const char *topic;
	int			c;
	PGconn	   *conn;
	PGresult   *res;

	cli_reset_getopt();
	while ((c = getopt_long(argc, argv, "jid:?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'j':
				json = true;
				break;
			case 'i':
				internal = true;
				break;
			case 'd':
				cli_conninfo = optarg;
				break;
			case OPT_HELP:
				cli_print_help(stats_usage);
				break;
			case '?':
				cli_help_or_bad_option(argv, stats_usage);
				break;
			default:
				cli_bad_option(stats_usage);
		}
	}
	topic = one_argument(argc, argv, stats_usage, "the topic");

	conn = cli_connect();
	res = cli_query(conn,
					internal ? "SELECT pulsar.topic_internal_stats($1)" : "SELECT pulsar.topic_stats($1)",
					1, &topic);
	if (res == NULL)
		cli_die_result(conn, NULL);
	if (json)
		printf("%s\n", PQgetvalue(res, 0, 0));
	else
		print_stats_readable(conn, PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
	return 0;
}

int
main(int argc, char **argv)
{
	int			cmd;
	const char *command;

	cmd = parse_global_options(argc, argv);
	if (cmd >= argc)
		cli_usage_error(main_usage, "no command given");
	command = argv[cmd];

	/*
	 * Each command parses its own argv, whose argv[0] names the command in
	 * getopt_long's complaints.
	 */
	argc -= cmd;
	argv += cmd;
	argv[0] = psprintf("%s %s", progname, command);
	if (strcmp(command, "produce") == 0)
		return cmd_produce(argc, argv);
	if (strcmp(command, "consume") == 0)
		return cmd_consume(argc, argv);
	if (strcmp(command, "read") == 0)
		return cmd_read(argc, argv);
	if (strcmp(command, "topics") == 0 && argc > 1 &&
		is_topic_permission_action(argv[1]))
		return cmd_topic_permissions(argc, argv);
	if (strcmp(command, "topics") == 0)
		return cmd_topics(argc, argv);
	if (strcmp(command, "namespaces") == 0 && argc > 1 &&
		is_namespace_permission_action(argv[1]))
		return cmd_namespace_permissions(argc, argv);
	if (strcmp(command, "namespaces") == 0 && argc > 1 &&
		is_namespace_limit_action(argv[1]))
		return cmd_namespace_limits(argc, argv);
	if (strcmp(command, "namespaces") == 0)
		return namespaces_main(argc, argv);
	if (strcmp(command, "tenants") == 0)
		return cmd_tenants(argc, argv);
	if (strcmp(command, "stats") == 0)
		return cmd_stats(argc, argv);
	if (strcmp(command, "perf") == 0)
		return perf_main(argc, argv);
	if (strcmp(command, "help") == 0)
		cli_print_help(main_usage);
	cli_usage_error(main_usage, "unknown command \"%s\"", command);
}
