/*-------------------------------------------------------------------------
 *
 * perf.c
 *	  pulsar-pg perf produce|consume|e2e: benchmarks in the manner of
 *	  pulsar-perf, with a progress line at every interval and a final
 *	  summary of throughput and latency percentiles.
 *
 * One thread drives every connection with libpq's asynchronous API: each
 * connection has at most one statement in flight, and poll() waits on all
 * their sockets (and the signal pipe) at once.  One process is enough on
 * the machines this runs on, and it measures without threads competing
 * for the client's CPU.
 *
 *	produce		-c connections publish at a total rate of -r messages per
 *				second (0: as fast as they can), -b messages per statement
 *				(pulsar.send for 1, pulsar.send_batch above).  Latency: from
 *				sending the statement to its result, i.e. the publishing
 *				transaction, commit included.
 *	consume		-c consumers of one subscription receive and acknowledge.
 *				Latency: from the message's publish_time (the server's clock)
 *				to its receipt (the client's clock), so run it on the
 *				server's machine or with synchronised clocks.
 *	e2e			producers as in produce, and consumers in the same process.
 *				Every payload starts with the producer's clock reading (us
 *				since the epoch) just before it sent the publishing
 *				statement, and the statement's number.  When a statement's
 *				commit is acknowledged, the producer notes the time in a
 *				ring indexed by that number; a consumer measures from there
 *				to its receipt (end-to-end latency: commit to receipt,
 *				i.e. wake-up and receive), and from the send (send to
 *				receipt: publish, commit, wake-up and receive).  Producers'
 *				sockets are read before consumers', so when a statement's
 *				result and a receive of its messages arrive in the same
 *				wait, the commit is noted first.  A message received before
 *				its statement's result arrived at all counts as 0 ms, and
 *				the summary says how many did.
 *
 * Consumers wait with LISTEN (--wait listen, the default): a consumer
 * with nothing to do sleeps until its subscription's channel is notified,
 * and rechecks after --recheck-interval seconds without one as a safety
 * net; the summary says how many receives each cause started.  With
 * --wait receive they call pulsar.receive(..., timeout => '1s') in a loop
 * instead, which blocks in the server until a message is there.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <limits.h>
#include <poll.h>
#include <time.h>

#include "getopt_long.h"
#include "lib/stringinfo.h"
#include "port/pg_bswap.h"

#include "pulsar-pg.h"

#define TEXTOID			25
#define BYTEAOID		17
#define BYTEAARRAYOID	1001

/* microseconds between the Unix epoch and PostgreSQL's (2000-01-01) */
#define PG_EPOCH_OFFSET_US	INT64CONST(946684800000000)

/*
 * e2e payloads start with the send time (us since the epoch, 16 digits), a
 * space, the publishing statement's number (12 digits) and a space.
 */
#define STAMP_LEN		30
#define STAMP_SEQ		17		/* where the statement number starts */

/* commit times of the last COMMIT_RING publishing statements (e2e) */
#define COMMIT_RING		(1 << 20)

typedef struct CommitNote
{
	int64		seq;			/* statement number, -1: none yet */
	int64		at;				/* commit acknowledged, us since the epoch */
} CommitNote;

/* after the duration, e2e consumers get this long to receive the rest */
#define DRAIN_US		(5 * INT64CONST(1000000))

typedef enum PerfMode
{
	PERF_PRODUCE,
	PERF_CONSUME,
	PERF_E2E
} PerfMode;

typedef enum WaitMode
{
	WAIT_LISTEN,
	WAIT_RECEIVE
} WaitMode;

typedef struct PerfOptions
{
	PerfMode	mode;
	const char *topic;
	const char *subscription;
	const char *type;
	const char *position;
	double		rate;			/* messages per second, 0: no limit */
	int			size;			/* payload bytes */
	int			batch;			/* messages per publishing statement */
	int			receive_batch;	/* messages per receive */
	int			producers;
	int			consumers;
	double		duration;		/* seconds, 0: until interrupted */
	long		limit;			/* messages to publish, 0: no limit */
	double		interval;		/* seconds between progress lines */
	double		recheck;		/* seconds, 0: only when notified */
	WaitMode	wait;
	const char *histogram_file;
} PerfOptions;

typedef enum WorkerState
{
	W_IDLE,
	W_SENDING,					/* producer: publishing statement in flight */
	W_RECEIVING,				/* consumer: receive in flight */
	W_ACKING					/* consumer: ack in flight */
} WorkerState;

typedef struct Worker
{
	bool		producer;
	PGconn	   *conn;
	WorkerState state;
	int64		started;		/* monotonic clock when the statement was sent */
	int64		seq;			/* e2e: number of the statement in flight */
	int			in_flight;		/* messages of the statement in flight */
	bool		notified;		/* consumer: notified since its last receive */
	bool		more;			/* consumer: its last receive was full */
	int64		recheck_at;		/* consumer: when to look without a notification */
	StringInfoData ack_ids;		/* consumer: ids to acknowledge */
} Worker;

