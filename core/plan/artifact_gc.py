"""Artifact garbage collection (`artifactGC`): what to delete, by whom, and when the workflow may go.

Argo v3.4+ deletes a workflow's output artifacts from their repository at one of two moments,
chosen per artifact (its own `artifactGC.strategy`, else the workflow's `spec.artifactGC.strategy`,
else `Never`):

* `OnWorkflowCompletion`: once the workflow is labelled completed;
* `OnWorkflowDeletion`: once the Workflow has a `deletionTimestamp` (completion's strategy also
  runs then if it has not yet). The finalizer `workflows.argoproj.io/artifact-gc`, added while the
  workflow runs when any strategy is not `Never` (`configured`), holds the object until then.

Deleting is not the controller's job: for each group of artifacts that share (strategy,
serviceAccountName, podMetadata) it makes WorkflowArtifactGCTask objects
(`<wf>-artgc-<abbrev>-<hash>-<n>`, `spec.artifactsByNode{nodeID: {archiveLocation, artifacts}}`)
and one pod `<wf>-artgc-<abbrev>-<hash>` (executor image, `artifact-gc`) that deletes them through
its drivers and writes each task's `status.artifactResultsByNode`. When the pod has finished,
`decide` reads the results: deleted artifacts get `deleted: true` in their node's outputs, failures
become the workflow condition `ArtifactGCError`, the pod is recorded in
`status.artifactGCStatus.podsRecouped` and it and its tasks are deleted (a failed pod is kept for
its log). The finalizer is removed when no artifact of a strategy other than `Never` is left
undeleted, or, with `forceFinalizerRemoval`, when every pod made was recouped and every strategy
with artifacts left was processed.

Everything here is computed from the stored Workflow, the GC pods and the tasks that exist, so a
controller that restarts between any two writes decides the same again: names are deterministic
(a create made twice is AlreadyExists), a strategy is marked processed only in the status write
that follows its creates, and a recouped pod still there is deleted again.

Where tiphys chose (docs/compatibility.md): a Succeeded pod is recouped only once all its tasks in
the cache carry results (the task informer may deliver them after the pod's event); a GC pod lost
before it was read is made again (Argo would wait for it for ever); a GC pod with
no service account of its own falls back to the workflow's `serviceAccountName`; the executor's
secrets are mounted from the locations' `*Secret` references as in Argo's GC pod;
`status.artifactGCStatus.notSpecified` is not written for workflows without artifact GC (it would
cost one more write per workflow and nothing reads it).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from tiphys.core.plan import artifact_repo
from tiphys.core.plan._poderrors import PodSpecError
from tiphys.core.plan._artgc_objects import COMPONENT, POD_LABEL, gc_pod, gc_task
from tiphys.core.plan.actions import CreatePod, DeletePod
from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.status import ids

__all__ = ["FINALIZER", "POD_LABEL", "COMPONENT", "CONDITION", "ON_COMPLETION", "ON_DELETION", "NEVER",
           "ABBREVIATIONS", "ArtifactGCSpecError", "CreateGCTask", "DeleteGCTask", "Decision",
           "strategy_of", "configured", "decide", "finalizers_to_write", "completion_gc_settled"]

_P = "workflows.argoproj.io/"
FINALIZER = _P + "artifact-gc"
CONDITION = "ArtifactGCError"
ON_COMPLETION, ON_DELETION, NEVER = "OnWorkflowCompletion", "OnWorkflowDeletion", "Never"
ABBREVIATIONS = {ON_COMPLETION: "wfcomp", ON_DELETION: "wfdel"}  # Argo's AbbreviatedName
_STRATEGIES = frozenset({ON_COMPLETION, ON_DELETION, NEVER})
_LOCATIONS = ("s3", "git", "http", "artifactory", "hdfs", "raw", "oss", "gcs", "azure", "plugin")
MAX_ARTIFACTS_PER_TASK = 1000  # one task object stays far under etcd's request limit


class ArtifactGCSpecError(ValueError):
    """An `artifactGC` field no strategy can be read from; `where` is its path."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{message} - at {where!r}")
        self.where = where


