import threading
import time

import psycopg
import pytest

import pulsar_pg as pulsar

from conftest import stats

Earliest = pulsar.InitialPosition.Earliest


def publish(client, topic, n, prefix=b"m"):
    producer = client.create_producer(topic)
    ids = [producer.send(prefix + b"%d" % i) for i in range(n)]
    producer.close()
    return ids


def backlog(sql, topic, sub):
    return stats(sql, topic)["subscriptions"][sub]["msgBacklog"]


def test_receive_acknowledge_and_message_accessors(client, sql, topic):
    producer = client.create_producer(topic)
    sent = producer.send(b"hello", properties={"p": "v"}, partition_key="k",
                         event_timestamp=1700000000000)
    consumer = client.subscribe(topic, "s", initial_position=Earliest)
    message = consumer.receive(5000)
    assert message.data() == b"hello" and message.value() == b"hello"
    assert message.properties() == {"p": "v"}
    assert message.partition_key() == "k"
    assert message.event_timestamp() == 1700000000000
    assert abs(message.publish_timestamp() - time.time() * 1000) < 60000
    assert message.message_id() == sent
    assert message.redelivery_count() == 0
    assert message.topic_name() == "persistent://public/default/" + topic
    consumer.acknowledge(message)
    consumer.close()
    assert backlog(sql, topic, "s") == 0


def test_initial_position_latest_skips_older_messages(client, topic):
    publish(client, topic, 2, b"old")
    consumer = client.subscribe(topic, "s")
    publish(client, topic, 1, b"new")
    assert consumer.receive(5000).data() == b"new0"


def test_receive_timeout_raises_timeout(client, topic):
    consumer = client.subscribe(topic, "s")
    start = time.monotonic()
    with pytest.raises(pulsar.Timeout):
        consumer.receive(300)
    assert 0.25 <= time.monotonic() - start < 5
    with pytest.raises(ValueError):
        consumer.receive(-1)


def test_a_waiting_consumer_is_woken_by_notify(client, topic):
    consumer = client.subscribe(topic, "s")
    got = []

    def receive():
        got.append((consumer.receive(20000), time.monotonic()))

    thread = threading.Thread(target=receive)
    thread.start()
    time.sleep(0.5)
    sent_at = time.monotonic()
    publish(client, topic, 1)
    thread.join(30)
    assert got and got[0][0].data() == b"m0"
    # woken by the worker's NOTIFY, far sooner than the keep-alive receive
    assert got[0][1] - sent_at < consumer._keepalive_s / 2


def test_receiver_queue_size_prefetches(client, sql, topic):
    publish(client, topic, 10)
    consumer = client.subscribe(topic, "s", initial_position=Earliest, receiver_queue_size=4)
    first = consumer.receive(5000)
    assert first.data() == b"m0"
    assert stats(sql, topic)["subscriptions"]["s"]["unackedMessages"] == 4
    datas = [first.data()] + [consumer.receive(5000).data() for _ in range(9)]
    assert datas == [b"m%d" % i for i in range(10)]


def test_a_backlog_larger_than_the_queue_is_received_without_notifications(client, topic):
    publish(client, topic, 10)
    consumer = client.subscribe(topic, "s", initial_position=Earliest, receiver_queue_size=3)
    time.sleep(1.5)     # the worker's notifications for the publish are long gone
    consumer._notified = False
    start = time.monotonic()
    assert [consumer.receive(3000).data() for _ in range(10)] == [b"m%d" % i for i in range(10)]
    assert time.monotonic() - start < 3


def test_grouped_acks_are_sent_before_the_next_receive_and_on_close(client, sql, topic):
    publish(client, topic, 5)
    consumer = client.subscribe(topic, "s", initial_position=Earliest,
                                ack_grouping_time_ms=60000)
    for _ in range(5):
        consumer.acknowledge(consumer.receive(5000))
    assert backlog(sql, topic, "s") == 5            # still grouped in the client
    consumer.flush_acknowledgements()
    assert backlog(sql, topic, "s") == 0
    publish(client, topic, 1)
    consumer.acknowledge(consumer.receive(5000).message_id())
    consumer.close()
    assert backlog(sql, topic, "s") == 0


