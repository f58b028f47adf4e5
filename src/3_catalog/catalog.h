/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  The extension's catalog (tenants, namespaces, topics, ledgers and
 *	  segments), the per-backend cache of it, and access to topic storage.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_CATALOG_H
#define PULSAR_CATALOG_H

#include "nodes/pg_list.h"
#include "utils/array.h"
#include "storage/lockdefs.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

#include "1_value/topic_name.h"

/* settings, defined in pulsar_pg.c */
extern bool pulsar_allow_auto_topic_creation;
extern int	pulsar_segment_entries;

/* Columns of a segment table, as in pulsar.segment_template. */
enum SegmentColumn
{
	SEGMENT_ENTRY_ID,
	SEGMENT_PUBLISH_TIME,
	SEGMENT_KEY,
	SEGMENT_PAYLOAD,
	SEGMENT_PROPERTIES,
	SEGMENT_EVENT_TIME,
	SEGMENT_DELIVER_AT,
	SEGMENT_PRODUCER,
	SEGMENT_SEQUENCE_ID,
	SEGMENT_NUM_COLUMNS
};

/* One partition's storage: a non-partitioned topic has exactly one. */
typedef struct LedgerInfo
{
	int64		ledger_id;
	int32		partition_index;	/* -1 for a non-partitioned topic */
	int64		segment_entries;	/* entries per segment table */
} LedgerInfo;

typedef struct TopicInfo
{
	char		key[MAX_TENANT_NAME_LEN + MAX_NAMESPACE_NAME_LEN +
					MAX_TOPIC_NAME_LEN + 3];	/* hash key */
	int64		topic_id;
	TopicName	name;			/* partition_index is -1 here */
	int32		partitions;		/* 0 if not partitioned */
	bool		deduplication;	/* of its namespace */
	uint32		round_robin;	/* next partition for unkeyed messages */
	int			num_ledgers;
	LedgerInfo *ledgers;		/* indexed by partition, or the only one */
} TopicInfo;

/* State saved while running catalog SQL as the extension's owner. */
typedef struct CatalogAccess
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} CatalogAccess;

extern void CatalogInit(void);

/* the extension version whose tables the consuming code needs */
#define PULSAR_PG_CONSUMPTION_VERSION "0.4.0"

extern bool catalog_consumption_tables_current(void);
extern void catalog_require_consumption_tables(void);
/* tables and indexes the hot paths read without SPI */
typedef enum CatalogRelation
{
	CATALOG_CURSOR,
	CATALOG_ACKED_RANGE,
	CATALOG_PENDING,
	CATALOG_CONSUMER,
	CATALOG_CONSUMER_BY_NAME,	/* unique index on (subscription_id, name) */
	CATALOG_LEDGER,
	CATALOG_LEDGER_PKEY,
	CATALOG_SEGMENT,
	CATALOG_SEGMENT_PKEY,
	NUM_CATALOG_RELATIONS
} CatalogRelation;

extern Oid	catalog_relation_oid(CatalogRelation relation);
extern void catalog_access_begin(CatalogAccess *access);
extern void catalog_access_end(CatalogAccess *access);
extern int	catalog_run_sql(const char *sql, int nargs, Oid *argtypes,
							Datum *values, const char *nulls,
							bool latest_snapshot);

extern ArrayType *catalog_int8_array(Datum *elements, int count);
#define MAX_INT8_CATALOG_ARGS	5
extern int	catalog_run_sql_int8(const char *sql, int nargs, const int64 *args,
								 bool latest_snapshot);

extern void catalog_require_writable(const char *function);
extern void catalog_check_namespace_exists(const char *tenant, const char *namespace);
extern TopicInfo *catalog_resolve_topic(const TopicName *name, bool create_if_missing,
										LOCKMODE lockmode);
extern TopicInfo *catalog_try_resolve_topic(const TopicName *name, LOCKMODE lockmode);
extern bool catalog_try_lock_subscription(int64 topic_id, const char *name,
										  LOCKMODE lockmode);
extern LedgerInfo *catalog_resolve_ledger(TopicInfo *topic, const TopicName *name);
extern void catalog_lock_subscription(int64 topic_id, const char *name,
									  LOCKMODE lockmode);
