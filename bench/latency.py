#!/usr/bin/python3
#
# bench/latency.py -- driver of bench/latency.sh: producer and consumer
# processes per path, end-to-end latency from the producer's commit to the
# consumer's receipt.
#
#   latency.py run --dsn DSN --path PATH --out DIR [--seconds S] [--warmup W]
#                  [--rate R] [--producers N] [--drain D]
#       runs one path; writes DIR/latency_PATH.hist (a histogram for
#       gnuplot, bench/latency.gp) and DIR/latency_PATH.json (the summary)
#   latency.py table DIR PATH...
#       prints the markdown table of the summaries
#   latency.py summary DIR PATH...
#       prints the rows of bench/all.sh's summary table, tab-separated
#
# Paths (bench/latency.sh makes their topics, queue and table):
#   listen       LISTEN on the subscription's channel; the consumer sleeps in
#                select() on the libpq socket and calls pulsar.receive (no
#                timeout) only when a notification has arrived
#   blocking     pulsar.receive(..., timeout => '1 s') in a loop
#   pgq          PgQ ticked by pgqd: next_batch; when it returns NULL, sleep
#                1 s (loop_delay, the default of PgQ's consumer framework),
#                else get_batch_events and finish_batch, and loop at once
#   skip_locked  a queue table read as pgmq reads it (take visible rows FOR
#                UPDATE SKIP LOCKED and set their visibility timeout; then
#                delete them); when a read finds nothing, sleep 100 ms
#                (pgmq's default poll interval)
# The pulsar consumers ack cumulatively at most every 100 ms, as Pulsar's
# client groups acks by default (acknowledgmentGroupTime).  Each read takes
# at most 1000 messages.
#
# Each message's payload is its sequence number i.  Message i is due at
# start + i / rate; N producer processes, each with its own connection
# (--producers, default 2), take every N-th message.  Each message is one
# autocommit transaction, so the statement returns after COMMIT, with the
# server's synchronous_commit.  A producer that falls behind publishes back
# to back, and stops when the schedule ends; the summary gives the rate
# achieved.  The producer records time.monotonic_ns() as soon as the
# statement returns; the consumer as soon as the statement that returned
# the message returns.  CLOCK_MONOTONIC is one system-wide clock on Linux,
# not a per-process one, so readings of two processes on the same host are
# directly comparable (and, unlike CLOCK_REALTIME, no clock adjustment can
# step it during a run).
# Latency = receipt - commit return.  It can be below 0: the consumer may
# get a message before the producer's process has read the reply to its
# COMMIT (and on a busy machine, the producer's process may wait for a CPU
# for milliseconds in between).
#
# Messages due in the first --warmup seconds are published and received but
# left out of the statistics; lost (published - received) counts every
# message.  The consumer stops when it has received every published
# message, or --drain seconds after the producers finished.

import argparse
import json
import math
import multiprocessing as mp
import os
import select
import sys
import time
from array import array

import psycopg2
import psycopg2.extensions

BATCH = 1000    # most messages one read takes
ACK_GROUP_NS = 100 * 10 ** 6

TOPIC = {'listen': 'lat_listen', 'blocking': 'lat_blocking'}
SUBSCRIPTION = 'lat'
CONSUMER = 'c'
PGQ_QUEUE = 'lat'
PGQ_CONSUMER = 'c'
PGQ_LOOP_DELAY = 1.0        # s, the loop_delay default of PgQ's framework
POLL_INTERVAL = 0.1         # s, pgmq's default poll_interval_ms
VISIBILITY_TIMEOUT = '30 seconds'

LABEL = {
    'listen': 'pulsar LISTEN + receive',
    'blocking': "pulsar receive(..., timeout)",
    'pgq': 'PgQ, pgqd ticker, 1 s consumer loop delay',
    'skip_locked': 'SKIP LOCKED table, 100 ms polling',
}
SHORT = {
    'listen': 'LISTEN + receive',
    'blocking': 'blocking receive',
    'pgq': 'PgQ + pgqd',
    'skip_locked': '100 ms polling',
}
OURS = ('listen', 'blocking')


def now():
    return time.monotonic_ns()


