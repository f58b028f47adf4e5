"""Fixtures: a database with the extension on the server named by PGHOST
and PGPORT (scripts/test.sh's throw-away server), unique topic names, and a
private server for the tests that restart it."""

import os
import shutil
import subprocess
import tempfile
import uuid

import psycopg
import pytest

import pulsar_pg

DATABASE = "pulsar_python_test"


def _admin_dsn(dbname):
    return "dbname=%s" % dbname


@pytest.fixture(scope="session")
def dsn():
    with psycopg.connect(_admin_dsn("postgres"), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS %s" % DATABASE)
        conn.execute("CREATE DATABASE %s" % DATABASE)
    with psycopg.connect(_admin_dsn(DATABASE), autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("CREATE EXTENSION pulsar_pg")
        conn.execute("SELECT pulsar.create_namespace('public/dedup')")
        conn.execute("SELECT pulsar.set_deduplication('public/dedup', true)")
    # The database stays: the next session drops it.  (Dropping it WITH
    # (FORCE) now could interrupt a segment worker creating a table.)
    yield _admin_dsn(DATABASE)


@pytest.fixture
def sql(dsn):
    """An autocommit connection for checking the server's side."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def client(dsn):
    c = pulsar_pg.Client(dsn, operation_timeout_seconds=20)
    yield c
    c.close()


@pytest.fixture
def topic():
    return "t-" + uuid.uuid4().hex[:12]


def stats(conn, topic):
    return conn.execute("SELECT pulsar.topic_stats(%s)", (topic,)).fetchone()[0]


def bindir():
    pg_config = os.environ.get("PG_CONFIG", "pg_config")
    return subprocess.check_output([pg_config, "--bindir"], text=True).strip()


class PrivateServer:
    """A PostgreSQL server of our own, to stop and start at will.  Runs as
    the current user (scripts/test.sh runs the tests as postgres)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pulsar_pg_py.")
        self.data = os.path.join(self.dir, "data")
        self.port = int(os.environ.get("PGPORT", "5432"))
        self.bin = bindir()
        subprocess.run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                        "--auth=trust", "--no-sync", "--no-locale", "-E", "UTF8"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as conf:
            conf.write("\nlisten_addresses = ''\nunix_socket_directories = '%s'\n"
                       "port = %d\nshared_preload_libraries = 'pulsar_pg'\n"
                       % (self.dir, self.port))
        self.started = False

    def ctl(self, *args):
        subprocess.run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-t", "60",
                        "-l", os.path.join(self.dir, "log")] + list(args),
                       check=True, stdout=subprocess.DEVNULL)

    def start(self):
        self.ctl("start")
        self.started = True

    def stop(self, mode="fast"):
        self.ctl("stop", "-m", mode)
        self.started = False

    def dsn(self, **extra):
        parts = ["host=%s port=%d dbname=postgres user=postgres" % (self.dir, self.port)]
        parts += ["%s=%s" % kv for kv in extra.items()]
        return " ".join(parts)

    def destroy(self):
        if self.started:
            try:
                self.stop("immediate")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_server():
    server = PrivateServer()
    try:
        server.start()
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pulsar_pg")
        yield server
    finally:
        server.destroy()