extern void catalog_unlock_subscription(int64 topic_id, const char *name,
										LOCKMODE lockmode);
extern void catalog_lock_limit_slot(const char *what, int64 id);
extern void catalog_lock_dispatch(int64 subscription_id, int64 ledger_id);
extern void catalog_unlock_dispatch(int64 subscription_id, int64 ledger_id);
extern char *catalog_create_topic(const TopicName *name, int32 partitions);
extern TopicInfo *catalog_delete_topic_storage(const TopicName *name, bool force);
extern void catalog_delete_topic_row(TopicInfo *topic);
extern void catalog_create_tenant(const char *tenant);
extern void catalog_create_namespace(const char *tenant, const char *namespace);
extern void catalog_set_namespace_deduplication(const char *tenant,
												const char *namespace, bool enabled);

extern Relation catalog_open_segment_for_insert(const LedgerInfo *ledger,
												int64 entry_id);
extern Relation catalog_open_segment_for_read(const LedgerInfo *ledger,
											  int64 segment_no, Snapshot snapshot);
extern int64 catalog_load_next_entry(int64 ledger_id);
extern int64 catalog_log_entry_high_water(int64 ledger_id, int64 mark);
extern void catalog_create_segment_in_worker(int64 ledger_id, int64 segment_no);

/* compacted views: tables pulsar_data.compacted_<ledger>_<generation> */
extern char *catalog_create_compacted_table(int64 ledger_id, int64 generation);
extern Relation catalog_open_compacted_table(int64 ledger_id, int64 generation,
											 bool wait, bool *busy);
extern void catalog_drop_compacted_tables(int64 ledger_id, int64 keep, bool if_unused);
extern bool catalog_try_lock_compaction(int64 ledger_id);
extern bool catalog_compaction_in_progress(int64 ledger_id);
extern char *catalog_lock_data_table(int64 ledger_id, int64 number, bool compacted,
									 bool wait);
extern bool catalog_try_lock_topic(int64 topic_id);

/*
 * A segment as pulsar.segment records it.  It is *cut* when its ledger's
 * next entry id moved past its end early (by age): no id above last_entry
 * was or will be handed out.  It is *closed* once no transaction can add to
 * it any more; entries and size are counted then.
 */
typedef struct SegmentInfo
{
	int64		segment_no;
	int64		last_entry;		/* highest id it may hold */
	bool		cut;
	bool		closed;
	TimestampTz closed_at;		/* 0 while open */
	int64		entries;		/* -1 while open */
	int64		size;			/* bytes; -1 while open */
	TimestampTz created_at;
} SegmentInfo;

extern bool catalog_maintenance_tables_current(void);
extern bool catalog_lock_extension_now(void);
extern bool catalog_lock_tables_now(const char *const *names, int count,
									LOCKMODE mode);
extern bool catalog_lock_topic_now(int64 topic_id, LOCKMODE mode);
extern void catalog_select_topics(const char *sql, int nextra, Oid *extra_types,
								  Datum *extra_values, const int64 *topic_ids,
								  int count, bool *needed);
extern LedgerInfo *catalog_topic_ledgers(int64 topic_id, int *count);
extern SegmentInfo *catalog_ledger_segments(const LedgerInfo *ledger, int *count);
extern void catalog_cut_segment(int64 ledger_id, int64 segment_no, int64 last_entry);
extern void catalog_close_segment(int64 ledger_id, int64 segment_no);
extern bool catalog_segment_first_publish_time(int64 ledger_id, int64 segment_no,
											   TimestampTz *publish_time);
extern bool catalog_drop_segment_now(int64 ledger_id, int64 segment_no);
extern int64 catalog_next_stored_segment(int64 ledger_id, int64 after,
										 Snapshot snapshot);
extern int64 catalog_lowest_stored_segment(int64 ledger_id);
extern bool catalog_segment_usage(int64 ledger_id, int64 segment_no,
								  bool count_entries, int64 *entries, int64 *size);
extern void catalog_lock_ledger_against_trim(int64 ledger_id);
extern bool catalog_try_lock_ledger_trim(int64 ledger_id);

#endif							/* PULSAR_CATALOG_H */
