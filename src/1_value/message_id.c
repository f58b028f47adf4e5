/*-------------------------------------------------------------------------
 *
 * message_id.c
 *	  Input, output, binary I/O and ordering of pulsar.message_id.
 *
 * The text form is Pulsar's "ledgerId:entryId:partitionIndex".  The words
 * 'earliest' and 'latest' are accepted on input for Pulsar's MessageId.earliest
 * (-1:-1:-1) and MessageId.latest.  Ordering compares ledger, then entry, then
 * partition, as Pulsar's MessageIdImpl.compareTo does; within one partition
 * that is publish order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "1_value/message_id.h"

PG_FUNCTION_INFO_V1(message_id_in);
PG_FUNCTION_INFO_V1(message_id_out);
PG_FUNCTION_INFO_V1(message_id_recv);
PG_FUNCTION_INFO_V1(message_id_send);
PG_FUNCTION_INFO_V1(message_id_cmp);
PG_FUNCTION_INFO_V1(message_id_lt);
PG_FUNCTION_INFO_V1(message_id_le);
PG_FUNCTION_INFO_V1(message_id_eq);
PG_FUNCTION_INFO_V1(message_id_ne);
PG_FUNCTION_INFO_V1(message_id_ge);
PG_FUNCTION_INFO_V1(message_id_gt);
PG_FUNCTION_INFO_V1(message_id_hash);
PG_FUNCTION_INFO_V1(message_id_larger);
PG_FUNCTION_INFO_V1(message_id_smaller);
PG_FUNCTION_INFO_V1(message_id_ledger_id);
PG_FUNCTION_INFO_V1(message_id_entry_id);
PG_FUNCTION_INFO_V1(message_id_partition_index);

MessageId *
message_id_make(int64 ledger_id, int64 entry_id, int32 partition_index)
{
	MessageId  *id = palloc0(sizeof(MessageId));	/* zero the padding */

	id->ledger_id = ledger_id;
	id->entry_id = entry_id;
	id->partition_index = partition_index;
	return id;
}

bool
message_id_is_earliest(const MessageId *id)
{
	return id->ledger_id == EARLIEST_LEDGER_ID;
}

bool
message_id_is_latest(const MessageId *id)
{
	return id->ledger_id == LATEST_LEDGER_ID;
}

/*
 * Parse one signed decimal field ending at 'stop' (':' or NUL); returns the
 * position after it, or NULL if the field is not a valid number in range.
 */
static const char *
parse_field(const char *p, char stop, int64 min, int64 max, int64 *result)
{
	bool		negative = false;
	uint64		value = 0;
	const char *start;

	if (*p == '-')
	{
		negative = true;
		p++;
	}
	start = p;
	while (*p >= '0' && *p <= '9')
	{
		if (value > (PG_UINT64_MAX - 9) / 10)
			return NULL;
		value = value * 10 + (*p - '0');
		p++;
	}
	if (p == start || *p != stop)
		return NULL;
	if (negative ? value > (uint64) (-(min + 1)) + 1 : value > (uint64) max)
		return NULL;
	*result = negative ? (int64) (0 - value) : (int64) value;
	return stop == '\0' ? p : p + 1;
}

Datum
message_id_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	const char *p = str;
	int64		ledger_id;
	int64		entry_id;
	int64		partition_index;

	while (*p == ' ')
		p++;
	if (pg_strcasecmp(p, "earliest") == 0)
		PG_RETURN_MESSAGE_ID_P(message_id_make(EARLIEST_LEDGER_ID, -1, -1));
	if (pg_strcasecmp(p, "latest") == 0)
		PG_RETURN_MESSAGE_ID_P(message_id_make(LATEST_LEDGER_ID, PG_INT64_MAX, -1));

	if ((p = parse_field(p, ':', -1, PG_INT64_MAX, &ledger_id)) == NULL ||
		(p = parse_field(p, ':', -1, PG_INT64_MAX, &entry_id)) == NULL ||
		(p = parse_field(p, '\0', -1, PG_INT32_MAX, &partition_index)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s: \"%s\"",
						"pulsar.message_id", str),
				 errdetail("A message ID has the form ledgerId:entryId:partitionIndex, or is 'earliest' or 'latest'.")));

	PG_RETURN_MESSAGE_ID_P(message_id_make(ledger_id, entry_id,
										   (int32) partition_index));
}

