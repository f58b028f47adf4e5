/*-------------------------------------------------------------------------
 *
 * dispatch.c
 *	  pulsar.receive(): handing messages of a subscription to consumers.
 *
 * What is durable lives in the cursor (cursor.c).  What consumers hold is
 * dispatch state, which may be lost on a crash: that only causes
 * redelivery (DESIGN invariant 2).  It has two parts:
 *
 *	- a *read position* per subscription and partition, in shared memory:
 *	  the next entry never handed out.  It starts one above the mark-delete
 *	  position, and goes back there when an exclusive or failover partition
 *	  changes consumer, so the new consumer starts from the first unacked
 *	  message.  A receive that rolls back moves it back to where its scan
 *	  began, so its messages are available again at once, in order.  Such
 *	  a rewind may land while another receive scans: that receive then
 *	  leaves it in place rather than storing its own position over it.
 *	- rows of the unlogged table pulsar.pending for messages that must be
 *	  tracked one by one: what consumers of shared and key_shared
 *	  subscriptions hold, messages waiting for redelivery (nack, a consumer
 *	  that left, an expired acknowledgement timeout), delayed messages of
 *	  shared and key_shared subscriptions (deliver_at ahead: a row due
 *	  then, never delivered, so delivered_at is NULL and its first delivery
 *	  counts no redelivery), and, with an ack timeout, everything
 *	  delivered.  Exclusive and failover consumers without an ack timeout
 *	  write nothing per message, and receive delayed messages at once, as
 *	  in Pulsar.
 *
 * Receivers of one subscription in one partition are serialised for the
 * duration of a receive call by a heavyweight lock (catalog.c), never for
 * their transactions: pending rows of receives still in progress are found
 * with a dirty snapshot and skipped.  They are read before the cursor, so
 * that a message an ack takes out of its row is seen held or acknowledged.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "1_value/murmur3.h"
#include "2_shmem/dispatch_state.h"
#include "2_shmem/rate_limit.h"
#include "2_shmem/read_position.h"
#include "2_shmem/worker_signal.h"
#include "3_catalog/policy.h"
#include "4_storage/compaction.h"
#include "4_storage/cursor.h"
#include "4_storage/pending.h"
#include "4_storage/publish.h"
#include "4_storage/reader.h"
#include "4_storage/subscription.h"
#include "5_dispatch/dispatch.h"


/*
 * Acknowledged ranges (and pending rows, beyond what it hands out) a receive
 * loads at a time; entries it may look at in a call without moving the read
 * position past them
 */
#define SCAN_WINDOW			10000
/*
 * most acknowledged ranges a receive reads to count what the consumer of
 * an exclusive or failover subscription holds (cursor_count_unacked())
 */
#define UNACKED_COUNT_RANGES	1000
/* points per consumer on the key_shared hash ring */
#define RING_POINTS			64

/*
 * The key hash Key_Shared routing uses: Pulsar's, over the key's UTF-8
 * bytes; messages without a key share one.
 */
static int32
message_key_hash(const StoredMessage *message)
{
	text	   *key;
	char	   *utf8;
	int			len = 0;
	uint32		hash;

	if (message->nulls[SEGMENT_KEY])
		return (int32) (murmur3_32((const unsigned char *) "", 0, 0) & PG_INT32_MAX);

	/*
	 * A key may be large and stored out of line: it is fetched once, and
	 * every copy is freed at once, so that a scan holds no more than one key.
	 */
	key = DatumGetTextPP(message->values[SEGMENT_KEY]);
	utf8 = publish_text_to_utf8(key, &len);
	hash = murmur3_32((const unsigned char *) utf8, len, 0) & PG_INT32_MAX;
	if (utf8 != VARDATA_ANY(key))
		pfree(utf8);
	if ((Pointer) key != DatumGetPointer(message->values[SEGMENT_KEY]))
		pfree(key);
	return (int32) hash;
}

/* one call of receive */
typedef struct Receiver
{
	Subscription *subscription;
	Consumer   *consumer;
	MemoryContext open_context; /* holds subscription and consumer */
	Consumer   *consumers;		/* live ones, failover order */
	int			num_consumers;
	uint32	   *ring_points;	/* key_shared: sorted hash ring */
	int64	   *ring_owners;
	int			ring_size;
	ReturnSetInfo *rsinfo;
	int			remaining;
	int64		bytes;			/* of payloads, keys and properties returned */
	TopicLimits limits;			/* of the topic, read once per call */
} Receiver;

/*
 * Whether a receive may return more: messages wanted, and bytes left under
 * pulsar_pg.max_receive_bytes.  The first message always goes out.
 */
static bool
receiver_wants_more(const Receiver *receiver)
{
	return receiver->remaining > 0 &&
		receiver->bytes < pulsar_max_receive_bytes;
}

/*
 * Counts a message returned against pulsar_pg.max_receive_bytes: the sizes
 * of its payload, key and properties as the client gets them, read from
 * their headers or TOAST pointers without fetching them.
 */
static void
count_returned_bytes(Receiver *receiver, const StoredMessage *message)
{
	static const int columns[] = {SEGMENT_PAYLOAD, SEGMENT_KEY,
	SEGMENT_PROPERTIES};

	for (int i = 0; i < lengthof(columns); i++)
		if (!message->nulls[columns[i]])
			receiver->bytes +=
				toast_raw_datum_size(message->values[columns[i]]);
}

static int
compare_ring(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

/*
 * Key_Shared: each consumer owns the arcs of a hash ring ending at its
 * points, so a consumer joining or leaving moves only its own share of keys.
 */
static void
build_ring(Receiver *receiver)
{
	int			n = receiver->num_consumers * RING_POINTS;
	uint64	   *packed = palloc(sizeof(uint64) * Max(n, 1));

	for (int c = 0; c < receiver->num_consumers; c++)
		for (int p = 0; p < RING_POINTS; p++)
		{
			char	   *point = psprintf("%s#%d", receiver->consumers[c].name, p);
			uint32		hash = murmur3_32((const unsigned char *) point,
										  strlen(point), 0) & PG_INT32_MAX;

			packed[c * RING_POINTS + p] = ((uint64) hash << 32) | (uint32) c;
		}
	qsort(packed, n, sizeof(uint64), compare_ring);
	receiver->ring_points = palloc(sizeof(uint32) * Max(n, 1));
	receiver->ring_owners = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		receiver->ring_points[i] = (uint32) (packed[i] >> 32);
		receiver->ring_owners[i] =
			receiver->consumers[(uint32) packed[i]].consumer_id;
	}
	receiver->ring_size = n;
}

