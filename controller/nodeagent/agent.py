"""The local node agent: a kubelet without images for one machine, through the API boundary only.

    agent = NodeAgent(api, clock=RealClock(), root_dir=Path("~/.tiphys").expanduser())
    await agent.start()   # informers synced, wrapper built, isolation probed
    ...
    await agent.stop()    # running pods are killed (their processes are children of this one)

Two informers follow the pods (reference/kubernetes-test-cluster.md §5): unscheduled ones
(`spec.nodeName=`), which the agent binds to itself, and the ones bound to its node
(`spec.nodeName=<node>`), which it runs. Their handlers only enqueue `(kind, key)` into one
client-go work queue; one worker reads the current object from the informer cache and decides.
So the only tasks are that worker, the informers, and one `PodRun` task per running pod.

Binding is first tried as a merge patch of `spec.nodeName` guarded by the pod's resourceVersion
(a Conflict means someone else changed it; the informer brings the new state), which the
embedded API accepts. A real kube-apiserver refuses that (the pod spec is immutable: Invalid), so
on the first refusal the agent switches for good to what kube-scheduler's binder does: create a
`Binding` (name and uid of the pod, target the node) in the pod's namespace. At most
`max_pods` pods run; beyond that pods stay unscheduled, as the scheduler leaves pods a full node
cannot take, and are bound when a slot frees.

A pod with `deletionTimestamp` is stopped (SIGTERM, SIGKILL after its grace period) and then
deleted with grace 0, the kubelet's part of a graceful delete. The controller's annotation
`workflows.argoproj.io/terminate-containers` SIGTERMs the named containers. A pod this agent
finds Pending/Running with a `startTime` but no process (the agent restarted) has lost its
processes: it is marked Failed with a message saying so. When a pod object is deleted, its
directories under `root_dir/pods/<uid>` (emptyDirs, private `/tmp`s) go too; its logs under
`root_dir/logs/<ns>/<pod>/` stay for `tiphys logs` and are replaced by a pod of the same name.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from tiphys.controller.api import base
from tiphys.controller.api.errors import AlreadyExists, ApiError, Conflict, Invalid, NotFound
from tiphys.controller.informer import FuncHandler, Informer, strip_managed_fields
from tiphys.controller.workqueue import ShutDown, WorkQueue

from .cgroups import MemoryCgroups
from .images import ImageMap
from .podrun import PodRun, RunContext
from .sandbox import PYTHON_HELPER, Isolation, build_enter_helper, probe_isolation
from .status import timestamp

__all__ = ["NodeAgent", "TERMINATE_ANNOTATION", "ensure_wrapper"]

_log = logging.getLogger("tiphys.nodeagent")
TERMINATE_ANNOTATION = "workflows.argoproj.io/terminate-containers"
LOST_MESSAGE = "node agent restarted: the pod's processes were lost"
_BIND, _OWN, _GC = "bind", "own", "gc"
# the legacy, still served `POST /api/v1/namespaces/<ns>/bindings` (= pods/<name>/binding)
BINDINGS = base.Resource("", "v1", "bindings", "Binding")


def ensure_wrapper(cache_dir: Path, /) -> Path | None:
    """The emissary wrapper binary: the executor's own build if present, else built once into
    `cache_dir` (rebuilt when its sources are newer). None, with a warning, without a compiler."""
    from tiphys.executor import WrapperBuildError
    from tiphys.executor.wrapper import build as wbuild

    find = getattr(wbuild, "find_wrapper", None)
    if find is not None:
        found = find()
        if found is not None and Path(found).is_file():
            return Path(found)
    out = cache_dir / "emissary"
    newest = max(p.stat().st_mtime for p in wbuild.SOURCE.parent.iterdir() if p.suffix in (".c", ".h"))
    if out.is_file() and out.stat().st_mtime >= newest:
        return out
    try:
        return wbuild.build_wrapper(cache_dir)
    except WrapperBuildError as exc:
        _log.warning("node agent: no emissary wrapper (%s); workflow main containers will not start", exc)
        return None


class NodeAgent:
    def __init__(self, api: base.Api, /, *, clock: Any, node_name: str = "tiphys-local", namespace: str | None = None,
                 images: ImageMap | None = None, root_dir: Path, max_pods: int = 16,
                 isolation: Isolation | None = None, scheduler_names: tuple[str, ...] = ("", "default-scheduler"),
                 relay_interval: float = 0.2, register_node: bool = True,
                 resource_poll_interval: float | None = None) -> None:
        if max_pods < 1:
            raise ValueError(f"NodeAgent: max_pods must be at least 1, got {max_pods}")
        self.api, self.clock, self.node_name, self.namespace = api, clock, node_name, namespace
        self.root_dir = Path(root_dir)
        self.images = images if images is not None else ImageMap()
        self.max_pods = max_pods
        self.scheduler_names = scheduler_names
        self.register_node = register_node
        self.resource_poll_interval = resource_poll_interval  # resource templates' conditions; None: 5 s
        self._isolation = isolation
        self._relay_interval = relay_interval
        common: dict[str, Any] = {"clock": clock, "namespace": namespace, "transform": strip_managed_fields}
        self.unscheduled: Informer[dict] = Informer(api, base.PODS, field_selector="spec.nodeName=", **common)
        self.own: Informer[dict] = Informer(api, base.PODS, field_selector=f"spec.nodeName={node_name}", **common)
        self.unscheduled.add_handler(FuncHandler(add=lambda p: self._enqueue(_BIND, p),
                                                 update=lambda _, p: self._enqueue(_BIND, p)))
        self.own.add_handler(FuncHandler(add=lambda p: self._enqueue(_OWN, p),
                                         update=lambda _, p: self._enqueue(_OWN, p),
                                         delete=lambda p, _: self._on_delete(p)))
        self.queue: WorkQueue[tuple[str, str]] = WorkQueue()
        self.runs: dict[str, PodRun] = {}  # key -> the live run (its task in `_run_tasks`)
        self._run_tasks: dict[str, asyncio.Task[None]] = {}
        self._ran: set[str] = set()  # uids run by this agent instance (their cache entry may lag)
        self._deferred: set[tuple[str, str]] = set()  # items refused for lack of capacity
        self._collect_after: set[str] = set()  # uids deleted while their run was still ending
        self._reserved: set[str] = set()  # pods bound to this node, not started yet, not finished
        self._bind_by_patch = True  # until the server refuses it (see the module docstring)
        self._tasks: list[asyncio.Task[Any]] = []
        self.ctx: RunContext | None = None
        self.started_pods = 0

    @property
    def isolation(self) -> Isolation | None:
        return self.ctx.isolation if self.ctx is not None else self._isolation

    def _enqueue(self, kind: str, pod: dict) -> None:
        self.queue.add((kind, base.object_key(pod)))

    def log_path(self, namespace: str, pod: str, container: str, /) -> Path:
        """Where a container's stdout+stderr are kept (what `tiphys logs` reads)."""
        return self.root_dir / "logs" / namespace / pod / f"{container}.log"

    def _on_delete(self, pod: dict) -> None:
        key = base.object_key(pod)
        run = self.runs.get(key)
        uid = str(pod["metadata"].get("uid"))
        if run is None or run.uid != uid:
            self._ran.discard(uid)  # the cache cannot lag behind a deletion
        self.queue.add((_GC, uid))
        self.queue.add((_OWN, key))

    async def start(self) -> None:
        self.root_dir.mkdir(parents=True, exist_ok=True)
        helper = await asyncio.to_thread(build_enter_helper, self.root_dir / "bin") or PYTHON_HELPER
        isolation = self._isolation
        if isolation is None:
            isolation, why = await asyncio.to_thread(probe_isolation, helper)
            if isolation is Isolation.REWRITE and helper is not PYTHON_HELPER:
                helper = PYTHON_HELPER  # a broken build must not cost the namespaces
                isolation, why = await asyncio.to_thread(probe_isolation, helper)
            if isolation is Isolation.REWRITE:
                _log.warning("node agent: no private mount namespaces (%s); falling back to path rewriting: "
                             "pods share the host's /tmp and only paths in argv/env are mapped", why)
        wrapper = await asyncio.to_thread(ensure_wrapper, self.root_dir / "bin")
        cgroups = None
        if isolation is Isolation.NAMESPACE:
            cgroups, why = await asyncio.to_thread(MemoryCgroups.detect)
            if cgroups is not None:
                await asyncio.to_thread(cgroups.sweep)
            else:
                _log.warning("node agent: memory limits are not enforced and OOMKilled is not reported (%s)", why)
        images = self.images.with_executor_env({"TIPHYS_WRAPPER": str(wrapper)}) if wrapper else self.images
        images = await asyncio.to_thread(images.with_tool_dir, self.root_dir / "bin" / "tools")
        self.ctx = RunContext(self.api, clock=self.clock, images=images, isolation=isolation, root_dir=self.root_dir,
                              relay_interval=self._relay_interval, cgroups=cgroups, helper=helper,
                              resource_poll_interval=self.resource_poll_interval)
        if self.register_node:
            await self._register_node()
        self._tasks += [asyncio.ensure_future(self.own.run()), asyncio.ensure_future(self.unscheduled.run())]
        await self.own.wait_synced()
        await self.unscheduled.wait_synced()
        self._tasks.append(asyncio.ensure_future(self._worker()))

    async def stop(self) -> None:
        self.queue.shut_down()
        for run in self.runs.values():
            run.abandon()
        for task in [*self._tasks, *self._run_tasks.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._run_tasks.values(), return_exceptions=True)
        self._tasks.clear()

    async def _register_node(self) -> None:
        """A v1.Node for this agent (what `kubectl get nodes` and a scheduler would read)."""
        cpu, mem = str(os.cpu_count() or 1), f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 1024}Ki"
        now = timestamp(self.clock.now())
        capacity = {"cpu": cpu, "memory": mem, "pods": str(self.max_pods)}
        status = {"capacity": capacity, "allocatable": capacity,
                  "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                {"type": "Hostname", "address": self.node_name}],
                  "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                  "message": "tiphys node agent is posting ready status",
                                  "lastHeartbeatTime": now, "lastTransitionTime": now}]}
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node_name, "labels": {
            "kubernetes.io/hostname": self.node_name, "type": "tiphys-local"}}}
        try:
            try:
                await self.api.create(base.NODES, body)
            except AlreadyExists:
                pass
            await self.api.patch(base.NODES, self.node_name, {"status": status}, subresource="status")
        except ApiError as exc:  # a node object is informational only: pods run without it
            _log.warning("node agent: could not register node %s: %r", self.node_name, exc)

    # -- the worker ---------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            try:
                item = await self.queue.get()
            except ShutDown:
                return
            try:
                if item[0] == _BIND:
                    await self._bind(item[1])
                elif item[0] == _GC:
                    await self._collect(item[1])
                else:
                    await self._own(item[1])
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad pod must not stop the agent; log and go on
                _log.exception("node agent: handling %s %s failed", *item)
            finally:
                self.queue.done(item)

    def _capacity_left(self) -> int:
        # `_reserved` counts binds the own informer may not have delivered yet: the cache lags
        return self.max_pods - len(self.runs) - len(self._reserved)

    async def _bind(self, key: str) -> None:
        pod = self.unscheduled.store.get(key)
        if pod is None or (pod.get("spec") or {}).get("nodeName") or "deletionTimestamp" in pod["metadata"]:
            return
        if (pod.get("spec") or {}).get("schedulerName", "") not in self.scheduler_names:
            return
        if self._capacity_left() <= 0:
            self._deferred.add((_BIND, key))  # stays unscheduled; re-offered when a pod ends
            return
        meta = pod["metadata"]
        try:
            if self._bind_by_patch:
                try:
                    await self.api.patch(base.PODS, meta["name"], {
                        "metadata": {"resourceVersion": meta["resourceVersion"]},
                        "spec": {"nodeName": self.node_name}}, namespace=meta.get("namespace"))
                except Invalid:
                    _log.info("node agent: the API server refuses spec.nodeName patches; binding with Binding objects")
                    self._bind_by_patch = False
            if not self._bind_by_patch:
                await self.api.create(BINDINGS, {
                    "apiVersion": "v1", "kind": "Binding",
                    "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "uid": meta.get("uid")},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name}},
                    namespace=meta.get("namespace"))
        except (NotFound, Conflict):
            return  # gone, or bound/changed meanwhile: the informer delivers the new state
        self._reserved.add(key)

    async def _own(self, key: str) -> None:
        pod = self.own.store.get(key)
        run = self.runs.get(key)
        if pod is None or "deletionTimestamp" in pod["metadata"] or \
                (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self._reserved.discard(key)
        if pod is None:
            if run is not None:  # removed without us (force delete): stop its processes
                run.abandon()
                self._run_tasks[key].cancel()
            return
        meta, status = pod["metadata"], pod.get("status") or {}
        uid = meta.get("uid")
        if run is not None and run.uid != uid:
            run.abandon()  # a new pod under the same name; the old one's task ends on its own
            self._run_tasks[key].cancel()
            run = None
        if run is not None:
            if "deletionTimestamp" in meta:
                run.request_delete(meta.get("deletionGracePeriodSeconds"))
            names = [n.strip() for n in (meta.get("annotations") or {}).get(TERMINATE_ANNOTATION, "").split(",")]
            if any(names):
                run.terminate([n for n in names if n])
            return
        if "deletionTimestamp" in meta:
            await self._delete_now(pod)
            return
        if uid in self._ran or status.get("phase") in ("Succeeded", "Failed"):
            return
        if status.get("startTime"):
            await self._mark_lost(pod)
            return
        if len(self.runs) >= self.max_pods:
            self._reserved.add(key)
            self._deferred.add((_OWN, key))  # re-offered when a pod ends
            return
        self._start_run(key, pod)

    def _start_run(self, key: str, pod: dict) -> None:
        assert self.ctx is not None
        run = PodRun(self.ctx, pod)
        self._reserved.discard(key)
        self.runs[key] = run
        self._ran.add(run.uid)
        self.started_pods += 1
        task = asyncio.ensure_future(self._run_pod(key, run))
        self._run_tasks[key] = task

    async def _run_pod(self, key: str, run: PodRun) -> None:
        try:
            await run.run()
            if run.deleting and not run.deleted:
                await self._delete_now(run.pod)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("node agent: pod %s failed in the agent", key)
        finally:
            if self.runs.get(key) is run:
                del self.runs[key]
                del self._run_tasks[key]
            if not self.queue.shutting_down:
                if run.uid in self._collect_after:
                    self._collect_after.discard(run.uid)
                    self._ran.discard(run.uid)
                    self.queue.add((_GC, run.uid))
                deferred, self._deferred = self._deferred, set()
                for item in sorted(deferred, key=lambda i: i[0] != _OWN):  # bound pods first
                    self.queue.add(item)

    async def _collect(self, uid: str) -> None:
        """A deleted pod's directories go with it (emptyDirs, private /tmp); logs stay for `tiphys logs`."""
        if not uid or "/" in uid:
            return
        if uid in {run.uid for run in self.runs.values()}:
            self._collect_after.add(uid)  # its run is finishing: collect when it has
            return
        await asyncio.to_thread(shutil.rmtree, self.root_dir / "pods" / uid, True)

    async def _delete_now(self, pod: dict) -> None:
        meta = pod["metadata"]
        try:
            await self.api.delete(base.PODS, meta["name"], namespace=meta.get("namespace"), grace_period_seconds=0,
                                  preconditions=base.Preconditions(uid=meta.get("uid")))
        except (NotFound, Conflict):
            pass  # already gone, or a new pod took the name: nothing of ours to delete

    async def _mark_lost(self, pod: dict) -> None:
        """Containers that were running are reported killed (137); waiting ones stay waiting."""
        meta, now, status = pod["metadata"], timestamp(self.clock.now()), pod.get("status") or {}
        patch: dict[str, Any] = {"phase": "Failed", "reason": "NodeAgentRestarted", "message": LOST_MESSAGE}
        for field in ("initContainerStatuses", "containerStatuses"):
            statuses = []
            for c in status.get(field) or ():
                state = c.get("state") or {}
                if "running" in state:
                    c = {**c, "ready": False, "started": False, "state": {"terminated": {
                        "exitCode": 137, "reason": "Error", "message": LOST_MESSAGE,
                        "startedAt": state["running"].get("startedAt") or now, "finishedAt": now}}}
                statuses.append(c)
            if statuses:
                patch[field] = statuses
        patch = {"status": patch}
        try:
            await self.api.patch(base.PODS, meta["name"], patch, namespace=meta.get("namespace"), subresource="status")
        except NotFound:
            pass  # deleted meanwhile
