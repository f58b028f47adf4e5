import datetime
import threading
import time

import psycopg
import pytest

import pulsar_pg as pulsar


def read_all(sql, topic):
    return sql.execute(
        "SELECT message_id::text, key, payload, properties, event_time, producer, sequence_id"
        " FROM pulsar.read(%s, 'earliest', 1000)", (topic,)).fetchall()


def test_send_returns_the_stored_message_id(client, sql, topic):
    producer = client.create_producer(topic)
    ids = [producer.send(("hello-%d" % i).encode()) for i in range(3)]
    rows = read_all(sql, topic)
    assert [r[0] for r in rows] == [str(i) for i in ids]
    assert [bytes(r[2]) for r in rows] == [b"hello-0", b"hello-1", b"hello-2"]
    assert ids[0] < ids[1] < ids[2]
    assert producer.topic() == topic


def test_send_with_key_properties_and_event_time(client, sql, topic):
    producer = client.create_producer(topic)
    producer.send(b"x", properties={"a": "1", "b": "two"}, partition_key="k7",
                  event_timestamp=1700000000123)
    row = read_all(sql, topic)[0]
    assert row[1] == "k7"
    assert row[3] == {"a": "1", "b": "two"}
    assert row[4] == datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, datetime.timezone.utc)


def test_send_rejects_bad_arguments(client, topic):
    producer = client.create_producer(topic)
    with pytest.raises(TypeError):
        producer.send("a str, not bytes")
    with pytest.raises(TypeError):
        producer.send(b"x", properties={"a": 1})
    with pytest.raises(TypeError):
        producer.send(b"x", partition_key=5)
    with pytest.raises(TypeError):
        producer.send(b"x", event_timestamp="now")
    with pytest.raises(TypeError):
        producer.send(b"x", deliver_after=5)
    with pytest.raises(ValueError):
        producer.send(b"x", deliver_at=int(time.time() * 1000),
                      deliver_after=datetime.timedelta(seconds=1))
    with pytest.raises(ValueError):
        producer.send(b"x", sequence_id=-3)
    with pytest.raises(TypeError):
        producer.send_async(b"x", callback=5)
    with pytest.raises(ValueError):
        client.create_producer("")
    with pytest.raises(ValueError):
        client.create_producer(topic, batching_max_messages=0)


def test_string_schema(client, topic):
    producer = client.create_producer(topic, schema=pulsar.StringSchema())
    producer.send("héllo")
    consumer = client.subscribe(topic, "s", schema=pulsar.StringSchema(),
                                initial_position=pulsar.InitialPosition.Earliest)
    message = consumer.receive(5000)
    assert message.value() == "héllo"
    assert message.data() == "héllo".encode()


def test_message_too_big(client, sql, topic):
    size = sql.execute("SELECT pg_size_bytes(current_setting('pulsar_pg.max_message_size'))"
                       ).fetchone()[0]
    producer = client.create_producer(topic)
    with pytest.raises(pulsar.PulsarException) as info:
        producer.send(b"x" * (size + 1))
    assert info.value.sqlstate is not None


def test_deliver_after_holds_the_message_back_from_shared(client, topic):
    consumer = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared)
    producer = client.create_producer(topic)
    start = time.monotonic()
    producer.send(b"later", deliver_after=datetime.timedelta(milliseconds=700))
    message = consumer.receive(10000)
    assert message.data() == b"later"
    assert time.monotonic() - start >= 0.6
    consumer.acknowledge(message)


def test_deliver_at(client, topic):
    consumer = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared)
    producer = client.create_producer(topic)
    producer.send(b"at", deliver_at=int(time.time() * 1000) + 600)
    with pytest.raises(pulsar.Timeout):
        consumer.receive(200)
    assert consumer.receive(10000).data() == b"at"


def test_send_async_batches_and_calls_back_after_commit(client, sql, topic):
    producer = client.create_producer(topic, batching_enabled=True, batching_max_messages=50,
                                      batching_max_publish_delay_ms=1000)
    results = []
    done = threading.Event()

    def callback(result, message_id):
        # the message is committed: another session can read it
        visible = sql.execute("SELECT count(*) FROM pulsar.read(%s, %s::pulsar.message_id, 1)",
                              (topic, str(pulsar.MessageId(message_id.partition(),
                                                           message_id.ledger_id(),
                                                           message_id.entry_id() - 1)))
                              ).fetchone()[0]
        results.append((result, message_id, visible))
        if len(results) == 120:
            done.set()

    for i in range(120):
        producer.send_async(b"m%d" % i, callback, properties={"i": str(i)} if i % 2 else None,
                            partition_key="k" if i % 3 else None)
    producer.flush()
    assert done.is_set()
    assert all(r[0] == pulsar.Result.Ok for r in results)
    assert all(r[2] == 1 for r in results)
    ids = [r[1] for r in results]
    assert ids == sorted(ids)
    rows = read_all(sql, topic)
    assert [bytes(r[2]) for r in rows] == [b"m%d" % i for i in range(120)]
    assert rows[1][3] == {"i": "1"} and rows[0][3] is None
    assert rows[1][1] == "k" and rows[0][1] is None
    # 50 + 50 + 20: three statements, so three transactions
    assert sql.execute("SELECT count(DISTINCT publish_time) FROM pulsar.read(%s, 'earliest', 1000)",
                       (topic,)).fetchone()[0] <= 3


