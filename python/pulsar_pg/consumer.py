"""Consumer: a durable subscription behind Pulsar's API.

Each consumer has its own connection.  It subscribes (pulsar.subscribe),
LISTENs on the subscription's channel and prefetches up to
``receiver_queue_size`` messages with pulsar.receive.  When the queue is
empty it sleeps on the connection's socket until the background worker's
NOTIFY arrives: there is no polling loop.  The only timed call is a
receive every third of ``pulsar_pg.consumer_lease`` while idle, which keeps
the consumer attached (the server detaches a consumer that makes no call
for that long).

Acknowledgements are grouped, as Pulsar's client groups them: they are
sent with one pulsar.ack call before the next receive, when 1,000 are
waiting, when the oldest waited ``ack_grouping_time_ms`` (checked at each
acknowledge), and on close.  After a lost connection the consumer
reconnects, subscribes and LISTENs again, sends the acknowledgements it
had not sent, and drops its prefetched messages, which the server gives
back to the subscription.
"""

import collections
import datetime
import logging
import os
import select
import threading
import time

import psycopg
from psycopg import sql

from . import exceptions
from ._connection import Connection, is_connection_error
from ._types import ConsumerType, InitialPosition, Message, MessageId

log = logging.getLogger("pulsar_pg")

_ACK_GROUP_MAX = 1000


def _id_text(message):
    """The server's text form of a Message's or MessageId's id."""
    if isinstance(message, Message):
        return message._id_text
    if isinstance(message, MessageId):
        return str(message)
    raise TypeError("expected a Message or a MessageId, got %s" % type(message).__name__)


def _message_id(message):
    if isinstance(message, Message):
        return message.message_id()
    if isinstance(message, MessageId):
        return message
    raise TypeError("expected a Message or a MessageId, got %s" % type(message).__name__)


def _check_ms(name, value, allow_none=True):
    if value is None and allow_none:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ValueError("%s must be a non-negative number of milliseconds" % name)
    return value


