#!/usr/bin/python3
"""Pulsar's classic Python producer, on pulsar_pg: only the import and the
service URL differ.  Run it against the demo server (bash scripts/demo.sh),
as root or postgres:  /usr/bin/python3 examples/producer.py"""

import os

import pulsar_pg as pulsar

# The demo server listens on a Unix socket in .pgdata/ of this checkout.
demo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".pgdata")
service_url = os.environ.get(
    "PULSAR_SERVICE_URL",
    "host=%s port=%s dbname=pulsar user=postgres"
    % (os.path.normpath(demo), os.environ.get("PULSAR_DEMO_PORT", "5440")))

client = pulsar.Client(service_url)

producer = client.create_producer('my-topic')

for i in range(10):
    producer.send(('Hello-%d' % i).encode('utf-8'))

client.close()
