/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  pulsar.topic_stats() and pulsar.topic_internal_stats(), with the field
 *	  names of Pulsar's admin API, and pulsar.shared_memory_usage().
 *
 * Backlogs count entries between the mark-delete position and the max read
 * position that are not acknowledged; entries of aborted sends are
 * included, as Pulsar counts entries rather than messages.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "1_value/argument.h"
#include "1_value/topic_name.h"
#include "2_shmem/dispatch_state.h"
#include "2_shmem/rate_limit.h"
#include "2_shmem/read_position.h"
#include "3_catalog/authz.h"
#include "3_catalog/catalog.h"
#include "3_catalog/policy.h"
#include "4_storage/compaction.h"
#include "4_storage/cursor.h"
#include "4_storage/expiry.h"
#include "4_storage/pending.h"
#include "4_storage/reader.h"
#include "4_storage/subscription.h"
#include "4_storage/trim.h"
#include "5_dispatch/dispatch.h"

PG_FUNCTION_INFO_V1(pulsar_topic_stats);
PG_FUNCTION_INFO_V1(pulsar_topic_internal_stats);
PG_FUNCTION_INFO_V1(pulsar_shared_memory_usage);

static const char *const pulsar_type_names[] = {
	[SUBSCRIPTION_EXCLUSIVE] = "Exclusive",
	[SUBSCRIPTION_FAILOVER] = "Failover",
	[SUBSCRIPTION_SHARED] = "Shared",
	[SUBSCRIPTION_KEY_SHARED] = "Key_Shared"
};

/* one subscription of the topic, with the names stats need */
typedef struct SubscriptionRow
{
	char	   *name;
	Subscription *subscription;
} SubscriptionRow;

static SubscriptionRow *
topic_subscriptions(TopicInfo *topic, int *count)
{
	CatalogAccess access;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(topic->topic_id)};
	SubscriptionRow *rows;
	MemoryContext caller = CurrentMemoryContext;

	catalog_access_begin(&access);
	catalog_run_sql("SELECT name FROM pulsar.subscription WHERE topic_id = $1"
					" ORDER BY name",
					1, argtypes, values, NULL, true);
	*count = (int) SPI_processed;
	rows = MemoryContextAlloc(caller, sizeof(SubscriptionRow) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
		rows[i].name = MemoryContextStrdup(caller,
										   SPI_getvalue(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc, 1));
	catalog_access_end(&access);
	for (int i = 0; i < *count; i++)
		rows[i].subscription = subscription_open(topic, rows[i].name,
												 AccessShareLock);
	return rows;
}

/*
 * Unacknowledged entries of a subscription in a ledger up to 'last'.
 */
static int64
ledger_backlog(Subscription *subscription, const LedgerInfo *ledger,
			   int64 last)
{
	return trim_backlog_entries(subscription, ledger, last);
}

/*
 * What the consumer of an exclusive or failover subscription holds in a
 * partition: handed out and not acknowledged.
 */
static int64
ordered_holding(Subscription *subscription, int64 ledger_id)
{
	int64		read_position = dispatch_state_read_position(subscription->subscription_id,
															 ledger_id);

	if (read_position < 0)
		return 0;
	return cursor_count_unacked(subscription, ledger_id,
								cursor_mark_delete(subscription, ledger_id) + 1,
								read_position - 1, INT_MAX);
}

static void
append_consumers(StringInfo json, Subscription *subscription,
				 int64 ordered_unacked, bool *blocked_any)
{
	CatalogAccess access;
	bool		ordered = subscription->type == SUBSCRIPTION_EXCLUSIVE ||
		subscription->type == SUBSCRIPTION_FAILOVER;

	catalog_access_begin(&access);
	pending_held_per_consumer(subscription->subscription_id);
	appendStringInfoString(json, "\"consumers\": [");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		unacked = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 3, &isnull));
		bool		blocked;

		if (ordered && i == 0)
			unacked = ordered_unacked;
		blocked = subscription->max_unacked_messages > 0 &&
			unacked >= subscription->max_unacked_messages;
		*blocked_any |= blocked;
		if (i > 0)
			appendStringInfoString(json, ", ");
		appendStringInfoString(json, "{\"consumerName\": ");
		escape_json(json, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		appendStringInfo(json, ", \"priorityLevel\": %s, \"unackedMessages\": " INT64_FORMAT
						 ", \"blockedConsumerOnUnackedMsgs\": %s}",
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2),
						 unacked, blocked ? "true" : "false");
	}
	appendStringInfoString(json, "]");
	catalog_access_end(&access);
}

