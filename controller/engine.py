"""The controller process core: informers feed a work queue; workers run the reconciler.

    engine = Engine(api, clock=RealClock(), namespace=None)
    await engine.start()      # informers listed and watching, workers running
    ...
    await engine.stop()

Handlers only record and enqueue (STYLE §2): a pod or task-result event is mapped to its
workflow's key through the `workflows.argoproj.io/workflow` label; one worker handles a key at
a time (client-go queue semantics), and a key dirtied while in flight is reconciled once more.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from tiphys.controller.api import base
from tiphys.controller.artifact_gc import ArtifactGC
from tiphys.controller.informer import (FuncHandler, Informer, index_by_namespace,
                                        index_by_owner, strip_managed_fields)
from tiphys.controller.reconciler import WorkflowReconciler
from tiphys.controller.sync import LockManager
from tiphys.controller.throttle import NamespaceLimits, Throttler
from tiphys.controller.workqueue import RateLimitingQueue, WorkerStats, run_workers
from tiphys.core.plan.meta import PodSettings

__all__ = ["Engine", "index_by_workflow_key"]

_log = logging.getLogger("tiphys.engine")
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"


def index_by_workflow_key(obj: dict, /) -> tuple[str, ...]:
    meta = obj.get("metadata") or {}
    name = (meta.get("labels") or {}).get(WORKFLOW_LABEL)
    return (f"{meta.get('namespace')}/{name}",) if name else ()


def slim_pod(pod: dict, /) -> dict:
    """What the controller reads of a pod (metadata, status, node, container resources): the cache
    keeps this, not the env (ARGO_TEMPLATE is the whole template) or the volumes — about 10× less
    memory per cached pod (performance.md §7.11)."""
    spec = pod.get("spec") or {}
    meta = dict(pod.get("metadata") or {})
    meta.pop("managedFields", None)

    def thin(containers: list) -> list:
        return [{"name": c.get("name"), **({"resources": c["resources"]} if c.get("resources") else {})}
                for c in containers or ()]

    slim_spec = {"containers": thin(spec.get("containers")), "initContainers": thin(spec.get("initContainers"))}
    if spec.get("nodeName"):
        slim_spec["nodeName"] = spec["nodeName"]
    return {"apiVersion": pod.get("apiVersion", "v1"), "kind": "Pod", "metadata": meta, "spec": slim_spec,
            "status": pod.get("status") or {}}


_KEPT_ANNOTATIONS = ("workflows.argoproj.io/default-artifact-repository",)


def _configmap_data(cm: dict, /) -> dict:
    meta = cm.get("metadata") or {}
    kept = {k: meta[k] for k in ("name", "namespace", "resourceVersion", "uid") if k in meta}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k in _KEPT_ANNOTATIONS}
    if annotations:  # artifact-repositories name their default key here
        kept["annotations"] = annotations
    return {"metadata": kept, "data": cm.get("data") or {}}


_CHILD_INDEXERS = {"namespace": index_by_namespace, "workflow": index_by_workflow_key, "owner": index_by_owner}


class Engine:
    def __init__(self, api: base.Api, /, *, clock: Any, namespace: str | None = None, workers: int = 32,
                 settings: PodSettings = PodSettings(), instance_id: str = "", status_interval: float = 1.0) -> None:
        self.api = api
        self.clock = clock
        self.namespace = namespace
        self.n_workers = workers
        label = f"workflows.argoproj.io/controller-instanceid={instance_id}" if instance_id else \
            "!workflows.argoproj.io/controller-instanceid"
        child_label = f"{WORKFLOW_LABEL},{label}"
        common = dict(clock=clock, namespace=namespace, transform=strip_managed_fields)
        self.workflows = Informer(api, base.WORKFLOWS, label_selector=label, **common)
        self.pods = Informer(api, base.PODS, label_selector=child_label, indexers=_CHILD_INDEXERS, clock=clock,
                             namespace=namespace, transform=slim_pod)
        self.task_results = Informer(api, base.WORKFLOW_TASK_RESULTS, label_selector=child_label,
                                     indexers=_CHILD_INDEXERS, **common)
        # HTTP nodes' outcomes (Argo's taskset informer: instanceID selector); named as their workflow
        self.task_sets = Informer(api, base.WORKFLOW_TASK_SETS, label_selector=label, **common)
        # artifact GC's tasks: the GC pod's results wake the workflow (Argo's wfArtifactGCTaskInformer)
        self.gc_tasks = Informer(api, base.WORKFLOW_ARTIFACT_GC_TASKS, label_selector=child_label,
                                 indexers=_CHILD_INDEXERS, **common)
        self.templates = Informer(api, base.WORKFLOW_TEMPLATES, **common)
        self.cluster_templates = Informer(api, base.CLUSTER_WORKFLOW_TEMPLATES, clock=clock,
                                          transform=strip_managed_fields)
        # parameter ConfigMaps (`valueFrom.configMapKeyRef`), the ones Argo's informer selects
        self.configmaps = Informer(api, base.CONFIG_MAPS, label_selector="workflows.argoproj.io/configmap-type",
                                   **common)
        # semaphore and artifact-repositories ConfigMaps carry no label: an unselected informer, data
        # only (controller/sync.py says why)
        self.sync_configmaps = Informer(api, base.CONFIG_MAPS, clock=clock, namespace=namespace,
                                        transform=_configmap_data)
        self.queue: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
        # late-bound: a subclass may replace `self.queue` in `_wire` (controller.main's instrumented queue)
        self.locks = LockManager(read_configmap=self._configmap_data, enqueue=lambda key: self.queue.add(key))
        # controller-wide parallelism; no limits until the controller ConfigMap sets them (`tiphys run`)
        self.throttler = Throttler(enqueue=lambda key: self.queue.add(key))
        self.namespace_limits = NamespaceLimits(api, self.throttler, clock=clock)
        self.reconciler = WorkflowReconciler(api, workflows=self.workflows, pods=self.pods,
                                             task_results=self.task_results, clock=clock, settings=settings,
                                             templates=self.templates, cluster_templates=self.cluster_templates,
                                             status_interval=status_interval, configmaps=self.configmaps,
                                             locks=self.locks, throttler=self.throttler)
        self.reconciler.task_sets = self.task_sets
        self.reconciler.artifact_gc = ArtifactGC(api, pods=self.pods, tasks=self.gc_tasks,
                                                 applier=self.reconciler.applier, settings=settings)
        # semaphore limits and artifact repositories: ConfigMaps without a selectable label
        self.reconciler.repository_configmaps = self.sync_configmaps
        self.stats = WorkerStats()
        self._tasks: list[asyncio.Task] = []
        self._wire()

    def _wire(self) -> None:
        add = self.queue.add
        key_of = base.object_key
        self.workflows.add_handler(FuncHandler(add=lambda o: add(key_of(o)), update=lambda a, b: add(key_of(b)),
                                               delete=lambda o, final_state_unknown: add(key_of(o))))
        rec = self.reconciler

        def pod_changed(pod: dict, deleted: bool = False) -> None:
            key = rec.on_pod(pod, deleted)
            if key is not None:
                add(key)

        self.pods.add_handler(FuncHandler(add=pod_changed, update=lambda a, b: pod_changed(b),
                                          delete=lambda o, final_state_unknown: pod_changed(o, True)))

        def result_changed(obj: dict) -> None:
            key = rec.on_task_result(obj)
            if key is not None:
                add(key)

        self.task_results.add_handler(FuncHandler(add=result_changed, update=lambda a, b: result_changed(b)))

        def task_set_changed(obj: dict) -> None:
            if (obj.get("status") or {}).get("nodes"):  # only the agent's results matter to the plan
                add(rec.on_task_set(obj))

        self.task_sets.add_handler(FuncHandler(add=task_set_changed, update=lambda a, b: task_set_changed(b)))

        def gc_task_changed(obj: dict) -> None:
            if (obj.get("status") or {}).get("artifactResultsByNode"):  # only results matter
                key = rec.owner_key(obj)
                if key is not None:
                    add(key)

        self.gc_tasks.add_handler(FuncHandler(add=gc_task_changed, update=lambda a, b: gc_task_changed(b)))

        def configmap_changed(cm: dict) -> None:
            meta = cm.get("metadata") or {}
            self.locks.configmap_changed(meta.get("namespace", ""), meta.get("name", ""))

        self.sync_configmaps.add_handler(FuncHandler(add=configmap_changed, update=lambda a, b: configmap_changed(b),
                                                     delete=lambda o, final_state_unknown: configmap_changed(o)))

    def _configmap_data(self, namespace: str, name: str) -> dict | None:
        cm = self.sync_configmaps.store.get(f"{namespace}/{name}")
        return None if cm is None else dict(cm.get("data") or {})

    async def start(self) -> None:
        informers = (self.templates, self.cluster_templates, self.configmaps, self.sync_configmaps,
                     self.task_results, self.task_sets, self.gc_tasks, self.pods, self.workflows)
        for informer in informers:
            self._tasks.append(asyncio.ensure_future(informer.run()))
        for informer in informers:
            await informer.wait_synced()
        await self.namespace_limits.start()
        # before any reconcile: the locks the workflows held when the last controller stopped,
        # and the workflows already running (they count against parallelism)
        self.locks.rebuild(self.workflows.store.list())
        self.throttler.rebuild(self.workflows.store.list())
        self._tasks.append(asyncio.ensure_future(
            run_workers(self.queue, self.reconciler.reconcile, n=self.n_workers, stats=self.stats)))

    async def stop(self) -> None:
        self.queue.shut_down()
        await self.namespace_limits.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
