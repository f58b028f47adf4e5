#!/usr/bin/python3
"""Pulsar's classic Python consumer, on pulsar_pg: only the import and the
service URL differ.  Run it against the demo server (bash scripts/demo.sh),
as root or postgres:  /usr/bin/python3 examples/consumer.py
It waits on LISTEN for messages and stops after 10 seconds without one."""

import os

import pulsar_pg as pulsar

demo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".pgdata")
service_url = os.environ.get(
    "PULSAR_SERVICE_URL",
    "host=%s port=%s dbname=pulsar user=postgres"
    % (os.path.normpath(demo), os.environ.get("PULSAR_DEMO_PORT", "5440")))

client = pulsar.Client(service_url)

# Earliest: the subscription starts with what examples/producer.py sent,
# whichever of the two runs first.
consumer = client.subscribe('my-topic', 'my-subscription',
                            initial_position=pulsar.InitialPosition.Earliest)

while True:
    try:
        msg = consumer.receive(timeout_millis=10000)
    except pulsar.Timeout:
        break
    try:
        print("Received message '{}' id='{}'".format(msg.data(), msg.message_id()))
        # Acknowledge successful processing of the message
        consumer.acknowledge(msg)
    except Exception:
        # Message failed to be processed
        consumer.negative_acknowledge(msg)

client.close()
