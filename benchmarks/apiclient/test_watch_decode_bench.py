"""Watch decode cost per event: our framing + msgspec against the `kubernetes` package's path.

A watch of pods is the controller's hottest stream. Each round decodes `EVENTS` watch lines of an
Argo-style pod (about 3 KB of JSON), delivered in 64 KiB chunks as the apiserver's chunked
response arrives: `LineSplitter` + `decode_event` (ours) against `kubernetes.watch.Watch`'s
`unmarshal_event` into `V1Pod` models (what a `kubernetes`-package informer pays), and against
plain `json.loads` per line (the floor without typed decoding). The gate holds the client to a
large margin over the generated models, which reference/kubernetes-test-cluster.md §8.2
names as the reason not to use them.
"""
from __future__ import annotations

import json

import pytest

from tiphys.controller.api._http_watch import LineSplitter, decode_event

EVENTS = 2000


def _pod(i: int) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": f"wf-{i}-step-{i * 7919 % 100000}", "namespace": "argo", "uid": f"00000000-0000-0000-0000-{i:012d}",
            "resourceVersion": str(1000 + i), "creationTimestamp": "2026-11-27T10:00:00Z",
            "labels": {"workflows.argoproj.io/workflow": f"wf-{i}", "workflows.argoproj.io/completed": "false"},
            "annotations": {"workflows.argoproj.io/node-id": f"wf-{i}-{i}", "workflows.argoproj.io/node-name": f"wf-{i}[0].step"},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": f"wf-{i}",
                                 "uid": "11111111-2222-3333-4444-555555555555", "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": {
            "nodeName": "node-0", "restartPolicy": "Never", "serviceAccountName": "default",
            "containers": [
                {"name": "wait", "image": "quay.io/argoproj/argoexec:v3.6.0", "command": ["argoexec", "wait"],
                 "env": [{"name": "ARGO_POD_NAME", "value": f"wf-{i}-step"}, {"name": "ARGO_CONTAINER_RUNTIME_EXECUTOR", "value": "emissary"}],
                 "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
                 "volumeMounts": [{"name": "var-run-argo", "mountPath": "/var/run/argo"}]},
                {"name": "main", "image": "alpine:3.20", "command": ["/var/run/argo/argoexec", "emissary", "--", "sh", "-c"],
                 "args": ["echo hello"], "env": [{"name": "ARGO_CONTAINER_NAME", "value": "main"}],
                 "volumeMounts": [{"name": "var-run-argo", "mountPath": "/var/run/argo"}]},
            ],
            "volumes": [{"name": "var-run-argo", "emptyDir": {}}],
        },
        "status": {
            "phase": "Succeeded", "podIP": "10.0.0.7", "startTime": "2026-11-27T10:00:01Z",
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": "2026-11-27T10:00:02Z"}
                           for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
            "containerStatuses": [
                {"name": n, "ready": False, "restartCount": 0, "image": "img", "imageID": "sha256:abc",
                 "containerID": f"containerd://{i:064d}",
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                          "startedAt": "2026-11-27T10:00:02Z", "finishedAt": "2026-11-27T10:00:03Z"}}}
                for n in ("wait", "main")],
        },
    }


def _chunks() -> list[bytes]:
    stream = b"".join(json.dumps({"type": "MODIFIED", "object": _pod(i)}).encode() + b"\n"
                      for i in range(EVENTS))
    return [stream[i:i + 65536] for i in range(0, len(stream), 65536)]


def _ours(chunks: list[bytes]) -> int:
    splitter = LineSplitter()
    n = 0
    for chunk in chunks:
        for line in splitter.feed(chunk):
            decode_event(line)
            n += 1
    return n


def _json_lines(chunks: list[bytes]) -> int:
    n = 0
    for line in b"".join(chunks).split(b"\n"):
        if line:
            json.loads(line)
            n += 1
    return n


def _kubernetes_models(chunks: list[bytes]) -> int:
    from kubernetes import watch

    w = watch.Watch()
    n = 0
    for line in b"".join(chunks).decode().split("\n"):
        if line:
            w.unmarshal_event(line, "V1Pod")
            n += 1
    return n


@pytest.fixture(scope="module")
def chunks() -> list[bytes]:
    return _chunks()


def test_watch_decode(benchmark, chunks, record):
    """Our decode path, µs per event."""
    assert benchmark(_ours, chunks) == EVENTS
    if benchmark.stats is not None:  # None under --benchmark-disable
        record("http watch decode (pods)", f"{benchmark.stats.stats.median / EVENTS * 1e6:.1f} µs/event, "
               f"{len(b''.join(chunks)) / EVENTS / 1024:.1f} KiB/event")


def test_gate_against_kubernetes_models(chunks, measure, gate, record):
    """Against the kubernetes package's model decoding (and json.loads, for reference)."""
    one = json.dumps({"type": "ADDED", "object": _pod(0)}).encode() + b"\n"
    assert _kubernetes_models([one]) == 1  # warm the lazy imports outside the timing
    ours, floor, models = measure(lambda _: _ours(chunks), lambda _: _json_lines(chunks),
                                  lambda _: _kubernetes_models(chunks), repeat=3)
    record("http watch decode: json.loads per line (floor)", f"{floor / EVENTS * 1e6:.1f} µs/event")
    record("http watch decode: kubernetes V1Pod models", f"{models / EVENTS * 1e6:.1f} µs/event")
    gate("watch decode vs kubernetes models", models, ours, minimum=10.0)
