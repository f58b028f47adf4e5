/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The extension's catalog and the per-backend cache of it.
 *
 * Tenants, namespaces, topics, ledgers (one per partition) and segments
 * live in logged tables of schema pulsar; messages live in segment tables
 * of schema pulsar_data, each holding a fixed range of one ledger's entry
 * ids, so that storage can be reclaimed by dropping whole segments.
 *
 * Users have no privileges on these tables.  Catalog SQL runs as the
 * extension's owner, with a search_path of pg_catalog only, and reads with
 * the latest snapshot: a topic created after a REPEATABLE READ transaction
 * began is still found rather than created twice.
 *
 * Every backend caches what it resolved.  Creating or deleting a topic, or
 * changing a namespace, sends a relcache invalidation for pulsar.topic;
 * the callback only marks the cache stale, and the cache is rebuilt at the
 * next catalog_resolve_topic(); the old one is freed with the transaction, so
 * pointers handed out stay valid until then.
 * Entry points lock the topic (a heavyweight lock on its catalog row)
 * before using it; taking that lock processes pending invalidations, so a
 * topic deleted meanwhile is noticed.  Senders and readers take it in
 * AccessShareLock, delete_topic in AccessExclusiveLock.
 *
 * Each ledger row also holds the ledger's high-water mark of entry ids,
 * written in place by senders ahead of the ids they take (read_position.c
 * says why); ledger rows are therefore never UPDATEd.
 *
 * Segment tables are created by short-lived segment workers, each in a
 * transaction of its own (segment_worker.c): the sender that takes the first
 * entry of a segment asks for the next one, and a sender that finds its
 * segment missing waits for one.  Workers of a ledger take turns on a lock
 * that no waiting sender holds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "2_shmem/rate_limit.h"
#include "2_shmem/read_position.h"
#include "2_shmem/worker_signal.h"
#include "3_catalog/catalog.h"
#include "3_catalog/policy.h"

#define CATALOG_SCHEMA	"pulsar"
#define DATA_SCHEMA		"pulsar_data"

/* objsubid of the heavyweight locks taken on catalog rows */
#define LOCK_TOPIC			0	/* on pulsar.topic, objid = topic id */
#define LOCK_TOPIC_NAME		1	/* on pulsar.topic, objid = name hash */
#define LOCK_SEGMENTS		2	/* on pulsar.topic, objid = ledger id */
#define LOCK_SUBSCRIPTION	3	/* on pulsar.topic, objid = hash of topic
								 * id and subscription name */
#define LOCK_DISPATCH		4	/* on pulsar.topic, objid = hash of
								 * subscription id and ledger id */
#define LOCK_ENTRY_MARK		5	/* on pulsar.topic, objid = ledger id */
#define LOCK_TRIM			6	/* on pulsar.topic, objid = ledger id */
#define LOCK_COMPACTION		7	/* on pulsar.topic, objid = ledger id */
#define LOCK_LIMIT_COUNT	8	/* on pulsar.topic, objid = hash of what a
								 * count limit counts (catalog_lock_limit_slot()) */

/*
 * The column of pulsar.ledger holding the ledger's high-water mark (since
 * 0.6.0): every entry id handed out is below it.  It is written in place,
 * never by UPDATE, so no other statement may UPDATE ledger rows: an update
 * would leave the mark in a dead version.
 */
#define LEDGER_HIGH_WATER	"entry_high_water"
#define LEDGER_ID_ATTNUM	1

/* what the cache knows, rebuilt after any invalidation */
static bool cache_valid = false;
static MemoryContext CacheContext = NULL;
static HTAB *TopicCache = NULL;
static Oid	catalog_namespace_oid = InvalidOid;
static Oid	data_namespace_oid = InvalidOid;
static Oid	topic_catalog_oid = InvalidOid;
static Oid	extension_owner = InvalidOid;
static Oid	relation_oids[NUM_CATALOG_RELATIONS];

static void
catalog_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == topic_catalog_oid)
		cache_valid = false;
}

void
CatalogInit(void)
{
	CacheRegisterRelcacheCallback(catalog_relcache_callback, (Datum) 0);
}

static void
ensure_cache_valid(void)
{
	HASHCTL		info;
	HeapTuple	tuple;

	if (cache_valid)
		return;

	/*
	 * The old cache may still be pointed to by callers up the stack (a
	 * receive that publishes a dead letter resolves a second topic): it lives
	 * on until the end of the transaction.
	 */
	if (CacheContext != NULL)
		MemoryContextSetParent(CacheContext, IsTransactionState() ?
							   TopTransactionContext : CacheMemoryContext);
	CacheContext = AllocSetContextCreate(CacheMemoryContext,
										 "pulsar_pg catalog cache",
										 ALLOCSET_DEFAULT_SIZES);
	TopicCache = NULL;

	catalog_namespace_oid = get_namespace_oid(CATALOG_SCHEMA, false);
	data_namespace_oid = get_namespace_oid(DATA_SCHEMA, false);
	topic_catalog_oid = get_relname_relid("topic", catalog_namespace_oid);
	memset(relation_oids, 0, sizeof(relation_oids));
	if (!OidIsValid(topic_catalog_oid))
		elog(ERROR, "pulsar_pg catalog table pulsar.topic is missing");

	tuple = SearchSysCache1(NAMESPACEOID,
							ObjectIdGetDatum(catalog_namespace_oid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for namespace %u",
			 catalog_namespace_oid);
	extension_owner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
	ReleaseSysCache(tuple);

	info.keysize = sizeof(((TopicInfo *) NULL)->key);
	info.entrysize = sizeof(TopicInfo);
	info.hcxt = CacheContext;
	TopicCache = hash_create("pulsar_pg topics", 64, &info,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	/* invalidations that arrived while rebuilding are covered: we just read */
	cache_valid = true;
}

/*
 * Tells every backend, this one included, that the topic catalog changed.
 */
static void
invalidate_topic_cache(void)
{
	CacheInvalidateRelcacheByRelid(topic_catalog_oid);
}

/*
 * Runs what follows as the extension's owner with a safe search_path, until
 * catalog_access_end().  The cache is rebuilt here only if it was never
 * built: callers may hold pointers into it.
 */
void
catalog_access_begin(CatalogAccess *access)
{
	if (!OidIsValid(extension_owner))
		ensure_cache_valid();
	GetUserIdAndSecContext(&access->save_userid, &access->save_sec_context);
	SetUserIdAndSecContext(extension_owner,
						   access->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	access->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
catalog_access_end(CatalogAccess *access)
{
	SPI_finish();
	AtEOXact_GUC(true, access->save_nestlevel);
	SetUserIdAndSecContext(access->save_userid, access->save_sec_context);
}

/*
 * The OID of one of the extension's tables or indexes, for the hot paths
 * that read and lock rows without going through SPI.
 */
Oid
catalog_relation_oid(CatalogRelation relation)
{
	static const char *const names[NUM_CATALOG_RELATIONS] = {
		[CATALOG_CURSOR] = "cursor",
		[CATALOG_ACKED_RANGE] = "acked_range",
		[CATALOG_PENDING] = "pending",
		[CATALOG_CONSUMER] = "consumer",
		[CATALOG_CONSUMER_BY_NAME] = "consumer_subscription_id_name_key",
		[CATALOG_LEDGER] = "ledger",
		[CATALOG_LEDGER_PKEY] = "ledger_pkey",
		[CATALOG_SEGMENT] = "segment",
		[CATALOG_SEGMENT_PKEY] = "segment_pkey",
	};

	ensure_cache_valid();
	if (!OidIsValid(relation_oids[relation]))
	{
		relation_oids[relation] = get_relname_relid(names[relation],
													catalog_namespace_oid);
		if (!OidIsValid(relation_oids[relation]))
			elog(ERROR, "pulsar_pg catalog relation pulsar.%s is missing",
				 names[relation]);
	}
	return relation_oids[relation];
}

/*
 * Whether the installed extension's tables are those this library's
 * consuming code needs: pending messages tracked by runs of entries, since
 * 0.4.0.  Caller is in a transaction.
 */
bool
catalog_consumption_tables_current(void)
{
	Oid			schema = get_namespace_oid("pulsar", true);
	Oid			pending;

	if (!OidIsValid(schema))
		return false;
	pending = get_relname_relid("pending", schema);
	return OidIsValid(pending) &&
		get_attnum(pending, "last_entry") != InvalidAttrNumber;
}

/*
 * Fails clearly while ALTER EXTENSION ... UPDATE has not been run.  Every
 * consuming call asks, so a success is remembered until the subscriptions
 * generation moves (CREATE EXTENSION, of any version, moves it).
 */
void
catalog_require_consumption_tables(void)
{
	static uint64 current_at_generation = 0;
	uint64		generation = worker_signal_subscriptions_generation();

	if (generation != 0 && generation == current_at_generation &&
		!worker_signal_subscriptions_changed_here())
		return;
	if (!catalog_consumption_tables_current())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pulsar_pg\" must be updated before subscriptions can be used"),
				 errdetail("The installed library needs version %s of the extension's tables.",
						   PULSAR_PG_CONSUMPTION_VERSION),
				 errhint("Run ALTER EXTENSION pulsar_pg UPDATE.")));
	current_at_generation = generation;
}

/*
 * Prepared plans of catalog statements, keyed by their text.  Only fixed
 * statements come here; the plan cache replans them when tables change.
 */
typedef struct CatalogPlan
{
	const char *sql;			/* hash key: the statement's address */
	SPIPlanPtr	plan;
} CatalogPlan;

static HTAB *CatalogPlans = NULL;

static SPIPlanPtr
catalog_plan(const char *sql, int nargs, Oid *argtypes)
{
	CatalogPlan *entry;

	if (CatalogPlans == NULL)
	{
		HASHCTL		info;

		info.keysize = sizeof(const char *);
		info.entrysize = sizeof(CatalogPlan);
		CatalogPlans = hash_create("pulsar_pg catalog plans", 64, &info,
								   HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(CatalogPlans, &sql, HASH_FIND, NULL);
	if (entry == NULL)
	{
		/* entered once prepared: SPI_prepare() may fail (a cancel, a lock) */
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		entry = hash_search(CatalogPlans, &sql, HASH_ENTER, NULL);
		entry->plan = plan;
	}
	return entry->plan;
}

/*
 * Runs a fixed catalog statement; 'sql' must be a string constant, since
 * its address identifies the prepared plan.  Reads see the latest committed
 * state, whatever the caller's isolation level.
 */
int
catalog_run_sql(const char *sql, int nargs, Oid *argtypes, Datum *values,
				const char *nulls, bool latest_snapshot)
{
	SPIPlanPtr	plan = catalog_plan(sql, nargs, argtypes);
	int			rc;

	if (latest_snapshot)
		rc = SPI_execute_snapshot(plan, values, nulls, GetLatestSnapshot(),
								  InvalidSnapshot, false, true, 0);
	else
		rc = SPI_execute_plan(plan, values, nulls, false, 0);
	if (rc < 0)
		elog(ERROR, "SPI failed for \"%s\": %s", sql,
			 SPI_result_code_string(rc));
	return rc;
}

/* A bigint[] parameter for catalog SQL, of 'count' int8 Datums. */
ArrayType *
catalog_int8_array(Datum *elements, int count)
{
	return construct_array(elements, count, INT8OID, 8, true, TYPALIGN_DOUBLE);
}

/*
 * catalog_run_sql() for a statement whose parameters, at most
 * MAX_INT8_CATALOG_ARGS, are all bigint.
 */
int
catalog_run_sql_int8(const char *sql, int nargs, const int64 *args,
					 bool latest_snapshot)
{
	Oid			argtypes[MAX_INT8_CATALOG_ARGS];
	Datum		values[MAX_INT8_CATALOG_ARGS];

	if (nargs > MAX_INT8_CATALOG_ARGS)
		elog(ERROR, "too many arguments for \"%s\": %d", sql, nargs);
	for (int i = 0; i < nargs; i++)
	{
		argtypes[i] = INT8OID;
		values[i] = Int64GetDatum(args[i]);
	}
	return catalog_run_sql(sql, nargs, argtypes, values, NULL,
						   latest_snapshot);
}

/*
 * Runs a one-off utility statement (DDL on segment tables).
 */
static void
run_catalog_ddl(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI failed for \"%s\": %s", sql,
			 SPI_result_code_string(rc));
}

static int64
result_int64(int row, int column, bool *isnull)
{
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row],
									   SPI_tuptable->tupdesc, column, isnull));
}