/*
 * Whether a subscription holds max_unacked_messages_per_subscription
 * unacknowledged messages in one of the ledgers: then receive hands it
 * nothing new there.
 */
static bool
subscription_blocked(Subscription *subscription, TopicInfo *topic,
					 int first_ledger, int num_ledgers, int64 limit)
{
	bool		ordered = subscription->type == SUBSCRIPTION_EXCLUSIVE ||
		subscription->type == SUBSCRIPTION_FAILOVER;
	bool		blocked = false;

	if (limit <= 0)
		return false;
	for (int i = first_ledger; i < first_ledger + num_ledgers && !blocked; i++)
	{
		int64		ledger_id = topic->ledgers[i].ledger_id;
		int64		unacked;

		if (ordered)
			unacked = ordered_holding(subscription, ledger_id);
		else
			unacked = pending_count_held(subscription->subscription_id,
										 ledger_id,
										 (int32) Min(limit, PG_INT32_MAX));
		blocked = unacked >= limit;
	}
	return blocked;
}

/*
 * The topic a stats function is asked about, and which of its ledgers: all
 * of them, or the one partition named.
 */
static TopicInfo *
stats_topic(FunctionCallInfo fcinfo, int *first_ledger, int *num_ledgers)
{
	TopicName	name;
	TopicInfo  *topic;

	topic_name_parse(argument_required_text(fcinfo, 0, "topic"), &name);
	authz_check(&name, AUTHZ_CONSUME);
	topic = catalog_resolve_topic(&name, false, AccessShareLock);
	if (name.partition_index != NOT_A_PARTITION)
	{
		*first_ledger = catalog_resolve_ledger(topic, &name) - topic->ledgers;
		*num_ledgers = 1;
	}
	else
	{
		*first_ledger = 0;
		*num_ledgers = topic->num_ledgers;
	}
	return topic;
}

/*
 * topic_stats(topic) RETURNS jsonb
 */
