#!/usr/bin/python3
#
# test/fault/fault_driver.py -- a seeded, randomized fault workload against
# one pulsar_pg topic and subscription, and the model it is checked against
# once it ends (DESIGN invariants 0, 1, 2, 6 and 6a).
#
#   fault_driver.py --dsn DSN [--type T] [--partitions N] [--duration S]
#                   [--seed S] [--fault CMD]... [--after-dsn DSN] [...]
#
# Threads, one connection each:
#   producers   send and send_batch in transactions of one to three
#               statements, some inside savepoints that roll back, some held
#               open a while; most commit, some roll back, some disconnect
#               before COMMIT.  Each statement inserts the ids it got into
#               fault.sent in the same statement, so fault.sent holds exactly
#               the committed sends; the client also keeps what it saw
#               (every id returned; which payloads it saw commit, saw roll
#               back, or cannot tell about: the connection died in COMMIT)
#   consumers   receive, insert what they process into fault.log, ack (or
#               ack_cumulative on exclusive and failover subscriptions) and
#               COMMIT, in one transaction; or roll back, disconnect before
#               COMMIT, nack part of a batch, receive in a savepoint that
#               rolls back, hold the transaction open past the consumer
#               lease, or (named consumers) stop calling past the lease
#   chaos       terminates random client backends (pg_terminate_backend) and
#               watches whether the pulsar_pg worker waits for a lock held
#               by a client that is idle in transaction
#   main        runs each --fault command at evenly spaced times: pauses the
#               producers, sends and rolls back one message per partition,
#               VACUUMs the segment tables and the database, leaves a send
#               to an auxiliary topic open, commits a marker row (with a
#               synchronous standby, everything before it is then on the
#               standby), runs the command (a restart, a crash, a
#               promotion), reconnects (to --after-dsn if given), VACUUMs
#               again and sends to the auxiliary topic before anyone else,
#               and resumes the producers
#
# Clients retry what the contract says to retry: serialization failures
# (40001: roll back, receive again) and lost connections (reconnect,
# subscribe again).  Anything else is reported.
#
# When the producers stop, the consumers stop, the named consumers are
# closed, and a fresh consumer drains the subscription until a receive
# returns nothing and the backlog is 0.  Then the model must hold:
#   committed      every send whose COMMIT the client saw succeed is in
#                  fault.sent and in the topic, with the id it got
#   ids-unique     no two committed messages share an id
#   no-phantom     the topic holds only committed sends: nothing a client
#                  rolled back (or lost before COMMIT), nothing not in
#                  fault.sent
#   exactly-once   every committed message is in the committed log once,
#                  under its own id; nothing else is there
#   confirmed-log  every batch whose consumer saw COMMIT succeed is logged
#   ids-monotonic  every id handed out by a server incarnation (after a
#                  restart, a crash or a promotion) is above every id any
#                  client was handed before, rolled back or not
#   drained        the drain ends: receive returns nothing and the backlog
#                  is 0 within --drain-timeout
#   backlog        after the drain, msgBacklog and unackedMessages are 0 and
#                  one more receive returns nothing
#   session-lease  a session consumer is never detached while its session
#                  lives
#   worker-stall   the worker never waits a second for a lock held by a
#                  client that is idle in transaction
#   server-crash   no client is told another backend crashed (57P02)
#   errors         no client gets an error outside the retry rules
#
# Prints the seed first; on failure every failed check with examples (and
# the history of the messages involved), then the seed again.  Exit status
# 0: the model held; 1: it did not; 2: the run could not be set up.  Thread
# scheduling is not repeatable, so a seed repeats every client's random
# decisions, not their interleaving.
#
# Used by test/t/030_fault_random.pl, test/t/031_fault_failover.pl and
# scripts/soak-faults.sh; docs/fault-tests.md describes it.
#

import argparse
import collections
import random
import subprocess
import sys
import threading
import time
import traceback

import psycopg
from psycopg import errors as pgerrors

TYPES = ('exclusive', 'failover', 'shared', 'key_shared')
SUBSCRIPTION = 'fault'
KEYS = ['k%d' % i for i in range(12)]


class Lost(Exception):
    """The connection is gone (killed, closed, server restarted)."""


class Stop(Exception):
    """The run is ending while a client waited for the server."""


def parse_id(text):
    """'ledger:entry:partition' -> (ledger, entry)"""
    ledger, entry, _ = text.split(':')
    return int(ledger), int(entry)


class Run:
    """What the threads share: settings, the connection target, the
    server incarnations seen, the producers' pause gate and the failures."""

    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.type = args.type
        self.topic = args.topic
        self.aux = args.topic + '-aux'
        self.dsn = args.dsn
        self.lock = threading.Lock()
        self.incarnations = {}      # (dsn, postmaster start) -> index
        self.pids = {}              # client backend pid -> role
        self.failures = collections.OrderedDict()   # check -> [lines]
        self.stop_producers = threading.Event()
        self.stop_consumers = threading.Event()
        self.stop_chaos = threading.Event()
        self.gate = threading.Condition()
        self.paused = False
        self.producers_in_tx = 0
        self.counts = collections.Counter()
        self.started = time.monotonic()

    def fail(self, check, line):
        with self.lock:
            self.failures.setdefault(check, []).append(line)

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] += n

    def incarnation(self, dsn, started):
        with self.lock:
            key = (dsn, started)
            if key not in self.incarnations:
                self.incarnations[key] = len(self.incarnations)
            return self.incarnations[key]

    # producers' gate: the main thread pauses them around a fault
    def enter_producer_tx(self):
        with self.gate:
            while self.paused and not self.stop_producers.is_set():
                self.gate.wait(0.2)
            self.producers_in_tx += 1

    def leave_producer_tx(self):
        with self.gate:
            self.producers_in_tx -= 1
            self.gate.notify_all()

    def pause_producers(self, timeout=60):
        with self.gate:
            self.paused = True
            deadline = time.monotonic() + timeout
            while self.producers_in_tx > 0:
                if time.monotonic() > deadline:
                    raise RuntimeError('producers did not finish their transactions in %ds' % timeout)
                self.gate.wait(0.2)

    def resume_producers(self):
        with self.gate:
            self.paused = False
            self.gate.notify_all()


