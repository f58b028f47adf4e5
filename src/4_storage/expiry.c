/*-------------------------------------------------------------------------
 *
 * expiry.c
 *	  Message expiry (message_ttl, pulsar.expire_messages()), subscription
 *	  expiration, and the pass that applies every expiry policy.
 *
 * Owns tables pulsar.cursor_expiry and pulsar.subscription_activity.
 *
 * Expiry follows Pulsar's expiry monitor: it finds the newest message of a
 * partition published before the cut-off (a binary search over entry ids,
 * publish times growing with them) and moves the subscription's
 * mark-delete position there, as a cumulative acknowledgement would
 * (expire_cursor_through() in cursor.c).  Messages consumers hold expire
 * too; nothing is deleted: trimming reclaims what no cursor needs.  What a
 * move passed is counted, per cursor, in pulsar.cursor_expiry
 * (msgExpired), a row written only by a transaction that holds the
 * cursor's row, so that nobody waits for it who does not also wait for the
 * cursor.
 *
 * Subscription expiration removes a subscription that has had no consumer
 * for its expiration time.  When it last had one is recorded by the
 * database worker alone (pulsar.subscription_activity): a commit that
 * detaches consumers already tells the worker which subscriptions lost
 * them, so nothing is written on the consumers' paths.  After a crash the
 * consumers are gone without a word, so the time counts at the earliest
 * from the worker's start ('consumers_known_since'), as Pulsar counts a
 * cursor's inactivity from the broker's start.
 *
 * The database worker never waits for a user transaction (DESIGN
 * invariant 6a): topics, subscriptions and cursor rows are locked only if
 * free, and what is busy is left for the next pass.  Each topic is worked
 * on in a subtransaction of its own, so one failure costs only that topic
 * its turn.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "1_value/topic_name.h"
#include "2_shmem/read_position.h"
#include "3_catalog/catalog.h"
#include "4_storage/backlog_quota.h"
#include "4_storage/cursor.h"
#include "4_storage/expiry.h"
#include "4_storage/inactive_topic.h"
#include "4_storage/reader.h"
#include "4_storage/subscription.h"

PG_FUNCTION_INFO_V1(pulsar_expire_messages);
PG_FUNCTION_INFO_V1(pulsar_apply_expiry_policies);

/* a topic as the pass lists it, with the policy value it applies */
typedef struct PolicyTopic
{
	TopicName	name;
	int64		seconds;		/* TTL, or expiration */
	char	   *subscription;	/* for subscription expiration */
} PolicyTopic;

/*
 * Runs one step on one topic in a subtransaction: an error (a topic
 * deleted under the pass, say) is logged and costs only this step.
 */
void
run_guarded(GuardedStep step, void *arg, const char *what)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		step(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(caller);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
		ereport(WARNING,
				(errcode(error->sqlerrcode),
				 errmsg("pulsar_pg could not apply %s: %s", what, error->message)));
		FreeErrorData(error);
	}
	PG_END_TRY();
}

/* the topic named by the catalog columns tenant, namespace and name */
void
catalog_topic_name(const char *tenant, const char *namespace,
				   const char *local_name, TopicName *name)
{
	memset(name, 0, sizeof(TopicName));
	strlcpy(name->tenant, tenant, sizeof(name->tenant));
	strlcpy(name->namespace, namespace, sizeof(name->namespace));
	strlcpy(name->local_name, local_name, sizeof(name->local_name));
	name->partition_index = NOT_A_PARTITION;
}

/* the names of a topic's subscriptions */
List *
topic_subscription_names(int64 topic_id)
{
	MemoryContext caller = CurrentMemoryContext;
	CatalogAccess access;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(topic_id)};
	List	   *names = NIL;

	begin_catalog_access(&access);
	run_catalog_sql("SELECT name FROM pulsar.subscription WHERE topic_id = $1"
					" ORDER BY name",
					1, argtypes, values, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 1);
		MemoryContext old = MemoryContextSwitchTo(caller);

		names = lappend(names, pstrdup(name));
		MemoryContextSwitchTo(old);
	}
	end_catalog_access(&access);
	return names;
}

