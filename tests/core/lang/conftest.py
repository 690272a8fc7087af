"""Shared fixtures for the template-language tests: the Argo examples folder and a sample env."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / ".." / "shared" / "argo" / "examples"

NOW = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)


@pytest.fixture
def examples_dir() -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip(f"Argo examples not found at {EXAMPLES} (shared test data absent)")
    return EXAMPLES
