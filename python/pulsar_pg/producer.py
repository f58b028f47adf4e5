"""Producer: pulsar.send() and pulsar.send_batch() behind Pulsar's API."""

import collections
import datetime
import logging
import threading
import time

import psycopg
from psycopg.types.json import Jsonb

from . import exceptions
from ._connection import Connection
from ._types import MessageId, to_millis_timestamp

log = logging.getLogger("pulsar_pg")

_INT64_MAX = (1 << 63) - 1


class _Outgoing:
    __slots__ = ("payload", "key", "properties", "event_time", "deliver_at",
                 "deliver_after", "sequence_id", "callback")


def _check_properties(properties):
    if properties is None:
        return None
    if not isinstance(properties, dict):
        raise TypeError("properties must be a dict of str to str")
    for k, v in properties.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError("properties must be a dict of str to str")
    return properties


class Producer:
    """Publishes to one topic.

    With a ``producer_name`` every message carries a sequence id, as in
    Pulsar: the last one the server stored for that name and topic plus
    one, so that after a restart the server's deduplication (enabled per
    namespace with ``pulsar.set_deduplication``) drops what was already
    stored.
    """

    def __init__(self, client, topic, producer_name=None, schema=None,
                 initial_sequence_id=None, send_timeout_millis=30000,
                 compression_type=None, max_pending_messages=1000,
                 max_pending_messages_across_partitions=50000,
                 block_if_queue_full=False, batching_enabled=False,
                 batching_max_messages=1000,
                 batching_max_allowed_size_in_bytes=128 * 1024,
                 batching_max_publish_delay_ms=10, chunking_enabled=False,
                 message_routing_mode=None, lazy_start_partitioned_producers=False,
                 properties=None, batching_type=None, encryption_key=None,
                 crypto_key_reader=None, access_mode=None):
        if not isinstance(topic, str) or not topic:
            raise ValueError("topic must be a non-empty str")
        if producer_name is not None and (not isinstance(producer_name, str) or not producer_name):
            raise ValueError("producer_name must be a non-empty str")
        if initial_sequence_id is not None and not isinstance(initial_sequence_id, int):
            raise TypeError("initial_sequence_id must be an int")
        for name, value in (("batching_max_messages", batching_max_messages),
                            ("max_pending_messages", max_pending_messages)):
            if not isinstance(value, int) or value < 1:
                raise ValueError("%s must be a positive int" % name)
        if not isinstance(batching_max_publish_delay_ms, (int, float)) or batching_max_publish_delay_ms < 0:
            raise ValueError("batching_max_publish_delay_ms must be zero or more")
        if encryption_key is not None or crypto_key_reader is not None:
            raise ValueError("end-to-end encryption is not supported")
        self._client = client
        self._topic = topic
        self._name = producer_name
        self._schema = schema
        self._batching = bool(batching_enabled)
        self._batch_max = batching_max_messages
        self._batch_bytes = batching_max_allowed_size_in_bytes
        self._batch_delay = batching_max_publish_delay_ms / 1000.0
        self._max_pending = max_pending_messages
        self._block = block_if_queue_full
        self._seq_lock = threading.Lock()
        self._queries = {}
        self._queue = collections.deque()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._thread = None
        self._conn = Connection(client, name="pulsar_pg producer")
        if producer_name is None:
            self._last_sequence_id = -1 if initial_sequence_id is None else initial_sequence_id
        elif initial_sequence_id is not None:
            self._last_sequence_id = initial_sequence_id
        else:
            self._last_sequence_id = self._conn.run(self._find_last_sequence_id)

    # -- Pulsar's accessors ----------------------------------------------

    def topic(self):
        return self._topic

    def producer_name(self):
        return self._name

    def last_sequence_id(self):
        return self._last_sequence_id

    def is_connected(self):
        return not self._closed and self._conn.conn is not None and not self._conn.conn.closed

    # -- sequence ids -------------------------------------------------------

    def _find_last_sequence_id(self, conn):
        """The highest sequence id the server stored for this producer.

        The SQL contract has no function that returns it, but it has the
        rule that uses it: a send whose sequence id is at or below the
        stored one returns NULL.  So probe with sends of a NULL payload,
        each in a savepoint rolled back at once (nothing is published, and
        the stored id does not move), doubling then bisecting.  A probe
        that is not a duplicate leaves an aborted position in the topic,
        which readers pass over; a search costs about log2(last id) of
        them.  Without deduplication on the namespace nothing is ever a
        duplicate and the answer is -1, as Pulsar's broker answers.
        """
        with conn.transaction(force_rollback=True):
            def duplicate(seq):
                with conn.transaction(force_rollback=True):
                    row = conn.execute(
                        "SELECT pulsar.send(%s, NULL::bytea, producer => %s,"
                        " sequence_id => %s) IS NULL",
                        (self._topic, self._name, seq)).fetchone()
                return row[0]

            if not duplicate(0):
                return -1
            low = 0
            high = None
            probe = 1
            while high is None:
                if probe >= _INT64_MAX:
                    if duplicate(_INT64_MAX):
                        return _INT64_MAX
                    high = _INT64_MAX
                elif duplicate(probe):
                    low = probe
                    probe = probe * 2 + 1
                else:
                    high = probe
            while high - low > 1:
                mid = (low + high) // 2
                if duplicate(mid):
                    low = mid
                else:
                    high = mid
            return low

    def _next_sequence_id(self, sequence_id):
        with self._seq_lock:
            if sequence_id is None:
                sequence_id = self._last_sequence_id + 1
            elif not isinstance(sequence_id, int) or isinstance(sequence_id, bool) or sequence_id < 0:
                raise ValueError("sequence_id must be a non-negative int")
            if sequence_id > self._last_sequence_id:
                self._last_sequence_id = sequence_id
            return sequence_id

    # -- building messages -------------------------------------------------

    def _build(self, content, properties, partition_key, sequence_id,
               event_timestamp, deliver_at, deliver_after):
        if self._closed:
            raise exceptions.AlreadyClosed("producer is closed")
        m = _Outgoing()
        if self._schema is not None:
            m.payload = self._schema.encode(content)
        elif isinstance(content, (bytes, bytearray, memoryview)):
            m.payload = bytes(content)
        else:
            raise TypeError("content must be bytes, got %s" % type(content).__name__)
        if partition_key is not None and not isinstance(partition_key, str):
            raise TypeError("partition_key must be a str")
        m.key = partition_key
        m.properties = _check_properties(properties)
        m.event_time = to_millis_timestamp(event_timestamp, "event_timestamp")
        m.deliver_at = to_millis_timestamp(deliver_at, "deliver_at")
        if deliver_after is not None and not isinstance(deliver_after, datetime.timedelta):
            raise TypeError("deliver_after must be a datetime.timedelta")
        if deliver_at is not None and deliver_after is not None:
            raise ValueError("give deliver_at or deliver_after, not both")
        m.deliver_after = deliver_after
        if self._name is not None:
            m.sequence_id = self._next_sequence_id(sequence_id)
        elif sequence_id is not None:
            if not isinstance(sequence_id, int) or isinstance(sequence_id, bool) or sequence_id < 0:
                raise ValueError("sequence_id must be a non-negative int")
            m.sequence_id = None
        else:
            m.sequence_id = None
        m.callback = None
        return m

    def _send_query(self, m):
        """The SQL text and parameters of one pulsar.send() call, naming only
        the arguments this message uses (the text is cached per shape, so
        that psycopg prepares each shape once)."""
        shape = (m.key is not None, m.properties is not None,
                 m.event_time is not None, m.deliver_at is not None,
                 m.deliver_after is not None, m.sequence_id is not None)
        params = [self._topic, m.payload]
        if m.key is not None:
            params.append(m.key)
        if m.properties is not None:
            params.append(Jsonb(m.properties))
        if m.event_time is not None:
            params.append(m.event_time)
        if m.deliver_at is not None:
            params.append(m.deliver_at)
        if m.deliver_after is not None:
            params.append(m.deliver_after)
        if m.sequence_id is not None:
            params.extend((self._name, m.sequence_id))
        query = self._queries.get(shape)
        if query is None:
            args = ["%s", "%s::bytea"]
            for present, arg in zip(shape[:5], ("key => %s", "properties => %s",
                                                "event_time => %s", "deliver_at => %s",
                                                "deliver_after => %s")):
                if present:
                    args.append(arg)
            if shape[5]:
                args.append("producer => %s, sequence_id => %s")
            query = "SELECT pulsar.send(%s)" % ", ".join(args)
            self._queries[shape] = query
        return query, params

    # -- send ----------------------------------------------------------------

    def send(self, content, properties=None, partition_key=None, sequence_id=None,
             replication_clusters=None, disable_replication=False,
             event_timestamp=None, deliver_at=None, deliver_after=None,
             connection=None):
        """Publishes one message and returns its MessageId once committed.

        With ``connection`` (an open psycopg connection) the message is
        published in that connection's current transaction instead, and
        exists only if the caller commits: the outbox pattern.  A message
        the server dropped as a duplicate returns ``None``.
        """
        m = self._build(content, properties, partition_key, sequence_id,
                        event_timestamp, deliver_at, deliver_after)
        query, params = self._send_query(m)
        if connection is not None:
            if not isinstance(connection, psycopg.Connection):
                raise TypeError("connection must be a psycopg.Connection")
            try:
                row = connection.execute(query, params).fetchone()
            except psycopg.Error as error:
                raise exceptions.from_server(error) from error
            return MessageId.from_text(row[0])
        # Messages sent asynchronously before this one go first.
        if self._queue or self._in_flight:
            self.flush()
        row = self._conn.run(lambda conn: conn.execute(query, params).fetchone())
        return MessageId.from_text(row[0])

    def send_async(self, content, callback, properties=None, partition_key=None,
                   sequence_id=None, replication_clusters=None,
                   disable_replication=False, event_timestamp=None,
                   deliver_at=None, deliver_after=None):
        """Queues a message; ``callback(result, message_id)`` runs in a
        background thread after the transaction that published it commits.

        With ``batching_enabled`` the background thread publishes up to
        ``batching_max_messages`` queued messages with one pulsar.send_batch
        call, waiting at most ``batching_max_publish_delay_ms`` for a batch
        to fill.
        """
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        m = self._build(content, properties, partition_key, sequence_id,
                        event_timestamp, deliver_at, deliver_after)
        m.callback = callback
        with self._cond:
            while len(self._queue) >= self._max_pending:
                if not self._block:
                    raise exceptions.ProducerQueueIsFull(
                        "producer queue is full (%d messages)" % self._max_pending)
                self._cond.wait()
            if self._closed:
                raise exceptions.AlreadyClosed("producer is closed")
            self._queue.append((time.monotonic(), m))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="pulsar_pg producer")
                self._thread.start()
            self._cond.notify_all()

    def _run(self):
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                if self._batching:
                    # Wait for a full batch or the oldest message's deadline.
                    while (len(self._queue) < self._batch_max and not self._closed
                           and not self._flushing):
                        left = self._queue[0][0] + self._batch_delay - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                batch = [self._queue.popleft()[1]]
                size = len(batch[0].payload)
                while (self._batching and self._queue and len(batch) < self._batch_max
                       and self._same_delivery(batch[0], self._queue[0][1])
                       and size + len(self._queue[0][1].payload) <= self._batch_bytes):
                    size += len(self._queue[0][1].payload)
                    batch.append(self._queue.popleft()[1])
                self._in_flight = len(batch)
                self._cond.notify_all()
            self._publish(batch)
            with self._cond:
                self._in_flight = 0
                self._cond.notify_all()

    _flushing = False

    @staticmethod
    def _same_delivery(a, b):
        return a.deliver_at == b.deliver_at and a.deliver_after == b.deliver_after

    def _publish(self, batch):
        try:
            if len(batch) == 1:
                query, params = self._send_query(batch[0])
                rows = [self._conn.run(lambda conn: conn.execute(query, params).fetchone())]
            else:
                query, params = self._batch_query(batch)
                rows = self._conn.run(lambda conn: conn.execute(query, params).fetchall())
            ids = [MessageId.from_text(r[0]) for r in rows]
            result = exceptions.Result.Ok
        except exceptions.PulsarException as error:
            log.warning("pulsar_pg: send_async to %s failed: %s", self._topic, error)
            ids = [None] * len(batch)
            result = error.result()
        except Exception:  # a bug or an interrupted thread: report it
            log.exception("pulsar_pg: send_async to %s failed", self._topic)
            ids = [None] * len(batch)
            result = exceptions.Result.UnknownError
        for m, message_id in zip(batch, ids):
            if m.callback is not None:
                try:
                    m.callback(result, message_id)
                except Exception:
                    log.exception("pulsar_pg: send_async callback raised")

    def _batch_query(self, batch):
        first = batch[0]
        args = ["%s", "%s::bytea[]"]
        params = [self._topic, [m.payload for m in batch]]
        if any(m.key is not None for m in batch):
            args.append("keys => %s::text[]")
            params.append([m.key for m in batch])
        if any(m.properties is not None for m in batch):
            args.append("properties => %s::jsonb[]")
            params.append([Jsonb(m.properties) if m.properties is not None else None
                           for m in batch])
        if any(m.event_time is not None for m in batch):
            args.append("event_times => %s::timestamptz[]")
            params.append([m.event_time for m in batch])
        if first.deliver_at is not None:
            args.append("deliver_at => %s")
            params.append(first.deliver_at)
        if first.deliver_after is not None:
            args.append("deliver_after => %s")
            params.append(first.deliver_after)
        if self._name is not None:
            args.append("producer => %s, sequence_ids => %s::bigint[]")
            params.extend((self._name, [m.sequence_id for m in batch]))
        return "SELECT * FROM pulsar.send_batch(%s)" % ", ".join(args), params

    def flush(self):
        """Waits until every message queued by send_async is published and
        its callback has run."""
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            try:
                while self._queue or self._in_flight:
                    if self._thread is None or not self._thread.is_alive():
                        break
                    self._cond.wait(0.5)
            finally:
                self._flushing = False

    def close(self):
        """Publishes what send_async queued, then closes the connection."""
        if self._closed:
            return
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        self._conn.close()
        self._client._forget(self)
