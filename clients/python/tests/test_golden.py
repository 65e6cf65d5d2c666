"""The Rust crate's golden vectors: Python must decode each to the same message, encode that
message to the same bytes, and refuse each invalid input with the same error code."""

import pytest

from backlog_client import MESSAGE_TYPES, DecodeError, decode, encode
from samples import SAMPLES


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_vector_decodes_and_encodes_identically(golden_dir, name):
    raw = (golden_dir / f"{name}.cbor").read_bytes()
    assert decode(raw) == SAMPLES[name]
    assert encode(SAMPLES[name]) == raw


def test_every_vector_has_a_sample_and_every_type_a_vector(golden_dir):
    files = {p.stem for p in golden_dir.glob("*.cbor")}
    assert files == set(SAMPLES)
    assert {type(m).TYPE for m in SAMPLES.values()} == set(MESSAGE_TYPES)


def test_invalid_vectors_give_the_same_codes(golden_dir):
    files = sorted((golden_dir / "invalid").glob("*.cbor"))
    assert len(files) >= 10
    for path in files:
        name, code = path.stem.split(".")
        with pytest.raises(DecodeError) as caught:
            decode(path.read_bytes())
        assert caught.value.code == code, f"{name}: {caught.value}"
