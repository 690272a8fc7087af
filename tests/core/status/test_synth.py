"""The generated statuses look like Argo's: exact size, derived IDs and display names, valid links."""
from __future__ import annotations

import re

import msgspec
import pytest

from tiphys.core.spec import NodeStatus
from tiphys.core.status import ids
from tiphys.core.status.synth import synthetic_nodes

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.mark.parametrize("count", [12, 100, 5000])
def test_shape_of_generated_status(count):
    """IDs are `wf-fnv(name)`, links point at nodes, timestamps are RFC3339 seconds, all decodes typed."""
    nodes = synthetic_nodes(count, seed=1)
    assert len(nodes) == count
    root = next(n for n in nodes.values() if n["id"] == n["name"])
    wf = root["name"]
    for key, node in nodes.items():
        assert key == node["id"] == ids.node_id(wf, node["name"])
        for ref in node.get("children", []) + node.get("outboundNodes", []) + [node.get("boundaryID") or key]:
            assert ref in nodes
        boundary = nodes[node["boundaryID"]]["name"] if node.get("boundaryID") else None
        assert node["displayName"] == ids.display_name(node["name"], boundary)
        assert RFC3339.match(node["startedAt"]) and RFC3339.match(node["finishedAt"])
        assert node["startedAt"] <= node["finishedAt"]
    msgspec.convert(nodes, dict[str, NodeStatus])


def test_generator_is_deterministic():
    """Same seed, same status; another seed, another workflow."""
    assert synthetic_nodes(300, seed=5) == synthetic_nodes(300, seed=5)
    assert synthetic_nodes(300, seed=5) != synthetic_nodes(300, seed=6)


def test_realistic_content():
    """Loop-indexed names, retries, artifacts with pod names, a failed attempt, a second root."""
    nodes = synthetic_nodes(5000, seed=2)
    names = [n["name"] for n in nodes.values()]
    assert any(re.search(r"\.fan\(\d+:id:p[0-9a-f]{6},size:\d+\)$", n) for n in names)
    assert any(n["type"] == "Retry" for n in nodes.values())
    assert any(n.get("message") == "Error (exit code 1)" for n in nodes.values())
    keys = [a["s3"]["key"] for n in nodes.values() for a in n.get("outputs", {}).get("artifacts", [])]
    assert keys and all(k.endswith("/main.log") for k in keys)
    assert sum(1 for n in nodes.values() if not n.get("boundaryID")) == 2  # root and wf.onExit


def test_too_small_is_refused():
    """Fewer than 12 nodes cannot hold the workflow's structure."""
    with pytest.raises(ValueError, match="at least 12"):
        synthetic_nodes(5)