def test_acknowledge_cumulative(client, sql, topic):
    publish(client, topic, 5)
    consumer = client.subscribe(topic, "s", initial_position=Earliest)
    messages = [consumer.receive(5000) for _ in range(5)]
    consumer.acknowledge_cumulative(messages[3])
    assert backlog(sql, topic, "s") == 1


def test_acknowledge_cumulative_is_refused_on_shared(client, topic):
    publish(client, topic, 1)
    consumer = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared,
                                initial_position=Earliest)
    message = consumer.receive(5000)
    with pytest.raises(pulsar.CumulativeAcknowledgementNotAllowedError) as info:
        consumer.acknowledge_cumulative(message)
    assert info.value.sqlstate == "0A000"


def test_acknowledge_rejects_other_types(client, topic):
    consumer = client.subscribe(topic, "s")
    with pytest.raises(TypeError):
        consumer.acknowledge("1:2:-1")


def test_negative_acknowledge_redelivers_after_the_delay(client, topic):
    publish(client, topic, 1)
    consumer = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared,
                                initial_position=Earliest,
                                negative_ack_redelivery_delay_ms=300)
    message = consumer.receive(5000)
    start = time.monotonic()
    consumer.negative_acknowledge(message)
    again = consumer.receive(10000)
    assert again.message_id() == message.message_id()
    assert again.redelivery_count() == 1
    assert time.monotonic() - start >= 0.25


def test_unacked_messages_timeout_redelivers(client, topic):
    publish(client, topic, 1)
    consumer = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared,
                                initial_position=Earliest, unacked_messages_timeout_ms=300)
    message = consumer.receive(5000)
    again = consumer.receive(10000)
    assert again.message_id() == message.message_id()
    assert again.redelivery_count() == 1


def test_dead_letter_policy(client, topic):
    publish(client, topic, 1)
    consumer = client.subscribe(
        topic, "s", consumer_type=pulsar.ConsumerType.Shared, initial_position=Earliest,
        negative_ack_redelivery_delay_ms=0,
        dead_letter_policy=pulsar.ConsumerDeadLetterPolicy(max_redeliver_count=1,
                                                           dead_letter_topic=topic + "-dlq"))
    consumer.negative_acknowledge(consumer.receive(5000))
    consumer.negative_acknowledge(consumer.receive(5000))
    with pytest.raises(pulsar.Timeout):
        consumer.receive(500)
    reader = client.create_reader(topic + "-dlq", pulsar.MessageId.earliest)
    dead = reader.read_next(5000)
    assert dead.data() == b"m0"
    assert dead.properties()["REAL_TOPIC"] == "persistent://public/default/" + topic
    with pytest.raises(ValueError):
        pulsar.ConsumerDeadLetterPolicy(0)


def test_seek_to_a_message_earliest_latest_and_a_time(client, topic):
    ids = publish(client, topic, 5)
    consumer = client.subscribe(topic, "s", initial_position=Earliest)
    for _ in range(5):
        consumer.acknowledge(consumer.receive(5000))
    consumer.seek(ids[2])
    assert consumer.receive(5000).message_id() == ids[2]
    consumer.seek(pulsar.MessageId.earliest)
    assert consumer.receive(5000).message_id() == ids[0]
    consumer.seek(pulsar.MessageId.latest)
    with pytest.raises(pulsar.Timeout):
        consumer.receive(300)
    consumer.seek(0)         # 1970: every message
    assert consumer.receive(5000).message_id() == ids[0]
    with pytest.raises(TypeError):
        consumer.seek("earliest")


def test_exclusive_refuses_a_second_consumer(client, topic):
    client.subscribe(topic, "s")
    with pytest.raises(pulsar.ConsumerBusy) as info:
        client.subscribe(topic, "s")
    assert info.value.sqlstate == "55006"


def test_shared_consumers_split_the_messages(client, topic):
    a = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared,
                         receiver_queue_size=1, consumer_name="a")
    b = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared,
                         receiver_queue_size=1, consumer_name="b")
    publish(client, topic, 2)
    got = {a.receive(5000).data(), b.receive(5000).data()}
    assert got == {b"m0", b"m1"}