def connect(dsn):
    conn = psycopg2.connect(dsn)
    conn.set_session(autocommit=True)
    return conn


# --------------------------------------------------------------------------
# Producers: PREPARE once, then one EXECUTE (an autocommit transaction)
# per message.
# --------------------------------------------------------------------------

def prepare_producer(path, cur):
    if path in TOPIC:
        cur.execute("PREPARE pub(text) AS SELECT pulsar.send(%s, $1)",
                    (TOPIC[path],))
    elif path == 'pgq':
        cur.execute("PREPARE pub(text) AS SELECT pgq.insert_event(%s, 'lat', $1)",
                    (PGQ_QUEUE,))
    else:
        cur.execute("PREPARE pub(text) AS INSERT INTO lat_queue (payload) VALUES ($1)")


def producer(dsn, path, count, rate, first, stride, ready, go, start, out_file):
    """Publishes messages first, first + stride, ... of the schedule, as
    long as the schedule lasts: a producer that falls behind publishes
    back to back, and stops at the end of the schedule."""
    conn = connect(dsn)
    cur = conn.cursor()
    prepare_producer(path, cur)
    committed = array('q', [0]) * count
    ready.set()
    go.wait()
    step = 1e9 / rate
    end = start.value + int(count * step)
    for i in range(first, count, stride):
        t = now()
        if t >= end:
            break
        wait = start.value + int(i * step) - t
        if wait > 0:
            time.sleep(wait / 1e9)
        cur.execute("EXECUTE pub(%s)", (str(i),))
        committed[i] = now()
    conn.close()
    with open(out_file, 'wb') as f:
        committed.tofile(f)


# --------------------------------------------------------------------------
# Consumers: each returns when every published message has arrived, or
# --drain seconds after the producer finished.
# --------------------------------------------------------------------------

class Receipts:
    def __init__(self, published, done_at, drain_ns):
        self.seqs = array('q')
        self.times = array('q')
        self.unique = set()
        self.published = published      # -1 until the producer is done
        self.done_at = done_at
        self.drain_ns = drain_ns

    def record(self, rows, t):
        for (seq,) in rows:
            self.seqs.append(seq)
            self.times.append(t)
            self.unique.add(seq)

    def finished(self):
        n = self.published.value
        if n < 0:
            return False
        return len(self.unique) >= n or now() > self.done_at.value + self.drain_ns


class PulsarConsumer:
    """receive, and ack_cumulative at most every ACK_GROUP_NS, as Pulsar's
    client groups its acks (acknowledgmentGroupTime, 100 ms by default)."""

    def __init__(self, conn, topic, rec):
        self.cur = conn.cursor()
        self.topic = topic
        self.rec = rec
        self.unacked = None         # newest message id received, not acked
        self.acked_at = now()

    def receive(self, timeout):
        self.cur.execute(
            "SELECT message_id::text, convert_from(payload, 'UTF8')::bigint "
            "FROM pulsar.receive(%s, %s, %s, %s::interval, %s)",
            (self.topic, SUBSCRIPTION, BATCH, timeout, CONSUMER))
        rows = self.cur.fetchall()
        t = now()
        if rows:
            self.rec.record([(r[1],) for r in rows], t)
            # an exclusive subscription of one partition receives in order
            self.unacked = rows[-1][0]
        self.ack(False)
        return len(rows)

    def ack_due_in(self):
        """Seconds until the pending ack is due; None if there is none."""
        if self.unacked is None:
            return None
        return max(0.0, (self.acked_at + ACK_GROUP_NS - now()) / 1e9)

    def ack(self, force):
        if self.unacked is None:
            return
        if not force and now() < self.acked_at + ACK_GROUP_NS:
            return
        self.cur.execute("SELECT pulsar.ack_cumulative(%s, %s, %s::pulsar.message_id)",
                         (self.topic, SUBSCRIPTION, self.unacked))
        self.unacked = None
        self.acked_at = now()