/*
 * Refuses a change where changes cannot be made or tracked: a read-only
 * transaction, a standby, or a server without the library preloaded.
 */
void
catalog_require_writable(const char *function)
{
	PreventCommandIfReadOnly(function);
	PreventCommandDuringRecovery(function);
	read_position_require_state();
}

/*
 * Reports which of tenant or namespace is missing; returns if both exist.
 */
void
catalog_check_namespace_exists(const char *tenant, const char *namespace)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(tenant),
	CStringGetTextDatum(namespace)};

	catalog_run_sql("SELECT 1 FROM pulsar.namespace WHERE tenant = $1 AND name = $2",
					2, argtypes, values, NULL, true);
	if (SPI_processed > 0)
		return;
	catalog_run_sql("SELECT 1 FROM pulsar.tenant WHERE name = $1",
					1, argtypes, values, NULL, true);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant \"%s\" does not exist", tenant),
				 errhint("Create it with pulsar.create_tenant().")));
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("namespace \"%s/%s\" does not exist", tenant, namespace),
			 errhint("Create it with pulsar.create_namespace().")));
}

static void
topic_key(const TopicName *name, char *key)
{
	snprintf(key, sizeof(((TopicInfo *) NULL)->key), "%s/%s/%s",
			 name->tenant, name->namespace, name->local_name);
}

/*
 * Loads a topic into the cache from the catalog; NULL if it does not exist.
 * Caller is inside catalog_access_begin().
 */
static TopicInfo *
load_topic(const TopicName *name)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3] = {CStringGetTextDatum(name->tenant),
		CStringGetTextDatum(name->namespace),
	CStringGetTextDatum(name->local_name)};
	char		key[sizeof(((TopicInfo *) NULL)->key)];
	TopicInfo  *topic;
	bool		isnull;
	bool		found;
	int64		topic_id;
	int32		partitions;
	bool		deduplication;

	catalog_run_sql("SELECT t.topic_id, t.partitions, n.deduplication"
					"  FROM pulsar.topic t"
					"  JOIN pulsar.namespace n"
					"    ON n.tenant = t.tenant AND n.name = t.namespace"
					" WHERE t.tenant = $1 AND t.namespace = $2 AND t.name = $3",
					3, argtypes, values, NULL, true);
	if (SPI_processed == 0)
		return NULL;
	topic_id = result_int64(0, 1, &isnull);
	partitions = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 2, &isnull));
	deduplication = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 3,
											   &isnull));

	values[0] = Int64GetDatum(topic_id);
	argtypes[0] = INT8OID;
	catalog_run_sql("SELECT ledger_id, partition_index, segment_entries"
					"  FROM pulsar.ledger WHERE topic_id = $1"
					" ORDER BY partition_index",
					1, argtypes, values, NULL, true);
	if (SPI_processed != (partitions > 0 ? partitions : 1))
		elog(ERROR, "pulsar_pg catalog is inconsistent for topic " INT64_FORMAT,
			 topic_id);

	topic_key(name, key);
	topic = hash_search(TopicCache, key, HASH_ENTER, &found);
	topic->topic_id = topic_id;
	topic->name = *name;
	topic->name.partition_index = NOT_A_PARTITION;
	topic->partitions = partitions;
	topic->deduplication = deduplication;
	topic->round_robin = (uint32) random();
	topic->num_ledgers = (int) SPI_processed;
	topic->ledgers = MemoryContextAlloc(CacheContext,
										sizeof(LedgerInfo) * SPI_processed);
	for (int i = 0; i < topic->num_ledgers; i++)
	{
		LedgerInfo *ledger = &topic->ledgers[i];

		ledger->ledger_id = result_int64(i, 1, &isnull);
		ledger->partition_index =
			DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 2, &isnull));
		ledger->segment_entries = result_int64(i, 3, &isnull);
	}
	return topic;
}

/*
 * Creates a table of schema pulsar_data shaped like pulsar.segment_template
 * (a segment, or a compacted view).  Caller is inside catalog_access_begin().
 */
static void
create_data_table(const char *relname)
{
	ObjectAddress table;
	ObjectAddress extension;

	run_catalog_ddl(psprintf("CREATE TABLE %s.%s"
							 " (LIKE pulsar.segment_template INCLUDING ALL)",
							 DATA_SCHEMA, quote_identifier(relname)));
	CommandCounterIncrement();

	/* DROP EXTENSION takes the table with it */
	ObjectAddressSet(table, RelationRelationId,
					 get_relname_relid(relname, data_namespace_oid));
	ObjectAddressSet(extension, ExtensionRelationId,
					 get_extension_oid("pulsar_pg", false));
	recordDependencyOn(&table, &extension, DEPENDENCY_AUTO);
}

static char *
segment_table_name(int64 ledger_id, int64 segment_no)
{
	return psprintf("ledger_" INT64_FORMAT "_" INT64_FORMAT,
					ledger_id, segment_no);
}

/*
 * Creates a segment table and its catalog row.  Caller is inside
 * catalog_access_begin(), has checked that the segment does not exist, and
 * either holds the ledger's segment lock or created the ledger in this
 * transaction, where nobody else can see it.
 */
static void
create_segment_locked(int64 ledger_id, int64 segment_no)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(ledger_id), Int64GetDatum(segment_no)};

	create_data_table(segment_table_name(ledger_id, segment_no));
	catalog_run_sql("INSERT INTO pulsar.segment (ledger_id, segment_no)"
					" VALUES ($1, $2)",
					2, argtypes, values, NULL, false);
	CommandCounterIncrement();
}

static void
set_segment_locktag(LOCKTAG *tag, int64 ledger_id)
{
	SET_LOCKTAG_OBJECT(*tag, MyDatabaseId, topic_catalog_oid, (Oid) ledger_id,
					   LOCK_SEGMENTS);
}

