"""Reconnection: a server restart, a killed session, a multi-host URL.
Each test runs its own server (the private_server fixture) and stops it."""

import threading
import time

import psycopg
import pytest

import pulsar_pg as pulsar

Earliest = pulsar.InitialPosition.Earliest


def admin(server):
    return psycopg.connect(server.dsn(), autocommit=True)


def test_producer_and_consumer_survive_a_server_restart(private_server):
    client = pulsar.Client(private_server.dsn(), operation_timeout_seconds=60)
    producer = client.create_producer("r")
    consumer = client.subscribe("r", "s", initial_position=Earliest, receiver_queue_size=2)
    for i in range(4):
        producer.send(b"a%d" % i)
    acked = []
    for _ in range(3):
        m = consumer.receive(5000)
        consumer.acknowledge(m)
        acked.append(m.message_id())
    consumer.flush_acknowledgements()
    unacked = consumer.receive(5000)          # received, never acknowledged

    private_server.stop()
    private_server.start()

    producer.send(b"after")                   # reconnects
    seen = []
    while True:
        try:
            m = consumer.receive(3000)
        except pulsar.Timeout:
            break
        seen.append(m)
        consumer.acknowledge(m)
    ids = [m.message_id() for m in seen]
    assert not set(ids) & set(acked), "an acknowledged message came back"
    assert unacked.message_id() in ids         # at least once
    assert seen[-1].data() == b"after"
    assert consumer._conn.reconnects >= 1 and producer._conn.reconnects >= 1
    client.close()


def test_a_waiting_consumer_reconnects_and_listens_again(private_server):
    client = pulsar.Client(private_server.dsn(), operation_timeout_seconds=60)
    consumer = client.subscribe("w", "s")
    got = []
    thread = threading.Thread(target=lambda: got.append(consumer.receive(60000)))
    thread.start()
    time.sleep(0.5)
    private_server.stop()
    private_server.start()
    # wait until the consumer subscribed again, then publish once
    deadline = time.monotonic() + 30
    with admin(private_server) as conn:
        while time.monotonic() < deadline:
            n = conn.execute("SELECT count(*) FROM pg_stat_activity"
                             " WHERE application_name = 'pulsar_pg consumer'").fetchone()[0]
            if n == 1 and consumer._conn.reconnects == 1:
                break
            time.sleep(0.1)
        conn.execute("SELECT pulsar.send('w', 'woken')")
    thread.join(30)
    assert got and got[0].data() == b"woken"
    client.close()


def test_grouped_acks_survive_a_lost_connection(private_server):
    client = pulsar.Client(private_server.dsn(), operation_timeout_seconds=60)
    consumer = client.subscribe("g", "s", initial_position=Earliest, ack_grouping_time_ms=60000,
                                receiver_queue_size=1)
    with admin(private_server) as conn:
        conn.execute("SELECT pulsar.send('g', 'one')")
        first = consumer.receive(5000)
        consumer.acknowledge(first)                 # grouped, not sent yet
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                     " WHERE application_name = 'pulsar_pg consumer'")
        conn.execute("SELECT pulsar.send('g', 'two')")
        assert consumer.receive(10000).data() == b"two"
        backlog = conn.execute("SELECT pulsar.topic_stats('g')->'subscriptions'->'s'->>'msgBacklog'"
                               ).fetchone()[0]
    assert backlog == "1"                           # only "two", received and unacked
    client.close()


def test_multi_host_url_finds_the_primary(private_server, tmp_path):
    url = "host=%s,%s port=%d,%d dbname=postgres user=postgres target_session_attrs=read-write" % (
        tmp_path, private_server.dir, private_server.port, private_server.port)
    with pulsar.Client(url) as client:
        assert client.create_producer("m").send(b"x").entry_id() == 0


def test_gives_up_after_the_operation_timeout(private_server):
    client = pulsar.Client(private_server.dsn(), operation_timeout_seconds=1)
    producer = client.create_producer("down")
    producer.send(b"x")
    private_server.stop()
    start = time.monotonic()
    with pytest.raises(pulsar.ConnectError):
        producer.send(b"y")
    assert time.monotonic() - start < 10
    private_server.start()
    producer.send(b"z")
    client.close()
