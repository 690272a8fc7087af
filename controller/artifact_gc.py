"""Artifact GC for completed workflows: the shell around `core.plan.artifact_gc.decide`.

The reconciler's completed path calls `ArtifactGC.reconcile(wf, spec)` while the workflow holds
the `workflows.argoproj.io/artifact-gc` finalizer. It hands `decide` the stored nodes, the GC pods
(pod informer, component `artifact-gc`) and the WorkflowArtifactGCTasks (their own informer,
whose events enqueue the workflow: no polling), then acts in the order that keeps a restart
safe: tasks and pods are created first (AlreadyExists is ours), then the Workflow is written once
(`status.artifactGCStatus`, `deleted: true` on the nodes' artifacts, `ArtifactGCError`
conditions, `metadata.finalizers`), and only then are recouped pods and tasks deleted, so what
a crash loses is decided again from objects that still exist.

The nodes keep the form they were stored in: plain `status.nodes` are edited in place; a
compressed map is decoded, edited and packed again by the size policy (core.status.packer).
A cached Workflow older than our last GC write is not acted on (requeued shortly).
"""
from __future__ import annotations

import logging
from typing import Any

import msgspec

from tiphys.controller.api import base
from tiphys.controller.api.errors import Conflict, NotFound
from tiphys.controller.apply import Applier
from tiphys.controller.status_writer import StatusWriter
from tiphys.controller.workqueue import RetryableError
from tiphys.core.plan import artifact_gc
from tiphys.core.plan.actions import CreatePod
from tiphys.core.plan.meta import PodSettings
from tiphys.core.spec import NodeStatus
from tiphys.core.status.packer import Form

__all__ = ["ArtifactGC"]

_log = logging.getLogger("tiphys.artifact_gc")
_COMPONENT = "workflows.argoproj.io/component"
_encoder = msgspec.json.Encoder()


class ArtifactGC:
    def __init__(self, api: base.Api, /, *, pods: Any, tasks: Any, applier: Applier,
                 settings: PodSettings = PodSettings()) -> None:
        self.api, self.pods, self.tasks, self.applier, self.settings = api, pods, tasks, applier, settings
        self.written: dict[str, tuple[str, int]] = {}  # key -> (uid, resourceVersion of our last GC write)

    def forget(self, key: str, /) -> None:
        self.written.pop(key, None)

    async def reconcile(self, wf: dict, spec: dict, /) -> float | None:
        """One GC step for completed `wf` (effective `spec`); a requeue delay or None."""
        key = base.object_key(wf)
        meta = wf.get("metadata") or {}
        mine = self.written.get(key)
        if mine is not None and mine[0] == meta.get("uid") and int(meta.get("resourceVersion") or 0) < mine[1]:
            return 0.05  # the cache has not seen our own write yet
        status = wf.get("status") or {}
        writer = StatusWriter()
        plain = isinstance(status.get("nodes"), dict) and not status.get("compressedNodes")
        structs: dict[str, NodeStatus] = {}
        if plain:
            nodes = status["nodes"]
        else:
            try:
                structs = writer.read_nodes(status)
            except ValueError as exc:
                raise RetryableError(f"artifact GC of {key}: cannot read status nodes: {exc}") from None
            nodes = {k: msgspec.to_builtins(v) for k, v in structs.items() if v.outputs is not None
                     and v.outputs.artifacts}
        pods = [p for p in (self.pods.store.by_index("workflow", key) if self.pods is not None else ())
                if ((p.get("metadata") or {}).get("labels") or {}).get(_COMPONENT) == artifact_gc.COMPONENT]
        tasks = list(self.tasks.store.by_index("workflow", key)) if self.tasks is not None else []
        decision = artifact_gc.decide(wf, spec, nodes, tasks, pods, settings=self.settings)
        # the tasks before the pods (the applier makes pods first): a GC pod lists its tasks once
        for creates in ([a for a in decision.creates if not isinstance(a, CreatePod)],
                        [a for a in decision.creates if isinstance(a, CreatePod)]):
            applied = await self.applier.apply(wf, creates)
            if applied.failed or applied.failed_creates:
                raise RetryableError(f"artifact GC of {key}: {len(applied.failed) + len(applied.failed_creates)} "
                                     "creates failed; retrying")
        if decision.writes:
            body = _body(wf, decision, nodes, structs, writer, plain)
            try:
                written = await self.api.update(base.WORKFLOWS, body, namespace=meta.get("namespace"))
            except NotFound:
                return None
            except Conflict:
                raise RetryableError(f"artifact GC of {key}: the workflow changed meanwhile; retrying") from None
            rv = int((written.get("metadata") or {}).get("resourceVersion") or 0)
            self.written[key] = (str(meta.get("uid", "")), rv)
            for c in decision.conditions:
                _log.warning("workflow %s: %s", key, c["message"])
        if decision.deletes:
            applied = await self.applier.apply(wf, decision.deletes)
            if applied.failed:
                raise RetryableError(f"artifact GC of {key}: {len(applied.failed)} deletes failed; retrying")
        return None


def _mark(node: dict, names: list[str]) -> dict:
    outputs = node.get("outputs") or {}
    arts = [{**a, "deleted": True} if isinstance(a, dict) and a.get("name") in names else a
            for a in outputs.get("artifacts") or ()]
    return {**node, "outputs": {**outputs, "artifacts": arts}}


def _body(wf: dict, decision: artifact_gc.Decision, nodes: dict, structs: dict[str, NodeStatus],
          writer: StatusWriter, plain: bool) -> dict:
    meta = dict(wf.get("metadata") or {})
    if decision.finalizers is not None:
        meta["finalizers"] = decision.finalizers
    status = dict(wf.get("status") or {})
    if decision.gc_status is not None:
        status["artifactGCStatus"] = decision.gc_status
    if decision.conditions:
        status["conditions"] = [*(status.get("conditions") or ()), *decision.conditions]
    if decision.deleted:
        changed = {node_id: _mark(nodes[node_id], names) for node_id, names in decision.deleted.items()
                   if node_id in nodes}
        if plain:
            status["nodes"] = {**nodes, **changed}
        else:
            merged = {**structs, **{k: msgspec.convert(v, NodeStatus) for k, v in changed.items()}}
            rest = {**wf, "metadata": meta, "status": {k: v for k, v in status.items()
                                                       if k not in ("nodes", "compressedNodes")}}
            packed = writer.packer.pack(merged, base_size=len(_encoder.encode(rest)),
                                        workflow_name=meta.get("name"))
            status.pop("nodes", None)
            status.pop("compressedNodes", None)
            if packed.form is Form.PLAIN:
                status["nodes"] = {k: msgspec.to_builtins(v) for k, v in merged.items()}
            else:
                status["compressedNodes"] = packed.compressed_nodes
    return {**wf, "metadata": meta, "status": status}