static bool
ledger_exists(int64 ledger_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(ledger_id)};

	catalog_run_sql("SELECT 1 FROM pulsar.ledger WHERE ledger_id = $1",
					1, argtypes, values, NULL, true);
	return SPI_processed > 0;
}

/*
 * Whether every entry id of a segment was handed out and is settled: a later
 * segment is closed.  Such a segment is never created again, whoever asked
 * for it long ago: missing, it was trimmed (or held only aborted sends).
 */
static bool
segment_passed(int64 ledger_id, int64 segment_no)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(ledger_id), Int64GetDatum(segment_no)};

	if (!catalog_maintenance_tables_current())
		return false;
	catalog_run_sql("SELECT 1 FROM pulsar.segment"
					" WHERE ledger_id = $1 AND segment_no >= $2"
					"   AND closed_at IS NOT NULL LIMIT 1",
					2, argtypes, values, NULL, true);
	return SPI_processed > 0;
}

/*
 * For the segment worker: creates a segment in the current transaction
 * unless it exists or its ledger is gone.  Creators of one ledger's segments
 * take turns on a lock that only workers and delete_topic take, and that no
 * transaction holds while it waits for a worker.
 */
void
catalog_create_segment_in_worker(int64 ledger_id, int64 segment_no)
{
	CatalogAccess access;
	LOCKTAG		tag;
	Oid			extension_oid = get_extension_oid("pulsar_pg", true);

	/*
	 * First the extension, and without waiting: DROP EXTENSION holds it while
	 * it waits for the tables we would touch, and a sender may be waiting
	 * for us.  A worker that steps aside makes that sender fail clearly.
	 */
	if (!OidIsValid(extension_oid))
		return;
	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, ExtensionRelationId, extension_oid, 0);
	if (LockAcquire(&tag, AccessShareLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return;
	AcceptInvalidationMessages();
	if (!OidIsValid(get_extension_oid("pulsar_pg", true)))
		return;

	ensure_cache_valid();
	catalog_access_begin(&access);
	if (ledger_exists(ledger_id))
	{
		set_segment_locktag(&tag, ledger_id);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		/* what we waited for may have created it, or deleted the ledger */
		AcceptInvalidationMessages();
		if (ledger_exists(ledger_id) &&
			!OidIsValid(get_relname_relid(segment_table_name(ledger_id,
															 segment_no),
										  data_namespace_oid)) &&
			!segment_passed(ledger_id, segment_no))
			create_segment_locked(ledger_id, segment_no);
	}
	catalog_access_end(&access);
}

/*
 * Serialises, for the rest of the transaction, the transactions that take
 * one of the slots a count limit bounds ('what' names the count, 'id' its
 * owner): each counts the slots taken only once it holds this lock, when
 * the transactions that held it before have committed or aborted, so two
 * of them cannot both take the last slot.  Taken only where a limit is
 * set.
 */
void
catalog_lock_limit_slot(const char *what, int64 id)
{
	uint32		hash = hash_bytes((const unsigned char *) what, strlen(what));

	hash = hash_combine(hash, hash_bytes_uint32((uint32) id));
	hash = hash_combine(hash, hash_bytes_uint32((uint32) (id >> 32)));
	ensure_cache_valid();
	LockDatabaseObject(topic_catalog_oid, (Oid) hash, LOCK_LIMIT_COUNT,
					   ExclusiveLock);
}

/*
 * Fails if the namespace's max_topics_per_namespace leaves no room for a
 * topic of 'partitions' partitions (each counts as a topic, as in Pulsar).
 * Caller is inside catalog_access_begin().
 */
static void
check_topic_count(const TopicName *name, int32 partitions)
{
	int64		max_topics = policy_max_topics_per_namespace(name->tenant,
															 name->namespace);
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(name->tenant),
	CStringGetTextDatum(name->namespace)};
	int64		topics;
	int			adding = Max(partitions, 1);
	bool		isnull;

	if (max_topics <= 0)
		return;
	catalog_lock_limit_slot(psprintf("topics of %s/%s", name->tenant, name->namespace), 0);
	catalog_run_sql("SELECT coalesce(sum(greatest(partitions, 1)), 0)::bigint"
					"  FROM pulsar.topic WHERE tenant = $1 AND namespace = $2",
					2, argtypes, values, NULL, true);
	topics = result_int64(0, 1, &isnull);
	if (topics + adding > max_topics)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("namespace \"%s/%s\" has reached its limit of " INT64_FORMAT " topics",
						name->tenant, name->namespace, max_topics),
				 errdetail("It holds " INT64_FORMAT " topics, counting each partition; topic \"%s\" would add %d.",
						   topics, topic_name_string(name, NOT_A_PARTITION), adding),
				 errhint("Delete topics that are no longer used, or raise the limit with pulsar.set_max_topics_per_namespace().")));
}

/*
 * Inserts the catalog rows and first segment of a topic whose namespace
 * exists and whose name is free.  Caller is inside catalog_access_begin()
 * and holds the name lock.
 */
static void
insert_topic(const TopicName *name, int32 partitions)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[4] = {CStringGetTextDatum(name->tenant),
		CStringGetTextDatum(name->namespace),
		CStringGetTextDatum(name->local_name),
	Int32GetDatum(partitions)};
	bool		isnull;
	int64		topic_id;

	check_topic_count(name, partitions);
	catalog_run_sql("INSERT INTO pulsar.topic (tenant, namespace, name, partitions)"
					" VALUES ($1, $2, $3, $4) RETURNING topic_id",
					4, argtypes, values, NULL, false);
	topic_id = result_int64(0, 1, &isnull);

	for (int32 p = (partitions > 0 ? 0 : NOT_A_PARTITION);
		 p < Max(partitions, 0); p++)
	{
		Oid			ledger_argtypes[3] = {INT8OID, INT4OID, INT8OID};
		Datum		ledger_values[3] = {Int64GetDatum(topic_id),
			Int32GetDatum(p),
		Int64GetDatum(pulsar_segment_entries)};
		int64		ledger_id;

		catalog_run_sql("INSERT INTO pulsar.ledger"
						" (topic_id, partition_index, segment_entries)"
						" VALUES ($1, $2, $3) RETURNING ledger_id",
						3, ledger_argtypes, ledger_values, NULL, false);
		ledger_id = result_int64(0, 1, &isnull);
		read_position_forget_at_abort(ledger_id);
		create_segment_locked(ledger_id, 0);
		if (p == NOT_A_PARTITION)
			break;
	}
	CommandCounterIncrement();
	invalidate_topic_cache();
}

/*
 * Serialises creators of one topic name for the rest of the transaction.
 */
static void
lock_topic_name(const TopicName *name)
{
	char		key[sizeof(((TopicInfo *) NULL)->key)];

	topic_key(name, key);
	LockDatabaseObject(topic_catalog_oid,
					   (Oid) hash_bytes((const unsigned char *) key, strlen(key)),
					   LOCK_TOPIC_NAME, ExclusiveLock);
}

/*
 * Finds a topic, creating it when allowed, and locks it in 'lockmode' for
 * the rest of the transaction.  The result stays valid until the next call.
 */
TopicInfo *
catalog_resolve_topic(const TopicName *name, bool create_if_missing, LOCKMODE lockmode)
{
	char		key[sizeof(((TopicInfo *) NULL)->key)];

	topic_key(name, key);
	for (;;)
	{
		TopicInfo  *topic;

		ensure_cache_valid();
		topic = hash_search(TopicCache, key, HASH_FIND, NULL);
		if (topic == NULL)
		{
			CatalogAccess access;

			catalog_access_begin(&access);
			topic = load_topic(name);
			if (topic == NULL)
			{
				catalog_check_namespace_exists(name->tenant, name->namespace);
				if (!create_if_missing || !pulsar_allow_auto_topic_creation ||
					name->partition_index != NOT_A_PARTITION)
					ereport(ERROR,
							(errcode(ERRCODE_UNDEFINED_OBJECT),
							 errmsg("topic \"%s\" does not exist",
									topic_name_string(name, name->partition_index)),
							 (create_if_missing && name->partition_index == NOT_A_PARTITION) ?
							 errhint("Create it with pulsar.create_topic(), or set pulsar_pg.allow_auto_topic_creation to on.") : 0));
				lock_topic_name(name);
				topic = load_topic(name);
				if (topic == NULL)
				{
					insert_topic(name, 0);
					topic = load_topic(name);
				}
			}
			catalog_access_end(&access);
		}

		LockDatabaseObject(topic_catalog_oid, (Oid) topic->topic_id,
						   LOCK_TOPIC, lockmode);
		if (cache_valid)
			return topic;
		/* the topic changed while we waited for it: look again */
	}
}

/*
 * catalog_resolve_topic() for those who must not wait (the database worker's
 * maintenance): NULL when the topic does not exist, or when another
 * transaction holds or awaits a lock on it that conflicts with 'lockmode'.
 */
