"""Typed errors of the codec. Each decode error carries the protocol's error code."""

from __future__ import annotations

from typing import Optional


class BacklogError(Exception):
    """Base class of every error this package raises."""


class EncodeError(BacklogError):
    """A message could not be encoded (a value out of range or of the wrong type)."""


class DecodeError(BacklogError):
    """Bytes are not a message. ``code`` is the protocol's error code to answer with."""

    code: str = "malformed"

    def __init__(self, message: str, message_type: Optional[str] = None) -> None:
        super().__init__(message)
        #: The type of the message, when it could be read.
        self.message_type = message_type


class MalformedError(DecodeError):
    """Not a CBOR map with ``v`` and ``type``, truncated, trailing bytes, or a field missing
    or of the wrong type."""

    code = "malformed"


class UnknownTypeError(DecodeError):
    """A ``type`` this protocol version does not define."""

    code = "unknown_type"


class UnsupportedVersionError(DecodeError):
    """A ``v`` this package does not speak."""

    code = "unsupported_version"

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        #: The version sent.
        self.version = version


class TooLargeError(DecodeError):
    """Bigger than the size limit; not parsed at all."""

    code = "too_large"


class TooDeepError(DecodeError):
    """Nested deeper than the depth limit."""

    code = "too_deep"


class InvalidError(DecodeError):
    """Well-formed, but a value is out of range."""

    code = "invalid"