class CreateGCTask(msgspec.Struct, frozen=True, tag=True):
    """Create one WorkflowArtifactGCTask (AlreadyExists: made before a restart, success)."""

    task: dict[str, Any]


class DeleteGCTask(msgspec.Struct, frozen=True, tag=True):
    name: str


class Decision(msgspec.Struct, kw_only=True):
    """What artifact GC needs now: creates before the workflow write, deletes after it."""

    creates: list[Any] = []  # CreateGCTask, then CreatePod
    deletes: list[Any] = []  # DeletePod, DeleteGCTask: only once the write recording them succeeded
    gc_status: dict[str, Any] | None = None  # the new status.artifactGCStatus; None: unchanged
    deleted: dict[str, list[str]] = {}  # node id -> artifact names to mark `deleted: true`
    conditions: list[dict[str, str]] = []  # ArtifactGCError conditions not recorded yet
    finalizers: list[str] | None = None  # the new metadata.finalizers; None: unchanged

    @property
    def writes(self) -> bool:
        return bool(self.gc_status is not None or self.deleted or self.conditions or self.finalizers is not None)


def _own_strategy(gc: Any, where: str) -> str:
    if gc is None:
        return ""
    if not isinstance(gc, Mapping):
        raise ArtifactGCSpecError(where, "artifactGC must be an object")
    strategy = gc.get("strategy") or ""
    if strategy and strategy not in _STRATEGIES:
        raise ArtifactGCSpecError(f"{where}.strategy", f"unknown artifact GC strategy {strategy!r} (one of "
                                  f"{', '.join(sorted(_STRATEGIES))})")
    return str(strategy)


def strategy_of(spec: Mapping[str, Any], artifact: Mapping[str, Any], /, *, where: str = "artifact") -> str:
    """The artifact's effective strategy: its own, else the workflow's, else Never (Argo's
    GetArtifactGCStrategy)."""
    return (_own_strategy(artifact.get("artifactGC"), f"{where}.artifactGC")
            or _own_strategy(spec.get("artifactGC"), "spec.artifactGC") or NEVER)


def configured(spec: Mapping[str, Any], /) -> bool:
    """Whether the workflow needs the finalizer: some strategy other than Never applies (Argo's
    HasArtifactGC: the workflow's strategy, or any template output artifact's)."""
    if _own_strategy(spec.get("artifactGC"), "spec.artifactGC") not in ("", NEVER):
        return True
    for i, template in enumerate(spec.get("templates") or ()):
        outputs = template.get("outputs") if isinstance(template, Mapping) else None
        for j, art in enumerate((outputs or {}).get("artifacts") or ()):
            if isinstance(art, Mapping) and _own_strategy(
                    art.get("artifactGC"), f"spec.templates[{i}].outputs.artifacts[{j}].artifactGC") not in ("", NEVER):
                return True
    return False


def _has_location(artifact: Mapping[str, Any]) -> bool:
    return any(isinstance(artifact.get(t), Mapping) for t in _LOCATIONS)


def _template_artifacts(spec: Mapping[str, Any], status: Mapping[str, Any]) -> dict[tuple[str, str], dict]:
    """(template name, artifact name) -> the template's output artifact, for nodes whose reported
    artifact lost its `artifactGC` (an executor that reports only the location)."""
    out: dict[tuple[str, str], dict] = {}
    stored = status.get("storedTemplates") or {}
    for template in [*(spec.get("templates") or ()), *(stored.values() if isinstance(stored, Mapping) else ())]:
        if not isinstance(template, Mapping):
            continue
        for art in ((template.get("outputs") or {}).get("artifacts") or ()):
            if isinstance(art, Mapping) and art.get("name"):
                out.setdefault((str(template.get("name")), str(art["name"])), dict(art))
    return out


class _Item(msgspec.Struct, frozen=True):
    node_id: str
    artifact: dict[str, Any]


class _Pending(msgspec.Struct, frozen=True):
    """An artifact still to delete, with its effective strategy and (unless Never) its GC pod's group."""

    strategy: str
    item: _Item
    pod: str = ""  # the group's pod name; "" for Never
    service_account: str = ""
    pod_metadata: dict[str, Any] = {}