static int64
key_owner(Receiver *receiver, int32 key_hash)
{
	int			low = 0;
	int			high = receiver->ring_size;

	if (receiver->ring_size == 0)
		return -1;
	while (low < high)
	{
		int			mid = (low + high) / 2;

		if (receiver->ring_points[mid] < (uint32) key_hash)
			low = mid + 1;
		else
			high = mid;
	}
	return receiver->ring_owners[low == receiver->ring_size ? 0 : low];
}

/*
 * Failover: the consumer that serves a partition, among those of the best
 * priority, in name order.
 */
static bool
is_active_consumer(Receiver *receiver, const LedgerInfo *ledger)
{
	int			best = 0;

	if (receiver->num_consumers == 0)
		return false;
	while (best < receiver->num_consumers &&
		   receiver->consumers[best].priority == receiver->consumers[0].priority)
		best++;
	return receiver->consumers[Max(ledger->partition_index, 0) % best].consumer_id ==
		receiver->consumer->consumer_id;
}

/*
 * Whether another consumer holds a message with this key hash.  Messages
 * waiting for redelivery hold nobody back: they go out first, to the key's
 * owner.
 */
static bool
key_held_by_other(const PendingRows *rows, int32 key_hash, int64 consumer_id)
{
	for (int i = 0; i < rows->count; i++)
		if (rows->key_hashes[i] == key_hash && rows->consumers[i] != -1 &&
			rows->consumers[i] != consumer_id)
			return true;
	return false;
}

/* what one partition's receive has chosen */
typedef struct Batch
{
	Receiver   *receiver;
	const LedgerInfo *ledger;
	Datum		topic;			/* text of the messages' topic column */
	int			want;
	/* new deliveries */
	int			count;
	int64	   *entries;
	int32	   *key_hashes;
	/* delayed messages passed, held back until due (shared, key_shared) */
	TimestampTz now;
	bool		hold_delayed;
	int			num_delayed;
	int			delayed_capacity;
	Datum	   *delayed_entries;
	Datum	   *delayed_hashes;
	Datum	   *delayed_due;
	/* the scan */
	const AckedRanges *acked;
	const PendingRows *held;	/* rows at or above the read position */
	const PendingRows *all_pending;	/* key_shared: every row */
	bool		need_key_hash;	/* Key_Shared routing */
	int			held_index;
	int			acked_index;
	int			scanned;
	/* entries passed that were never stored: aborted sends */
	int64		last_seen;
	int			num_gaps;
	int			gap_capacity;
	int64	   *gap_firsts;
	int64	   *gap_lasts;
	int64		next_read_position;
	bool		position_blocked;
	bool		stopped;
} Batch;

static bool
is_held(Batch *batch, int64 entry_id)
{
	const PendingRows *held = batch->held;

	while (batch->held_index < held->count &&
		   held->lasts[batch->held_index] < entry_id)
		batch->held_index++;
	return batch->held_index < held->count &&
		held->firsts[batch->held_index] <= entry_id;
}

/* entries come in increasing order, so both lookups only move forward */
static bool
is_acked(Batch *batch, int64 entry_id)
{
	const AckedRanges *acked = batch->acked;

	while (batch->acked_index < acked->count &&
		   acked->last[batch->acked_index] < entry_id)
		batch->acked_index++;
	for (int i = batch->acked_index;
		 i < acked->count && acked->first[i] <= entry_id; i++)
		if (entry_id <= acked->last[i])
			return true;
	return false;
}

static void
note_gap(Batch *batch, int64 first, int64 last)
{
	GapAckState state;

	if (last < first)
		return;
	state = cursor_gap_ack_state(batch->receiver->subscription,
								 batch->ledger->ledger_id, first, last);
	/* another transaction's range: read no further until it ends */
	if (state == GAP_BEING_ACKED)
		batch->position_blocked = true;
	if (state != GAP_TO_ACK)
		return;
	if (batch->num_gaps == batch->gap_capacity)
	{
		batch->gap_capacity = Max(16, batch->gap_capacity * 2);
		batch->gap_firsts = batch->gap_firsts ?
			repalloc(batch->gap_firsts, sizeof(int64) * batch->gap_capacity) :
			palloc(sizeof(int64) * batch->gap_capacity);
		batch->gap_lasts = batch->gap_lasts ?
			repalloc(batch->gap_lasts, sizeof(int64) * batch->gap_capacity) :
			palloc(sizeof(int64) * batch->gap_capacity);
	}
	batch->gap_firsts[batch->num_gaps] = first;
	batch->gap_lasts[batch->num_gaps] = last;
	batch->num_gaps++;
}

/*
 * Whether the scan may go on; a scan cut short says so.  Entries the read
 * position moved past (acknowledged, held, delayed, handed out) are never
 * looked at again, so passing them costs no budget: a receive behind a long
 * run of delayed messages reaches the ready ones after it in one call.
 * Entries it stayed behind (Key_Shared messages of other consumers, and
 * whatever follows them) the next receive looks at again: only so many of
 * those per call.
 */
static bool
keep_scanning(Batch *batch)
{
	if (batch->position_blocked)
		batch->scanned++;
	if (batch->count >= batch->want ||
		batch->receiver->bytes >= pulsar_max_receive_bytes ||
		batch->scanned >= SCAN_WINDOW + batch->want)
	{
		batch->stopped = true;
		return false;
	}
	return true;
}

/*
 * A message whose deliver_at lies ahead: shared subscriptions track it as
 * a redelivery due then, which no consumer holds yet.
 */
static bool
hold_back_delayed(Batch *batch, const StoredMessage *message, int32 key_hash)
{
	TimestampTz due;

	if (!batch->hold_delayed || message->nulls[SEGMENT_DELIVER_AT])
		return false;
	due = DatumGetTimestampTz(message->values[SEGMENT_DELIVER_AT]);
	if (due <= batch->now)
		return false;
	if (batch->num_delayed == batch->delayed_capacity)
	{
		batch->delayed_capacity = Max(16, batch->delayed_capacity * 2);
		batch->delayed_entries = batch->delayed_entries ?
			repalloc(batch->delayed_entries, sizeof(Datum) * batch->delayed_capacity) :
			palloc(sizeof(Datum) * batch->delayed_capacity);
		batch->delayed_hashes = batch->delayed_hashes ?
			repalloc(batch->delayed_hashes, sizeof(Datum) * batch->delayed_capacity) :
			palloc(sizeof(Datum) * batch->delayed_capacity);
		batch->delayed_due = batch->delayed_due ?
			repalloc(batch->delayed_due, sizeof(Datum) * batch->delayed_capacity) :
			palloc(sizeof(Datum) * batch->delayed_capacity);
	}
	batch->delayed_entries[batch->num_delayed] = Int64GetDatum(message->entry_id);
	batch->delayed_hashes[batch->num_delayed] = Int32GetDatum(key_hash);
	batch->delayed_due[batch->num_delayed] = TimestampTzGetDatum(due);
	batch->num_delayed++;
	return true;
}

