import pytest

import pulsar_pg as pulsar


def test_pulsar_url_is_refused_with_a_hint():
    with pytest.raises(pulsar.InvalidUrl) as info:
        pulsar.Client("pulsar://localhost:6650")
    assert "postgresql://" in str(info.value)


def test_malformed_conninfo_is_refused():
    with pytest.raises(pulsar.InvalidUrl):
        pulsar.Client("host")


def test_service_url_must_be_a_string():
    with pytest.raises(ValueError):
        pulsar.Client(None)


def test_bad_timeouts_are_refused(dsn):
    with pytest.raises(ValueError):
        pulsar.Client(dsn, operation_timeout_seconds=0)
    with pytest.raises(ValueError):
        pulsar.Client(dsn, connection_timeout_ms=-1)


def test_unreachable_server_raises_connect_error(tmp_path):
    client = pulsar.Client("host=%s port=1 dbname=x" % tmp_path)
    with pytest.raises(pulsar.ConnectError) as info:
        client.create_producer("t")
    assert info.value.sqlstate is None
    client.close()


def test_context_manager_closes_everything(dsn, topic):
    with pulsar.Client(dsn) as client:
        producer = client.create_producer(topic)
        consumer = client.subscribe(topic, "s")
        reader = client.create_reader(topic, pulsar.MessageId.earliest)
    with pytest.raises(pulsar.AlreadyClosed):
        producer.send(b"x")
    with pytest.raises(pulsar.AlreadyClosed):
        consumer.receive(10)
    with pytest.raises(pulsar.AlreadyClosed):
        reader.read_next(10)
    with pytest.raises(pulsar.AlreadyClosed):
        client.create_producer(topic)


def test_get_topic_partitions(dsn, sql, topic):
    sql.execute("SELECT pulsar.create_topic(%s, 3)", (topic,))
    with pulsar.Client(dsn) as client:
        assert client.get_topic_partitions(topic) == [
            "persistent://public/default/%s-partition-%d" % (topic, i) for i in range(3)]
        with pytest.raises(pulsar.TopicNotFound):
            client.get_topic_partitions(topic + "-missing")


def test_message_id_forms():
    m = pulsar.MessageId(2, 7, 41)
    assert (m.partition(), m.ledger_id(), m.entry_id(), m.batch_index()) == (2, 7, 41, -1)
    assert str(m) == "7:41:2"
    assert pulsar.MessageId.deserialize(m.serialize()) == m
    assert pulsar.MessageId(-1, 1, 1) < pulsar.MessageId(-1, 1, 2)
    assert str(pulsar.MessageId.earliest) == "-1:-1:-1"
    with pytest.raises(TypeError):
        pulsar.MessageId("1", 2, 3)
    with pytest.raises(ValueError):
        pulsar.MessageId.deserialize(b"1:2")


def test_server_errors_carry_their_sqlstate(client):
    producer = client.create_producer("nosuchtenant/ns/t")
    with pytest.raises(pulsar.TopicNotFound) as info:
        producer.send(b"x")
    assert info.value.sqlstate == "42704"
    assert info.value.result() == pulsar.Result.TopicNotFound
    assert isinstance(info.value, pulsar.PulsarException)
    with pytest.raises(pulsar.InvalidTopicName) as info:
        client.create_producer("bad topic!").send(b"x")
    assert info.value.sqlstate == "42602"


def test_version_is_the_extensions(dsn):
    import psycopg
    with psycopg.connect(dsn) as conn:
        installed = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'pulsar_pg'"
        ).fetchone()[0]
    assert pulsar.__version__ == installed