def _undeleted(spec: Mapping[str, Any], status: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]],
               workflow: str, settings: PodSettings) -> list[_Pending]:
    """Every output artifact with a location not yet deleted, with its strategy and group."""
    by_template = _template_artifacts(spec, status)
    names: dict[tuple[str, str, str], str] = {}  # (strategy, sa, podMetadata JSON) -> pod name, hashed once
    out = []
    for node_id in sorted(nodes):
        node = nodes[node_id]
        for art in ((node.get("outputs") or {}).get("artifacts") or ()):
            if not isinstance(art, Mapping) or art.get("deleted") or not _has_location(art):
                continue
            own = art.get("artifactGC")
            if own is None:
                own = by_template.get((str(node.get("templateName")), str(art.get("name"))), {}).get("artifactGC")
            where = f"status.nodes[{node_id}].outputs.artifacts[{art.get('name')}]"
            strategy = strategy_of(spec, {"artifactGC": own} if own is not None else {}, where=where)
            item = _Item(node_id, {k: v for k, v in art.items() if k != "artifactGC"})
            if strategy not in ABBREVIATIONS:
                out.append(_Pending(strategy, item))
                continue
            sa, metadata = _group_key(spec, own or {}, settings)
            key = (strategy, sa, json.dumps(metadata, sort_keys=True, separators=(",", ":")) if metadata else "")
            pod = names.get(key)
            if pod is None:
                pod = names[key] = _pod_name(workflow, strategy, sa, metadata)
            out.append(_Pending(strategy, item, pod, sa, metadata))
    return out


def _group_key(spec: Mapping[str, Any], own: Mapping[str, Any], settings: PodSettings) -> tuple[str, dict]:
    wf_gc = spec.get("artifactGC") or {}
    sa = (own.get("serviceAccountName") or wf_gc.get("serviceAccountName") or spec.get("serviceAccountName")
          or settings.default_service_account or "")
    metadata = own.get("podMetadata") or wf_gc.get("podMetadata") or {}
    return str(sa), dict(metadata)


def _pod_name(workflow: str, strategy: str, sa: str, metadata: Mapping[str, Any]) -> str:
    digest = ids.fnv1a32(json.dumps([sa, metadata], sort_keys=True, separators=(",", ":")))
    return f"{workflow}-artgc-{ABBREVIATIONS[strategy]}-{digest}"


def _due(meta: Mapping[str, Any], processed: Mapping[str, Any]) -> list[str]:
    """Argo's artifactGCStrategiesReady: the strategies whose moment has come and not run yet."""
    deleting = bool(meta.get("deletionTimestamp"))
    completed = (meta.get("labels") or {}).get(_P + "completed") == "true"
    due = []
    if (completed or deleting) and not processed.get(ON_COMPLETION):
        due.append(ON_COMPLETION)
    if deleting and not processed.get(ON_DELETION):
        due.append(ON_DELETION)
    return due