/*
 * Writes the pending rows of the delayed messages a scan passed: each is a
 * redelivery due at its time, which no consumer holds yet.
 */
static void
hold_delayed_rows(Batch *batch)
{
	Subscription *subscription = batch->receiver->subscription;
	TimestampTz earliest = DT_NOEND;

	if (batch->num_delayed == 0)
		return;
	for (int i = 0; i < batch->num_delayed; i++)
		earliest = Min(earliest, DatumGetTimestampTz(batch->delayed_due[i]));
	pending_hold_delayed(subscription->subscription_id,
						 batch->ledger->ledger_id, batch->delayed_entries,
						 batch->delayed_hashes, batch->delayed_due,
						 batch->num_delayed);
	worker_signal_timer(earliest);
	batch->num_delayed = 0;
}

static bool
choose_new_message(const StoredMessage *message, void *arg)
{
	Batch	   *batch = arg;
	Receiver   *receiver = batch->receiver;
	int64		entry = message->entry_id;
	int32		key_hash = batch->need_key_hash ? message_key_hash(message) : -1;

	/* below the max read position, a missing entry is gone for good */
	note_gap(batch, batch->last_seen + 1, entry - 1);
	batch->last_seen = entry;
	if (is_acked(batch, entry) || is_held(batch, entry))
	{
		if (!batch->position_blocked)
			batch->next_read_position = entry + 1;
		return keep_scanning(batch);
	}
	if (hold_back_delayed(batch, message, key_hash))
	{
		if (!batch->position_blocked)
			batch->next_read_position = entry + 1;
		/* a long run of them is written as it goes, in bounded memory */
		if (batch->num_delayed >= SCAN_WINDOW)
			hold_delayed_rows(batch);
		return keep_scanning(batch);
	}
	if (receiver->subscription->type == SUBSCRIPTION_KEY_SHARED &&
		(key_owner(receiver, key_hash) != receiver->consumer->consumer_id ||
		 key_held_by_other(batch->all_pending, key_hash,
						   receiver->consumer->consumer_id)))
	{
		/* not ours, or an earlier message of its key is still out */
		batch->position_blocked = true;
		return keep_scanning(batch);
	}

	reader_put_message(receiver->rsinfo->setResult, receiver->rsinfo->setDesc,
					   batch->ledger, batch->topic, message, 0);
	count_returned_bytes(receiver, message);
	batch->entries[batch->count] = entry;
	batch->key_hashes[batch->count] = key_hash;
	batch->count++;
	if (!batch->position_blocked)
		batch->next_read_position = entry + 1;
	return keep_scanning(batch);
}

/*
 * Publishes a message that was redelivered too often to the subscription's
 * dead-letter topic, with Pulsar's properties, and acknowledges it here:
 * both in the receiving transaction.
 */
static void
dead_letter(Receiver *receiver, const LedgerInfo *ledger,
			StoredMessage *message)
{
	Subscription *subscription = receiver->subscription;
	char	   *origin = psprintf(INT64_FORMAT ":" INT64_FORMAT ":%d",
								  ledger->ledger_id, message->entry_id,
								  ledger->partition_index);
	Jsonb	   *added;
	Jsonb	   *properties;
	int64		entry = message->entry_id;

	added = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											   CStringGetDatum(psprintf("{\"REAL_TOPIC\": \"%s\", \"ORIGIN_MESSAGE_ID\": \"%s\"}",
																		topic_name_string(&subscription->topic->name,
																						  NOT_A_PARTITION),
																		origin))));
	properties = message->nulls[SEGMENT_PROPERTIES] ? added :
		DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
										   message->values[SEGMENT_PROPERTIES],
										   JsonbPGetDatum(added)));
	publish_stored_message(subscription->dead_letter_topic, message,
						   properties);
	cursor_ack_entries(subscription, ledger->ledger_id, &entry, 1);
}

/* what a redelivery hands out of one claimed pending row */
typedef struct Redelivery
{
	Receiver   *receiver;
	const LedgerInfo *ledger;
	Datum		topic;			/* text of the messages' topic column */
	int32		redelivery_count;
	int			delivered;
	int64		last_returned;	/* entry of the last message returned */
	bool		stopped;		/* at pulsar_pg.max_receive_bytes */
	MemoryContext scratch;		/* for one dead letter at a time */
} Redelivery;

static bool
is_dead_letter(const Subscription *subscription, int32 redelivery_count)
{
	return subscription->max_redeliver_count > 0 &&
		redelivery_count > subscription->max_redeliver_count;
}

static bool
redeliver_message(const StoredMessage *message, void *arg)
{
	Redelivery *redelivery = arg;
	Receiver   *receiver = redelivery->receiver;
	Subscription *subscription = receiver->subscription;

	if (is_dead_letter(subscription, redelivery->redelivery_count))
	{
		/* its copies (payload, properties) are freed before the next one */
		MemoryContext caller = MemoryContextSwitchTo(redelivery->scratch);
		StoredMessage copy = *message;

		dead_letter(receiver, redelivery->ledger, &copy);
		MemoryContextSwitchTo(caller);
		MemoryContextReset(redelivery->scratch);
		return true;
	}
	reader_put_message(receiver->rsinfo->setResult, receiver->rsinfo->setDesc,
					   redelivery->ledger, redelivery->topic, message,
					   redelivery->redelivery_count);
	count_returned_bytes(receiver, message);
	if (subscription->type == SUBSCRIPTION_EXCLUSIVE ||
		subscription->type == SUBSCRIPTION_FAILOVER)
		dispatch_state_note_received(subscription->subscription_id,
									 redelivery->ledger->ledger_id, message->entry_id,
									 message->entry_id);
	redelivery->delivered++;
	redelivery->last_returned = message->entry_id;
	if (receiver->bytes >= pulsar_max_receive_bytes)
	{
		redelivery->stopped = true;
		return false;
	}
	return true;
}

static void
init_redelivery(Redelivery *redelivery, Receiver *receiver,
				const LedgerInfo *ledger, Datum topic, int32 redelivery_count)
{
	memset(redelivery, 0, sizeof(Redelivery));
	redelivery->receiver = receiver;
	redelivery->ledger = ledger;
	redelivery->topic = topic;
	redelivery->redelivery_count = redelivery_count;
}