def test_key_shared_and_failover_subscribe(client, sql, topic):
    for kind in (pulsar.ConsumerType.KeyShared, pulsar.ConsumerType.Failover):
        c = client.subscribe(topic, kind.name, consumer_type=kind)
        assert stats(sql, topic)["subscriptions"][kind.name]["type"].lower().replace("_", "") \
            == kind.name.lower()
        c.close()


def test_unsubscribe(client, sql, topic):
    consumer = client.subscribe(topic, "gone")
    consumer.unsubscribe()
    assert "gone" not in stats(sql, topic)["subscriptions"]
    with pytest.raises(pulsar.AlreadyClosed):
        consumer.receive(10)


def test_close_gives_prefetched_messages_back(client, topic):
    publish(client, topic, 3)
    first = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared,
                             initial_position=Earliest)
    first.receive(5000)
    first.close()
    second = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared)
    assert sorted(second.receive(5000).data() for _ in range(3)) == [b"m0", b"m1", b"m2"]


def test_message_listener(client, topic):
    got = []
    done = threading.Event()

    def listener(consumer, message):
        got.append(message.data())
        consumer.acknowledge(message)
        if len(got) == 3:
            done.set()

    consumer = client.subscribe(topic, "s", message_listener=listener)
    with pytest.raises(pulsar.InvalidConfiguration):
        consumer.receive(10)
    publish(client, topic, 3)
    assert done.wait(20)
    assert got == [b"m0", b"m1", b"m2"]
    consumer.close()


def test_subscribe_rejects_bad_arguments(client, topic):
    with pytest.raises(ValueError):
        client.subscribe(topic, "s", consumer_type="shared")
    with pytest.raises(ValueError):
        client.subscribe(topic, "s", initial_position="earliest")
    with pytest.raises(ValueError):
        client.subscribe(topic, "")
    with pytest.raises(ValueError):
        client.subscribe([topic], "s")
    with pytest.raises(ValueError):
        client.subscribe(topic, "s", receiver_queue_size=-1)
    with pytest.raises(ValueError):
        client.subscribe(topic, "s", negative_ack_redelivery_delay_ms=-5)
    with pytest.raises(ValueError):
        client.subscribe(topic, "s", message_listener="nope")
    with pytest.raises(pulsar.InvalidConfiguration) as info:
        client.subscribe(topic, "bad name!")
    assert info.value.sqlstate is not None


def test_keepalive_keeps_an_idle_consumer_attached(client, sql, topic):
    consumer = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared)
    consumer._keepalive_s = 0.2        # as if pulsar_pg.consumer_lease were 0.6 s
    with pytest.raises(pulsar.Timeout):
        consumer.receive(1000)
    assert len(stats(sql, topic)["subscriptions"]["s"]["consumers"]) == 1


# -- exactly-once --------------------------------------------------------------

@pytest.fixture
def results(dsn, topic):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE %s_results (body bytea)" % topic.replace("-", "_"))
    return topic.replace("-", "_") + "_results"


def rows(sql, table):
    return [bytes(r[0]) for r in sql.execute("SELECT body FROM %s ORDER BY 1" % table)]


def test_transaction_commits_results_and_acks_together(client, sql, topic, results):
    publish(client, topic, 2)
    consumer = client.subscribe(topic, "s", initial_position=Earliest)
    for _ in range(2):
        with consumer.transaction() as tx:
            message = tx.receive(5000)
            tx.connection.execute("INSERT INTO %s VALUES (%%s)" % results, (message.data(),))
            tx.acknowledge(message)
        assert tx.committed
    assert rows(sql, results) == [b"m0", b"m1"]
    assert backlog(sql, topic, "s") == 0


def test_transaction_rolled_back_by_an_error_leaves_the_message(client, sql, topic, results):
    publish(client, topic, 1)
    consumer = client.subscribe(topic, "s", initial_position=Earliest)
    with pytest.raises(RuntimeError):
        with consumer.transaction() as tx:
            message = tx.receive(5000)
            tx.connection.execute("INSERT INTO %s VALUES (%%s)" % results, (message.data(),))
            tx.acknowledge(message)
            raise RuntimeError("processing failed")
    assert not tx.committed
    assert rows(sql, results) == []
    assert backlog(sql, topic, "s") == 1
    with consumer.transaction() as tx:
        again = tx.receive(5000)
        assert again.message_id() == message.message_id()
        tx.connection.execute("INSERT INTO %s VALUES (%%s)" % results, (again.data(),))
        tx.acknowledge(again)
    assert rows(sql, results) == [b"m0"]
    assert backlog(sql, topic, "s") == 0