def decide(wf: Mapping[str, Any], spec: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]],
           tasks: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]], /, *,
           settings: PodSettings = PodSettings()) -> Decision:
    """Artifact GC for completed workflow `wf` (effective `spec`, its nodes as JSON builtins, the
    WorkflowArtifactGCTasks and GC pods that exist). Nothing to do without the finalizer."""
    meta = wf.get("metadata") or {}
    status = wf.get("status") or {}
    finalizers = list(meta.get("finalizers") or ())
    out = Decision()
    if FINALIZER not in finalizers:
        return out
    old = status.get("artifactGCStatus") or {}
    processed = dict(old.get("strategiesProcessed") or {})
    recouped = dict(old.get("podsRecouped") or {})
    conditions: list[dict[str, str]] = []
    try:
        _own_strategy(spec.get("artifactGC"), "spec.artifactGC")
        pending = _undeleted(spec, status, nodes, str(meta.get("name", "")), settings)
    except ArtifactGCSpecError as exc:  # nothing is deleted; the finalizer goes (nothing can be)
        pending = []
        conditions.append({"type": CONDITION, "status": "True", "message": str(exc)})
    started: set[str] = set()
    for strategy in _due(meta, processed):
        started |= _start(wf, spec, [p for p in pending if p.strategy == strategy], recouped, out, conditions,
                          settings)
        processed[strategy] = True
    by_pod: dict[str, list[Mapping[str, Any]]] = {}
    for task in tasks:
        pod = ((task.get("metadata") or {}).get("labels") or {}).get(POD_LABEL)
        if pod:
            by_pod.setdefault(pod, []).append(task)
    # pods whose group still has artifacts to delete: one of them without any task in the cache is
    # ahead of the task informer, not done
    awaited = {p.pod for p in pending if p.pod}
    deleted: dict[str, list[str]] = {}
    for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", "")):
        pmeta = pod.get("metadata") or {}
        name, phase = pmeta.get("name", ""), (pod.get("status") or {}).get("phase", "")
        own_tasks = by_pod.get(name, [])
        if recouped.get(name):  # recorded before: what is left of it goes (a restart after the write)
            if phase != "Failed":
                out.deletes.append(_delete_pod(pmeta))
            out.deletes.extend(DeleteGCTask(t["metadata"]["name"]) for t in own_tasks)
            continue
        if phase not in ("Succeeded", "Failed"):
            continue
        if phase == "Succeeded" and (not all(_complete(t) for t in own_tasks)
                                     or (not own_tasks and name in awaited)):
            continue  # the task informer has not delivered every result (or task) yet: its event wakes us
        for task in own_tasks:
            _read_results(task, deleted, conditions)
        if phase == "Failed":
            conditions.append({"type": CONDITION, "status": "True", "message": (
                f"Artifact Garbage Collection failed for strategy {_strategy_of_pod(name, meta.get('name', ''))}, "
                f"pod {name} exited with non-zero exit code: check pod logs for more information")})
        else:
            out.deletes.append(_delete_pod(pmeta))
        out.deletes.extend(DeleteGCTask(t["metadata"]["name"]) for t in own_tasks)
        recouped[name] = True
    present = {(p.get("metadata") or {}).get("name") for p in pods}
    for name in sorted(recouped):
        if recouped[name] or name in present or name in started:
            continue
        group = [p for p in pending if p.pod == name]
        if group:  # lost before it was read (deleted, evicted): its tasks and it are made again
            _start(wf, spec, group, recouped, out, conditions, settings)
        else:
            recouped[name] = True  # nothing of its group is left to delete
    out.deleted = deleted
    have = {(c.get("type"), c.get("message")) for c in status.get("conditions") or () if isinstance(c, Mapping)}
    seen: set[tuple[str, str]] = set()
    for c in conditions:
        if (c["type"], c["message"]) not in have and (c["type"], c["message"]) not in seen:
            seen.add((c["type"], c["message"]))
            out.conditions.append(c)
    new_status = {**old, "strategiesProcessed": processed, "podsRecouped": recouped}
    if processed != (old.get("strategiesProcessed") or {}) or recouped != (old.get("podsRecouped") or {}):
        out.gc_status = {k: v for k, v in new_status.items() if v or k == "notSpecified"}
    left = [(p.strategy, p.item) for p in pending
            if p.strategy != NEVER and p.item.artifact.get("name") not in deleted.get(p.item.node_id, ())]
    force = bool((spec.get("artifactGC") or {}).get("forceFinalizerRemoval"))
    if not left or (force and all(recouped.values()) and all(processed.get(s) for s, _ in left)):
        out.finalizers = [f for f in finalizers if f != FINALIZER]
    return out


