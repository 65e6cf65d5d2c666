"""Field kinds: how each field of a message is checked when decoded and written when encoded.

Every dataclass field of a message carries its kind in ``metadata["kind"]``; the codec walks
the dataclass fields in declaration order, which is the order the Rust crate writes them in.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import uuid as uuid_module
from enum import Enum
from typing import Any, Dict, Type


class FieldError(Exception):
    """A field's value is wrong; ``path`` names it (``jobs[0].priority``)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"field `{path}`: {problem}")
        self.path = path


class Kind:
    """Checks a decoded value and prepares a value for encoding."""

    def decode(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def encode(self, value: Any, path: str) -> Any:
        raise NotImplementedError


class Int(Kind):
    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def decode(self, value: Any, path: str) -> int:
        if type(value) is not int:
            raise FieldError(path, f"expected an integer, got {type(value).__name__}")
        if not self.lo <= value <= self.hi:
            raise FieldError(path, f"{value} is out of range {self.lo}..={self.hi}")
        return value

    encode = decode


I64 = Int(-(2**63), 2**63 - 1)
U64 = Int(0, 2**64 - 1)
I32 = Int(-(2**31), 2**31 - 1)
U32 = Int(0, 2**32 - 1)
I16 = Int(-(2**15), 2**15 - 1)
U16 = Int(0, 2**16 - 1)


class _Text(Kind):
    def decode(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise FieldError(path, f"expected text, got {type(value).__name__}")
        return value

    encode = decode


class _Bool(Kind):
    def decode(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise FieldError(path, f"expected a bool, got {type(value).__name__}")
        return value

    encode = decode


class _Token(Kind):
    """16 bytes: a lease token."""

    def decode(self, value: Any, path: str) -> bytes:
        if not isinstance(value, (bytes, bytearray)) or len(value) != 16:
            raise FieldError(path, "expected a byte string of exactly 16 bytes")
        return bytes(value)

    encode = decode


class _Uuid(Kind):
    """A UUID, sent as its 16 bytes."""

    def decode(self, value: Any, path: str) -> uuid_module.UUID:
        return uuid_module.UUID(bytes=TOKEN.decode(value, path))

    def encode(self, value: Any, path: str) -> bytes:
        if not isinstance(value, uuid_module.UUID):
            raise FieldError(path, "expected a uuid.UUID")
        return value.bytes


TEXT = _Text()
BOOL = _Bool()
TOKEN = _Token()
UUID = _Uuid()


class EnumKind(Kind):
    def __init__(self, enum: Type[Enum]) -> None:
        self.enum = enum

    def decode(self, value: Any, path: str) -> Enum:
        try:
            return self.enum(value)
        except (ValueError, TypeError):
            allowed = ", ".join(repr(m.value) for m in self.enum)
            raise FieldError(path, f"{value!r} is not one of {allowed}") from None

    def encode(self, value: Any, path: str) -> str:
        return self.decode(value, path).value


class ListOf(Kind):
    def __init__(self, item: Kind) -> None:
        self.item = item

    def decode(self, value: Any, path: str) -> list:
        if not isinstance(value, list):
            raise FieldError(path, f"expected an array, got {type(value).__name__}")
        return [self.item.decode(v, f"{path}[{i}]") for i, v in enumerate(value)]

    def encode(self, value: Any, path: str) -> list:
        if not isinstance(value, (list, tuple)):
            raise FieldError(path, "expected a list")
        return [self.item.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]


class Float:
    """A float to write in the shortest of half, single and double precision that keeps its
    value, as the Rust side does (cbor2 alone always writes doubles)."""

    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = value

    def cbor(self) -> bytes:
        x = self.value
        for head, fmt in ((0xF9, ">e"), (0xFA, ">f")):
            try:
                packed = struct.pack(fmt, x)
            except (OverflowError, struct.error):
                continue
            back = struct.unpack(fmt, packed)[0]
            if back == x and math.copysign(1.0, back) == math.copysign(1.0, x):
                return bytes([head]) + packed
        return b"\xfb" + struct.pack(">d", x)


#: Deepest JSON value an encoder writes (a receiver would refuse deeper messages anyway).
MAX_JSON_DEPTH = 128


class _Json(Kind):
    """Any JSON value, as the database stores it: null, bool, 64-bit integers, finite floats,
    text, arrays and maps with text keys."""

    def decode(self, value: Any, path: str) -> Any:
        return self._check(value, path, 0)

    def _check(self, value: Any, path: str, depth: int) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            if not -(2**63) <= value <= 2**64 - 1:
                raise FieldError(path, "integers must fit in 64 bits")
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise FieldError(path, "NaN and infinities are not JSON numbers")
            return value
        if isinstance(value, (list, dict)) and depth >= MAX_JSON_DEPTH:
            raise FieldError(path, f"a JSON value nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, list):
            return [self._check(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise FieldError(path, f"map keys must be text, got {type(k).__name__}")
                out[k] = self._check(v, f"{path}.{k}", depth + 1)
            return out
        raise FieldError(path, f"{type(value).__name__} is not a JSON value")

    def encode(self, value: Any, path: str) -> Any:
        """The value with object keys sorted and floats in their shortest exact width."""
        return _wrap_floats(self.decode(value, path))


def _wrap_floats(value: Any) -> Any:
    if isinstance(value, float):
        return Float(value)
    if isinstance(value, list):
        return [_wrap_floats(v) for v in value]
    if isinstance(value, dict):
        # Keys in UTF-8 byte order, as the Rust side writes JSON objects.
        keys = sorted(value, key=lambda k: k.encode("utf-8"))
        return {k: _wrap_floats(value[k]) for k in keys}
    return value


JSON = _Json()

PRIORITY_NAMES = {"high": 10, "normal": 0, "low": -10}


class _Priority(Kind):
    """An integer priority; jobq's names decode to their numbers."""

    def decode(self, value: Any, path: str) -> int:
        if isinstance(value, str):
            if value not in PRIORITY_NAMES:
                raise FieldError(path, f"{value!r} is not high, normal or low")
            return PRIORITY_NAMES[value]
        return I16.decode(value, path)

    encode = decode


PRIORITY = _Priority()


class Struct(Kind):
    """A nested dataclass, written as a map of its fields."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def decode(self, value: Any, path: str) -> Any:
        return decode_fields(self.cls, value, path)

    def encode(self, value: Any, path: str) -> Dict[str, Any]:
        if not isinstance(value, self.cls):
            raise FieldError(path, f"expected {self.cls.__name__}")
        return encode_fields(value, path)


class Tagged(Kind):
    """One of several dataclasses, told apart by a ``kind`` entry written first (serde's
    internally tagged enums)."""

    def __init__(self, variants: Dict[str, type]) -> None:
        self.variants = variants

    def decode(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise FieldError(path, "expected a map")
        tag = value.get("kind")
        if tag not in self.variants:
            raise FieldError(path, f"kind must be one of {sorted(self.variants)}")
        return decode_fields(self.variants[tag], value, path)

    def encode(self, value: Any, path: str) -> Dict[str, Any]:
        for tag, cls in self.variants.items():
            if type(value) is cls:
                return {"kind": tag, **encode_fields(value, path)}
        raise FieldError(path, f"expected one of {[c.__name__ for c in self.variants.values()]}")


class Either(Kind):
    """A value of the first kind that accepts it."""

    def __init__(self, *kinds: Kind) -> None:
        self.kinds = kinds

    def decode(self, value: Any, path: str) -> Any:
        for kind in self.kinds:
            try:
                return kind.decode(value, path)
            except FieldError:
                continue
        raise FieldError(path, f"unexpected value {value!r}")

    def encode(self, value: Any, path: str) -> Any:
        for kind in self.kinds:
            try:
                return kind.encode(value, path)
            except FieldError:
                continue
        raise FieldError(path, f"unexpected value {value!r}")


def req(kind: Kind) -> Any:
    """A required field."""
    return dataclasses.field(metadata={"kind": kind})


def opt(kind: Kind) -> Any:
    """An optional field: absent (or CBOR null) is None, and None is not written."""
    return dataclasses.field(default=None, metadata={"kind": kind, "optional": True, "omit": None})


def many(kind: Kind) -> Any:
    """An optional list: absent is empty, and an empty list is not written."""
    return dataclasses.field(
        default_factory=list, metadata={"kind": ListOf(kind), "optional": True, "omit": []}
    )


def flag() -> Any:
    """An optional bool: absent is False, and False is not written."""
    return dataclasses.field(default=False, metadata={"kind": BOOL, "optional": True, "omit": False})


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def decode_fields(cls: type, value: Any, path: str = "") -> Any:
    """Builds ``cls`` from a decoded map, ignoring unknown entries."""
    if not isinstance(value, dict):
        raise FieldError(path or "message", f"expected a map, got {type(value).__name__}")
    args = {}
    for f in dataclasses.fields(cls):
        if "kind" not in f.metadata:
            continue
        here = _join(path, f.name)
        if f.name not in value:
            if not f.metadata.get("optional"):
                raise FieldError(here, "missing")
            continue
        raw = value[f.name]
        if raw is None and f.metadata.get("optional") and f.default is None:
            args[f.name] = None
            continue
        args[f.name] = f.metadata["kind"].decode(raw, here)
    return cls(**args)


def _is_omitted(value: Any, omit: Any) -> bool:
    if omit is None or omit is False:
        return value is omit
    return isinstance(value, list) and not value


def encode_fields(obj: Any, path: str = "") -> Dict[str, Any]:
    """The fields of ``obj`` to write, in declaration order, without absent optional ones."""
    out: Dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if "kind" not in f.metadata:
            continue
        value = getattr(obj, f.name)
        if f.metadata.get("optional") and _is_omitted(value, f.metadata["omit"]):
            continue
        out[f.name] = f.metadata["kind"].encode(value, _join(path, f.name))
    return out