typedef struct PublishTimeProbe
{
	bool		found;
	int64		entry_id;
	TimestampTz publish_time;
} PublishTimeProbe;

static bool
probe_first_message(const StoredMessage *message, void *arg)
{
	PublishTimeProbe *probe = arg;

	probe->found = true;
	probe->entry_id = message->entry_id;
	probe->publish_time =
		DatumGetTimestampTz(message->values[SEGMENT_PUBLISH_TIME]);
	return false;
}

/*
 * The newest stored entry in (after, last] published before 'cutoff', or
 * 'after' if none: a binary search, each probe reading the first message
 * at or above an entry id through the segment's primary key, so the cost
 * grows with the logarithm of the backlog, not with it.  Publish times
 * grow with entry ids (they may step back by the time two senders race
 * between taking the time and the ids, which at worst leaves a message
 * for the next pass).
 */
int64
newest_published_before(const LedgerInfo *ledger, int64 after, int64 last,
						 TimestampTz cutoff, Snapshot snapshot)
{
	int64		found = after;
	int64		low = after;
	int64		high = last;

	while (low < high)
	{
		int64		middle = low + (high - low + 1) / 2;
		PublishTimeProbe probe;

		CHECK_FOR_INTERRUPTS();
		memset(&probe, 0, sizeof(probe));
		scan_ledger(ledger, middle - 1, high, snapshot, probe_first_message,
					&probe);
		if (probe.found && probe.publish_time < cutoff)
		{
			found = probe.entry_id;
			low = probe.entry_id;
		}
		else
			high = middle - 1;
	}
	return found;
}

/*
 * The publish time of the first stored message in (after, last]; false if
 * there is none.
 */
bool
first_publish_time(const LedgerInfo *ledger, int64 after, int64 last,
				   Snapshot snapshot, TimestampTz *publish_time)
{
	PublishTimeProbe probe;

	memset(&probe, 0, sizeof(probe));
	if (after < last)
		scan_ledger(ledger, after, last, snapshot, probe_first_message, &probe);
	*publish_time = probe.publish_time;
	return probe.found;
}

/*
 * Counts what an expiry passed.  Caller holds the cursor's row (see the
 * header).
 */
static void
record_expired(int64 subscription_id, int64 ledger_id, int64 expired)
{
	CatalogAccess access;
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3] = {Int64GetDatum(subscription_id),
		Int64GetDatum(ledger_id), Int64GetDatum(expired)};

	begin_catalog_access(&access);
	run_catalog_sql("INSERT INTO pulsar.cursor_expiry"
					" (subscription_id, ledger_id, expired, last_expired_at)"
					" VALUES ($1, $2, $3, clock_timestamp())"
					" ON CONFLICT (subscription_id, ledger_id) DO UPDATE"
					"   SET expired = cursor_expiry.expired + EXCLUDED.expired,"
					"       last_expired_at = EXCLUDED.last_expired_at",
					3, argtypes, values, NULL, false);
	end_catalog_access(&access);
}

/*
 * Moves a subscription's cursor in one partition to 'through' as if
 * acknowledged, counting what it passed; returns that count, 0 when the
 * cursor was busy (and 'wait' was false).
 */
int64
evict_cursor_through(Subscription *subscription, const LedgerInfo *ledger,
					 int64 through, bool wait)
{
	int64		expired = expire_cursor_through(subscription, ledger, through,
												wait);

	if (expired > 0)
		record_expired(subscription->subscription_id, ledger->ledger_id,
					   expired);
	return Max(expired, 0);
}

/*
 * Expires a subscription's messages of one partition published before
 * 'cutoff'.  Returns how many it passed.
 */
