/*-------------------------------------------------------------------------
 *
 * namespaces.c
 *	  pulsar-pg namespaces: a namespace's storage policies, in the form of
 *	  pulsar-admin's namespaces commands.
 *
 * Each command calls one of the extension's policy functions
 * (pulsar.set_retention, set_message_ttl, set_backlog_quota,
 * set_subscription_expiration_time, set_inactive_topic_policies,
 * set_compaction_threshold, remove_policy, get_policies).  Sizes take
 * pulsar-admin's suffixes (k, m, g, t: powers of 1024), times its units
 * (s, m, h, d, w; seconds without one), and -1 means unlimited where
 * pulsar-admin says so.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

#include "getopt_long.h"

#include "pulsar-pg.h"

static const char *namespaces_usage =
"Usage:\n"
"  pulsar-pg namespaces COMMAND TENANT/NAMESPACE [OPTION]...\n"
"\n"
"Commands, as pulsar-admin's:\n"
"  policies                 print every policy: as set on the namespace, the\n"
"                           server default, and the one in effect (JSON)\n"
"  get-retention            print the namespace's retention policy (JSON;\n"
"                           null when it sets none)\n"
"  set-retention -s SIZE -t TIME\n"
"                           keep acknowledged messages up to SIZE and TIME\n"
"                           (-1: unlimited; 0: nothing beyond what\n"
"                           subscriptions need)\n"
"  remove-retention         inherit the server default again\n"
"  set-message-ttl -ttl TIME\n"
"                           expire messages older than TIME (0: never)\n"
"  set-backlog-quota [-l SIZE] [-lt TIME] [-p POLICY] [-t TYPE]\n"
"                           bound the backlog by size and/or age; a limit\n"
"                           not given keeps its current value\n"
"  set-subscription-expiration-time -t MINUTES\n"
"                           remove subscriptions without consumers for that\n"
"                           long (0: never)\n"
"  set-inactive-topic-policies -e|--disable-delete-while-inactive -t TIME -m MODE\n"
"                           delete inactive topics\n"
"  set-compaction-threshold -t SIZE\n"
"                           compact topics whose backlog passes SIZE (0: never)\n"
"\n"
"Limits (set-max-topics-per-namespace, set-max-subscriptions-per-topic,\n"
"set-max-consumers-per-topic, set-max-consumers-per-subscription,\n"
"set-max-unacked-messages-per-subscription, set-publish-rate,\n"
"set-dispatch-rate): see \"pulsar-pg namespaces set-publish-rate --help\".\n"
"Permissions (grant-permission, revoke-permission, permissions,\n"
"grant-subscription-permission, revoke-subscription-permission): see\n"
"\"pulsar-pg namespaces grant-permission --help\".  Every command here is\n"
"for the namespace's tenant admins and superusers.\n"
"\n"
"Options:\n"
"  -s, --size=SIZE          retention size: bytes, or with a suffix k, m, g, t\n"
"  -t, --time=TIME          retention time, or subscription expiration time in\n"
"                           minutes, or max inactive duration; times take a unit\n"
"                           s, m, h, d or w (seconds without one)\n"
"  -ttl, --messageTTL=TIME  message TTL\n"
"  -l, --limit=SIZE         backlog size limit (-1: none)\n"
"  -lt, --limitTime=TIME    backlog age limit (-1 or 0: none)\n"
"  -p, --policy=POLICY      producer_request_hold (default), producer_exception\n"
"                           or consumer_backlog_eviction\n"
"  -t, --type=TYPE          set-backlog-quota: destination_storage (size) or\n"
"                           message_age (time); both limits live in one quota\n"
"  -e, --enable-delete-while-inactive\n"
"      --disable-delete-while-inactive (-d in this command only)\n"
"  -m, --delete-mode=MODE   delete_when_no_subscriptions or\n"
"                           delete_when_subscriptions_caught_up\n"
"  -t, --threshold=SIZE     compaction threshold\n"
"      --dbname=CONNINFO    database to connect to (-d too, except in\n"
"                           set-inactive-topic-policies)\n"
"  -?, --help               show this help and exit\n";

/* a size with pulsar-admin's suffixes, in bytes; -1 stays -1 */
static int64
parse_size(const char *option, const char *value)
{
	char	   *end;
	long long	number;
	int64		multiplier = 1;

	errno = 0;
	number = strtoll(value, &end, 10);
	if (errno != 0 || end == value)
		cli_usage_error(namespaces_usage, "invalid size \"%s\" for %s", value, option);
	switch (tolower((unsigned char) *end))
	{
		case '\0':
			break;
		case 'k':
			multiplier = INT64CONST(1024);
			break;
		case 'm':
			multiplier = INT64CONST(1024) * 1024;
			break;
		case 'g':
			multiplier = INT64CONST(1024) * 1024 * 1024;
			break;
		case 't':
			multiplier = INT64CONST(1024) * 1024 * 1024 * 1024;
			break;
		default:
			cli_usage_error(namespaces_usage, "invalid size \"%s\" for %s: the suffix is k, m, g or t",
							value, option);
	}
	if (*end != '\0' && end[1] != '\0')
		cli_usage_error(namespaces_usage, "invalid size \"%s\" for %s", value, option);
	if (number < -1 || (number > 0 && number > PG_INT64_MAX / multiplier))
		cli_usage_error(namespaces_usage, "invalid size \"%s\" for %s: -1 or a size from 0 is expected",
						value, option);
	return number < 0 ? -1 : number * multiplier;
}