char *
message_id_to_string(const MessageId *id)
{
	return psprintf(INT64_FORMAT ":" INT64_FORMAT ":%d",
					id->ledger_id, id->entry_id, id->partition_index);
}

Datum
message_id_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(message_id_to_string(PG_GETARG_MESSAGE_ID_P(0)));
}

Datum
message_id_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int64		ledger_id = pq_getmsgint64(buf);
	int64		entry_id = pq_getmsgint64(buf);
	int32		partition_index = pq_getmsgint(buf, 4);

	PG_RETURN_MESSAGE_ID_P(message_id_make(ledger_id, entry_id,
										   partition_index));
}

Datum
message_id_send(PG_FUNCTION_ARGS)
{
	MessageId  *id = PG_GETARG_MESSAGE_ID_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, id->ledger_id);
	pq_sendint64(&buf, id->entry_id);
	pq_sendint32(&buf, id->partition_index);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

static int
compare_message_ids(const MessageId *a, const MessageId *b)
{
	if (a->ledger_id != b->ledger_id)
		return a->ledger_id < b->ledger_id ? -1 : 1;
	if (a->entry_id != b->entry_id)
		return a->entry_id < b->entry_id ? -1 : 1;
	if (a->partition_index != b->partition_index)
		return a->partition_index < b->partition_index ? -1 : 1;
	return 0;
}

#define MESSAGE_ID_COMPARE_ARGS() \
	compare_message_ids(PG_GETARG_MESSAGE_ID_P(0), PG_GETARG_MESSAGE_ID_P(1))

Datum
message_id_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(MESSAGE_ID_COMPARE_ARGS());
}

Datum
message_id_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(MESSAGE_ID_COMPARE_ARGS() < 0);
}

Datum
message_id_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(MESSAGE_ID_COMPARE_ARGS() <= 0);
}

Datum
message_id_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(MESSAGE_ID_COMPARE_ARGS() == 0);
}

Datum
message_id_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(MESSAGE_ID_COMPARE_ARGS() != 0);
}

Datum
message_id_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(MESSAGE_ID_COMPARE_ARGS() >= 0);
}

Datum
message_id_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(MESSAGE_ID_COMPARE_ARGS() > 0);
}

Datum
message_id_larger(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(MESSAGE_ID_COMPARE_ARGS() >= 0 ? PG_GETARG_DATUM(0) :
					PG_GETARG_DATUM(1));
}

Datum
message_id_smaller(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(MESSAGE_ID_COMPARE_ARGS() <= 0 ? PG_GETARG_DATUM(0) :
					PG_GETARG_DATUM(1));
}

Datum
message_id_hash(PG_FUNCTION_ARGS)
{
	MessageId  *id = PG_GETARG_MESSAGE_ID_P(0);

	/* hash the three fields, not the struct, so padding never counts */
	uint32		h = hash_bytes_uint32((uint32) id->ledger_id);

	h = hash_combine(h, hash_bytes_uint32((uint32) (id->ledger_id >> 32)));
	h = hash_combine(h, hash_bytes_uint32((uint32) id->entry_id));
	h = hash_combine(h, hash_bytes_uint32((uint32) (id->entry_id >> 32)));
	h = hash_combine(h, hash_bytes_uint32((uint32) id->partition_index));
	PG_RETURN_INT32((int32) h);
}

Datum
message_id_ledger_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_MESSAGE_ID_P(0)->ledger_id);
}

Datum
message_id_entry_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_MESSAGE_ID_P(0)->entry_id);
}

Datum
message_id_partition_index(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_MESSAGE_ID_P(0)->partition_index);
}