typedef struct Counters
{
	long		sent;			/* messages published (commit acknowledged) */
	long		received;		/* messages received */
	double		bytes_sent;
	double		bytes_received;
	long		old;			/* e2e: received, but sent before this run */
	long		early;			/* e2e: received before its commit was noted */
	long		forgotten;		/* e2e: commit note overwritten in the ring */
	long		wake_notify;	/* receives started by a notification */
	long		wake_recheck;	/* ... by the recheck interval */
	long		reconnects;
} Counters;

typedef struct Perf
{
	PerfOptions opts;
	Worker	   *workers;
	int			nworkers;
	char	   *payload;		/* one message's payload */
	char	   *array;			/* send_batch's bytea[] in binary form */
	int			array_len;
	Counters	total;
	Counters	last;			/* total at the last progress line */
	Histogram  *publish;		/* cumulative latencies (us) */
	Histogram  *publish_interval;
	Histogram  *e2e;			/* consume; e2e: commit to receipt */
	Histogram  *e2e_interval;
	Histogram  *send_receipt;	/* e2e: send to receipt */
	CommitNote *commits;		/* e2e: ring of commit times */
	int64		next_seq;		/* e2e: number of the next statement */
	int64		next_due;		/* when the next publishing statement may go */
	int64		start_wall;		/* e2e: when the run started, us since epoch */
} Perf;

static const char *perf_usage =
"Usage:\n"
"  pulsar-pg perf produce TOPIC [OPTION]...\n"
"  pulsar-pg perf consume TOPIC [OPTION]...\n"
"  pulsar-pg perf e2e TOPIC [OPTION]...\n"
"\n"
"Benchmarks in the manner of pulsar-perf: a progress line every interval and\n"
"a summary of msg/s, MB/s and latency (mean, p50, p95, p99, p99.9, max, in\n"
"milliseconds).  produce measures from sending the publishing statement to\n"
"its commit; consume from each message's publish_time to its receipt; e2e\n"
"runs producers and consumers together and measures from the commit of the\n"
"publishing statement to the consumer's receipt (and, beside it, from the\n"
"producer's send to the receipt).\n"
"\n"
"Options:\n"
"  -r, --rate=N             publish N messages per second in all (default 100;\n"
"                           0: as fast as possible)\n"
"  -s, --size=BYTES         payload size (default 1024; e2e at least 30)\n"
"  -b, --batch=N            messages per publishing statement:\n"
"                           pulsar.send_batch when above 1 (default 1); for\n"
"                           perf consume, the same as --receive-batch\n"
"      --receive-batch=N    messages per receive (default 100)\n"
"  -c, --connections=N      producer connections, or consumers for consume\n"
"                           (default 1)\n"
"      --consumers=N        consumers of e2e (default 1)\n"
"  -d, --duration=SECONDS   run this long (default 0: until interrupted)\n"
"  -m, --num-messages=N     publish N messages in all (rounded up to whole\n"
"                           batches), then stop (default 0: no limit)\n"
"  -S, --subscription=NAME  consumers' subscription (default perf-sub)\n"
"  -t, --type=TYPE          exclusive (default), failover, shared or key_shared\n"
"  -p, --position=POSITION  where a new subscription starts: latest (default)\n"
"                           or earliest\n"
"  -w, --wait=HOW           how idle consumers wait: listen (default: LISTEN\n"
"                           on the subscription's channel) or receive\n"
"                           (pulsar.receive with a 1 s timeout)\n"
"      --recheck-interval=SECONDS\n"
"                           with --wait listen, receive after this long\n"
"                           without a notification (default 1; 0: never)\n"
"  -i, --interval=SECONDS   seconds between progress lines (default 10)\n"
"      --histogram=FILE     write the latency distribution to FILE: latency\n"
"                           (ms), count, cumulative percent; for gnuplot\n"
"      --dbname=CONNINFO    database to connect to (-d is the duration here)\n"
"  -?, --help               show this help and exit\n";

static double
us_to_ms(double us)
{
	return us / 1000.0;
}

static void
print_latency(const char *prefix, const Histogram *h)
{
	printf("%sLatency: mean: %.3f ms - med: %.3f - 95pct: %.3f - 99pct: %.3f - 99.9pct: %.3f - Max: %.3f\n",
		   prefix,
		   us_to_ms(histogram_mean(h)),
		   us_to_ms(histogram_percentile(h, 50)),
		   us_to_ms(histogram_percentile(h, 95)),
		   us_to_ms(histogram_percentile(h, 99)),
		   us_to_ms(histogram_percentile(h, 99.9)),
		   us_to_ms(h->max));
}

