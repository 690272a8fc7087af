"""A simulated kubelet for tests and benchmarks: pods go Pending -> Succeeded/Failed at once.

It does what a node plus the executor would do, through the API only: bind the pod to a node,
write the WorkflowTaskResult the `wait` container would write (outputs first, as Argo's executor
does), then the pod status a kubelet would write (phase, container states, exit codes). What a
pod "does" is decided by `behaviour(pod, template) -> SimOutcome`; the default succeeds and
reports each declared output parameter's default (or "sim-<name>").

The HTTP agent pod (label `workflows.argoproj.io/component=agent`) is not simulated: its agent
runs for real on this event loop (HTTP requests are made), Running and unbound, so a delete
removes it at once and stops the agent.

The artifact GC pod (component `artifact-gc`) runs the executor's real `artifact-gc` loop over
its WorkflowArtifactGCTasks with drivers that delete nothing: the artifacts this kubelet reports
were never stored, so every delete succeeds, and the workflow's artifact GC completes as it would.
"""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any, Callable

import logging

import msgspec

from tiphys.controller.api import base
from tiphys.controller.api.errors import AlreadyExists, ApiError, NotFound
from tiphys.controller.informer import FuncHandler, Informer

__all__ = ["SimKubelet", "SimOutcome", "template_of_pod"]

_log = logging.getLogger("tiphys.simkubelet")
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
NODE_ID = "workflows.argoproj.io/node-id"
AGENT_LABEL = "workflows.argoproj.io/component"


class _NothingStored:
    """The simulated artifacts' driver: nothing was stored, so a delete has nothing to do."""

    def delete(self, location: Any, /) -> None:
        return None


class SimOutcome(msgspec.Struct, kw_only=True):
    exit_code: int = 0
    result: str | None = None  # stdout, for outputs.result
    parameters: dict[str, str] | None = None  # None: defaults of the declared outputs
    message: str = ""


def template_of_pod(pod: dict) -> dict:
    """The substituted template the controller handed the executor (ARGO_TEMPLATE)."""
    spec = pod.get("spec") or {}
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for env in c.get("env") or []:
            if env.get("name") == "ARGO_TEMPLATE" and env.get("value"):
                try:
                    return json.loads(env["value"])
                except ValueError:
                    return {}
    return {}


def _default_behaviour(pod: dict, template: dict) -> SimOutcome:
    # a script's stdout is always captured (§3.9): simulated, it printed nothing
    return SimOutcome(result="" if template.get("script") is not None else None)