class Client:
    """One connection, reconnected on demand, with autocommit on so that
    the caller writes BEGIN, SAVEPOINT and COMMIT itself."""

    def __init__(self, run, role, killable=True, stop=None):
        self.run = run
        self.role = role
        self.killable = killable
        self.stop = stop        # an Event that ends waiting for the server
        self.conn = None
        self.pid = None
        self.incarnation = None
        self.connections = 0

    def connected(self):
        return self.conn is not None and not self.conn.closed and not self.conn.broken

    def connect(self, deadline_s=90):
        self.close()
        deadline = time.monotonic() + deadline_s
        delay = 0.05
        while True:
            dsn = self.run.dsn
            try:
                conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5,
                                       application_name='fault-' + self.role)
                pid, started = conn.execute(
                    'SELECT pg_backend_pid(), pg_postmaster_start_time()::text').fetchone()
                conn.execute("SET statement_timeout = '60s'")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                if self.stop is not None and self.stop.is_set():
                    raise Stop()
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        self.conn = conn
        self.pid = pid
        self.incarnation = self.run.incarnation(dsn, started)
        self.connections += 1
        if self.connections > 1:
            self.run.count('reconnects')
        if self.killable:
            with self.run.lock:
                self.run.pids[pid] = self.role

    def ensure(self):
        if not self.connected():
            self.connect()

    def close(self):
        if self.conn is not None:
            with self.run.lock:
                self.run.pids.pop(self.pid, None)
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None

    def lost(self, e):
        """Whether error e means the connection is gone."""
        state = getattr(e, 'sqlstate', None)
        if state == '57P02':
            # another backend crashed and the server reinitialised
            self.run.fail('server-crash', '%s: %s' % (self.role, error_text(e)))
        if self.conn is None or self.conn.closed or self.conn.broken:
            return True
        return state is None or state.startswith('08') or state in ('57P01', '57P02', '57P03')

    def q(self, sql, params=None):
        """Runs one statement; returns its rows (or None).  Raises Lost if
        the connection died, the server's error otherwise."""
        if not self.connected():
            raise Lost()
        try:
            cur = self.conn.execute(sql, params)
            return cur.fetchall() if cur.description is not None else None
        except psycopg.Error as e:
            if self.lost(e):
                self.close()
                raise Lost() from e
            raise

    def rollback(self):
        try:
            self.q('ROLLBACK')
        except Lost:
            pass
        except psycopg.Error:
            self.close()


def error_text(e):
    diag = getattr(e, 'diag', None)
    msg = diag.message_primary if diag is not None and diag.message_primary else str(e)
    return '%s %s' % (getattr(e, 'sqlstate', None), msg.strip())


##########################################################################
# producers
##########################################################################

class ProducerLog:
    def __init__(self):
        self.handed_out = []        # (incarnation, id) of every id returned
        self.confirmed = {}     # payload -> id, COMMIT succeeded
        self.unknown = {}       # payload -> id, connection died during COMMIT
        self.aborted = {}       # payload -> id, known not committed