static double
mb(double bytes)
{
	return bytes / (1024.0 * 1024.0);
}

/* The progress line of the interval that just ended */
static void
report_progress(Perf *perf, double seconds)
{
	Counters   *t = &perf->total;
	Counters   *l = &perf->last;
	char		when[32];
	time_t		now = time(NULL);

	strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
	if (perf->opts.mode != PERF_CONSUME)
	{
		printf("%s Throughput produced: %.1f msg/s --- %.3f MB/s --- ",
			   when, (t->sent - l->sent) / seconds,
			   mb(t->bytes_sent - l->bytes_sent) / seconds);
		print_latency("", perf->publish_interval);
	}
	if (perf->opts.mode != PERF_PRODUCE)
	{
		printf("%s Throughput received: %.1f msg/s --- %.3f MB/s --- ",
			   when, (t->received - l->received) / seconds,
			   mb(t->bytes_received - l->bytes_received) / seconds);
		print_latency(perf->opts.mode == PERF_E2E ? "End-to-end " : "", perf->e2e_interval);
	}
	fflush(stdout);
	*l = *t;
	histogram_reset(perf->publish_interval);
	histogram_reset(perf->e2e_interval);
}

static void
report_summary(Perf *perf, double seconds)
{
	Counters   *t = &perf->total;

	if (seconds <= 0)
		seconds = 1e-6;
	if (perf->opts.mode != PERF_CONSUME)
	{
		printf("Aggregated throughput stats --- %ld records sent --- %.1f msg/s --- %.3f MB/s\n",
			   t->sent, t->sent / seconds, mb(t->bytes_sent) / seconds);
		print_latency(perf->opts.mode == PERF_E2E ?
					  "Aggregated publish latency stats --- " :
					  "Aggregated latency stats --- ",
					  perf->publish);
	}
	if (perf->opts.mode != PERF_PRODUCE)
	{
		printf("Aggregated throughput stats --- %ld records received --- %.1f msg/s --- %.3f MB/s\n",
			   t->received, t->received / seconds, mb(t->bytes_received) / seconds);
		print_latency(perf->opts.mode == PERF_E2E ?
					  "Aggregated end-to-end latency stats (commit to receipt) --- " :
					  "Aggregated latency stats --- ",
					  perf->e2e);
		if (perf->opts.mode == PERF_E2E)
			print_latency("Aggregated send-to-receipt latency stats --- ", perf->send_receipt);
		if (perf->opts.wait == WAIT_LISTEN)
			printf("Receives started by: notification %ld, recheck %ld\n",
				   t->wake_notify, t->wake_recheck);
	}
	if (t->reconnects)
		printf("Reconnections: %ld\n", t->reconnects);
	if (t->old)
		printf("Ignored: %ld messages sent before this run\n", t->old);
	if (t->early)
		printf("Received before the client saw their commit (counted as 0 ms): %ld\n", t->early);
	if (t->forgotten)
		printf("Commit time forgotten, not in the end-to-end latency: %ld\n", t->forgotten);
	if (perf->opts.mode == PERF_E2E && t->received < t->sent)
		printf("Not received by the end: %ld of %ld messages\n",
			   t->sent - t->received, t->sent);
	fflush(stdout);
}

/* Prepare a statement; false if the connection was lost */
static bool
prepare(PGconn *conn, const char *name, const char *sql, int nparams, const Oid *types)
{
	PGresult   *res = PQprepare(conn, name, sql, nparams, types);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		if (cli_connection_lost(conn, res))
		{
			PQclear(res);
			return false;
		}
		cli_die_result(conn, res);
	}
	PQclear(res);
	return true;
}

/*
 * Make a worker's session ready: prepared statements, and for a consumer
 * its subscription and LISTEN.  False if the connection was lost.
 */
static bool
setup_worker(Perf *perf, Worker *w)
{
	const PerfOptions *o = &perf->opts;

	if (w->producer)
	{
		const Oid	send_types[] = {TEXTOID, BYTEAOID};
		const Oid	batch_types[] = {TEXTOID, BYTEAARRAYOID};

		return o->batch == 1 ?
			prepare(w->conn, "send", "SELECT pulsar.send($1, $2)", 2, send_types) :
			prepare(w->conn, "send", "SELECT count(*) FROM pulsar.send_batch($1, $2)", 2, batch_types);
	}
	else
	{
		const char *values[] = {o->topic, o->subscription, o->type, o->position};
		PGresult   *res;

		res = cli_query(w->conn, "SELECT pulsar.subscribe($1, $2, $3, $4)", 4, values);
		if (res == NULL)
			return false;
		if (o->wait == WAIT_LISTEN)
		{
			char	   *quoted = cli_quote_ident(w->conn, PQgetvalue(res, 0, 0));
			char	   *listen = psprintf("LISTEN %s", quoted);
			PGresult   *lres = cli_query(w->conn, listen, 0, NULL);

			free(listen);
			free(quoted);
			if (lres == NULL)
			{
				PQclear(res);
				return false;
			}
			PQclear(lres);
		}
		PQclear(res);
		return prepare(w->conn, "receive",
					   "SELECT message_id::text, publish_time, payload"
					   "  FROM pulsar.receive($1, $2, $3::int, $4::interval)", 4, NULL) &&
			prepare(w->conn, "ack",
					"SELECT pulsar.ack($1, $2, $3::pulsar.message_id[])", 3, NULL);
	}
}

