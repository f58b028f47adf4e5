"""Client: the entry point, holding the service URL and what it created."""

import re
import threading

import psycopg
from psycopg import conninfo as _conninfo

from . import exceptions
from ._types import ConsumerType, InitialPosition
from .consumer import Consumer
from .producer import Producer
from .reader import Reader

_PARTITION = re.compile(r"^(.*)-partition-(\d+)$")


def full_topic_name(topic):
    """``name`` and ``tenant/ns/name`` as the server spells them in full."""
    if topic.startswith("persistent://"):
        return topic
    if topic.count("/") == 2:
        return "persistent://" + topic
    if "/" not in topic and "://" not in topic:
        return "persistent://public/default/" + topic
    raise exceptions.InvalidTopicName("invalid topic name %r" % topic)


class Client:
    """A pulsar_pg client.

    ``service_url`` is a libpq connection URI (``postgresql://...``) or
    conninfo string (``host=... dbname=...``), multi-host ones included:
    add ``target_session_attrs=read-write`` to find the primary after a
    failover.  Each producer, consumer and reader opens its own
    connection.  The other arguments are Pulsar's; those that have no
    meaning here (threads, TLS files: put TLS settings in the URL) are
    accepted and ignored.
    """

    def __init__(self, service_url, authentication=None, operation_timeout_seconds=30,
                 io_threads=1, message_listener_threads=1,
                 concurrent_lookup_requests=50000, log_conf_file_path=None,
                 use_tls=False, tls_trust_certs_file_path=None,
                 tls_allow_insecure_connection=False, tls_validate_hostname=False,
                 logger=None, connection_timeout_ms=10000, listener_name=None):
        if not isinstance(service_url, str):
            raise ValueError("service_url must be a str")
        if service_url.startswith(("pulsar://", "pulsar+ssl://", "http://", "https://")):
            raise exceptions.InvalidUrl(
                "service_url %r is a Pulsar broker URL; give a PostgreSQL connection URI "
                "(postgresql://host/dbname) or conninfo string (host=... dbname=...)"
                % service_url)
        try:
            _conninfo.conninfo_to_dict(service_url)
        except psycopg.ProgrammingError as error:
            raise exceptions.InvalidUrl("invalid service_url: %s" % error) from error
        if authentication is not None:
            raise ValueError("authentication: give the user and password (or "
                             "sslcert/sslkey) in service_url")
        if not isinstance(operation_timeout_seconds, (int, float)) or operation_timeout_seconds <= 0:
            raise ValueError("operation_timeout_seconds must be positive")
        if not isinstance(connection_timeout_ms, int) or connection_timeout_ms <= 0:
            raise ValueError("connection_timeout_ms must be a positive int")
        self._conninfo = service_url
        self._operation_timeout_s = operation_timeout_seconds
        self._connect_timeout_s = max(1, connection_timeout_ms // 1000)
        self._lock = threading.Lock()
        self._children = []
        self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _adopt(self, child):
        with self._lock:
            if self._closed:
                child.close()
                raise exceptions.AlreadyClosed("client is closed")
            self._children.append(child)
        return child

    def _forget(self, child):
        with self._lock:
            if child in self._children:
                self._children.remove(child)

    def _check_open(self):
        if self._closed:
            raise exceptions.AlreadyClosed("client is closed")

    def create_producer(self, topic, producer_name=None, schema=None, **kwargs):
        """A Producer for topic; keyword arguments as in Pulsar's client."""
        self._check_open()
        return self._adopt(Producer(self, topic, producer_name=producer_name,
                                    schema=schema, **kwargs))

    def subscribe(self, topic, subscription_name, consumer_type=ConsumerType.Exclusive,
                  schema=None, message_listener=None, receiver_queue_size=1000,
                  consumer_name=None, unacked_messages_timeout_ms=None,
                  negative_ack_redelivery_delay_ms=60000,
                  initial_position=InitialPosition.Latest, dead_letter_policy=None,
                  **kwargs):
        """A Consumer of a durable subscription (created if missing)."""
        self._check_open()
        return self._adopt(Consumer(
            self, topic, subscription_name, consumer_type=consumer_type, schema=schema,
            message_listener=message_listener, receiver_queue_size=receiver_queue_size,
            consumer_name=consumer_name,
            unacked_messages_timeout_ms=unacked_messages_timeout_ms,
            negative_ack_redelivery_delay_ms=negative_ack_redelivery_delay_ms,
            initial_position=initial_position, dead_letter_policy=dead_letter_policy,
            **kwargs))

    def create_reader(self, topic, start_message_id, schema=None, reader_listener=None,
                      receiver_queue_size=1000, **kwargs):
        """A Reader that starts after start_message_id (MessageId.earliest,
        MessageId.latest or a message's id)."""
        self._check_open()
        return self._adopt(Reader(self, topic, start_message_id, schema=schema,
                                  reader_listener=reader_listener,
                                  receiver_queue_size=receiver_queue_size, **kwargs))

    def _partitions(self, topic, conn):
        """[(partition topic, partition index)] of topic."""
        if not isinstance(topic, str) or not topic:
            raise ValueError("topic must be a non-empty str")
        full = full_topic_name(topic)
        namespace = full[len("persistent://"):].rsplit("/", 1)[0]
        rows = dict(conn.run(lambda c: c.execute(
            "SELECT topic, partitions FROM pulsar.list_topics(%s)", (namespace,)).fetchall()))
        if full in rows:
            n = rows[full]
            if n > 0:
                return [("%s-partition-%d" % (full, i), i) for i in range(n)]
            return [(full, -1)]
        match = _PARTITION.match(full)
        if match and rows.get(match.group(1), 0) > int(match.group(2)):
            return [(full, int(match.group(2)))]
        raise exceptions.TopicNotFound('topic "%s" does not exist' % full)

    def get_topic_partitions(self, topic):
        """The partitions of a topic by full name, or [topic] if it has none."""
        self._check_open()
        from ._connection import Connection
        conn = Connection(self, name="pulsar_pg lookup")
        try:
            return [name for name, _ in self._partitions(topic, conn)]
        finally:
            conn.close()

    def close(self):
        """Closes every producer (publishing what send_async queued),
        consumer and reader created by this client."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            children = list(self._children)
        first_error = None
        for child in children:
            try:
                child.close()
            except exceptions.PulsarException as error:
                first_error = first_error or error
        with self._lock:
            self._children = []
        if first_error is not None:
            raise first_error

    def shutdown(self):
        self.close()
