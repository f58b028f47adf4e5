"""Value types: enums, MessageId, Message, dead-letter policy, schemas."""

import datetime
import enum
import functools
import json


class ConsumerType(enum.Enum):
    """Subscription types; the value is what pulsar.subscribe() takes."""

    Exclusive = "exclusive"
    Shared = "shared"
    Failover = "failover"
    KeyShared = "key_shared"


class InitialPosition(enum.Enum):
    Latest = "latest"
    Earliest = "earliest"


class CompressionType(enum.Enum):
    """Accepted for compatibility; PostgreSQL compresses large payloads itself (TOAST)."""

    NONE = 0
    LZ4 = 1
    ZLib = 2
    ZSTD = 3
    SNAPPY = 4


class PartitionsRoutingMode(enum.Enum):
    """The server routes: keyed messages by Murmur3 hash, others round-robin."""

    RoundRobinDistribution = 0
    UseSinglePartition = 1
    CustomPartition = 2


class BatchingType(enum.Enum):
    Default = 0
    KeyBased = 1


class ProducerAccessMode(enum.Enum):
    Shared = 0


_INT64_MAX = (1 << 63) - 1


@functools.total_ordering
class MessageId:
    """A message's position: ``ledgerId:entryId:partitionIndex``.

    Totally ordered in publish order within a partition, like the server's
    ``pulsar.message_id``.  ``MessageId.earliest`` and ``MessageId.latest``
    name the two ends of a topic.
    """

    __slots__ = ("_ledger", "_entry", "_partition")

    def __init__(self, partition=-1, ledger_id=-1, entry_id=-1, batch_index=-1):
        for value in (partition, ledger_id, entry_id):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError("message id parts must be integers")
        self._ledger = ledger_id
        self._entry = entry_id
        self._partition = partition

    @classmethod
    def from_text(cls, text):
        """Parses ``L:E:P`` (the server's text form)."""
        if text is None:
            return None
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError("invalid message id %r" % (text,))
        ledger, entry, partition = (int(p) for p in parts)
        return cls(partition, ledger, entry)

    def ledger_id(self):
        return self._ledger

    def entry_id(self):
        return self._entry

    def partition(self):
        return self._partition

    def batch_index(self):
        return -1

    def serialize(self):
        return str(self).encode("ascii")

    @staticmethod
    def deserialize(data):
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data).decode("ascii")
        return MessageId.from_text(data)

    def _key(self):
        return (self._partition, self._ledger, self._entry)

    def __eq__(self, other):
        if not isinstance(other, MessageId):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other):
        if not isinstance(other, MessageId):
            return NotImplemented
        return self._key() < other._key()

    def __hash__(self):
        return hash(self._key())

    def __str__(self):
        return "%d:%d:%d" % (self._ledger, self._entry, self._partition)

    def __repr__(self):
        return "MessageId(%s)" % self


MessageId.earliest = MessageId(-1, -1, -1)
MessageId.latest = MessageId(-1, _INT64_MAX, _INT64_MAX)


class Message:
    """A received message, with the accessors of Pulsar's ``pulsar.Message``."""

    __slots__ = ("_id", "_id_text", "_key", "_payload", "_properties", "_publish_time",
                 "_event_time", "_redelivery_count", "_producer",
                 "_sequence_id", "_topic", "_schema")

    # Columns selected from pulsar.message, in this order.  Times come as
    # milliseconds since the epoch, what the accessors return: an integer
    # costs the client less to load than a timestamp.
    COLUMNS = ("message_id::text, key, payload, properties, "
               "(extract(epoch FROM publish_time) * 1000)::int8, "
               "(extract(epoch FROM event_time) * 1000)::int8, "
               "redelivery_count, producer, sequence_id, topic")

    def __init__(self, row, schema=None):
        (self._id_text, self._key, payload, properties, self._publish_time,
         self._event_time, self._redelivery_count, self._producer,
         self._sequence_id, self._topic) = row
        self._id = None
        self._payload = bytes(payload) if payload is not None else b""
        if isinstance(properties, str):
            properties = json.loads(properties)
        self._properties = {str(k): v if isinstance(v, str) else json.dumps(v)
                            for k, v in (properties or {}).items()}
        self._schema = schema

    def data(self):
        """The payload as bytes (b'' for a NULL payload)."""
        return self._payload

    def value(self):
        """The payload decoded by the consumer's schema (bytes by default)."""
        if self._schema is None:
            return self._payload
        return self._schema.decode(self._payload)

    def properties(self):
        return dict(self._properties)

    def partition_key(self):
        return self._key or ""

    def ordering_key(self):
        return self.partition_key()

    def publish_timestamp(self):
        """Publish time in milliseconds since the epoch (the server's clock)."""
        return self._publish_time or 0

    def event_timestamp(self):
        """Event time in milliseconds since the epoch, 0 if none was set."""
        return self._event_time or 0

    def message_id(self):
        if self._id is None:
            self._id = MessageId.from_text(self._id_text)
        return self._id

    def redelivery_count(self):
        return self._redelivery_count or 0

    def topic_name(self):
        return self._topic

    def producer_name(self):
        return self._producer

    def sequence_id(self):
        return self._sequence_id

    def __str__(self):
        return "Message(id=%s, key=%r, properties=%r, data=%r)" % (
            self._id_text, self._key, self._properties, self._payload)

    __repr__ = __str__


class ConsumerDeadLetterPolicy:
    """After ``max_redeliver_count`` redeliveries a message goes to
    ``dead_letter_topic`` (default ``<topic>-<subscription>-DLQ``)."""

    def __init__(self, max_redeliver_count, dead_letter_topic=None,
                 initial_subscription_name=None):
        if not isinstance(max_redeliver_count, int) or max_redeliver_count < 1:
            raise ValueError("max_redeliver_count must be a positive integer")
        if initial_subscription_name is not None:
            raise ValueError("initial_subscription_name is not supported: "
                             "subscribe to the dead-letter topic instead")
        self._max = max_redeliver_count
        self._topic = dead_letter_topic

    @property
    def max_redeliver_count(self):
        return self._max

    @property
    def dead_letter_topic(self):
        return self._topic


class BytesSchema:
    def encode(self, value):
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise TypeError("content must be bytes, got %s" % type(value).__name__)

    def decode(self, data):
        return data


class StringSchema:
    def encode(self, value):
        if isinstance(value, str):
            return value.encode("utf-8")
        raise TypeError("content must be str, got %s" % type(value).__name__)

    def decode(self, data):
        return data.decode("utf-8")


def to_millis_timestamp(millis, name):
    """Milliseconds since the epoch -> aware datetime (None stays None)."""
    if millis is None:
        return None
    if isinstance(millis, datetime.datetime):
        if millis.tzinfo is None:
            raise ValueError("%s must be timezone-aware" % name)
        return millis
    if not isinstance(millis, int) or isinstance(millis, bool):
        raise TypeError("%s must be milliseconds since the epoch (int)" % name)
    return datetime.datetime.fromtimestamp(millis / 1000.0, datetime.timezone.utc)