def test_send_async_without_batching(client, sql, topic):
    producer = client.create_producer(topic)
    got = []
    for i in range(5):
        producer.send_async(b"%d" % i, lambda r, m: got.append((r, m)))
    producer.close()
    assert [r for r, _ in got] == [pulsar.Result.Ok] * 5
    assert len(read_all(sql, topic)) == 5


def test_send_async_error_reaches_the_callback(client):
    producer = client.create_producer("nosuchtenant/ns/t2")
    got = []
    producer.send_async(b"x", lambda r, m: got.append((r, m)))
    producer.flush()
    assert got == [(pulsar.Result.TopicNotFound, None)]


def test_full_queue_raises_producer_queue_is_full(client, topic):
    producer = client.create_producer(topic, batching_enabled=True, batching_max_messages=100,
                                      batching_max_publish_delay_ms=60000,
                                      max_pending_messages=2)
    producer.send_async(b"1", None)
    producer.send_async(b"2", None)
    with pytest.raises(pulsar.ProducerQueueIsFull):
        producer.send_async(b"3", None)
    producer.flush()


def test_send_waits_for_earlier_send_async(client, sql, topic):
    producer = client.create_producer(topic, batching_enabled=True,
                                      batching_max_publish_delay_ms=60000)
    producer.send_async(b"first", None)
    producer.send(b"second")
    assert [bytes(r[2]) for r in read_all(sql, topic)] == [b"first", b"second"]


def test_named_producer_continues_its_sequence_after_a_restart(client, sql):
    topic = "public/dedup/seq-" + str(time.monotonic_ns())
    producer = client.create_producer(topic, producer_name="p1")
    assert producer.last_sequence_id() == -1
    for i in range(3):
        producer.send(b"%d" % i)
    assert producer.last_sequence_id() == 2
    producer.close()
    again = client.create_producer(topic, producer_name="p1")
    assert again.last_sequence_id() == 2
    # a message sent again after an unknown outcome is dropped
    assert again.send(b"1", sequence_id=1) is None
    again.send(b"3")
    rows = read_all(sql, topic)
    assert [(r[5], r[6]) for r in rows] == [("p1", 0), ("p1", 1), ("p1", 2), ("p1", 3)]
    far = client.create_producer(topic, producer_name="p2", initial_sequence_id=99)
    far.send(b"x")
    assert far.last_sequence_id() == 100
    far.close()
    assert client.create_producer(topic, producer_name="p2").last_sequence_id() == 100


def test_sequence_ids_of_a_large_explicit_id(client):
    topic = "public/dedup/big-" + str(time.monotonic_ns())
    producer = client.create_producer(topic, producer_name="big")
    producer.send(b"x", sequence_id=(1 << 62) + 12345)
    producer.close()
    assert client.create_producer(topic, producer_name="big").last_sequence_id() == (1 << 62) + 12345


def test_outbox_send_in_the_callers_transaction(client, dsn, sql, topic):
    sql.execute("SELECT pulsar.create_topic(%s)", (topic,))
    producer = client.create_producer(topic)
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TEMP TABLE orders (id int)")
        conn.execute("INSERT INTO orders VALUES (1)")
        message_id = producer.send(b"rolled back", connection=conn)
        assert isinstance(message_id, pulsar.MessageId)
        conn.rollback()
        conn.execute("CREATE TEMP TABLE orders (id int)")
        conn.execute("INSERT INTO orders VALUES (2)")
        producer.send(b"committed", connection=conn)
        assert read_all(sql, topic) == []       # not before the commit
        conn.commit()
    assert [bytes(r[2]) for r in read_all(sql, topic)] == [b"committed"]
    with pytest.raises(TypeError):
        producer.send(b"x", connection="not a connection")


def test_outbox_error_in_the_callers_transaction(client, dsn):
    producer = client.create_producer("nosuchtenant/ns/t")
    with psycopg.connect(dsn) as conn:
        with pytest.raises(pulsar.TopicNotFound):
            producer.send(b"x", connection=conn)


def test_partitioned_topic_routes_by_key(client, sql, topic):
    sql.execute("SELECT pulsar.create_topic(%s, 4)", (topic,))
    producer = client.create_producer(topic)
    message_id = producer.send(b"x", partition_key="customer-7")
    expected = sql.execute("SELECT pulsar.partition_for_key('customer-7', 4)").fetchone()[0]
    assert message_id.partition() == expected
