/*-------------------------------------------------------------------------
 *
 * expiry.c
 *	  Message expiry (message_ttl, pulsar.expire_messages()), subscription
 *	  expiration, and the pass that applies every expiry policy.
 *
 * Owns table pulsar.subscription_activity.
 *
 * Expiry follows Pulsar's expiry monitor: it finds the newest message of a
 * partition published before the cut-off (a binary search over entry ids,
 * publish times growing with them) and moves the subscription's
 * mark-delete position there, as a cumulative acknowledgement would
 * (cursor_expire_through() in cursor.c).  Messages consumers hold expire
 * too; nothing is deleted: trimming reclaims what no cursor needs.  What a
 * move passed is counted, per cursor, in pulsar.cursor_expiry (msgExpired;
 * cursor.c writes it, expiry_count() reads it for topic_stats).
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
 * invariant 6a): the tables a step touches, topics, subscriptions and
 * cursor rows are locked only if free, and what is busy is left for the
 * next pass.  Each step of each
 * topic runs in a transaction of its own in the maintenance pass
 * (6_entry/maintenance.c) and in a subtransaction of its own in
 * pulsar.apply_expiry_policies(), so one failure costs only that topic
 * its turn.  The SQL entry points are in 6_entry/expire.c.
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

#include "1_value/subxact_items.h"
#include "1_value/topic_name.h"
#include "2_shmem/read_position.h"
#include "3_catalog/catalog.h"
#include "3_catalog/policy.h"
#include "4_storage/backlog_quota.h"
#include "4_storage/cursor.h"
#include "4_storage/expiry.h"
#include "4_storage/inactive_topic.h"
#include "4_storage/reader.h"
#include "4_storage/subscription.h"

/* the worker sets it to its start: see the header */
TimestampTz expiry_consumers_known_since = DT_NOBEGIN;

/*
 * The extension's tables the steps' statements touch, locked beforehand
 * without waiting (catalog_lock_tables_now()): reading the policies, then,
 * where one applies, moving cursors or removing subscriptions.
 */
static const char *const policy_tables[] = {
	"topic", "policy"
};
static const char *const cursor_read_tables[] = {
	"ledger", "segment", "subscription"
};
static const char *const cursor_write_tables[] = {
	"cursor", "acked_range", "pending", "cursor_expiry"
};
static const char *const expiration_read_tables[] = {
	"ledger", "subscription_activity"
};
static const char *const expiration_write_tables[] = {
	"subscription", "consumer", "cursor", "acked_range", "pending",
	"cursor_expiry"
};

/* how often the worker drops rows of subscriptions gone */
#define ACTIVITY_CLEANUP_INTERVAL_MS	(10 * 60 * 1000)
static TimestampTz activity_cleaned_at = 0;

/*
 * For a maintenance step, which never waits for a user transaction (DESIGN
 * invariant 6a): locks the extension's tables that reading a topic's
 * policies takes, if no other transaction holds or awaits a conflicting
 * lock; false if one does, and the step is left for the next pass.
 */
bool
expiry_lock_policy_tables_now(void)
{
	return catalog_lock_tables_now(policy_tables, lengthof(policy_tables),
								   AccessShareLock);
}

/*
 * For a maintenance step: locks, without waiting, the tables that moving a
 * topic's cursors takes (expiry, eviction); false if one is busy.
 */
bool
expiry_lock_cursor_tables_now(void)
{
	return catalog_lock_tables_now(cursor_read_tables,
								   lengthof(cursor_read_tables),
								   AccessShareLock) &&
		catalog_lock_tables_now(cursor_write_tables,
								lengthof(cursor_write_tables),
								RowExclusiveLock);
}

/*
 * Runs one step on one topic in a subtransaction: an error (a topic
 * deleted under the call, say) is logged and costs only this step.
 */
void
expiry_run_guarded(GuardedStep step, void *arg, const char *what)
{
	ErrorData  *error = subxact_run(step, arg);

	if (error == NULL)
		return;
	/* a cancel or shutdown stops the whole call */
	if (error->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		error->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
		ReThrowError(error);
	ereport(WARNING,
			(errcode(error->sqlerrcode),
			 errmsg("pulsar_pg could not apply %s: %s", what, error->message)));
	FreeErrorData(error);
}

/* the topic named by the catalog columns tenant, namespace and name */
void
expiry_topic_name(const char *tenant, const char *namespace,
				  const char *local_name, TopicName *name)
{
	memset(name, 0, sizeof(TopicName));
	strlcpy(name->tenant, tenant, sizeof(name->tenant));
	strlcpy(name->namespace, namespace, sizeof(name->namespace));
	strlcpy(name->local_name, local_name, sizeof(name->local_name));
	name->partition_index = NOT_A_PARTITION;
}

/*
 * The text values of the first column of the last catalog query, as a
 * List of strings in 'context'.
 */
static List *
result_names(MemoryContext context)
{
	List	   *names = NIL;

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 1);
		MemoryContext old = MemoryContextSwitchTo(context);

		names = lappend(names, pstrdup(name));
		MemoryContextSwitchTo(old);
	}
	return names;
}

