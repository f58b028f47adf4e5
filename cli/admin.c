/*-------------------------------------------------------------------------
 *
 * admin.c
 *	  The administration commands of pulsar-pg in pulsar-admin's form:
 *	  tenants create|update|list, namespaces grant-permission|
 *	  revoke-permission|permissions|grant-subscription-permission|
 *	  revoke-subscription-permission, and topics grant-permission|
 *	  revoke-permission|permissions.
 *
 * Each calls one of the extension's SQL functions (create_tenant,
 * update_tenant, list_tenants, grant_permission, revoke_permission,
 * get_permissions, grant_subscription_permission,
 * revoke_subscription_permission); the server decides who may.  Lists of
 * roles and actions are given comma-separated, as pulsar-admin takes them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "getopt_long.h"

#include "pulsar-pg.h"

static const char *tenants_usage =
"Usage:\n"
"  pulsar-pg tenants create TENANT [-r ROLE[,ROLE]...]\n"
"  pulsar-pg tenants update TENANT -r ROLE[,ROLE]...\n"
"  pulsar-pg tenants list\n"
"\n"
"create and update (superusers only) set the roles that administer the\n"
"tenant: its namespaces, topics and permissions.  list prints each tenant\n"
"the caller administers and its admin roles.\n"
"\n"
"Options:\n"
"  -r, --admin-roles=ROLES  comma-separated roles (update: an empty string\n"
"                           removes every admin)\n"
"  -d, --dbname=CONNINFO    database to connect to\n"
"  -?, --help               show this help and exit\n";

static const char *namespaces_usage =
"Usage:\n"
"  pulsar-pg namespaces grant-permission TENANT/NS --role ROLE --actions ACTIONS\n"
"  pulsar-pg namespaces revoke-permission TENANT/NS --role ROLE\n"
"  pulsar-pg namespaces permissions TENANT/NS\n"
"  pulsar-pg namespaces grant-subscription-permission TENANT/NS\n"
"                           --subscription SUB --roles ROLE[,ROLE]...\n"
"  pulsar-pg namespaces revoke-subscription-permission TENANT/NS\n"
"                           --subscription SUB --role ROLE\n"
"\n"
"Grants a role (or public) produce and/or consume on every topic of a\n"
"namespace, takes it back, or lists the grants; reserves a subscription\n"
"name for some roles.  Tenant admins and superusers only.  A namespace's\n"
"limits and policies: pulsar-pg namespaces set-publish-rate --help.\n"
"\n"
"Options:\n"
"      --role=ROLE          a role, or public\n"
"      --roles=ROLES        comma-separated roles\n"
"      --actions=ACTIONS    produce, consume or produce,consume\n"
"      --subscription=SUB   a subscription name\n"
"  -d, --dbname=CONNINFO    database to connect to\n"
"  -?, --help               show this help and exit\n";

static const char *topic_permissions_usage =
"Usage:\n"
"  pulsar-pg topics grant-permission TOPIC --role ROLE --actions ACTIONS\n"
"  pulsar-pg topics revoke-permission TOPIC --role ROLE\n"
"  pulsar-pg topics permissions TOPIC\n"
"\n"
"Grants a role (or public) produce and/or consume on one topic, takes it\n"
"back, or lists the grants made on the topic itself.  Tenant admins and\n"
"superusers only.\n"
"\n"
"Options:\n"
"      --role=ROLE          a role, or public\n"
"      --actions=ACTIONS    produce, consume or produce,consume\n"
"  -d, --dbname=CONNINFO    database to connect to\n"
"  -?, --help               show this help and exit\n";

enum
{
	OPT_ROLE = OPT_HELP + 1,
	OPT_ROLES,
	OPT_ACTIONS,
	OPT_SUBSCRIPTION
};

typedef struct AdminOptions
{
	const char *role;
	const char *roles;
	const char *actions;
	const char *subscription;
} AdminOptions;

/*
 * Parses the options of a namespaces or topics permission command; returns
 * the action and sets *target to the one argument after it.
 */
