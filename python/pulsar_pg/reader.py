"""Reader: pulsar.read() behind Pulsar's Reader API.

A reader has no subscription, so there is no channel to LISTEN on and
nothing to wake it: ``read_next`` with nothing to read looks again after
10 ms, doubling to 200 ms, until its timeout.
"""

import datetime
import threading
import time

from . import exceptions
from ._connection import Connection
from ._types import Message, MessageId


def _before(message_id):
    """The id just before message_id in its partition, for inclusive starts."""
    # A partition is one ledger whose entry ids run on across its segment
    # tables; entry 0 is its first message.
    if message_id.entry_id() > 0:
        return MessageId(message_id.partition(), message_id.ledger_id(), message_id.entry_id() - 1)
    return None


class Reader:
    def __init__(self, client, topic, start_message_id, schema=None, reader_listener=None,
                 receiver_queue_size=1000, reader_name=None, subscription_role_prefix=None,
                 is_read_compacted=False, crypto_key_reader=None,
                 start_message_id_inclusive=False):
        if not isinstance(topic, str) or not topic:
            raise ValueError("topic must be a non-empty str")
        if not isinstance(start_message_id, MessageId):
            raise ValueError("start_message_id must be a MessageId")
        if not isinstance(receiver_queue_size, int) or receiver_queue_size < 1:
            raise ValueError("receiver_queue_size must be a positive int")
        if reader_listener is not None and not callable(reader_listener):
            raise ValueError("reader_listener must be callable")
        self._client = client
        self._topic = topic
        self._schema = schema
        self._batch = min(receiver_queue_size, 100000)
        self._inclusive = start_message_id_inclusive
        # below the compaction horizon, the latest message of each key only
        self._compacted = ", compacted => true" if is_read_compacted else ""
        self._buffer = []
        self._closed = False
        self._conn = Connection(client, name="pulsar_pg reader")
        pairs = client._partitions(topic, self._conn)
        self._partitions = [name for name, _ in pairs]
        self._index = dict(pairs)
        self._next_partition = 0
        self._after = {}
        self._start(start_message_id)
        self._listener = reader_listener
        self._thread = None
        if reader_listener is not None:
            self._thread = threading.Thread(target=self._listen_loop, daemon=True,
                                            name="pulsar_pg reader listener")
            self._thread.start()

    def _latest(self, partition, index):
        stats = self._conn.run(lambda conn: conn.execute(
            "SELECT pulsar.topic_internal_stats(%s)->>'lastConfirmedEntry'",
            (partition,)).fetchone()[0])
        if not stats or stats.startswith("-1"):
            return "earliest"
        ledger, entry = stats.split(":")
        return "%s:%s:%d" % (ledger, entry, index)

    def _start(self, start):
        self._buffer = []
        for partition in self._partitions:
            pindex = self._index[partition]
            if start == MessageId.earliest:
                after = "earliest"
            elif start == MessageId.latest:
                after = self._latest(partition, pindex)
            elif len(self._partitions) > 1:
                raise exceptions.OperationNotSupported(
                    "a reader of a partitioned topic starts at MessageId.earliest or "
                    "MessageId.latest; read one partition (topic-partition-N) to "
                    "start at a message id")
            else:
                after = start
                if self._inclusive:
                    after = _before(start)
                after = "earliest" if after is None else str(after)
            self._after[partition] = after

    def topic(self):
        return self._topic

    def is_connected(self):
        return not self._closed and self._conn.conn is not None and not self._conn.conn.closed

    def _fetch(self):
        """Reads a batch from the partitions, in turn; True if it got any."""
        for _ in range(len(self._partitions)):
            partition = self._partitions[self._next_partition]
            self._next_partition = (self._next_partition + 1) % len(self._partitions)
            after = self._after[partition]
            rows = self._conn.run(lambda conn: conn.execute(
                "SELECT %s FROM pulsar.read(%%s, %%s::pulsar.message_id, %%s%s)"
                % (Message.COLUMNS, self._compacted),
                (partition, after, self._batch)).fetchall())
            if rows:
                messages = [Message(r, self._schema) for r in rows]
                self._after[partition] = str(messages[-1].message_id())
                self._buffer.extend(messages)
                return True
        return False

    def read_next(self, timeout_millis=None):
        """The next message; raises Timeout after timeout_millis."""
        if self._listener is not None:
            raise exceptions.InvalidConfiguration("cannot read when a reader listener is set")
        message = self._next(timeout_millis)
        if message is None:
            raise exceptions.Timeout("no message within %s ms" % timeout_millis)
        return message

    def _next(self, timeout_millis):
        if timeout_millis is not None and (not isinstance(timeout_millis, (int, float))
                                           or timeout_millis < 0):
            raise ValueError("timeout_millis must be a non-negative number")
        deadline = None if timeout_millis is None else time.monotonic() + timeout_millis / 1000.0
        delay = 0.01
        while True:
            if self._closed:
                raise exceptions.AlreadyClosed("reader is closed")
            if self._buffer or self._fetch():
                return self._buffer.pop(0)
            wait = delay
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                wait = min(wait, left)
            time.sleep(wait)
            delay = min(delay * 2, 0.2)

    def has_message_available(self):
        if self._closed:
            raise exceptions.AlreadyClosed("reader is closed")
        return bool(self._buffer) or self._fetch()

    def seek(self, message_id):
        """Restarts at a MessageId (earliest, latest or an id: the next
        message read is the one after it, or it with
        start_message_id_inclusive) or at a time in ms since the epoch (the
        first message published at or after it; this scans from the
        start)."""
        if isinstance(message_id, MessageId):
            self._start(message_id)
            return
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise TypeError("seek takes a MessageId or a timestamp in milliseconds")
        when = datetime.datetime.fromtimestamp(message_id / 1000.0, datetime.timezone.utc)
        self._start(MessageId.earliest)
        for partition in self._partitions:
            while True:
                after = self._after[partition]
                rows = self._conn.run(lambda conn: conn.execute(
                    "SELECT message_id::text, publish_time >= %s"
                    " FROM pulsar.read(%s, %s::pulsar.message_id, 10000)",
                    (when, partition, after)).fetchall())
                if not rows:
                    break
                hit = next((r[0] for r in rows if r[1]), None)
                if hit is not None:
                    before = _before(MessageId.from_text(hit))
                    self._after[partition] = "earliest" if before is None else str(before)
                    break
                self._after[partition] = rows[-1][0]

    def _listen_loop(self):
        while not self._closed:
            try:
                message = self._next(None)
            except exceptions.AlreadyClosed:
                return
            except exceptions.PulsarException:
                time.sleep(0.5)
                continue
            try:
                self._listener(self, message)
            except Exception:
                import logging
                logging.getLogger("pulsar_pg").exception("pulsar_pg: reader listener raised")

    def close(self):
        if self._closed:
            return
        self._closed = True
        self._conn.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._client._forget(self)
