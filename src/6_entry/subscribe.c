/*-------------------------------------------------------------------------
 *
 * subscribe.c
 *	  SQL entry points of subscriptions and consumers: subscribe,
 *	  unsubscribe, close_consumer and channel.
 *
 * Each checks its arguments and the server's state, then leaves the rows
 * to the storage layer (subscription.c, cursor.c), in the caller's
 * transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "1_value/argument.h"
#include "1_value/topic_name.h"
#include "3_catalog/catalog.h"
#include "4_storage/subscription.h"

PG_FUNCTION_INFO_V1(pulsar_subscribe);
PG_FUNCTION_INFO_V1(pulsar_unsubscribe);
PG_FUNCTION_INFO_V1(pulsar_close_consumer);
PG_FUNCTION_INFO_V1(pulsar_channel);

/* an interval argument in microseconds, at most MAX_INTERVAL_DAYS */
static int64
interval_argument_usecs(Interval *interval, const char *what)
{
	int64		usecs;

	if (!argument_interval_usecs(interval, &usecs) ||
		usecs > MAX_INTERVAL_DAYS * USECS_PER_DAY ||
		usecs < -MAX_INTERVAL_DAYS * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is out of range", what),
				 errdetail("The longest %s is %d days.", what,
						   (int) MAX_INTERVAL_DAYS)));
	return usecs;
}

/*
 * The redelivery arguments of subscribe(): negative_ack_delay, ack_timeout,
 * max_redeliver_count, dead_letter_topic.
 */
static void
redelivery_arguments(FunctionCallInfo fcinfo, SubscriptionSettings *settings)
{
	if (PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("negative_ack_delay must not be null")));
	settings->negative_ack_delay = PG_GETARG_INTERVAL_P(6);
	if (interval_argument_usecs(settings->negative_ack_delay, "negative_ack_delay") < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("negative_ack_delay must not be negative")));
	if (!PG_ARGISNULL(7))
	{
		settings->ack_timeout = PG_GETARG_INTERVAL_P(7);
		if (interval_argument_usecs(settings->ack_timeout, "ack_timeout") <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ack_timeout must be positive"),
					 errhint("Pass NULL to turn the acknowledgement timeout off.")));
	}
	if (!PG_ARGISNULL(8))
	{
		settings->max_redeliver_count = PG_GETARG_INT32(8);
		if (settings->max_redeliver_count < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_redeliver_count must be at least 1"),
					 errhint("Pass NULL for no dead-letter policy.")));
	}
	if (!PG_ARGISNULL(9))
	{
		TopicName	dlq;

		topic_name_parse(text_to_cstring(PG_GETARG_TEXT_PP(9)), &dlq);
		settings->dead_letter_topic = topic_name_string(&dlq, dlq.partition_index);
		if (settings->max_redeliver_count == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("dead_letter_topic needs max_redeliver_count"),
					 errhint("Set max_redeliver_count to the number of redeliveries before a message goes to the dead-letter topic.")));
	}
}

/*
 * The settings of a subscription that subscribe() takes: type,
 * initial_position, the redelivery arguments, max_unacked_messages,
 * read_compacted.
 */
static void
settings_arguments(FunctionCallInfo fcinfo, SubscriptionSettings *settings)
{
	char	   *initial_position;

	settings->type = subscription_parse_type(argument_required_text(fcinfo, 2, "type"));
	initial_position = argument_required_text(fcinfo, 3, "initial_position");
	if (strcmp(initial_position, "latest") != 0 &&
		strcmp(initial_position, "earliest") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid initial position \"%s\"", initial_position),
				 errhint("Use latest or earliest.")));
	settings->earliest = strcmp(initial_position, "earliest") == 0;
	redelivery_arguments(fcinfo, settings);
	if (PG_ARGISNULL(10))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_unacked_messages must not be null"),
				 errhint("0 means no limit.")));
	if (PG_GETARG_INT32(10) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_unacked_messages must be zero or more"),
				 errhint("0 means no limit.")));
	settings->max_unacked_messages = PG_GETARG_INT32(10);
	/* read_compacted is there since 0.7.0 */
	settings->has_read_compacted = PG_NARGS() > 11;
	settings->read_compacted = false;
	if (settings->has_read_compacted)
	{
		if (PG_ARGISNULL(11))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("read_compacted must not be null")));
		settings->read_compacted = PG_GETARG_BOOL(11);
	}
	if (settings->read_compacted &&
		settings->type != SUBSCRIPTION_EXCLUSIVE &&
		settings->type != SUBSCRIPTION_FAILOVER)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("read_compacted is not supported on %s subscriptions",
						subscription_type_name(settings->type)),
				 errdetail("Only exclusive and failover subscriptions read in order, which the compacted view needs."),
				 errhint("Subscribe with type exclusive or failover.")));
}