/* the names of a topic's subscriptions */
List *
expiry_subscription_names(int64 topic_id)
{
	MemoryContext caller = CurrentMemoryContext;
	CatalogAccess access;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(topic_id)};
	List	   *names = NIL;

	catalog_access_begin(&access);
	catalog_run_sql("SELECT name FROM pulsar.subscription WHERE topic_id = $1"
					" ORDER BY name",
					1, argtypes, values, NULL, true);
	names = result_names(caller);
	catalog_access_end(&access);
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
expiry_newest_published_before(const LedgerInfo *ledger, int64 after, int64 last,
						 TimestampTz cutoff, Snapshot snapshot)
{
	int64		found = after;
	int64		low = after;
	int64		high = last;
	TimestampTz oldest;

	/* most often not even the first is that old: one probe, not log n */
	if (!expiry_first_publish_time(ledger, after, last, snapshot, &oldest) ||
		oldest >= cutoff)
		return after;
	while (low < high)
	{
		int64		middle = low + (high - low + 1) / 2;
		PublishTimeProbe probe;

		CHECK_FOR_INTERRUPTS();
		memset(&probe, 0, sizeof(probe));
		reader_scan_ledger(ledger, middle - 1, high, snapshot, probe_first_message,
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
expiry_first_publish_time(const LedgerInfo *ledger, int64 after, int64 last,
						  Snapshot snapshot, TimestampTz *publish_time)
{
	PublishTimeProbe probe;

	memset(&probe, 0, sizeof(probe));
	if (after < last)
		reader_scan_ledger(ledger, after, last, snapshot, probe_first_message, &probe);
	*publish_time = probe.publish_time;
	return probe.found;
}

/*
 * Moves a subscription's cursor in one partition to 'through' as if
 * acknowledged, counting what it passed; returns that count, 0 when the
 * cursor was busy (and 'wait' was false).
 */
int64
expiry_evict_cursor_through(Subscription *subscription, const LedgerInfo *ledger,
							int64 through, bool wait)
{
	int64		expired = cursor_expire_through(subscription, ledger, through,
												wait);

	return Max(expired, 0);
}

/*
 * Messages a subscription's cursors passed by expiry or backlog eviction
 * in the given partitions (Pulsar's msgExpired), and when they last did,
 * in milliseconds since the Unix epoch (0: never).
 */
int64
expiry_count(Subscription *subscription, TopicInfo *topic, int first_ledger,
			 int num_ledgers, int64 *last_expired_ms)
{
	CatalogAccess access;
	Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};
	Datum		values[2];
	Datum	   *ledgers;
	bool		isnull;
	int64		expired;

	*last_expired_ms = 0;
	if (!cursor_expiry_table_exists())
		return 0;				/* tables older than 0.7.0 */
	ledgers = palloc(sizeof(Datum) * Max(num_ledgers, 1));
	for (int i = 0; i < num_ledgers; i++)
		ledgers[i] = Int64GetDatum(topic->ledgers[first_ledger + i].ledger_id);
	values[0] = Int64GetDatum(subscription->subscription_id);
	values[1] = PointerGetDatum(catalog_int8_array(ledgers, num_ledgers));
	catalog_access_begin(&access);
	catalog_run_sql("SELECT coalesce(sum(expired), 0)::bigint,"
					"       coalesce((extract(epoch FROM max(last_expired_at)) * 1000)::bigint, 0)"
					"  FROM pulsar.cursor_expiry"
					" WHERE subscription_id = $1 AND ledger_id = ANY ($2)",
					2, argtypes, values, NULL, true);
	expired = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	*last_expired_ms = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2,
												   &isnull));
	catalog_access_end(&access);
	return expired;
}

/*
 * Expires a subscription's messages of one partition published before
 * 'cutoff'.  Returns how many it passed.
 */