/*
 * Claims, for a Key_Shared subscription, the due rows of the consumer's
 * keys only: locking others' would let their owners pass them and send
 * later messages of those keys first.  A row without a key hash was written
 * for another type of subscription.  The claimed rows are left in
 * SPI_tuptable, and their number returned.  Caller is inside
 * catalog_access_begin().
 */
static uint64
claim_due_of_my_keys(Receiver *receiver, const LedgerInfo *ledger,
					 int64 mark_delete, int want,
					 const PendingRows *all_pending)
{
	Subscription *subscription = receiver->subscription;
	int64		me = receiver->consumer->consumer_id;
	Datum	   *mine;
	int			num_mine = 0;

	pending_find_due(subscription->subscription_id, ledger->ledger_id,
					 mark_delete, SCAN_WINDOW, false);
	mine = palloc(sizeof(Datum) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed && num_mine < want; i++)
	{
		bool		isnull;
		Datum		hash = SPI_getbinval(SPI_tuptable->vals[i],
										 SPI_tuptable->tupdesc, 4, &isnull);
		int32		key_hash = isnull ? 0 : DatumGetInt32(hash);

		if (key_owner(receiver, key_hash) == me &&
			!key_held_by_other(all_pending, key_hash, me))
			mine[num_mine++] = SPI_getbinval(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 1, &isnull);
	}
	pending_claim_runs(subscription->subscription_id, ledger->ledger_id,
					   PointerGetDatum(catalog_int8_array(mine, num_mine)));
	return SPI_processed;
}

/*
 * Claims, for a subscription of another type than Key_Shared, as many due
 * rows as 'want' messages need; they are left in SPI_tuptable, and their
 * number returned.  Caller is inside catalog_access_begin().
 */
static uint64
claim_due(Subscription *subscription, const LedgerInfo *ledger,
		  int64 mark_delete, int want)
{
	int64		counted = 0;
	int			needed = 0;
	bool		dead_letters = false;

	pending_find_due(subscription->subscription_id, ledger->ledger_id,
					 mark_delete, want, false);
	for (uint64 i = 0; i < SPI_processed && counted < want; i++)
	{
		bool		isnull;
		int64		first = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc, 1, &isnull));
		int64		last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													   SPI_tuptable->tupdesc, 2, &isnull));
		int32		count = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc, 3, &isnull));

		counted += last - Max(first, mark_delete + 1) + 1;
		needed++;
		dead_letters |= subscription->max_redeliver_count > 0 &&
			count > subscription->max_redeliver_count;
	}

	/*
	 * A dead letter is acknowledged, which for exclusive and failover
	 * subscriptions locks the cursor row; cumulative acks lock it before the
	 * pending rows, so take it first too, or the two deadlock.
	 */
	if (dead_letters &&
		(subscription->type == SUBSCRIPTION_EXCLUSIVE ||
		 subscription->type == SUBSCRIPTION_FAILOVER))
		cursor_lock_row(subscription->subscription_id, ledger->ledger_id);
	if (needed == 0)
		return 0;
	pending_find_due(subscription->subscription_id, ledger->ledger_id,
					 mark_delete, needed, true);
	return SPI_processed;
}

/* the runs a redelivery claimed, by first entry */
typedef struct ClaimedRuns
{
	int			num_rows;
	int64	   *firsts;
	int64	   *starts;			/* first entry above the mark-delete position */
	int64	   *cuts;			/* last entry handed out */
	int64	   *lasts;
	int32	   *counts;
} ClaimedRuns;

/*
 * Reads the 'claimed' rows in SPI_tuptable into 'runs' (in 'context'),
 * cutting them to 'want' messages in all.
 */
static void
read_claimed_runs(ClaimedRuns *runs, uint64 claimed, int64 mark_delete,
				  int want, MemoryContext context)
{
	int			taken = 0;

	memset(runs, 0, sizeof(ClaimedRuns));
	if (claimed == 0)
		return;
	runs->firsts = MemoryContextAlloc(context, sizeof(int64) * claimed);
	runs->starts = MemoryContextAlloc(context, sizeof(int64) * claimed);
	runs->cuts = MemoryContextAlloc(context, sizeof(int64) * claimed);
	runs->lasts = MemoryContextAlloc(context, sizeof(int64) * claimed);
	runs->counts = MemoryContextAlloc(context, sizeof(int32) * claimed);
	for (int i = 0; i < (int) claimed && taken < want; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		length;

		runs->firsts[i] = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
		runs->lasts[i] = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
		runs->counts[i] = DatumGetInt32(SPI_getbinval(row, desc, 3, &isnull));
		runs->starts[i] = Max(runs->firsts[i], mark_delete + 1);
		length = Min(runs->lasts[i] - runs->starts[i] + 1, want - taken);
		runs->cuts[i] = runs->starts[i] + length - 1;
		taken += (int) length;
		runs->num_rows = i + 1;
	}
}

/*
 * Sends the claimed messages that are no dead letters; returns how many.
 * A receive that reaches pulsar_pg.max_receive_bytes cuts the run where it
 * stopped, and drops the runs after it from the claim.
 */
static int
send_redeliveries(Receiver *receiver, const LedgerInfo *ledger, Datum topic,
				  Snapshot snapshot, ClaimedRuns *runs)
{
	int			delivered = 0;

	for (int i = 0; i < runs->num_rows; i++)
	{
		Redelivery	redelivery;

		if (is_dead_letter(receiver->subscription, runs->counts[i]))
			continue;
		init_redelivery(&redelivery, receiver, ledger, topic, runs->counts[i]);
		reader_scan_ledger(ledger, runs->starts[i] - 1, runs->cuts[i], snapshot,
						   redeliver_message, &redelivery);
		delivered += redelivery.delivered;
		if (redelivery.stopped)
		{
			runs->cuts[i] = redelivery.last_returned;
			runs->num_rows = i + 1;
			break;
		}
	}
	return delivered;
}

/*
 * Writes the claim: the claimed runs are the consumer's now, as far as
 * they were handed out.  Caller is inside catalog_access_begin().
 */
static void
write_claim(Receiver *receiver, const LedgerInfo *ledger,
			const ClaimedRuns *runs)
{
	Subscription *subscription = receiver->subscription;
	int			last_row = runs->num_rows - 1;

	if (runs->num_rows == 0)
		return;
	/* the rest of a run cut short stays due, as it was */
	if (runs->cuts[last_row] < runs->lasts[last_row])
		pending_keep_rest_due(subscription->subscription_id,
							  ledger->ledger_id, runs->firsts[last_row],
							  runs->cuts[last_row] + 1);
	if (subscription->ack_timeout_us > 0)
		worker_signal_timer(GetCurrentTimestamp() + subscription->ack_timeout_us);
	pending_mark_redelivered(subscription->subscription_id,
							 ledger->ledger_id, receiver->consumer->consumer_id,
							 runs->firsts, runs->starts, runs->cuts,
							 runs->num_rows, subscription->ack_timeout_us);
}