TopicInfo *
catalog_try_resolve_topic(const TopicName *name, LOCKMODE lockmode)
{
	char		key[sizeof(((TopicInfo *) NULL)->key)];

	topic_key(name, key);
	for (;;)
	{
		TopicInfo  *topic;

		ensure_cache_valid();
		topic = hash_search(TopicCache, key, HASH_FIND, NULL);
		if (topic == NULL)
		{
			CatalogAccess access;

			catalog_access_begin(&access);
			topic = load_topic(name);
			catalog_access_end(&access);
			if (topic == NULL)
				return NULL;
		}
		if (!ConditionalLockDatabaseObject(topic_catalog_oid,
										   (Oid) topic->topic_id, LOCK_TOPIC,
										   lockmode))
			return NULL;
		if (cache_valid)
			return topic;
	}
}

/*
 * Locks a subscription of a topic (existing or not) for the rest of the
 * transaction: consumers share it, attaching a consumer takes it in
 * ExclusiveLock, and unsubscribe and seek in AccessExclusiveLock.
 */
void
catalog_lock_subscription(int64 topic_id, const char *name, LOCKMODE lockmode)
{
	uint32		hash = hash_bytes((const unsigned char *) name, strlen(name));

	hash = hash_combine(hash, hash_bytes_uint32((uint32) topic_id));
	LockDatabaseObject(topic_catalog_oid, (Oid) hash, LOCK_SUBSCRIPTION,
					   lockmode);
}

/*
 * catalog_lock_subscription() without waiting: false if another transaction holds
 * or awaits a conflicting lock.
 */
bool
catalog_try_lock_subscription(int64 topic_id, const char *name, LOCKMODE lockmode)
{
	uint32		hash = hash_bytes((const unsigned char *) name, strlen(name));

	hash = hash_combine(hash, hash_bytes_uint32((uint32) topic_id));
	return ConditionalLockDatabaseObject(topic_catalog_oid, (Oid) hash,
										 LOCK_SUBSCRIPTION, lockmode);
}

/*
 * Gives back one hold of a subscription's lock taken by catalog_lock_subscription()
 * in this transaction: it stays held if the transaction took it before.
 */
void
catalog_unlock_subscription(int64 topic_id, const char *name, LOCKMODE lockmode)
{
	uint32		hash = hash_bytes((const unsigned char *) name, strlen(name));

	hash = hash_combine(hash, hash_bytes_uint32((uint32) topic_id));
	UnlockDatabaseObject(topic_catalog_oid, (Oid) hash, LOCK_SUBSCRIPTION,
						 lockmode);
}

static void
set_dispatch_locktag(LOCKTAG *tag, int64 subscription_id, int64 ledger_id)
{
	uint32		hash = hash_bytes_uint32((uint32) subscription_id);

	hash = hash_combine(hash, hash_bytes_uint32((uint32) ledger_id));
	SET_LOCKTAG_OBJECT(*tag, MyDatabaseId, topic_catalog_oid, (Oid) hash,
					   LOCK_DISPATCH);
}

/*
 * Serialises the receivers of one subscription in one partition for the
 * duration of a receive call, not of their transactions.
 */
void
catalog_lock_dispatch(int64 subscription_id, int64 ledger_id)
{
	LOCKTAG		tag;

	set_dispatch_locktag(&tag, subscription_id, ledger_id);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

void
catalog_unlock_dispatch(int64 subscription_id, int64 ledger_id)
{
	LOCKTAG		tag;

	set_dispatch_locktag(&tag, subscription_id, ledger_id);
	LockRelease(&tag, ExclusiveLock, false);
}

/*
 * The ledger that a topic name addresses: a non-partitioned topic's only
 * ledger, or the partition named by "-partition-N".
 */
LedgerInfo *
catalog_resolve_ledger(TopicInfo *topic, const TopicName *name)
{
	if (name->partition_index == NOT_A_PARTITION)
	{
		if (topic->partitions > 0)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("topic \"%s\" is partitioned",
							topic_name_string(name, NOT_A_PARTITION)),
					 errhint("Name one partition, for example \"%s\".",
							 topic_name_string(name, 0))));
		return &topic->ledgers[0];
	}
	if (topic->partitions == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("topic \"%s\" is not partitioned",
						topic_name_string(name, NOT_A_PARTITION))));
	if (name->partition_index >= topic->partitions)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partition index %d is out of range for topic \"%s\"",
						name->partition_index,
						topic_name_string(name, NOT_A_PARTITION)),
				 errdetail("The topic has %d partitions, numbered from 0.",
						   topic->partitions)));
	return &topic->ledgers[name->partition_index];
}

char *
catalog_create_topic(const TopicName *name, int32 partitions)
{
	CatalogAccess access;
	TopicInfo  *existing;

	if (name->partition_index != NOT_A_PARTITION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid topic name \"%s\"",
						topic_name_string(name, name->partition_index)),
				 errdetail("Names ending in \"-partition-N\" are reserved for the partitions of partitioned topics.")));

	ensure_cache_valid();
	catalog_access_begin(&access);
	catalog_check_namespace_exists(name->tenant, name->namespace);
	lock_topic_name(name);
	existing = load_topic(name);
	if (existing != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("topic \"%s\" already exists",
						topic_name_string(name, NOT_A_PARTITION))));
	insert_topic(name, partitions);
	catalog_access_end(&access);

	return topic_name_string(name, NOT_A_PARTITION);
}

/*
 * Fails unless the topic has no subscriptions.  Caller is inside
 * catalog_access_begin().
 */
static void
refuse_topic_with_subscriptions(const TopicName *name, TopicInfo *topic)
{
	catalog_run_sql_int8("SELECT name FROM pulsar.subscription"
						 " WHERE topic_id = $1 ORDER BY name",
						 1, &topic->topic_id, true);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("topic \"%s\" has subscriptions",
						topic_name_string(name, NOT_A_PARTITION)),
				 errdetail_plural("The topic has %d subscription, \"%s\".",
								  "The topic has %d subscriptions, including \"%s\".",
								  (int) SPI_processed,
								  (int) SPI_processed,
								  SPI_getvalue(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1)),
				 errhint("Unsubscribe first, or call pulsar.delete_topic() with force => true.")));
}

/*
 * Drops the segment tables of a ledger; its shared state goes when the
 * deletion commits.  Caller holds the topic in AccessExclusiveLock and is
 * inside catalog_access_begin().
 */
static void
drop_ledger_segments(int64 ledger_id)
{
	uint64		nsegments;
	int64	   *segments;

	LOCKTAG		tag;

	/* after the topic lock: segment workers never wait for this one */
	set_segment_locktag(&tag, ledger_id);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	catalog_run_sql_int8("SELECT segment_no FROM pulsar.segment"
						 " WHERE ledger_id = $1",
						 1, &ledger_id, true);
	nsegments = SPI_processed;
	segments = palloc(sizeof(int64) * Max(nsegments, 1));
	for (uint64 s = 0; s < nsegments; s++)
	{
		bool		isnull;

		segments[s] = result_int64(s, 1, &isnull);
	}
	for (uint64 s = 0; s < nsegments; s++)
		run_catalog_ddl(psprintf("DROP TABLE IF EXISTS %s.%s", DATA_SCHEMA,
								 quote_identifier(segment_table_name(ledger_id,
																	 segments[s]))));
	catalog_drop_compacted_tables(ledger_id, -1, false);
	read_position_forget_at_commit(ledger_id);
}

/*
 * A topic is deleted in three steps, in one transaction and in this order:
 * catalog_delete_topic_storage() locks it, refuses a topic with subscriptions
 * unless 'force', and deletes its storage (segments, ledgers, policies,
 * producer sequences); the caller then deletes its subscriptions with all
 * that hangs on them (storage, pending_delete_subscriptions_of_topic());
 * catalog_delete_topic_row() removes the topic itself.  The catalog layer does not
 * reach the subscriptions' tables, which storage owns.
 */
TopicInfo *
catalog_delete_topic_storage(const TopicName *name, bool force)
{
	CatalogAccess access;
	TopicInfo  *topic;

	if (name->partition_index != NOT_A_PARTITION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot delete one partition of topic \"%s\"",
						topic_name_string(name, NOT_A_PARTITION)),
				 errhint("Delete the partitioned topic as a whole.")));

	topic = catalog_resolve_topic(name, false, AccessExclusiveLock);
	catalog_access_begin(&access);
	if (!force)
		refuse_topic_with_subscriptions(name, topic);
	for (int i = 0; i < topic->num_ledgers; i++)
		drop_ledger_segments(topic->ledgers[i].ledger_id);
	if (OidIsValid(get_relname_relid("compaction", catalog_namespace_oid)))
		catalog_run_sql_int8("DELETE FROM pulsar.compaction WHERE ledger_id IN"
							 " (SELECT ledger_id FROM pulsar.ledger WHERE topic_id = $1)",
							 1, &topic->topic_id, false);
	catalog_run_sql_int8("DELETE FROM pulsar.segment WHERE ledger_id IN"
						 " (SELECT ledger_id FROM pulsar.ledger WHERE topic_id = $1)",
						 1, &topic->topic_id, false);
	catalog_run_sql_int8("DELETE FROM pulsar.ledger WHERE topic_id = $1",
						 1, &topic->topic_id, false);
	policy_forget_topic(topic->topic_id);
	rate_limit_forget_at_commit(topic->topic_id, RATE_LIMIT_PUBLISH);
	catalog_run_sql_int8("DELETE FROM pulsar.producer_sequence WHERE topic_id = $1",
						 1, &topic->topic_id, false);
	catalog_access_end(&access);
	return topic;
}