/*
 * subscribe(topic, subscription, type, initial_position, consumer, priority,
 *			 negative_ack_delay, ack_timeout, max_redeliver_count,
 *			 dead_letter_topic, max_unacked_messages, read_compacted) RETURNS text
 */
Datum
pulsar_subscribe(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic;
	char	   *name;
	char	   *consumer_name;
	Subscription *subscription;
	SubscriptionSettings settings = {0};

	catalog_require_writable("pulsar.subscribe()");
	name = argument_required_text(fcinfo, 1, "subscription");
	topic_name_check_simple(name, MAX_SUBSCRIPTION_NAME_LEN, "subscription");
	settings_arguments(fcinfo, &settings);
	consumer_name = PG_ARGISNULL(4) ? subscription_session_consumer_name() :
		text_to_cstring(PG_GETARG_TEXT_PP(4));
	topic_name_check_simple(consumer_name, MAX_SUBSCRIPTION_NAME_LEN, "consumer");
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("priority must not be null")));

	topic = subscription_resolve_topic(fcinfo, true);
	subscription = subscription_store(topic, name, &settings, consumer_name);
	subscription_attach_consumer(subscription, consumer_name, PG_GETARG_INT32(5),
								 PG_ARGISNULL(4));
	PG_RETURN_TEXT_P(cstring_to_text(subscription_channel(subscription->subscription_id)));
}

/*
 * unsubscribe(topic, subscription)
 */
Datum
pulsar_unsubscribe(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic;
	Subscription *subscription;
	Consumer   *live;
	int			consumers;
	char	   *own = subscription_session_consumer_name();

	catalog_require_writable("pulsar.unsubscribe()");
	topic = subscription_resolve_topic(fcinfo, false);
	subscription = subscription_open(topic,
									 argument_required_text(fcinfo, 1, "subscription"),
									 AccessExclusiveLock);
	live = subscription_live_consumers(subscription, &consumers);
	for (int i = 0; i < consumers; i++)
		if (strcmp(live[i].name, own) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("subscription \"%s\" has connected consumers",
							subscription->name),
					 errdetail("Consumer \"%s\" is connected.", live[i].name),
					 errhint("Close them with pulsar.close_consumer() first.")));

	subscription_delete(subscription);
	PG_RETURN_VOID();
}

/*
 * close_consumer(topic, subscription, consumer)
 */
Datum
pulsar_close_consumer(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic;
	Subscription *subscription;
	char	   *consumer_name;

	catalog_require_writable("pulsar.close_consumer()");
	topic = subscription_resolve_topic(fcinfo, false);
	subscription = subscription_open(topic,
									 argument_required_text(fcinfo, 1, "subscription"),
									 ExclusiveLock);
	consumer_name = PG_ARGISNULL(2) ? subscription_session_consumer_name() :
		text_to_cstring(PG_GETARG_TEXT_PP(2));

	if (!subscription_close_consumer(subscription, consumer_name))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer \"%s\" is not attached to subscription \"%s\"",
						consumer_name, subscription->name)));
	PG_RETURN_VOID();
}

/*
 * channel(topic, subscription) RETURNS text
 */
Datum
pulsar_channel(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic = subscription_resolve_topic(fcinfo, false);
	Subscription *subscription =
		subscription_open(topic, argument_required_text(fcinfo, 1, "subscription"),
						  AccessShareLock);

	PG_RETURN_TEXT_P(cstring_to_text(subscription_channel(subscription->subscription_id)));
}