/* Publishes and acknowledges the claimed messages past the limit. */
static void
send_dead_letters(Receiver *receiver, const LedgerInfo *ledger, Datum topic,
				  Snapshot snapshot, const ClaimedRuns *runs)
{
	for (int i = 0; i < runs->num_rows; i++)
	{
		Redelivery	redelivery;

		if (!is_dead_letter(receiver->subscription, runs->counts[i]))
			continue;
		init_redelivery(&redelivery, receiver, ledger, topic, runs->counts[i]);
		redelivery.scratch = AllocSetContextCreate(CurrentMemoryContext,
												   "pulsar_pg dead letter",
												   ALLOCSET_DEFAULT_SIZES);
		reader_scan_ledger(ledger, runs->starts[i] - 1, runs->cuts[i], snapshot,
						   redeliver_message, &redelivery);
		MemoryContextDelete(redelivery.scratch);
	}
}

/*
 * Hands out what is due for redelivery, in entry order, up to 'want'
 * messages.  Rows are claimed with SKIP LOCKED, so a message an ack or
 * another redelivery is busy with is not sent, and only as many rows as
 * the messages wanted need: an unlocked look counts them first.  A run
 * longer than what is wanted is cut: the rest stays due.
 */
static int
redeliver_due(Receiver *receiver, const LedgerInfo *ledger,
			  const char *topic_name, int64 mark_delete, int want,
			  Snapshot snapshot, const PendingRows *all_pending)
{
	MemoryContext caller = CurrentMemoryContext;
	CatalogAccess access;
	ClaimedRuns runs;
	uint64		claimed;
	int			delivered;
	Datum		topic = CStringGetTextDatum(topic_name);

	catalog_access_begin(&access);
	if (receiver->subscription->type == SUBSCRIPTION_KEY_SHARED)
		claimed = claim_due_of_my_keys(receiver, ledger, mark_delete, want,
									   all_pending);
	else
		claimed = claim_due(receiver->subscription, ledger, mark_delete, want);
	read_claimed_runs(&runs, claimed, mark_delete, want, caller);

	/*
	 * Messages that are no dead letters go out now, before the claim is
	 * written: a receive that reaches pulsar_pg.max_receive_bytes cuts the
	 * run where it stopped, and the rest, with the rows after it, stays due.
	 */
	delivered = send_redeliveries(receiver, ledger, topic, snapshot, &runs);
	write_claim(receiver, ledger, &runs);
	catalog_access_end(&access);

	/* messages past the dead-letter limit are acknowledged: after the claim */
	send_dead_letters(receiver, ledger, topic, snapshot, &runs);
	return delivered;
}

/*
 * Where reading of a partition resumes, and how many rewinds its state has
 * seen: a transaction that rolls back moves the read position back at any
 * time, and the position a receive stores must not undo that (see
 * store_read_position()).  Sets 'new_consumer' when an exclusive or
 * failover partition changed consumer.
 */
static int64
resume_position(Receiver *receiver, const LedgerInfo *ledger,
				DispatchState *state, bool ordered, bool *new_consumer,
				uint64 *rewinds)
{
	int64		start;

	SpinLockAcquire(&state->mutex);
	*new_consumer = ordered && state->consumer_id != receiver->consumer->consumer_id;
	start = *new_consumer ? -1 : state->read_position;
	*rewinds = state->rewinds;
	SpinLockRelease(&state->mutex);
	/* a new consumer starts from the first unacknowledged message */
	if (start < 0)
		start = cursor_mark_delete(receiver->subscription, ledger->ledger_id) + 1;
	return start;
}

/*
 * How many of 'want' messages a consumer at its limit of unacknowledged
 * messages may get: none once it holds the limit.  A subscription holding
 * max_unacked_messages_per_subscription unacknowledged messages in the
 * partition gets nothing new either, whichever consumer asks: Pulsar
 * blocks the subscription until acks come.
 */
static int
limit_to_unacked(Receiver *receiver, const LedgerInfo *ledger, int want,
				 int64 mark_delete, int64 read_position, bool ordered,
				 bool track)
{
	Subscription *subscription = receiver->subscription;
	int64		limit = receiver->limits.max_unacked_per_subscription;
	int64		holding;

	if (subscription->max_unacked_messages > 0)
	{
		if (track && !ordered)
			holding = pending_count_held_by(subscription->subscription_id,
											ledger->ledger_id,
											receiver->consumer->consumer_id,
											subscription->max_unacked_messages);
		else if (read_position - 1 - mark_delete <=
				 subscription->max_unacked_messages - want)
			holding = 0;		/* it cannot hold enough to matter */
		else
			holding = cursor_count_unacked(subscription, ledger->ledger_id,
										   mark_delete + 1, read_position - 1,
										   UNACKED_COUNT_RANGES);
		want = Min(want, subscription->max_unacked_messages - holding);
	}
	if (want > 0 && limit > 0)
	{
		if (track && !ordered)
			holding = pending_count_held(subscription->subscription_id,
										 ledger->ledger_id,
										 (int32) Min(limit, PG_INT32_MAX));
		else if (read_position - 1 - mark_delete <= limit - want)
			holding = 0;		/* it cannot hold enough to matter */
		else
			holding = cursor_count_unacked(subscription, ledger->ledger_id,
										   mark_delete + 1, read_position - 1,
										   UNACKED_COUNT_RANGES);
		want = (int) Min((int64) want, limit - holding);
	}
	return want;
}

/*
 * Scans new messages from the batch's read position up to the max read
 * position, in rounds of what was loaded of acknowledged ranges ('cursor')
 * and pending rows ('held', of which 'held_limit' were asked for).
 */