def producer(run, k, log):
    rng = random.Random('%s-producer-%d' % (run.seed, k))
    client = Client(run, 'p%d' % k, stop=run.stop_producers)
    topic = run.topic
    n = 0
    txno = 0
    while not run.stop_producers.is_set():
        run.enter_producer_tx()
        try:
            if run.stop_producers.is_set():
                break
            txno += 1
            tx = 'p%d#%d' % (k, txno)
            kept = {}
            doomed = {}
            try:
                client.ensure()
                client.q('BEGIN')
                for _ in range(rng.randint(1, 3)):
                    savepoint = rng.random() < 0.25
                    undo = savepoint and rng.random() < 0.6
                    if savepoint:
                        client.q('SAVEPOINT s')
                    count = 1 if rng.random() < 0.5 else rng.randint(2, 6)
                    payloads = []
                    keys = []
                    for _ in range(count):
                        n += 1
                        payloads.append('%s:p%d:%d' % (topic, k, n))
                        keys.append(rng.choice(KEYS) if rng.random() < 0.8 else None)
                    if count == 1:
                        rows = client.q(
                            'WITH s AS (SELECT pulsar.send(%s, %s::text, key => %s) AS id) '
                            'INSERT INTO fault.sent (topic, payload, id, tx) '
                            'SELECT %s, %s, id::text, %s FROM s RETURNING payload, id',
                            (topic, payloads[0], keys[0], topic, payloads[0], tx))
                    else:
                        rows = client.q(
                            'WITH s AS (SELECT id, o FROM pulsar.send_batch(%s, %s::text[], %s::text[]) '
                            'WITH ORDINALITY AS b (id, o)) '
                            'INSERT INTO fault.sent (topic, payload, id, tx) '
                            'SELECT %s, (%s::text[])[o], id::text, %s FROM s RETURNING payload, id',
                            (topic, payloads, keys, topic, payloads, tx))
                    if len(rows) != count:
                        run.fail('errors', '%s: a send of %d messages returned %d ids' % (tx, count, len(rows)))
                    for payload, mid in rows:
                        log.handed_out.append((client.incarnation, mid))
                    if undo:
                        client.q('ROLLBACK TO SAVEPOINT s')
                        doomed.update(rows)
                    else:
                        if savepoint:
                            client.q('RELEASE SAVEPOINT s')
                        kept.update(rows)
                if rng.random() < 0.05:
                    time.sleep(rng.uniform(0.2, 1.5))       # hold the positions open
                r = rng.random()
                if r < 0.15:
                    client.q('ROLLBACK')
                    doomed.update(kept)
                    run.count('producer rollbacks')
                elif r < 0.18:
                    client.close()      # disconnect before COMMIT
                    doomed.update(kept)
                    run.count('producer disconnects')
                else:
                    try:
                        client.q('COMMIT')
                    except Lost:
                        log.unknown.update(kept)
                        log.aborted.update(doomed)
                        run.count('producer commits unknown')
                        continue
                    log.confirmed.update(kept)
                    run.count('producer commits')
                log.aborted.update(doomed)
            except Lost:
                # died before COMMIT was sent: nothing of it committed
                log.aborted.update(doomed)
                log.aborted.update(kept)
                run.count('producer transactions lost')
            except psycopg.Error as e:
                run.fail('errors', '%s: %s' % (tx, error_text(e)))
                client.rollback()
                log.aborted.update(doomed)
                log.aborted.update(kept)
            except Stop:
                break
        finally:
            run.leave_producer_tx()
        time.sleep(rng.uniform(0, 0.03))
    client.close()


##########################################################################
# consumers
##########################################################################

class ConsumerLog:
    def __init__(self):
        self.confirmed = []     # (payload, id, tx): batches whose COMMIT succeeded
        self.history = []       # (time, payload, tx, event)
        self.named = set()