/*
 * Connect a worker, or reconnect it after its connection was lost, and set
 * it up; false if interrupted.  What was in flight is lost: published or
 * not, it is not counted; received but not acknowledged, it goes back to
 * the subscription when the old session's consumer leaves.
 */
static bool
connect_worker(Perf *perf, Worker *w, bool first)
{
	if (first)
		w->conn = cli_connect();
	if (!first || !setup_worker(perf, w))
	{
		do
		{
			perf->total.reconnects++;
			if (!cli_reconnect(&w->conn))
				return false;
		} while (!setup_worker(perf, w));
	}
	w->state = W_IDLE;
	w->in_flight = 0;
	w->notified = true;			/* look at once: messages may be waiting */
	w->more = false;
	resetStringInfo(&w->ack_ids);
	return true;
}

static void
put_uint32(char *p, uint32 v)
{
	v = pg_hton32(v);
	memcpy(p, &v, 4);
}

/*
 * Build the payload and, for batches, send_batch's bytea[] parameter in
 * the binary array format: ndim, has-nulls flag, element type, length and
 * lower bound of the one dimension, then each element's length and bytes.
 */
static void
build_payloads(Perf *perf)
{
	int			size = perf->opts.size;
	int			batch = perf->opts.batch;
	unsigned int seed = (unsigned int) time(NULL);

	perf->payload = pg_malloc(size);
	/* random bytes, so that compression of large payloads is realistic */
	for (int i = 0; i < size; i++)
		perf->payload[i] = (char) (rand_r(&seed) & 0xff);
	if (perf->opts.mode == PERF_E2E)
		memset(perf->payload, ' ', STAMP_LEN);

	if (batch > 1)
	{
		char	   *p;

		perf->array_len = 20 + batch * (4 + size);
		perf->array = pg_malloc(perf->array_len);
		p = perf->array;
		put_uint32(p, 1);
		put_uint32(p + 4, 0);
		put_uint32(p + 8, BYTEAOID);
		put_uint32(p + 12, batch);
		put_uint32(p + 16, 1);
		p += 20;
		for (int i = 0; i < batch; i++)
		{
			put_uint32(p, size);
			memcpy(p + 4, perf->payload, size);
			p += 4 + size;
		}
	}
}

/* e2e: stamp the send time and statement number into every payload */
static void
stamp_payloads(Perf *perf, int64 wall_us, int64 seq)
{
	char		stamp[STAMP_LEN + 1];

	snprintf(stamp, sizeof(stamp), "%016lld %012lld ", (long long) wall_us,
			 (long long) seq);
	if (perf->opts.batch == 1)
		memcpy(perf->payload, stamp, STAMP_LEN);
	else
	{
		char	   *p = perf->array + 20;

		for (int i = 0; i < perf->opts.batch; i++)
		{
			memcpy(p + 4, stamp, STAMP_LEN);
			p += 4 + perf->opts.size;
		}
	}
}

/*
 * Start statements on a worker's connection; false if the connection was
 * found lost.
 */
static bool
start_send(Perf *perf, Worker *w)
{
	const char *values[2];
	int			lengths[2] = {0, 0};
	const int	formats[2] = {0, 1};

	w->started = cli_now_us();
	if (perf->opts.mode == PERF_E2E)
	{
		w->seq = perf->next_seq++;
		stamp_payloads(perf, cli_wall_us(), w->seq);
	}
	values[0] = perf->opts.topic;
	if (perf->opts.batch == 1)
	{
		values[1] = perf->payload;
		lengths[1] = perf->opts.size;
	}
	else
	{
		values[1] = perf->array;
		lengths[1] = perf->array_len;
	}
	w->state = W_SENDING;
	w->in_flight = perf->opts.batch;
	return PQsendQueryPrepared(w->conn, "send", 2, values, lengths, formats, 1);
}