static void
scan_new_messages(Batch *batch, CursorView *cursor, PendingRows *held,
				  int held_limit, int64 max_read_position, Snapshot snapshot,
				  bool ordered)
{
	Subscription *subscription = batch->receiver->subscription;
	const LedgerInfo *ledger = batch->ledger;
	int64		scan_after = batch->next_read_position - 1;
	int64		scan_until;
	CompactedView view;

	batch->acked = &cursor->ranges;
	batch->held = held;

	/*
	 * Below its horizon a read_compacted subscription sees the compacted
	 * view; what the view left out are gaps, acknowledged as the scan passes
	 * them, as Pulsar's cursor moves past them.
	 */
	memset(&view, 0, sizeof(view));
	if (ordered && subscription->read_compacted)
		compaction_open_view(ledger, &view);
	for (;;)
	{
		batch->acked_index = 0;
		batch->held_index = 0;

		/*
		 * When as many ranges or pending rows were loaded as asked for,
		 * nothing is known past the last one: this round of the scan stops
		 * there, and the next loads what follows.
		 */
		scan_until = max_read_position;
		if (cursor->ranges.count >= SCAN_WINDOW)
			scan_until = Min(scan_until,
							 cursor->ranges.last[cursor->ranges.count - 1]);
		if (held->count >= held_limit)
			scan_until = Min(scan_until, held->lasts[held->count - 1]);
		compaction_scan_ledger(ledger, &view, scan_after, scan_until, snapshot,
							   choose_new_message, batch);
		if (batch->stopped)
			break;
		/* whatever lay past the last message seen was a gap */
		note_gap(batch, batch->last_seen + 1, scan_until);
		batch->last_seen = scan_until;
		if (!batch->position_blocked)
			batch->next_read_position = scan_until + 1;
		if (scan_until >= max_read_position)
			break;
		scan_after = scan_until;
		/* what is held before what is acknowledged, as in receive_from_ledger() */
		pending_load_runs(subscription, ledger->ledger_id, scan_after + 1,
						  held_limit, held);
		pfree(cursor->ranges.first);
		pfree(cursor->ranges.last);
		cursor_load_acked_ranges(subscription, ledger->ledger_id, scan_after + 1,
								 SCAN_WINDOW, &cursor->ranges);
	}
	compaction_close_view(&view);
}

/*
 * Records what the scan passed and handed out: aborted sends are
 * acknowledged, so that the cursor moves past them; delayed messages wait
 * as redeliveries due at their time; and what consumers now hold.
 */
static void
record_scan(Batch *batch, bool ordered, bool track)
{
	Subscription *subscription = batch->receiver->subscription;
	const LedgerInfo *ledger = batch->ledger;

	if (batch->num_gaps > 0)
		cursor_ack_ranges(subscription, ledger->ledger_id, batch->gap_firsts,
						  batch->gap_lasts, batch->num_gaps);
	hold_delayed_rows(batch);
	if (ordered)
	{
		int			run_start = 0;

		for (int i = 1; i <= batch->count; i++)
			if (i == batch->count || batch->entries[i] != batch->entries[i - 1] + 1)
			{
				dispatch_state_note_received(subscription->subscription_id, ledger->ledger_id,
											 batch->entries[run_start], batch->entries[i - 1]);
				run_start = i;
			}
	}
	if (track && batch->count > 0)
		pending_hold_for_consumer(subscription, ledger->ledger_id,
								  batch->receiver->consumer->consumer_id,
								  batch->entries, batch->key_hashes,
								  batch->count);
}

/*
 * Stores where the next receive resumes, unless a rewind came first, and
 * remembers where to rewind to if this transaction rolls back.
 */
static void
store_read_position(Batch *batch, DispatchState *state, int64 read_position,
					uint64 rewinds)
{
	Subscription *subscription = batch->receiver->subscription;

	/*
	 * A rewind since this call read the position gives back messages below
	 * it, which the scan may have passed as held: it wins, and what this
	 * call handed out is pending, so later scans pass it.  (Storing the
	 * position over it left those messages behind the read position for
	 * good: test/isolation/specs/receive_rewind.spec.)
	 */
	if (batch->next_read_position != read_position)
	{
		SpinLockAcquire(&state->mutex);
		if (state->rewinds == rewinds)
			state->read_position = batch->next_read_position;
		SpinLockRelease(&state->mutex);
	}

	/*
	 * If this transaction rolls back, what it passed is looked at again: its
	 * messages come back first, and the delayed messages and aborted entries
	 * it recorded are recorded again, even when it handed out nothing.  A
	 * Key_Shared scan held back at a message of another consumer's key
	 * leaves the position where it was, but its messages further on may
	 * have been passed as held by a later scan, which moved it: it rewinds
	 * too.
	 */
	if (batch->next_read_position != read_position || batch->count > 0)
		dispatch_state_remember_rewind(subscription->subscription_id, batch->ledger->ledger_id,
									   read_position);
}

/*
 * Hands out up to 'want' messages of one partition to the consumer.
 */
