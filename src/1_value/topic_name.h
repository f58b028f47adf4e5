/*-------------------------------------------------------------------------
 *
 * topic_name.h
 *	  Parsing and validation of tenant, namespace and topic names.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_TOPIC_NAME_H
#define PULSAR_TOPIC_NAME_H

#define MAX_TENANT_NAME_LEN		64
#define MAX_NAMESPACE_NAME_LEN	64
#define MAX_TOPIC_NAME_LEN		255

#define NOT_A_PARTITION			(-1)

typedef struct TopicName
{
	char		tenant[MAX_TENANT_NAME_LEN + 1];
	char		namespace[MAX_NAMESPACE_NAME_LEN + 1];
	char		local_name[MAX_TOPIC_NAME_LEN + 1];	/* without "-partition-N" */
	int32		partition_index;	/* from "-partition-N", else -1 */
} TopicName;

extern void topic_name_parse(const char *input, TopicName *name);
extern void topic_name_parse_namespace(const char *input, char *tenant,
									   char *namespace);
extern void topic_name_check_tenant(const char *tenant);
extern void topic_name_check_simple(const char *name, int max_len, const char *what);
extern char *topic_name_string(const TopicName *name, int32 partition_index);

#endif							/* PULSAR_TOPIC_NAME_H */