int64
expiry_expire_published_before(Subscription *subscription, const LedgerInfo *ledger,
							   TimestampTz cutoff, bool wait)
{
	int64		mark_delete = cursor_mark_delete(subscription, ledger->ledger_id);
	int64		next_entry;
	int64		last;
	Snapshot	snapshot;
	int64		through;

	/* an idle partition is not added to shared memory (read_position.c) */
	read_position_untracked(ledger->ledger_id, catalog_load_next_entry, &next_entry,
							&last);
	if (last <= mark_delete)
		return 0;
	/* after the max read position: nothing at or below it is missed */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	through = expiry_newest_published_before(ledger, mark_delete, last, cutoff,
											 snapshot);
	UnregisterSnapshot(snapshot);
	if (through <= mark_delete)
		return 0;
	return expiry_evict_cursor_through(subscription, ledger, through, wait);
}

/*
 * Opens a topic by id for a maintenance step if no transaction holds a
 * conflicting lock on it; NULL if it is busy or gone.
 */
TopicInfo *
expiry_open_topic_now(int64 topic_id, LOCKMODE lockmode)
{
	MemoryContext caller = CurrentMemoryContext;
	CatalogAccess access;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(topic_id)};
	TopicName  *name = NULL;

	catalog_access_begin(&access);
	catalog_run_sql("SELECT tenant, namespace, name FROM pulsar.topic"
					" WHERE topic_id = $1",
					1, argtypes, values, NULL, true);
	if (SPI_processed > 0)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		name = MemoryContextAlloc(caller, sizeof(TopicName));
		expiry_topic_name(SPI_getvalue(row, desc, 1), SPI_getvalue(row, desc, 2),
						  SPI_getvalue(row, desc, 3), name);
	}
	catalog_access_end(&access);
	if (name == NULL)
		return NULL;
	return catalog_try_resolve_topic(name, lockmode);
}

/*
 * A limit of a topic's policy in effect: false if there is none.
 */
bool
expiry_effective_limit(int64 topic_id, const char *policy, const char *field,
					   int64 *value)
{
	CatalogAccess access;
	bool		limited;

	catalog_access_begin(&access);
	limited = policy_limit(policy_effective(topic_id, policy), field, value);
	catalog_access_end(&access);
	return limited;
}

/*
 * Message TTL of one topic: each of its subscriptions moves past what was
 * published more than the TTL before 'now'.  Returns how many messages
 * expired.
 */
int64
expiry_apply_message_ttl(int64 topic_id, TimestampTz now)
{
	TopicInfo  *topic;
	int64		ttl;
	int64		expired = 0;
	ListCell   *lc;

	if (!expiry_effective_limit(topic_id, "message_ttl", "ttl", &ttl))
		return 0;
	topic = expiry_open_topic_now(topic_id, AccessShareLock);
	if (topic == NULL)
		return 0;
	foreach(lc, expiry_subscription_names(topic->topic_id))
	{
		Subscription *subscription = subscription_try_open(topic, lfirst(lc),
														   AccessShareLock);

		if (subscription == NULL)
			continue;
		for (int i = 0; i < topic->num_ledgers; i++)
			expired += expiry_expire_published_before(subscription, &topic->ledgers[i],
													  now - ttl * USECS_PER_SEC,
													  false);
	}
	return expired;
}

/*
 * The maintenance step: see expiry_apply_message_ttl().  Tables locked by others
 * leave the topic for the next pass.
 */
void
expiry_message_ttl_step(int64 topic_id)
{
	int64		ttl;

	if (!expiry_lock_policy_tables_now() ||
		!expiry_effective_limit(topic_id, "message_ttl", "ttl", &ttl) ||
		!expiry_lock_cursor_tables_now())
		return;
	(void) expiry_apply_message_ttl(topic_id, GetCurrentTimestamp());
}

/*
 * Which of 'count' topics (ascending) the maintenance pass must look at for
 * message TTL: those with a TTL in effect and a subscription.  Sets
 * needed[i] for topic_ids[i].
 */
void
expiry_message_ttl_select_topics(const int64 *topic_ids, int count, bool *needed)
{
	catalog_select_topics("SELECT t.topic_id FROM " POLICY_OF_BATCH("'message_ttl'") " t"
						  " WHERE (t.v ->> 'ttl')::bigint > 0"
						  "   AND EXISTS (SELECT 1 FROM pulsar.subscription s"
						  "                WHERE s.topic_id = t.topic_id)",
						  0, NULL, NULL, topic_ids, count, needed);
}

