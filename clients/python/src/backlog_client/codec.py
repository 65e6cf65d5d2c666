"""The CBOR codec: ``encode`` and ``decode``, matching the Rust crate ``backlog-protocol``
byte for byte and error code for error code."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import cbor2

from ._fields import FieldError, Float, decode_fields, encode_fields
from .errors import (
    EncodeError,
    InvalidError,
    MalformedError,
    TooDeepError,
    TooLargeError,
    UnknownTypeError,
    UnsupportedVersionError,
)
from .messages import MESSAGE_TYPES, FailAction, Failed, Hello, Message, Request, Role

#: The protocol version this package speaks; every message carries it in ``v``.
PROTOCOL_VERSION = 1
#: Every version this package can decode.
SUPPORTED_VERSIONS = (PROTOCOL_VERSION,)
#: Default largest message accepted (bytes).
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
#: Default deepest nesting accepted (arrays and maps, counting the message's own map).
DEFAULT_MAX_DEPTH = 128
#: Longest ``worker_id`` or ``request_id`` (bytes).
MAX_ID_BYTES = 128


@dataclass(frozen=True)
class Limits:
    """What ``decode`` accepts: the size is checked before parsing, the depth while parsing."""

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH


def _write_float(encoder: Any, value: Any) -> None:
    if isinstance(value, Float):
        encoder.write(value.cbor())
        return
    raise EncodeError(f"cannot encode a {type(value).__name__}")


def encode(message: Message) -> bytes:
    """Encodes a message: a CBOR map of ``v``, ``type``, then its fields in declaration
    order, absent optional fields left out, floats in their shortest exact width."""
    cls = type(message)
    if MESSAGE_TYPES.get(getattr(cls, "TYPE", "")) is not cls:
        raise EncodeError(f"{cls.__name__} is not a message type")
    try:
        body = encode_fields(message)
    except FieldError as e:
        raise EncodeError(f"cannot encode {cls.TYPE}: {e}") from None
    fields = {"v": PROTOCOL_VERSION, "type": cls.TYPE, **body}
    return cbor2.dumps(fields, default=_write_float)


def decode(data: bytes, limits: Limits = Limits()) -> Message:
    """Decodes one message (one ZeroMQ payload frame), enforcing ``limits``. Raises a
    ``DecodeError`` subclass whose ``code`` is the ``Error`` code to answer with."""
    if len(data) > limits.max_message_bytes:
        raise TooLargeError(
            f"message of {len(data)} bytes is over the limit of {limits.max_message_bytes} bytes"
        )
    if not data or data[0] >> 5 != 5:
        raise MalformedError("a message is a CBOR map with `v` and `type`")
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream, max_depth=limits.max_depth).decode()
    except cbor2.CBORDecodeEOF:
        raise MalformedError("truncated: the message ends early") from None
    except RecursionError:
        raise TooDeepError(f"message nests deeper than {limits.max_depth} levels") from None
    except cbor2.CBORDecodeError as e:
        if "nesting depth" in str(e):
            raise TooDeepError(f"message nests deeper than {limits.max_depth} levels") from None
        raise MalformedError(f"invalid CBOR: {e}") from None
    except (ValueError, TypeError, OverflowError) as e:
        raise MalformedError(f"invalid CBOR: {e}") from None
    if stream.tell() != len(data):
        raise MalformedError(f"{len(data) - stream.tell()} bytes after the end of the message")
    if not isinstance(value, dict):
        raise MalformedError("a message is a CBOR map with `v` and `type`")
    if "v" not in value:
        raise MalformedError("missing field `v` (the protocol version)")
    version = value["v"]
    if type(version) is not int or version < 0:
        raise MalformedError("`v` must be an unsigned integer")
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(
            f"protocol version {version} is not supported; this peer speaks {list(SUPPORTED_VERSIONS)}",
            version,
        )
    if "type" not in value:
        raise MalformedError("missing field `type`")
    name = value["type"]
    if not isinstance(name, str):
        raise MalformedError("`type` must be text")
    cls = MESSAGE_TYPES.get(name)
    if cls is None:
        raise UnknownTypeError(f"unknown message type {name[:64]!r}")
    try:
        message = decode_fields(cls, value)
    except FieldError as e:
        raise MalformedError(f"malformed message ({name}): {e}", name) from None
    _check(message)
    return message


def _check(message: Message) -> None:
    """The checks of values that decoding alone does not make (as the Rust crate makes)."""

    def invalid(reason: str) -> InvalidError:
        return InvalidError(f"invalid {message.TYPE} message: {reason}", message.TYPE)

    if isinstance(message, Hello):
        wid = message.worker_id
        if wid is not None and not 1 <= len(wid.encode("utf-8")) <= MAX_ID_BYTES:
            raise invalid("worker_id must be 1 to 128 bytes")
        if message.role == Role.WORKER:
            if wid is None:
                raise invalid("a worker must send its worker_id")
            if not message.kinds or not message.queues:
                raise invalid("a worker must name at least one kind and one queue")
            if not message.capacity:
                raise invalid("a worker's capacity must be at least 1")
    elif isinstance(message, Request):
        if not 1 <= len(message.request_id.encode("utf-8")) <= MAX_ID_BYTES:
            raise invalid("request_id must be 1 to 128 bytes")
    elif isinstance(message, Failed):
        if message.action == FailAction.SNOOZE and message.delay_ms is None:
            raise invalid("a snooze needs delay_ms")
        if message.action != FailAction.SNOOZE and message.error is None:
            raise invalid("retry, discard and cancel need the error")
