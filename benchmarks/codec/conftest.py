"""Fixtures of the codec benchmarks: one realistic 5,000-node status, in every shape a side needs."""
from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import msgspec
import pytest

from tiphys.core.spec import NodeStatus
from tiphys.core.status.synth import synthetic_nodes

COUNT = 5000

# Go marshals NodeStatus fields in declaration order (workflow_types.go), and map keys sorted.
GO_FIELD_ORDER = ("id name displayName type templateName templateRef templateScope phase boundaryID message "
                  "startedAt finishedAt estimatedDuration progress resourcesDuration podIP daemoned nodeFlag "
                  "inputs outputs children outboundNodes hostNodeName memoizationStatus synchronizationStatus "
                  "taskResultSynced failedPodRestarts restartingPodUID").split()


def argo_builtins(nodes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The node map as Argo holds it before marshalling: sorted ids, Go field order."""
    return {k: {f: nodes[k][f] for f in GO_FIELD_ORDER if f in nodes[k]} for k in sorted(nodes)}


def argo_encode(nodes: dict[str, dict[str, Any]]) -> str:
    """The baseline: stdlib json.dumps (compact, like Go) + gzip level 6 + base64 — what Argo writes."""
    return base64.b64encode(gzip.compress(json.dumps(nodes, separators=(",", ":")).encode(), 6)).decode()


def argo_decode(text: str) -> dict[str, Any]:
    """The baseline reader: base64 + gunzip + json.loads."""
    return json.loads(gzip.decompress(base64.b64decode(text)))


@pytest.fixture(scope="session")
def raw_nodes() -> dict[str, dict[str, Any]]:
    return synthetic_nodes(COUNT, seed=42)


@pytest.fixture(scope="session")
def argo_nodes(raw_nodes) -> dict[str, dict[str, Any]]:
    return argo_builtins(raw_nodes)


@pytest.fixture(scope="session")
def nodes(raw_nodes) -> dict[str, NodeStatus]:
    """The Structs as the controller holds them: decoded from the status it read back (keys sorted,
    as Argo and tiphys write them). Allocation order matters: walking 5,000 nodes in an order
    unrelated to their addresses costs 2-3x in cache misses, for json.dumps and msgspec alike."""
    return msgspec.json.decode(msgspec.json.encode(raw_nodes, order="deterministic"),
                               type=dict[str, NodeStatus])