/* The last step of deleting a topic (see catalog_delete_topic_storage()). */
void
catalog_delete_topic_row(TopicInfo *topic)
{
	CatalogAccess access;

	catalog_access_begin(&access);
	catalog_run_sql_int8("DELETE FROM pulsar.topic WHERE topic_id = $1",
						 1, &topic->topic_id, false);
	invalidate_topic_cache();
	catalog_access_end(&access);
}

void
catalog_create_tenant(const char *tenant)
{
	CatalogAccess access;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(tenant)};

	topic_name_check_tenant(tenant);
	ensure_cache_valid();
	catalog_access_begin(&access);
	catalog_run_sql("INSERT INTO pulsar.tenant (name) VALUES ($1)"
					" ON CONFLICT DO NOTHING",
					1, argtypes, values, NULL, false);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("tenant \"%s\" already exists", tenant)));
	catalog_access_end(&access);
}

void
catalog_create_namespace(const char *tenant, const char *namespace)
{
	CatalogAccess access;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(tenant),
	CStringGetTextDatum(namespace)};

	ensure_cache_valid();
	catalog_access_begin(&access);
	catalog_run_sql("SELECT 1 FROM pulsar.tenant WHERE name = $1 FOR KEY SHARE",
					1, argtypes, values, NULL, false);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant \"%s\" does not exist", tenant),
				 errhint("Create it with pulsar.create_tenant().")));
	catalog_run_sql("INSERT INTO pulsar.namespace (tenant, name) VALUES ($1, $2)"
					" ON CONFLICT DO NOTHING",
					2, argtypes, values, NULL, false);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("namespace \"%s/%s\" already exists", tenant, namespace)));
	catalog_access_end(&access);
}

void
catalog_set_namespace_deduplication(const char *tenant, const char *namespace,
									bool enabled)
{
	CatalogAccess access;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, BOOLOID};
	Datum		values[3] = {CStringGetTextDatum(tenant),
		CStringGetTextDatum(namespace),
	BoolGetDatum(enabled)};

	ensure_cache_valid();
	catalog_access_begin(&access);
	catalog_run_sql("UPDATE pulsar.namespace SET deduplication = $3"
					" WHERE tenant = $1 AND name = $2",
					3, argtypes, values, NULL, false);
	if (SPI_processed == 0)
		catalog_check_namespace_exists(tenant, namespace);
	invalidate_topic_cache();
	catalog_access_end(&access);
}

/*
 * A segment's table as of 'snapshot', looked up in pg_class itself.  The
 * syscache may still hold a negative entry for a table whose creator has
 * committed: its invalidations are sent after it became visible, and after
 * its positions became readable.
 */
static Oid
segment_relid_in_snapshot(const char *relname, Snapshot snapshot)
{
	Relation	pg_class = table_open(RelationRelationId, AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			relid = InvalidOid;

	ScanKeyInit(&keys[0], Anum_pg_class_relname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(relname));
	ScanKeyInit(&keys[1], Anum_pg_class_relnamespace, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(data_namespace_oid));
	scan = systable_beginscan(pg_class, ClassNameNspIndexId, true, snapshot,
							  2, keys);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		relid = ((Form_pg_class) GETSTRUCT(tuple))->oid;
	systable_endscan(scan);
	table_close(pg_class, AccessShareLock);

	if (OidIsValid(relid))
		InvalidateCatalogSnapshot();	/* so the relcache can build it */
	return relid;
}

/*
 * Opens the segment table that holds 'entry_id' for a sender.
 *
 * Segments are created in their own short transaction by a segment worker,
 * so that no sender's transaction holds a lock or an uncommitted table that
 * other senders need: taking the first entry of a segment asks for the next
 * one without waiting, and a sender that finds its segment missing waits
 * for a worker to create it.  Only a ledger created by this very
 * transaction, which nobody else can see, gets its segments here.
 */
Relation
catalog_open_segment_for_insert(const LedgerInfo *ledger, int64 entry_id)
{
	int64		segment_no = entry_id / ledger->segment_entries;
	char	   *relname = segment_table_name(ledger->ledger_id, segment_no);
	Oid			relid = get_relname_relid(relname, data_namespace_oid);
	bool		own_ledger = read_position_created_in_transaction(ledger->ledger_id);
	bool		worker_ran = false;

	if (entry_id % ledger->segment_entries == 0 && !own_ledger)
		(void) worker_signal_start_segment_worker(ledger->ledger_id, segment_no + 1,
									extension_owner, false);

	if (!OidIsValid(relid))
	{
		if (own_ledger)
		{
			CatalogAccess access;

			catalog_access_begin(&access);
			create_segment_locked(ledger->ledger_id, segment_no);
			catalog_access_end(&access);
		}
		else if (worker_signal_start_segment_worker(ledger->ledger_id, segment_no,
									  extension_owner, true))
		{
			worker_ran = true;
			AcceptInvalidationMessages();
		}
		relid = get_relname_relid(relname, data_namespace_oid);

		/*
		 * A worker that ran may have been terminated, or have stepped aside
		 * for DROP EXTENSION: the send fails, and may be retried.
		 */
		if (!OidIsValid(relid) && worker_ran)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("could not create segment " INT64_FORMAT " of topic partition with ledger " INT64_FORMAT,
							segment_no, ledger->ledger_id),
					 errdetail("The segment worker exited without creating it: it was terminated, it failed, or the extension is being dropped; the server log tells which."),
					 errhint("Retry the send.")));
		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("could not create segment " INT64_FORMAT " of topic partition with ledger " INT64_FORMAT,
							segment_no, ledger->ledger_id),
					 errdetail("No segment worker could be started."),
					 errhint("Make sure max_worker_processes leaves room for short-lived pulsar_pg segment workers.")));
	}
	return table_open(relid, RowExclusiveLock);
}

/*
 * Opens a segment table for a reader whose snapshot is 'snapshot'; NULL if
 * that snapshot sees no such segment (all its entries are gaps), or it was
 * trimmed meanwhile.
 */
Relation
catalog_open_segment_for_read(const LedgerInfo *ledger, int64 segment_no,
							  Snapshot snapshot)
{
	char	   *relname = segment_table_name(ledger->ledger_id, segment_no);
	Oid			relid = get_relname_relid(relname, data_namespace_oid);

	if (!OidIsValid(relid))
		relid = segment_relid_in_snapshot(relname, snapshot);
	if (!OidIsValid(relid))
		return NULL;
	/* NULL if a trim dropped it while we waited for its lock */
	return try_table_open(relid, AccessShareLock);
}

/*
 * The row of a ledger, found through its primary key as this transaction
 * sees it (the row of a topic it created included); NULL if none.  Caller
 * ends the scan.
 */
static HeapTuple
ledger_row(Relation ledgers, int64 ledger_id, SysScanDesc *scan)
{
	ScanKeyData key;

	ScanKeyInit(&key, LEDGER_ID_ATTNUM, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(ledger_id));
	*scan = systable_beginscan(ledgers,
							   catalog_relation_oid(CATALOG_LEDGER_PKEY),
							   true, SnapshotSelf, 1, &key);
	return systable_getnext(*scan);
}

/*
 * A ledger's logged high-water mark; 0 if the installation keeps none.
 */
static int64
read_entry_high_water(int64 ledger_id)
{
	Relation	ledgers = table_open(catalog_relation_oid(CATALOG_LEDGER),
									 AccessShareLock);
	AttrNumber	attnum = get_attnum(RelationGetRelid(ledgers), LEDGER_HIGH_WATER);
	int64		mark = 0;

	if (attnum != InvalidAttrNumber)
	{
		SysScanDesc scan;
		HeapTuple	tuple = ledger_row(ledgers, ledger_id, &scan);
		bool		isnull;

		if (HeapTupleIsValid(tuple))
			mark = DatumGetInt64(heap_getattr(tuple, attnum,
											  RelationGetDescr(ledgers),
											  &isnull));
		systable_endscan(scan);
	}
	table_close(ledgers, NoLock);
	return mark;
}

/*
 * Overwrites, in a copy of a stored tuple, a bigint attribute that the
 * tuple physically holds (not null): the copy keeps the stored length, as
 * an in-place update needs.
 */
