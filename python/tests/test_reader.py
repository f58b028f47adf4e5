import time

import pytest

import pulsar_pg as pulsar


def publish(client, topic, n, **kwargs):
    producer = client.create_producer(topic)
    ids = [producer.send(b"m%d" % i, **kwargs) for i in range(n)]
    producer.close()
    return ids


def test_reader_from_earliest(client, topic):
    ids = publish(client, topic, 3)
    reader = client.create_reader(topic, pulsar.MessageId.earliest)
    assert reader.has_message_available()
    assert [reader.read_next(5000).message_id() for _ in range(3)] == ids
    assert not reader.has_message_available()
    with pytest.raises(pulsar.Timeout):
        reader.read_next(200)
    assert reader.topic() == topic


def test_reader_from_latest_sees_only_new_messages(client, topic):
    publish(client, topic, 2)
    reader = client.create_reader(topic, pulsar.MessageId.latest)
    assert not reader.has_message_available()
    producer = client.create_producer(topic)
    new = producer.send(b"new")
    assert reader.read_next(5000).message_id() == new


def test_reader_of_an_empty_topic_from_latest(client, sql, topic):
    sql.execute("SELECT pulsar.create_topic(%s)", (topic,))
    reader = client.create_reader(topic, pulsar.MessageId.latest)
    new = client.create_producer(topic).send(b"first")
    assert reader.read_next(5000).message_id() == new


def test_reader_from_a_message_id_exclusive_and_inclusive(client, topic):
    ids = publish(client, topic, 4)
    reader = client.create_reader(topic, ids[1])
    assert reader.read_next(5000).message_id() == ids[2]
    inclusive = client.create_reader(topic, ids[1], start_message_id_inclusive=True)
    assert inclusive.read_next(5000).message_id() == ids[1]
    first = client.create_reader(topic, ids[0], start_message_id_inclusive=True)
    assert first.read_next(5000).message_id() == ids[0]


def test_read_next_waits_for_a_message(client, topic):
    publish(client, topic, 1)
    reader = client.create_reader(topic, pulsar.MessageId.latest)
    import threading
    producer = client.create_producer(topic)
    threading.Timer(0.3, lambda: producer.send(b"late")).start()
    assert reader.read_next(10000).data() == b"late"


def test_reader_of_a_partitioned_topic_reads_every_partition(client, sql, topic):
    sql.execute("SELECT pulsar.create_topic(%s, 3)", (topic,))
    producer = client.create_producer(topic)
    sent = {producer.send(b"k%d" % i, partition_key="key-%d" % i) for i in range(12)}
    reader = client.create_reader(topic, pulsar.MessageId.earliest)
    got = {reader.read_next(5000).message_id() for _ in range(12)}
    assert got == sent
    assert len({m.partition() for m in got}) > 1
    with pytest.raises(pulsar.OperationNotSupported):
        client.create_reader(topic, next(iter(sent)))
    one = client.create_reader(topic + "-partition-1", pulsar.MessageId.earliest)
    assert all(one.read_next(5000).message_id().partition() == 1
               for _ in range(sum(1 for m in sent if m.partition() == 1)))


def test_reader_seek(client, topic):
    ids = publish(client, topic, 3)
    reader = client.create_reader(topic, pulsar.MessageId.latest)
    reader.seek(ids[0])
    assert reader.read_next(5000).message_id() == ids[1]
    reader.seek(pulsar.MessageId.earliest)
    assert reader.read_next(5000).message_id() == ids[0]
    reader.seek(int(time.time() * 1000) + 60000)
    assert not reader.has_message_available()
    reader.seek(0)
    assert reader.read_next(5000).message_id() == ids[0]


def test_reader_listener(client, topic):
    import threading
    got = []
    done = threading.Event()

    def listener(reader, message):
        got.append(message.data())
        if len(got) == 2:
            done.set()

    publish(client, topic, 2)
    reader = client.create_reader(topic, pulsar.MessageId.earliest, reader_listener=listener)
    assert done.wait(10)
    assert got == [b"m0", b"m1"]
    reader.close()


def test_reader_rejects_bad_arguments(client, topic):
    with pytest.raises(ValueError):
        client.create_reader(topic, "earliest")
    with pytest.raises(ValueError):
        client.create_reader(topic, pulsar.MessageId.earliest, receiver_queue_size=0)
    with pytest.raises(pulsar.TopicNotFound):
        client.create_reader("public/default/never-" + topic, pulsar.MessageId.earliest)
    publish(client, topic, 1)
    reader = client.create_reader(topic, pulsar.MessageId.earliest)
    with pytest.raises(ValueError):
        reader.read_next(-1)


def test_reader_is_read_compacted(client, sql, topic):
    producer = client.create_producer(topic)
    producer.send(b"a1", partition_key="a")
    b1 = producer.send(b"b1", partition_key="b")
    a2 = producer.send(b"a2", partition_key="a")
    producer.send(b"unkeyed")
    sql.execute("SELECT pulsar.compact(%s)", (topic,))
    a3 = producer.send(b"a3", partition_key="a")
    reader = client.create_reader(topic, pulsar.MessageId.earliest, is_read_compacted=True)
    assert [reader.read_next(5000).message_id() for _ in range(3)] == [b1, a2, a3]
    with pytest.raises(pulsar.Timeout):
        reader.read_next(200)
    # without it, every message
    plain = client.create_reader(topic, pulsar.MessageId.earliest)
    assert len([plain.read_next(5000) for _ in range(5)]) == 5