int64
expire_published_before(Subscription *subscription, const LedgerInfo *ledger,
						TimestampTz cutoff, bool wait)
{
	int64		mark_delete = cursor_mark_delete(subscription, ledger->ledger_id);
	int64		last = GetMaxReadPosition(ledger->ledger_id, load_next_entry);
	Snapshot	snapshot;
	int64		through;

	if (last <= mark_delete)
		return 0;
	/* after the max read position: nothing at or below it is missed */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	through = newest_published_before(ledger, mark_delete, last, cutoff,
									  snapshot);
	UnregisterSnapshot(snapshot);
	if (through <= mark_delete)
		return 0;
	return evict_cursor_through(subscription, ledger, through, wait);
}

/*
 * expire_messages(topic, subscription, expire_time): Pulsar's
 * "topics expire-messages".  Waits for the cursor like an acknowledgement;
 * messages whose acknowledgement is in progress stop it below them.
 */
Datum
pulsar_expire_messages(PG_FUNCTION_ARGS)
{
	TopicInfo  *topic;
	Subscription *subscription;
	Interval   *expire_time;
	int64		usecs;
	int64		expired = 0;
	TimestampTz cutoff;

	PreventCommandIfReadOnly("pulsar.expire_messages()");
	PreventCommandDuringRecovery("pulsar.expire_messages()");
	RequireReadPositionState();
	topic = resolve_subscribed_topic(fcinfo, false);
	subscription = open_subscription(topic,
									 required_name_argument(fcinfo, 1, "subscription"),
									 AccessShareLock);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("expire_time must not be null"),
				 errhint("Pass '0' to expire every message published so far.")));
	expire_time = PG_GETARG_INTERVAL_P(2);
	if (!interval_to_usecs(expire_time, &usecs))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("expire_time is out of range")));
	if (usecs < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expire_time must not be negative")));
	/* a message published in this very microsecond is not older than 0 */
	cutoff = GetCurrentTimestamp() - usecs + (usecs == 0 ? 1 : 0);
	for (int i = 0; i < topic->num_ledgers; i++)
		expired += expire_published_before(subscription, &topic->ledgers[i],
										   cutoff, true);
	PG_RETURN_INT64(expired);
}

typedef struct TtlStep
{
	PolicyTopic *topic;
	TimestampTz now;
	int64		expired;
} TtlStep;

static void
apply_ttl_to_topic(void *arg)
{
	TtlStep    *step = arg;
	TopicInfo  *topic = try_resolve_topic(&step->topic->name, AccessShareLock);
	TimestampTz cutoff = step->now - step->topic->seconds * USECS_PER_SEC;
	List	   *names;
	ListCell   *lc;

	if (topic == NULL)
		return;
	names = topic_subscription_names(topic->topic_id);
	foreach(lc, names)
	{
		Subscription *subscription = try_open_subscription(topic, lfirst(lc),
														   AccessShareLock);

		if (subscription == NULL)
			continue;
		for (int i = 0; i < topic->num_ledgers; i++)
			step->expired += expire_published_before(subscription,
													 &topic->ledgers[i],
													 cutoff, false);
	}
}

/*
 * The topics the last catalog query listed (tenant, namespace, name,
 * value, and a subscription's name), allocated in 'context', which
 * outlives the catalog access.
 */
static List *
listed_topics(bool with_subscription, MemoryContext context)
{
	List	   *topics = NIL;

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *tenant = SPI_getvalue(row, desc, 1);
		char	   *namespace = SPI_getvalue(row, desc, 2);
		char	   *name = SPI_getvalue(row, desc, 3);
		char	   *subscription = with_subscription ?
			SPI_getvalue(row, desc, 5) : NULL;
		bool		isnull;
		int64		seconds = DatumGetInt64(SPI_getbinval(row, desc, 4, &isnull));
		MemoryContext old = MemoryContextSwitchTo(context);
		PolicyTopic *topic = palloc0(sizeof(PolicyTopic));

		catalog_topic_name(tenant, namespace, name, &topic->name);
		topic->seconds = seconds;
		if (subscription != NULL)
			topic->subscription = pstrdup(subscription);
		topics = lappend(topics, topic);
		MemoryContextSwitchTo(old);
	}
	return topics;
}

/*
 * Message TTL: every subscription of every topic with a TTL moves past
 * what was published more than the TTL before 'now'.  Returns how many
 * messages expired.
 */
