"""Shared fixtures: where Argo's examples live (../shared/argo beside the repository)."""
from __future__ import annotations

from pathlib import Path

import pytest

# One real kube-apiserver + etcd per session, for every test that asks for it (tests/cluster/fixture.py).
pytest_plugins = ["tests.cluster.fixture"]

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