class Consumer:
    def __init__(self, client, topic, subscription_name,
                 consumer_type=ConsumerType.Exclusive, schema=None,
                 message_listener=None, receiver_queue_size=1000,
                 max_total_receiver_queue_size_across_partitions=50000,
                 consumer_name=None, unacked_messages_timeout_ms=None,
                 broker_consumer_stats_cache_time_ms=30000,
                 negative_ack_redelivery_delay_ms=60000, is_read_compacted=False,
                 properties=None, pattern_auto_discovery_period=60,
                 initial_position=InitialPosition.Latest, crypto_key_reader=None,
                 replicate_subscription_state_enabled=False,
                 max_pending_chunked_message=10,
                 auto_ack_oldest_chunked_message_on_queue_full=False,
                 start_message_id_inclusive=False, batch_receive_policy=None,
                 key_shared_policy=None, batch_index_ack_enabled=False,
                 regex_subscription_mode=None, dead_letter_policy=None,
                 priority_level=0, ack_grouping_time_ms=100):
        if not isinstance(topic, str) or not topic:
            raise ValueError("topic must be a non-empty str (one topic: lists and "
                             "patterns are not supported)")
        if not isinstance(subscription_name, str) or not subscription_name:
            raise ValueError("subscription_name must be a non-empty str")
        if not isinstance(consumer_type, ConsumerType):
            raise ValueError("consumer_type must be a pulsar_pg.ConsumerType")
        if not isinstance(initial_position, InitialPosition):
            raise ValueError("initial_position must be a pulsar_pg.InitialPosition")
        if consumer_name is not None and (not isinstance(consumer_name, str) or not consumer_name):
            raise ValueError("consumer_name must be a non-empty str")
        if not isinstance(receiver_queue_size, int) or receiver_queue_size < 0:
            raise ValueError("receiver_queue_size must be a non-negative int")
        if message_listener is not None and not callable(message_listener):
            raise ValueError("message_listener must be callable")
        if not isinstance(priority_level, int) or priority_level < 0:
            raise ValueError("priority_level must be a non-negative int")
        if crypto_key_reader is not None:
            raise ValueError("end-to-end encryption is not supported")
        _check_ms("negative_ack_redelivery_delay_ms", negative_ack_redelivery_delay_ms, False)
        _check_ms("unacked_messages_timeout_ms", unacked_messages_timeout_ms)
        _check_ms("ack_grouping_time_ms", ack_grouping_time_ms, False)
        self._client = client
        self._topic = topic
        self._subscription = subscription_name
        self._type = consumer_type
        self._schema = schema
        self._listener = message_listener
        self._queue_size = max(1, receiver_queue_size)
        # A named consumer may be used from any session (the server keeps
        # it for pulsar_pg.consumer_lease after its session ends); without
        # a name the consumer belongs to this consumer's session and the
        # server gives its messages back as soon as the session ends.
        self._consumer_name = consumer_name
        self._subscribe_args = {
            "type": consumer_type.value,
            "initial_position": initial_position.value,
            "consumer": consumer_name,
            "priority": priority_level,
            "negative_ack_delay": datetime.timedelta(milliseconds=negative_ack_redelivery_delay_ms),
            "ack_timeout": (datetime.timedelta(milliseconds=unacked_messages_timeout_ms)
                            if unacked_messages_timeout_ms else None),
            "max_redeliver_count": dead_letter_policy.max_redeliver_count if dead_letter_policy else None,
            "dead_letter_topic": dead_letter_policy.dead_letter_topic if dead_letter_policy else None,
            "read_compacted": bool(is_read_compacted),
        }
        self._ack_group_s = ack_grouping_time_ms / 1000.0
        self._queue = collections.deque()
        self._pending_acks = []
        self._oldest_ack = None
        self._notified = False
        self._closed = False
        self._receive_due = True
        self._keepalive_s = 20.0
        self._wake_r, self._wake_w = os.pipe()
        self._channel = None
        self._conn = Connection(client, on_connect=self._on_connect,
                                name="pulsar_pg consumer")
        self._thread = None
        if message_listener is not None:
            self._thread = threading.Thread(target=self._listen_loop, daemon=True,
                                            name="pulsar_pg listener")
            self._thread.start()

    # -- session set-up -----------------------------------------------------

    def _on_connect(self, conn):
        a = self._subscribe_args
        # read_compacted is named only when asked for: servers before 0.7.0
        # have no such argument
        row = conn.execute(
            "SELECT pulsar.subscribe(%s, %s, type => %s, initial_position => %s,"
            " consumer => %s, priority => %s, negative_ack_delay => %s,"
            " ack_timeout => %s, max_redeliver_count => %s, dead_letter_topic => %s"
            + (", read_compacted => true" if a["read_compacted"] else "") + ")",
            (self._topic, self._subscription, a["type"], a["initial_position"],
             a["consumer"], a["priority"], a["negative_ack_delay"], a["ack_timeout"],
             a["max_redeliver_count"], a["dead_letter_topic"])).fetchone()
        self._channel = row[0]
        conn.add_notify_handler(self._on_notify)
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        lease = conn.execute(
            "SELECT setting::float8 * CASE unit WHEN 'ms' THEN 0.001 WHEN 'min' THEN 60"
            " ELSE 1 END FROM pg_catalog.pg_settings WHERE name = 'pulsar_pg.consumer_lease'"
        ).fetchone()
        if lease is not None and lease[0] > 0:
            self._keepalive_s = max(0.05, lease[0] / 3.0)
        # Prefetched messages of the lost session went back to the
        # subscription; acknowledgements not yet sent are sent now.
        self._queue.clear()
        self._flush_acks_on(conn)
        self._receive_due = True

    def _on_notify(self, notify):
        self._notified = True

    # -- Pulsar's accessors ---------------------------------------------------

    def topic(self):
        return self._topic

    def subscription_name(self):
        return self._subscription

    def consumer_name(self):
        return self._consumer_name

    def is_connected(self):
        return not self._closed and self._conn.conn is not None and not self._conn.conn.closed

    # -- receiving ------------------------------------------------------------

    def _fetch_on(self, conn, count, timeout=None, flush=True):
        """Receives up to count messages (one round trip, after the acks)."""
        if flush:
            self._flush_acks_on(conn)
        if timeout:
            cur = conn.execute(
                "SELECT %s FROM pulsar.receive(%%s, %%s, %%s, timeout => %%s, consumer => %%s)"
                % Message.COLUMNS,
                (self._topic, self._subscription, count, timeout, self._consumer_name))
        elif self._consumer_name is None:
            cur = conn.execute(
                "SELECT %s FROM pulsar.receive(%%s, %%s, %%s)" % Message.COLUMNS,
                (self._topic, self._subscription, count))
        else:
            cur = conn.execute(
                "SELECT %s FROM pulsar.receive(%%s, %%s, %%s, consumer => %%s)" % Message.COLUMNS,
                (self._topic, self._subscription, count, self._consumer_name))
        return [Message(row, self._schema) for row in cur]

    def _fill(self, conn):
        self._notified = False
        wanted = self._queue_size - len(self._queue)
        got = self._fetch_on(conn, wanted)
        self._queue.extend(got)
        # A full batch may have left more behind, which no notification
        # will announce: receive again when the queue runs dry.  A short
        # one emptied the backlog; what comes later is notified.
        self._receive_due = len(got) == wanted

    def _drain_socket(self, conn):
        """Reads what the server sent while we were idle; True if it held a
        notification."""
        pgconn = conn.pgconn
        pgconn.consume_input()
        while True:
            n = pgconn.notifies()
            if n is None:
                break
            self._notified = True
        if pgconn.status != psycopg.pq.ConnStatus.OK:
            raise psycopg.OperationalError("the connection to the server was lost")
        return self._notified

    def _next(self, timeout_s):
        """The next message, or None after timeout_s (None: wait forever)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            with self._conn.lock:
                if self._closed:
                    raise exceptions.AlreadyClosed("consumer is closed")
                if self._queue:
                    return self._queue.popleft()

                def step(conn):
                    if self._receive_due or self._notified or self._drain_socket(conn):
                        self._fill(conn)
                    return conn.fileno()

                try:
                    fd = self._conn.run(step)
                except exceptions.ConsumerNotFound:
                    # Detached by the server (closed elsewhere, or the lease
                    # ran out): attach again, as Pulsar's client does.
                    fd = self._conn.run(lambda conn: (self._on_connect(conn), step(conn))[1])
                if self._queue:
                    return self._queue.popleft()
            wait = self._keepalive_s
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                wait = min(wait, left)
            try:
                ready, _, _ = select.select([fd, self._wake_r], [], [], wait)
            except (OSError, ValueError):
                ready = [fd]    # the socket was closed under us: reconnect
            if self._wake_r in ready:
                os.read(self._wake_r, 512)
            if not ready:
                # Idle for a third of the lease: a receive keeps us attached.
                self._receive_due = True
            elif fd in ready:
                with self._conn.lock:
                    try:
                        if self._conn.conn is not None:
                            self._drain_socket(self._conn.conn)
                    except psycopg.Error:
                        self._conn._discard()

    def receive(self, timeout_millis=None):
        """The next message; raises Timeout after timeout_millis."""
        if self._listener is not None:
            raise exceptions.InvalidConfiguration(
                "cannot receive when a message listener is set")
        _check_ms("timeout_millis", timeout_millis)
        message = self._next(None if timeout_millis is None else timeout_millis / 1000.0)
        if message is None:
            raise exceptions.Timeout("no message within %s ms" % timeout_millis)
        return message

    def batch_receive(self, max_num_messages=None, timeout_millis=100):
        """Waits up to timeout_millis for a first message, then returns it
        with whatever else is prefetched (up to max_num_messages)."""
        first = self._next(timeout_millis / 1000.0)
        if first is None:
            return []
        out = [first]
        limit = max_num_messages or self._queue_size
        with self._conn.lock:
            while self._queue and len(out) < limit:
                out.append(self._queue.popleft())
        return out

    def _listen_loop(self):
        while not self._closed:
            try:
                message = self._next(None)
            except exceptions.AlreadyClosed:
                return
            except exceptions.PulsarException as error:
                log.warning("pulsar_pg: listener of %s/%s: %s", self._topic,
                            self._subscription, error)
                time.sleep(0.5)
                continue
            if message is None:
                continue
            try:
                self._listener(self, message)
            except Exception:
                log.exception("pulsar_pg: message listener raised")

    # -- acknowledging -------------------------------------------------------

    def _flush_acks_on(self, conn):
        if not self._pending_acks:
            return
        ids = self._pending_acks
        try:
            conn.execute("SELECT pulsar.ack(%s, %s, %s::pulsar.message_id[])",
                         (self._topic, self._subscription, ids))
        except psycopg.Error as error:
            if is_connection_error(error):
                raise
            # One bad id must not lose the others: ack one by one.  A
            # message acknowledged meanwhile by another consumer (40001)
            # needs no ack from us.
            for i in ids:
                try:
                    conn.execute("SELECT pulsar.ack(%s, %s, %s::pulsar.message_id)",
                                 (self._topic, self._subscription, i))
                except psycopg.Error as one:
                    if is_connection_error(one):
                        raise
                    if one.sqlstate != "40001":
                        log.warning("pulsar_pg: ack of %s failed: %s", i, one)
        self._pending_acks = []
        self._oldest_ack = None

    def acknowledge(self, message):
        """Acknowledges a message (or a MessageId); sent with the next group."""
        message_id = _id_text(message)
        with self._conn.lock:
            if self._closed:
                raise exceptions.AlreadyClosed("consumer is closed")
            self._pending_acks.append(message_id)
            now = time.monotonic()
            if self._oldest_ack is None:
                self._oldest_ack = now
            if (len(self._pending_acks) >= _ACK_GROUP_MAX
                    or now - self._oldest_ack >= self._ack_group_s):
                self._conn.run(self._flush_acks_on)

    def flush_acknowledgements(self):
        """Sends the acknowledgements still grouped in the client."""
        with self._conn.lock:
            self._conn.run(self._flush_acks_on)

    def acknowledge_cumulative(self, message):
        """Acknowledges every message of its partition up to this one."""
        message_id = _message_id(message)
        self._conn.run(lambda conn: (
            self._flush_acks_on(conn),
            conn.execute("SELECT pulsar.ack_cumulative(%s, %s, %s::pulsar.message_id)",
                         (self._topic, self._subscription, str(message_id)))))

    def negative_acknowledge(self, message):
        """Asks for redelivery after negative_ack_redelivery_delay_ms."""
        message_id = _message_id(message)
        self._conn.run(lambda conn: conn.execute(
            "SELECT pulsar.nack(%s, %s, ARRAY[%s::pulsar.message_id])",
            (self._topic, self._subscription, str(message_id))))

    # -- seek, unsubscribe, close --------------------------------------------

    def seek(self, message_id):
        """Moves the subscription so that this message (a MessageId, or the
        first published at or after a time in ms since the epoch) comes
        next; prefetched messages are dropped."""
        if isinstance(message_id, MessageId):
            if message_id == MessageId.earliest:
                query, param = "SELECT pulsar.seek(%s, %s, %s::text)", "earliest"
            elif message_id == MessageId.latest:
                query, param = "SELECT pulsar.seek(%s, %s, %s::text)", "latest"
            else:
                query, param = "SELECT pulsar.seek(%s, %s, %s::pulsar.message_id)", str(message_id)
        elif isinstance(message_id, int) and not isinstance(message_id, bool):
            query = "SELECT pulsar.seek(%s, %s, %s::timestamptz)"
            param = datetime.datetime.fromtimestamp(message_id / 1000.0, datetime.timezone.utc)
        else:
            raise TypeError("seek takes a MessageId or a timestamp in milliseconds")

        def run(conn):
            self._flush_acks_on(conn)
            conn.execute(query, (self._topic, self._subscription, param))
            self._queue.clear()
            self._receive_due = True
        with self._conn.lock:
            self._conn.run(run)

    def redeliver_unacknowledged_messages(self):
        """Gives back every message this consumer holds: it detaches and
        attaches again."""
        def run(conn):
            self._flush_acks_on(conn)
            conn.execute("SELECT pulsar.close_consumer(%s, %s, %s)",
                         (self._topic, self._subscription, self._consumer_name))
            self._on_connect(conn)
        with self._conn.lock:
            self._conn.run(run)

    def unsubscribe(self):
        """Deletes the subscription and closes the consumer."""
        def run(conn):
            self._flush_acks_on(conn)
            conn.execute("SELECT pulsar.unsubscribe(%s, %s)", (self._topic, self._subscription))
        with self._conn.lock:
            self._conn.run(run)
        self._shutdown()

    def close(self):
        """Sends grouped acknowledgements, detaches and closes."""
        if self._closed:
            return
        failure = None
        with self._conn.lock:
            if self._conn.conn is not None and not self._conn.conn.closed:
                try:
                    self._flush_acks_on(self._conn.conn)
                    self._conn.conn.execute("SELECT pulsar.close_consumer(%s, %s, %s)",
                                            (self._topic, self._subscription,
                                             self._consumer_name))
                except psycopg.Error as error:
                    detached = exceptions.from_server(error)
                    if not is_connection_error(error) and not isinstance(
                            detached, exceptions.ConsumerNotFound):
                        failure = error
            self._closed = True
        self._shutdown()
        if failure is not None:
            raise exceptions.from_server(failure) from failure

    def _shutdown(self):
        self._closed = True
        self._conn.close()
        os.write(self._wake_w, b"x")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._client._forget(self)

    def __del__(self):
        for fd in (getattr(self, "_wake_r", None), getattr(self, "_wake_w", None)):
            if fd is not None and getattr(self, "_closed", False):
                try:
                    os.close(fd)
                except OSError:
                    pass

    # -- exactly-once processing --------------------------------------------

    def transaction(self):
        """A transaction on the consumer's connection in which to receive,
        write results (``tx.connection``) and acknowledge:

            with consumer.transaction() as tx:
                msg = tx.receive(timeout_millis=1000)
                tx.connection.execute("INSERT ...", ...)
                tx.acknowledge(msg)

        Everything commits together or not at all.  If an acknowledgement
        or the commit fails with a serialization failure (another consumer
        acknowledged the message first: it was redelivered while we held
        it) the transaction is rolled back, the block ends without raising
        and ``tx.committed`` is False; the next transaction receives
        again.  Consumer.process() loops over this for you.
        """
        return Transaction(self)

    def process(self, handler, max_messages=1, timeout_millis=None, retries=10):
        """Receives up to max_messages, calls handler(tx, messages) and
        acknowledges them, all in one transaction, retried on serialization
        failure; returns handler's result, or raises Timeout."""
        for _ in range(retries + 1):
            with self.transaction() as tx:
                messages = tx.batch_receive(max_messages, timeout_millis)
                result = handler(tx, messages)
                tx.acknowledge(messages)
            if tx.committed:
                return result
        raise exceptions.TransactionConflict("gave up after %d serialization failures" % retries,
                                             "40001")