static const char *
parse_admin_options(int argc, char **argv, const char *usage,
					AdminOptions *opts, const char **target)
{
	static struct option long_options[] = {
		{"role", required_argument, NULL, OPT_ROLE},
		{"roles", required_argument, NULL, OPT_ROLES},
		{"actions", required_argument, NULL, OPT_ACTIONS},
		{"subscription", required_argument, NULL, OPT_SUBSCRIPTION},
		{"dbname", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	int			c;
	const char *action;

	memset(opts, 0, sizeof(*opts));
	cli_reset_getopt();
	while ((c = getopt_long(argc, argv, "d:?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case OPT_ROLE:
				opts->role = optarg;
				break;
			case OPT_ROLES:
				opts->roles = optarg;
				break;
			case OPT_ACTIONS:
				opts->actions = optarg;
				break;
			case OPT_SUBSCRIPTION:
				opts->subscription = optarg;
				break;
			case 'd':
				cli_conninfo = optarg;
				break;
			case OPT_HELP:
				cli_print_help(usage);
				break;
			case '?':
				cli_help_or_bad_option(argv, usage);
				break;
			default:
				cli_bad_option(usage);
		}
	}
	if (optind >= argc)
		cli_usage_error(usage, "the action is missing");
	action = argv[optind++];
	if (optind >= argc)
		cli_usage_error(usage, "the %s is missing",
						usage == namespaces_usage ? "namespace" : "topic");
	*target = argv[optind++];
	if (optind < argc)
		cli_usage_error(usage, "too many arguments, starting with \"%s\"",
						argv[optind]);
	return action;
}

static void
require(const char *usage, const char *value, const char *option,
		const char *action)
{
	if (value == NULL)
		cli_usage_error(usage, "%s needs %s", action, option);
}

static void
refuse(const char *usage, const char *value, const char *option,
	   const char *action)
{
	if (value != NULL)
		cli_usage_error(usage, "%s takes no %s", action, option);
}

/* Runs a statement and prints every row, columns separated by a tab. */
static void
run_and_print(const char *sql, int nparams, const char *const *values)
{
	PGconn	   *conn = cli_connect();
	PGresult   *res = cli_query(conn, sql, nparams, values);

	if (res == NULL)
		cli_die_result(conn, NULL);
	for (int i = 0; i < PQntuples(res); i++)
	{
		for (int j = 0; j < PQnfields(res); j++)
			printf("%s%s", j > 0 ? "\t" : "", PQgetvalue(res, i, j));
		if (PQnfields(res) > 0)
			printf("\n");
	}
	PQclear(res);
	PQfinish(conn);
}

/*
 * The grant, revoke and list actions shared by namespaces and topics.
 * Returns false if the action is none of them.
 */
static bool
permission_action(const char *usage, const char *action, const char *target,
				  AdminOptions *opts)
{
	if (strcmp(action, "grant-permission") == 0)
	{
		const char *values[3] = {target, opts->role, opts->actions};

		require(usage, opts->role, "--role", action);
		require(usage, opts->actions, "--actions", action);
		refuse(usage, opts->roles, "--roles", action);
		refuse(usage, opts->subscription, "--subscription", action);
		run_and_print("SELECT FROM pulsar.grant_permission($1, $2,"
					  " pg_catalog.string_to_array($3, ','))", 3, values);
	}
	else if (strcmp(action, "revoke-permission") == 0)
	{
		const char *values[2] = {target, opts->role};

		require(usage, opts->role, "--role", action);
		refuse(usage, opts->actions, "--actions", action);
		refuse(usage, opts->roles, "--roles", action);
		refuse(usage, opts->subscription, "--subscription", action);
		run_and_print("SELECT FROM pulsar.revoke_permission($1, $2)", 2, values);
	}
	else if (strcmp(action, "permissions") == 0)
	{
		const char *values[1] = {target};

		refuse(usage, opts->role, "--role", action);
		refuse(usage, opts->actions, "--actions", action);
		refuse(usage, opts->roles, "--roles", action);
		refuse(usage, opts->subscription, "--subscription", action);
		run_and_print("SELECT role, pg_catalog.array_to_string(actions, ',')"
					  "  FROM pulsar.get_permissions($1)", 1, values);
	}
	else
		return false;
	return true;
}

/*
 * namespaces grant-permission|revoke-permission|permissions|
 *			  grant-subscription-permission|revoke-subscription-permission
 */
int
cmd_namespace_permissions(int argc, char **argv)
{
	AdminOptions opts;
	const char *namespace;
	const char *action = parse_admin_options(argc, argv, namespaces_usage,
											 &opts, &namespace);

	if (permission_action(namespaces_usage, action, namespace, &opts))
		return 0;
	if (strcmp(action, "grant-subscription-permission") == 0)
	{
		const char *values[3] = {namespace, opts.subscription, opts.roles};

		require(namespaces_usage, opts.subscription, "--subscription", action);
		require(namespaces_usage, opts.roles, "--roles", action);
		refuse(namespaces_usage, opts.role, "--role", action);
		refuse(namespaces_usage, opts.actions, "--actions", action);
		run_and_print("SELECT FROM pulsar.grant_subscription_permission($1, $2,"
					  " pg_catalog.string_to_array($3, ',')::pg_catalog.name[])",
					  3, values);
	}
	else if (strcmp(action, "revoke-subscription-permission") == 0)
	{
		const char *values[3] = {namespace, opts.subscription, opts.role};

		require(namespaces_usage, opts.subscription, "--subscription", action);
		require(namespaces_usage, opts.role, "--role", action);
		refuse(namespaces_usage, opts.roles, "--roles", action);
		refuse(namespaces_usage, opts.actions, "--actions", action);
		run_and_print("SELECT FROM pulsar.revoke_subscription_permission($1, $2, $3)",
					  3, values);
	}
	else
		cli_usage_error(namespaces_usage, "unknown action \"%s\"", action);
	return 0;
}

/*
 * Whether "namespaces ACTION" is one of the permission actions of this file
 * (the other namespaces actions, the policies, are namespaces.c's).
 */
bool
is_namespace_permission_action(const char *action)
{
	return is_topic_permission_action(action) ||
		strcmp(action, "grant-subscription-permission") == 0 ||
		strcmp(action, "revoke-subscription-permission") == 0;
}

/*
 * Whether "topics ACTION" is one of the permission actions of this file.
 */
bool
is_topic_permission_action(const char *action)
{
	return strcmp(action, "grant-permission") == 0 ||
		strcmp(action, "revoke-permission") == 0 ||
		strcmp(action, "permissions") == 0;
}

/*
 * topics grant-permission|revoke-permission|permissions TOPIC
 */
int
cmd_topic_permissions(int argc, char **argv)
{
	AdminOptions opts;
	const char *topic;
	const char *action = parse_admin_options(argc, argv,
											 topic_permissions_usage,
											 &opts, &topic);

	if (!permission_action(topic_permissions_usage, action, topic, &opts))
		cli_usage_error(topic_permissions_usage, "unknown action \"%s\"", action);
	return 0;
}

/*
 * tenants create TENANT [-r ROLES] | update TENANT -r ROLES | list
 */
int
cmd_tenants(int argc, char **argv)
{
	static struct option long_options[] = {
		{"admin-roles", required_argument, NULL, 'r'},
		{"dbname", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	const char *roles = NULL;
	const char *action;
	const char *tenant = NULL;
	int			c;

	cli_reset_getopt();
	while ((c = getopt_long(argc, argv, "r:d:?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'r':
				roles = optarg;
				break;
			case 'd':
				cli_conninfo = optarg;
				break;
			case OPT_HELP:
				cli_print_help(tenants_usage);
				break;
			case '?':
				cli_help_or_bad_option(argv, tenants_usage);
				break;
			default:
				cli_bad_option(tenants_usage);
		}
	}
	if (optind >= argc)
		cli_usage_error(tenants_usage, "the action is missing: create, update or list");
	action = argv[optind++];
	if (strcmp(action, "list") != 0)
	{
		if (optind >= argc)
			cli_usage_error(tenants_usage, "the tenant is missing");
		tenant = argv[optind++];
	}
	if (optind < argc)
		cli_usage_error(tenants_usage, "too many arguments, starting with \"%s\"",
						argv[optind]);

	if (strcmp(action, "list") == 0)
	{
		if (roles != NULL)
			cli_usage_error(tenants_usage, "tenants list takes no --admin-roles");
		run_and_print("SELECT tenant, pg_catalog.array_to_string(admin_roles, ',')"
					  "  FROM pulsar.list_tenants()", 0, NULL);
	}
	else if (strcmp(action, "create") == 0 || strcmp(action, "update") == 0)
	{
		const char *values[2] = {tenant, roles != NULL ? roles : ""};

		if (strcmp(action, "update") == 0 && roles == NULL)
			cli_usage_error(tenants_usage, "tenants update needs --admin-roles");
		run_and_print(strcmp(action, "create") == 0 ?
					  "SELECT FROM pulsar.create_tenant($1,"
					  " pg_catalog.string_to_array($2, ','))" :
					  "SELECT FROM pulsar.update_tenant($1,"
					  " pg_catalog.string_to_array($2, ','))",
					  2, values);
	}
	else
		cli_usage_error(tenants_usage,
						"unknown action \"%s\": create, update or list is expected",
						action);
	return 0;
}
