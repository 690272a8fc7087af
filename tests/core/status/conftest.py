"""Fixtures of the status tests: the node type, and one realistic 5,000-node status."""
from __future__ import annotations

import msgspec
import pytest

from tiphys.core.spec import NodeStatus
from tiphys.core.status.synth import synthetic_nodes


@pytest.fixture(scope="session")
def nodes5k() -> dict[str, NodeStatus]:
    """A realistic 5,000-node status (see `synth`) as spec Structs."""
    return msgspec.convert(synthetic_nodes(5000, seed=3), dict[str, NodeStatus])


@pytest.fixture(scope="session")
def nodes200() -> dict[str, NodeStatus]:
    """A small realistic status, for tests that loop."""
    return msgspec.convert(synthetic_nodes(200, seed=4), dict[str, NodeStatus])