def consumer(run, k, log):
    rng = random.Random('%s-consumer-%d' % (run.seed, k))
    args = run.args
    topic = run.topic
    named = k % 2 == 0
    name = 'c%d' % k if named else None
    label = name if named else 's%d' % k
    if named:
        log.named.add(name)
    lease = args.lease
    cumulative_ok = run.type in ('exclusive', 'failover') and args.ack in ('cumulative', 'mixed')
    nack_ok = args.ack == 'individual'
    client = Client(run, label, stop=run.stop_consumers)
    subscribed = False
    attached_at = time.monotonic()
    txno = 0
    while not run.stop_consumers.is_set():
        txno += 1
        tx = '%s#%d' % (label, txno)
        got = []
        try:
            if not client.connected():
                client.connect()
                subscribed = False
            if not subscribed:
                try:
                    client.q(
                        "SELECT pulsar.subscribe(%s, %s, %s, 'earliest', consumer => %s, "
                        "negative_ack_delay => '200 ms')",
                        (topic, SUBSCRIPTION, run.type, name))
                except pgerrors.ObjectInUse:
                    # exclusive: another consumer holds it; wait our turn
                    time.sleep(rng.uniform(0.1, 0.5))
                    continue
                subscribed = True
                attached_at = time.monotonic()

            client.q('BEGIN')
            if rng.random() < 0.08:
                client.q('SAVEPOINT r')
                rows = client.q(
                    'SELECT message_id::text, convert_from(payload, \'UTF8\') '
                    'FROM pulsar.receive(%s, %s, %s, consumer => %s)',
                    (topic, SUBSCRIPTION, rng.randint(1, 5), name))
                client.q('ROLLBACK TO SAVEPOINT r')
                for mid, payload in rows:
                    log.history.append((time.monotonic(), payload, tx, 'received in a savepoint rolled back'))
            timeout = '0' if rng.random() < 0.5 else '200 ms'
            rows = client.q(
                'SELECT message_id::text, convert_from(payload, \'UTF8\'), redelivery_count '
                'FROM pulsar.receive(%s, %s, %s, %s::interval, consumer => %s)',
                (topic, SUBSCRIPTION, rng.randint(1, 12), timeout, name))
            got = [(payload, mid) for mid, payload, _ in rows]
            for mid, payload, redeliveries in rows:
                log.history.append((time.monotonic(), payload, tx, 'received %s (redelivery_count %d)' % (mid, redeliveries)))
            if not got:
                client.q('COMMIT')
                time.sleep(rng.uniform(0.01, 0.1))
                # named consumers sometimes stop calling past the lease
                if named and rng.random() < 0.05:
                    time.sleep(lease * rng.uniform(1.3, 2.0))
                continue

            process = got
            rest = []
            if nack_ok and len(got) > 1 and rng.random() < 0.15:
                cut = rng.randint(1, len(got) - 1)
                process, rest = got[:cut], got[cut:]
            hold = rng.random() < args.hold_probability
            hold_for = lease * rng.uniform(0.3, 2.0) if hold else 0
            hold_first = hold and rng.random() < 0.5
            if hold_first:
                time.sleep(hold_for)
            client.q(
                'INSERT INTO fault.log (topic, payload, id, tx) '
                'SELECT %s, p, i, %s FROM unnest(%s::text[], %s::text[]) AS u (p, i)',
                (topic, tx, [p for p, _ in process], [i for _, i in process]))
            if cumulative_ok and (args.ack == 'cumulative' or rng.random() < 0.5):
                last = {}
                for _, mid in process:
                    ledger, entry = parse_id(mid)
                    if ledger not in last or entry > parse_id(last[ledger])[1]:
                        last[ledger] = mid
                for mid in last.values():
                    client.q('SELECT pulsar.ack_cumulative(%s, %s, %s::pulsar.message_id)',
                             (topic, SUBSCRIPTION, mid))
                how = 'ack_cumulative ' + ' '.join(sorted(last.values()))
            else:
                client.q('SELECT pulsar.ack(%s, %s, %s::pulsar.message_id[])',
                         (topic, SUBSCRIPTION, [i for _, i in process]))
                how = 'ack'
            if rest:
                client.q('SELECT pulsar.nack(%s, %s, %s::pulsar.message_id[])',
                         (topic, SUBSCRIPTION, [i for _, i in rest]))
                for payload, _ in rest:
                    log.history.append((time.monotonic(), payload, tx, 'nacked'))
            if hold and not hold_first:
                time.sleep(hold_for)
            held = ' after holding the transaction %.1fs' % hold_for if hold else ''
            r = rng.random()
            if r < 0.12:
                client.q('ROLLBACK')
                run.count('consumer rollbacks')
                for payload, _ in process:
                    log.history.append((time.monotonic(), payload, tx, 'processed, %s, rolled back%s' % (how, held)))
            elif r < 0.16:
                client.close()
                subscribed = False
                run.count('consumer disconnects')
                for payload, _ in process:
                    log.history.append((time.monotonic(), payload, tx, 'processed, %s, disconnected before COMMIT%s' % (how, held)))
            else:
                try:
                    client.q('COMMIT')
                except Lost:
                    for payload, _ in process:
                        log.history.append((time.monotonic(), payload, tx, 'processed, %s, connection lost during COMMIT%s' % (how, held)))
                    run.count('consumer commits unknown')
                    continue
                run.count('consumer commits')
                for payload, mid in process:
                    log.confirmed.append((payload, mid, tx))
                    log.history.append((time.monotonic(), payload, tx, 'processed, %s, COMMITTED%s' % (how, held)))
        except Lost:
            subscribed = False
            for payload, _ in got:
                log.history.append((time.monotonic(), payload, tx, 'connection lost before COMMIT'))
            run.count('consumer transactions lost')
        except Stop:
            break
        except pgerrors.SerializationFailure as e:
            client.rollback()
            run.count('consumer serialization failures (40001)')
            for payload, _ in got:
                log.history.append((time.monotonic(), payload, tx, 'got %s' % error_text(e)))
        except pgerrors.ObjectNotInPrerequisiteState as e:
            # the consumer was detached: legitimate for a named consumer
            # that made no call for the lease; never for a session consumer
            # whose session lives
            client.rollback()
            subscribed = False
            for payload, _ in got:
                log.history.append((time.monotonic(), payload, tx, 'got %s' % error_text(e)))
            if 'is not attached' not in str(e):
                run.fail('errors', '%s: %s' % (tx, error_text(e)))
            elif named:
                run.count('named consumers detached by the lease')
            else:
                run.fail('session-lease',
                         '%s: session consumer (backend %s, attached %.1fs before, session alive) was detached: %s'
                         % (tx, client.pid, time.monotonic() - attached_at, error_text(e)))
        except psycopg.Error as e:
            client.rollback()
            for payload, _ in got:
                log.history.append((time.monotonic(), payload, tx, 'got %s' % error_text(e)))
            run.fail('errors', '%s: %s' % (tx, error_text(e)))
    client.close()


##########################################################################
# chaos: killed backends, and a watch on the worker
##########################################################################

def chaos(run):
    rng = random.Random('%s-chaos' % run.seed)
    client = Client(run, 'chaos', killable=False)
    stalled = {}        # blocking pid -> first seen
    reported = set()
    next_kill = time.monotonic() + rng.uniform(0.3, 1.5)
    while not run.stop_chaos.is_set():
        time.sleep(0.2)
        try:
            client.ensure()
            rows = client.q(
                "SELECT b.pid, b.application_name, w.wait_event_type || ':' || w.wait_event, "
                "       extract(epoch FROM now() - b.state_change)::float8, left(b.query, 120) "
                "  FROM pg_stat_activity w, unnest(pg_blocking_pids(w.pid)) AS bp (pid) "
                "  JOIN pg_stat_activity b ON b.pid = bp.pid "
                " WHERE w.backend_type = 'pulsar_pg worker' AND w.datname = current_database() "
                "   AND b.state = 'idle in transaction'")
            now = time.monotonic()
            seen = set()
            for pid, app, wait, idle, query in rows:
                seen.add(pid)
                first = stalled.setdefault(pid, now)
                if now - first >= 1.0 and pid not in reported:
                    reported.add(pid)
                    run.fail('worker-stall',
                             'the pulsar_pg worker waited (%s) %.1fs or more for a lock held by %s '
                             '(backend %d, idle in transaction for %.1fs after: %s)'
                             % (wait, now - first, app, pid, idle, query))
            for pid in list(stalled):
                if pid not in seen:
                    del stalled[pid]
            if now >= next_kill and not run.stop_consumers.is_set():
                next_kill = now + rng.uniform(0.3, 1.5)
                with run.lock:
                    victims = sorted(run.pids.items())
                if victims:
                    pid, role = rng.choice(victims)
                    client.q('SELECT pg_terminate_backend(%s)', (pid,))
                    run.count('backends terminated')
        except (Lost, psycopg.OperationalError):
            client.close()
            time.sleep(0.2)
        except psycopg.Error as e:
            run.fail('errors', 'chaos: %s' % error_text(e))
    client.close()