def test_transaction_takes_prefetched_messages_and_returns_them_on_rollback(client, topic):
    publish(client, topic, 3)
    consumer = client.subscribe(topic, "s", initial_position=Earliest)
    assert consumer.receive(5000).data() == b"m0"      # prefetches m1 and m2
    with pytest.raises(RuntimeError):
        with consumer.transaction() as tx:
            assert tx.receive(5000).data() == b"m1"
            raise RuntimeError
    assert consumer.receive(5000).data() == b"m1"


def test_transaction_receive_timeout(client, topic):
    consumer = client.subscribe(topic, "s")
    with pytest.raises(pulsar.Timeout):
        with consumer.transaction() as tx:
            tx.receive(200)


def test_serialization_failure_rolls_back_and_the_loop_retries(client, dsn, sql, topic, results):
    """A message redelivered while a transaction held it is processed once:
    the transaction that acknowledges second rolls back with its writes."""
    publish(client, topic, 1)
    slow = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared,
                            initial_position=Earliest, consumer_name="slow",
                            receiver_queue_size=1)
    assert slow.receive(5000).data() == b"m0"
    fast = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared,
                            consumer_name="fast", receiver_queue_size=1)
    publish(client, topic, 1, b"n")
    message = slow.receive(5000)
    assert message.data() == b"n0"
    with slow.transaction() as tx:
        tx.connection.execute("INSERT INTO %s VALUES (%%s)" % results, (b"slow",))
        # "slow" is detached meanwhile (as when its lease expires); its
        # messages go to "fast", which processes them first
        sql.execute("SELECT pulsar.close_consumer(%s, 's', 'slow')", (topic,))
        with fast.transaction() as other:
            again = other.batch_receive(10, 5000)
            assert message.message_id() in [m.message_id() for m in again]
            other.connection.execute("INSERT INTO %s VALUES (%%s)" % results, (b"fast",))
            other.acknowledge(again)
        assert other.committed
        tx.acknowledge(message)
    assert not tx.committed
    assert rows(sql, results) == [b"fast"]
    # "slow" attaches again on its own and goes on
    publish(client, topic, 1, b"o")
    assert slow.receive(5000).data() == b"o0"


def test_process_retries_on_serialization_failure(client, sql, topic, results):
    publish(client, topic, 2)
    consumer = client.subscribe(topic, "s", initial_position=Earliest, consumer_name="proc")
    calls = []

    def handler(tx, messages):
        calls.append([m.data() for m in messages])
        for m in messages:
            tx.connection.execute("INSERT INTO %s VALUES (%%s)" % results, (m.data(),))
        if len(calls) == 1:
            raise pulsar.TransactionConflict("simulated", "40001")
        return len(messages)

    assert consumer.process(handler, max_messages=10, timeout_millis=5000) == 2
    assert calls == [[b"m0", b"m1"], [b"m0", b"m1"]]
    assert rows(sql, results) == [b"m0", b"m1"]
    assert backlog(sql, topic, "s") == 0


def test_is_read_compacted(client, sql, topic):
    producer = client.create_producer(topic)
    for key, value in (("a", b"a1"), ("b", b"b1"), ("a", b"a2")):
        producer.send(value, partition_key=key)
    sql.execute("SELECT pulsar.compact(%s)", (topic,))
    consumer = client.subscribe(topic, "image", initial_position=Earliest,
                                is_read_compacted=True)
    got = [consumer.receive(5000) for _ in range(2)]
    assert [m.data() for m in got] == [b"b1", b"a2"]
    for m in got:
        consumer.acknowledge(m)
    consumer.close()
    assert backlog(sql, topic, "image") == 0
    # Pulsar allows it on exclusive and failover subscriptions only
    with pytest.raises(pulsar.InvalidConfiguration):
        client.subscribe(topic, "wide", consumer_type=pulsar.ConsumerType.Shared,
                         is_read_compacted=True)
