"""Shared fixtures: where Argo's examples live (../shared/argo beside the repository); and the
Hypothesis profile every property test inherits.

The profile turns off what makes a property's verdict depend on the machine's load rather than
on the code: the per-example deadline (200 ms by default: one example slowed by a loaded CI
machine fails the test, and its fast replay then reports it "flaky") and the too_slow health
check (it times data generation). A property that must bound its own cost does so with a budget
the code enforces (e.g. tiphys.core.lang's step limits); a real hang is pytest-timeout's.
Explicit `@settings(...)` only override what they name, so this must load before test modules
are imported: the root conftest is.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("tiphys", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("TIPHYS_HYPOTHESIS_PROFILE", "tiphys"))

# One real kube-apiserver + etcd per session, for every test that asks for it (tests/cluster/fixture.py),
# and one real S3 server (tests/executor/s3_fixture.py).
pytest_plugins = ["tests.cluster.fixture", "tests.executor.s3_fixture"]

REPO = Path(__file__).resolve().parent.parent
SHARED_ARGO = REPO.parent / "shared" / "argo"


def argo_path(*parts: str) -> Path:
    """A path under ../shared/argo, or skip the test with a clear message when it is absent."""
    path = SHARED_ARGO.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"Argo test data not found at {path} (expected ../shared/argo beside the repository)")
    return path


def argo_examples() -> list[Path]:
    """Every YAML document file among Argo's examples (empty when the folder is absent)."""
    root = SHARED_ARGO / "examples"
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml"))


@pytest.fixture
def argo_dir() -> Path:
    return argo_path()
