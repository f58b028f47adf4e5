"""bench/python.py: the Python client (pulsar_pg) against bare SQL through
psycopg, side by side in one run on one server; prints ratios.

usage: /usr/bin/python3 bench/python.py CONNINFO [SECONDS]   (bench/python.sh runs it)

  send       producer.send() vs a psycopg loop of SELECT pulsar.send(%s, %s::bytea)
  async      producer.send_async() with batching vs producer.send()
  consume    consumer.receive() + acknowledge() per message (receiver_queue_size
             100) vs bare SQL: SELECT * FROM pulsar.receive(..., 100) then
             pulsar.ack(..., ids) per batch, both from a backlog
  latency    end to end at 1,000 msg/s: two producer processes, 500 msg/s
             each, one consumer waiting on LISTEN; from the return of the
             producer's send (its commit) to the consumer's receive()
             return, both on CLOCK_MONOTONIC
"""

import multiprocessing
import statistics
import sys
import time
import uuid

import psycopg

import pulsar_pg as pulsar

PAYLOAD = b"x" * 100
ROUNDS = 3


def rate(n, seconds):
    return n / seconds if seconds > 0 else float("inf")


def bare_send(dsn, topic, n):
    with psycopg.connect(dsn, autocommit=True) as conn:
        start = time.perf_counter()
        for _ in range(n):
            conn.execute("SELECT pulsar.send(%s, %s::bytea)", (topic, PAYLOAD)).fetchone()
        return rate(n, time.perf_counter() - start)


def client_send(client, topic, n):
    producer = client.create_producer(topic)
    start = time.perf_counter()
    for _ in range(n):
        producer.send(PAYLOAD)
    elapsed = time.perf_counter() - start
    producer.close()
    return rate(n, elapsed)


def client_send_async(client, topic, n):
    producer = client.create_producer(topic, batching_enabled=True, batching_max_messages=1000,
                                      batching_max_publish_delay_ms=10,
                                      max_pending_messages=10000, block_if_queue_full=True)
    start = time.perf_counter()
    for _ in range(n):
        producer.send_async(PAYLOAD, None)
    producer.flush()
    elapsed = time.perf_counter() - start
    producer.close()
    return rate(n, elapsed)


def fill(dsn, topic, sub, n):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pulsar.subscribe(%s, %s, 'exclusive', 'earliest')", (topic, sub))
        conn.execute("SELECT pulsar.close_consumer(%s, %s)", (topic, sub))
        for _ in range(n // 1000):
            conn.execute("SELECT count(*) FROM pulsar.send_batch(%s, %s::bytea[])",
                         (topic, [PAYLOAD] * 1000))


def bare_consume(dsn, topic, sub, n):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pulsar.subscribe(%s, %s, 'exclusive', 'earliest')", (topic, sub))
        got = 0
        start = time.perf_counter()
        while got < n:
            ids = [r[0] for r in conn.execute(
                "SELECT * FROM pulsar.receive(%s, %s, 100)", (topic, sub))]
            conn.execute("SELECT pulsar.ack(%s, %s, %s::pulsar.message_id[])", (topic, sub, ids))
            got += len(ids)
        return rate(got, time.perf_counter() - start)


def client_consume(client, topic, sub, n):
    consumer = client.subscribe(topic, sub, initial_position=pulsar.InitialPosition.Earliest,
                                receiver_queue_size=100)
    start = time.perf_counter()
    for _ in range(n):
        consumer.acknowledge(consumer.receive(10000))
    consumer.flush_acknowledgements()
    elapsed = time.perf_counter() - start
    consumer.close()
    return rate(n, elapsed)


def produce_at(dsn, topic, per_second, seconds, out):
    client = pulsar.Client(dsn)
    producer = client.create_producer(topic)
    sent = []
    start = time.monotonic()
    n = int(per_second * seconds)
    for i in range(n):
        due = start + i / per_second
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        message_id = producer.send(PAYLOAD)
        sent.append((str(message_id), time.monotonic()))
    client.close()
    out.send(sent)


def latency(dsn, seconds):
    topic = "lat-" + uuid.uuid4().hex[:8]
    client = pulsar.Client(dsn)
    consumer = client.subscribe(topic, "s", receiver_queue_size=100)
    received = {}
    pipes, procs = [], []
    for _ in range(2):
        parent, child = multiprocessing.Pipe()
        p = multiprocessing.Process(target=produce_at, args=(dsn, topic, 500, seconds, child))
        p.start()
        pipes.append(parent)
        procs.append(p)
    total = 2 * 500 * seconds
    started = time.monotonic()
    while len(received) < total:
        try:
            m = consumer.receive(10000)
        except pulsar.Timeout:
            break
        received[str(m.message_id())] = time.monotonic()
        consumer.acknowledge(m)
    elapsed = time.monotonic() - started
    sent = []
    for parent, p in zip(pipes, procs):
        sent.extend(parent.recv())
        p.join()
    client.close()
    # Leave out the first second (connections, prepared statements).
    first = min(t for _, t in sent) + 1.0
    lat = sorted(max(0.0, received[i] - t) * 1000 for i, t in sent if i in received and t >= first)
    lost = sum(1 for i, _ in sent if i not in received)
    return lat, lost, len(sent) / elapsed


def pct(values, p):
    return values[min(len(values) - 1, int(len(values) * p / 100.0))]


def main():
    dsn = sys.argv[1]
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    n = 1000
    client = pulsar.Client(dsn)
    # warm up: topics, connections, plans
    bare_send(dsn, "warm", 200)
    client_send(client, "warm", 200)

    bare, ours, async_ = [], [], []
    for r in range(ROUNDS):
        bare.append(bare_send(dsn, "send-bare-%d" % r, n))
        ours.append(client_send(client, "send-client-%d" % r, n))
        async_.append(client_send_async(client, "send-async-%d" % r, 10 * n))
    b, o, a = statistics.median(bare), statistics.median(ours), statistics.median(async_)
    print("| producer.send vs bare SELECT pulsar.send loop | %.0f vs %.0f msg/s | %.2f x |" % (o, b, o / b))
    print("| send_async (batching) vs producer.send | %.0f vs %.0f msg/s | %.2f x |" % (a, o, a / o))

    m = 5000
    bare_c, ours_c = [], []
    for r in range(ROUNDS):
        fill(dsn, "cons-bare-%d" % r, "s", m)
        fill(dsn, "cons-client-%d" % r, "s", m)
        bare_c.append(bare_consume(dsn, "cons-bare-%d" % r, "s", m))
        ours_c.append(client_consume(client, "cons-client-%d" % r, "s", m))
    bc, oc = statistics.median(bare_c), statistics.median(ours_c)
    print("| receive + acknowledge vs bare receive(100) + ack | %.0f vs %.0f msg/s | %.2f x |" % (oc, bc, oc / bc))
    client.close()

    lat, lost, achieved = latency(dsn, seconds)
    print("| end to end at 1,000 msg/s through LISTEN (%d messages, %.0f msg/s achieved, %d lost) "
          "| p50 %.2f ms, p99 %.2f ms, max %.2f ms | |"
          % (len(lat), achieved, lost, pct(lat, 50), pct(lat, 99), lat[-1]))


if __name__ == "__main__":
    main()
