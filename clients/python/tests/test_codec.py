"""Round trips, hostile inputs and the ErrorInfo truncation rules, as the Rust tests check."""

import math
import random
import struct

import pytest

from backlog_client import (
    MAX_BACKTRACE_BYTES,
    MAX_BACKTRACE_LINES,
    MAX_ERROR_MESSAGE_BYTES,
    Completed,
    DecodeError,
    EncodeError,
    ErrorInfo,
    Hello,
    JobSpec,
    Limits,
    MalformedError,
    Order,
    Progress,
    Request,
    Role,
    TooDeepError,
    TooLargeError,
    decode,
    encode,
)
from samples import SAMPLES, token


def random_json(rng: random.Random, depth: int = 0):
    choice = rng.randrange(5 if depth > 3 else 7)
    if choice == 0:
        return None
    if choice == 1:
        return rng.random() < 0.5
    if choice == 2:
        return rng.randrange(-(2**63), 2**63)
    if choice == 3:
        return rng.choice([0.5, -2.25, 1e300, 3.14159, 65504.0, 1.0e-7, -0.0])
    if choice == 4:
        return "".join(rng.choice("aZ0_- é✓😀\"\\") for _ in range(rng.randrange(12)))
    if choice == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{rng.randrange(100)}": random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_random_messages_round_trip():
    rng = random.Random(42)
    for i in range(2_000):
        message = Order(
            job_id=rng.randrange(-(2**63), 2**63),
            lease=token(rng.randrange(256)),
            kind="k",
            queue="q",
            args=random_json(rng),
            attempt=rng.randrange(2**31),
            max_attempts=25,
            priority=rng.randrange(-(2**15), 2**15),
            lease_ms=rng.randrange(2**64),
            created_at_ms=0,
            metadata=random_json(rng) if rng.random() < 0.5 else None,
        )
        assert decode(encode(message)) == message, i


def test_floats_use_the_shortest_exact_width():
    def progress(value):
        return encode(Progress(job_id=1, lease=bytes(16), progress=value))

    assert progress(0.5).endswith(b"\xf9" + struct.pack(">e", 0.5))
    assert progress(1.0e-7).endswith(b"\xfb" + struct.pack(">d", 1.0e-7))
    assert progress(3.14159).endswith(b"\xfb" + struct.pack(">d", 3.14159))
    assert progress(100000.0).endswith(b"\xfa" + struct.pack(">f", 100000.0))
    with pytest.raises(EncodeError):
        progress(math.nan)


def test_every_truncation_of_every_sample_is_malformed():
    for name, message in SAMPLES.items():
        raw = encode(message)
        for end in range(len(raw)):
            with pytest.raises(MalformedError):
                decode(raw[:end])


def test_mutated_bytes_only_raise_decode_errors():
    rng = random.Random(7)
    vectors = [encode(m) for m in SAMPLES.values()]
    refused = 0
    for _ in range(5_000):
        raw = bytearray(rng.choice(vectors))
        for _ in range(1 + rng.randrange(4)):
            at = rng.randrange(len(raw))
            kind = rng.randrange(3)
            if kind == 0:
                raw[at] = rng.randrange(256)
            elif kind == 1:
                raw[at] ^= 1 << rng.randrange(8)
            else:
                raw.insert(at, rng.randrange(256))
        try:
            decode(bytes(raw))
        except DecodeError:
            refused += 1
    assert refused > 2_500


def test_size_is_checked_before_parsing():
    with pytest.raises(TooLargeError):
        decode(b"\xff" * 17, Limits(max_message_bytes=16))


def test_depth_limit_matches_the_rust_side():
    # The message map is level 1, `progress` holds the rest: 32 levels pass, 33 do not.
    def nested(levels):
        value = 1
        for _ in range(levels):
            value = [value]
        return encode(Progress(job_id=1, lease=bytes(16), progress=value))

    limits = Limits(max_depth=32)
    decode(nested(31), limits)
    with pytest.raises(TooDeepError):
        decode(nested(32), limits)


def test_declared_lengths_are_not_trusted():
    head = encode(Progress(job_id=1, lease=bytes(16), progress=None))[:-1]
    for major in (0x40, 0x60, 0x80, 0xA0):
        with pytest.raises(MalformedError):
            decode(head + bytes([major | 0x1B, 0x3F]) + b"\xff" * 7)


def test_json_fields_refuse_what_json_cannot_hold():
    head = encode(Progress(job_id=1, lease=bytes(16), progress=None))[:-1]
    for bad in (b"\x43abc", b"\xfb" + struct.pack(">d", math.inf), b"\xa1\x01\xf6", b"\xc1\x01"):
        with pytest.raises(MalformedError):
            decode(head + bad)


def test_priority_names_decode_to_numbers():
    raw = encode(Request(request_id="r", jobs=[JobSpec(kind="k", args=None, priority=10)]))
    named = raw.replace(b"\x68priority\x0a", b"\x68priority\x64high")
    assert decode(named).jobs[0].priority == 10


def test_worker_hello_is_checked():
    with pytest.raises(DecodeError) as caught:
        decode(encode(Hello(role=Role.WORKER, worker_id="w", kinds=["k"], queues=["q"])))
    assert caught.value.code == "invalid"


def test_truncation_matches_the_rust_rules():
    info = ErrorInfo(
        kind="é" * 100,
        message="x" * 5000,
        backtrace="\n".join(f"frame {i}" for i in range(1, 101)),
        panicked=True,
    ).truncated()
    assert len(info.kind.encode()) == 128
    assert len(info.message) == MAX_ERROR_MESSAGE_BYTES
    lines = info.backtrace.split("\n")
    assert len(lines) == MAX_BACKTRACE_LINES
    assert lines[0] == "frame 1" and lines[32] == "... 37 lines omitted ..." and lines[63] == "frame 100"
    long_line = ErrorInfo(message="boom", backtrace="ü" * 10_000).truncated()
    assert len(long_line.backtrace.encode()) == MAX_BACKTRACE_BYTES


def test_encode_refuses_values_out_of_range():
    with pytest.raises(EncodeError):
        encode(Completed(job_id=2**63, lease=bytes(16), duration_us=0))
    with pytest.raises(EncodeError):
        encode(Completed(job_id=1, lease=bytes(15), duration_us=0))


def test_encoding_refuses_json_deeper_than_any_receiver_accepts():
    deep = 1
    for _ in range(129):
        deep = [deep]
    with pytest.raises(EncodeError, match="deeper than 128"):
        encode(Progress(job_id=1, lease=bytes(16), progress=deep))
    encode(Progress(job_id=1, lease=bytes(16), progress=deep[0]))