##########################################################################
# faults: VACUUM, then a restart, a crash or a promotion
##########################################################################

def partitions_of(run):
    if run.args.partitions > 0:
        return ['%s-partition-%d' % (run.topic, i) for i in range(run.args.partitions)]
    return [run.topic]


def inject_fault(run, i, command, ctl_log):
    """Two ways to lose track of ids, each on its own topic so that neither
    hides the other: on the topic, sends rolled back and VACUUMed away
    before the fault; on the auxiliary topic, sends of a transaction still
    open at the fault, VACUUMed away after it, before anyone sends again."""
    args = run.args
    print('fault: [%s] fault %d: pausing producers, VACUUM, then: %s'
          % (time.strftime('%H:%M:%S'), i + 1, command), flush=True)
    run.pause_producers()
    ctl = Client(run, 'ctl', killable=False)
    ctl.connect()
    ctl.q('BEGIN')
    for part in partitions_of(run):
        payload = '%s:ctl:rolled-back:%d' % (part, i)
        mid = ctl.q('SELECT pulsar.send(%s, %s::text)::text', (part, payload))[0][0]
        ctl_log.handed_out.append((ctl.incarnation, mid))
        ctl_log.aborted[payload] = mid
    ctl.q('ROLLBACK')
    segments = ctl.q(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'pulsar_data' AND c.relkind = 'r'")
    for (segment,) in segments:
        ctl.q('VACUUM ' + segment)
    ctl.q('VACUUM')
    opened = Client(run, 'ctl-open', killable=False)
    opened.connect()
    opened.q('BEGIN')
    payload = '%s:ctl:open:%d' % (run.aux, i)
    mid = opened.q('SELECT pulsar.send(%s, %s::text)::text', (run.aux, payload))[0][0]
    ctl_log.handed_out.append((opened.incarnation, mid))
    # a commit after all that: a synchronous standby has it all
    ctl.q('INSERT INTO fault.marker VALUES (%s, %s)', (run.topic, i))
    result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError('fault command failed (exit %d): %s\n%s%s'
                           % (result.returncode, command, result.stdout, result.stderr))
    run.count('faults')
    opened.close()
    ctl.close()
    if args.after_dsn and run.dsn != args.after_dsn:
        run.dsn = args.after_dsn
    ctl.connect()
    # the first thing the new server does with the auxiliary topic: VACUUM
    # its segments, then send
    ctl.q('VACUUM')
    ctl.q('BEGIN')
    mid = ctl.q('SELECT pulsar.send(%s, %s::text)::text', (run.aux, '%s:ctl:after:%d' % (run.aux, i)))[0][0]
    ctl_log.handed_out.append((ctl.incarnation, mid))
    ctl.q('ROLLBACK')
    ctl.close()
    run.resume_producers()
    print('fault: [%s] fault %d done, producers resumed' % (time.strftime('%H:%M:%S'), i + 1), flush=True)


##########################################################################
# drain and checks
##########################################################################

def backlog(ctl, run):
    stats = ctl.q('SELECT pulsar.topic_stats(%s)', (run.topic,))[0][0]
    sub = stats['subscriptions'][SUBSCRIPTION]
    return int(sub['msgBacklog']), int(sub['unackedMessages'])


def cursor_state(ctl, run):
    """The subscription's cursors, for a failure message."""
    stats = ctl.q('SELECT pulsar.topic_internal_stats(%s)', (run.topic,))[0][0]
    parts = stats.get('partitions', {run.topic: stats})
    lines = []
    for part, info in sorted(parts.items()):
        cursor = info.get('cursors', {}).get(SUBSCRIPTION, {})
        ranges = cursor.get('individuallyDeletedMessages', '?')
        if len(ranges) > 160:
            ranges = ranges[:160] + '...'
        lines.append('    %s: lastConfirmedEntry %s, markDeletePosition %s, msgBacklog %s, individuallyDeletedMessages %s'
                     % (part, info.get('lastConfirmedEntry'), cursor.get('markDeletePosition'),
                        cursor.get('msgBacklog'), ranges))
    return '\n'.join(lines)


def drain(run, drain_log, named):
    """A fresh consumer receives and logs everything left; returns whether
    the subscription ended empty."""
    args = run.args
    topic = run.topic
    ctl = Client(run, 'drain', killable=False)
    ctl.connect()
    for name in sorted(named):
        try:
            ctl.q('SELECT pulsar.close_consumer(%s, %s, %s)', (topic, SUBSCRIPTION, name))
        except pgerrors.UndefinedObject:
            pass
    deadline = time.monotonic() + args.drain_timeout + args.lease
    while True:
        try:
            ctl.q("SELECT pulsar.subscribe(%s, %s, %s, 'earliest', consumer => 'drain', "
                  "negative_ack_delay => '200 ms')", (topic, SUBSCRIPTION, run.type))
            break
        except pgerrors.ObjectInUse as e:
            if time.monotonic() > deadline:
                run.fail('drained', 'the drain consumer could not attach: %s' % error_text(e))
                return False
            time.sleep(0.3)
    txno = 0
    empty_since = None
    while True:
        txno += 1
        tx = 'drain#%d' % txno
        ctl.q('BEGIN')
        rows = ctl.q(
            "SELECT message_id::text, convert_from(payload, 'UTF8') "
            "FROM pulsar.receive(%s, %s, 500, '300 ms', consumer => 'drain')",
            (topic, SUBSCRIPTION))
        if rows:
            ctl.q('INSERT INTO fault.log (topic, payload, id, tx) '
                  'SELECT %s, p, i, %s FROM unnest(%s::text[], %s::text[]) AS u (p, i)',
                  (topic, tx, [p for _, p in rows], [i for i, _ in rows]))
            ctl.q('SELECT pulsar.ack(%s, %s, %s::pulsar.message_id[])',
                  (topic, SUBSCRIPTION, [i for i, _ in rows]))
        ctl.q('COMMIT')
        for mid, payload in rows:
            drain_log.confirmed.append((payload, mid, tx))
            drain_log.history.append((time.monotonic(), payload, tx, 'received %s, processed, ack, COMMITTED' % mid))
        if rows:
            empty_since = None
            continue
        left, unacked = backlog(ctl, run)
        if left == 0 and unacked == 0:
            break
        empty_since = empty_since or time.monotonic()
        if time.monotonic() > deadline:
            run.fail('drained',
                     'receive returns nothing but msgBacklog is %d and unackedMessages %d, for %.1fs '
                     '(exactly-once tells whether committed messages are among them)\n%s'
                     % (left, unacked, time.monotonic() - empty_since, cursor_state(ctl, run)))
            break
        time.sleep(0.3)
    # one more receive: nothing
    ctl.q('BEGIN')
    rows = ctl.q("SELECT message_id::text FROM pulsar.receive(%s, %s, 100, '500 ms', consumer => 'drain')",
                 (topic, SUBSCRIPTION))
    ctl.q('ROLLBACK')
    left, unacked = backlog(ctl, run)
    if rows or left or unacked:
        run.fail('backlog', 'after the drain: a receive returned %d messages (%s), msgBacklog %d, unackedMessages %d\n%s'
                 % (len(rows), ' '.join(r[0] for r in rows[:10]), left, unacked, cursor_state(ctl, run)))
    ctl.close()
    return True


def show(items, limit=12):
    items = list(items)
    more = ' ... (%d in all)' % len(items) if len(items) > limit else ''
    return ', '.join(str(x) for x in items[:limit]) + more


def check(run, plogs, clogs, ctl_log):
    topic = run.topic
    ctl = Client(run, 'check', killable=False)
    ctl.connect()
    sent = collections.defaultdict(list)        # payload -> [(id, tx)]
    for payload, mid, tx in ctl.q('SELECT payload, id, tx FROM fault.sent WHERE topic = %s', (topic,)):
        sent[payload].append((mid, tx))
    logged = collections.defaultdict(list)
    for payload, mid, tx in ctl.q('SELECT payload, id, tx FROM fault.log WHERE topic = %s', (topic,)):
        logged[payload].append((mid, tx))
    stored = {}
    by_id = collections.defaultdict(list)
    for part in partitions_of(run):
        after = 'earliest'
        while True:
            rows = ctl.q("SELECT message_id::text, convert_from(payload, 'UTF8') FROM pulsar.read(%s, %s, 10000)",
                         (part, after))
            if not rows:
                break
            for mid, payload in rows:
                stored[payload] = mid
                by_id[mid].append(payload)
            after = rows[-1][0]
    ledger_names = {}
    for name in (topic, run.aux):
        stats = ctl.q('SELECT pulsar.topic_internal_stats(%s)', (name,))[0][0]
        for part, info in stats.get('partitions', {name: stats}).items():
            for segment in info.get('ledgers', []):
                ledger_names[int(segment['ledgerId'])] = part
    ctl.close()

    confirmed = {}
    unknown = {}
    aborted = {}
    handed_out = []
    for log in plogs + [ctl_log]:
        confirmed.update(log.confirmed)
        unknown.update(log.unknown)
        aborted.update(log.aborted)
        handed_out.extend(log.handed_out)
    history = collections.defaultdict(list)
    for log in clogs:
        for at, payload, tx, event in log.history:
            history[payload].append((at, '%7.2fs %s %s' % (at - run.started, tx, event)))
    for events in history.values():
        events.sort()

    first_inc = {}      # id -> incarnations that handed it out
    for inc, mid in handed_out:
        first_inc.setdefault(mid, set()).add(inc)

    def story(payload):
        ids = [i for i, _ in sent.get(payload, [])]
        lines = ['    %s: sent as %s (%s)' % (payload, show(ids) or 'nothing committed',
                                               show(t for _, t in sent.get(payload, [])))]
        for mid in ids:
            if len(first_inc.get(mid, ())) > 1:
                lines.append('      its id %s was handed out by server incarnations %s'
                             % (mid, ', '.join(str(i) for i in sorted(first_inc[mid]))))
        lines += ['      %s' % h for _, h in history.get(payload, [])[:12]]
        return '\n'.join(lines)

    # committed: confirmed sends are stored with their ids
    for payload, mid in sorted(confirmed.items()):
        ids = [i for i, _ in sent.get(payload, [])]
        if ids != [mid]:
            run.fail('committed', '%s: the client saw COMMIT succeed with id %s; fault.sent has %s'
                     % (payload, mid, ids or 'nothing'))
        elif stored.get(payload) != mid:
            run.fail('committed', '%s: the client saw COMMIT succeed with id %s; the topic has %s'
                     % (payload, mid, stored.get(payload, 'nothing')))
    # ids-unique
    for mid, payloads in sorted(by_id.items()):
        if len(payloads) > 1:
            run.fail('ids-unique', 'id %s is stored for %d messages: %s' % (mid, len(payloads), show(payloads)))
    sent_ids = collections.defaultdict(list)
    for payload, rows in sent.items():
        for mid, tx in rows:
            sent_ids[mid].append('%s (%s)' % (payload, tx))
    for mid, what in sorted(sent_ids.items()):
        if len(what) > 1:
            run.fail('ids-unique', 'id %s was returned to %d committed sends: %s' % (mid, len(what), show(what)))
    # no-phantom
    for payload, mid in sorted(stored.items()):
        if payload in aborted:
            run.fail('no-phantom', '%s (%s) is in the topic, but its transaction rolled back' % (payload, mid))
        elif payload not in sent:
            run.fail('no-phantom', '%s (%s) is in the topic but not in fault.sent' % (payload, mid))
    for payload, rows in sorted(sent.items()):
        if payload in aborted:
            run.fail('no-phantom', '%s is in fault.sent, but the client saw its transaction roll back' % payload)
        if payload not in stored:
            run.fail('committed', '%s is in fault.sent (%s) but not in the topic' % (payload, rows[0][0]))
    # exactly-once
    for payload in sorted(set(sent) | set(logged)):
        rows = logged.get(payload, [])
        sent_id = sent[payload][0][0] if payload in sent else None
        if sent_id is None:
            run.fail('exactly-once', 'processed but never committed by a producer: %s (%s)\n%s'
                     % (payload, show(rows), story(payload)))
        elif not rows:
            run.fail('exactly-once', 'committed but never processed: %s (%s)\n%s'
                     % (payload, sent_id, story(payload)))
        elif len(rows) > 1:
            run.fail('exactly-once', 'processed %d times: %s (%s) by %s\n%s'
                     % (len(rows), payload, sent_id, show(t for _, t in rows), story(payload)))
        elif rows[0][0] != sent_id:
            run.fail('exactly-once', '%s was sent as %s and delivered as %s\n%s'
                     % (payload, sent_id, rows[0][0], story(payload)))
    # confirmed-log
    for log in clogs:
        for payload, mid, tx in log.confirmed:
            if (mid, tx) not in logged.get(payload, []):
                run.fail('confirmed-log', '%s (%s): %s saw its COMMIT succeed; fault.log does not have it'
                         % (payload, mid, tx))
    # ids-monotonic: per ledger, every id of incarnation i above every id
    # of the incarnations before it
    per = collections.defaultdict(lambda: collections.defaultdict(list))    # ledger -> inc -> entries
    for inc, mid in handed_out:
        ledger, entry = parse_id(mid)
        per[ledger][inc].append((entry, mid))
    for ledger, incs in sorted(per.items()):
        highest = None      # (entry, id, incarnation)
        for inc in sorted(incs):
            entries = sorted(incs[inc])
            if highest is not None and entries[0][0] <= highest[0]:
                reused = [m for e, m in entries if e <= highest[0]]
                run.fail('ids-monotonic',
                         '%s: server incarnation %d (after fault %d) handed out %s, not above %s handed out by incarnation %d'
                         % (ledger_names.get(ledger, 'ledger %d' % ledger), inc, inc, show(reused), highest[1], highest[2]))
            top = entries[-1]
            if highest is None or top[0] > highest[0]:
                highest = (top[0], top[1], inc)

    return {
        'sent': len(sent), 'confirmed': len(confirmed), 'unknown': len(unknown),
        'aborted': len(aborted), 'processed': sum(len(v) for v in logged.values()),
        'incarnations': len(run.incarnations),
    }


##########################################################################
# main
##########################################################################

def setup(run):
    ctl = Client(run, 'setup', killable=False)
    ctl.connect()
    ctl.q('CREATE SCHEMA IF NOT EXISTS fault')
    ctl.q('CREATE TABLE IF NOT EXISTS fault.sent (topic text, payload text, id text, tx text, '
          'at timestamptz DEFAULT clock_timestamp())')
    ctl.q('CREATE TABLE IF NOT EXISTS fault.log (topic text, payload text, id text, tx text, '
          'at timestamptz DEFAULT clock_timestamp())')
    ctl.q('CREATE TABLE IF NOT EXISTS fault.marker (topic text, fault int)')
    ctl.q('SELECT pulsar.create_topic(%s, %s)', (run.topic, run.args.partitions))
    ctl.q('SELECT pulsar.create_topic(%s)', (run.aux,))
    ctl.q("SELECT pulsar.subscribe(%s, %s, %s, 'earliest', consumer => 'setup')",
          (run.topic, SUBSCRIPTION, run.type))
    ctl.q("SELECT pulsar.close_consumer(%s, %s, 'setup')", (run.topic, SUBSCRIPTION))
    lease = ctl.q("SELECT extract(epoch FROM current_setting('pulsar_pg.consumer_lease')::interval)::float8")[0][0]
    ctl.close()
    return lease


def main():
    parser = argparse.ArgumentParser(description='randomized fault workload and model check for pulsar_pg')
    parser.add_argument('--dsn', required=True, help='libpq connection string of the server')
    parser.add_argument('--after-dsn', help='connect here after the first fault (the promoted standby)')
    parser.add_argument('--seed', type=int, help='random seed (default: random, printed)')
    parser.add_argument('--duration', type=float, default=20, help='seconds of load (default 20)')
    parser.add_argument('--type', choices=TYPES, default='shared')
    parser.add_argument('--partitions', type=int, default=0)
    parser.add_argument('--ack', choices=('individual', 'cumulative', 'mixed'),
                        help='exclusive and failover: ack_cumulative always, sometimes (mixed, '
                        'the default) or never (individual, which also nacks)')
    parser.add_argument('--producers', type=int, default=3)
    parser.add_argument('--consumers', type=int, default=4)
    parser.add_argument('--hold-probability', type=float, default=0.06,
                        help='chance a consumer holds its transaction open for 0.3 to 2 leases')
    parser.add_argument('--fault', action='append', default=[],
                        help='shell command run during the load, after a VACUUM (repeatable; evenly spaced)')
    parser.add_argument('--drain-timeout', type=float, default=20,
                        help='seconds (beyond one lease) the drain may wait for messages to come back (default 20)')
    parser.add_argument('--topic', help='topic name (default: from the type, partitions and seed)')
    parser.add_argument('--no-chaos', action='store_true', help='do not terminate client backends')
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2 ** 31)
    if args.ack is None:
        args.ack = 'mixed' if args.type in ('exclusive', 'failover') else 'individual'
    if args.ack != 'individual' and args.type not in ('exclusive', 'failover'):
        parser.error('--ack %s needs an exclusive or failover subscription' % args.ack)
    if args.topic is None:
        args.topic = 'fault-%s-%dp-%d-%d' % (args.type, args.partitions, args.seed, int(time.time() * 1000) % 1000000)

    what = 'seed=%d type=%s partitions=%d ack=%s duration=%gs faults=%d' % (
        args.seed, args.type, args.partitions, args.ack, args.duration, len(args.fault))
    print('fault: %s topic=%s' % (what, args.topic), flush=True)
    print('fault: to repeat: --seed %d (PULSAR_FAULT_SEED=%d)' % (args.seed, args.seed), flush=True)

    run = Run(args)
    try:
        args.lease = setup(run)
    except Exception as e:
        print('fault: setup failed: %s' % e, flush=True)
        return 2

    plogs = [ProducerLog() for _ in range(args.producers)]
    clogs = [ConsumerLog() for _ in range(args.consumers)]
    ctl_log = ProducerLog()
    threads = [threading.Thread(target=producer, args=(run, k, plogs[k]), name='p%d' % k, daemon=True)
               for k in range(args.producers)]
    threads += [threading.Thread(target=consumer, args=(run, k, clogs[k]), name='c%d' % k, daemon=True)
                for k in range(args.consumers)]
    chaos_thread = None
    if not args.no_chaos:
        chaos_thread = threading.Thread(target=chaos, args=(run,), name='chaos', daemon=True)
        threads.append(chaos_thread)
    start = run.started = time.monotonic()
    for t in threads:
        t.start()

    aborted_run = None
    try:
        for i, command in enumerate(args.fault):
            at = start + args.duration * (i + 1) / (len(args.fault) + 1)
            time.sleep(max(0, at - time.monotonic()))
            inject_fault(run, i, command, ctl_log)
        time.sleep(max(0, start + args.duration - time.monotonic()))
    except Exception as e:
        aborted_run = 'the run stopped: %s' % e
        traceback.print_exc()
        run.resume_producers()

    run.stop_producers.set()
    run.resume_producers()
    run.stop_consumers.set()
    run.stop_chaos.set()
    for t in threads:
        t.join(120)
        if t.is_alive():
            run.fail('errors', 'thread %s did not stop within 120s' % t.name)
    if any(t.is_alive() for t in threads):
        for t in threads:
            if t.is_alive():
                frame = sys._current_frames().get(t.ident)
                print('fault: thread %s is stuck at:\n%s' % (t.name, ''.join(traceback.format_stack(frame))))
        aborted_run = aborted_run or 'threads did not stop'
    print('fault: [%s] load stopped after %.1fs; draining' % (time.strftime('%H:%M:%S'), time.monotonic() - start),
          flush=True)

    drain_log = ConsumerLog()
    named = set()
    for log in clogs:
        named |= log.named
    summary = {}
    try:
        drain(run, drain_log, named)
        summary = check(run, plogs, clogs + [drain_log], ctl_log)
    except Exception as e:
        aborted_run = aborted_run or 'drain or check failed: %s' % e
        traceback.print_exc()
    if aborted_run:
        run.fail('errors', aborted_run)

    counts = dict(run.counts)
    counts.update(summary)
    print('fault: counts: %s' % ', '.join('%s %s' % (k, v) for k, v in sorted(counts.items())), flush=True)
    if run.failures:
        for name, lines in run.failures.items():
            print('fault: FAILED %s (%d):' % (name, len(lines)))
            for line in lines[:15]:
                print('  ' + line.replace('\n', '\n  '))
            if len(lines) > 15:
                print('  ... %d more' % (len(lines) - 15))
        print('fault: FAIL %s: %s' % (what, ' '.join(run.failures)), flush=True)
        return 1
    print('fault: PASS %s' % what, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
