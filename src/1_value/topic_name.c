/*-------------------------------------------------------------------------
 *
 * topic_name.c
 *	  Parsing and validation of tenant, namespace and topic names.
 *
 * A topic is named "persistent://tenant/namespace/name", "tenant/namespace/
 * name" or just "name", which means "persistent://public/default/name".  Its
 * partitions are "name-partition-N".  Each part uses Pulsar's characters:
 * ASCII letters and digits and "_-=:.".  Names never reach SQL text: they
 * are passed as parameters or quoted where they name storage.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "1_value/topic_name.h"

#define PERSISTENT_PREFIX		"persistent://"
#define PARTITION_SUFFIX		"-partition-"

static bool
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '-' || c == '=' ||
		c == ':' || c == '.';
}

/*
 * Checks one part of a name and copies it into 'dest'.  'what' names the
 * part in messages ("tenant", "namespace", "topic").
 */
static void
check_name_part(const char *part, int len, int max_len, const char *what,
				const char *full, char *dest)
{
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid %s name \"%s\"", what, full),
				 errdetail("The %s name is empty.", what)));
	if (len > max_len)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s name \"%.*s...\" is too long", what, 40, part),
				 errdetail("A %s name is at most %d bytes long.", what, max_len)));
	for (int i = 0; i < len; i++)
	{
		if (!is_name_char(part[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid %s name \"%s\"", what, full),
					 errdetail("Names may contain only ASCII letters, digits and the characters _-=:.")));
	}
	memcpy(dest, part, len);
	dest[len] = '\0';
}

/*
 * Checks a name that stands alone, such as a subscription or consumer name.
 */
void
topic_name_check_simple(const char *name, int max_len, const char *what)
{
	char	   *copy = palloc(strlen(name) + 1);

	check_name_part(name, strlen(name), max_len, what, name, copy);
	pfree(copy);
}

void
topic_name_check_tenant(const char *tenant)
{
	char		copy[MAX_TENANT_NAME_LEN + 1];

	check_name_part(tenant, strlen(tenant), MAX_TENANT_NAME_LEN, "tenant",
					tenant, copy);
}

/*
 * Splits "tenant/namespace" into its parts, checking each.
 */
void
topic_name_parse_namespace(const char *input, char *tenant, char *namespace)
{
	const char *slash = strchr(input, '/');

	if (slash == NULL || strchr(slash + 1, '/') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid namespace name \"%s\"", input),
				 errdetail("A namespace is named \"tenant/namespace\".")));
	check_name_part(input, slash - input, MAX_TENANT_NAME_LEN, "tenant",
					input, tenant);
	check_name_part(slash + 1, strlen(slash + 1), MAX_NAMESPACE_NAME_LEN,
					"namespace", input, namespace);
}

/*
 * Splits a trailing "-partition-N" off 'name' (in place); returns N, or -1
 * if there is none.
 */
static int32
split_partition_suffix(char *name, const char *full)
{
	char	   *suffix = strstr(name, PARTITION_SUFFIX);
	char	   *digits;
	char	   *end;
	long		index;

	if (suffix == NULL)
		return NOT_A_PARTITION;
	/* the last occurrence is the one that counts */
	for (char *next; (next = strstr(suffix + 1, PARTITION_SUFFIX)) != NULL;)
		suffix = next;

	digits = suffix + strlen(PARTITION_SUFFIX);
	errno = 0;
	index = strtol(digits, &end, 10);
	if (*digits < '0' || *digits > '9' || *end != '\0' || errno != 0 ||
		index > PG_INT32_MAX || suffix == name)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid topic name \"%s\"", full),
				 errdetail("\"%s\" is reserved for partition names of the form \"topic%sN\".",
						   PARTITION_SUFFIX, PARTITION_SUFFIX)));
	*suffix = '\0';
	return (int32) index;
}

void
topic_name_parse(const char *input, TopicName *name)
{
	const char *rest = input;
	const char *first_slash;
	const char *second_slash;

	if (strncmp(rest, PERSISTENT_PREFIX, strlen(PERSISTENT_PREFIX)) == 0)
	{
		rest += strlen(PERSISTENT_PREFIX);
		if (strchr(rest, '/') == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid topic name \"%s\"", input),
					 errdetail("A full topic name has the form \"persistent://tenant/namespace/topic\".")));
	}
	else if (strstr(rest, "://") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("topic \"%s\" is not persistent", input),
				 errdetail("Only persistent topics are supported.")));

	first_slash = strchr(rest, '/');
	if (first_slash == NULL)
	{
		strcpy(name->tenant, "public");
		strcpy(name->namespace, "default");
		check_name_part(rest, strlen(rest), MAX_TOPIC_NAME_LEN, "topic",
						input, name->local_name);
	}
	else
	{
		second_slash = strchr(first_slash + 1, '/');
		if (second_slash == NULL || strchr(second_slash + 1, '/') != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid topic name \"%s\"", input),
					 errdetail("A topic is named \"persistent://tenant/namespace/topic\", \"tenant/namespace/topic\" or \"topic\".")));
		check_name_part(rest, first_slash - rest, MAX_TENANT_NAME_LEN,
						"tenant", input, name->tenant);
		check_name_part(first_slash + 1, second_slash - first_slash - 1,
						MAX_NAMESPACE_NAME_LEN, "namespace", input,
						name->namespace);
		check_name_part(second_slash + 1, strlen(second_slash + 1),
						MAX_TOPIC_NAME_LEN, "topic", input, name->local_name);
	}
	name->partition_index = split_partition_suffix(name->local_name, input);
}

/*
 * The full name of a topic, or of one of its partitions.
 */
char *
topic_name_string(const TopicName *name, int32 partition_index)
{
	if (partition_index == NOT_A_PARTITION)
		return psprintf(PERSISTENT_PREFIX "%s/%s/%s",
						name->tenant, name->namespace, name->local_name);
	return psprintf(PERSISTENT_PREFIX "%s/%s/%s" PARTITION_SUFFIX "%d",
					name->tenant, name->namespace, name->local_name,
					partition_index);
}