int64
apply_message_ttl(TimestampTz now)
{
	MemoryContext caller = CurrentMemoryContext;
	CatalogAccess access;
	List	   *topics;
	ListCell   *lc;
	TtlStep		step;

	begin_catalog_access(&access);
	run_catalog_sql("SELECT t.tenant, t.namespace, t.name, (p.value->>'ttl')::bigint"
					"  FROM pulsar.topic t"
					"  CROSS JOIN LATERAL pulsar.effective_policy(t.topic_id, 'message_ttl') p(value)"
					" WHERE p.value->>'ttl' IS NOT NULL"
					"   AND EXISTS (SELECT 1 FROM pulsar.subscription s"
					"                WHERE s.topic_id = t.topic_id)"
					" ORDER BY t.topic_id",
					0, NULL, NULL, NULL, true);
	topics = listed_topics(false, caller);
	end_catalog_access(&access);

	memset(&step, 0, sizeof(step));
	step.now = now;
	foreach(lc, topics)
	{
		step.topic = lfirst(lc);
		run_guarded(apply_ttl_to_topic, &step, "the message TTL");
	}
	return step.expired;
}

/*
 * For the worker: subscriptions that lost consumers in transactions that
 * committed since its last cycle ('all': too many to name, so every one)
 * had a consumer until 'now'.
 */
void
note_subscriptions_active(const int64 *subscription_ids, int count, bool all,
						  TimestampTz now)
{
	CatalogAccess access;
	Oid			argtypes[2] = {TIMESTAMPTZOID, INT8ARRAYOID};
	Datum		values[2];
	Datum	   *ids;

	if (count == 0 && !all)
		return;
	ids = palloc(sizeof(Datum) * Max(count, 1));
	for (int i = 0; i < count; i++)
		ids[i] = Int64GetDatum(subscription_ids[i]);
	values[0] = TimestampTzGetDatum(now);
	values[1] = PointerGetDatum(construct_array(ids, count, INT8OID, 8, true,
												TYPALIGN_DOUBLE));
	begin_catalog_access(&access);
	if (all)
		run_catalog_sql("INSERT INTO pulsar.subscription_activity"
						" SELECT subscription_id, $1 FROM pulsar.subscription"
						" ON CONFLICT (subscription_id) DO UPDATE"
						"   SET last_consumer_at = greatest(subscription_activity.last_consumer_at,"
						"                                   EXCLUDED.last_consumer_at)",
						1, argtypes, values, NULL, false);
	else
		run_catalog_sql("INSERT INTO pulsar.subscription_activity"
						" SELECT s.subscription_id, $1 FROM pulsar.subscription s"
						"  WHERE s.subscription_id = ANY ($2)"
						" ON CONFLICT (subscription_id) DO UPDATE"
						"   SET last_consumer_at = greatest(subscription_activity.last_consumer_at,"
						"                                   EXCLUDED.last_consumer_at)",
						2, argtypes, values, NULL, false);
	end_catalog_access(&access);
}

typedef struct ExpirationStep
{
	PolicyTopic *topic;
	int64		removed;
} ExpirationStep;

static void
remove_expired_subscription(void *arg)
{
	ExpirationStep *step = arg;
	TopicInfo  *topic = try_resolve_topic(&step->topic->name, AccessShareLock);

	if (topic != NULL &&
		remove_abandoned_subscription(topic, step->topic->subscription))
	{
		ereport(LOG,
				(errmsg("pulsar_pg removed subscription \"%s\" of topic \"%s\": no consumer for its expiration time",
						step->topic->subscription,
						topic_name_string(&step->topic->name, NOT_A_PARTITION))));
		step->removed++;
	}
}

/*
 * Subscription expiration: removes subscriptions without consumers since
 * their expiration time before 'now', counting from their creation, the
 * last time they had a consumer, or 'consumers_known_since', whichever is
 * latest.  Returns how many it removed.
 */