Datum
pulsar_topic_stats(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic;
	StringInfoData json;
	int64		entries = 0;
	int64		storage_size = 0;
	int64		backlog_size = 0;
	int64	   *last;
	SubscriptionRow *subscriptions;
	int			num_subscriptions;

	int			first_ledger;
	int			num_ledgers;
	TopicLimits limits;
	RateLimitCounters throttled;

	reader_check_can_read("pulsar.topic_stats()");
	topic = stats_topic(fcinfo, &first_ledger, &num_ledgers);
	last = palloc(sizeof(int64) * topic->num_ledgers);
	for (int i = first_ledger; i < first_ledger + num_ledgers; i++)
	{
		last[i] = read_position_max(topic->ledgers[i].ledger_id, catalog_load_next_entry);
		entries += last[i] + 1;
	}
	subscriptions = topic_subscriptions(topic, &num_subscriptions);
	for (int i = first_ledger; i < first_ledger + num_ledgers; i++)
	{
		int64		ledger_storage;
		int64		ledger_backlog_size;

		trim_ledger_storage_size(topic->topic_id, &topic->ledgers[i], &ledger_storage,
								 &ledger_backlog_size);
		storage_size += ledger_storage;
		backlog_size += ledger_backlog_size;
	}
	policy_limits(topic->topic_id, &limits);
	RateLimitCounted(topic->topic_id, RATE_LIMIT_PUBLISH, &throttled);

	initStringInfo(&json);
	appendStringInfo(&json, "{\"topic\": ");
	escape_json(&json, topic_name_string(&topic->name,
										 num_ledgers == 1 && topic->partitions > 0 ?
										 topic->ledgers[first_ledger].partition_index :
										 NOT_A_PARTITION));
	appendStringInfo(&json, ", \"partitions\": %d, \"msgInCounter\": " INT64_FORMAT
					 ", \"storageSize\": " INT64_FORMAT
					 ", \"backlogSize\": " INT64_FORMAT
					 ", \"publishRateLimitedTimes\": " INT64_FORMAT
					 ", \"subscriptions\": {", topic->partitions, entries,
					 storage_size, backlog_size, throttled.throttled);
	for (int s = 0; s < num_subscriptions; s++)
	{
		Subscription *subscription = subscriptions[s].subscription;
		bool		ordered = subscription->type == SUBSCRIPTION_EXCLUSIVE ||
			subscription->type == SUBSCRIPTION_FAILOVER;
		int64		backlog = 0;
		int64		out_counter = 0;
		int64		ordered_unacked = 0;
		double		rate = 0;
		int64		unacked;
		int64		expired;
		int64		last_expired_ms;
		bool		blocked = false;

		for (int i = first_ledger; i < first_ledger + num_ledgers; i++)
		{
			int64		delivered;

			backlog += ledger_backlog(subscription, &topic->ledgers[i],
									  last[i]);
			rate += dispatch_state_rate_out(subscription->subscription_id,
											topic->ledgers[i].ledger_id, &delivered);
			out_counter += delivered;
			if (ordered)
				ordered_unacked += ordered_holding(subscription,
												   topic->ledgers[i].ledger_id);
		}
		unacked = ordered ? ordered_unacked : pending_count(subscription->subscription_id, PENDING_HELD);
		expired = expiry_count(subscription, topic, first_ledger, num_ledgers,
							   &last_expired_ms);

		if (s > 0)
			appendStringInfoString(&json, ", ");
		escape_json(&json, subscription->name);
		appendStringInfo(&json, ": {\"type\": \"%s\", \"msgBacklog\": " INT64_FORMAT
						 ", \"unackedMessages\": " INT64_FORMAT
						 ", \"msgDelayed\": " INT64_FORMAT
						 ", \"msgRateOut\": %.3f, \"msgOutCounter\": " INT64_FORMAT
						 ", \"msgExpired\": " INT64_FORMAT
						 ", \"lastExpireTimestamp\": " INT64_FORMAT ", ",
						 pulsar_type_names[subscription->type], backlog, unacked,
						 ordered ? 0 : pending_count(subscription->subscription_id, PENDING_DELAYED),
						 rate, out_counter, expired, last_expired_ms);
		append_consumers(&json, subscription, ordered_unacked, &blocked);
		RateLimitCounted(topic->topic_id, subscription->subscription_id,
						 &throttled);
		appendStringInfo(&json, ", \"dispatchThrottledMsgEventsBySubscriptionLimit\": " INT64_FORMAT
						 ", \"dispatchThrottledBytesEventsBySubscriptionLimit\": " INT64_FORMAT
						 ", \"blockedSubscriptionOnUnackedMsgs\": %s}",
						 throttled.message_throttled, throttled.byte_throttled,
						 subscription_blocked(subscription, topic, first_ledger,
											  num_ledgers,
											  limits.max_unacked_per_subscription) ?
						 "true" : "false");
	}
	appendStringInfoString(&json, "}}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data)));
}

/*
 * Pulsar's form of acknowledged ranges: "[(L:a..L:b], ...]", each open on
 * the left.
 */
static void
append_acked_ranges(StringInfo json, Subscription *subscription,
					int64 ledger_id, int64 mark_delete)
{
	AckedRanges acked;
	StringInfoData ranges;
	int64		covered = mark_delete;

	cursor_load_acked_ranges(subscription, ledger_id, mark_delete + 1, INT_MAX, &acked);
	initStringInfo(&ranges);
	appendStringInfoChar(&ranges, '[');
	for (int i = 0; i < acked.count; i++)
	{
		int64		first = acked.first[i];
		int64		last = acked.last[i];

		/* merge overlapping and adjacent ranges */
		while (i + 1 < acked.count && acked.first[i + 1] <= last + 1)
		{
			i++;
			last = Max(last, acked.last[i]);
		}
		if (last <= covered)
			continue;
		first = Max(first, covered + 1);
		covered = last;
		if (ranges.len > 1)
			appendStringInfoString(&ranges, ", ");
		appendStringInfo(&ranges, "(" INT64_FORMAT ":" INT64_FORMAT ".." INT64_FORMAT ":" INT64_FORMAT "]",
						 ledger_id, first - 1, ledger_id, last);
	}
	appendStringInfoChar(&ranges, ']');
	escape_json(json, ranges.data);
}

static void
append_ledger_internals(StringInfo json, TopicInfo *topic, LedgerInfo *ledger,
						SubscriptionRow *subscriptions, int num_subscriptions)
{
	int64		last = read_position_max(ledger->ledger_id, catalog_load_next_entry);
	CatalogAccess access;
	SegmentInfo *segments;
	int			num_segments;
	int			printed = 0;

	appendStringInfo(json, "{\"entriesAddedCounter\": " INT64_FORMAT
					 ", \"lastConfirmedEntry\": \"" INT64_FORMAT ":" INT64_FORMAT "\""
					 ", \"segmentEntries\": " INT64_FORMAT ", \"ledgers\": [",
					 last + 1, ledger->ledger_id, last, ledger->segment_entries);
	catalog_access_begin(&access);
	segments = catalog_ledger_segments(ledger, &num_segments);
	for (int i = 0; i < num_segments; i++)
	{
		SegmentInfo *segment = &segments[i];
		int64		entries;
		int64		size;

		if (!catalog_segment_usage(ledger->ledger_id, segment->segment_no,
								   !segment->closed, &entries, &size))
			continue;
		if (segment->closed)
			entries = segment->entries;
		appendStringInfo(json, "%s{\"ledgerId\": " INT64_FORMAT
						 ", \"segment\": " INT64_FORMAT
						 ", \"firstEntry\": " INT64_FORMAT
						 ", \"lastEntry\": " INT64_FORMAT
						 ", \"entries\": " INT64_FORMAT
						 ", \"size\": " INT64_FORMAT
						 ", \"closedAt\": ",
						 printed++ > 0 ? ", " : "", ledger->ledger_id,
						 segment->segment_no,
						 segment->segment_no * ledger->segment_entries,
						 segment->last_entry, entries, size);
		if (segment->closed)
			escape_json(json, timestamptz_to_str(segment->closed_at));
		else
			appendStringInfoString(json, "null");
		appendStringInfoChar(json, '}');
	}
	catalog_access_end(&access);
	appendStringInfoChar(json, ']');
	compaction_append_internals(json, ledger);
	appendStringInfoString(json, ", \"cursors\": {");
	for (int s = 0; s < num_subscriptions; s++)
	{
		Subscription *subscription = subscriptions[s].subscription;
		int64		mark_delete = cursor_mark_delete(subscription, ledger->ledger_id);

		if (s > 0)
			appendStringInfoString(json, ", ");
		escape_json(json, subscription->name);
		appendStringInfo(json, ": {\"markDeletePosition\": \"" INT64_FORMAT ":" INT64_FORMAT "\""
						 ", \"individuallyDeletedMessages\": ",
						 ledger->ledger_id, mark_delete);
		append_acked_ranges(json, subscription, ledger->ledger_id, mark_delete);
		appendStringInfo(json, ", \"msgBacklog\": " INT64_FORMAT "}",
						 ledger_backlog(subscription, ledger, last));
	}
	appendStringInfoString(json, "}}");
}

/*
 * topic_internal_stats(topic) RETURNS jsonb
 */
Datum
pulsar_topic_internal_stats(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic;
	StringInfoData json;
	SubscriptionRow *subscriptions;
	int			num_subscriptions;

	int			first_ledger;
	int			num_ledgers;

	reader_check_can_read("pulsar.topic_internal_stats()");
	topic = stats_topic(fcinfo, &first_ledger, &num_ledgers);
	subscriptions = topic_subscriptions(topic, &num_subscriptions);

	initStringInfo(&json);
	if (num_ledgers == 1)
		append_ledger_internals(&json, topic, &topic->ledgers[first_ledger],
								subscriptions, num_subscriptions);
	else
	{
		appendStringInfoString(&json, "{\"partitions\": {");
		for (int i = 0; i < topic->num_ledgers; i++)
		{
			if (i > 0)
				appendStringInfoString(&json, ", ");
			escape_json(&json, topic_name_string(&topic->name, i));
			appendStringInfoString(&json, ": ");
			append_ledger_internals(&json, topic, &topic->ledgers[i],
									subscriptions, num_subscriptions);
		}
		appendStringInfoString(&json, "}}");
	}
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data)));
}