static bool
start_receive(Perf *perf, Worker *w)
{
	char		batch[16];
	const char *values[4];

	snprintf(batch, sizeof(batch), "%d", perf->opts.receive_batch);
	values[0] = perf->opts.topic;
	values[1] = perf->opts.subscription;
	values[2] = batch;
	values[3] = perf->opts.wait == WAIT_RECEIVE ? "1s" : "0";
	w->notified = false;
	w->state = W_RECEIVING;
	return PQsendQueryPrepared(w->conn, "receive", 4, values, NULL, NULL, 1);
}

static bool
start_ack(Perf *perf, Worker *w)
{
	const char *values[3];

	appendStringInfoChar(&w->ack_ids, '}');
	values[0] = perf->opts.topic;
	values[1] = perf->opts.subscription;
	values[2] = w->ack_ids.data;
	w->state = W_ACKING;
	return PQsendQueryPrepared(w->conn, "ack", 3, values, NULL, NULL, 0);
}

static int64
get_int64(const char *p)
{
	uint64		v;

	memcpy(&v, p, 8);
	return (int64) pg_ntoh64(v);
}

/* A consumer's receive result (binary): record latencies, collect ids */
static void
handle_receive_result(Perf *perf, Worker *w, PGresult *res)
{
	int			rows = PQntuples(res);
	int64		now_wall = cli_wall_us();

	resetStringInfo(&w->ack_ids);
	appendStringInfoChar(&w->ack_ids, '{');
	for (int i = 0; i < rows; i++)
	{
		int64		sent_at;
		int64		seq = -1;
		int			len = PQgetlength(res, i, 2);

		if (perf->opts.mode == PERF_E2E)
		{
			char		stamp[STAMP_LEN];
			const char *payload = PQgetvalue(res, i, 2);

			sent_at = 0;		/* not one of ours: counted as old */
			if (len >= STAMP_LEN)
			{
				memcpy(stamp, payload, STAMP_LEN - 1);
				stamp[STAMP_LEN - 1] = '\0';
				sent_at = strtoll(stamp, NULL, 10);
				seq = strtoll(stamp + STAMP_SEQ, NULL, 10);
			}
		}
		else
			sent_at = get_int64(PQgetvalue(res, i, 1)) + PG_EPOCH_OFFSET_US;

		if (perf->opts.mode != PERF_E2E)
		{
			histogram_record(perf->e2e, now_wall - sent_at, 1);
			histogram_record(perf->e2e_interval, now_wall - sent_at, 1);
		}
		else if (sent_at < perf->start_wall || seq < 0 || seq >= perf->next_seq)
		{
			perf->total.old++;	/* a backlog from an earlier run */
			goto ack;
		}
		else
		{
			CommitNote *note = &perf->commits[seq % COMMIT_RING];

			histogram_record(perf->send_receipt, now_wall - sent_at, 1);
			if (note->seq == seq)
			{
				histogram_record(perf->e2e, now_wall - note->at, 1);
				histogram_record(perf->e2e_interval, now_wall - note->at, 1);
			}
			else if (note->seq < seq)
			{
				/* its commit is not noted yet: it happened just now */
				perf->total.early++;
				histogram_record(perf->e2e, 0, 1);
				histogram_record(perf->e2e_interval, 0, 1);
			}
			else
				perf->total.forgotten++;
		}
		perf->total.received++;
		perf->total.bytes_received += len;
ack:
		if (w->ack_ids.len > 1)
			appendStringInfoChar(&w->ack_ids, ',');
		appendBinaryStringInfo(&w->ack_ids, PQgetvalue(res, i, 0), PQgetlength(res, i, 0));
	}
	w->more = rows >= perf->opts.receive_batch;
	w->in_flight = rows;
}

/*
 * Read what a worker's socket has: notifications, and the result of its
 * statement.  Returns false if the connection was lost.
 */
static bool
service_worker(Perf *perf, Worker *w)
{
	PGnotify   *notify;

	if (!PQconsumeInput(w->conn))
		return false;
	while ((notify = PQnotifies(w->conn)) != NULL)
	{
		w->notified = true;
		PQfreemem(notify);
	}
	while (w->state != W_IDLE && !PQisBusy(w->conn))
	{
		PGresult   *res = PQgetResult(w->conn);

		if (res != NULL)
		{
			ExecStatusType status = PQresultStatus(res);

			if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
			{
				if (cli_connection_lost(w->conn, res))
				{
					PQclear(res);
					return false;
				}
				cli_die_result(w->conn, res);
			}
			if (w->state == W_RECEIVING)
				handle_receive_result(perf, w, res);
			PQclear(res);
			continue;
		}

		/* the statement is complete */
		switch (w->state)
		{
			case W_SENDING:
				{
					int64		latency = cli_now_us() - w->started;

					histogram_record(perf->publish, latency, w->in_flight);
					histogram_record(perf->publish_interval, latency, w->in_flight);
					if (perf->commits)
					{
						CommitNote *note = &perf->commits[w->seq % COMMIT_RING];

						note->seq = w->seq;
						note->at = cli_wall_us();
					}
					perf->total.sent += w->in_flight;
					perf->total.bytes_sent += (double) w->in_flight * perf->opts.size;
					w->state = W_IDLE;
					break;
				}
			case W_RECEIVING:
				if (w->in_flight > 0)
				{
					if (!start_ack(perf, w))
						return false;
				}
				else
				{
					w->state = W_IDLE;
					w->recheck_at = cli_now_us() + (int64) (perf->opts.recheck * 1000000);
				}
				break;
			case W_ACKING:
				w->state = W_IDLE;
				w->recheck_at = cli_now_us() + (int64) (perf->opts.recheck * 1000000);
				break;
			case W_IDLE:
				break;
		}
	}
	if (PQstatus(w->conn) == CONNECTION_BAD)
		return false;
	return true;
}

