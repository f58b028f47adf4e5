"""pulsar_pg: Apache Pulsar's Python client API on PostgreSQL.

A program written for ``pulsar-client`` changes its import and its service
URL (a PostgreSQL connection string) and runs::

    import pulsar_pg as pulsar
    client = pulsar.Client('postgresql:///pulsar?host=/path/to/socket')
    producer = client.create_producer('my-topic')
    producer.send(b'hello')

Beyond Pulsar: ``producer.send(..., connection=conn)`` publishes in the
caller's transaction, and ``consumer.transaction()`` receives, lets the
caller write and acknowledges in one transaction.  See docs/python.md.
"""

from . import exceptions
from .exceptions import *  # noqa: F401,F403  Pulsar's client exports them at top level
from .exceptions import Result, PulsarException
from ._types import (BatchingType, BytesSchema, CompressionType, ConsumerDeadLetterPolicy,
                     ConsumerType, InitialPosition, Message, MessageId,
                     PartitionsRoutingMode, ProducerAccessMode, StringSchema)
from .client import Client
from .consumer import Consumer, Transaction
from .producer import Producer
from .reader import Reader

__version__ = "0.7.0"

__all__ = ["Client", "Producer", "Consumer", "Reader", "Transaction", "Message",
           "MessageId", "ConsumerType", "InitialPosition", "ConsumerDeadLetterPolicy",
           "CompressionType", "PartitionsRoutingMode", "BatchingType",
           "ProducerAccessMode", "BytesSchema", "StringSchema", "Result",
           "PulsarException", "exceptions"] + exceptions.__all__