def _watched_part(pod: dict, /) -> dict:
    """What the kubelet's cache keeps of a pod: enough to decide whether to run it. A cached
    workflow pod is ~30 KB of dicts (its env holds the whole template); this is ~2 KB."""
    return {"metadata": pod.get("metadata") or {}, "spec": {"nodeName": (pod.get("spec") or {}).get("nodeName")},
            "status": {"phase": (pod.get("status") or {}).get("phase")}}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimKubelet:
    def __init__(self, api: base.Api, /, *, clock: Any, namespace: str | None = None, node_name: str = "sim-node",
                 behaviour: Callable[[dict, dict], SimOutcome] = _default_behaviour, workers: int = 4) -> None:
        self.api = api
        self.node_name = node_name
        self.behaviour = behaviour
        self.n_workers = workers
        self.informer = Informer(api, base.PODS, clock=clock, namespace=namespace, label_selector=WORKFLOW_LABEL,
                                 transform=_watched_part)
        self.queue: asyncio.Queue[dict] = asyncio.Queue()
        self.seen: set[str] = set()
        self.completed = 0
        self.informer.add_handler(FuncHandler(add=self._maybe, update=lambda a, b: self._maybe(b),
                                              delete=lambda o, final_state_unknown: self._stop_agent(o)))
        self._tasks: list[asyncio.Task] = []
        self._agents: dict[str, asyncio.Task] = {}  # agent pod uid -> its running agent

    def _maybe(self, pod: dict) -> None:
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}/{meta.get('uid')}"
        if key in self.seen or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        self.seen.add(key)
        self.queue.put_nowait(pod)

    async def start(self) -> None:
        self._tasks.append(asyncio.ensure_future(self.informer.run()))
        await self.informer.wait_synced()
        self._tasks += [asyncio.ensure_future(self._worker()) for _ in range(self.n_workers)]

    async def stop(self) -> None:
        for t in [*self._tasks, *self._agents.values()]:
            t.cancel()
        await asyncio.gather(*self._tasks, *self._agents.values(), return_exceptions=True)

    def _stop_agent(self, pod: dict) -> None:
        task = self._agents.pop(str((pod.get("metadata") or {}).get("uid")), None)
        if task is not None:
            task.cancel()

    async def _run_agent(self, pod: dict) -> None:
        from tiphys.controller.nodeagent.agentpod import run_agent_pod

        meta = pod["metadata"]
        ns, name = meta.get("namespace"), meta["name"]
        await self.api.patch(base.PODS, name, {"status": {"phase": "Running", "startTime": _now()}},
                             namespace=ns, subresource="status")
        code = await run_agent_pod(self.api, pod, log=_log.info)
        try:
            await self.api.patch(base.PODS, name, {"status": {"phase": "Succeeded" if code == 0 else "Failed"}},
                                 namespace=ns, subresource="status")
        except NotFound:
            pass

    async def _run_artifact_gc(self, pod: dict) -> None:
        from tiphys.controller.nodeagent.gcpod import ApiGCTaskApi
        from tiphys.executor.artifact_gc import GCSettings, run_artifact_gc
        from tiphys.executor.artifacts import LOCATION_TYPES

        meta = pod["metadata"]
        ns, name = meta.get("namespace"), meta["name"]
        nothing = _NothingStored()
        code = await run_artifact_gc(ApiGCTaskApi(self.api, GCSettings(pod_name=name, namespace=ns or "default")),
                                     drivers={t: nothing for t in LOCATION_TYPES}, default=nothing, log=_log.info)
        await self.api.patch(base.PODS, name, {"status": {"phase": "Succeeded" if code == 0 else "Failed",
                                                          "startTime": _now()}}, namespace=ns, subresource="status")

    async def _worker(self) -> None:
        while True:
            pod = await self.queue.get()
            try:
                await self._run(pod)
            except NotFound:
                pass
            except Exception as exc:  # a broken behaviour must not stall every later pod
                _log.exception("simulated kubelet: pod %s failed to run", pod["metadata"].get("name"))
                try:
                    await self._run(pod, SimOutcome(exit_code=2, message=f"simulator error: {exc!r}"))
                except ApiError:
                    pass

    async def _run(self, pod: dict, outcome: SimOutcome | None = None) -> None:
        meta = pod["metadata"]
        ns, name = meta.get("namespace"), meta["name"]
        pod = await self.api.get(base.PODS, name, namespace=ns)  # the whole pod, as a kubelet's pod worker reads it
        if pod["metadata"].get("uid") != meta.get("uid"):
            return  # deleted and re-created since: the new one comes through the informer
        meta = pod["metadata"]
        if (meta.get("labels") or {}).get(AGENT_LABEL) == "agent" and outcome is None:
            task = self._agents[str(meta.get("uid"))] = asyncio.ensure_future(self._run_agent(pod))
            task.add_done_callback(lambda t: None if t.cancelled() or t.exception() is None else
                                   _log.error("simulated kubelet: agent pod %s: %r", meta["name"], t.exception()))
            return
        if (meta.get("labels") or {}).get(AGENT_LABEL) == "artifact-gc" and outcome is None:
            await self._run_artifact_gc(pod)
            return
        template = template_of_pod(pod)
        if outcome is None:
            outcome = self.behaviour(pod, template)
        await self._report(pod, template, outcome)
        now = _now()
        ok = outcome.exit_code == 0
        main = {"name": "main", "ready": False, "restartCount": 0, "image": "sim",
                "state": {"terminated": {"exitCode": outcome.exit_code, "startedAt": now, "finishedAt": now,
                                         "reason": "Completed" if ok else "Error",
                                         **({"message": outcome.message} if outcome.message else {})}}}
        wait = {"name": "wait", "ready": False, "restartCount": 0, "image": "sim",
                "state": {"terminated": {"exitCode": 0, "startedAt": now, "finishedAt": now, "reason": "Completed"}}}
        status = {"phase": "Succeeded" if ok else "Failed", "startTime": now, "hostIP": "127.0.0.1",
                  "podIP": "127.0.0.1", "containerStatuses": [wait, main],
                  "initContainerStatuses": [{"name": "init", "ready": False, "restartCount": 0, "image": "sim",
                                             "state": {"terminated": {"exitCode": 0, "startedAt": now,
                                                                      "finishedAt": now, "reason": "Completed"}}}]}
        if not (pod.get("spec") or {}).get("nodeName"):
            await self.api.patch(base.PODS, name, {"spec": {"nodeName": self.node_name}}, namespace=ns)
        await self.api.patch(base.PODS, name, {"status": status}, namespace=ns, subresource="status")
        self.completed += 1

    async def _report(self, pod: dict, template: dict, outcome: SimOutcome) -> None:
        meta = pod["metadata"]
        node_id = (meta.get("annotations") or {}).get(NODE_ID, meta["name"])
        declared = (template.get("outputs") or {}).get("parameters") or []
        params = outcome.parameters
        if params is None:
            params = {}
            for p in declared:
                vf = p.get("valueFrom") or {}
                value = vf.get("default", p.get("value"))
                params[p["name"]] = str(value) if value is not None else f"sim-{p['name']}"
        outputs: dict[str, Any] = {}
        if params:
            outputs["parameters"] = [{"name": k, "value": v} for k, v in params.items()]
        if outcome.result is not None:
            outputs["result"] = outcome.result
        artifacts = [{"name": a["name"], "path": a.get("path", ""), "s3": {"key": f"sim/{node_id}/{a['name']}.tgz"}}
                     for a in (template.get("outputs") or {}).get("artifacts") or [] if a.get("name")]
        if artifacts and outcome.exit_code == 0:
            outputs["artifacts"] = artifacts
        outputs["exitCode"] = str(outcome.exit_code)
        owner = next(iter(meta.get("ownerReferences") or []), None)
        body = {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTaskResult",
                "metadata": {"name": node_id, "namespace": meta.get("namespace"),
                             "labels": {WORKFLOW_LABEL: meta["labels"][WORKFLOW_LABEL],
                                        "workflows.argoproj.io/report-outputs-completed": "true"},
                             **({"ownerReferences": [owner]} if owner else {})},
                "outputs": outputs}
        try:
            await self.api.create(base.WORKFLOW_TASK_RESULTS, body, namespace=meta.get("namespace"))
        except AlreadyExists:
            live = await self.api.get(base.WORKFLOW_TASK_RESULTS, node_id, namespace=meta.get("namespace"))
            body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            await self.api.update(base.WORKFLOW_TASK_RESULTS, body, namespace=meta.get("namespace"))
