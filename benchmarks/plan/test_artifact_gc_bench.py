"""Artifact GC decisions: the per-write finalizer check every workflow pays, and one completed
workflow of 2,000 nodes with two artifacts each — making the tasks and pod, then reading the
results. GC runs on the completed path only (a few reconciles per workflow). Figures only."""
from __future__ import annotations

from tiphys.core.plan import artifact_gc as gc

N = 2000
SPEC = {"entrypoint": "main", "artifactGC": {"strategy": "OnWorkflowCompletion"}, "templates": [
    {"name": "main", "steps": [[{"name": "s", "template": "leaf"}]]},
    {"name": "leaf", "container": {"image": "a"},
     "outputs": {"artifacts": [{"name": "a", "path": "/a"}, {"name": "b", "path": "/b"}]}}]}
PLAIN = {"entrypoint": "main", "templates": SPEC["templates"]}
NODES = {f"n{i}": {"id": f"n{i}", "type": "Pod", "phase": "Succeeded", "templateName": "leaf", "outputs": {
    "artifacts": [{"name": x, "path": f"/{x}", "s3": {"key": f"wf/n{i}/{x}.tgz"}} for x in ("a", "b")]}}
    for i in range(N)}


def _wf(gc_status=None) -> dict:
    status = {"phase": "Succeeded", "nodes": NODES}
    if gc_status:
        status["artifactGCStatus"] = gc_status
    return {"metadata": {"name": "wf", "namespace": "ns", "uid": "u", "finalizers": [gc.FINALIZER],
                         "labels": {"workflows.argoproj.io/completed": "true"}}, "status": status}


def test_finalizer_check_per_write_without_gc(benchmark):
    """What a status write of a workflow without artifactGC pays."""
    assert benchmark(lambda: gc.finalizers_to_write({"finalizers": []}, PLAIN)) is None


def test_decide_start_2000_nodes(benchmark):
    d = benchmark(lambda: gc.decide(_wf(), SPEC, NODES, [], []))
    assert len(d.creates) == 5  # 4,000 artifacts: four tasks of 1,000, then the pod


def test_decide_recoup_2000_nodes(benchmark):
    first = gc.decide(_wf(), SPEC, NODES, [], [])
    tasks = []
    for action in first.creates:
        if isinstance(action, gc.CreateGCTask):
            t = action.task
            tasks.append({**t, "status": {"artifactResultsByNode": {
                n: {"artifactResults": {a: {"name": a, "success": True} for a in e["artifacts"]}}
                for n, e in t["spec"]["artifactsByNode"].items()}}})
    pod = next(a.pod for a in first.creates if not isinstance(a, gc.CreateGCTask))
    pods = [{"metadata": {**pod["metadata"], "uid": "p"}, "status": {"phase": "Succeeded"}}]
    d = benchmark(lambda: gc.decide(_wf(first.gc_status), SPEC, NODES, tasks, pods))
    assert len(d.deleted) == N and d.finalizers == []