static void
overwrite_int8_attribute(HeapTuple tuple, TupleDesc desc, AttrNumber attnum,
						 int64 value)
{
	HeapTupleHeader header = tuple->t_data;
	bits8	   *nulls = HeapTupleHasNulls(tuple) ? header->t_bits : NULL;
	char	   *data = (char *) header + header->t_hoff;
	Form_pg_attribute target = TupleDescAttr(desc, attnum - 1);
	uint32		off = 0;
	bool		isnull;

	if (HeapTupleHeaderGetNatts(header) < attnum ||
		(nulls != NULL && att_isnull(attnum - 1, nulls)) ||
		target->atttypid != INT8OID)
		elog(ERROR, "pulsar_pg cannot write attribute %d of a stored tuple in place",
			 attnum);
	for (int i = 0; i < attnum - 1; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (nulls != NULL && att_isnull(i, nulls))
			continue;
		off = att_align_pointer(off, att->attalign, att->attlen, data + off);
		off = att_addlength_pointer(off, att->attlen, data + off);
	}
	off = att_align_nominal(off, target->attalign);
	memcpy(data + off, &value, sizeof(int64));
	if (DatumGetInt64(heap_getattr(tuple, attnum, desc, &isnull)) != value)
		elog(ERROR, "pulsar_pg wrote attribute %d of a stored tuple at the wrong place",
			 attnum);
}

/*
 * Makes sure a ledger's high-water mark is at least 'mark', and returns the
 * mark logged; -1 if the installation keeps none (its extension predates
 * 0.6.0).  The mark is written in place (heap_inplace_update): WAL-logged,
 * replicated, and kept whatever becomes of the caller's transaction.
 *
 * Writers of one ledger take turns on a heavyweight lock, taken after the
 * table locks and held only while the row is read and written, so that the
 * mark only grows and nothing waits while holding it.
 */
int64
catalog_log_entry_high_water(int64 ledger_id, int64 mark)
{
	Relation	ledgers;
	Relation	index;
	AttrNumber	attnum;
	SysScanDesc scan;
	HeapTuple	tuple;
	LOCKTAG		tag;
	int64		logged;
	bool		isnull;

	ensure_cache_valid();
	ledgers = table_open(catalog_relation_oid(CATALOG_LEDGER), RowExclusiveLock);
	attnum = get_attnum(RelationGetRelid(ledgers), LEDGER_HIGH_WATER);
	if (attnum == InvalidAttrNumber)
	{
		table_close(ledgers, NoLock);
		return -1;
	}
	index = index_open(catalog_relation_oid(CATALOG_LEDGER_PKEY), AccessShareLock);

	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, topic_catalog_oid, (Oid) ledger_id,
					   LOCK_ENTRY_MARK);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	tuple = ledger_row(ledgers, ledger_id, &scan);
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "pulsar_pg catalog has no row for ledger " INT64_FORMAT,
			 ledger_id);
	logged = DatumGetInt64(heap_getattr(tuple, attnum, RelationGetDescr(ledgers),
										&isnull));
	if (logged < mark)
	{
		HeapTuple	copy = heap_copytuple(tuple);

		overwrite_int8_attribute(copy, RelationGetDescr(ledgers), attnum, mark);
		heap_inplace_update(ledgers, copy);
		heap_freetuple(copy);
		logged = mark;
	}
	systable_endscan(scan);
	LockRelease(&tag, ExclusiveLock, false);

	index_close(index, NoLock);
	table_close(ledgers, NoLock);
	return logged;
}

/*
 * The first entry id never handed out for a ledger: one above the highest
 * stored, dead tuples included, and at least its logged high-water mark,
 * which covers ids whose tuples VACUUM removed.  Used to rebuild shared
 * state after a restart, a crash or a promotion.
 */
int64
catalog_load_next_entry(int64 ledger_id)
{
	CatalogAccess access;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(ledger_id)};
	int64		next_entry = -1;
	int64		lowest_segment = 0;
	int64		segment_entries;
	int64		high_water;
	bool		isnull;
	uint64		nsegments;
	int64	   *segments;

	catalog_access_begin(&access);
	high_water = read_entry_high_water(ledger_id);
	catalog_run_sql("SELECT s.segment_no, l.segment_entries"
					"  FROM pulsar.segment s JOIN pulsar.ledger l USING (ledger_id)"
					" WHERE s.ledger_id = $1 ORDER BY s.segment_no DESC",
					1, argtypes, values, NULL, true);
	nsegments = SPI_processed;
	if (nsegments == 0)
	{
		catalog_access_end(&access);
		return high_water;
	}
	segment_entries = result_int64(0, 2, &isnull);
	segments = palloc(sizeof(int64) * nsegments);
	for (uint64 s = 0; s < nsegments; s++)
		segments[s] = result_int64(s, 1, &isnull);
	lowest_segment = segments[nsegments - 1];

	for (uint64 s = 0; s < nsegments && next_entry < 0; s++)
	{
		Oid			relid = get_relname_relid(segment_table_name(ledger_id,
																 segments[s]),
											  data_namespace_oid);
		Relation	rel;
		Relation	index;
		SysScanDesc scan;
		HeapTuple	tuple;

		if (!OidIsValid(relid))
			continue;
		rel = table_open(relid, AccessShareLock);
		index = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
		scan = systable_beginscan_ordered(rel, index, SnapshotAny, 0, NULL);
		tuple = systable_getnext_ordered(scan, BackwardScanDirection);
		if (HeapTupleIsValid(tuple))
			next_entry = DatumGetInt64(heap_getattr(tuple, SEGMENT_ENTRY_ID + 1,
													RelationGetDescr(rel),
													&isnull)) + 1;
		systable_endscan_ordered(scan);
		index_close(index, AccessShareLock);
		table_close(rel, AccessShareLock);
	}
	catalog_access_end(&access);

	if (next_entry < 0)
		next_entry = lowest_segment * segment_entries;
	return Max(next_entry, high_water);
}

/*
 * Segment lifecycle (DESIGN invariant 4): segments close, by entries or by
 * age, and whole closed segments are dropped.  The maintenance pass of the
 * database worker drives it (4_storage/trim.c); nothing here waits for a
 * lock that a user transaction may hold.
 */

/*
 * Whether the installed extension's tables are those the maintenance pass
 * needs: segments that record their closing, and policies (0.7.0).  Caller
 * is in a transaction.
 */
bool
catalog_maintenance_tables_current(void)
{
	Oid			schema = get_namespace_oid(CATALOG_SCHEMA, true);
	Oid			segment;

	if (!OidIsValid(schema))
		return false;
	segment = get_relname_relid("segment", schema);
	return OidIsValid(segment) &&
		get_attnum(segment, "closed_at") != InvalidAttrNumber &&
		OidIsValid(get_relname_relid("policy", schema));
}

/*
 * Takes a share lock on the extension itself if nothing holds or awaits a
 * conflicting one: DROP EXTENSION and ALTER EXTENSION hold it while they
 * wait for the tables the maintenance pass would touch.
 */
bool
catalog_lock_extension_now(void)
{
	Oid			extension_oid = get_extension_oid("pulsar_pg", true);
	LOCKTAG		tag;

	if (!OidIsValid(extension_oid))
		return false;
	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, ExtensionRelationId, extension_oid, 0);
	if (LockAcquire(&tag, AccessShareLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return false;
	AcceptInvalidationMessages();
	return OidIsValid(get_extension_oid("pulsar_pg", true));
}

/*
 * Locks the extension's tables 'names' and their indexes in 'mode' if no
 * other transaction holds or awaits a conflicting lock; false if one does.
 * DESIGN invariant 6a: the worker never waits for a user transaction, and
 * DDL, LOCK TABLE, TRUNCATE or VACUUM FULL on these tables in a
 * transaction left open must not stall it.  The statements that follow
 * take these locks (or weaker ones) again, which then costs no wait:
 * PostgreSQL grants a lock that conflicts only with a waiter's request to
 * a transaction that already holds a conflicting one.
 */
bool
catalog_lock_tables_now(const char *const *names, int count, LOCKMODE mode)
{
	Oid			schema = get_namespace_oid(CATALOG_SCHEMA, false);

	for (int i = 0; i < count; i++)
	{
		Oid			relid = get_relname_relid(names[i], schema);
		Relation	relation;
		List	   *indexes;
		ListCell   *lc;

		if (!OidIsValid(relid))
			elog(ERROR, "pulsar_pg catalog relation pulsar.%s is missing",
				 names[i]);
		if (!ConditionalLockRelationOid(relid, mode))
			return false;
		relation = relation_open(relid, NoLock);
		indexes = RelationGetIndexList(relation);
		relation_close(relation, NoLock);
		foreach(lc, indexes)
			if (!ConditionalLockRelationOid(lfirst_oid(lc), mode))
				return false;
	}
	return true;
}

/*
 * Locks a topic as an entry point does (catalog_resolve_topic()), but only if no
 * other transaction holds or awaits a conflicting lock: delete_topic() holds
 * it exclusively.  False if the topic is locked or was deleted.
 */
bool
catalog_lock_topic_now(int64 topic_id, LOCKMODE mode)
{
	LOCKTAG		tag;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(topic_id)};
	CatalogAccess access;
	bool		exists;

	ensure_cache_valid();
	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, topic_catalog_oid, (Oid) topic_id,
					   LOCK_TOPIC);
	if (LockAcquire(&tag, mode, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return false;
	catalog_access_begin(&access);
	catalog_run_sql("SELECT 1 FROM pulsar.topic WHERE topic_id = $1",
					1, argtypes, values, NULL, true);
	exists = SPI_processed > 0;
	catalog_access_end(&access);
	return exists;
}

static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * Sets needed[i] for each of topic_ids[i] (ascending) that 'sql' returns:
 * a query of topic ids whose $1 is the array of topic_ids, and $2 on the
 * 'nextra' values given.  For the maintenance pass, whose steps pick the
 * topics of a batch that have something to do.
 */
void
catalog_select_topics(const char *sql, int nextra, Oid *extra_types,
					  Datum *extra_values, const int64 *topic_ids, int count,
					  bool *needed)
{
	CatalogAccess access;
	Oid		   *argtypes = palloc(sizeof(Oid) * (nextra + 1));
	Datum	   *values = palloc(sizeof(Datum) * (nextra + 1));
	Datum	   *ids = palloc(sizeof(Datum) * Max(count, 1));

	for (int i = 0; i < count; i++)
		ids[i] = Int64GetDatum(topic_ids[i]);
	argtypes[0] = INT8ARRAYOID;
	values[0] = PointerGetDatum(catalog_int8_array(ids, count));
	for (int i = 0; i < nextra; i++)
	{
		argtypes[i + 1] = extra_types[i];
		values[i + 1] = extra_values[i];
	}
	catalog_access_begin(&access);
	catalog_run_sql(sql, nextra + 1, argtypes, values, NULL, true);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		topic_id = result_int64(r, 1, &isnull);
		int64	   *found = bsearch(&topic_id, topic_ids, count, sizeof(int64),
									compare_int64);

		if (!isnull && found != NULL)
			needed[found - topic_ids] = true;
	}
	catalog_access_end(&access);
}