/* Should an idle consumer start a receive now? */
static bool
consumer_should_receive(Perf *perf, Worker *w, int64 now)
{
	if (perf->opts.wait == WAIT_RECEIVE || w->more)
		return true;
	if (w->notified)
	{
		perf->total.wake_notify++;
		return true;
	}
	if (perf->opts.recheck > 0 && now >= w->recheck_at)
	{
		perf->total.wake_recheck++;
		return true;
	}
	return false;
}

static int
run_perf(Perf *perf)
{
	PerfOptions *o = &perf->opts;
	struct pollfd *fds;
	int64		start;
	int64		end = 0;
	int64		stop_at = 0;	/* when producers stopped, 0: running */
	int64		next_report;
	int64		last_report;
	int64		interval_us = (int64) (o->interval * 1000000);
	int64		send_gap_us = o->rate > 0 ? (int64) (o->batch * 1000000.0 / o->rate) : 0;
	long		started_messages = 0;

	perf->publish = histogram_create();
	perf->publish_interval = histogram_create();
	perf->e2e = histogram_create();
	perf->e2e_interval = histogram_create();
	perf->send_receipt = histogram_create();
	if (o->mode == PERF_E2E)
	{
		perf->commits = pg_malloc(sizeof(CommitNote) * COMMIT_RING);
		for (int i = 0; i < COMMIT_RING; i++)
			perf->commits[i].seq = -1;
	}
	build_payloads(perf);

	/* consumers first, so that an e2e subscription exists before publishing */
	perf->nworkers = (o->mode != PERF_CONSUME ? o->producers : 0) +
		(o->mode != PERF_PRODUCE ? o->consumers : 0);
	perf->workers = pg_malloc0(sizeof(Worker) * perf->nworkers);
	fds = pg_malloc(sizeof(struct pollfd) * (perf->nworkers + 1));
	for (int i = 0; i < perf->nworkers; i++)
	{
		Worker	   *w = &perf->workers[i];

		w->producer = o->mode == PERF_PRODUCE ||
			(o->mode == PERF_E2E && i >= o->consumers);
		initStringInfo(&w->ack_ids);
		if (!connect_worker(perf, w, true))
			return 0;
	}
	perf->total.reconnects = 0;

	start = cli_now_us();
	perf->start_wall = cli_wall_us();
	last_report = start;
	next_report = start + interval_us;
	perf->next_due = start;
	if (o->duration > 0)
		end = start + (int64) (o->duration * 1000000);

	while (!cli_interrupted)
	{
		int64		now = cli_now_us();
		int64		wake;
		int			nfds = 0;
		int			busy = 0;
		int			rc;

		if (now >= next_report)
		{
			report_progress(perf, (now - last_report) / 1000000.0);
			last_report = now;
			next_report += interval_us;
		}

		/* producers stop at the end of the duration or of the messages */
		if (stop_at == 0 &&
			((end && now >= end) || (o->limit > 0 && started_messages >= o->limit)))
			stop_at = now;

		/* start statements on idle workers */
		for (int i = 0; i < perf->nworkers; i++)
		{
			Worker	   *w = &perf->workers[i];

			if (w->state != W_IDLE)
				continue;
			if (w->producer)
			{
				if (stop_at || (send_gap_us && now < perf->next_due))
					continue;
				if (!start_send(perf, w))
				{
					if (!connect_worker(perf, w, false))
						break;
					continue;
				}
				started_messages += o->batch;
				if (send_gap_us)
				{
					perf->next_due += send_gap_us;
					/* after a stall, do not try to catch up more than 1 s */
					if (perf->next_due < now - 1000000)
						perf->next_due = now - 1000000;
				}
				if (o->limit > 0 && started_messages >= o->limit)
					stop_at = now;
			}
			else if (consumer_should_receive(perf, w, now) && !start_receive(perf, w))
			{
				if (!connect_worker(perf, w, false))
					break;
			}
		}

		/* done? */
		for (int i = 0; i < perf->nworkers; i++)
			if (perf->workers[i].state != W_IDLE)
				busy++;
		if (stop_at)
		{
			if (o->mode == PERF_PRODUCE && busy == 0)
				break;
			if (o->mode == PERF_CONSUME)
				break;
			if (o->mode == PERF_E2E)
			{
				bool		producing = false;

				for (int i = 0; i < perf->nworkers; i++)
					if (perf->workers[i].producer && perf->workers[i].state != W_IDLE)
						producing = true;
				if (!producing &&
					(perf->total.received >= perf->total.sent || now >= stop_at + DRAIN_US))
					break;
			}
		}

		/* sleep until a socket is readable or the next thing is due */
		wake = next_report;
		if (end && !stop_at)
			wake = Min(wake, end);
		if (stop_at && o->mode == PERF_E2E)
			wake = Min(wake, stop_at + DRAIN_US);
		for (int i = 0; i < perf->nworkers; i++)
		{
			Worker	   *w = &perf->workers[i];

			fds[nfds].fd = PQsocket(w->conn);
			fds[nfds].events = POLLIN;
			fds[nfds].revents = 0;
			nfds++;
			if (w->state != W_IDLE)
				continue;
			if (w->producer && !stop_at && send_gap_us)
				wake = Min(wake, perf->next_due);
			if (!w->producer && o->wait == WAIT_LISTEN && o->recheck > 0)
				wake = Min(wake, w->recheck_at);
		}
		if (cli_signal_fd() >= 0)
		{
			fds[nfds].fd = cli_signal_fd();
			fds[nfds].events = POLLIN;
			fds[nfds].revents = 0;
			nfds++;
		}
		now = cli_now_us();
		rc = poll(fds, nfds, wake > now ? (int) ((wake - now + 999) / 1000) : 0);
		if (rc <= 0)
			continue;

		/* producers first: a commit is noted before its messages arrive */
		for (int pass = 0; pass < 2; pass++)
		{
			for (int i = 0; i < perf->nworkers; i++)
			{
				Worker	   *w = &perf->workers[i];

				if (w->producer != (pass == 0))
					continue;
				if (!(fds[i].revents & (POLLIN | POLLERR | POLLHUP)))
					continue;
				if (!service_worker(perf, w) && !connect_worker(perf, w, false))
					break;
			}
		}
	}

	/* rates are over the time producers ran, not the e2e drain after it */
	report_summary(perf, ((stop_at ? stop_at : cli_now_us()) - start) / 1000000.0);
	if (o->histogram_file)
	{
		if (!histogram_write(o->mode == PERF_PRODUCE ? perf->publish : perf->e2e,
							 o->histogram_file))
			return EXIT_SERVER_ERROR;
	}
	for (int i = 0; i < perf->nworkers; i++)
		PQfinish(perf->workers[i].conn);
	return 0;
}