def _start(wf: Mapping[str, Any], spec: Mapping[str, Any], items: list[_Pending], recouped: dict[str, bool],
           out: Decision, conditions: list[dict[str, str]], settings: PodSettings) -> set[str]:
    """The tasks and pod of each group of one strategy's artifacts (Argo's processArtifactGCStrategy);
    the names of the pods asked for."""
    meta = wf.get("metadata") or {}
    workflow = str(meta.get("name", ""))
    groups: dict[str, tuple[str, dict, list[_Item]]] = {}
    for p in items:
        groups.setdefault(p.pod, (p.service_account, p.pod_metadata, []))[2].append(p.item)
    repository = ((wf.get("status") or {}).get("artifactRepositoryRef") or {}).get("artifactRepository")
    archive = artifact_repo.repository_location(repository) if isinstance(repository, Mapping) else {}
    wmeta = WorkflowMeta(name=workflow, namespace=str(meta.get("namespace", "")), uid=str(meta.get("uid", "")),
                         instance_id=str((meta.get("labels") or {}).get(_P + "controller-instanceid", "")))
    for pod_name in sorted(groups):
        sa, metadata, group = groups[pod_name]
        try:
            pod = gc_pod(wmeta, spec, pod_name, sa, metadata, [i.artifact for i in group], archive,
                          settings=settings)
        except PodSpecError as exc:
            conditions.append({"type": CONDITION, "status": "True", "message": str(exc)})
            continue
        for i in range(0, len(group), MAX_ARTIFACTS_PER_TASK):
            out.creates.append(CreateGCTask(gc_task(wmeta, f"{pod_name}-{i // MAX_ARTIFACTS_PER_TASK}", pod_name,
                                                  group[i:i + MAX_ARTIFACTS_PER_TASK], archive)))
        out.creates.append(CreatePod("", pod))
        recouped.setdefault(pod_name, False)
    return set(groups)


def _complete(task: Mapping[str, Any]) -> bool:
    """Every artifact of the task has a result."""
    results = (task.get("status") or {}).get("artifactResultsByNode") or {}
    for node_id, entry in ((task.get("spec") or {}).get("artifactsByNode") or {}).items():
        got = ((results.get(node_id) or {}).get("artifactResults") or {})
        if any(name not in got for name in (entry.get("artifacts") or {})):
            return False
    return True


def _read_results(task: Mapping[str, Any], deleted: dict[str, list[str]], conditions: list[dict[str, str]]) -> None:
    results = (task.get("status") or {}).get("artifactResultsByNode") or {}
    for node_id in sorted(results):
        got = (results[node_id] or {}).get("artifactResults") or {}
        for name in sorted(got):
            result = got[name] or {}
            if result.get("success"):
                deleted.setdefault(node_id, []).append(name)
            else:
                conditions.append({"type": CONDITION, "status": "True", "message": (
                    f"artifact {name} of node {node_id} was not deleted: {result.get('error') or 'no reason given'}"
                    f" (artifactGC task {task['metadata']['name']})")})


def _strategy_of_pod(pod: str, workflow: str) -> str:
    abbrev = pod[len(workflow) + len("-artgc-"):].split("-", 1)[0]
    return next((s for s, a in ABBREVIATIONS.items() if a == abbrev), abbrev)


def _delete_pod(pmeta: Mapping[str, Any]) -> DeletePod:
    return DeletePod(str(pmeta.get("name", "")), uid=str(pmeta.get("uid", "")))


def finalizers_to_write(meta: Mapping[str, Any], spec: Mapping[str, Any], /) -> list[str] | None:
    """The workflow's finalizers with ours added while it is not being deleted and artifact GC is
    configured (Argo adds it on every operate while running), or None when nothing changes. A spec
    whose `artifactGC` strategy cannot be read gets it too, so that `decide` reports the error as
    the `ArtifactGCError` condition when the workflow completes (and then lets it go)."""
    finalizers = list(meta.get("finalizers") or ())
    if FINALIZER in finalizers or meta.get("deletionTimestamp"):
        return None
    try:
        if not configured(spec):
            return None
    except ArtifactGCSpecError:
        pass
    return [*finalizers, FINALIZER]


def completion_gc_settled(wf: Mapping[str, Any], /) -> bool:
    """Whether a completed workflow's OnWorkflowCompletion GC has run its course: no finalizer of
    ours, or the strategy processed and every GC pod it made read (`podsRecouped`). A process
    that ends with its workflow (`tiphys run`) waits for this, so its artifacts are really gone."""
    if FINALIZER not in ((wf.get("metadata") or {}).get("finalizers") or ()):
        return True
    gc = (wf.get("status") or {}).get("artifactGCStatus") or {}
    if not (gc.get("strategiesProcessed") or {}).get(ON_COMPLETION):
        return False
    infix = f"-artgc-{ABBREVIATIONS[ON_COMPLETION]}-"
    return all(done for pod, done in (gc.get("podsRecouped") or {}).items() if infix in pod)