static int
receive_from_ledger(Receiver *receiver, const LedgerInfo *ledger, int want)
{
	Subscription *subscription = receiver->subscription;
	int64		me = receiver->consumer->consumer_id;
	bool		ordered = (subscription->type == SUBSCRIPTION_EXCLUSIVE ||
						   subscription->type == SUBSCRIPTION_FAILOVER);
	bool		track = !ordered || subscription->ack_timeout_us > 0;
	char	   *topic_name = topic_name_string(&subscription->topic->name,
											   ledger->partition_index);
	DispatchState *state;
	int64		mark_delete;
	int64		max_read_position;
	int64		read_position;
	Snapshot	snapshot;
	CursorView	cursor;
	int64		start;
	bool		new_consumer;
	uint64		rewinds;
	int			held_limit;
	PendingRows held;
	PendingRows all_pending;
	Batch		batch;
	int			delivered = 0;

	if (subscription->type == SUBSCRIPTION_FAILOVER &&
		!is_active_consumer(receiver, ledger))
		return 0;

	catalog_lock_dispatch(subscription->subscription_id, ledger->ledger_id);
	state = dispatch_state(subscription->subscription_id, ledger->ledger_id);
	start = resume_position(receiver, ledger, state, ordered, &new_consumer,
							&rewinds);

	/* the order of these two is what keeps consumers from skipping */
	max_read_position = read_position_max(ledger->ledger_id, catalog_load_next_entry);

	/*
	 * What consumers hold is read before what is acknowledged.  An ack
	 * deletes the pending row of a message and acknowledges it in one
	 * transaction: read in this order, a message is seen held (the row, with
	 * a dirty snapshot, even while the ack is in progress) or acknowledged
	 * (the ack committed before the cursor was read), never neither.  Read
	 * the other way round, an ack committing between the two reads made its
	 * message look new, and handing it out again went unnoticed: this
	 * transaction's own ack then found it pending
	 * (test/isolation/specs/receive_behind_ack.spec).
	 */
	held_limit = SCAN_WINDOW + want;
	memset(&held, 0, sizeof(held));
	if (start <= max_read_position)
		pending_load_runs(subscription, ledger->ledger_id, start, held_limit, &held);
	if (subscription->type == SUBSCRIPTION_EXCLUSIVE)
		cursor_read(subscription, ledger->ledger_id, start, SCAN_WINDOW,
					NULL, 0, &cursor);
	else
		cursor_read(subscription, ledger->ledger_id, start, SCAN_WINDOW,
					receiver->consumers, receiver->num_consumers, &cursor);
	mark_delete = cursor.mark_delete;
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	read_position = Max(start, mark_delete + 1);
	if (new_consumer)
	{
		SpinLockAcquire(&state->mutex);
		state->read_position = read_position;
		state->consumer_id = me;
		rewinds = state->rewinds;
		SpinLockRelease(&state->mutex);
	}

	/* a consumer at its limit of unacknowledged messages gets nothing new */
	want = limit_to_unacked(receiver, ledger, want, mark_delete, read_position,
							ordered, track);
	if (want <= 0)
	{
		UnregisterSnapshot(snapshot);
		catalog_unlock_dispatch(subscription->subscription_id, ledger->ledger_id);
		return 0;
	}

	memset(&all_pending, 0, sizeof(all_pending));
	if (subscription->type == SUBSCRIPTION_KEY_SHARED)
		pending_load_runs(subscription, ledger->ledger_id, 0, INT_MAX, &all_pending);
	if (cursor.any_due)
		delivered = redeliver_due(receiver, ledger, topic_name, mark_delete,
								  want, snapshot, &all_pending);

	/* then new messages from the read position */
	memset(&batch, 0, sizeof(batch));
	batch.receiver = receiver;
	batch.ledger = ledger;
	batch.topic = CStringGetTextDatum(topic_name);
	batch.want = want - delivered;
	batch.entries = palloc(sizeof(int64) * Max(batch.want, 1));
	batch.key_hashes = palloc(sizeof(int32) * Max(batch.want, 1));
	batch.next_read_position = read_position;
	batch.last_seen = read_position - 1;
	batch.need_key_hash = subscription->type == SUBSCRIPTION_KEY_SHARED;
	batch.hold_delayed = !ordered;
	batch.now = GetCurrentTimestamp();
	batch.all_pending = subscription->type == SUBSCRIPTION_KEY_SHARED ?
		&all_pending : NULL;
	if (batch.want > 0 && read_position <= max_read_position &&
		receiver->bytes < pulsar_max_receive_bytes)
	{
		scan_new_messages(&batch, &cursor, &held, held_limit,
						  max_read_position, snapshot, ordered);
		delivered += batch.count;
	}
	record_scan(&batch, ordered, track);
	store_read_position(&batch, state, read_position, rewinds);
	if (delivered > 0)
		dispatch_state_count_delivered(state, delivered);

	UnregisterSnapshot(snapshot);
	catalog_unlock_dispatch(subscription->subscription_id, ledger->ledger_id);
	return delivered;
}

/*
 * Opens the subscription for a receive: takes its lock, loads it and the
 * consumer (renewing its lease), and what routing needs of the others.
 * What it knows of the other consumers is kept while the subscription keeps
 * its id and type.  A waiting receive opens it again after each sleep, so
 * the subscription and consumer it opens again live in a context of their
 * own, reset on each opening: the call's memory does not grow with its
 * looks.  (The first opening, which most calls are, needs no context.)
 */
static void
open_receiver(Receiver *receiver, TopicInfo *topic, const char *name,
			  const char *consumer_name)
{
	bool		reopened = receiver->subscription != NULL;
	int64		previous_id = reopened ? receiver->subscription->subscription_id : 0;
	SubscriptionType previous_type = reopened ? receiver->subscription->type : 0;
	Subscription *subscription;
	MemoryContext caller = CurrentMemoryContext;

	if (reopened)
	{
		if (receiver->open_context == NULL)
			receiver->open_context = AllocSetContextCreate(caller,
														   "pulsar_pg receive subscription",
														   ALLOCSET_SMALL_SIZES);
		else
			MemoryContextReset(receiver->open_context);
		MemoryContextSwitchTo(receiver->open_context);
	}
	subscription = subscription_open(topic, name, AccessShareLock);
	receiver->subscription = subscription;
	receiver->consumer = subscription_touch_consumer(subscription, consumer_name);
	MemoryContextSwitchTo(caller);
	if (reopened && subscription->subscription_id == previous_id &&
		subscription->type == previous_type)
		return;
	if (subscription->type == SUBSCRIPTION_FAILOVER ||
		subscription->type == SUBSCRIPTION_KEY_SHARED ||
		subscription->type == SUBSCRIPTION_SHARED)
		receiver->consumers = subscription_live_consumers(subscription,
														  &receiver->num_consumers);
	if (subscription->type == SUBSCRIPTION_KEY_SHARED)
		build_ring(receiver);
}

/*
 * Whether the max read position of a partition of the topic moved from what
 * 'seen' holds.  Neither allocates nor reads a table: a waiting receive
 * asks this on every wake-up.
 */
static bool
topic_moved(TopicInfo *topic, const int64 *seen)
{
	for (int i = 0; i < topic->num_ledgers; i++)
		if (read_position_max(topic->ledgers[i].ledger_id, catalog_load_next_entry) !=
			seen[i])
			return true;
	return false;
}

/* whether the subscriptions of the topic have a dispatch rate */
static inline bool
dispatch_rate_limited(const Receiver *receiver)
{
	return receiver->limits.dispatch.messages_per_second > 0 ||
		receiver->limits.dispatch.bytes_per_second > 0;
}

/*
 * One look at the topic's partitions, starting from a different one each
 * time, until the receiver has what it wants or the subscription's
 * dispatch rate lets no more go now; notes in 'seen' (if not NULL) each
 * partition's max read position.  What the rate let go and was not handed
 * out is given back, and the bytes handed out are charged.
 */
static void
look_at_partitions(Receiver *receiver, TopicInfo *topic, int64 *seen)
{
	static uint32 next_partition = 0;
	uint32		first = next_partition++;
	bool		rate_limited = dispatch_rate_limited(receiver);
	int64		allowed = receiver->remaining;
	int64		delivered = 0;
	int64		bytes_before = receiver->bytes;

	for (int i = 0; seen != NULL && i < topic->num_ledgers; i++)
		seen[i] = read_position_max(topic->ledgers[i].ledger_id,
									catalog_load_next_entry);
	if (rate_limited)
		allowed = RateLimitTakeMessages(topic->topic_id,
										receiver->subscription->subscription_id,
										&receiver->limits.dispatch,
										receiver->remaining);
	for (int i = 0;
		 i < topic->num_ledgers && receiver_wants_more(receiver) &&
		 delivered < allowed;
		 i++)
	{
		LedgerInfo *ledger = &topic->ledgers[(first + i) % topic->num_ledgers];
		int			got = receive_from_ledger(receiver, ledger,
											  (int) Min((int64) receiver->remaining,
														allowed - delivered));

		receiver->remaining -= got;
		delivered += got;
	}
	if (rate_limited)
		RateLimitSettle(topic->topic_id, receiver->subscription->subscription_id,
						&receiver->limits.dispatch, allowed, delivered,
						receiver->bytes - bytes_before);
}