/*
 * shared_memory_usage() RETURNS TABLE (area, entries, max_entries)
 *
 * How full the extension's shared tables are, over every database: each
 * holds at most its setting's number of entries, and an entry goes with
 * its object (topic, subscription, consumer, database).
 */
Datum
pulsar_shared_memory_usage(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		partitions;
	int64		reservations;
	struct
	{
		const char *area;
		int64		entries;
		int64		max_entries;
	}			areas[5];

	read_position_require_state();
	read_position_usage(&partitions, &reservations);
	areas[0].area = "partitions";
	areas[0].entries = partitions;
	areas[0].max_entries = pulsar_max_partitions;
	areas[1].area = "reservations";
	areas[1].entries = reservations;
	areas[1].max_entries = pulsar_max_open_reservations;
	areas[2].area = "cursors";
	areas[2].entries = dispatch_state_usage();
	areas[2].max_entries = pulsar_max_cursors;
	areas[3].area = "consumers";
	areas[3].entries = consumer_liveness_usage();
	areas[3].max_entries = pulsar_max_cursors;
	areas[4].area = "rate_limits";
	areas[4].entries = RateLimitUsage();
	areas[4].max_entries = pulsar_max_rate_limiters;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < lengthof(areas); i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(areas[i].area);
		values[1] = Int64GetDatum(areas[i].entries);
		values[2] = Int64GetDatum(areas[i].max_entries);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
