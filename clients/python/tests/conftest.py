import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))


@pytest.fixture(scope="session")
def golden_dir() -> pathlib.Path:
    """The Rust crate's golden vectors (override with BACKLOG_GOLDEN_DIR)."""
    default = pathlib.Path(__file__).resolve().parents[3] / "crates/backlog-protocol/tests/golden"
    path = pathlib.Path(os.environ.get("BACKLOG_GOLDEN_DIR", default))
    if not path.is_dir():
        pytest.fail(f"golden vectors not found at {path}; set BACKLOG_GOLDEN_DIR")
    return path
