#!/usr/bin/python3
#
# bench/timers.py -- how late the background worker's notification comes
# after a timer falls due: a nack redelivery (negative_ack_delay) and a
# delayed message (deliver_after) of a shared subscription.
#
#   timers.py --dsn DSN [--rounds N] [--delay-ms D]
#
# Needs the extension in the database DSN names.  Makes topic
# bench_timers with a shared subscription whose negative_ack_delay is D
# (default 200 ms).  Each round, once for each kind of timer: a listener
# session LISTENs on the subscription's channel; another session sets the
# timer (nack of a received message, or send with deliver_after D and a
# receive that passes it), noting time.monotonic_ns() just before the
# statement that sets it; the listener waits in select() on its socket and
# notes the time the notification arrives.  Lateness = arrival - (noted
# time + D): an upper bound, since the timer starts a little after the
# noted time.  Prints a markdown table of p50, p99 and max lateness in ms.

import argparse
import select
import time

import psycopg2
import psycopg2.extensions

TOPIC = "bench_timers"
SUBSCRIPTION = "sh"


def connect(dsn):
    conn = psycopg2.connect(dsn)
    conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    return conn


def wait_notification(conn, timeout_s):
    """Returns the monotonic time of the first notification, or None."""
    deadline = time.monotonic() + timeout_s
    while True:
        conn.poll()
        if conn.notifies:
            arrived = time.monotonic_ns()
            conn.notifies.clear()
            return arrived
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        select.select([conn], [], [], left)


def drain(conn):
    time.sleep(0.05)
    conn.poll()
    conn.notifies.clear()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--delay-ms", type=int, default=200)
    args = parser.parse_args()
    delay_ns = args.delay_ms * 1_000_000

    listener = connect(args.dsn)
    actor = connect(args.dsn)
    cur = actor.cursor()
    cur.execute("SELECT pulsar.create_topic(%s) WHERE NOT EXISTS "
                "(SELECT 1 FROM pulsar.list_topics() WHERE topic LIKE %s)",
                (TOPIC, "%/" + TOPIC))
    cur.execute("SELECT pulsar.subscribe(%s, %s, 'shared', consumer => 'timers', "
                "negative_ack_delay => %s::interval)",
                (TOPIC, SUBSCRIPTION, "%d ms" % args.delay_ms))
    channel = cur.fetchone()[0]
    listener.cursor().execute("LISTEN " + channel)

    late = {"nack": [], "deliver_after": []}
    missed = {"nack": 0, "deliver_after": 0}
    for _ in range(args.rounds):
        # nack: receive a message, nack it, wait for the redelivery's notification
        cur.execute("SELECT pulsar.send(%s, 'n')", (TOPIC,))
        wait_notification(listener, 5)
        cur.execute("SELECT message_id FROM pulsar.receive(%s, %s, 1, consumer => 'timers')",
                    (TOPIC, SUBSCRIPTION))
        message_id = cur.fetchone()[0]
        drain(listener)
        set_at = time.monotonic_ns()
        cur.execute("SELECT pulsar.nack(%s, %s, ARRAY[%s::pulsar.message_id])",
                    (TOPIC, SUBSCRIPTION, message_id))
        arrived = wait_notification(listener, 5 + args.delay_ms / 1000)
        if arrived is None:
            missed["nack"] += 1
        else:
            late["nack"].append((arrived - set_at - delay_ns) / 1e6)
        cur.execute("SELECT pulsar.ack(%s, %s, array_agg(message_id)) "
                    "FROM pulsar.receive(%s, %s, 10, consumer => 'timers')",
                    (TOPIC, SUBSCRIPTION, TOPIC, SUBSCRIPTION))

        # deliver_after: publish, let a receive pass it, wait for it to fall due
        set_at = time.monotonic_ns()
        cur.execute("SELECT pulsar.send(%s, 'd', deliver_after => %s::interval)",
                    (TOPIC, "%d ms" % args.delay_ms))
        wait_notification(listener, 5)
        cur.execute("SELECT count(*) FROM pulsar.receive(%s, %s, 10, consumer => 'timers')",
                    (TOPIC, SUBSCRIPTION))
        drain(listener)
        arrived = wait_notification(listener, 5 + args.delay_ms / 1000)
        if arrived is None:
            missed["deliver_after"] += 1
        else:
            late["deliver_after"].append((arrived - set_at - delay_ns) / 1e6)
        cur.execute("SELECT pulsar.ack(%s, %s, array_agg(message_id)) "
                    "FROM pulsar.receive(%s, %s, 10, consumer => 'timers')",
                    (TOPIC, SUBSCRIPTION, TOPIC, SUBSCRIPTION))

    cur.execute("SELECT pulsar.close_consumer(%s, %s, 'timers')", (TOPIC, SUBSCRIPTION))
    print("| timer (%d ms) | rounds | p50 late ms | p99 late ms | max late ms | missed |"
          % args.delay_ms)
    print("|---|---:|---:|---:|---:|---:|")
    for kind in ("nack", "deliver_after"):
        values = late[kind]
        if values:
            print("| %s | %d | %.2f | %.2f | %.2f | %d |"
                  % (kind, len(values), percentile(values, 50), percentile(values, 99),
                     max(values), missed[kind]))
        else:
            print("| %s | 0 | | | | %d |" % (kind, missed[kind]))


if __name__ == "__main__":
    main()
