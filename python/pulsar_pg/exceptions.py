"""Exceptions of pulsar_pg, under the names of Pulsar's Python client.

Every error the server reports becomes one of these classes, chosen by its
SQLSTATE, and keeps the SQLSTATE in ``sqlstate`` and the server's message in
``str(exc)``.  Errors the client detects itself (a timeout, a closed
consumer) carry ``sqlstate = None``.  Wrong argument types and values that
the client can check before calling the server raise ``ValueError`` or
``TypeError``, as Pulsar's client does.
"""

import enum


class Result(enum.IntEnum):
    """Outcome codes, as in Pulsar's ``pulsar.Result``."""

    Ok = 0
    UnknownError = 1
    InvalidConfiguration = 2
    Timeout = 3
    LookupError = 4
    ConnectError = 5
    ReadError = 6
    AuthenticationError = 7
    AuthorizationError = 8
    ErrorGettingAuthenticationData = 9
    BrokerMetadataError = 10
    BrokerPersistenceError = 11
    ChecksumError = 12
    ConsumerBusy = 13
    NotConnected = 14
    AlreadyClosed = 15
    InvalidMessage = 16
    ConsumerNotInitialized = 17
    ProducerNotInitialized = 18
    ProducerBusy = 19
    TooManyLookupRequestException = 20
    InvalidTopicName = 21
    InvalidUrl = 22
    ServiceUnitNotReady = 23
    OperationNotSupported = 24
    ProducerBlockedQuotaExceededError = 25
    ProducerBlockedQuotaExceededException = 26
    ProducerQueueIsFull = 27
    MessageTooBig = 28
    TopicNotFound = 29
    SubscriptionNotFound = 30
    ConsumerNotFound = 31
    UnsupportedVersionError = 32
    TopicTerminated = 33
    CryptoError = 34
    IncompatibleSchema = 35
    ConsumerAssignError = 36
    CumulativeAcknowledgementNotAllowedError = 37
    TransactionCoordinatorNotFoundError = 38
    InvalidTxnStatusError = 39
    NotAllowedError = 40
    TransactionConflict = 41
    TransactionNotFound = 42
    ProducerFenced = 43
    MemoryBufferIsFull = 44
    Interrupted = 45


class PulsarException(Exception):
    """Base class of every pulsar_pg error.

    ``sqlstate`` is the server's SQLSTATE (None for client-side errors) and
    ``result()`` the matching ``Result``.
    """

    _result = Result.UnknownError

    def __init__(self, message="", sqlstate=None):
        super().__init__(message)
        self.sqlstate = sqlstate

    def result(self):
        return self._result


def _define(name):
    cls = type(name, (PulsarException,), {"_result": Result[name]})
    cls.__module__ = __name__
    globals()[name] = cls
    return cls


for _r in Result:
    if _r is not Result.Ok:
        _define(_r.name)

__all__ = ["Result", "PulsarException"] + [r.name for r in Result if r is not Result.Ok]


# SQLSTATE -> exception class; the first two characters (the class) are
# tried when the full code is not listed.
_BY_SQLSTATE = {
    "42704": "TopicNotFound",               # undefined_object
    "42602": "InvalidTopicName",            # invalid_name
    "42622": "InvalidTopicName",            # name_too_long
    "22023": "InvalidConfiguration",        # invalid_parameter_value
    "22004": "InvalidConfiguration",        # null_value_not_allowed
    "2202E": "InvalidConfiguration",        # array_subscript_error
    "22P02": "InvalidMessage",              # invalid_text_representation
    "54000": "MessageTooBig",               # program_limit_exceeded
    "53000": "ProducerQueueIsFull",         # insufficient_resources
    "53400": "ProducerQueueIsFull",         # configuration_limit_exceeded
    "55006": "ConsumerBusy",                # object_in_use
    "55000": "NotAllowedError",             # object_not_in_prerequisite_state
    "42P07": "NotAllowedError",             # duplicate_object (relation)
    "42710": "NotAllowedError",             # duplicate_object
    "2BP01": "NotAllowedError",             # dependent_objects_still_exist
    "42809": "OperationNotSupported",       # wrong_object_type
    "0A000": "OperationNotSupported",       # feature_not_supported
    "40001": "TransactionConflict",         # serialization_failure
    "40P01": "TransactionConflict",         # deadlock_detected
    "25006": "ServiceUnitNotReady",         # read_only_sql_transaction (a standby)
    "42501": "AuthorizationError",          # insufficient_privilege
    "57014": "Interrupted",                 # query_canceled
    "42883": "UnsupportedVersionError",     # undefined_function: an older extension
    "3F000": "UnsupportedVersionError",     # invalid_schema_name: no extension
}
_BY_CLASS = {
    "08": "ConnectError",
    "28": "AuthenticationError",
    "57": "ConnectError",                   # admin_shutdown, crash_shutdown, ...
    "53": "ProducerQueueIsFull",
    "22": "InvalidConfiguration",
    "40": "TransactionConflict",
}


def from_server(error):
    """Turns a psycopg error into the matching PulsarException."""
    sqlstate = getattr(error, "sqlstate", None)
    name = None
    if sqlstate:
        name = _BY_SQLSTATE.get(sqlstate) or _BY_CLASS.get(sqlstate[:2])
        text = str(getattr(error.diag, "message_primary", None) or "")
        if sqlstate == "42704":
            if text.startswith("subscription"):
                name = "SubscriptionNotFound"
            elif text.startswith("consumer"):
                name = "ConsumerNotFound"
        elif sqlstate == "42602" and "subscription" in text:
            name = "InvalidConfiguration"
        elif sqlstate == "0A000" and text.startswith("cumulative acknowledgement"):
            name = "CumulativeAcknowledgementNotAllowedError"
        elif sqlstate == "55000" and text.startswith("consumer"):
            name = "ConsumerNotFound"
    elif type(error).__name__ == "OperationalError":
        name = "ConnectError"       # no SQLSTATE: the connection failed or broke
    cls = globals()[name] if name else PulsarException
    message = str(error).strip()
    if sqlstate:
        message = "%s (SQLSTATE %s)" % (message, sqlstate)
    exc = cls(message, sqlstate)
    exc.__cause__ = error
    return exc