/* a time with pulsar-admin's units, in seconds ('unit' without one) */
static int64
parse_time(const char *option, const char *value, int64 unit)
{
	char	   *end;
	long long	number;

	errno = 0;
	number = strtoll(value, &end, 10);
	if (errno != 0 || end == value || (*end != '\0' && end[1] != '\0'))
		cli_usage_error(namespaces_usage, "invalid time \"%s\" for %s", value, option);
	switch (*end)
	{
		case '\0':
			break;
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		case 'w':
			unit = 7 * 86400;
			break;
		default:
			cli_usage_error(namespaces_usage, "invalid time \"%s\" for %s: the unit is s, m, h, d or w",
							value, option);
	}
	if (number < -1 || (number > 0 && number > PG_INT64_MAX / unit / 1000000))
		cli_usage_error(namespaces_usage, "invalid time \"%s\" for %s: -1 or a time from 0 is expected",
						value, option);
	return number < 0 ? -1 : number * unit;
}

/* SQL text of a number, or NULL for -1 (unlimited) */
static const char *
limit_text(int64 value)
{
	return value < 0 ? NULL : psprintf(INT64_FORMAT, value);
}

/* runs a policy statement and prints its text result, if any */
static void
run_policy_sql(const char *sql, int nparams, const char *const *values,
			   bool print)
{
	PGconn	   *conn = cli_connect();
	PGresult   *res = cli_query(conn, sql, nparams, values);

	if (res == NULL)
		cli_die_result(conn, NULL);
	if (print)
		printf("%s\n", PQgetisnull(res, 0, 0) ? "null" : PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
}

/*
 * pulsar-admin spells some options with one dash and several letters
 * (-ttl, -lt), which getopt_long reads as bundled letters: they become
 * their long forms first.
 */
static void
translate_long_short_options(const char *command, int argc, char **argv)
{
	bool		d_disables = strcmp(command, "set-inactive-topic-policies") == 0;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-ttl") == 0)
			argv[i] = "--messageTTL";
		else if (strcmp(argv[i], "-lt") == 0)
			argv[i] = "--limitTime";
		/* as in pulsar-admin: not --dbname in this command */
		else if (d_disables && strcmp(argv[i], "-d") == 0)
			argv[i] = "--disable-delete-while-inactive";
	}
}

/*
 * namespaces COMMAND TENANT/NAMESPACE [OPTION]...
 */