int64
expire_subscriptions(TimestampTz now, TimestampTz consumers_known_since)
{
	MemoryContext caller = CurrentMemoryContext;
	CatalogAccess access;
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2] = {TimestampTzGetDatum(now),
	TimestampTzGetDatum(consumers_known_since)};
	List	   *topics;
	ListCell   *lc;
	ExpirationStep step;

	begin_catalog_access(&access);
	/* rows of subscriptions gone since (ids are never reused) */
	run_catalog_sql("DELETE FROM pulsar.subscription_activity a"
					" WHERE NOT EXISTS (SELECT 1 FROM pulsar.subscription s"
					"                    WHERE s.subscription_id = a.subscription_id)",
					0, NULL, NULL, NULL, false);
	run_catalog_sql("SELECT t.tenant, t.namespace, t.name,"
					"       (p.value->>'expiration')::bigint, s.name"
					"  FROM pulsar.subscription s"
					"  JOIN pulsar.topic t ON t.topic_id = s.topic_id"
					"  CROSS JOIN LATERAL pulsar.effective_policy(t.topic_id,"
					"                     'subscription_expiration_time') p(value)"
					"  LEFT JOIN pulsar.subscription_activity a"
					"    ON a.subscription_id = s.subscription_id"
					" WHERE p.value->>'expiration' IS NOT NULL"
					"   AND NOT EXISTS (SELECT 1 FROM pulsar.consumer c"
					"                    WHERE c.subscription_id = s.subscription_id)"
					"   AND greatest(s.created_at, a.last_consumer_at, $2)"
					"       + (p.value->>'expiration')::bigint * interval '1 second' <= $1"
					" ORDER BY s.subscription_id",
					2, argtypes, values, NULL, true);
	topics = listed_topics(true, caller);
	end_catalog_access(&access);

	memset(&step, 0, sizeof(step));
	foreach(lc, topics)
	{
		step.topic = lfirst(lc);
		run_guarded(remove_expired_subscription, &step,
					"the subscription expiration time");
	}
	return step.removed;
}

/*
 * Applies every expiry policy once: message TTL, backlog quotas (setting
 * what senders must do, and evicting), subscription expiration and
 * inactive topics.  Called by the database worker's maintenance pass, and
 * by pulsar.apply_expiry_policies().
 */
void
apply_expiry_policies(TimestampTz now, TimestampTz consumers_known_since,
					  ExpiryCounts *counts)
{
	memset(counts, 0, sizeof(ExpiryCounts));
	counts->messages_expired = apply_message_ttl(now);
	apply_backlog_quotas(now, &counts->quotas_exceeded,
						 &counts->messages_evicted);
	counts->subscriptions_expired = expire_subscriptions(now,
														 consumers_known_since);
	counts->topics_deleted = delete_inactive_topics(now, consumers_known_since);
}

/*
 * apply_expiry_policies(as_of): applies the policies now, as if at 'as_of'
 * (tests move time forward with it), and says what it did.  Consumers
 * count as known since ever: only the worker knows its start.
 */
Datum
pulsar_apply_expiry_policies(PG_FUNCTION_ARGS)
{
	ExpiryCounts counts;
	TimestampTz now;

	PreventCommandIfReadOnly("pulsar.apply_expiry_policies()");
	PreventCommandDuringRecovery("pulsar.apply_expiry_policies()");
	RequireReadPositionState();
	require_consumption_tables();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be null")));
	now = PG_GETARG_TIMESTAMPTZ(0);
	apply_expiry_policies(now, DT_NOBEGIN, &counts);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in,
										CStringGetDatum(psprintf("{\"messages_expired\": " INT64_FORMAT
																 ", \"backlog_quotas_exceeded\": " INT64_FORMAT
																 ", \"messages_evicted\": " INT64_FORMAT
																 ", \"subscriptions_expired\": " INT64_FORMAT
																 ", \"topics_deleted\": " INT64_FORMAT "}",
																 counts.messages_expired,
																 counts.quotas_exceeded,
																 counts.messages_evicted,
																 counts.subscriptions_expired,
																 counts.topics_deleted))));
}