/*
 * The ledgers (partitions) of a topic, in partition order.  Caller is inside
 * catalog_access_begin(); the array is allocated in the memory context that
 * was current before it, so it outlives catalog_access_end().
 */
LedgerInfo *
catalog_topic_ledgers(int64 topic_id, int *count)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(topic_id)};
	LedgerInfo *ledgers;

	catalog_run_sql("SELECT ledger_id, partition_index, segment_entries"
					"  FROM pulsar.ledger WHERE topic_id = $1"
					" ORDER BY partition_index",
					1, argtypes, values, NULL, true);
	*count = (int) SPI_processed;
	ledgers = SPI_palloc(sizeof(LedgerInfo) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		bool		isnull;

		ledgers[i].ledger_id = result_int64(i, 1, &isnull);
		ledgers[i].partition_index =
			DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 2, &isnull));
		ledgers[i].segment_entries = result_int64(i, 3, &isnull);
	}
	return ledgers;
}

/*
 * The segments of a ledger that exist, oldest first.  Caller is inside
 * catalog_access_begin(); the array is allocated in the memory context that
 * was current before it, so it outlives catalog_access_end().
 */
SegmentInfo *
catalog_ledger_segments(const LedgerInfo *ledger, int *count)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(ledger->ledger_id)};
	SegmentInfo *segments;

	catalog_run_sql("SELECT segment_no, last_entry, closed_at, entries, size,"
					"       created_at"
					"  FROM pulsar.segment WHERE ledger_id = $1"
					" ORDER BY segment_no",
					1, argtypes, values, NULL, true);
	*count = (int) SPI_processed;
	segments = SPI_palloc(sizeof(SegmentInfo) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		SegmentInfo *segment = &segments[i];
		bool		isnull;
		Datum		value;

		segment->segment_no = result_int64(i, 1, &isnull);
		segment->last_entry = result_int64(i, 2, &isnull);
		if (isnull)
			segment->last_entry = (segment->segment_no + 1) *
				ledger->segment_entries - 1;
		segment->cut = !isnull;
		value = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3,
							  &isnull);
		segment->closed_at = isnull ? 0 : DatumGetTimestampTz(value);
		segment->closed = !isnull;
		segment->entries = result_int64(i, 4, &isnull);
		if (isnull)
			segment->entries = -1;
		segment->size = result_int64(i, 5, &isnull);
		if (isnull)
			segment->size = -1;
		segment->created_at =
			DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i],
											  SPI_tuptable->tupdesc, 6,
											  &isnull));
	}
	return segments;
}

/*
 * Records that no entry above 'last_entry' will ever be stored in a
 * segment: its ledger's next entry id moved past its end.  Caller is inside
 * catalog_access_begin().
 */
void
catalog_cut_segment(int64 ledger_id, int64 segment_no, int64 last_entry)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3] = {Int64GetDatum(ledger_id),
		Int64GetDatum(segment_no),
	Int64GetDatum(last_entry)};

	catalog_run_sql("UPDATE pulsar.segment SET last_entry = $3"
					" WHERE ledger_id = $1 AND segment_no = $2",
					3, argtypes, values, NULL, false);
}

/*
 * Records a segment as closed now: no transaction can add to it any more.
 * Its entries and size are counted once, here.  Caller is inside
 * catalog_access_begin() and has checked that the max read position is at
 * or past the segment's last entry.
 */
void
catalog_close_segment(int64 ledger_id, int64 segment_no)
{
	char	   *relname = segment_table_name(ledger_id, segment_no);
	Oid			relid = get_relname_relid(relname, data_namespace_oid);
	int64		entries = 0;
	int64		size = 0;
	Oid			argtypes[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		values[4];

	if (OidIsValid(relid) && ConditionalLockRelationOid(relid, AccessShareLock))
	{
		bool		isnull;

		run_catalog_ddl(psprintf("SELECT count(*),"
								 " pg_catalog.pg_total_relation_size(%u)"
								 " FROM %s.%s",
								 relid, DATA_SCHEMA, quote_identifier(relname)));
		entries = result_int64(0, 1, &isnull);
		size = result_int64(0, 2, &isnull);
	}
	else if (OidIsValid(relid))
		return;					/* in use: closed next time */
	values[0] = Int64GetDatum(ledger_id);
	values[1] = Int64GetDatum(segment_no);
	values[2] = Int64GetDatum(entries);
	values[3] = Int64GetDatum(size);
	catalog_run_sql("UPDATE pulsar.segment"
					"   SET closed_at = pg_catalog.now(), entries = $3, size = $4"
					" WHERE ledger_id = $1 AND segment_no = $2",
					4, argtypes, values, NULL, false);
}

/*
 * The publish time of the oldest stored message of a segment; false if it
 * holds none yet, or is locked.  Caller is inside catalog_access_begin().
 */
bool
catalog_segment_first_publish_time(int64 ledger_id, int64 segment_no,
								   TimestampTz *publish_time)
{
	char	   *relname = segment_table_name(ledger_id, segment_no);
	Oid			relid = get_relname_relid(relname, data_namespace_oid);
	bool		isnull;
	Datum		value;

	if (!OidIsValid(relid) || !ConditionalLockRelationOid(relid, AccessShareLock))
		return false;
	run_catalog_ddl(psprintf("SELECT publish_time FROM %s.%s"
							 " ORDER BY entry_id LIMIT 1",
							 DATA_SCHEMA, quote_identifier(relname)));
	if (SPI_processed == 0)
		return false;
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
	*publish_time = DatumGetTimestampTz(value);
	return true;
}

/*
 * Drops a closed segment's table and catalog row, unless a transaction
 * uses it (a reader or a receive holds its lock): then false, and the
 * segment is tried again next time.  DROP TABLE is WAL-logged, so a
 * standby loses the same segment.  Caller is inside catalog_access_begin().
 */
bool
catalog_drop_segment_now(int64 ledger_id, int64 segment_no)
{
	char	   *relname = segment_table_name(ledger_id, segment_no);
	Oid			relid = get_relname_relid(relname, data_namespace_oid);
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(ledger_id), Int64GetDatum(segment_no)};

	if (OidIsValid(relid))
	{
		if (!ConditionalLockRelationOid(relid, AccessExclusiveLock))
			return false;
		/* the lock processed invalidations: gone meanwhile? */
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			run_catalog_ddl(psprintf("DROP TABLE %s.%s", DATA_SCHEMA,
									 quote_identifier(relname)));
	}
	catalog_run_sql("DELETE FROM pulsar.segment"
					" WHERE ledger_id = $1 AND segment_no = $2",
					2, argtypes, values, NULL, false);
	return true;
}

/*
 * The lowest number of a stored segment of a ledger above 'after', as
 * 'snapshot' sees the catalog; -1 if there is none.  Readers use it to pass
 * over segments that were trimmed, or never created, at the cost of one
 * index probe.
 */
int64
catalog_next_stored_segment(int64 ledger_id, int64 after, Snapshot snapshot)
{
	Relation	segments = table_open(catalog_relation_oid(CATALOG_SEGMENT),
									  AccessShareLock);
	Relation	index = index_open(catalog_relation_oid(CATALOG_SEGMENT_PKEY),
								   AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	int64		found = -1;

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(ledger_id));
	ScanKeyInit(&keys[1], 2, BTGreaterStrategyNumber, F_INT8GT,
				Int64GetDatum(after));
	scan = systable_beginscan_ordered(segments, index, snapshot, 2, keys);
	tuple = systable_getnext_ordered(scan, ForwardScanDirection);
	if (tuple != NULL)
	{
		bool		isnull;

		found = DatumGetInt64(heap_getattr(tuple, 2, RelationGetDescr(segments),
										   &isnull));
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(segments, AccessShareLock);
	return found;
}

/*
 * The number of a ledger's lowest stored segment; -1 if it has none.
 * Caller is inside catalog_access_begin().
 */
int64
catalog_lowest_stored_segment(int64 ledger_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(ledger_id)};
	bool		isnull;
	int64		segment_no;

	catalog_run_sql("SELECT min(segment_no) FROM pulsar.segment"
					" WHERE ledger_id = $1",
					1, argtypes, values, NULL, true);
	segment_no = result_int64(0, 1, &isnull);
	return isnull ? -1 : segment_no;
}

