/*-------------------------------------------------------------------------
 *
 * pulsar_pg.c
 *	  Module load: settings and shared memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "2_shmem/dispatch_state.h"
#include "2_shmem/rate_limit.h"
#include "2_shmem/read_position.h"
#include "2_shmem/worker_signal.h"
#include "3_catalog/catalog.h"
#include "3_catalog/policy.h"
#include "4_storage/backlog_quota.h"
#include "4_storage/publish.h"
#include "4_storage/subscription.h"
#include "4_storage/trim.h"
#include "5_dispatch/dispatch.h"
#include "6_entry/launcher.h"
#include "6_entry/maintenance.h"

PG_MODULE_MAGIC;

bool		pulsar_allow_auto_topic_creation = true;
int			pulsar_max_message_size = 5 * 1024 * 1024;
int			pulsar_segment_entries = 100000;
int			pulsar_max_partitions = 16384;
int			pulsar_max_open_reservations = 8192;
int			pulsar_max_cursors = 65536;
int			pulsar_consumer_lease_ms = 60000;
int			pulsar_max_receive_bytes = 64 * 1024 * 1024;
int			pulsar_segment_max_age_s = 4 * 60 * 60;
int			pulsar_max_rate_limiters = 4096;
int			pulsar_rate_limit_timeout_ms = 30000;

/* CREATE EXTENSION ran in the open transaction */
static bool forget_database_at_commit = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

static void
pulsar_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	ReadPositionShmemRequest();
	DispatchStateShmemRequest();
	ConsumerLivenessShmemRequest();
	RateLimitShmemRequest();
	worker_signal_shmem_request();
}

static void
pulsar_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	ReadPositionShmemInit();
	DispatchStateShmemInit();
	ConsumerLivenessShmemInit();
	RateLimitShmemInit();
	worker_signal_shmem_init();
}

static void
define_settings(void)
{
	DefineCustomBoolVariable("pulsar_pg.allow_auto_topic_creation",
							 "Creates a non-partitioned topic on its first send.",
							 "Tenants and namespaces are never created automatically.",
							 &pulsar_allow_auto_topic_creation,
							 true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.max_message_size",
							"Largest message accepted.",
							"Payload, key and properties count together.",
							&pulsar_max_message_size,
							5 * 1024 * 1024, 0, MaxAllocSize - VARHDRSZ,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.max_receive_bytes",
							"Bytes of payloads, keys and properties after which a receive returns.",
							"A receive always returns at least one message.",
							&pulsar_max_receive_bytes,
							64 * 1024 * 1024, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.segment_entries",
							"Number of messages per segment table of a new topic.",
							"Storage is reclaimed a whole segment at a time.",
							&pulsar_segment_entries,
							100000, 16, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.consumer_lease",
							"Time after which a named consumer that made no call is disconnected.",
							"Its unacknowledged messages then go back to the subscription. A session's own consumer lives as long as its session.",
							&pulsar_consumer_lease_ms,
							60000, 100, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.segment_max_age",
							"Age of a segment's oldest message after which the segment is closed.",
							"A slow topic's messages are then reclaimed without waiting for the segment to fill. 0 closes segments only when they are full.",
							&pulsar_segment_max_age_s,
							4 * 60 * 60, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.maintenance_interval",
							"Time between two maintenance passes of the database worker.",
							"A pass closes and trims segments and applies the storage policies of every topic.",
							&pulsar_maintenance_interval_ms,
							60000, 10, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pulsar_pg.rate_limit_timeout",
							"Longest time a send or receive waits for a publish or dispatch rate.",
							"A call that would wait longer fails at once. 0 fails every call over the rate.",
							&pulsar_rate_limit_timeout_ms,
							30000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	policy_define_settings();
	backlog_quota_define_settings();
	/* sizes of shared memory: only while it is being laid out */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("pulsar_pg.max_partitions",
								"Number of topic partitions whose positions shared memory can track.",
								NULL,
								&pulsar_max_partitions,
								16384, 16, INT_MAX / 2,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
		DefineCustomIntVariable("pulsar_pg.max_open_reservations",
								"Number of (transaction, partition) pairs that can hold uncommitted sends.",
								NULL,
								&pulsar_max_open_reservations,
								8192, 16, INT_MAX / 2,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
		DefineCustomIntVariable("pulsar_pg.max_cursors",
								"Number of (subscription, partition) pairs whose dispatch state shared memory can track.",
								NULL,
								&pulsar_max_cursors,
								65536, 16, INT_MAX / 2,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
		DefineCustomIntVariable("pulsar_pg.max_rate_limiters",
								"Number of topics and subscriptions with a publish or dispatch rate whose rate state shared memory can track.",
								NULL,
								&pulsar_max_rate_limiters,
								4096, 16, INT_MAX / 2,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
	}
	MarkGUCPrefixReserved("pulsar_pg");
}

/*
 * After the commit of CREATE EXTENSION, shared state left by an earlier
 * installation in this database goes: ids start again from 1.  Not
 * before: a rolled-back CREATE EXTENSION (and the DROP EXTENSION before
 * it) leaves the earlier installation in place, with its state in use.
 * Registered first, so it runs after the other modules' callbacks have
 * released what the transaction held.
 */
static void
pulsar_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (forget_database_at_commit)
			{
				read_position_forget_database(MyDatabaseId);
				dispatch_state_forget_database(MyDatabaseId);
				consumer_liveness_forget_database(MyDatabaseId);
				rate_limit_forget_database(MyDatabaseId);
			}
			forget_database_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			forget_database_at_commit = false;
			break;
		default:
			break;
	}
}

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;

	define_settings();
	RegisterXactCallback(pulsar_xact_callback, NULL);
	CatalogInit();
	PolicyInit();
	RateLimitInit();
	ReadPositionInit();
	DispatchStateInit();
	ConsumerLivenessInit();
	worker_signal_init();
	launcher_init();

	if (!process_shared_preload_libraries_in_progress)
		return;

	launcher_register();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pulsar_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pulsar_shmem_startup;
}

PG_FUNCTION_INFO_V1(pulsar_prepare_database);

/*
 * Called by the install script.  Fails with a hint if the library was not
 * preloaded, rather than leaving an extension whose every call fails,
 * and forgets shared state left by an earlier installation in this
 * database when it commits.
 */
Datum
pulsar_prepare_database(PG_FUNCTION_ARGS)
{
	read_position_require_state();
	forget_database_at_commit = true;
	/* subscription ids start again from 1: backends forget theirs */
	worker_signal_subscriptions_changed();
	PG_RETURN_VOID();
}
