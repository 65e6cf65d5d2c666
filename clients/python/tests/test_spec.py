"""The CDDL schema in docs/protocol.md is checked against the encodings: every golden vector
must conform to it, and every invalid vector that breaks the schema must not."""

import pathlib
import re

import pytest
from cddl_verifier import Validator

from backlog_client import encode
from samples import SAMPLES

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs/protocol.md"


@pytest.fixture(scope="module")
def schema() -> Validator:
    blocks = re.findall(r"```cddl\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/protocol.md must hold exactly one cddl block"
    return Validator(blocks[0])


def test_every_golden_vector_conforms(schema, golden_dir):
    for path in sorted(golden_dir.glob("*.cbor")):
        result = schema.validate(path.read_bytes(), "message")
        assert result.valid, f"{path.name}: {result.errors}"


def test_python_encodings_conform(schema):
    for name, message in SAMPLES.items():
        assert schema.validate(encode(message), "message").valid, name


def test_invalid_vectors_break_the_schema_unless_only_a_value_is_wrong(schema, golden_dir):
    for path in sorted((golden_dir / "invalid").glob("*.cbor")):
        code = path.stem.split(".")[1]
        try:
            valid = schema.validate(path.read_bytes(), "message").valid
        except Exception:  # not CBOR at all: the validator refuses to read it
            valid = False
        # `invalid` is for value checks beyond the schema (section 5.1).
        assert valid == (code == "invalid"), path.name