/*
 * Keeps the maintenance pass from trimming a ledger until the end of the
 * transaction: taken by what sets a cursor from the ledger's stored
 * segments (a subscription created at 'earliest', a seek), which the trim
 * would otherwise pass unseen.  Waits only for a trim in progress, which
 * holds it briefly.
 */
void
catalog_lock_ledger_against_trim(int64 ledger_id)
{
	ensure_cache_valid();
	LockDatabaseObject(topic_catalog_oid, (Oid) ledger_id, LOCK_TRIM,
					   ShareLock);
}

/*
 * For the trim: locks a ledger against the above, if nothing holds or
 * awaits it; false otherwise.
 */
bool
catalog_try_lock_ledger_trim(int64 ledger_id)
{
	LOCKTAG		tag;

	ensure_cache_valid();
	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, topic_catalog_oid, (Oid) ledger_id,
					   LOCK_TRIM);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Compacted views.
 *
 * A compaction writes the view of a ledger below its horizon into a new
 * table pulsar_data.compacted_<ledger>_<generation>, shaped like a segment,
 * and points the ledger's row of pulsar.compaction at it.  Only tables that
 * a committed row no longer points at are dropped, and only when nobody
 * holds them (the dropper takes the lock without waiting): a reader holds
 * the table it reads with AccessShareLock, and one that finds the table
 * of the generation it looked up locked or gone knows that a newer one has
 * committed, and looks again rather than wait.
 */
static char *
compacted_table_name(int64 ledger_id, int64 generation)
{
	return psprintf("compacted_" INT64_FORMAT "_" INT64_FORMAT,
					ledger_id, generation);
}

/*
 * Creates the (empty) compacted table of a ledger's generation and returns
 * its qualified, quoted name.  Caller is inside catalog_access_begin() and
 * holds the ledger's compaction lock.
 */
char *
catalog_create_compacted_table(int64 ledger_id, int64 generation)
{
	char	   *relname = compacted_table_name(ledger_id, generation);

	create_data_table(relname);
	return psprintf("%s.%s", DATA_SCHEMA, quote_identifier(relname));
}

/*
 * Opens the compacted table of a ledger's generation for reading.  NULL if
 * it is gone, or, unless 'wait', if another transaction holds a lock that
 * conflicts (a compaction dropping it): either way a newer generation has
 * committed, and the caller looks the current one up again.  '*busy' says
 * which.
 */
Relation
catalog_open_compacted_table(int64 ledger_id, int64 generation, bool wait, bool *busy)
{
	Oid			relid;

	/* as the extension, not the caller, who has no rights on pulsar_data */
	ensure_cache_valid();
	AcceptInvalidationMessages();
	*busy = false;
	relid = get_relname_relid(compacted_table_name(ledger_id, generation),
							  data_namespace_oid);
	if (!OidIsValid(relid))
		return NULL;
	if (wait)
		LockRelationOid(relid, AccessShareLock);
	else if (!ConditionalLockRelationOid(relid, AccessShareLock))
	{
		*busy = true;
		return NULL;
	}
	/* dropped while we waited for the lock */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
	{
		UnlockRelationOid(relid, AccessShareLock);
		return NULL;
	}
	return table_open(relid, NoLock);
}

/*
 * Drops the compacted tables of a ledger other than generation 'keep' (-1:
 * all of them).  With 'if_unused', a table some transaction holds a lock on
 * is left for later, so readers never wait; without, the caller holds the
 * topic exclusively.  Caller is inside catalog_access_begin().
 */
void
catalog_drop_compacted_tables(int64 ledger_id, int64 keep, bool if_unused)
{
	Oid			argtypes[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		values[3];
	uint64		count;
	Oid		   *relids;
	char	  **relnames;

	values[0] = ObjectIdGetDatum(data_namespace_oid);
	values[1] = CStringGetTextDatum(psprintf("compacted\\_" INT64_FORMAT "\\_%%",
											 ledger_id));
	values[2] = CStringGetTextDatum(keep >= 0 ?
									compacted_table_name(ledger_id, keep) : "");
	catalog_run_sql("SELECT oid, relname::text FROM pg_catalog.pg_class"
					" WHERE relnamespace = $1 AND relkind = 'r'"
					"   AND relname::text LIKE $2 AND relname::text <> $3",
					3, argtypes, values, NULL, true);
	count = SPI_processed;
	relids = palloc(sizeof(Oid) * Max(count, 1));
	relnames = palloc(sizeof(char *) * Max(count, 1));
	for (uint64 i = 0; i < count; i++)
	{
		bool		isnull;

		relids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 1,
												   &isnull));
		relnames[i] = SPI_getvalue(SPI_tuptable->vals[i],
								   SPI_tuptable->tupdesc, 2);
	}
	for (uint64 i = 0; i < count; i++)
	{
		if (if_unused &&
			!ConditionalLockRelationOid(relids[i], AccessExclusiveLock))
			continue;
		run_catalog_ddl(psprintf("DROP TABLE IF EXISTS %s.%s", DATA_SCHEMA,
								 quote_identifier(relnames[i])));
	}
}

static void
set_compaction_locktag(LOCKTAG *tag, int64 ledger_id)
{
	ensure_cache_valid();
	SET_LOCKTAG_OBJECT(*tag, MyDatabaseId, topic_catalog_oid, (Oid) ledger_id,
					   LOCK_COMPACTION);
}

/*
 * Takes the lock that one compaction of a ledger holds until its
 * transaction ends, without waiting; false if another compaction holds it.
 */
bool
catalog_try_lock_compaction(int64 ledger_id)
{
	LOCKTAG		tag;

	set_compaction_locktag(&tag, ledger_id);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Whether a compaction of a ledger is running in another transaction.
 */
bool
catalog_compaction_in_progress(int64 ledger_id)
{
	LOCKTAG		tag;
	LockAcquireResult result;

	set_compaction_locktag(&tag, ledger_id);
	result = LockAcquire(&tag, ExclusiveLock, false, true);
	if (result == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, ExclusiveLock, false);
	return false;
}

/*
 * Locks a segment (or, with 'compacted', a compacted table) of a ledger for
 * a scan that runs as SQL, and returns its qualified, quoted name; NULL if
 * it does not exist.  Without 'wait', a table someone holds a conflicting
 * lock on fails with lock_not_available instead of waiting.
 */
char *
catalog_lock_data_table(int64 ledger_id, int64 number, bool compacted, bool wait)
{
	char	   *relname = compacted ? compacted_table_name(ledger_id, number) :
		segment_table_name(ledger_id, number);
	RangeVar   *name;
	Oid			relid;

	ensure_cache_valid();
	name = makeRangeVar(DATA_SCHEMA, relname, -1);
	relid = RangeVarGetRelidExtended(name, AccessShareLock,
									 RVR_MISSING_OK | (wait ? 0 : RVR_NOWAIT),
									 NULL, NULL);
	if (!OidIsValid(relid))
		return NULL;
	return psprintf("%s.%s", DATA_SCHEMA, quote_identifier(relname));
}

/*
 * Takes a topic's lock in AccessShareLock, as senders and readers do, but
 * without waiting: false if a delete_topic holds or awaits it.  For the
 * database worker, which never waits for a user transaction.
 */
bool
catalog_try_lock_topic(int64 topic_id)
{
	ensure_cache_valid();
	return ConditionalLockDatabaseObject(topic_catalog_oid, (Oid) topic_id,
										 LOCK_TOPIC, AccessShareLock);
}

/*
 * What a stored segment holds now: its messages (counted only if
 * 'count_entries') and its bytes with indexes and TOAST.  False if it is
 * gone.  Waits for a trim that is dropping it, like a reader.  Caller is
 * inside catalog_access_begin().
 */
bool
catalog_segment_usage(int64 ledger_id, int64 segment_no, bool count_entries,
					  int64 *entries, int64 *size)
{
	char	   *relname = segment_table_name(ledger_id, segment_no);
	Oid			relid = get_relname_relid(relname, data_namespace_oid);
	bool		isnull;

	if (!OidIsValid(relid))
		return false;
	LockRelationOid(relid, AccessShareLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return false;
	if (count_entries)
		run_catalog_ddl(psprintf("SELECT count(*), pg_catalog.pg_total_relation_size(%u)"
								 " FROM %s.%s",
								 relid, DATA_SCHEMA, quote_identifier(relname)));
	else
		run_catalog_ddl(psprintf("SELECT 0::bigint, pg_catalog.pg_total_relation_size(%u)",
								 relid));
	*entries = result_int64(0, 1, &isnull);
	*size = result_int64(0, 2, &isnull);
	return true;
}