def consume_listen(conn, rec):
    c = PulsarConsumer(conn, TOPIC['listen'], rec)

    def drain():
        while c.receive('0') == BATCH:
            pass

    drain()
    while True:
        if conn.notifies:
            conn.notifies.clear()
            drain()
            continue
        if rec.finished():
            break
        # sleep until the server sends something; the timeout only lets
        # the loop send a grouped ack or notice that the run is over, it
        # reads nothing
        due = c.ack_due_in()
        readable, _, _ = select.select([conn], [], [], 0.2 if due is None else min(due, 0.2))
        if readable:
            conn.poll()
        else:
            c.ack(False)
    c.ack(True)


def consume_blocking(conn, rec):
    c = PulsarConsumer(conn, TOPIC['blocking'], rec)
    while not rec.finished():
        c.receive('1 second')
    c.ack(True)


def consume_pgq(conn, rec):
    cur = conn.cursor()
    while not rec.finished():
        cur.execute("SELECT pgq.next_batch(%s, %s)", (PGQ_QUEUE, PGQ_CONSUMER))
        batch_id = cur.fetchone()[0]
        if batch_id is None:
            time.sleep(PGQ_LOOP_DELAY)
            continue
        cur.execute("SELECT ev_data::bigint FROM pgq.get_batch_events(%s)",
                    (batch_id,))
        rows = cur.fetchall()
        rec.record(rows, now())
        cur.execute("SELECT pgq.finish_batch(%s)", (batch_id,))


def consume_skip_locked(conn, rec):
    cur = conn.cursor()
    while not rec.finished():
        cur.execute(
            "WITH c AS (SELECT id FROM lat_queue WHERE vt <= clock_timestamp() "
            "           ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "UPDATE lat_queue q SET vt = clock_timestamp() + %s::interval "
            "  FROM c WHERE q.id = c.id RETURNING q.id, q.payload::bigint",
            (BATCH, VISIBILITY_TIMEOUT))
        rows = cur.fetchall()
        t = now()
        if not rows:
            time.sleep(POLL_INTERVAL)
            continue
        rec.record([(r[1],) for r in rows], t)
        cur.execute("DELETE FROM lat_queue WHERE id = ANY (%s)",
                    ([r[0] for r in rows],))


CONSUMERS = {
    'listen': consume_listen,
    'blocking': consume_blocking,
    'pgq': consume_pgq,
    'skip_locked': consume_skip_locked,
}


def consumer(dsn, path, published, done_at, drain_ns, ready, out_file):
    conn = connect(dsn)
    if path == 'listen':
        cur = conn.cursor()
        cur.execute("SELECT pulsar.channel(%s, %s)", (TOPIC['listen'], SUBSCRIPTION))
        channel = cur.fetchone()[0]
        cur.execute("LISTEN " + psycopg2.extensions.quote_ident(channel, cur))
    rec = Receipts(published, done_at, drain_ns)
    ready.set()
    CONSUMERS[path](conn, rec)
    conn.close()
    with open(out_file, 'wb') as f:
        array('q', [len(rec.seqs)]).tofile(f)
        rec.seqs.tofile(f)
        rec.times.tofile(f)


# --------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------

# histogram bins: 20 per decade from 10 us to 100 s; the first bin takes
# everything below 10 us, negative values included
BIN_LO_MS = 0.01
BINS_PER_DECADE = 20
DECADES = 7