/*
 * For the worker: subscriptions that lost consumers in transactions that
 * committed since its last cycle ('all': too many to name, so every one)
 * had a consumer until 'now'.  Rows of subscriptions gone since go, every
 * ACTIVITY_CLEANUP_INTERVAL_MS (subscription ids are never reused): only
 * the worker writes this table, so nobody waits for anybody.
 */
void
expiry_note_subscriptions_active(const int64 *subscription_ids, int count, bool all,
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
	catalog_access_begin(&access);
	/* a scan of the table: not at every consumer's departure */
	if (TimestampDifferenceExceeds(activity_cleaned_at, now,
								   ACTIVITY_CLEANUP_INTERVAL_MS))
	{
		catalog_run_sql("DELETE FROM pulsar.subscription_activity a"
						" WHERE NOT EXISTS (SELECT 1 FROM pulsar.subscription s"
						"                    WHERE s.subscription_id = a.subscription_id)",
						0, NULL, NULL, NULL, false);
		activity_cleaned_at = now;
	}
	if (all)
		catalog_run_sql("INSERT INTO pulsar.subscription_activity"
						" SELECT subscription_id, $1 FROM pulsar.subscription"
						" ON CONFLICT (subscription_id) DO UPDATE"
						"   SET last_consumer_at = greatest(subscription_activity.last_consumer_at,"
						"                                   EXCLUDED.last_consumer_at)",
						1, argtypes, values, NULL, false);
	else
		catalog_run_sql("INSERT INTO pulsar.subscription_activity"
						" SELECT s.subscription_id, $1 FROM pulsar.subscription s"
						"  WHERE s.subscription_id = ANY ($2)"
						" ON CONFLICT (subscription_id) DO UPDATE"
						"   SET last_consumer_at = greatest(subscription_activity.last_consumer_at,"
						"                                   EXCLUDED.last_consumer_at)",
						2, argtypes, values, NULL, false);
	catalog_access_end(&access);
}

/*
 * Subscription expiration of one topic: removes its subscriptions that
 * have had no consumer for their expiration time before 'now', counting
 * from their creation, the last time they had a consumer, or
 * 'consumers_known_since', whichever is latest.  Returns how many it
 * removed.
 */
int64
expiry_expire_subscriptions(int64 topic_id, TimestampTz now,
							TimestampTz consumers_known_since)
{
	MemoryContext caller = CurrentMemoryContext;
	CatalogAccess access;
	Oid			argtypes[4] = {INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID};
	Datum		values[4];
	TopicInfo  *topic;
	List	   *names = NIL;
	ListCell   *lc;
	int64		expiration;
	int64		removed = 0;

	if (!expiry_effective_limit(topic_id, "subscription_expiration_time",
								"expiration", &expiration))
		return 0;
	values[0] = Int64GetDatum(topic_id);
	values[1] = TimestampTzGetDatum(now);
	values[2] = TimestampTzGetDatum(consumers_known_since);
	values[3] = Int64GetDatum(expiration);
	catalog_access_begin(&access);
	catalog_run_sql("SELECT s.name FROM pulsar.subscription s"
					"  LEFT JOIN pulsar.subscription_activity a"
					"    ON a.subscription_id = s.subscription_id"
					" WHERE s.topic_id = $1"
					"   AND NOT EXISTS (SELECT 1 FROM pulsar.consumer c"
					"                    WHERE c.subscription_id = s.subscription_id)"
					"   AND greatest(s.created_at, a.last_consumer_at, $3)"
					"       + $4 * interval '1 second' <= $2"
					" ORDER BY s.name",
					4, argtypes, values, NULL, true);
	names = result_names(caller);
	catalog_access_end(&access);
	if (names == NIL)
		return 0;

	topic = expiry_open_topic_now(topic_id, AccessShareLock);
	if (topic == NULL)
		return 0;
	foreach(lc, names)
	{
		if (!subscription_remove_abandoned(topic, lfirst(lc)))
			continue;
		ereport(LOG,
				(errmsg("pulsar_pg removed subscription \"%s\" of topic \"%s\", which had no consumer for its expiration time",
						(char *) lfirst(lc),
						topic_name_string(&topic->name, NOT_A_PARTITION))));
		removed++;
	}
	return removed;
}

/*
 * The maintenance step: see expiry_expire_subscriptions().  Tables locked by
 * others leave the topic for the next pass.
 */