/*
 * Waits, before a receive's first look, until the subscription's dispatch
 * rate has room for a message (and its bytes are not booked more than a
 * second ahead); fails if that would take longer than
 * pulsar_pg.rate_limit_timeout.  Sleeps without the subscription's lock
 * when 'may_unlock' (nothing was written yet); returns whether it gave the
 * lock up.
 */
static bool
wait_for_dispatch_rate(Receiver *receiver, TopicInfo *topic, bool may_unlock)
{
	int64		wait_us;
	bool		within;

	if (!dispatch_rate_limited(receiver))
		return false;
	wait_us = RateLimitBook(topic->topic_id,
							receiver->subscription->subscription_id,
							&receiver->limits.dispatch, 1, 0, false,
							(int64) pulsar_rate_limit_timeout_ms * 1000, &within);
	if (!within)
		ereport(ERROR,
				(errcode(ERRCODE_RATE_LIMIT_EXCEEDED),
				 errmsg("subscription \"%s\" of topic \"%s\" is over its dispatch rate",
						receiver->subscription->name,
						topic_name_string(&topic->name, NOT_A_PARTITION)),
				 errdetail("The subscription receives %s per second; this receive would wait " INT64_FORMAT " ms, longer than pulsar_pg.rate_limit_timeout (%d ms).",
						   rate_limit_description(&receiver->limits.dispatch),
						   (wait_us + 999) / 1000, pulsar_rate_limit_timeout_ms),
				 errhint("Receive less often, raise pulsar_pg.rate_limit_timeout, or raise the rate with pulsar.set_dispatch_rate().")));
	if (wait_us == 0)
		return false;
	if (may_unlock)
		catalog_unlock_subscription(topic->topic_id, receiver->subscription->name,
									AccessShareLock);
	RateLimitSleep(wait_us);
	return may_unlock;
}

/*
 * Receives up to max_messages of a topic's subscription for a consumer into
 * rsinfo's tuplestore, waiting up to timeout_us for the first: pulsar.receive().
 *
 * A receive with a timeout sleeps between its looks without the
 * subscription's lock, when it has changed nothing yet: a seek or an
 * unsubscribe (which lock it exclusively) then goes ahead at once, instead
 * of waiting for the sleeper, with every other receive of the subscription
 * queued behind it.  After each sleep the receive takes the lock again and
 * reloads the subscription and its consumer, so it fails if either is
 * gone, and its next look starts from where a seek left the cursor.
 * A receive that wrote something (passed aborted entries or delayed
 * messages, released departed consumers) keeps the lock: a seek must not
 * commit under its uncommitted rows.
 */
void
dispatch_receive(ReturnSetInfo *rsinfo, TopicInfo *topic, const char *name,
				 const char *consumer_name, int32 max_messages,
				 int64 timeout_us)
{
	Receiver	receiver;
	TimestampTz now;
	TimestampTz deadline;
	CommandId	command_at_start = GetCurrentCommandId(false);
	bool		locked = true;	/* holds the subscription's lock */
	TimestampTz next_look = 0;
	MemoryContext look_context;
	int64	   *seen;			/* max read position of each partition */

	memset(&receiver, 0, sizeof(receiver));
	open_receiver(&receiver, topic, name, consumer_name);
	policy_limits(topic->topic_id, &receiver.limits);
	/* unlocked while it waits, unless opening it removed departed consumers */
	if (wait_for_dispatch_rate(&receiver, topic,
							   GetCurrentCommandId(false) == command_at_start))
		locked = false;

	receiver.rsinfo = rsinfo;
	receiver.remaining = max_messages;

	/*
	 * Every publishing commit in the cluster wakes a waiting receive.  It
	 * looks again only when a partition of its topic moved, or every 100 ms
	 * for redeliveries that fall due, and each look allocates in a context
	 * of its own, reset after it: however many wake-ups, the memory of the
	 * call stays that of its result.
	 */
	if (timeout_us > 0)
	{
		look_context = AllocSetContextCreate(CurrentMemoryContext,
											 "pulsar_pg receive look",
											 ALLOCSET_DEFAULT_SIZES);
		seen = palloc(sizeof(int64) * topic->num_ledgers);
	}
	else
	{
		/* one look: the call's own memory is freed with it */
		look_context = CurrentMemoryContext;
		seen = NULL;
	}
	/* a timeout reaching past the last representable time waits until then */
	now = GetCurrentTimestamp();
	deadline = timeout_us > END_TIMESTAMP - now ? END_TIMESTAMP :
		now + timeout_us;
	if (timeout_us > 0)
		read_position_wait_prepare();
	for (;;)
	{
		long		wait_ms;

		now = GetCurrentTimestamp();
		if (now >= next_look || topic_moved(topic, seen))
		{
			MemoryContext caller;

			/* a seek or unsubscribe may have committed while it slept */
			if (!locked)
			{
				open_receiver(&receiver, topic, name, consumer_name);
				locked = true;
			}
			caller = MemoryContextSwitchTo(look_context);
			next_look = TimestampTzPlusMilliseconds(now, 100);
			look_at_partitions(&receiver, topic, seen);
			MemoryContextSwitchTo(caller);
			if (timeout_us > 0)
				MemoryContextReset(look_context);
		}
		if (receiver.remaining < max_messages || timeout_us == 0)
			break;
		now = GetCurrentTimestamp();
		wait_ms = TimestampDifferenceMilliseconds(now, deadline);
		if (wait_ms <= 0)
			break;

		/*
		 * Sleep without the subscription's lock if nothing was written since
		 * the call began (no command of it used its command id, so the
		 * counter has not moved): seek and unsubscribe need not wait.
		 */
		if (locked && GetCurrentCommandId(false) == command_at_start)
		{
			catalog_unlock_subscription(topic->topic_id, name, AccessShareLock);
			locked = false;
		}
		read_position_wait(Max(Min(wait_ms,
								TimestampDifferenceMilliseconds(now, next_look)),
							1));
		CHECK_FOR_INTERRUPTS();
	}
	if (timeout_us > 0)
		read_position_wait_done();
}