class Transaction:
    """See Consumer.transaction()."""

    def __init__(self, consumer):
        self._consumer = consumer
        self._tx = None
        self._from_queue = []
        self.committed = False

    @property
    def connection(self):
        """The psycopg connection whose transaction this is."""
        return self._consumer._conn.conn

    def __enter__(self):
        c = self._consumer
        c._conn.lock.acquire()
        try:
            if c._closed:
                raise exceptions.AlreadyClosed("consumer is closed")
            # Acks grouped outside the transaction go first, on their own.
            c._conn.run(c._flush_acks_on)
            self._tx = c._conn.conn.transaction()
            self._tx.__enter__()
        except BaseException:
            c._conn.lock.release()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        c = self._consumer
        try:
            try:
                self._tx.__exit__(exc_type, exc, tb)
                self.committed = exc_type is None
            except psycopg.Error as error:
                self.committed = False
                exc_type, exc = type(error), error
            if not self.committed:
                # Prefetched messages taken in this transaction were not
                # received by it: they are still ours, so put them back.
                c._queue.extendleft(reversed(self._from_queue))
            if exc is not None:
                cause = exc.__cause__ if isinstance(exc, exceptions.PulsarException) else None
                if isinstance(cause, psycopg.Error) and is_connection_error(cause):
                    c._conn._discard()
                if isinstance(exc, psycopg.Error):
                    if is_connection_error(exc):
                        c._conn._discard()
                        raise exceptions.from_server(exc) from exc
                    if exc.sqlstate == "40001":
                        return True
                    raise exceptions.from_server(exc) from exc
                if isinstance(exc, exceptions.TransactionConflict):
                    return True
            return False
        finally:
            c._conn.lock.release()

    def _run(self, query, params):
        try:
            return self.connection.execute(query, params)
        except psycopg.Error as error:
            raise exceptions.from_server(error) from error

    def batch_receive(self, max_messages=1, timeout_millis=None):
        """Up to max_messages (prefetched ones first, else received in this
        transaction, waiting up to timeout_millis for the first); raises
        Timeout when there is none."""
        c = self._consumer
        if not isinstance(max_messages, int) or max_messages < 1:
            raise ValueError("max_messages must be a positive int")
        _check_ms("timeout_millis", timeout_millis)
        out = []
        while c._queue and len(out) < max_messages:
            out.append(c._queue.popleft())
        self._from_queue.extend(out)
        if not out:
            timeout = datetime.timedelta(milliseconds=timeout_millis) if timeout_millis else None
            if timeout_millis is None:
                timeout = datetime.timedelta(days=1)
            try:
                out = c._fetch_on(self.connection, max_messages, timeout, flush=False)
            except psycopg.Error as error:
                raise exceptions.from_server(error) from error
        if not out:
            raise exceptions.Timeout("no message within %s ms" % timeout_millis)
        return out

    def receive(self, timeout_millis=None):
        return self.batch_receive(1, timeout_millis)[0]

    def acknowledge(self, message):
        """Acknowledges in this transaction (a Message, a MessageId or a list)."""
        items = message if isinstance(message, (list, tuple)) else [message]
        ids = [_id_text(m) for m in items]
        if ids:
            self._run("SELECT pulsar.ack(%s, %s, %s::pulsar.message_id[])",
                      (self._consumer._topic, self._consumer._subscription, ids))

    def acknowledge_cumulative(self, message):
        self._run("SELECT pulsar.ack_cumulative(%s, %s, %s::pulsar.message_id)",
                  (self._consumer._topic, self._consumer._subscription,
                   str(_message_id(message))))

    def negative_acknowledge(self, message):
        items = message if isinstance(message, (list, tuple)) else [message]
        self._run("SELECT pulsar.nack(%s, %s, %s::pulsar.message_id[])",
                  (self._consumer._topic, self._consumer._subscription,
                   [str(_message_id(m)) for m in items]))