void
expiry_subscription_expiration_step(int64 topic_id)
{
	int64		expiration;

	if (!expiry_lock_policy_tables_now() ||
		!expiry_effective_limit(topic_id, "subscription_expiration_time",
								"expiration", &expiration) ||
		!catalog_lock_tables_now(expiration_read_tables,
								 lengthof(expiration_read_tables),
								 AccessShareLock) ||
		!catalog_lock_tables_now(expiration_write_tables,
								 lengthof(expiration_write_tables),
								 RowExclusiveLock))
		return;
	(void) expiry_expire_subscriptions(topic_id, GetCurrentTimestamp(),
									   expiry_consumers_known_since);
}

/*
 * Which of 'count' topics (ascending) the maintenance pass must look at for
 * subscription expiration: those with an expiration time in effect and a
 * subscription.  Sets needed[i] for topic_ids[i].
 */
void
expiry_subscription_expiration_select_topics(const int64 *topic_ids, int count,
											 bool *needed)
{
	catalog_select_topics("SELECT t.topic_id"
						  "  FROM " POLICY_OF_BATCH("'subscription_expiration_time'") " t"
						  " WHERE (t.v ->> 'expiration')::bigint > 0"
						  "   AND EXISTS (SELECT 1 FROM pulsar.subscription s"
						  "                WHERE s.topic_id = t.topic_id)",
						  0, NULL, NULL, topic_ids, count, needed);
}

/* one topic's turn in expiry_apply_policies() */
typedef struct ExpiryTurn
{
	int64		topic_id;
	TimestampTz now;
	TimestampTz consumers_known_since;
	ExpiryCounts *counts;
} ExpiryTurn;

static void
apply_ttl_turn(void *arg)
{
	ExpiryTurn *turn = arg;

	turn->counts->messages_expired += expiry_apply_message_ttl(turn->topic_id,
															   turn->now);
}

static void
expire_subscriptions_turn(void *arg)
{
	ExpiryTurn *turn = arg;

	turn->counts->subscriptions_expired +=
		expiry_expire_subscriptions(turn->topic_id, turn->now,
									turn->consumers_known_since);
}

static void
apply_backlog_quota_turn(void *arg)
{
	ExpiryTurn *turn = arg;

	backlog_quota_apply(turn->topic_id, turn->now,
						&turn->counts->quotas_exceeded,
						&turn->counts->messages_evicted);
}

static void
delete_inactive_turn(void *arg)
{
	ExpiryTurn *turn = arg;

	if (inactive_topic_delete_if_inactive(turn->topic_id, turn->now,
										  turn->consumers_known_since))
		turn->counts->topics_deleted++;
}

/*
 * Applies every expiry policy to every topic (of a namespace, unless
 * 'tenant' is NULL) once, each step of each topic
 * in a subtransaction: message TTL, subscription expiration, backlog
 * quotas, inactive topics, in the order the maintenance pass runs them.
 */
void
expiry_apply_policies(const char *tenant, const char *namespace,
					  TimestampTz now, TimestampTz consumers_known_since,
					  ExpiryCounts *counts)
{
	MemoryContext caller = CurrentMemoryContext;
	CatalogAccess access;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	int64	   *topic_ids;
	uint64		count;
	ExpiryTurn	turn;

	memset(counts, 0, sizeof(ExpiryCounts));
	if (tenant == NULL)
		nulls[0] = nulls[1] = 'n';
	else
	{
		values[0] = CStringGetTextDatum(tenant);
		values[1] = CStringGetTextDatum(namespace);
	}
	catalog_access_begin(&access);
	catalog_run_sql("SELECT topic_id FROM pulsar.topic"
					" WHERE $1 IS NULL OR (tenant = $1 AND namespace = $2)"
					" ORDER BY topic_id",
					2, argtypes, values, nulls, true);
	count = SPI_processed;
	topic_ids = MemoryContextAlloc(caller, sizeof(int64) * Max(count, 1));
	for (uint64 i = 0; i < count; i++)
	{
		bool		isnull;

		topic_ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 1,
												   &isnull));
	}
	catalog_access_end(&access);

	turn.now = now;
	turn.consumers_known_since = consumers_known_since;
	turn.counts = counts;
	for (uint64 i = 0; i < count; i++)
	{
		turn.topic_id = topic_ids[i];
		expiry_run_guarded(apply_ttl_turn, &turn, "the message TTL");
		expiry_run_guarded(expire_subscriptions_turn, &turn,
						   "the subscription expiration time");
		expiry_run_guarded(apply_backlog_quota_turn, &turn, "the backlog quota");
		expiry_run_guarded(delete_inactive_turn, &turn, "the inactive topic policy");
	}
}
