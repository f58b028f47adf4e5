"""One PostgreSQL connection with reconnection, used by each producer,
consumer and reader.

A lost connection (server restart, failover, network) is replaced with
backoff, 0.1 s doubling to 2 s, for up to the client's operation timeout;
``target_session_attrs=read-write`` in the service URL makes libpq skip
standbys, so a multi-host URL finds the new primary.  Callers re-create
their session state (subscription, LISTEN) in ``on_connect``.
"""

import threading
import time

import psycopg

from . import exceptions

# SQLSTATEs after which the session is useless but a new one may work:
# the server is shutting down, or this server became a standby.
_RECONNECT_SQLSTATES = {"57P01", "57P02", "57P03", "25006", "08000", "08003",
                        "08006", "08001", "08004"}


def is_connection_error(error):
    if isinstance(error, psycopg.OperationalError) and getattr(error, "sqlstate", None) is None:
        return True
    return getattr(error, "sqlstate", None) in _RECONNECT_SQLSTATES


class Connection:
    """A psycopg connection in autocommit mode, re-established on loss."""

    def __init__(self, client, on_connect=None, name="pulsar_pg"):
        self._client = client
        self._on_connect = on_connect
        self._name = name
        self.lock = threading.RLock()
        self.conn = None
        self.closed = False
        self.reconnects = 0
        self.connect(first=True)

    def _open(self):
        conn = psycopg.connect(self._client._conninfo, autocommit=True,
                               connect_timeout=max(1, self._client._connect_timeout_s),
                               application_name=self._name)
        return conn

    def connect(self, first=False):
        """(Re)connects; the first attempt is not retried, as in Pulsar."""
        deadline = time.monotonic() + self._client._operation_timeout_s
        delay = 0.1
        while True:
            if self.closed:
                raise exceptions.AlreadyClosed("already closed")
            try:
                conn = self._open()
                self.conn = conn
                if self._on_connect is not None:
                    self._on_connect(conn)
                if not first:
                    self.reconnects += 1
                return conn
            except psycopg.Error as error:
                if self.conn is not None:
                    self._discard()
                if first or not is_connection_error(error) or time.monotonic() >= deadline:
                    raise exceptions.from_server(error) from error
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _discard(self):
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def run(self, fn, retry=True):
        """Calls fn(conn) under the lock; reconnects and calls it again after
        a lost connection when ``retry``.  Server errors become
        PulsarExceptions."""
        with self.lock:
            while True:
                if self.closed:
                    raise exceptions.AlreadyClosed("already closed")
                if self.conn is None or self.conn.closed:
                    self.connect()
                try:
                    return fn(self.conn)
                except psycopg.Error as error:
                    if not is_connection_error(error):
                        raise exceptions.from_server(error) from error
                    self._discard()
                    if not retry:
                        raise exceptions.from_server(error) from error

    def close(self):
        with self.lock:
            self.closed = True
            self._discard()
