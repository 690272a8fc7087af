"""Pod construction and pod assessment: one of each per leaf node and per pod event.

`build_pod` runs once per pod created; `assess_pod` runs on every pod event of a running workflow,
so it is the one on the hot path. Figures only (no gate: there is no second implementation).
"""
from __future__ import annotations

import pytest

from tiphys.core.plan.assess import assess_pod
from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.plan.podspec import build_pod

META = WorkflowMeta(name="bench-x7k2p", namespace="argo", uid="u-1")
SETTINGS = PodSettings()
SPEC = {"volumes": [{"name": "work", "emptyDir": {}}], "podGC": {"strategy": "OnPodSuccess"},
        "podMetadata": {"labels": {"team": "a"}}}
TEMPLATES = {
    "container": {"name": "echo", "container": {"image": "alpine:3", "command": ["echo"], "args": ["hi"]}},
    "script+artifacts+patch": {
        "name": "py", "inputs": {"artifacts": [{"name": "src", "path": "/src", "s3": {"key": "k"}}]},
        "script": {"image": "python:3", "command": ["python"], "source": "print(1)\n" * 20,
                   "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
        "podSpecPatch": '{"containers":[{"name":"main","resources":{"limits":{"cpu":"1"}}}]}'},
}


def _status(phase: str, main: dict) -> dict:
    t = "2024-05-01T10:00:00Z"
    return {"metadata": {"name": "bench-x7k2p-echo-1", "namespace": "argo"}, "spec": {"nodeName": "n1"},
            "status": {"phase": phase, "startTime": t,
                       "initContainerStatuses": [{"name": "init", "state": {"terminated": {
                           "exitCode": 0, "reason": "Completed", "finishedAt": t}}}],
                       "containerStatuses": [{"name": "wait", "ready": False, "state": {"terminated": {
                           "exitCode": 0, "reason": "Completed", "finishedAt": t}}}, {"name": "main", **main}]}}


PODS = {
    "running": _status("Running", {"ready": True, "state": {"running": {"startedAt": "2024-05-01T10:00:00Z"}}}),
    "failed": _status("Failed", {"ready": False, "state": {"terminated": {
        "exitCode": 1, "reason": "Error", "finishedAt": "2024-05-01T10:00:03Z"}}}),
}


@pytest.mark.parametrize("kind", list(TEMPLATES))
def test_build_pod(benchmark, kind):
    tmpl = TEMPLATES[kind]
    pod = benchmark(lambda: build_pod(tmpl, meta=META, spec=SPEC, node_id="bench-x7k2p-1", node_name="bench-x7k2p.a",
                                      pod_name="bench-x7k2p-echo-1", settings=SETTINGS))
    assert pod["spec"]["containers"][1]["name"] == "main"


@pytest.mark.parametrize("phase", list(PODS))
def test_assess_pod(benchmark, phase):
    seen = benchmark(assess_pod, PODS[phase])
    assert seen.phase == phase.capitalize()


def test_figures(measure, record):
    """Per-call figures for README.md, measured in one run (CPU time, median of 5)."""
    n = 2000
    tmpl, pod = TEMPLATES["script+artifacts+patch"], PODS["failed"]

    def build(_):
        for _ in range(n):
            build_pod(tmpl, meta=META, spec=SPEC, node_id="i", node_name="n", pod_name="p", settings=SETTINGS)

    def assess(_):
        for _ in range(n):
            assess_pod(pod)

    b, a = measure(build, assess)
    record("plan build_pod (script + artifact + patch)", f"{b / n * 1e6:.0f} µs/pod")
    record("plan assess_pod (Failed pod)", f"{a / n * 1e6:.1f} µs/pod")
    assert a < b  # assessing is far cheaper than building; a reversal means a regression in assess