int
namespaces_main(int argc, char **argv)
{
	enum
	{
		OPT_DISABLE = 1001,
		OPT_DBNAME
	};
	static struct option long_options[] = {
		{"size", required_argument, NULL, 's'},
		{"time", required_argument, NULL, 't'},
		{"type", required_argument, NULL, 't'},
		{"threshold", required_argument, NULL, 't'},
		{"max-inactive-duration", required_argument, NULL, 't'},
		{"messageTTL", required_argument, NULL, 'T'},
		{"limit", required_argument, NULL, 'l'},
		{"limitTime", required_argument, NULL, 'L'},
		{"policy", required_argument, NULL, 'p'},
		{"enable-delete-while-inactive", no_argument, NULL, 'e'},
		{"disable-delete-while-inactive", no_argument, NULL, OPT_DISABLE},
		{"delete-mode", required_argument, NULL, 'm'},
		{"dbname", required_argument, NULL, OPT_DBNAME},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	const char *command;
	const char *size = NULL;
	const char *time = NULL;
	const char *ttl = NULL;
	const char *limit = NULL;
	const char *limit_time = NULL;
	const char *policy = NULL;
	const char *mode = NULL;
	bool		enable = false;
	bool		disable = false;
	const char *values[5];
	int			c;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0)
	{
		if (argc < 2)
			cli_usage_error(namespaces_usage, "the command is missing");
		cli_print_help(namespaces_usage);
	}
	command = argv[1];
	argc--;
	argv++;
	translate_long_short_options(command, argc, argv);

	cli_reset_getopt();
	while ((c = getopt_long(argc, argv, "s:t:l:p:em:d:?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 's':
				size = optarg;
				break;
			case 't':
				time = optarg;
				break;
			case 'T':
				ttl = optarg;
				break;
			case 'l':
				limit = optarg;
				break;
			case 'L':
				limit_time = optarg;
				break;
			case 'p':
				policy = optarg;
				break;
			case 'e':
				enable = true;
				break;
			case 'm':
				mode = optarg;
				break;
			case 'd':
				cli_conninfo = optarg;
				break;
			case OPT_DISABLE:
				disable = true;
				break;
			case OPT_DBNAME:
				cli_conninfo = optarg;
				break;
			case OPT_HELP:
				cli_print_help(namespaces_usage);
				break;
			case '?':
				cli_help_or_bad_option(argv, namespaces_usage);
				break;
			default:
				cli_bad_option(namespaces_usage);
		}
	}
	if (optind >= argc)
		cli_usage_error(namespaces_usage, "the namespace is missing");
	if (optind + 1 < argc)
		cli_usage_error(namespaces_usage, "too many arguments, starting with \"%s\"", argv[optind + 1]);
	values[0] = argv[optind];

	if (strcmp(command, "policies") == 0)
		run_policy_sql("SELECT jsonb_pretty(pulsar.get_policies($1))", 1, values, true);
	else if (strcmp(command, "get-retention") == 0)
		run_policy_sql("SELECT pulsar.get_policies($1)->'retention'->'namespace'",
					   1, values, true);
	else if (strcmp(command, "remove-retention") == 0)
		run_policy_sql("SELECT pulsar.remove_policy($1, 'retention')", 1, values, false);
	else if (strcmp(command, "set-retention") == 0)
	{
		if (size == NULL || time == NULL)
			cli_usage_error(namespaces_usage, "set-retention needs --size and --time");
		values[1] = limit_text(parse_time("--time", time, 1));
		values[2] = limit_text(parse_size("--size", size));
		run_policy_sql("SELECT pulsar.set_retention($1, $2::bigint * interval '1 second', $3::bigint)",
					   3, values, false);
	}
	else if (strcmp(command, "set-message-ttl") == 0)
	{
		int64		seconds;

		if (ttl == NULL)
			cli_usage_error(namespaces_usage, "set-message-ttl needs --messageTTL");
		seconds = parse_time("--messageTTL", ttl, 1);
		if (seconds < 0)
			cli_usage_error(namespaces_usage, "invalid value \"%s\" for --messageTTL: 0 disables the TTL", ttl);
		values[1] = limit_text(seconds);
		run_policy_sql("SELECT pulsar.set_message_ttl($1, $2::bigint * interval '1 second')",
					   2, values, false);
	}
	else if (strcmp(command, "set-backlog-quota") == 0)
	{
		int64		seconds;

		if (limit == NULL && limit_time == NULL)
			cli_usage_error(namespaces_usage, "set-backlog-quota needs --limit or --limitTime");
		if (time != NULL && strcmp(time, "destination_storage") != 0 &&
			strcmp(time, "message_age") != 0)
			cli_usage_error(namespaces_usage, "invalid type \"%s\": destination_storage or message_age is expected", time);
		seconds = limit_time ? parse_time("--limitTime", limit_time, 1) : -1;
		values[1] = limit ? "set" : NULL;
		values[2] = limit ? limit_text(parse_size("--limit", limit)) : NULL;
		values[3] = limit_time ? "set" : NULL;
		values[4] = seconds > 0 ? limit_text(seconds) : NULL;
		/* a limit not given keeps what the namespace set */
		run_policy_sql(policy ?
					   "SELECT pulsar.set_backlog_quota($1,"
					   "  CASE WHEN $2::text IS NULL THEN (q->>'limit_size')::bigint ELSE $3::bigint END,"
					   "  CASE WHEN $4::text IS NULL THEN (q->>'limit_time')::bigint ELSE $5::bigint END"
					   "    * interval '1 second', $6::text)"
					   "  FROM (SELECT pulsar.get_policies($1)->'backlog_quota'->'namespace' AS q) p" :
					   "SELECT pulsar.set_backlog_quota($1,"
					   "  CASE WHEN $2::text IS NULL THEN (q->>'limit_size')::bigint ELSE $3::bigint END,"
					   "  CASE WHEN $4::text IS NULL THEN (q->>'limit_time')::bigint ELSE $5::bigint END"
					   "    * interval '1 second', coalesce(q->>'policy', 'producer_request_hold'))"
					   "  FROM (SELECT pulsar.get_policies($1)->'backlog_quota'->'namespace' AS q) p",
					   policy ? 6 : 5,
					   (const char *[]) {values[0], values[1], values[2], values[3],
						   values[4], policy},
					   false);
	}
	else if (strcmp(command, "set-subscription-expiration-time") == 0)
	{
		if (time == NULL)
			cli_usage_error(namespaces_usage, "set-subscription-expiration-time needs --time (minutes)");
		values[1] = psprintf("%ld", cli_parse_long(namespaces_usage, "--time", time, 0, INT_MAX));
		run_policy_sql("SELECT pulsar.set_subscription_expiration_time($1, $2::bigint * interval '1 minute')",
					   2, values, false);
	}
	else if (strcmp(command, "set-inactive-topic-policies") == 0)
	{
		int64		seconds;

		if (enable == disable)
			cli_usage_error(namespaces_usage, "give either --enable-delete-while-inactive or --disable-delete-while-inactive");
		if (time == NULL || mode == NULL)
			cli_usage_error(namespaces_usage, "set-inactive-topic-policies needs --max-inactive-duration and --delete-mode");
		seconds = parse_time("--max-inactive-duration", time, 1);
		if (seconds < 0)
			cli_usage_error(namespaces_usage, "invalid value \"%s\" for --max-inactive-duration", time);
		values[1] = enable ? "true" : "false";
		values[2] = limit_text(seconds);
		values[3] = mode;
		run_policy_sql("SELECT pulsar.set_inactive_topic_policies($1, $2::boolean,"
					   " $3::bigint * interval '1 second', $4)",
					   4, values, false);
	}
	else if (strcmp(command, "set-compaction-threshold") == 0)
	{
		int64		bytes;

		if (time == NULL)
			cli_usage_error(namespaces_usage, "set-compaction-threshold needs --threshold");
		bytes = parse_size("--threshold", time);
		if (bytes < 0)
			cli_usage_error(namespaces_usage, "invalid value \"%s\" for --threshold: 0 disables it", time);
		values[1] = limit_text(bytes);
		run_policy_sql("SELECT pulsar.set_compaction_threshold($1, $2::bigint)",
					   2, values, false);
	}
	else
		cli_usage_error(namespaces_usage, "unknown namespaces command \"%s\"", command);
	return 0;
}