int
perf_main(int argc, char **argv)
{
	enum
	{
		OPT_CONSUMERS = 2000,
		OPT_RECEIVE_BATCH,
		OPT_RECHECK,
		OPT_HISTOGRAM,
		OPT_DBNAME
	};
	static struct option long_options[] = {
		{"rate", required_argument, NULL, 'r'},
		{"size", required_argument, NULL, 's'},
		{"batch", required_argument, NULL, 'b'},
		{"connections", required_argument, NULL, 'c'},
		{"consumers", required_argument, NULL, OPT_CONSUMERS},
		{"receive-batch", required_argument, NULL, OPT_RECEIVE_BATCH},
		{"duration", required_argument, NULL, 'd'},
		{"num-messages", required_argument, NULL, 'm'},
		{"subscription", required_argument, NULL, 'S'},
		{"type", required_argument, NULL, 't'},
		{"position", required_argument, NULL, 'p'},
		{"wait", required_argument, NULL, 'w'},
		{"recheck-interval", required_argument, NULL, OPT_RECHECK},
		{"interval", required_argument, NULL, 'i'},
		{"histogram", required_argument, NULL, OPT_HISTOGRAM},
		{"dbname", required_argument, NULL, OPT_DBNAME},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	Perf		perf;
	PerfOptions *o = &perf.opts;
	const char *mode;
	int			batch = -1;
	int			receive_batch = -1;
	int			connections = 1;
	int			c;

	memset(&perf, 0, sizeof(perf));
	o->subscription = "perf-sub";
	o->type = "exclusive";
	o->position = "latest";
	o->rate = 100;
	o->size = 1024;
	o->consumers = 1;
	o->interval = 10;
	o->recheck = 1;
	o->wait = WAIT_LISTEN;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0))
		cli_print_help(perf_usage);
	if (argc < 2 || argv[1][0] == '-')
		cli_usage_error(perf_usage, "perf needs produce, consume or e2e");
	mode = argv[1];
	if (strcmp(mode, "produce") == 0)
		o->mode = PERF_PRODUCE;
	else if (strcmp(mode, "consume") == 0)
		o->mode = PERF_CONSUME;
	else if (strcmp(mode, "e2e") == 0)
		o->mode = PERF_E2E;
	else
		cli_usage_error(perf_usage, "unknown perf mode \"%s\": produce, consume or e2e is expected", mode);
	argc--;
	argv++;
	argv[0] = psprintf("%s perf %s", progname, mode);

	cli_reset_getopt();
	while ((c = getopt_long(argc, argv, "r:s:b:c:d:m:S:t:p:w:i:?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'r':
				o->rate = cli_parse_double(perf_usage, "-r", optarg, 0, 1e9);
				break;
			case 's':
				o->size = (int) cli_parse_long(perf_usage, "-s", optarg, 0, 100 * 1024 * 1024);
				break;
			case 'b':
				batch = (int) cli_parse_long(perf_usage, "-b", optarg, 1, 100000);
				break;
			case 'c':
				connections = (int) cli_parse_long(perf_usage, "-c", optarg, 1, 1000);
				break;
			case OPT_RECEIVE_BATCH:
				receive_batch = (int) cli_parse_long(perf_usage, "--receive-batch", optarg, 1, 100000);
				break;
			case OPT_CONSUMERS:
				o->consumers = (int) cli_parse_long(perf_usage, "--consumers", optarg, 1, 1000);
				break;
			case 'd':
				o->duration = cli_parse_double(perf_usage, "-d", optarg, 0, 1e7);
				break;
			case 'm':
				o->limit = cli_parse_long(perf_usage, "-m", optarg, 0, LONG_MAX);
				break;
			case 'S':
				o->subscription = optarg;
				break;
			case 't':
				if (strcmp(optarg, "exclusive") != 0 && strcmp(optarg, "failover") != 0 &&
					strcmp(optarg, "shared") != 0 && strcmp(optarg, "key_shared") != 0)
					cli_usage_error(perf_usage,
									"invalid subscription type \"%s\": exclusive, failover, shared or key_shared is expected",
									optarg);
				o->type = optarg;
				break;
			case 'p':
				if (strcmp(optarg, "latest") != 0 && strcmp(optarg, "earliest") != 0)
					cli_usage_error(perf_usage,
									"invalid position \"%s\": latest or earliest is expected", optarg);
				o->position = optarg;
				break;
			case 'w':
				if (strcmp(optarg, "listen") == 0)
					o->wait = WAIT_LISTEN;
				else if (strcmp(optarg, "receive") == 0)
					o->wait = WAIT_RECEIVE;
				else
					cli_usage_error(perf_usage,
									"invalid value \"%s\" for --wait: listen or receive is expected", optarg);
				break;
			case OPT_RECHECK:
				o->recheck = cli_parse_double(perf_usage, "--recheck-interval", optarg, 0, 86400);
				break;
			case 'i':
				o->interval = cli_parse_double(perf_usage, "-i", optarg, 0.1, 86400);
				break;
			case OPT_HISTOGRAM:
				o->histogram_file = optarg;
				break;
			case OPT_DBNAME:
				cli_conninfo = optarg;
				break;
			case OPT_HELP:
				cli_print_help(perf_usage);
				break;
			case '?':
				cli_help_or_bad_option(argv, perf_usage);
				break;
			default:
				cli_bad_option(perf_usage);
		}
	}
	if (optind >= argc)
		cli_usage_error(perf_usage, "the topic is missing");
	if (optind + 1 < argc)
		cli_usage_error(perf_usage, "too many arguments, starting with \"%s\"", argv[optind + 1]);
	o->topic = argv[optind];

	if (o->mode == PERF_CONSUME)
		o->consumers = connections;
	else
		o->producers = connections;
	if (o->mode == PERF_E2E && o->size < STAMP_LEN)
		cli_usage_error(perf_usage, "e2e needs messages of at least %d bytes (-s) to carry the send time",
						STAMP_LEN);
	if (o->mode != PERF_PRODUCE && o->consumers > 1 && strcmp(o->type, "exclusive") == 0)
		cli_usage_error(perf_usage, "an exclusive subscription takes one consumer: choose another type with -t");
	/* in perf consume, -b is the receive batch */
	if (o->mode == PERF_CONSUME && batch > 0 && receive_batch < 0)
		receive_batch = batch;
	o->batch = o->mode != PERF_CONSUME && batch > 0 ? batch : 1;
	o->receive_batch = receive_batch > 0 ? receive_batch : 100;

	cli_catch_signals();
	return run_perf(&perf);
}