def percentile(sorted_values, p):
    """Nearest-rank percentile of a sorted list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def histogram(latencies_ms):
    nbins = BINS_PER_DECADE * DECADES
    counts = [0] * nbins
    for v in latencies_ms:
        if v <= BIN_LO_MS:
            k = 0
        else:
            k = int(math.ceil(math.log10(v / BIN_LO_MS) * BINS_PER_DECADE)) - 1
            k = min(max(k, 0), nbins - 1)
        counts[k] += 1
    return counts


def write_histogram(path, file, latencies_ms):
    counts = histogram(latencies_ms)
    total = len(latencies_ms)
    used = [k for k, c in enumerate(counts) if c]
    with open(file, 'w') as f:
        f.write('# %s: latency from publish commit to receipt, %d messages\n'
                % (LABEL[path], total))
        f.write('# bin_low_ms bin_high_ms count fraction cumulative_fraction\n')
        if not used:
            return
        cum = 0
        for k in range(used[0], used[-1] + 1):
            lo = 0.0 if k == 0 else BIN_LO_MS * 10 ** (k / BINS_PER_DECADE)
            hi = BIN_LO_MS * 10 ** ((k + 1) / BINS_PER_DECADE)
            cum += counts[k]
            f.write('%.4f %.4f %d %.6f %.6f\n'
                    % (lo, hi, counts[k], counts[k] / total, cum / total))


def run(args):
    count = int((args.warmup + args.seconds) * args.rate)
    skip = int(args.warmup * args.rate)
    os.makedirs(args.out, exist_ok=True)
    tmp_p = os.path.join(args.out, '.latency_%s.produced' % args.path)
    tmp_c = os.path.join(args.out, '.latency_%s.consumed' % args.path)

    ctx = mp.get_context('fork')
    published = ctx.Value('q', -1)
    done_at = ctx.Value('q', 0)
    start = ctx.Value('q', 0)
    go = ctx.Event()
    c_ready = ctx.Event()
    cons = ctx.Process(target=consumer,
                       args=(args.dsn, args.path, published, done_at,
                             int(args.drain * 1e9), c_ready, tmp_c))
    starting = [(c_ready, cons)]
    prods = []
    for k in range(args.producers):
        ready = ctx.Event()
        prods.append(ctx.Process(target=producer,
                                 args=(args.dsn, args.path, count, args.rate,
                                       k, args.producers, ready, go, start,
                                       '%s.%d' % (tmp_p, k))))
        starting.append((ready, prods[-1]))
    for _, p in starting:
        p.start()
    for e, p in starting:
        while not e.wait(1):
            if not p.is_alive():
                sys.exit('latency: a %s process of path %s died while starting'
                         % ('consumer' if p is cons else 'producer', args.path))
    start.value = now() + 10 ** 7       # 10 ms from now
    go.set()
    for p in prods:
        p.join()
    done_at.value = now()
    committed = array('q', [0]) * count
    if all(p.exitcode == 0 for p in prods):
        for k in range(args.producers):
            part = array('q')
            with open('%s.%d' % (tmp_p, k), 'rb') as f:
                part.fromfile(f, count)
            os.unlink('%s.%d' % (tmp_p, k))
            for i in range(k, count, args.producers):
                committed[i] = part[i]
        published.value = sum(1 for t in committed if t)
    else:
        published.value = 0
    cons.join()
    if published.value == 0 or cons.exitcode != 0:
        sys.exit('latency: path %s: producer exits %s, consumer exit %s'
                 % (args.path, [p.exitcode for p in prods], cons.exitcode))
    with open(tmp_c, 'rb') as f:
        n = array('q')
        n.fromfile(f, 1)
        seqs, times = array('q'), array('q')
        seqs.fromfile(f, n[0])
        times.fromfile(f, n[0])
    os.unlink(tmp_c)

    first = {}
    duplicates = 0
    for s, t in zip(seqs, times):
        if s < 0 or s >= count or not committed[s]:
            sys.exit('latency: path %s: received a message %d that was never published'
                     % (args.path, s))
        if s in first:
            duplicates += 1
        else:
            first[s] = t
    published = published.value
    measured = [i for i in range(skip, count) if committed[i]]
    lat_ms = sorted((first[i] - committed[i]) / 1e6 for i in measured if i in first)
    span = (committed[measured[-1]] - committed[measured[0]]) / 1e9 if len(measured) > 1 else 0

    summary = {
        'path': args.path,
        'label': LABEL[args.path],
        'scheduled': count,
        'published': published,
        'received': len(first),
        'lost': published - len(first),
        'duplicates': duplicates,
        'measured': len(measured),
        'measured_received': len(lat_ms),
        'rate': (len(measured) - 1) / span if span > 0 else None,
        'p50': percentile(lat_ms, 50),
        'p99': percentile(lat_ms, 99),
        'p999': percentile(lat_ms, 99.9),
        'max': lat_ms[-1] if lat_ms else None,
        'min': lat_ms[0] if lat_ms else None,
        'negative': sum(1 for v in lat_ms if v < 0),
    }
    write_histogram(args.path, os.path.join(args.out, 'latency_%s.hist' % args.path), lat_ms)
    with open(os.path.join(args.out, 'latency_%s.json' % args.path), 'w') as f:
        json.dump(summary, f)
    print(json.dumps(summary))


def fmt_ms(v):
    if v is None:
        return 'n/a'
    if abs(v) >= 100:
        return '%.0f' % v
    if abs(v) >= 10:
        return '%.1f' % v
    return '%.2f' % v


TARGET = 'p50 <= 2 ms, p99 <= 10 ms'


def load(d, path):
    with open(os.path.join(d, 'latency_%s.json' % path)) as f:
        return json.load(f)


def verdict(s):
    """The targets, for our paths: p50 <= 2 ms, p99 <= 10 ms, nothing lost."""
    if s['path'] not in OURS:
        return ''
    ok = (s['p50'] is not None and s['p50'] <= 2 and s['p99'] <= 10
          and s['lost'] == 0)
    return 'met' if ok else '**missed**'


def table(args):
    print('| path | p50 ms | p99 ms | p99.9 ms | max ms | messages | lost | msg/s | target %s |' % TARGET)
    print('|---|---:|---:|---:|---:|---:|---:|---:|---|')
    for path in args.paths:
        s = load(args.dir, path)
        verdict_ = verdict(s)
        lost = str(s['lost']) if s['lost'] == 0 else '**%d**' % s['lost']
        print('| %s | %s | %s | %s | %s | %d | %s | %s | %s |' % (
            s['label'], fmt_ms(s['p50']), fmt_ms(s['p99']), fmt_ms(s['p999']),
            fmt_ms(s['max']), s['measured_received'], lost,
            '%.0f' % s['rate'] if s['rate'] else 'n/a', verdict_))
    print()
    for path in args.paths:
        s = load(args.dir, path)
        if s['negative']:
            print('- %s: %d of the messages (%.2f %%) reached the consumer before the '
                  "producer had read its COMMIT's reply (latency below 0, down to %s ms)"
                  % (s['label'], s['negative'], 100.0 * s['negative'] / s['measured_received'],
                     fmt_ms(s['min'])))


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return 'n/a'
    v = a / b
    return '%.0f' % v if v >= 100 else '%.1f' % v if v >= 10 else '%.2f' % v


def summary(args):
    """Rows for bench/all.sh's summary table, tab-separated: measure,
    value, target, verdict.  Our paths' p50 / p99 against the targets;
    each peer's p50 / p99 and how many times ours they are."""
    ss = {p: load(args.dir, p) for p in args.paths}
    ours = [p for p in args.paths if p in OURS]
    for p in args.paths:
        s = ss[p]
        lost = '' if s['lost'] == 0 else ', %d lost' % s['lost']
        print('%s: p50 / p99, ms\t%s / %s%s\t%s\t%s' % (
            SHORT[p], fmt_ms(s['p50']), fmt_ms(s['p99']), lost,
            '<= 2 / <= 10' if p in OURS else '', verdict(s)))
    for p in args.paths:
        if p in OURS:
            continue
        for o in ours:
            print('%s / %s: p50 / p99\t%s / %s\t\t' % (
                SHORT[p], SHORT[o],
                ratio(ss[p]['p50'], ss[o]['p50']), ratio(ss[p]['p99'], ss[o]['p99'])))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run')
    r.add_argument('--dsn', required=True)
    r.add_argument('--path', required=True, choices=sorted(CONSUMERS))
    r.add_argument('--out', required=True)
    r.add_argument('--seconds', type=float, default=30)
    r.add_argument('--warmup', type=float, default=3)
    r.add_argument('--rate', type=float, default=1000)
    r.add_argument('--drain', type=float, default=10)
    r.add_argument('--producers', type=int, default=2)
    t = sub.add_parser('table')
    t.add_argument('dir')
    t.add_argument('paths', nargs='+')
    m = sub.add_parser('summary')
    m.add_argument('dir')
    m.add_argument('paths', nargs='+')
    args = ap.parse_args()
    if args.cmd == 'run':
        run(args)
    elif args.cmd == 'table':
        table(args)
    else:
        summary(args)


if __name__ == '__main__':
    main()
